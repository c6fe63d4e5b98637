// Tampering with a log is detected: each way of changing, removing, reordering, inserting
// or truncating records, or of replacing checkpoints, fails verifyLog with its own message.

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
#include "audit/merkle.h"
#include "audit/segment.h"
#include "audit/verify.h"
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

uint64_t firstSeqOf(const std::string& path) {
  auto scan = scanSegment(readFileText(path));
  return scan.isOk() ? scan->header.first_seq : 0;
}

// Sets the "seq" member of a payload (a forger renumbering records).
std::string withSeq(const std::string& payload, uint64_t seq) {
  const size_t a = payload.find("\"seq\":") + 6;
  const size_t b = payload.find(',', a);
  return payload.substr(0, a) + std::to_string(seq) + payload.substr(b);
}

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = SigningKey::generate(tmp_.path() + "/key.pem", "stepgate-audit");
    ASSERT_TRUE(k.isOk());
    key_ = *k;
    log_ = std::make_unique<TestLog>(tmp_.path() + "/log", key_);
    build(*log_);
    log_->write();
    opt_.keys.push_back(NoteVerifier::fromRaw("stepgate-audit", key_->publicKey()));
    opt_.heartbeat_interval = std::chrono::seconds(60);
  }

  // start, key, 30 requests with a checkpoint after every 7th, rotations after the 12th and
  // 24th (each closed by a checkpoint), stop and a final checkpoint: three segments.
  static void build(TestLog& log) {
    log.add("start");
    log.add("key", ",\"key_name\":\"stepgate-audit\"");
    for (int i = 0; i < 30; ++i) {
      log.request();
      if (i % 7 == 6) log.checkpoint();
      if (i == 11 || i == 23) {
        log.checkpoint();
        log.rotate();
      }
    }
    log.add("stop");
    log.checkpoint();
  }

  VerifyReport verify() { return verifyLog(Env::posix(), log_->dir(), opt_); }

  void expectFailure(const std::string& needle) {
    const VerifyReport r = verify();
    EXPECT_FALSE(r.ok) << r.summary();
    EXPECT_NE(r.error.find(needle), std::string::npos) << r.summary();
  }

  TempDir tmp_;
  std::shared_ptr<const SigningKey> key_;
  std::unique_ptr<TestLog> log_;
  VerifyOptions opt_;
};

TEST_F(TamperTest, UntouchedLogPasses) {
  const VerifyReport r = verify();
  ASSERT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.records, log_->size());
  EXPECT_EQ(r.segments, 3u);
  EXPECT_EQ(r.checkpoints_checked, 7u);
  EXPECT_EQ(r.notes_checked, 7u);
  EXPECT_EQ(r.uncovered, 1u);  // the final checkpoint record itself
  EXPECT_EQ(r.covered, log_->size() - 1);
  EXPECT_FALSE(r.torn_tail);
  EXPECT_EQ(r.summary().rfind("ok: ", 0), 0u);
}

TEST_F(TamperTest, FlippedPayloadByte) {
  std::string seg = readFileText(log_->segmentPath(1));
  seg[seg.size() / 2] ^= 0x04;
  writeFile(log_->segmentPath(1), seg);
  expectFailure("corrupt frame (bad crc)");
  const VerifyReport r = verify();
  EXPECT_EQ(r.error_file, "segments/" + log_->segmentPath(1).substr(log_->segmentPath(1).rfind('/') + 1));
  EXPECT_GE(r.error_offset, 32);
}

TEST_F(TamperTest, FlippedPayloadByteInTheNewestSegmentsLastFrame) {
  // The last frame of the newest segment with a bad CRC looks like a torn write: offline
  // that fails. With may_be_running it is reported; the lost frame is the final checkpoint
  // record, whose note checkpoints.note still holds, so every other record stays covered.
  std::string seg = readFileText(log_->segmentPath(2));
  seg[seg.size() - 3] ^= 0x04;
  writeFile(log_->segmentPath(2), seg);
  expectFailure("torn tail (bad crc");
  opt_.may_be_running = true;
  const VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_TRUE(r.torn_tail);
  EXPECT_EQ(r.records, log_->size() - 1);
  EXPECT_EQ(r.uncovered, 0u);
  // A frame before the last one: corruption even while running.
  seg = readFileText(log_->segmentPath(2));
  seg[seg.size() - 3] ^= 0x04;
  seg[40] ^= 0x04;
  writeFile(log_->segmentPath(2), seg);
  expectFailure("corrupt frame (bad crc)");
}

TEST_F(TamperTest, FlippedFrameHeaderByte) {
  std::string seg = readFileText(log_->segmentPath(0));
  seg[32 + 1] ^= 0x01;  // the first frame's length
  writeFile(log_->segmentPath(0), seg);
  expectFailure("corrupt frame");
  seg = readFileText(log_->segmentPath(0));
  seg[32 + 1] ^= 0x01;
  seg[32 + 5] ^= 0x01;  // the first frame's CRC
  writeFile(log_->segmentPath(0), seg);
  expectFailure("corrupt frame (bad crc)");
}

