#include "proxy/connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstdio>

#include "common/json.h"
#include "common/json_writer.h"
#include "common/logging.h"
#include "proxy/http1/bearer.h"
#include "proxy/forward_headers.h"
#include "proxy/principal_claims.h"
#include "proxy/http1/path_normalize.h"
#include "proxy/worker.h"
#include "audit/record.h"

namespace stepgate::proxy {
namespace {

// Bodies up to this size are sent in one write with their head.
constexpr uint64_t kCoalesceBytes = 16 * 1024;

uint64_t nowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

bool isIdempotent(std::string_view m) {
  using http1::equalsIgnoreCase;
  return equalsIgnoreCase(m, "GET") || equalsIgnoreCase(m, "HEAD") ||
         equalsIgnoreCase(m, "OPTIONS") || equalsIgnoreCase(m, "PUT") ||
         equalsIgnoreCase(m, "DELETE") || equalsIgnoreCase(m, "TRACE");
}

// An inbound X-Request-Id is kept (when trusted) only if it is short and plain.
bool plainRequestId(std::string_view v) {
  if (v.empty() || v.size() > 32) return false;
  for (char c : v) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

// Writes to a plain socket at once when nothing is queued ahead, and queues only what the
// kernel did not take: no write-event registration and no extra loop iteration (two
// epoll_ctl calls) per message. TLS bufferevents always queue. Errors surface through the
// bufferevent's event callback when it writes what was queued.
void sendOrQueue(bufferevent* bev, bool plain, const char* data, size_t len) {
  evbuffer* out = bufferevent_get_output(bev);
  if (plain && evbuffer_get_length(out) == 0) {
    const ssize_t n = ::send(bufferevent_getfd(bev), data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
    }
  }
  if (len > 0) evbuffer_add(out, data, len);
}

void appendChunkHeader(evbuffer* out, size_t n) {
  char hdr[24];
  const int len = snprintf(hdr, sizeof hdr, "%zx\r\n", n);
  evbuffer_add(out, hdr, static_cast<size_t>(len));
}

}  // namespace

Connection::Connection(Worker& worker, int fd, const SocketAddress& peer, size_t listener_index,
                       SSL* ssl)
    : worker_(worker),
      runtime_(worker.runtime()),
      listener_index_(listener_index),
      peer_(peer),
      peer_ip_(peer.ipString()),
      req_chunks_(limits_),
      resp_chunks_(limits_) {
  refreshRuntime();
  req_.headers.reserve(32);
  resp_.headers.reserve(32);
  event_base* base = worker.dispatcher().base();
  if (ssl != nullptr) {
    tls_ = true;
    state_ = State::kHandshake;
    bev_ = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
    if (bev_ != nullptr) bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
  } else {
    bev_ = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  timer_.reset(evtimer_new(base, &Connection::onTimer, this));
}

Connection::~Connection() {
  if (upstream_ != nullptr) pool_->release(upstream_, false);
  if (bev_ != nullptr) bufferevent_free(bev_);
}

void Connection::start() {
  if (bev_ == nullptr) {
    closeNow();
    return;
  }
  const auto& l = cfg().limits;
  const size_t read_high =
      std::max<size_t>(l.buffer_high_watermark, l.max_header_bytes + 4096);
  bufferevent_setcb(bev_, &Connection::onClientRead, &Connection::onClientWrite,
                    &Connection::onClientEvent, this);
  bufferevent_setwatermark(bev_, EV_READ, 0, read_high);
  bufferevent_setwatermark(bev_, EV_WRITE, l.buffer_low_watermark, 0);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
  armTimer(l.header_timeout);
}

void Connection::refreshRuntime() {
  runtime_ = worker_.runtime();
  const auto& l = cfg().limits;
  limits_.max_request_line = l.max_request_line;
  limits_.max_header_bytes = l.max_header_bytes;
  limits_.max_headers = l.max_headers;
  limits_.max_body_bytes = l.max_body_bytes;
  req_chunks_ = http1::ChunkedDecoder(limits_);
  http1::Limits resp_limits = limits_;
  resp_limits.max_body_bytes = 0;
  resp_chunks_ = http1::ChunkedDecoder(resp_limits);
  peer_trusted_ = false;
  for (const Cidr& c : runtime_->trusted_proxies) {
    if (c.contains(peer_)) peer_trusted_ = true;
  }
}

void Connection::drain() {
  draining_ = true;
  if (state_ == State::kIdle && evbuffer_get_length(bufferevent_get_input(bev_)) == 0) {
    closeNow();
  }
}

void Connection::armTimer(config::Duration d) {
  timeval tv{static_cast<time_t>(d.count() / 1000),
             static_cast<suseconds_t>((d.count() % 1000) * 1000)};
  evtimer_add(timer_.get(), &tv);
}

bool Connection::clientOutputFull() const {
  return evbuffer_get_length(bufferevent_get_output(bev_)) >= cfg().limits.buffer_high_watermark;
}

void Connection::recordResponse(int status) {
  WorkerStats& s = worker_.stats();
  if (status >= 100 && status < 600) WorkerStats::inc(s.responses_by_status[status]);
}

// ---- client side -------------------------------------------------------------------------

void Connection::onClientRead(bufferevent*, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (self->state_ == State::kClosing) {
    // Lingering: discard what the client still sends until it closes or the timer fires.
    evbuffer* in = bufferevent_get_input(self->bev_);
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  self->processInput();
}

void Connection::onClientWrite(bufferevent*, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (self->state_ == State::kClosing) {
    if (evbuffer_get_length(bufferevent_get_output(self->bev_)) == 0) {
      // Flushed. Half-close and linger briefly so a client still sending a body reads the
      // response instead of a reset.
      if (!self->tls_) shutdown(bufferevent_getfd(self->bev_), SHUT_WR);
      self->armTimer(config::Duration(1000));
    }
    return;
  }
  if (self->state_ == State::kUpstream && self->upstream_ != nullptr && self->resp_head_done_) {
    self->upstream_->enableRead(true);
    self->pumpResponse();
  }
}

void Connection::onClientEvent(bufferevent*, short what, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  WorkerStats& s = self->worker_.stats();
  if (what & BEV_EVENT_CONNECTED) {
    if (self->state_ == State::kHandshake) {
      WorkerStats::inc(s.tls_handshakes);
      const auto& tls = self->runtime_->listener_tls[self->listener_index_];
      if (tls && !tls->config().client_ca_file.empty()) {
        const tls::PeerCertificate pc =
            tls::peerCertificate(bufferevent_openssl_get_ssl(self->bev_));
        self->client_cert_.present = pc.present;
        self->client_cert_.verified = pc.verified;
        self->client_cert_.subject = pc.subject;
        self->client_cert_.issuer = pc.issuer;
        self->client_cert_.san_uris = pc.san_uris;
        self->client_cert_.san_dns = pc.san_dns;
        self->client_cert_.sha256_fingerprint = pc.sha256_fingerprint;
      }
      self->state_ = State::kIdle;
      self->processInput();
    }
    return;
  }
  if (self->state_ == State::kHandshake) WorkerStats::inc(s.tls_handshake_failures);
  self->closeNow();
}

void Connection::onTimer(int, short, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  WorkerStats& s = self->worker_.stats();
  switch (self->state_) {
    case State::kHandshake:
      WorkerStats::inc(s.timeouts[static_cast<size_t>(Timeout::kHeader)]);
      self->closeNow();
      return;
    case State::kIdle:
      WorkerStats::inc(s.timeouts[static_cast<size_t>(Timeout::kIdle)]);
      self->closeNow();
      return;
    case State::kReadingHead:
      WorkerStats::inc(s.timeouts[static_cast<size_t>(Timeout::kHeader)]);
      self->sendLocalResponse(408, "header_timeout", true);
      return;
    case State::kAuthWait:
      if (self->waiting_sso_) {
        // The provider did not answer in time: sign-in is unavailable (503).
        self->worker_.removeSsoWait(self->sso_wait_);
        self->resumeAfterSso(unavailable("login_unavailable: the provider did not answer"));
        return;
      }
      if (self->waiting_introspection_) {
        // The endpoint did not answer in time: fail closed, as unavailable (503).
        self->worker_.removeIntrospectionWait(self->introspection_wait_);
        identity::IntrospectionResult r;
        r.error = identity::AuthError::kIntrospectionUnavailable;
        self->resumeAfterIntrospection(std::move(r));
        return;
      }
      // No new keys in time: verify once more against what there is (no second refetch).
      self->resumeAfterKeys();
      return;
    case State::kBodyWait:
      WorkerStats::inc(s.timeouts[static_cast<size_t>(Timeout::kRequest)]);
      self->sendLocalResponse(408, "body_timeout", true);
      return;
    case State::kAuditWait:
      // The audit log did not make the record durable in time: fail closed.
      self->resumeAfterAudit(self->audit_wait_, false);
      return;
    case State::kLookupWait:
      // The orchestrator did not answer in time: what is missing is unresolved (fail closed).
      self->finishLookups();
      return;
    case State::kUpstream:
      WorkerStats::inc(s.timeouts[static_cast<size_t>(Timeout::kRequest)]);
      self->releaseUpstream(false);
      if (self->resp_started_) {
        self->closeNow();
      } else {
        self->sendLocalResponse(504, "request_timeout", true);
      }
      return;
    case State::kClosing:
    case State::kClosed:
      self->closeNow();
      return;
  }
}

void Connection::processInput() {
  // Local answers and upstream failures may ask for input processing while it is already
  // running further up the stack; the running loop picks the next request up by itself.
  if (in_process_input_) return;
  in_process_input_ = true;
  processInputLoop();
  in_process_input_ = false;
}

void Connection::processInputLoop() {
  evbuffer* in = bufferevent_get_input(bev_);
  while (true) {
    if (state_ == State::kUpstream) {
      pumpRequestBody();
      return;
    }
    if (state_ == State::kBodyWait) {
      collectBody();
      if (state_ != State::kIdle) return;
      continue;
    }
    if (state_ != State::kIdle && state_ != State::kReadingHead) return;
    const size_t len = evbuffer_get_length(in);
    if (len == 0) return;
    if (state_ == State::kIdle) {
      if (runtime_ != worker_.runtime()) refreshRuntime();
      state_ = State::kReadingHead;
      head_scanned_ = 0;
      request_start_us_ = nowUs();
      armTimer(cfg().limits.header_timeout);
    }
    const size_t want = std::min(len, limits_.max_header_bytes + 1);
    const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(want)));
    const http1::HeadScan scan = http1::findHeadEnd({p, want}, head_scanned_, limits_);
    if (scan.state == http1::HeadScan::State::kNeedMore) return;
    if (scan.state == http1::HeadScan::State::kError) {
      WorkerStats::inc(worker_.stats().parser_rejections[static_cast<size_t>(scan.error)]);
      sendLocalResponse(http1::parseErrorHttpStatus(scan.error), http1::parseErrorName(scan.error),
                        true);
      return;
    }
    handleHead(scan.head_len);
    // A local answer that keeps the connection returns to kIdle: look for the next request.
  }
}

void Connection::handleHead(size_t head_len) {
  evbuffer* in = bufferevent_get_input(bev_);
  WorkerStats& s = worker_.stats();
  const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(head_len)));
  WorkerStats::inc(s.requests);
  WorkerStats::inc(s.bytes_from_clients, static_cast<uint64_t>(head_len));
  const http1::ParseError e = http1::parseRequestHead({p, head_len}, limits_, req_);
  worker_.newRequestId(request_id_);
  if (e != http1::ParseError::kNone) {
    WorkerStats::inc(s.parser_rejections[static_cast<size_t>(e)]);
    sendLocalResponse(http1::parseErrorHttpStatus(e), http1::parseErrorName(e), true);
    return;
  }
  if (cfg().proxy.trust_request_id) {
    for (const auto& h : req_.headers) {
      if (http1::equalsIgnoreCase(h.name, "x-request-id") && plainRequestId(h.value)) {
        std::copy(h.value.begin(), h.value.end(), request_id_);
        request_id_[h.value.size()] = '\0';
      }
    }
  }
  if (req_.form == http1::TargetForm::kAsterisk) {
    path_.assign("*");
  } else {
    PathOptions opts;
    opts.merge_slashes = cfg().path.merge_slashes;
    opts.reject_path_parameters = cfg().path.reject_path_parameters;
    const PathError pe = normalizePath(req_.path, opts, path_);
    if (pe != PathError::kNone) {
      WorkerStats::inc(s.path_rejections[static_cast<size_t>(pe)]);
      sendLocalResponse(400, pathErrorName(pe), true);
      return;
    }
  }

