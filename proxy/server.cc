#include "proxy/server.h"

#include <event2/event.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/c_ptr.h"
#include "common/logging.h"
#include "config/loader.h"
#include "proxy/admin/admin_server.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

namespace stepgate::proxy {

StatusOr<RuntimeConstSharedPtr> buildRuntime(config::ConfigConstSharedPtr config,
                                             uint64_t generation) {
  auto rt = std::make_shared<Runtime>();
  rt->generation = generation;
  for (const auto& l : config->listeners) {
    if (!l.tls) {
      rt->listener_tls.push_back(nullptr);
    } else {
      auto ctx = tls::ServerContext::create(*l.tls);
      if (!ctx.isOk()) return ctx.status();
      rt->listener_tls.push_back(std::move(ctx).value());
    }
    size_t idx = 0;
    if (!l.upstream.empty()) {
      while (idx < config->upstreams.size() && config->upstreams[idx].name != l.upstream) ++idx;
      if (idx == config->upstreams.size()) {
        return invalidArgument("listener " + l.address_text + ": unknown upstream '" +
                               l.upstream + "'");
      }
    }
    rt->listener_upstream.push_back(idx);
  }
  if (config->upstreams.empty()) return invalidArgument("no upstream configured");
  for (const auto& u : config->upstreams) {
    if (!u.https) {
      rt->upstream_tls.push_back(nullptr);
      continue;
    }
    auto ctx = tls::ClientContext::create(u.tls.value_or(config::UpstreamTlsConfig{}), u.host);
    if (!ctx.isOk()) return ctx.status();
    rt->upstream_tls.push_back(std::move(ctx).value());
  }
  for (const auto& text : config->proxy.trusted_proxies) {
    auto cidr = parseCidr(text);
    if (!cidr.isOk()) return cidr.status();
    rt->trusted_proxies.push_back(*cidr);
  }
  rt->config = std::move(config);
  return RuntimeConstSharedPtr(std::move(rt));
}

namespace {

bool sameListeners(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].address_text != b.listeners[i].address_text ||
        a.listeners[i].tls.has_value() != b.listeners[i].tls.has_value()) {
      return false;
    }
  }
  return true;
}

void applyLogLevel(const config::Config& cfg) {
  log::Level level;
  if (log::parseLevel(cfg.log.level, level)) log::setLevel(level);
}

// State of the control loop, reached from libevent callbacks.
struct Control {
  event_base* base = nullptr;
  std::string config_path;
  RuntimeConstSharedPtr runtime;
  std::vector<WorkerPtr>* workers = nullptr;
  std::atomic<bool> ready{false};
  std::atomic<int> finished{0};
  bool draining = false;
  std::chrono::steady_clock::time_point drain_deadline;
  CPtr<event, event_free> drain_timer;
  uint64_t generation = 1;
};

void reload(Control& c) {
  log::info("server", "reloading configuration", {{"path", c.config_path}});
  auto loaded = config::load(c.config_path);
  if (!loaded.isOk()) {
    log::error("server", "reload failed; keeping the running configuration",
               {{"error", loaded.status().message()}});
    return;
  }
  if (!sameListeners(*c.runtime->config, **loaded)) {
    log::error("server",
               "reload failed: listeners changed (addresses and TLS on/off need a restart); "
               "keeping the running configuration");
    return;
  }
  auto rt = buildRuntime(*loaded, ++c.generation);
  if (!rt.isOk()) {
    log::error("server", "reload failed; keeping the running configuration",
               {{"error", rt.status().message()}});
    return;
  }
  c.runtime = *rt;
  applyLogLevel(*c.runtime->config);
  for (auto& w : *c.workers) w->updateRuntime(c.runtime);
  log::info("server", "configuration reloaded",
            {{"generation", static_cast<int64_t>(c.generation)}});
}

void onDrainTick(int, short, void* arg) {
  auto& c = *static_cast<Control*>(arg);
  if (c.finished.load() == static_cast<int>(c.workers->size())) {
    event_base_loopbreak(c.base);
    return;
  }
  if (std::chrono::steady_clock::now() >= c.drain_deadline) {
    log::warn("server", "drain deadline passed; closing remaining connections");
    for (auto& w : *c.workers) w->forceStop();
    event_base_loopbreak(c.base);
    return;
  }
  timeval tv{0, 20000};
  evtimer_add(c.drain_timer.get(), &tv);
}

