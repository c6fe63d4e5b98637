// Introspector: the request it sends, how it reads answers (strictly, failing closed), its
// shared cache bounded by exp, cache_max_ttl and negative_cache_ttl, single flight per token,
// stop() with calls pending, and one run against a real cpp-httplib server on 127.0.0.1.

#include <gtest/gtest.h>

#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "identity/introspection.h"
#include "identity/token_verifier.h"
#include "tests/unit/identity/fake_fetcher.h"

namespace stepgate::identity {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kNow = 1'700'000'000;  // the tests' "now", in seconds since the epoch
constexpr char kToken[] = "opaque-token-0123456789";

// Client id and secret with characters that RFC 6749 section 2.3.1 form-encodes.
constexpr char kClientId[] = "my:client";
constexpr char kSecret[] = "p@ss word/=";
// base64("my%3Aclient:p%40ss+word%2F%3D"), computed independently.
constexpr char kExpectedAuthorization[] = "Basic bXklM0FjbGllbnQ6cCU0MHNzK3dvcmQlMkYlM0Q=";

using testing::RecordedPost;
using testing::TempDir;

// The introspection endpoint: every POST is recorded and answered {"active":false} until a
// test scripts another answer.
class FakeFetcher : public testing::ScriptedFetcher {
 public:
  FakeFetcher() { respondToPosts(200, R"({"active":false})"); }
};

// Collects completions, with the thread each ran on.
class Results {
 public:
  Introspector::Completion completion() {
    return [this](IntrospectionResult r) {
      std::lock_guard<std::mutex> lock(mu_);
      results_.push_back(std::move(r));
      threads_.push_back(std::this_thread::get_id());
      cv_.notify_all();
    };
  }
  bool waitFor(size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.size();
  }
  IntrospectionResult at(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.at(i);
  }
  std::thread::id threadOf(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_.at(i);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<IntrospectionResult> results_;
  std::vector<std::thread::id> threads_;
};

std::string activeAnswer(const std::string& extra = "") {
  return R"({"active":true,"iss":"https://idp.example.net","sub":"alice","aud":"workflows",)"
         R"("exp":)" +
         std::to_string(kNow + 3600) + R"(,"scope":"workflows.run workflows.read",)" +
         R"("name":"Alice","email":"alice@example.net","amr":["pwd","otp"],)"
         R"("token_type":"Bearer","client_id":"cli")" +
         extra + "}";
}

class IntrospectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_.name = "partners";
    provider_.type = config::ProviderType::kIntrospection;
    provider_.issuer = "https://idp.example.net";
    provider_.introspection_endpoint = "https://idp.example.net/oauth2/introspect";
    provider_.client_id = kClientId;
    provider_.client_secret_file = dir_.write("secret", std::string(kSecret) + "\n");
    provider_.ca_file = "certs/partner-ca.pem";
    provider_.audiences = {"workflows"};
    provider_.claims.groups = "scope";
    provider_.claims.groups_space_separated = true;
    provider_.fetch_timeout = 1500ms;
    provider_.cache_max_ttl = 5min;
    provider_.negative_cache_ttl = 10s;
    time_.setSystemTime(SystemTime(std::chrono::seconds(kNow)));
  }

  IntrospectorPtr make(size_t threads = 2) {
    auto r = Introspector::create(provider_, fetcher_, time_, {threads, 10000});
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r.isOk() ? std::move(r).value() : nullptr;
  }

  // Introspects `token` on a started introspector and waits for the answer.
  IntrospectionResult once(Introspector& in, const std::string& token = kToken) {
    Results results;
    in.introspect(token, results.completion());
    EXPECT_TRUE(results.waitFor(1));
    return results.size() == 1 ? results.at(0) : IntrospectionResult{};
  }

  // A fresh introspector asked once about kToken with `body` as the 200 answer.
  IntrospectionResult answer(const std::string& body) {
    fetcher_.respondToPosts(200, body);
    auto in = make();
    in->start();
    return once(*in);
  }

  TempDir dir_{"introspection"};
  config::ProviderConfig provider_;
  FakeFetcher fetcher_;
  ManualTimeSource time_;
};

SystemTime at(int64_t seconds) { return SystemTime(std::chrono::seconds(seconds)); }

// ---- creation -------------------------------------------------------------------------------

