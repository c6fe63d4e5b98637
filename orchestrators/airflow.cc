// The Apache Airflow profile: Airflow 2.x /api/v1, Airflow 3.x /api/v2 and the Airflow 3
// sub-apps. See airflow.h and docs/profiles/airflow.md for the rules.

#include "orchestrators/airflow.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrators/profile_util.h"
#include "orchestrators/profiles.h"
#include "orchestrators/route_table.h"

namespace stepgate::orchestrators {

namespace {

using policy::Action;
using policy::ActionSet;
using policy::InputField;
using policy::Operation;

// How a route is classified beyond its fixed actions.
enum class Handler : uint8_t {
  kFixed,           // the row's actions; workflow, execution and step from the path
  kDenied,          // unclassified by design
  kQueryDag,        // the row's actions; workflow from a single `dag_id` query parameter
  kPatchDag,        // body is_paused → pause / resume
  kPatchDags,       // as kPatchDag, for every DAG matching the query: workflow ""
  kTrigger,         // start; the body's scalars become input fields
  kRunState,        // body state: failed → stop, success → complete-step, queued → rerun
  kClearRun,        // rerun, or read for dry_run: true
  kClearTasks,      // rerun per body task_ids, or read for dry_run: true
  kSetTasksState,   // v1 updateTaskInstancesState: body task_id and new_state
  kPatchTask,       // body new_state (and note, include_* flags)
  kBulkTasks,       // v2 bulk PATCH of task instances: every entity
  kRunsBatch,       // list, one target per body dag_ids entry
  kTasksBatch,      // list, one target per body dag_ids entry
  kBackfillCreate,  // start (+ rerun), workflow from body dag_id
  kBackfillDryRun,  // read, workflow from body dag_id
  kBackfillById,    // the row's actions; workflow by looking the backfill up
};

// At most this many targets in one bulk call; beyond, the call is denied.
constexpr size_t kMaxTargets = 256;
// At most this many input fields extracted from a body.
constexpr size_t kMaxInputs = 32;

bool isWildcard(std::string_view id) {
  return id == "~";
}

bool isInteger(std::string_view s) {
  if (!s.empty() && s.front() == '-')
    s.remove_prefix(1);
  if (s.empty() || s.size() > 18)
    return false;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
  }
  return true;
}

bool isDigits(std::string_view s) {
  if (s.empty() || s.size() > 18)
    return false;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
  }
  return true;
}

// The string and number members of `obj` as input fields under `prefix`.
void addScalars(const JsonValue& obj, std::string_view prefix, std::vector<InputField>& out) {
  if (!obj.isObject())
    return;
  for (const JsonMember& m : obj.asObject()) {
    if (out.size() >= kMaxInputs)
      return;
    std::string path(prefix);
    path.push_back('/');
    appendPointerToken(path, m.name);
    if (m.value.isString()) {
      out.push_back(InputField::ofString(std::move(path), m.value.asString()));
    } else if (m.value.isInt()) {
      out.push_back(InputField::ofNumber(std::move(path), static_cast<double>(m.value.asInt())));
    } else if (m.value.isDouble()) {
      out.push_back(InputField::ofNumber(std::move(path), m.value.asDouble()));
    }
  }
}

// A boolean body flag: absent or null → `dflt`; anything but a JSON boolean → false return
// (the servers coerce "true", 1, "yes"... so a non-boolean cannot be read safely).
bool readFlag(const JsonValue& body, std::string_view name, bool dflt, bool& value) {
  const JsonValue* v = body.find(name);
  if (v == nullptr || v->isNull()) {
    value = dflt;
    return true;
  }
  if (!v->isBool())
    return false;
  value = v->asBool();
  return true;
}

// dry_run counts only when it is literally true: an absent flag is classified as the change
// (the specs default it to true, which a classification must not rely on).
bool readDryRun(const JsonValue& body, bool& dry_run) {
  return readFlag(body, "dry_run", false, dry_run);
}

// An optional string member: absent or null → empty and true; a non-string → false.
bool readOptionalString(const JsonValue& body, std::string_view name, std::string& out) {
  out.clear();
  const JsonValue* v = body.find(name);
  if (v == nullptr || v->isNull())
    return true;
  if (!v->isString())
    return false;
  out = v->asString();
  return true;
}

// A task-instance state the API sets → the action. False for other states.
bool stateAction(std::string_view state, Action& a) {
  if (state == "success") {
    a = Action::kCompleteStep;
  } else if (state == "failed") {
    a = Action::kFailStep;
  } else if (state == "skipped") {
    a = Action::kSkipStep;
  } else {
    return false;
  }
  return true;
}

// The include_* expansions of a task-instance change. False when a flag is not a boolean.
struct Expansion {
  bool other_steps = false;  // include_upstream / include_downstream
  bool other_runs = false;   // include_past / include_future
  bool other_dags = false;   // v1 include_subdags / include_parentdag
};

bool readExpansion(const JsonValue& body, Expansion& e) {
  bool up = false, down = false, past = false, future = false, subdags = false, parent = false;
  if (!readFlag(body, "include_upstream", false, up) ||
      !readFlag(body, "include_downstream", false, down) ||
      !readFlag(body, "include_past", false, past) ||
      !readFlag(body, "include_future", false, future) ||
      !readFlag(body, "include_subdags", false, subdags) ||
      !readFlag(body, "include_parentdag", false, parent)) {
    return false;
  }
  e.other_steps = up || down;
  e.other_runs = past || future;
  e.other_dags = subdags || parent;
  return true;
}

void widen(Operation& op, const Expansion& e) {
  if (e.other_steps)
    op.step.clear();
  if (e.other_runs)
    op.execution.clear();
  if (e.other_dags) {
    op.workflow.clear();
    op.step.clear();
  }
}

// The ids a route's path names, percent-decoded; `~` stays `~`.
struct Ids {
  std::string dag, run, task;
  std::string_view map_index;
  std::string_view backfill;
};

class AirflowProfile final : public Profile {
 public:
  explicit AirflowProfile(std::string upstream);

  using Profile::classify;
  // Profile
  void classify(const RequestView& req, Classification& out) const override;
  bool lookupCall(const LookupKey& key, LookupCall& out) const override;
  bool parseLookup(const LookupKey& key, int status, std::string_view body,
                   LookupResult& out) const override;
  void learn(const RequestView& req, const Classification& c, int status, std::string_view body,
             std::vector<Learned>& out) const override;
  std::vector<OperationInfo> operations() const override;

 private:
  struct Route {
    OperationInfo info;
    Handler handler = Handler::kFixed;
    ActionSet actions;
    // Capture indexes of the ids, -1 when the template has none.
    int dag = -1, run = -1, task = -1, map_index = -1, backfill = -1;
  };

  void add(std::string_view method, std::string path, std::string_view name, Handler handler,
           std::string_view actions, std::string_view notes = {}, std::string_view workflow = {},
           std::string_view execution = {}, std::string_view step = {});

  // Sets op's workflow, execution and step from the path ids (`~` → "").
  static void fromPath(const Ids& ids, Operation& op);
  // Asks for the body, or returns it when it is a JSON object; null when the outcome is set.
  static const JsonValue* body(const RequestView& req, Classification& out);

