#pragma once
// RouteTable: method + path-template matching the way the orchestrators' own routers match
// (Spring MVC for Conductor, grpc-gateway for Temporal and Argo, Connexion/FastAPI for
// Airflow): segment by segment, a literal segment beats a variable at the same position, so
// `GET /api/workflow/search` is never taken for `GET /api/workflow/{workflowId}`.
//
// Templates: "/api/workflow/{workflowId}/retry". `{name}` matches one non-empty segment; a
// last `{name...}` matches the rest of the path (one or more segments, never empty). A
// template ending in '/' matches only a path ending in '/'. Method "*" matches any method, but
// a route with the exact method wins over it at the same node.
//
// Matching walks a segment trie (literals first, then the variable child, backtracking), does
// not allocate, and captures at most kMaxCaptures variables as views into the path, in the
// order they appear in the template. Built once, then const and shareable across threads.

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace stepgate::orchestrators {

class RouteTable {
 public:
  static constexpr size_t kMaxCaptures = 8;

  struct Match {
    int route = -1;  // the index add() returned; -1: no match
    std::array<std::string_view, kMaxCaptures> vars{};
    size_t var_count = 0;
    explicit operator bool() const noexcept { return route >= 0; }
  };

  RouteTable();
  ~RouteTable();
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;

  // Adds a route and returns its index (0, 1, ...). A second route with the same method and
  // an equivalent template (variable names aside) is a programming error: it aborts.
  int add(std::string_view method, std::string_view path_template);

  // The route `method path` matches, with its captures. `path` is the normalised path.
  Match match(std::string_view method, std::string_view path) const noexcept;

  size_t size() const noexcept { return count_; }

 private:
  struct Node;
  bool walk(const Node& n, std::string_view method, std::string_view rest, Match& m) const
      noexcept;

  std::unique_ptr<Node> root_;
  size_t count_ = 0;
};

// Query-string parameters, percent-decoded strictly ('+' is a space; a malformed escape,
// %00 or invalid UTF-8 fails the parse). A name may appear several times.
class QueryParams {
 public:
  // False when the query is malformed or has more than kMaxParams parameters.
  static constexpr size_t kMaxParams = 64;
  bool parse(std::string_view query);

  // The first value of `name`, or nullptr. `count(name)` says how many there are.
  const std::string* get(std::string_view name) const noexcept;
  size_t count(std::string_view name) const noexcept;
  const std::vector<std::pair<std::string, std::string>>& all() const noexcept { return params_; }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// Percent-decodes `in` into `out` strictly (see QueryParams); `plus_is_space` for query
// components. False on a malformed escape, %00, or bytes that are not valid UTF-8.
bool percentDecode(std::string_view in, bool plus_is_space, std::string& out);

}  // namespace stepgate::orchestrators
