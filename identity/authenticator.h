#pragma once
// Authenticator: credentials → Principal for one worker. It owns that worker's verified-token
// cache and its copy of every provider's current KeySet snapshot, so it takes no locks: only
// its worker's thread may call it. It does no I/O: keys arrive through setKeys() (published by
// the KeyStore on the control thread and posted to the worker), and a token whose key is
// missing is reported with `refetch` set so the caller can ask the KeyStore and retry once.
//
// Routing: a bearer JWT goes to the provider whose `issuer` equals its (unverified) `iss`
// claim, and is then verified with that provider's keys and rules alone. A client
// certificate goes to the mtls provider. docs/identity.md describes both.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time_source.h"
#include "config/schema.h"
#include "identity/auth_error.h"
#include "identity/client_certificate.h"
#include "identity/key_set.h"
#include "identity/principal.h"
#include "identity/token_cache.h"

namespace stepgate::identity {

struct AuthOutcome {
  std::optional<AuthError> error;     // nullopt: authenticated
  PrincipalConstSharedPtr principal;  // on success
  int provider = -1;                  // index of the provider that decided, if any
  bool refetch = false;               // the provider lacks the token's key: ask for a refetch
  std::string kid;                    // with refetch: the kid the token named
  bool cached = false;                // answered from the verified-token cache
  bool introspect = false;            // an opaque token: ask the Introspector, then
                                      // acceptIntrospection() with its answer
};

class Authenticator {
 public:
  // `config` must outlive the authenticator (it lives in the runtime snapshot).
  explicit Authenticator(const config::IdentityConfig& config);

  // True iff any provider is configured: requests without credentials are then refused.
  bool enabled() const { return !config_.providers.empty(); }
  const config::IdentityConfig& config() const { return config_; }

  // Installs `provider`'s new keys and drops cached tokens (a key may have been withdrawn).
  // Unknown provider names are ignored.
  void setKeys(std::string_view provider, KeySetConstSharedPtr keys);
  const KeySetConstSharedPtr& keys(size_t provider) const { return keys_[provider]; }
  int providerIndex(std::string_view name) const;

  AuthOutcome authenticateBearer(std::string_view token, SystemTime now);
  // Caches an introspection answer for `token` in this worker (accepted until valid_until,
  // refused ones in the short negative cache; failures not at all).
  void acceptIntrospection(std::string_view token, const PrincipalConstSharedPtr& principal,
                           bool active, SystemTime valid_until);
  int introspectionProvider() const { return introspection_provider_; }
  // For a connection's verified client certificate; fails if no mtls provider is configured.
  AuthOutcome authenticateCertificate(const ClientCertificate& cert) const;
  int mtlsProvider() const { return mtls_provider_; }

 private:
  const config::IdentityConfig& config_;
  std::vector<KeySetConstSharedPtr> keys_;  // by provider index
  TokenCache cache_;
  TokenCache inactive_;           // opaque tokens the endpoint called inactive
  uint32_t max_token_bytes_ = 0;  // the largest any provider accepts
  int mtls_provider_ = -1;
  int introspection_provider_ = -1;
};

using AuthenticatorPtr = std::unique_ptr<Authenticator>;

}  // namespace stepgate::identity
