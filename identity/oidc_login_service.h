#pragma once
// OidcLoginService: the blocking half of OIDC browser sign-in (identity/oidc_login.h), run on
// its own threads so that workers never wait on the identity provider. One per process (per
// `sso.oidc`), owned by the control plane like the Introspector.
//
//  - Discovery: once started, a service thread fetches the provider's discovery document
//    (authorization_endpoint, token_endpoint), retrying with backoff (1 s doubling to 60 s)
//    until it succeeds. endpoints() is null until then: sign-in answers 503.
//  - Code exchanges and refreshes: queued by workers, run by `threads` threads, completed
//    through a callback (the proxy posts it back to the worker that asked).
//
// Threads:
//  - create(), start(), stop() and the destructor: the owning (control) thread.
//  - endpoints(), client(), exchange(), refresh(), stats(): any thread. exchange() and
//    refresh() never block on I/O: a mutex held for a queue push.
//  - Completions run on a service thread; INLINE, before exchange()/refresh() return, when the
//    queue is full (kMaxPending) or after stop() ("login_unavailable"). A completion must not
//    throw and must not call stop().
// Codes, tokens, secrets and response bodies are never logged.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/time_source.h"
#include "identity/http_fetch.h"
#include "identity/oidc_login.h"

namespace stepgate::identity {

struct OidcLoginServiceStats {
  uint64_t exchanges = 0;       // code exchanges answered by the token endpoint with tokens
  uint64_t refreshes = 0;       // refreshes answered with tokens
  uint64_t failures = 0;        // either, refused or failed
  uint64_t shed = 0;            // refused at once: queue full or stopped
  uint64_t revocations = 0;     // refresh tokens revoked at the provider (RFC 7009)
  uint64_t revocation_failures = 0;  // ... that failed (or no revocation_endpoint)
  uint64_t discovery_failures = 0;
  bool discovered = false;
};

class OidcLoginService;
using OidcLoginServicePtr = std::unique_ptr<OidcLoginService>;

class OidcLoginService {
 public:
  using Completion = std::function<void(StatusOr<TokenResponse>)>;

  static constexpr size_t kMaxPending = 256;

  /**
   * `issuer`: the provider's issuer (discovery base). `config`: the client (its credential
   * file is read here). `fetcher` and `time` must outlive the service; `fetcher` is called
   * from several threads at once (HttpFetcher allows that).
   * @return the service, not started; or the "config_invalid" Status of OidcClient::create.
   */
  [[nodiscard]] static StatusOr<OidcLoginServicePtr> create(std::string issuer,
                                                            const OidcLoginConfig& config,
                                                            Fetcher& fetcher, TimeSource& time,
                                                            size_t threads = 2);
  ~OidcLoginService();

  OidcLoginService(const OidcLoginService&) = delete;
  OidcLoginService& operator=(const OidcLoginService&) = delete;

  // Starts the threads (discovery first). REQUIRES: at most once, not after stop().
  void start();
  // Every queued call completes with "login_unavailable" at once, later calls inline with it,
  // the discovery retry ends, the threads are joined (bounded by the calls in progress).
  // Idempotent.
  void stop();

  // The discovered endpoints; null until discovery has succeeded.
  std::shared_ptr<const OidcLoginEndpoints> endpoints() const noexcept {
    return endpoints_.load(std::memory_order_acquire);
  }
  const OidcClient& client() const noexcept { return client_; }
  const std::string& issuer() const noexcept { return issuer_; }

  // exchangeCode() on a service thread; `done` gets its result.
  void exchange(std::string code, std::string pkce_verifier, Completion done);
  // refresh() on a service thread.
  void refresh(std::string refresh_token, Completion done);
  // revokeRefreshToken() on a service thread, when the provider has a revocation_endpoint;
  // nobody waits for it (counted in stats(); a failure is logged without the token).
  void revoke(std::string refresh_token);

  OidcLoginServiceStats stats() const;

 private:
  struct Job {
    bool refresh = false;
    bool revoke = false;      // fire and forget: `done` is empty
    std::string secret;    // the code or the refresh token; cleansed after use
    std::string verifier;  // PKCE verifier (exchange)
    Completion done;
  };

  OidcLoginService(std::string issuer, OidcClient client, Fetcher& fetcher, TimeSource& time,
                   size_t threads);
  void submit(Job job);
  void run();
  void discover();

  const std::string issuer_;
  OidcClient client_;
  Fetcher& fetcher_;
  TimeSource& time_;
  const size_t thread_count_;
  std::atomic<std::shared_ptr<const OidcLoginEndpoints>> endpoints_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // the job queue
  std::condition_variable stop_cv_;  // the discovery thread's retry wait
  bool started_ = false;        // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  std::deque<Job> queue_;       // guarded by mu_
  OidcLoginServiceStats stats_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace stepgate::identity
