#include "config/loader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>
#include <vector>

#include "common/cidr.h"
#include "common/logging.h"
#include "config/identity_loader.h"
#include "config/audit_config_loader.h"
#include "config/sso_config_loader.h"
#include "config/policy_config_loader.h"
#include "config/host_name.h"
#include "config/yaml_util.h"

namespace stepgate::config {
namespace {

constexpr uint64_t kMaxWorkers = 256;
constexpr std::string_view kProfiles[] = {"conductor", "step-functions", "temporal",
                                          "argo",      "airflow",        "generic"};

std::string joinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) {
    out += out.empty() ? "" : ", ";
    out += n;
  }
  return out;
}


// RFC 9110 token characters, for the Via pseudonym.
bool isToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f || std::strchr("\"(),/:;<=>?@[\\]{}", c) != nullptr) {
      return false;
    }
  }
  return true;
}

bool isUpstreamName(std::string_view name) {
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return !name.empty();
}

// A trusted-proxy entry in the normalised "address/prefix" form (a bare address is a host).
// Parsed by common/cidr.h, the same parser the proxy uses, so both accept the same texts.
StatusOr<std::string> normaliseCidr(std::string_view text) {
  auto cidr = parseCidr(text);
  if (!cidr.isOk()) {
    return cidr.status();
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(cidr->family, cidr->bytes, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(cidr->prefix);
}

struct ParsedUrl {
  bool https = false;
  std::string host;  // without brackets
  bool ipv6 = false;
  uint16_t port = 0;
};

// "http(s)://host[:port]" with an optional lone trailing "/". Errors carry no position.
StatusOr<ParsedUrl> parseUpstreamUrl(std::string_view url) {
  ParsedUrl out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.https = true;
  } else {
    return invalidArgument("expected a URL like http://host:port or https://host:port, got '" +
                           std::string(url) + "'");
  }
  if (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return invalidArgument("the URL must not have a path, query or fragment: '" +
                           std::string(url) + "'");
  }
  if (rest.find('@') != std::string_view::npos) {
    return invalidArgument("the URL must not contain user info: '" + std::string(url) + "'");
  }
  std::string_view host;
  std::string_view port_text;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return invalidArgument("unterminated '[' in '" + std::string(url) + "'");
    }
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return invalidArgument("unexpected text after ']' in '" + std::string(url) + "'");
    }
    port_text = after.empty() ? after : after.substr(1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return invalidArgument("'" + std::string(host) + "' is not an IPv6 address");
    }
    out.ipv6 = true;
  } else {
    const size_t colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) {
        return invalidArgument("empty port in '" + std::string(url) + "'");
      }
    }
    if (!isValidHostName(host, false)) {
      return invalidArgument("bad host '" + std::string(host) + "' in '" + std::string(url) +
                             "'");
    }
  }
  out.host = std::string(host);
  if (port_text.empty()) {
    out.port = out.https ? 443 : 80;
    return out;
  }
  unsigned port = 0;
  bool ok = port_text.size() <= 5;
  for (char c : port_text) {
    ok = ok && c >= '0' && c <= '9';
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (!ok || port < 1 || port > 65535) {
    return invalidArgument("bad port '" + std::string(port_text) + "' in '" + std::string(url) +
                           "' (1..65535)");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

// Resolves `host` (a name or an IP literal) to stream socket addresses with `port`, in the
// resolver's order, without duplicates.
StatusOr<std::vector<SocketAddress>> resolve(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    return invalidArgument("cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  std::vector<SocketAddress> out;
  std::set<std::string> seen;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
      continue;
    }
    SocketAddress addr = socketAddressFrom(ai->ai_addr, ai->ai_addrlen);
    if (seen.insert(addr.toString()).second) {
      out.push_back(addr);
    }
  }
  freeaddrinfo(result);
  if (out.empty()) {
    return invalidArgument("'" + host + "' resolved to no IPv4 or IPv6 address");
  }
  return out;
}

bool isWildcard(const SocketAddress& a) {
  if (a.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr == INADDR_ANY;
  }
  const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr;
  return IN6_IS_ADDR_UNSPECIFIED(&v6);
}

// True iff binding both would clash: same port and family, and the same IP or one wildcard.
bool overlaps(const SocketAddress& a, const SocketAddress& b) {
  if (a.port() == 0 || a.port() != b.port() || a.family() != b.family()) {
    return false;
  }
  return isWildcard(a) || isWildcard(b) || a.ipString() == b.ipString();
}

// The value node of `key` when present, else of `fallback` when given and present, else the
// map itself (for error positions).
YAML::Node nodeFor(const YAML::Node& map, const char* key, const char* fallback = nullptr) {
  if (map.IsDefined() && map.IsMap()) {
    if (const YAML::Node value = map[key]; value.IsDefined()) {
      return value;
    }
    if (fallback != nullptr) {
      if (const YAML::Node value = map[fallback]; value.IsDefined()) {
        return value;
      }
    }
  }
  return map;
}

// Builds a Config from a parsed document. One instance per load; not shared.
class Loader {
 public:
  Loader(const YamlSource& source, std::filesystem::path base_dir)
      : src_(source), base_dir_(std::move(base_dir)) {}

  [[nodiscard]] Status load(const YAML::Node& root, Config& config);

 private:
  [[nodiscard]] Status loadUpstreams(const YAML::Node& node, Config& config);
  [[nodiscard]] Status loadUpstream(const YAML::Node& name, const YAML::Node& node,
                                    UpstreamConfig& out);
  [[nodiscard]] Status loadListeners(const YAML::Node& node, Config& config);
  [[nodiscard]] Status loadListener(const YAML::Node& node, ListenerConfig& out);
  [[nodiscard]] Status bindUpstreams(Config& config);
  [[nodiscard]] Status loadServerTls(const YAML::Node& node, ServerTlsConfig& out);
  [[nodiscard]] Status loadLimits(const YAML::Node& node, LimitsConfig& out);
  [[nodiscard]] Status loadLookup(const YAML::Node& node, LookupConfig& out);
  [[nodiscard]] Status loadAws(const YAML::Node& node, AwsSigningConfig& out);
  [[nodiscard]] Status loadPath(const YAML::Node& node, PathConfig& out);
  [[nodiscard]] Status loadProxy(const YAML::Node& node, ProxyConfig& out);
  [[nodiscard]] Status loadAdmin(const YAML::Node& node, AdminConfig& out);
  [[nodiscard]] Status loadLog(const YAML::Node& node, LogConfig& out);
  [[nodiscard]] Status checkAddresses(const Config& config);
  [[nodiscard]] Status resolveUpstreams(Config& config);

  // Reads a file path, makes it relative to the config's folder and checks it can be read.
  [[nodiscard]] Status readFile(const YAML::Node& node, std::string_view key, std::string& out);
  [[nodiscard]] Status positive(const YAML::Node& map, const char* key, uint64_t value,
                                std::string_view section);

  // Const access only: a non-const operator[] would insert keys into the document.
  const YAML::Node& listenerNode(size_t i) const { return listener_nodes_[i]; }
  const YAML::Node& upstreamNode(size_t i) const { return upstream_nodes_[i]; }

  const YamlSource& src_;
  std::filesystem::path base_dir_;
  std::vector<YAML::Node> listener_nodes_;  // parallel to Config::listeners
  std::vector<YAML::Node> upstream_nodes_;  // parallel to Config::upstreams
};

Status Loader::load(const YAML::Node& root, Config& config) {
  RETURN_IF_ERROR(src_.checkMap(root, {"listeners", "upstreams", "limits", "path", "proxy", "admin",
                                       "log", "identity", "policies", "policy", "audit",
                                       "issuer", "sso"}));
  RETURN_IF_ERROR(src_.require(root, "listeners"));
  RETURN_IF_ERROR(loadListeners(root["listeners"], config));
  RETURN_IF_ERROR(src_.require(root, "upstreams"));
  RETURN_IF_ERROR(loadUpstreams(root["upstreams"], config));
  RETURN_IF_ERROR(bindUpstreams(config));
  if (const YAML::Node n = root["limits"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadLimits(n, config.limits));
  }
  if (const YAML::Node n = root["path"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadPath(n, config.path));
  }
  if (const YAML::Node n = root["proxy"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadProxy(n, config.proxy));
  }
  RETURN_IF_ERROR(loadAdmin(root["admin"], config.admin));
  if (const YAML::Node n = root["log"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadLog(n, config.log));
  }
  if (const YAML::Node n = root["identity"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadIdentity(src_, base_dir_, n, config.listeners, config.identity));
  }
  if (const YAML::Node n = root["policies"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadPoliciesDir(src_, base_dir_, n, config.policies_dir));
  }
  if (const YAML::Node n = root["policy"]; n.IsDefined()) {
    RETURN_IF_ERROR(loadPolicyOptions(src_, n, config.policy));
  }
  if (const YAML::Node n = root["audit"]; n.IsDefined()) {
    config.audit.emplace();
    RETURN_IF_ERROR(loadAudit(src_, base_dir_, n, *config.audit));
  }
  if (const YAML::Node n = root["issuer"]; n.IsDefined()) {
    RETURN_IF_ERROR(src_.checkMap(n, {"url", "signing_key", "previous_keys"}));
    RETURN_IF_ERROR(src_.require(n, "url"));
    RETURN_IF_ERROR(src_.require(n, "signing_key"));
    config.issuer.emplace();
    RETURN_IF_ERROR(src_.optString(n, "url", config.issuer->url));
    if (config.issuer->url.rfind("https://", 0) != 0 &&
        config.issuer->url.rfind("http://", 0) != 0) {
      return src_.error(n["url"], "url: expected https://host[:port][/path]");
    }
    std::string key;
    RETURN_IF_ERROR(src_.optString(n, "signing_key", key));
    if (key.empty()) return src_.error(n["signing_key"], "signing_key: a file name");
    std::filesystem::path kp(key);
    if (kp.is_relative()) kp = base_dir_ / kp;
    config.issuer->signing_key_file = kp.lexically_normal().string();
    if (const YAML::Node prev = n["previous_keys"]; prev.IsDefined()) {
      std::vector<std::string> files;
      RETURN_IF_ERROR(src_.readStringList(prev, files));
      if (files.size() > 4) return src_.error(prev, "previous_keys: at most 4 files");
      for (const std::string& f : files) {
        std::filesystem::path fp(f);
        if (fp.is_relative()) fp = base_dir_ / fp;
        if (!std::filesystem::exists(fp)) {
          return src_.error(prev, "previous_keys: cannot read '" + f + "'");
        }
        config.issuer->previous_key_files.push_back(fp.lexically_normal().string());
      }
    }
  }
  if (const YAML::Node n = root["sso"]; n.IsDefined()) {
    config.sso.emplace();
    RETURN_IF_ERROR(loadSso(src_, base_dir_, n, config.issuer, *config.sso));
    for (const auto& p : config.identity.providers) {
      if (p.name == kStepgateProviderName || p.issuer == config.issuer->url) {
        return src_.error(n, std::string("sso: an identity provider already uses the name '") +
                                 kStepgateProviderName + "' or the issuer url");
      }
    }
    if (config.sso->oidc) {
      const ProviderConfig* found = nullptr;
      for (const auto& p : config.identity.providers) {
        if (p.name == config.sso->oidc->provider) found = &p;
      }
      if (found == nullptr || found->type != ProviderType::kOidc) {
        return src_.error(n["oidc"]["provider"],
                          "provider: expected the name of an identity provider of type oidc "
                          "(its discovery document and keys verify the ID token)");
      }
    }
    config.identity.providers.push_back(stepgateProvider(*config.issuer, *config.sso));
  }
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    if (config.upstreams[i].identity_assertion && !config.issuer) {
      return src_.error(upstream_nodes_[i]["identity_assertion"],
                        "identity_assertion needs the top-level 'issuer' (stepgate's signing key)");
    }
  }
  RETURN_IF_ERROR(checkAddresses(config));
  // Last, as it may wait on DNS: only a config that is otherwise valid gets resolved.
  return resolveUpstreams(config);
}

