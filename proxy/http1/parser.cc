#include "proxy/http1/parser.h"

#include <array>
#include <limits>

namespace stepgate::proxy::http1 {
namespace {

constexpr uint64_t kMaxContentLength = uint64_t{1} << 62;
constexpr size_t kMaxChunkSizeDigits = 16;
constexpr uint32_t kMaxChunkSizeLine = 4096;
// Absolute-form targets without a path ("http://a.example") stand for "/".
constexpr std::string_view kRootPath = "/";

constexpr bool isDigit(uint8_t c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool isAlpha(uint8_t c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool isHexDigit(uint8_t c) noexcept {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr uint8_t hexValue(uint8_t c) noexcept {
  return isDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}
constexpr bool isWs(uint8_t c) noexcept { return c == ' ' || c == '\t'; }

// RFC 9110 5.6.2: tchar.
constexpr std::array<bool, 256> makeTcharTable() noexcept {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = isDigit(c) || isAlpha(c);
  }
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[static_cast<uint8_t>(c)] = true;
  }
  return t;
}
constexpr std::array<bool, 256> kTchar = makeTcharTable();
constexpr bool isTchar(uint8_t c) noexcept { return kTchar[c]; }

// A field-value byte (RFC 9110 5.5): HTAB, SP, VCHAR, obs-text.
constexpr bool isFieldValueByte(uint8_t c) noexcept {
  return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

bool isToken(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!isTchar(static_cast<uint8_t>(c))) {
      return false;
    }
  }
  return true;
}

std::string_view trimOws(std::string_view s) noexcept {
  while (!s.empty() && isWs(static_cast<uint8_t>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && isWs(static_cast<uint8_t>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// Number of bytes of leading empty lines (CRLF pairs) at the start of `data`.
size_t leadingEmptyLines(std::string_view data) noexcept {
  size_t i = 0;
  while (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') {
    i += 2;
  }
  return i;
}

// Reads the CRLF-terminated line starting at `pos` into `line` (without the CRLF) and moves
// `pos` past its LF. A line that does not end in the head yields `incomplete`.
ParseError readLine(std::string_view head, size_t& pos, std::string_view& line,
                    ParseError incomplete) noexcept {
  for (size_t i = pos; i < head.size(); ++i) {
    const char c = head[i];
    if (c == '\n') {
      return ParseError::kBareLf;
    }
    if (c == '\r') {
      if (i + 1 == head.size()) {
        return incomplete;
      }
      if (head[i + 1] != '\n') {
        return ParseError::kBareCr;
      }
      line = head.substr(pos, i - pos);
      pos = i + 2;
      return ParseError::kNone;
    }
  }
  return incomplete;
}

bool parsePort(std::string_view port) noexcept {
  if (port.empty() || port.size() > 5) {
    return false;
  }
  uint32_t v = 0;
  for (char c : port) {
    if (!isDigit(static_cast<uint8_t>(c))) {
      return false;
    }
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535;
}

// host [ ":" port ] where host is a reg-name of unreserved characters, an IPv4 address (a
// special case of that) or a bracketed IPv6 address. Percent-encoding and sub-delims are
// refused: a name that needs them cannot be routed.
bool isValidHost(std::string_view v) noexcept {
  if (v.empty()) {
    return false;
  }
  std::string_view rest;
  if (v.front() == '[') {
    const size_t close = v.find(']');
    if (close == std::string_view::npos || close < 3) {
      return false;
    }
    bool colon = false;
    for (char c : v.substr(1, close - 1)) {
      const auto u = static_cast<uint8_t>(c);
      if (c == ':') {
        colon = true;
      } else if (!isHexDigit(u) && c != '.') {
        return false;
      }
    }
    if (!colon) {
      return false;
    }
    rest = v.substr(close + 1);
  } else {
    size_t i = 0;
    for (; i < v.size() && v[i] != ':'; ++i) {
      const auto u = static_cast<uint8_t>(v[i]);
      if (!isAlpha(u) && !isDigit(u) && v[i] != '-' && v[i] != '.' && v[i] != '_' &&
          v[i] != '~') {
        return false;
      }
    }
    if (i == 0) {
      return false;
    }
    rest = v.substr(i);
  }
  if (rest.empty()) {
    return true;
  }
  return rest.front() == ':' && parsePort(rest.substr(1));
}

// Splits `pq` (starting with '/') at the first '?'.
void splitPathQuery(std::string_view pq, RequestHead& out) noexcept {
  const size_t q = pq.find('?');
  if (q == std::string_view::npos) {
    out.path = pq;
    return;
  }
  out.path = pq.substr(0, q);
  out.query = pq.substr(q + 1);
  out.has_query = true;
}

// Returns 1 or 0 for "HTTP/1.1" / "HTTP/1.0", -1 for another "HTTP/d.d", -2 otherwise.
int parseVersion(std::string_view v) noexcept {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' ||
      !isDigit(v[7])) {
    return -2;
  }
  if (v[5] == '1' && (v[7] == '0' || v[7] == '1')) {
    return v[7] - '0';
  }
  return -1;
}

// What the header fields say about framing and connection handling.
struct FieldFacts {
  size_t host_count = 0;
  std::string_view host;
  bool bad_host = false;
  bool has_content_length = false;
  uint64_t content_length = 0;
  size_t te_count = 0;
  bool te_chunked = false;  // the last TE header's value is exactly "chunked"
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool expect_continue = false;
  bool expect_other = false;
};

ParseError parseContentLength(std::string_view v, FieldFacts& facts) noexcept {
  if (facts.has_content_length || v.find(',') != std::string_view::npos) {
    return ParseError::kDuplicateContentLength;
  }
  if (v.empty()) {
    return ParseError::kBadContentLength;
  }
  uint64_t n = 0;
  for (char c : v) {
    if (!isDigit(static_cast<uint8_t>(c))) {
      return ParseError::kBadContentLength;
    }
    const auto d = static_cast<uint64_t>(c - '0');
    if (n > (kMaxContentLength - d) / 10) {
      return ParseError::kBadContentLength;
    }
    n = n * 10 + d;
  }
  facts.has_content_length = true;
  facts.content_length = n;
  return ParseError::kNone;
}

void parseConnection(std::string_view v, FieldFacts& facts) noexcept {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view token = trimOws(v.substr(0, comma));
    if (equalsIgnoreCase(token, "close")) {
      facts.connection_close = true;
    } else if (equalsIgnoreCase(token, "keep-alive")) {
      facts.connection_keep_alive = true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    v.remove_prefix(comma + 1);
  }
}

// Parses one field line (RFC 9112 5) into `header`.
ParseError parseFieldLine(std::string_view line, Header& header) noexcept {
  if (isWs(static_cast<uint8_t>(line.front()))) {
    return ParseError::kObsFold;
  }
  size_t i = 0;
  while (i < line.size() && isTchar(static_cast<uint8_t>(line[i]))) {
    ++i;
  }
  if (i == line.size()) {
    return ParseError::kBadHeaderName;
  }
  if (line[i] != ':') {
    if (i > 0 && isWs(static_cast<uint8_t>(line[i]))) {
      size_t j = i;
      while (j < line.size() && isWs(static_cast<uint8_t>(line[j]))) {
        ++j;
      }
      if (j < line.size() && line[j] == ':') {
        return ParseError::kWhitespaceBeforeColon;
      }
    }
    return ParseError::kBadHeaderName;
  }
  if (i == 0) {
    return ParseError::kBadHeaderName;
  }
  const std::string_view value = line.substr(i + 1);
  for (char c : value) {
    if (!isFieldValueByte(static_cast<uint8_t>(c))) {
      return ParseError::kBadHeaderValue;
    }
  }
  header.name = line.substr(0, i);
  header.value = trimOws(value);
  return ParseError::kNone;
}

// Parses the field lines from `pos` through the blank line; `pos` ends after the blank line.
ParseError parseFields(std::string_view head, size_t& pos, const Limits& limits,
                       bool is_request, ParseError incomplete, std::vector<Header>& headers,
                       FieldFacts& facts) noexcept {
  for (;;) {
    std::string_view line;
    if (ParseError e = readLine(head, pos, line, incomplete); e != ParseError::kNone) {
      return e;
    }
    if (line.empty()) {
      return ParseError::kNone;
    }
    Header h;
    if (ParseError e = parseFieldLine(line, h); e != ParseError::kNone) {
      return e;
    }
    if (headers.size() >= limits.max_headers) {
      return ParseError::kTooManyHeaders;
    }
    headers.push_back(h);

    if (equalsIgnoreCase(h.name, "content-length")) {
      if (ParseError e = parseContentLength(h.value, facts); e != ParseError::kNone) {
        return e;
      }
    } else if (equalsIgnoreCase(h.name, "transfer-encoding")) {
      ++facts.te_count;
      facts.te_chunked = equalsIgnoreCase(h.value, "chunked");
    } else if (equalsIgnoreCase(h.name, "connection")) {
      parseConnection(h.value, facts);
    } else if (is_request && equalsIgnoreCase(h.name, "host")) {
      if (++facts.host_count > 1) {
        return ParseError::kDuplicateHost;
      }
      facts.host = h.value;
      if (!isValidHost(h.value)) {
        return ParseError::kBadHost;
      }
    } else if (is_request && equalsIgnoreCase(h.name, "expect")) {
      if (equalsIgnoreCase(h.value, "100-continue")) {
        facts.expect_continue = true;
      } else {
        facts.expect_other = true;
      }
    }
  }
}

// The Content-Length / Transfer-Encoding rules shared by requests and responses.
ParseError checkFraming(const FieldFacts& facts, int version_minor) noexcept {
  if (facts.te_count == 0) {
    return ParseError::kNone;
  }
  if (facts.has_content_length) {
    return ParseError::kContentLengthWithTransferEncoding;
  }
  if (version_minor == 0) {
    return ParseError::kTransferEncodingInHttp10;
  }
  if (facts.te_count != 1 || !facts.te_chunked) {
    return ParseError::kTransferEncodingNotChunked;
  }
  return ParseError::kNone;
}

bool keepAlive(const FieldFacts& facts, int version_minor) noexcept {
  if (facts.connection_close) {
    return false;
  }
  return version_minor == 1 || facts.connection_keep_alive;
}

// Classifies the request target (RFC 9112 3.2) and fills path/query/form.
ParseError parseTarget(std::string_view method, std::string_view target,
                       RequestHead& out) noexcept {
  for (char c : target) {
    const auto u = static_cast<uint8_t>(c);
    if (u < 0x21 || u > 0x7e || c == '#') {
      return ParseError::kBadTarget;
    }
  }
  if (method == "CONNECT") {
    return ParseError::kAuthorityForm;
  }
  if (target.front() == '/') {
    out.form = TargetForm::kOrigin;
    splitPathQuery(target, out);
    return ParseError::kNone;
  }
  if (target == "*") {
    if (method != "OPTIONS") {
      return ParseError::kBadTarget;
    }
    out.form = TargetForm::kAsterisk;
    out.path = target;
    return ParseError::kNone;
  }
  std::string_view rest;
  if (startsWithIgnoreCase(target, "http://")) {
    rest = target.substr(7);
  } else if (startsWithIgnoreCase(target, "https://")) {
    rest = target.substr(8);
  } else {
    if (target.find(':') != std::string_view::npos && isValidHost(target)) {
      return ParseError::kAuthorityForm;
    }
    return ParseError::kBadTarget;
  }
  const size_t end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, end);
  if (!isValidHost(authority)) {
    return ParseError::kBadTarget;
  }
  out.form = TargetForm::kAbsolute;
  out.host = authority;
  if (end == std::string_view::npos) {
    out.path = kRootPath;
  } else if (rest[end] == '?') {
    out.path = kRootPath;
    out.query = rest.substr(end + 1);
    out.has_query = true;
  } else {
    splitPathQuery(rest.substr(end), out);
  }
  return ParseError::kNone;
}

ParseError parseRequestLine(std::string_view line, RequestHead& out) noexcept {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) {
    return ParseError::kBadRequestLine;
  }
  const std::string_view method = line.substr(0, sp1);
  if (!isToken(method)) {
    return ParseError::kBadMethod;
  }
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return ParseError::kBadRequestLine;
  }
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version.find(' ') != std::string_view::npos) {
    return ParseError::kBadRequestLine;
  }
  const int minor = parseVersion(version);
  if (minor == -1) {
    return ParseError::kUnsupportedVersion;
  }
  if (minor < 0) {
    return ParseError::kBadVersion;
  }
  out.method = method;
  out.target = target;
  out.version_minor = minor;
  return parseTarget(method, target, out);
}

ParseError parseStatusLine(std::string_view line, ResponseHead& out) noexcept {
  if (line.size() < 8) {
    return ParseError::kBadStatusLine;
  }
  const int minor = parseVersion(line.substr(0, 8));
  if (minor == -1) {
    return ParseError::kUnsupportedVersion;
  }
  if (minor < 0 || line.size() < 13 || line[8] != ' ' || line[12] != ' ' ||
      !isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11])) {
    return ParseError::kBadStatusLine;
  }
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) {
    return ParseError::kBadStatusLine;
  }
  const std::string_view reason = line.substr(13);
  for (char c : reason) {
    if (!isFieldValueByte(static_cast<uint8_t>(c))) {
      return ParseError::kBadStatusLine;
    }
  }
  out.version_minor = minor;
  out.status = status;
  out.reason = reason;
  return ParseError::kNone;
}

}  // namespace

