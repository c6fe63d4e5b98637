#pragma once
// Worker: one thread, one Dispatcher, its own SO_REUSEPORT listening sockets, its client
// connections, its upstream pools and its WorkerStats. Nothing here is shared with another
// worker; the control thread talks to a worker only through post().
//
// Lifecycle (control thread): construct → bindListeners() → start() → ... → beginDrain()
// (stop accepting; idle connections close; busy ones close after their current response;
// the loop ends when none is left) → join(). forceStop() ends the loop at once (drain
// deadline passed).

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/c_ptr.h"
#include "common/status.h"
#include "audit/log.h"
#include "audit/record.h"
#include "identity/authenticator.h"
#include "identity/stepgate_issuer.h"
#include "proxy/dispatcher.h"
#include "proxy/runtime.h"
#include "proxy/stats.h"
#include "proxy/upstream/pool.h"

struct evconnlistener;
extern "C" void evconnlistener_free(evconnlistener*);

namespace stepgate::proxy {

class Connection;

class Worker {
 public:
  Worker(size_t index, RuntimeConstSharedPtr runtime, WorkerStats& stats);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens this worker's listening sockets (SO_REUSEPORT). Control thread, before start().
  [[nodiscard]] Status bindListeners();
  void start();
  void join();
  // Called on the worker thread when its loop has ended. Set before start().
  void setOnExit(std::function<void()> fn) { on_exit_ = std::move(fn); }

  // The audit log's producer for this worker, the credential hasher and the mode (strict:
  // requests wait for their record). Control thread, before start(); null: no audit log.
  void setAudit(audit::Producer* producer, const audit::CredentialHasher* hasher, bool strict) {
    audit_ = producer;
    audit_hasher_ = hasher;
    audit_strict_ = strict;
  }

  // Control thread: all of these post to the worker.
  void updateRuntime(RuntimeConstSharedPtr runtime);
  // A Runtime that differs from the current one only in its policy set: swapped in without
  // rebuilding pools or the authenticator. Connections pick it up at their next request.
  void updatePolicy(RuntimeConstSharedPtr runtime);
  // A provider's new keys (from the KeyStore's publish callback). Wakes requests waiting for
  // that provider's keys.
  void updateKeys(std::string provider, identity::KeySetConstSharedPtr keys);
  void beginDrain();
  void forceStop();

  // Worker thread only below.
  Dispatcher& dispatcher() { return dispatcher_; }
  WorkerStats& stats() { return stats_; }
  const RuntimeConstSharedPtr& runtime() const { return runtime_; }
  UpstreamPool& pool(size_t upstream_index) { return *pools_[upstream_index]; }
  identity::Authenticator& authenticator() { return *authenticator_; }
  // Decoded browser session cookies of this worker (proxy/sso_endpoints.h).
  SessionCache& sessionCache() { return session_cache_; }
  // A connection whose request waits for a key refetch; resumed by updateKeys() or its timer.
  void parkForKeys(Connection* conn) { parked_.push_back(conn); }
  void unpark(Connection* conn);
  // A connection waiting for an introspection answer, by a wait id unique on this worker.
  uint64_t addIntrospectionWait(Connection* conn);
  void removeIntrospectionWait(uint64_t id) { introspection_waits_.erase(id); }
  // Posted by the Introspector's completion: resumes the connection if it still waits.
  void completeIntrospection(uint64_t id, identity::IntrospectionResult result);

