#include "proxy/http1/path_normalize.h"

#include <array>
#include <cstdint>

namespace stepgate::proxy {
namespace {

// Byte classes of a raw (undecoded) path byte.
enum ByteClass : uint8_t {
  kOther = 0,       // not allowed raw
  kPchar,           // unreserved / sub-delims (except ';') / ':' / '@'
  kSlash,           // '/'
  kPercent,         // '%'
  kSemicolon,       // ';'
  kRawBackslash,    // '\'
};

constexpr std::array<uint8_t, 256> makeByteClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kPchar;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kPchar;
  for (int c = '0'; c <= '9'; ++c) t[c] = kPchar;
  for (unsigned char c : std::string_view("-._~!$&'()*+,=:@")) t[c] = kPchar;
  t['/'] = kSlash;
  t['%'] = kPercent;
  t[';'] = kSemicolon;
  t['\\'] = kRawBackslash;
  return t;
}

constexpr std::array<uint8_t, 256> kByteClasses = makeByteClasses();

constexpr bool isUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

constexpr int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kUpperHex[] = "0123456789ABCDEF";

// Incremental UTF-8 validator over percent-escaped bytes >= 0x80 (RFC 3629 table 3-7:
// no overlongs, no surrogates, nothing above U+10FFFF).
class Utf8Run {
public:
  bool inSequence() const { return remaining_ != 0; }

  // Returns false if `b` cannot appear at this point of a well-formed sequence.
  bool feed(unsigned char b) {
    if (remaining_ == 0) {
      if (b >= 0xC2 && b <= 0xDF) {
        return start(1, 0x80, 0xBF);
      }
      if (b == 0xE0) return start(2, 0xA0, 0xBF);
      if (b == 0xED) return start(2, 0x80, 0x9F);
      if (b >= 0xE1 && b <= 0xEF) return start(2, 0x80, 0xBF);
      if (b == 0xF0) return start(3, 0x90, 0xBF);
      if (b >= 0xF1 && b <= 0xF3) return start(3, 0x80, 0xBF);
      if (b == 0xF4) return start(3, 0x80, 0x8F);
      return false;  // continuation byte as lead, C0, C1, F5..FF
    }
    if (b < lo_ || b > hi_) return false;
    --remaining_;
    lo_ = 0x80;
    hi_ = 0xBF;
    return true;
  }

private:
  bool start(uint8_t remaining, uint8_t lo, uint8_t hi) {
    remaining_ = remaining;
    lo_ = lo;
    hi_ = hi;
    return true;
  }

  uint8_t remaining_ = 0;
  uint8_t lo_ = 0x80;
  uint8_t hi_ = 0xBF;
};

// The decoded text of the current segment so far is out[seg_start, out.size()).
bool segmentEndsWithDotDot(const std::string& out, size_t seg_start) {
  size_t n = out.size();
  return n - seg_start >= 2 && out[n - 1] == '.' && out[n - 2] == '.';
}

bool segmentIsDot(const std::string& out, size_t seg_start) {
  return out.size() - seg_start == 1 && out.back() == '.';
}

bool segmentIsDotDot(const std::string& out, size_t seg_start) {
  return out.size() - seg_start == 2 && segmentEndsWithDotDot(out, seg_start);
}

// A ';' (raw or %3B) after "..", or right after a lone "." at the start of a segment, is the
// Tomcat/Spring traversal trick: servers that strip path parameters per segment see a dot
// segment the policy did not. Refused whatever reject_path_parameters says.
bool isDotSemicolonTrick(const std::string& out, size_t seg_start) {
  return segmentEndsWithDotDot(out, seg_start) || segmentIsDot(out, seg_start);
}

PathError fail(std::string& out, PathError e) noexcept {
  out.clear();
  return e;
}

}  // namespace

