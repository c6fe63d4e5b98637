// The AWS Step Functions profile: see step_functions.h and docs/profiles/step-functions.md.

#include "orchestrators/step_functions.h"

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "orchestrators/profile_util.h"
#include "orchestrators/profiles.h"
#include "orchestrators/sigv4.h"

namespace stepgate::orchestrators {

namespace sfn {

namespace {

using policy::Action;
using policy::ActionSet;

constexpr size_t kMaxArnBytes = 2000;  // LongArn (Map Run ARNs); Arn is 256
constexpr size_t kMaxNameBytes = 80;
constexpr size_t kMaxTokenBytes = 2048;
constexpr size_t kTokenHashPrefix = 16;  // hex digits of the hash shown in op.execution
constexpr std::string_view kTargetPrefix = "AWSStepFunctions.";

// How an operation's target is found in its body.
enum class Shape : uint8_t {
  kNoTarget,          // no resource: account-wide, or an ad-hoc definition
  kNewActivity,       // body name -> step (the activity)
  kActivity,          // activityArn -> step
  kNewStateMachine,   // body name -> workflow
  kStateMachineRead,  // stateMachineArn, any form (version, alias, /mapLabel)
  kStateMachine,      // stateMachineArn, unlabelled (version or alias allowed)
  kVersion,           // stateMachineVersionArn
  kAlias,             // stateMachineAliasArn (+ optional routingConfiguration)
  kNewAlias,          // routingConfiguration[].stateMachineVersionArn
  kExecution,         // executionArn (execution or express)
  kMapRun,            // mapRunArn
  kListExecutions,    // stateMachineArn or mapRunArn
  kTaggable,          // resourceArn: a state machine or an activity
  kTaskToken,         // taskToken -> learnt from GetActivityTask
};

struct OpSpec {
  std::string_view name;
  ActionSet actions;
  Shape shape;
  std::string_view field;                             // the body member naming the target
  std::string_view workflow, step, execution, notes;  // for operations()
};

constexpr std::string_view kSmArn = "ARN in stateMachineArn";
constexpr std::string_view kExArn = "ARN in executionArn";
constexpr std::string_view kExArnLabel = "Map label of a Map Run child's executionArn";

// Every operation of API 2016-11-23, in the model's order.
// clang-format off
constexpr std::array<OpSpec, 37> kOps = {{
    {"CreateActivity", {Action::kDefine}, Shape::kNewActivity, "name", "-", "body name", "-",
     "an activity is a worker-implemented step type of no particular state machine: only a "
     "workflow \"*\" rule matches"},
    {"CreateStateMachine", {Action::kDefine}, Shape::kNewStateMachine, "name", "body name", "-",
     "-", "definition and roleArn are not inspected; publish=true also creates version 1"},
    {"CreateStateMachineAlias", {Action::kDefine}, Shape::kNewAlias, "routingConfiguration",
     "ARN in routingConfiguration[].stateMachineVersionArn", "-", "-",
     "version = alias name (body name); each further state machine named in the routing is "
     "checked too"},
    {"DeleteActivity", {Action::kUndefine}, Shape::kActivity, "activityArn", "-",
     "ARN in activityArn", "-", "only a workflow \"*\" rule matches"},
    {"DeleteStateMachine", {Action::kUndefine}, Shape::kStateMachine, "stateMachineArn", kSmArn,
     "-", "-", "also deletes versions and aliases and stops running executions"},
    {"DeleteStateMachineAlias", {Action::kUndefine}, Shape::kAlias, "stateMachineAliasArn",
     "ARN in stateMachineAliasArn", "-", "-", "version = alias name"},
    {"DeleteStateMachineVersion", {Action::kUndefine}, Shape::kVersion,
     "stateMachineVersionArn", "ARN in stateMachineVersionArn", "-", "-",
     "version = version number"},
    {"DescribeActivity", {Action::kRead}, Shape::kActivity, "activityArn", "-",
     "ARN in activityArn", "-", "only a workflow \"*\" rule matches"},
    {"DescribeExecution", {Action::kRead}, Shape::kExecution, "executionArn", kExArn,
     kExArnLabel, kExArn, "no lookup: the state machine name is in the ARN"},
    {"DescribeMapRun", {Action::kRead}, Shape::kMapRun, "mapRunArn", "ARN in mapRunArn",
     "Map label in mapRunArn", "ARN in mapRunArn (the Map Run)", ""},
    {"DescribeStateMachine", {Action::kRead}, Shape::kStateMachineRead, "stateMachineArn",
     kSmArn, "Map label of a labelled stateMachineArn", "-", "version = version or alias"},
    {"DescribeStateMachineAlias", {Action::kRead}, Shape::kAlias, "stateMachineAliasArn",
     "ARN in stateMachineAliasArn", "-", "-", "version = alias name"},
    {"DescribeStateMachineForExecution", {Action::kRead}, Shape::kExecution, "executionArn",
     kExArn, kExArnLabel, kExArn, ""},
    {"GetActivityTask", {Action::kWork}, Shape::kActivity, "activityArn", "-",
     "ARN in activityArn", "-",
     "worker long-poll; the task may belong to any state machine using the activity: only a "
     "workflow \"*\" rule matches; the response's taskToken is learnt (its SHA-256)"},
    {"GetExecutionHistory", {Action::kRead}, Shape::kExecution, "executionArn", kExArn,
     kExArnLabel, kExArn, ""},
    {"ListActivities", {Action::kList}, Shape::kNoTarget, "", "-", "-", "-",
     "account-wide: only a workflow \"*\" rule matches"},
    {"ListExecutions", {Action::kList}, Shape::kListExecutions, "stateMachineArn", kSmArn,
     "Map label in mapRunArn", "ARN in mapRunArn", "stateMachineArn or mapRunArn; with both, "
     "both must be allowed; with neither, unclassified"},
    {"ListMapRuns", {Action::kList}, Shape::kExecution, "executionArn", kExArn, kExArnLabel,
     kExArn, ""},
    {"ListStateMachineAliases", {Action::kList}, Shape::kStateMachineRead, "stateMachineArn",
     kSmArn, "-", "-", ""},
    {"ListStateMachineVersions", {Action::kList}, Shape::kStateMachineRead, "stateMachineArn",
     kSmArn, "-", "-", ""},
    {"ListStateMachines", {Action::kList}, Shape::kNoTarget, "", "-", "-", "-",
     "account-wide: only a workflow \"*\" rule matches"},
    {"ListTagsForResource", {Action::kList}, Shape::kTaggable, "resourceArn",
     "ARN in resourceArn (state machine)", "ARN in resourceArn (activity)", "-", ""},
    {"PublishStateMachineVersion", {Action::kDefine}, Shape::kStateMachine, "stateMachineArn",
     kSmArn, "-", "-", ""},
    {"RedriveExecution", {Action::kRerun}, Shape::kExecution, "executionArn", kExArn,
     kExArnLabel, kExArn, "redrives from the failed states: no step selector"},
    {"SendTaskFailure", {Action::kFailStep}, Shape::kTaskToken, "taskToken", "unknowable",
     "activity of a learnt taskToken", "-",
     "token learnt from GetActivityTask, else unresolved; only a workflow \"*\" rule matches"},
    {"SendTaskHeartbeat", {Action::kWork}, Shape::kTaskToken, "taskToken", "unknowable",
     "activity of a learnt taskToken", "-",
     "token learnt from GetActivityTask, else unresolved; only a workflow \"*\" rule matches"},
    {"SendTaskSuccess", {Action::kCompleteStep}, Shape::kTaskToken, "taskToken", "unknowable",
     "activity of a learnt taskToken", "-",
     "token learnt from GetActivityTask, else unresolved; only a workflow \"*\" rule matches"},
    {"StartExecution", {Action::kStart}, Shape::kStateMachine, "stateMachineArn", kSmArn, "-",
     "- (new)", "version = version or alias of a qualified ARN; input is not inspected"},
    {"StartSyncExecution", {Action::kStart}, Shape::kStateMachine, "stateMachineArn", kSmArn,
     "-", "- (new)", "EXPRESS only; AWS serves it on the sync-states host"},
    {"StopExecution", {Action::kStop}, Shape::kExecution, "executionArn", kExArn, kExArnLabel,
     kExArn, ""},
    {"TagResource", {Action::kAdmin}, Shape::kTaggable, "resourceArn",
     "ARN in resourceArn (state machine)", "ARN in resourceArn (activity)", "-",
     "tags drive IAM ABAC: admin"},
    {"TestState", {Action::kAdmin}, Shape::kNoTarget, "", "-", "-", "-",
     "runs an ad-hoc state for real with the body's roleArn, bound to no state machine: admin, "
     "only a workflow \"*\" rule matches"},
    {"UntagResource", {Action::kAdmin}, Shape::kTaggable, "resourceArn",
     "ARN in resourceArn (state machine)", "ARN in resourceArn (activity)", "-",
     "tags drive IAM ABAC: admin"},
    {"UpdateMapRun", {Action::kSignal}, Shape::kMapRun, "mapRunArn", "ARN in mapRunArn",
     "Map label in mapRunArn", "ARN in mapRunArn (the Map Run)",
     "changes a running Map Run's concurrency and failure tolerance"},
    {"UpdateStateMachine", {Action::kDefine}, Shape::kStateMachine, "stateMachineArn", kSmArn,
     "-", "-", "definition and roleArn are not inspected"},
    {"UpdateStateMachineAlias", {Action::kDefine}, Shape::kAlias, "stateMachineAliasArn",
     "ARN in stateMachineAliasArn", "-", "-",
     "version = alias name; a state machine named in routingConfiguration is checked too"},
    {"ValidateStateMachineDefinition", {Action::kRead}, Shape::kNoTarget, "", "-", "-", "-",
     "pure validation of a definition of no state machine: only a workflow \"*\" rule matches"},
}};
// clang-format on

std::string_view trimOws(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

bool allDigits(std::string_view s) noexcept {
  if (s.empty())
    return false;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
  }
  return true;
}

// A Step Functions name (state machine, execution, activity, label, ids): 1-80 printable
// ASCII characters, none of them whitespace or one AWS forbids in names.
bool validName(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxNameBytes)
    return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f)
      return false;
    switch (c) {
      case '<':
      case '>':
      case '{':
      case '}':
      case '[':
      case ']':
      case '?':
      case '*':
      case '"':
      case '#':
      case '%':
      case '\\':
      case '^':
      case '|':
      case '~':
      case '`':
      case '$':
      case '&':
      case ',':
      case ';':
      case ':':
      case '/':
        return false;
      default:
        break;
    }
  }
  return true;
}

