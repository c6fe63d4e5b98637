// Tests for the strict HTTP/1.1 codec: head scanning, request and response heads, the chunked
// decoder, and every ParseError. Smuggling vectors from RFC 9112 section 11 each have a test
// of their own.

#include "proxy/http1/parser.h"

#include <gtest/gtest.h>

#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace stepgate::proxy::http1 {
namespace {

using Step = ChunkedDecoder::Step;
using namespace std::string_literals;


// Feeds `input` to findHeadEnd as if it arrived in pieces ending at each offset in `cuts`
// (ascending; the whole input is available after the last cut).
HeadScan scanInPieces(std::string_view input, const std::vector<size_t>& cuts,
                             const Limits& limits = {}) {
  size_t scanned = 0;
  HeadScan r;
  for (size_t cut : cuts) {
    r = findHeadEnd(input.substr(0, cut), scanned, limits);
    if (r.state != HeadScan::State::kNeedMore) {
      return r;
    }
  }
  return findHeadEnd(input, scanned, limits);
}

HeadScan scanByteByByte(std::string_view input, const Limits& limits = {}) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); ++i) {
    cuts.push_back(i);
  }
  return scanInPieces(input, cuts, limits);
}

struct ChunkedOutcome {
  ChunkedDecoder::Step step = ChunkedDecoder::Step::kNeedMore;
  ParseError error = ParseError::kNone;
  std::string body;
  size_t end = 0;  // offset just after the body when kDone; of the failing byte when kError
};

// Decodes the chunked body at the start of `input`, which arrives in pieces ending at each
// offset in `cuts` (ascending), then the rest. Data is taken exactly as the decoder reports it.
ChunkedOutcome decodeChunked(std::string_view input, std::vector<size_t> cuts,
                                    const Limits& limits = {}) {
  cuts.push_back(input.size());
  ChunkedDecoder decoder(limits);
  ChunkedOutcome out;
  size_t pos = 0;
  size_t next_cut = 0;
  size_t avail = cuts[0];
  for (int guard = 0; guard < 10'000'000; ++guard) {
    const ChunkedDecoder::Result r = decoder.next(input.substr(pos, avail - pos));
    switch (r.step) {
      case ChunkedDecoder::Step::kNeedMore:
        pos = avail;
        if (next_cut + 1 >= cuts.size()) {
          out.step = r.step;
          return out;
        }
        avail = cuts[++next_cut];
        break;
      case ChunkedDecoder::Step::kData:
        pos += r.consumed;
        if (r.data_len == 0 || pos + r.data_len > avail) {
          out.step = ChunkedDecoder::Step::kError;  // a contract violation by the decoder
          out.error = ParseError::kCount;
          return out;
        }
        out.body.append(input.substr(pos, r.data_len));
        pos += r.data_len;
        break;
      case ChunkedDecoder::Step::kDone:
        out.step = r.step;
        out.end = pos + r.consumed;
        if (out.body.size() != decoder.bodyBytes()) {
          out.error = ParseError::kCount;
        }
        return out;
      case ChunkedDecoder::Step::kError:
        out.step = r.step;
        out.error = r.error;
        out.end = pos + r.consumed;
        return out;
    }
  }
  out.step = ChunkedDecoder::Step::kError;
  out.error = ParseError::kCount;
  return out;
}

ChunkedOutcome decodeWhole(std::string_view input, const Limits& limits = {}) {
  return decodeChunked(input, {}, limits);
}

ChunkedOutcome decodeByteByByte(std::string_view input, const Limits& limits = {}) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); ++i) {
    cuts.push_back(i);
  }
  return decodeChunked(input, cuts, limits);
}


// Heads parsed by the helpers below live until the end of the test binary, so the views in
// the parsed heads stay valid whatever temporary the test built the head in.
std::string_view keep(std::string s) {
  static std::deque<std::string> arena;
  arena.push_back(std::move(s));
  return arena.back();
}

ParseError parseReq(std::string_view head, RequestHead& out, const Limits& limits = {}) {
  return parseRequestHead(keep(std::string(head)), limits, out);
}

ParseError reqError(std::string_view head, const Limits& limits = {}) {
  RequestHead out;
  return parseRequestHead(head, limits, out);
}

// A request head with the given header lines (each without CRLF) after the request line.
std::string request(std::string_view request_line, std::vector<std::string> lines) {
  std::string s(request_line);
  s += "\r\n";
  for (const std::string& l : lines) {
    s += l;
    s += "\r\n";
  }
  s += "\r\n";
  return s;
}

std::string get(std::vector<std::string> lines) {
  return request("GET / HTTP/1.1", std::move(lines));
}

ParseError respError(std::string_view head, bool head_request = false) {
  ResponseHead out;
  return parseResponseHead(head, Limits{}, head_request, out);
}

// ---------------------------------------------------------------------------------------
// ParseError names and statuses

TEST(ParseErrorTest, NamesAreStableSnakeCaseAndUnique) {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(ParseError::kCount); ++i) {
    const std::string name = parseErrorName(static_cast<ParseError>(i));
    EXPECT_NE(name, "unknown") << i;
    for (char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
    }
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_STREQ(parseErrorName(ParseError::kContentLengthWithTransferEncoding),
               "content_length_with_transfer_encoding");
  EXPECT_STREQ(parseErrorName(ParseError::kBareLf), "bare_lf");
  EXPECT_STREQ(parseErrorName(ParseError::kUriTooLong), "uri_too_long");
  EXPECT_STREQ(parseErrorName(ParseError::kTransferEncodingInHttp10),
               "transfer_encoding_in_http10");
}

TEST(ParseErrorTest, HttpStatuses) {
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kBadRequestLine), 400);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kBareLf), 400);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kContentLengthWithTransferEncoding), 400);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kBadChunkSize), 400);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kAuthorityForm), 405);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kBodyTooLarge), 413);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kUriTooLong), 414);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kExpectationFailed), 417);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kHeadersTooLarge), 431);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kTooManyHeaders), 431);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kTransferEncodingNotChunked), 501);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kUnsupportedVersion), 505);
  for (int i = 1; i < static_cast<int>(ParseError::kCount); ++i) {
    const int s = parseErrorHttpStatus(static_cast<ParseError>(i));
    EXPECT_GE(s, 400) << i;
    EXPECT_LT(s, 600) << i;
  }
}

TEST(EqualsIgnoreCaseTest, AsciiOnly) {
  EXPECT_TRUE(equalsIgnoreCase("Content-Length", "content-length"));
  EXPECT_TRUE(equalsIgnoreCase("", ""));
  EXPECT_FALSE(equalsIgnoreCase("chunked", "chunked "));
  EXPECT_FALSE(equalsIgnoreCase("a", "b"));
  EXPECT_FALSE(equalsIgnoreCase("\xc1", "\xe1"));  // no Latin-1 folding
  EXPECT_FALSE(equalsIgnoreCase("[", "{"));        // '[' | 0x20 is '{'
}