const char* parseErrorName(ParseError e) noexcept {
  switch (e) {
    case ParseError::kNone: return "none";
    case ParseError::kBadRequestLine: return "bad_request_line";
    case ParseError::kBadMethod: return "bad_method";
    case ParseError::kBadTarget: return "bad_target";
    case ParseError::kUnsupportedVersion: return "unsupported_version";
    case ParseError::kBadVersion: return "bad_version";
    case ParseError::kBareCr: return "bare_cr";
    case ParseError::kBareLf: return "bare_lf";
    case ParseError::kObsFold: return "obs_fold";
    case ParseError::kBadHeaderName: return "bad_header_name";
    case ParseError::kWhitespaceBeforeColon: return "whitespace_before_colon";
    case ParseError::kBadHeaderValue: return "bad_header_value";
    case ParseError::kMissingHost: return "missing_host";
    case ParseError::kDuplicateHost: return "duplicate_host";
    case ParseError::kBadHost: return "bad_host";
    case ParseError::kAbsoluteFormHostMismatch: return "absolute_form_host_mismatch";
    case ParseError::kAuthorityForm: return "authority_form";
    case ParseError::kBadContentLength: return "bad_content_length";
    case ParseError::kDuplicateContentLength: return "duplicate_content_length";
    case ParseError::kContentLengthWithTransferEncoding:
      return "content_length_with_transfer_encoding";
    case ParseError::kTransferEncodingNotChunked: return "transfer_encoding_not_chunked";
    case ParseError::kTransferEncodingInHttp10: return "transfer_encoding_in_http10";
    case ParseError::kBadChunkSize: return "bad_chunk_size";
    case ParseError::kBadChunkExtension: return "bad_chunk_extension";
    case ParseError::kBadChunkTerminator: return "bad_chunk_terminator";
    case ParseError::kBadTrailer: return "bad_trailer";
    case ParseError::kExpectationFailed: return "expectation_failed";
    case ParseError::kUriTooLong: return "uri_too_long";
    case ParseError::kHeadersTooLarge: return "headers_too_large";
    case ParseError::kTooManyHeaders: return "too_many_headers";
    case ParseError::kBodyTooLarge: return "body_too_large";
    case ParseError::kBadStatusLine: return "bad_status_line";
    case ParseError::kCount: break;
  }
  return "unknown";
}

