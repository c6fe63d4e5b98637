#include "audit/merkle.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "audit/encoding.h"
#include "common/c_ptr.h"

namespace stepgate::audit {

namespace {

// One digest context per thread, reused: hashing a leaf allocates nothing.
Hash sha256Parts(std::string_view a, std::string_view b, std::string_view c) {
  static const EVP_MD* const md = EVP_sha256();
  thread_local CPtr<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  Hash out{};
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), c.data(), c.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    std::abort();  // SHA-256 cannot fail short of memory exhaustion; a wrong hash is worse
  }
  return out;
}

std::string_view view(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

// The largest power of two strictly smaller than n. REQUIRES: n >= 2.
uint64_t splitPoint(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// MTH over leaves[begin, begin+n), n >= 1: folds full subtrees from the left like a
// CompactRange so memory stays O(log n).
Hash rootRange(const std::vector<Hash>& leaves, uint64_t begin, uint64_t n) {
  CompactRange r;
  for (uint64_t i = 0; i < n; ++i) r.append(leaves[begin + i]);
  return r.root();
}

void pathRange(const std::vector<Hash>& leaves, uint64_t m, uint64_t begin, uint64_t n,
               std::vector<Hash>& out) {
  // RFC 6962 section 2.1.1: PATH(m, D[n]), appended bottom-up.
  if (n <= 1) return;
  const uint64_t k = splitPoint(n);
  if (m < k) {
    pathRange(leaves, m, begin, k, out);
    out.push_back(rootRange(leaves, begin + k, n - k));
  } else {
    pathRange(leaves, m - k, begin + k, n - k, out);
    out.push_back(rootRange(leaves, begin, k));
  }
}

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Hash leafHash(std::string_view payload) {
  static constexpr char kZero = 0x00;
  return sha256Parts(std::string_view(&kZero, 1), payload, {});
}

Hash nodeHash(const Hash& left, const Hash& right) {
  static constexpr char kOne = 0x01;
  return sha256Parts(std::string_view(&kOne, 1), view(left), view(right));
}

Hash emptyRoot() { return sha256Parts({}, {}, {}); }

void CompactRange::append(const Hash& leaf) {
  // Each trailing one bit of size_ is a full subtree that merges with the new one.
  Hash h = leaf;
  uint64_t s = size_;
  while ((s & 1u) != 0) {
    h = nodeHash(nodes_.back(), h);
    nodes_.pop_back();
    s >>= 1;
  }
  nodes_.push_back(h);
  ++size_;
}

Hash CompactRange::root() const {
  if (nodes_.empty()) return emptyRoot();
  Hash h = nodes_.back();
  for (size_t i = nodes_.size() - 1; i-- > 0;) h = nodeHash(nodes_[i], h);
  return h;
}

Hash rootOf(const std::vector<Hash>& leaves) {
  if (leaves.empty()) return emptyRoot();
  return rootRange(leaves, 0, leaves.size());
}

std::vector<Hash> inclusionProof(const std::vector<Hash>& leaves, uint64_t index, uint64_t size) {
  std::vector<Hash> out;
  if (index >= size || size > leaves.size()) return out;
  pathRange(leaves, index, 0, size, out);
  return out;
}

bool verifyInclusion(const Hash& leaf, uint64_t index, uint64_t size,
                     const std::vector<Hash>& proof, const Hash& root) {
  // RFC 9162 section 2.1.3.2.
  if (index >= size) return false;
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1u) != 0 || fn == sn) {
      r = nodeHash(p, r);
      if ((fn & 1u) == 0) {
        while ((fn & 1u) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

std::string toHex(const Hash& h) {
  std::string out;
  appendHex(out, view(h));
  return out;
}

std::string toBase64(const Hash& h) { return base64Encode(view(h)); }

bool fromBase64(std::string_view text, Hash& out) {
  // Standard, padded base64 in canonical form of exactly 32 bytes (44 characters).
  std::string bytes;
  if (!base64Decode(text, bytes) || bytes.size() != out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(bytes[i]);
  return true;
}

bool fromHex(std::string_view text, Hash& out) {
  if (text.size() != 64) return false;
  Hash h{};
  for (size_t i = 0; i < 32; ++i) {
    const int hi = hexValue(text[2 * i]);
    const int lo = hexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  out = h;
  return true;
}

}  // namespace stepgate::audit
