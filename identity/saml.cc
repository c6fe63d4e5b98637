// SAML 2.0 SP: response verification (libxml2 + libxmlsec1 when built with
// STEPGATE_HAVE_XMLSEC), AuthnRequest redirects, SP metadata and the replay cache.

#include "identity/saml.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ctime>

#if defined(STEPGATE_HAVE_XMLSEC)
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/keys.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#endif

namespace stepgate::identity {

namespace {

constexpr const char* kErrorNames[] = {
    "none",
    "too_large",
    "bad_base64",
    "malformed_xml",
    "doctype_forbidden",
    "too_deep",
    "not_a_response",
    "duplicate_id",
    "wrong_assertion_count",
    "no_decryption_key",
    "decryption_failed",
    "missing_signature",
    "assertion_not_signed",
    "signature_reference_mismatch",
    "signature_algorithm_not_allowed",
    "bad_signature",
    "wrong_destination",
    "wrong_issuer",
    "status_not_success",
    "malformed_time",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "no_bearer_confirmation",
    "wrong_recipient",
    "confirmation_expired",
    "wrong_in_response_to",
    "unsolicited_not_allowed",
    "missing_subject",
    "malformed_name_id",
    "replay",
    "internal",
};
static_assert(sizeof(kErrorNames) / sizeof(kErrorNames[0]) ==
              static_cast<std::size_t>(SamlError::kCount));

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Standard base64; ASCII whitespace is skipped (IdPs wrap lines); padding optional but only
// at the end.
[[maybe_unused]] bool base64Decode(std::string_view in, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  bool pad = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    if (c == '=') {
      pad = true;
      continue;
    }
    if (pad)
      return false;
    const char* p = (c != 0) ? std::strchr(kB64, c) : nullptr;
    if (p == nullptr)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return bits < 6;
}

std::string urlEncode(std::string_view in) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string xmlEscape(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// Raw DEFLATE (RFC 1951) made of stored blocks: valid input for any inflater; AuthnRequests
// are small, so compression would save little.
std::string deflateStored(std::string_view in) {
  std::string out;
  std::size_t pos = 0;
  do {
    std::size_t n = std::min<std::size_t>(in.size() - pos, 65535);
    bool final_block = pos + n == in.size();
    out += static_cast<char>(final_block ? 1 : 0);
    out += static_cast<char>(n & 0xff);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(~n & 0xff);
    out += static_cast<char>((~n >> 8) & 0xff);
    out.append(in.substr(pos, n));
    pos += n;
  } while (pos < in.size());
  return out;
}

std::string formatTime(SystemTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string randomId() {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    return {};
  static const char hex[] = "0123456789abcdef";
  std::string id = "_";  // an xs:ID must not start with a digit
  for (unsigned char b : bytes) {
    id += hex[b >> 4];
    id += hex[b & 15];
  }
  return id;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

}  // namespace

const char* samlErrorName(SamlError e) noexcept {
  auto i = static_cast<std::size_t>(e);
  return i < static_cast<std::size_t>(SamlError::kCount) ? kErrorNames[i] : "unknown";
}

// ---------------------------------------------------------------------------------------------
// Replay cache

void SamlReplayCache::evictLocked(SystemTime now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second <= now)
      it = entries_.erase(it);
    else
      ++it;
  }
  while (entries_.size() >= max_entries_ && !entries_.empty()) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a,
                                                                         const auto& b) {
      return a.second < b.second;
    });
    entries_.erase(oldest);
  }
}

bool SamlReplayCache::insertIfAbsent(const std::string& id, SystemTime until, SystemTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    if (it->second > now)
      return false;
    entries_.erase(it);
  }
  if (entries_.size() >= max_entries_)
    evictLocked(now);
  if (max_entries_ == 0)
    return true;
  entries_.emplace(id, until);
  return true;
}

std::size_t SamlReplayCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

// ---------------------------------------------------------------------------------------------
// AuthnRequest redirect and metadata

