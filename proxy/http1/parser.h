#pragma once
// The HTTP/1.1 message codec: a strict, allocation-free parser for request and response heads
// (RFC 9110/9112) and an incremental chunked-body decoder.
//
// Why our own and not http-parser: every byte the policy sees must be the byte the upstream
// gets, so the codec must refuse, not repair, every ambiguity listed in RFC 9112 section 11
// (request smuggling). Debian's http-parser 2.9 accepts bare LF in chunk lines, arbitrary
// chunk-extension bytes and obs-fold, and cannot be made stricter at run time. The parser here
// is a pure state machine over caller-owned bytes (nginx's model); tests compare it with
// http-parser on valid input (tests/unit/http1/http1_parser_differential_test.cc).
//
// Threading: all functions are pure or operate on caller-owned objects; no shared state.
// Views in RequestHead/ResponseHead point into the caller's buffer and are valid only while
// that buffer is unchanged.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/ascii.h"

namespace stepgate::proxy::http1 {

// Every way a message can be refused. Each has a stable snake_case name (metrics label,
// logs) and an HTTP status (for requests; responses from an upstream that fail become 502).
enum class ParseError : uint8_t {
  kNone = 0,
  kBadRequestLine,             // 400
  kBadMethod,                  // 400
  kBadTarget,                  // 400: not origin-, absolute- or asterisk-form; bad bytes
  kUnsupportedVersion,         // 505: HTTP/x.y other than 1.0 and 1.1
  kBadVersion,                 // 400
  kBareCr,                     // 400: CR not followed by LF
  kBareLf,                     // 400: LF not preceded by CR
  kObsFold,                    // 400: header line starting with SP or HTAB
  kBadHeaderName,              // 400: empty or non-token name
  kWhitespaceBeforeColon,      // 400
  kBadHeaderValue,             // 400: NUL or other CTL (except HTAB) in a value
  kMissingHost,                // 400: HTTP/1.1 request without Host
  kDuplicateHost,              // 400
  kBadHost,                    // 400
  kAbsoluteFormHostMismatch,   // 400: absolute-form authority differs from Host
  kAuthorityForm,              // 405: CONNECT / authority-form is not proxied
  kBadContentLength,           // 400: not 1*DIGIT, or too large
  kDuplicateContentLength,     // 400: repeated, even if equal, or a comma list
  kContentLengthWithTransferEncoding,  // 400
  kTransferEncodingNotChunked,         // 501: anything but exactly one final "chunked"
  kTransferEncodingInHttp10,           // 400
  kBadChunkSize,               // 400
  kBadChunkExtension,          // 400
  kBadChunkTerminator,         // 400: chunk data not followed by CRLF
  kBadTrailer,                 // 400
  kExpectationFailed,          // 417: Expect other than 100-continue
  kUriTooLong,                 // 414
  kHeadersTooLarge,            // 431
  kTooManyHeaders,             // 431
  kBodyTooLarge,               // 413
  kBadStatusLine,              // responses only
  kCount,
};

// Stable snake_case name, e.g. "content_length_with_transfer_encoding".
const char* parseErrorName(ParseError e) noexcept;
// The status a request refused for `e` is answered with (400, 405, 413, 414, 417, 431, 501, 505).
int parseErrorHttpStatus(ParseError e) noexcept;

struct Limits {
  size_t max_request_line = 8192;   // request line or status line, without CRLF (414)
  size_t max_header_bytes = 32768;  // whole head including request line (431)
  size_t max_headers = 100;         // header fields (431)
  uint64_t max_body_bytes = 16ull << 20;  // decoded body; 0 = unlimited (413)
};

struct Header {
  std::string_view name;   // as sent; compare case-insensitively
  std::string_view value;  // leading/trailing OWS removed
};

enum class BodyKind : uint8_t {
  kNone,
  kContentLength,
  kChunked,
  kUntilClose,  // responses only: delimited by the connection closing
};

enum class TargetForm : uint8_t { kOrigin, kAbsolute, kAsterisk };

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as sent
  std::string_view path;    // origin-form path (from an absolute-form target too), before '?'
  std::string_view query;   // after '?', without it; empty if none
  bool has_query = false;
  TargetForm form = TargetForm::kOrigin;
  int version_minor = 1;    // HTTP/1.<minor>: 0 or 1
  std::string_view host;    // Host header value (or absolute-form authority)
  std::vector<Header> headers;  // caller may reserve(); reused across requests
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  size_t head_bytes = 0;    // bytes of the head including the blank line