TEST_F(IntrospectorTest, CreateValidatesTheProviderAndNeverShowsTheSecret) {
  auto check = [&](const config::ProviderConfig& p, StatusCode code) {
    auto r = Introspector::create(p, fetcher_, time_);
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), code) << r.status().toString();
    EXPECT_EQ(r.status().message().find(kSecret), std::string::npos);
  };
  config::ProviderConfig p = provider_;
  p.type = config::ProviderType::kOidc;
  check(p, StatusCode::kInvalidArgument);
  p = provider_;
  p.introspection_endpoint = "http://idp.example.net/introspect";  // plain http off loopback
  check(p, StatusCode::kInvalidArgument);
  p = provider_;
  p.client_id.clear();
  check(p, StatusCode::kInvalidArgument);
  p = provider_;
  p.client_secret_file = dir_.write("empty", "\r\n");
  check(p, StatusCode::kInvalidArgument);
  p = provider_;
  p.client_secret_file = dir_.write("big", std::string(5000, 'x'));
  check(p, StatusCode::kInvalidArgument);
  p = provider_;
  p.client_secret_file = "no/such/secret";
  check(p, StatusCode::kNotFound);
  EXPECT_EQ(fetcher_.postCount(), 0u);
}

// ---- the request ----------------------------------------------------------------------------

TEST_F(IntrospectorTest, SendsTheExactRequest) {
  fetcher_.respondToPosts(200, activeAnswer());
  auto in = make();
  in->start();
  ASSERT_TRUE(once(*in).ok());
  ASSERT_EQ(fetcher_.postCount(), 1u);
  const RecordedPost c = fetcher_.post(0);
  EXPECT_EQ(c.url, "https://idp.example.net/oauth2/introspect");
  const FormFields form = {{"token", kToken}, {"token_type_hint", "access_token"}};
  EXPECT_EQ(c.form, form);
  EXPECT_EQ(encodeForm(c.form), std::string("token=") + kToken + "&token_type_hint=access_token");
  const RequestHeaders headers = {{"Authorization", kExpectedAuthorization},
                                  {"Accept", "application/json"}};
  EXPECT_EQ(c.headers, headers);
  EXPECT_EQ(c.options.timeout, 1500ms);
  EXPECT_EQ(c.options.ca_file, "certs/partner-ca.pem");
}

// ---- answers --------------------------------------------------------------------------------

TEST_F(IntrospectorTest, ActiveTokenBecomesAPrincipal) {
  const IntrospectionResult r = answer(activeAnswer());
  ASSERT_TRUE(r.ok()) << authErrorName(*r.error);
  ASSERT_NE(r.principal, nullptr);
  const Principal& p = *r.principal;
  EXPECT_EQ(p.provider, "partners");
  EXPECT_EQ(p.issuer, "https://idp.example.net");
  EXPECT_EQ(p.subject, "alice");
  EXPECT_EQ(p.name, "Alice");
  EXPECT_EQ(p.email, "alice@example.net");
  EXPECT_EQ(p.groups, (std::vector<std::string>{"workflows.read", "workflows.run"}));
  EXPECT_TRUE(p.mfa);
  EXPECT_EQ(p.method, AuthMethod::kIntrospection);
  EXPECT_EQ(p.credential_id, credentialId(digestOf(kToken)));
  EXPECT_EQ(p.credential_id, credentialId(std::string_view(kToken)));
  EXPECT_EQ(p.expires_at, at(kNow + 3600));
  EXPECT_EQ(r.valid_until, at(kNow + 300));  // cache_max_ttl is shorter than exp
}