StatusOr<std::string> buildAuthnRequestRedirect(const SamlSpConfig& config,
                                                std::string_view relay_state,
                                                std::string& request_id_out, SystemTime now) {
  if (config.idp_sso_url.empty())
    return invalidArgument("saml: idp_sso_url is not set");
  if (relay_state.size() > 80)  // SAML bindings section 3.4.3: at most 80 bytes
    return invalidArgument("saml: RelayState longer than 80 bytes");
  std::string id = randomId();
  if (id.empty())
    return internalError("saml: no random bytes for the request id");
  std::string xml =
      "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
      "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"" +
      id + "\" Version=\"2.0\" IssueInstant=\"" + formatTime(now) + "\" Destination=\"" +
      xmlEscape(config.idp_sso_url) +
      "\" ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" "
      "AssertionConsumerServiceURL=\"" +
      xmlEscape(config.acs_url) + "\"><saml:Issuer>" + xmlEscape(config.entity_id) +
      "</saml:Issuer></samlp:AuthnRequest>";
  std::string query = "SAMLRequest=" + urlEncode(base64Encode(deflateStored(xml)));
  if (!relay_state.empty())
    query += "&RelayState=" + urlEncode(relay_state);
  if (config.sign_authn_requests) {
    if (config.sp_private_key_pem.empty())
      return invalidArgument("saml: sign_authn_requests needs sp_private_key_pem");
    query += "&SigAlg=" + urlEncode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    BIO* bio = BIO_new_mem_buf(config.sp_private_key_pem.data(),
                               static_cast<int>(config.sp_private_key_pem.size()));
    if (bio == nullptr)
      return internalError("saml: out of memory");
    std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
        PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA)
      return invalidArgument("saml: sp_private_key_pem is not an RSA private key");
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    std::size_t len = 0;
    std::string sig;
    bool ok = md != nullptr &&
              EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
              EVP_DigestSign(md, nullptr, &len,
                             reinterpret_cast<const unsigned char*>(query.data()),
                             query.size()) == 1;
    if (ok) {
      sig.resize(len);
      ok = EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                          reinterpret_cast<const unsigned char*>(query.data()),
                          query.size()) == 1;
      sig.resize(len);
    }
    EVP_MD_CTX_free(md);
    if (!ok)
      return internalError("saml: signing the AuthnRequest failed");
    query += "&Signature=" + urlEncode(base64Encode(sig));
  }
  request_id_out = id;
  char sep = config.idp_sso_url.find('?') == std::string::npos ? '?' : '&';
  return config.idp_sso_url + sep + query;
}

namespace {
std::string pemBody(std::string_view pem) {
  std::string out;
  auto begin = pem.find("-----BEGIN CERTIFICATE-----");
  auto end = pem.find("-----END CERTIFICATE-----");
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin)
    return out;
  for (char c : pem.substr(begin + 27, end - begin - 27)) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t')
      out += c;
  }
  return out;
}
}  // namespace

std::string spMetadataXml(const SamlSpConfig& config) {
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
      "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"" +
      xmlEscape(config.entity_id) +
      "\">\n"
      "  <md:SPSSODescriptor AuthnRequestsSigned=\"" +
      std::string(config.sign_authn_requests ? "true" : "false") +
      "\" WantAssertionsSigned=\"" +
      std::string(config.require_signed_assertion ? "true" : "false") +
      "\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n";
  std::string body = pemBody(config.sp_cert_pem);
  if (!body.empty()) {
    for (const char* use : {"signing", "encryption"}) {
      xml += std::string("    <md:KeyDescriptor use=\"") + use +
             "\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" + body +
             "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n";
    }
  }
  xml +=
      "    <md:AssertionConsumerService "
      "Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"" +
      xmlEscape(config.acs_url) +
      "\" index=\"0\" isDefault=\"true\"/>\n"
      "  </md:SPSSODescriptor>\n"
      "</md:EntityDescriptor>\n";
  return xml;
}

// ---------------------------------------------------------------------------------------------
// Verification

#if !defined(STEPGATE_HAVE_XMLSEC)

struct SamlVerifier::Keys {};
SamlVerifier::SamlVerifier(SamlSpConfig config) : config_(std::move(config)) {}
SamlVerifier::~SamlVerifier() = default;

StatusOr<std::shared_ptr<const SamlVerifier>> SamlVerifier::create(SamlSpConfig) {
  return unavailable("saml: stepgate was built without libxmlsec1");
}

SamlAssertionResult SamlVerifier::verifyResponse(std::string_view, std::string_view, SystemTime,
                                                 SamlReplayCache*) const noexcept {
  SamlAssertionResult r;
  r.error = SamlError::kInternal;
  return r;
}

#else

namespace {

constexpr char kProtocolNs[] = "urn:oasis:names:tc:SAML:2.0:protocol";
constexpr char kAssertionNs[] = "urn:oasis:names:tc:SAML:2.0:assertion";
constexpr char kDsigNs[] = "http://www.w3.org/2000/09/xmldsig#";
constexpr char kXencNs[] = "http://www.w3.org/2001/04/xmlenc#";
constexpr char kExcC14n[] = "http://www.w3.org/2001/10/xml-exc-c14n#";
constexpr char kEnveloped[] = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
constexpr char kBearer[] = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
constexpr char kSuccess[] = "urn:oasis:names:tc:SAML:2.0:status:Success";
constexpr int kMaxDepth = 48;

const char* const kSignatureAlgs[] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
};
const char* const kDigestAlgs[] = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
};
constexpr char kRsaSha1[] = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
constexpr char kSha1[] = "http://www.w3.org/2000/09/xmldsig#sha1";

