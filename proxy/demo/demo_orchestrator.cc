#include "proxy/demo/demo_orchestrator.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "identity/jwt.h"
#include "proxy/admin/server_thread.h"

namespace stepgate::proxy {

namespace {

constexpr size_t kServerThreads = 4;
constexpr time_t kIoTimeoutSeconds = 5;
constexpr size_t kMaxPayloadBytes = 1 << 20;
constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain";
constexpr const char* kHtml = "text/html; charset=utf-8";

enum class WorkflowStatus : uint8_t { kRunning, kPaused, kCompleted, kTerminated, kFailed };
enum class TaskStatus : uint8_t {
  kScheduled,
  kInProgress,
  kCompleted,
  kFailed,
  kCanceled,
  kSkipped,
};

const char* workflowStatusName(WorkflowStatus s) {
  switch (s) {
    case WorkflowStatus::kRunning: return "RUNNING";
    case WorkflowStatus::kPaused: return "PAUSED";
    case WorkflowStatus::kCompleted: return "COMPLETED";
    case WorkflowStatus::kTerminated: return "TERMINATED";
    case WorkflowStatus::kFailed: return "FAILED";
  }
  return "UNKNOWN";
}

const char* taskStatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kScheduled: return "SCHEDULED";
    case TaskStatus::kInProgress: return "IN_PROGRESS";
    case TaskStatus::kCompleted: return "COMPLETED";
    case TaskStatus::kFailed: return "FAILED";
    case TaskStatus::kCanceled: return "CANCELED";
    case TaskStatus::kSkipped: return "SKIPPED";
  }
  return "UNKNOWN";
}

bool isTerminal(WorkflowStatus s) {
  return s == WorkflowStatus::kCompleted || s == WorkflowStatus::kTerminated ||
         s == WorkflowStatus::kFailed;
}

bool isTerminal(TaskStatus s) {
  return s == TaskStatus::kCompleted || s == TaskStatus::kFailed || s == TaskStatus::kCanceled ||
         s == TaskStatus::kSkipped;
}

// A finished task the workflow moves on from.
bool isDone(TaskStatus s) {
  return s == TaskStatus::kCompleted || s == TaskStatus::kSkipped;
}

int64_t nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct WorkflowTaskDef {
  std::string name;       // task definition name (the task type a worker polls)
  std::string reference;  // taskReferenceName: the step, unique within the definition
  // Non-empty: a compensation step, left out of the normal sequence and scheduled only
  // when the step with this reference name fails.
  std::string compensates;
};

struct WorkflowDef {
  std::string name;
  int version = 1;
  std::string description;
  std::vector<WorkflowTaskDef> tasks;
};

struct Task {
  std::string id;
  std::string workflow_id;
  const WorkflowDef* def = nullptr;
  size_t index = 0;  // position in def->tasks
  TaskStatus status = TaskStatus::kScheduled;
  int seq = 0;
  int retry_count = 0;
  std::string retried_task_id;
  std::string input_json = "{}";
  std::string output_json = "{}";
  std::string reason;
  std::string worker_id;
  int poll_count = 0;
  uint64_t order = 0;  // scheduling order across all workflows
  int64_t scheduled_time = 0;
  int64_t start_time = 0;
  int64_t end_time = 0;
  int64_t update_time = 0;
};

struct Workflow {
  std::string id;
  const WorkflowDef* def = nullptr;
  WorkflowStatus status = WorkflowStatus::kRunning;
  std::string input_json = "{}";
  std::string output_json = "{}";
  std::string correlation_id;
  std::string reason;
  uint64_t order = 0;  // start order
  int64_t create_time = 0;
  int64_t start_time = 0;
  int64_t end_time = 0;
  int64_t update_time = 0;
  std::vector<std::string> task_ids;  // in scheduling order
  std::set<std::string> skip;         // steps to skip when they are reached (skiptask)
};

// An HTTP answer from the store: a status, and a body that is either a plain-text id or
// empty (success) or an error message (>= 400).
struct Outcome {
  int status = 200;
  std::string text;
  bool ok() const { return status < 400; }
};

Outcome fail(int status, std::string message) { return Outcome{status, std::move(message)}; }

// 16 random bytes formatted as an RFC 4122 version 4 UUID.
std::string newUuid(std::random_device& rd) {
  uint8_t b[16];
  for (size_t i = 0; i < sizeof(b); i += 4) {
    const uint32_t r = rd();
    for (size_t j = 0; j < 4; ++j) b[i + j] = static_cast<uint8_t>(r >> (8 * j));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  char out[37];
  snprintf(out, sizeof(out),
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
           b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
  return out;
}

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void key(JsonWriter& w, const char* k) { w.Key(k); }
void str(JsonWriter& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void raw(JsonWriter& w, const char* k, const std::string& json) {
  w.Key(k);
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

std::string serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string errorJson(int status, const std::string& message) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  key(w, "status");
  w.Int(status);
  const char* code = status == 404   ? "NOT_FOUND"
                     : status == 409 ? "CONFLICT"
                     : status == 400 ? "INVALID_INPUT"
                                     : "INTERNAL_ERROR";
  str(w, "code", code);
  str(w, "message", message);
  key(w, "retryable");
  w.Bool(false);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// Parses `body` as a JSON document; an empty body is an empty object.
std::optional<std::string> parseJson(const std::string& body, rapidjson::Document& doc) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    doc.SetObject();
    return std::nullopt;
  }
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError()) {
    return std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) + ": " +
           rapidjson::GetParseError_En(doc.GetParseError());
  }
  return std::nullopt;
}

