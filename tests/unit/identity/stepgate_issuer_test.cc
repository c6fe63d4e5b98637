#include "identity/stepgate_issuer.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/json.h"
#include "identity/jws_sign.h"
#include "identity/jwt.h"
#include "identity/token_verifier.h"

namespace stepgate::identity {
namespace {

constexpr char kIssuer[] = "https://stepgate.example.com";

class StepgateIssuerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/stepgate-issuer-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.issuer_url = kIssuer;
    options_.key_file = dir_ + "/issuer.pem";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<StepgateIssuer> openIssuer() {
    auto issuer = StepgateIssuer::open(options_);
    EXPECT_TRUE(issuer.isOk()) << issuer.status().toString();
    return issuer.isOk() ? std::move(issuer).value() : nullptr;
  }

  static config::ProviderConfig provider(std::string typ, std::string audience) {
    config::ProviderConfig p;
    p.name = "stepgate";
    p.type = config::ProviderType::kJwt;
    p.issuer = kIssuer;
    p.audiences = {std::move(audience)};
    p.algorithms = {"ES256"};
    p.typ = std::move(typ);
    p.claims.groups = "groups";
    return p;
  }

  static KeySet keys(const StepgateIssuer& issuer) {
    std::vector<std::string> warnings;
    auto ks = parseJwks(issuer.jwksJson(), warnings);
    EXPECT_TRUE(ks.isOk()) << ks.status().toString();
    EXPECT_TRUE(warnings.empty());
    return ks.isOk() ? std::move(ks).value() : KeySet{};
  }

  static Principal alice() {
    Principal p;
    p.provider = "corp-saml";
    p.issuer = "https://idp.example.com";
    p.subject = "alice@example.com";
    p.name = "Alice Example";
    p.email = "alice@example.com";
    p.groups = {"ops", "payments-oncall"};
    p.method = AuthMethod::kSession;
    p.mfa = true;
    p.credential_id = "0123456789abcdef0123456789abcdef";
    return p;
  }

  static JsonValue claimsOf(const std::string& token) {
    Jwt jwt;
    EXPECT_FALSE(parseJwt(token, jwt, 1 << 20).has_value());
    return jwt.claims;
  }

