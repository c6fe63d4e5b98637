// The Argo Workflows profile: see orchestrators/argo.h and docs/profiles/argo.md.
//
// argo-server (v4.1) serves grpc-gateway v1 routes under /api/v1 and a few plain handlers.
// Request bodies are decoded with Go's encoding/json (server/apiserver/argoserver.go uses
// util/json.Marshaler): member names match struct fields case-insensitively and the last of
// several matching members wins, so every body member is read here the same way and two
// members that would decode into one field make the call unclassified. Path variables are
// percent-decoded strictly, as Go's URL parser decodes them before routing.

#include "orchestrators/argo.h"

#include <array>
#include <string>
#include <vector>

#include "orchestrators/profile_util.h"
#include "orchestrators/profiles.h"
#include "orchestrators/route_table.h"

namespace stepgate::orchestrators {

namespace {

using policy::Action;
using policy::ActionSet;
using policy::Operation;

// How a route is classified.
enum class Kind : uint8_t {
  kSimple,  // the row's actions; workflow ""; namespace from {namespace}
  kDeny,    // unclassified by design (the row's notes say why)
  kUi,      // GET of the static UI: read, unless the path belongs to another handler
  kWfCreate,
  kWfSubmit,
  kWfLint,
  kWfGet,
  kWfDelete,
  kWfRetry,
  kWfResubmit,
  kWfResume,
  kWfSuspend,
  kWfTerminate,
  kWfStop,
  kWfSet,
  kWfLogs,
  kTmplByPath,
  kTmplCreate,
  kTmplUpdate,
  kTmplLint,
  kCtmplByPath,
  kCtmplCreate,
  kCtmplUpdate,
  kCtmplLint,
  kCronCreate,
  kCronUpdate,
  kCronLint,
  kCronByName,
  kArchGet,
  kArchDelete,
  kArchRetry,
  kArchResubmit,
  kArtifact,
  kArtifactByUid,
  kArtifactFile,
  kUpload,
};

struct Row {
  const char* method;
  const char* path;  // the server's template (a last {x...} takes the rest of the path)
  const char* name;
  const char* actions;
  const char* workflow;
  const char* step;
  const char* execution;
  const char* notes;
  Kind kind;
};

constexpr const char* kWfLookup = "lookup: spec.workflowTemplateRef of the Workflow";
constexpr const char* kWfExec = "path {name} (Workflow name)";
constexpr const char* kSelectorStep =
    "body nodeFieldSelector: its displayName= value, else the display names of the nodes its "
    "id=/name= terms pick in status.nodes, else \"\" (any step)";

// Every operation of argo-server: the 68 /api/v1 routes and 5 artifact GETs of
// api/openapi-spec/swagger.json, the HTTP-only handlers, and the artifact-driver plugin
// routes argo-server does not serve.
const Row kRows[] = {
    // workflow.WorkflowService
    {"POST", "/api/v1/workflows/{namespace}", "WorkflowService_CreateWorkflow", "start,define",
     "body workflow.spec.workflowTemplateRef.name (+clusterScope); inline spec: \"\"", "-",
     "- (learnt from the response)",
     "start; +define for an inline spec or any spec field besides workflowTemplateRef, "
     "arguments, entrypoint; labels are never trusted",
     Kind::kWfCreate},
    {"GET", "/api/v1/workflows/{namespace}/{name}", "WorkflowService_GetWorkflow", "read",
     kWfLookup, "-", kWfExec,
     "query uid: also the archived Workflow with that uid (each found one must be allowed); "
     "@latest: unclassified",
     Kind::kWfGet},
    {"GET", "/api/v1/workflows/{namespace}", "WorkflowService_ListWorkflows", "list", "\"\"", "-",
     "-", "namespace-wide; labelSelector is caller data", Kind::kSimple},
    {"GET", "/api/v1/workflow-events/{namespace}", "WorkflowService_WatchWorkflows", "list", "\"\"",
     "-", "-", "SSE stream over the namespace", Kind::kSimple},
    {"GET", "/api/v1/stream/events/{namespace}", "WorkflowService_WatchEvents", "list", "\"\"", "-",
     "-", "SSE stream of the namespace's Kubernetes events", Kind::kSimple},
    {"DELETE", "/api/v1/workflows/{namespace}/{name}", "WorkflowService_DeleteWorkflow",
     "stop,admin", kWfLookup, "-", kWfExec,
     "kills running pods (stop) and removes the record (admin)", Kind::kWfDelete},
    {"PUT", "/api/v1/workflows/{namespace}/{name}/retry", "WorkflowService_RetryWorkflow",
     "retry,rerun", kWfLookup, "\"\" (every failed node is retried)", kWfExec,
     "retry; restartSuccessful=true also re-runs succeeded nodes: +rerun; an unparsable "
     "nodeFieldSelector: unclassified",
     Kind::kWfRetry},
    {"PUT", "/api/v1/workflows/{namespace}/{name}/resubmit", "WorkflowService_ResubmitWorkflow",
     "rerun", kWfLookup, "-", kWfExec, "creates a new Workflow from this one's spec",
     Kind::kWfResubmit},
    {"PUT", "/api/v1/workflows/{namespace}/{name}/resume", "WorkflowService_ResumeWorkflow",
     "resume,complete-step", kWfLookup, kSelectorStep, kWfExec,
     "no selector: resume + complete-step on step \"\" (every suspend node succeeds); with a "
     "selector: complete-step per selected step",
     Kind::kWfResume},
    {"PUT", "/api/v1/workflows/{namespace}/{name}/suspend", "WorkflowService_SuspendWorkflow",
     "pause", kWfLookup, "-", kWfExec, "", Kind::kWfSuspend},
    {"PUT", "/api/v1/workflows/{namespace}/{name}/terminate", "WorkflowService_TerminateWorkflow",
     "stop", kWfLookup, "-", kWfExec, "no exit handlers", Kind::kWfTerminate},
    {"PUT", "/api/v1/workflows/{namespace}/{name}/stop", "WorkflowService_StopWorkflow",
     "stop,fail-step", kWfLookup, kSelectorStep, kWfExec,
     "no selector: stop; with a selector: fail-step per selected step (suspend nodes fail)",
     Kind::kWfStop},
    {"PUT", "/api/v1/workflows/{namespace}/{name}/set", "WorkflowService_SetWorkflow",
     "complete-step,fail-step", kWfLookup, kSelectorStep, kWfExec,
     "phase Succeeded or \"\" (outputs only): complete-step; Failed/Error: fail-step; no "
     "selector or another phase: unclassified",
     Kind::kWfSet},
    {"POST", "/api/v1/workflows/{namespace}/lint", "WorkflowService_LintWorkflow", "read",
     "body workflow.spec.workflowTemplateRef (inline: \"\")", "-", "-", "validation only",
     Kind::kWfLint},
    {"GET", "/api/v1/workflows/{namespace}/{name}/{podName}/log", "WorkflowService_PodLogs", "read",
     kWfLookup, "\"\" (pods are not mapped to nodes)", kWfExec, "stream", Kind::kWfLogs},
    {"GET", "/api/v1/workflows/{namespace}/{name}/log", "WorkflowService_WorkflowLogs", "read",
     kWfLookup, "\"\" (query podName is not mapped to a node)", kWfExec, "stream", Kind::kWfLogs},
    {"POST", "/api/v1/workflows/{namespace}/submit", "WorkflowService_SubmitWorkflow", "start",
     "body resourceName (WorkflowTemplate / ClusterWorkflowTemplate kinds); CronWorkflow: "
     "lookup of the cron's workflowTemplateRef",
     "-", "- (learnt from the response)",
     "resourceKind aliases normalised as the server does; submitOptions.serviceAccount "
     "(another identity): +define",
     Kind::kWfSubmit},
    // workflowtemplate.WorkflowTemplateService
    {"POST", "/api/v1/workflow-templates/{namespace}",
     "WorkflowTemplateService_CreateWorkflowTemplate", "define", "body template.metadata.name", "-",
     "-", "", Kind::kTmplCreate},
    {"GET", "/api/v1/workflow-templates/{namespace}/{name}",
     "WorkflowTemplateService_GetWorkflowTemplate", "read", "path {name}", "-", "-", "",
     Kind::kTmplByPath},
    {"GET", "/api/v1/workflow-templates/{namespace}",
     "WorkflowTemplateService_ListWorkflowTemplates", "list", "\"\"", "-", "-", "", Kind::kSimple},
    {"PUT", "/api/v1/workflow-templates/{namespace}/{name}",
     "WorkflowTemplateService_UpdateWorkflowTemplate", "define",
     "body template.metadata.name (the server ignores {name}; must equal it)", "-", "-", "",
     Kind::kTmplUpdate},
    {"DELETE", "/api/v1/workflow-templates/{namespace}/{name}",
     "WorkflowTemplateService_DeleteWorkflowTemplate", "undefine", "path {name}", "-", "-", "",
     Kind::kTmplByPath},
    {"POST", "/api/v1/workflow-templates/{namespace}/lint",
     "WorkflowTemplateService_LintWorkflowTemplate", "read", "body template.metadata.name", "-",
     "-", "validation only", Kind::kTmplLint},
    // clusterworkflowtemplate.ClusterWorkflowTemplateService
    {"POST", "/api/v1/cluster-workflow-templates",
     "ClusterWorkflowTemplateService_CreateClusterWorkflowTemplate", "define",
     "\"cluster/\" + body template.metadata.name", "-", "-", "cluster-scoped", Kind::kCtmplCreate},
    {"GET", "/api/v1/cluster-workflow-templates/{name}",
     "ClusterWorkflowTemplateService_GetClusterWorkflowTemplate", "read",
     "\"cluster/\" + path {name}", "-", "-", "", Kind::kCtmplByPath},
    {"GET", "/api/v1/cluster-workflow-templates",
     "ClusterWorkflowTemplateService_ListClusterWorkflowTemplates", "list", "\"\"", "-", "-", "",
     Kind::kSimple},
    {"PUT", "/api/v1/cluster-workflow-templates/{name}",
     "ClusterWorkflowTemplateService_UpdateClusterWorkflowTemplate", "define",
     "\"cluster/\" + body template.metadata.name (must equal {name})", "-", "-", "",
     Kind::kCtmplUpdate},
    {"DELETE", "/api/v1/cluster-workflow-templates/{name}",
     "ClusterWorkflowTemplateService_DeleteClusterWorkflowTemplate", "undefine",
     "\"cluster/\" + path {name}", "-", "-", "", Kind::kCtmplByPath},
    {"POST", "/api/v1/cluster-workflow-templates/lint",
     "ClusterWorkflowTemplateService_LintClusterWorkflowTemplate", "read",
     "\"cluster/\" + body template.metadata.name", "-", "-", "validation only", Kind::kCtmplLint},
    // cronworkflow.CronWorkflowService
    {"POST", "/api/v1/cron-workflows/{namespace}/lint", "CronWorkflowService_LintCronWorkflow",
     "read", "body cronWorkflow.spec.workflowSpec.workflowTemplateRef (inline: \"\")", "-", "-",
     "validation only", Kind::kCronLint},
    {"POST", "/api/v1/cron-workflows/{namespace}", "CronWorkflowService_CreateCronWorkflow",
     "start,define", "body cronWorkflow.spec.workflowSpec.workflowTemplateRef (inline: \"\")", "-",
     "-", "a standing start grant: define + start", Kind::kCronCreate},
    {"GET", "/api/v1/cron-workflows/{namespace}", "CronWorkflowService_ListCronWorkflows", "list",
     "\"\"", "-", "-", "", Kind::kSimple},
    {"GET", "/api/v1/cron-workflows/{namespace}/{name}", "CronWorkflowService_GetCronWorkflow",
     "read", "lookup: the cron's workflowTemplateRef", "-", "-", "", Kind::kCronByName},
    {"PUT", "/api/v1/cron-workflows/{namespace}/{name}", "CronWorkflowService_UpdateCronWorkflow",
     "start,define",
     "body cronWorkflow.spec.workflowSpec.workflowTemplateRef (must name {name}); also define "
     "on the template the cron ran before (lookup)",
     "-", "-", "", Kind::kCronUpdate},
    {"DELETE", "/api/v1/cron-workflows/{namespace}/{name}",
     "CronWorkflowService_DeleteCronWorkflow", "undefine", "lookup: the cron's workflowTemplateRef",
     "-", "-", "", Kind::kCronByName},
    {"PUT", "/api/v1/cron-workflows/{namespace}/{name}/resume",
     "CronWorkflowService_ResumeCronWorkflow", "resume", "lookup: the cron's workflowTemplateRef",
     "-", "-", "resumes the schedule", Kind::kCronByName},
    {"PUT", "/api/v1/cron-workflows/{namespace}/{name}/suspend",
     "CronWorkflowService_SuspendCronWorkflow", "pause", "lookup: the cron's workflowTemplateRef",
     "-", "-", "suspends the schedule", Kind::kCronByName},
    // workflowarchive.ArchivedWorkflowService
    {"GET", "/api/v1/archived-workflows", "ArchivedWorkflowService_ListArchivedWorkflows", "list",
     "\"\"", "-", "-", "across namespaces", Kind::kSimple},
    {"GET", "/api/v1/archived-workflows/{uid}", "ArchivedWorkflowService_GetArchivedWorkflow",
     "read", "lookup by uid (immutable)", "-", "path {uid}", "", Kind::kArchGet},
    {"DELETE", "/api/v1/archived-workflows/{uid}", "ArchivedWorkflowService_DeleteArchivedWorkflow",
     "admin", "lookup by uid", "-", "path {uid}",
     "query name set: unclassified (the server then ignores the uid)", Kind::kArchDelete},
    {"GET", "/api/v1/archived-workflows-label-keys",
     "ArchivedWorkflowService_ListArchivedWorkflowLabelKeys", "list", "\"\"", "-", "-", "",
     Kind::kSimple},
    {"GET", "/api/v1/archived-workflows-label-values",
     "ArchivedWorkflowService_ListArchivedWorkflowLabelValues", "list", "\"\"", "-", "-", "",
     Kind::kSimple},
    {"PUT", "/api/v1/archived-workflows/{uid}/retry",
     "ArchivedWorkflowService_RetryArchivedWorkflow", "retry,rerun", "lookup by uid",
     "\"\" (every failed node is retried)", "path {uid}",
     "namespace from body namespace; body name set: unclassified (the server then ignores the "
     "uid); restartSuccessful=true: +rerun",
     Kind::kArchRetry},
    {"PUT", "/api/v1/archived-workflows/{uid}/resubmit",
     "ArchivedWorkflowService_ResubmitArchivedWorkflow", "rerun", "lookup by uid", "-",
     "path {uid}",
     "namespace from body namespace; body name set: unclassified (the server then ignores the "
     "uid)",
     Kind::kArchResubmit},
    // event.EventService
    {"POST", "/api/v1/events/{namespace}/{discriminator}", "EventService_ReceiveEvent", "start",
     "\"\" (widened: any WorkflowEventBinding may start any template)", "-", "-",
     "needs a workflow \"*\" start rule", Kind::kSimple},
    {"GET", "/api/v1/workflow-event-bindings/{namespace}", "EventService_ListWorkflowEventBindings",
     "list", "\"\"", "-", "-", "", Kind::kSimple},
    // eventsource.EventSourceService (Argo Events: standing start grants)
    {"POST", "/api/v1/event-sources/{namespace}", "EventSourceService_CreateEventSource", "admin",
     "\"\"", "-", "-", "Argo Events object", Kind::kSimple},
    {"GET", "/api/v1/event-sources/{namespace}/{name}", "EventSourceService_GetEventSource", "read",
     "\"\"", "-", "-", "", Kind::kSimple},
    {"DELETE", "/api/v1/event-sources/{namespace}/{name}", "EventSourceService_DeleteEventSource",
     "admin", "\"\"", "-", "-", "", Kind::kSimple},
    {"PUT", "/api/v1/event-sources/{namespace}/{name}", "EventSourceService_UpdateEventSource",
     "admin", "\"\"", "-", "-", "", Kind::kSimple},
    {"GET", "/api/v1/event-sources/{namespace}", "EventSourceService_ListEventSources", "list",
     "\"\"", "-", "-", "", Kind::kSimple},
    {"GET", "/api/v1/stream/event-sources/{namespace}/logs", "EventSourceService_EventSourcesLogs",
     "read", "\"\"", "-", "-", "stream", Kind::kSimple},
    {"GET", "/api/v1/stream/event-sources/{namespace}", "EventSourceService_WatchEventSources",
     "list", "\"\"", "-", "-", "stream", Kind::kSimple},
    // sensor.SensorService
    {"GET", "/api/v1/sensors/{namespace}", "SensorService_ListSensors", "list", "\"\"", "-", "-",
     "", Kind::kSimple},
    {"GET", "/api/v1/stream/sensors/{namespace}/logs", "SensorService_SensorsLogs", "read", "\"\"",
     "-", "-", "stream", Kind::kSimple},
    {"GET", "/api/v1/stream/sensors/{namespace}", "SensorService_WatchSensors", "list", "\"\"", "-",
     "-", "stream", Kind::kSimple},
    {"POST", "/api/v1/sensors/{namespace}", "SensorService_CreateSensor", "admin", "\"\"", "-", "-",
     "a Sensor can create Workflows of any template", Kind::kSimple},
    {"PUT", "/api/v1/sensors/{namespace}/{name}", "SensorService_UpdateSensor", "admin", "\"\"",
     "-", "-", "", Kind::kSimple},
    {"DELETE", "/api/v1/sensors/{namespace}/{name}", "SensorService_DeleteSensor", "admin", "\"\"",
     "-", "-", "", Kind::kSimple},
    {"GET", "/api/v1/sensors/{namespace}/{name}", "SensorService_GetSensor", "read", "\"\"", "-",
     "-", "", Kind::kSimple},
    // sync.SyncService
    {"POST", "/api/v1/sync/{namespace}", "SyncService_CreateSyncLimit", "admin", "\"\"", "-", "-",
     "semaphores limit every workflow using them", Kind::kSimple},
    {"GET", "/api/v1/sync/{namespace}/{key}", "SyncService_GetSyncLimit", "read", "\"\"", "-", "-",
     "", Kind::kSimple},
    {"PUT", "/api/v1/sync/{namespace}/{key}", "SyncService_UpdateSyncLimit", "admin", "\"\"", "-",
     "-", "", Kind::kSimple},
    {"DELETE", "/api/v1/sync/{namespace}/{key}", "SyncService_DeleteSyncLimit", "admin", "\"\"",
     "-", "-", "", Kind::kSimple},
    // info.InfoService
    {"GET", "/api/v1/info", "InfoService_GetInfo", "read", "\"\"", "-", "-", "", Kind::kSimple},
    {"GET", "/api/v1/version", "InfoService_GetVersion", "read", "\"\"", "-", "-", "",
     Kind::kSimple},
    {"GET", "/api/v1/userinfo", "InfoService_GetUserInfo", "read", "\"\"", "-", "-", "",
     Kind::kSimple},
    {"POST", "/api/v1/tracking/event", "InfoService_CollectEvent", "admin", "\"\"", "-", "-",
     "UI telemetry", Kind::kSimple},
    // Artifacts (plain HTTP handlers, in swagger.json)
    {"GET", "/artifacts/{namespace}/{name}/{nodeId}/{artifactName...}",
     "ArtifactService_GetOutputArtifact", "read", kWfLookup,
     "path {nodeId} -> status.nodes displayName (unknown node: \"\")", kWfExec, "",
     Kind::kArtifact},
    {"GET", "/input-artifacts/{namespace}/{name}/{nodeId}/{artifactName...}",
     "ArtifactService_GetInputArtifact", "read", kWfLookup,
     "path {nodeId} -> status.nodes displayName (unknown node: \"\")", kWfExec, "",
     Kind::kArtifact},
    {"GET", "/artifacts-by-uid/{uid}/{nodeId}/{artifactName...}",
     "ArtifactService_GetOutputArtifactByUID", "read", "lookup by uid (archived)",
     "path {nodeId} -> status.nodes displayName (unknown node: \"\")", "path {uid}", "",
     Kind::kArtifactByUid},
    {"GET", "/input-artifacts-by-uid/{uid}/{nodeId}/{artifactName...}",
     "ArtifactService_GetInputArtifactByUID", "read", "lookup by uid (archived)",
     "path {nodeId} -> status.nodes displayName (unknown node: \"\")", "path {uid}", "",
     Kind::kArtifactByUid},
    {"GET",
     "/artifact-files/{namespace}/{idDiscriminator}/{id}/{nodeId}/{artifactDiscriminator}/"
     "{artifactName}",
     "ArtifactService_GetArtifactFile", "read",
     "lookup: workflows -> by name, archived-workflows -> by uid",
     "path {nodeId} -> status.nodes displayName (unknown node: \"\")", "path {id}",
     "{artifactDiscriminator} inputs or outputs; anything else: unclassified", Kind::kArtifactFile},
    {"GET",
     "/artifact-files/{namespace}/{idDiscriminator}/{id}/{nodeId}/{artifactDiscriminator}/"
     "{artifactName}/{file...}",
     "ArtifactService_GetArtifactFile (file in a directory artifact)", "read",
     "lookup: workflows -> by name, archived-workflows -> by uid",
     "path {nodeId} -> status.nodes displayName (unknown node: \"\")", "path {id}",
     "not in swagger.json", Kind::kArtifactFile},
    // HTTP-only handlers
    {"POST", "/upload-artifacts/{namespace}/{workflowTemplateName}/{artifactName...}",
     "UploadInputArtifact", "define", "path {workflowTemplateName}", "-", "-",
     "an input artifact of a WorkflowTemplate", Kind::kUpload},
    {"GET", "/oauth2/redirect", "SSO redirect", "admin", "\"\"", "-", "-",
     "SSO login; must be reachable before the caller has a token", Kind::kSimple},
    {"GET", "/oauth2/callback", "SSO callback", "admin", "\"\"", "-", "-",
     "SSO login; must be reachable before the caller has a token", Kind::kSimple},
    {"GET", "/metrics", "metrics", "admin", "\"\"", "-", "-", "Prometheus", Kind::kSimple},
    {"GET", "/", "UI", "read", "\"\"", "-", "-", "static UI", Kind::kUi},
    {"GET", "/{path...}", "UI (static files and SPA routes)", "read", "\"\"", "-", "-",
     "paths under /api/ and the artifact prefixes that match no row above: unclassified",
     Kind::kUi},
    // artifact.ArtifactService: the artifact-driver plugin interface, not served by argo-server
    {"POST", "/api/v1/artifacts/load", "ArtifactService/Load (plugin)", "unclassified", "-", "-",
     "-", "artifact-driver plugin interface; argo-server does not serve it", Kind::kDeny},
    {"POST", "/api/v1/artifacts/stream", "ArtifactService/OpenStream (plugin)", "unclassified", "-",
     "-", "-", "artifact-driver plugin interface; argo-server does not serve it", Kind::kDeny},
    {"POST", "/api/v1/artifacts/save", "ArtifactService/Save (plugin)", "unclassified", "-", "-",
     "-", "artifact-driver plugin interface; argo-server does not serve it", Kind::kDeny},
    {"POST", "/api/v1/artifacts/delete", "ArtifactService/Delete (plugin)", "unclassified", "-",
     "-", "-", "artifact-driver plugin interface; argo-server does not serve it", Kind::kDeny},
    {"POST", "/api/v1/artifacts/list", "ArtifactService/ListObjects (plugin)", "unclassified", "-",
     "-", "-", "artifact-driver plugin interface; argo-server does not serve it", Kind::kDeny},
    {"POST", "/api/v1/artifacts/is-directory", "ArtifactService/IsDirectory (plugin)",
     "unclassified", "-", "-", "-",
     "artifact-driver plugin interface; argo-server does not serve it", Kind::kDeny},
};

constexpr size_t kRowCount = sizeof(kRows) / sizeof(kRows[0]);

// The workflow fields a lookup keeps: small, and what classification reads.
constexpr std::string_view kWorkflowFields =
    "metadata.name,metadata.namespace,metadata.uid,spec.workflowTemplateRef,status.nodes";

ActionSet parseActions(std::string_view text) {
  ActionSet s;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view one = text.substr(0, comma);
    if (auto a = policy::parseAction(one))
      s.add(*a);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return s;
}

// ---- Body members as Go's encoding/json finds them ----------------------------------------

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Whether encoding/json would decode the member `key` into the field `name` (ASCII): equal
// ignoring case, where U+212A KELVIN SIGN folds to k and U+017F LATIN SMALL LETTER LONG S to s.
bool foldEquals(std::string_view key, std::string_view name) {
  size_t i = 0, j = 0;
  while (i < key.size() && j < name.size()) {
    char k = key[i];
    if (key.substr(i, 3) == "\xE2\x84\xAA") {
      k = 'k';
      i += 3;
    } else if (key.substr(i, 2) == "\xC5\xBF") {
      k = 's';
      i += 2;
    } else {
      ++i;
    }
    if (lower(k) != lower(name[j]))
      return false;
    ++j;
  }
  return i == key.size() && j == name.size();
}

// The member of `obj` that decodes into field `name`; nullptr when absent or null. `bad` is
// set when several members would decode into it (the server takes the last).
const JsonValue* member(const JsonValue& obj, std::string_view name, bool& bad) {
  if (!obj.isObject())
    return nullptr;
  const JsonValue* found = nullptr;
  int n = 0;
  for (const JsonMember& m : obj.asObject()) {
    if (foldEquals(m.name, name)) {
      found = &m.value;
      ++n;
    }
  }
  if (n > 1) {
    bad = true;
    return nullptr;
  }
  if (found != nullptr && found->isNull())
    return nullptr;
  return found;
}

// An object member (nullptr when absent); `bad` when it is something else.
const JsonValue* objectMember(const JsonValue* obj, std::string_view name, bool& bad) {
  if (obj == nullptr)
    return nullptr;
  const JsonValue* v = member(*obj, name, bad);
  if (v != nullptr && !v->isObject()) {
    bad = true;
    return nullptr;
  }
  return v;
}

// A string member ("" when absent); `bad` when it is something else.
std::string_view stringMember(const JsonValue* obj, std::string_view name, bool& bad) {
  if (obj == nullptr)
    return {};
  const JsonValue* v = member(*obj, name, bad);
  if (v == nullptr)
    return {};
  if (!v->isString()) {
    bad = true;
    return {};
  }
  return v->asString();
}

// A bool member (false when absent); `bad` when it is something else.
bool boolMember(const JsonValue* obj, std::string_view name, bool& bad) {
  if (obj == nullptr)
    return false;
  const JsonValue* v = member(*obj, name, bad);
  if (v == nullptr)
    return false;
  if (!v->isBool()) {
    bad = true;
    return false;
  }
  return v->asBool();
}

std::string templateWorkflow(std::string_view name, bool cluster) {
  std::string w;
  if (cluster)
    w.assign(argo::kClusterPrefix);
  w.append(name);
  return w;
}

// What a Workflow spec (or a CronWorkflow's workflowSpec) runs.
struct SpecInfo {
  std::string workflow;      // the template's workflow name; "" for an inline spec
  bool inline_spec = false;  // no workflowTemplateRef: the spec itself is a definition
  bool overrides = false;    // a templateRef with more than arguments / entrypoint
};

bool specInfo(const JsonValue* spec, SpecInfo& out) {
  bool bad = false;
  const JsonValue* ref = objectMember(spec, "workflowTemplateRef", bad);
  const std::string_view name = stringMember(ref, "name", bad);
  const bool cluster = boolMember(ref, "clusterScope", bad);
  if (bad)
    return false;
  if (name.empty()) {
    out.inline_spec = true;
    return true;
  }
  out.workflow = templateWorkflow(name, cluster);
  for (const JsonMember& m : spec->asObject()) {
    if (m.value.isNull())
      continue;
    if (foldEquals(m.name, "workflowTemplateRef") || foldEquals(m.name, "arguments") ||
        foldEquals(m.name, "entrypoint")) {
      continue;
    }
    out.overrides = true;
  }
  return true;
}

// ---- Kubernetes field selectors (k8s.io/apimachinery/pkg/fields) ------------------------

struct Term {
  std::string key;
  bool equal = true;  // = or ==; false: !=
  std::string value;
};

bool unescapeValue(std::string_view s, std::string& out) {
  out.clear();
  bool slash = false;
  for (char c : s) {
    if (slash) {
      if (c != '\\' && c != ',' && c != '=')
        return false;
      out.push_back(c);
      slash = false;
      continue;
    }
    if (c == '\\') {
      slash = true;
    } else if (c == ',' || c == '=') {
      return false;
    } else {
      out.push_back(c);
    }
  }
  return !slash;
}

// Parses `s` as fields.ParseSelector does. False when the server would reject it.
bool parseSelector(std::string_view s, std::vector<Term>& out) {
  out.clear();
  std::vector<std::string_view> parts;
  size_t start = 0;
  bool slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (slash) {
      slash = false;
    } else if (s[i] == '\\') {
      slash = true;
    } else if (s[i] == ',') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(start));
  for (std::string_view part : parts) {
    if (part.empty())
      continue;
    size_t at = std::string_view::npos;
    size_t len = 0;
    bool equal = true;
    for (size_t i = 0; i < part.size() && at == std::string_view::npos; ++i) {
      const std::string_view rest = part.substr(i);
      if (rest.starts_with("!=")) {
        at = i, len = 2, equal = false;
      } else if (rest.starts_with("==")) {
        at = i, len = 2;
      } else if (rest.starts_with("=")) {
        at = i, len = 1;
      }
    }
    if (at == std::string_view::npos)
      return false;
    Term t;
    t.key.assign(part.substr(0, at));
    t.equal = equal;
    if (!unescapeValue(part.substr(at + len), t.value))
      return false;
    out.push_back(std::move(t));
  }
  return true;
}

// Nodes in LookupResult::steps of workflow answers: triples (id, name, displayName).
constexpr size_t kNodeFields = 3;

std::string_view nodeDisplayName(const LookupResult& r, std::string_view id) {
  for (size_t i = 0; i + kNodeFields <= r.steps.size(); i += kNodeFields) {
    if (r.steps[i] == id)
      return r.steps[i + 2];
  }
  return {};
}

// The steps a selector can reach: every displayName= value; else the display names of the
// known nodes every id= and name= term accepts; else "" (any step: nodes a selector on other
// fields picks, or nodes created after the lookup, cannot be enumerated).
std::vector<std::string> selectedSteps(const std::vector<Term>& terms, const LookupResult& r) {
  std::vector<std::string> steps;
  for (const Term& t : terms) {
    if (t.equal && t.key == "displayName") {
      bool seen = false;
      for (const std::string& s : steps)
        seen = seen || s == t.value;
      if (!seen)
        steps.push_back(t.value);
    }
  }
  if (!steps.empty())
    return steps;
  bool pinned = false;
  for (const Term& t : terms)
    pinned = pinned || (t.equal && (t.key == "id" || t.key == "name"));
  if (pinned) {
    for (size_t i = 0; i + kNodeFields <= r.steps.size(); i += kNodeFields) {
      bool ok = true;
      for (const Term& t : terms) {
        if (!t.equal)
          continue;
        if (t.key == "id" && r.steps[i] != t.value)
          ok = false;
        if (t.key == "name" && r.steps[i + 1] != t.value)
          ok = false;
      }
      if (!ok)
        continue;
      const std::string& d = r.steps[i + 2];
      bool seen = false;
      for (const std::string& s : steps)
        seen = seen || s == d;
      if (!seen)
        steps.push_back(d);
    }
  }
  if (steps.empty())
    steps.emplace_back();
  return steps;
}

// ---- Lookup answers -------------------------------------------------------------------

// The template a Workflow or a CronWorkflow's workflowSpec object runs ("" inline), as the
// server's own answer spells it (exact member names).
std::string refWorkflow(const JsonValue* spec) {
  if (spec == nullptr)
    return {};
  const JsonValue* ref = spec->find("workflowTemplateRef");
  if (ref == nullptr)
    return {};
  const JsonValue* name = ref->find("name");
  if (name == nullptr || !name->isString() || name->asString().empty())
    return {};
  const JsonValue* cluster = ref->find("clusterScope");
  return templateWorkflow(name->asString(),
                          cluster != nullptr && cluster->isBool() && cluster->asBool());
}

std::string stringAt(const JsonValue& v, std::string_view pointer) {
  const JsonValue* s = v.at(pointer);
  return s != nullptr && s->isString() ? s->asString() : std::string();
}

// A Workflow document (live or archived) -> the answer.
void workflowAnswer(const JsonValue& wf, LookupResult& out) {
  out.found = true;
  out.workflow = refWorkflow(wf.find("spec"));
  out.execution = stringAt(wf, "/metadata/namespace") + "/" + stringAt(wf, "/metadata/name");
  const JsonValue* nodes = wf.at("/status/nodes");
  if (nodes == nullptr || !nodes->isObject())
    return;
  for (const JsonMember& m : nodes->asObject()) {
    if (!m.value.isObject())
      continue;
    std::string id = stringAt(m.value, "/id");
    if (id.empty())
      id = m.name;
    out.steps.push_back(std::move(id));
    out.steps.push_back(stringAt(m.value, "/name"));
    out.steps.push_back(stringAt(m.value, "/displayName"));
  }
}

// ---- The profile ------------------------------------------------------------------------

class ArgoProfile final : public Profile {
 public:
  explicit ArgoProfile(std::string upstream) : upstream_(std::move(upstream)) {
    for (size_t i = 0; i < kRowCount; ++i) {
      const int index = routes_.add(kRows[i].method, kRows[i].path);
      (void)index;
      actions_[i] = parseActions(kRows[i].actions);
      // The variable names, in template order.
      std::string_view p = kRows[i].path;
      while (true) {
        const size_t open = p.find('{');
        if (open == std::string_view::npos)
          break;
        const size_t close = p.find('}', open);
        std::string_view name = p.substr(open + 1, close - open - 1);
        if (name.ends_with("..."))
          name.remove_suffix(3);
        vars_[i].emplace_back(name);
        p.remove_prefix(close + 1);
      }
    }
  }

