#include "proxy/principal_claims.h"

#include <charconv>

#include "identity/claim_mapping.h"

namespace stepgate::proxy {
namespace {

bool scalarEquals(const JsonValue& v, std::string_view value) noexcept {
  if (v.isString()) return v.asString() == value;
  if (v.isBool()) return value == (v.asBool() ? "true" : "false");
  if (v.isInt()) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v.asInt());
    return std::string_view(buf, static_cast<size_t>(r.ptr - buf)) == value;
  }
  return false;
}

}  // namespace

bool PrincipalClaims::has(std::string_view claim) const noexcept {
  return claims_ != nullptr && identity::lookupClaim(*claims_, claim) != nullptr;
}

bool PrincipalClaims::equals(std::string_view claim, std::string_view value) const noexcept {
  if (claims_ == nullptr) return false;
  const JsonValue* v = identity::lookupClaim(*claims_, claim);
  if (v == nullptr) return false;
  if (!v->isArray()) return scalarEquals(*v, value);
  for (const JsonValue& e : v->asArray()) {
    if (scalarEquals(e, value)) return true;
  }
  return false;
}

}  // namespace stepgate::proxy
