#include "common/cidr.h"

#include <gtest/gtest.h>

namespace stepgate {
namespace {

SocketAddress addr(const char* text) { return parseSocketAddress(text).value(); }

TEST(CidrTest, V4Networks) {
  auto c = parseCidr("10.0.0.0/8");
  ASSERT_TRUE(c.isOk());
  EXPECT_TRUE(c->contains(addr("10.200.3.4:1")));
  EXPECT_FALSE(c->contains(addr("11.0.0.1:1")));
  EXPECT_FALSE(c->contains(addr("[::1]:1")));
  auto host = parseCidr("127.0.0.1");
  ASSERT_TRUE(host.isOk());
  EXPECT_EQ(host->prefix, 32);
  EXPECT_TRUE(host->contains(addr("127.0.0.1:80")));
  EXPECT_FALSE(host->contains(addr("127.0.0.2:80")));
  auto odd = parseCidr("192.168.1.128/25");
  ASSERT_TRUE(odd.isOk());
  EXPECT_TRUE(odd->contains(addr("192.168.1.200:1")));
  EXPECT_FALSE(odd->contains(addr("192.168.1.100:1")));
}

TEST(CidrTest, V6AndMappedV4) {
  auto c = parseCidr("2001:db8::/32");
  ASSERT_TRUE(c.isOk());
  EXPECT_TRUE(c->contains(addr("[2001:db8:1::5]:1")));
  EXPECT_FALSE(c->contains(addr("[2001:db9::1]:1")));
  auto v4 = parseCidr("192.0.2.0/24");
  ASSERT_TRUE(v4.isOk());
  EXPECT_TRUE(v4->contains(addr("[::ffff:192.0.2.9]:1")));
}

TEST(CidrTest, Errors) {
  EXPECT_FALSE(parseCidr("10.0.0.0/33").isOk());
  EXPECT_FALSE(parseCidr("10.0.0.1/8").isOk());  // host bits set
  EXPECT_FALSE(parseCidr("example.com/8").isOk());
  EXPECT_FALSE(parseCidr("10.0.0.0/").isOk());
  EXPECT_FALSE(parseCidr("::/129").isOk());
  EXPECT_TRUE(parseCidr("::/0").isOk());
}

}  // namespace
}  // namespace stepgate
