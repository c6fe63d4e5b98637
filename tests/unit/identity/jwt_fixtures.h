#pragma once
// Helpers for the identity tests: reading the committed fixtures in tests/fixtures/jwt/
// (made by make_fixtures.mjs with node:crypto, independent of stepgate) and HS256 tokens
// built with OpenSSL's one-shot MAC directly, not with the code under test.

#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/json.h"
#include "identity/jwt.h"

namespace stepgate::identity::testing {

inline std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(STEPGATE_SOURCE_DIR) + "/tests/fixtures/jwt/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline JsonValue fixtureJson(const std::string& name) {
  JsonLimits limits;
  limits.max_bytes = 16 << 20;
  StatusOr<JsonValue> v = parseJson(readFixture(name), limits);
  return v.isOk() ? std::move(v).value() : JsonValue();
}

// An HS256 token over the given JSON texts, signed with EVP_Q_mac.
inline std::string hs256Token(const std::string& secret, const std::string& header_json,
                              const std::string& claims_json) {
  std::string input = base64UrlEncode(header_json) + "." + base64UrlEncode(claims_json);
  unsigned char mac[64];
  size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof(mac),
            &len);
  return input + "." + base64UrlEncode(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace stepgate::identity::testing
