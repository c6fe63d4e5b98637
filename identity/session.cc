#include "identity/session.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "common/json.h"
#include "common/json_writer.h"
#include "common/private_file.h"
#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

constexpr unsigned char kFormatVersion = 1;
constexpr size_t kKeyIdBytes = 4;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kHeaderBytes = 1 + kKeyIdBytes + kNonceBytes;
constexpr size_t kMaxGroupsInCookie = 256;

constexpr char kSessionLabel[] = "stepgate session cookie v1";
constexpr char kLoginLabel[] = "stepgate login state cookie v1";
constexpr char kRefreshLabel[] = "stepgate refresh grant cookie v1";
constexpr char kKeyIdLabel[] = "stepgate cookie key id v1";

int64_t unixSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
SystemTime fromUnix(int64_t s) {
  return SystemTime(std::chrono::seconds(s));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) == nullptr)
    return std::string();
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1)
    return std::string();
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string randomBase64(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    return std::string();
  return base64UrlEncode(raw);
}

bool constantTimeEquals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// RFC 6265 cookie-name: an RFC 7230 token.
bool isToken(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    if (!ok || c == '\0')
      return false;
  }
  return true;
}

bool validDomain(std::string_view s) {
  if (s.empty() || s.size() > 253)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

StatusOr<SealingKeys> deriveKeys(const CookieKeys& keys, const char* label) {
  if (keys.current.size() != kSessionKeyBytes)
    return invalidArgument("the current cookie key must be 32 bytes");
  if (!keys.previous.empty() && keys.previous.size() != kSessionKeyBytes)
    return invalidArgument("the previous cookie key must be 32 bytes");
  SealingKeys d;
  d.cur_key = hmacSha256(keys.current, label);
  d.cur_id = hmacSha256(keys.current, kKeyIdLabel).substr(0, kKeyIdBytes);
  if (!keys.previous.empty()) {
    d.prev_key = hmacSha256(keys.previous, label);
    d.prev_id = hmacSha256(keys.previous, kKeyIdLabel).substr(0, kKeyIdBytes);
    if (d.prev_id == d.cur_id)
      return invalidArgument("the previous cookie key is the current one");
  }
  if (d.cur_key.size() != 32 || d.cur_id.size() != kKeyIdBytes)
    return internalError("cannot derive the cookie keys");
  return d;
}

std::string associatedData(std::string_view cookie_name, std::string_view key_id) {
  std::string aad(cookie_name);
  aad += '\0';
  aad += static_cast<char>(kFormatVersion);
  aad += key_id;
  return aad;
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// base64url(version || key id || nonce || AES-256-GCM(plaintext) || tag).
StatusOr<std::string> seal(std::string_view key, std::string_view key_id,
                           std::string_view cookie_name, std::string_view plaintext) {
  std::string blob;
  blob.resize(kHeaderBytes + plaintext.size() + kTagBytes);
  auto* out = reinterpret_cast<unsigned char*>(blob.data());
  out[0] = kFormatVersion;
  std::memcpy(out + 1, key_id.data(), kKeyIdBytes);
  unsigned char* nonce = out + 1 + kKeyIdBytes;
  if (RAND_bytes(nonce, kNonceBytes) != 1)
    return internalError("no random bytes for the cookie nonce");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const std::string aad = associatedData(cookie_name, key_id);
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                               reinterpret_cast<const unsigned char*>(key.data()), nonce) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1;
  int written = 0;
  if (ok && !plaintext.empty()) {
    ok = EVP_EncryptUpdate(ctx.get(), out + kHeaderBytes, &len,
                           reinterpret_cast<const unsigned char*>(plaintext.data()),
                           static_cast<int>(plaintext.size())) == 1;
    written = len;
  }
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), out + kHeaderBytes + written, &len) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                           out + kHeaderBytes + plaintext.size()) == 1;
  if (!ok)
    return internalError("cannot encrypt the cookie");
  return base64UrlEncode(blob);
}

enum class OpenError : unsigned char { kMalformed, kWrongKey, kTampered };

