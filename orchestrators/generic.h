#pragma once
// The generic profile: route templates from the config (docs/config.md, "routes"). A route is
// a method and a path template over the normalised path; `{name}` matches one non-empty
// segment, a last `{name...}` matches the rest of the path (possibly empty). Routes are tried
// in config order; the first match decides. Matching allocates only when it copies the
// captured workflow and step names into the Operation.

#include <string>
#include <vector>

#include "orchestrators/profile.h"

namespace stepgate::orchestrators {

class GenericProfile final : public Profile {
 public:
  // REQUIRES: routes validated by the config loader (templates well formed, actions known).
  GenericProfile(std::string upstream, const std::vector<config::RouteConfig>& routes);

  using Profile::classify;
  void classify(const RequestView& req, Classification& out) const override;
  std::vector<OperationInfo> operations() const override;

 private:
  struct Segment {
    std::string literal;
    int var = -1;  // index of the variable, or -1 for a literal
    bool rest = false;
  };
  // A step or workflow: a literal, or a variable index.
  struct Value {
    std::string literal;
    int var = -1;
  };
  struct Route {
    std::string method;  // "*" = any
    std::vector<Segment> segments;
    bool trailing_slash = false;
    policy::Action action = policy::Action::kRead;
    Value step;
    Value workflow;
  };
  static constexpr int kMaxVars = 16;

  bool match(const Route& r, std::string_view path, std::string_view* vars) const noexcept;

  std::string upstream_;
  std::vector<config::RouteConfig> configs_;
  std::vector<Route> routes_;
};

}  // namespace stepgate::orchestrators
