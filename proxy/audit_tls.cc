#include "proxy/audit_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace stepgate::proxy {

namespace {

using TimePoint = std::chrono::steady_clock::time_point;

std::string sslError(const char* what) {
  std::string msg = what;
  const unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  return msg;
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

class TlsStream final : public audit::ByteStream {
 public:
  TlsStream(std::unique_ptr<audit::ByteStream> tcp, SSL_CTX* ctx, SSL* ssl)
      : tcp_(std::move(tcp)), ctx_(ctx), ssl_(ssl) {
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(ssl_, in_, out_);  // the SSL owns both now
  }
  ~TlsStream() override {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  Status handshake(TimePoint deadline) {
    while (true) {
      const int r = SSL_do_handshake(ssl_);
      RETURN_IF_ERROR(flush(deadline));
      if (r == 1) return okStatus();
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ) {
        bool eof = false;
        RETURN_IF_ERROR(fill(deadline, eof));
        if (eof) return unavailable("TLS handshake: the receiver closed the connection");
        continue;
      }
      const long vr = SSL_get_verify_result(ssl_);
      if (vr != X509_V_OK) {
        ERR_clear_error();
        return unavailable(std::string("TLS handshake: certificate not trusted (") +
                           X509_verify_cert_error_string(vr) + ")");
      }
      return unavailable(sslError("TLS handshake failed"));
    }
  }

  Status writeAll(std::string_view data, TimePoint deadline) override {
    while (!data.empty()) {
      const int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        RETURN_IF_ERROR(flush(deadline));
        continue;
      }
      const int e = SSL_get_error(ssl_, n);
      RETURN_IF_ERROR(flush(deadline));
      if (e == SSL_ERROR_WANT_READ) {
        bool eof = false;
        RETURN_IF_ERROR(fill(deadline, eof));
        if (eof) return unavailable("TLS: the receiver closed the connection");
        continue;
      }
      return unavailable(sslError("TLS write failed"));
    }
    return okStatus();
  }

  StatusOr<size_t> read(char* buf, size_t cap, TimePoint deadline) override {
    while (true) {
      const int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(cap, 1 << 20)));
      if (n > 0) return static_cast<size_t>(n);
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_ZERO_RETURN) return size_t{0};
      RETURN_IF_ERROR(flush(deadline));
      if (e == SSL_ERROR_WANT_READ) {
        bool eof = false;
        RETURN_IF_ERROR(fill(deadline, eof));
        if (eof) return size_t{0};  // closed without close_notify: the end all the same
        continue;
      }
      return unavailable(sslError("TLS read failed"));
    }
  }

  Status shutdownWrite(TimePoint deadline) override {
    SSL_shutdown(ssl_);  // sends close_notify
    ERR_clear_error();
    RETURN_IF_ERROR(flush(deadline));
    return tcp_->shutdownWrite(deadline);
  }

 private:
  // Sends what TLS produced.
  Status flush(TimePoint deadline) {
    char buf[16384];
    while (BIO_ctrl_pending(out_) > 0) {
      const int n = BIO_read(out_, buf, sizeof buf);
      if (n <= 0) break;
      RETURN_IF_ERROR(tcp_->writeAll(std::string_view(buf, static_cast<size_t>(n)), deadline));
    }
    return okStatus();
  }
  // Feeds TLS what the receiver sent.
  Status fill(TimePoint deadline, bool& eof) {
    char buf[16384];
    auto n = tcp_->read(buf, sizeof buf, deadline);
    if (!n.isOk()) return n.status();
    if (*n == 0) {
      eof = true;
      return okStatus();
    }
    BIO_write(in_, buf, static_cast<int>(*n));
    return okStatus();
  }

  std::unique_ptr<audit::ByteStream> tcp_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

StatusOr<std::unique_ptr<audit::ByteStream>> connectTls(const audit::Endpoint& ep, int stop_fd,
                                                        TimePoint deadline) {
  auto tcp = audit::connectTcp(ep, stop_fd, deadline);
  if (!tcp.isOk()) return tcp.status();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return internalError(sslError("SSL_CTX_new"));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const bool loaded = ep.ca_file.empty()
                          ? SSL_CTX_set_default_verify_paths(ctx) == 1
                          : SSL_CTX_load_verify_locations(ctx, ep.ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    SSL_CTX_free(ctx);
    return unavailable(sslError(("cannot load CA " + ep.ca_file).c_str()));
  }
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) {
    SSL_CTX_free(ctx);
    return internalError(sslError("SSL_new"));
  }
  const std::string name = ep.server_name.empty() ? ep.host : ep.server_name;
  if (isIpLiteral(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    SSL_set1_host(ssl, name.c_str());
  }
  SSL_set_connect_state(ssl);
  auto stream = std::make_unique<TlsStream>(std::move(tcp).value(), ctx, ssl);
  RETURN_IF_ERROR(stream->handshake(deadline));
  return std::unique_ptr<audit::ByteStream>(std::move(stream));
}

}  // namespace

audit::Connector auditTlsConnector() { return &connectTls; }

}  // namespace stepgate::proxy
