#include "proxy/demo/demo_orchestrator.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "identity/jwt.h"
#include "tests/unit/control/raw_http_client.h"

namespace stepgate::proxy {
namespace {

using stepgate::testing::RawResponse;
using stepgate::testing::rawRequest;

class DemoOrchestratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto addr = parseSocketAddress("127.0.0.1:0", /*allow_zero_port=*/true);
    ASSERT_TRUE(addr.isOk());
    auto server = DemoOrchestrator::start(*addr);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
  }

  RawResponse call(const std::string& method, const std::string& target,
                   const std::string& body = "") {
    return rawRequest(server_->port(), method, target, body);
  }

  static rapidjson::Document json(const RawResponse& r) {
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    EXPECT_FALSE(d.HasParseError()) << r.body;
    return d;
  }

  std::string start(const std::string& name, const std::string& input = "{}") {
    auto r = call("POST", "/api/workflow/" + name, input);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }

  rapidjson::Document workflow(const std::string& id) {
    auto r = call("GET", "/api/workflow/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return json(r);
  }

  // Id of the last task of the workflow.
  std::string lastTaskId(const std::string& id) {
    auto wf = workflow(id);
    const auto& tasks = wf["tasks"].GetArray();
    EXPECT_GT(tasks.Size(), 0u);
    return tasks[tasks.Size() - 1]["taskId"].GetString();
  }

  RawResponse updateTask(const std::string& wf, const std::string& task, const char* status,
                         const std::string& output = "{}") {
    return call("POST", "/api/tasks",
                "{\"workflowInstanceId\":\"" + wf + "\",\"taskId\":\"" + task +
                    "\",\"status\":\"" + status + "\",\"outputData\":" + output + "}");
  }

  static std::string status(const rapidjson::Document& wf) { return wf["status"].GetString(); }

  DemoOrchestratorPtr server_;
};

bool isUuidV4(const std::string& s) {
  static const std::regex kUuid(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(s, kUuid);
}

TEST_F(DemoOrchestratorTest, Health) {
  auto r = call("GET", "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"healthy\":true}");
}

TEST_F(DemoOrchestratorTest, StartByNameSchedulesTheFirstTask) {
  auto r = call("POST", "/api/workflow/order-fulfillment", "{\"orderId\":\"o-1\"}");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"].rfind("text/plain", 0), 0u);
  const std::string id = r.body;
  EXPECT_TRUE(isUuidV4(id)) << id;

  auto wf = workflow(id);
  EXPECT_STREQ(wf["workflowId"].GetString(), id.c_str());
  EXPECT_STREQ(wf["workflowName"].GetString(), "order-fulfillment");
  EXPECT_EQ(wf["workflowVersion"].GetInt(), 1);
  EXPECT_EQ(status(wf), "RUNNING");
  EXPECT_STREQ(wf["input"]["orderId"].GetString(), "o-1");
  EXPECT_GT(wf["startTime"].GetInt64(), 0);
  EXPECT_EQ(wf["endTime"].GetInt64(), 0);
  ASSERT_EQ(wf["tasks"].Size(), 1u);
  const auto& t = wf["tasks"][0];
  EXPECT_STREQ(t["referenceTaskName"].GetString(), "reserve-stock");
  EXPECT_STREQ(t["taskDefName"].GetString(), "reserve_stock");
  EXPECT_STREQ(t["taskType"].GetString(), "SIMPLE");
  EXPECT_STREQ(t["status"].GetString(), "SCHEDULED");
  EXPECT_STREQ(t["workflowInstanceId"].GetString(), id.c_str());
  EXPECT_TRUE(isUuidV4(t["taskId"].GetString()));

  auto without = json(call("GET", "/api/workflow/" + id + "?includeTasks=false"));
  EXPECT_EQ(without["tasks"].Size(), 0u);
}

TEST_F(DemoOrchestratorTest, StartWithRequestBody) {
  auto r = call("POST", "/api/workflow",
                R"({"name":"refund","version":1,"input":{"orderId":"o-9"},"correlationId":"c-1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto wf = workflow(r.body);
  EXPECT_STREQ(wf["workflowName"].GetString(), "refund");
  EXPECT_STREQ(wf["correlationId"].GetString(), "c-1");
  EXPECT_STREQ(wf["input"]["orderId"].GetString(), "o-9");
  EXPECT_STREQ(wf["tasks"][0]["referenceTaskName"].GetString(), "check-eligibility");
}

TEST_F(DemoOrchestratorTest, StartErrors) {
  auto r = call("POST", "/api/workflow/no-such-flow", "{}");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json(r)["status"].GetInt(), 404);
  EXPECT_EQ(call("POST", "/api/workflow/refund?version=7", "{}").status, 404);
  EXPECT_EQ(call("POST", "/api/workflow/refund?version=x", "{}").status, 400);
  EXPECT_EQ(call("POST", "/api/workflow/refund", "{not json").status, 400);
  EXPECT_EQ(call("POST", "/api/workflow/refund", "[1]").status, 400);
  EXPECT_EQ(call("POST", "/api/workflow", R"({"version":1})").status, 400);
  EXPECT_EQ(call("POST", "/api/workflow", R"({"name":"nope"})").status, 404);
  EXPECT_EQ(call("POST", "/api/workflow", R"({"name":"refund","workflowDef":{}})").status, 400);
  // An empty body is an empty input.
  EXPECT_EQ(call("POST", "/api/workflow/refund").status, 200);
}

TEST_F(DemoOrchestratorTest, UnknownIdsAre404) {
  EXPECT_EQ(call("GET", "/api/workflow/does-not-exist").status, 404);
  EXPECT_EQ(call("GET", "/api/tasks/does-not-exist").status, 404);
  EXPECT_EQ(call("PUT", "/api/workflow/does-not-exist/pause").status, 404);
  EXPECT_EQ(call("DELETE", "/api/workflow/does-not-exist").status, 404);
  auto r = call("GET", "/api/nothing/here");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json(r)["status"].GetInt(), 404);
}

TEST_F(DemoOrchestratorTest, TasksRunInOrderToCompletion) {
  const std::string id = start("order-fulfillment");
  const char* refs[] = {"reserve-stock", "charge-card", "ship"};
  std::set<std::string> task_ids;
  for (int i = 0; i < 3; ++i) {
    const std::string task = lastTaskId(id);
    task_ids.insert(task);
    auto t = json(call("GET", "/api/tasks/" + task));
    EXPECT_STREQ(t["referenceTaskName"].GetString(), refs[i]);
    EXPECT_STREQ(t["workflowType"].GetString(), "order-fulfillment");
    EXPECT_STREQ(t["workflowInstanceId"].GetString(), id.c_str());
    EXPECT_STREQ(t["status"].GetString(), "SCHEDULED");
    EXPECT_EQ(updateTask(id, task, "IN_PROGRESS").status, 200);
    auto r = updateTask(id, task, "COMPLETED", "{\"step\":" + std::to_string(i) + "}");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, task);
  }
  EXPECT_EQ(task_ids.size(), 3u);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "COMPLETED");
  EXPECT_EQ(wf["output"]["step"].GetInt(), 2);
  EXPECT_GT(wf["endTime"].GetInt64(), 0);
  ASSERT_EQ(wf["tasks"].Size(), 3u);
  for (const auto& t : wf["tasks"].GetArray()) EXPECT_STREQ(t["status"].GetString(), "COMPLETED");

  // Ended: no more updates, pauses or terminations.
  EXPECT_EQ(updateTask(id, *task_ids.begin(), "COMPLETED").status, 409);
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/pause").status, 409);
  EXPECT_EQ(call("DELETE", "/api/workflow/" + id).status, 409);
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/retry").status, 409);
}