void onSignal(int sig, short, void* arg) {
  auto& c = *static_cast<Control*>(arg);
  if (sig == SIGHUP) {
    reload(c);
    return;
  }
  if (c.draining) return;
  c.draining = true;
  c.ready.store(false);
  log::info("server", "shutting down: draining connections",
            {{"signal", sig}, {"drain_timeout_ms", static_cast<int64_t>(
                                  c.runtime->config->proxy.drain_timeout.count())}});
  c.drain_deadline = std::chrono::steady_clock::now() + c.runtime->config->proxy.drain_timeout;
  for (auto& w : *c.workers) w->beginDrain();
  c.drain_timer.reset(evtimer_new(c.base, &onDrainTick, &c));
  timeval tv{0, 0};
  evtimer_add(c.drain_timer.get(), &tv);
}

void onRotateTickets(int, short, void* arg) {
  auto& c = *static_cast<Control*>(arg);
  for (const auto& ctx : c.runtime->listener_tls) {
    if (ctx) ctx->rotateTicketKeys();
  }
}

}  // namespace

int Server::run() {
  auto loaded = config::load(options_.config_path);
  if (!loaded.isOk()) {
    fprintf(stderr, "%s\n", loaded.status().message().c_str());
    return 2;
  }
  auto rt = buildRuntime(*loaded, 1);
  if (!rt.isOk()) {
    fprintf(stderr, "%s: %s\n", options_.config_path.c_str(), rt.status().message().c_str());
    return 2;
  }
  Control control;
  control.config_path = options_.config_path;
  control.runtime = *rt;
  const config::Config& cfg = *control.runtime->config;
  applyLogLevel(cfg);

  unsigned nworkers = cfg.proxy.workers;
  if (nworkers == 0) nworkers = std::max(1u, std::thread::hardware_concurrency());

  // Workers never see signals: block them before the threads exist, restore after.
  sigset_t block;
  sigset_t previous;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &previous);

  StatsRegistry stats;
  std::vector<WorkerPtr> workers;
  for (unsigned i = 0; i < nworkers; ++i) {
    workers.push_back(std::make_unique<Worker>(i, control.runtime, stats.addWorker()));
    Status s = workers.back()->bindListeners();
    if (!s.isOk()) {
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      log::error("server", "cannot start", {{"error", s.message()}});
      fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
  }
  control.workers = &workers;
  for (auto& w : workers) {
    w->setOnExit([&control] { control.finished.fetch_add(1); });
    w->start();
  }
  // The control thread keeps SIGPIPE blocked too; it only needs the three it handles.
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGTERM);
  sigaddset(&unblock, SIGINT);
  sigaddset(&unblock, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);

  std::unique_ptr<AdminServer> admin;
  if (cfg.admin.enabled) {
    auto a = AdminServer::start(cfg.admin.address, stats, [&control] {
      return control.ready.load();
    });
    if (!a.isOk()) {
      log::error("server", "cannot start admin listener", {{"error", a.status().message()}});
      fprintf(stderr, "admin: %s\n", a.status().message().c_str());
      for (auto& w : workers) w->forceStop();
      for (auto& w : workers) w->join();
      return 1;
    }
    admin = std::move(a).value();
  }

  CPtr<event_base, event_base_free> base(event_base_new());
  control.base = base.get();
  CPtr<event, event_free> sig_term(evsignal_new(base.get(), SIGTERM, &onSignal, &control));
  CPtr<event, event_free> sig_int(evsignal_new(base.get(), SIGINT, &onSignal, &control));
  CPtr<event, event_free> sig_hup(evsignal_new(base.get(), SIGHUP, &onSignal, &control));
  evsignal_add(sig_term.get(), nullptr);
  evsignal_add(sig_int.get(), nullptr);
  evsignal_add(sig_hup.get(), nullptr);

  CPtr<event, event_free> rotate(
      event_new(base.get(), -1, EV_PERSIST, &onRotateTickets, &control));
  config::Duration rotation{std::chrono::hours(24)};
  for (const auto& l : cfg.listeners) {
    if (l.tls) rotation = std::min(rotation, l.tls->ticket_key_rotation);
  }
  timeval rtv{static_cast<time_t>(std::max<int64_t>(1, rotation.count() / 1000)), 0};
  evtimer_add(rotate.get(), &rtv);

  control.ready.store(true);
  std::string addrs;
  for (const auto& l : cfg.listeners) {
    if (!addrs.empty()) addrs += ",";
    addrs += (l.tls ? "https://" : "http://") + l.address_text;
  }
  log::info("server", "serving",
            {{"listeners", addrs},
             {"workers", static_cast<int64_t>(nworkers)},
             {"admin", cfg.admin.enabled ? cfg.admin.address_text : std::string("off")}});
  if (options_.on_ready) options_.on_ready();

  event_base_loop(base.get(), EVLOOP_NO_EXIT_ON_EMPTY);

  for (auto& w : workers) w->join();
  if (admin) admin->stop();
  log::info("server", "stopped");
  return 0;
}

}  // namespace stepgate::proxy