int parseErrorHttpStatus(ParseError e) noexcept {
  switch (e) {
    case ParseError::kNone: return 200;
    case ParseError::kAuthorityForm: return 405;
    case ParseError::kBodyTooLarge: return 413;
    case ParseError::kUriTooLong: return 414;
    case ParseError::kExpectationFailed: return 417;
    case ParseError::kHeadersTooLarge:
    case ParseError::kTooManyHeaders: return 431;
    case ParseError::kTransferEncodingNotChunked: return 501;
    case ParseError::kUnsupportedVersion: return 505;
    case ParseError::kBadStatusLine: return 502;  // only ever an upstream's fault
    default: return 400;
  }
}

void RequestHead::clear() noexcept {
  method = {};
  target = {};
  path = {};
  query = {};
  has_query = false;
  form = TargetForm::kOrigin;
  version_minor = 1;
  host = {};
  headers.clear();
  body = BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  head_bytes = 0;
}

void ResponseHead::clear() noexcept {
  status = 0;
  reason = {};
  version_minor = 1;
  headers.clear();
  body = BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
  head_bytes = 0;
}

// The scan needs to know only whether it is still in the first line (leading empty lines
// plus request/status line) and, past it, the byte before `scanned`. Progress inside the
// first line is therefore not kept (`scanned` stays 0): it is rescanned from the start, at
// most max_request_line bytes per call, which leading empty lines count against. Past the
// first line `scanned` is where the scan stopped, and the scan resumes there. It never stops
// right after a CR, so a CR is always judged together with the byte after it.
HeadScan findHeadEnd(std::string_view data, size_t& scanned, const Limits& limits) noexcept {
  HeadScan r;
  const bool too_much = data.size() > limits.max_header_bytes;
  const std::string_view d = data.substr(0, limits.max_header_bytes);
  const auto fail = [&](ParseError e) {
    r.state = HeadScan::State::kError;
    r.error = e;
    return r;
  };
  size_t i = 0;
  bool line_start = false;  // past the first line, at the start of a line
  if (scanned > 0 && scanned <= d.size()) {
    i = scanned;
    line_start = d[i - 1] == '\n';
  } else {
    // The first line: leading empty lines, then the request or status line.
    size_t line_begin = 0;
    for (;;) {
      if (i > limits.max_request_line) {
        return fail(ParseError::kUriTooLong);
      }
      if (i == d.size()) {
        scanned = 0;
        return too_much ? fail(ParseError::kHeadersTooLarge) : r;
      }
      const char c = d[i];
      if (c == '\n') {
        return fail(ParseError::kBareLf);
      }
      if (c == '\r') {
        if (i + 1 == d.size()) {
          scanned = 0;
          return too_much ? fail(ParseError::kHeadersTooLarge) : r;
        }
        if (d[i + 1] != '\n') {
          return fail(ParseError::kBareCr);
        }
        i += 2;
        if (i - 2 > line_begin) {
          break;  // the first line ended
        }
        line_begin = i;  // an empty line before the first line
        continue;
      }
      ++i;
    }
    line_start = true;
  }
  for (; i < d.size(); ++i) {
    const char c = d[i];
    if (c == '\n') {
      if (d[i - 1] != '\r') {
        return fail(ParseError::kBareLf);
      }
      line_start = true;
      continue;
    }
    if (c == '\r') {
      if (i + 1 == d.size()) {
        break;
      }
      if (d[i + 1] != '\n') {
        return fail(ParseError::kBareCr);
      }
      if (line_start) {
        r.state = HeadScan::State::kComplete;
        r.head_len = i + 2;
        scanned = r.head_len;
        return r;
      }
      continue;  // the LF is checked on the next round
    }
    line_start = false;
  }
  scanned = i;
  return too_much ? fail(ParseError::kHeadersTooLarge) : r;
}

