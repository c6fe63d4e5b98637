#include "proxy/server.h"

#include <event2/event.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <atomic>
#include <chrono>
#include <mutex>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "common/c_ptr.h"
#include "common/logging.h"
#include "config/loader.h"
#include "identity/http_fetch.h"
#include "identity/introspection.h"
#include "proxy/lookup_client.h"
#include "audit/forwarder.h"
#include "audit/log.h"
#include "proxy/audit_tls.h"
#include "audit/record.h"
#include "common/json_writer.h"
#include <openssl/evp.h>
#include "identity/key_store.h"
#include "orchestrators/profile.h"
#include "policy/compiler.h"
#include "policy/loader.h"
#include "proxy/admin/admin_server.h"
#include "proxy/stats.h"
#include "proxy/worker.h"

namespace stepgate::proxy {

namespace {

// The compiled policy set of `config`'s `policies:` directory; null when not configured.
// Errors are "FILE:LINE:COL: message" with FILE relative to the directory.
StatusOr<policy::CompiledPolicyConstSharedPtr> loadPolicies(const config::Config& config) {
  if (config.policies_dir.empty()) return policy::CompiledPolicyConstSharedPtr();
  auto set = policy::loadPolicyDirectory(config.policies_dir);
  if (!set.isOk()) {
    return invalidArgument("policies " + config.policies_dir + ": " + set.status().message());
  }
  return policy::compile(std::move(set).value());
}

}  // namespace

StatusOr<RuntimeConstSharedPtr> buildRuntime(config::ConfigConstSharedPtr config,
                                             uint64_t generation) {
  auto rt = std::make_shared<Runtime>();
  rt->generation = generation;
  for (const auto& l : config->listeners) {
    if (!l.tls) {
      rt->listener_tls.push_back(nullptr);
    } else {
      auto ctx = tls::ServerContext::create(*l.tls);
      if (!ctx.isOk()) return ctx.status();
      rt->listener_tls.push_back(std::move(ctx).value());
    }
    size_t idx = 0;
    if (!l.upstream.empty()) {
      while (idx < config->upstreams.size() && config->upstreams[idx].name != l.upstream) ++idx;
      if (idx == config->upstreams.size()) {
        return invalidArgument("listener " + l.address_text + ": unknown upstream '" +
                               l.upstream + "'");
      }
    }
    rt->listener_upstream.push_back(idx);
  }
  if (config->upstreams.empty()) return invalidArgument("no upstream configured");
  for (const auto& u : config->upstreams) {
    if (!u.https) {
      rt->upstream_tls.push_back(nullptr);
      continue;
    }
    auto ctx = tls::ClientContext::create(u.tls.value_or(config::UpstreamTlsConfig{}), u.host);
    if (!ctx.isOk()) return ctx.status();
    rt->upstream_tls.push_back(std::move(ctx).value());
  }
  for (const auto& text : config->proxy.trusted_proxies) {
    auto cidr = parseCidr(text);
    if (!cidr.isOk()) return cidr.status();
    rt->trusted_proxies.push_back(*cidr);
  }
  for (const auto& u : config->upstreams) {
    rt->profiles.push_back(orchestrators::makeProfile(u));
    if (!u.aws) {
      rt->aws_signers.push_back(nullptr);
      continue;
    }
    auto creds = orchestrators::loadSigV4Credentials(*u.aws);
    if (!creds.isOk()) return invalidArgument("upstream " + u.name + ": " + creds.status().message());
    rt->aws_signers.push_back(
        std::make_shared<const orchestrators::SigV4Credentials>(std::move(creds).value()));
  }
  auto pol = loadPolicies(*config);
  if (!pol.isOk()) return pol.status();
  rt->policy = std::move(pol).value();
  if (config->issuer) {
    identity::StepgateIssuerOptions io;
    io.issuer_url = config->issuer->url;
    io.key_file = config->issuer->signing_key_file;
    io.previous_key_files = config->issuer->previous_key_files;
    auto issuer = identity::StepgateIssuer::open(io);
    if (!issuer.isOk()) return invalidArgument("issuer: " + issuer.status().message());
    rt->issuer = std::shared_ptr<const identity::StepgateIssuer>(std::move(issuer).value());
    std::vector<std::string> warnings;
    auto keys = identity::parseJwks(rt->issuer->jwksJson(), warnings);
    if (!keys.isOk()) return invalidArgument("issuer: " + keys.status().message());
    rt->issuer_keys = std::make_shared<const identity::KeySet>(std::move(keys).value());
  }
  if (config->sso) {
    // The replay cache and the revocation list belong to the process: a reload keeps them.
    static const auto replay = std::make_shared<identity::SamlReplayCache>();
    static const auto revoked = std::make_shared<identity::SessionRevocationList>();
    const config::ProviderConfig* oidc_provider = nullptr;
    if (config->sso->oidc) {
      for (const auto& p : config->identity.providers) {
        if (p.name == config->sso->oidc->provider) oidc_provider = &p;
      }
    }
    auto sso = buildSsoRuntime(*config->sso, oidc_provider, rt->issuer, replay, revoked);
    if (!sso.isOk()) return sso.status();
    rt->sso = std::move(sso).value();
  }
  rt->config = std::move(config);
  return RuntimeConstSharedPtr(std::move(rt));
}

namespace {

// Providers whose keys the KeyStore manages (all but introspection and mtls).
bool needsKeys(const config::ProviderConfig& p) {
  if (p.local_issuer) return false;  // the issuer's own keys (Runtime::issuer_keys)
  return p.type == config::ProviderType::kJwt || p.type == config::ProviderType::kOidc;
}

// What decides where a provider's keys come from; a reload that keeps it keeps the KeyStore
// (and its keys), so requests do not wait for a refetch after every SIGHUP.
std::string keySourceSignature(const config::Config& cfg) {
  std::string sig;
  for (const auto& p : cfg.identity.providers) {
    if (!needsKeys(p)) continue;
    sig += p.name + '\n' + p.issuer + '\n' + p.jwks_uri + '\n' + p.jwks_file + '\n' +
           p.secret_file + '\n' + p.ca_file + '\n' + std::to_string(static_cast<int>(p.type)) +
           '\n' + std::to_string(p.refresh_min.count()) + '\n' +
           std::to_string(p.refresh_max.count()) + '\n' +
           std::to_string(p.unknown_kid_min_interval.count()) + '\n' +
           std::to_string(p.max_staleness.count()) + '\n' + std::to_string(p.fetch_timeout.count()) +
           "\n\n";
  }
  return sig;
}

// The clock and fetcher every KeyStore uses; stateless, so one for the process.
RealTimeSource& realTime() {
  static RealTimeSource t;
  return t;
}
identity::HttpFetcher& httpFetcher() {
  static identity::HttpFetcher f;
  return f;
}

// What a resolver depends on: kept across a reload (with its cache) while this is unchanged.
std::string resolverSignature(const config::UpstreamConfig& u) {
  std::string sig = u.profile + '\n' + u.url + '\n' + u.lookup.authorization_file + '\n' +
                    std::to_string(u.lookup.timeout.count()) + '\n' +
                    std::to_string(u.lookup.cache_ttl.count()) + '\n' +
                    std::to_string(u.lookup.negative_ttl.count()) + '\n' +
                    std::to_string(u.lookup.cache_entries) + '\n' +
                    std::to_string(u.lookup.threads) + '\n' +
                    std::to_string(u.lookup.max_pending) + '\n';
  for (const auto& a : u.addresses) sig += a.ipString() + ' ';
  if (u.tls) sig += '\n' + u.tls->ca_file + '\n' + u.tls->server_name + (u.tls->verify ? "1" : "0");
  return sig;
}

// Gives `next` a resolver per upstream whose profile makes lookups: the previous runtime's
// when its settings are unchanged, else a new one (not started). `retired` gets the old ones
// that are no longer used; `fresh` the new ones.
Status attachResolvers(Runtime& next, const Runtime* previous,
                       std::vector<orchestrators::ResolverSharedPtr>& retired,
                       std::vector<orchestrators::ResolverSharedPtr>& fresh) {
  next.resolvers.clear();
  for (size_t i = 0; i < next.config->upstreams.size(); ++i) {
    const config::UpstreamConfig& u = next.config->upstreams[i];
    if (u.profile == "generic") {
      next.resolvers.push_back(nullptr);
      continue;
    }
    orchestrators::ResolverSharedPtr keep;
    if (previous != nullptr) {
      for (size_t j = 0; j < previous->config->upstreams.size(); ++j) {
        const config::UpstreamConfig& old = previous->config->upstreams[j];
        if (old.name == u.name && previous->resolvers[j] &&
            resolverSignature(old) == resolverSignature(u)) {
          keep = previous->resolvers[j];
        }
      }
    }
    if (!keep) {
      auto client = LookupClient::create(u);
      if (!client.isOk()) return invalidArgument("upstream " + u.name + ": " +
                                                 client.status().message());
      keep = std::make_shared<orchestrators::Resolver>(next.profiles[i], *client, u.lookup,
                                                       realTime());
      fresh.push_back(keep);
    }
    next.resolvers.push_back(std::move(keep));
  }
  if (previous != nullptr) {
    for (const auto& r : previous->resolvers) {
      if (r && std::find(next.resolvers.begin(), next.resolvers.end(), r) == next.resolvers.end()) {
        retired.push_back(r);
      }
    }
  }
  return okStatus();
}

// A KeyStore for `cfg`'s providers that posts new keys to every worker; null if no provider
// needs keys. Not started.
std::shared_ptr<identity::KeyStore> makeKeyStore(const config::Config& cfg,
                                                 std::vector<WorkerPtr>* workers) {
  std::vector<config::ProviderConfig> providers;
  for (const auto& p : cfg.identity.providers) {
    if (needsKeys(p)) providers.push_back(p);
  }
  if (providers.empty()) return nullptr;
  return std::make_shared<identity::KeyStore>(
      std::move(providers), realTime(), httpFetcher(),
      [workers](const std::string& provider, identity::KeySetConstSharedPtr keys) {
        for (auto& w : *workers) w->updateKeys(provider, keys);
      });
}

// The introspection provider's settings, to keep the Introspector (and its cache) across a
// reload that does not change them.
std::string introspectionSignature(const config::Config& cfg) {
  for (const auto& p : cfg.identity.providers) {
    if (p.type != config::ProviderType::kIntrospection) continue;
    std::string sig = p.name + '\n' + p.issuer + '\n' + p.introspection_endpoint + '\n' +
                      p.client_id + '\n' + p.client_secret_file + '\n' +
                      std::to_string(static_cast<int>(p.client_auth)) + '\n' +
                      p.client_key_file + '\n' + p.client_key_alg + '\n' + p.ca_file + '\n' +
                      std::to_string(p.cache_max_ttl.count()) + '\n' +
                      std::to_string(p.negative_cache_ttl.count()) + '\n' +
                      std::to_string(p.fetch_timeout.count()) + '\n';
    for (const auto& a : p.audiences) sig += a + ',';
    for (const auto& c : p.required_claims) sig += c.name + ',';
    return sig;
  }
  return {};
}

// An Introspector for `cfg`'s introspection provider (not started); null if there is none.
StatusOr<std::shared_ptr<identity::Introspector>> makeIntrospector(const config::Config& cfg) {
  for (const auto& p : cfg.identity.providers) {
    if (p.type != config::ProviderType::kIntrospection) continue;
    auto made = identity::Introspector::create(p, httpFetcher(), realTime());
    if (!made.isOk()) return made.status();
    return std::shared_ptr<identity::Introspector>(std::move(made).value());
  }
  return std::shared_ptr<identity::Introspector>();
}

// The settings of OIDC sign-in, to keep the OidcLoginService (and its discovered endpoints)
// across a reload that does not change them.
std::string oidcLoginSignature(const config::Config& cfg) {
  if (!cfg.sso || !cfg.sso->oidc) return {};
  const config::SsoOidcConfig& o = *cfg.sso->oidc;
  std::string sig = o.provider + '\n' + o.client_id + '\n' +
                    std::to_string(static_cast<int>(o.client_auth)) + '\n' +
                    o.client_secret_file + '\n' + o.client_key_file + '\n' + o.client_key_alg +
                    '\n' + o.redirect_uri + '\n' + o.ca_file + '\n' +
                    std::to_string(o.fetch_timeout.count()) + '\n';
  for (const auto& v : o.scopes) sig += v + ',';
  sig += '\n';
  for (const auto& v : o.extra_params) sig += v + ',';
  for (const auto& p : cfg.identity.providers) {
    if (p.name == o.provider) sig += '\n' + p.issuer;
  }
  return sig;
}

// The OidcLoginService for `cfg`'s sso.oidc (not started); null without it.
StatusOr<std::shared_ptr<identity::OidcLoginService>> makeOidcLogin(const config::Config& cfg) {
  if (!cfg.sso || !cfg.sso->oidc) return std::shared_ptr<identity::OidcLoginService>();
  const config::SsoOidcConfig& o = *cfg.sso->oidc;
  identity::OidcLoginConfig lc;
  lc.client_id = o.client_id;
  switch (o.client_auth) {
    case config::LoginClientAuth::kClientSecretBasic:
      lc.client_auth = identity::OidcClientAuth::kClientSecretBasic;
      break;
    case config::LoginClientAuth::kClientSecretPost:
      lc.client_auth = identity::OidcClientAuth::kClientSecretPost;
      break;
    case config::LoginClientAuth::kPrivateKeyJwt:
      lc.client_auth = identity::OidcClientAuth::kPrivateKeyJwt;
      break;
  }
  lc.client_secret_file = o.client_secret_file;
  lc.client_key_file = o.client_key_file;
  lc.client_key_alg = o.client_key_alg;
  lc.redirect_uri = o.redirect_uri;
  lc.scopes = o.scopes;
  lc.extra_authorize_params = o.extra_params;
  lc.fetch_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.fetch_timeout);
  lc.ca_file = o.ca_file;
  std::string issuer;
  for (const auto& p : cfg.identity.providers) {
    if (p.name == o.provider) {
      issuer = p.issuer;
      if (lc.ca_file.empty()) lc.ca_file = p.ca_file;
    }
  }
  auto made = identity::OidcLoginService::create(issuer, lc, httpFetcher(), realTime());
  if (!made.isOk()) return invalidArgument("sso.oidc: " + made.status().message());
  return std::shared_ptr<identity::OidcLoginService>(std::move(made).value());
}

bool sameListeners(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].address_text != b.listeners[i].address_text ||
        a.listeners[i].tls.has_value() != b.listeners[i].tls.has_value()) {
      return false;
    }
  }
  return true;
}