std::optional<OpenError> open(std::string_view value, std::string_view cookie_name,
                              const SealingKeys& keys, std::string& plaintext) noexcept {
  const std::string& cur_key = keys.cur_key;
  const std::string& cur_id = keys.cur_id;
  const std::string& prev_key = keys.prev_key;
  const std::string& prev_id = keys.prev_id;
  if (value.empty() || value.size() > kMaxCookieBytes)
    return OpenError::kMalformed;
  std::string blob;
  if (!base64UrlDecode(value, blob) || blob.size() < kHeaderBytes + kTagBytes)
    return OpenError::kMalformed;
  const auto* in = reinterpret_cast<const unsigned char*>(blob.data());
  if (in[0] != kFormatVersion)
    return OpenError::kMalformed;
  const std::string_view key_id(blob.data() + 1, kKeyIdBytes);
  const std::string* key = nullptr;
  if (key_id == cur_id)
    key = &cur_key;
  else if (!prev_id.empty() && key_id == prev_id)
    key = &prev_key;
  if (key == nullptr)
    return OpenError::kWrongKey;
  const unsigned char* nonce = in + 1 + kKeyIdBytes;
  const size_t ct_len = blob.size() - kHeaderBytes - kTagBytes;
  const std::string aad = associatedData(cookie_name, key_id);
  plaintext.assign(ct_len, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                               reinterpret_cast<const unsigned char*>(key->data()), nonce) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1;
  int written = 0;
  if (ok && ct_len > 0) {
    ok = EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &len,
                           in + kHeaderBytes, static_cast<int>(ct_len)) == 1;
    written = len;
  }
  // The tag is compared by OpenSSL in constant time in EVP_DecryptFinal_ex.
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                           const_cast<unsigned char*>(in + kHeaderBytes + ct_len)) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + written,
                           &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    plaintext.clear();
    return OpenError::kTampered;
  }
  return std::nullopt;
}

// open(), then the plaintext as a flat JSON object (the login-state and refresh cookies);
// the plaintext is cleansed. kMalformed when it is not one.
std::optional<OpenError> openJsonObject(std::string_view value, std::string_view cookie_name,
                                        const SealingKeys& keys, JsonValue& out) {
  std::string plaintext;
  if (auto e = open(value, cookie_name, keys, plaintext))
    return e;
  JsonLimits limits;
  limits.max_bytes = kMaxCookieBytes;
  limits.max_depth = 1;
  auto parsed = parseJson(plaintext, limits);
  OPENSSL_cleanse(plaintext.data(), plaintext.size());
  if (!parsed.isOk() || !parsed->isObject())
    return OpenError::kMalformed;
  out = std::move(parsed).value();
  return std::nullopt;
}

size_t base64Len(size_t bytes) {
  return (bytes * 4 + 2) / 3;
}

std::string cookieAttributes(std::string_view domain, int64_t max_age) {
  std::string a = "; Path=/; Max-Age=";
  a += std::to_string(max_age);
  if (!domain.empty()) {
    a += "; Domain=";
    a += domain;
  }
  a += "; Secure; HttpOnly; SameSite=Lax";
  return a;
}

const JsonValue* member(const JsonValue& obj, std::string_view name, JsonType type) {
  const JsonValue* v = obj.find(name);
  return v != nullptr && v->type() == type ? v : nullptr;
}

bool readString(const JsonValue& obj, std::string_view name, std::string& out) {
  const JsonValue* v = member(obj, name, JsonType::kString);
  if (v == nullptr)
    return false;
  out = v->asString();
  return true;
}

bool readInt(const JsonValue& obj, std::string_view name, int64_t& out) {
  const JsonValue* v = member(obj, name, JsonType::kInt);
  if (v == nullptr)
    return false;
  out = v->asInt();
  return true;
}

bool readBool(const JsonValue& obj, std::string_view name, bool& out) {
  const JsonValue* v = member(obj, name, JsonType::kBool);
  if (v == nullptr)
    return false;
  out = v->asBool();
  return true;
}