  void classify(const RequestView& req, Classification& out) const override;
  bool lookupCall(const LookupKey& key, LookupCall& out) const override;
  bool parseLookup(const LookupKey& key, int status, std::string_view body,
                   LookupResult& out) const override;
  void learn(const RequestView& req, const Classification& c, int status, std::string_view body,
             std::vector<Learned>& out) const override;
  std::vector<OperationInfo> operations() const override;

 private:
  std::string upstream_;
  RouteTable routes_;
  std::array<ActionSet, kRowCount> actions_;
  std::array<std::vector<std::string>, kRowCount> vars_;
};

// One classification in progress.
struct Ctx {
  const RequestView& req;
  Classification& out;
  const Row& row;
  ActionSet actions;
  const std::vector<std::string>& names;
  std::array<std::string, RouteTable::kMaxCaptures> values;

  std::string_view var(std::string_view name) const {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name)
        return values[i];
    }
    return {};
  }
  Operation& op() { return out.op; }
  void done() { out.outcome = Outcome::kClassified; }
  void deny(std::string_view why) { out.unclassified(why); }

  // The body's root object. nullptr: the outcome is set (kNeedsBody or unclassified).
  const JsonValue* body() {
    if (!req.body_read) {
      out.outcome = Outcome::kNeedsBody;
      return nullptr;
    }
    if (req.json == nullptr || !req.json->isObject()) {
      deny("the body is not a JSON object");
      return nullptr;
    }
    return req.json;
  }

  // The answer for `key`, or nullptr after adding it to the lookups to make.
  const LookupResult* lookup(uint8_t kind, std::string_view scope, std::string_view id) {
    LookupKey key{kind, std::string(scope), std::string(id), {}};
    if (const LookupResult* r = req.lookup(key))
      return r;
    out.lookups.push_back(std::move(key));
    out.outcome = Outcome::kNeedsLookup;
    return nullptr;
  }
};

