#include "identity/key_set.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <array>
#include <cstring>

#include "common/c_ptr.h"
#include "common/json.h"
#include "identity/jwt.h"

namespace stepgate::identity {

namespace {

struct AlgEntry {
  JwsAlg alg;
  const char* name;
};

constexpr std::array<AlgEntry, 13> kAlgs = {{
    {JwsAlg::kRS256, "RS256"}, {JwsAlg::kRS384, "RS384"}, {JwsAlg::kRS512, "RS512"},
    {JwsAlg::kPS256, "PS256"}, {JwsAlg::kPS384, "PS384"}, {JwsAlg::kPS512, "PS512"},
    {JwsAlg::kES256, "ES256"}, {JwsAlg::kES384, "ES384"}, {JwsAlg::kES512, "ES512"},
    {JwsAlg::kEdDSA, "EdDSA"},
    {JwsAlg::kHS256, "HS256"}, {JwsAlg::kHS384, "HS384"}, {JwsAlg::kHS512, "HS512"},
}};

constexpr size_t kMaxJwksBytes = 1 << 20;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;

using BnPtr = CPtr<BIGNUM, BN_free>;
using ParamBldPtr = CPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = CPtr<OSSL_PARAM, OSSL_PARAM_free>;
using PkeyCtxPtr = CPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;

EvpPkeyPtr wrap(EVP_PKEY* k) { return EvpPkeyPtr(k, EVP_PKEY_free); }

// Builds a public key of `type` ("RSA", "EC") from OSSL params.
EvpPkeyPtr fromParams(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) return nullptr;
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) return nullptr;
  EvpPkeyPtr out = wrap(key);
  // Checks what a public key can be checked for (for EC: on the curve, not at infinity).
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return out;
}

// A base64url member decoded to bytes; an error string (for the warning) when it is not.
const char* decodeMember(const JsonValue& jwk, const char* name, std::string& out) {
  const JsonValue* v = jwk.find(name);
  if (v == nullptr) return "missing";
  if (!v->isString()) return "not a string";
  if (!base64UrlDecode(v->asString(), out)) return "not base64url";
  if (out.empty()) return "empty";
  return nullptr;
}

std::string rsaKey(const JsonValue& jwk, EvpPkeyPtr& out) {
  std::string n, e;
  if (const char* why = decodeMember(jwk, "n", n)) return std::string("\"n\" ") + why;
  if (const char* why = decodeMember(jwk, "e", e)) return std::string("\"e\" ") + why;
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                       static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                       static_cast<int>(e.size()), nullptr));
  if (!bn_n || !bn_e) return "out of memory";
  const int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits) return "RSA modulus of " + std::to_string(bits) + " bits is under 2048";
  if (bits > kMaxRsaBits) return "RSA modulus of " + std::to_string(bits) + " bits is too large";
  if (!BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) < 2 || BN_num_bits(bn_e.get()) > 64) {
    return "RSA exponent is not an odd number of 2..64 bits";
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return "out of memory";
  }
  out = fromParams("RSA", bld.get());
  return out ? "" : "OpenSSL rejected the RSA key";
}

std::string ecKey(const JsonValue& jwk, const std::string& crv, EvpPkeyPtr& out) {
  const char* group = nullptr;
  size_t size = 0;
  if (crv == "P-256") {
    group = "prime256v1";
    size = 32;
  } else if (crv == "P-384") {
    group = "secp384r1";
    size = 48;
  } else if (crv == "P-521") {
    group = "secp521r1";
    size = 66;
  } else {
    return "unsupported EC curve \"" + crv + "\"";
  }
  std::string x, y;
  if (const char* why = decodeMember(jwk, "x", x)) return std::string("\"x\" ") + why;
  if (const char* why = decodeMember(jwk, "y", y)) return std::string("\"y\" ") + why;
  if (x.size() != size || y.size() != size) {
    return "EC coordinates must be " + std::to_string(size) + " bytes for " + crv;
  }
  std::string point;
  point.reserve(1 + 2 * size);
  point.push_back('\x04');
  point += x;
  point += y;
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return "out of memory";
  }
  out = fromParams("EC", bld.get());
  return out ? "" : "EC point is not on the curve " + crv;
}

