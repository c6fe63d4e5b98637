#include "identity/introspection.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/ascii.h"
#include "common/json_writer.h"
#include "common/logging.h"
#include "identity/claim_mapping.h"
#include "common/json.h"
#include "identity/client_credentials.h"
#include "identity/jws_sign.h"
#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kComponent = "identity";
constexpr size_t kMaxAnswerBytes = 1u << 20;
constexpr char kJwtBearerAssertion[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

IntrospectionResult failure(AuthError e) {
  IntrospectionResult r;
  r.error = e;
  return r;
}

}  // namespace

size_t Introspector::DigestHash::operator()(const Digest& d) const noexcept {
  size_t h;
  static_assert(sizeof h <= sizeof(Digest));
  std::memcpy(&h, d.data(), sizeof h);  // already uniformly distributed
  return h;
}

StatusOr<IntrospectorPtr> Introspector::create(const config::ProviderConfig& provider,
                                               Fetcher& fetcher, TimeSource& time,
                                               IntrospectorOptions options) {
  if (provider.type != config::ProviderType::kIntrospection) {
    return invalidArgument("provider '" + provider.name + "' is not of type introspection");
  }
  if (auto url = parseFetchUrl(provider.introspection_endpoint); !url.isOk()) {
    return invalidArgument("provider '" + provider.name +
                           "': introspection_endpoint: " + url.status().message());
  }
  if (provider.client_id.empty()) {
    return invalidArgument("provider '" + provider.name + "': client_id must not be empty");
  }
  options.threads = std::max<size_t>(options.threads, 1);
  const std::string where = "provider '" + provider.name + "': ";
  ClientCredentials credentials;
  if (provider.client_auth == config::IntrospectionClientAuth::kClientSecretBasic) {
    if (provider.client_secret_file.empty()) {
      return invalidArgument(where + "client_secret_file is required");
    }
    auto secret = readClientSecretFile(provider.client_secret_file);
    if (!secret.isOk()) {
      return Status(secret.status().code(), where + secret.status().message());
    }
    credentials.authorization = basicAuthorization(provider.client_id, *secret);
    OPENSSL_cleanse(secret->data(), secret->size());
  } else {
    if (provider.client_key_file.empty()) {
      return invalidArgument(where + "client_key_file is required with private_key_jwt");
    }
    auto signer = ClientAssertionSigner::load(provider.client_key_file, provider.client_key_alg);
    if (!signer.isOk()) {
      return Status(signer.status().code(), where + signer.status().message());
    }
    credentials.assertion.emplace(std::move(signer).value());
  }
  return IntrospectorPtr(
      new Introspector(provider, std::move(credentials), fetcher, time, options));
}

Introspector::Introspector(const config::ProviderConfig& provider,
                           ClientCredentials credentials, Fetcher& fetcher, TimeSource& time,
                           IntrospectorOptions options)
    : provider_(provider),
      credentials_(std::move(credentials)),
      fetcher_(fetcher),
      time_(time),
      options_(options) {
  fetch_options_.timeout = provider_.fetch_timeout;
  fetch_options_.ca_file = provider_.ca_file;
  fetch_options_.max_body_bytes = kMaxAnswerBytes;
  if (auto url = parseFetchUrl(provider_.introspection_endpoint); url.isOk()) {
    endpoint_ = url->redacted();
  }
}

Introspector::~Introspector() {
  stop();
  OPENSSL_cleanse(credentials_.authorization.data(), credentials_.authorization.size());
}

void Introspector::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) {
    return;
  }
  started_ = true;
  threads_.reserve(options_.threads);
  for (size_t i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { run(); });
  }
}

void Introspector::stop() {
  std::vector<Completion> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      for (const Digest& d : queue_) {
        auto it = pending_.find(d);
        if (it == pending_.end()) {
          continue;
        }
        for (Completion& c : it->second.waiters) {
          dropped.push_back(std::move(c));
        }
        pending_.erase(it);
      }
      queue_.clear();
      stats_.shed += dropped.size();
    }
  }
  cv_.notify_all();
  for (Completion& c : dropped) {
    c(failure(AuthError::kIntrospectionUnavailable));
  }
  for (std::thread& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) {
      t.join();
    }
  }
}