void silentXmlsecErrors(const char*, int, const char*, const char*, const char*, int,
                        const char*) {}
void silentXmlErrors(void*, const char*, ...) {}

bool g_xmlsec_ok = false;
std::once_flag g_xmlsec_once;

void initXmlsecOnce() {
  xmlInitParser();
  if (xmlSecInit() < 0)
    return;
  if (xmlSecCheckVersion() != 1)
    return;
  if (xmlSecCryptoAppInit(nullptr) < 0)
    return;
  if (xmlSecCryptoInit() < 0)
    return;
  // Errors are reported through SamlError; the library's own messages would go to stderr.
  xmlSecErrorsDefaultCallbackEnableOutput(0);
  xmlSecErrorsSetCallback(silentXmlsecErrors);
  g_xmlsec_ok = true;
}

struct DocDeleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocDeleter>;

bool isElem(const xmlNode* n, const char* ns, const char* name) {
  return n != nullptr && n->type == XML_ELEMENT_NODE && n->ns != nullptr &&
         xmlStrEqual(n->ns->href, BAD_CAST ns) && xmlStrEqual(n->name, BAD_CAST name);
}

std::vector<xmlNode*> children(xmlNode* parent, const char* ns, const char* name) {
  std::vector<xmlNode*> out;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (isElem(c, ns, name))
      out.push_back(c);
  }
  return out;
}

xmlNode* child(xmlNode* parent, const char* ns, const char* name) {
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (isElem(c, ns, name))
      return c;
  }
  return nullptr;
}

// An unqualified attribute's value, or nullopt.
std::optional<std::string> attr(const xmlNode* n, const char* name) {
  for (xmlAttr* a = n->properties; a != nullptr; a = a->next) {
    if (a->ns == nullptr && xmlStrEqual(a->name, BAD_CAST name)) {
      xmlChar* v = xmlNodeGetContent(reinterpret_cast<xmlNode*>(a));
      std::string s = v != nullptr ? reinterpret_cast<const char*>(v) : "";
      xmlFree(v);
      return s;
    }
  }
  return std::nullopt;
}

// The text of an element made only of text/CDATA children; nullopt when it has any other
// child (a comment, an element, a processing instruction, an entity reference).
std::optional<std::string> strictText(const xmlNode* n) {
  std::string out;
  for (xmlNode* c = n->children; c != nullptr; c = c->next) {
    if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
      return std::nullopt;
    if (c->content != nullptr)
      out += reinterpret_cast<const char*>(c->content);
  }
  return out;
}

std::string trimmed(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && ws(s.back()))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && ws(s[i]))
    ++i;
  return s.substr(i);
}

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// xs:dateTime with a time zone: YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm).
bool parseDateTime(std::string_view s, SystemTime& out) {
  auto num = [&](std::size_t pos, std::size_t len, int& v) {
    if (pos + len > s.size())
      return false;
    v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9')
        return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (!num(0, 4, y) || s.size() < 20 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
      !num(8, 2, d) || s[10] != 'T' || !num(11, 2, h) || s[13] != ':' || !num(14, 2, mi) ||
      s[16] != ':' || !num(17, 2, sec))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return false;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9')
      ++pos;
    if (pos == start)
      return false;
  }
  int64_t offset = 0;
  if (pos < s.size() && s[pos] == 'Z' && pos + 1 == s.size()) {
    offset = 0;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    int oh, om;
    if (!num(pos + 1, 2, oh) || !num(pos + 4, 2, om) || oh > 14 || om > 59)
      return false;
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
  } else {
    return false;  // no time zone: ambiguous
  }
  int64_t secs = daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                 h * 3600 + mi * 60 + sec - offset;
  out = SystemTime(std::chrono::seconds(secs));
  return true;
}

struct Fail {
  SamlError e;
};

class Checker {
 public:
  Checker(const SamlSpConfig& c, const SamlVerifier::Keys& k) : cfg_(c), keys_(k) {}
  SamlError run(std::string_view b64, std::string_view expected_id, SystemTime now,
                SamlAssertionResult& out);

 private:
  SamlError parse(const std::string& xml);
  SamlError collectIds(xmlNode* n, int depth, std::vector<std::string>& ids);
  void countAssertions(xmlNode* n, int& count, xmlNode*& found);
  SamlError checkSignatureShape(xmlNode* sig, const std::string& id);
  SamlError verifySignature(xmlNode* sig);
  SamlError decrypt(xmlNode* encrypted, xmlNode*& assertion);
  SamlError checkAssertion(xmlNode* a, std::string_view expected_id, SystemTime now,
                           SamlAssertionResult& out);

