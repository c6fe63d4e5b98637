#pragma once
// SAML 2.0 Web Browser SSO, service-provider side: verifies a <samlp:Response> posted to the
// ACS (HTTP-POST binding), builds the SP-initiated <samlp:AuthnRequest> redirect
// (HTTP-Redirect binding) and the SP metadata document. See docs/saml.md.
//
// Signatures are checked with libxmlsec1 (OpenSSL) against the IdP certificate from
// configuration only: <ds:KeyInfo> in a response is never read. Everything else (structure,
// conditions, subject confirmation, attributes) is checked here with libxml2.
//
// Threads: a SamlVerifier is immutable after create() and may be shared; verifyResponse() is
// noexcept, does no I/O and builds its own libxml2/xmlsec contexts per call. SamlReplayCache
// is internally locked. Nothing here throws.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/time_source.h"

namespace stepgate::identity {

enum class SamlError : unsigned char {
  kNone,
  kTooLarge,                  // the encoded or decoded response exceeds max_response_bytes
  kBadBase64,                 // the SAMLResponse form value is not base64
  kMalformedXml,              // not well-formed XML (or trailing garbage)
  kDoctypeForbidden,          // a DOCTYPE (DTD, entities) is present
  kTooDeep,                   // element nesting beyond the limit
  kNotAResponse,              // the root is not samlp:Response, or Version is not 2.0
  kDuplicateId,               // two elements carry the same ID value
  kWrongAssertionCount,       // not exactly one Assertion/EncryptedAssertion in the document
  kNoDecryptionKey,           // an EncryptedAssertion and no SP decryption key configured
  kDecryptionFailed,          // the EncryptedAssertion could not be decrypted
  kMissingSignature,          // neither the Response nor the Assertion is signed
  kAssertionNotSigned,        // require_signed_assertion and only the Response is signed
  kSignatureReferenceMismatch,  // not one Reference, or its URI is not the signed element's ID
  kSignatureAlgorithmNotAllowed,  // a signature/digest/c14n/transform outside the allow-list
  kBadSignature,              // the signature does not verify with the IdP certificate
  kWrongDestination,          // Response Destination present and not the ACS URL
  kWrongIssuer,               // Response or Assertion Issuer is not the IdP entity id
  kStatusNotSuccess,          // top-level StatusCode is not ...:status:Success
  kMalformedTime,             // a timestamp that is not xs:dateTime (UTC)
  kExpired,                   // now >= Conditions NotOnOrAfter + skew
  kNotYetValid,               // now + skew < Conditions NotBefore
  kWrongAudience,             // no AudienceRestriction, or one without our entity id
  kNoBearerConfirmation,      // no bearer SubjectConfirmation with SubjectConfirmationData
  kWrongRecipient,            // the bearer confirmation's Recipient is not the ACS URL
  kConfirmationExpired,       // the bearer confirmation's NotOnOrAfter is missing or past
  kWrongInResponseTo,         // InResponseTo differs from the expected request id
  kUnsolicitedNotAllowed,     // an IdP-initiated response and allow_idp_initiated is false
  kMissingSubject,            // no subject (NameID or the configured attribute) or empty
  kMalformedNameId,           // NameID with a comment, element or processing-instruction child
  kReplay,                    // the assertion id was seen before (replay cache)
  kInternal,                  // libxml2/xmlsec failed in a way that is not the input's fault
  kCount,
};

// A stable snake_case name ("bad_signature") for logs, metrics and audit records.
const char* samlErrorName(SamlError e) noexcept;

struct SamlSpConfig {
  std::string entity_id;      // our SP entity id: the Audience we require
  std::string acs_url;        // our ACS URL: Destination and Recipient
  std::string idp_entity_id;  // the IdP's entity id: the Issuer we require
  std::string idp_cert_pem;   // the IdP signing certificate (from its metadata), PEM
  std::string idp_sso_url;    // the IdP's SingleSignOnService (HTTP-Redirect) location
  std::chrono::seconds clock_skew{60};
  std::size_t max_response_bytes = 256 * 1024;  // of the decoded XML
  // Subject: empty = the NameID text; otherwise the first value of this attribute (Name).
  std::string subject_attribute;
  std::string groups_attribute;  // empty = no groups
  // The SP private key, PEM: decrypts EncryptedAssertion and signs AuthnRequests. Optional.
  std::string sp_private_key_pem;
  std::string sp_cert_pem;  // published in metadata when set (signing and encryption)
  bool require_signed_assertion = false;  // a signature on the Assertion itself is required
  bool allow_idp_initiated = false;       // accept responses without InResponseTo
  bool allow_sha1 = false;                // rsa-sha1 / sha1 digests (off: SHA-2 only)
  bool sign_authn_requests = false;       // needs sp_private_key_pem
};

struct SamlAssertionResult {
  bool ok = false;
  SamlError error = SamlError::kInternal;
  std::string subject;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> attributes;  // Name -> values
  std::optional<SystemTime> session_not_on_or_after;           // AuthnStatement, if present
  std::string session_index;
  std::string assertion_id;
  SystemTime not_on_or_after{};  // Conditions NotOnOrAfter (keep the replay entry this long)
};

// Assertion ids seen, each kept until its NotOnOrAfter (plus skew); bounded: when full,
// expired entries are dropped first, then the oldest-expiring ones (fail closed would lock
// people out; the bound should be sized well above logins per assertion lifetime).
class SamlReplayCache {
 public:
  explicit SamlReplayCache(std::size_t max_entries = 100000) : max_entries_(max_entries) {}
  // True if `id` was not present (now recorded until `until`); false if it is a replay.
  bool insertIfAbsent(const std::string& id, SystemTime until, SystemTime now);
  std::size_t size() const;

