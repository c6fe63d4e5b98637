#include "proxy/demo/smoke_client.h"

#include <httplib.h>

#include <string_view>

namespace stepgate::proxy {
namespace {

// The value of a top-level string field in a small JSON object; enough for ids in replies.
std::string jsonField(const std::string& body, std::string_view field) {
  const std::string key = "\"" + std::string(field) + "\":\"";
  const size_t at = body.find(key);
  if (at == std::string::npos) return {};
  const size_t start = at + key.size();
  const size_t end = body.find('"', start);
  return end == std::string::npos ? std::string() : body.substr(start, end - start);
}

}  // namespace

bool runDemoSmoke(const std::string& host, uint16_t port, const std::string& ca_file,
                  const std::string& token, std::string& report) {
  httplib::SSLClient cli(host, port);
  cli.set_bearer_token_auth(token.c_str());
  cli.set_ca_cert_path(ca_file.c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(10, 0);
  cli.set_keep_alive(true);
  // Send paths exactly as written: the bypass checks below must reach stepgate unencoded.
  cli.set_url_encode(false);
  bool ok = true;
  auto check = [&](const char* method, const std::string& path, int expect,
                   const httplib::Result& res) {
    const int status = res ? res->status : 0;
    const bool pass = status == expect;
    ok = ok && pass;
    report += pass ? "ok    " : "FAIL  ";
    report += method;
    report += ' ';
    report += path;
    report += " -> ";
    report += res ? std::to_string(status) : "no response (" + httplib::to_string(res.error()) + ")";
    if (!pass) report += " (expected " + std::to_string(expect) + ")";
    report += '\n';
    return res ? res->body : std::string();
  };

  const std::string start_path = "/api/workflow/order-fulfillment";
  {
    httplib::SSLClient anonymous(host, port);
    anonymous.set_ca_cert_path(ca_file.c_str());
    anonymous.enable_server_certificate_verification(true);
    anonymous.set_connection_timeout(5, 0);
    check("POST", start_path + " (no token)", 401,
          anonymous.Post(start_path, R"({"orderId":"o-1000"})", "application/json"));
  }
  const std::string id = check("POST", start_path, 200,
                               cli.Post(start_path, R"({"orderId":"o-1001","amount":42})",
                                        "application/json"));
  if (id.empty()) return false;
  const std::string wf = "/api/workflow/" + id;
  const std::string body = check("GET", wf, 200, cli.Get(wf));
  check("PUT", wf + "/pause", 200, cli.Put(wf + "/pause"));
  check("PUT", wf + "/resume", 200, cli.Put(wf + "/resume"));
  const std::string task_id = jsonField(body, "taskId");
  const std::string result = R"({"workflowInstanceId":")" + id + R"(","taskId":")" + task_id +
                             R"(","status":"COMPLETED","outputData":{"reserved":true}})";
  check("POST", "/api/tasks", 200, cli.Post("/api/tasks", result, "application/json"));
  check("DELETE", wf + "?reason=demo", 200, cli.Delete(wf + "?reason=demo"));
  // The bypass a path rule in nginx, HAProxy or Apache lets through: refused here.
  check("GET", start_path + ";v=1", 400, cli.Get(start_path + ";v=1"));
  // An encoded '/' would let the orchestrator see a different path than the policy did.
  check("GET", wf + "%2Fpause", 400, cli.Get(wf + "%2Fpause"));
  return ok;
}

}  // namespace stepgate::proxy
