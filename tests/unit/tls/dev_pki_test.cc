#include "proxy/tls/dev_pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/unit/tls/tls_test_util.h"

// The generator is checked with the openssl CLI, not only with the library that made it.

namespace stepgate::proxy::tls {
namespace {

using testing::readFile;
using testing::run;
using testing::shellQuote;

class DevPkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto files = ensureDevPki(dir_.file("pki"));
    ASSERT_TRUE(files.isOk()) << files.status().toString();
    files_ = *files;
  }
  // Runs `openssl <args>` and returns its output; expects success.
  static std::string openssl(const std::string& args) {
    const auto r = run("openssl " + args);
    EXPECT_EQ(r.exit_code, 0) << "openssl " << args << "\n" << r.output;
    return r.output;
  }
  std::vector<std::string> contents() const {
    return {readFile(files_.ca_cert),    readFile(files_.ca_key),      readFile(files_.server_cert),
            readFile(files_.server_key), readFile(files_.client_cert), readFile(files_.client_key)};
  }

  testing::TempDir dir_;
  DevPkiFiles files_;
};

TEST_F(DevPkiTest, WritesFilesWithPrivateKeyModes) {
  const std::string base = dir_.file("pki") + "/";
  EXPECT_EQ(files_.ca_cert, base + "ca.pem");
  EXPECT_EQ(files_.ca_key, base + "ca.key");
  EXPECT_EQ(files_.server_cert, base + "server.pem");
  EXPECT_EQ(files_.server_key, base + "server.key");
  EXPECT_EQ(files_.client_cert, base + "client.pem");
  EXPECT_EQ(files_.client_key, base + "client.key");
  for (const std::string& key : {files_.ca_key, files_.server_key, files_.client_key}) {
    struct stat st;
    ASSERT_EQ(::stat(key.c_str(), &st), 0) << key;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
    EXPECT_NE(readFile(key).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  }
  for (const std::string& cert : {files_.ca_cert, files_.server_cert, files_.client_cert}) {
    struct stat st;
    ASSERT_EQ(::stat(cert.c_str(), &st), 0) << cert;
    EXPECT_EQ(st.st_mode & 0077 & ~0044, 0u) << cert;  // not writable by others
  }
  EXPECT_FALSE(std::filesystem::exists(files_.server_key + ".tmp"));
}

TEST_F(DevPkiTest, OpensslVerifiesChains) {
  const std::string ca = shellQuote(files_.ca_cert);
  EXPECT_NE(
      openssl("verify -purpose sslserver -CAfile " + ca + " " + shellQuote(files_.server_cert))
          .find(": OK"),
      std::string::npos);
  EXPECT_NE(
      openssl("verify -purpose sslclient -CAfile " + ca + " " + shellQuote(files_.client_cert))
          .find(": OK"),
      std::string::npos);
  // The server certificate is not a client certificate and vice versa.
  EXPECT_NE(
      run("openssl verify -purpose sslclient -CAfile " + ca + " " + shellQuote(files_.server_cert))
          .exit_code,
      0);
  EXPECT_NE(
      run("openssl verify -purpose sslserver -CAfile " + ca + " " + shellQuote(files_.client_cert))
          .exit_code,
      0);
}

TEST_F(DevPkiTest, ServerPemIsLeafThenCa) {
  const std::string pem = readFile(files_.server_cert);
  size_t count = 0;
  for (size_t at = 0; (at = pem.find("-----BEGIN CERTIFICATE-----", at)) != std::string::npos;
       ++at) {
    ++count;
  }
  EXPECT_EQ(count, 2u);
  const std::string ca = readFile(files_.ca_cert);
  EXPECT_EQ(pem.substr(pem.size() - ca.size()), ca);
}

TEST_F(DevPkiTest, ServerCertificateExtensions) {
  const std::string out = openssl(
      "x509 -noout -subject -ext subjectAltName,extendedKeyUsage,basicConstraints,"
      "authorityKeyIdentifier -in " +
      shellQuote(files_.server_cert));
  EXPECT_NE(out.find("CN = localhost"), std::string::npos) << out;
  EXPECT_NE(out.find("DNS:localhost"), std::string::npos) << out;
  EXPECT_NE(out.find("IP Address:127.0.0.1"), std::string::npos) << out;
  EXPECT_NE(out.find("IP Address:0:0:0:0:0:0:0:1"), std::string::npos) << out;
  EXPECT_NE(out.find("TLS Web Server Authentication"), std::string::npos) << out;
  EXPECT_NE(out.find("CA:FALSE"), std::string::npos) << out;
  EXPECT_NE(out.find("Authority Key Identifier"), std::string::npos) << out;
}

TEST_F(DevPkiTest, ClientCertificateIdentity) {
  const std::string out = openssl(
      "x509 -noout -subject -ext subjectAltName,extendedKeyUsage "
      "-nameopt RFC2253 -in " +
      shellQuote(files_.client_cert));
  EXPECT_NE(out.find("subject=CN=demo-client,O=stepgate demo"), std::string::npos) << out;
  EXPECT_NE(out.find("URI:spiffe://stepgate.demo/client"), std::string::npos) << out;
  EXPECT_NE(out.find("TLS Web Client Authentication"), std::string::npos) << out;
}

TEST_F(DevPkiTest, CaCertificateExtensions) {
  const std::string out = openssl("x509 -noout -text -in " + shellQuote(files_.ca_cert));
  EXPECT_NE(out.find("X509v3 Basic Constraints: critical"), std::string::npos) << out;
  EXPECT_NE(out.find("CA:TRUE"), std::string::npos) << out;
  EXPECT_NE(out.find("Certificate Sign, CRL Sign"), std::string::npos) << out;
  EXPECT_NE(out.find("X509v3 Subject Key Identifier"), std::string::npos) << out;
  EXPECT_NE(out.find("Version: 3"), std::string::npos) << out;
}

TEST_F(DevPkiTest, KeysAndSignaturesAreP256Sha256) {
  for (const std::string& cert : {files_.ca_cert, files_.server_cert, files_.client_cert}) {
    const std::string out = openssl("x509 -noout -text -in " + shellQuote(cert));
    EXPECT_NE(out.find("Signature Algorithm: ecdsa-with-SHA256"), std::string::npos) << cert;
    EXPECT_NE(out.find("NIST CURVE: P-256"), std::string::npos) << cert;
  }
}

TEST_F(DevPkiTest, ValidForThirtyDaysFromAnHourAgo) {
  const std::string cert = shellQuote(files_.server_cert);
  // Valid in 29 days, no longer in 30 days (it started an hour ago).
  EXPECT_EQ(run("openssl x509 -noout -checkend 2505600 -in " + cert).exit_code, 0);
  EXPECT_NE(run("openssl x509 -noout -checkend 2592000 -in " + cert).exit_code, 0);
}

TEST_F(DevPkiTest, SerialsAreRandom) {
  const std::string a = openssl("x509 -noout -serial -in " + shellQuote(files_.server_cert));
  const std::string b = openssl("x509 -noout -serial -in " + shellQuote(files_.client_cert));
  EXPECT_NE(a, b);
  EXPECT_GE(a.size(), std::string("serial=").size() + 32);  // 16 bytes in hex
}

TEST_F(DevPkiTest, ReusesValidFiles) {
  const auto before = contents();
  auto again = ensureDevPki(dir_.file("pki"));
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(contents(), before);
}

TEST_F(DevPkiTest, RegeneratesEverythingWhenAFileIsMissing) {
  const auto before = contents();
  std::filesystem::remove(files_.client_key);
  ASSERT_TRUE(ensureDevPki(dir_.file("pki")).isOk());
  const auto after = contents();
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_NE(after[i], before[i]) << i;
  openssl("verify -CAfile " + shellQuote(files_.ca_cert) + " " + shellQuote(files_.server_cert));
}

TEST_F(DevPkiTest, RegeneratesWhenCaDoesNotMatch) {
  testing::TempDir other;
  auto other_files = ensureDevPki(other.path());
  ASSERT_TRUE(other_files.isOk());
  std::filesystem::copy_file(other_files->ca_cert, files_.ca_cert,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(ensureDevPki(dir_.file("pki")).isOk());
  EXPECT_NE(readFile(files_.ca_cert), readFile(other_files->ca_cert));
  openssl("verify -CAfile " + shellQuote(files_.ca_cert) + " " + shellQuote(files_.server_cert));
}

TEST_F(DevPkiTest, RegeneratesWhenKeyDoesNotMatch) {
  std::filesystem::copy_file(files_.client_key, files_.server_key,
                             std::filesystem::copy_options::overwrite_existing);
  const std::string old_server = readFile(files_.server_cert);
  ASSERT_TRUE(ensureDevPki(dir_.file("pki")).isOk());
  EXPECT_NE(readFile(files_.server_cert), old_server);
  EXPECT_NE(readFile(files_.server_key), readFile(files_.client_key));
}

TEST_F(DevPkiTest, RegeneratesServerCertificateExpiringWithinADay) {
  // A server certificate from the same CA, but valid for one day only, made by the CLI.
  const std::string csr = dir_.file("server.csr");
  openssl("req -new -key " + shellQuote(files_.server_key) + " -subj /CN=localhost -out " +
          shellQuote(csr));
  openssl("x509 -req -days 1 -set_serial 7 -in " + shellQuote(csr) + " -CA " +
          shellQuote(files_.ca_cert) + " -CAkey " + shellQuote(files_.ca_key) + " -out " +
          shellQuote(files_.server_cert));
  const std::string short_lived = readFile(files_.server_cert);
  ASSERT_TRUE(ensureDevPki(dir_.file("pki")).isOk());
  EXPECT_NE(readFile(files_.server_cert), short_lived);
  EXPECT_EQ(
      run("openssl x509 -noout -checkend 2505600 -in " + shellQuote(files_.server_cert)).exit_code,
      0);
}

TEST_F(DevPkiTest, FailsWhenDirectoryIsAFile) {
  const std::string file = dir_.file("plain");
  { std::ofstream(file) << "x"; }
  EXPECT_FALSE(ensureDevPki(file).isOk());
  EXPECT_FALSE(ensureDevPki("").isOk());
}

}  // namespace
}  // namespace stepgate::proxy::tls