TEST_F(DemoOrchestratorTest, PauseHoldsTheNextTaskUntilResume) {
  const std::string id = start("order-fulfillment");
  const std::string first = lastTaskId(id);
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/pause").status, 200);
  EXPECT_EQ(status(workflow(id)), "PAUSED");
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/pause").status, 200);  // no-op
  EXPECT_EQ(updateTask(id, first, "COMPLETED").status, 200);
  EXPECT_EQ(workflow(id)["tasks"].Size(), 1u);  // nothing scheduled while paused
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/resume").status, 200);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "RUNNING");
  ASSERT_EQ(wf["tasks"].Size(), 2u);
  EXPECT_STREQ(wf["tasks"][1]["referenceTaskName"].GetString(), "charge-card");
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/resume").status, 409);  // not paused
}

TEST_F(DemoOrchestratorTest, TerminateCancelsTasks) {
  const std::string id = start("refund");
  const std::string task = lastTaskId(id);
  EXPECT_EQ(call("DELETE", "/api/workflow/" + id + "?reason=customer%20withdrew").status, 200);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "TERMINATED");
  EXPECT_STREQ(wf["reasonForIncompletion"].GetString(), "customer withdrew");
  EXPECT_STREQ(wf["tasks"][0]["status"].GetString(), "CANCELED");
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/pause").status, 409);
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/resume").status, 409);
  EXPECT_EQ(call("DELETE", "/api/workflow/" + id).status, 409);
  EXPECT_EQ(updateTask(id, task, "COMPLETED").status, 409);
}

