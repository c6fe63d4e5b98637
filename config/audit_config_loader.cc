#include "config/audit_config_loader.h"

#include <fcntl.h>
#include <yaml-cpp/yaml.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

namespace stepgate::config {

namespace {

std::string resolve(const std::filesystem::path& base_dir, const std::string& text) {
  std::filesystem::path p(text);
  if (p.is_relative()) p = base_dir / p;
  return p.lexically_normal().string();
}

Status readableFile(const YamlSource& src, const std::filesystem::path& base_dir,
                    const YAML::Node& node, const char* key, std::string& out) {
  std::string text;
  RETURN_IF_ERROR(src.readString(node, text));
  if (text.empty()) return src.error(node, std::string(key) + ": the file name must not be empty");
  out = resolve(base_dir, text);
  const int fd = ::open(out.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return src.error(node, std::string(key) + ": cannot read '" + text + "' (" + out + ")");
  }
  ::close(fd);
  return okStatus();
}

bool sinkName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

Status loadWebhook(const YamlSource& src, const std::filesystem::path& base_dir,
                   const YAML::Node& n, AuditWebhookConfig& w) {
  RETURN_IF_ERROR(src.checkMap(n, {"name", "url", "ca", "authorization_file", "batch_records",
                                   "batch_bytes", "timeout", "max_backoff"}));
  RETURN_IF_ERROR(src.require(n, "name"));
  RETURN_IF_ERROR(src.require(n, "url"));
  RETURN_IF_ERROR(src.optString(n, "name", w.name));
  if (!sinkName(w.name)) {
    return src.error(n["name"], "name: letters, digits, '-' and '_' (at most 64)");
  }
  RETURN_IF_ERROR(src.optString(n, "url", w.url));
  if (w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0) {
    return src.error(n["url"], "url: expected http:// or https://");
  }
  if (const YAML::Node c = n["ca"]; c.IsDefined()) {
    RETURN_IF_ERROR(readableFile(src, base_dir, c, "ca", w.ca_file));
  }
  if (const YAML::Node f = n["authorization_file"]; f.IsDefined()) {
    RETURN_IF_ERROR(readableFile(src, base_dir, f, "authorization_file", w.authorization_file));
  }
  RETURN_IF_ERROR(src.optUint32(n, "batch_records", w.batch_records));
  if (w.batch_records == 0) return src.error(n["batch_records"], "batch_records must be > 0");
  RETURN_IF_ERROR(src.optSize64(n, "batch_bytes", w.batch_bytes));
  RETURN_IF_ERROR(src.optDuration(n, "timeout", w.timeout));
  return src.optDuration(n, "max_backoff", w.max_backoff);
}

Status loadSyslog(const YamlSource& src, const std::filesystem::path& base_dir,
                  const YAML::Node& n, AuditSyslogConfig& s) {
  RETURN_IF_ERROR(src.checkMap(n, {"name", "address", "tls", "ca", "server_name", "app_name",
                                   "facility", "timeout", "max_backoff"}));
  RETURN_IF_ERROR(src.require(n, "name"));
  RETURN_IF_ERROR(src.require(n, "address"));
  RETURN_IF_ERROR(src.optString(n, "name", s.name));
  if (!sinkName(s.name)) {
    return src.error(n["name"], "name: letters, digits, '-' and '_' (at most 64)");
  }
  RETURN_IF_ERROR(src.optString(n, "address", s.address));
  const size_t colon = s.address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.address.size()) {
    return src.error(n["address"], "address: expected host:port");
  }
  RETURN_IF_ERROR(src.optBool(n, "tls", s.tls));
  if (const YAML::Node c = n["ca"]; c.IsDefined()) {
    RETURN_IF_ERROR(readableFile(src, base_dir, c, "ca", s.ca_file));
  }
  RETURN_IF_ERROR(src.optString(n, "server_name", s.server_name));
  RETURN_IF_ERROR(src.optString(n, "app_name", s.app_name));
  if (s.app_name.empty() || s.app_name.size() > 48) {
    return src.error(n["app_name"], "app_name: 1 to 48 characters (RFC 5424)");
  }
  RETURN_IF_ERROR(src.optUint32(n, "facility", s.facility));
  if (s.facility > 23) return src.error(n["facility"], "facility: 0..23");
  RETURN_IF_ERROR(src.optDuration(n, "timeout", s.timeout));
  return src.optDuration(n, "max_backoff", s.max_backoff);
}

}  // namespace

