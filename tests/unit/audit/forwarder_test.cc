#include "audit/forwarder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "audit/segment.h"
#include "common/json.h"
#include "tests/unit/audit/test_util.h"

extern char** environ;

namespace stepgate::audit {
namespace {

using namespace std::chrono_literals;

// ---- helpers -------------------------------------------------------------------------------

struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("fwd") {}
};

using testutil::readFileText;

std::string recordJson(uint64_t seq, const std::string& effect = "allow") {
  return "{\"v\":1,\"type\":\"request\",\"seq\":" + std::to_string(seq) +
         ",\"event_id\":\"0190a1b2-c3d4-7e5f-8a9b-" + std::to_string(100000000000 + seq) +
         "\",\"time\":\"2026-01-02T03:04:05.000006Z\",\"decision\":{\"effect\":\"" + effect +
         "\"}}";
}

// Writes (or extends) segment `first` with records [from, from+count).
void appendRecords(const std::string& dir, uint64_t first, uint64_t from, uint64_t count) {
  std::filesystem::create_directories(dir + "/segments");
  char name[40];
  std::snprintf(name, sizeof name, "/segments/%020llu.seg", static_cast<unsigned long long>(first));
  const std::string path = dir + name;
  std::string bytes;
  if (!std::filesystem::exists(path))
    appendSegmentHeader(bytes, first, 1'700'000'000'000'000);
  for (uint64_t s = from; s < from + count; ++s)
    appendFrame(bytes, recordJson(s));
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

bool waitUntil(const std::function<bool()>& pred) {
  for (int i = 0; i < 3000; ++i) {  // up to 30 s
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// A port that nothing listens on (bound once, then released).
uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A loopback TCP server on its own thread, one connection at a time, bounded waits.
class Server {
 public:
  using Handler = std::function<void(int fd, const std::atomic<bool>& stop)>;
  Server(uint16_t port, Handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      handler_(c, stop_);
      ::close(c);
    }
  }
  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Reads into `buf` until `pred(buf)` or end of stream or stop; false on end/stop.
bool readMore(int fd, std::string& buf, const std::atomic<bool>& stop) {
  for (int i = 0; i < 1500 && !stop; ++i) {  // idle connections give up after ~30 s
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0)
      continue;
    char tmp[65536];
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0)
      return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  }
  return false;
}

struct HttpRequest {
  std::string request_line;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// An HTTP/1.1 receiver. `answer(i)` is the status for the i-th request; 0 closes the
// connection without an answer after reading the request (it was received, not acknowledged).
class HttpReceiver {
 public:
  explicit HttpReceiver(uint16_t port = 0, std::function<int(size_t)> answer = nullptr)
      : answer_(std::move(answer)),
        server_(port, [this](int fd, const std::atomic<bool>& stop) { serve(fd, stop); }) {}
  uint16_t port() const { return server_.port(); }
  std::vector<HttpRequest> requests() {
    std::lock_guard<std::mutex> lk(mu_);
    return requests_;
  }
  // Every record seq received, duplicates included.
  std::vector<int64_t> seqs() {
    std::vector<int64_t> out;
    for (const HttpRequest& r : requests()) {
      auto v = parseJson(r.body);
      if (!v.isOk()) {
        ADD_FAILURE() << "body is not JSON: " << r.body.substr(0, 200);
        continue;
      }
      const JsonValue* recs = v->find("records");
      if (recs == nullptr || !recs->isArray()) {
        ADD_FAILURE() << "no records array";
        continue;
      }
      for (const JsonValue& rec : recs->asArray())
        out.push_back(rec.find("seq")->asInt());
    }
    return out;
  }

 private:
  void serve(int fd, const std::atomic<bool>& stop) {
    std::string buf;
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!readMore(fd, buf, stop))
          return;
      }
      HttpRequest req;
      std::istringstream head(buf.substr(0, end));
      std::string line;
      std::getline(head, line);
      req.request_line = line.substr(0, line.size() - 1);
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r')
          line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos)
          continue;
        req.headers[lower(line.substr(0, colon))] = line.substr(colon + 2);
      }
      const size_t len = std::stoul(req.headers["content-length"]);
      buf.erase(0, end + 4);
      while (buf.size() < len) {
        if (!readMore(fd, buf, stop))
          return;
      }
      req.body = buf.substr(0, len);
      buf.erase(0, len);
      size_t index;
      {
        std::lock_guard<std::mutex> lk(mu_);
        index = requests_.size();
        requests_.push_back(req);
      }
      const int status = answer_ ? answer_(index) : 200;
      if (status == 0)
        return;
      const std::string resp = "HTTP/1.1 " + std::to_string(status) +
                               " X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
      if (::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(resp.size())) {
        return;
      }
    }
  }

  std::function<int(size_t)> answer_;
  std::mutex mu_;
  std::vector<HttpRequest> requests_;
  Server server_;  // last: its thread uses the members above
};