// An alias name (CharacterRestrictedName): [A-Za-z0-9_.-]+, not all digits.
bool validAliasName(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxNameBytes || allDigits(s))
    return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

bool validRegion(std::string_view s) noexcept {
  if (s.empty() || s.size() > 32 || s.front() < 'a' || s.front() > 'z')
    return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return false;
  }
  return true;
}

// "NAME" or "NAME/LABEL".
bool splitLabel(std::string_view in, std::string_view& name, std::string_view& label) noexcept {
  const size_t slash = in.find('/');
  name = in.substr(0, slash);
  label = slash == std::string_view::npos ? std::string_view() : in.substr(slash + 1);
  return validName(name) && (slash == std::string_view::npos || validName(label));
}

}  // namespace

bool parseArn(std::string_view s, Arn& out, std::string_view& why) noexcept {
  out = Arn{};
  if (s.size() > kMaxArnBytes) {
    why = "ARN too long";
    return false;
  }
  std::array<std::string_view, 9> f;
  size_t n = 0;
  for (size_t start = 0;;) {
    if (n == f.size()) {
      why = "ARN has too many ':' fields";
      return false;
    }
    const size_t colon = s.find(':', start);
    f[n++] = s.substr(start, colon == std::string_view::npos ? colon : colon - start);
    if (colon == std::string_view::npos)
      break;
    start = colon + 1;
  }
  if (n < 7 || f[0] != "arn" || f[2] != "states") {
    why = "not a Step Functions ARN (arn:PARTITION:states:REGION:ACCOUNT:TYPE:...)";
    return false;
  }
  out.partition = f[1];
  out.region = f[3];
  out.account = f[4];
  const bool cn = out.region.starts_with("cn-");
  const bool gov = out.region.starts_with("us-gov-");
  const bool partition_ok = (out.partition == "aws" && !cn && !gov) ||
                            (out.partition == "aws-cn" && cn) ||
                            (out.partition == "aws-us-gov" && gov);
  if (!validRegion(out.region) || !partition_ok) {
    why = "ARN partition or region is not valid";
    return false;
  }
  if (out.account.size() != 12 || !allDigits(out.account)) {
    why = "ARN account is not 12 digits";
    return false;
  }
  const std::string_view type = f[5];
  const size_t rest = n - 6;  // fields after the type
  if (type == "stateMachine" && (rest == 1 || rest == 2)) {
    out.type = ArnType::kStateMachine;
    if (!splitLabel(f[6], out.name, out.label)) {
      why = "state machine name in the ARN is not valid";
      return false;
    }
    if (rest == 2) {
      out.qualifier = f[7];
      out.is_version = allDigits(out.qualifier);
      const bool ok = out.label.empty() &&
                      (out.is_version ? out.qualifier.size() <= 10 && out.qualifier[0] != '0'
                                      : validAliasName(out.qualifier));
      if (!ok) {
        why = "state machine ARN qualifier is neither a version number nor an alias name";
        return false;
      }
    }
    return true;
  }
  if ((type == "execution" && rest == 2) || (type == "express" && rest == 3)) {
    out.type = type == "execution" ? ArnType::kExecution : ArnType::kExpress;
    out.id = f[7];
    if (rest == 3)
      out.express_id = f[8];
    if (!splitLabel(f[6], out.name, out.label) || !validName(out.id) ||
        (rest == 3 && !validName(out.express_id))) {
      why = "execution ARN is not valid";
      return false;
    }
    return true;
  }
  if (type == "mapRun" && rest == 2) {
    out.type = ArnType::kMapRun;
    out.id = f[7];
    if (!splitLabel(f[6], out.name, out.label) || out.label.empty() || !validName(out.id)) {
      why = "Map Run ARN is not valid";
      return false;
    }
    return true;
  }
  if (type == "activity" && rest == 1) {
    out.type = ArnType::kActivity;
    out.name = f[6];
    if (!validName(out.name)) {
      why = "activity ARN is not valid";
      return false;
    }
    return true;
  }
  why = "unknown Step Functions ARN type or shape";
  return false;
}

