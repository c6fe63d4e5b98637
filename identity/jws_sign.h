#pragma once
// JWS signing with OpenSSL EVP (RFC 7515 compact serialisation): the development issuer's
// tokens and the private_key_jwt client assertions of the Introspector (RFC 7523). The
// counterpart of jws_verify.h; no key selection, no claims, no I/O. Every function is safe
// from any thread: the EVP_PKEY is only read, and each call builds its own EVP contexts.
//
// Algorithms (RFC 7518, RFC 8037), each with the key it needs:
//   RS256/384/512  RSASSA-PKCS1-v1_5 with SHA-256/384/512   an RSA key of 2048 bits or more
//   PS256/384/512  RSASSA-PSS, MGF1 with the same hash,      the same
//                  salt length = hash length
//   ES256/384/512  ECDSA on P-256/P-384/P-521; the signature an EC key on that curve
//                  is written as raw R||S of 2 x 32/48/66 bytes (not DER)
//   EdDSA          Ed25519                                   an Ed25519 key
// HS* is not signed here: stepgate holds no shared secret it would sign with.

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "common/status.h"
#include "identity/key_set.h"

namespace stepgate::identity {

/**
 * Whether `key` (a private key) can sign with `alg`.
 * @return OK; or InvalidArgument naming what does not fit (e.g. "ES256 needs an EC P-256
 *         key; this is an RSA key"). Never contains key material.
 */
[[nodiscard]] Status checkSigningKey(EVP_PKEY* key, JwsAlg alg);

/**
 * Signs: base64url(header_json) "." base64url(claims_json) "." base64url(signature). The JSON
 * texts are used as given (the caller writes `alg` into the header; it is not checked here).
 * REQUIRES: `key` is not null.
 * @return the compact JWS; or InvalidArgument when the key does not fit `alg` (as
 *         checkSigningKey), or Internal when OpenSSL fails.
 */
[[nodiscard]] StatusOr<std::string> signJws(EVP_PKEY* key, JwsAlg alg, std::string_view header_json,
                                            std::string_view claims_json);

/**
 * The RFC 7638 JWK thumbprint of `key`'s public half: base64url(SHA-256 of the canonical JWK,
 * {"e","kty","n"} for RSA, {"crv","kty","x","y"} for EC P-256/384/521, {"crv","kty","x"} for
 * Ed25519). Used as a client assertion's `kid`.
 * @return the thumbprint; or InvalidArgument for another kind of key.
 */
[[nodiscard]] StatusOr<std::string> jwkThumbprint(EVP_PKEY* key);

}  // namespace stepgate::identity
