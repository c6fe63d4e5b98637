#include "policy/evaluator.h"

#include "policy/conditions.h"
#include "policy/glob.h"

namespace stepgate::policy {
namespace {

// Three-valued result of a condition: data the condition needs may be unknown (no source
// address, no claims, started_by_caller not looked up, an input field missing or of the wrong
// type; a call without a namespace, for a rule that names namespaces). An allow rule needs
// kTrue; a deny rule applies unless something is kFalse (fail closed); an `unless` exception
// needs kTrue.


bool anyEqual(const std::vector<std::string>& want, std::string_view have) noexcept {
  for (const std::string& w : want) {
    if (w == have) {
      return true;
    }
  }
  return false;
}

Tri matchWho(const Who& who, const identity::Principal& p, const Context& ctx) noexcept {
  Tri r = Tri::kTrue;
  if (!who.groups.empty()) {
    bool found = false;
    for (const std::string& g : p.groups) {
      if (anyEqual(who.groups, g)) {
        found = true;
        break;
      }
    }
    r = both(r, of(found));
  }
  if (!who.subjects.empty()) {
    r = both(r, of(anyEqual(who.subjects, p.subject)));
  }
  if (!who.providers.empty()) {
    r = both(r, of(anyEqual(who.providers, p.provider)));
  }
  if (!who.methods.empty()) {
    bool found = false;
    for (identity::AuthMethod m : who.methods) {
      found = found || m == p.method;
    }
    r = both(r, of(found));
  }
  for (const ClaimCondition& c : who.claims) {
    r = both(r, matchClaim(c, ctx));
  }
  return r;
}



Tri matchWhen(const When& w, const identity::Principal& p, const Operation& op,
              const Context& ctx) noexcept {
  Tri r = Tri::kTrue;
  if (w.mfa) {
    r = both(r, of(p.mfa));
  }
  if (!w.source_ip.empty()) {
    if (!ctx.has_source) {
      r = both(r, Tri::kUnknown);
    } else {
      bool found = false;
      for (const Cidr& c : w.source_ip) {
        found = found || c.contains(ctx.source);
      }
      r = both(r, of(found));
    }
  }
  if (w.time) {
    r = both(r, of(inWindow(*w.time, ctx.now)));
  }
  if (w.started_by_caller) {
    r = both(r, op.started_by_caller_known ? of(op.started_by_caller == *w.started_by_caller)
                                           : Tri::kUnknown);
  }
  for (const InputCondition& c : w.input) {
    r = both(r, compareInput(c, op));
  }
  return r;
}

bool ruleMatches(const Rule& rule, const identity::Principal& p, const Operation& op,
                 const Context& ctx) noexcept {
  if (!rule.steps.empty()) {
    bool found = false;
    for (const std::string& s : rule.steps) {
      if (!op.step.empty() && globMatch(s, op.step)) {
        found = true;
        break;
      }
    }
    if (!found) {
      return false;
    }
  }
  // A call without a namespace is unknown data for `namespaces`: an allow needs a match, a
  // deny applies (fail closed).
  if (!rule.namespaces.empty() && !op.namespace_name.empty()) {
    bool found = false;
    for (const std::string& n : rule.namespaces) {
      if (globMatch(n, op.namespace_name)) {
        found = true;
        break;
      }
    }
    if (!found) {
      return false;
    }
  } else if (!rule.namespaces.empty() && rule.effect == Effect::kAllow) {
    return false;
  }
  if (rule.effect == Effect::kAllow) {
    // Anonymous callers match an allow only when it names the method `none`.
    if (p.method == identity::AuthMethod::kNone) {
      bool named = false;
      for (identity::AuthMethod m : rule.who.methods) {
        named = named || m == identity::AuthMethod::kNone;
      }
      if (!named) {
        return false;
      }
    }
    return matchWho(rule.who, p, ctx) == Tri::kTrue &&
           matchWhen(rule.when, p, op, ctx) == Tri::kTrue;
  }
  if (matchWho(rule.who, p, ctx) == Tri::kFalse ||
      matchWhen(rule.when, p, op, ctx) == Tri::kFalse) {
    return false;
  }
  return !(rule.unless && matchWho(*rule.unless, p, ctx) == Tri::kTrue);
}

constexpr uint32_t kNone = UINT32_MAX;

}  // namespace

template <typename Fn>
void CompiledPolicy::forEachBucket(const Operation& op, Fn&& fn) const noexcept {
  auto visit = [&](const Scope& scope) {
    if (auto it = scope.exact.find(std::string_view(op.workflow)); it != scope.exact.end()) {
      fn(it->second);
    }
    for (const auto& [pattern, bucket] : scope.globs) {
      if (globMatch(pattern, op.workflow)) {
        fn(bucket);
      }
    }
  };
  if (!op.upstream.empty()) {
    if (auto it = scopes_.find(std::string_view(op.upstream)); it != scopes_.end()) {
      visit(it->second);
    }
  }
  if (auto it = scopes_.find(std::string_view()); it != scopes_.end()) {
    visit(it->second);
  }
}

Decision CompiledPolicy::evaluate(const identity::Principal& principal, const Operation& op,
                                  const Context& ctx) const noexcept {
  Decision d;
  d.policy_version = set_.version;
  if (op.actions.empty()) {
    d.reason = Reason::kUnclassified;
    return d;
  }
  if (op.workflow.empty() && !op.execution.empty()) {
    d.reason = Reason::kUnresolved;
    d.denied_actions = op.actions;
    return d;
  }
  RuleRefs enforce_denies, shadow_denies;
  ActionSet enforce_denied, shadow_denied;
  std::array<uint32_t, kActionCount> best_enforce, best_shadow;
  best_enforce.fill(kNone);
  best_shadow.fill(kNone);

  forEachBucket(op, [&](const Bucket& b) {
    auto list = [&](unsigned kind, unsigned a) {
      const unsigned k = kind * kActionCount + a;
      return std::pair<const uint32_t*, const uint32_t*>(b.rules.data() + b.offsets[k],
                                                         b.rules.data() + b.offsets[k + 1]);
    };
    for (unsigned a = 0; a < kActionCount; ++a) {
      const auto action = static_cast<Action>(a);
      if (!op.actions.has(action)) {
        continue;
      }
      for (unsigned kind : {0u, 2u}) {
        auto [it, end] = list(kind, a);
        if (kind == 2 && it != end) {
          d.shadow = true;
        }
        for (; it != end; ++it) {
          if (ruleMatches(*rules_[*it].rule, principal, op, ctx)) {
            (kind == 0 ? enforce_denies : shadow_denies).add(*it);
            (kind == 0 ? enforce_denied : shadow_denied).add(action);
          }
        }
      }
      for (unsigned kind : {1u, 3u}) {
        auto [it, end] = list(kind, a);
        if (kind == 3 && it != end) {
          d.shadow = true;
        }
        uint32_t& best = kind == 1 ? best_enforce[a] : best_shadow[a];
        for (; it != end && *it < best; ++it) {
          if (ruleMatches(*rules_[*it].rule, principal, op, ctx)) {
            best = *it;
            break;
          }
        }
      }
    }
  });

  // Enforced decision.
  auto decide = [&](const RuleRefs& denies, ActionSet denied,
                    const std::array<uint32_t, kActionCount>& best, Effect& effect, Reason& reason,
                    RuleRefs& rules, ActionSet* denied_out) {
    effect = Effect::kDeny;
    if (denies.count > 0) {
      reason = Reason::kDenied;
      rules = denies;
      if (denied_out != nullptr) {
        *denied_out = denied;
      }
      return;
    }
    ActionSet missing;
    RuleRefs allows;
    for (unsigned a = 0; a < kActionCount; ++a) {
      if (!op.actions.has(static_cast<Action>(a))) {
        continue;
      }
      if (best[a] == kNone) {
        missing.add(static_cast<Action>(a));
      } else {
        allows.add(best[a]);
      }
    }
    if (!missing.empty()) {
      reason = Reason::kNoMatchingAllow;
      if (denied_out != nullptr) {
        *denied_out = missing;
      }
      return;
    }
    effect = Effect::kAllow;
    reason = Reason::kAllowed;
    rules = allows;
  };
  decide(enforce_denies, enforce_denied, best_enforce, d.effect, d.reason, d.rules,
         &d.denied_actions);
  if (d.shadow) {
    RuleRefs all_denies = enforce_denies;
    for (unsigned i = 0; i < shadow_denies.count; ++i) {
      all_denies.add(shadow_denies.index[i]);
    }
    all_denies.truncated = all_denies.truncated || shadow_denies.truncated;
    std::array<uint32_t, kActionCount> best;
    for (unsigned a = 0; a < kActionCount; ++a) {
      best[a] = std::min(best_enforce[a], best_shadow[a]);
    }
    decide(all_denies, ActionSet::fromBits(enforce_denied.bits() | shadow_denied.bits()), best,
           d.shadow_effect, d.shadow_reason, d.shadow_rules, nullptr);
  }
  return d;
}

}  // namespace stepgate::policy
