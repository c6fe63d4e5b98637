#pragma once
// Runtime: everything a worker needs from the configuration, as one immutable snapshot —
// the Config plus the TLS contexts built from it. Built on the control thread (at start and
// on SIGHUP) and handed to every worker through Dispatcher::post(); a worker swaps its
// pointer between requests, and a connection keeps the snapshot it started with alive.

#include <memory>
#include <vector>

#include "common/cidr.h"
#include "config/schema.h"
#include "identity/introspection.h"
#include "identity/key_store.h"
#include "identity/stepgate_issuer.h"
#include "orchestrators/profile.h"
#include "orchestrators/resolver.h"
#include "orchestrators/sigv4.h"
#include "policy/evaluator.h"
#include "proxy/sso_endpoints.h"
#include "proxy/tls/client_context.h"
#include "proxy/tls/server_context.h"

namespace stepgate::proxy {

struct Runtime {
  config::ConfigConstSharedPtr config;
  std::vector<tls::ServerContextConstSharedPtr> listener_tls;  // by listener index; null: plain
  std::vector<tls::ClientContextConstSharedPtr> upstream_tls;  // by upstream index; null: http
  std::vector<size_t> listener_upstream;                       // listener index → upstream index
  std::vector<Cidr> trusted_proxies;
  // Fetches and refreshes providers' keys; thread-safe. Kept across reloads while the
  // providers' key sources are unchanged. Null when no provider needs keys.
  std::shared_ptr<identity::KeyStore> key_store;
  // Answers for opaque tokens; thread-safe. Null without an introspection provider.
  std::shared_ptr<identity::Introspector> introspector;
  // The compiled policy set (immutable, shared); null when `policies:` is not configured.
  // A policy reload publishes a copy of the Runtime with only this pointer changed.
  policy::CompiledPolicyConstSharedPtr policy;
  // One profile per upstream (by upstream index): request -> Operation.
  std::vector<orchestrators::ProfileConstSharedPtr> profiles;
  // One resolver per upstream (by upstream index), for the profile's execution lookups;
  // thread-safe. Kept across reloads while the upstream's settings are unchanged.
  std::vector<orchestrators::ResolverSharedPtr> resolvers;
  // Upstreams with `aws`: the credentials forwarded requests are signed with (SigV4); null
  // for the others. Read from their files when the runtime is built (start, reload).
  std::vector<std::shared_ptr<const orchestrators::SigV4Credentials>> aws_signers;
  // stepgate's own signing key (top-level `issuer`): upstream identity assertions and the
  // JWKS at /.well-known/jwks.json. Null without `issuer`.
  std::shared_ptr<const identity::StepgateIssuer> issuer;
  // The issuer's public keys, for the `stepgate` provider that accepts its access tokens.
  identity::KeySetConstSharedPtr issuer_keys;
  // Browser sign-in (`sso:`): verifier, cookie codecs and the process-wide replay cache and
  // revocation list. Null without `sso`.
  SsoRuntimeConstSharedPtr sso;
  // OIDC sign-in (`sso.oidc`): discovery, code exchanges and refreshes on its own threads;
  // thread-safe. Kept across reloads while sso.oidc and its provider are unchanged.
  std::shared_ptr<identity::OidcLoginService> oidc_login;
  uint64_t generation = 0;
};

using RuntimeConstSharedPtr = std::shared_ptr<const Runtime>;

}  // namespace stepgate::proxy
