#include "proxy/demo/smoke_client.h"

#include <httplib.h>
#include <rapidjson/document.h>

#include <memory>
#include <string_view>

namespace stepgate::proxy {
namespace {

// The id of the latest task of step `ref` in a Workflow JSON answer ("" if none).
std::string taskIdOf(const std::string& workflow_json, std::string_view ref) {
  rapidjson::Document d;
  d.Parse(workflow_json.data(), workflow_json.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("tasks") || !d["tasks"].IsArray()) {
    return {};
  }
  std::string id;
  for (const auto& t : d["tasks"].GetArray()) {
    if (!t.IsObject() || !t.HasMember("referenceTaskName") || !t.HasMember("taskId") ||
        !t["referenceTaskName"].IsString() || !t["taskId"].IsString()) {
      continue;
    }
    if (ref == t["referenceTaskName"].GetString())
      id = t["taskId"].GetString();
  }
  return id;
}

// A top-level string member of a JSON object ("" if none).
std::string stringField(const std::string& body, const char* name) {
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember(name) || !d[name].IsString()) {
    return {};
  }
  return d[name].GetString();
}

std::unique_ptr<httplib::SSLClient> client(const std::string& host, uint16_t port,
                                           const std::string& ca_file, const std::string& token) {
  auto cli = std::make_unique<httplib::SSLClient>(host, port);
  if (!token.empty())
    cli->set_bearer_token_auth(token.c_str());
  cli->set_ca_cert_path(ca_file.c_str());
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(5, 0);
  cli->set_read_timeout(10, 0);
  cli->set_keep_alive(true);
  // Send paths exactly as written: the bypass checks below must reach stepgate unencoded.
  cli->set_url_encode(false);
  return cli;
}

std::string taskResult(const std::string& workflow_id, const std::string& task_id,
                       const char* status) {
  return R"({"workflowInstanceId":")" + workflow_id + R"(","taskId":")" + task_id +
         R"(","status":")" + status + R"(","outputData":{}})";
}

}  // namespace

