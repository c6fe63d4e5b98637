#pragma once
// Connection: one client connection on a worker and the request being served on it.
//
// The request path, in order: read the head (limits, 408 on header_timeout) → strict parse
// (proxy/http1/parser.h) → normalise the path (path_normalize.h) → pick the upstream →
// authenticate → classify and evaluate the policy (authorize; 403 on deny) → build the
// upstream head (forward_headers.h) → get a pooled or new upstream connection → stream the
// request body (Content-Length moved as is, chunked de-chunked and re-chunked) →
// parse the response head → stream the response body back → keep-alive or close.
//
// Requests on one connection are served one at a time, so pipelined requests are answered in
// order: bytes after a request wait in the input buffer until its response is complete.
// Backpressure: data moves from one side to the other only while the destination's output
// buffer is below the high watermark; reading from the source stops when its input buffer
// reaches the high watermark and resumes when the destination drains to the low watermark.
// So a slow client or slow upstream holds at most about two watermarks per direction.
//
// Owned by its Worker; used only on the worker's thread; deleted through deferred delete.

#include <event2/bufferevent.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/c_ptr.h"
#include "common/json.h"
#include "common/net_address.h"
#include "identity/authenticator.h"
#include "identity/introspection.h"
#include "orchestrators/profile.h"
#include "policy/decision.h"
#include "proxy/dispatcher.h"
#include "proxy/http1/parser.h"
#include "proxy/runtime.h"
#include "proxy/tls/server_context.h"
#include "proxy/upstream/pool.h"

namespace stepgate::proxy {

class Worker;

class Connection : public DeferredDeletable, public UpstreamCallbacks {
 public:
  // Takes ownership of `fd` and of `ssl` (may be null for plain HTTP).
  Connection(Worker& worker, int fd, const SocketAddress& peer, size_t listener_index,
             SSL* ssl);
  ~Connection() override;

  void start();
  // The keys this request waited for have arrived (or the worker's config changed).
  void resumeAfterKeys();
  // The introspection answer this request waited for.
  void resumeAfterIntrospection(identity::IntrospectionResult result);
  // The OIDC provider's answer this sign-in request waited for (Worker::completeSso).
  void resumeAfterSso(StatusOr<identity::TokenResponse> tokens);
  // The audit log made this request's record durable (ok) or could not (Worker::completeAudit).
  void resumeAfterAudit(uint64_t id, bool ok);
  // The answer to lookup `slot` of wait `id` (Worker::completeLookup).
  void resumeAfterLookup(uint64_t id, size_t slot, orchestrators::LookupResultConstSharedPtr r);
  // Shutdown: close now if between requests, else after the current response.
  void drain();

  // UpstreamCallbacks
  void onUpstreamReady(UpstreamConnection& conn) override;
  void onUpstreamConnectFailure(UpstreamError error) override;
  void onUpstreamData(UpstreamConnection& conn) override;
  void onUpstreamDrained(UpstreamConnection& conn) override;
  void onUpstreamClosed(UpstreamConnection& conn, bool eof) override;
  void onUpstreamTimeout(UpstreamConnection& conn) override;

  std::list<std::unique_ptr<Connection>>::iterator list_pos;

 private:
  enum class State : uint8_t {
    kHandshake,      // TLS handshake in progress
    kIdle,           // between requests, no byte of the next one yet
    kReadingHead,
    kAuthWait,       // head parsed; waiting for a provider's keys to be refetched
    kBodyWait,       // reading a body the profile needs to classify the call
    kLookupWait,     // waiting for execution lookups (orchestrators/resolver.h)
    kAuditWait,      // strict audit: waiting for the decision's record to be durable
    kUpstream,       // head parsed; waiting for, or talking to, the upstream
    kClosing,        // flushing a final response, then close
    kClosed,
  };

  static void onClientRead(bufferevent* bev, void* arg);
  static void onClientWrite(bufferevent* bev, void* arg);
  static void onClientEvent(bufferevent* bev, short what, void* arg);
  static void onTimer(int fd, short what, void* arg);

