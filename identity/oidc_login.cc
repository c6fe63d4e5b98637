#include "identity/oidc_login.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/json.h"
#include "common/json_writer.h"
#include "identity/client_credentials.h"
#include "identity/auth_error.h"
#include "identity/jws_sign.h"
#include "identity/jwt.h"
#include "identity/oidc_discovery.h"
#include "identity/token_verifier.h"

namespace stepgate::identity {
namespace {

constexpr size_t kMaxCallbackValueBytes = 2048;
constexpr size_t kMaxErrorDescriptionChars = 256;
constexpr char kJwtBearerAssertion[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

Status loginError(StatusCode code, std::string_view name, std::string_view detail) {
  std::string m(name);
  m += ": ";
  m += detail;
  return Status(code, std::move(m));
}

Status configInvalid(std::string_view detail) {
  return loginError(StatusCode::kInvalidArgument, "config_invalid", detail);
}

bool lowerEquals(std::string_view a, std::string_view b) noexcept {
  return asciiIEquals(a, b);
}

// RFC 6749 appendix A: error and scope-token characters %x21 / %x23-5B / %x5D-7E.
bool oauthTokenChars(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || u == 0x22 || u == 0x5c) return false;
  }
  return true;
}

// Printable ASCII only (RFC 6749 error_description), anything else replaced by '?', cut.
std::string sanitizeDescription(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxErrorDescriptionChars)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u <= 0x7e ? c : '?');
  }
  return out;
}

// The credential files, with their errors as this library's config_invalid code.
StatusOr<std::string> readSecretFile(const std::string& path) {
  auto secret = readClientSecretFile(path);
  if (!secret.isOk()) return configInvalid(secret.status().message());
  return secret;
}

// An allowed URL (parseFetchUrl) without a fragment.
Status checkEndpointUrl(std::string_view url, std::string_view what) {
  if (url.find('#') != std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument, std::string(what) + " has a fragment");
  }
  if (auto u = parseFetchUrl(url); !u.isOk()) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(what) + " is not allowed: " + u.status().message());
  }
  return okStatus();
}

bool reservedAuthorizeParam(std::string_view name) noexcept {
  static constexpr std::string_view kReserved[] = {
      "response_type", "client_id", "redirect_uri",          "scope",   "state",
      "nonce",         "code_challenge", "code_challenge_method", "request", "request_uri",
      "response_mode", "client_secret",  "client_assertion",      "client_assertion_type"};
  for (std::string_view r : kReserved) {
    if (r == name) return true;
  }
  return false;
}

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding of one name or value; false on a bad escape.
bool formDecode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hexValue(in[i + 1]);
      const int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

Status callbackMalformed(std::string_view detail) {
  return loginError(StatusCode::kInvalidArgument, "callback_malformed", detail);
}

// ---- token endpoint answers ----------------------------------------------------------------

Status tokenMalformed(std::string_view detail) {
  return loginError(StatusCode::kUnavailable, "token_response_malformed", detail);
}

// Reads an optional string member into `out`; false when present with another type.
bool optionalString(const JsonValue& obj, std::string_view name, std::string& out) {
  const JsonValue* v = obj.find(name);
  if (v == nullptr) return true;
  if (!v->isString()) return false;
  out = v->asString();
  return true;
}

Status providerError(const JsonValue& doc) {
  const JsonValue* e = doc.find("error");
  std::string code = e->asString();
  static constexpr std::string_view kKnown[] = {
      "invalid_grant",          "invalid_client", "invalid_request", "unauthorized_client",
      "unsupported_grant_type", "invalid_scope"};
  std::string name = "provider_error";
  for (std::string_view k : kKnown) {
    if (code == k) name = "provider_" + code;
  }
  std::string detail = "the token endpoint answered error \"" + sanitizeDescription(code) + "\"";
  if (const JsonValue* d = doc.find("error_description"); d != nullptr && d->isString()) {
    detail += ": " + sanitizeDescription(d->asString());
  }
  return loginError(StatusCode::kUnauthenticated, name, detail);
}

