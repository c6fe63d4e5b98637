#include "proxy/tls/server_context.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/unit/tls/tls_test_util.h"

namespace stepgate::proxy::tls {
namespace {

using testing::clientCtx;
using testing::ClientOptions;
using testing::handshake;
using testing::HandshakeResult;
using testing::peerCommonName;
using testing::selectedAlpn;
using testing::SessionPtr;
using testing::SslCtxPtr;
using testing::SslPtr;
using testing::testPki;

class ServerContextTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testPki().ok); }

  static config::ServerTlsConfig devConfig() {
    config::ServerTlsConfig c;
    c.certificates.push_back({testPki().dev.server_cert, testPki().dev.server_key, {"localhost"}});
    return c;
  }
  static config::ServerTlsConfig clientAuthConfig(config::ClientAuth mode) {
    config::ServerTlsConfig c = devConfig();
    c.client_ca_file = testPki().dev.ca_cert;
    c.client_auth = mode;
    return c;
  }
  static ServerContextConstSharedPtr make(const config::ServerTlsConfig& c) {
    auto server = ServerContext::create(c);
    EXPECT_TRUE(server.isOk()) << server.status().toString();
    return server.isOk() ? *server : nullptr;
  }
  static ClientOptions devClientCert() {
    ClientOptions o;
    o.cert = testPki().dev.client_cert;
    o.key = testPki().dev.client_key;
    return o;
  }

  // One connection: a fresh client SSL from `client_ctx` against a new server SSL.
  struct Connection {
    SslPtr client;
    SslPtr server;
    HandshakeResult result;
  };
  static Connection connect(const ServerContext& server, SSL_CTX* client_ctx,
                            const char* sni = "localhost", SSL_SESSION* session = nullptr) {
    Connection c{SslPtr(SSL_new(client_ctx)), SslPtr(server.newSsl()), {}};
    EXPECT_NE(c.client, nullptr);
    EXPECT_NE(c.server, nullptr);
    if (sni != nullptr)
      SSL_set_tlsext_host_name(c.client.get(), sni);
    if (session != nullptr)
      SSL_set_session(c.client.get(), session);
    c.result = handshake(c.client.get(), c.server.get());
    return c;
  }
  static config::ServerTlsConfig twoCertificates() {
    config::ServerTlsConfig c = devConfig();
    c.certificates.push_back(
        {testPki().other_cert, testPki().other_key, {"other.test", "*.other.test"}});
    return c;
  }
  // The CN the client sees when asking for `sni` (nullptr: no SNI).
  static std::string servedFor(const ServerContext& server, const char* sni) {
    SslCtxPtr ctx = clientCtx({.trusted = {testPki().dev.ca_cert, testPki().other_cert}});
    Connection c = connect(server, ctx.get(), sni);
    EXPECT_TRUE(c.result.ok()) << (sni ? sni : "(none)") << ": " << c.result;
    return peerCommonName(c.client.get());
  }
};

TEST_F(ServerContextTest, Tls13HandshakeWithDefaults) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx();
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_STREQ(tlsVersionName(c.server.get()), "TLSv1.3");
  EXPECT_STREQ(tlsVersionName(c.client.get()), "TLSv1.3");
  EXPECT_EQ(peerCommonName(c.client.get()), "localhost");
  EXPECT_EQ(SSL_get_verify_result(c.client.get()), X509_V_OK);
  // No client certificate requested.
  EXPECT_FALSE(peerCertificate(c.server.get()).present);
  EXPECT_FALSE(peerCertificate(c.server.get()).verified);
  EXPECT_EQ(SSL_get_current_compression(c.server.get()), nullptr);
}

TEST_F(ServerContextTest, Tls12HandshakeUsesEcdheAead) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx({.max_version = TLS1_2_VERSION});
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_STREQ(tlsVersionName(c.server.get()), "TLSv1.2");
  const std::string cipher = SSL_get_cipher_name(c.server.get());
  EXPECT_EQ(cipher.rfind("ECDHE-ECDSA-", 0), 0u) << cipher;
  EXPECT_TRUE(cipher.find("GCM") != std::string::npos ||
              cipher.find("CHACHA20") != std::string::npos)
      << cipher;
}