// One input per error, through the entry point that reports it; the set of errors seen must
// be every ParseError, so a new enum value without a test fails here.
TEST(ParseErrorTest, EveryErrorHasAnInput) {
  enum class Via { kScan, kRequest, kSmallRequest, kResponse, kChunked };
  struct Case {
    ParseError expected;
    Via via;
    std::string input;
  };
  Limits small;
  small.max_request_line = 16;
  small.max_header_bytes = 64;
  small.max_headers = 2;
  small.max_body_bytes = 10;
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  const std::vector<Case> cases = {
      {ParseError::kBadRequestLine, Via::kRequest, "GET /\r\nHost: a\r\n\r\n"},
      {ParseError::kBadMethod, Via::kRequest, "GE@T / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {ParseError::kBadTarget, Via::kRequest, "GET x HTTP/1.1\r\nHost: a\r\n\r\n"},
      {ParseError::kUnsupportedVersion, Via::kRequest, "GET / HTTP/3.0\r\nHost: a\r\n\r\n"},
      {ParseError::kBadVersion, Via::kRequest, "GET / HTTP/x\r\nHost: a\r\n\r\n"},
      {ParseError::kBareCr, Via::kScan, "GET / HTTP/1.1\rHost: a\r\n\r\n"},
      {ParseError::kBareLf, Via::kScan, "GET / HTTP/1.1\nHost: a\r\n\r\n"},
      {ParseError::kObsFold, Via::kRequest, get({"Host: a", "X: 1", " 2"})},
      {ParseError::kBadHeaderName, Via::kRequest, get({"Host: a", "X\"Y: 1"})},
      {ParseError::kWhitespaceBeforeColon, Via::kRequest, get({"Host : a"})},
      {ParseError::kBadHeaderValue, Via::kRequest, get({"Host: a", "X: \x01"})},
      {ParseError::kMissingHost, Via::kRequest, get({})},
      {ParseError::kDuplicateHost, Via::kRequest, get({"Host: a", "Host: a"})},
      {ParseError::kBadHost, Via::kRequest, get({"Host: a/b"})},
      {ParseError::kAbsoluteFormHostMismatch, Via::kRequest,
       request("GET http://a/ HTTP/1.1", {"Host: b"})},
      {ParseError::kAuthorityForm, Via::kRequest, request("CONNECT a:443 HTTP/1.1", {"Host: a"})},
      {ParseError::kBadContentLength, Via::kRequest, post + "Content-Length: -1\r\n\r\n"},
      {ParseError::kDuplicateContentLength, Via::kRequest,
       post + "Content-Length: 1\r\nContent-Length: 1\r\n\r\n"},
      {ParseError::kContentLengthWithTransferEncoding, Via::kRequest,
       post + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {ParseError::kTransferEncodingNotChunked, Via::kRequest,
       post + "Transfer-Encoding: gzip, chunked\r\n\r\n"},
      {ParseError::kTransferEncodingInHttp10, Via::kRequest,
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {ParseError::kBadChunkSize, Via::kChunked, "0x5\r\nhello\r\n0\r\n\r\n"},
      {ParseError::kBadChunkExtension, Via::kChunked, "5;=\r\nhello\r\n0\r\n\r\n"},
      {ParseError::kBadChunkTerminator, Via::kChunked, "5\r\nhelloXX0\r\n\r\n"},
      {ParseError::kBadTrailer, Via::kChunked, "0\r\nNoColon\r\n\r\n"},
      {ParseError::kExpectationFailed, Via::kRequest, get({"Host: a", "Expect: x"})},
      {ParseError::kUriTooLong, Via::kScan, "GET /0123456789abcdef HTTP/1.1\r\n\r\n"},
      {ParseError::kHeadersTooLarge, Via::kScan, get({"Host: a", "X: " + std::string(64, 'x')})},
      {ParseError::kTooManyHeaders, Via::kSmallRequest, get({"Host: a", "A: 1", "B: 2"})},
      {ParseError::kBodyTooLarge, Via::kSmallRequest, post + "Content-Length: 11\r\n\r\n"},
      {ParseError::kBadStatusLine, Via::kResponse, "HTTP/1.1 99 Low\r\n\r\n"},
  };
  std::set<ParseError> seen;
  for (const Case& c : cases) {
    ParseError got = ParseError::kNone;
    switch (c.via) {
      case Via::kScan: {
        size_t scanned = 0;
        got = findHeadEnd(c.input, scanned, small).error;
        break;
      }
      case Via::kRequest:
        got = reqError(c.input);
        break;
      case Via::kSmallRequest:
        got = reqError(c.input, small);
        break;
      case Via::kResponse:
        got = respError(c.input);
        break;
      case Via::kChunked:
        got = decodeByteByByte(c.input, small).error;
        break;
    }
    EXPECT_EQ(got, c.expected) << parseErrorName(c.expected) << ": got " << parseErrorName(got);
    seen.insert(got);
  }
  for (int i = 1; i < static_cast<int>(ParseError::kCount); ++i) {
    EXPECT_TRUE(seen.count(static_cast<ParseError>(i)))
        << parseErrorName(static_cast<ParseError>(i)) << " has no test input";
  }
}

// ---------------------------------------------------------------------------------------
// findHeadEnd

TEST(FindHeadEndTest, FindsBlankLine) {
  const std::string head = get({"Host: a"});
  size_t scanned = 0;
  const HeadScan r = findHeadEnd(head + "body", scanned, Limits{});
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, head.size());
  EXPECT_EQ(r.error, ParseError::kNone);
}

TEST(FindHeadEndTest, NeedsMoreUntilBlankLine) {
  const std::string head = get({"Host: a"});
  for (size_t n = 0; n < head.size(); ++n) {
    size_t scanned = 0;
    EXPECT_EQ(findHeadEnd(head.substr(0, n), scanned, Limits{}).state,
              HeadScan::State::kNeedMore)
        << n;
  }
}

TEST(FindHeadEndTest, HeadWithoutHeaders) {
  size_t scanned = 0;
  const HeadScan r = findHeadEnd("GET / HTTP/1.0\r\n\r\n", scanned, Limits{});
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, 18u);
}

TEST(FindHeadEndTest, ByteByByteMatchesWhole) {
  const std::string head = "\r\n" + get({"Host: a", "X: y", "Z:"});
  const HeadScan r = scanByteByByte(head + "GET /next");
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, head.size());
}

TEST(FindHeadEndTest, EverySplitPointMatchesWhole) {
  const std::string head = get({"Host: a", "Content-Length: 3"});
  const std::string input = head + "abc";
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    const HeadScan r = scanInPieces(input, {cut});
    ASSERT_EQ(r.state, HeadScan::State::kComplete) << cut;
    EXPECT_EQ(r.head_len, head.size()) << cut;
  }
}

TEST(FindHeadEndTest, LeadingEmptyLinesAreCounted) {
  const std::string input = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  size_t scanned = 0;
  const HeadScan r = findHeadEnd(input, scanned, Limits{});
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, input.size());
  RequestHead out;
  ASSERT_EQ(parseReq(std::string_view(input).substr(0, r.head_len), out), ParseError::kNone);
  EXPECT_EQ(out.method, "GET");
  EXPECT_EQ(out.head_bytes, input.size());
}

TEST(FindHeadEndTest, PipelinedRequestsFindTheFirst) {
  const std::string first = get({"Host: a"});
  const std::string second = request("POST /x HTTP/1.1", {"Host: a", "Content-Length: 0"});
  const std::string input = first + second;
  size_t scanned = 0;
  HeadScan r = findHeadEnd(input, scanned, Limits{});
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, first.size());
  RequestHead out;
  ASSERT_EQ(parseReq(std::string_view(input).substr(0, r.head_len), out), ParseError::kNone);
  EXPECT_EQ(out.method, "GET");

  scanned = 0;
  const std::string_view rest = std::string_view(input).substr(r.head_len);
  r = findHeadEnd(rest, scanned, Limits{});
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, second.size());
  ASSERT_EQ(parseReq(rest.substr(0, r.head_len), out), ParseError::kNone);
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/x");
}

TEST(FindHeadEndTest, BareLfRefused) {
  size_t scanned = 0;
  HeadScan r = findHeadEnd("GET / HTTP/1.1\nHost: a\r\n\r\n", scanned, Limits{});
  EXPECT_EQ(r.state, HeadScan::State::kError);
  EXPECT_EQ(r.error, ParseError::kBareLf);
  scanned = 0;
  r = findHeadEnd("GET / HTTP/1.1\r\nHost: a\n\n", scanned, Limits{});
  EXPECT_EQ(r.error, ParseError::kBareLf);
  scanned = 0;
  r = findHeadEnd("\nGET / HTTP/1.1\r\n\r\n", scanned, Limits{});
  EXPECT_EQ(r.error, ParseError::kBareLf);
}

TEST(FindHeadEndTest, BareLfRefusedAsSoonAsSeen) {
  // No blank line yet: the bare LF alone is enough.
  const HeadScan r = scanByteByByte("GET / HTTP/1.1\r\nHost: a\nX");
  EXPECT_EQ(r.error, ParseError::kBareLf);
}

TEST(FindHeadEndTest, BareCrRefused) {
  size_t scanned = 0;
  HeadScan r = findHeadEnd("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", scanned, Limits{});
  EXPECT_EQ(r.state, HeadScan::State::kError);
  EXPECT_EQ(r.error, ParseError::kBareCr);
  scanned = 0;
  r = findHeadEnd("GET /\r HTTP/1.1\r\n\r\n", scanned, Limits{});
  EXPECT_EQ(r.error, ParseError::kBareCr);
  EXPECT_EQ(scanByteByByte("GET / HTTP/1.1\r\nA: b\r\r\n").error, ParseError::kBareCr);
}

TEST(FindHeadEndTest, TrailingCrWaitsForNextByte) {
  size_t scanned = 0;
  const std::string input = "GET / HTTP/1.1\r\nHost: a\r\n\r";
  EXPECT_EQ(findHeadEnd(input, scanned, Limits{}).state, HeadScan::State::kNeedMore);
  const HeadScan r = findHeadEnd(input + "\n", scanned, Limits{});
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, input.size() + 1);
}

