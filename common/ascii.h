#pragma once
// ASCII case folding for protocol text (header names, media types, cookie and parameter
// names, log level names): the letters A-Z only, never the locale. Pure, inline, no
// allocation: fit for the request path.

#include <string_view>

namespace stepgate {

constexpr char asciiLower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Equal ignoring the case of ASCII letters.
constexpr bool equalsIgnoreAsciiCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  }
  return true;
}

}  // namespace stepgate
