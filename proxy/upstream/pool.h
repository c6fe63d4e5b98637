#pragma once
// Upstream connections and the per-worker keep-alive pool of one upstream.
//
// A pool belongs to one worker and is used only on that worker's thread (no locks). It hands
// out UpstreamConnections: an idle pooled one when there is one (ready at once), otherwise a
// new non-blocking connect (ready later, through UpstreamCallbacks). A connect that fails
// tries the upstream's next resolved address before reporting failure. Idle connections are
// closed after the upstream's idle_timeout, when the upstream closes them, when data arrives
// on them unexpectedly, and beyond max_idle.
//
// After a config reload the worker retires its pools: idle connections close at once, active
// ones close when their request ends, and the pool frees itself when none is left.

#include <event2/bufferevent.h>

#include <cstdint>
#include <list>
#include <memory>

#include "common/c_ptr.h"
#include "config/schema.h"
#include "proxy/dispatcher.h"
#include "proxy/stats.h"
#include "proxy/tls/client_context.h"

struct event;

namespace stepgate::proxy {

class UpstreamConnection;
class UpstreamPool;

// Implemented by the client connection whose request an UpstreamConnection serves.
// Callbacks never fire inline from acquire(); they come from the dispatcher's loop.
class UpstreamCallbacks {
 public:
  virtual ~UpstreamCallbacks() = default;
  // The new connection is established (TCP and, for https, TLS).
  virtual void onUpstreamReady(UpstreamConnection& conn) = 0;
  // Connecting failed on every address, or timed out. The connection is already gone.
  virtual void onUpstreamConnectFailure(UpstreamError error) = 0;
  // Response bytes are available in conn's input.
  virtual void onUpstreamData(UpstreamConnection& conn) = 0;
  // conn's output fell to the low watermark (backpressure release).
  virtual void onUpstreamDrained(UpstreamConnection& conn) = 0;
  // The upstream closed (cleanly or not) or the response timer fired while active.
  // `eof` is true for a clean close. The callee must release() the connection.
  virtual void onUpstreamClosed(UpstreamConnection& conn, bool eof) = 0;
  virtual void onUpstreamTimeout(UpstreamConnection& conn) = 0;
};

class UpstreamConnection {
 public:
  UpstreamConnection(UpstreamPool& pool);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  bufferevent* bev() const { return bev_; }
  evbuffer* input() const { return bufferevent_get_input(bev_); }
  evbuffer* output() const { return bufferevent_get_output(bev_); }
  // True iff this connection served at least one request before the current one.
  bool reused() const { return requests_ > 1; }
  bool ready() const { return state_ == State::kActive; }
  bool tls() const;

  // Arms (or re-arms) the single timer; on expiry onUpstreamTimeout fires. Zero disarms.
  void armTimer(config::Duration d);
  void enableRead(bool on);

 private:
  friend class UpstreamPool;
  enum class State : uint8_t { kConnecting, kActive, kIdle };

  static void onRead(bufferevent* bev, void* arg);
  static void onWrite(bufferevent* bev, void* arg);
  static void onEvent(bufferevent* bev, short what, void* arg);
  static void onTimer(int fd, short what, void* arg);
  bool connectTo(size_t address_index);

  UpstreamPool& pool_;
  bufferevent* bev_ = nullptr;
  CPtr<event, event_free> timer_;
  UpstreamCallbacks* callbacks_ = nullptr;
  State state_ = State::kConnecting;
  size_t address_index_ = 0;
  uint32_t requests_ = 0;
  std::list<UpstreamConnection*>::iterator idle_pos_;
};

class UpstreamPool {
 public:
  // `config`, `stats` and `tls` must outlive the pool (the worker's runtime snapshot holds them).
  UpstreamPool(Dispatcher& dispatcher, const config::UpstreamConfig& config,
               const config::LimitsConfig& limits, tls::ClientContextConstSharedPtr tls,
               WorkerStats& stats);
  ~UpstreamPool();

  // Returns a connection for `cb`, or nullptr if no socket could be created (reported as
  // kConnectFailed by the caller). If it is ready() it was pooled and may be written now;
  // otherwise cb.onUpstreamReady or cb.onUpstreamConnectFailure follows. `fresh` skips
  // the idle list (for a retry after a pooled connection failed).
  UpstreamConnection* acquire(UpstreamCallbacks& cb, bool fresh = false);

  // Gives the connection back: pooled when `reusable` and there is room, else closed.
  // The pointer must not be used afterwards.
  void release(UpstreamConnection* conn, bool reusable);

  // Closes idle connections and marks the pool so active ones close on release.
  void retire();
  bool retired() const { return retired_; }
  size_t active() const { return active_; }
  const config::UpstreamConfig& config() const { return config_; }

 private:
  friend class UpstreamConnection;
  void destroy(UpstreamConnection* conn);
  void onIdleClosed(UpstreamConnection* conn);

  Dispatcher& dispatcher_;
  const config::UpstreamConfig& config_;
  const config::LimitsConfig& limits_;
  tls::ClientContextConstSharedPtr tls_;
  WorkerStats& stats_;
  std::list<UpstreamConnection*> idle_;  // most recently used at the front
  size_t active_ = 0;
  bool retired_ = false;
};

using UpstreamPoolPtr = std::unique_ptr<UpstreamPool>;

}  // namespace stepgate::proxy
