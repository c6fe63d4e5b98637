// verifyLog beyond tampering (heartbeats across restarts, retention, several keys, notes
// saved elsewhere, a log written by AuditLog) and inclusion proofs.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "audit/prove.h"
#include "audit/segment.h"
#include "audit/verify.h"
#include "common/json.h"
#include "common/json_writer.h"

namespace stepgate::audit {
namespace {

// A log built directly from the format (segment framing, Merkle tree, signed notes), so
// the verifier is tested against the specification rather than against the writer.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/stepgate-verify-XXXXXX";
    const char* d = mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    path_ = d != nullptr ? d : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void writeFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string readFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr int64_t kStartUs = 1'763'800'000'000'000;  // 2025-11-22

std::string timeText(int64_t us) {
  const time_t secs = static_cast<time_t>(us / 1'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1'000'000));
  return buf;
}

class TestLog {
 public:
  TestLog(std::string dir, std::shared_ptr<const SigningKey> key, std::string salt = "")
      : dir_(std::move(dir)), key_(std::move(key)), salt_(std::move(salt)) {
    segments_.push_back({0, {}});
  }

  // Appends a record of `type` with extra members `fields` ("" or ",\"a\":1"), `step_us`
  // after the previous one.
  void add(const std::string& type, const std::string& fields = "", int64_t step_us = 1000) {
    now_ += step_us;
    const uint64_t seq = tree_.size();
    char id[96];
    std::snprintf(id, sizeof id, "%08llx-%04llx-7%03llx-8%03llx-%012llx",
                  static_cast<unsigned long long>(now_ / 1000 >> 16),
                  static_cast<unsigned long long>((now_ / 1000) & 0xFFFF),
                  static_cast<unsigned long long>(seq & 0xFFF),
                  static_cast<unsigned long long>((seq >> 12) & 0xFFF),
                  static_cast<unsigned long long>(seq));
    std::string p = "{\"v\":1,\"seq\":" + std::to_string(seq) + ",\"event_id\":\"" + id +
                    "\",\"type\":\"" + type + "\",\"time\":\"" + timeText(now_) + "\"" + fields;
    if (!salt_.empty()) p += ",\"salt\":\"" + salt_ + "\"";
    p += "}";
    segments_.back().second.push_back(p);
    tree_.append(leafHash(p));
  }
  void request(int64_t step_us = 1000) { add("request", ",\"request_id\":\"r\"", step_us); }
  // A checkpoint of every record so far, as a record and in checkpoints.note.
  void checkpoint(int64_t step_us = 1000) {
    Checkpoint cp;
    cp.origin = "stepgate.example/audit/test";
    cp.size = tree_.size();
    cp.root = tree_.root();
    const std::string note = key_->sign(cp);
    std::string f = ",\"size\":" + std::to_string(cp.size) + ",\"root\":\"" + toBase64(cp.root) +
                    "\",\"note\":";
    json::appendString(f, note);
    add("checkpoint", f, step_us);
    notes_ += note + "\n";
    last_note_ = note;
  }
  void rotate() { segments_.push_back({tree_.size(), {}}); }
  uint64_t size() const { return tree_.size(); }
  const std::string& lastNote() const { return last_note_; }
  const std::string& notes() const { return notes_; }
  const std::string& dir() const { return dir_; }
  std::string segmentPath(size_t i) const {
    return dir_ + "/" + segmentFileName(segments_[i].first);
  }

  void write() const {
    mkdir(dir_.c_str(), 0700);
    mkdir((dir_ + "/segments").c_str(), 0700);
    for (const auto& [first, payloads] : segments_) {
      writeSegment(dir_ + "/" + segmentFileName(first), first, payloads);
    }
    writeFile(dir_ + "/checkpoints.note", notes_);
  }

  static void writeSegment(const std::string& path, uint64_t first,
                           const std::vector<std::string>& payloads) {
    std::string s;
    appendSegmentHeader(s, first, kStartUs);
    for (const auto& p : payloads) appendFrame(s, p);
    writeFile(path, s);
  }

 private:
  std::string dir_;
  std::shared_ptr<const SigningKey> key_;
  std::string salt_;
  int64_t now_ = kStartUs;
  CompactRange tree_;
  std::vector<std::pair<uint64_t, std::vector<std::string>>> segments_;
  std::string notes_;
  std::string last_note_;
};

std::vector<std::string> payloadsOf(const std::string& path) {
  const std::string bytes = readFileText(path);
  auto scan = scanSegment(bytes);
  EXPECT_TRUE(scan.isOk());
  std::vector<std::string> out;
  if (!scan.isOk()) return out;
  for (const Frame& f : scan->frames) out.emplace_back(f.payload);
  return out;
}

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = SigningKey::generate(tmp_.path() + "/key.pem", "stepgate-audit");
    ASSERT_TRUE(k.isOk());
    key_ = *k;
    opt_.keys.push_back(NoteVerifier::fromRaw("stepgate-audit", key_->publicKey()));
    opt_.heartbeat_interval = std::chrono::seconds(60);
  }
  VerifyReport verify(const std::string& dir) { return verifyLog(Env::posix(), dir, opt_); }