TEST_F(DemoOrchestratorTest, FailedTaskFailsTheWorkflowAndRetryReschedulesIt) {
  const std::string id = start("refund");
  std::string task = lastTaskId(id);
  ASSERT_EQ(updateTask(id, task, "COMPLETED").status, 200);
  task = lastTaskId(id);
  ASSERT_EQ(updateTask(id, task, "FAILED").status, 200);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "FAILED");
  EXPECT_TRUE(wf.HasMember("reasonForIncompletion"));
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/retry").status, 200);
  wf = workflow(id);
  EXPECT_EQ(status(wf), "RUNNING");
  ASSERT_EQ(wf["tasks"].Size(), 3u);
  const auto& retried = wf["tasks"][2];
  EXPECT_STREQ(retried["referenceTaskName"].GetString(), "issue-refund");
  EXPECT_STREQ(retried["status"].GetString(), "SCHEDULED");
  EXPECT_STREQ(retried["retriedTaskId"].GetString(), task.c_str());
  EXPECT_EQ(retried["retryCount"].GetInt(), 1);
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/retry").status, 409);  // running
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/restart").status, 409);
  ASSERT_EQ(updateTask(id, retried["taskId"].GetString(), "COMPLETED").status, 200);
  EXPECT_EQ(status(workflow(id)), "COMPLETED");
}

TEST_F(DemoOrchestratorTest, RestartRunsAgainFromTheFirstTask) {
  const std::string id = start("refund");
  const std::string old_task = lastTaskId(id);
  ASSERT_EQ(call("DELETE", "/api/workflow/" + id).status, 200);
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/restart").status, 200);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "RUNNING");
  ASSERT_EQ(wf["tasks"].Size(), 1u);
  EXPECT_STREQ(wf["tasks"][0]["referenceTaskName"].GetString(), "check-eligibility");
  EXPECT_STRNE(wf["tasks"][0]["taskId"].GetString(), old_task.c_str());
  EXPECT_EQ(call("GET", "/api/tasks/" + old_task).status, 404);
}

TEST_F(DemoOrchestratorTest, TaskUpdateMustNameTheOwningWorkflow) {
  const std::string a = start("order-fulfillment");
  const std::string b = start("refund");
  const std::string task_of_b = lastTaskId(b);
  auto r = updateTask(a, task_of_b, "COMPLETED");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json(r)["status"].GetInt(), 400);
  EXPECT_STREQ(json(call("GET", "/api/tasks/" + task_of_b))["status"].GetString(), "SCHEDULED");

  EXPECT_EQ(updateTask(b, "no-such-task", "COMPLETED").status, 404);
  EXPECT_EQ(updateTask(b, task_of_b, "SKIPPED").status, 400);
  EXPECT_EQ(call("POST", "/api/tasks", R"({"taskId":"x","status":"COMPLETED"})").status, 400);
  EXPECT_EQ(call("POST", "/api/tasks", "nope").status, 400);
}

TEST_F(DemoOrchestratorTest, Metadata) {
  auto all = json(call("GET", "/api/metadata/workflow"));
  ASSERT_TRUE(all.IsArray());
  ASSERT_EQ(all.Size(), 2u);
  auto r = call("GET", "/api/metadata/workflow/order-fulfillment");
  ASSERT_EQ(r.status, 200);
  auto def = json(r);
  EXPECT_STREQ(def["name"].GetString(), "order-fulfillment");
  EXPECT_EQ(def["version"].GetInt(), 1);
  ASSERT_EQ(def["tasks"].Size(), 4u);
  EXPECT_STREQ(def["tasks"][1]["taskReferenceName"].GetString(), "charge-card");
  EXPECT_STREQ(def["tasks"][1]["name"].GetString(), "payment");
  EXPECT_STREQ(def["tasks"][1]["type"].GetString(), "SIMPLE");
  EXPECT_STREQ(def["tasks"][3]["taskReferenceName"].GetString(), "refund");
  EXPECT_STREQ(def["tasks"][3]["name"].GetString(), "payment");
  EXPECT_EQ(call("GET", "/api/metadata/workflow/refund?version=1").status, 200);
  EXPECT_EQ(call("GET", "/api/metadata/workflow/refund?version=2").status, 404);
  EXPECT_EQ(call("GET", "/api/metadata/workflow/nope").status, 404);
}

