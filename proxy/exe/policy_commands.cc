#include "proxy/exe/policy_commands.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "policy/check.h"
#include "policy/compiler.h"
#include "policy/diff.h"
#include "policy/explain.h"
#include "policy/loader.h"
#include "policy/test_runner.h"
#include "policy/who_can.h"

namespace stepgate::exe {
namespace {

constexpr char kPolicyUsage[] =
    "usage: stepgate policy <command> ...\n"
    "  check DIR [--catalog FILE] [--strict]   load errors and warnings\n"
    "  test DIR CASES.yaml                     run expected-decision cases\n"
    "  explain DIR (--principal FILE | --subject S [--groups a,b] [--provider P]\n"
    "          [--method M] [--mfa] [--claim k=v]...) --workflow W --action A[,B]\n"
    "          [--step S] [--namespace N] [--upstream U] [--execution ID]\n"
    "          [--started-by-caller true|false]\n"
    "          [--input /path=value]... [--source-ip IP] [--time RFC3339]\n"
    "                                          the decision and every rule considered\n"
    "  who-can DIR --workflow W --action A [--step S] [--namespace N] [--upstream U]\n"
    "                                          the allows that grant it, the denies that can undo "
    "it\n"
    "  diff OLD NEW                            semantic difference, as Markdown\n"
    "exit codes: 0 ok, 1 errors (or warnings with --strict, or failed cases), 2 usage;\n"
    "diff: 0 no change, 1 access narrowed only, 2 access widened, 3 errors or usage\n";

int usage(const char* message) {
  if (message != nullptr)
    std::fprintf(stderr, "stepgate policy: %s\n\n", message);
  std::fputs(kPolicyUsage, stderr);
  return 2;
}

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<policy::PolicySet> loadOrReport(const std::string& dir) {
  auto set = policy::loadPolicyDirectory(dir);
  if (!set.isOk()) {
    // The loader names files relative to `dir`; prefix it so editors can jump to them.
    const std::string& m = set.status().message();
    const bool named = m.rfind(dir, 0) == 0;
    std::fprintf(stderr, "%s%s\n", named ? "" : (dir + "/").c_str(), m.c_str());
    return std::nullopt;
  }
  return std::move(set).value();
}

int checkCmd(int argc, char** argv) {
  std::string dir, catalog_path;
  bool strict = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--catalog") == 0 && i + 1 < argc) {
      catalog_path = argv[++i];
    } else if (std::strcmp(argv[i], "--strict") == 0) {
      strict = true;
    } else if (argv[i][0] != '-' && dir.empty()) {
      dir = argv[i];
    } else {
      return usage((std::string("check: unexpected argument '") + argv[i] + "'").c_str());
    }
  }
  if (dir.empty())
    return usage("check: missing DIR");
  std::optional<policy::Catalog> catalog;
  if (!catalog_path.empty()) {
    const auto text = readFile(catalog_path);
    if (!text) {
      std::fprintf(stderr, "%s: error: cannot read\n", catalog_path.c_str());
      return 1;
    }
    auto parsed = policy::parseCatalog(catalog_path, *text);
    if (!parsed.isOk()) {
      std::fprintf(stderr, "%s\n", parsed.status().message().c_str());
      return 1;
    }
    catalog = std::move(parsed).value();
  }
  const auto set = loadOrReport(dir);
  if (!set)
    return 1;
  const policy::CheckReport report = policy::checkPolicy(*set, catalog ? &*catalog : nullptr);
  std::fputs(policy::renderCheck(*set, report, dir + "/").c_str(), stdout);
  return strict && !report.warnings.empty() ? 1 : 0;
}

