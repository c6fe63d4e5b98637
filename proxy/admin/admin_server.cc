#include "proxy/admin/admin_server.h"

#include <httplib.h>

#include <exception>
#include <string>
#include <utility>

#include "proxy/admin/server_thread.h"

namespace stepgate::proxy {

namespace {

constexpr size_t kAdminThreads = 2;
constexpr time_t kIoTimeoutSeconds = 5;
constexpr size_t kMaxPayloadBytes = 1024;
constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4";
constexpr const char* kTextContentType = "text/plain; charset=utf-8";

}  // namespace

class AdminServer::Impl {
 public:
  Impl(const StatsRegistry& stats, std::function<bool()> ready,
       std::function<std::string()> ready_detail)
      : stats_(stats), ready_(std::move(ready)), ready_detail_(std::move(ready_detail)) {}

  ~Impl() { runner_.stop(); }

  Status start(const SocketAddress& addr) {
    try {
      configure();
    } catch (const std::exception& e) {
      return internalError(std::string("admin server setup failed: ") + e.what());
    }
    return runner_.start(server_, addr);
  }

  uint16_t port() const noexcept { return runner_.port(); }
  void stop() noexcept { runner_.stop(); }

 private:
  void configure() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(kAdminThreads); };
    server_.set_read_timeout(kIoTimeoutSeconds, 0);
    server_.set_write_timeout(kIoTimeoutSeconds, 0);
    // An idle keep-alive client (a metrics scraper) must not hold shutdown for long: the
    // server waits for such connections when it stops.
    server_.set_keep_alive_timeout(1);
    server_.set_payload_max_length(kMaxPayloadBytes);

    server_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" || req.method == "HEAD") {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("method not allowed\n", kTextContentType);
      return httplib::Server::HandlerResponse::Handled;
    });

    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", kTextContentType);
    });
    server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      if (ready_ && ready_()) {
        res.set_content(ready_detail_ ? "ready\n" + ready_detail_() : std::string("ready\n"),
                        kTextContentType);
      } else {
        res.status = 503;
        res.set_content("not ready\n", kTextContentType);
      }
    });
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(stats_.renderPrometheus(), kPrometheusContentType);
    });

    // Called for every status >= 400; fill in a body only where a handler left none
    // (unknown paths, oversized or malformed requests).
    server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      switch (res.status) {
        case 400: res.set_content("bad request\n", kTextContentType); break;
        case 404: res.set_content("not found\n", kTextContentType); break;
        case 413: res.set_content("payload too large\n", kTextContentType); break;
        default: res.set_content("error\n", kTextContentType); break;
      }
    });
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          res.status = 500;
          res.set_content("internal error\n", kTextContentType);
        });
  }

  const StatsRegistry& stats_;
  std::function<bool()> ready_;
  std::function<std::string()> ready_detail_;
  httplib::Server server_;
  ServerThread<httplib::Server> runner_;
};

StatusOr<AdminServerPtr> AdminServer::start(const SocketAddress& addr,
                                            const StatsRegistry& stats,
                                            std::function<bool()> ready,
                                            std::function<std::string()> ready_detail) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(stats, std::move(ready), std::move(ready_detail));
  } catch (const std::exception& e) {
    return internalError(std::string("admin server: ") + e.what());
  }
  RETURN_IF_ERROR(impl->start(addr));
  return AdminServerPtr(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { stop(); }

uint16_t AdminServer::port() const noexcept { return impl_->port(); }

void AdminServer::stop() noexcept { impl_->stop(); }

}  // namespace stepgate::proxy
