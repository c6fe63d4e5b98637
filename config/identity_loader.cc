#include "config/identity_loader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "config/host_name.h"

namespace stepgate::config {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kAlgorithms[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                            "PS512", "ES256", "ES384", "ES512", "EdDSA",
                                            "HS256", "HS384", "HS512"};
// The algorithms a private_key_jwt client assertion may be signed with.
constexpr std::string_view kClientKeyAlgorithms[] = {"ES256", "ES384", "RS256", "PS256",
                                                     "EdDSA"};
constexpr uint64_t kMinTokenBytes = 1024;
constexpr uint64_t kMaxTokenBytes = 64 * 1024;
constexpr Duration kMaxLeeway = minutes(5);
constexpr Duration kMinUnknownKidInterval = seconds(1);
constexpr size_t kMaxProviderName = 64;

// Which provider types a key applies to.
enum TypeBits : unsigned {
  kJ = 1u << static_cast<unsigned>(ProviderType::kJwt),
  kO = 1u << static_cast<unsigned>(ProviderType::kOidc),
  kI = 1u << static_cast<unsigned>(ProviderType::kIntrospection),
  kM = 1u << static_cast<unsigned>(ProviderType::kMtls),
};

struct KeyRule {
  std::string_view key;
  unsigned types;
};

constexpr KeyRule kProviderKeys[] = {
    {"name", kJ | kO | kI | kM},
    {"type", kJ | kO | kI | kM},
    {"issuer", kJ | kO | kI},
    {"audiences", kJ | kO | kI},
    {"algorithms", kJ | kO},
    {"jwks_uri", kJ},
    {"jwks_file", kJ},
    {"secret_file", kJ},
    {"ca_file", kJ | kO | kI},
    {"require_exp", kJ | kO | kI},
    {"leeway", kJ | kO | kI},
    {"max_lifetime", kJ | kO},
    {"typ", kJ | kO},
    {"required_claims", kJ | kO | kI},
    {"claims", kJ | kO | kI},
    {"max_token_bytes", kJ | kO | kI},
    {"refresh_min", kJ | kO},
    {"refresh_max", kJ | kO},
    {"unknown_kid_min_interval", kJ | kO},
    {"max_staleness", kJ | kO},
    {"fetch_timeout", kJ | kO | kI},
    {"introspection_endpoint", kI},
    {"client_id", kI},
    {"client_auth", kI},
    {"client_secret_file", kI},
    {"client_key_file", kI},
    {"client_key_alg", kI},
    {"cache_max_ttl", kI},
    {"negative_cache_ttl", kI},
    {"certificate_subject", kM},
};

// Keys of a jwt provider that only matter when its keys are fetched from jwks_uri.
constexpr std::string_view kFetchKeys[] = {"ca_file",       "refresh_min",
                                           "refresh_max",   "unknown_kid_min_interval",
                                           "max_staleness", "fetch_timeout"};

const char* typeName(ProviderType type) {
  switch (type) {
    case ProviderType::kJwt:
      return "jwt";
    case ProviderType::kOidc:
      return "oidc";
    case ProviderType::kIntrospection:
      return "introspection";
    case ProviderType::kMtls:
      return "mtls";
  }
  return "?";
}

bool parseType(std::string_view text, ProviderType& out) {
  for (ProviderType t : {ProviderType::kJwt, ProviderType::kOidc, ProviderType::kIntrospection,
                         ProviderType::kMtls}) {
    if (text == typeName(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

unsigned bitOf(ProviderType type) {
  return 1u << static_cast<unsigned>(type);
}

bool contains(const auto& range, std::string_view value) {
  return std::find(std::begin(range), std::end(range), value) != std::end(range);
}

bool isProviderName(std::string_view name) {
  if (name.empty() || name.size() > kMaxProviderName) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool isHmac(std::string_view alg) {
  return alg.starts_with("HS");
}


// 127.0.0.0/8, localhost or ::1 (`host` without brackets).
bool isLoopbackHost(const std::string& host, bool ipv6) {
  if (ipv6) {
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return equalsIgnoreCase(host, "localhost");
}

// An issuer, JWKS or introspection URL: https://host[:port][/path], or http:// for a loopback
// host; no user info, query or fragment. The error message carries no position.
Status checkUrl(std::string_view url) {
  const std::string quoted = "'" + std::string(url) + "'";
  std::string_view rest;
  bool https = false;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
    https = true;
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return invalidArgument(quoted + " is not an https:// URL");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) {
      return invalidArgument(quoted +
                             " contains a space or a character that is not printable "
                             "ASCII");
    }
  }
  if (url.find_first_of("?#") != std::string_view::npos) {
    return invalidArgument(quoted + " must not have a query or fragment");
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string_view::npos) {
    return invalidArgument(quoted + " must not contain user info");
  }
  std::string_view host = authority;
  std::string_view port;
  bool ipv6 = false;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalidArgument("unterminated '[' in " + quoted);
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return invalidArgument("unexpected text after ']' in " + quoted);
    }
    port = after.empty() ? after : after.substr(1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return invalidArgument("'" + std::string(host) + "' in " + quoted +
                             " is not an IPv6 address");
    }
    ipv6 = true;
  } else if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) {
      return invalidArgument("empty port in " + quoted);
    }
  }
  if (!ipv6 && !isValidHostName(host)) {
    return invalidArgument("bad host '" + std::string(host) + "' in " + quoted);
  }
  if (!port.empty()) {
    unsigned value = 0;
    bool ok = port.size() <= 5;
    for (char c : port) {
      ok = ok && c >= '0' && c <= '9';
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (!ok || value < 1 || value > 65535) {
      return invalidArgument("bad port '" + std::string(port) + "' in " + quoted + " (1..65535)");
    }
  }
  if (!https && !isLoopbackHost(std::string(host), ipv6)) {
    return invalidArgument(quoted +
                           " uses http on a host that is not loopback; use https "
                           "(http is allowed only for 127.0.0.0/8, localhost and "
                           "[::1])");
  }
  return okStatus();
}

// A claim reference: a JSON pointer ("/realm_access/roles", RFC 6901) or a claim name
// ("cognito:groups", "https://example.com/roles"). The error message carries no position.
Status checkClaimRef(std::string_view ref) {
  if (ref.empty()) {
    return invalidArgument("a claim name must not be empty");
  }
  if (!ref.starts_with('/')) {
    return okStatus();
  }
  size_t start = 1;
  while (start <= ref.size()) {
    size_t end = ref.find('/', start);
    if (end == std::string_view::npos) {
      end = ref.size();
    }
    const std::string_view token = ref.substr(start, end - start);
    if (token.empty()) {
      return invalidArgument("JSON pointer '" + std::string(ref) + "' has an empty segment");
    }
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' &&
          (i + 1 == token.size() || (token[i + 1] != '0' && token[i + 1] != '1'))) {
        return invalidArgument("JSON pointer '" + std::string(ref) +
                               "': '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')");
      }
    }
    start = end + 1;
  }
  return okStatus();
}

