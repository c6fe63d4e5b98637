#include "audit/forwarder.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "audit/env.h"
#include "audit/segment.h"
#include "common/ascii.h"
#include "common/json.h"
#include "common/json_writer.h"
#include "config/schema.h"

namespace stepgate::audit {
namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

constexpr size_t kMaxSinks = 64;
constexpr size_t kMaxSinkNameBytes = 64;
constexpr size_t kMaxBatchRecords = 100000;
constexpr size_t kMaxBatchBytes = 64u << 20;
constexpr size_t kMaxResponseHeadBytes = 64u << 10;
constexpr size_t kMaxResponseBodyBytes = 1u << 20;
constexpr size_t kMaxAuthorizationBytes = 8u << 10;
constexpr size_t kMaxDrainBytes = 1u << 20;  // what a syslog receiver may send us per batch
constexpr size_t kMaxSyslogHostname = 255;
constexpr size_t kMaxSyslogAppName = 48;
constexpr size_t kMaxSyslogMsgId = 32;
constexpr uint32_t kMaxSegmentsListed = 1u << 20;

uint32_t loadLe32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t loadLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string errnoText(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

bool validSinkName(std::string_view n) {
  if (n.empty() || n.size() > kMaxSinkNameBytes)
    return false;
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

bool printUsAscii(std::string_view s) {
  for (char c : s) {
    if (c < 33 || c > 126)
      return false;
  }
  return true;
}

bool parsePort(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5)
    return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535)
    return false;
  port = static_cast<uint16_t>(v);
  return true;
}

// "host:port" or "[v6]:port" (port required when `default_port` is 0).
Status parseHostPort(std::string_view s, uint16_t default_port, std::string& host, uint16_t& port) {
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos)
      return invalidArgument("unterminated [ in address");
    host = std::string(s.substr(1, close - 1));
    rest = s.substr(close + 1);
  } else {
    const size_t colon = s.rfind(':');
    if (colon != std::string_view::npos && s.find(':') != colon) {
      return invalidArgument("an IPv6 address must be written [addr]:port");
    }
    host = std::string(s.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
  }
  if (host.empty() || !printUsAscii(host))
    return invalidArgument("bad host in address");
  if (rest.empty()) {
    if (default_port == 0)
      return invalidArgument("address needs a port");
    port = default_port;
    return okStatus();
  }
  if (rest.front() != ':' || !parsePort(rest.substr(1), port)) {
    return invalidArgument("bad port in address");
  }
  return okStatus();
}

struct ParsedUrl {
  bool https = false;
  std::string host;
  uint16_t port = 0;
  std::string host_header;  // host[:port] as written
  std::string path;         // with the query, "/" when empty
};

Status parseUrl(std::string_view url, ParsedUrl& out) {
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    out.https = true;
    rest = url.substr(8);
  } else {
    return invalidArgument("webhook url must start with http:// or https://");
  }
  for (char c : url) {
    if (c <= 32 || c == 127)
      return invalidArgument("webhook url holds a space or control byte");
  }
  const size_t slash = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    return invalidArgument("webhook url must not hold credentials (use authorization_file)");
  }
  RETURN_IF_ERROR(parseHostPort(authority, out.https ? 443 : 80, out.host, out.port));
  out.host_header = std::string(authority);
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.path.front() == '?')
    out.path.insert(out.path.begin(), '/');
  return okStatus();
}

bool validHeaderName(std::string_view n) {
  if (n.empty())
    return false;
  for (char c : n) {
    const bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    if (!tchar || c == 0)
      return false;
  }
  return true;
}
bool validHeaderValue(std::string_view v) {
  for (char c : v) {
    if (c == '\r' || c == '\n' || c == 0)
      return false;
  }
  return true;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// ---- plain TCP ---------------------------------------------------------------------------

int msUntil(TimePoint deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0)
    return 0;
  return static_cast<int>(std::min<int64_t>(left, 1 << 30));
}

// Waits until `fd` has `events`; Unavailable on timeout or when `stop_fd` is readable.
Status waitFd(int fd, short events, int stop_fd, TimePoint deadline) {
  for (;;) {
    pollfd p[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int n = ::poll(p, stop_fd >= 0 ? 2 : 1, msUntil(deadline));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return unavailable(errnoText("poll", errno));
    }
    if (stop_fd >= 0 && (p[1].revents & POLLIN) != 0)
      return unavailable("forwarder stopping");
    if (n == 0)
      return unavailable("timed out");
    if (p[0].revents != 0)
      return okStatus();
  }
}

class TcpStream final : public ByteStream {
 public:
  TcpStream(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}
  ~TcpStream() override { ::close(fd_); }

