// The Temporal profile: coverage of the vendored HTTP API spec (every path and method of
// openapiv2.json, every gRPC-only RPC of the service protos), and the hard cases: bodies in
// both protojson spellings, path variables the server lets win over the body, task tokens,
// calls that may act on another run under the same workflow id, batches, schedules, lookups
// and what a start response teaches.

#include "orchestrators/temporal.h"

#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {
namespace {

using policy::Action;
using policy::ActionSet;
namespace tp = temporal;

ProfileConstSharedPtr profile() {
  config::UpstreamConfig u;
  u.name = "temporal-prod";
  u.profile = "temporal";
  return makeTemporalProfile(u);
}

std::string readFixture(const std::string& rel) {
  std::ifstream in(std::string(STEPGATE_SOURCE_DIR) + "/tests/fixtures/specs/temporal/" + rel,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- Task tokens, built the way the server serialises them ----------------------------

void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void putString(std::string& out, int field, std::string_view s) {
  putVarint(out, static_cast<uint64_t>(field) << 3 | 2);
  putVarint(out, s.size());
  out.append(s);
}

struct TokenSpec {
  std::string namespace_id = "ns-uuid-1";
  std::string workflow_id = "order-42";
  std::string run_id = "run-7";
  int64_t scheduled_event_id = 5;
  std::string activity_id = "charge-card";
  std::string workflow_type = "harmless";  // never trusted
  std::string activity_type = "harmless-activity";
};

std::string tokenBytes(const TokenSpec& t) {
  std::string b;
  putString(b, 1, t.namespace_id);
  putString(b, 2, t.workflow_id);
  putString(b, 3, t.run_id);
  if (t.scheduled_event_id != 0) {
    putVarint(b, 4 << 3 | 0);
    putVarint(b, static_cast<uint64_t>(t.scheduled_event_id));
  }
  putVarint(b, 5 << 3 | 0);  // attempt
  putVarint(b, 1);
  putString(b, 6, t.activity_id);
  putString(b, 7, t.workflow_type);
  putString(b, 8, t.activity_type);
  putVarint(b, 11 << 3 | 0);  // version
  putVarint(b, 300);
  return b;
}

std::string base64(std::string_view in, bool url = false, bool pad = true) {
  const char* alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16 | static_cast<uint8_t>(in[i + 1]) << 8 |
                       static_cast<uint8_t>(in[i + 2]);
    for (int k = 3; k >= 0; --k)
      out.push_back(alphabet[(v >> (6 * k)) & 63]);
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    if (pad)
      out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16 | static_cast<uint8_t>(in[i + 1]) << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    if (pad)
      out += "=";
  }
  return out;
}

std::string tokenBody(const TokenSpec& t = {}) {
  return R"({"taskToken":")" + base64(tokenBytes(t)) + R"(","identity":"worker-1"})";
}

// ---- A classification conversation ---------------------------------------------------

using Answers = std::function<LookupResult(const LookupKey&)>;

LookupResult found(std::string workflow, std::string execution = {}) {
  LookupResult r;
  r.found = true;
  r.workflow = std::move(workflow);
  r.execution = std::move(execution);
  return r;
}

// Plausible answers: every execution is an `order-fulfillment` run, nothing else runs under a
// workflow id, schedules start `nightly-report`, namespaces have the id the test tokens carry.
LookupResult defaultAnswer(const LookupKey& k) {
  switch (k.kind) {
    case tp::kExecution:
      return found("order-fulfillment", k.id2.empty() ? "run-current" : k.id2);
    case tp::kCurrentRun:
      return found("");
    case tp::kSchedule:
      return found("nightly-report");
    case tp::kNamespace:
      return found("", "ns-uuid-1");
    default:
      return {};
  }
}

struct Talk {
  Classification c;
  bool asked_body = false;
  std::vector<LookupKey> keys;
};

// Classifies, reading `body` when asked and answering lookups with `answers`, until the
// profile gives a final answer. A repeated ask fails the test (the proxy would deny it).
Talk drive(const Profile& p, std::string method, std::string target, std::string body = {},
           const Answers& answers = defaultAnswer) {
  Talk run;
  const size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  const std::string query = q == std::string::npos ? std::string() : target.substr(q + 1);
  RequestView v{method, path, query};
  std::optional<JsonValue> json;
  std::deque<LookupKey> keys;
  std::deque<LookupResult> results;
  std::vector<ResolvedLookup> resolved;
  for (int round = 0; round < 4; ++round) {
    p.classify(v, run.c);
    if (run.c.outcome == Outcome::kNeedsBody) {
      EXPECT_FALSE(run.asked_body) << "asked for the body twice: " << target;
      if (run.asked_body)
        break;
      run.asked_body = true;
      v.body_read = true;
      v.body = body;
      auto parsed = parseJson(body);
      if (parsed.isOk()) {
        json = std::move(*parsed);
        v.json = &*json;
      }
      continue;
    }
    if (run.c.outcome == Outcome::kNeedsLookup) {
      EXPECT_FALSE(run.c.lookups.empty());
      for (const LookupKey& k : run.c.lookups) {
        for (const LookupKey& seen : keys)
          EXPECT_FALSE(seen == k) << "asked again: " << k.id;
        keys.push_back(k);
        results.push_back(answers(k));
        run.keys.push_back(k);
      }
      resolved.clear();
      for (size_t i = 0; i < keys.size(); ++i)
        resolved.push_back({&keys[i], &results[i]});
      v.lookups = resolved;
      continue;
    }
    return run;
  }
  ADD_FAILURE() << "no final answer for " << method << " " << target;
  return run;
}

// ---- Coverage ------------------------------------------------------------------------

// "/a/{x}/b/{y.z}" → "/a/{}/b/{}".
std::string shape(std::string_view path) {
  std::string out;
  bool in_var = false;
  for (const char c : path) {
    if (c == '{') {
      in_var = true;
      out += "{}";
    } else if (c == '}') {
      in_var = false;
    } else if (!in_var) {
      out += c;
    }
  }
  return out;
}

// A concrete path for a template: plausible ids, `ns1` for the namespace.
std::string concrete(std::string_view path) {
  std::string out;
  size_t i = 0;
  int n = 0;
  while (i < path.size()) {
    if (path[i] == '{') {
      const size_t end = path.find('}', i);
      const std::string_view name = path.substr(i + 1, end - i - 1);
      if (name == "namespace") {
        out += "ns1";
      } else if (name.find("orkflowId") != std::string_view::npos) {
        out += "order-42";
      } else if (name == "activityId") {
        out += "charge-card";
      } else {
        out += "id" + std::to_string(++n);
      }
      i = end + 1;
    } else {
      out += path[i++];
    }
  }
  return out;
}

const char* kStartBody =
    R"({"workflowType":{"name":"order-fulfillment"},"taskQueue":{"name":"q"}})";
const char* kScheduleBody =
    R"({"schedule":{"action":{"startWorkflow":{"workflowType":{"name":"nightly-report"}}}}})";

// The bodies a request of `op` is tried with; the classified actions of all of them together
// must be the row's actions (one body for most operations, one per variant for the calls
// whose action depends on the body).
std::vector<std::string> bodiesFor(std::string op) {
  while (!op.empty() && op.back() >= '0' && op.back() <= '9')
    op.pop_back();
  static const std::set<std::string> kToken = {
      "RespondActivityTaskCompleted", "RespondActivityTaskFailed", "RespondActivityTaskCanceled",
      "RecordActivityTaskHeartbeat"};
  if (kToken.count(op))
    return {tokenBody()};
  if (op == "RegisterNamespace")
    return {R"({"namespace":"ns1"})"};
  if (op == "StartWorkflowExecution" || op == "SignalWithStartWorkflowExecution") {
    return {kStartBody};
  }
  if (op == "CreateSchedule" || op == "UpdateSchedule")
    return {kScheduleBody};
  if (op == "PatchSchedule") {
    return {R"({"patch":{"triggerImmediately":{}}})", R"({"patch":{"pause":"maintenance"}})",
            R"({"patch":{"unpause":"done"}})"};
  }
  if (op == "StartBatchOperation") {
    std::vector<std::string> out;
    for (const char* o :
         {"terminationOperation", "signalOperation", "cancellationOperation", "deletionOperation",
          "resetOperation", "updateWorkflowOptionsOperation", "unpauseActivitiesOperation",
          "resetActivitiesOperation", "updateActivityOptionsOperation", "cancelActivitiesOperation",
          "terminateActivitiesOperation", "deleteActivitiesOperation"}) {
      out.push_back(std::string(R"({"visibilityQuery":"WorkflowType='x'",")") + o + R"(":{}})");
    }
    return out;
  }
  if (op == "PauseActivity" || op == "UnpauseActivity" || op == "ResetActivity" ||
      op == "UpdateActivityOptions") {
    return {R"({"execution":{"workflowId":"order-42","runId":"run-7"},"id":"charge-card"})"};
  }
  if (op.find("ById") != std::string::npos || op.find("ActivityExecution") != std::string::npos) {
    return {R"({"workflowId":"order-42","runId":"run-7"})"};
  }
  return {"{}"};
}

struct SpecOp {
  std::string method;
  std::string path;
  std::string id;
};

std::vector<SpecOp> specOperations() {
  const std::string text = readFixture("openapiv2.json");
  JsonLimits limits;
  limits.max_bytes = 8u << 20;
  limits.max_depth = 128;
  auto doc = parseJson(text, limits);
  EXPECT_TRUE(doc.isOk()) << "cannot parse openapiv2.json";
  std::vector<SpecOp> ops;
  if (!doc.isOk())
    return ops;
  const JsonValue* paths = doc->find("paths");
  EXPECT_NE(paths, nullptr);
  if (paths == nullptr)
    return ops;
  for (const JsonMember& p : paths->asObject()) {
    for (const JsonMember& m : p.value.asObject()) {
      if (m.name == "parameters")
        continue;
      std::string method = m.name;
      for (char& c : method)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const JsonValue* id = m.value.find("operationId");
      ops.push_back({method, p.name, id != nullptr && id->isString() ? id->asString() : ""});
    }
  }
  return ops;
}

TEST(TemporalCoverage, EveryOperationOfTheSpecIsListedAndClassified) {
  const auto p = profile();
  const std::vector<OperationInfo> rows = p->operations();
  const std::vector<SpecOp> spec = specOperations();
  ASSERT_EQ(spec.size(), 226u) << "the vendored spec changed: review every new operation";
  for (const SpecOp& s : spec) {
    SCOPED_TRACE(s.method + " " + s.path + " (" + s.id + ")");
    const OperationInfo* row = nullptr;
    for (const OperationInfo& r : rows) {
      if (r.method == s.method && shape(r.path) == shape(s.path)) {
        EXPECT_EQ(row, nullptr) << "two rows for one operation";
        row = &r;
      }
    }
    ASSERT_NE(row, nullptr) << "no row in operations()";
    std::string id = s.id;
    while (!id.empty() && id.back() >= '0' && id.back() <= '9')
      id.pop_back();
    EXPECT_EQ(row->name, id);
    const std::string path = concrete(s.path);
    if (row->actions == "unclassified") {
      const Talk run = drive(*p, s.method, path, "{}");
      EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
      continue;
    }
    ActionSet all;
    for (const std::string& body : bodiesFor(s.id)) {
      SCOPED_TRACE(body);
      const Talk run = drive(*p, s.method, path, body);
      ASSERT_EQ(run.c.outcome, Outcome::kClassified) << run.c.why;
      EXPECT_FALSE(run.c.op.actions.empty());
      EXPECT_EQ(run.c.op.upstream, "temporal-prod");
      if (s.path.find("{namespace}") != std::string::npos ||
          s.id.rfind("RegisterNamespace", 0) == 0) {
        EXPECT_EQ(run.c.op.namespace_name, "ns1");
      }
      if (row->workflow != "-") {
        EXPECT_FALSE(run.c.op.workflow.empty()) << "the row says " << row->workflow;
      } else {
        EXPECT_EQ(run.c.op.workflow, "");
        EXPECT_EQ(run.c.op.execution, "") << "a widened call must not look unresolved";
      }
      all = ActionSet::fromBits(all.bits() | run.c.op.actions.bits());
    }
    EXPECT_EQ(all.toString(), row->actions);
  }
}

TEST(TemporalCoverage, EveryHttpRowIsInTheSpec) {
  const std::vector<SpecOp> spec = specOperations();
  size_t http_rows = 0;
  for (const OperationInfo& r : profile()->operations()) {
    if (r.actions == "unclassified")
      continue;
    ++http_rows;
    bool in_spec = false;
    for (const SpecOp& s : spec)
      in_spec |= s.method == r.method && shape(s.path) == shape(r.path);
    EXPECT_TRUE(in_spec) << r.method << " " << r.path;
  }
  EXPECT_EQ(http_rows, spec.size());
}

// The RPCs of the service protos without a google.api.http option.
std::vector<std::string> grpcOnly(const std::string& proto, const std::string& service) {
  std::vector<std::string> out;
  std::istringstream in(proto);
  std::string line, current;
  bool http = false;
  auto flush = [&] {
    if (!current.empty() && !http)
      out.push_back("/" + service + "/" + current);
  };
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, 2, "//") == 0)
      continue;
    if (line.compare(start, 4, "rpc ") == 0) {
      flush();
      const size_t name = start + 4;
      current = line.substr(name, line.find_first_of(" (", name) - name);
      http = false;
    } else if (line.find("option (google.api.http)") != std::string::npos) {
      http = true;
    }
  }
  flush();
  return out;
}

