#include "identity/jws_sign.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "common/c_ptr.h"
#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

using MdCtxPtr = CPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using BignumPtr = CPtr<BIGNUM, BN_free>;
using EcdsaSigPtr = CPtr<ECDSA_SIG, ECDSA_SIG_free>;

constexpr int kMinRsaBits = 2048;

enum class Family { kRsa, kRsaPss, kEc, kEd25519 };

struct AlgSpec {
  Family family;
  const EVP_MD* (*md)();  // null for EdDSA
  const char* curve;      // OpenSSL group name for EC, else null
  const char* jwk_curve;  // JOSE name of that curve
  size_t coordinate;      // bytes of R and of S for EC
};

bool specFor(JwsAlg alg, AlgSpec& out) {
  switch (alg) {
    case JwsAlg::kRS256: out = {Family::kRsa, EVP_sha256, nullptr, nullptr, 0}; return true;
    case JwsAlg::kRS384: out = {Family::kRsa, EVP_sha384, nullptr, nullptr, 0}; return true;
    case JwsAlg::kRS512: out = {Family::kRsa, EVP_sha512, nullptr, nullptr, 0}; return true;
    case JwsAlg::kPS256: out = {Family::kRsaPss, EVP_sha256, nullptr, nullptr, 0}; return true;
    case JwsAlg::kPS384: out = {Family::kRsaPss, EVP_sha384, nullptr, nullptr, 0}; return true;
    case JwsAlg::kPS512: out = {Family::kRsaPss, EVP_sha512, nullptr, nullptr, 0}; return true;
    case JwsAlg::kES256: out = {Family::kEc, EVP_sha256, "prime256v1", "P-256", 32}; return true;
    case JwsAlg::kES384: out = {Family::kEc, EVP_sha384, "secp384r1", "P-384", 48}; return true;
    case JwsAlg::kES512: out = {Family::kEc, EVP_sha512, "secp521r1", "P-521", 66}; return true;
    case JwsAlg::kEdDSA: out = {Family::kEd25519, nullptr, nullptr, nullptr, 0}; return true;
    case JwsAlg::kHS256: case JwsAlg::kHS384: case JwsAlg::kHS512:
      return false;
  }
  return false;
}

std::string opensslError() {
  char buf[256] = {0};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string groupName(EVP_PKEY* key) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof name, &len) != 1) {
    return "";
  }
  return std::string(name, len);
}

// "an RSA key", "an EC P-384 key", ... for error messages.
std::string describeKey(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) return "an RSA key of " + std::to_string(EVP_PKEY_get_bits(key)) + " bits";
  if (EVP_PKEY_is_a(key, "RSA-PSS")) return "an RSA-PSS key";
  if (EVP_PKEY_is_a(key, "EC")) {
    const std::string group = groupName(key);
    if (group == "prime256v1") return "an EC P-256 key";
    if (group == "secp384r1") return "an EC P-384 key";
    if (group == "secp521r1") return "an EC P-521 key";
    return "an EC key on curve " + (group.empty() ? std::string("?") : group);
  }
  if (EVP_PKEY_is_a(key, "ED25519")) return "an Ed25519 key";
  if (EVP_PKEY_is_a(key, "ED448")) return "an Ed448 key";
  const char* name = EVP_PKEY_get0_type_name(key);
  return std::string("a key of type ") + (name != nullptr ? name : "?");
}

// The big-endian bytes of a BIGNUM parameter of `key`, left-padded to `width` (0: minimal).
bool bignumParam(EVP_PKEY* key, const char* name, size_t width, std::string& out) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    return false;
  }
  BignumPtr bn(raw);
  const size_t size = width != 0 ? width : static_cast<size_t>(BN_num_bytes(bn.get()));
  out.assign(size, '\0');
  return BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()),
                      static_cast<int>(size)) == static_cast<int>(size);
}

// JWS wants R||S, each `width` bytes big-endian; OpenSSL produces a DER SEQUENCE.
bool derToRaw(std::string_view der, size_t width, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr) {
    return false;
  }
  out.assign(2 * width, '\0');
  auto* raw = reinterpret_cast<unsigned char*>(out.data());
  const int w = static_cast<int>(width);
  return BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw, w) == w &&
         BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw + width, w) == w;
}

}  // namespace

