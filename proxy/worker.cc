#include "proxy/worker.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/logging.h"
#include "proxy/connection.h"

namespace stepgate::proxy {
namespace {

uint64_t seedFromKernel() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = static_cast<uint64_t>(getpid());
  return seed;
}

}  // namespace

Worker::Worker(size_t index, RuntimeConstSharedPtr runtime, WorkerStats& stats)
    : index_(index), runtime_(std::move(runtime)), stats_(stats), rng_state_(seedFromKernel()) {
  buildPools(nullptr);
  buildAuthenticator();
}

Worker::~Worker() {
  join();
  connections_.clear();
  listeners_.clear();
  pools_.clear();
  retired_pools_.clear();
}

void Worker::buildPools(RuntimeConstSharedPtr previous) {
  const config::Config& cfg = *runtime_->config;
  for (auto& p : pools_) {
    p->retire();
    if (p->active() > 0) retired_pools_.push_back({std::move(p), previous});
  }
  pools_.clear();
  for (size_t i = 0; i < cfg.upstreams.size(); ++i) {
    pools_.push_back(std::make_unique<UpstreamPool>(dispatcher_, cfg.upstreams[i], cfg.limits,
                                                    runtime_->upstream_tls[i], stats_));
  }
}

void Worker::buildAuthenticator() {
  authenticator_ = std::make_unique<identity::Authenticator>(runtime_->config->identity);
  // Start from the keys the store already has, so a reload does not open a gap.
  if (runtime_->key_store) {
    for (const auto& p : runtime_->config->identity.providers) {
      if (auto keys = runtime_->key_store->current(p.name)) authenticator_->setKeys(p.name, keys);
    }
  }
  if (runtime_->issuer_keys) {
    for (const auto& p : runtime_->config->identity.providers) {
      if (p.local_issuer) authenticator_->setKeys(p.name, runtime_->issuer_keys);
    }
  }
}

void Worker::unpark(Connection* conn) {
  parked_.erase(std::remove(parked_.begin(), parked_.end(), conn), parked_.end());
}

uint64_t Worker::addIntrospectionWait(Connection* conn) {
  const uint64_t id = next_wait_id_++;
  introspection_waits_.emplace(id, conn);
  return id;
}

void Worker::completeIntrospection(uint64_t id, identity::IntrospectionResult result) {
  auto it = introspection_waits_.find(id);
  if (it == introspection_waits_.end()) return;  // the connection went away meanwhile
  Connection* conn = it->second;
  introspection_waits_.erase(it);
  conn->resumeAfterIntrospection(std::move(result));
}

uint64_t Worker::addSsoWait(Connection* conn) {
  const uint64_t id = next_wait_id_++;
  sso_waits_.emplace(id, conn);
  return id;
}

void Worker::completeSso(uint64_t id, StatusOr<identity::TokenResponse> tokens) {
  auto it = sso_waits_.find(id);
  if (it == sso_waits_.end()) return;  // the connection went away or timed out meanwhile
  Connection* conn = it->second;
  sso_waits_.erase(it);
  conn->resumeAfterSso(std::move(tokens));
}

uint64_t Worker::addLookupWait(Connection* conn) {
  const uint64_t id = next_wait_id_++;
  lookup_waits_.emplace(id, conn);
  return id;
}

void Worker::completeLookup(uint64_t id, size_t slot,
                            orchestrators::LookupResultConstSharedPtr r) {
  auto it = lookup_waits_.find(id);
  if (it == lookup_waits_.end()) return;  // the connection went away or timed out meanwhile
  it->second->resumeAfterLookup(id, slot, std::move(r));
}

uint64_t Worker::addAuditWait(Connection* conn) {
  const uint64_t id = next_wait_id_++;
  audit_waits_.emplace(id, conn);
  return id;
}

void Worker::completeAudit(const std::vector<uint64_t>& cookies, bool ok) {
  for (uint64_t id : cookies) {
    auto it = audit_waits_.find(id);
    if (it == audit_waits_.end()) continue;  // closed meanwhile
    Connection* conn = it->second;
    audit_waits_.erase(it);
    conn->resumeAfterAudit(id, ok);
  }
}

orchestrators::LookupResultConstSharedPtr Worker::cachedLookup(const std::string& key) {
  auto it = lookup_cache_.find(key);
  if (it == lookup_cache_.end()) return nullptr;
  if (it->second.valid_until <= std::chrono::steady_clock::now()) {
    lookup_cache_.erase(it);
    return nullptr;
  }
  return it->second.result;
}

void Worker::cacheLookup(const std::string& key, orchestrators::LookupResultConstSharedPtr r,
                         MonotonicTime valid_until) {
  if (lookup_cache_.size() >= kLookupCacheEntries) lookup_cache_.clear();
  lookup_cache_[key] = CachedLookup{std::move(r), valid_until};
}

void Worker::updateKeys(std::string provider, identity::KeySetConstSharedPtr keys) {
  dispatcher_.post([this, provider = std::move(provider), keys = std::move(keys)]() mutable {
    authenticator_->setKeys(provider, std::move(keys));
    std::vector<Connection*> waiting;
    waiting.swap(parked_);
    for (Connection* c : waiting) c->resumeAfterKeys();
  });
}