  std::string dir_;
  StepgateIssuerOptions options_;
  const SystemTime now_ = SystemTime(std::chrono::seconds(1'900'000'000));
};

TEST_F(StepgateIssuerTest, GeneratesAPrivateKeyFileOnceAndReusesIt) {
  auto first = openIssuer();
  ASSERT_NE(first, nullptr);
  struct stat st;
  ASSERT_EQ(::stat(options_.key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = openIssuer();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(first->kid(), second->kid());
  EXPECT_EQ(first->jwksJson(), second->jwksJson());
  // Another file is another key.
  options_.key_file = dir_ + "/other.pem";
  auto other = openIssuer();
  ASSERT_NE(other, nullptr);
  EXPECT_NE(other->kid(), first->kid());
}

TEST_F(StepgateIssuerTest, KidIsTheRfc7638Thumbprint) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  FILE* f = fopen(options_.key_file.c_str(), "r");
  ASSERT_NE(f, nullptr);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  fclose(f);
  ASSERT_NE(key, nullptr);
  auto thumb = jwkThumbprint(key);
  EVP_PKEY_free(key);
  ASSERT_TRUE(thumb.isOk());
  EXPECT_EQ(issuer->kid(), *thumb);
  auto jwks = parseJson(issuer->jwksJson());
  ASSERT_TRUE(jwks.isOk());
  const JsonValue* k = jwks->at("/keys/0");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->find("kid")->asString(), *thumb);
  EXPECT_EQ(k->find("alg")->asString(), "ES256");
  EXPECT_EQ(k->find("d"), nullptr);  // never the private part
}

TEST_F(StepgateIssuerTest, RotationPublishesThePreviousKeyAndNeverSignsWithIt) {
  // The key in use so far, and a token it signed.
  auto old_issuer = openIssuer();
  ASSERT_NE(old_issuer, nullptr);
  auto old_token =
      old_issuer->mintAccessToken(alice(), "workflow-api", std::chrono::minutes(15), now_);
  ASSERT_TRUE(old_token.isOk());
  // Rotate: a new signing key, the old one kept as its public half only.
  FILE* f = fopen(options_.key_file.c_str(), "r");
  ASSERT_NE(f, nullptr);
  EVP_PKEY* old_key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  fclose(f);
  ASSERT_NE(old_key, nullptr);
  const std::string pub = dir_ + "/previous.pub.pem";
  FILE* out = fopen(pub.c_str(), "w");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(PEM_write_PUBKEY(out, old_key), 1);
  fclose(out);
  EVP_PKEY_free(old_key);
  options_.previous_key_files = {pub};
  options_.key_file = dir_ + "/new.pem";
  auto rotated = openIssuer();
  ASSERT_NE(rotated, nullptr);
  EXPECT_NE(rotated->kid(), old_issuer->kid());
  auto jwks = parseJson(rotated->jwksJson());
  ASSERT_TRUE(jwks.isOk());
  ASSERT_NE(jwks->at("/keys/1"), nullptr);
  EXPECT_EQ(jwks->at("/keys/0")->find("kid")->asString(), rotated->kid());
  EXPECT_EQ(jwks->at("/keys/1")->find("kid")->asString(), old_issuer->kid());
  EXPECT_EQ(jwks->at("/keys/2"), nullptr);
  // Old tokens still verify; new ones are signed with the new key.
  const KeySet ks = keys(*rotated);
  const VerifyResult r = verifyJwt(*old_token, provider("at+jwt", "workflow-api"), ks, now_);
  ASSERT_TRUE(r.ok()) << authErrorName(*r.error);
  EXPECT_EQ(r.kid, old_issuer->kid());
  auto fresh = rotated->mintAccessToken(alice(), "workflow-api", std::chrono::minutes(15), now_);
  ASSERT_TRUE(fresh.isOk());
  EXPECT_EQ(verifyJwt(*fresh, provider("at+jwt", "workflow-api"), ks, now_).kid, rotated->kid());

  // The current key as a previous one, a missing file, and a non-key are refused.
  options_.previous_key_files = {options_.key_file};
  EXPECT_FALSE(StepgateIssuer::open(options_).isOk());
  options_.previous_key_files = {dir_ + "/missing.pem"};
  EXPECT_FALSE(StepgateIssuer::open(options_).isOk());
  { std::ofstream(dir_ + "/junk.pem") << "junk\n"; }
  options_.previous_key_files = {dir_ + "/junk.pem"};
  EXPECT_FALSE(StepgateIssuer::open(options_).isOk());
}

TEST_F(StepgateIssuerTest, RefusesKeysThatAreNotP256AndUnreadableFiles) {
  { std::ofstream(options_.key_file) << "not a key\n"; }
  auto bad = StepgateIssuer::open(options_);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  ASSERT_NE(rsa, nullptr);
  auto wrong = StepgateIssuer::fromKey(EvpPkeyPtr(rsa, EVP_PKEY_free), options_);
  ASSERT_FALSE(wrong.isOk());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);

  options_.issuer_url.clear();
  options_.key_file = dir_ + "/fresh.pem";
  EXPECT_FALSE(StepgateIssuer::open(options_).isOk());
}

TEST_F(StepgateIssuerTest, AccessTokenVerifiesWithTheTokenVerifierRoundTrip) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  auto token =
      issuer->mintAccessToken(alice(), "workflow-api", std::chrono::minutes(15), now_, "sid-123");
  ASSERT_TRUE(token.isOk()) << token.status().toString();

  const KeySet ks = keys(*issuer);
  const VerifyResult r = verifyJwt(*token, provider("at+jwt", "workflow-api"), ks, now_);
  ASSERT_TRUE(r.ok()) << authErrorName(*r.error);
  EXPECT_EQ(r.principal.subject, "alice@example.com");
  EXPECT_EQ(r.principal.groups, (std::vector<std::string>{"ops", "payments-oncall"}));
  EXPECT_EQ(r.principal.name, "Alice Example");
  EXPECT_TRUE(r.principal.mfa);
  EXPECT_EQ(r.kid, issuer->kid());
  EXPECT_EQ(r.expires_at, now_ + std::chrono::minutes(15));

