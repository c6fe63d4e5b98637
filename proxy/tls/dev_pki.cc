#include "proxy/tls/dev_pki.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>
#include <vector>

#include "common/c_ptr.h"
#include "proxy/tls/tls_util.h"

namespace stepgate::proxy::tls {
namespace {

using X509Ptr = CPtr<X509, X509_free>;
using PkeyPtr = CPtr<EVP_PKEY, EVP_PKEY_free>;
using BioPtr = CPtr<BIO, BIO_free>;

constexpr long kValiditySeconds = 30L * 24 * 3600;
constexpr long kBackdateSeconds = 3600;  // tolerate clocks slightly behind ours
constexpr long kReuseMinSeconds = 24L * 3600;

std::string sslError(const std::string& what) {
  return what + ": " + drainOpensslErrors();
}

StatusOr<PkeyPtr> generateKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr)
    return internalError(sslError("EC P-256 key generation"));
  return key;
}

struct Subject {
  std::string common_name;
  std::string organization;
};

struct Extension {
  int nid;
  const char* value;
};

// A v3 certificate for `key`, signed by `issuer_key` (self-signed when `issuer` is null).
StatusOr<X509Ptr> makeCertificate(const Subject& subject, EVP_PKEY* key, const X509* issuer,
                                  EVP_PKEY* issuer_key, const std::vector<Extension>& extensions) {
  X509Ptr cert(X509_new());
  if (cert == nullptr)
    return internalError(sslError("X509_new"));
  X509* x = cert.get();
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1)
    return internalError(sslError("RAND_bytes"));
  serial[0] &= 0x7f;  // positive
  serial[0] |= 0x40;  // and a fixed length of 16 bytes
  CPtr<BIGNUM, BN_free> bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  if (bn == nullptr || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x)) == nullptr ||
      X509_set_version(x, X509_VERSION_3) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(x), -kBackdateSeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), kValiditySeconds - kBackdateSeconds) == nullptr ||
      X509_set_pubkey(x, key) != 1) {
    return internalError(sslError("building certificate"));
  }
  X509_NAME* name = X509_get_subject_name(x);
  auto add = [&](const char* field, const std::string& value) {
    return value.empty() ||
           X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  if (!add("O", subject.organization) || !add("CN", subject.common_name) ||
      X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name) != 1) {
    return internalError(sslError("certificate names"));
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? const_cast<X509*>(issuer) : x, x, nullptr, nullptr, 0);
  for (const Extension& e : extensions) {
    CPtr<X509_EXTENSION, X509_EXTENSION_free> ext(
        X509V3_EXT_conf_nid(nullptr, &ctx, e.nid, e.value));
    if (ext == nullptr || X509_add_ext(x, ext.get(), -1) != 1) {
      return internalError(sslError(std::string("extension ") + OBJ_nid2sn(e.nid) + "=" + e.value));
    }
  }
  if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
    return internalError(sslError("signing"));
  return cert;
}

std::string bioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

StatusOr<std::string> certificatesPem(const std::vector<const X509*>& certs) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr)
    return internalError(sslError("BIO_new"));
  for (const X509* c : certs) {
    if (PEM_write_bio_X509(bio.get(), const_cast<X509*>(c)) != 1) {
      return internalError(sslError("PEM_write_bio_X509"));
    }
  }
  return bioContents(bio.get());
}

StatusOr<std::string> keyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return internalError(sslError("PEM_write_bio_PrivateKey"));
  }
  return bioContents(bio.get());
}

// Writes `path` atomically (temp file created with `mode`, then renamed over it).
Status writeFile(const std::string& path, const std::string& data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return unavailable(tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return unavailable(tmp + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  // The umask may have narrowed `mode`; never widened it. Make it exact.
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return unavailable(tmp + ": " + std::strerror(err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return unavailable(path + ": " + std::strerror(err));
  }
  return okStatus();
}

X509Ptr readFirstCertificate(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr)
    return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// True iff `cert` stays valid for at least another day and chains to `ca`.
bool stillGood(X509* cert, X509* ca) {
  if (cert == nullptr || ca == nullptr)
    return false;
  time_t limit = std::time(nullptr) + kReuseMinSeconds;
  if (X509_cmp_time(X509_get0_notAfter(cert), &limit) <= 0)
    return false;
  CPtr<X509_STORE, X509_STORE_free> store(X509_STORE_new());
  CPtr<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) {
    return false;
  }
  return X509_verify_cert(ctx.get()) == 1;
}

bool keyMatches(X509* cert, const std::string& key_path) {
  BioPtr bio(BIO_new_file(key_path.c_str(), "r"));
  if (bio == nullptr || cert == nullptr)
    return false;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>("")));
  return key != nullptr && X509_check_private_key(cert, key.get()) == 1;
}

