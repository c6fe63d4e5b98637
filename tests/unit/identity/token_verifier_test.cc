#include "identity/token_verifier.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/time_source.h"
#include "identity/jws_verify.h"
#include "tests/unit/identity/jwt_fixtures.h"

namespace stepgate::identity {
namespace {

using std::chrono::seconds;
using testing::fixtureJson;
using testing::hs256Token;
using testing::readFixture;

constexpr int64_t kNow = 1900000000;
const char* const kIssuer = "https://idp.example.com";

config::ProviderConfig defaultProvider() {
  config::ProviderConfig p;
  p.name = "corp";
  p.type = config::ProviderType::kJwt;
  p.issuer = kIssuer;
  p.audiences = {"workflow-api"};
  p.algorithms = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                  "ES256", "ES384", "ES512", "EdDSA"};
  return p;
}

std::vector<std::string> strings(const JsonValue& v) {
  std::vector<std::string> out;
  for (const JsonValue& e : v.asArray()) out.push_back(e.asString());
  return out;
}

// Applies a corpus case's provider overrides (see make_fixtures.mjs).
void applyOverrides(const JsonValue& o, config::ProviderConfig& p, bool& with_secret) {
  for (const JsonMember& m : o.asObject()) {
    const JsonValue& v = m.value;
    if (m.name == "secret") {
      with_secret = v.asBool();
    } else if (m.name == "algorithms") {
      p.algorithms = strings(v);
    } else if (m.name == "audiences") {
      p.audiences = strings(v);
    } else if (m.name == "typ") {
      p.typ = v.asString();
    } else if (m.name == "require_exp") {
      p.require_exp = v.asBool();
    } else if (m.name == "leeway_s") {
      p.leeway = seconds(v.asInt());
    } else if (m.name == "max_lifetime_s") {
      p.max_lifetime = seconds(v.asInt());
    } else if (m.name == "max_token_bytes") {
      p.max_token_bytes = static_cast<uint32_t>(v.asInt());
    } else if (m.name == "groups") {
      p.claims.groups = v.asString();
    } else if (m.name == "groups_space_separated") {
      p.claims.groups_space_separated = v.asBool();
    } else if (m.name == "mfa_acr") {
      p.claims.mfa_acr = strings(v);
    } else if (m.name == "required_claims") {
      for (const JsonValue& rc : v.asArray()) {
        p.required_claims.push_back({rc.find("name")->asString(), strings(*rc.find("any_of"))});
      }
    } else {
      ADD_FAILURE() << "unknown override " << m.name;
    }
  }
}

class TokenVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> warnings;
    StatusOr<KeySet> set = parseJwks(readFixture("jwks.json"), warnings);
    ASSERT_TRUE(set.isOk());
    keys_ = std::move(set).value();
    secret_ = readFixture("secret.bin");
    keys_with_secret_ = keys_;
    keys_with_secret_.keys.push_back(makeSecretJwk(secret_));
    corpus_ = fixtureJson("tokens.json");
    ASSERT_TRUE(corpus_.isObject());
    ASSERT_EQ(corpus_.find("now")->asInt(), kNow);
    time_.setSystemTime(SystemTime(seconds(kNow)));
  }

  const JsonValue& fixtureCase(std::string_view name) {
    for (const JsonValue& c : corpus_.find("cases")->asArray()) {
      if (c.find("name")->asString() == name) return c;
    }
    ADD_FAILURE() << "no case " << name;
    return corpus_;
  }
  std::string token(std::string_view name) { return fixtureCase(name).find("token")->asString(); }

  VerifyResult verify(const std::string& tok, const config::ProviderConfig& p) {
    return verifyJwt(tok, p, keys_with_secret_, time_.systemTime());
  }
  static std::string outcome(const VerifyResult& r) {
    return r.ok() ? "ok" : authErrorName(*r.error);
  }

  KeySet keys_;
  KeySet keys_with_secret_;
  std::string secret_;
  JsonValue corpus_;
  ManualTimeSource time_;
};

