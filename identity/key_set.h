#pragma once
// KeySet: the verification keys of one provider (a parsed JWKS, or a shared secret), as an
// immutable snapshot. Built off the request path (by the KeyStore's control thread, or at
// config load for files and secrets), then shared read-only by every worker through
// KeySetConstSharedPtr. EVP_PKEY objects are reference-counted by OpenSSL and are safe to use
// for verification from several threads at once.

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time_source.h"

namespace stepgate::identity {

// The JWS algorithms stepgate verifies. `none` is not one of them, ever.
enum class JwsAlg : unsigned char {
  kRS256, kRS384, kRS512,
  kPS256, kPS384, kPS512,
  kES256, kES384, kES512,
  kEdDSA,
  kHS256, kHS384, kHS512,  // only with a provider configured with a shared secret
};

// Parses "RS256" etc.; false for anything else (including "none").
bool parseJwsAlg(std::string_view text, JwsAlg& out) noexcept;
const char* jwsAlgName(JwsAlg alg) noexcept;

using EvpPkeyPtr = std::shared_ptr<EVP_PKEY>;  // deleter: EVP_PKEY_free

struct Jwk {
  std::string kid;      // may be empty
  std::string kty;      // "RSA", "EC", "OKP", "oct"
  std::string crv;      // "P-256", "P-384", "P-521", "Ed25519" for EC/OKP
  std::string alg;      // the JWK's "alg" if present; a token's alg must then match it
  EvpPkeyPtr public_key;     // RSA/EC/OKP
  std::string secret;        // "oct" keys from a configured shared secret only

  // True iff this key may verify a token signed with `alg` (kty/crv/alg fit).
  bool fits(JwsAlg alg) const noexcept;
};

struct KeySet {
  std::vector<Jwk> keys;
  SystemTime fetched_at{};

  // Keys a token with this kid and alg may be verified with: the key with that kid if the
  // token names one (and it fits), else every key that fits `alg`.
  std::vector<const Jwk*> candidates(std::string_view kid, JwsAlg alg) const;
};

using KeySetConstSharedPtr = std::shared_ptr<const KeySet>;

// Parses a JWKS document (RFC 7517). Keys that cannot be used (unknown kty/crv, "use" other
// than "sig", private members present, malformed numbers, RSA moduli under 2048 bits) are
// skipped and described in `warnings`; a document that is not a JWKS is an error. Strict
// JSON: duplicate member names are an error.
[[nodiscard]] StatusOr<KeySet> parseJwks(std::string_view json, std::vector<std::string>& warnings);

}  // namespace stepgate::identity