std::string durationText(Duration d) {
  const auto ms = d.count();
  if (ms % 3600000 == 0 && ms != 0)
    return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0 && ms != 0)
    return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// The value node of `key` when present, else the map itself (for error positions).
YAML::Node valueOr(const YAML::Node& map, const char* key) {
  if (const YAML::Node value = map[key]; value.IsDefined()) {
    return value;
  }
  return map;
}

// The key node of `key` in a checked map (for "does not apply" errors), else the map.
YAML::Node keyOr(const YAML::Node& map, std::string_view key) {
  for (const auto& pair : map) {
    if (pair.first.Scalar() == key) {
      return pair.first;
    }
  }
  return map;
}

// Reads the identity section of one document. One instance per load; not shared.
class IdentityLoader {
 public:
  IdentityLoader(const YamlSource& src, const std::filesystem::path& base_dir,
                 const std::vector<ListenerConfig>& listeners)
      : src_(src), base_dir_(base_dir), listeners_(listeners) {}

  [[nodiscard]] Status load(const YAML::Node& node, IdentityConfig& out);

 private:
  [[nodiscard]] Status loadProvider(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status checkApplicable(const YAML::Node& node, ProviderType type, bool type_given);
  [[nodiscard]] Status loadJwtKeySource(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status loadAlgorithms(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status loadTokenChecks(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status loadKeyRefresh(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status loadIntrospection(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status loadClientAuth(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status loadMtls(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status loadClaims(const YAML::Node& node, ClaimMapping& out);
  [[nodiscard]] Status loadRequiredClaims(const YAML::Node& node, std::vector<RequiredClaim>& out);
  [[nodiscard]] Status checkAcrossProviders(const IdentityConfig& config);

  [[nodiscard]] Status readFetchTimeout(const YAML::Node& node, ProviderConfig& out);
  [[nodiscard]] Status readUrl(const YAML::Node& map, const char* key, std::string& out);
  [[nodiscard]] Status readClaimRef(const YAML::Node& node, std::string& out);
  // Resolves a file name against the config's folder and checks that it is a readable
  // regular file; a `secret` must also not be readable by every user.
  [[nodiscard]] Status readFile(const YAML::Node& map, const char* key, bool secret,
                                std::string& out);

  const YamlSource& src_;
  const std::filesystem::path& base_dir_;
  const std::vector<ListenerConfig>& listeners_;
  std::vector<YAML::Node> provider_nodes_;  // parallel to IdentityConfig::providers
};

Status IdentityLoader::load(const YAML::Node& node, IdentityConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"providers", "token_cache_size"}));
  RETURN_IF_ERROR(src_.optUint32(node, "token_cache_size", out.token_cache_size));
  RETURN_IF_ERROR(src_.require(node, "providers"));
  const YAML::Node providers = node["providers"];
  if (!providers.IsSequence() || providers.size() == 0) {
    return src_.error(providers, "identity.providers: expected a list of at least one provider");
  }
  for (const YAML::Node& item : providers) {
    ProviderConfig provider;
    RETURN_IF_ERROR(loadProvider(item, provider));
    out.providers.push_back(std::move(provider));
    provider_nodes_.push_back(item);
  }
  return checkAcrossProviders(out);
}

Status IdentityLoader::loadProvider(const YAML::Node& node, ProviderConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"name",
                                       "type",
                                       "issuer",
                                       "audiences",
                                       "algorithms",
                                       "jwks_uri",
                                       "jwks_file",
                                       "secret_file",
                                       "ca_file",
                                       "require_exp",
                                       "leeway",
                                       "max_lifetime",
                                       "typ",
                                       "required_claims",
                                       "claims",
                                       "max_token_bytes",
                                       "refresh_min",
                                       "refresh_max",
                                       "unknown_kid_min_interval",
                                       "max_staleness",
                                       "fetch_timeout",
                                       "introspection_endpoint",
                                       "client_id",
                                       "client_auth",
                                       "client_secret_file",
                                       "client_key_file",
                                       "client_key_alg",
                                       "cache_max_ttl",
                                       "negative_cache_ttl",
                                       "certificate_subject"}));
  RETURN_IF_ERROR(src_.require(node, "name"));
  RETURN_IF_ERROR(src_.readString(node["name"], out.name));
  if (!isProviderName(out.name)) {
    return src_.error(node["name"],
                      "provider name '" + out.name + "' must be 1 to 64 of a-z, 0-9, '_' and '-'");
  }
  const YAML::Node type = node["type"];
  if (type.IsDefined()) {
    std::string text;
    RETURN_IF_ERROR(src_.readString(type, text));
    if (!parseType(text, out.type)) {
      return src_.error(type, "unknown provider type '" + text +
                                  "'; expected one of: jwt, oidc, introspection, mtls");
    }
  }
  RETURN_IF_ERROR(checkApplicable(node, out.type, type.IsDefined()));

  switch (out.type) {
    case ProviderType::kJwt:
    case ProviderType::kOidc:
      RETURN_IF_ERROR(src_.require(node, "issuer"));
      RETURN_IF_ERROR(readUrl(node, "issuer", out.issuer));
      if (out.type == ProviderType::kJwt) {
        RETURN_IF_ERROR(loadJwtKeySource(node, out));
      }
      RETURN_IF_ERROR(loadAlgorithms(node, out));
      RETURN_IF_ERROR(loadTokenChecks(node, out));
      return loadKeyRefresh(node, out);
    case ProviderType::kIntrospection:
      RETURN_IF_ERROR(src_.require(node, "issuer"));
      RETURN_IF_ERROR(readUrl(node, "issuer", out.issuer));
      RETURN_IF_ERROR(loadTokenChecks(node, out));
      return loadIntrospection(node, out);
    case ProviderType::kMtls:
      return loadMtls(node, out);
  }
  return okStatus();
}

Status IdentityLoader::checkApplicable(const YAML::Node& node, ProviderType type, bool type_given) {
  const std::string type_text =
      std::string("a provider of type ") + typeName(type) + (type_given ? "" : " (the default)");
  for (const auto& pair : node) {
    const std::string& key = pair.first.Scalar();
    for (const KeyRule& rule : kProviderKeys) {
      if (rule.key != key || (rule.types & bitOf(type)) != 0) {
        continue;
      }
      std::string why;
      if (type == ProviderType::kOidc &&
          (key == "jwks_uri" || key == "jwks_file" || key == "secret_file")) {
        why =
            "; its keys come from the issuer's discovery document (use type: jwt to name "
            "the keys yourself)";
      }
      return src_.error(pair.first, "'" + key + "' does not apply to " + type_text + why);
    }
  }
  return okStatus();
}

Status IdentityLoader::loadJwtKeySource(const YAML::Node& node, ProviderConfig& out) {
  std::string first;
  for (const auto& pair : node) {
    const std::string& key = pair.first.Scalar();
    if (key != "jwks_uri" && key != "jwks_file" && key != "secret_file") {
      continue;
    }
    if (!first.empty()) {
      return src_.error(pair.first, "'" + first + "' and '" + key +
                                        "' are both set; a jwt provider takes exactly one of "
                                        "jwks_uri, jwks_file, secret_file");
    }
    first = key;
  }
  if (first.empty()) {
    return src_.error(node,
                      "a jwt provider needs exactly one of jwks_uri, jwks_file, "
                      "secret_file (or use type: oidc to find keys by discovery)");
  }
  if (first != "jwks_uri") {
    for (std::string_view key : kFetchKeys) {
      if (node[std::string(key)].IsDefined()) {
        return src_.error(keyOr(node, key), "'" + std::string(key) +
                                                "' applies only to a jwt provider with "
                                                "jwks_uri; keys from " +
                                                first +
                                                " are read when the config is "
                                                "loaded or reloaded");
      }
    }
  }
  if (first == "jwks_uri") {
    return readUrl(node, "jwks_uri", out.jwks_uri);
  }
  if (first == "jwks_file") {
    return readFile(node, "jwks_file", /*secret=*/false, out.jwks_file);
  }
  RETURN_IF_ERROR(readFile(node, "secret_file", /*secret=*/true, out.secret_file));
  // RFC 7518 3.2: an HMAC key must be at least as long as the hash output; we ask for the
  // 32 bytes of HS256 whatever the algorithm, and for no more than 1 KiB.
  std::error_code ec;
  const auto size = std::filesystem::file_size(out.secret_file, ec);
  if (ec || size < 32 || size > 1024) {
    return src_.error(node["secret_file"],
                      "secret_file: a shared secret must be 32 to 1024 bytes (this one has " +
                          (ec ? std::string("an unknown size") : std::to_string(size)) + ")");
  }
  return okStatus();
}

Status IdentityLoader::loadAlgorithms(const YAML::Node& node, ProviderConfig& out) {
  RETURN_IF_ERROR(src_.require(node, "algorithms"));
  const YAML::Node list = node["algorithms"];
  RETURN_IF_ERROR(src_.readStringList(list, out.algorithms));
  if (out.algorithms.empty()) {
    return src_.error(list, "algorithms must list at least one algorithm, e.g. [RS256]");
  }
  const std::vector<std::string_view> known(std::begin(kAlgorithms), std::end(kAlgorithms));
  std::string hmac;
  std::string asymmetric;
  for (size_t i = 0; i < out.algorithms.size(); ++i) {
    const std::string& alg = out.algorithms[i];
    if (equalsIgnoreCase(alg, "none")) {
      return src_.error(list[i],
                        "algorithm '" + alg + "' is never accepted: it means an unsigned token");
    }
    if (!contains(known, alg)) {
      const std::string hint = closestMatch(alg, known);
      return src_.error(list[i], "unknown algorithm '" + alg + "'" +
                                     (hint.empty() ? "; expected some of: RS256 RS384 RS512 "
                                                     "PS256 PS384 PS512 ES256 ES384 ES512 "
                                                     "EdDSA HS256 HS384 HS512"
                                                   : " (did you mean '" + hint + "'?)"));
    }
    if (std::find(out.algorithms.begin(), out.algorithms.begin() + static_cast<long>(i), alg) !=
        out.algorithms.begin() + static_cast<long>(i)) {
      return src_.error(list[i], "algorithm '" + alg + "' is listed twice");
    }
    if (isHmac(alg)) {
      if (out.secret_file.empty()) {
        return src_.error(list[i], "'" + alg +
                                       "' needs secret_file: HMAC algorithms are "
                                       "verified only with a configured shared secret, never "
                                       "with a public key" +
                                       (out.type == ProviderType::kOidc
                                            ? " (an oidc provider has public keys only)"
                                            : ""));
      }
      hmac = hmac.empty() ? alg : hmac;
    } else {
      asymmetric = asymmetric.empty() ? alg : asymmetric;
    }
  }
  if (!hmac.empty() && !asymmetric.empty()) {
    return src_.error(list, "'" + hmac + "' cannot be mixed with '" + asymmetric +
                                "': a provider keyed by a shared secret accepts only HS256, "
                                "HS384 and HS512");
  }
  if (!out.secret_file.empty() && hmac.empty()) {
    return src_.error(list,
                      "a provider with secret_file needs HS256, HS384 or HS512 in "
                      "algorithms");
  }
  return okStatus();
}

// The checks on a token's claims: for jwt, oidc and introspection.
Status IdentityLoader::loadTokenChecks(const YAML::Node& node, ProviderConfig& out) {
  if (const YAML::Node list = node["audiences"]; list.IsDefined()) {
    RETURN_IF_ERROR(src_.readStringList(list, out.audiences));
    for (size_t i = 0; i < out.audiences.size(); ++i) {
      if (out.audiences[i].empty()) {
        return src_.error(list[i], "an audience must not be empty");
      }
    }
  }
  RETURN_IF_ERROR(src_.optBool(node, "require_exp", out.require_exp));
  RETURN_IF_ERROR(src_.optDuration(node, "leeway", out.leeway));
  if (out.leeway > kMaxLeeway) {
    return src_.error(node["leeway"],
                      "leeway " + durationText(out.leeway) + " is too large (at most 5m)");
  }
  RETURN_IF_ERROR(src_.optDuration(node, "max_lifetime", out.max_lifetime));
  RETURN_IF_ERROR(src_.optString(node, "typ", out.typ));
  if (const YAML::Node list = node["required_claims"]; list.IsDefined()) {
    RETURN_IF_ERROR(loadRequiredClaims(list, out.required_claims));
  }
  if (const YAML::Node claims = node["claims"]; claims.IsDefined()) {
    RETURN_IF_ERROR(loadClaims(claims, out.claims));
  }
  if (const YAML::Node size = node["max_token_bytes"]; size.IsDefined()) {
    uint64_t bytes = 0;
    RETURN_IF_ERROR(src_.readSize(size, kMaxTokenBytes * 1024, bytes));
    if (bytes < kMinTokenBytes || bytes > kMaxTokenBytes) {
      return src_.error(
          size, "max_token_bytes " + std::to_string(bytes) + " is out of range (1KiB..64KiB)");
    }
    out.max_token_bytes = static_cast<uint32_t>(bytes);
  }
  return okStatus();
}

Status IdentityLoader::loadKeyRefresh(const YAML::Node& node, ProviderConfig& out) {
  if (const YAML::Node ca = node["ca_file"]; ca.IsDefined()) {
    RETURN_IF_ERROR(readFile(node, "ca_file", /*secret=*/false, out.ca_file));
  }
  RETURN_IF_ERROR(src_.optDuration(node, "refresh_min", out.refresh_min));
  if (out.refresh_min.count() == 0) {
    return src_.error(node["refresh_min"], "refresh_min must be greater than zero");
  }
  RETURN_IF_ERROR(src_.optDuration(node, "refresh_max", out.refresh_max));
  if (out.refresh_max < out.refresh_min) {
    return src_.error(
        valueOr(node, node["refresh_max"].IsDefined() ? "refresh_max" : "refresh_min"),
        "refresh_max (" + durationText(out.refresh_max) + ") must be at least refresh_min (" +
            durationText(out.refresh_min) + ")");
  }
  RETURN_IF_ERROR(src_.optDuration(node, "unknown_kid_min_interval", out.unknown_kid_min_interval));
  if (out.unknown_kid_min_interval < kMinUnknownKidInterval) {
    return src_.error(node["unknown_kid_min_interval"],
                      "unknown_kid_min_interval must be at least 1s: it bounds how often "
                      "tokens with unknown key ids can make stepgate refetch keys");
  }
  RETURN_IF_ERROR(src_.optDuration(node, "max_staleness", out.max_staleness));
  return readFetchTimeout(node, out);
}

Status IdentityLoader::loadIntrospection(const YAML::Node& node, ProviderConfig& out) {
  RETURN_IF_ERROR(src_.require(node, "introspection_endpoint"));
  RETURN_IF_ERROR(readUrl(node, "introspection_endpoint", out.introspection_endpoint));
  RETURN_IF_ERROR(src_.require(node, "client_id"));
  RETURN_IF_ERROR(src_.readString(node["client_id"], out.client_id));
  if (out.client_id.empty()) {
    return src_.error(node["client_id"], "client_id must not be empty");
  }
  RETURN_IF_ERROR(loadClientAuth(node, out));
  if (node["ca_file"].IsDefined()) {
    RETURN_IF_ERROR(readFile(node, "ca_file", /*secret=*/false, out.ca_file));
  }
  RETURN_IF_ERROR(src_.optDuration(node, "cache_max_ttl", out.cache_max_ttl));
  RETURN_IF_ERROR(src_.optDuration(node, "negative_cache_ttl", out.negative_cache_ttl));
  return readFetchTimeout(node, out);
}

// client_auth and the keys of its method: client_secret_file for client_secret_basic;
// client_key_file and client_key_alg for private_key_jwt. Whether the key fits the algorithm
// is checked when the Introspector reads it (config/ does not parse keys).
Status IdentityLoader::loadClientAuth(const YAML::Node& node, ProviderConfig& out) {
  const YAML::Node auth = node["client_auth"];
  if (auth.IsDefined()) {
    std::string text;
    RETURN_IF_ERROR(src_.readString(auth, text));
    if (text == "client_secret_basic") {
      out.client_auth = IntrospectionClientAuth::kClientSecretBasic;
    } else if (text == "private_key_jwt") {
      out.client_auth = IntrospectionClientAuth::kPrivateKeyJwt;
    } else {
      return src_.error(auth, "unknown client_auth '" + text +
                                  "'; expected one of: client_secret_basic, private_key_jwt");
    }
  }
  const bool key_jwt = out.client_auth == IntrospectionClientAuth::kPrivateKeyJwt;
  const std::string method =
      std::string("client_auth ") + (key_jwt ? "private_key_jwt" : "client_secret_basic") +
      (auth.IsDefined() ? "" : " (the default)");
  const std::vector<std::string_view> other =
      key_jwt ? std::vector<std::string_view>{"client_secret_file"}
              : std::vector<std::string_view>{"client_key_file", "client_key_alg"};
  for (std::string_view key : other) {
    if (node[std::string(key)].IsDefined()) {
      return src_.error(keyOr(node, key),
                        "'" + std::string(key) + "' does not apply to " + method);
    }
  }
  if (!key_jwt) {
    RETURN_IF_ERROR(src_.require(node, "client_secret_file"));
    return readFile(node, "client_secret_file", /*secret=*/true, out.client_secret_file);
  }
  RETURN_IF_ERROR(src_.require(node, "client_key_file"));
  RETURN_IF_ERROR(readFile(node, "client_key_file", /*secret=*/true, out.client_key_file));
  if (const YAML::Node alg = node["client_key_alg"]; alg.IsDefined()) {
    RETURN_IF_ERROR(src_.readString(alg, out.client_key_alg));
    const std::vector<std::string_view> known(std::begin(kClientKeyAlgorithms),
                                              std::end(kClientKeyAlgorithms));
    if (!contains(known, out.client_key_alg)) {
      const std::string hint = closestMatch(out.client_key_alg, known);
      return src_.error(alg, "unknown client_key_alg '" + out.client_key_alg + "'" +
                                 (hint.empty() ? "; expected one of: ES256 ES384 RS256 PS256 EdDSA"
                                               : " (did you mean '" + hint + "'?)"));
    }
  }
  return okStatus();
}

Status IdentityLoader::readFetchTimeout(const YAML::Node& node, ProviderConfig& out) {
  RETURN_IF_ERROR(src_.optDuration(node, "fetch_timeout", out.fetch_timeout));
  if (out.fetch_timeout.count() == 0) {
    return src_.error(node["fetch_timeout"], "fetch_timeout must be greater than zero");
  }
  return okStatus();
}

Status IdentityLoader::loadMtls(const YAML::Node& node, ProviderConfig& out) {
  if (const YAML::Node subject = node["certificate_subject"]; subject.IsDefined()) {
    RETURN_IF_ERROR(src_.readString(subject, out.certificate_subject));
    if (out.certificate_subject != "san_uri" && out.certificate_subject != "san_dns" &&
        out.certificate_subject != "subject_dn") {
      return src_.error(subject, "unknown certificate_subject '" + out.certificate_subject +
                                     "'; expected one of: san_uri, san_dns, subject_dn");
    }
  }
  for (const ListenerConfig& listener : listeners_) {
    if (listener.tls && !listener.tls->client_ca_file.empty() &&
        listener.tls->client_auth != ClientAuth::kNone) {
      return okStatus();
    }
  }
  return src_.error(node, "mtls provider '" + out.name +
                              "' needs a TLS listener with client_ca (and client_auth optional "
                              "or required); no listener requests client certificates");
}

Status IdentityLoader::loadClaims(const YAML::Node& node, ClaimMapping& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"subject", "groups", "groups_space_separated", "name",
                                       "email", "mfa_amr", "mfa_acr"}));
  if (const YAML::Node n = node["subject"]; n.IsDefined()) {
    RETURN_IF_ERROR(readClaimRef(n, out.subject));
  }
  if (const YAML::Node n = node["groups"]; n.IsDefined()) {
    RETURN_IF_ERROR(readClaimRef(n, out.groups));
  }
  RETURN_IF_ERROR(src_.optBool(node, "groups_space_separated", out.groups_space_separated));
  if (out.groups_space_separated && out.groups.empty()) {
    return src_.error(node["groups_space_separated"],
                      "groups_space_separated needs claims.groups (e.g. groups: scope)");
  }
  // name and email may be "" to leave them unmapped.
  for (const char* key : {"name", "email"}) {
    if (const YAML::Node n = node[key]; n.IsDefined()) {
      std::string& field = std::string_view(key) == "name" ? out.name : out.email;
      RETURN_IF_ERROR(src_.readString(n, field));
      if (!field.empty()) {
        RETURN_IF_ERROR(readClaimRef(n, field));
      }
    }
  }
  for (const char* key : {"mfa_amr", "mfa_acr"}) {
    if (const YAML::Node list = node[key]; list.IsDefined()) {
      std::vector<std::string>& field =
          std::string_view(key) == "mfa_amr" ? out.mfa_amr : out.mfa_acr;
      RETURN_IF_ERROR(src_.readStringList(list, field));
      for (size_t i = 0; i < field.size(); ++i) {
        if (field[i].empty()) {
          return src_.error(list[i], std::string(key) + ": a value must not be empty");
        }
      }
    }
  }
  return okStatus();
}