// Parses a positive decimal version; nullopt if absent, -1 if malformed.
std::optional<int> parseVersion(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > 100000) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// The workflow engine: definitions, executions and tasks, guarded by one mutex. Each public
// method locks it for its whole duration.
class Store {
 public:
  Store() {
    defs_.push_back(WorkflowDef{
        "order-fulfillment",
        1,
        "Reserve stock, charge the card, ship the order; refund the card if shipping fails.",
        {{"reserve_stock", "reserve-stock", ""},
         {"payment", "charge-card", ""},
         {"ship_order", "ship", ""},
         {"payment", "refund", "ship"}}});
    defs_.push_back(WorkflowDef{
        "refund",
        1,
        "Check eligibility, then issue the refund.",
        {{"check_refund_eligibility", "check-eligibility", ""}, {"payment", "issue-refund", ""}}});
  }

  // version 0 or nullopt: the latest.
  Outcome startWorkflow(const std::string& name, std::optional<int> version,
                        std::string input_json, std::string correlation_id) {
    std::lock_guard<std::mutex> lock(mu_);
    const WorkflowDef* def = findDef(name, version);
    if (def == nullptr) {
      return fail(404, "No such workflow found by name: " + name +
                           (version && *version > 0 ? ", version: " + std::to_string(*version)
                                                    : ""));
    }
    Workflow wf;
    wf.id = newUuid(rd_);
    wf.def = def;
    wf.input_json = std::move(input_json);
    wf.correlation_id = std::move(correlation_id);
    wf.create_time = wf.start_time = wf.update_time = nowMillis();
    wf.order = ++started_;
    const std::string id = wf.id;
    Workflow& stored = workflows_.emplace(id, std::move(wf)).first->second;
    advance(stored, nextStep(*def, std::nullopt));
    return Outcome{200, id};
  }

  Outcome pause(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(id);
    if (wf == nullptr) return notFound(id);
    if (isTerminal(wf->status)) {
      return fail(409, "Workflow " + id + " has ended (" + workflowStatusName(wf->status) +
                           "), status cannot be updated");
    }
    wf->status = WorkflowStatus::kPaused;  // pausing a paused workflow is a no-op
    wf->update_time = nowMillis();
    return Outcome{};
  }

  Outcome resume(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(id);
    if (wf == nullptr) return notFound(id);
    if (wf->status != WorkflowStatus::kPaused) {
      return fail(409, "Workflow " + id + " is not PAUSED so cannot resume; it is " +
                           workflowStatusName(wf->status));
    }
    wf->status = WorkflowStatus::kRunning;
    wf->update_time = nowMillis();
    decide(*wf);  // tasks completed while paused advance now
    return Outcome{};
  }

  Outcome terminate(const std::string& id, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(id);
    if (wf == nullptr) return notFound(id);
    if (isTerminal(wf->status)) {
      return fail(409, std::string("Cannot terminate a ") + workflowStatusName(wf->status) +
                           " workflow");
    }
    const int64_t now = nowMillis();
    for (const auto& tid : wf->task_ids) {
      Task& t = tasks_.at(tid);
      if (!isTerminal(t.status)) {
        t.status = TaskStatus::kCanceled;
        t.end_time = t.update_time = now;
      }
    }
    wf->status = WorkflowStatus::kTerminated;
    wf->reason = reason;
    wf->end_time = wf->update_time = now;
    return Outcome{};
  }

  // Re-schedules the last task if it failed or was canceled; the workflow runs again.
  Outcome retry(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(id);
    if (wf == nullptr) return notFound(id);
    if (!isTerminal(wf->status)) {
      return fail(409, "Workflow " + id + " is still " + workflowStatusName(wf->status) +
                           "; only ended workflows can be retried");
    }
    if (wf->task_ids.empty()) return fail(409, "Workflow " + id + " has no tasks");
    const Task& last = tasks_.at(wf->task_ids.back());
    if (last.status != TaskStatus::kFailed && last.status != TaskStatus::kCanceled) {
      return fail(409, "Workflow " + id +
                           " has no failed tasks; use restart to run it again from the start");
    }
    const size_t index = last.index;
    const Task copy = last;
    wf->status = WorkflowStatus::kRunning;
    wf->reason.clear();
    wf->end_time = 0;
    wf->output_json = "{}";
    scheduleTask(*wf, index, &copy);
    return Outcome{};
  }

  // Runs an ended workflow again from its first task, under the same id.
  Outcome restart(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(id);
    if (wf == nullptr) return notFound(id);
    if (!isTerminal(wf->status)) {
      return fail(409, "Workflow " + id + " is still " + workflowStatusName(wf->status) +
                           "; only ended workflows can be restarted");
    }
    for (const auto& tid : wf->task_ids) tasks_.erase(tid);
    wf->task_ids.clear();
    wf->status = WorkflowStatus::kRunning;
    wf->reason.clear();
    wf->output_json = "{}";
    wf->skip.clear();
    wf->start_time = wf->update_time = nowMillis();
    wf->end_time = 0;
    advance(*wf, nextStep(*wf->def, std::nullopt));
    return Outcome{};
  }

