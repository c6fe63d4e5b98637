// The Conductor profile (docs/profiles/conductor.md): the REST API of conductor-oss/conductor
// (core resources, scheduler and the optional modules) mapped to policy Operations.
//
// Every operation is one Def row below: its method and path template (the server's parameter
// names), how it is classified, the actions it always needs, and which path variables carry
// the workflow, version, execution (workflowId), task id, step, status or schedule name.
// operations() prints the same rows, so the reviewer's table and the classifier cannot
// drift apart.

#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "orchestrators/profile_util.h"
#include "orchestrators/profiles.h"
#include "orchestrators/route_table.h"

namespace stepgate::orchestrators {

namespace {

using policy::Action;
using policy::ActionSet;
using policy::Operation;

// LookupKey::kind values of this profile.
enum LookupKind : uint8_t {
  kExecutionLookup = 1,  // id = workflowId → GET /api/workflow/{id}?includeTasks=false
  kTaskLookup = 2,       // id = taskId → GET /api/tasks/{id}
  kScheduleLookup = 3,   // id = schedule name → GET /api/scheduler/schedules/{name}
};

// Bulk bodies (ids, schedule names, definitions) beyond this are unclassified; the server
// itself refuses bulk requests of more than 1000 ids.
constexpr size_t kMaxBulk = 1000;
// Start input fields extracted for `when.input`.
constexpr size_t kMaxInputFields = 16;
constexpr size_t kMaxInputString = 1024;
// Ids stepgate learns from a start response.
constexpr size_t kMaxIdLength = 256;

enum class How : uint8_t {
  kFixed,          // fixed actions; workflow/step/version from path variables, else ""
  kDeny,           // unclassified by design; `notes` says why
  kExec,           // path workflowId → execution lookup
  kTask,           // path taskId → task lookup (with a path workflowId: must be its workflow)
  kStatusSignal,   // /api/tasks/{workflowId}/{status}/signal: widened to workflow "" step ""
  kTaskResult,     // POST /api/tasks, update-v2: body TaskResult → task lookup
  kStart,          // POST /api/workflow: body StartWorkflowRequest
  kStartPath,      // POST /api/workflow/{name}: body = workflow input
  kExecute,        // POST /api/workflow/execute/{name}/{version}: body StartWorkflowRequest
  kTest,           // POST /api/workflow/test: body WorkflowTestRequest
  kRerun,          // POST /api/workflow/{workflowId}/rerun: body RerunWorkflowRequest
  kBulkExec,       // body = JSON array of workflowIds
  kBulkSchedule,   // body = JSON array of schedule names
  kDefOne,         // body WorkflowDef: name
  kDefMany,        // body = array of WorkflowDef
  kTaskDefs,       // body TaskDef or array of TaskDef: step = each name
  kScheduleCreate, // body WorkflowSchedule: startWorkflowRequest.name
  kSchedule,       // path schedule name → schedule lookup
  kFileCreate,     // body FileUploadRequest: workflowId → execution lookup
};

struct Def {
  const char* method;
  const char* path;
  const char* name;
  How how;
  ActionSet actions;  // always needed; status and inline definitions may add more
  // Path variables (by name in `path`).
  const char* wf = nullptr;       // the workflow name
  const char* ver = nullptr;      // the version
  bool version_query = false;     // the version is query `version`
  const char* exec = nullptr;     // a workflowId
  const char* task = nullptr;     // a taskId
  const char* step = nullptr;     // the step (task reference name, or task type for work)
  const char* status = nullptr;   // a task status: the action
  const char* sched = nullptr;    // a schedule name
  // Texts for operations() where the defaults derived from the above are not enough.
  const char* wf_src = nullptr;
  const char* step_src = nullptr;
  const char* ex_src = nullptr;
  const char* notes = "";
};

constexpr ActionSet A(std::initializer_list<Action> a) { return ActionSet(a); }

constexpr const char* kSearchNote =
    "query/freeText select across all workflows; workflow \"\" (only workflow \"*\" rules "
    "match); results are not filtered";
constexpr const char* kByStatus =
    "action by status: COMPLETED complete-step, FAILED and FAILED_WITH_TERMINAL_ERROR "
    "fail-step, IN_PROGRESS work; any other status is unclassified";
constexpr const char* kAgentBody =
    "agent config in the body is not modelled (it becomes a workflow definition): admin, "
    "workflow \"\"";
constexpr const char* kSkills =
    "skill names are not workflow names: workflow \"\" (only workflow \"*\" rules match)";

const Def kDefs[] = {
    // WorkflowResource
    {.method = "POST", .path = "/api/workflow", .name = "startWorkflow", .how = How::kStart,
     .actions = A({Action::kStart}), .wf_src = "body name (+version)",
     .ex_src = "response (learnt)",
     .notes = "define as well when the body carries an inline workflowDef (its name must equal "
              "name); when.input from body input; body createdBy is caller-set and ignored"},
    {.method = "POST", .path = "/api/workflow/{name}", .name = "startWorkflow",
     .how = How::kStartPath, .actions = A({Action::kStart}), .wf = "name",
     .version_query = true, .ex_src = "response (learnt)",
     .notes = "version from query; the body is the workflow input (when.input)"},
    {.method = "POST", .path = "/api/workflow/execute/{name}/{version}", .name = "executeWorkflow",
     .how = How::kExecute, .actions = A({Action::kStart}), .wf = "name", .ver = "version",
     .ex_src = "response workflowId (learnt)",
     .notes = "path name/version override the body's; define as well with an inline "
              "workflowDef (its name must equal the path name)"},
    {.method = "GET", .path = "/api/workflow/{name}/correlated/{correlationId}",
     .name = "getWorkflows", .how = How::kFixed, .actions = A({Action::kList}), .wf = "name"},
    {.method = "POST", .path = "/api/workflow/{name}/correlated", .name = "getWorkflows",
     .how = How::kFixed, .actions = A({Action::kList}), .wf = "name"},
    {.method = "GET", .path = "/api/workflow/{workflowId}", .name = "getExecutionStatus",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "workflowId"},
    {.method = "GET", .path = "/api/workflow/{workflowId}/status",
     .name = "getWorkflowStatusSummary", .how = How::kExec, .actions = A({Action::kRead}),
     .exec = "workflowId"},
    {.method = "GET", .path = "/api/workflow/{workflowId}/tasks",
     .name = "getExecutionStatusTaskList", .how = How::kExec, .actions = A({Action::kList}),
     .exec = "workflowId"},
    {.method = "DELETE", .path = "/api/workflow/{workflowId}/remove", .name = "delete",
     .how = How::kExec, .actions = A({Action::kAdmin}), .exec = "workflowId",
     .notes = "purges the execution record"},
    {.method = "GET", .path = "/api/workflow/running/{name}", .name = "getRunningWorkflow",
     .how = How::kFixed, .actions = A({Action::kList}), .wf = "name", .version_query = true},
    {.method = "PUT", .path = "/api/workflow/decide/{workflowId}", .name = "decide",
     .how = How::kExec, .actions = A({Action::kAdmin}), .exec = "workflowId"},
    {.method = "PUT", .path = "/api/workflow/{workflowId}/pause", .name = "pauseWorkflow",
     .how = How::kExec, .actions = A({Action::kPause}), .exec = "workflowId"},
    {.method = "PUT", .path = "/api/workflow/{workflowId}/resume", .name = "resumeWorkflow",
     .how = How::kExec, .actions = A({Action::kResume}), .exec = "workflowId"},
    {.method = "PUT", .path = "/api/workflow/{workflowId}/skiptask/{taskReferenceName}",
     .name = "skipTaskFromWorkflow", .how = How::kExec, .actions = A({Action::kSkipStep}),
     .exec = "workflowId", .step = "taskReferenceName",
     .notes = "SkipTaskRequest is bound from query parameters, not read"},
    {.method = "POST", .path = "/api/workflow/{workflowId}/rerun", .name = "rerun",
     .how = How::kRerun, .actions = A({Action::kRerun}), .exec = "workflowId",
     .step_src = "body reRunFromTaskId: task lookup (must belong to the workflow); none: \"\"",
     .notes = "body reRunFromWorkflowId is overwritten by the server and ignored"},
    {.method = "POST", .path = "/api/workflow/{workflowId}/restart", .name = "restart",
     .how = How::kExec, .actions = A({Action::kRerun}), .exec = "workflowId",
     .notes = "useLatestDefinitions=true re-runs with the newest definition version"},
    {.method = "POST", .path = "/api/workflow/{workflowId}/retry", .name = "retry",
     .how = How::kExec, .actions = A({Action::kRetry}), .exec = "workflowId",
     .step_src = "\"\" (widened: the last failed tasks)"},
    {.method = "POST", .path = "/api/workflow/{workflowId}/resetcallbacks",
     .name = "resetWorkflow", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId", .step_src = "\"\" (widened: every pending SIMPLE task)"},
    {.method = "DELETE", .path = "/api/workflow/{workflowId}", .name = "terminate",
     .how = How::kExec, .actions = A({Action::kStop}), .exec = "workflowId"},
    {.method = "DELETE", .path = "/api/workflow/{workflowId}/terminate-remove",
     .name = "terminateRemove", .how = How::kExec, .actions = A({Action::kStop, Action::kAdmin}),
     .exec = "workflowId"},
    {.method = "GET", .path = "/api/workflow/search", .name = "search", .how = How::kFixed,
     .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "GET", .path = "/api/workflow/search-v2", .name = "searchV2", .how = How::kFixed,
     .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "GET", .path = "/api/workflow/search-by-tasks", .name = "searchWorkflowsByTasks",
     .how = How::kFixed, .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "GET", .path = "/api/workflow/search-by-tasks-v2",
     .name = "searchWorkflowsByTasksV2", .how = How::kFixed, .actions = A({Action::kList}),
     .notes = kSearchNote},
    {.method = "GET", .path = "/api/workflow/externalstoragelocation",
     .name = "getExternalStorageLocation", .how = How::kFixed, .actions = A({Action::kAdmin}),
     .notes = "hands out storage URIs for any payload path (READ or WRITE)"},
    {.method = "GET", .path = "/api/workflow/external-storage-location",
     .name = "getExternalStorageLocation", .how = How::kFixed, .actions = A({Action::kAdmin}),
     .notes = "alias of /api/workflow/externalstoragelocation"},
    {.method = "POST", .path = "/api/workflow/test", .name = "testWorkflow", .how = How::kTest,
     .actions = A({Action::kStart, Action::kDefine}),
     .wf_src = "body workflowDef.name or name (must agree)",
     .notes = "runs a workflow with mocked task outputs"},
    // WorkflowMessageQueueResource (optional)
    {.method = "POST", .path = "/api/workflow/{workflowId}/messages", .name = "pushMessage",
     .how = How::kExec, .actions = A({Action::kSignal}), .exec = "workflowId"},
    // WorkflowBulkResource: body = JSON array of workflowIds, each looked up
    {.method = "PUT", .path = "/api/workflow/bulk/pause", .name = "pauseWorkflow",
     .how = How::kBulkExec, .actions = A({Action::kPause})},
    {.method = "PUT", .path = "/api/workflow/bulk/resume", .name = "resumeWorkflow",
     .how = How::kBulkExec, .actions = A({Action::kResume})},
    {.method = "POST", .path = "/api/workflow/bulk/restart", .name = "restart",
     .how = How::kBulkExec, .actions = A({Action::kRerun})},
    {.method = "POST", .path = "/api/workflow/bulk/retry", .name = "retry",
     .how = How::kBulkExec, .actions = A({Action::kRetry})},
    {.method = "POST", .path = "/api/workflow/bulk/terminate", .name = "terminate",
     .how = How::kBulkExec, .actions = A({Action::kStop})},
    {.method = "DELETE", .path = "/api/workflow/bulk/remove", .name = "deleteWorkflow",
     .how = How::kBulkExec, .actions = A({Action::kAdmin})},
    {.method = "DELETE", .path = "/api/workflow/bulk/terminate-remove", .name = "terminateRemove",
     .how = How::kBulkExec, .actions = A({Action::kStop, Action::kAdmin})},
    {.method = "POST", .path = "/api/workflow/bulk/search", .name = "searchWorkflow",
     .how = How::kBulkExec, .actions = A({Action::kList})},
    // TaskResource
    {.method = "GET", .path = "/api/tasks/poll/{tasktype}", .name = "poll", .how = How::kFixed,
     .actions = A({Action::kWork}), .step = "tasktype",
     .step_src = "path {tasktype} (the task type)",
     .notes = "leases a task of any workflow using the type: workflow \"\" (workflow \"*\" "
              "rules), step = task type"},
    {.method = "GET", .path = "/api/tasks/poll/batch/{tasktype}", .name = "batchPoll",
     .how = How::kFixed, .actions = A({Action::kWork}), .step = "tasktype",
     .step_src = "path {tasktype} (the task type)",
     .notes = "as poll"},
    {.method = "POST", .path = "/api/tasks", .name = "updateTask", .how = How::kTaskResult,
     .actions = A({}), .wf_src = "lookup body taskId", .step_src = "lookup body taskId",
     .ex_src = "body workflowInstanceId (must be the task's)", .notes = kByStatus},
    {.method = "POST", .path = "/api/tasks/update-v2", .name = "updateTaskV2",
     .how = How::kTaskResult, .actions = A({Action::kWork}), .wf_src = "lookup body taskId",
     .step_src = "lookup body taskId", .ex_src = "body workflowInstanceId (must be the task's)",
     .notes = "as POST /api/tasks, plus work: the response is the next task of the type"},
    {.method = "POST", .path = "/api/tasks/{workflowId}/{taskRefName}/{status}",
     .name = "updateTask", .how = How::kExec, .actions = A({}), .exec = "workflowId",
     .step = "taskRefName", .status = "status", .notes = kByStatus},
    {.method = "POST", .path = "/api/tasks/{workflowId}/{taskRefName}/{status}/sync",
     .name = "updateTaskSync", .how = How::kExec, .actions = A({}), .exec = "workflowId",
     .step = "taskRefName", .status = "status", .notes = kByStatus},
    {.method = "POST", .path = "/api/tasks/{workflowId}/{status}/signal",
     .name = "signalWorkflowTaskAsync", .how = How::kStatusSignal, .actions = A({}),
     .status = "status", .wf_src = "\"\" (widened)", .step_src = "\"\" (widened)",
     .ex_src = "\"\" (widened)",
     .notes = "completes the first pending WAIT task, possibly in a sub-workflow of another "
              "definition: widened to workflow \"\" and step \"\" (workflow \"*\" rules "
              "without steps); action by status as updateTask"},
    {.method = "POST", .path = "/api/tasks/{workflowId}/{status}/signal/sync",
     .name = "signalWorkflowTaskSync", .how = How::kStatusSignal, .actions = A({}),
     .status = "status", .wf_src = "\"\" (widened)", .step_src = "\"\" (widened)",
     .ex_src = "\"\" (widened)", .notes = "as signalWorkflowTaskAsync"},
    {.method = "POST", .path = "/api/tasks/{taskId}/log", .name = "log", .how = How::kTask,
     .actions = A({Action::kWork}), .task = "taskId"},
    {.method = "GET", .path = "/api/tasks/{taskId}/log", .name = "getTaskLogs",
     .how = How::kTask, .actions = A({Action::kRead}), .task = "taskId"},
    {.method = "GET", .path = "/api/tasks/{taskId}", .name = "getTask", .how = How::kTask,
     .actions = A({Action::kRead}), .task = "taskId"},
    {.method = "GET", .path = "/api/tasks/queue/sizes", .name = "size", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/tasks/queue/size", .name = "taskDepth", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/tasks/queue/all/verbose", .name = "allVerbose",
     .how = How::kFixed, .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/tasks/queue/all", .name = "all", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/tasks/queue/polldata", .name = "getPollData",
     .how = How::kFixed, .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/tasks/queue/polldata/all", .name = "getAllPollData",
     .how = How::kFixed, .actions = A({Action::kAdmin})},
    {.method = "POST", .path = "/api/tasks/queue/requeue/{taskType}",
     .name = "requeuePendingTask", .how = How::kFixed, .actions = A({Action::kAdmin}),
     .notes = "requeues pending tasks of a type in every workflow"},
    {.method = "GET", .path = "/api/tasks/search", .name = "search", .how = How::kFixed,
     .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "GET", .path = "/api/tasks/search-v2", .name = "searchV2", .how = How::kFixed,
     .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "GET", .path = "/api/tasks/externalstoragelocation",
     .name = "getExternalStorageLocation", .how = How::kFixed, .actions = A({Action::kAdmin}),
     .notes = "hands out storage URIs for any payload path: admin, not work"},
    {.method = "GET", .path = "/api/tasks/external-storage-location",
     .name = "getExternalStorageLocation", .how = How::kFixed, .actions = A({Action::kAdmin}),
     .notes = "alias of /api/tasks/externalstoragelocation"},
    // MetadataResource
    {.method = "POST", .path = "/api/metadata/workflow", .name = "create", .how = How::kDefOne,
     .actions = A({Action::kDefine}), .wf_src = "body name (+version)"},
    {.method = "POST", .path = "/api/metadata/workflow/validate", .name = "validate",
     .how = How::kDefOne, .actions = A({Action::kRead}), .wf_src = "body name"},
    {.method = "PUT", .path = "/api/metadata/workflow", .name = "update", .how = How::kDefMany,
     .actions = A({Action::kDefine}), .wf_src = "body [*].name",
     .notes = "every definition of the array: the first in op, the others in also"},
    {.method = "GET", .path = "/api/metadata/workflow/{name}", .name = "get", .how = How::kFixed,
     .actions = A({Action::kRead}), .wf = "name", .version_query = true},
    {.method = "GET", .path = "/api/metadata/workflow", .name = "getAll", .how = How::kFixed,
     .actions = A({Action::kList}), .notes = "all definitions; not filtered"},
    {.method = "GET", .path = "/api/metadata/workflow/names-and-versions",
     .name = "getWorkflowNamesAndVersions", .how = How::kFixed, .actions = A({Action::kList}),
     .notes = "all definitions; not filtered"},
    {.method = "GET", .path = "/api/metadata/workflow/names", .name = "getWorkflowNames",
     .how = How::kFixed, .actions = A({Action::kList}), .notes = "all definitions; not filtered"},
    {.method = "GET", .path = "/api/metadata/workflow/latest-versions",
     .name = "getAllWorkflowsWithLatestVersions", .how = How::kFixed,
     .actions = A({Action::kList}), .notes = "all definitions; not filtered"},
    {.method = "GET", .path = "/api/metadata/workflow/{name}/versions",
     .name = "getWorkflowVersions", .how = How::kFixed, .actions = A({Action::kRead}),
     .wf = "name"},
    {.method = "DELETE", .path = "/api/metadata/workflow/{name}/{version}",
     .name = "unregisterWorkflowDef", .how = How::kFixed, .actions = A({Action::kUndefine}),
     .wf = "name", .ver = "version"},
    {.method = "POST", .path = "/api/metadata/taskdefs", .name = "registerTaskDef",
     .how = How::kTaskDefs, .actions = A({Action::kDefine}), .step_src = "body [*].name",
     .notes = "task definitions are shared by every workflow: workflow \"\", step = task type; "
              "the first in op, the others in also"},
    {.method = "PUT", .path = "/api/metadata/taskdefs", .name = "registerTaskDef(update)",
     .how = How::kTaskDefs, .actions = A({Action::kDefine}), .step_src = "body name",
     .notes = "workflow \"\", step = task type"},
    {.method = "GET", .path = "/api/metadata/taskdefs", .name = "getTaskDefs",
     .how = How::kFixed, .actions = A({Action::kList})},
    {.method = "GET", .path = "/api/metadata/taskdefs/{tasktype}", .name = "getTaskDef",
     .how = How::kFixed, .actions = A({Action::kRead}), .step = "tasktype",
     .notes = "workflow \"\", step = task type"},
    {.method = "DELETE", .path = "/api/metadata/taskdefs/{tasktype}", .name = "unregisterTaskDef",
     .how = How::kFixed, .actions = A({Action::kUndefine}), .step = "tasktype",
     .notes = "workflow \"\", step = task type"},
    // EventResource
    {.method = "POST", .path = "/api/event", .name = "addEventHandler", .how = How::kFixed,
     .actions = A({Action::kDefine}), .wf_src = "\"\" (widened)",
     .notes = "a standing grant run later with server authority; targets may be expressions "
              "over the event payload: widened to workflow \"\" (workflow \"*\" rules)"},
    {.method = "PUT", .path = "/api/event", .name = "updateEventHandler", .how = How::kFixed,
     .actions = A({Action::kDefine}), .wf_src = "\"\" (widened)", .notes = "as addEventHandler"},
    {.method = "DELETE", .path = "/api/event/{name}", .name = "removeEventHandlerStatus",
     .how = How::kFixed, .actions = A({Action::kUndefine}), .wf_src = "\"\" (widened)",
     .notes = "event handlers have no workflow: workflow \"\" (workflow \"*\" rules)"},
    {.method = "GET", .path = "/api/event", .name = "getEventHandlers", .how = How::kFixed,
     .actions = A({Action::kList})},
    {.method = "GET", .path = "/api/event/{event}", .name = "getEventHandlersForEvent",
     .how = How::kFixed, .actions = A({Action::kList})},
    // AdminResource
    {.method = "GET", .path = "/api/admin/config", .name = "getAllConfig", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/admin/task/{tasktype}", .name = "view", .how = How::kFixed,
     .actions = A({Action::kAdmin}), .notes = "pending tasks of every workflow"},
    {.method = "POST", .path = "/api/admin/sweep/requeue/{workflowId}", .name = "requeueSweep",
     .how = How::kExec, .actions = A({Action::kAdmin}), .exec = "workflowId"},
    {.method = "POST", .path = "/api/admin/consistency/verifyAndRepair/{workflowId}",
     .name = "verifyAndRepairWorkflowConsistency", .how = How::kExec,
     .actions = A({Action::kAdmin}), .exec = "workflowId"},
    {.method = "GET", .path = "/api/admin/queues", .name = "getEventQueues", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    // QueueAdminResource
    {.method = "GET", .path = "/api/queue/size", .name = "size", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/queue/", .name = "names", .how = How::kFixed,
     .actions = A({Action::kAdmin}), .notes = "trailing slash; /api/queue does not match"},
    {.method = "POST", .path = "/api/queue/update/{workflowId}/{taskRefName}/{status}",
     .name = "update", .how = How::kExec, .actions = A({}), .exec = "workflowId",
     .step = "taskRefName", .status = "status", .notes = kByStatus},
    {.method = "POST", .path = "/api/queue/update/{workflowId}/task/{taskId}/{status}",
     .name = "updateByTaskId", .how = How::kTask, .actions = A({}), .exec = "workflowId",
     .task = "taskId", .status = "status", .ex_src = "path {workflowId} (must be the task's)",
     .notes = kByStatus},
    // Misc core
    {.method = "GET", .path = "/api/version", .name = "getVersion", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "GET", .path = "/health", .name = "doCheck", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "GET", .path = "/api/health", .name = "doCheck", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "GET", .path = "/api/environment", .name = "getAll", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/environment/{key}", .name = "get", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/secrets", .name = "names (SecretResource); secrets (agentspan)",
     .how = How::kFixed, .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api-docs", .name = "springdoc", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "GET", .path = "/api-docs/swagger-config", .name = "springdoc", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "GET", .path = "/swagger-ui/{path...}", .name = "springdoc", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "GET", .path = "/actuator/{path...}", .name = "actuator", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/", .name = "UI", .how = How::kFixed,
     .actions = A({Action::kAdmin}),
     .notes = "UI entry page; other UI paths are not known and stay unclassified"},
    {.method = "GET", .path = "/context.js", .name = "UI", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    // SchedulerResource (optional)
    {.method = "POST", .path = "/api/scheduler/schedules", .name = "createOrUpdateSchedule",
     .how = How::kScheduleCreate, .actions = A({Action::kStart, Action::kDefine}),
     .wf_src = "body startWorkflowRequest.name",
     .notes = "a standing start grant: start and define on the started workflow; replacing an "
              "existing schedule of another workflow also needs define on that one (also)"},
    {.method = "GET", .path = "/api/scheduler/schedules", .name = "getAllSchedules",
     .how = How::kFixed, .actions = A({Action::kList}),
     .notes = "workflow \"\" even with query workflowName; not filtered"},
    {.method = "GET", .path = "/api/scheduler/schedules/search", .name = "searchSchedules",
     .how = How::kFixed, .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "GET", .path = "/api/scheduler/schedules/{name}", .name = "getSchedule",
     .how = How::kSchedule, .actions = A({Action::kRead}), .sched = "name"},
    {.method = "DELETE", .path = "/api/scheduler/schedules/{name}", .name = "deleteSchedule",
     .how = How::kSchedule, .actions = A({Action::kUndefine}), .sched = "name"},
    {.method = "PUT", .path = "/api/scheduler/schedules/{name}/pause", .name = "pauseSchedule",
     .how = How::kSchedule, .actions = A({Action::kPause}), .sched = "name"},
    {.method = "PUT", .path = "/api/scheduler/schedules/{name}/resume", .name = "resumeSchedule",
     .how = How::kSchedule, .actions = A({Action::kResume}), .sched = "name"},
    {.method = "GET", .path = "/api/scheduler/nextFewSchedules", .name = "getNextFewSchedules",
     .how = How::kFixed, .actions = A({Action::kRead}), .notes = "pure cron calculation"},
    {.method = "GET", .path = "/api/scheduler/admin/requeue",
     .name = "requeueAllExecutionRecords", .how = How::kFixed, .actions = A({Action::kAdmin}),
     .notes = "GET with side effects"},
    {.method = "GET", .path = "/api/scheduler/admin/pause", .name = "pauseAllSchedules",
     .how = How::kFixed, .actions = A({Action::kPause, Action::kAdmin}),
     .notes = "GET with side effects: pauses every schedule"},
    {.method = "GET", .path = "/api/scheduler/admin/resume", .name = "resumeAllSchedules",
     .how = How::kFixed, .actions = A({Action::kResume, Action::kAdmin}),
     .notes = "GET with side effects"},
    {.method = "GET", .path = "/api/scheduler/search/executions",
     .name = "searchScheduledExecutions", .how = How::kFixed, .actions = A({Action::kList}),
     .notes = kSearchNote},
    {.method = "PUT", .path = "/api/scheduler/bulk/pause", .name = "pauseSchedules",
     .how = How::kBulkSchedule, .actions = A({Action::kPause}),
     .wf_src = "lookup of each body schedule name"},
    {.method = "PUT", .path = "/api/scheduler/bulk/resume", .name = "resumeSchedules",
     .how = How::kBulkSchedule, .actions = A({Action::kResume}),
     .wf_src = "lookup of each body schedule name"},
    // FileResource (optional)
    {.method = "POST", .path = "/api/files", .name = "createFile", .how = How::kFileCreate,
     .actions = A({Action::kSignal}), .wf_src = "lookup body workflowId",
     .ex_src = "body workflowId"},
    {.method = "GET", .path = "/api/files/{workflowId}/{fileId}/upload-url",
     .name = "getUploadUrl", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId"},
    {.method = "PUT", .path = "/api/files/content/{workflowId}/{fileId}",
     .name = "uploadFileContent", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId"},
    {.method = "GET", .path = "/api/files/content/{workflowId}/{fileId}",
     .name = "downloadFileContent", .how = How::kExec, .actions = A({Action::kRead}),
     .exec = "workflowId"},
    {.method = "POST", .path = "/api/files/{workflowId}/{fileId}/upload-complete",
     .name = "confirmUpload", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId"},
    {.method = "GET", .path = "/api/files/{workflowId}/{fileId}/download-url",
     .name = "getDownloadUrl", .how = How::kExec, .actions = A({Action::kRead}),
     .exec = "workflowId"},
    {.method = "GET", .path = "/api/files/{workflowId}/{fileId}", .name = "getFileMetadata",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "workflowId"},
    {.method = "POST", .path = "/api/files/{workflowId}/{fileId}/multipart",
     .name = "initiateMultipartUpload", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId"},
    {.method = "GET",
     .path = "/api/files/{workflowId}/{fileId}/multipart/{uploadId}/part/{partNumber}",
     .name = "getPartUploadUrl", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId"},
    {.method = "POST", .path = "/api/files/{workflowId}/{fileId}/multipart/{uploadId}/complete",
     .name = "completeMultipartUpload", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId"},
    {.method = "DELETE", .path = "/api/files/{workflowId}/{fileId}/multipart/{uploadId}",
     .name = "abortMultipartUpload", .how = How::kExec, .actions = A({Action::kSignal}),
     .exec = "workflowId"},
    // ExternalPostgresPayloadResource (optional)
    {.method = "GET", .path = "/api/external/postgres/{externalPayloadPath}",
     .name = "getExternalStorageData", .how = How::kFixed, .actions = A({Action::kRead}),
     .notes = "any externalised payload by opaque key: workflow \"\" (workflow \"*\" rules)"},
    // AI / agentspan (optional): an agent is a workflow; executionId is a workflowId
    {.method = "POST", .path = "/api/agent/compile", .name = "compile", .how = How::kFixed,
     .actions = A({Action::kAdmin}), .notes = kAgentBody},
    {.method = "POST", .path = "/api/agent/inspect-plan", .name = "inspect-plan",
     .how = How::kFixed, .actions = A({Action::kAdmin}), .notes = kAgentBody},
    {.method = "POST", .path = "/api/agent/deploy", .name = "deploy", .how = How::kFixed,
     .actions = A({Action::kAdmin}), .notes = kAgentBody},
    {.method = "POST", .path = "/api/agent/start", .name = "start", .how = How::kFixed,
     .actions = A({Action::kAdmin}), .notes = kAgentBody},
    {.method = "GET", .path = "/api/agent/stream/{executionId}", .name = "stream",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/{executionId}/respond", .name = "respond",
     .how = How::kExec, .actions = A({Action::kCompleteStep, Action::kFailStep}),
     .exec = "executionId", .step_src = "\"\" (widened)"},
    {.method = "POST", .path = "/api/agent/events/{executionId}", .name = "events",
     .how = How::kExec, .actions = A({Action::kSignal}), .exec = "executionId"},
    {.method = "GET", .path = "/api/agent/list", .name = "list", .how = How::kFixed,
     .actions = A({Action::kList})},
    {.method = "GET", .path = "/api/agent/executions", .name = "executions", .how = How::kFixed,
     .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "GET", .path = "/api/agent/{name}", .name = "get", .how = How::kFixed,
     .actions = A({Action::kRead}), .wf = "name"},
    {.method = "DELETE", .path = "/api/agent/{name}", .name = "delete", .how = How::kFixed,
     .actions = A({Action::kUndefine}), .wf = "name"},
    {.method = "GET", .path = "/api/agent/executions/{executionId}", .name = "execution",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "executionId"},
    {.method = "PUT", .path = "/api/agent/{executionId}/pause", .name = "pause",
     .how = How::kExec, .actions = A({Action::kPause}), .exec = "executionId"},
    {.method = "PUT", .path = "/api/agent/{executionId}/resume", .name = "resume",
     .how = How::kExec, .actions = A({Action::kResume}), .exec = "executionId"},
    {.method = "DELETE", .path = "/api/agent/{executionId}/cancel", .name = "cancel",
     .how = How::kExec, .actions = A({Action::kStop}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/{executionId}/stop", .name = "stop",
     .how = How::kExec, .actions = A({Action::kStop}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/{executionId}/signal", .name = "signal",
     .how = How::kExec, .actions = A({Action::kSignal}), .exec = "executionId"},
    {.method = "GET", .path = "/api/agent/{executionId}/status", .name = "status",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "executionId"},
    {.method = "GET", .path = "/api/agent/execution/{executionId}", .name = "execution",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/{executionId}/tasks", .name = "tasks",
     .how = How::kExec, .actions = A({Action::kSignal}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/execution", .name = "execution", .how = How::kFixed,
     .actions = A({Action::kAdmin}), .notes = kAgentBody},
    {.method = "POST", .path = "/api/agent/execution/{executionId}/complete", .name = "complete",
     .how = How::kExec, .actions = A({Action::kCompleteStep, Action::kFailStep}),
     .exec = "executionId", .step_src = "\"\" (widened)"},
    {.method = "GET", .path = "/api/agent/executions/{executionId}/full", .name = "full",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/executions/{executionId}/restart", .name = "restart",
     .how = How::kExec, .actions = A({Action::kRerun}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/executions/{executionId}/retry", .name = "retry",
     .how = How::kExec, .actions = A({Action::kRetry}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/executions/{executionId}/rerun", .name = "rerun",
     .how = How::kExec, .actions = A({Action::kRerun}), .exec = "executionId"},
    {.method = "DELETE", .path = "/api/agent/executions/{executionId}", .name = "terminate",
     .how = How::kExec, .actions = A({Action::kStop}), .exec = "executionId"},
    {.method = "DELETE", .path = "/api/agent/executions/{executionId}/record", .name = "record",
     .how = How::kExec, .actions = A({Action::kAdmin}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/executions/prune", .name = "prune", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/agent/executions/{executionId}/tasks", .name = "tasks",
     .how = How::kExec, .actions = A({Action::kRead}), .exec = "executionId"},
    {.method = "POST", .path = "/api/agent/tasks/{executionId}/{refTaskName}/{status}",
     .name = "updateTask", .how = How::kExec, .actions = A({}), .exec = "executionId",
     .step = "refTaskName", .status = "status", .notes = kByStatus},
    {.method = "GET", .path = "/api/agent/tasks/{taskId}/log", .name = "log", .how = How::kTask,
     .actions = A({Action::kRead}), .task = "taskId"},
    {.method = "GET", .path = "/api/agent/executions/search", .name = "search",
     .how = How::kFixed, .actions = A({Action::kList}), .notes = kSearchNote},
    {.method = "PUT", .path = "/api/agent/executions/bulk/pause", .name = "pause",
     .how = How::kBulkExec, .actions = A({Action::kPause})},
    {.method = "PUT", .path = "/api/agent/executions/bulk/resume", .name = "resume",
     .how = How::kBulkExec, .actions = A({Action::kResume})},
    {.method = "POST", .path = "/api/agent/executions/bulk/restart", .name = "restart",
     .how = How::kBulkExec, .actions = A({Action::kRerun})},
    {.method = "POST", .path = "/api/agent/executions/bulk/retry", .name = "retry",
     .how = How::kBulkExec, .actions = A({Action::kRetry})},
    {.method = "POST", .path = "/api/agent/executions/bulk/terminate", .name = "terminate",
     .how = How::kBulkExec, .actions = A({Action::kStop})},
    {.method = "GET", .path = "/api/agent/definitions/{name}", .name = "definition",
     .how = How::kFixed, .actions = A({Action::kRead}), .wf = "name"},
    {.method = "GET", .path = "/api/providers/status", .name = "status", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "POST", .path = "/api/secrets", .name = "secrets", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/secrets/v2", .name = "v2", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/secrets/{key}", .name = "get", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "PUT", .path = "/api/secrets/{key}", .name = "put", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "DELETE", .path = "/api/secrets/{key}", .name = "delete", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "GET", .path = "/api/secrets/{key}/exists", .name = "exists", .how = How::kFixed,
     .actions = A({Action::kAdmin})},
    {.method = "POST", .path = "/api/skills/register", .name = "register", .how = How::kFixed,
     .actions = A({Action::kDefine}), .notes = kSkills},
    {.method = "GET", .path = "/api/skills", .name = "skills", .how = How::kFixed,
     .actions = A({Action::kRead}), .notes = kSkills},
    {.method = "GET", .path = "/api/skills/{name}", .name = "skill", .how = How::kFixed,
     .actions = A({Action::kRead}), .notes = kSkills},
    {.method = "GET", .path = "/api/skills/{name}/versions/{version}", .name = "version",
     .how = How::kFixed, .actions = A({Action::kRead}), .notes = kSkills},
    {.method = "GET", .path = "/api/skills/{name}/versions/{version}/files", .name = "files",
     .how = How::kFixed, .actions = A({Action::kRead}), .notes = kSkills},
    {.method = "GET", .path = "/api/skills/{name}/versions/{version}/package", .name = "package",
     .how = How::kFixed, .actions = A({Action::kRead}), .notes = kSkills},
    {.method = "POST", .path = "/api/skills/{name}/versions/{version}/deploy", .name = "deploy",
     .how = How::kFixed, .actions = A({Action::kStart, Action::kDefine}), .notes = kSkills},
    {.method = "DELETE", .path = "/api/skills/{name}/versions/{version}", .name = "delete",
     .how = How::kFixed, .actions = A({Action::kUndefine}), .notes = kSkills},
    // A2A (optional)
    {.method = "POST", .path = "/api/a2a/agent-card", .name = "getAgentCard", .how = How::kDeny,
     .actions = A({}),
     .notes = "denied by design: the server fetches a caller-given URL (server-side request "
              "forgery)"},
    {.method = "POST", .path = "/api/a2a/callback/{taskId}", .name = "onPushNotification",
     .how = How::kTask, .actions = A({Action::kCompleteStep, Action::kFailStep}),
     .task = "taskId", .notes = "the outcome is in the body: both actions"},
    {.method = "GET", .path = "/api/a2a/workflow", .name = "listAgents", .how = How::kFixed,
     .actions = A({Action::kList})},
    {.method = "GET", .path = "/api/a2a/workflow/{workflow}/.well-known/agent-card.json",
     .name = "agentCard", .how = How::kFixed, .actions = A({Action::kRead}), .wf = "workflow"},
    {.method = "GET", .path = "/api/a2a/workflow/{workflow}/.well-known/agent.json",
     .name = "agentCard", .how = How::kFixed, .actions = A({Action::kRead}), .wf = "workflow"},
    {.method = "POST", .path = "/api/a2a/workflow/{workflow}", .name = "jsonRpc",
     .how = How::kDeny, .actions = A({}),
     .notes = "denied by design: JSON-RPC params name A2A tasks (executions) that are not "
              "resolved"},
    {.method = "POST", .path = "/api/a2a/workflow/{workflow}/rpc", .name = "jsonRpc",
     .how = How::kDeny, .actions = A({}),
     .notes = "denied by design: JSON-RPC params name A2A tasks (executions) that are not "
              "resolved"},
    {.method = "GET", .path = "/api/a2a/agent", .name = "listAgents", .how = How::kFixed,
     .actions = A({Action::kRead})},
    {.method = "GET", .path = "/api/a2a/agent/{agent}/.well-known/agent-card.json",
     .name = "agentCard", .how = How::kFixed, .actions = A({Action::kRead}), .wf = "agent"},
    {.method = "POST", .path = "/api/a2a/agent/{agent}", .name = "jsonRpc", .how = How::kDeny,
     .actions = A({}),
     .notes = "denied by design: JSON-RPC params name A2A tasks (executions) that are not "
              "resolved"},
    {.method = "POST", .path = "/api/a2a/agent/{agent}/rpc", .name = "jsonRpc",
     .how = How::kDeny, .actions = A({}),
     .notes = "denied by design: JSON-RPC params name A2A tasks (executions) that are not "
              "resolved"},
};

// The actions a row may need: always-needed ones plus those a status or an inline
// definition adds.
ActionSet possibleActions(const Def& d) {
  ActionSet a = d.actions;
  if (d.status != nullptr || d.how == How::kTaskResult || d.how == How::kStatusSignal) {
    a.add(Action::kCompleteStep);
    a.add(Action::kFailStep);
    a.add(Action::kWork);
  }
  if (d.how == How::kStart || d.how == How::kExecute) {
    a.add(Action::kDefine);
  }
  return a;
}

// The action a task status asks for (TaskResult.Status / Task.Status spelling).
bool addStatusAction(std::string_view status, ActionSet& a) {
  if (status == "COMPLETED") {
    a.add(Action::kCompleteStep);
  } else if (status == "FAILED" || status == "FAILED_WITH_TERMINAL_ERROR") {
    a.add(Action::kFailStep);
  } else if (status == "IN_PROGRESS") {
    a.add(Action::kWork);
  } else {
    return false;
  }
  return true;
}

// A path variable as the server sees it: percent-decoded (Spring decodes path variables).
// Refused: ';' (Spring strips path parameters, so the server would see less than we check),
// malformed escapes, %00 and invalid UTF-8, and an empty result.
bool decodeSegment(std::string_view in, std::string& out) {
  if (in.find(';') != std::string_view::npos) return false;
  if (!percentDecode(in, /*plus_is_space=*/false, out)) return false;
  return !out.empty();
}

bool isDigits(std::string_view s) {
  if (s.empty() || s.size() > 9) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A non-empty string member, or null.
const std::string* stringMember(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = obj.find(name);
  if (v == nullptr || !v->isString() || v->asString().empty()) return nullptr;
  return &v->asString();
}

// An integer member as decimal text ("" when absent, null, or not an integer).
std::string intMember(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = obj.find(name);
  if (v == nullptr || !v->isInt()) return {};
  return std::to_string(v->asInt());
}

bool absent(const JsonValue* v) { return v == nullptr || v->isNull(); }

// when.input fields: the scalar top-level members of a workflow input object, named by a
// JSON pointer into that input ("/amount").
void extractInput(const JsonValue* input, Operation& op) {
  if (input == nullptr || !input->isObject()) return;
  for (const JsonMember& m : input->asObject()) {
    if (op.input.size() >= kMaxInputFields) return;
    std::string path = "/";
    appendPointerToken(path, m.name);
    if (m.value.isInt()) {
      op.input.push_back(
          policy::InputField::ofNumber(std::move(path), static_cast<double>(m.value.asInt())));
    } else if (m.value.isDouble()) {
      op.input.push_back(policy::InputField::ofNumber(std::move(path), m.value.asDouble()));
    } else if (m.value.isString() && m.value.asString().size() <= kMaxInputString) {
      op.input.push_back(policy::InputField::ofString(std::move(path), m.value.asString()));
    }
  }
}

// An id the server generated (a UUID, in practice): printable ASCII without separators.
bool plausibleId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == ':';
  });
}

class ConductorProfile final : public Profile {
 public:
  explicit ConductorProfile(std::string upstream) : upstream_(std::move(upstream)) {
    for (const Def& d : kDefs) {
      Route r;
      r.def = &d;
      // Variable indices in template order.
      int index = 0;
      std::string_view p = d.path;
      while (!p.empty()) {
        const size_t open = p.find('{');
        if (open == std::string_view::npos) break;
        const size_t close = p.find('}', open);
        std::string_view var = p.substr(open + 1, close - open - 1);
        if (var.size() > 3 && var.substr(var.size() - 3) == "...") var.remove_suffix(3);
        auto is = [&](const char* name) { return name != nullptr && var == name; };
        if (is(d.wf)) r.wf = index;
        if (is(d.ver)) r.ver = index;
        if (is(d.exec)) r.exec = index;
        if (is(d.task)) r.task = index;
        if (is(d.step)) r.step = index;
        if (is(d.status)) r.status = index;
        if (is(d.sched)) r.sched = index;
        ++index;
        p.remove_prefix(close + 1);
      }
      const int added = table_.add(d.method, d.path);
      (void)added;  // equals routes_.size(): rows are added in order
      routes_.push_back(r);
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
  struct Route {
    const Def* def = nullptr;
    int wf = -1, ver = -1, exec = -1, task = -1, step = -1, status = -1, sched = -1;
  };

  // The answer to `kind`/`id`, or null after queueing the lookup in out.lookups.
  static const LookupResult* ask(const RequestView& req, Classification& out, uint8_t kind,
                                 std::string_view id) {
    LookupKey k;
    k.kind = kind;
    k.id.assign(id);
    if (const LookupResult* r = req.lookup(k)) return r;
    if (std::find(out.lookups.begin(), out.lookups.end(), k) == out.lookups.end()) {
      out.lookups.push_back(std::move(k));
    }
    return nullptr;
  }

  // The parsed body; on the first call kNeedsBody, and unclassified when it is not JSON.
  static const JsonValue* body(const RequestView& req, Classification& out) {
    if (!req.body_read) {
      out.outcome = Outcome::kNeedsBody;
      return nullptr;
    }
    if (req.json == nullptr) {
      out.unclassified("the body is not a JSON document");
      return nullptr;
    }
    return req.json;
  }

  static bool needsLookups(Classification& out) {
    if (out.lookups.empty()) return false;
    out.outcome = Outcome::kNeedsLookup;
    return true;
  }

  // Applies an execution lookup answer: the execution's workflow, or the unresolved shape.
  static void applyExecution(const LookupResult& r, std::string_view id, Operation& op) {
    op.execution.assign(id);
    if (!r.found) {
      op.workflow.clear();
      op.version.clear();
      return;
    }
    op.workflow = r.workflow;
    op.version = r.version;
  }

  void classifyStart(const RequestView& req, Classification& out, const Route& r,
                     const RouteTable::Match& m) const;
  void classifyTask(const RequestView& req, Classification& out, const Route& r,
                    const RouteTable::Match& m) const;
  void classifyBody(const RequestView& req, Classification& out, const Route& r,
                    const RouteTable::Match& m) const;
  void classifyBulk(const RequestView& req, Classification& out, const Route& r) const;

  std::string upstream_;
  RouteTable table_;
  std::vector<Route> routes_;
};

void ConductorProfile::classify(const RequestView& req, Classification& out) const {
  out.reset(upstream_);
  const RouteTable::Match m = table_.match(req.method, req.path);
  if (!m) {
    out.unclassified("no Conductor operation has this method and path");
    return;
  }
  const Route& r = routes_[static_cast<size_t>(m.route)];
  const Def& d = *r.def;
  if (d.how == How::kDeny) {
    out.unclassified(d.notes);
    return;
  }
  Operation& op = out.op;
  op.actions = d.actions;
  if (r.wf >= 0 && !decodeSegment(m.vars[r.wf], op.workflow)) {
    out.unclassified("the workflow name in the path is malformed or has ';' parameters");
    return;
  }
  if (r.step >= 0 && !decodeSegment(m.vars[r.step], op.step)) {
    out.unclassified("the step in the path is malformed or has ';' parameters");
    return;
  }
  if (r.status >= 0) {
    std::string status;
    if (!decodeSegment(m.vars[r.status], status) || !addStatusAction(status, op.actions)) {
      out.unclassified(
          "task status is not COMPLETED, FAILED, FAILED_WITH_TERMINAL_ERROR or IN_PROGRESS");
      return;
    }
  }
  if (r.ver >= 0) {
    if (!decodeSegment(m.vars[r.ver], op.version) || !isDigits(op.version)) {
      out.unclassified("the version in the path is not a number");
      return;
    }
  } else if (d.version_query && !req.query.empty()) {
    QueryParams q;
    if (!q.parse(req.query) || q.count("version") > 1) {
      out.unclassified("the query is malformed or repeats version");
      return;
    }
    if (const std::string* v = q.get("version")) {
      if (!isDigits(*v)) {
        out.unclassified("query version is not a number");
        return;
      }
      op.version = *v;
    }
  }

  switch (d.how) {
    case How::kDeny:
    case How::kFixed:
      break;
    case How::kExec: {
      std::string id;
      if (!decodeSegment(m.vars[r.exec], id)) {
        out.unclassified("the workflowId in the path is malformed or has ';' parameters");
        return;
      }
      const LookupResult* res = ask(req, out, kExecutionLookup, id);
      if (needsLookups(out)) return;
      applyExecution(*res, id, op);
      break;
    }
    case How::kStatusSignal:
      // The server picks the task (and maybe a sub-workflow): widened, nothing to resolve.
      break;
    case How::kTask:
    case How::kTaskResult:
    case How::kRerun:
      classifyTask(req, out, r, m);
      return;
    case How::kStart:
    case How::kStartPath:
    case How::kExecute:
    case How::kTest:
      classifyStart(req, out, r, m);
      return;
    case How::kBulkExec:
    case How::kBulkSchedule:
      classifyBulk(req, out, r);
      return;
    case How::kDefOne:
    case How::kDefMany:
    case How::kTaskDefs:
    case How::kScheduleCreate:
    case How::kSchedule:
    case How::kFileCreate:
      classifyBody(req, out, r, m);
      return;
  }
  out.outcome = Outcome::kClassified;
}

// Task-addressed calls: the task's own workflow and step, never the caller's claim about them.
void ConductorProfile::classifyTask(const RequestView& req, Classification& out, const Route& r,
                                    const RouteTable::Match& m) const {
  const Def& d = *r.def;
  Operation& op = out.op;
  std::string task_id;
  std::string claimed_exec;  // the workflowId the caller says the task belongs to
  if (d.how == How::kTask) {
    if (!decodeSegment(m.vars[r.task], task_id) ||
        (r.exec >= 0 && !decodeSegment(m.vars[r.exec], claimed_exec))) {
      out.unclassified("an id in the path is malformed or has ';' parameters");
      return;
    }
  } else {
    const JsonValue* b = body(req, out);
    if (b == nullptr) return;
    if (!b->isObject()) {
      out.unclassified("the body is not a JSON object");
      return;
    }
    if (d.how == How::kRerun) {
      if (!decodeSegment(m.vars[r.exec], claimed_exec)) {
        out.unclassified("the workflowId in the path is malformed or has ';' parameters");
        return;
      }
      const JsonValue* from = b->find("reRunFromTaskId");
      if (!absent(from) && !from->isString()) {
        out.unclassified("body reRunFromTaskId is not a string");
        return;
      }
      if (absent(from) || from->asString().empty()) {
        // A rerun of the whole workflow.
        const LookupResult* res = ask(req, out, kExecutionLookup, claimed_exec);
        if (needsLookups(out)) return;
        applyExecution(*res, claimed_exec, op);
        out.outcome = Outcome::kClassified;
        return;
      }
      task_id = from->asString();
    } else {  // TaskResult
      const std::string* wid = stringMember(*b, "workflowInstanceId");
      const std::string* tid = stringMember(*b, "taskId");
      const std::string* status = stringMember(*b, "status");
      if (wid == nullptr || tid == nullptr) {
        out.unclassified("body TaskResult lacks workflowInstanceId or taskId");
        return;
      }
      if (status == nullptr || !addStatusAction(*status, op.actions)) {
        out.unclassified(
            "body status is not COMPLETED, FAILED, FAILED_WITH_TERMINAL_ERROR or IN_PROGRESS");
        return;
      }
      claimed_exec = *wid;
      task_id = *tid;
    }
  }
  const LookupResult* res = ask(req, out, kTaskLookup, task_id);
  if (needsLookups(out)) return;
  if (!res->found) {
    // Unresolved: the execution the caller named, else the task id itself.
    op.workflow.clear();
    op.version.clear();
    op.execution = claimed_exec.empty() ? task_id : claimed_exec;
    out.outcome = Outcome::kClassified;
    return;
  }
  if (!claimed_exec.empty() && res->execution != claimed_exec) {
    out.unclassified("task does not belong to workflow");
    return;
  }
  op.workflow = res->workflow;
  op.version = res->version;
  op.execution = res->execution;
  op.step = res->step;
  out.outcome = Outcome::kClassified;
}

// Starts: the workflow that will run, and the definition when the body brings one.
void ConductorProfile::classifyStart(const RequestView& req, Classification& out,
                                     const Route& r, const RouteTable::Match&) const {
  const Def& d = *r.def;
  Operation& op = out.op;
  const JsonValue* b = body(req, out);
  if (b == nullptr) return;
  if (!b->isObject()) {
    out.unclassified("the body is not a JSON object");
    return;
  }
  if (d.how == How::kStartPath) {
    extractInput(b, op);  // the body is the workflow input
    out.learn_response = true;
    out.outcome = Outcome::kClassified;
    return;
  }
  const JsonValue* def = b->find("workflowDef");
  const std::string* def_name = nullptr;
  if (!absent(def)) {
    if (!def->isObject() || (def_name = stringMember(*def, "name")) == nullptr) {
      out.unclassified("body workflowDef is not an object with a name");
      return;
    }
    op.actions.add(Action::kDefine);
  }
  const std::string* name = stringMember(*b, "name");
  if (d.how == How::kExecute) {
    // The path's name and version replace the body's.
    if (def_name != nullptr && *def_name != op.workflow) {
      out.unclassified("body workflowDef.name differs from the workflow in the path");
      return;
    }
    out.learn_response = true;
  } else if (d.how == How::kStart) {
    if (name == nullptr) {
      out.unclassified("body StartWorkflowRequest lacks name");
      return;
    }
    if (def_name != nullptr && *def_name != *name) {
      out.unclassified("body workflowDef.name differs from name");
      return;
    }
    op.workflow = *name;
    op.version = intMember(*b, "version");
    if (op.version == "0") op.version.clear();  // 0: the latest
    out.learn_response = true;
  } else {  // kTest
    if (name != nullptr && def_name != nullptr && *name != *def_name) {
      out.unclassified("body workflowDef.name differs from name");
      return;
    }
    if (name == nullptr && def_name == nullptr) {
      out.unclassified("body WorkflowTestRequest lacks name and workflowDef.name");
      return;
    }
    op.workflow = def_name != nullptr ? *def_name : *name;
    op.version = intMember(*b, "version");
  }
  extractInput(b->find("input"), op);
  out.outcome = Outcome::kClassified;
}

// Bulk calls: every id in the body array; the first in op, the others in also.
void ConductorProfile::classifyBulk(const RequestView& req, Classification& out,
                                    const Route& r) const {
  const Def& d = *r.def;
  const JsonValue* b = body(req, out);
  if (b == nullptr) return;
  if (!b->isArray() || b->asArray().empty()) {
    out.unclassified("the bulk body is not a non-empty JSON array");
    return;
  }
  if (b->asArray().size() > kMaxBulk) {
    out.unclassified("the bulk body has more than 1000 entries");
    return;
  }
  std::vector<std::string_view> ids;
  ids.reserve(b->asArray().size());
  for (const JsonValue& v : b->asArray()) {
    if (!v.isString() || v.asString().empty()) {
      out.unclassified("a bulk body entry is not a non-empty string");
      return;
    }
    if (std::find(ids.begin(), ids.end(), v.asString()) == ids.end()) ids.push_back(v.asString());
  }
  const uint8_t kind = d.how == How::kBulkExec ? kExecutionLookup : kScheduleLookup;
  std::vector<const LookupResult*> answers;
  answers.reserve(ids.size());
  for (std::string_view id : ids) answers.push_back(ask(req, out, kind, id));
  if (needsLookups(out)) return;
  Operation base = out.op;  // upstream and actions
  for (size_t i = 0; i < ids.size(); ++i) {
    Operation& op = i == 0 ? out.op : out.also.emplace_back(base);
    if (kind == kExecutionLookup) {
      applyExecution(*answers[i], ids[i], op);
    } else if (!answers[i]->found) {
      out.unclassified("unknown schedule");
      return;
    } else {
      op.workflow = answers[i]->workflow;
      op.version = answers[i]->version;
    }
  }
  out.outcome = Outcome::kClassified;
}

// Definitions, schedules and files: the names in the body, or a schedule's workflow.
void ConductorProfile::classifyBody(const RequestView& req, Classification& out, const Route& r,
                                    const RouteTable::Match& m) const {
  const Def& d = *r.def;
  Operation& op = out.op;
  if (d.how == How::kSchedule) {
    std::string name;
    if (!decodeSegment(m.vars[r.sched], name)) {
      out.unclassified("the schedule name in the path is malformed or has ';' parameters");
      return;
    }
    const LookupResult* res = ask(req, out, kScheduleLookup, name);
    if (needsLookups(out)) return;
    if (!res->found) {
      out.unclassified("unknown schedule");
      return;
    }
    op.workflow = res->workflow;
    op.version = res->version;
    out.outcome = Outcome::kClassified;
    return;
  }
  const JsonValue* b = body(req, out);
  if (b == nullptr) return;
  switch (d.how) {
    case How::kDefOne: {
      const std::string* name = b->isObject() ? stringMember(*b, "name") : nullptr;
      if (name == nullptr) {
        out.unclassified("body WorkflowDef lacks name");
        return;
      }
      op.workflow = *name;
      op.version = intMember(*b, "version");
      break;
    }
    case How::kDefMany:
    case How::kTaskDefs: {
      const bool many = b->isArray();
      const size_t n = many ? b->asArray().size() : 1;
      if ((d.how == How::kDefMany && !many) || (many && n == 0) || (!many && !b->isObject())) {
        out.unclassified("the body is not the definition or array of definitions expected");
        return;
      }
      if (n > kMaxBulk) {
        out.unclassified("the body has more than 1000 definitions");
        return;
      }
      const Operation base = op;
      std::vector<std::string_view> seen;
      for (size_t i = 0; i < n; ++i) {
        const JsonValue& v = many ? b->asArray()[i] : *b;
        const std::string* name = v.isObject() ? stringMember(v, "name") : nullptr;
        if (name == nullptr) {
          out.unclassified("a definition in the body lacks name");
          return;
        }
        if (std::find(seen.begin(), seen.end(), *name) != seen.end()) continue;
        seen.push_back(*name);
        Operation& o = seen.size() == 1 ? op : out.also.emplace_back(base);
        if (d.how == How::kDefMany) {
          o.workflow = *name;
        } else {
          o.step = *name;
        }
      }
      break;
    }
    case How::kScheduleCreate: {
      const std::string* name = b->isObject() ? stringMember(*b, "name") : nullptr;
      const JsonValue* swr = b->isObject() ? b->find("startWorkflowRequest") : nullptr;
      const std::string* wf =
          swr != nullptr && swr->isObject() ? stringMember(*swr, "name") : nullptr;
      if (name == nullptr || wf == nullptr) {
        out.unclassified("body WorkflowSchedule lacks name or startWorkflowRequest.name");
        return;
      }
      const JsonValue* def = swr->find("workflowDef");
      if (!absent(def)) {
        const std::string* def_name = def->isObject() ? stringMember(*def, "name") : nullptr;
        if (def_name == nullptr || *def_name != *wf) {
          out.unclassified("startWorkflowRequest.workflowDef.name differs from its name");
          return;
        }
      }
      op.workflow = *wf;
      op.version = intMember(*swr, "version");
      if (op.version == "0") op.version.clear();
      // An existing schedule of that name is replaced: it may start another workflow.
      const LookupResult* res = ask(req, out, kScheduleLookup, *name);
      if (needsLookups(out)) return;
      if (res->failed) {
        // Unknown is not the same as "could not ask": a schedule that may exist and start
        // another workflow must not be replaced unseen.
        // Denied `unresolved`: no workflow, the schedule's name as what could not be resolved.
        op.workflow.clear();
        op.version.clear();
        op.execution = *name;
        out.also.clear();
        return;
      }
      if (res->found && res->workflow != op.workflow) {
        Operation& prev = out.also.emplace_back();
        prev.upstream = op.upstream;
        prev.workflow = res->workflow;
        prev.version = res->version;
        prev.actions = ActionSet({Action::kDefine});
      }
      extractInput(swr->find("input"), op);
      out.learn_response = true;
      break;
    }
    case How::kFileCreate: {
      const std::string* wid = b->isObject() ? stringMember(*b, "workflowId") : nullptr;
      if (wid == nullptr) {
        out.unclassified("body FileUploadRequest lacks workflowId");
        return;
      }
      const LookupResult* res = ask(req, out, kExecutionLookup, *wid);
      if (needsLookups(out)) return;
      applyExecution(*res, *wid, op);
      break;
    }
    default:
      out.unclassified("internal: route kind without a body handler");
      return;
  }
  out.outcome = Outcome::kClassified;
}

bool ConductorProfile::lookupCall(const LookupKey& key, LookupCall& out) const {
  if (key.id.empty()) return false;
  out.method = "GET";
  out.body.clear();
  out.content_type.clear();
  out.headers.clear();
  out.target.clear();
  switch (key.kind) {
    case kExecutionLookup:
      out.target = "/api/workflow/";
      appendPercentEncoded(out.target, key.id);
      out.target += "?includeTasks=false";
      return true;
    case kTaskLookup:
      out.target = "/api/tasks/";
      appendPercentEncoded(out.target, key.id);
      return true;
    case kScheduleLookup:
      out.target = "/api/scheduler/schedules/";
      appendPercentEncoded(out.target, key.id);
      return true;
    default:
      return false;
  }
}

bool ConductorProfile::parseLookup(const LookupKey& key, int status, std::string_view body,
                                   LookupResult& out) const {
  out = LookupResult{};
  if (key.kind != kExecutionLookup && key.kind != kTaskLookup && key.kind != kScheduleLookup) {
    return false;
  }
  if (status == 404) return true;  // found = false
  if (status != 200) return false;
  // Spring answers 200 with an empty body when a controller returns null.
  std::string_view trimmed = body;
  while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\n' ||
                              trimmed.front() == '\r' || trimmed.front() == '\t')) {
    trimmed.remove_prefix(1);
  }
  if (trimmed.empty() || trimmed == "null") return true;
  JsonLimits limits;
  limits.max_bytes = 16u << 20;
  limits.max_depth = 256;
  StatusOr<JsonValue> parsed = parseJson(body, limits);
  if (!parsed.isOk() || !parsed->isObject()) return false;
  const JsonValue& v = *parsed;
  switch (key.kind) {
    case kExecutionLookup: {
      // workflowName/workflowVersion are getters over workflowDefinition; accept either, and
      // refuse an answer where they disagree.
      const std::string* id = stringMember(v, "workflowId");
      if (id == nullptr || *id != key.id) return false;
      const JsonValue* def = v.find("workflowDefinition");
      const std::string* def_name =
          def != nullptr && def->isObject() ? stringMember(*def, "name") : nullptr;
      const std::string* name = stringMember(v, "workflowName");
      if (name != nullptr && def_name != nullptr && *name != *def_name) return false;
      if (name == nullptr) name = def_name;
      if (name == nullptr) return false;
      std::string version = intMember(v, "workflowVersion");
      if (version.empty() && def != nullptr && def->isObject()) {
        version = intMember(*def, "version");
      }
      out.found = true;
      out.workflow = *name;
      out.version = std::move(version);
      out.execution = *id;
      return true;
    }
    case kTaskLookup: {
      const std::string* id = stringMember(v, "taskId");
      const std::string* wid = stringMember(v, "workflowInstanceId");
      const std::string* type = stringMember(v, "workflowType");
      const std::string* ref = stringMember(v, "referenceTaskName");
      if (id == nullptr || *id != key.id || wid == nullptr || type == nullptr || ref == nullptr) {
        return false;
      }
      out.found = true;
      out.workflow = *type;
      out.execution = *wid;
      out.step = *ref;
      return true;
    }
    case kScheduleLookup: {
      const std::string* name = stringMember(v, "name");
      const JsonValue* swr = v.find("startWorkflowRequest");
      const std::string* wf =
          swr != nullptr && swr->isObject() ? stringMember(*swr, "name") : nullptr;
      if (name == nullptr || *name != key.id || wf == nullptr) return false;
      out.found = true;
      out.workflow = *wf;
      out.version = intMember(*swr, "version");
      if (out.version == "0") out.version.clear();
      return true;
    }
    default:
      return false;
  }
}

void ConductorProfile::learn(const RequestView& req, const Classification& c, int status,
                             std::string_view body, std::vector<Learned>& out) const {
  if (!c.classified() || !c.learn_response || status < 200 || status >= 300) return;
  const RouteTable::Match m = table_.match(req.method, req.path);
  if (!m) return;
  const How how = routes_[static_cast<size_t>(m.route)].def->how;
  std::string id;
  if (how == How::kStart || how == How::kStartPath) {
    // text/plain: the new workflowId (a JSON string from some clients' proxies).
    std::string_view t = body;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) {
      t.remove_suffix(1);
    }
    if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
    id.assign(t);
  } else if (how == How::kExecute) {
    JsonLimits limits;
    limits.max_bytes = kMaxLearnBytes;
    limits.max_depth = 256;
    StatusOr<JsonValue> parsed = parseJson(body, limits);
    if (!parsed.isOk() || !parsed->isObject()) return;
    const std::string* wid = stringMember(*parsed, "workflowId");
    if (wid == nullptr) return;
    id = *wid;
  } else if (how == How::kScheduleCreate) {
    const std::string* name = req.json != nullptr && req.json->isObject()
                                  ? stringMember(*req.json, "name")
                                  : nullptr;
    if (name == nullptr) return;
    Learned& l = out.emplace_back();
    l.key.kind = kScheduleLookup;
    l.key.id = *name;
    l.result.found = true;
    l.result.workflow = c.op.workflow;
    l.result.version = c.op.version;
    return;
  } else {
    return;
  }
  if (!plausibleId(id) || c.op.workflow.empty()) return;
  Learned& l = out.emplace_back();
  l.key.kind = kExecutionLookup;
  l.key.id = id;
  l.result.found = true;
  l.result.workflow = c.op.workflow;
  l.result.version = c.op.version;
  l.result.execution = id;
}

std::vector<OperationInfo> ConductorProfile::operations() const {
  std::vector<OperationInfo> ops;
  ops.reserve(std::size(kDefs));
  auto var = [](const char* prefix, const char* name) {
    return std::string(prefix) + " {" + name + "}";
  };
  for (const Def& d : kDefs) {
    OperationInfo o;
    o.method = d.method;
    o.path = d.path;
    o.name = d.name;
    o.actions = d.how == How::kDeny ? "unclassified" : possibleActions(d).toString();
    if (d.how == How::kDeny) {
      o.workflow = o.step = o.execution = "-";
    } else {
      if (d.wf_src != nullptr) {
        o.workflow = d.wf_src;
      } else if (d.wf != nullptr) {
        o.workflow = var("path", d.wf);
      } else if (d.exec != nullptr) {
        o.workflow = var("lookup", d.exec);
      } else if (d.task != nullptr) {
        o.workflow = var("lookup", d.task);
      } else if (d.sched != nullptr) {
        o.workflow = var("lookup schedule", d.sched);
      } else if (d.how == How::kBulkExec) {
        o.workflow = "lookup of each body workflowId";
      } else {
        o.workflow = "-";
      }
      if (d.step_src != nullptr) {
        o.step = d.step_src;
      } else if (d.step != nullptr) {
        o.step = var("path", d.step);
      } else if (d.task != nullptr) {
        o.step = var("lookup", d.task);
      } else {
        o.step = "-";
      }
      if (d.ex_src != nullptr) {
        o.execution = d.ex_src;
      } else if (d.task != nullptr) {
        o.execution = var("lookup", d.task);
      } else if (d.exec != nullptr) {
        o.execution = var("path", d.exec);
      } else if (d.how == How::kBulkExec) {
        o.execution = "body [*] (each one)";
      } else {
        o.execution = "-";
      }
      if (d.version_query) o.workflow += " (+query version)";
      if (d.ver != nullptr) o.workflow += " (+path {" + std::string(d.ver) + "})";
    }
    o.notes = d.notes;
    ops.push_back(std::move(o));
  }
  return ops;
}

}  // namespace

ProfileConstSharedPtr makeConductorProfile(const config::UpstreamConfig& upstream) {
  return std::make_shared<ConductorProfile>(upstream.name);
}

}  // namespace stepgate::orchestrators
