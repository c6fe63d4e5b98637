#pragma once
// Path normalisation: the one canonical spelling of a request path that the policy sees and
// the upstream receives (docs/security.md, "Path normalisation"). Pure functions; thread-safe.
//
// Rules, in order:
//  1. the path must start with '/';
//  2. percent-escapes must be '%' HEX HEX; escapes of unreserved characters
//     (ALPHA DIGIT - . _ ~) are decoded; other escapes are kept with uppercase hex;
//  3. refused (400): an encoded '/' (%2F), '\' raw or encoded (%5C), %00 or any encoded
//     control byte, a raw byte outside RFC 3986 pchar, ';' path parameters (unless allowed by
//     config; "..;" is refused always), and escaped bytes that do not form valid UTF-8;
//  4. dot segments are removed (RFC 3986 5.2.4), after decoding, so %2e%2e is "..";
//     a ".." that would climb above the root is refused;
//  5. optionally, runs of '/' are merged into one.

#include <string>
#include <string_view>

namespace stepgate::proxy {

enum class PathError : unsigned char {
  kNone = 0,
  kNotAbsolute,        // does not start with '/'
  kBadPercentEncoding,  // '%' not followed by two hex digits
  kEncodedSlash,
  kBackslash,
  kEncodedControl,     // %00..%1F or %7F
  kBadCharacter,       // a raw byte that is not a pchar
  kPathParameter,      // ';' in a segment
  kDotDotSemicolon,    // "..;"
  kInvalidUtf8,
  kAboveRoot,          // ".." past the root
  kCount,
};

// Stable snake_case name, e.g. "encoded_slash".
const char* pathErrorName(PathError e) noexcept;

struct PathOptions {
  bool merge_slashes = false;
  bool reject_path_parameters = true;
};

// Writes the normalised form of `path` (no query) into `out`, replacing its contents.
// `out` is caller-owned so its capacity is reused across requests.
PathError normalizePath(std::string_view path, const PathOptions& options,
                        std::string& out) noexcept;

}  // namespace stepgate::proxy
