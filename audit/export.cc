#include "audit/export.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "audit/encoding.h"
#include "common/json_writer.h"

namespace stepgate::audit {

namespace {

constexpr size_t kOutBufferBytes = 1 << 20;  // flushed to the file at this size
constexpr size_t kMaxCursorFileBytes = 64;

// ---- time -----------------------------------------------------------------------------------

bool digits(std::string_view s, size_t pos, size_t n, int& out) noexcept {
  if (pos + n > s.size())
    return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil algorithm).
int64_t daysFromCivil(int64_t y, int m, int d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool validDate(int y, int m, int d) noexcept {
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1])
    return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

// ---- hashing --------------------------------------------------------------------------------

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ != nullptr)
      EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  bool ok() const noexcept { return ctx_ != nullptr; }
  void update(std::string_view d) { EVP_DigestUpdate(ctx_, d.data(), d.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    std::string out;
    appendHex(out, std::string_view(reinterpret_cast<const char*>(md), n));
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// An output file written through a bounded buffer, hashed as it goes.
class OutFile {
 public:
  Status open(Env& env, std::string path) {
    path_ = std::move(path);
    if (!hash_.ok())
      return internalError("sha256: no context");
    auto f = env.openAppend(path_);
    if (!f.isOk())
      return f.status();
    file_ = std::move(*f);
    return okStatus();
  }
  std::string& buffer() { return buf_; }
  Status maybeFlush() { return buf_.size() >= kOutBufferBytes ? flush() : okStatus(); }
  Status flush() {
    if (buf_.empty())
      return okStatus();
    hash_.update(buf_);
    bytes_ += buf_.size();
    Status s = file_->append(buf_);
    buf_.clear();
    return s;
  }
  Status finish(ExportedFile& out) {
    RETURN_IF_ERROR(flush());
    RETURN_IF_ERROR(file_->sync());
    RETURN_IF_ERROR(file_->close());
    out.sha256 = hash_.hex();
    out.bytes = bytes_;
    return okStatus();
  }

 private:
  std::string path_;
  std::unique_ptr<WritableFile> file_;
  std::string buf_;
  Sha256 hash_;
  uint64_t bytes_ = 0;
};

Status writeWhole(Env& env, const std::string& path, std::string_view data) {
  if (env.exists(path))
    RETURN_IF_ERROR(env.remove(path));
  auto f = env.openAppend(path);
  if (!f.isOk())
    return f.status();
  RETURN_IF_ERROR((*f)->append(data));
  RETURN_IF_ERROR((*f)->sync());
  return (*f)->close();
}

// ---- record fields --------------------------------------------------------------------------

const std::string& str(const JsonValue& r, std::string_view pointer) {
  static const std::string kEmpty;
  const JsonValue* v = r.at(pointer);
  return v != nullptr && v->isString() ? v->asString() : kEmpty;
}

bool integer(const JsonValue& r, std::string_view pointer, int64_t& out) {
  const JsonValue* v = r.at(pointer);
  if (v == nullptr || !v->isInt())
    return false;
  out = v->asInt();
  return true;
}

std::string intText(const JsonValue& r, std::string_view pointer) {
  int64_t v = 0;
  return integer(r, pointer, v) ? std::to_string(v) : std::string();
}

// A list of strings (or one comma-separated string) joined with `sep`.
std::string joined(const JsonValue& r, std::string_view pointer, char sep) {
  const JsonValue* v = r.at(pointer);
  if (v == nullptr)
    return {};
  if (v->isString()) {
    std::string s = v->asString();
    std::replace(s.begin(), s.end(), ',', sep);
    return s;
  }
  std::string out;
  if (!v->isArray())
    return out;
  for (const JsonValue& e : v->asArray()) {
    if (!e.isString())
      continue;
    if (!out.empty())
      out += sep;
    out += e.asString();
  }
  return out;
}

std::vector<std::string> actionsOf(const JsonValue& r) {
  std::vector<std::string> out;
  const JsonValue* v = r.at("/operation/actions");
  if (v == nullptr)
    return out;
  if (v->isArray()) {
    for (const JsonValue& e : v->asArray())
      if (e.isString())
        out.push_back(e.asString());
  } else if (v->isString()) {
    std::string_view a = v->asString();
    while (!a.empty()) {
      const size_t comma = a.find(',');
      out.emplace_back(a.substr(0, comma));
      a = comma == std::string_view::npos ? std::string_view() : a.substr(comma + 1);
    }
  }
  return out;
}

// ---- OCSF -----------------------------------------------------------------------------------

// API Activity activity_id for one action: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other.
int activityOf(std::string_view action) {
  if (action == "start" || action == "define")
    return 1;
  if (action == "read" || action == "list")
    return 2;
  if (action == "stop" || action == "pause" || action == "resume" || action == "retry" ||
      action == "rerun" || action == "signal" || action == "complete-step" ||
      action == "fail-step" || action == "skip-step")
    return 3;
  if (action == "undefine")
    return 4;
  return 99;  // work, admin, anything else
}

const char* activityName(int id) {
  switch (id) {
    case 0:
      return "Unknown";
    case 1:
      return "Create";
    case 2:
      return "Read";
    case 3:
      return "Update";
    case 4:
      return "Delete";
    default:
      return "Other";
  }
}

void key(std::string& out, std::string_view name, bool& first) {
  if (!first)
    out += ',';
  first = false;
  json::appendString(out, name);
  out += ':';
}
void kvStr(std::string& out, std::string_view name, std::string_view v, bool& first) {
  key(out, name, first);
  json::appendString(out, v);
}
void kvStrOpt(std::string& out, std::string_view name, std::string_view v, bool& first) {
  if (!v.empty())
    kvStr(out, name, v, first);
}
void kvInt(std::string& out, std::string_view name, int64_t v, bool& first) {
  key(out, name, first);
  json::appendInt(out, v);
}

void appendMetadata(std::string& out, const JsonValue& r, bool& first) {
  key(out, "metadata", first);
  bool f = true;
  out += '{';
  kvStr(out, "version", kOcsfVersion, f);
  key(out, "product", f);
  {
    bool p = true;
    out += '{';
    kvStr(out, "name", "stepgate", p);
    kvStr(out, "vendor_name", "stepgate", p);
    key(out, "feature", p);
    out += "{\"name\":\"audit\"}";
    out += '}';
  }
  kvStrOpt(out, "uid", str(r, "/event_id"), f);
  int64_t seq = 0;
  if (integer(r, "/seq", seq))
    kvInt(out, "sequence", seq, f);
  kvStr(out, "log_name", "stepgate-audit", f);
  kvStrOpt(out, "original_time", str(r, "/time"), f);
  if (const JsonValue* t = r.find("truncated"); t != nullptr && t->isBool() && t->asBool()) {
    key(out, "labels", f);
    out += "[\"truncated\"]";
  }
  out += '}';
}

void appendTime(std::string& out, const JsonValue& r, bool& first) {
  int64_t us = 0;
  parseRecordTime(str(r, "/time"), us);
  kvInt(out, "time", us / 1000, first);
  kvStrOpt(out, "time_dt", str(r, "/time"), first);
}

void appendSrcEndpoint(std::string& out, const JsonValue& r, bool& first) {
  key(out, "src_endpoint", first);
  bool f = true;
  out += '{';
  kvStrOpt(out, "ip", str(r, "/source/ip"), f);
  int64_t port = 0;
  if (integer(r, "/source/port", port) && port > 0)
    kvInt(out, "port", port, f);
  out += '}';
}

void appendUser(std::string& out, const JsonValue& r) {
  bool f = true;
  out += '{';
  const std::string& subject = str(r, "/principal/subject");
  const std::string& name = str(r, "/principal/name");
  if (subject.empty() && name.empty()) {
    kvStr(out, "name", "unknown", f);
    kvInt(out, "type_id", 0, f);
    kvStr(out, "type", "Unknown", f);
  } else {
    kvStrOpt(out, "uid", subject, f);
    kvStr(out, "name", name.empty() ? subject : name, f);
    kvStrOpt(out, "credential_uid", str(r, "/principal/credential_id"), f);
    const JsonValue* groups = r.at("/principal/groups");
    if (groups != nullptr && groups->isArray() && !groups->asArray().empty()) {
      key(out, "groups", f);
      out += '[';
      bool g = true;
      for (const JsonValue& e : groups->asArray()) {
        if (!e.isString())
          continue;
        if (!g)
          out += ',';
        g = false;
        out += "{\"name\":";
        json::appendString(out, e.asString());
        out += '}';
      }
      out += ']';
    }
  }
  out += '}';
}

void appendIdp(std::string& out, const JsonValue& r, bool& first) {
  const std::string& provider = str(r, "/principal/provider");
  const std::string& issuer = str(r, "/principal/issuer");
  if (provider.empty() && issuer.empty())
    return;
  key(out, "idp", first);
  bool f = true;
  out += '{';
  kvStrOpt(out, "name", provider, f);
  kvStrOpt(out, "uid", issuer, f);
  out += '}';
}

void appendHttpRequest(std::string& out, const JsonValue& r, bool& first) {
  if (r.find("request") == nullptr)
    return;
  key(out, "http_request", first);
  bool f = true;
  out += '{';
  kvStrOpt(out, "http_method", str(r, "/request/method"), f);
  key(out, "url", f);
  {
    bool u = true;
    out += '{';
    kvStrOpt(out, "hostname", str(r, "/request/host"), u);
    kvStrOpt(out, "path", str(r, "/request/path"), u);
    out += '}';
  }
  kvStrOpt(out, "user_agent", str(r, "/request/user_agent"), f);
  int64_t bytes = 0;
  if (integer(r, "/request/bytes", bytes))
    kvInt(out, "length", bytes, f);
  kvStrOpt(out, "uid", str(r, "/request_id"), f);
  out += '}';
}

void appendApiActivity(const JsonValue& r, std::string& out) {
  const std::vector<std::string> actions = actionsOf(r);
  int activity = actions.empty() ? 0 : activityOf(actions.front());
  for (const std::string& a : actions)
    if (activityOf(a) != activity)
      activity = 99;
  const std::string& effect = str(r, "/decision/effect");
  const bool allowed = effect == "allow";
  bool f = true;
  out += '{';
  kvInt(out, "category_uid", 6, f);
  kvStr(out, "category_name", "Application Activity", f);
  kvInt(out, "class_uid", 6003, f);
  kvStr(out, "class_name", "API Activity", f);
  kvInt(out, "activity_id", activity, f);
  kvStr(out, "activity_name", activityName(activity), f);
  kvInt(out, "type_uid", 600300 + activity, f);
  kvStr(out, "type_name", std::string("API Activity: ") + activityName(activity), f);
  kvInt(out, "severity_id", allowed ? 1 : 3, f);
  kvStr(out, "severity", allowed ? "Informational" : "Medium", f);
  appendTime(out, r, f);
  kvInt(out, "status_id", allowed ? 1 : 2, f);
  kvStr(out, "status", allowed ? "Success" : "Failure", f);
  kvStrOpt(out, "status_detail", str(r, "/decision/reason"), f);
  kvStrOpt(out, "status_code", intText(r, "/response/status"), f);
  if (effect == "allow" || effect == "deny") {
    kvInt(out, "disposition_id", allowed ? 1 : 2, f);
    kvStr(out, "disposition", allowed ? "Allowed" : "Blocked", f);
  }
  int64_t latency = 0;
  if (integer(r, "/response/latency_us", latency))
    kvInt(out, "duration", latency / 1000, f);
  appendMetadata(out, r, f);
  // actor: the user, its identity provider and the policy decision.
  key(out, "actor", f);
  {
    bool a = true;
    out += '{';
    key(out, "user", a);
    appendUser(out, r);
    appendIdp(out, r, a);
    if (!effect.empty()) {
      key(out, "authorizations", a);
      bool z = true;
      out += "[{";
      kvStr(out, "decision", effect, z);
      key(out, "policy", z);
      bool p = true;
      out += '{';
      kvStr(out, "name", "stepgate", p);
      kvStrOpt(out, "version", str(r, "/decision/policy_version"), p);
      const std::string rules = joined(r, "/decision/rules", ',');
      kvStrOpt(out, "uid", rules, p);
      out += "}}]";
    }
    out += '}';
  }
  key(out, "api", f);
  {
    bool a = true;
    out += '{';
    kvStr(out, "operation",
          actions.empty() ? std::string("unclassified") : joined(r, "/operation/actions", ','), a);
    const std::string& upstream = str(r, "/operation/upstream");
    if (!upstream.empty()) {
      key(out, "service", a);
      out += "{\"name\":";
      json::appendString(out, upstream);
      out += '}';
    }
    kvStrOpt(out, "version", str(r, "/operation/version"), a);
    key(out, "request", a);
    out += "{\"uid\":";
    json::appendString(out, str(r, "/request_id"));
    out += '}';
    int64_t status = 0;
    if (integer(r, "/response/status", status)) {
      key(out, "response", a);
      out += "{\"code\":";
      json::appendInt(out, status);
      out += '}';
    }
    out += '}';
  }
  key(out, "cloud", f);
  out += "{\"provider\":\"self-hosted\"}";
  appendSrcEndpoint(out, r, f);
  appendHttpRequest(out, r, f);
  const std::string& workflow = str(r, "/operation/workflow");
  if (!workflow.empty()) {
    key(out, "resources", f);
    bool z = true;
    out += "[{";
    kvStr(out, "type", "workflow", z);
    kvStr(out, "name", workflow, z);
    kvStrOpt(out, "version", str(r, "/operation/version"), z);
    kvStrOpt(out, "uid", str(r, "/operation/execution"), z);
    out += "}]";
  }
  // What OCSF has no attribute for.
  key(out, "unmapped", f);
  {
    bool u = true;
    out += '{';
    kvStrOpt(out, "step", str(r, "/operation/step"), u);
    kvStrOpt(out, "execution", str(r, "/operation/execution"), u);
    kvStrOpt(out, "namespace", str(r, "/operation/namespace"), u);
    kvStrOpt(out, "rules", joined(r, "/decision/rules", ','), u);
    kvStrOpt(out, "shadow_effect", str(r, "/decision/shadow/effect"), u);
    kvStrOpt(out, "shadow_reason", str(r, "/decision/shadow/reason"), u);
    kvStrOpt(out, "principal_method", str(r, "/principal/method"), u);
    kvStrOpt(out, "upstream_status", intText(r, "/response/upstream_status"), u);
    out += '}';
  }
  out += '}';
}

// An `auth_failure` record (a failed logon) or a `session` record (a browser sign-in,
// refresh, token or sign-out: successful).
void appendAuthentication(const JsonValue& r, std::string& out) {
  const std::string& event = str(r, "/session/event");
  const bool failure = event.empty();
  int activity = 1;
  const char* activity_name = "Logon";
  if (event == "sign_out") {
    activity = 2;
    activity_name = "Logoff";
  } else if (event == "token") {
    activity = 3;
    activity_name = "Authentication Ticket";
  } else if (event == "refresh") {
    activity = 99;
    activity_name = "Other";
  }
  bool f = true;
  out += '{';
  kvInt(out, "category_uid", 3, f);
  kvStr(out, "category_name", "Identity & Access Management", f);
  kvInt(out, "class_uid", 3002, f);
  kvStr(out, "class_name", "Authentication", f);
  kvInt(out, "activity_id", activity, f);
  kvStr(out, "activity_name", activity_name, f);
  kvInt(out, "type_uid", 300200 + activity, f);
  kvStr(out, "type_name", std::string("Authentication: ") + activity_name, f);
  kvInt(out, "severity_id", failure ? 3 : 1, f);
  kvStr(out, "severity", failure ? "Medium" : "Informational", f);
  appendTime(out, r, f);
  kvInt(out, "status_id", failure ? 2 : 1, f);
  kvStr(out, "status", failure ? "Failure" : "Success", f);
  kvStrOpt(out, "status_detail", failure ? str(r, "/auth/reason") : event, f);
  kvStrOpt(out, "status_code", intText(r, "/response/status"), f);
  appendMetadata(out, r, f);
  key(out, "user", f);
  appendUser(out, r);
  const std::string& provider =
      str(r, "/auth/provider").empty() ? str(r, "/principal/provider") : str(r, "/auth/provider");
  if (!provider.empty()) {
    key(out, "service", f);
    out += "{\"name\":";
    json::appendString(out, provider);
    out += '}';
  }
  const JsonValue* mfa = r.at("/principal/mfa");
  if (mfa != nullptr && mfa->isBool()) {
    key(out, "is_mfa", f);
    out += mfa->asBool() ? "true" : "false";
  }
  key(out, "is_remote", f);
  out += "true";
  appendSrcEndpoint(out, r, f);
  const std::string& host = str(r, "/request/host");
  if (!host.empty()) {
    key(out, "dst_endpoint", f);
    out += "{\"hostname\":";
    json::appendString(out, host);
    out += '}';
  }
  key(out, "unmapped", f);
  {
    bool u = true;
    out += '{';
    kvStrOpt(out, "request_id", str(r, "/request_id"), u);
    kvStrOpt(out, "tls", str(r, "/source/tls"), u);
    kvStrOpt(out, "http_method", str(r, "/request/method"), u);
    kvStrOpt(out, "path", str(r, "/request/path"), u);
    kvStrOpt(out, "sign_in_via", str(r, "/session/via"), u);
    out += '}';
  }
  out += '}';
}

// ---- selection and manifest -----------------------------------------------------------------

// The size line of a checkpoint note; false when the note is malformed.
bool noteSize(std::string_view note, uint64_t& size) {
  const size_t nl = note.find('\n');
  if (nl == std::string_view::npos)
    return false;
  std::string_view rest = note.substr(nl + 1);
  const size_t nl2 = rest.find('\n');
  if (nl2 == std::string_view::npos || nl2 == 0 || nl2 > 20)
    return false;
  uint64_t v = 0;
  for (char c : rest.substr(0, nl2)) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  size = v;
  return true;
}

Status readCursor(Env& env, const std::string& path, uint64_t& cursor) {
  cursor = 0;
  if (!env.exists(path))
    return okStatus();
  auto text = env.readFile(path);
  if (!text.isOk())
    return text.status();
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r'))
    t.remove_suffix(1);
  if (t.empty() || t.size() > 20 || text->size() > kMaxCursorFileBytes)
    return dataLoss(path + ": not a cursor");
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9')
      return dataLoss(path + ": not a cursor");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  cursor = v;
  return okStatus();
}

}  // namespace

// ---- public ---------------------------------------------------------------------------------

bool parseExportFormat(std::string_view text, ExportFormat& out) noexcept {
  if (text == "jsonl")
    out = ExportFormat::kJsonl;
  else if (text == "csv")
    out = ExportFormat::kCsv;
  else if (text == "ocsf")
    out = ExportFormat::kOcsf;
  else
    return false;
  return true;
}

const char* exportFormatName(ExportFormat f) noexcept {
  switch (f) {
    case ExportFormat::kJsonl:
      return "jsonl";
    case ExportFormat::kCsv:
      return "csv";
    case ExportFormat::kOcsf:
      return "ocsf";
  }
  return "jsonl";
}

bool normalizeTimeBound(std::string_view t, std::string& out) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(t, 0, 4, y) || t.size() < 10 || t[4] != '-' || !digits(t, 5, 2, mo) || t[7] != '-' ||
      !digits(t, 8, 2, d) || !validDate(y, mo, d))
    return false;
  std::string frac = "000000";
  if (t.size() > 10) {
    if (t.size() < 20 || (t[10] != 'T' && t[10] != 't') || !digits(t, 11, 2, h) || t[13] != ':' ||
        !digits(t, 14, 2, mi) || t[16] != ':' || !digits(t, 17, 2, s) || h > 23 || mi > 59 ||
        s > 59)
      return false;
    size_t pos = 19;
    if (t[pos] == '.') {
      ++pos;
      size_t n = 0;
      while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
        if (n >= 6)
          return false;
        frac[n++] = t[pos++];
      }
      if (n == 0)
        return false;
    }
    if (pos + 1 != t.size() || (t[pos] != 'Z' && t[pos] != 'z'))
      return false;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%sZ", y, mo, d, h, mi, s,
                frac.c_str());
  out = buf;
  return true;
}

