// The top-level `sso:` section and the provider it adds for stepgate's own access tokens.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.h"

namespace stepgate::config {
namespace {

namespace fs = std::filesystem;

class SsoConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stepgate-sso-config-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "idp.pem") << "-----BEGIN CERTIFICATE-----\n";
    std::ofstream(dir_ / "client.secret") << "s3cret\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  StatusOr<ConfigConstSharedPtr> load(const std::string& tail, bool with_issuer = true) {
    return loadFromString(
        std::string("listeners:\n"
                    "  - address: 127.0.0.1:8443\n"
                    "upstreams:\n"
                    "  api:\n"
                    "    url: http://127.0.0.1:8080\n") +
            (with_issuer ? "issuer: {url: \"https://sg.example.com\", signing_key: sg.pem}\n"
                         : "") +
            tail,
        (dir_ / "stepgate.yaml").string());
  }
  static std::string saml(const std::string& extra = "") {
    return "  saml:\n"
           "    entity_id: https://sg.example.com/sp\n"
           "    acs_url: https://sg.example.com/.stepgate/saml/acs\n"
           "    idp_entity_id: https://idp.example.com\n"
           "    idp_cert: idp.pem\n"
           "    idp_sso_url: https://idp.example.com/sso\n" +
           extra;
  }
  static std::string providers() {
    return "identity:\n"
           "  providers:\n"
           "    - name: corp\n"
           "      type: oidc\n"
           "      issuer: https://login.example.com\n"
           "      algorithms: [RS256]\n";
  }
  static std::string oidc(const std::string& extra = "") {
    return "  oidc:\n"
           "    provider: corp\n"
           "    client_id: stepgate\n"
           "    client_secret_file: client.secret\n"
           "    redirect_uri: https://sg.example.com/.stepgate/oidc/callback\n" +
           extra;
  }
  fs::path dir_;
};

TEST_F(SsoConfigTest, LoadsWithDefaults) {
  auto c = load("sso:\n  session: {key_file: keys/session.key}\n" + saml());
  ASSERT_TRUE(c.isOk()) << c.status().message();
  ASSERT_TRUE((*c)->sso.has_value());
  const SsoConfig& s = *(*c)->sso;
  EXPECT_EQ(s.path_prefix, "/.stepgate");
  EXPECT_EQ(s.session.key_file, (dir_ / "keys/session.key").string());
  EXPECT_EQ(s.session.ttl, std::chrono::hours(8));
  EXPECT_EQ(s.session.idle_ttl, std::chrono::hours(1));
  EXPECT_EQ(s.session.cookie_name, "stepgate-session");
  EXPECT_EQ(s.saml->idp_cert_file, (dir_ / "idp.pem").string());
  EXPECT_EQ(s.saml->clock_skew, std::chrono::seconds(60));
  EXPECT_EQ(s.token.ttl, std::chrono::hours(1));
  EXPECT_EQ(s.token.audience, "https://sg.example.com");
  const auto& providers = (*c)->identity.providers;
  ASSERT_EQ(providers.size(), 1u);
  EXPECT_EQ(providers[0].name, "stepgate");
  EXPECT_TRUE(providers[0].local_issuer);
  EXPECT_EQ(providers[0].issuer, "https://sg.example.com");
  EXPECT_EQ(providers[0].typ, "at+jwt");
  EXPECT_EQ(providers[0].audiences, std::vector<std::string>{"https://sg.example.com"});
}

TEST_F(SsoConfigTest, CustomValues) {
  auto c = load(
      "sso:\n  path_prefix: /auth\n"
      "  session: {key_file: s.key, ttl: 2h, idle_ttl: 30m, cookie_name: sg, domain: example.com}\n"
      "  token: {ttl: 15m, audience: stepgate-cli}\n"
      "  saml:\n"
      "    entity_id: sp\n"
      "    acs_url: https://sg.example.com/auth/saml/acs\n"
      "    idp_entity_id: idp\n"
      "    idp_cert: idp.pem\n"
      "    idp_sso_url: https://idp.example.com/sso\n"
      "    groups_attribute: groups\n"
      "    clock_skew: 2m\n");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  const SsoConfig& s = *(*c)->sso;
  EXPECT_EQ(s.path_prefix, "/auth");
  EXPECT_EQ(s.session.idle_ttl, std::chrono::minutes(30));
  EXPECT_EQ(s.session.domain, "example.com");
  EXPECT_EQ(s.token.audience, "stepgate-cli");
  EXPECT_EQ(s.saml->groups_attribute, "groups");
  EXPECT_EQ(s.saml->clock_skew, std::chrono::minutes(2));
}

