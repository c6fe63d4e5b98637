#include "identity/authenticator.h"

#include <algorithm>
#include <chrono>

#include "common/json.h"
#include "identity/jwt.h"
#include "identity/token_verifier.h"

namespace stepgate::identity {
namespace {

// Tokens without exp (require_exp: false) are re-verified at least this often.
constexpr std::chrono::minutes kMaxCacheWithoutExp{5};

}  // namespace

Authenticator::Authenticator(const config::IdentityConfig& config)
    : config_(config),
      keys_(config.providers.size()),
      cache_(config.token_cache_size),
      inactive_(config.token_cache_size / 4) {
  for (size_t i = 0; i < config.providers.size(); ++i) {
    const auto& p = config.providers[i];
    max_token_bytes_ = std::max(max_token_bytes_, p.max_token_bytes);
    if (p.type == config::ProviderType::kMtls)
      mtls_provider_ = static_cast<int>(i);
    if (p.type == config::ProviderType::kIntrospection) {
      introspection_provider_ = static_cast<int>(i);
    }
  }
}

int Authenticator::providerIndex(std::string_view name) const {
  for (size_t i = 0; i < config_.providers.size(); ++i) {
    if (config_.providers[i].name == name)
      return static_cast<int>(i);
  }
  return -1;
}

void Authenticator::setKeys(std::string_view provider, KeySetConstSharedPtr keys) {
  const int i = providerIndex(provider);
  if (i < 0)
    return;
  keys_[static_cast<size_t>(i)] = std::move(keys);
  cache_.clear();
}

AuthOutcome Authenticator::authenticateBearer(std::string_view token, SystemTime now) {
  AuthOutcome out;
  if (token.size() > max_token_bytes_) {
    out.error = AuthError::kTokenTooLarge;
    return out;
  }
  const Digest digest = digestOf(token);
  if (PrincipalConstSharedPtr hit = cache_.find(digest, now)) {
    out.principal = std::move(hit);
    out.provider = providerIndex(out.principal->provider);
    out.cached = true;
    return out;
  }
  if (introspection_provider_ >= 0 && inactive_.find(digest, now) != nullptr) {
    out.provider = introspection_provider_;
    out.error = AuthError::kIntrospectionInactive;
    return out;
  }
  // Parsed once: the unverified `iss` routes the token, and the same parse is verified.
  Jwt jwt;
  const std::optional<AuthError> parse_error = parseJwt(token, jwt, max_token_bytes_);
  const JsonValue* iss_value = parse_error ? nullptr : jwt.claims.find("iss");
  const bool has_iss = iss_value != nullptr && iss_value->isString();
  const std::string_view iss = has_iss ? std::string_view(iss_value->asString()) : "";
  const bool jws_shaped = std::count(token.begin(), token.end(), '.') == 2;
  if (introspection_provider_ >= 0 &&
      ((!has_iss && !jws_shaped) ||
       (has_iss && iss == config_.providers[static_cast<size_t>(introspection_provider_)].issuer))) {
    // An opaque token (or a JWT of the introspection provider's issuer): the endpoint decides.
    out.provider = introspection_provider_;
    out.introspect = true;
    return out;
  }
  if (!has_iss) {
    // Not routable: say precisely why (bad base64, duplicate claim, ...), or that there is
    // no issuer at all.
    out.error = parse_error.value_or(AuthError::kUnknownIssuer);
    return out;
  }
  int index = -1;
  for (size_t i = 0; i < config_.providers.size(); ++i) {
    const auto& p = config_.providers[i];
    if ((p.type == config::ProviderType::kJwt || p.type == config::ProviderType::kOidc) &&
        p.issuer == iss) {
      index = static_cast<int>(i);
      break;
    }
  }
  if (index < 0) {
    out.error = AuthError::kUnknownIssuer;
    return out;
  }
  out.provider = index;
  const config::ProviderConfig& provider = config_.providers[static_cast<size_t>(index)];
  const KeySetConstSharedPtr& keys = keys_[static_cast<size_t>(index)];
  if (!keys || keys->keys.empty()) {
    // Never fetched yet, or stale beyond max_staleness: fail closed, but as "unavailable".
    out.error = AuthError::kKeysUnavailable;
    return out;
  }
  VerifyResult r = verifyParsedJwt(jwt, token, provider, *keys, now);
  if (!r.ok()) {
    out.error = r.error;
    // Only a kid the set does not contain at all is worth a refetch; a kid of the wrong key
    // type, or an HS token without a secret, is not going to be fixed by new keys.
    if (*r.error == AuthError::kNoMatchingKey && !r.kid.empty()) {
      bool known = false;
      for (const Jwk& k : keys->keys)
        known = known || k.kid == r.kid;
      out.refetch = !known;
      if (out.refetch)
        out.kid = std::move(r.kid);
    }
    return out;
  }
  // A cached token stays no longer than its exp (the leeway is not extended to the cache).
  const SystemTime valid_until =
      r.expires_at != SystemTime{}
          ? r.expires_at
          : now + std::chrono::duration_cast<SystemTime::duration>(kMaxCacheWithoutExp);
  auto principal = std::make_shared<const Principal>(std::move(r.principal));
  cache_.insert(digest, principal, valid_until);
  out.principal = std::move(principal);
  return out;
}

void Authenticator::acceptIntrospection(std::string_view token,
                                        const PrincipalConstSharedPtr& principal, bool active,
                                        SystemTime valid_until) {
  if (valid_until == SystemTime{})
    return;  // a failure: never cached
  static const PrincipalConstSharedPtr kInactive = std::make_shared<const Principal>();
  if (active && principal) {
    cache_.insert(digestOf(token), principal, valid_until);
  } else if (!active) {
    inactive_.insert(digestOf(token), kInactive, valid_until);
  }
}

AuthOutcome Authenticator::authenticateCertificate(const ClientCertificate& cert) const {
  AuthOutcome out;
  if (mtls_provider_ < 0) {
    out.error = AuthError::kMissingCredentials;
    return out;
  }
  out.provider = mtls_provider_;
  auto p = std::make_shared<Principal>();
  switch (
      principalFromCertificate(cert, config_.providers[static_cast<size_t>(mtls_provider_)], *p)) {
    case CertificateOutcome::kOk:
      out.principal = std::move(p);
      return out;
    case CertificateOutcome::kMissing:
      out.error = AuthError::kCertificateMissing;
      return out;
    case CertificateOutcome::kUnverified:
      out.error = AuthError::kCertificateUnverified;
      return out;
    case CertificateOutcome::kNoIdentity:
      out.error = AuthError::kMissingClaim;
      return out;
  }
  return out;
}

}  // namespace stepgate::identity