  const SamlSpConfig& cfg_;
  const SamlVerifier::Keys& keys_;
  DocPtr doc_;
};

}  // namespace

struct SamlVerifier::Keys {
  xmlSecKeyPtr idp = nullptr;
  xmlSecKeyPtr sp = nullptr;  // may be null
  ~Keys() {
    if (idp != nullptr)
      xmlSecKeyDestroy(idp);
    if (sp != nullptr)
      xmlSecKeyDestroy(sp);
  }
};

SamlVerifier::SamlVerifier(SamlSpConfig config) : config_(std::move(config)) {}
SamlVerifier::~SamlVerifier() = default;

StatusOr<std::shared_ptr<const SamlVerifier>> SamlVerifier::create(SamlSpConfig config) {
  std::call_once(g_xmlsec_once, initXmlsecOnce);
  if (!g_xmlsec_ok)
    return internalError("saml: libxmlsec1 initialisation failed");
  if (config.entity_id.empty() || config.acs_url.empty() || config.idp_entity_id.empty())
    return invalidArgument("saml: entity_id, acs_url and idp_entity_id are required");
  if (config.max_response_bytes == 0)
    return invalidArgument("saml: max_response_bytes must be positive");
  auto keys = std::make_unique<Keys>();
  keys->idp = xmlSecCryptoAppKeyLoadMemory(
      reinterpret_cast<const xmlSecByte*>(config.idp_cert_pem.data()),
      static_cast<xmlSecSize>(config.idp_cert_pem.size()), xmlSecKeyDataFormatCertPem, nullptr,
      nullptr, nullptr);
  if (keys->idp == nullptr)
    return invalidArgument("saml: idp_cert_pem is not a PEM certificate");
  if (!config.sp_private_key_pem.empty()) {
    keys->sp = xmlSecCryptoAppKeyLoadMemory(
        reinterpret_cast<const xmlSecByte*>(config.sp_private_key_pem.data()),
        static_cast<xmlSecSize>(config.sp_private_key_pem.size()), xmlSecKeyDataFormatPem,
        nullptr, nullptr, nullptr);
    if (keys->sp == nullptr)
      return invalidArgument("saml: sp_private_key_pem is not a PEM private key");
  }
  std::shared_ptr<SamlVerifier> v(new SamlVerifier(std::move(config)));
  v->keys_ = std::move(keys);
  return std::shared_ptr<const SamlVerifier>(std::move(v));
}

SamlAssertionResult SamlVerifier::verifyResponse(std::string_view b64,
                                                 std::string_view expected_request_id,
                                                 SystemTime now,
                                                 SamlReplayCache* replay) const noexcept {
  SamlAssertionResult out;
  try {
    Checker checker(config_, *keys_);
    SamlError e = checker.run(b64, expected_request_id, now, out);
    if (e == SamlError::kNone && replay != nullptr &&
        !replay->insertIfAbsent(out.assertion_id, out.not_on_or_after + config_.clock_skew, now))
      e = SamlError::kReplay;
    if (e != SamlError::kNone) {
      SamlAssertionResult failed;
      failed.error = e;
      return failed;
    }
    out.ok = true;
    out.error = SamlError::kNone;
    return out;
  } catch (...) {  // allocation failure: nothing else here throws
    SamlAssertionResult failed;
    failed.error = SamlError::kInternal;
    return failed;
  }
}

namespace {

void stopOnDoctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  ctxt->_private = reinterpret_cast<void*>(1);
  xmlStopParser(ctxt);
}