void applyLogLevel(const config::Config& cfg) {
  log::Level level;
  if (log::parseLevel(cfg.log.level, level)) log::setLevel(level);
}

// State of the control loop, reached from libevent callbacks.
struct Control {
  event_base* base = nullptr;
  std::string config_path;
  RuntimeConstSharedPtr runtime;  // written on the control thread only
  // The key store the admin thread reports on; swapped on reload under metrics_mu.
  std::mutex metrics_mu;
  std::shared_ptr<identity::KeyStore> metrics_key_store;
  std::shared_ptr<identity::Introspector> metrics_introspector;
  RuntimeConstSharedPtr metrics_runtime;  // for the resolvers' metrics
  std::vector<WorkerPtr>* workers = nullptr;
  // The audit log (null without `audit:`): opened at start, kept across reloads (its
  // settings need a restart), stopped after the workers.
  std::unique_ptr<audit::AuditLog> audit;
  audit::CredentialHasher audit_hasher;
  std::unique_ptr<audit::Forwarder> forwarder;  // null without sinks
  std::mutex cursor_mu;                          // sink threads report cursors
  std::map<std::string, size_t> cursor_index;    // sink name -> AuditLog cursor index
  std::atomic<bool> ready{false};
  std::atomic<int> finished{0};
  bool draining = false;
  std::chrono::steady_clock::time_point drain_deadline;
  CPtr<event, event_free> drain_timer;
  uint64_t generation = 1;
  // Policy: the running set's version for /readyz and metrics (admin thread reads them).
  std::atomic<bool> has_policy{false};
  std::atomic<uint64_t> policy_version{0};
  std::atomic<uint64_t> policy_reload_failures{0};
  // The directory watch (control thread only): inotify on the directory itself, so renames
  // over a file and ConfigMap "..data" symlink swaps are seen; changes are debounced.
  int inotify_fd = -1;
  std::string watched_dir;
  CPtr<event, event_free> inotify_event;
  CPtr<event, event_free> debounce_timer;
};

