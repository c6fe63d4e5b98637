#include "audit/log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/log_internal.h"
#include "audit/merkle.h"
#include "audit/segment.h"
#include "audit/verify.h"
#include "common/json.h"
#include "tests/unit/audit/test_util.h"

namespace stepgate::audit {
namespace {

struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("log") {}
};

using testutil::makeKey;

// Every record of the log directory, in order, with the seq of the first.
struct LogContents {
  uint64_t first_seq = 0;
  std::vector<std::string> payloads;
  std::vector<JsonValue> records;
  std::vector<std::string> segment_names;
};

// `limit`: for a live log, durableSeq(): records from it on (and a segment being created)
// may be partly written and are not read.
LogContents readLog(const std::string& dir, uint64_t limit = UINT64_MAX) {
  const bool live = limit != UINT64_MAX;
  LogContents out;
  auto names = Env::posix().listDir(dir + "/segments");
  EXPECT_TRUE(names.isOk());
  if (!names.isOk()) return out;
  bool first = true;
  for (const std::string& n : *names) {
    uint64_t seq = 0;
    if (!parseSegmentFileName(n, seq)) continue;
    out.segment_names.push_back(n);
    auto bytes = Env::posix().readFile(dir + "/segments/" + n);
    EXPECT_TRUE(bytes.isOk());
    auto scan = scanSegment(*bytes);
    if (live && !first && seq >= limit) break;
    EXPECT_TRUE(scan.isOk()) << n;
    if (!scan.isOk()) continue;
    if (!live) {
      EXPECT_EQ(scan->stop_reason, "") << n;
    }
    if (first) out.first_seq = seq;
    first = false;
    EXPECT_EQ(seq, out.first_seq + out.payloads.size()) << "gap before " << n;
    for (const Frame& f : scan->frames) {
      if (out.first_seq + out.payloads.size() >= limit) break;
      out.payloads.emplace_back(f.payload);
      auto j = parseJson(f.payload);
      EXPECT_TRUE(j.isOk()) << f.payload;
      out.records.push_back(j.isOk() ? *j : JsonValue());
    }
  }
  return out;
}

std::string typeOf(const JsonValue& r) {
  const JsonValue* t = r.find("type");
  return t != nullptr && t->isString() ? t->asString() : "";
}

int64_t intOf(const JsonValue& r, std::string_view name) {
  const JsonValue* v = r.find(name);
  return v != nullptr && v->isInt() ? v->asInt() : -1;
}

bool isUuidV7(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i])) || std::isupper(s[i])) {
      return false;
    }
  }
  return s[14] == '7' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

// Checks the envelope of every record and every checkpoint against a fresh rebuild of the
// tree from `leaves_before` (leaves of records before the log's first seq, if retention
// removed them) and the stored payloads. Returns the number of checkpoints.
size_t checkLog(const LogContents& log, const SigningKey& key,
                const std::vector<Hash>& leaves_before = {}) {
  std::vector<Hash> leaves = leaves_before;
  EXPECT_EQ(leaves.size(), log.first_seq);
  for (const std::string& p : log.payloads) leaves.push_back(leafHash(p));
  const NoteVerifier verifier = NoteVerifier::fromRaw(key.name(), key.publicKey());
  std::set<std::string> ids;
  size_t checkpoints = 0;
  for (size_t i = 0; i < log.records.size(); ++i) {
    const JsonValue& r = log.records[i];
    const uint64_t seq = log.first_seq + i;
    EXPECT_EQ(intOf(r, "v"), 1);
    EXPECT_EQ(intOf(r, "seq"), static_cast<int64_t>(seq));
    const JsonValue* id = r.find("event_id");
    EXPECT_TRUE(id != nullptr && id->isString() && isUuidV7(id->asString())) << log.payloads[i];
    if (id != nullptr && id->isString()) {
      EXPECT_TRUE(ids.insert(id->asString()).second);
    }
    EXPECT_NE(r.find("time"), nullptr) << log.payloads[i];
    if (typeOf(r) != "checkpoint") continue;
    ++checkpoints;
    const int64_t size = intOf(r, "size");
    EXPECT_GE(size, 0);
    EXPECT_LE(static_cast<uint64_t>(size), seq);
    if (size < 0 || static_cast<uint64_t>(size) > seq) continue;
    std::vector<Hash> prefix(leaves.begin(), leaves.begin() + size);
    const Hash root = rootOf(prefix);
    EXPECT_EQ(r.find("root")->asString(), toBase64(root)) << "checkpoint at seq " << seq;
    auto cp = verifier.verify(r.find("note")->asString());
    EXPECT_TRUE(cp.isOk()) << cp.status().toString();
    if (cp.isOk()) {
      EXPECT_EQ(cp->size, static_cast<uint64_t>(size));
      EXPECT_EQ(cp->root, root);
    }
  }
  return checkpoints;
}

