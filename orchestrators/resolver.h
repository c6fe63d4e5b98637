#pragma once
// Resolver: answers a profile's LookupKeys (an execution id → its workflow, a task id → its
// workflow and step) by asking the orchestrator's read API, for one upstream. One per upstream
// that has a profile with lookups; owned by the control plane and shared by every worker.
//
// Threads:
//  - start(), stop() and the destructor: the owning (control) thread.
//  - resolve(), remember(), stats(): any thread. resolve() never blocks on I/O: it takes a
//    mutex held only for a cache lookup and a queue push. Workers keep a small cache of their
//    own in front (proxy/worker.h), so a cached answer costs them no lock at all.
//  - The calls to the orchestrator run on the resolver's own threads (LookupConfig::threads),
//    through a LookupTransport (blocking; the proxy's is cpp-httplib over the upstream's
//    address, TLS settings and lookup credentials).
//  - Completions run on a resolver thread once the orchestrator answered (the proxy posts them
//    back to the worker that asked), or INLINE before resolve() returns when the answer is
//    already known: a cache hit, too many ids waiting, a kind without lookup, or after stop().
//
// What it guarantees:
//  - Single flight: concurrent resolve() calls for the same key share one orchestrator call,
//    and every completion gets the same result object.
//  - A bounded LRU cache (cache_entries) of answers: found answers for cache_ttl, "no such
//    id" answers (found == false from parseLookup) for negative_ttl; failures (transport
//    errors, 5xx, unparsable answers) are never cached.
//  - Fail closed: a failure, a timeout, a shed request or a stopped resolver all complete with
//    failure() (found == false, failed == true); the request is then denied `unresolved`.
//  - At most max_pending distinct keys wait; beyond that resolve() answers not-found inline.
//  - learnt entries (remember()) go into the same cache with cache_ttl.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/time_source.h"
#include "config/schema.h"
#include "orchestrators/profile.h"

namespace stepgate::orchestrators {

struct LookupResponse {
  int status = 0;
  std::string body;
};

// The blocking HTTP client the Resolver calls the orchestrator with. Called from several
// threads at once.
class LookupTransport {
 public:
  virtual ~LookupTransport() = default;
  // Sends `call`; Unavailable on a transport failure or timeout.
  [[nodiscard]] virtual StatusOr<LookupResponse> call(const LookupCall& call) = 0;
};

struct ResolverStats {
  uint64_t resolves = 0;   // resolve() calls
  uint64_t cache_hits = 0;
  uint64_t coalesced = 0;  // joined a call already queued or in flight
  uint64_t requests = 0;   // calls made to the orchestrator
  uint64_t found = 0;      // answers that resolved the id
  uint64_t not_found = 0;  // answers saying the id does not exist
  uint64_t failures = 0;   // transport failures, unusable answers, no lookup for the kind
  uint64_t shed = 0;       // answered not-found inline: too many waiting, or stopped
  uint64_t learned = 0;    // entries added by remember()
  size_t cache_size = 0;
};

// The canonical cache key of a LookupKey (kind, scope, id, id2 with separators that cannot
// occur in them ambiguously: each part is length-prefixed).
std::string lookupCacheKey(const LookupKey& key);

class Resolver {
 public:
  using Completion = std::function<void(LookupResultConstSharedPtr)>;

  // `profile` and `transport` are kept; `time` must outlive the Resolver.
  Resolver(ProfileConstSharedPtr profile, std::shared_ptr<LookupTransport> transport,
           const config::LookupConfig& config, TimeSource& time);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Starts the threads; keys resolved before start() wait in the queue.
  void start();
  // Completes everything queued with not-found, joins the threads. Idempotent.
  void stop();

  // Resolves `key` and calls `done` exactly once (inline in the cases listed above).
  void resolve(const LookupKey& key, Completion done);
  // The cached answer for `key` and until when it may be reused, or null. With `count`, the
  // call counts as a resolve (and a hit counts as a cache hit): for callers that ask the cache
  // before resolve().
  LookupResultConstSharedPtr cached(const LookupKey& key, MonotonicTime* valid_until = nullptr,
                                    bool count = false);
  // Adds an answer learnt from a relayed response.
  void remember(const Learned& learned);

  ResolverStats stats() const;
  const config::LookupConfig& config() const noexcept { return config_; }
  // The shared "could not be asked" answer (found == false, failed == true).
  static LookupResultConstSharedPtr failure();

 private:
  struct Pending {
    LookupKey key;
    std::vector<Completion> waiters;
  };
  struct CacheEntry {
    LookupResultConstSharedPtr result;
    MonotonicTime expires;
    std::list<std::string>::iterator lru;
  };

  void run();
  // Asks the orchestrator. Returns the answer and whether it may be cached.
  LookupResultConstSharedPtr call(const LookupKey& key, bool& cacheable);
  // REQUIRES: mu_ held.
  const CacheEntry* cacheFind(const std::string& k, MonotonicTime now);
  void cacheInsert(const std::string& k, LookupResultConstSharedPtr r, MonotonicTime expires);

  const ProfileConstSharedPtr profile_;
  const std::shared_ptr<LookupTransport> transport_;
  const config::LookupConfig config_;
  TimeSource& time_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;                                 // guarded by mu_
  bool stopping_ = false;                                // guarded by mu_
  std::deque<std::string> queue_;                        // guarded by mu_
  std::unordered_map<std::string, Pending> pending_;     // guarded by mu_
  std::list<std::string> lru_;                           // guarded by mu_: recent first
  std::unordered_map<std::string, CacheEntry> cache_;    // guarded by mu_
  ResolverStats stats_;                                  // guarded by mu_
  std::vector<std::thread> threads_;
};

using ResolverSharedPtr = std::shared_ptr<Resolver>;

}  // namespace stepgate::orchestrators