Status Loader::loadUpstreams(const YAML::Node& node, Config& config) {
  RETURN_IF_ERROR(src_.checkNamedMap(node));
  if (node.size() == 0) {
    return src_.error(node, "at least one upstream is required");
  }
  for (const auto& pair : node) {
    UpstreamConfig upstream;
    RETURN_IF_ERROR(loadUpstream(pair.first, pair.second, upstream));
    config.upstreams.push_back(std::move(upstream));
    upstream_nodes_.push_back(pair.second);
  }
  return okStatus();
}

Status Loader::loadUpstream(const YAML::Node& name, const YAML::Node& node, UpstreamConfig& out) {
  out.name = name.Scalar();
  if (!isUpstreamName(out.name)) {
    return src_.error(name, "upstream name '" + out.name +
                                "' may only contain letters, digits, '.', '-' and '_'");
  }
  RETURN_IF_ERROR(src_.checkMap(node, {"profile", "url", "connect_timeout", "response_timeout",
                                       "max_idle", "idle_timeout", "max_requests_per_connection",
                                       "tls", "routes", "lookup", "aws",
                                       "max_inspected_body", "identity_assertion"}));
  RETURN_IF_ERROR(src_.require(node, "url"));
  RETURN_IF_ERROR(src_.optString(node, "profile", out.profile));
  const std::vector<std::string_view> profiles(std::begin(kProfiles), std::end(kProfiles));
  if (std::find(profiles.begin(), profiles.end(), out.profile) == profiles.end()) {
    return src_.error(node["profile"], "unknown profile '" + out.profile +
                                           "'; expected one of: " + joinNames(profiles));
  }
  RETURN_IF_ERROR(src_.readString(node["url"], out.url));
  auto url = parseUpstreamUrl(out.url);
  if (!url.isOk()) {
    return src_.error(node["url"], url.status().message());
  }
  out.https = url->https;
  out.host = url->host;
  out.port = url->port;
  out.host_header = url->ipv6 ? "[" + out.host + "]" : out.host;
  if (out.port != (out.https ? 443 : 80)) {
    out.host_header += ":" + std::to_string(out.port);
  }
  RETURN_IF_ERROR(src_.optDuration(node, "connect_timeout", out.connect_timeout));
  RETURN_IF_ERROR(positive(node, "connect_timeout", out.connect_timeout.count(), "upstream"));
  RETURN_IF_ERROR(src_.optDuration(node, "response_timeout", out.response_timeout));
  RETURN_IF_ERROR(positive(node, "response_timeout", out.response_timeout.count(), "upstream"));
  RETURN_IF_ERROR(src_.optUint32(node, "max_idle", out.max_idle));
  RETURN_IF_ERROR(src_.optDuration(node, "idle_timeout", out.idle_timeout));
  RETURN_IF_ERROR(positive(node, "idle_timeout", out.idle_timeout.count(), "upstream"));
  RETURN_IF_ERROR(
      src_.optUint32(node, "max_requests_per_connection", out.max_requests_per_connection));

  if (const YAML::Node routes = node["routes"]; routes.IsDefined()) {
    RETURN_IF_ERROR(loadRoutes(src_, routes, out.routes));
  }
  RETURN_IF_ERROR(src_.optSize64(node, "max_inspected_body", out.max_inspected_body));
  if (const YAML::Node ia = node["identity_assertion"]; ia.IsDefined()) {
    out.identity_assertion.emplace();
    RETURN_IF_ERROR(src_.checkMap(ia, {"header", "audience", "ttl"}));
    RETURN_IF_ERROR(src_.optString(ia, "header", out.identity_assertion->header));
    const std::string& h = out.identity_assertion->header;
    bool token = !h.empty() && h.size() <= 64;
    for (char c : h) {
      token = token && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-');
    }
    if (!token) return src_.error(ia["header"], "header: a header name (letters, digits, '-')");
    RETURN_IF_ERROR(src_.optString(ia, "audience", out.identity_assertion->audience));
    if (out.identity_assertion->audience.empty()) out.identity_assertion->audience = out.url;
    RETURN_IF_ERROR(src_.optDuration(ia, "ttl", out.identity_assertion->ttl));
    if (out.identity_assertion->ttl < std::chrono::seconds(30) ||
        out.identity_assertion->ttl > std::chrono::seconds(60)) {
      return src_.error(ia["ttl"], "ttl: 30s to 60s");
    }
  }
  RETURN_IF_ERROR(positive(node, "max_inspected_body", out.max_inspected_body, "upstream"));
  if (const YAML::Node lookup = node["lookup"]; lookup.IsDefined()) {
    RETURN_IF_ERROR(loadLookup(lookup, out.lookup));
  }
  if (const YAML::Node aws = node["aws"]; aws.IsDefined()) {
    out.aws.emplace();
    RETURN_IF_ERROR(loadAws(aws, *out.aws));
  } else if (out.profile == "step-functions") {
    return src_.error(node, "upstream '" + out.name +
                                "' (profile step-functions) needs 'aws' (region, access_key_id, "
                                "secret_access_key_file): stepgate signs what it forwards");
  }

  const YAML::Node tls = node["tls"];
  if (tls.IsDefined() && !out.https) {
    return src_.error(tls, "'tls' is only allowed for an https:// upstream (url is '" + out.url +
                               "')");
  }
  if (!out.https) {
    return okStatus();
  }
  out.tls.emplace();  // https without a tls block: system trust store, verified, URL host
  if (!tls.IsDefined()) {
    return okStatus();
  }
  RETURN_IF_ERROR(src_.checkMap(tls, {"ca", "server_name", "verify"}));
  if (const YAML::Node ca = tls["ca"]; ca.IsDefined()) {
    RETURN_IF_ERROR(readFile(ca, "ca", out.tls->ca_file));
  }
  RETURN_IF_ERROR(src_.optString(tls, "server_name", out.tls->server_name));
  if (!out.tls->server_name.empty() && !isValidHostName(out.tls->server_name, false)) {
    return src_.error(tls["server_name"],
                      "server_name '" + out.tls->server_name + "' is not a valid host name");
  }
  return src_.optBool(tls, "verify", out.tls->verify);
}

