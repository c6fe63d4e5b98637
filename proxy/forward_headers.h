#pragma once
// Builds the heads stepgate sends: the request head to the upstream and the response head to
// the client. Pure functions over parsed heads; they append to a caller-owned string whose
// capacity is reused (no other allocation). Thread-safe.
//
// Towards the upstream (docs/security.md, "What the upstream receives"):
//  - the request line carries the normalised path (the one the policy saw) and the query;
//  - hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
//    Transfer-Encoding, Upgrade, Proxy-Authorization, Proxy-Authenticate) and every field
//    named in Connection are removed; so are Host, Content-Length, Expect, Forwarded,
//    X-Forwarded-*, X-Real-IP, Via, X-Request-Id (re-set below) and every X-Stepgate-* field
//    (identity headers only stepgate may set);
//  - Host is the upstream's; X-Forwarded-Host/-Proto/-For, X-Request-Id and Via are set;
//    X-Forwarded-For is extended rather than replaced only when the peer is a trusted proxy;
//  - framing is stepgate's: Content-Length, or Transfer-Encoding: chunked (re-chunked).

#include <optional>
#include <string>
#include <string_view>

#include "proxy/http1/parser.h"

namespace stepgate::proxy {

struct ForwardContext {
  std::string_view path;           // normalised
  std::string_view upstream_host;  // "host:port" as the upstream expects in Host
  std::string_view client_ip;
  bool client_tls = false;
  bool peer_is_trusted_proxy = false;
  std::string_view request_id;
  std::string_view via;  // pseudonym for Via, e.g. "stepgate"
  // The body was read whole (to classify it): sent with this Content-Length, whatever the
  // client's framing was.
  std::optional<uint64_t> body_length;
  // Step Functions: the caller's AWS signature fields (Authorization, X-Amz-Date,
  // X-Amz-Security-Token, X-Amz-Content-Sha256) are dropped; `extra_headers` (complete
  // "Name: value\r\n" lines, stepgate's own signature) are added.
  bool strip_aws_signature = false;
  // A header stepgate sets itself (the identity assertion's): inbound copies are dropped.
  std::string_view strip_header;
  std::string_view extra_headers;
};

// Authorization, X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256 (any case).
bool isAwsSignatureHeader(std::string_view name) noexcept;

// Appends the upstream request head, ending with the blank line.
void appendUpstreamRequestHead(const http1::RequestHead& req, const ForwardContext& ctx,
                               std::string& out);

enum class ResponseFraming : unsigned char { kNone, kContentLength, kChunked, kClose };

struct ResponseOptions {
  ResponseFraming framing = ResponseFraming::kNone;  // how stepgate frames the body it streams
  bool close = false;                                // adds "Connection: close"
  bool keep_alive_10 = false;   // an HTTP/1.0 client asked for keep-alive and gets it
  bool head_request = false;    // the response answers a HEAD request
  std::string_view request_id;  // sent as X-Request-Id
};

// Appends the client response head. The upstream's hop-by-hop fields are removed. A response
// without a body keeps the upstream's Content-Length when it describes the representation
// (HEAD, 304) and gets "Content-Length: 0" otherwise (except 1xx and 204), so the client
// never waits for a body that will not come.
void appendClientResponseHead(const http1::ResponseHead& resp, const ResponseOptions& opts,
                              std::string& out);

// True iff `name` is removed from requests by appendUpstreamRequestHead regardless of
// Connection (exposed for tests).
bool isStrippedRequestHeader(std::string_view name) noexcept;

}  // namespace stepgate::proxy