TEST_F(IntrospectorTest, IssuerDefaultsToTheProvidersWhenAbsent) {
  const IntrospectionResult r = answer(R"({"active":true,"sub":"bob","aud":["x","workflows"],)"
                                       R"("exp":)" + std::to_string(kNow + 60) + "}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal->issuer, "https://idp.example.net");
  EXPECT_EQ(r.valid_until, at(kNow + 60));  // exp is shorter than cache_max_ttl
}

TEST_F(IntrospectorTest, InactiveIsInvalidToken) {
  const IntrospectionResult r = answer(R"({"active":false})");
  ASSERT_EQ(r.error, AuthError::kIntrospectionInactive);
  EXPECT_EQ(r.principal, nullptr);
  EXPECT_EQ(r.valid_until, at(kNow + 10));
  EXPECT_EQ(authErrorHttpStatus(*r.error), 401);
}

TEST_F(IntrospectorTest, MalformedAnswersFailClosedWithUnavailable) {
  const char* bodies[] = {
      "",
      "not json",
      R"({"active":true)",
      R"([{"active":true}])",
      R"("active")",
      R"({"active":"true","sub":"alice"})",  // a string is not a boolean
      R"({"active":1,"sub":"alice"})",
      R"({"active":null})",
      R"({"sub":"alice","aud":"workflows"})",  // active missing
      R"({"active":false,"active":true})",     // duplicate members
      R"({"active":true,"sub":"alice","sub":"mallory","aud":"workflows"})",
  };
  for (const char* body : bodies) {
    const IntrospectionResult r = answer(body);
    EXPECT_EQ(r.error, AuthError::kIntrospectionUnavailable) << body;
    EXPECT_EQ(r.principal, nullptr) << body;
    EXPECT_EQ(r.valid_until, SystemTime{}) << body;  // never cached
  }
  EXPECT_EQ(authErrorHttpStatus(AuthError::kIntrospectionUnavailable), 503);
}

TEST_F(IntrospectorTest, EndpointFailuresAreUnavailableAndNotCached) {
  auto in = make();
  in->start();
  fetcher_.respondToPosts(500, activeAnswer());
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionUnavailable);
  fetcher_.respondToPosts(401, R"({"error":"invalid_client"})");
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionUnavailable);
  fetcher_.respondToPosts(302, "");
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionUnavailable);
  fetcher_.respondToPosts([](const FormFields&) -> StatusOr<HttpResponse> {
    return unavailable("timed out after 1500 ms");
  });
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionUnavailable);
  fetcher_.respondToPosts([](const FormFields&) -> StatusOr<HttpResponse> {
    throw std::runtime_error("a fetcher that throws");
  });
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionUnavailable);
  EXPECT_EQ(fetcher_.postCount(), 5u);  // every failure asked again: nothing was cached

  fetcher_.respondToPosts(200, activeAnswer());  // the endpoint recovers
  EXPECT_TRUE(once(*in).ok());
  EXPECT_TRUE(once(*in).ok());
  EXPECT_EQ(fetcher_.postCount(), 6u);
  const IntrospectionStats s = in->stats();
  EXPECT_EQ(s.requests, 6u);
  EXPECT_EQ(s.failures, 5u);
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.calls, 7u);
}

TEST_F(IntrospectorTest, WrongIssuer) {
  // A second iss makes the whole answer malformed, not a wrong issuer.
  EXPECT_EQ(answer(activeAnswer(R"(,"iss":"x")")).error, AuthError::kIntrospectionUnavailable);
  EXPECT_EQ(answer(R"({"active":true,"iss":"https://evil.example","sub":"a","aud":"workflows",)"
                   R"("exp":)" + std::to_string(kNow + 60) + "}")
                .error,
            AuthError::kWrongIssuer);
  EXPECT_EQ(answer(R"({"active":true,"iss":"https://idp.example.net/","sub":"a",)"
                   R"("aud":"workflows","exp":)" + std::to_string(kNow + 60) + "}")
                .error,
            AuthError::kWrongIssuer);
  EXPECT_EQ(answer(R"({"active":true,"iss":7,"sub":"a","aud":"workflows","exp":)" +
                   std::to_string(kNow + 60) + "}")
                .error,
            AuthError::kBadClaimType);
}