namespace {

enum class Get : uint8_t { kOk, kMissing, kBad };

// The string member `name` of `obj`. A member whose name differs from `name` only in letter
// case makes the body ambiguous (a case-insensitive reader could take it): kBad.
Get stringMember(const JsonValue& obj, std::string_view name, const std::string*& out) noexcept {
  out = nullptr;
  const JsonValue* found = nullptr;
  for (const JsonMember& m : obj.asObject()) {
    if (m.name == name) {
      found = &m.value;
    } else if (equalsIgnoreCase(m.name, name)) {
      return Get::kBad;
    }
  }
  if (found == nullptr)
    return Get::kMissing;
  if (!found->isString())
    return Get::kBad;
  out = &found->asString();
  return Get::kOk;
}

// Finds the taskToken of a GetActivityTask answer: {"taskToken": "...", "input": "..."}. A
// body cut at Profile::kMaxLearnBytes is not JSON, so a flat scan of the object's members
// takes over when the full parse fails (AWS writes taskToken first).
bool scanString(std::string_view b, size_t& i, std::string* out) noexcept {
  // REQUIRES: b[i] == '"'
  for (++i; i < b.size(); ++i) {
    const char c = b[i];
    if (c == '"') {
      ++i;
      return true;
    }
    if (static_cast<unsigned char>(c) < 0x20)
      return false;
    if (c != '\\') {
      if (out != nullptr)
        out->push_back(c);
      continue;
    }
    if (++i >= b.size())
      return false;
    char e = b[i];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        break;
      case 'b':
        e = '\b';
        break;
      case 'f':
        e = '\f';
        break;
      case 'n':
        e = '\n';
        break;
      case 'r':
        e = '\r';
        break;
      case 't':
        e = '\t';
        break;
      case 'u':
        if (out != nullptr || i + 4 >= b.size())
          return false;  // tokens are plain ASCII
        i += 4;
        continue;
      default:
        return false;
    }
    if (out != nullptr)
      out->push_back(e);
  }
  return false;
}