constexpr std::string_view kBadMember =
    "a body member has the wrong type, or two members differ only in case";

// op.workflow / op.execution from a Workflow answer. Found: the template (inline: "" and no
// execution, so only a workflow "*" rule matches). Not found: "" with the execution, which
// the policy denies as unresolved.
void applyWorkflow(Operation& op, const LookupResult& r, std::string_view execution) {
  if (r.found && r.workflow.empty()) {
    op.workflow.clear();
    op.execution.clear();
    return;
  }
  op.workflow = r.found ? r.workflow : std::string();
  op.execution.assign(execution);
}

// The namespace part of an answer's "namespace/name" execution.
std::string_view answerNamespace(const LookupResult& r) {
  const std::string_view e = r.execution;
  const size_t slash = e.find('/');
  return slash == std::string_view::npos ? std::string_view() : e.substr(0, slash);
}

// Copies op into `also` once per further step.
void spreadSteps(Classification& out, const std::vector<std::string>& steps) {
  out.op.step = steps.front();
  for (size_t i = 1; i < steps.size(); ++i) {
    out.also.push_back(out.op);
    out.also.back().step = steps[i];
  }
}

bool dryRun(const JsonValue* request, const JsonValue* options, bool& bad) {
  bool dry = boolMember(request, "serverDryRun", bad);
  if (options != nullptr) {
    dry = dry || boolMember(options, "dryRun", bad) || boolMember(options, "serverDryRun", bad);
  }
  return dry;
}

