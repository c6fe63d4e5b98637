#pragma once
// Development PKI for `stepgate demo` and the tests: an EC P-256 CA, a server certificate for
// localhost / 127.0.0.1 / ::1, and a client certificate, all signed by that CA.
// NOT for production: keys are written unencrypted (mode 0600) into `dir`.
// Called on the main thread before serving.

#include <string>

#include "common/status.h"

namespace stepgate::proxy::tls {

struct DevPkiFiles {
  std::string ca_cert;      // dir/ca.pem
  std::string ca_key;       // dir/ca.key
  std::string server_cert;  // dir/server.pem (leaf then CA)
  std::string server_key;   // dir/server.key
  std::string client_cert;  // dir/client.pem, CN=demo-client, SAN URI spiffe://stepgate.demo/client
  std::string client_key;   // dir/client.key
};

// Creates `dir` if needed and writes the files, reusing existing ones that are still valid
// for at least a day. Certificates are valid for 30 days.
[[nodiscard]] StatusOr<DevPkiFiles> ensureDevPki(const std::string& dir);

}  // namespace stepgate::proxy::tls
