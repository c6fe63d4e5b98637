#include "policy/test_runner.h"

#include <yaml-cpp/yaml.h>

#include <charconv>

#include "config/yaml_util.h"
#include "policy/time_zone.h"

namespace stepgate::policy {
namespace {

using config::YamlSource;

std::optional<identity::AuthMethod> parseMethod(std::string_view s) {
  static const std::pair<std::string_view, identity::AuthMethod> kMethods[] = {
      {"jwt", identity::AuthMethod::kJwt},
      {"introspection", identity::AuthMethod::kIntrospection},
      {"client_certificate", identity::AuthMethod::kClientCertificate},
      {"session", identity::AuthMethod::kSession},
      {"none", identity::AuthMethod::kNone}};
  for (const auto& [name, m] : kMethods) {
    if (name == s)
      return m;
  }
  return std::nullopt;
}

std::optional<Reason> parseReason(std::string_view s) {
  for (Reason r : {Reason::kAllowed, Reason::kDenied, Reason::kNoMatchingAllow,
                   Reason::kUnclassified, Reason::kUnresolved}) {
    if (s == reasonName(r))
      return r;
  }
  return std::nullopt;
}

bool parseNumber(const std::string& s, double& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end && !s.empty();
}

Status readPrincipal(const YamlSource& src, const YAML::Node& n, TestCase& c) {
  RETURN_IF_ERROR(src.checkMap(n, {"subject", "groups", "provider", "method", "mfa", "claims"}));
  identity::Principal& p = c.principal;
  p.method = identity::AuthMethod::kJwt;
  RETURN_IF_ERROR(src.optString(n, "subject", p.subject));
  RETURN_IF_ERROR(src.optString(n, "provider", p.provider));
  RETURN_IF_ERROR(src.optBool(n, "mfa", p.mfa));
  if (const YAML::Node g = n["groups"])
    RETURN_IF_ERROR(src.readStringList(g, p.groups));
  if (const YAML::Node m = n["method"]) {
    std::string text;
    RETURN_IF_ERROR(src.readString(m, text));
    const auto method = parseMethod(text);
    if (!method) {
      return src.error(m, "unknown method '" + text +
                              "' (jwt, introspection, client_certificate, session, none)");
    }
    p.method = *method;
  }
  if (const YAML::Node cl = n["claims"]) {
    RETURN_IF_ERROR(src.checkNamedMap(cl));
    std::vector<std::pair<std::string, std::vector<std::string>>> claims;
    for (const auto& kv : cl) {
      std::vector<std::string> values;
      if (kv.second.IsSequence()) {
        RETURN_IF_ERROR(src.readStringList(kv.second, values));
      } else {
        std::string v;
        RETURN_IF_ERROR(src.readString(kv.second, v));
        values.push_back(std::move(v));
      }
      claims.emplace_back(kv.first.Scalar(), std::move(values));
    }
    c.claims = ListClaims(std::move(claims));
    c.has_claims = true;
  }
  return okStatus();
}

Status readOperation(const YamlSource& src, const YAML::Node& n, TestCase& c) {
  RETURN_IF_ERROR(src.checkMap(n, {"upstream", "workflow", "step", "namespace", "execution",
                                   "actions", "started_by_caller", "input"}));
  RETURN_IF_ERROR(src.require(n, "actions"));
  Operation& op = c.operation;
  RETURN_IF_ERROR(src.optString(n, "upstream", op.upstream));
  RETURN_IF_ERROR(src.optString(n, "workflow", op.workflow));
  RETURN_IF_ERROR(src.optString(n, "step", op.step));
  RETURN_IF_ERROR(src.optString(n, "namespace", op.namespace_name));
  RETURN_IF_ERROR(src.optString(n, "execution", op.execution));
  const YAML::Node actions = n["actions"];
  if (!actions.IsSequence())
    return src.error(actions, "actions must be a list, e.g. [start]");
  for (const YAML::Node& a : actions) {
    std::string name;
    RETURN_IF_ERROR(src.readString(a, name));
    const auto action = parseAction(name);
    if (!action)
      return src.error(a, "unknown action '" + name + "'");
    op.actions.add(*action);
  }
  if (const YAML::Node s = n["started_by_caller"]) {
    RETURN_IF_ERROR(src.readBool(s, op.started_by_caller));
    op.started_by_caller_known = true;
  }
  if (const YAML::Node in = n["input"]) {
    RETURN_IF_ERROR(src.checkNamedMap(in));
    for (const auto& kv : in) {
      std::string v;
      RETURN_IF_ERROR(src.readString(kv.second, v));
      double number = 0;
      if (kv.second.Tag() == "?" && parseNumber(v, number)) {
        op.input.push_back(InputField::ofNumber(kv.first.Scalar(), number));
      } else {
        op.input.push_back(InputField::ofString(kv.first.Scalar(), v));
      }
    }
  }
  return okStatus();
}

Status readContext(const YamlSource& src, const YAML::Node& n, TestCase& c) {
  RETURN_IF_ERROR(src.checkMap(n, {"source_ip", "time"}));
  if (const YAML::Node ip = n["source_ip"]) {
    std::string text;
    RETURN_IF_ERROR(src.readString(ip, text));
    auto addr = parseSocketAddress(
        text.find(':') != std::string::npos ? "[" + text + "]:0" : text + ":0", true);
    if (!addr.isOk())
      return src.error(ip, "source_ip must be an IPv4 or IPv6 address");
    c.source = addr.value();
    c.has_source = true;
  }
  if (const YAML::Node t = n["time"]) {
    std::string text;
    RETURN_IF_ERROR(src.readString(t, text));
    const auto now = parseRfc3339(text);
    if (!now)
      return src.error(t, "time must be RFC 3339, e.g. 2026-11-23T09:30:00Z");
    c.now = *now;
  }
  return okStatus();
}

Status readExpect(const YamlSource& src, const YAML::Node& n, TestCase& c) {
  RETURN_IF_ERROR(src.checkMap(n, {"decision", "rules", "reason"}));
  RETURN_IF_ERROR(src.require(n, "decision"));
  std::string d;
  RETURN_IF_ERROR(src.readString(n["decision"], d));
  if (d != "allow" && d != "deny") {
    return src.error(n["decision"], "decision must be allow or deny, got '" + d + "'");
  }
  c.expect_effect = d == "allow" ? Effect::kAllow : Effect::kDeny;
  if (const YAML::Node r = n["rules"]) {
    std::vector<std::string> rules;
    if (!(r.IsSequence() && r.size() == 0))
      RETURN_IF_ERROR(src.readStringList(r, rules));
    c.expect_rules = std::move(rules);
  }
  if (const YAML::Node r = n["reason"]) {
    std::string text;
    RETURN_IF_ERROR(src.readString(r, text));
    c.expect_reason = parseReason(text);
    if (!c.expect_reason) {
      return src.error(r, "unknown reason '" + text +
                              "' (allowed, denied, no_matching_allow, unclassified, unresolved)");
    }
  }
  return okStatus();
}

std::string idsText(const CompiledPolicy& policy, const RuleRefs& refs) {
  std::string out = "[";
  for (unsigned i = 0; i < refs.count; ++i) {
    out += (i > 0 ? ", " : "") + std::string(policy.ruleId(refs.index[i]));
  }
  return out + "]";
}

std::string listText(const std::vector<std::string>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i > 0 ? ", " : "") + ids[i];
  return out + "]";
}

}  // namespace

