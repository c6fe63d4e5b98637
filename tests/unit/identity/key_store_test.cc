// KeyStore: refresh scheduling, single-flight unknown-kid refetch, stale-if-error and fail
// closed, rotation, file and secret providers. Time is a ManualTimeSource and the tests call
// runDueWork() themselves, except where a test says it starts the thread.

#include "identity/key_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "key_store_test_util.h"

namespace stepgate::identity {
namespace {

using namespace std::chrono_literals;
using testing::FakeFetcher;
using testing::jwksWithKids;
using testing::LogCapture;
using testing::ok;
using testing::TempFile;

constexpr char kIssuer[] = "https://idp.example.com";
constexpr char kDiscovery[] = "https://idp.example.com/.well-known/openid-configuration";
constexpr char kJwksUri[] = "https://idp.example.com/jwks";

std::string discoveryDoc(const std::string& issuer = kIssuer,
                         const std::string& jwks_uri = kJwksUri) {
  return R"({"issuer":")" + issuer + R"(","jwks_uri":")" + jwks_uri +
         R"(","introspection_endpoint":"https://idp.example.com/introspect"})";
}

config::ProviderConfig jwtProvider(const std::string& name = "corp") {
  config::ProviderConfig c;
  c.name = name;
  c.type = config::ProviderType::kJwt;
  c.issuer = kIssuer;
  c.jwks_uri = kJwksUri;
  c.refresh_min = 5min;
  c.refresh_max = 24h;
  c.unknown_kid_min_interval = 30s;
  c.max_staleness = 1h;
  return c;
}

config::ProviderConfig oidcProvider(const std::string& name = "corp") {
  config::ProviderConfig c = jwtProvider(name);
  c.type = config::ProviderType::kOidc;
  c.jwks_uri.clear();
  return c;
}

std::vector<std::string> kidsOf(const KeySetConstSharedPtr& set) {
  std::vector<std::string> out;
  if (set) {
    for (const auto& k : set->keys) {
      out.push_back(k.kid);
    }
  }
  return out;
}

// Records every publish call.
struct Published {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, KeySetConstSharedPtr>> calls;

  KeyStore::PublishCallback callback() {
    return [this](const std::string& provider, KeySetConstSharedPtr keys) {
      std::lock_guard<std::mutex> lock(mu);
      calls.emplace_back(provider, std::move(keys));
      cv.notify_all();
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return calls.size();
  }
  KeySetConstSharedPtr last() {
    std::lock_guard<std::mutex> lock(mu);
    return calls.empty() ? nullptr : calls.back().second;
  }
};

class KeyStoreTest : public ::testing::Test {
 protected:
  KeyStore& make(std::vector<config::ProviderConfig> providers) {
    store_ = std::make_unique<KeyStore>(std::move(providers), time_, fetcher_,
                                        published_.callback());
    return *store_;
  }
  KeyStoreStats statsOf(const std::string& provider = "corp") {
    for (auto& s : store_->stats()) {
      if (s.provider == provider) {
        return s;
      }
    }
    ADD_FAILURE() << "no stats for " << provider;
    return {};
  }
  // Advances the clock and lets the store do what is due.
  void advance(std::chrono::milliseconds d) {
    time_.advance(d);
    store_->runDueWork();
  }

  ManualTimeSource time_;
  FakeFetcher fetcher_;
  Published published_;
  std::unique_ptr<KeyStore> store_;
};

TEST_F(KeyStoreTest, JwtProviderFetchesAndPublishes) {
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1", "k2"})));
  KeyStore& store = make({jwtProvider()});
  EXPECT_EQ(store.current("corp"), nullptr);
  store.runDueWork();
  ASSERT_EQ(published_.count(), 1u);
  EXPECT_EQ(published_.calls[0].first, "corp");
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(store.current("corp"), published_.last());
  const KeyStoreStats st = statsOf();
  EXPECT_EQ(st.fetch_ok, 1u);
  EXPECT_EQ(st.fetch_failed, 0u);
  EXPECT_TRUE(st.has_keys);
  EXPECT_FALSE(st.stale);
  EXPECT_EQ(st.key_count, 2u);
}

TEST_F(KeyStoreTest, OidcDiscoveryThenJwks) {
  fetcher_.set(kDiscovery, ok(discoveryDoc()));
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"})));
  KeyStore& store = make({oidcProvider()});
  store.runDueWork();
  EXPECT_EQ(fetcher_.calls(kDiscovery), 1);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 1);
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"k1"}));
  // A scheduled refresh reuses the discovered jwks_uri.
  advance(5min);
  EXPECT_EQ(fetcher_.calls(kDiscovery), 1);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 2);
}

