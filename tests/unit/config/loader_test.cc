#include "config/loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace stepgate::config {
namespace {

namespace fs = std::filesystem;

// A valid config that tests extend or break one line at a time.
constexpr const char* kMinimal =
    "listeners:\n"
    "  - address: 127.0.0.1:8443\n"
    "upstreams:\n"
    "  conductor:\n"
    "    url: http://127.0.0.1:8080\n";

// Each test gets its own folder; the config "lives" at DIR/stepgate.yaml so relative file
// paths resolve inside it.
class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/stepgate-config-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    config_path_ = (dir_ / "stepgate.yaml").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void writeFile(const std::string& relative, const std::string& content) {
    const fs::path p = dir_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }

  StatusOr<ConfigConstSharedPtr> loadText(const std::string& text) {
    return loadFromString(text, config_path_);
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
    EXPECT_NE(msg.find(fragment), std::string::npos)
        << "expected '" << fragment << "' in: " << msg;
  }

  fs::path dir_;
  std::string config_path_;
};

TEST_F(LoaderTest, MinimalConfigGetsDefaults) {
  auto result = loadText(kMinimal);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  const Config& c = **result;
  EXPECT_EQ(c.source_path, config_path_);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "127.0.0.1:8443");
  EXPECT_EQ(c.listeners[0].address_text, "127.0.0.1:8443");
  EXPECT_EQ(c.listeners[0].address.port(), 8443);
  EXPECT_EQ(c.listeners[0].upstream, "conductor");
  EXPECT_FALSE(c.listeners[0].tls.has_value());

  ASSERT_EQ(c.upstreams.size(), 1u);
  const UpstreamConfig& u = c.upstreams[0];
  EXPECT_EQ(u.name, "conductor");
  EXPECT_EQ(u.profile, "generic");
  EXPECT_FALSE(u.https);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.host_header, "127.0.0.1:8080");
  ASSERT_EQ(u.addresses.size(), 1u);
  EXPECT_EQ(u.addresses[0].toString(), "127.0.0.1:8080");
  EXPECT_EQ(u.connect_timeout, std::chrono::seconds(2));
  EXPECT_EQ(u.response_timeout, std::chrono::seconds(30));
  EXPECT_EQ(u.max_idle, 64u);
  EXPECT_EQ(u.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(u.max_requests_per_connection, 0u);
  EXPECT_FALSE(u.tls.has_value());
  EXPECT_EQ(c.findUpstream("conductor"), &u);

  const LimitsConfig defaults;
  EXPECT_EQ(c.limits.max_request_line, defaults.max_request_line);
  EXPECT_EQ(c.limits.max_header_bytes, defaults.max_header_bytes);
  EXPECT_EQ(c.limits.max_body_bytes, 16u << 20);
  EXPECT_EQ(c.limits.request_timeout, std::chrono::seconds(300));
  EXPECT_EQ(c.limits.buffer_low_watermark, 64u * 1024);
  EXPECT_FALSE(c.path.merge_slashes);
  EXPECT_TRUE(c.path.reject_path_parameters);
  EXPECT_EQ(c.proxy.workers, 0u);
  EXPECT_TRUE(c.proxy.trusted_proxies.empty());
  EXPECT_EQ(c.proxy.via, "stepgate");
  EXPECT_EQ(c.proxy.drain_timeout, std::chrono::seconds(15));
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.address_text, "127.0.0.1:9901");
  EXPECT_EQ(c.admin.address.port(), 9901);
  EXPECT_EQ(c.log.level, "info");
}

