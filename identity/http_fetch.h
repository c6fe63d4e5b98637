#pragma once
// Fetcher: the blocking HTTP client of the identity control plane (OIDC discovery, JWKS,
// later token introspection). HttpFetcher implements it over cpp-httplib; tests implement
// Fetcher with scripted answers. Calls block for up to the request's timeout, so they belong
// on a control thread only, never on a worker. One Fetcher may be used by one thread at a
// time (HttpFetcher keeps no state between calls, but fakes may).
//
// Rules every HttpFetcher request follows:
//  - https always verifies the server's certificate chain and host name, against
//    FetchOptions::ca_file or else the system trust store;
//  - plain http is allowed only to loopback: a literal 127.0.0.0/8 or [::1] address, or
//    `localhost`, which is then connected to 127.0.0.1 without asking DNS;
//  - redirects are not followed; a URL with user info or a fragment is refused;
//  - the response body is capped at FetchOptions::max_body_bytes;
//  - bodies, query strings, form fields and headers are never logged or put into errors.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace stepgate::identity {

// A URL stepgate may fetch from, split into the parts cpp-httplib needs.
struct FetchUrl {
  bool https = false;
  std::string host;     // without brackets for IPv6 literals
  uint16_t port = 0;    // explicit or the scheme's default
  std::string target;   // path and query, at least "/"
  std::string path;     // the path alone (at least "/"), for error messages

  // "https://host:port/path" without the query; safe for logs.
  std::string redacted() const;
};

// Parses an absolute http(s) URL and applies the scheme rules above (https, or http to
// loopback). Scheme and host are case-insensitive; the host is lowercased.
[[nodiscard]] StatusOr<FetchUrl> parseFetchUrl(std::string_view url);

// True iff `host` is a literal loopback address: 127.0.0.0/8 or ::1 (no brackets).
bool isLoopbackLiteral(std::string_view host) noexcept;

// The freshness lifetime a Cache-Control header value grants: max-age=N (case-insensitive,
// N decimal, capped at ten years), or 0 for no-store / no-cache. nullopt when absent or
// unparseable.
std::optional<std::chrono::seconds> parseCacheControlMaxAge(std::string_view value) noexcept;

struct FetchOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // connect, and the whole read
  std::string ca_file;          // PEM bundle; empty: the system trust store
  size_t max_body_bytes = 1u << 20;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::optional<std::chrono::seconds> max_age;  // from Cache-Control, when present
};

using FormFields = std::vector<std::pair<std::string, std::string>>;
using RequestHeaders = std::vector<std::pair<std::string, std::string>>;

class Fetcher {
 public:
  virtual ~Fetcher() = default;

  /**
   * GETs `url` and returns whatever status the server answered (3xx, 4xx, 5xx included).
   * Blocks for at most about options.timeout (connect, then the response).
   * @return the response, or Unavailable (connect, TLS, timeout, oversize body) or
   *         InvalidArgument (a URL the rules above refuse).
   */
  [[nodiscard]] virtual StatusOr<HttpResponse> get(const std::string& url,
                                                   const FetchOptions& options) = 0;

  /**
   * POSTs `form` as application/x-www-form-urlencoded with `headers` (e.g. Authorization
   * for client authentication; never logged). Same rules and results as get().
   */
  [[nodiscard]] virtual StatusOr<HttpResponse> postForm(const std::string& url,
                                                        const FormFields& form,
                                                        const RequestHeaders& headers,
                                                        const FetchOptions& options) = 0;
};

// application/x-www-form-urlencoded encoding of `form` (space as '+', unreserved bytes kept).
std::string encodeForm(const FormFields& form);

// Fetcher over cpp-httplib. Stateless: every call opens and closes its own connection.
class HttpFetcher final : public Fetcher {
 public:
  // Fetcher
  [[nodiscard]] StatusOr<HttpResponse> get(const std::string& url,
                                           const FetchOptions& options) override;
  [[nodiscard]] StatusOr<HttpResponse> postForm(const std::string& url,
                                                const FormFields& form,
                                                const RequestHeaders& headers,
                                                const FetchOptions& options) override;
};

}  // namespace stepgate::identity