TEST_F(KeyStoreTest, DiscoveryIssuerMismatchRejected) {
  fetcher_.set(kDiscovery, ok(discoveryDoc("https://evil.example.com")));
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"})));
  LogCapture logs;
  KeyStore& store = make({oidcProvider()});
  store.runDueWork();
  EXPECT_EQ(published_.count(), 0u);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 0);
  EXPECT_EQ(statsOf().fetch_failed, 1u);
  EXPECT_NE(logs.text().find("evil.example.com"), std::string::npos);
}

TEST_F(KeyStoreTest, DiscoveredJwksUriMustBeHttpsOrLoopback) {
  fetcher_.set(kDiscovery, ok(discoveryDoc(kIssuer, "http://idp.example.com/jwks")));
  fetcher_.set("http://idp.example.com/jwks", ok(jwksWithKids({"k1"})));
  KeyStore& store = make({oidcProvider()});
  store.runDueWork();
  EXPECT_EQ(published_.count(), 0u);
  EXPECT_EQ(fetcher_.calls("http://idp.example.com/jwks"), 0);
  EXPECT_EQ(statsOf().fetch_failed, 1u);
}

TEST_F(KeyStoreTest, FailedJwksFetchRepeatsDiscovery) {
  fetcher_.set(kDiscovery, ok(discoveryDoc()));
  fetcher_.fail(kJwksUri);
  KeyStore& store = make({oidcProvider()});
  store.runDueWork();
  EXPECT_EQ(fetcher_.calls(kDiscovery), 1);
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"})));
  advance(1s);
  EXPECT_EQ(fetcher_.calls(kDiscovery), 2);
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"k1"}));
}

TEST(KeyStoreRefreshTest, RefreshFollowsMaxAgeClampedToBounds) {
  struct Case {
    std::optional<std::chrono::seconds> max_age;
    std::chrono::milliseconds expected;
  };
  const Case cases[] = {
      {std::nullopt, 5min},                  // no Cache-Control: refresh_min
      {10s, 5min},                           // below refresh_min
      {std::chrono::seconds(3600), 1h},      // inside the bounds
      {std::chrono::seconds(1000000), 24h},  // above refresh_max
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected.count());
    ManualTimeSource time;
    FakeFetcher fetcher;
    fetcher.set(kJwksUri, ok(jwksWithKids({"k1"}), c.max_age));
    config::ProviderConfig p = jwtProvider();
    p.max_staleness = 48h;
    KeyStore store({p}, time, fetcher, nullptr);
    store.runDueWork();
    ASSERT_EQ(fetcher.calls(kJwksUri), 1);
    time.advance(c.expected - 1s);
    store.runDueWork();
    EXPECT_EQ(fetcher.calls(kJwksUri), 1);
    time.advance(1s);
    store.runDueWork();
    EXPECT_EQ(fetcher.calls(kJwksUri), 2);
  }
}

TEST_F(KeyStoreTest, RefreshNeverLaterThanMaxStaleness) {
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"}), std::chrono::seconds(1000000)));
  config::ProviderConfig p = jwtProvider();
  p.max_staleness = 2h;
  KeyStore& store = make({p});
  store.runDueWork();
  advance(2h - 1s);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 1);
  advance(1s);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 2);
}