// Hex SHA-256 of a file's bytes; "" when unreadable.
std::string fileSha256(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
  std::fclose(f);
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string auditTime() {
  std::string t;
  audit::appendRfc3339Micros(
      t, std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count());
  return t;
}

// A `config` record: the loaded file's digest, or the error of a failed reload.
void auditConfig(Control& c, std::string_view error) {
  if (!c.audit) return;
  std::string f = "\"type\":\"config\",\"time\":\"" + auditTime() + "\",\"generation\":";
  json::appendUint(f, c.generation);
  f += ",\"source\":";
  json::appendString(f, c.config_path);
  if (error.empty()) {
    f += ",\"digest\":";
    json::appendString(f, "sha256:" + fileSha256(c.config_path));
  } else {
    f += ",\"error\":";
    json::appendString(f, error.substr(0, 1024));
  }
  c.audit->submitControl(std::move(f));
}

// A `policy` record: the running set's version, or the error of a failed reload.
void auditPolicy(Control& c, std::string_view error) {
  if (!c.audit || c.runtime->config->policies_dir.empty()) return;
  std::string f = "\"type\":\"policy\",\"time\":\"" + auditTime() + "\",\"source\":";
  json::appendString(f, c.runtime->config->policies_dir);
  if (error.empty() && c.runtime->policy) {
    f += ",\"version\":";
    json::appendString(f, policy::versionString(c.runtime->policy->version()));
    f += ",\"rules\":";
    json::appendUint(f, c.runtime->policy->ruleCount());
  } else {
    f += ",\"error\":";
    json::appendString(f, error.substr(0, 1024));
  }
  c.audit->submitControl(std::move(f));
}

void renderForwarderMetrics(const Control& c, std::string& out) {
  if (!c.forwarder) return;
  const auto stats = c.forwarder->stats();
  struct Row {
    const char* name;
    const char* type;
    const char* help;
    uint64_t audit::SinkStats::*field;
  };
  static constexpr Row kRows[] = {
      {"stepgate_audit_sink_lag", "gauge",
       "Durable audit records a sink has not acknowledged yet.", &audit::SinkStats::lag},
      {"stepgate_audit_sink_cursor", "gauge", "The next seq a sink will send.",
       &audit::SinkStats::cursor},
      {"stepgate_audit_sink_records_total", "counter", "Records a sink acknowledged.",
       &audit::SinkStats::records},
      {"stepgate_audit_sink_failures_total", "counter",
       "Failed deliveries (connect, send, answer); retried with backoff.",
       &audit::SinkStats::failures},
  };
  for (const Row& r : kRows) {
    out += std::string("# HELP ") + r.name + " " + r.help + "\n# TYPE " + r.name + " " + r.type +
           "\n";
    for (const auto& st : stats) {
      out += std::string(r.name) + "{sink=\"" + st.name + "\"} " + std::to_string(st.*r.field) +
             "\n";
    }
  }
  out += "# HELP stepgate_audit_sink_stalled 1 when a sink stopped at a record it cannot read.\n"
         "# TYPE stepgate_audit_sink_stalled gauge\n";
  for (const auto& st : stats) {
    out += "stepgate_audit_sink_stalled{sink=\"" + st.name + "\"} " + (st.stalled ? "1" : "0") +
           "\n";
  }
}

void renderAuditMetrics(const Control& c, std::string& out) {
  renderForwarderMetrics(c, out);
  if (!c.audit) return;
  const audit::LogStats st = c.audit->stats();
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  line("stepgate_audit_records_total", "counter", "Audit records written.", st.records);
  line("stepgate_audit_batches_total", "counter", "Group commits (one fdatasync each).",
       st.batches);
  line("stepgate_audit_bytes_total", "counter", "Audit bytes written.", st.bytes);
  line("stepgate_audit_lost_total", "counter",
       "Records lost to a full queue (async mode; each loss is also a gap record).", st.lost);
  line("stepgate_audit_log_refused_total", "counter",
       "Records the log refused (strict: full queue, low disk or failed log).", st.refused);
  line("stepgate_audit_checkpoints_total", "counter", "Signed checkpoints written.",
       st.checkpoints);
  line("stepgate_audit_next_seq", "gauge", "The seq of the next audit record.", st.next_seq);
  line("stepgate_audit_segments", "gauge", "Live audit segment files.", st.segments);
  line("stepgate_audit_sync_seconds_last_us", "gauge",
       "Duration of the last fdatasync, in microseconds.", st.sync_us_last);
  line("stepgate_audit_failed", "gauge",
       "1 when the audit log failed closed (write or fsync error): every request is 503.",
       st.failed ? 1 : 0);
  line("stepgate_audit_low_disk", "gauge",
       "1 while free disk space is under audit.low_disk_bytes: strict requests are 503.",
       st.low_disk ? 1 : 0);
}

void publishPolicyVersion(Control& c) {
  c.has_policy.store(c.runtime->policy != nullptr);
  c.policy_version.store(c.runtime->policy ? c.runtime->policy->version() : 0);
}

void renderPolicyMetrics(const Control& c, std::string& out) {
  out += "# HELP stepgate_policy_reload_failures_total Policy reloads that failed (the running "
         "set was kept).\n# TYPE stepgate_policy_reload_failures_total counter\n"
         "stepgate_policy_reload_failures_total " +
         std::to_string(c.policy_reload_failures.load()) + "\n";
  out += "# HELP stepgate_policy_version_info The running policy set's version.\n"
         "# TYPE stepgate_policy_version_info gauge\n";
  if (c.has_policy.load()) {
    out += "stepgate_policy_version_info{version=\"" +
           policy::versionString(c.policy_version.load()) + "\"} 1\n";
  }
}

// Loads and compiles the policy directory again; on success publishes a Runtime that differs
// only in its policy set. On any error the running set stays and the failure is counted.
void reloadPolicy(Control& c) {
  if (c.runtime->config->policies_dir.empty()) return;
  auto pol = loadPolicies(*c.runtime->config);
  if (!pol.isOk()) {
    c.policy_reload_failures.fetch_add(1);
    log::error("policy", "policy reload failed; keeping the running set",
               {{"error", pol.status().message()}});
    auditPolicy(c, pol.status().message());
    return;
  }
  if (c.runtime->policy && (*pol)->version() == c.runtime->policy->version()) return;
  auto next = std::make_shared<Runtime>(*c.runtime);
  next->policy = std::move(pol).value();
  std::vector<orchestrators::ResolverSharedPtr> retired_resolvers, fresh_resolvers;
  if (Status st = attachResolvers(*next, c.runtime.get(), retired_resolvers, fresh_resolvers);
      !st.isOk()) {
    log::error("server", "reload failed; keeping the running configuration",
               {{"error", st.message()}});
    return;
  }
  for (const auto& r : fresh_resolvers) r->start();
  c.runtime = std::move(next);
  publishPolicyVersion(c);
  for (auto& w : *c.workers) w->updatePolicy(c.runtime);
  auditPolicy(c, {});
  log::info("policy", "policy set reloaded",
            {{"version", policy::versionString(c.runtime->policy->version())},
             {"rules", static_cast<int64_t>(c.runtime->policy->ruleCount())}});
}

void onPolicyDebounce(int, short, void* arg) { reloadPolicy(*static_cast<Control*>(arg)); }

void onInotify(int fd, short, void* arg) {
  auto& c = *static_cast<Control*>(arg);
  alignas(inotify_event) char buf[4096];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  timeval tv{0, 200000};
  evtimer_add(c.debounce_timer.get(), &tv);  // re-adding restarts the debounce
}

// (Re)starts or stops the directory watch to match the running config.
void updatePolicyWatch(Control& c) {
  const config::Config& cfg = *c.runtime->config;
  const std::string want = cfg.policy.watch ? cfg.policies_dir : std::string();
  if (want == c.watched_dir) return;
  c.inotify_event.reset();
  if (c.inotify_fd >= 0) close(c.inotify_fd);
  c.inotify_fd = -1;
  c.watched_dir.clear();
  if (want.empty()) return;
  c.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (c.inotify_fd < 0 ||
      inotify_add_watch(c.inotify_fd, want.c_str(),
                        IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                            IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    log::error("policy", "cannot watch the policy directory; reload with SIGHUP",
               {{"dir", want}, {"error", std::string(strerror(errno))}});
    if (c.inotify_fd >= 0) close(c.inotify_fd);
    c.inotify_fd = -1;
    return;
  }
  c.watched_dir = want;
  if (!c.debounce_timer) c.debounce_timer.reset(evtimer_new(c.base, &onPolicyDebounce, &c));
  c.inotify_event.reset(event_new(c.base, c.inotify_fd, EV_READ | EV_PERSIST, &onInotify, &c));
  event_add(c.inotify_event.get(), nullptr);
}

void renderIntrospectionMetrics(const identity::Introspector* in, std::string& out) {
  const identity::IntrospectionStats st = in ? in->stats() : identity::IntrospectionStats{};
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
           name + " " + std::to_string(v) + "\n";
  };
  counter("stepgate_introspection_requests_total", "Introspection calls sent to the endpoint.",
          st.requests);
  counter("stepgate_introspection_coalesced_total",
          "Introspections that joined a call already under way for the same token.",
          st.coalesced);
  counter("stepgate_introspection_cache_hits_total",
          "Introspections answered from the shared introspection cache.", st.cache_hits);
  counter("stepgate_introspection_failures_total",
          "Endpoint failures (transport, status, body): answered 503.", st.failures);
}

// The OIDC sign-in service's calls to the provider (metrics_runtime's, under metrics_mu).
void renderOidcLoginMetrics(Control& c, std::string& out) {
  RuntimeConstSharedPtr rt;
  {
    std::lock_guard<std::mutex> lock(c.metrics_mu);
    rt = c.metrics_runtime;
  }
  if (!rt || !rt->oidc_login) return;
  const identity::OidcLoginServiceStats st = rt->oidc_login->stats();
  out +=
      "# HELP stepgate_sso_oidc_discovered 1 once the sign-in provider's discovery document has "
      "been read, else 0 (sign-in answers 503).\n# TYPE stepgate_sso_oidc_discovered gauge\n"
      "stepgate_sso_oidc_discovered " + std::string(st.discovered ? "1" : "0") + "\n";
  out += "# HELP stepgate_sso_oidc_provider_calls_total Calls stepgate made to the sign-in "
         "provider, by call and result.\n# TYPE stepgate_sso_oidc_provider_calls_total counter\n";
  auto row = [&](const char* call, const char* result, uint64_t v) {
    out += std::string("stepgate_sso_oidc_provider_calls_total{call=\"") + call +
           "\",result=\"" + result + "\"} " + std::to_string(v) + "\n";
  };
  row("token", "ok", st.exchanges + st.refreshes);
  row("token", "failed", st.failures);
  row("token", "shed", st.shed);
  row("revoke", "ok", st.revocations);
  row("revoke", "failed", st.revocation_failures);
  row("discovery", "failed", st.discovery_failures);
}

void renderResolverMetrics(Control& c, std::string& out) {
  RuntimeConstSharedPtr rt;
  {
    std::lock_guard<std::mutex> lock(c.metrics_mu);
    rt = c.metrics_runtime;
  }
  if (!rt) return;
  struct Row {
    const char* name;
    const char* help;
    uint64_t orchestrators::ResolverStats::*field;
  };
  static constexpr Row kRows[] = {
      {"stepgate_lookups_total", "Lookups asked of the resolver.",
       &orchestrators::ResolverStats::resolves},
      {"stepgate_lookup_cache_hits_total", "Lookups answered from the resolver's shared cache.",
       &orchestrators::ResolverStats::cache_hits},
      {"stepgate_lookup_coalesced_total", "Lookups that joined a call already under way.",
       &orchestrators::ResolverStats::coalesced},
      {"stepgate_lookup_requests_total", "Calls made to the orchestrator's read API.",
       &orchestrators::ResolverStats::requests},
      {"stepgate_lookup_found_total", "Lookup answers that resolved the id.",
       &orchestrators::ResolverStats::found},
      {"stepgate_lookup_not_found_total", "Lookup answers saying the id does not exist.",
       &orchestrators::ResolverStats::not_found},
      {"stepgate_lookup_failures_total",
       "Lookups that failed (transport, status, answer): denied unresolved.",
       &orchestrators::ResolverStats::failures},
      {"stepgate_lookup_shed_total", "Lookups refused at once: too many ids waiting.",
       &orchestrators::ResolverStats::shed},
      {"stepgate_lookup_learned_total", "Cache entries learnt from relayed responses.",
       &orchestrators::ResolverStats::learned},
  };
  std::vector<std::pair<std::string, orchestrators::ResolverStats>> all;
  for (size_t i = 0; i < rt->resolvers.size(); ++i) {
    if (rt->resolvers[i]) all.emplace_back(rt->config->upstreams[i].name, rt->resolvers[i]->stats());
  }
  for (const Row& r : kRows) {
    out += std::string("# HELP ") + r.name + " " + r.help + "\n# TYPE " + r.name + " counter\n";
    for (const auto& [name, st] : all) {
      out += std::string(r.name) + "{upstream=\"" + name + "\"} " + std::to_string(st.*r.field) +
             "\n";
    }
  }
  out += "# HELP stepgate_lookup_cache_entries Answers in the resolver's shared cache.\n"
         "# TYPE stepgate_lookup_cache_entries gauge\n";
  for (const auto& [name, st] : all) {
    out += "stepgate_lookup_cache_entries{upstream=\"" + name + "\"} " +
           std::to_string(st.cache_size) + "\n";
  }
}

void renderKeyStoreMetrics(Control& c, std::string& out) {
  std::shared_ptr<identity::KeyStore> ks;
  std::shared_ptr<identity::Introspector> introspector;
  {
    std::lock_guard<std::mutex> lock(c.metrics_mu);
    ks = c.metrics_key_store;
    introspector = c.metrics_introspector;
  }
  renderIntrospectionMetrics(introspector.get(), out);
  out += "# HELP stepgate_identity_keys Verification keys currently published, by provider.\n"
         "# TYPE stepgate_identity_keys gauge\n";
  if (!ks) return;
  const auto stats = ks->stats();
  for (const auto& st : stats) {
    out += "stepgate_identity_keys{provider=\"" + st.provider + "\"} " +
           std::to_string(st.key_count) + "\n";
  }
  auto series = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& st : stats) {
      out += std::string(name) + "{provider=\"" + st.provider + "\"} " +
             std::to_string(value(st)) + "\n";
    }
  };
  series("stepgate_identity_key_age_seconds", "gauge", "Age of the published keys.",
         [](const identity::KeyStoreStats& st) { return static_cast<uint64_t>(st.age.count()); });
  series("stepgate_identity_keys_stale", "gauge",
         "1 while the last key fetch failed and the last good keys are served.",
         [](const identity::KeyStoreStats& st) { return static_cast<uint64_t>(st.stale); });
  series("stepgate_identity_keys_failed_closed", "gauge",
         "1 once keys are older than max_staleness: tokens of the provider get 503.",
         [](const identity::KeyStoreStats& st) { return static_cast<uint64_t>(st.failed_closed); });
  series("stepgate_identity_key_fetches_total", "counter", "Successful key loads.",
         [](const identity::KeyStoreStats& st) { return st.fetch_ok; });
  series("stepgate_identity_key_fetch_failures_total", "counter", "Failed key loads.",
         [](const identity::KeyStoreStats& st) { return st.fetch_failed; });
  series("stepgate_identity_key_refetches_total", "counter",
         "Refetches triggered by tokens naming an unknown kid.",
         [](const identity::KeyStoreStats& st) { return st.refetch_requested; });
  series("stepgate_identity_key_refetches_suppressed_total", "counter",
         "Unknown-kid refetch requests coalesced or rate-limited.",
         [](const identity::KeyStoreStats& st) { return st.refetch_suppressed; });
}

