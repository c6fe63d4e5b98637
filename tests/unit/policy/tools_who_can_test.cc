#include "policy/who_can.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace stepgate::policy
