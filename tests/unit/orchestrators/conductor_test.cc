// The Conductor profile: every operation of the vendored operation table, route precedence,
// bodies, lookups (execution, task, schedule), bulk calls, the attacks of the cross-cutting
// guidance and learning started workflow ids.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {
namespace {

using policy::Action;
using policy::ActionSet;

constexpr const char* kRun = "wf-run-1";
constexpr const char* kTaskId = "task-1";

ProfileConstSharedPtr profile() {
  config::UpstreamConfig u;
  u.name = "conductor";
  u.profile = "conductor";
  return makeConductorProfile(u);
}

// A request and what the test answers when the profile asks.
struct Call {
  std::string method;
  std::string path;
  std::string query;
  std::string body;  // used when the profile asks for it
  bool has_body = false;
};

// The answer every lookup gets, unless a test says otherwise.
LookupResult foundAnswer() {
  LookupResult r;
  r.found = true;
  r.workflow = "wf-a";
  r.version = "1";
  r.execution = kRun;
  r.step = "step-a";
  return r;
}

struct Classified {
  Classification c;
  std::vector<Outcome> outcomes;  // every outcome on the way
  std::vector<LookupKey> asked;
};

// Classifies `call` to the end, answering a body request with call.body and every lookup with
// `answer(key)`.
template <typename Answer>
Classified classifyFully(const Profile& p, const Call& call, Answer answer) {
  Classified run;
  RequestView v;
  v.method = call.method;
  v.path = call.path;
  v.query = call.query;
  JsonValue json;
  bool json_ok = false;
  std::vector<LookupKey> keys;
  std::vector<LookupResult> results;
  std::vector<ResolvedLookup> resolved;
  for (int round = 0; round < 4; ++round) {
    p.classify(v, run.c);
    run.outcomes.push_back(run.c.outcome);
    if (run.c.outcome == Outcome::kNeedsBody) {
      if (v.body_read) break;  // asked twice
      v.body_read = true;
      v.body = call.body;
      JsonLimits limits;
      StatusOr<JsonValue> parsed = parseJson(call.body, limits);
      json_ok = parsed.isOk();
      if (json_ok) json = std::move(parsed.value());
      v.json = json_ok ? &json : nullptr;
      continue;
    }
    if (run.c.outcome == Outcome::kNeedsLookup) {
      if (!v.lookups.empty()) break;  // asked twice
      keys = run.c.lookups;
      run.asked = keys;
      results.clear();
      for (const LookupKey& k : keys) results.push_back(answer(k));
      resolved.clear();
      for (size_t i = 0; i < keys.size(); ++i) resolved.push_back({&keys[i], &results[i]});
      v.lookups = resolved;
      continue;
    }
    break;
  }
  return run;
}

Classified classifyFully(const Profile& p, const Call& call) {
  return classifyFully(p, call, [](const LookupKey&) { return foundAnswer(); });
}

ActionSet parseActions(const std::string& text) {
  ActionSet s;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto a = policy::parseAction(item);
    EXPECT_TRUE(a.has_value()) << "unknown action '" << item << "' in '" << text << "'";
    if (a) s.add(*a);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Coverage against tests/fixtures/specs/operations.json ("conductor" rows).

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

// The concrete templates a row's path column names: "A , B", "X  (alias Y)",
// "X (also …/{v}/rpc)", "X (also agent.json)"; other parentheses are descriptions.
std::vector<std::string> expandSpecPath(const std::string& column) {
  std::string rest;
  std::vector<std::string> aliases;
  std::vector<std::string> also;
  size_t i = 0;
  while (i < column.size()) {
    if (column[i] == '(') {
      const size_t close = column.find(')', i);
      const std::string inner = column.substr(i + 1, close - i - 1);
      if (inner.rfind("alias ", 0) == 0) aliases.push_back(trim(inner.substr(6)));
      if (inner.rfind("also ", 0) == 0) also.push_back(trim(inner.substr(5)));
      i = close + 1;
      continue;
    }
    rest += column[i++];
  }
  std::vector<std::string> out;
  std::stringstream ss(rest);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  const std::string primary = out.empty() ? "" : out.front();
  for (const std::string& a : aliases) out.push_back(a);
  const std::string ellipsis = "\xE2\x80\xA6";  // …
  for (std::string a : also) {
    if (a.rfind(ellipsis, 0) == 0) {
      a = a.substr(ellipsis.size());
      const size_t second = a.find('/', 1);
      const std::string first = a.substr(0, second);
      const bool ends = primary.size() >= first.size() &&
                        primary.compare(primary.size() - first.size(), first.size(), first) == 0;
      out.push_back(ends ? primary + a.substr(first.size()) : primary + a);
    } else {
      out.push_back(primary.substr(0, primary.rfind('/') + 1) + a);
    }
  }
  return out;
}

// "{name}" → "{}", "{rest...}" and "**" → "{*}".
std::string normalizeTemplate(const std::string& t) {
  std::string out;
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] == '{') {
      const size_t close = t.find('}', i);
      const std::string inner = t.substr(i + 1, close - i - 1);
      out += inner.size() > 3 && inner.substr(inner.size() - 3) == "..." ? "{*}" : "{}";
      i = close + 1;
    } else if (t.compare(i, 2, "**") == 0) {
      out += "{*}";
      i += 2;
    } else {
      out += t[i++];
    }
  }
  return out;
}