void classifyCreate(Ctx& c) {
  const JsonValue* b = c.body();
  if (b == nullptr)
    return;
  bool bad = false;
  const JsonValue* wf = objectMember(b, "workflow", bad);
  const JsonValue* spec = objectMember(wf, "spec", bad);
  // createOptions.dryRun is a list: any entry makes it a dry run.
  const JsonValue* create = objectMember(b, "createOptions", bad);
  const JsonValue* list = create != nullptr ? member(*create, "dryRun", bad) : nullptr;
  const bool dry = boolMember(b, "serverDryRun", bad) ||
                   (list != nullptr && list->isArray() && !list->asArray().empty());
  if (bad)
    return c.deny(kBadMember);
  if (wf == nullptr)
    return c.deny("CreateWorkflow without a workflow");
  SpecInfo info;
  if (!specInfo(spec, info))
    return c.deny(kBadMember);
  c.op().workflow = info.workflow;
  c.op().actions.add(Action::kStart);
  if (info.inline_spec || info.overrides)
    c.op().actions.add(Action::kDefine);
  c.out.learn_response = !dry;
  c.done();
}

// SubmitWorkflow's resourceKind, normalised as the server's switch does.
enum class SubmitKind { kNone, kTemplate, kClusterTemplate, kCron };

SubmitKind submitKind(std::string_view k) {
  if (k == "WorkflowTemplate" || k == "workflowtemplate" || k == "workflowtemplates" ||
      k == "wftmpl") {
    return SubmitKind::kTemplate;
  }
  if (k == "ClusterWorkflowTemplate" || k == "clusterworkflowtemplate" ||
      k == "clusterworkflowtemplates" || k == "cwftmpl") {
    return SubmitKind::kClusterTemplate;
  }
  if (k == "CronWorkflow" || k == "cronworkflow" || k == "cronworkflows" || k == "cronwf") {
    return SubmitKind::kCron;
  }
  return SubmitKind::kNone;
}

