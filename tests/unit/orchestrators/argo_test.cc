// The Argo Workflows profile: coverage of the vendored swagger.json and the HTTP-only
// handlers, and the hard cases (template identity, node field selectors, archived workflows,
// bodies decoded the way Go's encoding/json decodes them).

#include "orchestrators/argo.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {
namespace {

using policy::Action;
using policy::ActionSet;

ProfileConstSharedPtr profile() {
  config::UpstreamConfig u;
  u.name = "argo-prod";
  u.profile = "argo";
  return makeArgoProfile(u);
}

// ---- A classification conversation ---------------------------------------------------

struct Talk {
  Classification c;
  bool asked_body = false;
  std::vector<LookupKey> keys;  // every key asked for, in order
};

using Answers = std::function<LookupResult(const LookupKey&)>;

// Classifies `target` ("path?query"), reading `body` when asked and answering lookups with
// `answers`; stops at the first ask it cannot satisfy.
Talk run(const Profile& p, std::string_view method, std::string_view target,
         std::optional<std::string> body = std::nullopt, Answers answers = nullptr) {
  Talk r;
  std::string path(target), query;
  if (const size_t q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path.resize(q);
  }
  RequestView v;
  v.method = method;
  v.path = path;
  v.query = query;
  std::optional<JsonValue> json;
  std::vector<LookupKey> keys;
  std::vector<LookupResult> results;
  std::vector<ResolvedLookup> resolved;
  for (int round = 0; round < 5; ++round) {
    r.c = p.classify(v);
    if (r.c.outcome == Outcome::kNeedsBody) {
      if (r.asked_body)
        ADD_FAILURE() << "asked for the body twice";
      if (r.asked_body || !body)
        return r;
      r.asked_body = true;
      v.body_read = true;
      v.body = *body;
      StatusOr<JsonValue> parsed = parseJson(*body);
      if (parsed.isOk())
        json.emplace(std::move(parsed.value()));
      v.json = json ? &*json : nullptr;
      continue;
    }
    if (r.c.outcome == Outcome::kNeedsLookup) {
      if (!answers)
        return r;
      for (const LookupKey& k : r.c.lookups) {
        for (const LookupKey& seen : keys) {
          if (seen == k) {
            ADD_FAILURE() << "asked twice for " << k.id;
            return r;
          }
        }
        keys.push_back(k);
        results.push_back(answers(k));
        r.keys.push_back(k);
      }
      resolved.clear();
      for (size_t i = 0; i < keys.size(); ++i)
        resolved.push_back({&keys[i], &results[i]});
      v.lookups = resolved;
      continue;
    }
    return r;
  }
  ADD_FAILURE() << "the conversation did not end";
  return r;
}

// The nodes of the sample workflow: (id, name, displayName) triples.
const std::vector<std::string> kNodes = {
    "nightly",        "nightly",
    "nightly",  //
    "nightly-123",    "nightly.approve",
    "approve",  //
    "nightly-456",    "nightly.build(0:linux)",
    "build(0:linux)",  //
    "nightly-789",    "nightly.deploy",
    "deploy-prod",  //
};

LookupResult found(std::string workflow, std::vector<std::string> nodes = kNodes) {
  LookupResult r;
  r.found = true;
  r.workflow = std::move(workflow);
  r.execution = "team-a/nightly";
  r.steps = std::move(nodes);
  return r;
}

Answers always(LookupResult r) {
  return [r](const LookupKey&) { return r; };
}

ActionSet actionsOf(const Classification& c) {
  ActionSet s = c.op.actions;
  for (const policy::Operation& o : c.also) {
    for (unsigned a = 0; a < policy::kActionCount; ++a) {
      if (o.actions.has(static_cast<Action>(a)))
        s.add(static_cast<Action>(a));
    }
  }
  return s;
}

ActionSet parseActions(std::string_view text) {
  ActionSet s;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const auto a = policy::parseAction(text.substr(0, comma));
    EXPECT_TRUE(a.has_value()) << text;
    if (a)
      s.add(*a);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return s;
}

// "{namespace}" and "{file...}" -> "{}".
std::string placeholders(std::string_view t) {
  std::string out;
  bool in = false;
  for (char ch : t) {
    if (ch == '{') {
      in = true;
      out += "{}";
    } else if (ch == '}') {
      in = false;
    } else if (!in) {
      out += ch;
    }
  }
  return out;
}

// ---- Coverage ------------------------------------------------------------------------

const std::map<std::string, std::string> kParamValues = {
    {"namespace", "team-a"},
    {"name", "nightly"},
    {"uid", "6d3bf6f5-0b4e-4a2c-9d1e-0c2f1a0d9b10"},
    {"nodeId", "nightly-123"},
    {"artifactName", "main-logs"},
    {"podName", "nightly-main-123"},
    {"discriminator", "github"},
    {"key", "build-slots"},
    {"idDiscriminator", "workflows"},
    {"id", "nightly"},
    {"artifactDiscriminator", "outputs"},
    {"workflowTemplateName", "deploy"},
};

std::string concrete(std::string_view t) {
  std::string out;
  while (!t.empty()) {
    const size_t open = t.find('{');
    if (open == std::string_view::npos) {
      out.append(t);
      break;
    }
    out.append(t.substr(0, open));
    const size_t close = t.find('}', open);
    const std::string name(t.substr(open + 1, close - open - 1));
    const auto it = kParamValues.find(name);
    EXPECT_NE(it, kParamValues.end()) << "no sample value for {" << name << "}";
    out.append(it == kParamValues.end() ? "x" : it->second);
    t.remove_prefix(close + 1);
  }
  return out;
}

// Sample bodies, by operation; several when the actions depend on the body (the union of
// what the samples get must be the row's actions).
const std::map<std::string, std::vector<std::string>> kBodies = {
    {"WorkflowService_CreateWorkflow",
     {R"({"namespace":"team-a","workflow":{"metadata":{"generateName":"hello-"},"spec":
         {"entrypoint":"main","templates":[{"name":"main","container":{"image":"busybox"}}]}}})"}},
    {"WorkflowService_SubmitWorkflow",
     {R"({"resourceKind":"WorkflowTemplate","resourceName":"deploy",
          "submitOptions":{"parameters":["env=prod"]}})"}},
    {"WorkflowService_LintWorkflow",
     {R"({"workflow":{"spec":{"workflowTemplateRef":{"name":"deploy"}}}})"}},
    {"WorkflowService_RetryWorkflow",
     {"{}", R"({"restartSuccessful":true,"nodeFieldSelector":"displayName=approve"})"}},
    {"WorkflowService_ResumeWorkflow", {"{}"}},
    {"WorkflowService_StopWorkflow",
     {"{}", R"({"nodeFieldSelector":"displayName=approve","message":"rejected"})"}},
    {"WorkflowService_SetWorkflow",
     {R"({"nodeFieldSelector":"displayName=approve","phase":"Succeeded",
          "outputParameters":"{\"approved\":\"yes\"}"})",
      R"({"nodeFieldSelector":"id=nightly-123","phase":"Failed","message":"no"})"}},
    {"WorkflowTemplateService_CreateWorkflowTemplate",
     {R"({"template":{"metadata":{"name":"deploy"},"spec":{"entrypoint":"main"}}})"}},
    {"WorkflowTemplateService_UpdateWorkflowTemplate",
     {R"({"template":{"metadata":{"name":"nightly"},"spec":{"entrypoint":"main"}}})"}},
    {"WorkflowTemplateService_LintWorkflowTemplate",
     {R"({"template":{"metadata":{"name":"deploy"},"spec":{}}})"}},
    {"ClusterWorkflowTemplateService_CreateClusterWorkflowTemplate",
     {R"({"template":{"metadata":{"name":"deploy"},"spec":{}}})"}},
    {"ClusterWorkflowTemplateService_UpdateClusterWorkflowTemplate",
     {R"({"template":{"metadata":{"name":"nightly"},"spec":{}}})"}},
    {"ClusterWorkflowTemplateService_LintClusterWorkflowTemplate",
     {R"({"template":{"metadata":{"name":"deploy"},"spec":{}}})"}},
    {"CronWorkflowService_LintCronWorkflow",
     {R"({"cronWorkflow":{"metadata":{"name":"nightly"},"spec":{"schedule":"0 1 * * *",
          "workflowSpec":{"workflowTemplateRef":{"name":"deploy"}}}}})"}},
    {"CronWorkflowService_CreateCronWorkflow",
     {R"({"cronWorkflow":{"metadata":{"name":"nightly"},"spec":{"schedule":"0 1 * * *",
          "workflowSpec":{"workflowTemplateRef":{"name":"deploy"}}}}})"}},
    {"CronWorkflowService_UpdateCronWorkflow",
     {R"({"cronWorkflow":{"metadata":{"name":"nightly"},"spec":{"schedule":"0 2 * * *",
          "workflowSpec":{"workflowTemplateRef":{"name":"deploy"}}}}})"}},
    {"ArchivedWorkflowService_RetryArchivedWorkflow",
     {R"({"namespace":"team-a"})", R"({"namespace":"team-a","restartSuccessful":true})"}},
    {"ArchivedWorkflowService_ResubmitArchivedWorkflow",
     {R"({"namespace":"team-a","memoized":true})"}},
};

