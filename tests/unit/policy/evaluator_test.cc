#include "policy/evaluator.h"

#include <gtest/gtest.h>

#include "policy/time_zone.h"
#include "policy_test_util.h"

namespace stepgate::policy {
namespace {

using testing::compileOrDie;
using testing::ids;
using testing::op;
using testing::user;

const char* const kSketch = R"(workflow: order-fulfillment
upstream: conductor
rules:
  - id: ops-run
    allow: [start, read, list]
    who: { groups: [ops] }
  - id: payments-retry-charge
    allow: [retry, skip-step]
    steps: [charge-card]
    who: { groups: [payments-oncall] }
    when: { mfa: true, source_ip: [10.0.0.0/8] }
  - id: definitions-locked
    deny: [define, undefine]
    unless: { groups: [workflow-admins] }
  - id: admins-define
    allow: [define, undefine, start]
    who: { groups: [workflow-admins, ops] }
)";

Context ctxFrom(const char* addr) {
  Context c;
  auto a = parseSocketAddress(std::string(addr) + ":1");
  EXPECT_TRUE(a.isOk());
  c.source = *a;
  c.has_source = true;
  return c;
}

TEST(EvaluatorTest, DefaultDeny) {
  auto p = compileOrDie(kSketch);
  const Decision d =
      p->evaluate(user("bob", {"sales"}), op("order-fulfillment", {Action::kRead}), Context{});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kNoMatchingAllow);
  EXPECT_EQ(d.rules.count, 0);
  EXPECT_EQ(d.denied_actions, ActionSet{Action::kRead});
  EXPECT_EQ(d.policy_version, p->version());
  // Another workflow, another upstream: nothing applies.
  EXPECT_FALSE(p->evaluate(user("a", {"ops"}), op("other", {Action::kRead}), {}).allowed());
  Operation o = op("order-fulfillment", {Action::kRead});
  o.upstream = "temporal";
  EXPECT_FALSE(p->evaluate(user("a", {"ops"}), o, {}).allowed());
}

TEST(EvaluatorTest, AllowNamesTheRule) {
  auto p = compileOrDie(kSketch);
  const Decision d = p->evaluate(user("a", {"ops"}), op("order-fulfillment", {Action::kStart}), {});
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kAllowed);
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"ops-run"});
  EXPECT_FALSE(d.shadow);
}

TEST(EvaluatorTest, DenyBeatsAllowAndUnlessExempts) {
  auto p = compileOrDie(kSketch);
  // ops may "define" per admins-define, but definitions-locked denies it.
  Decision d = p->evaluate(user("a", {"ops"}), op("order-fulfillment", {Action::kDefine}), {});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kDenied);
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"definitions-locked"});
  EXPECT_EQ(d.denied_actions, ActionSet{Action::kDefine});
  d = p->evaluate(user("w", {"workflow-admins"}), op("order-fulfillment", {Action::kDefine}), {});
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"admins-define"});
}

TEST(EvaluatorTest, MultiActionNeedsEveryAction) {
  auto p = compileOrDie(kSketch);
  const ActionSet start_define{Action::kStart, Action::kDefine};
  Decision d = p->evaluate(user("a", {"ops"}), op("order-fulfillment", start_define), {});
  EXPECT_EQ(d.reason, Reason::kDenied);  // define is denied for ops
  d = p->evaluate(user("w", {"workflow-admins"}), op("order-fulfillment", start_define), {});
  EXPECT_TRUE(d.allowed());
  d = p->evaluate(user("w", {"workflow-admins"}),
                  op("order-fulfillment", {Action::kStart, Action::kRead}), {});
  EXPECT_EQ(d.reason, Reason::kNoMatchingAllow);
  EXPECT_EQ(d.denied_actions, ActionSet{Action::kRead});
  d = p->evaluate(user("w", {"workflow-admins", "ops"}),
                  op("order-fulfillment", {Action::kStart, Action::kDefine, Action::kRead}), {});
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(ids(*p, d.rules), (std::vector<std::string>{"ops-run", "admins-define"}));
}

TEST(EvaluatorTest, UnclassifiedAndUnresolved) {
  auto p = compileOrDie(kSketch);
  Decision d = p->evaluate(user("a", {"ops"}), op("order-fulfillment", {}), {});
  EXPECT_EQ(d.reason, Reason::kUnclassified);
  EXPECT_FALSE(d.allowed());
  Operation o = op("", {Action::kRead});
  o.execution = "abc";
  d = p->evaluate(user("a", {"ops"}), o, {});
  EXPECT_EQ(d.reason, Reason::kUnresolved);
  EXPECT_STREQ(reasonName(d.reason), "unresolved");
}