  Status writeAll(std::string_view data, TimePoint deadline) override {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        RETURN_IF_ERROR(waitFd(fd_, POLLOUT, stop_fd_, deadline));
        continue;
      }
      return unavailable(errnoText("send", errno));
    }
    return okStatus();
  }

  StatusOr<size_t> read(char* buf, size_t cap, TimePoint deadline) override {
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, cap, 0);
      if (n >= 0)
        return static_cast<size_t>(n);
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        RETURN_IF_ERROR(waitFd(fd_, POLLIN, stop_fd_, deadline));
        continue;
      }
      return unavailable(errnoText("recv", errno));
    }
  }

  Status shutdownWrite(TimePoint) override {
    if (::shutdown(fd_, SHUT_WR) != 0)
      return unavailable(errnoText("shutdown", errno));
    return okStatus();
  }

 private:
  int fd_;
  int stop_fd_;
};

}  // namespace

StatusOr<std::unique_ptr<ByteStream>> connectTcp(const Endpoint& ep, int stop_fd,
                                                 TimePoint deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(ep.port);
  const int rc = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0)
    return unavailable("resolve " + ep.host + ": " + ::gai_strerror(rc));
  std::string last = "no address for " + ep.host;
  std::unique_ptr<ByteStream> stream;
  for (addrinfo* ai = res; ai != nullptr && !stream; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = errnoText("socket", errno);
      continue;
    }
    Status st;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        st = unavailable(errnoText("connect", errno));
      } else {
        st = waitFd(fd, POLLOUT, stop_fd, deadline);
        if (st.isOk()) {
          int err = 0;
          socklen_t len = sizeof err;
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
          if (err != 0)
            st = unavailable(errnoText("connect", err));
        }
      }
    }
    if (!st.isOk()) {
      last = "connect " + ep.host + ":" + port + ": " + st.message();
      ::close(fd);
      continue;
    }
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    stream = std::make_unique<TcpStream>(fd, stop_fd);
  }
  ::freeaddrinfo(res);
  if (!stream)
    return unavailable(last);
  return stream;
}

namespace {

// ---- reading committed records -----------------------------------------------------------

struct Rec {
  uint64_t seq = 0;
  std::string payload;
};

std::string segmentName(uint64_t first) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(first));
  return buf;
}
bool parseSegmentName(std::string_view name, uint64_t& first) {
  if (name.size() != 24 || name.substr(20) != ".seg")
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9')
      return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  first = v;
  return true;
}

// Reads all of [off, off+n) unless the file ends first; the count read.
StatusOr<size_t> preadFull(int fd, char* buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(off + got));
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return unavailable(errnoText("pread", errno));
    }
    if (r == 0)
      break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// A forward-only reader over DIR/segments: keeps its segment open and its offset, so reading
// on from where it stopped costs one pread per frame header and payload.
class TailReader {
 public:
  explicit TailReader(std::string dir) : seg_dir_(std::move(dir) + "/segments") {}
  ~TailReader() { closeFd(); }
  TailReader(const TailReader&) = delete;
  TailReader& operator=(const TailReader&) = delete;

  // Appends the records from `next` up to (not including) `limit` to `out`: at most
  // `max_records`, and no more than `max_bytes` of payload unless `out` would stay empty.
  // When retention removed records before `next`, reading starts at the oldest one left and
  // `skipped` counts the missing ones. DataLoss: a corrupt frame (the log fails verify).
  // A problem after some records were read ends the batch there; the next call reports it.
  Status read(uint64_t next, uint64_t limit, size_t max_records, size_t max_bytes,
              std::vector<Rec>& out, uint64_t& skipped) {
    const Status st = readSome(next, limit, max_records, max_bytes, out, skipped);
    if (!st.isOk() && !out.empty()) {
      closeFd();  // re-seek next time, after the good records
      return okStatus();
    }
    return st;
  }

 private:
  Status readSome(uint64_t next, uint64_t limit, size_t max_records, size_t max_bytes,
                  std::vector<Rec>& out, uint64_t& skipped) {
    if (fd_ < 0 || pos_seq_ != next)
      RETURN_IF_ERROR(seek(next, skipped));
    size_t bytes = 0;
    while (pos_seq_ < limit && out.size() < max_records) {
      char head[kFrameHeaderBytes];
      auto got = preadFull(fd_, head, sizeof head, offset_);
      if (!got.isOk())
        return got.status();
      if (*got == 0) {
        // The end of this segment: the next one starts at pos_seq_.
        RETURN_IF_ERROR(openSegment(pos_seq_));
        continue;
      }
      if (*got < sizeof head) {
        return unavailable("record " + std::to_string(pos_seq_) + " is not complete yet");
      }
      const uint32_t len = loadLe32(head);
      const uint32_t crc = loadLe32(head + 4);
      if (len == 0 || len > kMaxPayloadBytes) {
        return dataLoss("record " + std::to_string(pos_seq_) + ": bad frame length");
      }
      if (!out.empty() && bytes + len > max_bytes)
        break;
      Rec rec;
      rec.seq = pos_seq_;
      rec.payload.resize(len);
      got = preadFull(fd_, rec.payload.data(), len, offset_ + sizeof head);
      if (!got.isOk())
        return got.status();
      if (*got < len) {
        return unavailable("record " + std::to_string(pos_seq_) + " is not complete yet");
      }
      if (crc32c(rec.payload) != crc) {
        return dataLoss("record " + std::to_string(pos_seq_) + ": bad frame crc");
      }
      bytes += len;
      offset_ += sizeof head + len;
      ++pos_seq_;
      out.push_back(std::move(rec));
    }
    return okStatus();
  }