// Concrete paths for a spec template: one per status where the template has {status}.
std::vector<std::string> concretePaths(const std::string& t) {
  std::vector<std::string> statuses = {""};
  if (t.find("{status}") != std::string::npos) statuses = {"COMPLETED", "FAILED", "IN_PROGRESS"};
  std::vector<std::string> out;
  for (const std::string& status : statuses) {
    std::string p;
    size_t i = 0;
    while (i < t.size()) {
      if (t[i] == '{') {
        const size_t close = t.find('}', i);
        const std::string var = t.substr(i + 1, close - i - 1);
        if (var == "status") {
          p += status;
        } else if (var == "version" || var == "partNumber") {
          p += "1";
        } else if (var == "workflowId" || var == "executionId") {
          p += kRun;
        } else if (var == "taskId") {
          p += kTaskId;
        } else {
          p += "sample-" + var;
        }
        i = close + 1;
      } else if (t.compare(i, 2, "**") == 0) {
        p += "x/y";
        i += 2;
      } else {
        p += t[i++];
      }
    }
    out.push_back(p);
  }
  return out;
}

// Plausible bodies, by "METHOD normalised-template"; several where the body decides actions.
const std::map<std::string, std::vector<std::string>>& sampleBodies() {
  static const auto* bodies = [] {
    auto* m = new std::map<std::string, std::vector<std::string>>;
    auto& b = *m;
    const std::string ids = "[\"wf-run-1\",\"wf-run-2\"]";
    b["POST /api/workflow"] = {R"({"name":"wf-a","version":1,"input":{"amount":5}})",
                               R"({"name":"wf-a","workflowDef":{"name":"wf-a","tasks":[]}})"};
    b["POST /api/workflow/{}"] = {R"({"amount":5})"};
    b["POST /api/workflow/execute/{}/{}"] = {R"({"input":{}})",
                                             R"({"workflowDef":{"name":"sample-name"}})"};
    b["POST /api/workflow/test"] = {R"({"name":"wf-a","workflowDef":{"name":"wf-a"}})"};
    b["POST /api/workflow/{}/rerun"] = {R"({"reRunFromTaskId":"task-1"})", "{}"};
    for (const char* op : {"PUT /api/workflow/bulk/pause", "PUT /api/workflow/bulk/resume",
                           "POST /api/workflow/bulk/restart", "POST /api/workflow/bulk/retry",
                           "POST /api/workflow/bulk/terminate", "DELETE /api/workflow/bulk/remove",
                           "DELETE /api/workflow/bulk/terminate-remove",
                           "POST /api/workflow/bulk/search", "PUT /api/agent/executions/bulk/pause",
                           "PUT /api/agent/executions/bulk/resume",
                           "POST /api/agent/executions/bulk/restart",
                           "POST /api/agent/executions/bulk/retry",
                           "POST /api/agent/executions/bulk/terminate"}) {
      b[op] = {ids};
    }
    for (const char* op : {"POST /api/tasks", "POST /api/tasks/update-v2"}) {
      for (const char* s : {"COMPLETED", "FAILED", "IN_PROGRESS"}) {
        b[op].push_back(std::string(R"({"workflowInstanceId":"wf-run-1","taskId":"task-1",)") +
                        R"("status":")" + s + R"(","outputData":{}})");
      }
    }
    b["POST /api/metadata/workflow"] = {R"({"name":"wf-a","version":1,"tasks":[]})"};
    b["POST /api/metadata/workflow/validate"] = {R"({"name":"wf-a","tasks":[]})"};
    b["PUT /api/metadata/workflow"] = {R"([{"name":"wf-a"},{"name":"wf-b"}])"};
    b["POST /api/metadata/taskdefs"] = {R"([{"name":"t1"},{"name":"t2"}])"};
    b["PUT /api/metadata/taskdefs"] = {R"({"name":"t1"})"};
    b["POST /api/scheduler/schedules"] = {
        R"({"name":"sched-1","cronExpression":"0 0 * * * ?",)"
        R"("startWorkflowRequest":{"name":"wf-a","version":1}})"};
    b["PUT /api/scheduler/bulk/pause"] = {R"(["sched-1"])"};
    b["PUT /api/scheduler/bulk/resume"] = {R"(["sched-1"])"};
    b["POST /api/files"] = {R"({"workflowId":"wf-run-1","fileName":"a.txt"})"};
    return m;
  }();
  return *bodies;
}

// Operations whose actions differ from the table's stepgate_actions suggestion, and why:
// the worker protocol is `work`, not admin; a task status of IN_PROGRESS is work; inline
// definitions need define; the agent bodies are not modelled (admin); some A2A calls are
// denied by design.
const std::map<std::string, std::string>& deviations() {
  static const auto* d = new std::map<std::string, std::string>{
      {"POST /api/workflow", "start,define"},
      {"POST /api/workflow/execute/{name}/{version}", "start,define"},
      {"GET /api/tasks/poll/{tasktype}", "work"},
      {"GET /api/tasks/poll/batch/{tasktype}", "work"},
      {"POST /api/tasks", "complete-step,fail-step,work"},
      {"POST /api/tasks/update-v2", "complete-step,fail-step,work"},
      {"POST /api/tasks/{workflowId}/{taskRefName}/{status}", "complete-step,fail-step,work"},
      {"POST /api/tasks/{workflowId}/{taskRefName}/{status}/sync",
       "complete-step,fail-step,work"},
      {"POST /api/tasks/{workflowId}/{status}/signal", "complete-step,fail-step,work"},
      {"POST /api/tasks/{workflowId}/{status}/signal/sync", "complete-step,fail-step,work"},
      {"POST /api/tasks/{taskId}/log", "work"},
      {"POST /api/queue/update/{workflowId}/{taskRefName}/{status}",
       "complete-step,fail-step,work"},
      {"POST /api/queue/update/{workflowId}/task/{taskId}/{status}",
       "complete-step,fail-step,work"},
      {"POST /api/agent/tasks/{executionId}/{refTaskName}/{status}",
       "complete-step,fail-step,work"},
      {"POST /api/agent/compile", "admin"},
      {"POST /api/agent/inspect-plan", "admin"},
      {"POST /api/agent/deploy", "admin"},
      {"POST /api/agent/start", "admin"},
      {"POST /api/agent/execution", "admin"},
      {"POST /api/a2a/agent-card", "unclassified"},
      {"POST /api/a2a/workflow/{workflow}", "unclassified"},
      {"POST /api/a2a/workflow/{workflow}/rpc", "unclassified"},
      {"POST /api/a2a/agent/{agent}", "unclassified"},
      {"POST /api/a2a/agent/{agent}/rpc", "unclassified"},
  };
  return *d;
}

