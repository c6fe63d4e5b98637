#include "identity/client_certificate.h"

namespace stepgate::identity {

CertificateOutcome principalFromCertificate(const ClientCertificate& cert,
                                            const config::ProviderConfig& provider,
                                            Principal& out) {
  if (!cert.present)
    return CertificateOutcome::kMissing;
  if (!cert.verified)
    return CertificateOutcome::kUnverified;
  std::string subject;
  if (provider.certificate_subject == "san_uri") {
    if (!cert.san_uris.empty())
      subject = cert.san_uris.front();
  } else if (provider.certificate_subject == "san_dns") {
    if (!cert.san_dns.empty())
      subject = cert.san_dns.front();
  } else {
    subject = cert.subject;
  }
  if (subject.empty())
    return CertificateOutcome::kNoIdentity;
  out = Principal{};
  out.provider = provider.name;
  out.issuer = cert.issuer;
  out.subject = std::move(subject);
  out.method = AuthMethod::kClientCertificate;
  out.credential_id = cert.sha256_fingerprint.substr(0, 32);
  return CertificateOutcome::kOk;
}

}  // namespace stepgate::identity