Status IdentityLoader::loadRequiredClaims(const YAML::Node& node, std::vector<RequiredClaim>& out) {
  if (!node.IsSequence()) {
    return src_.error(node, "required_claims: expected a list of {name, any_of} maps");
  }
  for (const YAML::Node& item : node) {
    RETURN_IF_ERROR(src_.checkMap(item, {"name", "any_of"}));
    RETURN_IF_ERROR(src_.require(item, "name"));
    RequiredClaim claim;
    RETURN_IF_ERROR(readClaimRef(item["name"], claim.name));
    for (const RequiredClaim& other : out) {
      if (other.name == claim.name) {
        return src_.error(item["name"], "required claim '" + claim.name + "' is listed twice");
      }
    }
    if (const YAML::Node any = item["any_of"]; any.IsDefined()) {
      RETURN_IF_ERROR(src_.readStringList(any, claim.any_of));
      if (claim.any_of.empty()) {
        return src_.error(any,
                          "any_of must not be empty; leave it out to require only that "
                          "the claim exists");
      }
    }
    out.push_back(std::move(claim));
  }
  return okStatus();
}

Status IdentityLoader::checkAcrossProviders(const IdentityConfig& config) {
  const auto& ps = config.providers;
  for (size_t i = 0; i < ps.size(); ++i) {
    const YAML::Node& node = provider_nodes_[i];
    for (size_t j = 0; j < i; ++j) {
      const YAML::Node& earlier = provider_nodes_[j];
      if (ps[j].name == ps[i].name) {
        return src_.error(node["name"], "duplicate provider name '" + ps[i].name + "' (first at " +
                                            src_.position(earlier["name"]) + ")");
      }
      if (!ps[i].issuer.empty() && ps[j].issuer == ps[i].issuer) {
        return src_.error(node["issuer"],
                          "issuer '" + ps[i].issuer + "' is already used by provider '" +
                              ps[j].name + "' (at " + src_.position(earlier["issuer"]) +
                              "); tokens are routed to providers by their iss, so each issuer "
                              "may appear once");
      }
      if (ps[i].type == ps[j].type &&
          (ps[i].type == ProviderType::kMtls || ps[i].type == ProviderType::kIntrospection)) {
        const char* why = ps[i].type == ProviderType::kMtls
                              ? "a client certificate names no provider"
                              : "an opaque token names no issuer to route it by";
        return src_.error(node, std::string("at most one ") + typeName(ps[i].type) +
                                    " provider is allowed (" + why + "); '" + ps[j].name +
                                    "' is at " + src_.position(earlier));
      }
    }
  }
  return okStatus();
}

