#include "audit/log.h"

#include <linux/futex.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "audit/log_internal.h"
#include "audit/segment.h"
#include "common/json_writer.h"
#include "common/logging.h"

namespace stepgate::audit {

namespace internal {

// ---- TreeEdge -----------------------------------------------------------------------------

void TreeEdge::append(const Hash& leaf) {
  Hash h = leaf;
  uint64_t s = size_;
  while ((s & 1) != 0) {  // merge equal-sized perfect subtrees
    h = nodeHash(nodes_.back(), h);
    nodes_.pop_back();
    s >>= 1;
  }
  nodes_.push_back(h);
  ++size_;
}

Hash TreeEdge::root() const {
  if (nodes_.empty()) return emptyRoot();
  Hash r = nodes_.back();
  for (size_t i = nodes_.size() - 1; i-- > 0;) r = nodeHash(nodes_[i], r);
  return r;
}

std::string TreeEdge::serialize() const {
  std::string out = "size ";
  json::appendUint(out, size_);
  out += '\n';
  for (const Hash& h : nodes_) {
    out += toHex(h);
    out += '\n';
  }
  return out;
}

StatusOr<TreeEdge> TreeEdge::parse(std::string_view text) {
  TreeEdge e;
  if (text.substr(0, 5) != "size ") return dataLoss("tree state: no size line");
  text.remove_prefix(5);
  const size_t nl = text.find('\n');
  if (nl == std::string_view::npos || nl == 0 || nl > 20) return dataLoss("tree state: bad size");
  uint64_t size = 0;
  for (char c : text.substr(0, nl)) {
    if (c < '0' || c > '9') return dataLoss("tree state: bad size");
    if (size > (UINT64_MAX - 9) / 10) return dataLoss("tree state: bad size");
    size = size * 10 + static_cast<uint64_t>(c - '0');
  }
  text.remove_prefix(nl + 1);
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) return dataLoss("tree state: unterminated line");
    Hash h{};
    if (!fromHex(text.substr(0, end), h)) return dataLoss("tree state: bad node hash");
    e.nodes_.push_back(h);
    text.remove_prefix(end + 1);
  }
  if (e.nodes_.size() != static_cast<size_t>(__builtin_popcountll(size))) {
    return dataLoss("tree state: node count does not match the size");
  }
  e.size_ = size;
  return e;
}

// ---- UUIDv7 -------------------------------------------------------------------------------

UuidV7Generator::UuidV7Generator() {
  unsigned char key[32];
  unsigned char iv[16];
  if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(iv, sizeof iv) != 1) return;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return;
  if (EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, key, iv) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return;
  }
  OPENSSL_cleanse(key, sizeof key);
  ctx_ = ctx;
}

UuidV7Generator::~UuidV7Generator() {
  if (ctx_ != nullptr) EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(ctx_));
}

void UuidV7Generator::refill() {
  std::memset(pool_, 0, sizeof pool_);
  int outl = 0;
  if (ctx_ == nullptr ||
      EVP_EncryptUpdate(static_cast<EVP_CIPHER_CTX*>(ctx_), pool_, &outl, pool_,
                        static_cast<int>(sizeof pool_)) != 1 ||
      outl != static_cast<int>(sizeof pool_)) {
    // No keystream: fall back to the system CSPRNG directly.
    if (RAND_bytes(pool_, sizeof pool_) != 1) std::abort();
  }
  used_ = 0;
}

void UuidV7Generator::append(std::string& out, uint64_t unix_ms) {
  if (used_ + 10 > kPoolBytes) refill();
  const unsigned char* r = pool_ + used_;
  used_ += 10;
  unsigned char b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(unix_ms >> (8 * (5 - i)));
  b[6] = static_cast<unsigned char>(0x70 | (r[0] & 0x0f));  // version 7, rand_a
  b[7] = r[1];
  b[8] = static_cast<unsigned char>(0x80 | (r[2] & 0x3f));  // variant 0b10, rand_b
  for (int i = 9; i < 16; ++i) b[i] = r[i - 6];
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
}

// ---- text helpers -------------------------------------------------------------------------

void appendRfc3339Micros(std::string& out, int64_t unix_us) {
  int64_t secs = unix_us / 1000000;
  int64_t micros = unix_us % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --secs;
  }
  const time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                              tm.tm_min, tm.tm_sec, static_cast<int>(micros));
  if (n > 0) out.append(buf, static_cast<size_t>(std::min(n, 39)));
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// ---- state shared by the producers and the writer -----------------------------------------

inline constexpr uint32_t kStateClosed = 1;   // stop() began: no more records
inline constexpr uint32_t kStateFailed = 2;   // failed closed
inline constexpr uint32_t kStateLowDisk = 4;  // free space under low_disk_bytes