  void closeFd() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  Status seek(uint64_t seq, uint64_t& skipped) {
    closeFd();
    auto names = Env::posix().listDir(seg_dir_);
    if (!names.isOk())
      return unavailable("list segments: " + names.status().message());
    bool found = false;
    bool any = false;
    uint64_t best = 0;
    uint64_t oldest = UINT64_MAX;
    uint32_t listed = 0;
    for (const std::string& name : *names) {
      if (++listed > kMaxSegmentsListed)
        break;
      uint64_t first = 0;
      if (!parseSegmentName(name, first))
        continue;
      any = true;
      oldest = std::min(oldest, first);
      if (first <= seq && (!found || first > best)) {
        best = first;
        found = true;
      }
    }
    if (!any)
      return unavailable("no segments in the log yet");
    if (!found) {
      skipped += oldest - seq;
      seq = oldest;
      best = oldest;
    }
    RETURN_IF_ERROR(openSegment(best));
    while (pos_seq_ < seq) {
      char head[kFrameHeaderBytes];
      auto got = preadFull(fd_, head, sizeof head, offset_);
      if (!got.isOk())
        return got.status();
      if (*got < sizeof head) {
        return unavailable("record " + std::to_string(pos_seq_) + " is not in the log yet");
      }
      const uint32_t len = loadLe32(head);
      if (len == 0 || len > kMaxPayloadBytes) {
        return dataLoss("record " + std::to_string(pos_seq_) + ": bad frame length");
      }
      offset_ += sizeof head + len;
      ++pos_seq_;
    }
    return okStatus();
  }

  Status openSegment(uint64_t first) {
    closeFd();
    const std::string path = seg_dir_ + "/" + segmentName(first);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      return unavailable("record " + std::to_string(first) + ": no segment " + segmentName(first) +
                         " (" + std::strerror(errno) + ")");
    }
    char head[kSegmentHeaderBytes];
    auto got = preadFull(fd_, head, sizeof head, 0);
    if (!got.isOk())
      return got.status();
    if (*got < sizeof head)
      return unavailable(segmentName(first) + ": header not written yet");
    if (std::string_view(head, kSegmentMagic.size()) != kSegmentMagic ||
        crc32c(std::string_view(head, 24)) != loadLe32(head + 24) || loadLe64(head + 8) != first) {
      closeFd();
      return dataLoss(segmentName(first) + ": bad segment header");
    }
    offset_ = kSegmentHeaderBytes;
    pos_seq_ = first;
    return okStatus();
  }

  std::string seg_dir_;
  int fd_ = -1;
  uint64_t pos_seq_ = 0;
  uint64_t offset_ = 0;
};

// ---- cursors -------------------------------------------------------------------------------

std::string cursorPath(const std::string& dir, const std::string& name) {
  return dir + "/state/" + name + ".cursor";
}

Status saveCursor(const std::string& dir, const std::string& name, uint64_t next_seq) {
  Env& env = Env::posix();
  const std::string path = cursorPath(dir, name);
  const std::string tmp = path + ".tmp";
  if (env.exists(tmp))
    RETURN_IF_ERROR(env.remove(tmp));
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, env.openAppend(tmp));
  std::string text = std::to_string(next_seq);
  text += '\n';
  Status st = f->append(text);
  if (st.isOk())
    st = f->sync();
  const Status closed = f->close();
  if (st.isOk())
    st = closed;
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(env.rename(tmp, path));
  return env.syncDir(dir + "/state");
}

// ---- syslog --------------------------------------------------------------------------------

void appendSdValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '"' || c == '\\' || c == ']')
      out += '\\';
    out += c;
  }
}

bool looksLikeTimestamp(std::string_view t) {
  // RFC 3339 with a 'T', at most 6 fraction digits (RFC 5424 TIME-SECFRAC), 'Z' or offset.
  if (t.size() < 20 || t.size() > 32 || t[10] != 'T' || !printUsAscii(t))
    return false;
  const size_t dot = t.find('.');
  if (dot != std::string_view::npos) {
    size_t digits = 0;
    while (dot + 1 + digits < t.size() && t[dot + 1 + digits] >= '0' &&
           t[dot + 1 + digits] <= '9') {
      ++digits;
    }
    if (digits == 0 || digits > 6)
      return false;
  }
  return true;
}