  void classifyRoute(const Route& r, const Ids& ids, const QueryParams& query,
                     const RequestView& req, Classification& out) const;
  void classifyClearTasks(const JsonValue& b, Classification& out) const;
  void classifyBulkTasks(const Ids& ids, const JsonValue& b, Classification& out) const;
  void classifyBatch(const Route& r, const Ids& ids, const JsonValue& b, Classification& out) const;

  std::string upstream_;
  RouteTable table_;
  std::vector<Route> routes_;
};

AirflowProfile::AirflowProfile(std::string upstream) : upstream_(std::move(upstream)) {
  using H = Handler;
  const std::string v1 = "/api/v1";
  const std::string v2 = "/api/v2";
  const std::string dag = "/dags/{dag_id}";
  const std::string run = dag + "/dagRuns/{dag_run_id}";
  const std::string ti = run + "/taskInstances/{task_id}";
  const std::string mti = ti + "/{map_index}";
  constexpr std::string_view kSecret =
      "reading it is admin: variables and connections hold secrets";
  constexpr std::string_view kFileToken =
      "file_token names a DAG file, which may define several DAGs: workflow \"\"";
  constexpr std::string_view kAcross = "across all DAGs: workflow \"\"";
  constexpr std::string_view kTilde =
      "`~` in {dag_id}/{dag_run_id}/{task_id} lists across all: that id is \"\"";
  constexpr std::string_view kPatterns =
      "query dag_id_pattern → workflow \"\", run_id_pattern → execution \"\", "
      "task_id_pattern → step \"\"";
  constexpr std::string_view kTiState =
      "body new_state success → complete-step, failed → fail-step, skipped → skip-step "
      "(other states denied); note → signal; include_upstream/downstream → step \"\", "
      "include_past/future → execution \"\"";
  constexpr std::string_view kBodyDag = "body dag_id";
  constexpr std::string_view kBackfillLookup = "lookup GET /api/v2/backfills/{backfill_id}";

  // ---- Airflow 2.x stable API (/api/v1) ----
  add("GET", v1 + "/config", "get_config", H::kFixed, "admin");
  add("GET", v1 + "/config/section/{section}/option/{option}", "get_value", H::kFixed, "admin");
  add("GET", v1 + "/connections", "get_connections", H::kFixed, "admin", kSecret);
  add("POST", v1 + "/connections", "post_connection", H::kFixed, "admin");
  add("POST", v1 + "/connections/test", "test_connection", H::kFixed, "admin");
  add("DELETE", v1 + "/connections/{connection_id}", "delete_connection", H::kFixed, "admin");
  add("GET", v1 + "/connections/{connection_id}", "get_connection", H::kFixed, "admin", kSecret);
  add("PATCH", v1 + "/connections/{connection_id}", "patch_connection", H::kFixed, "admin");
  add("GET", v1 + "/dagSources/{file_token}", "get_dag_source", H::kFixed, "read", kFileToken,
      "- (file_token)");
  add("GET", v1 + "/dagStats", "get_dag_stats", H::kFixed, "list", kAcross);
  add("GET", v1 + "/dagWarnings", "get_dag_warnings", H::kQueryDag, "list",
      "workflow from query dag_id when given exactly once, else \"\"", "query dag_id");
  add("GET", v1 + "/dags", "get_dags", H::kFixed, "list", kAcross);
  add("PATCH", v1 + "/dags", "patch_dags", H::kPatchDags, "pause,resume",
      "body is_paused true → pause, false → resume, for every DAG matching the query "
      "(dag_id_pattern, tags, only_active): workflow \"\"",
      "- (every matching DAG)");
  add("DELETE", v1 + dag, "delete_dag", H::kFixed, "undefine",
      "deletes the DAG's metadata and history");
  add("GET", v1 + dag, "get_dag", H::kFixed, "read");
  add("PATCH", v1 + dag, "patch_dag", H::kPatchDag, "pause,resume",
      "body is_paused true → pause, false → resume");
  add("POST", v1 + dag + "/clearTaskInstances", "post_clear_task_instances", H::kClearTasks,
      "rerun,read",
      "one target per body task_ids entry (none: step \"\"); dry_run: true → read; "
      "include_upstream/downstream → step \"\"; include_past/future or no dag_run_id → "
      "execution \"\"; include_subdags/parentdag → workflow \"\"",
      {}, "body dag_run_id", "body task_ids[]");
  add("GET", v1 + dag + "/dagRuns", "get_dag_runs", H::kFixed, "list", kTilde);
  add("POST", v1 + dag + "/dagRuns", "post_dag_run", H::kTrigger, "start",
      "body scalars and conf's scalars are input fields; `~` → workflow \"\"");
  add("DELETE", v1 + run, "delete_dag_run", H::kFixed, "admin", "deletes the run and its TIs");
  add("GET", v1 + run, "get_dag_run", H::kFixed, "read");
  add("PATCH", v1 + run, "update_dag_run_state", H::kRunState, "stop,complete-step,rerun",
      "body state failed → stop, success → complete-step (step \"\"), queued → rerun");
  add("POST", v1 + run + "/clear", "clear_dag_run", H::kClearRun, "rerun,read",
      "clears every task of the run; dry_run: true → read");
  add("PATCH", v1 + run + "/setNote", "set_dag_run_note", H::kFixed, "signal");
  add("GET", v1 + run + "/taskInstances", "get_task_instances", H::kFixed, "list", kTilde);
  add("GET", v1 + ti, "get_task_instance", H::kFixed, "read");
  add("PATCH", v1 + ti, "patch_task_instance", H::kPatchTask,
      "complete-step,fail-step,skip-step,read", "dry_run: true → read; " + std::string(kTiState));
  add("GET", v1 + ti + "/dependencies", "get_task_instance_dependencies", H::kFixed, "read");
  add("GET", v1 + ti + "/links", "get_extra_links", H::kFixed, "read");
  add("GET", v1 + ti + "/listMapped", "get_mapped_task_instances", H::kFixed, "list");
  add("GET", v1 + ti + "/logs/{task_try_number}", "get_log", H::kFixed, "read");
  add("PATCH", v1 + ti + "/setNote", "set_task_instance_note", H::kFixed, "signal");
  add("GET", v1 + ti + "/tries", "get_task_instance_tries", H::kFixed, "list");
  add("GET", v1 + ti + "/tries/{task_try_number}", "get_task_instance_try_details", H::kFixed,
      "read");
  add("GET", v1 + ti + "/xcomEntries", "get_xcom_entries", H::kFixed, "list", kTilde);
  add("GET", v1 + ti + "/xcomEntries/{xcom_key}", "get_xcom_entry", H::kFixed, "read");
  add("GET", v1 + mti, "get_mapped_task_instance", H::kFixed, "read",
      "{map_index} must be an integer");
  add("PATCH", v1 + mti, "patch_mapped_task_instance", H::kPatchTask,
      "complete-step,fail-step,skip-step,read", "dry_run: true → read; " + std::string(kTiState));
  add("GET", v1 + mti + "/dependencies", "get_mapped_task_instance_dependencies", H::kFixed,
      "read");
  add("PATCH", v1 + mti + "/setNote", "set_mapped_task_instance_note", H::kFixed, "signal");
  add("GET", v1 + mti + "/tries", "get_mapped_task_instance_tries", H::kFixed, "list");
  add("GET", v1 + mti + "/tries/{task_try_number}", "get_mapped_task_instance_try_details",
      H::kFixed, "read");
  add("GET", v1 + run + "/upstreamDatasetEvents", "get_upstream_dataset_events", H::kFixed, "list");
  add("DELETE", v1 + dag + "/datasets/queuedEvent", "delete_dag_dataset_queued_events", H::kFixed,
      "admin");
  add("GET", v1 + dag + "/datasets/queuedEvent", "get_dag_dataset_queued_events", H::kFixed,
      "list");
  add("DELETE", v1 + dag + "/datasets/queuedEvent/{uri}", "delete_dag_dataset_queued_event",
      H::kFixed, "admin");
  add("GET", v1 + dag + "/datasets/queuedEvent/{uri}", "get_dag_dataset_queued_event", H::kFixed,
      "read");
  add("GET", v1 + dag + "/details", "get_dag_details", H::kFixed, "read");
  add("GET", v1 + dag + "/tasks", "get_tasks", H::kFixed, "list");
  add("GET", v1 + dag + "/tasks/{task_id}", "get_task", H::kFixed, "read");
  add("POST", v1 + dag + "/updateTaskInstancesState", "post_set_task_instances_state",
      H::kSetTasksState, "complete-step,fail-step,skip-step,read",
      "body new_state success → complete-step, failed → fail-step, skipped → skip-step; "
      "dry_run: true → read; execution_date instead of dag_run_id or include_past/future → "
      "execution \"\"; include_upstream/downstream → step \"\"",
      {}, "body dag_run_id", "body task_id");
  add("POST", v1 + "/dags/~/dagRuns/list", "get_dag_runs_batch", H::kRunsBatch, "list",
      "one target per body dag_ids entry; none: workflow \"\"", "body dag_ids[]");
  add("POST", v1 + "/dags/~/dagRuns/~/taskInstances/list", "get_task_instances_batch",
      H::kTasksBatch, "list",
      "one target per body dag_ids entry (none: workflow \"\"); execution and step only when "
      "dag_run_ids / task_ids name exactly one",
      "body dag_ids[]", "body dag_run_ids[]", "body task_ids[]");
  add("GET", v1 + "/datasets", "get_datasets", H::kFixed, "list", kAcross);
  add("GET", v1 + "/datasets/events", "get_dataset_events", H::kFixed, "list", kAcross);
  add("POST", v1 + "/datasets/events", "create_dataset_event", H::kFixed, "start",
      "triggers every DAG scheduled on the dataset: widened to workflow \"\"",
      "- (every consuming DAG)");
  add("DELETE", v1 + "/datasets/queuedEvent/{uri}", "delete_dataset_queued_events", H::kFixed,
      "admin");
  add("GET", v1 + "/datasets/queuedEvent/{uri}", "get_dataset_queued_events", H::kFixed, "list",
      kAcross);
  add("GET", v1 + "/datasets/{uri}", "get_dataset", H::kFixed, "read", kAcross);
  add("GET", v1 + "/eventLogs", "get_event_logs", H::kQueryDag, "list",
      "workflow from query dag_id when given exactly once, else \"\"", "query dag_id");
  add("GET", v1 + "/eventLogs/{event_log_id}", "get_event_log", H::kFixed, "read",
      "the log's DAG is known only from the response: workflow \"\"");
  add("GET", v1 + "/health", "get_health", H::kFixed, "read");
  add("GET", v1 + "/importErrors", "get_import_errors", H::kFixed, "list", kAcross);
  add("GET", v1 + "/importErrors/{import_error_id}", "get_import_error", H::kFixed, "read",
      kAcross);
  add("PUT", v1 + "/parseDagFile/{file_token}", "reparse_dag_file", H::kFixed, "define", kFileToken,
      "- (file_token)");
  add("GET", v1 + "/permissions", "get_permissions", H::kFixed, "admin");
  add("GET", v1 + "/plugins", "get_plugins", H::kFixed, "admin");
  add("GET", v1 + "/pools", "get_pools", H::kFixed, "admin");
  add("POST", v1 + "/pools", "post_pool", H::kFixed, "admin");
  add("DELETE", v1 + "/pools/{pool_name}", "delete_pool", H::kFixed, "admin");
  add("GET", v1 + "/pools/{pool_name}", "get_pool", H::kFixed, "admin");
  add("PATCH", v1 + "/pools/{pool_name}", "patch_pool", H::kFixed, "admin");
  add("GET", v1 + "/providers", "get_providers", H::kFixed, "admin");
  add("GET", v1 + "/roles", "get_roles", H::kFixed, "admin");
  add("POST", v1 + "/roles", "post_role", H::kFixed, "admin");
  add("DELETE", v1 + "/roles/{role_name}", "delete_role", H::kFixed, "admin");
  add("GET", v1 + "/roles/{role_name}", "get_role", H::kFixed, "admin");
  add("PATCH", v1 + "/roles/{role_name}", "patch_role", H::kFixed, "admin");
  add("GET", v1 + "/users", "get_users", H::kFixed, "admin");
  add("POST", v1 + "/users", "post_user", H::kFixed, "admin");
  add("DELETE", v1 + "/users/{username}", "delete_user", H::kFixed, "admin");
  add("GET", v1 + "/users/{username}", "get_user", H::kFixed, "admin");
  add("PATCH", v1 + "/users/{username}", "patch_user", H::kFixed, "admin");
  add("GET", v1 + "/variables", "get_variables", H::kFixed, "admin", kSecret);
  add("POST", v1 + "/variables", "post_variables", H::kFixed, "admin");
  add("DELETE", v1 + "/variables/{variable_key}", "delete_variable", H::kFixed, "admin");
  add("GET", v1 + "/variables/{variable_key}", "get_variable", H::kFixed, "admin", kSecret);
  add("PATCH", v1 + "/variables/{variable_key}", "patch_variable", H::kFixed, "admin");
  add("GET", v1 + "/version", "get_version", H::kFixed, "read");

  // ---- Airflow 3.x public API (/api/v2) ----
  add("GET", v2 + "/assets", "get_assets", H::kFixed, "list", kAcross);
  add("GET", v2 + "/assets/aliases", "get_asset_aliases", H::kFixed, "list", kAcross);
  add("GET", v2 + "/assets/aliases/{asset_alias_id}", "get_asset_alias", H::kFixed, "read",
      kAcross);
  add("GET", v2 + "/assets/events", "get_asset_events", H::kFixed, "list", kAcross);
  add("POST", v2 + "/assets/events", "create_asset_event", H::kFixed, "start",
      "triggers every DAG scheduled on the asset: widened to workflow \"\"",
      "- (every consuming DAG)");
  add("GET", v2 + "/assets/{asset_id}", "get_asset", H::kFixed, "read", kAcross);
  add("POST", v2 + "/assets/{asset_id}/materialize", "materialize_asset", H::kFixed, "start",
      "runs the DAG producing the asset: widened to workflow \"\"", "- (the producing DAG)");
  add("DELETE", v2 + "/assets/{asset_id}/queuedEvents", "delete_asset_queued_events", H::kFixed,
      "admin");
  add("GET", v2 + "/assets/{asset_id}/queuedEvents", "get_asset_queued_events", H::kFixed, "list",
      kAcross);
  add("GET", v2 + "/auth/login", "login", H::kFixed, "admin",
      "redirects to the auth manager's login");
  add("GET", v2 + "/auth/logout", "logout", H::kFixed, "admin");
  add("GET", v2 + "/backfills", "list_backfills", H::kQueryDag, "list",
      "workflow from query dag_id (required by the server) when given exactly once",
      "query dag_id");
  add("POST", v2 + "/backfills", "create_backfill", H::kBackfillCreate, "start,rerun",
      "creates runs for a date range: start, plus rerun unless body reprocess_behavior is "
      "\"none\"; the response's id is learnt",
      kBodyDag);
  add("POST", v2 + "/backfills/dry_run", "create_backfill_dry_run", H::kBackfillDryRun, "read", {},
      kBodyDag);
  add("GET", v2 + "/backfills/{backfill_id}", "get_backfill", H::kBackfillById, "read", {},
      kBackfillLookup);
  add("PUT", v2 + "/backfills/{backfill_id}/cancel", "cancel_backfill", H::kBackfillById, "stop",
      {}, kBackfillLookup);
  add("PUT", v2 + "/backfills/{backfill_id}/pause", "pause_backfill", H::kBackfillById, "pause", {},
      kBackfillLookup);
  add("PUT", v2 + "/backfills/{backfill_id}/unpause", "unpause_backfill", H::kBackfillById,
      "resume", {}, kBackfillLookup);
  add("GET", v2 + "/config", "get_config", H::kFixed, "admin");
  add("GET", v2 + "/config/section/{section}/option/{option}", "get_config_value", H::kFixed,
      "admin");
  add("GET", v2 + "/connections", "get_connections", H::kFixed, "admin", kSecret);
  add("PATCH", v2 + "/connections", "bulk_connections", H::kFixed, "admin");
  add("POST", v2 + "/connections", "post_connection", H::kFixed, "admin");
  add("POST", v2 + "/connections/defaults", "create_default_connections", H::kFixed, "admin");
  add("POST", v2 + "/connections/test", "test_connection", H::kFixed, "admin");
  add("DELETE", v2 + "/connections/{connection_id}", "delete_connection", H::kFixed, "admin");
  add("GET", v2 + "/connections/{connection_id}", "get_connection", H::kFixed, "admin", kSecret);
  add("PATCH", v2 + "/connections/{connection_id}", "patch_connection", H::kFixed, "admin");
  add("GET", v2 + "/dagSources/{dag_id}", "get_dag_source", H::kFixed, "read");
  add("GET", v2 + "/dagStats", "get_dag_stats", H::kFixed, "list", kAcross);
  add("GET", v2 + "/dagTags", "get_dag_tags", H::kFixed, "list", kAcross);
  add("GET", v2 + "/dagWarnings", "list_dag_warnings", H::kQueryDag, "list",
      "workflow from query dag_id when given exactly once, else \"\"", "query dag_id");
  add("GET", v2 + "/dags", "get_dags", H::kFixed, "list", kAcross);
  add("PATCH", v2 + "/dags", "patch_dags", H::kPatchDags, "pause,resume",
      "body is_paused true → pause, false → resume, for every DAG matching the query "
      "(dag_id_pattern, tags, owners, paused, exclude_stale): workflow \"\"",
      "- (every matching DAG)");
  add("DELETE", v2 + dag, "delete_dag", H::kFixed, "undefine",
      "deletes the DAG's metadata and history");
  add("GET", v2 + dag, "get_dag", H::kFixed, "read");
  add("PATCH", v2 + dag, "patch_dag", H::kPatchDag, "pause,resume",
      "body is_paused true → pause, false → resume");
  add("DELETE", v2 + dag + "/assets/queuedEvents", "delete_dag_asset_queued_events", H::kFixed,
      "admin");
  add("GET", v2 + dag + "/assets/queuedEvents", "get_dag_asset_queued_events", H::kFixed, "list");
  add("DELETE", v2 + dag + "/assets/{asset_id}/queuedEvents", "delete_dag_asset_queued_event",
      H::kFixed, "admin");
  add("GET", v2 + dag + "/assets/{asset_id}/queuedEvents", "get_dag_asset_queued_event", H::kFixed,
      "read");
  add("POST", v2 + dag + "/clearTaskInstances", "post_clear_task_instances", H::kClearTasks,
      "rerun,read",
      "one target per body task_ids entry (a name or [name, map_index]; none: step \"\"); "
      "dry_run: true → read; include_upstream/downstream → step \"\"; include_past/future or "
      "no dag_run_id → execution \"\"",
      {}, "body dag_run_id", "body task_ids[]");
  add("GET", v2 + dag + "/dagRuns", "get_dag_runs", H::kFixed, "list",
      std::string(kTilde) + "; " + std::string(kPatterns));
  add("POST", v2 + dag + "/dagRuns", "trigger_dag_run", H::kTrigger, "start",
      "body scalars and conf's scalars are input fields; `~` → workflow \"\"");
  add("POST", v2 + dag + "/dagRuns/list", "get_list_dag_runs_batch", H::kRunsBatch, "list",
      "{dag_id} must be `~`; one target per body dag_ids entry; none: workflow \"\"",
      "body dag_ids[]");
  add("DELETE", v2 + run, "delete_dag_run", H::kFixed, "admin", "deletes the run and its TIs");
  add("GET", v2 + run, "get_dag_run", H::kFixed, "read");
  add("PATCH", v2 + run, "patch_dag_run", H::kRunState, "stop,complete-step,rerun,signal",
      "body state failed → stop, success → complete-step (step \"\"), queued → rerun; "
      "note → signal");
  add("POST", v2 + run + "/clear", "clear_dag_run", H::kClearRun, "rerun,read",
      "clears every task of the run; dry_run: true → read");
  add("GET", v2 + run + "/hitlDetails", "get_hitl_details", H::kFixed, "list",
      std::string(kTilde) + "; " + std::string(kPatterns));
  add("GET", v2 + run + "/taskInstances", "get_task_instances", H::kFixed, "list",
      std::string(kTilde) + "; " + std::string(kPatterns));
  add("PATCH", v2 + run + "/taskInstances", "bulk_task_instances", H::kBulkTasks,
      "complete-step,fail-step,skip-step,signal,admin",
      "one target per entity of every action: update as patch_task_instance, delete → admin, "
      "create denied; an entity's dag_id/dag_run_id is used under a `~` path and must match "
      "a concrete one",
      "path {dag_id} or entity dag_id", "path {dag_run_id} or entity dag_run_id", "entity task_id");
  add("POST", v2 + run + "/taskInstances/list", "get_task_instances_batch", H::kTasksBatch, "list",
      "{dag_id} and {dag_run_id} must be `~`; one target per body dag_ids entry (none: "
      "workflow \"\"); execution and step only when dag_run_ids / task_ids name exactly one",
      "body dag_ids[]", "body dag_run_ids[]", "body task_ids[]");
  add("DELETE", v2 + ti, "delete_task_instance", H::kFixed, "admin");
  add("GET", v2 + ti, "get_task_instance", H::kFixed, "read");
  add("PATCH", v2 + ti, "patch_task_instance", H::kPatchTask,
      "complete-step,fail-step,skip-step,signal", kTiState);
  add("GET", v2 + ti + "/dependencies", "get_task_instance_dependencies", H::kFixed, "read");
  add("PATCH", v2 + ti + "/dry_run", "patch_task_instance_dry_run", H::kFixed, "read",
      "reports the task instances a PATCH would change");
  add("GET", v2 + ti + "/externalLogUrl/{try_number}", "get_external_log_url", H::kFixed, "read");
  add("GET", v2 + ti + "/links", "get_extra_links", H::kFixed, "read");
  add("GET", v2 + ti + "/listMapped", "get_mapped_task_instances", H::kFixed, "list", kPatterns);
  add("GET", v2 + ti + "/logs/{try_number}", "get_log", H::kFixed, "read");
  add("GET", v2 + ti + "/tries", "get_task_instance_tries", H::kFixed, "list");
  add("GET", v2 + ti + "/tries/{task_try_number}", "get_task_instance_try_details", H::kFixed,
      "read");
  add("GET", v2 + ti + "/xcomEntries", "get_xcom_entries", H::kFixed, "list",
      std::string(kTilde) + "; " + std::string(kPatterns));
  add("POST", v2 + ti + "/xcomEntries", "create_xcom_entry", H::kFixed, "signal",
      "writes a step output");
  add("DELETE", v2 + ti + "/xcomEntries/{xcom_key}", "delete_xcom_entry", H::kFixed, "signal",
      "deletes a step output");
  add("GET", v2 + ti + "/xcomEntries/{xcom_key}", "get_xcom_entry", H::kFixed, "read");
  add("PATCH", v2 + ti + "/xcomEntries/{xcom_key}", "update_xcom_entry", H::kFixed, "signal",
      "overwrites a step output");
  add("GET", v2 + mti, "get_mapped_task_instance", H::kFixed, "read",
      "{map_index} must be an integer");
  add("PATCH", v2 + mti, "patch_task_instance_by_map_index", H::kPatchTask,
      "complete-step,fail-step,skip-step,signal", kTiState);
  add("GET", v2 + mti + "/dependencies", "get_task_instance_dependencies_by_map_index", H::kFixed,
      "read");
  add("PATCH", v2 + mti + "/dry_run", "patch_task_instance_dry_run_by_map_index", H::kFixed, "read",
      "reports the task instances a PATCH would change");
  add("GET", v2 + mti + "/hitlDetails", "get_hitl_detail", H::kFixed, "read");
  add("PATCH", v2 + mti + "/hitlDetails", "update_hitl_detail", H::kFixed,
      "complete-step,fail-step", "a human-in-the-loop answer completes the waiting task");
  add("GET", v2 + mti + "/hitlDetails/tries/{try_number}", "get_hitl_detail_try_detail", H::kFixed,
      "read");
  add("GET", v2 + mti + "/tries", "get_mapped_task_instance_tries", H::kFixed, "list");
  add("GET", v2 + mti + "/tries/{task_try_number}", "get_mapped_task_instance_try_details",
      H::kFixed, "read");
  add("GET", v2 + run + "/upstreamAssetEvents", "get_upstream_asset_events", H::kFixed, "list");
  add("GET", v2 + run + "/wait", "wait_dag_run_until_finished", H::kFixed, "read", "long poll");
  add("GET", v2 + dag + "/dagVersions", "get_dag_versions", H::kFixed, "list", kTilde);
  add("GET", v2 + dag + "/dagVersions/{version_number}", "get_dag_version", H::kFixed, "read");
  add("GET", v2 + dag + "/details", "get_dag_details", H::kFixed, "read");
  add("POST", v2 + dag + "/favorite", "favorite_dag", H::kFixed, "admin", "per-user UI flag");
  add("GET", v2 + dag + "/tasks", "get_tasks", H::kFixed, "list");
  add("GET", v2 + dag + "/tasks/{task_id}", "get_task", H::kFixed, "read");
  add("POST", v2 + dag + "/unfavorite", "unfavorite_dag", H::kFixed, "admin", "per-user UI flag");
  add("GET", v2 + "/eventLogs", "get_event_logs", H::kQueryDag, "list",
      "workflow from query dag_id when given exactly once (and no dag_id_pattern), else \"\"",
      "query dag_id");
  add("GET", v2 + "/eventLogs/{event_log_id}", "get_event_log", H::kFixed, "read",
      "the log's DAG is known only from the response: workflow \"\"");
  add("GET", v2 + "/importErrors", "get_import_errors", H::kFixed, "list", kAcross);
  add("GET", v2 + "/importErrors/{import_error_id}", "get_import_error", H::kFixed, "read",
      kAcross);
  add("GET", v2 + "/jobs", "get_jobs", H::kFixed, "admin");
  add("GET", v2 + "/monitor/health", "get_health", H::kFixed, "read");
  add("PUT", v2 + "/parseDagFile/{file_token}", "reparse_dag_file", H::kFixed, "define", kFileToken,
      "- (file_token)");
  add("GET", v2 + "/plugins", "get_plugins", H::kFixed, "admin");
  add("GET", v2 + "/plugins/importErrors", "import_errors", H::kFixed, "admin");
  add("GET", v2 + "/pools", "get_pools", H::kFixed, "admin");
  add("PATCH", v2 + "/pools", "bulk_pools", H::kFixed, "admin");
  add("POST", v2 + "/pools", "post_pool", H::kFixed, "admin");
  add("DELETE", v2 + "/pools/{pool_name}", "delete_pool", H::kFixed, "admin");
  add("GET", v2 + "/pools/{pool_name}", "get_pool", H::kFixed, "admin");
  add("PATCH", v2 + "/pools/{pool_name}", "patch_pool", H::kFixed, "admin");
  add("GET", v2 + "/providers", "get_providers", H::kFixed, "admin");
  add("GET", v2 + "/variables", "get_variables", H::kFixed, "admin", kSecret);
  add("PATCH", v2 + "/variables", "bulk_variables", H::kFixed, "admin");
  add("POST", v2 + "/variables", "post_variable", H::kFixed, "admin");
  add("DELETE", v2 + "/variables/{variable_key}", "delete_variable", H::kFixed, "admin");
  add("GET", v2 + "/variables/{variable_key}", "get_variable", H::kFixed, "admin", kSecret);
  add("PATCH", v2 + "/variables/{variable_key}", "patch_variable", H::kFixed, "admin");
  add("GET", v2 + "/version", "get_version", H::kFixed, "read");

  // ---- Airflow 3 sub-apps ----
  add("POST", "/auth/token", "create_token", H::kFixed, "admin", "auth manager login → JWT");
  add("GET", "/auth/token", "create_token_all_admins", H::kFixed, "admin",
      "simple auth manager with simple_auth_manager_all_admins");
  add("GET", "/auth/token/login", "login_all_admins", H::kFixed, "admin", "simple auth manager");
  add("POST", "/auth/token/cli", "create_token_cli", H::kFixed, "admin");
  add("GET", "/auth/logout", "logout", H::kFixed, "admin");
  add("*", "/auth/fab/v1/{path...}", "fab_*", H::kFixed, "admin",
      "FAB auth-manager API: users, roles, permissions");
  add("*", "/ui/{path...}", "private UI API", H::kDenied, "unclassified",
      "the React UI's private, unversioned API is not mapped route by route: denied");
  add("*", "/execution/{path...}", "Task Execution API", H::kFixed, "work",
      "worker-only; calls name a task-instance UUID the public API cannot resolve: "
      "workflow \"\" (only a workflow \"*\" rule for `work` matches)",
      "- (TI UUID)", "- (TI UUID)", "- (TI UUID)");
  add("GET", "/docs", "docs", H::kFixed, "read");
  add("GET", "/openapi.json", "openapi", H::kFixed, "read");
}