TEST_F(KeyStoreTest, UnknownKidRefetchIsSingleFlightAndRateLimited) {
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"})));
  KeyStore& store = make({jwtProvider()});
  store.runDueWork();
  ASSERT_EQ(fetcher_.calls(kJwksUri), 1);

  // 100 requests from 4 threads: exactly one is accepted.
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (store.requestRefresh("corp", "unknown-kid")) {
          accepted.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(accepted.load(), 1);
  store.runDueWork();
  EXPECT_EQ(fetcher_.calls(kJwksUri), 2);

  // Within unknown_kid_min_interval of that refetch, more requests do nothing.
  advance(29s);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(store.requestRefresh("corp", "unknown-kid"));
  }
  store.runDueWork();
  EXPECT_EQ(fetcher_.calls(kJwksUri), 2);
  KeyStoreStats st = statsOf();
  EXPECT_EQ(st.refetch_requested, 1u);
  EXPECT_EQ(st.refetch_suppressed, 199u);

  // After the interval one more refetch is allowed.
  advance(1s);
  EXPECT_TRUE(store.requestRefresh("corp", "unknown-kid"));
  EXPECT_FALSE(store.requestRefresh("corp", "unknown-kid"));
  store.runDueWork();
  EXPECT_EQ(fetcher_.calls(kJwksUri), 3);
}

TEST_F(KeyStoreTest, RequestRefreshIgnoresUnknownAndLocalProviders) {
  TempFile secret(std::string(32, 's'));
  config::ProviderConfig hs = jwtProvider("hs");
  hs.jwks_uri.clear();
  hs.secret_file = secret.path();
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"})));
  KeyStore& store = make({jwtProvider(), hs});
  EXPECT_FALSE(store.requestRefresh("nobody", "k"));
  EXPECT_FALSE(store.requestRefresh("hs", "k"));
}

TEST_F(KeyStoreTest, KeyRotationPublishedAfterRefetch) {
  const std::string old_keys = jwksWithKids({"2024"});
  fetcher_.set(kJwksUri, ok(old_keys));
  KeyStore& store = make({jwtProvider()});
  store.runDueWork();
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"2024"}));

  // The IdP rotates: a token names kid 2025, which the store does not know yet.
  fetcher_.set(kJwksUri, ok(jwksWithKids({"2024", "2025"})));
  time_.advance(10s);
  ASSERT_TRUE(store.requestRefresh("corp", "2025"));
  store.runDueWork();
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"2024", "2025"}));
  EXPECT_EQ(published_.count(), 2u);
  EXPECT_EQ(kidsOf(published_.last()), (std::vector<std::string>{"2024", "2025"}));
}

TEST_F(KeyStoreTest, IdpDownKeepsLastGoodKeysThenFailsClosed) {
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"})));
  LogCapture logs;
  KeyStore& store = make({jwtProvider()});  // refresh_min 5 min, max_staleness 1 h
  store.runDueWork();
  const KeySetConstSharedPtr good = store.current("corp");
  ASSERT_NE(good, nullptr);

  fetcher_.fail(kJwksUri);
  advance(5min);  // the scheduled refresh fails
  EXPECT_EQ(fetcher_.calls(kJwksUri), 2);
  EXPECT_EQ(published_.count(), 1u);  // nothing new published
  EXPECT_EQ(store.current("corp"), good);
  KeyStoreStats st = statsOf();
  EXPECT_TRUE(st.stale);
  EXPECT_TRUE(st.has_keys);
  EXPECT_FALSE(st.failed_closed);
  EXPECT_EQ(st.fetch_failed, 1u);
  EXPECT_EQ(st.age, std::chrono::seconds(300));

  // Backoff: 1 s, 2 s, 4 s ... capped at refresh_min.
  advance(999ms);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 2);
  advance(1ms);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 3);
  advance(2s);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 4);
  advance(4s);
  EXPECT_EQ(fetcher_.calls(kJwksUri), 5);
  EXPECT_EQ(store.current("corp"), good);

  // Until the keys are older than max_staleness they are kept.
  auto elapsed = [&] { return time_.monotonicTime() - MonotonicTime{}; };
  while (elapsed() + 10s <= 1h) {
    advance(10s);
    ASSERT_EQ(store.current("corp"), good);
  }
  advance(std::chrono::duration_cast<std::chrono::milliseconds>(1h - elapsed()));
  ASSERT_EQ(elapsed(), 1h);
  EXPECT_EQ(store.current("corp"), good);
  EXPECT_EQ(published_.count(), 1u);
  advance(10s);  // now older than max_staleness: an empty set is published
  ASSERT_EQ(published_.count(), 2u);
  ASSERT_NE(published_.last(), nullptr);
  EXPECT_TRUE(published_.last()->keys.empty());
  st = statsOf();
  EXPECT_TRUE(st.failed_closed);
  EXPECT_FALSE(st.has_keys);
  EXPECT_TRUE(st.stale);
  EXPECT_NE(logs.text().find("max_staleness"), std::string::npos);
  const uint64_t retries = st.fetch_failed;
  EXPECT_LE(retries, 25u);  // backoff capped at 5 min: about a dozen retries in an hour

  // The IdP comes back: keys are published again and the flags clear.
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k2"})));
  advance(5min);
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"k2"}));
  st = statsOf();
  EXPECT_FALSE(st.stale);
  EXPECT_FALSE(st.failed_closed);
  EXPECT_TRUE(st.has_keys);
}

