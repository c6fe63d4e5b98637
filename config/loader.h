#pragma once
// Loads and validates a stepgate YAML config file. Strict: unknown keys, wrong types, bad
// addresses, unreadable referenced files and semantic errors are reported as
//   FILE:LINE:COL: message
// in the returned Status (InvalidArgument, or NotFound for a missing config file). Upstream
// host names are resolved here, so workers never touch DNS. Thread-safe (no shared state);
// called on the control thread at start and on reload.

#include <string>
#include <string_view>

#include "common/status.h"
#include "config/schema.h"

namespace stepgate::config {

[[nodiscard]] StatusOr<ConfigConstSharedPtr> load(const std::string& path);

// Same, from text; `source_name` is used in error positions and to resolve relative paths
// (relative file paths in a config are relative to the config file's folder).
[[nodiscard]] StatusOr<ConfigConstSharedPtr> loadFromString(std::string_view text,
                                                            const std::string& source_name);

}  // namespace stepgate::config