struct SpecOp {
  std::string method;
  std::string path;
  std::string id;
};

std::vector<SpecOp> swaggerOperations() {
  const std::string file =
      std::string(STEPGATE_SOURCE_DIR) + "/tests/fixtures/specs/argo/swagger.json";
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in) << file;
  std::stringstream text;
  text << in.rdbuf();
  JsonLimits limits;
  limits.max_bytes = 16u << 20;
  limits.max_depth = 128;
  StatusOr<JsonValue> doc = parseJson(text.str(), limits);
  EXPECT_TRUE(doc.isOk());
  std::vector<SpecOp> ops;
  if (!doc.isOk())
    return ops;
  const JsonValue* paths = doc->find("paths");
  EXPECT_NE(paths, nullptr);
  if (paths == nullptr)
    return ops;
  for (const JsonMember& p : paths->asObject()) {
    for (const JsonMember& m : p.value.asObject()) {
      if (m.name == "parameters")
        continue;
      std::string method;
      for (char ch : m.name)
        method += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
      const JsonValue* id = m.value.find("operationId");
      ops.push_back({method, p.name, id != nullptr && id->isString() ? id->asString() : m.name});
    }
  }
  return ops;
}

// Handlers argo-server serves outside grpc-gateway that swagger.json does not list
// (server/apiserver/argoserver.go).
const std::vector<SpecOp> kHttpOnly = {
    {"POST", "/upload-artifacts/{namespace}/{workflowTemplateName}/{artifactName}",
     "UploadInputArtifact"},
    {"GET", "/oauth2/redirect", "SSO redirect"},
    {"GET", "/oauth2/callback", "SSO callback"},
    {"GET", "/metrics", "metrics"},
    {"GET", "/", "UI"},
};

void checkCovered(const Profile& p, const std::vector<OperationInfo>& rows, const SpecOp& op) {
  SCOPED_TRACE(op.method + " " + op.path + " (" + op.id + ")");
  const OperationInfo* row = nullptr;
  for (const OperationInfo& r : rows) {
    if (r.method == op.method && placeholders(r.path) == placeholders(op.path))
      row = &r;
  }
  ASSERT_NE(row, nullptr) << "no row in operations()";
  const std::string target = concrete(op.path);
  const auto it = kBodies.find(op.id);
  std::vector<std::optional<std::string>> bodies;
  if (it == kBodies.end()) {
    bodies.emplace_back(std::nullopt);
  } else {
    for (const std::string& b : it->second)
      bodies.emplace_back(b);
  }
  ActionSet all;
  for (const std::optional<std::string>& body : bodies) {
    const Talk r = run(p, op.method, target, body, always(found("deploy")));
    if (row->actions == "unclassified") {
      EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
      EXPECT_FALSE(r.c.why.empty());
      continue;
    }
    ASSERT_EQ(r.c.outcome, Outcome::kClassified) << "why: " << r.c.why;
    EXPECT_EQ(r.c.op.upstream, "argo-prod");
    const ActionSet got = actionsOf(r.c);
    all = ActionSet::fromBits(all.bits() | got.bits());
  }
  if (row->actions != "unclassified") {
    EXPECT_EQ(all, parseActions(row->actions))
        << "row says " << row->actions << ", classified " << all.toString();
  }
}

