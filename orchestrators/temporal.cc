// The Temporal profile: the HTTP API (grpc-gateway over WorkflowService and OperatorService) →
// policy Operations. docs/profiles/temporal.md explains the rules; the per-operation table is
// kRows below (and `stepgate profiles list temporal`).
//
// What the server's gateway does, and this profile mirrors:
//  - every RPC has two bindings, `/api/v1/namespaces/{namespace}/...` and the same without
//    `/api/v1` (cluster-level ones under `/cluster/...`); path variables are percent-decoded;
//  - POST bodies are the whole request message in protojson: a field may be spelt with its
//    JSON name (`workflowType`) or its proto name (`workflow_type`); both at once is a
//    duplicate the server rejects, and here an ambiguity (unclassified). Path variables are set
//    after the body is decoded, so a body field the path also binds is ignored by the server,
//    and here;
//  - GET requests take the remaining fields from the query (`execution.runId` or
//    `execution.run_id`); POST bindings ignore the query.

#include "orchestrators/temporal.h"

#include <array>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "orchestrators/profile_util.h"
#include "orchestrators/profiles.h"
#include "orchestrators/route_table.h"

namespace stepgate::orchestrators {

namespace temporal {

namespace {

int base64Value(char c, bool& url, bool& std_alpha) noexcept {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '/') {
    std_alpha = true;
    return c == '+' ? 62 : 63;
  }
  if (c == '-' || c == '_') {
    url = true;
    return c == '-' ? 62 : 63;
  }
  return -1;
}

bool readVarint(std::string_view b, size_t& i, uint64_t& v) noexcept {
  v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (i >= b.size())
      return false;
    const auto byte = static_cast<unsigned char>(b[i++]);
    v |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0)
      return true;
  }
  return false;  // more than 10 bytes
}

}  // namespace

bool decodeBase64(std::string_view in, size_t max_out, std::string& out) {
  out.clear();
  bool url = false, std_alpha = false;
  uint32_t acc = 0;
  unsigned bits = 0;
  size_t symbols = 0, padding = 0;
  for (const char c : in) {
    if (c == '\r' || c == '\n')
      continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0)
      return false;  // data after padding
    const int v = base64Value(c, url, std_alpha);
    if (v < 0)
      return false;
    ++symbols;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out.size() == max_out)
        return false;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (url && std_alpha)
    return false;  // one alphabet or the other
  if (symbols % 4 == 1)
    return false;
  if (padding > 0 && (symbols + padding) % 4 != 0)
    return false;
  return true;
}

bool decodeTaskToken(std::string_view b, TaskToken& out) {
  out = TaskToken{};
  if (b.size() > kMaxTokenBytes)
    return false;
  size_t i = 0;
  while (i < b.size()) {
    uint64_t tag = 0;
    if (!readVarint(b, i, tag))
      return false;
    const uint64_t field = tag >> 3;
    const unsigned wire = static_cast<unsigned>(tag & 7);
    if (field == 0)
      return false;
    switch (wire) {
      case 0: {
        uint64_t v = 0;
        if (!readVarint(b, i, v))
          return false;
        if (field == 4)
          out.scheduled_event_id = static_cast<int64_t>(v);
        break;
      }
      case 1:
        if (b.size() - i < 8)
          return false;
        i += 8;
        break;
      case 5:
        if (b.size() - i < 4)
          return false;
        i += 4;
        break;
      case 2: {
        uint64_t len = 0;
        if (!readVarint(b, i, len) || len > b.size() - i)
          return false;
        const std::string_view v = b.substr(i, static_cast<size_t>(len));
        i += static_cast<size_t>(len);
        std::string* dst = nullptr;
        switch (field) {
          case 1:
            dst = &out.namespace_id;
            break;
          case 2:
            dst = &out.workflow_id;
            break;
          case 3:
            dst = &out.run_id;
            break;
          case 6:
            dst = &out.activity_id;
            break;
          case 7:
          case 8:
            if (!validUtf8(v))
              return false;  // string fields the server also validates
            break;
          default:
            break;
        }
        if (dst != nullptr) {
          if (!validUtf8(v))
            return false;
          dst->assign(v);
        }
        break;
      }
      default:
        return false;  // groups (3, 4) and unknown wire types
    }
    // A field of the wrong wire type is a malformed token for the server too.
    if ((field == 1 || field == 2 || field == 3 || field == 6) && wire != 2)
      return false;
    if (field == 4 && wire != 0)
      return false;
  }
  return true;
}

}  // namespace temporal