Status Loader::loadListeners(const YAML::Node& node, Config& config) {
  if (!node.IsSequence() || node.size() == 0) {
    return src_.error(node, "expected a list of at least one listener");
  }
  for (const YAML::Node& item : node) {
    ListenerConfig listener;
    RETURN_IF_ERROR(loadListener(item, listener));
    // A name given twice is an error; two unnamed listeners on one address are reported as
    // an address clash instead (see checkAddresses).
    const bool named = item["name"].IsDefined();
    for (size_t i = 0; i < config.listeners.size(); ++i) {
      const bool other_named = listenerNode(i)["name"].IsDefined();
      if ((named || other_named) && config.listeners[i].name == listener.name) {
        return src_.error(nodeFor(item, "name"),
                          "duplicate listener name '" + listener.name + "' (first at " +
                              src_.position(nodeFor(listenerNode(i), "name")) + ")");
      }
    }
    config.listeners.push_back(std::move(listener));
    listener_nodes_.push_back(item);
  }
  return okStatus();
}

Status Loader::bindUpstreams(Config& config) {
  std::vector<std::string_view> names;
  for (const auto& u : config.upstreams) {
    names.push_back(u.name);
  }
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    ListenerConfig& listener = config.listeners[i];
    const YAML::Node upstream = listenerNode(i)["upstream"];
    if (!upstream.IsDefined()) {
      if (config.upstreams.size() != 1) {
        return src_.error(listenerNode(i),
                          "listener '" + listener.name +
                              "' needs 'upstream' when more than one upstream is defined");
      }
      listener.upstream = config.upstreams[0].name;
      continue;
    }
    if (config.findUpstream(listener.upstream) == nullptr) {
      const std::string hint = closestMatch(listener.upstream, names);
      return src_.error(upstream, "unknown upstream '" + listener.upstream + "'" +
                                      (hint.empty() ? "; defined: " + joinNames(names)
                                                    : " (did you mean '" + hint + "'?)"));
    }
  }
  return okStatus();
}

