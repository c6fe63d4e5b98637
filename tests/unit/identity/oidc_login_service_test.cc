// OidcLoginService: discovery with retries, code exchanges and refreshes on the service's
// threads, stop() with queued calls, and load shedding, against a scripted provider (a Fetcher
// fake: no network). Completions are awaited with bounded waits.

#include "identity/oidc_login_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/unit/identity/fake_fetcher.h"

namespace stepgate::identity {
namespace {

using namespace std::chrono_literals;

constexpr char kIssuer[] = "https://idp.example.com";
constexpr char kTokenEndpoint[] = "https://idp.example.com/token";
constexpr char kClientId[] = "stepgate-web";
constexpr char kRedirectUri[] = "https://stepgate.example.com/.stepgate/oidc/callback";
constexpr char kVerifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";  // RFC 7636 app. B
// base64("stepgate-web:s3cr3t"), computed independently.
constexpr char kBasic[] = "Basic c3RlcGdhdGUtd2ViOnMzY3IzdA==";
constexpr char kDiscovery[] = R"({"issuer":"https://idp.example.com",
  "jwks_uri":"https://idp.example.com/jwks",
  "authorization_endpoint":"https://idp.example.com/authorize",
  "token_endpoint":"https://idp.example.com/token"})";
constexpr char kTokens[] =
    R"({"access_token":"at-1","token_type":"Bearer","id_token":"eyJ.id.tok",)"
    R"("refresh_token":"rt-2","expires_in":300})";

using testing::RecordedPost;
using testing::TempDir;

// A scripted identity provider (a ScriptedFetcher), called from the service's threads: the
// discovery document for GETs, kTokens for token POSTs, until a test scripts otherwise.
class ScriptedProvider : public testing::ScriptedFetcher {
 public:
  ScriptedProvider() {
    respondToGets(200, kDiscovery, "application/json");
    respondToPosts(200, kTokens);
  }
};

const std::string* field(const FormFields& f, std::string_view name) {
  for (const auto& [n, v] : f) {
    if (n == name) return &v;
  }
  return nullptr;
}

// One completion's result, awaited with a bound.
class Result {
 public:
  OidcLoginService::Completion callback() {
    return [this](StatusOr<TokenResponse> r) {
      std::lock_guard<std::mutex> lock(mu_);
      result_.emplace(std::move(r));
      thread_ = std::this_thread::get_id();
      cv_.notify_all();
    };
  }
  bool done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return result_.has_value();
  }
  // The result; fails the test when none came within `timeout`.
  StatusOr<TokenResponse> wait(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return result_.has_value(); })) {
      ADD_FAILURE() << "no completion within " << timeout.count() << " ms";
      return unavailable("test: no completion");
    }
    return *result_;
  }
  std::thread::id thread() const {
    std::lock_guard<std::mutex> lock(mu_);
    return thread_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<StatusOr<TokenResponse>> result_;
  std::thread::id thread_;
};

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class OidcLoginServiceTest : public ::testing::Test {
 protected:
  OidcLoginServicePtr make(size_t threads = 2) {
    OidcLoginConfig c;
    c.client_id = kClientId;
    c.redirect_uri = kRedirectUri;
    c.client_secret_file = dir_.write("secret", "s3cr3t\n");
    auto s = OidcLoginService::create(kIssuer, c, provider_, time_, threads);
    EXPECT_TRUE(s.isOk()) << s.status().toString();
    return s.isOk() ? std::move(s).value() : nullptr;
  }
  // A started service whose discovery has succeeded.
  OidcLoginServicePtr started(size_t threads = 2) {
    OidcLoginServicePtr s = make(threads);
    if (s == nullptr) return s;
    s->start();
    EXPECT_TRUE(waitFor([&] { return s->endpoints() != nullptr; }, 5s));
    return s;
  }

  TempDir dir_{"oidc-service"};
  ScriptedProvider provider_;
  RealTimeSource time_;
};

TEST_F(OidcLoginServiceTest, CreateRefusesABadClient) {
  OidcLoginConfig c;
  c.client_id = kClientId;
  c.redirect_uri = kRedirectUri;
  c.client_secret_file = "/nonexistent/secret";
  auto s = OidcLoginService::create(kIssuer, c, provider_, time_);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(loginErrorCode(s.status()), "config_invalid");
}

