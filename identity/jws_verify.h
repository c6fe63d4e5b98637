#pragma once
// JWS signature verification with OpenSSL EVP: one signature, one key, no key selection and
// no claims. Pure, noexcept, and safe from any thread (EVP_PKEY objects are only read; each
// call builds its own EVP contexts).
//
// Algorithms (RFC 7518, RFC 8037):
//   RS256/384/512  RSASSA-PKCS1-v1_5 with SHA-256/384/512
//   PS256/384/512  RSASSA-PSS, MGF1 with the same hash, salt length = hash length
//   ES256/384/512  ECDSA on P-256/P-384/P-521; the signature is raw R||S of exactly
//                  2 x 32/48/66 bytes (a DER signature is rejected)
//   EdDSA          Ed25519
//   HS256/384/512  HMAC, compared in constant time, only with a "oct" Jwk whose secret came
//                  from configuration (never a public key's bytes)
// The key must fit the algorithm (Jwk::fits): an HS token against an RSA or EC key, or an
// RS token against an EC key, fails without touching the key.

#include <string>
#include <string_view>

#include "identity/key_set.h"

namespace stepgate::identity {

// True iff `signature` is a valid `alg` signature of `signing_input` under `key`.
[[nodiscard]] bool verifyJwsSignature(JwsAlg alg, std::string_view signing_input,
                                      std::string_view signature, const Jwk& key) noexcept;

// A "oct" Jwk for HS* verification from a configured shared secret (raw bytes).
// RFC 7518 section 3.2 asks for a secret at least as long as the hash output; the config
// loader is the place to enforce that with a clear message.
Jwk makeSecretJwk(std::string secret, std::string kid = "");

}  // namespace stepgate::identity