// The members stepgate's Conductor profile reads from the lookup answers
// (GET /api/workflow/{id}?includeTasks=false, GET /api/tasks/{taskId}).
TEST_F(DemoOrchestratorTest, LookupAnswersCarryWhatTheProfileParses) {
  const std::string id = start("order-fulfillment");
  auto r = call("GET", "/api/workflow/" + id + "?includeTasks=false");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"].rfind("application/json", 0), 0u);
  auto wf = json(r);
  EXPECT_STREQ(wf["workflowId"].GetString(), id.c_str());
  EXPECT_STREQ(wf["workflowName"].GetString(), "order-fulfillment");
  EXPECT_TRUE(wf["workflowVersion"].IsInt());
  const std::string task = lastTaskId(id);
  auto t = json(call("GET", "/api/tasks/" + task));
  EXPECT_STREQ(t["taskId"].GetString(), task.c_str());
  EXPECT_STREQ(t["workflowInstanceId"].GetString(), id.c_str());
  EXPECT_STREQ(t["workflowType"].GetString(), "order-fulfillment");
  EXPECT_STREQ(t["referenceTaskName"].GetString(), "reserve-stock");
}

TEST_F(DemoOrchestratorTest, UpdateTaskByReferenceName) {
  const std::string id = start("order-fulfillment");
  const std::string first = lastTaskId(id);
  auto r = call("POST", "/api/tasks/" + id + "/reserve-stock/COMPLETED", R"({"reserved":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, first);
  auto done = json(call("GET", "/api/tasks/" + first));
  EXPECT_STREQ(done["status"].GetString(), "COMPLETED");
  EXPECT_TRUE(done["outputData"]["reserved"].GetBool());
  // Only the pending task of a step can be updated: reserve-stock is done, ship not yet due.
  EXPECT_EQ(call("POST", "/api/tasks/" + id + "/reserve-stock/COMPLETED", "{}").status, 404);
  EXPECT_EQ(call("POST", "/api/tasks/" + id + "/ship/COMPLETED", "{}").status, 404);
  EXPECT_EQ(call("POST", "/api/tasks/" + id + "/no-such-step/COMPLETED", "{}").status, 404);
  EXPECT_EQ(call("POST", "/api/tasks/no-such-workflow/charge-card/COMPLETED", "{}").status, 404);
  EXPECT_EQ(call("POST", "/api/tasks/" + id + "/charge-card/SKIPPED", "{}").status, 400);
  EXPECT_EQ(call("POST", "/api/tasks/" + id + "/charge-card/COMPLETED", "[1]").status, 400);
  // /sync answers the workflow.
  auto sync = call("POST", "/api/tasks/" + id + "/charge-card/IN_PROGRESS/sync");
  ASSERT_EQ(sync.status, 200) << sync.body;
  auto wf = json(sync);
  EXPECT_STREQ(wf["workflowId"].GetString(), id.c_str());
  EXPECT_STREQ(wf["tasks"][1]["status"].GetString(), "IN_PROGRESS");
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/charge-card/COMPLETED").status, 200);
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/ship/COMPLETED", R"({"parcel":"p-1"})").status,
            200);
  wf = workflow(id);
  EXPECT_EQ(status(wf), "COMPLETED");
  EXPECT_STREQ(wf["output"]["parcel"].GetString(), "p-1");
  EXPECT_EQ(wf["tasks"].Size(), 3u);  // refund never ran
}

