#pragma once
// The credentials stepgate uses as an OAuth client (introspection, OIDC login): a client
// secret or a private key, read once from files named in the config. Errors name the file,
// never its content; a secret read is wiped from buffers it passed through.

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/time_source.h"
#include "identity/key_set.h"

namespace stepgate::identity {

inline constexpr size_t kMaxClientSecretFileBytes = 4096;

// The secret in `path`, trailing CR/LF removed. NotFound (cannot open), InvalidArgument
// (empty, over kMaxClientSecretFileBytes), Unavailable (read error).
[[nodiscard]] StatusOr<std::string> readClientSecretFile(const std::string& path);

// The PEM private key in `path` (PKCS#8 or a traditional RSA/EC key; never prompting for a
// passphrase: an encrypted key fails). NotFound or InvalidArgument.
[[nodiscard]] StatusOr<EvpPkeyPtr> readClientKeyFile(const std::string& path);

// client_secret_basic (RFC 6749 section 2.3.1): "Basic " + base64(form-encoded client_id ":"
// form-encoded secret). A credential: never log it.
std::string basicAuthorization(std::string_view client_id, std::string_view secret);

// private_key_jwt (RFC 7523 section 2.2, OpenID Connect Core section 9): the client's key,
// its algorithm and the JOSE header of its assertions ({alg, typ "JWT", kid: the key's RFC
// 7638 thumbprint}). Immutable after load(); sign() is safe from any thread.
class ClientAssertionSigner {
 public:
  static constexpr std::chrono::seconds kLifetime{60};  // exp - iat of an assertion

  /**
   * Reads the PEM key of `key_file` and checks that it fits `alg_name` (ES256 ES384 RS256
   * PS256 EdDSA...; never an HMAC algorithm).
   * @return the signer; or NotFound / InvalidArgument whose message names the file or the
   *         setting, never key material.
   */
  [[nodiscard]] static StatusOr<ClientAssertionSigner> load(const std::string& key_file,
                                                            const std::string& alg_name);

  // A fresh assertion: iss and sub `client_id`, aud the one audience as a string or several
  // as an array, jti 16 random bytes base64url, iat `now`, exp `now` + kLifetime.
  [[nodiscard]] StatusOr<std::string> sign(std::string_view client_id,
                                           std::initializer_list<std::string_view> audiences,
                                           SystemTime now) const;

 private:
  ClientAssertionSigner() = default;
  EvpPkeyPtr key_;
  JwsAlg alg_ = JwsAlg::kES256;
  std::string header_;
};

}  // namespace stepgate::identity