Status Loader::loadListener(const YAML::Node& node, ListenerConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"name", "address", "upstream", "tls"}));
  RETURN_IF_ERROR(src_.require(node, "address"));
  const YAML::Node address = node["address"];
  RETURN_IF_ERROR(src_.readString(address, out.address_text));
  auto parsed = parseSocketAddress(out.address_text, /*allow_zero_port=*/true);
  if (!parsed.isOk()) {
    return src_.error(address, "bad listener address: " + parsed.status().message() +
                                   " (expected IP:port, or [IPv6]:port)");
  }
  out.address = *parsed;
  out.address_text = out.address.toString();
  out.name = out.address_text;
  if (const YAML::Node name = node["name"]; name.IsDefined()) {
    RETURN_IF_ERROR(src_.readString(name, out.name));
    if (out.name.empty()) {
      return src_.error(name, "listener name must not be empty");
    }
  }
  RETURN_IF_ERROR(src_.optString(node, "upstream", out.upstream));  // checked in bindUpstreams
  if (const YAML::Node tls = node["tls"]; tls.IsDefined()) {
    out.tls.emplace();
    RETURN_IF_ERROR(loadServerTls(tls, *out.tls));
  }
  return okStatus();
}

Status Loader::loadServerTls(const YAML::Node& node, ServerTlsConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"certificates", "client_ca", "client_auth", "min_version",
                                       "ciphers", "ciphersuites", "session_tickets",
                                       "ticket_key_rotation", "session_cache_size"}));
  RETURN_IF_ERROR(src_.require(node, "certificates"));
  const YAML::Node certs = node["certificates"];
  if (!certs.IsSequence() || certs.size() == 0) {
    return src_.error(certs, "expected a list of at least one certificate");
  }
  for (const YAML::Node& item : certs) {
    RETURN_IF_ERROR(src_.checkMap(item, {"cert", "key", "server_names"}));
    RETURN_IF_ERROR(src_.require(item, "cert"));
    RETURN_IF_ERROR(src_.require(item, "key"));
    CertificateConfig cert;
    RETURN_IF_ERROR(readFile(item["cert"], "cert", cert.cert_file));
    RETURN_IF_ERROR(readFile(item["key"], "key", cert.key_file));
    if (const YAML::Node names = item["server_names"]; names.IsDefined()) {
      RETURN_IF_ERROR(src_.readStringList(names, cert.server_names));
      for (size_t i = 0; i < cert.server_names.size(); ++i) {
        if (!isValidHostName(cert.server_names[i], /*allow_wildcard=*/true)) {
          return src_.error(names[i], "'" + cert.server_names[i] +
                                          "' is not a host name (or *.name wildcard)");
        }
      }
    }
    out.certificates.push_back(std::move(cert));
  }
  if (const YAML::Node ca = node["client_ca"]; ca.IsDefined()) {
    RETURN_IF_ERROR(readFile(ca, "client_ca", out.client_ca_file));
  }
  out.client_auth = out.client_ca_file.empty() ? ClientAuth::kNone : ClientAuth::kOptional;
  if (const YAML::Node auth = node["client_auth"]; auth.IsDefined()) {
    std::string text;
    RETURN_IF_ERROR(src_.readString(auth, text));
    if (text == "none") {
      out.client_auth = ClientAuth::kNone;
    } else if (text == "optional" || text == "required") {
      if (out.client_ca_file.empty()) {
        return src_.error(auth, "client_auth: " + text + " needs client_ca");
      }
      out.client_auth = text == "optional" ? ClientAuth::kOptional : ClientAuth::kRequired;
    } else {
      return src_.error(auth, "expected one of: none, optional, required; got '" + text + "'");
    }
  }
  if (const YAML::Node version = node["min_version"]; version.IsDefined()) {
    std::string text;
    RETURN_IF_ERROR(src_.readString(version, text));
    if (text != "1.2" && text != "1.3") {
      return src_.error(version, "expected \"1.2\" or \"1.3\", got '" + text + "'");
    }
    out.min_version = text == "1.2" ? TlsMinVersion::kTls12 : TlsMinVersion::kTls13;
  }
  RETURN_IF_ERROR(src_.optString(node, "ciphers", out.ciphers));
  RETURN_IF_ERROR(src_.optString(node, "ciphersuites", out.ciphersuites));
  RETURN_IF_ERROR(src_.optBool(node, "session_tickets", out.session_tickets));
  RETURN_IF_ERROR(src_.optDuration(node, "ticket_key_rotation", out.ticket_key_rotation));
  RETURN_IF_ERROR(
      positive(node, "ticket_key_rotation", out.ticket_key_rotation.count(), "tls"));
  return src_.optUint32(node, "session_cache_size", out.session_cache_size);
}

