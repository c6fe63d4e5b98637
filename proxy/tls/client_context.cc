#include "proxy/tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "proxy/tls/tls_util.h"

namespace stepgate::proxy::tls {
namespace {

constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr int kVerifyDepth = 8;

bool isIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

ClientContext::~ClientContext() {
  SSL_CTX_free(ctx_);
}

StatusOr<std::shared_ptr<const ClientContext>> ClientContext::create(
    const config::UpstreamTlsConfig& config, const std::string& default_host) {
  std::shared_ptr<ClientContext> context(new ClientContext());
  ERR_clear_error();
  context->ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX* ctx = context->ctx_;
  if (ctx == nullptr)
    return internalError("SSL_CTX_new: " + drainOpensslErrors());
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return internalError("cannot set TLS versions: " + drainOpensslErrors());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn)) != 0) {
    return internalError("ALPN: " + drainOpensslErrors());
  }
  context->verify_ = config.verify;
  context->server_name_ = config.server_name.empty() ? default_host : config.server_name;
  if (context->server_name_.empty())
    return invalidArgument("upstream tls: no server name");
  if (config.verify) {
    if (!config.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, config.ca_file.c_str(), nullptr) != 1) {
        return invalidArgument(config.ca_file + ": cannot load CA file: " + drainOpensslErrors());
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return internalError("cannot load the system trust store: " + drainOpensslErrors());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_verify_depth(ctx, kVerifyDepth);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return std::shared_ptr<const ClientContext>(std::move(context));
}

SSL* ClientContext::newSsl() const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr)
    return nullptr;
  const bool ip = isIpLiteral(server_name_);
  bool ok = true;
  // RFC 6066: SNI carries host names only, never address literals.
  if (!ip)
    ok = SSL_set_tlsext_host_name(ssl, server_name_.c_str()) == 1;
  if (ok && verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name_.c_str()) == 1
            : SSL_set1_host(ssl, server_name_.c_str()) == 1;
    if (ok && !ip)
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  }
  if (!ok) {
    ERR_clear_error();
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

}  // namespace stepgate::proxy::tls