TEST(TemporalCoverage, EveryGrpcOnlyRpcIsListedAsUnclassified) {
  std::vector<std::string> rpcs = grpcOnly(readFixture("workflowservice/v1/service.proto"),
                                           "temporal.api.workflowservice.v1.WorkflowService");
  for (std::string& r : grpcOnly(readFixture("operatorservice/v1/service.proto"),
                                 "temporal.api.operatorservice.v1.OperatorService")) {
    rpcs.push_back(std::move(r));
  }
  ASSERT_EQ(rpcs.size(), 29u);
  const auto rows = profile()->operations();
  for (const std::string& rpc : rpcs) {
    bool listed = false;
    for (const OperationInfo& r : rows) {
      if (r.path == rpc) {
        listed = true;
        EXPECT_EQ(r.actions, "unclassified") << rpc;
        EXPECT_EQ(r.notes, "gRPC only: not yet covered (needs HTTP/2)");
      }
    }
    EXPECT_TRUE(listed) << rpc;
    // Over HTTP/1.1 the gRPC path is no operation either.
    EXPECT_EQ(drive(*profile(), "POST", rpc).c.outcome, Outcome::kUnclassified);
  }
}

// ---- Routing ---------------------------------------------------------------------------

TEST(TemporalProfile, LiteralSegmentsBeatVariables) {
  const auto p = profile();
  // `activities-deprecated` is a literal route, not StartActivityExecution of an id.
  Talk run = drive(*p, "POST", "/api/v1/namespaces/ns1/activities-deprecated/pause",
                   R"({"execution":{"workflowId":"order-42"},"id":"charge-card"})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kPause}));
  EXPECT_EQ(run.c.op.step, "charge-card");
  // A workflow id that spells a sibling literal is still an id.
  run = drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/pause", kStartBody);
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart}));
  EXPECT_EQ(run.c.op.execution, "pause");
  // A namespace named like a collection.
  run = drive(*p, "GET", "/api/v1/namespaces/workflows");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.namespace_name, "workflows");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kRead}));
  // Both bindings of one RPC classify alike.
  const Talk a = drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42/terminate", "{}");
  const Talk b = drive(*p, "POST", "/namespaces/ns1/workflows/order-42/terminate", "{}");
  EXPECT_EQ(a.c.op.actions, b.c.op.actions);
  EXPECT_EQ(a.c.op.workflow, b.c.op.workflow);
  EXPECT_EQ(a.keys, b.keys);
}