TEST_F(LoaderTest, FullConfig) {
  writeFile("certs/server.pem", "cert");
  writeFile("certs/server.key", "key");
  writeFile("certs/other.pem", "cert");
  writeFile("certs/other.key", "key");
  writeFile("certs/clients.pem", "ca");
  writeFile("certs/ca.pem", "ca");
  const std::string text =
      "listeners:\n"
      "  - name: public\n"
      "    address: 0.0.0.0:8443\n"
      "    upstream: conductor\n"
      "    tls:\n"
      "      certificates:\n"
      "        - { cert: certs/server.pem, key: certs/server.key, server_names: [api.example.com] }\n"
      "        - cert: certs/other.pem\n"
      "          key: certs/other.key\n"
      "          server_names: ['*.internal.example.com']\n"
      "      client_ca: certs/clients.pem\n"
      "      client_auth: required\n"
      "      min_version: \"1.3\"\n"
      "      ciphers: ECDHE-ECDSA-AES128-GCM-SHA256\n"
      "      ciphersuites: TLS_AES_128_GCM_SHA256\n"
      "      session_tickets: false\n"
      "      ticket_key_rotation: 1h\n"
      "      session_cache_size: 1024\n"
      "  - address: '[::1]:8080'\n"
      "    upstream: temporal\n"
      "upstreams:\n"
      "  conductor:\n"
      "    profile: conductor\n"
      "    url: http://localhost:8080/\n"
      "    connect_timeout: 500ms\n"
      "    response_timeout: 2m\n"
      "    max_idle: 8\n"
      "    idle_timeout: 30s\n"
      "    max_requests_per_connection: 1000\n"
      "  temporal:\n"
      "    profile: temporal\n"
      "    url: https://[::1]:7243\n"
      "    tls: { ca: certs/ca.pem, server_name: temporal.internal, verify: true }\n"
      "  argo:\n"
      "    profile: argo\n"
      "    url: https://127.0.0.1\n"
      "limits: { max_request_line: 4KiB, max_header_bytes: 16KiB, max_headers: 50,\n"
      "          max_body_bytes: 1GiB, header_timeout: 5s, idle_timeout: 2m,\n"
      "          request_timeout: 1h, max_connections_per_worker: 500,\n"
      "          max_inflight_upstream: 100, buffer_high_watermark: 1MiB,\n"
      "          buffer_low_watermark: 65536 }\n"
      "path: { merge_slashes: true, reject_path_parameters: false }\n"
      "proxy: { workers: 4, trust_request_id: true, trusted_proxies: [10.0.0.0/8, fd00::/8, "
      "192.168.1.7], via: edge-1, drain_timeout: 0s }\n"
      "admin: { address: '[::1]:9000', enabled: false }\n"
      "log: { level: debug }\n";
  auto result = loadText(text);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  const Config& c = **result;
  const std::string certs = (dir_ / "certs").string();

  ASSERT_EQ(c.listeners.size(), 2u);
  const ListenerConfig& pub = c.listeners[0];
  EXPECT_EQ(pub.name, "public");
  EXPECT_EQ(pub.address_text, "0.0.0.0:8443");
  ASSERT_TRUE(pub.tls.has_value());
  ASSERT_EQ(pub.tls->certificates.size(), 2u);
  EXPECT_EQ(pub.tls->certificates[0].cert_file, certs + "/server.pem");
  EXPECT_EQ(pub.tls->certificates[0].key_file, certs + "/server.key");
  EXPECT_EQ(pub.tls->certificates[0].server_names, std::vector<std::string>{"api.example.com"});
  EXPECT_EQ(pub.tls->certificates[1].server_names,
            std::vector<std::string>{"*.internal.example.com"});
  EXPECT_EQ(pub.tls->client_ca_file, certs + "/clients.pem");
  EXPECT_EQ(pub.tls->client_auth, ClientAuth::kRequired);
  EXPECT_EQ(pub.tls->min_version, TlsMinVersion::kTls13);
  EXPECT_EQ(pub.tls->ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(pub.tls->ciphersuites, "TLS_AES_128_GCM_SHA256");
  EXPECT_FALSE(pub.tls->session_tickets);
  EXPECT_EQ(pub.tls->ticket_key_rotation, std::chrono::hours(1));
  EXPECT_EQ(pub.tls->session_cache_size, 1024u);
  EXPECT_EQ(c.listeners[1].name, "[::1]:8080");
  EXPECT_EQ(c.listeners[1].upstream, "temporal");

  ASSERT_EQ(c.upstreams.size(), 3u);
  const UpstreamConfig& cond = c.upstreams[0];
  EXPECT_EQ(cond.profile, "conductor");
  EXPECT_EQ(cond.host, "localhost");
  EXPECT_EQ(cond.host_header, "localhost:8080");
  EXPECT_FALSE(cond.addresses.empty());
  EXPECT_EQ(cond.connect_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(cond.response_timeout, std::chrono::minutes(2));
  EXPECT_EQ(cond.max_idle, 8u);
  EXPECT_EQ(cond.idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(cond.max_requests_per_connection, 1000u);
  const UpstreamConfig& temporal = c.upstreams[1];
  EXPECT_TRUE(temporal.https);
  EXPECT_EQ(temporal.host, "::1");
  EXPECT_EQ(temporal.port, 7243);
  EXPECT_EQ(temporal.host_header, "[::1]:7243");
  ASSERT_EQ(temporal.addresses.size(), 1u);
  EXPECT_EQ(temporal.addresses[0].toString(), "[::1]:7243");
  ASSERT_TRUE(temporal.tls.has_value());
  EXPECT_EQ(temporal.tls->ca_file, certs + "/ca.pem");
  EXPECT_EQ(temporal.tls->server_name, "temporal.internal");
  const UpstreamConfig& argo = c.upstreams[2];
  EXPECT_EQ(argo.port, 443);
  EXPECT_EQ(argo.host_header, "127.0.0.1");
  ASSERT_TRUE(argo.tls.has_value());  // https without a tls block: verified, system store
  EXPECT_TRUE(argo.tls->verify);
  EXPECT_TRUE(argo.tls->ca_file.empty());

  EXPECT_EQ(c.limits.max_request_line, 4096u);
  EXPECT_EQ(c.limits.max_header_bytes, 16384u);
  EXPECT_EQ(c.limits.max_headers, 50u);
  EXPECT_EQ(c.limits.max_body_bytes, uint64_t{1} << 30);
  EXPECT_EQ(c.limits.header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.limits.idle_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c.limits.request_timeout, std::chrono::hours(1));
  EXPECT_EQ(c.limits.max_connections_per_worker, 500u);
  EXPECT_EQ(c.limits.max_inflight_upstream, 100u);
  EXPECT_EQ(c.limits.buffer_high_watermark, 1u << 20);
  EXPECT_EQ(c.limits.buffer_low_watermark, 65536u);
  EXPECT_TRUE(c.path.merge_slashes);
  EXPECT_FALSE(c.path.reject_path_parameters);
  EXPECT_EQ(c.proxy.workers, 4u);
  EXPECT_TRUE(c.proxy.trust_request_id);
  EXPECT_EQ(c.proxy.trusted_proxies,
            (std::vector<std::string>{"10.0.0.0/8", "fd00::/8", "192.168.1.7/32"}));
  EXPECT_EQ(c.proxy.via, "edge-1");
  EXPECT_EQ(c.proxy.drain_timeout, std::chrono::seconds(0));
  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.admin.address_text, "[::1]:9000");
  EXPECT_EQ(c.log.level, "debug");
}

TEST_F(LoaderTest, ClientAuthDefaultsToOptionalWithClientCa) {
  writeFile("a.pem", "x");
  writeFile("a.key", "x");
  writeFile("ca.pem", "x");
  const std::string text =
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    tls: { certificates: [{ cert: a.pem, key: a.key }], client_ca: ca.pem }\n"
      "  - address: 127.0.0.1:8444\n"
      "    tls: { certificates: [{ cert: a.pem, key: a.key }] }\n"
      "upstreams: { u: { url: 'http://127.0.0.1:1' } }\n";
  auto result = loadText(text);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_EQ((*result)->listeners[0].tls->client_auth, ClientAuth::kOptional);
  EXPECT_EQ((*result)->listeners[1].tls->client_auth, ClientAuth::kNone);
  EXPECT_EQ((*result)->listeners[1].tls->min_version, TlsMinVersion::kTls12);
  EXPECT_TRUE((*result)->listeners[1].tls->session_tickets);
}

TEST_F(LoaderTest, UnknownKeySuggestsClosest) {
  expectError(std::string(kMinimal) + "lmits: {}\n", 6, 1,
              "unknown key 'lmits' (did you mean 'limits'?)");
  expectError(std::string(kMinimal) + "    conect_timeout: 1s\n", 6, 5,
              "unknown key 'conect_timeout' (did you mean 'connect_timeout'?)");
  expectError(
      "listeners:\n"
      "  - adress: 127.0.0.1:8443\n",
      2, 5, "did you mean 'address'?");
}

TEST_F(LoaderTest, UnknownKeyWithoutSuggestionListsKnownKeys) {
  expectError(std::string(kMinimal) + "log: { colour: red }\n", 6, 8,
              "unknown key 'colour'; expected one of: level");
  expectError(std::string(kMinimal) + "foo: 1\n", 6, 1,
              "unknown key 'foo'; expected one of: listeners, upstreams, limits, path, proxy, "
              "admin, log");
}

TEST_F(LoaderTest, EmptyValueIsReportedAtItsKey) {
  expectError(std::string(kMinimal) +
                  "limits:\n"
                  "  header_timeout:\n"
                  "  idle_timeout: 5s\n",
              7, 3, "'header_timeout' has no value");
  expectError(std::string(kMinimal) + "    tls:\n", 6, 5, "'tls' has no value");
}

TEST_F(LoaderTest, WrongTypes) {
  expectError(std::string(kMinimal) + "    max_idle: lots\n", 6, 15,
              "expected an integer, got 'lots'");
  expectError(std::string(kMinimal) + "    max_idle: -1\n", 6, 15, "not negative");
  expectError(std::string(kMinimal) + "    max_idle: 4294967296\n", 6, 15,
              "out of range (at most 4294967295)");
  expectError(std::string(kMinimal) + "path: { merge_slashes: yes }\n", 6, 24,
              "expected a boolean (true/false), got 'yes'");
  expectError(std::string(kMinimal) + "path: { merge_slashes: 'true' }\n", 6, 24,
              "expected a boolean (true/false), got the quoted string 'true'");
  expectError(std::string(kMinimal) + "    max_idle: \"64\"\n", 6, 15,
              "expected an integer, got the quoted string '64'");
  expectError(std::string(kMinimal) + "proxy: { via: [a, b] }\n", 6, 15,
              "expected a string, got a list");
  expectError(std::string(kMinimal) + "limits: 5\n", 6, 9, "expected a map, got '5'");
  expectError(std::string(kMinimal) + "proxy: { workers: 300 }\n", 6, 19,
              "out of range (at most 256)");
  expectError(std::string(kMinimal) + "log: { level: verbose }\n", 6, 15,
              "unknown log level 'verbose'");
  expectError(std::string(kMinimal) + "    profile: jenkins\n", 6, 14,
              "unknown profile 'jenkins'");
}

TEST_F(LoaderTest, BadDurations) {
  const std::string base = std::string(kMinimal) + "    connect_timeout: ";
  expectError(base + "10\n", 6, 22, "expected a duration like 500ms, 10s, 2m, 1h, got '10'");
  expectError(base + "-5s\n", 6, 22, "expected a duration like 500ms, 10s, 2m, 1h");
  expectError(base + "1.5s\n", 6, 22, "expected a duration like");
  expectError(base + "10 s\n", 6, 22, "expected a duration like");
  expectError(base + "3d\n", 6, 22, "expected a duration like");
  expectError(base + "99999999999999999999h\n", 6, 22, "duration out of range");
  expectError(base + "8761h\n", 6, 22, "duration out of range");
  expectError(base + "0s\n", 6, 22, "upstream.connect_timeout must be greater than zero");
}

TEST_F(LoaderTest, BadSizes) {
  const std::string base = std::string(kMinimal) + "limits:\n  max_body_bytes: ";
  expectError(base + "16MB\n", 7, 19, "expected a size like 65536, 64KiB, 16MiB, 1GiB");
  expectError(base + "-1\n", 7, 19, "expected a size like");
  expectError(base + "99999999999GiB\n", 7, 19, "size out of range");
  expectError(std::string(kMinimal) + "limits:\n  buffer_high_watermark: 4GiB\n", 7, 26,
              "size out of range (at most 4294967295 bytes)");
}

TEST_F(LoaderTest, BadListenerAddress) {
  const std::string tail =
      "upstreams:\n"
      "  conductor:\n"
      "    url: http://127.0.0.1:8080\n";
  expectError("listeners:\n  - address: localhost:8443\n" + tail, 2, 14,
              "bad listener address: 'localhost' is not an IP address literal");
  expectError("listeners:\n  - address: 0.0.0.0\n" + tail, 2, 14, "bad listener address");
  expectError("listeners:\n  - address: '[::1]8443'\n" + tail, 2, 14, "bad listener address");
  expectError("listeners:\n  - address: 0.0.0.0:70000\n" + tail, 2, 14, "bad port");
  expectError("listeners:\n  - name: x\n" + tail, 2, 5, "missing required key 'address'");
  expectError("listeners: []\n" + tail, 1, 12, "at least one listener");
  expectError("upstreams:\n  a: { url: 'http://127.0.0.1:1' }\n", 1, 1,
              "missing required key 'listeners'");
}

TEST_F(LoaderTest, DuplicateKey) {
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    address: 127.0.0.1:8444\n"
      "upstreams:\n"
      "  conductor: { url: 'http://127.0.0.1:8080' }\n",
      3, 5, "duplicate key 'address' (first at line 2, column 5)");
  expectError(std::string(kMinimal) + "  conductor:\n    url: http://127.0.0.1:8081\n", 6, 3,
              "duplicate key 'conductor' (first at line 4, column 3)");
}

TEST_F(LoaderTest, DuplicateListenerAddress) {
  const std::string tail = "upstreams: { u: { url: 'http://127.0.0.1:1' } }\n";
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "  - address: 127.0.0.1:8443\n" +
          tail,
      3, 14, "clashes with listener '127.0.0.1:8443'");
  expectError(
      "listeners:\n"
      "  - address: 0.0.0.0:8443\n"
      "    name: any\n"
      "  - address: 10.1.2.3:8443\n" +
          tail,
      4, 14, "clashes with listener 'any' on 0.0.0.0:8443 (at " + config_path_ + ":2:14)");
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:9901\n" +
          tail,
      2, 14, "clashes with the admin address 127.0.0.1:9901");
  expectError(
      "listeners:\n"
      "  - { name: a, address: 127.0.0.1:1 }\n"
      "  - { name: a, address: 127.0.0.1:2 }\n" +
          tail,
      3, 13, "duplicate listener name 'a' (first at " + config_path_ + ":2:13)");
  // Port 0 (the kernel picks) never clashes; a disabled admin frees its address.
  auto ok = loadText(
      "listeners:\n"
      "  - address: 127.0.0.1:0\n"
      "  - address: 127.0.0.1:0\n"
      "  - address: 127.0.0.1:9901\n"
      "admin: { enabled: false }\n" +
      tail);
  EXPECT_TRUE(ok.isOk()) << ok.status().message();
}

