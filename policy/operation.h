#pragma once
// Operation: what a request asks the orchestrator to do, as classified by an orchestrator
// profile before policy runs (see DESIGN.md, "The operation model", and docs/policy.md).
// A plain value type: built once per request by a profile, then only read. Safe to copy and to
// read from any thread.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stepgate::policy {

// The fixed, documented set of actions. The order is the bit order of ActionSet and never
// changes meaning; append only.
enum class Action : uint8_t {
  kRead,
  kList,
  kStart,
  kStop,
  kPause,
  kResume,
  kRetry,
  kRerun,
  kSignal,
  kCompleteStep,
  kFailStep,
  kSkipStep,
  kDefine,
  kUndefine,
  kWork,
  kAdmin,
};
inline constexpr unsigned kActionCount = 16;

// The policy-file spelling: "read", "complete-step", ... nullopt for anything else.
std::optional<Action> parseAction(std::string_view name) noexcept;
// The policy-file spelling of `a`.
const char* actionName(Action a) noexcept;

// A set of actions as a 16-bit mask. Trivially copyable; pass by value.
class ActionSet {
 public:
  constexpr ActionSet() noexcept = default;
  constexpr ActionSet(std::initializer_list<Action> actions) noexcept {
    for (Action a : actions) {
      add(a);
    }
  }
  static constexpr ActionSet fromBits(uint16_t bits) noexcept {
    ActionSet s;
    s.bits_ = bits;
    return s;
  }

  constexpr void add(Action a) noexcept { bits_ |= bit(a); }
  constexpr bool has(Action a) const noexcept { return (bits_ & bit(a)) != 0; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  constexpr uint16_t bits() const noexcept { return bits_; }
  constexpr unsigned size() const noexcept {
    return static_cast<unsigned>(__builtin_popcount(bits_));
  }
  constexpr bool operator==(const ActionSet&) const noexcept = default;

  // "start,define" in bit order; "" when empty.
  std::string toString() const;

 private:
  static constexpr uint16_t bit(Action a) noexcept {
    return static_cast<uint16_t>(1u << static_cast<unsigned>(a));
  }
  uint16_t bits_ = 0;
};

// One request field a profile extracted for `when.input` comparisons, named by a JSON pointer
// into the request body ("/amount"). A number or a string; anything else is not extracted.
struct InputField {
  std::string path;
  bool is_number = false;
  double number = 0;
  std::string text;

  static InputField ofNumber(std::string path, double v) { return {std::move(path), true, v, {}}; }
  static InputField ofString(std::string path, std::string v) {
    return {std::move(path), false, 0, std::move(v)};
  }
};

struct Operation {
  std::string upstream;           // the configured upstream's name
  std::string workflow;           // the workflow (definition) name; "" for calls across workflows
  std::string version;            // where the API has one; "" otherwise
  std::string step;               // "" for whole-workflow actions
  std::string execution;          // the run id, when the call names one
  // Where the API has namespaces (Temporal, Argo): the namespace the call acts in; "" otherwise.
  std::string namespace_name;
  ActionSet actions;              // empty: the call could not be classified (always denied)
  std::vector<InputField> input;  // the few fields the profile extracted; usually empty
  // Whether the principal started `execution`: known only after the execution lookup (P4).
  bool started_by_caller_known = false;
  bool started_by_caller = false;

  // The extracted field at `path`, or nullptr. Allocation-free.
  const InputField* findInput(std::string_view path) const noexcept {
    for (const InputField& f : input) {
      if (f.path == path) {
        return &f;
      }
    }
    return nullptr;
  }
};

}  // namespace stepgate::policy
