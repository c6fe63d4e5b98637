// The Airflow profile: coverage of both vendored API specs, and the classification rules.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrators/airflow.h"
#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {
namespace {

using policy::Action;
using policy::ActionSet;

ProfileConstSharedPtr airflow() {
  config::UpstreamConfig up;
  up.name = "airflow";
  up.profile = "airflow";
  return makeAirflowProfile(up);
}

ActionSet parseActions(std::string_view text) {
  ActionSet s;
  while (!text.empty()) {
    const size_t comma = std::min(text.find(','), text.size());
    const auto a = policy::parseAction(text.substr(0, comma));
    EXPECT_TRUE(a.has_value()) << text;
    if (a)
      s.add(*a);
    text.remove_prefix(comma == text.size() ? comma : comma + 1);
  }
  return s;
}

// Runs the classification conversation: the body when asked for, lookup answers when asked.
class Call {
 public:
  Call(std::string method, std::string path, std::string query = {})
      : method_(std::move(method)), path_(std::move(path)), query_(std::move(query)) {}

  Call& body(std::string b) {
    body_ = std::move(b);
    return *this;
  }
  Call& answer(LookupResult r) {
    answer_ = std::move(r);
    return *this;
  }

  // The first classification only.
  Classification first(const Profile& p) const { return p.classify(view()); }

  // The final classification; `asked` says what the profile asked for on the way.
  Classification run(const Profile& p, std::vector<Outcome>* asked = nullptr) {
    RequestView v = view();
    Classification c;
    for (int round = 0; round < 3; ++round) {
      p.classify(v, c);
      if (c.outcome == Outcome::kNeedsBody) {
        if (asked)
          asked->push_back(c.outcome);
        if (v.body_read || !body_)
          return c;
        v.body_read = true;
        v.body = *body_;
        StatusOr<JsonValue> j = parseJson(*body_);
        json_ = j.isOk() ? std::optional<JsonValue>(std::move(*j)) : std::nullopt;
        v.json = json_ ? &*json_ : nullptr;
        continue;
      }
      if (c.outcome == Outcome::kNeedsLookup) {
        if (asked)
          asked->push_back(c.outcome);
        if (!v.lookups.empty() || !answer_)
          return c;
        keys_ = c.lookups;
        resolved_.clear();
        for (const LookupKey& k : keys_)
          resolved_.push_back({&k, &*answer_});
        v.lookups = resolved_;
        continue;
      }
      return c;
    }
    return c;
  }

 private:
  RequestView view() const {
    RequestView v;
    v.method = method_;
    v.path = path_;
    v.query = query_;
    return v;
  }

  std::string method_, path_, query_;
  std::optional<std::string> body_;
  std::optional<LookupResult> answer_;
  std::optional<JsonValue> json_;
  std::vector<LookupKey> keys_;
  std::vector<ResolvedLookup> resolved_;
};

LookupResult found(std::string workflow) {
  LookupResult r;
  r.found = true;
  r.workflow = std::move(workflow);
  return r;
}

// "{x}" → "{}" in a template.
std::string shape(std::string_view t) {
  std::string out;
  bool in = false;
  for (char c : t) {
    if (c == '{') {
      in = true;
      out += "{}";
    } else if (c == '}') {
      in = false;
    } else if (!in) {
      out.push_back(c);
    }
  }
  return out;
}

// A plausible value for a path parameter.
std::string sample(std::string_view name) {
  if (name == "dag_id")
    return "etl";
  if (name == "dag_run_id")
    return "run_1";
  if (name == "task_id")
    return "extract";
  if (name == "map_index")
    return "2";
  if (name == "backfill_id" || name == "asset_id" || name == "event_log_id" ||
      name == "import_error_id" || name == "asset_alias_id" || name == "version_number" ||
      name == "try_number" || name == "task_try_number") {
    return "7";
  }
  if (name.size() > 3 && name.substr(name.size() - 3) == "...")
    return "a/b";
  return "x1";
}

// Fills a template; `fixed` gives values the spec pins (schema const).
std::string concrete(std::string_view t, const std::map<std::string, std::string>& fixed = {}) {
  std::string out;
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] == '{') {
      const size_t close = t.find('}', i);
      const std::string name(t.substr(i + 1, close - i - 1));
      const auto f = fixed.find(name);
      out += f != fixed.end() ? f->second : sample(name);
      i = close + 1;
    } else {
      out.push_back(t[i++]);
    }
  }
  return out;
}

// Bodies for the operations whose classification reads the body, and the actions they give.
struct BodyCase {
  std::string body;
  std::string actions;
};