TEST_F(LoaderTest, MissingUpstream) {
  const std::string two =
      "upstreams:\n"
      "  conductor: { url: 'http://127.0.0.1:8080' }\n"
      "  temporal: { url: 'http://127.0.0.1:7233' }\n";
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    upstream: condutor\n" +
          two,
      3, 15, "unknown upstream 'condutor' (did you mean 'conductor'?)");
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    upstream: nothing-like-it\n" +
          two,
      3, 15, "unknown upstream 'nothing-like-it'; defined: conductor, temporal");
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n" +
          two,
      2, 5, "needs 'upstream' when more than one upstream is defined");
  expectError("listeners:\n  - address: 127.0.0.1:8443\nupstreams: {}\n", 3, 12,
              "at least one upstream is required");
}

TEST_F(LoaderTest, MissingCertFileIsRelativeToConfigFolder) {
  writeFile("certs/server.pem", "cert");
  const std::string text =
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    tls:\n"
      "      certificates:\n"
      "        - cert: certs/server.pem\n"
      "          key: certs/server.key\n"
      "upstreams: { u: { url: 'http://127.0.0.1:1' } }\n";
  expectError(text, 6, 16,
              "key: cannot read 'certs/server.key' (" + (dir_ / "certs/server.key").string() +
                  "): No such file or directory");
  fs::create_directories(dir_ / "certs/server.key");
  expectError(text, 6, 16, "is not a regular file");
  fs::remove(dir_ / "certs/server.key");
  writeFile("certs/server.key", "key");
  auto result = loadText(text);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_EQ(result.value()->listeners[0].tls->certificates[0].key_file,
            (dir_ / "certs/server.key").string());
}

