#pragma once
// Export (docs/audit.md, "Export"): the records of a time or seq range written as JSON Lines
// (the stored payloads, unchanged), CSV (a fixed column set, RFC 4180, guarded against CSV
// injection) or OCSF 1.1 events (API Activity 6003, Authentication 3002), with a manifest
// (file hashes, seq range, the covering checkpoint) signed as a C2SP signed note, and an
// export cursor so retention keeps what was never exported.
//
// Offline (the CLI) or beside a live log (pass its durableSeq() as `limit`). Memory: one
// segment plus a 1 MiB output buffer. Not thread-safe; any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/env.h"
#include "audit/reader.h"
#include "common/json.h"
#include "common/status.h"

namespace stepgate::audit {

enum class ExportFormat : uint8_t { kJsonl, kCsv, kOcsf };

// "jsonl", "csv", "ocsf".
bool parseExportFormat(std::string_view text, ExportFormat& out) noexcept;
const char* exportFormatName(ExportFormat f) noexcept;

// The origin line of the note that signs a manifest.
inline constexpr std::string_view kExportOrigin = "stepgate/export";
// The OCSF schema version the events declare (metadata.version).
inline constexpr std::string_view kOcsfVersion = "1.1.0";

struct ExportOptions {
  // RFC 3339 UTC bounds: "2026-11-01", "2026-11-01T12:00:00Z" or with a fraction of up to
  // six digits. from_time is inclusive, to_time exclusive; "" leaves that side open.
  std::string from_time;
  std::string to_time;
  // Seq bounds, both inclusive; they narrow the time range further.
  std::optional<uint64_t> from_seq;
  std::optional<uint64_t> to_seq;
  ExportFormat format = ExportFormat::kJsonl;
  std::string out_dir;                    // created; must not hold an export already
  std::shared_ptr<const SigningKey> key;  // signs the manifest; required
  uint64_t limit = LogReader::kNoLimit;   // a live log's durableSeq()
  // A live log: called with the export cursor after it advanced (AuditLog::setCursor of the
  // cursor named "export"). DIR/state/export.cursor is written either way.
  std::function<void(uint64_t next_seq)> on_cursor;
};

struct ExportedFile {
  std::string name;    // relative to out_dir
  std::string sha256;  // hex
  uint64_t bytes = 0;
};

struct ExportResult {
  uint64_t seq_from = 0;  // inclusive
  uint64_t seq_to = 0;    // inclusive
  uint64_t records = 0;   // records read (seq_to - seq_from + 1)
  uint64_t events = 0;    // lines/rows/events written (OCSF maps two record types only)
  std::vector<ExportedFile> files;
  bool covered = false;         // a checkpoint of size > seq_to exists
  std::string manifest_sha256;  // hex of manifest.json's bytes
  uint64_t cursor = 0;          // the export cursor after this export
};

// Writes OUT/records.<jsonl|csv|ocsf.jsonl>, OUT/manifest.json and OUT/manifest.json.sig.
// NotFound when no record falls in the range; DataLoss when the log is damaged.
[[nodiscard]] Status exportRecords(Env& env, const std::string& dir, const ExportOptions& options,
                                   ExportResult& result);

// Checks an export: the signature of manifest.json.sig with `verifier`, that it signs
// manifest.json's SHA-256, and every listed file's size and SHA-256. OK or DataLoss naming
// the first mismatch.
[[nodiscard]] Status verifyExport(Env& env, const std::string& out_dir,
                                  const NoteVerifier& verifier);

// Normalises a bound to "YYYY-MM-DDTHH:MM:SS.ffffffZ" (the records' own spelling, so bounds
// compare as strings). False when `text` is not one of the accepted forms.
bool normalizeTimeBound(std::string_view text, std::string& out);
// Unix microseconds of a record time "YYYY-MM-DDTHH:MM:SS.ffffffZ"; false if malformed.
bool parseRecordTime(std::string_view text, int64_t& unix_us) noexcept;

// The pieces, for tests and the report.
std::string csvHeader();  // the column names, CRLF-terminated
// One CSV row (CRLF-terminated) for a parsed record.
void appendCsvRow(const JsonValue& record, std::string& out);
// One RFC 4180 cell; a cell starting with = + - @ TAB or CR gets a leading apostrophe.
void appendCsvCell(std::string& out, std::string_view cell);
// One OCSF event (a JSON object, no newline) for a `request` or `auth_failure` record;
// false (nothing appended) for any other type.
bool appendOcsfEvent(const JsonValue& record, std::string& out);

// SHA-256 hex of `data` (manifest and file hashes).
std::string sha256Hex(std::string_view data);

}  // namespace stepgate::audit