Status Worker::bindListeners() {
  const config::Config& cfg = *runtime_->config;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::ListenerConfig& l = cfg.listeners[i];
    const int fd = socket(l.address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return unavailable(l.address_text + ": socket: " + strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (l.address.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, l.address.sa(), l.address.length) != 0) {
      const std::string err = strerror(errno);
      close(fd);
      return unavailable("cannot listen on " + l.address_text + ": " + err);
    }
    if (listen(fd, 1024) != 0) {
      const std::string err = strerror(errno);
      close(fd);
      return unavailable("cannot listen on " + l.address_text + ": " + err);
    }
    auto arg = std::make_unique<ListenerArg>(ListenerArg{this, i});
    evconnlistener* lev = evconnlistener_new(dispatcher_.base(), &Worker::onAccept, arg.get(),
                                             LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (lev == nullptr) {
      close(fd);
      return unavailable("cannot listen on " + l.address_text);
    }
    listeners_.emplace_back(lev);
    listener_args_.push_back(std::move(arg));
  }
  return okStatus();
}

void Worker::start() {
  thread_ = std::thread([this] {
    dispatcher_.run();
    // The loop has ended: close what is left while the dispatcher still exists, and let
    // libevent finish closing sockets now rather than when the process exits.
    connections_.clear();
    listeners_.clear();
    dispatcher_.runPending();
    if (on_exit_) on_exit_();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::onAccept(evconnlistener*, int fd, sockaddr* addr, int len, void* arg) {
  auto* la = static_cast<ListenerArg*>(arg);
  la->worker->accept(la->index, fd, addr, len);
}

void Worker::accept(size_t listener_index, int fd, const sockaddr* addr, int len) {
  const config::Config& cfg = *runtime_->config;
  if (draining_ || connections_.size() >= cfg.limits.max_connections_per_worker) {
    WorkerStats::inc(stats_.connections_rejected);
    close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SSL* ssl = nullptr;
  if (const auto& tls = runtime_->listener_tls[listener_index]) {
    ssl = tls->newSsl();
    if (ssl == nullptr) {
      WorkerStats::inc(stats_.tls_handshake_failures);
      close(fd);
      return;
    }
  }
  WorkerStats::inc(stats_.connections_accepted);
  auto conn = std::make_unique<Connection>(*this, fd, socketAddressFrom(addr, static_cast<socklen_t>(len)),
                                           listener_index, ssl);
  Connection* raw = conn.get();
  connections_.push_front(std::move(conn));
  raw->list_pos = connections_.begin();
  raw->start();
}

void Worker::removeConnection(Connection* conn) {
  WorkerStats::inc(stats_.connections_closed);
  auto it = conn->list_pos;
  std::unique_ptr<Connection> owned = std::move(*it);
  connections_.erase(it);
  dispatcher_.deferredDelete(std::move(owned));
  // Retired pools go once their last active connection is back.
  for (auto p = retired_pools_.begin(); p != retired_pools_.end();) {
    if (p->pool->active() == 0) {
      p = retired_pools_.erase(p);
    } else {
      ++p;
    }
  }
  maybeFinishDrain();
}

void Worker::newRequestId(char out[33]) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    // splitmix64: fast, well distributed; request ids are unique labels, not secrets.
    uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (int i = 0; i < 16; ++i) out[half * 16 + i] = kHex[(z >> (i * 4)) & 0xF];
  }
  out[32] = '\0';
}

void Worker::updateRuntime(RuntimeConstSharedPtr runtime) {
  dispatcher_.post([this, runtime = std::move(runtime)]() mutable {
    RuntimeConstSharedPtr previous = std::move(runtime_);
    runtime_ = std::move(runtime);
    buildPools(std::move(previous));
    buildAuthenticator();
    std::vector<Connection*> waiting;
    waiting.swap(parked_);
    for (Connection* c : waiting) c->resumeAfterKeys();
    log::info("worker", "configuration applied",
              {{"worker", static_cast<int64_t>(index_)},
               {"generation", static_cast<int64_t>(runtime_->generation)}});
  });
}

void Worker::updatePolicy(RuntimeConstSharedPtr runtime) {
  dispatcher_.post([this, runtime = std::move(runtime)]() mutable {
    // Pools and the authenticator refer to the config, which the new Runtime shares; the old
    // Runtime stays alive while a connection still holds it.
    if (runtime->config != runtime_->config) return;  // a full reload overtook this one
    runtime_ = std::move(runtime);
  });
}

void Worker::beginDrain() {
  dispatcher_.post([this] {
    draining_ = true;
    listeners_.clear();
    // Closing connections removes them from the list: iterate over a snapshot.
    std::vector<Connection*> snapshot;
    for (auto& c : connections_) snapshot.push_back(c.get());
    for (Connection* c : snapshot) c->drain();
    maybeFinishDrain();
  });
}

void Worker::maybeFinishDrain() {
  if (draining_ && connections_.empty()) dispatcher_.exit();
}

void Worker::forceStop() {
  dispatcher_.post([this] { dispatcher_.exit(); });
}

}  // namespace stepgate::proxy