TEST_F(LoaderTest, TlsRules) {
  writeFile("a.pem", "x");
  const std::string head =
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    tls:\n"
      "      certificates: [{ cert: a.pem, key: a.pem }]\n";
  const std::string tail = "upstreams: { u: { url: 'http://127.0.0.1:1' } }\n";
  expectError(head + "      client_auth: required\n" + tail, 5, 20,
              "client_auth: required needs client_ca");
  expectError(head + "      client_auth: sometimes\n" + tail, 5, 20,
              "expected one of: none, optional, required");
  expectError(head + "      min_version: 1.1\n" + tail, 5, 20, "expected \"1.2\" or \"1.3\"");
  expectError(head + "      ticket_key_rotation: 0h\n" + tail, 5, 28,
              "tls.ticket_key_rotation must be greater than zero");
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    tls: { certificates: [] }\n" +
          tail,
      3, 26, "at least one certificate");
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "    tls: { certificates: [{ cert: a.pem, key: a.pem, server_names: ['bad name'] }] }\n" +
          tail,
      3, 69, "'bad name' is not a host name");
}

TEST_F(LoaderTest, BadCidr) {
  const std::string base = std::string(kMinimal) + "proxy:\n  trusted_proxies: [10.0.0.0/8, ";
  expectError(base + "banana]\n", 7, 33, "'banana' is not a CIDR");
  expectError(base + "10.0.0.0/33]\n", 7, 33, "bad prefix length in '10.0.0.0/33'");
  expectError(base + "'fd00::/129']\n", 7, 33, "bad prefix length in 'fd00::/129'");
  expectError(base + "10.0.0.1/8]\n", 7, 33, "'10.0.0.1/8' has host bits set");
  expectError(base + "10.0.0.0/]\n", 7, 33, "bad prefix length");
}