TEST(EvaluatorTest, StepsAndConditions) {
  auto p = compileOrDie(kSketch);
  const auto oncall = [] {
    auto u = user("o", {"payments-oncall"});
    u.mfa = true;
    return u;
  }();
  const Context inside = ctxFrom("10.1.2.3");
  EXPECT_TRUE(p->evaluate(oncall, op("order-fulfillment", {Action::kRetry}, "charge-card"), inside)
                  .allowed());
  // Wrong step, no step, no MFA, outside address, unknown address.
  EXPECT_FALSE(
      p->evaluate(oncall, op("order-fulfillment", {Action::kRetry}, "ship"), inside).allowed());
  EXPECT_FALSE(p->evaluate(oncall, op("order-fulfillment", {Action::kRetry}), inside).allowed());
  auto no_mfa = oncall;
  no_mfa.mfa = false;
  EXPECT_FALSE(p->evaluate(no_mfa, op("order-fulfillment", {Action::kRetry}, "charge-card"), inside)
                   .allowed());
  EXPECT_FALSE(p->evaluate(oncall, op("order-fulfillment", {Action::kRetry}, "charge-card"),
                           ctxFrom("192.168.0.1"))
                   .allowed());
  EXPECT_FALSE(
      p->evaluate(oncall, op("order-fulfillment", {Action::kRetry}, "charge-card"), {}).allowed());
}

TEST(EvaluatorTest, Globs) {
  auto p = compileOrDie(R"(workflow: ["payments-*", "refund-?"]
rules:
  - id: r
    allow: [retry]
    steps: ["ship-*"]
    who: { subjects: [alice] }
)");
  const auto alice = user("alice");
  EXPECT_TRUE(p->evaluate(alice, op("payments-eu", {Action::kRetry}, "ship-dhl"), {}).allowed());
  EXPECT_TRUE(p->evaluate(alice, op("refund-1", {Action::kRetry}, "ship-"), {}).allowed());
  EXPECT_FALSE(p->evaluate(alice, op("refund-12", {Action::kRetry}, "ship-x"), {}).allowed());
  EXPECT_FALSE(p->evaluate(alice, op("payment", {Action::kRetry}, "ship-x"), {}).allowed());
  EXPECT_FALSE(p->evaluate(alice, op("payments-eu", {Action::kRetry}, "charge"), {}).allowed());
  EXPECT_FALSE(
      p->evaluate(user("bob"), op("payments-eu", {Action::kRetry}, "ship-x"), {}).allowed());
}

const char* const kTemporal = R"(workflow: "*"
upstream: temporal
rules:
  - id: dev-run
    allow: [start, read, signal]
    namespaces: [dev, "team-*"]
    who: { groups: [devs] }
  - id: sre-read
    allow: [read, list]
    who: { groups: [sre] }
  - id: prod-contractors
    deny: [read, signal]
    namespaces: [prod]
    who: { claims: [{ claim: contractor, exists: true }] }
  - id: frozen
    deny: [start]
    namespaces: ["*-frozen"]
)";

testing::MapClaims oneClaim(std::string name, std::string value) {
  return testing::MapClaims(
      std::vector<std::pair<std::string, std::vector<std::string>>>{{name, {value}}});
}

Operation nsOp(std::string ns, ActionSet actions, std::string workflow = "payments") {
  Operation o = op(std::move(workflow), actions);
  o.upstream = "temporal";
  o.namespace_name = std::move(ns);
  return o;
}