TEST_F(DemoOrchestratorTest, FailedShipSchedulesTheRefundThenTheWorkflowFails) {
  const std::string id = start("order-fulfillment");
  for (const char* step : {"reserve-stock", "charge-card"}) {
    ASSERT_EQ(call("POST", "/api/tasks/" + id + "/" + step + "/COMPLETED").status, 200);
  }
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/ship/FAILED").status, 200);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "RUNNING");
  ASSERT_EQ(wf["tasks"].Size(), 4u);
  EXPECT_STREQ(wf["tasks"][2]["status"].GetString(), "FAILED");
  EXPECT_STREQ(wf["tasks"][3]["referenceTaskName"].GetString(), "refund");
  EXPECT_STREQ(wf["tasks"][3]["taskDefName"].GetString(), "payment");
  EXPECT_STREQ(wf["tasks"][3]["status"].GetString(), "SCHEDULED");
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/retry").status, 409);  // still running
  ASSERT_EQ(updateTask(id, lastTaskId(id), "COMPLETED").status, 200);
  wf = workflow(id);
  EXPECT_EQ(status(wf), "FAILED");
  const std::string reason = wf["reasonForIncompletion"].GetString();
  EXPECT_NE(reason.find("(ship) failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("compensated by refund"), std::string::npos) << reason;
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/retry").status, 409);  // nothing failed last
}

TEST_F(DemoOrchestratorTest, FailedRefundFailsTheWorkflowAndCanBeRetried) {
  const std::string id = start("order-fulfillment");
  for (const char* step : {"reserve-stock", "charge-card"}) {
    ASSERT_EQ(call("POST", "/api/tasks/" + id + "/" + step + "/COMPLETED").status, 200);
  }
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/ship/FAILED").status, 200);
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/refund/FAILED").status, 200);
  EXPECT_EQ(status(workflow(id)), "FAILED");
  ASSERT_EQ(call("POST", "/api/workflow/" + id + "/retry").status, 200);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "RUNNING");
  ASSERT_EQ(wf["tasks"].Size(), 5u);
  EXPECT_STREQ(wf["tasks"][4]["referenceTaskName"].GetString(), "refund");
  EXPECT_EQ(wf["tasks"][4]["retryCount"].GetInt(), 1);
}

TEST_F(DemoOrchestratorTest, RetryOfAFailedChargeRunsTheRestOfTheWorkflow) {
  const std::string id = start("order-fulfillment");
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/reserve-stock/COMPLETED").status, 200);
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/charge-card/FAILED").status, 200);
  EXPECT_EQ(status(workflow(id)), "FAILED");  // no compensation for charge-card
  ASSERT_EQ(call("POST", "/api/workflow/" + id + "/retry").status, 200);
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/charge-card/COMPLETED").status, 200);
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/ship/COMPLETED").status, 200);
  EXPECT_EQ(status(workflow(id)), "COMPLETED");
}

TEST_F(DemoOrchestratorTest, PollLeasesTheOldestScheduledTaskOfAType) {
  const std::string a = start("order-fulfillment");
  const std::string b = start("order-fulfillment");
  auto none = call("GET", "/api/tasks/poll/payment?workerid=w-1");
  EXPECT_EQ(none.status, 204);
  EXPECT_TRUE(none.body.empty());
  auto r = call("GET", "/api/tasks/poll/reserve_stock?workerid=w-1");
  ASSERT_EQ(r.status, 200) << r.body;
  auto t = json(r);
  EXPECT_STREQ(t["workflowInstanceId"].GetString(), a.c_str());
  EXPECT_STREQ(t["status"].GetString(), "IN_PROGRESS");
  EXPECT_STREQ(t["workerId"].GetString(), "w-1");
  EXPECT_EQ(t["pollCount"].GetInt(), 1);
  // b's task is next; a paused workflow's task is not handed out.
  ASSERT_EQ(call("PUT", "/api/workflow/" + b + "/pause").status, 200);
  EXPECT_EQ(call("GET", "/api/tasks/poll/reserve_stock").status, 204);
  ASSERT_EQ(call("PUT", "/api/workflow/" + b + "/resume").status, 200);
  auto second = json(call("GET", "/api/tasks/poll/reserve_stock"));
  EXPECT_STREQ(second["workflowInstanceId"].GetString(), b.c_str());
  // The polled task is completed with a TaskResult.
  ASSERT_EQ(updateTask(a, t["taskId"].GetString(), "COMPLETED").status, 200);
  auto charge = json(call("GET", "/api/tasks/poll/payment"));
  EXPECT_STREQ(charge["referenceTaskName"].GetString(), "charge-card");
  EXPECT_STREQ(charge["workflowInstanceId"].GetString(), a.c_str());
}

TEST_F(DemoOrchestratorTest, RerunFromATaskReplacesItAndTheLaterOnes) {
  const std::string id = start("order-fulfillment");
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/reserve-stock/COMPLETED").status, 200);
  const std::string charge = lastTaskId(id);
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/charge-card/COMPLETED").status, 200);
  // Not ended yet.
  EXPECT_EQ(
      call("POST", "/api/workflow/" + id + "/rerun", R"({"reRunFromTaskId":")" + charge + R"("})")
          .status,
      409);
  ASSERT_EQ(call("DELETE", "/api/workflow/" + id).status, 200);
  auto r = call("POST", "/api/workflow/" + id + "/rerun",
                R"({"reRunFromWorkflowId":"ignored","reRunFromTaskId":")" + charge +
                    R"(","taskInput":{"amount":5}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, id);
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "RUNNING");
  ASSERT_EQ(wf["tasks"].Size(), 2u);
  EXPECT_STREQ(wf["tasks"][0]["status"].GetString(), "COMPLETED");
  EXPECT_STREQ(wf["tasks"][1]["referenceTaskName"].GetString(), "charge-card");
  EXPECT_STREQ(wf["tasks"][1]["status"].GetString(), "SCHEDULED");
  EXPECT_STRNE(wf["tasks"][1]["taskId"].GetString(), charge.c_str());
  EXPECT_EQ(wf["tasks"][1]["inputData"]["amount"].GetInt(), 5);
  EXPECT_EQ(call("GET", "/api/tasks/" + charge).status, 404);
}