TEST(TemporalProfile, UnknownRoutesAndMethodsAreUnclassified) {
  const auto p = profile();
  for (const auto& [m, path] : std::vector<std::pair<std::string, std::string>>{
           {"DELETE", "/api/v1/namespaces/ns1/workflows/order-42"},
           {"GET", "/api/v1/namespaces/ns1/workflows/order-42/terminate"},
           {"POST", "/api/v2/namespaces/ns1/workflows/order-42"},
           {"GET", "/swagger.json"},
           {"POST", "/nexus/endpoints/e/services/s/op"}}) {
    const Talk run = drive(*p, m, path);
    EXPECT_EQ(run.c.outcome, Outcome::kUnclassified) << m << " " << path;
    EXPECT_FALSE(run.c.why.empty());
    EXPECT_FALSE(run.asked_body);
  }
}

TEST(TemporalProfile, PathVariablesArePercentDecoded) {
  const auto p = profile();
  const Talk run =
      drive(*p, "POST", "/api/v1/namespaces/ns%201/workflows/order%2042%C3%A9/terminate", "{}");
  ASSERT_TRUE(run.c.classified());
  ASSERT_EQ(run.keys.size(), 1u);
  EXPECT_EQ(run.keys[0].scope, "ns 1");
  EXPECT_EQ(run.keys[0].id, "order 42\xC3\xA9");
  EXPECT_EQ(run.c.op.namespace_name, "ns 1");
  // A malformed escape (the proxy normally refuses it first) is not guessed at.
  EXPECT_EQ(drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/a%zz/terminate", "{}").c.outcome,
            Outcome::kUnclassified);
}

// ---- Starts ----------------------------------------------------------------------------

TEST(TemporalProfile, StartNeedsTheBodyForTheWorkflowType) {
  const auto p = profile();
  Classification c = p->classify({"POST", "/api/v1/namespaces/ns1/workflows/order-42"});
  EXPECT_EQ(c.outcome, Outcome::kNeedsBody);
  const Talk run = drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42",
                         R"({"workflowType":{"name":"order-fulfillment"},"requestId":"r-1",
                            "workflowId":"ignored","namespace":"other","priority":3})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_TRUE(run.asked_body);
  EXPECT_TRUE(run.keys.empty());
  EXPECT_EQ(run.c.op.workflow, "order-fulfillment");
  EXPECT_EQ(run.c.op.namespace_name, "ns1");  // the path's, not the body's
  EXPECT_EQ(run.c.op.execution, "order-42");  // the path's, not the body's
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart}));
  EXPECT_TRUE(run.c.learn_response);
  ASSERT_NE(run.c.op.findInput("/requestId"), nullptr);
  EXPECT_EQ(run.c.op.findInput("/requestId")->text, "r-1");
  ASSERT_NE(run.c.op.findInput("/priority"), nullptr);
  EXPECT_EQ(run.c.op.findInput("/priority")->number, 3);
}

