// The browser sign-in endpoints (proxy/sso_endpoints.h) over a runtime built by
// buildSsoRuntime() from files in a temporary directory: the login redirect decision, the OIDC
// login, callback and refresh endpoints, completeOidc() with token responses built here and ID
// tokens signed with a fresh P-256 key, and session-cookie authentication of proxied requests.
// The OIDC client is an OidcLoginService over a scripted discovery document (no network).

#include "proxy/sso_endpoints.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/json.h"
#include "identity/http_fetch.h"
#include "identity/jws_sign.h"
#include "tests/unit/identity/fake_fetcher.h"

namespace stepgate::proxy {
namespace {

using namespace std::chrono_literals;
using identity::TokenResponse;

const SystemTime kNow = SystemTime(std::chrono::seconds(1'900'000'000));
constexpr char kPrefix[] = "/.stepgate";
constexpr char kIdpIssuer[] = "https://idp.example.com";
constexpr char kClientId[] = "stepgate-web";
constexpr char kRedirectUri[] = "https://stepgate.example.com/.stepgate/oidc/callback";
constexpr char kSessionCookie[] = "__Host-stepgate-session";
constexpr char kLoginCookie[] = "__Host-stepgate-session-login";
constexpr char kRefreshCookie[] = "__Secure-stepgate-session-refresh";

int64_t unixSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

using identity::testing::TempDir;

// Serves the provider's discovery document; the token endpoint is never called here
// (completeOidc() is handed the token responses directly), and POSTs are left unscripted.
class DiscoveryOnly : public identity::testing::ScriptedFetcher {
 public:
  DiscoveryOnly() {
    respondToGets([](const std::string& url) -> StatusOr<identity::HttpResponse> {
      if (url != std::string(kIdpIssuer) + "/.well-known/openid-configuration") {
        return unavailable("unexpected url");
      }
      identity::HttpResponse r;
      r.status = 200;
      r.body = R"({"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks",
        "authorization_endpoint":"https://idp.example.com/authorize",
        "token_endpoint":"https://idp.example.com/token"})";
      return r;
    });
  }
};

// Every "Name: value" header line of `headers` with that name (case-sensitive, as written).
std::vector<std::string> headerValues(const std::string& headers, std::string_view name) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t end = headers.find("\r\n", pos);
    if (end == std::string::npos) end = headers.size();
    const std::string_view line(headers.data() + pos, end - pos);
    if (line.size() > name.size() + 2 && line.substr(0, name.size()) == name &&
        line.substr(name.size(), 2) == ": ") {
      out.emplace_back(line.substr(name.size() + 2));
    }
    pos = end + 2;
  }
  return out;
}

std::string location(const SsoAnswer& a) {
  auto v = headerValues(a.headers, "Location");
  return v.size() == 1 ? v[0] : std::string();
}

// The Set-Cookie value for cookie `name`, or "" when there is none.
std::string setCookieFor(const SsoAnswer& a, std::string_view name) {
  for (const std::string& v : headerValues(a.headers, "Set-Cookie")) {
    if (v.size() > name.size() && v.substr(0, name.size()) == name && v[name.size()] == '=') {
      return v;
    }
  }
  return {};
}

// The cookie value of a Set-Cookie header value.
std::string valueOf(const std::string& set_cookie) {
  const size_t eq = set_cookie.find('=');
  const size_t semi = set_cookie.find(';');
  return set_cookie.substr(eq + 1, semi - eq - 1);
}

// The query of a URL, without '?'.
std::string queryOf(const std::string& url) {
  const size_t q = url.find('?');
  return q == std::string::npos ? std::string() : url.substr(q + 1);
}

identity::EvpPkeyPtr newEcKey() {
  return identity::EvpPkeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free);
}

class SsoEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    idp_key_ = newEcKey();
    ASSERT_NE(idp_key_, nullptr);
    identity::Jwk jwk;
    jwk.kid = "idp-1";
    jwk.kty = "EC";
    jwk.crv = "P-256";
    jwk.public_key = idp_key_;
    keys_.keys.push_back(jwk);

    identity::StepgateIssuerOptions io;
    io.issuer_url = "https://stepgate.example.com";
    io.key_file = dir_.path("issuer.pem");
    auto issuer = identity::StepgateIssuer::open(io);
    ASSERT_TRUE(issuer.isOk()) << issuer.status().toString();
    issuer_ = std::shared_ptr<const identity::StepgateIssuer>(std::move(issuer).value());

    provider_.name = "idp";
    provider_.issuer = kIdpIssuer;
    provider_.algorithms = {"ES256"};
    provider_.claims.groups = "groups";

    identity::OidcLoginConfig lc;
    lc.client_id = kClientId;
    lc.redirect_uri = kRedirectUri;
    lc.client_secret_file = dir_.write("client-secret", "s3cr3t\n");
    auto started = identity::OidcLoginService::create(kIdpIssuer, lc, fetcher_, time_, 1);
    ASSERT_TRUE(started.isOk()) << started.status().toString();
    service_ = std::move(started).value();
    service_->start();
    auto idle = identity::OidcLoginService::create(kIdpIssuer, lc, fetcher_, time_, 1);
    ASSERT_TRUE(idle.isOk());
    undiscovered_ = std::move(idle).value();  // never started: no endpoints
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (service_->endpoints() == nullptr && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    ASSERT_NE(service_->endpoints(), nullptr);

    sso_ = build(config());
    ASSERT_NE(sso_, nullptr);
  }

  config::SsoConfig config(bool oidc = true, bool saml = false) const {
    config::SsoConfig c;
    c.path_prefix = kPrefix;
    c.session.key_file = dir_.path("session.key");
    if (oidc) {
      config::SsoOidcConfig o;
      o.provider = "idp";
      o.client_id = kClientId;
      o.redirect_uri = kRedirectUri;
      o.refresh_ttl = 24h;
      c.oidc = o;
    }
    if (saml) {
      config::SsoSamlConfig s;
      s.entity_id = "https://stepgate.example.com/.stepgate/saml/metadata";
      s.acs_url = "https://stepgate.example.com/.stepgate/saml/acs";
      s.idp_entity_id = "https://idp.example.com/saml";
      s.idp_cert_file = std::string(STEPGATE_SOURCE_DIR) + "/tests/fixtures/saml/idp-cert.pem";
      s.idp_sso_url = "https://idp.example.com/saml/sso";
      c.saml = s;
    }
    c.token.audience = "https://stepgate.example.com";
    return c;
  }

  SsoRuntimeConstSharedPtr build(const config::SsoConfig& c) {
    auto rt = buildSsoRuntime(c, c.oidc ? &provider_ : nullptr, issuer_, replay_, revoked_);
    EXPECT_TRUE(rt.isOk()) << rt.status().toString();
    return rt.isOk() ? *rt : nullptr;
  }

  // A signed ID token for `sub` with `nonce` (none when empty) and `extra` claims.
  std::string idToken(const std::string& sub, const std::string& nonce,
                      const std::string& extra = "") {
    std::string c = "{\"iss\":\"https://idp.example.com\",\"sub\":\"" + sub +
                    "\",\"aud\":\"stepgate-web\",\"iat\":" + std::to_string(unixSeconds(kNow) - 5) +
                    ",\"exp\":" + std::to_string(unixSeconds(kNow) + 300) +
                    ",\"name\":\"Alice Example\",\"groups\":[\"payments\",\"ops\",\"ops\"]";
    if (!nonce.empty()) c += ",\"nonce\":\"" + nonce + "\"";
    if (!extra.empty()) c += "," + extra;
    c += "}";
    auto t = identity::signJws(idp_key_.get(), identity::JwsAlg::kES256,
                               R"({"alg":"ES256","kid":"idp-1","typ":"JWT"})", c);
    EXPECT_TRUE(t.isOk()) << t.status().toString();
    return t.isOk() ? *t : std::string();
  }

  StatusOr<TokenResponse> tokens(std::string id_token, std::string refresh_token = "rt-1") {
    TokenResponse t;
    t.access_token = "provider-access-token";
    t.token_type = "Bearer";
    t.id_token = std::move(id_token);
    t.refresh_token = std::move(refresh_token);
    t.expires_in = std::chrono::seconds(300);
    return t;
  }

  SsoAnswer get(std::string_view path, std::string_view query = {},
                std::string_view cookies = {}, const identity::OidcLoginService* oidc = nullptr) {
    return answer("GET", path, query, cookies, {}, oidc);
  }
  SsoAnswer answer(std::string_view method, std::string_view path, std::string_view query,
                   std::string_view cookies, identity::CsrfHeaders csrf,
                   const identity::OidcLoginService* oidc, SystemTime now = kNow) {
    SsoRequest r;
    r.method = method;
    r.path = path;
    r.query = query;
    r.cookie_header = cookies;
    r.csrf = csrf;
    r.now = now;
    r.oidc = oidc;
    return answerSso(*sso_, r);
  }

  // A login-state cookie ("name=value") and its state, as {prefix}/login would have set.
  std::pair<std::string, identity::LoginState> loginCookie(std::string_view return_to = "/ui") {
    auto st = sso_->login->begin(return_to, {}, kNow);
    EXPECT_TRUE(st.isOk());
    auto set = sso_->login->setCookie(*st, kNow);
    EXPECT_TRUE(set.isOk());
    return {std::string(kLoginCookie) + "=" + valueOf(*set), *st};
  }

  // A signed-in session and its cookie ("name=value").
  std::pair<std::string, identity::Session> session(const std::string& subject = "alice",
                                                    const std::string& provider = "idp") {
    identity::Principal p;
    p.provider = provider;
    p.subject = subject;
    p.method = identity::AuthMethod::kSession;
    auto s = sso_->sessions->newSession(p, kNow);
    EXPECT_TRUE(s.isOk());
    auto set = sso_->sessions->setCookie(*s, kNow);
    EXPECT_TRUE(set.isOk());
    return {std::string(kSessionCookie) + "=" + valueOf(*set), *s};
  }

  // A refresh cookie ("name=value") for the grant.
  std::string refreshCookie(const std::string& subject = "alice",
                            const std::string& provider = "idp",
                            const std::string& token = "rt-1") {
    identity::RefreshGrant g;
    g.id = "grant-1";
    g.provider = provider;
    g.subject = subject;
    g.refresh_token = token;
    g.expires_at = kNow + 24h;
    auto set = sso_->refresh->setCookie(g, kNow);
    EXPECT_TRUE(set.isOk());
    return std::string(kRefreshCookie) + "=" + valueOf(*set);
  }

  static identity::CsrfHeaders csrfToken(const std::string& token) {
    identity::CsrfHeaders h;
    h.csrf_token = std::string_view(token);
    return h;
  }

  TempDir dir_{"sso-endpoints"};
  DiscoveryOnly fetcher_;
  RealTimeSource time_;
  identity::EvpPkeyPtr idp_key_;
  identity::KeySet keys_;
  config::ProviderConfig provider_;
  std::shared_ptr<const identity::StepgateIssuer> issuer_;
  std::shared_ptr<identity::SamlReplayCache> replay_ =
      std::make_shared<identity::SamlReplayCache>();
  std::shared_ptr<identity::SessionRevocationList> revoked_ =
      std::make_shared<identity::SessionRevocationList>();
  identity::OidcLoginServicePtr service_;
  identity::OidcLoginServicePtr undiscovered_;
  SsoRuntimeConstSharedPtr sso_;
};

// ---- runtime -------------------------------------------------------------------------------

TEST_F(SsoEndpointsTest, BuildCreatesTheKeyFileAndTheCodecs) {
  EXPECT_TRUE(std::filesystem::exists(dir_.path("session.key")));
  EXPECT_EQ(sso_->sessions->cookieName(), kSessionCookie);
  EXPECT_EQ(sso_->login->cookieName(), kLoginCookie);
  ASSERT_TRUE(sso_->refresh.has_value());
  EXPECT_EQ(sso_->refresh->cookieName(), kRefreshCookie);
  EXPECT_EQ(sso_->verifier, nullptr);  // no saml
  // A second runtime over the same key file reads the same key: cookies survive a reload.
  auto again = build(config());
  ASSERT_NE(again, nullptr);
  const std::string cookie = session().first;
  auto d = again->sessions->decode(cookie.substr(cookie.find('=') + 1), kNow);
  EXPECT_TRUE(d.ok());
  // Without refresh_ttl no refresh cookie is kept.
  config::SsoConfig c = config();
  c.oidc->refresh_ttl = 0s;
  auto no_refresh = build(c);
  ASSERT_NE(no_refresh, nullptr);
  EXPECT_FALSE(no_refresh->refresh.has_value());
  // sso.oidc without its provider, or without an issuer, is refused.
  EXPECT_FALSE(buildSsoRuntime(config(), nullptr, issuer_, replay_, revoked_).isOk());
  EXPECT_FALSE(buildSsoRuntime(config(), &provider_, nullptr, replay_, revoked_).isOk());
}

// ---- loginRedirect -------------------------------------------------------------------------

TEST_F(SsoEndpointsTest, LoginRedirectForBrowserNavigationsOnly) {
  const std::string expected = "/.stepgate/login?return_to=%2Fapi%2Fruns%3Fa%3D1%26b%3D2";
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "a=1&b=2", "navigate", "*/*"), expected);
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "a=1&b=2", "Navigate", ""), expected);
  EXPECT_EQ(loginRedirect(*sso_, "HEAD", "/api/runs", "a=1&b=2", "navigate", ""), expected);
  // Fetches and XHRs get the 401, even when they accept HTML.
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "", "cors", "text/html"), "");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "", "no-cors", "text/html"), "");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "", "same-origin", "text/html"), "");
  // Browsers without Sec-Fetch-*: Accept decides.
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "", "",
                          "text/html,application/xhtml+xml,*/*;q=0.8"),
            "/.stepgate/login?return_to=%2Fapi%2Fruns");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "", "", "application/json"), "");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/api/runs", "", "", ""), "");
  // Never for other methods.
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"}) {
    EXPECT_EQ(loginRedirect(*sso_, m, "/api/runs", "", "navigate", "text/html"), "") << m;
  }
  // Switched off.
  config::SsoConfig off = config();
  off.login_redirect = false;
  auto rt = build(off);
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(loginRedirect(*rt, "GET", "/api/runs", "", "navigate", "text/html"), "");
}