Status checkSigningKey(EVP_PKEY* key, JwsAlg alg) {
  AlgSpec spec{};
  if (!specFor(alg, spec)) {
    return invalidArgument(std::string(jwsAlgName(alg)) +
                           " is not a signing algorithm here (HMAC needs a shared secret)");
  }
  if (key == nullptr) {
    return invalidArgument("no key");
  }
  const std::string name = jwsAlgName(alg);
  switch (spec.family) {
    case Family::kRsa:
    case Family::kRsaPss:
      if (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < kMinRsaBits) {
        return invalidArgument(name + " needs an RSA key of at least 2048 bits; this is " +
                               describeKey(key));
      }
      return okStatus();
    case Family::kEc:
      if (!EVP_PKEY_is_a(key, "EC") || groupName(key) != spec.curve) {
        return invalidArgument(name + " needs an EC " + spec.jwk_curve + " key; this is " +
                               describeKey(key));
      }
      return okStatus();
    case Family::kEd25519:
      if (!EVP_PKEY_is_a(key, "ED25519")) {
        return invalidArgument(name + " needs an Ed25519 key; this is " + describeKey(key));
      }
      return okStatus();
  }
  return invalidArgument("unknown algorithm");
}

StatusOr<std::string> signJws(EVP_PKEY* key, JwsAlg alg, std::string_view header_json,
                              std::string_view claims_json) {
  RETURN_IF_ERROR(checkSigningKey(key, alg));
  AlgSpec spec{};
  (void)specFor(alg, spec);
  const std::string input = base64UrlEncode(header_json) + "." + base64UrlEncode(claims_json);

  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  const EVP_MD* md = spec.md != nullptr ? spec.md() : nullptr;
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return internalError(std::string(jwsAlgName(alg)) + " signing: " + opensslError());
  }
  if (spec.family == Family::kRsaPss &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0)) {
    return internalError(std::string(jwsAlgName(alg)) + " signing: " + opensslError());
  }
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
    return internalError(std::string(jwsAlgName(alg)) + " signing: " + opensslError());
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, data,
                     input.size()) != 1) {
    return internalError(std::string(jwsAlgName(alg)) + " signing: " + opensslError());
  }
  signature.resize(len);
  if (spec.family == Family::kEc) {
    std::string raw;
    if (!derToRaw(signature, spec.coordinate, raw)) {
      return internalError(std::string(jwsAlgName(alg)) + " signing: bad ECDSA signature");
    }
    signature = std::move(raw);
  }
  return input + "." + base64UrlEncode(signature);
}

StatusOr<std::string> jwkThumbprint(EVP_PKEY* key) {
  if (key == nullptr) {
    return invalidArgument("no key");
  }
  // Members in lexicographic order, no whitespace (RFC 7638 section 3.3); every value here is
  // base64url or a fixed name, so nothing needs JSON escaping.
  std::string canonical;
  if (EVP_PKEY_is_a(key, "RSA")) {
    std::string n, e;
    if (!bignumParam(key, OSSL_PKEY_PARAM_RSA_N, 0, n) ||
        !bignumParam(key, OSSL_PKEY_PARAM_RSA_E, 0, e)) {
      return invalidArgument("cannot read the RSA public key");
    }
    canonical = "{\"e\":\"" + base64UrlEncode(e) + "\",\"kty\":\"RSA\",\"n\":\"" +
                base64UrlEncode(n) + "\"}";
  } else if (EVP_PKEY_is_a(key, "EC")) {
    const std::string group = groupName(key);
    const char* crv = nullptr;
    size_t width = 0;
    if (group == "prime256v1") {
      crv = "P-256", width = 32;
    } else if (group == "secp384r1") {
      crv = "P-384", width = 48;
    } else if (group == "secp521r1") {
      crv = "P-521", width = 66;
    } else {
      return invalidArgument("no JWK for " + describeKey(key));
    }
    std::string x, y;
    if (!bignumParam(key, OSSL_PKEY_PARAM_EC_PUB_X, width, x) ||
        !bignumParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, width, y)) {
      return invalidArgument("cannot read the EC public key");
    }
    canonical = std::string("{\"crv\":\"") + crv + "\",\"kty\":\"EC\",\"x\":\"" +
                base64UrlEncode(x) + "\",\"y\":\"" + base64UrlEncode(y) + "\"}";
  } else if (EVP_PKEY_is_a(key, "ED25519")) {
    std::string x(32, '\0');
    size_t len = x.size();
    if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(x.data()), &len) != 1 ||
        len != 32) {
      return invalidArgument("cannot read the Ed25519 public key");
    }
    canonical = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"" + base64UrlEncode(x) + "\"}";
  } else {
    return invalidArgument("no JWK for " + describeKey(key));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(canonical.data(), canonical.size(), digest, &digest_len, EVP_sha256(),
                 nullptr) != 1) {
    return internalError("SHA-256 failed: " + opensslError());
  }
  return base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(digest), digest_len));
}

}  // namespace stepgate::identity