  // stepgate's own JWKS (top-level `issuer`): public, answered here on every listener.
  if (runtime_->issuer && path_ == "/.well-known/jwks.json" &&
      (req_.method == "GET" || req_.method == "HEAD")) {
    req_keep_alive_ = req_.keep_alive;
    req_is_head_ = req_.method == "HEAD";
    evbuffer_drain(in, head_len);
    sendLocalBody(200, "application/jwk-set+json", runtime_->issuer->jwksJson(),
                  req_.body != http1::BodyKind::kNone);
    return;
  }
  // Everything needed later is copied out of the head now: its bytes are drained below.
  req_keep_alive_ = req_.keep_alive;
  req_http10_ = req_.version_minor == 0;
  req_is_head_ = http1::equalsIgnoreCase(req_.method, "HEAD");
  req_idempotent_ = isIdempotent(req_.method);
  req_expect_continue_ = req_.expect_continue && !req_http10_;
  req_body_kind_ = req_.body;
  req_body_done_ = req_.body == http1::BodyKind::kNone;
  req_body_remaining_ = req_.content_length;
  req_chunks_.reset();
  head_len_ = head_len;
  refetched_ = false;
  principal_.reset();
  decided_ = false;
  audit_response_ = false;
  auth_reason_ = {};
  auth_provider_ = -1;
  classification_.reset({});
  local_body_ = false;
  session_refresh_.clear();
  pending_answer_ = false;
  if (runtime_->sso && isSsoPath(*runtime_->sso, path_)) {
    startSso();
    return;
  }
  if (!authenticate()) return;  // refused, or waiting for a key refetch
  forwardRequest();
}

std::string_view Connection::joinedCookies() {
  cookies_.clear();
  for (const http1::Header& h : req_.headers) {
    if (!http1::equalsIgnoreCase(h.name, "cookie")) continue;
    if (!cookies_.empty()) cookies_.append("; ");
    cookies_.append(h.value);
  }
  return cookies_;
}

void Connection::startSso() {
  if (ssoNeedsBody(*runtime_->sso, req_.method, path_) &&
      req_body_kind_ != http1::BodyKind::kNone) {
    startLocalBodyCollection();
    return;
  }
  finishSso();
}

void Connection::startLocalBodyCollection() {
  local_body_ = true;
  body_read_ = false;
  body_.clear();
  startBodyCollection();
}

bool Connection::stepgateTokenRevoked(const identity::Principal& p) const {
  if (p.provider != config::kStepgateProviderName || !p.claims) {
    return false;
  }
  const JsonValue* sid = p.claims->find("sid");
  return sid != nullptr && sid->isString() &&
         runtime_->sso->revoked->isRevoked(sid->asString(), std::chrono::system_clock::now());
}

bool Connection::redirectToLogin() {
  std::string_view mode, accept;
  for (const http1::Header& h : req_.headers) {
    if (http1::equalsIgnoreCase(h.name, "sec-fetch-mode")) mode = h.value;
    if (http1::equalsIgnoreCase(h.name, "accept")) accept = h.value;
  }
  const std::string location =
      loginRedirect(*runtime_->sso, req_.method, path_, req_.query, mode, accept);
  if (location.empty()) return false;
  WorkerStats::inc(worker_.stats().sso_login_redirects);
  auth_reason_ = "login_required";
  auth_provider_ = -1;
  answerDecided("auth_failure", 302, "login_required", req_body_kind_ != http1::BodyKind::kNone,
                "Cache-Control: no-store\r\nLocation: " + location + "\r\n", {});
  return true;
}

void Connection::finishSso() {
  const SsoRuntime& sso = *runtime_->sso;
  SsoRequest r;
  r.method = req_.method;
  r.path = path_;
  r.query = req_.query;
  r.cookie_header = joinedCookies();
  for (const http1::Header& h : req_.headers) {
    if (http1::equalsIgnoreCase(h.name, "content-type")) r.content_type = h.value;
  }
  r.csrf = identity::csrfHeadersFrom(req_.headers);
  r.body = body_;
  r.now = std::chrono::system_clock::now();
  r.oidc = runtime_->oidc_login.get();
  SsoAnswer a = answerSso(sso, r);
  local_body_ = false;
  if (a.outcome == SsoOutcome::kPending) {
    startOidcCall(std::move(a.pending));
    return;
  }
  if (!a.revoke_refresh_token.empty() && r.oidc != nullptr) {
    // Signed out: the provider revokes the refresh token too (off this thread, not waited for).
    runtime_->oidc_login->revoke(std::move(a.revoke_refresh_token));
  }
  finishSsoAnswer(a, false);
}

void Connection::startOidcCall(std::unique_ptr<OidcPending> pending) {
  identity::OidcLoginService* service = runtime_->oidc_login.get();
  if (service == nullptr) {
    SsoAnswer a;
    a.status = 503;
    a.error = "login_unavailable";
    a.outcome = SsoOutcome::kRefused;
    finishSsoAnswer(a, true);
    return;
  }
  // Reading stops while the provider is asked, so the head's bytes stay where req_ points.
  state_ = State::kAuthWait;
  waiting_sso_ = true;
  bufferevent_disable(bev_, EV_READ);
  armTimer(runtime_->sso->config.oidc->fetch_timeout + config::Duration(std::chrono::seconds(1)));
  sso_wait_ = worker_.addSsoWait(this);
  sso_pending_ = std::move(pending);
  Worker* worker = &worker_;
  const uint64_t id = sso_wait_;
  auto done = [worker, id](StatusOr<identity::TokenResponse> r) {
    worker->dispatcher().post([worker, id, r = std::move(r)]() mutable {
      worker->completeSso(id, std::move(r));
    });
  };
  if (sso_pending_->kind == OidcPending::Kind::kExchange) {
    service->exchange(sso_pending_->secret, sso_pending_->pkce_verifier, std::move(done));
  } else {
    service->refresh(sso_pending_->secret, std::move(done));
  }
}

void Connection::resumeAfterSso(StatusOr<identity::TokenResponse> tokens) {
  if (state_ != State::kAuthWait || !waiting_sso_) return;
  waiting_sso_ = false;
  sso_wait_ = 0;
  state_ = State::kReadingHead;
  bufferevent_enable(bev_, EV_READ);
  const std::unique_ptr<OidcPending> pending = std::move(sso_pending_);
  const SsoRuntime& sso = *runtime_->sso;
  const identity::Authenticator& auth = worker_.authenticator();
  const int index = auth.providerIndex(sso.oidc_provider->name);
  const identity::KeySet* keys =
      index >= 0 ? auth.keys(static_cast<size_t>(index)).get() : nullptr;
  SsoAnswer a = completeOidc(sso, *runtime_->oidc_login, *pending, tokens, keys,
                             std::chrono::system_clock::now());
  finishSsoAnswer(a, true);
}

