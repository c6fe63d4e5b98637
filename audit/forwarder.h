#pragma once
// Forwarder: ships committed audit records to external sinks (docs/audit.md, "Forwarding").
//
// One thread per sink reads the records after the sink's saved cursor (the next seq it needs,
// DIR/state/<sink>.cursor) and below the log's durable seq, sends them in batches, and once a
// batch is acknowledged writes the new cursor atomically (temporary file, fdatasync, rename,
// directory sync) and reports it through `on_cursor` (AuditLog::setCursor, so retention never
// deletes a segment a sink still needs). Delivery is at-least-once: a batch that failed is
// resent from the same seq, and every record carries its seq so a receiver deduplicates.
//
// Sinks:
//  - webhook: HTTP/1.1 POST of {"records":[<record>,...]} (the stored record objects, in seq
//    order) with X-Stepgate-Audit-Seq-From / -To; any 2xx acknowledges the batch.
//  - syslog: RFC 5424 messages, octet-counting framing (RFC 6587) over TCP, or TLS
//    (RFC 5425) through the TLS connector; MSGID = record type, structured data
//    [stepgate@32473 seq="N" event_id="..."], MSG = the record JSON. A batch is acknowledged
//    when the receiver, after our half-close, has read everything and closed its side.
//
// A sink that is down never blocks the proxy: only its own thread waits, with exponential
// backoff and jitter up to max_backoff. stop() interrupts waits and in-flight I/O.
//
// Threads: create(), start(), stop() and the destructor on the owning (control) thread;
// stats() and notify() from any thread; durable_seq and on_cursor are called on sink
// threads (and on_cursor also from start()).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace stepgate::config {
struct AuditConfig;
}

namespace stepgate::audit {

// Where a sink connects.
struct Endpoint {
  std::string host;  // a name or a literal IPv4/IPv6 address
  uint16_t port = 0;
  bool tls = false;
  std::string ca_file;      // TLS: the CA bundle that verifies the receiver
  std::string server_name;  // TLS: SNI and the name checked in its certificate
};

// A connected byte stream (TCP, or TLS over TCP). Used by one sink thread. Every call is
// bounded by `deadline` and returns early (Unavailable) when the forwarder stops.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  [[nodiscard]] virtual Status writeAll(std::string_view data,
                                        std::chrono::steady_clock::time_point deadline) = 0;
  // Up to `cap` bytes; 0 at end of stream.
  [[nodiscard]] virtual StatusOr<size_t> read(char* buf, size_t cap,
                                              std::chrono::steady_clock::time_point deadline) = 0;
  // Ends our direction (TCP FIN; TLS close_notify then FIN).
  [[nodiscard]] virtual Status shutdownWrite(std::chrono::steady_clock::time_point deadline) = 0;
};

// Opens a stream to `ep`. `stop_fd` becomes readable when the forwarder stops: a connector
// polls it alongside its socket so it can give up at once.
using Connector = std::function<StatusOr<std::unique_ptr<ByteStream>>(
    const Endpoint& ep, int stop_fd, std::chrono::steady_clock::time_point deadline)>;

// The plain TCP connector (what non-TLS sinks use).
StatusOr<std::unique_ptr<ByteStream>> connectTcp(const Endpoint& ep, int stop_fd,
                                                 std::chrono::steady_clock::time_point deadline);

enum class SinkKind : uint8_t { kWebhook, kSyslog };

struct WebhookOptions {
  // http://host[:port][/path], or https://... (needs ForwarderOptions::tls_connector).
  std::string url;
  std::string ca_file;                                       // https: the CA bundle
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  // A file whose content (surrounding whitespace trimmed) is sent as the Authorization
  // header; read before each connection, so it can be rotated in place.
  std::string authorization_file;
};

struct SyslogOptions {
  std::string address;  // host:port ([v6]:port)
  bool tls = false;
  std::string tls_ca;
  std::string tls_server_name;  // default: the host of `address`
  std::string app_name = "stepgate";
  int facility = 13;     // 0..23; 13 = log audit
  std::string hostname;  // "" = gethostname()
};

struct SinkOptions {
  std::string name;  // [A-Za-z0-9_-]{1,64}; the cursor is DIR/state/<name>.cursor
  SinkKind kind = SinkKind::kWebhook;
  WebhookOptions webhook;
  SyslogOptions syslog;
  size_t batch_records = 500;                // 1..100000
  size_t batch_bytes = 1u << 20;             // record bytes per batch (one record always fits)
  std::chrono::milliseconds timeout{10000};  // per connect / send / answer
  std::chrono::milliseconds initial_backoff{200};  // after the first failure
  std::chrono::milliseconds max_backoff{60000};
};

struct ForwarderOptions {
  std::string dir;  // the audit log directory
  // AuditLog::durableSeq: records with seq below it are durable and may be shipped.
  std::function<uint64_t()> durable_seq;
  // Called after a sink's cursor is saved (and once per sink from start() with the loaded
  // one): AuditLog::setCursor for that sink. May be empty.
  std::function<void(const std::string& sink, uint64_t next_seq)> on_cursor;
  std::vector<SinkOptions> sinks;
  // Opens TLS streams (webhook https, syslog tls). Empty: such sinks are rejected by create().
  Connector tls_connector;
  // Opens plain streams; empty: connectTcp. (A seam for tests.)
  Connector tcp_connector;
  // How often an idle sink looks for new durable records (notify() wakes it sooner).
  std::chrono::milliseconds poll_interval{100};
};

struct SinkStats {
  std::string name;
  SinkKind kind = SinkKind::kWebhook;
  uint64_t cursor = 0;    // the next seq to send (everything below is acknowledged)
  uint64_t durable = 0;   // durable_seq() when last looked at
  uint64_t lag = 0;       // durable - cursor: records not yet acknowledged
  uint64_t records = 0;   // acknowledged since start (resends included once acknowledged)
  uint64_t batches = 0;   // acknowledged batches
  uint64_t failures = 0;  // failed attempts (connect, send, non-2xx, ...)
  uint64_t consecutive_failures = 0;
  uint64_t skipped = 0;  // records that retention removed before they were sent
  bool stalled = false;  // stopped at a record it cannot read (a corrupt log)
  std::string last_error;
};

class Forwarder {
 public:
  // Validates the options and loads each sink's cursor (0 when it has none). Creates
  // DIR/state if missing.
  [[nodiscard]] static StatusOr<std::unique_ptr<Forwarder>> create(ForwarderOptions options);
  ~Forwarder();  // stop()
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Reports every loaded cursor through on_cursor, then starts one thread per sink.
  void start();
  // Interrupts waits and I/O, joins the threads. A batch in flight is not acknowledged: it is
  // sent again after the next start. Idempotent.
  void stop();
  // New durable records: wakes idle sinks now rather than at their next poll.
  void notify();

  std::vector<SinkStats> stats() const;
  // The saved cursor of sink `name` in `dir` (0 when none was saved).
  [[nodiscard]] static StatusOr<uint64_t> loadCursor(const std::string& dir,
                                                     const std::string& name);

 private:
  Forwarder() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The sinks of the config's audit section (webhooks first, then syslogs, in file order).
std::vector<SinkOptions> sinkOptionsFromConfig(const config::AuditConfig& cfg);

// RFC 5424 message (without the octet-count frame) for one record: exposed for tests and for
// `stepgate audit export`-style tools. `payload` must be a record object.
[[nodiscard]] StatusOr<std::string> formatSyslog(std::string_view payload, uint64_t seq,
                                                 const SyslogOptions& opt,
                                                 std::string_view hostname, int pid);

}  // namespace stepgate::audit
