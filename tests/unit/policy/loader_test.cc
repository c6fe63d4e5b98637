#include "policy/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace stepgate::policy {
namespace {

StatusOr<PolicySet> load(const std::string& text) {
  return loadPolicySources({{"p.yaml", text}});
}

std::string err(const std::string& text) {
  auto r = load(text);
  return r.isOk() ? std::string("OK") : r.status().message();
}

TEST(LoaderTest, DesignSketchLoads) {
  auto r = load(R"(workflow: order-fulfillment
upstream: conductor
rules:
  - id: ops-run
    allow: [start, read, list]
    who: { groups: [ops] }
  - id: payments-retry-charge
    allow: [retry, skip-step]
    steps: [charge-card, "ship-*"]
    who:
      groups: [payments-oncall]
      methods: [jwt]
      claims:
        - {claim: tenant, equals: acme}
        - {claim: dept, in: [a, b]}
        - {claim: v, exists: true}
    when:
      mfa: true
      source_ip: [10.0.0.0/8, "2001:db8::/32"]
      time: "Mon-Fri 08:00-18:00 Europe/Berlin"
      started_by_caller: true
      input: [{path: /amount, op: "<=", value: 1000}, {path: /currency, op: "=", value: EUR}]
  - id: definitions-locked
    deny: [define, undefine]
    unless: { groups: [workflow-admins] }
    description: only admins change definitions
)");
  ASSERT_TRUE(r.isOk()) << r.status().message();
  ASSERT_EQ(r->files.size(), 1u);
  const PolicyFile& f = r->files[0];
  EXPECT_EQ(f.workflows, std::vector<std::string>{"order-fulfillment"});
  EXPECT_EQ(f.upstream, "conductor");
  ASSERT_EQ(f.rules.size(), 3u);
  EXPECT_EQ(f.rules[0].actions, (ActionSet{Action::kStart, Action::kRead, Action::kList}));
  EXPECT_EQ(f.rules[0].position, "p.yaml:4:5");
  const Rule& r1 = f.rules[1];
  EXPECT_EQ(r1.who.claims.size(), 3u);
  EXPECT_TRUE(r1.when.mfa);
  EXPECT_EQ(r1.when.source_ip.size(), 2u);
  ASSERT_TRUE(r1.when.time);
  EXPECT_EQ(r1.when.time->days, 0x1f);
  EXPECT_EQ(r1.when.time->start_minute, 8 * 60);
  EXPECT_EQ(r1.when.time->end_minute, 18 * 60);
  ASSERT_EQ(r1.when.input.size(), 2u);
  EXPECT_TRUE(r1.when.input[0].is_number);
  EXPECT_FALSE(r1.when.input[1].is_number);
  EXPECT_EQ(f.rules[2].effect, Effect::kDeny);
  EXPECT_TRUE(f.rules[2].unless);
  EXPECT_NE(r->version, 0u);
}

TEST(LoaderTest, ErrorsCarryExactPositions) {
  const std::string head = "workflow: w\nrules:\n  - id: a\n";
  const std::pair<std::string, std::string> cases[] = {
      {"workflow: w\nrulez: []\n", "p.yaml:2:1: unknown key 'rulez' (did you mean 'rules'?)"},
      {head + "    allow: [strat]\n",
       "p.yaml:4:13: unknown action 'strat' (did you mean 'start'?)"},
      {head + "    allow: [read]\n    deny: [read]\n",
       "p.yaml:5:11: a rule has either allow or deny, not both"},
      {head + "    who: { groups: [x] }\n",
       "p.yaml:3:5: rule 'a' needs allow: [...] or deny: [...]"},
      {head + "    allow: [read]\n    unless: { groups: [x] }\n",
       "p.yaml:5:13: unless applies to deny rules only; narrow the allow's who instead"},
      {head + "    allow: [read]\n    when: { source_ip: [10.0.0.0/33] }\n",
       "p.yaml:5:25: bad prefix length in '10.0.0.0/33'"},
      {head + "    allow: []\n", "p.yaml:4:12: the list of actions must not be empty"},
      {head + "    allow: read\n", "p.yaml:4:12: expected a list of actions, e.g. [start, read]"},
      {head + "    allow: [read]\n    steps: [\"a[b]\"]\n",
       "p.yaml:5:13: steps: unsupported glob syntax '[' (only * and ? are special)"},
      {head + "    allow: [read]\n    namespaces: prod\n",
       "p.yaml:5:17: namespaces must be a list of names"},
      {head + "    allow: [read]\n    namespaces: []\n",
       "p.yaml:5:17: namespaces must not be an empty list"},
      {head + "    allow: [read]\n    namespaces: [{a: b}]\n",
       "p.yaml:5:18: expected a string, got a map"},
      {head + "    allow: [read]\n    namespaces: [\"pr{o}d\"]\n",
       "p.yaml:5:18: namespaces: unsupported glob syntax '{' (only * and ? are special)"},
      {head + "    allow: [read]\n    namespace: [prod]\n",
       "p.yaml:5:5: unknown key 'namespace' (did you mean 'namespaces'?)"},
      {"workflow: \"pay **\"\nrules: []\n",
       "p.yaml:1:11: workflow: a name or glob must not contain spaces or control characters"},
      {"workflow: w\nrules: []\n", "p.yaml:2:8: rules must not be empty"},
      {head + "    allow: [read]\n    who: { group: [x] }\n",
       "p.yaml:5:12: unknown key 'group' (did you mean 'groups'?)"},
      {head + "    allow: [read]\n    who: { groups: [] }\n",
       "p.yaml:5:20: groups must not be an empty list"},
      {head + "    allow: [read]\n    when: { mfa: yes }\n",
       "p.yaml:5:18: expected a boolean (true/false), got 'yes'"},
      {head + "    allow: [read]\n    when: { input: [{path: /a, op: \"<\", value: abc}] }\n",
       "p.yaml:5:36: '<' compares numbers; 'abc' is a string (only = and != apply to strings)"},
      {head + "    allow: [read]\n    when: { time: \"Mon-Fri 08:00-18:00 Mars/Olympus\" }\n",
       "p.yaml:5:19: bad time window 'Mon-Fri 08:00-18:00 Mars/Olympus': unknown time zone "
       "'Mars/Olympus' (expected e.g. \"Mon-Fri 08:00-18:00 Europe/Berlin\")"},
      {head + "    allow: [read]\n    when: { time: \"Mon-Fry 08:00-18:00 UTC\" }\n",
       "p.yaml:5:19: bad time window 'Mon-Fry 08:00-18:00 UTC': days are Mon, Tue, Wed, Thu, "
       "Fri, Sat, Sun, as 'Mon-Fri' or 'Mon,Wed' (expected e.g. \"Mon-Fri 08:00-18:00 "
       "Europe/Berlin\")"},
      {head + "    allow: [read]\n    when: { time: \"Mon 08:00-25:00 UTC\" }\n",
       "p.yaml:5:19: bad time window 'Mon 08:00-25:00 UTC': hours are HH:MM-HH:MM (00:00 to "
       "24:00) (expected e.g. \"Mon-Fri 08:00-18:00 Europe/Berlin\")"},
      {head + "    allow: [read]\n    when: { time: \"Mon 08:00-08:00 UTC\" }\n",
       "p.yaml:5:19: bad time window 'Mon 08:00-08:00 UTC': the window is empty (start equals "
       "end) (expected e.g. \"Mon-Fri 08:00-18:00 Europe/Berlin\")"},
      {head + "    allow: [read]\n    when: { time: \"Mon 08:00-09:00 ../etc/passwd\" }\n",
       "p.yaml:5:19: bad time window 'Mon 08:00-09:00 ../etc/passwd': a time zone name must not "
       "start with '/' or contain '..' (expected e.g. \"Mon-Fri 08:00-18:00 Europe/Berlin\")"},
      {"workflow: w\nmode: dry\nrules: []\n",
       "p.yaml:2:7: mode must be 'enforce' or 'shadow', got 'dry'"},
      {head + "    allow: [read, read]\n", "p.yaml:4:19: action 'read' is listed twice"},
      {head + "    allow: [read]\n    who: { methods: [password] }\n",
       "p.yaml:5:22: unknown method 'password'; expected jwt, introspection, "
       "client_certificate, session or none"},
      {head + "    allow: [read]\n    who: { claims: [{claim: t, equals: a, exists: true}] }\n",
       "p.yaml:5:21: a claim condition needs exactly one of equals, in, exists"},
      {"rules:\n  - id: a\n    allow: [read]\n", "p.yaml:1:1: missing required key 'workflow'"},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(err(text), want) << text;
  }
}

TEST(LoaderTest, NamespacesAreNamesOrGlobs) {
  auto r = load(R"(workflow: "*"
upstream: temporal
rules:
  - id: prod-read
    allow: [read, list]
    namespaces: [prod, "prod-*"]
  - id: any-read
    allow: [read]
)");
  ASSERT_TRUE(r.isOk()) << r.status().message();
  const PolicyFile& f = r->files[0];
  EXPECT_EQ(f.rules[0].namespaces, (std::vector<std::string>{"prod", "prod-*"}));
  EXPECT_TRUE(f.rules[1].namespaces.empty());
}

TEST(LoaderTest, DuplicateIdsNameBothPositions) {
  auto r = loadPolicySources({{"b.yaml", "workflow: y\nrules:\n  - id: x\n    allow: [read]\n"},
                              {"a.yaml", "workflow: x\nrules:\n  - id: x\n    deny: [stop]\n"}});
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(),
            "b.yaml:3:5: duplicate rule id 'x' (first defined at a.yaml:3:5)");
}

