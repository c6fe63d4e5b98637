#include "proxy/forward_headers.h"

#include "common/json_writer.h"

namespace stepgate::proxy {
namespace {

using http1::equalsIgnoreCase;
using http1::Header;

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

bool isHopByHop(std::string_view name) {
  static constexpr std::string_view kHop[] = {
      "connection",        "keep-alive",        "proxy-connection", "te",
      "trailer",           "transfer-encoding", "upgrade",          "proxy-authorization",
      "proxy-authenticate"};
  for (auto h : kHop) {
    if (equalsIgnoreCase(name, h))
      return true;
  }
  return false;
}

// The field names listed in a message's Connection headers, collected once per message.
// Names beyond kMax make every unknown field count as listed (fail closed: dropped).
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const std::vector<Header>& headers) {
    for (const Header& h : headers) {
      if (!equalsIgnoreCase(h.name, "connection"))
        continue;
      std::string_view v = h.value;
      while (!v.empty()) {
        const size_t comma = v.find(',');
        std::string_view tok = v.substr(0, comma);
        while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t'))
          tok.remove_prefix(1);
        while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t'))
          tok.remove_suffix(1);
        if (!tok.empty() && !equalsIgnoreCase(tok, "close") &&
            !equalsIgnoreCase(tok, "keep-alive")) {
          if (count_ == kMax) {
            overflow_ = true;
          } else {
            tokens_[count_++] = tok;
          }
        }
        if (comma == std::string_view::npos)
          break;
        v.remove_prefix(comma + 1);
      }
    }
  }
  bool names(std::string_view name) const {
    for (size_t i = 0; i < count_; ++i) {
      if (equalsIgnoreCase(tokens_[i], name))
        return true;
    }
    return overflow_;
  }

 private:
  static constexpr size_t kMax = 16;
  std::string_view tokens_[kMax];
  size_t count_ = 0;
  bool overflow_ = false;
};

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

// Appends the values of every `name` field, each followed by ", ".
void appendListValues(std::string& out, const std::vector<Header>& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (!equalsIgnoreCase(h.name, name) || h.value.empty())
      continue;
    out.append(h.value);
    out.append(", ");
  }
}

}  // namespace

bool isAwsSignatureHeader(std::string_view name) noexcept {
  static constexpr std::string_view kAws[] = {"authorization", "x-amz-date",
                                              "x-amz-security-token", "x-amz-content-sha256"};
  for (auto h : kAws) {
    if (equalsIgnoreCase(name, h))
      return true;
  }
  return false;
}

bool isStrippedRequestHeader(std::string_view name) noexcept {
  if (isHopByHop(name))
    return true;
  static constexpr std::string_view kReset[] = {
      "host", "content-length", "expect", "forwarded", "x-real-ip", "via", "x-request-id"};
  for (auto h : kReset) {
    if (equalsIgnoreCase(name, h))
      return true;
  }
  return startsWithIgnoreCase(name, "x-forwarded-") || startsWithIgnoreCase(name, "x-stepgate-");
}

void appendUpstreamRequestHead(const http1::RequestHead& req, const ForwardContext& ctx,
                               std::string& out) {
  out.append(req.method);
  out.push_back(' ');
  out.append(ctx.path);
  if (req.has_query) {
    out.push_back('?');
    out.append(req.query);
  }
  out.append(" HTTP/1.1\r\n");
  appendHeader(out, "Host", ctx.upstream_host);

  const ConnectionTokens listed(req.headers);
  for (const Header& h : req.headers) {
    if (isStrippedRequestHeader(h.name) || listed.names(h.name))
      continue;
    if (ctx.strip_aws_signature && isAwsSignatureHeader(h.name))
      continue;
    if (!ctx.strip_header.empty() && equalsIgnoreCase(h.name, ctx.strip_header))
      continue;
    appendHeader(out, h.name, h.value);
  }
  out.append(ctx.extra_headers);

  if (ctx.body_length) {
    out.append("Content-Length: ");
    json::appendUint(out, *ctx.body_length);
    out.append("\r\n");
  } else switch (req.body) {
    case http1::BodyKind::kContentLength: {
      out.append("Content-Length: ");
      json::appendUint(out, req.content_length);
      out.append("\r\n");
      break;
    }
    case http1::BodyKind::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    default:
      if (equalsIgnoreCase(req.method, "POST") || equalsIgnoreCase(req.method, "PUT") ||
          equalsIgnoreCase(req.method, "PATCH")) {
        out.append("Content-Length: 0\r\n");
      }
      break;
  }

  // Several X-Forwarded-For or Via lines form one list, in order (RFC 9110 5.3).
  out.append("X-Forwarded-For: ");
  if (ctx.peer_is_trusted_proxy)
    appendListValues(out, req.headers, "x-forwarded-for");
  out.append(ctx.client_ip);
  out.append("\r\n");
  appendHeader(out, "X-Forwarded-Proto", ctx.client_tls ? "https" : "http");
  if (!req.host.empty())
    appendHeader(out, "X-Forwarded-Host", req.host);
  appendHeader(out, "X-Request-Id", ctx.request_id);
  out.append("Via: ");
  appendListValues(out, req.headers, "via");
  out.append(req.version_minor == 0 ? "1.0 " : "1.1 ");
  out.append(ctx.via);
  out.append("\r\n\r\n");
}

void appendClientResponseHead(const http1::ResponseHead& resp, const ResponseOptions& opts,
                              std::string& out) {
  out.append("HTTP/1.1 ");
  json::appendUint(out, static_cast<uint64_t>(resp.status));
  out.push_back(' ');
  out.append(resp.reason);
  out.append("\r\n");
  const bool no_body_status = resp.status < 200 || resp.status == 204;
  // HEAD and 304 responses may carry the Content-Length of the representation: keep it.
  const bool keep_length = opts.framing == ResponseFraming::kNone && !no_body_status &&
                           (opts.head_request || resp.status == 304);
  bool length_kept = false;
  const ConnectionTokens listed(resp.headers);
  for (const Header& h : resp.headers) {
    if (equalsIgnoreCase(h.name, "content-length")) {
      if (keep_length && !length_kept) {
        appendHeader(out, "Content-Length", h.value);
        length_kept = true;
      }
      continue;
    }
    if (isHopByHop(h.name) || equalsIgnoreCase(h.name, "x-request-id") || listed.names(h.name)) {
      continue;
    }
    appendHeader(out, h.name, h.value);
  }
  switch (opts.framing) {
    case ResponseFraming::kContentLength:
      out.append("Content-Length: ");
      json::appendUint(out, resp.content_length);
      out.append("\r\n");
      break;
    case ResponseFraming::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case ResponseFraming::kNone:
      if (!no_body_status && !keep_length)
        out.append("Content-Length: 0\r\n");
      break;
    case ResponseFraming::kClose:
      break;
  }
  appendHeader(out, "X-Request-Id", opts.request_id);
  if (opts.close) {
    out.append("Connection: close\r\n");
  } else if (opts.keep_alive_10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

}  // namespace stepgate::proxy
