#pragma once
// A minimal blocking HTTP/1.1 client over a raw loopback socket, for the control-plane
// tests. Sends one request with "Connection: close" and reads until the server closes.
// Good enough for small responses from servers under test; not a general client.
// rawExchange() is the byte level underneath: any request, the answer as it came.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <map>
#include <string>

namespace stepgate::testing {

struct RawResponse {
  int status = 0;  // 0: no response (connection failed or garbage)
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// Sends `request` as it is to 127.0.0.1:port and returns every byte that comes back until
// the server closes (bounded: 10 s without a byte); "" when the connection fails.
inline std::string rawExchange(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return "";
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) break;  // bounded wait: 10 s without a byte
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return raw;
}

inline RawResponse rawRequest(uint16_t port, const std::string& method,
                              const std::string& target, const std::string& body = "",
                              const std::string& content_type = "application/json") {
  RawResponse out;
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  req += "Connection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: " + content_type + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  const std::string raw = rawExchange(port, req);

  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) return out;
  out.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      out.headers[name] = line.substr(v);
    }
    pos = eol + 2;
  }
  out.body = raw.substr(head_end + 4);
  return out;
}

}  // namespace stepgate::testing
