#pragma once
// DemoOrchestrator: a small in-memory server speaking a subset of the Conductor REST API,
// for `stepgate demo` and the tests. It is an upstream to put stepgate in front of, not
// part of the request path, and keeps everything in memory until it is destroyed.
//
// Seeded definitions (task reference name / task definition name):
//   order-fulfillment v1: reserve-stock/reserve_stock, charge-card/payment, ship/ship_order,
//                         refund/payment (compensation: runs only when ship fails)
//   refund v1:            check-eligibility/check_refund_eligibility, issue-refund/payment
// The task definition `payment` is shared on purpose: a step is named by its reference
// name, never by its task type.
//
// Endpoints (JSON bodies; errors are {"status","code","message","retryable"}):
//   POST   /api/workflow/{name}[?version=&correlationId=]  body: input  → workflowId (text)
//   POST   /api/workflow      StartWorkflowRequest {name, version, input, correlationId}
//   GET    /api/workflow/{workflowId}[?includeTasks=true]  → Workflow (workflowId,
//          workflowName, workflowVersion, status, tasks, ...)
//   GET    /api/workflow/running/{name}[?version=]         → [workflowId] (RUNNING, PAUSED)
//   PUT    /api/workflow/{workflowId}/pause | /resume
//   DELETE /api/workflow/{workflowId}[?reason=]            terminate
//   POST   /api/workflow/{workflowId}/retry | /restart
//   POST   /api/workflow/{workflowId}/rerun  RerunWorkflowRequest {reRunFromTaskId,
//          taskInput, workflowInput}                      → workflowId (text)
//   PUT    /api/workflow/{workflowId}/skiptask/{taskReferenceName}
//   POST   /api/tasks         TaskResult {workflowInstanceId, taskId, status, outputData}
//                                                         → taskId (text)
//   POST   /api/tasks/{workflowId}/{taskRefName}/{status}[/sync]  body: output
//                                                         → taskId (text) | Workflow (sync)
//   GET    /api/tasks/poll/{taskType}[?workerid=]          → Task (now IN_PROGRESS) | 204
//   GET    /api/tasks/{taskId}                             → Task (taskId, workflowInstanceId,
//          workflowType, referenceTaskName, status, ...)
//   GET    /api/metadata/workflow[/{name}[?version=]]      → WorkflowDef(s)
//   GET    /health                                         → {"healthy":true}
//   GET    /  (and HEAD)                                   → text/html; charset=utf-8: a small
//          self-contained page (inline CSS and script, nothing fetched elsewhere) for
//          browsers reaching the orchestrator through stepgate: the `sub` of the identity
//          assertion in X-Stepgate-Identity (the default header name; read, NOT verified),
//          the definitions, and buttons that start order-fulfillment with and without the
//          session's CSRF token (read from /.stepgate/session).
// Steps run in definition order: starting schedules the first; completing (or skipping)
// one schedules the next or completes the workflow (its output is the last task's output).
// A failed step fails the workflow, unless a compensation step names it: then that step
// is scheduled and the workflow ends FAILED once it is done. Task statuses: COMPLETED,
// FAILED, FAILED_WITH_TERMINAL_ERROR, IN_PROGRESS. retry re-schedules the last task of an
// ended workflow if it failed or was canceled; restart runs it again from the start; rerun
// does either from a given task (dropping that task and the later ones) or from the start.
// skiptask skips the pending task of that step, or the step once it is reached. Invalid
// transitions answer 409, a task update whose workflowInstanceId does not own the task
// 400, unknown ids 404.
//
// Threads: served by a pool of cpp-httplib threads; all state sits behind one mutex.
// start() and stop() are called from the controlling thread; the destructor stops.

#include <cstdint>
#include <memory>

#include "common/net_address.h"
#include "common/status.h"

namespace stepgate::proxy {

class DemoOrchestrator;
using DemoOrchestratorPtr = std::unique_ptr<DemoOrchestrator>;

class DemoOrchestrator {
 public:
  // Binds `addr` (port 0 picks a free port) and starts serving.
  // @return the running server, or Unavailable if the address cannot be bound.
  [[nodiscard]] static StatusOr<DemoOrchestratorPtr> start(const SocketAddress& addr);

  DemoOrchestrator(const DemoOrchestrator&) = delete;
  DemoOrchestrator& operator=(const DemoOrchestrator&) = delete;
  ~DemoOrchestrator();

  // The bound port; the actual one when started on port 0.
  uint16_t port() const noexcept;

  // Stops accepting, finishes in-flight requests and joins the server threads. Idempotent.
  void stop() noexcept;

 private:
  class Impl;
  explicit DemoOrchestrator(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace stepgate::proxy
