#pragma once
// DevIssuer: the development token issuer of `stepgate demo` and `stepgate token mint`. It
// keeps an EC P-256 key in a folder (issuer.key, mode 0600; jwks.json with the public key)
// and signs ES256 JWT access tokens that a `jwt` provider configured with that jwks.json
// accepts. NOT for production: anyone who can read the folder can mint tokens.
// Used on the main thread of the CLI commands only.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "identity/key_set.h"

namespace stepgate::identity {

inline constexpr char kDevIssuer[] = "https://issuer.stepgate.demo";
inline constexpr char kDevAudience[] = "workflow-api";

struct MintRequest {
  std::string subject = "demo-user";
  std::vector<std::string> groups;
  std::string audience = kDevAudience;
  std::chrono::seconds ttl{3600};
  bool mfa = false;
};

class DevIssuer {
 public:
  // Loads the key from `dir`, creating the folder, the key and jwks.json when missing.
  [[nodiscard]] static StatusOr<std::unique_ptr<DevIssuer>> open(const std::string& dir);

  // A signed token: iss kDevIssuer, sub, aud, iat/nbf now, exp now+ttl, groups, jti, amr.
  std::string mint(const MintRequest& request) const;

  const std::string& jwksPath() const { return jwks_path_; }

 private:
  DevIssuer() = default;
  EvpPkeyPtr key_;
  std::string kid_;
  std::string jwks_path_;
};

}  // namespace stepgate::identity