namespace {

// The frame both heads share: optional leading empty lines, the first line (within the
// request-line limit, parsed by `parse_first`), the fields, the head-size limit.
template <typename Head, typename ParseFirst>
ParseError parseHeadFrame(std::string_view head, const Limits& limits, bool is_request,
                          ParseError bad_line, Head& out, FieldFacts& facts,
                          ParseFirst parse_first) noexcept {
  out.clear();
  size_t pos = leadingEmptyLines(head);
  std::string_view line;
  if (ParseError e = readLine(head, pos, line, bad_line); e != ParseError::kNone) {
    return e;
  }
  if (line.size() > limits.max_request_line) {
    return ParseError::kUriTooLong;
  }
  if (ParseError e = parse_first(line, out); e != ParseError::kNone) {
    return e;
  }
  if (ParseError e = parseFields(head, pos, limits, is_request, bad_line, out.headers, facts);
      e != ParseError::kNone) {
    return e;
  }
  if (pos > limits.max_header_bytes) {
    return ParseError::kHeadersTooLarge;
  }
  out.head_bytes = pos;
  return ParseError::kNone;
}

}  // namespace

ParseError parseRequestHead(std::string_view head, const Limits& limits,
                            RequestHead& out) noexcept {
  FieldFacts facts;
  if (ParseError e = parseHeadFrame(head, limits, true, ParseError::kBadRequestLine, out, facts,
                                    parseRequestLine);
      e != ParseError::kNone) {
    return e;
  }

  if (out.form == TargetForm::kAbsolute) {
    if (facts.host_count == 0 || !equalsIgnoreCase(facts.host, out.host)) {
      return ParseError::kAbsoluteFormHostMismatch;
    }
  } else if (facts.host_count == 0 && out.version_minor == 1) {
    return ParseError::kMissingHost;
  }
  out.host = facts.host;
  if (ParseError e = checkFraming(facts, out.version_minor); e != ParseError::kNone) {
    return e;
  }
  if (facts.te_count != 0) {
    out.body = BodyKind::kChunked;
  } else if (facts.has_content_length && facts.content_length != 0) {
    if (limits.max_body_bytes != 0 && facts.content_length > limits.max_body_bytes) {
      return ParseError::kBodyTooLarge;
    }
    out.body = BodyKind::kContentLength;
    out.content_length = facts.content_length;
  }
  if (facts.expect_other) {
    return ParseError::kExpectationFailed;
  }
  // A 1.0 client cannot handle 100 Continue (RFC 9110 10.1.1).
  out.expect_continue = facts.expect_continue && out.version_minor == 1;
  out.keep_alive = keepAlive(facts, out.version_minor);
  return ParseError::kNone;
}

