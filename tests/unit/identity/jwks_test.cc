#include <gtest/gtest.h>

#include <string>

#include "identity/key_set.h"
#include "tests/unit/identity/jwt_fixtures.h"

namespace stepgate::identity {
namespace {

using testing::fixtureJson;
using testing::readFixture;

// Re-serialises one JWK from the fixture as a JWKS document. The fixture values are plain
// strings, numbers and arrays of strings, which is all this needs to write.
std::string jsonText(const JsonValue& v) {
  switch (v.type()) {
    case JsonType::kNull: return "null";
    case JsonType::kBool: return v.asBool() ? "true" : "false";
    case JsonType::kInt: return std::to_string(v.asInt());
    case JsonType::kDouble: return std::to_string(v.asDouble());
    case JsonType::kString: return "\"" + v.asString() + "\"";
    case JsonType::kArray: {
      std::string out = "[";
      for (const JsonValue& e : v.asArray()) out += (out.size() > 1 ? "," : "") + jsonText(e);
      return out + "]";
    }
    case JsonType::kObject: {
      std::string out = "{";
      for (const JsonMember& m : v.asObject()) {
        out += (out.size() > 1 ? ",\"" : "\"") + m.name + "\":" + jsonText(m.value);
      }
      return out + "}";
    }
  }
  return "";
}

TEST(JwksTest, FixtureKeysAllParse) {
  std::vector<std::string> warnings;
  StatusOr<KeySet> set = parseJwks(readFixture("jwks.json"), warnings);
  ASSERT_TRUE(set.isOk()) << set.status().toString();
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(set->keys.size(), 6u);
  EXPECT_EQ(set->keys[0].kid, "rsa-1");
  EXPECT_EQ(set->keys[0].kty, "RSA");
  EXPECT_EQ(set->keys[1].alg, "RS256");
  EXPECT_EQ(set->keys[2].crv, "P-256");
  EXPECT_EQ(set->keys[4].crv, "P-521");
  EXPECT_EQ(set->keys[5].kty, "OKP");
  for (const Jwk& k : set->keys) EXPECT_NE(k.public_key, nullptr);
}

TEST(JwksTest, SkipRules) {
  const JsonValue cases = fixtureJson("jwks_cases.json");
  ASSERT_TRUE(cases.isArray());
  int kept = 0, skipped = 0;
  for (const JsonValue& c : cases.asArray()) {
    const std::string name = c.find("name")->asString();
    const std::string doc = "{\"keys\":[" + jsonText(*c.find("jwk")) + "]}";
    std::vector<std::string> warnings;
    StatusOr<KeySet> set = parseJwks(doc, warnings);
    ASSERT_TRUE(set.isOk()) << name << ": " << set.status().toString();
    if (c.find("expect")->asString() == "keep") {
      EXPECT_EQ(set->keys.size(), 1u) << name << (warnings.empty() ? "" : ": " + warnings[0]);
      EXPECT_TRUE(warnings.empty()) << name;
      ++kept;
    } else {
      EXPECT_TRUE(set->keys.empty()) << name;
      ASSERT_EQ(warnings.size(), 1u) << name;
      EXPECT_NE(warnings[0].find(c.find("why")->asString()), std::string::npos)
          << name << ": " << warnings[0];
      EXPECT_NE(warnings[0].find("skipped"), std::string::npos) << name;
      ++skipped;
    }
  }
  EXPECT_GE(kept, 5);
  EXPECT_GE(skipped, 25);
}

TEST(JwksTest, DocumentErrors) {
  std::vector<std::string> warnings;
  EXPECT_FALSE(parseJwks("", warnings).isOk());
  EXPECT_FALSE(parseJwks("[]", warnings).isOk());
  EXPECT_FALSE(parseJwks("{}", warnings).isOk());
  EXPECT_FALSE(parseJwks(R"({"keys":{}})", warnings).isOk());
  EXPECT_FALSE(parseJwks(R"({"keys":[],"keys":[]})", warnings).isOk());
  EXPECT_FALSE(parseJwks(R"({"keys":[{"kty":"RSA","kty":"EC"}]})", warnings).isOk());
  EXPECT_FALSE(parseJwks(std::string(2 << 20, ' ') + "{}", warnings).isOk());
  StatusOr<KeySet> empty = parseJwks(R"({"keys":[]})", warnings);
  ASSERT_TRUE(empty.isOk());
  EXPECT_TRUE(empty->keys.empty());
  EXPECT_TRUE(warnings.empty());
}

TEST(JwksTest, DuplicateKidWarnsAndKeepsBoth) {
  const JsonValue jwks = fixtureJson("jwks.json");
  const JsonValue& rsa = jwks.find("keys")->asArray()[0];
  std::vector<std::string> warnings;
  StatusOr<KeySet> set =
      parseJwks("{\"keys\":[" + jsonText(rsa) + "," + jsonText(rsa) + "]}", warnings);
  ASSERT_TRUE(set.isOk());
  EXPECT_EQ(set->keys.size(), 2u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("same kid"), std::string::npos);
}

TEST(JwkFitsTest, KeyTypesAndAlgorithms) {
  std::vector<std::string> warnings;
  StatusOr<KeySet> set = parseJwks(readFixture("jwks.json"), warnings);
  ASSERT_TRUE(set.isOk());
  const Jwk& rsa = set->keys[0];
  const Jwk& rsa_rs256 = set->keys[1];
  const Jwk& p256 = set->keys[2];
  const Jwk& p384 = set->keys[3];
  const Jwk& p521 = set->keys[4];
  const Jwk& ed = set->keys[5];
  for (JwsAlg a : {JwsAlg::kRS256, JwsAlg::kRS384, JwsAlg::kRS512, JwsAlg::kPS256,
                   JwsAlg::kPS384, JwsAlg::kPS512}) {
    EXPECT_TRUE(rsa.fits(a));
    EXPECT_FALSE(p256.fits(a));
    EXPECT_FALSE(ed.fits(a));
  }
  EXPECT_TRUE(rsa_rs256.fits(JwsAlg::kRS256));
  EXPECT_FALSE(rsa_rs256.fits(JwsAlg::kRS384));
  EXPECT_FALSE(rsa_rs256.fits(JwsAlg::kPS256));
  EXPECT_TRUE(p256.fits(JwsAlg::kES256));
  EXPECT_FALSE(p256.fits(JwsAlg::kES384));
  EXPECT_TRUE(p384.fits(JwsAlg::kES384));
  EXPECT_FALSE(p384.fits(JwsAlg::kES512));
  EXPECT_TRUE(p521.fits(JwsAlg::kES512));
  EXPECT_TRUE(ed.fits(JwsAlg::kEdDSA));
  EXPECT_FALSE(ed.fits(JwsAlg::kES256));
  for (const Jwk* k : {&rsa, &p256, &ed}) {
    EXPECT_FALSE(k->fits(JwsAlg::kHS256));
    EXPECT_FALSE(k->fits(JwsAlg::kHS512));
  }
}

TEST(KeySetTest, Candidates) {
  std::vector<std::string> warnings;
  StatusOr<KeySet> set = parseJwks(readFixture("jwks.json"), warnings);
  ASSERT_TRUE(set.isOk());
  auto kids = [&](std::string_view kid, JwsAlg alg) {
    std::vector<std::string> out;
    for (const Jwk* k : set->candidates(kid, alg)) out.push_back(k->kid);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(kids("rsa-1", JwsAlg::kRS256), V{"rsa-1"});
  EXPECT_EQ(kids("", JwsAlg::kRS256), (V{"rsa-1", "rsa-alg"}));
  EXPECT_EQ(kids("", JwsAlg::kPS256), V{"rsa-1"});
  EXPECT_EQ(kids("ec-256", JwsAlg::kRS256), V{});
  EXPECT_EQ(kids("unknown", JwsAlg::kRS256), V{});
  EXPECT_EQ(kids("", JwsAlg::kES384), V{"ec-384"});
  EXPECT_EQ(kids("", JwsAlg::kHS256), V{});
}

TEST(JwsAlgTest, Names) {
  for (const char* name : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                           "ES512", "EdDSA", "HS256", "HS384", "HS512"}) {
    JwsAlg alg;
    ASSERT_TRUE(parseJwsAlg(name, alg)) << name;
    EXPECT_STREQ(jwsAlgName(alg), name);
  }
  JwsAlg alg;
  for (const char* name : {"none", "NONE", "", "rs256", "ES256K", "Ed25519", "EDDSA", "RS256 "}) {
    EXPECT_FALSE(parseJwsAlg(name, alg)) << name;
  }
}

}  // namespace
}  // namespace stepgate::identity