StatusOr<TokenResponse> readTokenAnswer(const StatusOr<HttpResponse>& fetched, size_t max_bytes,
                                        bool require_id_token) {
  if (!fetched.isOk()) {
    // The Fetcher's messages name the URL without its query and never a form field.
    return loginError(StatusCode::kUnavailable, "token_endpoint_unavailable",
                      fetched.status().message());
  }
  const HttpResponse& res = *fetched;
  if (res.body.size() > max_bytes) {
    return loginError(StatusCode::kUnavailable, "token_response_too_large",
                      "the token endpoint answered more than " + std::to_string(max_bytes) +
                          " bytes");
  }
  const bool error_status = res.status == 400 || res.status == 401;
  if (res.status != 200 && !error_status) {
    return loginError(StatusCode::kUnavailable, "token_endpoint_unavailable",
                      "the token endpoint answered HTTP " + std::to_string(res.status));
  }
  JsonError jerr = JsonError::kNone;
  JsonLimits limits;
  limits.max_bytes = max_bytes;
  limits.max_depth = 8;
  auto parsed = parseJson(res.body, limits, &jerr);
  if (!parsed.isOk() || !parsed->isObject()) {
    if (error_status) {
      return loginError(StatusCode::kUnavailable, "token_endpoint_unavailable",
                        "the token endpoint answered HTTP " + std::to_string(res.status) +
                            " without an OAuth error");
    }
    return tokenMalformed(jerr == JsonError::kDuplicateMember ? "a member appears twice"
                                                              : "not a strict JSON object");
  }
  const JsonValue& doc = *parsed;
  if (error_status) {
    const JsonValue* e = doc.find("error");
    if (e == nullptr || !e->isString() || !oauthTokenChars(e->asString())) {
      return loginError(StatusCode::kUnavailable, "token_endpoint_unavailable",
                        "the token endpoint answered HTTP " + std::to_string(res.status) +
                            " without an OAuth error");
    }
    return providerError(doc);
  }
  if (const JsonValue* e = doc.find("error"); e != nullptr) {
    if (!e->isString() || !oauthTokenChars(e->asString())) {
      return tokenMalformed("\"error\" is not an error code");
    }
    return providerError(doc);  // some providers answer errors with 200
  }
  TokenResponse out;
  if (!optionalString(doc, "access_token", out.access_token) ||
      !optionalString(doc, "token_type", out.token_type) ||
      !optionalString(doc, "id_token", out.id_token) ||
      !optionalString(doc, "refresh_token", out.refresh_token) ||
      !optionalString(doc, "scope", out.scope)) {
    return tokenMalformed("a token member is not a string");
  }
  if (const JsonValue* e = doc.find("expires_in"); e != nullptr) {
    if (!e->isInt() || e->asInt() < 0) {
      return tokenMalformed("\"expires_in\" is not a non-negative integer");
    }
    out.expires_in = std::chrono::seconds(std::min<int64_t>(e->asInt(), 10LL * 366 * 86400));
  }
  if (out.access_token.empty()) {
    return tokenMalformed("no access_token");
  }
  if (!lowerEquals(out.token_type, "bearer")) {
    return loginError(StatusCode::kUnavailable, "token_type_unsupported",
                      out.token_type.empty() ? "no token_type" : "token_type is not Bearer");
  }
  if (require_id_token && out.id_token.empty()) {
    return loginError(StatusCode::kUnavailable, "id_token_missing",
                      "the token endpoint answered without an id_token");
  }
  return out;
}

