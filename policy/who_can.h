#pragma once
// `stepgate policy who-can`: for one (workflow, action[, step][, upstream][, namespace]) the
// enforced
// allow rules that can grant it, as who- and when-conditions, and the enforced deny rules that
// can take it away again (with their `unless`). An allow that an unconditional deny without
// `unless` always removes is marked as such; one that an unconditional deny with `unless`
// leaves only to the exempt principals says so. Shadow-mode rules are not shown (they are
// never enforced). A pure function over a PolicySet plus a text renderer; CLI only.

#include <optional>
#include <string>
#include <vector>

#include "policy/model.h"

namespace stepgate::policy {

struct WhoCanQuery {
  std::string workflow;
  Action action = Action::kRead;
  std::optional<std::string> step;      // nullopt: any step (rules limited to steps are shown
                                        // with their steps)
  std::optional<std::string> upstream;  // nullopt: any upstream
  // nullopt: any namespace (rules limited to namespaces are shown with their namespaces); ""
  // a call without a namespace (allows naming namespaces do not grant it, denies naming
  // namespaces apply to it).
  std::optional<std::string> namespace_name;
};

struct WhoCanEntry {
  const Rule* rule = nullptr;
  const PolicyFile* file = nullptr;
  bool always = false;                     // deny: no who, no when, no unless
  std::vector<std::string> overridden_by;  // allow: unconditional denies without unless
  std::vector<std::string> only_if;        // allow: "unless of D: WHO" of unconditional denies
};

struct WhoCanReport {
  WhoCanQuery query;
  std::vector<WhoCanEntry> allows;  // set order
  std::vector<WhoCanEntry> denies;  // set order
};

WhoCanReport whoCan(const PolicySet& set, const WhoCanQuery& query);

std::string renderWhoCan(const WhoCanReport& report);

}  // namespace stepgate::policy