TEST(FindHeadEndTest, RequestLineLimitIs414AsSoonAsExceeded) {
  Limits limits;
  limits.max_request_line = 20;
  const std::string line = "GET /" + std::string(15, 'a') + " HTTP/1.1";  // 29 bytes
  size_t scanned = 0;
  // 21 bytes of request line and no LF yet: refused without waiting for the rest.
  const HeadScan r = findHeadEnd(line.substr(0, 21), scanned, limits);
  EXPECT_EQ(r.state, HeadScan::State::kError);
  EXPECT_EQ(r.error, ParseError::kUriTooLong);
  EXPECT_EQ(scanByteByByte(line, limits).error, ParseError::kUriTooLong);
  EXPECT_EQ(parseErrorHttpStatus(r.error), 414);
}

TEST(FindHeadEndTest, RequestLineAtTheLimitIsAccepted) {
  Limits limits;
  limits.max_request_line = 20;
  const std::string line = "GET /" + std::string(6, 'a') + " HTTP/1.1";  // 20 bytes
  ASSERT_EQ(line.size(), 20u);
  const std::string head = line + "\r\nHost: a\r\n\r\n";
  const HeadScan r = scanByteByByte(head, limits);
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  RequestHead out;
  EXPECT_EQ(parseReq(head, out, limits), ParseError::kNone);
  // One byte more is refused by both.
  const std::string longer = "GET /" + std::string(7, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(scanByteByByte(longer, limits).error, ParseError::kUriTooLong);
  EXPECT_EQ(reqError(longer, limits), ParseError::kUriTooLong);
}

TEST(FindHeadEndTest, HeadLimitIs431AsSoonAsExceeded) {
  Limits limits;
  limits.max_header_bytes = 64;
  std::string input = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(100, 'x');
  size_t scanned = 0;
  EXPECT_EQ(findHeadEnd(input.substr(0, 64), scanned, limits).state,
            HeadScan::State::kNeedMore);
  const HeadScan r = findHeadEnd(input.substr(0, 65), scanned, limits);
  EXPECT_EQ(r.state, HeadScan::State::kError);
  EXPECT_EQ(r.error, ParseError::kHeadersTooLarge);
  EXPECT_EQ(scanByteByByte(input, limits).error, ParseError::kHeadersTooLarge);
  EXPECT_EQ(parseErrorHttpStatus(r.error), 431);
}

TEST(FindHeadEndTest, HeadAtTheLimitIsAccepted) {
  std::string head = get({"Host: a", "X: "});
  Limits limits;
  limits.max_header_bytes = head.size();
  size_t scanned = 0;
  HeadScan r = findHeadEnd(head + "more", scanned, limits);
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, head.size());
  limits.max_header_bytes = head.size() - 1;
  scanned = 0;
  r = findHeadEnd(head, scanned, limits);
  EXPECT_EQ(r.error, ParseError::kHeadersTooLarge);
  EXPECT_EQ(reqError(head, limits), ParseError::kHeadersTooLarge);
}

TEST(FindHeadEndTest, SlowSenderScansEachByteOnce) {
  // A 30 KB head sent one byte at a time: `scanned` keeps progress, so this stays fast.
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (head.size() < 30000) {
    head += "X-Filler: " + std::string(100, 'f') + "\r\n";
  }
  head += "\r\n";
  Limits limits;
  limits.max_headers = 1000;
  const HeadScan r = scanByteByByte(head, limits);
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, head.size());
}

TEST(FindHeadEndTest, ResponseHead) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  const HeadScan r = scanByteByByte(head + "hi");
  ASSERT_EQ(r.state, HeadScan::State::kComplete);
  EXPECT_EQ(r.head_len, head.size());
}

// ---------------------------------------------------------------------------------------
// parseRequestHead: request line and target

TEST(RequestHeadTest, SimpleGet) {
  const std::string head = get({"Host: example.com", "User-Agent: t", "Accept: */*"});
  RequestHead out;
  ASSERT_EQ(parseReq(head, out), ParseError::kNone);
  EXPECT_EQ(out.method, "GET");
  EXPECT_EQ(out.target, "/");
  EXPECT_EQ(out.path, "/");
  EXPECT_EQ(out.query, "");
  EXPECT_FALSE(out.has_query);
  EXPECT_EQ(out.form, TargetForm::kOrigin);
  EXPECT_EQ(out.version_minor, 1);
  EXPECT_EQ(out.host, "example.com");
  ASSERT_EQ(out.headers.size(), 3u);
  EXPECT_EQ(out.headers[1].name, "User-Agent");
  EXPECT_EQ(out.headers[1].value, "t");
  EXPECT_EQ(out.body, BodyKind::kNone);
  EXPECT_EQ(out.content_length, 0u);
  EXPECT_TRUE(out.keep_alive);
  EXPECT_FALSE(out.expect_continue);
  EXPECT_EQ(out.head_bytes, head.size());
}

TEST(RequestHeadTest, QuerySplitsAtFirstQuestionMark) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("GET /a/b?x=1?y=2 HTTP/1.1", {"Host: a"}), out),
            ParseError::kNone);
  EXPECT_EQ(out.target, "/a/b?x=1?y=2");
  EXPECT_EQ(out.path, "/a/b");
  EXPECT_EQ(out.query, "x=1?y=2");
  EXPECT_TRUE(out.has_query);
  ASSERT_EQ(parseReq(request("GET /a? HTTP/1.1", {"Host: a"}), out), ParseError::kNone);
  EXPECT_EQ(out.path, "/a");
  EXPECT_EQ(out.query, "");
  EXPECT_TRUE(out.has_query);
}

TEST(RequestHeadTest, ViewsPointIntoTheBuffer) {
  const std::string head = get({"Host: a"});
  RequestHead out;
  ASSERT_EQ(parseRequestHead(head, Limits{}, out), ParseError::kNone);
  EXPECT_EQ(out.method.data(), head.data());
  EXPECT_GE(out.headers[0].value.data(), head.data());
  EXPECT_LT(out.headers[0].value.data(), head.data() + head.size());
}

TEST(RequestHeadTest, ClearKeepsHeaderCapacityAndResets) {
  RequestHead out;
  out.headers.reserve(32);
  ASSERT_EQ(parseReq(request("POST /x?q HTTP/1.1",
                             {"Host: a", "Content-Length: 5", "Expect: 100-continue"}),
                     out),
            ParseError::kNone);
  const size_t cap = out.headers.capacity();
  out.clear();
  EXPECT_TRUE(out.headers.empty());
  EXPECT_EQ(out.headers.capacity(), cap);
  EXPECT_TRUE(out.method.empty());
  EXPECT_FALSE(out.has_query);
  EXPECT_EQ(out.body, BodyKind::kNone);
  EXPECT_EQ(out.content_length, 0u);
  EXPECT_FALSE(out.expect_continue);
  EXPECT_EQ(out.head_bytes, 0u);
  // parseRequestHead clears first: nothing from the previous request survives.
  ASSERT_EQ(parseReq(get({"Host: b"}), out), ParseError::kNone);
  EXPECT_EQ(out.headers.size(), 1u);
  EXPECT_EQ(out.host, "b");
}

TEST(ResponseHeadTest, ClearKeepsHeaderCapacity) {
  ResponseHead out;
  out.headers.reserve(16);
  ASSERT_EQ(parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", Limits{}, false,
                              out),
            ParseError::kNone);
  const size_t cap = out.headers.capacity();
  out.clear();
  EXPECT_EQ(out.status, 0);
  EXPECT_TRUE(out.headers.empty());
  EXPECT_EQ(out.headers.capacity(), cap);
  EXPECT_EQ(out.body, BodyKind::kNone);
}

TEST(RequestHeadTest, BadRequestLine) {
  EXPECT_EQ(reqError(request("GET  / HTTP/1.1", {"Host: a"})), ParseError::kBadRequestLine);
  EXPECT_EQ(reqError(request("GET /  HTTP/1.1", {"Host: a"})), ParseError::kBadRequestLine);
  EXPECT_EQ(reqError(request("GET / HTTP/1.1 ", {"Host: a"})), ParseError::kBadRequestLine);
  EXPECT_EQ(reqError(request("GET /", {"Host: a"})), ParseError::kBadRequestLine);
  EXPECT_EQ(reqError(request("GET", {"Host: a"})), ParseError::kBadRequestLine);
  EXPECT_EQ(reqError("GET / HTTP/1.1\r\nHost: a\r\n"), ParseError::kBadRequestLine);  // no end
  EXPECT_EQ(reqError(""), ParseError::kBadRequestLine);
}