  // Runs an ended workflow again: from the task `from_task_id` (that task and every later
  // one are replaced by a new task of the same step), or from the start when it is empty.
  // A non-empty `input_json` replaces the workflow input (whole reruns) or the task input.
  Outcome rerun(const std::string& id, const std::string& from_task_id, std::string input_json) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(id);
    if (wf == nullptr)
      return notFound(id);
    if (!isTerminal(wf->status)) {
      return fail(409, "Workflow " + id + " is still " + workflowStatusName(wf->status) +
                           "; only ended workflows can be rerun");
    }
    size_t from = wf->task_ids.size();
    if (!from_task_id.empty()) {
      auto it = tasks_.find(from_task_id);
      if (it == tasks_.end())
        return fail(404, "No such task found by id: " + from_task_id);
      if (it->second.workflow_id != id) {
        return fail(400, "Task " + from_task_id + " does not belong to workflow " + id);
      }
      for (size_t i = 0; i < wf->task_ids.size(); ++i) {
        if (wf->task_ids[i] == from_task_id)
          from = i;
      }
    }
    const int64_t now = nowMillis();
    wf->status = WorkflowStatus::kRunning;
    wf->reason.clear();
    wf->output_json = "{}";
    wf->end_time = 0;
    wf->update_time = now;
    wf->skip.clear();
    if (from_task_id.empty()) {
      for (const auto& tid : wf->task_ids)
        tasks_.erase(tid);
      wf->task_ids.clear();
      if (!input_json.empty())
        wf->input_json = std::move(input_json);
      wf->start_time = now;
      advance(*wf, nextStep(*wf->def, std::nullopt));
      return Outcome{200, id};
    }
    const Task copy = tasks_.at(from_task_id);
    for (size_t i = from; i < wf->task_ids.size(); ++i)
      tasks_.erase(wf->task_ids[i]);
    wf->task_ids.resize(from);
    scheduleTask(*wf, copy.index, nullptr);
    Task& fresh = tasks_.at(wf->task_ids.back());
    fresh.input_json = input_json.empty() ? copy.input_json : std::move(input_json);
    return Outcome{200, id};
  }

  // Skips the step `ref`: its pending task now, or the step when the workflow reaches it.
  Outcome skipTask(const std::string& id, const std::string& ref) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(id);
    if (wf == nullptr)
      return notFound(id);
    if (wf->status != WorkflowStatus::kRunning) {
      return fail(409, "Workflow " + id + " is " + workflowStatusName(wf->status) +
                           "; only RUNNING workflows can skip tasks");
    }
    const WorkflowTaskDef* step = nullptr;
    for (const auto& t : wf->def->tasks) {
      if (t.reference == ref)
        step = &t;
    }
    if (step == nullptr) {
      return fail(400, "Workflow " + wf->def->name + " has no task with reference name " + ref);
    }
    if (Task* t = latestTask(*wf, ref)) {
      if (isTerminal(t->status)) {
        return fail(409, "Task " + ref + " is already " + taskStatusName(t->status));
      }
      const int64_t now = nowMillis();
      t->status = TaskStatus::kSkipped;
      t->end_time = t->update_time = wf->update_time = now;
      decide(*wf);
      return Outcome{};
    }
    wf->skip.insert(ref);
    wf->update_time = nowMillis();
    return Outcome{};
  }

  Outcome updateTask(const std::string& workflow_id, const std::string& task_id,
                     const std::string& status, std::string output_json,
                     const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return fail(404, "No such task found by id: " + task_id);
    Task& task = it->second;
    if (task.workflow_id != workflow_id) {
      return fail(400, "Task " + task_id + " does not belong to workflow " + workflow_id);
    }
    return setTaskStatus(workflows_.at(workflow_id), task, status, std::move(output_json), reason);
  }

  // POST /api/tasks/{workflowId}/{taskRefName}/{status}: the pending task of that step.
  // On success the text is the task id, or the workflow JSON when `workflow_json`.
  Outcome updateTaskByRef(const std::string& workflow_id, const std::string& ref,
                          const std::string& status, std::string output_json, bool workflow_json) {
    std::lock_guard<std::mutex> lock(mu_);
    Workflow* wf = findWorkflow(workflow_id);
    if (wf == nullptr)
      return notFound(workflow_id);
    Task* task = latestTask(*wf, ref);
    if (task == nullptr || isTerminal(task->status)) {
      return fail(404,
                  "No pending task with reference name " + ref + " in workflow " + workflow_id);
    }
    Outcome o = setTaskStatus(*wf, *task, status, std::move(output_json), "");
    if (o.ok() && workflow_json) {
      rapidjson::StringBuffer buf;
      JsonWriter w(buf);
      writeWorkflow(w, *wf, true);
      o.text.assign(buf.GetString(), buf.GetSize());
    }
    return o;
  }

  // GET /api/tasks/poll/{taskType}: leases the oldest SCHEDULED task of that type in a
  // RUNNING workflow (now IN_PROGRESS); nullopt when there is none.
  std::optional<std::string> poll(const std::string& task_type, const std::string& worker_id) {
    std::lock_guard<std::mutex> lock(mu_);
    Task* best = nullptr;
    for (auto& [id, t] : tasks_) {
      if (t.status != TaskStatus::kScheduled || t.def->tasks[t.index].name != task_type)
        continue;
      if (workflows_.at(t.workflow_id).status != WorkflowStatus::kRunning)
        continue;
      if (best == nullptr || t.order < best->order)
        best = &t;
    }
    if (best == nullptr)
      return std::nullopt;
    const int64_t now = nowMillis();
    best->status = TaskStatus::kInProgress;
    best->worker_id = worker_id;
    best->poll_count += 1;
    best->start_time = best->update_time = now;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    writeTask(w, *best);
    return std::string(buf.GetString(), buf.GetSize());
  }

  // GET /api/workflow/running/{name}: ids of the RUNNING and PAUSED executions, oldest first.
  std::string runningJson(const std::string& name, std::optional<int> version) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<const Workflow*> found;
    for (const auto& [id, wf] : workflows_) {
      if (wf.def->name != name || (version && *version > 0 && wf.def->version != *version)) {
        continue;
      }
      if (wf.status == WorkflowStatus::kRunning || wf.status == WorkflowStatus::kPaused) {
        found.push_back(&wf);
      }
    }
    std::sort(found.begin(), found.end(),
              [](const Workflow* a, const Workflow* b) { return a->order < b->order; });
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartArray();
    for (const Workflow* wf : found)
      w.String(wf->id.data(), static_cast<rapidjson::SizeType>(wf->id.size()));
    w.EndArray();
    return std::string(buf.GetString(), buf.GetSize());
  }

 private:
  Outcome setTaskStatus(Workflow& wf, Task& task, const std::string& status,
                        std::string output_json, const std::string& reason) {
    const std::string& workflow_id = wf.id;
    const std::string task_id = task.id;
    if (isTerminal(wf.status)) {
      return fail(409, "Workflow " + workflow_id + " is " + workflowStatusName(wf.status) +
                           "; its tasks cannot be updated");
    }
    if (isTerminal(task.status)) {
      return fail(409, "Task " + task_id + " is already " + taskStatusName(task.status));
    }
    TaskStatus next;
    if (status == "COMPLETED") {
      next = TaskStatus::kCompleted;
    } else if (status == "FAILED" || status == "FAILED_WITH_TERMINAL_ERROR") {
      next = TaskStatus::kFailed;
    } else if (status == "IN_PROGRESS") {
      next = TaskStatus::kInProgress;
    } else {
      return fail(400, "Unsupported task status: " + status);
    }
    const int64_t now = nowMillis();
    task.status = next;
    task.output_json = std::move(output_json);
    task.update_time = now;
    if (task.start_time == 0) task.start_time = now;
    if (next == TaskStatus::kFailed) {
      task.reason = reason.empty() ? "failed by worker" : reason;
    }
    if (isTerminal(next)) task.end_time = now;
    wf.update_time = now;
    decide(wf);
    return Outcome{200, task_id};
  }

 public:
  // Serialisers: lock, then write. nullopt when the id is unknown.
  std::optional<std::string> workflowJson(const std::string& id, bool include_tasks) {
    std::lock_guard<std::mutex> lock(mu_);
    const Workflow* wf = findWorkflow(id);
    if (wf == nullptr) return std::nullopt;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    writeWorkflow(w, *wf, include_tasks);
    return std::string(buf.GetString(), buf.GetSize());
  }

  std::optional<std::string> taskJson(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return std::nullopt;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    writeTask(w, it->second);
    return std::string(buf.GetString(), buf.GetSize());
  }

  std::string definitionsJson() {
    std::lock_guard<std::mutex> lock(mu_);
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartArray();
    for (const auto& def : defs_) writeDef(w, def);
    w.EndArray();
    return std::string(buf.GetString(), buf.GetSize());
  }

  // "name vN" for every definition, in seeding order.
  std::vector<std::string> definitionLabels() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    out.reserve(defs_.size());
    for (const auto& def : defs_) out.push_back(def.name + " v" + std::to_string(def.version));
    return out;
  }

  std::optional<std::string> definitionJson(const std::string& name, std::optional<int> version) {
    std::lock_guard<std::mutex> lock(mu_);
    const WorkflowDef* def = findDef(name, version);
    if (def == nullptr) return std::nullopt;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    writeDef(w, *def);
    return std::string(buf.GetString(), buf.GetSize());
  }

 private:
  static Outcome notFound(const std::string& id) {
    return fail(404, "No such workflow found by id: " + id);
  }

  // REQUIRES: mu_ held (all private methods).
  const WorkflowDef* findDef(const std::string& name, std::optional<int> version) const {
    const WorkflowDef* best = nullptr;
    for (const auto& def : defs_) {
      if (def.name != name) continue;
      if (version && *version > 0) {
        if (def.version == *version) return &def;
      } else if (best == nullptr || def.version > best->version) {
        best = &def;
      }
    }
    return best;
  }

  Workflow* findWorkflow(const std::string& id) {
    auto it = workflows_.find(id);
    return it == workflows_.end() ? nullptr : &it->second;
  }

  // The most recently scheduled task of step `ref`, or null.
  Task* latestTask(Workflow& wf, const std::string& ref) {
    for (auto it = wf.task_ids.rbegin(); it != wf.task_ids.rend(); ++it) {
      Task& t = tasks_.at(*it);
      if (t.def->tasks[t.index].reference == ref)
        return &t;
    }
    return nullptr;
  }

  // The index of the step after `after` (the first step without it) in the normal sequence,
  // which leaves out compensation steps; def.tasks.size() when there is none.
  static size_t nextStep(const WorkflowDef& def, std::optional<size_t> after) {
    size_t i = after ? *after + 1 : 0;
    while (i < def.tasks.size() && !def.tasks[i].compensates.empty())
      ++i;
    return i;
  }

  // The compensation step of step `ref`, or def.tasks.size().
  static size_t compensationOf(const WorkflowDef& def, const std::string& ref) {
    for (size_t i = 0; i < def.tasks.size(); ++i) {
      if (def.tasks[i].compensates == ref)
        return i;
    }
    return def.tasks.size();
  }

  // Schedules step `index`, skipping it (and going on) when skiptask named it; past the
  // last step the workflow completes with the last task's output.
  void advance(Workflow& wf, size_t index) {
    for (;;) {
      const int64_t now = nowMillis();
      if (index >= wf.def->tasks.size()) {
        wf.status = WorkflowStatus::kCompleted;
        wf.output_json =
            wf.task_ids.empty() ? std::string("{}") : tasks_.at(wf.task_ids.back()).output_json;
        wf.end_time = wf.update_time = now;
        return;
      }
      scheduleTask(wf, index, nullptr);
      const std::string& ref = wf.def->tasks[index].reference;
      if (wf.skip.erase(ref) == 0)
        return;
      Task& t = tasks_.at(wf.task_ids.back());
      t.status = TaskStatus::kSkipped;
      t.end_time = t.update_time = now;
      index = nextStep(*wf.def, index);
    }
  }

  void scheduleTask(Workflow& wf, size_t index, const Task* retried) {
    Task t;
    t.id = newUuid(rd_);
    t.workflow_id = wf.id;
    t.def = wf.def;
    t.index = index;
    t.seq = static_cast<int>(wf.task_ids.size()) + 1;
    t.input_json = wf.task_ids.empty() ? wf.input_json
                                       : tasks_.at(wf.task_ids.back()).output_json;  // previous
    if (retried != nullptr) {
      t.retry_count = retried->retry_count + 1;
      t.retried_task_id = retried->id;
      t.input_json = retried->input_json;
    }
    t.scheduled_time = t.update_time = nowMillis();
    t.order = ++scheduled_;
    wf.task_ids.push_back(t.id);
    const std::string id = t.id;
    tasks_.emplace(id, std::move(t));
  }

  // Advances a running workflow after its last task changed.
  void decide(Workflow& wf) {
    if (wf.status != WorkflowStatus::kRunning || wf.task_ids.empty()) return;
    const Task& last = tasks_.at(wf.task_ids.back());
    const WorkflowTaskDef& step = wf.def->tasks[last.index];
    const int64_t now = nowMillis();
    if (isDone(last.status)) {
      if (step.compensates.empty()) {
        advance(wf, nextStep(*wf.def, last.index));
      } else {
        // The failure was compensated; the order still was not fulfilled.
        wf.status = WorkflowStatus::kFailed;
        wf.reason += (wf.reason.empty() ? "" : "; ") + ("compensated by " + step.reference);
        wf.end_time = wf.update_time = now;
      }
    } else if (last.status == TaskStatus::kFailed) {
      wf.reason = "Task " + last.id + " (" + step.reference + ") failed: " + last.reason;
      const size_t comp =
          step.compensates.empty() ? compensationOf(*wf.def, step.reference) : wf.def->tasks.size();
      if (comp < wf.def->tasks.size()) {
        scheduleTask(wf, comp, nullptr);  // the workflow keeps running
        wf.update_time = now;
        return;
      }
      wf.status = WorkflowStatus::kFailed;
      wf.end_time = wf.update_time = now;
    }
  }

  void writeTask(JsonWriter& w, const Task& t) const {
    const WorkflowTaskDef& step = t.def->tasks[t.index];
    const Workflow& wf = workflows_.at(t.workflow_id);
    w.StartObject();
    str(w, "taskId", t.id);
    str(w, "taskType", "SIMPLE");
    str(w, "status", taskStatusName(t.status));
    str(w, "referenceTaskName", step.reference);
    str(w, "taskDefName", step.name);
    str(w, "workflowInstanceId", t.workflow_id);
    str(w, "workflowType", t.def->name);
    if (!wf.correlation_id.empty()) str(w, "correlationId", wf.correlation_id);
    key(w, "seq");
    w.Int(t.seq);
    key(w, "retryCount");
    w.Int(t.retry_count);
    if (!t.retried_task_id.empty()) str(w, "retriedTaskId", t.retried_task_id);
    if (!t.worker_id.empty()) str(w, "workerId", t.worker_id);
    key(w, "pollCount");
    w.Int(t.poll_count);
    raw(w, "inputData", t.input_json);
    raw(w, "outputData", t.output_json);
    if (!t.reason.empty()) str(w, "reasonForIncompletion", t.reason);
    key(w, "scheduledTime");
    w.Int64(t.scheduled_time);
    key(w, "startTime");
    w.Int64(t.start_time);
    key(w, "endTime");
    w.Int64(t.end_time);
    key(w, "updateTime");
    w.Int64(t.update_time);
    w.EndObject();
  }

  void writeWorkflow(JsonWriter& w, const Workflow& wf, bool include_tasks) const {
    w.StartObject();
    str(w, "workflowId", wf.id);
    str(w, "workflowName", wf.def->name);
    key(w, "workflowVersion");
    w.Int(wf.def->version);
    str(w, "status", workflowStatusName(wf.status));
    raw(w, "input", wf.input_json);
    raw(w, "output", wf.output_json);
    if (!wf.correlation_id.empty()) str(w, "correlationId", wf.correlation_id);
    if (!wf.reason.empty()) str(w, "reasonForIncompletion", wf.reason);
    key(w, "createTime");
    w.Int64(wf.create_time);
    key(w, "startTime");
    w.Int64(wf.start_time);
    key(w, "endTime");
    w.Int64(wf.end_time);
    key(w, "updateTime");
    w.Int64(wf.update_time);
    key(w, "tasks");
    w.StartArray();
    if (include_tasks) {
      for (const auto& tid : wf.task_ids) writeTask(w, tasks_.at(tid));
    }
    w.EndArray();
    w.EndObject();
  }

  static void writeDef(JsonWriter& w, const WorkflowDef& def) {
    w.StartObject();
    str(w, "name", def.name);
    str(w, "description", def.description);
    key(w, "version");
    w.Int(def.version);
    key(w, "schemaVersion");
    w.Int(2);
    key(w, "restartable");
    w.Bool(true);
    key(w, "tasks");
    w.StartArray();
    for (const auto& t : def.tasks) {
      w.StartObject();
      str(w, "name", t.name);
      str(w, "taskReferenceName", t.reference);
      str(w, "type", "SIMPLE");
      if (!t.compensates.empty()) {
        // Not a Conductor field: where the demo's compensation step runs.
        str(w, "description", "runs only when " + t.compensates + " fails");
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }

  std::mutex mu_;
  std::random_device rd_;                      // GUARDED_BY(mu_)
  std::vector<WorkflowDef> defs_;              // never changes after construction
  std::map<std::string, Workflow> workflows_;  // GUARDED_BY(mu_)
  std::map<std::string, Task> tasks_;          // GUARDED_BY(mu_)
  uint64_t scheduled_ = 0;                     // GUARDED_BY(mu_): tasks scheduled so far
  uint64_t started_ = 0;                       // GUARDED_BY(mu_): workflows started so far
};

// ---- the web page (GET /) --------------------------------------------------------------

// The header in which stepgate sends an upstream its identity assertion: the default of an
// upstream's `identity_assertion.header` (docs/config.md).
constexpr const char* kIdentityHeader = "X-Stepgate-Identity";
constexpr size_t kMaxAssertionBytes = 8192;
constexpr size_t kMaxSubjectBytes = 512;

// Inline, so the page fetches nothing; the Content-Security-Policy allows exactly these two
// by their hashes.
constexpr std::string_view kPageStyle = R"css(
body{font:15px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem;margin-bottom:.25rem}
.note{color:#5b6475;font-size:.85rem;margin-top:0}
button{font:inherit;padding:.35rem .9rem;margin:0 .5rem .5rem 0;cursor:pointer}
pre{background:#f2f3f6;padding:.75rem;min-height:1.5em;white-space:pre-wrap;word-break:break-all}
)css";

// Start: reads the CSRF token of the stepgate session (when there is one) and sends it with
// the start; the second button sends the start without it.
constexpr std::string_view kPageScript = R"js(
(function () {
  'use strict';
  var result = document.getElementById('result');
  var csrf = '';
  function show(text) { result.textContent = text; }
  async function readCsrf() {
    csrf = '';
    try {
      var r = await fetch('/.stepgate/session', {credentials: 'same-origin'});
      if (r.status !== 200) return;
      var s = await r.json();
      if (s && typeof s.csrf_token === 'string' && s.csrf_token !== '') csrf = s.csrf_token;
    } catch (e) {
      csrf = '';
    }
  }
  async function start(withCsrf) {
    var headers = {'Content-Type': 'application/json'};
    if (withCsrf && csrf) headers['X-CSRF-Token'] = csrf;
    try {
      var r = await fetch('/api/workflow/order-fulfillment',
          {method: 'POST', credentials: 'same-origin', headers: headers, body: '{}'});
      var body = await r.text();
      show(r.ok ? 'started ' + body.trim() : 'error ' + r.status + ' ' + body.slice(0, 200));
    } catch (e) {
      show('error 0 ' + String(e).slice(0, 200));
    }
  }
  document.getElementById('start').addEventListener('click', async function () {
    show('');
    await readCsrf();
    await start(true);
  });
  document.getElementById('start-no-csrf').addEventListener('click', async function () {
    show('');
    await start(false);
  });
})();
)js";

// "'sha256-<base64>'" of `text`, a CSP hash source.
std::string cspHash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return "'none'";
  }
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(b64, digest, static_cast<int>(len));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64), static_cast<size_t>(n)) +
         "'";
}

