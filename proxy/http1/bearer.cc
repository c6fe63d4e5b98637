#include "proxy/http1/bearer.h"

namespace stepgate::proxy {
namespace {

// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool isToken68(std::string_view t) {
  size_t i = 0;
  while (i < t.size()) {
    const char c = t[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
    ++i;
  }
  if (i == 0) return false;
  while (i < t.size() && t[i] == '=') ++i;
  return i == t.size();
}

}  // namespace

BearerToken findBearerToken(const std::vector<http1::Header>& headers) noexcept {
  BearerToken out;
  const http1::Header* found = nullptr;
  for (const http1::Header& h : headers) {
    if (!http1::equalsIgnoreCase(h.name, "authorization")) continue;
    if (found != nullptr) {
      out.status = BearerStatus::kMalformed;
      return out;
    }
    found = &h;
  }
  if (found == nullptr) return out;
  std::string_view v = found->value;
  const size_t sp = v.find(' ');
  const std::string_view scheme = v.substr(0, sp);
  if (!http1::equalsIgnoreCase(scheme, "bearer")) {
    out.status = scheme.empty() ? BearerStatus::kMalformed : BearerStatus::kOtherScheme;
    return out;
  }
  if (sp == std::string_view::npos) {
    out.status = BearerStatus::kMalformed;
    return out;
  }
  std::string_view token = v.substr(sp + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (!isToken68(token)) {
    out.status = BearerStatus::kMalformed;
    return out;
  }
  out.status = BearerStatus::kOk;
  out.token = token;
  return out;
}

void appendBearerChallenge(std::string& out, std::string_view error_code) {
  out.append("Bearer realm=\"stepgate\"");
  if (!error_code.empty()) {
    out.append(", error=\"");
    out.append(error_code);
    out.push_back('"');
  }
}

}  // namespace stepgate::proxy