struct Shared {
  Durability durability = Durability::kStrict;
  std::atomic<uint32_t> state{0};
  // The writer's sleep: it reads futex_word, sets sleeping, checks for work, then waits on
  // futex_word. A producer that publishes a record and then sees sleeping set bumps the word
  // and wakes it (one syscall, only when the writer sleeps).
  alignas(64) std::atomic<bool> sleeping{false};
  std::atomic<uint32_t> futex_word{0};

  void wake() {
    futex_word.fetch_add(1, std::memory_order_seq_cst);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&futex_word), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
  }
  // Waits while futex_word == seen, at most `timeout_ns`.
  void wait(uint32_t seen, int64_t timeout_ns) {
    struct timespec ts {};
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&futex_word), FUTEX_WAIT_PRIVATE, seen, &ts,
            nullptr, 0);
  }
};

}  // namespace internal

namespace {

// Limits (docs/audit.md, "Writing").
constexpr size_t kEnvelopeReserve = 128;                 // {"v":1,"seq":..,"event_id":".."}
constexpr size_t kMaxFieldsBytes = kMaxPayloadBytes - kEnvelopeReserve;
constexpr size_t kMaxRingCapacity = size_t{1} << 20;     // slots per producer
constexpr size_t kMaxBatchRecords = 65536;               // records per group commit
constexpr size_t kMaxBatchBytes = size_t{16} << 20;      // framed bytes per group commit
constexpr size_t kSlotKeepCapacity = size_t{16} << 10;   // a slot string keeps up to this
constexpr uint64_t kMinSegmentBytes = 4096;
constexpr const char* kComponent = "audit";

int64_t nowUnixUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string segmentPath(const std::string& dir, uint64_t first_seq) {
  return dir + "/" + segmentFileName(first_seq);
}

bool parseSegmentName(const std::string& name, uint64_t& first_seq) {
  // segmentFileName() yields "segments/<seq>.seg"; accept the bare name listDir() returns.
  return parseSegmentFileName(name, first_seq) ||
         parseSegmentFileName("segments/" + name, first_seq);
}

uint32_t readLe32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24;
}

}  // namespace

// ---- the producer ring --------------------------------------------------------------------

struct Producer::Ring {
  struct Slot {
    std::string fields;
    uint64_t cookie = 0;
  };
  Ring(size_t cap, internal::Shared& sh, AuditLog::DurableCallback cb)
      : capacity(cap), slots(new Slot[cap]), shared(sh), on_durable(std::move(cb)) {}

  const size_t capacity;
  std::unique_ptr<Slot[]> slots;
  internal::Shared& shared;
  AuditLog::DurableCallback on_durable;

  // Producer side.
  alignas(64) std::atomic<uint64_t> tail{0};
  uint64_t cached_head = 0;
  std::atomic<bool> busy{false};  // inside submit(): stop() waits for it to clear
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> lost{0};  // async: not yet reported in a gap record

  // Writer side.
  alignas(64) std::atomic<uint64_t> head{0};
  std::vector<uint64_t> cookies;  // of this batch
};

