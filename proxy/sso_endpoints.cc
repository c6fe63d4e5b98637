#include "proxy/sso_endpoints.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>

#include <openssl/crypto.h>

#include "common/json_writer.h"
#include "common/logging.h"
#include "identity/http_fetch.h"
#include "identity/oidc_login.h"

namespace stepgate::proxy {
namespace {

StatusOr<std::string> readPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalidArgument(std::string(what) + ": cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 64 * 1024) return invalidArgument(std::string(what) + ": too large: " + path);
  return text;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> urlDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hexDigit(in[i + 1]), lo = hexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> queryValue(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return urlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1),
                       true);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

constexpr char kNoStore[] = "Cache-Control: no-store\r\n";

SsoAnswer refuse(int status, std::string_view error, SsoOutcome outcome = SsoOutcome::kRefused) {
  SsoAnswer a;
  a.status = status;
  a.error = error;
  a.outcome = outcome;
  a.headers = kNoStore;
  return a;
}

SsoAnswer json(int status, std::string body) {
  SsoAnswer a;
  a.status = status;
  a.content_type = "application/json";
  a.body = std::move(body);
  a.headers = kNoStore;
  return a;
}

void appendTime(std::string& out, SystemTime t) {
  json::appendInt(out, std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch())
                           .count());
}

// The login-state cookie goes with a cross-site POST (the IdP's form to the ACS): SameSite=None.
std::string crossSite(std::string set_cookie) {
  const size_t at = set_cookie.find("SameSite=Lax");
  if (at != std::string::npos) set_cookie.replace(at, 12, "SameSite=None");
  return set_cookie;
}

struct SessionLookup {
  std::optional<identity::Session> session;
  std::string_view reason;
  bool revoked = false;
};

SessionLookup findSession(const SsoRuntime& sso, std::string_view cookie_header, SystemTime now) {
  SessionLookup out;
  const auto value = identity::findCookie(cookie_header, sso.sessions->cookieName());
  if (!value) {
    out.reason = "session_missing";
    return out;
  }
  identity::SessionDecodeResult r = sso.sessions->decode(*value, now);
  if (!r.ok()) {
    out.reason = identity::sessionErrorName(*r.error);
    return out;
  }
  if (sso.revoked->isRevoked(r.session.sid, now)) {
    out.reason = "session_revoked";
    out.revoked = true;
    return out;
  }
  out.session = std::move(r.session);
  return out;
}

bool csrfOk(std::string_view method, const identity::CsrfHeaders& h,
            const identity::Session& s) {
  identity::CsrfOptions opts;
  opts.allow_same_origin = false;  // an explicit X-CSRF-Token only
  return identity::checkCsrf(method, h, s, opts) == identity::CsrfResult::kOk;
}

SsoAnswer metadata(const SsoRuntime& sso) {
  SsoAnswer a;
  a.content_type = "application/samlmetadata+xml";
  a.body = identity::spMetadataXml(sso.verifier->config());
  a.headers = "Cache-Control: max-age=300\r\n";
  return a;
}

// return_to from the query ("/" when absent); nullopt when present but not a local path.
std::optional<std::string> returnTo(std::string_view query) {
  auto v = queryValue(query, "return_to");
  if (!v) {
    // Absent: "/"; present but badly encoded: refused like any other bad value.
    for (std::string_view rest = query; !rest.empty();) {
      const size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      if (pair.substr(0, pair.find('=')) == "return_to") return std::nullopt;
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    }
    return std::string("/");
  }
  if (!identity::validReturnTo(*v)) return std::nullopt;
  return v;
}

SsoAnswer samlLogin(const SsoRuntime& sso, const SsoRequest& req) {
  if (!sso.verifier) return refuse(404, "not_found");
  const auto return_to = returnTo(req.query);
  if (!return_to) return refuse(400, "bad_return_to");
  auto state = sso.login->begin(*return_to, {}, req.now);
  if (!state.isOk()) return refuse(400, "bad_return_to");
  std::string request_id;
  auto url = identity::buildAuthnRequestRedirect(sso.verifier->config(), state->state, request_id,
                                                 req.now);
  if (!url.isOk()) return refuse(500, "saml_request_failed");
  state->saml_request_id = request_id;
  auto cookie = sso.login->setCookie(*state, req.now);
  if (!cookie.isOk()) return refuse(500, "login_state_failed");
  SsoAnswer a;
  a.status = 302;
  a.content_type = "text/plain";
  a.body = "Redirecting to the identity provider\n";
  a.headers = kNoStore;
  a.headers += "Location: " + *url + "\r\n";
  a.headers += "Set-Cookie: " + crossSite(std::move(cookie).value()) + "\r\n";
  return a;
}

SsoAnswer loginFailed(std::string_view error, std::optional<identity::SamlError> saml) {
  SsoAnswer a = refuse(403, error, SsoOutcome::kLoginFailed);
  a.saml_error = saml;
  return a;
}

SsoAnswer oidcFailed(OidcFailure f, std::string_view error) {
  SsoAnswer a = refuse(f == OidcFailure::kUnavailable ? 503 : 403, error,
                       SsoOutcome::kLoginFailed);
  a.oidc_failure = f;
  return a;
}

// 302 to the provider's authorization endpoint with a fresh login-state cookie.
SsoAnswer oidcRedirect(const SsoRuntime& sso, const identity::OidcLoginService& service,
                       const std::string& return_to, SystemTime now,
                       const identity::FormFields& extra = {}) {
  const auto endpoints = service.endpoints();
  if (!endpoints) return refuse(503, "login_unavailable");
  auto state = sso.login->begin(return_to, {}, now);
  if (!state.isOk()) return refuse(400, "bad_return_to");
  auto cookie = sso.login->setCookie(*state, now);
  if (!cookie.isOk()) return refuse(500, "login_state_failed");
  SsoAnswer a;
  a.status = 302;
  a.content_type = "text/plain";
  a.body = "Redirecting to the identity provider\n";
  a.headers = kNoStore;
  a.headers += "Location: " +
               identity::authorizationUrl(*endpoints, service.client().config(), *state, extra) +
               "\r\n";
  a.headers += "Set-Cookie: " + *cookie + "\r\n";
  return a;
}

// "saml" or "oidc" for a session's provider.
std::string_view viaOf(const SsoRuntime& sso, std::string_view provider) {
  if (sso.oidc_provider && provider == sso.oidc_provider->name) return "oidc";
  if (sso.config.saml && provider == sso.config.saml->idp_entity_id) return "saml";
  return {};
}

void tag(SsoAnswer& a, const SsoRuntime& sso, const identity::Session& s, std::string_view event) {
  a.principal = std::make_shared<const identity::Principal>(sso.sessions->principal(s));
  a.session_event = event;
  a.session_via = viaOf(sso, s.provider);
}

// The revocation list's key for a refresh grant (session ids and grant ids are both 128
// random bits; the prefix keeps the two apart).
std::string grantKey(std::string_view id) { return "grant:" + std::string(id); }

// The request's refresh grant, unless absent, undecodable, expired or signed out.
std::optional<identity::RefreshGrant> usableGrant(const SsoRuntime& sso,
                                                  std::string_view cookie_header,
                                                  SystemTime now) {
  if (!sso.refresh) return std::nullopt;
  const auto value = identity::findCookie(cookie_header, sso.refresh->cookieName());
  if (!value) return std::nullopt;
  auto grant = sso.refresh->decode(*value, now);
  if (!grant || sso.revoked->isRevoked(grantKey(grant->id), now)) return std::nullopt;
  return grant;
}

SsoAnswer pendingAnswer(std::unique_ptr<OidcPending> p) {
  SsoAnswer a;
  a.outcome = SsoOutcome::kPending;
  a.pending = std::move(p);
  return a;
}

SsoAnswer oidcLogin(const SsoRuntime& sso, const SsoRequest& req) {
  if (req.oidc == nullptr || !sso.oidc_provider) return refuse(404, "not_found");
  const auto return_to = returnTo(req.query);
  if (!return_to) return refuse(400, "bad_return_to");
  if (req.oidc->endpoints()) {
    auto grant = usableGrant(sso, req.cookie_header, req.now);
    if (grant && grant->provider == sso.oidc_provider->name) {
      auto p = std::make_unique<OidcPending>();
      p->kind = OidcPending::Kind::kLoginRefresh;
      p->secret = std::move(grant->refresh_token);
      p->subject = std::move(grant->subject);
      p->grant_expires_at = grant->expires_at;
      p->grant_id = std::move(grant->id);
      p->return_to = *return_to;
      return pendingAnswer(std::move(p));
    }
  }
  // The authorization request parameters the operator lets through (prompt, login_hint...).
  identity::FormFields extra;
  for (const std::string& name : req.oidc->client().config().extra_authorize_params) {
    if (auto v = queryValue(req.query, name)) extra.emplace_back(name, std::move(*v));
  }
  return oidcRedirect(sso, *req.oidc, *return_to, req.now, extra);
}

SsoAnswer oidcCallback(const SsoRuntime& sso, const SsoRequest& req) {
  if (req.oidc == nullptr || !sso.oidc_provider) return refuse(404, "not_found");
  auto cb = identity::parseCallback(req.query);
  if (!cb.isOk()) return oidcFailed(OidcFailure::kCallback, "callback_malformed");
  const auto cookie = identity::findCookie(req.cookie_header, sso.login->cookieName());
  if (!cookie) return oidcFailed(OidcFailure::kLoginState, "login_state_missing");
  const identity::LoginStateDecodeResult ls =
      sso.login->decode(*cookie, std::string_view(cb->state), req.now);
  if (!ls.ok()) {
    return oidcFailed(OidcFailure::kLoginState, identity::loginStateErrorName(*ls.error));
  }
  // RFC 9207: an issuer named in the answer must be the one the login went to (mix-up).
  if (!cb->iss.empty() && cb->iss != sso.oidc_provider->issuer) {
    return oidcFailed(OidcFailure::kWrongIssuer, "wrong_issuer");
  }
  if (!cb->ok()) return oidcFailed(OidcFailure::kProviderRefused, "provider_refused");
  auto p = std::make_unique<OidcPending>();
  p->kind = OidcPending::Kind::kExchange;
  p->secret = std::move(cb->code);
  p->pkce_verifier = ls.state.pkce_verifier;
  p->nonce = ls.state.nonce;
  p->return_to = ls.state.return_to;
  return pendingAnswer(std::move(p));
}

SsoAnswer acs(const SsoRuntime& sso, const SsoRequest& req) {
  if (!sso.verifier) return refuse(404, "not_found");
  std::string_view ct = req.content_type.substr(0, req.content_type.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  if (!identity::asciiIEquals(ct, "application/x-www-form-urlencoded")) {
    return loginFailed("unsupported_media_type", std::nullopt);
  }
  const auto saml_response = formValue(req.body, "SAMLResponse");
  if (!saml_response || saml_response->empty()) return loginFailed("saml_response_missing", {});
  const auto relay_state = formValue(req.body, "RelayState");
  const auto cookie = identity::findCookie(req.cookie_header, sso.login->cookieName());
  if (!cookie) return loginFailed("login_state_missing", std::nullopt);
  if (!relay_state) return loginFailed("login_state_mismatch", std::nullopt);
  const identity::LoginStateDecodeResult ls =
      sso.login->decode(*cookie, std::string_view(*relay_state), req.now);
  if (!ls.ok()) return loginFailed(identity::loginStateErrorName(*ls.error), std::nullopt);
  const identity::SamlAssertionResult r = sso.verifier->verifyResponse(
      *saml_response, ls.state.saml_request_id, req.now, sso.replay.get());
  if (!r.ok) return loginFailed(identity::samlErrorName(r.error), r.error);

  identity::Principal p;
  p.provider = sso.config.saml->idp_entity_id;
  p.issuer = sso.config.saml->idp_entity_id;
  p.subject = r.subject;
  p.method = identity::AuthMethod::kSession;
  p.groups = r.groups;
  std::sort(p.groups.begin(), p.groups.end());
  p.groups.erase(std::unique(p.groups.begin(), p.groups.end()), p.groups.end());
  auto session = sso.sessions->newSession(p, req.now);
  if (!session.isOk()) return loginFailed("session_failed", std::nullopt);
  if (r.session_not_on_or_after && *r.session_not_on_or_after < session->expires_at) {
    session->expires_at = *r.session_not_on_or_after;
    session->idle_expires_at = std::min(session->idle_expires_at, session->expires_at);
  }
  auto set = sso.sessions->setCookie(*session, req.now);
  if (!set.isOk()) return loginFailed("session_failed", std::nullopt);
  SsoAnswer a;
  a.status = 303;
  a.outcome = SsoOutcome::kSignedIn;
  a.content_type = "text/plain";
  a.body = "Signed in\n";
  a.headers = kNoStore;
  a.headers += "Location: " + ls.state.return_to + "\r\n";
  a.headers += "Set-Cookie: " + *set + "\r\n";
  a.headers += "Set-Cookie: " + crossSite(sso.login->clearCookie()) + "\r\n";
  tag(a, sso, *session, "sign_in");
  return a;
}

SsoAnswer token(const SsoRuntime& sso, const SsoRequest& req) {
  SessionLookup s = findSession(sso, req.cookie_header, req.now);
  if (!s.session) return refuse(401, "session_required");
  if (!csrfOk(req.method, req.csrf, *s.session)) return refuse(403, "csrf");
  const identity::Principal p = sso.sessions->principal(*s.session);
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(sso.config.token.ttl);
  auto t = sso.issuer->mintAccessToken(p, sso.config.token.audience, ttl, req.now,
                                       s.session->sid);
  if (!t.isOk()) return refuse(500, "token_failed");
  std::string body = "{\"access_token\":";
  json::appendString(body, *t);
  body += ",\"token_type\":\"Bearer\",\"expires_in\":";
  json::appendInt(body, ttl.count());
  body += "}\n";
  SsoAnswer a = json(200, std::move(body));
  a.outcome = SsoOutcome::kTokenIssued;
  tag(a, sso, *s.session, "token");
  return a;
}

SsoAnswer logout(const SsoRuntime& sso, const SsoRequest& req) {
  std::string revoke_at_provider;
  std::string return_to;
  if (auto v = queryValue(req.query, "return_to")) {
    if (!identity::validReturnTo(*v)) return refuse(400, "bad_return_to");
    return_to = std::move(*v);
  }
  SessionLookup s = findSession(sso, req.cookie_header, req.now);
  if (s.session) {
    if (!csrfOk(req.method, req.csrf, *s.session)) return refuse(403, "csrf");
    // A full revocation list still ends the browser's cookie below.
    (void)sso.revoked->revoke(s.session->sid, s.session->expires_at, req.now);
    // The refresh grant too: a copy of the refresh cookie must not sign in again.
    std::optional<identity::RefreshGrant> grant = usableGrant(sso, req.cookie_header, req.now);
    if (grant) {
      (void)sso.revoked->revoke(grantKey(grant->id), grant->expires_at, req.now);
      if (sso.oidc_provider && grant->provider == sso.oidc_provider->name) {
        revoke_at_provider = std::move(grant->refresh_token);
      }
    }
  }
  SsoAnswer a = json(200, "{\"signed_out\":true}\n");
  if (!return_to.empty()) {
    a.status = 303;
    a.headers += "Location: " + return_to + "\r\n";
  }
  a.headers += "Set-Cookie: " + sso.sessions->clearCookie() + "\r\n";
  if (sso.refresh) a.headers += "Set-Cookie: " + sso.refresh->clearCookie() + "\r\n";
  a.outcome = SsoOutcome::kSignedOut;
  if (s.session) tag(a, sso, *s.session, "sign_out");
  a.revoke_refresh_token = std::move(revoke_at_provider);
  return a;
}

SsoAnswer sessionInfo(const SsoRuntime& sso, const SsoRequest& req) {
  SessionLookup s = findSession(sso, req.cookie_header, req.now);
  if (!s.session) return refuse(401, "session_required");
  identity::Session& session = *s.session;
  std::string refresh;
  if (sso.sessions->needsRefresh(session, req.now)) {
    sso.sessions->refresh(session, req.now);
    if (auto set = sso.sessions->setCookie(session, req.now); set.isOk()) {
      refresh = "Set-Cookie: " + *set + "\r\n";
    }
  }
  SsoAnswer a = json(200, sessionJson(session));
  a.headers += refresh;
  return a;
}

SsoAnswer refreshSession(const SsoRuntime& sso, const SsoRequest& req) {
  if (req.oidc == nullptr || !sso.refresh) return refuse(404, "not_found");
  SessionLookup s = findSession(sso, req.cookie_header, req.now);
  if (!s.session) return refuse(401, "session_required");
  if (!csrfOk(req.method, req.csrf, *s.session)) return refuse(403, "csrf");
  auto grant = usableGrant(sso, req.cookie_header, req.now);
  if (!grant || grant->subject != s.session->subject ||
      grant->provider != s.session->provider) {
    return refuse(409, "refresh_unavailable");
  }
  auto p = std::make_unique<OidcPending>();
  p->kind = OidcPending::Kind::kRefresh;
  p->secret = std::move(grant->refresh_token);
  p->subject = std::move(grant->subject);
  p->grant_expires_at = grant->expires_at;
  p->grant_id = std::move(grant->id);
  p->old_sid = s.session->sid;
  p->old_expires_at = s.session->expires_at;
  return pendingAnswer(std::move(p));
}

}  // namespace

std::string sessionJson(const identity::Session& session) {
  std::string body = "{\"subject\":";
  json::appendString(body, session.subject);
  body += ",\"provider\":";
  json::appendString(body, session.provider);
  body += ",\"groups\":[";
  for (size_t i = 0; i < session.groups.size(); ++i) {
    if (i > 0) body += ',';
    json::appendString(body, session.groups[i]);
  }
  body += "],\"expires_at\":";
  appendTime(body, session.expires_at);
  body += ",\"idle_expires_at\":";
  appendTime(body, session.idle_expires_at);
  body += ",\"csrf_token\":";
  json::appendString(body, session.csrf);
  body += "}\n";
  return body;
}

namespace {

Status buildSaml(const config::SsoSamlConfig& saml, SsoRuntime& rt) {
  identity::SamlSpConfig sp;
  sp.entity_id = saml.entity_id;
  sp.acs_url = saml.acs_url;
  sp.idp_entity_id = saml.idp_entity_id;
  sp.idp_sso_url = saml.idp_sso_url;
  sp.clock_skew = std::chrono::duration_cast<std::chrono::seconds>(saml.clock_skew);
  sp.subject_attribute = saml.subject_attribute;
  sp.groups_attribute = saml.groups_attribute;
  sp.max_response_bytes = kSsoMaxBody;
  auto cert = readPem(saml.idp_cert_file, "sso.saml.idp_cert");
  if (!cert.isOk()) return cert.status();
  sp.idp_cert_pem = std::move(cert).value();
  if (!saml.sp_key_file.empty()) {
    auto key = readPem(saml.sp_key_file, "sso.saml.sp_key");
    if (!key.isOk()) return key.status();
    auto spc = readPem(saml.sp_cert_file, "sso.saml.sp_cert");
    if (!spc.isOk()) return spc.status();
    sp.sp_private_key_pem = std::move(key).value();
    sp.sp_cert_pem = std::move(spc).value();
    sp.sign_authn_requests = true;
  }
  auto verifier = identity::SamlVerifier::create(std::move(sp));
  if (!verifier.isOk()) return invalidArgument("sso.saml: " + verifier.status().message());
  rt.verifier = std::move(verifier).value();
  return okStatus();
}

}  // namespace

StatusOr<SsoRuntimeConstSharedPtr> buildSsoRuntime(
    const config::SsoConfig& config, const config::ProviderConfig* oidc_provider,
    std::shared_ptr<const identity::StepgateIssuer> issuer,
    std::shared_ptr<identity::SamlReplayCache> replay,
    std::shared_ptr<identity::SessionRevocationList> revoked) {
  static std::atomic<uint64_t> next_id{1};
  auto rt = std::make_shared<SsoRuntime>();
  rt->id = next_id.fetch_add(1);
  rt->config = config;
  rt->issuer = std::move(issuer);
  rt->replay = std::move(replay);
  rt->revoked = std::move(revoked);
  if (!rt->issuer) return invalidArgument("sso: needs the top-level issuer");
  if (config.saml) {
    if (Status st = buildSaml(*config.saml, *rt); !st.isOk()) return st;
  }
  auto key = identity::loadOrCreateSessionKey(config.session.key_file);
  if (!key.isOk()) return invalidArgument("sso.session: " + key.status().message());
  identity::CookieKeys keys;
  keys.current = std::move(key).value();
  identity::SessionOptions so;
  so.cookie_name = config.session.cookie_name;
  so.domain = config.session.domain;
  so.lifetime = std::chrono::duration_cast<std::chrono::seconds>(config.session.ttl);
  so.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(config.session.idle_ttl);
  auto codec = identity::SessionCodec::create(keys, so);
  if (!codec.isOk()) return invalidArgument("sso.session: " + codec.status().message());
  rt->sessions.emplace(std::move(codec).value());
  auto login = identity::LoginStateCodec::create(keys, config.session.cookie_name + "-login");
  if (!login.isOk()) return invalidArgument("sso.session: " + login.status().message());
  rt->login.emplace(std::move(login).value());
  if (config.oidc) {
    if (oidc_provider == nullptr) return invalidArgument("sso.oidc: the provider is not configured");
    rt->oidc_provider = *oidc_provider;
    if (config.oidc->refresh_ttl.count() > 0) {
      auto refresh = identity::RefreshCookieCodec::create(
          keys, config.session.cookie_name + "-refresh", config.path_prefix);
      if (!refresh.isOk()) return invalidArgument("sso.session: " + refresh.status().message());
      rt->refresh.emplace(std::move(refresh).value());
    }
  }
  return SsoRuntimeConstSharedPtr(std::move(rt));
}

bool isSsoPath(const SsoRuntime& sso, std::string_view path) noexcept {
  const std::string& p = sso.config.path_prefix;
  return path.size() >= p.size() && path.substr(0, p.size()) == p &&
         (path.size() == p.size() || path[p.size()] == '/');
}

bool ssoNeedsBody(const SsoRuntime& sso, std::string_view method, std::string_view path) noexcept {
  return method == "POST" && path.size() > sso.config.path_prefix.size() &&
         path.substr(sso.config.path_prefix.size()) == "/saml/acs";
}

SsoAnswer answerSso(const SsoRuntime& sso, const SsoRequest& req) {
  const std::string_view sub = req.path.substr(sso.config.path_prefix.size());
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  if (sub == "/login") {
    if (!get) return refuse(405, "method_not_allowed");
    return sso.oidc_provider ? oidcLogin(sso, req) : samlLogin(sso, req);
  }
  if (sub == "/saml/metadata") {
    if (!sso.verifier) return refuse(404, "not_found");
    return get ? metadata(sso) : refuse(405, "method_not_allowed");
  }
  if (sub == "/saml/login") return get ? samlLogin(sso, req) : refuse(405, "method_not_allowed");
  if (sub == "/saml/acs") return post ? acs(sso, req) : refuse(405, "method_not_allowed");
  if (sub == "/oidc/login") return get ? oidcLogin(sso, req) : refuse(405, "method_not_allowed");
  if (sub == "/oidc/callback") {
    return get ? oidcCallback(sso, req) : refuse(405, "method_not_allowed");
  }
  if (sub == "/refresh") return post ? refreshSession(sso, req) : refuse(405, "method_not_allowed");
  if (sub == "/token") return post ? token(sso, req) : refuse(405, "method_not_allowed");
  if (sub == "/logout") return post ? logout(sso, req) : refuse(405, "method_not_allowed");
  if (sub == "/session") return get ? sessionInfo(sso, req) : refuse(405, "method_not_allowed");
  return refuse(404, "not_found");
}

const identity::Session* SessionCache::find(const SsoRuntime* sso, const identity::Digest& d,
                                            SystemTime now,
                                            identity::PrincipalConstSharedPtr& principal) {
  if (sso->id != owner_) {
    map_.clear();
    lru_.clear();
    owner_ = sso->id;
    return nullptr;
  }
  auto it = map_.find(d);
  if (it == map_.end()) return nullptr;
  const identity::Session& s = it->second.session;
  if (now >= s.expires_at || now >= s.idle_expires_at) {
    lru_.erase(it->second.lru);
    map_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  principal = it->second.principal;
  return &s;
}

void SessionCache::insert(const identity::Digest& d, const identity::Session& s,
                          identity::PrincipalConstSharedPtr principal) {
  if (map_.count(d) > 0) return;
  if (map_.size() >= kCapacity) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(d);
  map_.emplace(d, Entry{s, std::move(principal), lru_.begin()});
}

SessionAuth authenticateSession(const SsoRuntime& sso, std::string_view method,
                                std::string_view cookie_header,
                                const identity::CsrfHeaders& csrf, SystemTime now,
                                SessionCache* cache) {
  SessionAuth out;
  const auto value = identity::findCookie(cookie_header, sso.sessions->cookieName());
  if (!value) return out;
  identity::Digest digest{};
  identity::PrincipalConstSharedPtr principal;
  const identity::Session* session = nullptr;
  if (cache != nullptr) {
    digest = identity::digestOf(*value);
    session = cache->find(&sso, digest, now, principal);
    if (session != nullptr && sso.revoked->isRevoked(session->sid, now)) {
      out.result = SessionAuth::Result::kRevoked;
      out.reason = "session_revoked";
      return out;
    }
  }
  SessionLookup decoded;
  if (session == nullptr) {
    decoded = findSession(sso, cookie_header, now);
    if (!decoded.session) {
      out.result = decoded.revoked ? SessionAuth::Result::kRevoked : SessionAuth::Result::kInvalid;
      out.reason = decoded.reason;
      return out;
    }
    session = &*decoded.session;
    principal = std::make_shared<const identity::Principal>(sso.sessions->principal(*session));
    if (cache != nullptr) cache->insert(digest, *session, principal);
  }
  identity::CsrfOptions opts;
  opts.allow_same_origin = false;
  const identity::CsrfResult c = identity::checkCsrf(method, csrf, *session, opts);
  if (c != identity::CsrfResult::kOk) {
    out.result = SessionAuth::Result::kCsrf;
    out.reason = identity::csrfResultName(c);
    return out;
  }
  out.result = SessionAuth::Result::kOk;
  if (sso.sessions->needsRefresh(*session, now)) {
    identity::Session renewed = *session;
    sso.sessions->refresh(renewed, now);
    if (auto set = sso.sessions->setCookie(renewed, now); set.isOk()) {
      out.set_cookie = "Set-Cookie: " + *set + "\r\n";
    }
  }
  out.principal = std::move(principal);
  return out;
}

std::string stripSsoCookies(const SsoRuntime& sso, std::string_view cookie_header) {
  std::string out;
  std::string_view rest = cookie_header;
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (part.empty()) continue;
    const std::string_view name = part.substr(0, part.find('='));
    if (name == sso.sessions->cookieName() || name == sso.login->cookieName() ||
        (sso.refresh && name == sso.refresh->cookieName())) {
      continue;
    }
    if (!out.empty()) out += "; ";
    out.append(part);
  }
  return out;
}

std::optional<std::string> formValue(std::string_view form, std::string_view name) {
  return queryValue(form, name);
}

OidcPending::~OidcPending() {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  if (!pkce_verifier.empty()) OPENSSL_cleanse(pkce_verifier.data(), pkce_verifier.size());
}


namespace {

// What a failed token endpoint call becomes.
SsoAnswer tokenFailure(const Status& st) {
  const std::string_view code = identity::loginErrorCode(st);
  if (code.rfind("provider_", 0) == 0) {
    return oidcFailed(OidcFailure::kProviderRefused, "provider_refused");
  }
  if (code == "token_endpoint_unavailable" || code == "login_unavailable" ||
      code == "token_response_too_large") {
    return oidcFailed(OidcFailure::kUnavailable, "login_unavailable");
  }
  return oidcFailed(OidcFailure::kTokenResponse, "token_response_invalid");
}

}  // namespace

SsoAnswer completeOidc(const SsoRuntime& sso, const identity::OidcLoginService& service,
                       const OidcPending& pending,
                       const StatusOr<identity::TokenResponse>& tokens,
                       const identity::KeySet* keys, SystemTime now) {
  using Kind = OidcPending::Kind;
  const config::ProviderConfig& provider = *sso.oidc_provider;
  // A silent renewal that fails for any reason falls back to the provider's login page.
  auto fallback = [&](std::string_view why) {
    log::debug("identity", "session renewal at the provider failed; signing in again",
               {{"reason", why}});
    SsoAnswer a = oidcRedirect(sso, service, pending.return_to, now);
    if (sso.refresh) a.headers += "Set-Cookie: " + sso.refresh->clearCookie() + "\r\n";
    return a;
  };
  auto refreshFailed = [&](std::string_view why) {
    log::debug("identity", "session renewal at the provider failed", {{"reason", why}});
    SsoAnswer a = refuse(401, "refresh_failed");
    if (sso.refresh) a.headers += "Set-Cookie: " + sso.refresh->clearCookie() + "\r\n";
    return a;
  };
  if (!tokens.isOk()) {
    const std::string_view code = identity::loginErrorCode(tokens.status());
    if (pending.kind == Kind::kLoginRefresh) return fallback(code);
    if (pending.kind == Kind::kRefresh) {
      // The provider unreachable is not a verdict on the user: keep the refresh cookie.
      if (tokens.status().code() == StatusCode::kUnavailable &&
          code.rfind("provider_", 0) != 0) {
        return refuse(503, "login_unavailable");
      }
      return refreshFailed(code);
    }
    log::debug("identity", "OIDC code exchange failed", {{"reason", code}});
    return tokenFailure(tokens.status());
  }
  const identity::TokenResponse& t = *tokens;
  if (t.id_token.empty()) {
    // Refreshes without an ID token cannot re-read who the user is: sign in again.
    if (pending.kind == Kind::kLoginRefresh) return fallback("id_token_missing");
    if (pending.kind == Kind::kRefresh) return refreshFailed("id_token_missing");
    return oidcFailed(OidcFailure::kTokenResponse, "token_response_invalid");
  }
  if (keys == nullptr) {
    if (pending.kind == Kind::kLoginRefresh) return fallback("keys_unavailable");
    return oidcFailed(OidcFailure::kUnavailable, "keys_unavailable");
  }
  identity::IdTokenExpectations expect;
  expect.client_id = service.client().config().client_id;
  if (pending.kind == Kind::kExchange) {
    expect.expected_nonce = pending.nonce;
  } else {
    expect.expected_subject = pending.subject;
  }
  expect.access_token = std::string_view(t.access_token);
  auto principal = identity::verifyIdToken(t.id_token, provider, *keys, expect, now);
  if (!principal.isOk()) {
    const std::string_view code = identity::loginErrorCode(principal.status());
    if (pending.kind == Kind::kLoginRefresh) return fallback(code);
    if (pending.kind == Kind::kRefresh) return refreshFailed(code);
    log::debug("identity", "ID token refused", {{"reason", code}});
    return oidcFailed(code == "keys_unavailable" ? OidcFailure::kUnavailable
                                                 : OidcFailure::kIdToken,
                      code == "keys_unavailable" ? "keys_unavailable" : "id_token_invalid");
  }
  identity::Principal p = std::move(principal).value();
  p.method = identity::AuthMethod::kSession;
  std::sort(p.groups.begin(), p.groups.end());
  p.groups.erase(std::unique(p.groups.begin(), p.groups.end()), p.groups.end());
  auto session = sso.sessions->newSession(p, now);
  if (!session.isOk()) return oidcFailed(OidcFailure::kSession, "session_failed");
  auto set = sso.sessions->setCookie(*session, now);
  if (!set.isOk()) return oidcFailed(OidcFailure::kSession, "session_failed");

  std::string cookies = "Set-Cookie: " + *set + "\r\n";
  if (sso.refresh) {
    identity::RefreshGrant grant;
    grant.provider = provider.name;
    grant.subject = session->subject;
    if (pending.kind == Kind::kExchange) {
      grant.id = identity::RefreshCookieCodec::newGrantId();
      grant.refresh_token = t.refresh_token;
      grant.expires_at = now + std::chrono::duration_cast<std::chrono::seconds>(
                                   sso.config.oidc->refresh_ttl);
    } else {
      // A refresh keeps the grant's end; the provider may rotate the token (RFC 6749 6).
      grant.id = pending.grant_id;
      grant.refresh_token = t.refresh_token.empty() ? pending.secret : t.refresh_token;
      grant.expires_at = pending.grant_expires_at;
    }
    auto rc = sso.refresh->setCookie(grant, now);  // refused without a token to keep
    OPENSSL_cleanse(grant.refresh_token.data(), grant.refresh_token.size());
    cookies += "Set-Cookie: " + (rc.isOk() ? *rc : sso.refresh->clearCookie()) + "\r\n";
  }
  if (pending.kind == Kind::kRefresh) {
    // The replaced session ends now; the browser holds the new one.
    (void)sso.revoked->revoke(pending.old_sid, pending.old_expires_at, now);
    SsoAnswer a = json(200, sessionJson(*session));
    a.outcome = SsoOutcome::kRefreshed;
    a.headers += cookies;
    tag(a, sso, *session, "refresh");
    return a;
  }
  SsoAnswer a;
  a.status = 303;
  a.outcome = pending.kind == Kind::kExchange ? SsoOutcome::kSignedIn : SsoOutcome::kRefreshed;
  a.content_type = "text/plain";
  a.body = "Signed in\n";
  a.headers = kNoStore;
  a.headers += "Location: " + pending.return_to + "\r\n";
  a.headers += cookies;
  if (pending.kind == Kind::kExchange) {
    a.headers += "Set-Cookie: " + sso.login->clearCookie() + "\r\n";
  }
  tag(a, sso, *session, pending.kind == Kind::kExchange ? "sign_in" : "refresh");
  return a;
}

std::string loginRedirect(const SsoRuntime& sso, std::string_view method,
                          std::string_view path, std::string_view query,
                          std::string_view sec_fetch_mode, std::string_view accept) {
  if (!sso.config.login_redirect || (method != "GET" && method != "HEAD")) return {};
  const bool navigation = sec_fetch_mode.empty()
                              ? accept.find("text/html") != std::string_view::npos
                              : identity::asciiIEquals(sec_fetch_mode, "navigate");
  if (!navigation) return {};
  std::string target(path);
  if (!query.empty()) {
    target += '?';
    target.append(query);
  }
  std::string location = sso.config.path_prefix + "/login";
  if (identity::validReturnTo(target)) {
    location += '?';
    location += identity::encodeForm({{"return_to", target}});
  }
  return location;
}

}  // namespace stepgate::proxy