// A syslog receiver: RFC 6587 octet-counted frames until the sender's half-close, then close.
class SyslogReceiver {
 public:
  explicit SyslogReceiver(uint16_t port = 0)
      : server_(port, [this](int fd, const std::atomic<bool>& stop) { serve(fd, stop); }) {}
  uint16_t port() const { return server_.port(); }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lk(mu_);
    return messages_;
  }

 private:
  void serve(int fd, const std::atomic<bool>& stop) {
    std::string buf;
    while (readMore(fd, buf, stop)) {
    }
    size_t pos = 0;
    std::lock_guard<std::mutex> lk(mu_);
    while (pos < buf.size()) {
      const size_t sp = buf.find(' ', pos);
      if (sp == std::string::npos) {
        ADD_FAILURE() << "frame without a length";
        return;
      }
      const size_t len = std::stoul(buf.substr(pos, sp - pos));
      if (sp + 1 + len > buf.size()) {
        ADD_FAILURE() << "short frame";
        return;
      }
      messages_.push_back(buf.substr(sp + 1, len));
      pos = sp + 1 + len;
    }
  }
  std::mutex mu_;
  std::vector<std::string> messages_;
  Server server_;
};

struct Harness {
  TempDir dir;
  std::atomic<uint64_t> durable{0};
  std::mutex mu;
  std::vector<std::pair<std::string, uint64_t>> cursor_calls;

  ForwarderOptions options(std::vector<SinkOptions> sinks) {
    ForwarderOptions o;
    o.dir = dir.path();
    o.durable_seq = [this] { return durable.load(); };
    o.on_cursor = [this](const std::string& sink, uint64_t next) {
      std::lock_guard<std::mutex> lk(mu);
      cursor_calls.emplace_back(sink, next);
    };
    o.sinks = std::move(sinks);
    o.poll_interval = 5ms;
    return o;
  }
  std::unique_ptr<Forwarder> start(std::vector<SinkOptions> sinks) {
    auto f = Forwarder::create(options(std::move(sinks)));
    EXPECT_TRUE(f.isOk()) << f.status().toString();
    if (!f.isOk())
      return nullptr;
    (*f)->start();
    return std::move(*f);
  }
};

SinkOptions webhook(uint16_t port, const std::string& name = "hook") {
  SinkOptions s;
  s.name = name;
  s.kind = SinkKind::kWebhook;
  s.webhook.url = "http://127.0.0.1:" + std::to_string(port) + "/ingest?x=1";
  s.batch_records = 10;
  s.timeout = 5s;
  s.initial_backoff = 5ms;
  s.max_backoff = 40ms;
  return s;
}

