#include "identity/http_fetch.h"
#include "common/ascii.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>

namespace stepgate::identity {
namespace {

constexpr int64_t kMaxAgeCapSeconds = 10LL * 365 * 24 * 3600;

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = lower(c);
  }
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool isHostChar(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_';
}

std::string_view errorName(httplib::Error e) {
  switch (e) {
    case httplib::Error::Success: return "success";
    case httplib::Error::Connection: return "connection failed";
    case httplib::Error::BindIPAddress: return "bind failed";
    case httplib::Error::Read: return "read failed or timed out";
    case httplib::Error::Write: return "write failed or timed out";
    case httplib::Error::ExceedRedirectCount: return "too many redirects";
    case httplib::Error::Canceled: return "response too large or too slow";
    case httplib::Error::SSLConnection: return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts: return "could not load CA certificates";
    case httplib::Error::SSLServerVerification: return "server certificate not trusted";
    case httplib::Error::Compression: return "bad content encoding";
    case httplib::Error::ConnectionTimeout: return "connect timed out";
    default: return "request failed";
  }
}

// One request, GET or POST, under the rules in the header.
StatusOr<HttpResponse> perform(const std::string& url, const char* method, std::string body,
                               const std::string& content_type, const RequestHeaders& headers,
                               const FetchOptions& options) {
  ASSIGN_OR_RETURN(FetchUrl u, parseFetchUrl(url));
  const std::string where = u.redacted();
  if (!options.ca_file.empty() && u.https) {
    if (FILE* f = std::fopen(options.ca_file.c_str(), "r")) {
      std::fclose(f);
    } else {
      return unavailable("cannot read ca_file " + options.ca_file + " for " + where);
    }
  }
  try {
    std::unique_ptr<httplib::ClientImpl> client;
    if (u.https) {
      auto ssl = std::make_unique<httplib::SSLClient>(u.host, u.port);
      if (!ssl->is_valid()) {
        return internalError("cannot create a TLS client for " + where);
      }
      ssl->enable_server_certificate_verification(true);
      if (!options.ca_file.empty()) {
        ssl->set_ca_cert_path(options.ca_file);
      }
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(u.host, u.port);
      if (u.host == "localhost") {
        client->set_hostname_addr_map({{"localhost", "127.0.0.1"}});  // loopback, not DNS
      }
    }
    const auto timeout = std::max(options.timeout, std::chrono::milliseconds(1));
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    client->set_follow_location(false);
    client->set_keep_alive(false);

    httplib::Request req;
    req.method = method;
    req.path = u.target;
    req.headers.emplace("Accept", "application/json");
    req.headers.emplace("Accept-Encoding", "identity");
    req.headers.emplace("User-Agent", "stepgate");
    for (const auto& [k, v] : headers) {
      req.headers.emplace(k, v);
    }
    if (!content_type.empty()) {
      req.headers.emplace("Content-Type", content_type);
      req.body = std::move(body);
    }

    // The whole response must arrive within the timeout and fit the size limit; a server
    // trickling bytes or announcing a huge body is cut off.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string received;
    bool too_large = false;
    bool too_slow = false;
    req.response_handler = [&](const httplib::Response& res) {
      if (res.has_header("Content-Length")) {
        const std::string cl = res.get_header_value("Content-Length");
        if (cl.size() > 12 || std::strtoull(cl.c_str(), nullptr, 10) > options.max_body_bytes) {
          too_large = true;
          return false;
        }
      }
      return true;
    };
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      if (received.size() + len > options.max_body_bytes) {
        too_large = true;
        return false;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        too_slow = true;
        return false;
      }
      received.append(data, len);
      return true;
    };

    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool ok = client->send(req, res, err);
    if (too_large) {
      return unavailable("response from " + where + " exceeds " +
                         std::to_string(options.max_body_bytes) + " bytes");
    }
    if (too_slow) {
      return unavailable("response from " + where + " took longer than " +
                         std::to_string(timeout.count()) + " ms");
    }
    if (!ok || err != httplib::Error::Success) {
      std::string msg = std::string(method) + " " + where + ": " + std::string(errorName(err));
      if (u.https && err == httplib::Error::SSLServerVerification) {
        const long vr = static_cast<httplib::SSLClient*>(client.get())->get_openssl_verify_result();
        msg += " (";
        msg += X509_verify_cert_error_string(vr);
        msg += ")";
      }
      return unavailable(std::move(msg));
    }
    HttpResponse out;
    out.status = res.status;
    out.body = std::move(received);
    out.content_type = res.get_header_value("Content-Type");
    const size_t n = res.get_header_value_count("Cache-Control");
    if (n > 0) {
      std::string joined;
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) {
          joined += ", ";
        }
        joined += res.get_header_value("Cache-Control", i);
      }
      out.max_age = parseCacheControlMaxAge(joined);
    }
    return out;
  } catch (const std::exception& e) {
    return internalError(std::string(method) + " " + where + ": " + e.what());
  } catch (...) {
    return internalError(std::string(method) + " " + where + ": unknown failure");
  }
}

}  // namespace

