#include "common/ascii.h"

#include <gtest/gtest.h>

namespace stepgate {
namespace {

TEST(AsciiTest, FoldsOnlyAsciiLetters) {
  EXPECT_TRUE(equalsIgnoreAsciiCase("Content-Length", "content-length"));
  EXPECT_TRUE(equalsIgnoreAsciiCase("", ""));
  EXPECT_FALSE(equalsIgnoreAsciiCase("cookie", "cookies"));
  EXPECT_FALSE(equalsIgnoreAsciiCase("a", "b"));
  // Only A-Z fold: '@' (0x40) and '`' (0x60), '[' and '{' differ by 0x20 but are not letters.
  EXPECT_FALSE(equalsIgnoreAsciiCase("@", "`"));
  EXPECT_FALSE(equalsIgnoreAsciiCase("[", "{"));
  // Bytes above 0x7f never fold (no locale): Latin-1 'É' (0xC9) and 'é' (0xE9).
  EXPECT_FALSE(equalsIgnoreAsciiCase("\xC9", "\xE9"));
  // The Kelvin sign (U+212A) is not 'k'.
  EXPECT_FALSE(equalsIgnoreAsciiCase("\xE2\x84\xAA", "k"));
  static_assert(asciiLower('Q') == 'q' && asciiLower('q') == 'q' && asciiLower('0') == '0');
}

}  // namespace
}  // namespace stepgate