TEST_F(ServerContextTest, Tls12CbcOnlyClientRefused) {
  auto server = make(devConfig());
  SslCtxPtr ctx =
      clientCtx({.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES128-SHA256"});
  EXPECT_FALSE(connect(*server, ctx.get()).result.ok());
}

TEST_F(ServerContextTest, ConfiguredCipherListIsUsed) {
  config::ServerTlsConfig cfg = devConfig();
  cfg.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384";
  auto server = make(cfg);
  SslCtxPtr ctx = clientCtx({.max_version = TLS1_2_VERSION});
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_STREQ(SSL_get_cipher_name(c.server.get()), "ECDHE-ECDSA-AES256-GCM-SHA384");

  cfg.ciphers = "NOT-A-CIPHER";
  auto bad = ServerContext::create(cfg);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("NOT-A-CIPHER"), std::string::npos);
}

TEST_F(ServerContextTest, MinVersion13RefusesTls12Client) {
  config::ServerTlsConfig cfg = devConfig();
  cfg.min_version = config::TlsMinVersion::kTls13;
  auto server = make(cfg);
  SslCtxPtr old_client = clientCtx({.max_version = TLS1_2_VERSION});
  Connection refused = connect(*server, old_client.get());
  EXPECT_FALSE(refused.result.ok());
  EXPECT_FALSE(refused.result.server_ok);
  SslCtxPtr new_client = clientCtx();
  Connection accepted = connect(*server, new_client.get());
  ASSERT_TRUE(accepted.result.ok()) << accepted.result;
  EXPECT_STREQ(tlsVersionName(accepted.server.get()), "TLSv1.3");
}

TEST_F(ServerContextTest, AlpnSelectsHttp11) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx({.alpn = {"h2", "http/1.1"}});
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_EQ(selectedAlpn(c.server.get()), "http/1.1");
  EXPECT_EQ(selectedAlpn(c.client.get()), "http/1.1");
}

TEST_F(ServerContextTest, AlpnWithoutHttp11ContinuesWithoutAlpn) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx({.alpn = {"h2", "spdy/3"}});
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_EQ(selectedAlpn(c.server.get()), "");
  EXPECT_EQ(selectedAlpn(c.client.get()), "");
}

TEST_F(ServerContextTest, NoAlpnOfferedStillWorks) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx();
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_EQ(selectedAlpn(c.server.get()), "");
}

TEST_F(ServerContextTest, SniPicksCertificateByServerName) {
  auto server = make(twoCertificates());
  EXPECT_EQ(servedFor(*server, "other.test"), "other.test");
  EXPECT_EQ(servedFor(*server, "OTHER.Test"), "other.test");
  EXPECT_EQ(servedFor(*server, "localhost"), "localhost");
}

TEST_F(ServerContextTest, SniWildcardCoversOneLabel) {
  auto server = make(twoCertificates());
  EXPECT_EQ(servedFor(*server, "api.other.test"), "other.test");
  EXPECT_EQ(servedFor(*server, "a.b.other.test"), "localhost");
}

TEST_F(ServerContextTest, SniUnknownOrMissingNameGetsDefault) {
  auto server = make(twoCertificates());
  EXPECT_EQ(servedFor(*server, "unknown.example"), "localhost");
  EXPECT_EQ(servedFor(*server, nullptr), "localhost");
}

TEST_F(ServerContextTest, SniExactMatchBeatsEarlierWildcard) {
  config::ServerTlsConfig cfg = twoCertificates();
  cfg.certificates[0].server_names = {"*.other.test"};
  cfg.certificates[1].server_names = {"api.other.test"};
  auto server = make(cfg);
  EXPECT_EQ(servedFor(*server, "api.other.test"), "other.test");
  EXPECT_EQ(servedFor(*server, "www.other.test"), "localhost");
}