TEST_F(TokenVerifierTest, Corpus) {
  const JsonValue::Array& cases = corpus_.find("cases")->asArray();
  ASSERT_GE(cases.size(), 100u);
  std::set<std::string> seen;
  for (const JsonValue& c : cases) {
    const std::string name = c.find("name")->asString();
    config::ProviderConfig p = defaultProvider();
    bool with_secret = false;
    if (const JsonValue* o = c.find("provider")) applyOverrides(*o, p, with_secret);
    const std::string tok = c.find("token")->asString();
    VerifyResult r = verifyJwt(tok, p, with_secret ? keys_with_secret_ : keys_,
                               time_.systemTime());
    const std::string expect = c.find("expect")->asString();
    EXPECT_EQ(outcome(r), expect) << name;
    seen.insert(expect);
    if (expect != "ok") {
      EXPECT_TRUE(parseAuthErrorName(expect.c_str()).has_value()) << name;
      EXPECT_TRUE(r.principal.subject.empty()) << name;
      continue;
    }
    if (!r.ok()) continue;
    EXPECT_EQ(r.principal.method, AuthMethod::kJwt);
    EXPECT_EQ(r.principal.provider, "corp");
    EXPECT_EQ(r.principal.issuer, kIssuer);
    EXPECT_EQ(r.principal.credential_id.size(), 32u);
    EXPECT_EQ(r.principal.expires_at, r.expires_at);
    if (const JsonValue* want = c.find("principal")) {
      EXPECT_EQ(r.principal.subject, want->find("subject")->asString()) << name;
      if (const JsonValue* g = want->find("groups")) {
        EXPECT_EQ(r.principal.groups, strings(*g)) << name;
      }
      if (const JsonValue* n = want->find("group_count")) {
        EXPECT_EQ(static_cast<int64_t>(r.principal.groups.size()), n->asInt()) << name;
      }
      if (const JsonValue* mfa = want->find("mfa")) {
        EXPECT_EQ(r.principal.mfa, mfa->asBool()) << name;
      }
      if (const JsonValue* n = want->find("name")) {
        EXPECT_EQ(r.principal.name, n->asString());
      }
      if (const JsonValue* e = want->find("email")) {
        EXPECT_EQ(r.principal.email, e->asString());
      }
    }
  }
  // The corpus exercises the whole taxonomy of token failures.
  for (const char* e : {"ok", "token_too_large", "malformed_token", "bad_base64", "bad_json",
                        "duplicate_claim", "unsupported_alg", "alg_not_allowed",
                        "crit_unsupported", "no_matching_key", "bad_signature", "expired",
                        "missing_exp", "not_yet_valid", "issued_in_future", "lifetime_too_long",
                        "wrong_issuer", "wrong_audience", "wrong_type", "missing_claim",
                        "claim_mismatch", "bad_claim_type"}) {
    EXPECT_TRUE(seen.count(e)) << e;
  }
}

TEST_F(TokenVerifierTest, PrincipalOfAValidToken) {
  const std::string tok = token("ok_ES256");
  VerifyResult r = verify(tok, defaultProvider());
  ASSERT_TRUE(r.ok()) << outcome(r);
  EXPECT_EQ(r.principal.subject, "alice");
  EXPECT_EQ(r.principal.name, "Alice");
  EXPECT_EQ(r.principal.email, "alice@example.com");
  EXPECT_TRUE(r.principal.groups.empty());
  EXPECT_FALSE(r.principal.mfa);
  EXPECT_TRUE(r.principal.authenticated());
  EXPECT_EQ(r.expires_at, SystemTime(seconds(kNow + 3600)));
  EXPECT_EQ(r.principal.credential_id, credentialId(tok));
  EXPECT_NE(credentialId(tok), credentialId(token("ok_RS256")));
  EXPECT_EQ(r.kid, "ec-256");
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
  EXPECT_EQ(credentialId("abc"), "ba7816bf8f01cfea414140de5dae2223");
}