void Connection::finishSsoAnswer(const SsoAnswer& a, bool oidc) {
  WorkerStats& s = worker_.stats();
  const bool close = !req_body_done_;
  switch (a.outcome) {
    case SsoOutcome::kPending: break;  // not reached: handled by finishSso()
    case SsoOutcome::kRefreshed: WorkerStats::inc(s.sso_refreshes); break;
    case SsoOutcome::kSignedIn:
      WorkerStats::inc(oidc ? s.sso_oidc_logins : s.sso_logins);
      break;
    case SsoOutcome::kTokenIssued: WorkerStats::inc(s.sso_tokens); break;
    case SsoOutcome::kSignedOut: WorkerStats::inc(s.sso_logouts); break;
    case SsoOutcome::kRefused: WorkerStats::inc(s.sso_refusals); break;
    case SsoOutcome::kServed: break;
    case SsoOutcome::kLoginFailed: {
      if (a.oidc_failure) {
        WorkerStats::inc(s.sso_oidc_login_failures[static_cast<size_t>(*a.oidc_failure)]);
      } else {
        const size_t slot = a.saml_error ? static_cast<size_t>(*a.saml_error)
                                         : static_cast<size_t>(identity::SamlError::kCount);
        WorkerStats::inc(s.sso_login_failures[slot]);
      }
      if (log::enabled(log::Level::kDebug)) {
        log::write(log::Level::kDebug, "identity",
                   a.oidc_failure ? "OIDC sign-in refused" : "SAML sign-in refused",
                   {{"reason", a.error}, {"peer", peer_ip_}}, request_id_);
      }
      // A refused sign-in is an authentication failure like any other (audit record).
      auth_reason_ = a.error;
      auth_provider_ = -1;
      answerDecided("auth_failure", a.status, a.error, close, a.headers, {});
      return;
    }
  }
  if (a.principal && !a.session_event.empty() && worker_.auditProducer() != nullptr) {
    // Sign-in, refresh, token and sign-out are audited (`session` record); in strict mode
    // the cookie or token is handed out only once the record is durable.
    principal_ = a.principal;
    session_event_ = a.session_event;
    session_via_ = a.session_via;
    pending_answer_ = true;
    pending_status_ = a.status;
    pending_close_ = close;
    pending_headers_.assign(a.headers);
    pending_content_type_.assign(a.content_type);
    pending_body_.assign(a.body);
    const bool now = auditDecision("session", AuditNext::kLocal);
    evbuffer_drain(bufferevent_get_input(bev_), head_len_);
    head_len_ = 0;
    if (now) sendPendingAnswer();
    return;
  }
  evbuffer_drain(bufferevent_get_input(bev_), head_len_);
  head_len_ = 0;
  if (a.content_type.empty()) {
    sendLocalResponse(a.status, a.error, close, a.headers);
  } else {
    sendLocalAnswer(a.status, a.content_type, a.body, a.headers, close);
  }
}

bool Connection::authenticate() {
  identity::Authenticator& auth = worker_.authenticator();
  if (!auth.enabled()) return true;
  WorkerStats& s = worker_.stats();
  const BearerToken bearer = findBearerToken(req_.headers);
  identity::AuthOutcome o;
  switch (bearer.status) {
    case BearerStatus::kMalformed:
      o.error = identity::AuthError::kMalformedHeader;
      break;
    case BearerStatus::kOk:
      o = auth.authenticateBearer(bearer.token, std::chrono::system_clock::now());
      break;
    case BearerStatus::kAbsent:
    case BearerStatus::kOtherScheme:
      if (runtime_->sso && bearer.status == BearerStatus::kAbsent) {
        // A browser's session cookie (no Authorization header at all).
        const SessionAuth sa =
            authenticateSession(*runtime_->sso, req_.method, joinedCookies(),
                                identity::csrfHeadersFrom(req_.headers),
                                std::chrono::system_clock::now(), &worker_.sessionCache());
        if (sa.result == SessionAuth::Result::kOk) {
          o.principal = sa.principal;
          session_refresh_ = sa.set_cookie;
          break;
        }
        if (sa.result == SessionAuth::Result::kCsrf) {
          WorkerStats::inc(s.session_csrf_failures);
          if (log::enabled(log::Level::kDebug)) {
            log::write(log::Level::kDebug, "identity", "session request without a valid CSRF token",
                       {{"reason", sa.reason}, {"peer", peer_ip_}}, request_id_);
          }
          auth_reason_ = sa.reason;
          auth_provider_ = -1;
          answerDecided("auth_failure", 403, "csrf", req_body_kind_ != http1::BodyKind::kNone,
                        {}, {});
          return false;
        }
        if (sa.result != SessionAuth::Result::kNoCookie) {
          WorkerStats::inc(s.session_invalid);
          if (log::enabled(log::Level::kDebug)) {
            log::write(log::Level::kDebug, "identity", "session cookie refused",
                       {{"reason", sa.reason}, {"peer", peer_ip_}}, request_id_);
          }
        }
      }
      if (auth.mtlsProvider() >= 0 && client_cert_.present) {
        o = auth.authenticateCertificate(client_cert_);
      } else if (bearer.status == BearerStatus::kAbsent && runtime_->sso &&
                 redirectToLogin()) {
        return false;
      } else {
        o.error = identity::AuthError::kMissingCredentials;
      }
      break;
  }
  if (o.introspect) {
    if (!runtime_->introspector) {
      refuseAuthentication(identity::AuthError::kIntrospectionUnavailable, o.provider);
      return false;
    }
    // Ask the introspection endpoint (off this thread) and wait for the answer; reading
    // stops meanwhile so the head's bytes stay where req_ points.
    const auto& provider = auth.config().providers[static_cast<size_t>(o.provider)];
    state_ = State::kAuthWait;
    waiting_introspection_ = true;
    bufferevent_disable(bev_, EV_READ);
    armTimer(provider.fetch_timeout + config::Duration(std::chrono::seconds(1)));
    introspection_wait_ = worker_.addIntrospectionWait(this);
    bearer_token_ = bearer.token;
    Worker* worker = &worker_;
    const uint64_t id = introspection_wait_;
    runtime_->introspector->introspect(
        std::string(bearer.token), [worker, id](identity::IntrospectionResult r) {
          worker->dispatcher().post([worker, id, r = std::move(r)]() mutable {
            worker->completeIntrospection(id, std::move(r));
          });
        });
    return false;
  }
  if (o.refetch && !refetched_ && runtime_->key_store) {
    // The token names a key this provider does not have (yet): ask the key store, wait for
    // the new keys (or the timer), then verify once more. Reading stops meanwhile so the
    // head's bytes, which req_ points into, stay where they are.
    refetched_ = true;
    const auto& provider = auth.config().providers[static_cast<size_t>(o.provider)];
    runtime_->key_store->requestRefresh(provider.name, o.kid);
    WorkerStats::inc(s.auth_key_waits);
    state_ = State::kAuthWait;
    bufferevent_disable(bev_, EV_READ);
    armTimer(std::min(provider.fetch_timeout, config::Duration(std::chrono::seconds(5))));
    worker_.parkForKeys(this);
    return false;
  }
  if (o.error) {
    refuseAuthentication(*o.error, o.provider);
    return false;
  }
  if (runtime_->sso && stepgateTokenRevoked(*o.principal)) {
    // A stepgate access token outlives nothing it was minted for: signed out, refused.
    refuseAuthentication(identity::AuthError::kSessionRevoked, o.provider);
    return false;
  }
  if (o.cached) WorkerStats::inc(s.auth_cache_hits);
  WorkerStats::inc(s.auth_successes[static_cast<size_t>(o.principal->method)]);
  principal_ = std::move(o.principal);
  return true;
}

void Connection::resumeAfterKeys() {
  if (state_ != State::kAuthWait || waiting_introspection_ || waiting_sso_) return;
  worker_.unpark(this);
  state_ = State::kReadingHead;
  bufferevent_enable(bev_, EV_READ);
  if (!authenticate()) return;
  forwardRequest();
}

void Connection::resumeAfterIntrospection(identity::IntrospectionResult result) {
  if (state_ != State::kAuthWait || !waiting_introspection_) return;
  waiting_introspection_ = false;
  introspection_wait_ = 0;
  state_ = State::kReadingHead;
  bufferevent_enable(bev_, EV_READ);
  identity::Authenticator& auth = worker_.authenticator();
  auth.acceptIntrospection(bearer_token_, result.principal, result.ok(), result.valid_until);
  if (!result.ok()) {
    refuseAuthentication(*result.error, auth.introspectionProvider());
    return;
  }
  WorkerStats::inc(worker_.stats().auth_successes[static_cast<size_t>(result.principal->method)]);
  principal_ = std::move(result.principal);
  forwardRequest();
}

void Connection::refuseAuthentication(identity::AuthError error, int provider) {
  WorkerStats::inc(worker_.stats().auth_failures[static_cast<size_t>(error)]);
  const int status = identity::authErrorHttpStatus(error);
  const std::string_view code = identity::bearerErrorCode(error);
  // The client learns no more than RFC 6750 allows; the precise reason goes to the log (and
  // the metrics above).
  std::string_view body_error = code;
  if (body_error.empty()) {
    body_error = status == 503 ? "identity_unavailable" : "authentication_required";
  }
  const auto level = status >= 500 ? log::Level::kWarn : log::Level::kDebug;
  if (log::enabled(level)) {
    const std::string_view provider_name =
        provider >= 0 ? std::string_view(worker_.authenticator()
                                             .config()
                                             .providers[static_cast<size_t>(provider)]
                                             .name)
                      : std::string_view();
    log::write(level, "identity", "authentication failed",
               {{"reason", identity::authErrorName(error)},
                {"provider", provider_name},
                {"peer", peer_ip_}},
               request_id_);
  }
  std::string challenge;
  if (status == 401 || status == 400) {
    challenge = "WWW-Authenticate: ";
    appendBearerChallenge(challenge, code);
    challenge += "\r\n";
  }
  // The head is answered here (answerDecided drops its bytes). A body was not read, so the
  // connection closes unless there is none.
  auth_reason_ = identity::authErrorName(error);
  auth_provider_ = provider;
  answerDecided("auth_failure", status, body_error, req_body_kind_ != http1::BodyKind::kNone,
                challenge, {});
}

