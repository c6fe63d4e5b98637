#pragma once
// `stepgate policy diff OLD NEW`: the semantic difference of two policy sets, keyed by
// (upstream, workflow pattern, step pattern, action, namespace pattern) as the files write
// them. For each key:
// allow who-conditions gained and lost, allow when-conditions changed, deny rules gained, lost
// and changed. Shadow-mode files are left out (they enforce nothing). Rule ids, order,
// comments and descriptions do not matter. A pure function plus a Markdown renderer; CLI only.
//
// Classification (the CLI's exit code): a gained allow, a lost deny, an allow whose when
// lost a condition, or a deny that got narrower or changed otherwise widens access; a lost
// allow, a gained deny, an allow whose when only gained conditions, or a deny that only got
// broader narrows it. Anything the analysis cannot order counts as widening.

#include <string>
#include <vector>

#include "policy/model.h"

namespace stepgate::policy {

struct DiffChange {
  std::string upstream;  // "" = any
  std::string workflow;  // name or glob
  std::string step;      // name or glob; "" = any step
  Action action = Action::kRead;
  std::string namespace_name;  // name or glob; "" = any namespace
  enum class Kind : uint8_t {
    kAllowGained,
    kAllowLost,
    kAllowWhenChanged,
    kDenyGained,
    kDenyLost,
    kDenyChanged
  };
  Kind kind = Kind::kAllowGained;
  std::string who;     // the allow's who, or the deny's who
  std::string before;  // when (allow) or "when; unless" (deny) before; "" for gained
  std::string after;   // ... after; "" for lost
  bool widens = false;
};

struct DiffReport {
  std::vector<DiffChange> changes;  // sorted by key, then kind, then who
  bool widened() const;
  bool narrowed() const;
};

DiffReport diffPolicies(const PolicySet& before, const PolicySet& after);

// Markdown: a heading, a one-line verdict, and a table (or "No change in access."). The table
// has a namespace column only when some change is keyed by a namespace pattern.
std::string renderDiff(const DiffReport& report);

}  // namespace stepgate::policy
