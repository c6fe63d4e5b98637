#include "identity/key_store.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/logging.h"
#include "identity/oidc_discovery.h"

namespace stepgate::identity {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kComponent = "identity";
constexpr size_t kMaxFileBytes = 1u << 20;
constexpr size_t kMinSecretBytes = 32;            // RFC 7518 §3.2, for HS256
constexpr milliseconds kFirstBackoff{1000};
constexpr milliseconds kMaxIdleWait{1000};        // the thread re-reads the clock at least this often
constexpr size_t kMaxLoggedKidBytes = 64;

StatusOr<std::string> readSmallFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return notFound("cannot open " + path);
  }
  std::string out;
  char buf[8192];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    out.append(buf, n);
    if (out.size() > kMaxFileBytes) {
      std::fclose(f);
      return invalidArgument(path + " is larger than " + std::to_string(kMaxFileBytes) + " bytes");
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    return unavailable("cannot read " + path);
  }
  return out;
}

std::string joinWarnings(const std::vector<std::string>& warnings) {
  std::string out;
  for (const auto& w : warnings) {
    if (!out.empty()) {
      out += "; ";
    }
    out += w;
  }
  return out;
}

// A kid taken from an untrusted token: bounded and printable before it reaches a log.
std::string printableKid(std::string_view kid) {
  std::string out;
  for (char c : kid.substr(0, kMaxLoggedKidBytes)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

FetchOptions fetchOptions(const config::ProviderConfig& c) {
  FetchOptions o;
  o.timeout = c.fetch_timeout;
  o.ca_file = c.ca_file;
  return o;
}

}  // namespace

KeyStore::KeyStore(std::vector<config::ProviderConfig> providers, TimeSource& time,
                   Fetcher& fetcher, PublishCallback publish)
    : time_(time), fetcher_(fetcher), publish_(std::move(publish)) {
  for (auto& c : providers) {
    if (c.type != config::ProviderType::kJwt && c.type != config::ProviderType::kOidc) {
      continue;
    }
    Provider p;
    if (!c.secret_file.empty()) {
      p.source = Source::kSecretFile;
    } else if (!c.jwks_file.empty()) {
      p.source = Source::kJwksFile;
    } else if (c.type == config::ProviderType::kOidc) {
      p.source = Source::kDiscovery;
    } else if (!c.jwks_uri.empty()) {
      p.source = Source::kJwksUri;
      p.jwks_uri = c.jwks_uri;
    } else {
      log::error(kComponent, "provider has no source of keys (jwks_uri, jwks_file, secret_file)",
                 {{"provider", c.name}});
      continue;
    }
    if (index_.count(c.name) != 0) {
      log::error(kComponent, "duplicate provider name; the second is ignored",
                 {{"provider", c.name}});
      continue;
    }
    index_.emplace(c.name, providers_.size());
    Shared s;
    s.stats.provider = c.name;
    p.config = std::move(c);
    providers_.push_back(std::move(p));
    shared_.push_back(std::move(s));
  }
}

KeyStore::~KeyStore() { stop(); }

void KeyStore::start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || thread_.joinable()) {
      return;
    }
  }
  thread_ = std::thread([this] { run(); });
}

void KeyStore::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

bool KeyStore::requestRefresh(const std::string& provider, std::string_view kid) {
  auto it = index_.find(provider);
  if (it == index_.end()) {
    return false;
  }
  const size_t i = it->second;
  if (!isRemote(providers_[i])) {  // `source` is fixed at construction
    return false;
  }
  const milliseconds interval = providers_[i].config.unknown_kid_min_interval;
  const MonotonicTime now = time_.monotonicTime();
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shared& s = shared_[i];
    if (s.pending || (s.has_last_request && now - s.last_request < interval)) {
      ++s.stats.refetch_suppressed;
      return false;
    }
    s.pending = true;
    s.has_last_request = true;
    s.last_request = now;
    ++s.stats.refetch_requested;
    wake_ = true;
  }
  cv_.notify_one();
  log::info(kComponent, "token names an unknown kid; refetching keys",
            {{"provider", provider}, {"kid", printableKid(kid)}});
  return true;
}

KeySetConstSharedPtr KeyStore::current(const std::string& provider) const {
  auto it = index_.find(provider);
  if (it == index_.end()) {
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mu_);
  return shared_[it->second].published;
}

std::vector<KeyStoreStats> KeyStore::stats() const {
  const MonotonicTime now = time_.monotonicTime();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<KeyStoreStats> out;
  out.reserve(shared_.size());
  for (const Shared& s : shared_) {
    KeyStoreStats st = s.stats;
    if (s.has_good && now > s.published_at) {
      st.age = duration_cast<seconds>(now - s.published_at);
    }
    out.push_back(std::move(st));
  }
  return out;
}