void Connection::forwardRequest() {
  decided_ = false;
  audit_response_ = false;
  classify_rounds_ = 0;
  body_read_ = false;
  body_.clear();
  body_json_.reset();
  lookup_keys_.clear();
  lookup_results_.clear();
  learning_ = false;
  continueClassification();
}

void Connection::continueClassification() {
  const size_t up_index = runtime_->listener_upstream[listener_index_];
  if (runtime_->policy == nullptr) {
    // No policy: nothing to classify. Signing for the upstream still needs the body.
    if (runtime_->aws_signers[up_index] && !body_read_) {
      startBodyCollection();
      return;
    }
    if (!auditDecision("request", AuditNext::kForward)) return;
    sendUpstream();
    return;
  }
  const orchestrators::Profile& profile = *runtime_->profiles[up_index];
  WorkerStats& s = worker_.stats();
  while (true) {
    header_views_.clear();
    for (const http1::Header& h : req_.headers) header_views_.push_back({h.name, h.value});
    resolved_.clear();
    for (size_t i = 0; i < lookup_keys_.size(); ++i) {
      resolved_.push_back({&lookup_keys_[i], lookup_results_[i].get()});
    }
    orchestrators::RequestView view;
    view.method = req_.method;
    view.path = path_;
    view.query = req_.query;
    view.headers = header_views_;
    view.body_read = body_read_;
    view.body = body_;
    view.json = body_json_ ? &*body_json_ : nullptr;
    view.lookups = resolved_;
    profile.classify(view, classification_);
    ++classify_rounds_;
    if (classify_rounds_ > 8) classification_.unclassified("profile asked too many times");
    if (classification_.outcome == orchestrators::Outcome::kNeedsBody) {
      if (body_read_) {
        classification_.unclassified("profile asked for the body twice");
      } else {
        startBodyCollection();
        return;
      }
    }
    if (classification_.outcome != orchestrators::Outcome::kNeedsLookup) break;
    // Resolve what is new: the worker's cache first, then the shared resolver.
    const size_t first = lookup_keys_.size();
    for (orchestrators::LookupKey& k : classification_.lookups) {
      bool known = false;
      for (const orchestrators::LookupKey& have : lookup_keys_) known = known || have == k;
      if (known) continue;
      if (lookup_keys_.size() >= 1024) break;  // bulk calls are capped by their profiles
      lookup_keys_.push_back(std::move(k));
      lookup_results_.emplace_back();
    }
    if (first == lookup_keys_.size()) {
      classification_.unclassified("profile asked for the same lookup twice");
      break;
    }
    const orchestrators::ResolverSharedPtr& resolver = runtime_->resolvers[up_index];
    lookups_waiting_ = 0;
    for (size_t i = first; i < lookup_keys_.size(); ++i) {
      const std::string key =
          cfg().upstreams[up_index].name + '|' + orchestrators::lookupCacheKey(lookup_keys_[i]);
      if (auto hit = worker_.cachedLookup(key)) {
        WorkerStats::inc(s.lookup_worker_cache_hits);
        lookup_results_[i] = std::move(hit);
        continue;
      }
      MonotonicTime until{};
      if (resolver) {
        if (auto hit = resolver->cached(lookup_keys_[i], &until, /*count=*/true)) {
          worker_.cacheLookup(key, hit, until);
          lookup_results_[i] = std::move(hit);
          continue;
        }
      }
      ++lookups_waiting_;
    }
    if (lookups_waiting_ == 0) continue;  // every answer was cached: classify again
    if (!resolver) {
      for (size_t i = first; i < lookup_keys_.size(); ++i) {
        if (!lookup_results_[i]) lookup_results_[i] = orchestrators::Resolver::failure();
      }
      lookups_waiting_ = 0;
      continue;
    }
    // Wait off this thread; reading stops meanwhile so the head's bytes stay where req_
    // points (unless they were copied out for a body).
    WorkerStats::inc(s.lookup_waits);
    state_ = State::kLookupWait;
    bufferevent_disable(bev_, EV_READ);
    armTimer(cfg().upstreams[up_index].lookup.timeout + config::Duration(std::chrono::seconds(1)));
    lookup_wait_ = worker_.addLookupWait(this);
    Worker* worker = &worker_;
    const uint64_t id = lookup_wait_;
    for (size_t i = first; i < lookup_keys_.size(); ++i) {
      if (lookup_results_[i]) continue;
      resolver->resolve(lookup_keys_[i],
                        [worker, id, i](orchestrators::LookupResultConstSharedPtr r) {
                          worker->dispatcher().post([worker, id, i, r = std::move(r)]() mutable {
                            worker->completeLookup(id, i, std::move(r));
                          });
                        });
    }
    return;
  }
  if (!authorize()) return;
  if (!auditDecision("request", AuditNext::kForward)) return;
  sendUpstream();
}

void Connection::resumeAfterLookup(uint64_t id, size_t slot,
                                   orchestrators::LookupResultConstSharedPtr r) {
  if (state_ != State::kLookupWait || id != lookup_wait_ || slot >= lookup_results_.size()) return;
  if (lookup_results_[slot]) return;
  const size_t up_index = runtime_->listener_upstream[listener_index_];
  if (r && r->found) {
    // Only found answers go into the worker's cache (the resolver keeps the negative ones).
    MonotonicTime until{};
    if (runtime_->resolvers[up_index] &&
        runtime_->resolvers[up_index]->cached(lookup_keys_[slot], &until) == r) {
      worker_.cacheLookup(
          cfg().upstreams[up_index].name + '|' + orchestrators::lookupCacheKey(lookup_keys_[slot]),
          r, until);
    }
  }
  lookup_results_[slot] = r ? std::move(r) : orchestrators::Resolver::failure();
  if (--lookups_waiting_ > 0) return;
  finishLookups();
}

void Connection::finishLookups() {
  worker_.removeLookupWait(lookup_wait_);
  lookup_wait_ = 0;
  for (auto& r : lookup_results_) {
    if (!r) {
      WorkerStats::inc(worker_.stats().lookup_timeouts);
      r = orchestrators::Resolver::failure();
    }
  }
  lookups_waiting_ = 0;
  state_ = State::kReadingHead;
  bufferevent_enable(bev_, EV_READ);
  continueClassification();
}

void Connection::startBodyCollection() {
  const size_t up_index = runtime_->listener_upstream[listener_index_];
  const uint64_t limit =
      local_body_ ? kSsoMaxBody : cfg().upstreams[up_index].max_inspected_body;
  WorkerStats& s = worker_.stats();
  if (!local_body_) WorkerStats::inc(s.bodies_inspected);
  if (req_body_kind_ == http1::BodyKind::kNone) {
    body_read_ = true;
    if (local_body_) {
      finishSso();
    } else {
      continueClassification();
    }
    return;
  }
  if (req_body_kind_ == http1::BodyKind::kContentLength && req_body_remaining_ > limit) {
    if (!local_body_) WorkerStats::inc(s.bodies_too_large);
    evbuffer_drain(bufferevent_get_input(bev_), head_len_);
    head_len_ = 0;
    sendLocalResponse(413, "body_too_large_to_inspect", true);
    return;
  }
  // The body will be read past the head: copy the head out of the input buffer first (more
  // reading may move the buffer's bytes) and point req_ at the copy.
  if (head_len_ > 0) {
    evbuffer* in = bufferevent_get_input(bev_);
    const char* p =
        reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(head_len_)));
    head_copy_.assign(p, head_len_);
    evbuffer_drain(in, head_len_);
    head_len_ = 0;
    if (http1::parseRequestHead(head_copy_, limits_, req_) != http1::ParseError::kNone) {
      sendLocalResponse(400, "bad_request", true);  // not reachable: it parsed before
      return;
    }
  }
  body_expected_ = req_body_remaining_;
  body_.clear();
  state_ = State::kBodyWait;
  if (req_expect_continue_ && !sent_continue_) {
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    sendOrQueue(bev_, !tls_, kContinue, sizeof kContinue - 1);
    sent_continue_ = true;
  }
  collectBody();
}