TEST_F(IntrospectorTest, ExpiryRules) {
  auto body = [](const std::string& exp) {
    return R"({"active":true,"sub":"a","aud":"workflows")" + exp + "}";
  };
  // Expired beyond the leeway (60 s), even though the endpoint said active.
  EXPECT_EQ(answer(body(",\"exp\":" + std::to_string(kNow - 61))).error, AuthError::kExpired);
  EXPECT_EQ(answer(body(",\"exp\":" + std::to_string(kNow - 61) + ".5")).error,
            AuthError::kExpired);
  EXPECT_EQ(answer(body(",\"exp\":\"" + std::to_string(kNow + 60) + "\"")).error,
            AuthError::kBadClaimType);
  EXPECT_EQ(answer(body(",\"exp\":" + std::to_string(kNow + 60) + ",\"nbf\":" +
                        std::to_string(kNow + 120)))
                .error,
            AuthError::kNotYetValid);
  // Within the leeway: accepted, but not worth caching (exp has passed).
  const IntrospectionResult skewed = answer(body(",\"exp\":" + std::to_string(kNow - 30)));
  EXPECT_TRUE(skewed.ok());
  EXPECT_LE(skewed.valid_until, at(kNow));
  // exp is required by default (require_exp), and optional when configured so.
  EXPECT_EQ(answer(body("")).error, AuthError::kMissingExp);
  provider_.require_exp = false;
  const IntrospectionResult no_exp = answer(body(""));
  ASSERT_TRUE(no_exp.ok());
  EXPECT_EQ(no_exp.principal->expires_at, SystemTime{});
  EXPECT_EQ(no_exp.valid_until, at(kNow + 300));
}

TEST_F(IntrospectorTest, AudienceRules) {
  auto body = [](const std::string& aud) {
    return R"({"active":true,"sub":"a","exp":)" + std::to_string(kNow + 60) + aud + "}";
  };
  EXPECT_TRUE(answer(body(R"(,"aud":"workflows")")).ok());
  EXPECT_TRUE(answer(body(R"(,"aud":["other","workflows"])")).ok());
  EXPECT_EQ(answer(body(R"(,"aud":"other")")).error, AuthError::kWrongAudience);
  EXPECT_EQ(answer(body(R"(,"aud":["other"])")).error, AuthError::kWrongAudience);
  EXPECT_EQ(answer(body(R"(,"aud":[])")).error, AuthError::kWrongAudience);
  EXPECT_EQ(answer(body("")).error, AuthError::kWrongAudience);
  EXPECT_EQ(answer(body(R"(,"aud":["workflows",3])")).error, AuthError::kBadClaimType);
  EXPECT_EQ(answer(body(R"(,"aud":{"workflows":true})")).error, AuthError::kBadClaimType);
  provider_.audiences.clear();  // not checked at all
  EXPECT_TRUE(answer(body("")).ok());
  EXPECT_TRUE(answer(body(R"(,"aud":"other")")).ok());
}

TEST_F(IntrospectorTest, RequiredClaims) {
  provider_.required_claims = {{"client_id", {"cli", "cli-2"}}, {"/ext/tenant", {}}};
  EXPECT_EQ(answer(activeAnswer()).error, AuthError::kMissingClaim);
  EXPECT_TRUE(answer(activeAnswer(R"(,"ext":{"tenant":"t1"})")).ok());
  provider_.required_claims[0].any_of = {"someone-else"};
  EXPECT_EQ(answer(activeAnswer(R"(,"ext":{"tenant":"t1"})")).error, AuthError::kClaimMismatch);
}

TEST_F(IntrospectorTest, RefreshTokensAreRefused) {
  auto body = [](const std::string& type) {
    return R"({"active":true,"sub":"a","aud":"workflows","exp":)" + std::to_string(kNow + 60) +
           R"(,"token_type":)" + type + "}";
  };
  EXPECT_EQ(answer(body(R"("refresh_token")")).error, AuthError::kWrongType);
  EXPECT_EQ(answer(body(R"("Refresh_Token")")).error, AuthError::kWrongType);
  EXPECT_EQ(answer(body("1")).error, AuthError::kBadClaimType);
  EXPECT_TRUE(answer(body(R"("access_token")")).ok());
  EXPECT_TRUE(answer(body(R"("Bearer")")).ok());
}

TEST_F(IntrospectorTest, SubjectIsRequiredWithoutFallback) {
  const std::string tail = R"(,"aud":"workflows","exp":)" + std::to_string(kNow + 60) + "}";
  EXPECT_EQ(answer(R"({"active":true,"username":"alice")" + tail).error,
            AuthError::kMissingClaim);
  EXPECT_EQ(answer(R"({"active":true,"sub":"")" + tail).error, AuthError::kMissingClaim);
  EXPECT_EQ(answer(R"({"active":true,"sub":42)" + tail).error, AuthError::kBadClaimType);
  provider_.claims.subject = "username";  // configured explicitly: fine
  const IntrospectionResult r = answer(R"({"active":true,"username":"alice")" + tail);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal->subject, "alice");
}