TEST_F(LoaderTest, UpstreamUrls) {
  const std::string head =
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "upstreams:\n"
      "  conductor:\n"
      "    url: ";
  expectError(head + "ftp://127.0.0.1\n", 5, 10, "expected a URL like http://host:port");
  expectError(head + "http://127.0.0.1:8080/api\n", 5, 10, "must not have a path");
  expectError(head + "http://127.0.0.1:8080?x=1\n", 5, 10, "must not have a path, query");
  expectError(head + "http://user@127.0.0.1:8080\n", 5, 10, "must not contain user info");
  expectError(head + "http://127.0.0.1:0\n", 5, 10, "bad port '0'");
  expectError(head + "http://127.0.0.1:65536\n", 5, 10, "(1..65535)");
  expectError(head + "http://bad_-.host\n", 5, 10, "bad host");
  expectError(head + "'http://[::1'\n", 5, 10, "unterminated '['");
  expectError(head + "http://name.invalid:8080\n", 5, 10, "cannot resolve 'name.invalid'");
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "upstreams:\n"
      "  'bad name': { url: 'http://127.0.0.1:1' }\n",
      4, 3, "upstream name 'bad name' may only contain");
}

TEST_F(LoaderTest, HttpUpstreamWithTls) {
  expectError(std::string(kMinimal) + "    tls: { verify: false }\n", 6, 10,
              "'tls' is only allowed for an https:// upstream");
}

