#include "proxy/stats.h"

#include <cstdio>

namespace stepgate::proxy {

void Histogram::observe(uint64_t us) noexcept {
  size_t i = 0;
  while (i < kLatencyBucketsUs.size() && us > kLatencyBucketsUs[i]) ++i;
  WorkerStats::inc(buckets[i]);
  WorkerStats::inc(sum_us, us);
  WorkerStats::inc(count);
}

const char* upstreamErrorName(UpstreamError e) noexcept {
  switch (e) {
    case UpstreamError::kConnectFailed: return "connect_failed";
    case UpstreamError::kConnectTimeout: return "connect_timeout";
    case UpstreamError::kResponseTimeout: return "response_timeout";
    case UpstreamError::kReset: return "reset";
    case UpstreamError::kBadResponse: return "bad_response";
    case UpstreamError::kTlsFailed: return "tls_failed";
    case UpstreamError::kInflightLimit: return "inflight_limit";
    case UpstreamError::kCount: break;
  }
  return "unknown";
}

const char* timeoutName(Timeout t) noexcept {
  switch (t) {
    case Timeout::kHeader: return "header";
    case Timeout::kIdle: return "idle";
    case Timeout::kRequest: return "request";
    case Timeout::kCount: break;
  }
  return "unknown";
}

WorkerStats& StatsRegistry::addWorker() {
  std::lock_guard<std::mutex> lock(mu_);
  workers_.push_back(std::make_unique<WorkerStats>());
  return *workers_.back();
}

void StatsRegistry::addRenderer(std::function<void(std::string&)> render) {
  std::lock_guard<std::mutex> lock(mu_);
  renderers_.push_back(std::move(render));
}

uint64_t StatsRegistry::sum(std::atomic<uint64_t> WorkerStats::*field) const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t total = 0;
  for (const auto& w : workers_) total += ((*w).*field).load(std::memory_order_relaxed);
  return total;
}