const std::map<std::string, BodyCase>& bodyCases() {
  static const std::map<std::string, BodyCase> cases = {
      {"PATCH /api/v1/dags", {R"({"is_paused": true})", "pause"}},
      {"PATCH /api/v1/dags/{}", {R"({"is_paused": false})", "resume"}},
      {"POST /api/v1/dags/{}/clearTaskInstances",
       {R"({"dry_run": false, "task_ids": ["extract"], "dag_run_id": "run_1"})", "rerun"}},
      {"POST /api/v1/dags/{}/dagRuns", {R"({"conf": {"amount": 5}})", "start"}},
      {"PATCH /api/v1/dags/{}/dagRuns/{}", {R"({"state": "failed"})", "stop"}},
      {"POST /api/v1/dags/{}/dagRuns/{}/clear", {R"({"dry_run": false})", "rerun"}},
      {"PATCH /api/v1/dags/{}/dagRuns/{}/taskInstances/{}",
       {R"({"dry_run": false, "new_state": "success"})", "complete-step"}},
      {"PATCH /api/v1/dags/{}/dagRuns/{}/taskInstances/{}/{}",
       {R"({"dry_run": false, "new_state": "skipped"})", "skip-step"}},
      {"POST /api/v1/dags/{}/updateTaskInstancesState",
       {R"({"dry_run": false, "task_id": "extract", "dag_run_id": "run_1", "new_state": "failed"})",
        "fail-step"}},
      {"POST /api/v1/dags/~/dagRuns/list", {R"({"dag_ids": ["etl"]})", "list"}},
      {"POST /api/v1/dags/~/dagRuns/~/taskInstances/list", {R"({"dag_ids": ["etl"]})", "list"}},
      {"PATCH /api/v2/dags", {R"({"is_paused": true})", "pause"}},
      {"PATCH /api/v2/dags/{}", {R"({"is_paused": true})", "pause"}},
      {"POST /api/v2/backfills",
       {R"({"dag_id": "etl", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-05T00:00:00Z", "reprocess_behavior": "none"})",
        "start"}},
      {"POST /api/v2/backfills/dry_run",
       {R"({"dag_id": "etl", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-05T00:00:00Z"})",
        "read"}},
      {"POST /api/v2/dags/{}/clearTaskInstances",
       {R"({"dry_run": false, "task_ids": ["extract", ["load", 3]], "dag_run_id": "run_1"})",
        "rerun"}},
      {"POST /api/v2/dags/{}/dagRuns", {R"({"logical_date": null, "conf": {}})", "start"}},
      {"POST /api/v2/dags/{}/dagRuns/list", {R"({"dag_ids": ["etl"]})", "list"}},
      {"PATCH /api/v2/dags/{}/dagRuns/{}", {R"({"state": "queued"})", "rerun"}},
      {"POST /api/v2/dags/{}/dagRuns/{}/clear", {R"({"dry_run": true})", "read"}},
      {"PATCH /api/v2/dags/{}/dagRuns/{}/taskInstances",
       {R"({"actions": [{"action": "update", "entities": [{"task_id": "extract", "new_state": "success"}]}]})",
        "complete-step"}},
      {"POST /api/v2/dags/{}/dagRuns/{}/taskInstances/list", {R"({"dag_ids": ["etl"]})", "list"}},
      {"PATCH /api/v2/dags/{}/dagRuns/{}/taskInstances/{}",
       {R"({"new_state": "failed"})", "fail-step"}},
      {"PATCH /api/v2/dags/{}/dagRuns/{}/taskInstances/{}/{}",
       {R"({"new_state": "success", "note": "checked by hand"})", "complete-step,signal"}},
  };
  return cases;
}

// Classifies `method template` with plausible ids, bodies and lookup answers, and checks the
// outcome against the row.
void expectRowClassifies(const Profile& p, const OperationInfo& row,
                         const std::map<std::string, std::string>& fixed) {
  const std::string key = row.method + " " + shape(row.path);
  const std::string method = row.method == "*" ? "POST" : row.method;
  Call call(method, concrete(row.path, fixed));
  const auto bc = bodyCases().find(key);
  if (bc != bodyCases().end())
    call.body(bc->second.body);
  call.answer(found("etl"));
  const Classification c = call.run(p);
  if (row.actions == "unclassified") {
    EXPECT_EQ(c.outcome, Outcome::kUnclassified) << key;
    EXPECT_FALSE(c.why.empty()) << key;
    return;
  }
  ASSERT_EQ(c.outcome, Outcome::kClassified) << key << " why: " << c.why;
  const ActionSet want =
      bc != bodyCases().end() ? parseActions(bc->second.actions) : parseActions(row.actions);
  EXPECT_EQ(c.op.actions.toString(), want.toString()) << key;
  // Body-dependent rows list every action the body can lead to.
  EXPECT_EQ(c.op.actions.bits() & ~parseActions(row.actions).bits(), 0) << key;
  EXPECT_EQ(c.op.upstream, "airflow") << key;
}

struct SpecOp {
  std::string method;
  std::string path;
  std::string name;
  std::map<std::string, std::string> fixed;  // path parameters pinned by a schema const
};

std::vector<SpecOp> loadSpec(const std::string& file) {
  const YAML::Node doc = YAML::LoadFile(std::string(STEPGATE_SOURCE_DIR) + "/" + file);
  std::string prefix;
  if (doc["servers"] && doc["servers"].size() > 0) {
    prefix = doc["servers"][0]["url"].as<std::string>();
  }
  auto pinned = [](const YAML::Node& params, std::map<std::string, std::string>& fixed) {
    if (!params)
      return;
    for (const YAML::Node& prm : params) {
      if (prm["in"] && prm["in"].as<std::string>() == "path" && prm["schema"] &&
          prm["schema"]["const"]) {
        fixed[prm["name"].as<std::string>()] = prm["schema"]["const"].as<std::string>();
      }
    }
  };
  std::vector<SpecOp> ops;
  for (const auto& path : doc["paths"]) {
    std::map<std::string, std::string> common;
    pinned(path.second["parameters"], common);
    for (const auto& m : path.second) {
      std::string method = m.first.as<std::string>();
      static const std::set<std::string> kMethods = {"get",    "put",  "post",    "patch",
                                                     "delete", "head", "options", "trace"};
      if (!kMethods.count(method))
        continue;
      for (char& ch : method)
        ch = static_cast<char>(ch - 'a' + 'A');
      SpecOp op{method, prefix + path.first.as<std::string>(),
                m.second["operationId"].as<std::string>(""), common};
      pinned(m.second["parameters"], op.fixed);
      ops.push_back(std::move(op));
    }
  }
  return ops;
}

void checkSpec(const std::string& file, size_t expected_ops) {
  const ProfileConstSharedPtr p = airflow();
  const std::vector<OperationInfo> rows = p->operations();
  const std::vector<SpecOp> ops = loadSpec(file);
  // The spec file is the one vendored; a changed count means rows must be reviewed.
  EXPECT_EQ(ops.size(), expected_ops) << file;
  for (const SpecOp& op : ops) {
    const OperationInfo* row = nullptr;
    for (const OperationInfo& r : rows) {
      if (r.method == op.method && shape(r.path) == shape(op.path))
        row = &r;
    }
    ASSERT_NE(row, nullptr) << "no row for " << op.method << " " << op.path << " (" << op.name
                            << ")";
    EXPECT_EQ(row->name, op.name) << op.method << " " << op.path;
    expectRowClassifies(*p, *row, op.fixed);
  }
}

TEST(AirflowProfile, CoversEveryOperationOfTheV1Spec) {
  checkSpec("tests/fixtures/specs/airflow/airflow-2.10.0/v1.yaml", 89);
}

TEST(AirflowProfile, CoversEveryOperationOfTheV2Spec) {
  checkSpec("tests/fixtures/specs/airflow/airflow-3.2.1/v2.yaml", 110);
}

