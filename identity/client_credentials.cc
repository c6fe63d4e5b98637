#include "identity/client_credentials.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>

#include "common/json_writer.h"
#include "identity/http_fetch.h"
#include "identity/jws_sign.h"
#include "identity/jwt.h"

namespace stepgate::identity {

StatusOr<std::string> readClientSecretFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return notFound("cannot open client_secret_file " + path);
  }
  std::string out;
  char buf[1024];
  size_t n = 0;
  bool too_large = false;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    out.append(buf, n);
    if (out.size() > kMaxClientSecretFileBytes) {
      too_large = true;
      break;
    }
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (too_large || failed) {
    OPENSSL_cleanse(out.data(), out.size());
    return too_large ? invalidArgument("client_secret_file " + path + " is larger than " +
                                       std::to_string(kMaxClientSecretFileBytes) + " bytes")
                     : unavailable("cannot read client_secret_file " + path);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.back() = '\0';
    out.pop_back();
  }
  if (out.empty()) {
    return invalidArgument("client_secret_file " + path + " is empty");
  }
  return out;
}

// Refuses to prompt for a passphrase: an encrypted key fails to load instead.
static int noPassphrase(char*, int, int, void*) {
  return -1;
}

// The PEM private key in `path` (PKCS#8 or a traditional RSA/EC key; not encrypted).
StatusOr<EvpPkeyPtr> readClientKeyFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return notFound("cannot open client_key_file " + path);
  }
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, noPassphrase, nullptr);
  std::fclose(f);
  ERR_clear_error();  // leave no stale entry for later, unrelated error reports
  if (key == nullptr) {
    return invalidArgument("client_key_file " + path +
                           " holds no unencrypted PEM private key");
  }
  return EvpPkeyPtr(key, EVP_PKEY_free);
}

std::string basicAuthorization(std::string_view client_id, std::string_view secret) {
  // encodeForm() of one pair gives "id=secret" whose only literal '=' is the separator.
  std::string joined = encodeForm({{std::string(client_id), std::string(secret)}});
  joined[joined.find('=')] = ':';
  std::string b64(4 * ((joined.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(joined.data()),
                                static_cast<int>(joined.size()));
  b64.resize(n > 0 ? static_cast<size_t>(n) : 0);
  OPENSSL_cleanse(joined.data(), joined.size());
  std::string header = "Basic " + b64;
  OPENSSL_cleanse(b64.data(), b64.size());
  return header;
}

StatusOr<ClientAssertionSigner> ClientAssertionSigner::load(const std::string& key_file,
                                                            const std::string& alg_name) {
  ClientAssertionSigner s;
  if (!parseJwsAlg(alg_name, s.alg_) || s.alg_ == JwsAlg::kHS256 || s.alg_ == JwsAlg::kHS384 ||
      s.alg_ == JwsAlg::kHS512) {
    return invalidArgument("client_key_alg '" + alg_name +
                           "' is not a signing algorithm stepgate supports");
  }
  auto key = readClientKeyFile(key_file);
  if (!key.isOk()) return key.status();
  if (Status fits = checkSigningKey(key->get(), s.alg_); !fits.isOk()) {
    return invalidArgument("client_key_alg " + alg_name + " does not fit client_key_file " +
                           key_file + ": " + fits.message());
  }
  s.key_ = std::move(key).value();
  s.header_ = "{\"alg\":";
  json::appendString(s.header_, jwsAlgName(s.alg_));
  s.header_ += ",\"typ\":\"JWT\"";
  if (auto kid = jwkThumbprint(s.key_.get()); kid.isOk()) {
    s.header_ += ",\"kid\":";
    json::appendString(s.header_, *kid);
  }
  s.header_ += "}";
  return s;
}

StatusOr<std::string> ClientAssertionSigner::sign(std::string_view client_id,
                                                  std::initializer_list<std::string_view> audiences,
                                                  SystemTime now) const {
  unsigned char jti[16];
  if (RAND_bytes(jti, sizeof jti) != 1) {
    ERR_clear_error();
    return internalError("no random bytes for the client assertion's jti");
  }
  const int64_t iat =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::string claims = "{\"iss\":";
  json::appendString(claims, client_id);
  claims += ",\"sub\":";
  json::appendString(claims, client_id);
  claims += ",\"aud\":";
  if (audiences.size() == 1) {
    json::appendString(claims, *audiences.begin());
  } else {
    claims += '[';
    bool first = true;
    for (std::string_view a : audiences) {
      if (!first) claims += ',';
      first = false;
      json::appendString(claims, a);
    }
    claims += ']';
  }
  claims += ",\"jti\":";
  json::appendString(claims,
                     base64UrlEncode(std::string_view(reinterpret_cast<char*>(jti), sizeof jti)));
  claims += ",\"iat\":";
  json::appendInt(claims, iat);
  claims += ",\"exp\":";
  json::appendInt(claims, iat + kLifetime.count());
  claims += "}";
  return signJws(key_.get(), alg_, header_, claims);
}

}  // namespace stepgate::identity