TEST_F(OidcLoginServiceTest, DiscoveryRetriesUntilItSucceeds) {
  provider_.failGets(2);
  OidcLoginServicePtr s = make();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->endpoints(), nullptr);  // not started: nothing fetched
  EXPECT_TRUE(provider_.gets().empty());
  const auto begin = std::chrono::steady_clock::now();
  s->start();
  // Fails at once, then after 1 s, then succeeds after 2 s more.
  ASSERT_TRUE(waitFor([&] { return s->endpoints() != nullptr; }, 4500ms));
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_GE(took, 2900ms);  // the backoff doubled: 1 s, then 2 s
  const auto ep = s->endpoints();
  EXPECT_EQ(ep->issuer, kIssuer);
  EXPECT_EQ(ep->authorization_endpoint, "https://idp.example.com/authorize");
  EXPECT_EQ(ep->token_endpoint, kTokenEndpoint);
  const auto gets = provider_.gets();
  ASSERT_EQ(gets.size(), 3u);
  for (const auto& g : gets) {
    EXPECT_EQ(g, "https://idp.example.com/.well-known/openid-configuration");
  }
  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.discovery_failures, 2u);
  EXPECT_TRUE(st.discovered);
  // Discovery is done: no further fetches.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(provider_.gets().size(), 3u);
}

TEST_F(OidcLoginServiceTest, StopEndsTheDiscoveryRetryPromptly) {
  provider_.failGets(1000);
  OidcLoginServicePtr s = make();
  ASSERT_NE(s, nullptr);
  s->start();
  ASSERT_TRUE(waitFor([&] { return s->stats().discovery_failures >= 1; }, 2s));
  const auto begin = std::chrono::steady_clock::now();
  s->stop();  // interrupts the 1 s backoff wait
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 900ms);
  EXPECT_EQ(s->endpoints(), nullptr);
  EXPECT_FALSE(s->stats().discovered);
}

TEST_F(OidcLoginServiceTest, ExchangeReachesTheTokenEndpoint) {
  Result r;  // declared first: it outlives the service and its completions
  OidcLoginServicePtr s = started();
  ASSERT_NE(s, nullptr);
  s->exchange("the-code", kVerifier, r.callback());
  auto tokens = r.wait();
  ASSERT_TRUE(tokens.isOk()) << tokens.status().toString();
  EXPECT_EQ(tokens->access_token, "at-1");
  EXPECT_EQ(tokens->id_token, "eyJ.id.tok");
  EXPECT_EQ(tokens->refresh_token, "rt-2");
  EXPECT_EQ(tokens->expires_in, std::chrono::seconds(300));
  EXPECT_NE(r.thread(), std::this_thread::get_id());  // completed on a service thread

  const auto posts = provider_.posts();
  ASSERT_EQ(posts.size(), 1u);
  const RecordedPost& p = posts[0];
  EXPECT_EQ(p.url, kTokenEndpoint);
  ASSERT_NE(field(p.form, "grant_type"), nullptr);
  EXPECT_EQ(*field(p.form, "grant_type"), "authorization_code");
  ASSERT_NE(field(p.form, "code"), nullptr);
  EXPECT_EQ(*field(p.form, "code"), "the-code");
  ASSERT_NE(field(p.form, "code_verifier"), nullptr);
  EXPECT_EQ(*field(p.form, "code_verifier"), kVerifier);
  ASSERT_NE(field(p.form, "redirect_uri"), nullptr);
  EXPECT_EQ(*field(p.form, "redirect_uri"), kRedirectUri);
  EXPECT_EQ(field(p.form, "client_secret"), nullptr);
  ASSERT_FALSE(p.headers.empty());
  EXPECT_EQ(p.headers[0].first, "Authorization");
  EXPECT_EQ(p.headers[0].second, kBasic);

  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.exchanges, 1u);
  EXPECT_EQ(st.refreshes, 0u);
  EXPECT_EQ(st.failures, 0u);
  EXPECT_EQ(st.shed, 0u);
}

