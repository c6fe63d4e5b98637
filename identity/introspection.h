#pragma once
// Introspector: asks an RFC 7662 introspection endpoint about opaque bearer tokens for one
// provider of type introspection, and turns an active answer into a Principal. One per process
// (per introspection provider), owned by the control plane; it runs a few background threads
// that make the blocking HTTP calls, so workers never block on the identity provider.
//
// Threads:
//  - create(), start(), stop() and the destructor: the owning (control) thread.
//  - introspect(): any thread, worker threads included. It never blocks on I/O: it hashes the
//    token, then takes a mutex held only for a cache lookup and a queue push.
//  - stats(): any thread; short mutex.
//  - Completions run on an introspector thread once the endpoint has answered (the proxy posts
//    them back to the worker that asked). They run INLINE, before introspect() returns, when
//    the answer is already known: a shared-cache hit, a token over max_token_bytes, too many
//    tokens already waiting, or after stop(). A completion must not throw and must not call
//    stop(); it may call introspect() again.
//
// What it guarantees:
//  - Single flight: concurrent introspect() calls for the same token (by SHA-256 digest) share
//    one HTTP call, and every completion gets the same result (the same Principal object).
//  - A shared, bounded LRU cache of answers keyed by the token's digest (it holds no token):
//    an accepted token until min(exp, answer time + cache_max_ttl); a refused token
//    (active:false, or active but failing a check below) for negative_cache_ttl. Endpoint
//    failures are never cached. A ttl of 0 disables that half of the cache. Workers keep their
//    own TokenCache in front of this one; IntrospectionResult::valid_until says for how long.
//  - Fail closed: when the endpoint fails, the answer is kIntrospectionUnavailable (503), never
//    a 401, so clients keep their tokens while the identity provider recovers.
//  - At most kMaxPendingTokens distinct tokens wait for the endpoint; beyond that introspect()
//    answers kIntrospectionUnavailable inline (a flood of random tokens cannot queue without
//    bound or hammer the endpoint harder than `threads` concurrent calls).
//
// The request: POST introspection_endpoint, application/x-www-form-urlencoded
// `token=<token>&token_type_hint=access_token`, `Accept: application/json`, with fetch_timeout
// and ca_file, and the client authentication of provider.client_auth:
//  - client_secret_basic: HTTP Basic (RFC 6749 section 2.3.1: client_id and secret each
//    form-urlencoded, joined by ':', then base64).
//  - private_key_jwt (RFC 7523 section 2.2, OpenID Connect Core section 9): no Authorization
//    header; the form also carries client_id, client_assertion_type
//    urn:ietf:params:oauth:client-assertion-type:jwt-bearer and client_assertion, a JWT signed
//    with client_key_file's key (client_key_alg) and made afresh for every POST: header
//    {alg, typ "JWT", kid: the key's RFC 7638 thumbprint}, claims {iss and sub: client_id,
//    aud: [introspection_endpoint, issuer], jti: 16 random bytes base64url, iat: now,
//    exp: now + kAssertionLifetime}. The key is read once by create().
// The token, the secret, the key, the assertion and the response body are never logged.
//
// The answer (checks in this order; the first failure is reported):
//   HTTP status other than 200, transport failure or timeout   kIntrospectionUnavailable
//   body not a strict JSON object (duplicate members included)  kIntrospectionUnavailable
//   `active` absent or not a JSON boolean ("true" is not)       kIntrospectionUnavailable
//   active: false                                               kIntrospectionInactive
//   token_type "refresh_token" (ASCII case-insensitive)         kWrongType
//   iss, if present, a string equal to provider.issuer          kWrongIssuer
//   exp, nbf, iat, if present, JSON numbers                      kBadClaimType
//   exp absent while provider.require_exp                       kMissingExp
//   now >= exp + leeway                                         kExpired
//   now + leeway < nbf / iat > now + leeway                     kNotYetValid / kIssuedInFuture
//   aud as in verifyJwt (provider.audiences non-empty: a string or an array containing one;
//   absent is kWrongAudience)                                   kWrongAudience / kBadClaimType
//   required_claims                                             kMissingClaim / kClaimMismatch
//   the claim mapping (identity/claim_mapping.h); the subject
//   claim is required, with no fallback to `username`          kMissingClaim / kBadClaimType
// The Principal: method kIntrospection, provider name, issuer (`iss`, or provider.issuer when
// the answer has none), credential_id from the token's digest, expires_at from exp ({} without).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/time_source.h"
#include "config/schema.h"
#include "identity/auth_error.h"
#include "identity/client_credentials.h"
#include "identity/http_fetch.h"
#include "identity/key_set.h"
#include "identity/principal.h"
#include "identity/token_cache.h"

namespace stepgate::identity {

struct IntrospectionResult {
  std::optional<AuthError> error;     // nullopt: accepted, and `principal` is set
  PrincipalConstSharedPtr principal;  // set on success only
  // Until when the caller may reuse this answer: for an accepted token min(exp, answer time +
  // cache_max_ttl); for a refused one answer time + negative_cache_ttl; {} for failures
  // (kIntrospectionUnavailable), which must not be cached.
  SystemTime valid_until{};