  TempDir tmp_;
  std::shared_ptr<const SigningKey> key_;
  VerifyOptions opt_;
};

TEST_F(VerifyTest, EmptyLogAndMissingKey) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.write();
  VerifyReport r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.records, 0u);
  opt_.keys.clear();
  r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no public key"), std::string::npos);
  EXPECT_FALSE(verify(tmp_.path() + "/nothing").ok);
}

TEST_F(VerifyTest, CleanStopExcusesDowntimeACrashDoesNot) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.checkpoint(50'000'000);
  log.add("stop", "", 10'000'000);
  log.checkpoint();
  log.add("start", "", 3600'000'000);  // an hour down, cleanly
  log.request();
  log.checkpoint(100'000'000);
  log.write();
  VerifyReport r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();

  // A crash: no stop record; the run was heartbeat-complete up to its last record, so the
  // time until the next start (the recovery record tells of the crash) is not held against it.
  const std::string dir2 = tmp_.path() + "/crash";
  TestLog crash(dir2, key_);
  crash.add("start");
  crash.checkpoint(1000);
  crash.request(100'000'000);
  crash.add("start", "", 3600'000'000);
  crash.add("recovery", ",\"cut_bytes\":10");
  crash.checkpoint();
  crash.write();
  r = verify(dir2);
  EXPECT_TRUE(r.ok) << r.summary();

  // A record 200 s after the last checkpoint while live: a heartbeat is missing.
  const std::string dir3 = tmp_.path() + "/late";
  TestLog late(dir3, key_);
  late.add("start");
  late.checkpoint(1000);
  late.request(200'000'000);
  late.checkpoint();
  late.write();
  r = verify(dir3);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("missing heartbeat"), std::string::npos) << r.summary();
  EXPECT_EQ(r.error_seq, 2);
  opt_.heartbeat_interval = std::chrono::milliseconds(0);  // rule off
  EXPECT_TRUE(verify(dir3).ok);
}

TEST_F(VerifyTest, KeyRotationNeedsBothKeys) {
  auto next = SigningKey::generate(tmp_.path() + "/next.pem", "stepgate-audit-2");
  ASSERT_TRUE(next.isOk());
  const std::string dir = tmp_.path() + "/log";
  // Two builders cannot share one tree: build with the first key, then append with the
  // second by re-signing from a second builder that mirrors the records.
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.checkpoint();
  log.write();
  auto payloads = payloadsOf(log.segmentPath(0));
  // Continue the same tree with the next key.
  CompactRange tree;
  for (const auto& p : payloads) tree.append(leafHash(p));
  Checkpoint cp{"stepgate.example/audit/test", tree.size(), tree.root()};
  const std::string note = (*next)->sign(cp);
  std::string f = ",\"size\":" + std::to_string(cp.size) + ",\"root\":\"" + toBase64(cp.root) +
                  "\",\"note\":";
  json::appendString(f, note);
  std::string p = "{\"v\":1,\"seq\":3,\"event_id\":\"0191e000-0000-7000-8000-000000000003\","
                  "\"type\":\"checkpoint\",\"time\":\"" + timeText(kStartUs + 5000) + "\"" + f + "}";
  payloads.push_back(p);
  TestLog::writeSegment(log.segmentPath(0), 0, payloads);
  writeFile(dir + "/checkpoints.note", log.notes() + note + "\n");
  VerifyReport r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no signature by key"), std::string::npos) << r.summary();
  opt_.keys.push_back(NoteVerifier::fromRaw("stepgate-audit-2", (*next)->publicKey()));
  r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.checkpoints_checked, 2u);
}

