// OIDC sign-in: discovery of the login endpoints, the authorization URL, strict callback
// parsing, the code exchange and refresh against a scripted Fetcher (client authentication,
// strict answers, provider errors, oversize answers) and ID tokens signed here with a fresh
// EC key (nonce, azp, at_hash, subject on refresh).

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/json.h"
#include "common/json_writer.h"
#include "identity/jws_sign.h"
#include "identity/jwt.h"
#include "identity/oidc_login.h"
#include "identity/token_verifier.h"
#include "tests/unit/identity/fake_fetcher.h"

namespace stepgate::identity {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://idp.example.com";
constexpr char kTokenEndpoint[] = "https://idp.example.com/token";
constexpr char kClientId[] = "stepgate-web";
constexpr char kSecret[] = "s3cr3t p@ss/=";
constexpr char kNonce[] = "nonce-0123456789abcdef";
constexpr char kVerifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";  // RFC 7636 app. B
constexpr char kCode[] = "SplxlOBeZQQYbYS6WxSbIA";
// at_hash of this access token for the *256 algorithms, computed with the openssl CLI:
// printf %s TOKEN | openssl dgst -sha256 -binary | head -c 16 | base64 (url alphabet, no pad).
constexpr char kAccessToken[] = "jHkWEdUXMU1BwAsC4vtUsZwnNgTwg1";
constexpr char kAtHash[] = "nSS96sSd-p24lsbhRvC-fw";

SystemTime at(int64_t s) {
  return SystemTime(std::chrono::seconds(s));
}

using testing::RecordedPost;
using testing::ScriptedFetcher;
using testing::TempDir;

const std::string* field(const FormFields& f, std::string_view name) {
  for (const auto& [n, v] : f) {
    if (n == name) return &v;
  }
  return nullptr;
}

// ---- ID tokens signed with a fresh P-256 key -------------------------------------------

EvpPkeyPtr newEcKey() {
  return EvpPkeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free);
}

KeySet keySetOf(const EvpPkeyPtr& key) {
  KeySet ks;
  Jwk jwk;
  jwk.kid = "k1";
  jwk.kty = "EC";
  jwk.crv = "P-256";
  jwk.public_key = key;
  ks.keys.push_back(jwk);
  return ks;
}

config::ProviderConfig provider() {
  config::ProviderConfig p;
  p.name = "idp";
  p.issuer = kIssuer;
  p.algorithms = {"ES256"};
  p.audiences = {"some-api"};  // replaced by the client id for ID tokens
  p.typ = "at+jwt";            // not applied to ID tokens
  return p;
}

// Claims as raw JSON members, without the braces; the defaults are a valid ID token.
std::string idClaims(const std::string& extra = "", const std::string& aud = "\"stepgate-web\"",
                     const std::string& nonce = kNonce) {
  std::string c = "{\"iss\":\"https://idp.example.com\",\"sub\":\"alice\",\"aud\":" + aud +
                  ",\"iat\":" + std::to_string(kNow - 10) +
                  ",\"exp\":" + std::to_string(kNow + 300);
  if (!nonce.empty()) {
    c += ",\"nonce\":";
    json::appendString(c, nonce);
  }
  if (!extra.empty()) c += "," + extra;
  return c + "}";
}

class OidcIdTokenTest : public ::testing::Test {
 protected:
  OidcIdTokenTest() : key_(newEcKey()), keys_(keySetOf(key_)) {}

  std::string sign(const std::string& claims) {
    auto t = signJws(key_.get(), JwsAlg::kES256, R"({"alg":"ES256","kid":"k1","typ":"JWT"})",
                     claims);
    EXPECT_TRUE(t.isOk()) << t.status().toString();
    return t.isOk() ? *t : "";
  }
  IdTokenExpectations expect() {
    IdTokenExpectations e;
    e.client_id = kClientId;
    e.expected_nonce = kNonce;
    return e;
  }
  std::string_view code(const StatusOr<Principal>& r) { return loginErrorCode(r.status()); }

  EvpPkeyPtr key_;
  KeySet keys_;
};

