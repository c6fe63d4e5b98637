// The step-functions profile: coverage of every operation in the vendored botocore model, ARN
// parsing, body and header attacks, task tokens (lookup, unresolved, learn).

#include "orchestrators/step_functions.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrators/profiles.h"
#include "orchestrators/sigv4.h"

namespace stepgate::orchestrators {
namespace {

using policy::Action;
using policy::ActionSet;

const std::string kSm = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";
const std::string kSmV3 = kSm + ":3";
const std::string kSmProd = kSm + ":PROD";
const std::string kExec = "arn:aws:states:us-east-1:123456789012:execution:orders:run-1";
const std::string kExpress =
    "arn:aws:states:us-east-1:123456789012:express:orders:run-2:0f1e2d3c-aaaa-bbbb-cccc-1111";
const std::string kMapRun =
    "arn:aws:states:us-east-1:123456789012:mapRun:orders/ship-items:0f1e2d3c-aaaa-bbbb-cccc-2222";
const std::string kActivity = "arn:aws:states:us-east-1:123456789012:activity:approve-order";

config::UpstreamConfig upstreamConfig(std::string region = "us-east-1") {
  config::UpstreamConfig u;
  u.name = "sfn";
  u.profile = "step-functions";
  u.url = "https://states.us-east-1.amazonaws.com";
  config::AwsSigningConfig aws;
  aws.region = std::move(region);
  u.aws = aws;
  return u;
}

const Profile& profile() {
  static const ProfileConstSharedPtr p = makeStepFunctionsProfile(upstreamConfig());
  return *p;
}

struct Call {
  std::string method = "POST";
  std::string path = "/";
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

Call sfnCall(const std::string& op, std::string body) {
  Call c;
  c.headers = {{"X-Amz-Target", "AWSStepFunctions." + op},
               {"Content-Type", "application/x-amz-json-1.0"},
               {"Host", "states.us-east-1.amazonaws.com"}};
  c.body = std::move(body);
  return c;
}

using Answer = std::function<LookupResult(const LookupKey&)>;

LookupResult notFound(const LookupKey&) {
  return {};
}

// The proxy's side of the conversation: the body when asked, lookups answered by `answer`.
struct Conversation {
  std::vector<Outcome> outcomes;
  std::vector<LookupKey> asked;
  Classification result;
};

Conversation converse(const Profile& p, const Call& call, const Answer& answer = notFound) {
  Conversation conv;
  std::vector<HeaderView> headers;
  for (const auto& [n, v] : call.headers)
    headers.push_back({n, v});
  std::optional<JsonValue> json;
  if (StatusOr<JsonValue> parsed = parseJson(call.body); parsed.isOk())
    json = *parsed;
  std::vector<LookupKey> keys;
  std::vector<LookupResult> results;
  std::vector<ResolvedLookup> resolved;
  RequestView view;
  view.method = call.method;
  view.path = call.path;
  view.query = call.query;
  view.headers = headers;
  for (int round = 0; round < 4; ++round) {
    p.classify(view, conv.result);
    conv.outcomes.push_back(conv.result.outcome);
    if (conv.result.outcome == Outcome::kNeedsBody && !view.body_read) {
      view.body_read = true;
      view.body = call.body;
      view.json = json ? &*json : nullptr;
      continue;
    }
    if (conv.result.outcome == Outcome::kNeedsLookup && view.lookups.empty()) {
      keys = conv.result.lookups;
      conv.asked = keys;
      results.clear();
      for (const LookupKey& k : keys)
        results.push_back(answer(k));
      for (size_t i = 0; i < keys.size(); ++i)
        resolved.push_back({&keys[i], &results[i]});
      view.lookups = resolved;
      continue;
    }
    break;
  }
  return conv;
}

Classification classifyBody(const std::string& op, const std::string& body,
                            const Answer& answer = notFound) {
  return converse(profile(), sfnCall(op, body), answer).result;
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// ---------------------------------------------------------------------------------------------
// Coverage: every operation of the vendored model has a row and classifies as the row says.

std::string readFixture(const std::string& rel) {
  std::ifstream in(std::string(STEPGATE_SOURCE_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A plausible JSON value for member `name` of shape `shape`.
std::string sampleValue(const JsonValue& shapes, const std::string& name,
                        const std::string& shape) {
  static const std::map<std::string, std::string> kByName = {
      {"stateMachineArn", quoted(kSm)},
      {"executionArn", quoted(kExec)},
      {"mapRunArn", quoted(kMapRun)},
      {"activityArn", quoted(kActivity)},
      {"resourceArn", quoted(kSm)},
      {"stateMachineVersionArn", quoted(kSmV3)},
      {"stateMachineAliasArn", quoted(kSmProd)},
      {"taskToken", quoted("AAAAKgAAAAIAAAAAAAAAAXplI0token")},
      {"name", quoted("orders")},
      {"routingConfiguration",
       "[{\"stateMachineVersionArn\":" + quoted(kSmV3) + ",\"weight\":100}]"},
      {"roleArn", quoted("arn:aws:iam::123456789012:role/sfn")},
      {"definition", quoted("{\\\"StartAt\\\":\\\"A\\\",\\\"States\\\":{}}")},
  };
  if (auto it = kByName.find(name); it != kByName.end())
    return it->second;
  const JsonValue* s = shapes.find(shape);
  const JsonValue* type = s != nullptr ? s->find("type") : nullptr;
  const std::string t = type != nullptr && type->isString() ? type->asString() : "string";
  if (t == "integer" || t == "long")
    return "1";
  if (t == "boolean")
    return "false";
  if (t == "list")
    return "[]";
  if (t == "structure" || t == "map")
    return "{}";
  return quoted("x");
}

const std::map<std::string, std::string> kExpectedActions = {
    {"CreateActivity", "define"},
    {"CreateStateMachine", "define"},
    {"CreateStateMachineAlias", "define"},
    {"DeleteActivity", "undefine"},
    {"DeleteStateMachine", "undefine"},
    {"DeleteStateMachineAlias", "undefine"},
    {"DeleteStateMachineVersion", "undefine"},
    {"DescribeActivity", "read"},
    {"DescribeExecution", "read"},
    {"DescribeMapRun", "read"},
    {"DescribeStateMachine", "read"},
    {"DescribeStateMachineAlias", "read"},
    {"DescribeStateMachineForExecution", "read"},
    {"GetActivityTask", "work"},
    {"GetExecutionHistory", "read"},
    {"ListActivities", "list"},
    {"ListExecutions", "list"},
    {"ListMapRuns", "list"},
    {"ListStateMachineAliases", "list"},
    {"ListStateMachineVersions", "list"},
    {"ListStateMachines", "list"},
    {"ListTagsForResource", "list"},
    {"PublishStateMachineVersion", "define"},
    {"RedriveExecution", "rerun"},
    {"SendTaskFailure", "fail-step"},
    {"SendTaskHeartbeat", "work"},
    {"SendTaskSuccess", "complete-step"},
    {"StartExecution", "start"},
    {"StartSyncExecution", "start"},
    {"StopExecution", "stop"},
    {"TagResource", "admin"},
    {"TestState", "admin"},
    {"UntagResource", "admin"},
    {"UpdateMapRun", "signal"},
    {"UpdateStateMachine", "define"},
    {"UpdateStateMachineAlias", "define"},
    {"ValidateStateMachineDefinition", "read"},
};

TEST(StepFunctionsCoverage, EveryModelOperationIsListedAndClassified) {
  const std::string text = readFixture("tests/fixtures/specs/step-functions/service-2.json");
  ASSERT_FALSE(text.empty()) << "vendored model missing";
  JsonLimits limits;
  limits.max_bytes = 8u << 20;
  limits.max_depth = 64;
  StatusOr<JsonValue> model = parseJson(text, limits);
  ASSERT_TRUE(model.isOk()) << model.status().toString();
  const JsonValue* ops = model->find("operations");
  const JsonValue* shapes = model->find("shapes");
  const JsonValue* prefix = model->at("/metadata/targetPrefix");
  ASSERT_TRUE(ops != nullptr && ops->isObject() && shapes != nullptr && prefix != nullptr);
  ASSERT_EQ(prefix->asString(), "AWSStepFunctions");

  const std::vector<OperationInfo> rows = profile().operations();
  std::set<std::string> seen;
  for (const JsonMember& op : ops->asObject()) {
    SCOPED_TRACE(op.name);
    const JsonValue* method = op.value.at("/http/method");
    const JsonValue* uri = op.value.at("/http/requestUri");
    ASSERT_TRUE(method != nullptr && uri != nullptr);
    const OperationInfo* row = nullptr;
    for (const OperationInfo& r : rows) {
      if (r.name == op.name && r.method == method->asString() && r.path == uri->asString()) {
        row = &r;
      }
    }
    ASSERT_NE(row, nullptr) << "no operations() row for " << op.name;
    seen.insert(op.name);

    // A body with every required member and every target member of the input shape.
    std::string body = "{";
    if (const JsonValue* in = op.value.at("/input/shape"); in != nullptr) {
      const JsonValue* shape = shapes->find(in->asString());
      ASSERT_NE(shape, nullptr);
      std::set<std::string> required;
      if (const JsonValue* req = shape->find("required"); req != nullptr) {
        for (const JsonValue& r : req->asArray())
          required.insert(r.asString());
      }
      for (const JsonMember& m : shape->find("members")->asObject()) {
        const bool target = m.name.ends_with("Arn") && m.name != "roleArn";
        if (required.count(m.name) == 0 && !target)
          continue;
        if (body.size() > 1)
          body += ",";
        body +=
            quoted(m.name) + ":" + sampleValue(*shapes, m.name, m.value.find("shape")->asString());
      }
    }
    body += "}";

    const Conversation conv = converse(profile(), sfnCall(op.name, body), [](const LookupKey& k) {
      LookupResult r;
      r.found = k.kind == sfn::kTaskToken;
      r.step = "approve-order";
      return r;
    });
    ASSERT_FALSE(conv.outcomes.empty());
    EXPECT_EQ(conv.outcomes.front(), Outcome::kNeedsBody) << "every call is classified by body";
    if (row->actions == "unclassified") {
      EXPECT_EQ(conv.result.outcome, Outcome::kUnclassified);
      continue;
    }
    ASSERT_EQ(conv.result.outcome, Outcome::kClassified) << body << " why: " << conv.result.why;
    EXPECT_EQ(conv.result.op.actions.toString(), row->actions);
    // The row itself against the reviewed mapping (stepgate_actions of the research table,
    // with the worker protocol as `work`), so a wrong row cannot pass by agreeing with itself.
    const auto want = kExpectedActions.find(op.name);
    ASSERT_NE(want, kExpectedActions.end()) << "no reviewed action for " << op.name;
    EXPECT_EQ(row->actions, want->second);
    EXPECT_EQ(conv.result.op.upstream, "sfn");
    for (const policy::Operation& also : conv.result.also) {
      EXPECT_EQ(also.actions.toString(), row->actions);
    }
  }
  // No stale rows either: the profile lists exactly the model's operations.
  EXPECT_EQ(seen.size(), rows.size());
  EXPECT_EQ(rows.size(), 37u);
}

TEST(StepFunctionsCoverage, FactoryAndMakeProfileServeThisProfile) {
  const ProfileConstSharedPtr p = makeProfile(upstreamConfig());
  const std::vector<OperationInfo> rows = p->operations();
  ASSERT_EQ(rows.size(), 37u);
  std::set<std::string> names;
  for (const OperationInfo& r : rows) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/");
    EXPECT_NE(r.notes.find("X-Amz-Target: AWSStepFunctions." + r.name), std::string::npos);
    EXPECT_FALSE(r.actions.empty());
    names.insert(r.name);
  }
  EXPECT_EQ(names.size(), rows.size());
}

// ---------------------------------------------------------------------------------------------
// ARN parsing.

TEST(StepFunctionsArn, StateMachineForms) {
  sfn::Arn a;
  std::string_view why;
  ASSERT_TRUE(sfn::parseArn(kSm, a, why)) << why;
  EXPECT_EQ(a.type, sfn::ArnType::kStateMachine);
  EXPECT_EQ(a.name, "orders");
  EXPECT_EQ(a.qualifier, "");
  EXPECT_EQ(a.region, "us-east-1");
  EXPECT_EQ(a.account, "123456789012");

  ASSERT_TRUE(sfn::parseArn(kSmV3, a, why));
  EXPECT_TRUE(a.is_version);
  EXPECT_EQ(a.qualifier, "3");
  ASSERT_TRUE(sfn::parseArn(kSmProd, a, why));
  EXPECT_FALSE(a.is_version);
  EXPECT_EQ(a.qualifier, "PROD");
  const std::string labelled = kSm + "/ship-items";  // `a` views into it
  ASSERT_TRUE(sfn::parseArn(labelled, a, why));
  EXPECT_EQ(a.name, "orders");
  EXPECT_EQ(a.label, "ship-items");
}

TEST(StepFunctionsArn, ExecutionExpressMapRunActivity) {
  sfn::Arn a;
  std::string_view why;
  ASSERT_TRUE(sfn::parseArn(kExec, a, why));
  EXPECT_EQ(a.type, sfn::ArnType::kExecution);
  EXPECT_EQ(a.name, "orders");
  EXPECT_EQ(a.id, "run-1");
  ASSERT_TRUE(sfn::parseArn(kExpress, a, why));
  EXPECT_EQ(a.type, sfn::ArnType::kExpress);
  EXPECT_EQ(a.id, "run-2");
  EXPECT_EQ(a.express_id, "0f1e2d3c-aaaa-bbbb-cccc-1111");
  ASSERT_TRUE(sfn::parseArn(
      "arn:aws:states:us-east-1:123456789012:execution:orders/ship-items:child-7", a, why));
  EXPECT_EQ(a.name, "orders");
  EXPECT_EQ(a.label, "ship-items");
  EXPECT_EQ(a.id, "child-7");
  ASSERT_TRUE(sfn::parseArn(kMapRun, a, why));
  EXPECT_EQ(a.type, sfn::ArnType::kMapRun);
  EXPECT_EQ(a.label, "ship-items");
  ASSERT_TRUE(sfn::parseArn(kActivity, a, why));
  EXPECT_EQ(a.type, sfn::ArnType::kActivity);
  EXPECT_EQ(a.name, "approve-order");
}

TEST(StepFunctionsArn, OtherPartitions) {
  sfn::Arn a;
  std::string_view why;
  EXPECT_TRUE(
      sfn::parseArn("arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:x", a, why));
  EXPECT_EQ(a.partition, "aws-us-gov");
  EXPECT_TRUE(sfn::parseArn("arn:aws-cn:states:cn-north-1:123456789012:activity:x", a, why));
  // Partition and region must agree.
  EXPECT_FALSE(sfn::parseArn("arn:aws:states:cn-north-1:123456789012:activity:x", a, why));
  EXPECT_FALSE(sfn::parseArn("arn:aws-cn:states:us-east-1:123456789012:activity:x", a, why));
  EXPECT_FALSE(sfn::parseArn("arn:aws-iso:states:us-iso-east-1:123456789012:activity:x", a, why));
}

TEST(StepFunctionsArn, RejectsMalformed) {
  const std::vector<std::string> bad = {
      "",
      "orders",
      "arn:aws:lambda:us-east-1:123456789012:function:orders",
      "arn:aws:states:us-east-1:12345678901:stateMachine:orders",  // 11-digit account
      "arn:aws:states:us-east-1:12345678901a:stateMachine:orders",
      "arn:aws:states:US-EAST-1:123456789012:stateMachine:orders",
      "arn:aws:states:us-east-1:123456789012:stateMachine:",
      "arn:aws:states:us-east-1:123456789012:stateMachine:orders:03",  // leading zero
      "arn:aws:states:us-east-1:123456789012:stateMachine:orders:PROD:1",
      "arn:aws:states:us-east-1:123456789012:stateMachine:orders/ship:3",  // label + version
      "arn:aws:states:us-east-1:123456789012:stateMachine:orders/a/b",
      "arn:aws:states:us-east-1:123456789012:stateMachine:ord ers",
      "arn:aws:states:us-east-1:123456789012:stateMachine:orders%2Fx",  // encoded '/'
      "arn:aws:states:us-east-1:123456789012:stateMachine:ord*",
      "arn:aws:states:us-east-1:123456789012:stateMachine:caf\xc3\xa9",  // non-ASCII
      "arn:aws:states:us-east-1:123456789012:stateMachine:" + std::string(81, 'a'),
      "arn:aws:states:us-east-1:123456789012:execution:orders",
      "arn:aws:states:us-east-1:123456789012:execution:orders:run:extra",
      "arn:aws:states:us-east-1:123456789012:express:orders:run",
      "arn:aws:states:us-east-1:123456789012:mapRun:orders:id",  // no label
      "arn:aws:states:us-east-1:123456789012:activity:a:b",
      "arn:aws:states:us-east-1:123456789012:stateMachines:orders",
  };
  for (const std::string& s : bad) {
    sfn::Arn a;
    std::string_view why;
    EXPECT_FALSE(sfn::parseArn(s, a, why)) << s;
    if (!s.empty()) {
      EXPECT_FALSE(why.empty()) << s;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Transport: method, path, query, X-Amz-Target and Content-Type.

TEST(StepFunctionsProfile, OnlyPostSlashWithOneKnownTarget) {
  const std::string body = "{\"stateMachineArn\":" + quoted(kSm) + "}";
  Call c = sfnCall("StartExecution", body);
  EXPECT_EQ(converse(profile(), c).result.outcome, Outcome::kClassified);

  Call get = c;
  get.method = "GET";
  Call other_path = c;
  other_path.path = "/StartExecution";
  Call query = c;
  query.query = "Action=StartExecution";
  Call unknown = sfnCall("StartExecutionV2", body);
  Call foreign = c;
  foreign.headers[0].second = "AmazonSQS.SendMessage";
  Call lower = sfnCall("startexecution", body);
  Call missing = c;
  missing.headers.erase(missing.headers.begin());
  Call twice = c;
  twice.headers.push_back({"x-amz-target", "AWSStepFunctions.ListStateMachines"});
  Call form = c;
  form.headers[1].second = "application/x-www-form-urlencoded";
  Call two_types = c;
  two_types.headers.push_back({"content-type", "application/x-amz-json-1.0"});
  for (const Call* bad : {&get, &other_path, &query, &unknown, &foreign, &lower, &missing, &twice,
                          &form, &two_types}) {
    const Conversation conv = converse(profile(), *bad);
    ASSERT_EQ(conv.outcomes.size(), 1u) << "denied before the body is read";
    EXPECT_EQ(conv.result.outcome, Outcome::kUnclassified);
    EXPECT_FALSE(conv.result.why.empty());
  }
}

TEST(StepFunctionsProfile, HeaderNamesAndValueWhitespaceAreTolerated) {
  Call c = sfnCall("ListStateMachines", "{}");
  c.headers[0] = {"x-amz-target", " AWSStepFunctions.ListStateMachines "};
  c.headers[1] = {"CONTENT-TYPE", "Application/X-Amz-Json-1.0"};
  const Classification r = converse(profile(), c).result;
  ASSERT_TRUE(r.classified()) << r.why;
  EXPECT_EQ(r.op.actions, ActionSet({Action::kList}));
  EXPECT_EQ(r.op.workflow, "");
}

TEST(StepFunctionsProfile, BodyMustBeAJsonObjectWithTheTarget) {
  const Conversation not_json = converse(profile(), sfnCall("StartExecution", "{\"stateMa"));
  EXPECT_EQ(not_json.outcomes.front(), Outcome::kNeedsBody);
  EXPECT_EQ(not_json.result.outcome, Outcome::kUnclassified);
  EXPECT_FALSE(classifyBody("StartExecution", "[]").classified());
  EXPECT_FALSE(classifyBody("StartExecution", "{}").classified());
  EXPECT_FALSE(classifyBody("StartExecution", "{\"stateMachineArn\":null}").classified());
  EXPECT_FALSE(
      classifyBody("StartExecution", "{\"stateMachineArn\":[" + quoted(kSm) + "]}").classified());
  // Duplicate members are rejected by the parser (json == null).
  EXPECT_FALSE(classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(kSm) +
                                                  ",\"stateMachineArn\":" + quoted(kSm + "x") + "}")
                   .classified());
  // A twin differing only in case could be what a case-insensitive reader takes.
  const Classification twin =
      classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(kSm) +
                                         ",\"StateMachineArn\":" + quoted(kSm + "-admin") + "}");
  EXPECT_FALSE(twin.classified());
  EXPECT_FALSE(twin.why.empty());
  // Wrong ARN kind for the operation.
  EXPECT_FALSE(
      classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(kExec) + "}").classified());
  EXPECT_FALSE(
      classifyBody("StopExecution", "{\"executionArn\":" + quoted(kSm) + "}").classified());
}

TEST(StepFunctionsProfile, JsonEscapesAreReadAsTheServerReadsThem) {
  // "\u003a" is ':' once decoded: the decoded ARN is what AWS acts on, so it is what is parsed.
  const Classification r = classifyBody(
      "StartExecution",
      R"({"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine\u003aorders"})");
  ASSERT_TRUE(r.classified()) << r.why;
  EXPECT_EQ(r.op.workflow, "orders");
  // A '%' escape is not decoded by AWS in a JSON body: '%' is not a valid name character.
  EXPECT_FALSE(
      classifyBody(
          "StartExecution",
          R"({"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:ord%65rs"})")
          .classified());
}

TEST(StepFunctionsProfile, ArnRegionMustBeTheUpstreamRegion) {
  const std::string other = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders";
  const Classification r =
      classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(other) + "}");
  EXPECT_FALSE(r.classified());
  const ProfileConstSharedPtr eu = makeStepFunctionsProfile(upstreamConfig("eu-west-1"));
  EXPECT_TRUE(
      converse(*eu, sfnCall("StartExecution", "{\"stateMachineArn\":" + quoted(other) + "}"))
          .result.classified());
}

// ---------------------------------------------------------------------------------------------
// Operations.

TEST(StepFunctionsProfile, StartExecutionQualifiersAndIgnoredBodyFields) {
  Classification r =
      classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(kSm) +
                                         ",\"name\":\"run-9\",\"input\":\"{\\\"amount\\\":5}\"," +
                                         "\"executionArn\":" + quoted(kExec) + "}");
  ASSERT_TRUE(r.classified()) << r.why;
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_EQ(r.op.version, "");
  EXPECT_EQ(r.op.step, "");
  EXPECT_EQ(r.op.execution, "");  // the caller-chosen name and stray members are not trusted
  EXPECT_TRUE(r.op.input.empty());
  EXPECT_EQ(r.op.actions, ActionSet({Action::kStart}));
  EXPECT_FALSE(r.learn_response);

  r = classifyBody("StartSyncExecution", "{\"stateMachineArn\":" + quoted(kSmV3) + "}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.version, "3");
  r = classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(kSmProd) + "}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_EQ(r.op.version, "PROD");
  // A Map state label is refused by AWS for a start; refused here too.
  EXPECT_FALSE(classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(kSm + "/ship") + "}")
                   .classified());
}

TEST(StepFunctionsProfile, ExecutionCallsNeedNoLookup) {
  for (const char* op :
       {"DescribeExecution", "StopExecution", "RedriveExecution", "GetExecutionHistory",
        "DescribeStateMachineForExecution", "ListMapRuns"}) {
    const Conversation conv =
        converse(profile(), sfnCall(op, "{\"executionArn\":" + quoted(kExpress) + "}"));
    ASSERT_TRUE(conv.result.classified()) << op << ": " << conv.result.why;
    EXPECT_TRUE(conv.asked.empty());
    EXPECT_EQ(conv.result.op.workflow, "orders");
    EXPECT_EQ(conv.result.op.execution, kExpress);
    EXPECT_EQ(conv.result.op.step, "");
  }
  Classification r = classifyBody("StopExecution", "{\"executionArn\":" + quoted(kExec) + "}");
  EXPECT_EQ(r.op.actions, ActionSet({Action::kStop}));
  r = classifyBody("RedriveExecution", "{\"executionArn\":" + quoted(kExec) + "}");
  EXPECT_EQ(r.op.actions, ActionSet({Action::kRerun}));
  // A Map Run child execution: its Map state is the step.
  const std::string child =
      "arn:aws:states:us-east-1:123456789012:execution:orders/ship-items:child-7";
  r = classifyBody("StopExecution", "{\"executionArn\":" + quoted(child) + "}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_EQ(r.op.step, "ship-items");
  EXPECT_EQ(r.op.execution, child);
}

TEST(StepFunctionsProfile, MapRunCalls) {
  Classification r =
      classifyBody("UpdateMapRun", "{\"mapRunArn\":" + quoted(kMapRun) + ",\"maxConcurrency\":5}");
  ASSERT_TRUE(r.classified()) << r.why;
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_EQ(r.op.step, "ship-items");
  EXPECT_EQ(r.op.execution, kMapRun);
  EXPECT_EQ(r.op.actions, ActionSet({Action::kSignal}));
  r = classifyBody("DescribeMapRun", "{\"mapRunArn\":" + quoted(kExec) + "}");
  EXPECT_FALSE(r.classified());
}

TEST(StepFunctionsProfile, ListExecutionsNamesOneOrBothTargets) {
  Classification r = classifyBody("ListExecutions", "{\"stateMachineArn\":" + quoted(kSmV3) + "}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_EQ(r.op.version, "3");
  EXPECT_TRUE(r.also.empty());

  const std::string other_run =
      "arn:aws:states:us-east-1:123456789012:mapRun:payroll/fan-out:0f1e2d3c-aaaa-bbbb-cccc-3333";
  r = classifyBody("ListExecutions", "{\"stateMachineArn\":" + quoted(kSm) +
                                         ",\"mapRunArn\":" + quoted(other_run) + "}");
  ASSERT_TRUE(r.classified()) << r.why;
  EXPECT_EQ(r.op.workflow, "orders");
  ASSERT_EQ(r.also.size(), 1u);
  EXPECT_EQ(r.also[0].workflow, "payroll");
  EXPECT_EQ(r.also[0].step, "fan-out");
  EXPECT_EQ(r.also[0].actions, ActionSet({Action::kList}));

  r = classifyBody("ListExecutions", "{\"statusFilter\":\"RUNNING\"}");
  EXPECT_FALSE(r.classified());
  EXPECT_FALSE(r.why.empty());
}

TEST(StepFunctionsProfile, AliasesCheckEveryRoutedStateMachine) {
  const std::string other_v = "arn:aws:states:us-east-1:123456789012:stateMachine:payroll:7";
  Classification r = classifyBody(
      "CreateStateMachineAlias",
      "{\"name\":\"PROD\",\"routingConfiguration\":[{\"stateMachineVersionArn\":" + quoted(kSmV3) +
          ",\"weight\":90},{\"stateMachineVersionArn\":" + quoted(other_v) + ",\"weight\":10}]}");
  ASSERT_TRUE(r.classified()) << r.why;
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_EQ(r.op.version, "PROD");
  EXPECT_EQ(r.op.actions, ActionSet({Action::kDefine}));
  ASSERT_EQ(r.also.size(), 1u);
  EXPECT_EQ(r.also[0].workflow, "payroll");
  EXPECT_EQ(r.also[0].actions, ActionSet({Action::kDefine}));

  // Routing must name versions.
  EXPECT_FALSE(classifyBody("CreateStateMachineAlias",
                            "{\"name\":\"PROD\",\"routingConfiguration\":[{"
                            "\"stateMachineVersionArn\":" +
                                quoted(kSm) + ",\"weight\":100}]}")
                   .classified());
  EXPECT_FALSE(classifyBody("CreateStateMachineAlias", "{\"name\":\"PROD\"}").classified());
  EXPECT_FALSE(classifyBody("CreateStateMachineAlias",
                            "{\"name\":\"42\",\"routingConfiguration\":[{"
                            "\"stateMachineVersionArn\":" +
                                quoted(kSmV3) + ",\"weight\":100}]}")
                   .classified());

  r = classifyBody("UpdateStateMachineAlias",
                   "{\"stateMachineAliasArn\":" + quoted(kSmProd) +
                       ",\"routingConfiguration\":[{\"stateMachineVersionArn\":" + quoted(other_v) +
                       ",\"weight\":100}]}");
  ASSERT_TRUE(r.classified()) << r.why;
  EXPECT_EQ(r.op.workflow, "orders");
  ASSERT_EQ(r.also.size(), 1u);
  EXPECT_EQ(r.also[0].workflow, "payroll");

  EXPECT_FALSE(
      classifyBody("DeleteStateMachineAlias", "{\"stateMachineAliasArn\":" + quoted(kSmV3) + "}")
          .classified());
  EXPECT_FALSE(classifyBody("DeleteStateMachineVersion",
                            "{\"stateMachineVersionArn\":" + quoted(kSmProd) + "}")
                   .classified());
  r = classifyBody("DeleteStateMachineVersion",
                   "{\"stateMachineVersionArn\":" + quoted(kSmV3) + "}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.actions, ActionSet({Action::kUndefine}));
  EXPECT_EQ(r.op.version, "3");
}

TEST(StepFunctionsProfile, DefinitionsAndActivities) {
  Classification r = classifyBody(
      "CreateStateMachine",
      "{\"name\":\"orders\",\"definition\":\"{}\",\"roleArn\":\"arn:aws:iam::1:role/r\"}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_EQ(r.op.actions, ActionSet({Action::kDefine}));
  EXPECT_FALSE(classifyBody("CreateStateMachine", "{\"name\":\"ord ers\"}").classified());

  r = classifyBody("CreateActivity", "{\"name\":\"approve-order\"}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.workflow, "");
  EXPECT_EQ(r.op.step, "approve-order");
  r = classifyBody("DeleteActivity", "{\"activityArn\":" + quoted(kActivity) + "}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.step, "approve-order");
  EXPECT_EQ(r.op.actions, ActionSet({Action::kUndefine}));

  r = classifyBody("TagResource", "{\"resourceArn\":" + quoted(kActivity) + ",\"tags\":[]}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.actions, ActionSet({Action::kAdmin}));
  EXPECT_EQ(r.op.step, "approve-order");
  r = classifyBody("UntagResource", "{\"resourceArn\":" + quoted(kSm) + ",\"tagKeys\":[]}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.workflow, "orders");
  EXPECT_FALSE(classifyBody("TagResource", "{\"resourceArn\":" + quoted(kExec) + ",\"tags\":[]}")
                   .classified());

  r = classifyBody("TestState", "{\"definition\":\"{}\",\"roleArn\":\"arn:aws:iam::1:role/r\"}");
  ASSERT_TRUE(r.classified());
  EXPECT_EQ(r.op.workflow, "");
  EXPECT_EQ(r.op.actions, ActionSet({Action::kAdmin}));
}

// ---------------------------------------------------------------------------------------------
// Task tokens.

const std::string kToken = "AQCEAAAAKgAAAAMAAAAAAAAAAfp3rX9bG0vO+workerToken/==";

TEST(StepFunctionsTokens, UnknownTokenAsksOnceThenIsUnresolved) {
  const std::string body = "{\"taskToken\":" + quoted(kToken) +
                           ",\"output\":\"{}\",\"executionArn\":" + quoted(kExec) + "}";
  const Conversation conv = converse(profile(), sfnCall("SendTaskSuccess", body));
  ASSERT_EQ(conv.outcomes.size(), 3u);
  EXPECT_EQ(conv.outcomes[0], Outcome::kNeedsBody);
  EXPECT_EQ(conv.outcomes[1], Outcome::kNeedsLookup);
  ASSERT_EQ(conv.asked.size(), 1u);
  EXPECT_EQ(conv.asked[0].kind, sfn::kTaskToken);
  EXPECT_EQ(conv.asked[0].id, sha256Hex(kToken));
  EXPECT_EQ(conv.asked[0].id.size(), 64u);
  EXPECT_EQ(conv.asked[0].scope, "");
  // Not found: the unresolved shape (workflow "", execution set), never the body's ARN.
  const Classification& r = conv.result;
  ASSERT_EQ(r.outcome, Outcome::kClassified);
  EXPECT_EQ(r.op.workflow, "");
  EXPECT_EQ(r.op.execution, "token:" + sha256Hex(kToken).substr(0, 16));
  EXPECT_EQ(r.op.actions, ActionSet({Action::kCompleteStep}));
  EXPECT_EQ(r.op.execution.find(kToken), std::string::npos);
}

TEST(StepFunctionsTokens, LookupCallHasNoApiForTokens) {
  LookupKey key;
  key.kind = sfn::kTaskToken;
  key.id = sha256Hex(kToken);
  LookupCall call;
  EXPECT_FALSE(profile().lookupCall(key, call));
  LookupResult res;
  EXPECT_FALSE(profile().parseLookup(key, 200, "{}", res));
  EXPECT_FALSE(profile().parseLookup(key, 404, "", res));
}

Classification getActivityTask() {
  return classifyBody("GetActivityTask",
                      "{\"activityArn\":" + quoted(kActivity) + ",\"workerName\":\"w1\"}");
}

TEST(StepFunctionsTokens, GetActivityTaskTeachesTheTokenHash) {
  const Classification poll = getActivityTask();
  ASSERT_TRUE(poll.classified());
  EXPECT_EQ(poll.op.actions, ActionSet({Action::kWork}));
  EXPECT_EQ(poll.op.workflow, "");
  EXPECT_EQ(poll.op.step, "approve-order");
  EXPECT_TRUE(poll.learn_response);

  std::vector<Learned> learned;
  const std::string answer =
      "{\"taskToken\":" + quoted(kToken) + ",\"input\":\"{\\\"orderId\\\":\\\"o-1\\\"}\"}";
  profile().learn({}, poll, 200, answer, learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key.kind, sfn::kTaskToken);
  EXPECT_EQ(learned[0].key.id, sha256Hex(kToken));
  EXPECT_TRUE(learned[0].result.found);
  EXPECT_EQ(learned[0].result.step, "approve-order");
  EXPECT_EQ(learned[0].result.workflow, "");
  EXPECT_EQ(learned[0].result.execution, "");
  // The token itself is stored nowhere.
  for (const std::string* s : {&learned[0].key.id, &learned[0].key.id2, &learned[0].key.scope,
                               &learned[0].result.step, &learned[0].result.execution}) {
    EXPECT_EQ(s->find("workerToken"), std::string::npos);
  }

  // A later SendTask* with that token resolves from the learnt entry.
  const LookupResult known = learned[0].result;
  for (const auto& [op, action] :
       std::vector<std::pair<std::string, Action>>{{"SendTaskSuccess", Action::kCompleteStep},
                                                   {"SendTaskFailure", Action::kFailStep},
                                                   {"SendTaskHeartbeat", Action::kWork}}) {
    const Classification r = classifyBody(
        op, "{\"taskToken\":" + quoted(kToken) + ",\"output\":\"{}\"}",
        [&](const LookupKey& k) { return k == learned[0].key ? known : LookupResult{}; });
    ASSERT_TRUE(r.classified()) << op;
    EXPECT_EQ(r.op.step, "approve-order");
    EXPECT_EQ(r.op.workflow, "");
    EXPECT_EQ(r.op.execution, "");  // not the unresolved shape
    EXPECT_EQ(r.op.actions, ActionSet({action}));
  }
}

TEST(StepFunctionsTokens, LearnsFromATruncatedAnswer) {
  const Classification poll = getActivityTask();
  // The proxy passes at most kMaxLearnBytes: a large input is cut mid-string.
  std::string answer = "{\"taskToken\":" + quoted(kToken) + ",\"input\":\"{\\\"blob\\\":\\\"";
  answer += std::string(Profile::kMaxLearnBytes, 'x');
  answer.resize(Profile::kMaxLearnBytes);
  std::vector<Learned> learned;
  profile().learn({}, poll, 200, answer, learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key.id, sha256Hex(kToken));

  // Escaped characters in the token are decoded as a JSON reader would.
  learned.clear();
  std::string cut = R"({"taskToken":"abc\/def\"g","input":")" + std::string(100, 'y');
  profile().learn({}, poll, 200, cut, learned);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].key.id, sha256Hex("abc/def\"g"));
}

TEST(StepFunctionsTokens, NothingLearntWithoutATask) {
  const Classification poll = getActivityTask();
  std::vector<Learned> learned;
  profile().learn({}, poll, 200, "{}", learned);
  profile().learn({}, poll, 200, "{\"taskToken\":null,\"input\":null}", learned);
  profile().learn({}, poll, 200, "{\"taskToken\":\"\"}", learned);
  profile().learn({}, poll, 400, "{\"taskToken\":" + quoted(kToken) + "}", learned);
  profile().learn({}, poll, 200, "not json", learned);
  // Another operation's answer teaches nothing, even with a taskToken member.
  const Classification start =
      classifyBody("StartExecution", "{\"stateMachineArn\":" + quoted(kSm) + "}");
  profile().learn({}, start, 200, "{\"taskToken\":" + quoted(kToken) + "}", learned);
  EXPECT_TRUE(learned.empty());
}

TEST(StepFunctionsTokens, BadTokensAreUnclassified) {
  EXPECT_FALSE(classifyBody("SendTaskSuccess", "{\"output\":\"{}\"}").classified());
  EXPECT_FALSE(classifyBody("SendTaskSuccess", "{\"taskToken\":\"\"}").classified());
  EXPECT_FALSE(classifyBody("SendTaskSuccess", "{\"taskToken\":5}").classified());
  EXPECT_FALSE(
      classifyBody("SendTaskSuccess", "{\"taskToken\":" + quoted(std::string(2049, 'a')) + "}")
          .classified());
  EXPECT_FALSE(
      classifyBody("SendTaskHeartbeat", "{\"taskToken\":\"a\",\"TaskToken\":\"b\"}").classified());
}

}  // namespace
}  // namespace stepgate::orchestrators
