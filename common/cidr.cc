#include "common/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string>

namespace stepgate {

StatusOr<Cidr> parseCidr(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  Cidr out;
  int max_prefix;
  if (inet_pton(AF_INET, addr.c_str(), out.bytes) == 1) {
    out.family = AF_INET;
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), out.bytes) == 1) {
    out.family = AF_INET6;
    max_prefix = 128;
  } else {
    return invalidArgument("'" + std::string(text) + "' is not a CIDR (e.g. 10.0.0.0/8)");
  }
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || prefix < 0 ||
        prefix > max_prefix) {
      return invalidArgument("bad prefix length in '" + std::string(text) + "'");
    }
  }
  out.prefix = static_cast<uint8_t>(prefix);
  const int nbytes = max_prefix / 8;
  for (int i = 0; i < nbytes; ++i) {
    const int bits = prefix - i * 8;
    if (bits >= 8)
      continue;
    const uint8_t mask = bits <= 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((out.bytes[i] & ~mask) != 0) {
      return invalidArgument("'" + std::string(text) + "' has host bits set");
    }
  }
  return out;
}

bool Cidr::contains(const SocketAddress& addr) const noexcept {
  const uint8_t* a = nullptr;
  int fam = addr.family();
  if (fam == AF_INET) {
    a = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&addr.storage)->sin_addr);
  } else if (fam == AF_INET6) {
    a = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in6*>(&addr.storage)->sin6_addr);
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (family == AF_INET && std::memcmp(a, kMapped, 12) == 0) {
      a += 12;
      fam = AF_INET;
    }
  } else {
    return false;
  }
  if (fam != family)
    return false;
  int bits = prefix;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((a[i] & mask) != bytes[i])
      return false;
  }
  return true;
}

}  // namespace stepgate