void classifySubmit(Ctx& c) {
  const JsonValue* b = c.body();
  if (b == nullptr)
    return;
  bool bad = false;
  const std::string_view kind = stringMember(b, "resourceKind", bad);
  const std::string_view name = stringMember(b, "resourceName", bad);
  const JsonValue* opts = objectMember(b, "submitOptions", bad);
  const bool other_identity = !stringMember(opts, "serviceAccount", bad).empty();
  const bool dry = dryRun(nullptr, opts, bad);
  if (bad)
    return c.deny(kBadMember);
  const SubmitKind k = submitKind(kind);
  if (k == SubmitKind::kNone)
    return c.deny("SubmitWorkflow with an unsupported resourceKind");
  if (name.empty())
    return c.deny("SubmitWorkflow without a resourceName");
  if (k == SubmitKind::kCron) {
    const LookupResult* r = c.lookup(argo::kLookupCron, c.var("namespace"), name);
    if (r == nullptr)
      return;
    applyWorkflow(c.op(), *r, name);
  } else {
    c.op().workflow = templateWorkflow(name, k == SubmitKind::kClusterTemplate);
  }
  c.op().actions.add(Action::kStart);
  if (other_identity)
    c.op().actions.add(Action::kDefine);
  c.out.learn_response = !dry;
  c.done();
}

