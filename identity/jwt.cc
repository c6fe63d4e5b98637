#include "identity/jwt.h"

#include <array>

namespace stepgate::identity {

namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> makeDecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}

constexpr std::array<int8_t, 256> kDecode = makeDecodeTable();

// Splits a token at its dots; false unless there are exactly three parts.
bool splitCompact(std::string_view token, std::string_view parts[3]) noexcept {
  size_t first = token.find('.');
  if (first == std::string_view::npos) return false;
  size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos) return false;
  if (token.find('.', second + 1) != std::string_view::npos) return false;
  parts[0] = token.substr(0, first);
  parts[1] = token.substr(first + 1, second - first - 1);
  parts[2] = token.substr(second + 1);
  return true;
}

std::optional<AuthError> jsonFailure(JsonError e) noexcept {
  return e == JsonError::kDuplicateMember ? AuthError::kDuplicateClaim : AuthError::kBadJson;
}

// Decodes and parses one JSON-object part.
std::optional<AuthError> decodeObject(std::string_view part, JsonValue& out) noexcept {
  std::string bytes;
  if (!base64UrlDecode(part, bytes)) return AuthError::kBadBase64;
  JsonError why = JsonError::kNone;
  JsonLimits limits;
  limits.max_bytes = bytes.size();
  limits.max_depth = kJwtMaxJsonDepth;
  StatusOr<JsonValue> parsed = parseJson(bytes, limits, &why);
  if (!parsed.isOk()) return jsonFailure(why);
  if (!parsed->isObject()) return AuthError::kBadJson;
  out = std::move(parsed).value();
  return std::nullopt;
}

// Reads an optional string member; false if present with another type.
bool optionalString(const JsonValue& obj, std::string_view name, std::string& out,
                    bool& present) noexcept {
  const JsonValue* v = obj.find(name);
  present = v != nullptr;
  if (v == nullptr) return true;
  if (!v->isString()) return false;
  out = v->asString();
  return true;
}

}  // namespace

bool base64UrlDecode(std::string_view in, std::string& out) noexcept {
  out.clear();
  const size_t rem = in.size() % 4;
  if (rem == 1) return false;
  out.reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int8_t v = kDecode[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits (2 after rem 3... or 4 after rem 2) must be zero: one spelling per value.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return false;
  return true;
}

std::string base64UrlEncode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t n = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  if (in.size() - i == 1) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
  } else if (in.size() - i == 2) {
    uint32_t n = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;
}

std::optional<AuthError> parseJwt(std::string_view token, Jwt& out, uint32_t max_bytes) noexcept {
  if (token.size() > max_bytes) return AuthError::kTokenTooLarge;
  std::string_view parts[3];
  if (!splitCompact(token, parts)) return AuthError::kMalformedToken;
  if (parts[0].empty() || parts[1].empty()) return AuthError::kMalformedToken;
  out.signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());

  if (auto e = decodeObject(parts[0], out.header)) return e;
  if (auto e = decodeObject(parts[1], out.claims)) return e;
  if (!base64UrlDecode(parts[2], out.signature)) return AuthError::kBadBase64;

  const JsonValue* alg = out.header.find("alg");
  if (alg == nullptr || !alg->isString()) return AuthError::kMalformedToken;
  if (!parseJwsAlg(alg->asString(), out.alg)) return AuthError::kUnsupportedAlg;
  if (!optionalString(out.header, "kid", out.kid, out.has_kid)) return AuthError::kMalformedToken;
  if (!optionalString(out.header, "typ", out.typ, out.has_typ)) return AuthError::kMalformedToken;

  out.crit.clear();
  if (const JsonValue* crit = out.header.find("crit")) {
    // RFC 7515 section 4.1.11: an array of strings, never empty.
    if (!crit->isArray() || crit->asArray().empty()) return AuthError::kMalformedToken;
    for (const JsonValue& name : crit->asArray()) {
      if (!name.isString() || name.asString().empty()) return AuthError::kMalformedToken;
      out.crit.push_back(name.asString());
    }
  }
  return std::nullopt;
}

std::optional<std::string> peekIssuer(std::string_view token, uint32_t max_bytes) noexcept {
  if (token.size() > max_bytes) return std::nullopt;
  std::string_view parts[3];
  if (!splitCompact(token, parts) || parts[1].empty()) return std::nullopt;
  JsonValue claims;
  if (decodeObject(parts[1], claims)) return std::nullopt;
  const JsonValue* iss = claims.find("iss");
  if (iss == nullptr || !iss->isString()) return std::nullopt;
  return iss->asString();
}

}  // namespace stepgate::identity