void AirflowProfile::add(std::string_view method, std::string path, std::string_view name,
                         Handler handler, std::string_view actions, std::string_view notes,
                         std::string_view workflow, std::string_view execution,
                         std::string_view step) {
  Route r;
  r.handler = handler;
  // Capture indexes by variable name, in template order.
  int index = 0;
  for (size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open)) {
    const size_t close = path.find('}', open);
    const std::string_view var = std::string_view(path).substr(open + 1, close - open - 1);
    if (var == "dag_id")
      r.dag = index;
    if (var == "dag_run_id")
      r.run = index;
    if (var == "task_id")
      r.task = index;
    if (var == "map_index")
      r.map_index = index;
    if (var == "backfill_id")
      r.backfill = index;
    ++index;
    open = close;
  }
  std::string_view a = actions;
  while (!a.empty() && handler != Handler::kDenied) {
    const size_t comma = std::min(a.find(','), a.size());
    if (const auto act = policy::parseAction(a.substr(0, comma)))
      r.actions.add(*act);
    a.remove_prefix(comma == a.size() ? comma : comma + 1);
  }
  const bool read_only = (r.actions.bits() & ~ActionSet{Action::kRead, Action::kList}.bits()) == 0;
  OperationInfo& o = r.info;
  o.method = method;
  o.path = std::move(path);
  o.name = name;
  o.actions = actions;
  o.workflow = !workflow.empty() ? std::string(workflow) : r.dag >= 0 ? "path {dag_id}" : "-";
  o.execution = !execution.empty() ? std::string(execution)
                : r.run >= 0       ? "path {dag_run_id}"
                                   : "-";
  o.step = !step.empty() ? std::string(step) : r.task >= 0 ? "path {task_id}" : "-";
  o.notes = notes;
  if (handler == Handler::kFixed && read_only && r.dag >= 0 && notes.empty()) {
    o.notes = "`~` in a path id → that id \"\"";
  }
  const int id = table_.add(method, o.path);
  if (id != static_cast<int>(routes_.size()))
    std::abort();
  routes_.push_back(std::move(r));
}