TEST_F(KeyStoreTest, FailureBeforeFirstSuccessPublishesNothing) {
  fetcher_.set(kJwksUri, HttpResponse{503, "down", "text/plain", std::nullopt});
  KeyStore& store = make({jwtProvider()});
  store.runDueWork();
  advance(2h);
  EXPECT_EQ(published_.count(), 0u);
  const KeyStoreStats st = statsOf();
  EXPECT_FALSE(st.has_keys);
  EXPECT_FALSE(st.stale);
  EXPECT_GE(st.fetch_failed, 2u);
}

TEST_F(KeyStoreTest, JwksWithoutUsableKeysIsAFailure) {
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"})));
  KeyStore& store = make({jwtProvider()});
  store.runDueWork();
  const KeySetConstSharedPtr good = store.current("corp");
  fetcher_.set(kJwksUri, ok(R"({"keys":[]})"));
  advance(5min);
  EXPECT_EQ(store.current("corp"), good);
  EXPECT_TRUE(statsOf().stale);
  fetcher_.set(kJwksUri, ok(R"({"not":"a jwks"})"));
  advance(1s);
  EXPECT_EQ(store.current("corp"), good);
  EXPECT_EQ(statsOf().fetch_failed, 2u);
}

TEST_F(KeyStoreTest, SkippedKeysAreLoggedOncePerFetchWithProvider) {
  const std::string bad = R"({"kty":"EC","crv":"secp256k1","kid":"odd","x":"AA","y":"AA"})";
  fetcher_.set(kJwksUri, ok(jwksWithKids({"k1"}, {bad})));
  LogCapture logs;
  KeyStore& store = make({jwtProvider("skipper")});
  store.runDueWork();
  EXPECT_EQ(kidsOf(store.current("skipper")), (std::vector<std::string>{"k1"}));
  const std::string text = logs.text();
  const size_t at = text.find("skipped unusable keys");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_EQ(text.find("skipped unusable keys", at + 1), std::string::npos);
  const size_t line_end = text.find('\n', at);
  const size_t line_start = text.rfind('\n', at) + 1;
  const std::string line = text.substr(line_start, line_end - line_start);
  EXPECT_NE(line.find("skipper"), std::string::npos) << line;
  EXPECT_NE(line.find("\"level\":\"warn\""), std::string::npos) << line;
}

TEST_F(KeyStoreTest, SecretFileProvider) {
  const std::string secret = "0123456789abcdef0123456789abcdef-and-more";
  TempFile file(secret);
  config::ProviderConfig p = jwtProvider("hs");
  p.jwks_uri.clear();
  p.secret_file = file.path();
  p.algorithms = {"HS256"};
  LogCapture logs;
  KeyStore& store = make({p});
  store.runDueWork();
  const KeySetConstSharedPtr set = store.current("hs");
  ASSERT_NE(set, nullptr);
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].kty, "oct");
  EXPECT_EQ(set->keys[0].secret, secret);
  EXPECT_EQ(set->keys[0].public_key, nullptr);
  EXPECT_EQ(fetcher_.totalCalls(), 0);
  EXPECT_EQ(logs.text().find(secret), std::string::npos);
  // Loaded once: later passes do not publish again.
  advance(24h);
  EXPECT_EQ(published_.count(), 1u);
}