int testCmd(int argc, char** argv) {
  if (argc != 3)
    return usage("test: expected DIR CASES.yaml");
  auto set = loadOrReport(argv[1]);
  if (!set)
    return 1;
  const auto text = readFile(argv[2]);
  if (!text) {
    std::fprintf(stderr, "%s: error: cannot read\n", argv[2]);
    return 1;
  }
  const auto cases = policy::parseTestCases(argv[2], *text);
  if (!cases.isOk()) {
    std::fprintf(stderr, "%s\n", cases.status().message().c_str());
    return 1;
  }
  const auto compiled = policy::compile(std::move(*set));
  const policy::TestReport report = policy::runTestCases(*compiled, cases.value());
  std::fputs(policy::renderTestReport(report).c_str(), stdout);
  return report.failed == 0 ? 0 : 1;
}

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find(',', start), s.size());
    if (end > start)
      out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int explainCmd(int argc, char** argv) {
  std::string dir, principal_file;
  policy::TestCase c;
  c.principal.method = identity::AuthMethod::kJwt;
  std::vector<std::pair<std::string, std::vector<std::string>>> claims;
  std::string method = "jwt";
  bool inline_principal = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a[0] != '-') {
      if (!dir.empty())
        return usage(("explain: unexpected argument '" + a + "'").c_str());
      dir = a;
      continue;
    }
    if (a == "--mfa") {
      c.principal.mfa = true;
      inline_principal = true;
      continue;
    }
    if (i + 1 >= argc)
      return usage(("explain: " + a + " needs a value").c_str());
    const std::string v = argv[++i];
    if (a == "--principal") {
      principal_file = v;
    } else if (a == "--subject") {
      c.principal.subject = v;
      inline_principal = true;
    } else if (a == "--groups") {
      c.principal.groups = splitComma(v);
      inline_principal = true;
    } else if (a == "--provider") {
      c.principal.provider = v;
      inline_principal = true;
    } else if (a == "--method") {
      method = v;
      inline_principal = true;
    } else if (a == "--claim") {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        return usage("explain: --claim needs NAME=VALUE");
      claims.push_back({v.substr(0, eq), {v.substr(eq + 1)}});
      inline_principal = true;
    } else if (a == "--workflow") {
      c.operation.workflow = v;
    } else if (a == "--step") {
      c.operation.step = v;
    } else if (a == "--namespace") {
      c.operation.namespace_name = v;
    } else if (a == "--upstream") {
      c.operation.upstream = v;
    } else if (a == "--execution") {
      c.operation.execution = v;
    } else if (a == "--action") {
      for (const std::string& name : splitComma(v)) {
        const auto action = policy::parseAction(name);
        if (!action)
          return usage(("explain: unknown action '" + name + "'").c_str());
        c.operation.actions.add(*action);
      }
    } else if (a == "--started-by-caller") {
      if (v != "true" && v != "false")
        return usage("explain: --started-by-caller true|false");
      c.operation.started_by_caller_known = true;
      c.operation.started_by_caller = v == "true";
    } else if (a == "--input") {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || v[0] != '/')
        return usage("explain: --input /path=value");
      const std::string value = v.substr(eq + 1);
      char* end = nullptr;
      const double number = std::strtod(value.c_str(), &end);
      if (!value.empty() && end == value.c_str() + value.size()) {
        c.operation.input.push_back(policy::InputField::ofNumber(v.substr(0, eq), number));
      } else {
        c.operation.input.push_back(policy::InputField::ofString(v.substr(0, eq), value));
      }
    } else if (a == "--source-ip") {
      auto addr =
          parseSocketAddress(v.find(':') != std::string::npos ? "[" + v + "]:0" : v + ":0", true);
      if (!addr.isOk())
        return usage("explain: --source-ip must be an IP address");
      c.source = addr.value();
      c.has_source = true;
    } else if (a == "--time") {
      const auto t = policy::parseRfc3339(v);
      if (!t)
        return usage("explain: --time must be RFC 3339, e.g. 2026-11-23T09:30:00Z");
      c.now = *t;
    } else {
      return usage(("explain: unknown option '" + a + "'").c_str());
    }
  }
  if (dir.empty())
    return usage("explain: missing DIR");
  if (c.operation.actions.empty())
    return usage("explain: missing --action");
  if (!principal_file.empty() && inline_principal) {
    return usage("explain: give --principal FILE or inline principal flags, not both");
  }
  if (!principal_file.empty()) {
    const auto text = readFile(principal_file);
    if (!text) {
      std::fprintf(stderr, "%s: error: cannot read\n", principal_file.c_str());
      return 1;
    }
    if (Status s = policy::parsePrincipalDocument(principal_file, *text, c); !s.isOk()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
  } else {
    std::string doc = "{method: " + method + "}";
    if (Status s = policy::parsePrincipalDocument("--method", doc, c); !s.isOk()) {
      return usage(("explain: " + s.message()).c_str());
    }
    c.has_claims = !claims.empty();
    c.claims = policy::ListClaims(std::move(claims));
  }
  auto set = loadOrReport(dir);
  if (!set)
    return 1;
  const auto compiled = policy::compile(std::move(*set));
  const policy::Explanation e = policy::explain(*compiled, c.principal, c.operation, c.context());
  std::fputs(policy::renderExplanation(*compiled, c.operation, e).c_str(), stdout);
  return 0;
}

