#include "proxy/upstream/pool.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>

#include "common/logging.h"

namespace stepgate::proxy {

UpstreamConnection::UpstreamConnection(UpstreamPool& pool) : pool_(pool) {
  timer_.reset(evtimer_new(pool.dispatcher_.base(), &UpstreamConnection::onTimer, this));
}

UpstreamConnection::~UpstreamConnection() {
  if (bev_ != nullptr)
    bufferevent_free(bev_);
}

bool UpstreamConnection::tls() const {
  return pool_.tls_ != nullptr;
}

bool UpstreamConnection::connectTo(size_t index) {
  if (bev_ != nullptr) {
    bufferevent_free(bev_);
    bev_ = nullptr;
  }
  address_index_ = index;
  event_base* base = pool_.dispatcher_.base();
  const int opts = BEV_OPT_CLOSE_ON_FREE;
  if (pool_.tls_) {
    SSL* ssl = pool_.tls_->newSsl();
    if (ssl == nullptr)
      return false;
    bev_ = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
    if (bev_ != nullptr)
      bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
  } else {
    bev_ = bufferevent_socket_new(base, -1, opts);
  }
  if (bev_ == nullptr)
    return false;
  bufferevent_setcb(bev_, &UpstreamConnection::onRead, &UpstreamConnection::onWrite,
                    &UpstreamConnection::onEvent, this);
  const SocketAddress& addr = pool_.config_.addresses[index];
  if (bufferevent_socket_connect(bev_, const_cast<sockaddr*>(addr.sa()),
                                 static_cast<int>(addr.length)) != 0) {
    return false;
  }
  const int fd = bufferevent_getfd(bev_);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  WorkerStats::inc(pool_.stats_.upstream_connects);
  armTimer(pool_.config_.connect_timeout);
  return true;
}

void UpstreamConnection::armTimer(config::Duration d) {
  if (d.count() <= 0) {
    evtimer_del(timer_.get());
    return;
  }
  timeval tv{static_cast<time_t>(d.count() / 1000),
             static_cast<suseconds_t>((d.count() % 1000) * 1000)};
  evtimer_add(timer_.get(), &tv);
}

void UpstreamConnection::enableRead(bool on) {
  if (on) {
    bufferevent_enable(bev_, EV_READ);
  } else {
    bufferevent_disable(bev_, EV_READ);
  }
}

void UpstreamConnection::onRead(bufferevent*, void* arg) {
  auto* self = static_cast<UpstreamConnection*>(arg);
  if (self->state_ == State::kActive && self->callbacks_ != nullptr) {
    self->callbacks_->onUpstreamData(*self);
  } else if (self->state_ == State::kIdle) {
    // An idle connection has nothing to say; bytes here mean it is out of step. Drop it.
    self->pool_.onIdleClosed(self);
  }
}

void UpstreamConnection::onWrite(bufferevent*, void* arg) {
  auto* self = static_cast<UpstreamConnection*>(arg);
  if (self->state_ == State::kActive && self->callbacks_ != nullptr) {
    self->callbacks_->onUpstreamDrained(*self);
  }
}

void UpstreamConnection::onEvent(bufferevent*, short what, void* arg) {
  auto* self = static_cast<UpstreamConnection*>(arg);
  UpstreamPool& pool = self->pool_;
  if (self->state_ == State::kConnecting) {
    if (what & BEV_EVENT_CONNECTED) {
      self->armTimer(config::Duration(0));
      self->state_ = State::kActive;
      self->requests_ = 1;
      const auto high = pool.limits_.buffer_high_watermark;
      bufferevent_setwatermark(self->bev_, EV_READ, 0, high);
      bufferevent_setwatermark(self->bev_, EV_WRITE, pool.limits_.buffer_low_watermark, 0);
      bufferevent_enable(self->bev_, EV_READ | EV_WRITE);
      self->callbacks_->onUpstreamReady(*self);
      return;
    }
    // Refused or unreachable: try the next address, then give up.
    const bool tls_error = pool.tls_ && bufferevent_get_openssl_error(self->bev_) != 0;
    if (!tls_error && self->address_index_ + 1 < pool.config_.addresses.size() &&
        self->connectTo(self->address_index_ + 1)) {
      return;
    }
    UpstreamCallbacks* cb = self->callbacks_;
    WorkerStats::inc(pool.stats_.upstream_errors[static_cast<size_t>(
        tls_error ? UpstreamError::kTlsFailed : UpstreamError::kConnectFailed)]);
    pool.destroy(self);
    cb->onUpstreamConnectFailure(tls_error ? UpstreamError::kTlsFailed
                                           : UpstreamError::kConnectFailed);
    return;
  }
  if (self->state_ == State::kIdle) {
    pool.onIdleClosed(self);
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    self->callbacks_->onUpstreamClosed(*self, (what & BEV_EVENT_EOF) != 0);
  }
}

void UpstreamConnection::onTimer(int, short, void* arg) {
  auto* self = static_cast<UpstreamConnection*>(arg);
  UpstreamPool& pool = self->pool_;
  switch (self->state_) {
    case State::kConnecting: {
      UpstreamCallbacks* cb = self->callbacks_;
      WorkerStats::inc(
          pool.stats_.upstream_errors[static_cast<size_t>(UpstreamError::kConnectTimeout)]);
      pool.destroy(self);
      cb->onUpstreamConnectFailure(UpstreamError::kConnectTimeout);
      return;
    }
    case State::kIdle:
      pool.onIdleClosed(self);
      return;
    case State::kActive:
      self->callbacks_->onUpstreamTimeout(*self);
      return;
  }
}

UpstreamPool::UpstreamPool(Dispatcher& dispatcher, const config::UpstreamConfig& config,
                           const config::LimitsConfig& limits, tls::ClientContextConstSharedPtr tls,
                           WorkerStats& stats)
    : dispatcher_(dispatcher),
      config_(config),
      limits_(limits),
      tls_(std::move(tls)),
      stats_(stats) {}

UpstreamPool::~UpstreamPool() {
  for (UpstreamConnection* c : idle_)
    delete c;
  idle_.clear();
}

UpstreamConnection* UpstreamPool::acquire(UpstreamCallbacks& cb, bool fresh) {
  if (!fresh) {
    while (!idle_.empty()) {
      UpstreamConnection* c = idle_.front();
      idle_.pop_front();
      c->state_ = UpstreamConnection::State::kActive;
      c->callbacks_ = &cb;
      c->armTimer(config::Duration(0));
      ++c->requests_;
      ++active_;
      WorkerStats::inc(stats_.upstream_reuses);
      return c;
    }
  }
  if (config_.addresses.empty())
    return nullptr;
  auto* c = new UpstreamConnection(*this);
  c->callbacks_ = &cb;
  ++active_;
  if (!c->connectTo(0)) {
    --active_;
    delete c;
    return nullptr;
  }
  return c;
}

void UpstreamPool::release(UpstreamConnection* conn, bool reusable) {
  --active_;
  conn->callbacks_ = nullptr;
  const bool room = idle_.size() < config_.max_idle;
  const bool under_limit = config_.max_requests_per_connection == 0 ||
                           conn->requests_ < config_.max_requests_per_connection;
  if (!reusable || retired_ || !room || !under_limit ||
      conn->state_ != UpstreamConnection::State::kActive ||
      evbuffer_get_length(conn->input()) != 0 || evbuffer_get_length(conn->output()) != 0) {
    delete conn;
    return;
  }
  conn->state_ = UpstreamConnection::State::kIdle;
  bufferevent_enable(conn->bev_, EV_READ);
  conn->armTimer(config_.idle_timeout);
  idle_.push_front(conn);
  conn->idle_pos_ = idle_.begin();
}

void UpstreamPool::destroy(UpstreamConnection* conn) {
  --active_;
  delete conn;
}

void UpstreamPool::onIdleClosed(UpstreamConnection* conn) {
  idle_.erase(conn->idle_pos_);
  delete conn;
}

void UpstreamPool::retire() {
  retired_ = true;
  for (UpstreamConnection* c : idle_)
    delete c;
  idle_.clear();
}

}  // namespace stepgate::proxy