TEST_F(OidcIdTokenTest, GoodTokenMapsToPrincipal) {
  auto r = verifyIdToken(sign(idClaims("\"email\":\"a@example.com\"")), provider(), keys_,
                         expect(), at(kNow));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->subject, "alice");
  EXPECT_EQ(r->email, "a@example.com");
  EXPECT_EQ(r->issuer, kIssuer);
  EXPECT_EQ(r->provider, "idp");
}

TEST_F(OidcIdTokenTest, WrongOrMissingNonceRefused) {
  auto r = verifyIdToken(sign(idClaims("", "\"stepgate-web\"", "other-nonce-0123456789")),
                         provider(), keys_, expect(), at(kNow));
  EXPECT_EQ(code(r), "id_token_nonce_mismatch");
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  r = verifyIdToken(sign(idClaims("", "\"stepgate-web\"", "")), provider(), keys_, expect(),
                    at(kNow));
  EXPECT_EQ(code(r), "id_token_nonce_mismatch");
  // Same length, one byte off.
  std::string near(kNonce);
  near.back() = 'g';
  r = verifyIdToken(sign(idClaims("", "\"stepgate-web\"", near)), provider(), keys_, expect(),
                    at(kNow));
  EXPECT_EQ(code(r), "id_token_nonce_mismatch");
  r = verifyIdToken(sign(idClaims("", "\"stepgate-web\"", "").insert(1, "\"nonce\":5,")),
                    provider(), keys_, expect(), at(kNow));
  EXPECT_EQ(code(r), "id_token_nonce_mismatch");
}

TEST_F(OidcIdTokenTest, AudienceMustBeTheClient) {
  auto r = verifyIdToken(sign(idClaims("", "\"some-api\"")), provider(), keys_, expect(),
                         at(kNow));
  EXPECT_EQ(code(r), "wrong_audience");
}

TEST_F(OidcIdTokenTest, AzpRules) {
  // Several audiences: azp required and equal to the client.
  auto r = verifyIdToken(sign(idClaims("", R"(["stepgate-web","other"])")), provider(), keys_,
                         expect(), at(kNow));
  EXPECT_EQ(code(r), "id_token_azp_mismatch");
  r = verifyIdToken(sign(idClaims(R"("azp":"other")", R"(["stepgate-web","other"])")),
                    provider(), keys_, expect(), at(kNow));
  EXPECT_EQ(code(r), "id_token_azp_mismatch");
  r = verifyIdToken(sign(idClaims(R"("azp":"stepgate-web")", R"(["stepgate-web","other"])")),
                    provider(), keys_, expect(), at(kNow));
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  // One audience: azp optional, but when present it must be the client.
  r = verifyIdToken(sign(idClaims(R"("azp":"other")")), provider(), keys_, expect(), at(kNow));
  EXPECT_EQ(code(r), "id_token_azp_mismatch");
  r = verifyIdToken(sign(idClaims("", R"(["stepgate-web"])")), provider(), keys_, expect(),
                    at(kNow));
  EXPECT_TRUE(r.isOk()) << r.status().toString();
}

TEST_F(OidcIdTokenTest, AtHash) {
  IdTokenExpectations e = expect();
  e.access_token = kAccessToken;
  auto r = verifyIdToken(sign(idClaims(std::string("\"at_hash\":\"") + kAtHash + "\"")),
                         provider(), keys_, e, at(kNow));
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  e.access_token = "another-access-token";
  r = verifyIdToken(sign(idClaims(std::string("\"at_hash\":\"") + kAtHash + "\"")), provider(),
                    keys_, e, at(kNow));
  EXPECT_EQ(code(r), "id_token_at_hash_mismatch");
  e.access_token = kAccessToken;
  r = verifyIdToken(sign(idClaims("\"at_hash\":42")), provider(), keys_, e, at(kNow));
  EXPECT_EQ(code(r), "id_token_at_hash_mismatch");
  // Absent at_hash: accepted in the code flow.
  r = verifyIdToken(sign(idClaims()), provider(), keys_, e, at(kNow));
  EXPECT_TRUE(r.isOk()) << r.status().toString();
}