// The offline verifier (audit/verify.h) accepts what the writer wrote.
void expectVerifies(const std::string& dir, const SigningKey& key) {
  VerifyOptions v;
  v.keys.push_back(NoteVerifier::fromRaw(key.name(), key.publicKey()));
  v.heartbeat_interval = std::chrono::seconds(60);
  const VerifyReport r = verifyLog(Env::posix(), dir, v);
  EXPECT_TRUE(r.ok) << r.summary();
}

template <typename Pred>
bool pollUntil(Pred pred) {
  for (int i = 0; i < 20000; ++i) {  // at most ~20 s
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

std::string requestFields(int producer, int n, size_t pad = 0) {
  std::string f = "\"type\":\"request\",\"time\":\"";
  internal::appendRfc3339Micros(f, std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
  f += "\",\"p\":" + std::to_string(producer) + ",\"n\":" + std::to_string(n);
  if (pad > 0) f += ",\"pad\":\"" + std::string(pad, 'x') + "\"";
  return f;
}

LogOptions baseOptions(const TempDir& t, std::shared_ptr<const SigningKey> key) {
  LogOptions o;
  o.dir = t.path() + "/log";
  o.key = std::move(key);
  o.low_disk_bytes = 0;  // the test disk may be fuller than the default watermark
  return o;
}

// Acknowledgements of one producer.
struct Acks {
  std::mutex mu;
  std::vector<uint64_t> ok;
  uint64_t failed = 0;
  uint64_t calls = 0;
  AuditLog::DurableCallback callback() {
    return [this](const std::vector<uint64_t>& cookies, bool success) {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
      if (success) {
        ok.insert(ok.end(), cookies.begin(), cookies.end());
      } else {
        failed += cookies.size();
      }
    };
  }
  size_t okCount() {
    std::lock_guard<std::mutex> lock(mu);
    return ok.size();
  }
};

TEST(TreeEdgeTest, MatchesRootOfAndSurvivesSerialization) {
  std::vector<Hash> leaves;
  internal::TreeEdge edge;
  EXPECT_EQ(edge.root(), emptyRoot());
  for (int i = 0; i < 70; ++i) {
    leaves.push_back(leafHash("leaf " + std::to_string(i)));
    edge.append(leaves.back());
    ASSERT_EQ(edge.root(), rootOf(leaves)) << i;
    auto back = internal::TreeEdge::parse(edge.serialize());
    ASSERT_TRUE(back.isOk()) << back.status().toString();
    EXPECT_EQ(back->size(), edge.size());
    EXPECT_EQ(back->root(), edge.root());
  }
  EXPECT_FALSE(internal::TreeEdge::parse("size 3\n").isOk());  // 3 needs two nodes
  EXPECT_FALSE(internal::TreeEdge::parse("nonsense").isOk());
}

TEST(LogHelpersTest, UuidV7AndTimeAndBase64) {
  internal::UuidV7Generator g;
  ASSERT_TRUE(g.ok());
  std::string a, b;
  g.append(a, 0x0123456789abull);
  g.append(b, 0x0123456789abull);
  EXPECT_TRUE(isUuidV7(a)) << a;
  EXPECT_EQ(a.substr(0, 13), "01234567-89ab");
  EXPECT_NE(a, b);
  std::string t;
  internal::appendRfc3339Micros(t, 1700000000123456);
  EXPECT_EQ(t, "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(internal::base64("f"), "Zg==");
  EXPECT_EQ(internal::base64("fo"), "Zm8=");
  EXPECT_EQ(internal::base64("foobar"), "Zm9vYmFy");
}

TEST(AuditLogTest, OpenRejectsBadOptions) {
  TempDir t;
  LogOptions o;
  o.dir = t.path() + "/log";
  EXPECT_FALSE(AuditLog::open(o).isOk());  // no key
  o.key = makeKey(t.path());
  o.ring_capacity = 0;
  EXPECT_FALSE(AuditLog::open(o).isOk());
  o.ring_capacity = 16;
  o.checkpoint_records = 0;
  EXPECT_FALSE(AuditLog::open(o).isOk());
}

TEST(AuditLogTest, SeqIsGaplessAcrossFourProducerThreads) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  o.ring_capacity = 1024;
  o.checkpoint_records = 5000;
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk()) << log.status().toString();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  Acks acks[kThreads];
  std::vector<Producer*> producers;
  for (auto& a : acks) producers.push_back(&(*log)->addProducer(a.callback()));
  (*log)->start();
  std::vector<std::thread> threads;
  std::atomic<bool> gave_up{false};
  for (int p = 0; p < kThreads; ++p) {
    threads.emplace_back([&, p] {
      for (int n = 0; n < kPerThread; ++n) {
        std::string f = requestFields(p, n);
        uint64_t tries = 0;
        while (!producers[p]->submit(f, static_cast<uint64_t>(n))) {
          if (++tries > 100000000) {
            gave_up = true;
            return;
          }
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_FALSE(gave_up);
  ASSERT_TRUE(pollUntil([&] {
    for (auto& a : acks)
      if (a.okCount() != kPerThread) return false;
    return true;
  }));
  (*log)->stop();
  for (auto& a : acks) {
    EXPECT_EQ(a.failed, 0u);
    for (int n = 0; n < kPerThread; ++n) ASSERT_EQ(a.ok[n], static_cast<uint64_t>(n));
  }
  const LogStats st = (*log)->stats();
  const LogContents c = readLog(o.dir);
  EXPECT_EQ(c.first_seq, 0u);
  EXPECT_EQ(st.next_seq, c.payloads.size());
  EXPECT_EQ((*log)->durableSeq(), c.payloads.size());
  // Each producer's records are there once, in its order.
  std::map<int64_t, int64_t> next_n;
  size_t requests = 0;
  for (const JsonValue& r : c.records) {
    if (typeOf(r) != "request") continue;
    ++requests;
    const int64_t p = intOf(r, "p");
    EXPECT_EQ(intOf(r, "n"), next_n[p]) << "producer " << p;
    next_n[p] = intOf(r, "n") + 1;
  }
  EXPECT_EQ(requests, static_cast<size_t>(kThreads * kPerThread));
  EXPECT_GE(checkLog(c, *key), 2u);
}

// An Env whose files count appended and synced bytes, so a test can see whether everything
// appended was synced when a callback runs.
class SyncTrackingEnv final : public Env {
 public:
  std::atomic<uint64_t> seg_appended{0};
  std::atomic<uint64_t> seg_synced{0};
  std::atomic<uint64_t> syncs{0};

  class File final : public WritableFile {
   public:
    File(SyncTrackingEnv& env, std::unique_ptr<WritableFile> base, bool segment)
        : env_(env), base_(std::move(base)), segment_(segment) {}
    Status append(std::string_view d) override {
      Status s = base_->append(d);
      if (s.isOk() && segment_) env_.seg_appended += d.size();
      return s;
    }
    Status sync() override {
      Status s = base_->sync();
      if (s.isOk()) {
        ++env_.syncs;
        if (segment_) env_.seg_synced.store(env_.seg_appended.load());
      }
      return s;
    }
    Status close() override { return base_->close(); }
    uint64_t size() const override { return base_->size(); }

   private:
    SyncTrackingEnv& env_;
    std::unique_ptr<WritableFile> base_;
    bool segment_;
  };

  StatusOr<std::unique_ptr<WritableFile>> openAppend(const std::string& path) override {
    auto f = Env::posix().openAppend(path);
    if (!f.isOk()) return f.status();
    const bool seg = path.find("/segments/") != std::string::npos;
    return std::unique_ptr<WritableFile>(new File(*this, std::move(f).value(), seg));
  }
  StatusOr<std::string> readFile(const std::string& p) override {
    return Env::posix().readFile(p);
  }
  Status truncate(const std::string& p, uint64_t n) override {
    return Env::posix().truncate(p, n);
  }
  StatusOr<std::vector<std::string>> listDir(const std::string& d) override {
    return Env::posix().listDir(d);
  }
  Status createDir(const std::string& d) override { return Env::posix().createDir(d); }
  Status remove(const std::string& p) override { return Env::posix().remove(p); }
  Status rename(const std::string& a, const std::string& b) override {
    return Env::posix().rename(a, b);
  }
  Status syncDir(const std::string& d) override { return Env::posix().syncDir(d); }
  StatusOr<uint64_t> freeBytes(const std::string& p) override {
    return Env::posix().freeBytes(p);
  }
  bool exists(const std::string& p) override { return Env::posix().exists(p); }
};

TEST(AuditLogTest, DurableCallbackRunsOnlyAfterTheSync) {
  TempDir t;
  SyncTrackingEnv env;
  LogOptions o = baseOptions(t, makeKey(t.path()));
  o.env = &env;
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk()) << log.status().toString();
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> unsynced_at_callback{0};
  AuditLog* lp = log->get();
  Producer& p = lp->addProducer([&](const std::vector<uint64_t>& cookies, bool ok) {
    EXPECT_TRUE(ok);
    if (env.seg_synced.load() != env.seg_appended.load()) ++unsynced_at_callback;
    // Everything acknowledged is below durableSeq().
    EXPECT_GE(lp->durableSeq(), cookies.size());
    acked += cookies.size();
  });
  lp->start();
  constexpr int kRecords = 2000;
  for (int n = 0; n < kRecords; ++n) {
    std::string f = requestFields(0, n);
    ASSERT_TRUE(pollUntil([&] { return p.submit(f, static_cast<uint64_t>(n)); }));
  }
  ASSERT_TRUE(pollUntil([&] { return acked.load() == kRecords; }));
  lp->stop();
  EXPECT_EQ(unsynced_at_callback.load(), 0u);
  EXPECT_GT(env.syncs.load(), 0u);
}

TEST(AuditLogTest, GroupCommitBatchesRecordsUnderLoad) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  o.ring_capacity = 4096;
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  Acks acks[kThreads];
  std::vector<Producer*> producers;
  for (auto& a : acks) producers.push_back(&(*log)->addProducer(a.callback()));
  (*log)->start();
  std::vector<std::thread> threads;
  for (int p = 0; p < kThreads; ++p) {
    threads.emplace_back([&, p] {
      for (int n = 0; n < kPerThread; ++n) {
        std::string f = requestFields(p, n, 200);
        for (int tries = 0; tries < 1000000 && !producers[p]->submit(f, n); ++tries) {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(pollUntil([&] {
    for (auto& a : acks)
      if (a.okCount() != kPerThread) return false;
    return true;
  }));
  const LogStats st = (*log)->stats();
  (*log)->stop();
  EXPECT_GE(st.records, static_cast<uint64_t>(kThreads * kPerThread));
  // One fdatasync per batch, and a batch is whatever queued during the previous sync: far
  // fewer syncs than records.
  EXPECT_LT(st.batches * 2, st.records) << st.batches << " batches for " << st.records;
  size_t callbacks = 0;
  for (auto& a : acks) callbacks += a.calls;
  EXPECT_LT(callbacks, static_cast<size_t>(kThreads * kPerThread));
}

TEST(AuditLogTest, StartAndStopRecordsKeyAndFinalCheckpoint) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk());
    Acks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    (*log)->submitControl("\"type\":\"config\",\"time\":\"2026-01-01T00:00:00.000000Z\","
                          "\"generation\":1,\"digest\":\"abc\",\"source\":\"test\"");
    (*log)->start();
    std::string f = requestFields(0, 0);
    ASSERT_TRUE(p.submit(f, 7));
    ASSERT_TRUE(pollUntil([&] { return acks.okCount() == 1; }));
    (*log)->stop();
    std::string late = requestFields(0, 1);
    EXPECT_FALSE(p.submit(late, 8));  // after stop: refused
    EXPECT_TRUE((*log)->healthy());
  }
  const LogContents c = readLog(o.dir);
  ASSERT_GE(c.records.size(), 6u);
  EXPECT_EQ(typeOf(c.records[0]), "start");
  EXPECT_EQ(typeOf(c.records[1]), "key");
  EXPECT_EQ(c.records[1].find("key_name")->asString(), key->name());
  char id[9];
  std::snprintf(id, sizeof id, "%08x", key->keyId());
  EXPECT_EQ(c.records[1].find("key_id")->asString(), id);
  EXPECT_EQ(c.records[1].find("public_key")->asString(), internal::base64(key->publicKey()));
  EXPECT_EQ(typeOf(c.records[2]), "config");
  EXPECT_EQ(typeOf(c.records[3]), "request");
  const size_t n = c.records.size();
  EXPECT_EQ(typeOf(c.records[n - 2]), "stop");
  EXPECT_EQ(typeOf(c.records[n - 1]), "checkpoint");
  EXPECT_EQ(intOf(c.records[n - 1], "size"), static_cast<int64_t>(n - 1));
  EXPECT_GE(checkLog(c, *key), 1u);
  // checkpoints.note holds the same notes as the checkpoint records.
  auto notes_file = Env::posix().readFile(o.dir + "/checkpoints.note");
  ASSERT_TRUE(notes_file.isOk());
  std::vector<std::string> notes = splitNotes(*notes_file);
  std::vector<std::string> in_log;
  for (const JsonValue& r : c.records)
    if (typeOf(r) == "checkpoint") in_log.push_back(r.find("note")->asString());
  EXPECT_EQ(notes, in_log);
  expectVerifies(o.dir, *key);
}

TEST(AuditLogTest, CheckpointsEveryNRecordsAndAsHeartbeatWhenIdle) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  o.checkpoint_records = 10;
  o.checkpoint_interval = std::chrono::milliseconds(60000);
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk());
    Acks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    (*log)->start();
    for (int n = 0; n < 45; ++n) {  // one at a time: one record per batch
      std::string f = requestFields(0, n);
      ASSERT_TRUE(p.submit(f, static_cast<uint64_t>(n)));
      ASSERT_TRUE(pollUntil([&] { return acks.okCount() == static_cast<size_t>(n + 1); }));
    }
    (*log)->stop();
  }
  LogContents c = readLog(o.dir);
  std::vector<uint64_t> cp_seqs;
  for (size_t i = 0; i < c.records.size(); ++i)
    if (typeOf(c.records[i]) == "checkpoint") cp_seqs.push_back(i);
  // start + key + 45 requests; a checkpoint after every 10 records (the checkpoint record
  // itself not counted), and one at stop.
  ASSERT_GE(cp_seqs.size(), 5u);
  for (size_t k = 1; k + 1 < cp_seqs.size(); ++k) EXPECT_EQ(cp_seqs[k] - cp_seqs[k - 1], 11u);
  EXPECT_EQ(cp_seqs.front(), 10u);
  checkLog(c, *key);

  // Heartbeat: idle, a checkpoint every checkpoint_interval.
  TempDir t2;
  LogOptions o2 = baseOptions(t2, key);
  o2.checkpoint_interval = std::chrono::milliseconds(20);
  {
    auto log = AuditLog::open(o2);
    ASSERT_TRUE(log.isOk());
    (*log)->start();
    ASSERT_TRUE(pollUntil([&] { return (*log)->stats().checkpoints >= 4; }));
    (*log)->stop();
  }
  c = readLog(o2.dir);
  size_t heartbeats = 0;
  for (size_t i = 2; i < c.records.size(); ++i) {
    const std::string type = typeOf(c.records[i]);
    EXPECT_TRUE(type == "checkpoint" || type == "stop") << type;
    if (type == "checkpoint") ++heartbeats;
  }
  EXPECT_GE(heartbeats, 4u);
  checkLog(c, *key);
}

TEST(AuditLogTest, RecoveryCutsATornTailAndContinues) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk());
    Acks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    (*log)->start();
    for (int n = 0; n < 100; ++n) {
      std::string f = requestFields(0, n);
      ASSERT_TRUE(pollUntil([&] { return p.submit(f, static_cast<uint64_t>(n)); }));
    }
    ASSERT_TRUE(pollUntil([&] { return acks.okCount() == 100; }));
    (*log)->stop();
  }
  LogContents before = readLog(o.dir);
  ASSERT_EQ(before.segment_names.size(), 1u);
  const std::string seg = o.dir + "/segments/" + before.segment_names[0];
  const uint64_t size = std::filesystem::file_size(seg);
  const uint64_t last_frame = kFrameHeaderBytes + before.payloads.back().size();
  // Cut the last frame (the final checkpoint) in the middle of its payload.
  ASSERT_TRUE(Env::posix().truncate(seg, size - last_frame / 2).isOk());
  const uint64_t cut = last_frame - last_frame / 2;
  const uint64_t kept = before.payloads.size() - 1;
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    EXPECT_EQ((*log)->stats().next_seq, kept);
    EXPECT_EQ((*log)->durableSeq(), kept);
    (*log)->start();
    (*log)->stop();
  }
  LogContents after = readLog(o.dir);
  ASSERT_GT(after.records.size(), kept + 3);
  for (size_t i = 0; i < kept; ++i) ASSERT_EQ(after.payloads[i], before.payloads[i]);
  const JsonValue& rec = after.records[kept];
  EXPECT_EQ(typeOf(rec), "recovery");
  EXPECT_EQ(intOf(rec, "cut_bytes"), static_cast<int64_t>(cut));
  EXPECT_EQ(rec.find("segment")->asString(), before.segment_names[0]);
  EXPECT_EQ(typeOf(after.records[kept + 1]), "start");
  // The rebuilt tree equals a fresh one: every checkpoint, old and new, checks out.
  EXPECT_GE(checkLog(after, *key), 1u);
  EXPECT_EQ(typeOf(after.records.back()), "checkpoint");
  expectVerifies(o.dir, *key);
}

