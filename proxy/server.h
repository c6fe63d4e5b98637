#pragma once
// Server: the control plane of `stepgate serve`. It loads the config, builds the Runtime
// snapshot (TLS contexts included), starts the workers and the admin listener, and runs the
// control loop on the calling thread:
//   SIGHUP          reload: load and validate the config file again and rebuild TLS contexts;
//                   on success post the new snapshot to every worker (established connections
//                   keep going); on error log it and keep the old one. Listener addresses
//                   cannot change on reload.
//   SIGTERM/SIGINT  graceful shutdown: /readyz turns 503, workers stop accepting, idle
//                   connections close, busy ones finish their current response; after
//                   proxy.drain_timeout the rest are closed.
// Ticket keys of TLS listeners rotate on this thread too.

#include <atomic>
#include <functional>
#include <string>

#include "common/status.h"
#include "config/schema.h"
#include "proxy/runtime.h"

namespace stepgate::proxy {

// Builds the immutable snapshot for `config`; fails if a certificate, key or CA can't be used.
[[nodiscard]] StatusOr<RuntimeConstSharedPtr> buildRuntime(config::ConfigConstSharedPtr config,
                                                          uint64_t generation);

struct ServerOptions {
  std::string config_path;
  // Called on the control thread once listeners and admin are up.
  std::function<void()> on_ready;
};

class Server {
 public:
  explicit Server(ServerOptions options) : options_(std::move(options)) {}
  // Runs until shutdown. Returns the process exit code (0 clean, 1 runtime failure,
  // 2 configuration error).
  int run();

 private:
  ServerOptions options_;
};

}  // namespace stepgate::proxy