TEST_F(SsoEndpointsTest, LoginRedirectKeepsOnlySafeTargets) {
  // The return path survives a round trip through the login endpoint's query parsing.
  const std::string loc =
      loginRedirect(*sso_, "GET", "/ui/runs/r-1", "tab=steps&q=a+b%20c", "navigate", "");
  ASSERT_EQ(loc.rfind("/.stepgate/login?", 0), 0u) << loc;
  auto rt = formValue(queryOf(loc), "return_to");
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(*rt, "/ui/runs/r-1?tab=steps&q=a+b%20c");
  EXPECT_TRUE(identity::validReturnTo(*rt));
  // Targets that would be an open redirect give the bare login URL.
  EXPECT_EQ(loginRedirect(*sso_, "GET", "//x", "", "navigate", ""), "/.stepgate/login");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "//evil.example.com/a", "b=1", "navigate", ""),
            "/.stepgate/login");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/\\evil.example.com", "", "navigate", ""),
            "/.stepgate/login");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/a", "next=%2F%2Fevil", "navigate", ""),
            "/.stepgate/login");
  EXPECT_EQ(loginRedirect(*sso_, "GET", "/" + std::string(2100, 'a'), "", "navigate", ""),
            "/.stepgate/login");
}

// ---- answerSso: login ----------------------------------------------------------------------

TEST_F(SsoEndpointsTest, LoginWithoutDiscoveredEndpointsIsUnavailable) {
  ASSERT_EQ(undiscovered_->endpoints(), nullptr);
  for (const char* path : {"/.stepgate/login", "/.stepgate/oidc/login"}) {
    SsoAnswer a = get(path, "return_to=%2Fui", "", undiscovered_.get());
    EXPECT_EQ(a.status, 503) << path;
    EXPECT_EQ(a.error, "login_unavailable");
    EXPECT_TRUE(headerValues(a.headers, "Set-Cookie").empty());
    EXPECT_TRUE(location(a).empty());
  }
  // Even with a refresh cookie: no silent renewal without the token endpoint.
  SsoAnswer a = get("/.stepgate/login", "", refreshCookie(), undiscovered_.get());
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.outcome, SsoOutcome::kRefused);
  EXPECT_EQ(a.pending, nullptr);
}

TEST_F(SsoEndpointsTest, LoginRedirectsToTheProviderWithALoginStateCookie) {
  SsoAnswer a = get("/.stepgate/login", "return_to=%2Fui%2Fruns%3Fx%3D1", "", service_.get());
  ASSERT_EQ(a.status, 302) << a.error;
  EXPECT_EQ(a.outcome, SsoOutcome::kServed);
  const std::string loc = location(a);
  ASSERT_EQ(loc.rfind("https://idp.example.com/authorize?response_type=code&client_id=stepgate-web&",
                      0),
            0u)
      << loc;
  const std::string q = queryOf(loc);
  EXPECT_EQ(formValue(q, "redirect_uri"), std::optional<std::string>(kRedirectUri));
  EXPECT_EQ(formValue(q, "code_challenge_method"), std::optional<std::string>("S256"));
  auto state = formValue(q, "state");
  auto nonce = formValue(q, "nonce");
  auto challenge = formValue(q, "code_challenge");
  ASSERT_TRUE(state && nonce && challenge);
  const std::string set = setCookieFor(a, kLoginCookie);
  ASSERT_FALSE(set.empty()) << a.headers;
  EXPECT_NE(set.find("; Path=/; Max-Age=600; Secure; HttpOnly; SameSite=Lax"), std::string::npos)
      << set;
  // The cookie holds what the callback needs, bound to the state in the URL.
  auto ls = sso_->login->decode(valueOf(set), std::string_view(*state), kNow + 1min);
  ASSERT_TRUE(ls.ok()) << identity::loginStateErrorName(*ls.error);
  EXPECT_EQ(ls.state.nonce, *nonce);
  EXPECT_EQ(ls.state.return_to, "/ui/runs?x=1");
  EXPECT_EQ(identity::pkceChallenge(ls.state.pkce_verifier), *challenge);

  // Default return path; refused return paths; methods.
  SsoAnswer def = get("/.stepgate/login", "", "", service_.get());
  ASSERT_EQ(def.status, 302);
  auto ls2 = sso_->login->decode(valueOf(setCookieFor(def, kLoginCookie)), std::nullopt, kNow);
  ASSERT_TRUE(ls2.ok());
  EXPECT_EQ(ls2.state.return_to, "/");
  for (const char* bad : {"return_to=%2F%2Fevil.example.com", "return_to=https%3A%2F%2Fevil",
                          "return_to=%2F%5Cevil", "return_to=%2Fa%252F", "return_to=ui",
                          "return_to=%zz", "x=1&return_to=%2", "return_to"}) {
    SsoAnswer r = get("/.stepgate/login", bad, "", service_.get());
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.error, "bad_return_to") << bad;
  }
  EXPECT_EQ(answer("POST", "/.stepgate/login", "", "", {}, service_.get()).status, 405);
  // Without an OIDC client (none passed): not found.
  EXPECT_EQ(get("/.stepgate/oidc/login", "", "", nullptr).status, 404);
}

TEST_F(SsoEndpointsTest, LoginWithARefreshCookieRenewsSilently) {
  SsoAnswer a = get("/.stepgate/login", "return_to=%2Fui", refreshCookie("alice", "idp", "rt-7"),
                    service_.get());
  ASSERT_EQ(a.outcome, SsoOutcome::kPending) << a.status << " " << a.error;
  ASSERT_NE(a.pending, nullptr);
  EXPECT_EQ(a.pending->kind, OidcPending::Kind::kLoginRefresh);
  EXPECT_EQ(a.pending->secret, "rt-7");
  EXPECT_EQ(a.pending->subject, "alice");
  EXPECT_EQ(a.pending->return_to, "/ui");
  EXPECT_EQ(a.pending->grant_expires_at, kNow + 24h);
  // A grant of another provider, or an expired one, is not used: a normal login.
  SsoAnswer other = get("/.stepgate/login", "", refreshCookie("alice", "other-idp"),
                        service_.get());
  EXPECT_EQ(other.status, 302);
  EXPECT_EQ(other.pending, nullptr);
  SsoRequest late;
  late.method = "GET";
  late.path = "/.stepgate/login";
  const std::string rc = refreshCookie();
  late.cookie_header = rc;
  late.now = kNow + 25h;
  late.oidc = service_.get();
  SsoAnswer expired = answerSso(*sso_, late);
  EXPECT_EQ(expired.status, 302);
  EXPECT_EQ(expired.pending, nullptr);
}