void Connection::collectBody() {
  const size_t up_index = runtime_->listener_upstream[listener_index_];
  const uint64_t limit =
      local_body_ ? kSsoMaxBody : cfg().upstreams[up_index].max_inspected_body;
  WorkerStats& s = worker_.stats();
  evbuffer* in = bufferevent_get_input(bev_);
  bool done = false;
  while (!done) {
    const size_t avail = evbuffer_get_length(in);
    if (req_body_kind_ == http1::BodyKind::kContentLength) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(avail, body_expected_));
      if (n > 0) {
        const size_t at = body_.size();
        body_.resize(at + n);
        evbuffer_remove(in, body_.data() + at, n);
        WorkerStats::inc(s.bytes_from_clients, static_cast<uint64_t>(n));
        body_expected_ -= n;
      }
      if (body_expected_ == 0) done = true;
      if (!done) return;  // wait for more
      break;
    }
    if (avail == 0) return;
    evbuffer_iovec v;
    if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1) return;
    const http1::ChunkedDecoder::Result r =
        req_chunks_.next({static_cast<const char*>(v.iov_base), v.iov_len});
    evbuffer_drain(in, r.consumed);
    WorkerStats::inc(s.bytes_from_clients, static_cast<uint64_t>(r.consumed));
    switch (r.step) {
      case http1::ChunkedDecoder::Step::kNeedMore:
        if (r.consumed == 0) return;
        break;
      case http1::ChunkedDecoder::Step::kData: {
        if (body_.size() + r.data_len > limit) {
          WorkerStats::inc(s.bodies_too_large);
          sendLocalResponse(413, "body_too_large_to_inspect", true);
          return;
        }
        const size_t at = body_.size();
        body_.resize(at + r.data_len);
        evbuffer_remove(in, body_.data() + at, r.data_len);
        WorkerStats::inc(s.bytes_from_clients, static_cast<uint64_t>(r.data_len));
        break;
      }
      case http1::ChunkedDecoder::Step::kDone:
        done = true;
        break;
      case http1::ChunkedDecoder::Step::kError:
        WorkerStats::inc(s.parser_rejections[static_cast<size_t>(r.error)]);
        sendLocalResponse(http1::parseErrorHttpStatus(r.error), http1::parseErrorName(r.error),
                          true);
        return;
    }
  }
  // The whole body is here: it goes upstream from body_, with a Content-Length.
  req_body_done_ = true;
  req_body_remaining_ = 0;
  body_read_ = true;
  if (local_body_) {
    state_ = State::kReadingHead;
    finishSso();
    return;
  }
  JsonLimits jl;
  jl.max_bytes = static_cast<size_t>(limit);
  jl.max_depth = 64;
  if (!body_.empty()) {
    auto parsed = parseJson(body_, jl);
    if (parsed.isOk()) body_json_.emplace(std::move(parsed).value());
  }
  state_ = State::kReadingHead;
  continueClassification();
}

bool Connection::authorize() {
  const policy::CompiledPolicy* pol = runtime_->policy.get();
  if (pol == nullptr) return true;
  WorkerStats& s = worker_.stats();
  static const identity::Principal kAnonymous{};
  const identity::Principal& who = principal_ ? *principal_ : kAnonymous;
  const PrincipalClaims claims(who.claims.get());
  policy::Context ctx;
  ctx.source = peer_;
  ctx.has_source = true;
  ctx.now = std::chrono::system_clock::now();
  ctx.claims = &claims;
  if (!classification_.classified()) {
    WorkerStats::inc(s.unclassified);
    if (log::enabled(log::Level::kDebug)) {
      log::write(log::Level::kDebug, "policy", "request unclassified",
                 {{"why", classification_.why}, {"method", req_.method}}, request_id_);
    }
  }
  // A bulk call is allowed only when every one of its operations is: the first denial
  // decides.
  policy::Decision d = pol->evaluate(who, classification_.op, ctx);
  for (const policy::Operation& more : classification_.also) {
    if (!d.allowed()) break;
    d = pol->evaluate(who, more, ctx);
  }
  decision_ = d;
  decided_ = true;
  const size_t e = d.allowed() ? 1 : 0;
  const auto r = static_cast<size_t>(d.reason);
  if (r < WorkerStats::kPolicyReasons) {
    WorkerStats::inc(s.policy_decisions[e * WorkerStats::kPolicyReasons + r]);
  }
  if (d.shadow) {
    WorkerStats::inc(s.policy_shadow_decisions);
    if (d.shadow_effect != d.effect) {
      WorkerStats::inc(s.policy_shadow_disagreements);
      if (log::enabled(log::Level::kDebug)) {
        log::write(log::Level::kDebug, "policy", "shadow decision differs",
                   {{"decision", policy::effectName(d.effect)},
                    {"shadow_decision", policy::effectName(d.shadow_effect)},
                    {"shadow_reason", policy::reasonName(d.shadow_reason)},
                    {"workflow", classification_.op.workflow},
                    {"policy_version", policy::versionString(d.policy_version)}},
                   request_id_);
      }
    }
  }
  if (d.allowed()) return true;
  std::string fields = ",\"reason\":";
  json::appendString(fields, policy::reasonName(d.reason));
  if (cfg().policy.reveal_rule_ids) {
    fields += ",\"rules\":[";
    for (uint8_t i = 0; i < d.rules.count; ++i) {
      if (i > 0) fields += ',';
      json::appendString(fields, pol->ruleId(d.rules.index[i]));
    }
    fields += ']';
  }
  if (log::enabled(log::Level::kDebug)) {
    log::write(log::Level::kDebug, "policy", "request denied",
               {{"reason", policy::reasonName(d.reason)},
                {"workflow", classification_.op.workflow},
                {"step", classification_.op.step},
                {"policy_version", policy::versionString(d.policy_version)}},
               request_id_);
  }
  // The head is answered here (answerDecided drops its bytes). Unless the body was read, the
  // connection closes.
  answerDecided("request", 403, "forbidden", !req_body_done_, {}, fields);
  return false;
}

// ---- audit ------------------------------------------------------------------------------