const std::string& pageSecurityPolicy() {
  static const std::string policy =
      "default-src 'none'; script-src " + cspHash(kPageScript) + "; style-src " +
      cspHash(kPageStyle) +
      "; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  return policy;
}

std::string htmlEscape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// One part of a compact JWS, strict unpadded base64url, decoded; nullopt if it is not.
std::optional<std::string> decodePart(std::string_view part) {
  std::string out;
  if (!identity::base64UrlDecode(part, out)) return std::nullopt;
  return out;
}

bool isJsonObject(const std::string& text) {
  auto v = stepgate::parseJson(text, JsonLimits{kMaxAssertionBytes, 16});
  return v.isOk() && v->isObject();
}

// The `sub` claim of an identity assertion, read WITHOUT verifying its signature (the page
// only shows it). nullopt unless `token` is three dot-separated parts, the first two strict
// base64url of strict JSON objects and the third strict base64url, with `sub` a non-empty
// string of at most kMaxSubjectBytes without control characters.
std::optional<std::string> unverifiedSubject(std::string_view token) {
  if (token.empty() || token.size() > kMaxAssertionBytes) return std::nullopt;
  const size_t first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view header = token.substr(0, first);
  const std::string_view payload = token.substr(first + 1, second - first - 1);
  const std::string_view signature = token.substr(second + 1);
  if (header.empty() || payload.empty()) return std::nullopt;
  const auto header_json = decodePart(header);
  const auto payload_json = decodePart(payload);
  if (!header_json || !payload_json || !decodePart(signature)) return std::nullopt;
  if (!isJsonObject(*header_json)) return std::nullopt;
  auto claims = stepgate::parseJson(*payload_json, JsonLimits{kMaxAssertionBytes, 16});
  if (!claims.isOk() || !claims->isObject()) return std::nullopt;
  const JsonValue* sub = claims->find("sub");
  if (sub == nullptr || !sub->isString()) return std::nullopt;
  const std::string& s = sub->asString();
  if (s.empty() || s.size() > kMaxSubjectBytes) return std::nullopt;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return std::nullopt;
  }
  return s;
}

