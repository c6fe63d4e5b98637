#pragma once
// OIDC browser sign-in (OpenID Connect Core 1.0, authorization code flow, with RFC 7636 PKCE,
// state and nonce) and refresh: the pieces the proxy strings together, without HTTP server
// code. docs/oidc_login.md describes the behaviour, the limits and the error codes.
//
//   1. discoverLoginEndpoints() (control thread, blocking): the provider's
//      authorization_endpoint and token_endpoint from its discovery document.
//   2. authorizationUrl() (any thread, no I/O): where to redirect the browser, for a
//      LoginState made by LoginStateCodec::begin() (identity/session.h).
//   3. parseCallback() (any thread, no I/O): code and state, or the provider's error, from the
//      query of the redirect back. The caller then decodes its login-state cookie with the
//      state (LoginStateCodec::decode checks it in constant time).
//   4. exchangeCode() (BLOCKING: run it on a background thread, never on a worker): the code
//      and the PKCE verifier for tokens at the token endpoint.
//   5. verifyIdToken() (any thread, no I/O): the ID token with the provider's keys (verifyJwt)
//      plus the OIDC rules: nonce, aud containing client_id, azp, iat, at_hash.
//   6. refresh() (BLOCKING, like exchangeCode()): new tokens for a refresh token.
//
// Errors: every failure is a Status whose message starts with a stable snake_case code and
// ": " (loginErrorCode() extracts it); the rest is a short description that never contains a
// code, token, secret, client assertion or response body.
//
// OidcClient is immutable after create() and safe to share between threads. Nothing here
// throws (allocation failure aside).

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time_source.h"
#include "config/schema.h"
#include "identity/client_credentials.h"
#include "identity/http_fetch.h"
#include "identity/key_set.h"
#include "identity/principal.h"
#include "identity/session.h"

namespace stepgate::identity {

// How stepgate authenticates to the token endpoint (OIDC Core section 9).
enum class OidcClientAuth : unsigned char {
  kClientSecretBasic,  // HTTP Basic with form-encoded client_id and secret (RFC 6749 2.3.1)
  kClientSecretPost,   // client_id and client_secret in the form
  kPrivateKeyJwt,      // a signed client assertion (RFC 7523 2.2) in the form
};

struct OidcLoginConfig {
  std::string client_id;
  OidcClientAuth client_auth = OidcClientAuth::kClientSecretBasic;
  std::string client_secret_file;        // client_secret_*: the secret (trailing CR/LF removed)
  std::string client_key_file;           // private_key_jwt: PEM private key, not encrypted
  std::string client_key_alg = "ES256";  // private_key_jwt: ES256 ES384 RS256 PS256 EdDSA ...
  std::string redirect_uri;              // stepgate's callback: https, or http to loopback
  std::vector<std::string> scopes = {"openid", "profile", "email"};  // must contain openid
  // Names of extra authorization request parameters the caller may pass to
  // authorizationUrl() (e.g. prompt, login_hint, acr_values, max_age, ui_locales). The
  // parameters authorizationUrl() sets itself, and request/request_uri, cannot be listed.
  std::vector<std::string> extra_authorize_params;
  std::chrono::milliseconds fetch_timeout{std::chrono::seconds(5)};
  std::string ca_file;                   // CA bundle for the token endpoint; empty: system
  size_t max_response_bytes = 64 * 1024; // token endpoint answers beyond this are refused
};

// The endpoints of a provider's discovery document that sign-in needs.
struct OidcLoginEndpoints {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string revocation_endpoint;  // RFC 7009; empty when the provider names none
};

// Parses a discovery document (strict JSON, as parseDiscoveryDocument(), whose issuer and
// jwks_uri checks it applies too) and reads authorization_endpoint and token_endpoint: both
// required, both allowed fetch URLs (https, or http to loopback) without a fragment; and
// revocation_endpoint (RFC 7009) when present, under the same rules.
// Errors: "discovery_malformed".
[[nodiscard]] StatusOr<OidcLoginEndpoints> parseLoginEndpoints(std::string_view json,
                                                               std::string_view expected_issuer);

// Fetches `{issuer}/.well-known/openid-configuration` and parses it as above. BLOCKING.
// Errors: "discovery_unavailable" (transport, status other than 200), "discovery_malformed".
[[nodiscard]] StatusOr<OidcLoginEndpoints> discoverLoginEndpoints(Fetcher& fetcher,
                                                                  const std::string& issuer,
                                                                  const FetchOptions& options);

// The configuration checks OidcClient::create() applies, without reading any file:
// client_id non-empty; redirect_uri an allowed URL without a fragment; scopes non-empty
// tokens (RFC 6749 3.3 characters) including "openid"; extra_authorize_params names of
// [A-Za-z0-9_.-] that are not reserved; a non-zero max_response_bytes.
// Errors: "config_invalid".
[[nodiscard]] Status validateLoginConfig(const OidcLoginConfig& config);

// The authorization request URL: authorization_endpoint (its own query kept, RFC 6749 3.1)
// followed by response_type=code, client_id, redirect_uri, scope (space-separated), state,
// nonce, code_challenge (S256 of state.pkce_verifier), code_challenge_method=S256, then the
// `extra` parameters whose names are in config.extra_authorize_params, in their order
// (others are dropped, as is a repeated name). Every name and value is
// application/x-www-form-urlencoded. REQUIRES: validateLoginConfig(config) passed.
std::string authorizationUrl(const OidcLoginEndpoints& endpoints, const OidcLoginConfig& config,
                             const LoginState& state, const FormFields& extra = {});

// What the provider sent back to redirect_uri.
struct OidcCallback {
  std::string state;              // always present
  std::string code;               // set when the provider granted a code
  std::string error;              // set instead when it refused (e.g. "access_denied")
  std::string error_description;  // with error, printable ASCII only, at most 256 characters
  std::string iss;                // RFC 9207 issuer identification, when sent; see checkIss

