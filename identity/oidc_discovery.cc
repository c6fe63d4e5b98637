#include "identity/oidc_discovery.h"

#include <string>

#include "common/json.h"

namespace stepgate::identity {
namespace {

// Reads an optional string member; error when present with another type.
Status optionalString(const JsonValue& obj, const char* name, std::string& out) {
  const JsonValue* v = obj.find(name);
  if (v == nullptr) {
    return okStatus();
  }
  if (!v->isString()) {
    return invalidArgument(std::string("discovery document member \"") + name +
                           "\" is not a string");
  }
  out = v->asString();
  return okStatus();
}

}  // namespace

StatusOr<std::string> discoveryUrl(std::string_view issuer) {
  auto url = parseFetchUrl(issuer);
  if (!url.isOk()) {
    return invalidArgument("issuer " + std::string(issuer) + ": " + url.status().message());
  }
  if (issuer.find('?') != std::string_view::npos) {
    return invalidArgument("issuer must not have a query");
  }
  std::string base(issuer);
  if (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  return base + "/.well-known/openid-configuration";
}

StatusOr<OidcMetadata> parseDiscoveryDocument(std::string_view json,
                                              std::string_view expected_issuer) {
  // The project's one strict JSON parser: duplicate members, deep nesting, invalid UTF-8
  // (lone surrogates included) and anything after the document are errors.
  auto parsed = parseJson(json);
  if (!parsed.isOk()) {
    return invalidArgument("discovery document is not strict JSON: " + parsed.status().message());
  }
  const JsonValue& doc = *parsed;
  if (!doc.isObject()) {
    return invalidArgument("discovery document is not a JSON object");
  }
  OidcMetadata meta;
  RETURN_IF_ERROR(optionalString(doc, "issuer", meta.issuer));
  if (meta.issuer.empty()) {
    return invalidArgument("discovery document has no \"issuer\"");
  }
  if (meta.issuer != expected_issuer) {
    // Both values are public identifiers; the mismatch is what an operator must see.
    return invalidArgument("discovery document names issuer \"" + meta.issuer.substr(0, 256) +
                           "\", expected \"" + std::string(expected_issuer) + "\"");
  }
  RETURN_IF_ERROR(optionalString(doc, "jwks_uri", meta.jwks_uri));
  if (meta.jwks_uri.empty()) {
    return invalidArgument("discovery document has no \"jwks_uri\"");
  }
  if (auto u = parseFetchUrl(meta.jwks_uri); !u.isOk()) {
    return invalidArgument("discovery document's jwks_uri is not allowed: " +
                           u.status().message());
  }
  RETURN_IF_ERROR(optionalString(doc, "introspection_endpoint", meta.introspection_endpoint));
  if (!meta.introspection_endpoint.empty()) {
    if (auto u = parseFetchUrl(meta.introspection_endpoint); !u.isOk()) {
      return invalidArgument("discovery document's introspection_endpoint is not allowed: " +
                             u.status().message());
    }
  }
  return meta;
}

StatusOr<OidcMetadata> discover(Fetcher& fetcher, const std::string& issuer,
                                const FetchOptions& options) {
  ASSIGN_OR_RETURN(std::string url, discoveryUrl(issuer));
  ASSIGN_OR_RETURN(HttpResponse res, fetcher.get(url, options));
  if (res.status != 200) {
    return unavailable("discovery of " + issuer + " answered HTTP " + std::to_string(res.status));
  }
  return parseDiscoveryDocument(res.body, issuer);
}

}  // namespace stepgate::identity