TEST_F(VerifyTest, RetainedSuffixWithSavedTreeEdge) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  for (int i = 0; i < 5; ++i) log.request();
  log.checkpoint();
  log.rotate();
  for (int i = 0; i < 4; ++i) log.request();
  log.checkpoint();
  log.write();
  // Retention removes the first segment and leaves the edge of the 7 records it held.
  CompactRange edge;
  for (const auto& p : payloadsOf(log.segmentPath(0))) edge.append(leafHash(p));
  ASSERT_EQ(edge.size(), 7u);
  unlink(log.segmentPath(0).c_str());
  VerifyReport r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("saved tree edge"), std::string::npos) << r.summary();
  mkdir((dir + "/state").c_str(), 0700);
  std::string state = "size 7\n";
  for (const Hash& h : edge.nodes()) state += toHex(h) + "\n";
  writeFile(dir + "/state/merkle", state);
  r = verify(dir);
  ASSERT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.first_seq, 7u);
  EXPECT_EQ(r.records, 5u);
  EXPECT_EQ(r.notes_before_retention, 1u);
  EXPECT_EQ(r.checkpoints_checked, 1u);
  // A wrong edge: the next checkpoint fails.
  state[8] = state[8] == 'a' ? 'b' : 'a';
  writeFile(dir + "/state/merkle", state);
  r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("checkpoint root differs"), std::string::npos) << r.summary();
}

TEST_F(VerifyTest, PayloadThatIsNotARecord) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.write();
  auto payloads = payloadsOf(log.segmentPath(0));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1]", "not a JSON object"},
      {"{\"v\":2}", "\"v\" is not 1"},
      {"{\"v\":1,\"seq\":1}", "no \"type\""},
      {"{\"v\":1,\"type\":\"request\"}", "no \"seq\""},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":\"x\"}", "UUIDv7"},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"yesterday\"}",
       "RFC 3339"},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"2024-13-01T00:00:00.000000Z\"}",
       "RFC 3339"},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"2024-02-29T12:34:56.78901Z\"}",
       "RFC 3339"},
      {"{\"v\":1,\"type\":\"checkpoint\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"" + timeText(kStartUs) + "\"}",
       "without size, root and note"},
  };
  for (const auto& [payload, needle] : cases) {
    auto changed = payloads;
    changed[1] = payload;
    TestLog::writeSegment(log.segmentPath(0), 0, changed);
    const VerifyReport r = verify(dir);
    EXPECT_FALSE(r.ok) << payload;
    EXPECT_NE(r.error.find(needle), std::string::npos) << r.summary();
    EXPECT_EQ(r.error_seq, 1) << payload;
  }
}

TEST_F(VerifyTest, AgainstFileMustBeComplete) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.checkpoint();
  log.write();
  const std::string saved = tmp_.path() + "/saved.note";
  writeFile(saved, log.notes().substr(0, log.notes().size() - 1));  // no final empty line
  opt_.against_file = saved;
  VerifyReport r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("not followed by an empty line"), std::string::npos) << r.summary();
  // checkpoints.note may end in a torn note (the log record holds the same checkpoint).
  opt_.against_file.clear();
  writeFile(dir + "/checkpoints.note", log.notes().substr(0, log.notes().size() - 9));
  r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_TRUE(r.torn_note);
  opt_.against_file = tmp_.path() + "/missing.note";
  EXPECT_FALSE(verify(dir).ok);
}

TEST_F(VerifyTest, ProofsForEveryRecord) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  for (int i = 0; i < 20; ++i) {
    log.request();
    if (i % 6 == 5) log.checkpoint();
    if (i == 9) log.rotate();
  }
  log.write();  // records 0..23; the last checkpoint (seq 21) covers 0..20
  const NoteVerifier& v = opt_.keys[0];
  for (uint64_t seq = 0; seq < log.size(); ++seq) {
    auto doc = proveInclusion(Env::posix(), dir, seq);
    if (seq >= 21) {
      EXPECT_EQ(doc.status().code(), StatusCode::kNotFound) << seq;
      continue;
    }
    ASSERT_TRUE(doc.isOk()) << seq << " " << doc.status().toString();
    auto proved = verifyProof(*doc, v);
    ASSERT_TRUE(proved.isOk()) << seq << " " << proved.status().toString();
    EXPECT_EQ(proved->seq, seq);
    EXPECT_EQ(proved->tree_size, 21u);
    EXPECT_EQ(proved->origin, "stepgate.example/audit/test");
    auto json = parseJson(*doc);
    ASSERT_TRUE(json.isOk());
    EXPECT_EQ(json->find("format")->asString(), "stepgate-inclusion-proof/1");
    EXPECT_EQ(json->find("key_name")->asString(), "stepgate-audit");
  }
  EXPECT_EQ(proveInclusion(Env::posix(), dir, 999).status().code(), StatusCode::kNotFound);
}