Status Loader::loadLookup(const YAML::Node& node, LookupConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"authorization_file", "timeout", "cache_ttl",
                                       "negative_ttl", "cache_entries", "threads",
                                       "max_pending"}));
  if (const YAML::Node f = node["authorization_file"]; f.IsDefined()) {
    RETURN_IF_ERROR(readFile(f, "authorization_file", out.authorization_file));
  }
  RETURN_IF_ERROR(src_.optDuration(node, "timeout", out.timeout));
  RETURN_IF_ERROR(positive(node, "timeout", out.timeout.count(), "lookup"));
  RETURN_IF_ERROR(src_.optDuration(node, "cache_ttl", out.cache_ttl));
  RETURN_IF_ERROR(src_.optDuration(node, "negative_ttl", out.negative_ttl));
  RETURN_IF_ERROR(src_.optUint32(node, "cache_entries", out.cache_entries));
  RETURN_IF_ERROR(src_.optUint32(node, "threads", out.threads));
  RETURN_IF_ERROR(positive(node, "threads", out.threads, "lookup"));
  RETURN_IF_ERROR(src_.optUint32(node, "max_pending", out.max_pending));
  return positive(node, "max_pending", out.max_pending, "lookup");
}

Status Loader::loadAws(const YAML::Node& node, AwsSigningConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"region", "service", "access_key_id",
                                       "secret_access_key_file", "session_token_file"}));
  RETURN_IF_ERROR(src_.require(node, "region"));
  RETURN_IF_ERROR(src_.require(node, "access_key_id"));
  RETURN_IF_ERROR(src_.require(node, "secret_access_key_file"));
  RETURN_IF_ERROR(src_.optString(node, "region", out.region));
  RETURN_IF_ERROR(src_.optString(node, "service", out.service));
  RETURN_IF_ERROR(src_.optString(node, "access_key_id", out.access_key_id));
  auto plain = [](const std::string& v) {
    if (v.empty() || v.size() > 128) return false;
    for (char c : v) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_')) {
        return false;
      }
    }
    return true;
  };
  if (!plain(out.region)) {
    return src_.error(node["region"], "region '" + out.region + "' is not a region name");
  }
  if (!plain(out.service)) {
    return src_.error(node["service"], "service '" + out.service + "' is not a service name");
  }
  if (!plain(out.access_key_id)) {
    return src_.error(node["access_key_id"], "access_key_id must be letters and digits");
  }
  RETURN_IF_ERROR(readFile(node["secret_access_key_file"], "secret_access_key_file",
                           out.secret_access_key_file));
  if (const YAML::Node f = node["session_token_file"]; f.IsDefined()) {
    RETURN_IF_ERROR(readFile(f, "session_token_file", out.session_token_file));
  }
  return okStatus();
}