bool runDemoSmoke(const std::string& host, uint16_t port, const std::string& ca_file,
                  const DemoSmokeTokens& tokens, std::string& report) {
  auto anonymous = client(host, port, ca_file, "");
  auto ops = client(host, port, ca_file, tokens.ops);
  auto oncall = client(host, port, ca_file, tokens.oncall);
  bool ok = true;
  // One report line: "ok    [who] METHOD PATH (what) -> STATUS [reason]". A 403 must also
  // carry the expected reason: it shows why stepgate refused.
  auto check = [&](const char* who, const char* method, const std::string& path,
                   const std::string& what, int expect, const char* expect_reason,
                   const httplib::Result& res) {
    const int status = res ? res->status : 0;
    const std::string body = res ? res->body : std::string();
    const std::string reason = status == 403 ? stringField(body, "reason") : std::string();
    const bool pass = status == expect && (expect_reason == nullptr || reason == expect_reason);
    ok = ok && pass;
    report += pass ? "ok    " : "FAIL  ";
    report += "[" + std::string(who) + "] " + method + " " + path;
    if (!what.empty())
      report += " (" + what + ")";
    report += " -> ";
    report +=
        res ? std::to_string(status) : "no response (" + httplib::to_string(res.error()) + ")";
    if (!reason.empty())
      report += " " + reason;
    if (!pass) {
      report += " (expected " + std::to_string(expect);
      if (expect_reason != nullptr)
        report += std::string(" ") + expect_reason;
      report += ")";
    }
    report += '\n';
    return body;
  };
  constexpr const char* kJson = "application/json";
  const std::string start_path = "/api/workflow/order-fulfillment";

  check("anonymous", "POST", start_path, "", 401, nullptr,
        anonymous->Post(start_path, R"({"orderId":"o-1000"})", kJson));

  // Order 1: ops runs it; the card is payments' business, the refund nobody's on call.
  const std::string id = check("ops", "POST", start_path, "", 200, nullptr,
                               ops->Post(start_path, R"({"orderId":"o-1001","amount":42})", kJson));
  if (id.empty())
    return false;
  const std::string wf = "/api/workflow/" + id;
  std::string body = check("ops", "GET", wf, "", 200, nullptr, ops->Get(wf));
  check("ops", "PUT", wf + "/pause", "", 200, nullptr, ops->Put(wf + "/pause"));
  check("ops", "PUT", wf + "/resume", "", 200, nullptr, ops->Put(wf + "/resume"));
  check(
      "ops", "POST", "/api/tasks", "reserve-stock COMPLETED", 200, nullptr,
      ops->Post("/api/tasks", taskResult(id, taskIdOf(body, "reserve-stock"), "COMPLETED"), kJson));
  const std::string by_ref = "/api/tasks/" + id + "/";
  check("ops", "POST", by_ref + "charge-card/COMPLETED", "", 403, "no_matching_allow",
        ops->Post(by_ref + "charge-card/COMPLETED", "{}", kJson));
  body = check("oncall", "GET", wf, "", 200, nullptr, oncall->Get(wf));
  check("oncall", "POST", "/api/tasks", "charge-card COMPLETED", 200, nullptr,
        oncall->Post("/api/tasks", taskResult(id, taskIdOf(body, "charge-card"), "COMPLETED"),
                     kJson));
  // A failed shipment schedules the compensation step refund.
  check("ops", "POST", by_ref + "ship/FAILED", "", 200, nullptr,
        ops->Post(by_ref + "ship/FAILED", R"({"carrier":"down"})", kJson));
  body = check("ops", "GET", wf, "", 200, nullptr, ops->Get(wf));
  const std::string refund_task = taskIdOf(body, "refund");
  check("oncall", "POST", "/api/tasks", "refund COMPLETED", 403, "denied",
        oncall->Post("/api/tasks", taskResult(id, refund_task, "COMPLETED"), kJson));
  check("oncall", "POST", by_ref + "refund/COMPLETED", "", 403, "denied",
        oncall->Post(by_ref + "refund/COMPLETED", "{}", kJson));
  const std::string refund = check("oncall", "GET", "/api/tasks/" + refund_task, "", 200, nullptr,
                                   oncall->Get("/api/tasks/" + refund_task));
  const std::string refund_status = stringField(refund, "status");
  if (refund_status != "SCHEDULED") {
    ok = false;
    report += "FAIL  the refund task is " + refund_status + " (expected SCHEDULED)\n";
  } else {
    report += "ok    the refund task is still SCHEDULED\n";
  }
  check("ops", "DELETE", wf + "?reason=demo", "", 200, nullptr, ops->Delete(wf + "?reason=demo"));

  // Order 2: the charge fails; only the payments on-call may retry it.
  const std::string id2 = check("ops", "POST", start_path, "", 200, nullptr,
                                ops->Post(start_path, R"({"orderId":"o-1002","amount":7})", kJson));
  if (id2.empty())
    return false;
  const std::string wf2 = "/api/workflow/" + id2;
  const std::string by_ref2 = "/api/tasks/" + id2 + "/";
  check("ops", "POST", by_ref2 + "reserve-stock/COMPLETED", "", 200, nullptr,
        ops->Post(by_ref2 + "reserve-stock/COMPLETED", "{}", kJson));
  check("oncall", "POST", by_ref2 + "charge-card/FAILED", "", 200, nullptr,
        oncall->Post(by_ref2 + "charge-card/FAILED", R"({"declined":true})", kJson));
  check("ops", "POST", wf2 + "/retry", "", 403, "no_matching_allow",
        ops->Post(wf2 + "/retry", "", kJson));
  check("oncall", "POST", wf2 + "/retry", "", 200, nullptr,
        oncall->Post(wf2 + "/retry", "", kJson));
  check("oncall", "POST", by_ref2 + "charge-card/COMPLETED", "retried", 200, nullptr,
        oncall->Post(by_ref2 + "charge-card/COMPLETED", "{}", kJson));

  // An id the orchestrator does not know: no workflow to decide on, so no access.
  const std::string unknown = "/api/workflow/00000000-0000-4000-8000-000000000000";
  check("ops", "GET", unknown, "", 403, "unresolved", ops->Get(unknown));
  // The bypass a path rule in nginx, HAProxy or Apache lets through: refused here.
  check("ops", "GET", start_path + ";v=1", "", 400, nullptr, ops->Get(start_path + ";v=1"));
  // An encoded '/' would let the orchestrator see a different path than the policy did.
  check("ops", "GET", wf + "%2Fpause", "", 400, nullptr, ops->Get(wf + "%2Fpause"));
  return ok;
}

}  // namespace stepgate::proxy