TEST(ArgoProfileCoverage, EverySwaggerOperationHasARowAndClassifiesToIt) {
  const ProfileConstSharedPtr p = profile();
  const std::vector<OperationInfo> rows = p->operations();
  const std::vector<SpecOp> ops = swaggerOperations();
  EXPECT_EQ(ops.size(), 73u);  // 68 /api/v1 operations and 5 artifact GETs at f016ad8
  for (const SpecOp& op : ops)
    checkCovered(*p, rows, op);
}

TEST(ArgoProfileCoverage, EveryHttpOnlyHandlerHasARowAndClassifiesToIt) {
  const ProfileConstSharedPtr p = profile();
  const std::vector<OperationInfo> rows = p->operations();
  for (const SpecOp& op : kHttpOnly)
    checkCovered(*p, rows, op);
}

TEST(ArgoProfileCoverage, RowsAreUniqueAndDeniedRowsAreUnclassified) {
  const ProfileConstSharedPtr p = profile();
  const std::vector<OperationInfo> rows = p->operations();
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_FALSE(rows[i].name.empty());
    EXPECT_FALSE(rows[i].actions.empty());
    for (size_t j = i + 1; j < rows.size(); ++j) {
      EXPECT_FALSE(rows[i].method == rows[j].method &&
                   placeholders(rows[i].path) == placeholders(rows[j].path))
          << rows[i].path;
    }
    if (rows[i].actions == "unclassified") {
      const Talk r = run(*p, rows[i].method, rows[i].path, "{}", always(found("deploy")));
      EXPECT_EQ(r.c.outcome, Outcome::kUnclassified) << rows[i].path;
    } else {
      parseActions(rows[i].actions);
    }
  }
}

// ---- Routing -------------------------------------------------------------------------

TEST(ArgoProfileRouting, LiteralSegmentsBeatVariables) {
  const ProfileConstSharedPtr p = profile();
  // "lint" and "submit" are not namespaces' workflows.
  Talk r = run(*p, "POST", "/api/v1/workflows/team-a/lint",
               R"({"workflow":{"spec":{"workflowTemplateRef":{"name":"deploy"}}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kRead}));
  r = run(*p, "POST", "/api/v1/workflows/team-a/submit",
          R"({"resourceKind":"wftmpl","resourceName":"deploy"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart}));
  EXPECT_TRUE(r.keys.empty());
  // A template named "lint" is reachable by GET (no GET .../lint route).
  r = run(*p, "GET", "/api/v1/workflow-templates/team-a/lint");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "lint");
  r = run(*p, "GET", "/api/v1/archived-workflows-label-keys");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kList}));
}

TEST(ArgoProfileRouting, UnknownApiPathsAreNotTheUi) {
  const ProfileConstSharedPtr p = profile();
  EXPECT_EQ(run(*p, "GET", "/api/v1/workflows/team-a/nightly/unknown").c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "GET", "/api/v2/anything").c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "GET", "/artifacts/team-a").c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "POST", "/workflows/team-a").c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "GET", "/api/v1/workflows/team-a/").c.outcome, Outcome::kUnclassified);
  Talk r = run(*p, "GET", "/workflows/team-a/nightly");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kRead}));
  EXPECT_EQ(r.c.op.workflow, "");
  r = run(*p, "GET", "/");
  ASSERT_TRUE(r.c.classified());
  r = run(*p, "GET", "/metrics");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kAdmin}));
}

TEST(ArgoProfileRouting, PathVariablesArePercentDecodedStrictly) {
  const ProfileConstSharedPtr p = profile();
  Talk r =
      run(*p, "GET", "/api/v1/workflows/team-a/night%6Cy", std::nullopt, always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].id, "nightly");
  EXPECT_EQ(r.c.op.execution, "nightly");
  EXPECT_EQ(run(*p, "GET", "/api/v1/workflows/team-a/bad%ZZ").c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "GET", "/api/v1/workflows/team-a/nul%00").c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "GET", "/api/v1/workflows/team-a/bad%C3").c.outcome, Outcome::kUnclassified);
  r = run(*p, "GET", "/api/v1/workflow-templates/team-a/de%20ploy");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "de ploy");
}

// ---- Starting workflows ----------------------------------------------------------------

TEST(ArgoProfileCreate, TemplateRefIsTheWorkflowAndLabelsAreIgnored) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "POST", "/api/v1/workflows/team-a",
               R"({"workflow":{"metadata":{"generateName":"deploy-",
                  "labels":{"workflows.argoproj.io/workflow-template":"harmless"}},
                  "spec":{"workflowTemplateRef":{"name":"deploy"},
                          "arguments":{"parameters":[{"name":"env","value":"prod"}]}}}})");
  EXPECT_TRUE(r.asked_body);
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.namespace_name, "team-a");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart}));
  EXPECT_EQ(r.c.op.execution, "");
  EXPECT_TRUE(r.c.learn_response);

  r = run(*p, "POST", "/api/v1/workflows/team-a",
          R"({"workflow":{"spec":{"workflowTemplateRef":{"name":"deploy","clusterScope":true}}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "cluster/deploy");
}