TEST(AirflowProfile, EveryRowClassifiesAsItSays) {
  const ProfileConstSharedPtr p = airflow();
  const std::vector<OperationInfo> rows = p->operations();
  EXPECT_EQ(rows.size(), 89u + 110u + 10u);
  std::set<std::string> seen;
  for (const OperationInfo& row : rows) {
    EXPECT_TRUE(seen.insert(row.method + " " + shape(row.path)).second) << row.path;
    EXPECT_FALSE(row.name.empty()) << row.path;
    EXPECT_FALSE(row.workflow.empty()) << row.path;
    EXPECT_FALSE(row.execution.empty()) << row.path;
    EXPECT_FALSE(row.step.empty()) << row.path;
    std::map<std::string, std::string> fixed;
    if (row.name == "get_list_dag_runs_batch" || row.name == "get_task_instances_batch") {
      fixed = {{"dag_id", "~"}, {"dag_run_id", "~"}};
    }
    expectRowClassifies(*p, row, fixed);
  }
}

// The actions of the operations a reviewer cares most about, pinned independently of the
// profile's own table (the coverage tests only check that the table and classify() agree).
TEST(AirflowProfile, KeyOperationsHaveTheirActions) {
  const ProfileConstSharedPtr p = airflow();
  const std::map<std::string, std::string> want = {
      {"DELETE /api/v1/dags/{}", "undefine"},
      {"DELETE /api/v2/dags/{}", "undefine"},
      {"POST /api/v1/dags/{}/dagRuns", "start"},
      {"POST /api/v2/dags/{}/dagRuns", "start"},
      {"DELETE /api/v2/dags/{}/dagRuns/{}", "admin"},
      {"POST /api/v2/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries", "signal"},
      {"PATCH /api/v2/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries/{}", "signal"},
      {"DELETE /api/v2/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries/{}", "signal"},
      {"PATCH /api/v1/dags/{}/dagRuns/{}/setNote", "signal"},
      {"GET /api/v1/variables/{}", "admin"},
      {"GET /api/v2/connections", "admin"},
      {"PUT /api/v2/parseDagFile/{}", "define"},
      {"POST /api/v2/assets/events", "start"},
      {"POST /api/v1/datasets/events", "start"},
      {"PUT /api/v2/backfills/{}/cancel", "stop"},
      {"PUT /api/v2/backfills/{}/pause", "pause"},
      {"PUT /api/v2/backfills/{}/unpause", "resume"},
      {"PATCH /api/v2/dags/{}/dagRuns/{}/taskInstances/{}/{}/hitlDetails",
       "complete-step,fail-step"},
      {"DELETE /api/v2/dags/{}/dagRuns/{}/taskInstances/{}", "admin"},
      {"GET /api/v2/jobs", "admin"},
      {"GET /api/v1/users", "admin"},
      {"GET /api/v2/dags/{}/dagRuns/{}/wait", "read"},
      {"* /execution/{}", "work"},
  };
  size_t checked = 0;
  for (const OperationInfo& row : p->operations()) {
    const auto w = want.find(row.method + " " + shape(row.path));
    if (w == want.end())
      continue;
    ++checked;
    EXPECT_EQ(row.actions, w->second) << w->first;
    const std::string method = row.method == "*" ? "PUT" : row.method;
    const Classification c =
        Call(method, concrete(row.path)).body("{}").answer(found("etl")).run(*p);
    ASSERT_TRUE(c.classified()) << w->first;
    EXPECT_EQ(c.op.actions.toString(), w->second) << w->first;
  }
  EXPECT_EQ(checked, want.size());
}

// ---- routing ----

TEST(AirflowProfile, LiteralSegmentsBeatVariables) {
  const ProfileConstSharedPtr p = airflow();
  const std::string ti = "/api/v2/dags/etl/dagRuns/run_1/taskInstances/extract";
  Classification c = Call("GET", ti + "/links").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kRead}));
  EXPECT_EQ(c.op.step, "extract");
  c = Call("GET", ti + "/tries").run(*p);
  EXPECT_EQ(c.op.actions, ActionSet({Action::kList}));
  // PATCH …/{task_id}/dry_run is the dry run, not a map_index "dry_run".
  c = Call("PATCH", ti + "/dry_run").first(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kRead}));
  // A map_index that is not a number is no task instance.
  c = Call("GET", ti + "/abc").run(*p);
  EXPECT_EQ(c.outcome, Outcome::kUnclassified);
  c = Call("PATCH", ti + "/-1").body(R"({"new_state":"skipped"})").run(*p);
  ASSERT_TRUE(c.classified()) << c.why;
  EXPECT_EQ(c.op.actions, ActionSet({Action::kSkipStep}));
  EXPECT_EQ(c.op.step, "extract");
  // v1 batch routes exist only with the literal `~`.
  c = Call("POST", "/api/v1/dags/etl/dagRuns/list").run(*p);
  EXPECT_EQ(c.outcome, Outcome::kUnclassified);
  // backfills/dry_run is not a backfill id.
  c = Call("POST", "/api/v2/backfills/dry_run").body(R"({"dag_id":"etl"})").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kRead}));
  EXPECT_EQ(c.op.workflow, "etl");
}

TEST(AirflowProfile, UnknownCallsAreUnclassified) {
  const ProfileConstSharedPtr p = airflow();
  for (const auto& [m, path] : std::vector<std::pair<std::string, std::string>>{
           {"DELETE", "/api/v1/dags/etl/tasks"},
           {"HEAD", "/api/v2/dags/etl"},
           {"GET", "/api/v3/dags"},
           {"GET", "/api/v2/dags/etl/"},
           {"GET", "/"},
           {"POST", "/api/v1/dags/etl/dagRuns/run_1/taskInstances/extract/xcomEntries"}}) {
    const Classification c = Call(m, path).run(*p);
    EXPECT_EQ(c.outcome, Outcome::kUnclassified) << m << " " << path;
    EXPECT_FALSE(c.why.empty());
    EXPECT_TRUE(c.op.actions.empty());
  }
}

