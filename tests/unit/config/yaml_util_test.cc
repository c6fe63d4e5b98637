#include "config/yaml_util.h"

#include <gtest/gtest.h>

namespace stepgate::config {
namespace {

TEST(YamlUtilTest, ParseDuration) {
  EXPECT_EQ(parseDuration("500ms"), Duration(500));
  EXPECT_EQ(parseDuration("10s"), Duration(10'000));
  EXPECT_EQ(parseDuration("2m"), Duration(120'000));
  EXPECT_EQ(parseDuration("1h"), Duration(3'600'000));
  EXPECT_EQ(parseDuration("0s"), Duration(0));
  EXPECT_EQ(parseDuration("8760h"), Duration(int64_t{8760} * 3'600'000));
  for (const char* bad : {"", "10", "s", "-1s", "+1s", "1.5s", "1 s", "1S", "1sec", "1d",
                          "1h30m", "8761h", "18446744073709551616ms"}) {
    EXPECT_FALSE(parseDuration(bad).has_value()) << bad;
  }
}

TEST(YamlUtilTest, ParseSize) {
  EXPECT_EQ(parseSize("0"), 0u);
  EXPECT_EQ(parseSize("65536"), 65536u);
  EXPECT_EQ(parseSize("64KiB"), 65536u);
  EXPECT_EQ(parseSize("16MiB"), 16u << 20);
  EXPECT_EQ(parseSize("1GiB"), uint64_t{1} << 30);
  EXPECT_EQ(parseSize("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "KiB", "1KB", "1kib", "1 KiB", "-1", "1.5MiB", "1TiB",
                          "18446744073709551616", "17179869184GiB"}) {
    EXPECT_FALSE(parseSize(bad).has_value()) << bad;
  }
}

TEST(YamlUtilTest, EditDistanceAndClosestMatch) {
  EXPECT_EQ(editDistance("", ""), 0u);
  EXPECT_EQ(editDistance("abc", ""), 3u);
  EXPECT_EQ(editDistance("listeners", "listeners"), 0u);
  EXPECT_EQ(editDistance("lsiteners", "listeners"), 1u);  // transposition
  EXPECT_EQ(editDistance("limts", "limits"), 1u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(closestMatch("upstrem", {"listeners", "upstreams", "upstream"}), "upstream");
  EXPECT_EQ(closestMatch("zzz", {"listeners", "upstreams"}), "");
  EXPECT_EQ(closestMatch("foo", {"log", "path"}), "");  // two edits of three letters
  EXPECT_EQ(closestMatch("ur", {"url"}), "url");
}

}  // namespace
}  // namespace stepgate::config