TEST(ArgoProfileCreate, InlineSpecIsStartAndDefineWhateverTheLabelsSay) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "POST", "/api/v1/workflows/team-a",
                     R"({"workflow":{"metadata":{"name":"x","labels":
                        {"workflows.argoproj.io/workflow-template":"harmless"}},
                        "spec":{"entrypoint":"main","templates":[{"name":"main",
                        "container":{"image":"evil"}}]}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "");
  EXPECT_EQ(r.c.op.execution, "");  // not the unresolved shape
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
}

TEST(ArgoProfileCreate, SpecOverridesBesideATemplateRefNeedDefine) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "POST", "/api/v1/workflows/team-a",
                     R"({"workflow":{"spec":{"workflowTemplateRef":{"name":"deploy"},
                        "podSpecPatch":"{\"containers\":[{\"name\":\"main\",\"image\":\"x\"}]}"}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
}

TEST(ArgoProfileCreate, MembersDifferingOnlyInCaseAreRejected) {
  const ProfileConstSharedPtr p = profile();
  // Go's encoding/json would take the last one: an inline spec disguised as a template run.
  Talk r = run(*p, "POST", "/api/v1/workflows/team-a",
               R"({"workflow":{"spec":{"workflowTemplateRef":{"name":"deploy"},
                  "WorkflowTemplateRef":null,"templates":[]}}})");
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
  EXPECT_FALSE(r.c.why.empty());
  // The Kelvin sign folds to 'k' in encoding/json.
  r = run(*p, "POST", "/api/v1/workflows/team-a",
          "{\"workflow\":{\"spec\":{\"workflowTemplateRef\":{\"name\":\"deploy\"},"
          "\"wor\xE2\x84\xAA"
          "flowTemplateRef\":{\"name\":\"other\"}}}}");
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
  // A differently-cased single member is what the server reads.
  r = run(*p, "POST", "/api/v1/workflows/team-a",
          R"({"Workflow":{"SPEC":{"workflowtemplateref":{"NAME":"deploy"}}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart}));
}

TEST(ArgoProfileCreate, BadBodiesAreUnclassified) {
  const ProfileConstSharedPtr p = profile();
  EXPECT_EQ(run(*p, "POST", "/api/v1/workflows/team-a", "not json").c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "POST", "/api/v1/workflows/team-a", "[]").c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "POST", "/api/v1/workflows/team-a", "{}").c.outcome, Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "POST", "/api/v1/workflows/team-a",
                R"({"workflow":{"spec":{"workflowTemplateRef":{"name":7}}}})")
                .c.outcome,
            Outcome::kUnclassified);
}

TEST(ArgoProfileCreate, DryRunsTeachNothing) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "POST", "/api/v1/workflows/team-a",
               R"({"serverDryRun":true,"workflow":{"spec":{"workflowTemplateRef":{"name":"d"}}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_FALSE(r.c.learn_response);
  r = run(*p, "POST", "/api/v1/workflows/team-a",
          R"({"createOptions":{"dryRun":["All"]},
              "workflow":{"spec":{"workflowTemplateRef":{"name":"d"}}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_FALSE(r.c.learn_response);
}

TEST(ArgoProfileSubmit, ResourceKindAliasesNameTheTemplate) {
  const ProfileConstSharedPtr p = profile();
  for (const char* kind : {"WorkflowTemplate", "workflowtemplate", "workflowtemplates", "wftmpl"}) {
    const Talk r =
        run(*p, "POST", "/api/v1/workflows/team-a/submit",
            std::string(R"({"resourceKind":")") + kind + R"(","resourceName":"deploy"})");
    ASSERT_TRUE(r.c.classified()) << kind;
    EXPECT_EQ(r.c.op.workflow, "deploy");
    EXPECT_TRUE(r.c.learn_response);
  }
  for (const char* kind : {"ClusterWorkflowTemplate", "clusterworkflowtemplate",
                           "clusterworkflowtemplates", "cwftmpl"}) {
    const Talk r =
        run(*p, "POST", "/api/v1/workflows/team-a/submit",
            std::string(R"({"resourceKind":")") + kind + R"(","resourceName":"deploy"})");
    ASSERT_TRUE(r.c.classified()) << kind;
    EXPECT_EQ(r.c.op.workflow, "cluster/deploy");
  }
  // The server's switch is case-sensitive.
  EXPECT_EQ(run(*p, "POST", "/api/v1/workflows/team-a/submit",
                R"({"resourceKind":"WORKFLOWTEMPLATE","resourceName":"deploy"})")
                .c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "POST", "/api/v1/workflows/team-a/submit",
                R"({"resourceKind":"Workflow","resourceName":"deploy"})")
                .c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(
      run(*p, "POST", "/api/v1/workflows/team-a/submit", R"({"resourceKind":"wftmpl"})").c.outcome,
      Outcome::kUnclassified);
}

TEST(ArgoProfileSubmit, CronWorkflowIsResolvedToItsTemplate) {
  const ProfileConstSharedPtr p = profile();
  const std::string body = R"({"resourceKind":"cronwf","resourceName":"nightly"})";
  Talk r = run(*p, "POST", "/api/v1/workflows/team-a/submit", body);
  EXPECT_TRUE(r.asked_body);
  EXPECT_EQ(r.c.outcome, Outcome::kNeedsLookup);
  r = run(*p, "POST", "/api/v1/workflows/team-a/submit", body, always(found("deploy")));
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0], (LookupKey{argo::kLookupCron, "team-a", "nightly", {}}));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart}));

  r = run(*p, "POST", "/api/v1/workflows/team-a/submit", body, always(LookupResult{}));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "");  // unresolved
  EXPECT_EQ(r.c.op.execution, "nightly");
}

TEST(ArgoProfileSubmit, AnotherServiceAccountAlsoNeedsDefine) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "POST", "/api/v1/workflows/team-a/submit",
                     R"({"resourceKind":"WorkflowTemplate","resourceName":"deploy",
                        "submitOptions":{"serviceAccount":"cluster-admin"}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
}

// ---- Calls on one workflow ---------------------------------------------------------

