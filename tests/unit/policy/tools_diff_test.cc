#include "policy/diff.h"

#include <gtest/gtest.h>

#include "policy/loader.h"
#include "tools_golden.h"

namespace stepgate::policy {
namespace {

using testing::expectGolden;
using testing::fixturePath;

PolicySet loadDir(const std::string& name) {
  auto set = loadPolicyDirectory(fixturePath(name));
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return std::move(set).value();
}

PolicySet loadText(const std::string& text) {
  auto set = loadPolicySources({{"p.yaml", text}});
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return std::move(set).value();
}

TEST(ToolsDiff, Golden) {
  const DiffReport r = diffPolicies(loadDir("diff-old"), loadDir("diff-new"));
  EXPECT_TRUE(r.widened());
  EXPECT_TRUE(r.narrowed());
  expectGolden("diff.expected", renderDiff(r));
}

TEST(ToolsDiff, SelfIsEmpty) {
  for (const char* dir : {"diff-old", "diff-new", "order-fulfillment"}) {
    const DiffReport r = diffPolicies(loadDir(dir), loadDir(dir));
    EXPECT_TRUE(r.changes.empty()) << dir;
    EXPECT_EQ("## Policy diff\n\nNo change in access.\n", renderDiff(r));
  }
}

TEST(ToolsDiff, NarrowingOnly) {
  const PolicySet before = loadText(
      "workflow: w\nrules:\n  - id: a\n    allow: [start]\n    who: { groups: [ops, sre] }\n");
  const PolicySet after = loadText(
      "workflow: w\nrules:\n  - id: a\n    allow: [start]\n    who: { groups: [ops, sre] }\n"
      "    when: { mfa: true }\n  - id: d\n    deny: [start]\n    who: { subjects: [eve] }\n");
  const DiffReport r = diffPolicies(before, after);
  ASSERT_EQ(2u, r.changes.size());
  EXPECT_FALSE(r.widened());
  EXPECT_TRUE(r.narrowed());
  EXPECT_FALSE(diffPolicies(after, before).narrowed());
}

TEST(ToolsDiff, ShadowFilesAreIgnoredAndUnlessAddedWidens) {
  const PolicySet before = loadText("workflow: w\nrules:\n  - id: d\n    deny: [define]\n");
  const PolicySet after = loadText(
      "workflow: w\nrules:\n  - id: d\n    deny: [define]\n    unless: { groups: [admins] }\n");
  const DiffReport r = diffPolicies(before, after);
  ASSERT_EQ(1u, r.changes.size());
  EXPECT_EQ(DiffChange::Kind::kDenyChanged, r.changes[0].kind);
  EXPECT_TRUE(r.widened());
  EXPECT_FALSE(diffPolicies(after, before).widened());
  const PolicySet shadow =
      loadText("workflow: w\nmode: shadow\nrules:\n  - id: d\n    deny: [define]\n");
  EXPECT_TRUE(diffPolicies(before, shadow).widened());  // the enforced deny is gone
}

TEST(ToolsDiff, NamespacesAreKeys) {
  const std::string head = "workflow: \"*\"\nupstream: temporal\nrules:\n";
  const PolicySet before = loadText(head +
                                    "  - id: a\n    allow: [signal]\n    namespaces: [dev]\n"
                                    "    who: { groups: [devs] }\n"
                                    "  - id: d\n    deny: [signal]\n");
  const PolicySet after =
      loadText(head +
               "  - id: a\n    allow: [signal]\n    namespaces: [dev, staging]\n"
               "    who: { groups: [devs] }\n"
               "  - id: d\n    deny: [signal]\n    namespaces: [\"prod*\"]\n");
  const DiffReport r = diffPolicies(before, after);
  ASSERT_EQ(3u, r.changes.size());
  EXPECT_TRUE(r.widened());
  // Sorted by key: namespace "" (the deny lost), then "prod*" (deny gained), then "staging".
  EXPECT_EQ("", r.changes[0].namespace_name);
  EXPECT_EQ(DiffChange::Kind::kDenyLost, r.changes[0].kind);
  EXPECT_EQ("prod*", r.changes[1].namespace_name);
  EXPECT_EQ(DiffChange::Kind::kDenyGained, r.changes[1].kind);
  EXPECT_EQ("staging", r.changes[2].namespace_name);
  EXPECT_EQ(DiffChange::Kind::kAllowGained, r.changes[2].kind);
  expectGolden("diff-namespaces.expected", renderDiff(r));
  // Without namespaces in any change, the table keeps its usual columns.
  EXPECT_EQ(std::string::npos,
            renderDiff(diffPolicies(loadDir("diff-old"), loadDir("diff-new"))).find("namespace"));
}

}  // namespace
}  // namespace stepgate::policy