SamlError Checker::parse(const std::string& xml) {
  if (xml.find("<!DOCTYPE") != std::string::npos)
    return SamlError::kDoctypeForbidden;
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (ctxt == nullptr)
    return SamlError::kInternal;
  ctxt->sax->internalSubset = stopOnDoctype;
  ctxt->sax->externalSubset = stopOnDoctype;
  ctxt->sax->error = silentXmlErrors;
  ctxt->sax->warning = silentXmlErrors;
  ctxt->vctxt.error = silentXmlErrors;
  ctxt->vctxt.warning = silentXmlErrors;
  ctxt->_private = nullptr;
  xmlDoc* doc = xmlCtxtReadMemory(ctxt, xml.data(), static_cast<int>(xml.size()), nullptr,
                                  nullptr,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  bool doctype = ctxt->_private != nullptr;
  bool well_formed = ctxt->wellFormed != 0;
  xmlFreeParserCtxt(ctxt);
  doc_.reset(doc);
  if (doctype || (doc != nullptr && (doc->intSubset != nullptr || doc->extSubset != nullptr)))
    return SamlError::kDoctypeForbidden;
  if (doc == nullptr || !well_formed || xmlDocGetRootElement(doc) == nullptr)
    return SamlError::kMalformedXml;
  return SamlError::kNone;
}

// Every "ID" attribute value in the tree (and xml:id, which libxml2 registers by itself);
// also the depth check.
SamlError Checker::collectIds(xmlNode* n, int depth, std::vector<std::string>& ids) {
  if (depth > kMaxDepth)
    return SamlError::kTooDeep;
  for (; n != nullptr; n = n->next) {
    if (n->type != XML_ELEMENT_NODE)
      continue;
    for (xmlAttr* a = n->properties; a != nullptr; a = a->next) {
      bool xml_id = a->ns != nullptr && xmlStrEqual(a->name, BAD_CAST "id") &&
                    xmlStrEqual(a->ns->href, XML_XML_NAMESPACE);
      if (xml_id)
        return SamlError::kDuplicateId;  // an ID stepgate did not register: refused
      if (a->ns == nullptr && xmlStrEqual(a->name, BAD_CAST "ID")) {
        xmlChar* v = xmlNodeGetContent(reinterpret_cast<xmlNode*>(a));
        ids.emplace_back(v != nullptr ? reinterpret_cast<const char*>(v) : "");
        xmlFree(v);
      }
    }
    SamlError e = collectIds(n->children, depth + 1, ids);
    if (e != SamlError::kNone)
      return e;
  }
  return SamlError::kNone;
}

void Checker::countAssertions(xmlNode* n, int& count, xmlNode*& found) {
  for (; n != nullptr; n = n->next) {
    if (n->type != XML_ELEMENT_NODE)
      continue;
    if (isElem(n, kAssertionNs, "Assertion") || isElem(n, kAssertionNs, "EncryptedAssertion")) {
      ++count;
      found = n;
      if (isElem(n, kAssertionNs, "EncryptedAssertion"))
        continue;  // its decrypted content is counted after decryption
    }
    countAssertions(n->children, count, found);
  }
}

bool allowed(const std::string& alg, const char* const* list, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (alg == list[i])
      return true;
  }
  return false;
}

SamlError Checker::checkSignatureShape(xmlNode* sig, const std::string& id) {
  xmlNode* si = child(sig, kDsigNs, "SignedInfo");
  if (si == nullptr)
    return SamlError::kBadSignature;
  xmlNode* c14n = child(si, kDsigNs, "CanonicalizationMethod");
  xmlNode* sm = child(si, kDsigNs, "SignatureMethod");
  if (c14n == nullptr || sm == nullptr)
    return SamlError::kBadSignature;
  if (attr(c14n, "Algorithm").value_or("") != kExcC14n)
    return SamlError::kSignatureAlgorithmNotAllowed;
  std::string alg = attr(sm, "Algorithm").value_or("");
  if (!allowed(alg, kSignatureAlgs, std::size(kSignatureAlgs)) &&
      !(cfg_.allow_sha1 && alg == kRsaSha1))
    return SamlError::kSignatureAlgorithmNotAllowed;
  auto refs = children(si, kDsigNs, "Reference");
  if (refs.size() != 1 || attr(refs[0], "URI").value_or("") != "#" + id)
    return SamlError::kSignatureReferenceMismatch;
  xmlNode* transforms = child(refs[0], kDsigNs, "Transforms");
  bool enveloped = false;
  if (transforms != nullptr) {
    auto list = children(transforms, kDsigNs, "Transform");
    if (list.size() > 2)
      return SamlError::kSignatureAlgorithmNotAllowed;
    for (xmlNode* t : list) {
      std::string a = attr(t, "Algorithm").value_or("");
      if (a == kEnveloped && !enveloped)
        enveloped = true;
      else if (a != kExcC14n)
        return SamlError::kSignatureAlgorithmNotAllowed;
    }
  }
  if (!enveloped)
    return SamlError::kSignatureAlgorithmNotAllowed;
  xmlNode* dm = child(refs[0], kDsigNs, "DigestMethod");
  std::string digest = dm != nullptr ? attr(dm, "Algorithm").value_or("") : "";
  if (!allowed(digest, kDigestAlgs, std::size(kDigestAlgs)) &&
      !(cfg_.allow_sha1 && digest == kSha1))
    return SamlError::kSignatureAlgorithmNotAllowed;
  return SamlError::kNone;
}