namespace {

using policy::Action;
using policy::ActionSet;
using namespace temporal;

// How a route's request becomes an Operation.
enum class Handler : uint8_t {
  kPlain,               // fixed actions, no workflow: namespace/cluster level or widened
  kDescribeNamespace,   // plain read, but `?id=` names a namespace other than the path's
  kRegisterNamespace,   // admin; the namespace is in the body
  kExecution,           // workflow id in the path, run id in the query or body → lookup
  kStart,               // StartWorkflowExecution
  kSignalWithStart,     // SignalWithStartWorkflowExecution
  kToken,               // activity task token calls
  kActivityById,        // activity by id: workflow id in path or body; none = standalone
  kActivityDeprecated,  // body execution + activity id | type | match-all
  kScheduleCreate,      // CreateSchedule
  kSchedule,            // a schedule id → lookup
  kScheduleUpdate,      // UpdateSchedule: the new type (body) and the old one (lookup)
  kSchedulePatch,       // PatchSchedule: actions from the patch, workflow by lookup
  kBatch,               // StartBatchOperation: widened, actions from the operation
};

// Where the run id of a kExecution / kActivityById request is.
enum class RunFrom : uint8_t {
  kNone,
  kQuery,              // ?execution.runId=
  kWorkflowExecution,  // body workflowExecution.runId
  kExecution,          // body execution.runId
  kTop,                // body runId
};

constexpr ActionSet A(std::initializer_list<Action> a) {
  return ActionSet(a);
}

struct Row {
  const char* method;
  const char* path;  // the /api/v1 binding, with the OpenAPI parameter names
  const char* alt;   // the other binding; nullptr: `path` without "/api/v1"
  const char* name;  // the RPC
  Handler handler;
  ActionSet actions;  // kBatch / kSchedulePatch: every action the call may carry
  int8_t id_var;      // capture index of the workflow / schedule id; -1: none
  int8_t step_var;    // capture index of the step; -1: none
  RunFrom run;
  const char* notes;
};

constexpr const char* kVisibility =
    "a visibility query selects the targets: not inspected, so workflow is \"\" (only a "
    "workflow \"*\" rule allows it)";
constexpr const char* kStandalone =
    "standalone (workflow-less) activity or Nexus operation: widened to workflow \"\" (only a "
    "workflow \"*\" rule allows it)";
constexpr const char* kByIdNote =
    "activity id is chosen by the workflow code; without a body workflowId the call targets a "
    "standalone activity and is widened to workflow \"\"";
constexpr const char* kTokenNote =
    "task token (base64 protobuf) decoded for namespace_id, workflow_id, run_id, "
    "scheduled_event_id, activity_id; its workflow_type/activity_type are never used (the "
    "server does not check them); namespace_id must be the path namespace's id (lookup); step "
    "is the token's activity_id only when scheduled_event_id is 0 (the server then finds the "
    "activity by it), otherwise \"\"";
constexpr const char* kDeploy =
    "worker versioning: decides which code runs existing workflow types; namespace-wide admin";

// clang-format off
constexpr Row kRows[] = {
  // Cluster and namespaces.
  {"GET", "/api/v1/cluster-info", "/cluster", "GetClusterInfo", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, "called by SDKs at connect"},
  {"GET", "/api/v1/system-info", nullptr, "GetSystemInfo", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, "called by every SDK at connect"},
  {"GET", "/api/v1/namespaces", "/cluster/namespaces", "ListNamespaces", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, "cluster-wide"},
  {"POST", "/api/v1/namespaces", "/cluster/namespaces", "RegisterNamespace", Handler::kRegisterNamespace, A({Action::kAdmin}), -1, -1, RunFrom::kNone, "namespace from body `namespace` (needs body)"},
  {"GET", "/api/v1/namespaces/{namespace}", "/cluster/namespaces/{namespace}", "DescribeNamespace", Handler::kDescribeNamespace, A({Action::kRead}), -1, -1, RunFrom::kNone, "?id= (a namespace by id, not the path's) is unclassified"},
  {"POST", "/api/v1/namespaces/{namespace}/update", "/cluster/namespaces/{namespace}/update", "UpdateNamespace", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, "retention, archival, search attributes, replication"},
  {"GET", "/api/v1/namespaces/{namespace}/search-attributes", "/cluster/namespaces/{namespace}/search-attributes", "ListSearchAttributes", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/nexus/endpoints", "/cluster/nexus/endpoints", "ListNexusEndpoints", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, "cluster-wide"},
  {"POST", "/api/v1/nexus/endpoints", "/cluster/nexus/endpoints", "CreateNexusEndpoint", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, "routes cross-namespace Nexus calls"},
  {"GET", "/api/v1/nexus/endpoints/{id}", "/cluster/nexus/endpoints/{id}", "GetNexusEndpoint", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"DELETE", "/api/v1/nexus/endpoints/{id}", "/cluster/nexus/endpoints/{id}", "DeleteNexusEndpoint", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, ""},
  {"POST", "/api/v1/nexus/endpoints/{id}/update", "/cluster/nexus/endpoints/{id}/update", "UpdateNexusEndpoint", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, ""},
  // Workflow executions.
  {"GET", "/api/v1/namespaces/{namespace}/workflows", nullptr, "ListWorkflowExecutions", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"GET", "/api/v1/namespaces/{namespace}/archived-workflows", nullptr, "ListArchivedWorkflowExecutions", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"GET", "/api/v1/namespaces/{namespace}/workflow-count", nullptr, "CountWorkflowExecutions", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}", nullptr, "StartWorkflowExecution", Handler::kStart, A({Action::kStart}), 1, -1, RunFrom::kNone, "workflowIdConflictPolicy TERMINATE_EXISTING (or reuse policy TERMINATE_IF_RUNNING) also needs stop, USE_EXISTING also read (+signal with onConflictOptions), on the run currently under that id (lookup); the response's runId is learnt"},
  {"GET", "/api/v1/namespaces/{namespace}/workflows/{execution.workflowId}", nullptr, "DescribeWorkflowExecution", Handler::kExecution, A({Action::kRead}), 1, -1, RunFrom::kQuery, "the lookup call itself"},
  {"GET", "/api/v1/namespaces/{namespace}/workflows/{execution.workflowId}/history", nullptr, "GetWorkflowExecutionHistory", Handler::kExecution, A({Action::kRead}), 1, -1, RunFrom::kQuery, "history carries inputs and results"},
  {"GET", "/api/v1/namespaces/{namespace}/workflows/{execution.workflowId}/history-reverse", nullptr, "GetWorkflowExecutionHistoryReverse", Handler::kExecution, A({Action::kRead}), 1, -1, RunFrom::kQuery, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{execution.workflowId}/query/{query.queryType}", nullptr, "QueryWorkflow", Handler::kExecution, A({Action::kSignal}), 1, 2, RunFrom::kExecution, "queries run workflow code: signal (DESIGN.md)"},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{execution.workflowId}/trigger-rule", nullptr, "TriggerWorkflowRule", Handler::kExecution, A({Action::kPause, Action::kAdmin}), 1, -1, RunFrom::kExecution, "applies a rule (e.g. activity pause) to this execution"},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowExecution.workflowId}/cancel", nullptr, "RequestCancelWorkflowExecution", Handler::kExecution, A({Action::kStop}), 1, -1, RunFrom::kWorkflowExecution, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowExecution.workflowId}/reset", nullptr, "ResetWorkflowExecution", Handler::kExecution, A({Action::kRerun}), 1, -1, RunFrom::kWorkflowExecution, "postResetOperations (signals, option updates) add signal"},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowExecution.workflowId}/signal/{signalName}", nullptr, "SignalWorkflowExecution", Handler::kExecution, A({Action::kSignal}), 1, 2, RunFrom::kWorkflowExecution, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowExecution.workflowId}/terminate", nullptr, "TerminateWorkflowExecution", Handler::kExecution, A({Action::kStop}), 1, -1, RunFrom::kWorkflowExecution, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowExecution.workflowId}/update-options", nullptr, "UpdateWorkflowExecutionOptions", Handler::kExecution, A({Action::kSignal}), 1, -1, RunFrom::kWorkflowExecution, "versioning override, priority"},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowExecution.workflowId}/update/{request.input.name}", nullptr, "UpdateWorkflowExecution", Handler::kExecution, A({Action::kSignal}), 1, 2, RunFrom::kWorkflowExecution, "step = the update handler name"},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/pause", nullptr, "PauseWorkflowExecution", Handler::kExecution, A({Action::kPause}), 1, -1, RunFrom::kTop, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/unpause", nullptr, "UnpauseWorkflowExecution", Handler::kExecution, A({Action::kResume}), 1, -1, RunFrom::kTop, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/signal-with-start/{signalName}", nullptr, "SignalWithStartWorkflowExecution", Handler::kSignalWithStart, A({Action::kStart, Action::kSignal}), 1, 2, RunFrom::kNone, "the type in the body is not checked against a running execution: that one (lookup) also needs signal; the response's runId is learnt when it started a run"},
  // Activities of workflows, by task token.
  {"POST", "/api/v1/namespaces/{namespace}/activity-complete", nullptr, "RespondActivityTaskCompleted", Handler::kToken, A({Action::kCompleteStep}), -1, -1, RunFrom::kNone, kTokenNote},
  {"POST", "/api/v1/namespaces/{namespace}/activity-fail", nullptr, "RespondActivityTaskFailed", Handler::kToken, A({Action::kFailStep}), -1, -1, RunFrom::kNone, kTokenNote},
  {"POST", "/api/v1/namespaces/{namespace}/activity-resolve-as-canceled", nullptr, "RespondActivityTaskCanceled", Handler::kToken, A({Action::kFailStep}), -1, -1, RunFrom::kNone, kTokenNote},
  {"POST", "/api/v1/namespaces/{namespace}/activity-heartbeat", nullptr, "RecordActivityTaskHeartbeat", Handler::kToken, A({Action::kWork}), -1, -1, RunFrom::kNone, kTokenNote},
  // Activities by id: the workflow binding and the short one (body workflowId, or standalone).
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/complete", nullptr, "RespondActivityTaskCompletedById", Handler::kActivityById, A({Action::kCompleteStep}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/fail", nullptr, "RespondActivityTaskFailedById", Handler::kActivityById, A({Action::kFailStep}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/resolve-as-canceled", nullptr, "RespondActivityTaskCanceledById", Handler::kActivityById, A({Action::kFailStep}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/heartbeat", nullptr, "RecordActivityTaskHeartbeatById", Handler::kActivityById, A({Action::kWork}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/pause", nullptr, "PauseActivityExecution", Handler::kActivityById, A({Action::kPause}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/unpause", nullptr, "UnpauseActivityExecution", Handler::kActivityById, A({Action::kResume}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/reset", nullptr, "ResetActivityExecution", Handler::kActivityById, A({Action::kRetry}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/workflows/{workflowId}/activities/{activityId}/update-options", nullptr, "UpdateActivityExecutionOptions", Handler::kActivityById, A({Action::kSignal}), 1, 2, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/complete", nullptr, "RespondActivityTaskCompletedById", Handler::kActivityById, A({Action::kCompleteStep}), -1, 1, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/fail", nullptr, "RespondActivityTaskFailedById", Handler::kActivityById, A({Action::kFailStep}), -1, 1, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/resolve-as-canceled", nullptr, "RespondActivityTaskCanceledById", Handler::kActivityById, A({Action::kFailStep}), -1, 1, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/heartbeat", nullptr, "RecordActivityTaskHeartbeatById", Handler::kActivityById, A({Action::kWork}), -1, 1, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/pause", nullptr, "PauseActivityExecution", Handler::kActivityById, A({Action::kPause}), -1, 1, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/unpause", nullptr, "UnpauseActivityExecution", Handler::kActivityById, A({Action::kResume}), -1, 1, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/reset", nullptr, "ResetActivityExecution", Handler::kActivityById, A({Action::kRetry}), -1, 1, RunFrom::kTop, kByIdNote},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/update-options", nullptr, "UpdateActivityExecutionOptions", Handler::kActivityById, A({Action::kSignal}), -1, 1, RunFrom::kTop, kByIdNote},
  // Activities of workflows, deprecated bindings: everything in the body.
  {"POST", "/api/v1/namespaces/{namespace}/activities-deprecated/pause", nullptr, "PauseActivity", Handler::kActivityDeprecated, A({Action::kPause}), -1, -1, RunFrom::kExecution, "body execution.workflowId/runId; step = body id; by type: step \"\""},
  {"POST", "/api/v1/namespaces/{namespace}/activities-deprecated/unpause", nullptr, "UnpauseActivity", Handler::kActivityDeprecated, A({Action::kResume}), -1, -1, RunFrom::kExecution, "body execution.workflowId/runId; step = body id; by type or unpauseAll: step \"\""},
  {"POST", "/api/v1/namespaces/{namespace}/activities-deprecated/reset", nullptr, "ResetActivity", Handler::kActivityDeprecated, A({Action::kRetry}), -1, -1, RunFrom::kExecution, "body execution.workflowId/runId; step = body id; by type or matchAll: step \"\""},
  {"POST", "/api/v1/namespaces/{namespace}/activities-deprecated/update-options", nullptr, "UpdateActivityOptions", Handler::kActivityDeprecated, A({Action::kSignal}), -1, -1, RunFrom::kExecution, "body execution.workflowId/runId; step = body id; by type or matchAll: step \"\""},
  // Standalone activities and Nexus operations.
  {"GET", "/api/v1/namespaces/{namespace}/activities", nullptr, "ListActivityExecutions", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"GET", "/api/v1/namespaces/{namespace}/activity-count", nullptr, "CountActivityExecutions", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}", nullptr, "StartActivityExecution", Handler::kPlain, A({Action::kStart}), -1, -1, RunFrom::kNone, kStandalone},
  {"GET", "/api/v1/namespaces/{namespace}/activities/{activityId}", nullptr, "DescribeActivityExecution", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, kStandalone},
  {"GET", "/api/v1/namespaces/{namespace}/activities/{activityId}/outcome", nullptr, "PollActivityExecution", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, kStandalone},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/cancel", nullptr, "RequestCancelActivityExecution", Handler::kPlain, A({Action::kStop}), -1, -1, RunFrom::kNone, kStandalone},
  {"POST", "/api/v1/namespaces/{namespace}/activities/{activityId}/terminate", nullptr, "TerminateActivityExecution", Handler::kPlain, A({Action::kStop}), -1, -1, RunFrom::kNone, kStandalone},
  {"GET", "/api/v1/namespaces/{namespace}/nexus-operations", nullptr, "ListNexusOperationExecutions", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"GET", "/api/v1/namespaces/{namespace}/nexus-operation-count", nullptr, "CountNexusOperationExecutions", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"POST", "/api/v1/namespaces/{namespace}/nexus-operations/{operationId}", nullptr, "StartNexusOperationExecution", Handler::kPlain, A({Action::kStart}), -1, -1, RunFrom::kNone, kStandalone},
  {"GET", "/api/v1/namespaces/{namespace}/nexus-operations/{operationId}", nullptr, "DescribeNexusOperationExecution", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, kStandalone},
  {"GET", "/api/v1/namespaces/{namespace}/nexus-operations/{operationId}/poll", nullptr, "PollNexusOperationExecution", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, kStandalone},
  {"POST", "/api/v1/namespaces/{namespace}/nexus-operations/{operationId}/cancel", nullptr, "RequestCancelNexusOperationExecution", Handler::kPlain, A({Action::kStop}), -1, -1, RunFrom::kNone, kStandalone},
  {"POST", "/api/v1/namespaces/{namespace}/nexus-operations/{operationId}/terminate", nullptr, "TerminateNexusOperationExecution", Handler::kPlain, A({Action::kStop}), -1, -1, RunFrom::kNone, kStandalone},
  // Schedules.
  {"GET", "/api/v1/namespaces/{namespace}/schedules", nullptr, "ListSchedules", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"GET", "/api/v1/namespaces/{namespace}/schedule-count", nullptr, "CountSchedules", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, kVisibility},
  {"POST", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}", nullptr, "CreateSchedule", Handler::kScheduleCreate, A({Action::kStart, Action::kDefine}), 1, -1, RunFrom::kNone, "a schedule is a standing start; the schedule's type is learnt"},
  {"GET", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}", nullptr, "DescribeSchedule", Handler::kSchedule, A({Action::kRead}), 1, -1, RunFrom::kNone, "the lookup call itself"},
  {"GET", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}/matching-times", nullptr, "ListScheduleMatchingTimes", Handler::kSchedule, A({Action::kList}), 1, -1, RunFrom::kNone, ""},
  {"DELETE", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}", nullptr, "DeleteSchedule", Handler::kSchedule, A({Action::kUndefine}), 1, -1, RunFrom::kNone, "runs already started are not affected"},
  {"POST", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}/update", nullptr, "UpdateSchedule", Handler::kScheduleUpdate, A({Action::kDefine}), 1, -1, RunFrom::kNone, "define on the new type (body) and, when it differs, on the old one (lookup)"},
  {"POST", "/api/v1/namespaces/{namespace}/schedules/{scheduleId}/patch", nullptr, "PatchSchedule", Handler::kSchedulePatch, A({Action::kStart, Action::kPause, Action::kResume}), 1, -1, RunFrom::kNone, "body patch: triggerImmediately/backfillRequest = start, pause = pause, unpause = resume; an empty patch is unclassified"},
  // Batch operations.
  {"GET", "/api/v1/namespaces/{namespace}/batch-operations", nullptr, "ListBatchOperations", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/batch-operations/{jobId}", nullptr, "DescribeBatchOperation", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, "the job's targets are unknown: workflow \"\""},
  {"POST", "/api/v1/namespaces/{namespace}/batch-operations/{jobId}", nullptr, "StartBatchOperation", Handler::kBatch, A({Action::kStop, Action::kSignal, Action::kRerun, Action::kRetry, Action::kResume, Action::kAdmin}), -1, -1, RunFrom::kNone, "BULK over a visibility query or a list: widened to workflow \"\"; actions by the operation set: termination/cancellation/cancel-/terminate-activities = stop, signal/update-options/update-activity-options = signal, reset = rerun, reset-activities = retry, unpause-activities = resume, deletion/delete-activities = stop,admin"},
  {"POST", "/api/v1/namespaces/{namespace}/batch-operations/{jobId}/stop", nullptr, "StopBatchOperation", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, "the job's targets are unknown: workflow \"\""},
  // Workflow rules.
  {"GET", "/api/v1/namespaces/{namespace}/workflow-rules", nullptr, "ListWorkflowRules", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workflow-rules", nullptr, "CreateWorkflowRule", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, "applies to every execution its visibility query matches, now and later: workflow \"\""},
  {"GET", "/api/v1/namespaces/{namespace}/workflow-rules/{ruleId}", nullptr, "DescribeWorkflowRule", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"DELETE", "/api/v1/namespaces/{namespace}/workflow-rules/{ruleId}", nullptr, "DeleteWorkflowRule", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, ""},
  // Task queues, workers, deployments.
  {"GET", "/api/v1/namespaces/{namespace}/task-queues/{taskQueue.name}", nullptr, "DescribeTaskQueue", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"POST", "/api/v1/namespaces/{namespace}/task-queues/{taskQueue}/update-config", nullptr, "UpdateTaskQueueConfig", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, "rate limits, fairness"},
  {"GET", "/api/v1/namespaces/{namespace}/task-queues/{taskQueue}/worker-build-id-compatibility", nullptr, "GetWorkerBuildIdCompatibility", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/task-queues/{taskQueue}/worker-versioning-rules", nullptr, "GetWorkerVersioningRules", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/worker-task-reachability", nullptr, "GetWorkerTaskReachability", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/workers", nullptr, "ListWorkers", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/worker-count", nullptr, "CountWorkers", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/workers/describe/{workerInstanceKey}", nullptr, "DescribeWorker", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"POST", "/api/v1/namespaces/{namespace}/workers/heartbeat", nullptr, "RecordWorkerHeartbeat", Handler::kPlain, A({Action::kWork}), -1, -1, RunFrom::kNone, "worker protocol"},
  {"POST", "/api/v1/namespaces/{namespace}/workers/fetch-config", nullptr, "FetchWorkerConfig", Handler::kPlain, A({Action::kWork}), -1, -1, RunFrom::kNone, "worker protocol"},
  {"POST", "/api/v1/namespaces/{namespace}/workers/update-config", nullptr, "UpdateWorkerConfig", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, "pushes config to running workers"},
  {"GET", "/api/v1/namespaces/{namespace}/deployments", nullptr, "ListDeployments", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/deployments/{deployment.seriesName}/{deployment.buildId}", nullptr, "DescribeDeployment", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/deployments/{deployment.seriesName}/{deployment.buildId}/reachability", nullptr, "GetDeploymentReachability", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/current-deployment/{seriesName}", nullptr, "GetCurrentDeployment", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"POST", "/api/v1/namespaces/{namespace}/current-deployment/{deployment.seriesName}", nullptr, "SetCurrentDeployment", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"GET", "/api/v1/namespaces/{namespace}/worker-deployments", nullptr, "ListWorkerDeployments", Handler::kPlain, A({Action::kList}), -1, -1, RunFrom::kNone, ""},
  {"GET", "/api/v1/namespaces/{namespace}/worker-deployments/{deploymentName}", nullptr, "DescribeWorkerDeployment", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployments/{deploymentName}", nullptr, "CreateWorkerDeployment", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"DELETE", "/api/v1/namespaces/{namespace}/worker-deployments/{deploymentName}", nullptr, "DeleteWorkerDeployment", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployments/{deploymentName}/set-current-version", nullptr, "SetWorkerDeploymentCurrentVersion", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployments/{deploymentName}/set-ramping-version", nullptr, "SetWorkerDeploymentRampingVersion", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployments/{deploymentName}/set-manager", nullptr, "SetWorkerDeploymentManager", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployment-versions/{deploymentVersion.deploymentName}", nullptr, "CreateWorkerDeploymentVersion", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"GET", "/api/v1/namespaces/{namespace}/worker-deployment-versions/{deploymentVersion.deploymentName}/{deploymentVersion.buildId}", nullptr, "DescribeWorkerDeploymentVersion", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"DELETE", "/api/v1/namespaces/{namespace}/worker-deployment-versions/{deploymentVersion.deploymentName}/{deploymentVersion.buildId}", nullptr, "DeleteWorkerDeploymentVersion", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployment-versions/{deploymentVersion.deploymentName}/{deploymentVersion.buildId}/update-compute-config", nullptr, "UpdateWorkerDeploymentVersionComputeConfig", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployment-versions/{deploymentVersion.deploymentName}/{deploymentVersion.buildId}/validate-compute-config", nullptr, "ValidateWorkerDeploymentVersionComputeConfig", Handler::kPlain, A({Action::kRead}), -1, -1, RunFrom::kNone, ""},
  {"POST", "/api/v1/namespaces/{namespace}/worker-deployment-versions/{deploymentVersion.deploymentName}/{deploymentVersion.buildId}/update-metadata", nullptr, "UpdateWorkerDeploymentVersionMetadata", Handler::kPlain, A({Action::kAdmin}), -1, -1, RunFrom::kNone, kDeploy},
};
// clang-format on

// RPCs without an HTTP binding (gRPC only), and what else the frontend serves.
constexpr const char* kGrpcOnly[] = {
    "/temporal.api.workflowservice.v1.WorkflowService/DeprecateNamespace",
    "/temporal.api.workflowservice.v1.WorkflowService/ExecuteMultiOperation",
    "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue",
    "/temporal.api.workflowservice.v1.WorkflowService/RespondWorkflowTaskCompleted",
    "/temporal.api.workflowservice.v1.WorkflowService/RespondWorkflowTaskFailed",
    "/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue",
    "/temporal.api.workflowservice.v1.WorkflowService/DeleteWorkflowExecution",
    "/temporal.api.workflowservice.v1.WorkflowService/ListOpenWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ListClosedWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/ScanWorkflowExecutions",
    "/temporal.api.workflowservice.v1.WorkflowService/GetSearchAttributes",
    "/temporal.api.workflowservice.v1.WorkflowService/RespondQueryTaskCompleted",
    "/temporal.api.workflowservice.v1.WorkflowService/ResetStickyTaskQueue",
    "/temporal.api.workflowservice.v1.WorkflowService/ShutdownWorker",
    "/temporal.api.workflowservice.v1.WorkflowService/ListTaskQueuePartitions",
    "/temporal.api.workflowservice.v1.WorkflowService/UpdateWorkerBuildIdCompatibility",
    "/temporal.api.workflowservice.v1.WorkflowService/UpdateWorkerVersioningRules",
    "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowExecutionUpdate",
    "/temporal.api.workflowservice.v1.WorkflowService/PollNexusTaskQueue",
    "/temporal.api.workflowservice.v1.WorkflowService/RespondNexusTaskCompleted",
    "/temporal.api.workflowservice.v1.WorkflowService/RespondNexusTaskFailed",
    "/temporal.api.workflowservice.v1.WorkflowService/DeleteActivityExecution",
    "/temporal.api.workflowservice.v1.WorkflowService/DeleteNexusOperationExecution",
    "/temporal.api.operatorservice.v1.OperatorService/AddSearchAttributes",
    "/temporal.api.operatorservice.v1.OperatorService/RemoveSearchAttributes",
    "/temporal.api.operatorservice.v1.OperatorService/DeleteNamespace",
    "/temporal.api.operatorservice.v1.OperatorService/AddOrUpdateRemoteCluster",
    "/temporal.api.operatorservice.v1.OperatorService/RemoveRemoteCluster",
    "/temporal.api.operatorservice.v1.OperatorService/ListClusters",
};

struct OtherRoute {
  const char* method;
  const char* path;
  const char* name;
  const char* notes;
};
constexpr OtherRoute kOther[] = {
    {"POST", "/temporal.server.api.adminservice.v1.AdminService/{method}", "AdminService",
     "server-internal admin API on the frontend port (gRPC only); denied"},
    {"POST", "/grpc.health.v1.Health/Check", "Health", "gRPC only; denied"},
    {"POST", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "ServerReflection",
     "gRPC only; exposes the schema; denied"},
    {"POST", "/namespaces/{namespace}/task-queues/{taskQueue}/nexus-services/{service}/{op...}",
     "Nexus DispatchByNamespaceAndTaskQueue",
     "Nexus over HTTP (experimental): not covered; denied"},
    {"POST", "/nexus/endpoints/{endpoint}/services/{service}/{op...}", "Nexus DispatchByEndpoint",
     "Nexus over HTTP (experimental): not covered; denied"},
    {"POST", "/namespaces/{namespace}/nexus/callback", "Nexus CompleteNexusOperation",
     "callback token in headers: not covered; denied"},
    {"POST", "/nexus/callback", "Nexus CompleteNexusOperation",
     "callback token in headers: not covered; denied"},
    {"GET", "/swagger.json", "OpenAPI", "not an API operation; denied"},
    {"GET", "/openapi.yaml", "OpenAPI", "not an API operation; denied"},
};

constexpr size_t kMaxInputs = 16;

// The name of the `index`th variable of a template ("execution.workflowId").
std::string_view varName(std::string_view tmpl, int index) {
  int n = -1;
  size_t i = 0;
  while ((i = tmpl.find('{', i)) != std::string_view::npos) {
    const size_t end = tmpl.find('}', i);
    if (end == std::string_view::npos)
      break;
    if (++n == index)
      return tmpl.substr(i + 1, end - i - 1);
    i = end;
  }
  return {};
}

// The member of `obj` spelt `json_name` or `proto_name` (protojson accepts both). Null counts
// as absent. Sets `bad` when `obj` is not an object or both spellings are present.
const JsonValue* member(const JsonValue* obj, std::string_view json_name,
                        std::string_view proto_name, bool& bad) {
  if (obj == nullptr)
    return nullptr;
  if (!obj->isObject()) {
    bad = true;
    return nullptr;
  }
  const JsonValue* a = obj->find(json_name);
  const JsonValue* b = proto_name == json_name ? nullptr : obj->find(proto_name);
  if (a != nullptr && b != nullptr) {
    bad = true;
    return nullptr;
  }
  const JsonValue* v = a != nullptr ? a : b;
  return v != nullptr && v->isNull() ? nullptr : v;
}

// A path of members, each as {json name, proto name}.
const JsonValue* walk(const JsonValue* obj,
                      std::initializer_list<std::pair<std::string_view, std::string_view>> path,
                      bool& bad) {
  for (const auto& [json_name, proto_name] : path) {
    obj = member(obj, json_name, proto_name, bad);
    if (obj == nullptr)
      return nullptr;
  }
  return obj;
}

// A string field: "" when absent; `bad` when it is not a string.
std::string_view text(const JsonValue* v, bool& bad) {
  if (v == nullptr)
    return {};
  if (!v->isString()) {
    bad = true;
    return {};
  }
  return v->asString();
}

// An enum field by name or number: the number, 0 when absent; `bad` for an unknown name.
int64_t enumValue(const JsonValue* v, std::span<const std::string_view> names, bool& bad) {
  if (v == nullptr)
    return 0;
  if (v->isInt())
    return v->asInt();
  if (v->isString()) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (v->asString() == names[i])
        return static_cast<int64_t>(i);
    }
  }
  bad = true;
  return 0;
}

constexpr std::string_view kConflictPolicies[] = {
    "WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED", "WORKFLOW_ID_CONFLICT_POLICY_FAIL",
    "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING", "WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING"};
constexpr std::string_view kReusePolicies[] = {
    "WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED", "WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE",
    "WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY",
    "WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE", "WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING"};
constexpr int64_t kUseExisting = 2, kTerminateExisting = 3, kTerminateIfRunning = 4;

// The batch operations (the request's `operation` oneof) and what each does.
struct BatchOp {
  std::string_view json_name;
  std::string_view proto_name;
  ActionSet actions;
};
const BatchOp kBatchOps[] = {
    {"terminationOperation", "termination_operation", A({Action::kStop})},
    {"signalOperation", "signal_operation", A({Action::kSignal})},
    {"cancellationOperation", "cancellation_operation", A({Action::kStop})},
    {"deletionOperation", "deletion_operation", A({Action::kStop, Action::kAdmin})},
    {"resetOperation", "reset_operation", A({Action::kRerun})},
    {"updateWorkflowOptionsOperation", "update_workflow_options_operation", A({Action::kSignal})},
    {"unpauseActivitiesOperation", "unpause_activities_operation", A({Action::kResume})},
    {"resetActivitiesOperation", "reset_activities_operation", A({Action::kRetry})},
    {"updateActivityOptionsOperation", "update_activity_options_operation", A({Action::kSignal})},
    {"cancelActivitiesOperation", "cancel_activities_operation", A({Action::kStop})},
    {"terminateActivitiesOperation", "terminate_activities_operation", A({Action::kStop})},
    {"deleteActivitiesOperation", "delete_activities_operation",
     A({Action::kStop, Action::kAdmin})},
};

bool isBlank(std::string_view s) {
  for (const char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
      return false;
  }
  return true;
}

const JsonValue& emptyObject() {
  static const JsonValue kEmpty{JsonValue::Object{}};
  return kEmpty;
}

// An id the server's router would read as the one segment it is: not empty, no '/' (the
// gateway decodes %2F before routing), not a dot segment.
bool segmentSafe(std::string_view id) {
  return !id.empty() && id != "." && id != ".." && id.find('/') == std::string_view::npos;
}

class TemporalProfile final : public Profile {
 public:
  explicit TemporalProfile(std::string upstream) : upstream_(std::move(upstream)) {
    for (size_t i = 0; i < std::size(kRows); ++i) {
      const Row& r = kRows[i];
      addBinding(r.method, r.path, i);
      std::string alt = r.alt != nullptr ? std::string(r.alt) : std::string(r.path).substr(7);
      addBinding(r.method, alt, i);
    }
  }

  using Profile::classify;
  void classify(const RequestView& req, Classification& out) const override;
  bool lookupCall(const LookupKey& key, LookupCall& out) const override;
  bool parseLookup(const LookupKey& key, int status, std::string_view body,
                   LookupResult& out) const override;
  void learn(const RequestView& req, const Classification& c, int status, std::string_view body,
             std::vector<Learned>& out) const override;
  std::vector<OperationInfo> operations() const override;

 private:
  struct Binding {
    size_t row;
    bool has_namespace;  // the first variable is {namespace}
    std::string path;
  };

  // One request being classified.
  struct Call {
    const RequestView& req;
    Classification& out;
    const Row& row;
    std::array<std::string, RouteTable::kMaxCaptures> vars;
    std::string ns;
    std::string_view var(int i) const {
      return i >= 0 ? std::string_view(vars[static_cast<size_t>(i)]) : std::string_view();
    }
  };

  void addBinding(std::string_view method, std::string path, size_t row) {
    routes_.add(method, path);
    const bool ns = path.find("{namespace}") != std::string::npos;
    bindings_.push_back({row, ns, std::move(path)});
  }

  // Decodes the captured path variables; false (unclassified) on a bad escape.
  bool captures(const RouteTable::Match& m, const Binding& b, Call& c) const;

  static const JsonValue* body(Call& c);
  static const LookupResult* need(Call& c, LookupKey key);
  static bool finishLookups(Call& c);
  static void classified(Call& c) {
    c.out.outcome = Outcome::kClassified;
    c.out.why = {};
  }
  static void addInputs(const JsonValue& body, policy::Operation& op);
  static void resolveExecution(Call& c, std::string_view wid, std::string_view rid,
                               std::string_view step, ActionSet actions);

  void execution(Call& c) const;
  void start(Call& c, bool signal_with_start) const;
  void token(Call& c) const;
  void activityById(Call& c) const;
  void activityDeprecated(Call& c) const;
  void schedule(Call& c) const;
  void batch(Call& c) const;

  std::string upstream_;
  RouteTable routes_;
  std::vector<Binding> bindings_;
};

bool TemporalProfile::captures(const RouteTable::Match& m, const Binding& b, Call& c) const {
  for (size_t i = 0; i < m.var_count; ++i) {
    if (!percentDecode(m.vars[i], false, c.vars[i]) || c.vars[i].empty()) {
      c.out.unclassified("a path variable is not validly percent-encoded");
      return false;
    }
  }
  if (b.has_namespace)
    c.ns = c.vars[0];
  return true;
}

// The parsed body ({} for an empty one: the gateway accepts that), or nullptr with the outcome
// set (kNeedsBody on the first call, unclassified when it is not a JSON object).
const JsonValue* TemporalProfile::body(Call& c) {
  if (!c.req.body_read) {
    c.out.outcome = Outcome::kNeedsBody;
    return nullptr;
  }
  if (c.req.json != nullptr && c.req.json->isObject())
    return c.req.json;
  if (c.req.json == nullptr && isBlank(c.req.body))
    return &emptyObject();
  c.out.unclassified("the body is not a JSON object");
  return nullptr;
}

// The answer for `key`, or nullptr after adding it to the lookups to make.
const LookupResult* TemporalProfile::need(Call& c, LookupKey key) {
  if (const LookupResult* r = c.req.lookup(key))
    return r;
  c.out.lookups.push_back(std::move(key));
  return nullptr;
}

// True when lookups are still missing (the outcome is then kNeedsLookup).
bool TemporalProfile::finishLookups(Call& c) {
  if (c.out.lookups.empty())
    return false;
  c.out.outcome = Outcome::kNeedsLookup;
  return true;
}

void TemporalProfile::addInputs(const JsonValue& body, policy::Operation& op) {
  for (const JsonMember& m : body.asObject()) {
    if (op.input.size() == kMaxInputs)
      return;
    if (!m.value.isString() && !m.value.isNumber())
      continue;
    std::string ptr = "/";
    appendPointerToken(ptr, m.name);
    if (m.value.isString()) {
      op.input.push_back(policy::InputField::ofString(std::move(ptr), m.value.asString()));
    } else {
      const double v = m.value.isInt() ? static_cast<double>(m.value.asInt()) : m.value.asDouble();
      op.input.push_back(policy::InputField::ofNumber(std::move(ptr), v));
    }
  }
}

// Classifies a call on the execution (namespace, wid, rid) through the kExecution lookup.
void TemporalProfile::resolveExecution(Call& c, std::string_view wid, std::string_view rid,
                                       std::string_view step, ActionSet actions) {
  const LookupResult* r = need(c, LookupKey{kExecution, c.ns, std::string(wid), std::string(rid)});
  if (finishLookups(c))
    return;
  policy::Operation& op = c.out.op;
  op.actions = actions;
  op.step.assign(step);
  if (r->found && !r->workflow.empty()) {
    op.workflow = r->workflow;
    op.execution = !r->execution.empty() ? r->execution : std::string(rid.empty() ? wid : rid);
  } else {
    op.workflow.clear();  // unresolved
    op.execution.assign(rid.empty() ? wid : rid);
  }
  classified(c);
}

void TemporalProfile::execution(Call& c) const {
  const Row& row = c.row;
  bool bad = false;
  std::string rid;
  ActionSet actions = row.actions;
  if (row.run == RunFrom::kQuery) {
    QueryParams q;
    if (!q.parse(c.req.query)) {
      c.out.unclassified("malformed query string");
      return;
    }
    const size_t n = q.count("execution.runId") + q.count("execution.run_id");
    if (n > 1) {
      c.out.unclassified("the run id is given more than once");
      return;
    }
    if (const std::string* v = q.get("execution.runId"))
      rid = *v;
    if (const std::string* v = q.get("execution.run_id"))
      rid = *v;
  } else {
    const JsonValue* b = body(c);
    if (b == nullptr)
      return;
    const JsonValue* ex = row.run == RunFrom::kWorkflowExecution
                              ? member(b, "workflowExecution", "workflow_execution", bad)
                          : row.run == RunFrom::kExecution
                              ? member(b, "execution", "execution", bad)
                              : b;
    rid = text(member(ex, "runId", "run_id", bad), bad);
    if (std::string_view(row.name) == "ResetWorkflowExecution") {
      const JsonValue* post = member(b, "postResetOperations", "post_reset_operations", bad);
      if (post != nullptr && (!post->isArray() || !post->asArray().empty())) {
        actions.add(Action::kSignal);
      }
    }
    if (bad) {
      c.out.unclassified("ambiguous or mistyped field in the body");
      return;
    }
    addInputs(*b, c.out.op);
  }
  resolveExecution(c, c.var(row.id_var), rid, c.var(row.step_var), actions);
}

void TemporalProfile::start(Call& c, bool signal_with_start) const {
  const JsonValue* b = body(c);
  if (b == nullptr)
    return;
  bool bad = false;
  const std::string_view type =
      text(walk(b, {{"workflowType", "workflow_type"}, {"name", "name"}}, bad), bad);
  const int64_t conflict =
      enumValue(member(b, "workflowIdConflictPolicy", "workflow_id_conflict_policy", bad),
                kConflictPolicies, bad);
  const int64_t reuse = enumValue(
      member(b, "workflowIdReusePolicy", "workflow_id_reuse_policy", bad), kReusePolicies, bad);
  const bool attach = member(b, "onConflictOptions", "on_conflict_options", bad) != nullptr;
  if (bad) {
    c.out.unclassified("ambiguous or mistyped field in the body");
    return;
  }
  if (type.empty()) {
    c.out.unclassified("no workflowType.name in the body");
    return;
  }
  const std::string_view wid = c.var(c.row.id_var);
  const bool terminates = conflict == kTerminateExisting || reuse == kTerminateIfRunning;
  const bool reuses = conflict == kUseExisting;
  // What runs under the id now, when the call may act on it.
  ActionSet on_existing;
  if (signal_with_start)
    on_existing.add(Action::kSignal);
  if (terminates)
    on_existing.add(Action::kStop);
  if (reuses) {
    on_existing.add(Action::kRead);
    if (attach)
      on_existing.add(Action::kSignal);
  }
  const LookupResult* current = nullptr;
  if (!on_existing.empty()) {
    current = need(c, LookupKey{kCurrentRun, c.ns, std::string(wid), {}});
    if (finishLookups(c))
      return;
  }
  policy::Operation& op = c.out.op;
  op.actions = c.row.actions;
  op.workflow.assign(type);
  op.execution.assign(wid);
  op.step.assign(c.var(c.row.step_var));
  addInputs(*b, op);
  if (current != nullptr && !current->found) {
    op.workflow.clear();  // could not tell what runs there: unresolved
  } else if (current != nullptr && !current->workflow.empty()) {
    policy::Operation other;
    other.upstream = op.upstream;
    other.namespace_name = op.namespace_name;
    other.workflow = current->workflow;
    other.execution = current->execution.empty() ? std::string(wid) : current->execution;
    other.step = op.step;
    other.actions = on_existing;
    c.out.also.push_back(std::move(other));
  }
  c.out.learn_response = true;
  classified(c);
}

void TemporalProfile::token(Call& c) const {
  const JsonValue* b = body(c);
  if (b == nullptr)
    return;
  bool bad = false;
  const std::string_view encoded = text(member(b, "taskToken", "task_token", bad), bad);
  if (bad) {
    c.out.unclassified("ambiguous or mistyped taskToken");
    return;
  }
  std::string raw;
  TaskToken t;
  if (encoded.empty() || !decodeBase64(encoded, kMaxTokenBytes, raw) || !decodeTaskToken(raw, t)) {
    c.out.unclassified("taskToken is not a Temporal activity task token");
    return;
  }
  if (t.namespace_id.empty() || t.workflow_id.empty() || t.run_id.empty()) {
    c.out.unclassified("the task token names no workflow execution (standalone activity?)");
    return;
  }
  const LookupResult* ns = need(c, LookupKey{kNamespace, {}, c.ns, {}});
  const LookupResult* ex = need(c, LookupKey{kExecution, c.ns, t.workflow_id, t.run_id});
  if (finishLookups(c))
    return;
  policy::Operation& op = c.out.op;
  op.actions = c.row.actions;
  op.execution = t.run_id;
  if (ns->found && ns->execution != t.namespace_id) {
    c.out.unclassified("the task token belongs to another namespace");
    return;
  }
  if (ns->found && ex->found) {
    op.workflow = ex->workflow;  // empty: unresolved
    if (t.scheduled_event_id == 0)
      op.step = t.activity_id;
  }
  classified(c);
}

void TemporalProfile::activityById(Call& c) const {
  const JsonValue* b = body(c);
  if (b == nullptr)
    return;
  bool bad = false;
  std::string_view wid = c.var(c.row.id_var);
  if (c.row.id_var < 0)
    wid = text(member(b, "workflowId", "workflow_id", bad), bad);
  const std::string_view rid = text(member(b, "runId", "run_id", bad), bad);
  if (bad) {
    c.out.unclassified("ambiguous or mistyped field in the body");
    return;
  }
  if (wid.empty()) {  // a standalone activity: widened
    c.out.op.actions = c.row.actions;
    classified(c);
    return;
  }
  resolveExecution(c, wid, rid, c.var(c.row.step_var), c.row.actions);
}

void TemporalProfile::activityDeprecated(Call& c) const {
  const JsonValue* b = body(c);
  if (b == nullptr)
    return;
  bool bad = false;
  const JsonValue* ex = member(b, "execution", "execution", bad);
  const std::string_view wid = text(member(ex, "workflowId", "workflow_id", bad), bad);
  const std::string_view rid = text(member(ex, "runId", "run_id", bad), bad);
  const JsonValue* id = member(b, "id", "id", bad);
  const std::string_view step = text(id, bad);
  // The other members of the `activity` oneof select activities by type or all of them.
  int selectors = id != nullptr ? 1 : 0;
  if (member(b, "type", "type", bad) != nullptr)
    ++selectors;
  if (member(b, "matchAll", "match_all", bad) != nullptr)
    ++selectors;
  if (member(b, "unpauseAll", "unpause_all", bad) != nullptr)
    ++selectors;
  if (bad || selectors > 1) {
    c.out.unclassified("ambiguous or mistyped field in the body");
    return;
  }
  if (wid.empty()) {
    c.out.unclassified("no execution.workflowId in the body");
    return;
  }
  resolveExecution(c, wid, rid, step, c.row.actions);
}

void TemporalProfile::schedule(Call& c) const {
  const Handler h = c.row.handler;
  const std::string_view sid = c.var(c.row.id_var);
  const JsonValue* b = nullptr;
  bool bad = false;
  std::string_view new_type;
  ActionSet actions = c.row.actions;
  if (h != Handler::kSchedule) {
    b = body(c);
    if (b == nullptr)
      return;
  }
  if (h == Handler::kScheduleCreate || h == Handler::kScheduleUpdate) {
    new_type = text(walk(b,
                         {{"schedule", "schedule"},
                          {"action", "action"},
                          {"startWorkflow", "start_workflow"},
                          {"workflowType", "workflow_type"},
                          {"name", "name"}},
                         bad),
                    bad);
    if (!bad && new_type.empty()) {
      c.out.unclassified("no schedule.action.startWorkflow.workflowType.name in the body");
      return;
    }
  } else if (h == Handler::kSchedulePatch) {
    actions = {};
    const JsonValue* patch = member(b, "patch", "patch", bad);
    if (member(patch, "triggerImmediately", "trigger_immediately", bad) != nullptr) {
      actions.add(Action::kStart);
    }
    const JsonValue* backfill = member(patch, "backfillRequest", "backfill_request", bad);
    if (backfill != nullptr && (!backfill->isArray() || !backfill->asArray().empty())) {
      actions.add(Action::kStart);
    }
    if (!text(member(patch, "pause", "pause", bad), bad).empty())
      actions.add(Action::kPause);
    if (!text(member(patch, "unpause", "unpause", bad), bad).empty()) {
      actions.add(Action::kResume);
    }
    if (!bad && actions.empty()) {
      c.out.unclassified("PatchSchedule with an empty patch");
      return;
    }
  }
  if (bad) {
    c.out.unclassified("ambiguous or mistyped field in the body");
    return;
  }
  policy::Operation& op = c.out.op;
  if (h == Handler::kScheduleCreate) {
    op.actions = actions;
    op.workflow.assign(new_type);
    addInputs(*b, op);
    c.out.learn_response = true;
    classified(c);
    return;
  }
  const LookupResult* r = need(c, LookupKey{kSchedule, c.ns, std::string(sid), {}});
  if (finishLookups(c))
    return;
  op.actions = actions;
  if (!r->found || r->workflow.empty()) {
    op.execution.assign(sid);  // unresolved
    classified(c);
    return;
  }
  if (h == Handler::kScheduleUpdate) {
    op.workflow.assign(new_type);
    if (r->workflow != new_type) {
      policy::Operation old = op;
      old.workflow = r->workflow;
      c.out.also.push_back(std::move(old));
    }
    c.out.learn_response = true;
  } else {
    op.workflow = r->workflow;
  }
  classified(c);
}

void TemporalProfile::batch(Call& c) const {
  const JsonValue* b = body(c);
  if (b == nullptr)
    return;
  bool bad = false;
  int set = 0;
  ActionSet actions;
  for (const BatchOp& o : kBatchOps) {
    if (member(b, o.json_name, o.proto_name, bad) != nullptr) {
      ++set;
      actions = o.actions;
    }
  }
  if (bad || set != 1) {
    c.out.unclassified("a batch operation must set exactly one operation");
    return;
  }
  c.out.op.actions = actions;  // widened: workflow "", the targets are not enumerated
  classified(c);
}

void TemporalProfile::classify(const RequestView& req, Classification& out) const {
  out.reset(upstream_);
  const RouteTable::Match m = routes_.match(req.method, req.path);
  if (!m) {
    out.unclassified("not an operation of the Temporal HTTP API");
    return;
  }
  const Binding& binding = bindings_[static_cast<size_t>(m.route)];
  const Row& row = kRows[binding.row];
  Call c{req, out, row, {}, {}};
  if (!captures(m, binding, c))
    return;
  out.op.namespace_name = c.ns;
  switch (row.handler) {
    case Handler::kPlain:
      out.op.actions = row.actions;
      classified(c);
      return;
    case Handler::kDescribeNamespace: {
      QueryParams q;
      if (!q.parse(req.query)) {
        out.unclassified("malformed query string");
        return;
      }
      const std::string* id = q.get("id");
      if (id != nullptr && !id->empty()) {
        out.unclassified("DescribeNamespace by id: the namespace is not the path's");
        return;
      }
      out.op.actions = row.actions;
      classified(c);
      return;
    }
    case Handler::kRegisterNamespace: {
      const JsonValue* b = body(c);
      if (b == nullptr)
        return;
      bool bad = false;
      const std::string_view ns = text(member(b, "namespace", "namespace", bad), bad);
      if (bad || ns.empty()) {
        out.unclassified("no namespace in the body");
        return;
      }
      out.op.namespace_name.assign(ns);
      out.op.actions = row.actions;
      classified(c);
      return;
    }
    case Handler::kExecution:
      execution(c);
      return;
    case Handler::kStart:
      start(c, false);
      return;
    case Handler::kSignalWithStart:
      start(c, true);
      return;
    case Handler::kToken:
      token(c);
      return;
    case Handler::kActivityById:
      activityById(c);
      return;
    case Handler::kActivityDeprecated:
      activityDeprecated(c);
      return;
    case Handler::kScheduleCreate:
    case Handler::kSchedule:
    case Handler::kScheduleUpdate:
    case Handler::kSchedulePatch:
      schedule(c);
      return;
    case Handler::kBatch:
      batch(c);
      return;
  }
  out.unclassified("not an operation of the Temporal HTTP API");
}

bool TemporalProfile::lookupCall(const LookupKey& key, LookupCall& out) const {
  out = LookupCall{};
  out.method = "GET";
  std::string& t = out.target;
  switch (key.kind) {
    case kExecution:
    case kCurrentRun:
      if (!segmentSafe(key.scope) || !segmentSafe(key.id))
        return false;
      if (key.kind == kCurrentRun && !key.id2.empty())
        return false;
      t = "/api/v1/namespaces/";
      appendPercentEncoded(t, key.scope);
      t += "/workflows/";
      appendPercentEncoded(t, key.id);
      if (!key.id2.empty()) {
        t += "?execution.runId=";
        appendPercentEncoded(t, key.id2);
      }
      return true;
    case kSchedule:
      if (!segmentSafe(key.scope) || !segmentSafe(key.id))
        return false;
      t = "/api/v1/namespaces/";
      appendPercentEncoded(t, key.scope);
      t += "/schedules/";
      appendPercentEncoded(t, key.id);
      return true;
    case kNamespace:
      if (!segmentSafe(key.id))
        return false;
      t = "/api/v1/namespaces/";
      appendPercentEncoded(t, key.id);
      return true;
    default:
      return false;
  }
}

bool TemporalProfile::parseLookup(const LookupKey& key, int status, std::string_view body,
                                  LookupResult& out) const {
  out = LookupResult{};
  if (status == 404) {
    if (key.kind == kCurrentRun)
      out.found = true;  // nothing runs under that id
    return key.kind >= kExecution && key.kind <= kNamespace;
  }
  if (status != 200)
    return false;
  JsonLimits limits;
  limits.max_bytes = 16u << 20;
  limits.max_depth = 64;
  auto parsed = parseJson(body, limits);
  if (!parsed.isOk() || !parsed->isObject())
    return false;
  const JsonValue* doc = &*parsed;
  bool bad = false;
  switch (key.kind) {
    case kExecution:
    case kCurrentRun: {
      const JsonValue* info = member(doc, "workflowExecutionInfo", "workflow_execution_info", bad);
      const std::string_view type =
          text(walk(info, {{"type", "type"}, {"name", "name"}}, bad), bad);
      const std::string_view run =
          text(walk(info, {{"execution", "execution"}, {"runId", "run_id"}}, bad), bad);
      if (bad || type.empty() || run.empty())
        return false;
      if (!key.id2.empty() && run != key.id2)
        return false;
      out.found = true;
      out.execution.assign(run);
      if (key.kind == kCurrentRun) {
        const JsonValue* st = member(info, "status", "status", bad);
        const bool running =
            st != nullptr &&
            ((st->isString() && st->asString() == "WORKFLOW_EXECUTION_STATUS_RUNNING") ||
             (st->isInt() && st->asInt() == 1));
        if (!running)
          return true;  // closed: nothing runs under that id
      }
      out.workflow.assign(type);
      return true;
    }
    case kSchedule: {
      const std::string_view type = text(walk(doc,
                                              {{"schedule", "schedule"},
                                               {"action", "action"},
                                               {"startWorkflow", "start_workflow"},
                                               {"workflowType", "workflow_type"},
                                               {"name", "name"}},
                                              bad),
                                         bad);
      if (bad || type.empty())
        return false;
      out.found = true;
      out.workflow.assign(type);
      return true;
    }
    case kNamespace: {
      const JsonValue* info = member(doc, "namespaceInfo", "namespace_info", bad);
      const std::string_view id = text(member(info, "id", "id", bad), bad);
      const std::string_view name = text(member(info, "name", "name", bad), bad);
      if (bad || id.empty() || name != key.id)
        return false;
      out.found = true;
      out.execution.assign(id);
      return true;
    }
    default:
      return false;
  }
}

void TemporalProfile::learn(const RequestView& req, const Classification& c, int status,
                            std::string_view body, std::vector<Learned>& out) const {
  if (status != 200 || !c.classified() || c.op.workflow.empty())
    return;
  const RouteTable::Match m = routes_.match(req.method, req.path);
  if (!m)
    return;
  const Binding& binding = bindings_[static_cast<size_t>(m.route)];
  const Row& row = kRows[binding.row];
  std::string ns, id;
  if (!binding.has_namespace || row.id_var < 0 || !percentDecode(m.vars[0], false, ns) ||
      !percentDecode(m.vars[static_cast<size_t>(row.id_var)], false, id)) {
    return;
  }
  if (row.handler == Handler::kScheduleCreate || row.handler == Handler::kScheduleUpdate) {
    Learned l;
    l.key = LookupKey{kSchedule, ns, id, {}};
    l.result.found = true;
    l.result.workflow = c.op.workflow;
    out.push_back(std::move(l));
    return;
  }
  if (row.handler != Handler::kStart && row.handler != Handler::kSignalWithStart)
    return;
  auto parsed = parseJson(body);
  if (!parsed.isOk())
    return;
  bool bad = false;
  const std::string_view run = text(member(&*parsed, "runId", "run_id", bad), bad);
  const JsonValue* started = member(&*parsed, "started", "started", bad);
  // Only a run this call started is of the body's type (USE_EXISTING and SignalWithStart can
  // answer with an existing run of another type).
  if (bad || run.empty() || started == nullptr || !started->isBool() || !started->asBool()) {
    return;
  }
  LookupResult r;
  r.found = true;
  r.workflow = c.op.workflow;
  r.execution.assign(run);
  out.push_back({LookupKey{kExecution, ns, id, std::string(run)}, r});
  out.push_back({LookupKey{kExecution, ns, id, {}}, r});
  out.push_back({LookupKey{kCurrentRun, ns, id, {}}, r});
}

std::vector<OperationInfo> TemporalProfile::operations() const {
  std::vector<OperationInfo> ops;
  ops.reserve(bindings_.size() + std::size(kGrpcOnly) + std::size(kOther));
  for (const Binding& b : bindings_) {
    const Row& r = kRows[b.row];
    OperationInfo o;
    o.method = r.method;
    o.path = b.path;
    o.name = r.name;
    o.actions = r.actions.toString();
    o.notes = r.notes;
    const std::string tmpl = b.path;
    auto var = [&](int i) { return "path {" + std::string(varName(tmpl, i)) + "}"; };
    o.workflow = "-";
    o.step = r.step_var >= 0 ? var(r.step_var) : "-";
    o.execution = "-";
    switch (r.handler) {
      case Handler::kPlain:
      case Handler::kDescribeNamespace:
      case Handler::kRegisterNamespace:
      case Handler::kBatch:
        break;
      case Handler::kExecution:
      case Handler::kActivityById:
      case Handler::kActivityDeprecated: {
        o.workflow = "lookup DescribeWorkflowExecution";
        const std::string wid = r.id_var >= 0                         ? var(r.id_var)
                                : r.handler == Handler::kActivityById ? "body workflowId"
                                                                      : "body execution.workflowId";
        const char* run = r.run == RunFrom::kQuery               ? "query execution.runId"
                          : r.run == RunFrom::kWorkflowExecution ? "body workflowExecution.runId"
                          : r.run == RunFrom::kExecution         ? "body execution.runId"
                                                                 : "body runId";
        o.execution = "run id (" + std::string(run) + ", else the current run of " + wid + ")";
        if (r.handler == Handler::kActivityDeprecated)
          o.step = "body id";
        break;
      }
      case Handler::kStart:
      case Handler::kSignalWithStart:
        o.workflow = "body workflowType.name";
        o.execution = var(r.id_var);
        break;
      case Handler::kToken:
        o.workflow = "lookup DescribeWorkflowExecution (token workflow_id, run_id)";
        o.step = "token activity_id (only when scheduled_event_id is 0)";
        o.execution = "token run_id";
        break;
      case Handler::kScheduleCreate:
        o.workflow = "body schedule.action.startWorkflow.workflowType.name";
        break;
      case Handler::kSchedule:
      case Handler::kSchedulePatch:
        o.workflow = "lookup DescribeSchedule " + var(r.id_var);
        break;
      case Handler::kScheduleUpdate:
        o.workflow =
            "body schedule.action.startWorkflow.workflowType.name + lookup "
            "DescribeSchedule " +
            var(r.id_var);
        break;
    }
    ops.push_back(std::move(o));
  }
  for (const char* rpc : kGrpcOnly) {
    OperationInfo o;
    o.method = "POST";
    o.path = rpc;
    o.name = std::string_view(rpc).substr(std::string_view(rpc).rfind('/') + 1);
    o.actions = "unclassified";
    o.workflow = o.step = o.execution = "-";
    o.notes = "gRPC only: not yet covered (needs HTTP/2)";
    ops.push_back(std::move(o));
  }
  for (const OtherRoute& r : kOther) {
    ops.push_back({r.method, r.path, r.name, "unclassified", "-", "-", "-", r.notes});
  }
  return ops;
}

}  // namespace

ProfileConstSharedPtr makeTemporalProfile(const config::UpstreamConfig& upstream) {
  return std::make_shared<TemporalProfile>(upstream.name);
}

}  // namespace stepgate::orchestrators
