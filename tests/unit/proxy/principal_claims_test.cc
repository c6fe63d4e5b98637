#include "proxy/principal_claims.h"

#include <gtest/gtest.h>

namespace stepgate::proxy {
namespace {

TEST(PrincipalClaimsTest, MembersPointersListsAndScalars) {
  auto parsed = parseJson(
      R"({"tenant":"acme","cognito:groups":["ops","pay"],"org":{"tier":"gold"},)"
      R"("level":3,"email_verified":false,"ratio":0.5,"nothing":null})");
  ASSERT_TRUE(parsed.isOk());
  const PrincipalClaims claims(&*parsed);
  EXPECT_TRUE(claims.has("tenant"));
  EXPECT_TRUE(claims.has("/org/tier"));
  EXPECT_TRUE(claims.has("nothing"));
  EXPECT_FALSE(claims.has("absent"));
  EXPECT_TRUE(claims.equals("tenant", "acme"));
  EXPECT_FALSE(claims.equals("tenant", "ACME"));
  EXPECT_TRUE(claims.equals("cognito:groups", "pay"));
  EXPECT_TRUE(claims.equals("/org/tier", "gold"));
  EXPECT_TRUE(claims.equals("level", "3"));
  EXPECT_TRUE(claims.equals("email_verified", "false"));
  EXPECT_FALSE(claims.equals("ratio", "0.5"));  // fractional numbers never match
  EXPECT_FALSE(claims.equals("nothing", "null"));
  EXPECT_FALSE(claims.equals("org", "gold"));
}

TEST(PrincipalClaimsTest, NoClaimsMatchesNothing) {
  const PrincipalClaims none(nullptr);
  EXPECT_FALSE(none.has("sub"));
  EXPECT_FALSE(none.equals("sub", "alice"));
}

}  // namespace
}  // namespace stepgate::proxy