const char* pathErrorName(PathError e) noexcept {
  switch (e) {
  case PathError::kNone:
    return "none";
  case PathError::kNotAbsolute:
    return "not_absolute";
  case PathError::kBadPercentEncoding:
    return "bad_percent_encoding";
  case PathError::kEncodedSlash:
    return "encoded_slash";
  case PathError::kBackslash:
    return "backslash";
  case PathError::kEncodedControl:
    return "encoded_control";
  case PathError::kBadCharacter:
    return "bad_character";
  case PathError::kPathParameter:
    return "path_parameter";
  case PathError::kDotDotSemicolon:
    return "dot_dot_semicolon";
  case PathError::kInvalidUtf8:
    return "invalid_utf8";
  case PathError::kAboveRoot:
    return "above_root";
  case PathError::kCount:
    break;
  }
  return "unknown";
}

// One pass over the input. Each segment is decoded straight into `out`; when it ends, a "."
// is dropped and a ".." removes itself and the segment before it, so `out` always holds the
// normalised prefix. The output is never longer than the input (decoding shrinks, hex
// upper-casing keeps the length), so after the one reserve() no push_back reallocates.
PathError normalizePath(std::string_view path, const PathOptions& options,
                        std::string& out) noexcept {
  out.clear();
  if (path.empty() || path[0] != '/') {
    return PathError::kNotAbsolute;
  }
  out.reserve(path.size());
  out.push_back('/');

  const size_t n = path.size();
  size_t i = 1;
  Utf8Run utf8;
  while (true) {
    if (options.merge_slashes) {
      while (i < n && path[i] == '/') ++i;
    }
    const size_t seg_start = out.size();
    // Decode one segment.
    while (i < n && path[i] != '/') {
      const unsigned char c = static_cast<unsigned char>(path[i]);
      if (c != '%' && utf8.inSequence()) {
        return fail(out, PathError::kInvalidUtf8);
      }
      switch (kByteClasses[c]) {
      case kPchar:
        out.push_back(static_cast<char>(c));
        ++i;
        continue;
      case kSemicolon:
        if (isDotSemicolonTrick(out, seg_start)) {
          return fail(out, PathError::kDotDotSemicolon);
        }
        if (options.reject_path_parameters) {
          return fail(out, PathError::kPathParameter);
        }
        out.push_back(';');
        ++i;
        continue;
      case kRawBackslash:
        return fail(out, PathError::kBackslash);
      case kPercent:
        break;
      default:
        return fail(out, PathError::kBadCharacter);
      }

      // '%' HEX HEX
      if (n - i < 3) {
        return fail(out, PathError::kBadPercentEncoding);
      }
      const int hi = hexValue(path[i + 1]);
      const int lo = hexValue(path[i + 2]);
      if (hi < 0 || lo < 0) {
        return fail(out, PathError::kBadPercentEncoding);
      }
      i += 3;
      const unsigned char v = static_cast<unsigned char>(hi << 4 | lo);
      if (v >= 0x80) {
        if (!utf8.feed(v)) {
          return fail(out, PathError::kInvalidUtf8);
        }
      } else if (utf8.inSequence()) {
        return fail(out, PathError::kInvalidUtf8);
      } else if (isUnreserved(v)) {
        out.push_back(static_cast<char>(v));
        continue;
      } else if (v == '/') {
        return fail(out, PathError::kEncodedSlash);
      } else if (v == '\\') {
        return fail(out, PathError::kBackslash);
      } else if (v < 0x20 || v == 0x7F) {
        return fail(out, PathError::kEncodedControl);
      } else if (v == ';' && isDotSemicolonTrick(out, seg_start)) {
        return fail(out, PathError::kDotDotSemicolon);
      }
      out.push_back('%');
      out.push_back(kUpperHex[v >> 4]);
      out.push_back(kUpperHex[v & 0xF]);
    }
    if (utf8.inSequence()) {
      return fail(out, PathError::kInvalidUtf8);
    }

    const bool more = i < n;  // path[i] == '/'
    if (segmentIsDot(out, seg_start)) {
      out.resize(seg_start);  // out ends with '/'
    } else if (segmentIsDotDot(out, seg_start)) {
      out.resize(seg_start);
      if (out.size() == 1) {
        return fail(out, PathError::kAboveRoot);
      }
      // out is "/.../prev/": drop "prev/".
      out.resize(out.rfind('/', out.size() - 2) + 1);
    } else if (more) {
      out.push_back('/');
    }
    if (!more) {
      break;
    }
    ++i;
  }
  return PathError::kNone;
}

}  // namespace stepgate::proxy
