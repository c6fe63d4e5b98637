#include "orchestrators/resolver.h"

#include <utility>

#include "common/logging.h"

namespace stepgate::orchestrators {

namespace {

void appendPart(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out += part;
}

}  // namespace

std::string lookupCacheKey(const LookupKey& key) {
  std::string k;
  k.reserve(16 + key.scope.size() + key.id.size() + key.id2.size());
  k += std::to_string(key.kind);
  k += '|';
  appendPart(k, key.scope);
  appendPart(k, key.id);
  appendPart(k, key.id2);
  return k;
}

LookupResultConstSharedPtr Resolver::failure() {
  static const LookupResultConstSharedPtr kFailure = [] {
    auto r = std::make_shared<LookupResult>();
    r->failed = true;
    return LookupResultConstSharedPtr(std::move(r));
  }();
  return kFailure;
}

Resolver::Resolver(ProfileConstSharedPtr profile, std::shared_ptr<LookupTransport> transport,
                   const config::LookupConfig& config, TimeSource& time)
    : profile_(std::move(profile)),
      transport_(std::move(transport)),
      config_(config),
      time_(time) {}

Resolver::~Resolver() { stop(); }

void Resolver::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  const uint32_t n = config_.threads == 0 ? 1 : config_.threads;
  for (uint32_t i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
}

void Resolver::stop() {
  std::unordered_map<std::string, Pending> abandoned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    // Keys still queued will never be called: complete them now. Keys in flight stay in
    // pending_ and complete when their call returns.
    for (const std::string& k : queue_) {
      auto it = pending_.find(k);
      if (it != pending_.end()) {
        abandoned.emplace(k, std::move(it->second));
        pending_.erase(it);
      }
    }
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& [k, p] : abandoned) {
    for (Completion& c : p.waiters) c(failure());
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

const Resolver::CacheEntry* Resolver::cacheFind(const std::string& k, MonotonicTime now) {
  auto it = cache_.find(k);
  if (it == cache_.end()) return nullptr;
  if (it->second.expires <= now) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second;
}

void Resolver::cacheInsert(const std::string& k, LookupResultConstSharedPtr r,
                           MonotonicTime expires) {
  if (config_.cache_entries == 0) return;
  if (auto it = cache_.find(k); it != cache_.end()) {
    it->second.result = std::move(r);
    it->second.expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  while (cache_.size() >= config_.cache_entries && !lru_.empty()) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(k);
  cache_.emplace(k, CacheEntry{std::move(r), expires, lru_.begin()});
}

LookupResultConstSharedPtr Resolver::cached(const LookupKey& key, MonotonicTime* valid_until,
                                            bool count) {
  const std::string k = lookupCacheKey(key);
  std::lock_guard<std::mutex> lock(mu_);
  const CacheEntry* e = cacheFind(k, time_.monotonicTime());
  if (e == nullptr) return nullptr;
  if (count) {
    ++stats_.resolves;
    ++stats_.cache_hits;
  }
  if (valid_until != nullptr) *valid_until = e->expires;
  return e->result;
}

void Resolver::resolve(const LookupKey& key, Completion done) {
  std::string k = lookupCacheKey(key);
  LookupResultConstSharedPtr inline_answer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.resolves;
    if (const CacheEntry* e = cacheFind(k, time_.monotonicTime())) {
      ++stats_.cache_hits;
      inline_answer = e->result;
    } else if (stopping_) {
      ++stats_.shed;
      inline_answer = failure();
    } else if (auto it = pending_.find(k); it != pending_.end()) {
      ++stats_.coalesced;
      it->second.waiters.push_back(std::move(done));
      return;
    } else if (pending_.size() >= config_.max_pending) {
      ++stats_.shed;
      inline_answer = failure();
    } else {
      Pending p;
      p.key = key;
      p.waiters.push_back(std::move(done));
      pending_.emplace(k, std::move(p));
      queue_.push_back(std::move(k));
    }
  }
  if (inline_answer) {
    done(std::move(inline_answer));
    return;
  }
  cv_.notify_one();
}

void Resolver::remember(const Learned& learned) {
  const std::string k = lookupCacheKey(learned.key);
  auto r = std::make_shared<const LookupResult>(learned.result);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.learned;
  cacheInsert(k, std::move(r), time_.monotonicTime() + config_.cache_ttl);
}

LookupResultConstSharedPtr Resolver::call(const LookupKey& key, bool& cacheable) {
  cacheable = false;
  LookupCall request;
  if (!profile_->lookupCall(key, request)) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.failures;
    return failure();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.requests;
  }
  auto response = transport_->call(request);
  auto result = std::make_shared<LookupResult>();
  bool usable = false;
  if (response.isOk()) {
    usable = profile_->parseLookup(key, response->status, response->body, *result);
  }
  result->failed = false;  // a usable answer
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable) {
    ++stats_.failures;
    if (log::enabled(log::Level::kWarn)) {
      log::write(log::Level::kWarn, "resolver", "lookup failed",
                 {{"status", response.isOk() ? std::to_string(response->status)
                                             : std::string("transport")},
                  {"error", response.isOk() ? std::string() : response.status().message()}});
    }
    return failure();
  }
  cacheable = true;
  ++(result->found ? stats_.found : stats_.not_found);
  return result;
}

void Resolver::run() {
  while (true) {
    std::string k;
    LookupKey key;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      k = std::move(queue_.front());
      queue_.pop_front();
      key = pending_.at(k).key;
    }
    bool cacheable = false;
    LookupResultConstSharedPtr result = call(key, cacheable);
    std::vector<Completion> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cacheable) {
        const auto ttl = result->found ? config_.cache_ttl : config_.negative_ttl;
        if (ttl.count() > 0) cacheInsert(k, result, time_.monotonicTime() + ttl);
      }
      auto it = pending_.find(k);
      if (it != pending_.end()) {
        waiters = std::move(it->second.waiters);
        pending_.erase(it);
      }
    }
    for (Completion& c : waiters) c(result);
  }
}

ResolverStats Resolver::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ResolverStats s = stats_;
  s.cache_size = cache_.size();
  return s;
}

}  // namespace stepgate::orchestrators