TEST(AuditLogTest, CorruptionInsideAClosedSegmentFailsOpen) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  o.segment_bytes = 4096;
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk());
    Acks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    (*log)->start();
    for (int n = 0; n < 60; ++n) {
      std::string f = requestFields(0, n, 200);
      ASSERT_TRUE(pollUntil([&] { return p.submit(f, static_cast<uint64_t>(n)); }));
      ASSERT_TRUE(pollUntil([&] { return acks.okCount() == static_cast<size_t>(n + 1); }));
    }
    (*log)->stop();
  }
  LogContents c = readLog(o.dir);
  ASSERT_GE(c.segment_names.size(), 3u);
  checkLog(c, *key);
  const std::string first = o.dir + "/segments/" + c.segment_names[0];
  auto bytes = Env::posix().readFile(first);
  ASSERT_TRUE(bytes.isOk());
  std::string damaged = *bytes;
  damaged[kSegmentHeaderBytes + kFrameHeaderBytes + 5] ^= 0x01;
  {
    auto f = Env::posix().openAppend(first + ".new");
    ASSERT_TRUE(f.isOk());
    ASSERT_TRUE((*f)->append(damaged).isOk());
    ASSERT_TRUE((*f)->close().isOk());
    ASSERT_TRUE(Env::posix().rename(first + ".new", first).isOk());
  }
  auto log = AuditLog::open(o);
  ASSERT_FALSE(log.isOk());
  EXPECT_EQ(log.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(log.status().message().find(c.segment_names[0]), std::string::npos);
  EXPECT_NE(log.status().message().find("offset 32"), std::string::npos)
      << log.status().message();
}

