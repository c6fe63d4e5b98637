#pragma once
// Claim checks and the claims-to-Principal mapping shared by every token provider: verifyJwt()
// (the claims of a verified JWT) and the Introspector (the members of an RFC 7662 answer).
// Plain functions over a parsed JsonValue and the provider's configuration: no I/O, no clock
// (callers compare dates themselves), no shared state, so they are safe from any thread.
//
// Claim names given as JSON pointers (starting with '/') are looked up as pointers, others as
// top-level member names (so "cognito:groups" and "scope" work).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.h"
#include "identity/auth_error.h"
#include "common/json.h"
#include "identity/principal.h"

namespace stepgate::identity {

// The claim `name` of `claims`: a JSON pointer when `name` starts with '/', else a top-level
// member. nullptr when absent.
const JsonValue* lookupClaim(const JsonValue& claims, std::string_view name) noexcept;

enum class NumericDateRead : unsigned char { kAbsent, kOk, kBadType };

// Reads the NumericDate member `name` (RFC 7519: seconds since the epoch). An integer, or a
// fraction that is floored; clamped to +-9e9 s (year 2255) so later arithmetic in milliseconds
// cannot overflow. kBadType for anything that is not a finite JSON number (a string too).
NumericDateRead readNumericDate(const JsonValue& claims, std::string_view name,
                                int64_t& out) noexcept;

/**
 * Checks `aud` against the provider's audiences. `audiences` empty: not checked.
 * @return nullopt when a string aud, or an element of an array aud, is one of `audiences`;
 *         kWrongAudience when none is (or aud is absent); kBadClaimType when aud is neither a
 *         string nor an array of strings.
 */
std::optional<AuthError> checkAudience(const JsonValue& claims,
                                       const std::vector<std::string>& audiences) noexcept;

/**
 * Checks the provider's required claims, in configuration order.
 * @return kMissingClaim for the first absent claim; kClaimMismatch when a claim with any_of
 *         has neither a string value in any_of nor an array value with an element in it.
 */
std::optional<AuthError> checkRequiredClaims(
    const JsonValue& claims, const std::vector<config::RequiredClaim>& required) noexcept;

/**
 * Fills the claim-derived fields of `p` from `claims` per `mapping`:
 *  - subject from mapping.subject: a non-empty string (absent or "" is kMissingClaim, another
 *    type kBadClaimType);
 *  - groups from mapping.groups: an array of strings, a single string, or a space-separated
 *    string when groups_space_separated; sorted and unique; absent (or null) means no groups;
 *    a non-string element or another type is kBadClaimType;
 *  - name and email when they are strings;
 *  - mfa when the `amr` array holds one of mfa_amr or `acr` equals one of mfa_acr.
 * Leaves provider, issuer, method, credential_id and expires_at to the caller.
 * @return nullopt on success; on failure `p` is partly filled and must be discarded.
 */
std::optional<AuthError> mapClaims(const JsonValue& claims, const config::ClaimMapping& mapping,
                                   Principal& p);

}  // namespace stepgate::identity