TEST(RequestHeadTest, BadMethod) {
  EXPECT_EQ(reqError(request("G(ET / HTTP/1.1", {"Host: a"})), ParseError::kBadMethod);
  EXPECT_EQ(reqError(request("GET\t/ HTTP/1.1", {"Host: a"})), ParseError::kBadMethod);
  EXPECT_EQ(reqError(request(" GET / HTTP/1.1", {"Host: a"})), ParseError::kBadMethod);
  EXPECT_EQ(reqError(request("G\x01T / HTTP/1.1", {"Host: a"})), ParseError::kBadMethod);
  RequestHead out;
  ASSERT_EQ(parseReq(request("M-SEARCH / HTTP/1.1", {"Host: a"}), out), ParseError::kNone);
  EXPECT_EQ(out.method, "M-SEARCH");
}

TEST(RequestHeadTest, UnsupportedVersionIs505) {
  EXPECT_EQ(reqError(request("GET / HTTP/2.0", {"Host: a"})), ParseError::kUnsupportedVersion);
  EXPECT_EQ(reqError(request("GET / HTTP/1.2", {"Host: a"})), ParseError::kUnsupportedVersion);
  EXPECT_EQ(reqError(request("GET / HTTP/0.9", {"Host: a"})), ParseError::kUnsupportedVersion);
  EXPECT_EQ(reqError(request("PRI * HTTP/2.0", {})), ParseError::kUnsupportedVersion);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kUnsupportedVersion), 505);
}

TEST(RequestHeadTest, BadVersion) {
  EXPECT_EQ(reqError(request("GET / http/1.1", {"Host: a"})), ParseError::kBadVersion);
  EXPECT_EQ(reqError(request("GET / HTTP/1.10", {"Host: a"})), ParseError::kBadVersion);
  EXPECT_EQ(reqError(request("GET / HTTP/1", {"Host: a"})), ParseError::kBadVersion);
  EXPECT_EQ(reqError(request("GET / HTTP/11", {"Host: a"})), ParseError::kBadVersion);
  EXPECT_EQ(reqError(request("GET / HTTPS/1.1", {"Host: a"})), ParseError::kBadVersion);
}

TEST(RequestHeadTest, Http10) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("GET / HTTP/1.0", {}), out), ParseError::kNone);
  EXPECT_EQ(out.version_minor, 0);
  EXPECT_TRUE(out.host.empty());
  EXPECT_FALSE(out.keep_alive);
}

TEST(RequestHeadTest, BadTarget) {
  EXPECT_EQ(reqError(request("GET a/b HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET /a#frag HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET /a\x7f HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET /a\x01 HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET /\xc3\xa9 HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET /a\tb HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET ftp://a/ HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET http:///x HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET http://u@a/x HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("GET \\a HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
}

TEST(RequestHeadTest, NulInTargetRefused) {
  EXPECT_EQ(reqError(request("GET /a"s + '\0' + "b HTTP/1.1", {"Host: a"})),
            ParseError::kBadTarget);
}

TEST(RequestHeadTest, AsteriskFormOnlyWithOptions) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("OPTIONS * HTTP/1.1", {"Host: a"}), out), ParseError::kNone);
  EXPECT_EQ(out.form, TargetForm::kAsterisk);
  EXPECT_EQ(out.target, "*");
  EXPECT_EQ(reqError(request("GET * HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
  EXPECT_EQ(reqError(request("OPTIONS *x HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
}

TEST(RequestHeadTest, OptionsWithOriginFormIsFine) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("OPTIONS /a HTTP/1.1", {"Host: a"}), out), ParseError::kNone);
  EXPECT_EQ(out.form, TargetForm::kOrigin);
}

TEST(RequestHeadTest, ConnectIsRefusedWith405) {
  EXPECT_EQ(reqError(request("CONNECT example.com:443 HTTP/1.1", {"Host: example.com:443"})),
            ParseError::kAuthorityForm);
  EXPECT_EQ(reqError(request("CONNECT / HTTP/1.1", {"Host: a"})), ParseError::kAuthorityForm);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kAuthorityForm), 405);
}

TEST(RequestHeadTest, AuthorityFormWithOtherMethodsIsRefused) {
  EXPECT_EQ(reqError(request("GET example.com:443 HTTP/1.1", {"Host: example.com"})),
            ParseError::kAuthorityForm);
  EXPECT_EQ(reqError(request("POST [::1]:8080 HTTP/1.1", {"Host: a"})),
            ParseError::kAuthorityForm);
  EXPECT_EQ(reqError(request("GET a:b HTTP/1.1", {"Host: a"})), ParseError::kBadTarget);
}

TEST(RequestHeadTest, AbsoluteForm) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("GET http://Example.com:8080/a/b?c=d HTTP/1.1",
                             {"Host: example.COM:8080"}),
                     out),
            ParseError::kNone);
  EXPECT_EQ(out.form, TargetForm::kAbsolute);
  EXPECT_EQ(out.target, "http://Example.com:8080/a/b?c=d");
  EXPECT_EQ(out.path, "/a/b");
  EXPECT_EQ(out.query, "c=d");
  EXPECT_TRUE(out.has_query);
  EXPECT_EQ(out.host, "example.COM:8080");

  ASSERT_EQ(parseReq(request("GET https://a.example/x HTTP/1.1", {"Host: a.example"}), out),
            ParseError::kNone);
  EXPECT_EQ(out.path, "/x");
  EXPECT_FALSE(out.has_query);
}

TEST(RequestHeadTest, AbsoluteFormWithoutPathMeansRoot) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("GET http://a.example HTTP/1.1", {"Host: a.example"}), out),
            ParseError::kNone);
  EXPECT_EQ(out.form, TargetForm::kAbsolute);
  EXPECT_EQ(out.path, "/");
  EXPECT_FALSE(out.has_query);
  ASSERT_EQ(parseReq(request("GET http://a.example?x=1 HTTP/1.1", {"Host: a.example"}), out),
            ParseError::kNone);
  EXPECT_EQ(out.path, "/");
  EXPECT_EQ(out.query, "x=1");
  EXPECT_TRUE(out.has_query);
}

TEST(RequestHeadTest, AbsoluteFormHostMismatch) {
  EXPECT_EQ(reqError(request("GET http://a.example/ HTTP/1.1", {"Host: b.example"})),
            ParseError::kAbsoluteFormHostMismatch);
  EXPECT_EQ(reqError(request("GET http://a.example:81/ HTTP/1.1", {"Host: a.example"})),
            ParseError::kAbsoluteFormHostMismatch);
}

TEST(RequestHeadTest, AbsoluteFormWithoutHostIsAMismatch) {
  EXPECT_EQ(reqError(request("GET http://a.example/ HTTP/1.1", {})),
            ParseError::kAbsoluteFormHostMismatch);
  EXPECT_EQ(reqError(request("GET http://a.example/ HTTP/1.0", {})),
            ParseError::kAbsoluteFormHostMismatch);
}

// ---------------------------------------------------------------------------------------
// parseRequestHead: field syntax

TEST(RequestHeadTest, FieldValueOwsIsTrimmed) {
  RequestHead out;
  ASSERT_EQ(parseReq(get({"Host:a", "X-A: \t v  w \t", "X-B:", "X-C:   "}), out),
            ParseError::kNone);
  ASSERT_EQ(out.headers.size(), 4u);
  EXPECT_EQ(out.headers[0].value, "a");
  EXPECT_EQ(out.headers[1].value, "v  w");
  EXPECT_EQ(out.headers[2].value, "");
  EXPECT_EQ(out.headers[3].value, "");
}

TEST(RequestHeadTest, ObsTextInValueIsKept) {
  RequestHead out;
  ASSERT_EQ(parseReq(get({"Host: a", "X-Name: caf\xc3\xa9"}), out), ParseError::kNone);
  EXPECT_EQ(out.headers[1].value, "caf\xc3\xa9");
}

TEST(RequestHeadTest, ObsFoldRefused) {
  EXPECT_EQ(reqError(get({"Host: a", "X-A: one", " two"})), ParseError::kObsFold);
  EXPECT_EQ(reqError(get({"Host: a", "X-A: one", "\ttwo"})), ParseError::kObsFold);
  // A fold right after the request line, too.
  EXPECT_EQ(reqError(get({" Host: a"})), ParseError::kObsFold);
}

TEST(RequestHeadTest, BareCrRefused) {
  EXPECT_EQ(reqError(get({"Host: a", "X-A: one\rX-B: two"})), ParseError::kBareCr);
  EXPECT_EQ(reqError("GET / HTTP/1.1\rHost: a\r\n\r\n"), ParseError::kBareCr);
}

