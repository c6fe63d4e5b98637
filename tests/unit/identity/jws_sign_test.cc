// signJws: every algorithm it signs, verified with the project's verifyJwsSignature against
// the public half alone, and for ES256, RS256 and PS256 with a key made by the openssl CLI and
// a signature checked by `openssl dgst -verify`; keys that do not fit an algorithm; and the
// RFC 7638 thumbprint against the RFC's own example.

#include "identity/jws_sign.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "identity/jws_verify.h"
#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

namespace fs = std::filesystem;

constexpr char kClaims[] = R"({"iss":"https://idp.example.com","sub":"alice","exp":1700000060})";

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("stepgate-jws-sign-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
    return path(name);
  }

 private:
  fs::path path_;
};

EvpPkeyPtr generate(JwsAlg alg) {
  EVP_PKEY* key = nullptr;
  switch (alg) {
    case JwsAlg::kES256: key = EVP_EC_gen("P-256"); break;
    case JwsAlg::kES384: key = EVP_EC_gen("P-384"); break;
    case JwsAlg::kES512: key = EVP_EC_gen("P-521"); break;
    case JwsAlg::kEdDSA: key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
    default: key = EVP_RSA_gen(2048); break;
  }
  return EvpPkeyPtr(key, EVP_PKEY_free);
}

// A Jwk holding only the public half of `key` (a DER SubjectPublicKeyInfo round trip).
Jwk publicJwk(EVP_PKEY* key, JwsAlg alg) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  const unsigned char* p = der;
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, len);
  OPENSSL_free(der);
  Jwk jwk;
  jwk.public_key = EvpPkeyPtr(pub, EVP_PKEY_free);
  const std::string name = jwsAlgName(alg);
  if (name[0] == 'R' || name[0] == 'P') {
    jwk.kty = "RSA";
  } else if (alg == JwsAlg::kEdDSA) {
    jwk.kty = "OKP";
    jwk.crv = "Ed25519";
  } else {
    jwk.kty = "EC";
    jwk.crv = alg == JwsAlg::kES256 ? "P-256" : alg == JwsAlg::kES384 ? "P-384" : "P-521";
  }
  return jwk;
}

std::string headerFor(JwsAlg alg) {
  return std::string(R"({"alg":")") + jwsAlgName(alg) + R"(","typ":"JWT"})";
}

struct Parts {
  std::string signing_input;
  std::string header, claims, signature;  // decoded
};

Parts split(const std::string& token) {
  Parts p;
  const size_t first = token.find('.');
  const size_t second = token.find('.', first + 1);
  EXPECT_NE(second, std::string::npos) << token;
  if (second == std::string::npos) return p;
  p.signing_input = token.substr(0, second);
  EXPECT_TRUE(base64UrlDecode(token.substr(0, first), p.header));
  EXPECT_TRUE(base64UrlDecode(token.substr(first + 1, second - first - 1), p.claims));
  EXPECT_TRUE(base64UrlDecode(token.substr(second + 1), p.signature));
  return p;
}

class JwsSignTest : public ::testing::TestWithParam<JwsAlg> {};

TEST_P(JwsSignTest, SignatureVerifiesWithThePublicKeyAlone) {
  const JwsAlg alg = GetParam();
  EvpPkeyPtr key = generate(alg);
  ASSERT_NE(key, nullptr);
  ASSERT_TRUE(checkSigningKey(key.get(), alg).isOk());
  auto token = signJws(key.get(), alg, headerFor(alg), kClaims);
  ASSERT_TRUE(token.isOk()) << token.status().message();
  const Parts parts = split(*token);
  EXPECT_EQ(parts.header, headerFor(alg));
  EXPECT_EQ(parts.claims, kClaims);
  const Jwk jwk = publicJwk(key.get(), alg);
  ASSERT_TRUE(jwk.fits(alg));
  EXPECT_TRUE(verifyJwsSignature(alg, parts.signing_input, parts.signature, jwk));
  // The signature covers the claims: one changed byte fails.
  std::string tampered = parts.signing_input;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifyJwsSignature(alg, tampered, parts.signature, jwk));
  // Another key of the same kind does not verify it.
  EvpPkeyPtr other = generate(alg);
  EXPECT_FALSE(
      verifyJwsSignature(alg, parts.signing_input, parts.signature, publicJwk(other.get(), alg)));
}