TEST(EvaluatorTest, NamespacesLimitAllows) {
  auto p = compileOrDie(kTemporal);
  const auto dev = user("d", {"devs"});
  Decision d = p->evaluate(dev, nsOp("dev", {Action::kStart}), {});
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"dev-run"});
  EXPECT_TRUE(p->evaluate(dev, nsOp("team-a", {Action::kSignal}), {}).allowed());  // glob
  EXPECT_TRUE(p->evaluate(dev, nsOp("team-", {Action::kRead}), {}).allowed());     // * = none
  d = p->evaluate(dev, nsOp("prod", {Action::kStart}), {});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kNoMatchingAllow);
  EXPECT_FALSE(p->evaluate(dev, nsOp("devx", {Action::kStart}), {}).allowed());
  EXPECT_FALSE(p->evaluate(dev, nsOp("Dev", {Action::kStart}), {}).allowed());  // exact case
  // Known claims, so that prod-contractors (a claim condition) does not fail closed.
  const testing::MapClaims employee = oneClaim("employee", "true");
  Context ctx;
  ctx.claims = &employee;
  // A call without a namespace is never granted by an allow that names namespaces.
  d = p->evaluate(dev, nsOp("", {Action::kRead}), ctx);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kNoMatchingAllow);
  // A rule without namespaces applies in every namespace and without one.
  const auto sre = user("s", {"sre"});
  EXPECT_TRUE(p->evaluate(sre, nsOp("prod", {Action::kRead}), ctx).allowed());
  EXPECT_TRUE(p->evaluate(sre, nsOp("", {Action::kList}, ""), ctx).allowed());
  EXPECT_TRUE(p->evaluate(sre, nsOp("", {Action::kRead}, ""), ctx).allowed());
}

TEST(EvaluatorTest, DenyInANamespaceBeatsAllow) {
  auto p = compileOrDie(kTemporal);
  const testing::MapClaims contractor = oneClaim("contractor", "true");
  Context ctx;
  ctx.claims = &contractor;
  const auto sre = user("c", {"sre", "devs"});
  Decision d = p->evaluate(sre, nsOp("prod", {Action::kRead}), ctx);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kDenied);
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"prod-contractors"});
  // Elsewhere the deny does not apply.
  EXPECT_TRUE(p->evaluate(sre, nsOp("staging", {Action::kRead}), ctx).allowed());
  EXPECT_TRUE(p->evaluate(sre, nsOp("team-a", {Action::kSignal}), ctx).allowed());
  // No claims known: the claim condition is unknown, so the deny still applies; a known
  // non-contractor is let through.
  EXPECT_FALSE(p->evaluate(sre, nsOp("prod", {Action::kRead}), {}).allowed());
  const testing::MapClaims employee = oneClaim("employee", "true");
  Context ectx;
  ectx.claims = &employee;
  EXPECT_TRUE(p->evaluate(sre, nsOp("prod", {Action::kRead}), ectx).allowed());
  // Glob deny.
  d = p->evaluate(user("d", {"devs"}), nsOp("team-frozen", {Action::kStart}), {});
  EXPECT_EQ(d.reason, Reason::kDenied);
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"frozen"});
}

TEST(EvaluatorTest, DenyNamingNamespacesAppliesToCallsWithoutOne) {
  // A call without a namespace may span namespaces (a list across them) or come from a profile
  // that could not tell: a deny naming namespaces fails closed, like any unknown condition.
  auto p = compileOrDie(kTemporal);
  const testing::MapClaims contractor = oneClaim("contractor", "true");
  Context ctx;
  ctx.claims = &contractor;
  const auto sre = user("c", {"sre"});
  Decision d = p->evaluate(sre, nsOp("", {Action::kRead}, ""), ctx);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kDenied);
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"prod-contractors"});
  // The same call by a non-contractor is granted by sre-read (which names no namespaces).
  const testing::MapClaims employee = oneClaim("employee", "true");
  Context ectx;
  ectx.claims = &employee;
  EXPECT_TRUE(p->evaluate(sre, nsOp("", {Action::kList}, ""), ectx).allowed());
  EXPECT_TRUE(p->evaluate(sre, nsOp("", {Action::kRead}, ""), ectx).allowed());
  // Orchestrators without namespaces: same rule, same result.
  Operation o = op("payments", {Action::kRead});
  o.upstream = "temporal";
  EXPECT_EQ(p->evaluate(sre, o, ctx).reason, Reason::kDenied);
}