bool Producer::submit(std::string& fields, uint64_t cookie) {
  Ring& r = ring_;
  if (fields.empty() || fields.size() > kMaxFieldsBytes) {
    r.refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  r.busy.store(true, std::memory_order_seq_cst);
  const uint32_t st = r.shared.state.load(std::memory_order_seq_cst);
  const bool async = r.shared.durability == Durability::kAsync;
  if ((st & (internal::kStateClosed | internal::kStateFailed)) != 0) {
    r.busy.store(false, std::memory_order_release);
    r.refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const uint64_t tail = r.tail.load(std::memory_order_relaxed);
  bool full = tail - r.cached_head >= r.capacity;
  if (full) {
    r.cached_head = r.head.load(std::memory_order_acquire);
    full = tail - r.cached_head >= r.capacity;
  }
  if (full || (st & internal::kStateLowDisk) != 0) {
    r.busy.store(false, std::memory_order_release);
    if (async) {
      r.lost.fetch_add(1, std::memory_order_seq_cst);
      if (r.shared.sleeping.load(std::memory_order_seq_cst) &&
          r.shared.sleeping.exchange(false, std::memory_order_seq_cst)) {
        r.shared.wake();
      }
    } else {
      r.refused.fetch_add(1, std::memory_order_relaxed);
    }
    return false;
  }
  Ring::Slot& slot = r.slots[tail % r.capacity];
  slot.fields.swap(fields);
  slot.cookie = cookie;
  r.tail.store(tail + 1, std::memory_order_seq_cst);
  r.busy.store(false, std::memory_order_release);
  if (r.shared.sleeping.load(std::memory_order_seq_cst) &&
      r.shared.sleeping.exchange(false, std::memory_order_seq_cst)) {
    r.shared.wake();
  }
  return true;
}

// ---- the log ------------------------------------------------------------------------------

struct AuditLog::Impl {
  explicit Impl(const LogOptions& o) : opt(o), env(o.env != nullptr ? *o.env : Env::posix()) {
    shared.durability = o.durability;
  }

  const LogOptions& opt;
  Env& env;
  internal::Shared shared;
  std::vector<std::unique_ptr<Producer::Ring>> rings;
  std::vector<std::unique_ptr<Producer>> producers;

  std::mutex control_mu;
  std::vector<std::string> control;  // guarded by control_mu
  std::atomic<bool> control_pending{false};
  std::atomic<bool> stop_requested{false};
  std::thread writer;
  bool started = false;
  bool stopped = false;

  std::mutex cursor_mu;
  std::vector<std::pair<std::string, uint64_t>> cursors;  // guarded by cursor_mu

  // Metrics (any thread reads them).
  std::atomic<uint64_t> m_next_seq{0};
  std::atomic<uint64_t> m_durable_seq{0};
  std::atomic<uint64_t> m_records{0};
  std::atomic<uint64_t> m_batches{0};
  std::atomic<uint64_t> m_bytes{0};
  std::atomic<uint64_t> m_lost{0};  // reported in gap records (or lost to a failure)
  std::atomic<uint64_t> m_checkpoints{0};
  std::atomic<uint64_t> m_segments{0};
  std::atomic<uint64_t> m_sync_us_last{0};

  // Writer state (open() and then the writer thread only).
  struct Segment {
    uint64_t first_seq = 0;
    uint64_t bytes = 0;
    int64_t created_us = 0;
    uint64_t frames = 0;
    internal::TreeEdge edge_at_start;  // the tree of records 0..first_seq-1
  };
  std::deque<Segment> segments;
  std::unique_ptr<WritableFile> seg_file;
  std::unique_ptr<WritableFile> note_file;
  uint64_t next_seq = 0;
  internal::TreeEdge tree;
  // What recovery cut, for the `recovery` record start() writes first.
  bool recovered = false;
  uint64_t recovery_cut = 0;
  std::string recovery_segment;
  bool new_segment = false;  // the newest segment was removed (torn header): start a new one
  uint64_t records_since_cp = 0;
  std::chrono::steady_clock::time_point last_cp;
  int64_t last_loss_check_us = 0;
  size_t rr_start = 0;

  std::string batch;        // framed bytes of the batch
  size_t batch_records = 0;
  std::string payload;      // scratch
  std::string fields;       // scratch for the writer's own records
  std::vector<std::string> notes;  // checkpoint notes of the batch
  std::vector<std::string> control_batch;
  internal::UuidV7Generator uuid;

  bool failed() const { return (shared.state.load() & internal::kStateFailed) != 0; }
  std::string segDir() const { return opt.dir + "/segments"; }

  Status recover();
  Status createSegment(int64_t now_us);
  void run();
  void addRecord(std::string_view f, int64_t now_us);
  void addCheckpoint(int64_t now_us);
  bool drainRings(bool fail_them);
  bool commit();
  void completeRings(bool ok);
  void fail(const Status& why);
  void checkLowDisk();
  bool rotateIfDue(int64_t now_us);
  void applyRetention(int64_t now_us);
  void waitForWork(std::chrono::steady_clock::time_point deadline);
  bool hasWork() const;
};

Status AuditLog::Impl::createSegment(int64_t now_us) {
  const std::string path = segmentPath(opt.dir, next_seq);
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, env.openAppend(path));
  if (f->size() != 0) return dataLoss(path + ": a new segment already exists");
  std::string header;
  appendSegmentHeader(header, next_seq, now_us);
  RETURN_IF_ERROR(f->append(header));
  RETURN_IF_ERROR(f->sync());
  RETURN_IF_ERROR(env.syncDir(segDir()));
  Segment s;
  s.first_seq = next_seq;
  s.bytes = f->size();
  s.created_us = now_us;
  s.edge_at_start = tree;
  segments.push_back(std::move(s));
  seg_file = std::move(f);
  m_segments.store(segments.size());
  return okStatus();
}

Status AuditLog::Impl::recover() {
  RETURN_IF_ERROR(env.createDir(opt.dir));
  RETURN_IF_ERROR(env.createDir(segDir()));
  RETURN_IF_ERROR(env.createDir(opt.dir + "/state"));
  ASSIGN_OR_RETURN(std::vector<std::string> names, env.listDir(segDir()));
  std::vector<std::pair<uint64_t, std::string>> found;
  for (const std::string& n : names) {
    uint64_t first = 0;
    if (parseSegmentName(n, first)) found.emplace_back(first, n);
  }
  std::sort(found.begin(), found.end());

  const std::string state_path = opt.dir + "/state/merkle";
  uint64_t expected = 0;
  if (!found.empty() && found.front().first != 0) {
    // Retention removed the oldest segments: resume the tree from the saved edge.
    auto text = env.readFile(state_path);
    if (!text.isOk()) {
      return dataLoss("segments start at seq " + std::to_string(found.front().first) +
                      " and " + state_path + " is missing: " + text.status().message());
    }
    ASSIGN_OR_RETURN(internal::TreeEdge edge, internal::TreeEdge::parse(*text));
    if (edge.size() != found.front().first) {
      return dataLoss(state_path + " covers " + std::to_string(edge.size()) +
                      " records but the oldest segment starts at seq " +
                      std::to_string(found.front().first));
    }
    tree = std::move(edge);
    expected = found.front().first;
  }

  for (size_t i = 0; i < found.size(); ++i) {
    const bool newest = i + 1 == found.size();
    const std::string path = opt.dir + "/segments/" + found[i].second;
    if (found[i].first != expected) {
      return dataLoss(path + ": starts at seq " + std::to_string(found[i].first) +
                      ", expected " + std::to_string(expected) + " (a gap between segments)");
    }
    ASSIGN_OR_RETURN(std::string bytes, env.readFile(path));
    if (newest && bytes.size() < kSegmentHeaderBytes) {
      // A crash while the segment was being created: its header is torn. Nothing in it.
      RETURN_IF_ERROR(env.remove(path));
      RETURN_IF_ERROR(env.syncDir(segDir()));
      recovered = true;
      recovery_cut = bytes.size();
      recovery_segment = found[i].second;
      new_segment = true;
      break;
    }
    auto scan = scanSegment(bytes);
    if (!scan.isOk()) return dataLoss(path + ": " + scan.status().message());
    if (scan->header.first_seq != found[i].first) {
      return dataLoss(path + ": header says first seq " +
                      std::to_string(scan->header.first_seq));
    }
    if (!scan->stop_reason.empty()) {
      const uint64_t at = scan->good_bytes;
      bool torn = newest;
      if (torn && scan->stop_reason == "bad crc") {
        // A torn tail only if the bad frame is the last one.
        const uint64_t len = readLe32(bytes, static_cast<size_t>(at));
        torn = at + kFrameHeaderBytes + len >= bytes.size();
      } else if (torn && scan->stop_reason == "bad length") {
        // Zeros past the end of the written data (size extended, data not): torn.
        torn = std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end(),
                           [](char c) { return c == 0; });
      }
      if (!torn) {
        return dataLoss(path + ": corrupt at offset " + std::to_string(at) + " (" +
                        scan->stop_reason + ")");
      }
      const uint64_t cut = bytes.size() - at;
      RETURN_IF_ERROR(env.truncate(path, at));
      recovered = true;
      recovery_cut = cut;
      recovery_segment = found[i].second;
      ::stepgate::log::warn(kComponent, "cut a torn tail",
                            {{"segment", found[i].second}, {"offset", at}, {"cut_bytes", cut}});
    }
    Segment s;
    s.first_seq = found[i].first;
    s.bytes = scan->good_bytes;
    s.created_us = scan->header.created_unix_us;
    s.frames = scan->frames.size();
    s.edge_at_start = tree;
    for (const Frame& fr : scan->frames) tree.append(leafHash(fr.payload));
    expected += scan->frames.size();
    segments.push_back(std::move(s));
  }
  next_seq = expected;
  m_next_seq.store(next_seq);
  m_durable_seq.store(next_seq);

  if (segments.empty() || new_segment) {
    RETURN_IF_ERROR(createSegment(nowUnixUs()));
  } else {
    ASSIGN_OR_RETURN(seg_file, env.openAppend(segmentPath(opt.dir, segments.back().first_seq)));
    segments.back().bytes = seg_file->size();
  }
  m_segments.store(segments.size());
  ASSIGN_OR_RETURN(note_file, env.openAppend(opt.dir + "/checkpoints.note"));
  return okStatus();
}