// POSTs `form` with the client authentication to `endpoint` (named `what` in errors), then
// cleanses the form and the headers. The outer status is a local failure (config_invalid,
// client authentication); the inner one is the transport's.
StatusOr<StatusOr<HttpResponse>> postAuthenticated(Fetcher& fetcher, const std::string& endpoint,
                                                   const char* what, const OidcClient& client,
                                                   FormFields form, SystemTime now) {
  if (Status s = checkEndpointUrl(endpoint, what); !s.isOk()) {
    return loginError(StatusCode::kInvalidArgument, "config_invalid", s.message());
  }
  RequestHeaders headers;
  Status auth = client.authenticate(endpoint, now, form, headers);
  if (!auth.isOk()) {
    return auth;
  }
  headers.emplace_back("Accept", "application/json");
  FetchOptions options;
  options.timeout = client.config().fetch_timeout;
  options.ca_file = client.config().ca_file;
  options.max_body_bytes = client.config().max_response_bytes;
  StatusOr<HttpResponse> fetched = unavailable("the request did not run");
  try {
    fetched = fetcher.postForm(endpoint, form, headers, options);
  } catch (...) {
    fetched = unavailable("the request threw");
  }
  for (auto& [name, value] : form) {
    OPENSSL_cleanse(value.data(), value.size());
  }
  for (auto& [name, value] : headers) {
    OPENSSL_cleanse(value.data(), value.size());
  }
  return fetched;
}

StatusOr<TokenResponse> postToken(Fetcher& fetcher, const std::string& token_endpoint,
                                  const OidcClient& client, FormFields form, SystemTime now,
                                  bool require_id_token) {
  auto fetched =
      postAuthenticated(fetcher, token_endpoint, "token_endpoint", client, std::move(form), now);
  if (!fetched.isOk()) {
    return fetched.status();
  }
  return readTokenAnswer(*fetched, client.config().max_response_bytes, require_id_token);
}

// ---- ID tokens -----------------------------------------------------------------------------

Status idTokenError(AuthError e) {
  return loginError(
      e == AuthError::kKeysUnavailable ? StatusCode::kUnavailable : StatusCode::kUnauthenticated,
      authErrorName(e), "the ID token was refused");
}

Status idTokenRefused(std::string_view code, std::string_view detail) {
  return loginError(StatusCode::kUnauthenticated, code, detail);
}

bool constantTimeEquals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

const EVP_MD* atHashDigest(JwsAlg alg) noexcept {
  switch (alg) {
    case JwsAlg::kRS256: case JwsAlg::kPS256: case JwsAlg::kES256: case JwsAlg::kHS256:
      return EVP_sha256();
    case JwsAlg::kRS384: case JwsAlg::kPS384: case JwsAlg::kES384: case JwsAlg::kHS384:
      return EVP_sha384();
    case JwsAlg::kRS512: case JwsAlg::kPS512: case JwsAlg::kES512: case JwsAlg::kHS512:
    case JwsAlg::kEdDSA:
      return EVP_sha512();
  }
  return nullptr;
}

// base64url(left half of hash(access_token)), OIDC Core 3.1.3.6.
std::optional<std::string> atHashOf(std::string_view access_token, JwsAlg alg) {
  const EVP_MD* md = atHashDigest(alg);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (md == nullptr ||
      EVP_Digest(access_token.data(), access_token.size(), digest, &len, md, nullptr) != 1) {
    return std::nullopt;
  }
  return base64UrlEncode(std::string_view(reinterpret_cast<char*>(digest), len / 2));
}

}  // namespace

// ---- discovery -------------------------------------------------------------------------------