// ---- the sinks -----------------------------------------------------------------------------

struct Shared {
  int stop_fd = -1;  // eventfd, readable once stopping
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  uint64_t wake_gen = 0;  // bumped by notify(); guarded by mu
};

struct Sink {
  SinkOptions opt;
  ParsedUrl url;                     // webhook
  Endpoint endpoint;                 // where to connect
  std::string hostname;              // syslog
  std::string auth_header;           // loaded per connection
  uint64_t cursor = 0;               // owned by the thread after start()
  std::unique_ptr<ByteStream> conn;  // webhook keep-alive connection
  std::thread thread;

  mutable std::mutex stats_mu;
  SinkStats stats;  // guarded by stats_mu
};

}  // namespace

StatusOr<std::string> formatSyslog(std::string_view payload, uint64_t seq, const SyslogOptions& opt,
                                   std::string_view hostname, int pid) {
  auto parsed = parseJson(payload);
  if (!parsed.isOk() || !parsed->isObject()) {
    return dataLoss("record " + std::to_string(seq) + " is not a JSON object");
  }
  const JsonValue& rec = *parsed;
  std::string type = "-";
  if (const JsonValue* t = rec.find("type");
      t != nullptr && t->isString() && !t->asString().empty()) {
    type.clear();
    for (char c : t->asString()) {
      if (type.size() == kMaxSyslogMsgId)
        break;
      type += (c >= 33 && c <= 126) ? c : '_';
    }
  }
  std::string event_id;
  if (const JsonValue* e = rec.find("event_id"); e != nullptr && e->isString()) {
    event_id = e->asString();
  }
  std::string_view time = "-";
  if (const JsonValue* t = rec.find("time");
      t != nullptr && t->isString() && looksLikeTimestamp(t->asString())) {
    time = t->asString();
  }
  // Severity: warning for what an auditor looks for first, informational otherwise.
  int severity = 6;
  if (type == "auth_failure" || type == "gap" || type == "recovery")
    severity = 4;
  if (const JsonValue* eff = rec.at("/decision/effect");
      eff != nullptr && eff->isString() && eff->asString() != "allow") {
    severity = 4;
  }
  const int facility = std::clamp(opt.facility, 0, 23);
  std::string out;
  out.reserve(payload.size() + 160);
  out += '<';
  out += std::to_string(facility * 8 + severity);
  out += ">1 ";
  out += time;
  out += ' ';
  out += hostname.empty() ? std::string_view("-") : hostname;
  out += ' ';
  out += opt.app_name.empty() ? std::string_view("-") : std::string_view(opt.app_name);
  out += ' ';
  out += std::to_string(pid);
  out += ' ';
  out += type;
  out += " [stepgate@32473 seq=\"";
  out += std::to_string(seq);
  out += "\" event_id=\"";
  appendSdValue(out, event_id);
  out += "\"] ";
  out += payload;
  return out;
}

struct Forwarder::Impl {
  ForwarderOptions opt;
  Shared shared;
  std::vector<std::unique_ptr<Sink>> sinks;
  bool started = false;
  bool stopped = false;

  ~Impl() {
    if (shared.stop_fd >= 0)
      ::close(shared.stop_fd);
  }

  void setError(Sink& s, std::string msg) {
    std::lock_guard<std::mutex> lk(s.stats_mu);
    s.stats.last_error = std::move(msg);
  }

  // Waits `d`, or until notify() (when `wake_on_notify`) or stop. False when stopping.
  bool waitFor(std::chrono::milliseconds d, bool wake_on_notify) {
    std::unique_lock<std::mutex> lk(shared.mu);
    const uint64_t gen = shared.wake_gen;
    shared.cv.wait_for(lk, d, [&] {
      return shared.stopping.load() || (wake_on_notify && shared.wake_gen != gen);
    });
    return !shared.stopping.load();
  }

  StatusOr<std::unique_ptr<ByteStream>> connect(const Endpoint& ep, TimePoint deadline) {
    if (ep.tls)
      return opt.tls_connector(ep, shared.stop_fd, deadline);
    if (opt.tcp_connector)
      return opt.tcp_connector(ep, shared.stop_fd, deadline);
    return connectTcp(ep, shared.stop_fd, deadline);
  }

  // ---- webhook ----

  Status loadAuthorization(Sink& s) {
    s.auth_header.clear();
    if (s.opt.webhook.authorization_file.empty())
      return okStatus();
    auto text = Env::posix().readFile(s.opt.webhook.authorization_file);
    if (!text.isOk())
      return unavailable("authorization_file: " + text.status().message());
    const std::string_view v = trim(*text);
    if (v.empty() || v.size() > kMaxAuthorizationBytes || !validHeaderValue(v)) {
      return invalidArgument("authorization_file: empty, too long or holds a line break");
    }
    s.auth_header = std::string(v);
    return okStatus();
  }

