#include "identity/client_certificate.h"

#include <gtest/gtest.h>

namespace stepgate::identity {
namespace {

ClientCertificate spiffeCert() {
  ClientCertificate c;
  c.present = true;
  c.verified = true;
  c.subject = "CN=deployer,O=Example";
  c.issuer = "CN=Example Workload CA";
  c.san_uris = {"spiffe://example.org/ns/ops/sa/deployer"};
  c.san_dns = {"deployer.ops.svc"};
  c.sha256_fingerprint = std::string(64, 'a');
  return c;
}

config::ProviderConfig mtls(const char* field) {
  config::ProviderConfig p;
  p.name = "workloads";
  p.type = config::ProviderType::kMtls;
  p.certificate_subject = field;
  return p;
}

TEST(ClientCertificateTest, SubjectFromConfiguredField) {
  Principal p;
  ASSERT_EQ(principalFromCertificate(spiffeCert(), mtls("san_uri"), p), CertificateOutcome::kOk);
  EXPECT_EQ(p.subject, "spiffe://example.org/ns/ops/sa/deployer");
  EXPECT_EQ(p.provider, "workloads");
  EXPECT_EQ(p.issuer, "CN=Example Workload CA");
  EXPECT_EQ(p.method, AuthMethod::kClientCertificate);
  EXPECT_EQ(p.credential_id.size(), 32u);
  ASSERT_EQ(principalFromCertificate(spiffeCert(), mtls("san_dns"), p), CertificateOutcome::kOk);
  EXPECT_EQ(p.subject, "deployer.ops.svc");
  ASSERT_EQ(principalFromCertificate(spiffeCert(), mtls("subject_dn"), p),
            CertificateOutcome::kOk);
  EXPECT_EQ(p.subject, "CN=deployer,O=Example");
}

TEST(ClientCertificateTest, RefusesMissingUnverifiedOrAnonymous) {
  Principal p;
  ClientCertificate none;
  EXPECT_EQ(principalFromCertificate(none, mtls("san_uri"), p), CertificateOutcome::kMissing);
  ClientCertificate unverified = spiffeCert();
  unverified.verified = false;
  EXPECT_EQ(principalFromCertificate(unverified, mtls("san_uri"), p),
            CertificateOutcome::kUnverified);
  ClientCertificate no_uri = spiffeCert();
  no_uri.san_uris.clear();
  EXPECT_EQ(principalFromCertificate(no_uri, mtls("san_uri"), p), CertificateOutcome::kNoIdentity);
}

}  // namespace
}  // namespace stepgate::identity
