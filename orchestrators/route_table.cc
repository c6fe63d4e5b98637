#include "orchestrators/route_table.h"

#include <cstdint>
#include <cstdlib>
#include <functional>

#include "orchestrators/profile_util.h"

namespace stepgate::orchestrators {

namespace {

// Splits off the first segment of `rest` (which has no leading '/'): the segment, and `rest`
// after it (without the '/'). `last` says whether there was no '/' left.
std::string_view firstSegment(std::string_view& rest, bool& last) noexcept {
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    last = true;
    const std::string_view seg = rest;
    rest = {};
    return seg;
  }
  last = false;
  const std::string_view seg = rest.substr(0, slash);
  rest.remove_prefix(slash + 1);
  return seg;
}

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// One trie node: the routes ending here (by method), literal children, one variable child
// and the routes whose last segment is a rest variable starting here.
struct RouteTable::Node {
  struct End {
    std::string method;
    int route;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>()(s);
    }
  };
  std::unordered_map<std::string, std::unique_ptr<Node>, Hash, std::equal_to<>> literals;
  std::unique_ptr<Node> var;
  std::unique_ptr<Node> trailing;  // a template ending in '/': the empty last segment
  std::vector<End> ends;
  std::vector<End> rest_ends;

  static const End* pick(const std::vector<End>& ends, std::string_view method) noexcept {
    const End* any = nullptr;
    for (const End& e : ends) {
      if (e.method == method) return &e;
      if (e.method == "*") any = &e;
    }
    return any;
  }
};

RouteTable::RouteTable() : root_(std::make_unique<Node>()) {}
RouteTable::~RouteTable() = default;
RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;

int RouteTable::add(std::string_view method, std::string_view path_template) {
  if (path_template.empty() || path_template.front() != '/') std::abort();
  std::string_view rest = path_template.substr(1);
  Node* n = root_.get();
  const int index = static_cast<int>(count_);
  auto addEnd = [&](std::vector<Node::End>& ends) {
    for (const Node::End& e : ends) {
      if (e.method == method) std::abort();  // a duplicate route
    }
    ends.push_back({std::string(method), index});
    ++count_;
    return index;
  };
  if (rest.empty()) return addEnd(n->ends);  // "/"
  size_t vars = 0;
  while (true) {
    bool last = false;
    const std::string_view seg = firstSegment(rest, last);
    const bool is_var = seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
    if (is_var && seg.size() > 5 && seg.substr(seg.size() - 4) == "...}") {
      if (!last) std::abort();  // a rest variable must be last
      if (++vars > kMaxCaptures) std::abort();
      return addEnd(n->rest_ends);
    }
    if (seg.empty()) {
      if (!last) std::abort();  // "//" inside a template
      if (!n->trailing) n->trailing = std::make_unique<Node>();
      return addEnd(n->trailing->ends);
    }
    std::unique_ptr<Node>* child;
    if (is_var) {
      if (++vars > kMaxCaptures) std::abort();
      child = &n->var;
    } else {
      child = &n->literals[std::string(seg)];
    }
    if (!*child) *child = std::make_unique<Node>();
    n = child->get();
    if (last) return addEnd(n->ends);
  }
}

// `rest` is what follows the '/' after the segment that led to `n`, or a null view (data()
// == nullptr) when the path ended with that segment.
bool RouteTable::walk(const Node& n, std::string_view method, std::string_view rest,
                      Match& m) const noexcept {
  if (rest.data() == nullptr) {
    if (const Node::End* e = Node::pick(n.ends, method)) {
      m.route = e->route;
      return true;
    }
    return false;
  }
  std::string_view after = rest;
  bool last = false;
  const std::string_view seg = firstSegment(after, last);
  // A view into the path (never null) unless the path ends with this segment.
  const std::string_view next = last ? std::string_view() : after;
  if (seg.empty()) {
    // A trailing '/' (or an empty segment, which only a trailing-slash template accepts).
    if (last && n.trailing) {
      if (const Node::End* e = Node::pick(n.trailing->ends, method)) {
        m.route = e->route;
        return true;
      }
    }
    return false;
  }
  if (auto it = n.literals.find(seg); it != n.literals.end()) {
    const size_t saved = m.var_count;
    if (walk(*it->second, method, next, m)) {
      return true;
    }
    m.var_count = saved;
  }
  if (n.var && m.var_count < kMaxCaptures) {
    const size_t saved = m.var_count;
    m.vars[m.var_count++] = seg;
    if (walk(*n.var, method, next, m)) {
      return true;
    }
    m.var_count = saved;
  }
  if (!n.rest_ends.empty() && !rest.empty() && m.var_count < kMaxCaptures) {
    if (const Node::End* e = Node::pick(n.rest_ends, method)) {
      m.vars[m.var_count++] = rest;
      m.route = e->route;
      return true;
    }
  }
  return false;
}

RouteTable::Match RouteTable::match(std::string_view method, std::string_view path) const
    noexcept {
  Match m;
  if (path.empty() || path.front() != '/') return m;
  std::string_view rest = path.substr(1);
  if (rest.empty()) {
    if (const Node::End* e = Node::pick(root_->ends, method)) m.route = e->route;
    return m;
  }
  if (!walk(*root_, method, rest, m)) {
    m.route = -1;
    m.var_count = 0;
  }
  return m;
}

bool percentDecode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hexValue(in[i + 1]);
      const int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      const char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return false;
      out.push_back(d);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return validUtf8(out);
}

bool QueryParams::parse(std::string_view query) {
  params_.clear();
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    if (params_.size() == kMaxParams) return false;
    const size_t eq = part.find('=');
    std::string name, value;
    if (!percentDecode(part.substr(0, eq), true, name)) return false;
    if (eq != std::string_view::npos && !percentDecode(part.substr(eq + 1), true, value)) {
      return false;
    }
    params_.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

const std::string* QueryParams::get(std::string_view name) const noexcept {
  for (const auto& [n, v] : params_) {
    if (n == name) return &v;
  }
  return nullptr;
}

size_t QueryParams::count(std::string_view name) const noexcept {
  size_t k = 0;
  for (const auto& p : params_) k += p.first == name ? 1 : 0;
  return k;
}

}  // namespace stepgate::orchestrators
