#include "common/net_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace stepgate {

uint16_t SocketAddress::port() const {
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::ipString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
  } else if (storage.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof buf);
  }
  return buf;
}

std::string SocketAddress::toString() const {
  std::string ip = ipString();
  std::string out = storage.ss_family == AF_INET6 ? "[" + ip + "]" : ip;
  out += ":";
  out += std::to_string(port());
  return out;
}

StatusOr<SocketAddress> parseSocketAddress(std::string_view text, bool allow_zero_port) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalidArgument("expected [IPv6]:port, got '" + std::string(text) + "'");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return invalidArgument("expected address:port, got '" + std::string(text) + "'");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return invalidArgument("IPv6 addresses need brackets: [addr]:port, got '" +
                             std::string(text) + "'");
    }
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535 || (port == 0 && !allow_zero_port)) {
    return invalidArgument("bad port in '" + std::string(text) + "'");
  }
  SocketAddress out;
  const std::string host_str(host);
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, host_str.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&out.storage, &v4, sizeof v4);
    out.length = sizeof v4;
  } else if (inet_pton(AF_INET6, host_str.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&out.storage, &v6, sizeof v6);
    out.length = sizeof v6;
  } else {
    return invalidArgument("'" + host_str + "' is not an IP address literal");
  }
  return out;
}

SocketAddress socketAddressFrom(const sockaddr* sa, socklen_t len) {
  SocketAddress out;
  if (sa != nullptr && len > 0 && len <= sizeof out.storage) {
    std::memcpy(&out.storage, sa, len);
    out.length = len;
  }
  return out;
}

}  // namespace stepgate
