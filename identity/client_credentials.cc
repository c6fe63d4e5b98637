#include "identity/client_credentials.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdio>

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

}  // namespace stepgate::identity