StatusOr<OidcLoginEndpoints> parseLoginEndpoints(std::string_view json,
                                                 std::string_view expected_issuer) {
  auto meta = parseDiscoveryDocument(json, expected_issuer);
  if (!meta.isOk()) {
    return loginError(StatusCode::kInvalidArgument, "discovery_malformed",
                      meta.status().message());
  }
  auto parsed = parseJson(json);  // parsed above already; cannot fail now
  if (!parsed.isOk() || !parsed->isObject()) {
    return loginError(StatusCode::kInvalidArgument, "discovery_malformed", "not a JSON object");
  }
  OidcLoginEndpoints out;
  out.issuer = meta->issuer;
  for (auto [name, field] : {std::pair<const char*, std::string*>{"authorization_endpoint",
                                                                 &out.authorization_endpoint},
                             std::pair<const char*, std::string*>{"token_endpoint",
                                                                 &out.token_endpoint}}) {
    const JsonValue* v = parsed->find(name);
    if (v == nullptr || !v->isString() || v->asString().empty()) {
      return loginError(StatusCode::kInvalidArgument, "discovery_malformed",
                        std::string("discovery document has no string \"") + name + "\"");
    }
    if (Status s = checkEndpointUrl(v->asString(), name); !s.isOk()) {
      return loginError(StatusCode::kInvalidArgument, "discovery_malformed", s.message());
    }
    *field = v->asString();
  }
  if (const JsonValue* v = parsed->find("revocation_endpoint"); v != nullptr) {
    if (!v->isString() || v->asString().empty()) {
      return loginError(StatusCode::kInvalidArgument, "discovery_malformed",
                        "revocation_endpoint is not a string");
    }
    if (Status s = checkEndpointUrl(v->asString(), "revocation_endpoint"); !s.isOk()) {
      return loginError(StatusCode::kInvalidArgument, "discovery_malformed", s.message());
    }
    out.revocation_endpoint = v->asString();
  }
  return out;
}

StatusOr<OidcLoginEndpoints> discoverLoginEndpoints(Fetcher& fetcher, const std::string& issuer,
                                                    const FetchOptions& options) {
  auto url = discoveryUrl(issuer);
  if (!url.isOk()) {
    return loginError(StatusCode::kInvalidArgument, "config_invalid", url.status().message());
  }
  auto res = fetcher.get(*url, options);
  if (!res.isOk()) {
    return loginError(StatusCode::kUnavailable, "discovery_unavailable", res.status().message());
  }
  if (res->status != 200) {
    return loginError(StatusCode::kUnavailable, "discovery_unavailable",
                      "discovery of " + issuer + " answered HTTP " + std::to_string(res->status));
  }
  return parseLoginEndpoints(res->body, issuer);
}

// ---- configuration and the authorization request ------------------------------------------

Status validateLoginConfig(const OidcLoginConfig& config) {
  if (config.client_id.empty()) {
    return configInvalid("client_id must not be empty");
  }
  if (Status s = checkEndpointUrl(config.redirect_uri, "redirect_uri"); !s.isOk()) {
    return configInvalid(s.message());
  }
  bool openid = false;
  for (const std::string& s : config.scopes) {
    if (!oauthTokenChars(s)) {
      return configInvalid("scope \"" + sanitizeDescription(s) + "\" is not a scope token");
    }
    openid = openid || s == "openid";
  }
  if (!openid) {
    return configInvalid("scopes must include openid");
  }
  for (const std::string& p : config.extra_authorize_params) {
    const bool chars_ok = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.' || c == '-';
    });
    if (!chars_ok) {
      return configInvalid("extra_authorize_params: \"" + sanitizeDescription(p) +
                           "\" is not a parameter name");
    }
    if (reservedAuthorizeParam(p)) {
      return configInvalid("extra_authorize_params: \"" + p + "\" is set by stepgate itself");
    }
  }
  if (config.max_response_bytes == 0) {
    return configInvalid("max_response_bytes must not be 0");
  }
  return okStatus();
}