TEST_P(JwsSignTest, SignaturesHaveTheJwsLength) {
  const JwsAlg alg = GetParam();
  EvpPkeyPtr key = generate(alg);
  auto token = signJws(key.get(), alg, headerFor(alg), kClaims);
  ASSERT_TRUE(token.isOk());
  const size_t size = split(*token).signature.size();
  switch (alg) {
    case JwsAlg::kES256: EXPECT_EQ(size, 64u); break;   // raw R||S, not DER
    case JwsAlg::kES384: EXPECT_EQ(size, 96u); break;
    case JwsAlg::kES512: EXPECT_EQ(size, 132u); break;
    case JwsAlg::kEdDSA: EXPECT_EQ(size, 64u); break;
    default: EXPECT_EQ(size, 256u); break;              // RSA 2048
  }
}

INSTANTIATE_TEST_SUITE_P(EveryAlgorithm, JwsSignTest,
                         ::testing::Values(JwsAlg::kRS256, JwsAlg::kRS384, JwsAlg::kRS512,
                                           JwsAlg::kPS256, JwsAlg::kPS384, JwsAlg::kPS512,
                                           JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512,
                                           JwsAlg::kEdDSA),
                         [](const ::testing::TestParamInfo<JwsAlg>& info) {
                           return std::string(jwsAlgName(info.param));
                         });

// ---- checked by the openssl CLI ------------------------------------------------------------

EvpPkeyPtr readPem(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return nullptr;
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return EvpPkeyPtr(key, EVP_PKEY_free);
}

// DER ECDSA-Sig-Value from a JWS R||S signature, for `openssl dgst -verify`.
std::string rawToDer(const std::string& raw) {
  const size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(half), nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + half,
                           static_cast<int>(half), nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

struct CliCase {
  JwsAlg alg;
  const char* genpkey;  // openssl genpkey arguments
  const char* sigopts;  // extra openssl dgst arguments
};

void signAndVerifyWithCli(const CliCase& c) {
  TempDir dir;
  const std::string key_path = dir.path("key.pem");
  const std::string pub_path = dir.path("pub.pem");
  const std::string gen = std::string("openssl genpkey ") + c.genpkey + " -out " + key_path +
                          " 2>/dev/null && openssl pkey -in " + key_path + " -pubout -out " +
                          pub_path + " 2>/dev/null";
  ASSERT_EQ(std::system(gen.c_str()), 0) << "openssl CLI failed: " << gen;
  EvpPkeyPtr key = readPem(key_path);
  ASSERT_NE(key, nullptr);
  auto token = signJws(key.get(), c.alg, headerFor(c.alg), kClaims);
  ASSERT_TRUE(token.isOk()) << token.status().message();
  const Parts parts = split(*token);
  const std::string input = dir.write("input", parts.signing_input);
  const std::string sig = dir.write(
      "sig", c.alg == JwsAlg::kES256 ? rawToDer(parts.signature) : parts.signature);
  const std::string verify = std::string("openssl dgst -sha256 ") + c.sigopts + " -verify " +
                             pub_path + " -signature " + sig + " " + input + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0) << "openssl did not verify " << jwsAlgName(c.alg);
  // And the CLI refuses a tampered input, so the check above means something.
  dir.write("input", parts.signing_input + "x");
  EXPECT_NE(std::system(verify.c_str()), 0);
}

TEST(JwsSignCliTest, Es256VerifiedByOpensslDgst) {
  signAndVerifyWithCli({JwsAlg::kES256, "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", ""});
}