TEST(TemporalProfile, BodiesInEitherSpellingButNotBoth) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/workflows/order-42";
  Talk run = drive(*p, "POST", path, R"({"workflow_type":{"name":"order-fulfillment"}})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "order-fulfillment");
  for (const char* body : {R"({"workflowType":{"name":"a"},"workflow_type":{"name":"b"}})",
                           R"({"workflowType":{"name":5}})", R"({"workflowType":"order"})",
                           R"({"workflowType":{}})", R"({})", R"([1])", R"(not json)",
                           R"({"workflowType":{"name":"a"},"workflowType":{"name":"b"}})"}) {
    run = drive(*p, "POST", path, body);
    EXPECT_EQ(run.c.outcome, Outcome::kUnclassified) << body;
    EXPECT_FALSE(run.c.why.empty());
  }
}

TEST(TemporalProfile, StartThatTerminatesAnExistingRunNeedsStopOnIt) {
  const auto p = profile();
  const Answers other_running = [](const LookupKey& k) {
    if (k.kind == tp::kCurrentRun)
      return found("payroll", "run-old");
    return defaultAnswer(k);
  };
  for (
      const char* body :
      {R"({"workflowType":{"name":"order-fulfillment"},"workflowIdConflictPolicy":"WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING"})",
       R"({"workflowType":{"name":"order-fulfillment"},"workflow_id_conflict_policy":3})",
       R"({"workflowType":{"name":"order-fulfillment"},"workflowIdReusePolicy":"WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING"})"}) {
    SCOPED_TRACE(body);
    Talk run = drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42", body, other_running);
    ASSERT_TRUE(run.c.classified());
    ASSERT_EQ(run.keys.size(), 1u);
    EXPECT_EQ(run.keys[0], (LookupKey{tp::kCurrentRun, "ns1", "order-42", ""}));
    EXPECT_EQ(run.c.op.workflow, "order-fulfillment");
    ASSERT_EQ(run.c.also.size(), 1u);
    EXPECT_EQ(run.c.also[0].workflow, "payroll");
    EXPECT_EQ(run.c.also[0].execution, "run-old");
    EXPECT_EQ(run.c.also[0].actions, ActionSet({Action::kStop}));
    // Nothing runs there: nothing else to allow.
    run = drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42", body);
    ASSERT_TRUE(run.c.classified());
    EXPECT_TRUE(run.c.also.empty());
    // The orchestrator could not be asked: unresolved.
    run = drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42", body,
                [](const LookupKey&) { return LookupResult{}; });
    ASSERT_TRUE(run.c.classified());
    EXPECT_EQ(run.c.op.workflow, "");
    EXPECT_EQ(run.c.op.execution, "order-42");
  }
  // USE_EXISTING hands out the existing run (and attaches to it with onConflictOptions).
  const Talk run =
      drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42",
            R"({"workflowType":{"name":"order-fulfillment"},"workflowIdConflictPolicy":2,
                            "onConflictOptions":{"attachCompletionCallbacks":true}})",
            other_running);
  ASSERT_EQ(run.c.also.size(), 1u);
  EXPECT_EQ(run.c.also[0].actions, ActionSet({Action::kRead, Action::kSignal}));
  EXPECT_EQ(drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42",
                  R"({"workflowType":{"name":"x"},"workflowIdConflictPolicy":"NOPE"})")
                .c.outcome,
            Outcome::kUnclassified);
}

TEST(TemporalProfile, SignalWithStartAlsoNeedsSignalOnTheRunningType) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/workflows/order-42/signal-with-start/approve";
  Talk run =
      drive(*p, "POST", path, R"({"workflowType":{"name":"harmless"}})", [](const LookupKey& k) {
        return k.kind == tp::kCurrentRun ? found("payroll", "run-9") : LookupResult{};
      });
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "harmless");
  EXPECT_EQ(run.c.op.step, "approve");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart, Action::kSignal}));
  ASSERT_EQ(run.c.also.size(), 1u);
  EXPECT_EQ(run.c.also[0].workflow, "payroll");
  EXPECT_EQ(run.c.also[0].step, "approve");
  EXPECT_EQ(run.c.also[0].execution, "run-9");
  EXPECT_EQ(run.c.also[0].actions, ActionSet({Action::kSignal}));
  run = drive(*p, "POST", path, R"({"workflowType":{"name":"harmless"}})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_TRUE(run.c.also.empty());
}

// ---- Calls on an execution -------------------------------------------------------------

TEST(TemporalProfile, SignalResolvesThePathWorkflowIdAndTheBodyRunId) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/workflows/order-42/signal/approve";
  // The body's workflowId is overwritten by the path on the server: never used.
  const std::string body =
      R"({"workflowExecution":{"workflowId":"payroll-1","runId":"run-7"},"signalName":"other"})";
  Classification c = p->classify({"POST", path});
  EXPECT_EQ(c.outcome, Outcome::kNeedsBody);
  Talk run = drive(*p, "POST", path, body);
  ASSERT_TRUE(run.c.classified());
  ASSERT_EQ(run.keys.size(), 1u);
  EXPECT_EQ(run.keys[0], (LookupKey{tp::kExecution, "ns1", "order-42", "run-7"}));
  EXPECT_EQ(run.c.op.workflow, "order-fulfillment");
  EXPECT_EQ(run.c.op.step, "approve");
  EXPECT_EQ(run.c.op.execution, "run-7");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kSignal}));
  // Not found: the unresolved shape.
  run = drive(*p, "POST", path, body, [](const LookupKey&) { return LookupResult{}; });
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "run-7");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kSignal}));
  // No run id: the current run, and the workflow id when it cannot be resolved.
  run = drive(*p, "POST", path, "");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.keys[0], (LookupKey{tp::kExecution, "ns1", "order-42", ""}));
  EXPECT_EQ(run.c.op.execution, "run-current");
  run = drive(*p, "POST", path, "{}", [](const LookupKey&) { return LookupResult{}; });
  EXPECT_EQ(run.c.op.execution, "order-42");
  // snake_case, and both spellings.
  run = drive(*p, "POST", path, R"({"workflow_execution":{"run_id":"run-8"}})");
  EXPECT_EQ(run.keys[0].id2, "run-8");
  EXPECT_EQ(drive(*p, "POST", path,
                  R"({"workflowExecution":{"runId":"a"},"workflow_execution":{"runId":"b"}})")
                .c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(
      drive(*p, "POST", path, R"({"workflowExecution":{"runId":"a","run_id":"b"}})").c.outcome,
      Outcome::kUnclassified);
}

