// libFuzzer target for the HTTP/1.1 codec (proxy/http1/parser.h) and the path normaliser.
//
// Input layout: byte 0 seeds the split points, byte 1 holds flags, the rest is the message.
// Checked beyond "no crash, no sanitizer report":
//  - findHeadEnd fed in pieces gives exactly what it gives on the whole input;
//  - a parsed head's views lie inside the head, and head_bytes equals the scanned length;
//  - ChunkedDecoder keeps its contract (need-more consumes everything, data lies inside the
//    input) and decodes the same bytes, to the same end or error, however the input is split;
//  - a normalised path starts with '/' and has no "." or ".." segments.

#include "tests/fuzz/fuzz_check.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/bearer.h"
#include "proxy/http1/parser.h"
#include "proxy/http1/path_normalize.h"

namespace {

using stepgate::proxy::http1::BodyKind;
using stepgate::proxy::http1::ChunkedDecoder;
using stepgate::proxy::http1::HeadScan;
using stepgate::proxy::http1::Limits;
using stepgate::proxy::http1::ParseError;
using stepgate::proxy::http1::RequestHead;
using stepgate::proxy::http1::ResponseHead;


constexpr uint8_t kSmallLimits = 1 << 0;
constexpr uint8_t kHeadRequest = 1 << 1;
constexpr uint8_t kBodyOnly = 1 << 2;  // the message is a chunked body, no head

// Split points for `size` bytes from a small seed: pieces of 1..16 bytes.
std::vector<size_t> cutsFor(size_t size, uint8_t seed) {
  std::vector<size_t> cuts;
  uint32_t x = seed * 2654435761u + 1;
  size_t at = 0;
  while (true) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    at += 1 + x % ((seed & 15) + 1);
    if (at >= size) {
      break;
    }
    cuts.push_back(at);
  }
  return cuts;
}

HeadScan scanInPieces(std::string_view in, const std::vector<size_t>& cuts,
                      const Limits& limits) {
  size_t scanned = 0;
  for (size_t cut : cuts) {
    const HeadScan r = findHeadEnd(in.substr(0, cut), scanned, limits);
    if (r.state != HeadScan::State::kNeedMore) {
      return r;
    }
  }
  return findHeadEnd(in, scanned, limits);
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() &&
                          part.data() + part.size() <= whole.data() + whole.size());
}

struct Decoded {
  ChunkedDecoder::Step step = ChunkedDecoder::Step::kNeedMore;
  ParseError error = ParseError::kNone;
  std::string body;
  size_t end = 0;
};

Decoded decode(std::string_view in, std::vector<size_t> cuts, const Limits& limits) {
  cuts.push_back(in.size());
  ChunkedDecoder decoder(limits);
  Decoded out;
  size_t pos = 0;
  size_t next_cut = 0;
  size_t avail = cuts[0];
  for (;;) {
    const std::string_view piece = in.substr(pos, avail - pos);
    const ChunkedDecoder::Result r = decoder.next(piece);
    switch (r.step) {
      case ChunkedDecoder::Step::kNeedMore:
        FUZZ_CHECK(r.consumed == piece.size());
        pos = avail;
        if (next_cut + 1 >= cuts.size()) {
          out.step = r.step;
          out.end = pos;
          return out;
        }
        avail = cuts[++next_cut];
        break;
      case ChunkedDecoder::Step::kData:
        FUZZ_CHECK(r.data_len > 0);
        FUZZ_CHECK(r.consumed + r.data_len <= piece.size());
        pos += r.consumed;
        out.body.append(in.substr(pos, r.data_len));
        pos += r.data_len;
        FUZZ_CHECK(decoder.bodyBytes() == out.body.size());
        if (limits.max_body_bytes != 0) {
          FUZZ_CHECK(decoder.bodyBytes() <= limits.max_body_bytes);
        }
        break;
      case ChunkedDecoder::Step::kDone:
        FUZZ_CHECK(r.consumed <= piece.size());
        out.step = r.step;
        out.end = pos + r.consumed;
        FUZZ_CHECK(out.end >= 5);  // at least "0\r\n\r\n"
        FUZZ_CHECK(in.substr(out.end - 2, 2) == "\r\n");
        return out;
      case ChunkedDecoder::Step::kError:
        FUZZ_CHECK(r.error != ParseError::kNone);
        out.step = r.step;
        out.error = r.error;
        out.end = pos + r.consumed;
        return out;
    }
  }
}

void checkChunked(std::string_view body, uint8_t seed, const Limits& limits) {
  const Decoded whole = decode(body, {}, limits);
  const Decoded split = decode(body, cutsFor(body.size(), seed), limits);
  FUZZ_CHECK(whole.step == split.step);
  FUZZ_CHECK(whole.error == split.error);
  FUZZ_CHECK(whole.body == split.body);
  if (whole.step != ChunkedDecoder::Step::kNeedMore) {
    FUZZ_CHECK(whole.end == split.end);
  }
}