  // A connection waiting for the OIDC provider (sign-in code exchange or refresh).
  uint64_t addSsoWait(Connection* conn);
  void removeSsoWait(uint64_t id) { sso_waits_.erase(id); }
  // Posted by the OidcLoginService's completion: resumes the connection if it still waits.
  void completeSso(uint64_t id, StatusOr<identity::TokenResponse> tokens);
  // A connection waiting for execution lookups (orchestrators/resolver.h), by wait id.
  uint64_t addLookupWait(Connection* conn);
  void removeLookupWait(uint64_t id) { lookup_waits_.erase(id); }
  // Posted by the Resolver's completion: hands answer `slot` to the connection if it still
  // waits.
  void completeLookup(uint64_t id, size_t slot, orchestrators::LookupResultConstSharedPtr r);
  // This worker's own cache of lookup answers, in front of the Resolver's shared one: a hit
  // takes no lock. Bounded (kLookupCacheEntries; cleared when full); entries keep the expiry
  // the Resolver gave them.
  static constexpr size_t kLookupCacheEntries = 4096;
  orchestrators::LookupResultConstSharedPtr cachedLookup(const std::string& key);
  void cacheLookup(const std::string& key, orchestrators::LookupResultConstSharedPtr r,
                   MonotonicTime valid_until);
  // The audit log (null: none), its hasher, and whether requests wait for durability.
  audit::Producer* auditProducer() { return audit_; }
  const audit::CredentialHasher* auditHasher() const { return audit_hasher_; }
  bool auditStrict() const { return audit_strict_; }
  // A connection waiting for its audit record to be durable, by wait id (the record's cookie).
  uint64_t addAuditWait(Connection* conn);
  void removeAuditWait(uint64_t id) { audit_waits_.erase(id); }
  // Posted by the audit log's DurableCallback: resumes the connections still waiting.
  void completeAudit(const std::vector<uint64_t>& cookies, bool ok);
  // Upstream identity assertions already signed, reused for half their lifetime.
  identity::UpstreamAssertionCache& assertionCache() { return assertion_cache_; }
  bool draining() const { return draining_; }
  // The in-flight upstream request count (max_inflight_upstream).
  uint32_t& inflight() { return inflight_; }
  // 32 lowercase hex characters, unique per request (not a secret).
  void newRequestId(char out[33]);
  // Called by a connection that has closed; it is deleted at the end of the loop iteration.
  void removeConnection(Connection* conn);

 private:
  static void onAccept(evconnlistener* l, int fd, sockaddr* addr, int len, void* arg);
  void accept(size_t listener_index, int fd, const sockaddr* addr, int len);
  void buildPools(RuntimeConstSharedPtr previous);
  void buildAuthenticator();
  void maybeFinishDrain();

  size_t index_;
  Dispatcher dispatcher_;
  RuntimeConstSharedPtr runtime_;
  WorkerStats& stats_;
  std::vector<CPtr<evconnlistener, evconnlistener_free>> listeners_;
  struct ListenerArg {
    Worker* worker;
    size_t index;
  };
  std::vector<std::unique_ptr<ListenerArg>> listener_args_;
  std::vector<UpstreamPoolPtr> pools_;
  struct RetiredPool {
    UpstreamPoolPtr pool;
    RuntimeConstSharedPtr runtime;  // keeps the config the pool refers to alive
  };
  std::vector<RetiredPool> retired_pools_;
  std::list<std::unique_ptr<Connection>> connections_;
  identity::AuthenticatorPtr authenticator_;
  SessionCache session_cache_;
  std::vector<Connection*> parked_;
  std::unordered_map<uint64_t, Connection*> introspection_waits_;
  std::unordered_map<uint64_t, Connection*> sso_waits_;
  std::unordered_map<uint64_t, Connection*> lookup_waits_;
  std::unordered_map<uint64_t, Connection*> audit_waits_;
  identity::UpstreamAssertionCache assertion_cache_;
  audit::Producer* audit_ = nullptr;
  const audit::CredentialHasher* audit_hasher_ = nullptr;
  bool audit_strict_ = true;
  struct CachedLookup {
    orchestrators::LookupResultConstSharedPtr result;
    MonotonicTime valid_until;
  };
  std::unordered_map<std::string, CachedLookup> lookup_cache_;
  uint64_t next_wait_id_ = 1;
  uint32_t inflight_ = 0;
  uint64_t rng_state_;
  bool draining_ = false;
  std::function<void()> on_exit_;
  std::thread thread_;
};

using WorkerPtr = std::unique_ptr<Worker>;

}  // namespace stepgate::proxy
