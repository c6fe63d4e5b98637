#include "identity/token_verifier.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>

#include "identity/jws_verify.h"
#include "identity/jwt.h"

namespace stepgate::identity {

namespace {

// NumericDates are clamped to this (year 2255) so arithmetic in milliseconds and the
// conversion to SystemTime (nanoseconds in int64) cannot overflow.
constexpr int64_t kMaxEpochSeconds = 9'000'000'000;

enum class DateRead : unsigned char { kAbsent, kOk, kBadType };

DateRead readNumericDate(const JsonValue& claims, std::string_view name, int64_t& out) noexcept {
  const JsonValue* v = claims.find(name);
  if (v == nullptr) return DateRead::kAbsent;
  if (v->isInt()) {
    out = std::clamp<int64_t>(v->asInt(), -kMaxEpochSeconds, kMaxEpochSeconds);
    return DateRead::kOk;
  }
  if (v->isDouble()) {
    const double d = std::floor(v->asDouble());
    if (!std::isfinite(d)) return DateRead::kBadType;
    out = d >= static_cast<double>(kMaxEpochSeconds)    ? kMaxEpochSeconds
          : d <= -static_cast<double>(kMaxEpochSeconds) ? -kMaxEpochSeconds
                                                        : static_cast<int64_t>(d);
    return DateRead::kOk;
  }
  return DateRead::kBadType;
}

const JsonValue* lookupClaim(const JsonValue& claims, std::string_view name) noexcept {
  if (!name.empty() && name[0] == '/') return claims.at(name);
  return claims.find(name);
}

char lowerAscii(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

std::string_view withoutApplicationPrefix(std::string_view t) noexcept {
  constexpr std::string_view kPrefix = "application/";
  if (t.size() > kPrefix.size() && equalsIgnoreCase(t.substr(0, kPrefix.size()), kPrefix)) {
    return t.substr(kPrefix.size());
  }
  return t;
}

bool typMatches(std::string_view token_typ, std::string_view wanted) noexcept {
  return equalsIgnoreCase(withoutApplicationPrefix(token_typ), withoutApplicationPrefix(wanted));
}

bool contains(const std::vector<std::string>& set, std::string_view v) noexcept {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// A string value in `allowed`, or an array value with a string element in `allowed`.
bool valueMatchesAny(const JsonValue& v, const std::vector<std::string>& allowed) noexcept {
  if (v.isString()) return contains(allowed, v.asString());
  if (v.isArray()) {
    for (const JsonValue& e : v.asArray()) {
      if (e.isString() && contains(allowed, e.asString())) return true;
    }
  }
  return false;
}

std::optional<AuthError> checkAudience(const JsonValue& claims,
                                       const std::vector<std::string>& audiences) noexcept {
  if (audiences.empty()) return std::nullopt;
  const JsonValue* aud = claims.find("aud");
  if (aud == nullptr) return AuthError::kWrongAudience;
  if (aud->isString()) {
    return contains(audiences, aud->asString()) ? std::nullopt
                                                : std::optional(AuthError::kWrongAudience);
  }
  if (!aud->isArray()) return AuthError::kBadClaimType;
  bool found = false;
  for (const JsonValue& e : aud->asArray()) {
    if (!e.isString()) return AuthError::kBadClaimType;
    if (contains(audiences, e.asString())) found = true;
  }
  return found ? std::nullopt : std::optional(AuthError::kWrongAudience);
}

void splitSpaces(std::string_view s, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
}

std::optional<AuthError> mapGroups(const JsonValue& claims, const config::ClaimMapping& mapping,
                                   std::vector<std::string>& groups) {
  if (mapping.groups.empty()) return std::nullopt;
  const JsonValue* v = lookupClaim(claims, mapping.groups);
  if (v == nullptr || v->isNull()) return std::nullopt;
  if (v->isString()) {
    if (mapping.groups_space_separated) {
      splitSpaces(v->asString(), groups);
    } else if (!v->asString().empty()) {
      groups.push_back(v->asString());
    }
  } else if (v->isArray()) {
    groups.reserve(v->asArray().size());
    for (const JsonValue& e : v->asArray()) {
      if (!e.isString()) return AuthError::kBadClaimType;
      if (!e.asString().empty()) groups.push_back(e.asString());
    }
  } else {
    return AuthError::kBadClaimType;
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return std::nullopt;
}

bool mapMfa(const JsonValue& claims, const config::ClaimMapping& mapping) noexcept {
  if (const JsonValue* amr = claims.find("amr"); amr != nullptr && amr->isArray()) {
    for (const JsonValue& e : amr->asArray()) {
      if (e.isString() && contains(mapping.mfa_amr, e.asString())) return true;
    }
  }
  if (const JsonValue* acr = claims.find("acr"); acr != nullptr && acr->isString()) {
    return contains(mapping.mfa_acr, acr->asString());
  }
  return false;
}

void optionalStringClaim(const JsonValue& claims, const std::string& name, std::string& out) {
  if (name.empty()) return;
  const JsonValue* v = lookupClaim(claims, name);
  if (v != nullptr && v->isString()) out = v->asString();
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
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return std::string();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned int i = 0; i < 16 && i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

VerifyResult verifyJwt(std::string_view token, const config::ProviderConfig& provider,
                       const KeySet& keys, SystemTime now) noexcept {
  VerifyResult result;
  Fail fail{result};

  // 1-2. Size and structure.
  Jwt jwt;
  if (auto e = parseJwt(token, jwt, provider.max_token_bytes)) return fail(*e);
  result.kid = jwt.kid;

  // 3. The allowlist, before any key is looked at.
  const char* alg_name = jwsAlgName(jwt.alg);
  if (!contains(provider.algorithms, alg_name)) return fail(AuthError::kAlgNotAllowed);

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
  const DateRead exp_read = readNumericDate(claims, "exp", exp);
  const DateRead nbf_read = readNumericDate(claims, "nbf", nbf);
  const DateRead iat_read = readNumericDate(claims, "iat", iat);
  if (exp_read == DateRead::kBadType || nbf_read == DateRead::kBadType ||
      iat_read == DateRead::kBadType) {
    return fail(AuthError::kBadClaimType);
  }
  const bool lifetime_limited = provider.max_lifetime.count() > 0;
  if (exp_read == DateRead::kAbsent && (provider.require_exp || lifetime_limited)) {
    return fail(AuthError::kMissingExp);
  }
  if (exp_read == DateRead::kOk && now_ms >= exp * 1000 + leeway_ms) {
    return fail(AuthError::kExpired);
  }
  if (nbf_read == DateRead::kOk && now_ms + leeway_ms < nbf * 1000) {
    return fail(AuthError::kNotYetValid);
  }
  if (iat_read == DateRead::kOk && iat * 1000 > now_ms + leeway_ms) {
    return fail(AuthError::kIssuedInFuture);
  }
  if (lifetime_limited) {
    if (iat_read == DateRead::kAbsent) return fail(AuthError::kMissingClaim);
    if ((exp - iat) * 1000 > provider.max_lifetime.count()) {
      return fail(AuthError::kLifetimeTooLong);
    }
  }

  if (auto e = checkAudience(claims, provider.audiences)) return fail(*e);

  for (const config::RequiredClaim& rc : provider.required_claims) {
    const JsonValue* v = lookupClaim(claims, rc.name);
    if (v == nullptr) return fail(AuthError::kMissingClaim);
    if (!rc.any_of.empty() && !valueMatchesAny(*v, rc.any_of)) {
      return fail(AuthError::kClaimMismatch);
    }
  }

  // 7. The Principal.
  const config::ClaimMapping& mapping = provider.claims;
  Principal& p = result.principal;
  const JsonValue* sub = lookupClaim(claims, mapping.subject);
  if (sub == nullptr) return fail(AuthError::kMissingClaim);
  if (!sub->isString()) return fail(AuthError::kBadClaimType);
  if (sub->asString().empty()) return fail(AuthError::kMissingClaim);
  p.subject = sub->asString();
  if (auto e = mapGroups(claims, mapping, p.groups)) return fail(*e);
  optionalStringClaim(claims, mapping.name, p.name);
  optionalStringClaim(claims, mapping.email, p.email);
  p.mfa = mapMfa(claims, mapping);
  p.provider = provider.name;
  p.issuer = iss->asString();
  p.method = AuthMethod::kJwt;
  p.credential_id = credentialId(token);
  if (exp_read == DateRead::kOk) {
    p.expires_at = SystemTime(std::chrono::seconds(exp));
    result.expires_at = p.expires_at;
  }
  return result;
}

}  // namespace stepgate::identity
