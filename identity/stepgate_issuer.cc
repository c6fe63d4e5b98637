#include "identity/stepgate_issuer.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/json_writer.h"
#include "common/private_file.h"
#include "identity/jws_sign.h"
#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

std::string opensslReason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

std::string coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  std::string out(32, '\0');
  if (EVP_PKEY_get_bn_param(key, name, &bn) == 1)
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_free(bn);
  return out;
}

int64_t unixSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string randomId(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    return std::string();
  return base64UrlEncode(raw);
}

void appendStringArray(std::string& out, const std::vector<std::string>& items, size_t count) {
  out += '[';
  for (size_t i = 0; i < count; ++i) {
    if (i > 0)
      out += ',';
    json::appendString(out, items[i]);
  }
  out += ']';
}


StatusOr<EvpPkeyPtr> readPemKey(const std::string& path) {
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr)
    return notFound(path);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  fclose(f);
  if (key == nullptr) {
    ERR_clear_error();
    return invalidArgument(path + ": not a PEM private key");
  }
  return EvpPkeyPtr(key, EVP_PKEY_free);
}

// A private or public PEM key (a previous signing key may be kept as its public half only).
StatusOr<EvpPkeyPtr> readPemAnyKey(const std::string& path) {
  auto priv = readPemKey(path);
  if (priv.isOk() || priv.status().code() == StatusCode::kNotFound)
    return priv;
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr)
    return notFound(path);
  EVP_PKEY* key = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  fclose(f);
  if (key == nullptr) {
    ERR_clear_error();
    return invalidArgument(path + ": not a PEM private or public key");
  }
  return EvpPkeyPtr(key, EVP_PKEY_free);
}

// One JWKS entry for an EC P-256 key.
std::string ecJwk(EVP_PKEY* key, const std::string& kid) {
  std::string jwk = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\",\"alg\":\"ES256\",\"kid\":";
  json::appendString(jwk, kid);
  jwk += ",\"x\":\"" + base64UrlEncode(coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X)) +
         "\",\"y\":\"" + base64UrlEncode(coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y)) + "\"}";
  return jwk;
}