TEST(RequestHeadTest, BareLfRefused) {
  EXPECT_EQ(reqError(get({"Host: a", "X-A: one\nX-B: two"})), ParseError::kBareLf);
  EXPECT_EQ(reqError("GET / HTTP/1.1\nHost: a\r\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(reqError("GET / HTTP/1.1\r\nHost: a\r\n\n"), ParseError::kBareLf);
}

TEST(RequestHeadTest, WhitespaceBeforeColonRefused) {
  EXPECT_EQ(reqError(get({"Host: a", "Transfer-Encoding : chunked"})),
            ParseError::kWhitespaceBeforeColon);
  EXPECT_EQ(reqError(get({"Host\t: a"})), ParseError::kWhitespaceBeforeColon);
}

TEST(RequestHeadTest, BadHeaderName) {
  EXPECT_EQ(reqError(get({"Host: a", ": empty"})), ParseError::kBadHeaderName);
  EXPECT_EQ(reqError(get({"Host: a", "NoColon"})), ParseError::kBadHeaderName);
  EXPECT_EQ(reqError(get({"Host: a", "Bad Name: x"})), ParseError::kBadHeaderName);
  EXPECT_EQ(reqError(get({"Host: a", "Bad(Name): x"})), ParseError::kBadHeaderName);
  EXPECT_EQ(reqError(get({"Host: a", "X-\x7f: x"})), ParseError::kBadHeaderName);
  EXPECT_EQ(reqError(get({"Host: a", "\xc3\xa9: x"})), ParseError::kBadHeaderName);
}

TEST(RequestHeadTest, NulAndControlBytesInNameRefused) {
  EXPECT_EQ(reqError(get({"Host: a", "X-A"s + '\0' + ": x"})), ParseError::kBadHeaderName);
  EXPECT_EQ(reqError(get({"Host: a", "X-\x01: x"})), ParseError::kBadHeaderName);
  EXPECT_EQ(reqError(get({"Host: a", "\x0bX: x"})), ParseError::kBadHeaderName);
}

TEST(RequestHeadTest, NulAndControlBytesInValueRefused) {
  EXPECT_EQ(reqError(get({"Host: a", "X-A: a"s + '\0' + "b"})), ParseError::kBadHeaderValue);
  EXPECT_EQ(reqError(get({"Host: a", "X-A: a\x01"})), ParseError::kBadHeaderValue);
  EXPECT_EQ(reqError(get({"Host: a", "X-A: \x1b[0m"})), ParseError::kBadHeaderValue);
  EXPECT_EQ(reqError(get({"Host: a", "X-A: a\x7f"})), ParseError::kBadHeaderValue);
  EXPECT_EQ(reqError(get({"Host: a", "X-A: a\x0c"})), ParseError::kBadHeaderValue);
  EXPECT_EQ(reqError(get({"Host: a", "X-A: a\tb"})), ParseError::kNone);
}

TEST(RequestHeadTest, TooManyHeaders) {
  Limits limits;
  limits.max_headers = 3;
  EXPECT_EQ(reqError(get({"Host: a", "A: 1", "B: 2"}), limits), ParseError::kNone);
  EXPECT_EQ(reqError(get({"Host: a", "A: 1", "B: 2", "C: 3"}), limits),
            ParseError::kTooManyHeaders);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kTooManyHeaders), 431);
}

// ---------------------------------------------------------------------------------------
// parseRequestHead: Host

TEST(RequestHeadTest, MissingHostInHttp11) {
  EXPECT_EQ(reqError(get({})), ParseError::kMissingHost);
  EXPECT_EQ(reqError(get({"X-Host: a"})), ParseError::kMissingHost);
}

TEST(RequestHeadTest, DuplicateHost) {
  EXPECT_EQ(reqError(get({"Host: a", "Host: a"})), ParseError::kDuplicateHost);
  EXPECT_EQ(reqError(get({"Host: a", "host: b"})), ParseError::kDuplicateHost);
  EXPECT_EQ(reqError(request("GET / HTTP/1.0", {"Host: a", "Host: b"})),
            ParseError::kDuplicateHost);
}

TEST(RequestHeadTest, HostSyntax) {
  for (const char* ok : {"a", "example.com", "example.com:8080", "10.0.0.1", "10.0.0.1:1",
                         "[::1]", "[::1]:443", "[2001:db8::1]", "xn--caf-dma.example",
                         "under_score.example", "a:65535"}) {
    RequestHead out;
    EXPECT_EQ(parseReq(get({"Host: "s + ok}), out), ParseError::kNone) << ok;
    EXPECT_EQ(out.host, ok);
  }
  for (const char* bad : {"", "a b", "a/b", "a@b", "a:", "a:x", "a:65536", "a:123456", ":80",
                          "[::1", "[]", "[::1]x", "[zz::1]", "a:1:2", "a,b", "a%20b",
                          "a?b", "a#b"}) {
    EXPECT_EQ(reqError(get({"Host: "s + bad})), ParseError::kBadHost) << bad;
  }
}

// ---------------------------------------------------------------------------------------
// parseRequestHead: message framing (RFC 9112 6, 11 request smuggling)

TEST(RequestHeadTest, ContentLengthBody) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 12"}), out),
            ParseError::kNone);
  EXPECT_EQ(out.body, BodyKind::kContentLength);
  EXPECT_EQ(out.content_length, 12u);
}

TEST(RequestHeadTest, ContentLengthZeroIsNoBody) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 0"}), out),
            ParseError::kNone);
  EXPECT_EQ(out.body, BodyKind::kNone);
  EXPECT_EQ(out.content_length, 0u);
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 0000"}), out),
            ParseError::kNone);
  EXPECT_EQ(out.body, BodyKind::kNone);
}

TEST(RequestHeadTest, ContentLengthWithLeadingZerosAndOws) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1", {"Host: a", "Content-Length:  007 "}), out),
            ParseError::kNone);
  EXPECT_EQ(out.content_length, 7u);
}

TEST(RequestHeadTest, BadContentLength) {
  for (const char* bad : {"", "+5", "-5", "5 5", "0x10", "1e3", "5.0", "five", "\"5\"",
                          "18446744073709551616", "99999999999999999999999",
                          "4611686018427387905"}) {
    EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: "s + bad})),
              ParseError::kBadContentLength)
        << bad;
  }
}

TEST(RequestHeadTest, ContentLengthLimitIsTwoToThe62) {
  Limits limits;
  limits.max_body_bytes = 0;
  RequestHead out;
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1",
                             {"Host: a", "Content-Length: 4611686018427387904"}),
                     out, limits),
            ParseError::kNone);
  EXPECT_EQ(out.content_length, uint64_t{1} << 62);
}

TEST(RequestHeadTest, DuplicateEqualContentLengthRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1",
                             {"Host: a", "Content-Length: 5", "Content-Length: 5"})),
            ParseError::kDuplicateContentLength);
}

TEST(RequestHeadTest, DifferingContentLengthsRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1",
                             {"Host: a", "Content-Length: 5", "content-length: 6"})),
            ParseError::kDuplicateContentLength);
}

TEST(RequestHeadTest, ContentLengthCommaListRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5, 5"})),
            ParseError::kDuplicateContentLength);
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5,6"})),
            ParseError::kDuplicateContentLength);
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: ,5"})),
            ParseError::kDuplicateContentLength);
}

TEST(RequestHeadTest, ContentLengthWithTransferEncodingRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5",
                                                  "Transfer-Encoding: chunked"})),
            ParseError::kContentLengthWithTransferEncoding);
}

TEST(RequestHeadTest, TransferEncodingBeforeContentLengthRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked",
                                                  "Content-Length: 0"})),
            ParseError::kContentLengthWithTransferEncoding);
}

TEST(RequestHeadTest, ChunkedBody) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked"}),
                     out),
            ParseError::kNone);
  EXPECT_EQ(out.body, BodyKind::kChunked);
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1", {"Host: a", "transfer-encoding:  CHUNKED "}),
                     out),
            ParseError::kNone);
  EXPECT_EQ(out.body, BodyKind::kChunked);
}

TEST(RequestHeadTest, TransferEncodingGzipChunkedRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1",
                             {"Host: a", "Transfer-Encoding: gzip, chunked"})),
            ParseError::kTransferEncodingNotChunked);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kTransferEncodingNotChunked), 501);
}

TEST(RequestHeadTest, TransferEncodingChunkedTwiceRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1",
                             {"Host: a", "Transfer-Encoding: chunked, chunked"})),
            ParseError::kTransferEncodingNotChunked);
}