TEST(AuditLogTest, RotationAndRetentionRespectCursors) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  o.segment_bytes = 4096;
  o.retention_bytes = 3 * 4096;
  o.checkpoint_records = 1000000;
  auto writeRecords = [&](AuditLog& log, Producer& p, Acks& acks, int from, int count) {
    for (int n = from; n < from + count; ++n) {
      std::string f = requestFields(0, n, 250);
      ASSERT_TRUE(pollUntil([&] { return p.submit(f, static_cast<uint64_t>(n)); }));
      ASSERT_TRUE(pollUntil([&] { return acks.okCount() == static_cast<size_t>(n + 1); }));
    }
    (void)log;
  };
  std::vector<Hash> all_leaves;
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk());
    Acks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    const size_t cursor = (*log)->addCursor("exporter", 0);  // has read nothing
    (*log)->start();
    writeRecords(**log, p, acks, 0, 120);
    // Nothing deleted: the cursor has not passed any segment.
    const LogContents c = readLog(o.dir, (*log)->durableSeq());
    EXPECT_EQ(c.first_seq, 0u);
    ASSERT_GE(c.segment_names.size(), 8u);
    checkLog(c, *key);
    for (const std::string& pl : c.payloads) all_leaves.push_back(leafHash(pl));
    // Every segment is closed by a checkpoint record.
    uint64_t next_first = 0;
    for (size_t s = 0; s + 1 < c.segment_names.size(); ++s) {
      ASSERT_TRUE(parseSegmentFileName(c.segment_names[s + 1], next_first));
      if (next_first > c.records.size()) break;
      EXPECT_EQ(typeOf(c.records[next_first - 1]), "checkpoint");
    }
    // The cursor moves to the middle: segments before it may go, not the one it is in.
    ASSERT_TRUE(parseSegmentFileName(c.segment_names[4], next_first));
    (*log)->setCursor(cursor, next_first + 1);
    writeRecords(**log, p, acks, 120, 20);  // rotates at least once: retention runs
    (*log)->stop();
    const LogContents d = readLog(o.dir);
    EXPECT_EQ(d.first_seq, next_first);  // stopped at the cursor's segment
    EXPECT_EQ((*log)->stats().segments, d.segment_names.size());
    for (size_t i = all_leaves.size() - d.first_seq; i < d.payloads.size(); ++i)
      all_leaves.push_back(leafHash(d.payloads[i]));
    std::vector<Hash> before(all_leaves.begin(), all_leaves.begin() + d.first_seq);
    checkLog(d, *key, before);
  }
  // Reopen with a cursor at the end of what this test has seen: retention deletes the older
  // segments down to the byte limit, and the tree resumes from the saved edge.
  uint64_t first_before = 0;
  {
    const LogContents d = readLog(o.dir);
    first_before = d.first_seq;
  }
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    Acks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    (*log)->addCursor("test", all_leaves.size());
    (*log)->start();
    writeRecords(**log, p, acks, 0, 30);
    (*log)->stop();
  }
  LogContents full = readLog(o.dir);
  EXPECT_GT(full.first_seq, first_before);
  ASSERT_LE(full.first_seq, all_leaves.size());
  for (size_t i = all_leaves.size() - full.first_seq; i < full.payloads.size(); ++i)
    all_leaves.push_back(leafHash(full.payloads[i]));
  std::vector<Hash> before(all_leaves.begin(), all_leaves.begin() + full.first_seq);
  checkLog(full, *key, before);
  EXPECT_GT(full.segment_names.size(), 1u);
  expectVerifies(o.dir, *key);
  // And once more: open resumes from state/merkle.
  auto again = AuditLog::open(o);
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  EXPECT_EQ((*again)->stats().next_seq, full.first_seq + full.payloads.size());
}