// The page: who the identity assertion names, the definitions, and buttons that start an
// order-fulfillment run through whatever serves this page (stepgate, in the demo).
std::string renderPage(const httplib::Request& req, const std::vector<std::string>& definitions) {
  std::string who;
  bool asserted = false;
  const size_t assertions = req.get_header_value_count(kIdentityHeader);
  if (assertions == 0) {
    who = "No identity assertion received";
  } else {
    asserted = true;
    // More than one assertion is ambiguous: shown as unreadable, like a malformed one.
    const auto sub = assertions == 1
                         ? unverifiedSubject(req.get_header_value(kIdentityHeader))
                         : std::nullopt;
    who = sub ? "Signed in as " + htmlEscape(*sub)
              : std::string("Signed in as (unreadable assertion)");
  }
  std::string page;
  page.reserve(4096);
  page +=
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>Demo orchestrator</title>\n<style>";
  page += kPageStyle;
  page +=
      "</style>\n</head>\n<body>\n<h1 id=\"title\">Demo orchestrator</h1>\n"
      "<p id=\"who\">";
  page += who;
  page += "</p>\n";
  if (asserted) {
    page += "<p id=\"who-note\" class=\"note\">From the " + htmlEscape(kIdentityHeader) +
            " header: as asserted by the proxy; this demo does not verify it.</p>\n";
  }
  page += "<h2>Workflow definitions</h2>\n<ul id=\"definitions\">\n";
  for (const auto& d : definitions) page += "<li>" + htmlEscape(d) + "</li>\n";
  page +=
      "</ul>\n<p>\n<button id=\"start\" type=\"button\">Start order-fulfillment</button>\n"
      "<button id=\"start-no-csrf\" type=\"button\">Start order-fulfillment without the CSRF "
      "token</button>\n</p>\n<pre id=\"result\"></pre>\n<script>";
  page += kPageScript;
  page += "</script>\n</body>\n</html>\n";
  return page;
}