TEST(TemporalProfile, ActionsOfExecutionCalls) {
  const auto p = profile();
  const std::string w = "/api/v1/namespaces/ns1/workflows/order-42";
  const std::vector<std::tuple<std::string, std::string, ActionSet, std::string>> cases = {
      {"POST", w + "/terminate", {Action::kStop}, ""},
      {"POST", w + "/cancel", {Action::kStop}, ""},
      {"POST", w + "/reset", {Action::kRerun}, ""},
      {"POST", w + "/query/__stack_trace", {Action::kSignal}, "__stack_trace"},
      {"POST", w + "/update/set-address", {Action::kSignal}, "set-address"},
      {"POST", w + "/pause", {Action::kPause}, ""},
      {"POST", w + "/unpause", {Action::kResume}, ""},
      {"POST", w + "/trigger-rule", {Action::kPause, Action::kAdmin}, ""},
      {"GET", w + "/history", {Action::kRead}, ""},
  };
  for (const auto& [method, path, actions, step] : cases) {
    const Talk run = drive(*p, method, path, "{}");
    ASSERT_TRUE(run.c.classified()) << path;
    EXPECT_EQ(run.c.op.actions, actions) << path;
    EXPECT_EQ(run.c.op.step, step) << path;
    EXPECT_EQ(run.c.op.workflow, "order-fulfillment") << path;
  }
  // A reset that replays signals into the new run also needs signal.
  const Talk run = drive(*p, "POST", w + "/reset",
                         R"({"postResetOperations":[{"signalWorkflow":{"signalName":"x"}}]})");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kRerun, Action::kSignal}));
}

TEST(TemporalProfile, GetTakesTheRunIdFromTheQueryInOneSpellingOnly) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/workflows/order-42";
  Talk run = drive(*p, "GET", path + "?execution.runId=run-7");
  ASSERT_TRUE(run.c.classified());
  EXPECT_FALSE(run.asked_body);
  EXPECT_EQ(run.keys[0], (LookupKey{tp::kExecution, "ns1", "order-42", "run-7"}));
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kRead}));
  run = drive(*p, "GET", path + "?execution.run_id=run%2D8");
  EXPECT_EQ(run.keys[0].id2, "run-8");
  for (const char* q : {"?execution.runId=a&execution.run_id=b",
                        "?execution.runId=a&execution.runId=b", "?execution.runId=%zz"}) {
    EXPECT_EQ(drive(*p, "GET", path + q).c.outcome, Outcome::kUnclassified) << q;
  }
  // The path's workflow id wins over a query spelling of it (the gateway filters it out).
  run = drive(*p, "GET", path + "?execution.workflowId=payroll-1");
  EXPECT_EQ(run.keys[0].id, "order-42");
}

TEST(TemporalProfile, DescribeNamespaceByIdIsUnclassified) {
  const auto p = profile();
  EXPECT_TRUE(drive(*p, "GET", "/api/v1/namespaces/ns1").c.classified());
  EXPECT_EQ(drive(*p, "GET", "/api/v1/namespaces/ns1?id=0b6c-other").c.outcome,
            Outcome::kUnclassified);
  const Talk run = drive(*p, "POST", "/cluster/namespaces", R"({"namespace":"team-b"})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.namespace_name, "team-b");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kAdmin}));
  EXPECT_EQ(drive(*p, "POST", "/api/v1/namespaces", "{}").c.outcome, Outcome::kUnclassified);
}

// ---- Activities --------------------------------------------------------------------------

TEST(TemporalProfile, ActivityByIdUsesTheBodyWorkflowOrIsWidened) {
  const auto p = profile();
  Talk run = drive(*p, "POST", "/api/v1/namespaces/ns1/activities/charge-card/complete",
                   R"({"workflowId":"order-42","runId":"run-7","activityId":"other"})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.keys[0], (LookupKey{tp::kExecution, "ns1", "order-42", "run-7"}));
  EXPECT_EQ(run.c.op.step, "charge-card");  // the path's
  EXPECT_EQ(run.c.op.workflow, "order-fulfillment");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kCompleteStep}));
  // The workflow binding: the path's workflow id, the body's is ignored.
  run = drive(*p, "POST", "/api/v1/namespaces/ns1/workflows/order-42/activities/charge-card/fail",
              R"({"workflowId":"payroll-1"})");
  EXPECT_EQ(run.keys[0].id, "order-42");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kFailStep}));
  // No workflow: a standalone activity, widened.
  run = drive(*p, "POST", "/api/v1/namespaces/ns1/activities/charge-card/heartbeat", "{}");
  ASSERT_TRUE(run.c.classified());
  EXPECT_TRUE(run.keys.empty());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "");
  EXPECT_EQ(run.c.op.step, "");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kWork}));
}