void AuditLog::Impl::addRecord(std::string_view f, int64_t now_us) {
  payload.clear();
  payload += "{\"v\":1,\"seq\":";
  json::appendUint(payload, next_seq);
  payload += ",\"event_id\":\"";
  uuid.append(payload, static_cast<uint64_t>(now_us / 1000));
  payload += "\",";
  payload += f;
  payload += '}';
  appendFrame(batch, payload);
  tree.append(leafHash(payload));
  ++next_seq;
  ++batch_records;
  ++records_since_cp;
}

void AuditLog::Impl::addCheckpoint(int64_t now_us) {
  Checkpoint cp;
  cp.origin = opt.origin;
  cp.size = tree.size();
  cp.root = tree.root();
  std::string note = opt.key->sign(cp);
  fields.clear();
  fields += "\"type\":\"checkpoint\",\"time\":\"";
  internal::appendRfc3339Micros(fields, now_us);
  fields += "\",\"size\":";
  json::appendUint(fields, cp.size);
  fields += ",\"root\":\"";
  fields += toBase64(cp.root);
  fields += "\",\"note\":";
  json::appendString(fields, note);
  addRecord(fields, now_us);
  notes.push_back(std::move(note));
  records_since_cp = 0;
  last_cp = std::chrono::steady_clock::now();
}