TEST_F(ServerContextTest, SniClientAuthAppliesOnEveryCertificate) {
  config::ServerTlsConfig cfg = twoCertificates();
  cfg.client_ca_file = testPki().dev.ca_cert;
  cfg.client_auth = config::ClientAuth::kRequired;
  auto server = make(cfg);
  ClientOptions with_cert = devClientCert();
  with_cert.trusted = {testPki().dev.ca_cert, testPki().other_cert};
  SslCtxPtr good = clientCtx(with_cert);
  Connection ok = connect(*server, good.get(), "api.other.test");
  ASSERT_TRUE(ok.result.ok()) << ok.result;
  EXPECT_EQ(peerCommonName(ok.client.get()), "other.test");
  EXPECT_TRUE(peerCertificate(ok.server.get()).verified);

  SslCtxPtr no_cert = clientCtx({.trusted = {testPki().dev.ca_cert, testPki().other_cert}});
  EXPECT_FALSE(connect(*server, no_cert.get(), "api.other.test").result.ok());
}

TEST_F(ServerContextTest, ClientAuthRequiredWithoutCertFails) {
  auto server = make(clientAuthConfig(config::ClientAuth::kRequired));
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SslCtxPtr ctx = clientCtx({.max_version = version});
    Connection c = connect(*server, ctx.get());
    EXPECT_FALSE(c.result.server_ok) << version;
    EXPECT_FALSE(c.result.server_error.empty());
  }
}

TEST_F(ServerContextTest, ClientAuthRequiredWithDevClientCert) {
  auto server = make(clientAuthConfig(config::ClientAuth::kRequired));
  SslCtxPtr ctx = clientCtx(devClientCert());
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  const PeerCertificate peer = peerCertificate(c.server.get());
  EXPECT_TRUE(peer.present);
  EXPECT_TRUE(peer.verified);
  EXPECT_EQ(peer.subject, "CN=demo-client,O=stepgate demo");
  EXPECT_EQ(peer.issuer, "CN=stepgate dev CA,O=stepgate demo");
  EXPECT_EQ(peer.san_uris, std::vector<std::string>{"spiffe://stepgate.demo/client"});
  EXPECT_TRUE(peer.san_dns.empty());

  // The fingerprint as the openssl CLI computes it ("sha256 Fingerprint=AB:CD:...").
  const auto r = testing::run("openssl x509 -noout -fingerprint -sha256 -in " +
                              testing::shellQuote(testPki().dev.client_cert));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expected;
  for (char ch : r.output.substr(r.output.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(ch))) {
      expected += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
  }
  EXPECT_EQ(peer.sha256_fingerprint, expected);
  EXPECT_EQ(peer.sha256_fingerprint.size(), 64u);
}

TEST_F(ServerContextTest, ServerCertificateSansAreReadable) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx();
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  // peerCertificate() works on either side; the client sees the dev server certificate.
  const PeerCertificate peer = peerCertificate(c.client.get());
  EXPECT_TRUE(peer.verified);
  EXPECT_EQ(peer.subject, "CN=localhost");
  EXPECT_EQ(peer.san_dns, std::vector<std::string>{"localhost"});
  EXPECT_TRUE(peer.san_uris.empty());
}

TEST_F(ServerContextTest, ClientCertFromAnotherCaFails) {
  ClientOptions foreign;
  foreign.cert = testPki().other_dev.client_cert;  // same names, different CA key
  foreign.key = testPki().other_dev.client_key;
  for (auto mode : {config::ClientAuth::kRequired, config::ClientAuth::kOptional}) {
    auto server = make(clientAuthConfig(mode));
    SslCtxPtr ctx = clientCtx(foreign);
    Connection c = connect(*server, ctx.get());
    EXPECT_FALSE(c.result.server_ok) << static_cast<int>(mode);
    EXPECT_NE(c.result.server_error.find("certificate"), std::string::npos)
        << c.result.server_error;
  }
}