TEST_F(OidcIdTokenTest, SignatureIssuerExpiryAndIat) {
  std::string tok = sign(idClaims());
  const size_t mid = tok.rfind('.') + 20;
  tok[mid] = tok[mid] == 'A' ? 'B' : 'A';
  EXPECT_EQ(code(verifyIdToken(tok, provider(), keys_, expect(), at(kNow))), "bad_signature");
  EXPECT_EQ(code(verifyIdToken(sign(idClaims()), provider(), keys_, expect(), at(kNow + 3600))),
            "expired");
  std::string other_iss = idClaims();
  other_iss.replace(other_iss.find("idp.example.com"), 15, "evil.example.co");
  EXPECT_EQ(code(verifyIdToken(sign(other_iss), provider(), keys_, expect(), at(kNow))),
            "wrong_issuer");
  std::string no_iat = idClaims();
  no_iat.erase(no_iat.find(",\"iat\""), std::string(",\"iat\":") .size() + 10);
  EXPECT_EQ(code(verifyIdToken(sign(no_iat), provider(), keys_, expect(), at(kNow))),
            "missing_claim");
  KeySet other = keySetOf(newEcKey());
  EXPECT_EQ(code(verifyIdToken(sign(idClaims()), provider(), other, expect(), at(kNow))),
            "bad_signature");
}

TEST_F(OidcIdTokenTest, DuplicateClaimRefused) {
  EXPECT_EQ(code(verifyIdToken(sign(idClaims("\"sub\":\"mallory\"")), provider(), keys_,
                               expect(), at(kNow))),
            "duplicate_claim");
}

TEST_F(OidcIdTokenTest, RefreshedTokenMustKeepSubject) {
  IdTokenExpectations e;
  e.client_id = kClientId;
  e.expected_subject = "alice";
  auto r = verifyIdToken(sign(idClaims("", "\"stepgate-web\"", "")), provider(), keys_, e,
                         at(kNow));
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  e.expected_subject = "bob";
  r = verifyIdToken(sign(idClaims("", "\"stepgate-web\"", "")), provider(), keys_, e, at(kNow));
  EXPECT_EQ(code(r), "id_token_subject_mismatch");
}