int whoCanCmd(int argc, char** argv) {
  std::string dir;
  policy::WhoCanQuery q;
  bool have_workflow = false, have_action = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a[0] != '-') {
      if (!dir.empty())
        return usage(("who-can: unexpected argument '" + a + "'").c_str());
      dir = a;
      continue;
    }
    if (i + 1 >= argc)
      return usage(("who-can: " + a + " needs a value").c_str());
    const std::string v = argv[++i];
    if (a == "--workflow") {
      q.workflow = v;
      have_workflow = true;
    } else if (a == "--action") {
      const auto action = policy::parseAction(v);
      if (!action)
        return usage(("who-can: unknown action '" + v + "'").c_str());
      q.action = *action;
      have_action = true;
    } else if (a == "--step") {
      q.step = v;
    } else if (a == "--namespace") {
      q.namespace_name = v;
    } else if (a == "--upstream") {
      q.upstream = v;
    } else {
      return usage(("who-can: unknown option '" + a + "'").c_str());
    }
  }
  if (dir.empty() || !have_workflow || !have_action) {
    return usage("who-can: needs DIR --workflow W --action A");
  }
  const auto set = loadOrReport(dir);
  if (!set)
    return 1;
  std::fputs(policy::renderWhoCan(policy::whoCan(*set, q)).c_str(), stdout);
  return 0;
}

int diffCmd(int argc, char** argv) {
  if (argc != 3) {
    usage("diff: expected OLD NEW");
    return 3;
  }
  const auto before = loadOrReport(argv[1]);
  if (!before)
    return 3;
  const auto after = loadOrReport(argv[2]);
  if (!after)
    return 3;
  const policy::DiffReport report = policy::diffPolicies(*before, *after);
  std::fputs(policy::renderDiff(report).c_str(), stdout);
  return report.widened() ? 2 : report.narrowed() ? 1 : 0;
}

}  // namespace

int policyCommand(int argc, char** argv) {
  if (argc < 2)
    return usage(nullptr);
  const char* sub = argv[1];
  if (std::strcmp(sub, "-h") == 0 || std::strcmp(sub, "--help") == 0) {
    std::fputs(kPolicyUsage, stdout);
    return 0;
  }
  if (std::strcmp(sub, "check") == 0)
    return checkCmd(argc - 1, argv + 1);
  if (std::strcmp(sub, "test") == 0)
    return testCmd(argc - 1, argv + 1);
  if (std::strcmp(sub, "explain") == 0)
    return explainCmd(argc - 1, argv + 1);
  if (std::strcmp(sub, "who-can") == 0)
    return whoCanCmd(argc - 1, argv + 1);
  if (std::strcmp(sub, "diff") == 0)
    return diffCmd(argc - 1, argv + 1);
  return usage((std::string("unknown command '") + sub + "'").c_str());
}

}  // namespace stepgate::exe
