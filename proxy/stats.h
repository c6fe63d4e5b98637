#pragma once
// Metrics. Each worker owns one WorkerStats and is its only writer; counters are relaxed
// atomics, so an increment on the request path is a plain add on a cache line no other
// thread writes, and the admin thread may read them at any time. StatsRegistry owns every
// worker's block and renders the sum in Prometheus text format (docs/operations.md lists
// every metric).

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/http1/parser.h"
#include "identity/auth_error.h"
#include "identity/principal.h"
#include "identity/oidc_login.h"
#include "identity/saml.h"
#include "proxy/http1/path_normalize.h"

namespace stepgate::proxy {

// Latency buckets (upper bounds, microseconds) shared by the histograms.
inline constexpr std::array<uint64_t, 14> kLatencyBucketsUs = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    10000000};

struct Histogram {
  std::array<std::atomic<uint64_t>, kLatencyBucketsUs.size() + 1> buckets{};  // last: +Inf
  std::atomic<uint64_t> sum_us{0};
  std::atomic<uint64_t> count{0};
  void observe(uint64_t us) noexcept;
};

enum class UpstreamError : uint8_t {
  kConnectFailed,
  kConnectTimeout,
  kResponseTimeout,
  kReset,          // closed or reset before a complete response
  kBadResponse,    // refused by the response parser
  kTlsFailed,
  kInflightLimit,  // max_inflight_upstream reached: 503
  kCount,
};
const char* upstreamErrorName(UpstreamError e) noexcept;

enum class Timeout : uint8_t { kHeader, kIdle, kRequest, kCount };
const char* timeoutName(Timeout t) noexcept;

struct alignas(64) WorkerStats {
  template <typename T>
  static void inc(std::atomic<T>& c, T n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_closed{0};
  std::atomic<uint64_t> connections_rejected{0};  // over max_connections_per_worker
  std::atomic<uint64_t> requests{0};
  std::array<std::atomic<uint64_t>, 600> responses_by_status{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(http1::ParseError::kCount)>
      parser_rejections{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(PathError::kCount)> path_rejections{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(UpstreamError::kCount)>
      upstream_errors{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Timeout::kCount)> timeouts{};
  std::array<std::atomic<uint64_t>, identity::kAuthErrorCount> auth_failures{};
  std::array<std::atomic<uint64_t>, 5> auth_successes{};  // by identity::AuthMethod
  std::atomic<uint64_t> auth_cache_hits{0};
  std::atomic<uint64_t> auth_key_waits{0};  // requests parked for a key refetch
  // Policy decisions by effect (0 deny, 1 allow) * kPolicyReasons + policy::Reason.
  static constexpr size_t kPolicyReasons = 5;
  std::array<std::atomic<uint64_t>, 2 * kPolicyReasons> policy_decisions{};
  std::atomic<uint64_t> policy_shadow_decisions{0};      // a shadow rule could apply
  std::atomic<uint64_t> policy_shadow_disagreements{0};  // ... and would decide otherwise
  std::atomic<uint64_t> unclassified{0};            // requests no profile rule classified
  std::atomic<uint64_t> bodies_inspected{0};        // bodies read to classify a request
  std::atomic<uint64_t> bodies_too_large{0};        // ... over max_inspected_body: 413
  std::atomic<uint64_t> lookup_waits{0};            // requests that waited for lookups
  std::atomic<uint64_t> lookup_worker_cache_hits{0};  // answered by the worker's own cache
  std::atomic<uint64_t> lookup_timeouts{0};         // lookups not answered in time
  std::atomic<uint64_t> assertion_failures{0};  // identity assertions that could not be made
  // Browser sign-in (proxy/sso_endpoints.h).
  std::atomic<uint64_t> sso_logins{0};        // SAML responses accepted (session issued)
  // SAML responses refused, by identity::SamlError; the last slot: cookie or form problems.
  std::array<std::atomic<uint64_t>, static_cast<size_t>(identity::SamlError::kCount) + 1>
      sso_login_failures{};
  std::atomic<uint64_t> sso_oidc_logins{0};   // OIDC sign-ins accepted (session issued)
  std::array<std::atomic<uint64_t>, static_cast<size_t>(identity::OidcFailure::kCount)>
      sso_oidc_login_failures{};
  std::atomic<uint64_t> sso_refreshes{0};     // sessions renewed at the OIDC provider
  std::atomic<uint64_t> sso_login_redirects{0};  // navigations sent to sign in (302)
  std::atomic<uint64_t> sso_tokens{0};        // access tokens issued for sessions
  std::atomic<uint64_t> sso_logouts{0};
  std::atomic<uint64_t> sso_refusals{0};      // other local sign-in answers >= 400
  std::atomic<uint64_t> session_invalid{0};   // session cookies refused (expired, revoked...)
  std::atomic<uint64_t> session_csrf_failures{0};  // session requests without a valid CSRF token
  std::atomic<uint64_t> audit_waits{0};     // requests that waited for their record (strict)
  std::atomic<uint64_t> audit_refused{0};   // records the log would not take (full, low disk)
  std::atomic<uint64_t> audit_failed{0};    // records the log could not make durable
  std::atomic<uint64_t> upstream_connects{0};
  std::atomic<uint64_t> upstream_reuses{0};
  std::atomic<uint64_t> upstream_retries{0};
  std::atomic<uint64_t> tls_handshakes{0};
  std::atomic<uint64_t> tls_handshake_failures{0};
  std::atomic<uint64_t> bytes_from_clients{0};
  std::atomic<uint64_t> bytes_to_clients{0};
  std::atomic<uint64_t> backpressure_pauses{0};
  Histogram request_latency;   // first byte of request to last byte of response
  Histogram upstream_latency;  // request sent to response head received
};

class StatsRegistry {
 public:
  // Adds a block for a new worker; the reference stays valid for the registry's lifetime.
  WorkerStats& addWorker();
  // Prometheus text exposition format 0.0.4. Any thread.
  std::string renderPrometheus() const;
  // Sum of a counter over workers, for tests and readiness.
  uint64_t sum(std::atomic<uint64_t> WorkerStats::*field) const;
  // Adds a renderer whose output is appended to renderPrometheus() (e.g. key-store gauges).
  // It is called on the admin thread and must be thread-safe.
  void addRenderer(std::function<void(std::string&)> render);

 private:
  mutable std::mutex mu_;  // guards the vector only; never taken on the request path
  std::vector<std::unique_ptr<WorkerStats>> workers_;
  std::vector<std::function<void(std::string&)>> renderers_;
};

}  // namespace stepgate::proxy