TEST_F(TokenVerifierTest, EveryCharacterChangeFails) {
  // Base64url is canonical, so any other character anywhere changes the bytes signed or the
  // signature; nothing but the original may verify.
  for (const char* name : {"ok_ES256", "ok_EdDSA", "ok_HS256"}) {
    const std::string tok = token(name);
    config::ProviderConfig p = defaultProvider();
    p.algorithms.push_back("HS256");
    ASSERT_TRUE(verify(tok, p).ok()) << name;
    for (size_t i = 0; i < tok.size(); ++i) {
      for (char c : {'A', 'g', '_', '.'}) {
        if (tok[i] == c) continue;
        std::string bad = tok;
        bad[i] = c;
        EXPECT_FALSE(verify(bad, p).ok()) << name << " at " << i;
      }
    }
  }
}

TEST_F(TokenVerifierTest, UnknownKidReportsTheKid) {
  VerifyResult r = verify(token("unknown_kid"), defaultProvider());
  EXPECT_EQ(r.error, AuthError::kNoMatchingKey);
  EXPECT_EQ(r.kid, "rotated-2031");
  // With an empty key set (keys not yet fetched) every token has no matching key.
  EXPECT_EQ(verifyJwt(token("ok_RS256"), defaultProvider(), KeySet{}, time_.systemTime()).error,
            AuthError::kNoMatchingKey);
}

TEST_F(TokenVerifierTest, ExpiryBoundaries) {
  // ok_RS256: iat = now - 60, exp = now + 3600; leeway 60 s.
  const std::string tok = token("ok_RS256");
  config::ProviderConfig p = defaultProvider();
  time_.setSystemTime(SystemTime(seconds(kNow + 3600 + 59)));
  EXPECT_TRUE(verify(tok, p).ok());
  time_.setSystemTime(SystemTime(seconds(kNow + 3600 + 60) - std::chrono::milliseconds(1)));
  EXPECT_TRUE(verify(tok, p).ok());
  time_.setSystemTime(SystemTime(seconds(kNow + 3600 + 60)));
  EXPECT_EQ(verify(tok, p).error, AuthError::kExpired);
  p.leeway = seconds(0);
  time_.setSystemTime(SystemTime(seconds(kNow + 3599)));
  EXPECT_TRUE(verify(tok, p).ok());
  time_.setSystemTime(SystemTime(seconds(kNow + 3600)));
  EXPECT_EQ(verify(tok, p).error, AuthError::kExpired);
}

TEST_F(TokenVerifierTest, IssuedAtAndNotBeforeBoundaries) {
  config::ProviderConfig p = defaultProvider();
  const std::string iat_future = token("iat_in_future");  // iat = now + 3600
  time_.setSystemTime(SystemTime(seconds(kNow + 3600 - 60)));
  EXPECT_TRUE(verify(iat_future, p).ok());
  time_.setSystemTime(SystemTime(seconds(kNow + 3600 - 61)));
  EXPECT_EQ(verify(iat_future, p).error, AuthError::kIssuedInFuture);
  const std::string nbf_future = token("nbf_in_future");  // nbf = now + 3600, exp = now + 3600
  time_.setSystemTime(SystemTime(seconds(kNow + 3600 - 61)));
  EXPECT_EQ(verify(nbf_future, p).error, AuthError::kNotYetValid);
  time_.setSystemTime(SystemTime(seconds(kNow + 3600 - 60)));
  EXPECT_TRUE(verify(nbf_future, p).ok());
}

TEST_F(TokenVerifierTest, LifetimeBoundary) {
  config::ProviderConfig p = defaultProvider();
  const std::string tok = token("ok_RS256");  // exp - iat = 3660
  p.max_lifetime = seconds(3660);
  EXPECT_TRUE(verify(tok, p).ok());
  p.max_lifetime = seconds(3659);
  EXPECT_EQ(verify(tok, p).error, AuthError::kLifetimeTooLong);
}

