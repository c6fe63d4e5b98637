// Resolver: cache, single flight, TTLs, failures and shedding, against a scripted transport
// and a small profile with one lookup kind.
#include "orchestrators/resolver.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

namespace stepgate::orchestrators {
namespace {

// GET /things/{id}: 200 {"workflow": "..."} found, 404 not found, anything else a failure.
class ThingProfile final : public Profile {
 public:
  void classify(const RequestView&, Classification& out) const override { out.reset("t"); }
  bool lookupCall(const LookupKey& key, LookupCall& out) const override {
    if (key.kind != 1) return false;
    out.target = "/things/" + key.id;
    return true;
  }
  bool parseLookup(const LookupKey&, int status, std::string_view body,
                   LookupResult& out) const override {
    if (status == 404) {
      out.found = false;
      return true;
    }
    if (status != 200 || body.empty()) return false;
    out.found = true;
    out.workflow = std::string(body);
    return true;
  }
  std::vector<OperationInfo> operations() const override { return {}; }
};

// Answers from a map; can hold every call until released, and counts calls.
class FakeTransport final : public LookupTransport {
 public:
  StatusOr<LookupResponse> call(const LookupCall& call) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++calls_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return !hold_; });
    }
    if (call.target == "/things/down") return unavailable("connection refused");
    if (call.target == "/things/bad") return LookupResponse{500, "oops"};
    if (call.target == "/things/gone") return LookupResponse{404, ""};
    return LookupResponse{200, "wf-" + call.target.substr(8)};
  }
  void hold(bool h) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = h;
    cv_.notify_all();
  }
  void waitForCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return calls_ >= n; });
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int calls_ = 0;
};

