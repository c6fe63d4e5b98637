#include "policy/glob.h"

namespace stepgate::policy {

bool isGlob(std::string_view text) noexcept {
  return text.find_first_of("*?") != std::string_view::npos;
}

std::string checkPattern(std::string_view text) {
  if (text.empty()) {
    return "a name or glob must not be empty";
  }
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return "a name or glob must not contain spaces or control characters";
    }
    if (c == '[' || c == ']' || c == '{' || c == '}' || c == '\\') {
      return std::string("unsupported glob syntax '") + c + "' (only * and ? are special)";
    }
  }
  if (text.find("**") != std::string_view::npos) {
    return "'**' is not a glob of this language; use a single '*'";
  }
  return "";
}

bool globMatch(std::string_view pattern, std::string_view text) noexcept {
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

}  // namespace stepgate::policy
