#pragma once
// Loading policy files: a directory of *.yaml / *.yml files (hidden entries such as
// Kubernetes ConfigMap "..data" are skipped; symlinks are followed), read in sorted name order,
// each one YAML document, into a validated PolicySet. Every error is
// "FILE:LINE:COL: message". Runs on the control thread (or in a CLI); never on a worker.
// Thread-compatible: concurrent loads are fine, they share nothing.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "policy/model.h"

namespace stepgate::policy {

struct LoadOptions {
  // Where compiled IANA zones (TZif) live; TZDIR's convention.
  std::string zoneinfo_dir = "/usr/share/zoneinfo";
};

// A named document: (file name used in messages, its bytes).
using PolicySource = std::pair<std::string, std::string>;

// Validates `sources` (any order; they are sorted by name) into a set. Checks across files
// (duplicate rule ids) happen here. At least one source is required.
[[nodiscard]] StatusOr<PolicySet> loadPolicySources(std::vector<PolicySource> sources,
                                                    const LoadOptions& options = {});

// Reads every policy file of `dir` and calls loadPolicySources. Messages name files relative
// to `dir`. A directory without policy files is an error (it would deny everything).
[[nodiscard]] StatusOr<PolicySet> loadPolicyDirectory(const std::string& dir,
                                                      const LoadOptions& options = {});

}  // namespace stepgate::policy