MonotonicTime KeyStore::runDueWork() {
  const MonotonicTime start = time_.monotonicTime();
  std::vector<char> refetch(providers_.size(), 0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < shared_.size(); ++i) {
      refetch[i] = shared_[i].pending ? 1 : 0;
    }
  }
  for (size_t i = 0; i < providers_.size(); ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        return start;
      }
    }
    Provider& p = providers_[i];
    if (!isRemote(p)) {
      if (!p.loaded_once) {
        p.loaded_once = true;
        loadFile(i);
      }
      continue;
    }
    if (refetch[i] != 0 || start >= p.next_fetch) {
      fetchRemote(i, start);
      if (refetch[i] != 0) {
        std::lock_guard<std::mutex> lock(mu_);
        shared_[i].pending = false;
      }
    }
    checkStaleness(i, time_.monotonicTime());
  }

  MonotonicTime next = time_.monotonicTime() + std::chrono::hours(1);
  for (const Provider& p : providers_) {
    if (!isRemote(p)) {
      continue;
    }
    next = std::min(next, p.next_fetch);
    if (p.has_good && !p.failed_closed && p.backoff.count() > 0) {
      next = std::min(next, p.last_good + p.config.max_staleness + milliseconds(1));
    }
  }
  return next;
}

void KeyStore::loadFile(size_t index) {
  Provider& p = providers_[index];
  const std::string& name = p.config.name;
  KeySet set;
  if (p.source == Source::kSecretFile) {
    auto bytes = readSmallFile(p.config.secret_file);
    if (!bytes.isOk() || bytes->size() < kMinSecretBytes) {
      countFetch(index, false);
      log::error(kComponent, "cannot load the provider's shared secret",
                 {{"provider", name},
                  {"path", p.config.secret_file},
                  {"error", bytes.isOk() ? "shorter than 32 bytes" : bytes.status().message()}});
      return;
    }
    Jwk jwk;
    jwk.kty = "oct";
    jwk.secret = std::move(bytes).value();
    set.keys.push_back(std::move(jwk));
  } else {
    auto text = readSmallFile(p.config.jwks_file);
    if (!text.isOk()) {
      countFetch(index, false);
      log::error(kComponent, "cannot read the provider's jwks_file",
                 {{"provider", name}, {"error", text.status().message()}});
      return;
    }
    std::vector<std::string> warnings;
    auto parsed = parseJwks(*text, warnings);
    if (!warnings.empty()) {
      log::warn(kComponent, "skipped unusable keys in jwks_file",
                {{"provider", name},
                 {"skipped", static_cast<int64_t>(warnings.size())},
                 {"reasons", joinWarnings(warnings)}});
    }
    if (!parsed.isOk() || parsed->keys.empty()) {
      countFetch(index, false);
      log::error(kComponent, "jwks_file has no usable keys",
                 {{"provider", name},
                  {"path", p.config.jwks_file},
                  {"error", parsed.isOk() ? "no usable keys" : parsed.status().message()}});
      return;
    }
    set = std::move(parsed).value();
  }
  set.fetched_at = time_.systemTime();
  const size_t count = set.keys.size();
  countFetch(index, true);
  p.has_good = true;
  p.last_good = time_.monotonicTime();
  publish(index, std::make_shared<const KeySet>(std::move(set)), p.last_good);
  log::info(kComponent, "keys loaded",
            {{"provider", name}, {"keys", static_cast<int64_t>(count)}});
}

StatusOr<HttpResponse> KeyStore::fetchJwksDocument(Provider& p) {
  const FetchOptions options = fetchOptions(p.config);
  if (p.source == Source::kDiscovery && p.jwks_uri.empty()) {
    ASSIGN_OR_RETURN(OidcMetadata meta, discover(fetcher_, p.config.issuer, options));
    p.jwks_uri = std::move(meta.jwks_uri);
  }
  ASSIGN_OR_RETURN(HttpResponse res, fetcher_.get(p.jwks_uri, options));
  if (res.status != 200) {
    auto url = parseFetchUrl(p.jwks_uri);
    return unavailable("JWKS at " + (url.isOk() ? url->redacted() : std::string("jwks_uri")) +
                       " answered HTTP " + std::to_string(res.status));
  }
  return res;
}