Status IdentityLoader::readUrl(const YAML::Node& map, const char* key, std::string& out) {
  const YAML::Node node = map[key];
  RETURN_IF_ERROR(src_.readString(node, out));
  if (Status s = checkUrl(out); !s.isOk()) {
    return src_.error(node, std::string(key) + ": " + s.message());
  }
  return okStatus();
}

Status IdentityLoader::readClaimRef(const YAML::Node& node, std::string& out) {
  std::string text;
  RETURN_IF_ERROR(src_.readString(node, text));
  if (Status s = checkClaimRef(text); !s.isOk()) {
    return src_.error(node, s.message());
  }
  out = std::move(text);
  return okStatus();
}

Status IdentityLoader::readFile(const YAML::Node& map, const char* key, bool secret,
                                std::string& out) {
  const YAML::Node node = map[key];
  std::string text;
  RETURN_IF_ERROR(src_.readString(node, text));
  if (text.empty()) {
    return src_.error(node, std::string(key) + ": the file name must not be empty");
  }
  const std::filesystem::path resolved = (base_dir_ / text).lexically_normal();
  const std::string shown = "'" + text + "' (" + resolved.string() + ")";
  const int fd = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return src_.error(node,
                      std::string(key) + ": cannot read " + shown + ": " + std::strerror(err));
  }
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  ::close(fd);
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    return src_.error(node, std::string(key) + ": " + shown + " is not a regular file");
  }
  if (secret && (st.st_mode & S_IROTH) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return src_.error(node, std::string(key) + ": " + shown + " is readable by every user " +
                                "(mode " + mode + "); a secret must not be (chmod o-r)");
  }
  out = resolved.string();
  return okStatus();
}

}  // namespace

Status loadIdentity(const YamlSource& src, const std::filesystem::path& base_dir,
                    const YAML::Node& node, const std::vector<ListenerConfig>& listeners,
                    IdentityConfig& out) {
  IdentityLoader loader(src, base_dir, listeners);
  return loader.load(node, out);
}

}  // namespace stepgate::config