bool AuditLog::Impl::drainRings(bool fail_them) {
  bool more = false;
  const size_t n = rings.size();
  const int64_t now_us = nowUnixUs();
  for (size_t k = 0; k < n; ++k) {
    Producer::Ring& r = *rings[(rr_start + k) % n];
    const uint64_t tail = r.tail.load(std::memory_order_acquire);
    uint64_t head = r.head.load(std::memory_order_relaxed);
    while (head != tail) {
      if (batch_records >= kMaxBatchRecords || batch.size() >= kMaxBatchBytes) {
        more = true;
        break;
      }
      Producer::Ring::Slot& slot = r.slots[head % r.capacity];
      if (!fail_them) addRecord(slot.fields, now_us);
      r.cookies.push_back(slot.cookie);
      slot.fields.clear();
      if (slot.fields.capacity() > kSlotKeepCapacity) std::string().swap(slot.fields);
      ++head;
    }
    r.head.store(head, std::memory_order_release);
  }
  if (n > 0) rr_start = (rr_start + 1) % n;
  return more;
}

void AuditLog::Impl::fail(const Status& why) {
  if ((shared.state.fetch_or(internal::kStateFailed) & internal::kStateFailed) == 0) {
    ::stepgate::log::error(kComponent, "the audit log failed closed; no record is accepted",
                           {{"error", why.toString()}});
  }
}

bool AuditLog::Impl::commit() {
  if (batch.empty()) return true;
  Status s = seg_file->append(batch);
  if (s.isOk()) {
    const auto t0 = std::chrono::steady_clock::now();
    s = seg_file->sync();
    m_sync_us_last.store(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                              t0)
            .count()));
  }
  if (!s.isOk()) {
    fail(s);
    return false;
  }
  m_batches.fetch_add(1);
  m_records.fetch_add(batch_records);
  m_bytes.fetch_add(batch.size());
  m_next_seq.store(next_seq);
  m_durable_seq.store(next_seq, std::memory_order_release);
  segments.back().bytes = seg_file->size();
  segments.back().frames += batch_records;
  return true;
}

void AuditLog::Impl::completeRings(bool ok) {
  for (auto& r : rings) {
    if (r->cookies.empty()) continue;
    if (r->on_durable) r->on_durable(r->cookies, ok);
    r->cookies.clear();
  }
}

void AuditLog::Impl::checkLowDisk() {
  if (opt.low_disk_bytes == 0) return;
  auto free = env.freeBytes(opt.dir);
  if (!free.isOk()) return;
  if (*free < opt.low_disk_bytes) {
    if ((shared.state.fetch_or(internal::kStateLowDisk) & internal::kStateLowDisk) == 0) {
      ::stepgate::log::warn(kComponent, "low disk: refusing new records",
                            {{"free_bytes", *free}, {"low_disk_bytes", opt.low_disk_bytes}});
    }
  } else {
    shared.state.fetch_and(~internal::kStateLowDisk);
  }
}

// Rotation: a checkpoint closes the segment, then a new one starts at next_seq.
bool AuditLog::Impl::rotateIfDue(int64_t now_us) {
  const Segment& cur = segments.back();
  const bool by_size = cur.bytes >= opt.segment_bytes;
  const bool by_age =
      cur.frames > 0 && now_us - cur.created_us >=
                            std::chrono::duration_cast<std::chrono::microseconds>(opt.segment_age)
                                .count();
  if (!by_size && !by_age) return false;
  batch.clear();
  batch_records = 0;
  notes.clear();
  addCheckpoint(now_us);
  if (!commit()) return false;
  for (const std::string& n : notes) {
    Status s = note_file->append(n + "\n");
    if (s.isOk()) s = note_file->sync();
    if (!s.isOk()) {
      fail(s);
      return false;
    }
  }
  m_checkpoints.fetch_add(notes.size());
  notes.clear();
  Status s = seg_file->close();
  if (s.isOk()) s = createSegment(now_us);
  if (!s.isOk()) {
    fail(s);
    return false;
  }
  applyRetention(now_us);
  return true;
}

