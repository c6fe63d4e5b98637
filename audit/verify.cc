#include "audit/verify.h"

#include <algorithm>
#include <map>
#include <utility>

#include "audit/segment.h"
#include "common/json.h"

namespace stepgate::audit {

namespace {

int64_t daysFromCivil(int64_t y, unsigned m, unsigned d);

// "YYYY-MM-DDTHH:MM:SS.ffffffZ" (the record time format) as Unix microseconds.
bool parseTime(std::string_view s, int64_t& unix_us) noexcept {
  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  if (s.size() != 27 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != '.' || s[26] != 'Z') {
    return false;
  }
  const auto num = [&](size_t pos, size_t len, int64_t& out) {
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int64_t y, mo, d, h, mi, se, us;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) ||
      !num(17, 2, se) || !num(20, 6, us)) {
    return false;
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || h > 23 || mi > 59 || se > 60) {
    return false;
  }
  const int64_t days = daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  unix_us = ((days * 24 + h) * 60 + mi) * 60'000'000 + se * 1'000'000 + us;
  return true;
}

// The tree's right edge, resumable from the state file retention leaves behind.
class Edge {
 public:
  void append(const Hash& leaf) {
    Hash h = leaf;
    for (uint64_t s = size_; (s & 1u) != 0; s >>= 1) {
      h = nodeHash(nodes_.back(), h);
      nodes_.pop_back();
    }
    nodes_.push_back(h);
    ++size_;
  }
  Hash root() const {
    if (nodes_.empty()) return emptyRoot();
    Hash h = nodes_.back();
    for (size_t i = nodes_.size() - 1; i-- > 0;) h = nodeHash(nodes_[i], h);
    return h;
  }
  uint64_t size() const { return size_; }
  // "size N\n" then one lowercase-hex node a line, largest subtree first.
  bool parse(std::string_view text) {
    if (text.substr(0, 5) != "size ") return false;
    text.remove_prefix(5);
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos || nl == 0 || nl > 20) return false;
    uint64_t n = 0;
    for (char c : text.substr(0, nl)) {
      if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10) return false;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    text.remove_prefix(nl + 1);
    std::vector<Hash> nodes;
    while (!text.empty()) {
      const size_t end = text.find('\n');
      Hash h{};
      if (end == std::string_view::npos || !fromHex(text.substr(0, end), h)) return false;
      nodes.push_back(h);
      if (nodes.size() > 64) return false;
      text.remove_prefix(end + 1);
    }
    if (nodes.size() != static_cast<size_t>(__builtin_popcountll(n))) return false;
    size_ = n;
    nodes_ = std::move(nodes);
    return true;
  }

 private:
  uint64_t size_ = 0;
  std::vector<Hash> nodes_;
};

struct WantedRoot {
  Hash root;
  std::string file;
  uint64_t index;  // of the note in its file
};

class Verifier {
 public:
  Verifier(Env& env, const std::string& dir, const VerifyOptions& o)
      : env_(env), dir_(dir), opt_(o) {}

  VerifyReport run() {
    if (opt_.keys.empty()) {
      fail("", -1, -1, "no public key to check checkpoint signatures with");
      return finish();
    }
    if (!loadNotes("checkpoints.note", /*may_be_torn=*/true, r_.notes_checked)) return finish();
    if (!opt_.against_file.empty() &&
        !loadNotes(opt_.against_file, /*may_be_torn=*/false, r_.against_checked)) {
      return finish();
    }
    if (!scanSegments()) return finish();
    // Notes that ask for a tree bigger than the log.
    auto big = wanted_.upper_bound(edge_.size());
    if (big != wanted_.end()) {
      const WantedRoot& w = big->second;
      fail(w.file, -1, -1,
           "note " + std::to_string(w.index) + " is a checkpoint of " +
               std::to_string(big->first) + " records but the log ends at " +
               std::to_string(edge_.size()) + ": records removed or truncated");
      return finish();
    }
    if (r_.checkpoints_checked > 0 && !notes_file_exists_) {
      fail("checkpoints.note", -1, -1, "missing, but the log holds checkpoint records");
      return finish();
    }
    r_.uncovered = edge_.size() - std::max(r_.covered, r_.first_seq);
    r_.ok = true;
    return finish();
  }