void KeyStore::fetchRemote(size_t index, MonotonicTime now) {
  Provider& p = providers_[index];
  const std::string& name = p.config.name;
  auto res = fetchJwksDocument(p);
  const MonotonicTime done = std::max(now, time_.monotonicTime());
  if (!res.isOk()) {
    onFetchFailure(index, done, res.status());
    return;
  }
  std::vector<std::string> warnings;
  auto parsed = parseJwks(res->body, warnings);
  if (!warnings.empty()) {
    log::warn(kComponent, "skipped unusable keys in the fetched JWKS",
              {{"provider", name},
               {"skipped", static_cast<int64_t>(warnings.size())},
               {"reasons", joinWarnings(warnings)}});
  }
  if (!parsed.isOk()) {
    onFetchFailure(index, done, parsed.status());
    return;
  }
  if (parsed->keys.empty()) {
    onFetchFailure(index, done, invalidArgument("the JWKS has no usable keys"));
    return;
  }
  KeySet set = std::move(parsed).value();
  set.fetched_at = time_.systemTime();
  const size_t count = set.keys.size();

  const milliseconds lo = p.config.refresh_min;
  const milliseconds hi = std::max(lo, std::min(p.config.refresh_max, p.config.max_staleness));
  const milliseconds wanted =
      res->max_age ? duration_cast<milliseconds>(*res->max_age) : lo;
  const milliseconds refresh = std::clamp(wanted, lo, hi);

  const bool was_stale = p.backoff.count() > 0;
  p.has_good = true;
  p.last_good = done;
  p.backoff = milliseconds(0);
  p.failed_closed = false;
  p.next_fetch = done + refresh;
  countFetch(index, true);
  publish(index, std::make_shared<const KeySet>(std::move(set)), done);
  log::info(kComponent, was_stale ? "keys fetched; provider recovered" : "keys fetched",
            {{"provider", name},
             {"keys", static_cast<int64_t>(count)},
             {"next_refresh_s", static_cast<int64_t>(duration_cast<seconds>(refresh).count())}});
}

void KeyStore::onFetchFailure(size_t index, MonotonicTime now, const Status& status) {
  Provider& p = providers_[index];
  if (p.source == Source::kDiscovery) {
    p.jwks_uri.clear();  // the next attempt discovers again
  }
  const milliseconds cap = std::max(p.config.refresh_min, milliseconds(1));
  p.backoff = p.backoff.count() == 0 ? std::min(kFirstBackoff, cap) : std::min(p.backoff * 2, cap);
  p.next_fetch = now + p.backoff;
  countFetch(index, false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    shared_[index].stats.stale = p.has_good;
  }
  log::warn(kComponent,
            p.has_good ? "key fetch failed; serving the last good keys" : "key fetch failed",
            {{"provider", p.config.name},
             {"error", status.toString()},
             {"retry_in_ms", static_cast<int64_t>(p.backoff.count())}});
}

void KeyStore::checkStaleness(size_t index, MonotonicTime now) {
  Provider& p = providers_[index];
  if (!p.has_good || p.failed_closed || p.backoff.count() == 0) {
    return;
  }
  if (now - p.last_good <= p.config.max_staleness) {
    return;
  }
  p.failed_closed = true;
  auto empty = std::make_shared<KeySet>();
  empty->fetched_at = time_.systemTime();
  {
    std::lock_guard<std::mutex> lock(mu_);
    shared_[index].stats.failed_closed = true;
  }
  publish(index, std::move(empty), now);
  log::error(kComponent,
             "keys are older than max_staleness and the provider is unreachable; "
             "rejecting its tokens until a fetch succeeds",
             {{"provider", p.config.name},
              {"max_staleness_s", static_cast<int64_t>(
                                      duration_cast<seconds>(p.config.max_staleness).count())}});
}

void KeyStore::publish(size_t index, KeySetConstSharedPtr keys, MonotonicTime fetched_at) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shared& s = shared_[index];
    s.published = keys;
    s.stats.has_keys = !keys->keys.empty();
    s.stats.key_count = keys->keys.size();
    if (!keys->keys.empty()) {
      s.has_good = true;
      s.published_at = fetched_at;
      s.stats.stale = false;
      s.stats.failed_closed = false;
    }
  }
  if (publish_) {
    publish_(providers_[index].config.name, std::move(keys));
  }
}

void KeyStore::countFetch(size_t index, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ok) {
    ++shared_[index].stats.fetch_ok;
  } else {
    ++shared_[index].stats.fetch_failed;
  }
}

void KeyStore::run() {
  while (true) {
    const MonotonicTime next = runDueWork();
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      return;
    }
    if (!wake_) {
      const MonotonicTime now = time_.monotonicTime();
      auto wait = next > now ? duration_cast<milliseconds>(next - now) + milliseconds(1)
                             : milliseconds(0);
      wait = std::min(wait, kMaxIdleWait);
      if (wait.count() > 0) {
        cv_.wait_for(lock, wait, [this] { return stopping_ || wake_; });
      }
      if (stopping_) {
        return;
      }
    }
    wake_ = false;
  }
}

}  // namespace stepgate::identity
