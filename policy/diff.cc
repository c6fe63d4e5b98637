#include "policy/diff.h"

#include <map>
#include <set>
#include <tuple>

#include "policy/describe.h"

namespace stepgate::policy {
namespace {

// (upstream, workflow pattern, step pattern, action, namespace pattern); "" = any.
using Key = std::tuple<std::string, std::string, std::string, unsigned, std::string>;

struct Entries {
  std::map<std::string, std::vector<const Rule*>> allows;  // by who text
  std::map<std::string, std::vector<const Rule*>> denies;  // by who text
};

std::map<Key, Entries> index(const PolicySet& set) {
  std::map<Key, Entries> out;
  for (const PolicyFile& f : set.files) {
    if (f.mode != Mode::kEnforce)
      continue;
    for (const Rule& r : f.rules) {
      std::vector<std::string> steps = r.steps;
      if (steps.empty())
        steps.emplace_back();
      std::vector<std::string> namespaces = r.namespaces;
      if (namespaces.empty())
        namespaces.emplace_back();
      for (const std::string& w : f.workflows) {
        for (const std::string& s : steps) {
          for (const std::string& n : namespaces) {
            for (unsigned a = 0; a < kActionCount; ++a) {
              if (!r.actions.has(static_cast<Action>(a)))
                continue;
              Entries& e = out[{f.upstream, w, s, a, n}];
              (r.effect == Effect::kAllow ? e.allows : e.denies)[describeWho(r.who)].push_back(&r);
            }
          }
        }
      }
    }
  }
  return out;
}

std::string whenText(const Rule& r) {
  std::string w = describeWhen(r.when);
  return w.empty() ? "always" : w;
}

std::string denyText(const Rule& r) {
  std::string t = whenText(r);
  if (r.unless)
    t += "; unless " + describeWho(*r.unless);
  return t;
}

template <typename Fn>
std::string joined(const std::vector<const Rule*>& rules, Fn&& text) {
  std::set<std::string> parts;
  for (const Rule* r : rules)
    parts.insert(text(*r));
  std::string out;
  for (const std::string& p : parts)
    out += (out.empty() ? "" : " or ") + p;
  return out;
}

// Every rule of `after` is covered by (at least as narrow as) some rule of `before`.
bool allowsNarrowed(const std::vector<const Rule*>& before, const std::vector<const Rule*>& after) {
  for (const Rule* n : after) {
    bool ok = false;
    for (const Rule* o : before)
      ok = ok || whenCovers(o->when, n->when);
    if (!ok)
      return false;
  }
  return true;
}

// Every deny of `before` is matched by a deny of `after` at least as broad.
bool deniesBroadened(const std::vector<const Rule*>& before,
                     const std::vector<const Rule*>& after) {
  for (const Rule* o : before) {
    bool ok = false;
    for (const Rule* n : after) {
      const bool unless_ok =
          !n->unless || (o->unless && describeWho(*n->unless) == describeWho(*o->unless));
      ok = ok || (whenCovers(n->when, o->when) && unless_ok);
    }
    if (!ok)
      return false;
  }
  return true;
}

void compareKey(const Key& key, const Entries* before, const Entries* after,
                std::vector<DiffChange>& out) {
  static const Entries kEmpty;
  const Entries& b = before != nullptr ? *before : kEmpty;
  const Entries& a = after != nullptr ? *after : kEmpty;
  auto change = [&](DiffChange::Kind kind, const std::string& who, std::string was, std::string now,
                    bool widens) {
    DiffChange c;
    std::tie(c.upstream, c.workflow, c.step, std::ignore, c.namespace_name) = key;
    c.action = static_cast<Action>(std::get<3>(key));
    c.kind = kind;
    c.who = who;
    c.before = std::move(was);
    c.after = std::move(now);
    c.widens = widens;
    out.push_back(std::move(c));
  };
  for (const auto& [who, rules] : a.allows) {
    auto it = b.allows.find(who);
    if (it == b.allows.end()) {
      change(DiffChange::Kind::kAllowGained, who, "", joined(rules, whenText), true);
    } else if (joined(it->second, whenText) != joined(rules, whenText)) {
      change(DiffChange::Kind::kAllowWhenChanged, who, joined(it->second, whenText),
             joined(rules, whenText), !allowsNarrowed(it->second, rules));
    }
  }
  for (const auto& [who, rules] : b.allows) {
    if (!a.allows.contains(who)) {
      change(DiffChange::Kind::kAllowLost, who, joined(rules, whenText), "", false);
    }
  }
  for (const auto& [who, rules] : a.denies) {
    auto it = b.denies.find(who);
    if (it == b.denies.end()) {
      change(DiffChange::Kind::kDenyGained, who, "", joined(rules, denyText), false);
    } else if (joined(it->second, denyText) != joined(rules, denyText)) {
      change(DiffChange::Kind::kDenyChanged, who, joined(it->second, denyText),
             joined(rules, denyText), !deniesBroadened(it->second, rules));
    }
  }
  for (const auto& [who, rules] : b.denies) {
    if (!a.denies.contains(who)) {
      change(DiffChange::Kind::kDenyLost, who, joined(rules, denyText), "", true);
    }
  }
}

const char* kindText(DiffChange::Kind k) {
  switch (k) {
    case DiffChange::Kind::kAllowGained:
      return "allow gained";
    case DiffChange::Kind::kAllowLost:
      return "allow lost";
    case DiffChange::Kind::kAllowWhenChanged:
      return "allow conditions changed";
    case DiffChange::Kind::kDenyGained:
      return "deny gained";
    case DiffChange::Kind::kDenyLost:
      return "deny lost";
    case DiffChange::Kind::kDenyChanged:
      return "deny changed";
  }
  return "?";
}

}  // namespace

bool DiffReport::widened() const {
  for (const DiffChange& c : changes) {
    if (c.widens)
      return true;
  }
  return false;
}

bool DiffReport::narrowed() const {
  for (const DiffChange& c : changes) {
    if (!c.widens)
      return true;
  }
  return false;
}

DiffReport diffPolicies(const PolicySet& before, const PolicySet& after) {
  const auto b = index(before);
  const auto a = index(after);
  std::set<Key> keys;
  for (const auto& [k, v] : b)
    keys.insert(k);
  for (const auto& [k, v] : a)
    keys.insert(k);
  DiffReport report;
  for (const Key& k : keys) {
    auto bi = b.find(k);
    auto ai = a.find(k);
    compareKey(k, bi == b.end() ? nullptr : &bi->second, ai == a.end() ? nullptr : &ai->second,
               report.changes);
  }
  return report;
}

std::string renderDiff(const DiffReport& r) {
  std::string out = "## Policy diff\n\n";
  if (r.changes.empty())
    return out + "No change in access.\n";
  out += r.widened() ? "**Access widened.**\n\n" : "Access narrowed only.\n\n";
  // The namespace column only when some change concerns rules that name namespaces.
  bool namespaces = false;
  for (const DiffChange& c : r.changes)
    namespaces = namespaces || !c.namespace_name.empty();
  out += std::string("| | upstream | workflow | step | ") + (namespaces ? "namespace | " : "") +
         "action | change | who | before | after |\n";
  out += std::string("|---|---|---|---|") + (namespaces ? "---|" : "") + "---|---|---|---|---|\n";
  for (const DiffChange& c : r.changes) {
    out += std::string("| ") + (c.widens ? "+" : "-") + " | " +
           (c.upstream.empty() ? "any" : "`" + c.upstream + "`") + " | `" + c.workflow + "` | " +
           (c.step.empty() ? "any" : "`" + c.step + "`") + " | " +
           (!namespaces                ? ""
            : c.namespace_name.empty() ? "any | "
                                       : "`" + c.namespace_name + "` | ") +
           "`" + actionName(c.action) + "` | " + kindText(c.kind) + " | " + c.who + " | " +
           (c.before.empty() ? "—" : c.before) + " | " + (c.after.empty() ? "—" : c.after) + " |\n";
  }
  out += "\n`+` widens access, `-` narrows it.\n";
  return out;
}

}  // namespace stepgate::policy