bool parseRecordTime(std::string_view t, int64_t& unix_us) noexcept {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, us = 0;
  if (t.size() != 27 || !digits(t, 0, 4, y) || t[4] != '-' || !digits(t, 5, 2, mo) || t[7] != '-' ||
      !digits(t, 8, 2, d) || t[10] != 'T' || !digits(t, 11, 2, h) || t[13] != ':' ||
      !digits(t, 14, 2, mi) || t[16] != ':' || !digits(t, 17, 2, s) || t[19] != '.' ||
      !digits(t, 20, 6, us) || t[26] != 'Z' || !validDate(y, mo, d) || h > 23 || mi > 59 || s > 60)
    return false;
  const int64_t secs = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  unix_us = secs * 1000000 + us;
  return true;
}

std::string sha256Hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex();
}

void appendCsvCell(std::string& out, std::string_view cell) {
  const bool guard = !cell.empty() && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' ||
                                       cell[0] == '@' || cell[0] == '\t' || cell[0] == '\r');
  const bool quote = guard || cell.find_first_of(",\"\r\n") != std::string_view::npos;
  if (quote)
    out += '"';
  if (guard)
    out += '\'';
  for (char c : cell) {
    if (c == '"')
      out += '"';
    out += c;
  }
  if (quote)
    out += '"';
}