TEST(ArgoProfileWorkflow, LookupGivesTheTemplate) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "PUT", "/api/v1/workflows/team-a/nightly/terminate");
  EXPECT_EQ(r.c.outcome, Outcome::kNeedsLookup);
  ASSERT_EQ(r.c.lookups.size(), 1u);
  EXPECT_EQ(r.c.lookups[0], (LookupKey{argo::kLookupWorkflow, "team-a", "nightly", {}}));

  r = run(*p, "PUT", "/api/v1/workflows/team-a/nightly/terminate", std::nullopt,
          always(found("deploy")));
  EXPECT_FALSE(r.asked_body);
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.execution, "nightly");
  EXPECT_EQ(r.c.op.namespace_name, "team-a");
  EXPECT_EQ(r.c.op.step, "");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStop}));
}

TEST(ArgoProfileWorkflow, NotFoundIsTheUnresolvedShape) {
  const ProfileConstSharedPtr p = profile();
  const Talk r =
      run(*p, "DELETE", "/api/v1/workflows/team-a/nightly", std::nullopt, always(LookupResult{}));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "");
  EXPECT_EQ(r.c.op.execution, "nightly");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStop, Action::kAdmin}));
}

TEST(ArgoProfileWorkflow, InlineWorkflowHasNoWorkflowAndNoExecution) {
  const ProfileConstSharedPtr p = profile();
  const Talk r =
      run(*p, "GET", "/api/v1/workflows/team-a/nightly", std::nullopt, always(found("")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "");
  EXPECT_EQ(r.c.op.execution, "");  // only a workflow "*" rule can allow it
}

TEST(ArgoProfileWorkflow, LatestAliasIsUnclassified) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "PUT", "/api/v1/workflows/team-a/@latest/terminate", std::nullopt,
                     always(found("deploy")));
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
  EXPECT_TRUE(r.keys.empty());
}

TEST(ArgoProfileWorkflow, GetWithUidAlsoNeedsTheArchivedWorkflow) {
  const ProfileConstSharedPtr p = profile();
  const std::string target = "/api/v1/workflows/team-a/nightly?uid=u-1&fields=metadata";
  Talk r = run(*p, "GET", target, std::nullopt, [](const LookupKey& k) {
    return k.kind == argo::kLookupArchived ? found("old-template") : found("deploy");
  });
  ASSERT_TRUE(r.c.classified());
  ASSERT_EQ(r.keys.size(), 2u);
  EXPECT_EQ(r.keys[1], (LookupKey{argo::kLookupArchived, "", "u-1", {}}));
  EXPECT_EQ(r.c.op.workflow, "deploy");
  ASSERT_EQ(r.c.also.size(), 1u);
  EXPECT_EQ(r.c.also[0].workflow, "old-template");
  EXPECT_EQ(r.c.also[0].execution, "u-1");

  // Only the archived one exists: that is the answer.
  r = run(*p, "GET", target, std::nullopt, [](const LookupKey& k) {
    return k.kind == argo::kLookupArchived ? found("old-template") : LookupResult{};
  });
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "old-template");
  EXPECT_TRUE(r.c.also.empty());

  EXPECT_EQ(run(*p, "GET", "/api/v1/workflows/team-a/nightly?uid=a&uid=b").c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "GET", "/api/v1/workflows/team-a/nightly?uid=%ZZ").c.outcome,
            Outcome::kUnclassified);
}

// ---- Node field selectors ------------------------------------------------------------

Talk resume(const Profile& p, const std::string& body, LookupResult answer = found("deploy")) {
  return run(p, "PUT", "/api/v1/workflows/team-a/nightly/resume", body, always(answer));
}

TEST(ArgoProfileSelector, BodyFirstThenLookupThenClassified) {
  const ProfileConstSharedPtr p = profile();
  const std::string body = R"({"nodeFieldSelector":"displayName=approve"})";
  Talk r = run(*p, "PUT", "/api/v1/workflows/team-a/nightly/resume");
  EXPECT_EQ(r.c.outcome, Outcome::kNeedsBody);
  r = run(*p, "PUT", "/api/v1/workflows/team-a/nightly/resume", body);
  EXPECT_EQ(r.c.outcome, Outcome::kNeedsLookup);
  r = resume(*p, body);
  EXPECT_TRUE(r.asked_body);
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.step, "approve");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kCompleteStep}));
  EXPECT_TRUE(r.c.also.empty());
}