void AirflowProfile::fromPath(const Ids& ids, Operation& op) {
  op.workflow = isWildcard(ids.dag) ? std::string_view() : std::string_view(ids.dag);
  op.execution = isWildcard(ids.run) ? std::string_view() : std::string_view(ids.run);
  op.step = isWildcard(ids.task) ? std::string_view() : std::string_view(ids.task);
}

const JsonValue* AirflowProfile::body(const RequestView& req, Classification& out) {
  if (!req.body_read) {
    out.outcome = Outcome::kNeedsBody;
    return nullptr;
  }
  if (req.json == nullptr || !req.json->isObject()) {
    out.unclassified("the body is not a JSON object");
    return nullptr;
  }
  return req.json;
}

void AirflowProfile::classify(const RequestView& req, Classification& out) const {
  out.reset(upstream_);
  const RouteTable::Match m = table_.match(req.method, req.path);
  if (!m) {
    out.unclassified("no Airflow API operation matches the method and path");
    return;
  }
  const Route& r = routes_[static_cast<size_t>(m.route)];
  if (r.handler == Handler::kDenied) {
    out.unclassified("the Airflow UI's private API is not mapped");
    return;
  }
  Ids ids;
  auto decode = [&](int index, std::string& dst) {
    return index < 0 || percentDecode(m.vars[static_cast<size_t>(index)], false, dst);
  };
  if (!decode(r.dag, ids.dag) || !decode(r.run, ids.run) || !decode(r.task, ids.task)) {
    out.unclassified("an id in the path is not valid percent-encoded UTF-8");
    return;
  }
  if (r.map_index >= 0) {
    ids.map_index = m.vars[static_cast<size_t>(r.map_index)];
    if (!isInteger(ids.map_index)) {
      out.unclassified("map_index is not an integer");
      return;
    }
  }
  if (r.backfill >= 0)
    ids.backfill = m.vars[static_cast<size_t>(r.backfill)];
  QueryParams query;
  if (!req.query.empty() && !query.parse(req.query)) {
    out.unclassified("the query string is malformed");
    return;
  }
  classifyRoute(r, ids, query, req, out);
}