// Lint of a Workflow (`member` "workflow", its spec) or a CronWorkflow ("cronWorkflow",
// spec.workflowSpec): read, on the template it names.
void classifyLint(Ctx& c, std::string_view outer, bool cron) {
  const JsonValue* b = c.body();
  if (b == nullptr)
    return;
  bool bad = false;
  const JsonValue* obj = objectMember(b, outer, bad);
  const JsonValue* spec = objectMember(obj, "spec", bad);
  if (cron)
    spec = objectMember(spec, "workflowSpec", bad);
  if (bad)
    return c.deny(kBadMember);
  SpecInfo info;
  if (!specInfo(spec, info))
    return c.deny(kBadMember);
  c.op().workflow = info.workflow;
  c.op().actions = c.actions;
  c.done();
}

// Calls on one live Workflow named by the path.
void classifyWorkflow(Ctx& c) {
  const std::string_view name = c.var("name");
  if (name == "@latest") {
    return c.deny("@latest names whichever Workflow is newest; name the Workflow");
  }
  const Kind kind = c.row.kind;
  std::vector<Term> terms;
  std::string selector;
  bool restart_successful = false;
  std::string phase;
  if (kind == Kind::kWfRetry || kind == Kind::kWfResume || kind == Kind::kWfStop ||
      kind == Kind::kWfSet) {
    const JsonValue* b = c.body();
    if (b == nullptr)
      return;
    bool bad = false;
    selector = stringMember(b, "nodeFieldSelector", bad);
    restart_successful = boolMember(b, "restartSuccessful", bad);
    phase = stringMember(b, "phase", bad);
    if (bad)
      return c.deny(kBadMember);
    if (!parseSelector(selector, terms))
      return c.deny("nodeFieldSelector does not parse");
  }
  if (kind == Kind::kWfSet) {
    if (selector.empty())
      return c.deny("set without a nodeFieldSelector");
    if (phase != "" && phase != "Succeeded" && phase != "Failed" && phase != "Error") {
      return c.deny("set with a phase the server rejects");
    }
  }
  // GetWorkflow with ?uid= may answer with the archived Workflow of that uid.
  std::string uid;
  if (kind == Kind::kWfGet && !c.req.query.empty()) {
    QueryParams q;
    if (!q.parse(c.req.query))
      return c.deny("malformed query string");
    if (q.count("uid") > 1)
      return c.deny("more than one uid");
    if (const std::string* u = q.get("uid"))
      uid = *u;
  }
  const std::string_view ns = c.var("namespace");
  const LookupResult* live = c.lookup(argo::kLookupWorkflow, ns, name);
  const LookupResult* archived = uid.empty() ? nullptr : c.lookup(argo::kLookupArchived, {}, uid);
  if (c.out.outcome == Outcome::kNeedsLookup)
    return;

  Operation& op = c.op();
  applyWorkflow(op, *live, name);
  std::vector<std::string> steps(1);
  switch (kind) {
    case Kind::kWfRetry:
      op.actions.add(Action::kRetry);
      if (restart_successful)
        op.actions.add(Action::kRerun);
      break;
    case Kind::kWfResume:
      if (selector.empty()) {
        op.actions = {Action::kResume, Action::kCompleteStep};
      } else {
        op.actions.add(Action::kCompleteStep);
        steps = selectedSteps(terms, *live);
      }
      break;
    case Kind::kWfStop:
      if (selector.empty()) {
        op.actions.add(Action::kStop);
      } else {
        op.actions.add(Action::kFailStep);
        steps = selectedSteps(terms, *live);
      }
      break;
    case Kind::kWfSet:
      op.actions.add(phase == "Failed" || phase == "Error" ? Action::kFailStep
                                                           : Action::kCompleteStep);
      steps = selectedSteps(terms, *live);
      break;
    case Kind::kWfResubmit:
      op.actions = c.actions;
      c.out.learn_response = true;
      break;
    default:
      op.actions = c.actions;
      break;
  }
  spreadSteps(c.out, steps);
  if (archived != nullptr) {
    if (!live->found && archived->found) {
      // Only the archived one exists: it is what the server answers with.
      applyWorkflow(op, *archived, uid);
    } else if (archived->found) {
      Operation also = op;
      applyWorkflow(also, *archived, uid);
      c.out.also.push_back(std::move(also));
    }
  }
  c.done();
}