TEST(AirflowProfile, IdsComeFromThePathPercentDecoded) {
  const ProfileConstSharedPtr p = airflow();
  Classification c =
      Call("GET", "/api/v2/dags/etl/dagRuns/manual__2026-01-01T00%3A00%3A00%2B00%3A00").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.execution, "manual__2026-01-01T00:00:00+00:00");
  EXPECT_EQ(c.op.step, "");
  // The raw spelling is the same run.
  c = Call("GET", "/api/v2/dags/etl/dagRuns/manual__2026-01-01T00:00:00+00:00").run(*p);
  EXPECT_EQ(c.op.execution, "manual__2026-01-01T00:00:00+00:00");
  // Bytes that are not UTF-8 are refused.
  c = Call("GET", "/api/v2/dags/etl%FF/dagRuns").run(*p);
  EXPECT_EQ(c.outcome, Outcome::kUnclassified);
  c = Call("GET", "/api/v1/dags/etl/dagRuns/run_1/taskInstances/extract/logs/1").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.step, "extract");
  EXPECT_EQ(c.op.execution, "run_1");
}

TEST(AirflowProfile, MalformedQueryIsUnclassified) {
  const ProfileConstSharedPtr p = airflow();
  EXPECT_EQ(Call("GET", "/api/v2/dags", "dag_id_pattern=%zz").run(*p).outcome,
            Outcome::kUnclassified);
  EXPECT_TRUE(Call("GET", "/api/v2/dags", "limit=5").run(*p).classified());
}

// ---- wildcards and patterns ----

TEST(AirflowProfile, TildeOnReadsListsAcrossEverything) {
  const ProfileConstSharedPtr p = airflow();
  Classification c = Call("GET", "/api/v1/dags/~/dagRuns").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kList}));
  EXPECT_EQ(c.op.workflow, "");
  c = Call("GET", "/api/v2/dags/etl/dagRuns/~/taskInstances").run(*p);
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.execution, "");
  c = Call("GET", "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries").run(*p);
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(c.op.step, "");
}

TEST(AirflowProfile, TildeOnStateChangesWidensToEveryWorkflow) {
  const ProfileConstSharedPtr p = airflow();
  Classification c = Call("PATCH", "/api/v2/dags/~/dagRuns/~/taskInstances/extract")
                         .body(R"({"new_state":"success"})")
                         .run(*p);
  ASSERT_TRUE(c.classified()) << c.why;
  EXPECT_EQ(c.op.actions, ActionSet({Action::kCompleteStep}));
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(c.op.step, "extract");
  c = Call("POST", "/api/v1/dags/~/dagRuns").body("{}").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kStart}));
}

TEST(AirflowProfile, PatternQueryParametersWiden) {
  const ProfileConstSharedPtr p = airflow();
  Classification c = Call("GET", "/api/v2/dags/etl/dagRuns", "dag_id_pattern=e").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "");
  c = Call("GET", "/api/v2/dags/etl/dagRuns/run_1/taskInstances", "run_id_pattern=r").run(*p);
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.execution, "");
  c = Call("GET", "/api/v2/dags/etl/dagRuns/run_1/taskInstances/extract/xcomEntries",
           "task_id_pattern=x")
          .run(*p);
  EXPECT_EQ(c.op.step, "");
  EXPECT_EQ(c.op.execution, "run_1");
  c = Call("GET", "/api/v2/dags/etl/dagRuns", "state=failed").run(*p);
  EXPECT_EQ(c.op.workflow, "etl");
}

TEST(AirflowProfile, QueryDagIdNamesTheWorkflowOnlyWhenUnambiguous) {
  const ProfileConstSharedPtr p = airflow();
  EXPECT_EQ(Call("GET", "/api/v2/eventLogs", "dag_id=etl").run(*p).op.workflow, "etl");
  EXPECT_EQ(Call("GET", "/api/v1/dagWarnings", "dag_id=etl&limit=3").run(*p).op.workflow, "etl");
  EXPECT_EQ(Call("GET", "/api/v2/backfills", "dag_id=etl").run(*p).op.workflow, "etl");
  // Repeated: the servers disagree on which one wins.
  EXPECT_EQ(Call("GET", "/api/v2/eventLogs", "dag_id=etl&dag_id=payroll").run(*p).op.workflow, "");
  EXPECT_EQ(Call("GET", "/api/v2/eventLogs").run(*p).op.workflow, "");
  EXPECT_EQ(Call("GET", "/api/v2/eventLogs", "dag_id=etl&dag_id_pattern=p").run(*p).op.workflow,
            "");
  EXPECT_EQ(Call("GET", "/api/v2/eventLogs", "dag_id=%7E").run(*p).op.workflow, "");
}

TEST(AirflowProfile, BulkPauseIsAcrossWorkflows) {
  const ProfileConstSharedPtr p = airflow();
  Classification c =
      Call("PATCH", "/api/v2/dags", "dag_id_pattern=etl").body(R"({"is_paused":false})").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kResume}));
}

// ---- bodies ----

TEST(AirflowProfile, PauseAndResumeFollowTheBody) {
  const ProfileConstSharedPtr p = airflow();
  std::vector<Outcome> asked;
  Classification c =
      Call("PATCH", "/api/v2/dags/etl").body(R"({"is_paused":true})").run(*p, &asked);
  ASSERT_EQ(asked, std::vector<Outcome>{Outcome::kNeedsBody});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kPause}));
  c = Call("PATCH", "/api/v1/dags/etl", "update_mask=is_paused")
          .body(R"({"is_paused":false})")
          .run(*p);
  EXPECT_EQ(c.op.actions, ActionSet({Action::kResume}));
  // The servers coerce "true"; a classification must not guess.
  EXPECT_EQ(Call("PATCH", "/api/v2/dags/etl").body(R"({"is_paused":"true"})").run(*p).outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(Call("PATCH", "/api/v2/dags/etl").body(R"({})").run(*p).outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(Call("PATCH", "/api/v2/dags/etl").body("is_paused=true").run(*p).outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(Call("PATCH", "/api/v2/dags/etl")
                .body(R"({"is_paused":true,"is_paused":false})")
                .run(*p)
                .outcome,
            Outcome::kUnclassified);
}

TEST(AirflowProfile, TriggerIsStartWithInputFields) {
  const ProfileConstSharedPtr p = airflow();
  std::vector<Outcome> asked;
  const Classification c =
      Call("POST", "/api/v2/dags/payments/dagRuns")
          .body(R"({"dag_run_id":"r9","logical_date":null,"note":"n",)"
                R"("conf":{"amount":1200.5,"region":"eu","a/b":1,"nested":{"x":1}}})")
          .run(*p, &asked);
  ASSERT_EQ(asked, std::vector<Outcome>{Outcome::kNeedsBody});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "payments");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kStart}));
  // The new run's id is the caller's choice, not an execution the call acts on.
  EXPECT_EQ(c.op.execution, "");
  ASSERT_NE(c.op.findInput("/conf/amount"), nullptr);
  EXPECT_TRUE(c.op.findInput("/conf/amount")->is_number);
  EXPECT_DOUBLE_EQ(c.op.findInput("/conf/amount")->number, 1200.5);
  ASSERT_NE(c.op.findInput("/conf/region"), nullptr);
  EXPECT_EQ(c.op.findInput("/conf/region")->text, "eu");
  EXPECT_NE(c.op.findInput("/conf/a~1b"), nullptr);
  EXPECT_NE(c.op.findInput("/dag_run_id"), nullptr);
  EXPECT_EQ(c.op.findInput("/conf/nested"), nullptr);
  EXPECT_EQ(c.op.findInput("/logical_date"), nullptr);
  EXPECT_EQ(Call("POST", "/api/v2/dags/payments/dagRuns").body("[1]").run(*p).outcome,
            Outcome::kUnclassified);
}