TEST(ConductorProfile, EveryOperationOfTheSpecIsClassifiedAsItsRowSays) {
  const std::string file = std::string(STEPGATE_SOURCE_DIR) + "/tests/fixtures/specs/operations.json";
  std::ifstream in(file, std::ios::binary);
  ASSERT_TRUE(in) << file;
  std::stringstream buf;
  buf << in.rdbuf();
  JsonLimits limits;
  limits.max_bytes = 64u << 20;
  StatusOr<JsonValue> spec = parseJson(buf.str(), limits);
  ASSERT_TRUE(spec.isOk());
  const JsonValue* rows = spec->at("/operations/conductor");
  ASSERT_NE(rows, nullptr);
  ASSERT_TRUE(rows->isArray());
  ASSERT_GE(rows->asArray().size(), 179u);

  const ProfileConstSharedPtr p = profile();
  const std::vector<OperationInfo> ops = p->operations();
  std::set<std::string> covered;  // "METHOD template" of the rows the spec names
  size_t checked = 0;
  for (const JsonValue& row : rows->asArray()) {
    const std::string method = row.find("method")->asString();
    const std::string column = row.find("path")->asString();
    for (const std::string& t : expandSpecPath(column)) {
      SCOPED_TRACE(method + " " + t + "  (spec: " + column + ")");
      const std::string norm = normalizeTemplate(t);
      const OperationInfo* info = nullptr;
      for (const OperationInfo& o : ops) {
        if (o.method == method && normalizeTemplate(o.path) == norm) info = &o;
      }
      ASSERT_NE(info, nullptr) << "no operations() row";
      covered.insert(info->method + " " + info->path);
      const std::string key = method + " " + norm;
      const auto body_it = sampleBodies().find(key);
      std::vector<std::string> bodies = {""};
      if (body_it != sampleBodies().end()) bodies = body_it->second;
      ActionSet seen;
      for (const std::string& path : concretePaths(t)) {
        for (const std::string& body : bodies) {
          SCOPED_TRACE(path + " body " + body);
          const Classified run = classifyFully(*p, {method, path, "", body, true});
          if (info->actions == "unclassified") {
            EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
            EXPECT_FALSE(run.c.why.empty());
            continue;
          }
          ASSERT_EQ(run.c.outcome, Outcome::kClassified) << run.c.why;
          EXPECT_FALSE(run.c.op.actions.empty());
          EXPECT_EQ(run.c.op.upstream, "conductor");
          seen = ActionSet::fromBits(seen.bits() | run.c.op.actions.bits());
          ++checked;
        }
      }
      if (info->actions != "unclassified") {
        EXPECT_EQ(seen, parseActions(info->actions))
            << "classified " << seen.toString() << ", row says " << info->actions;
      }
      // Where the profile departs from the research table's suggestion, it says so here.
      std::string suggested;
      for (const JsonValue& a : row.find("stepgate_actions")->asArray()) {
        suggested += (suggested.empty() ? "" : ",") + a.asString();
      }
      const std::string ours = info->actions == "unclassified"
                                   ? info->actions
                                   : parseActions(info->actions).toString();
      const auto dev = deviations().find(method + " " + t);
      if (dev != deviations().end()) {
        EXPECT_EQ(ours, dev->second) << "listed deviation";
        EXPECT_NE(parseActions(suggested).toString(), ours) << "not a deviation";
      } else {
        EXPECT_EQ(ours, parseActions(suggested).toString()) << "undocumented deviation";
      }
    }
  }
  EXPECT_GT(checked, 190u);
  // Every row of operations() is an operation of the spec (no invented or misspelt paths).
  for (const OperationInfo& o : ops) {
    EXPECT_TRUE(covered.count(o.method + " " + o.path)) << o.method << " " << o.path;
  }
}

