// libFuzzer target for the parsers of browser sign-in that stepgate owns: the OIDC callback
// query (identity::parseCallback), Cookie headers (identity::findCookie and
// proxy::stripSsoCookies), the three encrypted cookies (SessionCodec, LoginStateCodec,
// RefreshCookieCodec, with fixed keys and a fixed time), form and query values
// (proxy::formValue), return paths (identity::validReturnTo, proxy::loginRedirect) and
// session-cookie authentication (proxy::authenticateSession).
//
// Input layout: byte 0 picks the function (modulo 8; the seed corpus uses '0'..'7'), the rest
// is its input. Where a function takes two strings, they are split at the
// first '\n'.
// Checked beyond "no crash, no sanitizer report":
//  - an accepted callback has a state, exactly one of code and error, values within limits;
//  - findCookie() returns a part of the header without ';', after "name="; stripSsoCookies()
//    leaves no sign-in cookie and every other cookie as findCookie() saw it;
//  - a cookie that decodes is complete and unexpired (a decoded return_to passes
//    validReturnTo()); a cookie sealed from fuzzed fields always decodes, back to the same
//    fields when they are valid UTF-8 (the JSON writer replaces invalid sequences);
//  - formValue() returns what encodeForm() encoded;
//  - validReturnTo() agrees with an independent statement of its rule; loginRedirect() gives
//    the bare login URL or one whose return_to decodes to a valid path equal to the request's;
//  - authenticateSession() hands out a principal only with kOk.

#include "tests/fuzz/fuzz_check.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "identity/http_fetch.h"
#include "identity/oidc_login.h"
#include "identity/session.h"
#include "proxy/sso_endpoints.h"