std::string sessionPayload(const Session& s, size_t group_count) {
  std::string p = "{\"v\":1,\"sid\":";
  json::appendString(p, s.sid);
  p += ",\"sub\":";
  json::appendString(p, s.subject);
  p += ",\"idp\":";
  json::appendString(p, s.provider);
  p += ",\"name\":";
  json::appendString(p, s.name);
  p += ",\"groups\":[";
  for (size_t i = 0; i < group_count; ++i) {
    if (i > 0)
      p += ',';
    json::appendString(p, s.groups[i]);
  }
  p += "],\"gt\":";
  p += s.groups_truncated || group_count < s.groups.size() ? "true" : "false";
  p += ",\"mfa\":";
  p += s.mfa ? "true" : "false";
  p += ",\"iat\":";
  json::appendInt(p, unixSeconds(s.issued_at));
  p += ",\"exp\":";
  json::appendInt(p, unixSeconds(s.expires_at));
  p += ",\"idle\":";
  json::appendInt(p, unixSeconds(s.idle_expires_at));
  p += ",\"csrf\":";
  json::appendString(p, s.csrf);
  p += '}';
  return p;
}

bool parseSessionPayload(std::string_view text, Session& s) {
  JsonLimits limits;
  limits.max_bytes = kMaxCookieBytes;
  limits.max_depth = 2;
  auto parsed = parseJson(text, limits);
  if (!parsed.isOk() || !parsed->isObject())
    return false;
  const JsonValue& o = *parsed;
  int64_t version = 0, iat = 0, exp = 0, idle = 0;
  if (!readInt(o, "v", version) || version != 1 || !readString(o, "sid", s.sid) ||
      !readString(o, "sub", s.subject) || !readString(o, "idp", s.provider) ||
      !readString(o, "name", s.name) || !readBool(o, "gt", s.groups_truncated) ||
      !readBool(o, "mfa", s.mfa) || !readInt(o, "iat", iat) || !readInt(o, "exp", exp) ||
      !readInt(o, "idle", idle) || !readString(o, "csrf", s.csrf))
    return false;
  const JsonValue* groups = member(o, "groups", JsonType::kArray);
  if (groups == nullptr || groups->asArray().size() > kMaxGroupsInCookie)
    return false;
  s.groups.clear();
  for (const auto& g : groups->asArray()) {
    if (!g.isString())
      return false;
    s.groups.push_back(g.asString());
  }
  if (s.sid.empty() || s.subject.empty() || s.csrf.empty())
    return false;
  s.issued_at = fromUnix(iat);
  s.expires_at = fromUnix(exp);
  s.idle_expires_at = fromUnix(idle);
  return true;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}


StatusOr<std::string> parseKeyFile(const std::string& path, std::string contents) {
  std::string key;
  if (contents.size() == kSessionKeyBytes) {
    key = std::move(contents);
  } else {
    while (!contents.empty() && (contents.back() == '\n' || contents.back() == '\r'))
      contents.pop_back();
    if (!base64UrlDecode(contents, key) || key.size() != kSessionKeyBytes) {
      OPENSSL_cleanse(contents.data(), contents.size());
      OPENSSL_cleanse(key.data(), key.size());
      return invalidArgument(path + ": not a cookie key (32 bytes, or 43 base64url characters)");
    }
    OPENSSL_cleanse(contents.data(), contents.size());
  }
  return key;
}

}  // namespace

StatusOr<std::string> loadOrCreateSessionKey(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::string contents;
      char buf[256];
      while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        contents.append(buf, static_cast<size_t>(in.gcount()));
        if (contents.size() > 1024)
          return invalidArgument(path + ": not a cookie key (too long)");
      }
      return parseKeyFile(path, std::move(contents));
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0)
      return invalidArgument("cannot read " + path);
    std::string raw(kSessionKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), kSessionKeyBytes) != 1)
      return internalError("no random bytes for a cookie key");
    std::string text = base64UrlEncode(raw) + "\n";
    Status s = writeNewPrivateFile(path, text);
    OPENSSL_cleanse(text.data(), text.size());
    if (s.isOk())
      return raw;
    OPENSSL_cleanse(raw.data(), raw.size());
    // Created by someone else meanwhile: read theirs on the next attempt.
    if (::stat(path.c_str(), &st) != 0)
      return s;
  }
  return internalError("cannot read or create " + path);
}

