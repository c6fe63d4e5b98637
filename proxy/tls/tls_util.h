#pragma once
// Small OpenSSL helpers shared by the TLS sources (private to proxy/tls and its tests).
// All are thread-safe: they use only their arguments and the calling thread's error queue.

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "common/c_ptr.h"

namespace stepgate::proxy::tls {

// Empties this thread's OpenSSL error queue into one line ("error:...:reason; ..."), or
// "unknown error" when it was empty.
inline std::string drainOpensslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

// "CN=alice,O=Example" (RFC 2253: most specific first, special characters escaped).
inline std::string nameToRfc2253(const X509_NAME* name) {
  CPtr<BIO, BIO_free> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || name == nullptr)
    return {};
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0)
    return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

// Lowercase hex SHA-256 of the DER encoding.
inline std::string sha256Fingerprint(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1)
    return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

}  // namespace stepgate::proxy::tls
