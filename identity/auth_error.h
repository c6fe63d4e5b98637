#pragma once
// AuthError: why an authentication failed, one distinct value per reason. The value is for
// stepgate's own records (metrics, logs, later the audit record); a client learns only what
// RFC 6750 allows, through bearerErrorCode() and authErrorHttpStatus(). Plain functions on
// a plain enum: safe from any thread.

#include <optional>

namespace stepgate::identity {

enum class AuthError : unsigned char {
  kMissingCredentials,        // no Authorization header (or client certificate) at all
  kMalformedHeader,           // an Authorization header that is not "Bearer <token>"
  kTokenTooLarge,             // over the provider's max_token_bytes
  kMalformedToken,            // not three dot-separated parts, empty parts, bad header shape
  kBadBase64,                 // a part is not strict unpadded base64url
  kBadJson,                   // header or payload is not a JSON object (or nests too deeply)
  kDuplicateClaim,            // a member name appears twice in the header or payload
  kUnsupportedAlg,            // "none" or an algorithm stepgate does not implement
  kAlgNotAllowed,             // an algorithm outside the provider's allowlist
  kCritUnsupported,           // a "crit" header (stepgate understands no extensions)
  kUnknownIssuer,             // no configured provider has this `iss`
  kNoMatchingKey,             // no key of the provider fits the token's kid and alg
  kBadSignature,
  kExpired,
  kMissingExp,
  kNotYetValid,               // nbf in the future
  kIssuedInFuture,            // iat in the future
  kLifetimeTooLong,           // exp - iat beyond the provider's max_lifetime
  kWrongIssuer,
  kWrongAudience,
  kWrongType,                 // the JOSE "typ" header differs from the provider's typ
  kMissingClaim,              // a required claim (or the subject) is absent or empty
  kClaimMismatch,             // a required claim has none of the required values
  kBadClaimType,              // a registered claim of the wrong JSON type (exp as a string)
  kKeysUnavailable,           // the provider's keys could not be obtained
  kIntrospectionInactive,     // the introspection endpoint says active: false
  kIntrospectionUnavailable,  // the introspection endpoint failed
  kCertificateMissing,        // an mTLS provider and no client certificate
  kCertificateUnverified,     // a client certificate that did not verify
  kSessionRevoked,            // a stepgate access token whose session was signed out
  kCount,                     // not an error: the number of values above
};

inline constexpr int kAuthErrorCount = static_cast<int>(AuthError::kCount);

// A stable snake_case name for metrics, logs and audit records ("bad_signature").
const char* authErrorName(AuthError e) noexcept;

// The inverse of authErrorName(); nullopt for unknown names.
std::optional<AuthError> parseAuthErrorName(const char* name) noexcept;

// The RFC 6750 section 3.1 error code for the WWW-Authenticate: Bearer challenge:
// "invalid_request" (a malformed Authorization header), "invalid_token" (any problem with
// the token itself), or "" (no credentials, or a server-side failure: no error attribute).
const char* bearerErrorCode(AuthError e) noexcept;

// The HTTP status to answer with: 400 for invalid_request, 503 when keys or the
// introspection endpoint are unavailable (fail closed, not a storm of 401s), else 401.
int authErrorHttpStatus(AuthError e) noexcept;

}  // namespace stepgate::identity
