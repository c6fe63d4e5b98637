#pragma once
// Small helpers the profiles share: UTF-8 validation, ASCII case-insensitive comparison,
// percent-encoding of lookup path segments and JSON pointer (RFC 6901) tokens.

#include <string>
#include <string_view>

#include "common/ascii.h"

namespace stepgate::orchestrators {

// Whether `s` is well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool validUtf8(std::string_view s) noexcept;

// Equal ignoring ASCII letter case (header names, AWS JSON member names).
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  return equalsIgnoreAsciiCase(a, b);
}

// Appends `in` to `out` percent-encoded (RFC 3986): everything but the unreserved characters
// A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex), '/' included.
void appendPercentEncoded(std::string& out, std::string_view in);

// Appends `name` as one JSON pointer token: '~' as "~0", '/' as "~1" (RFC 6901).
void appendPointerToken(std::string& out, std::string_view name);

}  // namespace stepgate::orchestrators