void reload(Control& c) {
  log::info("server", "reloading configuration", {{"path", c.config_path}});
  auto loaded = config::load(c.config_path);
  if (!loaded.isOk()) {
    log::error("server", "reload failed; keeping the running configuration",
               {{"error", loaded.status().message()}});
    auditConfig(c, loaded.status().message());
    return;
  }
  if (c.audit && !(*loaded)->audit) {
    log::warn("server", "reload: the audit section was removed; the audit log stays on until "
                        "a restart");
  }
  if (!sameListeners(*c.runtime->config, **loaded)) {
    log::error("server",
               "reload failed: listeners changed (addresses and TLS on/off need a restart); "
               "keeping the running configuration");
    return;
  }
  auto rt = buildRuntime(*loaded, ++c.generation);
  if (!rt.isOk()) {
    if (!loadPolicies(**loaded).isOk()) c.policy_reload_failures.fetch_add(1);
    log::error("server", "reload failed; keeping the running configuration",
               {{"error", rt.status().message()}});
    return;
  }
  auto next = std::make_shared<Runtime>(**rt);
  std::shared_ptr<identity::KeyStore> retired;
  bool fresh_store = false;
  if (keySourceSignature(*c.runtime->config) == keySourceSignature(*next->config)) {
    next->key_store = c.runtime->key_store;
  } else {
    next->key_store = makeKeyStore(*next->config, c.workers);
    retired = c.runtime->key_store;
    fresh_store = next->key_store != nullptr;
    log::info("server", "identity key sources changed: keys are fetched again");
  }
  std::shared_ptr<identity::Introspector> retired_introspector;
  bool fresh_introspector = false;
  if (introspectionSignature(*c.runtime->config) == introspectionSignature(*next->config)) {
    next->introspector = c.runtime->introspector;
  } else {
    auto made = makeIntrospector(*next->config);
    if (!made.isOk()) {
      log::error("server", "reload failed; keeping the running configuration",
                 {{"error", made.status().message()}});
      return;
    }
    next->introspector = *made;
    retired_introspector = c.runtime->introspector;
    fresh_introspector = next->introspector != nullptr;
  }
  std::shared_ptr<identity::OidcLoginService> retired_oidc;
  bool fresh_oidc = false;
  if (oidcLoginSignature(*c.runtime->config) == oidcLoginSignature(*next->config)) {
    next->oidc_login = c.runtime->oidc_login;
  } else {
    auto made = makeOidcLogin(*next->config);
    if (!made.isOk()) {
      log::error("server", "reload failed; keeping the running configuration",
                 {{"error", made.status().message()}});
      return;
    }
    next->oidc_login = *made;
    retired_oidc = c.runtime->oidc_login;
    fresh_oidc = next->oidc_login != nullptr;
  }
  std::vector<orchestrators::ResolverSharedPtr> retired_resolvers, fresh_resolvers;
  if (Status st = attachResolvers(*next, c.runtime.get(), retired_resolvers, fresh_resolvers);
      !st.isOk()) {
    log::error("server", "reload failed; keeping the running configuration",
               {{"error", st.message()}});
    return;
  }
  for (const auto& r : fresh_resolvers) r->start();
  c.runtime = std::move(next);
  publishPolicyVersion(c);
  updatePolicyWatch(c);
  {
    std::lock_guard<std::mutex> lock(c.metrics_mu);
    c.metrics_key_store = c.runtime->key_store;
    c.metrics_introspector = c.runtime->introspector;
    c.metrics_runtime = c.runtime;
  }
  applyLogLevel(*c.runtime->config);
  // The old store stops before the workers switch, so none of its keys arrive afterwards.
  if (retired) retired->stop();
  for (auto& w : *c.workers) w->updateRuntime(c.runtime);
  if (fresh_store) c.runtime->key_store->start();
  if (fresh_introspector) c.runtime->introspector->start();
  // Waiting requests of the old one get "unavailable" at once, then it is joined.
  if (retired_introspector) retired_introspector->stop();
  if (fresh_oidc) c.runtime->oidc_login->start();
  if (retired_oidc) retired_oidc->stop();
  for (const auto& r : retired_resolvers) r->stop();
  auditConfig(c, {});
  auditPolicy(c, {});
  log::info("server", "configuration reloaded",
            {{"generation", static_cast<int64_t>(c.generation)}});
}

