#pragma once
// `stepgate policy check`: static warnings over a loaded PolicySet (load errors are the
// loader's). A pure function from a set (and an optional catalog of known workflows) to a
// report, plus a text renderer. Runs in the CLI, never on a worker. Warnings, in set order:
//   - shadowed: an earlier rule of the same effect and mode that is identical or broader
//     (scope, actions, steps, namespaces, who, when) makes the later one redundant;
//   - overridden: an allow whose actions an enforced deny of the same or wider scope, without
//     `unless` and with no condition the allow lacks, always removes;
//   - catalog: a rule whose workflows (or steps) match nothing in the catalog;
//   - broad: an allow of define, undefine or admin on the workflow glob `*`.

#include <string>
#include <vector>

#include "common/status.h"
#include "policy/model.h"

namespace stepgate::policy {

// The workflows an upstream serves, for `check --catalog`. YAML:
//   workflows: [{name: order-fulfillment, upstream: conductor, steps: [charge-card, ship]}]
struct CatalogWorkflow {
  std::string name;
  std::string upstream;  // "" = any
  std::vector<std::string> steps;
};
struct Catalog {
  std::vector<CatalogWorkflow> workflows;
};

// Parses a catalog document; errors are "FILE:LINE:COL: message".
[[nodiscard]] StatusOr<Catalog> parseCatalog(const std::string& file_name, const std::string& text);

struct CheckFinding {
  std::string position;  // "FILE:LINE:COL" of the rule
  std::string kind;      // "shadowed", "overridden", "catalog", "broad"
  std::string message;
};

struct CheckReport {
  std::vector<CheckFinding> warnings;
};

// `catalog` may be null (no catalog warnings).
CheckReport checkPolicy(const PolicySet& set, const Catalog* catalog);

// One line per warning: "PREFIXFILE:LINE:COL: warning: MESSAGE [KIND]" (the CLI passes the
// directory as prefix), then a summary line "N rules in M files, K warnings".
std::string renderCheck(const PolicySet& set, const CheckReport& report,
                        const std::string& prefix = "");

}  // namespace stepgate::policy