TEST(ConductorProfile, OperationRowsAreUniqueAndComplete) {
  std::set<std::string> seen;
  for (const OperationInfo& o : profile()->operations()) {
    EXPECT_TRUE(seen.insert(o.method + " " + normalizeTemplate(o.path)).second) << o.path;
    EXPECT_FALSE(o.name.empty()) << o.path;
    EXPECT_FALSE(o.workflow.empty()) << o.path;
    EXPECT_FALSE(o.step.empty()) << o.path;
    EXPECT_FALSE(o.execution.empty()) << o.path;
    if (o.actions != "unclassified") {
      EXPECT_FALSE(parseActions(o.actions).empty()) << o.path;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Route precedence: literal segments beat variables, as in Spring's router.

TEST(ConductorProfile, LiteralSegmentsBeatVariables) {
  const ProfileConstSharedPtr p = profile();
  Classification c = p->classify({"GET", "/api/workflow/search"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kList}));
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.execution, "");

  c = p->classify({"GET", "/api/workflow/searchx"});
  ASSERT_EQ(c.outcome, Outcome::kNeedsLookup);
  ASSERT_EQ(c.lookups.size(), 1u);
  EXPECT_EQ(c.lookups[0].id, "searchx");

  c = p->classify({"PUT", "/api/workflow/bulk/pause"});
  EXPECT_EQ(c.outcome, Outcome::kNeedsBody);
  c = p->classify({"PUT", "/api/workflow/bulkx/pause"});
  ASSERT_EQ(c.outcome, Outcome::kNeedsLookup);
  EXPECT_EQ(c.lookups[0].id, "bulkx");

  Classified run = classifyFully(*p, {"POST", "/api/workflow/test", "", R"({"name":"wf-a"})", true});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
  EXPECT_EQ(run.c.op.workflow, "wf-a");
  run = classifyFully(*p, {"POST", "/api/workflow/tests", "", "{}", true});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart}));
  EXPECT_EQ(run.c.op.workflow, "tests");

  c = p->classify({"GET", "/api/metadata/workflow/names"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kList}));
  EXPECT_EQ(c.op.workflow, "");
  c = p->classify({"GET", "/api/metadata/workflow/names2"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kRead}));
  EXPECT_EQ(c.op.workflow, "names2");
}

TEST(ConductorProfile, UnknownPathsAndTrailingSlashesAreUnclassified) {
  const ProfileConstSharedPtr p = profile();
  EXPECT_EQ(p->classify({"GET", "/api/queue/"}).op.actions, ActionSet({Action::kAdmin}));
  for (const char* path : {"/api/queue", "/api/workflow/abc/", "/api/workflow//pause",
                           "/api/nothing", "/API/workflow/search"}) {
    const Classification c = p->classify({"GET", path});
    EXPECT_EQ(c.outcome, Outcome::kUnclassified) << path;
    EXPECT_FALSE(c.why.empty());
  }
  EXPECT_EQ(p->classify({"PATCH", "/api/workflow/abc"}).outcome, Outcome::kUnclassified);
}

// ---------------------------------------------------------------------------------------------
// Starts

TEST(ConductorProfile, StartByPathReadsTheInputAndVersion) {
  const ProfileConstSharedPtr p = profile();
  Classification c = p->classify({"POST", "/api/workflow/payments", "version=3&priority=1"});
  ASSERT_EQ(c.outcome, Outcome::kNeedsBody);
  const Classified run = classifyFully(
      *p, {"POST", "/api/workflow/payments", "version=3", R"({"amount":250,"cur":"EUR"})", true});
  ASSERT_TRUE(run.c.classified()) << run.c.why;
  EXPECT_EQ(run.c.op.workflow, "payments");
  EXPECT_EQ(run.c.op.version, "3");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart}));
  EXPECT_TRUE(run.c.learn_response);
  ASSERT_NE(run.c.op.findInput("/amount"), nullptr);
  EXPECT_TRUE(run.c.op.findInput("/amount")->is_number);
  EXPECT_EQ(run.c.op.findInput("/amount")->number, 250);
  ASSERT_NE(run.c.op.findInput("/cur"), nullptr);
  EXPECT_EQ(run.c.op.findInput("/cur")->text, "EUR");

  for (const char* q : {"version=1&version=2", "version=abc", "version=%ZZ"}) {
    EXPECT_EQ(classifyFully(*p, {"POST", "/api/workflow/payments", q, "{}", true}).c.outcome,
              Outcome::kUnclassified)
        << q;
  }
  for (const char* body : {"", "not json", "[1]", R"({"a":1,"a":2})"}) {
    EXPECT_EQ(classifyFully(*p, {"POST", "/api/workflow/payments", "", body, true}).c.outcome,
              Outcome::kUnclassified)
        << body;
  }
}

TEST(ConductorProfile, StartWithAnInlineDefinitionNeedsDefine) {
  const ProfileConstSharedPtr p = profile();
  Classified run = classifyFully(
      *p, {"POST", "/api/workflow", "", R"({"name":"payments","version":2,"input":{"amount":9}})",
           true});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "payments");
  EXPECT_EQ(run.c.op.version, "2");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart}));
  ASSERT_NE(run.c.op.findInput("/amount"), nullptr);

  run = classifyFully(*p, {"POST", "/api/workflow", "",
                           R"({"name":"payments","workflowDef":{"name":"payments","tasks":[]}})",
                           true});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));

  // The server runs the inline definition: its name must be the one authorised.
  run = classifyFully(*p, {"POST", "/api/workflow", "",
                           R"({"name":"harmless","workflowDef":{"name":"payments"}})", true});
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
  run = classifyFully(*p, {"POST", "/api/workflow/execute/harmless/1", "",
                           R"({"workflowDef":{"name":"payments"}})", true});
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
  run = classifyFully(*p, {"POST", "/api/workflow", "", R"({"workflowDef":{"name":"x"}})", true});
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
  run = classifyFully(*p, {"POST", "/api/workflow", "", R"({"name":"x","workflowDef":7})", true});
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
  run = classifyFully(*p, {"POST", "/api/workflow/test", "",
                           R"({"name":"a","workflowDef":{"name":"b"}})", true});
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
}

// ---------------------------------------------------------------------------------------------
// Task updates: the task's workflow, never the body's claim

LookupResult taskOf(const std::string& execution, const std::string& workflow,
                    const std::string& step) {
  LookupResult r;
  r.found = true;
  r.workflow = workflow;
  r.execution = execution;
  r.step = step;
  return r;
}

std::string taskResult(const std::string& wid, const std::string& status) {
  return R"({"workflowInstanceId":")" + wid + R"(","taskId":"task-9","status":")" + status +
         R"(","outputData":{"ok":true}})";
}