TEST(TemporalProfile, DeprecatedActivityCallsByIdOrByType) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/activities-deprecated/reset";
  Talk run =
      drive(*p, "POST", path, R"({"execution":{"workflowId":"order-42"},"id":"charge-card"})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.step, "charge-card");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kRetry}));
  run = drive(*p, "POST", path, R"({"execution":{"workflowId":"order-42"},"type":"ChargeCard"})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.step, "");  // every activity of that type: a rule without steps
  run = drive(*p, "POST", path, R"({"execution":{"workflowId":"order-42"},"matchAll":true})");
  EXPECT_EQ(run.c.op.step, "");
  EXPECT_EQ(
      drive(*p, "POST", path, R"({"execution":{"workflowId":"o"},"id":"a","type":"T"})").c.outcome,
      Outcome::kUnclassified);
  EXPECT_EQ(drive(*p, "POST", path, R"({"id":"a"})").c.outcome, Outcome::kUnclassified);
}

TEST(TemporalToken, CompletionResolvesTheTokenExecutionNotItsClaims) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/activity-complete";
  Classification c = p->classify({"POST", path});
  EXPECT_EQ(c.outcome, Outcome::kNeedsBody);
  Talk run = drive(*p, "POST", path, tokenBody());
  ASSERT_TRUE(run.c.classified()) << run.c.why;
  ASSERT_EQ(run.keys.size(), 2u);
  EXPECT_EQ(run.keys[0], (LookupKey{tp::kNamespace, "", "ns1", ""}));
  EXPECT_EQ(run.keys[1], (LookupKey{tp::kExecution, "ns1", "order-42", "run-7"}));
  EXPECT_EQ(run.c.op.workflow, "order-fulfillment");  // not the token's "harmless"
  EXPECT_EQ(run.c.op.execution, "run-7");
  // The server finds the activity by scheduled_event_id and ignores activity_id: no step.
  EXPECT_EQ(run.c.op.step, "");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kCompleteStep}));
  // Without a scheduled event id the server finds the activity by its id: that is the step.
  TokenSpec by_id;
  by_id.scheduled_event_id = 0;
  run = drive(*p, "POST", path, tokenBody(by_id));
  EXPECT_EQ(run.c.op.step, "charge-card");
  // URL-safe base64 without padding, and the proto field name.
  const std::string raw = tokenBytes({});
  run = drive(*p, "POST", "/api/v1/namespaces/ns1/activity-heartbeat",
              R"({"task_token":")" + base64(raw, true, false) + R"("})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kWork}));
  // Unknown execution: unresolved.
  run = drive(*p, "POST", path, tokenBody(), [](const LookupKey& k) {
    return k.kind == tp::kExecution ? LookupResult{} : defaultAnswer(k);
  });
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "run-7");
}

TEST(TemporalToken, TokenOfAnotherNamespaceOrMalformedIsUnclassified) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/activity-fail";
  TokenSpec other;
  other.namespace_id = "ns-uuid-of-payroll";
  EXPECT_EQ(drive(*p, "POST", path, tokenBody(other)).c.outcome, Outcome::kUnclassified);
  TokenSpec no_run;
  no_run.run_id = "";
  EXPECT_EQ(drive(*p, "POST", path, tokenBody(no_run)).c.outcome, Outcome::kUnclassified);
  for (const std::string& body :
       {std::string(R"({})"), std::string(R"({"taskToken":"!!!"})"),
        std::string(R"({"taskToken":"AAAA"})"), std::string(R"({"taskToken":7})"),
        R"({"taskToken":")" + base64(tokenBytes({})) + R"(","task_token":"x"})",
        R"({"taskToken":")" + base64(tokenBytes({}).substr(0, 10)) + R"("})"}) {
    EXPECT_EQ(drive(*p, "POST", path, body).c.outcome, Outcome::kUnclassified) << body;
  }
  // Namespace lookup failed: unresolved.
  const Talk run = drive(*p, "POST", path, tokenBody(), [](const LookupKey& k) {
    return k.kind == tp::kNamespace ? LookupResult{} : defaultAnswer(k);
  });
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "run-7");
}

TEST(TemporalToken, ReaderIsBounded) {
  tp::TaskToken t;
  ASSERT_TRUE(tp::decodeTaskToken(tokenBytes({}), t));
  EXPECT_EQ(t.namespace_id, "ns-uuid-1");
  EXPECT_EQ(t.workflow_id, "order-42");
  EXPECT_EQ(t.run_id, "run-7");
  EXPECT_EQ(t.scheduled_event_id, 5);
  EXPECT_EQ(t.activity_id, "charge-card");
  // The last occurrence wins, as in the server's decoder.
  std::string twice = tokenBytes({});
  putString(twice, 2, "order-43");
  ASSERT_TRUE(tp::decodeTaskToken(twice, t));
  EXPECT_EQ(t.workflow_id, "order-43");
  const std::string good = tokenBytes({});
  for (size_t cut = 1; cut < good.size(); ++cut) {
    tp::TaskToken partial;
    if (tp::decodeTaskToken(good.substr(0, cut), partial)) {
      // A prefix can only be valid at a field boundary.
      EXPECT_LE(partial.workflow_id.size(), 8u);
    }
  }
  EXPECT_FALSE(tp::decodeTaskToken(std::string("\x12\x05"
                                               "ab",
                                               4),
                                   t));                                      // short string
  EXPECT_FALSE(tp::decodeTaskToken(std::string("\x13", 1), t));              // group
  EXPECT_FALSE(tp::decodeTaskToken(std::string("\x10\x01", 2), t));          // field 2 as varint
  EXPECT_FALSE(tp::decodeTaskToken(std::string("\x12\x02\xC3\x28", 4), t));  // bad UTF-8
  EXPECT_FALSE(tp::decodeTaskToken(std::string(10, '\xFF'), t));             // endless varint
  std::string big;
  putString(big, 99, std::string(tp::kMaxTokenBytes, 'x'));
  EXPECT_FALSE(tp::decodeTaskToken(big, t));
  std::string out;
  EXPECT_TRUE(tp::decodeBase64("aGk=", 16, out));
  EXPECT_EQ(out, "hi");
  EXPECT_TRUE(tp::decodeBase64("aGk", 16, out));
  EXPECT_EQ(out, "hi");
  EXPECT_FALSE(tp::decodeBase64("a+b_", 16, out));  // mixed alphabets
  EXPECT_FALSE(tp::decodeBase64("aGk=x", 16, out));
  EXPECT_FALSE(tp::decodeBase64("aGVsbG8=", 3, out));
}

// ---- Batches and schedules ---------------------------------------------------------------

TEST(TemporalProfile, BatchIsWidenedWithTheOperationsActions) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/batch-operations/job-1";
  Talk run = drive(*p, "POST", path,
                   R"({"visibilityQuery":"WorkflowType='payroll'","terminationOperation":{}})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStop}));
  run = drive(*p, "POST", path,
              R"({"executions":[{"workflowId":"a"}],"reset_operation":{"resetType":1}})");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kRerun}));
  for (const char* body :
       {R"({"visibilityQuery":"x"})", R"({"terminationOperation":{},"signalOperation":{}})",
        R"({"signalOperation":{},"signal_operation":{}})"}) {
    EXPECT_EQ(drive(*p, "POST", path, body).c.outcome, Outcome::kUnclassified) << body;
  }
}

