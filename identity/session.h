#pragma once
// Browser sessions after a SAML or OIDC sign-in (docs/sessions.md):
//   - SessionCodec: the encrypted session cookie (AES-256-GCM), its Set-Cookie headers, and
//     decoding with expiry and idle expiry;
//   - checkCsrf(): the CSRF rule for state-changing browser calls;
//   - SessionRevocationList: session ids ended by logout, until they expire;
//   - PKCE (RFC 7636) and LoginStateCodec: the short-lived encrypted cookie that carries
//     state, nonce, the PKCE verifier, the validated return path and a SAML request id
//     across the round trip to the identity provider.
//
// Keys: one or two 32-byte secrets (current, previous) from files. A cookie is encrypted
// with the current key and decrypted with whichever key it names, so a key can be rotated
// without ending every session: deploy the new key as current and the old one as previous
// for at least the session lifetime. Session cookies and login-state cookies use different
// subkeys derived from the secret (HMAC-SHA-256 with a label), so one never decodes as the
// other.
//
// Threads: the codecs are immutable after create() and safe from any thread; encode and
// decode allocate and use OpenSSL but do no I/O. SessionRevocationList has its own mutex.
// Nothing here throws; failures are Status values or SessionError codes, whose messages never
// contain keys, cookie values or CSRF tokens.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/ascii.h"
#include "common/status.h"
#include "common/time_source.h"
#include "identity/principal.h"

namespace stepgate::identity {

inline constexpr size_t kSessionKeyBytes = 32;
inline constexpr size_t kMaxCookieBytes = 4096;

// Reads a 32-byte key from `path` (32 raw bytes, or 43 base64url characters with an optional
// trailing newline); when the file does not exist, generates one and writes it as base64url
// with mode 0600 (never overwriting a file that appears meanwhile). InvalidArgument when the
// file holds anything else; the message names the file only.
[[nodiscard]] StatusOr<std::string> loadOrCreateSessionKey(const std::string& path);

enum class SessionError : unsigned char {
  kMalformed,    // not base64url, too short, unknown version, or a payload that is not ours
  kWrongKey,     // encrypted with a key we no longer (or never) had
  kTampered,     // the GCM tag does not verify: modified, or another cookie's name
  kExpired,      // now >= exp
  kIdleExpired,  // now >= idle_exp
};

// "session_malformed", "session_wrong_key", "session_tampered", "session_expired",
// "session_idle_expired".
const char* sessionErrorName(SessionError e) noexcept;

struct Session {
  std::string sid;  // 128 random bits, base64url
  std::string subject;
  std::string provider;             // the provider the user signed in with
  std::vector<std::string> groups;  // sorted, unique (as in the Principal)
  bool groups_truncated = false;    // some groups were dropped to fit the cookie
  std::string name;
  bool mfa = false;
  SystemTime issued_at{};
  SystemTime expires_at{};       // absolute end
  SystemTime idle_expires_at{};  // end unless the cookie is re-issued (refresh())
  std::string csrf;              // 256 random bits, base64url (43 characters)
};

struct SessionOptions {
  // "__Host-" + cookie_name when domain is empty (the default; the prefix makes the browser
  // refuse the cookie unless it is Secure, Path=/ and host-only), else "__Secure-" +
  // cookie_name, since a __Host- cookie cannot carry Domain.
  std::string cookie_name = "stepgate-session";
  std::string domain;
  std::chrono::seconds lifetime{std::chrono::hours(8)};
  std::chrono::seconds idle_timeout{std::chrono::hours(1)};
  // Groups are dropped from the end (groups_truncated set) until the Set-Cookie value is at
  // most kMaxCookieBytes. With false, a session that does not fit is an error instead.
  bool truncate_groups = true;
};

struct SessionDecodeResult {
  std::optional<SessionError> error;  // nullopt: valid
  Session session;                    // set when valid

