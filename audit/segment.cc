#include "audit/segment.h"

#include <array>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace stepgate::audit {

namespace {

// Table for the reflected Castagnoli polynomial 0x82F63B78, eight slices (slicing-by-8).
struct Crc32cTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr Crc32cTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
    }
  }
};
constexpr Crc32cTables kTables;

uint32_t load32(const unsigned char* p) noexcept {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint64_t load64(const unsigned char* p) noexcept {
  return static_cast<uint64_t>(load32(p)) | static_cast<uint64_t>(load32(p + 4)) << 32;
}

// `c` is the running (inverted) state.
uint32_t crcSoftware(const unsigned char* p, size_t n, uint32_t c) noexcept {
  const auto& t = kTables.t;
  while (n >= 8) {
    const uint32_t lo = load32(p) ^ c;
    const uint32_t hi = load32(p + 4);
    c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crcHardware(const unsigned char* p, size_t n,
                                                         uint32_t c) noexcept {
  uint64_t c64 = c;
  while (n >= 8) {
    c64 = _mm_crc32_u64(c64, load64(p));
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

void put32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}
void put64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (kHaveSse42) return ~crcHardware(p, data.size(), c);
#endif
  return ~crcSoftware(p, data.size(), c);
}

std::string segmentFileName(uint64_t first_seq) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "segments/%020llu.seg", static_cast<unsigned long long>(first_seq));
  return buf;
}

bool parseSegmentFileName(std::string_view name, uint64_t& first_seq) noexcept {
  // Accepts the bare name and the "segments/" relative path.
  constexpr std::string_view kDir = "segments/";
  if (name.substr(0, kDir.size()) == kDir) name.remove_prefix(kDir.size());
  constexpr std::string_view kExt = ".seg";
  if (name.size() != 20 + kExt.size() || name.substr(20) != kExt) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;  // beyond uint64
    v = v * 10 + d;
  }
  first_seq = v;
  return true;
}

void appendSegmentHeader(std::string& out, uint64_t first_seq, int64_t created_unix_us) {
  const size_t start = out.size();
  out.append(kSegmentMagic);
  put64(out, first_seq);
  put64(out, static_cast<uint64_t>(created_unix_us));
  const uint32_t crc = crc32c(std::string_view(out).substr(start, 24));
  put32(out, crc);
  put32(out, 0);
}

void appendFrame(std::string& out, std::string_view payload) {
  put32(out, static_cast<uint32_t>(payload.size()));
  put32(out, crc32c(payload));
  out.append(payload);
}

StatusOr<SegmentScan> scanSegment(std::string_view bytes) {
  if (bytes.size() < kSegmentHeaderBytes) {
    return dataLoss("segment header: " + std::to_string(bytes.size()) + " bytes, want 32");
  }
  const auto* h = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.substr(0, 8) != kSegmentMagic) return dataLoss("segment header: bad magic");
  if (load32(h + 24) != crc32c(bytes.substr(0, 24))) return dataLoss("segment header: bad crc");
  if (load32(h + 28) != 0) return dataLoss("segment header: reserved field not zero");
  SegmentScan scan;
  scan.header.first_seq = load64(h + 8);
  scan.header.created_unix_us = static_cast<int64_t>(load64(h + 16));
  size_t pos = kSegmentHeaderBytes;
  while (pos < bytes.size()) {
    const size_t left = bytes.size() - pos;
    if (left < kFrameHeaderBytes) {
      scan.stop_reason = "torn frame header";
      break;
    }
    const auto* f = h + pos;
    const uint32_t len = load32(f);
    const uint32_t crc = load32(f + 4);
    if (len == 0 || len > kMaxPayloadBytes) {
      scan.stop_reason = "bad length";
      break;
    }
    if (left - kFrameHeaderBytes < len) {
      scan.stop_reason = "torn payload";
      break;
    }
    const std::string_view payload = bytes.substr(pos + kFrameHeaderBytes, len);
    if (crc32c(payload) != crc) {
      scan.stop_reason = "bad crc";
      break;
    }
    scan.frames.push_back(Frame{pos, payload});
    pos += kFrameHeaderBytes + len;
  }
  scan.good_bytes = pos;
  return scan;
}

}  // namespace stepgate::audit
