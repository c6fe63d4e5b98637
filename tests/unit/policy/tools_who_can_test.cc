#include "policy/who_can.h"

#include <gtest/gtest.h>

#include <optional>

#include "policy/loader.h"
#include "tools_golden.h"

namespace stepgate::policy {
namespace {

using testing::expectGolden;
using testing::fixturePath;

PolicySet fixtureSet() {
  auto set = loadPolicyDirectory(fixturePath("order-fulfillment"));
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return std::move(set).value();
}

std::vector<std::string> ids(const std::vector<WhoCanEntry>& entries) {
  std::vector<std::string> out;
  for (const WhoCanEntry& e : entries)
    out.push_back(e.rule->id);
  return out;
}

TEST(ToolsWhoCan, GoldenSkipChargeCard) {
  const PolicySet set = fixtureSet();
  const WhoCanReport r =
      whoCan(set, {"order-fulfillment", Action::kSkipStep, "charge-card", "conductor"});
  EXPECT_EQ(std::vector<std::string>{"payments-retry-charge"}, ids(r.allows));
  EXPECT_EQ(std::vector<std::string>{"contractors-never-skip"}, ids(r.denies));
  expectGolden("who-can.expected", renderWhoCan(r));
}

TEST(ToolsWhoCan, GoldenDefineAndDeadAllow) {
  const PolicySet set = fixtureSet();
  std::string text = renderWhoCan(whoCan(set, {"order-fulfillment", Action::kDefine, {}, {}}));
  text += "\n" + renderWhoCan(whoCan(set, {"order-fulfillment", Action::kPause, {}, {}}));
  expectGolden("who-can-define-pause.expected", text);
}

TEST(ToolsWhoCan, StepFilterAndUpstream) {
  const PolicySet set = fixtureSet();
  EXPECT_TRUE(whoCan(set, {"order-fulfillment", Action::kSkipStep, "refund", {}}).allows.empty());
  EXPECT_TRUE(whoCan(set, {"order-fulfillment", Action::kStart, {}, "temporal"}).allows.empty());
  EXPECT_EQ(std::vector<std::string>{"ops-run"},
            ids(whoCan(set, {"order-fulfillment", Action::kStart, {}, {}}).allows));
  const WhoCanReport none = whoCan(set, {"billing", Action::kStart, {}, {}});
  EXPECT_NE(std::string::npos, renderWhoCan(none).find("Nobody"));
}

TEST(ToolsWhoCan, NamespaceFilter) {
  auto set = loadPolicySources({{"temporal.yaml",
                                 "workflow: \"*\"\n"
                                 "upstream: temporal\n"
                                 "rules:\n"
                                 "  - id: dev-signal\n"
                                 "    allow: [signal]\n"
                                 "    namespaces: [dev, \"team-*\"]\n"
                                 "    who: { groups: [devs] }\n"
                                 "  - id: sre-signal\n"
                                 "    allow: [signal]\n"
                                 "    who: { groups: [sre] }\n"
                                 "  - id: prod-frozen\n"
                                 "    deny: [signal]\n"
                                 "    namespaces: [prod]\n"
                                 "  - id: team-frozen\n"
                                 "    deny: [signal]\n"
                                 "    namespaces: [\"team-*\"]\n"}});
  ASSERT_TRUE(set.isOk()) << set.status().message();
  auto query = [&](std::optional<std::string> ns) {
    return whoCan(*set, {"payments", Action::kSignal, {}, "temporal", std::move(ns)});
  };
  // Any namespace: every rule, with its namespaces; team-frozen covers none of the allows
  // entirely (dev-signal also grants in dev).
  WhoCanReport any = query(std::nullopt);
  EXPECT_EQ((std::vector<std::string>{"dev-signal", "sre-signal"}), ids(any.allows));
  EXPECT_EQ((std::vector<std::string>{"prod-frozen", "team-frozen"}), ids(any.denies));
  EXPECT_TRUE(any.allows[0].overridden_by.empty());
  // In dev: no deny applies.
  WhoCanReport dev = query("dev");
  EXPECT_EQ((std::vector<std::string>{"dev-signal", "sre-signal"}), ids(dev.allows));
  EXPECT_TRUE(dev.denies.empty());
  // In prod: only sre-signal grants, and prod-frozen always overrides it.
  WhoCanReport prod = query("prod");
  EXPECT_EQ(std::vector<std::string>{"sre-signal"}, ids(prod.allows));
  EXPECT_EQ(std::vector<std::string>{"prod-frozen"}, ids(prod.denies));
  EXPECT_EQ(std::vector<std::string>{"prod-frozen"}, prod.allows[0].overridden_by);
  // In team-a: both allows, both overridden by team-frozen.
  WhoCanReport team = query("team-a");
  ASSERT_EQ(2u, team.allows.size());
  EXPECT_EQ(std::vector<std::string>{"team-frozen"}, team.allows[0].overridden_by);
  // Without a namespace: allows naming namespaces do not grant; denies naming them apply.
  WhoCanReport none = query("");
  EXPECT_EQ(std::vector<std::string>{"sre-signal"}, ids(none.allows));
  EXPECT_EQ((std::vector<std::string>{"prod-frozen", "team-frozen"}), ids(none.denies));
  std::string text = renderWhoCan(any) + "\n" + renderWhoCan(prod) + "\n" + renderWhoCan(none);
  expectGolden("who-can-namespaces.expected", text);
}

}  // namespace
}  // namespace stepgate::policy