std::string authorizationUrl(const OidcLoginEndpoints& endpoints, const OidcLoginConfig& config,
                             const LoginState& state, const FormFields& extra) {
  std::string scope;
  for (const std::string& s : config.scopes) {
    if (!scope.empty()) scope += ' ';
    scope += s;
  }
  FormFields form = {{"response_type", "code"},
                     {"client_id", config.client_id},
                     {"redirect_uri", config.redirect_uri},
                     {"scope", scope},
                     {"state", state.state},
                     {"nonce", state.nonce},
                     {"code_challenge", pkceChallenge(state.pkce_verifier)},
                     {"code_challenge_method", "S256"}};
  std::vector<std::string_view> seen;
  for (const auto& [name, value] : extra) {
    const bool allowed = std::find(config.extra_authorize_params.begin(),
                                   config.extra_authorize_params.end(),
                                   name) != config.extra_authorize_params.end();
    if (!allowed || reservedAuthorizeParam(name) ||
        std::find(seen.begin(), seen.end(), name) != seen.end()) {
      continue;
    }
    seen.push_back(name);
    form.emplace_back(name, value);
  }
  std::string url = endpoints.authorization_endpoint;
  const size_t q = url.find('?');
  if (q == std::string::npos) {
    url += '?';
  } else if (q + 1 != url.size() && url.back() != '&') {
    url += '&';
  }
  url += encodeForm(form);
  return url;
}

// ---- the callback --------------------------------------------------------------------------

StatusOr<OidcCallback> parseCallback(std::string_view query) {
  if (query.size() > kMaxCallbackQueryBytes) {
    return callbackMalformed("the query is too long");
  }
  OidcCallback out;
  bool has_state = false, has_code = false, has_error = false, has_iss = false;
  std::vector<std::string> names;
  std::string name, value;
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(pos, end - pos);
    pos = end + 1;
    if (pair.empty()) {
      if (end == query.size()) break;
      continue;
    }
    const size_t eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!formDecode(raw_name, name) || !formDecode(raw_value, value)) {
      return callbackMalformed("a parameter has a bad percent escape");
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return callbackMalformed("a parameter appears twice");
    }
    names.push_back(name);
    if (name == "state") {
      has_state = true;
      out.state = value;
    } else if (name == "code") {
      has_code = true;
      out.code = value;
    } else if (name == "error") {
      has_error = true;
      out.error = value;
    } else if (name == "error_description") {
      out.error_description = sanitizeDescription(value);
    } else if (name == "iss") {
      has_iss = true;
      out.iss = value;
    }
    if (end == query.size()) break;
  }
  if (!has_state || out.state.empty()) {
    return callbackMalformed("no state");
  }
  if (out.state.size() > kMaxCallbackValueBytes || out.code.size() > kMaxCallbackValueBytes ||
      out.iss.size() > kMaxCallbackValueBytes) {
    return callbackMalformed("a parameter is too long");
  }
  if (has_iss && out.iss.empty()) {
    return callbackMalformed("an empty iss");
  }
  if (has_code && has_error) {
    return callbackMalformed("both code and error");
  }
  if (has_error) {
    if (!oauthTokenChars(out.error) || out.error.size() > 128) {
      return callbackMalformed("error is not an error code");
    }
    return out;
  }
  out.error_description.clear();
  if (!has_code) {
    return callbackMalformed("neither code nor error");
  }
  if (out.code.empty()) {
    return callbackMalformed("an empty code");
  }
  return out;
}

// ---- the client and the token endpoint -----------------------------------------------------

StatusOr<OidcClient> OidcClient::create(const OidcLoginConfig& config) {
  RETURN_IF_ERROR(validateLoginConfig(config));
  OidcClient client;
  client.config_ = config;
  if (config.client_auth == OidcClientAuth::kPrivateKeyJwt) {
    if (config.client_key_file.empty()) {
      return configInvalid("client_key_file is required with private_key_jwt");
    }
    auto signer = ClientAssertionSigner::load(config.client_key_file, config.client_key_alg);
    if (!signer.isOk()) return configInvalid(signer.status().message());
    client.assertion_.emplace(std::move(signer).value());
  } else {
    if (config.client_secret_file.empty()) {
      return configInvalid("client_secret_file is required");
    }
    ASSIGN_OR_RETURN(client.secret_, readSecretFile(config.client_secret_file));
  }
  return client;
}