std::string csvHeader() {
  return "time,seq,type,request_id,principal_subject,principal_issuer,principal_provider,"
         "source_ip,method,path,upstream,workflow,step,execution,actions,decision_effect,reason,"
         "rules,status,latency_us\r\n";
}

void appendCsvRow(const JsonValue& r, std::string& out) {
  std::string reason = str(r, "/decision/reason");
  if (reason.empty())
    reason = str(r, "/auth/reason");
  if (reason.empty())
    reason = str(r, "/error");
  const std::string cells[] = {
      str(r, "/time"),
      intText(r, "/seq"),
      str(r, "/type"),
      str(r, "/request_id"),
      str(r, "/principal/subject"),
      str(r, "/principal/issuer"),
      str(r, "/principal/provider"),
      str(r, "/source/ip"),
      str(r, "/request/method"),
      str(r, "/request/path"),
      str(r, "/operation/upstream"),
      str(r, "/operation/workflow"),
      str(r, "/operation/step"),
      str(r, "/operation/execution"),
      joined(r, "/operation/actions", ';'),
      str(r, "/decision/effect"),
      reason,
      joined(r, "/decision/rules", ';'),
      intText(r, "/response/status"),
      intText(r, "/response/latency_us"),
  };
  bool first = true;
  for (const std::string& c : cells) {
    if (!first)
      out += ',';
    first = false;
    appendCsvCell(out, c);
  }
  out += "\r\n";
}