  bool ok() const noexcept { return !error.has_value(); }
};

// The key material shared by SessionCodec and LoginStateCodec: the current key and an
// optional previous one, each as two derived subkeys and a 4-byte key id.
struct CookieKeys {
  std::string current;   // 32 bytes
  std::string previous;  // 32 bytes, or empty
};

// What a codec derives from CookieKeys for its kind of cookie (its own label): the AES-256-GCM
// subkeys and the 4-byte key ids of the current and previous key. Internal to the codecs.
struct SealingKeys {
  std::string cur_key, prev_key;
  std::string cur_id, prev_id;
};

class SessionCodec {
 public:
  // InvalidArgument for keys that are not 32 bytes, a cookie name that is not a token
  // (RFC 6265), a domain with characters outside [A-Za-z0-9.-], a non-positive lifetime or
  // idle timeout, or an idle timeout over the lifetime.
  [[nodiscard]] static StatusOr<SessionCodec> create(const CookieKeys& keys,
                                                     const SessionOptions& options);

  // The cookie's full name (with its prefix).
  const std::string& cookieName() const noexcept { return cookie_name_; }

  // A new session for `principal` at `now`: random sid and csrf, exp = now + lifetime,
  // idle_exp = now + idle_timeout (capped at exp).
  [[nodiscard]] StatusOr<Session> newSession(const Principal& principal, SystemTime now) const;

  // The cookie value (base64url of version, key id, nonce, ciphertext, tag). May drop groups
  // from `session` (setting groups_truncated) to respect kMaxCookieBytes; InvalidArgument
  // when it cannot fit.
  [[nodiscard]] StatusOr<std::string> encode(Session& session) const;

  // The value of a Set-Cookie header for `session` (encode() plus attributes):
  // "<name>=<value>; Path=/; Max-Age=<exp - now>; [Domain=...; ]Secure; HttpOnly;
  // SameSite=Lax". InvalidArgument when the session has already expired at `now`.
  [[nodiscard]] StatusOr<std::string> setCookie(Session& session, SystemTime now) const;

  // The Set-Cookie value that removes the cookie (logout): empty value, Max-Age=0, the same
  // attributes.
  std::string clearCookie() const;

  // Decodes and checks a cookie value (not the whole Cookie header: see findCookie()).
  SessionDecodeResult decode(std::string_view cookie_value, SystemTime now) const noexcept;

  // Whether the caller should re-issue the cookie to push idle_exp forward: true once less
  // than half the idle timeout is left and the absolute expiry is further away.
  bool needsRefresh(const Session& session, SystemTime now) const noexcept;
  // Moves idle_exp to now + idle_timeout (capped at exp); then setCookie() again.
  void refresh(Session& session, SystemTime now) const noexcept;

  // The Principal for a decoded session: method kSession, provider, subject, groups, name,
  // mfa, expires_at = exp, credential_id = hex SHA-256("session:" + sid) truncated to 32.
  Principal principal(const Session& session) const;

