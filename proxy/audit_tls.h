#pragma once
// TLS for the audit forwarders (audit/forwarder.h): a Connector that opens a TCP stream with
// audit::connectTcp and runs TLS over it through OpenSSL memory BIOs, so the forwarder's
// deadlines and stop descriptor keep working unchanged. TLS 1.2 or 1.3; the receiver's
// certificate is verified against Endpoint::ca_file (or the system trust store) and its name
// (Endpoint::server_name, else the host); SNI is sent for names.

#include "audit/forwarder.h"

namespace stepgate::proxy {

audit::Connector auditTlsConnector();

}  // namespace stepgate::proxy
