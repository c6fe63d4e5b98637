#include "config/sso_config_loader.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <string_view>

namespace stepgate::config {

namespace {

std::string resolve(const std::filesystem::path& base_dir, const std::string& text) {
  std::filesystem::path p(text);
  if (p.is_relative()) p = base_dir / p;
  return p.lexically_normal().string();
}

Status fileName(const YamlSource& src, const std::filesystem::path& base_dir,
                const YAML::Node& map, const char* key, bool must_exist, std::string& out) {
  const YAML::Node n = map[key];
  if (!n.IsDefined()) return okStatus();
  std::string text;
  RETURN_IF_ERROR(src.readString(n, text));
  if (text.empty()) return src.error(n, std::string(key) + ": the file name must not be empty");
  out = resolve(base_dir, text);
  if (must_exist) {
    const int fd = ::open(out.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return src.error(n, std::string(key) + ": cannot read '" + text + "'");
    ::close(fd);
  }
  return okStatus();
}

bool httpUrl(std::string_view u) {
  return u.rfind("https://", 0) == 0 || u.rfind("http://", 0) == 0;
}

// The path of an absolute http(s) URL ("/" when none); empty for a URL with a query or
// fragment.
std::string urlPath(std::string_view u) {
  const size_t scheme = u.find("://");
  const size_t slash = u.find('/', scheme + 3);
  if (u.find_first_of("?#") != std::string_view::npos) return {};
  if (slash == std::string_view::npos) return "/";
  return std::string(u.substr(slash));
}

bool cookieToken(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

bool validPrefix(std::string_view p) {
  if (p.size() < 2 || p.size() > 64 || p[0] != '/' || p.back() == '/') return false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '/' && i > 0 && p[i - 1] == '/') return false;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.' || c == '/')) {
      return false;
    }
  }
  return p != "/." && p != "/..";
}

Status loadSession(const YamlSource& src, const std::filesystem::path& base_dir,
                   const YAML::Node& n, SsoSessionConfig& out) {
  RETURN_IF_ERROR(src.checkMap(n, {"key_file", "ttl", "idle_ttl", "cookie_name", "domain"}));
  RETURN_IF_ERROR(src.require(n, "key_file"));
  RETURN_IF_ERROR(fileName(src, base_dir, n, "key_file", false, out.key_file));
  RETURN_IF_ERROR(src.optDuration(n, "ttl", out.ttl));
  RETURN_IF_ERROR(src.optDuration(n, "idle_ttl", out.idle_ttl));
  if (out.ttl < std::chrono::minutes(1)) return src.error(n["ttl"], "ttl: at least 1m");
  if (out.idle_ttl < std::chrono::minutes(1) || out.idle_ttl > out.ttl) {
    return src.error(n["idle_ttl"], "idle_ttl: at least 1m and at most ttl");
  }
  RETURN_IF_ERROR(src.optString(n, "cookie_name", out.cookie_name));
  if (!cookieToken(out.cookie_name)) {
    return src.error(n["cookie_name"], "cookie_name: letters, digits, '-', '_' and '.'");
  }
  RETURN_IF_ERROR(src.optString(n, "domain", out.domain));
  for (char c : out.domain) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '.')) {
      return src.error(n["domain"], "domain: a host name");
    }
  }
  return okStatus();
}