  // Reads one HTTP response; sets `keep` when the connection may carry the next request.
  Status readResponse(ByteStream& conn, TimePoint deadline, int& status, bool& keep) {
    std::string buf;
    char chunk[4096];
    size_t head_end = std::string::npos;
    while (head_end == std::string::npos) {
      if (buf.size() > kMaxResponseHeadBytes)
        return unavailable("response head too large");
      auto n = conn.read(chunk, sizeof chunk, deadline);
      if (!n.isOk())
        return n.status();
      if (*n == 0)
        return unavailable("connection closed before a response");
      buf.append(chunk, *n);
      head_end = buf.find("\r\n\r\n");
    }
    const std::string_view head(buf.data(), head_end);
    if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') {
      return unavailable("not an HTTP/1.x response");
    }
    status = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (head[i] < '0' || head[i] > '9')
        return unavailable("bad response status");
      status = status * 10 + (head[i] - '0');
    }
    bool have_length = false;
    bool close = head[7] == '0';
    uint64_t length = 0;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      const size_t next = head.find("\r\n", pos + 2);
      const std::string_view line =
          head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
      pos = next;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos)
        continue;
      const std::string_view name = line.substr(0, colon);
      const std::string_view value = trim(line.substr(colon + 1));
      if (equalsIgnoreAsciiCase(name, "content-length")) {
        if (value.empty() || value.size() > 12)
          return unavailable("bad Content-Length");
        length = 0;
        for (char c : value) {
          if (c < '0' || c > '9')
            return unavailable("bad Content-Length");
          length = length * 10 + static_cast<uint64_t>(c - '0');
        }
        have_length = true;
      } else if (equalsIgnoreAsciiCase(name, "transfer-encoding")) {
        close = true;  // we do not need the body: drop the connection instead of parsing it
      } else if (equalsIgnoreAsciiCase(name, "connection") && equalsIgnoreAsciiCase(value, "close")) {
        close = true;
      }
    }
    keep = false;
    if (close || !have_length || length > kMaxResponseBodyBytes)
      return okStatus();
    size_t have = buf.size() - head_end - 4;
    if (have > length)
      return okStatus();  // more than the body: do not reuse
    while (have < length) {
      auto n = conn.read(chunk, std::min<uint64_t>(sizeof chunk, length - have), deadline);
      if (!n.isOk() || *n == 0)
        return okStatus();  // the answer is in; only reuse is lost
      have += *n;
    }
    keep = true;
    return okStatus();
  }

  Status sendWebhookOnce(Sink& s, const std::string& head, const std::string& body, bool& reused) {
    const TimePoint deadline = Clock::now() + s.opt.timeout;
    reused = s.conn != nullptr;
    if (!s.conn) {
      ASSIGN_OR_RETURN(s.conn, connect(s.endpoint, deadline));
      reused = false;
    }
    Status st = s.conn->writeAll(head, deadline);
    if (st.isOk())
      st = s.conn->writeAll(body, deadline);
    int status = 0;
    bool keep = false;
    if (st.isOk())
      st = readResponse(*s.conn, deadline, status, keep);
    if (!st.isOk() || !keep)
      s.conn.reset();
    RETURN_IF_ERROR(st);
    if (status < 200 || status > 299) {
      return unavailable("webhook answered " + std::to_string(status));
    }
    return okStatus();
  }

  Status sendWebhook(Sink& s, const std::vector<Rec>& batch) {
    std::string body;
    size_t total = 16;
    for (const Rec& r : batch)
      total += r.payload.size() + 1;
    body.reserve(total);
    body += "{\"records\":[";
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i > 0)
        body += ',';
      body += batch[i].payload;
    }
    body += "]}";
    // The Authorization value is read per connection; build the request after connecting.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!s.conn) {
        RETURN_IF_ERROR(loadAuthorization(s));
      }
      std::string req;
      req.reserve(512);
      req += "POST ";
      req += s.url.path;
      req += " HTTP/1.1\r\nHost: ";
      req += s.url.host_header;
      req += "\r\nContent-Type: application/json\r\nContent-Length: ";
      req += std::to_string(body.size());
      req += "\r\nX-Stepgate-Audit-Seq-From: ";
      req += std::to_string(batch.front().seq);
      req += "\r\nX-Stepgate-Audit-Seq-To: ";
      req += std::to_string(batch.back().seq);
      req += "\r\nUser-Agent: stepgate-audit-forwarder\r\n";
      if (!s.auth_header.empty()) {
        req += "Authorization: ";
        req += s.auth_header;
        req += "\r\n";
      }
      for (const auto& [name, value] : s.opt.webhook.headers) {
        req += name;
        req += ": ";
        req += value;
        req += "\r\n";
      }
      req += "\r\n";
      bool reused = false;
      Status st = sendWebhookOnce(s, req, body, reused);
      // A kept-alive connection the receiver closed meanwhile: one fresh try at once.
      if (st.isOk() || !reused || shared.stopping.load())
        return st;
    }
    return unavailable("webhook: retry on a fresh connection failed");
  }

  // ---- syslog ----

  Status sendSyslog(Sink& s, const std::vector<Rec>& batch) {
    std::string frames;
    const int pid = static_cast<int>(::getpid());
    for (const Rec& r : batch) {
      ASSIGN_OR_RETURN(std::string msg,
                       formatSyslog(r.payload, r.seq, s.opt.syslog, s.hostname, pid));
      frames += std::to_string(msg.size());
      frames += ' ';
      frames += msg;
    }
    const TimePoint deadline = Clock::now() + s.opt.timeout;
    ASSIGN_OR_RETURN(std::unique_ptr<ByteStream> conn, connect(s.endpoint, deadline));
    RETURN_IF_ERROR(conn->writeAll(frames, deadline));
    RETURN_IF_ERROR(conn->shutdownWrite(deadline));
    // The receiver has read everything once it closes after our half-close.
    char buf[4096];
    size_t drained = 0;
    for (;;) {
      auto n = conn->read(buf, sizeof buf, deadline);
      if (!n.isOk())
        return unavailable("syslog receiver did not confirm: " + n.status().message());
      if (*n == 0)
        return okStatus();
      drained += *n;
      if (drained > kMaxDrainBytes)
        return unavailable("syslog receiver keeps sending");
    }
  }

  // ---- the loop ----

  void run(Sink& s) {
    TailReader reader(opt.dir);
    std::vector<Rec> batch;
    std::minstd_rand rng(std::random_device{}());
    uint64_t consecutive = 0;
    while (!shared.stopping.load()) {
      const uint64_t durable = opt.durable_seq ? opt.durable_seq() : 0;
      {
        std::lock_guard<std::mutex> lk(s.stats_mu);
        s.stats.durable = durable;
        s.stats.cursor = s.cursor;
        s.stats.lag = durable > s.cursor ? durable - s.cursor : 0;
      }
      if (batch.empty()) {
        if (s.cursor >= durable) {
          if (s.cursor > durable) {
            setError(s, "cursor " + std::to_string(s.cursor) + " is beyond the log (durable seq " +
                            std::to_string(durable) + ")");
          }
          if (!waitFor(opt.poll_interval, true))
            break;
          continue;
        }
        uint64_t skipped = 0;
        const Status st =
            reader.read(s.cursor, durable, s.opt.batch_records, s.opt.batch_bytes, batch, skipped);
        if (skipped > 0) {
          // Retention removed them before they were sent: say so, go on after them.
          s.cursor += skipped;
          std::lock_guard<std::mutex> lk(s.stats_mu);
          s.stats.skipped += skipped;
          s.stats.last_error =
              std::to_string(skipped) + " records were removed before they were sent";
        }
        if (!st.isOk()) {
          batch.clear();
          {
            std::lock_guard<std::mutex> lk(s.stats_mu);
            s.stats.stalled = st.code() == StatusCode::kDataLoss;
            s.stats.last_error = st.message();
          }
          if (!waitFor(backoff(s, ++consecutive, rng), false))
            break;
          continue;
        }
        if (batch.empty()) {
          if (!waitFor(opt.poll_interval, true))
            break;
          continue;
        }
      }
      Status st = s.opt.kind == SinkKind::kWebhook ? sendWebhook(s, batch) : sendSyslog(s, batch);
      if (st.isOk()) {
        const uint64_t next = batch.back().seq + 1;
        st = saveCursor(opt.dir, s.opt.name, next);
        if (!st.isOk())
          st = Status(st.code(), "saving the cursor: " + st.message());
        if (st.isOk()) {
          s.cursor = next;
          consecutive = 0;
          {
            std::lock_guard<std::mutex> lk(s.stats_mu);
            s.stats.records += batch.size();
            s.stats.batches += 1;
            s.stats.cursor = next;
            s.stats.lag = durable > next ? durable - next : 0;
            s.stats.consecutive_failures = 0;
            s.stats.stalled = false;
            s.stats.last_error.clear();
          }
          batch.clear();
          if (opt.on_cursor)
            opt.on_cursor(s.opt.name, next);
          continue;
        }
      }
      if (shared.stopping.load())
        break;
      ++consecutive;
      {
        std::lock_guard<std::mutex> lk(s.stats_mu);
        s.stats.failures += 1;
        s.stats.consecutive_failures = consecutive;
        s.stats.last_error = st.message();
      }
      // The batch is kept and sent again (at-least-once).
      if (!waitFor(backoff(s, consecutive, rng), false))
        break;
    }
    s.conn.reset();
  }

  static std::chrono::milliseconds backoff(const Sink& s, uint64_t failures,
                                           std::minstd_rand& rng) {
    const int64_t max = std::max<int64_t>(1, s.opt.max_backoff.count());
    int64_t base = std::max<int64_t>(1, s.opt.initial_backoff.count());
    for (uint64_t i = 1; i < failures && base < max; ++i)
      base *= 2;
    base = std::min(base, max);
    // Jitter: uniformly between half of it and all of it.
    std::uniform_int_distribution<int64_t> dist(base / 2, base);
    return std::chrono::milliseconds(dist(rng));
  }
};