TEST_F(SsoEndpointsTest, SamlEndpointsWithoutSamlAreNotFound) {
  EXPECT_EQ(get("/.stepgate/saml/metadata").status, 404);
  EXPECT_EQ(get("/.stepgate/saml/metadata").error, "not_found");
  EXPECT_EQ(get("/.stepgate/saml/login").status, 404);
  EXPECT_EQ(answer("POST", "/.stepgate/saml/acs", "", "", {}, nullptr).status, 404);
  EXPECT_EQ(get("/.stepgate/nothing-here").status, 404);
  EXPECT_FALSE(ssoNeedsBody(*sso_, "GET", "/.stepgate/saml/acs"));
  EXPECT_TRUE(ssoNeedsBody(*sso_, "POST", "/.stepgate/saml/acs"));
  EXPECT_TRUE(isSsoPath(*sso_, "/.stepgate"));
  EXPECT_TRUE(isSsoPath(*sso_, "/.stepgate/login"));
  EXPECT_FALSE(isSsoPath(*sso_, "/.stepgatex/login"));
  EXPECT_FALSE(isSsoPath(*sso_, "/api/.stepgate/login"));
}

TEST_F(SsoEndpointsTest, SamlAlongsideOidc) {
#if !defined(STEPGATE_HAVE_XMLSEC)
  GTEST_SKIP() << "built without libxmlsec1";
#else
  // SAML only: {prefix}/login goes to the IdP; the OIDC endpoints are not there.
  sso_ = build(config(/*oidc=*/false, /*saml=*/true));
  ASSERT_NE(sso_, nullptr);
  SsoAnswer md = get("/.stepgate/saml/metadata");
  ASSERT_EQ(md.status, 200);
  EXPECT_EQ(md.content_type, "application/samlmetadata+xml");
  EXPECT_NE(md.body.find("https://stepgate.example.com/.stepgate/saml/acs"), std::string::npos);
  SsoAnswer login = get("/.stepgate/login", "return_to=%2Fui");
  ASSERT_EQ(login.status, 302) << login.error;
  EXPECT_EQ(location(login).rfind("https://idp.example.com/saml/sso?SAMLRequest=", 0), 0u);
  const std::string set = setCookieFor(login, kLoginCookie);
  EXPECT_NE(set.find("SameSite=None"), std::string::npos) << set;  // the ACS POST is cross-site
  EXPECT_EQ(get("/.stepgate/oidc/login", "", "", service_.get()).status, 404);
  EXPECT_EQ(get("/.stepgate/oidc/callback", "code=c&state=s", "", service_.get()).status, 404);
  EXPECT_FALSE(sso_->refresh.has_value());

  // Both: {prefix}/login is OIDC, {prefix}/saml/login SAML.
  sso_ = build(config(/*oidc=*/true, /*saml=*/true));
  ASSERT_NE(sso_, nullptr);
  EXPECT_EQ(location(get("/.stepgate/login", "", "", service_.get()))
                .rfind("https://idp.example.com/authorize?", 0),
            0u);
  EXPECT_EQ(location(get("/.stepgate/saml/login", "", "", service_.get()))
                .rfind("https://idp.example.com/saml/sso?", 0),
            0u);
#endif
}

// ---- answerSso: callback -------------------------------------------------------------------

TEST_F(SsoEndpointsTest, CallbackRefusals) {
  auto [cookie, st] = loginCookie("/ui");
  struct Case {
    std::string query;
    std::string cookies;
    int status;
    std::string_view error;
    OidcFailure failure;
  } cases[] = {
      {"code=c1&state=" + st.state, "", 403, "login_state_missing", OidcFailure::kLoginState},
      {"code=c1&state=" + st.state, "other=1", 403, "login_state_missing",
       OidcFailure::kLoginState},
      {"code=c1&state=another-state", cookie, 403, "login_state_mismatch",
       OidcFailure::kLoginState},
      {"code=c1&state=" + st.state, std::string(kLoginCookie) + "=garbage", 403,
       "login_state_malformed", OidcFailure::kLoginState},
      {"code=c1&state=" + st.state + "&iss=https%3A%2F%2Fevil.example.com", cookie, 403,
       "wrong_issuer", OidcFailure::kWrongIssuer},
      {"error=access_denied&error_description=no&state=" + st.state, cookie, 403,
       "provider_refused", OidcFailure::kProviderRefused},
      {"code=c1&state=" + st.state + "&state=" + st.state, cookie, 403, "callback_malformed",
       OidcFailure::kCallback},
      {"code=c1", cookie, 403, "callback_malformed", OidcFailure::kCallback},
      {"code=c1&error=x&state=" + st.state, cookie, 403, "callback_malformed",
       OidcFailure::kCallback},
  };
  for (const Case& k : cases) {
    SsoAnswer a = get("/.stepgate/oidc/callback", k.query, k.cookies, service_.get());
    EXPECT_EQ(a.status, k.status) << k.query;
    EXPECT_EQ(a.error, k.error) << k.query;
    EXPECT_EQ(a.outcome, SsoOutcome::kLoginFailed) << k.query;
    ASSERT_TRUE(a.oidc_failure.has_value()) << k.query;
    EXPECT_EQ(*a.oidc_failure, k.failure) << k.query;
    EXPECT_EQ(a.pending, nullptr);
    EXPECT_TRUE(setCookieFor(a, kSessionCookie).empty());
  }
  // An expired login state.
  SsoAnswer late = answer("GET", "/.stepgate/oidc/callback", "code=c1&state=" + st.state, cookie,
                          {}, service_.get(), kNow + 11min);
  EXPECT_EQ(late.error, "login_state_expired");
  EXPECT_EQ(answer("POST", "/.stepgate/oidc/callback", "", "", {}, service_.get()).status, 405);
}

TEST_F(SsoEndpointsTest, CallbackHandsTheCodeToTheExchange) {
  auto [cookie, st] = loginCookie("/ui/runs");
  const std::string query = "code=the-code&state=" + st.state +
                            "&iss=https%3A%2F%2Fidp.example.com&session_state=x";
  SsoAnswer a = get("/.stepgate/oidc/callback", query, "a=1; " + cookie, service_.get());
  ASSERT_EQ(a.outcome, SsoOutcome::kPending) << a.status << " " << a.error;
  ASSERT_NE(a.pending, nullptr);
  EXPECT_EQ(a.pending->kind, OidcPending::Kind::kExchange);
  EXPECT_EQ(a.pending->secret, "the-code");
  EXPECT_EQ(a.pending->pkce_verifier, st.pkce_verifier);
  EXPECT_EQ(a.pending->nonce, st.nonce);
  EXPECT_EQ(a.pending->return_to, "/ui/runs");
  // Without iss (RFC 9207 is optional for the provider).
  SsoAnswer b = get("/.stepgate/oidc/callback", "code=c&state=" + st.state, cookie,
                    service_.get());
  EXPECT_EQ(b.outcome, SsoOutcome::kPending);
}

// ---- answerSso: refresh, session, token, logout ---------------------------------------------