 private:
  SessionCodec() = default;
  std::string cookie_name_;
  SessionOptions options_;
  SealingKeys keys_;
};

// The value of cookie `name` in a Cookie request header ("a=1; b=2"); nullopt when absent.
// When the name occurs more than once the first is returned (with the __Host- prefix no
// other site can set a cookie of that name).
std::optional<std::string_view> findCookie(std::string_view cookie_header,
                                           std::string_view name) noexcept;

// ---- CSRF ------------------------------------------------------------------------------

struct CsrfOptions {
  // Accept a request without X-CSRF-Token when the browser says it is same-origin:
  // "Sec-Fetch-Site: same-origin", or an Origin header equal to one of allowed_origins.
  bool allow_same_origin = true;
  std::vector<std::string> allowed_origins;  // e.g. "https://stepgate.example.com"
};

// The request headers checkCsrf() reads; build with csrfHeadersFrom().
struct CsrfHeaders {
  std::optional<std::string_view> csrf_token;      // X-CSRF-Token
  std::optional<std::string_view> origin;          // Origin
  std::optional<std::string_view> sec_fetch_site;  // Sec-Fetch-Site
  bool duplicate = false;                          // one of them was sent more than once
};

inline bool asciiIEquals(std::string_view a, std::string_view b) noexcept {
  return equalsIgnoreAsciiCase(a, b);
}

// From any range of headers with `name` and `value` members (e.g. proxy/http1 Header).
template <typename Headers>
CsrfHeaders csrfHeadersFrom(const Headers& headers) {
  CsrfHeaders out;
  for (const auto& h : headers) {
    std::optional<std::string_view>* slot = nullptr;
    if (asciiIEquals(h.name, "x-csrf-token"))
      slot = &out.csrf_token;
    else if (asciiIEquals(h.name, "origin"))
      slot = &out.origin;
    else if (asciiIEquals(h.name, "sec-fetch-site"))
      slot = &out.sec_fetch_site;
    if (slot == nullptr)
      continue;
    if (slot->has_value())
      out.duplicate = true;
    *slot = std::string_view(h.value);
  }
  return out;
}

enum class CsrfResult : unsigned char {
  kOk,            // a safe method, a matching token, or a same-origin request as configured
  kMissingToken,  // a state-changing request with neither a token nor a same-origin proof
  kBadToken,      // X-CSRF-Token present but not the session's (or sent twice)
};
const char* csrfResultName(CsrfResult r) noexcept;  // "ok", "csrf_missing", "csrf_mismatch"

// Rules (only for requests authenticated by the session cookie; bearer tokens need none):
//   1. GET, HEAD and OPTIONS pass. Every other method is state-changing (POST, PUT, PATCH,
//      DELETE, and unknown methods too).
//   2. A header sent twice: kBadToken.
//   3. X-CSRF-Token present: it must equal session.csrf (constant-time): kOk or kBadToken.
//      A wrong token is refused even when the origin looks right.
//   4. With allow_same_origin: "Sec-Fetch-Site: same-origin" passes; an Origin equal
//      (ASCII case-insensitively) to an allowed origin passes. "null" never does.
//   5. Otherwise kMissingToken.
CsrfResult checkCsrf(std::string_view method, const CsrfHeaders& headers, const Session& session,
                     const CsrfOptions& options) noexcept;

// ---- revocation --------------------------------------------------------------------------

// Session ids ended by logout (or replaced by a refresh), each kept until its session's exp.
// Bounded: when full, expired entries are dropped first; if none were, revoke() fails with
// ResourceExhausted (the cookie is still cleared; log it). Per process: replicas do not share
// it.
// Threads: isRevoked() is on the request path and takes no lock: it reads an immutable
// snapshot published with an atomic pointer. revoke() (logout, rare) takes a mutex, updates
// the list and publishes a new snapshot (O(n) copy).
class SessionRevocationList {
 public:
  explicit SessionRevocationList(size_t max_entries = 100000);

  [[nodiscard]] Status revoke(std::string_view sid, SystemTime expires_at, SystemTime now);
  bool isRevoked(std::string_view sid, SystemTime now) const noexcept;
  size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>()(s);
    }
  };
  using Map = std::unordered_map<std::string, SystemTime, Hash, std::equal_to<>>;

  void purgeLocked(SystemTime now);
  void publishLocked();
  size_t max_entries_;
  mutable std::mutex mu_;
  Map by_sid_;                                     // guarded by mu_
  std::multimap<SystemTime, std::string> by_exp_;  // guarded by mu_
  std::atomic<std::shared_ptr<const Map>> snapshot_;
};

// ---- PKCE and login state ----------------------------------------------------------------

struct PkcePair {
  std::string verifier;   // 43 characters: 32 random bytes, base64url
  std::string challenge;  // base64url(SHA-256(verifier)); code_challenge_method=S256
};

// A fresh pair; the verifier is empty if the random generator fails (check it).
PkcePair makePkce();
// The S256 challenge of `verifier`.
std::string pkceChallenge(std::string_view verifier);
// RFC 7636 section 4.1: 43 to 128 characters of [A-Za-z0-9-._~].
bool validPkceVerifier(std::string_view verifier) noexcept;

// A same-origin relative path to return to after sign-in: starts with a single '/', no
// second '/' or '\' right after it, no '\' anywhere, only printable ASCII (no spaces, tabs or
// controls, which browsers strip), no percent-encoded '/' or '\' (%2F, %5C), at most 2048
// characters. Everything else (absolute URLs, scheme-relative "//host", "/\host") is refused.
bool validReturnTo(std::string_view path) noexcept;

struct LoginState {
  std::string state;  // 128 random bits, base64url: the OAuth/RelayState value
  std::string nonce;  // 128 random bits, base64url: the OIDC nonce
  std::string pkce_verifier;
  std::string return_to;        // validated by validReturnTo(); "/" when none was given
  std::string saml_request_id;  // the AuthnRequest ID, for InResponseTo; may be empty
  SystemTime expires_at{};
};

