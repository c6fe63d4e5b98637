#pragma once
// Decision and Context: the output and the non-request input of CompiledPolicy::evaluate.
// Both are plain value types; a Decision is trivially copyable and holds no pointers into the
// policy (rule ids are indices: CompiledPolicy::ruleId(i) names them). Safe to copy and to read
// from any thread. The semantics and the closed list of reasons are in docs/policy.md.

#include <array>
#include <cstdint>
#include <string_view>

#include "common/net_address.h"
#include "common/time_source.h"
#include "policy/operation.h"

namespace stepgate::policy {

enum class Effect : uint8_t { kDeny, kAllow };

// Why a decision was reached. A closed list: adding a value is a documented change
// (docs/policy.md, "Reasons"), because audit records and 403 bodies carry these names.
enum class Reason : uint8_t {
  kAllowed,          // "allowed": every action of the operation is allowed by a rule, no deny
  kDenied,           // "denied": a deny rule matched (and its `unless` did not)
  kNoMatchingAllow,  // "no_matching_allow": default deny, some action has no matching allow
  kUnclassified,     // "unclassified": the operation has no action (the profile could not
                     //   classify the call); never guessed, always denied
  kUnresolved,       // "unresolved": the call names an execution whose workflow is unknown
};

const char* effectName(Effect e) noexcept;  // "allow", "deny"
const char* reasonName(Reason r) noexcept;  // the quoted names above

// The rules that decided, as indices into the CompiledPolicy's rule table, in ascending order.
// At most kMaxRuleRefs are kept; `truncated` says that more matched.
struct RuleRefs {
  static constexpr unsigned kMaxRuleRefs = 8;
  std::array<uint32_t, kMaxRuleRefs> index{};
  uint8_t count = 0;
  bool truncated = false;

  // Inserts `i` keeping the order; ignores duplicates. Allocation-free.
  void add(uint32_t i) noexcept;
  bool contains(uint32_t i) const noexcept;
};

struct Decision {
  Effect effect = Effect::kDeny;
  Reason reason = Reason::kNoMatchingAllow;
  RuleRefs rules;            // kDenied: the matching deny rules; kAllowed: for each action the
                             // first allow rule (in set order) that matched; else empty
  ActionSet denied_actions;  // kDenied/kNoMatchingAllow: the actions that were not allowed
  // Shadow mode: when a shadow-mode rule could apply to this operation, `shadow` is true and
  // the shadow_* fields hold the decision the set would give were its shadow files enforced.
  // They never change `effect`.
  bool shadow = false;
  Effect shadow_effect = Effect::kDeny;
  Reason shadow_reason = Reason::kNoMatchingAllow;
  RuleRefs shadow_rules;
  uint64_t policy_version = 0;  // CompiledPolicy::version() of the set that decided

  bool allowed() const noexcept { return effect == Effect::kAllow; }
};

// Claims of the principal beyond the Principal's fixed fields, for `who.claims` conditions.
// Identity has no free-form claims yet; the caller adapts whatever it has (a JWT claim set, an
// introspection response) to this interface. Implementations must be allocation-free and
// thread-safe for concurrent const calls; a claim that is a list matches when any element does.
class ClaimLookup {
 public:
  virtual ~ClaimLookup() = default;
  // True iff the claim is present (with any value, including false or an empty list).
  virtual bool has(std::string_view claim) const noexcept = 0;
  // True iff the claim's value (or any element of a list), as text, equals `value`. Booleans
  // compare as "true"/"false", numbers in their JSON spelling.
  virtual bool equals(std::string_view claim, std::string_view value) const noexcept = 0;
};

// The rest of what a decision may depend on. `claims` must outlive the evaluate call.
struct Context {
  SocketAddress source;  // the client's address; ignored when !has_source
  bool has_source = false;
  SystemTime now{};
  const ClaimLookup* claims = nullptr;  // nullptr: no claims are known
};

}  // namespace stepgate::policy
