#pragma once
// Shared helpers for the TLS tests: a temporary dev PKI (plus an independent CA made with the
// `openssl` CLI), in-process handshakes over a BIO pair, and running shell commands.

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/c_ptr.h"
#include "proxy/tls/dev_pki.h"
#include "proxy/tls/tls_util.h"

namespace stepgate::proxy::tls::testing {

using SslPtr = CPtr<SSL, SSL_free>;
using SslCtxPtr = CPtr<SSL_CTX, SSL_CTX_free>;
using SessionPtr = CPtr<SSL_SESSION, SSL_SESSION_free>;

// A directory under $TMPDIR removed with everything in it when destroyed.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/stepgate-tls-XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    if (made != nullptr)
      path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty())
      std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    result.output.append(buf, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The dev PKI, a second dev PKI (another CA with the same names) and a self-signed
// certificate for other.test / *.other.test made by the openssl CLI. Built once per process.
struct TestPki {
  TempDir dir;
  DevPkiFiles dev;
  DevPkiFiles other_dev;
  std::string other_cert;  // self-signed, CN=other.test
  std::string other_key;
  bool ok = false;
};

// Built on first use; the static's destructor removes the directory at exit.
inline const TestPki& testPki() {
  static TestPki pki;
  static const bool built = [] {
    auto dev = ensureDevPki(pki.dir.file("dev"));
    auto other = ensureDevPki(pki.dir.file("other-dev"));
    if (!dev.isOk() || !other.isOk()) {
      ADD_FAILURE() << dev.status().toString() << " " << other.status().toString();
      return false;
    }
    pki.dev = *dev;
    pki.other_dev = *other;
    pki.other_cert = pki.dir.file("other.pem");
    pki.other_key = pki.dir.file("other.key");
    const CommandResult r =
        run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
            "-subj /CN=other.test -addext 'subjectAltName=DNS:other.test,DNS:*.other.test' "
            "-keyout " +
            shellQuote(pki.other_key) + " -out " + shellQuote(pki.other_cert));
    if (r.exit_code != 0) {
      ADD_FAILURE() << "openssl req failed: " << r.output;
      return false;
    }
    pki.ok = true;
    return true;
  }();
  (void)built;
  return pki;
}

struct ClientOptions {
  std::vector<std::string> trusted = {};  // CA files; empty: the dev CA
  int max_version = 0;                    // 0: TLS 1.3
  std::string ciphers;                    // TLS 1.2 cipher list override
  std::string cert;                       // client certificate and key
  std::string key;
  std::vector<std::string> alpn;
};

// A plain OpenSSL client context, independent of ClientContext.
inline SslCtxPtr clientCtx(const ClientOptions& o = {}) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  EXPECT_NE(ctx, nullptr);
  std::vector<std::string> trusted = o.trusted;
  if (trusted.empty())
    trusted.push_back(testPki().dev.ca_cert);
  for (const std::string& ca : trusted) {
    EXPECT_EQ(SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr), 1) << ca;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (o.max_version != 0)
    SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  if (!o.ciphers.empty()) {
    EXPECT_EQ(SSL_CTX_set_cipher_list(ctx.get(), o.ciphers.c_str()), 1);
  }
  if (!o.cert.empty()) {
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), o.key.c_str(), SSL_FILETYPE_PEM), 1);
  }
  if (!o.alpn.empty()) {
    std::string wire;
    for (const std::string& p : o.alpn)
      wire += static_cast<char>(p.size()) + p;
    EXPECT_EQ(
        SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())),
        0);
  }
  return ctx;
}

struct HandshakeResult {
  bool client_ok = false;
  bool server_ok = false;
  std::string client_error;
  std::string server_error;
  bool ok() const { return client_ok && server_ok; }
};

inline std::ostream& operator<<(std::ostream& os, const HandshakeResult& r) {
  return os << "client_ok=" << r.client_ok << " (" << r.client_error
            << ") server_ok=" << r.server_ok << " (" << r.server_error << ")";
}

// Steps one side; returns false once it failed for good.
inline bool stepHandshake(SSL* ssl, bool& done, std::string& error) {
  const int r = SSL_do_handshake(ssl);
  if (r == 1) {
    done = true;
    return true;
  }
  const int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return true;
  error = drainOpensslErrors();
  return false;
}

// Connects `client` and `server` with a BIO pair and drives both handshakes to the end,
// then (when both succeeded) exchanges a little data each way, which also delivers TLS 1.3
// session tickets to the client. Takes no ownership.
inline HandshakeResult handshake(SSL* client, SSL* server) {
  HandshakeResult res;
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  if (BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1)
    return res;
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  ERR_clear_error();
  bool client_alive = true;
  bool server_alive = true;
  for (int i = 0; i < 50 && client_alive && server_alive && !(res.client_ok && res.server_ok);
       ++i) {
    if (!res.client_ok)
      client_alive = stepHandshake(client, res.client_ok, res.client_error);
    if (client_alive && !res.server_ok) {
      server_alive = stepHandshake(server, res.server_ok, res.server_error);
    }
  }
  if (!client_alive)
    res.client_ok = false;
  if (!server_alive)
    res.server_ok = false;
  if (!res.ok())
    return res;

  char buf[16];
  if (SSL_write(server, "ping", 4) != 4 || SSL_read(client, buf, sizeof(buf)) != 4 ||
      SSL_write(client, "pong", 4) != 4 || SSL_read(server, buf, sizeof(buf)) != 4) {
    res.client_ok = false;
    res.client_error = "data exchange failed: " + drainOpensslErrors();
  }
  return res;
}

// Exchanges close_notify both ways. Without it SSL_free treats the session as bad (OpenSSL
// removes it from the cache and marks it not resumable).
inline void closeCleanly(SSL* client, SSL* server) {
  SSL_shutdown(client);
  SSL_shutdown(server);
  SSL_shutdown(client);
  ERR_clear_error();
}

inline std::string peerCommonName(const SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr)
    return {};
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
  return cn;
}

inline std::string selectedAlpn(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

}  // namespace stepgate::proxy::tls::testing