 private:
  VerifyReport finish() {
    r_.records = edge_.size() - r_.first_seq;
    if (!r_.error.empty()) r_.ok = false;
    return r_;
  }

  void fail(std::string file, int64_t seq, int64_t offset, std::string msg) {
    if (!r_.error.empty()) return;
    r_.error_file = std::move(file);
    r_.error_seq = seq;
    r_.error_offset = offset;
    r_.error = std::move(msg);
  }

  // A note signed by one of the keys, or the most telling reason none did.
  StatusOr<Checkpoint> checkNote(std::string_view note) {
    Status first;
    for (const NoteVerifier& v : opt_.keys) {
      auto cp = v.verify(note);
      if (cp.isOk()) {
        if (!opt_.origin.empty() && cp->origin != opt_.origin) {
          return dataLoss("checkpoint origin \"" + cp->origin + "\" is not \"" + opt_.origin +
                          "\"");
        }
        if (origin_.empty()) origin_ = cp->origin;
        if (cp->origin != origin_) {
          return dataLoss("checkpoint origin \"" + cp->origin + "\" differs from \"" +
                          origin_ + "\" (a note of another log)");
        }
        return cp;
      }
      const bool unknown = cp.status().message().find("no signature by key") != std::string::npos;
      if (first.isOk() || (!unknown && first.message().find("no signature by key") !=
                                           std::string::npos)) {
        first = cp.status();
      }
    }
    return first;
  }

  bool loadNotes(const std::string& file, bool may_be_torn, uint64_t& counter) {
    const bool relative = file == "checkpoints.note";
    const std::string path = relative ? dir_ + "/" + file : file;
    auto text = env_.readFile(path);
    if (!text.isOk()) {
      if (relative && text.status().code() == StatusCode::kNotFound) return true;
      fail(file, -1, -1, "cannot read: " + text.status().message());
      return false;
    }
    if (relative) notes_file_exists_ = true;
    const std::string_view all = *text;
    const std::vector<std::string> notes = splitNotes(all);
    const bool complete = all.empty() || (all.size() >= 2 && all.substr(all.size() - 2) == "\n\n");
    for (size_t i = 0; i < notes.size(); ++i) {
      if (++notes_total_ > opt_.max_notes) {
        fail(file, -1, -1, "more than " + std::to_string(opt_.max_notes) + " notes");
        return false;
      }
      const bool last = i + 1 == notes.size();
      if (last && !complete) {
        if (may_be_torn) {
          // A crash (or a write in flight) while appending: the log holds the same note.
          r_.torn_note = true;
          break;
        }
        fail(file, -1, -1, "note " + std::to_string(i) + " is not followed by an empty line");
        return false;
      }
      auto cp = checkNote(notes[i]);
      if (!cp.isOk()) {
        fail(file, -1, -1, "note " + std::to_string(i) + ": " + cp.status().message());
        return false;
      }
      ++counter;
      wanted_.emplace(cp->size, WantedRoot{cp->root, file, i});
    }
    return true;
  }

