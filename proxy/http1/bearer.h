#pragma once
// Extracting a bearer token from a request (RFC 6750 section 2.1) and answering an
// authentication failure (section 3). Pure functions; thread-safe.
//
// Only the Authorization header is read: tokens in the query string or a form body are not
// accepted (RFC 6750 2.2/2.3 are optional and leak tokens into logs). A request with two
// Authorization fields, a non-Bearer scheme with a Bearer one, or a token that is not token68
// syntax is malformed (400 invalid_request), never guessed.

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/parser.h"

namespace stepgate::proxy {

enum class BearerStatus : unsigned char {
  kAbsent,     // no Authorization field
  kOk,         // `token` holds the token
  kOtherScheme,  // one Authorization field with a scheme other than Bearer (e.g. Basic)
  kMalformed,  // several Authorization fields, or a bad Bearer credential
};

struct BearerToken {
  BearerStatus status = BearerStatus::kAbsent;
  std::string_view token;  // view into the request head
};

BearerToken findBearerToken(const std::vector<http1::Header>& headers) noexcept;

// Appends the WWW-Authenticate value for a 401/400: `Bearer realm="stepgate"` plus
// `, error="<code>"` when `error_code` is not empty (RFC 6750 3.1). No description is sent:
// the client learns no more than the error code.
void appendBearerChallenge(std::string& out, std::string_view error_code);

}  // namespace stepgate::proxy