void Introspector::introspect(std::string token, Completion done) {
  const bool too_large =
      provider_.max_token_bytes > 0 && token.size() > provider_.max_token_bytes;
  if (token.empty() || too_large) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.calls;
      ++stats_.too_large;
    }
    done(failure(token.empty() ? AuthError::kMalformedToken : AuthError::kTokenTooLarge));
    return;
  }
  const Digest digest = digestOf(token);
  IntrospectionResult known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.calls;
    if (stopping_) {
      ++stats_.shed;
      known = failure(AuthError::kIntrospectionUnavailable);
    } else if (const IntrospectionResult* hit = cacheFind(digest, time_.systemTime())) {
      ++stats_.cache_hits;
      known = *hit;
    } else if (auto it = pending_.find(digest); it != pending_.end()) {
      ++stats_.coalesced;
      it->second.waiters.push_back(std::move(done));
      return;
    } else if (pending_.size() >= kMaxPendingTokens) {
      ++stats_.shed;
      known = failure(AuthError::kIntrospectionUnavailable);
    } else {
      Pending& p = pending_[digest];
      p.token = std::move(token);
      p.waiters.push_back(std::move(done));
      queue_.push_back(digest);
      cv_.notify_one();
      return;
    }
  }
  done(std::move(known));
}

IntrospectionStats Introspector::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  IntrospectionStats s = stats_;
  s.cache_size = cache_.size();
  return s;
}

void Introspector::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      return;  // stopping, and stop() has failed everything still queued
    }
    const Digest digest = queue_.front();
    queue_.pop_front();
    std::string token;
    if (auto it = pending_.find(digest); it != pending_.end()) {
      token = std::move(it->second.token);
    }
    lock.unlock();

    IntrospectionResult result = call(token, digest);
    OPENSSL_cleanse(token.data(), token.size());
    std::vector<Completion> waiters;

    lock.lock();
    cacheInsert(digest, result, time_.systemTime());
    if (auto it = pending_.find(digest); it != pending_.end()) {
      waiters = std::move(it->second.waiters);
      pending_.erase(it);
    }
    lock.unlock();
    for (Completion& c : waiters) {
      c(result);
    }
    waiters.clear();  // destroy captured state before taking the lock again
    lock.lock();
  }
}

StatusOr<std::string> Introspector::clientAssertion(SystemTime now) const {
  return credentials_.assertion->sign(provider_.client_id,
                                      {provider_.introspection_endpoint, provider_.issuer}, now);
}

IntrospectionResult Introspector::call(const std::string& token, const Digest& digest) {
  FormFields form = {{"token", token}, {"token_type_hint", "access_token"}};
  RequestHeaders headers;
  std::optional<StatusOr<HttpResponse>> response;
  if (credentials_.assertion) {
    auto assertion = clientAssertion(time_.systemTime());
    if (assertion.isOk()) {
      form.emplace_back("client_id", provider_.client_id);
      form.emplace_back("client_assertion_type", kJwtBearerAssertion);
      form.emplace_back("client_assertion", std::move(assertion).value());
    } else {
      response.emplace(unavailable("cannot sign the client assertion: " +
                                   assertion.status().message()));
    }
  } else {
    headers.emplace_back("Authorization", credentials_.authorization);
  }
  headers.emplace_back("Accept", "application/json");
  if (!response.has_value()) {
    try {
      response.emplace(
          fetcher_.postForm(provider_.introspection_endpoint, form, headers, fetch_options_));
    } catch (...) {
      response.emplace(unavailable("the introspection request threw"));
    }
  }
  IntrospectionResult result;
  std::string problem;
  if (!response->isOk()) {
    result = failure(AuthError::kIntrospectionUnavailable);
    problem = response->status().toString();
  } else if ((*response)->status != 200) {
    result = failure(AuthError::kIntrospectionUnavailable);
    problem = "HTTP status " + std::to_string((*response)->status);
  } else {
    const char* malformed = nullptr;
    result = evaluate(**response, digest, time_.systemTime(), malformed);
    if (malformed != nullptr) {
      problem = malformed;
    }
  }

  bool log_failure = false;
  bool log_recovery = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.requests;
    if (result.ok()) {
      ++stats_.active;
    } else if (*result.error == AuthError::kIntrospectionInactive) {
      ++stats_.inactive;
    } else if (*result.error == AuthError::kIntrospectionUnavailable) {
      ++stats_.failures;
    } else {
      ++stats_.rejected;
    }
    const bool failed = result.error == AuthError::kIntrospectionUnavailable;
    log_failure = failed && !failing_;
    log_recovery = !failed && failing_;
    failing_ = failed;
  }
  if (log_failure) {
    log::warn(kComponent, "introspection endpoint failed; answering 503 until it recovers",
              {{"provider", provider_.name}, {"endpoint", endpoint_}, {"error", problem}});
  } else if (log_recovery) {
    log::info(kComponent, "introspection endpoint recovered", {{"provider", provider_.name}});
  }
  return result;
}