TEST_F(KeyStoreTest, ShortOrMissingSecretFileIsRefused) {
  TempFile short_secret("too-short");
  config::ProviderConfig a = jwtProvider("short");
  a.jwks_uri.clear();
  a.secret_file = short_secret.path();
  config::ProviderConfig b = jwtProvider("missing");
  b.jwks_uri.clear();
  b.secret_file = short_secret.path() + ".absent";
  LogCapture logs;
  KeyStore& store = make({a, b});
  store.runDueWork();
  EXPECT_EQ(published_.count(), 0u);
  EXPECT_EQ(statsOf("short").fetch_failed, 1u);
  EXPECT_EQ(statsOf("missing").fetch_failed, 1u);
  EXPECT_EQ(logs.text().find("too-short"), std::string::npos);
}

TEST_F(KeyStoreTest, JwksFileProvider) {
  TempFile file(jwksWithKids({"f1", "f2"}));
  config::ProviderConfig p = jwtProvider("file");
  p.jwks_uri.clear();
  p.jwks_file = file.path();
  KeyStore& store = make({p});
  store.runDueWork();
  EXPECT_EQ(kidsOf(store.current("file")), (std::vector<std::string>{"f1", "f2"}));
  EXPECT_EQ(fetcher_.totalCalls(), 0);
  EXPECT_EQ(statsOf("file").fetch_ok, 1u);
}

TEST_F(KeyStoreTest, FixtureJwksFileProvider) {
  const char* src = std::getenv("STEPGATE_SOURCE_DIR");
  const std::string path =
      std::string(src != nullptr ? src : STEPGATE_SOURCE_DIR) + "/tests/fixtures/jwt/jwks.json";
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    std::fclose(f);
  } else {
    GTEST_SKIP() << "no fixture at " << path;
  }
  config::ProviderConfig p = jwtProvider("fixture");
  p.jwks_uri.clear();
  p.jwks_file = path;
  KeyStore& store = make({p});
  store.runDueWork();
  const KeySetConstSharedPtr set = store.current("fixture");
  ASSERT_NE(set, nullptr);
  EXPECT_GE(set->keys.size(), 2u);
}

TEST_F(KeyStoreTest, IgnoresIntrospectionAndMtlsProviders) {
  config::ProviderConfig a = jwtProvider("intro");
  a.type = config::ProviderType::kIntrospection;
  config::ProviderConfig b = jwtProvider("mtls");
  b.type = config::ProviderType::kMtls;
  KeyStore& store = make({a, b});
  store.runDueWork();
  EXPECT_TRUE(store.stats().empty());
  EXPECT_EQ(fetcher_.totalCalls(), 0);
}

TEST_F(KeyStoreTest, ProvidersAreIndependent) {
  fetcher_.set(kJwksUri, ok(jwksWithKids({"a1"})));
  config::ProviderConfig other = jwtProvider("other");
  other.jwks_uri = "https://other.example.com/jwks";
  fetcher_.fail(other.jwks_uri);
  KeyStore& store = make({jwtProvider(), other});
  store.runDueWork();
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"a1"}));
  EXPECT_EQ(store.current("other"), nullptr);
  EXPECT_EQ(statsOf("other").fetch_failed, 1u);
  EXPECT_EQ(statsOf("corp").fetch_failed, 0u);
}

// The background thread: real time, publishes without runDueWork(), refetches on request,
// stops promptly.
TEST(KeyStoreThreadTest, StartPublishesRefetchesAndStops) {
  RealTimeSource time;
  FakeFetcher fetcher;
  fetcher.set(kJwksUri, ok(jwksWithKids({"k1"})));
  Published published;
  config::ProviderConfig p = jwtProvider();
  p.unknown_kid_min_interval = 0ms;
  KeyStore store({p}, time, fetcher, published.callback());
  store.start();
  {
    std::unique_lock<std::mutex> lock(published.mu);
    ASSERT_TRUE(published.cv.wait_for(lock, 10s, [&] { return published.calls.size() >= 1; }));
  }
  fetcher.set(kJwksUri, ok(jwksWithKids({"k1", "k2"})));
  ASSERT_TRUE(store.requestRefresh("corp", "k2"));
  {
    std::unique_lock<std::mutex> lock(published.mu);
    ASSERT_TRUE(published.cv.wait_for(lock, 10s, [&] { return published.calls.size() >= 2; }));
  }
  EXPECT_EQ(kidsOf(store.current("corp")), (std::vector<std::string>{"k1", "k2"}));
  const auto before = std::chrono::steady_clock::now();
  store.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  store.stop();  // idempotent
}

}  // namespace
}  // namespace stepgate::identity