TEST(ConductorProfile, TaskUpdateResolvesTheTaskAndRequiresItsWorkflow) {
  const ProfileConstSharedPtr p = profile();
  EXPECT_EQ(p->classify({"POST", "/api/tasks"}).outcome, Outcome::kNeedsBody);
  auto answer = [](const LookupKey&) { return taskOf("run-7", "payments", "charge-card"); };

  Classified run = classifyFully(*p, {"POST", "/api/tasks", "", taskResult("run-7", "COMPLETED"), true},
                          answer);
  ASSERT_EQ(run.outcomes.size(), 3u);
  EXPECT_EQ(run.outcomes[0], Outcome::kNeedsBody);
  EXPECT_EQ(run.outcomes[1], Outcome::kNeedsLookup);
  ASSERT_EQ(run.asked.size(), 1u);
  EXPECT_EQ(run.asked[0].id, "task-9");
  ASSERT_TRUE(run.c.classified()) << run.c.why;
  EXPECT_EQ(run.c.op.workflow, "payments");
  EXPECT_EQ(run.c.op.step, "charge-card");
  EXPECT_EQ(run.c.op.execution, "run-7");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kCompleteStep}));

  // The server would complete task-9 (of run-7) while loading the workflow named in the body:
  // a body naming another run is refused.
  run = classifyFully(*p, {"POST", "/api/tasks", "", taskResult("run-other", "COMPLETED"), true},
                      answer);
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run.c.why, "task does not belong to workflow");

  const std::pair<const char*, ActionSet> statuses[] = {
      {"FAILED", ActionSet({Action::kFailStep})},
      {"FAILED_WITH_TERMINAL_ERROR", ActionSet({Action::kFailStep})},
      {"IN_PROGRESS", ActionSet({Action::kWork})}};
  for (const auto& [status, actions] : statuses) {
    run = classifyFully(*p, {"POST", "/api/tasks", "", taskResult("run-7", status), true}, answer);
    ASSERT_TRUE(run.c.classified()) << status;
    EXPECT_EQ(run.c.op.actions, actions) << status;
  }
  for (const char* status : {"CANCELED", "SKIPPED", "completed", ""}) {
    run = classifyFully(*p, {"POST", "/api/tasks", "", taskResult("run-7", status), true}, answer);
    EXPECT_EQ(run.c.outcome, Outcome::kUnclassified) << status;
  }
  run = classifyFully(*p, {"POST", "/api/tasks", "", R"({"taskId":"t","status":"COMPLETED"})",
                           true},
                      answer);
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);

  // update-v2 also polls the next task: work.
  run = classifyFully(*p, {"POST", "/api/tasks/update-v2", "", taskResult("run-7", "COMPLETED"),
                           true},
                      answer);
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kCompleteStep, Action::kWork}));
}

TEST(ConductorProfile, UnknownTaskIsUnresolved) {
  const ProfileConstSharedPtr p = profile();
  auto missing = [](const LookupKey&) { return LookupResult{}; };
  Classified run = classifyFully(*p, {"POST", "/api/tasks", "", taskResult("run-7", "COMPLETED"), true},
                          missing);
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "run-7");
  EXPECT_FALSE(run.c.op.actions.empty());

  run = classifyFully(*p, {"GET", "/api/tasks/task-5"}, missing);
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "task-5");
}

TEST(ConductorProfile, TaskUpdateByPathTakesStepAndStatusFromThePath) {
  const ProfileConstSharedPtr p = profile();
  Classification c = p->classify({"POST", "/api/tasks/run-7/charge-card/FAILED"});
  ASSERT_EQ(c.outcome, Outcome::kNeedsLookup);
  ASSERT_EQ(c.lookups.size(), 1u);
  const LookupKey key = c.lookups[0];
  EXPECT_EQ(key.id, "run-7");
  LookupCall call;
  ASSERT_TRUE(p->lookupCall(key, call));
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.target, "/api/workflow/run-7?includeTasks=false");

  Classified run = classifyFully(*p, {"POST", "/api/tasks/run-7/charge-card/FAILED/sync"});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "wf-a");
  EXPECT_EQ(run.c.op.step, "charge-card");
  EXPECT_EQ(run.c.op.execution, "run-7");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kFailStep}));

  for (const char* path : {"/api/tasks/run-7/charge-card/completed",
                           "/api/tasks/run-7/charge-card/CANCELED",
                           "/api/queue/update/run-7/charge-card/COMPLETED_WITH_ERRORS"}) {
    EXPECT_EQ(p->classify({"POST", path}).outcome, Outcome::kUnclassified) << path;
  }
}

TEST(ConductorProfile, QueueUpdateByTaskIdChecksTheTasksWorkflow) {
  const ProfileConstSharedPtr p = profile();
  auto answer = [](const LookupKey&) { return taskOf("run-7", "payments", "approve"); };
  Classified run = classifyFully(*p, {"POST", "/api/queue/update/run-7/task/task-3/COMPLETED"}, answer);
  ASSERT_TRUE(run.c.classified());
  ASSERT_EQ(run.asked.size(), 1u);
  EXPECT_EQ(run.asked[0].id, "task-3");
  EXPECT_EQ(run.c.op.step, "approve");
  EXPECT_EQ(run.c.op.workflow, "payments");
  run = classifyFully(*p, {"POST", "/api/queue/update/run-8/task/task-3/COMPLETED"}, answer);
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
}

TEST(ConductorProfile, SignalIsWidenedToEveryWorkflow) {
  const ProfileConstSharedPtr p = profile();
  const Classification c = p->classify({"POST", "/api/tasks/run-7/COMPLETED/signal"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(c.op.step, "");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kCompleteStep}));
  EXPECT_EQ(p->classify({"POST", "/api/tasks/run-7/SKIPPED/signal/sync"}).outcome,
            Outcome::kUnclassified);
}