const char* sessionErrorName(SessionError e) noexcept {
  switch (e) {
    case SessionError::kMalformed:
      return "session_malformed";
    case SessionError::kWrongKey:
      return "session_wrong_key";
    case SessionError::kTampered:
      return "session_tampered";
    case SessionError::kExpired:
      return "session_expired";
    case SessionError::kIdleExpired:
      return "session_idle_expired";
  }
  return "session_malformed";
}

// ---- SessionCodec ------------------------------------------------------------------------

StatusOr<SessionCodec> SessionCodec::create(const CookieKeys& keys, const SessionOptions& options) {
  if (!isToken(options.cookie_name))
    return invalidArgument("the session cookie name is not a valid cookie name");
  if (!options.domain.empty() && !validDomain(options.domain))
    return invalidArgument("the session cookie domain is not a host name");
  if (options.lifetime.count() <= 0 || options.idle_timeout.count() <= 0)
    return invalidArgument("the session lifetime and idle timeout must be positive");
  if (options.idle_timeout > options.lifetime)
    return invalidArgument("the session idle timeout is longer than its lifetime");
  ASSIGN_OR_RETURN(SealingKeys d, deriveKeys(keys, kSessionLabel));
  SessionCodec c;
  c.options_ = options;
  c.cookie_name_ = (options.domain.empty() ? "__Host-" : "__Secure-") + options.cookie_name;
  c.keys_ = std::move(d);
  return c;
}

StatusOr<Session> SessionCodec::newSession(const Principal& principal, SystemTime now) const {
  if (principal.subject.empty())
    return invalidArgument("cannot start a session without a subject");
  Session s;
  s.sid = randomBase64(16);
  s.csrf = randomBase64(32);
  if (s.sid.empty() || s.csrf.empty())
    return internalError("no random bytes for the session");
  s.subject = principal.subject;
  s.provider = principal.provider;
  s.groups = principal.groups;
  s.name = principal.name;
  s.mfa = principal.mfa;
  // Whole seconds: the cookie stores seconds.
  s.issued_at = fromUnix(unixSeconds(now));
  s.expires_at = s.issued_at + options_.lifetime;
  s.idle_expires_at = std::min(s.issued_at + options_.idle_timeout, s.expires_at);
  return s;
}

StatusOr<std::string> SessionCodec::encode(Session& session) const {
  if (session.sid.empty() || session.subject.empty() || session.csrf.empty())
    return invalidArgument("the session has no id, subject or CSRF token");
  // The whole Set-Cookie value must stay under kMaxCookieBytes; Max-Age has at most 10
  // digits for any sane lifetime.
  const size_t fixed =
      cookie_name_.size() + 1 + cookieAttributes(options_.domain, 9999999999).size();
  size_t count = std::min(session.groups.size(), kMaxGroupsInCookie);
  if (count < session.groups.size() && !options_.truncate_groups)
    return invalidArgument("the session has more than " + std::to_string(kMaxGroupsInCookie) +
                           " groups");
  std::string payload;
  for (;;) {
    payload = sessionPayload(session, count);
    if (fixed + base64Len(kHeaderBytes + payload.size() + kTagBytes) <= kMaxCookieBytes)
      break;
    if (count == 0)
      return invalidArgument("the session cookie would be over " + std::to_string(kMaxCookieBytes) +
                             " bytes even without groups");
    if (!options_.truncate_groups)
      return invalidArgument("the session cookie would be over " + std::to_string(kMaxCookieBytes) +
                             " bytes (" + std::to_string(session.groups.size()) + " groups)");
    --count;
  }
  if (count < session.groups.size()) {
    session.groups.resize(count);
    session.groups_truncated = true;
  }
  auto sealed = seal(keys_.cur_key, keys_.cur_id, cookie_name_, payload);
  OPENSSL_cleanse(payload.data(), payload.size());
  return sealed;
}

