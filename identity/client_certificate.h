#pragma once
// ClientCertificate: what the TLS layer verified about a client's certificate, handed to the
// identity module (which knows no TLS). A plain value built once per connection.
// principalFromCertificate() maps it to a Principal for an `mtls` provider.

#include <string>
#include <vector>

#include "config/schema.h"
#include "identity/principal.h"

namespace stepgate::identity {

struct ClientCertificate {
  bool present = false;
  bool verified = false;                // chained to the listener's client CA
  std::string subject;                  // RFC 2253 DN
  std::string issuer;                   // RFC 2253 DN of the issuing CA
  std::vector<std::string> san_uris;    // e.g. spiffe://example.org/ns/ops/sa/deployer
  std::vector<std::string> san_dns;
  std::string sha256_fingerprint;       // lowercase hex
};

enum class CertificateOutcome : unsigned char { kOk, kMissing, kUnverified, kNoIdentity };

// Fills `out` from `cert` for `provider` (type mtls): the subject is the first SAN URI,
// the first SAN DNS name, or the subject DN per provider.certificate_subject; issuer is the
// issuing CA's DN; credential_id is the start of the certificate's SHA-256 fingerprint.
CertificateOutcome principalFromCertificate(const ClientCertificate& cert,
                                            const config::ProviderConfig& provider,
                                            Principal& out);

}  // namespace stepgate::identity
