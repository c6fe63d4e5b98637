// libFuzzer target for compact JWS parsing (identity/jwt.h), peekIssuer, base64url and the
// whole verification path (identity/token_verifier.h): signature and claims against the
// committed fixture keys (tests/fixtures/jwt/jwks.json and secret.bin) at a fixed time.
//
// Input layout: byte 0 picks one of the provider configurations below ('0'..'9' pick 0..9,
// as in the seed corpus), the rest is the token.
// Checked beyond "no crash, no sanitizer report":
//  - base64url: decode(encode(x)) == x, and a string that decodes is the one spelling
//    encode() gives for its bytes;
//  - a parsed token's signing input is "header.payload" of the token, header and claims are
//    objects, kid/typ/crit agree with the header, and peekIssuer() returns the claims' iss;
//  - a verified token verifies again with the same principal; the principal has a
//    non-empty subject, the provider's issuer and name, a 32-digit credential id, an alg
//    from the allowlist, sorted unique groups; a refused token leaves the principal empty.

#include "tests/fuzz/fuzz_check.h"
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.h"
#include "identity/jws_verify.h"
#include "identity/jwt.h"
#include "identity/key_set.h"
#include "identity/token_verifier.h"

namespace {

using namespace stepgate::identity;  // NOLINT: a fuzz target over this namespace
using stepgate::JsonValue;
using stepgate::StatusOr;
using stepgate::SystemTime;
using stepgate::config::ProviderConfig;
using stepgate::config::RequiredClaim;


constexpr int64_t kNow = 1900000000;  // tests/fixtures/jwt/tokens.json "now"
constexpr size_t kVariants = 10;

std::string readFixture(const char* name) {
  const std::string path = std::string(STEPGATE_SOURCE_DIR) + "/tests/fixtures/jwt/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::abort();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Variant {
  ProviderConfig provider;
  bool with_secret = false;
};

// The provider configurations of the fixture corpus (make_fixtures.mjs overrides).
std::vector<Variant> makeVariants() {
  ProviderConfig base;
  base.name = "corp";
  base.type = stepgate::config::ProviderType::kJwt;
  base.issuer = "https://idp.example.com";
  base.audiences = {"workflow-api"};
  base.algorithms = {"RS256", "RS384", "RS512", "PS256", "PS384",
                     "PS512", "ES256", "ES384", "ES512", "EdDSA"};
  std::vector<Variant> v(kVariants, Variant{base, false});
  // 1: HS* with the shared secret.
  v[1].with_secret = true;
  v[1].provider.algorithms = {"HS256", "HS384", "HS512"};
  // 2: RFC 9068 access tokens.
  v[2].provider.typ = "at+jwt";
  // 3: groups by JSON pointer, MFA by acr.
  v[3].provider.claims.groups = "/realm_access/roles";
  v[3].provider.claims.mfa_acr = {"urn:example:mfa"};
  // 4: groups from a space-separated scope.
  v[4].provider.claims.groups = "scope";
  v[4].provider.claims.groups_space_separated = true;
  // 5: required claims.
  v[5].provider.required_claims = {RequiredClaim{"tenant", {"acme", "globex"}}};
  // 6: exp optional, no leeway.
  v[6].provider.require_exp = false;
  v[6].provider.leeway = std::chrono::seconds(0);
  // 7: a lifetime limit, groups from a plain claim, audiences unchecked.
  v[7].provider.max_lifetime = std::chrono::seconds(3660);
  v[7].provider.claims.groups = "groups";
  v[7].provider.audiences.clear();
  // 8: RS256 and HS256 both allowed, with the secret (algorithm confusion).
  v[8].with_secret = true;
  v[8].provider.algorithms = {"RS256", "HS256"};
  // 9: Cognito-style groups, a required claim with values.
  v[9].provider.claims.groups = "cognito:groups";
  v[9].provider.required_claims = {RequiredClaim{"aud", {"workflow-api"}}};
  return v;
}

struct Fixture {
  std::vector<Variant> variants = makeVariants();
  KeySet keys;
  KeySet keys_with_secret;