namespace {

using namespace stepgate::identity;  // NOLINT: a fuzz target over this namespace
using stepgate::SystemTime;
using stepgate::proxy::SessionAuth;
using stepgate::proxy::SsoRuntime;

const SystemTime kNow = SystemTime(std::chrono::seconds(1'900'000'000));
constexpr char kPrefix[] = "/.stepgate";

const SsoRuntime& runtime() {
  static const SsoRuntime* rt = [] {
    auto* r = new SsoRuntime();
    r->config.path_prefix = kPrefix;
    const CookieKeys keys{std::string(kSessionKeyBytes, 'k'), std::string(kSessionKeyBytes, 'p')};
    SessionOptions so;
    so.lifetime = std::chrono::hours(8);
    so.idle_timeout = std::chrono::hours(1);
    auto sessions = SessionCodec::create(keys, so);
    auto login = LoginStateCodec::create(keys, "stepgate-session-login");
    auto refresh = RefreshCookieCodec::create(keys, "stepgate-session-refresh", kPrefix);
    FUZZ_CHECK(sessions.isOk() && login.isOk() && refresh.isOk());
    r->sessions.emplace(std::move(sessions).value());
    r->login.emplace(std::move(login).value());
    r->refresh.emplace(std::move(refresh).value());
    r->revoked = std::make_shared<SessionRevocationList>();
    r->replay = std::make_shared<SamlReplayCache>();
    return r;
  }();
  return *rt;
}

// `in` split at its first '\n' (the second part empty when there is none).
std::pair<std::string_view, std::string_view> split(std::string_view in) {
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return {in, {}};
  return {in.substr(0, nl), in.substr(nl + 1)};
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool validUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if ((b0 & 0xE0) == 0xC0) {
      n = 2;
      cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      n = 3;
      cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      n = 4;
      cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// The value of a Set-Cookie header value.
std::string_view cookieValue(std::string_view set_cookie) {
  const size_t eq = set_cookie.find('=');
  const size_t semi = set_cookie.find(';');
  FUZZ_CHECK(eq != std::string_view::npos && semi != std::string_view::npos && eq < semi);
  return set_cookie.substr(eq + 1, semi - eq - 1);
}

void checkCallback(std::string_view q) {
  auto cb = parseCallback(q);
  if (!cb.isOk()) {
    FUZZ_CHECK(loginErrorCode(cb.status()) == "callback_malformed");
    return;
  }
  FUZZ_CHECK(q.size() <= kMaxCallbackQueryBytes);
  FUZZ_CHECK(!cb->state.empty() && cb->state.size() <= 2048);
  FUZZ_CHECK(cb->code.size() <= 2048 && cb->iss.size() <= 2048);
  FUZZ_CHECK(cb->code.empty() != cb->error.empty());
  if (cb->ok()) {
    FUZZ_CHECK(cb->error_description.empty());
  } else {
    FUZZ_CHECK(cb->error.size() <= 128);
    FUZZ_CHECK(cb->error_description.size() <= 256);
    for (char c : cb->error_description) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  }
}

void checkCookies(std::string_view in) {
  const auto [name, header] = split(in);
  const SsoRuntime& rt = runtime();
  if (const auto v = findCookie(header, name)) {
    FUZZ_CHECK(v->data() >= header.data() &&
               v->data() + v->size() <= header.data() + header.size());
    FUZZ_CHECK(v->find(';') == std::string_view::npos);
    FUZZ_CHECK(header.find(std::string(name) + "=") != std::string_view::npos);
  }
  const std::string stripped = stepgate::proxy::stripSsoCookies(rt, header);
  for (const std::string& sso : {rt.sessions->cookieName(), rt.login->cookieName(),
                                 rt.refresh->cookieName()}) {
    FUZZ_CHECK(!findCookie(stripped, sso).has_value());
  }
  if (name != rt.sessions->cookieName() && name != rt.login->cookieName() &&
      name != rt.refresh->cookieName()) {
    FUZZ_CHECK(findCookie(stripped, name) == findCookie(header, name));
  }
  // Stripping is idempotent.
  FUZZ_CHECK(stepgate::proxy::stripSsoCookies(rt, stripped) == stripped);
}

void checkSession(std::string_view in) {
  const SsoRuntime& rt = runtime();
  const SessionDecodeResult r = rt.sessions->decode(in, kNow);
  if (r.ok()) {
    FUZZ_CHECK(!r.session.sid.empty() && !r.session.subject.empty() && !r.session.csrf.empty());
    FUZZ_CHECK(kNow < r.session.expires_at && kNow < r.session.idle_expires_at);
  } else {
    FUZZ_CHECK(r.session.sid.empty() && r.session.subject.empty());
  }
  // A session from fuzzed fields round-trips.
  const auto [subject, rest] = split(in);
  const auto [name, groups_text] = split(rest);
  Principal p;
  p.provider = "idp";
  p.subject = std::string(subject);
  p.name = std::string(name);
  size_t start = 0;
  while (start < groups_text.size()) {
    size_t end = groups_text.find(',', start);
    if (end == std::string_view::npos) end = groups_text.size();
    p.groups.emplace_back(groups_text.substr(start, end - start));
    start = end + 1;
  }
  auto s = rt.sessions->newSession(p, kNow);
  if (!s.isOk()) {
    FUZZ_CHECK(subject.empty());
    return;
  }
  auto set = rt.sessions->setCookie(*s, kNow);
  if (!set.isOk()) return;  // too large even without groups
  FUZZ_CHECK(set->size() <= kMaxCookieBytes);
  const SessionDecodeResult back = rt.sessions->decode(cookieValue(*set), kNow);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back.session.sid == s->sid && back.session.csrf == s->csrf);
  FUZZ_CHECK(back.session.groups.size() == s->groups.size());
  FUZZ_CHECK(back.session.groups_truncated == (s->groups.size() < p.groups.size()));
  if (validUtf8(in)) {
    FUZZ_CHECK(back.session.subject == p.subject && back.session.name == p.name);
    FUZZ_CHECK(back.session.groups == s->groups);
  }
}

void checkLoginState(std::string_view in) {
  const SsoRuntime& rt = runtime();
  const auto [value, state] = split(in);
  const LoginStateDecodeResult r =
      rt.login->decode(value, state.empty() ? std::nullopt : std::optional(state), kNow);
  if (r.ok()) {
    FUZZ_CHECK(validReturnTo(r.state.return_to));
    FUZZ_CHECK(validPkceVerifier(r.state.pkce_verifier));
    FUZZ_CHECK(!r.state.state.empty() && kNow < r.state.expires_at);
    if (!state.empty()) FUZZ_CHECK(r.state.state == state);
  } else {
    FUZZ_CHECK(r.state.pkce_verifier.empty() && r.state.nonce.empty());
  }
  // begin() takes only valid return paths, and they come back from the cookie.
  auto begun = rt.login->begin(value, state.substr(0, 300), kNow);
  if (!begun.isOk()) {
    FUZZ_CHECK(!validReturnTo(value) || state.size() > 256);
    return;
  }
  FUZZ_CHECK(validReturnTo(begun->return_to));
  FUZZ_CHECK(begun->return_to == (value.empty() ? std::string_view("/") : value));
  auto set = rt.login->setCookie(*begun, kNow);
  if (!set.isOk()) return;  // over the cookie size limit
  const LoginStateDecodeResult back =
      rt.login->decode(cookieValue(*set), std::string_view(begun->state), kNow);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back.state.return_to == begun->return_to);
  FUZZ_CHECK(back.state.nonce == begun->nonce);
  FUZZ_CHECK(back.state.pkce_verifier == begun->pkce_verifier);
  if (validUtf8(begun->saml_request_id)) {
    FUZZ_CHECK(back.state.saml_request_id == begun->saml_request_id);
  }
}

void checkRefresh(std::string_view in) {
  const SsoRuntime& rt = runtime();
  if (const auto g = rt.refresh->decode(in, kNow)) {
    FUZZ_CHECK(!g->id.empty() && !g->subject.empty() && !g->refresh_token.empty());
    FUZZ_CHECK(kNow < g->expires_at);
  }
  const auto [subject, token] = split(in);
  RefreshGrant grant;
  grant.id = "grant-1";
  grant.provider = "idp";
  grant.subject = std::string(subject);
  grant.refresh_token = std::string(token);
  grant.expires_at = kNow + std::chrono::hours(24);
  auto set = rt.refresh->setCookie(grant, kNow);
  if (!set.isOk()) return;
  FUZZ_CHECK(set->size() <= kMaxCookieBytes);
  const auto back = rt.refresh->decode(cookieValue(*set), kNow);
  if (subject.empty() || token.empty()) {
    FUZZ_CHECK(!back.has_value());  // an incomplete grant is never accepted
    return;
  }
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->provider == "idp" && back->expires_at == grant.expires_at);
  if (validUtf8(in)) FUZZ_CHECK(back->subject == subject && back->refresh_token == token);
  FUZZ_CHECK(!rt.refresh->decode(cookieValue(*set), grant.expires_at).has_value());
}

bool unreservedName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '*';
    if (!ok) return false;
  }
  return true;
}