namespace {

bool readOnly(policy::ActionSet a) {
  return !a.empty() && (a.bits() & ~(policy::ActionSet{policy::Action::kRead, policy::Action::kList}
                                          .bits())) == 0;
}

bool privileged(policy::ActionSet a) {
  using policy::Action;
  const policy::ActionSet p{Action::kStop,        Action::kRetry,    Action::kRerun,
                            Action::kCompleteStep, Action::kFailStep, Action::kSkipStep,
                            Action::kDefine,       Action::kUndefine, Action::kAdmin};
  return (a.bits() & p.bits()) != 0;
}

int64_t wallClockUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Connection::encodeAuditRecord(std::string_view type, int status, std::string& out) {
  audit::RequestRecordView r;
  r.type = type;
  r.time_unix_us = decided_at_us_;
  r.request_id = request_id_;
  audit::PrincipalView pv;
  if (principal_ && principal_->authenticated()) {
    const identity::Principal& p = *principal_;
    pv.provider = p.provider;
    pv.issuer = p.issuer;
    pv.subject = p.subject;
    pv.name = p.name;
    pv.method = identity::authMethodName(p.method);
    pv.groups = p.groups;
    pv.mfa = p.mfa;
    if (const audit::CredentialHasher* h = worker_.auditHasher();
        h != nullptr && !p.credential_id.empty()) {
      // One HMAC per credential, not per record: the request and response records of a
      // request, and the next requests with the same credential, share it.
      if (audit_credential_of_ != p.credential_id) {
        audit_credential_ = h->hash(p.credential_id);
        audit_credential_of_ = p.credential_id;
      }
      pv.credential_id = audit_credential_;
    }
    r.principal = &pv;
  }
  r.source_ip = peer_ip_;
  r.source_port = peer_.port();
  if (tls_) {
    SSL* ssl = bufferevent_openssl_get_ssl(bev_);
    r.tls_version = ssl != nullptr ? SSL_get_version(ssl) : "TLS";
  }
  r.client_cert_subject = client_cert_.present ? std::string_view(client_cert_.subject) : "";
  if (type != "response") {
    for (const http1::Header& h : req_.headers) {
      if (http1::equalsIgnoreCase(h.name, "x-forwarded-for")) r.forwarded_for = h.value;
      if (http1::equalsIgnoreCase(h.name, "user-agent")) r.user_agent = h.value;
    }
    r.method = req_.method;
    r.path = path_;
    r.query = req_.query;
    r.host = req_.host;
    r.request_bytes = req_.head_bytes + (body_read_ ? body_.size() : req_.content_length);
  }
  std::string actions;
  std::vector<std::string> also_actions;
  audit::OperationView op;
  std::vector<audit::OperationView> also;
  auto view = [](const policy::Operation& o, std::string& acts, audit::OperationView& v) {
    acts = o.actions.toString();
    v.upstream = o.upstream;
    v.workflow = o.workflow;
    v.version = o.version;
    v.step = o.step;
    v.execution = o.execution;
    v.namespace_name = o.namespace_name;
    v.actions = acts;
    v.read_only = readOnly(o.actions);
    v.privileged = privileged(o.actions);
  };
  if (decided_ || !classification_.op.upstream.empty()) {
    view(classification_.op, actions, op);
    r.operation = &op;
    also_actions.resize(classification_.also.size());
    also.resize(classification_.also.size());
    for (size_t i = 0; i < classification_.also.size(); ++i) {
      view(classification_.also[i], also_actions[i], also[i]);
    }
    r.also = also;
  }
  std::string version;
  std::vector<std::string_view> rules;
  if (type == "auth_failure") {
    r.effect = "deny";
    r.reason = "authentication_failed";
    r.auth_reason = auth_reason_;
    if (auth_provider_ >= 0) {
      r.auth_provider =
          worker_.authenticator().config().providers[static_cast<size_t>(auth_provider_)].name;
    }
  } else if (type == "session") {
    r.session_event = session_event_;
    r.session_via = session_via_;
  } else if (type == "request") {
    if (decided_) {
      const policy::CompiledPolicy* pol = runtime_->policy.get();
      r.effect = policy::effectName(decision_.effect);
      r.reason = policy::reasonName(decision_.reason);
      for (uint8_t i = 0; pol != nullptr && i < decision_.rules.count; ++i) {
        rules.push_back(pol->ruleId(decision_.rules.index[i]));
      }
      r.rules = rules;
      version = policy::versionString(decision_.policy_version);
      r.policy_version = version;
      if (decision_.shadow) {
        r.shadow_effect = policy::effectName(decision_.shadow_effect);
        r.shadow_reason = policy::reasonName(decision_.shadow_reason);
      }
    } else {
      r.effect = "allow";
      r.reason = "no_policy";
    }
  }
  if (status != 0) {
    r.status = status;
    r.latency_us = nowUs() - request_start_us_;
    if (type == "response") {
      r.upstream_status = status;
      r.response_bytes = resp_bytes_;
    }
  }
  encodeRecord(r, out);
}

bool Connection::auditDecision(std::string_view type, AuditNext next) {
  audit::Producer* producer = worker_.auditProducer();
  if (producer == nullptr) return true;
  decided_at_us_ = wallClockUs();
  audit_fields_.clear();
  encodeAuditRecord(type, next == AuditNext::kLocal ? pending_status_ : 0, audit_fields_);
  audit_response_ = next == AuditNext::kForward;
  WorkerStats& s = worker_.stats();
  if (!worker_.auditStrict()) {
    if (!producer->submit(audit_fields_, 0)) WorkerStats::inc(s.audit_refused);
    return true;
  }
  const uint64_t id = worker_.addAuditWait(this);
  if (!producer->submit(audit_fields_, id)) {
    // Strict: no durable record, no action.
    worker_.removeAuditWait(id);
    WorkerStats::inc(s.audit_refused);
    audit_response_ = false;
    if (next == AuditNext::kForward) {
      evbuffer_drain(bufferevent_get_input(bev_), head_len_);
      head_len_ = 0;
    }
    sendLocalResponse(503, "audit_unavailable", true);
    return false;
  }
  WorkerStats::inc(s.audit_waits);
  audit_wait_ = id;
  audit_next_ = next;
  state_ = State::kAuditWait;
  bufferevent_disable(bev_, EV_READ);
  // A record not durable within this time fails the request (503), as a failed log would.
  armTimer(config::Duration(std::chrono::seconds(10)));
  return false;
}

void Connection::resumeAfterAudit(uint64_t id, bool ok) {
  if (state_ != State::kAuditWait || id != audit_wait_) return;
  worker_.removeAuditWait(id);
  audit_wait_ = 0;
  state_ = State::kReadingHead;
  bufferevent_enable(bev_, EV_READ);
  if (!ok) {
    WorkerStats::inc(worker_.stats().audit_failed);
    audit_response_ = false;
    if (audit_next_ == AuditNext::kForward) {
      evbuffer_drain(bufferevent_get_input(bev_), head_len_);
      head_len_ = 0;
    }
    sendLocalResponse(503, "audit_unavailable", true);
    return;
  }
  if (audit_next_ == AuditNext::kLocal) {
    sendPendingAnswer();
    return;
  }
  sendUpstream();
}

void Connection::answerDecided(std::string_view type, int status, std::string_view error,
                               bool close, std::string_view extra_headers,
                               std::string_view extra_fields) {
  pending_status_ = status;
  pending_error_ = error;
  pending_close_ = close;
  pending_headers_.assign(extra_headers);
  pending_fields_.assign(extra_fields);
  // The record is encoded from the head's views: before its bytes are dropped.
  const bool now = auditDecision(type, AuditNext::kLocal);
  evbuffer_drain(bufferevent_get_input(bev_), head_len_);
  head_len_ = 0;
  if (now) sendPendingAnswer();
}

void Connection::sendPendingAnswer() {
  if (pending_answer_) {
    pending_answer_ = false;
    sendLocalAnswer(pending_status_, pending_content_type_, pending_body_, pending_headers_,
                    pending_close_);
    return;
  }
  sendLocalResponse(pending_status_, pending_error_, pending_close_, pending_headers_,
                    pending_fields_);
}

void Connection::auditResponse(int status) {
  audit_response_ = false;
  audit::Producer* producer = worker_.auditProducer();
  if (producer == nullptr) return;
  decided_at_us_ = wallClockUs();
  audit_fields_.clear();
  encodeAuditRecord("response", status, audit_fields_);
  // Not waited for: the decision's record is already durable. A full queue is counted by
  // the log as lost (a gap record says how many).
  if (!producer->submit(audit_fields_, 0)) WorkerStats::inc(worker_.stats().audit_refused);
}

void Connection::sendUpstream() {
  learning_ = runtime_->policy != nullptr && classification_.classified() &&
              classification_.learn_response;
  if (learning_) {
    learn_body_.clear();
    learn_method_.assign(req_.method);
    learn_query_.assign(req_.query);
  }
  evbuffer* in = bufferevent_get_input(bev_);
  WorkerStats& s = worker_.stats();
  const size_t head_len = head_len_;
  upstream_index_ = runtime_->listener_upstream[listener_index_];
  const config::UpstreamConfig& up = cfg().upstreams[upstream_index_];
  scratch_.clear();
  ForwardContext ctx;
  ctx.path = path_;
  ctx.upstream_host = up.host_header;
  ctx.client_ip = peer_ip_;
  ctx.client_tls = tls_;
  ctx.peer_is_trusted_proxy = peer_trusted_;
  ctx.request_id = request_id_;
  ctx.via = cfg().proxy.via;
  if (body_read_ && req_body_kind_ != http1::BodyKind::kNone) ctx.body_length = body_.size();
  signature_.clear();
  if (const auto& creds = runtime_->aws_signers[upstream_index_]) {
    // stepgate signs what it forwards with its own credentials (the caller's signature
    // cannot be checked here and is dropped): Content-Type and X-Amz-Target as forwarded,
    // Host, X-Amz-Date and the body's hash.
    header_views_.clear();
    for (const http1::Header& h : req_.headers) {
      if (http1::equalsIgnoreCase(h.name, "content-type") ||
          http1::equalsIgnoreCase(h.name, "x-amz-target")) {
        header_views_.push_back({h.name, h.value});
      }
    }
    orchestrators::signV4(*creds, req_.method, path_, req_.has_query ? req_.query : "",
                          up.host_header, header_views_, body_,
                          std::chrono::system_clock::now(), signature_);
    ctx.strip_aws_signature = true;
  }
  if (up.identity_assertion) {
    // Who asked, and what the policy allowed, signed by stepgate for the upstream. Inbound
    // copies of the header are always dropped; anonymous requests carry none.
    ctx.strip_header = up.identity_assertion->header;
    if (runtime_->issuer && principal_ && principal_->authenticated()) {
      identity::OperationSummary summary;
      summary.upstream = up.name;
      if (classification_.classified()) {
        summary.workflow = classification_.op.workflow;
        summary.step = classification_.op.step;
        for (unsigned a = 0; a < policy::kActionCount; ++a) {
          const auto action = static_cast<policy::Action>(a);
          if (classification_.op.actions.has(action)) {
            summary.actions.emplace_back(policy::actionName(action));
          }
        }
      }
      auto token = worker_.assertionCache().get(
          *runtime_->issuer, *principal_, summary, up.identity_assertion->audience,
          std::chrono::duration_cast<std::chrono::seconds>(up.identity_assertion->ttl),
          std::chrono::system_clock::now());
      if (token.isOk()) {
        signature_ += up.identity_assertion->header;
        signature_ += ": ";
        signature_ += *token;
        signature_ += "\r\n";
      } else {
        WorkerStats::inc(worker_.stats().assertion_failures);
      }
    }
  }
  if (runtime_->sso) {
    // The sign-in cookies are stepgate's: the upstream never sees them (other cookies go on).
    cookie_rewrites_.clear();
    size_t n = 0;
    for (const http1::Header& h : req_.headers) n += http1::equalsIgnoreCase(h.name, "cookie");
    cookie_rewrites_.reserve(n);  // the views below point into these strings
    static constexpr std::string_view kDropped = "x-stepgate-dropped-cookie";
    for (http1::Header& h : req_.headers) {
      if (!http1::equalsIgnoreCase(h.name, "cookie")) continue;
      cookie_rewrites_.push_back(stripSsoCookies(*runtime_->sso, h.value));
      if (cookie_rewrites_.back().size() == h.value.size()) continue;
      if (!cookie_rewrites_.back().empty()) {
        h.value = cookie_rewrites_.back();
        continue;
      }
      // Nothing left: the header goes as the one forward_headers drops.
      if (ctx.strip_header.empty()) ctx.strip_header = kDropped;
      h.name = ctx.strip_header;
    }
  }
  ctx.extra_headers = signature_;
  appendUpstreamRequestHead(req_, ctx, scratch_);
  evbuffer_drain(in, head_len);
  head_len_ = 0;
  if (ctx.body_length) {
    // The body read for classification goes with the head; nothing is left to pump.
    scratch_.append(body_);
  }

  if (worker_.inflight() >= cfg().limits.max_inflight_upstream) {
    WorkerStats::inc(s.upstream_errors[static_cast<size_t>(UpstreamError::kInflightLimit)]);
    sendLocalResponse(503, "inflight_limit", true);
    return;
  }
  ++worker_.inflight();
  counted_inflight_ = true;
  state_ = State::kUpstream;
  // request_timeout counts from the request's first byte, head included.
  const auto elapsed = config::Duration((nowUs() - request_start_us_) / 1000);
  armTimer(std::max(config::Duration(1), cfg().limits.request_timeout - elapsed));
  acquireUpstream(false);
}

void Connection::acquireUpstream(bool fresh) {
  pool_ = &worker_.pool(upstream_index_);
  UpstreamConnection* c = pool_->acquire(*this, fresh);
  if (c == nullptr) {
    WorkerStats::inc(
        worker_.stats().upstream_errors[static_cast<size_t>(UpstreamError::kConnectFailed)]);
    failUpstream(UpstreamError::kConnectFailed, 502);
    return;
  }
  upstream_ = c;
  if (c->ready()) onUpstreamReady(*c);
}

void Connection::onUpstreamReady(UpstreamConnection& conn) {
  upstream_sent_us_ = nowUs();
  sendOrQueue(conn.bev(), !conn.tls(), scratch_.data(), scratch_.size());
  conn.armTimer(pool_->config().response_timeout);
  if (req_expect_continue_ && !req_body_done_ && !sent_continue_ &&
      evbuffer_get_length(bufferevent_get_input(bev_)) == 0) {
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    sendOrQueue(bev_, !tls_, kContinue, sizeof kContinue - 1);
    sent_continue_ = true;
  }
  pumpRequestBody();
}

void Connection::pumpRequestBody() {
  if (req_body_done_ || upstream_ == nullptr || !upstream_->ready()) return;
  evbuffer* in = bufferevent_get_input(bev_);
  evbuffer* out = upstream_->output();
  const size_t high = cfg().limits.buffer_high_watermark;
  while (!req_body_done_) {
    if (evbuffer_get_length(out) >= high) {
      WorkerStats::inc(worker_.stats().backpressure_pauses);
      return;  // resumed by onUpstreamDrained
    }
    const size_t avail = evbuffer_get_length(in);
    if (avail == 0) return;
    if (req_body_kind_ == http1::BodyKind::kContentLength) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(avail, req_body_remaining_));
      evbuffer_remove_buffer(in, out, n);
      WorkerStats::inc(worker_.stats().bytes_from_clients, static_cast<uint64_t>(n));
      req_body_remaining_ -= n;
      if (req_body_remaining_ == 0) req_body_done_ = true;
      continue;
    }
    evbuffer_iovec v;
    if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1) return;
    const http1::ChunkedDecoder::Result r =
        req_chunks_.next({static_cast<const char*>(v.iov_base), v.iov_len});
    evbuffer_drain(in, r.consumed);
    WorkerStats::inc(worker_.stats().bytes_from_clients, static_cast<uint64_t>(r.consumed));
    switch (r.step) {
      case http1::ChunkedDecoder::Step::kNeedMore:
        break;
      case http1::ChunkedDecoder::Step::kData:
        appendChunkHeader(out, r.data_len);
        evbuffer_remove_buffer(in, out, r.data_len);
        evbuffer_add(out, "\r\n", 2);
        WorkerStats::inc(worker_.stats().bytes_from_clients, static_cast<uint64_t>(r.data_len));
        break;
      case http1::ChunkedDecoder::Step::kDone:
        evbuffer_add(out, "0\r\n\r\n", 5);
        req_body_done_ = true;
        break;
      case http1::ChunkedDecoder::Step::kError:
        WorkerStats::inc(worker_.stats().parser_rejections[static_cast<size_t>(r.error)]);
        releaseUpstream(false);
        if (resp_started_) {
          closeNow();
        } else {
          sendLocalResponse(http1::parseErrorHttpStatus(r.error), http1::parseErrorName(r.error),
                            true);
        }
        return;
    }
  }
}