TEST_F(SsoConfigTest, OidcOnly) {
  auto c = load(providers() + "sso:\n  session: {key_file: s.key}\n" +
                oidc("    scopes: [openid, groups]\n    refresh_ttl: 0s\n"));
  ASSERT_TRUE(c.isOk()) << c.status().message();
  const SsoConfig& s = *(*c)->sso;
  EXPECT_FALSE(s.saml.has_value());
  ASSERT_TRUE(s.oidc.has_value());
  EXPECT_TRUE(s.login_redirect);
  EXPECT_EQ(s.oidc->provider, "corp");
  EXPECT_EQ(s.oidc->client_auth, LoginClientAuth::kClientSecretBasic);
  EXPECT_EQ(s.oidc->client_secret_file, (dir_ / "client.secret").string());
  EXPECT_EQ(s.oidc->scopes, (std::vector<std::string>{"openid", "groups"}));
  EXPECT_EQ(s.oidc->refresh_ttl, std::chrono::seconds(0));
  EXPECT_EQ(s.oidc->fetch_timeout, std::chrono::seconds(5));
}

TEST_F(SsoConfigTest, OidcAndSamlTogether) {
  auto c = load(providers() + "sso:\n  login_redirect: false\n  session: {key_file: s.key}\n" +
                saml() + oidc("    client_auth: client_secret_post\n"));
  ASSERT_TRUE(c.isOk()) << c.status().message();
  const SsoConfig& s = *(*c)->sso;
  EXPECT_TRUE(s.saml.has_value());
  EXPECT_FALSE(s.login_redirect);
  EXPECT_EQ(s.oidc->client_auth, LoginClientAuth::kClientSecretPost);
  EXPECT_EQ(s.oidc->refresh_ttl, std::chrono::hours(24));
}

TEST_F(SsoConfigTest, OidcErrors) {
  const std::string head = "sso:\n  session: {key_file: s.key}\n";
  const std::string base =
      "  oidc:\n    provider: corp\n    client_id: stepgate\n"
      "    redirect_uri: https://sg.example.com/.stepgate/oidc/callback\n";
  const std::pair<std::string, std::string> cases[] = {
      {providers() + head + oidc("    bogus: 1\n"), "bogus"},
      {head + oidc(), "provider"},  // no such provider
      {providers() + head + base, "needs client_secret_file"},
      {providers() + head + base + "    client_auth: private_key_jwt\n", "client_key_file"},
      {providers() + head + oidc("    client_auth: magic\n"), "client_auth"},
      {providers() + head + oidc("    client_key_file: client.secret\n"), "client_key_file"},
      {providers() + head + oidc("    scopes: [profile]\n"), "openid"},
      {providers() + head + oidc("    scopes: [\"a b\"]\n"), "scope token"},
      {providers() + head + oidc("    extra_params: [\"x=y\"]\n"), "parameter name"},
      {providers() + head + oidc("    refresh_ttl: 1000h\n"), "refresh_ttl"},
      {providers() + head + oidc("    fetch_timeout: 10ms\n"), "fetch_timeout"},
      {providers() + head +
           "  oidc:\n    provider: corp\n    client_id: stepgate\n"
           "    client_secret_file: client.secret\n"
           "    redirect_uri: https://sg.example.com/callback\n",
       "redirect_uri"},
      {providers() + head + "  oidc:\n    provider: corp\n    client_id: x\n"
                            "    client_secret_file: missing.secret\n"
                            "    redirect_uri: https://h/.stepgate/oidc/callback\n",
       "client_secret_file"},
  };
  for (const auto& [tail, message] : cases) {
    auto c = load(tail);
    ASSERT_FALSE(c.isOk()) << tail;
    EXPECT_NE(c.status().message().find("stepgate.yaml:"), std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find(message), std::string::npos) << c.status().message();
  }
}

TEST_F(SsoConfigTest, Errors) {
  struct Case {
    std::string tail;
    bool issuer;
    std::string message;
  };
  const std::string session = "  session: {key_file: s.key}\n";
  const Case cases[] = {
      {"sso:\n" + session + saml(), false, "needs the top-level 'issuer'"},
      {"sso:\n" + saml(), true, "session"},
      {"sso:\n" + session, true, "'saml', 'oidc' or both"},
      {"sso:\n  bogus: 1\n" + session + saml(), true, "bogus"},
      {"sso:\n  path_prefix: /x/\n" + session + saml(), true, "path_prefix"},
      {"sso:\n  path_prefix: /auth\n" + session + saml(), true, "acs_url"},
      {"sso:\n  session: {key_file: s.key, idle_ttl: 9h}\n" + saml(), true, "idle_ttl"},
      {"sso:\n  session: {key_file: s.key, cookie_name: \"a b\"}\n" + saml(), true,
       "cookie_name"},
      {"sso:\n" + session + saml("    sp_key: nope.pem\n"), true, "sp_key"},
      {"sso:\n" + session + saml("    clock_skew: 1h\n"), true, "clock_skew"},
      {"sso:\n" + session + "  token: {ttl: 25h}\n" + saml(), true, "ttl"},
      {"sso:\n" + session +
           "  saml:\n    entity_id: a\n    acs_url: https://h/.stepgate/saml/acs\n"
           "    idp_entity_id: b\n    idp_cert: missing.pem\n    idp_sso_url: https://i/\n",
       true, "idp_cert"},
  };
  for (const Case& k : cases) {
    auto c = load(k.tail, k.issuer);
    ASSERT_FALSE(c.isOk()) << k.tail;
    EXPECT_NE(c.status().message().find("stepgate.yaml:"), std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find(k.message), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace stepgate::config
