#pragma once
// ServerThread: binds a cpp-httplib server to one address and runs its accept loop on a
// thread of its own, for the control-plane servers (admin listener, demo orchestrator).
// Templated on the server type so that <httplib.h> stays in the .cc files that instantiate
// it. The owner configures routes, timeouts and the task queue before calling start(), and
// must keep the server alive until stop() has returned. start() and stop() are called from
// one controlling thread; port() may be read from any thread once start() has returned.

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>

#include "common/net_address.h"
#include "common/status.h"

namespace stepgate::proxy {

template <typename HttpServer>
class ServerThread {
 public:
  ServerThread() = default;
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;
  ~ServerThread() { stop(); }

  // Binds `server` to `addr` (port 0 picks a free port) and starts serving. Returns an
  // error if the address is taken or cannot be bound. Does not return before the accept
  // loop runs, so a stop() that follows at once cannot be lost.
  // REQUIRES: `server` outlives this object or the next stop(), whichever comes first.
  [[nodiscard]] Status start(HttpServer& server, const SocketAddress& addr) {
    try {
      // cpp-httplib sets SO_REUSEPORT by default, which would let a second process share
      // the port silently; a control listener must fail instead.
      server.set_socket_options([](int fd) {
        int yes = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      });
      const std::string host = addr.ipString();
      if (addr.port() == 0) {
        const int port = server.bind_to_any_port(host);
        if (port <= 0) return unavailable("cannot bind " + addr.toString());
        port_ = static_cast<uint16_t>(port);
      } else {
        if (!server.bind_to_port(host, addr.port())) {
          return unavailable("cannot bind " + addr.toString() + " (address in use?)");
        }
        port_ = addr.port();
      }
      server_ = &server;
      finished_.store(false);
      thread_ = std::thread([this] {
        server_->listen_after_bind();
        finished_.store(true);
      });
      // listen_after_bind() marks the server running first thing; stop() is a no-op
      // before that, so wait for it (bounded: the socket is already listening).
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!server.is_running() && !finished_.load()) {
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (!server.is_running()) {
        stop();
        return internalError("server on " + addr.toString() + " did not start");
      }
      return okStatus();
    } catch (const std::exception& e) {
      stop();
      return internalError(std::string("cannot start server: ") + e.what());
    }
  }

  // The bound port (the actual one when started on port 0); 0 before start().
  uint16_t port() const noexcept { return port_; }

  // Stops accepting, waits for in-flight requests and joins the thread. Idempotent.
  void stop() noexcept {
    if (server_ != nullptr) server_->stop();
    if (thread_.joinable()) thread_.join();
    server_ = nullptr;
  }

 private:
  HttpServer* server_ = nullptr;
  std::thread thread_;
  std::atomic<bool> finished_{false};
  uint16_t port_ = 0;
};

}  // namespace stepgate::proxy
