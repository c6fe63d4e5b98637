// The identity section of the config: every provider type loaded in full and with defaults,
// and each validation rule with the exact position of its error.

#include "config/identity_loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/loader.h"

namespace stepgate::config {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Five lines; the identity section starts on line 6, the first provider on line 8.
constexpr const char* kPlainListener =
    "listeners:\n"
    "  - address: 127.0.0.1:8443\n"
    "upstreams:\n"
    "  conductor:\n"
    "    url: http://127.0.0.1:8080\n";

// Eight lines; the first provider is on line 11.
constexpr const char* kMtlsListener =
    "listeners:\n"
    "  - address: 127.0.0.1:8443\n"
    "    tls:\n"
    "      certificates: [{cert: certs/server.pem, key: certs/server.key}]\n"
    "      client_ca: certs/clients.pem\n"
    "upstreams:\n"
    "  conductor:\n"
    "    url: http://127.0.0.1:8080\n";

using Provider = std::vector<std::string>;

// `listeners` + an identity section with `providers`: each provider's first line becomes a
// "    - " list item and the others are indented under it, one YAML line per string.
std::string configWith(const std::vector<Provider>& providers,
                       const std::string& listeners = kPlainListener) {
  std::string text = listeners + "identity:\n  providers:\n";
  for (const Provider& p : providers) {
    for (size_t i = 0; i < p.size(); ++i) {
      text += (i == 0 ? "    - " : "      ") + p[i] + "\n";
    }
  }
  return text;
}

std::string config(const Provider& provider) {
  return configWith(std::vector<Provider>{provider});
}

// The smallest valid provider of each key-based type.
const Provider kOidc = {"name: corp", "type: oidc", "issuer: https://idp.example.com/realms/corp",
                        "algorithms: [RS256]"};

class IdentityLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/stepgate-identity-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    config_path_ = (dir_ / "stepgate.yaml").string();
    writeFile("certs/server.pem", "cert");
    writeFile("certs/server.key", "key");
    writeFile("certs/clients.pem", "ca");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void writeFile(const std::string& relative, const std::string& content,
                 fs::perms perms = fs::perms::owner_read | fs::perms::owner_write |
                                   fs::perms::group_read | fs::perms::others_read) {
    const fs::path p = dir_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    fs::permissions(p, perms);
  }
  void writeSecret(const std::string& relative) {
    writeFile(relative, "0123456789abcdef0123456789abcdef",
              fs::perms::owner_read | fs::perms::owner_write);
  }
  std::string path(const std::string& relative) const {
    return (dir_ / relative).lexically_normal().string();
  }

  StatusOr<ConfigConstSharedPtr> loadText(const std::string& text) {
    return loadFromString(text, config_path_);
  }

  // Loads `text` and returns its identity section, failing the test on an error.
  IdentityConfig loadOk(const std::string& text) {
    auto result = loadText(text);
    EXPECT_TRUE(result.isOk()) << result.status().message() << "\n" << text;
    return result.isOk() ? (*result)->identity : IdentityConfig{};
  }

  // Loads `text`, expects an InvalidArgument error at LINE:COL whose message has `fragment`.
  void expectError(const std::string& text, int line, int col, const std::string& fragment) {
    auto result = loadText(text);
    ASSERT_FALSE(result.isOk()) << "loaded without error:\n" << text;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    const std::string& msg = result.status().message();
    const std::string prefix =
        config_path_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << "expected prefix '" << prefix << "' in: " << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
  }

  fs::path dir_;
  std::string config_path_;
};

// Every field of a provider that the YAML leaves out keeps the schema's default.
void expectCommonDefaults(const ProviderConfig& p) {
  const ProviderConfig d;
  EXPECT_EQ(p.require_exp, d.require_exp);
  EXPECT_EQ(p.leeway, seconds(60));
  EXPECT_EQ(p.max_lifetime, seconds(0));
  EXPECT_TRUE(p.typ.empty());
  EXPECT_TRUE(p.audiences.empty());
  EXPECT_TRUE(p.required_claims.empty());
  EXPECT_EQ(p.claims.subject, "sub");
  EXPECT_TRUE(p.claims.groups.empty());
  EXPECT_FALSE(p.claims.groups_space_separated);
  EXPECT_EQ(p.claims.name, "name");
  EXPECT_EQ(p.claims.email, "email");
  EXPECT_EQ(p.claims.mfa_amr, (std::vector<std::string>{"mfa", "otp", "hwk", "swk"}));
  EXPECT_TRUE(p.claims.mfa_acr.empty());
  EXPECT_EQ(p.max_token_bytes, 8192u);
  EXPECT_EQ(p.refresh_min, minutes(5));
  EXPECT_EQ(p.refresh_max, hours(24));
  EXPECT_EQ(p.unknown_kid_min_interval, seconds(30));
  EXPECT_EQ(p.max_staleness, hours(24));
  EXPECT_EQ(p.fetch_timeout, seconds(5));
  EXPECT_EQ(p.cache_max_ttl, minutes(5));
  EXPECT_EQ(p.negative_cache_ttl, seconds(10));
  EXPECT_EQ(p.certificate_subject, "san_uri");
}

// ---- valid configs ---------------------------------------------------------------------

TEST_F(IdentityLoaderTest, NoIdentitySectionMeansNoProviders) {
  const IdentityConfig id = loadOk(kPlainListener);
  EXPECT_TRUE(id.providers.empty());
  EXPECT_EQ(id.token_cache_size, 10000u);
}