std::string okpKey(const JsonValue& jwk, const std::string& crv, EvpPkeyPtr& out) {
  if (crv != "Ed25519") return "unsupported OKP curve \"" + crv + "\"";
  std::string x;
  if (const char* why = decodeMember(jwk, "x", x)) return std::string("\"x\" ") + why;
  if (x.size() != 32) return "Ed25519 \"x\" must be 32 bytes";
  out = wrap(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  return out ? "" : "OpenSSL rejected the Ed25519 key";
}

// Parses one JWK; returns "" and fills `out`, or the reason it is skipped.
std::string parseOne(const JsonValue& v, Jwk& out) {
  if (!v.isObject()) return "not a JSON object";
  const JsonValue* kty = v.find("kty");
  if (kty == nullptr || !kty->isString()) return "no \"kty\" string";
  out.kty = kty->asString();
  if (const JsonValue* kid = v.find("kid")) {
    if (!kid->isString()) return "\"kid\" is not a string";
    out.kid = kid->asString();
  }
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (v.find(priv) != nullptr) {
      return std::string("has the private or secret member \"") + priv + "\"";
    }
  }
  if (out.kty == "oct") return "symmetric (\"oct\") keys are accepted from configuration only";
  if (const JsonValue* use = v.find("use")) {
    if (!use->isString() || use->asString() != "sig") return "\"use\" is not \"sig\"";
  }
  if (const JsonValue* ops = v.find("key_ops")) {
    bool verify = false;
    if (!ops->isArray()) return "\"key_ops\" is not an array";
    for (const JsonValue& op : ops->asArray()) {
      if (op.isString() && op.asString() == "verify") verify = true;
    }
    if (!verify) return "\"key_ops\" does not include \"verify\"";
  }
  if (const JsonValue* crv = v.find("crv")) {
    if (!crv->isString()) return "\"crv\" is not a string";
    out.crv = crv->asString();
  }
  if (const JsonValue* alg = v.find("alg")) {
    JwsAlg parsed;
    if (!alg->isString()) return "\"alg\" is not a string";
    if (!parseJwsAlg(alg->asString(), parsed)) {
      return "\"alg\" \"" + alg->asString() + "\" is not a supported JWS algorithm";
    }
    out.alg = alg->asString();
  }
  std::string why;
  if (out.kty == "RSA") {
    why = rsaKey(v, out.public_key);
  } else if (out.kty == "EC") {
    why = ecKey(v, out.crv, out.public_key);
  } else if (out.kty == "OKP") {
    why = okpKey(v, out.crv, out.public_key);
  } else {
    return "unsupported \"kty\" \"" + out.kty + "\"";
  }
  if (!why.empty()) return why;
  if (!out.alg.empty()) {
    JwsAlg alg;
    (void)parseJwsAlg(out.alg, alg);
    if (!out.fits(alg)) return "\"alg\" " + out.alg + " does not fit the key type";
  }
  return "";
}

}  // namespace

bool parseJwsAlg(std::string_view text, JwsAlg& out) noexcept {
  for (const AlgEntry& e : kAlgs) {
    if (text == e.name) {
      out = e.alg;
      return true;
    }
  }
  return false;
}

const char* jwsAlgName(JwsAlg alg) noexcept {
  for (const AlgEntry& e : kAlgs) {
    if (e.alg == alg) return e.name;
  }
  return "unknown";
}

bool Jwk::fits(JwsAlg a) const noexcept {
  if (!alg.empty() && alg != jwsAlgName(a)) return false;
  switch (a) {
    case JwsAlg::kRS256: case JwsAlg::kRS384: case JwsAlg::kRS512:
    case JwsAlg::kPS256: case JwsAlg::kPS384: case JwsAlg::kPS512:
      return kty == "RSA" && public_key != nullptr;
    case JwsAlg::kES256: return kty == "EC" && crv == "P-256" && public_key != nullptr;
    case JwsAlg::kES384: return kty == "EC" && crv == "P-384" && public_key != nullptr;
    case JwsAlg::kES512: return kty == "EC" && crv == "P-521" && public_key != nullptr;
    case JwsAlg::kEdDSA: return kty == "OKP" && crv == "Ed25519" && public_key != nullptr;
    case JwsAlg::kHS256: case JwsAlg::kHS384: case JwsAlg::kHS512:
      return kty == "oct" && !secret.empty() && public_key == nullptr;
  }
  return false;
}

std::vector<const Jwk*> KeySet::candidates(std::string_view kid, JwsAlg alg) const {
  std::vector<const Jwk*> out;
  for (const Jwk& k : keys) {
    if (!kid.empty() && k.kid != kid) continue;
    if (k.fits(alg)) out.push_back(&k);
  }
  return out;
}

StatusOr<KeySet> parseJwks(std::string_view json, std::vector<std::string>& warnings) {
  JsonLimits limits;
  limits.max_bytes = kMaxJwksBytes;
  StatusOr<JsonValue> doc = parseJson(json, limits);
  if (!doc.isOk()) return invalidArgument("JWKS: " + doc.status().message());
  if (!doc->isObject()) return invalidArgument("JWKS: not a JSON object");
  const JsonValue* keys = doc->find("keys");
  if (keys == nullptr || !keys->isArray()) return invalidArgument("JWKS: no \"keys\" array");
  KeySet set;
  size_t index = 0;
  for (const JsonValue& v : keys->asArray()) {
    Jwk jwk;
    std::string why = parseOne(v, jwk);
    if (why.empty()) {
      for (const Jwk& other : set.keys) {
        if (!jwk.kid.empty() && other.kid == jwk.kid) {
          warnings.push_back("JWKS key " + std::to_string(index) + " (kid \"" + jwk.kid +
                             "\"): another key has the same kid; both are kept");
          break;
        }
      }
      set.keys.push_back(std::move(jwk));
    } else {
      std::string who = "JWKS key " + std::to_string(index);
      if (!jwk.kid.empty()) who += " (kid \"" + jwk.kid + "\")";
      warnings.push_back(who + " skipped: " + why);
    }
    ++index;
  }
  return set;
}

}  // namespace stepgate::identity