bool scanTaskToken(std::string_view b, std::string& token) noexcept {
  size_t i = 0;
  auto ws = [&] {
    while (i < b.size() && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
      ++i;
  };
  ws();
  if (i >= b.size() || b[i] != '{')
    return false;
  ++i;
  for (;;) {
    ws();
    if (i >= b.size() || b[i] != '"')
      return false;
    std::string name;
    if (!scanString(b, i, &name))
      return false;
    ws();
    if (i >= b.size() || b[i] != ':')
      return false;
    ++i;
    ws();
    if (i >= b.size() || b[i] != '"')
      return false;  // the answer's members are strings
    if (name == "taskToken") {
      token.clear();
      return scanString(b, i, &token);
    }
    if (!scanString(b, i, nullptr))
      return false;
    ws();
    if (i >= b.size() || b[i] != ',')
      return false;
    ++i;
  }
}

bool findTaskToken(std::string_view body, std::string& token) {
  StatusOr<JsonValue> doc = parseJson(body);
  if (doc.isOk()) {
    const JsonValue* t = doc->find("taskToken");
    if (t == nullptr || !t->isString())
      return false;
    token = t->asString();
    return true;
  }
  return scanTaskToken(body, token);
}

class StepFunctionsProfile final : public Profile {
 public:
  explicit StepFunctionsProfile(const config::UpstreamConfig& upstream)
      : upstream_(upstream.name), region_(upstream.aws ? upstream.aws->region : std::string()) {}

  void classify(const RequestView& req, Classification& out) const override;
  bool lookupCall(const LookupKey& key, LookupCall& out) const override;
  bool parseLookup(const LookupKey& key, int status, std::string_view body,
                   LookupResult& out) const override;
  void learn(const RequestView& req, const Classification& c, int status, std::string_view body,
             std::vector<Learned>& out) const override;
  std::vector<OperationInfo> operations() const override;

 private:
  // Parses the ARN in member `field` into `arn`. False: `out` is unclassified.
  bool arnMember(const JsonValue& body, std::string_view field, Arn& arn,
                 Classification& out) const;
  bool applyStateMachine(const Arn& arn, policy::Operation& op, Classification& out) const;
  bool routing(const JsonValue& body, policy::Operation& op, Classification& out) const;
  void classifyBody(const OpSpec& spec, const RequestView& req, Classification& out) const;

  std::string upstream_;
  std::string region_;  // "" when the upstream has no aws block (then any region is accepted)
};

bool StepFunctionsProfile::arnMember(const JsonValue& body, std::string_view field, Arn& arn,
                                     Classification& out) const {
  const std::string* s = nullptr;
  switch (stringMember(body, field, s)) {
    case Get::kMissing:
      out.unclassified("the body lacks the ARN member the operation needs");
      return false;
    case Get::kBad:
      out.unclassified("the ARN member is not a string or has a case-variant twin");
      return false;
    case Get::kOk:
      break;
  }
  std::string_view why;
  if (!parseArn(*s, arn, why)) {
    out.unclassified(why);
    return false;
  }
  if (!region_.empty() && arn.region != region_) {
    out.unclassified("the ARN names another region than the upstream's");
    return false;
  }
  return true;
}

bool StepFunctionsProfile::applyStateMachine(const Arn& arn, policy::Operation& op,
                                             Classification& out) const {
  if (arn.type != ArnType::kStateMachine) {
    out.unclassified("the ARN is not a state machine ARN");
    return false;
  }
  op.workflow.assign(arn.name);
  op.version.assign(arn.qualifier);
  op.step.assign(arn.label);
  return true;
}

// routingConfiguration: 1-2 version ARNs. The first names op's state machine when op has
// none yet; a version of another state machine becomes an `also` operation.
bool StepFunctionsProfile::routing(const JsonValue& body, policy::Operation& op,
                                   Classification& out) const {
  const JsonValue* list = nullptr;
  for (const JsonMember& m : body.asObject()) {
    if (m.name == "routingConfiguration") {
      list = &m.value;
    } else if (equalsIgnoreCase(m.name, "routingConfiguration")) {
      out.unclassified("routingConfiguration has a case-variant twin");
      return false;
    }
  }
  if (list == nullptr) {
    if (op.workflow.empty()) {
      out.unclassified("the body lacks routingConfiguration");
      return false;
    }
    return true;
  }
  if (!list->isArray() || list->asArray().empty() || list->asArray().size() > 2) {
    out.unclassified("routingConfiguration is not a list of one or two versions");
    return false;
  }
  for (const JsonValue& item : list->asArray()) {
    if (!item.isObject()) {
      out.unclassified("routingConfiguration item is not an object");
      return false;
    }
    Arn arn;
    if (!arnMember(item, "stateMachineVersionArn", arn, out))
      return false;
    if (arn.type != ArnType::kStateMachine || !arn.is_version || !arn.label.empty()) {
      out.unclassified("routingConfiguration names something other than a version ARN");
      return false;
    }
    if (op.workflow.empty()) {
      op.workflow.assign(arn.name);
    } else if (op.workflow != arn.name) {
      bool seen = false;
      for (const policy::Operation& o : out.also)
        seen = seen || o.workflow == arn.name;
      if (!seen) {
        policy::Operation& extra = out.also.emplace_back(op);
        extra.workflow.assign(arn.name);
        extra.version.assign(arn.qualifier);
      }
    }
  }
  return true;
}

void StepFunctionsProfile::classify(const RequestView& req, Classification& out) const {
  out.reset(upstream_);
  if (req.method != "POST" || req.path != "/") {
    out.unclassified("Step Functions serves POST / only");
    return;
  }
  if (!req.query.empty()) {
    out.unclassified("a query string on an AWS JSON call");
    return;
  }
  std::string_view target, content_type;
  int targets = 0, content_types = 0;
  for (const HeaderView& h : req.headers) {
    if (equalsIgnoreCase(h.name, "x-amz-target")) {
      ++targets;
      target = trimOws(h.value);
    } else if (equalsIgnoreCase(h.name, "content-type")) {
      ++content_types;
      content_type = trimOws(h.value);
    }
  }
  if (targets != 1 || !target.starts_with(kTargetPrefix)) {
    out.unclassified("missing, repeated or foreign X-Amz-Target");
    return;
  }
  target.remove_prefix(kTargetPrefix.size());
  const OpSpec* spec = nullptr;
  for (const OpSpec& s : kOps) {
    if (s.name == target) {
      spec = &s;
      break;
    }
  }
  if (spec == nullptr) {
    out.unclassified("unknown Step Functions operation in X-Amz-Target");
    return;
  }
  if (content_types != 1 || !(equalsIgnoreCase(content_type, "application/x-amz-json-1.0") ||
                              equalsIgnoreCase(content_type, "application/x-amz-json-1.1"))) {
    out.unclassified("Content-Type is not application/x-amz-json-1.0");
    return;
  }
  if (!req.body_read) {
    out.outcome = Outcome::kNeedsBody;
    return;
  }
  if (req.json == nullptr || !req.json->isObject()) {
    out.unclassified("the body is not a JSON object");
    return;
  }
  classifyBody(*spec, req, out);
}

void StepFunctionsProfile::classifyBody(const OpSpec& spec, const RequestView& req,
                                        Classification& out) const {
  const JsonValue& body = *req.json;
  policy::Operation& op = out.op;
  Arn arn;
  const std::string* s = nullptr;
  switch (spec.shape) {
    case Shape::kNoTarget:
      break;
    case Shape::kNewActivity:
    case Shape::kNewStateMachine:
      if (stringMember(body, spec.field, s) != Get::kOk || !validName(*s)) {
        out.unclassified("the body's name is missing or not a valid Step Functions name");
        return;
      }
      (spec.shape == Shape::kNewActivity ? op.step : op.workflow) = *s;
      break;
    case Shape::kActivity:
      if (!arnMember(body, spec.field, arn, out))
        return;
      if (arn.type != ArnType::kActivity) {
        out.unclassified("the ARN is not an activity ARN");
        return;
      }
      op.step.assign(arn.name);
      out.learn_response = spec.name == "GetActivityTask";
      break;
    case Shape::kStateMachineRead:
    case Shape::kStateMachine:
      if (!arnMember(body, spec.field, arn, out) || !applyStateMachine(arn, op, out))
        return;
      if (spec.shape == Shape::kStateMachine && !arn.label.empty()) {
        out.unclassified("a Map state label is not accepted by this operation");
        return;
      }
      break;
    case Shape::kVersion:
      if (!arnMember(body, spec.field, arn, out) || !applyStateMachine(arn, op, out))
        return;
      if (!arn.is_version) {
        out.unclassified("the ARN is not a state machine version ARN");
        return;
      }
      break;
    case Shape::kAlias:
      if (!arnMember(body, spec.field, arn, out) || !applyStateMachine(arn, op, out))
        return;
      if (arn.qualifier.empty() || arn.is_version) {
        out.unclassified("the ARN is not a state machine alias ARN");
        return;
      }
      if (spec.name == "UpdateStateMachineAlias" && !routing(body, op, out))
        return;
      break;
    case Shape::kNewAlias:
      if (stringMember(body, "name", s) != Get::kOk || !validAliasName(*s)) {
        out.unclassified("the alias name is missing or not valid");
        return;
      }
      if (!routing(body, op, out))
        return;
      op.version = *s;
      break;
    case Shape::kExecution:
      if (!arnMember(body, spec.field, arn, out))
        return;
      if (arn.type != ArnType::kExecution && arn.type != ArnType::kExpress) {
        out.unclassified("the ARN is not an execution ARN");
        return;
      }
      op.workflow.assign(arn.name);
      op.step.assign(arn.label);
      op.execution = body.find(spec.field)->asString();
      break;
    case Shape::kMapRun:
      if (!arnMember(body, spec.field, arn, out))
        return;
      if (arn.type != ArnType::kMapRun) {
        out.unclassified("the ARN is not a Map Run ARN");
        return;
      }
      op.workflow.assign(arn.name);
      op.step.assign(arn.label);
      op.execution = body.find(spec.field)->asString();
      break;
    case Shape::kListExecutions: {
      const bool has_sm = stringMember(body, "stateMachineArn", s) != Get::kMissing;
      const bool has_run = stringMember(body, "mapRunArn", s) != Get::kMissing;
      if (!has_sm && !has_run) {
        out.unclassified("ListExecutions names neither stateMachineArn nor mapRunArn");
        return;
      }
      if (has_sm) {
        if (!arnMember(body, "stateMachineArn", arn, out) || !applyStateMachine(arn, op, out)) {
          return;
        }
      }
      if (has_run) {
        policy::Operation& run = has_sm ? out.also.emplace_back(op) : op;
        if (!arnMember(body, "mapRunArn", arn, out))
          return;
        if (arn.type != ArnType::kMapRun) {
          out.unclassified("mapRunArn is not a Map Run ARN");
          return;
        }
        run.workflow.assign(arn.name);
        run.version.clear();
        run.step.assign(arn.label);
        run.execution = body.find("mapRunArn")->asString();
      }
      break;
    }
    case Shape::kTaggable:
      if (!arnMember(body, spec.field, arn, out))
        return;
      if (arn.type == ArnType::kActivity) {
        op.step.assign(arn.name);
      } else if (arn.type != ArnType::kStateMachine || !arn.label.empty()) {
        out.unclassified("resourceArn is neither a state machine nor an activity");
        return;
      } else if (!applyStateMachine(arn, op, out)) {
        return;
      }
      break;
    case Shape::kTaskToken: {
      if (stringMember(body, spec.field, s) != Get::kOk || s->empty() ||
          s->size() > kMaxTokenBytes) {
        out.unclassified("taskToken is missing, not a string or too long");
        return;
      }
      LookupKey key;
      key.kind = kTaskToken;
      key.id = sha256Hex(*s);
      if (key.id.empty()) {
        out.unclassified("could not hash the task token");
        return;
      }
      const LookupResult* r = req.lookup(key);
      if (r == nullptr) {
        out.outcome = Outcome::kNeedsLookup;
        out.lookups.push_back(std::move(key));
        return;
      }
      if (r->found) {
        op.workflow = r->workflow;
        op.step = r->step;
        op.execution = r->execution;
      } else {
        op.execution = "token:";
        op.execution.append(key.id, 0, kTokenHashPrefix);
      }
      break;
    }
  }
  for (policy::Operation& o : out.also)
    o.actions = spec.actions;
  op.actions = spec.actions;
  out.outcome = Outcome::kClassified;
}

bool StepFunctionsProfile::lookupCall(const LookupKey&, LookupCall&) const {
  // Task tokens have no API that maps them back (kTaskToken); ARNs need no lookup.
  return false;
}

bool StepFunctionsProfile::parseLookup(const LookupKey&, int, std::string_view,
                                       LookupResult&) const {
  return false;
}

void StepFunctionsProfile::learn(const RequestView&, const Classification& c, int status,
                                 std::string_view body, std::vector<Learned>& out) const {
  if (status != 200 || !c.classified() || c.op.step.empty() || !c.op.actions.has(Action::kWork)) {
    return;
  }
  std::string token;
  if (!findTaskToken(body, token) || token.empty() || token.size() > kMaxTokenBytes) {
    return;  // a long-poll that ended without a task answers with no token
  }
  Learned l;
  l.key.kind = kTaskToken;
  l.key.id = sha256Hex(token);
  if (l.key.id.empty())
    return;
  l.result.found = true;
  l.result.step = c.op.step;
  out.push_back(std::move(l));
}

std::vector<OperationInfo> StepFunctionsProfile::operations() const {
  std::vector<OperationInfo> rows;
  rows.reserve(kOps.size());
  for (const OpSpec& s : kOps) {
    OperationInfo o;
    o.method = "POST";
    o.path = "/";
    o.name = std::string(s.name);
    o.actions = s.actions.toString();
    o.workflow = std::string(s.workflow);
    o.step = std::string(s.step);
    o.execution = std::string(s.execution);
    o.notes = "X-Amz-Target: AWSStepFunctions." + std::string(s.name);
    if (!s.notes.empty()) {
      o.notes += "; ";
      o.notes += s.notes;
    }
    rows.push_back(std::move(o));
  }
  return rows;
}

}  // namespace

}  // namespace sfn

ProfileConstSharedPtr makeStepFunctionsProfile(const config::UpstreamConfig& upstream) {
  return std::make_shared<sfn::StepFunctionsProfile>(upstream);
}

}  // namespace stepgate::orchestrators
