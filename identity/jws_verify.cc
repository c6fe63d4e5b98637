#include "identity/jws_verify.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "common/c_ptr.h"

namespace stepgate::identity {

namespace {

using MdCtxPtr = CPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using MacCtxPtr = CPtr<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using EcdsaSigPtr = CPtr<ECDSA_SIG, ECDSA_SIG_free>;

const EVP_MD* digestFor(JwsAlg alg) noexcept {
  switch (alg) {
    case JwsAlg::kRS256: case JwsAlg::kPS256: case JwsAlg::kES256: case JwsAlg::kHS256:
      return EVP_sha256();
    case JwsAlg::kRS384: case JwsAlg::kPS384: case JwsAlg::kES384: case JwsAlg::kHS384:
      return EVP_sha384();
    case JwsAlg::kRS512: case JwsAlg::kPS512: case JwsAlg::kES512: case JwsAlg::kHS512:
      return EVP_sha512();
    case JwsAlg::kEdDSA:
      return nullptr;
  }
  return nullptr;
}

const unsigned char* bytes(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// EVP_DigestVerify over `input` with `md` (nullptr for Ed25519); `pss` selects RSA-PSS with
// salt length = digest length and MGF1 with the same digest.
bool evpVerify(EVP_PKEY* key, const EVP_MD* md, bool pss, std::string_view input,
               const unsigned char* sig, size_t sig_len) noexcept {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1) return false;
  if (pss) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0) {
      return false;
    }
  }
  return EVP_DigestVerify(ctx.get(), sig, sig_len, bytes(input), input.size()) == 1;
}

bool verifyEcdsa(EVP_PKEY* key, JwsAlg alg, std::string_view input,
                 std::string_view signature) noexcept {
  const size_t half = alg == JwsAlg::kES256 ? 32 : alg == JwsAlg::kES384 ? 48 : 66;
  if (signature.size() != 2 * half) return false;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!sig) return false;
  BIGNUM* r = BN_bin2bn(bytes(signature), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(bytes(signature) + half, static_cast<int>(half), nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) return false;
  const bool ok = evpVerify(key, digestFor(alg), false, input, der, static_cast<size_t>(der_len));
  OPENSSL_free(der);
  return ok;
}

EVP_MAC* hmac() noexcept {
  // Fetched once; an EVP_MAC is immutable and shared by every thread.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

bool verifyHmac(const std::string& secret, JwsAlg alg, std::string_view input,
                std::string_view signature) noexcept {
  const EVP_MD* md = digestFor(alg);
  const size_t len = static_cast<size_t>(EVP_MD_get_size(md));
  if (signature.size() != len || secret.empty() || hmac() == nullptr) return false;
  MacCtxPtr ctx(EVP_MAC_CTX_new(hmac()));
  if (!ctx) return false;
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                               const_cast<char*>(EVP_MD_get0_name(md)), 0);
  params[1] = OSSL_PARAM_construct_end();
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (EVP_MAC_init(ctx.get(), bytes(secret), secret.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), bytes(input), input.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out, &out_len, sizeof(out)) != 1 || out_len != len) {
    return false;
  }
  return CRYPTO_memcmp(out, signature.data(), len) == 0;
}

}  // namespace

bool verifyJwsSignature(JwsAlg alg, std::string_view signing_input, std::string_view signature,
                        const Jwk& key) noexcept {
  if (!key.fits(alg) || signature.empty()) return false;
  switch (alg) {
    case JwsAlg::kRS256: case JwsAlg::kRS384: case JwsAlg::kRS512:
      return evpVerify(key.public_key.get(), digestFor(alg), false, signing_input,
                       bytes(signature), signature.size());
    case JwsAlg::kPS256: case JwsAlg::kPS384: case JwsAlg::kPS512:
      return evpVerify(key.public_key.get(), digestFor(alg), true, signing_input,
                       bytes(signature), signature.size());
    case JwsAlg::kES256: case JwsAlg::kES384: case JwsAlg::kES512:
      return verifyEcdsa(key.public_key.get(), alg, signing_input, signature);
    case JwsAlg::kEdDSA:
      if (signature.size() != 64) return false;
      return evpVerify(key.public_key.get(), nullptr, false, signing_input, bytes(signature),
                       signature.size());
    case JwsAlg::kHS256: case JwsAlg::kHS384: case JwsAlg::kHS512:
      return verifyHmac(key.secret, alg, signing_input, signature);
  }
  return false;
}

Jwk makeSecretJwk(std::string secret, std::string kid) {
  Jwk jwk;
  jwk.kid = std::move(kid);
  jwk.kty = "oct";
  jwk.secret = std::move(secret);
  return jwk;
}

}  // namespace stepgate::identity