  // Checks the roots the notes want at the current tree size.
  bool checkWanted(int64_t seq_for_error) {
    auto range = wanted_.equal_range(edge_.size());
    if (range.first == range.second) return true;
    const Hash root = edge_.root();
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second.root != root) {
        fail(it->second.file, seq_for_error, -1,
             "note " + std::to_string(it->second.index) + ": the log does not reproduce its root at size " +
                 std::to_string(it->first) + " (records changed, removed, inserted or reordered)");
        return false;
      }
    }
    r_.covered = std::max(r_.covered, edge_.size());
    wanted_.erase(range.first, range.second);
    return true;
  }

  bool scanSegments() {
    auto names = env_.listDir(dir_ + "/segments");
    if (!names.isOk()) {
      fail("segments", -1, -1, "cannot list: " + names.status().message());
      return false;
    }
    std::vector<std::pair<uint64_t, std::string>> segs;
    for (const std::string& n : *names) {
      uint64_t first = 0;
      if (!parseSegmentFileName(n, first)) {
        fail("segments/" + n, -1, -1, "not a segment file name");
        return false;
      }
      segs.emplace_back(first, n);
    }
    std::sort(segs.begin(), segs.end());
    if (!segs.empty() && segs.front().first != 0) {
      // Retention removed the oldest segments: resume from the saved tree edge.
      auto state = env_.readFile(dir_ + "/state/merkle");
      if (!state.isOk() || !edge_.parse(*state) || edge_.size() != segs.front().first) {
        fail("state/merkle", static_cast<int64_t>(segs.front().first), -1,
             "the log starts at seq " + std::to_string(segs.front().first) +
                 " and the saved tree edge for it is missing or wrong");
        return false;
      }
      r_.first_seq = segs.front().first;
      // Notes about the removed prefix can no longer be recomputed (except at its end).
      for (auto it = wanted_.begin(); it != wanted_.end() && it->first < r_.first_seq;) {
        ++r_.notes_before_retention;
        it = wanted_.erase(it);
      }
    }
    r_.segments = segs.size();
    for (size_t i = 0; i < segs.size(); ++i) {
      if (!scanOne(segs[i].first, "segments/" + segs[i].second, i + 1 == segs.size())) {
        return false;
      }
    }
    return checkWanted(-1);
  }

  bool scanOne(uint64_t first, const std::string& file, bool newest) {
    if (first != edge_.size()) {
      fail(file, static_cast<int64_t>(edge_.size()), -1,
           first > edge_.size()
               ? "a gap between segments: records " + std::to_string(edge_.size()) + ".." +
                     std::to_string(first - 1) + " are missing"
               : "segments overlap: starts at seq " + std::to_string(first) + ", expected " +
                     std::to_string(edge_.size()));
      return false;
    }
    auto bytes = env_.readFile(dir_ + "/" + file);
    if (!bytes.isOk()) {
      fail(file, -1, -1, "cannot read: " + bytes.status().message());
      return false;
    }
    const std::string_view b = *bytes;
    if (newest && b.size() < kSegmentHeaderBytes) {
      return tornTail(file, 0, b.size(), "torn segment header");
    }
    auto scan = scanSegment(b);
    if (!scan.isOk()) {
      fail(file, -1, 0, scan.status().message());
      return false;
    }
    if (scan->header.first_seq != first) {
      fail(file, static_cast<int64_t>(first), 0,
           "segment header says first seq " + std::to_string(scan->header.first_seq) +
               " but the file is named for " + std::to_string(first));
      return false;
    }
    for (const Frame& f : scan->frames) {
      if (!checkRecord(file, f)) return false;
    }
    if (!scan->stop_reason.empty()) {
      const uint64_t at = scan->good_bytes;
      bool torn = newest;
      if (torn && scan->stop_reason == "bad crc") {
        const auto* p = reinterpret_cast<const unsigned char*>(b.data() + at);
        const uint64_t len = static_cast<uint64_t>(p[0]) | static_cast<uint64_t>(p[1]) << 8 |
                             static_cast<uint64_t>(p[2]) << 16 | static_cast<uint64_t>(p[3]) << 24;
        torn = at + kFrameHeaderBytes + len >= b.size();  // the bad frame is the last one
      } else if (torn && scan->stop_reason == "bad length") {
        torn = std::all_of(b.begin() + static_cast<std::ptrdiff_t>(at), b.end(),
                           [](char c) { return c == 0; });
      }
      if (!torn) {
        fail(file, static_cast<int64_t>(edge_.size()), static_cast<int64_t>(at),
             "corrupt frame (" + scan->stop_reason + ")");
        return false;
      }
      return tornTail(file, at, b.size() - at, scan->stop_reason);
    }
    return true;
  }

  bool tornTail(const std::string& file, uint64_t offset, uint64_t bytes, const std::string& why) {
    r_.torn_tail = true;
    r_.torn_tail_file = file;
    r_.torn_tail_offset = offset;
    r_.torn_tail_bytes = bytes;
    if (opt_.may_be_running) return true;
    fail(file, static_cast<int64_t>(edge_.size()), static_cast<int64_t>(offset),
         "torn tail (" + why + ", " + std::to_string(bytes) +
             " bytes): a crash not yet recovered, or the file was truncated");
    return false;
  }

  static bool isUuidV7(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < 36; ++i) {
      const char c = s[i];
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        if (c != '-') return false;
      } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    return s[14] == '7' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
  }

  bool checkRecord(const std::string& file, const Frame& f) {
    const uint64_t seq = edge_.size();
    const auto seq_i = static_cast<int64_t>(seq);
    const auto off = static_cast<int64_t>(f.offset);
    auto json = parseJson(f.payload);
    if (!json.isOk() || !json->isObject()) {
      fail(file, seq_i, off, "payload is not a record (not a JSON object)");
      return false;
    }
    const JsonValue& rec = *json;
    const JsonValue* v = rec.find("v");
    const JsonValue* type = rec.find("type");
    const JsonValue* s = rec.find("seq");
    const JsonValue* id = rec.find("event_id");
    const JsonValue* time = rec.find("time");
    int64_t t = 0;
    if (v == nullptr || !v->isInt() || v->asInt() != 1) {
      fail(file, seq_i, off, "payload is not a record: \"v\" is not 1");
      return false;
    }
    if (type == nullptr || !type->isString() || type->asString().empty()) {
      fail(file, seq_i, off, "payload is not a record: no \"type\"");
      return false;
    }
    if (s == nullptr || !s->isInt()) {
      fail(file, seq_i, off, "payload is not a record: no \"seq\"");
      return false;
    }
    if (s->asInt() != seq_i) {
      fail(file, seq_i, off,
           "record says seq " + std::to_string(s->asInt()) + " at position " + std::to_string(seq) +
               " (a record removed, inserted, reordered or taken from another log)");
      return false;
    }
    if (id == nullptr || !id->isString() || !isUuidV7(id->asString())) {
      fail(file, seq_i, off, "payload is not a record: \"event_id\" is not a UUIDv7");
      return false;
    }
    if (time == nullptr || !time->isString() || !parseTime(time->asString(), t)) {
      fail(file, seq_i, off, "payload is not a record: \"time\" is not RFC 3339 UTC microseconds");
      return false;
    }
    const std::string& ty = type->asString();
    if (!heartbeat(ty, t, file, seq_i, off)) return false;
    if (ty == "checkpoint" && !checkCheckpointRecord(rec, file, seq_i, off)) return false;
    // The notes' roots at this size cover the records before this one.
    if (!checkWanted(seq_i)) return false;
    edge_.append(leafHash(f.payload));
    return true;
  }

  bool checkCheckpointRecord(const JsonValue& rec, const std::string& file, int64_t seq,
                             int64_t off) {
    const JsonValue* size = rec.find("size");
    const JsonValue* root = rec.find("root");
    const JsonValue* note = rec.find("note");
    Hash root_hash{};
    if (size == nullptr || !size->isInt() || root == nullptr || !root->isString() ||
        !fromBase64(root->asString(), root_hash) || note == nullptr || !note->isString()) {
      fail(file, seq, off, "checkpoint record without size, root and note");
      return false;
    }
    if (size->asInt() != seq) {
      fail(file, seq, off,
           "checkpoint record of size " + std::to_string(size->asInt()) +
               " is not at its own position " + std::to_string(seq));
      return false;
    }
    auto cp = checkNote(note->asString());
    if (!cp.isOk()) {
      fail(file, seq, off, "checkpoint record: " + cp.status().message());
      return false;
    }
    if (cp->size != static_cast<uint64_t>(seq) || cp->root != root_hash) {
      fail(file, seq, off, "checkpoint record: its note disagrees with its size or root");
      return false;
    }
    if (root_hash != edge_.root()) {
      fail(file, seq, off,
           "checkpoint root differs from the recomputed tree at size " + std::to_string(seq) +
               " (records before it changed, removed, inserted or reordered)");
      return false;
    }
    ++r_.checkpoints_checked;
    r_.covered = std::max(r_.covered, static_cast<uint64_t>(seq));
    return true;
  }

  // The heartbeat rule: while the process runs, checkpoints come at least every
  // 2 x interval. A run is start .. stop (clean) or start .. the next start (a crash).
  bool heartbeat(const std::string& type, int64_t t, const std::string& file, int64_t seq,
                 int64_t off) {
    const int64_t limit_us =
        std::chrono::duration_cast<std::chrono::microseconds>(opt_.heartbeat_interval).count() * 2;
    if (limit_us <= 0) return true;
    const auto missing = [&](int64_t from, int64_t to) {
      fail(file, seq, off,
           "missing heartbeat: no checkpoint for " + std::to_string((to - from) / 1000) +
               " ms while the log was live (limit " + std::to_string(limit_us / 1000) + " ms)");
      return false;
    };
    if (type == "start") {
      // A start without a clean stop before it: the previous run ended in a crash, at the
      // earliest after its last record.
      if (live_ && last_time_ - anchor_ > limit_us) return missing(anchor_, last_time_);
      live_ = true;
      anchor_ = t;
    } else if (!live_ && !seen_any_) {
      live_ = true;  // a log read from its middle (retention) or without a start record
      anchor_ = t;
    } else if (live_ && t - anchor_ > limit_us) {
      return missing(anchor_, t);
    }
    seen_any_ = true;
    if (type == "checkpoint" && live_) anchor_ = std::max(anchor_, t);
    if (type == "stop") live_ = false;
    last_time_ = std::max(last_time_, t);
    return true;
  }

  Env& env_;
  const std::string& dir_;
  const VerifyOptions& opt_;
  VerifyReport r_;
  Edge edge_;
  std::multimap<uint64_t, WantedRoot> wanted_;
  size_t notes_total_ = 0;
  bool notes_file_exists_ = false;
  std::string origin_;
  bool live_ = false;
  bool seen_any_ = false;
  int64_t anchor_ = 0;
  int64_t last_time_ = 0;
};