SinkOptions syslogSink(uint16_t port, const std::string& name = "siem") {
  SinkOptions s;
  s.name = name;
  s.kind = SinkKind::kSyslog;
  s.syslog.address = "127.0.0.1:" + std::to_string(port);
  s.syslog.hostname = "gw1";
  s.batch_records = 7;
  s.timeout = 5s;
  s.initial_backoff = 5ms;
  s.max_backoff = 40ms;
  return s;
}

uint64_t cursorOf(Forwarder& f) {
  return f.stats().at(0).cursor;
}

std::set<int64_t> range(int64_t from, int64_t to) {
  std::set<int64_t> s;
  for (int64_t i = from; i < to; ++i)
    s.insert(i);
  return s;
}

std::vector<int64_t> seqVec(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t i = from; i < to; ++i)
    v.push_back(i);
  return v;
}

// ---- webhook -------------------------------------------------------------------------------

TEST(ForwarderTest, WebhookDeliversEveryRecordInBatchesAndSavesTheCursor) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 12);
  appendRecords(h.dir.path(), 12, 12, 13);  // a rotated log: two segments
  h.durable = 25;
  { std::ofstream(h.dir.path() + "/auth") << "  Bearer s3cret\n"; }
  HttpReceiver rx;
  SinkOptions s = webhook(rx.port());
  s.webhook.authorization_file = h.dir.path() + "/auth";
  s.webhook.headers = {{"X-Tenant", "acme"}};
  auto f = h.start({s});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 25; }));
  f->stop();

  const std::vector<int64_t> seqs = rx.seqs();
  EXPECT_EQ(seqs, seqVec(0, 25));
  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 3u);  // 10 + 10 + 5
  int64_t expect_from = 0;
  for (const HttpRequest& r : reqs) {
    EXPECT_EQ(r.request_line, "POST /ingest?x=1 HTTP/1.1");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_EQ(r.headers.at("authorization"), "Bearer s3cret");
    EXPECT_EQ(r.headers.at("x-tenant"), "acme");
    EXPECT_EQ(r.headers.at("host"), "127.0.0.1:" + std::to_string(rx.port()));
    auto body = parseJson(r.body);
    ASSERT_TRUE(body.isOk());
    const auto& recs = body->find("records")->asArray();
    EXPECT_EQ(r.headers.at("x-stepgate-audit-seq-from"), std::to_string(expect_from));
    EXPECT_EQ(r.headers.at("x-stepgate-audit-seq-to"),
              std::to_string(expect_from + static_cast<int64_t>(recs.size()) - 1));
    // The stored record objects, unchanged.
    EXPECT_EQ(
        recs[0].find("event_id")->asString(),
        parseJson(recordJson(static_cast<uint64_t>(expect_from)))->find("event_id")->asString());
    expect_from += static_cast<int64_t>(recs.size());
  }
  EXPECT_EQ(readFileText(h.dir.path() + "/state/hook.cursor"), "25\n");
  EXPECT_EQ(*Forwarder::loadCursor(h.dir.path(), "hook"), 25u);
  std::lock_guard<std::mutex> lk(h.mu);
  ASSERT_GE(h.cursor_calls.size(), 2u);
  EXPECT_EQ(h.cursor_calls.front(), std::make_pair(std::string("hook"), uint64_t{0}));
  EXPECT_EQ(h.cursor_calls.back(), std::make_pair(std::string("hook"), uint64_t{25}));
  const SinkStats st = f->stats().at(0);
  EXPECT_EQ(st.lag, 0u);
  EXPECT_EQ(st.records, 25u);
  EXPECT_EQ(st.batches, 3u);
  EXPECT_EQ(st.failures, 0u);
}