TEST_F(TamperTest, FlippedSegmentHeaderByte) {
  std::string seg = readFileText(log_->segmentPath(1));
  seg[10] ^= 0x01;  // first seq
  writeFile(log_->segmentPath(1), seg);
  expectFailure("segment header: bad crc");
}

TEST_F(TamperTest, SegmentHeaderRewrittenWithAnotherFirstSeq) {
  auto payloads = payloadsOf(log_->segmentPath(1));
  TestLog::writeSegment(log_->segmentPath(1), firstSeqOf(log_->segmentPath(1)) + 1, payloads);
  expectFailure("segment header says first seq");
}

TEST_F(TamperTest, DeletedRecordReframed) {
  auto payloads = payloadsOf(log_->segmentPath(1));
  const uint64_t first = firstSeqOf(log_->segmentPath(1));
  payloads.erase(payloads.begin() + 3);
  TestLog::writeSegment(log_->segmentPath(1), first, payloads);
  expectFailure("record says seq");
  EXPECT_EQ(verify().error_seq, static_cast<int64_t>(first + 3));
}

TEST_F(TamperTest, DeletedRecordReframedAndRenumbered) {
  // The forger also fixes every later seq (and the next segment's name and header).
  auto p1 = payloadsOf(log_->segmentPath(1));
  auto p2 = payloadsOf(log_->segmentPath(2));
  const uint64_t first1 = firstSeqOf(log_->segmentPath(1));
  const uint64_t first2 = firstSeqOf(log_->segmentPath(2));
  p1.erase(p1.begin() + 3);
  for (size_t i = 3; i < p1.size(); ++i) p1[i] = withSeq(p1[i], first1 + i);
  for (size_t i = 0; i < p2.size(); ++i) p2[i] = withSeq(p2[i], first2 - 1 + i);
  TestLog::writeSegment(log_->segmentPath(1), first1, p1);
  unlink(log_->segmentPath(2).c_str());
  TestLog::writeSegment(log_->dir() + "/" + segmentFileName(first2 - 1), first2 - 1, p2);
  // The first checkpoint after the gap names its own size: it no longer fits.
  expectFailure("is not at its own position");
}

TEST_F(TamperTest, SwappedRecords) {
  auto payloads = payloadsOf(log_->segmentPath(0));
  std::swap(payloads[3], payloads[4]);
  TestLog::writeSegment(log_->segmentPath(0), 0, payloads);
  expectFailure("record says seq 4 at position 3");
  // Swapped with their seq fields swapped back: the tree differs.
  payloads[3] = withSeq(payloads[3], 3);
  payloads[4] = withSeq(payloads[4], 4);
  TestLog::writeSegment(log_->segmentPath(0), 0, payloads);
  expectFailure("checkpoint root differs");
}

TEST_F(TamperTest, InsertedForgedRecord) {
  auto payloads = payloadsOf(log_->segmentPath(0));
  std::string forged = payloads[4];
  forged.replace(forged.find("\"request_id\":\"r\""), 16, "\"request_id\":\"x\"");
  payloads.insert(payloads.begin() + 4, forged);
  TestLog::writeSegment(log_->segmentPath(0), 0, payloads);
  expectFailure("record says seq");
}

TEST_F(TamperTest, ChangedRecordReframed) {
  auto payloads = payloadsOf(log_->segmentPath(0));
  payloads[4].replace(payloads[4].find("\"request_id\":\"r\""), 16, "\"request_id\":\"x\"");
  TestLog::writeSegment(log_->segmentPath(0), 0, payloads);
  expectFailure("checkpoint root differs");
  EXPECT_EQ(verify().error_seq, 9);  // the first checkpoint after it
}

TEST_F(TamperTest, RecordsAfterTheLastCheckpointChanged) {
  // Only the notes saved elsewhere can catch changes after the last checkpoint in the log:
  // here a record is dropped from the end together with the final checkpoint.
  const std::string saved = tmp_.path() + "/shipped.note";
  writeFile(saved, log_->notes());
  opt_.against_file = saved;
  ASSERT_TRUE(verify().ok) << verify().summary();
  auto payloads = payloadsOf(log_->segmentPath(2));
  payloads.resize(payloads.size() - 2);  // stop and the final checkpoint
  TestLog::writeSegment(log_->segmentPath(2), firstSeqOf(log_->segmentPath(2)), payloads);
  // checkpoints.note is cut too, consistently: only --against notices.
  std::string notes = log_->notes();
  notes.resize(notes.size() - log_->lastNote().size() - 1);
  writeFile(log_->dir() + "/checkpoints.note", notes);
  expectFailure("records removed or truncated");
  EXPECT_EQ(verify().error_file, saved);
  opt_.against_file.clear();
  EXPECT_TRUE(verify().ok);
}