Status Loader::loadLimits(const YAML::Node& node, LimitsConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(
      node, {"max_request_line", "max_header_bytes", "max_headers", "max_body_bytes",
             "header_timeout", "idle_timeout", "request_timeout", "max_connections_per_worker",
             "max_inflight_upstream", "buffer_high_watermark", "buffer_low_watermark"}));
  RETURN_IF_ERROR(src_.optSize32(node, "max_request_line", out.max_request_line));
  RETURN_IF_ERROR(src_.optSize32(node, "max_header_bytes", out.max_header_bytes));
  RETURN_IF_ERROR(src_.optUint32(node, "max_headers", out.max_headers));
  RETURN_IF_ERROR(src_.optSize64(node, "max_body_bytes", out.max_body_bytes));
  RETURN_IF_ERROR(src_.optDuration(node, "header_timeout", out.header_timeout));
  RETURN_IF_ERROR(src_.optDuration(node, "idle_timeout", out.idle_timeout));
  RETURN_IF_ERROR(src_.optDuration(node, "request_timeout", out.request_timeout));
  RETURN_IF_ERROR(
      src_.optUint32(node, "max_connections_per_worker", out.max_connections_per_worker));
  RETURN_IF_ERROR(src_.optUint32(node, "max_inflight_upstream", out.max_inflight_upstream));
  RETURN_IF_ERROR(src_.optSize32(node, "buffer_high_watermark", out.buffer_high_watermark));
  RETURN_IF_ERROR(src_.optSize32(node, "buffer_low_watermark", out.buffer_low_watermark));

  const std::pair<const char*, uint64_t> values[] = {
      {"max_request_line", out.max_request_line},
      {"max_header_bytes", out.max_header_bytes},
      {"max_headers", out.max_headers},
      {"max_body_bytes", out.max_body_bytes},
      {"header_timeout", static_cast<uint64_t>(out.header_timeout.count())},
      {"idle_timeout", static_cast<uint64_t>(out.idle_timeout.count())},
      {"request_timeout", static_cast<uint64_t>(out.request_timeout.count())},
      {"max_connections_per_worker", out.max_connections_per_worker},
      {"max_inflight_upstream", out.max_inflight_upstream},
      {"buffer_high_watermark", out.buffer_high_watermark},
      {"buffer_low_watermark", out.buffer_low_watermark}};
  for (const auto& [key, value] : values) {
    RETURN_IF_ERROR(positive(node, key, value, "limits"));
  }
  if (out.max_header_bytes < out.max_request_line) {
    return src_.error(nodeFor(node, "max_header_bytes", "max_request_line"),
                      "limits.max_header_bytes (" + std::to_string(out.max_header_bytes) +
                          ") must be at least max_request_line (" +
                          std::to_string(out.max_request_line) +
                          "): the request line counts towards the header bytes");
  }
  if (out.buffer_low_watermark >= out.buffer_high_watermark) {
    return src_.error(nodeFor(node, "buffer_low_watermark", "buffer_high_watermark"),
                      "limits.buffer_low_watermark (" + std::to_string(out.buffer_low_watermark) +
                          ") must be below buffer_high_watermark (" +
                          std::to_string(out.buffer_high_watermark) + ")");
  }
  if (out.header_timeout > out.request_timeout) {
    return src_.error(nodeFor(node, "header_timeout", "request_timeout"),
                      "limits.header_timeout must not exceed request_timeout");
  }
  return okStatus();
}