bool reusable(const DevPkiFiles& files) {
  for (const std::string* path : {&files.ca_cert, &files.ca_key, &files.server_cert,
                                  &files.server_key, &files.client_cert, &files.client_key}) {
    struct stat st;
    if (::stat(path->c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
      return false;
  }
  X509Ptr ca = readFirstCertificate(files.ca_cert);
  X509Ptr server = readFirstCertificate(files.server_cert);
  X509Ptr client = readFirstCertificate(files.client_cert);
  const bool ok = stillGood(server.get(), ca.get()) && stillGood(client.get(), ca.get()) &&
                  keyMatches(ca.get(), files.ca_key) &&
                  keyMatches(server.get(), files.server_key) &&
                  keyMatches(client.get(), files.client_key);
  ERR_clear_error();
  return ok;
}

Status generate(const DevPkiFiles& files) {
  ASSIGN_OR_RETURN(PkeyPtr ca_key, generateKey());
  ASSIGN_OR_RETURN(PkeyPtr server_key, generateKey());
  ASSIGN_OR_RETURN(PkeyPtr client_key, generateKey());
  ASSIGN_OR_RETURN(X509Ptr ca, makeCertificate({"stepgate dev CA", "stepgate demo"}, ca_key.get(),
                                               nullptr, ca_key.get(),
                                               {{NID_basic_constraints, "critical,CA:TRUE"},
                                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                                {NID_subject_key_identifier, "hash"}}));
  ASSIGN_OR_RETURN(X509Ptr server,
                   makeCertificate({"localhost", ""}, server_key.get(), ca.get(), ca_key.get(),
                                   {{NID_basic_constraints, "critical,CA:FALSE"},
                                    {NID_key_usage, "critical,digitalSignature"},
                                    {NID_ext_key_usage, "serverAuth"},
                                    {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
                                    {NID_subject_key_identifier, "hash"},
                                    {NID_authority_key_identifier, "keyid:always"}}));
  ASSIGN_OR_RETURN(
      X509Ptr client,
      makeCertificate({"demo-client", "stepgate demo"}, client_key.get(), ca.get(), ca_key.get(),
                      {{NID_basic_constraints, "critical,CA:FALSE"},
                       {NID_key_usage, "critical,digitalSignature"},
                       {NID_ext_key_usage, "clientAuth"},
                       {NID_subject_alt_name, "URI:spiffe://stepgate.demo/client"},
                       {NID_subject_key_identifier, "hash"},
                       {NID_authority_key_identifier, "keyid:always"}}));

  ASSIGN_OR_RETURN(std::string ca_pem, certificatesPem({ca.get()}));
  ASSIGN_OR_RETURN(std::string server_pem, certificatesPem({server.get(), ca.get()}));
  ASSIGN_OR_RETURN(std::string client_pem, certificatesPem({client.get()}));
  ASSIGN_OR_RETURN(std::string ca_key_pem, keyPem(ca_key.get()));
  ASSIGN_OR_RETURN(std::string server_key_pem, keyPem(server_key.get()));
  ASSIGN_OR_RETURN(std::string client_key_pem, keyPem(client_key.get()));
  // A crash half-way leaves keys and certificates that do not match: the reuse check
  // compares them, so the next start regenerates everything.
  RETURN_IF_ERROR(writeFile(files.ca_key, ca_key_pem, 0600));
  RETURN_IF_ERROR(writeFile(files.server_key, server_key_pem, 0600));
  RETURN_IF_ERROR(writeFile(files.client_key, client_key_pem, 0600));
  RETURN_IF_ERROR(writeFile(files.ca_cert, ca_pem, 0644));
  RETURN_IF_ERROR(writeFile(files.server_cert, server_pem, 0644));
  RETURN_IF_ERROR(writeFile(files.client_cert, client_pem, 0644));
  OPENSSL_cleanse(ca_key_pem.data(), ca_key_pem.size());
  OPENSSL_cleanse(server_key_pem.data(), server_key_pem.size());
  OPENSSL_cleanse(client_key_pem.data(), client_key_pem.size());
  return okStatus();
}

}  // namespace

StatusOr<DevPkiFiles> ensureDevPki(const std::string& dir) {
  if (dir.empty())
    return invalidArgument("dev pki: empty directory");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return unavailable(dir + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return unavailable(dir + ": not a directory");
  }
  const std::string base = dir.back() == '/' ? dir : dir + "/";
  DevPkiFiles files{base + "ca.pem",     base + "ca.key",     base + "server.pem",
                    base + "server.key", base + "client.pem", base + "client.key"};
  ERR_clear_error();
  if (reusable(files))
    return files;
  Status status = generate(files);
  ERR_clear_error();
  if (!status.isOk())
    return status;
  return files;
}

}  // namespace stepgate::proxy::tls
