// Micro-benchmark of policy evaluation and compilation (Google Benchmark). Built only with
// -DSTEPGATE_BENCH=ON: `cmake --build DIR --target policy_bench && DIR/policy_bench`.
//
// Sets of 10, 1,000 and 10,000 rules spread over 1,000 workflows (one file per workflow, plus
// ten glob files "wf-0*", "wf-1*", ... with a few rules each, so every lookup also tests
// globs). 80% allow rules (a group, sometimes steps and MFA), 20% deny rules with an `unless`.
// Each evaluation picks a workflow, an action and a principal from precomputed tables.

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "policy/compiler.h"
#include "policy/loader.h"

namespace stepgate::policy {
namespace {

constexpr unsigned kWorkflows = 1000;

std::string workflowName(unsigned i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "wf-%04u", i);
  return buf;
}

std::vector<PolicySource> makeSources(unsigned rules) {
  std::mt19937 rng(42);
  auto below = [&](unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng); };
  std::vector<std::string> texts(kWorkflows);
  std::vector<PolicySource> out;
  auto rule = [&](unsigned id) {
    const bool allow = below(5) != 0;
    const unsigned a = below(kActionCount);
    const unsigned b = (a + 1 + below(kActionCount - 1)) % kActionCount;  // distinct from a
    std::string r = "  - id: r" + std::to_string(id) + "\n    " + (allow ? "allow" : "deny") +
                    ": [" + actionName(static_cast<Action>(a)) + ", " +
                    actionName(static_cast<Action>(b)) + "]\n";
    if (allow) {
      r += "    who: { groups: [g" + std::to_string(below(50)) + "] }\n";
      if (below(4) == 0) {
        r += "    steps: [\"s-*\"]\n    when: { mfa: true }\n";
      }
    } else {
      r += "    unless: { groups: [g" + std::to_string(below(50)) + "] }\n";
    }
    return r;
  };
  const unsigned glob_rules = rules >= 100 ? 30 : 0;
  for (unsigned i = 0; i < glob_rules; ++i) {
    const unsigned g = i % 10;
    if (i < 10) {
      out.emplace_back("glob-" + std::to_string(g) + ".yaml",
                       "workflow: \"wf-" + std::to_string(g) + "*\"\nrules:\n");
    }
    out[g].second += rule(i);
  }
  for (unsigned i = glob_rules; i < rules; ++i) {
    texts[below(kWorkflows)] += rule(i);
  }
  for (unsigned w = 0; w < kWorkflows; ++w) {
    if (!texts[w].empty()) {
      out.emplace_back(workflowName(w) + ".yaml",
                       "workflow: " + workflowName(w) + "\nrules:\n" + texts[w]);
    }
  }
  return out;
}

CompiledPolicyConstSharedPtr build(unsigned rules) {
  auto set = loadPolicySources(makeSources(rules));
  if (!set.isOk()) {
    std::fprintf(stderr, "%s\n", set.status().message().c_str());
    std::abort();
  }
  return compile(std::move(set).value());
}

void BM_Evaluate(benchmark::State& state) {
  const auto policy = build(static_cast<unsigned>(state.range(0)));
  std::mt19937 rng(7);
  std::vector<identity::Principal> principals(64);
  for (auto& p : principals) {
    p.provider = "corp";
    p.subject = "u" + std::to_string(rng() % 1000);
    p.method = identity::AuthMethod::kJwt;
    p.mfa = rng() % 2 == 0;
    for (int g = 0; g < 3; ++g) {
      p.groups.push_back("g" + std::to_string(rng() % 50));
    }
    std::sort(p.groups.begin(), p.groups.end());
  }
  std::vector<Operation> ops(1024);
  for (auto& o : ops) {
    o.upstream = "conductor";
    o.workflow = workflowName(rng() % kWorkflows);
    o.step = rng() % 2 == 0 ? "s-1" : "";
    o.actions.add(static_cast<Action>(rng() % kActionCount));
  }
  Context ctx;
  ctx.now = std::chrono::system_clock::now();
  size_t i = 0;
  size_t allowed = 0;
  for (auto _ : state) {
    const Decision d =
        policy->evaluate(principals[i % principals.size()], ops[i % ops.size()], ctx);
    allowed += d.allowed() ? 1 : 0;
    benchmark::DoNotOptimize(d);
    ++i;
  }
  state.counters["allowed_ratio"] = static_cast<double>(allowed) / static_cast<double>(i);
}
BENCHMARK(BM_Evaluate)->Arg(10)->Arg(1000)->Arg(10000);

void BM_Compile(benchmark::State& state) {
  auto set = loadPolicySources(makeSources(static_cast<unsigned>(state.range(0))));
  for (auto _ : state) {
    auto copy = set.value();
    benchmark::DoNotOptimize(compile(std::move(copy)));
  }
}
BENCHMARK(BM_Compile)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_LoadAndCompile(benchmark::State& state) {
  const auto sources = makeSources(static_cast<unsigned>(state.range(0)));
  for (auto _ : state) {
    auto set = loadPolicySources(sources);
    benchmark::DoNotOptimize(compile(std::move(set).value()));
  }
}
BENCHMARK(BM_LoadAndCompile)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace stepgate::policy

BENCHMARK_MAIN();