void AirflowProfile::classifyRoute(const Route& r, const Ids& ids, const QueryParams& query,
                                   const RequestView& req, Classification& out) const {
  Operation& op = out.op;
  fromPath(ids, op);
  // Pattern filters on reads reach beyond the ids in the path.
  if (query.get("dag_id_pattern") != nullptr || query.get("dag_display_name_pattern") != nullptr)
    op.workflow.clear();
  if (query.get("run_id_pattern") != nullptr)
    op.execution.clear();
  if (query.get("task_id_pattern") != nullptr || query.get("task_display_name_pattern") != nullptr)
    op.step.clear();

  auto classified = [&](ActionSet actions) {
    op.actions = actions;
    out.outcome = Outcome::kClassified;
  };

  switch (r.handler) {
    case Handler::kFixed:
    case Handler::kDenied:
      classified(r.actions);
      return;

    case Handler::kQueryDag: {
      op.workflow.clear();
      const std::string* dag = query.get("dag_id");
      if (dag != nullptr && query.count("dag_id") == 1 && !dag->empty() && !isWildcard(*dag) &&
          query.get("dag_id_pattern") == nullptr) {
        op.workflow = *dag;
      }
      classified(r.actions);
      return;
    }

    case Handler::kPatchDag:
    case Handler::kPatchDags: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      const JsonValue* paused = b->find("is_paused");
      if (paused == nullptr || !paused->isBool()) {
        out.unclassified("the body has no boolean is_paused");
        return;
      }
      if (r.handler == Handler::kPatchDags)
        op.workflow.clear();
      classified({paused->asBool() ? Action::kPause : Action::kResume});
      return;
    }

    case Handler::kTrigger: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      addScalars(*b, "", op.input);
      if (const JsonValue* conf = b->find("conf"))
        addScalars(*conf, "/conf", op.input);
      classified({Action::kStart});
      return;
    }

    case Handler::kRunState: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      ActionSet actions;
      const JsonValue* state = b->find("state");
      if (state != nullptr && !state->isNull()) {
        const std::string_view s = state->isString() ? state->asString() : std::string_view();
        if (s == "failed") {
          actions.add(Action::kStop);
        } else if (s == "success") {
          actions.add(Action::kCompleteStep);
        } else if (s == "queued") {
          actions.add(Action::kRerun);
        } else {
          out.unclassified("the body's state is not queued, success or failed");
          return;
        }
      }
      if (b->find("note") != nullptr)
        actions.add(Action::kSignal);
      if (actions.empty()) {
        out.unclassified("the body sets neither state nor note");
        return;
      }
      op.step.clear();
      classified(actions);
      return;
    }

    case Handler::kClearRun: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      bool dry_run = false;
      if (!readDryRun(*b, dry_run)) {
        out.unclassified("dry_run is not a boolean");
        return;
      }
      classified({dry_run ? Action::kRead : Action::kRerun});
      return;
    }

    case Handler::kClearTasks: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      classifyClearTasks(*b, out);
      return;
    }

    case Handler::kSetTasksState: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      bool dry_run = false;
      Expansion e;
      if (!readDryRun(*b, dry_run) || !readExpansion(*b, e)) {
        out.unclassified("a dry_run or include_* flag is not a boolean");
        return;
      }
      const JsonValue* task = b->find("task_id");
      if (task == nullptr || !task->isString() || task->asString().empty()) {
        out.unclassified("the body has no task_id");
        return;
      }
      std::string run;
      const JsonValue* date = b->find("execution_date");
      const bool has_date = date != nullptr && !date->isNull();
      if (!readOptionalString(*b, "dag_run_id", run) || run.empty() == !has_date) {
        out.unclassified("the body must name exactly one of dag_run_id and execution_date");
        return;
      }
      Action a = Action::kRead;
      if (!dry_run) {
        const JsonValue* st = b->find("new_state");
        if (st == nullptr || !st->isString() || !stateAction(st->asString(), a)) {
          out.unclassified("new_state is not success, failed or skipped");
          return;
        }
      }
      op.step = task->asString();
      op.execution = run;  // "" for an execution_date (a run we cannot name)
      widen(op, e);
      classified({a});
      return;
    }

    case Handler::kPatchTask: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      bool dry_run = false;
      Expansion e;
      if (!readDryRun(*b, dry_run) || !readExpansion(*b, e)) {
        out.unclassified("a dry_run or include_* flag is not a boolean");
        return;
      }
      ActionSet actions;
      if (dry_run) {
        actions.add(Action::kRead);
      } else {
        const JsonValue* st = b->find("new_state");
        if (st != nullptr && !st->isNull()) {
          Action a = Action::kRead;
          if (!st->isString() || !stateAction(st->asString(), a)) {
            out.unclassified("new_state is not success, failed or skipped");
            return;
          }
          actions.add(a);
        }
        if (b->find("note") != nullptr)
          actions.add(Action::kSignal);
      }
      if (actions.empty()) {
        out.unclassified("the body sets neither new_state nor note");
        return;
      }
      widen(op, e);
      classified(actions);
      return;
    }

    case Handler::kBulkTasks: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      classifyBulkTasks(ids, *b, out);
      return;
    }

    case Handler::kRunsBatch:
    case Handler::kTasksBatch: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      classifyBatch(r, ids, *b, out);
      return;
    }

    case Handler::kBackfillCreate:
    case Handler::kBackfillDryRun: {
      const JsonValue* b = body(req, out);
      if (b == nullptr)
        return;
      const JsonValue* dag = b->find("dag_id");
      if (dag == nullptr || !dag->isString() || dag->asString().empty()) {
        out.unclassified("the body has no dag_id");
        return;
      }
      op.workflow = dag->asString();
      if (r.handler == Handler::kBackfillDryRun) {
        classified({Action::kRead});
        return;
      }
      const JsonValue* reprocess = b->find("reprocess_behavior");
      const bool none =
          reprocess != nullptr && reprocess->isString() && reprocess->asString() == "none";
      addScalars(*b, "", op.input);
      out.learn_response = true;
      classified(none ? ActionSet{Action::kStart} : ActionSet{Action::kStart, Action::kRerun});
      return;
    }

    case Handler::kBackfillById: {
      if (!isDigits(ids.backfill)) {
        out.unclassified("backfill_id is not a number");
        return;
      }
      LookupKey key;
      key.kind = kAirflowLookupBackfill;
      key.id = ids.backfill;
      const LookupResult* found = req.lookup(key);
      if (found == nullptr) {
        out.outcome = Outcome::kNeedsLookup;
        out.lookups.push_back(std::move(key));
        return;
      }
      if (found->found) {
        op.workflow = found->workflow;
      } else {
        op.workflow.clear();
        op.execution = key.id;  // unresolved: the policy denies it
      }
      classified(r.actions);
      return;
    }
  }
}