bool appendOcsfEvent(const JsonValue& record, std::string& out) {
  const std::string& type = str(record, "/type");
  if (type == "request") {
    appendApiActivity(record, out);
    return true;
  }
  if (type == "auth_failure" || type == "session") {
    appendAuthentication(record, out);
    return true;
  }
  return false;
}

Status exportRecords(Env& env, const std::string& dir, const ExportOptions& o,
                     ExportResult& result) {
  result = ExportResult{};
  if (o.key == nullptr)
    return invalidArgument("export: a signing key is required");
  if (o.out_dir.empty())
    return invalidArgument("export: an output directory is required");
  std::string from, to;
  if (!o.from_time.empty() && !normalizeTimeBound(o.from_time, from))
    return invalidArgument("export: --from is not an RFC 3339 UTC time: " + o.from_time);
  if (!o.to_time.empty() && !normalizeTimeBound(o.to_time, to))
    return invalidArgument("export: --to is not an RFC 3339 UTC time: " + o.to_time);
  const uint64_t seq_lo = o.from_seq.value_or(0);
  const uint64_t seq_end = o.to_seq.has_value() ? *o.to_seq + 1 : LogReader::kNoLimit;
  if (o.to_seq.has_value() && *o.to_seq == LogReader::kNoLimit)
    return invalidArgument("export: --to-seq out of range");
  if (seq_lo >= seq_end)
    return invalidArgument("export: empty seq range");

  auto reader = LogReader::open(env, dir);
  if (!reader.isOk())
    return reader.status();

  // Pass 1: the contiguous seq range [lo, hi] from the first record at or after `from` to
  // the last one before `to`.
  bool found = false;
  uint64_t lo = 0, hi = 0;
  Status bad;
  RETURN_IF_ERROR(reader->forEach(seq_lo, seq_end, o.limit, [&](uint64_t seq, std::string_view p) {
    if (from.empty() && to.empty()) {
      if (!found)
        lo = seq;
      found = true;
      hi = seq;
      return true;
    }
    auto rec = parseJson(p);
    if (!rec.isOk() || !rec->isObject()) {
      bad = dataLoss("record " + std::to_string(seq) + " is not a JSON object");
      return false;
    }
    const std::string& t = str(*rec, "/time");
    if (!to.empty() && t >= to)
      return true;
    if (!from.empty() && t < from)
      return true;
    if (!found)
      lo = seq;
    found = true;
    hi = seq;
    return true;
  }));
  RETURN_IF_ERROR(bad);
  if (!found)
    return notFound("export: no record in the range");

  // Output files.
  RETURN_IF_ERROR(env.createDir(o.out_dir));
  const char* data_name = o.format == ExportFormat::kJsonl ? "records.jsonl"
                          : o.format == ExportFormat::kCsv ? "records.csv"
                                                           : "records.ocsf.jsonl";
  const std::string data_path = o.out_dir + "/" + data_name;
  if (env.exists(o.out_dir + "/manifest.json") || env.exists(data_path))
    return invalidArgument("export: " + o.out_dir + " already holds an export");
  OutFile out;
  RETURN_IF_ERROR(out.open(env, data_path));
  if (o.format == ExportFormat::kCsv)
    out.buffer() += csvHeader();

  // Pass 2: write.
  uint64_t events = 0;
  Status write_status;
  RETURN_IF_ERROR(reader->forEach(lo, hi + 1, o.limit, [&](uint64_t seq, std::string_view p) {
    std::string& buf = out.buffer();
    if (o.format == ExportFormat::kJsonl) {
      if (p.find_first_of("\r\n") != std::string_view::npos) {
        bad = dataLoss("record " + std::to_string(seq) + " holds a line break");
        return false;
      }
      buf.append(p);
      buf += '\n';
      ++events;
    } else {
      auto rec = parseJson(p);
      if (!rec.isOk() || !rec->isObject()) {
        bad = dataLoss("record " + std::to_string(seq) + " is not a JSON object");
        return false;
      }
      if (o.format == ExportFormat::kCsv) {
        appendCsvRow(*rec, buf);
        ++events;
      } else if (appendOcsfEvent(*rec, buf)) {
        buf += '\n';
        ++events;
      }
    }
    write_status = out.maybeFlush();
    return write_status.isOk();
  }));
  RETURN_IF_ERROR(bad);
  RETURN_IF_ERROR(write_status);
  ExportedFile file;
  file.name = data_name;
  RETURN_IF_ERROR(out.finish(file));

  result.seq_from = lo;
  result.seq_to = hi;
  result.records = hi - lo + 1;
  result.events = events;
  result.files.push_back(file);

  // The covering checkpoint: the first note whose tree size > hi, else the newest.
  std::string covering;
  uint64_t covering_size = 0;
  bool covered = false;
  if (env.exists(dir + "/checkpoints.note")) {
    auto notes = env.readFile(dir + "/checkpoints.note");
    if (!notes.isOk())
      return notes.status();
    for (const std::string& note : splitNotes(*notes)) {
      uint64_t size = 0;
      if (!noteSize(note, size))
        continue;
      if (size > hi) {
        covering = note;
        covering_size = size;
        covered = true;
        break;
      }
      covering = note;
      covering_size = size;
    }
  }
  result.covered = covered;

  // manifest.json
  std::string m = "{\"manifest\":\"stepgate-audit-export/1\",\"format\":";
  json::appendString(m, exportFormatName(o.format));
  if (o.format == ExportFormat::kOcsf) {
    m += ",\"ocsf_version\":";
    json::appendString(m, kOcsfVersion);
  }
  m += ",\"from_time\":";
  if (from.empty())
    m += "null";
  else
    json::appendString(m, from);
  m += ",\"to_time\":";
  if (to.empty())
    m += "null";
  else
    json::appendString(m, to);
  m += ",\"seq_from\":";
  json::appendUint(m, lo);
  m += ",\"seq_to\":";
  json::appendUint(m, hi);
  m += ",\"records\":";
  json::appendUint(m, result.records);
  m += ",\"events\":";
  json::appendUint(m, events);
  m += ",\"files\":[{\"name\":";
  json::appendString(m, file.name);
  m += ",\"sha256\":";
  json::appendString(m, file.sha256);
  m += ",\"bytes\":";
  json::appendUint(m, file.bytes);
  m += "}],\"covering_checkpoint\":";
  if (covering.empty()) {
    m += "null";
  } else {
    m += "{\"size\":";
    json::appendUint(m, covering_size);
    m += ",\"covered\":";
    m += covered ? "true" : "false";
    if (!covered)
      m += ",\"status\":\"not yet covered\"";
    m += ",\"note\":";
    json::appendString(m, covering);
    m += '}';
  }
  char key_id[9];
  std::snprintf(key_id, sizeof key_id, "%08x", o.key->keyId());
  m += ",\"signer\":{\"key_name\":";
  json::appendString(m, o.key->name());
  m += ",\"key_id\":";
  json::appendString(m, key_id);
  Hash pub{};
  std::string pub_b64;
  if (o.key->publicKey().size() == pub.size()) {
    std::memcpy(pub.data(), o.key->publicKey().data(), pub.size());
    pub_b64 = toBase64(pub);
  }
  m += ",\"public_key\":";
  json::appendString(m, pub_b64);
  m += "}}\n";
  RETURN_IF_ERROR(writeWhole(env, o.out_dir + "/manifest.json", m));
  result.manifest_sha256 = sha256Hex(m);

  // manifest.json.sig: a signed note over the manifest's SHA-256.
  Checkpoint cp;
  cp.origin = std::string(kExportOrigin);
  cp.size = result.records;
  if (!fromHex(result.manifest_sha256, cp.root))
    return internalError("export: manifest hash");
  RETURN_IF_ERROR(writeWhole(env, o.out_dir + "/manifest.json.sig", o.key->sign(cp)));
  RETURN_IF_ERROR(env.syncDir(o.out_dir));

  // The export cursor: the next seq not yet exported. It advances only when this export
  // starts at or before it, so a later range never lets retention drop an earlier one.
  const std::string state = dir + "/state";
  const std::string cursor_path = state + "/export.cursor";
  uint64_t cursor = 0;
  RETURN_IF_ERROR(readCursor(env, cursor_path, cursor));
  if (lo <= cursor && hi + 1 > cursor) {
    cursor = hi + 1;
    RETURN_IF_ERROR(env.createDir(state));
    const std::string tmp = cursor_path + ".tmp";
    RETURN_IF_ERROR(writeWhole(env, tmp, std::to_string(cursor) + "\n"));
    RETURN_IF_ERROR(env.rename(tmp, cursor_path));
    RETURN_IF_ERROR(env.syncDir(state));
    if (o.on_cursor)
      o.on_cursor(cursor);
  }
  result.cursor = cursor;
  return okStatus();
}

