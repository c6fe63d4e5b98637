#pragma once
// Browser sign-in endpoints under sso.path_prefix (docs/sso.md), answered by stepgate itself
// before authentication:
//   GET  {prefix}/login           sign-in: OIDC when configured, else SAML
//   GET  {prefix}/saml/login      302 to the IdP with an AuthnRequest and a login-state cookie
//   GET  {prefix}/saml/metadata   the SP metadata
//   POST {prefix}/saml/acs        the IdP's SAML Response: a session cookie, 303 to return_to
//   GET  {prefix}/oidc/login      302 to the provider (code flow, PKCE, state, nonce); with a
//                                 refresh cookie, a silent renewal at the provider first
//   GET  {prefix}/oidc/callback   the provider's redirect: code exchange, session, 303
//   POST {prefix}/refresh         renews the session at the OIDC provider (CSRF token needed)
//   POST {prefix}/token           a stepgate access token for the session (CSRF token needed)
//   POST {prefix}/logout          ends the session (CSRF token needed)
//   GET  {prefix}/session         who is signed in, and the CSRF token, as JSON
// and the session-cookie authentication of proxied requests.
//
// Threads: SsoRuntime is immutable (its replay cache and revocation list lock internally);
// answerSso() and completeOidc() do no I/O, take only those caches' short mutexes, and never
// throw. The OIDC calls that need the provider (code exchange, refresh) are not made here:
// answerSso() returns them as OidcPending, the caller has them run by the
// identity::OidcLoginService and hands the answer to completeOidc().

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <string>
#include <string_view>

#include "common/time_source.h"
#include "config/schema.h"
#include "identity/key_set.h"
#include "identity/oidc_login_service.h"
#include "identity/principal.h"
#include "identity/saml.h"
#include "identity/session.h"
#include "identity/stepgate_issuer.h"
#include "identity/token_cache.h"

namespace stepgate::proxy {

// Bodies read for the local endpoints (the ACS form) are bounded at this size.
inline constexpr size_t kSsoMaxBody = 256 * 1024;

struct SsoRuntime {
  config::SsoConfig config;
  std::shared_ptr<const identity::SamlVerifier> verifier;
  std::optional<identity::SessionCodec> sessions;
  std::optional<identity::LoginStateCodec> login;
  // OIDC sign-in: the provider's settings (issuer, algorithms, claim mapping) and, with
  // sso.oidc.refresh_ttl > 0, the refresh-grant cookie. Null verifier without `saml`.
  std::optional<config::ProviderConfig> oidc_provider;
  std::optional<identity::RefreshCookieCodec> refresh;
  // Shared by every runtime of the process (kept across reloads).
  std::shared_ptr<identity::SamlReplayCache> replay;
  std::shared_ptr<identity::SessionRevocationList> revoked;
  std::shared_ptr<const identity::StepgateIssuer> issuer;
  // Unique per build (never reused, unlike an address): caches filled under another runtime
  // (other keys) are emptied.
  uint64_t id = 0;
};

using SsoRuntimeConstSharedPtr = std::shared_ptr<const SsoRuntime>;

// Builds the verifier and codecs (reads the IdP certificate, the SP key and certificate, and
// the session key, creating the key file when missing). Startup and reload only.
// `oidc_provider`: the identity provider sso.oidc.provider names (required with sso.oidc).
StatusOr<SsoRuntimeConstSharedPtr> buildSsoRuntime(
    const config::SsoConfig& config, const config::ProviderConfig* oidc_provider,
    std::shared_ptr<const identity::StepgateIssuer> issuer,
    std::shared_ptr<identity::SamlReplayCache> replay,
    std::shared_ptr<identity::SessionRevocationList> revoked);

// True when `path` (normalised) is one of stepgate's sign-in endpoints' space.
bool isSsoPath(const SsoRuntime& sso, std::string_view path) noexcept;

struct SsoRequest {
  std::string_view method;
  std::string_view path;   // normalised
  std::string_view query;  // without '?'
  std::string_view cookie_header;  // all Cookie headers joined with "; "
  std::string_view content_type;
  identity::CsrfHeaders csrf;
  std::string_view body;
  SystemTime now{};
  // The OIDC client (endpoints once discovered); null without sso.oidc.
  const identity::OidcLoginService* oidc = nullptr;
};

// An OIDC call the caller must have made at the provider before the answer can be given.
struct OidcPending {
  enum class Kind : unsigned char {
    kExchange,      // the callback's code for tokens
    kLoginRefresh,  // {prefix}/login with a refresh cookie: renew silently, else redirect
    kRefresh,       // POST {prefix}/refresh
  };
  Kind kind = Kind::kExchange;
  std::string secret;         // the code or the refresh token; cleansed by the destructor
  std::string pkce_verifier;  // kExchange
  std::string nonce;          // kExchange
  std::string return_to;      // kExchange, kLoginRefresh
  std::string subject;        // refreshes: the subject the new ID token must repeat
  SystemTime grant_expires_at{};  // refreshes: when the refresh cookie ends
  std::string grant_id;       // refreshes: the grant's id (kept by the renewed cookie)
  std::string old_sid;        // kRefresh: the session it replaces (revoked)
  SystemTime old_expires_at{};

