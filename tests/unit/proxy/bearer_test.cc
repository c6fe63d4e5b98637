#include "proxy/http1/bearer.h"

#include <gtest/gtest.h>

namespace stepgate::proxy {
namespace {

using http1::Header;

BearerToken find(std::initializer_list<Header> hs) { return findBearerToken({hs}); }

TEST(BearerTest, Absent) { EXPECT_EQ(find({{"Host", "h"}}).status, BearerStatus::kAbsent); }

TEST(BearerTest, TokenIsExtracted) {
  auto t = find({{"authorization", "Bearer abc.DEF-_~+/=="}});
  EXPECT_EQ(t.status, BearerStatus::kOk);
  EXPECT_EQ(t.token, "abc.DEF-_~+/==");
  EXPECT_EQ(find({{"Authorization", "bearer   x.y.z"}}).token, "x.y.z");
}

TEST(BearerTest, MalformedCredentials) {
  EXPECT_EQ(find({{"Authorization", "Bearer"}}).status, BearerStatus::kMalformed);
  EXPECT_EQ(find({{"Authorization", "Bearer "}}).status, BearerStatus::kMalformed);
  EXPECT_EQ(find({{"Authorization", "Bearer a b"}}).status, BearerStatus::kMalformed);
  EXPECT_EQ(find({{"Authorization", "Bearer a=b"}}).status, BearerStatus::kMalformed);
  EXPECT_EQ(find({{"Authorization", "Bearer a,b"}}).status, BearerStatus::kMalformed);
  EXPECT_EQ(find({{"Authorization", " Bearer a"}}).status, BearerStatus::kMalformed);
  // Two fields: which one would the upstream use? Refuse.
  EXPECT_EQ(find({{"Authorization", "Bearer a"}, {"authorization", "Bearer b"}}).status,
            BearerStatus::kMalformed);
}

TEST(BearerTest, OtherSchemes) {
  EXPECT_EQ(find({{"Authorization", "Basic dXNlcjpwdw=="}}).status, BearerStatus::kOtherScheme);
  EXPECT_EQ(find({{"Authorization", "Bearerx abc"}}).status, BearerStatus::kOtherScheme);
}

TEST(BearerTest, Challenge) {
  std::string out;
  appendBearerChallenge(out, "invalid_token");
  EXPECT_EQ(out, "Bearer realm=\"stepgate\", error=\"invalid_token\"");
  out.clear();
  appendBearerChallenge(out, "");
  EXPECT_EQ(out, "Bearer realm=\"stepgate\"");
}

}  // namespace
}  // namespace stepgate::proxy