TEST_F(SsoEndpointsTest, RefreshEndpointRefusals) {
  auto [cookie, s] = session();
  const std::string csrf = s.csrf;
  SsoAnswer none = answer("POST", "/.stepgate/refresh", "", refreshCookie(), csrfToken(csrf),
                          service_.get());
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.error, "session_required");
  SsoAnswer no_csrf = answer("POST", "/.stepgate/refresh", "", cookie + "; " + refreshCookie(),
                             {}, service_.get());
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_EQ(no_csrf.error, "csrf");
  const std::string wrong = std::string(43, 'x');
  EXPECT_EQ(answer("POST", "/.stepgate/refresh", "", cookie + "; " + refreshCookie(),
                   csrfToken(wrong), service_.get())
                .status,
            403);
  SsoAnswer no_refresh =
      answer("POST", "/.stepgate/refresh", "", cookie, csrfToken(csrf), service_.get());
  EXPECT_EQ(no_refresh.status, 409);
  EXPECT_EQ(no_refresh.error, "refresh_unavailable");
  // A grant for someone else, or from another provider, is not this session's.
  EXPECT_EQ(answer("POST", "/.stepgate/refresh", "", cookie + "; " + refreshCookie("mallory"),
                   csrfToken(csrf), service_.get())
                .status,
            409);
  EXPECT_EQ(answer("POST", "/.stepgate/refresh", "",
                   cookie + "; " + refreshCookie("alice", "other-idp"), csrfToken(csrf),
                   service_.get())
                .status,
            409);
  EXPECT_EQ(answer("GET", "/.stepgate/refresh", "", cookie, csrfToken(csrf), service_.get())
                .status,
            405);
  EXPECT_EQ(answer("POST", "/.stepgate/refresh", "", cookie, csrfToken(csrf), nullptr).status,
            404);
}

TEST_F(SsoEndpointsTest, RefreshEndpointHandsTheGrantToTheProvider) {
  auto [cookie, s] = session();
  SsoAnswer a = answer("POST", "/.stepgate/refresh", "",
                       cookie + "; " + refreshCookie("alice", "idp", "rt-9"), csrfToken(s.csrf),
                       service_.get());
  ASSERT_EQ(a.outcome, SsoOutcome::kPending) << a.status << " " << a.error;
  ASSERT_NE(a.pending, nullptr);
  EXPECT_EQ(a.pending->kind, OidcPending::Kind::kRefresh);
  EXPECT_EQ(a.pending->secret, "rt-9");
  EXPECT_EQ(a.pending->subject, "alice");
  EXPECT_EQ(a.pending->old_sid, s.sid);
  EXPECT_EQ(a.pending->old_expires_at, s.expires_at);
  EXPECT_EQ(a.pending->grant_expires_at, kNow + 24h);
}

TEST_F(SsoEndpointsTest, SessionTokenAndLogout) {
  auto [cookie, s] = session();
  SsoAnswer info = get("/.stepgate/session", "", cookie);
  ASSERT_EQ(info.status, 200);
  auto body = parseJson(info.body);
  ASSERT_TRUE(body.isOk()) << info.body;
  EXPECT_EQ(body->find("subject")->asString(), "alice");
  EXPECT_EQ(body->find("csrf_token")->asString(), s.csrf);
  EXPECT_EQ(get("/.stepgate/session").status, 401);

  EXPECT_EQ(answer("POST", "/.stepgate/token", "", cookie, {}, nullptr).status, 403);
  SsoAnswer token = answer("POST", "/.stepgate/token", "", cookie, csrfToken(s.csrf), nullptr);
  ASSERT_EQ(token.status, 200) << token.error;
  EXPECT_EQ(token.outcome, SsoOutcome::kTokenIssued);
  EXPECT_NE(token.body.find("\"token_type\":\"Bearer\""), std::string::npos);

  SsoAnswer out = answer("POST", "/.stepgate/logout", "", cookie, csrfToken(s.csrf), nullptr);
  ASSERT_EQ(out.status, 200) << out.error;
  EXPECT_EQ(out.outcome, SsoOutcome::kSignedOut);
  EXPECT_NE(setCookieFor(out, kSessionCookie).find("Max-Age=0"), std::string::npos);
  EXPECT_NE(setCookieFor(out, kRefreshCookie).find("; Path=/.stepgate; Max-Age=0"),
            std::string::npos)
      << out.headers;
  EXPECT_TRUE(revoked_->isRevoked(s.sid, kNow));
  EXPECT_EQ(get("/.stepgate/session", "", cookie).status, 401);
}

TEST_F(SsoEndpointsTest, LogoutEndsTheRefreshGrantToo) {
  auto [cookie, s] = session();
  const std::string refresh = refreshCookie();
  const std::string both = cookie + "; " + refresh;
  // Before: /login renews silently with the grant.
  SsoAnswer before = get("/.stepgate/login", "", refresh, service_.get());
  ASSERT_EQ(before.outcome, SsoOutcome::kPending) << before.status << " " << before.error;
  EXPECT_EQ(before.pending->grant_id, "grant-1");
  SsoAnswer out = answer("POST", "/.stepgate/logout", "", both, csrfToken(s.csrf), nullptr);
  ASSERT_EQ(out.status, 200) << out.error;
  // After: a copy of the refresh cookie no longer signs in, nor refreshes a session.
  SsoAnswer after = get("/.stepgate/login", "", refresh, service_.get());
  EXPECT_EQ(after.status, 302) << after.error;
  EXPECT_EQ(after.pending, nullptr);
  auto [cookie2, s2] = session();
  EXPECT_EQ(answer("POST", "/.stepgate/refresh", "", cookie2 + "; " + refresh,
                   csrfToken(s2.csrf), service_.get())
                .status,
            409);
}

// ---- completeOidc --------------------------------------------------------------------------

TEST_F(SsoEndpointsTest, CompleteExchangeSignsIn) {
  OidcPending p;
  p.kind = OidcPending::Kind::kExchange;
  p.secret = "the-code";
  p.nonce = "nonce-0123456789";
  p.return_to = "/ui/runs?x=1";
  SsoAnswer a = completeOidc(*sso_, *service_, p, tokens(idToken("alice", p.nonce)), &keys_,
                             kNow);
  ASSERT_EQ(a.status, 303) << a.error;
  EXPECT_EQ(a.outcome, SsoOutcome::kSignedIn);
  EXPECT_EQ(location(a), "/ui/runs?x=1");
  EXPECT_FALSE(a.oidc_failure.has_value());

  const std::string set = setCookieFor(a, kSessionCookie);
  ASSERT_FALSE(set.empty()) << a.headers;
  EXPECT_NE(set.find("; Path=/; Max-Age=28800; Secure; HttpOnly; SameSite=Lax"),
            std::string::npos)
      << set;
  auto d = sso_->sessions->decode(valueOf(set), kNow);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.session.subject, "alice");
  EXPECT_EQ(d.session.provider, "idp");
  EXPECT_EQ(d.session.name, "Alice Example");
  EXPECT_EQ(d.session.groups, (std::vector<std::string>{"ops", "payments"}));

  const std::string rc = setCookieFor(a, kRefreshCookie);
  ASSERT_FALSE(rc.empty()) << a.headers;
  EXPECT_NE(rc.find("; Path=/.stepgate; Max-Age=86400; Secure; HttpOnly; SameSite=Lax"),
            std::string::npos)
      << rc;
  auto g = sso_->refresh->decode(valueOf(rc), kNow);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->refresh_token, "rt-1");
  EXPECT_EQ(g->subject, "alice");
  EXPECT_EQ(g->provider, "idp");
  EXPECT_EQ(g->expires_at, kNow + 24h);

  const std::string cleared = setCookieFor(a, kLoginCookie);
  EXPECT_EQ(cleared, std::string(kLoginCookie) +
                         "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax");

  // Without a refresh token from the provider the refresh cookie is cleared, not set.
  SsoAnswer b = completeOidc(*sso_, *service_, p, tokens(idToken("alice", p.nonce), ""), &keys_,
                             kNow);
  ASSERT_EQ(b.status, 303);
  EXPECT_NE(setCookieFor(b, kRefreshCookie).find("Max-Age=0"), std::string::npos);
}

