#pragma once
// The AWS Step Functions profile (docs/profiles/step-functions.md): AWS JSON 1.0 calls,
// `POST /` with `X-Amz-Target: AWSStepFunctions.<Operation>`, classified from the JSON body by
// parsing the ARNs it names. Immutable after construction; safe from any thread.
//
// The helpers below are exposed for the tests and for tools; the proxy uses the Profile
// interface only.

#include <cstdint>
#include <string>
#include <string_view>

#include "orchestrators/profile.h"

namespace stepgate::orchestrators::sfn {

// The profile's lookup kinds (LookupKey::kind).
enum LookupKind : uint8_t {
  // id = lowercase hex SHA-256 of a task token. No API answers it: entries come only from
  // learn() on GetActivityTask responses; an unknown token resolves to found == false.
  kTaskToken = 1,
};

enum class ArnType : uint8_t { kStateMachine, kExecution, kExpress, kMapRun, kActivity };

// A parsed Step Functions ARN; the views point into the parsed string.
struct Arn {
  ArnType type = ArnType::kStateMachine;
  std::string_view partition;  // aws, aws-cn or aws-us-gov
  std::string_view region;
  std::string_view account;     // 12 digits
  std::string_view name;        // state machine name (activity name for kActivity)
  std::string_view label;       // Map state / Map Run label ("name/label"); "" if none
  std::string_view qualifier;   // stateMachine: the version number or alias name; "" if none
  bool is_version = false;      // qualifier is a version number
  std::string_view id;          // execution name, Map Run id; "" otherwise
  std::string_view express_id;  // kExpress only
};

// Parses `s` strictly: `arn:PARTITION:states:REGION:ACCOUNT:TYPE:...` with TYPE one of
// stateMachine (NAME, NAME:VERSION, NAME:ALIAS, NAME/LABEL), execution (SM[/LABEL]:EXEC),
// express (SM[/LABEL]:EXEC:ID), mapRun (SM/LABEL:ID) or activity (NAME). Names are 1-80
// printable ASCII characters without whitespace or any of < > { } [ ] ? * " # % \ ^ | ~ ` $
// & , ; : /. The partition must match the region (cn-* is aws-cn, us-gov-* aws-us-gov).
// False with a static reason in `why` otherwise.
bool parseArn(std::string_view s, Arn& out, std::string_view& why) noexcept;

}  // namespace stepgate::orchestrators::sfn
