// Introspector with private_key_jwt client authentication (RFC 7523 section 2.2): the form
// fields it sends and the absent Authorization header, the client assertion's header and
// claims, its signature checked by the openssl CLI (RS256) and by verifyJwsSignature against
// the public half alone (every algorithm), a fresh jti per call, and the errors of create()
// for keys that are missing, unreadable, encrypted or of the wrong kind.

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "identity/introspection.h"
#include "common/json.h"
#include "identity/jws_sign.h"
#include "identity/jws_verify.h"
#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kToken[] = "opaque-token-0123456789";
constexpr char kClientId[] = "stepgate-gw";
constexpr char kIssuer[] = "https://idp.example.net";
constexpr char kEndpoint[] = "https://idp.example.net/oauth2/introspect";
constexpr char kJwtBearer[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("stepgate-pkjwt-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
    fs::permissions(path(name), fs::perms::owner_read | fs::perms::owner_write);
    return path(name);
  }

 private:
  fs::path path_;
};

struct RecordedCall {
  std::string url;
  FormFields form;
  RequestHeaders headers;
};

// Records every POST and answers it with an active token for alice.
class RecordingFetcher : public Fetcher {
 public:
  StatusOr<HttpResponse> get(const std::string&, const FetchOptions&) override {
    return unavailable("get is not used by the Introspector");
  }
  StatusOr<HttpResponse> postForm(const std::string& url, const FormFields& form,
                                  const RequestHeaders& headers, const FetchOptions&) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back({url, form, headers});
    HttpResponse r;
    r.status = 200;
    r.body = R"({"active":true,"sub":"alice","exp":)" + std::to_string(kNow + 86400) + "}";
    return r;
  }
  RecordedCall call(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.at(i);
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }

 private:
  std::mutex mu_;
  std::vector<RecordedCall> calls_;
};

// The PEM of a fresh private key for `alg`, made by the openssl CLI; "" if the CLI failed.
std::string cliKey(const TempDir& dir, const std::string& name, const std::string& genpkey) {
  const std::string path = dir.path(name);
  const std::string cmd = "openssl genpkey " + genpkey + " -out " + path + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  return path;
}

std::string genpkeyFor(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kES256: return "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
    case JwsAlg::kES384: return "-algorithm EC -pkeyopt ec_paramgen_curve:P-384";
    case JwsAlg::kEdDSA: return "-algorithm ED25519";
    default: return "-algorithm RSA -pkeyopt rsa_keygen_bits:2048";
  }
}

EvpPkeyPtr readPublicKey(const std::string& private_pem_path) {
  FILE* f = std::fopen(private_pem_path.c_str(), "rb");
  if (f == nullptr) return nullptr;
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  // Keep only the public half: a DER SubjectPublicKeyInfo round trip.
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  EVP_PKEY_free(key);
  const unsigned char* p = der;
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, len);
  OPENSSL_free(der);
  return EvpPkeyPtr(pub, EVP_PKEY_free);
}

Jwk publicJwk(const std::string& private_pem_path, JwsAlg alg) {
  Jwk jwk;
  jwk.public_key = readPublicKey(private_pem_path);
  switch (alg) {
    case JwsAlg::kES256: jwk.kty = "EC", jwk.crv = "P-256"; break;
    case JwsAlg::kES384: jwk.kty = "EC", jwk.crv = "P-384"; break;
    case JwsAlg::kEdDSA: jwk.kty = "OKP", jwk.crv = "Ed25519"; break;
    default: jwk.kty = "RSA"; break;
  }
  return jwk;
}

std::string formValue(const FormFields& form, const std::string& name) {
  for (const auto& [k, v] : form) {
    if (k == name) return v;
  }
  return "";
}

struct Assertion {
  std::string signing_input;
  std::string signature;
  JsonValue header;
  JsonValue claims;
};

