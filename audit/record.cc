#include "audit/record.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "audit/encoding.h"
#include "common/json_writer.h"

namespace stepgate::audit {

namespace {

// Cuts a string for a truncated record: at most `max` bytes, never inside a UTF-8 sequence.
std::string_view cut(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

struct Limits {
  size_t str = SIZE_MAX;    // per string
  size_t list = SIZE_MAX;   // items per list
};

void member(std::string& out, std::string_view name) {
  if (!out.empty() && out.back() != '{' && out.back() != '[') out += ',';
  out += '"';
  out += name;
  out += "\":";
}

void str(std::string& out, std::string_view name, std::string_view v, const Limits& l) {
  member(out, name);
  json::appendString(out, cut(v, l.str));
}

void optStr(std::string& out, std::string_view name, std::string_view v, const Limits& l) {
  if (!v.empty()) str(out, name, v, l);
}

// The names of the query's parameters, in order, values dropped.
void queryKeys(std::string& out, std::string_view q, const Limits& l) {
  member(out, "query_keys");
  out += '[';
  size_t n = 0;
  bool first = true;
  while (!q.empty() && n < l.list) {
    const size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    part = part.substr(0, part.find('='));
    if (!first) out += ',';
    first = false;
    json::appendString(out, cut(part, l.str));
    ++n;
  }
  out += ']';
}

// X-Forwarded-For values split at commas, trimmed: untrusted text.
void forwardedFor(std::string& out, std::string_view v, const Limits& l) {
  member(out, "forwarded_for_untrusted");
  out += '[';
  size_t n = 0;
  bool first = true;
  while (!v.empty() && n < l.list) {
    const size_t comma = v.find(',');
    std::string_view part = v.substr(0, comma);
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (part.empty()) continue;
    if (!first) out += ',';
    first = false;
    json::appendString(out, cut(part, l.str));
    ++n;
  }
  out += ']';
}

void operation(std::string& out, const OperationView& op, const Limits& l) {
  out += '{';
  str(out, "upstream", op.upstream, l);
  optStr(out, "workflow", op.workflow, l);
  optStr(out, "version", op.version, l);
  optStr(out, "step", op.step, l);
  optStr(out, "execution", op.execution, l);
  optStr(out, "namespace", op.namespace_name, l);
  member(out, "actions");
  out += '[';
  std::string_view a = op.actions;
  bool first = true;
  while (!a.empty()) {
    const size_t comma = a.find(',');
    if (!first) out += ',';
    first = false;
    json::appendString(out, a.substr(0, comma));
    a = comma == std::string_view::npos ? std::string_view() : a.substr(comma + 1);
  }
  out += ']';
  member(out, "read_only");
  out += op.read_only ? "true" : "false";
  member(out, "privileged");
  out += op.privileged ? "true" : "false";
  out += '}';
}

void encodeWith(const RequestRecordView& r, const Limits& l, bool truncated, std::string& out) {
  out += "\"type\":";
  json::appendString(out, r.type);
  out += ",\"time\":\"";
  appendRfc3339Micros(out, r.time_unix_us);
  out += '"';
  if (truncated) out += ",\"truncated\":true";
  out += ',';
  out += "\"request_id\":";
  json::appendString(out, r.request_id);
  if (r.principal != nullptr) {
    const PrincipalView& p = *r.principal;
    out += ",\"principal\":{";
    str(out, "provider", p.provider, l);
    optStr(out, "issuer", p.issuer, l);
    str(out, "subject", p.subject, l);
    optStr(out, "name", p.name, l);
    member(out, "groups");
    out += '[';
    const size_t ng = std::min(p.groups.size(), l.list);
    for (size_t i = 0; i < ng; ++i) {
      if (i > 0) out += ',';
      json::appendString(out, cut(p.groups[i], l.str));
    }
    out += ']';
    str(out, "method", p.method, l);
    member(out, "mfa");
    out += p.mfa ? "true" : "false";
    optStr(out, "credential_id", p.credential_id, l);
    out += '}';
  }
  if (r.type != "response") {
    out += ",\"source\":{";
    str(out, "ip", r.source_ip, l);
    member(out, "port");
    json::appendUint(out, r.source_port);
    member(out, "tls");
    json::appendString(out, r.tls_version);
    optStr(out, "client_cert_subject", r.client_cert_subject, l);
    if (!r.forwarded_for.empty()) forwardedFor(out, r.forwarded_for, l);
    out += '}';
    out += ",\"request\":{";
    str(out, "method", r.method, l);
    str(out, "path", r.path, l);
    if (!r.query.empty()) queryKeys(out, r.query, l);
    optStr(out, "host", r.host, l);
    optStr(out, "user_agent", r.user_agent, l);
    member(out, "bytes");
    json::appendUint(out, r.request_bytes);
    out += '}';
  }
  if (r.operation != nullptr) {
    out += ",\"operation\":";
    operation(out, *r.operation, l);
    if (!r.also.empty()) {
      out += ",\"also\":[";
      const size_t n = std::min(r.also.size(), l.list);
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        operation(out, r.also[i], l);
      }
      out += ']';
    }
  }
  if (!r.effect.empty()) {
    out += ",\"decision\":{";
    str(out, "effect", r.effect, l);
    optStr(out, "reason", r.reason, l);
    member(out, "rules");
    out += '[';
    const size_t nr = std::min(r.rules.size(), l.list);
    for (size_t i = 0; i < nr; ++i) {
      if (i > 0) out += ',';
      json::appendString(out, cut(r.rules[i], l.str));
    }
    out += ']';
    optStr(out, "policy_version", r.policy_version, l);
    if (!r.shadow_effect.empty()) {
      member(out, "shadow");
      out += '{';
      str(out, "effect", r.shadow_effect, l);
      optStr(out, "reason", r.shadow_reason, l);
      out += '}';
    }
    out += '}';
  }
  if (!r.auth_reason.empty()) {
    out += ",\"auth\":{";
    str(out, "reason", r.auth_reason, l);
    optStr(out, "provider", r.auth_provider, l);
    out += '}';
  }
  if (!r.session_event.empty()) {
    out += ",\"session\":{";
    str(out, "event", r.session_event, l);
    optStr(out, "via", r.session_via, l);
    out += '}';
  }
  if (r.status != 0) {
    out += ",\"response\":{\"status\":";
    json::appendUint(out, static_cast<uint64_t>(r.status));
    if (r.upstream_status != 0) {
      out += ",\"upstream_status\":";
      json::appendUint(out, static_cast<uint64_t>(r.upstream_status));
    }
    out += ",\"latency_us\":";
    json::appendUint(out, r.latency_us);
    out += ",\"bytes\":";
    json::appendUint(out, r.response_bytes);
    out += '}';
  }
}

}  // namespace

void appendRfc3339Micros(std::string& out, int64_t unix_us) {
  const int64_t secs = unix_us >= 0 ? unix_us / 1000000 : (unix_us - 999999) / 1000000;
  const int64_t micros = unix_us - secs * 1000000;
  const time_t t = static_cast<time_t>(secs);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                              utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                              utc.tm_min, utc.tm_sec, static_cast<long long>(micros));
  out.append(buf, static_cast<size_t>(n));
}