TEST_F(DemoOrchestratorTest, RerunErrorsAndWholeRerun) {
  const std::string id = start("order-fulfillment", R"({"orderId":"o-1"})");
  const std::string other = start("refund");
  const std::string task_of_other = lastTaskId(other);
  ASSERT_EQ(call("DELETE", "/api/workflow/" + id).status, 200);
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/rerun",
                 R"({"reRunFromTaskId":")" + task_of_other + R"("})")
                .status,
            400);
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/rerun", R"({"reRunFromTaskId":"nope"})").status,
            404);
  EXPECT_EQ(call("POST", "/api/workflow/" + id + "/rerun", R"({"reRunFromTaskId":7})").status, 400);
  EXPECT_EQ(call("POST", "/api/workflow/nope/rerun", "{}").status, 404);
  auto r = call("POST", "/api/workflow/" + id + "/rerun", R"({"workflowInput":{"orderId":"o-2"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto wf = workflow(id);
  EXPECT_EQ(status(wf), "RUNNING");
  EXPECT_STREQ(wf["input"]["orderId"].GetString(), "o-2");
  ASSERT_EQ(wf["tasks"].Size(), 1u);
  EXPECT_STREQ(wf["tasks"][0]["referenceTaskName"].GetString(), "reserve-stock");
}

TEST_F(DemoOrchestratorTest, SkipTaskSkipsThePendingOrALaterStep) {
  const std::string id = start("order-fulfillment");
  // A later step: skipped when reached.
  ASSERT_EQ(call("PUT", "/api/workflow/" + id + "/skiptask/charge-card").status, 200);
  ASSERT_EQ(call("POST", "/api/tasks/" + id + "/reserve-stock/COMPLETED").status, 200);
  auto wf = workflow(id);
  ASSERT_EQ(wf["tasks"].Size(), 3u);
  EXPECT_STREQ(wf["tasks"][1]["referenceTaskName"].GetString(), "charge-card");
  EXPECT_STREQ(wf["tasks"][1]["status"].GetString(), "SKIPPED");
  EXPECT_STREQ(wf["tasks"][2]["referenceTaskName"].GetString(), "ship");
  // The pending step: skipped now, and the last one completes the workflow.
  ASSERT_EQ(call("PUT", "/api/workflow/" + id + "/skiptask/ship").status, 200);
  EXPECT_EQ(status(workflow(id)), "COMPLETED");
  EXPECT_EQ(call("PUT", "/api/workflow/" + id + "/skiptask/ship").status, 409);  // ended

  const std::string b = start("order-fulfillment");
  EXPECT_EQ(call("PUT", "/api/workflow/" + b + "/skiptask/nope").status, 400);
  EXPECT_EQ(call("PUT", "/api/workflow/nope/skiptask/ship").status, 404);
  ASSERT_EQ(call("POST", "/api/tasks/" + b + "/reserve-stock/COMPLETED").status, 200);
  EXPECT_EQ(call("PUT", "/api/workflow/" + b + "/skiptask/reserve-stock").status, 409);  // done
  ASSERT_EQ(call("PUT", "/api/workflow/" + b + "/pause").status, 200);
  EXPECT_EQ(call("PUT", "/api/workflow/" + b + "/skiptask/ship").status, 409);  // not running
}