void AirflowProfile::classifyClearTasks(const JsonValue& b, Classification& out) const {
  Operation& op = out.op;
  bool dry_run = false;
  Expansion e;
  if (!readDryRun(b, dry_run) || !readExpansion(b, e)) {
    out.unclassified("a dry_run or include_* flag is not a boolean");
    return;
  }
  std::string run;
  if (!readOptionalString(b, "dag_run_id", run)) {
    out.unclassified("dag_run_id is not a string");
    return;
  }
  // Without dag_run_id the call clears a date range of runs.
  op.execution = run;
  op.step.clear();
  widen(op, e);
  op.actions = {dry_run ? Action::kRead : Action::kRerun};
  std::vector<std::string> steps;
  if (const JsonValue* tasks = b.find("task_ids"); tasks != nullptr && !tasks->isNull()) {
    if (!tasks->isArray()) {
      out.unclassified("task_ids is not a list");
      return;
    }
    if (tasks->asArray().size() > kMaxTargets) {
      out.unclassified("task_ids names too many tasks");
      return;
    }
    for (const JsonValue& t : tasks->asArray()) {
      // A task id, or (Airflow 3) [task_id, map_index].
      const JsonValue* name = &t;
      if (t.isArray() && t.asArray().size() == 2 && t.asArray()[1].isInt()) {
        name = &t.asArray()[0];
      }
      if (!name->isString() || name->asString().empty() || isWildcard(name->asString())) {
        out.unclassified("a task_ids entry is not a task id");
        return;
      }
      steps.push_back(name->asString());
    }
  }
  out.outcome = Outcome::kClassified;
  // No task ids, or an expansion to other tasks: every task of the DAG.
  if (steps.empty() || e.other_steps || e.other_dags)
    return;
  op.step = steps[0];
  for (size_t i = 1; i < steps.size(); ++i) {
    out.also.push_back(op);
    out.also.back().step = steps[i];
  }
}