ParseError parseResponseHead(std::string_view head, const Limits& limits,
                             bool request_method_head, ResponseHead& out) noexcept {
  FieldFacts facts;
  if (ParseError e = parseHeadFrame(head, limits, false, ParseError::kBadStatusLine, out, facts,
                                    parseStatusLine);
      e != ParseError::kNone) {
    return e;
  }
  if (ParseError e = checkFraming(facts, out.version_minor); e != ParseError::kNone) {
    return e;
  }
  out.keep_alive = keepAlive(facts, out.version_minor);
  if (request_method_head || out.status < 200 || out.status == 204 || out.status == 304) {
    out.body = BodyKind::kNone;
  } else if (facts.te_count != 0) {
    out.body = BodyKind::kChunked;
  } else if (facts.has_content_length) {
    out.body = facts.content_length == 0 ? BodyKind::kNone : BodyKind::kContentLength;
    out.content_length = facts.content_length;
  } else {
    out.body = BodyKind::kUntilClose;
    out.keep_alive = false;
  }
  return ParseError::kNone;
}

// ChunkedDecoder

namespace {

// Sub-states of the size line after the chunk size (ChunkedDecoder::ext_state_).
enum ExtState : uint8_t {
  kExtNone,             // in the size digits
  kExtSizeBws,          // BWS after the size
  kExtNameBws,          // after ';', before the name
  kExtName,
  kExtNameEndBws,       // BWS after the name
  kExtValueBws,         // after '=', before the value
  kExtTokenValue,
  kExtQuoted,
  kExtQuotedPair,
  kExtQuotedEnd,        // right after the closing quote
  kExtValueEndBws,      // BWS after a value: only another extension may follow
};

bool extStateAcceptsCrlf(uint8_t s) noexcept {
  return s == kExtNone || s == kExtName || s == kExtTokenValue || s == kExtQuotedEnd;
}

}  // namespace

