#pragma once
// verifyLog: checks a log directory offline (docs/audit.md, "Verifying"): every segment
// header and frame, every record's envelope and position, the continuity of the segments,
// every checkpoint (in the log, in checkpoints.note and in notes saved elsewhere) against
// the recomputed RFC 6962 tree, and the heartbeat rule. Reads files only through an Env.
//
// Memory: one segment's bytes at a time, the tree's right edge (O(log n)) and the roots
// the external notes ask for (one per note, at most VerifyOptions::max_notes notes).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/env.h"

namespace stepgate::audit {

struct VerifyOptions {
  // Trusted checkpoint keys (a rotation: several). A note verifies when one of them signed
  // it. Empty: signatures cannot be checked and verification fails.
  std::vector<NoteVerifier> keys;
  // A file of notes saved elsewhere (--against), "" for none. Every note in it must verify
  // and be reproduced by the log.
  std::string against_file;
  // audit.checkpoint_interval; zero disables the heartbeat rule.
  std::chrono::milliseconds heartbeat_interval{0};
  // The writer may still be running: a torn tail of the newest segment (a write in flight)
  // and a torn last note in checkpoints.note are reported but not failures.
  bool may_be_running = false;
  // The origin every checkpoint must name, "" for any (all must still agree).
  std::string origin;
  // Limit on the notes read from checkpoints.note and against_file together.
  size_t max_notes = 10'000'000;
};

struct VerifyReport {
  bool ok = false;
  uint64_t first_seq = 0;  // > 0 when retention removed the oldest segments
  uint64_t records = 0;    // records read (first_seq .. first_seq + records - 1)
  uint64_t segments = 0;
  uint64_t checkpoints_checked = 0;  // checkpoint records in the log
  uint64_t notes_checked = 0;        // notes in checkpoints.note
  uint64_t against_checked = 0;      // notes in against_file
  uint64_t notes_before_retention = 0;  // notes older than the retained records: not rechecked
  // The largest checked checkpoint (record or note): records 0..covered-1 are signed for.
  uint64_t covered = 0;
  uint64_t uncovered = 0;  // records after it
  bool torn_tail = false;  // the newest segment ends in a torn frame
  std::string torn_tail_file;
  uint64_t torn_tail_offset = 0;
  uint64_t torn_tail_bytes = 0;
  bool torn_note = false;  // checkpoints.note ends in a torn note
  // The first problem (empty when ok).
  std::string error;
  std::string error_file;     // relative to the log directory
  int64_t error_seq = -1;     // -1: not about one record
  int64_t error_offset = -1;  // byte offset in error_file, -1: none

  // One line: "ok: ..." or "FAILED: <file> offset <n> seq <n>: <message>".
  std::string summary() const;
};

[[nodiscard]] VerifyReport verifyLog(Env& env, const std::string& dir, const VerifyOptions& options);

}  // namespace stepgate::audit