TEST(AirflowProfile, DagRunStateChanges) {
  const ProfileConstSharedPtr p = airflow();
  const std::string run = "/api/v2/dags/etl/dagRuns/run_1";
  auto actions = [&](const std::string& path, const std::string& body) {
    const Classification c = Call("PATCH", path).body(body).run(*p);
    EXPECT_EQ(c.op.execution, c.classified() ? "run_1" : c.op.execution);
    return c.classified() ? c.op.actions.toString() : "unclassified";
  };
  EXPECT_EQ(actions(run, R"({"state":"failed"})"), "stop");
  EXPECT_EQ(actions(run, R"({"state":"success"})"), "complete-step");
  EXPECT_EQ(actions(run, R"({"state":"queued"})"), "rerun");
  EXPECT_EQ(actions(run, R"({"note":"looked at it"})"), "signal");
  EXPECT_EQ(actions(run, R"({"state":"failed","note":"x"})"), "stop,signal");
  EXPECT_EQ(actions(run, R"({"state":null,"note":"x"})"), "signal");
  EXPECT_EQ(actions(run, R"({"state":"running"})"), "unclassified");
  EXPECT_EQ(actions(run, R"({"state":1})"), "unclassified");
  EXPECT_EQ(actions(run, R"({})"), "unclassified");
  EXPECT_EQ(actions("/api/v1/dags/etl/dagRuns/run_1", R"({"state":"failed"})"), "stop");
}

TEST(AirflowProfile, ClearDagRunDryRunIsARead) {
  const ProfileConstSharedPtr p = airflow();
  const std::string path = "/api/v1/dags/etl/dagRuns/run_1/clear";
  EXPECT_EQ(Call("POST", path).body(R"({"dry_run":true})").run(*p).op.actions,
            ActionSet({Action::kRead}));
  EXPECT_EQ(Call("POST", path).body(R"({"dry_run":false})").run(*p).op.actions,
            ActionSet({Action::kRerun}));
  // Absent: classified as the change, whatever the server's default.
  EXPECT_EQ(Call("POST", path).body(R"({})").run(*p).op.actions, ActionSet({Action::kRerun}));
  EXPECT_EQ(Call("POST", path).body(R"({"dry_run":"true"})").run(*p).outcome,
            Outcome::kUnclassified);
}

TEST(AirflowProfile, ClearTaskInstancesTargetsEveryListedTask) {
  const ProfileConstSharedPtr p = airflow();
  const std::string path = "/api/v2/dags/etl/clearTaskInstances";
  Classification c =
      Call("POST", path)
          .body(
              R"({"dry_run":false,"dag_run_id":"run_1","task_ids":["extract",["load",2],"report"]})")
          .run(*p);
  ASSERT_TRUE(c.classified()) << c.why;
  EXPECT_EQ(c.op.actions, ActionSet({Action::kRerun}));
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.execution, "run_1");
  EXPECT_EQ(c.op.step, "extract");
  ASSERT_EQ(c.also.size(), 2u);
  EXPECT_EQ(c.also[0].step, "load");
  EXPECT_EQ(c.also[1].step, "report");
  for (const auto& o : c.also) {
    EXPECT_EQ(o.workflow, "etl");
    EXPECT_EQ(o.execution, "run_1");
    EXPECT_EQ(o.actions, ActionSet({Action::kRerun}));
    EXPECT_EQ(o.upstream, "airflow");
  }
}

TEST(AirflowProfile, ClearTaskInstancesExpansionsWiden) {
  const ProfileConstSharedPtr p = airflow();
  const std::string path = "/api/v1/dags/etl/clearTaskInstances";
  auto run = [&](const std::string& body) { return Call("POST", path).body(body).run(*p); };
  Classification c = run(
      R"({"dry_run":false,"dag_run_id":"run_1","task_ids":["a","b"],"include_downstream":true})");
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.step, "");
  EXPECT_TRUE(c.also.empty());
  EXPECT_EQ(c.op.execution, "run_1");
  c = run(R"({"dry_run":false,"dag_run_id":"run_1","task_ids":["a"],"include_past":true})");
  EXPECT_EQ(c.op.step, "a");
  EXPECT_EQ(c.op.execution, "");
  c = run(R"({"dry_run":false,"dag_run_id":"run_1","task_ids":["a"],"include_subdags":true})");
  EXPECT_EQ(c.op.workflow, "");
  // A date range instead of a run; all tasks.
  c = run(R"({"dry_run":false,"start_date":"2026-01-01T00:00:00Z","task_ids":[]})");
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(c.op.step, "");
  c = run(R"({"dry_run":true,"task_ids":["a"],"dag_run_id":"run_1"})");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kRead}));
  // Flags the server would coerce, ids that are not ids, bodies that are not JSON.
  EXPECT_EQ(run(R"({"dry_run":false,"task_ids":["a"],"include_upstream":"yes"})").outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(R"({"dry_run":false,"task_ids":[1]})").outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(R"({"dry_run":false,"task_ids":"a"})").outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(R"({"dry_run":false,"task_ids":["~"]})").outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(R"({"dry_run":false,"dag_run_id":5})").outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(R"({"dry_run":false,)").outcome, Outcome::kUnclassified);
  EXPECT_EQ(run("").outcome, Outcome::kUnclassified);
}

