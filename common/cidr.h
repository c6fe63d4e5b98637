#pragma once
// Cidr: an IPv4 or IPv6 network (address/prefix), parsed without DNS. A plain value type.

#include <cstdint>
#include <string_view>

#include "common/net_address.h"
#include "common/status.h"

namespace stepgate {

struct Cidr {
  int family = 0;               // AF_INET or AF_INET6
  uint8_t bytes[16] = {0};      // network address, host bits zero
  uint8_t prefix = 0;

  // True iff `addr` (v4 or v6; v4-mapped v6 matches v4 networks) is inside the network.
  bool contains(const SocketAddress& addr) const noexcept;
};

// Parses "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
[[nodiscard]] StatusOr<Cidr> parseCidr(std::string_view text);

}  // namespace stepgate