TEST_F(ServerContextTest, ClientAuthOptionalAllowsNoCert) {
  auto server = make(clientAuthConfig(config::ClientAuth::kOptional));
  SslCtxPtr ctx = clientCtx();
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  const PeerCertificate peer = peerCertificate(c.server.get());
  EXPECT_FALSE(peer.present);
  EXPECT_FALSE(peer.verified);

  SslCtxPtr with_cert = clientCtx(devClientCert());
  Connection c2 = connect(*server, with_cert.get());
  ASSERT_TRUE(c2.result.ok()) << c2.result;
  EXPECT_TRUE(peerCertificate(c2.server.get()).verified);
}

TEST_F(ServerContextTest, ClientCaListIsSentToClients) {
  auto server = make(clientAuthConfig(config::ClientAuth::kOptional));
  SslCtxPtr ctx = clientCtx({.max_version = TLS1_2_VERSION});
  Connection c = connect(*server, ctx.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  STACK_OF(X509_NAME)* names = SSL_get_client_CA_list(c.client.get());
  ASSERT_NE(names, nullptr);
  ASSERT_EQ(sk_X509_NAME_num(names), 1);
  EXPECT_EQ(nameToRfc2253(sk_X509_NAME_value(names, 0)), "CN=stepgate dev CA,O=stepgate demo");
}

TEST_F(ServerContextTest, ClientAuthWithoutCaFileIsError) {
  config::ServerTlsConfig cfg = devConfig();
  cfg.client_auth = config::ClientAuth::kRequired;
  EXPECT_FALSE(ServerContext::create(cfg).isOk());
}

// ---- session resumption ----------------------------------------------------------------

class ResumptionTest : public ServerContextTest, public ::testing::WithParamInterface<int> {
 protected:
  // Connects once and returns the session the client got.
  SessionPtr firstSession(const ServerContext& server, SSL_CTX* ctx) {
    Connection c = connect(server, ctx);
    EXPECT_TRUE(c.result.ok()) << c.result;
    EXPECT_FALSE(SSL_session_reused(c.client.get()));
    testing::closeCleanly(c.client.get(), c.server.get());
    SessionPtr session(SSL_get1_session(c.client.get()));
    EXPECT_NE(session, nullptr);
    EXPECT_TRUE(session != nullptr && SSL_SESSION_is_resumable(session.get()));
    return session;
  }
  bool resumes(const ServerContext& server, SSL_CTX* ctx, SSL_SESSION* session) {
    Connection c = connect(server, ctx, "localhost", session);
    EXPECT_TRUE(c.result.ok()) << c.result;
    EXPECT_EQ(SSL_session_reused(c.client.get()), SSL_session_reused(c.server.get()));
    testing::closeCleanly(c.client.get(), c.server.get());
    return SSL_session_reused(c.server.get()) == 1;
  }
};

INSTANTIATE_TEST_SUITE_P(ServerContextTest, ResumptionTest,
                         ::testing::Values(TLS1_3_VERSION, TLS1_2_VERSION), [](const auto& info) {
                           return info.param == TLS1_3_VERSION ? "Tls13" : "Tls12";
                         });

TEST_P(ResumptionTest, TicketResumes) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx({.max_version = GetParam()});
  SessionPtr session = firstSession(*server, ctx.get());
  EXPECT_TRUE(SSL_SESSION_has_ticket(session.get()));
  EXPECT_TRUE(resumes(*server, ctx.get(), session.get()));
}

TEST_P(ResumptionTest, PreviousTicketKeyStillDecrypts) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx({.max_version = GetParam()});
  SessionPtr session = firstSession(*server, ctx.get());
  server->rotateTicketKeys();
  EXPECT_TRUE(resumes(*server, ctx.get(), session.get()));
}

