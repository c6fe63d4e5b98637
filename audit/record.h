#pragma once
// Record encoding (docs/audit.md, "Records"): what the proxy knows about a decision, as the
// JSON member list the AuditLog wraps in its envelope. Pure; the caller passes views.
//
// What never enters a record: tokens, cookies, secrets, bodies, query values. A credential
// appears only as credential_id, an HMAC under the log's local key (CredentialHasher).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace stepgate::audit {

inline constexpr size_t kMaxRecordBytes = 64 * 1024;

struct PrincipalView {
  std::string_view provider, issuer, subject, name, method;
  std::span<const std::string> groups;
  bool mfa = false;
  std::string_view credential_id;  // "hmac-sha256:<hex>" or empty
};

struct OperationView {
  std::string_view upstream, workflow, version, step, execution, namespace_name;
  std::string_view actions;  // "start,define" (policy spelling, comma-separated)
  bool read_only = false;    // only read/list
  bool privileged = false;   // define, undefine, admin, stop, skip-step, rerun, ...
};

struct RequestRecordView {
  // "request" (a decision before the response), "auth_failure", "response" (the
  // outcome of an allowed request, written after it completed), or "session" (a sign-in,
  // session refresh, token, or sign-out at the browser sign-in endpoints).
  std::string_view type = "request";
  int64_t time_unix_us = 0;
  std::string_view request_id;
  const PrincipalView* principal = nullptr;  // null: anonymous / not authenticated
  // source
  std::string_view source_ip;
  uint16_t source_port = 0;
  std::string_view tls_version;          // "" for plain HTTP
  std::string_view client_cert_subject;  // "" when none
  std::string_view forwarded_for;        // the X-Forwarded-For values as sent (untrusted)
  // request
  std::string_view method, path, query, host, user_agent;
  uint64_t request_bytes = 0;
  // operation (null when the request never got that far)
  const OperationView* operation = nullptr;
  std::span<const OperationView> also;
  // decision
  std::string_view effect;           // "allow", "deny", "error"; "" for none
  std::string_view reason;
  std::span<const std::string_view> rules;
  std::string_view policy_version;
  std::string_view shadow_effect, shadow_reason;  // "" when no shadow rule applied
  // auth failure
  std::string_view auth_reason, auth_provider;
  // "session" records (browser sign-in): the event ("sign_in", "refresh", "token",
  // "sign_out") and how the user signed in ("saml", "oidc"; "" when unknown)
  std::string_view session_event, session_via;
  // response (local answers and "response" records)
  int status = 0;           // 0: not yet
  int upstream_status = 0;  // 0: none
  uint64_t latency_us = 0;
  uint64_t response_bytes = 0;
};

// Appends the record's member list (`"type":"request","time":"...",...`, no braces) to
// `out`. When it would exceed kMaxRecordBytes the longest lists and strings are cut and
// `"truncated":true` is added; the result is always within the limit.
void encodeRecord(const RequestRecordView& r, std::string& out);

// "2026-11-22T15:04:05.123456Z"
void appendRfc3339Micros(std::string& out, int64_t unix_us);

// Keyed hash of credential identifiers, so a record can say "the same token" without
// holding it. The key is 32 random bytes in DIR/hash.key (0600), made on first use.
class CredentialHasher {
 public:
  // Reads or creates the key file. Empty string on failure is not allowed: the caller fails.
  static bool loadOrCreate(const std::string& key_file, CredentialHasher& out, std::string& error);
  // "hmac-sha256:" + 32 hex characters (the first 16 bytes of HMAC-SHA256(key, credential)).
  std::string hash(std::string_view credential) const;
  bool ready() const noexcept { return !key_.empty(); }

 private:
  std::string key_;
};

}  // namespace stepgate::audit
