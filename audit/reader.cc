#include "audit/reader.h"

#include <algorithm>

#include "audit/segment.h"

namespace stepgate::audit {

StatusOr<LogReader> LogReader::open(Env& env, std::string dir) {
  LogReader reader(env, std::move(dir));
  auto names = env.listDir(reader.dir_ + "/segments");
  if (!names.isOk())
    return names.status();
  for (const std::string& name : *names) {
    uint64_t first = 0;
    if (parseSegmentFileName(name, first))
      reader.first_seqs_.push_back(first);
  }
  std::sort(reader.first_seqs_.begin(), reader.first_seqs_.end());
  return reader;
}

Status LogReader::forEach(uint64_t from_seq, uint64_t to_seq_exclusive, uint64_t limit,
                          const Visitor& visit) {
  const uint64_t end = std::min(to_seq_exclusive, limit);
  if (from_seq >= end || first_seqs_.empty())
    return okStatus();
  // The segment holding from_seq: the last one starting at or before it (or the first).
  size_t i = 0;
  while (i + 1 < first_seqs_.size() && first_seqs_[i + 1] <= from_seq)
    ++i;
  for (; i < first_seqs_.size(); ++i) {
    const uint64_t first = first_seqs_[i];
    if (first >= end)
      break;
    const std::string path = dir_ + "/" + segmentFileName(first);
    auto bytes = env_->readFile(path);
    if (!bytes.isOk())
      return bytes.status();
    auto scan = scanSegment(*bytes);
    if (!scan.isOk())
      return dataLoss(path + ": " + scan.status().message());
    if (scan->header.first_seq != first) {
      return dataLoss(path + ": header says first seq " + std::to_string(scan->header.first_seq));
    }
    const bool newest = i + 1 == first_seqs_.size();
    if (!scan->stop_reason.empty() && !newest) {
      return dataLoss(path + ": " + scan->stop_reason + " at offset " +
                      std::to_string(scan->good_bytes));
    }
    const uint64_t count = scan->frames.size();
    if (!newest && first + count != first_seqs_[i + 1]) {
      return dataLoss(path + ": holds seq " + std::to_string(first) + ".." +
                      std::to_string(first + count) + " but the next segment starts at " +
                      std::to_string(first_seqs_[i + 1]));
    }
    for (uint64_t k = 0; k < count; ++k) {
      const uint64_t seq = first + k;
      if (seq < from_seq)
        continue;
      if (seq >= end)
        return okStatus();
      if (!visit(seq, scan->frames[k].payload))
        return okStatus();
    }
  }
  return okStatus();
}

}  // namespace stepgate::audit