TEST(AirflowProfile, TaskInstanceStateChanges) {
  const ProfileConstSharedPtr p = airflow();
  const std::string v2 = "/api/v2/dags/etl/dagRuns/run_1/taskInstances/extract";
  auto classify = [&](const std::string& path, const std::string& body) {
    return Call("PATCH", path).body(body).run(*p);
  };
  Classification c = classify(v2, R"({"new_state":"success"})");
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kCompleteStep}));
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.execution, "run_1");
  EXPECT_EQ(c.op.step, "extract");
  EXPECT_EQ(classify(v2, R"({"new_state":"failed"})").op.actions, ActionSet({Action::kFailStep}));
  EXPECT_EQ(classify(v2, R"({"new_state":"skipped"})").op.actions, ActionSet({Action::kSkipStep}));
  EXPECT_EQ(classify(v2, R"({"note":"x"})").op.actions, ActionSet({Action::kSignal}));
  EXPECT_EQ(classify(v2, R"({"new_state":"running"})").outcome, Outcome::kUnclassified);
  EXPECT_EQ(classify(v2, R"({"new_state":"success","include_future":"1"})").outcome,
            Outcome::kUnclassified);
  c = classify(v2, R"({"new_state":"success","include_downstream":true,"include_future":true})");
  EXPECT_EQ(c.op.step, "");
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(c.op.workflow, "etl");
  // v1: dry_run true is a read; absent is the change.
  const std::string v1 = "/api/v1/dags/etl/dagRuns/run_1/taskInstances/extract";
  EXPECT_EQ(classify(v1, R"({"dry_run":true,"new_state":"failed"})").op.actions,
            ActionSet({Action::kRead}));
  EXPECT_EQ(classify(v1, R"({"new_state":"failed"})").op.actions, ActionSet({Action::kFailStep}));
}

TEST(AirflowProfile, V1SetTaskInstancesState) {
  const ProfileConstSharedPtr p = airflow();
  const std::string path = "/api/v1/dags/etl/updateTaskInstancesState";
  auto run = [&](const std::string& body) { return Call("POST", path).body(body).run(*p); };
  Classification c =
      run(R"({"dry_run":false,"task_id":"load","dag_run_id":"run_1","new_state":"success"})");
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.step, "load");
  EXPECT_EQ(c.op.execution, "run_1");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kCompleteStep}));
  c = run(R"({"dry_run":false,"task_id":"load","execution_date":"2026-01-01T00:00:00Z",)"
          R"("new_state":"skipped","include_upstream":true})");
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(c.op.step, "");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kSkipStep}));
  EXPECT_EQ(run(R"({"task_id":"load","dag_run_id":"r","execution_date":"2026-01-01T00:00:00Z",)"
                R"("new_state":"success"})")
                .outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(R"({"dag_run_id":"r","new_state":"success"})").outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(R"({"dry_run":true,"task_id":"load","dag_run_id":"r"})").op.actions,
            ActionSet({Action::kRead}));
}

TEST(AirflowProfile, BulkTaskInstancesAuthoriseEveryEntity) {
  const ProfileConstSharedPtr p = airflow();
  const std::string path = "/api/v2/dags/etl/dagRuns/run_1/taskInstances";
  Classification c =
      Call("PATCH", path)
          .body(R"({"actions":[)"
                R"({"action":"update","entities":[)"
                R"({"task_id":"a","new_state":"success"},)"
                R"({"task_id":"b","map_index":1,"new_state":"skipped","note":"n"}]},)"
                R"({"action":"delete","entities":[{"task_id":"c"}]}]})")
          .run(*p);
  ASSERT_TRUE(c.classified()) << c.why;
  EXPECT_EQ(c.op.step, "a");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kCompleteStep}));
  ASSERT_EQ(c.also.size(), 2u);
  EXPECT_EQ(c.also[0].step, "b");
  EXPECT_EQ(c.also[0].actions, ActionSet({Action::kSkipStep, Action::kSignal}));
  EXPECT_EQ(c.also[1].step, "c");
  EXPECT_EQ(c.also[1].actions, ActionSet({Action::kAdmin}));
  for (const auto& o : c.also) {
    EXPECT_EQ(o.workflow, "etl");
    EXPECT_EQ(o.execution, "run_1");
  }
}