void ChunkedDecoder::reset() noexcept {
  state_ = State::kSize;
  chunk_remaining_ = 0;
  body_bytes_ = 0;
  line_bytes_ = 0;
  trailer_bytes_ = 0;
  trailer_fields_ = 0;
  size_digits_ = 0;
  ext_state_ = kExtNone;
  trailer_state_ = 0;
  error_ = ParseError::kNone;
}

ChunkedDecoder::Result ChunkedDecoder::fail(ParseError e, size_t consumed) noexcept {
  state_ = State::kError;
  error_ = e;
  Result r;
  r.step = Step::kError;
  r.consumed = consumed;
  r.error = e;
  return r;
}

ParseError ChunkedDecoder::sizeLineByte(uint8_t c) noexcept {
  if (c == '\r') {
    if (extStateAcceptsCrlf(ext_state_)) {
      if (size_digits_ == 0) {
        return ParseError::kBadChunkSize;
      }
      state_ = State::kSizeLf;
      return ParseError::kNone;
    }
    return ext_state_ == kExtSizeBws ? ParseError::kBadChunkSize
                                     : ParseError::kBadChunkExtension;
  }
  if (c == '\n') {
    if (size_digits_ == 0) {
      return ParseError::kBadChunkSize;
    }
    return extStateAcceptsCrlf(ext_state_) ? ParseError::kBareLf
                                           : ParseError::kBadChunkExtension;
  }
  if (++line_bytes_ > kMaxChunkSizeLine) {
    return ParseError::kBadChunkExtension;
  }
  switch (ext_state_) {
    case kExtNone:
      if (isHexDigit(c)) {
        if (size_digits_ == kMaxChunkSizeDigits) {
          return ParseError::kBadChunkSize;
        }
        ++size_digits_;
        chunk_remaining_ = (chunk_remaining_ << 4) | hexValue(c);
        // More digits only make the size larger, so the limit can be checked right away.
        if (chunk_remaining_ > std::numeric_limits<uint64_t>::max() - body_bytes_) {
          return ParseError::kBadChunkSize;
        }
        if (limits_.max_body_bytes != 0 &&
            body_bytes_ + chunk_remaining_ > limits_.max_body_bytes) {
          return ParseError::kBodyTooLarge;
        }
        return ParseError::kNone;
      }
      if (size_digits_ == 0) {
        return ParseError::kBadChunkSize;
      }
      if (isWs(c)) {
        ext_state_ = kExtSizeBws;
      } else if (c == ';') {
        ext_state_ = kExtNameBws;
      } else {
        return ParseError::kBadChunkSize;
      }
      return ParseError::kNone;
    case kExtSizeBws:
      if (c == ';') {
        ext_state_ = kExtNameBws;
      } else if (isHexDigit(c)) {
        return ParseError::kBadChunkSize;
      } else if (!isWs(c)) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case kExtNameBws:
      if (isTchar(c)) {
        ext_state_ = kExtName;
      } else if (!isWs(c)) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case kExtName:
    case kExtNameEndBws:
      if (isTchar(c) && ext_state_ == kExtName) {
        return ParseError::kNone;
      }
      if (isWs(c)) {
        ext_state_ = kExtNameEndBws;
      } else if (c == '=') {
        ext_state_ = kExtValueBws;
      } else if (c == ';') {
        ext_state_ = kExtNameBws;
      } else {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case kExtValueBws:
      if (isTchar(c)) {
        ext_state_ = kExtTokenValue;
      } else if (c == '"') {
        ext_state_ = kExtQuoted;
      } else if (!isWs(c)) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case kExtTokenValue:
    case kExtQuotedEnd:
    case kExtValueEndBws:
      if (isTchar(c) && ext_state_ == kExtTokenValue) {
        return ParseError::kNone;
      }
      if (isWs(c)) {
        ext_state_ = kExtValueEndBws;
      } else if (c == ';') {
        ext_state_ = kExtNameBws;
      } else {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case kExtQuoted:
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (c == '"') {
        ext_state_ = kExtQuotedEnd;
      } else if (c == '\\') {
        ext_state_ = kExtQuotedPair;
      } else if (!isFieldValueByte(c)) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case kExtQuotedPair:
      if (!isFieldValueByte(c)) {
        return ParseError::kBadChunkExtension;
      }
      ext_state_ = kExtQuoted;
      return ParseError::kNone;
    default:
      return ParseError::kBadChunkExtension;
  }
}

namespace {

// Sub-states of a trailer field line (ChunkedDecoder::trailer_state_).
enum TrailerState : uint8_t {
  kTrailerName,
  kTrailerNameBws,  // whitespace after a name: only a colon would make it a field line
  kTrailerValue,
};

}  // namespace

ParseError ChunkedDecoder::trailerLineByte(uint8_t c) noexcept {
  switch (trailer_state_) {
    case kTrailerName:
      if (isTchar(c)) {
        return ParseError::kNone;
      }
      if (c == ':') {
        trailer_state_ = kTrailerValue;
        return ParseError::kNone;
      }
      if (isWs(c)) {
        trailer_state_ = kTrailerNameBws;
        return ParseError::kNone;
      }
      if (c == '\r' || c == '\n') {
        return ParseError::kBadTrailer;  // no colon
      }
      return ParseError::kBadTrailer;
    case kTrailerNameBws:
      if (c == ':') {
        return ParseError::kWhitespaceBeforeColon;
      }
      if (isWs(c)) {
        return ParseError::kNone;
      }
      return ParseError::kBadTrailer;
    default:
      if (c == '\r') {
        state_ = State::kTrailerLf;
        return ParseError::kNone;
      }
      if (c == '\n') {
        return ParseError::kBareLf;
      }
      return isFieldValueByte(c) ? ParseError::kNone : ParseError::kBadHeaderValue;
  }
}

ChunkedDecoder::Result ChunkedDecoder::next(std::string_view in) noexcept {
  if (state_ == State::kError) {
    return fail(error_, 0);
  }
  size_t pos = 0;
  while (pos < in.size()) {
    const auto c = static_cast<uint8_t>(in[pos]);
    switch (state_) {
      case State::kSize:
        if (ParseError e = sizeLineByte(c); e != ParseError::kNone) {
          return fail(e, pos);
        }
        ++pos;
        break;
      case State::kSizeLf:
        if (c != '\n') {
          return fail(ParseError::kBareCr, pos);
        }
        ++pos;
        line_bytes_ = 0;
        size_digits_ = 0;
        ext_state_ = kExtNone;
        state_ = chunk_remaining_ == 0 ? State::kTrailerStart : State::kData;
        break;
      case State::kData: {
        const uint64_t avail = in.size() - pos;
        const uint64_t n = avail < chunk_remaining_ ? avail : chunk_remaining_;
        chunk_remaining_ -= n;
        body_bytes_ += n;
        if (chunk_remaining_ == 0) {
          state_ = State::kDataCr;
        }
        Result r;
        r.step = Step::kData;
        r.consumed = pos;
        r.data_len = static_cast<size_t>(n);
        return r;
      }
      case State::kDataCr:
        if (c != '\r') {
          return fail(ParseError::kBadChunkTerminator, pos);
        }
        ++pos;
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          return fail(ParseError::kBadChunkTerminator, pos);
        }
        ++pos;
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
      case State::kTrailerLine:
      case State::kTrailerLf:
      case State::kFinalLf:
        if (++trailer_bytes_ > limits_.max_header_bytes) {
          return fail(ParseError::kHeadersTooLarge, pos);
        }
        if (state_ == State::kTrailerStart) {
          if (c == '\r') {
            state_ = State::kFinalLf;
          } else if (c == '\n') {
            return fail(ParseError::kBareLf, pos);
          } else if (isWs(c)) {
            return fail(ParseError::kObsFold, pos);
          } else if (!isTchar(c)) {
            return fail(ParseError::kBadTrailer, pos);
          } else {
            if (++trailer_fields_ > limits_.max_headers) {
              return fail(ParseError::kTooManyHeaders, pos);
            }
            state_ = State::kTrailerLine;
            trailer_state_ = kTrailerName;
          }
        } else if (state_ == State::kTrailerLine) {
          if (ParseError e = trailerLineByte(c); e != ParseError::kNone) {
            return fail(e, pos);
          }
        } else if (state_ == State::kTrailerLf) {
          if (c != '\n') {
            return fail(ParseError::kBareCr, pos);
          }
          state_ = State::kTrailerStart;
        } else {
          if (c != '\n') {
            return fail(ParseError::kBareCr, pos);
          }
          state_ = State::kDone;
          Result r;
          r.step = Step::kDone;
          r.consumed = pos + 1;
          return r;
        }
        ++pos;
        break;
      case State::kDone: {
        Result r;
        r.step = Step::kDone;
        r.consumed = 0;
        return r;
      }
      case State::kError:
        return fail(error_, pos);
    }
  }
  if (state_ == State::kDone) {
    Result r;
    r.step = Step::kDone;
    return r;
  }
  Result r;
  r.step = Step::kNeedMore;
  r.consumed = pos;
  return r;
}

}  // namespace stepgate::proxy::http1