  void refreshRuntime();
  void processInput();
  void processInputLoop();
  void handleHead(size_t head_len);
  void beginUpstream();
  void acquireUpstream(bool fresh);
  void pumpRequestBody();
  void pumpResponse();
  bool parseResponseHead();
  void finishResponse();
  void failUpstream(UpstreamError error, int status);
  void releaseUpstream(bool reusable);
  // `extra_fields` is JSON text inserted after the "error" field (",\"reason\":...").
  void sendLocalResponse(int status, std::string_view error, bool close,
                         std::string_view extra_headers = {}, std::string_view extra_fields = {});
  // A local 200-style answer with a body of our own (stepgate's JWKS).
  void sendLocalBody(int status, std::string_view content_type, std::string_view body, bool close);
  // The same with `extra_headers` (complete lines) instead of the default Cache-Control.
  void sendLocalAnswer(int status, std::string_view content_type, std::string_view body,
                       std::string_view extra_headers, bool close);
  // Browser sign-in endpoints under sso.path_prefix (proxy/sso_endpoints.h): answered here,
  // before authentication; the ACS form body is read first (at most kSsoMaxBody).
  void startSso();
  void startLocalBodyCollection();
  void finishSso();
  void finishSsoAnswer(const SsoAnswer& answer, bool oidc);
  // Has the OIDC code exchange or refresh made off this thread; resumeAfterSso() goes on.
  void startOidcCall(std::unique_ptr<OidcPending> pending);
  // A browser navigation without a credential: 302 to sign in (true when answered).
  bool redirectToLogin();
  // A stepgate access token (built-in `stepgate` provider) minted for a session since
  // signed out or replaced.
  bool stepgateTokenRevoked(const identity::Principal& p) const;
  // All Cookie headers of the request, joined with "; " (into cookies_).
  std::string_view joinedCookies();
  bool authenticate();
  void refuseAuthentication(identity::AuthError error, int provider);
  // Classifies the request with the upstream's profile (reading the body and waiting for
  // lookups when the profile asks), evaluates the policy, then forwards or answers 403.
  void forwardRequest();
  void continueClassification();
  void startBodyCollection();
  void collectBody();
  void finishLookups();
  // Policy: evaluate classification_ under runtime_'s set. False: denied and answered 403.
  bool authorize();
  void sendUpstream();
  void captureResponse(evbuffer* from, size_t n);
  // Audit (docs/audit.md). What follows a durable decision record.
  enum class AuditNext : uint8_t { kForward, kLocal };
  // Writes the record of the current decision (`type`: request or auth_failure). True: go on
  // now (no audit log, async mode). False: stop here — waiting for durability (strict), or
  // the log refused the record and 503 was answered.
  bool auditDecision(std::string_view type, AuditNext next);
  void encodeAuditRecord(std::string_view type, int status, std::string& out);
  // Answers a decided request locally (a denial, a refused authentication) after its record:
  // drops the head's bytes, then sends at once or when the record is durable.
  void answerDecided(std::string_view type, int status, std::string_view error, bool close,
                     std::string_view extra_headers, std::string_view extra_fields);
  void sendPendingAnswer();
  // After an allowed request's response: its outcome, as a `response` record (not waited for).
  void auditResponse(int status);
  void learnFromResponse();
  void resetForNextRequest();
  void closeNow();
  void beginClose();
  void endInflight();
  void armTimer(config::Duration d);
  bool clientOutputFull() const;
  void recordResponse(int status);
  const config::Config& cfg() const { return *runtime_->config; }

  Worker& worker_;
  RuntimeConstSharedPtr runtime_;  // the snapshot this connection started with
  size_t listener_index_;
  SocketAddress peer_;
  std::string peer_ip_;
  bufferevent* bev_ = nullptr;
  CPtr<event, event_free> timer_;
  State state_ = State::kIdle;
  bool tls_ = false;
  bool draining_ = false;
  bool peer_trusted_ = false;
  identity::ClientCertificate client_cert_;  // filled when the listener has a client CA