TEST_F(OidcLoginServiceTest, RefreshReachesTheTokenEndpoint) {
  provider_.respondToPosts(200,
                           R"({"access_token":"at-3","token_type":"Bearer","id_token":"i.d.t"})");
  Result r;
  OidcLoginServicePtr s = started();
  ASSERT_NE(s, nullptr);
  s->refresh("rt-1", r.callback());
  auto tokens = r.wait();
  ASSERT_TRUE(tokens.isOk()) << tokens.status().toString();
  EXPECT_EQ(tokens->access_token, "at-3");
  EXPECT_EQ(tokens->id_token, "i.d.t");
  EXPECT_TRUE(tokens->refresh_token.empty());  // the caller keeps the one it has

  const auto posts = provider_.posts();
  ASSERT_EQ(posts.size(), 1u);
  const RecordedPost& p = posts[0];
  EXPECT_EQ(p.url, kTokenEndpoint);
  ASSERT_NE(field(p.form, "grant_type"), nullptr);
  EXPECT_EQ(*field(p.form, "grant_type"), "refresh_token");
  ASSERT_NE(field(p.form, "refresh_token"), nullptr);
  EXPECT_EQ(*field(p.form, "refresh_token"), "rt-1");
  EXPECT_EQ(field(p.form, "code"), nullptr);
  EXPECT_EQ(field(p.form, "code_verifier"), nullptr);
  ASSERT_FALSE(p.headers.empty());
  EXPECT_EQ(p.headers[0].second, kBasic);

  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.refreshes, 1u);
  EXPECT_EQ(st.exchanges, 0u);
  EXPECT_EQ(st.failures, 0u);
}

TEST_F(OidcLoginServiceTest, InvalidGrantIsReportedAsAProviderError) {
  provider_.respondToPosts(400, R"({"error":"invalid_grant","error_description":"code used"})");
  Result exchanged, refreshed;
  OidcLoginServicePtr s = started();
  ASSERT_NE(s, nullptr);
  s->exchange("old-code", kVerifier, exchanged.callback());
  s->refresh("old-rt", refreshed.callback());
  auto a = exchanged.wait();
  auto b = refreshed.wait();
  ASSERT_FALSE(a.isOk());
  EXPECT_EQ(loginErrorCode(a.status()), "provider_invalid_grant");
  EXPECT_EQ(a.status().code(), StatusCode::kUnauthenticated);
  ASSERT_FALSE(b.isOk());
  EXPECT_EQ(loginErrorCode(b.status()), "provider_invalid_grant");
  // Never the code or the refresh token in a message.
  EXPECT_EQ(a.status().message().find("old-code"), std::string::npos);
  EXPECT_EQ(b.status().message().find("old-rt"), std::string::npos);
  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.failures, 2u);
  EXPECT_EQ(st.exchanges, 0u);
  EXPECT_EQ(st.refreshes, 0u);
}

TEST_F(OidcLoginServiceTest, ExchangeBeforeDiscoveryIsUnavailable) {
  Result r;
  provider_.failGets(1000);
  provider_.closeGetGate();  // the provider does not answer yet
  OidcLoginServicePtr s = make();
  ASSERT_NE(s, nullptr);
  s->start();
  ASSERT_TRUE(provider_.waitInGet());
  ASSERT_EQ(s->endpoints(), nullptr);
  s->exchange("the-code", kVerifier, r.callback());
  auto res = r.wait();
  ASSERT_FALSE(res.isOk());
  EXPECT_EQ(loginErrorCode(res.status()), "login_unavailable");
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(provider_.posts().empty());  // no token endpoint to call
  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.failures, 1u);
  EXPECT_FALSE(st.discovered);
  provider_.openGetGate();
}