void AuditLog::Impl::applyRetention(int64_t now_us) {
  if (opt.retention_age.count() == 0 && opt.retention_bytes == 0) return;
  uint64_t min_cursor = UINT64_MAX;
  {
    std::lock_guard<std::mutex> lock(cursor_mu);
    for (const auto& c : cursors) min_cursor = std::min(min_cursor, c.second);
  }
  bool export_cursor_read = false;
  uint64_t total = 0;
  for (const Segment& s : segments) total += s.bytes;
  const int64_t age_us =
      std::chrono::duration_cast<std::chrono::microseconds>(opt.retention_age).count();
  while (segments.size() > 1) {
    const Segment& oldest = segments[0];
    const Segment& next = segments[1];  // its creation closed `oldest`
    const bool by_age = age_us > 0 && now_us - next.created_us >= age_us;
    const bool by_bytes = opt.retention_bytes > 0 && total > opt.retention_bytes;
    if (!by_age && !by_bytes) break;
    if (!export_cursor_read) {
      // The export cursor (docs/audit.md, "Export cursor"), written by `stepgate audit export`
      // even while the log runs: read when something is about to be deleted, never cached.
      export_cursor_read = true;
      auto text = env.readFile(opt.dir + "/state/export.cursor");
      if (text.isOk()) {
        uint64_t v = 0;
        bool ok = !text->empty();
        for (char ch : *text) {
          if (ch == '\n') break;
          if (ch < '0' || ch > '9') {
            ok = false;
            break;
          }
          v = v * 10 + static_cast<uint64_t>(ch - '0');
        }
        // An unreadable cursor holds everything back rather than risk deleting unexported
        // records.
        min_cursor = std::min(min_cursor, ok ? v : 0);
      }
    }
    if (min_cursor < next.first_seq) break;  // a reader still needs it
    // Save the tree edge the remaining segments start from, then delete.
    const std::string state = opt.dir + "/state/merkle";
    const std::string tmp = state + ".tmp";
    Status s = okStatus();
    if (env.exists(tmp)) s = env.remove(tmp);
    if (s.isOk()) {
      auto f = env.openAppend(tmp);
      if (!f.isOk()) {
        s = f.status();
      } else {
        s = (*f)->append(next.edge_at_start.serialize());
        if (s.isOk()) s = (*f)->sync();
        if (s.isOk()) s = (*f)->close();
      }
    }
    if (s.isOk()) s = env.rename(tmp, state);
    if (s.isOk()) s = env.syncDir(opt.dir + "/state");
    if (s.isOk()) s = env.remove(segmentPath(opt.dir, oldest.first_seq));
    if (s.isOk()) s = env.syncDir(segDir());
    if (!s.isOk()) {
      ::stepgate::log::warn(kComponent, "retention stopped", {{"error", s.toString()}});
      return;
    }
    total -= oldest.bytes;
    segments.pop_front();
    m_segments.store(segments.size());
  }
}

bool AuditLog::Impl::hasWork() const {
  if (control_pending.load(std::memory_order_seq_cst)) return true;
  if (stop_requested.load(std::memory_order_seq_cst)) return true;
  for (const auto& r : rings) {
    if (r->tail.load(std::memory_order_seq_cst) != r->head.load(std::memory_order_relaxed)) {
      return true;
    }
    if (r->lost.load(std::memory_order_seq_cst) != 0) return true;
  }
  return false;
}

void AuditLog::Impl::waitForWork(std::chrono::steady_clock::time_point deadline) {
  const uint32_t seen = shared.futex_word.load(std::memory_order_seq_cst);
  shared.sleeping.store(true, std::memory_order_seq_cst);
  if (!hasWork()) {
    const auto left = deadline - std::chrono::steady_clock::now();
    const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    if (ns > 0) shared.wait(seen, ns);
  }
  shared.sleeping.store(false, std::memory_order_seq_cst);
}