TEST_F(DemoOrchestratorTest, RunningListsRunningAndPausedIdsOfAName) {
  const std::string a = start("order-fulfillment");
  const std::string b = start("order-fulfillment");
  const std::string c = start("order-fulfillment");
  start("refund");
  ASSERT_EQ(call("PUT", "/api/workflow/" + b + "/pause").status, 200);
  ASSERT_EQ(call("DELETE", "/api/workflow/" + c).status, 200);
  auto r = json(call("GET", "/api/workflow/running/order-fulfillment"));
  ASSERT_TRUE(r.IsArray());
  std::set<std::string> ids;
  for (const auto& v : r.GetArray())
    ids.insert(v.GetString());
  EXPECT_EQ(ids, (std::set<std::string>{a, b}));
  EXPECT_EQ(json(call("GET", "/api/workflow/running/order-fulfillment?version=2")).Size(), 0u);
  EXPECT_EQ(json(call("GET", "/api/workflow/running/nope")).Size(), 0u);
}

// ---- the web page ------------------------------------------------------------------------

// One request for the page with `extra` header lines ("Name: value\r\n"...) over a loopback
// socket; the response as text up to the server's close (bounded: 10 s without a byte).
std::string rawExchange(uint16_t port, const std::string& method, const std::string& extra) {
  return stepgate::testing::rawExchange(
      port, method + " / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + "\r\n");
}

std::string bodyOf(const std::string& raw) {
  const size_t at = raw.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : raw.substr(at + 4);
}

std::string b64url(const std::string& s) { return identity::base64UrlEncode(s); }

// A compact JWS with these claims and a signature nobody checks.
std::string assertion(const std::string& claims_json) {
  return b64url(R"({"alg":"ES256","typ":"JWT"})") + "." + b64url(claims_json) + "." +
         b64url(std::string(64, '\x5a'));
}

std::string whoLine(const std::string& body) {
  static const std::regex kWho("<p id=\"who\">([^<]*)</p>");
  std::smatch m;
  return std::regex_search(body, m, kWho) ? m[1].str() : "(no #who)";
}

// The text between the first `open` and the following `close`.
std::string between(const std::string& s, const std::string& open, const std::string& close) {
  const size_t a = s.find(open);
  if (a == std::string::npos) return "";
  const size_t b = s.find(close, a + open.size());
  if (b == std::string::npos) return "";
  return s.substr(a + open.size(), b - a - open.size());
}

std::string sha256Source(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr), 1);
  unsigned char b64[64];
  const int n = EVP_EncodeBlock(b64, digest, static_cast<int>(len));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64), static_cast<size_t>(n)) +
         "'";
}