TEST_P(ResumptionTest, TicketRejectedAfterTwoRotations) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx({.max_version = GetParam()});
  SessionPtr session = firstSession(*server, ctx.get());
  server->rotateTicketKeys();
  server->rotateTicketKeys();
  EXPECT_FALSE(resumes(*server, ctx.get(), session.get()));
  // A fresh session under the new key resumes again.
  SessionPtr fresh = firstSession(*server, ctx.get());
  EXPECT_TRUE(resumes(*server, ctx.get(), fresh.get()));
}

TEST_P(ResumptionTest, TicketUnderPreviousKeyIsRenewed) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx({.max_version = GetParam()});
  SessionPtr first = firstSession(*server, ctx.get());
  server->rotateTicketKeys();
  Connection c = connect(*server, ctx.get(), "localhost", first.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  ASSERT_TRUE(SSL_session_reused(c.server.get()));
  testing::closeCleanly(c.client.get(), c.server.get());
  SessionPtr renewed(SSL_get1_session(c.client.get()));
  // The renewed ticket is under the key that is current now, so it outlives one more
  // rotation, while the first one does not.
  server->rotateTicketKeys();
  EXPECT_TRUE(resumes(*server, ctx.get(), renewed.get()));
  EXPECT_FALSE(resumes(*server, ctx.get(), first.get()));
}

TEST_P(ResumptionTest, TicketFromAnotherListenerIsNotAccepted) {
  auto a = make(devConfig());
  auto b = make(devConfig());
  SslCtxPtr ctx = clientCtx({.max_version = GetParam()});
  SessionPtr session = firstSession(*a, ctx.get());
  EXPECT_FALSE(resumes(*b, ctx.get(), session.get()));
}

TEST_P(ResumptionTest, SessionCacheWithoutTickets) {
  config::ServerTlsConfig cfg = devConfig();
  cfg.session_tickets = false;
  auto server = make(cfg);
  SslCtxPtr ctx = clientCtx({.max_version = GetParam()});
  SessionPtr session = firstSession(*server, ctx.get());
  if (GetParam() == TLS1_2_VERSION) {
    EXPECT_FALSE(SSL_SESSION_has_ticket(session.get()));
  }
  EXPECT_TRUE(resumes(*server, ctx.get(), session.get()));
  // Rotation is irrelevant to cached sessions.
  server->rotateTicketKeys();
  server->rotateTicketKeys();
  EXPECT_TRUE(resumes(*server, ctx.get(), session.get()));
}

TEST_P(ResumptionTest, ResumedSessionKeepsClientCertificate) {
  auto server = make(clientAuthConfig(config::ClientAuth::kRequired));
  ClientOptions o = devClientCert();
  o.max_version = GetParam();
  SslCtxPtr ctx = clientCtx(o);
  SessionPtr session = firstSession(*server, ctx.get());
  Connection c = connect(*server, ctx.get(), "localhost", session.get());
  ASSERT_TRUE(c.result.ok()) << c.result;
  EXPECT_TRUE(SSL_session_reused(c.server.get()));
  const PeerCertificate peer = peerCertificate(c.server.get());
  EXPECT_TRUE(peer.verified);
  EXPECT_EQ(peer.subject, "CN=demo-client,O=stepgate demo");
}

TEST_F(ServerContextTest, RotationConcurrentWithHandshakes) {
  auto server = make(devConfig());
  SslCtxPtr ctx = clientCtx();
  std::atomic<bool> stop{false};
  std::thread rotator([&] {
    while (!stop.load()) {
      server->rotateTicketKeys();
      std::this_thread::yield();
    }
  });
  SessionPtr session;
  int reused = 0;
  for (int i = 0; i < 40; ++i) {
    Connection c = connect(*server, ctx.get(), "localhost", session.get());
    ASSERT_TRUE(c.result.ok()) << c.result;
    reused += SSL_session_reused(c.server.get());
    testing::closeCleanly(c.client.get(), c.server.get());
    session.reset(SSL_get1_session(c.client.get()));
  }
  stop = true;
  rotator.join();
  SUCCEED() << reused << " of 40 resumed";
}

