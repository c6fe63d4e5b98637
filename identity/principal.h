#pragma once
// Principal: who a request is from, as established by the identity module. A plain value
// type, built once per authentication (or taken from a worker's verified-token cache) and
// then only read: by policy (groups, MFA, provider), by audit (every field), and by the proxy
// (the identity assertion to the upstream). Safe to copy and to read from any thread.
//
// It never holds a credential: `credential_id` is a hash that identifies the token or
// certificate for audit and caching without revealing it.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/time_source.h"

namespace stepgate {
class JsonValue;  // common/json.h
}  // namespace stepgate

namespace stepgate::identity {

enum class AuthMethod : unsigned char {
  kNone,             // anonymous (no credentials presented)
  kJwt,              // a bearer JWT verified with the provider's keys
  kIntrospection,    // an opaque bearer token accepted by RFC 7662 introspection
  kClientCertificate,
  kSession,          // a stepgate session (browser or CLI token)
};

// "jwt", "introspection", "client_certificate", "session", "none".
const char* authMethodName(AuthMethod m) noexcept;

struct Principal {
  std::string provider;        // the configured provider's name
  std::string issuer;          // the `iss` of the token, or the client CA's subject
  std::string subject;         // `sub`, or the certificate identity
  std::string name;
  std::string email;
  std::vector<std::string> groups;  // from the configured claim path; sorted, unique
  AuthMethod method = AuthMethod::kNone;
  bool mfa = false;            // from amr/acr per the provider's mapping
  std::string credential_id;   // hex SHA-256 of the credential, truncated to 32 characters
  SystemTime expires_at{};     // when the credential stops being valid; {} if unknown
  // Every claim of the token or introspection answer, for policy conditions on claims
  // (`who.claims`); null for client certificates. Immutable; shared by cached copies.
  std::shared_ptr<const JsonValue> claims;

  bool authenticated() const { return method != AuthMethod::kNone; }
  bool inGroup(std::string_view g) const;
};

}  // namespace stepgate::identity