TEST_F(VerifyTest, ForgedProofsFail) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  for (int i = 0; i < 9; ++i) log.request();
  log.checkpoint();
  log.write();
  auto doc = proveInclusion(Env::posix(), dir, 4);
  ASSERT_TRUE(doc.isOk());
  const NoteVerifier& v = opt_.keys[0];
  ASSERT_TRUE(verifyProof(*doc, v).isOk());
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string d = *doc;
    const size_t at = d.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) d.replace(at, from.size(), to);
    return d;
  };
  auto json = parseJson(*doc);
  ASSERT_TRUE(json.isOk());
  const std::string first_node = json->find("proof")->asArray()[0].asString();
  const std::string leaf = json->find("leaf_hash")->asString();
  std::string other_node = first_node;
  other_node[0] = other_node[0] == '0' ? '1' : '0';
  // A changed audit path, leaf hash, index, format; another key.
  EXPECT_FALSE(verifyProof(replaced(first_node, other_node), v).isOk());
  std::string other_leaf = leaf;
  other_leaf[5] = other_leaf[5] == '0' ? '1' : '0';
  EXPECT_FALSE(verifyProof(replaced(leaf, other_leaf), v).isOk());
  EXPECT_FALSE(verifyProof(replaced("\"seq\":4", "\"seq\":5"), v).isOk());
  EXPECT_FALSE(verifyProof(replaced("stepgate-inclusion-proof/1", "x/1"), v).isOk());
  EXPECT_FALSE(verifyProof(replaced("\"tree_size\":10", "\"tree_size\":11"), v).isOk());
  auto other = SigningKey::generate(tmp_.path() + "/o.pem", "stepgate-audit");
  ASSERT_TRUE(other.isOk());
  EXPECT_FALSE(verifyProof(*doc, NoteVerifier::fromRaw("stepgate-audit", (*other)->publicKey())).isOk());
  EXPECT_FALSE(verifyProof("not json", v).isOk());
}

TEST_F(VerifyTest, LogWrittenByTheWriterVerifiesAndProves) {
  LogOptions lo;
  lo.dir = tmp_.path() + "/written";
  lo.key = key_;
  lo.checkpoint_records = 16;
  lo.segment_bytes = 4096;
  lo.low_disk_bytes = 0;
  lo.origin = "stepgate.example/audit/test";
  {
    auto log = AuditLog::open(lo);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    (*log)->start();
    for (int i = 0; i < 100; ++i) {
      (*log)->submitControl("\"type\":\"config\",\"time\":\"" + timeText(kStartUs + i) +
                            "\",\"generation\":" + std::to_string(i));
    }
    (*log)->stop();
  }
  opt_.heartbeat_interval = std::chrono::milliseconds(0);  // wall-clock driven: not tested here
  const VerifyReport r = verify(lo.dir);
  ASSERT_TRUE(r.ok) << r.summary();
  EXPECT_GE(r.records, 100u);
  // How many segments and checkpoints depends on how the writer batched the records.
  EXPECT_GE(r.segments, 1u);
  EXPECT_GE(r.checkpoints_checked, 1u);
  EXPECT_EQ(r.notes_checked, r.checkpoints_checked);
  EXPECT_EQ(r.uncovered, 1u);  // the final checkpoint record
  auto doc = proveInclusion(Env::posix(), lo.dir, 50);
  ASSERT_TRUE(doc.isOk()) << doc.status().toString();
  auto proved = verifyProof(*doc, opt_.keys[0]);
  ASSERT_TRUE(proved.isOk()) << proved.status().toString();
  auto json = parseJson(*doc);
  ASSERT_TRUE(json.isOk());
  EXPECT_FALSE(json->find("public_key")->asString().empty());
}

}  // namespace
}  // namespace stepgate::audit