Assertion decode(const std::string& jwt) {
  Assertion a;
  const size_t first = jwt.find('.');
  const size_t second = jwt.find('.', first + 1);
  EXPECT_NE(second, std::string::npos);
  if (second == std::string::npos) return a;
  a.signing_input = jwt.substr(0, second);
  std::string header, claims;
  EXPECT_TRUE(base64UrlDecode(jwt.substr(0, first), header));
  EXPECT_TRUE(base64UrlDecode(jwt.substr(first + 1, second - first - 1), claims));
  EXPECT_TRUE(base64UrlDecode(jwt.substr(second + 1), a.signature));
  auto h = parseJson(header);
  auto c = parseJson(claims);
  EXPECT_TRUE(h.isOk() && c.isOk()) << header << " " << claims;
  if (h.isOk()) a.header = std::move(h).value();
  if (c.isOk()) a.claims = std::move(c).value();
  return a;
}

std::string stringOf(const JsonValue& object, const char* name) {
  const JsonValue* v = object.find(name);
  return v != nullptr && v->isString() ? v->asString() : "";
}

int64_t intOf(const JsonValue& object, const char* name) {
  const JsonValue* v = object.find(name);
  return v != nullptr && v->isInt() ? v->asInt() : -1;
}

class PrivateKeyJwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_.name = "partners";
    provider_.type = config::ProviderType::kIntrospection;
    provider_.issuer = kIssuer;
    provider_.introspection_endpoint = kEndpoint;
    provider_.client_id = kClientId;
    provider_.client_auth = config::IntrospectionClientAuth::kPrivateKeyJwt;
    provider_.client_key_alg = "ES256";
    time_.setSystemTime(SystemTime(std::chrono::seconds(kNow)));
  }

  // Sets client_key_file to a fresh CLI-made key for `alg`.
  void useKey(JwsAlg alg) {
    provider_.client_key_alg = jwsAlgName(alg);
    provider_.client_key_file = cliKey(dir_, std::string(jwsAlgName(alg)) + ".pem",
                                       genpkeyFor(alg));
    ASSERT_FALSE(provider_.client_key_file.empty()) << "openssl CLI failed";
  }

  // Introspects `calls` distinct tokens, one after the other, each answered active.
  void introspect(size_t calls = 1) {
    auto in = Introspector::create(provider_, fetcher_, time_, {1, 0});
    ASSERT_TRUE(in.isOk()) << in.status().toString();
    (*in)->start();
    for (size_t i = 0; i < calls; ++i) {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      IntrospectionResult result;
      (*in)->introspect(kToken + std::to_string(i), [&](IntrospectionResult r) {
        std::lock_guard<std::mutex> lock(mu);
        result = std::move(r);
        done = true;
        cv.notify_all();
      });
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return done; }));
      EXPECT_TRUE(result.ok());
    }
    ASSERT_EQ(fetcher_.count(), calls);
  }

  StatusOr<IntrospectorPtr> create() { return Introspector::create(provider_, fetcher_, time_); }

  TempDir dir_;
  config::ProviderConfig provider_;
  RecordingFetcher fetcher_;
  ManualTimeSource time_;
};

TEST_F(PrivateKeyJwtTest, SendsTheAssertionInTheFormAndNoAuthorizationHeader) {
  useKey(JwsAlg::kES256);
  introspect();
  const RecordedCall call = fetcher_.call(0);
  EXPECT_EQ(call.url, kEndpoint);
  ASSERT_EQ(call.form.size(), 5u);
  EXPECT_EQ(call.form[0], (std::pair<std::string, std::string>{"token", kToken + std::string("0")}));
  EXPECT_EQ(call.form[1], (std::pair<std::string, std::string>{"token_type_hint", "access_token"}));
  EXPECT_EQ(call.form[2], (std::pair<std::string, std::string>{"client_id", kClientId}));
  EXPECT_EQ(call.form[3], (std::pair<std::string, std::string>{"client_assertion_type", kJwtBearer}));
  EXPECT_EQ(call.form[4].first, "client_assertion");
  EXPECT_EQ(call.headers, (RequestHeaders{{"Accept", "application/json"}}));
}

