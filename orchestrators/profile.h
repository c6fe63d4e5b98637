#pragma once
// Profile: how one upstream's API maps a request to a policy Operation (DESIGN.md, "The
// operation model"; docs/orchestrators.md). A profile is built once per config generation on
// the control thread, then immutable and shared by every worker: every member is const, pure
// (no I/O, no clock, no globals) and safe from any number of threads at once.
//
// Classification is a small conversation with the proxy:
//
//   classify(view)            → kClassified     op (+ `also` for bulk calls) is final
//                             → kNeedsBody      read the body (bounded), parse it, call again
//                             → kNeedsLookup    resolve every key in `lookups`, call again with
//                                               the answers in view.lookups
//                             → kUnclassified   denied with reason `unclassified`
//
// A profile asks for the body only on routes whose meaning is in the body, and for a lookup
// only when the request names an id whose workflow it cannot see. On the second call it must
// not ask for the same thing again (the proxy treats a repeated ask as unclassified). A lookup
// the orchestrator could not answer is passed as a LookupResult with found == false (and
// failed == true when it could not be asked at all); the profile then leaves op.workflow
// empty and sets op.execution, which the policy denies as `unresolved` (fail closed). A
// profile that reads "unknown id" as meaningful (a create that must not replace anything)
// must check `failed` and not treat a failure as "unknown".
//
// Lookups are made by the Resolver (orchestrators/resolver.h) with lookupCall() and
// parseLookup(); answers that never change (an execution's workflow) are cached. learn() turns
// a response the proxy relayed into cache entries (a start response names the new execution,
// a poll response hands out task tokens), so later calls resolve without a lookup.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "config/schema.h"
#include "policy/operation.h"

namespace stepgate::orchestrators {

struct HeaderView {
  std::string_view name;   // as sent; compare case-insensitively
  std::string_view value;
};

// What to look up. `kind` is the profile's own numbering; `scope` narrows ids that are unique
// only within something (a Temporal or Argo namespace); `id2` is a second key part (a run id).
struct LookupKey {
  uint8_t kind = 0;
  std::string scope;
  std::string id;
  std::string id2;

  bool operator==(const LookupKey&) const = default;
};

// What the orchestrator said about a LookupKey. Immutable once made; shared between requests.
struct LookupResult {
  bool found = false;        // false: unknown id, or the orchestrator could not be asked
  // With found == false: true when the orchestrator could not be asked or its answer was
  // unusable (transport failure, 5xx, timeout, shed), false when it said the id is unknown.
  bool failed = false;
  std::string workflow;      // workflow (definition / type / state machine / template) name
  std::string version;
  std::string execution;     // the execution the id belongs to (for a task or a token)
  std::string step;          // the step the id names (a task's reference name)
  std::string started_by;    // who started the execution, when the orchestrator records it
  std::vector<std::string> steps;  // kind-specific: an execution's steps (Argo node ids)
};

using LookupResultConstSharedPtr = std::shared_ptr<const LookupResult>;

struct ResolvedLookup {
  const LookupKey* key = nullptr;
  const LookupResult* result = nullptr;
};

// What a profile sees of a request. Every view must outlive the classify() call.
struct RequestView {
  std::string_view method;  // as sent, e.g. "POST"
  std::string_view path;    // normalised, without the query; this is what is forwarded
  std::string_view query;   // after '?', still percent-encoded; empty if none
  std::span<const HeaderView> headers;
  // Set once the profile asked for the body: its bytes (de-chunked), and its parse when it is
  // a JSON document within the limits (null otherwise: empty, not JSON, duplicate members).
  bool body_read = false;
  std::string_view body;
  const JsonValue* json = nullptr;
  // The answers to the lookups the profile asked for (second call onwards).
  std::span<const ResolvedLookup> lookups;

  // The first field named `name` (ASCII case-insensitive); empty if absent.
  std::string_view header(std::string_view name) const noexcept;
  // The answer for `key`, or null when it was not asked for.
  const LookupResult* lookup(const LookupKey& key) const noexcept;
};

enum class Outcome : uint8_t { kClassified, kNeedsBody, kNeedsLookup, kUnclassified };

struct Classification {
  Outcome outcome = Outcome::kUnclassified;
  policy::Operation op;  // kClassified: the operation; op.upstream is always set
  // Bulk calls: further operations of the same request. Every one must be allowed.
  std::vector<policy::Operation> also;
  std::vector<LookupKey> lookups;  // kNeedsLookup: resolve all of these
  // kUnclassified: why, for logs and `stepgate profiles`; a static string.
  std::string_view why;
  // Pass the response (status and up to kMaxLearnBytes of body) to Profile::learn().
  bool learn_response = false;

  bool classified() const noexcept { return outcome == Outcome::kClassified; }
  // Clears everything, keeping the strings' and vectors' capacity, and sets op.upstream.
  void reset(std::string_view upstream);
  // Sets outcome kUnclassified with `reason` and clears the operation's actions.
  void unclassified(std::string_view reason) noexcept;
};

// A lookup request to the orchestrator's read API (made with stepgate's own credentials).
struct LookupCall {
  std::string method = "GET";
  std::string target;        // path and query, e.g. "/api/workflow/ID?includeTasks=false"
  std::string body;          // for POST lookups (Step Functions)
  std::string content_type;  // with a body
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. X-Amz-Target
};

// An entry learnt from a relayed response, for the resolver's cache.
struct Learned {
  LookupKey key;
  LookupResult result;
};

// One row of `stepgate profiles list`: an operation of the API and how it is classified.
struct OperationInfo {
  std::string method;     // "GET", ..., or "POST" with `target` for X-Amz-Target APIs
  std::string path;       // the template, with the server's parameter names
  std::string name;       // the operation's name in the API (e.g. "StartExecution")
  std::string actions;    // "start,define"; "unclassified" when denied by design
  std::string workflow;   // where the workflow comes from ("path {name}", "lookup", "-")
  std::string step;       // where the step comes from
  std::string execution;  // where the execution comes from
  std::string notes;
};

class Profile {
 public:
  static constexpr size_t kMaxLearnBytes = 64 * 1024;

  virtual ~Profile() = default;
  // Fills `out` (reusing its capacity). Never throws for any input.
  virtual void classify(const RequestView& req, Classification& out) const = 0;
  Classification classify(const RequestView& req) const;

  // How to ask the orchestrator about `key`. False: this kind has no lookup (unresolved).
  virtual bool lookupCall(const LookupKey& key, LookupCall& out) const;
  // Reads the orchestrator's answer to lookupCall(key). False: the answer is unusable (a
  // failure, not cached, the request is denied `unresolved`). A 404 is found == false, true.
  virtual bool parseLookup(const LookupKey& key, int status, std::string_view body,
                           LookupResult& out) const;
  // After a request classified with learn_response got its response: what it teaches.
  virtual void learn(const RequestView& req, const Classification& c, int status,
                     std::string_view body, std::vector<Learned>& out) const;
  // Every operation this profile knows, for `stepgate profiles list` and the coverage tests.
  virtual std::vector<OperationInfo> operations() const = 0;
};

using ProfileConstSharedPtr = std::shared_ptr<const Profile>;

// The profile named by `upstream.profile` for `upstream`.
ProfileConstSharedPtr makeProfile(const config::UpstreamConfig& upstream);

// The profile names makeProfile() knows, for the config loader and `stepgate profiles`.
std::span<const std::string_view> profileNames() noexcept;

}  // namespace stepgate::orchestrators