TEST_F(LoaderTest, LimitRelations) {
  expectError(std::string(kMinimal) +
                  "limits:\n  buffer_high_watermark: 64KiB\n  buffer_low_watermark: 64KiB\n",
              8, 25, "buffer_low_watermark (65536) must be below buffer_high_watermark (65536)");
  expectError(std::string(kMinimal) + "limits:\n  buffer_high_watermark: 32KiB\n", 7, 26,
              "must be below buffer_high_watermark (32768)");
  expectError(std::string(kMinimal) + "limits: { max_header_bytes: 4096 }\n", 6, 29,
              "must be at least max_request_line (8192)");
  expectError(std::string(kMinimal) + "limits: { max_headers: 0 }\n", 6, 24,
              "limits.max_headers must be greater than zero");
  expectError(std::string(kMinimal) + "limits: { header_timeout: 10m }\n", 6, 27,
              "header_timeout must not exceed request_timeout");
}

TEST_F(LoaderTest, YamlSyntaxError) {
  expectError(
      "listeners:\n"
      "  - address: 127.0.0.1:8443\n"
      "upstreams: { conductor: { url: http://127.0.0.1:8080 }\n",
      4, 1, "YAML syntax error");
  expectError("listeners: [\n", 2, 1, "YAML syntax error");
  expectError("", 1, 1, "the config is empty");
  expectError("# only a comment\n", 1, 1, "the config is empty");
  expectError(std::string(kMinimal) + "---\nlisteners: []\n", 7, 1,
              "only one YAML document");
  expectError("- a\n- b\n", 1, 1, "expected a map, got a list");
}