TEST(TemporalProfile, SchedulesResolveTheirWorkflowType) {
  const auto p = profile();
  const std::string s = "/api/v1/namespaces/ns1/schedules/nightly";
  Talk run = drive(*p, "POST", s, kScheduleBody);
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "nightly-report");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
  EXPECT_TRUE(run.c.learn_response);
  EXPECT_EQ(drive(*p, "POST", s, R"({"schedule":{}})").c.outcome, Outcome::kUnclassified);

  run = drive(*p, "DELETE", s);
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.keys[0], (LookupKey{tp::kSchedule, "ns1", "nightly", ""}));
  EXPECT_EQ(run.c.op.workflow, "nightly-report");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kUndefine}));
  run = drive(*p, "DELETE", s, "", [](const LookupKey&) { return LookupResult{}; });
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "nightly");

  run = drive(*p, "POST", s + "/patch", R"({"patch":{"pause":"db migration"}})");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kPause}));
  run = drive(
      *p, "POST", s + "/patch",
      R"({"patch":{"backfill_request":[{"startTime":"2024-01-01T00:00:00Z"}],"unpause":"x"}})");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart, Action::kResume}));
  EXPECT_EQ(drive(*p, "POST", s + "/patch", R"({"patch":{"pause":""}})").c.outcome,
            Outcome::kUnclassified);

  // An update moving the schedule to another type needs define on both.
  run = drive(*p, "POST", s + "/update",
              R"({"schedule":{"action":{"startWorkflow":{"workflowType":{"name":"payroll"}}}}})");
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "payroll");
  ASSERT_EQ(run.c.also.size(), 1u);
  EXPECT_EQ(run.c.also[0].workflow, "nightly-report");
  EXPECT_EQ(run.c.also[0].actions, ActionSet({Action::kDefine}));
}

// ---- Lookups -------------------------------------------------------------------------------

TEST(TemporalProfile, LookupCallsTargetTheDescribeCalls) {
  const auto p = profile();
  LookupCall call;
  ASSERT_TRUE(p->lookupCall({tp::kExecution, "ns 1", "order 42\xC3\xA9", "run-7"}, call));
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.target,
            "/api/v1/namespaces/ns%201/workflows/order%2042%C3%A9?execution.runId=run-7");
  ASSERT_TRUE(p->lookupCall({tp::kExecution, "ns1", "a+b&c?d", ""}, call));
  EXPECT_EQ(call.target, "/api/v1/namespaces/ns1/workflows/a%2Bb%26c%3Fd");
  ASSERT_TRUE(p->lookupCall({tp::kCurrentRun, "ns1", "order-42", ""}, call));
  EXPECT_EQ(call.target, "/api/v1/namespaces/ns1/workflows/order-42");
  ASSERT_TRUE(p->lookupCall({tp::kSchedule, "ns1", "nightly", ""}, call));
  EXPECT_EQ(call.target, "/api/v1/namespaces/ns1/schedules/nightly");
  ASSERT_TRUE(p->lookupCall({tp::kNamespace, "", "ns1", ""}, call));
  EXPECT_EQ(call.target, "/api/v1/namespaces/ns1");
  // Ids the gateway would split or climb with cannot be asked: unresolved.
  EXPECT_FALSE(p->lookupCall({tp::kExecution, "ns1", "a/b", ""}, call));
  EXPECT_FALSE(p->lookupCall({tp::kExecution, "ns1", "..", ""}, call));
  EXPECT_FALSE(p->lookupCall({tp::kExecution, "ns1", "", ""}, call));
  EXPECT_FALSE(p->lookupCall({99, "ns1", "x", ""}, call));
}

TEST(TemporalProfile, ParseLookupReadsDescribeAnswers) {
  const auto p = profile();
  const std::string describe = R"({
    "executionConfig": {"taskQueue": {"name": "orders", "kind": "TASK_QUEUE_KIND_NORMAL"}},
    "workflowExecutionInfo": {
      "execution": {"workflowId": "order-42", "runId": "run-7"},
      "type": {"name": "order-fulfillment"},
      "startTime": "2024-05-01T10:00:00Z",
      "status": "WORKFLOW_EXECUTION_STATUS_RUNNING",
      "historyLength": "12",
      "taskQueue": "orders"
    },
    "pendingActivities": [{"activityId": "charge-card", "activityType": {"name": "ChargeCard"},
                           "state": "PENDING_ACTIVITY_STATE_SCHEDULED"}]
  })";
  LookupResult r;
  ASSERT_TRUE(p->parseLookup({tp::kExecution, "ns1", "order-42", "run-7"}, 200, describe, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "order-fulfillment");
  EXPECT_EQ(r.execution, "run-7");
  ASSERT_TRUE(p->parseLookup({tp::kExecution, "ns1", "order-42", ""}, 200, describe, r));
  EXPECT_EQ(r.execution, "run-7");
  // An answer about another run is unusable.
  EXPECT_FALSE(p->parseLookup({tp::kExecution, "ns1", "order-42", "run-8"}, 200, describe, r));
  ASSERT_TRUE(p->parseLookup({tp::kCurrentRun, "ns1", "order-42", ""}, 200, describe, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "order-fulfillment");
  std::string closed = describe;
  closed.replace(closed.find("STATUS_RUNNING"), 14, "STATUS_COMPLETED");
  ASSERT_TRUE(p->parseLookup({tp::kCurrentRun, "ns1", "order-42", ""}, 200, closed, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "");

  const char* not_found =
      R"({"code":5,"message":"workflow not found for ID: order-42","details":[]})";
  ASSERT_TRUE(p->parseLookup({tp::kExecution, "ns1", "order-42", ""}, 404, not_found, r));
  EXPECT_FALSE(r.found);
  ASSERT_TRUE(p->parseLookup({tp::kCurrentRun, "ns1", "order-42", ""}, 404, not_found, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "");
  EXPECT_FALSE(p->parseLookup({tp::kExecution, "ns1", "order-42", ""}, 503, "", r));
  EXPECT_FALSE(p->parseLookup({tp::kExecution, "ns1", "order-42", ""}, 200, "<html>", r));
  EXPECT_FALSE(p->parseLookup({tp::kExecution, "ns1", "order-42", ""}, 200, "{}", r));
  EXPECT_FALSE(p->parseLookup({tp::kExecution, "ns1", "order-42", ""}, 400, not_found, r));

  const char* schedule = R"({
    "schedule": {"spec": {"cronString": ["0 3 * * *"]},
                 "action": {"startWorkflow": {"workflowId": "nightly-wf",
                                              "workflowType": {"name": "nightly-report"},
                                              "taskQueue": {"name": "reports"}}},
                 "state": {"paused": false}},
    "info": {"actionCount": "3"}, "conflictToken": "AAAAAAAAAAE="})";
  ASSERT_TRUE(p->parseLookup({tp::kSchedule, "ns1", "nightly", ""}, 200, schedule, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "nightly-report");
  ASSERT_TRUE(p->parseLookup({tp::kSchedule, "ns1", "nightly", ""}, 404, not_found, r));
  EXPECT_FALSE(r.found);

  const char* ns = R"({"namespaceInfo": {"name": "ns1", "state": "NAMESPACE_STATE_REGISTERED",
                       "id": "5a2c1f0e-ns1"}, "config": {"workflowExecutionRetentionTtl": "259200s"},
                       "isGlobalNamespace": false})";
  ASSERT_TRUE(p->parseLookup({tp::kNamespace, "", "ns1", ""}, 200, ns, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.execution, "5a2c1f0e-ns1");
  EXPECT_FALSE(p->parseLookup({tp::kNamespace, "", "ns2", ""}, 200, ns, r));
}

