#pragma once
// Loads the policy-related parts of a config: the top-level `policies:` and `policy:` keys and
// an upstream's `routes:` (docs/config.md). Part of config::load(): strict, every problem is
// "FILE:LINE:COL: message" (InvalidArgument). No shared state; any thread may call it.

#include <filesystem>
#include <vector>

#include "common/status.h"
#include "config/schema.h"
#include "config/yaml_util.h"

namespace stepgate::config {

// `policies: DIR` (relative to base_dir) into `dir`: the folder must exist.
[[nodiscard]] Status loadPoliciesDir(const YamlSource& src, const std::filesystem::path& base_dir,
                                     const YAML::Node& node, std::string& dir);

// `policy: {reveal_rule_ids, watch}`.
[[nodiscard]] Status loadPolicyOptions(const YamlSource& src, const YAML::Node& node,
                                       PolicyConfig& out);

// An upstream's `routes:` list.
[[nodiscard]] Status loadRoutes(const YamlSource& src, const YAML::Node& node,
                                std::vector<RouteConfig>& out);

// Checks a path template: starts with '/', segments are literals or "{name}", only the last
// may be "{name...}", names are [A-Za-z_][A-Za-z0-9_]* and unique, at most 16 of them; no
// empty segment but a trailing "/". Fills `vars` in order.
// Returns an empty string when valid, else the problem.
std::string checkPathTemplate(std::string_view path, std::vector<std::string>& vars);

}  // namespace stepgate::config
