#pragma once
// TokenCache: a bounded LRU cache of verified credentials, one per worker (so it takes no
// locks: only its worker's thread may use it). Keyed by the SHA-256 of the credential, so the
// cache holds no token. An entry never outlives the credential's own expiry: a hit is a
// Principal that would verify again right now, at the cost of one hash and no signature check.

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "common/time_source.h"
#include "identity/principal.h"

namespace stepgate::identity {

using Digest = std::array<uint8_t, 32>;

// SHA-256 of `credential`.
Digest digestOf(std::string_view credential) noexcept;
// The first 32 hex characters of a digest (Principal::credential_id).
std::string credentialId(const Digest& d);

using PrincipalConstSharedPtr = std::shared_ptr<const Principal>;

class TokenCache {
 public:
  // `capacity` 0 disables caching.
  explicit TokenCache(size_t capacity) : capacity_(capacity) {}
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // The cached principal for `d` if present and valid at `now` (an expired entry is dropped).
  PrincipalConstSharedPtr find(const Digest& d, SystemTime now);
  // Caches `p` until `valid_until` (taken no later than p's own expiry by the caller).
  // Evicts the least recently used entry when full.
  void insert(const Digest& d, PrincipalConstSharedPtr p, SystemTime valid_until);
  // Drops every entry (keys rotated away, config reloaded).
  void clear();
  size_t size() const { return map_.size(); }

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const noexcept {
      size_t h;
      static_assert(sizeof h <= sizeof(Digest));
      __builtin_memcpy(&h, d.data(), sizeof h);  // already uniformly distributed
      return h;
    }
  };
  struct Entry {
    PrincipalConstSharedPtr principal;
    SystemTime valid_until;
    std::list<Digest>::iterator lru;
  };
  size_t capacity_;
  std::list<Digest> lru_;  // most recent at the front
  std::unordered_map<Digest, Entry, DigestHash> map_;
};

}  // namespace stepgate::identity
