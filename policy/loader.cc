#include "policy/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config/yaml_util.h"
#include "policy/glob.h"

namespace stepgate::policy {
namespace {

using config::YamlSource;

constexpr const char* kDayNames[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

bool isPlain(const YAML::Node& n) {
  return n.IsScalar() && n.Tag() == "?";
}

class FileLoader {
 public:
  FileLoader(const YamlSource& src, const LoadOptions& options,
             std::map<std::string, std::shared_ptr<const TimeZone>>& zones)
      : src_(src), options_(options), zones_(zones) {}

  Status load(std::string_view text, PolicyFile& out) {
    YAML::Node root;
    RETURN_IF_ERROR(src_.parse(text, root));
    RETURN_IF_ERROR(src_.checkMap(root, {"workflow", "upstream", "mode", "description", "rules"}));
    RETURN_IF_ERROR(src_.require(root, "workflow"));
    RETURN_IF_ERROR(src_.require(root, "rules"));
    RETURN_IF_ERROR(readPatterns(root["workflow"], "workflow", true, out.workflows));
    if (const YAML::Node u = root["upstream"]) {
      RETURN_IF_ERROR(src_.readString(u, out.upstream));
      if (std::string why = checkPattern(out.upstream); !why.empty() || isGlob(out.upstream)) {
        return src_.error(u, "upstream must be the name of a configured upstream");
      }
    }
    if (const YAML::Node m = root["mode"]) {
      std::string mode;
      RETURN_IF_ERROR(src_.readString(m, mode));
      if (mode == "shadow") {
        out.mode = Mode::kShadow;
      } else if (mode != "enforce") {
        return src_.error(m, "mode must be 'enforce' or 'shadow', got '" + mode + "'");
      }
    }
    const YAML::Node rules = root["rules"];
    if (!rules.IsSequence()) {
      return src_.error(rules, "rules must be a list of rules");
    }
    if (rules.size() == 0) {
      return src_.error(rules, "rules must not be empty");
    }
    for (const YAML::Node& r : rules) {
      Rule rule;
      RETURN_IF_ERROR(loadRule(r, rule));
      out.rules.push_back(std::move(rule));
    }
    return okStatus();
  }

 private:
  // A string or a non-empty list of strings, each a valid name or (if allowed) glob.
  Status readPatterns(const YAML::Node& node, std::string_view what, bool one_or_list,
                      std::vector<std::string>& out) {
    std::vector<YAML::Node> items;
    if (one_or_list && node.IsScalar()) {
      items.push_back(node);
    } else if (node.IsSequence()) {
      if (node.size() == 0) {
        return src_.error(node, std::string(what) + " must not be an empty list");
      }
      for (const YAML::Node& i : node) {
        items.push_back(i);
      }
    } else {
      return src_.error(node, std::string(what) + " must be " +
                                  (one_or_list ? "a name or a list of names" : "a list of names"));
    }
    for (const YAML::Node& i : items) {
      std::string s;
      RETURN_IF_ERROR(src_.readString(i, s));
      if (std::string why = checkPattern(s); !why.empty()) {
        return src_.error(i, std::string(what) + ": " + why);
      }
      out.push_back(std::move(s));
    }
    return okStatus();
  }

  // A non-empty list of plain strings (no glob check: group and subject names are opaque).
  Status readNames(const YAML::Node& node, std::string_view what, std::vector<std::string>& out) {
    if (!node.IsSequence()) {
      return src_.error(node, std::string(what) + " must be a list");
    }
    if (node.size() == 0) {
      return src_.error(node, std::string(what) + " must not be an empty list");
    }
    for (const YAML::Node& i : node) {
      std::string s;
      RETURN_IF_ERROR(src_.readString(i, s));
      if (s.empty()) {
        return src_.error(i, std::string(what) + ": an entry must not be empty");
      }
      out.push_back(std::move(s));
    }
    return okStatus();
  }

  Status readActions(const YAML::Node& node, ActionSet& out) {
    if (!node.IsSequence()) {
      return src_.error(node, "expected a list of actions, e.g. [start, read]");
    }
    if (node.size() == 0) {
      return src_.error(node, "the list of actions must not be empty");
    }
    std::vector<std::string_view> names;
    for (unsigned i = 0; i < kActionCount; ++i) {
      names.push_back(actionName(static_cast<Action>(i)));
    }
    for (const YAML::Node& i : node) {
      std::string s;
      RETURN_IF_ERROR(src_.readString(i, s));
      const auto a = parseAction(s);
      if (!a) {
        const std::string hint = config::closestMatch(s, names);
        return src_.error(i, "unknown action '" + s + "'" +
                                 (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      if (out.has(*a)) {
        return src_.error(i, "action '" + s + "' is listed twice");
      }
      out.add(*a);
    }
    return okStatus();
  }

  Status loadWho(const YAML::Node& node, Who& who) {
    RETURN_IF_ERROR(src_.checkMap(node, {"groups", "subjects", "providers", "methods", "claims"}));
    if (node.size() == 0) {
      return src_.error(node,
                        "must name at least one of groups, subjects, providers, methods, "
                        "claims");
    }
    if (const YAML::Node n = node["groups"]) {
      RETURN_IF_ERROR(readNames(n, "groups", who.groups));
    }
    if (const YAML::Node n = node["subjects"]) {
      RETURN_IF_ERROR(readNames(n, "subjects", who.subjects));
    }
    if (const YAML::Node n = node["providers"]) {
      RETURN_IF_ERROR(readNames(n, "providers", who.providers));
    }
    if (const YAML::Node n = node["methods"]) {
      std::vector<std::string> names;
      RETURN_IF_ERROR(readNames(n, "methods", names));
      for (size_t i = 0; i < names.size(); ++i) {
        static const std::pair<std::string_view, identity::AuthMethod> kMethods[] = {
            {"jwt", identity::AuthMethod::kJwt},
            {"introspection", identity::AuthMethod::kIntrospection},
            {"client_certificate", identity::AuthMethod::kClientCertificate},
            {"session", identity::AuthMethod::kSession},
            {"none", identity::AuthMethod::kNone}};
        bool found = false;
        for (const auto& [name, m] : kMethods) {
          if (names[i] == name) {
            who.methods.push_back(m);
            found = true;
          }
        }
        if (!found) {
          return src_.error(n[i], "unknown method '" + names[i] +
                                      "'; expected jwt, introspection, client_certificate, "
                                      "session or none");
        }
      }
    }
    if (const YAML::Node n = node["claims"]) {
      if (!n.IsSequence() || n.size() == 0) {
        return src_.error(n, "claims must be a non-empty list of {claim, equals|in|exists}");
      }
      for (const YAML::Node& c : n) {
        RETURN_IF_ERROR(src_.checkMap(c, {"claim", "equals", "in", "exists"}));
        RETURN_IF_ERROR(src_.require(c, "claim"));
        ClaimCondition cond;
        RETURN_IF_ERROR(src_.readString(c["claim"], cond.claim));
        if (cond.claim.empty()) {
          return src_.error(c["claim"], "claim name must not be empty");
        }
        const int tests = (c["equals"] ? 1 : 0) + (c["in"] ? 1 : 0) + (c["exists"] ? 1 : 0);
        if (tests != 1) {
          return src_.error(c, "a claim condition needs exactly one of equals, in, exists");
        }
        if (const YAML::Node e = c["equals"]) {
          cond.kind = ClaimCondition::Kind::kEquals;
          cond.values.emplace_back();
          RETURN_IF_ERROR(src_.readString(e, cond.values.back()));
        } else if (const YAML::Node in = c["in"]) {
          cond.kind = ClaimCondition::Kind::kIn;
          RETURN_IF_ERROR(readNames(in, "in", cond.values));
        } else {
          cond.kind = ClaimCondition::Kind::kExists;
          RETURN_IF_ERROR(src_.readBool(c["exists"], cond.exists));
        }
        who.claims.push_back(std::move(cond));
      }
    }
    return okStatus();
  }

  Status loadTime(const YAML::Node& node, When& when) {
    RETURN_IF_ERROR(src_.readString(node, when.time_text));
    const std::string& text = when.time_text;
    auto fail = [&](const std::string& why) {
      return src_.error(node, "bad time window '" + text + "': " + why +
                                  " (expected e.g. \"Mon-Fri 08:00-18:00 Europe/Berlin\")");
    };
    std::istringstream in(text);
    std::string days, hours, zone, extra;
    if (!(in >> days >> hours >> zone) || (in >> extra)) {
      return fail("expected days, hours and a time zone separated by spaces");
    }
    TimeWindow w;
    auto day = [](std::string_view s) -> int {
      for (int i = 0; i < 7; ++i) {
        if (s == kDayNames[i]) {
          return i;
        }
      }
      return -1;
    };
    size_t start = 0;
    while (start <= days.size()) {
      const size_t comma = std::min(days.find(',', start), days.size());
      const std::string_view item = std::string_view(days).substr(start, comma - start);
      const size_t dash = item.find('-');
      const int a = day(item.substr(0, dash));
      const int b = dash == std::string_view::npos ? a : day(item.substr(dash + 1));
      if (a < 0 || b < 0) {
        return fail("days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, as 'Mon-Fri' or 'Mon,Wed'");
      }
      for (int d = a;; d = (d + 1) % 7) {
        w.days |= static_cast<uint8_t>(1u << d);
        if (d == b) {
          break;
        }
      }
      start = comma + 1;
    }
    auto hhmm = [](std::string_view s, uint16_t& out, bool allow_24) {
      if (s.size() != 5 || s[2] != ':') {
        return false;
      }
      int h = 0, m = 0;
      if (std::from_chars(s.data(), s.data() + 2, h).ptr != s.data() + 2 ||
          std::from_chars(s.data() + 3, s.data() + 5, m).ptr != s.data() + 5) {
        return false;
      }
      if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24))) {
        return false;
      }
      out = static_cast<uint16_t>(h * 60 + m);
      return true;
    };
    const size_t dash = hours.find('-');
    if (dash == std::string::npos ||
        !hhmm(std::string_view(hours).substr(0, dash), w.start_minute, false) ||
        !hhmm(std::string_view(hours).substr(dash + 1), w.end_minute, true)) {
      return fail("hours are HH:MM-HH:MM (00:00 to 24:00)");
    }
    if (w.start_minute == w.end_minute) {
      return fail("the window is empty (start equals end)");
    }
    if (std::string why = checkZoneName(zone); !why.empty()) {
      return fail(why);
    }
    auto it = zones_.find(zone);
    if (it == zones_.end()) {
      std::ifstream f(options_.zoneinfo_dir + "/" + zone, std::ios::binary);
      std::stringstream bytes;
      bytes << f.rdbuf();
      if (!f) {
        return fail("unknown time zone '" + zone + "'");
      }
      auto tz = TimeZone::fromTzif(zone, bytes.str());
      if (!tz.isOk()) {
        return fail(tz.status().message());
      }
      it = zones_.emplace(zone, std::make_shared<const TimeZone>(std::move(tz).value())).first;
    }
    w.zone = it->second;
    when.time = w;
    return okStatus();
  }

  Status loadWhen(const YAML::Node& node, When& when) {
    RETURN_IF_ERROR(
        src_.checkMap(node, {"mfa", "source_ip", "time", "started_by_caller", "input"}));
    if (node.size() == 0) {
      return src_.error(node, "when must name at least one condition");
    }
    if (const YAML::Node n = node["mfa"]) {
      RETURN_IF_ERROR(src_.readBool(n, when.mfa));
      if (!when.mfa) {
        return src_.error(n, "'mfa: false' requires nothing; remove it");
      }
    }
    if (const YAML::Node n = node["source_ip"]) {
      std::vector<YAML::Node> items;
      if (n.IsScalar()) {
        items.push_back(n);
      } else if (n.IsSequence() && n.size() > 0) {
        for (const YAML::Node& i : n) {
          items.push_back(i);
        }
      } else {
        return src_.error(n, "source_ip must be a CIDR or a non-empty list of CIDRs");
      }
      for (const YAML::Node& i : items) {
        std::string s;
        RETURN_IF_ERROR(src_.readString(i, s));
        auto cidr = parseCidr(s);
        if (!cidr.isOk()) {
          return src_.error(i, cidr.status().message());
        }
        when.source_ip.push_back(*cidr);
        when.source_ip_text.push_back(s);
      }
    }
    if (const YAML::Node n = node["time"]) {
      RETURN_IF_ERROR(loadTime(n, when));
    }
    if (const YAML::Node n = node["started_by_caller"]) {
      bool b = false;
      RETURN_IF_ERROR(src_.readBool(n, b));
      when.started_by_caller = b;
    }
    if (const YAML::Node n = node["input"]) {
      if (!n.IsSequence() || n.size() == 0) {
        return src_.error(n, "input must be a non-empty list of {path, op, value}");
      }
      for (const YAML::Node& c : n) {
        RETURN_IF_ERROR(src_.checkMap(c, {"path", "op", "value"}));
        RETURN_IF_ERROR(src_.require(c, "path"));
        RETURN_IF_ERROR(src_.require(c, "op"));
        RETURN_IF_ERROR(src_.require(c, "value"));
        InputCondition cond;
        RETURN_IF_ERROR(src_.readString(c["path"], cond.path));
        if (cond.path.empty() || cond.path[0] != '/') {
          return src_.error(c["path"], "path must be a JSON pointer such as /amount");
        }
        std::string op;
        RETURN_IF_ERROR(src_.readString(c["op"], op));
        static const std::pair<std::string_view, CompareOp> kOps[] = {
            {"=", CompareOp::kEq},  {"!=", CompareOp::kNe}, {"<", CompareOp::kLt},
            {"<=", CompareOp::kLe}, {">", CompareOp::kGt},  {">=", CompareOp::kGe}};
        bool found = false;
        for (const auto& [name, o] : kOps) {
          if (op == name) {
            cond.op = o;
            found = true;
          }
        }
        if (!found) {
          return src_.error(c["op"], "op must be one of = != < <= > >=, got '" + op + "'");
        }
        const YAML::Node v = c["value"];
        if (!v.IsScalar()) {
          return src_.error(v, "value must be a number or a string");
        }
        cond.text = v.Scalar();
        if (isPlain(v)) {
          double d = 0;
          const char* b = cond.text.data();
          const char* e = b + cond.text.size();
          auto [ptr, ec] = std::from_chars(b, e, d);
          if (ec == std::errc() && ptr == e && !cond.text.empty()) {
            cond.is_number = true;
            cond.number = d;
          }
        }
        if (!cond.is_number && cond.op != CompareOp::kEq && cond.op != CompareOp::kNe) {
          return src_.error(c["op"], "'" + op + "' compares numbers; '" + cond.text +
                                         "' is a string (only = and != apply to strings)");
        }
        when.input.push_back(std::move(cond));
      }
    }
    return okStatus();
  }

  Status loadRule(const YAML::Node& node, Rule& rule) {
    RETURN_IF_ERROR(src_.checkMap(node, {"id", "allow", "deny", "steps", "namespaces", "who",
                                         "unless", "when", "description"}));
    rule.position = src_.position(node);
    RETURN_IF_ERROR(src_.require(node, "id"));
    RETURN_IF_ERROR(src_.readString(node["id"], rule.id));
    if (rule.id.empty() ||
        rule.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos) {
      return src_.error(node["id"], "a rule id has letters, digits and . _ - only");
    }
    const YAML::Node allow = node["allow"];
    const YAML::Node deny = node["deny"];
    if (allow && deny) {
      return src_.error(deny, "a rule has either allow or deny, not both");
    }
    if (!allow && !deny) {
      return src_.error(node, "rule '" + rule.id + "' needs allow: [...] or deny: [...]");
    }
    rule.effect = allow ? Effect::kAllow : Effect::kDeny;
    RETURN_IF_ERROR(readActions(allow ? allow : deny, rule.actions));
    if (const YAML::Node n = node["steps"]) {
      RETURN_IF_ERROR(readPatterns(n, "steps", false, rule.steps));
    }
    if (const YAML::Node n = node["namespaces"]) {
      RETURN_IF_ERROR(readPatterns(n, "namespaces", false, rule.namespaces));
    }
    if (const YAML::Node n = node["who"]) {
      RETURN_IF_ERROR(loadWho(n, rule.who));
    }
    if (const YAML::Node n = node["unless"]) {
      if (rule.effect == Effect::kAllow) {
        return src_.error(n, "unless applies to deny rules only; narrow the allow's who instead");
      }
      rule.unless.emplace();
      RETURN_IF_ERROR(loadWho(n, *rule.unless));
    }
    if (const YAML::Node n = node["when"]) {
      RETURN_IF_ERROR(loadWhen(n, rule.when));
    }
    if (const YAML::Node n = node["description"]) {
      RETURN_IF_ERROR(src_.readString(n, rule.description));
    }
    return okStatus();
  }

  const YamlSource& src_;
  const LoadOptions& options_;
  std::map<std::string, std::shared_ptr<const TimeZone>>& zones_;
};

uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

const char* compareOpName(CompareOp op) noexcept {
  switch (op) {
    case CompareOp::kEq:
      return "=";
    case CompareOp::kNe:
      return "!=";
    case CompareOp::kLt:
      return "<";
    case CompareOp::kLe:
      return "<=";
    case CompareOp::kGt:
      return ">";
    case CompareOp::kGe:
      return ">=";
  }
  return "?";
}

std::string versionString(uint64_t version) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(version));
  return buf;
}

StatusOr<PolicySet> loadPolicySources(std::vector<PolicySource> sources,
                                      const LoadOptions& options) {
  if (sources.empty()) {
    return invalidArgument("no policy files");
  }
  std::sort(sources.begin(), sources.end());
  PolicySet set;
  uint64_t h = 0xcbf29ce484222325ULL;
  std::map<std::string, std::shared_ptr<const TimeZone>> zones;
  std::map<std::string, std::string, std::less<>> ids;  // id -> position
  for (const auto& [name, text] : sources) {
    h = fnv1a(h, name);
    h = fnv1a(h, std::string_view("\0", 1));
    h = fnv1a(h, text);
    h = fnv1a(h, std::string_view("\0", 1));
    YamlSource src(name);
    PolicyFile file;
    file.name = name;
    try {
      FileLoader loader(src, options, zones);
      RETURN_IF_ERROR(loader.load(text, file));
    } catch (const std::exception& e) {
      return invalidArgument(name + ": " + e.what());
    }
    for (const Rule& r : file.rules) {
      auto [it, inserted] = ids.emplace(r.id, r.position);
      if (!inserted) {
        return invalidArgument(r.position + ": duplicate rule id '" + r.id +
                               "' (first defined at " + it->second + ")");
      }
    }
    set.files.push_back(std::move(file));
  }
  set.version = h;
  return set;
}

StatusOr<PolicySet> loadPolicyDirectory(const std::string& dir, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return invalidArgument(dir + ": cannot read the policy directory: " + ec.message());
  }
  std::vector<PolicySource> sources;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string ext = it->path().extension().string();
    if (name.empty() || name[0] == '.' || (ext != ".yaml" && ext != ".yml")) {
      continue;
    }
    if (!fs::is_regular_file(it->path(), ec)) {  // follows symlinks
      continue;
    }
    std::ifstream f(it->path(), std::ios::binary);
    std::stringstream bytes;
    bytes << f.rdbuf();
    if (!f) {
      return invalidArgument(name + ": cannot read the file");
    }
    sources.emplace_back(name, bytes.str());
  }
  if (ec) {
    return invalidArgument(dir + ": cannot read the policy directory: " + ec.message());
  }
  if (sources.empty()) {
    return invalidArgument(dir + ": no policy files (*.yaml) found");
  }
  return loadPolicySources(std::move(sources), options);
}

}  // namespace stepgate::policy
