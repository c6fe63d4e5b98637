#include "identity/oidc_login_service.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/logging.h"

namespace stepgate::identity {
namespace {

Status loginUnavailable() { return unavailable("login_unavailable: sign-in is not available"); }

void cleanse(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

StatusOr<OidcLoginServicePtr> OidcLoginService::create(std::string issuer,
                                                       const OidcLoginConfig& config,
                                                       Fetcher& fetcher, TimeSource& time,
                                                       size_t threads) {
  auto client = OidcClient::create(config);
  if (!client.isOk()) return client.status();
  return OidcLoginServicePtr(new OidcLoginService(std::move(issuer), std::move(client).value(),
                                                  fetcher, time, std::max<size_t>(threads, 1)));
}

OidcLoginService::OidcLoginService(std::string issuer, OidcClient client, Fetcher& fetcher,
                                   TimeSource& time, size_t threads)
    : issuer_(std::move(issuer)),
      client_(std::move(client)),
      fetcher_(fetcher),
      time_(time),
      thread_count_(threads) {}

OidcLoginService::~OidcLoginService() { stop(); }

void OidcLoginService::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  threads_.emplace_back([this] { discover(); });
  for (size_t i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { run(); });
}

void OidcLoginService::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      dropped.swap(queue_);
      stats_.shed += dropped.size();
    }
  }
  cv_.notify_all();
  stop_cv_.notify_all();
  for (Job& j : dropped) {
    cleanse(j.secret);
    if (j.done) j.done(loginUnavailable());
  }
  for (std::thread& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
}

void OidcLoginService::exchange(std::string code, std::string pkce_verifier, Completion done) {
  Job j;
  j.secret = std::move(code);
  j.verifier = std::move(pkce_verifier);
  j.done = std::move(done);
  submit(std::move(j));
}

void OidcLoginService::refresh(std::string refresh_token, Completion done) {
  Job j;
  j.refresh = true;
  j.secret = std::move(refresh_token);
  j.done = std::move(done);
  submit(std::move(j));
}

void OidcLoginService::revoke(std::string refresh_token) {
  Job j;
  j.revoke = true;
  j.secret = std::move(refresh_token);
  submit(std::move(j));
}

void OidcLoginService::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_ && queue_.size() < kMaxPending) {
      queue_.push_back(std::move(job));
      cv_.notify_one();
      return;
    }
    ++stats_.shed;
    if (job.revoke) ++stats_.revocation_failures;
  }
  cleanse(job.secret);
  if (job.done) job.done(loginUnavailable());
}

OidcLoginServiceStats OidcLoginService::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  OidcLoginServiceStats s = stats_;
  s.discovered = endpoints() != nullptr;
  return s;
}

void OidcLoginService::discover() {
  FetchOptions fo;
  fo.timeout = client_.config().fetch_timeout;
  fo.ca_file = client_.config().ca_file;
  auto backoff = std::chrono::seconds(1);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto found = discoverLoginEndpoints(fetcher_, issuer_, fo);
    lock.lock();
    if (found.isOk()) {
      endpoints_.store(std::make_shared<const OidcLoginEndpoints>(std::move(found).value()),
                       std::memory_order_release);
      log::info("identity", "sign-in provider discovered", {{"issuer", issuer_}});
      return;
    }
    ++stats_.discovery_failures;
    log::warn("identity", "sign-in provider discovery failed; retrying",
              {{"issuer", issuer_},
               {"error", found.status().message()},
               {"retry_in_s", static_cast<int64_t>(backoff.count())}});
    // Its own condition variable: a job's wake-up must reach a job thread, not this one.
    stop_cv_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min(backoff * 2, std::chrono::seconds(60));
  }
}

void OidcLoginService::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and stop() has failed everything queued
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();

    if (job.revoke) {
      const auto ep = endpoints();
      Status st = unavailable("revocation_failed: the provider names no revocation_endpoint");
      if (ep && !ep->revocation_endpoint.empty()) {
        st = revokeRefreshToken(fetcher_, ep->revocation_endpoint, client_, job.secret,
                                time_.systemTime());
      }
      cleanse(job.secret);
      if (!st.isOk()) {
        log::warn("identity", "refresh token revocation at the provider failed",
                  {{"issuer", issuer_}, {"error", st.message()}});
      }
      lock.lock();
      ++(st.isOk() ? stats_.revocations : stats_.revocation_failures);
      continue;
    }

    StatusOr<TokenResponse> result = loginUnavailable();
    if (const auto ep = endpoints()) {
      const SystemTime now = time_.systemTime();
      result = job.refresh
                   ? identity::refresh(fetcher_, ep->token_endpoint, client_, job.secret, now)
                   : exchangeCode(fetcher_, ep->token_endpoint, client_, job.secret,
                                  job.verifier, now);
    }
    cleanse(job.secret);
    cleanse(job.verifier);

    lock.lock();
    if (result.isOk()) {
      ++(job.refresh ? stats_.refreshes : stats_.exchanges);
    } else {
      ++stats_.failures;
    }
    lock.unlock();
    job.done(std::move(result));
    job.done = nullptr;  // destroy captured state before taking the lock again
    lock.lock();
  }
}

}  // namespace stepgate::identity