TEST_F(OidcLoginServiceTest, StopCompletesQueuedCallsAndLaterCallsInline) {
  Result running, queued[3], late, late_refresh;
  OidcLoginServicePtr s = started(/*threads=*/1);
  ASSERT_NE(s, nullptr);
  provider_.closePostGate();
  s->exchange("code-0", kVerifier, running.callback());
  ASSERT_TRUE(provider_.waitInPost(1));  // the only thread is busy with it
  s->exchange("code-1", kVerifier, queued[0].callback());
  s->refresh("rt-1", queued[1].callback());
  s->exchange("code-2", kVerifier, queued[2].callback());
  for (Result& q : queued) EXPECT_FALSE(q.done());

  // stop() fails the queued calls at once, then joins the thread, which is still at the gate.
  std::thread stopper([&] { s->stop(); });
  for (Result& q : queued) {
    auto res = q.wait(2s);
    ASSERT_FALSE(res.isOk());
    EXPECT_EQ(loginErrorCode(res.status()), "login_unavailable");
  }
  EXPECT_FALSE(running.done());
  provider_.openPostGate();
  stopper.join();
  // The call in progress finished normally.
  auto first = running.wait(1s);
  EXPECT_TRUE(first.isOk()) << first.status().toString();

  // After stop(): inline, on the calling thread, before exchange()/refresh() return.
  s->exchange("code-3", kVerifier, late.callback());
  ASSERT_TRUE(late.done());
  EXPECT_EQ(late.thread(), std::this_thread::get_id());
  EXPECT_EQ(loginErrorCode(late.wait().status()), "login_unavailable");
  s->refresh("rt-2", late_refresh.callback());
  ASSERT_TRUE(late_refresh.done());
  EXPECT_EQ(loginErrorCode(late_refresh.wait().status()), "login_unavailable");

  EXPECT_EQ(provider_.posts().size(), 1u);  // only the first call reached the provider
  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.exchanges, 1u);
  EXPECT_EQ(st.shed, 5u);  // three queued, two after stop()
  s->stop();               // idempotent
}

TEST_F(OidcLoginServiceTest, StopBeforeStartCompletesQueuedCalls) {
  Result queued, late;
  OidcLoginServicePtr s = make();
  ASSERT_NE(s, nullptr);
  s->exchange("code", kVerifier, queued.callback());  // no thread yet: it waits in the queue
  EXPECT_FALSE(queued.done());
  s->stop();
  ASSERT_TRUE(queued.done());
  EXPECT_EQ(loginErrorCode(queued.wait().status()), "login_unavailable");
  s->start();  // after stop(): does nothing
  s->refresh("rt", late.callback());
  ASSERT_TRUE(late.done());
  EXPECT_EQ(s->stats().shed, 2u);
  EXPECT_TRUE(provider_.gets().empty());
}

TEST_F(OidcLoginServiceTest, QueueBeyondMaxPendingIsShedInline) {
  Result running, shed;
  std::vector<std::unique_ptr<Result>> queued;
  OidcLoginServicePtr s = started(/*threads=*/1);
  ASSERT_NE(s, nullptr);
  provider_.closePostGate();
  s->exchange("code-running", kVerifier, running.callback());
  ASSERT_TRUE(provider_.waitInPost(1));
  for (size_t i = 0; i < OidcLoginService::kMaxPending; ++i) {
    queued.push_back(std::make_unique<Result>());
    s->exchange("code-" + std::to_string(i), kVerifier, queued.back()->callback());
  }
  for (const auto& q : queued) EXPECT_FALSE(q->done());
  EXPECT_EQ(s->stats().shed, 0u);

  s->refresh("one-too-many", shed.callback());
  ASSERT_TRUE(shed.done());  // completed before refresh() returned
  EXPECT_EQ(shed.thread(), std::this_thread::get_id());
  auto res = shed.wait();
  ASSERT_FALSE(res.isOk());
  EXPECT_EQ(loginErrorCode(res.status()), "login_unavailable");
  EXPECT_EQ(s->stats().shed, 1u);

  provider_.openPostGate();
  EXPECT_TRUE(running.wait().isOk());
  for (const auto& q : queued) {
    auto r = q->wait(10s);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
  }
  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.exchanges, OidcLoginService::kMaxPending + 1);
  EXPECT_EQ(st.refreshes, 0u);
  EXPECT_EQ(st.failures, 0u);
  EXPECT_EQ(st.shed, 1u);
  EXPECT_EQ(provider_.posts().size(), OidcLoginService::kMaxPending + 1);
}

