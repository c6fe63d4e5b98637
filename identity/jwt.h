#pragma once
// Compact JWS parsing (RFC 7515/7519), without cryptography and without I/O: split a token
// into its three parts, decode them with strict base64url, parse the header and the claims
// as strict JSON objects (duplicate names rejected), and read the JOSE header fields
// stepgate acts on. Signature verification is jws_verify.h; claim checks are
// token_verifier.h. Every function here is pure, noexcept and safe from any thread.
//
// Header rules: `alg` is required and must name an algorithm stepgate implements ("none"
// in any casing is unsupported). `kid` and `typ`, when present, must be strings. `crit`,
// when present, must be a non-empty array of strings; its names are returned so the
// verifier can reject them (stepgate understands no extensions). `jku`, `x5u`, `jwk` and
// `x5c` are never read: keys come from the provider's configuration only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/auth_error.h"
#include "common/json.h"
#include "identity/key_set.h"

namespace stepgate::identity {

inline constexpr uint32_t kDefaultMaxTokenBytes = 8192;
inline constexpr uint32_t kJwtMaxJsonDepth = 32;

// Strict base64url (RFC 4648 section 5) without padding: only A-Z a-z 0-9 '-' '_', no '=',
// no whitespace, a length that is not 1 mod 4, and zero bits after the last whole byte
// (so each byte string has exactly one accepted spelling). Returns false on any violation.
[[nodiscard]] bool base64UrlDecode(std::string_view in, std::string& out) noexcept;
std::string base64UrlEncode(std::string_view in);

struct Jwt {
  std::string_view signing_input;  // "header.payload", a view into the caller's token
  JwsAlg alg = JwsAlg::kRS256;
  std::string kid;                 // empty when absent
  bool has_kid = false;
  std::string typ;                 // empty when absent
  bool has_typ = false;
  std::vector<std::string> crit;   // names listed in "crit"; empty when absent
  JsonValue header;                // the header object
  JsonValue claims;                // the payload object
  std::string signature;           // decoded signature bytes (may be empty)
};

// Parses a compact JWS. `out.signing_input` points into `token`, which must outlive `out`.
// Returns nullopt on success, else: kTokenTooLarge (over max_bytes), kMalformedToken (not
// exactly three parts, an empty header or payload, header fields of the wrong type or a
// malformed crit), kBadBase64, kBadJson (not a JSON object, or nested over
// kJwtMaxJsonDepth), kDuplicateClaim, kUnsupportedAlg. An empty signature part is left for
// the verifier to reject as kBadSignature.
[[nodiscard]] std::optional<AuthError> parseJwt(
    std::string_view token, Jwt& out, uint32_t max_bytes = kDefaultMaxTokenBytes) noexcept;

// The `iss` claim of a token, read without verifying anything, to route the token to its
// provider before verification. nullopt when the token is over max_bytes, not three
// parts, its payload not strict base64url JSON, or `iss` is absent or not a string. The
// result is untrusted: verifyJwt() checks it again against the provider.
std::optional<std::string> peekIssuer(std::string_view token,
                                      uint32_t max_bytes = kDefaultMaxTokenBytes) noexcept;

}  // namespace stepgate::identity