TEST_F(OidcIdTokenTest, ExpectationsRequired) {
  IdTokenExpectations e;
  e.client_id = kClientId;
  auto r = verifyIdToken(sign(idClaims()), provider(), keys_, e, at(kNow));
  EXPECT_EQ(code(r), "id_token_check_invalid");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// ---- configuration and the authorization URL ---------------------------------------------

OidcLoginConfig baseConfig() {
  OidcLoginConfig c;
  c.client_id = kClientId;
  c.redirect_uri = "https://stepgate.example.com/.stepgate/oidc/callback";
  c.extra_authorize_params = {"prompt", "login_hint"};
  return c;
}

TEST(OidcLoginConfigTest, Validation) {
  EXPECT_TRUE(validateLoginConfig(baseConfig()).isOk());
  OidcLoginConfig c = baseConfig();
  c.client_id.clear();
  EXPECT_EQ(loginErrorCode(validateLoginConfig(c)), "config_invalid");
  c = baseConfig();
  c.redirect_uri = "http://stepgate.example.com/cb";
  EXPECT_FALSE(validateLoginConfig(c).isOk());
  c.redirect_uri = "https://stepgate.example.com/cb#x";
  EXPECT_FALSE(validateLoginConfig(c).isOk());
  c = baseConfig();
  c.scopes = {"profile", "email"};
  EXPECT_FALSE(validateLoginConfig(c).isOk());
  c.scopes = {"openid", "bad scope"};
  EXPECT_FALSE(validateLoginConfig(c).isOk());
  c = baseConfig();
  c.extra_authorize_params = {"nonce"};
  EXPECT_FALSE(validateLoginConfig(c).isOk());
  c.extra_authorize_params = {"redirect_uri"};
  EXPECT_FALSE(validateLoginConfig(c).isOk());
  c.extra_authorize_params = {"a&b"};
  EXPECT_FALSE(validateLoginConfig(c).isOk());
}

TEST(OidcAuthorizationUrlTest, CarriesEveryParameterEncoded) {
  OidcLoginEndpoints ep{kIssuer, "https://idp.example.com/authorize?tenant=a%20b", kTokenEndpoint};
  LoginState st;
  st.state = "st&ate=1";
  st.nonce = kNonce;
  st.pkce_verifier = kVerifier;
  const std::string url =
      authorizationUrl(ep, baseConfig(), st,
                       {{"prompt", "login consent"}, {"evil", "x"}, {"prompt", "none"},
                        {"login_hint", "a@example.com"}});
  EXPECT_EQ(url,
            "https://idp.example.com/authorize?tenant=a%20b&response_type=code"
            "&client_id=stepgate-web"
            "&redirect_uri=https%3A%2F%2Fstepgate.example.com%2F.stepgate%2Foidc%2Fcallback"
            "&scope=openid+profile+email&state=st%26ate%3D1&nonce=nonce-0123456789abcdef"
            // RFC 7636 appendix B's challenge for its verifier.
            "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            "&code_challenge_method=S256&prompt=login+consent&login_hint=a%40example.com");
  ep.authorization_endpoint = "https://idp.example.com/authorize";
  const std::string plain = authorizationUrl(ep, baseConfig(), st);
  EXPECT_EQ(plain.rfind("https://idp.example.com/authorize?response_type=code&", 0), 0u);
}

// ---- discovery -----------------------------------------------------------------------------

TEST(OidcDiscoveryLoginTest, ReadsEndpoints) {
  ScriptedFetcher f;
  f.respond(200, R"({"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks",
    "authorization_endpoint":"https://idp.example.com/authorize",
    "token_endpoint":"https://idp.example.com/token"})");
  auto ep = discoverLoginEndpoints(f, kIssuer, FetchOptions{});
  ASSERT_TRUE(ep.isOk()) << ep.status().toString();
  EXPECT_EQ(ep->authorization_endpoint, "https://idp.example.com/authorize");
  EXPECT_EQ(ep->token_endpoint, kTokenEndpoint);
  EXPECT_EQ(f.gets().at(0), "https://idp.example.com/.well-known/openid-configuration");

  auto bad = parseLoginEndpoints(R"({"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks",
    "authorization_endpoint":"https://idp.example.com/authorize"})", kIssuer);
  EXPECT_EQ(loginErrorCode(bad.status()), "discovery_malformed");
  bad = parseLoginEndpoints(R"({"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks",
    "authorization_endpoint":"http://idp.example.com/authorize","token_endpoint":"https://idp.example.com/token"})",
                            kIssuer);
  EXPECT_EQ(loginErrorCode(bad.status()), "discovery_malformed");
  bad = parseLoginEndpoints(R"({"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks",
    "token_endpoint":"https://idp.example.com/t","token_endpoint":"https://evil.example.com/t",
    "authorization_endpoint":"https://idp.example.com/authorize"})", kIssuer);
  EXPECT_EQ(loginErrorCode(bad.status()), "discovery_malformed");
  // revocation_endpoint (RFC 7009): optional, held to the same URL rules when present.
  EXPECT_TRUE(ep->revocation_endpoint.empty());
  auto with = parseLoginEndpoints(R"({"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks",
    "authorization_endpoint":"https://idp.example.com/authorize","token_endpoint":"https://idp.example.com/token",
    "revocation_endpoint":"https://idp.example.com/revoke"})", kIssuer);
  ASSERT_TRUE(with.isOk()) << with.status().toString();
  EXPECT_EQ(with->revocation_endpoint, "https://idp.example.com/revoke");
  for (const char* rev : {R"("revocation_endpoint":5)", R"("revocation_endpoint":"")",
                          R"("revocation_endpoint":"http://idp.example.com/revoke")"}) {
    bad = parseLoginEndpoints(std::string(R"({"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks",
    "authorization_endpoint":"https://idp.example.com/authorize","token_endpoint":"https://idp.example.com/token",)") +
                                  rev + "}",
                              kIssuer);
    EXPECT_EQ(loginErrorCode(bad.status()), "discovery_malformed") << rev;
  }
  f.respond(503, "");
  EXPECT_EQ(loginErrorCode(discoverLoginEndpoints(f, kIssuer, FetchOptions{}).status()),
            "discovery_unavailable");
}

