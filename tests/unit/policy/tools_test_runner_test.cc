#include "policy/test_runner.h"

#include <gtest/gtest.h>

#include "policy/compiler.h"
#include "policy/loader.h"
#include "tools_golden.h"

namespace stepgate::policy {
namespace {

using testing::expectGolden;
using testing::fixturePath;
using testing::readFixture;

CompiledPolicyConstSharedPtr fixturePolicy() {
  auto set = loadPolicyDirectory(fixturePath("order-fulfillment"));
  EXPECT_TRUE(set.isOk()) << set.status().message();
  return compile(std::move(set).value());
}

TEST(ToolsTestRunner, FixtureCasesPass) {
  auto cases = parseTestCases("cases.yaml", readFixture("cases.yaml"));
  ASSERT_TRUE(cases.isOk()) << cases.status().message();
  const TestReport r = runTestCases(*fixturePolicy(), cases.value());
  EXPECT_EQ(0u, r.failed);
  expectGolden("test.expected", renderTestReport(r));
}

TEST(ToolsTestRunner, FailuresSayExpectedAndGot) {
  auto cases = parseTestCases("cases-failing.yaml", readFixture("cases-failing.yaml"));
  ASSERT_TRUE(cases.isOk()) << cases.status().message();
  const TestReport r = runTestCases(*fixturePolicy(), cases.value());
  EXPECT_EQ(1u, r.passed);
  EXPECT_EQ(2u, r.failed);
  expectGolden("test-failing.expected", renderTestReport(r));
}

TEST(ToolsTestRunner, CaseErrorsHavePositions) {
  auto bad = parseTestCases("cases-bad.yaml", readFixture("cases-bad.yaml"));
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ("cases-bad.yaml:3:76: unknown action 'strat'", bad.status().message());
  const char* kBad[] = {
      "{}",
      "- name: a\n",
      "- {name: a, principal: {}, operation: {actions: [read]}, expect: {decision: maybe}}\n",
      "- {name: a, principal: {methd: jwt}, operation: {actions: [read]}, expect: "
      "{decision: deny}}\n",
      "- {name: a, principal: {}, operation: {actions: [read]}, context: {time: yesterday}, "
      "expect: {decision: deny}}\n",
      "- {name: a, principal: {}, operation: {actions: [read]}, context: {source_ip: 10.0.0}, "
      "expect: {decision: deny}}\n",
      "- {name: a, principal: {}, operation: {actions: [read]}, expect: {decision: deny, "
      "reason: nope}}\n",
      "- {name: a, principal: {}, operation: {actions: [read]}, expect: {decision: deny}}\n"
      "- {name: a, principal: {}, operation: {actions: [read]}, expect: {decision: deny}}\n",
  };
  for (const char* text : kBad) {
    auto r = parseTestCases("c.yaml", text);
    ASSERT_FALSE(r.isOk()) << text;
    EXPECT_EQ(0u, r.status().message().find("c.yaml:")) << r.status().message();
  }
}

TEST(ToolsTestRunner, OperationNamespace) {
  auto cases = parseTestCases(
      "c.yaml",
      "- {name: a, principal: {}, operation: {namespace: prod, actions: [read]}, "
      "expect: {decision: deny}}\n"
      "- {name: b, principal: {}, operation: {actions: [read]}, expect: {decision: deny}}\n");
  ASSERT_TRUE(cases.isOk()) << cases.status().message();
  EXPECT_EQ("prod", cases.value()[0].operation.namespace_name);
  EXPECT_EQ("", cases.value()[1].operation.namespace_name);
}

// The cases example in docs/policy.md (the one ```yml block) parses and passes.
TEST(ToolsTestRunner, DocsExample) {
  const std::string doc = readFixture("../../../docs/policy.md");
  const size_t start = doc.find("```yml\n");
  ASSERT_NE(std::string::npos, start);
  const size_t end = doc.find("```", start + 7);
  ASSERT_NE(std::string::npos, end);
  auto cases = parseTestCases("docs.yaml", doc.substr(start + 7, end - start - 7));
  ASSERT_TRUE(cases.isOk()) << cases.status().message();
  EXPECT_EQ(0u, runTestCases(*fixturePolicy(), cases.value()).failed);
}

TEST(ToolsTestRunner, Rfc3339) {
  using std::chrono::seconds;
  EXPECT_EQ(SystemTime(seconds(0)), parseRfc3339("1970-01-01T00:00:00Z"));
  EXPECT_EQ(SystemTime(seconds(1795422600)), parseRfc3339("2026-11-23T08:30:00Z"));
  EXPECT_EQ(SystemTime(seconds(1795422600)), parseRfc3339("2026-11-23T09:30:00+01:00"));
  EXPECT_EQ(SystemTime(seconds(1795422600)), parseRfc3339("2026-11-23T08:30:00.250Z"));
  EXPECT_FALSE(parseRfc3339("2026-11-23 08:30:00Z"));
  EXPECT_FALSE(parseRfc3339("2026-13-23T08:30:00Z"));
  EXPECT_FALSE(parseRfc3339("2026-11-23T08:30:00"));
  EXPECT_FALSE(parseRfc3339("2026-11-23T08:30:00+0100"));
}

}  // namespace
}  // namespace stepgate::policy