TEST_F(PrivateKeyJwtTest, AssertionHeaderAndClaims) {
  useKey(JwsAlg::kES256);
  introspect();
  const Assertion a = decode(formValue(fetcher_.call(0).form, "client_assertion"));
  EXPECT_EQ(a.header.asObject().size(), 3u);
  EXPECT_EQ(stringOf(a.header, "alg"), "ES256");
  EXPECT_EQ(stringOf(a.header, "typ"), "JWT");
  // kid: the RFC 7638 thumbprint of the public key.
  auto thumbprint = jwkThumbprint(readPublicKey(provider_.client_key_file).get());
  ASSERT_TRUE(thumbprint.isOk());
  EXPECT_EQ(stringOf(a.header, "kid"), *thumbprint);

  EXPECT_EQ(stringOf(a.claims, "iss"), kClientId);
  EXPECT_EQ(stringOf(a.claims, "sub"), kClientId);
  const JsonValue* aud = a.claims.find("aud");
  ASSERT_TRUE(aud != nullptr && aud->isArray());
  ASSERT_EQ(aud->asArray().size(), 2u);
  EXPECT_EQ(aud->asArray()[0].asString(), kEndpoint);
  EXPECT_EQ(aud->asArray()[1].asString(), kIssuer);
  EXPECT_EQ(intOf(a.claims, "iat"), kNow);
  EXPECT_EQ(intOf(a.claims, "exp") - intOf(a.claims, "iat"), 60);
  std::string jti;
  ASSERT_TRUE(base64UrlDecode(stringOf(a.claims, "jti"), jti));
  EXPECT_EQ(jti.size(), 16u);
}

TEST_F(PrivateKeyJwtTest, EveryCallHasAFreshAssertion) {
  useKey(JwsAlg::kES256);
  introspect(2);
  const Assertion a = decode(formValue(fetcher_.call(0).form, "client_assertion"));
  const Assertion b = decode(formValue(fetcher_.call(1).form, "client_assertion"));
  EXPECT_NE(stringOf(a.claims, "jti"), "");
  EXPECT_NE(stringOf(a.claims, "jti"), stringOf(b.claims, "jti"));
  EXPECT_NE(a.signing_input, b.signing_input);
}

TEST_F(PrivateKeyJwtTest, IatFollowsTheTimeSource) {
  useKey(JwsAlg::kES256);
  time_.setSystemTime(SystemTime(std::chrono::seconds(kNow + 3600)));
  introspect();
  const Assertion a = decode(formValue(fetcher_.call(0).form, "client_assertion"));
  EXPECT_EQ(intOf(a.claims, "iat"), kNow + 3600);
  EXPECT_EQ(intOf(a.claims, "exp"), kNow + 3660);
}

// The RS256 assertion, checked by `openssl dgst -verify` with the public key the CLI wrote.
TEST_F(PrivateKeyJwtTest, Rs256AssertionVerifiedByTheOpensslCli) {
  useKey(JwsAlg::kRS256);
  introspect();
  const Assertion a = decode(formValue(fetcher_.call(0).form, "client_assertion"));
  EXPECT_EQ(stringOf(a.header, "alg"), "RS256");
  const std::string pub = dir_.path("rs256.pub.pem");
  ASSERT_EQ(std::system(("openssl pkey -in " + provider_.client_key_file + " -pubout -out " +
                         pub + " 2>/dev/null")
                            .c_str()),
            0);
  const std::string input = dir_.write("input", a.signing_input);
  const std::string sig = dir_.write("sig", a.signature);
  const std::string verify = "openssl dgst -sha256 -verify " + pub + " -signature " + sig + " " +
                             input + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0);
  dir_.write("input", a.signing_input + "x");
  EXPECT_NE(std::system(verify.c_str()), 0);
}

class PrivateKeyJwtAlgTest : public PrivateKeyJwtTest,
                             public ::testing::WithParamInterface<JwsAlg> {};

TEST_P(PrivateKeyJwtAlgTest, AssertionVerifiesWithThePublicKeyAlone) {
  const JwsAlg alg = GetParam();
  useKey(alg);
  introspect();
  const Assertion a = decode(formValue(fetcher_.call(0).form, "client_assertion"));
  EXPECT_EQ(stringOf(a.header, "alg"), jwsAlgName(alg));
  const Jwk jwk = publicJwk(provider_.client_key_file, alg);
  ASSERT_TRUE(jwk.fits(alg));
  EXPECT_TRUE(verifyJwsSignature(alg, a.signing_input, a.signature, jwk));
}