TEST(ForwarderTest, WebhookBatchBytesLimitBatches) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 6);
  h.durable = 6;
  HttpReceiver rx;
  SinkOptions s = webhook(rx.port());
  s.batch_bytes = recordJson(0).size() * 2;  // two records per batch
  auto f = h.start({s});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 6; }));
  f->stop();
  EXPECT_EQ(rx.requests().size(), 3u);
  EXPECT_EQ(rx.seqs(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

TEST(ForwarderTest, WebhookReceiverDownForAWhileThenEverythingArrives) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 40);
  h.durable = 40;
  const uint16_t port = freePort();
  auto f = h.start({webhook(port)});
  ASSERT_TRUE(f);
  // Down: connections are refused, the sink retries with backoff; lag shows what waits.
  ASSERT_TRUE(waitUntil([&] { return f->stats().at(0).failures >= 3; }));
  SinkStats st = f->stats().at(0);
  EXPECT_EQ(st.cursor, 0u);
  EXPECT_EQ(st.lag, 40u);
  EXPECT_FALSE(st.last_error.empty());
  // Up again.
  HttpReceiver rx(port);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 40; }));
  f->stop();
  const std::vector<int64_t> seqs = rx.seqs();
  EXPECT_EQ(std::set<int64_t>(seqs.begin(), seqs.end()), range(0, 40));
  EXPECT_EQ(seqs.size(), 40u);  // nothing was received while down: no duplicates either
  EXPECT_EQ(f->stats().at(0).lag, 0u);
  EXPECT_EQ(f->stats().at(0).consecutive_failures, 0u);
}

TEST(ForwarderTest, WebhookResendsUnacknowledgedBatchesAtLeastOnce) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 30);
  h.durable = 30;
  // Request 0: 503. Request 1: read, then the connection drops without an answer (received
  // but not acknowledged). Then 200s.
  HttpReceiver rx(0, [](size_t i) { return i == 0 ? 503 : i == 1 ? 0 : 200; });
  auto f = h.start({webhook(rx.port())});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 30; }));
  f->stop();
  const std::vector<int64_t> seqs = rx.seqs();
  EXPECT_EQ(std::set<int64_t>(seqs.begin(), seqs.end()), range(0, 30));  // dedup by seq
  EXPECT_EQ(seqs.size(), 50u);  // records 0..9 arrived three times
  // The 503 counts as a failure; the dropped kept-alive connection is retried at once on a
  // fresh one (a receiver may close an idle keep-alive connection at any time).
  EXPECT_EQ(f->stats().at(0).failures, 1u);
  const auto reqs = rx.requests();
  EXPECT_EQ(reqs[0].body, reqs[1].body);
  EXPECT_EQ(reqs[1].body, reqs[2].body);
}

TEST(ForwarderTest, CursorPersistsAcrossARestart) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 60);
  h.durable = 30;
  HttpReceiver rx;
  {
    auto f = h.start({webhook(rx.port())});
    ASSERT_TRUE(f);
    ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 30; }));
  }
  EXPECT_EQ(rx.seqs().size(), 30u);
  h.durable = 60;
  auto f = h.start({webhook(rx.port())});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->stats().at(0).cursor, 30u);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 60; }));
  f->stop();
  const std::vector<int64_t> seqs = rx.seqs();
  EXPECT_EQ(seqs.size(), 60u);  // nothing before 30 was sent again
  EXPECT_EQ(std::set<int64_t>(seqs.begin(), seqs.end()), range(0, 60));
  EXPECT_EQ(*Forwarder::loadCursor(h.dir.path(), "hook"), 60u);
}

TEST(ForwarderTest, OnlyDurableRecordsAreShippedAndAGrowingLogIsTailed) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 8);
  h.durable = 5;
  HttpReceiver rx;
  auto f = h.start({webhook(rx.port())});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 5; }));
  EXPECT_EQ(rx.seqs(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  appendRecords(h.dir.path(), 0, 8, 4);    // the segment grows
  appendRecords(h.dir.path(), 12, 12, 9);  // and rotates
  h.durable = 21;
  f->notify();
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 21; }));
  f->stop();
  const std::vector<int64_t> seqs = rx.seqs();
  EXPECT_EQ(seqs, seqVec(0, 21));
}