StatusOr<std::string> SessionCodec::setCookie(Session& session, SystemTime now) const {
  const int64_t max_age = unixSeconds(session.expires_at) - unixSeconds(now);
  if (max_age <= 0)
    return invalidArgument("the session has expired");
  ASSIGN_OR_RETURN(std::string value, encode(session));
  std::string header = cookie_name_;
  header += '=';
  header += value;
  header += cookieAttributes(options_.domain, max_age);
  return header;
}

std::string SessionCodec::clearCookie() const {
  return cookie_name_ + "=" + cookieAttributes(options_.domain, 0);
}

SessionDecodeResult SessionCodec::decode(std::string_view cookie_value,
                                         SystemTime now) const noexcept {
  SessionDecodeResult r;
  std::string plaintext;
  if (auto e = open(cookie_value, cookie_name_, keys_, plaintext)) {
    r.error = *e == OpenError::kMalformed  ? SessionError::kMalformed
              : *e == OpenError::kWrongKey ? SessionError::kWrongKey
                                           : SessionError::kTampered;
    return r;
  }
  const bool parsed = parseSessionPayload(plaintext, r.session);
  OPENSSL_cleanse(plaintext.data(), plaintext.size());
  if (!parsed) {
    r.session = Session{};
    r.error = SessionError::kMalformed;
    return r;
  }
  if (now >= r.session.expires_at) {
    r.error = SessionError::kExpired;
  } else if (now >= r.session.idle_expires_at) {
    r.error = SessionError::kIdleExpired;
  }
  if (r.error)
    r.session = Session{};
  return r;
}

bool SessionCodec::needsRefresh(const Session& session, SystemTime now) const noexcept {
  return session.idle_expires_at < session.expires_at &&
         session.idle_expires_at - now < options_.idle_timeout / 2;
}

void SessionCodec::refresh(Session& session, SystemTime now) const noexcept {
  session.idle_expires_at =
      std::min(fromUnix(unixSeconds(now)) + options_.idle_timeout, session.expires_at);
}

Principal SessionCodec::principal(const Session& session) const {
  Principal p;
  p.provider = session.provider;
  p.subject = session.subject;
  p.name = session.name;
  p.groups = session.groups;
  p.method = AuthMethod::kSession;
  p.mfa = session.mfa;
  p.credential_id = hex(sha256("session:" + session.sid)).substr(0, 32);
  p.expires_at = session.expires_at;
  return p;
}

std::optional<std::string_view> findCookie(std::string_view header,
                                           std::string_view name) noexcept {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t'))
      pair.remove_prefix(1);
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t'))
      pair.remove_suffix(1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name)
      continue;
    std::string_view value = pair.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return value;
  }
  return std::nullopt;
}

// ---- CSRF --------------------------------------------------------------------------------

const char* csrfResultName(CsrfResult r) noexcept {
  switch (r) {
    case CsrfResult::kOk:
      return "ok";
    case CsrfResult::kMissingToken:
      return "csrf_missing";
    case CsrfResult::kBadToken:
      return "csrf_mismatch";
  }
  return "csrf_mismatch";
}

CsrfResult checkCsrf(std::string_view method, const CsrfHeaders& headers, const Session& session,
                     const CsrfOptions& options) noexcept {
  // Methods are case-sensitive (RFC 9110): "get" is not GET, so it is checked.
  if (method == "GET" || method == "HEAD" || method == "OPTIONS")
    return CsrfResult::kOk;
  if (headers.duplicate)
    return CsrfResult::kBadToken;
  if (headers.csrf_token.has_value()) {
    return !session.csrf.empty() && constantTimeEquals(*headers.csrf_token, session.csrf)
               ? CsrfResult::kOk
               : CsrfResult::kBadToken;
  }
  if (options.allow_same_origin) {
    if (headers.sec_fetch_site.has_value() && *headers.sec_fetch_site == "same-origin")
      return CsrfResult::kOk;
    if (headers.origin.has_value() && *headers.origin != "null") {
      for (const auto& allowed : options.allowed_origins) {
        if (!allowed.empty() && asciiIEquals(*headers.origin, allowed))
          return CsrfResult::kOk;
      }
    }
  }
  return CsrfResult::kMissingToken;
}