enum class LoginStateError : unsigned char {
  kMalformed,
  kWrongKey,
  kTampered,
  kExpired,
  kStateMismatch,  // the state parameter is not the cookie's
};
// "login_state_malformed", ..., "login_state_mismatch".
const char* loginStateErrorName(LoginStateError e) noexcept;

struct LoginStateDecodeResult {
  std::optional<LoginStateError> error;
  LoginState state;
  bool ok() const noexcept { return !error.has_value(); }
};

class LoginStateCodec {
 public:
  static constexpr std::chrono::seconds kLifetime{600};

  // cookie name: "__Host-" + cookie_name.
  [[nodiscard]] static StatusOr<LoginStateCodec> create(const CookieKeys& keys,
                                                        std::string cookie_name = "stepgate-login");

  const std::string& cookieName() const noexcept { return cookie_name_; }

  // Fresh state, nonce and PKCE verifier; return_to must pass validReturnTo() (empty means
  // "/"); InvalidArgument otherwise, or for a saml_request_id over 256 characters.
  [[nodiscard]] StatusOr<LoginState> begin(std::string_view return_to,
                                           std::string_view saml_request_id, SystemTime now) const;

  // Set-Cookie for the state: Max-Age 600, Secure, HttpOnly, SameSite=Lax, Path=/.
  // SameSite=Lax lets the cookie come back on the identity provider's top-level GET
  // redirect; a SAML HTTP-POST ACS is a cross-site POST, so for SAML the caller should match
  // InResponseTo against its own request-id store instead (or set the cookie SameSite=None).
  [[nodiscard]] StatusOr<std::string> setCookie(const LoginState& state, SystemTime now) const;
  std::string clearCookie() const;

  // Decodes the cookie and checks its expiry and, when `state_param` is given, that it
  // equals the cookie's state (constant-time).
  LoginStateDecodeResult decode(std::string_view cookie_value,
                                std::optional<std::string_view> state_param,
                                SystemTime now) const noexcept;

 private:
  LoginStateCodec() = default;
  std::string cookie_name_;
  SealingKeys keys_;
};

// ---- refresh grant (OIDC) -----------------------------------------------------------------

// An OIDC provider's refresh token, kept by the browser in its own encrypted cookie so that a
// session can be renewed at the provider (which re-checks the user) without a login page.
struct RefreshGrant {
  std::string id;             // 128 random bits, base64url (newGrantId()): what logout revokes
  std::string provider;       // the provider the session came from
  std::string subject;        // the subject the renewed ID token must repeat
  std::string refresh_token;  // a credential: never logged
  SystemTime expires_at{};    // when stepgate stops using it (sso.oidc.refresh_ttl)
};

class RefreshCookieCodec {
 public:
  // cookie name: "__Secure-" + cookie_name; the cookie is sent only under `path` (the sign-in
  // endpoints), so it never goes with proxied requests. InvalidArgument for a bad name, a
  // path not starting with '/' or keys not 32 bytes.
  [[nodiscard]] static StatusOr<RefreshCookieCodec> create(const CookieKeys& keys,
                                                           std::string cookie_name,
                                                           std::string path);

  const std::string& cookieName() const noexcept { return cookie_name_; }

  // A fresh grant id (empty if the random generator fails: check it).
  static std::string newGrantId();

  // "<name>=<value>; Path=<path>; Max-Age=<exp - now>; Secure; HttpOnly; SameSite=Lax".
  // InvalidArgument when the id, subject or token is empty, when expired, or over
  // kMaxCookieBytes (a refresh token too large to keep).
  [[nodiscard]] StatusOr<std::string> setCookie(const RefreshGrant& grant, SystemTime now) const;
  std::string clearCookie() const;

  // The grant, or nullopt when the value is malformed, sealed with another key, tampered or
  // expired.
  std::optional<RefreshGrant> decode(std::string_view cookie_value, SystemTime now) const;

 private:
  RefreshCookieCodec() = default;
  std::string attributes(int64_t max_age) const;
  std::string cookie_name_;
  std::string path_;
  SealingKeys keys_;
};

}  // namespace stepgate::identity
