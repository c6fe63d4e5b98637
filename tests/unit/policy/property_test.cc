// Property tests over randomly generated policy sets (a fixed-seed generator, so failures
// reproduce): a deny always beats an allow, adding an allow never removes access, a call
// without a namespace is allowed only if it would be in every namespace, and evaluation is
// deterministic.

#include <gtest/gtest.h>

#include <random>

#include "policy_test_util.h"

namespace stepgate::policy {
namespace {

using testing::compileOrDie;

struct Gen {
  std::mt19937 rng;
  explicit Gen(unsigned seed) : rng(seed) {}
  unsigned below(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng); }
  bool coin() { return below(2) == 0; }

  std::string actions() {
    std::string out;
    const unsigned n = 1 + below(3);
    ActionSet seen;
    for (unsigned i = 0; i < n; ++i) {
      const auto a = static_cast<Action>(below(6));  // a small subset so rules overlap
      if (seen.has(a)) {
        continue;
      }
      seen.add(a);
      out += std::string(out.empty() ? "" : ", ") + actionName(a);
    }
    return "[" + out + "]";
  }

  std::string rule(const std::string& id, bool allow) {
    std::string r = "  - id: " + id + "\n    " + (allow ? "allow: " : "deny: ") + actions() + "\n";
    if (below(3) == 0) {
      r += std::string("    steps: [") + (coin() ? "s1" : "s*") + "]\n";
    }
    if (below(3) == 0) {
      static const char* const kNamespaces[] = {"[n1]", "[\"n*\"]", "[n2, n3]"};
      r += std::string("    namespaces: ") + kNamespaces[below(3)] + "\n";
    }
    if (coin()) {
      r += "    who: { groups: [g" + std::to_string(below(4)) + "] }\n";
    }
    if (!allow && below(3) == 0) {
      r += "    unless: { groups: [g" + std::to_string(below(4)) + "] }\n";
    }
    return r;
  }

  std::vector<PolicySource> set(unsigned files, unsigned rules) {
    std::vector<PolicySource> out;
    static const char* const kWorkflows[] = {"w0", "w1", "\"w*\"", "[w0, w2]"};
    unsigned id = 0;
    for (unsigned f = 0; f < files; ++f) {
      std::string text = std::string("workflow: ") + kWorkflows[below(4)] + "\nrules:\n";
      for (unsigned r = 0; r < rules; ++r) {
        text += rule("r" + std::to_string(id++), below(4) != 0);
      }
      out.emplace_back("f" + std::to_string(f) + ".yaml", text);
    }
    return out;
  }

  identity::Principal principal() {
    std::vector<std::string> groups;
    for (unsigned g = 0; g < 4; ++g) {
      if (below(3) == 0) {
        groups.push_back("g" + std::to_string(g));
      }
    }
    return testing::user("u" + std::to_string(below(3)), groups);
  }

