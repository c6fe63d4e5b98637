#include "proxy/tls/server_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string_view>

#include "common/c_ptr.h"
#include "proxy/tls/tls_util.h"

namespace stepgate::proxy::tls {
namespace {

// TLS 1.2 only: forward-secret ECDHE with AEAD ciphers. TLS 1.3 suites are all AEAD already.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr int kVerifyDepth = 4;
// The same for every listener and certificate: sessions are bound to stepgate, and all SNI
// contexts of one listener share the client-CA settings, so a session may resume on any.
constexpr unsigned char kSessionIdContext[] = "stepgate";

// ALPN protocols in server preference order. "h2" goes in front once the codec speaks it.
const std::vector<std::string>& alpnPreference() {
  static const std::vector<std::string> kProtocols = {"http/1.1"};
  return kProtocols;
}

int contextIndex() {
  static const int kIndex = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return kIndex;
}

// ---------------------------------------------------------------------------------------
// Ticket keys.
//
// rotateTicketKeys() runs on the control thread while the ticket callback runs on workers.
// Choice: no lock on the handshake path. Keys live in a fixed ring of kSlots slots and a
// generation counter says which slot is current (gen % kSlots) and previous (gen - 1). A
// rotation fills slot (gen + 1) % kSlots — neither current nor previous for any reader that
// started within the last rotation — and then publishes gen + 1 (release). Key words are
// atomics read with relaxed loads, and a reader re-checks the generation afterwards
// (seqlock): if two or more rotations happened meanwhile the slot it read may have been
// rewritten, so it reads again. With rotations hours apart that retry never happens in
// practice; it only keeps the code correct under rapid rotation. Writers serialise on a
// mutex that the handshake path never touches.
struct TicketKey {
  std::array<unsigned char, 16> name;
  std::array<unsigned char, 32> aes_key;
  std::array<unsigned char, 32> hmac_key;
};
constexpr size_t kTicketKeyWords = sizeof(TicketKey) / sizeof(uint64_t);
static_assert(sizeof(TicketKey) % sizeof(uint64_t) == 0);

class TicketKeyRing {
 public:
  TicketKeyRing() { rotate(); }

  // Publishes a fresh random key as current; the old current becomes previous.
  void rotate() {
    std::lock_guard<std::mutex> lock(writer_mutex_);
    TicketKey key;
    if (RAND_bytes(key.name.data(), key.name.size()) != 1 ||
        RAND_bytes(key.aes_key.data(), key.aes_key.size()) != 1 ||
        RAND_bytes(key.hmac_key.data(), key.hmac_key.size()) != 1) {
      ERR_clear_error();
      return;  // keep the current key rather than publish a weak one
    }
    const uint64_t next = published_ ? generation_.load(std::memory_order_relaxed) + 1 : 0;
    store(slots_[next % kSlots], key);
    OPENSSL_cleanse(&key, sizeof(key));
    generation_.store(next, std::memory_order_release);
    published_ = true;
  }

  // Copies the current key and, when there is one, the previous key.
  void snapshot(TicketKey& current, TicketKey& previous, bool& has_previous) const {
    for (;;) {
      const uint64_t gen = generation_.load(std::memory_order_acquire);
      load(slots_[gen % kSlots], current);
      has_previous = gen > 0;
      if (has_previous)
        load(slots_[(gen - 1) % kSlots], previous);
      std::atomic_thread_fence(std::memory_order_acquire);
      // A writer filling slot (g + 1) % kSlots conflicts with our slots once g >= gen + 2.
      if (generation_.load(std::memory_order_relaxed) - gen < kSlots - 2)
        return;
    }
  }

 private:
  static constexpr size_t kSlots = 4;
  using Slot = std::array<std::atomic<uint64_t>, kTicketKeyWords>;

