#pragma once
// The segment file format (docs/audit.md, "Segment file format"): a 32-byte header, then
// frames of [length u32 LE][CRC-32C u32 LE][payload]. Pure functions over bytes; fuzzed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stepgate::audit {

inline constexpr size_t kSegmentHeaderBytes = 32;
inline constexpr size_t kFrameHeaderBytes = 8;
inline constexpr uint32_t kMaxPayloadBytes = 1u << 20;
inline constexpr std::string_view kSegmentMagic = "SGAUDIT1";

// CRC-32C (Castagnoli), as in iSCSI and LevelDB (unmasked).
uint32_t crc32c(std::string_view data, uint32_t crc = 0) noexcept;

// "segments/<20-digit first seq>.seg" file name for `first_seq`.
std::string segmentFileName(uint64_t first_seq);
// The first seq a segment file name encodes; false if `name` is not a segment name.
bool parseSegmentFileName(std::string_view name, uint64_t& first_seq) noexcept;

void appendSegmentHeader(std::string& out, uint64_t first_seq, int64_t created_unix_us);
void appendFrame(std::string& out, std::string_view payload);

struct SegmentHeader {
  uint64_t first_seq = 0;
  int64_t created_unix_us = 0;
};

struct Frame {
  uint64_t offset = 0;       // of the frame header in the file
  std::string_view payload;  // into the parsed bytes
};

// The result of reading a whole segment's bytes.
struct SegmentScan {
  SegmentHeader header;
  std::vector<Frame> frames;  // the good frames, in order
  // Where reading stopped: == file size when every byte was a good frame.
  uint64_t good_bytes = 0;
  // Why it stopped early ("" when it did not): "torn frame header", "torn payload",
  // "bad crc", "bad length". For the newest segment a stop at the tail is a torn tail (cut
  // by recovery); anywhere else it is corruption.
  std::string stop_reason;
};

// Parses a segment. Error (DataLoss) only when the header itself is bad.
[[nodiscard]] StatusOr<SegmentScan> scanSegment(std::string_view bytes);

}  // namespace stepgate::audit
