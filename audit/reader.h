#pragma once
// LogReader: reads the records of a log directory in seq order (docs/audit.md, "Directory
// layout", "Segment file format"), for export, the evidence report and forwarders. Reads
// files only through an Env. Memory: one segment's bytes at a time (a segment is at most
// audit.segment_bytes plus one frame).
//
// A reader of a live log passes the writer's durableSeq() as `limit`: records at or beyond
// it may not be on disk yet and are never read. Offline (the CLI), the limit is the end of
// the log: every good frame; a torn tail of the newest segment (a crash the writer has not
// recovered yet) ends the log there. A bad frame anywhere else, a segment whose header or
// name disagrees with its position, or a gap between segments is DataLoss.
//
// Not thread-safe; cheap to create (it lists the segments directory).

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "audit/env.h"
#include "common/status.h"

namespace stepgate::audit {

class LogReader {
 public:
  static constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

  // Lists DIR/segments. NotFound when the directory is missing.
  [[nodiscard]] static StatusOr<LogReader> open(Env& env, std::string dir);

  // Called per record with its seq and stored payload bytes (valid during the call only).
  // Returning false stops the scan early (forEach then returns OK).
  using Visitor = std::function<bool(uint64_t seq, std::string_view payload)>;

  // Visits the records with from_seq <= seq < min(to_seq_exclusive, limit), in order.
  [[nodiscard]] Status forEach(uint64_t from_seq, uint64_t to_seq_exclusive, uint64_t limit,
                               const Visitor& visit);

  // The first seq of each segment, ascending (as named by the files).
  const std::vector<uint64_t>& segmentFirstSeqs() const noexcept { return first_seqs_; }
  const std::string& dir() const noexcept { return dir_; }

 private:
  LogReader(Env& env, std::string dir) : env_(&env), dir_(std::move(dir)) {}
  Env* env_;
  std::string dir_;
  std::vector<uint64_t> first_seqs_;
};

}  // namespace stepgate::audit
