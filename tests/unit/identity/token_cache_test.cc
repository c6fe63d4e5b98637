#include "identity/token_cache.h"

#include <gtest/gtest.h>

namespace stepgate::identity {
namespace {

using std::chrono::seconds;

PrincipalConstSharedPtr principal(const char* sub) {
  auto p = std::make_shared<Principal>();
  p->subject = sub;
  return p;
}

TEST(TokenCacheTest, DigestIsSha256) {
  // SHA-256("abc"), FIPS 180-2 example.
  EXPECT_EQ(credentialId(digestOf("abc")), "ba7816bf8f01cfea414140de5dae2223");
}

TEST(TokenCacheTest, HitUntilExpiryThenGone) {
  TokenCache cache(4);
  const SystemTime t0{seconds(1000)};
  cache.insert(digestOf("t1"), principal("alice"), t0 + seconds(10));
  ASSERT_NE(cache.find(digestOf("t1"), t0), nullptr);
  EXPECT_EQ(cache.find(digestOf("t1"), t0)->subject, "alice");
  EXPECT_EQ(cache.find(digestOf("t2"), t0), nullptr);
  EXPECT_EQ(cache.find(digestOf("t1"), t0 + seconds(10)), nullptr);  // expired: dropped
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCacheTest, LeastRecentlyUsedIsEvicted) {
  TokenCache cache(2);
  const SystemTime t0{seconds(1000)};
  const SystemTime later = t0 + seconds(60);
  cache.insert(digestOf("a"), principal("a"), later);
  cache.insert(digestOf("b"), principal("b"), later);
  ASSERT_NE(cache.find(digestOf("a"), t0), nullptr);  // a is now the most recent
  cache.insert(digestOf("c"), principal("c"), later);
  EXPECT_NE(cache.find(digestOf("a"), t0), nullptr);
  EXPECT_EQ(cache.find(digestOf("b"), t0), nullptr);
  EXPECT_NE(cache.find(digestOf("c"), t0), nullptr);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(TokenCacheTest, ZeroCapacityCachesNothing) {
  TokenCache cache(0);
  cache.insert(digestOf("a"), principal("a"), SystemTime{seconds(99)});
  EXPECT_EQ(cache.find(digestOf("a"), SystemTime{seconds(1)}), nullptr);
}

}  // namespace
}  // namespace stepgate::identity
