#include "audit/reader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "audit/segment.h"

namespace stepgate::audit {
namespace {

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stepgate-reader-XXXXXX";
    const char* d = mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
    ASSERT_TRUE(env_.createDir(dir_ + "/segments").isOk());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string payload(uint64_t seq) {
    return "{\"v\":1,\"type\":\"start\",\"seq\":" + std::to_string(seq) + "}";
  }
  // Writes a segment holding seq first..first+count-1; returns its bytes.
  std::string writeSegment(uint64_t first, uint64_t count) {
    std::string bytes;
    appendSegmentHeader(bytes, first, 1'700'000'000'000'000);
    for (uint64_t s = first; s < first + count; ++s)
      appendFrame(bytes, payload(s));
    writeRaw(segmentFileName(first), bytes);
    return bytes;
  }
  void writeRaw(const std::string& rel, const std::string& bytes) {
    const std::string path = dir_ + "/" + rel;
    std::filesystem::remove(path);
    auto f = env_.openAppend(path);
    ASSERT_TRUE(f.isOk());
    ASSERT_TRUE((*f)->append(bytes).isOk());
    ASSERT_TRUE((*f)->close().isOk());
  }
  std::vector<uint64_t> read(uint64_t from, uint64_t to, uint64_t limit, Status* status) {
    std::vector<uint64_t> seqs;
    auto reader = LogReader::open(env_, dir_);
    EXPECT_TRUE(reader.isOk());
    if (!reader.isOk())
      return seqs;
    *status = reader->forEach(from, to, limit, [&](uint64_t seq, std::string_view p) {
      EXPECT_EQ(p, payload(seq));
      seqs.push_back(seq);
      return true;
    });
    return seqs;
  }
  static std::vector<uint64_t> range(uint64_t a, uint64_t b) {
    std::vector<uint64_t> v;
    for (uint64_t s = a; s < b; ++s)
      v.push_back(s);
    return v;
  }

  Env& env_ = Env::posix();
  std::string dir_;
};

TEST_F(ReaderTest, ReadsAcrossSegmentsWithinRangeAndLimit) {
  writeSegment(0, 5);
  writeSegment(5, 4);
  writeSegment(9, 3);
  writeRaw("segments/notes.txt", "not a segment");
  Status s;
  EXPECT_EQ(read(0, LogReader::kNoLimit, LogReader::kNoLimit, &s), range(0, 12));
  EXPECT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(read(3, 10, LogReader::kNoLimit, &s), range(3, 10));
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(read(6, LogReader::kNoLimit, 8, &s), range(6, 8));  // the durable limit
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(read(11, 11, LogReader::kNoLimit, &s), range(0, 0));
  EXPECT_EQ(read(20, LogReader::kNoLimit, LogReader::kNoLimit, &s), range(0, 0));
  EXPECT_TRUE(s.isOk());
}

TEST_F(ReaderTest, VisitorCanStop) {
  writeSegment(0, 10);
  auto reader = LogReader::open(env_, dir_);
  ASSERT_TRUE(reader.isOk());
  EXPECT_EQ(reader->segmentFirstSeqs(), std::vector<uint64_t>{0});
  int calls = 0;
  ASSERT_TRUE(reader
                  ->forEach(0, LogReader::kNoLimit, LogReader::kNoLimit,
                            [&](uint64_t, std::string_view) { return ++calls < 3; })
                  .isOk());
  EXPECT_EQ(calls, 3);
}

TEST_F(ReaderTest, TornTailOfTheNewestSegmentEndsTheLog) {
  writeSegment(0, 3);
  std::string bytes = writeSegment(3, 3);
  bytes.resize(bytes.size() - 4);
  writeRaw(segmentFileName(3), bytes);
  Status s;
  EXPECT_EQ(read(0, LogReader::kNoLimit, LogReader::kNoLimit, &s), range(0, 5));
  EXPECT_TRUE(s.isOk()) << s.toString();
}

TEST_F(ReaderTest, DamageInAnOlderSegmentIsDataLoss) {
  std::string bytes = writeSegment(0, 3);
  writeSegment(3, 3);
  bytes[bytes.size() - 2] ^= 0x20;  // inside the last payload: bad crc
  writeRaw(segmentFileName(0), bytes);
  Status s;
  read(0, LogReader::kNoLimit, LogReader::kNoLimit, &s);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("bad crc"), std::string::npos) << s.message();
}

TEST_F(ReaderTest, GapBetweenSegmentsIsDataLoss) {
  writeSegment(0, 3);
  writeSegment(4, 3);  // seq 3 is missing
  Status s;
  read(0, LogReader::kNoLimit, LogReader::kNoLimit, &s);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("next segment starts at 4"), std::string::npos) << s.message();
}

TEST_F(ReaderTest, HeaderDisagreeingWithTheNameIsDataLoss) {
  std::string bytes;
  appendSegmentHeader(bytes, 7, 0);
  appendFrame(bytes, payload(0));
  writeRaw(segmentFileName(0), bytes);
  Status s;
  read(0, LogReader::kNoLimit, LogReader::kNoLimit, &s);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

TEST(ReaderOpenTest, MissingDirectoryIsNotFound) {
  auto reader = LogReader::open(Env::posix(), "/nonexistent-stepgate-audit-dir");
  ASSERT_FALSE(reader.isOk());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace stepgate::audit