SamlError Checker::verifySignature(xmlNode* sig) {
  xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(nullptr);  // no keys manager: no key lookup
  if (ctx == nullptr)
    return SamlError::kInternal;
  struct Free {
    xmlSecDSigCtxPtr c;
    ~Free() { xmlSecDSigCtxDestroy(c); }
  } guard{ctx};
  ctx->signKey = xmlSecKeyDuplicate(keys_.idp);  // KeyInfo is ignored when signKey is set
  if (ctx->signKey == nullptr)
    return SamlError::kInternal;
  ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
  ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
  xmlSecTransformId enabled[] = {
      xmlSecTransformExclC14NId,    xmlSecTransformEnvelopedId,   xmlSecTransformRsaSha256Id,
      xmlSecTransformRsaSha384Id,   xmlSecTransformRsaSha512Id,   xmlSecTransformEcdsaSha256Id,
      xmlSecTransformEcdsaSha384Id, xmlSecTransformSha256Id,      xmlSecTransformSha384Id,
      xmlSecTransformSha512Id,
  };
  for (xmlSecTransformId id : enabled) {
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, id) < 0 ||
        xmlSecDSigCtxEnableSignatureTransform(ctx, id) < 0)
      return SamlError::kInternal;
  }
  if (cfg_.allow_sha1) {
    for (xmlSecTransformId id : {xmlSecTransformRsaSha1Id, xmlSecTransformSha1Id}) {
      if (xmlSecDSigCtxEnableReferenceTransform(ctx, id) < 0 ||
          xmlSecDSigCtxEnableSignatureTransform(ctx, id) < 0)
        return SamlError::kInternal;
    }
  }
  if (xmlSecDSigCtxVerify(ctx, sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded)
    return SamlError::kBadSignature;
  if (xmlSecPtrListGetSize(&ctx->signedInfoReferences) != 1)
    return SamlError::kSignatureReferenceMismatch;
  return SamlError::kNone;
}

SamlError Checker::decrypt(xmlNode* encrypted, xmlNode*& assertion) {
  if (keys_.sp == nullptr)
    return SamlError::kNoDecryptionKey;
  auto data = children(encrypted, kXencNs, "EncryptedData");
  if (data.size() != 1)
    return SamlError::kDecryptionFailed;
  xmlSecKeysMngrPtr mngr = xmlSecKeysMngrCreate();
  if (mngr == nullptr)
    return SamlError::kInternal;
  struct FreeMngr {
    xmlSecKeysMngrPtr m;
    ~FreeMngr() { xmlSecKeysMngrDestroy(m); }
  } mguard{mngr};
  if (xmlSecCryptoAppDefaultKeysMngrInit(mngr) < 0)
    return SamlError::kInternal;
  xmlSecKeyPtr key = xmlSecKeyDuplicate(keys_.sp);
  if (key == nullptr)
    return SamlError::kInternal;
  if (xmlSecCryptoAppDefaultKeysMngrAdoptKey(mngr, key) < 0) {
    xmlSecKeyDestroy(key);
    return SamlError::kInternal;
  }
  xmlSecEncCtxPtr enc = xmlSecEncCtxCreate(mngr);
  if (enc == nullptr)
    return SamlError::kInternal;
  struct FreeEnc {
    xmlSecEncCtxPtr e;
    ~FreeEnc() { xmlSecEncCtxDestroy(e); }
  } eguard{enc};
  if (xmlSecEncCtxDecrypt(enc, data[0]) < 0 || enc->result == nullptr || !enc->resultReplaced)
    return SamlError::kDecryptionFailed;
  int count = 0;
  xmlNode* found = nullptr;
  for (xmlNode* c = encrypted->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) {
      ++count;
      found = c;
    }
  }
  if (count != 1 || !isElem(found, kAssertionNs, "Assertion"))
    return SamlError::kDecryptionFailed;
  assertion = found;
  return SamlError::kNone;
}