TEST(AuditLogTest, AsyncModeWritesAGapRecordForLostRecords) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  o.durability = Durability::kAsync;
  o.ring_capacity = 4;
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk());
  Producer& p = (*log)->addProducer(nullptr);
  int accepted = 0;
  for (int n = 0; n < 10; ++n) {  // before start(): the ring fills at 4
    std::string f = requestFields(0, n);
    if (p.submit(f, static_cast<uint64_t>(n))) ++accepted;
  }
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ((*log)->stats().lost, 6u);
  (*log)->start();
  (*log)->stop();
  const LogContents c = readLog(o.dir);
  int64_t lost = 0;
  size_t requests = 0;
  for (const JsonValue& r : c.records) {
    if (typeOf(r) == "gap") {
      lost += intOf(r, "lost");
      EXPECT_NE(r.find("from_time"), nullptr);
      EXPECT_NE(r.find("to_time"), nullptr);
    }
    if (typeOf(r) == "request") ++requests;
  }
  EXPECT_EQ(lost, 6);
  EXPECT_EQ(requests, 4u);
  EXPECT_EQ((*log)->stats().lost, 6u);
  checkLog(c, *key);
}

TEST(AuditLogTest, StrictModeRefusesWhenTheRingIsFull) {
  TempDir t;
  LogOptions o = baseOptions(t, makeKey(t.path()));
  o.ring_capacity = 2;
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk());
  Acks acks;
  Producer& p = (*log)->addProducer(acks.callback());
  std::string a = requestFields(0, 0), b = requestFields(0, 1), c = requestFields(0, 2);
  EXPECT_TRUE(p.submit(a, 0));
  EXPECT_TRUE(p.submit(b, 1));
  EXPECT_FALSE(p.submit(c, 2));
  EXPECT_NE(c.find("\"n\":2"), std::string::npos);  // a refused record stays with the caller
  std::string empty;
  EXPECT_FALSE(p.submit(empty, 3));
  EXPECT_EQ((*log)->stats().refused, 2u);
  EXPECT_EQ((*log)->stats().lost, 0u);
  (*log)->start();
  ASSERT_TRUE(pollUntil([&] { return acks.okCount() == 2; }));
  EXPECT_TRUE(p.submit(c, 2));
  ASSERT_TRUE(pollUntil([&] { return acks.okCount() == 3; }));
  (*log)->stop();
}

}  // namespace
}  // namespace stepgate::audit

