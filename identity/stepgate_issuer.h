#pragma once
// StepgateIssuer: stepgate's own ES256 signing key and the two kinds of JWT stepgate signs
// (docs/sessions.md):
//   - access tokens for command-line users after a browser sign-in (header typ "at+jwt"),
//     verified on later calls like any provider's tokens with the JWKS from jwksJson();
//   - identity assertions to upstreams (typ "stepgate-identity+jwt"), 30 to 60 seconds long,
//     naming who asked for which operation.
//
// The key is an EC P-256 private key in a PEM file, generated (mode 0600) at the first start
// when the file is missing. Its kid is the RFC 7638 thumbprint of the public key, so the kid
// changes exactly when the key does.
//
// Threads: open() reads or writes a file and belongs at startup. Every other member is const
// and safe from any thread (the EVP_PKEY is only read; each signature builds its own EVP
// context). No member throws. An ES256 signature costs tens of microseconds of CPU (see
// docs/sessions.md); UpstreamAssertionCache lets a worker reuse an assertion.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/time_source.h"
#include "identity/key_set.h"
#include "identity/principal.h"

namespace stepgate::identity {

inline constexpr char kAccessTokenTyp[] = "at+jwt";
inline constexpr char kUpstreamAssertionTyp[] = "stepgate-identity+jwt";
inline constexpr size_t kMaxAccessTokenBytes = 8192;
inline constexpr std::chrono::seconds kMinUpstreamTtl{30};
inline constexpr std::chrono::seconds kMaxUpstreamTtl{60};

struct StepgateIssuerOptions {
  std::string issuer_url;  // the `iss` of every token (e.g. "https://stepgate.example.com")
  std::string key_file;    // PEM private key (EC P-256); created with mode 0600 when missing
  // An upstream assertion is kept under this many bytes: groups are dropped from the end
  // (and "groups_truncated": true added) until it fits; if it still does not, minting fails.
  size_t max_upstream_assertion_bytes = 4096;
  // Keys signed with before a rotation (PEM, EC P-256, private or public): published in the
  // JWKS after the current key, so tokens and assertions they signed keep verifying until
  // they expire. Never used to sign.
  std::vector<std::string> previous_key_files;
};

// What the upstream is asked to do, as the policy saw it.
struct OperationSummary {
  std::string upstream;              // the upstream's configured name
  std::string workflow;              // may be empty
  std::string step;                  // may be empty
  std::vector<std::string> actions;  // the policy actions of the request, e.g. ["run"]

  // A stable key for caches: the fields joined with a separator that cannot occur in them
  // unescaped (each field is length-prefixed).
  std::string cacheKey() const;
};

class StepgateIssuer {
 public:
  // Loads the key from options.key_file, or generates a P-256 key and writes it there
  // (mode 0600, refusing to overwrite a file that appears meanwhile), and the public halves of
  // options.previous_key_files (which must exist, be EC P-256 and differ from the current). InvalidArgument when
  // the file is not a PEM EC P-256 private key or issuer_url is empty; Internal on I/O or
  // OpenSSL failures. Messages name the file, never key material.
  [[nodiscard]] static StatusOr<std::unique_ptr<StepgateIssuer>> open(
      const StepgateIssuerOptions& options);

  // The same from a key already in memory (tests, or a key from a secret store).
  [[nodiscard]] static StatusOr<std::unique_ptr<StepgateIssuer>> fromKey(
      EvpPkeyPtr key, const StepgateIssuerOptions& options);

  const std::string& issuerUrl() const noexcept { return options_.issuer_url; }
  const std::string& kid() const noexcept { return kid_; }

  // {"keys":[{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":...,"x":...,"y":...}]},
  // the current key first, then the previous ones; built once; serve it at
  // /.well-known/jwks.json.
  const std::string& jwksJson() const noexcept { return jwks_; }

  // A compact JWT: header {"alg":"ES256","typ":"at+jwt","kid"}; claims iss, sub, aud, iat,
  // nbf (= iat), exp (= now + ttl), jti (128 random bits), idp (principal.provider), groups,
  // name and email (when non-empty), amr (["mfa"] when principal.mfa, else absent), mfa
  // (boolean), sid (when `session_id` is non-empty).
  // InvalidArgument: empty subject or audience, ttl not positive, or a token over
  // kMaxAccessTokenBytes (groups are never truncated in access tokens: the caller decides).
  [[nodiscard]] StatusOr<std::string> mintAccessToken(const Principal& principal,
                                                      std::string_view audience,
                                                      std::chrono::seconds ttl, SystemTime now,
                                                      std::string_view session_id = {}) const;

  // The identity assertion to an upstream: header {"alg":"ES256","typ":
  // "stepgate-identity+jwt","kid"}; claims iss, sub, aud (= upstream_audience), iat, nbf,
  // exp, jti, idp, auth (authMethodName), mfa, name/email when non-empty, groups, and
  // "op": {"upstream","workflow","step","actions"}. ttl is clamped to [30 s, 60 s].
  // Groups are dropped from the end until the token fits max_upstream_assertion_bytes, with
  // "groups_truncated": true; InvalidArgument if it cannot fit even without groups, or the
  // subject or audience is empty.
  [[nodiscard]] StatusOr<std::string> mintUpstreamAssertion(const Principal& principal,
                                                            const OperationSummary& operation,
                                                            std::string_view upstream_audience,
                                                            std::chrono::seconds ttl,
                                                            SystemTime now) const;

 private:
  StepgateIssuer() = default;
  StatusOr<std::string> sign(std::string_view typ, const std::string& claims) const;

  StepgateIssuerOptions options_;
  EvpPkeyPtr key_;
  std::string kid_;
  std::string jwks_;
};

// A per-worker cache of upstream assertions, keyed by (principal.credential_id, audience,
// operation.cacheKey()). An entry is reused until half its ttl has passed, so an upstream
// always receives an assertion with at least half its lifetime left. Principals without a
// credential_id are never cached. Bounded: when full, expired entries are dropped, and if
// none were, the whole cache is cleared (simple, and rare: size it for a worker's active
// users). NOT thread-safe: one per worker thread.
class UpstreamAssertionCache {
 public:
  explicit UpstreamAssertionCache(size_t max_entries = 4096) : max_entries_(max_entries) {}

  // The cached assertion, or a fresh one from `issuer` (which is then cached).
  [[nodiscard]] StatusOr<std::string> get(const StepgateIssuer& issuer, const Principal& principal,
                                          const OperationSummary& operation,
                                          std::string_view upstream_audience,
                                          std::chrono::seconds ttl, SystemTime now);

  size_t size() const noexcept { return entries_.size(); }
  uint64_t hits() const noexcept { return hits_; }
  uint64_t misses() const noexcept { return misses_; }

 private:
  struct Entry {
    std::string token;
    SystemTime issued_at;
    SystemTime reuse_until;
  };
  size_t max_entries_;
  std::unordered_map<std::string, Entry> entries_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace stepgate::identity