StatusOr<std::unique_ptr<Forwarder>> Forwarder::create(ForwarderOptions options) {
  if (options.dir.empty())
    return invalidArgument("forwarder: no log directory");
  if (!options.durable_seq)
    return invalidArgument("forwarder: no durable_seq");
  if (options.sinks.size() > kMaxSinks)
    return invalidArgument("forwarder: too many sinks");
  if (options.poll_interval.count() <= 0)
    options.poll_interval = std::chrono::milliseconds(1);
  auto impl = std::make_unique<Impl>();
  std::vector<std::string> names;
  for (SinkOptions& so : options.sinks) {
    const std::string where = "forwarder sink '" + so.name + "': ";
    if (!validSinkName(so.name)) {
      return invalidArgument(where + "the name must be 1-64 of [A-Za-z0-9_-]");
    }
    if (std::find(names.begin(), names.end(), so.name) != names.end()) {
      return invalidArgument(where + "named twice");
    }
    names.push_back(so.name);
    if (so.batch_records == 0 || so.batch_records > kMaxBatchRecords) {
      return invalidArgument(where + "batch_records must be 1.." +
                             std::to_string(kMaxBatchRecords));
    }
    if (so.batch_bytes == 0 || so.batch_bytes > kMaxBatchBytes) {
      return invalidArgument(where + "batch_bytes must be 1.." + std::to_string(kMaxBatchBytes));
    }
    if (so.timeout.count() <= 0 || so.initial_backoff.count() <= 0 ||
        so.max_backoff < so.initial_backoff) {
      return invalidArgument(where + "timeout and backoffs must be positive, max >= initial");
    }
    auto sink = std::make_unique<Sink>();
    if (so.kind == SinkKind::kWebhook) {
      RETURN_IF_ERROR(parseUrl(so.webhook.url, sink->url));
      for (const auto& [name, value] : so.webhook.headers) {
        if (!validHeaderName(name) || !validHeaderValue(value)) {
          return invalidArgument(where + "bad header '" + name + "'");
        }
        for (std::string_view reserved :
             {"host", "content-length", "content-type", "transfer-encoding", "connection",
              "authorization", "x-stepgate-audit-seq-from", "x-stepgate-audit-seq-to"}) {
          if (equalsIgnoreAsciiCase(name, reserved)) {
            return invalidArgument(where + "header '" + name + "' is set by the forwarder");
          }
        }
      }
      sink->endpoint.host = sink->url.host;
      sink->endpoint.port = sink->url.port;
      sink->endpoint.tls = sink->url.https;
      sink->endpoint.ca_file = so.webhook.ca_file;
      sink->endpoint.server_name = sink->url.host;
    } else {
      RETURN_IF_ERROR(
          parseHostPort(so.syslog.address, 0, sink->endpoint.host, sink->endpoint.port));
      sink->endpoint.tls = so.syslog.tls;
      sink->endpoint.ca_file = so.syslog.tls_ca;
      sink->endpoint.server_name =
          so.syslog.tls_server_name.empty() ? sink->endpoint.host : so.syslog.tls_server_name;
      if (so.syslog.facility < 0 || so.syslog.facility > 23) {
        return invalidArgument(where + "facility must be 0..23");
      }
      if (so.syslog.app_name.size() > kMaxSyslogAppName || !printUsAscii(so.syslog.app_name)) {
        return invalidArgument(where + "app_name must be 1-48 printable ASCII characters");
      }
      sink->hostname = so.syslog.hostname;
      if (sink->hostname.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0)
          sink->hostname = host;
      }
      if (sink->hostname.size() > kMaxSyslogHostname || !printUsAscii(sink->hostname)) {
        return invalidArgument(where + "hostname must be 1-255 printable ASCII characters");
      }
    }
    if (sink->endpoint.tls && !options.tls_connector) {
      return invalidArgument(where + "TLS needs a TLS connector");
    }
    auto cursor = loadCursor(options.dir, so.name);
    if (!cursor.isOk())
      return cursor.status();
    sink->cursor = *cursor;
    sink->stats.name = so.name;
    sink->stats.kind = so.kind;
    sink->stats.cursor = sink->cursor;
    sink->opt = std::move(so);
    impl->sinks.push_back(std::move(sink));
  }
  RETURN_IF_ERROR(Env::posix().createDir(options.dir));
  RETURN_IF_ERROR(Env::posix().createDir(options.dir + "/state"));
  impl->shared.stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->shared.stop_fd < 0)
    return internalError(errnoText("eventfd", errno));
  impl->opt = std::move(options);
  std::unique_ptr<Forwarder> f(new Forwarder());
  f->impl_ = std::move(impl);
  return f;
}

