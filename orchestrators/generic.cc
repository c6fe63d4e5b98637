#include "orchestrators/generic.h"

#include <algorithm>

#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {

using config::RouteConfig;

namespace {

std::string_view innerName(std::string_view seg) {
  return seg.substr(1, seg.size() - 2);
}

}  // namespace

GenericProfile::GenericProfile(std::string upstream, const std::vector<config::RouteConfig>& routes)
    : upstream_(std::move(upstream)), configs_(routes) {
  for (const config::RouteConfig& rc : routes) {
    Route r;
    r.method = rc.method;
    r.action = policy::parseAction(rc.action).value_or(policy::Action::kAdmin);
    std::vector<std::string> names;
    std::string_view path = rc.path;
    path.remove_prefix(1);  // leading '/'
    if (!path.empty() && path.back() == '/') {
      r.trailing_slash = true;
      path.remove_suffix(1);
    }
    while (!path.empty()) {
      const size_t end = std::min(path.find('/'), path.size());
      const std::string_view seg = path.substr(0, end);
      Segment s;
      if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
        std::string_view name = innerName(seg);
        if (name.size() > 3 && name.substr(name.size() - 3) == "...") {
          s.rest = true;
          name.remove_suffix(3);
        }
        s.var = static_cast<int>(names.size());
        names.emplace_back(name);
      } else {
        s.literal = std::string(seg);
      }
      r.segments.push_back(std::move(s));
      if (end == path.size()) {
        break;
      }
      path.remove_prefix(end + 1);
    }
    auto value = [&](const std::string& v) {
      Value out;
      if (v.size() >= 3 && v.front() == '{' && v.back() == '}') {
        const auto it = std::find(names.begin(), names.end(), innerName(v));
        if (it != names.end()) {
          out.var = static_cast<int>(it - names.begin());
          return out;
        }
      }
      out.literal = v;
      return out;
    };
    r.step = value(rc.step);
    r.workflow = value(rc.workflow);
    if (names.size() > static_cast<size_t>(kMaxVars)) {
      continue;  // not reachable: the config loader allows at most kMaxVars
    }
    routes_.push_back(std::move(r));
  }
}

bool GenericProfile::match(const Route& r, std::string_view path,
                           std::string_view* vars) const noexcept {
  if (path.empty() || path.front() != '/') {
    return false;
  }
  path.remove_prefix(1);
  for (size_t i = 0; i < r.segments.size(); ++i) {
    const Segment& s = r.segments[i];
    if (s.rest) {
      vars[s.var] = path;
      return true;
    }
    const size_t end = std::min(path.find('/'), path.size());
    const std::string_view seg = path.substr(0, end);
    if (s.var >= 0) {
      if (seg.empty()) {
        return false;
      }
      vars[s.var] = seg;
    } else if (seg != s.literal) {
      return false;
    }
    const bool last = i + 1 == r.segments.size();
    if (last) {
      const std::string_view tail = path.substr(end);
      return r.trailing_slash ? tail == "/" : tail.empty();
    }
    if (end == path.size()) {
      // The path ended; only a following rest segment may match nothing.
      if (i + 2 != r.segments.size() || !r.segments[i + 1].rest) {
        return false;
      }
      vars[r.segments[i + 1].var] = std::string_view();
      return true;
    }
    path.remove_prefix(end + 1);
  }
  // A route of "/" alone.
  return path.empty();
}

void GenericProfile::classify(const RequestView& req, Classification& out) const {
  out.reset(upstream_);
  out.why = "no route matches";
  policy::Operation& op = out.op;
  std::string_view vars[kMaxVars];
  for (const Route& r : routes_) {
    if (r.method != "*" && r.method != req.method) {
      continue;
    }
    if (!match(r, req.path, vars)) {
      continue;
    }
    auto assign = [&](const Value& v, std::string& dst) {
      if (v.var >= 0) {
        dst.assign(vars[v.var]);
      } else {
        dst.assign(v.literal);
      }
    };
    assign(r.workflow, op.workflow);
    assign(r.step, op.step);
    op.actions.add(r.action);
    out.outcome = Outcome::kClassified;
    out.why = {};
    return;
  }
}

std::vector<OperationInfo> GenericProfile::operations() const {
  std::vector<OperationInfo> ops;
  for (const RouteConfig& rc : configs_) {
    OperationInfo o;
    o.method = rc.method;
    o.path = rc.path;
    o.name = "route " + rc.position;
    o.actions = rc.action;
    o.workflow = rc.workflow.empty() ? "-" : rc.workflow;
    o.step = rc.step.empty() ? "-" : rc.step;
    o.execution = "-";
    o.notes = "configured route";
    ops.push_back(std::move(o));
  }
  return ops;
}

ProfileConstSharedPtr makeGenericProfile(const config::UpstreamConfig& upstream) {
  return std::make_shared<GenericProfile>(upstream.name, upstream.routes);
}

}  // namespace stepgate::orchestrators
