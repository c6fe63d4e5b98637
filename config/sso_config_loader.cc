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

bool scopeToken(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

bool paramName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

Status loadOidc(const YamlSource& src, const std::filesystem::path& base_dir,
                const YAML::Node& n, const std::string& prefix, SsoOidcConfig& out) {
  RETURN_IF_ERROR(src.checkMap(n, {"provider", "client_id", "client_auth", "client_secret_file",
                                   "client_key_file", "client_key_alg", "redirect_uri",
                                   "scopes", "extra_params", "refresh_ttl", "fetch_timeout",
                                   "ca_file"}));
  for (const char* k : {"provider", "client_id", "redirect_uri"}) {
    RETURN_IF_ERROR(src.require(n, k));
  }
  RETURN_IF_ERROR(src.optString(n, "provider", out.provider));
  RETURN_IF_ERROR(src.optString(n, "client_id", out.client_id));
  if (out.client_id.empty()) return src.error(n["client_id"], "client_id: must not be empty");
  std::string auth = "client_secret_basic";
  RETURN_IF_ERROR(src.optString(n, "client_auth", auth));
  if (auth == "client_secret_basic") {
    out.client_auth = LoginClientAuth::kClientSecretBasic;
  } else if (auth == "client_secret_post") {
    out.client_auth = LoginClientAuth::kClientSecretPost;
  } else if (auth == "private_key_jwt") {
    out.client_auth = LoginClientAuth::kPrivateKeyJwt;
  } else {
    return src.error(n["client_auth"], "client_auth: expected client_secret_basic, "
                                       "client_secret_post or private_key_jwt");
  }
  RETURN_IF_ERROR(fileName(src, base_dir, n, "client_secret_file", true, out.client_secret_file));
  RETURN_IF_ERROR(fileName(src, base_dir, n, "client_key_file", true, out.client_key_file));
  RETURN_IF_ERROR(src.optString(n, "client_key_alg", out.client_key_alg));
  if (out.client_auth == LoginClientAuth::kPrivateKeyJwt) {
    if (out.client_key_file.empty()) {
      return src.error(n, "private_key_jwt needs client_key_file");
    }
    if (!out.client_secret_file.empty()) {
      return src.error(n["client_secret_file"], "client_secret_file: not with private_key_jwt");
    }
  } else {
    if (out.client_secret_file.empty()) {
      return src.error(n, auth + " needs client_secret_file");
    }
    if (!out.client_key_file.empty()) {
      return src.error(n["client_key_file"], "client_key_file: only with private_key_jwt");
    }
  }
  RETURN_IF_ERROR(src.optString(n, "redirect_uri", out.redirect_uri));
  if (!httpUrl(out.redirect_uri) || urlPath(out.redirect_uri) != prefix + "/oidc/callback") {
    return src.error(n["redirect_uri"], "redirect_uri: expected https://HOST" + prefix +
                                            "/oidc/callback (under path_prefix on this host)");
  }
  if (const YAML::Node s = n["scopes"]; s.IsDefined()) {
    RETURN_IF_ERROR(src.readStringList(s, out.scopes));
    bool openid = false;
    for (const std::string& v : out.scopes) {
      if (!scopeToken(v)) return src.error(s, "scopes: '" + v + "' is not a scope token");
      openid = openid || v == "openid";
    }
    if (!openid) return src.error(s, "scopes: must contain openid");
  }
  if (const YAML::Node e = n["extra_params"]; e.IsDefined()) {
    RETURN_IF_ERROR(src.readStringList(e, out.extra_params));
    for (const std::string& v : out.extra_params) {
      if (!paramName(v)) return src.error(e, "extra_params: '" + v + "' is not a parameter name");
    }
  }
  RETURN_IF_ERROR(src.optDuration(n, "refresh_ttl", out.refresh_ttl));
  if (out.refresh_ttl > std::chrono::hours(24 * 30)) {
    return src.error(n["refresh_ttl"], "refresh_ttl: at most 720h (0 keeps no refresh token)");
  }
  RETURN_IF_ERROR(src.optDuration(n, "fetch_timeout", out.fetch_timeout));
  if (out.fetch_timeout < std::chrono::milliseconds(100) ||
      out.fetch_timeout > std::chrono::seconds(60)) {
    return src.error(n["fetch_timeout"], "fetch_timeout: 100ms to 60s");
  }
  RETURN_IF_ERROR(fileName(src, base_dir, n, "ca_file", true, out.ca_file));
  return okStatus();
}

}  // namespace

Status loadSso(const YamlSource& src, const std::filesystem::path& base_dir,
               const YAML::Node& node, const std::optional<IssuerConfig>& issuer,
               SsoConfig& out) {
  RETURN_IF_ERROR(
      src.checkMap(node, {"path_prefix", "login_redirect", "session", "saml", "oidc", "token"}));
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
  RETURN_IF_ERROR(src.optBool(node, "login_redirect", out.login_redirect));
  if (!node["saml"].IsDefined() && !node["oidc"].IsDefined()) {
    return src.error(node, "sso needs 'saml', 'oidc' or both (how people sign in)");
  }
  if (const YAML::Node n = node["saml"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadSaml(src, base_dir, n, out.path_prefix, out.saml.emplace()));
  }
  if (const YAML::Node n = node["oidc"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadOidc(src, base_dir, n, out.path_prefix, out.oidc.emplace()));
  }
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