Forwarder::~Forwarder() {
  stop();
}

void Forwarder::start() {
  Impl& im = *impl_;
  if (im.started || im.stopped)
    return;
  im.started = true;
  for (auto& s : im.sinks) {
    if (im.opt.on_cursor)
      im.opt.on_cursor(s->opt.name, s->cursor);
  }
  for (auto& s : im.sinks) {
    Sink* sp = s.get();
    s->thread = std::thread([&im, sp] { im.run(*sp); });
  }
}

void Forwarder::stop() {
  if (!impl_)
    return;
  Impl& im = *impl_;
  if (im.stopped)
    return;
  im.stopped = true;
  {
    std::lock_guard<std::mutex> lk(im.shared.mu);
    im.shared.stopping.store(true);
  }
  im.shared.cv.notify_all();
  const uint64_t one = 1;
  if (im.shared.stop_fd >= 0) {
    (void)!::write(im.shared.stop_fd, &one, sizeof one);
  }
  for (auto& s : im.sinks) {
    if (s->thread.joinable())
      s->thread.join();
  }
}

void Forwarder::notify() {
  Impl& im = *impl_;
  {
    std::lock_guard<std::mutex> lk(im.shared.mu);
    ++im.shared.wake_gen;
  }
  im.shared.cv.notify_all();
}