TEST(ArgoProfileSelector, ResumeWithoutSelectorApprovesEveryStep) {
  const ProfileConstSharedPtr p = profile();
  for (const char* body : {"{}", R"({"nodeFieldSelector":""})"}) {
    const Talk r = resume(*p, body);
    ASSERT_TRUE(r.c.classified());
    EXPECT_EQ(r.c.op.step, "");
    EXPECT_EQ(r.c.op.actions, ActionSet({Action::kResume, Action::kCompleteStep}));
  }
  // "," parses to no terms: every suspend node, but the workflow stays suspended.
  const Talk r = resume(*p, R"({"nodeFieldSelector":","})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kCompleteStep}));
}

TEST(ArgoProfileSelector, IdAndNameTermsResolveThroughStatusNodes) {
  const ProfileConstSharedPtr p = profile();
  Talk r = resume(*p, R"({"nodeFieldSelector":"id=nightly-123"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "approve");
  r = resume(*p, R"({"nodeFieldSelector":"name==nightly.build(0:linux),phase=Running"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "build(0:linux)");
  // A node the lookup does not know (yet): any step.
  r = resume(*p, R"({"nodeFieldSelector":"id=nightly-999"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "");
  // id and name disagreeing pick nothing known: any step.
  r = resume(*p, R"({"nodeFieldSelector":"id=nightly-123,name=nightly.deploy"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "");
}

TEST(ArgoProfileSelector, SelectorsOnOtherFieldsWidenToAnyStep) {
  const ProfileConstSharedPtr p = profile();
  for (const char* sel : {"templateName=approval-gate", "phase=Running", "displayName!=approve",
                          "inputs.parameters.env.value=prod", "displayName =approve"}) {
    const Talk r = resume(*p, std::string(R"({"nodeFieldSelector":")") + sel + R"("})");
    ASSERT_TRUE(r.c.classified()) << sel;
    EXPECT_EQ(r.c.op.step, "") << sel;
    EXPECT_TRUE(r.c.also.empty()) << sel;
  }
}

TEST(ArgoProfileSelector, SeveralDisplayNamesAreSeveralOperations) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "PUT", "/api/v1/workflows/team-a/nightly/stop",
                     R"({"nodeFieldSelector":"displayName=approve,displayName=deploy-prod"})",
                     always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "approve");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kFailStep}));
  ASSERT_EQ(r.c.also.size(), 1u);
  EXPECT_EQ(r.c.also[0].step, "deploy-prod");
  EXPECT_EQ(r.c.also[0].workflow, "deploy");
  EXPECT_EQ(r.c.also[0].execution, "nightly");
  EXPECT_EQ(r.c.also[0].actions, ActionSet({Action::kFailStep}));
}

TEST(ArgoProfileSelector, EscapesAreUnescapedAndBadSelectorsUnclassified) {
  const ProfileConstSharedPtr p = profile();
  Talk r = resume(*p, R"({"nodeFieldSelector":"displayName=a\\,b\\=c\\\\"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "a,b=c\\");
  for (const char* sel :
       {"displayName", "displayName=a=b", "displayName=a\\x", "displayName=a\\"}) {
    std::string escaped;
    for (const char* s = sel; *s != '\0'; ++s) {
      if (*s == '\\')
        escaped += '\\';
      escaped += *s;
    }
    r = resume(*p, R"({"nodeFieldSelector":")" + escaped + R"("})");
    EXPECT_EQ(r.c.outcome, Outcome::kUnclassified) << sel;
    EXPECT_TRUE(r.keys.empty()) << sel;
  }
  r = resume(*p, R"({"nodeFieldSelector":7})");
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
  r = resume(*p, R"({"nodeFieldSelector":"displayName=approve",
                     "NodeFieldSelector":""})");
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
}

TEST(ArgoProfileSelector, SetMapsThePhase) {
  const ProfileConstSharedPtr p = profile();
  const std::string path = "/api/v1/workflows/team-a/nightly/set";
  auto set = [&](const std::string& body) {
    return run(*p, "PUT", path, body, always(found("deploy")));
  };
  Talk r = set(R"({"nodeFieldSelector":"displayName=approve","phase":"Succeeded"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kCompleteStep}));
  EXPECT_EQ(r.c.op.step, "approve");
  r = set(R"({"nodeFieldSelector":"displayName=approve","outputParameters":"{\"a\":\"1\"}"})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kCompleteStep}));
  for (const char* phase : {"Failed", "Error"}) {
    r = set(std::string(R"({"nodeFieldSelector":"displayName=approve","phase":")") + phase +
            R"("})");
    ASSERT_TRUE(r.c.classified());
    EXPECT_EQ(r.c.op.actions, ActionSet({Action::kFailStep}));
  }
  EXPECT_EQ(set(R"({"nodeFieldSelector":"displayName=approve","phase":"Running"})").c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(set(R"({"phase":"Succeeded"})").c.outcome, Outcome::kUnclassified);
}

TEST(ArgoProfileSelector, RetryIsWholeWorkflowAndRestartSuccessfulIsRerun) {
  const ProfileConstSharedPtr p = profile();
  const std::string path = "/api/v1/workflows/team-a/nightly/retry";
  Talk r = run(*p, "PUT", path, R"({"nodeFieldSelector":"displayName=approve"})",
               always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kRetry}));
  r = run(*p, "PUT", path, R"({"restartSuccessful":true,"nodeFieldSelector":"id=x"})",
          always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kRetry, Action::kRerun}));
  r = run(*p, "PUT", path, R"({"nodeFieldSelector":"nonsense"})", always(found("deploy")));
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
}

// ---- Templates and cron workflows ------------------------------------------------------

TEST(ArgoProfileTemplates, UpdateMustNameThePathsTemplate) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "PUT", "/api/v1/workflow-templates/team-a/deploy",
               R"({"template":{"metadata":{"name":"deploy"}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kDefine}));
  r = run(*p, "PUT", "/api/v1/workflow-templates/team-a/harmless",
          R"({"template":{"metadata":{"name":"deploy"}}})");
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
  r = run(*p, "PUT", "/api/v1/cluster-workflow-templates/harmless",
          R"({"template":{"metadata":{"name":"deploy"}}})");
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
  r = run(*p, "POST", "/api/v1/workflow-templates/team-a",
          R"({"template":{"metadata":{"generateName":"deploy-"}}})");
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
}

TEST(ArgoProfileTemplates, ClusterTemplatesArePrefixed) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "DELETE", "/api/v1/cluster-workflow-templates/deploy");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "cluster/deploy");
  EXPECT_EQ(r.c.op.namespace_name, "");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kUndefine}));
  r = run(*p, "POST", "/api/v1/cluster-workflow-templates",
          R"({"template":{"metadata":{"name":"deploy"}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "cluster/deploy");
}

TEST(ArgoProfileCron, ByNameOperationsActOnTheCronsTemplate) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "PUT", "/api/v1/cron-workflows/team-a/nightly/suspend", std::nullopt,
               always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0], (LookupKey{argo::kLookupCron, "team-a", "nightly", {}}));
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.execution, "");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kPause}));
  r = run(*p, "DELETE", "/api/v1/cron-workflows/team-a/nightly", std::nullopt,
          always(LookupResult{}));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "");
  EXPECT_EQ(r.c.op.execution, "nightly");  // unresolved
}

