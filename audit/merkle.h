#pragma once
// RFC 6962 Merkle tree hashing over record payloads (docs/audit.md, "Integrity").
// Hashes are 32-byte SHA-256 values.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stepgate::audit {

using Hash = std::array<uint8_t, 32>;

Hash leafHash(std::string_view payload);           // SHA-256(0x00 || payload)
Hash nodeHash(const Hash& left, const Hash& right);  // SHA-256(0x01 || left || right)
Hash emptyRoot();                                    // SHA-256("") for the empty tree

// The tree's right edge: appending a leaf is O(log n) and the root is computable at any
// size. Copyable (the writer snapshots it for checkpoints).
class CompactRange {
 public:
  void append(const Hash& leaf);
  uint64_t size() const noexcept { return size_; }
  Hash root() const;
  // The full subtree roots, left to right (for persistence and tests).
  const std::vector<Hash>& nodes() const noexcept { return nodes_; }

 private:
  uint64_t size_ = 0;
  std::vector<Hash> nodes_;  // one per set bit of size_, largest first
};

// The root of `leaves` (RFC 6962 MTH).
Hash rootOf(const std::vector<Hash>& leaves);
// The audit path for leaf `index` in the tree of the first `size` leaves (RFC 6962 PATH).
// REQUIRES: index < size <= leaves.size().
std::vector<Hash> inclusionProof(const std::vector<Hash>& leaves, uint64_t index, uint64_t size);
// Whether `proof` proves `leaf` at `index` in a tree of `size` with `root` (RFC 9162 2.1.3.2).
bool verifyInclusion(const Hash& leaf, uint64_t index, uint64_t size,
                     const std::vector<Hash>& proof, const Hash& root);

std::string toHex(const Hash& h);
std::string toBase64(const Hash& h);
bool fromBase64(std::string_view text, Hash& out);
bool fromHex(std::string_view text, Hash& out);

}  // namespace stepgate::audit
