#include "identity/jws_verify.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "identity/jwt.h"
#include "tests/unit/identity/jwt_fixtures.h"

namespace stepgate::identity {
namespace {

using testing::fixtureJson;
using testing::readFixture;

class JwsVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> warnings;
    StatusOr<KeySet> set = parseJwks(readFixture("jwks.json"), warnings);
    ASSERT_TRUE(set.isOk()) << set.status().toString();
    keys_ = std::move(set).value();
    EXPECT_TRUE(warnings.empty());
    corpus_ = fixtureJson("tokens.json");
    for (const JsonValue& c : corpus_.find("cases")->asArray()) {
      tokens_[c.find("name")->asString()] = c.find("token")->asString();
    }
    secret_ = makeSecretJwk(readFixture("secret.bin"));
  }

  const Jwk& key(const std::string& kid) {
    for (const Jwk& k : keys_.keys) {
      if (k.kid == kid) return k;
    }
    ADD_FAILURE() << "no key " << kid;
    return keys_.keys.front();
  }

  // Parses a fixture token and verifies it with one key.
  bool verify(const std::string& name, const Jwk& k) {
    Jwt jwt;
    EXPECT_EQ(parseJwt(tokens_.at(name), jwt, 1 << 20), std::nullopt) << name;
    return verifyJwsSignature(jwt.alg, jwt.signing_input, jwt.signature, k);
  }

  KeySet keys_;
  JsonValue corpus_;
  std::map<std::string, std::string> tokens_;
  Jwk secret_;
};

TEST_F(JwsVerifyTest, EveryAlgorithmVerifies) {
  EXPECT_TRUE(verify("ok_RS256", key("rsa-1")));
  EXPECT_TRUE(verify("ok_RS384", key("rsa-1")));
  EXPECT_TRUE(verify("ok_RS512", key("rsa-1")));
  EXPECT_TRUE(verify("ok_PS256", key("rsa-1")));
  EXPECT_TRUE(verify("ok_PS384", key("rsa-1")));
  EXPECT_TRUE(verify("ok_PS512", key("rsa-1")));
  EXPECT_TRUE(verify("ok_ES256", key("ec-256")));
  EXPECT_TRUE(verify("ok_ES384", key("ec-384")));
  EXPECT_TRUE(verify("ok_ES512", key("ec-521")));
  EXPECT_TRUE(verify("ok_EdDSA", key("ed-1")));
  EXPECT_TRUE(verify("ok_HS256", secret_));
  EXPECT_TRUE(verify("ok_HS384", secret_));
  EXPECT_TRUE(verify("ok_HS512", secret_));
}

TEST_F(JwsVerifyTest, WrongKeyFails) {
  EXPECT_FALSE(verify("ok_RS256", key("rsa-alg")));
  EXPECT_FALSE(verify("ok_ES256", key("ec-384")));
  EXPECT_FALSE(verify("ok_HS256", makeSecretJwk("another secret")));
  EXPECT_FALSE(verify("ok_HS256", makeSecretJwk("")));
}

TEST_F(JwsVerifyTest, KeyMustFitTheAlgorithm) {
  // An HS token is never checked against a public key, whatever the bytes.
  EXPECT_FALSE(verify("confusion_hs256_rsa_pem_allowlisted", key("rsa-1")));
  EXPECT_FALSE(verify("ok_HS256", key("rsa-1")));
  EXPECT_FALSE(verify("ok_HS256", key("ec-256")));
  // And an asymmetric token never against a secret.
  EXPECT_FALSE(verify("ok_RS256", secret_));
  EXPECT_FALSE(verify("ok_EdDSA", secret_));
  // A Jwk whose "alg" is RS256 verifies RS256 only.
  EXPECT_TRUE(verify("ok_rs256_key_with_alg", key("rsa-alg")));
  EXPECT_FALSE(verify("kid_of_key_with_other_alg", key("rsa-alg")));
  // An "oct" Jwk that somehow carries a public key is refused too.
  Jwk odd = secret_;
  odd.public_key = key("rsa-1").public_key;
  EXPECT_FALSE(verify("ok_HS256", odd));
}

TEST_F(JwsVerifyTest, SignatureShapes) {
  const Jwk& ec = key("ec-256");
  EXPECT_FALSE(verify("es256_der_signature", ec));
  EXPECT_FALSE(verify("es256_signature_63_bytes", ec));
  EXPECT_FALSE(verify("es256_signature_65_bytes", ec));
  EXPECT_FALSE(verify("es256_signature_zero", ec));
  EXPECT_FALSE(verify("es512_signature_128_bytes", key("ec-521")));
  EXPECT_FALSE(verify("eddsa_truncated", key("ed-1")));
  EXPECT_FALSE(verify("truncated_signature", key("rsa-1")));
  EXPECT_FALSE(verify("ps256_salt_not_hash_length", key("rsa-1")));
  EXPECT_FALSE(verify("ps256_signature_as_rs256", key("rsa-1")));
  EXPECT_FALSE(verify("hs256_truncated", secret_));
  Jwt jwt;
  ASSERT_EQ(parseJwt(tokens_.at("ok_RS256"), jwt), std::nullopt);
  EXPECT_FALSE(verifyJwsSignature(jwt.alg, jwt.signing_input, "", key("rsa-1")));
  EXPECT_FALSE(verifyJwsSignature(jwt.alg, std::string(jwt.signing_input) + "x", jwt.signature,
                                  key("rsa-1")));
}

TEST(JwsSecretTest, MakeSecretJwk) {
  Jwk k = makeSecretJwk("0123456789abcdef0123456789abcdef", "hs");
  EXPECT_EQ(k.kty, "oct");
  EXPECT_EQ(k.kid, "hs");
  EXPECT_TRUE(k.fits(JwsAlg::kHS256));
  EXPECT_TRUE(k.fits(JwsAlg::kHS512));
  EXPECT_FALSE(k.fits(JwsAlg::kRS256));
  EXPECT_FALSE(makeSecretJwk("").fits(JwsAlg::kHS256));
}

}  // namespace
}  // namespace stepgate::identity