TEST(ArgoProfileCron, UpdateAlsoNeedsDefineOnTheTemplateItRanBefore) {
  const ProfileConstSharedPtr p = profile();
  const std::string body = R"({"cronWorkflow":{"metadata":{"name":"nightly"},
      "spec":{"workflowSpec":{"workflowTemplateRef":{"name":"deploy","clusterScope":true}}}}})";
  Talk r = run(*p, "PUT", "/api/v1/cron-workflows/team-a/nightly", body, always(found("backup")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "cluster/deploy");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
  ASSERT_EQ(r.c.also.size(), 1u);
  EXPECT_EQ(r.c.also[0].workflow, "backup");
  EXPECT_EQ(r.c.also[0].actions, ActionSet({Action::kDefine}));

  r = run(*p, "PUT", "/api/v1/cron-workflows/team-a/nightly", body, always(LookupResult{}));
  ASSERT_TRUE(r.c.classified());
  ASSERT_EQ(r.c.also.size(), 1u);
  EXPECT_EQ(r.c.also[0].workflow, "");
  EXPECT_EQ(r.c.also[0].execution, "nightly");  // unresolved: the request is denied

  r = run(*p, "PUT", "/api/v1/cron-workflows/team-a/other", body, always(found("backup")));
  EXPECT_EQ(r.c.outcome, Outcome::kUnclassified);
}

TEST(ArgoProfileCron, InlineCronIsStartAndDefineOnNoWorkflow) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "POST", "/api/v1/cron-workflows/team-a",
                     R"({"cronWorkflow":{"metadata":{"name":"n"},"spec":{"workflowSpec":
                        {"templates":[{"name":"main","container":{"image":"x"}}]}}}})");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart, Action::kDefine}));
}

// ---- Archived workflows ----------------------------------------------------------------

TEST(ArgoProfileArchived, LookedUpByUid) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "GET", "/api/v1/archived-workflows/u-1", std::nullopt, always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0], (LookupKey{argo::kLookupArchived, "", "u-1", {}}));
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.execution, "u-1");
  EXPECT_EQ(r.c.op.namespace_name, "team-a");  // from the answer
  r = run(*p, "DELETE", "/api/v1/archived-workflows/u-1", std::nullopt, always(LookupResult{}));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "");
  EXPECT_EQ(r.c.op.execution, "u-1");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kAdmin}));
}

TEST(ArgoProfileArchived, NamesThatMakeTheServerIgnoreTheUidAreUnclassified) {
  const ProfileConstSharedPtr p = profile();
  EXPECT_EQ(run(*p, "DELETE", "/api/v1/archived-workflows/u-1?namespace=team-a&name=prod-run",
                std::nullopt, always(found("deploy")))
                .c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "PUT", "/api/v1/archived-workflows/u-1/resubmit",
                R"({"namespace":"team-a","name":"prod-run"})", always(found("deploy")))
                .c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "PUT", "/api/v1/archived-workflows/u-1/retry",
                R"({"namespace":"team-a","NAME":"prod-run"})", always(found("deploy")))
                .c.outcome,
            Outcome::kUnclassified);
}

TEST(ArgoProfileArchived, RetryCreatesInTheBodysNamespaceAndIsLearnt) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "PUT", "/api/v1/archived-workflows/u-1/retry",
                     R"({"namespace":"team-b","restartSuccessful":true})", always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.namespace_name, "team-b");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kRetry, Action::kRerun}));
  EXPECT_TRUE(r.c.learn_response);
}

// ---- Artifacts, events ---------------------------------------------------------------

TEST(ArgoProfileArtifacts, NodeIdIsTheNodesDisplayName) {
  const ProfileConstSharedPtr p = profile();
  Talk r = run(*p, "GET", "/artifacts/team-a/nightly/nightly-789/main-logs", std::nullopt,
               always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "deploy-prod");
  EXPECT_EQ(r.c.op.workflow, "deploy");
  r = run(*p, "GET", "/input-artifacts/team-a/nightly/unknown-node/a/b", std::nullopt,
          always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.step, "");
  r = run(*p, "GET", "/artifacts-by-uid/u-1/nightly-123/main-logs", std::nullopt,
          always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.keys[0].kind, argo::kLookupArchived);
  EXPECT_EQ(r.c.op.step, "approve");
  r = run(*p, "GET",
          "/artifact-files/team-a/archived-workflows/u-1/nightly-123/outputs/a/dir/file.txt",
          std::nullopt, always(found("deploy")));
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.keys[0], (LookupKey{argo::kLookupArchived, "", "u-1", {}}));
  EXPECT_EQ(run(*p, "GET", "/artifact-files/team-a/workflow/nightly/n/outputs/a", std::nullopt,
                always(found("deploy")))
                .c.outcome,
            Outcome::kUnclassified);
  EXPECT_EQ(run(*p, "GET", "/artifact-files/team-a/workflows/nightly/n/logs/a", std::nullopt,
                always(found("deploy")))
                .c.outcome,
            Outcome::kUnclassified);
}

TEST(ArgoProfileEvents, ReceiveEventIsWidenedToEveryWorkflow) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "POST", "/api/v1/events/team-a/github");
  ASSERT_TRUE(r.c.classified());
  EXPECT_FALSE(r.asked_body);
  EXPECT_EQ(r.c.op.workflow, "");
  EXPECT_EQ(r.c.op.execution, "");
  EXPECT_EQ(r.c.op.namespace_name, "team-a");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kStart}));
}

TEST(ArgoProfileUpload, DefinesTheTemplatesInput) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "POST", "/upload-artifacts/team-a/deploy/input/data.csv");
  ASSERT_TRUE(r.c.classified());
  EXPECT_EQ(r.c.op.workflow, "deploy");
  EXPECT_EQ(r.c.op.actions, ActionSet({Action::kDefine}));
}

// ---- Lookups and learning ------------------------------------------------------------

