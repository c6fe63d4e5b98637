// Tampering with a log is detected: each way of changing, removing, reordering, inserting
// or truncating records, or of replacing checkpoints, fails verifyLog with its own message.

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "audit/segment.h"
#include "audit/verify.h"
#include "tests/unit/audit/test_util.h"

namespace stepgate::audit {
namespace {

using testutil::payloadsOf;
using testutil::readFileText;
using testutil::TestLog;
using testutil::writeFile;

// Logs under /tmp/stepgate-verify-XXXXXX.
struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("verify") {}
};

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