 private:
  void evictLocked(SystemTime now);
  mutable std::mutex mu_;
  std::size_t max_entries_;
  std::unordered_map<std::string, SystemTime> entries_;
};

class SamlVerifier {
 public:
  // Parses the IdP certificate (and the SP key when set) and initialises libxmlsec1 once per
  // process. InvalidArgument names the bad setting, never its content.
  static StatusOr<std::shared_ptr<const SamlVerifier>> create(SamlSpConfig config);
  ~SamlVerifier();
  SamlVerifier(const SamlVerifier&) = delete;
  SamlVerifier& operator=(const SamlVerifier&) = delete;

  // `saml_response_b64`: the SAMLResponse form value (URL-decoded already). `expected_request_id`:
  // the id of the AuthnRequest this browser was sent with, or empty for IdP-initiated.
  // `replay` may be null (no replay check). Never throws, no I/O.
  SamlAssertionResult verifyResponse(std::string_view saml_response_b64,
                                     std::string_view expected_request_id, SystemTime now,
                                     SamlReplayCache* replay) const noexcept;

  const SamlSpConfig& config() const noexcept { return config_; }

  struct Keys;  // opaque libxmlsec1 keys

 private:
  explicit SamlVerifier(SamlSpConfig config);
  SamlSpConfig config_;
  std::unique_ptr<Keys> keys_;
};

// The HTTP-Redirect binding URL for an SP-initiated login: idp_sso_url?SAMLRequest=...
// [&RelayState=...][&SigAlg=...&Signature=...] (signed with rsa-sha256 when
// config.sign_authn_requests). `request_id_out` receives the AuthnRequest ID to remember
// for InResponseTo. `now` sets IssueInstant.
StatusOr<std::string> buildAuthnRequestRedirect(const SamlSpConfig& config,
                                                std::string_view relay_state,
                                                std::string& request_id_out, SystemTime now);

// The SP's SAML metadata (EntityDescriptor with SPSSODescriptor, the ACS over HTTP-POST,
// the SP certificate for signing and encryption when configured).
std::string spMetadataXml(const SamlSpConfig& config);

}  // namespace stepgate::identity