  void clear() noexcept;
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  std::vector<Header> headers;
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  size_t head_bytes = 0;

  void clear() noexcept;
};

// Result of looking for the end of a message head.
struct HeadScan {
  enum class State : uint8_t { kNeedMore, kComplete, kError };
  State state = State::kNeedMore;
  size_t head_len = 0;      // when kComplete: bytes through the blank line's LF
  ParseError error = ParseError::kNone;
};

// Looks for the blank line that ends a head in `data` (the unread bytes, from the head's
// first byte). `scanned` carries progress between calls so a slow sender costs O(n) in all;
// set it to 0 for a new message. Enforces the request/status-line limit (kUriTooLong) and the
// head size limit (kHeadersTooLarge) as soon as they are exceeded, and refuses bare CR and
// bare LF as soon as they are seen. For requests, leading empty lines (CRLF) before the
// request line are tolerated as RFC 9112 2.2 allows and counted in head_len (and against
// max_request_line). Costs O(new bytes) per call, plus at most max_request_line while the
// first line is incomplete.
HeadScan findHeadEnd(std::string_view data, size_t& scanned, const Limits& limits) noexcept;

// Parses a complete request head (as delimited by findHeadEnd). Fills `out` (cleared first).
// Returns kNone on success.
ParseError parseRequestHead(std::string_view head, const Limits& limits,
                            RequestHead& out) noexcept;

// Parses a complete response head. `request_method_head` and a 1xx/204/304 status mean no
// body. Returns kNone on success.
ParseError parseResponseHead(std::string_view head, const Limits& limits,
                             bool request_method_head, ResponseHead& out) noexcept;

// Incremental decoder for a chunked body (RFC 9112 7.1). It is fed the unread input a span
// at a time and never copies data: it either consumes framing bytes (size lines, CRLFs,
// trailers) or reports how many of the following bytes are body data, which the caller moves
// on by itself (e.g. evbuffer_remove_buffer). Chunk extensions are validated and dropped;
// trailer fields are validated and dropped. Not thread-safe; one per message.
class ChunkedDecoder {
 public:
  enum class Step : uint8_t {
    kNeedMore,  // all of `in` consumed as framing (consumed == in.size()); feed more
    kData,      // skip `consumed` framing bytes, then the next `data_len` bytes are body data
    kDone,      // body complete after `consumed` bytes; anything after belongs to the next message
    kError,
  };
  struct Result {
    Step step = Step::kNeedMore;
    size_t consumed = 0;
    size_t data_len = 0;
    ParseError error = ParseError::kNone;
  };

  explicit ChunkedDecoder(const Limits& limits) noexcept : limits_(limits) {}
  void reset() noexcept;

  // REQUIRES: after kData the caller has taken exactly `data_len` bytes beyond `consumed`
  // before calling again; after kDone or kError, reset() before reuse.
  Result next(std::string_view in) noexcept;

  uint64_t bodyBytes() const noexcept { return body_bytes_; }

 private:
  enum class State : uint8_t {
    kSize, kSizeLf, kData, kDataCr, kDataLf,
    kTrailerStart, kTrailerLine, kTrailerLf, kFinalLf, kDone, kError,
  };
  Result fail(ParseError e, size_t consumed) noexcept;
  ParseError sizeLineByte(uint8_t c) noexcept;     // one byte of a chunk-size line
  ParseError trailerLineByte(uint8_t c) noexcept;  // one byte of a trailer field line

  Limits limits_;
  State state_ = State::kSize;
  ParseError error_ = ParseError::kNone;  // once kError
  uint64_t chunk_remaining_ = 0;  // while in a size line: the size so far
  uint64_t body_bytes_ = 0;       // data bytes handed out
  uint32_t line_bytes_ = 0;       // bytes in the current size line
  uint32_t trailer_bytes_ = 0;    // bytes of the whole trailer section
  uint32_t trailer_fields_ = 0;
  uint8_t size_digits_ = 0;
  uint8_t ext_state_ = 0;         // sub-state after the size digits (extensions)
  uint8_t trailer_state_ = 0;     // sub-state inside a trailer field line
};

// Case-insensitive ASCII comparison for header names and tokens.
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  return equalsIgnoreAsciiCase(a, b);
}

}  // namespace stepgate::proxy::http1