IntrospectionResult Introspector::evaluate(const HttpResponse& response, const Digest& digest,
                                           SystemTime now, const char*& malformed) const {
  JsonError json_error = JsonError::kNone;
  auto parsed = parseJson(response.body, {}, &json_error);
  if (!parsed.isOk() || !parsed->isObject()) {
    malformed = json_error == JsonError::kDuplicateMember ? "the answer repeats a member"
                                                          : "the answer is not a JSON object";
    return failure(AuthError::kIntrospectionUnavailable);
  }
  const JsonValue& answer = *parsed;
  const JsonValue* active = answer.find("active");
  if (active == nullptr || !active->isBool()) {
    malformed = "the answer's 'active' is missing or not a boolean";
    return failure(AuthError::kIntrospectionUnavailable);
  }
  const SystemTime negative_until =
      now + std::chrono::duration_cast<SystemTime::duration>(provider_.negative_cache_ttl);
  auto refuse = [&](AuthError e) {
    IntrospectionResult r = failure(e);
    r.valid_until = negative_until;
    return r;
  };
  if (!active->asBool()) {
    return refuse(AuthError::kIntrospectionInactive);
  }

  if (const JsonValue* type = answer.find("token_type"); type != nullptr) {
    if (!type->isString()) return refuse(AuthError::kBadClaimType);
    if (equalsIgnoreAsciiCase(type->asString(), "refresh_token")) return refuse(AuthError::kWrongType);
  }
  const JsonValue* iss = answer.find("iss");
  if (iss != nullptr) {
    if (!iss->isString()) return refuse(AuthError::kBadClaimType);
    if (iss->asString() != provider_.issuer) return refuse(AuthError::kWrongIssuer);
  }

  const int64_t now_ms =
      std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  const int64_t leeway_ms = provider_.leeway.count();
  int64_t exp = 0, nbf = 0, iat = 0;
  const NumericDateRead exp_read = readNumericDate(answer, "exp", exp);
  const NumericDateRead nbf_read = readNumericDate(answer, "nbf", nbf);
  const NumericDateRead iat_read = readNumericDate(answer, "iat", iat);
  if (exp_read == NumericDateRead::kBadType || nbf_read == NumericDateRead::kBadType ||
      iat_read == NumericDateRead::kBadType) {
    return refuse(AuthError::kBadClaimType);
  }
  if (exp_read == NumericDateRead::kAbsent && provider_.require_exp) {
    return refuse(AuthError::kMissingExp);
  }
  if (exp_read == NumericDateRead::kOk && now_ms >= exp * 1000 + leeway_ms) {
    return refuse(AuthError::kExpired);
  }
  if (nbf_read == NumericDateRead::kOk && now_ms + leeway_ms < nbf * 1000) {
    return refuse(AuthError::kNotYetValid);
  }
  if (iat_read == NumericDateRead::kOk && iat * 1000 > now_ms + leeway_ms) {
    return refuse(AuthError::kIssuedInFuture);
  }
  if (auto e = checkAudience(answer, provider_.audiences)) return refuse(*e);
  if (auto e = checkRequiredClaims(answer, provider_.required_claims)) return refuse(*e);

  auto principal = std::make_shared<Principal>();
  if (auto e = mapClaims(answer, provider_.claims, *principal)) return refuse(*e);
  principal->provider = provider_.name;
  principal->issuer = iss != nullptr ? iss->asString() : provider_.issuer;
  principal->method = AuthMethod::kIntrospection;
  principal->claims = std::make_shared<const JsonValue>(answer);
  principal->credential_id = credentialId(digest);

  IntrospectionResult r;
  r.valid_until =
      now + std::chrono::duration_cast<SystemTime::duration>(provider_.cache_max_ttl);
  if (exp_read == NumericDateRead::kOk) {
    principal->expires_at = SystemTime(std::chrono::seconds(exp));
    r.valid_until = std::min(r.valid_until, principal->expires_at);
  }
  r.principal = std::move(principal);
  return r;
}

const IntrospectionResult* Introspector::cacheFind(const Digest& d, SystemTime now) {
  auto it = cache_.find(d);
  if (it == cache_.end()) {
    return nullptr;
  }
  if (it->second.result.valid_until <= now) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second.result;
}

void Introspector::cacheInsert(const Digest& d, const IntrospectionResult& r, SystemTime now) {
  if (options_.cache_capacity == 0 || r.error == AuthError::kIntrospectionUnavailable ||
      r.valid_until <= now) {
    return;
  }
  if (auto it = cache_.find(d); it != cache_.end()) {
    it->second.result = r;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  while (cache_.size() >= options_.cache_capacity && !lru_.empty()) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(d);
  cache_.emplace(d, CacheEntry{r, lru_.begin()});
}

}  // namespace stepgate::identity
