#include "proxy/tls/client_context.h"

#include <gtest/gtest.h>

#include "proxy/tls/server_context.h"
#include "tests/unit/tls/tls_test_util.h"

namespace stepgate::proxy::tls {
namespace {

using testing::HandshakeResult;
using testing::SslPtr;
using testing::testPki;

class ClientContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testPki().ok);
    config::ServerTlsConfig cfg;
    cfg.certificates.push_back({testPki().dev.server_cert, testPki().dev.server_key, {}});
    auto server = ServerContext::create(cfg);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = *server;
  }

  static config::UpstreamTlsConfig trustingDevCa() {
    config::UpstreamTlsConfig c;
    c.ca_file = testPki().dev.ca_cert;
    return c;
  }

  struct Connection {
    SslPtr client;
    SslPtr server;
    HandshakeResult result;
  };
  Connection connect(const config::UpstreamTlsConfig& cfg, const std::string& default_host) {
    auto client = ClientContext::create(cfg, default_host);
    EXPECT_TRUE(client.isOk()) << client.status().toString();
    if (!client.isOk())
      return {};
    Connection c{SslPtr((*client)->newSsl()), SslPtr(server_->newSsl()), {}};
    EXPECT_NE(c.client, nullptr);
    if (c.client == nullptr)
      return c;
    c.result = testing::handshake(c.client.get(), c.server.get());
    return c;
  }
  static std::string sniSeenByServer(const Connection& c) {
    const char* name = SSL_get_servername(c.server.get(), TLSEXT_NAMETYPE_host_name);
    return name != nullptr ? name : "";
  }

  ServerContextConstSharedPtr server_;
};

TEST_F(ClientContextTest, VerifiesServerAgainstCaAndHost) {
  Connection c = connect(trustingDevCa(), "localhost");
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_EQ(SSL_get_verify_result(c.client.get()), X509_V_OK);
  EXPECT_EQ(sniSeenByServer(c), "localhost");
  EXPECT_EQ(testing::selectedAlpn(c.client.get()), "http/1.1");
}

TEST_F(ClientContextTest, WrongHostNameFails) {
  Connection c = connect(trustingDevCa(), "wrong.example");
  EXPECT_FALSE(c.result.client_ok);
  EXPECT_EQ(SSL_get_verify_result(c.client.get()), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(sniSeenByServer(c), "wrong.example");
}

TEST_F(ClientContextTest, ServerNameOverridesUrlHost) {
  config::UpstreamTlsConfig cfg = trustingDevCa();
  cfg.server_name = "localhost";
  Connection ok = connect(cfg, "10.1.2.3");
  ASSERT_TRUE(ok.result.ok()) << ok.result;
  EXPECT_EQ(sniSeenByServer(ok), "localhost");

  cfg.server_name = "api.example";
  Connection bad = connect(cfg, "localhost");
  EXPECT_FALSE(bad.result.client_ok);
  EXPECT_EQ(sniSeenByServer(bad), "api.example");
}

TEST_F(ClientContextTest, IpLiteralVerifiedAgainstIpSanWithoutSni) {
  Connection v4 = connect(trustingDevCa(), "127.0.0.1");
  ASSERT_TRUE(v4.result.ok()) << v4.result;
  EXPECT_EQ(sniSeenByServer(v4), "");
  Connection v6 = connect(trustingDevCa(), "::1");
  ASSERT_TRUE(v6.result.ok()) << v6.result;
  Connection other = connect(trustingDevCa(), "127.0.0.2");
  EXPECT_FALSE(other.result.client_ok);
  EXPECT_EQ(SSL_get_verify_result(other.client.get()), X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_F(ClientContextTest, UntrustedCaFails) {
  config::UpstreamTlsConfig cfg;
  cfg.ca_file = testPki().other_dev.ca_cert;  // same CA name, different key
  Connection c = connect(cfg, "localhost");
  EXPECT_FALSE(c.result.client_ok);
  EXPECT_NE(SSL_get_verify_result(c.client.get()), X509_V_OK);
}

TEST_F(ClientContextTest, SystemStoreDoesNotTrustDevCa) {
  Connection c = connect(config::UpstreamTlsConfig{}, "localhost");
  EXPECT_FALSE(c.result.client_ok);
}

TEST_F(ClientContextTest, VerifyFalseAcceptsAnything) {
  config::UpstreamTlsConfig cfg;
  cfg.verify = false;
  Connection c = connect(cfg, "wrong.example");
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_EQ(sniSeenByServer(c), "wrong.example");
}

TEST_F(ClientContextTest, RefusesTls11) {
  // A server that speaks nothing newer than TLS 1.1 cannot be reached.
  testing::SslCtxPtr old_server(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_security_level(old_server.get(), 0);
  SSL_CTX_set_min_proto_version(old_server.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old_server.get(), TLS1_1_VERSION);
  ASSERT_EQ(SSL_CTX_use_certificate_chain_file(old_server.get(), testPki().dev.server_cert.c_str()),
            1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(old_server.get(), testPki().dev.server_key.c_str(),
                                        SSL_FILETYPE_PEM),
            1);
  auto client = ClientContext::create(trustingDevCa(), "localhost");
  ASSERT_TRUE(client.isOk());
  SslPtr c((*client)->newSsl());
  SslPtr s(SSL_new(old_server.get()));
  EXPECT_FALSE(testing::handshake(c.get(), s.get()).ok());
}

TEST_F(ClientContextTest, MissingCaFileIsNamed) {
  testing::TempDir dir;
  config::UpstreamTlsConfig cfg;
  cfg.ca_file = dir.file("nope.pem");
  auto client = ClientContext::create(cfg, "localhost");
  ASSERT_FALSE(client.isOk());
  EXPECT_EQ(client.status().message().rfind(cfg.ca_file + ":", 0), 0u) << client.status().message();
}

}  // namespace
}  // namespace stepgate::proxy::tls