  bool ok() const noexcept { return !error.has_value(); }
};

// Counters since creation. Each POST ends in exactly one of active, inactive, rejected and
// failures.
struct IntrospectionStats {
  uint64_t calls = 0;       // introspect() calls
  uint64_t cache_hits = 0;  // answered from the shared cache
  uint64_t coalesced = 0;   // joined a call for the same token already queued or in flight
  uint64_t requests = 0;    // POSTs sent to the endpoint
  uint64_t active = 0;      // active answers that passed every check
  uint64_t inactive = 0;    // active: false
  uint64_t rejected = 0;    // active answers refused by a check (iss, exp, aud, ...)
  uint64_t failures = 0;    // endpoint failures: transport, status, body, `active`
  uint64_t shed = 0;        // answered unavailable inline: too many waiting, or stopped
  uint64_t too_large = 0;   // tokens over max_token_bytes (or empty), refused inline
  size_t cache_size = 0;    // entries in the shared cache now
};

struct IntrospectorOptions {
  size_t threads = 2;             // concurrent calls to the endpoint (at least 1)
  size_t cache_capacity = 10000;  // shared cache entries (LRU); 0: no shared cache
};

class Introspector;
using IntrospectorPtr = std::unique_ptr<Introspector>;

class Introspector {
 public:
  using Completion = std::function<void(IntrospectionResult)>;

  // At most this many distinct tokens wait for (or are in) an endpoint call.
  static constexpr size_t kMaxPendingTokens = 1024;
  // exp - iat of a private_key_jwt client assertion.
  static constexpr std::chrono::seconds kAssertionLifetime = ClientAssertionSigner::kLifetime;

  /**
   * Validates `provider` (type introspection, an allowed introspection_endpoint, a client_id)
   * and reads its credential: for client_secret_basic the client_secret_file (trailing CR/LF
   * removed; it must not be empty then); for private_key_jwt the PEM private key of
   * client_key_file (not encrypted), which must fit client_key_alg (ES256: EC P-256, ES384:
   * EC P-384, RS256 and PS256: RSA of 2048 bits or more, EdDSA: Ed25519).
   * `fetcher` and `time` must outlive the Introspector; `fetcher` is called from
   * options.threads threads at once (HttpFetcher allows that).
   * @return the Introspector, not started; or InvalidArgument, NotFound or Unavailable
   *         naming the key or file at fault (never the secret).
   */
  [[nodiscard]] static StatusOr<IntrospectorPtr> create(const config::ProviderConfig& provider,
                                                        Fetcher& fetcher, TimeSource& time,
                                                        IntrospectorOptions options = {});

  // Calls stop().
  ~Introspector();

  Introspector(const Introspector&) = delete;
  Introspector& operator=(const Introspector&) = delete;

  // Starts the threads. Tokens introspected before start() wait in the queue.
  // REQUIRES: called at most once, and not after stop().
  void start();

  // Stops: every call still queued completes with kIntrospectionUnavailable at once, calls
  // made from now on complete inline with it, and the threads are joined. Bounded by the
  // endpoint calls in progress (about fetch_timeout); those complete with the endpoint's
  // answer. Idempotent.
  void stop();

  /**
   * Introspects `token` (an opaque bearer token, the caller's worker cache having missed)
   * and calls `done` exactly once with the result; see the header comment for when `done`
   * runs inline.
   */
  void introspect(std::string token, Completion done);

  IntrospectionStats stats() const;

  const std::string& providerName() const noexcept { return provider_.name; }

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const noexcept;
  };
  // A token waiting for, or in, an endpoint call, and everyone waiting for its answer.
  struct Pending {
    std::string token;  // moved out when the call starts
    std::vector<Completion> waiters;
  };
  struct CacheEntry {
    IntrospectionResult result;
    std::list<Digest>::iterator lru;
  };

  // How the Introspector authenticates to the endpoint: credentials, never logged.
  struct ClientCredentials {
    std::string authorization;  // client_secret_basic: "Basic ..."; cleansed on delete
    std::optional<ClientAssertionSigner> assertion;  // private_key_jwt
  };

  Introspector(const config::ProviderConfig& provider, ClientCredentials credentials,
               Fetcher& fetcher, TimeSource& time, IntrospectorOptions options);

  // private_key_jwt: a fresh signed client assertion for a POST at `now`.
  StatusOr<std::string> clientAssertion(SystemTime now) const;

  void run();
  // The endpoint's answer for `token`, evaluated at the time source's current time.
  // Counts the outcome in stats_. Called without mu_ held (except for counting).
  IntrospectionResult call(const std::string& token, const Digest& digest);
  // Reads an HTTP 200 answer. Sets `malformed` to a short reason (safe to log) when the
  // answer is kIntrospectionUnavailable.
  IntrospectionResult evaluate(const HttpResponse& response, const Digest& digest,
                               SystemTime now, const char*& malformed) const;
  // REQUIRES: mu_ held.
  const IntrospectionResult* cacheFind(const Digest& d, SystemTime now);
  void cacheInsert(const Digest& d, const IntrospectionResult& r, SystemTime now);

  const config::ProviderConfig provider_;
  ClientCredentials credentials_;
  Fetcher& fetcher_;
  TimeSource& time_;
  const IntrospectorOptions options_;
  FetchOptions fetch_options_;
  std::string endpoint_;       // the endpoint without its query, for logs

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;                                      // guarded by mu_
  bool stopping_ = false;                                     // guarded by mu_
  bool failing_ = false;                                      // guarded by mu_: for logging
  std::deque<Digest> queue_;                                  // guarded by mu_: not yet called
  std::unordered_map<Digest, Pending, DigestHash> pending_;   // guarded by mu_
  std::list<Digest> lru_;                                     // guarded by mu_: recent first
  std::unordered_map<Digest, CacheEntry, DigestHash> cache_;  // guarded by mu_
  IntrospectionStats stats_;                                  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace stepgate::identity
