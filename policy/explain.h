#pragma once
// `stepgate policy explain`: for one principal and operation, the decision and every rule of
// the set that could apply (its file names the operation's upstream and workflow, and it names
// one of the operation's actions), with each condition's verdict: yes, no, or unknown (the
// data it needs is missing; see docs/policy.md, "Unknown data"). The decision is the one
// CompiledPolicy::evaluate gives; the per-rule verdicts are computed apart from it, with the
// same semantics, and `agrees` says whether they lead to the same effect (the property tests
// check that it always does). A pure function plus a text renderer; CLI only.

#include <string>
#include <vector>

#include "identity/principal.h"
#include "policy/evaluator.h"

namespace stepgate::policy {

struct ConditionVerdict {
  std::string what;     // "who.groups [ops]", "when.mfa", "steps [charge-card]",
                        // "namespaces [prod]"
  std::string verdict;  // "yes", "no", "unknown"
};

struct RuleExplanation {
  uint32_t index = 0;  // into the CompiledPolicy's rule table
  bool matched = false;
  ActionSet actions;  // the operation's actions this rule names
  std::vector<ConditionVerdict> conditions;
  std::string summary;  // why it matched or not, one phrase
};

struct Explanation {
  Decision decision;
  std::vector<RuleExplanation> rules;     // in set order
  Effect derived_effect = Effect::kDeny;  // from the enforced rules' verdicts alone
  bool agrees = true;                     // derived_effect == decision.effect
};

Explanation explain(const CompiledPolicy& policy, const identity::Principal& principal,
                    const Operation& op, const Context& ctx);

std::string renderExplanation(const CompiledPolicy& policy, const Operation& op,
                              const Explanation& e);

}  // namespace stepgate::policy