  Fixture() {
    std::vector<std::string> warnings;
    StatusOr<KeySet> set = parseJwks(readFixture("jwks.json"), warnings);
    if (!set.isOk() || set->keys.empty()) {
      std::fprintf(stderr, "fixture jwks.json does not parse\n");
      std::abort();
    }
    keys = std::move(set).value();
    keys_with_secret = keys;
    keys_with_secret.keys.push_back(makeSecretJwk(readFixture("secret.bin")));
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

void checkBase64(std::string_view in) {
  std::string decoded;
  FUZZ_CHECK(base64UrlDecode(base64UrlEncode(in), decoded));
  FUZZ_CHECK(decoded == in);
  if (base64UrlDecode(in, decoded)) {
    FUZZ_CHECK(base64UrlEncode(decoded) == in);
  }
}

void checkParse(std::string_view token) {
  Jwt jwt;
  const std::optional<AuthError> e = parseJwt(token, jwt);
  const std::optional<std::string> iss = peekIssuer(token);
  if (e) {
    if (*e == AuthError::kTokenTooLarge) FUZZ_CHECK(!iss);
    return;
  }
  FUZZ_CHECK(token.size() <= kDefaultMaxTokenBytes);
  FUZZ_CHECK(token.substr(0, jwt.signing_input.size()) == jwt.signing_input);
  FUZZ_CHECK(token[jwt.signing_input.size()] == '.');
  FUZZ_CHECK(std::count(jwt.signing_input.begin(), jwt.signing_input.end(), '.') == 1);
  FUZZ_CHECK(jwt.header.isObject() && jwt.claims.isObject());
  const JsonValue* alg = jwt.header.find("alg");
  FUZZ_CHECK(alg != nullptr && alg->isString() && alg->asString() == jwsAlgName(jwt.alg));
  const JsonValue* kid = jwt.header.find("kid");
  FUZZ_CHECK(jwt.has_kid == (kid != nullptr));
  FUZZ_CHECK(!jwt.has_kid ? jwt.kid.empty() : kid->asString() == jwt.kid);
  const JsonValue* typ = jwt.header.find("typ");
  FUZZ_CHECK(jwt.has_typ == (typ != nullptr));
  FUZZ_CHECK(!jwt.has_typ ? jwt.typ.empty() : typ->asString() == jwt.typ);
  for (const std::string& c : jwt.crit) FUZZ_CHECK(!c.empty());
  FUZZ_CHECK(jwt.crit.empty() == (jwt.header.find("crit") == nullptr));
  const JsonValue* claim = jwt.claims.find("iss");
  if (claim != nullptr && claim->isString()) {
    FUZZ_CHECK(iss && *iss == claim->asString());
  } else {
    FUZZ_CHECK(!iss);
  }
  // The signature part is the canonical spelling of the signature bytes.
  FUZZ_CHECK(base64UrlEncode(jwt.signature) == token.substr(jwt.signing_input.size() + 1));
}

void checkVerify(std::string_view token, const Variant& v) {
  const Fixture& f = fixture();
  const KeySet& keys = v.with_secret ? f.keys_with_secret : f.keys;
  const SystemTime now{std::chrono::seconds(kNow)};
  const VerifyResult r = verifyJwt(token, v.provider, keys, now);
  if (!r.ok()) {
    FUZZ_CHECK(r.principal.subject.empty());
    FUZZ_CHECK(!r.principal.authenticated());
    return;
  }
  const Principal& p = r.principal;
  FUZZ_CHECK(!p.subject.empty());
  FUZZ_CHECK(p.authenticated());
  FUZZ_CHECK(p.provider == v.provider.name);
  FUZZ_CHECK(p.issuer == v.provider.issuer);
  FUZZ_CHECK(p.credential_id.size() == 32 && p.credential_id == credentialId(token));
  FUZZ_CHECK(p.expires_at == r.expires_at);
  FUZZ_CHECK(std::is_sorted(p.groups.begin(), p.groups.end()));
  FUZZ_CHECK(std::adjacent_find(p.groups.begin(), p.groups.end()) == p.groups.end());
  if (v.provider.require_exp) FUZZ_CHECK(r.expires_at > now - v.provider.leeway);

  Jwt jwt;
  FUZZ_CHECK(!parseJwt(token, jwt, v.provider.max_token_bytes));
  const std::vector<std::string>& allowed = v.provider.algorithms;
  FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), jwsAlgName(jwt.alg)) != allowed.end());
  FUZZ_CHECK(jwt.crit.empty());
  FUZZ_CHECK(!jwt.signature.empty());
  FUZZ_CHECK(r.kid == jwt.kid);

  const VerifyResult again = verifyJwt(token, v.provider, keys, now);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again.principal.subject == p.subject);
  FUZZ_CHECK(again.principal.groups == p.groups);
  FUZZ_CHECK(again.principal.mfa == p.mfa);
  FUZZ_CHECK(again.expires_at == r.expires_at);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  const Variant& variant = fixture().variants[static_cast<uint8_t>(data[0] - '0') % kVariants];
  const std::string_view token(reinterpret_cast<const char*>(data + 1), size - 1);
  checkBase64(token);
  checkParse(token);
  checkVerify(token, variant);
  return 0;
}