// ---- configuration errors ----------------------------------------------------------------

TEST_F(ServerContextTest, MismatchedKeyNamesKeyFile) {
  config::ServerTlsConfig cfg;
  cfg.certificates.push_back({testPki().dev.server_cert, testPki().dev.client_key, {}});
  auto server = ServerContext::create(cfg);
  ASSERT_FALSE(server.isOk());
  const std::string& msg = server.status().message();
  EXPECT_EQ(msg.rfind(testPki().dev.client_key + ": key does not match certificate", 0), 0u) << msg;
}

TEST_F(ServerContextTest, MismatchInSecondCertificateIsReported) {
  config::ServerTlsConfig cfg = devConfig();
  cfg.certificates.push_back({testPki().other_cert, testPki().dev.server_key, {"other.test"}});
  auto server = ServerContext::create(cfg);
  ASSERT_FALSE(server.isOk());
  EXPECT_NE(server.status().message().find(testPki().dev.server_key), std::string::npos);
}

TEST_F(ServerContextTest, MissingFilesAreNamed) {
  testing::TempDir dir;
  const std::string missing = dir.file("missing.pem");
  {
    config::ServerTlsConfig cfg;
    cfg.certificates.push_back({missing, testPki().dev.server_key, {}});
    auto server = ServerContext::create(cfg);
    ASSERT_FALSE(server.isOk());
    EXPECT_EQ(server.status().message().rfind(missing + ":", 0), 0u) << server.status().message();
    EXPECT_NE(server.status().message().find("No such file"), std::string::npos)
        << server.status().message();
  }
  {
    config::ServerTlsConfig cfg;
    cfg.certificates.push_back({testPki().dev.server_cert, missing, {}});
    auto server = ServerContext::create(cfg);
    ASSERT_FALSE(server.isOk());
    EXPECT_EQ(server.status().message().rfind(missing + ":", 0), 0u) << server.status().message();
  }
  {
    config::ServerTlsConfig cfg = clientAuthConfig(config::ClientAuth::kOptional);
    cfg.client_ca_file = missing;
    auto server = ServerContext::create(cfg);
    ASSERT_FALSE(server.isOk());
    EXPECT_EQ(server.status().message().rfind(missing + ":", 0), 0u) << server.status().message();
  }
  EXPECT_EQ(ERR_peek_error(), 0u);  // the queue was drained into the messages
}

TEST_F(ServerContextTest, ErrorMessagesCarryOpensslReason) {
  config::ServerTlsConfig cfg;
  cfg.certificates.push_back({testPki().dev.server_cert, testPki().dev.client_key, {}});
  auto server = ServerContext::create(cfg);
  ASSERT_FALSE(server.isOk());
  EXPECT_NE(server.status().message().find("key values mismatch"), std::string::npos)
      << server.status().message();
}

TEST_F(ServerContextTest, GarbageFilesAreNamed) {
  testing::TempDir dir;
  const std::string junk = dir.file("junk.pem");
  { std::ofstream(junk) << "not a pem file\n"; }
  config::ServerTlsConfig cfg;
  cfg.certificates.push_back({testPki().dev.server_cert, junk, {}});
  auto server = ServerContext::create(cfg);
  ASSERT_FALSE(server.isOk());
  EXPECT_EQ(server.status().message().rfind(junk + ": cannot read private key", 0), 0u)
      << server.status().message();
  cfg.certificates[0] = {junk, testPki().dev.server_key, {}};
  server = ServerContext::create(cfg);
  ASSERT_FALSE(server.isOk());
  EXPECT_EQ(server.status().message().rfind(junk + ": cannot load certificate chain", 0), 0u)
      << server.status().message();
}

TEST_F(ServerContextTest, NoCertificatesIsError) {
  EXPECT_FALSE(ServerContext::create(config::ServerTlsConfig{}).isOk());
}

}  // namespace
}  // namespace stepgate::proxy::tls
