#include "identity/auth_error.h"

#include <cstring>

namespace stepgate::identity {

const char* authErrorName(AuthError e) noexcept {
  switch (e) {
    case AuthError::kMissingCredentials: return "missing_credentials";
    case AuthError::kMalformedHeader: return "malformed_header";
    case AuthError::kTokenTooLarge: return "token_too_large";
    case AuthError::kMalformedToken: return "malformed_token";
    case AuthError::kBadBase64: return "bad_base64";
    case AuthError::kBadJson: return "bad_json";
    case AuthError::kDuplicateClaim: return "duplicate_claim";
    case AuthError::kUnsupportedAlg: return "unsupported_alg";
    case AuthError::kAlgNotAllowed: return "alg_not_allowed";
    case AuthError::kCritUnsupported: return "crit_unsupported";
    case AuthError::kUnknownIssuer: return "unknown_issuer";
    case AuthError::kNoMatchingKey: return "no_matching_key";
    case AuthError::kBadSignature: return "bad_signature";
    case AuthError::kExpired: return "expired";
    case AuthError::kMissingExp: return "missing_exp";
    case AuthError::kNotYetValid: return "not_yet_valid";
    case AuthError::kIssuedInFuture: return "issued_in_future";
    case AuthError::kLifetimeTooLong: return "lifetime_too_long";
    case AuthError::kWrongIssuer: return "wrong_issuer";
    case AuthError::kWrongAudience: return "wrong_audience";
    case AuthError::kWrongType: return "wrong_type";
    case AuthError::kMissingClaim: return "missing_claim";
    case AuthError::kClaimMismatch: return "claim_mismatch";
    case AuthError::kBadClaimType: return "bad_claim_type";
    case AuthError::kKeysUnavailable: return "keys_unavailable";
    case AuthError::kIntrospectionInactive: return "introspection_inactive";
    case AuthError::kIntrospectionUnavailable: return "introspection_unavailable";
    case AuthError::kCertificateMissing: return "certificate_missing";
    case AuthError::kCertificateUnverified: return "certificate_unverified";
    case AuthError::kSessionRevoked: return "session_revoked";
    case AuthError::kCount: break;
  }
  return "unknown";
}

std::optional<AuthError> parseAuthErrorName(const char* name) noexcept {
  if (name == nullptr) return std::nullopt;
  for (int i = 0; i < kAuthErrorCount; ++i) {
    const auto e = static_cast<AuthError>(i);
    if (std::strcmp(authErrorName(e), name) == 0) return e;
  }
  return std::nullopt;
}

const char* bearerErrorCode(AuthError e) noexcept {
  switch (e) {
    case AuthError::kMissingCredentials:
    case AuthError::kKeysUnavailable:
    case AuthError::kIntrospectionUnavailable:
    case AuthError::kCertificateMissing:
    case AuthError::kCertificateUnverified:
    case AuthError::kCount:
      return "";
    case AuthError::kMalformedHeader:
      return "invalid_request";
    default:
      return "invalid_token";
  }
}

int authErrorHttpStatus(AuthError e) noexcept {
  switch (e) {
    case AuthError::kMalformedHeader: return 400;
    case AuthError::kKeysUnavailable:
    case AuthError::kIntrospectionUnavailable: return 503;
    default: return 401;
  }
}

}  // namespace stepgate::identity