namespace stepgate::audit {
namespace {

// `stepgate audit export` writes state/export.cursor, possibly while the log runs: retention
// reads it before deleting and never removes what was not exported.
TEST(AuditLogTest, RetentionRespectsTheExportCursorFile) {
  TempDir t;
  auto key = makeKey(t.path());
  LogOptions o = baseOptions(t, key);
  o.segment_bytes = 4096;
  o.retention_bytes = 2 * 4096;
  o.checkpoint_records = 1000000;
  auto writeCursor = [&](const std::string& text) {
    ASSERT_TRUE(Env::posix().createDir(o.dir).isOk());
    ASSERT_TRUE(Env::posix().createDir(o.dir + "/state").isOk());
    FILE* f = std::fopen((o.dir + "/state/export.cursor").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  writeCursor("0\n");
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk()) << log.status().toString();
  Acks acks;
  Producer& p = (*log)->addProducer(acks.callback());
  (*log)->start();
  auto write = [&](int from, int count) {
    for (int n = from; n < from + count; ++n) {
      std::string f = requestFields(0, n, 250);
      ASSERT_TRUE(pollUntil([&] { return p.submit(f, static_cast<uint64_t>(n)); }));
      ASSERT_TRUE(pollUntil([&] { return acks.okCount() == static_cast<size_t>(n + 1); }));
    }
  };
  write(0, 80);
  EXPECT_EQ(readLog(o.dir, (*log)->durableSeq()).first_seq, 0u);  // nothing was exported
  writeCursor("not a number\n");
  write(80, 20);
  EXPECT_EQ(readLog(o.dir, (*log)->durableSeq()).first_seq, 0u);  // unreadable: keep all
  writeCursor(std::to_string((*log)->durableSeq()) + "\n");      // everything exported
  write(100, 20);
  (*log)->stop();
  EXPECT_GT(readLog(o.dir).first_seq, 0u);
}

}  // namespace
}  // namespace stepgate::audit