Status Loader::loadPath(const YAML::Node& node, PathConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"merge_slashes", "reject_path_parameters"}));
  RETURN_IF_ERROR(src_.optBool(node, "merge_slashes", out.merge_slashes));
  return src_.optBool(node, "reject_path_parameters", out.reject_path_parameters);
}

Status Loader::loadProxy(const YAML::Node& node, ProxyConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(
      node, {"workers", "trust_request_id", "trusted_proxies", "via", "drain_timeout"}));
  if (const YAML::Node workers = node["workers"]; workers.IsDefined()) {
    uint64_t value = 0;
    RETURN_IF_ERROR(src_.readUint(workers, kMaxWorkers, value));
    out.workers = static_cast<uint32_t>(value);
  }
  RETURN_IF_ERROR(src_.optBool(node, "trust_request_id", out.trust_request_id));
  if (const YAML::Node proxies = node["trusted_proxies"]; proxies.IsDefined()) {
    std::vector<std::string> cidrs;
    RETURN_IF_ERROR(src_.readStringList(proxies, cidrs));
    out.trusted_proxies.clear();
    for (size_t i = 0; i < cidrs.size(); ++i) {
      auto cidr = normaliseCidr(cidrs[i]);
      if (!cidr.isOk()) {
        return src_.error(proxies[i], cidr.status().message());
      }
      out.trusted_proxies.push_back(std::move(cidr).value());
    }
  }
  RETURN_IF_ERROR(src_.optString(node, "via", out.via));
  if (!isToken(out.via)) {
    return src_.error(node["via"], "via must be a single token (letters, digits, '-', '.'...)");
  }
  return src_.optDuration(node, "drain_timeout", out.drain_timeout);
}