// ---- callback ------------------------------------------------------------------------------

TEST(OidcCallbackTest, CodeAndState) {
  auto cb = parseCallback("code=Splx%2BlOB&state=abc+d&session_state=x&iss=https%3A%2F%2Fidp");
  ASSERT_TRUE(cb.isOk()) << cb.status().toString();
  EXPECT_TRUE(cb->ok());
  EXPECT_EQ(cb->code, "Splx+lOB");
  EXPECT_EQ(cb->state, "abc d");
  EXPECT_EQ(cb->iss, "https://idp");
}

TEST(OidcCallbackTest, ProviderError) {
  auto cb = parseCallback("error=access_denied&error_description=User%20said%0Ano&state=s");
  ASSERT_TRUE(cb.isOk()) << cb.status().toString();
  EXPECT_FALSE(cb->ok());
  EXPECT_EQ(cb->error, "access_denied");
  EXPECT_EQ(cb->error_description, "User said?no");
  EXPECT_TRUE(cb->code.empty());
}

TEST(OidcCallbackTest, StrictRefusals) {
  for (const char* q : {
           "code=a&state=s&state=t",   // duplicate state
           "code=a&code=b&state=s",    // duplicate code
           "code=a&state=s&x=1&x=2",   // any duplicate
           "code=a",                   // no state
           "code=a&state=",            // empty state
           "state=s",                  // neither
           "code=&state=s",            // empty code
           "code=a&error=x&state=s",   // both
           "code=a%2&state=s",         // bad escape
           "code=a%zz&state=s",        // bad escape
           "code=a&state=s%",          // truncated escape
           "error=bad%20code&state=s", // error not an error code
           "",
       }) {
    auto cb = parseCallback(q);
    EXPECT_FALSE(cb.isOk()) << q;
    EXPECT_EQ(loginErrorCode(cb.status()), "callback_malformed") << q;
  }
  EXPECT_FALSE(parseCallback("code=" + std::string(3000, 'a') + "&state=s").isOk());
  EXPECT_FALSE(parseCallback("state=s&code=a&pad=" + std::string(9000, 'a')).isOk());
}

// The callback's state goes to the login-state cookie check: a state from another login is
// refused there (in constant time), before any code is exchanged.
TEST(OidcCallbackTest, WrongStateRefusedByLoginCookie) {
  auto codec = LoginStateCodec::create(CookieKeys{std::string(32, 'k'), ""});
  ASSERT_TRUE(codec.isOk());
  auto st = codec->begin("/ui", "", at(kNow));
  ASSERT_TRUE(st.isOk());
  auto set_cookie = codec->setCookie(*st, at(kNow));
  ASSERT_TRUE(set_cookie.isOk());
  const std::string cookie = set_cookie->substr(set_cookie->find('=') + 1,
                                                set_cookie->find(';') - set_cookie->find('=') - 1);
  auto good = parseCallback("code=c&state=" + st->state);
  ASSERT_TRUE(good.isOk());
  EXPECT_TRUE(codec->decode(cookie, good->state, at(kNow + 5)).ok());
  auto bad = parseCallback("code=c&state=" + st->state + "x");
  ASSERT_TRUE(bad.isOk());
  auto d = codec->decode(cookie, bad->state, at(kNow + 5));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(*d.error, LoginStateError::kStateMismatch);
}

// ---- code exchange and refresh -------------------------------------------------------------

class OidcTokenTest : public ::testing::Test {
 protected:
  OidcClient client(OidcClientAuth auth = OidcClientAuth::kClientSecretBasic) {
    OidcLoginConfig c = baseConfig();
    c.client_auth = auth;
    c.client_secret_file = dir_.write("secret", std::string(kSecret) + "\n");
    c.max_response_bytes = 2048;
    auto cl = OidcClient::create(c);
    EXPECT_TRUE(cl.isOk()) << cl.status().toString();
    return std::move(cl).value();
  }
  StatusOr<TokenResponse> exchange(const OidcClient& c) {
    return exchangeCode(f_, kTokenEndpoint, c, kCode, kVerifier, at(kNow));
  }
  void expectNoSecrets(const Status& s) {
    for (const char* secret : {kSecret, kCode, kVerifier, "s3cr3t", "eyJ"}) {
      EXPECT_EQ(s.message().find(secret), std::string::npos) << s.message();
    }
  }

