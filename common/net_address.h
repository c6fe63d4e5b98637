#pragma once
// SocketAddress: a literal IPv4 or IPv6 address and port, parsed without DNS.
// A plain value type; safe to copy and to read from any thread.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stepgate {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  // "127.0.0.1:8443" or "[::1]:8443".
  std::string toString() const;
  // The address alone, without port or brackets: "127.0.0.1", "::1".
  std::string ipString() const;
};

// Parses "IPv4:port", "[IPv6]:port". The port must be 0..65535 (0 only if allow_zero_port).
[[nodiscard]] StatusOr<SocketAddress> parseSocketAddress(std::string_view text,
                                                         bool allow_zero_port = false);

// Fills `out` from a connected or accepted socket's peer/local address.
SocketAddress socketAddressFrom(const sockaddr* sa, socklen_t len);

}  // namespace stepgate