TEST_F(SsoEndpointsTest, CompleteExchangeRefusals) {
  OidcPending p;
  p.kind = OidcPending::Kind::kExchange;
  p.secret = "the-code";
  p.nonce = "nonce-0123456789";
  p.return_to = "/ui";
  auto expect = [&](const SsoAnswer& a, int status, std::string_view error, OidcFailure f) {
    EXPECT_EQ(a.status, status) << error;
    EXPECT_EQ(a.error, error);
    EXPECT_EQ(a.outcome, SsoOutcome::kLoginFailed) << error;
    ASSERT_TRUE(a.oidc_failure.has_value()) << error;
    EXPECT_EQ(*a.oidc_failure, f) << error;
    EXPECT_TRUE(setCookieFor(a, kSessionCookie).empty()) << error;
    EXPECT_TRUE(setCookieFor(a, kRefreshCookie).empty()) << error;
  };
  expect(completeOidc(*sso_, *service_, p, tokens(idToken("alice", "another-nonce-0123")),
                      &keys_, kNow),
         403, "id_token_invalid", OidcFailure::kIdToken);
  expect(completeOidc(*sso_, *service_, p, tokens(""), &keys_, kNow), 403,
         "token_response_invalid", OidcFailure::kTokenResponse);
  expect(completeOidc(*sso_, *service_, p, tokens(idToken("alice", p.nonce)), nullptr, kNow),
         503, "keys_unavailable", OidcFailure::kUnavailable);
  // Signed by another key.
  identity::KeySet other;
  identity::Jwk jwk = keys_.keys[0];
  jwk.public_key = newEcKey();
  other.keys.push_back(jwk);
  expect(completeOidc(*sso_, *service_, p, tokens(idToken("alice", p.nonce)), &other, kNow), 403,
         "id_token_invalid", OidcFailure::kIdToken);
  // Expired.
  expect(completeOidc(*sso_, *service_, p, tokens(idToken("alice", p.nonce)), &keys_,
                      kNow + 1h),
         403, "id_token_invalid", OidcFailure::kIdToken);
  // The token endpoint's answers.
  expect(completeOidc(*sso_, *service_, p,
                      Status(StatusCode::kUnauthenticated, "provider_invalid_grant: used"),
                      &keys_, kNow),
         403, "provider_refused", OidcFailure::kProviderRefused);
  expect(completeOidc(*sso_, *service_, p,
                      unavailable("token_endpoint_unavailable: connect failed"), &keys_, kNow),
         503, "login_unavailable", OidcFailure::kUnavailable);
  expect(completeOidc(*sso_, *service_, p, unavailable("login_unavailable: stopped"), &keys_,
                      kNow),
         503, "login_unavailable", OidcFailure::kUnavailable);
  expect(completeOidc(*sso_, *service_, p,
                      unavailable("token_response_malformed: not JSON"), &keys_, kNow),
         403, "token_response_invalid", OidcFailure::kTokenResponse);
}

TEST_F(SsoEndpointsTest, CompleteLoginRefresh) {
  OidcPending p;
  p.kind = OidcPending::Kind::kLoginRefresh;
  p.secret = "rt-1";
  p.subject = "alice";
  p.return_to = "/ui";
  p.grant_expires_at = kNow + 10h;
  p.grant_id = "grant-1";
  // Renewed: a session, the grant kept until its end (with the rotated token).
  SsoAnswer ok = completeOidc(*sso_, *service_, p, tokens(idToken("alice", ""), "rt-2"), &keys_,
                              kNow);
  ASSERT_EQ(ok.status, 303) << ok.error;
  EXPECT_EQ(ok.outcome, SsoOutcome::kRefreshed);
  EXPECT_EQ(location(ok), "/ui");
  EXPECT_FALSE(setCookieFor(ok, kSessionCookie).empty());
  const std::string rc = setCookieFor(ok, kRefreshCookie);
  EXPECT_NE(rc.find("; Max-Age=36000;"), std::string::npos) << rc;
  auto g = sso_->refresh->decode(valueOf(rc), kNow);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->refresh_token, "rt-2");
  EXPECT_EQ(g->expires_at, kNow + 10h);
  EXPECT_EQ(g->id, "grant-1");  // the same grant: a logout of any of its sessions ends it
  EXPECT_TRUE(setCookieFor(ok, kLoginCookie).empty());

  // Any failure: a normal sign-in at the provider, and the refresh cookie cleared.
  auto expectFallback = [&](const SsoAnswer& a, const char* why) {
    EXPECT_EQ(a.status, 302) << why;
    EXPECT_EQ(location(a).rfind("https://idp.example.com/authorize?", 0), 0u) << why;
    const std::string login = setCookieFor(a, kLoginCookie);
    ASSERT_FALSE(login.empty()) << why;
    auto ls = sso_->login->decode(valueOf(login), std::nullopt, kNow);
    ASSERT_TRUE(ls.ok()) << why;
    EXPECT_EQ(ls.state.return_to, "/ui") << why;
    EXPECT_EQ(setCookieFor(a, kRefreshCookie),
              std::string(kRefreshCookie) +
                  "=; Path=/.stepgate; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
        << why;
    EXPECT_TRUE(setCookieFor(a, kSessionCookie).empty()) << why;
  };
  expectFallback(completeOidc(*sso_, *service_, p,
                              Status(StatusCode::kUnauthenticated, "provider_invalid_grant: x"),
                              &keys_, kNow),
                 "invalid_grant");
  expectFallback(completeOidc(*sso_, *service_, p,
                              unavailable("token_endpoint_unavailable: down"), &keys_, kNow),
                 "unavailable");
  expectFallback(completeOidc(*sso_, *service_, p, tokens(""), &keys_, kNow), "no id token");
  expectFallback(completeOidc(*sso_, *service_, p, tokens(idToken("alice", "")), nullptr, kNow),
                 "no keys");
  expectFallback(completeOidc(*sso_, *service_, p, tokens(idToken("bob", "")), &keys_, kNow),
                 "another subject");
}

