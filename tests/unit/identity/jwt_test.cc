#include "identity/jwt.h"

#include <gtest/gtest.h>

#include <string>

#include "identity/auth_error.h"

namespace stepgate::identity {
namespace {

std::string b64(std::string_view s) { return base64UrlEncode(s); }

TEST(Base64UrlTest, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}, {"\xff\xfe\xfd", "__79"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(b64(plain), encoded);
    std::string out = "junk";
    ASSERT_TRUE(base64UrlDecode(encoded, out)) << encoded;
    EXPECT_EQ(out, plain);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string back;
  ASSERT_TRUE(base64UrlDecode(b64(all), back));
  EXPECT_EQ(back, all);
}

TEST(Base64UrlTest, Strict) {
  std::string out;
  for (const char* bad : {"Zg==", "Zg=", "Zm8=", "Z", "Zm9vY", "Zm+v", "Zm/v", "Zm9 v", "Zm9v\n",
                          " Zm9v", "Zm9v\r\n", "Zm.v", "Zm9v!", "Zh", "Zm9", "Zm-"}) {
    EXPECT_FALSE(base64UrlDecode(bad, out)) << bad;
  }
  // "Zg" is the one spelling of "f"; "Zh".."Zv" carry non-zero trailing bits.
  EXPECT_TRUE(base64UrlDecode("Zg", out));
  EXPECT_TRUE(base64UrlDecode("Zm8", out));
  EXPECT_FALSE(base64UrlDecode("Zm9", out));
  EXPECT_FALSE(base64UrlDecode(std::string_view("Zg\0", 3), out));
}

std::string tokenOf(std::string_view header, std::string_view claims,
                    std::string_view sig = "sig") {
  return b64(header) + "." + b64(claims) + "." + b64(sig);
}

std::optional<AuthError> parse(const std::string& token, Jwt& jwt, uint32_t max = 8192) {
  return parseJwt(token, jwt, max);
}

TEST(JwtParseTest, ReadsHeaderAndClaims) {
  const std::string token =
      tokenOf(R"({"alg":"ES256","kid":"k1","typ":"at+jwt","jku":"https://evil"})",
              R"({"iss":"https://idp","sub":"alice"})", "signature-bytes");
  Jwt jwt;
  ASSERT_EQ(parse(token, jwt), std::nullopt);
  EXPECT_EQ(jwt.alg, JwsAlg::kES256);
  EXPECT_EQ(jwt.kid, "k1");
  EXPECT_TRUE(jwt.has_kid);
  EXPECT_EQ(jwt.typ, "at+jwt");
  EXPECT_TRUE(jwt.crit.empty());
  EXPECT_EQ(jwt.signature, "signature-bytes");
  EXPECT_EQ(jwt.claims.find("sub")->asString(), "alice");
  EXPECT_EQ(jwt.signing_input, token.substr(0, token.rfind('.')));
}

TEST(JwtParseTest, Errors) {
  Jwt jwt;
  const std::string h = R"({"alg":"RS256"})";
  const std::string c = R"({"sub":"a"})";
  EXPECT_EQ(parse(tokenOf(h, c), jwt, 10), AuthError::kTokenTooLarge);
  EXPECT_EQ(parse(b64(h) + "." + b64(c), jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(tokenOf(h, c) + ".x", jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse("", jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse("..", jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse("." + b64(c) + ".", jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(b64(h) + "..", jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(b64(h) + "=." + b64(c) + ".", jwt), AuthError::kBadBase64);
  EXPECT_EQ(parse(b64(h) + "." + b64(c) + ".a+b", jwt), AuthError::kBadBase64);
  EXPECT_EQ(parse(tokenOf("[]", c), jwt), AuthError::kBadJson);
  EXPECT_EQ(parse(tokenOf(h, "\"sub\""), jwt), AuthError::kBadJson);
  EXPECT_EQ(parse(tokenOf(h, "{"), jwt), AuthError::kBadJson);
  EXPECT_EQ(parse(tokenOf(h, R"({"a":)" + std::string(40, '[') + std::string(40, ']') + "}"), jwt),
            AuthError::kBadJson);
  EXPECT_EQ(parse(tokenOf(R"({"alg":"RS256","alg":"RS256"})", c), jwt),
            AuthError::kDuplicateClaim);
  EXPECT_EQ(parse(tokenOf(h, R"({"sub":"a","sub":"a"})"), jwt), AuthError::kDuplicateClaim);
  EXPECT_EQ(parse(tokenOf(R"({"typ":"JWT"})", c), jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(tokenOf(R"({"alg":null})", c), jwt), AuthError::kMalformedToken);
  for (const char* alg : {"none", "None", "NONE", "rs256", "HS1", "RSA-OAEP", "ES256K", "Ed25519",
                          "EdDSA ", ""}) {
    EXPECT_EQ(parse(tokenOf(std::string(R"({"alg":")") + alg + "\"}", c), jwt),
              AuthError::kUnsupportedAlg)
        << alg;
  }
  EXPECT_EQ(parse(tokenOf(R"({"alg":"RS256","kid":7})", c), jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(tokenOf(R"({"alg":"RS256","typ":["JWT"]})", c), jwt), AuthError::kMalformedToken);
}

TEST(JwtParseTest, Crit) {
  Jwt jwt;
  const std::string c = R"({"sub":"a"})";
  ASSERT_EQ(parse(tokenOf(R"({"alg":"RS256","crit":["exp","b64"]})", c), jwt), std::nullopt);
  EXPECT_EQ(jwt.crit, (std::vector<std::string>{"exp", "b64"}));
  EXPECT_EQ(parse(tokenOf(R"({"alg":"RS256","crit":[]})", c), jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(tokenOf(R"({"alg":"RS256","crit":"exp"})", c), jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(tokenOf(R"({"alg":"RS256","crit":[1]})", c), jwt), AuthError::kMalformedToken);
  EXPECT_EQ(parse(tokenOf(R"({"alg":"RS256","crit":[""]})", c), jwt), AuthError::kMalformedToken);
}

TEST(JwtParseTest, EmptySignatureIsLeftToTheVerifier) {
  Jwt jwt;
  ASSERT_EQ(parse(b64(R"({"alg":"RS256"})") + "." + b64("{}") + ".", jwt), std::nullopt);
  EXPECT_TRUE(jwt.signature.empty());
}

TEST(JwtPeekIssuerTest, ReadsIssWithoutVerifying) {
  EXPECT_EQ(peekIssuer(tokenOf(R"({"alg":"none"})", R"({"iss":"https://idp"})")), "https://idp");
  EXPECT_EQ(peekIssuer(tokenOf("garbage", R"({"iss":"https://idp"})")), "https://idp");
  EXPECT_EQ(peekIssuer(tokenOf("{}", R"({"iss":7})")), std::nullopt);
  EXPECT_EQ(peekIssuer(tokenOf("{}", R"({"sub":"a"})")), std::nullopt);
  EXPECT_EQ(peekIssuer(tokenOf("{}", R"({"iss":"a","iss":"b"})")), std::nullopt);
  EXPECT_EQ(peekIssuer(tokenOf("{}", R"(["iss"])")), std::nullopt);
  EXPECT_EQ(peekIssuer(b64("{}") + "." + b64(R"({"iss":"a"})")), std::nullopt);
  EXPECT_EQ(peekIssuer(b64("{}") + "." + b64(R"({"iss":"a"})") + "=.x"), std::nullopt);
  EXPECT_EQ(peekIssuer(tokenOf("{}", R"({"iss":"a"})"), 10), std::nullopt);
  EXPECT_EQ(peekIssuer(std::string(1 << 20, 'a')), std::nullopt);
}

}  // namespace
}  // namespace stepgate::identity