void AuditLog::Impl::run() {
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      opt.checkpoint_interval);
  last_loss_check_us = nowUnixUs();
  while (true) {
    const bool stopping = stop_requested.load(std::memory_order_seq_cst);
    if (stopping) {
      shared.state.fetch_or(internal::kStateClosed, std::memory_order_seq_cst);
      // A producer inside submit() either saw the closed bit or its record is in the ring
      // once it leaves: wait for the few instructions in between.
      for (auto& r : rings) {
        while (r->busy.load(std::memory_order_seq_cst)) std::this_thread::yield();
      }
    }
    const bool failed_before = failed();
    const int64_t now_us = nowUnixUs();
    batch.clear();
    batch_records = 0;
    notes.clear();

    control_batch.clear();
    if (control_pending.exchange(false, std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(control_mu);
      control_batch.swap(control);
    }
    if (!failed_before) {
      for (const std::string& c : control_batch) addRecord(c, now_us);
    }

    uint64_t lost = 0;
    for (auto& r : rings) lost += r->lost.exchange(0, std::memory_order_seq_cst);
    if (lost > 0) {
      m_lost.fetch_add(lost);
      if (!failed_before) {
        fields.clear();
        fields += "\"type\":\"gap\",\"time\":\"";
        internal::appendRfc3339Micros(fields, now_us);
        fields += "\",\"lost\":";
        json::appendUint(fields, lost);
        fields += ",\"from_time\":\"";
        internal::appendRfc3339Micros(fields, last_loss_check_us);
        fields += "\",\"to_time\":\"";
        internal::appendRfc3339Micros(fields, now_us);
        fields += '"';
        addRecord(fields, now_us);
      }
    }
    last_loss_check_us = now_us;

    const bool more = drainRings(failed_before);
    const bool last = stopping && !more;
    if (!failed_before) {
      if (last) {
        fields.clear();
        fields += "\"type\":\"stop\",\"time\":\"";
        internal::appendRfc3339Micros(fields, now_us);
        fields += '"';
        addRecord(fields, now_us);
      }
      const bool cp_due = last || records_since_cp >= opt.checkpoint_records ||
                          std::chrono::steady_clock::now() - last_cp >= interval;
      if (cp_due) addCheckpoint(now_us);
    }

    if (!failed_before && !batch.empty()) {
      checkLowDisk();
      const bool ok = commit();
      completeRings(ok);
      if (ok && !notes.empty()) {
        for (const std::string& n : notes) {
          Status s = note_file->append(n + "\n");
          if (s.isOk()) s = note_file->sync();
          if (!s.isOk()) {
            fail(s);
            break;
          }
        }
        if (!failed()) {
          m_checkpoints.fetch_add(notes.size());
          applyRetention(now_us);
        }
      }
    } else {
      completeRings(false);  // failed closed: drained records complete with an error
    }
    if (!failed() && !last) rotateIfDue(now_us);
    if (last) break;
    if (more) continue;

    auto deadline = last_cp + interval;
    if (!failed() && !segments.empty() && segments.back().frames > 0) {
      const auto age_left =
          std::chrono::microseconds(segments.back().created_us +
                                    std::chrono::duration_cast<std::chrono::microseconds>(
                                        opt.segment_age)
                                        .count() -
                                    nowUnixUs());
      deadline = std::min(deadline, std::chrono::steady_clock::now() +
                                        std::chrono::duration_cast<
                                            std::chrono::steady_clock::duration>(age_left));
    }
    if (failed()) deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    waitForWork(deadline);
  }
  Status s = seg_file->close();
  (void)s;
  s = note_file->close();
  (void)s;
}

// ---- AuditLog -----------------------------------------------------------------------------

AuditLog::AuditLog(LogOptions options) : options_(std::move(options)) {
  impl_ = std::make_unique<Impl>(options_);
}

AuditLog::~AuditLog() { stop(); }

StatusOr<std::unique_ptr<AuditLog>> AuditLog::open(LogOptions options) {
  if (options.dir.empty()) return invalidArgument("audit log: dir is empty");
  if (options.key == nullptr) return invalidArgument("audit log: a signing key is required");
  if (options.ring_capacity == 0 || options.ring_capacity > kMaxRingCapacity) {
    return invalidArgument("audit log: ring_capacity must be 1.." +
                           std::to_string(kMaxRingCapacity));
  }
  if (options.segment_bytes < kMinSegmentBytes) {
    return invalidArgument("audit log: segment_bytes must be at least " +
                           std::to_string(kMinSegmentBytes));
  }
  if (options.checkpoint_records == 0) {
    return invalidArgument("audit log: checkpoint_records must be at least 1");
  }
  if (options.checkpoint_interval.count() <= 0 || options.segment_age.count() <= 0) {
    return invalidArgument("audit log: checkpoint_interval and segment_age must be positive");
  }
  if (options.origin.empty() || options.origin.find('\n') != std::string::npos) {
    return invalidArgument("audit log: origin must be one non-empty line");
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options)));
  if (!log->impl_->uuid.ok()) return internalError("audit log: no CSPRNG for event ids");
  RETURN_IF_ERROR(log->impl_->recover());
  return log;
}