  OidcPending() = default;
  OidcPending(const OidcPending&) = delete;
  OidcPending& operator=(const OidcPending&) = delete;
  ~OidcPending();
};

using identity::OidcFailure;
using identity::oidcFailureName;

enum class SsoOutcome : unsigned char {
  kServed,        // metadata, login redirect, session info
  kSignedIn,      // ACS accepted a response
  kLoginFailed,   // ACS or OIDC callback refused (saml_error / oidc_failure say why)
  kPending,       // an OIDC call must be made first: see SsoAnswer::pending
  kRefreshed,     // a session renewed at the OIDC provider
  kTokenIssued,
  kSignedOut,
  kRefused,       // no session, CSRF, bad request, unknown endpoint
};

struct SsoAnswer {
  int status = 200;
  std::string content_type;  // empty with an error answer (JSON built by the caller)
  std::string body;
  std::string headers;       // complete "Name: value\r\n" lines (Location, Set-Cookie)
  std::string_view error;    // a static code for error answers
  SsoOutcome outcome = SsoOutcome::kServed;
  std::optional<identity::SamlError> saml_error;
  std::optional<OidcFailure> oidc_failure;
  std::unique_ptr<OidcPending> pending;  // with kPending
  // For the audit log's `session` record: who, and what happened ("sign_in", "refresh",
  // "token", "sign_out") through which sign-in ("saml", "oidc"). Null principal: no record.
  identity::PrincipalConstSharedPtr principal;
  std::string_view session_event;
  std::string_view session_via;
  // Logout of an OIDC session: the provider's refresh token, for the caller to have revoked
  // there (OidcLoginService::revoke). A credential: never logged.
  std::string revoke_refresh_token;
};

// Whether the request's body must be read before answerSso() (POST to the ACS).
bool ssoNeedsBody(const SsoRuntime& sso, std::string_view method, std::string_view path) noexcept;

SsoAnswer answerSso(const SsoRuntime& sso, const SsoRequest& request);

// The JSON of {prefix}/session for `session` (subject, provider, groups, expiries, csrf_token).
std::string sessionJson(const identity::Session& session);

// The answer once the provider has answered `pending`: `keys` are the provider's current keys
// (null when none are loaded), `service` the OIDC client (for a fallback redirect).
SsoAnswer completeOidc(const SsoRuntime& sso, const identity::OidcLoginService& service,
                       const OidcPending& pending,
                       const StatusOr<identity::TokenResponse>& tokens,
                       const identity::KeySet* keys, SystemTime now);

// Whether a request the proxy could not authenticate should be sent to sign in (302 to
// {prefix}/login) instead of a 401: sso.login_redirect, GET or HEAD, and a browser's top-level
// navigation (Sec-Fetch-Mode: navigate; or, from browsers that do not send Sec-Fetch-*,
// Accept naming text/html). Returns the Location value, or "" when not.
std::string loginRedirect(const SsoRuntime& sso, std::string_view method,
                          std::string_view path, std::string_view query,
                          std::string_view sec_fetch_mode, std::string_view accept);

// Session-cookie authentication of a proxied request.
struct SessionAuth {
  enum class Result : unsigned char { kNoCookie, kInvalid, kRevoked, kCsrf, kOk };
  Result result = Result::kNoCookie;
  std::string_view reason;  // a static code for logs
  identity::PrincipalConstSharedPtr principal;
  // "Set-Cookie: ...\r\n" when the session's idle expiry should be pushed forward: add it
  // to the response.
  std::string set_cookie;
};

// A worker's cache of decoded session cookies (no lock: one worker's thread only), keyed by
// the SHA-256 of the cookie value, so a browser's later requests skip the decryption and
// parsing. A hit is exactly what decoding would give: the cookie's own expiry and idle
// expiry bound it, and revocation is checked on every request all the same. Bound to one
// SsoRuntime (its keys): a request under another one empties it.
class SessionCache {
 public:
  static constexpr size_t kCapacity = 10000;

  const identity::Session* find(const SsoRuntime* sso, const identity::Digest& d,
                                SystemTime now, identity::PrincipalConstSharedPtr& principal);
  void insert(const identity::Digest& d, const identity::Session& s,
              identity::PrincipalConstSharedPtr principal);
  size_t size() const noexcept { return map_.size(); }

 private:
  struct DigestHash {
    size_t operator()(const identity::Digest& d) const noexcept {
      size_t h;
      __builtin_memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  struct Entry {
    identity::Session session;
    identity::PrincipalConstSharedPtr principal;
    std::list<identity::Digest>::iterator lru;
  };
  uint64_t owner_ = 0;  // SsoRuntime::id
  std::list<identity::Digest> lru_;  // most recent first
  std::unordered_map<identity::Digest, Entry, DigestHash> map_;
};

SessionAuth authenticateSession(const SsoRuntime& sso, std::string_view method,
                                std::string_view cookie_header,
                                const identity::CsrfHeaders& csrf, SystemTime now,
                                SessionCache* cache = nullptr);

// `cookie_header` without the session, login-state and refresh cookies ("" when nothing is
// left).
std::string stripSsoCookies(const SsoRuntime& sso, std::string_view cookie_header);

// Decodes application/x-www-form-urlencoded `name` from `form` ('+' is a space); nullopt when
// absent or badly encoded.
std::optional<std::string> formValue(std::string_view form, std::string_view name);

}  // namespace stepgate::proxy