TEST_F(OidcLoginServiceTest, ManyCallsFromManyThreads) {
  constexpr int kCallers = 4, kEach = 20;
  std::vector<std::unique_ptr<Result>> results;
  for (int i = 0; i < kCallers * kEach; ++i) results.push_back(std::make_unique<Result>());
  OidcLoginServicePtr s = started(/*threads=*/3);
  ASSERT_NE(s, nullptr);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Result& r = *results[t * kEach + i];
        if (i % 2 == 0) {
          s->exchange("code", kVerifier, r.callback());
        } else {
          s->refresh("rt", r.callback());
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (const auto& r : results) EXPECT_TRUE(r->wait().isOk());
  const OidcLoginServiceStats st = s->stats();
  EXPECT_EQ(st.exchanges + st.refreshes, static_cast<uint64_t>(kCallers * kEach));
  EXPECT_EQ(st.exchanges, static_cast<uint64_t>(kCallers * kEach / 2));
}

// A call queued while discovery waits out its retry backoff must still be run at once (and
// fail with login_unavailable): the queue's wake-up has to reach a worker thread, not the
// discovery thread, which waits on the service's condition variable too. Repeated because
// which waiter a single notification reaches is up to the scheduler.
TEST_F(OidcLoginServiceTest, CallsDuringTheDiscoveryBackoffAreNotLost) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Result r;
    ScriptedProvider provider;
    provider.failGets(1000);
    OidcLoginConfig c;
    c.client_id = kClientId;
    c.redirect_uri = kRedirectUri;
    c.client_secret_file = dir_.write("secret", "s3cr3t\n");
    auto made = OidcLoginService::create(kIssuer, c, provider, time_, /*threads=*/1);
    ASSERT_TRUE(made.isOk());
    OidcLoginServicePtr s = std::move(made).value();
    s->start();
    // stats() takes the service's mutex, which the discovery thread holds from counting the
    // failure until it waits: once the count shows, it is waiting out its 1 s backoff.
    ASSERT_TRUE(waitFor([&] { return s->stats().discovery_failures >= 1; }, 2s));
    std::this_thread::sleep_for(10ms);  // and the worker thread waits for work
    s->exchange("the-code", kVerifier, r.callback());
    auto res = r.wait(500ms);  // well within the backoff: only a worker can answer
    ASSERT_FALSE(res.isOk());
    ASSERT_EQ(loginErrorCode(res.status()), "login_unavailable");
    ASSERT_EQ(s->stats().failures, 1u);  // run by the worker, not failed by stop()
  }
}

}  // namespace
}  // namespace stepgate::identity

namespace stepgate::identity {
namespace {

TEST_F(OidcLoginServiceTest, RevokeSendsTheRefreshTokenToTheRevocationEndpoint) {
  provider_.respondToGets(200, R"({"issuer":"https://idp.example.com",
    "jwks_uri":"https://idp.example.com/jwks",
    "authorization_endpoint":"https://idp.example.com/authorize",
    "token_endpoint":"https://idp.example.com/token",
    "revocation_endpoint":"https://idp.example.com/revoke"})",
                          "application/json");
  provider_.respondToPosts(200, "");
  OidcLoginServicePtr s = started();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->endpoints()->revocation_endpoint, "https://idp.example.com/revoke");
  s->revoke("rt-to-revoke");
  ASSERT_TRUE(waitFor([&] { return s->stats().revocations == 1; }, 5s));
  ASSERT_EQ(provider_.postCount(), 1u);
  const RecordedPost post = provider_.post(0);
  EXPECT_EQ(post.url, "https://idp.example.com/revoke");
  ASSERT_NE(field(post.form, "token"), nullptr);
  EXPECT_EQ(*field(post.form, "token"), "rt-to-revoke");
  ASSERT_NE(field(post.form, "token_type_hint"), nullptr);
  EXPECT_EQ(*field(post.form, "token_type_hint"), "refresh_token");
  bool basic = false;
  for (const auto& [name, value] : post.headers) basic = basic || (name == "Authorization" &&
                                                                   value == kBasic);
  EXPECT_TRUE(basic) << "client_secret_basic at the revocation endpoint";

  // An error status is a failure, counted, never retried.
  provider_.respondToPosts(503, "");
  s->revoke("rt-2");
  ASSERT_TRUE(waitFor([&] { return s->stats().revocation_failures == 1; }, 5s));
  EXPECT_EQ(s->stats().revocations, 1u);
}

TEST_F(OidcLoginServiceTest, RevokeWithoutARevocationEndpointIsAFailureWithoutACall) {
  OidcLoginServicePtr s = started();  // kDiscovery names no revocation_endpoint
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->endpoints()->revocation_endpoint.empty());
  s->revoke("rt-1");
  ASSERT_TRUE(waitFor([&] { return s->stats().revocation_failures == 1; }, 5s));
  EXPECT_EQ(provider_.postCount(), 0u);
}

}  // namespace
}  // namespace stepgate::identity