Producer& AuditLog::addProducer(DurableCallback on_durable) {
  Impl& im = *impl_;
  im.rings.push_back(std::make_unique<Producer::Ring>(options_.ring_capacity, im.shared,
                                                      std::move(on_durable)));
  im.producers.push_back(std::unique_ptr<Producer>(new Producer(*this, *im.rings.back())));
  return *im.producers.back();
}

void AuditLog::start() {
  Impl& im = *impl_;
  if (im.started) return;
  im.started = true;
  const int64_t now_us = nowUnixUs();
  std::vector<std::string> first;
  if (im.recovered) {
    std::string f = "\"type\":\"recovery\",\"time\":\"";
    internal::appendRfc3339Micros(f, now_us);
    f += "\",\"cut_bytes\":";
    json::appendUint(f, im.recovery_cut);
    f += ",\"segment\":";
    json::appendString(f, im.recovery_segment);
    first.push_back(std::move(f));
  }
  std::string start = "\"type\":\"start\",\"time\":\"";
  internal::appendRfc3339Micros(start, now_us);
  start += "\",\"durability\":\"";
  start += options_.durability == Durability::kStrict ? "strict" : "async";
  start += '"';
  first.push_back(std::move(start));
  std::string key = "\"type\":\"key\",\"time\":\"";
  internal::appendRfc3339Micros(key, now_us);
  key += "\",\"key_name\":";
  json::appendString(key, options_.key->name());
  char id[9];
  std::snprintf(id, sizeof id, "%08x", options_.key->keyId());
  key += ",\"key_id\":\"";
  key += id;
  key += "\",\"public_key\":\"";
  key += internal::base64(options_.key->publicKey());
  key += '"';
  first.push_back(std::move(key));
  {
    std::lock_guard<std::mutex> lock(im.control_mu);
    im.control.insert(im.control.begin(), std::make_move_iterator(first.begin()),
                      std::make_move_iterator(first.end()));
  }
  im.control_pending.store(true);
  im.last_cp = std::chrono::steady_clock::now();
  im.writer = std::thread([&im] { im.run(); });
}

void AuditLog::stop() {
  Impl& im = *impl_;
  if (!im.started || im.stopped) return;
  im.stopped = true;
  im.stop_requested.store(true, std::memory_order_seq_cst);
  im.shared.wake();
  im.writer.join();
}

void AuditLog::submitControl(std::string fields) {
  Impl& im = *impl_;
  if (fields.empty() || fields.size() > kMaxFieldsBytes) return;
  {
    std::lock_guard<std::mutex> lock(im.control_mu);
    im.control.push_back(std::move(fields));
  }
  im.control_pending.store(true, std::memory_order_seq_cst);
  im.shared.wake();
}

bool AuditLog::healthy() const noexcept { return !impl_->failed(); }

LogStats AuditLog::stats() const {
  const Impl& im = *impl_;
  LogStats s;
  s.next_seq = im.m_next_seq.load();
  s.records = im.m_records.load();
  s.batches = im.m_batches.load();
  s.bytes = im.m_bytes.load();
  s.lost = im.m_lost.load();
  for (const auto& r : im.rings) {
    s.refused += r->refused.load(std::memory_order_relaxed);
    s.lost += r->lost.load(std::memory_order_relaxed);
  }
  s.checkpoints = im.m_checkpoints.load();
  s.segments = im.m_segments.load();
  s.sync_us_last = im.m_sync_us_last.load();
  const uint32_t st = im.shared.state.load();
  s.failed = (st & internal::kStateFailed) != 0;
  s.low_disk = (st & internal::kStateLowDisk) != 0;
  return s;
}

uint64_t AuditLog::durableSeq() const noexcept {
  return impl_->m_durable_seq.load(std::memory_order_acquire);
}

size_t AuditLog::addCursor(std::string name, uint64_t next_seq) {
  std::lock_guard<std::mutex> lock(impl_->cursor_mu);
  impl_->cursors.emplace_back(std::move(name), next_seq);
  return impl_->cursors.size() - 1;
}

void AuditLog::setCursor(size_t index, uint64_t next_seq) {
  std::lock_guard<std::mutex> lock(impl_->cursor_mu);
  if (index < impl_->cursors.size()) impl_->cursors[index].second = next_seq;
}

}  // namespace stepgate::audit