OidcClient::~OidcClient() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

Status OidcClient::authenticate(const std::string& token_endpoint, SystemTime now,
                                FormFields& form, RequestHeaders& headers) const {
  switch (config_.client_auth) {
    case OidcClientAuth::kClientSecretBasic: {
      headers.emplace_back("Authorization", basicAuthorization(config_.client_id, secret_));
      return okStatus();
    }
    case OidcClientAuth::kClientSecretPost:
      form.emplace_back("client_id", config_.client_id);
      form.emplace_back("client_secret", secret_);
      return okStatus();
    case OidcClientAuth::kPrivateKeyJwt: {
      auto signed_jwt = assertion_->sign(config_.client_id, {token_endpoint}, now);
      if (!signed_jwt.isOk()) {
        return loginError(StatusCode::kInternal, "client_assertion_failed",
                          signed_jwt.status().message());
      }
      form.emplace_back("client_id", config_.client_id);
      form.emplace_back("client_assertion_type", kJwtBearerAssertion);
      form.emplace_back("client_assertion", std::move(signed_jwt).value());
      return okStatus();
    }
  }
  return internalError("unknown client authentication");
}

StatusOr<TokenResponse> exchangeCode(Fetcher& fetcher, const std::string& token_endpoint,
                                     const OidcClient& client, std::string_view code,
                                     std::string_view pkce_verifier, SystemTime now) {
  if (code.empty() || code.size() > kMaxCallbackValueBytes) {
    return callbackMalformed("the code is empty or too long");
  }
  if (!validPkceVerifier(pkce_verifier)) {
    return loginError(StatusCode::kInvalidArgument, "pkce_verifier_invalid",
                      "the PKCE verifier is not 43 to 128 unreserved characters");
  }
  FormFields form = {{"grant_type", "authorization_code"},
                     {"code", std::string(code)},
                     {"redirect_uri", client.config().redirect_uri},
                     {"code_verifier", std::string(pkce_verifier)}};
  return postToken(fetcher, token_endpoint, client, std::move(form), now, true);
}

StatusOr<TokenResponse> refresh(Fetcher& fetcher, const std::string& token_endpoint,
                                const OidcClient& client, std::string_view refresh_token,
                                SystemTime now) {
  if (refresh_token.empty() || refresh_token.size() > 8192) {
    return loginError(StatusCode::kInvalidArgument, "refresh_token_invalid",
                      "the refresh token is empty or too long");
  }
  FormFields form = {{"grant_type", "refresh_token"},
                     {"refresh_token", std::string(refresh_token)}};
  return postToken(fetcher, token_endpoint, client, std::move(form), now, false);
}

Status revokeRefreshToken(Fetcher& fetcher, const std::string& revocation_endpoint,
                          const OidcClient& client, std::string_view refresh_token,
                          SystemTime now) {
  if (refresh_token.empty() || refresh_token.size() > 8192) {
    return loginError(StatusCode::kInvalidArgument, "refresh_token_invalid",
                      "the refresh token is empty or too long");
  }
  FormFields form = {{"token", std::string(refresh_token)},
                     {"token_type_hint", "refresh_token"}};
  auto posted = postAuthenticated(fetcher, revocation_endpoint, "revocation_endpoint", client,
                                  std::move(form), now);
  if (!posted.isOk()) {
    return posted.status();
  }
  const StatusOr<HttpResponse>& fetched = *posted;
  if (!fetched.isOk()) {
    return loginError(StatusCode::kUnavailable, "revocation_failed",
                      "the revocation endpoint could not be reached");
  }
  if (fetched->status != 200) {
    return loginError(StatusCode::kUnavailable, "revocation_failed",
                      "the revocation endpoint answered " + std::to_string(fetched->status));
  }
  return okStatus();
}

// ---- the ID token --------------------------------------------------------------------------