TEST_F(SsoEndpointsTest, CompleteRefreshReplacesTheSession) {
  auto [cookie, s] = session();
  SsoAnswer pending_answer = answer("POST", "/.stepgate/refresh", "",
                                    cookie + "; " + refreshCookie(), csrfToken(s.csrf),
                                    service_.get());
  ASSERT_NE(pending_answer.pending, nullptr);
  const OidcPending& p = *pending_answer.pending;
  const SystemTime later = kNow + 2min;  // the ID token is valid for 5 minutes

  SsoAnswer a = completeOidc(*sso_, *service_, p, tokens(idToken("alice", ""), ""), &keys_,
                             later);
  ASSERT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(a.outcome, SsoOutcome::kRefreshed);
  EXPECT_EQ(a.content_type, "application/json");
  auto body = parseJson(a.body);
  ASSERT_TRUE(body.isOk()) << a.body;
  const std::string new_csrf = body->find("csrf_token")->asString();
  EXPECT_EQ(new_csrf.size(), 43u);
  EXPECT_NE(new_csrf, s.csrf);
  EXPECT_EQ(body->find("subject")->asString(), "alice");
  // The old session is revoked; the new cookie is a new session.
  EXPECT_TRUE(sso_->revoked->isRevoked(s.sid, later));
  const std::string set = setCookieFor(a, kSessionCookie);
  auto d = sso_->sessions->decode(valueOf(set), later);
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d.session.sid, s.sid);
  EXPECT_EQ(d.session.csrf, new_csrf);
  EXPECT_FALSE(sso_->revoked->isRevoked(d.session.sid, later));
  SessionAuth old_auth = authenticateSession(*sso_, "GET", cookie, {}, later);
  EXPECT_EQ(old_auth.result, SessionAuth::Result::kRevoked);
  // No new refresh token: the old one is kept, with the grant's end.
  auto g = sso_->refresh->decode(valueOf(setCookieFor(a, kRefreshCookie)), later);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->refresh_token, "rt-1");
  EXPECT_EQ(g->expires_at, kNow + 24h);
}

TEST_F(SsoEndpointsTest, CompleteRefreshFailures) {
  const identity::Session s = session().second;
  OidcPending p;
  p.kind = OidcPending::Kind::kRefresh;
  p.secret = "rt-1";
  p.subject = "alice";
  p.old_sid = s.sid;
  p.old_expires_at = s.expires_at;
  p.grant_expires_at = kNow + 24h;
  p.grant_id = "grant-1";

  // The provider unreachable: 503, and the refresh cookie kept for a later try.
  for (const char* msg : {"token_endpoint_unavailable: down", "login_unavailable: stopped",
                          "token_response_too_large: big", "token_response_malformed: x"}) {
    SsoAnswer a = completeOidc(*sso_, *service_, p, unavailable(msg), &keys_, kNow);
    EXPECT_EQ(a.status, 503) << msg;
    EXPECT_EQ(a.error, "login_unavailable") << msg;
    EXPECT_TRUE(headerValues(a.headers, "Set-Cookie").empty()) << msg;
  }
  // The provider's verdict, or a token that does not hold up: 401 and the cookie cleared.
  auto expectFailed = [&](const SsoAnswer& a, const char* why) {
    EXPECT_EQ(a.status, 401) << why;
    EXPECT_EQ(a.error, "refresh_failed") << why;
    EXPECT_NE(setCookieFor(a, kRefreshCookie).find("; Max-Age=0;"), std::string::npos) << why;
    EXPECT_TRUE(setCookieFor(a, kSessionCookie).empty()) << why;
  };
  expectFailed(completeOidc(*sso_, *service_, p,
                            Status(StatusCode::kUnauthenticated, "provider_invalid_grant: x"),
                            &keys_, kNow),
               "invalid_grant");
  expectFailed(completeOidc(*sso_, *service_, p, tokens(idToken("mallory", "")), &keys_, kNow),
               "subject mismatch");
  expectFailed(completeOidc(*sso_, *service_, p, tokens(""), &keys_, kNow), "no id token");
  // No keys: the provider's keys are unavailable, not the user's fault.
  SsoAnswer nokeys = completeOidc(*sso_, *service_, p, tokens(idToken("alice", "")), nullptr,
                                  kNow);
  EXPECT_EQ(nokeys.status, 503);
  EXPECT_EQ(nokeys.error, "keys_unavailable");
  // None of these ended the old session.
  EXPECT_FALSE(revoked_->isRevoked(s.sid, kNow));
}

// ---- session-cookie authentication ---------------------------------------------------------

TEST_F(SsoEndpointsTest, AuthenticateSessionAndIdleRefresh) {
  auto [cookie, s] = session();
  const std::string header = "theme=dark; " + cookie;
  SessionAuth none = authenticateSession(*sso_, "GET", "theme=dark", {}, kNow);
  EXPECT_EQ(none.result, SessionAuth::Result::kNoCookie);
  EXPECT_EQ(none.principal, nullptr);

  SessionAuth fresh = authenticateSession(*sso_, "GET", header, {}, kNow + 10min);
  ASSERT_EQ(fresh.result, SessionAuth::Result::kOk) << fresh.reason;
  ASSERT_NE(fresh.principal, nullptr);
  EXPECT_EQ(fresh.principal->subject, "alice");
  EXPECT_EQ(fresh.principal->method, identity::AuthMethod::kSession);
  EXPECT_TRUE(fresh.set_cookie.empty());  // more than half the idle time left

  // Less than half the idle time left: the cookie is re-issued with a later idle expiry.
  const SystemTime later = kNow + 31min;
  SessionAuth renewed = authenticateSession(*sso_, "GET", header, {}, later);
  ASSERT_EQ(renewed.result, SessionAuth::Result::kOk);
  ASSERT_EQ(renewed.set_cookie.rfind("Set-Cookie: __Host-stepgate-session=", 0), 0u)
      << renewed.set_cookie;
  ASSERT_GE(renewed.set_cookie.size(), 2u);
  EXPECT_EQ(renewed.set_cookie.substr(renewed.set_cookie.size() - 2), "\r\n");
  const std::string value = valueOf(renewed.set_cookie.substr(12));
  auto d = sso_->sessions->decode(value, later);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.session.sid, s.sid);
  EXPECT_EQ(d.session.idle_expires_at, later + 1h);
  EXPECT_GT(d.session.idle_expires_at, s.idle_expires_at);
  EXPECT_EQ(d.session.expires_at, s.expires_at);
  // The re-issued cookie outlives the old one's idle expiry.
  SessionAuth after = authenticateSession(*sso_, "GET", std::string(kSessionCookie) + "=" + value,
                                          {}, kNow + 70min);
  EXPECT_EQ(after.result, SessionAuth::Result::kOk) << after.reason;

  // Past the idle expiry.
  SessionAuth idle = authenticateSession(*sso_, "GET", header, {}, kNow + 61min);
  EXPECT_EQ(idle.result, SessionAuth::Result::kInvalid);
  EXPECT_EQ(idle.reason, "session_idle_expired");
  EXPECT_EQ(idle.principal, nullptr);
  SessionAuth garbage =
      authenticateSession(*sso_, "GET", std::string(kSessionCookie) + "=garbage", {}, kNow);
  EXPECT_EQ(garbage.result, SessionAuth::Result::kInvalid);
  EXPECT_EQ(garbage.reason, "session_malformed");

  // Revoked.
  ASSERT_TRUE(revoked_->revoke(s.sid, s.expires_at, kNow).isOk());
  SessionAuth gone = authenticateSession(*sso_, "GET", header, {}, kNow + 1min);
  EXPECT_EQ(gone.result, SessionAuth::Result::kRevoked);
  EXPECT_EQ(gone.reason, "session_revoked");
  EXPECT_EQ(gone.principal, nullptr);
}