TEST(AirflowProfile, BulkTaskInstancesEntityIdsAreCheckedAgainstThePath) {
  const ProfileConstSharedPtr p = airflow();
  // Under `~` paths the entity names the DAG and run.
  Classification c =
      Call("PATCH", "/api/v2/dags/~/dagRuns/~/taskInstances")
          .body(R"({"actions":[{"action":"update","entities":[)"
                R"({"task_id":"a","dag_id":"etl","dag_run_id":"r1","new_state":"failed"},)"
                R"({"task_id":"a","dag_id":"payroll","new_state":"failed"},)"
                R"({"task_id":"a","new_state":"failed"}]}]})")
          .run(*p);
  ASSERT_TRUE(c.classified()) << c.why;
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.execution, "r1");
  ASSERT_EQ(c.also.size(), 2u);
  EXPECT_EQ(c.also[0].workflow, "payroll");
  EXPECT_EQ(c.also[0].execution, "");
  EXPECT_EQ(c.also[1].workflow, "");  // no DAG named: every DAG
  // A concrete path and a different entity DAG: which one the server uses is not ours to guess.
  auto outcome = [&](const std::string& body) {
    return Call("PATCH", "/api/v2/dags/etl/dagRuns/run_1/taskInstances").body(body).run(*p);
  };
  EXPECT_EQ(outcome(R"({"actions":[{"action":"update","entities":[)"
                    R"({"task_id":"a","dag_id":"payroll","new_state":"failed"}]}]})")
                .outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(outcome(R"({"actions":[{"action":"update","entities":[)"
                    R"({"task_id":"a","dag_run_id":"other","new_state":"failed"}]}]})")
                .outcome,
            Outcome::kUnclassified);
  c = outcome(R"({"actions":[{"action":"update","entities":[)"
              R"({"task_id":"a","dag_id":"etl","dag_run_id":"run_1","new_state":"failed"}]}]})");
  EXPECT_TRUE(c.classified());
  EXPECT_EQ(outcome(R"({"actions":[{"action":"create","entities":[{"task_id":"a"}]}]})").outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(outcome(R"({"actions":[{"action":"delete","entities":["a"]}]})").outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(outcome(R"({"actions":[]})").outcome, Outcome::kUnclassified);
  EXPECT_EQ(outcome(R"({"actions":[{"action":"update","entities":[{"task_id":"a"}]}]})").outcome,
            Outcome::kUnclassified);
  c = outcome(R"({"actions":[{"action":"update","entities":[)"
              R"({"task_id":"a","new_state":"success","include_upstream":true}]}]})");
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.step, "");
}

TEST(AirflowProfile, TooManyTargetsAreDenied) {
  const ProfileConstSharedPtr p = airflow();
  std::string ids;
  for (int i = 0; i < 300; ++i)
    ids += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
  const Classification c = Call("POST", "/api/v2/dags/etl/clearTaskInstances")
                               .body(R"({"dry_run":false,"task_ids":[)" + ids + "]}")
                               .run(*p);
  EXPECT_EQ(c.outcome, Outcome::kUnclassified);
  EXPECT_TRUE(c.also.empty());
}

TEST(AirflowProfile, BatchListsOneTargetPerDag) {
  const ProfileConstSharedPtr p = airflow();
  Classification c =
      Call("POST", "/api/v2/dags/~/dagRuns/list").body(R"({"dag_ids":["etl","payroll"]})").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "etl");
  ASSERT_EQ(c.also.size(), 1u);
  EXPECT_EQ(c.also[0].workflow, "payroll");
  EXPECT_EQ(c.also[0].actions, ActionSet({Action::kList}));
  c = Call("POST", "/api/v2/dags/~/dagRuns/list").body(R"({})").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_TRUE(c.also.empty());
  EXPECT_EQ(Call("POST", "/api/v2/dags/etl/dagRuns/list").body(R"({})").run(*p).outcome,
            Outcome::kUnclassified);
  c = Call("POST", "/api/v1/dags/~/dagRuns/~/taskInstances/list")
          .body(R"({"dag_ids":["etl"],"dag_run_ids":["r1"],"task_ids":["a"]})")
          .run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.execution, "r1");
  EXPECT_EQ(c.op.step, "a");
  c = Call("POST", "/api/v2/dags/~/dagRuns/~/taskInstances/list")
          .body(R"({"dag_ids":["etl"],"dag_run_ids":["r1","r2"]})")
          .run(*p);
  EXPECT_EQ(c.op.execution, "");
  EXPECT_EQ(Call("POST", "/api/v2/dags/~/dagRuns/~/taskInstances/list")
                .body(R"({"dag_ids":"etl"})")
                .run(*p)
                .outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(
      Call("POST", "/api/v2/dags/~/dagRuns/run_1/taskInstances/list").body(R"({})").run(*p).outcome,
      Outcome::kUnclassified);
}

// ---- backfills: the one lookup ----

TEST(AirflowProfile, BackfillByIdNeedsALookup) {
  const ProfileConstSharedPtr p = airflow();
  const Classification first = Call("PUT", "/api/v2/backfills/42/cancel").first(*p);
  ASSERT_EQ(first.outcome, Outcome::kNeedsLookup);
  ASSERT_EQ(first.lookups.size(), 1u);
  LookupKey want;
  want.kind = kAirflowLookupBackfill;
  want.id = "42";
  EXPECT_EQ(first.lookups[0], want);

  Classification c = Call("PUT", "/api/v2/backfills/42/cancel").answer(found("etl")).run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kStop}));

  c = Call("PUT", "/api/v2/backfills/42/unpause").answer(LookupResult{}).run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.execution, "42");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kResume}));

  EXPECT_EQ(Call("GET", "/api/v2/backfills/4x2").run(*p).outcome, Outcome::kUnclassified);
  EXPECT_EQ(Call("GET", "/api/v2/backfills/-1").run(*p).outcome, Outcome::kUnclassified);
}

TEST(AirflowProfile, CreateBackfillIsStartAndRerunUnlessNothingIsReprocessed) {
  const ProfileConstSharedPtr p = airflow();
  Classification c = Call("POST", "/api/v2/backfills")
                         .body(R"({"dag_id":"etl","from_date":"2026-01-01T00:00:00Z",)"
                               R"("to_date":"2026-01-02T00:00:00Z","reprocess_behavior":"none"})")
                         .run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "etl");
  EXPECT_EQ(c.op.actions, ActionSet({Action::kStart}));
  EXPECT_TRUE(c.learn_response);
  c = Call("POST", "/api/v2/backfills")
          .body(
              R"({"dag_id":"etl","from_date":"2026-01-01T00:00:00Z","to_date":"2026-01-02T00:00:00Z"})")
          .run(*p);
  EXPECT_EQ(c.op.actions, ActionSet({Action::kStart, Action::kRerun}));
  c = Call("POST", "/api/v2/backfills")
          .body(R"({"dag_id":"etl","reprocess_behavior":"failed"})")
          .run(*p);
  EXPECT_EQ(c.op.actions, ActionSet({Action::kStart, Action::kRerun}));
  EXPECT_EQ(Call("POST", "/api/v2/backfills").body(R"({"dag_id":7})").run(*p).outcome,
            Outcome::kUnclassified);
}

TEST(AirflowProfile, LookupCallTargetsTheBackfill) {
  const ProfileConstSharedPtr p = airflow();
  LookupKey key;
  key.kind = kAirflowLookupBackfill;
  key.id = "42";
  LookupCall call;
  ASSERT_TRUE(p->lookupCall(key, call));
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.target, "/api/v2/backfills/42");
  EXPECT_TRUE(call.body.empty());
  key.id = "a b/c?d";
  ASSERT_TRUE(p->lookupCall(key, call));
  EXPECT_EQ(call.target, "/api/v2/backfills/a%20b%2Fc%3Fd");
  key.kind = 99;
  EXPECT_FALSE(p->lookupCall(key, call));
}

