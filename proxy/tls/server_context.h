#pragma once
// ServerContext: the TLS configuration of one listener, built from config::ServerTlsConfig on
// the control thread and then shared read-only by every worker (ServerContextConstSharedPtr).
//
// It holds one SSL_CTX per configured certificate; an SNI callback picks the certificate whose
// server_names match the client's server name (exact, then "*.suffix" wildcard, else the
// first). TLS 1.2 and 1.3 (min_version 1.3 makes it 1.3-only), modern cipher defaults, ALPN
// "http/1.1" (the list is built so "h2" can be added later), server-side session cache and
// session tickets whose keys rotate every `ticket_key_rotation` (the previous key still
// decrypts for one period). With a client CA configured, client certificates are requested
// (optional) or required and verified against that CA only.
//
// A certificate reload (SIGHUP) builds a new ServerContext; connections already established
// keep the SSL objects of the old one, which lives as long as they do.
//
// Thread safety: newSsl() and the OpenSSL callbacks may run on any worker concurrently;
// rotateTicketKeys() is called on the control thread and is safe against them.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/schema.h"

namespace stepgate::proxy::tls {

class ServerContext;
using ServerContextConstSharedPtr = std::shared_ptr<const ServerContext>;

class ServerContext {
 public:
  // Loads certificates, keys and the client CA; every failure names the file and OpenSSL's
  // reason (e.g. "certs/server.key: key does not match certificate").
  [[nodiscard]] static StatusOr<std::shared_ptr<ServerContext>> create(
      const config::ServerTlsConfig& config);

  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // A new server-side SSL for an accepted connection; the caller owns it (SSL_free), typically
  // by handing it to bufferevent_openssl with BEV_OPT_CLOSE_ON_FREE. nullptr on allocation
  // failure.
  SSL* newSsl() const;

  // Starts a new ticket key; the previous one stays valid for decryption. Control thread.
  void rotateTicketKeys() const;

  const config::ServerTlsConfig& config() const { return config_; }

 private:
  explicit ServerContext(const config::ServerTlsConfig& config);
  struct Impl;
  config::ServerTlsConfig config_;
  std::unique_ptr<Impl> impl_;
};

// What the connection knows about the client's certificate, for the identity module.
struct PeerCertificate {
  bool present = false;    // a certificate was sent
  bool verified = false;   // it chained to the client CA
  std::string subject;     // RFC 2253 DN, e.g. "CN=alice,O=Example"
  std::string issuer;
  std::vector<std::string> san_uris;  // e.g. spiffe://example.org/ns/ops/sa/deployer
  std::vector<std::string> san_dns;
  std::string sha256_fingerprint;     // lowercase hex of the DER
};

// Reads the peer certificate of an established connection.
PeerCertificate peerCertificate(const SSL* ssl);

// "TLSv1.3", "TLSv1.2".
const char* tlsVersionName(const SSL* ssl);

}  // namespace stepgate::proxy::tls