  bool ok() const noexcept { return error.empty(); }
};

/**
 * Parses the query string of the callback (without the '?'). Strict: '&'-separated
 * name=value pairs, '+' as space, percent escapes of two hex digits only, at most
 * kMaxCallbackQueryBytes in all. Refused ("callback_malformed"): a bad escape, any parameter
 * sent twice (code, state or any other), no state, both code and error, neither of them, an
 * empty code, a code or state over 2048 bytes, an error that is not RFC 6749 error-code
 * characters. Other parameters (session_state, scope, ...) are ignored.
 * The caller must still check the state against its login-state cookie, and when `iss` is
 * set (or the provider advertises RFC 9207 support) that it equals the provider's issuer.
 */
inline constexpr size_t kMaxCallbackQueryBytes = 8192;
[[nodiscard]] StatusOr<OidcCallback> parseCallback(std::string_view query);

// What the token endpoint answered (RFC 6749 5.1). Holds credentials: never log it.
struct TokenResponse {
  std::string access_token;
  std::string token_type;   // "Bearer" in some casing
  std::string id_token;     // empty when absent (allowed for refresh() only)
  std::string refresh_token;  // empty when absent
  std::string scope;        // empty when absent
  std::optional<std::chrono::seconds> expires_in;
};

class OidcClient {
 public:
  // exp - iat of a private_key_jwt client assertion.
  static constexpr std::chrono::seconds kAssertionLifetime = ClientAssertionSigner::kLifetime;

  /**
   * Validates `config` (validateLoginConfig) and reads its credential: the secret of
   * client_secret_file for client_secret_basic/post, the PEM key of client_key_file (which
   * must fit client_key_alg) for private_key_jwt.
   * @return the client; or a "config_invalid" Status naming the file or setting at fault
   *         (never the secret).
   */
  [[nodiscard]] static StatusOr<OidcClient> create(const OidcLoginConfig& config);

  OidcClient(OidcClient&&) noexcept = default;
  OidcClient& operator=(OidcClient&&) noexcept = default;
  OidcClient(const OidcClient&) = delete;
  OidcClient& operator=(const OidcClient&) = delete;
  ~OidcClient();

  const OidcLoginConfig& config() const noexcept { return config_; }

  // The client authentication for one POST to `token_endpoint` at `now`: adds an
  // Authorization header (basic) or form fields (post, private_key_jwt).
  [[nodiscard]] Status authenticate(const std::string& token_endpoint, SystemTime now,
                                    FormFields& form, RequestHeaders& headers) const;