void AirflowProfile::classifyBulkTasks(const Ids& ids, const JsonValue& b,
                                       Classification& out) const {
  const JsonValue* actions = b.find("actions");
  if (actions == nullptr || !actions->isArray()) {
    out.unclassified("the body has no actions list");
    return;
  }
  std::vector<Operation> ops;
  for (const JsonValue& action : actions->asArray()) {
    const JsonValue* kind = action.find("action");
    const JsonValue* entities = action.find("entities");
    if (kind == nullptr || !kind->isString() || entities == nullptr || !entities->isArray()) {
      out.unclassified("a bulk action has no action name or entities");
      return;
    }
    const std::string& k = kind->asString();
    if (k != "update" && k != "delete") {
      out.unclassified("only update and delete of task instances are classified");
      return;
    }
    for (const JsonValue& entity : entities->asArray()) {
      if (ops.size() >= kMaxTargets) {
        out.unclassified("the bulk body names too many task instances");
        return;
      }
      if (!entity.isObject()) {
        out.unclassified("a bulk entity is not an object with task_id");
        return;
      }
      const JsonValue* task = entity.find("task_id");
      if (task == nullptr || !task->isString() || task->asString().empty()) {
        out.unclassified("a bulk entity has no task_id");
        return;
      }
      Operation op = out.op;  // upstream and the path's ids
      op.step = isWildcard(task->asString()) ? std::string() : task->asString();
      std::string dag, run;
      if (!readOptionalString(entity, "dag_id", dag) ||
          !readOptionalString(entity, "dag_run_id", run)) {
        out.unclassified("a bulk entity's dag_id or dag_run_id is not a string");
        return;
      }
      // The entity's ids are for `~` paths; with a concrete path id they must agree.
      if (!dag.empty()) {
        if (!isWildcard(ids.dag) && dag != ids.dag) {
          out.unclassified("a bulk entity's dag_id differs from the path");
          return;
        }
        op.workflow = isWildcard(dag) ? std::string() : dag;
      }
      if (!run.empty()) {
        if (!isWildcard(ids.run) && run != ids.run) {
          out.unclassified("a bulk entity's dag_run_id differs from the path");
          return;
        }
        op.execution = isWildcard(run) ? std::string() : run;
      }
      if (k == "delete") {
        op.actions = {Action::kAdmin};
      } else {
        Expansion e;
        if (!readExpansion(entity, e)) {
          out.unclassified("an include_* flag is not a boolean");
          return;
        }
        const JsonValue* st = entity.find("new_state");
        if (st != nullptr && !st->isNull()) {
          Action a = Action::kRead;
          if (!st->isString() || !stateAction(st->asString(), a)) {
            out.unclassified("new_state is not success, failed or skipped");
            return;
          }
          op.actions.add(a);
        }
        if (entity.find("note") != nullptr)
          op.actions.add(Action::kSignal);
        if (op.actions.empty()) {
          out.unclassified("a bulk entity sets neither new_state nor note");
          return;
        }
        widen(op, e);
      }
      ops.push_back(std::move(op));
    }
  }
  if (ops.empty()) {
    out.unclassified("the bulk body names no task instance");
    return;
  }
  out.op = std::move(ops[0]);
  for (size_t i = 1; i < ops.size(); ++i)
    out.also.push_back(std::move(ops[i]));
  out.outcome = Outcome::kClassified;
}

