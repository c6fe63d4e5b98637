#include "policy/check.h"

#include <yaml-cpp/yaml.h>

#include "config/yaml_util.h"
#include "policy/describe.h"
#include "policy/glob.h"

namespace stepgate::policy {
namespace {

struct Ref {
  const PolicyFile* file;
  const Rule* rule;
};

// `wide`'s file scope (upstream, workflows), steps and namespaces include `narrow`'s. (A call
// without a namespace is matched by a deny naming namespaces but not by an allow naming them;
// either way a non-empty `wide` list never covers an empty `narrow` one, so this stays sound.)
bool scopeCovers(const Ref& wide, const Ref& narrow) {
  if (!wide.file->upstream.empty() && wide.file->upstream != narrow.file->upstream)
    return false;
  return patternsCover(wide.file->workflows, narrow.file->workflows) &&
         patternsCover(wide.rule->steps, narrow.rule->steps) &&
         patternsCover(wide.rule->namespaces, narrow.rule->namespaces);
}

bool unlessSame(const Rule& a, const Rule& b) {
  if (!a.unless)
    return true;  // no exception: at least as broad
  return b.unless && whoCovers(*b.unless, *a.unless) && whoCovers(*a.unless, *b.unless);
}

bool shadows(const Ref& early, const Ref& late) {
  const Rule& a = *early.rule;
  const Rule& b = *late.rule;
  return a.effect == b.effect && early.file->mode == late.file->mode &&
         (a.actions.bits() & b.actions.bits()) == b.actions.bits() && scopeCovers(early, late) &&
         whoCovers(a.who, b.who) && whenCovers(a.when, b.when) && unlessSame(a, b);
}

// The actions of `allow` that `deny` always removes, or an empty set.
ActionSet overridden(const Ref& deny, const Ref& allow) {
  const Rule& d = *deny.rule;
  if (d.effect != Effect::kDeny || allow.rule->effect != Effect::kAllow || d.unless ||
      deny.file->mode != Mode::kEnforce || !scopeCovers(deny, allow) ||
      !whoCovers(d.who, allow.rule->who) || !whenCovers(d.when, allow.rule->when)) {
    return {};
  }
  return ActionSet::fromBits(d.actions.bits() & allow.rule->actions.bits());
}

bool upstreamMatches(const PolicyFile& f, const CatalogWorkflow& w) {
  return f.upstream.empty() || w.upstream.empty() || f.upstream == w.upstream;
}

void checkCatalog(const Ref& r, const Catalog& catalog, std::vector<CheckFinding>& out) {
  std::vector<const CatalogWorkflow*> matched;
  for (const CatalogWorkflow& w : catalog.workflows) {
    if (!upstreamMatches(*r.file, w))
      continue;
    for (const std::string& p : r.file->workflows) {
      if (globMatch(p, w.name)) {
        matched.push_back(&w);
        break;
      }
    }
  }
  if (matched.empty()) {
    out.push_back({r.rule->position, "catalog",
                   "rule '" + r.rule->id + "' matches no workflow of the catalog (workflow " +
                       describeList(r.file->workflows) +
                       (r.file->upstream.empty() ? "" : ", upstream " + r.file->upstream) + ")"});
    return;
  }
  for (const std::string& s : r.rule->steps) {
    bool found = false;
    for (const CatalogWorkflow* w : matched) {
      for (const std::string& step : w->steps) {
        found = found || globMatch(s, step);
      }
    }
    if (!found) {
      out.push_back({r.rule->position, "catalog",
                     "step '" + s + "' of rule '" + r.rule->id +
                         "' matches no step of the catalog's matching workflows"});
    }
  }
}

}  // namespace

StatusOr<Catalog> parseCatalog(const std::string& file_name, const std::string& text) {
  const config::YamlSource src(file_name);
  Catalog catalog;
  try {
    YAML::Node root;
    RETURN_IF_ERROR(src.parse(text, root));
    RETURN_IF_ERROR(src.checkMap(root, {"workflows"}));
    RETURN_IF_ERROR(src.require(root, "workflows"));
    const YAML::Node list = root["workflows"];
    if (!list.IsSequence()) {
      return src.error(list, "workflows must be a list of {name, upstream, steps}");
    }
    for (const YAML::Node& n : list) {
      RETURN_IF_ERROR(src.checkMap(n, {"name", "upstream", "steps"}));
      RETURN_IF_ERROR(src.require(n, "name"));
      CatalogWorkflow w;
      RETURN_IF_ERROR(src.optString(n, "name", w.name));
      RETURN_IF_ERROR(src.optString(n, "upstream", w.upstream));
      if (const YAML::Node s = n["steps"]) {
        RETURN_IF_ERROR(src.readStringList(s, w.steps));
      }
      catalog.workflows.push_back(std::move(w));
    }
  } catch (const YAML::Exception& e) {
    return invalidArgument(file_name + ": " + e.what());
  }
  return catalog;
}

CheckReport checkPolicy(const PolicySet& set, const Catalog* catalog) {
  std::vector<Ref> refs;
  for (const PolicyFile& f : set.files) {
    for (const Rule& r : f.rules)
      refs.push_back({&f, &r});
  }
  CheckReport report;
  for (size_t j = 0; j < refs.size(); ++j) {
    const Ref& late = refs[j];
    for (size_t i = 0; i < j; ++i) {
      if (shadows(refs[i], late)) {
        report.warnings.push_back({late.rule->position, "shadowed",
                                   "rule '" + late.rule->id + "' is shadowed by '" +
                                       refs[i].rule->id + "' (" + refs[i].rule->position +
                                       "), which is identical or broader"});
        break;
      }
    }
    if (late.rule->effect == Effect::kAllow) {
      for (const Ref& d : refs) {
        const ActionSet gone = overridden(d, late);
        if (!gone.empty()) {
          report.warnings.push_back({late.rule->position, "overridden",
                                     "allow '" + late.rule->id + "' can never grant " +
                                         gone.toString() + ": deny '" + d.rule->id + "' (" +
                                         d.rule->position + ") always overrides it"});
        }
      }
      const ActionSet risky{Action::kDefine, Action::kUndefine, Action::kAdmin};
      const ActionSet hit = ActionSet::fromBits(late.rule->actions.bits() & risky.bits());
      bool star = false;
      for (const std::string& w : late.file->workflows)
        star = star || w == "*";
      if (star && !hit.empty()) {
        report.warnings.push_back({late.rule->position, "broad",
                                   "allow '" + late.rule->id + "' grants " + hit.toString() +
                                       " on every workflow ('*'); name the workflows"});
      }
    }
    if (catalog != nullptr)
      checkCatalog(late, *catalog, report.warnings);
  }
  return report;
}

std::string renderCheck(const PolicySet& set, const CheckReport& report,
                        const std::string& prefix) {
  std::string out;
  size_t rules = 0;
  for (const PolicyFile& f : set.files)
    rules += f.rules.size();
  for (const CheckFinding& w : report.warnings) {
    out += prefix + w.position + ": warning: " + w.message + " [" + w.kind + "]\n";
  }
  out += std::to_string(rules) + " rules in " + std::to_string(set.files.size()) + " files, " +
         std::to_string(report.warnings.size()) + " warnings\n";
  return out;
}

}  // namespace stepgate::policy