std::string FetchUrl::redacted() const {
  std::string out = https ? "https://" : "http://";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port);
  out += path;
  return out;
}

bool isLoopbackLiteral(std::string_view host) noexcept {
  char buf[64];
  if (host.empty() || host.size() >= sizeof(buf)) {
    return false;
  }
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    return std::memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
  }
  return false;
}

StatusOr<FetchUrl> parseFetchUrl(std::string_view url) {
  FetchUrl out;
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) {
    return invalidArgument("URL has no scheme");
  }
  const std::string scheme = toLower(url.substr(0, colon));
  if (scheme == "https") {
    out.https = true;
  } else if (scheme != "http") {
    return invalidArgument("URL scheme must be https (or http on loopback), got " + scheme);
  }
  std::string_view rest = url.substr(colon + 3);
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return invalidArgument("URL contains a space, control or non-ASCII character");
    }
  }
  if (rest.find('#') != std::string_view::npos) {
    return invalidArgument("URL must not have a fragment");
  }
  const size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view target =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) {
    return invalidArgument("URL must not carry user info");
  }
  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalidArgument("URL has an unterminated IPv6 literal");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return invalidArgument("URL has junk after the IPv6 literal");
      }
      port_text = after.substr(1);
    }
    in6_addr v6{};
    const std::string h(host);
    if (inet_pton(AF_INET6, h.c_str(), &v6) != 1) {
      return invalidArgument("URL has an invalid IPv6 literal");
    }
  } else {
    const size_t c = authority.rfind(':');
    host = authority.substr(0, c);
    if (c != std::string_view::npos) {
      port_text = authority.substr(c + 1);
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), isHostChar)) {
      return invalidArgument("URL has an empty or invalid host");
    }
  }
  out.host = toLower(host);
  out.port = out.https ? 443 : 80;
  if (!port_text.empty() || authority.ends_with(":")) {
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return invalidArgument("URL has an invalid port");
    }
    const unsigned long p = std::stoul(std::string(port_text));
    if (p == 0 || p > 65535) {
      return invalidArgument("URL has an invalid port");
    }
    out.port = static_cast<uint16_t>(p);
  }
  if (!out.https && out.host != "localhost" && !isLoopbackLiteral(out.host)) {
    return invalidArgument("http is allowed only to loopback (127.0.0.0/8, [::1], localhost); "
                           "use https for " + out.host);
  }
  out.target = target.empty() ? "/" : std::string(target);
  if (out.target.front() == '?') {
    out.target.insert(out.target.begin(), '/');
  }
  out.path = out.target.substr(0, out.target.find('?'));
  return out;
}

std::optional<std::chrono::seconds> parseCacheControlMaxAge(std::string_view value) noexcept {
  std::optional<std::chrono::seconds> max_age;
  bool no_cache = false;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view directive = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    const size_t eq = directive.find('=');
    const std::string_view name = trim(directive.substr(0, eq));
    if (equalsIgnoreAsciiCase(name, "no-store") || equalsIgnoreAsciiCase(name, "no-cache")) {
      no_cache = true;
      continue;
    }
    if (!equalsIgnoreAsciiCase(name, "max-age") || eq == std::string_view::npos) {
      continue;
    }
    std::string_view arg = trim(directive.substr(eq + 1));
    if (arg.size() >= 2 && arg.front() == '"' && arg.back() == '"') {
      arg = arg.substr(1, arg.size() - 2);
    }
    if (arg.empty()) {
      continue;
    }
    int64_t n = 0;
    bool digits = true;
    for (char c : arg) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      n = std::min<int64_t>(n * 10 + (c - '0'), kMaxAgeCapSeconds);
    }
    if (digits && !max_age) {  // the first valid max-age wins
      max_age = std::chrono::seconds(n);
    }
  }
  if (no_cache) {
    return std::chrono::seconds(0);
  }
  return max_age;
}

std::string encodeForm(const FormFields& form) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  auto encode = [&out](std::string_view s) {
    for (unsigned char c : s) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '.' || c == '_' || c == '*') {
        out += static_cast<char>(c);
      } else if (c == ' ') {
        out += '+';
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      }
    }
  };
  for (size_t i = 0; i < form.size(); ++i) {
    if (i > 0) {
      out += '&';
    }
    encode(form[i].first);
    out += '=';
    encode(form[i].second);
  }
  return out;
}

StatusOr<HttpResponse> HttpFetcher::get(const std::string& url, const FetchOptions& options) {
  return perform(url, "GET", std::string(), std::string(), {}, options);
}

StatusOr<HttpResponse> HttpFetcher::postForm(const std::string& url, const FormFields& form,
                                             const RequestHeaders& headers,
                                             const FetchOptions& options) {
  return perform(url, "POST", encodeForm(form), "application/x-www-form-urlencoded", headers,
                 options);
}

}  // namespace stepgate::identity
