#include "identity/dev_issuer.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/json_writer.h"
#include "identity/jws_sign.h"
#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

std::string opensslError() {
  char buf[256] = {0};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// The 32-byte big-endian coordinate `name` of an EC public key.
std::string coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  std::string out(32, '\0');
  if (EVP_PKEY_get_bn_param(key, name, &bn) == 1) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  }
  BN_free(bn);
  return out;
}

Status writeFile(const std::string& path, const std::string& data, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return internalError("cannot write " + path);
  const bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  return ok ? okStatus() : internalError("cannot write " + path);
}

}  // namespace

StatusOr<std::unique_ptr<DevIssuer>> DevIssuer::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return internalError("cannot create " + dir + ": " + ec.message());
  const std::string key_path = dir + "/issuer.key";
  auto issuer = std::unique_ptr<DevIssuer>(new DevIssuer());
  EVP_PKEY* key = nullptr;
  if (FILE* f = fopen(key_path.c_str(), "r")) {
    key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    fclose(f);
    if (key == nullptr)
      return invalidArgument(key_path + ": " + opensslError());
  } else {
    key = EVP_EC_gen("P-256");
    if (key == nullptr)
      return internalError("cannot generate a key: " + opensslError());
    BIO* mem = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(mem, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long len = BIO_get_mem_data(mem, &data);
    Status s = writeFile(key_path, std::string(data, static_cast<size_t>(len)), 0600);
    BIO_free(mem);
    if (!s.isOk()) {
      EVP_PKEY_free(key);
      return s;
    }
  }
  issuer->key_ = EvpPkeyPtr(key, EVP_PKEY_free);
  if (Status fits = checkSigningKey(key, JwsAlg::kES256); !fits.isOk()) {
    return invalidArgument(key_path + ": " + fits.message());
  }
  const std::string x = coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X);
  const std::string y = coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y);
  // The kid names the key: the start of its x coordinate.
  issuer->kid_ = "dev-" + base64UrlEncode(x).substr(0, 8);
  std::string jwks =
      "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"alg\":\"ES256\",\"kid\":";
  json::appendString(jwks, issuer->kid_);
  jwks += ",\"x\":\"" + base64UrlEncode(x) + "\",\"y\":\"" + base64UrlEncode(y) + "\"}]}\n";
  issuer->jwks_path_ = dir + "/jwks.json";
  RETURN_IF_ERROR(writeFile(issuer->jwks_path_, jwks, 0644));
  return issuer;
}

std::string DevIssuer::mint(const MintRequest& r) const {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::string header = "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":";
  json::appendString(header, kid_);
  header += "}";
  unsigned char jti[12];
  RAND_bytes(jti, sizeof jti);
  std::string claims = "{\"iss\":";
  json::appendString(claims, kDevIssuer);
  claims += ",\"sub\":";
  json::appendString(claims, r.subject);
  claims += ",\"aud\":";
  json::appendString(claims, r.audience);
  claims += ",\"iat\":";
  json::appendInt(claims, now);
  claims += ",\"nbf\":";
  json::appendInt(claims, now);
  claims += ",\"exp\":";
  json::appendInt(claims, now + r.ttl.count());
  claims += ",\"jti\":";
  json::appendString(claims,
                     base64UrlEncode(std::string_view(reinterpret_cast<char*>(jti), sizeof jti)));
  claims += ",\"groups\":[";
  for (size_t i = 0; i < r.groups.size(); ++i) {
    if (i > 0)
      claims += ",";
    json::appendString(claims, r.groups[i]);
  }
  claims += "],\"amr\":[";
  claims += r.mfa ? "\"pwd\",\"mfa\"" : "\"pwd\"";
  claims += "]}";
  // The key was read or generated as EC P-256 in open(), so signing can only fail if OpenSSL
  // itself does; mint() then returns an empty token, which no verifier accepts.
  auto token = signJws(key_.get(), JwsAlg::kES256, header, claims);
  return token.isOk() ? std::move(token).value() : std::string();
}

}  // namespace stepgate::identity
