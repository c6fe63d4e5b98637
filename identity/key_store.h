#pragma once
// KeyStore: keeps every jwt/oidc provider's verification keys current and hands new immutable
// KeySet snapshots to the proxy through the `publish` callback (which the proxy turns into a
// Dispatcher::post() to each worker). Owned by the control plane; it runs one background
// thread that does all loading, discovery and fetching.
//
// Threads:
//  - start(), stop() and the destructor: the owning (control) thread.
//  - requestRefresh(): any thread, worker threads included. It never blocks on I/O: it takes
//    a mutex held only to test and set a flag, and only when a token names an unknown kid.
//  - current(), stats(): any thread (tests, CLI, metrics); they take a short mutex.
//  - runDueWork(): the background thread, or a test that drives a ManualTimeSource by hand
//    instead of calling start().
//  - `publish` is called on the background thread (or runDueWork()'s caller), never inline
//    from requestRefresh(). It must not call back into the KeyStore's start()/stop().
//
// What each provider gets:
//  - secret_file: the file's raw bytes become one "oct" key (at least 32 bytes, RFC 7518
//    §3.2), loaded once.
//  - jwks_file: parsed once with parseJwks().
//  - oidc: discovery of `issuer` (identity/oidc_discovery.h), then the JWKS at its jwks_uri;
//    a failed JWKS fetch repeats discovery on the next attempt.
//  - jwt with jwks_uri: the JWKS at jwks_uri.
//  Remote keys are refreshed after Cache-Control max-age clamped to [refresh_min,
//  refresh_max] (refresh_min when the answer has none). A failed fetch keeps the last good
//  set (nothing is published) and retries with backoff from 1 s doubling up to refresh_min;
//  once the last good keys are older than max_staleness an empty KeySet is published (fail
//  closed) and an error logged. A document with no usable key counts as a failed fetch.
//  An unknown kid (requestRefresh) triggers at most one refetch per provider per
//  unknown_kid_min_interval; requests while one is pending or within the interval are
//  dropped (counted in stats).
//
// Providers of type introspection and mtls are ignored.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/time_source.h"
#include "config/schema.h"
#include "identity/http_fetch.h"
#include "identity/key_set.h"

namespace stepgate::identity {

// One provider's key state, for metrics and the CLI.
struct KeyStoreStats {
  std::string provider;
  uint64_t fetch_ok = 0;             // successful JWKS (or file) loads
  uint64_t fetch_failed = 0;         // failed discovery/JWKS fetches or loads
  uint64_t refetch_requested = 0;    // unknown-kid refetches accepted
  uint64_t refetch_suppressed = 0;   // unknown-kid requests coalesced or rate-limited
  bool has_keys = false;             // a non-empty KeySet is published
  bool stale = false;                // the last fetch failed; last good keys still served
  bool failed_closed = false;        // stale beyond max_staleness: an empty set is published
  size_t key_count = 0;              // keys in the published set
  std::chrono::seconds age{0};       // since the published keys were fetched (0: none)
};

class KeyStore {
 public:
  using PublishCallback =
      std::function<void(const std::string& provider, KeySetConstSharedPtr keys)>;

  // `time` and `fetcher` must outlive this object.
  KeyStore(std::vector<config::ProviderConfig> providers, TimeSource& time, Fetcher& fetcher,
           PublishCallback publish);
  // Calls stop().
  ~KeyStore();

  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // Starts the background thread; its first pass loads files and fetches every remote
  // provider. REQUIRES: called at most once.
  void start();

  // Stops and joins the thread. Bounded by the fetch in progress (at most a few times the
  // longest fetch_timeout); idempotent.
  void stop();

  /**
   * Asks for a refetch of `provider`'s keys because a token named `kid`, which the current
   * set lacks. Never blocks on I/O; the refetch happens on the background thread.
   * Unknown providers and providers without remote keys are ignored.
   * @return true iff this call scheduled a refetch (false: coalesced or rate-limited).
   */
  bool requestRefresh(const std::string& provider, std::string_view kid);

  // The last published set of `provider`; null when none has been published.
  // For tests and the CLI: workers get their snapshots through `publish`.
  KeySetConstSharedPtr current(const std::string& provider) const;

  // One entry per provider the store manages, in configuration order.
  std::vector<KeyStoreStats> stats() const;

  /**
   * Runs every piece of work due at the time source's current monotonic time: first loads,
   * scheduled refreshes, retries, unknown-kid refetches and the staleness check.
   * @return when work is due next.
   */
  MonotonicTime runDueWork();

 private:
  enum class Source : unsigned char { kSecretFile, kJwksFile, kJwksUri, kDiscovery };

  // Control-thread state of one provider (read only by the thread running runDueWork()).
  struct Provider {
    config::ProviderConfig config;
    Source source = Source::kJwksUri;
    bool loaded_once = false;          // file providers: loaded (or failed) at start
    std::string jwks_uri;              // from config or discovery; empty: discover first
    MonotonicTime next_fetch{};        // remote: when the next scheduled fetch is due
    bool has_good = false;             // a fetch has succeeded at least once
    MonotonicTime last_good{};         // when the last good keys were fetched
    std::chrono::milliseconds backoff{0};  // 0: not in a failure streak
    bool failed_closed = false;
  };

  // Worker-visible state of one provider, guarded by mu_.
  struct Shared {
    bool pending = false;              // an unknown-kid refetch waits for the thread
    bool has_last_request = false;
    MonotonicTime last_request{};      // when the last accepted refetch was asked for
    KeySetConstSharedPtr published;
    KeyStoreStats stats;
    bool has_good = false;             // a non-empty set has been published
    MonotonicTime published_at{};      // monotonic time of the last non-empty set's fetch
  };

  bool isRemote(const Provider& p) const noexcept {
    return p.source == Source::kJwksUri || p.source == Source::kDiscovery;
  }
  void loadFile(size_t index);
  void fetchRemote(size_t index, MonotonicTime now);
  [[nodiscard]] StatusOr<HttpResponse> fetchJwksDocument(Provider& p);
  void onFetchFailure(size_t index, MonotonicTime now, const Status& status);
  void checkStaleness(size_t index, MonotonicTime now);
  void publish(size_t index, KeySetConstSharedPtr keys, MonotonicTime fetched_at);
  void countFetch(size_t index, bool ok);
  void run();

  TimeSource& time_;
  Fetcher& fetcher_;
  PublishCallback publish_;
  std::vector<Provider> providers_;
  std::unordered_map<std::string, size_t> index_;  // immutable after construction

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Shared> shared_;       // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool wake_ = false;                // guarded by mu_: a refetch was requested
  std::thread thread_;
};

using KeyStorePtr = std::unique_ptr<KeyStore>;

}  // namespace stepgate::identity