TEST(JwsSignCliTest, Rs256VerifiedByOpensslDgst) {
  signAndVerifyWithCli({JwsAlg::kRS256, "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", ""});
}

TEST(JwsSignCliTest, Ps256VerifiedByOpensslDgst) {
  signAndVerifyWithCli({JwsAlg::kPS256, "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
                        "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 "
                        "-sigopt rsa_mgf1_md:sha256"});
}

// ---- keys that do not fit ------------------------------------------------------------------

void expectMismatch(EVP_PKEY* key, JwsAlg alg, const std::string& fragment) {
  const Status s = checkSigningKey(key, alg);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << jwsAlgName(alg);
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  auto token = signJws(key, alg, headerFor(alg), kClaims);
  EXPECT_FALSE(token.isOk());
  EXPECT_EQ(token.status().code(), StatusCode::kInvalidArgument);
}

TEST(JwsSignKeyTest, KeysThatDoNotFitAreRefused) {
  EvpPkeyPtr rsa = generate(JwsAlg::kRS256);
  EvpPkeyPtr p256 = generate(JwsAlg::kES256);
  EvpPkeyPtr p384 = generate(JwsAlg::kES384);
  EvpPkeyPtr ed = generate(JwsAlg::kEdDSA);
  EvpPkeyPtr rsa1024(EVP_RSA_gen(1024), EVP_PKEY_free);
  expectMismatch(rsa.get(), JwsAlg::kES256, "ES256 needs an EC P-256 key; this is an RSA key");
  expectMismatch(p384.get(), JwsAlg::kES256, "ES256 needs an EC P-256 key; this is an EC P-384 key");
  expectMismatch(p256.get(), JwsAlg::kES384, "ES384 needs an EC P-384 key; this is an EC P-256 key");
  expectMismatch(p256.get(), JwsAlg::kRS256, "RS256 needs an RSA key of at least 2048 bits");
  expectMismatch(ed.get(), JwsAlg::kPS256, "this is an Ed25519 key");
  expectMismatch(rsa1024.get(), JwsAlg::kRS256, "this is an RSA key of 1024 bits");
  expectMismatch(p256.get(), JwsAlg::kEdDSA, "EdDSA needs an Ed25519 key; this is an EC P-256");
  expectMismatch(rsa.get(), JwsAlg::kHS256, "HS256 is not a signing algorithm here");
}

// ---- RFC 7638 thumbprints ------------------------------------------------------------------

TEST(JwkThumbprintTest, Rfc7638Example) {
  // RFC 7638 section 3.1: this RSA key's thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
  const std::string jwks =
      R"({"keys":[{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29","n":")"
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
      "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
      "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
      "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
      R"("}]})";
  std::vector<std::string> warnings;
  auto set = parseJwks(jwks, warnings);
  ASSERT_TRUE(set.isOk()) << set.status().message();
  ASSERT_EQ(set->keys.size(), 1u);
  auto thumbprint = jwkThumbprint(set->keys[0].public_key.get());
  ASSERT_TRUE(thumbprint.isOk()) << thumbprint.status().message();
  EXPECT_EQ(*thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(JwkThumbprintTest, EcAndEd25519KeysHaveOneAndUnknownKindsNone) {
  for (JwsAlg alg : {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512, JwsAlg::kEdDSA}) {
    EvpPkeyPtr key = generate(alg);
    auto a = jwkThumbprint(key.get());
    ASSERT_TRUE(a.isOk()) << jwsAlgName(alg);
    EXPECT_EQ(a->size(), 43u);  // 32 bytes base64url
    // The private and the public half give the same thumbprint.
    auto b = jwkThumbprint(publicJwk(key.get(), alg).public_key.get());
    ASSERT_TRUE(b.isOk());
    EXPECT_EQ(*a, *b);
    EXPECT_NE(*a, *jwkThumbprint(generate(alg).get()));
  }
  EvpPkeyPtr x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"), EVP_PKEY_free);
  EXPECT_EQ(jwkThumbprint(x25519.get()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stepgate::identity