TEST_F(DemoOrchestratorTest, PageWithoutAssertion) {
  auto r = call("GET", "/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  EXPECT_NE(r.body.find("<title>Demo orchestrator</title>"), std::string::npos);
  EXPECT_NE(r.body.find("<h1 id=\"title\">Demo orchestrator</h1>"), std::string::npos);
  EXPECT_EQ(whoLine(r.body), "No identity assertion received");
  EXPECT_EQ(r.body.find("id=\"who-note\""), std::string::npos);
  EXPECT_EQ(between(r.body, "<ul id=\"definitions\">", "</ul>"),
            "\n<li>order-fulfillment v1</li>\n<li>refund v1</li>\n");
  EXPECT_NE(r.body.find("<button id=\"start\" type=\"button\">Start order-fulfillment</button>"),
            std::string::npos);
  EXPECT_NE(r.body.find("<button id=\"start-no-csrf\""), std::string::npos);
  EXPECT_NE(r.body.find("<pre id=\"result\"></pre>"), std::string::npos);
  // Self-contained: nothing is loaded from anywhere.
  EXPECT_EQ(r.body.find(" src="), std::string::npos);
  EXPECT_EQ(r.body.find("<link"), std::string::npos);
  EXPECT_EQ(r.body.find("http"), std::string::npos);
}

TEST_F(DemoOrchestratorTest, PageSecurityPolicyAllowsExactlyItsInlineScriptAndStyle) {
  auto r = call("GET", "/");
  ASSERT_EQ(r.status, 200);
  const std::string csp = r.headers["content-security-policy"];
  const std::string script = between(r.body, "<script>", "</script>");
  const std::string style = between(r.body, "<style>", "</style>");
  ASSERT_NE(script.find("/.stepgate/session"), std::string::npos) << r.body;
  ASSERT_NE(script.find("X-CSRF-Token"), std::string::npos);
  ASSERT_NE(style.find("body{"), std::string::npos);
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src " + sha256Source(script) + ";"), std::string::npos) << csp;
  EXPECT_NE(csp.find("style-src " + sha256Source(style) + ";"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
}

TEST_F(DemoOrchestratorTest, HeadOfThePageHasNoBody) {
  const std::string raw = rawExchange(server_->port(), "HEAD", "");
  ASSERT_EQ(raw.rfind("HTTP/1.1 200 ", 0), 0u) << raw;
  EXPECT_NE(raw.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos) << raw;
  EXPECT_EQ(bodyOf(raw), "");
}

TEST_F(DemoOrchestratorTest, PageShowsTheAssertedSubjectEscaped) {
  const std::string raw = rawExchange(
      server_->port(), "GET",
      "X-Stepgate-Identity: " + assertion(R"({"sub":"alice<b>\"&'","groups":["ops"]})") + "\r\n");
  ASSERT_EQ(raw.rfind("HTTP/1.1 200 ", 0), 0u) << raw;
  const std::string body = bodyOf(raw);
  EXPECT_EQ(whoLine(body), "Signed in as alice&lt;b&gt;&quot;&amp;&#39;");
  EXPECT_EQ(body.find("alice<b>"), std::string::npos);
  EXPECT_NE(body.find("as asserted by the proxy; this demo does not verify it"),
            std::string::npos);

  // The header name is case-insensitive; the value is read, not verified.
  const std::string lower = rawExchange(
      server_->port(), "GET", "x-stepgate-identity: " + assertion(R"({"sub":"bob"})") + "\r\n");
  EXPECT_EQ(whoLine(bodyOf(lower)), "Signed in as bob");
}

TEST_F(DemoOrchestratorTest, PageShowsAnUnreadableAssertionAsSuch) {
  const std::string header = b64url(R"({"alg":"ES256"})");
  const std::string sig = b64url("sig");
  const std::vector<std::string> bad = {
      "garbage",
      header + "." + b64url(R"({"sub":"x"})"),                                 // two parts
      header + "." + b64url(R"({"sub":"x"})") + "." + sig + ".x",              // four parts
      header + "." + b64url(R"({"sub":"x"})") + "=." + sig,                    // padding
      header + ".+" + b64url(R"({"sub":"x"})").substr(1) + "." + sig,          // not base64url
      header + "." + b64url("not json") + "." + sig,
      header + "." + b64url(R"(["sub","x"])") + "." + sig,                     // not an object
      header + "." + b64url(R"({"sub":"x","sub":"y"})") + "." + sig,           // duplicate
      header + "." + b64url(R"({"sub":7})") + "." + sig,
      header + "." + b64url(R"({"sub":""})") + "." + sig,
      header + "." + b64url(R"({"iss":"x"})") + "." + sig,                     // no sub
      header + "." + b64url(R"({"sub":"a\nb"})") + "." + sig,                  // control char
      header + "." + b64url("{\"sub\":\"\xff\"}") + "." + sig,                 // bad UTF-8
      b64url("not json") + "." + b64url(R"({"sub":"x"})") + "." + sig,        // header
      "." + b64url(R"({"sub":"x"})") + "." + sig,                              // empty header
      header + "." + b64url(R"({"sub":")" + std::string(600, 'a') + "\"}") + "." + sig,
  };
  for (const auto& token : bad) {
    const std::string raw =
        rawExchange(server_->port(), "GET", "X-Stepgate-Identity: " + token + "\r\n");
    ASSERT_EQ(raw.rfind("HTTP/1.1 200 ", 0), 0u) << raw;
    EXPECT_EQ(whoLine(bodyOf(raw)), "Signed in as (unreadable assertion)") << token;
  }
  // A well-formed one decodes (the cases above fail for their own reason).
  const std::string good = header + "." + b64url(R"({"sub":"x"})") + "." + sig;
  EXPECT_EQ(whoLine(bodyOf(rawExchange(server_->port(), "GET",
                                       "X-Stepgate-Identity: " + good + "\r\n"))),
            "Signed in as x");
  // Two assertions are ambiguous.
  const std::string twice = rawExchange(
      server_->port(), "GET",
      "X-Stepgate-Identity: " + good + "\r\nX-Stepgate-Identity: " + good + "\r\n");
  EXPECT_EQ(whoLine(bodyOf(twice)), "Signed in as (unreadable assertion)");
}

TEST(DemoOrchestratorStartTest, TakenPortIsAnError) {
  auto any = parseSocketAddress("127.0.0.1:0", true);
  ASSERT_TRUE(any.isOk());
  auto first = DemoOrchestrator::start(*any);
  ASSERT_TRUE(first.isOk());
  auto taken = parseSocketAddress("127.0.0.1:" + std::to_string((*first)->port()));
  ASSERT_TRUE(taken.isOk());
  auto second = DemoOrchestrator::start(*taken);
  EXPECT_FALSE(second.isOk());
}

}  // namespace
}  // namespace stepgate::proxy
