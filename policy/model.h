#pragma once
// The policy model: what the policy files say, after validation, before compilation. Built by
// the loader (loader.h), read by the compiler and (later) by the reviewer tools (check,
// explain, who-can, diff), which is why every rule keeps its source position. A plain value
// type; immutable once loaded. The language is specified in docs/policy.md.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cidr.h"
#include "identity/principal.h"
#include "policy/decision.h"
#include "policy/operation.h"
#include "policy/time_zone.h"

namespace stepgate::policy {

struct ClaimCondition {
  enum class Kind : uint8_t { kEquals, kIn, kExists };
  std::string claim;
  Kind kind = Kind::kEquals;
  std::vector<std::string> values;  // one for kEquals, one or more for kIn
  bool exists = true;               // kExists: true = must be present, false = must be absent
};

// Who a rule is about. Every non-empty field must match (AND); within a field any entry may
// (OR). All fields empty means anyone.
struct Who {
  std::vector<std::string> groups;
  std::vector<std::string> subjects;
  std::vector<std::string> providers;
  std::vector<identity::AuthMethod> methods;
  std::vector<ClaimCondition> claims;

  bool empty() const {
    return groups.empty() && subjects.empty() && providers.empty() && methods.empty() &&
           claims.empty();
  }
};

// "Mon-Fri 08:00-18:00 Europe/Berlin": days (bit 0 = Monday) and [start, end) in minutes of
// the local day. start > end means the window runs past midnight into the next day.
struct TimeWindow {
  uint8_t days = 0;
  uint16_t start_minute = 0;
  uint16_t end_minute = 0;
  std::shared_ptr<const TimeZone> zone;  // shared by every window naming the same zone
};

enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };
const char* compareOpName(CompareOp op) noexcept;  // "=", "!=", "<", "<=", ">", ">="

struct InputCondition {
  std::string path;  // JSON pointer into the request body, e.g. "/amount"
  CompareOp op = CompareOp::kEq;
  bool is_number = false;
  double number = 0;
  std::string text;  // when !is_number (only = and != are allowed on strings)
};

struct When {
  bool mfa = false;             // true: the principal must have used MFA
  std::vector<Cidr> source_ip;  // any of these networks
  std::optional<TimeWindow> time;
  std::optional<bool> started_by_caller;
  std::vector<InputCondition> input;        // all must hold
  std::string time_text;                    // as written, for tools
  std::vector<std::string> source_ip_text;  // as written, for tools
};

struct Rule {
  std::string id;
  Effect effect = Effect::kDeny;
  ActionSet actions;
  std::vector<std::string> steps;  // names or globs; empty = any step (and no step)
  // Names or globs of the namespace the call acts in (Operation::namespace_name); empty = any
  // namespace (and no namespace). A call without a namespace never matches an allow that names
  // namespaces, and is matched by a deny that names namespaces (fail closed: the call may span
  // namespaces, or the profile could not tell which one it acts in).
  std::vector<std::string> namespaces;
  Who who;
  std::optional<Who> unless;  // deny rules only
  When when;
  std::string description;
  std::string position;  // "FILE:LINE:COL" of the rule
};

enum class Mode : uint8_t { kEnforce, kShadow };

struct PolicyFile {
  std::string name;                    // file name within the directory
  std::vector<std::string> workflows;  // names or globs; never empty
  std::string upstream;                // "" = any upstream
  Mode mode = Mode::kEnforce;
  std::vector<Rule> rules;
};

struct PolicySet {
  std::vector<PolicyFile> files;  // sorted by name
  // FNV-1a 64 over the sorted (file name, bytes) pairs: it identifies the exact files that were
  // reviewed, so any edit (comments included) gives a new version. Shown as 16 hex digits.
  uint64_t version = 0;
};

// "%016x" of a version.
std::string versionString(uint64_t version);

}  // namespace stepgate::policy