void checkForm(std::string_view in) {
  const auto [name, form] = split(in);
  const auto v = stepgate::proxy::formValue(form, name);
  if (v) FUZZ_CHECK(v->size() <= form.size());
  if (!unreservedName(name)) return;
  // Whatever encodeForm() writes, formValue() reads back.
  const std::string encoded =
      encodeForm({{"a-" + std::string(name), "x"}, {std::string(name), std::string(form)},
                  {std::string(name), "second"}});
  const auto back = stepgate::proxy::formValue(encoded, name);
  FUZZ_CHECK(back.has_value() && *back == form);
}

// validReturnTo's rule, stated independently.
bool referenceReturnTo(std::string_view p) {
  if (p.empty() || p.size() > 2048 || p.front() != '/') return false;
  if (p.size() > 1 && (p[1] == '/' || p[1] == '\\')) return false;
  for (unsigned char c : p) {
    if (c < 0x21 || c > 0x7e || c == '\\') return false;
  }
  for (const char* bad : {"%2f", "%2F", "%5c", "%5C"}) {
    if (p.find(bad) != std::string_view::npos) return false;
  }
  return true;
}

void checkReturnTo(std::string_view in) {
  FUZZ_CHECK(validReturnTo(in) == referenceReturnTo(in));
  const size_t q = in.find('?');
  const std::string_view path = in.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : in.substr(q + 1);
  const std::string loc =
      stepgate::proxy::loginRedirect(runtime(), "GET", path, query, "navigate", "");
  const std::string bare = std::string(kPrefix) + "/login";
  if (loc == bare) {
    std::string target(path);
    if (!query.empty()) target += "?" + std::string(query);
    FUZZ_CHECK(!validReturnTo(target));
    return;
  }
  FUZZ_CHECK(loc.rfind(bare + "?return_to=", 0) == 0);
  const auto rt = stepgate::proxy::formValue(std::string_view(loc).substr(bare.size() + 1),
                                             "return_to");
  FUZZ_CHECK(rt.has_value() && validReturnTo(*rt));
  FUZZ_CHECK(*rt == (query.empty() ? std::string(path) : std::string(in)));
  FUZZ_CHECK(stepgate::proxy::loginRedirect(runtime(), "POST", path, query, "navigate", "")
                 .empty());
}

void checkAuthenticate(std::string_view in) {
  const auto [method, header] = split(in);
  CsrfHeaders csrf;
  if (method.size() > 8) csrf.csrf_token = method.substr(8);
  const SessionAuth a = stepgate::proxy::authenticateSession(
      runtime(), method.substr(0, 8), header, csrf, kNow);
  if (a.result == SessionAuth::Result::kOk) {
    FUZZ_CHECK(a.principal != nullptr && !a.principal->subject.empty());
  } else {
    FUZZ_CHECK(a.principal == nullptr && a.set_cookie.empty());
  }
  if (!findCookie(header, runtime().sessions->cookieName())) {
    FUZZ_CHECK(a.result == SessionAuth::Result::kNoCookie);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      checkCallback(in);
      break;
    case 1:
      checkCookies(in);
      break;
    case 2:
      checkSession(in);
      break;
    case 3:
      checkLoginState(in);
      break;
    case 4:
      checkRefresh(in);
      break;
    case 5:
      checkForm(in);
      break;
    case 6:
      checkReturnTo(in);
      break;
    default:
      checkAuthenticate(in);
      break;
  }
  return 0;
}