TEST(ForwarderTest, ACorruptRecordStallsTheSinkBeforeIt) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 6);
  h.durable = 6;
  // Flip a byte in record 3's payload.
  const std::string path = h.dir.path() + "/segments/00000000000000000000.seg";
  std::string bytes = readFileText(path);
  size_t off = kSegmentHeaderBytes;
  for (int i = 0; i < 3; ++i) {
    off += kFrameHeaderBytes + recordJson(static_cast<uint64_t>(i)).size();
  }
  bytes[off + kFrameHeaderBytes + 5] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  HttpReceiver rx;
  auto f = h.start({webhook(rx.port())});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return f->stats().at(0).stalled; }));
  f->stop();
  const SinkStats st = f->stats().at(0);
  EXPECT_EQ(st.cursor, 3u);
  EXPECT_NE(st.last_error.find("record 3"), std::string::npos) << st.last_error;
  EXPECT_EQ(rx.seqs(), (std::vector<int64_t>{0, 1, 2}));
}

TEST(ForwarderTest, RecordsRemovedByRetentionAreCountedAsSkipped) {
  Harness h;
  appendRecords(h.dir.path(), 10, 10, 5);  // records 0..9 are gone
  h.durable = 15;
  HttpReceiver rx;
  auto f = h.start({webhook(rx.port())});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 15; }));
  f->stop();
  EXPECT_EQ(f->stats().at(0).skipped, 10u);
  EXPECT_EQ(rx.seqs(), (std::vector<int64_t>{10, 11, 12, 13, 14}));
}

TEST(ForwarderTest, HttpsUsesTheTlsConnectorWithTheSinksTrustSettings) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 3);
  h.durable = 3;
  HttpReceiver rx;
  SinkOptions s = webhook(rx.port());
  s.webhook.url = "https://audit.example:8443/in";
  s.webhook.ca_file = "/etc/ca.pem";
  ForwarderOptions o = h.options({s});
  EXPECT_FALSE(Forwarder::create(o).isOk());  // no TLS connector: refused up front
  std::vector<Endpoint> seen;
  std::mutex mu;
  o.tls_connector = [&](const Endpoint& ep, int stop_fd, std::chrono::steady_clock::time_point d) {
    {
      std::lock_guard<std::mutex> lk(mu);
      seen.push_back(ep);
    }
    Endpoint local = ep;  // stands in for a TLS handshake: plain TCP to the test receiver
    local.host = "127.0.0.1";
    local.port = rx.port();
    return connectTcp(local, stop_fd, d);
  };
  auto f = Forwarder::create(o);
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  (*f)->start();
  ASSERT_TRUE(waitUntil([&] { return cursorOf(**f) == 3; }));
  (*f)->stop();
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen[0].tls);
  EXPECT_EQ(seen[0].host, "audit.example");
  EXPECT_EQ(seen[0].port, 8443);
  EXPECT_EQ(seen[0].server_name, "audit.example");
  EXPECT_EQ(seen[0].ca_file, "/etc/ca.pem");
  EXPECT_EQ(rx.requests().at(0).headers.at("host"), "audit.example:8443");
}

TEST(ForwarderTest, StopInterruptsALongBackoff) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 3);
  h.durable = 3;
  SinkOptions s = webhook(freePort());
  s.initial_backoff = std::chrono::minutes(10);
  s.max_backoff = std::chrono::minutes(10);
  auto f = h.start({s});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return f->stats().at(0).failures >= 1; }));
  f->stop();  // returns without waiting out the ten minutes (the test's timeout would catch it)
  EXPECT_EQ(f->stats().at(0).cursor, 0u);
}