void onDrainTick(int, short, void* arg) {
  auto& c = *static_cast<Control*>(arg);
  if (c.finished.load() == static_cast<int>(c.workers->size())) {
    event_base_loopbreak(c.base);
    return;
  }
  if (std::chrono::steady_clock::now() >= c.drain_deadline) {
    log::warn("server", "drain deadline passed; closing remaining connections");
    for (auto& w : *c.workers) w->forceStop();
    event_base_loopbreak(c.base);
    return;
  }
  timeval tv{0, 20000};
  evtimer_add(c.drain_timer.get(), &tv);
}

void onSignal(int sig, short, void* arg) {
  auto& c = *static_cast<Control*>(arg);
  if (sig == SIGHUP) {
    reload(c);
    return;
  }
  if (c.draining) return;
  c.draining = true;
  c.ready.store(false);
  log::info("server", "shutting down: draining connections",
            {{"signal", sig}, {"drain_timeout_ms", static_cast<int64_t>(
                                  c.runtime->config->proxy.drain_timeout.count())}});
  c.drain_deadline = std::chrono::steady_clock::now() + c.runtime->config->proxy.drain_timeout;
  for (auto& w : *c.workers) w->beginDrain();
  c.drain_timer.reset(evtimer_new(c.base, &onDrainTick, &c));
  timeval tv{0, 0};
  evtimer_add(c.drain_timer.get(), &tv);
}