void encodeRecord(const RequestRecordView& r, std::string& out) {
  const size_t start = out.size();
  // The budget leaves room for the envelope the log adds (about 100 bytes).
  constexpr size_t kBudget = kMaxRecordBytes - 256;
  encodeWith(r, Limits{}, false, out);
  if (out.size() - start <= kBudget) return;
  // Too large: shorten lists and strings until it fits. Identity fields stay first.
  for (Limits l : {Limits{1024, 64}, Limits{256, 16}, Limits{64, 4}, Limits{32, 0}}) {
    out.resize(start);
    encodeWith(r, l, true, out);
    if (out.size() - start <= kBudget) return;
  }
}

bool CredentialHasher::loadOrCreate(const std::string& key_file, CredentialHasher& out,
                                    std::string& error) {
  std::string key;
  if (FILE* f = std::fopen(key_file.c_str(), "rb")) {
    char buf[64];
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    std::fclose(f);
    if (n != 32) {
      error = key_file + ": expected 32 bytes";
      return false;
    }
    key.assign(buf, n);
  } else {
    unsigned char buf[32];
    if (RAND_bytes(buf, sizeof buf) != 1) {
      error = "no randomness for the hash key";
      return false;
    }
    const int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      error = key_file + ": cannot create";
      return false;
    }
    const bool ok = ::write(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      error = key_file + ": cannot write";
      return false;
    }
    key.assign(reinterpret_cast<const char*>(buf), sizeof buf);
  }
  out.key_ = std::move(key);
  return true;
}

std::string CredentialHasher::hash(std::string_view credential) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(credential.data()), credential.size(), mac, &len);
  std::string out = "hmac-sha256:";
  appendHex(out, std::string_view(reinterpret_cast<const char*>(mac), len < 16 ? len : 16));
  return out;
}

}  // namespace stepgate::audit
