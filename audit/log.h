#pragma once
// AuditLog: the durable, tamper-evident audit log (docs/audit.md). One per process, owned by
// the control plane; workers submit records through their own Producer.
//
// Threads:
//  - open(), start(), stop(), and the destructor: the owning (control) thread.
//  - Producer::submit(): its one worker thread. Lock-free: a bounded single-producer /
//    single-consumer ring per producer, whose slots are std::strings swapped in and out, so
//    a steady state allocates nothing. It never blocks.
//  - The writer thread: drains every ring, assigns seq (gapless, from the log's next seq),
//    wraps each record's fields in the envelope, frames it into the current segment, and
//    makes the whole batch durable with one fdatasync (group commit: no artificial delay —
//    the batch is whatever arrived while the previous sync ran). Then, per producer, it
//    calls that producer's DurableCallback once with the cookies of its records in the
//    batch (the proxy posts that to the worker, which releases the waiting requests).
//    It also appends the Merkle leaves, writes checkpoints (every checkpoint_records
//    records or checkpoint_interval, at rotation, at stop, and as a heartbeat when idle),
//    rotates segments and applies retention.
//
// Modes:
//  - strict (default): the caller forwards a request only after its record is durable.
//    submit() returns false when the ring is full (the caller answers 503).
//  - async: the caller does not wait. When a ring is full the record is counted as lost and
//    the writer writes one `gap` record saying how many were lost (never a silent drop).
//
// Failure: a failed write or fdatasync is not retried; the log fails closed: every pending
// and later record completes with an error (strict callers answer 503) and healthy() turns
// false (readiness fails). Free space under low_disk_bytes makes submit() refuse (strict: 503)
// before the disk is full; the metric says why.
//
// Recovery (open()): the newest segment's torn tail is truncated and a `recovery` record is
// the first record written; the Merkle state is rebuilt by reading every segment (bounded by
// the log's size; checkpoints.note is not trusted for it).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/env.h"
#include "common/status.h"

namespace stepgate::audit {

enum class Durability : uint8_t { kStrict, kAsync };

struct LogOptions {
  std::string dir;
  Durability durability = Durability::kStrict;
  size_t ring_capacity = 4096;            // records per producer ring
  uint64_t segment_bytes = 64ull << 20;   // rotate at this size
  std::chrono::seconds segment_age{24 * 3600};  // or this age
  // Retention: closed segments older than retention_age (0: keep) or beyond
  // retention_bytes in total (0: no limit) are deleted, oldest first, but never one that a
  // registered cursor (exporter, forwarder) has not passed.
  std::chrono::seconds retention_age{0};
  uint64_t retention_bytes = 0;
  uint64_t checkpoint_records = 10000;
  std::chrono::milliseconds checkpoint_interval{std::chrono::seconds(60)};
  uint64_t low_disk_bytes = 256ull << 20;  // refuse new records below this much free space
  std::string origin = "stepgate/audit";   // checkpoint origin line
  std::shared_ptr<const SigningKey> key;   // required
  Env* env = nullptr;                      // null: Env::posix()
};

struct LogStats {
  uint64_t next_seq = 0;        // seq of the next record
  uint64_t records = 0;         // written since open
  uint64_t batches = 0;         // fdatasyncs
  uint64_t bytes = 0;           // written since open
  uint64_t lost = 0;            // async: records lost to full rings
  uint64_t refused = 0;         // strict: submit() refused (full ring, low disk, failed)
  uint64_t checkpoints = 0;
  uint64_t segments = 0;        // live segment files
  uint64_t sync_us_last = 0;    // duration of the last fdatasync
  bool failed = false;          // failed closed
  bool low_disk = false;
};

class AuditLog;

// One per worker. Not thread-safe: used by its worker thread only.
class Producer {
 public:
  // `fields` is the record without its envelope: `"type":"...","time":"...",...` (JSON
  // member list, no braces). It is swapped into the ring (`fields` gets back an empty string
  // with some capacity). `cookie` comes back in the DurableCallback. False: not accepted
  // (ring full, low disk, or the log failed) — in strict mode the caller must not proceed.
  bool submit(std::string& fields, uint64_t cookie);

 private:
  friend class AuditLog;
  struct Ring;
  explicit Producer(AuditLog& log, Ring& ring) : log_(log), ring_(ring) {}
  AuditLog& log_;
  Ring& ring_;
};

class AuditLog {
 public:
  // Called on the writer thread, once per batch and producer: the cookies of that producer's
  // records in the batch, and whether they are durable (ok) or failed. Must not block.
  using DurableCallback = std::function<void(const std::vector<uint64_t>& cookies, bool ok)>;

  // Opens (creating) the directory, recovers, rebuilds the tree. Does not start the writer.
  [[nodiscard]] static StatusOr<std::unique_ptr<AuditLog>> open(LogOptions options);
  ~AuditLog();  // stop()

  // Adds a producer (before start()). The reference is valid for the log's lifetime.
  Producer& addProducer(DurableCallback on_durable);

  // Starts the writer thread; writes `start` and `key` records (and `recovery` first, when
  // recovery cut a tail).
  void start();
  // Drains the rings, writes a `stop` record and a final checkpoint, joins the writer.
  void stop();

  // A record from the control thread (config, policy changes): written in the next batch.
  void submitControl(std::string fields);

  bool healthy() const noexcept;
  LogStats stats() const;
  // Records with seq < durableSeq() are on disk and fsynced; readers that ship or export
  // records while the log is being written read only those. Any thread.
  uint64_t durableSeq() const noexcept;
  // Registers a reader whose position (the next seq it needs) retention must respect; the
  // returned index is passed to setCursor(). Any thread.
  size_t addCursor(std::string name, uint64_t next_seq);
  void setCursor(size_t index, uint64_t next_seq);
  const LogOptions& options() const noexcept { return options_; }

 private:
  explicit AuditLog(LogOptions options);
  friend class Producer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  LogOptions options_;
};

}  // namespace stepgate::audit