void onRotateTickets(int, short, void* arg) {
  auto& c = *static_cast<Control*>(arg);
  for (const auto& ctx : c.runtime->listener_tls) {
    if (ctx) ctx->rotateTicketKeys();
  }
}

}  // namespace

int Server::run() {
  auto loaded = config::load(options_.config_path);
  if (!loaded.isOk()) {
    fprintf(stderr, "%s\n", loaded.status().message().c_str());
    return 2;
  }
  auto rt = buildRuntime(*loaded, 1);
  if (!rt.isOk()) {
    fprintf(stderr, "%s: %s\n", options_.config_path.c_str(), rt.status().message().c_str());
    return 2;
  }
  Control control;
  control.config_path = options_.config_path;
  std::vector<WorkerPtr> workers;
  {
    auto with_keys = std::make_shared<Runtime>(**rt);
    with_keys->key_store = makeKeyStore(*with_keys->config, &workers);
    auto introspector = makeIntrospector(*with_keys->config);
    if (!introspector.isOk()) {
      fprintf(stderr, "%s: %s\n", options_.config_path.c_str(),
              introspector.status().message().c_str());
      return 2;
    }
    with_keys->introspector = *introspector;
    auto oidc_login = makeOidcLogin(*with_keys->config);
    if (!oidc_login.isOk()) {
      fprintf(stderr, "%s: %s\n", options_.config_path.c_str(),
              oidc_login.status().message().c_str());
      return 2;
    }
    with_keys->oidc_login = *oidc_login;
    std::vector<orchestrators::ResolverSharedPtr> unused, fresh;
    if (Status st = attachResolvers(*with_keys, nullptr, unused, fresh); !st.isOk()) {
      fprintf(stderr, "%s: %s\n", options_.config_path.c_str(), st.message().c_str());
      return 2;
    }
    control.runtime = std::move(with_keys);
  }
  const config::Config& cfg = *control.runtime->config;
  applyLogLevel(cfg);
  if (cfg.audit) {
    const config::AuditConfig& a = *cfg.audit;
    auto key = audit::SigningKey::load(a.signing_key_file, a.key_name);
    if (!key.isOk()) {
      fprintf(stderr, "%s: audit: %s\n", options_.config_path.c_str(),
              key.status().message().c_str());
      return 2;
    }
    audit::LogOptions lo;
    lo.dir = a.dir;
    lo.durability = a.strict ? audit::Durability::kStrict : audit::Durability::kAsync;
    lo.ring_capacity = a.ring_capacity;
    lo.segment_bytes = a.segment_bytes;
    lo.segment_age = std::chrono::duration_cast<std::chrono::seconds>(a.segment_age);
    lo.retention_age = std::chrono::duration_cast<std::chrono::seconds>(a.retention_age);
    lo.retention_bytes = a.retention_bytes;
    lo.checkpoint_records = a.checkpoint_records;
    lo.checkpoint_interval =
        std::chrono::duration_cast<std::chrono::milliseconds>(a.checkpoint_interval);
    lo.low_disk_bytes = a.low_disk_bytes;
    lo.origin = a.origin;
    lo.key = *key;
    auto opened = audit::AuditLog::open(std::move(lo));
    if (!opened.isOk()) {
      fprintf(stderr, "%s: audit: %s\n", options_.config_path.c_str(),
              opened.status().message().c_str());
      return 2;
    }
    control.audit = std::move(opened).value();
    std::string err;
    if (!audit::CredentialHasher::loadOrCreate(a.dir + "/hash.key", control.audit_hasher, err)) {
      fprintf(stderr, "%s: audit: %s\n", options_.config_path.c_str(), err.c_str());
      return 2;
    }
  }

  unsigned nworkers = cfg.proxy.workers;
  if (nworkers == 0) nworkers = std::max(1u, std::thread::hardware_concurrency());

  // Workers never see signals: block them before the threads exist, restore after.
  sigset_t block;
  sigset_t previous;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &previous);

  StatsRegistry stats;
  for (unsigned i = 0; i < nworkers; ++i) {
    workers.push_back(std::make_unique<Worker>(i, control.runtime, stats.addWorker()));
    Status s = workers.back()->bindListeners();
    if (!s.isOk()) {
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      log::error("server", "cannot start", {{"error", s.message()}});
      fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
  }
  control.workers = &workers;
  if (control.audit) {
    for (auto& w : workers) {
      Worker* worker = w.get();
      audit::Producer& producer = control.audit->addProducer(
          [worker](const std::vector<uint64_t>& cookies, bool ok) {
            std::vector<uint64_t> waiting;
            for (uint64_t id : cookies) {
              if (id != 0) waiting.push_back(id);
            }
            if (waiting.empty()) return;
            worker->dispatcher().post([worker, waiting = std::move(waiting), ok] {
              worker->completeAudit(waiting, ok);
            });
          });
      w->setAudit(&producer, &control.audit_hasher, cfg.audit->strict);
    }
    control.audit->start();
    auditConfig(control, {});
    auditPolicy(control, {});
    if (!cfg.audit->webhooks.empty() || !cfg.audit->syslogs.empty()) {
      audit::ForwarderOptions fo;
      fo.dir = cfg.audit->dir;
      audit::AuditLog* log = control.audit.get();
      fo.durable_seq = [log] { return log->durableSeq(); };
      Control* c = &control;
      fo.on_cursor = [c, log](const std::string& sink, uint64_t next_seq) {
        std::lock_guard<std::mutex> lock(c->cursor_mu);
        auto it = c->cursor_index.find(sink);
        if (it == c->cursor_index.end()) {
          c->cursor_index.emplace(sink, log->addCursor("sink:" + sink, next_seq));
        } else {
          log->setCursor(it->second, next_seq);
        }
      };
      fo.sinks = audit::sinkOptionsFromConfig(*cfg.audit);
      fo.tls_connector = auditTlsConnector();
      auto fw = audit::Forwarder::create(std::move(fo));
      if (!fw.isOk()) {
        fprintf(stderr, "%s: audit forwarding: %s\n", options_.config_path.c_str(),
                fw.status().message().c_str());
        control.audit->stop();
        return 2;
      }
      control.forwarder = std::move(fw).value();
      control.forwarder->start();
    }
  }
  for (auto& w : workers) {
    w->setOnExit([&control] { control.finished.fetch_add(1); });
    w->start();
  }
  if (control.runtime->key_store) control.runtime->key_store->start();
  if (control.runtime->introspector) control.runtime->introspector->start();
  if (control.runtime->oidc_login) control.runtime->oidc_login->start();
  control.metrics_key_store = control.runtime->key_store;
  control.metrics_introspector = control.runtime->introspector;
  control.metrics_runtime = control.runtime;
  for (const auto& r : control.runtime->resolvers) {
    if (r) r->start();
  }
  stats.addRenderer([&control](std::string& out) { renderResolverMetrics(control, out); });
  stats.addRenderer([&control](std::string& out) { renderAuditMetrics(control, out); });
  stats.addRenderer([&control](std::string& out) { renderKeyStoreMetrics(control, out); });
  stats.addRenderer([&control](std::string& out) { renderOidcLoginMetrics(control, out); });
  stats.addRenderer([&control](std::string& out) { renderPolicyMetrics(control, out); });
  publishPolicyVersion(control);
  // The control thread keeps SIGPIPE blocked too; it only needs the three it handles.
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGTERM);
  sigaddset(&unblock, SIGINT);
  sigaddset(&unblock, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);

  std::unique_ptr<AdminServer> admin;
  if (cfg.admin.enabled) {
    auto a = AdminServer::start(
        cfg.admin.address, stats,
        [&control] {
          if (!control.ready.load() || (control.audit && !control.audit->healthy())) {
            return false;
          }
          // Not ready before every provider's first key load has ended (keys published or
          // the load failed): a token that arrives earlier would be answered 503.
          std::shared_ptr<identity::KeyStore> ks;
          {
            std::lock_guard<std::mutex> lock(control.metrics_mu);
            ks = control.metrics_key_store;
          }
          if (ks) {
            for (const auto& st : ks->stats()) {
              if (!st.has_keys && st.fetch_failed == 0) return false;
            }
          }
          return true;
        },
        [&control] {
          return control.has_policy.load()
                     ? "policy_version " + policy::versionString(control.policy_version.load()) +
                           "\n"
                     : std::string();
        });
    if (!a.isOk()) {
      log::error("server", "cannot start admin listener", {{"error", a.status().message()}});
      fprintf(stderr, "admin: %s\n", a.status().message().c_str());
      for (auto& w : workers) w->forceStop();
      for (auto& w : workers) w->join();
      return 1;
    }
    admin = std::move(a).value();
  }

  CPtr<event_base, event_base_free> base(event_base_new());
  control.base = base.get();
  updatePolicyWatch(control);
  CPtr<event, event_free> sig_term(evsignal_new(base.get(), SIGTERM, &onSignal, &control));
  CPtr<event, event_free> sig_int(evsignal_new(base.get(), SIGINT, &onSignal, &control));
  CPtr<event, event_free> sig_hup(evsignal_new(base.get(), SIGHUP, &onSignal, &control));
  evsignal_add(sig_term.get(), nullptr);
  evsignal_add(sig_int.get(), nullptr);
  evsignal_add(sig_hup.get(), nullptr);

  CPtr<event, event_free> rotate(
      event_new(base.get(), -1, EV_PERSIST, &onRotateTickets, &control));
  config::Duration rotation{std::chrono::hours(24)};
  for (const auto& l : cfg.listeners) {
    if (l.tls) rotation = std::min(rotation, l.tls->ticket_key_rotation);
  }
  timeval rtv{static_cast<time_t>(std::max<int64_t>(1, rotation.count() / 1000)), 0};
  evtimer_add(rotate.get(), &rtv);

  control.ready.store(true);
  std::string addrs;
  for (const auto& l : cfg.listeners) {
    if (!addrs.empty()) addrs += ",";
    addrs += (l.tls ? "https://" : "http://") + l.address_text;
  }
  log::info("server", "serving",
            {{"listeners", addrs},
             {"workers", static_cast<int64_t>(nworkers)},
             {"admin", cfg.admin.enabled ? cfg.admin.address_text : std::string("off")}});
  if (options_.on_ready) options_.on_ready();

  event_base_loop(base.get(), EVLOOP_NO_EXIT_ON_EMPTY);
  control.inotify_event.reset();
  control.debounce_timer.reset();
  if (control.inotify_fd >= 0) close(control.inotify_fd);

  if (control.runtime->key_store) control.runtime->key_store->stop();
  if (control.runtime->introspector) control.runtime->introspector->stop();
  if (control.runtime->oidc_login) control.runtime->oidc_login->stop();
  for (const auto& r : control.runtime->resolvers) {
    if (r) r->stop();
  }
  for (auto& w : workers) w->join();
  // After the workers: every record they submitted is written, then the final checkpoint.
  // A forwarder stops first: what it did not ship goes at the next start (its cursor).
  if (control.forwarder) control.forwarder->stop();
  if (control.audit) control.audit->stop();
  if (admin) admin->stop();
  log::info("server", "stopped");
  return 0;
}

}  // namespace stepgate::proxy