StatusOr<Principal> verifyIdToken(std::string_view id_token,
                                  const config::ProviderConfig& provider, const KeySet& keys,
                                  const IdTokenExpectations& expect, SystemTime now) {
  if (expect.client_id.empty() ||
      (expect.expected_nonce.empty() && expect.expected_subject.empty())) {
    return loginError(StatusCode::kInvalidArgument, "id_token_check_invalid",
                      "client_id and a nonce or a subject are required");
  }
  config::ProviderConfig p = provider;
  p.audiences = {std::string(expect.client_id)};
  p.typ.clear();
  p.require_exp = true;
  Jwt jwt;
  if (auto e = parseJwt(id_token, jwt, p.max_token_bytes); e.has_value()) {
    return idTokenError(*e);
  }
  VerifyResult r = verifyParsedJwt(jwt, id_token, p, keys, now);
  if (!r.ok()) {
    return idTokenError(*r.error);
  }
  const JsonValue& claims = jwt.claims;
  // OIDC Core 2: iat is required (verifyJwt checked it is not in the future when present).
  if (const JsonValue* iat = claims.find("iat"); iat == nullptr || !iat->isNumber()) {
    return idTokenRefused(authErrorName(AuthError::kMissingClaim), "the ID token has no iat");
  }
  // azp (3.1.3.7 items 4 and 5).
  const JsonValue* aud = claims.find("aud");
  const bool several_aud = aud != nullptr && aud->isArray() && aud->asArray().size() > 1;
  const JsonValue* azp = claims.find("azp");
  if (azp != nullptr && (!azp->isString() || azp->asString() != expect.client_id)) {
    return idTokenRefused("id_token_azp_mismatch", "azp is not our client_id");
  }
  if (azp == nullptr && several_aud) {
    return idTokenRefused("id_token_azp_mismatch", "several audiences and no azp");
  }
  if (!expect.expected_subject.empty()) {
    const JsonValue* sub = claims.find("sub");
    if (sub == nullptr || !sub->isString() || sub->asString() != expect.expected_subject) {
      return idTokenRefused("id_token_subject_mismatch",
                            "the refreshed ID token names another subject");
    }
  } else {
    const JsonValue* nonce = claims.find("nonce");
    if (nonce == nullptr || !nonce->isString() ||
        !constantTimeEquals(nonce->asString(), expect.expected_nonce)) {
      return idTokenRefused("id_token_nonce_mismatch", "the nonce is not the login's");
    }
  }
  if (expect.access_token.has_value()) {
    if (const JsonValue* at_hash = claims.find("at_hash"); at_hash != nullptr) {
      const auto expected = atHashOf(*expect.access_token, jwt.alg);
      if (!at_hash->isString() || !expected.has_value() ||
          !constantTimeEquals(at_hash->asString(), *expected)) {
        return idTokenRefused("id_token_at_hash_mismatch",
                              "at_hash does not match the access token");
      }
    }
  }
  return std::move(r.principal);
}

std::string_view loginErrorCode(const Status& status) noexcept {
  if (status.isOk()) return {};
  std::string_view m = status.message();
  const size_t colon = m.find(": ");
  return colon == std::string_view::npos ? m : m.substr(0, colon);
}

const char* oidcFailureName(OidcFailure f) noexcept {
  switch (f) {
    case OidcFailure::kCallback: return "callback";
    case OidcFailure::kLoginState: return "login_state";
    case OidcFailure::kWrongIssuer: return "wrong_issuer";
    case OidcFailure::kProviderRefused: return "provider_refused";
    case OidcFailure::kUnavailable: return "unavailable";
    case OidcFailure::kTokenResponse: return "token_response";
    case OidcFailure::kIdToken: return "id_token";
    case OidcFailure::kSession: return "session";
    case OidcFailure::kCount: break;
  }
  return "unknown";
}

}  // namespace stepgate::identity