TEST_F(TokenVerifierTest, AllowlistIsCheckedBeforeKeys) {
  config::ProviderConfig p = defaultProvider();
  p.algorithms = {};
  EXPECT_EQ(verify(token("ok_RS256"), p).error, AuthError::kAlgNotAllowed);
  p.algorithms = {"rs256"};  // names are exact
  EXPECT_EQ(verify(token("ok_RS256"), p).error, AuthError::kAlgNotAllowed);
  p.algorithms = {"HS256"};
  EXPECT_EQ(verify(token("confusion_hs256_rsa_pem_no_kid"), p).error, AuthError::kBadSignature);
  EXPECT_EQ(verifyJwt(token("confusion_hs256_rsa_pem_no_kid"), p, keys_, time_.systemTime()).error,
            AuthError::kNoMatchingKey);
}

// Claims rules with HS256 tokens signed by OpenSSL directly (see jwt_fixtures.h).
class ClaimRulesTest : public TokenVerifierTest {
 protected:
  config::ProviderConfig hsProvider() {
    config::ProviderConfig p = defaultProvider();
    p.algorithms = {"HS256"};
    return p;
  }
  VerifyResult claims(const std::string& claims_json, const config::ProviderConfig& p,
                      const std::string& header = R"({"alg":"HS256","typ":"JWT"})") {
    return verify(hs256Token(secret_, header, claims_json), p);
  }
  static std::string base(const std::string& extra = "") {
    return R"({"iss":"https://idp.example.com","sub":"alice","aud":"workflow-api",)"
           R"("iat":1899999940,"exp":1900003600)" + extra + "}";
  }
};

