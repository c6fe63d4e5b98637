#include "proxy/dispatcher.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>

#include "common/logging.h"

namespace stepgate::proxy {

Dispatcher::Dispatcher() {
  event_config* cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  // Coalesce event changes per loop iteration: a write event added and removed in the same
  // iteration (a TLS response written at once) costs no epoll_ctl at all. libevent warns that
  // this is unsafe with descriptors cloned by dup(); stepgate never duplicates a socket, and a
  // descriptor number reused after close() is handled by libevent's MOD→ADD fallback.
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  base_.reset(event_base_new_with_config(cfg));
  event_config_free(cfg);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!base_ || wake_fd_ < 0) {
    log::error("dispatcher", "cannot create event loop");
    std::abort();
  }
  wake_event_.reset(
      event_new(base_.get(), wake_fd_, EV_READ | EV_PERSIST, &Dispatcher::onWake, this));
  event_add(wake_event_.get(), nullptr);
  deferred_event_.reset(event_new(base_.get(), -1, 0, &Dispatcher::onDeferred, this));
  thread_id_ = std::this_thread::get_id();
}

Dispatcher::~Dispatcher() {
  wake_event_.reset();
  deferred_event_.reset();
  deferred_.clear();
  deleting_.clear();
  if (wake_fd_ >= 0)
    close(wake_fd_);
}

void Dispatcher::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway
}

void Dispatcher::onWake(int fd, short, void* arg) {
  uint64_t v;
  ssize_t n = ::read(fd, &v, sizeof v);
  (void)n;
  static_cast<Dispatcher*>(arg)->drainPosted();
}

void Dispatcher::drainPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch)
    fn();
}

void Dispatcher::run() {
  thread_id_ = std::this_thread::get_id();
  event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY);
  drainPosted();
  deleting_.clear();
  deferred_.clear();
}

void Dispatcher::runPending() {
  drainPosted();
  while (!deferred_.empty()) {
    deleting_.swap(deferred_);
    deleting_.clear();
  }
  event_base_loop(base_.get(), EVLOOP_NONBLOCK);
}

void Dispatcher::exit() {
  event_base_loopbreak(base_.get());
}

void Dispatcher::deferredDelete(DeferredDeletablePtr obj) {
  deferred_.push_back(std::move(obj));
  if (deferred_.size() == 1)
    event_active(deferred_event_.get(), EV_TIMEOUT, 0);
}

void Dispatcher::onDeferred(int, short, void* arg) {
  auto* self = static_cast<Dispatcher*>(arg);
  // Destructors may defer more objects; loop until the list stays empty.
  while (!self->deferred_.empty()) {
    self->deleting_.swap(self->deferred_);
    self->deleting_.clear();
  }
}

}  // namespace stepgate::proxy