  static void store(Slot& slot, const TicketKey& key) {
    uint64_t words[kTicketKeyWords];
    std::memcpy(words, &key, sizeof(key));
    for (size_t i = 0; i < kTicketKeyWords; ++i)
      slot[i].store(words[i], std::memory_order_relaxed);
    OPENSSL_cleanse(words, sizeof(words));
  }
  static void load(const Slot& slot, TicketKey& key) {
    uint64_t words[kTicketKeyWords];
    for (size_t i = 0; i < kTicketKeyWords; ++i)
      words[i] = slot[i].load(std::memory_order_relaxed);
    std::memcpy(&key, words, sizeof(key));
    OPENSSL_cleanse(words, sizeof(words));
  }

  std::array<Slot, kSlots> slots_{};
  std::atomic<uint64_t> generation_{0};
  std::mutex writer_mutex_;
  bool published_ = false;  // guarded by writer_mutex_
};

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

int rejectPassword(char*, int, int, void*) {
  return -1;
}

using SslCtxPtr = CPtr<SSL_CTX, SSL_CTX_free>;

// Every SSL_CTX of one listener and the ticket keys they share; each SSL_CTX points to it
// through ex_data so the callbacks find it after SNI switched the context.
struct ContextSet {
  struct Entry {
    SslCtxPtr ctx;
    std::vector<std::string> names;  // lowercase; "*.example.com" for wildcards
  };
  std::vector<Entry> entries;  // entries[0] is the default
  TicketKeyRing tickets;

  SSL_CTX* defaultCtx() const { return entries.front().ctx.get(); }

  // Exact match over every certificate first, then a one-label wildcard.
  SSL_CTX* match(std::string_view server_name) const {
    std::string name = lowercase(server_name);
    if (!name.empty() && name.back() == '.')
      name.pop_back();
    for (const Entry& e : entries) {
      if (std::find(e.names.begin(), e.names.end(), name) != e.names.end())
        return e.ctx.get();
    }
    const size_t dot = name.find('.');
    if (dot == std::string::npos || dot == 0)
      return nullptr;
    const std::string wildcard = "*" + name.substr(dot);
    for (const Entry& e : entries) {
      if (std::find(e.names.begin(), e.names.end(), wildcard) != e.names.end()) {
        return e.ctx.get();
      }
    }
    return nullptr;
  }

  static ContextSet* from(SSL* ssl) {
    return static_cast<ContextSet*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), contextIndex()));
  }

  static int onServerName(SSL* ssl, int* /*alert*/, void* arg) {
    const ContextSet* self = static_cast<const ContextSet*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr)
      return SSL_TLSEXT_ERR_NOACK;
    SSL_CTX* chosen = self->match(name);
    if (chosen == nullptr)
      return SSL_TLSEXT_ERR_NOACK;  // keep the default certificate
    if (chosen != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, chosen) == nullptr) {
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
  }

  // Picks our most preferred protocol that the client offers; none → no ALPN, HTTP/1.1.
  static int onAlpnSelect(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                          const unsigned char* in, unsigned int inlen, void* /*arg*/) {
    for (const std::string& proto : alpnPreference()) {
      for (unsigned int i = 0; i < inlen;) {
        const unsigned int len = in[i];
        if (i + 1 + len > inlen)
          break;  // malformed: OpenSSL validates, be defensive
        if (len == proto.size() && std::memcmp(in + i + 1, proto.data(), len) == 0) {
          *out = in + i + 1;
          *outlen = static_cast<unsigned char>(len);
          return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
      }
    }
    return SSL_TLSEXT_ERR_NOACK;
  }

  // Session ticket encryption (enc=1) and decryption (enc=0): AES-256-CBC + HMAC-SHA256.
  static int onTicketKey(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                         EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
    ContextSet* self = from(ssl);
    if (self == nullptr)
      return -1;
    TicketKey current, previous;
    bool has_previous = false;
    self->tickets.snapshot(current, previous, has_previous);
    int result = 0;
    const TicketKey* key = nullptr;
    if (enc == 1) {
      key = &current;
      if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) {
        result = -1;
      } else {
        std::memcpy(key_name, key->name.data(), key->name.size());
        result = 1;
      }
    } else if (std::memcmp(key_name, current.name.data(), current.name.size()) == 0) {
      key = &current;
      result = 1;
    } else if (has_previous &&
               std::memcmp(key_name, previous.name.data(), previous.name.size()) == 0) {
      key = &previous;
      result = 2;  // valid, but issue a ticket under the current key
    }
    if (key != nullptr) {
      OSSL_PARAM params[] = {
          OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                            const_cast<unsigned char*>(key->hmac_key.data()),
                                            key->hmac_key.size()),
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
          OSSL_PARAM_construct_end()};
      const int cipher_ok =
          enc == 1
              ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv)
              : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv);
      if (EVP_MAC_CTX_set_params(mac, params) != 1 || cipher_ok != 1) {
        ERR_clear_error();
        result = enc == 1 ? -1 : 0;
      }
    }
    OPENSSL_cleanse(&current, sizeof(current));
    OPENSSL_cleanse(&previous, sizeof(previous));
    return result;
  }
};