namespace {

void line(std::string& out, const char* name, const std::string& labels, uint64_t v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

std::string StatsRegistry::renderPrometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto total = [&](std::atomic<uint64_t> WorkerStats::*f) {
    uint64_t t = 0;
    for (const auto& w : workers_) t += ((*w).*f).load(std::memory_order_relaxed);
    return t;
  };
  auto totalAt = [&](auto WorkerStats::*arr, size_t i) {
    uint64_t t = 0;
    for (const auto& w : workers_) t += ((*w).*arr)[i].load(std::memory_order_relaxed);
    return t;
  };
  std::string out;
  out.reserve(8192);
  struct Simple {
    const char* name;
    const char* type;
    const char* help;
    std::atomic<uint64_t> WorkerStats::*field;
  };
  static const Simple kSimple[] = {
      {"stepgate_connections_accepted_total", "counter", "Client connections accepted.",
       &WorkerStats::connections_accepted},
      {"stepgate_connections_closed_total", "counter", "Client connections closed.",
       &WorkerStats::connections_closed},
      {"stepgate_connections_rejected_total", "counter",
       "Client connections closed at once because max_connections_per_worker was reached.",
       &WorkerStats::connections_rejected},
      {"stepgate_requests_total", "counter", "Requests whose head was parsed.",
       &WorkerStats::requests},
      {"stepgate_upstream_connects_total", "counter", "New upstream connections opened.",
       &WorkerStats::upstream_connects},
      {"stepgate_upstream_reuses_total", "counter", "Requests sent on a pooled connection.",
       &WorkerStats::upstream_reuses},
      {"stepgate_upstream_retries_total", "counter",
       "Idempotent requests retried after a failure before reaching the upstream.",
       &WorkerStats::upstream_retries},
      {"stepgate_tls_handshakes_total", "counter", "Completed TLS handshakes.",
       &WorkerStats::tls_handshakes},
      {"stepgate_tls_handshake_failures_total", "counter", "Failed TLS handshakes.",
       &WorkerStats::tls_handshake_failures},
      {"stepgate_client_bytes_received_total", "counter", "Bytes read from clients.",
       &WorkerStats::bytes_from_clients},
      {"stepgate_client_bytes_sent_total", "counter", "Bytes written to clients.",
       &WorkerStats::bytes_to_clients},
      {"stepgate_backpressure_pauses_total", "counter",
       "Times reading from one side paused because the other side's buffer was full.",
       &WorkerStats::backpressure_pauses},
  };
  for (const auto& s : kSimple) {
    header(out, s.name, s.type, s.help);
    line(out, s.name, "", total(s.field));
  }
  {
    const uint64_t accepted = total(&WorkerStats::connections_accepted);
    const uint64_t closed = total(&WorkerStats::connections_closed);
    header(out, "stepgate_connections_active", "gauge", "Client connections open now.");
    line(out, "stepgate_connections_active", "", accepted >= closed ? accepted - closed : 0);
  }
  header(out, "stepgate_responses_total", "counter", "Responses sent to clients by status.");
  for (size_t code = 100; code < 600; ++code) {
    const uint64_t v = totalAt(&WorkerStats::responses_by_status, code);
    if (v != 0) line(out, "stepgate_responses_total", "code=\"" + std::to_string(code) + "\"", v);
  }
  header(out, "stepgate_parser_rejections_total", "counter",
         "Requests refused by the HTTP/1.1 parser, by reason.");
  for (size_t i = 1; i < static_cast<size_t>(http1::ParseError::kCount); ++i) {
    line(out, "stepgate_parser_rejections_total",
         std::string("reason=\"") + http1::parseErrorName(static_cast<http1::ParseError>(i)) +
             "\"",
         totalAt(&WorkerStats::parser_rejections, i));
  }
  header(out, "stepgate_path_rejections_total", "counter",
         "Requests refused by path normalisation, by reason.");
  for (size_t i = 1; i < static_cast<size_t>(PathError::kCount); ++i) {
    line(out, "stepgate_path_rejections_total",
         std::string("reason=\"") + pathErrorName(static_cast<PathError>(i)) + "\"",
         totalAt(&WorkerStats::path_rejections, i));
  }
  header(out, "stepgate_upstream_errors_total", "counter", "Upstream failures, by kind.");
  for (size_t i = 0; i < static_cast<size_t>(UpstreamError::kCount); ++i) {
    line(out, "stepgate_upstream_errors_total",
         std::string("kind=\"") + upstreamErrorName(static_cast<UpstreamError>(i)) + "\"",
         totalAt(&WorkerStats::upstream_errors, i));
  }
  header(out, "stepgate_timeouts_total", "counter", "Client-side timeouts, by kind.");
  for (size_t i = 0; i < static_cast<size_t>(Timeout::kCount); ++i) {
    line(out, "stepgate_timeouts_total",
         std::string("kind=\"") + timeoutName(static_cast<Timeout>(i)) + "\"",
         totalAt(&WorkerStats::timeouts, i));
  }
  header(out, "stepgate_auth_failures_total", "counter",
         "Requests refused by authentication, by reason.");
  for (size_t i = 0; i < static_cast<size_t>(identity::kAuthErrorCount); ++i) {
    line(out, "stepgate_auth_failures_total",
         std::string("reason=\"") + identity::authErrorName(static_cast<identity::AuthError>(i)) +
             "\"",
         totalAt(&WorkerStats::auth_failures, i));
  }
  header(out, "stepgate_auth_successes_total", "counter",
         "Requests authenticated, by method.");
  for (size_t i = 1; i < 5; ++i) {
    line(out, "stepgate_auth_successes_total",
         std::string("method=\"") +
             identity::authMethodName(static_cast<identity::AuthMethod>(i)) + "\"",
         totalAt(&WorkerStats::auth_successes, i));
  }
  {
    static const char* const kReasons[WorkerStats::kPolicyReasons] = {
        "allowed", "denied", "no_matching_allow", "unclassified", "unresolved"};
    header(out, "stepgate_policy_decisions_total", "counter",
           "Policy decisions on the request path, by decision and reason.");
    for (size_t e = 0; e < 2; ++e) {
      for (size_t r = 0; r < WorkerStats::kPolicyReasons; ++r) {
        uint64_t v = 0;
        for (const auto& w : workers_) {
          v += w->policy_decisions[e * WorkerStats::kPolicyReasons + r].load(
              std::memory_order_relaxed);
        }
        if (v == 0) continue;
        line(out, "stepgate_policy_decisions_total",
             std::string("decision=\"") + (e == 1 ? "allow" : "deny") + "\",reason=\"" +
                 kReasons[r] + "\"",
             v);
      }
    }
    header(out, "stepgate_policy_shadow_decisions_total", "counter",
           "Requests a shadow-mode rule could apply to.");
    line(out, "stepgate_policy_shadow_decisions_total", "",
         total(&WorkerStats::policy_shadow_decisions));
    header(out, "stepgate_policy_shadow_disagreements_total", "counter",
           "Requests whose shadow-mode decision differs from the enforced one.");
    line(out, "stepgate_policy_shadow_disagreements_total", "",
         total(&WorkerStats::policy_shadow_disagreements));
  }
  auto counter = [&](const char* name, const char* help, std::atomic<uint64_t> WorkerStats::*f) {
    header(out, name, "counter", help);
    line(out, name, "", total(f));
  };
  counter("stepgate_unclassified_requests_total",
          "Requests the upstream's profile could not classify (denied: unclassified).",
          &WorkerStats::unclassified);
  counter("stepgate_bodies_inspected_total",
          "Request bodies read whole because the profile needs them to classify the call.",
          &WorkerStats::bodies_inspected);
  counter("stepgate_bodies_too_large_total",
          "Bodies over the upstream's max_inspected_body (answered 413).",
          &WorkerStats::bodies_too_large);
  counter("stepgate_lookup_waits_total",
          "Requests that waited for execution lookups.", &WorkerStats::lookup_waits);
  counter("stepgate_lookup_worker_cache_hits_total",
          "Lookups answered by the worker's own cache (no lock, no call).",
          &WorkerStats::lookup_worker_cache_hits);
  counter("stepgate_lookup_timeouts_total",
          "Lookups not answered within the lookup timeout (denied: unresolved).",
          &WorkerStats::lookup_timeouts);
  counter("stepgate_identity_assertion_failures_total",
          "Upstream identity assertions that could not be signed (the request went without one).",
          &WorkerStats::assertion_failures);
  counter("stepgate_sso_logins_total", "SAML sign-ins accepted (a session cookie was issued).",
          &WorkerStats::sso_logins);
  header(out, "stepgate_sso_login_failures_total", "counter",
         "SAML responses refused at the ACS, by reason.");
  for (size_t i = 1; i <= static_cast<size_t>(identity::SamlError::kCount); ++i) {
    const uint64_t v = totalAt(&WorkerStats::sso_login_failures, i);
    if (v == 0) continue;
    const char* name = i == static_cast<size_t>(identity::SamlError::kCount)
                           ? "login_state"
                           : identity::samlErrorName(static_cast<identity::SamlError>(i));
    line(out, "stepgate_sso_login_failures_total", std::string("reason=\"") + name + "\"", v);
  }
  counter("stepgate_sso_oidc_logins_total",
          "OIDC sign-ins accepted (a session cookie was issued).", &WorkerStats::sso_oidc_logins);
  header(out, "stepgate_sso_oidc_login_failures_total", "counter",
         "OIDC sign-ins refused at the callback, by reason.");
  for (size_t i = 0; i < static_cast<size_t>(identity::OidcFailure::kCount); ++i) {
    const uint64_t v = totalAt(&WorkerStats::sso_oidc_login_failures, i);
    if (v == 0) continue;
    line(out, "stepgate_sso_oidc_login_failures_total",
         std::string("reason=\"") + identity::oidcFailureName(static_cast<identity::OidcFailure>(i)) + "\"", v);
  }
  counter("stepgate_sso_refreshes_total",
          "Browser sessions renewed at the OIDC provider with its refresh token.",
          &WorkerStats::sso_refreshes);
  counter("stepgate_sso_login_redirects_total",
          "Browser navigations without a credential sent to sign in (302).",
          &WorkerStats::sso_login_redirects);
  counter("stepgate_sso_tokens_total", "Access tokens issued for browser sessions.",
          &WorkerStats::sso_tokens);
  counter("stepgate_sso_logouts_total", "Sessions ended by logout.", &WorkerStats::sso_logouts);
  counter("stepgate_sso_refusals_total",
          "Other sign-in endpoint refusals (no session, CSRF, bad request).",
          &WorkerStats::sso_refusals);
  counter("stepgate_session_invalid_total",
          "Session cookies refused on proxied requests (expired, revoked, tampered).",
          &WorkerStats::session_invalid);
  counter("stepgate_session_csrf_failures_total",
          "State-changing session requests refused for a missing or wrong CSRF token.",
          &WorkerStats::session_csrf_failures);
  counter("stepgate_audit_waits_total",
          "Requests that waited for their audit record to be durable (strict mode).",
          &WorkerStats::audit_waits);
  counter("stepgate_audit_refused_total",
          "Audit records the log refused (queue full, low disk, failed): 503 in strict mode.",
          &WorkerStats::audit_refused);
  counter("stepgate_audit_failed_total",
          "Audit records the log could not make durable (write or fsync failure): 503.",
          &WorkerStats::audit_failed);
  header(out, "stepgate_auth_cache_hits_total", "counter",
         "Bearer tokens accepted from the worker's verified-token cache (no signature check).");
  line(out, "stepgate_auth_cache_hits_total", "", total(&WorkerStats::auth_cache_hits));
  header(out, "stepgate_auth_key_waits_total", "counter",
         "Requests that waited for a provider's keys to be refetched (unknown kid).");
  line(out, "stepgate_auth_key_waits_total", "", total(&WorkerStats::auth_key_waits));
  auto histogram = [&](const char* name, const char* help, Histogram WorkerStats::*h) {
    header(out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= kLatencyBucketsUs.size(); ++i) {
      for (const auto& w : workers_) {
        cumulative += ((*w).*h).buckets[i].load(std::memory_order_relaxed);
      }
      char le[32];
      if (i < kLatencyBucketsUs.size()) {
        snprintf(le, sizeof le, "%g", static_cast<double>(kLatencyBucketsUs[i]) / 1e6);
      } else {
        snprintf(le, sizeof le, "+Inf");
      }
      line(out, (std::string(name) + "_bucket").c_str(), std::string("le=\"") + le + "\"",
           cumulative);
    }
    uint64_t sum_us = 0;
    uint64_t count = 0;
    for (const auto& w : workers_) {
      sum_us += ((*w).*h).sum_us.load(std::memory_order_relaxed);
      count += ((*w).*h).count.load(std::memory_order_relaxed);
    }
    char sum[48];
    snprintf(sum, sizeof sum, "%.6f", static_cast<double>(sum_us) / 1e6);
    out += std::string(name) + "_sum " + sum + "\n";
    line(out, (std::string(name) + "_count").c_str(), "", count);
  };
  histogram("stepgate_request_duration_seconds",
            "Time from a request's first byte to its response's last byte.",
            &WorkerStats::request_latency);
  histogram("stepgate_upstream_response_duration_seconds",
            "Time from sending a request upstream to receiving the response head.",
            &WorkerStats::upstream_latency);
  for (const auto& render : renderers_) render(out);
  return out;
}

}  // namespace stepgate::proxy