// ---- revocation --------------------------------------------------------------------------

SessionRevocationList::SessionRevocationList(size_t max_entries)
    : max_entries_(max_entries), snapshot_(std::make_shared<const Map>()) {}

void SessionRevocationList::publishLocked() {
  snapshot_.store(std::make_shared<const Map>(by_sid_), std::memory_order_release);
}

Status SessionRevocationList::revoke(std::string_view sid, SystemTime expires_at, SystemTime now) {
  if (sid.empty())
    return invalidArgument("no session id");
  if (now >= expires_at)
    return okStatus();  // already over: nothing to remember
  std::lock_guard<std::mutex> lock(mu_);
  std::string key(sid);
  if (auto it = by_sid_.find(key); it != by_sid_.end()) {
    if (it->second >= expires_at)
      return okStatus();
    auto range = by_exp_.equal_range(it->second);
    for (auto e = range.first; e != range.second; ++e) {
      if (e->second == key) {
        by_exp_.erase(e);
        break;
      }
    }
    it->second = expires_at;
    by_exp_.emplace(expires_at, key);
    publishLocked();
    return okStatus();
  }
  if (by_sid_.size() >= max_entries_) {
    purgeLocked(now);
    if (by_sid_.size() >= max_entries_)
      return resourceExhausted("the session revocation list is full (" +
                               std::to_string(max_entries_) + " entries)");
  }
  by_sid_.emplace(key, expires_at);
  by_exp_.emplace(expires_at, std::move(key));
  publishLocked();
  return okStatus();
}

bool SessionRevocationList::isRevoked(std::string_view sid, SystemTime now) const noexcept {
  const std::shared_ptr<const Map> snap = snapshot_.load(std::memory_order_acquire);
  if (snap->empty())
    return false;
  auto it = snap->find(sid);
  return it != snap->end() && now < it->second;
}

size_t SessionRevocationList::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_sid_.size();
}

void SessionRevocationList::purgeLocked(SystemTime now) {
  while (!by_exp_.empty() && by_exp_.begin()->first <= now) {
    by_sid_.erase(by_exp_.begin()->second);
    by_exp_.erase(by_exp_.begin());
  }
}

// ---- PKCE and login state ----------------------------------------------------------------

std::string pkceChallenge(std::string_view verifier) {
  return base64UrlEncode(sha256(verifier));
}

PkcePair makePkce() {
  PkcePair p;
  p.verifier = randomBase64(32);
  if (!p.verifier.empty())
    p.challenge = pkceChallenge(p.verifier);
  return p;
}

bool validPkceVerifier(std::string_view v) noexcept {
  if (v.size() < 43 || v.size() > 128)
    return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
  });
}

bool validReturnTo(std::string_view path) noexcept {
  if (path.empty() || path.size() > 2048 || path[0] != '/')
    return false;
  if (path.size() > 1 && (path[1] == '/' || path[1] == '\\'))
    return false;
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c <= 0x20 || c >= 0x7f || c == '\\')
      return false;
    if (c == '%' && i + 2 < path.size()) {
      const char a = path[i + 1];
      const char b = static_cast<char>(path[i + 2] | 0x20);
      if ((a == '2' && b == 'f') || (a == '5' && b == 'c'))
        return false;
    }
  }
  return true;
}