  TempDir dir_{"oidc-login"};
  ScriptedFetcher f_;
};

TEST_F(OidcTokenTest, GoodExchangeWithClientSecretBasic) {
  OidcClient c = client();
  f_.respond(200, R"({"access_token":"at","token_type":"bEaReR","id_token":"eyJ.x.y",
                      "refresh_token":"rt","expires_in":3600,"scope":"openid email"})");
  auto r = exchange(c);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->access_token, "at");
  EXPECT_EQ(r->id_token, "eyJ.x.y");
  EXPECT_EQ(r->refresh_token, "rt");
  EXPECT_EQ(r->expires_in, std::chrono::seconds(3600));
  ASSERT_EQ(f_.posts().size(), 1u);
  const RecordedPost p = f_.post(0);
  EXPECT_EQ(p.url, kTokenEndpoint);
  EXPECT_EQ(*field(p.form, "grant_type"), "authorization_code");
  EXPECT_EQ(*field(p.form, "code"), kCode);
  EXPECT_EQ(*field(p.form, "code_verifier"), kVerifier);
  EXPECT_EQ(*field(p.form, "redirect_uri"), baseConfig().redirect_uri);
  EXPECT_EQ(field(p.form, "client_secret"), nullptr);
  // base64("stepgate-web:s3cr3t+p%40ss%2F%3D"), computed independently.
  ASSERT_FALSE(p.headers.empty());
  EXPECT_EQ(p.headers[0].first, "Authorization");
  EXPECT_EQ(p.headers[0].second, "Basic c3RlcGdhdGUtd2ViOnMzY3IzdCtwJTQwc3MlMkYlM0Q=");
  EXPECT_EQ(p.options.max_body_bytes, 2048u);
}

TEST_F(OidcTokenTest, ClientSecretPost) {
  OidcClient c = client(OidcClientAuth::kClientSecretPost);
  f_.respond(200, R"({"access_token":"at","token_type":"Bearer","id_token":"i"})");
  ASSERT_TRUE(exchange(c).isOk());
  const RecordedPost p = f_.post(0);
  EXPECT_EQ(*field(p.form, "client_id"), kClientId);
  EXPECT_EQ(*field(p.form, "client_secret"), kSecret);
  for (const auto& h : p.headers) EXPECT_NE(h.first, "Authorization");
}