StatusOr<EvpPkeyPtr> generateAndSave(const std::string& path) {
  EVP_PKEY* raw = EVP_EC_gen("P-256");
  if (raw == nullptr)
    return internalError("cannot generate a P-256 key: " + opensslReason());
  EvpPkeyPtr key(raw, EVP_PKEY_free);
  BIO* mem = BIO_new(BIO_s_mem());
  if (mem == nullptr ||
      PEM_write_bio_PrivateKey(mem, raw, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    BIO_free(mem);
    return internalError("cannot encode the generated key: " + opensslReason());
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(mem);
  Status s = writeNewPrivateFile(path, pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!s.isOk())
    return s;
  return key;
}

}  // namespace

std::string OperationSummary::cacheKey() const {
  std::string key;
  auto add = [&key](std::string_view field) {
    key += std::to_string(field.size());
    key += ':';
    key += field;
  };
  add(upstream);
  add(workflow);
  add(step);
  for (const auto& a : actions)
    add(a);
  return key;
}

StatusOr<std::unique_ptr<StepgateIssuer>> StepgateIssuer::open(
    const StepgateIssuerOptions& options) {
  if (options.key_file.empty())
    return invalidArgument("the issuer key file is not configured");
  auto loaded = readPemKey(options.key_file);
  if (!loaded.isOk()) {
    if (loaded.status().code() != StatusCode::kNotFound)
      return loaded.status();
    struct stat st;
    if (::stat(options.key_file.c_str(), &st) == 0)
      return invalidArgument("cannot read " + options.key_file);
    loaded = generateAndSave(options.key_file);
    if (!loaded.isOk() && loaded.status().code() == StatusCode::kInternal) {
      // Another process may have created it first: use theirs.
      auto again = readPemKey(options.key_file);
      if (again.isOk())
        loaded = std::move(again);
    }
    if (!loaded.isOk())
      return loaded.status();
  }
  auto issuer = fromKey(std::move(loaded).value(), options);
  if (!issuer.isOk())
    return issuer;
  for (const std::string& path : options.previous_key_files) {
    auto prev = readPemAnyKey(path);
    if (!prev.isOk())
      return invalidArgument("previous issuer key: " + prev.status().message());
    if (EVP_PKEY_get_base_id(prev->get()) != EVP_PKEY_EC ||
        EVP_PKEY_get_bits(prev->get()) != 256)
      return invalidArgument(path + ": not an EC P-256 key");
    auto kid = jwkThumbprint(prev->get());
    if (!kid.isOk())
      return invalidArgument(path + ": " + kid.status().message());
    if (*kid == (*issuer)->kid_)
      return invalidArgument(path + ": the previous key is the current signing key");
    std::string& jwks = (*issuer)->jwks_;
    jwks.erase(jwks.size() - 2);  // "]}"
    jwks += ',' + ecJwk(prev->get(), *kid) + "]}";
  }
  return issuer;
}

StatusOr<std::unique_ptr<StepgateIssuer>> StepgateIssuer::fromKey(
    EvpPkeyPtr key, const StepgateIssuerOptions& options) {
  if (options.issuer_url.empty())
    return invalidArgument("the issuer URL is not configured");
  if (!key)
    return invalidArgument("no issuer key");
  const std::string where = options.key_file.empty() ? "the issuer key" : options.key_file;
  if (Status fits = checkSigningKey(key.get(), JwsAlg::kES256); !fits.isOk())
    return invalidArgument(where + ": " + fits.message());
  auto issuer = std::unique_ptr<StepgateIssuer>(new StepgateIssuer());
  issuer->options_ = options;
  auto kid = jwkThumbprint(key.get());
  if (!kid.isOk())
    return invalidArgument(where + ": " + kid.status().message());
  issuer->kid_ = std::move(kid).value();
  issuer->jwks_ = "{\"keys\":[" + ecJwk(key.get(), issuer->kid_) + "]}";
  issuer->key_ = std::move(key);
  return issuer;
}

StatusOr<std::string> StepgateIssuer::sign(std::string_view typ, const std::string& claims) const {
  std::string header = "{\"alg\":\"ES256\",\"typ\":";
  json::appendString(header, typ);
  header += ",\"kid\":";
  json::appendString(header, kid_);
  header += '}';
  return signJws(key_.get(), JwsAlg::kES256, header, claims);
}

namespace {

// Estimated compact size for claims of `claims_len` bytes: header ~ 100 bytes, base64
// expansion 4/3, signature 86 characters, two dots.
size_t estimatedTokenBytes(size_t header_len, size_t claims_len) {
  return (header_len * 4 + 2) / 3 + (claims_len * 4 + 2) / 3 + 2 + 86;
}

// The claims shared by both token kinds, without the closing brace.
bool commonClaims(std::string& out, const std::string& iss, const Principal& p,
                  std::string_view aud, int64_t iat, int64_t exp) {
  const std::string jti = randomId(16);
  if (jti.empty())
    return false;
  out = "{\"iss\":";
  json::appendString(out, iss);
  out += ",\"sub\":";
  json::appendString(out, p.subject);
  out += ",\"aud\":";
  json::appendString(out, aud);
  out += ",\"iat\":";
  json::appendInt(out, iat);
  out += ",\"nbf\":";
  json::appendInt(out, iat);
  out += ",\"exp\":";
  json::appendInt(out, exp);
  out += ",\"jti\":";
  json::appendString(out, jti);
  out += ",\"idp\":";
  json::appendString(out, p.provider);
  if (!p.name.empty()) {
    out += ",\"name\":";
    json::appendString(out, p.name);
  }
  if (!p.email.empty()) {
    out += ",\"email\":";
    json::appendString(out, p.email);
  }
  out += p.mfa ? ",\"mfa\":true" : ",\"mfa\":false";
  return true;
}

}  // namespace

StatusOr<std::string> StepgateIssuer::mintAccessToken(const Principal& principal,
                                                      std::string_view audience,
                                                      std::chrono::seconds ttl, SystemTime now,
                                                      std::string_view session_id) const {
  if (principal.subject.empty())
    return invalidArgument("cannot mint a token without a subject");
  if (audience.empty())
    return invalidArgument("cannot mint a token without an audience");
  if (ttl.count() <= 0)
    return invalidArgument("the token lifetime must be positive");
  const int64_t iat = unixSeconds(now);
  std::string claims;
  if (!commonClaims(claims, options_.issuer_url, principal, audience, iat, iat + ttl.count()))
    return internalError("no random bytes for the token id");
  if (principal.mfa)
    claims += ",\"amr\":[\"mfa\"]";
  if (!session_id.empty()) {
    claims += ",\"sid\":";
    json::appendString(claims, session_id);
  }
  claims += ",\"groups\":";
  appendStringArray(claims, principal.groups, principal.groups.size());
  claims += '}';
  if (estimatedTokenBytes(80 + kid_.size(), claims.size()) > kMaxAccessTokenBytes)
    return invalidArgument("the token would be over " + std::to_string(kMaxAccessTokenBytes) +
                           " bytes (" + std::to_string(principal.groups.size()) + " groups)");
  ASSIGN_OR_RETURN(std::string token, sign(kAccessTokenTyp, claims));
  if (token.size() > kMaxAccessTokenBytes)
    return invalidArgument("the token would be over " + std::to_string(kMaxAccessTokenBytes) +
                           " bytes");
  return token;
}

StatusOr<std::string> StepgateIssuer::mintUpstreamAssertion(const Principal& principal,
                                                            const OperationSummary& operation,
                                                            std::string_view upstream_audience,
                                                            std::chrono::seconds ttl,
                                                            SystemTime now) const {
  if (principal.subject.empty())
    return invalidArgument("cannot mint an assertion without a subject");
  if (upstream_audience.empty())
    return invalidArgument("cannot mint an assertion without an audience");
  ttl = std::clamp(ttl, kMinUpstreamTtl, kMaxUpstreamTtl);
  const int64_t iat = unixSeconds(now);
  std::string base;
  if (!commonClaims(base, options_.issuer_url, principal, upstream_audience, iat,
                    iat + ttl.count()))
    return internalError("no random bytes for the assertion id");
  base += ",\"auth\":";
  json::appendString(base, authMethodName(principal.method));
  base += ",\"op\":{\"upstream\":";
  json::appendString(base, operation.upstream);
  base += ",\"workflow\":";
  json::appendString(base, operation.workflow);
  base += ",\"step\":";
  json::appendString(base, operation.step);
  base += ",\"actions\":";
  appendStringArray(base, operation.actions, operation.actions.size());
  base += '}';

  const size_t header_len = 80 + sizeof(kUpstreamAssertionTyp) + kid_.size();
  const size_t limit = options_.max_upstream_assertion_bytes;
  // Find how many groups fit: the groups array grows monotonically with the count.
  size_t count = principal.groups.size();
  std::string claims;
  for (;;) {
    claims = base;
    if (count < principal.groups.size())
      claims += ",\"groups_truncated\":true";
    claims += ",\"groups\":";
    appendStringArray(claims, principal.groups, count);
    claims += '}';
    if (estimatedTokenBytes(header_len, claims.size()) <= limit)
      break;
    if (count == 0)
      return invalidArgument("the identity assertion does not fit in " + std::to_string(limit) +
                             " bytes even without groups");
    // Drop enough groups at once to cover the excess, at least one.
    const size_t excess_json = (estimatedTokenBytes(header_len, claims.size()) - limit) * 3 / 4;
    size_t dropped = 0;
    size_t freed = 0;
    while (count > 0 && (dropped == 0 || freed < excess_json)) {
      --count;
      ++dropped;
      freed += principal.groups[count].size() + 3;
    }
  }
  ASSIGN_OR_RETURN(std::string token, sign(kUpstreamAssertionTyp, claims));
  if (token.size() > limit)
    return invalidArgument("the identity assertion does not fit in " + std::to_string(limit) +
                           " bytes");
  return token;
}

StatusOr<std::string> UpstreamAssertionCache::get(const StepgateIssuer& issuer,
                                                  const Principal& principal,
                                                  const OperationSummary& operation,
                                                  std::string_view upstream_audience,
                                                  std::chrono::seconds ttl, SystemTime now) {
  if (principal.credential_id.empty()) {
    ++misses_;
    return issuer.mintUpstreamAssertion(principal, operation, upstream_audience, ttl, now);
  }
  std::string key = principal.credential_id;
  key += '\n';
  key += std::to_string(upstream_audience.size());
  key += ':';
  key += upstream_audience;
  key += operation.cacheKey();
  if (auto it = entries_.find(key); it != entries_.end()) {
    if (now >= it->second.issued_at && now < it->second.reuse_until) {
      ++hits_;
      return it->second.token;
    }
    entries_.erase(it);
  }
  ++misses_;
  ASSIGN_OR_RETURN(std::string token,
                   issuer.mintUpstreamAssertion(principal, operation, upstream_audience, ttl, now));
  if (max_entries_ == 0)
    return token;
  if (entries_.size() >= max_entries_) {
    std::erase_if(entries_, [now](const auto& kv) { return now >= kv.second.reuse_until; });
    if (entries_.size() >= max_entries_)
      entries_.clear();
  }
  const auto clamped = std::clamp(ttl, kMinUpstreamTtl, kMaxUpstreamTtl);
  entries_[std::move(key)] = Entry{token, now, now + clamped / 2};
  return token;
}

}  // namespace stepgate::identity