INSTANTIATE_TEST_SUITE_P(ConfiguredAlgorithms, PrivateKeyJwtAlgTest,
                         ::testing::Values(JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kRS256,
                                           JwsAlg::kPS256, JwsAlg::kEdDSA),
                         [](const ::testing::TestParamInfo<JwsAlg>& info) {
                           return std::string(jwsAlgName(info.param));
                         });

// ---- create() ------------------------------------------------------------------------------

TEST_F(PrivateKeyJwtTest, CreateRefusesKeysThatCannotSign) {
  auto expect = [&](StatusCode code, const std::string& fragment) {
    auto r = create();
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), code) << r.status().toString();
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find("PRIVATE KEY"), std::string::npos);
  };
  provider_.client_key_file.clear();
  expect(StatusCode::kInvalidArgument, "client_key_file is required with private_key_jwt");

  provider_.client_key_file = dir_.path("missing.pem");
  expect(StatusCode::kNotFound, "cannot open client_key_file");

  provider_.client_key_file = dir_.write("garbage.pem", "not a key\n");
  expect(StatusCode::kInvalidArgument, "holds no unencrypted PEM private key");

  // A public key is not a private key.
  const std::string priv = cliKey(dir_, "p256.pem", genpkeyFor(JwsAlg::kES256));
  ASSERT_FALSE(priv.empty());
  const std::string pub = dir_.path("p256.pub.pem");
  ASSERT_EQ(std::system(("openssl pkey -in " + priv + " -pubout -out " + pub).c_str()), 0);
  provider_.client_key_file = pub;
  expect(StatusCode::kInvalidArgument, "holds no unencrypted PEM private key");

  // An encrypted key is refused, without prompting for a passphrase.
  const std::string encrypted = dir_.path("encrypted.pem");
  ASSERT_EQ(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
                         "-aes256 -pass pass:secret -out " + encrypted + " 2>/dev/null")
                            .c_str()),
            0);
  provider_.client_key_file = encrypted;
  expect(StatusCode::kInvalidArgument, "holds no unencrypted PEM private key");

  // The key must fit client_key_alg.
  const std::string rsa = cliKey(dir_, "rsa.pem", genpkeyFor(JwsAlg::kRS256));
  provider_.client_key_file = rsa;
  provider_.client_key_alg = "ES256";
  expect(StatusCode::kInvalidArgument,
         "client_key_alg ES256 does not fit client_key_file " + rsa +
             ": ES256 needs an EC P-256 key; this is an RSA key of 2048 bits");
  provider_.client_key_file = priv;
  provider_.client_key_alg = "ES384";
  expect(StatusCode::kInvalidArgument, "ES384 needs an EC P-384 key; this is an EC P-256 key");
  provider_.client_key_alg = "EdDSA";
  expect(StatusCode::kInvalidArgument, "EdDSA needs an Ed25519 key");
  provider_.client_key_alg = "HS256";
  expect(StatusCode::kInvalidArgument, "client_key_alg 'HS256' is not a signing algorithm");
  provider_.client_key_alg = "none";
  expect(StatusCode::kInvalidArgument, "client_key_alg 'none' is not a signing algorithm");
}

TEST_F(PrivateKeyJwtTest, ClientSecretBasicStillSendsTheAuthorizationHeader) {
  provider_.client_auth = config::IntrospectionClientAuth::kClientSecretBasic;
  provider_.client_secret_file = dir_.write("secret", "s3cret\n");
  introspect();
  const RecordedCall call = fetcher_.call(0);
  ASSERT_EQ(call.form.size(), 2u);
  ASSERT_EQ(call.headers.size(), 2u);
  EXPECT_EQ(call.headers[0].first, "Authorization");
  EXPECT_EQ(call.headers[0].second.rfind("Basic ", 0), 0u);
}

}  // namespace
}  // namespace stepgate::identity