 private:
  OidcClient() = default;
  OidcLoginConfig config_;
  std::string secret_;         // client_secret_*; cleansed on destruction
  std::optional<ClientAssertionSigner> assertion_;  // private_key_jwt
};

/**
 * Exchanges an authorization code (RFC 6749 4.1.3, RFC 7636 4.5): POSTs grant_type=
 * authorization_code, code, redirect_uri, code_verifier and the client authentication to
 * `token_endpoint`, with Accept: application/json. BLOCKING for up to config.fetch_timeout:
 * call it from a background thread. `now` dates a private_key_jwt assertion.
 * Errors (the first that applies):
 *   token_endpoint_unavailable  transport failure, timeout, or an HTTP status other than
 *                               200 that carries no OAuth error answer (Unavailable)
 *   token_response_too_large    a body over config.max_response_bytes (Unavailable)
 *   provider_<error>            an OAuth error answer (400/401 with {"error": ...}):
 *                               provider_invalid_grant, provider_invalid_client,
 *                               provider_invalid_request, provider_unauthorized_client,
 *                               provider_unsupported_grant_type, provider_invalid_scope;
 *                               provider_error for any other code (Unauthenticated)
 *   token_response_malformed    not a strict JSON object (duplicate members included), a
 *                               member of the wrong type, no access_token (Unavailable)
 *   token_type_unsupported      token_type absent or not "Bearer" case-insensitively
 *   id_token_missing            no id_token (exchangeCode only)
 */
[[nodiscard]] StatusOr<TokenResponse> exchangeCode(Fetcher& fetcher,
                                                   const std::string& token_endpoint,
                                                   const OidcClient& client,
                                                   std::string_view code,
                                                   std::string_view pkce_verifier,
                                                   SystemTime now);

// Refreshes (RFC 6749 6): grant_type=refresh_token, refresh_token and the client
// authentication. The same errors as exchangeCode() except that id_token may be absent; when
// refresh_token is absent the caller keeps the one it has. BLOCKING.
[[nodiscard]] StatusOr<TokenResponse> refresh(Fetcher& fetcher, const std::string& token_endpoint,
                                              const OidcClient& client,
                                              std::string_view refresh_token, SystemTime now);

// Revokes a refresh token at the provider (RFC 7009 section 2): POSTs token=...,
// token_type_hint=refresh_token and the client authentication to `revocation_endpoint`.
// BLOCKING, like exchangeCode(). 200 is success (RFC 7009 2.2: also for a token the provider
// no longer knows). Errors: "revocation_failed" (transport, or any other status),
// "config_invalid" (a bad endpoint), "refresh_token_invalid" (empty or over 8 KiB).
[[nodiscard]] Status revokeRefreshToken(Fetcher& fetcher, const std::string& revocation_endpoint,
                                        const OidcClient& client, std::string_view refresh_token,
                                        SystemTime now);

// What verifyIdToken() checks beyond verifyJwt().
struct IdTokenExpectations {
  std::string_view client_id;      // required
  // The nonce of the login (LoginState::nonce). Required unless expected_subject is set.
  std::string_view expected_nonce;
  // After refresh(): the subject of the original ID token, which the new one must repeat
  // (OIDC Core 12.2); the nonce is then not checked.
  std::string_view expected_subject;
  // The access token that came with the ID token, for the at_hash check.
  std::optional<std::string_view> access_token;
};

/**
 * Verifies an ID token (OIDC Core 3.1.3.7) and maps its claims to a Principal:
 *  - verifyJwt() with `provider` (issuer, algorithms, claim mapping, required claims, leeway,
 *    max_token_bytes) except that the audience checked is exactly client_id, `typ` is not
 *    checked, and exp is always required: its AuthError name is the code
 *    ("bad_signature", "expired", "wrong_audience", "no_matching_key", ...);
 *  - iat present                                                 "missing_claim"
 *  - azp: when aud holds more than one value azp is required; when present it must equal
 *    client_id                                                   "id_token_azp_mismatch"
 *  - nonce: a string equal to expected_nonce (constant time)     "id_token_nonce_mismatch"
 *    (or, with expected_subject, sub must equal it)              "id_token_subject_mismatch"
 *  - at_hash (3.1.3.6 / 3.2.2.9): when access_token is given and the token has at_hash, it
 *    must be base64url of the left half of the access token's hash with the hash of the
 *    token's alg (SHA-256/384/512; SHA-512 for EdDSA)            "id_token_at_hash_mismatch"
 *    An ID token without at_hash is accepted (it is optional in the code flow).
 * Status codes: Unavailable for keys_unavailable, Unauthenticated for the rest,
 * InvalidArgument ("id_token_check_invalid") for expectations without client_id or without
 * a nonce and a subject.
 */
[[nodiscard]] StatusOr<Principal> verifyIdToken(std::string_view id_token,
                                                const config::ProviderConfig& provider,
                                                const KeySet& keys,
                                                const IdTokenExpectations& expect,
                                                SystemTime now);

// Why an OIDC sign-in failed (the proxy's metrics label).
enum class OidcFailure : unsigned char {
  kCallback,         // callback_malformed
  kLoginState,       // login_state_* (missing, expired, mismatch, tampered)
  kWrongIssuer,      // RFC 9207 iss not the provider's
  kProviderRefused,  // the provider sent an error (access_denied, ...) or refused the code
  kUnavailable,      // token endpoint, discovery or keys unavailable
  kTokenResponse,    // malformed token endpoint answer
  kIdToken,          // the ID token failed verification
  kSession,          // the session could not be made
  kCount,
};
const char* oidcFailureName(OidcFailure f) noexcept;

// The stable code at the start of a Status message made here ("provider_invalid_grant"), or
// "" for an OK status.
std::string_view loginErrorCode(const Status& status) noexcept;

}  // namespace stepgate::identity