Status loadCertificate(SSL_CTX* ctx, const config::CertificateConfig& cert) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.cert_file.c_str()) != 1) {
    return invalidArgument(cert.cert_file +
                           ": cannot load certificate chain: " + drainOpensslErrors());
  }
  CPtr<BIO, BIO_free> bio(BIO_new_file(cert.key_file.c_str(), "r"));
  if (bio == nullptr) {
    return invalidArgument(cert.key_file + ": cannot open private key: " + drainOpensslErrors());
  }
  CPtr<EVP_PKEY, EVP_PKEY_free> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, rejectPassword, nullptr));
  if (key == nullptr) {
    return invalidArgument(cert.key_file +
                           ": cannot read private key (PEM, unencrypted): " + drainOpensslErrors());
  }
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (leaf == nullptr || X509_check_private_key(leaf, key.get()) != 1) {
    return invalidArgument(cert.key_file + ": key does not match certificate " + cert.cert_file +
                           ": " + drainOpensslErrors());
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return invalidArgument(cert.key_file + ": cannot use private key: " + drainOpensslErrors());
  }
  return okStatus();
}

Status configureClientAuth(SSL_CTX* ctx, const config::ServerTlsConfig& config) {
  if (config.client_auth == config::ClientAuth::kNone)
    return okStatus();
  const std::string& ca = config.client_ca_file;
  if (ca.empty())
    return invalidArgument("client certificates requested but no client CA file");
  // The verify store is this CA file only, never the system store.
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    return invalidArgument(ca + ": cannot load client CA: " + drainOpensslErrors());
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
  if (names == nullptr) {
    return invalidArgument(ca + ": no CA certificates: " + drainOpensslErrors());
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  // Optional: no certificate is fine, but a presented one must verify (OpenSSL's default
  // verify callback fails the handshake). Required: no certificate fails too.
  int mode = SSL_VERIFY_PEER;
  if (config.client_auth == config::ClientAuth::kRequired)
    mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  SSL_CTX_set_verify_depth(ctx, kVerifyDepth);
  return okStatus();
}

StatusOr<SslCtxPtr> buildContext(const config::ServerTlsConfig& config,
                                 const config::CertificateConfig& cert, ContextSet* set) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr)
    return internalError("SSL_CTX_new: " + drainOpensslErrors());
  SSL_CTX* c = ctx.get();
  const int min_version =
      config.min_version == config::TlsMinVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(c, min_version) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return internalError("cannot set TLS versions: " + drainOpensslErrors());
  }
  const std::string ciphers = config.ciphers.empty() ? kDefaultCiphers : config.ciphers;
  if (SSL_CTX_set_cipher_list(c, ciphers.c_str()) != 1) {
    return invalidArgument("ciphers \"" + ciphers + "\": " + drainOpensslErrors());
  }
  if (!config.ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(c, config.ciphersuites.c_str()) != 1) {
    return invalidArgument("ciphersuites \"" + config.ciphersuites + "\": " + drainOpensslErrors());
  }
  if (SSL_CTX_set1_groups_list(c, kGroups) != 1) {
    return internalError(std::string("groups ") + kGroups + ": " + drainOpensslErrors());
  }
  uint64_t options =
      SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
  if (!config.session_tickets)
    options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(c, options);
  // SSL_MODE_RELEASE_BUFFERS on: an idle keep-alive connection then holds no ~34 KB of
  // OpenSSL read/write buffers. With up to max_connections_per_worker (10k) mostly idle
  // connections per worker the memory matters more than one malloc per busy read, which is
  // small next to the record crypto. bufferevent_openssl needs partial writes and a moving
  // write buffer, as it retries with a different pointer.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  RETURN_IF_ERROR(loadCertificate(c, cert));
  RETURN_IF_ERROR(configureClientAuth(c, config));

  if (SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof(kSessionIdContext) - 1) != 1) {
    return internalError("session id context: " + drainOpensslErrors());
  }
  if (config.session_cache_size == 0) {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(c, config.session_cache_size);
  }
  if (config.session_tickets)
    SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ContextSet::onTicketKey);
  SSL_CTX_set_alpn_select_cb(c, ContextSet::onAlpnSelect, nullptr);
  SSL_CTX_set_ex_data(c, contextIndex(), set);
  return ctx;
}

}  // namespace