SamlError Checker::run(std::string_view b64, std::string_view expected_id, SystemTime now,
                       SamlAssertionResult& out) {
  if (b64.size() > cfg_.max_response_bytes / 3 * 4 + 4 + cfg_.max_response_bytes / 32)
    return SamlError::kTooLarge;
  std::string xml;
  if (!base64Decode(b64, xml))
    return SamlError::kBadBase64;
  if (xml.size() > cfg_.max_response_bytes)
    return SamlError::kTooLarge;
  if (SamlError e = parse(xml); e != SamlError::kNone)
    return e;
  xmlNode* root = xmlDocGetRootElement(doc_.get());
  if (!isElem(root, kProtocolNs, "Response") || attr(root, "Version").value_or("") != "2.0")
    return SamlError::kNotAResponse;
  std::string root_id = attr(root, "ID").value_or("");
  if (root_id.empty())
    return SamlError::kNotAResponse;

  std::vector<std::string> ids;
  if (SamlError e = collectIds(root, 0, ids); e != SamlError::kNone)
    return e;
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    return SamlError::kDuplicateId;

  int count = 0;
  xmlNode* assertion = nullptr;
  countAssertions(root, count, assertion);
  if (count != 1 || assertion->parent != root)
    return SamlError::kWrongAssertionCount;

  // Destination, Issuer and Status of the Response.
  if (auto dest = attr(root, "Destination"); dest && *dest != cfg_.acs_url)
    return SamlError::kWrongDestination;
  if (xmlNode* issuer = child(root, kAssertionNs, "Issuer")) {
    if (trimmed(strictText(issuer).value_or("")) != cfg_.idp_entity_id)
      return SamlError::kWrongIssuer;
  }

  // The Response signature (verified before decryption changes the tree).
  auto response_sigs = children(root, kDsigNs, "Signature");
  if (response_sigs.size() > 1)
    return SamlError::kSignatureReferenceMismatch;
  bool response_signed = !response_sigs.empty();
  if (response_signed) {
    if (xmlAddID(nullptr, doc_.get(), BAD_CAST root_id.c_str(), xmlHasProp(root, BAD_CAST "ID")) ==
        nullptr)
      return SamlError::kInternal;
    if (SamlError e = checkSignatureShape(response_sigs[0], root_id); e != SamlError::kNone)
      return e;
    if (SamlError e = verifySignature(response_sigs[0]); e != SamlError::kNone)
      return e;
  }

  if (isElem(assertion, kAssertionNs, "EncryptedAssertion")) {
    xmlNode* decrypted = nullptr;
    if (SamlError e = decrypt(assertion, decrypted); e != SamlError::kNone)
      return e;
    // The decrypted subtree gets the same structural checks.
    ids.clear();
    if (SamlError e = collectIds(root, 0, ids); e != SamlError::kNone)
      return e;
    std::sort(ids.begin(), ids.end());
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
      return SamlError::kDuplicateId;
    int inner = 0;
    xmlNode* ignored = nullptr;
    countAssertions(decrypted->children, inner, ignored);
    if (inner != 0)
      return SamlError::kWrongAssertionCount;
    assertion = decrypted;
  }

  std::string assertion_id = attr(assertion, "ID").value_or("");
  if (assertion_id.empty() || attr(assertion, "Version").value_or("") != "2.0")
    return SamlError::kNotAResponse;
  auto assertion_sigs = children(assertion, kDsigNs, "Signature");
  if (assertion_sigs.size() > 1)
    return SamlError::kSignatureReferenceMismatch;
  bool assertion_signed = !assertion_sigs.empty();
  if (!response_signed && !assertion_signed)
    return SamlError::kMissingSignature;
  if (cfg_.require_signed_assertion && !assertion_signed)
    return SamlError::kAssertionNotSigned;
  if (assertion_signed) {
    if (xmlAddID(nullptr, doc_.get(), BAD_CAST assertion_id.c_str(),
                 xmlHasProp(assertion, BAD_CAST "ID")) == nullptr)
      return SamlError::kInternal;
    if (SamlError e = checkSignatureShape(assertion_sigs[0], assertion_id); e != SamlError::kNone)
      return e;
    if (SamlError e = verifySignature(assertion_sigs[0]); e != SamlError::kNone)
      return e;
  }

  // Everything below reads only signed content (the Response's or the Assertion's).
  xmlNode* status = child(root, kProtocolNs, "Status");
  xmlNode* code = status != nullptr ? child(status, kProtocolNs, "StatusCode") : nullptr;
  if (code == nullptr || attr(code, "Value").value_or("") != kSuccess)
    return SamlError::kStatusNotSuccess;
  auto in_response_to = attr(root, "InResponseTo");
  if (expected_id.empty()) {
    if (!cfg_.allow_idp_initiated)
      return SamlError::kUnsolicitedNotAllowed;
    if (in_response_to)
      return SamlError::kWrongInResponseTo;
  } else if (in_response_to && *in_response_to != expected_id) {
    return SamlError::kWrongInResponseTo;
  }
  out.assertion_id = assertion_id;
  return checkAssertion(assertion, expected_id, now, out);
}

