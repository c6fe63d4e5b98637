#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "policy/glob.h"
#include "policy/loader.h"
#include "policy/time_zone.h"

namespace stepgate::policy {
namespace {

TEST(GlobTest, Matches) {
  EXPECT_TRUE(globMatch("a", "a"));
  EXPECT_FALSE(globMatch("a", "ab"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("*", "anything"));
  EXPECT_TRUE(globMatch("pay-*", "pay-"));
  EXPECT_TRUE(globMatch("pay-*-eu", "pay-x-y-eu"));
  EXPECT_FALSE(globMatch("pay-*-eu", "pay-x-y-us"));
  EXPECT_TRUE(globMatch("?a*b?", "xaZZbq"));
  EXPECT_FALSE(globMatch("?a*b?", "ab"));
  EXPECT_TRUE(globMatch("*a*a*a*", "aaa"));
  EXPECT_FALSE(globMatch("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST(GlobTest, CheckPattern) {
  EXPECT_EQ(checkPattern("order-fulfillment"), "");
  EXPECT_EQ(checkPattern("payments-*"), "");
  EXPECT_NE(checkPattern(""), "");
  EXPECT_NE(checkPattern("a b"), "");
  EXPECT_NE(checkPattern("a{b,c}"), "");
  EXPECT_NE(checkPattern("a\\*"), "");
  EXPECT_NE(checkPattern("**"), "");
  EXPECT_TRUE(isGlob("a?"));
  EXPECT_FALSE(isGlob("a-b"));
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(TimeZoneTest, BerlinOffsetsAroundDst) {
  auto z = TimeZone::fromTzif("Europe/Berlin", readFile("/usr/share/zoneinfo/Europe/Berlin"));
  ASSERT_TRUE(z.isOk()) << z.status().message();
  // 2026-03-29 01:00 UTC: CET -> CEST. 2026-10-25 01:00 UTC: CEST -> CET.
  const int64_t spring = daysFromCivil(2026, 3, 29) * 86400 + 3600;
  const int64_t autumn = daysFromCivil(2026, 10, 25) * 86400 + 3600;
  EXPECT_EQ(z->offsetAt(spring - 1), 3600);
  EXPECT_EQ(z->offsetAt(spring), 7200);
  EXPECT_EQ(z->offsetAt(autumn - 1), 7200);
  EXPECT_EQ(z->offsetAt(autumn), 3600);
  // From the POSIX footer, far past the table: the same rule in 2150.
  const int64_t spring2150 = daysFromCivil(2150, 3, 29) * 86400 + 3600;  // last Sunday of March
  EXPECT_EQ(z->offsetAt(spring2150 - 1), 3600);
  EXPECT_EQ(z->offsetAt(spring2150), 7200);
}

TEST(TimeZoneTest, SouthernHemisphereAndFixed) {
  auto z = TimeZone::fromTzif("Australia/Sydney", readFile("/usr/share/zoneinfo/Australia/Sydney"));
  ASSERT_TRUE(z.isOk()) << z.status().message();
  EXPECT_EQ(z->offsetAt(daysFromCivil(2026, 1, 15) * 86400), 11 * 3600);  // AEDT
  EXPECT_EQ(z->offsetAt(daysFromCivil(2026, 7, 15) * 86400), 10 * 3600);  // AEST
  EXPECT_EQ(z->offsetAt(daysFromCivil(2190, 1, 15) * 86400), 11 * 3600);
  EXPECT_EQ(z->offsetAt(daysFromCivil(2190, 7, 15) * 86400), 10 * 3600);
  auto utc = TimeZone::fromTzif("UTC", readFile("/usr/share/zoneinfo/UTC"));
  ASSERT_TRUE(utc.isOk());
  EXPECT_EQ(utc->offsetAt(0), 0);
  EXPECT_EQ(TimeZone::fixedOffset("X", -3600).offsetAt(12345), -3600);
}

TEST(TimeZoneTest, RejectsGarbage) {
  EXPECT_FALSE(TimeZone::fromTzif("x", "").isOk());
  EXPECT_FALSE(
      TimeZone::fromTzif("x", "TZif2 not really a zone file at all, but long enough").isOk());
  std::string berlin = readFile("/usr/share/zoneinfo/Europe/Berlin");
  EXPECT_FALSE(TimeZone::fromTzif("x", berlin.substr(0, berlin.size() / 2)).isOk());
  EXPECT_EQ(checkZoneName("Europe/Berlin"), "");
  EXPECT_EQ(checkZoneName("America/Argentina/Buenos_Aires"), "");
  EXPECT_NE(checkZoneName("/etc/passwd"), "");
  EXPECT_NE(checkZoneName("Europe/../../etc"), "");
}

// Every YAML example in docs/policy.md that has rules loads.
TEST(DocsTest, PolicyExamplesLoad) {
  const char* root = std::getenv("STEPGATE_SOURCE_DIR");
  const std::string doc =
      readFile(std::string(root ? root : STEPGATE_SOURCE_DIR) + "/docs/policy.md");
  ASSERT_FALSE(doc.empty());
  size_t pos = 0;
  int examples = 0;
  while ((pos = doc.find("```yaml\n", pos)) != std::string::npos) {
    pos += 8;
    const size_t end = doc.find("```", pos);
    ASSERT_NE(end, std::string::npos);
    const std::string block = doc.substr(pos, end - pos);
    pos = end + 3;
    if (block.find("rules:") == std::string::npos) {
      continue;
    }
    auto set = loadPolicySources({{"example.yaml", block}});
    EXPECT_TRUE(set.isOk()) << set.status().message() << "\n" << block;
    ++examples;
  }
  EXPECT_GE(examples, 3);
}

}  // namespace
}  // namespace stepgate::policy