// ---- upstream side -----------------------------------------------------------------------

void Connection::onUpstreamConnectFailure(UpstreamError error) {
  upstream_ = nullptr;  // already destroyed by the pool
  if (resp_started_) {
    closeNow();
    return;
  }
  const bool timeout = error == UpstreamError::kConnectTimeout;
  endInflight();
  sendLocalResponse(timeout ? 504 : 502, upstreamErrorName(error), !req_body_done_);
  // Called from the upstream's callbacks: a pipelined request may be waiting.
  if (state_ == State::kIdle) processInput();
}

void Connection::onUpstreamDrained(UpstreamConnection&) { pumpRequestBody(); }

void Connection::onUpstreamData(UpstreamConnection&) { pumpResponse(); }

void Connection::onUpstreamTimeout(UpstreamConnection&) {
  failUpstream(UpstreamError::kResponseTimeout, 504);
}

void Connection::onUpstreamClosed(UpstreamConnection& conn, bool eof) {
  WorkerStats& s = worker_.stats();
  const bool nothing_received = !resp_head_done_ && evbuffer_get_length(conn.input()) == 0;
  if (nothing_received && conn.reused() && !retried_ && req_idempotent_ &&
      req_body_kind_ == http1::BodyKind::kNone) {
    // A pooled connection the upstream had closed: the request never reached it.
    retried_ = true;
    WorkerStats::inc(s.upstream_retries);
    releaseUpstream(false);
    acquireUpstream(true);
    return;
  }
  if (resp_head_done_ && resp_.body == http1::BodyKind::kUntilClose && eof) {
    // The close delimits the body: pass on what is left, then end the response.
    evbuffer* uin = conn.input();
    evbuffer* out = bufferevent_get_output(bev_);
    const size_t n = evbuffer_get_length(uin);
    if (n > 0) {
      if (learning_) captureResponse(uin, n);
      if (resp_framing_ == static_cast<uint8_t>(ResponseFraming::kChunked)) {
        appendChunkHeader(out, n);
        evbuffer_remove_buffer(uin, out, n);
        evbuffer_add(out, "\r\n", 2);
      } else {
        evbuffer_remove_buffer(uin, out, n);
      }
      resp_bytes_ += n;
    }
    finishResponse();
    return;
  }
  if (!resp_head_done_) {
    // Whatever arrived is an incomplete head: try to parse it once more, else 502.
    failUpstream(UpstreamError::kReset, 502);
    return;
  }
  WorkerStats::inc(s.upstream_errors[static_cast<size_t>(UpstreamError::kReset)]);
  releaseUpstream(false);
  closeNow();
}

void Connection::pumpResponse() {
  if (upstream_ == nullptr) return;
  if (!resp_head_done_) {
    if (!parseResponseHead()) return;
  }
  evbuffer* uin = upstream_->input();
  evbuffer* out = bufferevent_get_output(bev_);
  const bool rechunk = resp_framing_ == static_cast<uint8_t>(ResponseFraming::kChunked);
  while (upstream_ != nullptr) {
    if (clientOutputFull()) {
      WorkerStats::inc(worker_.stats().backpressure_pauses);
      upstream_->enableRead(false);  // resumed by onClientWrite
      return;
    }
    const size_t avail = evbuffer_get_length(uin);
    if (avail == 0) return;
    switch (resp_.body) {
      case http1::BodyKind::kContentLength: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(avail, resp_remaining_));
        if (learning_) captureResponse(uin, n);
        evbuffer_remove_buffer(uin, out, n);
        resp_bytes_ += n;
        resp_remaining_ -= n;
        if (resp_remaining_ == 0) {
          finishResponse();
          return;
        }
        break;
      }
      case http1::BodyKind::kUntilClose: {
        if (learning_) captureResponse(uin, avail);
        if (rechunk) appendChunkHeader(out, avail);
        evbuffer_remove_buffer(uin, out, avail);
        if (rechunk) evbuffer_add(out, "\r\n", 2);
        resp_bytes_ += avail;
        break;
      }
      case http1::BodyKind::kChunked: {
        evbuffer_iovec v;
        if (evbuffer_peek(uin, -1, nullptr, &v, 1) < 1) return;
        const http1::ChunkedDecoder::Result r =
            resp_chunks_.next({static_cast<const char*>(v.iov_base), v.iov_len});
        evbuffer_drain(uin, r.consumed);
        if (r.step == http1::ChunkedDecoder::Step::kData) {
          if (learning_) captureResponse(uin, r.data_len);
          if (rechunk) appendChunkHeader(out, r.data_len);
          evbuffer_remove_buffer(uin, out, r.data_len);
          if (rechunk) evbuffer_add(out, "\r\n", 2);
          resp_bytes_ += r.data_len;
        } else if (r.step == http1::ChunkedDecoder::Step::kDone) {
          finishResponse();
          return;
        } else if (r.step == http1::ChunkedDecoder::Step::kError) {
          WorkerStats::inc(
              worker_.stats().upstream_errors[static_cast<size_t>(UpstreamError::kBadResponse)]);
          releaseUpstream(false);
          closeNow();
          return;
        }
        break;
      }
      case http1::BodyKind::kNone:
        return;
    }
  }
}

bool Connection::parseResponseHead() {
  evbuffer* uin = upstream_->input();
  http1::Limits limits = limits_;
  limits.max_body_bytes = 0;
  while (true) {
    const size_t len = evbuffer_get_length(uin);
    if (len == 0) return false;
    const size_t want = std::min(len, limits.max_header_bytes + 1);
    const char* p =
        reinterpret_cast<const char*>(evbuffer_pullup(uin, static_cast<ssize_t>(want)));
    const http1::HeadScan scan = http1::findHeadEnd({p, want}, resp_scanned_, limits);
    if (scan.state == http1::HeadScan::State::kNeedMore) return false;
    http1::ParseError e = scan.error;
    if (scan.state == http1::HeadScan::State::kComplete) {
      e = http1::parseResponseHead({p, scan.head_len}, limits, req_is_head_, resp_);
    }
    if (e == http1::ParseError::kNone && resp_.status == 101) e = http1::ParseError::kBadStatusLine;
    if (e != http1::ParseError::kNone) {
      failUpstream(UpstreamError::kBadResponse, 502);
      return false;
    }
    if (resp_.status < 200) {
      // Interim responses (100, 102, 103) are not passed on: the final one follows.
      evbuffer_drain(uin, scan.head_len);
      resp_scanned_ = 0;
      continue;
    }
    worker_.stats().upstream_latency.observe(nowUs() - upstream_sent_us_);
    upstream_->armTimer(config::Duration(0));

    ResponseFraming framing = ResponseFraming::kNone;
    switch (resp_.body) {
      case http1::BodyKind::kNone:
        framing = ResponseFraming::kNone;
        break;
      case http1::BodyKind::kContentLength:
        framing = ResponseFraming::kContentLength;
        resp_remaining_ = resp_.content_length;
        break;
      case http1::BodyKind::kChunked:
      case http1::BodyKind::kUntilClose:
        framing = req_http10_ ? ResponseFraming::kClose : ResponseFraming::kChunked;
        resp_chunks_.reset();
        break;
    }
    resp_framing_ = static_cast<uint8_t>(framing);
    resp_close_ = !req_keep_alive_ || draining_ || worker_.draining() ||
                  framing == ResponseFraming::kClose || !req_body_done_;
    scratch_.clear();
    ResponseOptions opts;
    opts.framing = framing;
    opts.close = resp_close_;
    opts.keep_alive_10 = req_http10_ && !resp_close_;
    opts.head_request = req_is_head_;
    opts.request_id = request_id_;
    appendClientResponseHead(resp_, opts, scratch_);
    if (!session_refresh_.empty() && scratch_.size() >= 2) {
      // The session was used with less than half its idle time left: re-issued here.
      scratch_.insert(scratch_.size() - 2, session_refresh_);
    }
    evbuffer_drain(uin, scan.head_len);
    resp_head_done_ = true;
    resp_started_ = true;
    recordResponse(resp_.status);
    // A small body that has fully arrived goes out in the same write as the head: one TLS
    // record and one syscall instead of two. Larger bodies are moved, never copied.
    if (resp_.body == http1::BodyKind::kContentLength && resp_remaining_ > 0 &&
        resp_remaining_ <= kCoalesceBytes && evbuffer_get_length(uin) >= resp_remaining_) {
      const size_t head = scratch_.size();
      const size_t n = static_cast<size_t>(resp_remaining_);
      if (learning_) captureResponse(uin, n);
      scratch_.resize(head + n);
      evbuffer_remove(uin, scratch_.data() + head, n);
      resp_bytes_ += n;
      resp_remaining_ = 0;
    }
    sendOrQueue(bev_, !tls_, scratch_.data(), scratch_.size());
    if (resp_.body == http1::BodyKind::kNone ||
        (resp_.body == http1::BodyKind::kContentLength && resp_remaining_ == 0)) {
      finishResponse();
      return false;
    }
    return true;
  }
}

