#pragma once
// Browser sign-in endpoints under sso.path_prefix (docs/sso.md), answered by stepgate itself
// before authentication:
//   GET  {prefix}/saml/metadata   the SP metadata
//   GET  {prefix}/login           302 to the IdP with an AuthnRequest and a login-state cookie
//   POST {prefix}/saml/acs        the IdP's SAML Response: a session cookie, 303 to return_to
//   POST {prefix}/token           a stepgate access token for the session (CSRF token needed)
//   POST {prefix}/logout          ends the session (CSRF token needed)
//   GET  {prefix}/session         who is signed in, and the CSRF token, as JSON
// and the session-cookie authentication of proxied requests.
//
// Threads: SsoRuntime is immutable (its replay cache and revocation list lock internally);
// answerSso() does no I/O, takes only those caches' short mutexes, and never throws.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/time_source.h"
#include "config/schema.h"
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
  // Shared by every runtime of the process (kept across reloads).
  std::shared_ptr<identity::SamlReplayCache> replay;
  std::shared_ptr<identity::SessionRevocationList> revoked;
  std::shared_ptr<const identity::StepgateIssuer> issuer;
};

using SsoRuntimeConstSharedPtr = std::shared_ptr<const SsoRuntime>;

// Builds the verifier and codecs (reads the IdP certificate, the SP key and certificate, and
// the session key, creating the key file when missing). Startup and reload only.
StatusOr<SsoRuntimeConstSharedPtr> buildSsoRuntime(
    const config::SsoConfig& config, std::shared_ptr<const identity::StepgateIssuer> issuer,
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
};

enum class SsoOutcome : unsigned char {
  kServed,        // metadata, login redirect, session info
  kSignedIn,      // ACS accepted a response
  kLoginFailed,   // ACS refused (saml_error says why, or error for cookie problems)
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
};

// Whether the request's body must be read before answerSso() (POST to the ACS).
bool ssoNeedsBody(const SsoRuntime& sso, std::string_view method, std::string_view path) noexcept;

SsoAnswer answerSso(const SsoRuntime& sso, const SsoRequest& request);

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

SessionAuth authenticateSession(const SsoRuntime& sso, std::string_view method,
                                std::string_view cookie_header,
                                const identity::CsrfHeaders& csrf, SystemTime now);

// `cookie_header` without the session and login-state cookies ("" when nothing is left).
std::string stripSsoCookies(const SsoRuntime& sso, std::string_view cookie_header);

// Decodes application/x-www-form-urlencoded `name` from `form` ('+' is a space); nullopt when
// absent or badly encoded.
std::optional<std::string> formValue(std::string_view form, std::string_view name);

}  // namespace stepgate::proxy