TEST_F(OidcTokenTest, PrivateKeyJwt) {
  EvpPkeyPtr key = newEcKey();
  std::string pem;
  {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  OidcLoginConfig cfg = baseConfig();
  cfg.client_auth = OidcClientAuth::kPrivateKeyJwt;
  cfg.client_key_file = dir_.write("key.pem", pem);
  auto c = OidcClient::create(cfg);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  f_.respond(200, R"({"access_token":"at","token_type":"Bearer","id_token":"i"})");
  ASSERT_TRUE(exchange(*c).isOk());
  const RecordedPost p = f_.post(0);
  EXPECT_EQ(*field(p.form, "client_assertion_type"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  const std::string assertion = *field(p.form, "client_assertion");
  Jwt jwt;
  ASSERT_FALSE(parseJwt(assertion, jwt).has_value());
  EXPECT_EQ(jwt.claims.find("iss")->asString(), kClientId);
  EXPECT_EQ(jwt.claims.find("sub")->asString(), kClientId);
  EXPECT_EQ(jwt.claims.find("aud")->asString(), kTokenEndpoint);
  EXPECT_EQ(jwt.claims.find("exp")->asInt(), kNow + 60);
  // The assertion verifies with the client's public key.
  config::ProviderConfig pc;
  pc.issuer = kClientId;
  pc.algorithms = {"ES256"};
  pc.audiences = {kTokenEndpoint};
  KeySet ks = keySetOf(key);
  ks.keys[0].kid = jwkThumbprint(key.get()).value();
  VerifyResult vr = verifyJwt(assertion, pc, ks, at(kNow));
  EXPECT_TRUE(vr.ok()) << (vr.ok() ? "" : authErrorName(*vr.error));

  cfg.client_key_alg = "RS256";
  EXPECT_EQ(loginErrorCode(OidcClient::create(cfg).status()), "config_invalid");
}

TEST_F(OidcTokenTest, CreateRefusesMissingSecret) {
  OidcLoginConfig cfg = baseConfig();
  EXPECT_EQ(loginErrorCode(OidcClient::create(cfg).status()), "config_invalid");
  cfg.client_secret_file = dir_.write("empty", "\n");
  EXPECT_EQ(loginErrorCode(OidcClient::create(cfg).status()), "config_invalid");
  cfg.client_secret_file = "/nonexistent/secret";
  EXPECT_EQ(loginErrorCode(OidcClient::create(cfg).status()), "config_invalid");
}

TEST_F(OidcTokenTest, MissingIdToken) {
  OidcClient c = client();
  f_.respond(200, R"({"access_token":"at","token_type":"Bearer"})");
  EXPECT_EQ(loginErrorCode(exchange(c).status()), "id_token_missing");
}

TEST_F(OidcTokenTest, ProviderErrorsMapToStableCodes) {
  OidcClient c = client();
  f_.respond(400, R"({"error":"invalid_grant","error_description":"code expired\u0000"})");
  auto r = exchange(c);
  EXPECT_EQ(loginErrorCode(r.status()), "provider_invalid_grant");
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("code expired?"), std::string::npos);
  expectNoSecrets(r.status());
  f_.respond(401, R"({"error":"invalid_client"})");
  EXPECT_EQ(loginErrorCode(exchange(c).status()), "provider_invalid_client");
  f_.respond(400, R"({"error":"slow_down"})");
  EXPECT_EQ(loginErrorCode(exchange(c).status()), "provider_error");
  f_.respond(200, R"({"error":"invalid_grant"})");
  EXPECT_EQ(loginErrorCode(exchange(c).status()), "provider_invalid_grant");
  f_.respond(400, "<html>bad</html>");
  EXPECT_EQ(loginErrorCode(exchange(c).status()), "token_endpoint_unavailable");
  f_.respond(500, R"({"error":"server_error"})");
  EXPECT_EQ(loginErrorCode(exchange(c).status()), "token_endpoint_unavailable");
  f_.respond(unavailable("connect to https://idp.example.com/token failed"));
  r = exchange(c);
  EXPECT_EQ(loginErrorCode(r.status()), "token_endpoint_unavailable");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST_F(OidcTokenTest, StrictAnswers) {
  OidcClient c = client();
  struct Case {
    const char* body;
    const char* code;
  } cases[] = {
      {R"({"access_token":"a","access_token":"b","token_type":"Bearer","id_token":"i"})",
       "token_response_malformed"},
      {R"({"access_token":"a","token_type":"Bearer","id_token":"i",})", "token_response_malformed"},
      {R"(["access_token"])", "token_response_malformed"},
      {R"({"access_token":5,"token_type":"Bearer","id_token":"i"})", "token_response_malformed"},
      {R"({"token_type":"Bearer","id_token":"i"})", "token_response_malformed"},
      {R"({"access_token":"a","token_type":"Bearer","id_token":"i","expires_in":"3600"})",
       "token_response_malformed"},
      {R"({"access_token":"a","token_type":"Bearer","id_token":"i","expires_in":-1})",
       "token_response_malformed"},
      {R"({"access_token":"a","token_type":"Bearer","id_token":7})", "token_response_malformed"},
      {R"({"access_token":"a","token_type":"mac","id_token":"i"})", "token_type_unsupported"},
      {R"({"access_token":"a","id_token":"i"})", "token_type_unsupported"},
  };
  for (const Case& k : cases) {
    f_.respond(200, k.body);
    auto r = exchange(c);
    EXPECT_EQ(loginErrorCode(r.status()), k.code) << k.body;
    expectNoSecrets(r.status());
  }
}

TEST_F(OidcTokenTest, OversizeAnswerRefused) {
  OidcClient c = client();
  f_.respond(200, R"({"access_token":")" + std::string(3000, 'a') +
                      R"(","token_type":"Bearer","id_token":"i"})");
  auto r = exchange(c);
  EXPECT_EQ(loginErrorCode(r.status()), "token_response_too_large");
  expectNoSecrets(r.status());
}

TEST_F(OidcTokenTest, BadInputsNeverSent) {
  OidcClient c = client();
  EXPECT_EQ(loginErrorCode(exchangeCode(f_, kTokenEndpoint, c, kCode, "short", at(kNow)).status()),
            "pkce_verifier_invalid");
  EXPECT_FALSE(exchangeCode(f_, kTokenEndpoint, c, "", kVerifier, at(kNow)).isOk());
  EXPECT_EQ(loginErrorCode(
                exchangeCode(f_, "http://idp.example.com/token", c, kCode, kVerifier, at(kNow))
                    .status()),
            "config_invalid");
  EXPECT_TRUE(f_.posts().empty());
}

TEST_F(OidcTokenTest, Refresh) {
  OidcClient c = client();
  f_.respond(200, R"({"access_token":"at2","token_type":"Bearer","expires_in":60})");
  auto r = refresh(f_, kTokenEndpoint, c, "rt-1", at(kNow));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->access_token, "at2");
  EXPECT_TRUE(r->id_token.empty());
  EXPECT_TRUE(r->refresh_token.empty());
  const RecordedPost p = f_.post(0);
  EXPECT_EQ(*field(p.form, "grant_type"), "refresh_token");
  EXPECT_EQ(*field(p.form, "refresh_token"), "rt-1");
  EXPECT_EQ(field(p.form, "code"), nullptr);
  f_.respond(400, R"({"error":"invalid_grant"})");
  EXPECT_EQ(loginErrorCode(refresh(f_, kTokenEndpoint, c, "rt-1", at(kNow)).status()),
            "provider_invalid_grant");
  EXPECT_EQ(loginErrorCode(refresh(f_, kTokenEndpoint, c, "", at(kNow)).status()),
            "refresh_token_invalid");
}

