#include "policy/decision.h"

namespace stepgate::policy {

const char* effectName(Effect e) noexcept {
  return e == Effect::kAllow ? "allow" : "deny";
}

const char* reasonName(Reason r) noexcept {
  switch (r) {
    case Reason::kAllowed:
      return "allowed";
    case Reason::kDenied:
      return "denied";
    case Reason::kNoMatchingAllow:
      return "no_matching_allow";
    case Reason::kUnclassified:
      return "unclassified";
    case Reason::kUnresolved:
      return "unresolved";
  }
  return "unknown";
}

void RuleRefs::add(uint32_t i) noexcept {
  unsigned pos = 0;
  while (pos < count && index[pos] < i) {
    ++pos;
  }
  if (pos < count && index[pos] == i) {
    return;
  }
  if (count == kMaxRuleRefs) {
    truncated = true;
    if (pos == count) {
      return;  // keep the lowest indices
    }
    --count;
  }
  for (unsigned j = count; j > pos; --j) {
    index[j] = index[j - 1];
  }
  index[pos] = i;
  ++count;
}

bool RuleRefs::contains(uint32_t i) const noexcept {
  for (unsigned j = 0; j < count; ++j) {
    if (index[j] == i) {
      return true;
    }
  }
  return false;
}

}  // namespace stepgate::policy