// ---- Learning --------------------------------------------------------------------------------

TEST(TemporalProfile, LearnsTheRunAStartCreated) {
  const auto p = profile();
  const std::string path = "/api/v1/namespaces/ns1/workflows/order-42";
  const Talk run = drive(*p, "POST", path, kStartBody);
  ASSERT_TRUE(run.c.learn_response);
  RequestView v{"POST", path, ""};
  std::vector<Learned> learned;
  p->learn(v, run.c, 200, R"({"runId":"run-new","started":true})", learned);
  ASSERT_EQ(learned.size(), 3u);
  EXPECT_EQ(learned[0].key, (LookupKey{tp::kExecution, "ns1", "order-42", "run-new"}));
  EXPECT_EQ(learned[1].key, (LookupKey{tp::kExecution, "ns1", "order-42", ""}));
  EXPECT_EQ(learned[2].key, (LookupKey{tp::kCurrentRun, "ns1", "order-42", ""}));
  for (const Learned& l : learned) {
    EXPECT_TRUE(l.result.found);
    EXPECT_EQ(l.result.workflow, "order-fulfillment");
    EXPECT_EQ(l.result.execution, "run-new");
  }
  // A later call on that run needs no lookup once the cache has it.
  // An existing run handed back (USE_EXISTING, or a signal-with-start that only signalled)
  // may be of another type: nothing learnt.
  learned.clear();
  p->learn(v, run.c, 200, R"({"runId":"run-old","started":false})", learned);
  p->learn(v, run.c, 200, R"({"runId":"run-old"})", learned);
  p->learn(v, run.c, 409, R"({"runId":"run-new","started":true})", learned);
  p->learn(v, run.c, 200, "not json", learned);
  EXPECT_TRUE(learned.empty());

  const std::string sched = "/api/v1/namespaces/ns1/schedules/nightly";
  const Talk created = drive(*p, "POST", sched, kScheduleBody);
  RequestView sv{"POST", sched, ""};
  p->learn(sv, created.c, 200, R"({"conflictToken":"AAAAAAAAAAE="})", learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key, (LookupKey{tp::kSchedule, "ns1", "nightly", ""}));
  EXPECT_EQ(learned[0].result.workflow, "nightly-report");
}

TEST(TemporalProfile, OperationsTableIsComplete) {
  const auto rows = profile()->operations();
  std::map<std::string, int> seen;
  for (const OperationInfo& r : rows) {
    EXPECT_FALSE(r.name.empty());
    EXPECT_FALSE(r.actions.empty());
    EXPECT_FALSE(r.workflow.empty());
    EXPECT_FALSE(r.step.empty());
    EXPECT_FALSE(r.execution.empty());
    EXPECT_EQ(++seen[r.method + " " + shape(r.path)], 1) << r.method << " " << r.path;
    if (r.actions != "unclassified") {
      for (size_t i = 0, j; i < r.actions.size(); i = j + 1) {
        j = std::min(r.actions.find(',', i), r.actions.size());
        EXPECT_TRUE(policy::parseAction(r.actions.substr(i, j - i)).has_value()) << r.actions;
      }
    }
  }
}

}  // namespace
}  // namespace stepgate::orchestrators

namespace stepgate::orchestrators {
namespace {

// The rows are the profile's own table, so the coverage test cannot catch a wrong action in
// a row; this checks them against the HTTP method: a GET never changes state (read or list
// only), and a POST or DELETE is never classified as a mere read, except the one POST that
// only validates.
TEST(TemporalCoverage, ActionsAgreeWithTheHttpMethod) {
  const ActionSet reads{Action::kRead, Action::kList};
  for (const OperationInfo& r : profile()->operations()) {
    if (r.actions == "unclassified")
      continue;
    ActionSet actions;
    for (size_t i = 0, j; i < r.actions.size(); i = j + 1) {
      j = std::min(r.actions.find(',', i), r.actions.size());
      actions.add(*policy::parseAction(r.actions.substr(i, j - i)));
    }
    const bool only_reads = (actions.bits() & ~reads.bits()) == 0;
    if (r.method == "GET") {
      EXPECT_TRUE(only_reads) << r.method << " " << r.path << ": " << r.actions;
    } else if (r.name != "ValidateWorkerDeploymentVersionComputeConfig") {
      EXPECT_FALSE(only_reads) << r.method << " " << r.path << ": " << r.actions;
    }
  }
}

}  // namespace
}  // namespace stepgate::orchestrators