// The Temporal example of docs/policy.md ("Namespaces").
TEST(EvaluatorTest, DocsTemporalNamespacesExample) {
  auto p = compileOrDie(R"(workflow: "*"
upstream: temporal
rules:
  - id: devs-own-namespaces
    allow: [start, read, list, signal, stop, retry]
    namespaces: [dev, "team-payments-*"]
    who: { groups: [payments-devs] }
  - id: oncall-prod
    allow: [read, list, signal, retry]
    namespaces: [prod]
    who: { groups: [payments-oncall] }
    when: { mfa: true }
  - id: sdk-connect
    allow: [read]
    who: { groups: [payments-devs, payments-oncall] }
  - id: contractors-not-in-prod
    deny: [read, list, signal, stop, retry, start]
    namespaces: ["prod*"]
    who: { claims: [{ claim: contractor, equals: "true" }] }
)");
  ASSERT_TRUE(p);
  const testing::MapClaims employee = oneClaim("contractor", "false");
  const testing::MapClaims contractor = oneClaim("contractor", "true");
  Context ectx, cctx;
  ectx.claims = &employee;
  cctx.claims = &contractor;
  auto dev = user("d", {"payments-devs"});
  auto oncall = user("o", {"payments-oncall"});
  oncall.mfa = true;
  EXPECT_TRUE(p->evaluate(dev, nsOp("team-payments-eu", {Action::kStop}), ectx).allowed());
  EXPECT_FALSE(p->evaluate(dev, nsOp("prod", {Action::kSignal}), ectx).allowed());
  EXPECT_TRUE(p->evaluate(oncall, nsOp("prod", {Action::kSignal}), ectx).allowed());
  EXPECT_FALSE(p->evaluate(oncall, nsOp("dev", {Action::kSignal}), ectx).allowed());
  // GetSystemInfo: read, no workflow, no namespace.
  EXPECT_TRUE(p->evaluate(dev, nsOp("", {Action::kRead}, ""), ectx).allowed());
  EXPECT_FALSE(p->evaluate(dev, nsOp("", {Action::kList}, ""), ectx).allowed());
  EXPECT_EQ(p->evaluate(oncall, nsOp("prod-eu", {Action::kRead}), cctx).reason, Reason::kDenied);
  EXPECT_EQ(p->evaluate(oncall, nsOp("", {Action::kRead}, ""), cctx).reason, Reason::kDenied);
  EXPECT_TRUE(p->evaluate(dev, nsOp("dev", {Action::kRead}), cctx).allowed());
}

TEST(EvaluatorTest, SourceIpV4AndV6) {
  auto p = compileOrDie(R"(workflow: w
rules:
  - id: r
    allow: [read]
    when: { source_ip: [10.0.0.0/8, "2001:db8::/32"] }
)");
  const auto u = user("u");
  EXPECT_TRUE(p->evaluate(u, op("w", {Action::kRead}), ctxFrom("10.255.0.1")).allowed());
  EXPECT_TRUE(p->evaluate(u, op("w", {Action::kRead}), ctxFrom("[2001:db8:1::5]")).allowed());
  EXPECT_TRUE(p->evaluate(u, op("w", {Action::kRead}), ctxFrom("[::ffff:10.0.0.1]")).allowed());
  EXPECT_FALSE(p->evaluate(u, op("w", {Action::kRead}), ctxFrom("11.0.0.1")).allowed());
  EXPECT_FALSE(p->evaluate(u, op("w", {Action::kRead}), ctxFrom("[2001:db9::1]")).allowed());
}

SystemTime utc(int y, unsigned mo, unsigned d, int h, int mi) {
  const int64_t days = daysFromCivil(y, mo, d);
  return SystemTime(std::chrono::seconds(days * 86400 + h * 3600 + mi * 60));
}

TEST(EvaluatorTest, TimeWindowAcrossDst) {
  auto p = compileOrDie(R"(workflow: w
rules:
  - id: office
    allow: [read]
    when: { time: "Mon-Fri 08:00-18:00 Europe/Berlin" }
)");
  const auto u = user("u");
  auto at = [&](SystemTime t) {
    Context c;
    c.now = t;
    return p->evaluate(u, op("w", {Action::kRead}), c).allowed();
  };
  // Winter (CET = UTC+1): Friday 2026-03-27 07:30 UTC is 08:30 local.
  EXPECT_TRUE(at(utc(2026, 3, 27, 7, 30)));
  EXPECT_FALSE(at(utc(2026, 3, 27, 6, 59)));  // 07:59 local
  // DST starts Sunday 2026-03-29; Monday 2026-03-30 (CEST = UTC+2): 06:30 UTC is 08:30 local.
  EXPECT_TRUE(at(utc(2026, 3, 30, 6, 30)));
  EXPECT_FALSE(at(utc(2026, 3, 30, 16, 0)));  // 18:00 local: end is exclusive
  EXPECT_TRUE(at(utc(2026, 3, 30, 15, 59)));
  // Saturday.
  EXPECT_FALSE(at(utc(2026, 3, 28, 10, 0)));
  // Far future (past the file's table; from the POSIX footer): Mon 2100-07-05 06:30 UTC, CEST.
  EXPECT_TRUE(at(utc(2100, 7, 5, 6, 30)));
  EXPECT_FALSE(at(utc(2100, 7, 5, 5, 59)));
}

