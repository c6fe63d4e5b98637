#include "policy/explain.h"

#include <chrono>

#include "policy/conditions.h"
#include "policy/describe.h"
#include "policy/glob.h"

namespace stepgate::policy {
namespace {

const char* triName(Tri t) {
  return t == Tri::kTrue ? "yes" : t == Tri::kFalse ? "no" : "unknown";
}

template <typename T>
bool contains(const std::vector<T>& v, const T& x) {
  for (const T& y : v) {
    if (y == x)
      return true;
  }
  return false;
}

// Appends one verdict and folds it into `acc` (the minimum).
void note(std::vector<ConditionVerdict>& out, Tri& acc, std::string what, Tri t) {
  out.push_back({std::move(what), triName(t)});
  acc = t < acc ? t : acc;
}

Tri whoVerdicts(const Who& who, const char* prefix, const identity::Principal& p,
                const Context& ctx, std::vector<ConditionVerdict>& out) {
  Tri r = Tri::kTrue;
  const std::string pre = prefix;
  if (!who.groups.empty()) {
    bool found = false;
    for (const std::string& g : p.groups)
      found = found || contains(who.groups, g);
    note(out, r, pre + ".groups " + describeList(who.groups), of(found));
  }
  if (!who.subjects.empty()) {
    note(out, r, pre + ".subjects " + describeList(who.subjects),
         of(contains(who.subjects, p.subject)));
  }
  if (!who.providers.empty()) {
    note(out, r, pre + ".providers " + describeList(who.providers),
         of(contains(who.providers, p.provider)));
  }
  if (!who.methods.empty()) {
    Who only;
    only.methods = who.methods;
    note(out, r, pre + "." + describeWho(only), of(contains(who.methods, p.method)));
  }
  for (const ClaimCondition& c : who.claims) {
    Who only;
    only.claims = {c};
    note(out, r, pre + "." + describeWho(only), matchClaim(c, ctx));
  }
  return r;
}



Tri whenVerdicts(const When& w, const identity::Principal& p, const Operation& op,
                 const Context& ctx, std::vector<ConditionVerdict>& out) {
  Tri r = Tri::kTrue;
  if (w.mfa)
    note(out, r, "when.mfa", of(p.mfa));
  if (!w.source_ip.empty()) {
    Tri t = Tri::kUnknown;
    if (ctx.has_source) {
      bool found = false;
      for (const Cidr& c : w.source_ip)
        found = found || c.contains(ctx.source);
      t = of(found);
    }
    note(out, r, "when.source_ip " + describeList(w.source_ip_text), t);
  }
  if (w.time)
    note(out, r, "when.time " + w.time_text, of(inWindow(*w.time, ctx.now)));
  if (w.started_by_caller) {
    note(out, r, std::string("when.started_by_caller ") + (*w.started_by_caller ? "true" : "false"),
         op.started_by_caller_known ? of(op.started_by_caller == *w.started_by_caller)
                                    : Tri::kUnknown);
  }
  for (const InputCondition& c : w.input) {
    When only;
    only.input = {c};
    note(out, r, "when." + describeWhen(only), compareInput(c, op));
  }
  return r;
}

void explainRule(const Rule& rule, const identity::Principal& p, const Operation& op,
                 const Context& ctx, RuleExplanation& e) {
  if (!rule.steps.empty()) {
    bool found = false;
    for (const std::string& s : rule.steps)
      found = found || (!op.step.empty() && globMatch(s, op.step));
    e.conditions.push_back({"steps " + describeList(rule.steps), found ? "yes" : "no"});
    if (!found) {
      e.summary = op.step.empty() ? "names steps; the call has none"
                                  : "step '" + op.step + "' is not one of its steps";
      return;
    }
  }
  // A call without a namespace: unknown, so an allow does not match and a deny still applies.
  Tri ns = Tri::kTrue;
  if (!rule.namespaces.empty()) {
    bool found = false;
    for (const std::string& n : rule.namespaces)
      found = found || (!op.namespace_name.empty() && globMatch(n, op.namespace_name));
    ns = op.namespace_name.empty() ? Tri::kUnknown : of(found);
    e.conditions.push_back({"namespaces " + describeList(rule.namespaces), triName(ns)});
    if (ns == Tri::kFalse) {
      e.summary = "namespace '" + op.namespace_name + "' is not one of its namespaces";
      return;
    }
    if (ns == Tri::kUnknown && rule.effect == Effect::kAllow) {
      e.summary = "names namespaces; the call has none (allow needs yes)";
      return;
    }
  }
  if (rule.effect == Effect::kAllow) {
    if (p.method == identity::AuthMethod::kNone &&
        !contains(rule.who.methods, identity::AuthMethod::kNone)) {
      e.conditions.push_back({"anonymous caller needs who.methods [none]", "no"});
      e.summary = "the caller is anonymous and the allow does not name method none";
      return;
    }
    const Tri who = whoVerdicts(rule.who, "who", p, ctx, e.conditions);
    const Tri when = whenVerdicts(rule.when, p, op, ctx, e.conditions);
    e.matched = who == Tri::kTrue && when == Tri::kTrue;
    e.summary = e.matched             ? "matches"
                : who != Tri::kTrue   ? (who == Tri::kFalse ? "who does not match"
                                                            : "who is unknown (allow needs yes)")
                : when == Tri::kFalse ? "a when condition fails"
                                      : "a when condition is unknown (allow needs yes)";
    return;
  }
  const Tri who = whoVerdicts(rule.who, "who", p, ctx, e.conditions);
  const Tri when = whenVerdicts(rule.when, p, op, ctx, e.conditions);
  if (who == Tri::kFalse || when == Tri::kFalse) {
    e.summary = who == Tri::kFalse ? "who does not match" : "a when condition fails";
    return;
  }
  if (rule.unless) {
    std::vector<ConditionVerdict> u;
    const Tri ex = whoVerdicts(*rule.unless, "unless", p, ctx, u);
    e.conditions.insert(e.conditions.end(), u.begin(), u.end());
    if (ex == Tri::kTrue) {
      e.summary = "the caller is exempt (unless matches)";
      return;
    }
  }
  e.matched = true;
  e.summary = who == Tri::kTrue && when == Tri::kTrue && ns == Tri::kTrue
                  ? "matches"
                  : "matches (unknown data fails closed)";
}

}  // namespace

Explanation explain(const CompiledPolicy& policy, const identity::Principal& principal,
                    const Operation& op, const Context& ctx) {
  Explanation out;
  out.decision = policy.evaluate(principal, op, ctx);
  if (op.actions.empty() || (op.workflow.empty() && !op.execution.empty())) {
    out.derived_effect = Effect::kDeny;
    out.agrees = out.decision.effect == Effect::kDeny;
    return out;
  }
  uint32_t index = 0;
  bool denied = false;
  ActionSet allowed;
  for (const PolicyFile& f : policy.set().files) {
    bool scope = f.upstream.empty() || f.upstream == op.upstream;
    bool workflow = false;
    for (const std::string& w : f.workflows)
      workflow = workflow || globMatch(w, op.workflow);
    for (const Rule& rule : f.rules) {
      const uint32_t i = index++;
      const ActionSet hit = ActionSet::fromBits(rule.actions.bits() & op.actions.bits());
      if (!scope || !workflow || hit.empty())
        continue;
      RuleExplanation e;
      e.index = i;
      e.actions = hit;
      explainRule(rule, principal, op, ctx, e);
      if (e.matched && !policy.ruleIsShadow(i)) {
        if (rule.effect == Effect::kDeny) {
          denied = true;
        } else {
          allowed = ActionSet::fromBits(allowed.bits() | hit.bits());
        }
      }
      out.rules.push_back(std::move(e));
    }
  }
  out.derived_effect = !denied && allowed == op.actions ? Effect::kAllow : Effect::kDeny;
  out.agrees = out.derived_effect == out.decision.effect;
  return out;
}

std::string renderExplanation(const CompiledPolicy& policy, const Operation& op,
                              const Explanation& e) {
  const Decision& d = e.decision;
  std::string out = "operation: " + op.actions.toString() + " on " +
                    (op.workflow.empty() ? "(no workflow)" : op.workflow) +
                    (op.step.empty() ? "" : " step " + op.step) +
                    (op.namespace_name.empty() ? "" : " in namespace " + op.namespace_name) +
                    (op.upstream.empty() ? "" : " (upstream " + op.upstream + ")") + "\n";
  out += std::string("decision: ") + effectName(d.effect) + " (" + reasonName(d.reason) + ")";
  if (d.rules.count > 0) {
    std::vector<std::string> ids;
    for (unsigned i = 0; i < d.rules.count; ++i)
      ids.emplace_back(policy.ruleId(d.rules.index[i]));
    out += " by " + describeList(ids);
  }
  if (!d.denied_actions.empty())
    out += "; not allowed: " + d.denied_actions.toString();
  out += "\n";
  if (d.shadow) {
    out += std::string("shadow decision: ") + effectName(d.shadow_effect) + " (" +
           reasonName(d.shadow_reason) + ")\n";
  }
  if (!e.agrees)
    out += "warning: the rule verdicts below disagree with the decision\n";
  out += e.rules.empty() ? "no rule names this workflow and action\n"
                         : "rules considered, in set order:\n";
  for (const RuleExplanation& r : e.rules) {
    const Rule& rule = policy.rule(r.index);
    out += std::string("  ") + (r.matched ? "MATCH " : "no    ") + rule.id + " (" +
           effectName(rule.effect) + " " + r.actions.toString() +
           (policy.ruleIsShadow(r.index) ? ", shadow" : "") + ") " + rule.position + ": " +
           r.summary + "\n";
    for (const ConditionVerdict& c : r.conditions) {
      out += "      " + c.what + ": " + c.verdict + "\n";
    }
  }
  return out;
}

}  // namespace stepgate::policy