TEST_F(IdentityLoaderTest, OidcDefaults) {
  const IdentityConfig id = loadOk(config(kOidc));
  EXPECT_EQ(id.token_cache_size, 10000u);
  ASSERT_EQ(id.providers.size(), 1u);
  const ProviderConfig& p = id.providers[0];
  EXPECT_EQ(p.name, "corp");
  EXPECT_EQ(p.type, ProviderType::kOidc);
  EXPECT_EQ(p.issuer, "https://idp.example.com/realms/corp");
  EXPECT_EQ(p.algorithms, std::vector<std::string>{"RS256"});
  EXPECT_TRUE(p.jwks_uri.empty());
  EXPECT_TRUE(p.jwks_file.empty());
  EXPECT_TRUE(p.secret_file.empty());
  EXPECT_TRUE(p.ca_file.empty());
  expectCommonDefaults(p);
}

TEST_F(IdentityLoaderTest, TypeDefaultsToOidc) {
  const IdentityConfig id =
      loadOk(config({"name: corp", "issuer: https://idp.example.com", "algorithms: [ES256]"}));
  ASSERT_EQ(id.providers.size(), 1u);
  EXPECT_EQ(id.providers[0].type, ProviderType::kOidc);
}

TEST_F(IdentityLoaderTest, OidcFull) {
  writeFile("certs/idp-ca.pem", "ca");
  const std::string text = std::string(kPlainListener) +
                           "identity:\n"
                           "  token_cache_size: 500\n"
                           "  providers:\n"
                           "    - name: corp\n"
                           "      type: oidc\n"
                           "      issuer: https://idp.example.com/realms/corp\n"
                           "      audiences: [workflow-api, account]\n"
                           "      algorithms: [RS256, ES256, PS256, EdDSA]\n"
                           "      ca_file: certs/idp-ca.pem\n"
                           "      require_exp: false\n"
                           "      leeway: 5m\n"
                           "      max_lifetime: 12h\n"
                           "      typ: at+jwt\n"
                           "      required_claims: [{name: tenant, any_of: [acme, globex]},"
                           " {name: email_verified}, {name: /org/id}]\n"
                           "      claims: {subject: preferred_username, groups: "
                           "/realm_access/roles, groups_space_separated: false, name: "
                           "given_name, email: '', mfa_amr: [hwk], mfa_acr: [gold]}\n"
                           "      max_token_bytes: 16KiB\n"
                           "      refresh_min: 1m\n"
                           "      refresh_max: 1m\n"
                           "      unknown_kid_min_interval: 1s\n"
                           "      max_staleness: 0s\n"
                           "      fetch_timeout: 2s\n";
  const IdentityConfig id = loadOk(text);
  EXPECT_EQ(id.token_cache_size, 500u);
  ASSERT_EQ(id.providers.size(), 1u);
  const ProviderConfig& p = id.providers[0];
  EXPECT_EQ(p.audiences, (std::vector<std::string>{"workflow-api", "account"}));
  EXPECT_EQ(p.algorithms, (std::vector<std::string>{"RS256", "ES256", "PS256", "EdDSA"}));
  EXPECT_EQ(p.ca_file, path("certs/idp-ca.pem"));
  EXPECT_FALSE(p.require_exp);
  EXPECT_EQ(p.leeway, minutes(5));
  EXPECT_EQ(p.max_lifetime, hours(12));
  EXPECT_EQ(p.typ, "at+jwt");
  ASSERT_EQ(p.required_claims.size(), 3u);
  EXPECT_EQ(p.required_claims[0].name, "tenant");
  EXPECT_EQ(p.required_claims[0].any_of, (std::vector<std::string>{"acme", "globex"}));
  EXPECT_EQ(p.required_claims[1].name, "email_verified");
  EXPECT_TRUE(p.required_claims[1].any_of.empty());
  EXPECT_EQ(p.required_claims[2].name, "/org/id");
  EXPECT_EQ(p.claims.subject, "preferred_username");
  EXPECT_EQ(p.claims.groups, "/realm_access/roles");
  EXPECT_EQ(p.claims.name, "given_name");
  EXPECT_EQ(p.claims.email, "");
  EXPECT_EQ(p.claims.mfa_amr, std::vector<std::string>{"hwk"});
  EXPECT_EQ(p.claims.mfa_acr, std::vector<std::string>{"gold"});
  EXPECT_EQ(p.max_token_bytes, 16384u);
  EXPECT_EQ(p.refresh_min, minutes(1));
  EXPECT_EQ(p.refresh_max, minutes(1));
  EXPECT_EQ(p.unknown_kid_min_interval, seconds(1));
  EXPECT_EQ(p.max_staleness, seconds(0));
  EXPECT_EQ(p.fetch_timeout, seconds(2));
}