Status Loader::loadAdmin(const YAML::Node& node, AdminConfig& out) {
  if (node.IsDefined()) {
    RETURN_IF_ERROR(src_.checkMap(node, {"address", "enabled"}));
    RETURN_IF_ERROR(src_.optString(node, "address", out.address_text));
    RETURN_IF_ERROR(src_.optBool(node, "enabled", out.enabled));
  }
  auto parsed = parseSocketAddress(out.address_text, /*allow_zero_port=*/true);
  if (!parsed.isOk()) {
    return src_.error(nodeFor(node, "address"),
                      "bad admin address: " + parsed.status().message() +
                          " (expected IP:port, or [IPv6]:port)");
  }
  out.address = *parsed;
  out.address_text = out.address.toString();
  return okStatus();
}

Status Loader::loadLog(const YAML::Node& node, LogConfig& out) {
  RETURN_IF_ERROR(src_.checkMap(node, {"level"}));
  RETURN_IF_ERROR(src_.optString(node, "level", out.level));
  log::Level level;
  if (!log::parseLevel(out.level, level)) {
    return src_.error(node["level"],
                      "unknown log level '" + out.level + "'; expected debug, info, warn or error");
  }
  return okStatus();
}

Status Loader::checkAddresses(const Config& config) {
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const SocketAddress& addr = config.listeners[i].address;
    for (size_t j = 0; j < i; ++j) {
      if (overlaps(config.listeners[j].address, addr)) {
        return src_.error(listenerNode(i)["address"],
                          "address " + config.listeners[i].address_text +
                              " clashes with listener '" + config.listeners[j].name + "' on " +
                              config.listeners[j].address_text + " (at " +
                              src_.position(listenerNode(j)["address"]) + ")");
      }
    }
    if (config.admin.enabled && overlaps(config.admin.address, addr)) {
      return src_.error(listenerNode(i)["address"],
                        "address " + config.listeners[i].address_text +
                            " clashes with the admin address " + config.admin.address_text);
    }
  }
  return okStatus();
}

Status Loader::resolveUpstreams(Config& config) {
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    UpstreamConfig& u = config.upstreams[i];
    auto addresses = resolve(u.host, u.port);
    if (!addresses.isOk()) {
      return src_.error(upstreamNode(i)["url"], addresses.status().message());
    }
    u.addresses = std::move(addresses).value();
  }
  return okStatus();
}

Status Loader::readFile(const YAML::Node& node, std::string_view key, std::string& out) {
  std::string text;
  RETURN_IF_ERROR(src_.readString(node, text));
  if (text.empty()) {
    return src_.error(node, std::string(key) + ": the file name must not be empty");
  }
  const std::filesystem::path resolved = (base_dir_ / text).lexically_normal();
  const int fd = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return src_.error(node, std::string(key) + ": cannot read '" + text + "' (" +
                                resolved.string() + "): " + std::strerror(err));
  }
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) {
    return src_.error(node, std::string(key) + ": '" + text + "' (" + resolved.string() +
                                ") is not a regular file");
  }
  out = resolved.string();
  return okStatus();
}

Status Loader::positive(const YAML::Node& map, const char* key, uint64_t value,
                        std::string_view section) {
  if (value > 0) {
    return okStatus();
  }
  return src_.error(nodeFor(map, key),
                    std::string(section) + "." + key + " must be greater than zero");
}

std::filesystem::path folderOf(const std::string& source_name) {
  std::filesystem::path folder = std::filesystem::path(source_name).parent_path();
  if (folder.empty()) {
    folder = ".";
  }
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(folder, ec);
  return ec ? folder : absolute.lexically_normal();
}

}  // namespace

StatusOr<ConfigConstSharedPtr> loadFromString(std::string_view text,
                                              const std::string& source_name) {
  try {
    const YamlSource source(source_name);
    YAML::Node root;
    RETURN_IF_ERROR(source.parse(text, root));
    auto config = std::make_shared<Config>();
    config->source_path = source_name;
    Loader loader(source, folderOf(source_name));
    RETURN_IF_ERROR(loader.load(root, *config));
    return ConfigConstSharedPtr(std::move(config));
  } catch (const YAML::Exception& e) {
    const std::string where =
        e.mark.is_null() ? source_name
                         : source_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                               std::to_string(e.mark.column + 1);
    return invalidArgument(where + ": " + e.msg);
  } catch (const std::exception& e) {
    return internalError(source_name + ": unexpected error while loading: " + e.what());
  }
}

StatusOr<ConfigConstSharedPtr> load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Status(err == ENOENT ? StatusCode::kNotFound : StatusCode::kInvalidArgument,
                  path + ": cannot read: " + std::strerror(err));
  }
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return invalidArgument(path + ": cannot read: " + std::strerror(err));
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return loadFromString(text, path);
}

}  // namespace stepgate::config