// A WorkflowTemplate or ClusterWorkflowTemplate named in the body: create, update, lint.
void classifyTemplateBody(Ctx& c, bool cluster, bool must_match_path) {
  const JsonValue* b = c.body();
  if (b == nullptr)
    return;
  bool bad = false;
  const JsonValue* t = objectMember(b, "template", bad);
  const JsonValue* meta = objectMember(t, "metadata", bad);
  const std::string_view name = stringMember(meta, "name", bad);
  if (bad)
    return c.deny(kBadMember);
  if (name.empty())
    return c.deny("a template without metadata.name");
  if (must_match_path && name != c.var("name")) {
    return c.deny("the body names another template than the path (the server uses the body)");
  }
  c.op().workflow = templateWorkflow(name, cluster);
  c.op().actions = c.actions;
  c.done();
}

void classifyCronBody(Ctx& c, bool update) {
  const JsonValue* b = c.body();
  if (b == nullptr)
    return;
  bool bad = false;
  const JsonValue* cron = objectMember(b, "cronWorkflow", bad);
  const JsonValue* meta = objectMember(cron, "metadata", bad);
  const std::string_view name = stringMember(meta, "name", bad);
  const JsonValue* spec = objectMember(objectMember(cron, "spec", bad), "workflowSpec", bad);
  if (bad)
    return c.deny(kBadMember);
  if (cron == nullptr)
    return c.deny("no cronWorkflow in the body");
  if (update && name != c.var("name")) {
    return c.deny("the body names another CronWorkflow than the path (the server uses the body)");
  }
  SpecInfo info;
  if (!specInfo(spec, info))
    return c.deny(kBadMember);
  const LookupResult* before = nullptr;
  if (update) {
    before = c.lookup(argo::kLookupCron, c.var("namespace"), name);
    if (before == nullptr)
      return;
  }
  c.op().workflow = info.workflow;
  c.op().actions = {Action::kStart, Action::kDefine};
  if (before != nullptr && !(before->found && before->workflow == info.workflow)) {
    Operation old = c.op();
    old.actions = {Action::kDefine};
    applyWorkflow(old, *before, name);
    c.out.also.push_back(std::move(old));
  }
  c.done();
}

void classifyCronByName(Ctx& c) {
  const std::string_view name = c.var("name");
  const LookupResult* r = c.lookup(argo::kLookupCron, c.var("namespace"), name);
  if (r == nullptr)
    return;
  applyWorkflow(c.op(), *r, name);
  if (r->found)
    c.op().execution.clear();  // a CronWorkflow is not an execution
  c.op().actions = c.actions;
  c.done();
}

void applyArchived(Operation& op, const LookupResult& r, std::string_view uid) {
  applyWorkflow(op, r, uid);
  if (op.namespace_name.empty())
    op.namespace_name.assign(answerNamespace(r));
}

void classifyArchived(Ctx& c) {
  const Kind kind = c.row.kind;
  const std::string_view uid = c.var("uid");
  bool restart_successful = false;
  if (kind == Kind::kArchDelete && !c.req.query.empty()) {
    QueryParams q;
    if (!q.parse(c.req.query))
      return c.deny("malformed query string");
    if (const std::string* n = q.get("name"); n != nullptr && !n->empty()) {
      return c.deny("archived workflow named by name: the server then ignores the uid");
    }
  }
  if (kind == Kind::kArchRetry || kind == Kind::kArchResubmit) {
    const JsonValue* b = c.body();
    if (b == nullptr)
      return;
    bool bad = false;
    const std::string_view name = stringMember(b, "name", bad);
    const std::string_view ns = stringMember(b, "namespace", bad);
    const std::string_view selector = stringMember(b, "nodeFieldSelector", bad);
    restart_successful = boolMember(b, "restartSuccessful", bad);
    if (bad)
      return c.deny(kBadMember);
    if (!name.empty()) {
      return c.deny("archived workflow named by name: the server then ignores the uid");
    }
    std::vector<Term> terms;
    if (!parseSelector(selector, terms))
      return c.deny("nodeFieldSelector does not parse");
    c.op().namespace_name.assign(ns);  // where the new Workflow is created
  }
  const LookupResult* r = c.lookup(argo::kLookupArchived, {}, uid);
  if (r == nullptr)
    return;
  applyArchived(c.op(), *r, uid);
  c.op().actions = c.actions;
  if (kind == Kind::kArchRetry) {
    c.op().actions = {Action::kRetry};
    if (restart_successful)
      c.op().actions.add(Action::kRerun);
  }
  c.out.learn_response = kind == Kind::kArchRetry || kind == Kind::kArchResubmit;
  c.done();
}

void classifyArtifact(Ctx& c) {
  const std::string_view node = c.var("nodeId");
  const LookupResult* r = nullptr;
  std::string_view execution;
  bool archived = false;
  if (c.row.kind == Kind::kArtifact) {
    execution = c.var("name");
    r = c.lookup(argo::kLookupWorkflow, c.var("namespace"), execution);
  } else if (c.row.kind == Kind::kArtifactByUid) {
    execution = c.var("uid");
    archived = true;
    r = c.lookup(argo::kLookupArchived, {}, execution);
  } else {
    const std::string_view dir = c.var("artifactDiscriminator");
    if (dir != "inputs" && dir != "outputs") {
      return c.deny("artifact-files: the direction is neither inputs nor outputs");
    }
    const std::string_view disc = c.var("idDiscriminator");
    execution = c.var("id");
    if (disc == "workflows") {
      r = c.lookup(argo::kLookupWorkflow, c.var("namespace"), execution);
    } else if (disc == "archived-workflows") {
      r = c.lookup(argo::kLookupArchived, {}, execution);
    } else {
      return c.deny("artifact-files: neither workflows nor archived-workflows");
    }
  }
  if (r == nullptr)
    return;
  if (archived) {
    applyArchived(c.op(), *r, execution);
  } else {
    applyWorkflow(c.op(), *r, execution);
  }
  c.op().step.assign(nodeDisplayName(*r, node));
  c.op().actions = c.actions;
  c.done();
}