// The example in docs/config.md ("Errors"), reported one problem at a time.
TEST_F(LoaderTest, DocsErrorExample) {
  const std::string text =
      "listeners:\n"
      "  - address: 0.0.0.0:8443\n"
      "    upstream: condutor\n"
      "upstreams:\n"
      "  conductor: { url: http://127.0.0.1:8080, conect_timeout: 2s }\n";
  expectError(text, 5, 44, "unknown key 'conect_timeout' (did you mean 'connect_timeout'?)");
  std::string fixed = text;
  fixed.replace(fixed.find("conect_timeout"), 14, "connect_timeout");
  expectError(fixed, 3, 15, "unknown upstream 'condutor' (did you mean 'conductor'?)");
}

TEST_F(LoaderTest, MissingFileIsNotFound) {
  const std::string path = (dir_ / "absent.yaml").string();
  auto result = load(path);
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), path + ": cannot read: No such file or directory");
}

TEST_F(LoaderTest, LoadReadsFileAndResolvesPathsFromItsFolder) {
  writeFile("conf/certs/a.pem", "x");
  writeFile("conf/stepgate.yaml",
            "listeners:\n"
            "  - address: 127.0.0.1:8443\n"
            "    tls: { certificates: [{ cert: certs/a.pem, key: certs/a.pem }] }\n"
            "upstreams: { u: { url: 'http://127.0.0.1:1', max_idle: x } }\n");
  const std::string path = (dir_ / "conf/stepgate.yaml").string();
  auto result = load(path);
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().message().rfind(path + ":4:56: expected an integer", 0), 0u)
      << result.status().message();
  writeFile("conf/stepgate.yaml",
            "listeners:\n"
            "  - address: 127.0.0.1:8443\n"
            "    tls: { certificates: [{ cert: certs/a.pem, key: certs/a.pem }] }\n"
            "upstreams: { u: { url: 'http://127.0.0.1:1' } }\n");
  result = load(path);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_EQ(result.value()->listeners[0].tls->certificates[0].cert_file,
            (dir_ / "conf/certs/a.pem").string());
}

std::string sourceDir() {
  const char* env = getenv("STEPGATE_SOURCE_DIR");
  return env != nullptr ? env : STEPGATE_SOURCE_DIR;
}

std::string readSource(const std::string& relative) {
  std::ifstream in(sourceDir() + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(LoaderTest, DeployMinimalLoads) {
  auto result = load(sourceDir() + "/deploy/minimal.yaml");
  ASSERT_TRUE(result.isOk()) << result.status().message();
}

// The example references certificate files relative to its folder. The loader checks only
// that they exist and are readable (PEM contents are the TLS layer's business), so the test
// copies the example next to placeholder files.
TEST_F(LoaderTest, DeployExampleLoads) {
  const std::string text = readSource("deploy/stepgate.example.yaml");
  ASSERT_FALSE(text.empty());
  for (const char* file : {"certs/server.pem", "certs/server.key", "certs/internal.pem",
                           "certs/internal.key", "certs/clients-ca.pem", "certs/upstream-ca.pem"}) {
    writeFile(file, "placeholder");
  }
  auto result = loadText(text);
  ASSERT_TRUE(result.isOk()) << result.status().message();
  EXPECT_GE((*result)->listeners.size(), 2u);
  EXPECT_TRUE((*result)->listeners[0].tls.has_value());
}

}  // namespace
}  // namespace stepgate::config
