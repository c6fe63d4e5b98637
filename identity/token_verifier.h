#pragma once
// verifyJwt(): the whole check of one bearer JWT against one provider, from the raw token
// to a Principal. Pure: no I/O, no clock (the caller passes `now`), no caching, no shared
// state, so it is safe from any thread and the caller decides what to cache. The KeySet is
// a snapshot the caller keeps alive for the duration of the call.
//
// Order of checks (the first failure is reported):
//   1. size (provider.max_token_bytes)              kTokenTooLarge
//   2. parse (jwt.h)                                kMalformedToken, kBadBase64, kBadJson,
//                                                   kDuplicateClaim, kUnsupportedAlg
//   3. alg in provider.algorithms, before any key   kAlgNotAllowed
//   4. crit present                                 kCritUnsupported
//   5. keys.candidates(kid, alg); none              kNoMatchingKey (the caller may refetch
//                                                   the JWKS, rate-limited, once per kid)
//      the signature verifies with one of them      kBadSignature (empty signature too)
//   6. claims, all after the signature:
//      typ   header "typ" equals provider.typ, ASCII case-insensitively, an optional
//            "application/" prefix ignored on either side (RFC 9068 "at+jwt"); provider.typ
//            empty: not checked                     kWrongType
//      iss   a string, exactly provider.issuer      kWrongIssuer / kBadClaimType
//      exp   a JSON number (an integer, or a fraction that is floored); a string is
//            kBadClaimType; required unless provider.require_exp is false (kMissingExp);
//            expired when now >= exp + leeway (RFC 7519: valid only before exp) kExpired
//      nbf   not yet valid when now + leeway < nbf  kNotYetValid
//      iat   in the future when iat > now + leeway  kIssuedInFuture
//      max_lifetime (when non-zero): iat and exp both required (kMissingClaim /
//            kMissingExp), exp - iat > max_lifetime kLifetimeTooLong
//      aud   a string or an array of strings containing one of provider.audiences
//            (kWrongAudience; absent aud too). provider.audiences empty: aud is NOT
//            checked, so the loader should require audiences for shared issuers.
//      required_claims  each present (kMissingClaim); with any_of, a string value in
//            any_of or an array value with an element in any_of (kClaimMismatch)
//   7. mapping (config::ClaimMapping), see below    kMissingClaim / kBadClaimType
// Claim names given as JSON pointers (starting with '/') are looked up as pointers, others
// as top-level member names (so "cognito:groups" and "scope" work).
//
// Principal mapping: subject from claims.subject (a non-empty string); groups from
// claims.groups (an array of strings, a single string, or a space-separated string when
// groups_space_separated; sorted and unique; absent means no groups; non-string elements
// are kBadClaimType); name and email when they are strings; mfa when the `amr` array holds
// one of mfa_amr or `acr` equals one of mfa_acr; credential_id the first 32 hex digits of
// SHA-256(token); method kJwt; provider and issuer; expires_at from exp ({} without exp).

#include <optional>
#include <string>
#include <string_view>

#include "config/schema.h"
#include "identity/auth_error.h"
#include "identity/jwt.h"
#include "identity/key_set.h"
#include "identity/principal.h"

namespace stepgate::identity {

struct VerifyResult {
  std::optional<AuthError> error;  // nullopt: verified
  Principal principal;             // set on success only
  SystemTime expires_at{};         // exp on success; {} without exp
  std::string kid;                 // the token's kid once the header parsed (for refetch)

  bool ok() const noexcept { return !error.has_value(); }
};

[[nodiscard]] VerifyResult verifyJwt(std::string_view token, const config::ProviderConfig& provider,
                                     const KeySet& keys, SystemTime now) noexcept;

// The same checks for a token already parsed by parseJwt() (so a caller that parsed it to
// route it by `iss` does not parse it twice). `jwt` must come from `token`.
[[nodiscard]] VerifyResult verifyParsedJwt(const Jwt& jwt, std::string_view token,
                                           const config::ProviderConfig& provider,
                                           const KeySet& keys, SystemTime now) noexcept;

// The credential id of a token: hex SHA-256, truncated to 32 characters.
std::string credentialId(std::string_view token) noexcept;

}  // namespace stepgate::identity