TEST(EvaluatorTest, TimeWindowAcrossMidnight) {
  auto p = compileOrDie(R"(workflow: w
rules:
  - id: night
    allow: [work]
    when: { time: "Fri 22:00-06:00 UTC" }
)");
  const auto u = user("u");
  auto at = [&](SystemTime t) {
    Context c;
    c.now = t;
    return p->evaluate(u, op("w", {Action::kWork}), c).allowed();
  };
  // 2026-11-20 is a Friday.
  EXPECT_TRUE(at(utc(2026, 11, 20, 23, 0)));
  EXPECT_TRUE(at(utc(2026, 11, 21, 5, 59)));  // Saturday morning, still Friday's window
  EXPECT_FALSE(at(utc(2026, 11, 21, 6, 0)));
  EXPECT_FALSE(at(utc(2026, 11, 21, 23, 0)));  // Saturday night
  EXPECT_FALSE(at(utc(2026, 11, 20, 5, 0)));   // Friday morning: Thursday is not listed
}

TEST(EvaluatorTest, StartedByCallerUnknownNeverAllows) {
  auto p = compileOrDie(R"(workflow: w
rules:
  - id: own-runs
    allow: [stop]
    when: { started_by_caller: true }
)");
  const auto u = user("u");
  Operation o = op("w", {Action::kStop});
  EXPECT_FALSE(p->evaluate(u, o, {}).allowed());
  o.started_by_caller_known = true;
  EXPECT_FALSE(p->evaluate(u, o, {}).allowed());
  o.started_by_caller = true;
  EXPECT_TRUE(p->evaluate(u, o, {}).allowed());
}

TEST(EvaluatorTest, InputComparisons) {
  auto p = compileOrDie(R"(workflow: w
rules:
  - id: small-payments
    allow: [start]
    when:
      input: [{path: /amount, op: "<=", value: 1000}, {path: /currency, op: "=", value: EUR}]
  - id: no-huge
    deny: [start]
    when: { input: [{path: /amount, op: ">", value: 1000000}] }
)");
  const auto u = user("u");
  auto start = [&](std::vector<InputField> in) {
    Operation o = op("w", {Action::kStart});
    o.input = std::move(in);
    return p->evaluate(u, o, {});
  };
  EXPECT_TRUE(
      start({InputField::ofNumber("/amount", 1000), InputField::ofString("/currency", "EUR")})
          .allowed());
  EXPECT_FALSE(
      start({InputField::ofNumber("/amount", 1000.5), InputField::ofString("/currency", "EUR")})
          .allowed());
  // Type mismatch: not matched (and, for the deny, fail closed).
  Decision d =
      start({InputField::ofString("/amount", "5"), InputField::ofString("/currency", "EUR")});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::kDenied);
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"no-huge"});
  // Missing field: the allow cannot match; the deny applies (fail closed).
  d = start({InputField::ofString("/currency", "EUR")});
  EXPECT_EQ(d.reason, Reason::kDenied);
}

TEST(EvaluatorTest, WhoFieldsAndClaims) {
  auto p = compileOrDie(R"(workflow: w
rules:
  - id: r
    allow: [read]
    who:
      providers: [corp]
      methods: [jwt]
      claims:
        - {claim: tenant, equals: acme}
        - {claim: dept, in: [a, b]}
        - {claim: contractor, exists: false}
)");
  const auto u = user("u");
  testing::MapClaims good({{"tenant", {"acme"}}, {"dept", {"x", "b"}}});
  testing::MapClaims contractor({{"tenant", {"acme"}}, {"dept", {"a"}}, {"contractor", {"true"}}});
  testing::MapClaims other({{"tenant", {"evil"}}, {"dept", {"a"}}});
  Context c;
  c.claims = &good;
  EXPECT_TRUE(p->evaluate(u, op("w", {Action::kRead}), c).allowed());
  c.claims = &contractor;
  EXPECT_FALSE(p->evaluate(u, op("w", {Action::kRead}), c).allowed());
  c.claims = &other;
  EXPECT_FALSE(p->evaluate(u, op("w", {Action::kRead}), c).allowed());
  c.claims = nullptr;
  EXPECT_FALSE(p->evaluate(u, op("w", {Action::kRead}), c).allowed());
  c.claims = &good;
  auto cert = u;
  cert.method = identity::AuthMethod::kClientCertificate;
  EXPECT_FALSE(p->evaluate(cert, op("w", {Action::kRead}), c).allowed());
  auto other_provider = u;
  other_provider.provider = "partner";
  EXPECT_FALSE(p->evaluate(other_provider, op("w", {Action::kRead}), c).allowed());
}

