// SAML SP: responses signed (and one encrypted) by the xmlsec1 command-line tool
// (tests/fixtures/saml/make.sh), a signer independent of the verifier; a corpus of
// signature-wrapping and other attacks built from those signed documents, each expected to
// fail with its own error; the replay cache; the AuthnRequest redirect and the SP metadata.

#include "identity/saml.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <atomic>

namespace stepgate::identity {
namespace {

std::string sourceDir() {
  const char* env = std::getenv("STEPGATE_SOURCE_DIR");
  return env != nullptr ? env : STEPGATE_SOURCE_DIR;
}

std::string fixture(const std::string& name) {
  std::ifstream in(sourceDir() + "/tests/fixtures/saml/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

[[maybe_unused]] std::string b64(std::string_view in) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 |
                 (unsigned char)in[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (in.size() - i == 1) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string unb64(std::string_view in) {
  static const std::string t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    auto p = t.find(c);
    if (p == std::string::npos)
      continue;
    acc = acc << 6 | static_cast<unsigned>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string urlDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// Inflates DEFLATE data made of stored blocks only (what the redirect builder writes).
std::string inflateStored(std::string_view in) {
  std::string out;
  std::size_t pos = 0;
  while (pos + 5 <= in.size()) {
    unsigned char header = static_cast<unsigned char>(in[pos]);
    EXPECT_EQ(header & 6, 0) << "not a stored block";
    std::size_t len = (unsigned char)in[pos + 1] | (unsigned char)in[pos + 2] << 8;
    std::size_t nlen = (unsigned char)in[pos + 3] | (unsigned char)in[pos + 4] << 8;
    EXPECT_EQ(len ^ 0xffff, nlen);
    out.append(in.substr(pos + 5, len));
    pos += 5 + len;
    if (header & 1)
      break;
  }
  return out;
}

[[maybe_unused]] std::string replaceOnce(std::string s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos)
    s.replace(p, from.size(), to);
  return s;
}

// The element starting at the first "<tag" (with its end tag), by plain text search.
[[maybe_unused]] std::string element(const std::string& doc, const std::string& tag) {
  auto begin = doc.find("<" + tag);
  auto end = doc.find("</" + tag + ">", begin);
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  return doc.substr(begin, end + tag.size() + 3 - begin);
}

SystemTime at(int64_t secs) {
  return SystemTime(std::chrono::seconds(secs));
}
// 2030-01-01T00:01:00Z, inside every fixture's validity window.
constexpr int64_t kValid = 1893456060;
const SystemTime kNow = at(kValid);

SamlSpConfig baseConfig() {
  SamlSpConfig c;
  c.entity_id = "https://sp.example.com/saml";
  c.acs_url = "https://sp.example.com/saml/acs";
  c.idp_entity_id = "https://idp.example.com/saml";
  c.idp_sso_url = "https://idp.example.com/saml/sso";
  c.idp_cert_pem = fixture("idp-cert.pem");
  c.sp_private_key_pem = fixture("sp-key.pem");
  c.sp_cert_pem = fixture("sp-cert.pem");
  c.groups_attribute = "groups";
  return c;
}

TEST(SamlErrorNames, DistinctAndStable) {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(SamlError::kCount); ++i)
    names.insert(samlErrorName(static_cast<SamlError>(i)));
  EXPECT_EQ(names.size(), static_cast<std::size_t>(SamlError::kCount));
  EXPECT_STREQ(samlErrorName(SamlError::kBadSignature), "bad_signature");
  EXPECT_STREQ(samlErrorName(SamlError::kReplay), "replay");
}

TEST(SamlReplayCache, RejectsSecondUseUntilExpiry) {
  SamlReplayCache cache(10);
  EXPECT_TRUE(cache.insertIfAbsent("a", at(100), at(0)));
  EXPECT_FALSE(cache.insertIfAbsent("a", at(100), at(50)));
  EXPECT_TRUE(cache.insertIfAbsent("a", at(200), at(100)));  // expired entry is gone
  EXPECT_FALSE(cache.insertIfAbsent("a", at(200), at(150)));
}

TEST(SamlReplayCache, Bounded) {
  SamlReplayCache cache(3);
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(cache.insertIfAbsent("id" + std::to_string(i), at(1000 + i), at(0)));
  EXPECT_LE(cache.size(), 3u);
  EXPECT_FALSE(cache.insertIfAbsent("id9", at(2000), at(0)));  // the newest are kept
}

TEST(SamlRedirect, UnsignedRequestCarriesIdAndRelayState) {
  SamlSpConfig c = baseConfig();
  std::string id;
  auto url = buildAuthnRequestRedirect(c, "back/to?x=1", id, at(1893456000));
  ASSERT_TRUE(url.isOk()) << url.status().toString();
  ASSERT_EQ(url->rfind("https://idp.example.com/saml/sso?SAMLRequest=", 0), 0u) << *url;
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(url->find("Signature="), std::string::npos);
  auto rs = url->find("&RelayState=");
  ASSERT_NE(rs, std::string::npos);
  EXPECT_EQ(urlDecode(url->substr(rs + 12)), "back/to?x=1");
  std::string req = url->substr(url->find('=') + 1, rs - url->find('=') - 1);
  std::string xml = inflateStored(unb64(urlDecode(req)));
  EXPECT_NE(xml.find("ID=\"" + id + "\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("IssueInstant=\"2030-01-01T00:00:00Z\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("AssertionConsumerServiceURL=\"https://sp.example.com/saml/acs\""),
            std::string::npos);
  EXPECT_NE(xml.find("<saml:Issuer>https://sp.example.com/saml</saml:Issuer>"),
            std::string::npos);
  std::string id2;
  ASSERT_TRUE(buildAuthnRequestRedirect(c, "", id2, kNow).isOk());
  EXPECT_NE(id, id2);
  EXPECT_FALSE(buildAuthnRequestRedirect(c, std::string(81, 'x'), id2, kNow).isOk());
}

TEST(SamlRedirect, SignedRequestVerifiesWithSpCertificate) {
  SamlSpConfig c = baseConfig();
  c.sign_authn_requests = true;
  std::string id;
  auto url = buildAuthnRequestRedirect(c, "r", id, kNow);
  ASSERT_TRUE(url.isOk()) << url.status().toString();
  std::string query = url->substr(url->find('?') + 1);
  auto sig_pos = query.find("&Signature=");
  ASSERT_NE(sig_pos, std::string::npos);
  std::string signed_part = query.substr(0, sig_pos);
  EXPECT_NE(signed_part.find("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-"
                             "sha256"),
            std::string::npos);
  std::string sig = unb64(urlDecode(query.substr(sig_pos + 11)));
  std::string cert_pem = fixture("sp-cert.pem");
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(cert, nullptr);
  EVP_PKEY* pub = X509_get_pubkey(cert);
  auto verify = [&](const std::string& data) {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pub) == 1 &&
              EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(data.data()),
                               data.size()) == 1;
    EVP_MD_CTX_free(md);
    return ok;
  };
  EXPECT_TRUE(verify(signed_part));
  EXPECT_FALSE(verify(signed_part + "x"));
  EVP_PKEY_free(pub);
  X509_free(cert);

  c.sp_private_key_pem.clear();
  EXPECT_FALSE(buildAuthnRequestRedirect(c, "r", id, kNow).isOk());
}

TEST(SamlMetadata, DescribesSp) {
  std::string xml = spMetadataXml(baseConfig());
  EXPECT_NE(xml.find("entityID=\"https://sp.example.com/saml\""), std::string::npos);
  EXPECT_NE(xml.find("Location=\"https://sp.example.com/saml/acs\""), std::string::npos);
  EXPECT_NE(xml.find("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"), std::string::npos);
  EXPECT_NE(xml.find("<md:KeyDescriptor use=\"encryption\">"), std::string::npos);
  EXPECT_EQ(xml.find("-----BEGIN"), std::string::npos);
  EXPECT_EQ(xml.find("PRIVATE"), std::string::npos);
}

#if !defined(STEPGATE_HAVE_XMLSEC)

TEST(SamlVerifier, NotBuilt) {
  auto v = SamlVerifier::create(baseConfig());
  EXPECT_FALSE(v.isOk());
  GTEST_SKIP() << "built without libxmlsec1: the response verifier is not compiled in";
}

#else

class SamlVerify : public ::testing::Test {
 protected:
  void SetUp() override { rebuild(); }
  void rebuild() {
    auto v = SamlVerifier::create(config_);
    ASSERT_TRUE(v.isOk()) << v.status().toString();
    verifier_ = *v;
  }
  SamlAssertionResult verify(const std::string& xml, std::string_view request = "_req1",
                             SystemTime now = kNow, SamlReplayCache* cache = nullptr) {
    return verifier_->verifyResponse(b64(xml), request, now, cache);
  }
  void expectError(const std::string& xml, SamlError e, std::string_view request = "_req1",
                   SystemTime now = kNow) {
    auto r = verify(xml, request, now);
    EXPECT_FALSE(r.ok);
    EXPECT_STREQ(samlErrorName(r.error), samlErrorName(e));
    EXPECT_TRUE(r.subject.empty());
  }
  void expectOk(const std::string& xml) {
    auto r = verify(xml);
    ASSERT_TRUE(r.ok) << samlErrorName(r.error);
    EXPECT_EQ(r.error, SamlError::kNone);
    EXPECT_EQ(r.subject, "alice@example.com");
    EXPECT_EQ(r.groups, (std::vector<std::string>{"ops", "dev"}));
    EXPECT_EQ(r.attributes["email"], std::vector<std::string>{"alice@example.com"});
    EXPECT_EQ(r.assertion_id, "_assert1");
    EXPECT_EQ(r.session_index, "_sess1");
    EXPECT_EQ(r.not_on_or_after, at(kValid - 60 + 300));
    ASSERT_TRUE(r.session_not_on_or_after.has_value());
    EXPECT_EQ(*r.session_not_on_or_after, at(kValid - 60 + 8 * 3600));
  }
  SamlSpConfig config_ = baseConfig();
  std::shared_ptr<const SamlVerifier> verifier_;
};

TEST_F(SamlVerify, SignedResponsePasses) { expectOk(fixture("response_signed.xml")); }
TEST_F(SamlVerify, SignedAssertionPasses) { expectOk(fixture("assertion_signed.xml")); }
TEST_F(SamlVerify, BothSignedPasses) { expectOk(fixture("both_signed.xml")); }
TEST_F(SamlVerify, EncryptedAssertionPasses) { expectOk(fixture("encrypted_assertion.xml")); }

TEST_F(SamlVerify, EncryptedAssertionInSignedResponsePasses) {
  expectOk(fixture("encrypted_response_signed.xml"));
  std::string doc = fixture("encrypted_response_signed.xml");
  auto pos = doc.find("<xenc:CipherValue>") + 18;  // the wrapped key, covered by the signature
  doc[pos] = doc[pos] == 'A' ? 'B' : 'A';
  expectError(doc, SamlError::kBadSignature);
  config_.require_signed_assertion = true;
  rebuild();
  expectError(fixture("encrypted_response_signed.xml"), SamlError::kAssertionNotSigned);
}

TEST_F(SamlVerify, EncryptedAssertionWithoutKey) {
  config_.sp_private_key_pem.clear();
  rebuild();
  expectError(fixture("encrypted_assertion.xml"), SamlError::kNoDecryptionKey);
}

TEST_F(SamlVerify, EncryptedAssertionWithWrongKey) {
  config_.sp_private_key_pem = fixture("attacker-key.pem");
  rebuild();
  expectError(fixture("encrypted_assertion.xml"), SamlError::kDecryptionFailed);
}

TEST_F(SamlVerify, RequireSignedAssertion) {
  config_.require_signed_assertion = true;
  rebuild();
  expectError(fixture("response_signed.xml"), SamlError::kAssertionNotSigned);
  expectOk(fixture("assertion_signed.xml"));
  expectOk(fixture("encrypted_assertion.xml"));
}

TEST_F(SamlVerify, UnsignedRejected) {
  expectError(fixture("unsigned.xml"), SamlError::kMissingSignature);
}

TEST_F(SamlVerify, ModifiedSignedContentRejected) {
  std::string doc = replaceOnce(fixture("response_signed.xml"),
                                ">alice@example.com</saml:NameID>", ">admin@example.com</saml:NameID>");
  expectError(doc, SamlError::kBadSignature);
  doc = replaceOnce(fixture("assertion_signed.xml"), "<saml:AttributeValue>ops<",
                    "<saml:AttributeValue>admins<");
  expectError(doc, SamlError::kBadSignature);
}

TEST_F(SamlVerify, WrappingSignedAssertionMovedToExtensions) {
  // The signed assertion is kept (so its signature still verifies) inside Extensions, and an
  // unsigned evil assertion takes its place.
  std::string doc = fixture("assertion_signed.xml");
  std::string original = element(doc, "saml:Assertion");
  std::string evil = replaceOnce(original, "ID=\"_assert1\"", "ID=\"_evil\"");
  evil = replaceOnce(evil, ">alice@example.com</saml:NameID>", ">admin@example.com</saml:NameID>");
  auto sig = element(evil, "ds:Signature");
  evil = replaceOnce(evil, sig, "");
  doc = replaceOnce(doc, original,
                    evil + "<samlp:Extensions>" + original + "</samlp:Extensions>");
  expectError(doc, SamlError::kWrongAssertionCount);
}

TEST_F(SamlVerify, WrappingSignedAssertionInsideSignatureObject) {
  // The evil assertion carries the original signature, with the signed original assertion in
  // a ds:Object of that signature; same ID on both.
  std::string doc = fixture("assertion_signed.xml");
  std::string original = element(doc, "saml:Assertion");
  std::string sig = element(original, "ds:Signature");
  std::string evil = replaceOnce(original, ">alice@example.com</saml:NameID>",
                                 ">admin@example.com</saml:NameID>");
  std::string wrapped_sig =
      replaceOnce(sig, "</ds:Signature>", "<ds:Object>" + original + "</ds:Object></ds:Signature>");
  evil = replaceOnce(evil, sig, wrapped_sig);
  doc = replaceOnce(doc, original, evil);
  auto r = verify(doc);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error == SamlError::kDuplicateId || r.error == SamlError::kWrongAssertionCount)
      << samlErrorName(r.error);
}

TEST_F(SamlVerify, WrappingSignedResponseInsideEvilResponse) {
  // A new root Response (unsigned, evil assertion) wraps the original signed Response.
  std::string doc = fixture("response_signed.xml");
  std::string original = doc.substr(doc.find("<samlp:Response"));
  std::string evil_assertion = element(original, "saml:Assertion");
  evil_assertion = replaceOnce(evil_assertion, "ID=\"_assert1\"", "ID=\"_evil\"");
  std::string root =
      "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
      "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_evilresp\" Version=\"2.0\" "
      "IssueInstant=\"2030-01-01T00:00:00Z\"><samlp:Extensions>" +
      original + "</samlp:Extensions>" + evil_assertion + "</samlp:Response>";
  expectError(root, SamlError::kWrongAssertionCount);
}

TEST_F(SamlVerify, DuplicateIdRejected) {
  std::string doc = replaceOnce(fixture("response_signed.xml"), "<samlp:Status>",
                                "<samlp:Status ID=\"_resp1\">");
  expectError(doc, SamlError::kDuplicateId);
  doc = replaceOnce(fixture("assertion_signed.xml"), "<saml:Subject>",
                    "<saml:Subject ID=\"_assert1\">");
  expectError(doc, SamlError::kDuplicateId);
  doc = replaceOnce(fixture("response_signed.xml"), "<saml:Subject>",
                    "<saml:Subject xml:id=\"_x\">");
  expectError(doc, SamlError::kDuplicateId);
}

TEST_F(SamlVerify, SignatureReferencingAnotherElementRejected) {
  // The Response's valid signature (Reference URI="#_resp1") moved into the Assertion.
  std::string doc = fixture("response_signed.xml");
  std::string sig = element(doc, "ds:Signature");
  doc = replaceOnce(doc, sig, "");
  doc = replaceOnce(doc, "<saml:Subject>", sig + "<saml:Subject>");
  expectError(doc, SamlError::kSignatureReferenceMismatch);
  // A Reference URI pointing at the Assertion from the Response's signature.
  doc = replaceOnce(fixture("response_signed.xml"), "URI=\"#_resp1\"", "URI=\"#_assert1\"");
  expectError(doc, SamlError::kSignatureReferenceMismatch);
  // An empty URI (the whole document).
  doc = replaceOnce(fixture("response_signed.xml"), "URI=\"#_resp1\"", "URI=\"\"");
  expectError(doc, SamlError::kSignatureReferenceMismatch);
}

TEST_F(SamlVerify, UnsignedAssertionNextToSignedOneRejected) {
  std::string doc = fixture("assertion_signed.xml");
  std::string original = element(doc, "saml:Assertion");
  std::string evil = replaceOnce(original, "ID=\"_assert1\"", "ID=\"_evil\"");
  evil = replaceOnce(evil, element(evil, "ds:Signature"), "");
  doc = replaceOnce(doc, original, original + evil);
  expectError(doc, SamlError::kWrongAssertionCount);
  // Also inside a signed Response: the Response signature would no longer verify, but the
  // count is checked first.
  doc = fixture("response_signed.xml");
  original = element(doc, "saml:Assertion");
  evil = replaceOnce(original, "ID=\"_assert1\"", "ID=\"_evil\"");
  doc = replaceOnce(doc, original, evil + original);
  expectError(doc, SamlError::kWrongAssertionCount);
}

TEST_F(SamlVerify, CommentInsideNameIdRejected) {
  // The signature is valid (exclusive c14n drops comments); a parser reading only the first
  // text node would see "admin@example.com".
  expectError(fixture("nameid_comment.xml"), SamlError::kMalformedNameId);
}

TEST_F(SamlVerify, TimeWindow) {
  const std::string doc = fixture("response_signed.xml");
  expectError(doc, SamlError::kExpired, "_req1", at(kValid + 600));
  expectError(doc, SamlError::kNotYetValid, "_req1", at(kValid - 600));
  // NotBefore is kValid - 120, NotOnOrAfter kValid + 240; the skew is 60 s on both sides.
  EXPECT_TRUE(verify(doc, "_req1", at(kValid - 120 - 60)).ok);
  expectError(doc, SamlError::kNotYetValid, "_req1", at(kValid - 120 - 61));
  EXPECT_TRUE(verify(doc, "_req1", at(kValid + 240 + 59)).ok);
  expectError(doc, SamlError::kExpired, "_req1", at(kValid + 240 + 60));
  config_.clock_skew = std::chrono::seconds(0);
  rebuild();
  EXPECT_TRUE(verify(doc, "_req1", at(kValid - 120)).ok);
  expectError(doc, SamlError::kNotYetValid, "_req1", at(kValid - 121));
  EXPECT_TRUE(verify(doc, "_req1", at(kValid + 239)).ok);
  expectError(doc, SamlError::kExpired, "_req1", at(kValid + 240));
}

TEST_F(SamlVerify, WrongAudience) {
  expectError(fixture("wrong_audience.xml"), SamlError::kWrongAudience);
}
TEST_F(SamlVerify, WrongRecipient) {
  expectError(fixture("wrong_recipient.xml"), SamlError::kWrongRecipient);
}
TEST_F(SamlVerify, WrongDestination) {
  expectError(fixture("wrong_destination.xml"), SamlError::kWrongDestination);
}
TEST_F(SamlVerify, WrongIssuer) { expectError(fixture("wrong_issuer.xml"), SamlError::kWrongIssuer); }
TEST_F(SamlVerify, StatusNotSuccess) {
  expectError(fixture("status_failure.xml"), SamlError::kStatusNotSuccess);
}

TEST_F(SamlVerify, InResponseTo) {
  const std::string doc = fixture("response_signed.xml");
  expectError(doc, SamlError::kWrongInResponseTo, "_other");
  expectError(doc, SamlError::kUnsolicitedNotAllowed, "");
  config_.allow_idp_initiated = true;
  rebuild();
  // An answer to some request is not an unsolicited response.
  expectError(doc, SamlError::kWrongInResponseTo, "");
}

TEST_F(SamlVerify, AttackerKeyInKeyInfoIgnored) {
  expectError(fixture("attacker_keyinfo.xml"), SamlError::kBadSignature);
}

TEST_F(SamlVerify, WrongIdpCertificate) {
  config_.idp_cert_pem = fixture("attacker-cert.pem");
  rebuild();
  expectError(fixture("response_signed.xml"), SamlError::kBadSignature);
}

TEST_F(SamlVerify, Sha1OnlyWhenAllowed) {
  expectError(fixture("sha1_signed.xml"), SamlError::kSignatureAlgorithmNotAllowed);
  config_.allow_sha1 = true;
  rebuild();
  expectOk(fixture("sha1_signed.xml"));
}

TEST_F(SamlVerify, DoctypeRejected) {
  std::string doc = fixture("response_signed.xml");
  std::string laughs =
      "<!DOCTYPE samlp:Response [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>";
  doc = replaceOnce(doc, "<samlp:Response", laughs + "<samlp:Response");
  doc = replaceOnce(doc, ">alice@example.com</saml:NameID>", ">&b;</saml:NameID>");
  expectError(doc, SamlError::kDoctypeForbidden);
  // External entity.
  doc = "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"http://evil.example.com/x.dtd\"><r/>";
  expectError(doc, SamlError::kDoctypeForbidden);
  // In UTF-16 a byte search for "<!DOCTYPE" finds nothing; the parser must still stop.
  std::string ascii =
      "<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE r [<!ENTITY a \"x\">]><r>&a;</r>";
  std::string utf16 = "\xff\xfe";
  for (char ch : ascii) {
    utf16 += ch;
    utf16 += '\0';
  }
  expectError(utf16, SamlError::kDoctypeForbidden);
}

TEST_F(SamlVerify, Replay) {
  SamlReplayCache cache;
  const std::string doc = fixture("response_signed.xml");
  EXPECT_TRUE(verify(doc, "_req1", kNow, &cache).ok);
  auto second = verify(doc, "_req1", kNow, &cache);
  EXPECT_FALSE(second.ok);
  EXPECT_EQ(second.error, SamlError::kReplay);
  // The same assertion id inside another (encrypted) response is a replay too.
  EXPECT_EQ(verify(fixture("encrypted_assertion.xml"), "_req1", kNow, &cache).error,
            SamlError::kReplay);
}

TEST_F(SamlVerify, InputLimits) {
  auto r = verifier_->verifyResponse("not base64!", "_req1", kNow, nullptr);
  EXPECT_EQ(r.error, SamlError::kBadBase64);
  config_.max_response_bytes = 1000;
  rebuild();
  expectError(fixture("response_signed.xml"), SamlError::kTooLarge);
  config_ = baseConfig();
  rebuild();
  expectError("<samlp:Response", SamlError::kMalformedXml);
  expectError("<r/>", SamlError::kNotAResponse);
  expectError("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"x\" "
              "Version=\"1.1\"/>",
              SamlError::kNotAResponse);
  std::string deep;
  for (int i = 0; i < 100; ++i)
    deep += "<d>";
  for (int i = 0; i < 100; ++i)
    deep += "</d>";
  std::string doc = replaceOnce(fixture("response_signed.xml"), "<samlp:Status>",
                                "<samlp:Extensions>" + deep + "</samlp:Extensions><samlp:Status>");
  expectError(doc, SamlError::kTooDeep);
}

TEST_F(SamlVerify, SubjectFromAttribute) {
  config_.subject_attribute = "email";
  rebuild();
  auto r = verify(fixture("assertion_signed.xml"));
  ASSERT_TRUE(r.ok) << samlErrorName(r.error);
  EXPECT_EQ(r.subject, "alice@example.com");
  config_.subject_attribute = "missing";
  rebuild();
  expectError(fixture("assertion_signed.xml"), SamlError::kMissingSubject);
}

TEST_F(SamlVerify, SharedVerifierAcrossThreads) {
  const std::string good = fixture("encrypted_assertion.xml");
  const std::string bad = fixture("attacker_keyinfo.xml");
  std::atomic<int> passed{0}, rejected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (verify(good).ok)
          ++passed;
        if (verify(bad).error == SamlError::kBadSignature)
          ++rejected;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(passed.load(), 20);
  EXPECT_EQ(rejected.load(), 20);
}

TEST(SamlVerifierCreate, RejectsBadConfiguration) {
  SamlSpConfig c = baseConfig();
  c.idp_cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  auto v = SamlVerifier::create(c);
  ASSERT_FALSE(v.isOk());
  EXPECT_EQ(v.status().message().find("AAAA"), std::string::npos);
  c = baseConfig();
  c.sp_private_key_pem = "garbage";
  EXPECT_FALSE(SamlVerifier::create(c).isOk());
  c = baseConfig();
  c.entity_id.clear();
  EXPECT_FALSE(SamlVerifier::create(c).isOk());
}

#endif  // STEPGATE_HAVE_XMLSEC

}  // namespace
}  // namespace stepgate::identity