TEST_F(TamperTest, TruncatedTail) {
  std::string seg = readFileText(log_->segmentPath(2));
  // At a frame boundary, removing the stop record and the final checkpoint: the last note
  // in checkpoints.note covers the stop record.
  auto payloads = payloadsOf(log_->segmentPath(2));
  payloads.resize(payloads.size() - 2);
  TestLog::writeSegment(log_->segmentPath(2), firstSeqOf(log_->segmentPath(2)), payloads);
  expectFailure("records removed or truncated");
  // Mid-frame: a torn tail, fatal offline.
  writeFile(log_->segmentPath(2), seg.substr(0, seg.size() - 10));
  expectFailure("torn tail (torn payload");
  const VerifyReport r = verify();
  EXPECT_GT(r.error_offset, 32);
}

TEST_F(TamperTest, RemovedSegment) {
  unlink(log_->segmentPath(1).c_str());
  expectFailure("a gap between segments");
}

TEST_F(TamperTest, RemovedNewestSegment) {
  unlink(log_->segmentPath(2).c_str());
  expectFailure("records removed or truncated");
}

TEST_F(TamperTest, SplicedRecordFromAnotherLog) {
  // Another log with the same key, the same shape and a different content.
  TestLog other(tmp_.path() + "/other", key_, "other");
  build(other);
  other.write();
  auto mine = payloadsOf(log_->segmentPath(1));
  const auto theirs = payloadsOf(other.segmentPath(1));
  ASSERT_EQ(mine.size(), theirs.size());
  mine[2] = theirs[2];  // same seq, valid CRC after re-framing
  TestLog::writeSegment(log_->segmentPath(1), firstSeqOf(log_->segmentPath(1)), mine);
  expectFailure("checkpoint root differs");
}

TEST_F(TamperTest, CheckpointsFromAnotherKey) {
  auto other_key = SigningKey::generate(tmp_.path() + "/other.pem", "stepgate-audit");
  ASSERT_TRUE(other_key.isOk());
  TestLog other(tmp_.path() + "/other", *other_key);
  build(other);
  writeFile(log_->dir() + "/checkpoints.note", other.notes());
  expectFailure("key id mismatch");
  EXPECT_EQ(verify().error_file, "checkpoints.note");
}

TEST_F(TamperTest, CheckpointRecordWithAForgedNote) {
  auto payloads = payloadsOf(log_->segmentPath(0));
  // The first checkpoint record: change its note's size line.
  size_t i = 0;
  while (i < payloads.size() && payloads[i].find("\"type\":\"checkpoint\"") == std::string::npos) ++i;
  ASSERT_LT(i, payloads.size());
  const size_t at = payloads[i].find("test\\n") + 6;
  payloads[i][at] = payloads[i][at] == '1' ? '2' : '1';
  TestLog::writeSegment(log_->segmentPath(0), 0, payloads);
  expectFailure("bad signature");
}

TEST_F(TamperTest, RemovedHeartbeat) {
  // An idle log: heartbeats every 60 s. Removing one (and renumbering) breaks the tree;
  // a log written without it fails the heartbeat rule.
  TestLog idle(tmp_.path() + "/idle", key_);
  idle.add("start");
  idle.request();
  for (int i = 0; i < 5; ++i) idle.checkpoint(i == 3 ? 120'000'000 + 60'000'000 : 60'000'000);
  idle.write();
  VerifyReport r = verifyLog(Env::posix(), idle.dir(), opt_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("missing heartbeat"), std::string::npos) << r.summary();
  EXPECT_EQ(r.error_seq, 5);

  TestLog fine(tmp_.path() + "/fine", key_);
  fine.add("start");
  fine.request();
  for (int i = 0; i < 5; ++i) fine.checkpoint(60'000'000);
  fine.write();
  r = verifyLog(Env::posix(), fine.dir(), opt_);
  EXPECT_TRUE(r.ok) << r.summary();
  auto payloads = payloadsOf(fine.segmentPath(0));
  payloads.erase(payloads.begin() + 4);
  for (size_t i = 4; i < payloads.size(); ++i) payloads[i] = withSeq(payloads[i], i);
  TestLog::writeSegment(fine.segmentPath(0), 0, payloads);
  r = verifyLog(Env::posix(), fine.dir(), opt_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("is not at its own position"), std::string::npos) << r.summary();
}

TEST_F(TamperTest, ForeignFileInSegments) {
  writeFile(log_->dir() + "/segments/extra.seg", "x");
  expectFailure("not a segment file name");
}

}  // namespace
}  // namespace stepgate::audit