TEST(ForwarderTest, CreateRejectsBadOptions) {
  Harness h;
  auto rejected = [&](const std::vector<SinkOptions>& sinks) {
    return !Forwarder::create(h.options(sinks)).isOk();
  };
  auto with = [](std::function<void(SinkOptions&)> edit, SinkOptions s) {
    edit(s);
    return std::vector<SinkOptions>{s};
  };
  EXPECT_FALSE(rejected({webhook(1), syslogSink(2)}));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.name = "a/b"; }, webhook(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.name = ""; }, webhook(1))));
  EXPECT_TRUE(rejected({webhook(1, "x"), syslogSink(2, "x")}));  // one cursor per name
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.webhook.url = "ftp://h/"; }, webhook(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.webhook.url = "http://u:p@h/"; }, webhook(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.webhook.url = "http://h:0/"; }, webhook(1))));
  EXPECT_TRUE(rejected(with(
      [](SinkOptions& s) {
        s.webhook.headers = {{"Content-Length", "1"}};
      },
      webhook(1))));
  EXPECT_TRUE(rejected(with(
      [](SinkOptions& s) {
        s.webhook.headers = {{"X-A", "b\r\nX-B: c"}};
      },
      webhook(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.batch_records = 0; }, webhook(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.batch_bytes = 0; }, webhook(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.max_backoff = 1ms; }, webhook(1))));
  EXPECT_TRUE(
      rejected(with([](SinkOptions& s) { s.syslog.address = "127.0.0.1"; }, syslogSink(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.syslog.facility = 24; }, syslogSink(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.syslog.tls = true; }, syslogSink(1))));
  EXPECT_TRUE(rejected(with([](SinkOptions& s) { s.syslog.app_name = "a b"; }, syslogSink(1))));
  // A damaged cursor file is an error, not a silent restart from 0.
  std::filesystem::create_directories(h.dir.path() + "/state");
  std::ofstream(h.dir.path() + "/state/hook.cursor") << "12x\n";
  EXPECT_FALSE(Forwarder::loadCursor(h.dir.path(), "hook").isOk());
  EXPECT_TRUE(rejected({webhook(1)}));
  EXPECT_EQ(*Forwarder::loadCursor(h.dir.path(), "none"), 0u);
}

// ---- syslog --------------------------------------------------------------------------------

TEST(ForwarderTest, SyslogMessageFormat) {
  SyslogOptions o;
  o.app_name = "stepgate";
  o.facility = 13;
  auto m = formatSyslog(recordJson(7), 7, o, "gw1", 42);
  ASSERT_TRUE(m.isOk());
  EXPECT_EQ(*m,
            "<110>1 2026-01-02T03:04:05.000006Z gw1 stepgate 42 request [stepgate@32473 "
            "seq=\"7\" event_id=\"0190a1b2-c3d4-7e5f-8a9b-100000000007\"] " +
                recordJson(7));
  // A deny is a warning (severity 4).
  m = formatSyslog(recordJson(8, "deny"), 8, o, "gw1", 42);
  ASSERT_TRUE(m.isOk());
  EXPECT_EQ(m->substr(0, 7), "<108>1 ");
  // Structured-data values escape '"', '\' and ']'; an odd time becomes NILVALUE.
  m = formatSyslog(R"({"v":1,"type":"auth_failure","seq":1,"event_id":"a\"]\\b","time":"now"})", 1,
                   o, "gw1", 42);
  ASSERT_TRUE(m.isOk());
  EXPECT_EQ(
      m->substr(0, m->find(" {")),
      R"(<108>1 - gw1 stepgate 42 auth_failure [stepgate@32473 seq="1" event_id="a\"\]\\b"])");
  EXPECT_FALSE(formatSyslog("not json", 1, o, "gw1", 42).isOk());
}

