#include "policy/who_can.h"

#include "policy/describe.h"
#include "policy/glob.h"

namespace stepgate::policy {
namespace {

bool fileApplies(const PolicyFile& f, const WhoCanQuery& q) {
  if (q.upstream && !f.upstream.empty() && f.upstream != *q.upstream)
    return false;
  for (const std::string& w : f.workflows) {
    if (globMatch(w, q.workflow))
      return true;
  }
  return false;
}

bool stepApplies(const Rule& r, const WhoCanQuery& q) {
  if (r.steps.empty() || !q.step)
    return true;
  for (const std::string& s : r.steps) {
    if (!q.step->empty() && globMatch(s, *q.step))
      return true;
  }
  return false;
}

// Mirrors the evaluator: a query without a namespace ("") is not granted by an allow naming
// namespaces, and a deny naming namespaces applies to it.
bool namespaceApplies(const Rule& r, const WhoCanQuery& q) {
  if (r.namespaces.empty() || !q.namespace_name)
    return true;
  if (q.namespace_name->empty())
    return r.effect == Effect::kDeny;
  for (const std::string& n : r.namespaces) {
    if (globMatch(n, *q.namespace_name))
      return true;
  }
  return false;
}

bool unconditional(const Rule& r) {
  return r.who.empty() && whenEmpty(r.when);
}

void renderEntry(const WhoCanEntry& e, std::string& out) {
  const Rule& r = *e.rule;
  out += "- `" + r.id + "` (" + r.position + ")";
  if (e.always)
    out += " — always, for everyone" + std::string(r.unless ? " not exempt" : "");
  out += "\n  - who: " + describeWho(r.who) + "\n";
  const std::string when = describeWhen(r.when);
  if (!when.empty())
    out += "  - when: " + when + "\n";
  if (!r.steps.empty())
    out += "  - steps: " + describeList(r.steps) + "\n";
  if (!r.namespaces.empty())
    out += "  - namespaces: " + describeList(r.namespaces) + "\n";
  if (r.unless)
    out += "  - unless: " + describeWho(*r.unless) + "\n";
  if (!r.description.empty())
    out += "  - description: " + r.description + "\n";
  for (const std::string& d : e.overridden_by) {
    out += "  - never effective: always overridden by `" + d + "`\n";
  }
  for (const std::string& o : e.only_if)
    out += "  - only if also " + o + "\n";
}

}  // namespace

WhoCanReport whoCan(const PolicySet& set, const WhoCanQuery& query) {
  WhoCanReport report;
  report.query = query;
  for (const PolicyFile& f : set.files) {
    if (f.mode != Mode::kEnforce || !fileApplies(f, query))
      continue;
    for (const Rule& r : f.rules) {
      if (!r.actions.has(query.action) || !stepApplies(r, query) || !namespaceApplies(r, query))
        continue;
      WhoCanEntry e{&r, &f};
      if (r.effect == Effect::kDeny) {
        e.always = unconditional(r);
        report.denies.push_back(e);
      } else {
        report.allows.push_back(e);
      }
    }
  }
  // An unconditional deny removes an allow when it covers the allow's steps and namespaces
  // (an empty allow list is covered only by an empty deny list: see patternsCover). With a
  // namespace in the query, both already apply to that namespace.
  for (WhoCanEntry& a : report.allows) {
    for (const WhoCanEntry& d : report.denies) {
      if (!d.always || !patternsCover(d.rule->steps, a.rule->steps) ||
          !(query.namespace_name || patternsCover(d.rule->namespaces, a.rule->namespaces))) {
        continue;
      }
      if (d.rule->unless) {
        a.only_if.push_back("`unless` of `" + d.rule->id + "`: " + describeWho(*d.rule->unless));
      } else {
        a.overridden_by.push_back(d.rule->id);
      }
    }
  }
  return report;
}

std::string renderWhoCan(const WhoCanReport& r) {
  const WhoCanQuery& q = r.query;
  std::string out = "## Who can `" + std::string(actionName(q.action)) + "` on `" + q.workflow +
                    "`" + (q.step ? " step `" + *q.step + "`" : "") +
                    (!q.namespace_name           ? ""
                     : q.namespace_name->empty() ? " without a namespace"
                                                 : " in namespace `" + *q.namespace_name + "`") +
                    (q.upstream ? " (upstream `" + *q.upstream + "`)" : "") + "\n\n";
  if (r.allows.empty()) {
    out += "Nobody: no allow rule grants it (default deny).\n";
  } else {
    out += "Granted by (any one suffices):\n";
    for (const WhoCanEntry& e : r.allows)
      renderEntry(e, out);
  }
  if (!r.denies.empty()) {
    out += "\nUnless denied by (any one wins over every allow):\n";
    for (const WhoCanEntry& e : r.denies)
      renderEntry(e, out);
  }
  return out;
}

}  // namespace stepgate::policy
