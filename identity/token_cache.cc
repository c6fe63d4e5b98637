#include "identity/token_cache.h"

#include <openssl/sha.h>

namespace stepgate::identity {

Digest digestOf(std::string_view credential) noexcept {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(credential.data()), credential.size(), d.data());
  return d;
}

std::string credentialId(const Digest& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (size_t i = 0; i < 16; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 0xF];
  }
  return out;
}

PrincipalConstSharedPtr TokenCache::find(const Digest& d, SystemTime now) {
  auto it = map_.find(d);
  if (it == map_.end())
    return nullptr;
  if (now >= it->second.valid_until) {
    lru_.erase(it->second.lru);
    map_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.principal;
}

void TokenCache::insert(const Digest& d, PrincipalConstSharedPtr p, SystemTime valid_until) {
  if (capacity_ == 0)
    return;
  auto it = map_.find(d);
  if (it != map_.end()) {
    it->second.principal = std::move(p);
    it->second.valid_until = valid_until;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  if (map_.size() >= capacity_) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(d);
  map_.emplace(d, Entry{std::move(p), valid_until, lru_.begin()});
}

void TokenCache::clear() {
  map_.clear();
  lru_.clear();
}

}  // namespace stepgate::identity