bool isOtherHandler(std::string_view first) {
  return first == "api" || first == "artifacts" || first == "input-artifacts" ||
         first == "artifacts-by-uid" || first == "input-artifacts-by-uid" ||
         first == "artifact-files" || first == "upload-artifacts";
}

void ArgoProfile::classify(const RequestView& req, Classification& out) const {
  out.reset(upstream_);
  const RouteTable::Match m = routes_.match(req.method, req.path);
  if (!m) {
    out.unclassified("no Argo Workflows operation matches");
    return;
  }
  const size_t index = static_cast<size_t>(m.route);
  Ctx c{req, out, kRows[index], actions_[index], vars_[index], {}};
  for (size_t i = 0; i < m.var_count; ++i) {
    if (!percentDecode(m.vars[i], false, c.values[i])) {
      out.unclassified("malformed percent-encoding in the path");
      return;
    }
  }
  out.op.namespace_name.assign(c.var("namespace"));
  switch (c.row.kind) {
    case Kind::kSimple:
      out.op.actions = c.actions;
      return c.done();
    case Kind::kDeny:
      return c.deny("the artifact-driver plugin interface is not served by argo-server");
    case Kind::kUi: {
      std::string_view first = req.path.substr(1);
      first = first.substr(0, first.find('/'));
      if (isOtherHandler(first))
        return c.deny("no Argo Workflows operation matches");
      out.op.actions = c.actions;
      return c.done();
    }
    case Kind::kWfCreate:
      return classifyCreate(c);
    case Kind::kWfSubmit:
      return classifySubmit(c);
    case Kind::kWfLint:
      return classifyLint(c, "workflow", false);
    case Kind::kWfGet:
    case Kind::kWfDelete:
    case Kind::kWfRetry:
    case Kind::kWfResubmit:
    case Kind::kWfResume:
    case Kind::kWfSuspend:
    case Kind::kWfTerminate:
    case Kind::kWfStop:
    case Kind::kWfSet:
    case Kind::kWfLogs:
      return classifyWorkflow(c);
    case Kind::kTmplByPath:
    case Kind::kCtmplByPath:
      out.op.workflow = templateWorkflow(c.var("name"), c.row.kind == Kind::kCtmplByPath);
      out.op.actions = c.actions;
      return c.done();
    case Kind::kTmplCreate:
    case Kind::kTmplLint:
      return classifyTemplateBody(c, false, false);
    case Kind::kTmplUpdate:
      return classifyTemplateBody(c, false, true);
    case Kind::kCtmplCreate:
    case Kind::kCtmplLint:
      return classifyTemplateBody(c, true, false);
    case Kind::kCtmplUpdate:
      return classifyTemplateBody(c, true, true);
    case Kind::kCronCreate:
      return classifyCronBody(c, false);
    case Kind::kCronUpdate:
      return classifyCronBody(c, true);
    case Kind::kCronLint:
      return classifyLint(c, "cronWorkflow", true);
    case Kind::kCronByName:
      return classifyCronByName(c);
    case Kind::kArchGet:
    case Kind::kArchDelete:
    case Kind::kArchRetry:
    case Kind::kArchResubmit:
      return classifyArchived(c);
    case Kind::kArtifact:
    case Kind::kArtifactByUid:
    case Kind::kArtifactFile:
      return classifyArtifact(c);
    case Kind::kUpload:
      out.op.workflow.assign(c.var("workflowTemplateName"));
      out.op.actions = c.actions;
      return c.done();
  }
  out.unclassified("no Argo Workflows operation matches");
}

bool ArgoProfile::lookupCall(const LookupKey& key, LookupCall& out) const {
  out = LookupCall{};
  if (key.id.empty())
    return false;
  switch (key.kind) {
    case argo::kLookupWorkflow:
      if (key.scope.empty())
        return false;
      out.target = "/api/v1/workflows/";
      appendPercentEncoded(out.target, key.scope);
      out.target.push_back('/');
      appendPercentEncoded(out.target, key.id);
      out.target.append("?fields=");
      out.target.append(kWorkflowFields);
      return true;
    case argo::kLookupArchived:
      out.target = "/api/v1/archived-workflows/";
      appendPercentEncoded(out.target, key.id);
      return true;
    case argo::kLookupCron:
      if (key.scope.empty())
        return false;
      out.target = "/api/v1/cron-workflows/";
      appendPercentEncoded(out.target, key.scope);
      out.target.push_back('/');
      appendPercentEncoded(out.target, key.id);
      return true;
    default:
      return false;
  }
}

bool ArgoProfile::parseLookup(const LookupKey& key, int status, std::string_view body,
                              LookupResult& out) const {
  out = LookupResult{};
  if (key.kind != argo::kLookupWorkflow && key.kind != argo::kLookupArchived &&
      key.kind != argo::kLookupCron) {
    return false;
  }
  if (status == 404)
    return true;  // found = false
  if (status != 200)
    return false;
  JsonLimits limits;
  limits.max_bytes = 64u << 20;
  limits.max_depth = 128;
  StatusOr<JsonValue> doc = parseJson(body, limits);
  if (!doc.isOk() || !doc->isObject())
    return false;
  if (key.kind == argo::kLookupCron) {
    const JsonValue* spec = doc->at("/spec/workflowSpec");
    out.found = true;
    out.workflow = refWorkflow(spec);
    out.execution = stringAt(*doc, "/metadata/namespace") + "/" + stringAt(*doc, "/metadata/name");
    return true;
  }
  workflowAnswer(*doc, out);
  return true;
}

void ArgoProfile::learn(const RequestView&, const Classification& c, int status,
                        std::string_view body, std::vector<Learned>& out) const {
  if (!c.learn_response || status != 200)
    return;
  StatusOr<JsonValue> doc = parseJson(body);
  if (!doc.isOk() || !doc->isObject())
    return;
  const std::string ns = stringAt(*doc, "/metadata/namespace");
  const std::string name = stringAt(*doc, "/metadata/name");
  if (ns.empty() || name.empty())
    return;
  Learned l;
  l.key = LookupKey{argo::kLookupWorkflow, ns, name, {}};
  workflowAnswer(*doc, l.result);
  out.push_back(std::move(l));
}

std::vector<OperationInfo> ArgoProfile::operations() const {
  std::vector<OperationInfo> ops;
  ops.reserve(kRowCount);
  for (const Row& r : kRows) {
    OperationInfo o;
    o.method = r.method;
    o.path = r.path;
    o.name = r.name;
    o.actions = r.actions;
    o.workflow = r.workflow;
    o.step = r.step;
    o.execution = r.execution;
    o.notes = r.notes;
    ops.push_back(std::move(o));
  }
  return ops;
}

}  // namespace

ProfileConstSharedPtr makeArgoProfile(const config::UpstreamConfig& upstream) {
  return std::make_shared<const ArgoProfile>(upstream.name);
}

}  // namespace stepgate::orchestrators
