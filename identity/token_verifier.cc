#include "identity/token_verifier.h"

#include <openssl/evp.h>

#include <algorithm>

#include "common/ascii.h"
#include "identity/claim_mapping.h"
#include "identity/jws_verify.h"
#include "identity/jwt.h"
#include "identity/token_cache.h"

namespace stepgate::identity {

namespace {

std::string_view withoutApplicationPrefix(std::string_view t) noexcept {
  constexpr std::string_view kPrefix = "application/";
  if (t.size() > kPrefix.size() && equalsIgnoreAsciiCase(t.substr(0, kPrefix.size()), kPrefix)) {
    return t.substr(kPrefix.size());
  }
  return t;
}

bool typMatches(std::string_view token_typ, std::string_view wanted) noexcept {
  return equalsIgnoreAsciiCase(withoutApplicationPrefix(token_typ), withoutApplicationPrefix(wanted));
}

struct Fail {
  VerifyResult& r;
  VerifyResult& operator()(AuthError e) noexcept {
    r.error = e;
    r.principal = Principal();
    r.expires_at = {};
    return r;
  }
};

}  // namespace

std::string credentialId(std::string_view token) noexcept {
  return credentialId(digestOf(token));
}

VerifyResult verifyJwt(std::string_view token, const config::ProviderConfig& provider,
                       const KeySet& keys, SystemTime now) noexcept {
  // 1-2. Size and structure.
  Jwt jwt;
  if (auto e = parseJwt(token, jwt, provider.max_token_bytes)) {
    VerifyResult result;
    result.error = e;
    return result;
  }
  return verifyParsedJwt(jwt, token, provider, keys, now);
}

VerifyResult verifyParsedJwt(const Jwt& jwt, std::string_view token,
                             const config::ProviderConfig& provider, const KeySet& keys,
                             SystemTime now) noexcept {
  VerifyResult result;
  Fail fail{result};
  if (token.size() > provider.max_token_bytes) return fail(AuthError::kTokenTooLarge);
  result.kid = jwt.kid;

  // 3. The allowlist, before any key is looked at.
  const char* alg_name = jwsAlgName(jwt.alg);
  if (std::find(provider.algorithms.begin(), provider.algorithms.end(), alg_name) ==
      provider.algorithms.end()) {
    return fail(AuthError::kAlgNotAllowed);
  }

  // 4. Extensions: stepgate implements none, so any critical one is fatal.
  if (!jwt.crit.empty()) return fail(AuthError::kCritUnsupported);

  // 5. Signature, with configured keys only (jku/x5u/jwk/x5c are never read).
  const std::vector<const Jwk*> candidates = keys.candidates(jwt.kid, jwt.alg);
  if (candidates.empty()) return fail(AuthError::kNoMatchingKey);
  if (jwt.signature.empty()) return fail(AuthError::kBadSignature);
  bool verified = false;
  for (const Jwk* key : candidates) {
    if (verifyJwsSignature(jwt.alg, jwt.signing_input, jwt.signature, *key)) {
      verified = true;
      break;
    }
  }
  if (!verified) return fail(AuthError::kBadSignature);

  // 6. Claims.
  const JsonValue& claims = jwt.claims;
  if (!provider.typ.empty() && (!jwt.has_typ || !typMatches(jwt.typ, provider.typ))) {
    return fail(AuthError::kWrongType);
  }

  const JsonValue* iss = claims.find("iss");
  if (iss == nullptr) return fail(AuthError::kWrongIssuer);
  if (!iss->isString()) return fail(AuthError::kBadClaimType);
  if (iss->asString() != provider.issuer) return fail(AuthError::kWrongIssuer);

  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const int64_t leeway_ms = provider.leeway.count();
  int64_t exp = 0, nbf = 0, iat = 0;
  const NumericDateRead exp_read = readNumericDate(claims, "exp", exp);
  const NumericDateRead nbf_read = readNumericDate(claims, "nbf", nbf);
  const NumericDateRead iat_read = readNumericDate(claims, "iat", iat);
  if (exp_read == NumericDateRead::kBadType || nbf_read == NumericDateRead::kBadType ||
      iat_read == NumericDateRead::kBadType) {
    return fail(AuthError::kBadClaimType);
  }
  const bool lifetime_limited = provider.max_lifetime.count() > 0;
  if (exp_read == NumericDateRead::kAbsent && (provider.require_exp || lifetime_limited)) {
    return fail(AuthError::kMissingExp);
  }
  if (exp_read == NumericDateRead::kOk && now_ms >= exp * 1000 + leeway_ms) {
    return fail(AuthError::kExpired);
  }
  if (nbf_read == NumericDateRead::kOk && now_ms + leeway_ms < nbf * 1000) {
    return fail(AuthError::kNotYetValid);
  }
  if (iat_read == NumericDateRead::kOk && iat * 1000 > now_ms + leeway_ms) {
    return fail(AuthError::kIssuedInFuture);
  }
  if (lifetime_limited) {
    if (iat_read == NumericDateRead::kAbsent) return fail(AuthError::kMissingClaim);
    if ((exp - iat) * 1000 > provider.max_lifetime.count()) {
      return fail(AuthError::kLifetimeTooLong);
    }
  }

  if (auto e = checkAudience(claims, provider.audiences)) return fail(*e);

  if (auto e = checkRequiredClaims(claims, provider.required_claims)) return fail(*e);

  // 7. The Principal.
  Principal& p = result.principal;
  if (auto e = mapClaims(claims, provider.claims, p)) return fail(*e);
  p.provider = provider.name;
  p.issuer = iss->asString();
  p.method = AuthMethod::kJwt;
  p.credential_id = credentialId(token);
  p.claims = std::make_shared<const JsonValue>(claims);
  if (exp_read == NumericDateRead::kOk) {
    p.expires_at = SystemTime(std::chrono::seconds(exp));
    result.expires_at = p.expires_at;
  }
  return result;
}

}  // namespace stepgate::identity