TEST(EvaluatorTest, AnonymousOnlyWhenNamed) {
  auto p = compileOrDie(R"(workflow: w
rules:
  - id: anyone
    allow: [read]
  - id: public-list
    allow: [list]
    who: { methods: [none, jwt] }
)");
  identity::Principal anon;
  EXPECT_FALSE(p->evaluate(anon, op("w", {Action::kRead}), {}).allowed());
  EXPECT_TRUE(p->evaluate(anon, op("w", {Action::kList}), {}).allowed());
  EXPECT_TRUE(p->evaluate(user("u"), op("w", {Action::kRead}), {}).allowed());
}

TEST(EvaluatorTest, ShadowModeReportsButNeverEnforces) {
  auto p = compileOrDie({{"a-enforced.yaml", R"(workflow: w
rules:
  - id: ops-stop
    allow: [stop]
    who: { groups: [ops] }
)"},
                         {"b-shadow.yaml", R"(workflow: w
mode: shadow
rules:
  - id: no-friday-stops
    deny: [stop]
    when: { time: "Fri 00:00-24:00 UTC" }
  - id: sre-stop
    allow: [stop]
    who: { groups: [sre] }
)"}});
  Context friday;
  friday.now = utc(2026, 11, 20, 12, 0);
  Decision d = p->evaluate(user("o", {"ops"}), op("w", {Action::kStop}), friday);
  EXPECT_TRUE(d.allowed());  // the shadow deny never enforces
  EXPECT_EQ(ids(*p, d.rules), std::vector<std::string>{"ops-stop"});
  EXPECT_TRUE(d.shadow);
  EXPECT_EQ(d.shadow_effect, Effect::kDeny);
  EXPECT_EQ(d.shadow_reason, Reason::kDenied);
  EXPECT_EQ(ids(*p, d.shadow_rules), std::vector<std::string>{"no-friday-stops"});
  // Thursday: the shadow allow would let sre stop; enforced, sre may not.
  Context thursday;
  thursday.now = utc(2026, 11, 19, 12, 0);
  d = p->evaluate(user("s", {"sre"}), op("w", {Action::kStop}), thursday);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.shadow_effect, Effect::kAllow);
  EXPECT_EQ(ids(*p, d.shadow_rules), std::vector<std::string>{"sre-stop"});
  // No shadow rule for read: no shadow report.
  d = p->evaluate(user("s", {"sre"}), op("w", {Action::kRead}), thursday);
  EXPECT_FALSE(d.shadow);
}

TEST(EvaluatorTest, AnyUpstreamAndSpecificUpstreamCombine) {
  auto p = compileOrDie(
      {{"a.yaml", "workflow: w\nrules:\n  - id: a\n    allow: [read]\n"},
       {"b.yaml", "workflow: w\nupstream: argo\nrules:\n  - id: b\n    deny: [read]\n"}});
  Operation o = op("w", {Action::kRead});
  EXPECT_TRUE(p->evaluate(user("u"), o, {}).allowed());
  o.upstream = "argo";
  EXPECT_EQ(p->evaluate(user("u"), o, {}).reason, Reason::kDenied);
}

TEST(RuleRefsTest, KeepsLowestSortedUnique) {
  RuleRefs r;
  for (uint32_t i : {9u, 3u, 3u, 12u, 1u, 7u, 8u, 2u, 5u, 4u, 0u}) {
    r.add(i);
  }
  EXPECT_EQ(r.count, RuleRefs::kMaxRuleRefs);
  EXPECT_TRUE(r.truncated);
  for (unsigned i = 1; i < r.count; ++i) {
    EXPECT_LT(r.index[i - 1], r.index[i]);
  }
  EXPECT_EQ(r.index[0], 0u);
  EXPECT_EQ(r.index[7], 8u);
}

TEST(ActionTest, NamesRoundTrip) {
  for (unsigned i = 0; i < kActionCount; ++i) {
    const auto a = static_cast<Action>(i);
    EXPECT_EQ(parseAction(actionName(a)), a);
  }
  EXPECT_STREQ(actionName(Action::kCompleteStep), "complete-step");
  EXPECT_FALSE(parseAction("Read"));
  EXPECT_EQ((ActionSet{Action::kStart, Action::kDefine}).toString(), "start,define");
}

}  // namespace
}  // namespace stepgate::policy