TEST_F(ClaimRulesTest, NumericDates) {
  config::ProviderConfig p = hsProvider();
  EXPECT_TRUE(claims(base(), p).ok());
  EXPECT_EQ(claims(R"({"iss":"https://idp.example.com","sub":"a","aud":"workflow-api",)"
                   R"("exp":1.9e9})",
                   p).error,
            std::nullopt);  // a double exp equal to now is within the leeway
  VerifyResult frac = claims(
      R"({"iss":"https://idp.example.com","sub":"a","aud":"workflow-api","exp":1900000100.99})", p);
  ASSERT_TRUE(frac.ok());
  EXPECT_EQ(frac.expires_at, SystemTime(seconds(1900000100)));  // floored
  EXPECT_EQ(claims(base(R"(,"nbf":"0")"), p).error, AuthError::kBadClaimType);
  EXPECT_EQ(claims(base(R"(,"nbf":[1])"), p).error, AuthError::kBadClaimType);
  EXPECT_TRUE(claims(base(R"(,"nbf":-5)"), p).ok());
  // Absurdly large dates are clamped, not overflowed.
  VerifyResult far = claims(
      R"({"iss":"https://idp.example.com","sub":"a","aud":"workflow-api","exp":1e300})", p);
  ASSERT_TRUE(far.ok());
  EXPECT_GT(far.expires_at, SystemTime(seconds(kNow)));
  EXPECT_TRUE(claims(R"({"iss":"https://idp.example.com","sub":"a","aud":"workflow-api",)"
                     R"("exp":99999999999999999999999})",
                     p)
                  .ok());
  EXPECT_EQ(claims(R"({"iss":"https://idp.example.com","sub":"a","aud":"workflow-api",)"
                   R"("exp":1900003600,"iat":-1e300})",
                   p)
                .error,
            std::nullopt);
}

TEST_F(ClaimRulesTest, NoExpWhenNotRequired) {
  config::ProviderConfig p = hsProvider();
  const std::string no_exp = R"({"iss":"https://idp.example.com","sub":"a","aud":"workflow-api"})";
  EXPECT_EQ(claims(no_exp, p).error, AuthError::kMissingExp);
  p.require_exp = false;
  VerifyResult r = claims(no_exp, p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.expires_at, SystemTime{});
}

TEST_F(ClaimRulesTest, Audience) {
  config::ProviderConfig p = hsProvider();
  p.audiences = {"a", "b"};
  auto with_aud = [&](const std::string& aud) {
    return claims(R"({"iss":"https://idp.example.com","sub":"x","exp":1900003600,"aud":)" + aud +
                      "}",
                  p);
  };
  EXPECT_TRUE(with_aud(R"("b")").ok());
  EXPECT_TRUE(with_aud(R"(["z","a"])").ok());
  EXPECT_EQ(with_aud(R"("A")").error, AuthError::kWrongAudience);
  EXPECT_EQ(with_aud(R"([])").error, AuthError::kWrongAudience);
  EXPECT_EQ(with_aud(R"(null)").error, AuthError::kBadClaimType);
  EXPECT_EQ(with_aud(R"({"a":1})").error, AuthError::kBadClaimType);
}

TEST_F(ClaimRulesTest, Typ) {
  config::ProviderConfig p = hsProvider();
  p.typ = "application/at+jwt";
  EXPECT_TRUE(claims(base(), p, R"({"alg":"HS256","typ":"at+jwt"})").ok());
  EXPECT_TRUE(claims(base(), p, R"({"alg":"HS256","typ":"AT+JWT"})").ok());
  EXPECT_TRUE(claims(base(), p, R"({"alg":"HS256","typ":"Application/at+jwt"})").ok());
  EXPECT_EQ(claims(base(), p, R"({"alg":"HS256","typ":"jwt"})").error, AuthError::kWrongType);
  EXPECT_EQ(claims(base(), p, R"({"alg":"HS256","typ":"application/"})").error,
            AuthError::kWrongType);
  EXPECT_EQ(claims(base(), p, R"({"alg":"HS256","typ":"at+jwt+x"})").error,
            AuthError::kWrongType);
  p.typ.clear();
  EXPECT_TRUE(claims(base(), p, R"({"alg":"HS256","typ":"anything"})").ok());
}

TEST_F(ClaimRulesTest, SubjectAndGroupsMapping) {
  config::ProviderConfig p = hsProvider();
  p.claims.subject = "oid";
  EXPECT_EQ(claims(base(), p).error, AuthError::kMissingClaim);
  VerifyResult r = claims(base(R"(,"oid":"0000-1111")"), p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal.subject, "0000-1111");
  p.claims.subject = "/user/id";
  r = claims(base(R"(,"user":{"id":"u-1"})"), p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal.subject, "u-1");
  p.claims.subject = "sub";
  p.claims.groups = "/a~1b/0";
  r = claims(base(R"(,"a/b":[["y","x","y",""]])"), p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal.groups, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(r.principal.inGroup("x"));
  EXPECT_FALSE(r.principal.inGroup("z"));
  p.claims.groups = "roles";
  r = claims(base(R"(,"roles":"a b")"), p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal.groups, (std::vector<std::string>{"a b"}));
  p.claims.groups_space_separated = true;
  r = claims(base(R"(,"roles":"  b a  b ")"), p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal.groups, (std::vector<std::string>{"a", "b"}));
  r = claims(base(R"(,"roles":null)"), p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.principal.groups.empty());
  EXPECT_EQ(claims(base(R"(,"roles":{"x":1})"), p).error, AuthError::kBadClaimType);
  // name/email of another type are ignored, not errors.
  r = claims(base(R"(,"name":5,"email":["e"])"), p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.principal.name.empty());
  EXPECT_TRUE(r.principal.email.empty());
}

TEST_F(ClaimRulesTest, Mfa) {
  config::ProviderConfig p = hsProvider();
  EXPECT_TRUE(claims(base(R"(,"amr":["pwd","hwk"])"), p).principal.mfa);
  EXPECT_FALSE(claims(base(R"(,"amr":"mfa")"), p).principal.mfa);  // amr is an array
  EXPECT_FALSE(claims(base(R"(,"acr":"mfa")"), p).principal.mfa);
  p.claims.mfa_amr.clear();
  p.claims.mfa_acr = {"phr"};
  EXPECT_FALSE(claims(base(R"(,"amr":["mfa"])"), p).principal.mfa);
  EXPECT_TRUE(claims(base(R"(,"acr":"phr")"), p).principal.mfa);
}

TEST_F(ClaimRulesTest, RequiredClaims) {
  config::ProviderConfig p = hsProvider();
  p.required_claims = {{"/ctx/tenant", {"acme"}}, {"email_verified", {}}};
  EXPECT_TRUE(claims(base(R"(,"ctx":{"tenant":"acme"},"email_verified":false)"), p).ok());
  EXPECT_EQ(claims(base(R"(,"ctx":{"tenant":"acme"})"), p).error, AuthError::kMissingClaim);
  EXPECT_EQ(claims(base(R"(,"ctx":{"tenant":["x"]},"email_verified":1)"), p).error,
            AuthError::kClaimMismatch);
  EXPECT_EQ(claims(base(R"(,"ctx":{"tenant":7},"email_verified":1)"), p).error,
            AuthError::kClaimMismatch);
}

TEST(TokenVerifierLimitsTest, HugeTokensAreRejectedBeforeParsing) {
  config::ProviderConfig p = defaultProvider();
  const std::string mib(1 << 20, 'a');
  EXPECT_EQ(verifyJwt(mib, p, KeySet{}, SystemTime{}).error, AuthError::kTokenTooLarge);
  EXPECT_EQ(verifyJwt("", p, KeySet{}, SystemTime{}).error, AuthError::kMalformedToken);
  EXPECT_EQ(verifyJwt(std::string(8192, '.'), p, KeySet{}, SystemTime{}).error,
            AuthError::kMalformedToken);
}

TEST(AuthErrorTest, NamesAreDistinctAndStable) {
  std::set<std::string> names;
  for (int i = 0; i < kAuthErrorCount; ++i) {
    const auto e = static_cast<AuthError>(i);
    const std::string name = authErrorName(e);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
    for (char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
    }
    EXPECT_EQ(parseAuthErrorName(name.c_str()), e);
  }
  EXPECT_EQ(parseAuthErrorName("nope"), std::nullopt);
  EXPECT_STREQ(authErrorName(AuthError::kBadSignature), "bad_signature");
  EXPECT_STREQ(authErrorName(AuthError::kExpired), "expired");
}

TEST(AuthErrorTest, Rfc6750Mapping) {
  EXPECT_STREQ(bearerErrorCode(AuthError::kMissingCredentials), "");
  EXPECT_EQ(authErrorHttpStatus(AuthError::kMissingCredentials), 401);
  EXPECT_STREQ(bearerErrorCode(AuthError::kMalformedHeader), "invalid_request");
  EXPECT_EQ(authErrorHttpStatus(AuthError::kMalformedHeader), 400);
  for (AuthError e : {AuthError::kKeysUnavailable, AuthError::kIntrospectionUnavailable}) {
    EXPECT_STREQ(bearerErrorCode(e), "");
    EXPECT_EQ(authErrorHttpStatus(e), 503);
  }
  for (AuthError e : {AuthError::kTokenTooLarge, AuthError::kBadSignature, AuthError::kExpired,
                      AuthError::kWrongAudience, AuthError::kUnknownIssuer,
                      AuthError::kNoMatchingKey, AuthError::kIntrospectionInactive,
                      AuthError::kDuplicateClaim, AuthError::kAlgNotAllowed}) {
    EXPECT_STREQ(bearerErrorCode(e), "invalid_token") << authErrorName(e);
    EXPECT_EQ(authErrorHttpStatus(e), 401) << authErrorName(e);
  }
}

TEST(PrincipalTest, MethodNamesAndGroups) {
  EXPECT_STREQ(authMethodName(AuthMethod::kJwt), "jwt");
  EXPECT_STREQ(authMethodName(AuthMethod::kClientCertificate), "client_certificate");
  EXPECT_STREQ(authMethodName(AuthMethod::kNone), "none");
  Principal p;
  EXPECT_FALSE(p.authenticated());
  p.groups = {"admin", "ops", "payments"};
  EXPECT_TRUE(p.inGroup("ops"));
  EXPECT_TRUE(p.inGroup("admin"));
  EXPECT_TRUE(p.inGroup("payments"));
  EXPECT_FALSE(p.inGroup("op"));
  EXPECT_FALSE(p.inGroup(""));
}

}  // namespace
}  // namespace stepgate::identity