TEST(AirflowProfile, ParseLookupReadsABackfillResponse) {
  const ProfileConstSharedPtr p = airflow();
  LookupKey key;
  key.kind = kAirflowLookupBackfill;
  key.id = "42";
  const std::string body = R"({
    "id": 42, "dag_id": "etl", "dag_display_name": "ETL",
    "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-05T00:00:00Z",
    "dag_run_conf": {}, "is_paused": false, "reprocess_behavior": "none",
    "max_active_runs": 10, "created_at": "2026-02-01T10:00:00Z",
    "completed_at": null, "updated_at": "2026-02-01T10:00:00Z"})";
  LookupResult r;
  ASSERT_TRUE(p->parseLookup(key, 200, body, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "etl");
  ASSERT_TRUE(p->parseLookup(key, 404, R"({"detail":"Backfill not found"})", r));
  EXPECT_FALSE(r.found);
  EXPECT_EQ(r.workflow, "");
  EXPECT_FALSE(p->parseLookup(key, 500, "oops", r));
  EXPECT_FALSE(p->parseLookup(key, 403, R"({"detail":"Forbidden"})", r));
  EXPECT_FALSE(p->parseLookup(key, 200, "<html>", r));
  EXPECT_FALSE(p->parseLookup(key, 200, R"({"id":42})", r));
  // An answer about another backfill is not this one's.
  EXPECT_FALSE(p->parseLookup(key, 200, R"({"id":43,"dag_id":"etl"})", r));
}

TEST(AirflowProfile, LearnsTheBackfillACreateReturns) {
  const ProfileConstSharedPtr p = airflow();
  const std::string req_body = R"({"dag_id":"etl","reprocess_behavior":"none"})";
  Call call("POST", "/api/v2/backfills");
  call.body(req_body);
  const Classification c = call.run(*p);
  ASSERT_TRUE(c.learn_response);
  RequestView v;
  v.method = "POST";
  v.path = "/api/v2/backfills";
  std::vector<Learned> learned;
  p->learn(v, c, 200,
           R"({"id":17,"dag_id":"etl","from_date":"2026-01-01T00:00:00Z",)"
           R"("to_date":"2026-01-02T00:00:00Z","is_paused":false,"reprocess_behavior":"none",)"
           R"("max_active_runs":10,"created_at":"x","updated_at":"x","dag_display_name":"e"})",
           learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key.kind, kAirflowLookupBackfill);
  EXPECT_EQ(learned[0].key.id, "17");
  EXPECT_TRUE(learned[0].result.found);
  EXPECT_EQ(learned[0].result.workflow, "etl");
  // Failures and other calls teach nothing.
  learned.clear();
  p->learn(v, c, 409, R"({"id":17,"dag_id":"etl"})", learned);
  p->learn(v, c, 200, "not json", learned);
  Classification other = Call("GET", "/api/v2/dags/etl").run(*p);
  RequestView ov;
  ov.method = "GET";
  ov.path = "/api/v2/dags/etl";
  p->learn(ov, other, 200, R"({"id":17,"dag_id":"etl"})", learned);
  EXPECT_TRUE(learned.empty());
  // The learnt answer classifies a later call without asking the orchestrator.
  LookupResult answer = found("etl");
  const Classification later = Call("PUT", "/api/v2/backfills/17/pause").answer(answer).run(*p);
  EXPECT_EQ(later.op.workflow, "etl");
}

// ---- sub-apps ----

TEST(AirflowProfile, SubAppsAreClassifiedOrDeniedByDesign) {
  const ProfileConstSharedPtr p = airflow();
  Classification c = Call("GET", "/ui/grid/structure/etl").run(*p);
  EXPECT_EQ(c.outcome, Outcome::kUnclassified);
  EXPECT_FALSE(c.why.empty());
  c = Call("PATCH", "/execution/task-instances/0190c2a4-7f00-7a7f-8000-000000000000/run").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kWork}));
  EXPECT_EQ(c.op.workflow, "");
  c = Call("DELETE", "/auth/fab/v1/users/alice").run(*p);
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.actions, ActionSet({Action::kAdmin}));
  c = Call("POST", "/auth/token").run(*p);
  EXPECT_EQ(c.op.actions, ActionSet({Action::kAdmin}));
  EXPECT_EQ(Call("GET", "/execution").run(*p).outcome, Outcome::kUnclassified);
}

TEST(AirflowProfile, SecretsAreAdminEvenToRead) {
  const ProfileConstSharedPtr p = airflow();
  for (const char* path : {"/api/v1/variables/api_key", "/api/v2/variables",
                           "/api/v2/connections/aws_default", "/api/v1/connections"}) {
    const Classification c = Call("GET", path).run(*p);
    ASSERT_TRUE(c.classified()) << path;
    EXPECT_EQ(c.op.actions, ActionSet({Action::kAdmin})) << path;
    EXPECT_EQ(c.op.workflow, "") << path;
  }
}

TEST(AirflowProfile, ClassificationIsResetOnReuse) {
  const ProfileConstSharedPtr p = airflow();
  Call bulk("POST", "/api/v2/dags/~/dagRuns/list");
  bulk.body(R"({"dag_ids":["a","b"]})");
  Classification c = bulk.run(*p);
  ASSERT_EQ(c.also.size(), 1u);
  RequestView v;
  v.method = "GET";
  v.path = "/api/v2/nothing";
  p->classify(v, c);
  EXPECT_EQ(c.outcome, Outcome::kUnclassified);
  EXPECT_TRUE(c.also.empty());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_TRUE(c.op.actions.empty());
  EXPECT_EQ(c.op.upstream, "airflow");
}

TEST(AirflowProfile, MakeProfileBuildsIt) {
  config::UpstreamConfig up;
  up.name = "af";
  up.profile = "airflow";
  const ProfileConstSharedPtr p = makeProfile(up);
  const Classification c = p->classify({"GET", "/api/v2/dags/etl/details"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.upstream, "af");
  EXPECT_EQ(c.op.workflow, "etl");
}

}  // namespace
}  // namespace stepgate::orchestrators