std::vector<SinkStats> Forwarder::stats() const {
  // The lag is measured now, not at the sink's last attempt: a sink waiting out a backoff
  // still falls behind every record written meanwhile.
  const uint64_t durable = impl_->opt.durable_seq ? impl_->opt.durable_seq() : 0;
  std::vector<SinkStats> out;
  out.reserve(impl_->sinks.size());
  for (const auto& s : impl_->sinks) {
    std::lock_guard<std::mutex> lk(s->stats_mu);
    SinkStats st = s->stats;
    if (durable > st.durable) st.durable = durable;
    st.lag = st.durable > st.cursor ? st.durable - st.cursor : 0;
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<SinkOptions> sinkOptionsFromConfig(const config::AuditConfig& cfg) {
  std::vector<SinkOptions> out;
  for (const config::AuditWebhookConfig& w : cfg.webhooks) {
    SinkOptions so;
    so.name = w.name;
    so.kind = SinkKind::kWebhook;
    so.webhook.url = w.url;
    so.webhook.ca_file = w.ca_file;
    so.webhook.authorization_file = w.authorization_file;
    so.batch_records = w.batch_records;
    so.batch_bytes = w.batch_bytes;
    so.timeout = w.timeout;
    so.max_backoff = w.max_backoff;
    so.initial_backoff = std::min(so.initial_backoff, so.max_backoff);
    out.push_back(std::move(so));
  }
  for (const config::AuditSyslogConfig& y : cfg.syslogs) {
    SinkOptions so;
    so.name = y.name;
    so.kind = SinkKind::kSyslog;
    so.syslog.address = y.address;
    so.syslog.tls = y.tls;
    so.syslog.tls_ca = y.ca_file;
    so.syslog.tls_server_name = y.server_name;
    so.syslog.app_name = y.app_name;
    so.syslog.facility = static_cast<int>(std::min<uint32_t>(y.facility, 23));
    so.timeout = y.timeout;
    so.max_backoff = y.max_backoff;
    so.initial_backoff = std::min(so.initial_backoff, so.max_backoff);
    out.push_back(std::move(so));
  }
  return out;
}

StatusOr<uint64_t> Forwarder::loadCursor(const std::string& dir, const std::string& name) {
  if (!validSinkName(name))
    return invalidArgument("bad sink name");
  const std::string path = cursorPath(dir, name);
  if (!Env::posix().exists(path))
    return uint64_t{0};
  ASSIGN_OR_RETURN(std::string text, Env::posix().readFile(path));
  const std::string_view v = trim(text);
  if (v.empty() || v.size() > 20)
    return dataLoss(path + ": not a seq");
  uint64_t seq = 0;
  for (char c : v) {
    if (c < '0' || c > '9')
      return dataLoss(path + ": not a seq");
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (seq > (UINT64_MAX - d) / 10)
      return dataLoss(path + ": not a seq");
    seq = seq * 10 + d;
  }
  return seq;
}

}  // namespace stepgate::audit