struct Fixture {
  explicit Fixture(config::LookupConfig c = {}) : config(c) {
    resolver = std::make_unique<Resolver>(std::make_shared<ThingProfile>(), transport, config, time);
    resolver->start();
  }
  LookupResultConstSharedPtr resolveSync(const std::string& id, uint8_t kind = 1) {
    std::promise<LookupResultConstSharedPtr> p;
    LookupKey k;
    k.kind = kind;
    k.id = id;
    resolver->resolve(k, [&p](LookupResultConstSharedPtr r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  config::LookupConfig config;
  ManualTimeSource time;
  std::shared_ptr<FakeTransport> transport = std::make_shared<FakeTransport>();
  std::unique_ptr<Resolver> resolver;
};

TEST(ResolverTest, FoundAnswersAreCachedForTheTtl) {
  config::LookupConfig c;
  c.cache_ttl = std::chrono::seconds(60);
  Fixture f(c);
  auto r = f.resolveSync("a");
  ASSERT_TRUE(r->found);
  EXPECT_EQ(r->workflow, "wf-a");
  EXPECT_EQ(f.resolveSync("a"), r);  // the same object, from the cache
  EXPECT_EQ(f.transport->calls(), 1);
  f.time.advance(std::chrono::seconds(61));
  EXPECT_TRUE(f.resolveSync("a")->found);
  EXPECT_EQ(f.transport->calls(), 2);
  const ResolverStats s = f.resolver->stats();
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.found, 2u);
}

TEST(ResolverTest, NotFoundIsCachedForTheNegativeTtlOnly) {
  config::LookupConfig c;
  c.negative_ttl = std::chrono::seconds(5);
  Fixture f(c);
  EXPECT_FALSE(f.resolveSync("gone")->found);
  EXPECT_FALSE(f.resolveSync("gone")->failed);  // unknown, not a failure
  EXPECT_EQ(f.transport->calls(), 1);
  f.time.advance(std::chrono::seconds(6));
  EXPECT_FALSE(f.resolveSync("gone")->found);
  EXPECT_EQ(f.transport->calls(), 2);
  EXPECT_EQ(f.resolver->stats().not_found, 2u);
}

TEST(ResolverTest, FailuresAreNeverCachedAndFailClosed) {
  Fixture f;
  EXPECT_TRUE(f.resolveSync("down")->failed);
  EXPECT_TRUE(f.resolveSync("bad")->failed);
  EXPECT_FALSE(f.resolveSync("down")->found);
  EXPECT_EQ(f.transport->calls(), 3);
  EXPECT_EQ(f.resolver->stats().failures, 3u);
  EXPECT_EQ(f.resolver->stats().cache_size, 0u);
}

TEST(ResolverTest, AKindWithoutLookupIsNotFoundWithoutACall) {
  Fixture f;
  EXPECT_FALSE(f.resolveSync("a", /*kind=*/7)->found);
  EXPECT_EQ(f.transport->calls(), 0);
}

TEST(ResolverTest, ConcurrentResolvesShareOneCall) {
  Fixture f;
  f.transport->hold(true);
  std::atomic<int> done{0};
  std::vector<LookupResultConstSharedPtr> got(20);
  LookupKey k;
  k.kind = 1;
  k.id = "x";
  for (int i = 0; i < 20; ++i) {
    f.resolver->resolve(k, [&, i](LookupResultConstSharedPtr r) {
      got[static_cast<size_t>(i)] = std::move(r);
      done.fetch_add(1);
    });
  }
  f.transport->waitForCalls(1);
  f.transport->hold(false);
  while (done.load() < 20) std::this_thread::yield();
  EXPECT_EQ(f.transport->calls(), 1);
  for (const auto& r : got) EXPECT_EQ(r, got[0]);
  EXPECT_EQ(f.resolver->stats().coalesced, 19u);
}

TEST(ResolverTest, TooManyWaitingKeysAreShedInline) {
  config::LookupConfig c;
  c.max_pending = 2;
  c.threads = 1;
  Fixture f(c);
  f.transport->hold(true);
  std::atomic<int> done{0};
  for (const char* id : {"p", "q"}) {
    LookupKey k;
    k.kind = 1;
    k.id = id;
    f.resolver->resolve(k, [&](LookupResultConstSharedPtr) { done.fetch_add(1); });
  }
  bool inline_answer = false;
  LookupKey k;
  k.kind = 1;
  k.id = "r";
  f.resolver->resolve(k, [&](LookupResultConstSharedPtr r) { inline_answer = !r->found; });
  EXPECT_TRUE(inline_answer);
  EXPECT_EQ(f.resolver->stats().shed, 1u);
  f.transport->hold(false);
  while (done.load() < 2) std::this_thread::yield();
}

TEST(ResolverTest, StopCompletesQueuedKeysAsNotFound) {
  config::LookupConfig c;
  c.threads = 1;
  Fixture f(c);
  f.transport->hold(true);
  std::atomic<int> not_found{0};
  for (const char* id : {"first", "second", "third"}) {
    LookupKey k;
    k.kind = 1;
    k.id = id;
    f.resolver->resolve(k, [&](LookupResultConstSharedPtr r) {
      if (!r->found) not_found.fetch_add(1);
    });
  }
  f.transport->waitForCalls(1);
  std::thread stopper([&] { f.resolver->stop(); });
  // The two queued keys complete at once; the one in flight when its call returns.
  while (not_found.load() < 2) std::this_thread::yield();
  f.transport->hold(false);
  stopper.join();
  EXPECT_EQ(not_found.load(), 2);
  EXPECT_FALSE(f.resolveSync("after")->found);  // stopped: inline not-found
}

TEST(ResolverTest, LearnedEntriesAnswerWithoutACall) {
  Fixture f;
  Learned l;
  l.key.kind = 1;
  l.key.id = "new";
  l.result.found = true;
  l.result.workflow = "learnt";
  f.resolver->remember(l);
  auto r = f.resolveSync("new");
  EXPECT_EQ(r->workflow, "learnt");
  EXPECT_EQ(f.transport->calls(), 0);
  EXPECT_EQ(f.resolver->stats().learned, 1u);
}

TEST(ResolverTest, CacheIsBoundedLru) {
  config::LookupConfig c;
  c.cache_entries = 2;
  Fixture f(c);
  f.resolveSync("a");
  f.resolveSync("b");
  f.resolveSync("a");  // a is now the most recent
  f.resolveSync("c");  // evicts b
  EXPECT_EQ(f.resolver->stats().cache_size, 2u);
  EXPECT_EQ(f.transport->calls(), 3);
  f.resolveSync("a");
  EXPECT_EQ(f.transport->calls(), 3);
  f.resolveSync("b");
  EXPECT_EQ(f.transport->calls(), 4);
}

TEST(ResolverTest, CacheKeysDoNotCollide) {
  LookupKey a, b;
  a.scope = "ns|1";
  a.id = "x";
  b.scope = "ns";
  b.id = "1|x";
  EXPECT_NE(lookupCacheKey(a), lookupCacheKey(b));
}

}  // namespace
}  // namespace stepgate::orchestrators