void AirflowProfile::classifyBatch(const Route& r, const Ids& ids, const JsonValue& b,
                                   Classification& out) const {
  Operation& op = out.op;
  // The path ids of the batch routes are the literal `~` (a v2 route has them as variables).
  if ((r.dag >= 0 && !isWildcard(ids.dag)) || (r.run >= 0 && !isWildcard(ids.run))) {
    out.unclassified("a batch list path must use `~` for its ids");
    return;
  }
  // One list per value, or none when the list is absent or empty (everything).
  auto values = [&](std::string_view name, std::vector<std::string>& v) {
    const JsonValue* list = b.find(name);
    if (list == nullptr || list->isNull())
      return true;
    if (!list->isArray() || list->asArray().size() > kMaxTargets)
      return false;
    for (const JsonValue& x : list->asArray()) {
      if (!x.isString() || x.asString().empty())
        return false;
      v.push_back(x.asString());
    }
    return true;
  };
  std::vector<std::string> dags, runs, tasks;
  if (!values("dag_ids", dags) || !values("dag_run_ids", runs) || !values("task_ids", tasks)) {
    out.unclassified("dag_ids, dag_run_ids or task_ids is not a list of ids");
    return;
  }
  op.workflow.clear();
  op.execution.clear();
  op.step.clear();
  if (r.handler == Handler::kTasksBatch) {
    if (runs.size() == 1 && !isWildcard(runs[0]))
      op.execution = runs[0];
    if (tasks.size() == 1 && !isWildcard(tasks[0]))
      op.step = tasks[0];
  }
  op.actions = {Action::kList};
  out.outcome = Outcome::kClassified;
  for (const std::string& d : dags) {
    if (isWildcard(d)) {
      out.also.clear();
      op.workflow.clear();
      return;
    }
  }
  if (dags.empty())
    return;
  op.workflow = dags[0];
  for (size_t i = 1; i < dags.size(); ++i) {
    out.also.push_back(op);
    out.also.back().workflow = dags[i];
  }
}

bool AirflowProfile::lookupCall(const LookupKey& key, LookupCall& out) const {
  if (key.kind != kAirflowLookupBackfill || key.id.empty())
    return false;
  out = LookupCall{};
  out.method = "GET";
  out.target = "/api/v2/backfills/";
  appendPercentEncoded(out.target, key.id);
  return true;
}

bool AirflowProfile::parseLookup(const LookupKey& key, int status, std::string_view body,
                                 LookupResult& out) const {
  if (key.kind != kAirflowLookupBackfill)
    return false;
  out = LookupResult{};
  if (status == 404)
    return true;  // no such backfill
  if (status != 200)
    return false;
  JsonLimits limits;
  limits.max_bytes = Profile::kMaxLearnBytes;
  StatusOr<JsonValue> json = parseJson(body, limits);
  if (!json.isOk() || !json->isObject())
    return false;
  const JsonValue* dag = json->find("dag_id");
  const JsonValue* id = json->find("id");
  if (dag == nullptr || !dag->isString() || dag->asString().empty())
    return false;
  // The answer must be about the backfill asked for.
  if (id != nullptr && (!id->isInt() || std::to_string(id->asInt()) != key.id))
    return false;
  out.found = true;
  out.workflow = dag->asString();
  return true;
}

void AirflowProfile::learn(const RequestView& req, const Classification& c, int status,
                           std::string_view body, std::vector<Learned>& out) const {
  if (!c.learn_response || status < 200 || status > 299)
    return;
  const RouteTable::Match m = table_.match(req.method, req.path);
  if (!m || routes_[static_cast<size_t>(m.route)].handler != Handler::kBackfillCreate)
    return;
  JsonLimits limits;
  limits.max_bytes = Profile::kMaxLearnBytes;
  StatusOr<JsonValue> json = parseJson(body, limits);
  if (!json.isOk() || !json->isObject())
    return;
  const JsonValue* id = json->find("id");
  const JsonValue* dag = json->find("dag_id");
  if (id == nullptr || !id->isInt() || id->asInt() < 0 || dag == nullptr || !dag->isString() ||
      dag->asString().empty()) {
    return;
  }
  Learned l;
  l.key.kind = kAirflowLookupBackfill;
  l.key.id = std::to_string(id->asInt());
  l.result.found = true;
  l.result.workflow = dag->asString();
  out.push_back(std::move(l));
}

std::vector<OperationInfo> AirflowProfile::operations() const {
  std::vector<OperationInfo> ops;
  ops.reserve(routes_.size());
  for (const Route& r : routes_)
    ops.push_back(r.info);
  return ops;
}

}  // namespace

ProfileConstSharedPtr makeAirflowProfile(const config::UpstreamConfig& upstream) {
  return std::make_shared<AirflowProfile>(upstream.name);
}

}  // namespace stepgate::orchestrators
