#include "audit/segment.h"

#include <gtest/gtest.h>

#include <string>

namespace stepgate::audit {
namespace {

TEST(Crc32cTest, KnownValues) {
  // RFC 3720 appendix B.4 and the common check value.
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32cTest, ExtendsAcrossSplits) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  const uint32_t whole = crc32c(data);
  for (size_t split = 0; split <= data.size(); split += 37) {
    const std::string_view v(data);
    EXPECT_EQ(crc32c(v.substr(split), crc32c(v.substr(0, split))), whole) << split;
  }
}

TEST(SegmentNameTest, RoundTripsAndRejects) {
  EXPECT_EQ(segmentFileName(0), "segments/00000000000000000000.seg");
  EXPECT_EQ(segmentFileName(52311), "segments/00000000000000052311.seg");
  uint64_t seq = 1;
  EXPECT_TRUE(parseSegmentFileName("00000000000000052311.seg", seq));
  EXPECT_EQ(seq, 52311u);
  EXPECT_TRUE(parseSegmentFileName("segments/18446744073709551615.seg", seq));
  EXPECT_EQ(seq, UINT64_MAX);
  EXPECT_FALSE(parseSegmentFileName("18446744073709551616.seg", seq));  // beyond uint64
  EXPECT_FALSE(parseSegmentFileName("0000000000000005231.seg", seq));
  EXPECT_FALSE(parseSegmentFileName("0000000000000005231x.seg", seq));
  EXPECT_FALSE(parseSegmentFileName("00000000000000052311.seg.tmp", seq));
  EXPECT_FALSE(parseSegmentFileName("00000000000000052311.log", seq));
  EXPECT_FALSE(parseSegmentFileName("", seq));
}

std::string segmentWith(std::initializer_list<std::string_view> payloads, uint64_t first = 7) {
  std::string s;
  appendSegmentHeader(s, first, 1700000000123456);
  for (auto p : payloads) appendFrame(s, p);
  return s;
}

TEST(SegmentTest, HeaderLayout) {
  std::string s;
  appendSegmentHeader(s, 0x0102030405060708ull, -2);
  ASSERT_EQ(s.size(), kSegmentHeaderBytes);
  EXPECT_EQ(s.substr(0, 8), "SGAUDIT1");
  EXPECT_EQ(s.substr(8, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  EXPECT_EQ(s.substr(16, 8), std::string("\xFE\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 8));
  const uint32_t crc = crc32c(std::string_view(s).substr(0, 24));
  EXPECT_EQ(static_cast<uint8_t>(s[24]), crc & 0xFFu);
  EXPECT_EQ(static_cast<uint8_t>(s[27]), crc >> 24);
  EXPECT_EQ(s.substr(28), std::string(4, '\0'));
  auto scan = scanSegment(s);
  ASSERT_TRUE(scan.isOk());
  EXPECT_EQ(scan->header.first_seq, 0x0102030405060708ull);
  EXPECT_EQ(scan->header.created_unix_us, -2);
  EXPECT_TRUE(scan->frames.empty());
  EXPECT_EQ(scan->good_bytes, 32u);
  EXPECT_EQ(scan->stop_reason, "");
}

TEST(SegmentTest, FrameLayoutAndScan) {
  const std::string s = segmentWith({"{\"a\":1}", "x", std::string(1000, 'y')});
  std::string frame;
  appendFrame(frame, "{\"a\":1}");
  ASSERT_EQ(frame.size(), 8u + 7u);
  EXPECT_EQ(frame.substr(0, 4), std::string("\x07\0\0\0", 4));
  auto scan = scanSegment(s);
  ASSERT_TRUE(scan.isOk());
  EXPECT_EQ(scan->header.first_seq, 7u);
  EXPECT_EQ(scan->header.created_unix_us, 1700000000123456);
  ASSERT_EQ(scan->frames.size(), 3u);
  EXPECT_EQ(scan->frames[0].offset, 32u);
  EXPECT_EQ(scan->frames[0].payload, "{\"a\":1}");
  EXPECT_EQ(scan->frames[1].offset, 32u + 15u);
  EXPECT_EQ(scan->frames[1].payload, "x");
  EXPECT_EQ(scan->frames[2].payload, std::string(1000, 'y'));
  EXPECT_EQ(scan->good_bytes, s.size());
  EXPECT_EQ(scan->stop_reason, "");
}

TEST(SegmentTest, BadHeaderIsDataLoss) {
  const std::string good = segmentWith({"a"});
  EXPECT_EQ(scanSegment("").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(scanSegment(good.substr(0, 31)).status().code(), StatusCode::kDataLoss);
  for (size_t i = 0; i < kSegmentHeaderBytes; ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_EQ(scanSegment(bad).status().code(), StatusCode::kDataLoss) << i;
  }
}

TEST(SegmentTest, EveryTruncationStopsAtTheLastGoodFrame) {
  const std::string s = segmentWith({"first", "second-record", "third"});
  const uint64_t ends[] = {32, 32 + 13, 32 + 13 + 21, s.size()};
  for (size_t cut = 32; cut <= s.size(); ++cut) {
    auto scan = scanSegment(std::string_view(s).substr(0, cut));
    ASSERT_TRUE(scan.isOk());
    uint64_t expect_good = 32;
    size_t expect_frames = 0;
    for (size_t k = 1; k < 4; ++k) {
      if (ends[k] <= cut) {
        expect_good = ends[k];
        expect_frames = k;
      }
    }
    EXPECT_EQ(scan->good_bytes, expect_good) << cut;
    EXPECT_EQ(scan->frames.size(), expect_frames) << cut;
    if (cut == expect_good) {
      EXPECT_EQ(scan->stop_reason, "") << cut;
    } else if (cut - expect_good < kFrameHeaderBytes) {
      EXPECT_EQ(scan->stop_reason, "torn frame header") << cut;
    } else {
      EXPECT_EQ(scan->stop_reason, "torn payload") << cut;
    }
  }
}

TEST(SegmentTest, CorruptionStops) {
  const std::string s = segmentWith({"first", "second-record", "third"});
  std::string bad_payload = s;
  bad_payload[32 + 13 + 8 + 2] ^= 0x20;  // a byte of "second-record"
  auto scan = scanSegment(bad_payload);
  ASSERT_TRUE(scan.isOk());
  EXPECT_EQ(scan->frames.size(), 1u);
  EXPECT_EQ(scan->good_bytes, 32u + 13u);
  EXPECT_EQ(scan->stop_reason, "bad crc");

  std::string bad_crc = s;
  bad_crc[32 + 13 + 4] ^= 0x01;
  scan = scanSegment(bad_crc);
  ASSERT_TRUE(scan.isOk());
  EXPECT_EQ(scan->stop_reason, "bad crc");

  std::string zero_len = s;
  zero_len.replace(32 + 13, 4, std::string(4, '\0'));
  scan = scanSegment(zero_len);
  ASSERT_TRUE(scan.isOk());
  EXPECT_EQ(scan->stop_reason, "bad length");
  EXPECT_EQ(scan->good_bytes, 32u + 13u);

  std::string huge = s;
  huge.replace(32, 4, std::string("\x01\x00\x10\x00", 4));  // 1 MiB + 1
  scan = scanSegment(huge);
  ASSERT_TRUE(scan.isOk());
  EXPECT_EQ(scan->stop_reason, "bad length");
  EXPECT_TRUE(scan->frames.empty());
}

TEST(SegmentTest, MaximumPayloadIsAccepted) {
  const std::string big(kMaxPayloadBytes, 'z');
  const std::string s = segmentWith({big});
  auto scan = scanSegment(s);
  ASSERT_TRUE(scan.isOk());
  ASSERT_EQ(scan->frames.size(), 1u);
  EXPECT_EQ(scan->frames[0].payload.size(), kMaxPayloadBytes);
}

}  // namespace
}  // namespace stepgate::audit