struct ServerContext::Impl {
  ContextSet set;
};

ServerContext::ServerContext(const config::ServerTlsConfig& config)
    : config_(config), impl_(std::make_unique<Impl>()) {}

ServerContext::~ServerContext() = default;

StatusOr<std::shared_ptr<ServerContext>> ServerContext::create(
    const config::ServerTlsConfig& config) {
  if (config.certificates.empty())
    return invalidArgument("tls: no certificate configured");
  std::shared_ptr<ServerContext> context(new ServerContext(config));
  ContextSet* set = &context->impl_->set;
  ERR_clear_error();
  for (const config::CertificateConfig& cert : config.certificates) {
    ASSIGN_OR_RETURN(SslCtxPtr ctx, buildContext(config, cert, set));
    ContextSet::Entry entry{std::move(ctx), {}};
    for (const std::string& name : cert.server_names)
      entry.names.push_back(lowercase(name));
    set->entries.push_back(std::move(entry));
  }
  // SNI is resolved on the context every SSL starts from; the others only serve.
  SSL_CTX_set_tlsext_servername_callback(set->defaultCtx(), ContextSet::onServerName);
  SSL_CTX_set_tlsext_servername_arg(set->defaultCtx(), set);
  return context;
}

SSL* ServerContext::newSsl() const {
  return SSL_new(impl_->set.defaultCtx());
}

void ServerContext::rotateTicketKeys() const {
  impl_->set.tickets.rotate();
}

PeerCertificate peerCertificate(const SSL* ssl) {
  PeerCertificate out;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr)
    return out;
  out.present = true;
  out.verified = SSL_get_verify_result(ssl) == X509_V_OK;
  out.subject = nameToRfc2253(X509_get_subject_name(cert));
  out.issuer = nameToRfc2253(X509_get_issuer_name(cert));
  out.sha256_fingerprint = sha256Fingerprint(cert);
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type != GEN_URI && name->type != GEN_DNS)
        continue;
      const ASN1_IA5STRING* text =
          name->type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
      std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                        static_cast<size_t>(ASN1_STRING_length(text)));
      (name->type == GEN_URI ? out.san_uris : out.san_dns).push_back(std::move(value));
    }
    GENERAL_NAMES_free(names);
  }
  return out;
}

const char* tlsVersionName(const SSL* ssl) {
  return SSL_get_version(ssl);
}

}  // namespace stepgate::proxy::tls