  const JsonValue claims = claimsOf(*token);
  EXPECT_EQ(claims.find("idp")->asString(), "corp-saml");
  EXPECT_EQ(claims.find("sid")->asString(), "sid-123");
  EXPECT_EQ(claims.find("iat")->asInt(), 1'900'000'000);
  EXPECT_EQ(claims.find("nbf")->asInt(), 1'900'000'000);
  EXPECT_GE(claims.find("jti")->asString().size(), 22u);

  // Each token has its own jti.
  auto again = issuer->mintAccessToken(alice(), "workflow-api", std::chrono::minutes(15), now_);
  ASSERT_TRUE(again.isOk());
  EXPECT_NE(claimsOf(*again).find("jti")->asString(), claims.find("jti")->asString());
  EXPECT_EQ(claimsOf(*again).find("sid"), nullptr);
}

TEST_F(StepgateIssuerTest, AccessTokenIsRefusedWhereItShouldBe) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  auto token = issuer->mintAccessToken(alice(), "workflow-api", std::chrono::minutes(15), now_);
  ASSERT_TRUE(token.isOk());
  const KeySet ks = keys(*issuer);
  // Expired, wrong audience, wrong typ, another issuer's keys.
  auto expired =
      verifyJwt(*token, provider("at+jwt", "workflow-api"), ks, now_ + std::chrono::minutes(20));
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(*expired.error, AuthError::kExpired);
  auto aud = verifyJwt(*token, provider("at+jwt", "other-api"), ks, now_);
  ASSERT_FALSE(aud.ok());
  EXPECT_EQ(*aud.error, AuthError::kWrongAudience);
  auto typ = verifyJwt(*token, provider(kUpstreamAssertionTyp, "workflow-api"), ks, now_);
  ASSERT_FALSE(typ.ok());
  EXPECT_EQ(*typ.error, AuthError::kWrongType);
  options_.key_file = dir_ + "/other.pem";
  auto other = openIssuer();
  ASSERT_NE(other, nullptr);
  auto foreign = verifyJwt(*token, provider("at+jwt", "workflow-api"), keys(*other), now_);
  EXPECT_FALSE(foreign.ok());
  // A tampered signature.
  std::string bad = *token;
  bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifyJwt(bad, provider("at+jwt", "workflow-api"), ks, now_).ok());
}

TEST_F(StepgateIssuerTest, AccessTokenRefusesBadInputsAndOversize) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  Principal p = alice();
  EXPECT_FALSE(issuer->mintAccessToken(p, "", std::chrono::minutes(1), now_).isOk());
  EXPECT_FALSE(issuer->mintAccessToken(p, "a", std::chrono::seconds(0), now_).isOk());
  p.subject.clear();
  EXPECT_FALSE(issuer->mintAccessToken(p, "a", std::chrono::minutes(1), now_).isOk());
  p = alice();
  for (int i = 0; i < 400; ++i)
    p.groups.push_back("group-with-a-fairly-long-name-" + std::to_string(i));
  auto big = issuer->mintAccessToken(p, "a", std::chrono::minutes(1), now_);
  ASSERT_FALSE(big.isOk());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  // Just under the limit is fine, and the result really is under 8 KiB.
  p = alice();
  for (int i = 0; i < 120; ++i)
    p.groups.push_back("group-with-a-fairly-long-name-" + std::to_string(i));
  auto fits = issuer->mintAccessToken(p, "a", std::chrono::minutes(1), now_);
  ASSERT_TRUE(fits.isOk()) << fits.status().toString();
  EXPECT_LE(fits->size(), kMaxAccessTokenBytes);
}

TEST_F(StepgateIssuerTest, UpstreamAssertionVerifiesRoundTrip) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  OperationSummary op{"argo-prod", "nightly-etl", "load", {"run", "read"}};
  auto token =
      issuer->mintUpstreamAssertion(alice(), op, "argo-prod", std::chrono::seconds(45), now_);
  ASSERT_TRUE(token.isOk()) << token.status().toString();
  const KeySet ks = keys(*issuer);
  const VerifyResult r = verifyJwt(*token, provider(kUpstreamAssertionTyp, "argo-prod"), ks, now_);
  ASSERT_TRUE(r.ok()) << authErrorName(*r.error);
  EXPECT_EQ(r.principal.subject, "alice@example.com");
  EXPECT_EQ(r.expires_at, now_ + std::chrono::seconds(45));
  const JsonValue claims = claimsOf(*token);
  EXPECT_EQ(claims.at("/op/upstream")->asString(), "argo-prod");
  EXPECT_EQ(claims.at("/op/workflow")->asString(), "nightly-etl");
  EXPECT_EQ(claims.at("/op/step")->asString(), "load");
  EXPECT_EQ(claims.at("/op/actions/1")->asString(), "read");
  EXPECT_EQ(claims.find("auth")->asString(), "session");
  EXPECT_EQ(claims.find("groups_truncated"), nullptr);
  // An access-token verifier does not accept it (typ differs).
  EXPECT_FALSE(verifyJwt(*token, provider("at+jwt", "argo-prod"), ks, now_).ok());
}

