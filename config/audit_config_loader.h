#pragma once
// Loads the top-level `audit:` key (docs/config.md, "audit"; docs/audit.md). Part of
// config::load(): strict, every problem is "FILE:LINE:COL: message".

#include <filesystem>

#include "common/status.h"
#include "config/schema.h"
#include "config/yaml_util.h"

namespace stepgate::config {

[[nodiscard]] Status loadAudit(const YamlSource& src, const std::filesystem::path& base_dir,
                               const YAML::Node& node, AuditConfig& out);

}  // namespace stepgate::config