int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::string VerifyReport::summary() const {
  if (ok) {
    std::string out = "ok: " + std::to_string(records) + " records";
    if (first_seq > 0) out += " from seq " + std::to_string(first_seq);
    out += " in " + std::to_string(segments) + " segments, " +
           std::to_string(checkpoints_checked) + " checkpoint records, " +
           std::to_string(notes_checked) + " notes";
    if (against_checked > 0) out += ", " + std::to_string(against_checked) + " external notes";
    out += "; " + std::to_string(uncovered) + " records after the last checkpoint";
    if (torn_tail) {
      out += "; torn tail in " + torn_tail_file + " at offset " +
             std::to_string(torn_tail_offset) + " (" + std::to_string(torn_tail_bytes) +
             " bytes)";
    }
    if (torn_note) out += "; checkpoints.note ends in a torn note";
    return out;
  }
  std::string out = "FAILED: ";
  if (!error_file.empty()) out += error_file;
  if (error_offset >= 0) out += " offset " + std::to_string(error_offset);
  if (error_seq >= 0) out += " seq " + std::to_string(error_seq);
  out += ": " + error;
  return out;
}

VerifyReport verifyLog(Env& env, const std::string& dir, const VerifyOptions& options) {
  return Verifier(env, dir, options).run();
}

}  // namespace stepgate::audit
