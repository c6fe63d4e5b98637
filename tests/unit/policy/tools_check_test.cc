#include "policy/check.h"

#include <gtest/gtest.h>

#include "policy/loader.h"
#include "policy_test_util.h"
#include "tools_golden.h"

namespace stepgate::policy {
namespace {

using testing::expectGolden;
using testing::fixturePath;
using testing::readFixture;

PolicySet loadOrDie(std::vector<PolicySource> sources) {
  auto set = loadPolicySources(std::move(sources));
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return set.isOk() ? std::move(set).value() : PolicySet{};
}

std::vector<std::string> kinds(const CheckReport& r) {
  std::vector<std::string> out;
  for (const CheckFinding& f : r.warnings)
    out.push_back(f.kind);
  return out;
}

TEST(ToolsCheck, GoldenWithCatalog) {
  auto set = loadPolicyDirectory(fixturePath("order-fulfillment"));
  ASSERT_TRUE(set.isOk()) << set.status().message();
  auto catalog = parseCatalog("catalog.yaml", readFixture("catalog.yaml"));
  ASSERT_TRUE(catalog.isOk()) << catalog.status().message();
  expectGolden("check.expected",
               renderCheck(set.value(), checkPolicy(set.value(), &catalog.value())));
}

TEST(ToolsCheck, CleanSetHasNoWarnings) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: w\n"
                                    "rules:\n"
                                    "  - id: ops\n"
                                    "    allow: [start]\n"
                                    "    who: { groups: [ops] }\n"
                                    "  - id: admins\n"
                                    "    allow: [start, define]\n"
                                    "    who: { groups: [admins] }\n"
                                    "    when: { mfa: true }\n"}});
  EXPECT_TRUE(checkPolicy(set, nullptr).warnings.empty());
  EXPECT_EQ("2 rules in 1 files, 0 warnings\n", renderCheck(set, checkPolicy(set, nullptr)));
}

TEST(ToolsCheck, NarrowerEarlierRuleDoesNotShadow) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: w\n"
                                    "rules:\n"
                                    "  - id: with-mfa\n"
                                    "    allow: [start]\n"
                                    "    who: { groups: [ops] }\n"
                                    "    when: { mfa: true }\n"
                                    "  - id: any-ops\n"
                                    "    allow: [start]\n"
                                    "    who: { groups: [ops, sre] }\n"
                                    "  - id: later-mfa\n"
                                    "    allow: [start]\n"
                                    "    steps: [s1]\n"
                                    "    who: { groups: [sre] }\n"
                                    "    when: { mfa: true }\n"}});
  const CheckReport r = checkPolicy(set, nullptr);
  ASSERT_EQ(1u, r.warnings.size());
  EXPECT_EQ("shadowed", r.warnings[0].kind);
  EXPECT_EQ("a.yaml:10:5", r.warnings[0].position);
}

TEST(ToolsCheck, ConditionalOrExceptedDenyDoesNotOverride) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: w\n"
                                    "rules:\n"
                                    "  - id: ops\n"
                                    "    allow: [start]\n"
                                    "    who: { groups: [ops] }\n"
                                    "  - id: night\n"
                                    "    deny: [start]\n"
                                    "    when: { time: \"Mon-Sun 22:00-06:00 UTC\" }\n"
                                    "  - id: locked\n"
                                    "    deny: [start]\n"
                                    "    unless: { groups: [ops] }\n"}});
  EXPECT_TRUE(checkPolicy(set, nullptr).warnings.empty());
}

TEST(ToolsCheck, UnconditionalDenyOnWiderScopeOverrides) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: order-fulfillment\n"
                                    "rules:\n"
                                    "  - id: ops\n"
                                    "    allow: [start, read]\n"
                                    "    steps: [ship]\n"
                                    "    who: { groups: [ops] }\n"},
                                   {"b.yaml",
                                    "workflow: \"order-*\"\n"
                                    "rules:\n"
                                    "  - id: freeze\n"
                                    "    deny: [start, stop]\n"}});
  const CheckReport r = checkPolicy(set, nullptr);
  ASSERT_EQ(std::vector<std::string>{"overridden"}, kinds(r));
  EXPECT_NE(std::string::npos, r.warnings[0].message.find("can never grant start:"));
}

