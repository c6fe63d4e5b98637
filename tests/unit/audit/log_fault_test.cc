// The writer under file-system faults injected through FaultEnv: a failed fdatasync, ENOSPC
// with a short write, and low free space.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/env.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "audit/segment.h"
#include "common/json.h"
#include "tests/unit/audit/test_util.h"

namespace stepgate::audit {
namespace {

struct FaultTempDir : testutil::TempDir {
  FaultTempDir() : testutil::TempDir("logfault") {}
};

struct FaultAcks {
  std::mutex mu;
  std::vector<uint64_t> ok;
  std::vector<uint64_t> failed;
  AuditLog::DurableCallback callback() {
    return [this](const std::vector<uint64_t>& cookies, bool success) {
      std::lock_guard<std::mutex> lock(mu);
      auto& into = success ? ok : failed;
      into.insert(into.end(), cookies.begin(), cookies.end());
    };
  }
  size_t total() {
    std::lock_guard<std::mutex> lock(mu);
    return ok.size() + failed.size();
  }
};

template <typename Pred>
bool waitFor(Pred pred) {
  for (int i = 0; i < 20000; ++i) {  // at most ~20 s
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

std::string fields(int n) {
  return "\"type\":\"request\",\"time\":\"2026-01-01T00:00:00.000000Z\",\"n\":" +
         std::to_string(n) + ",\"pad\":\"" + std::string(150, 'y') + "\"";
}

struct Stored {
  std::vector<std::string> payloads;
  std::vector<JsonValue> records;
};

Stored readStored(const std::string& dir) {
  Stored out;
  auto names = Env::posix().listDir(dir + "/segments");
  EXPECT_TRUE(names.isOk());
  if (!names.isOk()) return out;
  for (const std::string& n : *names) {
    auto bytes = Env::posix().readFile(dir + "/segments/" + n);
    EXPECT_TRUE(bytes.isOk());
    auto scan = scanSegment(*bytes);
    EXPECT_TRUE(scan.isOk());
    if (!scan.isOk()) continue;
    EXPECT_EQ(scan->stop_reason, "") << n;
    for (const Frame& f : scan->frames) {
      out.payloads.emplace_back(f.payload);
      auto j = parseJson(f.payload);
      EXPECT_TRUE(j.isOk()) << f.payload;
      out.records.push_back(j.isOk() ? *j : JsonValue());
    }
  }
  return out;
}

std::string typeOfRecord(const JsonValue& r) {
  const JsonValue* t = r.find("type");
  return t != nullptr && t->isString() ? t->asString() : "";
}

// seq == position, and every checkpoint matches a fresh rebuild of the tree.
void expectConsistent(const Stored& s, const SigningKey& key) {
  std::vector<Hash> leaves;
  for (const std::string& p : s.payloads) leaves.push_back(leafHash(p));
  const NoteVerifier v = NoteVerifier::fromRaw(key.name(), key.publicKey());
  for (size_t i = 0; i < s.records.size(); ++i) {
    const JsonValue* seq = s.records[i].find("seq");
    ASSERT_TRUE(seq != nullptr && seq->isInt());
    EXPECT_EQ(seq->asInt(), static_cast<int64_t>(i));
    if (typeOfRecord(s.records[i]) != "checkpoint") continue;
    const int64_t size = s.records[i].find("size")->asInt();
    ASSERT_LE(static_cast<size_t>(size), i);
    std::vector<Hash> prefix(leaves.begin(), leaves.begin() + size);
    auto cp = v.verify(s.records[i].find("note")->asString());
    ASSERT_TRUE(cp.isOk()) << cp.status().toString();
    EXPECT_EQ(cp->root, rootOf(prefix)) << "checkpoint at " << i;
  }
}

LogOptions faultOptions(const FaultTempDir& t, Env* env) {
  LogOptions o;
  o.dir = t.path() + "/log";
  auto key = SigningKey::generate(t.path() + "/signing.pem", "stepgate-test");
  EXPECT_TRUE(key.isOk());
  if (key.isOk()) o.key = *key;
  o.env = env;
  o.low_disk_bytes = 0;
  return o;
}

TEST(AuditLogFaultTest, FailedFsyncFailsClosedAndNothingLaterIsAcknowledged) {
  FaultTempDir t;
  FaultEnv env(Env::posix());
  LogOptions o = faultOptions(t, &env);
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    FaultAcks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    // Syncs from here: the start batch, then one per record submitted alone; the 7th fails.
    env.failSyncAfter(7);
    (*log)->start();
    ASSERT_TRUE(waitFor([&] { return (*log)->durableSeq() == 2; }));  // start, key
    int n = 0;
    for (; n < 20; ++n) {
      std::string f = fields(n);
      if (!p.submit(f, static_cast<uint64_t>(n))) break;
      ASSERT_TRUE(waitFor([&] { return acks.total() == static_cast<size_t>(n + 1); }));
    }
    EXPECT_EQ(n, 6);  // the 7th submit is refused: the log has failed
    EXPECT_EQ(acks.ok, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(acks.failed, (std::vector<uint64_t>{5}));
    EXPECT_FALSE((*log)->healthy());
    const LogStats st = (*log)->stats();
    EXPECT_TRUE(st.failed);
    EXPECT_GE(st.refused, 1u);
    const uint64_t durable = (*log)->durableSeq();
    EXPECT_EQ(durable, 2u + 5u);  // start, key and five records; not the failed batch
    for (int k = 0; k < 5; ++k) {
      std::string f = fields(100 + k);
      EXPECT_FALSE(p.submit(f, 100u + k));
    }
    (*log)->stop();
    EXPECT_EQ(acks.ok.size(), 5u);  // no retry, nothing acknowledged after the failure
    EXPECT_EQ((*log)->durableSeq(), durable);
  }
  // The page cache may still hold the failed batch; whatever is on disk is a consistent log
  // that a new process continues.
  LogOptions again = o;
  again.env = nullptr;
  {
    auto log = AuditLog::open(again);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    (*log)->start();
    (*log)->stop();
  }
  const Stored s = readStored(o.dir);
  expectConsistent(s, *o.key);
  EXPECT_EQ(typeOfRecord(s.records.back()), "checkpoint");
}

TEST(AuditLogFaultTest, EnospcShortWriteFailsClosedAndRecoveryCutsThePartialFrame) {
  FaultTempDir t;
  FaultEnv env(Env::posix());
  LogOptions o = faultOptions(t, &env);
  std::vector<uint64_t> acked;
  {
    auto log = AuditLog::open(o);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    FaultAcks acks;
    Producer& p = (*log)->addProducer(acks.callback());
    env.enospcAfterBytes(2000);  // the start batch and a few records fit, then a short write
    (*log)->start();
    int n = 0;
    for (; n < 100; ++n) {
      std::string f = fields(n);
      if (!p.submit(f, static_cast<uint64_t>(n))) break;
      ASSERT_TRUE(waitFor([&] { return acks.total() == static_cast<size_t>(n + 1); }));
      std::lock_guard<std::mutex> lock(acks.mu);
      if (!acks.failed.empty()) break;
    }
    ASSERT_LT(n, 100);
    EXPECT_EQ(acks.failed.size(), 1u);
    EXPECT_FALSE((*log)->healthy());
    std::string f = fields(1000);
    EXPECT_FALSE(p.submit(f, 1000));
    (*log)->stop();
    acked = acks.ok;
    EXPECT_GE(acked.size(), 3u);
  }
  LogOptions again = o;
  again.env = nullptr;
  uint64_t kept = 0;
  {
    auto log = AuditLog::open(again);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    kept = (*log)->stats().next_seq;
    (*log)->start();
    (*log)->stop();
  }
  const Stored s = readStored(o.dir);
  ASSERT_GT(s.records.size(), kept);
  const JsonValue& rec = s.records[kept];
  EXPECT_EQ(typeOfRecord(rec), "recovery");
  ASSERT_NE(rec.find("cut_bytes"), nullptr);
  EXPECT_GT(rec.find("cut_bytes")->asInt(), 0);
  expectConsistent(s, *o.key);
  // Every acknowledged record survived.
  std::vector<uint64_t> stored;
  for (const JsonValue& r : s.records) {
    if (typeOfRecord(r) == "request") stored.push_back(static_cast<uint64_t>(r.find("n")->asInt()));
  }
  EXPECT_EQ(stored, acked);
}

TEST(AuditLogFaultTest, LowDiskRefusesNewRecordsUntilSpaceReturns) {
  FaultTempDir t;
  FaultEnv env(Env::posix());
  LogOptions o = faultOptions(t, &env);
  o.low_disk_bytes = 1 << 20;
  env.setFreeBytes(4096);
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk()) << log.status().toString();
  FaultAcks acks;
  Producer& p = (*log)->addProducer(acks.callback());
  (*log)->start();  // the start batch sees the low free space
  ASSERT_TRUE(waitFor([&] { return (*log)->stats().low_disk; }));
  std::string f = fields(0);
  EXPECT_FALSE(p.submit(f, 0));
  EXPECT_EQ((*log)->stats().refused, 1u);
  EXPECT_TRUE((*log)->healthy());  // refusing is not failing
  env.setFreeBytes(uint64_t{1} << 30);
  (*log)->submitControl("\"type\":\"config\",\"time\":\"2026-01-01T00:00:00.000000Z\","
                        "\"generation\":2,\"digest\":\"d\",\"source\":\"test\"");
  ASSERT_TRUE(waitFor([&] { return !(*log)->stats().low_disk; }));
  EXPECT_TRUE(p.submit(f, 1));
  ASSERT_TRUE(waitFor([&] { return acks.total() == 1; }));
  EXPECT_EQ(acks.ok, (std::vector<uint64_t>{1}));
  (*log)->stop();
  expectConsistent(readStored(o.dir), *o.key);
}

TEST(AuditLogFaultTest, AsyncLowDiskCountsLostRecordsInAGapRecord) {
  FaultTempDir t;
  FaultEnv env(Env::posix());
  LogOptions o = faultOptions(t, &env);
  o.durability = Durability::kAsync;
  o.low_disk_bytes = 1 << 20;
  env.setFreeBytes(4096);
  auto log = AuditLog::open(o);
  ASSERT_TRUE(log.isOk());
  Producer& p = (*log)->addProducer(nullptr);
  (*log)->start();
  ASSERT_TRUE(waitFor([&] { return (*log)->stats().low_disk; }));
  for (int n = 0; n < 3; ++n) {
    std::string f = fields(n);
    EXPECT_FALSE(p.submit(f, static_cast<uint64_t>(n)));
  }
  (*log)->stop();
  EXPECT_EQ((*log)->stats().lost, 3u);
  const Stored s = readStored(o.dir);
  int64_t lost = 0;
  for (const JsonValue& r : s.records)
    if (typeOfRecord(r) == "gap") lost += r.find("lost")->asInt();
  EXPECT_EQ(lost, 3);
  expectConsistent(s, *o.key);
}

}  // namespace
}  // namespace stepgate::audit