void Connection::captureResponse(evbuffer* from, size_t n) {
  const size_t room = orchestrators::Profile::kMaxLearnBytes - learn_body_.size();
  const size_t take = std::min(n, room);
  if (take == 0) return;
  const size_t at = learn_body_.size();
  learn_body_.resize(at + take);
  evbuffer_copyout(from, learn_body_.data() + at, take);
}

void Connection::learnFromResponse() {
  learning_ = false;
  const size_t up_index = runtime_->listener_upstream[listener_index_];
  const orchestrators::ResolverSharedPtr& resolver = runtime_->resolvers[up_index];
  if (!resolver || resp_.status < 200 || resp_.status >= 300) return;
  // The head's bytes are gone by now: learn() sees method, path, query and body only.
  orchestrators::RequestView view;
  view.method = learn_method_;
  view.path = path_;
  view.query = learn_query_;
  view.body_read = body_read_;
  view.body = body_;
  view.json = body_json_ ? &*body_json_ : nullptr;
  std::vector<orchestrators::Learned> learned;
  runtime_->profiles[up_index]->learn(view, classification_, resp_.status, learn_body_, learned);
  for (const orchestrators::Learned& l : learned) resolver->remember(l);
}

void Connection::finishResponse() {
  if (learning_) learnFromResponse();
  if (audit_response_) auditResponse(resp_.status);
  if (resp_framing_ == static_cast<uint8_t>(ResponseFraming::kChunked)) {
    sendOrQueue(bev_, !tls_, "0\r\n\r\n", 5);
  }
  const bool reusable = resp_.keep_alive && req_body_done_ &&
                        resp_.body != http1::BodyKind::kUntilClose;
  releaseUpstream(reusable);
  endInflight();
  WorkerStats& s = worker_.stats();
  s.request_latency.observe(nowUs() - request_start_us_);
  WorkerStats::inc(s.bytes_to_clients, resp_bytes_);
  if (resp_close_) {
    state_ = State::kClosing;
    beginClose();
    return;
  }
  resetForNextRequest();
  if (draining_ || worker_.draining()) {
    closeNow();
    return;
  }
  processInput();
}

void Connection::failUpstream(UpstreamError error, int status) {
  if (error != UpstreamError::kConnectFailed) {
    WorkerStats::inc(worker_.stats().upstream_errors[static_cast<size_t>(error)]);
  }
  releaseUpstream(false);
  if (resp_started_) {
    closeNow();
    return;
  }
  endInflight();
  sendLocalResponse(status, upstreamErrorName(error), !req_body_done_);
  // Called from the upstream's callbacks: a pipelined request may be waiting.
  if (state_ == State::kIdle) processInput();
}

void Connection::releaseUpstream(bool reusable) {
  if (upstream_ == nullptr) return;
  UpstreamConnection* c = upstream_;
  upstream_ = nullptr;
  pool_->release(c, reusable);
}

void Connection::endInflight() {
  if (counted_inflight_) {
    --worker_.inflight();
    counted_inflight_ = false;
  }
}

// ---- local responses and lifecycle -------------------------------------------------------

void Connection::sendLocalBody(int status, std::string_view content_type, std::string_view body,
                               bool close) {
  sendLocalAnswer(status, content_type, body, "Cache-Control: max-age=300\r\n", close);
}

void Connection::sendLocalAnswer(int status, std::string_view content_type, std::string_view body,
                                 std::string_view extra_headers, bool close) {
  releaseUpstream(false);
  endInflight();
  if (request_id_[0] == '\0') worker_.newRequestId(request_id_);
  close = close || !req_keep_alive_ || draining_ || worker_.draining();
  scratch_.clear();
  char line[64];
  const int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reasonPhrase(status));
  scratch_.append(line, static_cast<size_t>(n));
  scratch_.append("Content-Type: ");
  scratch_.append(content_type);
  scratch_.append("\r\n");
  scratch_.append(extra_headers);
  scratch_.append("Content-Length: ");
  json::appendUint(scratch_, body.size());
  scratch_.append("\r\nX-Request-Id: ");
  scratch_.append(request_id_);
  scratch_.append("\r\n");
  if (close) scratch_.append("Connection: close\r\n");
  scratch_.append("\r\n");
  if (!req_is_head_) scratch_.append(body);
  sendOrQueue(bev_, !tls_, scratch_.data(), scratch_.size());
  recordResponse(status);
  if (close) {
    state_ = State::kClosing;
    beginClose();
    return;
  }
  resetForNextRequest();
}

void Connection::sendLocalResponse(int status, std::string_view error, bool close,
                                   std::string_view extra_headers,
                                   std::string_view extra_fields) {
  releaseUpstream(false);
  endInflight();
  if (request_id_[0] == '\0') worker_.newRequestId(request_id_);
  close = close || !req_keep_alive_ || draining_ || worker_.draining();
  std::string body;
  body.reserve(128);
  body.append("{\"error\":");
  json::appendString(body, error);
  body.append(extra_fields);
  body.append(",\"status\":");
  json::appendUint(body, static_cast<uint64_t>(status));
  body.append(",\"request_id\":");
  json::appendString(body, request_id_);
  body.append("}\n");
  scratch_.clear();
  char line[64];
  const int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reasonPhrase(status));
  scratch_.append(line, static_cast<size_t>(n));
  scratch_.append("Content-Type: application/json\r\nContent-Length: ");
  json::appendUint(scratch_, body.size());
  scratch_.append("\r\nX-Request-Id: ");
  scratch_.append(request_id_);
  scratch_.append("\r\n");
  scratch_.append(extra_headers);
  if (close) scratch_.append("Connection: close\r\n");
  scratch_.append("\r\n");
  scratch_.append(body);
  sendOrQueue(bev_, !tls_, scratch_.data(), scratch_.size());
  recordResponse(status);
  worker_.stats().request_latency.observe(nowUs() - request_start_us_);
  if (status >= 400) {
    // Refusals of client input are counted in metrics; logging each would let a flood of
    // bad requests flood the log, so they are logged at debug level only.
    log::Level lvl = status >= 500 ? log::Level::kWarn : log::Level::kDebug;
    if (log::enabled(lvl)) {
      log::write(lvl, "proxy", "request refused",
                 {{"status", status}, {"reason", error}, {"peer", peer_ip_}}, request_id_);
    }
  }
  if (close) {
    state_ = State::kClosing;
    beginClose();
    return;
  }
  resetForNextRequest();
}

void Connection::beginClose() {
  // Stop taking new requests; onClientRead discards input in kClosing. The write callback
  // fires once the output is empty (write low watermark 0), then we half-close and linger.
  bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);
  armTimer(config::Duration(5000));
  if (evbuffer_get_length(bufferevent_get_output(bev_)) == 0) onClientWrite(bev_, this);
}

void Connection::resetForNextRequest() {
  state_ = State::kIdle;
  head_scanned_ = 0;
  resp_scanned_ = 0;
  resp_head_done_ = false;
  resp_started_ = false;
  resp_close_ = false;
  resp_bytes_ = 0;
  resp_remaining_ = 0;
  sent_continue_ = false;
  retried_ = false;
  request_id_[0] = '\0';
  armTimer(cfg().limits.idle_timeout);
}

void Connection::closeNow() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kAuthWait) {
    worker_.unpark(this);
    if (waiting_introspection_) worker_.removeIntrospectionWait(introspection_wait_);
    if (waiting_sso_) worker_.removeSsoWait(sso_wait_);
  }
  if (state_ == State::kLookupWait) worker_.removeLookupWait(lookup_wait_);
  if (state_ == State::kAuditWait) worker_.removeAuditWait(audit_wait_);
  state_ = State::kClosed;
  releaseUpstream(false);
  endInflight();
  evtimer_del(timer_.get());
  if (bev_ != nullptr) {
    if (tls_) {
      // Send close_notify (best effort, never blocking). Freeing an SSL that did not shut
      // down makes OpenSSL drop its session from the cache, which defeats resumption.
      SSL* ssl = bufferevent_openssl_get_ssl(bev_);
      if (ssl != nullptr && SSL_is_init_finished(ssl)) SSL_shutdown(ssl);
      ERR_clear_error();
    }
    bufferevent_free(bev_);
    bev_ = nullptr;
  }
  worker_.removeConnection(this);
}

}  // namespace stepgate::proxy
