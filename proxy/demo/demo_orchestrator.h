#pragma once
// DemoOrchestrator: a small in-memory server speaking a subset of the Conductor REST API,
// for `stepgate demo` and the tests. It is an upstream to put stepgate in front of, not
// part of the request path, and keeps everything in memory until it is destroyed.
//
// Seeded definitions (task reference name / task definition name):
//   order-fulfillment v1: reserve-stock/reserve_stock, charge-card/payment, ship/ship_order
//   refund v1:            check-eligibility/check_refund_eligibility, issue-refund/payment
// The task definition `payment` is shared by both workflows on purpose: a step is named by
// its reference name, never by its task type.
//
// Endpoints (JSON bodies; errors are {"status","code","message","retryable"}):
//   POST   /api/workflow/{name}[?version=&correlationId=]  body: input  → workflowId (text)
//   POST   /api/workflow      StartWorkflowRequest {name, version, input, correlationId}
//   GET    /api/workflow/{workflowId}[?includeTasks=true]  → Workflow
//   PUT    /api/workflow/{workflowId}/pause | /resume
//   DELETE /api/workflow/{workflowId}[?reason=]            terminate
//   POST   /api/workflow/{workflowId}/retry | /restart
//   POST   /api/tasks         TaskResult {workflowInstanceId, taskId, status, outputData}
//   GET    /api/tasks/{taskId}                             → Task
//   GET    /api/metadata/workflow[/{name}[?version=]]      → WorkflowDef(s)
//   GET    /health                                         → {"healthy":true}
// Tasks run in definition order: starting schedules the first task; completing one
// schedules the next or completes the workflow (its output is the last task's output);
// failing one fails the workflow. Invalid transitions answer 409, a task update whose
// workflowInstanceId does not own the task 400, unknown ids 404.
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