TEST(RequestHeadTest, TwoTransferEncodingHeadersRefused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked",
                                                  "Transfer-Encoding: chunked"})),
            ParseError::kTransferEncodingNotChunked);
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: gzip",
                                                  "Transfer-Encoding: chunked"})),
            ParseError::kTransferEncodingNotChunked);
}

TEST(RequestHeadTest, TransferEncodingOtherValuesRefused) {
  for (const char* bad : {"chunked;x", "gzip", "identity", "", "chunked,", "xchunked",
                          "chunk", "\"chunked\"", "chunked x"}) {
    EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: "s + bad})),
              ParseError::kTransferEncodingNotChunked)
        << bad;
  }
}

TEST(RequestHeadTest, TransferEncodingInHttp10Refused) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.0", {"Transfer-Encoding: chunked"})),
            ParseError::kTransferEncodingInHttp10);
  EXPECT_EQ(reqError(request("POST / HTTP/1.0", {"Host: a", "Transfer-Encoding: gzip"})),
            ParseError::kTransferEncodingInHttp10);
}

TEST(RequestHeadTest, BodyLimitIs413) {
  Limits limits;
  limits.max_body_bytes = 100;
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 100"}), limits),
            ParseError::kNone);
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 101"}), limits),
            ParseError::kBodyTooLarge);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kBodyTooLarge), 413);
  limits.max_body_bytes = 0;  // unlimited
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 1000000000"}),
                     limits),
            ParseError::kNone);
}

// ---------------------------------------------------------------------------------------
// parseRequestHead: Expect and keep-alive

TEST(RequestHeadTest, ExpectContinue) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("POST / HTTP/1.1", {"Host: a", "Content-Length: 3",
                                                  "Expect: 100-Continue"}),
                     out),
            ParseError::kNone);
  EXPECT_TRUE(out.expect_continue);
}

TEST(RequestHeadTest, OtherExpectationIs417) {
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Expect: 200-ok"})),
            ParseError::kExpectationFailed);
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Expect: 100-continue, foo"})),
            ParseError::kExpectationFailed);
  EXPECT_EQ(reqError(request("POST / HTTP/1.1", {"Host: a", "Expect:"})),
            ParseError::kExpectationFailed);
  EXPECT_EQ(parseErrorHttpStatus(ParseError::kExpectationFailed), 417);
}

TEST(RequestHeadTest, ExpectContinueIgnoredForHttp10) {
  RequestHead out;
  ASSERT_EQ(parseReq(request("POST / HTTP/1.0", {"Content-Length: 3", "Expect: 100-continue"}),
                     out),
            ParseError::kNone);
  EXPECT_FALSE(out.expect_continue);
}

TEST(RequestHeadTest, KeepAliveRules) {
  struct Case {
    const char* version;
    std::vector<std::string> lines;
    bool keep_alive;
  };
  const Case cases[] = {
      {"HTTP/1.1", {}, true},
      {"HTTP/1.1", {"Connection: close"}, false},
      {"HTTP/1.1", {"Connection: CLOSE"}, false},
      {"HTTP/1.1", {"Connection: keep-alive"}, true},
      {"HTTP/1.1", {"Connection: Upgrade, close"}, false},
      {"HTTP/1.1", {"Connection: te", "Connection: close"}, false},
      {"HTTP/1.1", {"Connection: closed"}, true},
      {"HTTP/1.0", {}, false},
      {"HTTP/1.0", {"Connection: keep-alive"}, true},
      {"HTTP/1.0", {"Connection: Keep-Alive"}, true},
      {"HTTP/1.0", {"Connection: foo ,  keep-alive"}, true},
      {"HTTP/1.0", {"Connection: keep-alive, close"}, false},
      {"HTTP/1.0", {"Connection: keep-alives"}, false},
  };
  for (const Case& c : cases) {
    std::vector<std::string> lines = c.lines;
    lines.push_back("Host: a");
    RequestHead out;
    ASSERT_EQ(parseReq(request("GET / "s + c.version, lines), out), ParseError::kNone);
    EXPECT_EQ(out.keep_alive, c.keep_alive) << c.version << " " << testing::PrintToString(c.lines);
  }
}

TEST(RequestHeadTest, LimitsCheckedWhenParsingDirectly) {
  Limits limits;
  limits.max_request_line = 13;  // "GET / HTTP/1.1" is 14
  EXPECT_EQ(reqError(get({"Host: a"}), limits), ParseError::kUriTooLong);
  limits = Limits{};
  limits.max_header_bytes = 20;
  EXPECT_EQ(reqError(get({"Host: a"}), limits), ParseError::kHeadersTooLarge);
}

// ---------------------------------------------------------------------------------------
// parseResponseHead

ResponseHead resp(std::string head, bool head_request = false) {
  ResponseHead out;
  EXPECT_EQ(parseResponseHead(keep(head), Limits{}, head_request, out), ParseError::kNone)
      << head;
  return out;
}

TEST(ResponseHeadTest, ContentLength) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\n";
  const ResponseHead out = resp(head);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.reason, "OK");
  EXPECT_EQ(out.version_minor, 1);
  EXPECT_EQ(out.body, BodyKind::kContentLength);
  EXPECT_EQ(out.content_length, 5u);
  EXPECT_TRUE(out.keep_alive);
  EXPECT_EQ(out.headers.size(), 2u);
  EXPECT_EQ(out.head_bytes, head.size());
}

TEST(ResponseHeadTest, Chunked) {
  const ResponseHead out = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(out.body, BodyKind::kChunked);
  EXPECT_TRUE(out.keep_alive);
}

TEST(ResponseHeadTest, UntilCloseWithoutFraming) {
  const ResponseHead out = resp("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
  EXPECT_EQ(out.body, BodyKind::kUntilClose);
  EXPECT_FALSE(out.keep_alive);
}

TEST(ResponseHeadTest, ContentLengthZero) {
  const ResponseHead out = resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(out.body, BodyKind::kNone);
  EXPECT_TRUE(out.keep_alive);
}

TEST(ResponseHeadTest, HeadResponseHasNoBody) {
  ResponseHead out = resp("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", true);
  EXPECT_EQ(out.body, BodyKind::kNone);
  EXPECT_TRUE(out.keep_alive);
  out = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true);
  EXPECT_EQ(out.body, BodyKind::kNone);
  out = resp("HTTP/1.1 200 OK\r\n\r\n", true);
  EXPECT_EQ(out.body, BodyKind::kNone);
  EXPECT_TRUE(out.keep_alive);
}

TEST(ResponseHeadTest, NoContentAndNotModifiedHaveNoBody) {
  EXPECT_EQ(resp("HTTP/1.1 204 No Content\r\n\r\n").body, BodyKind::kNone);
  EXPECT_TRUE(resp("HTTP/1.1 204 No Content\r\n\r\n").keep_alive);
  EXPECT_EQ(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").body,
            BodyKind::kNone);
  EXPECT_EQ(resp("HTTP/1.1 304 Not Modified\r\n\r\n").body, BodyKind::kNone);
}

TEST(ResponseHeadTest, InformationalHaveNoBody) {
  EXPECT_EQ(resp("HTTP/1.1 100 Continue\r\n\r\n").body, BodyKind::kNone);
  EXPECT_EQ(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n").body,
            BodyKind::kNone);
  EXPECT_EQ(resp("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n").body, BodyKind::kNone);
}

TEST(ResponseHeadTest, KeepAlive) {
  EXPECT_FALSE(resp("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
                   .keep_alive);
  EXPECT_FALSE(resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").keep_alive);
  EXPECT_TRUE(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n")
                  .keep_alive);
  EXPECT_FALSE(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

TEST(ResponseHeadTest, EmptyReason) {
  const ResponseHead out = resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.reason, "");
  EXPECT_EQ(resp("HTTP/1.1 404 Not  Found\tat all\r\n\r\n").reason, "Not  Found\tat all");
}

TEST(ResponseHeadTest, BadStatusLine) {
  for (const char* bad : {"HTTP/1.1 200\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
                          "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
                          "HTTP/1.1 099 Low\r\n\r\n", "HTTP/1.1 600 High\r\n\r\n",
                          "HTTP/1.1 abc OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n",
                          "HTTP/1.1 200 O\x01K\r\n\r\n", "ICY 200 OK\r\n\r\n", "\r\n\r\n",
                          "HTTP/1.1 200 OK\r\n"}) {
    EXPECT_EQ(respError(bad), ParseError::kBadStatusLine) << testing::PrintToString(bad);
  }
  EXPECT_EQ(respError("HTTP/2.0 200 OK\r\n\r\n"), ParseError::kUnsupportedVersion);
}

TEST(ResponseHeadTest, FramingRulesAsForRequests) {
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"
                      "\r\n\r\n"),
            ParseError::kContentLengthWithTransferEncoding);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
            ParseError::kDuplicateContentLength);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"),
            ParseError::kBadContentLength);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            ParseError::kTransferEncodingNotChunked);
  EXPECT_EQ(respError("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ParseError::kTransferEncodingInHttp10);
}

TEST(ResponseHeadTest, FieldSyntaxRulesAsForRequests) {
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), ParseError::kObsFold);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), ParseError::kWhitespaceBeforeColon);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n"), ParseError::kBadHeaderValue);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\nX: a\r\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\nX: a\rY: b\r\n\r\n"), ParseError::kBareCr);
  EXPECT_EQ(respError("HTTP/1.1 200 OK\r\n\x01X: a\r\n\r\n"), ParseError::kBadHeaderName);
}