const char* loginStateErrorName(LoginStateError e) noexcept {
  switch (e) {
    case LoginStateError::kMalformed:
      return "login_state_malformed";
    case LoginStateError::kWrongKey:
      return "login_state_wrong_key";
    case LoginStateError::kTampered:
      return "login_state_tampered";
    case LoginStateError::kExpired:
      return "login_state_expired";
    case LoginStateError::kStateMismatch:
      return "login_state_mismatch";
  }
  return "login_state_malformed";
}

StatusOr<LoginStateCodec> LoginStateCodec::create(const CookieKeys& keys, std::string cookie_name) {
  if (!isToken(cookie_name))
    return invalidArgument("the login state cookie name is not a valid cookie name");
  ASSIGN_OR_RETURN(SealingKeys d, deriveKeys(keys, kLoginLabel));
  LoginStateCodec c;
  c.cookie_name_ = "__Host-" + cookie_name;
  c.keys_ = std::move(d);
  return c;
}

StatusOr<LoginState> LoginStateCodec::begin(std::string_view return_to,
                                            std::string_view saml_request_id,
                                            SystemTime now) const {
  if (return_to.empty())
    return_to = "/";
  if (!validReturnTo(return_to))
    return invalidArgument("the return path is not a same-origin relative path");
  if (saml_request_id.size() > 256)
    return invalidArgument("the SAML request id is too long");
  LoginState s;
  s.state = randomBase64(16);
  s.nonce = randomBase64(16);
  s.pkce_verifier = makePkce().verifier;
  if (s.state.empty() || s.nonce.empty() || s.pkce_verifier.empty())
    return internalError("no random bytes for the login state");
  s.return_to = std::string(return_to);
  s.saml_request_id = std::string(saml_request_id);
  s.expires_at = fromUnix(unixSeconds(now)) + kLifetime;
  return s;
}

StatusOr<std::string> LoginStateCodec::setCookie(const LoginState& state, SystemTime now) const {
  const int64_t max_age = unixSeconds(state.expires_at) - unixSeconds(now);
  if (max_age <= 0)
    return invalidArgument("the login state has expired");
  std::string p = "{\"v\":1,\"state\":";
  json::appendString(p, state.state);
  p += ",\"nonce\":";
  json::appendString(p, state.nonce);
  p += ",\"pkce\":";
  json::appendString(p, state.pkce_verifier);
  p += ",\"rt\":";
  json::appendString(p, state.return_to);
  p += ",\"sreq\":";
  json::appendString(p, state.saml_request_id);
  p += ",\"exp\":";
  json::appendInt(p, unixSeconds(state.expires_at));
  p += '}';
  auto sealed = seal(keys_.cur_key, keys_.cur_id, cookie_name_, p);
  OPENSSL_cleanse(p.data(), p.size());
  if (!sealed.isOk())
    return sealed.status();
  std::string header = cookie_name_ + "=" + *sealed + cookieAttributes("", max_age);
  if (header.size() > kMaxCookieBytes)
    return invalidArgument("the login state cookie would be over " +
                           std::to_string(kMaxCookieBytes) + " bytes");
  return header;
}

std::string LoginStateCodec::clearCookie() const {
  return cookie_name_ + "=" + cookieAttributes("", 0);
}

LoginStateDecodeResult LoginStateCodec::decode(std::string_view cookie_value,
                                               std::optional<std::string_view> state_param,
                                               SystemTime now) const noexcept {
  LoginStateDecodeResult r;
  JsonValue obj;
  if (auto e = openJsonObject(cookie_value, cookie_name_, keys_, obj)) {
    r.error = *e == OpenError::kMalformed  ? LoginStateError::kMalformed
              : *e == OpenError::kWrongKey ? LoginStateError::kWrongKey
                                           : LoginStateError::kTampered;
    return r;
  }
  int64_t version = 0, exp = 0;
  LoginState& s = r.state;
  if (!readInt(obj, "v", version) || version != 1 || !readString(obj, "state", s.state) ||
      !readString(obj, "nonce", s.nonce) || !readString(obj, "pkce", s.pkce_verifier) ||
      !readString(obj, "rt", s.return_to) || !readString(obj, "sreq", s.saml_request_id) ||
      !readInt(obj, "exp", exp) ||
      s.state.empty() || !validPkceVerifier(s.pkce_verifier) || !validReturnTo(s.return_to)) {
    r.state = LoginState{};
    r.error = LoginStateError::kMalformed;
    return r;
  }
  s.expires_at = fromUnix(exp);
  if (now >= s.expires_at) {
    r.error = LoginStateError::kExpired;
  } else if (state_param.has_value() && !constantTimeEquals(*state_param, s.state)) {
    r.error = LoginStateError::kStateMismatch;
  }
  if (r.error)
    r.state = LoginState{};
  return r;
}