TEST(ForwarderTest, SyslogReceiverDownForAWhileThenEverythingArrives) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 20);
  h.durable = 20;
  const uint16_t port = freePort();
  auto f = h.start({syslogSink(port)});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return f->stats().at(0).failures >= 3; }));
  EXPECT_EQ(f->stats().at(0).lag, 20u);
  SyslogReceiver rx(port);
  ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 20; }));
  f->stop();
  const std::vector<std::string> msgs = rx.messages();
  ASSERT_EQ(msgs.size(), 20u);
  std::set<int64_t> seqs;
  for (const std::string& m : msgs) {
    // <PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID [SD] MSG
    std::istringstream in(m);
    std::string pri, ts, host, app, procid, msgid;
    in >> pri >> ts >> host >> app >> procid >> msgid;
    EXPECT_EQ(pri, "<110>1");
    EXPECT_EQ(ts, "2026-01-02T03:04:05.000006Z");
    EXPECT_EQ(host, "gw1");
    EXPECT_EQ(app, "stepgate");
    EXPECT_EQ(procid, std::to_string(::getpid()));
    EXPECT_EQ(msgid, "request");
    const size_t sd = m.find("[stepgate@32473 seq=\"");
    ASSERT_NE(sd, std::string::npos);
    const size_t msg = m.find("] {");
    ASSERT_NE(msg, std::string::npos);
    auto rec = parseJson(m.substr(msg + 2));
    ASSERT_TRUE(rec.isOk()) << m;
    const int64_t seq = rec->find("seq")->asInt();
    EXPECT_EQ(m.substr(sd, msg - sd + 1), "[stepgate@32473 seq=\"" + std::to_string(seq) +
                                              "\" event_id=\"" + rec->find("event_id")->asString() +
                                              "\"]");
    EXPECT_EQ(m.substr(msg + 2), recordJson(static_cast<uint64_t>(seq)));
    seqs.insert(seq);
  }
  EXPECT_EQ(seqs, range(0, 20));
  EXPECT_EQ(*Forwarder::loadCursor(h.dir.path(), "siem"), 20u);
}

TEST(ForwarderTest, TwoSinksKeepTheirOwnCursors) {
  Harness h;
  appendRecords(h.dir.path(), 0, 0, 15);
  h.durable = 15;
  HttpReceiver http;
  const uint16_t syslog_port = freePort();  // down the whole time
  auto f = h.start({webhook(http.port()), syslogSink(syslog_port)});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] {
    const auto st = f->stats();
    return st[0].cursor == 15 && st[1].failures >= 2;
  }));
  f->stop();
  const auto st = f->stats();
  EXPECT_EQ(st[0].name, "hook");
  EXPECT_EQ(st[0].lag, 0u);
  EXPECT_EQ(st[1].name, "siem");
  EXPECT_EQ(st[1].cursor, 0u);
  EXPECT_EQ(st[1].lag, 15u);  // the sink that is down lags; the other one is unaffected
  EXPECT_EQ(*Forwarder::loadCursor(h.dir.path(), "hook"), 15u);
  EXPECT_EQ(*Forwarder::loadCursor(h.dir.path(), "siem"), 0u);
}

// ---- a real rsyslogd -----------------------------------------------------------------------

std::string findRsyslogd() {
  for (const char* p : {"/usr/sbin/rsyslogd", "/sbin/rsyslogd", "/usr/local/sbin/rsyslogd"}) {
    if (::access(p, X_OK) == 0)
      return p;
  }
  return "";
}