Status loadAudit(const YamlSource& src, const std::filesystem::path& base_dir,
                 const YAML::Node& node, AuditConfig& out) {
  RETURN_IF_ERROR(src.checkMap(
      node, {"dir", "durability", "signing_key", "key_name", "origin", "queue_records",
             "segment_bytes", "segment_age", "retention_age", "retention_bytes",
             "checkpoint_records", "checkpoint_interval", "low_disk_bytes", "webhooks",
             "syslog"}));
  RETURN_IF_ERROR(src.require(node, "dir"));
  RETURN_IF_ERROR(src.require(node, "signing_key"));
  std::string dir;
  RETURN_IF_ERROR(src.optString(node, "dir", dir));
  if (dir.empty()) return src.error(node["dir"], "dir: must name a directory");
  out.dir = resolve(base_dir, dir);
  std::string durability = "strict";
  RETURN_IF_ERROR(src.optString(node, "durability", durability));
  if (durability != "strict" && durability != "async") {
    return src.error(node["durability"], "durability: expected strict or async, got '" +
                                             durability + "'");
  }
  out.strict = durability == "strict";
  RETURN_IF_ERROR(readableFile(src, base_dir, node["signing_key"], "signing_key",
                               out.signing_key_file));
  RETURN_IF_ERROR(src.optString(node, "key_name", out.key_name));
  if (out.key_name.empty() || out.key_name.find_first_of(" +\n") != std::string::npos) {
    return src.error(node["key_name"], "key_name: no spaces, '+' or newlines (signed-note key name)");
  }
  RETURN_IF_ERROR(src.optString(node, "origin", out.origin));
  if (out.origin.empty() || out.origin.find('\n') != std::string::npos) {
    return src.error(node["origin"], "origin: one non-empty line");
  }
  RETURN_IF_ERROR(src.optUint32(node, "queue_records", out.ring_capacity));
  if (out.ring_capacity < 16) return src.error(node["queue_records"], "queue_records: at least 16");
  RETURN_IF_ERROR(src.optSize64(node, "segment_bytes", out.segment_bytes));
  if (out.segment_bytes < 65536) {
    return src.error(node["segment_bytes"], "segment_bytes: at least 64KiB");
  }
  RETURN_IF_ERROR(src.optDuration(node, "segment_age", out.segment_age));
  RETURN_IF_ERROR(src.optDuration(node, "retention_age", out.retention_age));
  RETURN_IF_ERROR(src.optSize64(node, "retention_bytes", out.retention_bytes));
  RETURN_IF_ERROR(src.optUint32(node, "checkpoint_records", out.checkpoint_records));
  if (out.checkpoint_records == 0) {
    return src.error(node["checkpoint_records"], "checkpoint_records must be > 0");
  }
  RETURN_IF_ERROR(src.optDuration(node, "checkpoint_interval", out.checkpoint_interval));
  if (out.checkpoint_interval.count() <= 0) {
    return src.error(node["checkpoint_interval"], "checkpoint_interval must be > 0");
  }
  RETURN_IF_ERROR(src.optSize64(node, "low_disk_bytes", out.low_disk_bytes));
  std::set<std::string> names;
  if (const YAML::Node w = node["webhooks"]; w.IsDefined()) {
    if (!w.IsSequence()) return src.error(w, "webhooks: expected a list");
    for (const YAML::Node& item : w) {
      AuditWebhookConfig c;
      RETURN_IF_ERROR(loadWebhook(src, base_dir, item, c));
      if (!names.insert(c.name).second) {
        return src.error(item["name"], "duplicate sink name '" + c.name + "'");
      }
      out.webhooks.push_back(std::move(c));
    }
  }
  if (const YAML::Node s = node["syslog"]; s.IsDefined()) {
    if (!s.IsSequence()) return src.error(s, "syslog: expected a list");
    for (const YAML::Node& item : s) {
      AuditSyslogConfig c;
      RETURN_IF_ERROR(loadSyslog(src, base_dir, item, c));
      if (!names.insert(c.name).second) {
        return src.error(item["name"], "duplicate sink name '" + c.name + "'");
      }
      out.syslogs.push_back(std::move(c));
    }
  }
  return okStatus();
}

}  // namespace stepgate::config