void sendError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(errorJson(status, message), kJson);
}

void sendOutcome(httplib::Response& res, const Outcome& o) {
  if (!o.ok()) {
    sendError(res, o.status, o.text);
    return;
  }
  res.status = o.status;
  if (!o.text.empty()) res.set_content(o.text, kText);
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

}  // namespace

class DemoOrchestrator::Impl {
 public:
  ~Impl() { runner_.stop(); }

  Status start(const SocketAddress& addr) {
    try {
      configure();
    } catch (const std::exception& e) {
      return internalError(std::string("demo orchestrator setup failed: ") + e.what());
    }
    return runner_.start(server_, addr);
  }

  uint16_t port() const noexcept { return runner_.port(); }
  void stop() noexcept { runner_.stop(); }

 private:
  using Req = httplib::Request;
  using Res = httplib::Response;

  void configure() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
    server_.set_read_timeout(kIoTimeoutSeconds, 0);
    server_.set_write_timeout(kIoTimeoutSeconds, 0);
    server_.set_payload_max_length(kMaxPayloadBytes);

    server_.Get("/", [this](const Req& req, Res& res) {  // also HEAD (cpp-httplib)
      res.set_header("Cache-Control", "no-store");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Content-Security-Policy", pageSecurityPolicy());
      res.set_content(renderPage(req, store_.definitionLabels()), kHtml);
    });
    server_.Get("/health", [](const Req&, Res& res) {
      res.set_content("{\"healthy\":true}", kJson);
    });
    server_.Post("/api/workflow", [this](const Req& req, Res& res) { startRequest(req, res); });
    server_.Post(R"(/api/workflow/([^/]+))",
                 [this](const Req& req, Res& res) { startByName(req, res); });
    server_.Get(R"(/api/workflow/([^/]+))", [this](const Req& req, Res& res) {
      const bool include_tasks = param(req, "includeTasks") != "false";
      auto json = store_.workflowJson(req.matches[1], include_tasks);
      if (!json) return sendError(res, 404, "No such workflow found by id: " +
                                                std::string(req.matches[1]));
      res.set_content(*json, kJson);
    });
    server_.Put(R"(/api/workflow/([^/]+)/pause)", [this](const Req& req, Res& res) {
      sendOutcome(res, store_.pause(req.matches[1]));
    });
    server_.Put(R"(/api/workflow/([^/]+)/resume)", [this](const Req& req, Res& res) {
      sendOutcome(res, store_.resume(req.matches[1]));
    });
    server_.Delete(R"(/api/workflow/([^/]+))", [this](const Req& req, Res& res) {
      sendOutcome(res, store_.terminate(req.matches[1], param(req, "reason")));
    });
    server_.Post(R"(/api/workflow/([^/]+)/retry)", [this](const Req& req, Res& res) {
      sendOutcome(res, store_.retry(req.matches[1]));
    });
    server_.Post(R"(/api/workflow/([^/]+)/restart)", [this](const Req& req, Res& res) {
      sendOutcome(res, store_.restart(req.matches[1]));
    });
    server_.Post(R"(/api/workflow/([^/]+)/rerun)",
                 [this](const Req& req, Res& res) { rerun(req, res); });
    server_.Put(R"(/api/workflow/([^/]+)/skiptask/([^/]+))", [this](const Req& req, Res& res) {
      sendOutcome(res, store_.skipTask(req.matches[1], req.matches[2]));
    });
    server_.Get(R"(/api/workflow/running/([^/]+))", [this](const Req& req, Res& res) {
      const std::optional<int> version = parseVersion(param(req, "version"));
      if (version && *version < 0)
        return sendError(res, 400, "Invalid version");
      res.set_content(store_.runningJson(req.matches[1], version), kJson);
    });
    server_.Post("/api/tasks", [this](const Req& req, Res& res) { updateTask(req, res); });
    server_.Get(R"(/api/tasks/poll/([^/]+))", [this](const Req& req, Res& res) {
      auto json = store_.poll(req.matches[1], param(req, "workerid"));
      if (!json) {
        res.status = 204;  // nothing to do
        return;
      }
      res.set_content(*json, kJson);
    });
    server_.Post(R"(/api/tasks/([^/]+)/([^/]+)/([^/]+))",
                 [this](const Req& req, Res& res) { updateTaskByRef(req, res, /*sync=*/false); });
    server_.Post(R"(/api/tasks/([^/]+)/([^/]+)/([^/]+)/sync)",
                 [this](const Req& req, Res& res) { updateTaskByRef(req, res, /*sync=*/true); });
    server_.Get(R"(/api/tasks/([^/]+))", [this](const Req& req, Res& res) {
      auto json = store_.taskJson(req.matches[1]);
      if (!json) {
        return sendError(res, 404, "No such task found by id: " + std::string(req.matches[1]));
      }
      res.set_content(*json, kJson);
    });
    server_.Get("/api/metadata/workflow", [this](const Req&, Res& res) {
      res.set_content(store_.definitionsJson(), kJson);
    });
    server_.Get(R"(/api/metadata/workflow/([^/]+))", [this](const Req& req, Res& res) {
      const std::optional<int> version = parseVersion(param(req, "version"));
      if (version && *version < 0) return sendError(res, 400, "Invalid version");
      auto json = store_.definitionJson(req.matches[1], version);
      if (!json) {
        return sendError(res, 404, "No such workflow definition: " + std::string(req.matches[1]));
      }
      res.set_content(*json, kJson);
    });

