#pragma once
// The configuration schema: plain structs, built by config::load() and published as an
// immutable snapshot (ConfigConstSharedPtr). Once published a Config is never modified, so
// any thread may read it. Every key is documented with its default in docs/config.md.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net_address.h"

namespace stepgate::config {

using Duration = std::chrono::milliseconds;

enum class ClientAuth : unsigned char { kNone, kOptional, kRequired };
enum class TlsMinVersion : unsigned char { kTls12, kTls13 };

struct CertificateConfig {
  std::string cert_file;              // PEM chain, leaf first
  std::string key_file;               // PEM private key
  std::vector<std::string> server_names;  // SNI names this certificate serves (may use *.x)
};

struct ServerTlsConfig {
  // The first certificate is the default when SNI is absent or matches no other entry.
  std::vector<CertificateConfig> certificates;
  std::string client_ca_file;             // empty: no client certificates requested
  ClientAuth client_auth = ClientAuth::kNone;
  TlsMinVersion min_version = TlsMinVersion::kTls12;
  std::string ciphers;                    // TLS 1.2 cipher list; empty: built-in modern list
  std::string ciphersuites;               // TLS 1.3 suites; empty: OpenSSL defaults
  bool session_tickets = true;
  Duration ticket_key_rotation{std::chrono::hours(12)};
  uint32_t session_cache_size = 20480;    // per listener, server-side session cache
};

struct ListenerConfig {
  std::string name;                       // defaults to the address
  SocketAddress address;
  std::string address_text;
  std::optional<ServerTlsConfig> tls;     // absent: plain HTTP
  std::string upstream;                   // name of the upstream requests go to
};

struct UpstreamTlsConfig {
  std::string ca_file;                    // empty: system default trust store
  std::string server_name;                // SNI and name to verify; empty: URL host
  bool verify = true;
};

// One route of the generic profile (docs/config.md, "routes"): a method and a path template
// over the normalised path, mapped to an operation. `step` and `workflow` are either a literal
// or "{var}" naming a variable of `path`.
struct RouteConfig {
  std::string method;                     // "GET", "POST", ... or "*" for any
  std::string path;                       // "/api/workflow/{workflow}" ; a last "{rest...}"
  std::string action;                     // a policy action name (docs/policy.md)
  std::string step;                       // "" = none
  std::string workflow;                   // "" = none
  std::string position;                   // "FILE:LINE:COL" of the route, for messages
};

// How stepgate asks the orchestrator about ids (docs/orchestrators.md, "Execution lookups"):
// with its own credentials, never the caller's.
struct LookupConfig {
  std::string authorization_file;         // its content is sent as Authorization; "" = none
  Duration timeout{std::chrono::seconds(2)};
  Duration cache_ttl{std::chrono::minutes(10)};      // found answers
  Duration negative_ttl{std::chrono::seconds(5)};    // "no such id" answers; failures: never
  uint32_t cache_entries = 100000;        // LRU, shared by all workers
  uint32_t threads = 2;                   // concurrent lookups
  uint32_t max_pending = 1024;            // distinct ids waiting; beyond: unresolved at once
};

// AWS Signature Version 4 for forwarded requests and lookups (step-functions): stepgate
// authenticates callers itself and signs with these credentials.
struct AwsSigningConfig {
  std::string region;                     // e.g. us-east-1
  std::string service = "states";
  std::string access_key_id;              // AKIA... (not secret)
  std::string secret_access_key_file;     // the secret, read at start and on reload
  std::string session_token_file;         // optional (temporary credentials)
};

// A short-lived JWT signed by stepgate (the top-level `issuer`) naming who made the request
// and what the policy allowed, sent to the upstream in `header` (docs/sessions.md).
struct IdentityAssertionConfig {
  std::string header = "X-Stepgate-Identity";
  std::string audience;                   // `aud`; default: the upstream's URL
  Duration ttl{std::chrono::seconds(60)}; // 30s..60s
};

struct UpstreamConfig {
  std::string name;
  std::string profile = "generic";        // conductor | step-functions | temporal | argo | airflow | generic
  std::string url;                        // http://host:port or https://host:port (no path)
  bool https = false;
  std::string host;                       // from the URL, sent as Host
  uint16_t port = 0;
  // The Host header value: `host` ("[v6]" in brackets), plus ":port" unless the scheme default.
  std::string host_header;
  std::vector<SocketAddress> addresses;   // resolved at load time, never on a worker
  Duration connect_timeout{std::chrono::seconds(2)};
  Duration response_timeout{std::chrono::seconds(30)};
  uint32_t max_idle = 64;                 // idle keep-alive connections per worker
  Duration idle_timeout{std::chrono::seconds(60)};
  uint32_t max_requests_per_connection = 0;  // 0: unlimited
  std::optional<UpstreamTlsConfig> tls;
  std::vector<RouteConfig> routes;        // generic; for the other profiles: explicit mappings
  LookupConfig lookup;
  std::optional<AwsSigningConfig> aws;    // step-functions: required
  uint64_t max_inspected_body = 1u << 20; // bodies a profile reads to classify; beyond: 413
  std::optional<IdentityAssertionConfig> identity_assertion;  // needs the top-level `issuer`
};

struct LimitsConfig {
  uint32_t max_request_line = 8192;       // 414
  uint32_t max_header_bytes = 32768;      // 431
  uint32_t max_headers = 100;             // 431
  uint64_t max_body_bytes = 16ull << 20;  // 413
  Duration header_timeout{std::chrono::seconds(10)};   // 408
  Duration idle_timeout{std::chrono::seconds(60)};     // keep-alive idle: close silently
  Duration request_timeout{std::chrono::seconds(300)}; // whole request incl. response: 504/close
  uint32_t max_connections_per_worker = 10000;         // beyond: accepted and closed
  uint32_t max_inflight_upstream = 4096;               // per worker; beyond: 503
  uint32_t buffer_high_watermark = 256 * 1024;         // bytes queued before reading pauses
  uint32_t buffer_low_watermark = 64 * 1024;           // reading resumes below this
};

struct PathConfig {
  bool merge_slashes = false;
  bool reject_path_parameters = true;
};

struct ProxyConfig {
  uint32_t workers = 0;                   // 0: one per core
  bool trust_request_id = false;          // keep an inbound X-Request-Id instead of replacing it
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For is extended, not reset
  std::string via = "stepgate";
  Duration drain_timeout{std::chrono::seconds(15)};
};

struct AdminConfig {
  SocketAddress address;                  // default 127.0.0.1:9901
  std::string address_text = "127.0.0.1:9901";
  bool enabled = true;
};

struct LogConfig {
  std::string level = "info";
};

// ---- identity (docs/identity.md) -------------------------------------------------------

// How the Introspector authenticates to the introspection endpoint (RFC 7662 section 2.1).
enum class IntrospectionClientAuth : unsigned char {
  kClientSecretBasic,  // HTTP Basic with client_id and the secret (RFC 6749 section 2.3.1)
  kPrivateKeyJwt,      // a signed JWT client assertion (RFC 7523 section 2.2, OIDC Core 9)
};

enum class ProviderType : unsigned char {
  kJwt,            // bearer JWTs verified with keys from jwks_uri, jwks_file or a secret
  kOidc,           // like kJwt, keys found through OIDC discovery of `issuer`
  kIntrospection,  // opaque bearer tokens checked with RFC 7662 introspection
  kMtls,           // client certificates of a TLS listener with client_ca
};

// Where a Principal's fields come from in the token's claims.
struct ClaimMapping {
  std::string subject = "sub";        // claim name
  std::string groups;                 // JSON pointer ("/realm_access/roles") or a claim name
                                      // ("cognito:groups", "groups"); empty: no groups
  bool groups_space_separated = false;  // e.g. "scope": "a b c"
  std::string name = "name";
  std::string email = "email";
  std::vector<std::string> mfa_amr = {"mfa", "otp", "hwk", "swk"};  // any of these in `amr`
  std::vector<std::string> mfa_acr;   // or `acr` equal to one of these
};

struct RequiredClaim {
  std::string name;
  std::vector<std::string> any_of;    // empty: the claim must merely exist
};

struct ProviderConfig {
  std::string name;
  ProviderType type = ProviderType::kOidc;
  std::string issuer;                 // exact `iss`; for oidc also the discovery base
  std::vector<std::string> audiences; // a token's aud must contain one of them
  std::vector<std::string> algorithms;  // required allowlist, e.g. [RS256, ES256]
  std::string jwks_uri;               // jwt: where keys are fetched (https, or http on loopback)
  std::string jwks_file;              // jwt: keys from a file (read at load and reload)
  std::string secret_file;            // jwt with HS*: the shared secret (raw bytes)
  std::string ca_file;                // CA for fetching discovery/JWKS/introspection; empty: system
  bool require_exp = true;
  Duration leeway{std::chrono::seconds(60)};
  Duration max_lifetime{0};           // 0: no limit on exp - iat
  std::string typ;                    // required JOSE "typ" (e.g. "at+jwt"); empty: any
  std::vector<RequiredClaim> required_claims;
  ClaimMapping claims;
  uint32_t max_token_bytes = 8192;
  // Key refresh (jwt/oidc).
  Duration refresh_min{std::chrono::minutes(5)};    // lower bound on Cache-Control max-age
  Duration refresh_max{std::chrono::hours(24)};     // upper bound
  Duration unknown_kid_min_interval{std::chrono::seconds(30)};  // refetch rate limit
  Duration max_staleness{std::chrono::hours(24)};   // keep last good keys this long on errors
  Duration fetch_timeout{std::chrono::seconds(5)};
  // Introspection.
  std::string introspection_endpoint;
  std::string client_id;
  IntrospectionClientAuth client_auth = IntrospectionClientAuth::kClientSecretBasic;
  std::string client_secret_file;     // client_secret_basic: the secret (raw bytes)
  std::string client_key_file;        // private_key_jwt: the PEM private key
  std::string client_key_alg = "ES256";  // private_key_jwt: ES256 ES384 RS256 PS256 EdDSA
  Duration cache_max_ttl{std::chrono::minutes(5)};
  Duration negative_cache_ttl{std::chrono::seconds(10)};
  // stepgate's own access tokens (added by the loader with `sso:`): keys come from the
  // top-level `issuer` key, not from the KeyStore.
  bool local_issuer = false;
  // mTLS: which certificate field becomes the subject.
  std::string certificate_subject = "san_uri";  // san_uri | san_dns | subject_dn
};

struct IdentityConfig {
  std::vector<ProviderConfig> providers;
  uint32_t token_cache_size = 10000;  // verified tokens cached per worker (LRU)
};

// ---- policy (docs/policy.md, "In the proxy") ------------------------------------------

struct PolicyConfig {
  bool reveal_rule_ids = false;  // 403 bodies name the deciding rule ids
  bool watch = true;             // reload when the policy directory changes
};

// A webhook the audit forwarder posts committed records to (docs/audit.md, "Forwarding").
struct AuditWebhookConfig {
  std::string name;                       // the sink's name (cursor file, metrics)
  std::string url;                        // http://127.0.0.1:... or https://...
  std::string ca_file;                    // https: CA bundle; empty: system trust store
  std::string authorization_file;         // one line sent as Authorization; "" = none
  uint32_t batch_records = 500;
  uint64_t batch_bytes = 1u << 20;
  Duration timeout{std::chrono::seconds(5)};
  Duration max_backoff{std::chrono::seconds(60)};
};

// A syslog receiver (RFC 5424 over TCP with octet counting, optionally TLS per RFC 5425).
struct AuditSyslogConfig {
  std::string name;
  std::string address;                    // host:port
  bool tls = false;
  std::string ca_file;                    // tls: CA bundle; empty: system trust store
  std::string server_name;                // tls: name to verify; empty: the host
  std::string app_name = "stepgate";
  uint32_t facility = 13;                 // log audit
  Duration timeout{std::chrono::seconds(5)};
  Duration max_backoff{std::chrono::seconds(60)};
};

// stepgate as a token issuer (docs/sessions.md): the `iss` of its tokens and upstream identity
// assertions, and its ES256 key (created, 0600, when the file does not exist). Its JWKS is
// served at /.well-known/jwks.json on every listener.
struct IssuerConfig {
  std::string url;                        // https://stepgate.example.com
  std::string signing_key_file;           // resolved path
  std::vector<std::string> previous_key_files;  // resolved; published, never used to sign
};

// The audit log (docs/audit.md). Absent: no audit log.
struct AuditConfig {
  std::string dir;                        // resolved; created if missing
  bool strict = true;                     // durability: strict | async
  std::string signing_key_file;           // Ed25519 private key (PEM); `stepgate audit keygen`
  std::string key_name = "stepgate-audit";
  std::string origin = "stepgate/audit";
  uint32_t ring_capacity = 4096;          // records per worker queue
  uint64_t segment_bytes = 64ull << 20;
  Duration segment_age{std::chrono::hours(24)};
  Duration retention_age{0};              // 0: keep
  uint64_t retention_bytes = 0;           // 0: no limit
  uint32_t checkpoint_records = 10000;
  Duration checkpoint_interval{std::chrono::seconds(60)};
  uint64_t low_disk_bytes = 256ull << 20; // below this much free space: 503 (strict)
  std::vector<AuditWebhookConfig> webhooks;
  std::vector<AuditSyslogConfig> syslogs;
};

// Browser sign-in (docs/sso.md): endpoints under path_prefix answered by stepgate itself,
// an encrypted session cookie, and stepgate access tokens for command-line users.
struct SsoSessionConfig {
  std::string key_file;                   // resolved; 32-byte key, created (0600) if missing
  Duration ttl{std::chrono::hours(8)};
  Duration idle_ttl{std::chrono::hours(1)};
  std::string cookie_name = "stepgate-session";  // sent as __Host-<name> (or __Secure-)
  std::string domain;                     // empty: host-only cookie
};

struct SsoSamlConfig {
  std::string entity_id;                  // our SP entity id (the Audience)
  std::string acs_url;                    // https://host{path_prefix}/saml/acs
  std::string idp_entity_id;
  std::string idp_cert_file;              // resolved; PEM
  std::string idp_sso_url;
  std::string sp_key_file;                // resolved; optional PEM private key
  std::string sp_cert_file;               // resolved; optional PEM certificate
  std::string subject_attribute;          // empty: NameID
  std::string groups_attribute;           // empty: no groups
  Duration clock_skew{std::chrono::seconds(60)};
};

// How stepgate authenticates to the OIDC provider's token endpoint (OIDC Core section 9).
enum class LoginClientAuth : unsigned char {
  kClientSecretBasic,
  kClientSecretPost,
  kPrivateKeyJwt,
};

struct SsoOidcConfig {
  std::string provider;                   // an identity.providers entry of type oidc
  std::string client_id;
  LoginClientAuth client_auth = LoginClientAuth::kClientSecretBasic;
  std::string client_secret_file;         // resolved; client_secret_*
  std::string client_key_file;            // resolved; private_key_jwt (PEM)
  std::string client_key_alg = "ES256";
  std::string redirect_uri;               // https://host{path_prefix}/oidc/callback
  std::vector<std::string> scopes = {"openid", "profile", "email"};
  std::vector<std::string> extra_params;  // authorization request parameters passed through
  Duration refresh_ttl{std::chrono::hours(24)};  // 0: refresh tokens are not kept
  Duration fetch_timeout{std::chrono::seconds(5)};
  std::string ca_file;                    // resolved; empty: the system trust store
};

struct SsoTokenConfig {
  Duration ttl{std::chrono::hours(1)};
  std::string audience;                   // default: the issuer url
};

inline constexpr char kStepgateProviderName[] = "stepgate";

struct SsoConfig {
  std::string path_prefix = "/.stepgate";
  bool login_redirect = true;             // browser navigations without a credential: 302
  SsoSessionConfig session;
  std::optional<SsoSamlConfig> saml;      // at least one of saml and oidc
  std::optional<SsoOidcConfig> oidc;
  SsoTokenConfig token;
};

struct Config {
  std::string source_path;                // the file it was loaded from
  std::vector<ListenerConfig> listeners;
  std::vector<UpstreamConfig> upstreams;
  LimitsConfig limits;
  PathConfig path;
  ProxyConfig proxy;
  AdminConfig admin;
  LogConfig log;
  IdentityConfig identity;
  std::string policies_dir;               // resolved; empty: no policy enforcement
  PolicyConfig policy;
  std::optional<AuditConfig> audit;
  std::optional<IssuerConfig> issuer;
  std::optional<SsoConfig> sso;

  const UpstreamConfig* findUpstream(const std::string& name) const {
    for (const auto& u : upstreams) {
      if (u.name == name) return &u;
    }
    return nullptr;
  }
};

using ConfigConstSharedPtr = std::shared_ptr<const Config>;

}  // namespace stepgate::config