Status loadSaml(const YamlSource& src, const std::filesystem::path& base_dir,
                const YAML::Node& n, const std::string& prefix, SsoSamlConfig& out) {
  RETURN_IF_ERROR(src.checkMap(n, {"entity_id", "acs_url", "idp_entity_id", "idp_cert",
                                   "idp_sso_url", "sp_key", "sp_cert", "subject_attribute",
                                   "groups_attribute", "clock_skew"}));
  for (const char* k : {"entity_id", "acs_url", "idp_entity_id", "idp_cert", "idp_sso_url"}) {
    RETURN_IF_ERROR(src.require(n, k));
  }
  RETURN_IF_ERROR(src.optString(n, "entity_id", out.entity_id));
  if (out.entity_id.empty()) return src.error(n["entity_id"], "entity_id: must not be empty");
  RETURN_IF_ERROR(src.optString(n, "acs_url", out.acs_url));
  if (!httpUrl(out.acs_url) || urlPath(out.acs_url) != prefix + "/saml/acs") {
    return src.error(n["acs_url"], "acs_url: expected https://HOST" + prefix +
                                       "/saml/acs (under path_prefix on this host)");
  }
  RETURN_IF_ERROR(src.optString(n, "idp_entity_id", out.idp_entity_id));
  if (out.idp_entity_id.empty()) {
    return src.error(n["idp_entity_id"], "idp_entity_id: must not be empty");
  }
  RETURN_IF_ERROR(fileName(src, base_dir, n, "idp_cert", true, out.idp_cert_file));
  RETURN_IF_ERROR(src.optString(n, "idp_sso_url", out.idp_sso_url));
  if (!httpUrl(out.idp_sso_url) || out.idp_sso_url.find('#') != std::string::npos) {
    return src.error(n["idp_sso_url"], "idp_sso_url: expected an https:// URL");
  }
  RETURN_IF_ERROR(fileName(src, base_dir, n, "sp_key", true, out.sp_key_file));
  RETURN_IF_ERROR(fileName(src, base_dir, n, "sp_cert", true, out.sp_cert_file));
  if (out.sp_key_file.empty() != out.sp_cert_file.empty()) {
    return src.error(n[out.sp_key_file.empty() ? "sp_cert" : "sp_key"],
                     "sp_key and sp_cert go together");
  }
  RETURN_IF_ERROR(src.optString(n, "subject_attribute", out.subject_attribute));
  RETURN_IF_ERROR(src.optString(n, "groups_attribute", out.groups_attribute));
  RETURN_IF_ERROR(src.optDuration(n, "clock_skew", out.clock_skew));
  if (out.clock_skew > std::chrono::minutes(10)) {
    return src.error(n["clock_skew"], "clock_skew: at most 10m");
  }
  return okStatus();
}

}  // namespace

Status loadSso(const YamlSource& src, const std::filesystem::path& base_dir,
               const YAML::Node& node, const std::optional<IssuerConfig>& issuer,
               SsoConfig& out) {
  RETURN_IF_ERROR(src.checkMap(node, {"path_prefix", "session", "saml", "token"}));
  if (!issuer) {
    return src.error(node, "sso needs the top-level 'issuer' (stepgate's signing key)");
  }
  RETURN_IF_ERROR(src.optString(node, "path_prefix", out.path_prefix));
  if (!validPrefix(out.path_prefix)) {
    return src.error(node["path_prefix"],
                     "path_prefix: a path like /.stepgate (no trailing '/', no '//')");
  }
  RETURN_IF_ERROR(src.require(node, "session"));
  RETURN_IF_ERROR(loadSession(src, base_dir, node["session"], out.session));
  RETURN_IF_ERROR(src.require(node, "saml"));
  RETURN_IF_ERROR(loadSaml(src, base_dir, node["saml"], out.path_prefix, out.saml));
  out.token.audience = issuer->url;
  if (const YAML::Node t = node["token"]; t.IsDefined()) {
    RETURN_IF_ERROR(src.checkMap(t, {"ttl", "audience"}));
    RETURN_IF_ERROR(src.optDuration(t, "ttl", out.token.ttl));
    if (out.token.ttl < std::chrono::minutes(1) || out.token.ttl > std::chrono::hours(24)) {
      return src.error(t["ttl"], "ttl: 1m to 24h");
    }
    RETURN_IF_ERROR(src.optString(t, "audience", out.token.audience));
    if (out.token.audience.empty()) return src.error(t["audience"], "audience: must not be empty");
  }
  return okStatus();
}

ProviderConfig stepgateProvider(const IssuerConfig& issuer, const SsoConfig& sso) {
  ProviderConfig p;
  p.name = kStepgateProviderName;
  p.type = ProviderType::kJwt;
  p.issuer = issuer.url;
  p.audiences = {sso.token.audience};
  p.algorithms = {"ES256"};
  p.typ = "at+jwt";
  p.local_issuer = true;
  p.leeway = std::chrono::seconds(30);
  p.max_lifetime = sso.token.ttl + std::chrono::minutes(1);
  p.claims.groups = "groups";
  p.claims.mfa_amr = {"mfa"};
  return p;
}

}  // namespace stepgate::config