void checkPath(std::string_view path) {
  static std::string out;
  const stepgate::proxy::PathError e =
      stepgate::proxy::normalizePath(path, stepgate::proxy::PathOptions{}, out);
  if (e != stepgate::proxy::PathError::kNone) {
    return;
  }
  const std::string_view n = out;
  FUZZ_CHECK(!n.empty() && n.front() == '/');
  FUZZ_CHECK(n.find("/./") == std::string_view::npos);
  FUZZ_CHECK(n.find("/../") == std::string_view::npos);
  FUZZ_CHECK(n != "/." && n != "/..");
  FUZZ_CHECK(n.size() < 2 || n.substr(n.size() - 2) != "/.");
  FUZZ_CHECK(n.size() < 3 || n.substr(n.size() - 3) != "/..");
}

void checkRequest(std::string_view head, std::string_view rest, uint8_t seed,
                  const Limits& limits) {
  static RequestHead req;
  if (parseRequestHead(head, limits, req) != ParseError::kNone) {
    return;
  }
  FUZZ_CHECK(req.head_bytes == head.size());
  FUZZ_CHECK(inside(req.method, head) && !req.method.empty());
  FUZZ_CHECK(inside(req.target, head));
  FUZZ_CHECK(inside(req.query, head));
  FUZZ_CHECK(inside(req.host, head));
  FUZZ_CHECK(inside(req.path, head) || req.path == "/");
  FUZZ_CHECK(req.headers.size() <= limits.max_headers);
  for (const auto& h : req.headers) {
    FUZZ_CHECK(inside(h.name, head) && inside(h.value, head) && !h.name.empty());
  }
  FUZZ_CHECK(req.version_minor == 0 || req.version_minor == 1);
  // The bearer token, when there is one, is a token68 view inside the head.
  const stepgate::proxy::BearerToken bearer = stepgate::proxy::findBearerToken(req.headers);
  if (bearer.status == stepgate::proxy::BearerStatus::kOk) {
    FUZZ_CHECK(!bearer.token.empty() && inside(bearer.token, head));
    FUZZ_CHECK(bearer.token.find_first_of(" ,\t") == std::string_view::npos);
  }
  FUZZ_CHECK(req.body != BodyKind::kUntilClose);
  FUZZ_CHECK((req.body == BodyKind::kContentLength) == (req.content_length != 0));
  if (limits.max_body_bytes != 0) {
    FUZZ_CHECK(req.content_length <= limits.max_body_bytes);
  }
  if (req.form != stepgate::proxy::http1::TargetForm::kAsterisk) {
    FUZZ_CHECK(!req.path.empty() && req.path.front() == '/');
    checkPath(req.path);
  }
  if (req.body == BodyKind::kChunked) {
    checkChunked(rest, seed, limits);
  }
}

void checkResponse(std::string_view head, std::string_view rest, uint8_t seed,
                   const Limits& limits, bool head_request) {
  static ResponseHead resp;
  if (parseResponseHead(head, limits, head_request, resp) != ParseError::kNone) {
    return;
  }
  FUZZ_CHECK(resp.head_bytes == head.size());
  FUZZ_CHECK(resp.status >= 100 && resp.status <= 599);
  FUZZ_CHECK(inside(resp.reason, head));
  for (const auto& h : resp.headers) {
    FUZZ_CHECK(inside(h.name, head) && inside(h.value, head) && !h.name.empty());
  }
  if (resp.body == BodyKind::kUntilClose) {
    FUZZ_CHECK(!resp.keep_alive);
  }
  if (head_request) {
    FUZZ_CHECK(resp.body == BodyKind::kNone);
  }
  if (resp.body == BodyKind::kChunked) {
    checkChunked(rest, seed, limits);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  const uint8_t seed = data[0];
  const uint8_t flags = data[1];
  const std::string_view msg(reinterpret_cast<const char*>(data + 2), size - 2);

  Limits limits;
  if (flags & kSmallLimits) {
    limits.max_request_line = 64;
    limits.max_header_bytes = 256;
    limits.max_headers = 8;
    limits.max_body_bytes = 1000;
  }
  if (flags & kBodyOnly) {
    checkChunked(msg, seed, limits);
    return 0;
  }

  size_t scanned = 0;
  const HeadScan whole = findHeadEnd(msg, scanned, limits);
  const HeadScan split = scanInPieces(msg, cutsFor(msg.size(), seed), limits);
  FUZZ_CHECK(whole.state == split.state);
  FUZZ_CHECK(whole.error == split.error);
  FUZZ_CHECK(whole.head_len == split.head_len);
  if (whole.state != HeadScan::State::kComplete) {
    FUZZ_CHECK(whole.error != ParseError::kNone || whole.state == HeadScan::State::kNeedMore);
    return 0;
  }
  FUZZ_CHECK(whole.head_len <= msg.size() && whole.head_len <= limits.max_header_bytes);
  const std::string_view head = msg.substr(0, whole.head_len);
  FUZZ_CHECK(head.size() >= 4 && head.substr(head.size() - 2) == "\r\n");
  const std::string_view rest = msg.substr(whole.head_len);
  checkRequest(head, rest, seed, limits);
  checkResponse(head, rest, seed, limits, (flags & kHeadRequest) != 0);
  return 0;
}
