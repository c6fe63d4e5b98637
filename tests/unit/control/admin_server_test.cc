#include "proxy/admin/admin_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <sstream>
#include <string>

#include "tests/unit/control/raw_http_client.h"

namespace stepgate::proxy {
namespace {

using stepgate::testing::rawRequest;

SocketAddress loopbackAnyPort() {
  auto addr = parseSocketAddress("127.0.0.1:0", /*allow_zero_port=*/true);
  EXPECT_TRUE(addr.isOk()) << addr.status().toString();
  return *addr;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkerStats& w = stats_.addWorker();
    WorkerStats::inc(w.requests, uint64_t{7});
    WorkerStats::inc(w.connections_accepted, uint64_t{3});
    WorkerStats::inc(w.connections_closed, uint64_t{1});
    WorkerStats::inc(w.responses_by_status[200], uint64_t{5});
    WorkerStats::inc(w.responses_by_status[403], uint64_t{2});
    w.request_latency.observe(300);
    auto server = AdminServer::start(loopbackAnyPort(), stats_, [this] { return ready_.load(); });
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }

  StatsRegistry stats_;
  std::atomic<bool> ready_{true};
  AdminServerPtr server_;
};

TEST_F(AdminServerTest, HealthzIsAlwaysOk) {
  auto r = rawRequest(server_->port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  ready_ = false;
  r = rawRequest(server_->port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 200);
}

TEST_F(AdminServerTest, ReadyzFollowsTheReadyFunction) {
  auto r = rawRequest(server_->port(), "GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");
  ready_ = false;  // draining
  r = rawRequest(server_->port(), "GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready\n");
  ready_ = true;
  EXPECT_EQ(rawRequest(server_->port(), "GET", "/readyz").status, 200);
}

TEST_F(AdminServerTest, MetricsIsPrometheusText) {
  auto r = rawRequest(server_->port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_NE(r.body.find("stepgate_requests_total 7\n"), std::string::npos);
  EXPECT_NE(r.body.find("stepgate_connections_active 2\n"), std::string::npos);
  EXPECT_NE(r.body.find("stepgate_responses_total{code=\"403\"} 2\n"), std::string::npos);
  EXPECT_NE(r.body.find("stepgate_request_duration_seconds_count 1\n"), std::string::npos);

  // Every sample's metric family has a # TYPE line before it; histogram samples belong to
  // the family without their _bucket/_sum/_count suffix.
  std::set<std::string> typed;
  std::istringstream in(r.body);
  std::string line;
  size_t samples = 0;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name;
      std::string type;
      t >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      typed.insert(name);
      continue;
    }
    if (line[0] == '#') continue;
    const size_t end = line.find_first_of("{ ");
    ASSERT_NE(end, std::string::npos) << line;
    std::string name = line.substr(0, end);
    bool found = typed.count(name) > 0;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (!found && name.size() > s.size() &&
          name.compare(name.size() - s.size(), s.size(), s) == 0) {
        found = typed.count(name.substr(0, name.size() - s.size())) > 0;
      }
    }
    EXPECT_TRUE(found) << "no # TYPE before: " << line;
    const std::string value = line.substr(line.rfind(' ') + 1);
    EXPECT_FALSE(value.empty()) << line;
    ++samples;
  }
  EXPECT_GT(samples, 10u);
}

TEST_F(AdminServerTest, HeadAnswersWithoutBody) {
  auto r = rawRequest(server_->port(), "HEAD", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
}

TEST_F(AdminServerTest, UnknownPathIs404) {
  auto r = rawRequest(server_->port(), "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "not found\n");
}

TEST_F(AdminServerTest, OtherMethodsAre405) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    auto r = rawRequest(server_->port(), method, "/healthz");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.headers["allow"], "GET, HEAD") << method;
  }
  EXPECT_EQ(rawRequest(server_->port(), "POST", "/metrics").status, 405);
}

TEST_F(AdminServerTest, RequestBodiesAreRefused) {
  // Bodies only come with methods the admin listener refuses before reading them.
  auto r = rawRequest(server_->port(), "POST", "/metrics", std::string(4096, 'x'));
  EXPECT_TRUE(r.status == 405 || r.status == 413) << r.status;
  EXPECT_EQ(rawRequest(server_->port(), "GET", "/healthz").status, 200);
}

TEST_F(AdminServerTest, TakenPortIsAnError) {
  auto addr = parseSocketAddress("127.0.0.1:" + std::to_string(server_->port()));
  ASSERT_TRUE(addr.isOk());
  auto second = AdminServer::start(*addr, stats_, [] { return true; });
  ASSERT_FALSE(second.isOk());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  // The first one still serves.
  EXPECT_EQ(rawRequest(server_->port(), "GET", "/healthz").status, 200);
}

TEST_F(AdminServerTest, StopIsIdempotentAndClosesThePort) {
  const uint16_t port = server_->port();
  server_->stop();
  server_->stop();
  EXPECT_EQ(rawRequest(port, "GET", "/healthz").status, 0);
  server_.reset();
}

TEST(AdminServerStartTest, StopRightAfterStart) {
  StatsRegistry stats;
  for (int i = 0; i < 20; ++i) {
    auto server = AdminServer::start(loopbackAnyPort(), stats, [] { return true; });
    ASSERT_TRUE(server.isOk()) << server.status().toString();
  }  // each destructor stops and joins
}

}  // namespace
}  // namespace stepgate::proxy