// The whole flow: begin, authorize URL, callback, exchange, ID token.
TEST_F(OidcTokenTest, FullFlow) {
  EvpPkeyPtr key = newEcKey();
  KeySet keys = keySetOf(key);
  OidcClient c = client();
  LoginState st;
  st.state = "state-abc";
  st.nonce = "nonce-xyz-0123456789";
  st.pkce_verifier = kVerifier;
  OidcLoginEndpoints ep{kIssuer, "https://idp.example.com/authorize", kTokenEndpoint};
  const std::string url = authorizationUrl(ep, c.config(), st);
  EXPECT_NE(url.find("&state=state-abc&"), std::string::npos);

  auto cb = parseCallback("code=the-code&state=state-abc");
  ASSERT_TRUE(cb.isOk());
  EXPECT_EQ(cb->state, st.state);

  std::string claims = idClaims(std::string("\"at_hash\":\"") + kAtHash + "\"", "\"stepgate-web\"",
                                st.nonce);
  auto id = signJws(key.get(), JwsAlg::kES256, R"({"alg":"ES256","kid":"k1"})", claims);
  ASSERT_TRUE(id.isOk());
  f_.respond(200, std::string(R"({"access_token":")") + kAccessToken +
                      R"(","token_type":"Bearer","id_token":")" + *id + "\"}");
  auto tokens = exchangeCode(f_, ep.token_endpoint, c, cb->code, st.pkce_verifier, at(kNow));
  ASSERT_TRUE(tokens.isOk()) << tokens.status().toString();
  IdTokenExpectations e;
  e.client_id = c.config().client_id;
  e.expected_nonce = st.nonce;
  e.access_token = tokens->access_token;
  auto who = verifyIdToken(tokens->id_token, provider(), keys, e, at(kNow));
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ(who->subject, "alice");
  // A replayed ID token from another login (another nonce) is refused.
  e.expected_nonce = "nonce-of-another-login";
  EXPECT_EQ(loginErrorCode(verifyIdToken(tokens->id_token, provider(), keys, e, at(kNow)).status()),
            "id_token_nonce_mismatch");
}

}  // namespace
}  // namespace stepgate::identity
