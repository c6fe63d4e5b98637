#pragma once
// The evidence report (docs/audit.md, "Evidence report"): a Markdown summary of a period of
// the audit log for a SOC 2 auditor — record counts, access by principal and by workflow,
// privileged actions, denials, shadow-mode differences, authentication failures, gaps and
// recoveries, configuration and policy changes, and the verify result passed in.
//
// Deterministic: the same log, period and verify text give the same bytes (tables sorted,
// no generation time). Memory is bounded by the limits below; what they cut is counted and
// said in the report. Not thread-safe; any thread.

#include <cstdint>
#include <string>

#include "audit/env.h"
#include "audit/reader.h"
#include "common/status.h"

namespace stepgate::audit {

inline constexpr size_t kReportMaxKeys = 10000;   // distinct rows per aggregated table
inline constexpr size_t kReportMaxListed = 1000;  // rows per listing (privileged, shadow, ...)

struct ReportOptions {
  // RFC 3339 UTC bounds as for export ("2026-11-01", "2026-11-01T12:00:00Z", ...): from
  // inclusive, to exclusive, "" open. A record is in the period when its time is.
  std::string from;
  std::string to;
  // The output of `stepgate audit verify` for this log, quoted verbatim; "" says it was not run.
  std::string verify_result;
  uint64_t limit = LogReader::kNoLimit;  // a live log's durableSeq()
};

// The privileged actions a report lists with who and when.
bool isPrivilegedAction(std::string_view action) noexcept;

// InvalidArgument for a malformed bound; DataLoss when the log is damaged (the report is not
// written then: run verify).
[[nodiscard]] Status writeReport(Env& env, const std::string& dir, const ReportOptions& options,
                                 std::string& markdown);

}  // namespace stepgate::audit
