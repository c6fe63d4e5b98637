#include "audit/merkle.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

namespace stepgate::audit {
namespace {

// An independent RFC 6962 implementation straight from the definitions, for comparison.
Hash sha(const std::string& data) {
  Hash h{};
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), h.data(), &len, EVP_sha256(), nullptr), 1);
  return h;
}
std::string bytes(const Hash& h) { return std::string(h.begin(), h.end()); }

Hash mth(const std::vector<std::string>& d, size_t begin, size_t n) {
  if (n == 0) return sha("");
  if (n == 1) return sha(std::string(1, '\0') + d[begin]);
  size_t k = 1;
  while (k < n) k <<= 1;
  k >>= 1;
  return sha(std::string(1, '\1') + bytes(mth(d, begin, k)) + bytes(mth(d, begin + k, n - k)));
}

std::vector<Hash> path(const std::vector<std::string>& d, size_t m, size_t begin, size_t n) {
  if (n <= 1) return {};
  size_t k = 1;
  while (k < n) k <<= 1;
  k >>= 1;
  std::vector<Hash> out;
  if (m < k) {
    out = path(d, m, begin, k);
    out.push_back(mth(d, begin + k, n - k));
  } else {
    out = path(d, m - k, begin + k, n - k);
    out.push_back(mth(d, begin, k));
  }
  return out;
}

std::vector<std::string> data(size_t n) {
  std::vector<std::string> d;
  for (size_t i = 0; i < n; ++i) d.push_back("record-" + std::to_string(i));
  return d;
}

std::vector<Hash> leaves(const std::vector<std::string>& d) {
  std::vector<Hash> out;
  for (const auto& s : d) out.push_back(leafHash(s));
  return out;
}

TEST(MerkleTest, EmptyAndLeaf) {
  EXPECT_EQ(toHex(emptyRoot()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // SHA-256 of the single byte 0x00 (leaf of the empty string).
  EXPECT_EQ(toHex(leafHash("")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(rootOf({}), emptyRoot());
  EXPECT_EQ(CompactRange().root(), emptyRoot());
}

TEST(MerkleTest, CertificateTransparencyVector) {
  // The eight leaf inputs of the Certificate Transparency reference test vectors and their
  // published root.
  const std::vector<std::string> d = {
      std::string(""),         std::string("\x00", 1),
      std::string("\x10"),     std::string("\x20\x21"),
      std::string("\x30\x31"), std::string("\x40\x41\x42\x43"),
      std::string("\x50\x51\x52\x53\x54\x55\x56\x57"),
      std::string("\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f")};
  EXPECT_EQ(toHex(rootOf(leaves(d))),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
}

TEST(MerkleTest, RootsMatchTheDefinitionUpTo70) {
  const auto d = data(70);
  const auto l = leaves(d);
  CompactRange range;
  for (size_t n = 0; n <= d.size(); ++n) {
    const std::vector<Hash> prefix(l.begin(), l.begin() + static_cast<long>(n));
    const Hash want = mth(d, 0, n);
    EXPECT_EQ(rootOf(prefix), want) << n;
    EXPECT_EQ(range.size(), n);
    EXPECT_EQ(range.root(), want) << n;
    EXPECT_EQ(range.nodes().size(), static_cast<size_t>(__builtin_popcountll(n))) << n;
    if (n < d.size()) range.append(l[n]);
  }
}

TEST(MerkleTest, InclusionProofsForEveryIndexAndSizeUpTo64) {
  const auto d = data(64);
  const auto l = leaves(d);
  for (uint64_t size = 1; size <= 64; ++size) {
    const Hash root = mth(d, 0, size);
    for (uint64_t i = 0; i < size; ++i) {
      const auto proof = inclusionProof(l, i, size);
      ASSERT_EQ(proof, path(d, i, 0, size)) << i << "/" << size;
      EXPECT_TRUE(verifyInclusion(l[i], i, size, proof, root)) << i << "/" << size;
      // Wrong leaf, index, size, root, or a shortened/lengthened proof all fail.
      EXPECT_FALSE(verifyInclusion(leafHash("other"), i, size, proof, root));
      if (size > 1) {
        EXPECT_FALSE(verifyInclusion(l[i], (i + 1) % size, size, proof, root));
        EXPECT_FALSE(verifyInclusion(l[i], i, size, proof, mth(d, 0, size - 1)));
      }
      if (!proof.empty()) {
        auto shorter = proof;
        shorter.pop_back();
        EXPECT_FALSE(verifyInclusion(l[i], i, size, shorter, root));
        auto flipped = proof;
        flipped[0][0] ^= 1;
        EXPECT_FALSE(verifyInclusion(l[i], i, size, flipped, root));
      }
      auto longer = proof;
      longer.push_back(l[0]);
      EXPECT_FALSE(verifyInclusion(l[i], i, size, longer, root));
    }
    EXPECT_FALSE(verifyInclusion(l[0], size, size, {}, root));
  }
  EXPECT_TRUE(inclusionProof(l, 3, 3).empty());   // index out of range
  EXPECT_TRUE(inclusionProof(l, 0, 65).empty());  // size beyond the leaves
}

TEST(MerkleTest, HexAndBase64) {
  const Hash h = leafHash("x");
  Hash back{};
  ASSERT_TRUE(fromHex(toHex(h), back));
  EXPECT_EQ(back, h);
  ASSERT_TRUE(fromBase64(toBase64(h), back));
  EXPECT_EQ(back, h);
  EXPECT_EQ(toBase64(emptyRoot()), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  EXPECT_TRUE(fromHex(std::string(64, 'A'), back));
  EXPECT_FALSE(fromHex(std::string(63, 'a'), back));
  EXPECT_FALSE(fromHex(std::string(63, 'a') + "g", back));
  EXPECT_FALSE(fromBase64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", back));
  EXPECT_FALSE(fromBase64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", back));  // bits
  EXPECT_FALSE(fromBase64("47DEQpj8HBSa-_TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", back));  // url
  EXPECT_FALSE(fromBase64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF==", back));
}

}  // namespace
}  // namespace stepgate::audit
