#pragma once
// AWS Signature Version 4 for requests stepgate forwards to AWS (the step-functions profile):
// stepgate authenticates callers itself, authorises, and signs the forwarded request (and its
// own lookups) with its own credentials, because a caller's signature covers a Host and
// headers the proxy changes and cannot be checked without the caller's secret.
//
// Everything here is pure (the time is a parameter) and thread-safe. Hashes use OpenSSL 3
// (EVP_Digest, EVP_MAC HMAC). Secrets never appear in a Status message.
// Reference: AWS General Reference, "Create a signed AWS API request" (SigV4).

#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "config/schema.h"
#include "orchestrators/profile.h"

namespace stepgate::orchestrators {

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" unless temporary credentials
  std::string region;         // e.g. us-east-1
  std::string service;        // the signing name, "states" for Step Functions
};

// Appends the header lines ("Name: value\r\n") that sign the request to `out`: X-Amz-Date,
// X-Amz-Security-Token (when a session token is set) and Authorization
// ("AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=...,
// Signature=..."). X-Amz-Content-Sha256 is not added (only S3 needs it).
//
// `path` and `query` are as forwarded (percent-encoded, query without '?'); `host` is the
// Host value forwarded; `headers` are the other fields to sign exactly as forwarded (e.g.
// content-type, x-amz-target). Fields named host, x-amz-date, x-amz-security-token,
// authorization or x-amz-content-sha256 in `headers` are not signed (the caller must not
// forward its own). The signed headers are host, x-amz-date, the given ones and
// x-amz-security-token; repeated names are joined with ','; values are trimmed and runs of
// spaces collapsed. The canonical URI encodes the forwarded path once more (so each segment
// ends up URI-encoded twice, as for every service but S3); the canonical query is each
// parameter percent-decoded, re-encoded per RFC 3986 and sorted by name, then value.
void signV4(const SigV4Credentials& creds, std::string_view method, std::string_view path,
            std::string_view query, std::string_view host, std::span<const HeaderView> headers,
            std::string_view body, std::chrono::system_clock::time_point now, std::string& out);

// Reads secret_access_key_file and session_token_file (when set; trailing CR/LF removed) into
// credentials with cfg's access key id, region and service. Errors name the file and the
// problem, never the content.
[[nodiscard]] StatusOr<SigV4Credentials> loadSigV4Credentials(const config::AwsSigningConfig& cfg);

// Lowercase hex SHA-256 of `data`; "" only if OpenSSL fails (it does not for SHA-256).
std::string sha256Hex(std::string_view data);

// Raw HMAC-SHA256 of `data` under `key` (32 bytes); "" if OpenSSL fails.
std::string hmacSha256(std::string_view key, std::string_view data);

}  // namespace stepgate::orchestrators
