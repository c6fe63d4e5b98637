#include "config/policy_config_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <system_error>

namespace stepgate::config {

namespace {

// The policy actions (policy/operation.h); config cannot depend on the policy module, so the
// names are repeated here. Keep in order with policy::Action.
constexpr std::string_view kActions[] = {
    "read",   "list",          "start",     "stop",      "pause",  "resume",   "retry", "rerun",
    "signal", "complete-step", "fail-step", "skip-step", "define", "undefine", "work",  "admin"};

bool isName(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) {
      return false;
    }
  }
  return true;
}

bool isMethod(std::string_view s) {
  if (s == "*") {
    return true;
  }
  if (s.empty()) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// A step/workflow value: a literal, or "{var}" naming a variable of the path.
std::string checkValue(std::string_view v, const std::vector<std::string>& vars) {
  if (v.find('{') == std::string_view::npos && v.find('}') == std::string_view::npos) {
    return {};
  }
  if (v.size() < 3 || v.front() != '{' || v.back() != '}') {
    return "must be a literal or a single {variable} of the path";
  }
  const std::string_view name = v.substr(1, v.size() - 2);
  if (std::find(vars.begin(), vars.end(), name) == vars.end()) {
    return "names no variable of the path: '" + std::string(name) + "'";
  }
  return {};
}

}  // namespace

std::string checkPathTemplate(std::string_view path, std::vector<std::string>& vars) {
  if (path.empty() || path.front() != '/') {
    return "must start with '/'";
  }
  if (path.find('?') != std::string_view::npos) {
    return "must not contain a query";
  }
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view seg = path.substr(pos, end - pos);
    const bool last = end == path.size();
    if (seg.empty() && !last) {
      return "has an empty segment";
    }
    if (seg.find('{') != std::string_view::npos || seg.find('}') != std::string_view::npos) {
      if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}') {
        return "a variable must be a whole segment: '{name}'";
      }
      std::string_view name = seg.substr(1, seg.size() - 2);
      const bool rest = name.size() > 3 && name.substr(name.size() - 3) == "...";
      if (rest) {
        if (!last) {
          return "only the last segment may be '{name...}'";
        }
        name.remove_suffix(3);
      }
      if (!isName(name)) {
        return "bad variable name '" + std::string(name) + "'";
      }
      if (std::find(vars.begin(), vars.end(), name) != vars.end()) {
        return "variable '" + std::string(name) + "' repeated";
      }
      if (vars.size() == 16) {
        return "has more than 16 variables";
      }
      vars.emplace_back(name);
    }
    if (end == path.size()) {
      break;
    }
    pos = end + 1;
  }
  return {};
}

Status loadPoliciesDir(const YamlSource& src, const std::filesystem::path& base_dir,
                       const YAML::Node& node, std::string& dir) {
  std::string text;
  RETURN_IF_ERROR(src.readString(node, text));
  if (text.empty()) {
    return src.error(node, "policies: must name a directory");
  }
  std::filesystem::path p(text);
  if (p.is_relative()) {
    p = base_dir / p;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(p, ec)) {
    return src.error(node, "policies: '" + p.string() + "' is not a readable directory");
  }
  dir = p.lexically_normal().string();
  return okStatus();
}

Status loadPolicyOptions(const YamlSource& src, const YAML::Node& node, PolicyConfig& out) {
  RETURN_IF_ERROR(src.checkMap(node, {"reveal_rule_ids", "watch"}));
  RETURN_IF_ERROR(src.optBool(node, "reveal_rule_ids", out.reveal_rule_ids));
  return src.optBool(node, "watch", out.watch);
}

Status loadRoutes(const YamlSource& src, const YAML::Node& node, std::vector<RouteConfig>& out) {
  if (!node.IsSequence()) {
    return src.error(node, "routes: expected a list");
  }
  for (const auto& r : node) {
    RETURN_IF_ERROR(src.checkMap(r, {"method", "path", "action", "step", "workflow"}));
    RETURN_IF_ERROR(src.require(r, "method"));
    RETURN_IF_ERROR(src.require(r, "path"));
    RETURN_IF_ERROR(src.require(r, "action"));
    RouteConfig route;
    route.position = src.position(r);
    RETURN_IF_ERROR(src.readString(r["method"], route.method));
    if (!isMethod(route.method)) {
      return src.error(r["method"], "method must be an upper-case HTTP method or '*'");
    }
    RETURN_IF_ERROR(src.readString(r["path"], route.path));
    std::vector<std::string> vars;
    if (std::string e = checkPathTemplate(route.path, vars); !e.empty()) {
      return src.error(r["path"], "path template " + e);
    }
    RETURN_IF_ERROR(src.readString(r["action"], route.action));
    if (std::find(std::begin(kActions), std::end(kActions), route.action) == std::end(kActions)) {
      std::string names;
      for (std::string_view a : kActions) {
        names += (names.empty() ? "" : ", ") + std::string(a);
      }
      return src.error(r["action"],
                       "unknown action '" + route.action + "'; expected one of: " + names);
    }
    RETURN_IF_ERROR(src.optString(r, "step", route.step));
    if (std::string e = checkValue(route.step, vars); !e.empty()) {
      return src.error(r["step"], "step " + e);
    }
    RETURN_IF_ERROR(src.optString(r, "workflow", route.workflow));
    if (std::string e = checkValue(route.workflow, vars); !e.empty()) {
      return src.error(r["workflow"], "workflow " + e);
    }
    out.push_back(std::move(route));
  }
  return okStatus();
}

}  // namespace stepgate::config