TEST(LoaderTest, VersionIsDeterministicAndOrderFree) {
  const PolicySource a{"a.yaml", "workflow: x\nrules:\n  - id: a\n    allow: [read]\n"};
  const PolicySource b{"b.yaml", "workflow: y\nrules:\n  - id: b\n    allow: [read]\n"};
  auto v1 = loadPolicySources({a, b});
  auto v2 = loadPolicySources({b, a});
  ASSERT_TRUE(v1.isOk() && v2.isOk());
  EXPECT_EQ(v1->version, v2->version);
  EXPECT_EQ(v1->files[0].name, "a.yaml");
  auto v3 = loadPolicySources({a, {"b.yaml", b.second + "# comment\n"}});
  ASSERT_TRUE(v3.isOk());
  EXPECT_NE(v1->version, v3->version);
  EXPECT_EQ(versionString(0x1f), "000000000000001f");
}

TEST(LoaderTest, DirectorySkipsHiddenAndOtherFiles) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("policy_loader_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "..data");
  std::ofstream(dir / "b.yaml") << "workflow: y\nrules:\n  - id: b\n    allow: [read]\n";
  std::ofstream(dir / "a.yml") << "workflow: x\nrules:\n  - id: a\n    allow: [read]\n";
  std::ofstream(dir / "README.md") << "not policy";
  std::ofstream(dir / ".hidden.yaml") << "broken: [";
  auto r = loadPolicyDirectory(dir.string());
  ASSERT_TRUE(r.isOk()) << r.status().message();
  ASSERT_EQ(r->files.size(), 2u);
  EXPECT_EQ(r->files[0].name, "a.yml");
  EXPECT_EQ(r->files[1].name, "b.yaml");
  fs::remove(dir / "a.yml");
  fs::remove(dir / "b.yaml");
  auto empty = loadPolicyDirectory(dir.string());
  EXPECT_FALSE(empty.isOk());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stepgate::policy