bool ListClaims::has(std::string_view claim) const noexcept {
  for (const auto& [k, v] : claims_) {
    if (k == claim)
      return true;
  }
  return false;
}

bool ListClaims::equals(std::string_view claim, std::string_view value) const noexcept {
  for (const auto& [k, vs] : claims_) {
    if (k != claim)
      continue;
    for (const std::string& v : vs) {
      if (v == value)
        return true;
    }
  }
  return false;
}

Context TestCase::context() const {
  Context ctx;
  ctx.has_source = has_source;
  ctx.source = source;
  ctx.now = now;
  ctx.claims = has_claims ? &claims : nullptr;
  return ctx;
}

std::optional<SystemTime> parseRfc3339(std::string_view t) {
  auto num = [&](size_t pos, size_t len, int& out) {
    if (pos + len > t.size())
      return false;
    auto [p, ec] = std::from_chars(t.data() + pos, t.data() + pos + len, out);
    return ec == std::errc() && p == t.data() + pos + len;
  };
  int y, mo, d, h, mi, s;
  if (t.size() < 20 || !num(0, 4, y) || t[4] != '-' || !num(5, 2, mo) || t[7] != '-' ||
      !num(8, 2, d) || (t[10] != 'T' && t[10] != 't') || !num(11, 2, h) || t[13] != ':' ||
      !num(14, 2, mi) || t[16] != ':' || !num(17, 2, s)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  size_t i = 19;
  if (t[i] == '.') {
    ++i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9')
      ++i;
  }
  int64_t offset = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z') && i + 1 == t.size()) {
    offset = 0;
  } else if (i + 6 == t.size() && (t[i] == '+' || t[i] == '-') && t[i + 3] == ':') {
    int oh, om;
    if (!num(i + 1, 2, oh) || !num(i + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = (oh * 60 + om) * 60 * (t[i] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  const int64_t secs =
      daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
      mi * 60 + s - offset;
  return SystemTime(std::chrono::seconds(secs));
}

StatusOr<std::vector<TestCase>> parseTestCases(const std::string& file_name,
                                               const std::string& text) {
  const YamlSource src(file_name);
  std::vector<TestCase> cases;
  try {
    YAML::Node root;
    RETURN_IF_ERROR(src.parse(text, root));
    if (!root.IsSequence() || root.size() == 0) {
      return src.error(root, "a cases file is a non-empty list of cases");
    }
    for (const YAML::Node& n : root) {
      RETURN_IF_ERROR(src.checkMap(n, {"name", "principal", "operation", "context", "expect"}));
      for (const char* key : {"name", "principal", "operation", "expect"}) {
        RETURN_IF_ERROR(src.require(n, key));
      }
      TestCase c;
      c.position = src.position(n);
      RETURN_IF_ERROR(src.readString(n["name"], c.name));
      for (const TestCase& other : cases) {
        if (other.name == c.name) {
          return src.error(n["name"],
                           "case '" + c.name + "' is already defined at " + other.position);
        }
      }
      RETURN_IF_ERROR(readPrincipal(src, n["principal"], c));
      RETURN_IF_ERROR(readOperation(src, n["operation"], c));
      if (const YAML::Node ctx = n["context"])
        RETURN_IF_ERROR(readContext(src, ctx, c));
      RETURN_IF_ERROR(readExpect(src, n["expect"], c));
      cases.push_back(std::move(c));
    }
  } catch (const YAML::Exception& e) {
    return invalidArgument(file_name + ": " + e.what());
  }
  return cases;
}

Status parsePrincipalDocument(const std::string& file_name, const std::string& text,
                              TestCase& out) {
  const YamlSource src(file_name);
  try {
    YAML::Node root;
    RETURN_IF_ERROR(src.parse(text, root));
    return readPrincipal(src, root, out);
  } catch (const YAML::Exception& e) {
    return invalidArgument(file_name + ": " + e.what());
  }
}

TestReport runTestCases(const CompiledPolicy& policy, const std::vector<TestCase>& cases) {
  TestReport report;
  for (const TestCase& c : cases) {
    const Context ctx = c.context();
    const Decision d = policy.evaluate(c.principal, c.operation, ctx);
    std::vector<std::string> got_ids;
    for (unsigned i = 0; i < d.rules.count; ++i)
      got_ids.emplace_back(policy.ruleId(d.rules.index[i]));
    bool ok = d.effect == c.expect_effect;
    ok = ok && (!c.expect_rules || *c.expect_rules == got_ids);
    ok = ok && (!c.expect_reason || *c.expect_reason == d.reason);
    CaseResult r{c.name, ok, {}};
    if (!ok) {
      std::string want = effectName(c.expect_effect);
      if (c.expect_rules)
        want += " " + listText(*c.expect_rules);
      if (c.expect_reason)
        want += std::string(" (") + reasonName(*c.expect_reason) + ")";
      r.message = "expected " + want + ", got " + effectName(d.effect) + " " +
                  idsText(policy, d.rules) + " (" + reasonName(d.reason) + ")";
    }
    (ok ? report.passed : report.failed)++;
    report.results.push_back(std::move(r));
  }
  return report;
}

std::string renderTestReport(const TestReport& report) {
  std::string out;
  for (const CaseResult& r : report.results) {
    out += r.ok ? "ok  " + r.name + "\n" : "FAIL " + r.name + ": " + r.message + "\n";
  }
  out += std::to_string(report.passed) + " passed, " + std::to_string(report.failed) + " failed\n";
  return out;
}

}  // namespace stepgate::policy
