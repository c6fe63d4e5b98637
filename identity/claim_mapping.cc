#include "identity/claim_mapping.h"

#include <algorithm>
#include <cmath>

namespace stepgate::identity {

namespace {

// NumericDates are clamped to this (year 2255) so arithmetic in milliseconds and the
// conversion to SystemTime (nanoseconds in int64) cannot overflow.
constexpr int64_t kMaxEpochSeconds = 9'000'000'000;

bool contains(const std::vector<std::string>& set, std::string_view v) noexcept {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// A string value in `allowed`, or an array value with a string element in `allowed`.
bool valueMatchesAny(const JsonValue& v, const std::vector<std::string>& allowed) noexcept {
  if (v.isString()) return contains(allowed, v.asString());
  if (v.isArray()) {
    for (const JsonValue& e : v.asArray()) {
      if (e.isString() && contains(allowed, e.asString())) return true;
    }
  }
  return false;
}

void splitSpaces(std::string_view s, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
}

std::optional<AuthError> mapGroups(const JsonValue& claims, const config::ClaimMapping& mapping,
                                   std::vector<std::string>& groups) {
  if (mapping.groups.empty()) return std::nullopt;
  const JsonValue* v = lookupClaim(claims, mapping.groups);
  if (v == nullptr || v->isNull()) return std::nullopt;
  if (v->isString()) {
    if (mapping.groups_space_separated) {
      splitSpaces(v->asString(), groups);
    } else if (!v->asString().empty()) {
      groups.push_back(v->asString());
    }
  } else if (v->isArray()) {
    groups.reserve(v->asArray().size());
    for (const JsonValue& e : v->asArray()) {
      if (!e.isString()) return AuthError::kBadClaimType;
      if (!e.asString().empty()) groups.push_back(e.asString());
    }
  } else {
    return AuthError::kBadClaimType;
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return std::nullopt;
}

bool mapMfa(const JsonValue& claims, const config::ClaimMapping& mapping) noexcept {
  if (const JsonValue* amr = claims.find("amr"); amr != nullptr && amr->isArray()) {
    for (const JsonValue& e : amr->asArray()) {
      if (e.isString() && contains(mapping.mfa_amr, e.asString())) return true;
    }
  }
  if (const JsonValue* acr = claims.find("acr"); acr != nullptr && acr->isString()) {
    return contains(mapping.mfa_acr, acr->asString());
  }
  return false;
}

void optionalStringClaim(const JsonValue& claims, const std::string& name, std::string& out) {
  if (name.empty()) return;
  const JsonValue* v = lookupClaim(claims, name);
  if (v != nullptr && v->isString()) out = v->asString();
}

}  // namespace

const JsonValue* lookupClaim(const JsonValue& claims, std::string_view name) noexcept {
  if (!name.empty() && name[0] == '/') return claims.at(name);
  return claims.find(name);
}

NumericDateRead readNumericDate(const JsonValue& claims, std::string_view name,
                                int64_t& out) noexcept {
  const JsonValue* v = claims.find(name);
  if (v == nullptr) return NumericDateRead::kAbsent;
  if (v->isInt()) {
    out = std::clamp<int64_t>(v->asInt(), -kMaxEpochSeconds, kMaxEpochSeconds);
    return NumericDateRead::kOk;
  }
  if (v->isDouble()) {
    const double d = std::floor(v->asDouble());
    if (!std::isfinite(d)) return NumericDateRead::kBadType;
    out = d >= static_cast<double>(kMaxEpochSeconds)    ? kMaxEpochSeconds
          : d <= -static_cast<double>(kMaxEpochSeconds) ? -kMaxEpochSeconds
                                                        : static_cast<int64_t>(d);
    return NumericDateRead::kOk;
  }
  return NumericDateRead::kBadType;
}

std::optional<AuthError> checkAudience(const JsonValue& claims,
                                       const std::vector<std::string>& audiences) noexcept {
  if (audiences.empty()) return std::nullopt;
  const JsonValue* aud = claims.find("aud");
  if (aud == nullptr) return AuthError::kWrongAudience;
  if (aud->isString()) {
    return contains(audiences, aud->asString()) ? std::nullopt
                                                : std::optional(AuthError::kWrongAudience);
  }
  if (!aud->isArray()) return AuthError::kBadClaimType;
  bool found = false;
  for (const JsonValue& e : aud->asArray()) {
    if (!e.isString()) return AuthError::kBadClaimType;
    if (contains(audiences, e.asString())) found = true;
  }
  return found ? std::nullopt : std::optional(AuthError::kWrongAudience);
}

std::optional<AuthError> checkRequiredClaims(
    const JsonValue& claims, const std::vector<config::RequiredClaim>& required) noexcept {
  for (const config::RequiredClaim& rc : required) {
    const JsonValue* v = lookupClaim(claims, rc.name);
    if (v == nullptr) return AuthError::kMissingClaim;
    if (!rc.any_of.empty() && !valueMatchesAny(*v, rc.any_of)) return AuthError::kClaimMismatch;
  }
  return std::nullopt;
}

std::optional<AuthError> mapClaims(const JsonValue& claims, const config::ClaimMapping& mapping,
                                   Principal& p) {
  const JsonValue* sub = lookupClaim(claims, mapping.subject);
  if (sub == nullptr) return AuthError::kMissingClaim;
  if (!sub->isString()) return AuthError::kBadClaimType;
  if (sub->asString().empty()) return AuthError::kMissingClaim;
  p.subject = sub->asString();
  if (auto e = mapGroups(claims, mapping, p.groups)) return e;
  optionalStringClaim(claims, mapping.name, p.name);
  optionalStringClaim(claims, mapping.email, p.email);
  p.mfa = mapMfa(claims, mapping);
  return std::nullopt;
}

}  // namespace stepgate::identity
