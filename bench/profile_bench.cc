// Micro-benchmarks of classification on the request path (docs/orchestrators.md): what a
// profile costs per request once the body (if any) is parsed and lookups are answered.
//   scripts/build build-bench -DCMAKE_BUILD_TYPE=Release -DSTEPGATE_BENCH=ON -DSTEPGATE_TESTS=OFF
//   build-bench/profile_bench
#include <benchmark/benchmark.h>

#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "orchestrators/profile.h"

namespace {

using namespace stepgate;
using namespace stepgate::orchestrators;

ProfileConstSharedPtr profile(const char* name) {
  config::UpstreamConfig u;
  u.name = "up";
  u.profile = name;
  return makeProfile(u);
}

// Classifies `view` to the end, answering every lookup with `answer`, reusing `c`.
void classifyAll(const Profile& p, RequestView view, const LookupResult& answer,
                 std::vector<LookupKey>& keys, std::vector<ResolvedLookup>& resolved,
                 Classification& c) {
  keys.clear();
  for (int round = 0; round < 4; ++round) {
    resolved.clear();
    for (const LookupKey& k : keys) resolved.push_back({&k, &answer});
    view.lookups = resolved;
    p.classify(view, c);
    if (c.outcome != Outcome::kNeedsLookup) return;
    for (const LookupKey& k : c.lookups) keys.push_back(k);
  }
}

void run(benchmark::State& state, const char* name, const char* method, const char* path,
         const char* query, const char* target, const char* body, const LookupResult& answer) {
  const auto p = profile(name);
  std::vector<HeaderView> headers = {{"Content-Type", "application/json"}};
  if (target != nullptr) {
    headers = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", target}};
  }
  std::optional<JsonValue> json;
  if (body != nullptr) json.emplace(parseJson(body).value());
  RequestView view;
  view.method = method;
  view.path = path;
  view.query = query;
  view.headers = headers;
  if (body != nullptr) {
    view.body_read = true;
    view.body = body;
    view.json = &*json;
  }
  std::vector<LookupKey> keys;
  std::vector<ResolvedLookup> resolved;
  Classification c;
  for (auto _ : state) {
    classifyAll(*p, view, answer, keys, resolved, c);
    benchmark::DoNotOptimize(c.op.actions);
  }
  if (c.outcome != Outcome::kClassified) state.SkipWithError("not classified");
}

LookupResult workflowAnswer() {
  LookupResult r;
  r.found = true;
  r.workflow = "order-fulfillment";
  r.version = "1";
  r.execution = "7f3c0000-0000-4000-8000-000000000001";
  r.step = "charge-card";
  return r;
}

void BM_ConductorStart(benchmark::State& s) {
  run(s, "conductor", "POST", "/api/workflow/order-fulfillment", "version=1", nullptr,
      R"({"orderId":"o-1","amount":42})", workflowAnswer());
}
void BM_ConductorPauseWithLookup(benchmark::State& s) {
  run(s, "conductor", "PUT", "/api/workflow/7f3c0000-0000-4000-8000-000000000001/pause", "",
      nullptr, nullptr, workflowAnswer());
}
void BM_ConductorTaskUpdate(benchmark::State& s) {
  LookupResult task = workflowAnswer();
  task.execution = "w1";
  run(s, "conductor", "POST", "/api/tasks", "", nullptr,
      R"({"workflowInstanceId":"w1","taskId":"t1","status":"COMPLETED","outputData":{}})",
      task);
}
void BM_StepFunctionsStartExecution(benchmark::State& s) {
  run(s, "step-functions", "POST", "/", "", "AWSStepFunctions.StartExecution",
      R"({"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:orders","input":"{}"})",
      workflowAnswer());
}
void BM_TemporalSignal(benchmark::State& s) {
  run(s, "temporal", "POST", "/api/v1/namespaces/default/workflows/order-1/signal/approve", "",
      nullptr, R"({"input":{"payloads":[]}})", workflowAnswer());
}
void BM_AirflowTrigger(benchmark::State& s) {
  run(s, "airflow", "POST", "/api/v1/dags/etl/dagRuns", "", nullptr,
      R"({"dag_run_id":"r1","conf":{}})", workflowAnswer());
}
void BM_ParseTaskBody(benchmark::State& s) {
  const std::string body =
      R"({"workflowInstanceId":"w1","taskId":"t1","status":"COMPLETED","outputData":{"a":1,"b":"two"}})";
  for (auto _ : s) {
    auto v = parseJson(body);
    benchmark::DoNotOptimize(v);
  }
}

BENCHMARK(BM_ConductorStart);
BENCHMARK(BM_ConductorPauseWithLookup);
BENCHMARK(BM_ConductorTaskUpdate);
BENCHMARK(BM_StepFunctionsStartExecution);
BENCHMARK(BM_TemporalSignal);
BENCHMARK(BM_AirflowTrigger);
BENCHMARK(BM_ParseTaskBody);

}  // namespace

BENCHMARK_MAIN();