TEST_F(SsoEndpointsTest, AuthenticateSessionNeedsCsrfForStateChanges) {
  auto [cookie, s] = session();
  SessionAuth missing = authenticateSession(*sso_, "POST", cookie, {}, kNow);
  EXPECT_EQ(missing.result, SessionAuth::Result::kCsrf);
  EXPECT_EQ(missing.reason, "csrf_missing");
  EXPECT_EQ(missing.principal, nullptr);
  const std::string wrong(43, 'x');
  SessionAuth bad = authenticateSession(*sso_, "DELETE", cookie, csrfToken(wrong), kNow);
  EXPECT_EQ(bad.result, SessionAuth::Result::kCsrf);
  EXPECT_EQ(bad.reason, "csrf_mismatch");
  // Same-origin hints are not enough here: only the token.
  identity::CsrfHeaders same_origin;
  same_origin.sec_fetch_site = std::string_view("same-origin");
  EXPECT_EQ(authenticateSession(*sso_, "POST", cookie, same_origin, kNow).result,
            SessionAuth::Result::kCsrf);
  SessionAuth good = authenticateSession(*sso_, "POST", cookie, csrfToken(s.csrf), kNow);
  EXPECT_EQ(good.result, SessionAuth::Result::kOk) << good.reason;
  ASSERT_NE(good.principal, nullptr);
  for (const char* safe : {"GET", "HEAD", "OPTIONS"}) {
    EXPECT_EQ(authenticateSession(*sso_, safe, cookie, {}, kNow).result,
              SessionAuth::Result::kOk)
        << safe;
  }
}

TEST_F(SsoEndpointsTest, SessionCacheGivesWhatDecodingWouldGive) {
  auto [cookie, s] = session();
  SessionCache cache;
  SessionAuth first = authenticateSession(*sso_, "GET", cookie, {}, kNow, &cache);
  ASSERT_EQ(first.result, SessionAuth::Result::kOk) << first.reason;
  EXPECT_EQ(cache.size(), 1u);
  // A hit: the same principal object, no second entry.
  SessionAuth again = authenticateSession(*sso_, "GET", cookie, {}, kNow + 1min, &cache);
  ASSERT_EQ(again.result, SessionAuth::Result::kOk);
  EXPECT_EQ(again.principal.get(), first.principal.get());
  EXPECT_EQ(cache.size(), 1u);
  // CSRF is still checked on a hit.
  EXPECT_EQ(authenticateSession(*sso_, "POST", cookie, {}, kNow, &cache).result,
            SessionAuth::Result::kCsrf);
  EXPECT_EQ(authenticateSession(*sso_, "POST", cookie, csrfToken(s.csrf), kNow, &cache).result,
            SessionAuth::Result::kOk);
  // The idle refresh is still offered on a hit.
  EXPECT_FALSE(authenticateSession(*sso_, "GET", cookie, {}, kNow + 31min, &cache)
                   .set_cookie.empty());
  // Past the idle expiry: the entry is dropped and the cookie refused as without a cache.
  SessionAuth idle = authenticateSession(*sso_, "GET", cookie, {}, kNow + 61min, &cache);
  EXPECT_EQ(idle.result, SessionAuth::Result::kInvalid);
  EXPECT_EQ(idle.reason, "session_idle_expired");
  EXPECT_EQ(cache.size(), 0u);
  // Revocation is checked on every hit.
  ASSERT_EQ(authenticateSession(*sso_, "GET", cookie, {}, kNow, &cache).result,
            SessionAuth::Result::kOk);
  ASSERT_TRUE(revoked_->revoke(s.sid, s.expires_at, kNow).isOk());
  SessionAuth gone = authenticateSession(*sso_, "GET", cookie, {}, kNow + 1min, &cache);
  EXPECT_EQ(gone.result, SessionAuth::Result::kRevoked);
  EXPECT_EQ(gone.principal, nullptr);
}

TEST_F(SsoEndpointsTest, SessionCacheIsEmptiedUnderAnotherRuntime) {
  auto [cookie, s] = session();
  SessionCache cache;
  SessionAuth first = authenticateSession(*sso_, "GET", cookie, {}, kNow, &cache);
  ASSERT_EQ(first.result, SessionAuth::Result::kOk);
  EXPECT_EQ(cache.size(), 1u);
  // A reload builds another runtime (here: the same settings, so the same key file): the
  // cache starts again, and the cookie is decoded anew under the new runtime's keys.
  SsoRuntimeConstSharedPtr other = build(config());
  ASSERT_NE(other->id, sso_->id);
  SessionAuth r = authenticateSession(*other, "GET", cookie, {}, kNow, &cache);
  EXPECT_EQ(r.result, SessionAuth::Result::kOk) << r.reason;
  EXPECT_NE(r.principal.get(), first.principal.get());  // decoded again, not the old entry
  EXPECT_EQ(cache.size(), 1u);
  // Back under the first: emptied again, then filled.
  ASSERT_EQ(authenticateSession(*sso_, "GET", cookie, {}, kNow, &cache).result,
            SessionAuth::Result::kOk);
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(SsoEndpointsTest, StripSsoCookies) {
  EXPECT_EQ(stripSsoCookies(*sso_, "a=1; __Host-stepgate-session=x; "
                                   "__Secure-stepgate-session-refresh=y;"
                                   "__Host-stepgate-session-login=z; b=2"),
            "a=1; b=2");
  EXPECT_EQ(stripSsoCookies(*sso_, "__Host-stepgate-session=x"), "");
  EXPECT_EQ(stripSsoCookies(*sso_, ""), "");
  EXPECT_EQ(stripSsoCookies(*sso_, "x__Host-stepgate-session=1;  c=3 "),
            "x__Host-stepgate-session=1; c=3");
}

TEST(SsoFormValueTest, DecodesFormFields) {
  EXPECT_EQ(formValue("a=1&SAMLResponse=PHg%2B+y&b=", "SAMLResponse"),
            std::optional<std::string>("PHg+ y"));
  EXPECT_EQ(formValue("a=1&b=", "b"), std::optional<std::string>(""));
  EXPECT_EQ(formValue("a=1&b", "b"), std::optional<std::string>(""));
  EXPECT_EQ(formValue("a=1&a=2", "a"), std::optional<std::string>("1"));
  EXPECT_EQ(formValue("a=1", "b"), std::nullopt);
  EXPECT_EQ(formValue("xa=1", "a"), std::nullopt);
  EXPECT_EQ(formValue("a=%4", "a"), std::nullopt);
  EXPECT_EQ(formValue("a=%zz", "a"), std::nullopt);
  EXPECT_EQ(formValue("a=%41%42", "a"), std::optional<std::string>("AB"));
  EXPECT_EQ(formValue("", "a"), std::nullopt);
}

}  // namespace
}  // namespace stepgate::proxy
