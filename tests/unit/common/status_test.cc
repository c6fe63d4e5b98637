#include "common/status.h"

#include <gtest/gtest.h>

#include "common/json_writer.h"
#include "common/logging.h"
#include "common/net_address.h"

namespace stepgate {
namespace {

StatusOr<int> half(int v) {
  if (v % 2 != 0) return invalidArgument("odd");
  return v / 2;
}

Status quarter(int v, int& out) {
  ASSIGN_OR_RETURN(int h, half(v));
  ASSIGN_OR_RETURN(out, half(h));
  return okStatus();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(okStatus().isOk());
  Status s = invalidArgument("bad");
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(s.toString(), "invalid_argument: bad");
  int out = 0;
  EXPECT_TRUE(quarter(8, out).isOk());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(quarter(6, out).message(), "odd");
}

TEST(JsonWriterTest, EscapesControlAndInvalidUtf8) {
  std::string out;
  json::appendString(out, std::string_view("a\"b\\c\n\x01\xff\xc3\xa9", 10));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\xEF\xBF\xBD\xC3\xA9\"");
}

TEST(LoggingTest, SecretKeysAreRedacted) {
  EXPECT_TRUE(log::isSecretKey("Authorization"));
  EXPECT_TRUE(log::isSecretKey("cookie"));
  EXPECT_TRUE(log::isSecretKey("id_token"));
  EXPECT_FALSE(log::isSecretKey("path"));
}

TEST(NetAddressTest, ParsesLiteralsOnly) {
  auto v4 = parseSocketAddress("127.0.0.1:8443");
  ASSERT_TRUE(v4.isOk());
  EXPECT_EQ(v4->toString(), "127.0.0.1:8443");
  auto v6 = parseSocketAddress("[::1]:9901");
  ASSERT_TRUE(v6.isOk());
  EXPECT_EQ(v6->toString(), "[::1]:9901");
  EXPECT_FALSE(parseSocketAddress("localhost:80").isOk());
  EXPECT_FALSE(parseSocketAddress("127.0.0.1").isOk());
  EXPECT_FALSE(parseSocketAddress("127.0.0.1:70000").isOk());
  EXPECT_FALSE(parseSocketAddress("::1:80").isOk());
  EXPECT_FALSE(parseSocketAddress("127.0.0.1:0").isOk());
  EXPECT_TRUE(parseSocketAddress("127.0.0.1:0", true).isOk());
}

}  // namespace
}  // namespace stepgate
