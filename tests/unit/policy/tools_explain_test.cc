#include "policy/explain.h"

#include <gtest/gtest.h>

#include <random>

#include "policy/compiler.h"
#include "policy/loader.h"
#include "policy/test_runner.h"
#include "policy_test_util.h"
#include "tools_golden.h"

namespace stepgate::policy {
namespace {

using testing::expectGolden;
using testing::fixturePath;

CompiledPolicyConstSharedPtr fixturePolicy() {
  auto set = loadPolicyDirectory(fixturePath("order-fulfillment"));
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return compile(std::move(set).value());
}

TEST(ToolsExplain, GoldenContractorSkip) {
  auto policy = fixturePolicy();
  identity::Principal p = testing::user("carl", {"payments-oncall"});
  p.mfa = true;
  const ListClaims claims(ListClaims::Entries{{"contractor", {"true"}}});
  Context ctx;
  ctx.claims = &claims;
  Operation op = testing::op("order-fulfillment", {Action::kSkipStep}, "charge-card");
  const Explanation e = explain(*policy, p, op, ctx);
  EXPECT_TRUE(e.agrees);
  EXPECT_EQ(Reason::kDenied, e.decision.reason);
  expectGolden("explain.expected", renderExplanation(*policy, op, e));
}

TEST(ToolsExplain, UnknownDataIsNamed) {
  auto policy = fixturePolicy();
  const identity::Principal p = testing::user("pat", {"payments-oncall"});
  const Operation op = testing::op("order-fulfillment", {Action::kRetry}, "charge-card");
  const Explanation e = explain(*policy, p, op, Context{});
  EXPECT_FALSE(e.decision.allowed());
  const std::string text = renderExplanation(*policy, op, e);
  EXPECT_NE(std::string::npos, text.find("when.mfa: no")) << text;
  EXPECT_NE(std::string::npos, text.find("when.source_ip [10.0.0.0/8]: unknown")) << text;
}

TEST(ToolsExplain, UnclassifiedHasNoRules) {
  auto policy = fixturePolicy();
  const Explanation e =
      explain(*policy, testing::user("x"), testing::op("order-fulfillment", {}), Context{});
  EXPECT_TRUE(e.agrees);
  EXPECT_TRUE(e.rules.empty());
  EXPECT_EQ(Reason::kUnclassified, e.decision.reason);
}

TEST(ToolsExplain, GoldenNamespaces) {
  auto policy = testing::compileOrDie(
      {{"temporal.yaml",
        "workflow: \"*\"\n"
        "upstream: temporal\n"
        "rules:\n"
        "  - id: dev-signal\n"
        "    allow: [signal, read]\n"
        "    namespaces: [dev, \"team-*\"]\n"
        "    who: { groups: [devs] }\n"
        "  - id: sre-read\n"
        "    allow: [read, list]\n"
        "    who: { groups: [sre] }\n"
        "  - id: prod-contractors\n"
        "    deny: [read, signal]\n"
        "    namespaces: [prod]\n"
        "    who: { groups: [contractors] }\n"}});
  ASSERT_TRUE(policy);
  const identity::Principal p = testing::user("carl", {"devs", "sre", "contractors"});
  std::string text;
  for (const char* ns : {"team-a", "prod", ""}) {
    Operation op = testing::op("payments", {Action::kRead}, "");
    op.upstream = "temporal";
    op.namespace_name = ns;
    const Explanation e = explain(*policy, p, op, Context{});
    EXPECT_TRUE(e.agrees) << ns;
    text += renderExplanation(*policy, op, e) + "\n";
  }
  EXPECT_NE(std::string::npos, text.find("namespaces [prod]: unknown")) << text;
  EXPECT_NE(std::string::npos, text.find("names namespaces; the call has none")) << text;
  expectGolden("explain-namespaces.expected", text);
}

// Property: explain's rule verdicts lead to evaluate's decision, over random cases.
TEST(ToolsExplain, AgreesWithEvaluate) {
  auto fixture = fixturePolicy();
  auto extra = testing::compileOrDie(
      {{"a.yaml",
        "workflow: [\"order-*\", billing]\n"
        "rules:\n"
        "  - id: a1\n"
        "    allow: [start, read, retry]\n"
        "    who: { groups: [g1, g2], claims: [{ claim: tier, in: [gold, silver] }] }\n"
        "    when: { source_ip: [10.0.0.0/8, \"2001:db8::/32\"] }\n"
        "  - id: a2\n"
        "    allow: [read, list, stop]\n"
        "    steps: [\"s*\"]\n"
        "    who: { methods: [none, jwt] }\n"
        "  - id: a3\n"
        "    allow: [stop, retry]\n"
        "    when: { started_by_caller: true, input: [{ path: /n, op: \">\", value: 5 }] }\n"
        "  - id: d1\n"
        "    deny: [retry]\n"
        "    who: { claims: [{ claim: banned, exists: true }] }\n"
        "    unless: { groups: [g2] }\n"
        "  - id: d2\n"
        "    deny: [stop]\n"
        "    when: { mfa: true, time: \"Mon-Fri 08:00-18:00 Europe/Berlin\" }\n"
        "  - id: a4\n"
        "    allow: [read, list, signal, retry]\n"
        "    namespaces: [dev, \"team-*\"]\n"
        "    who: { groups: [g1] }\n"
        "  - id: d3\n"
        "    deny: [signal, list]\n"
        "    namespaces: [prod]\n"
        "    who: { groups: [g2] }\n"
        "    unless: { claims: [{ claim: tier, equals: gold }] }\n"},
       {"b.yaml",
        "workflow: \"*\"\n"
        "mode: shadow\n"
        "rules:\n"
        "  - id: s1\n"
        "    deny: [read]\n"
        "    who: { groups: [g1] }\n"}});
  ASSERT_TRUE(extra);
  std::mt19937 rng(4242);
  auto pick = [&](auto const& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> groups = {
      "ops", "payments", "payments-oncall", "workflow-admins", "support", "g1", "g2"};
  const std::vector<std::string> workflows = {"order-fulfillment", "order-x", "billing", ""};
  const std::vector<std::string> steps = {"", "charge-card", "refund", "ship-parcel", "s1"};
  const std::vector<std::string> namespaces = {"", "", "dev", "prod", "team-a", "other"};
  const ListClaims claims_a(
      ListClaims::Entries{{"tier", {"gold"}}, {"contractor", {"true"}}, {"banned", {"1"}}});
  const ListClaims claims_b(ListClaims::Entries{{"tier", {"bronze"}}});
  for (int n = 0; n < 3000; ++n) {
    identity::Principal p = testing::user("u" + std::to_string(rng() % 3));
    for (const std::string& g : groups) {
      if (rng() % 3 == 0)
        p.groups.push_back(g);
    }
    p.method = rng() % 6 == 0 ? identity::AuthMethod::kNone : identity::AuthMethod::kJwt;
    p.mfa = rng() % 2 == 0;
    Operation op = testing::op(pick(workflows), {}, pick(steps));
    op.namespace_name = pick(namespaces);
    for (unsigned a = 0; a < kActionCount; ++a) {
      if (rng() % 6 == 0)
        op.actions.add(static_cast<Action>(a));
    }
    if (rng() % 10 == 0)
      op.upstream = "";
    if (rng() % 2 == 0) {
      op.started_by_caller_known = true;
      op.started_by_caller = rng() % 2 == 0;
    }
    if (rng() % 2 == 0)
      op.input.push_back(InputField::ofNumber("/n", rng() % 10));
    if (rng() % 3 == 0)
      op.input.push_back(InputField::ofNumber("/amount", rng() % 3000));
    Context ctx;
    const unsigned c = rng() % 3;
    ctx.claims = c == 0 ? nullptr : c == 1 ? &claims_a : &claims_b;
    if (rng() % 2 == 0) {
      ctx.has_source = true;
      ctx.source = parseSocketAddress(rng() % 2 == 0 ? "10.1.2.3:1" : "192.0.2.1:1").value();
    }
    ctx.now = SystemTime(std::chrono::seconds(1795422600 + (rng() % (7 * 86400))));
    for (const auto& policy : {fixture, extra}) {
      const Explanation e = explain(*policy, p, op, ctx);
      ASSERT_TRUE(e.agrees) << n << "\n" << renderExplanation(*policy, op, e);
      if (e.decision.reason == Reason::kDenied && !e.decision.rules.truncated) {
        RuleRefs matched;
        for (const RuleExplanation& r : e.rules) {
          if (r.matched && !policy->ruleIsShadow(r.index) &&
              policy->rule(r.index).effect == Effect::kDeny) {
            matched.add(r.index);
          }
        }
        ASSERT_EQ(testing::ids(*policy, e.decision.rules), testing::ids(*policy, matched)) << n;
      }
      if (e.decision.allowed()) {
        for (unsigned i = 0; i < e.decision.rules.count; ++i) {
          bool found = false;
          for (const RuleExplanation& r : e.rules) {
            found = found || (r.index == e.decision.rules.index[i] && r.matched);
          }
          ASSERT_TRUE(found) << n;
        }
      }
    }
  }
}

}  // namespace
}  // namespace stepgate::policy
