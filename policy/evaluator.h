#pragma once
// CompiledPolicy: a PolicySet compiled into an index for evaluation (see compiler.h). Built
// once on the control thread, then immutable and shared by every worker as
// CompiledPolicyConstSharedPtr; evaluate() is const, noexcept, allocation-free and safe from
// any number of threads at once. Semantics and costs are in docs/policy.md.
//
// Index: upstream ("" = any) -> workflow. Exact workflow names are a hash map; each distinct
// workflow glob has one bucket, tested per lookup (cost: one globMatch per distinct glob, not
// per rule). A bucket lists its rule indices per (action, effect, mode), so a lookup touches
// only rules that name one of the operation's actions for that workflow.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "identity/principal.h"
#include "policy/decision.h"
#include "policy/model.h"
#include "policy/operation.h"

namespace stepgate::policy {

class CompiledPolicy;
using CompiledPolicyConstSharedPtr = std::shared_ptr<const CompiledPolicy>;

class CompiledPolicy {
 public:
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  // Decides `op` for `principal`. Default deny; any matching deny wins (unless its `unless`
  // matches); else allow iff every action of `op` is allowed by some rule. Shadow-mode rules
  // are reported in Decision::shadow_* and never change the effect.
  Decision evaluate(const identity::Principal& principal, const Operation& op,
                    const Context& ctx) const noexcept;

  uint64_t version() const noexcept { return set_.version; }
  const PolicySet& set() const noexcept { return set_; }
  size_t ruleCount() const noexcept { return rules_.size(); }
  // REQUIRES: i < ruleCount(). Indices are the rules in set order (files by name, then rules).
  const Rule& rule(uint32_t i) const noexcept { return *rules_[i].rule; }
  std::string_view ruleId(uint32_t i) const noexcept { return rules_[i].rule->id; }
  bool ruleIsShadow(uint32_t i) const noexcept { return rules_[i].shadow; }

 private:
  friend CompiledPolicyConstSharedPtr compile(PolicySet set);
  CompiledPolicy() = default;

  // Rule lists of one workflow key: kLists lists, one per (kind, action); kind 0 enforce
  // deny, 1 enforce allow, 2 shadow deny, 3 shadow allow. Compressed: list k is
  // rules[offsets[k] .. offsets[k+1]), ascending rule indices.
  static constexpr unsigned kKinds = 4;
  static constexpr unsigned kLists = kKinds * kActionCount;
  struct Bucket {
    std::array<uint32_t, kLists + 1> offsets{};
    std::vector<uint32_t> rules;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct Scope {
    std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> exact;
    std::vector<std::pair<std::string, Bucket>> globs;
  };
  struct RuleEntry {
    const Rule* rule = nullptr;  // into set_
    bool shadow = false;
  };

  template <typename Fn>
  void forEachBucket(const Operation& op, Fn&& fn) const noexcept;

  PolicySet set_;
  std::vector<RuleEntry> rules_;
  std::unordered_map<std::string, Scope, Hash, std::equal_to<>> scopes_;  // by upstream
};

}  // namespace stepgate::policy