class Rsyslogd {
 public:
  Rsyslogd(const std::string& bin, const std::string& dir, uint16_t port) : dir_(dir) {
    out_ = dir + "/received.log";
    const std::string conf = dir + "/rsyslog.conf";
    std::ofstream(conf) << "global(workDirectory=\"" << dir << "\" maxMessageSize=\"64k\")\n"
                        << "module(load=\"imtcp\")\n"
                        << "input(type=\"imtcp\" port=\"" << port << "\" address=\"127.0.0.1\")\n"
                        << "template(name=\"sg\" type=\"string\" "
                           "string=\"%msgid%|%structured-data%|%msg%\\n\")\n"
                        << "action(type=\"omfile\" file=\"" << out_ << "\" template=\"sg\")\n";
    const std::string pidfile = dir + "/rsyslogd.pid";
    const std::string log = dir + "/rsyslogd.out";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<std::string> args = {bin, "-n", "-f", conf, "-i", pidfile};
    std::vector<char*> argv;
    for (std::string& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
      pid_ = -1;
  }
  ~Rsyslogd() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {  // up to 10 s, then SIGKILL
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_)
        return;
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  const std::string& out() const { return out_; }
  std::string diagnostics() const { return readFileText(dir_ + "/rsyslogd.out"); }

 private:
  std::string dir_;
  std::string out_;
  pid_t pid_ = -1;
};

bool canConnect(uint16_t port) {
  Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  return connectTcp(ep, -1, std::chrono::steady_clock::now() + 1s).isOk();
}

TEST(ForwarderTest, RealRsyslogStartedLateReceivesEveryRecord) {
  const std::string bin = findRsyslogd();
  if (bin.empty()) {
    GTEST_SKIP() << "rsyslogd is not installed (Debian package rsyslog: scripts/install-deps test)";
  }
  Harness h;
  TempDir rdir;
  appendRecords(h.dir.path(), 0, 0, 25);
  h.durable = 25;
  const uint16_t port = freePort();
  auto f = h.start({syslogSink(port)});
  ASSERT_TRUE(f);
  ASSERT_TRUE(waitUntil([&] { return f->stats().at(0).failures >= 2; }));  // not started yet
  std::string out;
  {
    Rsyslogd rs(bin, rdir.path(), port);
    ASSERT_TRUE(waitUntil([&] { return !rs.running() || canConnect(port); })) << rs.diagnostics();
    ASSERT_TRUE(rs.running()) << rs.diagnostics();
    ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 25; })) << f->stats().at(0).last_error;
    out = rs.out();
  }  // rsyslogd stopped (SIGTERM, waited for)
  // Down again while more records are committed: they wait, the lag shows them.
  const uint64_t failures = f->stats().at(0).failures;
  appendRecords(h.dir.path(), 25, 25, 10);
  h.durable = 35;
  f->notify();
  ASSERT_TRUE(waitUntil([&] { return f->stats().at(0).failures >= failures + 2; }));
  EXPECT_EQ(f->stats().at(0).lag, 10u);
  {
    Rsyslogd rs(bin, rdir.path(), port);  // appends to the same output file
    ASSERT_TRUE(waitUntil([&] { return !rs.running() || canConnect(port); })) << rs.diagnostics();
    ASSERT_TRUE(rs.running()) << rs.diagnostics();
    ASSERT_TRUE(waitUntil([&] { return cursorOf(*f) == 35; })) << f->stats().at(0).last_error;
  }
  f->stop();
  std::istringstream lines(readFileText(out));
  std::string line;
  std::multiset<int64_t> seqs;
  while (std::getline(lines, line)) {
    const size_t a = line.find('|');
    const size_t b = line.find('|', a + 1);
    ASSERT_NE(b, std::string::npos) << line;
    EXPECT_EQ(line.substr(0, a), "request");
    std::string msg = line.substr(b + 1);
    while (!msg.empty() && msg.front() == ' ')
      msg.erase(0, 1);
    auto rec = parseJson(msg);
    ASSERT_TRUE(rec.isOk()) << line;
    const int64_t seq = rec->find("seq")->asInt();
    EXPECT_EQ(line.substr(a + 1, b - a - 1), "[stepgate@32473 seq=\"" + std::to_string(seq) +
                                                 "\" event_id=\"" +
                                                 rec->find("event_id")->asString() + "\"]");
    EXPECT_EQ(msg, recordJson(static_cast<uint64_t>(seq)));
    seqs.insert(seq);
  }
  EXPECT_EQ(std::set<int64_t>(seqs.begin(), seqs.end()), range(0, 35));
}

}  // namespace
}  // namespace stepgate::audit
