#pragma once
// Dispatcher: one libevent event loop, owned by one thread (a worker or the control thread).
// Everything on a dispatcher runs on its thread, except post(), the only cross-thread entry:
// it queues a functor and wakes the loop through an eventfd. The event_base is created with
// EVENT_BASE_FLAG_NOLOCK, so libevent takes no locks on the request path.
//
// Objects that must die inside one of their own callbacks go to deferredDelete(); they are
// destroyed at the end of the current loop iteration (Envoy's deferred-delete model).

#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/c_ptr.h"

struct event_base;
struct event;
extern "C" void event_base_free(event_base*);
extern "C" void event_free(event*);

namespace stepgate::proxy {

class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};
using DeferredDeletablePtr = std::unique_ptr<DeferredDeletable>;

class Dispatcher {
 public:
  Dispatcher();
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  event_base* base() const { return base_.get(); }

  // Queues `fn` to run on the dispatcher's thread. Safe from any thread.
  void post(std::function<void()> fn);

  // Runs the loop on the calling thread until exit() (or no events remain).
  void run();
  // Runs what is ready without waiting: pending callbacks, deferred deletes, and libevent's
  // finalizers (a freed bufferevent closes its socket only there). Called after run()
  // returned, so sockets closed in the last iteration are really closed.
  void runPending();
  // Makes run() return after the current iteration. Dispatcher thread only; use
  // post([d]{ d->exit(); }) from elsewhere.
  void exit();

  // Destroys `obj` at the end of the current loop iteration. Dispatcher thread only.
  void deferredDelete(DeferredDeletablePtr obj);

  // True iff called on the thread running run().
  bool isThreadSafe() const { return std::this_thread::get_id() == thread_id_; }

 private:
  static void onWake(int fd, short what, void* arg);
  static void onDeferred(int fd, short what, void* arg);
  void drainPosted();

  CPtr<event_base, event_base_free> base_;
  int wake_fd_ = -1;
  CPtr<event, event_free> wake_event_;
  CPtr<event, event_free> deferred_event_;
  std::mutex post_mu_;  // guards posted_; held only to swap the vector
  std::vector<std::function<void()>> posted_;
  std::vector<DeferredDeletablePtr> deferred_;
  std::vector<DeferredDeletablePtr> deleting_;
  std::thread::id thread_id_;
};

}  // namespace stepgate::proxy