TEST_F(IntrospectorTest, OversizedAndEmptyTokensAreRefusedInline) {
  auto in = make();  // not started: an answer that needs the endpoint could not arrive
  Results results;
  in->introspect(std::string(provider_.max_token_bytes + 1, 'x'), results.completion());
  in->introspect("", results.completion());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results.at(0).error, AuthError::kTokenTooLarge);
  EXPECT_EQ(results.at(1).error, AuthError::kMalformedToken);
  EXPECT_EQ(fetcher_.postCount(), 0u);
}

// ---- the shared cache -----------------------------------------------------------------------

TEST_F(IntrospectorTest, PositiveCacheBoundedByExp) {
  fetcher_.respondToPosts(200, R"({"active":true,"sub":"a","aud":"workflows","exp":)" +
                            std::to_string(kNow + 120) + "}");
  auto in = make();
  in->start();
  const IntrospectionResult first = once(*in);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.valid_until, at(kNow + 120));
  time_.advance(119s);
  const IntrospectionResult hit = once(*in);
  EXPECT_EQ(hit.principal, first.principal);  // the same cached Principal
  EXPECT_EQ(fetcher_.postCount(), 1u);
  time_.advance(1s);  // exp reached
  fetcher_.respondToPosts(200, R"({"active":false})");
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionInactive);
  EXPECT_EQ(fetcher_.postCount(), 2u);
}

TEST_F(IntrospectorTest, PositiveCacheBoundedByMaxTtl) {
  fetcher_.respondToPosts(200, activeAnswer());  // exp in an hour, cache_max_ttl 5 minutes
  auto in = make();
  in->start();
  ASSERT_TRUE(once(*in).ok());
  time_.advance(299s);
  ASSERT_TRUE(once(*in).ok());
  EXPECT_EQ(fetcher_.postCount(), 1u);
  time_.advance(1s);
  ASSERT_TRUE(once(*in).ok());
  EXPECT_EQ(fetcher_.postCount(), 2u);
  EXPECT_EQ(in->stats().cache_hits, 1u);
}

TEST_F(IntrospectorTest, ZeroMaxTtlDisablesThePositiveCache) {
  provider_.cache_max_ttl = 0s;
  fetcher_.respondToPosts(200, activeAnswer());
  auto in = make();
  in->start();
  const IntrospectionResult r = once(*in);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r.valid_until, at(kNow));
  ASSERT_TRUE(once(*in).ok());
  EXPECT_EQ(fetcher_.postCount(), 2u);
}

TEST_F(IntrospectorTest, NegativeCacheBoundedByNegativeTtl) {
  fetcher_.respondToPosts(200, R"({"active":false})");
  auto in = make();
  in->start();
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionInactive);
  time_.advance(9s);
  EXPECT_EQ(once(*in).error, AuthError::kIntrospectionInactive);
  EXPECT_EQ(fetcher_.postCount(), 1u);
  time_.advance(1s);
  fetcher_.respondToPosts(200, activeAnswer());  // a token can become active (e.g. a clock issue)
  EXPECT_TRUE(once(*in).ok());
  EXPECT_EQ(fetcher_.postCount(), 2u);

  // Refusals of active tokens are negative answers too.
  fetcher_.respondToPosts(200, R"({"active":true,"sub":"a","aud":"elsewhere","exp":)" +
                            std::to_string(kNow + 60) + "}");
  EXPECT_EQ(once(*in, "other-token").error, AuthError::kWrongAudience);
  EXPECT_EQ(once(*in, "other-token").error, AuthError::kWrongAudience);
  EXPECT_EQ(fetcher_.postCount(), 3u);
  const IntrospectionStats s = in->stats();
  EXPECT_EQ(s.inactive, 1u);
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.rejected, 1u);
  EXPECT_EQ(s.cache_hits, 2u);
  EXPECT_EQ(s.cache_size, 2u);
}