TEST_F(StepgateIssuerTest, UpstreamAssertionTtlIsClampedTo30To60Seconds) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  OperationSummary op{"u", "", "", {"read"}};
  auto longer = issuer->mintUpstreamAssertion(alice(), op, "u", std::chrono::hours(1), now_);
  ASSERT_TRUE(longer.isOk());
  EXPECT_EQ(claimsOf(*longer).find("exp")->asInt(), 1'900'000'060);
  auto shorter = issuer->mintUpstreamAssertion(alice(), op, "u", std::chrono::seconds(1), now_);
  ASSERT_TRUE(shorter.isOk());
  EXPECT_EQ(claimsOf(*shorter).find("exp")->asInt(), 1'900'000'030);
}

TEST_F(StepgateIssuerTest, UpstreamAssertionTruncatesGroupsWithAMarker) {
  options_.max_upstream_assertion_bytes = 2048;
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  Principal p = alice();
  p.groups.clear();
  for (int i = 0; i < 200; ++i)
    p.groups.push_back("g" + std::to_string(1000 + i));
  OperationSummary op{"u", "w", "s", {"run"}};
  auto token = issuer->mintUpstreamAssertion(p, op, "u", std::chrono::seconds(30), now_);
  ASSERT_TRUE(token.isOk()) << token.status().toString();
  EXPECT_LE(token->size(), 2048u);
  const JsonValue claims = claimsOf(*token);
  ASSERT_NE(claims.find("groups_truncated"), nullptr);
  EXPECT_TRUE(claims.find("groups_truncated")->asBool());
  const auto& groups = claims.find("groups")->asArray();
  EXPECT_GT(groups.size(), 10u);
  EXPECT_LT(groups.size(), 200u);
  EXPECT_EQ(groups[0].asString(), "g1000");  // the first ones are kept, in order
  // Verifies too.
  EXPECT_TRUE(verifyJwt(*token, provider(kUpstreamAssertionTyp, "u"), keys(*issuer), now_).ok());

  // A subject that cannot fit is an error, not a truncated subject.
  p.subject = std::string(3000, 's');
  auto too_big = issuer->mintUpstreamAssertion(p, op, "u", std::chrono::seconds(30), now_);
  ASSERT_FALSE(too_big.isOk());
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StepgateIssuerTest, OperationCacheKeysDoNotCollide) {
  OperationSummary a{"u", "ab", "c", {}};
  OperationSummary b{"u", "a", "bc", {}};
  OperationSummary c{"u", "a", "b", {"c"}};
  EXPECT_NE(a.cacheKey(), b.cacheKey());
  EXPECT_NE(b.cacheKey(), c.cacheKey());
  EXPECT_EQ(a.cacheKey(), (OperationSummary{"u", "ab", "c", {}}).cacheKey());
}

TEST_F(StepgateIssuerTest, AssertionCacheReusesUntilHalfTheTtl) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  UpstreamAssertionCache cache(8);
  OperationSummary op{"u", "w", "s", {"run"}};
  const auto ttl = std::chrono::seconds(60);
  auto t1 = cache.get(*issuer, alice(), op, "u", ttl, now_);
  ASSERT_TRUE(t1.isOk());
  auto t2 = cache.get(*issuer, alice(), op, "u", ttl, now_ + std::chrono::seconds(29));
  ASSERT_TRUE(t2.isOk());
  EXPECT_EQ(*t1, *t2);
  EXPECT_EQ(cache.hits(), 1u);
  auto t3 = cache.get(*issuer, alice(), op, "u", ttl, now_ + std::chrono::seconds(30));
  ASSERT_TRUE(t3.isOk());
  EXPECT_NE(*t3, *t1);
  // Another operation, audience or credential is another entry.
  OperationSummary other{"u", "w", "s2", {"run"}};
  EXPECT_NE(*cache.get(*issuer, alice(), other, "u", ttl, now_ + std::chrono::seconds(30)), *t3);
  EXPECT_NE(*cache.get(*issuer, alice(), op, "u2", ttl, now_ + std::chrono::seconds(30)), *t3);
  Principal bob = alice();
  bob.credential_id = "ffffffffffffffffffffffffffffffff";
  EXPECT_NE(*cache.get(*issuer, bob, op, "u", ttl, now_ + std::chrono::seconds(30)), *t3);
  // No credential id: never cached.
  Principal anon = alice();
  anon.credential_id.clear();
  const size_t before = cache.size();
  EXPECT_TRUE(cache.get(*issuer, anon, op, "u", ttl, now_).isOk());
  EXPECT_EQ(cache.size(), before);
  // A clock that went backwards does not get a token from its future.
  auto back = cache.get(*issuer, alice(), op, "u", ttl, now_);
  ASSERT_TRUE(back.isOk());
  EXPECT_NE(*back, *t3);
}

TEST_F(StepgateIssuerTest, AssertionCacheStaysBounded) {
  auto issuer = openIssuer();
  ASSERT_NE(issuer, nullptr);
  UpstreamAssertionCache cache(4);
  for (int i = 0; i < 10; ++i) {
    OperationSummary op{"u", "w" + std::to_string(i), "", {"run"}};
    ASSERT_TRUE(cache.get(*issuer, alice(), op, "u", std::chrono::seconds(60), now_).isOk());
    EXPECT_LE(cache.size(), 4u);
  }
}

}  // namespace
}  // namespace stepgate::identity
