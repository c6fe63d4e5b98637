#pragma once
// AdminServer: the admin listener. Serves liveness, readiness and Prometheus metrics over
// plain HTTP on a thread of its own (cpp-httplib, a pool of two threads), never on a worker.
//
//   GET /healthz  200 "ok\n" while the process is alive
//   GET /readyz   200 "ready\n" when ready() is true, else 503 "not ready\n"; with a
//                 ready_detail callback, its text follows "ready\n" (e.g. the policy version)
//   GET /metrics  200 StatsRegistry::renderPrometheus(), text format 0.0.4
//
// HEAD is answered like GET without a body; other methods get 405, other paths 404.
// Requests time out after 5 s of read or write inactivity; bodies over 1 KiB are refused.
//
// Ownership and threads: the caller owns the AdminServer; `stats` and whatever `ready`
// refers to must outlive it. `ready` is called on the admin threads, so it must be
// thread-safe (an atomic load). start() and stop() are called from the controlling thread;
// port() from any thread. The destructor stops the server.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/net_address.h"
#include "common/status.h"
#include "proxy/stats.h"

namespace stepgate::proxy {

class AdminServer;
using AdminServerPtr = std::unique_ptr<AdminServer>;

class AdminServer {
 public:
  // Binds `addr` (port 0 picks a free port) and starts serving.
  // @return the running server, or Unavailable if the address cannot be bound (in use).
  [[nodiscard]] static StatusOr<AdminServerPtr> start(
      const SocketAddress& addr, const StatsRegistry& stats, std::function<bool()> ready,
      std::function<std::string()> ready_detail = {});

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  ~AdminServer();

  // The bound port; the actual one when started on port 0.
  uint16_t port() const noexcept;

  // Stops accepting, finishes in-flight requests and joins the server thread. Idempotent.
  void stop() noexcept;

 private:
  class Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace stepgate::proxy
