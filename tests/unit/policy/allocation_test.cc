// evaluate() must not allocate. This binary replaces the global operator new with a counting
// one (it applies to the whole unit_policy binary; counting is off except inside the check).

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "policy_test_util.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<unsigned long> g_allocations{0};

void* countedAlloc(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) {
  return countedAlloc(n);
}
void* operator new[](std::size_t n) {
  return countedAlloc(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace stepgate::policy {
namespace {

TEST(EvaluatorAllocationTest, EvaluateDoesNotAllocate) {
  auto p = testing::compileOrDie({{"a.yaml", R"(workflow: ["order-*", pay]
upstream: conductor
rules:
  - id: a
    allow: [start, read]
    steps: ["s-*"]
    namespaces: [staging, "prod-*"]
    who: { groups: [ops], claims: [{claim: tenant, in: [acme, beta]}] }
    when:
      mfa: true
      source_ip: [10.0.0.0/8, "2001:db8::/32"]
      time: "Mon-Fri 08:00-18:00 Europe/Berlin"
      started_by_caller: true
      input: [{path: /amount, op: "<", value: 10}]
  - id: d
    deny: [define]
    unless: { subjects: [root] }
  - id: d-ns
    deny: [start]
    namespaces: ["*-frozen"]
)"},
                                  {"b.yaml",
                                   "workflow: \"*\"\nmode: shadow\nrules:\n  - id: s\n"
                                   "    deny: [start]\n    who: { groups: [x] }\n"}});
  ASSERT_TRUE(p);
  auto u = testing::user("u", {"ops"});
  u.mfa = true;
  Operation o = testing::op("order-1", {Action::kStart, Action::kRead, Action::kDefine}, "s-1");
  o.namespace_name = "prod-payments-eu-central-1-a-rather-long-name";
  o.started_by_caller_known = true;
  o.started_by_caller = true;
  o.input.push_back(InputField::ofNumber("/amount", 3));
  testing::MapClaims claims({{"tenant", {"acme"}}, {"x", {}}});
  Context c;
  c.claims = &claims;
  c.now = std::chrono::system_clock::now();
  auto addr = parseSocketAddress("10.0.0.1:5");
  ASSERT_TRUE(addr.isOk());
  c.source = *addr;
  c.has_source = true;
  g_allocations = 0;
  g_counting = true;
  unsigned allowed = 0;
  for (int i = 0; i < 100; ++i) {
    allowed += p->evaluate(u, o, c).allowed() ? 1 : 0;
  }
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0u);
  EXPECT_EQ(allowed, 0u);  // define is denied
  // The counter does count (a control for the check above).
  g_counting = true;
  auto* probe = new std::string(100, 'x');
  g_counting = false;
  delete probe;
  EXPECT_GT(g_allocations.load(), 0u);
}

}  // namespace
}  // namespace stepgate::policy
