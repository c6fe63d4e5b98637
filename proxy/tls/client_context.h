#pragma once
// ClientContext: TLS towards an upstream (config::UpstreamTlsConfig): TLS 1.2+, the peer
// verified against the configured CA file (or the system store) and the expected host name,
// SNI set. Built on the control thread, then read-only; newSsl() is safe from any worker.

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "config/schema.h"

namespace stepgate::proxy::tls {

class ClientContext {
 public:
  // `default_host` is the URL host, used when the config names no server_name.
  [[nodiscard]] static StatusOr<std::shared_ptr<const ClientContext>> create(
      const config::UpstreamTlsConfig& config, const std::string& default_host);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // A client SSL with SNI and host-name verification set; caller owns it. nullptr on failure.
  SSL* newSsl() const;

 private:
  ClientContext() = default;
  SSL_CTX* ctx_ = nullptr;
  std::string server_name_;
  bool verify_ = true;
};

using ClientContextConstSharedPtr = std::shared_ptr<const ClientContext>;

}  // namespace stepgate::proxy::tls