TEST(ConductorProfile, RerunFromATaskOfAnotherWorkflowIsRefused) {
  const ProfileConstSharedPtr p = profile();
  auto answer = [](const LookupKey& k) {
    return k.id == "task-x" ? taskOf("run-other", "payroll", "pay") : foundAnswer();
  };
  Classified run = classifyFully(
      *p, {"POST", "/api/workflow/wf-run-1/rerun", "", R"({"reRunFromTaskId":"task-x"})", true},
      answer);
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
  run = classifyFully(*p, {"POST", "/api/workflow/wf-run-1/rerun", "",
                           R"({"reRunFromWorkflowId":"run-other"})", true},
                      answer);
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.execution, "wf-run-1");
  EXPECT_EQ(run.c.op.step, "");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kRerun}));
}

// ---------------------------------------------------------------------------------------------
// Execution lookups

TEST(ConductorProfile, WorkflowIdCallsLookUpTheExecution) {
  const ProfileConstSharedPtr p = profile();
  Classification c = p->classify({"PUT", "/api/workflow/run-7/skiptask/charge-card"});
  ASSERT_EQ(c.outcome, Outcome::kNeedsLookup);
  ASSERT_EQ(c.lookups.size(), 1u);
  EXPECT_EQ(c.lookups[0].id, "run-7");
  EXPECT_EQ(c.lookups[0].scope, "");

  Classified run = classifyFully(*p, {"PUT", "/api/workflow/run-7/skiptask/charge-card"});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "wf-a");
  EXPECT_EQ(run.c.op.version, "1");
  EXPECT_EQ(run.c.op.execution, "run-7");
  EXPECT_EQ(run.c.op.step, "charge-card");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kSkipStep}));

  // Not found (or not answerable): the unresolved shape.
  run = classifyFully(*p, {"DELETE", "/api/workflow/run-7"},
                      [](const LookupKey&) { return LookupResult{}; });
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "");
  EXPECT_EQ(run.c.op.execution, "run-7");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStop}));
}

TEST(ConductorProfile, PathIdsAreDecodedAndParametersRefused) {
  const ProfileConstSharedPtr p = profile();
  Classification c = p->classify({"GET", "/api/workflow/run%207"});
  ASSERT_EQ(c.outcome, Outcome::kNeedsLookup);
  EXPECT_EQ(c.lookups[0].id, "run 7");
  LookupCall call;
  ASSERT_TRUE(p->lookupCall(c.lookups[0], call));
  EXPECT_EQ(call.target, "/api/workflow/run%207?includeTasks=false");

  LookupKey odd = c.lookups[0];
  odd.id = "a/b?c#d%e";
  ASSERT_TRUE(p->lookupCall(odd, call));
  EXPECT_EQ(call.target, "/api/workflow/a%2Fb%3Fc%23d%25e?includeTasks=false");

  Classified run = classifyFully(*p, {"POST", "/api/workflow/pay%C3%A9", "", "{}", true});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "pay\xC3\xA9");

  // Spring strips ";params": the server would see another id or name than the one checked.
  for (const char* path : {"/api/workflow/payments;v=1", "/api/workflow/run-7;x/pause",
                           "/api/metadata/workflow/payments;a=b", "/api/workflow/bad%zz",
                           "/api/workflow/nul%00"}) {
    const std::string method = std::string(path).find("pause") != std::string::npos ? "PUT"
                               : std::string(path).find("metadata") != std::string::npos
                                   ? "GET"
                                   : "POST";
    EXPECT_EQ(p->classify({method, path}).outcome, Outcome::kUnclassified) << path;
  }
}

// ---------------------------------------------------------------------------------------------
// Bulk

TEST(ConductorProfile, BulkLooksUpEveryIdOnce) {
  const ProfileConstSharedPtr p = profile();
  auto answer = [](const LookupKey& k) {
    if (k.id == "run-3") return LookupResult{};
    LookupResult r = foundAnswer();
    r.workflow = k.id == "run-1" ? "payments" : "payroll";
    r.execution = k.id;
    return r;
  };
  Classified run = classifyFully(
      *p, {"POST", "/api/workflow/bulk/terminate", "reason=x",
           R"(["run-1","run-2","run-1","run-3"])", true},
      answer);
  ASSERT_TRUE(run.c.classified());
  ASSERT_EQ(run.asked.size(), 3u);
  EXPECT_EQ(run.c.op.workflow, "payments");
  EXPECT_EQ(run.c.op.execution, "run-1");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStop}));
  ASSERT_EQ(run.c.also.size(), 2u);
  EXPECT_EQ(run.c.also[0].workflow, "payroll");
  EXPECT_EQ(run.c.also[0].execution, "run-2");
  EXPECT_EQ(run.c.also[0].actions, ActionSet({Action::kStop}));
  EXPECT_EQ(run.c.also[0].upstream, "conductor");
  EXPECT_EQ(run.c.also[1].workflow, "");  // unresolved
  EXPECT_EQ(run.c.also[1].execution, "run-3");

  std::string big = "[";
  for (int i = 0; i < 1001; ++i) big += (i ? ",\"r" : "\"r") + std::to_string(i) + "\"";
  big += "]";
  for (const std::string& body : {std::string("[]"), std::string("[1]"), std::string("{}"),
                                  std::string("[\"\"]"), std::string("x"), big}) {
    run = classifyFully(*p, {"PUT", "/api/workflow/bulk/pause", "", body, true}, answer);
    EXPECT_EQ(run.c.outcome, Outcome::kUnclassified) << body.substr(0, 20);
    EXPECT_TRUE(run.asked.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// Schedules

TEST(ConductorProfile, SchedulesResolveToTheWorkflowTheyStart) {
  const ProfileConstSharedPtr p = profile();
  Classification c = p->classify({"PUT", "/api/scheduler/schedules/nightly/pause"});
  ASSERT_EQ(c.outcome, Outcome::kNeedsLookup);
  LookupCall call;
  ASSERT_TRUE(p->lookupCall(c.lookups[0], call));
  EXPECT_EQ(call.target, "/api/scheduler/schedules/nightly");
  Classified run = classifyFully(*p, {"PUT", "/api/scheduler/schedules/nightly/pause"});
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "wf-a");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kPause}));
  run = classifyFully(*p, {"DELETE", "/api/scheduler/schedules/nightly"},
                      [](const LookupKey&) { return LookupResult{}; });
  EXPECT_EQ(run.c.outcome, Outcome::kUnclassified);
  // search is a literal, not a schedule name
  EXPECT_TRUE(p->classify({"GET", "/api/scheduler/schedules/search"}).classified());
}

