#pragma once
// OIDC Discovery (OpenID Connect Discovery 1.0 §4): finds a provider's jwks_uri (and its
// RFC 7662 introspection endpoint) from `{issuer}/.well-known/openid-configuration`.
// Blocking (it fetches through a Fetcher), so control thread only; the functions keep no
// state and may be called from any one thread at a time per Fetcher.
//
// Mix-up defence: the document's "issuer" must equal the configured issuer exactly (byte for
// byte, trailing slash included). The document is strict JSON: duplicate member names, a
// non-object root or wrongly typed members are errors. Endpoint URLs must be https, or http
// to loopback (the same rule as every fetch, identity/http_fetch.h).

#include <string>
#include <string_view>

#include "common/status.h"
#include "identity/http_fetch.h"

namespace stepgate::identity {

struct OidcMetadata {
  std::string issuer;
  std::string jwks_uri;
  std::string introspection_endpoint;  // empty when the document has none
};

// `{issuer}/.well-known/openid-configuration`, with one terminating '/' of the issuer
// removed first (§4.1). InvalidArgument when the issuer is not an allowed URL or has a query
// or fragment.
[[nodiscard]] StatusOr<std::string> discoveryUrl(std::string_view issuer);

// Parses and checks a discovery document against `expected_issuer`. No I/O.
[[nodiscard]] StatusOr<OidcMetadata> parseDiscoveryDocument(std::string_view json,
                                                            std::string_view expected_issuer);

/**
 * Fetches and checks the discovery document of `issuer`.
 * @return the metadata; Unavailable when the fetch fails or answers other than 200;
 *         InvalidArgument when the document is malformed or names another issuer.
 */
[[nodiscard]] StatusOr<OidcMetadata> discover(Fetcher& fetcher, const std::string& issuer,
                                              const FetchOptions& options);

}  // namespace stepgate::identity
