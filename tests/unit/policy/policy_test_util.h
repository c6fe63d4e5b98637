#pragma once
// Helpers for the policy unit tests: compile YAML text, build principals, operations, claims.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "policy/compiler.h"
#include "policy/loader.h"

namespace stepgate::policy::testing {

inline CompiledPolicyConstSharedPtr compileOrDie(std::vector<PolicySource> sources) {
  auto set = loadPolicySources(std::move(sources));
  EXPECT_TRUE(set.isOk()) << set.status().message();
  if (!set.isOk()) {
    return nullptr;
  }
  return compile(std::move(set).value());
}

inline CompiledPolicyConstSharedPtr compileOrDie(const std::string& text) {
  return compileOrDie({{"p.yaml", text}});
}

inline identity::Principal user(std::string subject, std::vector<std::string> groups = {}) {
  identity::Principal p;
  p.provider = "corp";
  p.subject = std::move(subject);
  p.groups = std::move(groups);
  p.method = identity::AuthMethod::kJwt;
  return p;
}

inline Operation op(std::string workflow, ActionSet actions, std::string step = "") {
  Operation o;
  o.upstream = "conductor";
  o.workflow = std::move(workflow);
  o.actions = actions;
  o.step = std::move(step);
  return o;
}

// The ids of a decision's rules, in order.
inline std::vector<std::string> ids(const CompiledPolicy& p, const RuleRefs& refs) {
  std::vector<std::string> out;
  for (unsigned i = 0; i < refs.count; ++i) {
    out.emplace_back(p.ruleId(refs.index[i]));
  }
  return out;
}

class MapClaims final : public ClaimLookup {
 public:
  explicit MapClaims(std::vector<std::pair<std::string, std::vector<std::string>>> claims)
      : claims_(std::move(claims)) {}
  bool has(std::string_view claim) const noexcept override {
    for (const auto& [k, v] : claims_) {
      if (k == claim) {
        return true;
      }
    }
    return false;
  }
  bool equals(std::string_view claim, std::string_view value) const noexcept override {
    for (const auto& [k, vs] : claims_) {
      if (k == claim) {
        for (const auto& v : vs) {
          if (v == value) {
            return true;
          }
        }
      }
    }
    return false;
  }

 private:
  std::vector<std::pair<std::string, std::vector<std::string>>> claims_;
};

}  // namespace stepgate::policy::testing