  // The current request.
  http1::RequestHead req_;
  http1::Limits limits_;
  size_t head_scanned_ = 0;
  std::string path_;          // normalised
  std::string scratch_;       // head being built
  char request_id_[33] = {0};
  uint64_t request_start_us_ = 0;
  uint64_t upstream_sent_us_ = 0;
  uint64_t req_body_remaining_ = 0;
  bool req_body_done_ = false;
  bool req_body_error_ = false;
  bool sent_continue_ = false;
  bool in_process_input_ = false;
  bool refetched_ = false;           // this request already waited for a key refetch
  bool waiting_introspection_ = false;  // kAuthWait is for an introspection answer
  uint64_t introspection_wait_ = 0;     // the worker's id for that wait
  std::string_view bearer_token_;       // the token being introspected (in the head's bytes)
  bool waiting_sso_ = false;            // kAuthWait is for the OIDC provider (sign-in)
  uint64_t sso_wait_ = 0;               // the worker's id for that wait
  std::unique_ptr<OidcPending> sso_pending_;  // what the provider is being asked
  size_t head_len_ = 0;              // bytes of the current head, still in the input buffer
  identity::PrincipalConstSharedPtr principal_;  // who sent the current request
  orchestrators::Classification classification_;  // reused across requests
  std::vector<orchestrators::HeaderView> header_views_;  // req_.headers for the profile
  // The body read for classification (de-chunked) and its parse; forwarded as is, with a
  // Content-Length.
  std::string body_;
  std::optional<JsonValue> body_json_;
  bool body_read_ = false;
  std::string head_copy_;            // the head's bytes once they left the input buffer
  uint64_t body_expected_ = 0;       // kContentLength: bytes still to read into body_
  int classify_rounds_ = 0;
  std::vector<orchestrators::LookupKey> lookup_keys_;      // asked for, all rounds
  std::vector<orchestrators::LookupResultConstSharedPtr> lookup_results_;
  std::vector<orchestrators::ResolvedLookup> resolved_;
  size_t lookups_waiting_ = 0;
  uint64_t lookup_wait_ = 0;
  bool learning_ = false;            // the profile wants the response (learn_response)
  std::string learn_body_;           // up to Profile::kMaxLearnBytes of it
  std::string learn_query_;          // what learn() sees of the request
  std::string learn_method_;
  std::string signature_;            // SigV4 header lines for the forwarded request
  bool local_body_ = false;          // the body being read is for a local (sign-in) endpoint
  std::string cookies_;              // joinedCookies()
  std::string session_refresh_;      // a Set-Cookie line for the response (idle refresh)
  std::vector<std::string> cookie_rewrites_;  // Cookie values forwarded without ours

  // Audit state of the current request.
  policy::Decision decision_;
  bool decided_ = false;             // decision_ holds the policy's decision
  std::string_view auth_reason_;     // auth_failure: the reason code (a static string)
  int auth_provider_ = -1;
  AuditNext audit_next_ = AuditNext::kForward;
  uint64_t audit_wait_ = 0;
  bool audit_response_ = false;      // write a `response` record when the response ends
  int64_t decided_at_us_ = 0;        // wall clock of the decision
  std::string audit_fields_;         // the record being submitted (capacity reused)
  // The keyed hash of the credential `audit_credential_of_` names (Principal::credential_id).
  std::string audit_credential_;
  std::string audit_credential_of_;
  // The local answer waiting for its record.
  int pending_status_ = 0;
  std::string_view pending_error_;
  bool pending_close_ = false;
  std::string pending_headers_;
  std::string pending_fields_;
  // A sign-in endpoint's answer waiting for its `session` record (sendPendingAnswer()).
  bool pending_answer_ = false;
  std::string pending_content_type_;
  std::string pending_body_;
  std::string_view session_event_;  // static strings of proxy/sso_endpoints.cc
  std::string_view session_via_;
  bool req_keep_alive_ = true;
  bool req_http10_ = false;
  bool req_is_head_ = false;
  bool req_idempotent_ = false;
  bool req_expect_continue_ = false;
  http1::BodyKind req_body_kind_ = http1::BodyKind::kNone;
  bool counted_inflight_ = false;
  bool retried_ = false;
  size_t upstream_index_ = 0;
  http1::ChunkedDecoder req_chunks_;

  UpstreamConnection* upstream_ = nullptr;
  UpstreamPool* pool_ = nullptr;

  // The response.
  http1::ResponseHead resp_;
  size_t resp_scanned_ = 0;
  bool resp_head_done_ = false;
  bool resp_started_ = false;   // any byte of a response sent to the client
  bool resp_close_ = false;     // close the client connection after this response
  uint8_t resp_framing_ = 0;    // ResponseFraming
  uint64_t resp_remaining_ = 0;
  http1::ChunkedDecoder resp_chunks_;
  uint64_t resp_bytes_ = 0;
};

}  // namespace stepgate::proxy