StatusOr<RefreshCookieCodec> RefreshCookieCodec::create(const CookieKeys& keys,
                                                        std::string cookie_name,
                                                        std::string path) {
  if (!isToken(cookie_name))
    return invalidArgument("the refresh cookie name is not a valid cookie name");
  if (path.empty() || path[0] != '/' || path.find_first_of("; ,\"") != std::string::npos)
    return invalidArgument("the refresh cookie path must be an absolute path");
  ASSIGN_OR_RETURN(SealingKeys d, deriveKeys(keys, kRefreshLabel));
  RefreshCookieCodec c;
  c.cookie_name_ = "__Secure-" + cookie_name;
  c.path_ = std::move(path);
  c.keys_ = std::move(d);
  return c;
}

std::string RefreshCookieCodec::attributes(int64_t max_age) const {
  return "; Path=" + path_ + "; Max-Age=" + std::to_string(max_age) +
         "; Secure; HttpOnly; SameSite=Lax";
}

std::string RefreshCookieCodec::newGrantId() {
  return randomBase64(16);
}

StatusOr<std::string> RefreshCookieCodec::setCookie(const RefreshGrant& grant,
                                                    SystemTime now) const {
  if (grant.id.empty() || grant.subject.empty() || grant.refresh_token.empty())
    return invalidArgument("the refresh grant needs an id, a subject and a token");
  const int64_t max_age = unixSeconds(grant.expires_at) - unixSeconds(now);
  if (max_age <= 0)
    return invalidArgument("the refresh grant has expired");
  std::string p = "{\"v\":1,\"gid\":";
  json::appendString(p, grant.id);
  p += ",\"prov\":";
  json::appendString(p, grant.provider);
  p += ",\"sub\":";
  json::appendString(p, grant.subject);
  p += ",\"rt\":";
  json::appendString(p, grant.refresh_token);
  p += ",\"exp\":";
  json::appendInt(p, unixSeconds(grant.expires_at));
  p += '}';
  auto sealed = seal(keys_.cur_key, keys_.cur_id, cookie_name_, p);
  OPENSSL_cleanse(p.data(), p.size());
  if (!sealed.isOk())
    return sealed.status();
  std::string header = cookie_name_ + "=" + *sealed + attributes(max_age);
  if (header.size() > kMaxCookieBytes)
    return invalidArgument("the refresh token is too large for a cookie");
  return header;
}

std::string RefreshCookieCodec::clearCookie() const {
  return cookie_name_ + "=" + attributes(0);
}

std::optional<RefreshGrant> RefreshCookieCodec::decode(std::string_view cookie_value,
                                                       SystemTime now) const {
  JsonValue obj;
  if (openJsonObject(cookie_value, cookie_name_, keys_, obj))
    return std::nullopt;
  int64_t version = 0, exp = 0;
  RefreshGrant g;
  if (!readInt(obj, "v", version) || version != 1 || !readString(obj, "gid", g.id) ||
      !readString(obj, "prov", g.provider) || !readString(obj, "sub", g.subject) ||
      !readString(obj, "rt", g.refresh_token) || !readInt(obj, "exp", exp) || g.id.empty() ||
      g.subject.empty() || g.refresh_token.empty()) {
    return std::nullopt;
  }
  g.expires_at = fromUnix(exp);
  if (now >= g.expires_at)
    return std::nullopt;
  return g;
}

}  // namespace stepgate::identity
