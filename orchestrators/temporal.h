#pragma once
// The Temporal profile (docs/profiles/temporal.md): the HTTP API of WorkflowService and
// OperatorService (grpc-gateway, `/api/v1/...` and the bindings without the prefix) mapped to
// policy Operations. Built by makeTemporalProfile() (orchestrators/profiles.h); immutable and
// shared by every worker once built.
//
// This header exposes what the profile's tests and the documentation need besides the Profile
// interface: the lookup kinds it asks the Resolver for, and the task-token reader.

#include <cstdint>
#include <string>
#include <string_view>

namespace stepgate::orchestrators::temporal {

// LookupKey::kind values of this profile.
enum LookupKind : uint8_t {
  // scope = namespace, id = workflow id, id2 = run id ("" = the current run).
  // DescribeWorkflowExecution → workflow type (`workflow`) and run id (`execution`).
  // Not found: the id is unknown (the request is denied `unresolved`).
  kExecution = 1,
  // scope = namespace, id = workflow id, id2 = "". What runs under a workflow id now, for the
  // calls that may act on an existing run besides their own target (SignalWithStart, a start
  // that terminates or reuses an existing run). Same call as kExecution, but a 404 or a closed
  // run is a FOUND answer with an empty `workflow` ("nothing running"); found == false only
  // when the orchestrator could not be asked.
  kCurrentRun = 2,
  // scope = namespace, id = schedule id. DescribeSchedule → the workflow type it starts.
  kSchedule = 3,
  // scope = "", id = namespace name. DescribeNamespace → the namespace id, in `execution`
  // (a task token names its namespace by id).
  kNamespace = 4,
};

// The fields of a Temporal activity task token (temporal.server.api.token.v1.Task) the profile
// reads. workflow_type and activity_type are in the token too, but the server never checks
// them, so they are not read at all.
struct TaskToken {
  std::string namespace_id;        // field 1
  std::string workflow_id;         // field 2
  std::string run_id;              // field 3
  int64_t scheduled_event_id = 0;  // field 4
  std::string activity_id;         // field 6
};

// Decodes the protobuf bytes of a task token (not its base64). A bounded reader: at most
// kMaxTokenBytes, known wire types only, strings valid UTF-8, the last occurrence of a field
// wins (as the server's decoder does). False when the bytes are not such a message.
inline constexpr size_t kMaxTokenBytes = 4096;
bool decodeTaskToken(std::string_view bytes, TaskToken& out);

// Decodes base64 as protojson does for `bytes` fields: the standard or the URL-safe alphabet,
// padding optional, CR and LF ignored. False on anything else or beyond `max_out` bytes.
bool decodeBase64(std::string_view in, size_t max_out, std::string& out);

}  // namespace stepgate::orchestrators::temporal
