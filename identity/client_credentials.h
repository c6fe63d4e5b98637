#pragma once
// The credentials stepgate uses as an OAuth client (introspection, OIDC login): a client
// secret or a private key, read once from files named in the config. Errors name the file,
// never its content; a secret read is wiped from buffers it passed through.

#include <cstddef>
#include <string>

#include "common/status.h"
#include "identity/key_set.h"

namespace stepgate::identity {

inline constexpr size_t kMaxClientSecretFileBytes = 4096;

// The secret in `path`, trailing CR/LF removed. NotFound (cannot open), InvalidArgument
// (empty, over kMaxClientSecretFileBytes), Unavailable (read error).
[[nodiscard]] StatusOr<std::string> readClientSecretFile(const std::string& path);

// The PEM private key in `path` (PKCS#8 or a traditional RSA/EC key; never prompting for a
// passphrase: an encrypted key fails). NotFound or InvalidArgument.
[[nodiscard]] StatusOr<EvpPkeyPtr> readClientKeyFile(const std::string& path);

}  // namespace stepgate::identity