TEST(ResponseHeadTest, StatusLineLimit) {
  Limits limits;
  limits.max_request_line = 16;
  ResponseHead out;
  EXPECT_EQ(parseResponseHead("HTTP/1.1 200 OK\r\n\r\n", limits, false, out), ParseError::kNone);
  EXPECT_EQ(parseResponseHead("HTTP/1.1 200 OKAY\r\n\r\n", limits, false, out),
            ParseError::kUriTooLong);
}

TEST(ResponseHeadTest, NoMaxBodyCheck) {
  const ResponseHead out = resp("HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n");
  EXPECT_EQ(out.body, BodyKind::kContentLength);
  EXPECT_EQ(out.content_length, 999999999999u);
}

// ---------------------------------------------------------------------------------------
// ChunkedDecoder

const std::string kChunkedBody =
    "5\r\nhello\r\n"
    "1;name=value\r\n,\r\n"
    "6 ; a ; b = \"q \\\" ;x\" ; c=d\r\n world\r\n"
    "A\r\n0123456789\r\n"
    "0\r\n"
    "Trailer-One: x\r\n"
    "Trailer-Two:   y y  \r\n"
    "\r\n";
const std::string kChunkedData = "hello, world0123456789";

TEST(ChunkedDecoderTest, DecodesWholeInput) {
  const ChunkedOutcome r = decodeWhole(kChunkedBody + "GET /next");
  ASSERT_EQ(r.step, Step::kDone) << parseErrorName(r.error);
  EXPECT_EQ(r.error, ParseError::kNone);
  EXPECT_EQ(r.body, kChunkedData);
  EXPECT_EQ(r.end, kChunkedBody.size());
}

TEST(ChunkedDecoderTest, ByteByByteGivesTheSameData) {
  const ChunkedOutcome r = decodeByteByByte(kChunkedBody + "NEXT");
  ASSERT_EQ(r.step, Step::kDone) << parseErrorName(r.error);
  EXPECT_EQ(r.error, ParseError::kNone);
  EXPECT_EQ(r.body, kChunkedData);
  EXPECT_EQ(r.end, kChunkedBody.size());
}

TEST(ChunkedDecoderTest, EverySplitPointGivesTheSameData) {
  const std::string input = kChunkedBody + "NEXT";
  for (size_t a = 0; a <= input.size(); ++a) {
    const ChunkedOutcome r = decodeChunked(input, {a});
    ASSERT_EQ(r.step, Step::kDone) << a;
    EXPECT_EQ(r.error, ParseError::kNone) << a;
    EXPECT_EQ(r.body, kChunkedData) << a;
    EXPECT_EQ(r.end, kChunkedBody.size()) << a;
  }
}

TEST(ChunkedDecoderTest, EveryPairOfSplitPointsGivesTheSameData) {
  const std::string input = kChunkedBody;
  for (size_t a = 0; a <= input.size(); ++a) {
    for (size_t b = a; b <= input.size(); ++b) {
      const ChunkedOutcome r = decodeChunked(input, {a, b});
      ASSERT_EQ(r.step, Step::kDone) << a << "," << b;
      ASSERT_EQ(r.body, kChunkedData) << a << "," << b;
      ASSERT_EQ(r.end, input.size()) << a << "," << b;
    }
  }
}

TEST(ChunkedDecoderTest, EmptyBody) {
  const ChunkedOutcome r = decodeByteByByte("0\r\n\r\n");
  ASSERT_EQ(r.step, Step::kDone);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.end, 5u);
}

TEST(ChunkedDecoderTest, UpperAndLowerHexAndLeadingZeros) {
  const std::string data(0x1aF, 'z');
  const ChunkedOutcome r = decodeWhole("001aF\r\n" + data + "\r\n0\r\n\r\n");
  ASSERT_EQ(r.step, Step::kDone);
  EXPECT_EQ(r.body, data);
}