  Operation operation() {
    ActionSet a;
    a.add(static_cast<Action>(below(6)));
    if (below(4) == 0) {
      a.add(static_cast<Action>(below(6)));
    }
    static const char* const kSteps[] = {"", "s1", "s2"};
    static const char* const kNamespaces[] = {"", "n1", "n2", "m"};
    Operation o = testing::op("w" + std::to_string(below(3)), a, kSteps[below(3)]);
    o.namespace_name = kNamespaces[below(4)];
    return o;
  }
};

constexpr unsigned kSets = 60;
constexpr unsigned kQueries = 60;

TEST(PolicyPropertyTest, DenyAlwaysBeatsAllow) {
  Gen g(1);
  unsigned checked = 0;
  for (unsigned s = 0; s < kSets; ++s) {
    auto sources = g.set(1 + g.below(3), 1 + g.below(5));
    auto base = compileOrDie(sources);
    ASSERT_TRUE(base);
    // The same set plus a deny of every action for everyone on every workflow.
    sources.emplace_back("zz.yaml",
                         "workflow: \"*\"\nrules:\n  - id: deny-all\n    deny: "
                         "[read, list, start, stop, pause, resume]\n");
    auto with_deny = compileOrDie(sources);
    ASSERT_TRUE(with_deny);
    for (unsigned q = 0; q < kQueries; ++q) {
      const auto p = g.principal();
      const auto o = g.operation();
      checked += base->evaluate(p, o, {}).allowed() ? 1 : 0;
      const Decision d = with_deny->evaluate(p, o, {});
      EXPECT_FALSE(d.allowed());
      EXPECT_EQ(d.reason, Reason::kDenied);
      EXPECT_TRUE(d.rules.contains(static_cast<uint32_t>(with_deny->ruleCount() - 1)));
    }
  }
  EXPECT_GT(checked, 0u);  // the generator does produce allowed operations
}

TEST(PolicyPropertyTest, AddingAnAllowNeverRemovesAccess) {
  Gen g(2);
  for (unsigned s = 0; s < kSets; ++s) {
    auto sources = g.set(1 + g.below(3), 1 + g.below(5));
    auto base = compileOrDie(sources);
    ASSERT_TRUE(base);
    sources.emplace_back("zz.yaml", "workflow: \"w*\"\nrules:\n" + g.rule("extra", true));
    auto wider = compileOrDie(sources);
    ASSERT_TRUE(wider);
    for (unsigned q = 0; q < kQueries; ++q) {
      const auto p = g.principal();
      const auto o = g.operation();
      if (base->evaluate(p, o, {}).allowed()) {
        EXPECT_TRUE(wider->evaluate(p, o, {}).allowed());
      }
    }
  }
}

// A call without a namespace is never granted more than the same call in some namespace,
// except by rules that name no namespaces (which grant both): an allow naming namespaces never
// grants it, and a deny naming namespaces applies to it.
TEST(PolicyPropertyTest, NoNamespaceIsNeverWiderThanSomeNamespace) {
  Gen g(4);
  unsigned checked = 0;
  for (unsigned s = 0; s < kSets; ++s) {
    auto policy = compileOrDie(g.set(1 + g.below(3), 1 + g.below(5)));
    ASSERT_TRUE(policy);
    for (unsigned q = 0; q < kQueries; ++q) {
      const auto p = g.principal();
      Operation o = g.operation();
      o.namespace_name.clear();
      if (!policy->evaluate(p, o, {}).allowed()) {
        continue;
      }
      ++checked;
      for (const char* ns : {"n1", "n2", "m"}) {
        o.namespace_name = ns;
        EXPECT_TRUE(policy->evaluate(p, o, {}).allowed()) << ns;
      }
    }
  }
  EXPECT_GT(checked, 0u);
}

TEST(PolicyPropertyTest, EvaluationIsDeterministic) {
  Gen g(3);
  for (unsigned s = 0; s < kSets; ++s) {
    const auto sources = g.set(1 + g.below(3), 1 + g.below(5));
    auto a = compileOrDie(sources);
    auto b = compileOrDie(sources);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->version(), b->version());
    for (unsigned q = 0; q < kQueries; ++q) {
      const auto p = g.principal();
      const auto o = g.operation();
      const Decision d1 = a->evaluate(p, o, {});
      const Decision d2 = a->evaluate(p, o, {});
      const Decision d3 = b->evaluate(p, o, {});
      for (const Decision* d : {&d2, &d3}) {
        EXPECT_EQ(d1.effect, d->effect);
        EXPECT_EQ(d1.reason, d->reason);
        EXPECT_EQ(d1.denied_actions, d->denied_actions);
        ASSERT_EQ(d1.rules.count, d->rules.count);
        for (unsigned i = 0; i < d1.rules.count; ++i) {
          EXPECT_EQ(d1.rules.index[i], d->rules.index[i]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace stepgate::policy
