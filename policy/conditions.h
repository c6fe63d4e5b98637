#pragma once
// The primitive checks of rule conditions, shared by the evaluator and `policy explain` so
// that the explanation can never drift from the decision. Pure, noexcept, allocation-free;
// thread-safe.
//
// Conditions are three-valued: true, false, or unknown (the data is missing). How unknown is
// folded into a decision (allow rules need true; deny rules apply unless false) is the
// evaluator's business, documented in docs/policy.md.

#include <cstdint>

#include "common/time_source.h"
#include "policy/decision.h"
#include "policy/model.h"
#include "policy/operation.h"

namespace stepgate::policy {

enum class Tri : uint8_t { kFalse, kUnknown, kTrue };

// The weaker of two results (false < unknown < true): "both hold".
inline Tri both(Tri a, Tri b) noexcept {
  return a < b ? a : b;
}
inline Tri of(bool b) noexcept {
  return b ? Tri::kTrue : Tri::kFalse;
}

// True iff `now` falls in the window (its days, its minutes, in its time zone); a window that
// ends before it starts runs past midnight into the next day.
bool inWindow(const TimeWindow& w, SystemTime now) noexcept;

// A comparison on an extracted request field; unknown when the field is missing or of the
// other type.
Tri compareInput(const InputCondition& c, const Operation& op) noexcept;

// A condition on a claim; unknown when the context knows no claims.
Tri matchClaim(const ClaimCondition& c, const Context& ctx) noexcept;

}  // namespace stepgate::policy