TEST(ChunkedDecoderTest, NeedMoreConsumesAllFraming) {
  ChunkedDecoder d{Limits{}};
  ChunkedDecoder::Result r = d.next("1a;x=\"y");
  EXPECT_EQ(r.step, Step::kNeedMore);
  EXPECT_EQ(r.consumed, 7u);
  r = d.next("\"\r\nab");
  EXPECT_EQ(r.step, Step::kData);
  EXPECT_EQ(r.consumed, 3u);
  EXPECT_EQ(r.data_len, 2u);
  EXPECT_EQ(d.bodyBytes(), 2u);
  r = d.next("");
  EXPECT_EQ(r.step, Step::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(ChunkedDecoderTest, ResetStartsOver) {
  ChunkedDecoder d{Limits{}};
  EXPECT_EQ(d.next("zz").step, Step::kError);
  EXPECT_EQ(d.next("0\r\n\r\n").step, Step::kError);  // errors stick until reset
  d.reset();
  const ChunkedDecoder::Result r = d.next("0\r\n\r\n");
  EXPECT_EQ(r.step, Step::kDone);
  EXPECT_EQ(r.consumed, 5u);
  EXPECT_EQ(d.bodyBytes(), 0u);
}

ParseError chunkError(std::string_view input, const Limits& limits = {}) {
  const ChunkedOutcome whole = decodeWhole(input, limits);
  const ChunkedOutcome bytes = decodeByteByByte(input, limits);
  EXPECT_EQ(whole.error, bytes.error) << testing::PrintToString(std::string(input));
  EXPECT_EQ(whole.step, bytes.step);
  return whole.step == Step::kError ? whole.error : ParseError::kNone;
}

TEST(ChunkedDecoderTest, ChunkSizeOverflowRefused) {
  Limits unlimited;
  unlimited.max_body_bytes = 0;
  EXPECT_EQ(chunkError("10000000000000000\r\n", unlimited), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("ffffffffffffffffff\r\n", unlimited), ParseError::kBadChunkSize);
  // More than 16 digits is refused even when the value is small.
  EXPECT_EQ(chunkError("00000000000000001\r\nx\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
  // With a body limit the size is refused as too large before it can overflow.
  EXPECT_EQ(chunkError("ffffffffffffffffff\r\n"), ParseError::kBodyTooLarge);
  EXPECT_EQ(chunkError("ffffffffffffffff\r\n", unlimited), ParseError::kNone);  // need more
  // 1 byte already taken, then a chunk that would wrap the 64-bit total.
  EXPECT_EQ(chunkError("1\r\nx\r\nffffffffffffffff\r\n", unlimited), ParseError::kBadChunkSize);
}

TEST(ChunkedDecoderTest, HexPrefixRefused) {
  EXPECT_EQ(chunkError("0x5\r\nhello\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
}

TEST(ChunkedDecoderTest, NegativeSizeRefused) {
  EXPECT_EQ(chunkError("-1\r\nx\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("+1\r\nx\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
}

TEST(ChunkedDecoderTest, EmptySizeRefused) {
  EXPECT_EQ(chunkError("\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError(";a=b\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("\n"), ParseError::kBadChunkSize);
}

TEST(ChunkedDecoderTest, SpaceAroundSizeRefused) {
  EXPECT_EQ(chunkError(" 5\r\nhello\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("\t5\r\nhello\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("5 5\r\nhello\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("5 \r\nhello\r\n0\r\n\r\n"), ParseError::kBadChunkSize);
}

TEST(ChunkedDecoderTest, NonHexSizeRefused) {
  EXPECT_EQ(chunkError("5g\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("z\r\n"), ParseError::kBadChunkSize);
  EXPECT_EQ(chunkError("5,5\r\n"), ParseError::kBadChunkSize);
}

TEST(ChunkedDecoderTest, ValidChunkExtensions) {
  for (const char* ext : {";a", ";a=b", " ;a", "\t;\ta\t=\tb", ";a=\"\"", ";a=\"x;y=z\"",
                          ";a=\"\\\"\\\\\"", ";a;b;c=d", ";a = b ; c", ";a=\"\xc3\xa9\"",
                          ";!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~"}) {
    const std::string input = "3"s + ext + "\r\nabc\r\n0" + ext + "\r\n\r\n";
    const ChunkedOutcome r = decodeByteByByte(input);
    EXPECT_EQ(r.step, Step::kDone) << ext << " " << parseErrorName(r.error);
    EXPECT_EQ(r.body, "abc") << ext;
  }
}

TEST(ChunkedDecoderTest, BadChunkExtensionsRefused) {
  for (const char* ext : {";", "; ", ";=b", ";a=", ";a= ", ";a=\"x", ";a=\"x\\", ";a b",
                          ";a=b c", ";a=\"x\"y", ";a=(b)", ";a\x01", ";a=\"\x01\"",
                          ";a=\"\x7f\"", ";a=b;", ";a=b ", ";a ", "; a=\"b\" ", " x",
                          ";a=\"\\\x01\"", ";a@b", ";a=b=c"}) {
    const std::string input = "3"s + ext + "\r\nabc\r\n0\r\n\r\n";
    EXPECT_EQ(chunkError(input), ParseError::kBadChunkExtension)
        << testing::PrintToString(std::string(ext));
  }
}

TEST(ChunkedDecoderTest, NulInChunkExtensionRefused) {
  EXPECT_EQ(chunkError("3;a"s + '\0' + "\r\nabc\r\n0\r\n\r\n"), ParseError::kBadChunkExtension);
  EXPECT_EQ(chunkError("3;a=\""s + '\0' + "\"\r\nabc\r\n0\r\n\r\n"),
            ParseError::kBadChunkExtension);
}

TEST(ChunkedDecoderTest, LfInsideQuotedExtensionRefused) {
  EXPECT_EQ(chunkError("3;a=\"x\ny\"\r\nabc\r\n0\r\n\r\n"), ParseError::kBadChunkExtension);
  EXPECT_EQ(chunkError("3;a=\"x\r\nabc\r\n0\r\n\r\n"), ParseError::kBadChunkExtension);
}

TEST(ChunkedDecoderTest, SizeLineCappedAt4096Bytes) {
  const std::string ext_ok = ";a=\"" + std::string(4096 - 6, 'x') + "\"";  // line = 4096
  const std::string ok = "3" + ext_ok + "\r\nabc\r\n0\r\n\r\n";
  ASSERT_EQ(ok.find('\r'), 4096u);
  EXPECT_EQ(chunkError(ok), ParseError::kNone);
  EXPECT_EQ(decodeWhole(ok).step, Step::kDone);
  const std::string ext_long = ";a=\"" + std::string(4096 - 5, 'x') + "\"";  // line = 4097
  EXPECT_EQ(chunkError("3" + ext_long + "\r\nabc\r\n0\r\n\r\n"), ParseError::kBadChunkExtension);
  // Refused as soon as the line passes the cap, without waiting for its end.
  EXPECT_EQ(chunkError("3;a=\"" + std::string(5000, 'x')), ParseError::kBadChunkExtension);
}

TEST(ChunkedDecoderTest, BareLfInSizeLineRefused) {
  EXPECT_EQ(chunkError("5\nhello\r\n0\r\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(chunkError("5;a=b\nhello\r\n0\r\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(chunkError("5;a\nhello\r\n0\r\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(chunkError("5\r\nhello\r\n0\n\r\n"), ParseError::kBareLf);
}

TEST(ChunkedDecoderTest, BareCrInSizeLineRefused) {
  EXPECT_EQ(chunkError("5\rhello\r\n0\r\n\r\n"), ParseError::kBareCr);
  EXPECT_EQ(chunkError("5;a=b\r\rhello\r\n0\r\n\r\n"), ParseError::kBareCr);
}

TEST(ChunkedDecoderTest, ChunkDataMustEndWithCrlf) {
  EXPECT_EQ(chunkError("5\r\nhelloX\r\n0\r\n\r\n"), ParseError::kBadChunkTerminator);
  EXPECT_EQ(chunkError("5\r\nhello\n0\r\n\r\n"), ParseError::kBadChunkTerminator);
  EXPECT_EQ(chunkError("5\r\nhello\rX0\r\n\r\n"), ParseError::kBadChunkTerminator);
  EXPECT_EQ(chunkError("5\r\nhello0\r\n\r\n"), ParseError::kBadChunkTerminator);
}

TEST(ChunkedDecoderTest, LastChunkWithoutFinalCrlfNeedsMore) {
  const ChunkedOutcome r = decodeByteByByte("5\r\nhello\r\n0\r\n");
  EXPECT_EQ(r.step, Step::kNeedMore);
  EXPECT_EQ(r.body, "hello");
}

TEST(ChunkedDecoderTest, FinalCrlfMustBeExact) {
  EXPECT_EQ(chunkError("0\r\n\rX"), ParseError::kBareCr);
  EXPECT_EQ(chunkError("0\r\n\n"), ParseError::kBareLf);
}

TEST(ChunkedDecoderTest, TrailerFieldsAreValidated) {
  EXPECT_EQ(chunkError("0\r\nA: b\r\n\r\n"), ParseError::kNone);
  EXPECT_EQ(chunkError("0\r\nA:\r\n\r\n"), ParseError::kNone);
  EXPECT_EQ(chunkError("0\r\nA: b\r\n c\r\n\r\n"), ParseError::kObsFold);
  EXPECT_EQ(chunkError("0\r\n\tA: b\r\n\r\n"), ParseError::kObsFold);
  EXPECT_EQ(chunkError("0\r\nA : b\r\n\r\n"), ParseError::kWhitespaceBeforeColon);
  EXPECT_EQ(chunkError("0\r\nA b: c\r\n\r\n"), ParseError::kBadTrailer);
  EXPECT_EQ(chunkError("0\r\nNoColon\r\n\r\n"), ParseError::kBadTrailer);
  EXPECT_EQ(chunkError("0\r\n: x\r\n\r\n"), ParseError::kBadTrailer);
  EXPECT_EQ(chunkError("0\r\nA"s + '\0' + ": b\r\n\r\n"), ParseError::kBadTrailer);
  EXPECT_EQ(chunkError("0\r\nA: b"s + '\0' + "\r\n\r\n"), ParseError::kBadHeaderValue);
  EXPECT_EQ(chunkError("0\r\nA: b\x7f\r\n\r\n"), ParseError::kBadHeaderValue);
  EXPECT_EQ(chunkError("0\r\nA: b\nC: d\r\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(chunkError("0\r\nA: b\rC: d\r\n\r\n"), ParseError::kBareCr);
}

TEST(ChunkedDecoderTest, TrailerSectionLimitIs431) {
  Limits limits;
  limits.max_header_bytes = 32;
  // "A: " + 25 bytes + CRLF + CRLF: 32 trailer bytes.
  EXPECT_EQ(chunkError("0\r\nA: " + std::string(25, 'x') + "\r\n\r\n", limits),
            ParseError::kNone);
  EXPECT_EQ(chunkError("0\r\nA: " + std::string(26, 'x') + "\r\n\r\n", limits),
            ParseError::kHeadersTooLarge);
  limits.max_header_bytes = 1 << 20;
  limits.max_headers = 2;
  EXPECT_EQ(chunkError("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits),
            ParseError::kTooManyHeaders);
}

TEST(ChunkedDecoderTest, BodyLimitIs413AsSoonAsAnnounced) {
  Limits limits;
  limits.max_body_bytes = 10;
  EXPECT_EQ(chunkError("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", limits), ParseError::kNone);
  // The size line alone is enough: no data needs to arrive.
  EXPECT_EQ(chunkError("b", limits), ParseError::kBodyTooLarge);
  EXPECT_EQ(chunkError("5\r\nhello\r\n6\r\n", limits), ParseError::kBodyTooLarge);
  EXPECT_EQ(chunkError("5\r\nhello\r\n6", limits), ParseError::kBodyTooLarge);
  limits.max_body_bytes = 0;  // unlimited
  EXPECT_EQ(chunkError("1000000\r\n", limits), ParseError::kNone);
}

TEST(ChunkedDecoderTest, ConsumedEndsRightAfterFinalLf) {
  ChunkedDecoder d{Limits{}};
  const ChunkedDecoder::Result r = d.next("0\r\nA: b\r\n\r\nPOST / HTTP/1.1\r\n");
  EXPECT_EQ(r.step, Step::kDone);
  EXPECT_EQ(r.consumed, 11u);
}

}  // namespace
}  // namespace stepgate::proxy::http1