TEST(ConductorProfile, ReplacingAScheduleOfAnotherWorkflowNeedsDefineThere) {
  const ProfileConstSharedPtr p = profile();
  const std::string body =
      R"({"name":"nightly","cronExpression":"0 0 * * * ?",)"
      R"("startWorkflowRequest":{"name":"payments","input":{"amount":3}}})";
  Classified run = classifyFully(*p, {"POST", "/api/scheduler/schedules", "", body, true},
                          [](const LookupKey&) { return LookupResult{}; });
  ASSERT_TRUE(run.c.classified());
  EXPECT_EQ(run.c.op.workflow, "payments");
  EXPECT_EQ(run.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
  EXPECT_TRUE(run.c.also.empty());
  EXPECT_NE(run.c.op.findInput("/amount"), nullptr);

  run = classifyFully(*p, {"POST", "/api/scheduler/schedules", "", body, true},
                      [](const LookupKey&) {
                        LookupResult r = foundAnswer();
                        r.workflow = "payroll";
                        return r;
                      });
  ASSERT_TRUE(run.c.classified());
  ASSERT_EQ(run.c.also.size(), 1u);
  EXPECT_EQ(run.c.also[0].workflow, "payroll");
  EXPECT_EQ(run.c.also[0].actions, ActionSet({Action::kDefine}));
}

// ---------------------------------------------------------------------------------------------
// parseLookup on answers shaped like the schemas (schemas/Workflow.json, Task.json)

LookupKey keyFor(const Profile& p, const std::string& method, const std::string& path) {
  const Classification c = p.classify({method, path});
  EXPECT_EQ(c.outcome, Outcome::kNeedsLookup) << path;
  return c.lookups.empty() ? LookupKey{} : c.lookups[0];
}

TEST(ConductorProfile, ParsesExecutionAnswers) {
  const ProfileConstSharedPtr p = profile();
  const LookupKey key = keyFor(*p, "GET", "/api/workflow/3f1c9a2e-1b7d-4c55-9e0f-aa01");
  LookupResult r;
  const std::string answer =
      R"({"status":"RUNNING","workflowId":"3f1c9a2e-1b7d-4c55-9e0f-aa01",)"
      R"("workflowName":"order-fulfillment","workflowVersion":2,"correlationId":"o-1",)"
      R"("createdBy":"someone","createTime":1700000000000,"tasks":[],"input":{"a":{"b":[1]}},)"
      R"("workflowDefinition":{"name":"order-fulfillment","version":2,"tasks":[]}})";
  ASSERT_TRUE(p->parseLookup(key, 200, answer, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "order-fulfillment");
  EXPECT_EQ(r.version, "2");
  EXPECT_EQ(r.execution, "3f1c9a2e-1b7d-4c55-9e0f-aa01");
  EXPECT_EQ(r.started_by, "");  // createdBy is caller-settable

  // Only the definition (the schema's required members).
  ASSERT_TRUE(p->parseLookup(
      key, 200,
      R"({"workflowId":"3f1c9a2e-1b7d-4c55-9e0f-aa01","workflowDefinition":{"name":"x","version":5}})",
      r));
  EXPECT_EQ(r.workflow, "x");
  EXPECT_EQ(r.version, "5");

  ASSERT_TRUE(p->parseLookup(key, 404, R"({"message":"not found"})", r));
  EXPECT_FALSE(r.found);
  ASSERT_TRUE(p->parseLookup(key, 200, "", r));
  EXPECT_FALSE(r.found);

  EXPECT_FALSE(p->parseLookup(key, 500, "{}", r));
  EXPECT_FALSE(p->parseLookup(key, 200, "<html>", r));
  EXPECT_FALSE(p->parseLookup(key, 200, R"({"workflowId":"other","workflowName":"x"})", r));
  EXPECT_FALSE(p->parseLookup(
      key, 200,
      R"({"workflowId":"3f1c9a2e-1b7d-4c55-9e0f-aa01","workflowName":"a",)"
      R"("workflowDefinition":{"name":"b"}})",
      r));
  EXPECT_FALSE(p->parseLookup(key, 200, R"({"workflowId":"3f1c9a2e-1b7d-4c55-9e0f-aa01"})", r));
}

TEST(ConductorProfile, ParsesTaskAndScheduleAnswers) {
  const ProfileConstSharedPtr p = profile();
  const LookupKey task = keyFor(*p, "GET", "/api/tasks/t-42");
  LookupCall call;
  ASSERT_TRUE(p->lookupCall(task, call));
  EXPECT_EQ(call.target, "/api/tasks/t-42");
  LookupResult r;
  ASSERT_TRUE(p->parseLookup(
      task, 200,
      R"({"taskType":"SIMPLE","status":"IN_PROGRESS","referenceTaskName":"charge-card",)"
      R"("taskDefName":"charge","workflowInstanceId":"run-7","workflowType":"payments",)"
      R"("taskId":"t-42","retryCount":0,"inputData":{}})",
      r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "payments");
  EXPECT_EQ(r.execution, "run-7");
  EXPECT_EQ(r.step, "charge-card");
  EXPECT_FALSE(p->parseLookup(task, 200, R"({"taskId":"t-42","workflowType":"payments"})", r));
  EXPECT_FALSE(p->parseLookup(
      task, 200,
      R"({"taskId":"t-43","workflowInstanceId":"r","workflowType":"w","referenceTaskName":"s"})",
      r));

  const LookupKey sched = keyFor(*p, "GET", "/api/scheduler/schedules/nightly");
  ASSERT_TRUE(p->parseLookup(
      sched, 200,
      R"({"name":"nightly","cronExpression":"0 0 * * * ?","paused":false,)"
      R"("startWorkflowRequest":{"name":"payments","version":3,"input":{}}})",
      r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "payments");
  EXPECT_EQ(r.version, "3");
  EXPECT_FALSE(p->parseLookup(sched, 200, R"({"name":"nightly"})", r));
  ASSERT_TRUE(p->parseLookup(sched, 404, "", r));
  EXPECT_FALSE(r.found);
}

// ---------------------------------------------------------------------------------------------
// learn()

TEST(ConductorProfile, LearnsTheStartedWorkflowId) {
  const ProfileConstSharedPtr p = profile();
  const Call call{"POST", "/api/workflow/payments", "version=4", "{}", true};
  const Classified run = classifyFully(*p, call);
  ASSERT_TRUE(run.c.classified());
  RequestView v;
  v.method = call.method;
  v.path = call.path;
  v.query = call.query;
  std::vector<Learned> learned;
  p->learn(v, run.c, 200, "9b2f5c1e-0a44-4d1f-8a3e-5d2c7b1e9f00", learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key.id, "9b2f5c1e-0a44-4d1f-8a3e-5d2c7b1e9f00");
  EXPECT_TRUE(learned[0].result.found);
  EXPECT_EQ(learned[0].result.workflow, "payments");
  EXPECT_EQ(learned[0].result.version, "4");
  EXPECT_EQ(learned[0].result.execution, "9b2f5c1e-0a44-4d1f-8a3e-5d2c7b1e9f00");
  // The learnt key is the one a later call on that id asks for.
  const LookupKey later = keyFor(*p, "PUT", "/api/workflow/9b2f5c1e-0a44-4d1f-8a3e-5d2c7b1e9f00/pause");
  EXPECT_EQ(learned[0].key, later);

  learned.clear();
  p->learn(v, run.c, 500, "9b2f5c1e", learned);
  p->learn(v, run.c, 200, "{\"error\":\"x y\"}", learned);
  p->learn(v, run.c, 200, "", learned);
  EXPECT_TRUE(learned.empty());

  // Reads teach nothing.
  const Classified read = classifyFully(*p, {"GET", "/api/workflow/run-7"});
  RequestView rv;
  rv.method = "GET";
  rv.path = "/api/workflow/run-7";
  p->learn(rv, read.c, 200, "run-8", learned);
  EXPECT_TRUE(learned.empty());
}

TEST(ConductorProfile, LearnsFromTheBodyStartAndExecute) {
  const ProfileConstSharedPtr p = profile();
  Call call{"POST", "/api/workflow", "", R"({"name":"payments"})", true};
  Classified run = classifyFully(*p, call);
  ASSERT_TRUE(run.c.learn_response);
  RequestView v;
  v.method = call.method;
  v.path = call.path;
  std::vector<Learned> learned;
  p->learn(v, run.c, 200, "abc-123\n", learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key.id, "abc-123");
  EXPECT_EQ(learned[0].result.workflow, "payments");

  call = {"POST", "/api/workflow/execute/payments/2", "", "{}", true};
  run = classifyFully(*p, call);
  ASSERT_TRUE(run.c.classified());
  v.path = call.path;
  learned.clear();
  p->learn(v, run.c, 200, R"({"workflowId":"run-55","status":"COMPLETED","output":{}})", learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key.id, "run-55");
  EXPECT_EQ(learned[0].result.version, "2");
}

TEST(ConductorProfile, DeniedByDesignSaysWhy) {
  const ProfileConstSharedPtr p = profile();
  for (const char* path : {"/api/a2a/agent-card", "/api/a2a/workflow/payments",
                           "/api/a2a/agent/helper/rpc"}) {
    const Classification c = p->classify({"POST", path});
    EXPECT_EQ(c.outcome, Outcome::kUnclassified) << path;
    EXPECT_NE(c.why.find("denied by design"), std::string_view::npos) << path;
  }
}

TEST(ConductorProfile, ClassificationIsReusedAcrossCalls) {
  const ProfileConstSharedPtr p = profile();
  Classification c;
  p->classify({"POST", "/api/tasks/run-7/charge/COMPLETED"}, c);
  ASSERT_EQ(c.outcome, Outcome::kNeedsLookup);
  p->classify({"GET", "/api/workflow/search"}, c);
  ASSERT_TRUE(c.classified());
  EXPECT_TRUE(c.lookups.empty());
  EXPECT_EQ(c.op.step, "");
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kList}));
}

}  // namespace
}  // namespace stepgate::orchestrators