    // Called for every status >= 400; fill in a JSON body only where a handler left none.
    server_.set_error_handler([](const Req& req, Res& res) {
      if (!res.body.empty()) return;
      res.set_content(errorJson(res.status, res.status == 404 ? "No route for " + req.method +
                                                                    " " + req.path
                                                              : "Request refused"),
                      kJson);
    });
    server_.set_exception_handler([](const Req&, Res& res, std::exception_ptr) {
      sendError(res, 500, "internal error");
    });
  }

  void startByName(const Req& req, Res& res) {
    const std::optional<int> version = parseVersion(param(req, "version"));
    if (version && *version < 0) return sendError(res, 400, "Invalid version");
    rapidjson::Document input;
    if (auto err = parseJson(req.body, input)) return sendError(res, 400, *err);
    if (!input.IsObject()) return sendError(res, 400, "The workflow input must be an object");
    sendOutcome(res, store_.startWorkflow(req.matches[1], version, serialize(input),
                                          param(req, "correlationId")));
  }

  void startRequest(const Req& req, Res& res) {
    rapidjson::Document body;
    if (auto err = parseJson(req.body, body)) return sendError(res, 400, *err);
    if (!body.IsObject()) return sendError(res, 400, "StartWorkflowRequest must be an object");
    if (body.HasMember("workflowDef")) {
      return sendError(res, 400, "Inline workflow definitions are not supported");
    }
    if (!body.HasMember("name") || !body["name"].IsString() ||
        body["name"].GetStringLength() == 0) {
      return sendError(res, 400, "Workflow name cannot be null or empty");
    }
    std::optional<int> version;
    if (body.HasMember("version") && !body["version"].IsNull()) {
      if (!body["version"].IsInt() || body["version"].GetInt() < 0) {
        return sendError(res, 400, "version must be a non-negative integer");
      }
      version = body["version"].GetInt();
    }
    std::string input = "{}";
    if (body.HasMember("input") && !body["input"].IsNull()) {
      if (!body["input"].IsObject()) return sendError(res, 400, "input must be an object");
      input = serialize(body["input"]);
    }
    std::string correlation_id;
    if (body.HasMember("correlationId") && !body["correlationId"].IsNull()) {
      if (!body["correlationId"].IsString()) {
        return sendError(res, 400, "correlationId must be a string");
      }
      correlation_id = body["correlationId"].GetString();
    }
    sendOutcome(res, store_.startWorkflow(body["name"].GetString(), version, std::move(input),
                                          std::move(correlation_id)));
  }

  void updateTask(const Req& req, Res& res) {
    rapidjson::Document body;
    if (auto err = parseJson(req.body, body)) return sendError(res, 400, *err);
    if (!body.IsObject()) return sendError(res, 400, "TaskResult must be an object");
    auto text = [&](const char* name) -> std::string {
      if (!body.HasMember(name) || !body[name].IsString()) return std::string();
      return body[name].GetString();
    };
    const std::string workflow_id = text("workflowInstanceId");
    const std::string task_id = text("taskId");
    const std::string status = text("status");
    if (workflow_id.empty()) return sendError(res, 400, "Workflow Id cannot be null or empty");
    if (task_id.empty()) return sendError(res, 400, "Task ID cannot be null or empty");
    if (status.empty()) return sendError(res, 400, "Task status cannot be null or empty");
    std::string output = "{}";
    if (body.HasMember("outputData") && !body["outputData"].IsNull()) {
      if (!body["outputData"].IsObject()) return sendError(res, 400, "outputData must be an object");
      output = serialize(body["outputData"]);
    }
    sendOutcome(res, store_.updateTask(workflow_id, task_id, status, std::move(output),
                                       text("reasonForIncompletion")));
  }

  // Body: the task's output (an object; empty is {}).
  void updateTaskByRef(const Req& req, Res& res, bool sync) {
    rapidjson::Document body;
    if (auto err = parseJson(req.body, body))
      return sendError(res, 400, *err);
    if (!body.IsObject())
      return sendError(res, 400, "The task output must be an object");
    Outcome o = store_.updateTaskByRef(req.matches[1], req.matches[2], req.matches[3],
                                       serialize(body), sync);
    if (sync && o.ok()) {
      res.status = o.status;
      res.set_content(o.text, kJson);
      return;
    }
    sendOutcome(res, o);
  }

  // RerunWorkflowRequest {reRunFromWorkflowId, workflowInput, reRunFromTaskId, taskInput,
  // correlationId}; reRunFromWorkflowId is the path's (the server overwrites it).
  void rerun(const Req& req, Res& res) {
    rapidjson::Document body;
    if (auto err = parseJson(req.body, body))
      return sendError(res, 400, *err);
    if (!body.IsObject())
      return sendError(res, 400, "RerunWorkflowRequest must be an object");
    std::string from;
    if (body.HasMember("reRunFromTaskId") && !body["reRunFromTaskId"].IsNull()) {
      if (!body["reRunFromTaskId"].IsString()) {
        return sendError(res, 400, "reRunFromTaskId must be a string");
      }
      from = body["reRunFromTaskId"].GetString();
    }
    const char* input_member = from.empty() ? "workflowInput" : "taskInput";
    std::string input;
    if (body.HasMember(input_member) && !body[input_member].IsNull()) {
      if (!body[input_member].IsObject()) {
        return sendError(res, 400, std::string(input_member) + " must be an object");
      }
      input = serialize(body[input_member]);
    }
    sendOutcome(res, store_.rerun(req.matches[1], from, std::move(input)));
  }

  Store store_;
  httplib::Server server_;
  ServerThread<httplib::Server> runner_;
};

StatusOr<DemoOrchestratorPtr> DemoOrchestrator::start(const SocketAddress& addr) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>();
  } catch (const std::exception& e) {
    return internalError(std::string("demo orchestrator: ") + e.what());
  }
  RETURN_IF_ERROR(impl->start(addr));
  return DemoOrchestratorPtr(new DemoOrchestrator(std::move(impl)));
}

DemoOrchestrator::DemoOrchestrator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DemoOrchestrator::~DemoOrchestrator() { stop(); }

uint16_t DemoOrchestrator::port() const noexcept { return impl_->port(); }

void DemoOrchestrator::stop() noexcept { impl_->stop(); }

}  // namespace stepgate::proxy
