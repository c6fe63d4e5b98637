#pragma once
// Private helpers of the audit log writer (audit/log.cc), exposed for its tests.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/merkle.h"
#include "common/status.h"

namespace stepgate::audit::internal {

// The right edge of an RFC 6962 tree (the roots of its perfect subtrees, largest first),
// like CompactRange, but restorable from a saved state: retention deletes the oldest
// segments, and the writer must resume the tree without their payloads.
class TreeEdge {
 public:
  void append(const Hash& leaf);
  uint64_t size() const noexcept { return size_; }
  Hash root() const;
  const std::vector<Hash>& nodes() const noexcept { return nodes_; }
  // Text form of the state file (docs/audit.md, "Writing"): "size N\n" then one hex node a
  // line.
  std::string serialize() const;
  [[nodiscard]] static StatusOr<TreeEdge> parse(std::string_view text);

 private:
  uint64_t size_ = 0;
  std::vector<Hash> nodes_;  // one per set bit of size_, largest subtree first
};

// UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, version 7, variant 0b10, the other 74
// bits from a ChaCha20 keystream keyed once from RAND_bytes. One per writer thread.
class UuidV7Generator {
 public:
  UuidV7Generator();
  ~UuidV7Generator();
  UuidV7Generator(const UuidV7Generator&) = delete;
  UuidV7Generator& operator=(const UuidV7Generator&) = delete;
  // Appends the 36-character lowercase text form.
  void append(std::string& out, uint64_t unix_ms);
  bool ok() const noexcept { return ctx_ != nullptr; }

 private:
  void refill();
  void* ctx_ = nullptr;  // EVP_CIPHER_CTX
  static constexpr size_t kPoolBytes = 4096;
  unsigned char pool_[kPoolBytes];
  size_t used_ = kPoolBytes;
};

// "2024-05-01T12:00:00.123456Z" for Unix microseconds.
void appendRfc3339Micros(std::string& out, int64_t unix_us);
// Standard base64 with padding.
std::string base64(std::string_view bytes);

}  // namespace stepgate::audit::internal
