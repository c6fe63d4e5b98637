#include "policy/operation.h"

namespace stepgate::policy {
namespace {

constexpr const char* kNames[kActionCount] = {
    "read",   "list",          "start",     "stop",      "pause",  "resume",   "retry", "rerun",
    "signal", "complete-step", "fail-step", "skip-step", "define", "undefine", "work",  "admin",
};

}  // namespace

std::optional<Action> parseAction(std::string_view name) noexcept {
  for (unsigned i = 0; i < kActionCount; ++i) {
    if (name == kNames[i]) {
      return static_cast<Action>(i);
    }
  }
  return std::nullopt;
}

const char* actionName(Action a) noexcept {
  const auto i = static_cast<unsigned>(a);
  return i < kActionCount ? kNames[i] : "unknown";
}

std::string ActionSet::toString() const {
  std::string out;
  for (unsigned i = 0; i < kActionCount; ++i) {
    if (has(static_cast<Action>(i))) {
      if (!out.empty()) {
        out += ',';
      }
      out += kNames[i];
    }
  }
  return out;
}

}  // namespace stepgate::policy