TEST(ArgoProfileLookup, CallsArePercentEncoded) {
  const ProfileConstSharedPtr p = profile();
  LookupCall call;
  ASSERT_TRUE(p->lookupCall({argo::kLookupWorkflow, "team-a", "night ly/x", {}}, call));
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.target,
            "/api/v1/workflows/team-a/night%20ly%2Fx?fields=metadata.name,metadata.namespace,"
            "metadata.uid,spec.workflowTemplateRef,status.nodes");
  ASSERT_TRUE(p->lookupCall({argo::kLookupArchived, "", "6d3b-f6f5", {}}, call));
  EXPECT_EQ(call.target, "/api/v1/archived-workflows/6d3b-f6f5");
  ASSERT_TRUE(p->lookupCall({argo::kLookupCron, "team-a", "n%1", {}}, call));
  EXPECT_EQ(call.target, "/api/v1/cron-workflows/team-a/n%251");
  EXPECT_FALSE(p->lookupCall({argo::kLookupWorkflow, "", "nightly", {}}, call));
  EXPECT_FALSE(p->lookupCall({argo::kLookupArchived, "", "", {}}, call));
  EXPECT_FALSE(p->lookupCall({99, "a", "b", {}}, call));
}

constexpr const char* kWorkflowAnswer = R"({
  "metadata": {"name": "nightly", "namespace": "team-a", "uid": "6d3b",
               "labels": {"workflows.argoproj.io/workflow-template": "harmless"}},
  "spec": {"workflowTemplateRef": {"name": "deploy", "clusterScope": true}},
  "status": {"nodes": {
    "nightly": {"id": "nightly", "name": "nightly", "displayName": "nightly",
                "type": "Steps", "phase": "Running", "templateName": "main"},
    "nightly-123": {"id": "nightly-123", "name": "nightly[0].approve",
                    "displayName": "approve", "type": "Suspend", "phase": "Running",
                    "templateName": "approval-gate"}
  }}
})";

TEST(ArgoProfileLookup, ParsesWorkflowAnswers) {
  const ProfileConstSharedPtr p = profile();
  const LookupKey key{argo::kLookupWorkflow, "team-a", "nightly", {}};
  LookupResult r;
  ASSERT_TRUE(p->parseLookup(key, 200, kWorkflowAnswer, r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "cluster/deploy");
  EXPECT_EQ(r.execution, "team-a/nightly");
  const std::vector<std::string> nodes = {
      "nightly", "nightly", "nightly", "nightly-123", "nightly[0].approve", "approve"};
  EXPECT_EQ(r.steps, nodes);

  // Labels are caller data: without a workflowTemplateRef the workflow is inline.
  ASSERT_TRUE(p->parseLookup(key, 200,
                             R"({"metadata":{"name":"x","namespace":"team-a","labels":
                                 {"workflows.argoproj.io/workflow-template":"deploy"}},
                                 "spec":{"templates":[]}})",
                             r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "");
  EXPECT_TRUE(r.steps.empty());

  ASSERT_TRUE(p->parseLookup(key, 404, R"({"code":5,"message":"not found"})", r));
  EXPECT_FALSE(r.found);
  EXPECT_FALSE(p->parseLookup(key, 500, "", r));
  EXPECT_FALSE(p->parseLookup(key, 403, R"({"code":7})", r));
  EXPECT_FALSE(p->parseLookup(key, 200, "<html>", r));
  EXPECT_FALSE(p->parseLookup(key, 200, "[]", r));
}

TEST(ArgoProfileLookup, ParsesArchivedAndCronAnswers) {
  const ProfileConstSharedPtr p = profile();
  LookupResult r;
  ASSERT_TRUE(p->parseLookup({argo::kLookupArchived, "", "6d3b", {}}, 200, kWorkflowAnswer, r));
  EXPECT_EQ(r.workflow, "cluster/deploy");
  EXPECT_EQ(r.steps.size(), 6u);
  ASSERT_TRUE(p->parseLookup({argo::kLookupCron, "team-a", "nightly", {}}, 200,
                             R"({"metadata":{"name":"nightly","namespace":"team-a"},
                                 "spec":{"schedule":"0 1 * * *","workflowSpec":
                                 {"workflowTemplateRef":{"name":"backup"}}}})",
                             r));
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.workflow, "backup");
  EXPECT_FALSE(p->parseLookup({7, "", "x", {}}, 200, "{}", r));
}

TEST(ArgoProfileLearn, StartResponsesTeachTheNewWorkflow) {
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "POST", "/api/v1/workflows/team-a/submit",
                     R"({"resourceKind":"WorkflowTemplate","resourceName":"deploy"})");
  ASSERT_TRUE(r.c.learn_response);
  RequestView v;
  std::vector<Learned> learned;
  const std::string response = R"({"metadata":{"name":"deploy-x7k2p","namespace":"team-a",
      "uid":"9a"},"spec":{"workflowTemplateRef":{"name":"deploy"}},"status":{}})";
  p->learn(v, r.c, 200, response, learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key, (LookupKey{argo::kLookupWorkflow, "team-a", "deploy-x7k2p", {}}));
  EXPECT_TRUE(learned[0].result.found);
  EXPECT_EQ(learned[0].result.workflow, "deploy");

  learned.clear();
  p->learn(v, r.c, 409, response, learned);
  p->learn(v, r.c, 200, "{", learned);
  p->learn(v, r.c, 200, R"({"metadata":{"namespace":"team-a"}})", learned);
  EXPECT_TRUE(learned.empty());
  Classification quiet = r.c;
  quiet.learn_response = false;
  p->learn(v, quiet, 200, response, learned);
  EXPECT_TRUE(learned.empty());
}

TEST(ArgoProfileLearn, ALearntWorkflowNeedsNoLookupKindOfItsOwn) {
  // The learnt entry is keyed like a live lookup, so the next call on it is answered from
  // the cache with the same key the profile asks for.
  const ProfileConstSharedPtr p = profile();
  const Talk r = run(*p, "PUT", "/api/v1/workflows/team-a/deploy-x7k2p/suspend");
  ASSERT_EQ(r.c.outcome, Outcome::kNeedsLookup);
  ASSERT_EQ(r.c.lookups.size(), 1u);
  EXPECT_EQ(r.c.lookups[0], (LookupKey{argo::kLookupWorkflow, "team-a", "deploy-x7k2p", {}}));
}

}  // namespace
}  // namespace stepgate::orchestrators
