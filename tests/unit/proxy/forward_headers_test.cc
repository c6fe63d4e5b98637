#include "proxy/forward_headers.h"

#include <gtest/gtest.h>

#include <string>

namespace stepgate::proxy {
namespace {

using http1::RequestHead;

// Parses `raw` with the real codec so the test exercises the same views the proxy uses.
RequestHead parse(const std::string& raw) {
  RequestHead req;
  size_t scanned = 0;
  http1::Limits limits;
  const auto scan = http1::findHeadEnd(raw, scanned, limits);
  EXPECT_EQ(scan.state, http1::HeadScan::State::kComplete);
  EXPECT_EQ(http1::parseRequestHead(std::string_view(raw).substr(0, scan.head_len), limits, req),
            http1::ParseError::kNone);
  return req;
}

http1::ResponseHead parseResponse(const std::string& raw, bool head_request) {
  http1::ResponseHead resp;
  size_t scanned = 0;
  http1::Limits limits;
  const auto scan = http1::findHeadEnd(raw, scanned, limits);
  EXPECT_EQ(http1::parseResponseHead(std::string_view(raw).substr(0, scan.head_len), limits,
                                     head_request, resp),
            http1::ParseError::kNone);
  return resp;
}

ForwardContext context(std::string_view path) {
  ForwardContext ctx;
  ctx.path = path;
  ctx.upstream_host = "orchestrator:8080";
  ctx.client_ip = "192.0.2.7";
  ctx.client_tls = true;
  ctx.request_id = "0123456789abcdef0123456789abcdef";
  ctx.via = "stepgate";
  return ctx;
}

TEST(ForwardHeadersTest, RequestLineUsesNormalisedPathAndKeepsQuery) {
  const std::string raw = "GET /a/./b/../c?x=%2F&y HTTP/1.1\r\nHost: gw.example\r\n\r\n";
  RequestHead req = parse(raw);
  std::string out;
  appendUpstreamRequestHead(req, context("/a/c"), out);
  EXPECT_EQ(out.substr(0, out.find("\r\n")), "GET /a/c?x=%2F&y HTTP/1.1");
  EXPECT_NE(out.find("\r\nHost: orchestrator:8080\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nX-Forwarded-Host: gw.example\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nX-Forwarded-Proto: https\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nVia: 1.1 stepgate\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(ForwardHeadersTest, HopByHopAndConnectionNamedFieldsAreRemoved) {
  const std::string raw =
      "POST /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret-Hop\r\n"
      "X-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\n"
      "Proxy-Authorization: Basic eA==\r\nTrailer: X\r\nContent-Length: 3\r\n"
      "Expect: 100-continue\r\nContent-Type: text/plain\r\n\r\n";
  RequestHead req = parse(raw);
  std::string out;
  appendUpstreamRequestHead(req, context("/x"), out);
  for (const char* gone : {"X-Secret-Hop", "Keep-Alive", "TE:", "Upgrade", "Proxy-Authorization",
                           "Trailer", "Expect", "Connection"}) {
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
  }
  EXPECT_NE(out.find("\r\nContent-Type: text/plain\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nContent-Length: 3\r\n"), std::string::npos);
}

TEST(ForwardHeadersTest, SpoofableFieldsAreReplaced) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.9.9.9\r\nX-Forwarded-Proto: http\r\n"
      "X-Forwarded-Host: evil\r\nForwarded: for=10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\n"
      "X-Request-Id: attacker\r\nX-Stepgate-Subject: admin\r\nx-stepgate-groups: root\r\n\r\n";
  RequestHead req = parse(raw);
  std::string out;
  appendUpstreamRequestHead(req, context("/"), out);
  EXPECT_EQ(out.find("10.9.9.9"), std::string::npos) << out;
  EXPECT_EQ(out.find("evil"), std::string::npos);
  EXPECT_EQ(out.find("attacker"), std::string::npos);
  EXPECT_EQ(out.find("tepgate-"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nX-Forwarded-For: 192.0.2.7\r\n"), std::string::npos);
}

TEST(ForwardHeadersTest, TrustedProxyChainIsExtended) {
  const std::string raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.1\r\n\r\n";
  RequestHead req = parse(raw);
  ForwardContext ctx = context("/");
  ctx.peer_is_trusted_proxy = true;
  std::string out;
  appendUpstreamRequestHead(req, ctx, out);
  EXPECT_NE(out.find("\r\nX-Forwarded-For: 203.0.113.1, 192.0.2.7\r\n"), std::string::npos);
}

TEST(ForwardHeadersTest, ChunkedBodiesAreReframedByStepgate) {
  const std::string raw = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  RequestHead req = parse(raw);
  std::string out;
  appendUpstreamRequestHead(req, context("/"), out);
  EXPECT_NE(out.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);
}

TEST(ForwardHeadersTest, ViaChainIsAppended) {
  const std::string raw = "GET / HTTP/1.0\r\nVia: 1.1 edge\r\n\r\n";
  RequestHead req = parse(raw);
  std::string out;
  appendUpstreamRequestHead(req, context("/"), out);
  EXPECT_NE(out.find("\r\nVia: 1.1 edge, 1.0 stepgate\r\n"), std::string::npos) << out;
}

TEST(ForwardHeadersTest, ResponseHeadIsCleanedAndReframed) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\n"
      "X-Request-Id: upstream-id\r\nContent-Type: application/json\r\n\r\n";
  const http1::ResponseHead resp = parseResponse(raw, false);
  std::string out;
  ResponseOptions opts;
  opts.framing = ResponseFraming::kChunked;
  opts.close = true;
  opts.request_id = "rid";
  appendClientResponseHead(resp, opts, out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nX-Request-Id: rid\r\nConnection: close\r\n\r\n");
}

TEST(ForwardHeadersTest, BodilessResponsesAreAlwaysDelimited) {
  ResponseOptions opts;
  opts.request_id = "r";
  std::string out;
  // A 200 with Content-Length: 0 must say so, or a keep-alive client waits for a body.
  appendClientResponseHead(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
                           opts, out);
  EXPECT_NE(out.find("\r\nContent-Length: 0\r\n"), std::string::npos) << out;
  // HEAD keeps the length of the representation.
  out.clear();
  opts.head_request = true;
  appendClientResponseHead(
      parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", true), opts, out);
  EXPECT_NE(out.find("\r\nContent-Length: 1000\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Content-Length: 0"), std::string::npos);
  // 204 has no Content-Length at all.
  out.clear();
  opts.head_request = false;
  appendClientResponseHead(parseResponse("HTTP/1.1 204 No Content\r\n\r\n", false), opts, out);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  // An HTTP/1.0 client that keeps the connection is told so.
  out.clear();
  opts.keep_alive_10 = true;
  appendClientResponseHead(parseResponse("HTTP/1.1 204 No Content\r\n\r\n", false), opts, out);
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << out;
}

TEST(ForwardHeadersTest, RepeatedListFieldsFormOneList) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nVia: 1.1 a\r\n"
      "X-Forwarded-For: 198.51.100.9\r\nVia: 1.1 b\r\n\r\n";
  RequestHead req = parse(raw);
  ForwardContext ctx = context("/");
  ctx.peer_is_trusted_proxy = true;
  std::string out;
  appendUpstreamRequestHead(req, ctx, out);
  EXPECT_NE(out.find("\r\nX-Forwarded-For: 6.6.6.6, 198.51.100.9, 192.0.2.7\r\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("\r\nVia: 1.1 a, 1.1 b, 1.1 stepgate\r\n"), std::string::npos) << out;
}

TEST(ForwardHeadersTest, StrippedNames) {
  EXPECT_TRUE(isStrippedRequestHeader("X-Stepgate-Anything"));
  EXPECT_TRUE(isStrippedRequestHeader("x-forwarded-port"));
  EXPECT_TRUE(isStrippedRequestHeader("PROXY-CONNECTION"));
  EXPECT_FALSE(isStrippedRequestHeader("Authorization"));
  EXPECT_FALSE(isStrippedRequestHeader("Content-Type"));
}

}  // namespace
}  // namespace stepgate::proxy