SamlError Checker::checkAssertion(xmlNode* a, std::string_view expected_id, SystemTime now,
                                  SamlAssertionResult& out) {
  const auto skew = cfg_.clock_skew;
  xmlNode* issuer = child(a, kAssertionNs, "Issuer");
  if (issuer == nullptr || trimmed(strictText(issuer).value_or("")) != cfg_.idp_entity_id)
    return SamlError::kWrongIssuer;

  // Conditions.
  auto conditions = children(a, kAssertionNs, "Conditions");
  if (conditions.size() != 1)
    return SamlError::kWrongAudience;
  SystemTime t;
  if (auto nb = attr(conditions[0], "NotBefore")) {
    if (!parseDateTime(*nb, t))
      return SamlError::kMalformedTime;
    if (now + skew < t)
      return SamlError::kNotYetValid;
  }
  auto noa = attr(conditions[0], "NotOnOrAfter");
  if (!noa)
    return SamlError::kExpired;  // an assertion without an end is not accepted
  if (!parseDateTime(*noa, t))
    return SamlError::kMalformedTime;
  if (now >= t + skew)
    return SamlError::kExpired;
  out.not_on_or_after = t;
  // Every AudienceRestriction must contain our entity id (SAML core 2.5.1.4), at least one.
  auto restrictions = children(conditions[0], kAssertionNs, "AudienceRestriction");
  if (restrictions.empty())
    return SamlError::kWrongAudience;
  for (xmlNode* r : restrictions) {
    bool found = false;
    for (xmlNode* aud : children(r, kAssertionNs, "Audience")) {
      if (trimmed(strictText(aud).value_or("")) == cfg_.entity_id)
        found = true;
    }
    if (!found)
      return SamlError::kWrongAudience;
  }

  // Subject and bearer confirmation.
  xmlNode* subject = child(a, kAssertionNs, "Subject");
  if (subject == nullptr)
    return SamlError::kMissingSubject;
  SamlError confirm = SamlError::kNoBearerConfirmation;
  for (xmlNode* sc : children(subject, kAssertionNs, "SubjectConfirmation")) {
    if (attr(sc, "Method").value_or("") != kBearer)
      continue;
    for (xmlNode* d : children(sc, kAssertionNs, "SubjectConfirmationData")) {
      SamlError e = SamlError::kNone;
      SystemTime until;
      auto until_text = attr(d, "NotOnOrAfter");
      auto irt = attr(d, "InResponseTo");
      if (attr(d, "Recipient").value_or("") != cfg_.acs_url)
        e = SamlError::kWrongRecipient;
      else if (!until_text)
        e = SamlError::kConfirmationExpired;
      else if (!parseDateTime(*until_text, until))
        e = SamlError::kMalformedTime;
      else if (now >= until + skew)
        e = SamlError::kConfirmationExpired;
      else if (auto nb = attr(d, "NotBefore"); nb)
        e = SamlError::kNoBearerConfirmation;  // bearer data must not carry NotBefore
      else if (expected_id.empty() ? irt.has_value() : irt.value_or("") != expected_id)
        e = SamlError::kWrongInResponseTo;
      if (e == SamlError::kNone) {
        confirm = e;
        break;
      }
      if (confirm == SamlError::kNoBearerConfirmation)
        confirm = e;  // report the first candidate's problem
    }
    if (confirm == SamlError::kNone)
      break;
  }
  if (confirm != SamlError::kNone)
    return confirm;

  std::string name_id;
  if (xmlNode* nid = child(subject, kAssertionNs, "NameID")) {
    auto text = strictText(nid);
    if (!text)
      return SamlError::kMalformedNameId;
    name_id = trimmed(*text);
  }

  // Attributes: the values are the concatenated text; a value with element children (a
  // complex type) is skipped, and comments do not split a value.
  for (xmlNode* st : children(a, kAssertionNs, "AttributeStatement")) {
    for (xmlNode* at : children(st, kAssertionNs, "Attribute")) {
      std::string name = attr(at, "Name").value_or("");
      if (name.empty())
        continue;
      auto& values = out.attributes[name];
      for (xmlNode* v : children(at, kAssertionNs, "AttributeValue")) {
        std::string text;
        bool complex = false;
        for (xmlNode* c = v->children; c != nullptr; c = c->next) {
          if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
            text += c->content != nullptr ? reinterpret_cast<const char*>(c->content) : "";
          else if (c->type != XML_COMMENT_NODE)
            complex = true;
        }
        if (!complex)
          values.push_back(trimmed(text));
      }
    }
  }

  if (cfg_.subject_attribute.empty()) {
    out.subject = name_id;
  } else if (auto it = out.attributes.find(cfg_.subject_attribute);
             it != out.attributes.end() && !it->second.empty()) {
    out.subject = it->second.front();
  }
  if (out.subject.empty())
    return SamlError::kMissingSubject;
  if (!cfg_.groups_attribute.empty()) {
    if (auto it = out.attributes.find(cfg_.groups_attribute); it != out.attributes.end()) {
      for (const auto& g : it->second) {
        if (!g.empty())
          out.groups.push_back(g);
      }
    }
  }
  if (xmlNode* authn = child(a, kAssertionNs, "AuthnStatement")) {
    if (auto s = attr(authn, "SessionNotOnOrAfter")) {
      if (!parseDateTime(*s, t))
        return SamlError::kMalformedTime;
      out.session_not_on_or_after = t;
    }
    out.session_index = attr(authn, "SessionIndex").value_or("");
  }
  return SamlError::kNone;
}

}  // namespace

#endif  // STEPGATE_HAVE_XMLSEC

}  // namespace stepgate::identity