TEST_F(IdentityLoaderTest, JwtWithJwksUri) {
  const IdentityConfig id = loadOk(
      config({"name: cognito", "type: jwt",
              "issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
              "jwks_uri: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/"
              "jwks.json",
              "algorithms: [RS256]", "claims: {groups: 'cognito:groups', subject: username}",
              "refresh_max: 1h", "fetch_timeout: 10s"}));
  ASSERT_EQ(id.providers.size(), 1u);
  const ProviderConfig& p = id.providers[0];
  EXPECT_EQ(p.type, ProviderType::kJwt);
  EXPECT_EQ(p.jwks_uri,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json");
  EXPECT_EQ(p.claims.groups, "cognito:groups");
  EXPECT_EQ(p.claims.subject, "username");
  EXPECT_EQ(p.refresh_max, hours(1));
  EXPECT_EQ(p.fetch_timeout, seconds(10));
}

TEST_F(IdentityLoaderTest, JwtWithJwksFileIsRelativeToTheConfig) {
  writeFile("keys/jwks.json", "{}");
  const IdentityConfig id =
      loadOk(config({"name: ci", "type: jwt", "issuer: https://ci.example.com",
                     "jwks_file: keys/../keys/jwks.json", "algorithms: [ES256, ES384]"}));
  ASSERT_EQ(id.providers.size(), 1u);
  const ProviderConfig& p = id.providers[0];
  EXPECT_EQ(p.jwks_file, path("keys/jwks.json"));
  EXPECT_TRUE(p.jwks_uri.empty());
  expectCommonDefaults(p);
}

TEST_F(IdentityLoaderTest, JwtWithSharedSecret) {
  writeSecret("keys/hs.secret");
  const IdentityConfig id = loadOk(config(
      {"name: dev", "type: jwt", "issuer: http://localhost:9000", "secret_file: keys/hs.secret",
       "algorithms: [HS256, HS512]", "audiences: [stepgate]"}));
  ASSERT_EQ(id.providers.size(), 1u);
  const ProviderConfig& p = id.providers[0];
  EXPECT_EQ(p.secret_file, path("keys/hs.secret"));
  EXPECT_EQ(p.algorithms, (std::vector<std::string>{"HS256", "HS512"}));
  EXPECT_EQ(p.audiences, std::vector<std::string>{"stepgate"});
}

TEST_F(IdentityLoaderTest, IntrospectionFullAndDefaults) {
  writeSecret("keys/introspection.secret");
  writeFile("certs/idp-ca.pem", "ca");
  const IdentityConfig one =
      loadOk(config({"name: opaque", "type: introspection", "issuer: https://idp.example.com",
                     "introspection_endpoint: "
                     "https://idp.example.com/oauth2/introspect",
                     "client_id: stepgate", "client_secret_file: keys/introspection.secret"}));
  ASSERT_EQ(one.providers.size(), 1u);
  const ProviderConfig& p = one.providers[0];
  EXPECT_EQ(p.type, ProviderType::kIntrospection);
  EXPECT_EQ(p.introspection_endpoint, "https://idp.example.com/oauth2/introspect");
  EXPECT_EQ(p.client_id, "stepgate");
  EXPECT_EQ(p.client_secret_file, path("keys/introspection.secret"));
  EXPECT_TRUE(p.algorithms.empty());
  expectCommonDefaults(p);

  const IdentityConfig full =
      loadOk(config({"name: opaque-full", "type: introspection", "issuer: https://idp2.example.com",
                     "introspection_endpoint: http://127.0.0.1:9000/introspect", "client_id: gw",
                     "client_secret_file: keys/introspection.secret", "ca_file: certs/idp-ca.pem",
                     "audiences: [api]", "require_exp: false", "leeway: 10s",
                     "claims: {groups: scope, groups_space_separated: true}",
                     "required_claims: [{name: active}]", "max_token_bytes: 1KiB",
                     "fetch_timeout: 1s", "cache_max_ttl: 1m", "negative_cache_ttl: 0s"}));
  ASSERT_EQ(full.providers.size(), 1u);
  const ProviderConfig& f = full.providers[0];
  EXPECT_EQ(f.ca_file, path("certs/idp-ca.pem"));
  EXPECT_FALSE(f.require_exp);
  EXPECT_EQ(f.leeway, seconds(10));
  EXPECT_EQ(f.claims.groups, "scope");
  EXPECT_TRUE(f.claims.groups_space_separated);
  EXPECT_EQ(f.max_token_bytes, 1024u);
  EXPECT_EQ(f.fetch_timeout, seconds(1));
  EXPECT_EQ(f.cache_max_ttl, minutes(1));
  EXPECT_EQ(f.negative_cache_ttl, seconds(0));
}

TEST_F(IdentityLoaderTest, MtlsWithAClientCaListener) {
  const IdentityConfig id = loadOk(configWith({{"name: workers", "type: mtls"}}, kMtlsListener));
  ASSERT_EQ(id.providers.size(), 1u);
  EXPECT_EQ(id.providers[0].type, ProviderType::kMtls);
  EXPECT_EQ(id.providers[0].certificate_subject, "san_uri");
  EXPECT_TRUE(id.providers[0].issuer.empty());
  expectCommonDefaults(id.providers[0]);

  const IdentityConfig dn = loadOk(configWith(
      {{"name: workers", "type: mtls", "certificate_subject: subject_dn"}}, kMtlsListener));
  ASSERT_EQ(dn.providers.size(), 1u);
  EXPECT_EQ(dn.providers[0].certificate_subject, "subject_dn");
}

TEST_F(IdentityLoaderTest, OneProviderOfEachType) {
  writeSecret("keys/hs.secret");
  writeSecret("keys/introspection.secret");
  const IdentityConfig id = loadOk(configWith(
      std::vector<Provider>{
          kOidc,
          {"name: dev", "type: jwt", "issuer: http://127.0.0.1:9000", "secret_file: keys/hs.secret",
           "algorithms: [HS256]"},
          {"name: opaque", "type: introspection", "issuer: https://login.example.org",
           "introspection_endpoint: https://login.example.org/introspect", "client_id: sg",
           "client_secret_file: keys/introspection.secret"},
          {"name: spiffe", "type: mtls", "certificate_subject: san_uri"}},
      kMtlsListener));
  ASSERT_EQ(id.providers.size(), 4u);
  EXPECT_EQ(id.providers[0].type, ProviderType::kOidc);
  EXPECT_EQ(id.providers[1].type, ProviderType::kJwt);
  EXPECT_EQ(id.providers[2].type, ProviderType::kIntrospection);
  EXPECT_EQ(id.providers[3].type, ProviderType::kMtls);
}

TEST_F(IdentityLoaderTest, LoopbackHttpIssuersAreAllowed) {
  for (const char* issuer : {"http://127.0.0.1:8080/realms/x", "http://127.3.4.5",
                             "http://localhost:9000", "http://[::1]:9000/issuer"}) {
    const IdentityConfig id = loadOk(
        config({"name: corp", std::string("issuer: '") + issuer + "'", "algorithms: [RS256]"}));
    ASSERT_EQ(id.providers.size(), 1u) << issuer;
    EXPECT_EQ(id.providers[0].issuer, issuer);
  }
}

TEST_F(IdentityLoaderTest, MaxTokenBytesBoundsAreInclusive) {
  for (const char* size : {"1KiB", "65536"}) {
    Provider p = kOidc;
    p.push_back(std::string("max_token_bytes: ") + size);
    EXPECT_EQ(loadOk(config(p)).providers.size(), 1u) << size;
  }
}

// ---- errors ----------------------------------------------------------------------------

TEST_F(IdentityLoaderTest, UnknownKeysSuggestTheClosest) {
  expectError(std::string(kPlainListener) + "identity:\n  provider: []\n", 7, 3,
              "unknown key 'provider' (did you mean 'providers'?)");
  Provider p = kOidc;
  p.push_back("jwks_ur: https://idp.example.com/jwks");
  expectError(config(p), 12, 7, "unknown key 'jwks_ur' (did you mean 'jwks_uri'?)");
  p = kOidc;
  p.push_back("claims: {subjet: sub}");
  expectError(config(p), 12, 16, "unknown key 'subjet' (did you mean 'subject'?)");
  p = kOidc;
  p.push_back("required_claims: [{nme: tenant}]");
  expectError(config(p), 12, 26, "unknown key 'nme' (did you mean 'name'?)");
}

TEST_F(IdentityLoaderTest, WrongTypes) {
  Provider p = kOidc;
  p.push_back("require_exp: yes");
  expectError(config(p), 12, 20, "expected a boolean (true/false), got 'yes'");
  p = kOidc;
  p.push_back("audiences: workflow-api");
  expectError(config(p), 12, 18, "expected a list of strings");
  p = kOidc;
  p.push_back("leeway: 60");
  expectError(config(p), 12, 15, "expected a duration");
  expectError(
      std::string(kPlainListener) + "identity:\n  token_cache_size: many\n  providers: []\n", 7, 21,
      "expected an integer");
  expectError(std::string(kPlainListener) + "identity: []\n", 6, 11, "expected a map");
  expectError(std::string(kPlainListener) + "identity:\n  providers: []\n", 7, 14,
              "at least one provider");
  expectError(std::string(kPlainListener) + "identity:\n  token_cache_size: 5\n", 7, 3,
              "missing required key 'providers'");
}

TEST_F(IdentityLoaderTest, ProviderNameAndType) {
  expectError(config({"name: Corp", "issuer: https://a.example.com", "algorithms: [RS256]"}), 8, 13,
              "provider name 'Corp' must be 1 to 64 of a-z, 0-9, '_' and '-'");
  expectError(config({"type: oidc", "issuer: https://a.example.com", "algorithms: [RS256]"}), 8, 7,
              "missing required key 'name'");
  expectError(config({"name: corp", "type: saml", "issuer: https://a.example.com"}), 9, 13,
              "unknown provider type 'saml'; expected one of: jwt, oidc, introspection, mtls");
}

TEST_F(IdentityLoaderTest, AlgNoneIsRefusedByName) {
  expectError(config({"name: corp", "issuer: https://a.example.com", "algorithms: [RS256, none]"}),
              10, 27, "algorithm 'none' is never accepted");
  expectError(config({"name: corp", "issuer: https://a.example.com", "algorithms: [NoNe]"}), 10, 20,
              "algorithm 'NoNe' is never accepted");
}

TEST_F(IdentityLoaderTest, UnknownAlgorithm) {
  expectError(config({"name: corp", "issuer: https://a.example.com", "algorithms: [rs256]"}), 10,
              20, "unknown algorithm 'rs256' (did you mean 'RS256'?)");
  expectError(config({"name: corp", "issuer: https://a.example.com", "algorithms: [X, X]"}), 10, 20,
              "unknown algorithm 'X'; expected some of: RS256");
  expectError(config({"name: corp", "issuer: https://a.example.com", "algorithms: [ES256, ES256]"}),
              10, 27, "algorithm 'ES256' is listed twice");
}

TEST_F(IdentityLoaderTest, HmacMixedWithAsymmetricIsRefused) {
  writeSecret("hs.secret");
  expectError(config({"name: dev", "type: jwt", "issuer: https://a.example.com",
                      "secret_file: hs.secret", "algorithms: [HS256, RS256]"}),
              12, 19, "'HS256' cannot be mixed with 'RS256'");
  expectError(config({"name: dev", "type: jwt", "issuer: https://a.example.com",
                      "secret_file: hs.secret", "algorithms: [RS256]"}),
              12, 19, "a provider with secret_file needs HS256, HS384 or HS512");
}

TEST_F(IdentityLoaderTest, HmacNeedsASecretFile) {
  expectError(config({"name: corp", "type: oidc", "issuer: https://a.example.com",
                      "algorithms: [RS256, HS256]"}),
              11, 27,
              "'HS256' needs secret_file: HMAC algorithms are verified only with a "
              "configured shared secret, never with a public key (an oidc provider");
  writeFile("jwks.json", "{}");
  expectError(config({"name: corp", "type: jwt", "issuer: https://a.example.com",
                      "jwks_file: jwks.json", "algorithms: [HS384]"}),
              12, 20, "'HS384' needs secret_file");
}

TEST_F(IdentityLoaderTest, JwtNeedsExactlyOneKeySource) {
  writeFile("jwks.json", "{}");
  expectError(config({"name: corp", "type: jwt", "issuer: https://a.example.com",
                      "jwks_uri: https://a.example.com/jwks", "algorithms: [RS256]",
                      "jwks_file: jwks.json"}),
              13, 7,
              "'jwks_uri' and 'jwks_file' are both set; a jwt provider takes exactly "
              "one of jwks_uri, jwks_file, secret_file");
  expectError(
      config({"name: corp", "type: jwt", "issuer: https://a.example.com", "algorithms: [RS256]"}),
      8, 7, "a jwt provider needs exactly one of jwks_uri, jwks_file, secret_file");
}

TEST_F(IdentityLoaderTest, FetchSettingsNeedJwksUri) {
  writeFile("jwks.json", "{}");
  expectError(config({"name: corp", "type: jwt", "issuer: https://a.example.com",
                      "jwks_file: jwks.json", "algorithms: [RS256]", "refresh_min: 1m"}),
              13, 7, "'refresh_min' applies only to a jwt provider with jwks_uri");
}

TEST_F(IdentityLoaderTest, KeysThatDoNotApplyToTheType) {
  Provider p = kOidc;
  p.push_back("jwks_uri: https://idp.example.com/jwks");
  expectError(config(p), 12, 7,
              "'jwks_uri' does not apply to a provider of type oidc; its keys come from the "
              "issuer's discovery document");
  expectError(config({"name: corp", "issuer: https://a.example.com", "algorithms: [RS256]",
                      "secret_file: x"}),
              11, 7, "'secret_file' does not apply to a provider of type oidc (the default)");
  expectError(
      configWith({{"name: m", "type: mtls", "issuer: https://a.example.com"}}, kMtlsListener), 13,
      7, "'issuer' does not apply to a provider of type mtls");
  expectError(config({"name: i", "type: introspection", "algorithms: [RS256]"}), 10, 7,
              "'algorithms' does not apply to a provider of type introspection");
  Provider cert = kOidc;
  cert.push_back("certificate_subject: san_dns");
  expectError(config(cert), 12, 7,
              "'certificate_subject' does not apply to a provider of type oidc");
}

TEST_F(IdentityLoaderTest, MissingOrEmptyAlgorithms) {
  expectError(config({"name: corp", "type: oidc", "issuer: https://a.example.com"}), 8, 7,
              "missing required key 'algorithms'");
  expectError(
      config({"name: corp", "type: oidc", "issuer: https://a.example.com", "algorithms: []"}), 11,
      19, "algorithms must list at least one algorithm");
  expectError(config({"name: corp", "type: oidc", "algorithms: [RS256]"}), 8, 7,
              "missing required key 'issuer'");
}

TEST_F(IdentityLoaderTest, IssuerMustBeAnHttpsUrl) {
  expectError(config({"name: corp", "issuer: ftp://idp.example.com", "algorithms: [RS256]"}), 9, 15,
              "issuer: 'ftp://idp.example.com' is not an https:// URL");
  expectError(config({"name: corp", "issuer: idp.example.com", "algorithms: [RS256]"}), 9, 15,
              "is not an https:// URL");
  expectError(
      config({"name: corp", "issuer: 'https://idp.example.com/?realm=x'", "algorithms: [RS256]"}),
      9, 15, "must not have a query or fragment");
  expectError(config({"name: corp", "issuer: 'https://idp.example.com/#x'", "algorithms: [RS256]"}),
              9, 15, "must not have a query or fragment");
  expectError(
      config({"name: corp", "issuer: 'https://user@idp.example.com'", "algorithms: [RS256]"}), 9,
      15, "must not contain user info");
  expectError(config({"name: corp", "issuer: 'https://:443/x'", "algorithms: [RS256]"}), 9, 15,
              "bad host ''");
  expectError(
      config({"name: corp", "issuer: 'https://idp.example.com:99999'", "algorithms: [RS256]"}), 9,
      15, "bad port '99999'");
}

TEST_F(IdentityLoaderTest, HttpOnlyOnLoopback) {
  expectError(config({"name: corp", "issuer: http://idp.example.com", "algorithms: [RS256]"}), 9,
              15, "uses http on a host that is not loopback; use https");
  expectError(config({"name: corp", "issuer: http://128.0.0.1", "algorithms: [RS256]"}), 9, 15,
              "not loopback");
  expectError(config({"name: corp", "issuer: 'http://[::2]/'", "algorithms: [RS256]"}), 9, 15,
              "not loopback");
  expectError(config({"name: corp", "type: jwt", "issuer: https://a.example.com",
                      "jwks_uri: http://a.example.com/jwks", "algorithms: [RS256]"}),
              11, 17,
              "jwks_uri: 'http://a.example.com/jwks' uses http on a host that is not "
              "loopback");
  writeSecret("client.secret");
  expectError(config({"name: i", "type: introspection", "issuer: https://a.example.com",
                      "introspection_endpoint: http://a.example.com/introspect", "client_id: x",
                      "client_secret_file: client.secret"}),
              11, 31, "introspection_endpoint: 'http://a.example.com/introspect' uses http");
}

TEST_F(IdentityLoaderTest, SecretFilesMustNotBeWorldReadable) {
  writeFile("hs.secret", "0123456789abcdef0123456789abcdef");  // mode 0644
  expectError(config({"name: dev", "type: jwt", "issuer: https://a.example.com",
                      "secret_file: hs.secret", "algorithms: [HS256]"}),
              11, 20, "is readable by every user (mode 0644); a secret must not be");
  writeFile("client.secret", "s3cret", fs::perms::owner_read | fs::perms::others_read);
  expectError(config({"name: i", "type: introspection", "issuer: https://a.example.com",
                      "introspection_endpoint: https://a.example.com/introspect", "client_id: x",
                      "client_secret_file: client.secret"}),
              13, 27,
              "client_secret_file: 'client.secret' (" + path("client.secret") +
                  ") is readable by every user (mode 0404)");
  // Group-readable is the operator's choice (a stepgate group).
  writeFile("group.secret", "0123456789abcdef0123456789abcdef",
            fs::perms::owner_read | fs::perms::group_read);
  EXPECT_EQ(loadOk(config({"name: dev", "type: jwt", "issuer: https://a.example.com",
                           "secret_file: group.secret", "algorithms: [HS256]"}))
                .providers.size(),
            1u);
}

TEST_F(IdentityLoaderTest, SharedSecretsMustBeLongEnough) {
  writeFile("short.secret", "s3cret", fs::perms::owner_read | fs::perms::owner_write);
  expectError(config({"name: dev", "type: jwt", "issuer: https://a.example.com",
                      "secret_file: short.secret", "algorithms: [HS256]"}),
              11, 20, "a shared secret must be 32 to 1024 bytes (this one has 6)");
}

TEST_F(IdentityLoaderTest, ReferencedFilesMustExist) {
  expectError(config({"name: corp", "type: jwt", "issuer: https://a.example.com",
                      "jwks_file: keys/missing.json", "algorithms: [RS256]"}),
              11, 18,
              "jwks_file: cannot read 'keys/missing.json' (" + path("keys/missing.json") +
                  "): No such file or directory");
  fs::create_directories(dir_ / "keys");
  expectError(config({"name: corp", "type: jwt", "issuer: https://a.example.com", "jwks_file: keys",
                      "algorithms: [RS256]"}),
              11, 18, "is not a regular file");
  Provider p = kOidc;
  p.push_back("ca_file: certs/none.pem");
  expectError(config(p), 12, 16, "ca_file: cannot read 'certs/none.pem'");
}

TEST_F(IdentityLoaderTest, IntrospectionRequiredKeys) {
  writeSecret("client.secret");
  expectError(config({"name: i", "type: introspection", "issuer: https://a.example.com",
                      "client_id: x", "client_secret_file: client.secret"}),
              8, 7, "missing required key 'introspection_endpoint'");
  expectError(config({"name: i", "type: introspection", "issuer: https://a.example.com",
                      "introspection_endpoint: https://a.example.com/i",
                      "client_secret_file: client.secret"}),
              8, 7, "missing required key 'client_id'");
  expectError(config({"name: i", "type: introspection", "issuer: https://a.example.com",
                      "introspection_endpoint: https://a.example.com/i", "client_id: x"}),
              8, 7, "missing required key 'client_secret_file'");
  expectError(
      config({"name: i", "type: introspection", "introspection_endpoint: https://a.example.com/i",
              "client_id: x", "client_secret_file: client.secret"}),
      8, 7, "missing required key 'issuer'");
}

// An introspection provider without its client authentication keys; lines 8 to 12.
const Provider kIntrospectionBase = {"name: i", "type: introspection",
                                     "issuer: https://a.example.com",
                                     "introspection_endpoint: https://a.example.com/i",
                                     "client_id: x"};

Provider introspectionWith(std::initializer_list<std::string> extra) {
  Provider p = kIntrospectionBase;
  p.insert(p.end(), extra);
  return p;
}

TEST_F(IdentityLoaderTest, IntrospectionClientAuthDefaultsToClientSecretBasic) {
  writeSecret("client.secret");
  const IdentityConfig id =
      loadOk(config(introspectionWith({"client_secret_file: client.secret"})));
  ASSERT_EQ(id.providers.size(), 1u);
  const ProviderConfig& p = id.providers[0];
  EXPECT_EQ(p.client_auth, IntrospectionClientAuth::kClientSecretBasic);
  EXPECT_EQ(p.client_secret_file, path("client.secret"));
  EXPECT_TRUE(p.client_key_file.empty());
  EXPECT_EQ(p.client_key_alg, "ES256");
  const IdentityConfig named = loadOk(config(
      introspectionWith({"client_auth: client_secret_basic", "client_secret_file: client.secret"})));
  EXPECT_EQ(named.providers[0].client_auth, IntrospectionClientAuth::kClientSecretBasic);
}

TEST_F(IdentityLoaderTest, IntrospectionPrivateKeyJwt) {
  // The loader does not parse keys (the Introspector does); any private file will do here.
  writeSecret("keys/client.pem");
  const IdentityConfig id = loadOk(config(
      introspectionWith({"client_auth: private_key_jwt", "client_key_file: keys/client.pem"})));
  ASSERT_EQ(id.providers.size(), 1u);
  const ProviderConfig& p = id.providers[0];
  EXPECT_EQ(p.client_auth, IntrospectionClientAuth::kPrivateKeyJwt);
  EXPECT_EQ(p.client_key_file, path("keys/client.pem"));
  EXPECT_EQ(p.client_key_alg, "ES256");
  EXPECT_TRUE(p.client_secret_file.empty());
  for (const char* alg : {"ES256", "ES384", "RS256", "PS256", "EdDSA"}) {
    const IdentityConfig with_alg = loadOk(
        config(introspectionWith({"client_auth: private_key_jwt",
                                  "client_key_file: keys/client.pem",
                                  std::string("client_key_alg: ") + alg})));
    ASSERT_EQ(with_alg.providers.size(), 1u);
    EXPECT_EQ(with_alg.providers[0].client_key_alg, alg);
  }
}

TEST_F(IdentityLoaderTest, IntrospectionClientAuthErrors) {
  writeSecret("client.secret");
  writeSecret("client.pem");
  expectError(config(introspectionWith({"client_auth: tls_client_auth",
                                        "client_secret_file: client.secret"})),
              13, 20,
              "unknown client_auth 'tls_client_auth'; expected one of: client_secret_basic, "
              "private_key_jwt");
  // The keys of the other method do not apply.
  expectError(config(introspectionWith({"client_auth: private_key_jwt",
                                        "client_key_file: client.pem",
                                        "client_secret_file: client.secret"})),
              15, 7, "'client_secret_file' does not apply to client_auth private_key_jwt");
  expectError(config(introspectionWith({"client_secret_file: client.secret",
                                        "client_key_file: client.pem"})),
              14, 7,
              "'client_key_file' does not apply to client_auth client_secret_basic (the default)");
  expectError(config(introspectionWith({"client_auth: client_secret_basic",
                                        "client_secret_file: client.secret",
                                        "client_key_alg: ES256"})),
              15, 7, "'client_key_alg' does not apply to client_auth client_secret_basic");
  // Required with private_key_jwt.
  expectError(config(introspectionWith({"client_auth: private_key_jwt"})), 8, 7,
              "missing required key 'client_key_file'");
  expectError(config(introspectionWith({"client_auth: private_key_jwt",
                                        "client_key_file: missing.pem"})),
              14, 24, "client_key_file: cannot read 'missing.pem'");
  // The key is a secret.
  writeFile("open.pem", "key");  // mode 0644
  expectError(config(introspectionWith({"client_auth: private_key_jwt",
                                        "client_key_file: open.pem"})),
              14, 24, "is readable by every user (mode 0644)");
  // client_key_alg: one of the five.
  expectError(config(introspectionWith({"client_auth: private_key_jwt",
                                        "client_key_file: client.pem", "client_key_alg: RS512"})),
              15, 23, "unknown client_key_alg 'RS512'");
  expectError(config(introspectionWith({"client_auth: private_key_jwt",
                                        "client_key_file: client.pem", "client_key_alg: HS256"})),
              15, 23, "unknown client_key_alg 'HS256'");
  expectError(config(introspectionWith({"client_auth: private_key_jwt",
                                        "client_key_file: client.pem", "client_key_alg: es256"})),
              15, 23, "unknown client_key_alg 'es256' (did you mean 'ES256'?)");
  // Only introspection providers have a client.
  Provider oidc = kOidc;
  oidc.push_back("client_key_alg: ES256");
  expectError(config(oidc), 12, 7, "'client_key_alg' does not apply to a provider of type oidc");
  Provider oidc2 = kOidc;
  oidc2.push_back("client_auth: private_key_jwt");
  expectError(config(oidc2), 12, 7, "'client_auth' does not apply to a provider of type oidc");
}

TEST_F(IdentityLoaderTest, MtlsNeedsAListenerWithClientCa) {
  expectError(config({"name: workers", "type: mtls"}), 8, 7,
              "mtls provider 'workers' needs a TLS listener with client_ca");
  const std::string no_auth =
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    tls:\n"
      "      certificates: [{cert: certs/server.pem, key: certs/server.key}]\n"
      "      client_ca: certs/clients.pem\n"
      "      client_auth: none\n"
      "upstreams:\n"
      "  conductor:\n"
      "    url: http://127.0.0.1:8080\n";
  expectError(configWith({{"name: workers", "type: mtls"}}, no_auth), 12, 7,
              "needs a TLS listener with client_ca (and client_auth optional or required)");
}

TEST_F(IdentityLoaderTest, BadCertificateSubject) {
  expectError(
      configWith({{"name: workers", "type: mtls", "certificate_subject: cn"}}, kMtlsListener), 13,
      28, "unknown certificate_subject 'cn'; expected one of: san_uri, san_dns, subject_dn");
}

TEST_F(IdentityLoaderTest, AtMostOneMtlsAndOneIntrospectionProvider) {
  expectError(configWith({{"name: a", "type: mtls"}, {"name: b", "type: mtls"}}, kMtlsListener), 13,
              7, "at most one mtls provider is allowed");
  writeSecret("client.secret");
  const Provider i1 = {"name: i1",
                       "type: introspection",
                       "issuer: https://a.example.com",
                       "introspection_endpoint: https://a.example.com/i",
                       "client_id: x",
                       "client_secret_file: client.secret"};
  Provider i2 = i1;
  i2[0] = "name: i2";
  i2[2] = "issuer: https://b.example.com";
  expectError(configWith(std::vector<Provider>{i1, i2}), 14, 7,
              "at most one introspection provider is allowed (an opaque token names no issuer "
              "to route it by); 'i1' is at " +
                  config_path_ + ":8:7");
}

TEST_F(IdentityLoaderTest, DuplicateProviderName) {
  Provider second = kOidc;
  second[2] = "issuer: https://other.example.com";
  expectError(configWith(std::vector<Provider>{kOidc, second}), 12, 13,
              "duplicate provider name 'corp' (first at " + config_path_ + ":8:13)");
}

TEST_F(IdentityLoaderTest, DuplicateIssuer) {
  Provider second = kOidc;
  second[0] = "name: corp2";
  second[1] = "type: jwt";
  second.push_back("jwks_uri: https://idp.example.com/jwks");
  expectError(configWith(std::vector<Provider>{kOidc, second}), 14, 15,
              "issuer 'https://idp.example.com/realms/corp' is already used by provider 'corp' "
              "(at " +
                  config_path_ + ":10:15); tokens are routed to providers by their iss");
  // Exact strings: a trailing slash is another issuer.
  second[2] = "issuer: https://idp.example.com/realms/corp/";
  EXPECT_EQ(loadOk(configWith(std::vector<Provider>{kOidc, second})).providers.size(), 2u);
}

TEST_F(IdentityLoaderTest, LeewayAtMostFiveMinutes) {
  Provider p = kOidc;
  p.push_back("leeway: 301s");
  expectError(config(p), 12, 15, "leeway 301s is too large (at most 5m)");
}

TEST_F(IdentityLoaderTest, RefreshBounds) {
  Provider p = kOidc;
  p.push_back("refresh_min: 10m");
  p.push_back("refresh_max: 5m");
  expectError(config(p), 13, 20, "refresh_max (5m) must be at least refresh_min (10m)");
  p = kOidc;
  p.push_back("refresh_min: 25h");  // above the default refresh_max
  expectError(config(p), 12, 20, "refresh_max (24h) must be at least refresh_min (25h)");
  p = kOidc;
  p.push_back("refresh_min: 0s");
  expectError(config(p), 12, 20, "refresh_min must be greater than zero");
  p = kOidc;
  p.push_back("unknown_kid_min_interval: 500ms");
  expectError(config(p), 12, 33, "unknown_kid_min_interval must be at least 1s");
  p = kOidc;
  p.push_back("fetch_timeout: 0s");
  expectError(config(p), 12, 22, "fetch_timeout must be greater than zero");
}

TEST_F(IdentityLoaderTest, MaxTokenBytesOutOfRange) {
  Provider p = kOidc;
  p.push_back("max_token_bytes: 1023");
  expectError(config(p), 12, 24, "max_token_bytes 1023 is out of range (1KiB..64KiB)");
  p = kOidc;
  p.push_back("max_token_bytes: 65KiB");
  expectError(config(p), 12, 24, "max_token_bytes 66560 is out of range (1KiB..64KiB)");
  p = kOidc;
  p.push_back("max_token_bytes: 1GiB");
  expectError(config(p), 12, 24, "size out of range");
}

TEST_F(IdentityLoaderTest, ClaimMappingAndRequiredClaims) {
  Provider p = kOidc;
  p.push_back("claims: {groups: /realm_access//roles}");
  expectError(config(p), 12, 24, "JSON pointer '/realm_access//roles' has an empty segment");
  p = kOidc;
  p.push_back("claims: {groups: '/a~2b'}");
  expectError(config(p), 12, 24, "'~' must be followed by 0 or 1");
  p = kOidc;
  p.push_back("claims: {subject: ''}");
  expectError(config(p), 12, 25, "a claim name must not be empty");
  p = kOidc;
  p.push_back("claims: {groups_space_separated: true}");
  expectError(config(p), 12, 40, "groups_space_separated needs claims.groups");
  p = kOidc;
  p.push_back("required_claims: [{name: tenant}, {name: tenant, any_of: [x]}]");
  expectError(config(p), 12, 48, "required claim 'tenant' is listed twice");
  p = kOidc;
  p.push_back("required_claims: [{name: tenant, any_of: []}]");
  expectError(config(p), 12, 48, "any_of must not be empty");
  p = kOidc;
  p.push_back("required_claims: {name: tenant}");
  expectError(config(p), 12, 24, "required_claims: expected a list of {name, any_of} maps");
}

// The identity block of the shipped example loads and means what its comments say.
TEST_F(IdentityLoaderTest, DeployExampleIdentity) {
  const char* env = getenv("STEPGATE_SOURCE_DIR");
  std::ifstream in(std::string(env != nullptr ? env : STEPGATE_SOURCE_DIR) +
                   "/deploy/stepgate.example.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_FALSE(ss.str().empty());
  for (const char* file : {"certs/internal.pem", "certs/internal.key", "certs/clients-ca.pem",
                           "certs/upstream-ca.pem"}) {
    writeFile(file, "placeholder");
  }
  const IdentityConfig id = loadOk(ss.str());
  ASSERT_GE(id.providers.size(), 2u);
  EXPECT_EQ(id.providers[0].type, ProviderType::kOidc);
  EXPECT_EQ(id.providers[0].claims.groups, "/realm_access/roles");
  EXPECT_EQ(id.providers.back().type, ProviderType::kMtls);
}

}  // namespace
}  // namespace stepgate::config
