#pragma once
// `stepgate policy test`: runs a cases file against a compiled policy. A case is a principal,
// an operation, a context and the expected decision (effect, and optionally the deciding rule
// ids and the reason). Parsing reports "FILE:LINE:COL: message"; running is a pure function
// from (policy, cases) to a report; the renderer prints one line per case and a closing
// "N passed, M failed". The cases format is in docs/policy.md ("Reviewer tools").

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "identity/principal.h"
#include "policy/evaluator.h"

namespace stepgate::policy {

// Claims as (name, values); a scalar claim has one value. Matches as ClaimLookup documents.
class ListClaims final : public ClaimLookup {
 public:
  using Entries = std::vector<std::pair<std::string, std::vector<std::string>>>;
  ListClaims() = default;
  explicit ListClaims(Entries claims) : claims_(std::move(claims)) {}
  bool has(std::string_view claim) const noexcept override;
  bool equals(std::string_view claim, std::string_view value) const noexcept override;

 private:
  Entries claims_;
};

struct TestCase {
  std::string name;
  std::string position;  // "FILE:LINE:COL" of the case
  identity::Principal principal;
  bool has_claims = false;
  ListClaims claims;
  Operation operation;
  bool has_source = false;
  SocketAddress source;
  SystemTime now{};
  Effect expect_effect = Effect::kDeny;
  std::optional<std::vector<std::string>> expect_rules;
  std::optional<Reason> expect_reason;

  // The evaluation context of this case (points into `claims`).
  Context context() const;
};

[[nodiscard]] StatusOr<std::vector<TestCase>> parseTestCases(const std::string& file_name,
                                                             const std::string& text);

// A document holding one case's `principal` map (for `explain --principal FILE`): fills
// out.principal and out.claims.
[[nodiscard]] Status parsePrincipalDocument(const std::string& file_name, const std::string& text,
                                            TestCase& out);

// "2026-11-23T09:30:00Z", "2026-11-23T09:30:00+01:00" (seconds required, fraction ignored).
std::optional<SystemTime> parseRfc3339(std::string_view text);

struct CaseResult {
  std::string name;
  bool ok = false;
  std::string message;  // "expected deny [a], got allow [b] (allowed)" when !ok
};

struct TestReport {
  std::vector<CaseResult> results;
  size_t passed = 0;
  size_t failed = 0;
};

TestReport runTestCases(const CompiledPolicy& policy, const std::vector<TestCase>& cases);

// "ok  NAME" or "FAIL NAME: MESSAGE" per case, then "N passed, M failed".
std::string renderTestReport(const TestReport& report);

}  // namespace stepgate::policy