TEST(ToolsCheck, ShadowModeDenyDoesNotOverride) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: w\n"
                                    "rules:\n"
                                    "  - id: ops\n"
                                    "    allow: [start]\n"},
                                   {"b.yaml",
                                    "workflow: w\n"
                                    "mode: shadow\n"
                                    "rules:\n"
                                    "  - id: freeze\n"
                                    "    deny: [start]\n"}});
  EXPECT_TRUE(checkPolicy(set, nullptr).warnings.empty());
}

TEST(ToolsCheck, BroadOnlyForAllowOfDefinitionActions) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: \"*\"\n"
                                    "rules:\n"
                                    "  - id: readers\n"
                                    "    allow: [read]\n"
                                    "  - id: no-admin\n"
                                    "    deny: [admin]\n"
                                    "  - id: root\n"
                                    "    allow: [admin]\n"
                                    "    who: { groups: [root] }\n"}});
  const CheckReport r = checkPolicy(set, nullptr);
  EXPECT_EQ((std::vector<std::string>{"overridden", "broad"}), kinds(r));
}

TEST(ToolsCheck, CatalogUpstreamMustMatch) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: w\n"
                                    "upstream: temporal\n"
                                    "rules:\n"
                                    "  - id: r\n"
                                    "    allow: [read]\n"}});
  auto catalog = parseCatalog("c.yaml", "workflows: [{name: w, upstream: conductor}]\n");
  ASSERT_TRUE(catalog.isOk());
  EXPECT_EQ(std::vector<std::string>{"catalog"}, kinds(checkPolicy(set, &catalog.value())));
}

TEST(ToolsCheck, CatalogErrorsHavePositions) {
  auto c = parseCatalog("c.yaml", "workflows:\n  - name: w\n    stpes: [a]\n");
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(0u, c.status().message().find("c.yaml:3:5: ")) << c.status().message();
  EXPECT_FALSE(parseCatalog("c.yaml", "workflows: 3\n").isOk());
  EXPECT_FALSE(parseCatalog("c.yaml", "[").isOk());
}

TEST(ToolsCheck, NamespacesInScope) {
  const PolicySet set = loadOrDie({{"a.yaml",
                                    "workflow: w\n"
                                    "rules:\n"
                                    "  - id: prod-only\n"
                                    "    allow: [start]\n"
                                    "    namespaces: [prod]\n"
                                    "  - id: dev-only\n"
                                    "    allow: [start]\n"
                                    "    namespaces: [dev]\n"
                                    "  - id: any-prod\n"
                                    "    allow: [start]\n"
                                    "    namespaces: [\"prod*\"]\n"
                                    "  - id: prod-again\n"
                                    "    allow: [start]\n"
                                    "    namespaces: [prod-eu]\n"
                                    "  - id: freeze-dev\n"
                                    "    deny: [start]\n"
                                    "    namespaces: [dev]\n"}});
  const CheckReport r = checkPolicy(set, nullptr);
  // prod-again is shadowed by any-prod; dev-only is always overridden by freeze-dev; prod-only
  // is neither (any-prod comes later, dev is another namespace).
  ASSERT_EQ((std::vector<std::string>{"overridden", "shadowed"}), kinds(r));
  EXPECT_NE(std::string::npos, r.warnings[0].message.find("allow 'dev-only'"));
  EXPECT_NE(std::string::npos,
            r.warnings[1].message.find("'prod-again' is shadowed by 'any-prod'"));
  // A deny naming namespaces does not override an allow that names none (the allow still
  // grants elsewhere), and a rule without namespaces is not shadowed by one that names some.
  const PolicySet wide = loadOrDie({{"a.yaml",
                                     "workflow: w\n"
                                     "rules:\n"
                                     "  - id: ns\n"
                                     "    allow: [start]\n"
                                     "    namespaces: [\"*\"]\n"
                                     "  - id: any\n"
                                     "    allow: [start]\n"
                                     "  - id: freeze\n"
                                     "    deny: [start]\n"
                                     "    namespaces: [\"*\"]\n"}});
  const CheckReport w = checkPolicy(wide, nullptr);
  ASSERT_EQ(std::vector<std::string>{"overridden"}, kinds(w));
  EXPECT_NE(std::string::npos, w.warnings[0].message.find("allow 'ns'"));
}

}  // namespace
}  // namespace stepgate::policy