Status verifyExport(Env& env, const std::string& out_dir, const NoteVerifier& verifier) {
  auto manifest = env.readFile(out_dir + "/manifest.json");
  if (!manifest.isOk())
    return manifest.status();
  auto sig = env.readFile(out_dir + "/manifest.json.sig");
  if (!sig.isOk())
    return sig.status();
  auto cp = verifier.verify(*sig);
  if (!cp.isOk())
    return dataLoss("manifest.json.sig: " + cp.status().message());
  if (cp->origin != kExportOrigin)
    return dataLoss("manifest.json.sig: origin " + cp->origin);
  if (toHex(cp->root) != sha256Hex(*manifest))
    return dataLoss("manifest.json.sig does not sign manifest.json");
  auto doc = parseJson(*manifest);
  if (!doc.isOk())
    return dataLoss("manifest.json: " + doc.status().message());
  int64_t records = -1;
  if (!integer(*doc, "/records", records) || static_cast<uint64_t>(records) != cp->size)
    return dataLoss("manifest.json: records differ from the signed size");
  const JsonValue* files = doc->find("files");
  if (files == nullptr || !files->isArray() || files->asArray().empty())
    return dataLoss("manifest.json: no files");
  for (const JsonValue& f : files->asArray()) {
    const std::string& name = str(f, "/name");
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      return dataLoss("manifest.json: bad file name");
    auto bytes = env.readFile(out_dir + "/" + name);
    if (!bytes.isOk())
      return dataLoss(name + ": " + bytes.status().message());
    int64_t size = -1;
    if (!integer(f, "/bytes", size) || static_cast<uint64_t>(size) != bytes->size())
      return dataLoss(name + ": size differs from the manifest");
    if (sha256Hex(*bytes) != str(f, "/sha256"))
      return dataLoss(name + ": SHA-256 differs from the manifest");
  }
  return okStatus();
}

}  // namespace stepgate::audit