TEST_F(IntrospectorTest, CacheIsBoundedLru) {
  fetcher_.respondToPosts(200, activeAnswer());
  auto r = Introspector::create(provider_, fetcher_, time_, {1, 2});
  ASSERT_TRUE(r.isOk());
  Introspector& in = **r;
  in.start();
  ASSERT_TRUE(once(in, "t1").ok());
  ASSERT_TRUE(once(in, "t2").ok());
  ASSERT_TRUE(once(in, "t1").ok());  // hit: t1 is now the most recent
  ASSERT_TRUE(once(in, "t3").ok());  // evicts t2
  EXPECT_EQ(fetcher_.postCount(), 3u);
  ASSERT_TRUE(once(in, "t1").ok());
  EXPECT_EQ(fetcher_.postCount(), 3u);
  ASSERT_TRUE(once(in, "t2").ok());
  EXPECT_EQ(fetcher_.postCount(), 4u);
  EXPECT_EQ(in.stats().cache_size, 2u);
}

// ---- threads --------------------------------------------------------------------------------

TEST_F(IntrospectorTest, CompletionsRunOnIntrospectorThreadsOrInlineWhenKnown) {
  fetcher_.respondToPosts(200, activeAnswer());
  auto in = make();
  in->start();
  Results results;
  in->introspect(kToken, results.completion());
  ASSERT_TRUE(results.waitFor(1));
  EXPECT_NE(results.threadOf(0), std::this_thread::get_id());
  in->introspect(kToken, results.completion());  // a cache hit: answered before returning
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results.threadOf(1), std::this_thread::get_id());
  EXPECT_EQ(results.at(1).principal, results.at(0).principal);
}

TEST_F(IntrospectorTest, SingleFlightPerToken) {
  fetcher_.respondToPosts(200, activeAnswer());
  fetcher_.closePostGate();  // the one POST blocks until every caller has asked
  auto in = make(2);
  in->start();
  Results results;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    const int n = t < 2 ? 13 : 12;  // 50 in all
    callers.emplace_back([&, n] {
      for (int i = 0; i < n; ++i) {
        in->introspect(kToken, results.completion());
      }
    });
  }
  for (std::thread& t : callers) {
    t.join();
  }
  ASSERT_TRUE(fetcher_.waitForPosts(1));
  EXPECT_EQ(results.size(), 0u);
  fetcher_.openPostGate();
  ASSERT_TRUE(results.waitFor(50));
  EXPECT_EQ(fetcher_.postCount(), 1u);
  const IntrospectionResult first = results.at(0);
  ASSERT_TRUE(first.ok());
  for (size_t i = 0; i < 50; ++i) {
    const IntrospectionResult r = results.at(i);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.principal, first.principal);  // the very same Principal
    EXPECT_EQ(r.valid_until, first.valid_until);
  }
  const IntrospectionStats s = in->stats();
  EXPECT_EQ(s.calls, 50u);
  EXPECT_EQ(s.coalesced, 49u);
  EXPECT_EQ(s.requests, 1u);
}

TEST_F(IntrospectorTest, SingleFlightSharesFailuresToo) {
  fetcher_.respondToPosts(503, "down");
  fetcher_.closePostGate();
  auto in = make(1);
  in->start();
  Results results;
  for (int i = 0; i < 5; ++i) {
    in->introspect(kToken, results.completion());
  }
  ASSERT_TRUE(fetcher_.waitForPosts(1));
  fetcher_.openPostGate();
  ASSERT_TRUE(results.waitFor(5));
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(results.at(i).error, AuthError::kIntrospectionUnavailable);
  }
  EXPECT_EQ(fetcher_.postCount(), 1u);
}

TEST_F(IntrospectorTest, StopCompletesQueuedCallsWithUnavailable) {
  auto in = make();  // never started: everything stays queued
  Results results;
  in->introspect("a", results.completion());
  in->introspect("b", results.completion());
  in->introspect("a", results.completion());
  EXPECT_EQ(results.size(), 0u);
  in->stop();
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results.at(i).error, AuthError::kIntrospectionUnavailable);
  }
  in->introspect("c", results.completion());  // after stop(): inline
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results.at(3).error, AuthError::kIntrospectionUnavailable);
  in->stop();  // idempotent
  EXPECT_EQ(fetcher_.postCount(), 0u);
  EXPECT_EQ(in->stats().shed, 4u);
}

TEST_F(IntrospectorTest, StopWaitsForTheCallInFlightAndFailsTheQueue) {
  fetcher_.respondToPosts(200, activeAnswer());
  fetcher_.closePostGate();
  auto in = make(1);
  in->start();
  Results in_flight, queued;
  in->introspect("in-flight", in_flight.completion());
  ASSERT_TRUE(fetcher_.waitForPosts(1));
  in->introspect("queued", queued.completion());
  in->introspect("queued", queued.completion());
  std::thread stopper([&] { in->stop(); });
  ASSERT_TRUE(queued.waitFor(2));  // failed at once, while the POST is still blocked
  EXPECT_EQ(queued.at(0).error, AuthError::kIntrospectionUnavailable);
  EXPECT_EQ(queued.at(1).error, AuthError::kIntrospectionUnavailable);
  EXPECT_EQ(in_flight.size(), 0u);
  fetcher_.openPostGate();
  stopper.join();
  ASSERT_EQ(in_flight.size(), 1u);
  EXPECT_TRUE(in_flight.at(0).ok());  // the endpoint's own answer
  EXPECT_EQ(fetcher_.postCount(), 1u);
}

TEST_F(IntrospectorTest, TooManyWaitingTokensAreShed) {
  auto in = make();  // not started
  Results results;
  for (size_t i = 0; i < Introspector::kMaxPendingTokens; ++i) {
    in->introspect("token-" + std::to_string(i), results.completion());
  }
  EXPECT_EQ(results.size(), 0u);
  in->introspect("one-more", results.completion());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results.at(0).error, AuthError::kIntrospectionUnavailable);
  in->introspect("token-7", results.completion());  // joins its pending call instead
  EXPECT_EQ(results.size(), 1u);
  in->stop();
  EXPECT_EQ(results.size(), Introspector::kMaxPendingTokens + 2);
}

// ---- against a real server ------------------------------------------------------------------

class IntrospectorServerTest : public IntrospectorTest {
 protected:
  void SetUp() override {
    IntrospectorTest::SetUp();
    server_.Post("/introspect", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++hits_;
        content_type_ = req.get_header_value("Content-Type");
        authorization_ = req.get_header_value("Authorization");
        accept_ = req.get_header_value("Accept");
        body_ = req.body;
      }
      const std::string token = req.get_param_value("token");
      if (token == "slow") {
        std::this_thread::sleep_for(1500ms);
      }
      if (token == "good") {
        res.set_content(R"({"active":true,"iss":")" + provider_.issuer +
                            R"(","sub":"svc-1","aud":"workflows","scope":"a b","exp":)" +
                            std::to_string(nowSeconds() + 600) + "}",
                        "application/json");
      } else {
        res.set_content(R"({"active":false})", "application/json");
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(5ms);
    }
    ASSERT_TRUE(server_.is_running());
    provider_.issuer = "http://127.0.0.1:" + std::to_string(port_);
    provider_.introspection_endpoint = provider_.issuer + "/introspect";
    provider_.ca_file.clear();
    provider_.fetch_timeout = 500ms;
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  static int64_t nowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int hits_ = 0;
  std::string content_type_, authorization_, accept_, body_;
  HttpFetcher http_;
  RealTimeSource real_time_;
};

TEST_F(IntrospectorServerTest, IntrospectsOverLoopbackWithTheRealFetcher) {
  auto r = Introspector::create(provider_, http_, real_time_);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  Introspector& in = **r;
  in.start();

  const IntrospectionResult good = once(in, "good");
  ASSERT_TRUE(good.ok()) << authErrorName(*good.error);
  EXPECT_EQ(good.principal->subject, "svc-1");
  EXPECT_EQ(good.principal->issuer, provider_.issuer);
  EXPECT_EQ(good.principal->groups, (std::vector<std::string>{"a", "b"}));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(content_type_, "application/x-www-form-urlencoded");
    EXPECT_EQ(authorization_, kExpectedAuthorization);
    EXPECT_EQ(accept_, "application/json");
    EXPECT_EQ(body_, "token=good&token_type_hint=access_token");
  }
  EXPECT_TRUE(once(in, "good").ok());  // cached

  EXPECT_EQ(once(in, "revoked").error, AuthError::kIntrospectionInactive);
  EXPECT_EQ(once(in, "slow").error, AuthError::kIntrospectionUnavailable);  // timeout
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(hits_, 3);
  }
  in.stop();
}

}  // namespace
}  // namespace stepgate::identity
