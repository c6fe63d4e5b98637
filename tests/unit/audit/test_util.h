#pragma once
// Fixtures the audit unit tests share: a temporary directory, whole-file reads and writes, a
// signing key, and TestLog, a log built directly from the format (segment framing, Merkle
// tree, signed notes), so that the verifier is tested against the specification rather than
// against the writer.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "audit/segment.h"
#include "common/json_writer.h"

namespace stepgate::audit::testutil {

// A fresh directory /tmp/stepgate-<tag>-XXXXXX, removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string tmpl = "/tmp/stepgate-" + tag + "-XXXXXX";
    const char* d = mkdtemp(tmpl.data());
    EXPECT_NE(d, nullptr);
    path_ = d != nullptr ? std::string(d) : "/tmp/stepgate-" + tag + "-failed";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void writeFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline std::string readFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A new signing key "stepgate-test" at `dir`/signing.pem; null (and a failed expectation)
// when it cannot be made.
inline std::shared_ptr<const SigningKey> makeKey(const std::string& dir) {
  auto k = SigningKey::generate(dir + "/signing.pem", "stepgate-test");
  EXPECT_TRUE(k.isOk()) << k.status().toString();
  return k.isOk() ? *k : nullptr;
}

constexpr int64_t kStartUs = 1'763'800'000'000'000;  // 2025-11-22

// RFC 3339 UTC time with microseconds, as records carry it.
inline std::string timeText(int64_t us) {
  const time_t secs = static_cast<time_t>(us / 1'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1'000'000));
  return buf;
}

class TestLog {
 public:
  TestLog(std::string dir, std::shared_ptr<const SigningKey> key, std::string salt = "")
      : dir_(std::move(dir)), key_(std::move(key)), salt_(std::move(salt)) {
    segments_.push_back({0, {}});
  }

  // Appends a record of `type` with extra members `fields` ("" or ",\"a\":1"), `step_us`
  // after the previous one.
  void add(const std::string& type, const std::string& fields = "", int64_t step_us = 1000) {
    now_ += step_us;
    const uint64_t seq = tree_.size();
    char id[96];
    std::snprintf(id, sizeof id, "%08llx-%04llx-7%03llx-8%03llx-%012llx",
                  static_cast<unsigned long long>(now_ / 1000 >> 16),
                  static_cast<unsigned long long>((now_ / 1000) & 0xFFFF),
                  static_cast<unsigned long long>(seq & 0xFFF),
                  static_cast<unsigned long long>((seq >> 12) & 0xFFF),
                  static_cast<unsigned long long>(seq));
    std::string p = "{\"v\":1,\"seq\":" + std::to_string(seq) + ",\"event_id\":\"" + id +
                    "\",\"type\":\"" + type + "\",\"time\":\"" + timeText(now_) + "\"" + fields;
    if (!salt_.empty()) p += ",\"salt\":\"" + salt_ + "\"";
    p += "}";
    segments_.back().second.push_back(p);
    tree_.append(leafHash(p));
  }
  void request(int64_t step_us = 1000) { add("request", ",\"request_id\":\"r\"", step_us); }
  // A checkpoint of every record so far, as a record and in checkpoints.note.
  void checkpoint(int64_t step_us = 1000) {
    Checkpoint cp;
    cp.origin = "stepgate.example/audit/test";
    cp.size = tree_.size();
    cp.root = tree_.root();
    const std::string note = key_->sign(cp);
    std::string f = ",\"size\":" + std::to_string(cp.size) + ",\"root\":\"" + toBase64(cp.root) +
                    "\",\"note\":";
    json::appendString(f, note);
    add("checkpoint", f, step_us);
    notes_ += note + "\n";
    last_note_ = note;
  }
  void rotate() { segments_.push_back({tree_.size(), {}}); }
  uint64_t size() const { return tree_.size(); }
  const std::string& lastNote() const { return last_note_; }
  const std::string& notes() const { return notes_; }
  const std::string& dir() const { return dir_; }
  std::string segmentPath(size_t i) const {
    return dir_ + "/" + segmentFileName(segments_[i].first);
  }

  void write() const {
    mkdir(dir_.c_str(), 0700);
    mkdir((dir_ + "/segments").c_str(), 0700);
    for (const auto& [first, payloads] : segments_) {
      writeSegment(dir_ + "/" + segmentFileName(first), first, payloads);
    }
    writeFile(dir_ + "/checkpoints.note", notes_);
  }

  static void writeSegment(const std::string& path, uint64_t first,
                           const std::vector<std::string>& payloads) {
    std::string s;
    appendSegmentHeader(s, first, kStartUs);
    for (const auto& p : payloads) appendFrame(s, p);
    writeFile(path, s);
  }

 private:
  std::string dir_;
  std::shared_ptr<const SigningKey> key_;
  std::string salt_;
  int64_t now_ = kStartUs;
  CompactRange tree_;
  std::vector<std::pair<uint64_t, std::vector<std::string>>> segments_;
  std::string notes_;
  std::string last_note_;
};

// The record payloads of the segment file at `path`.
inline std::vector<std::string> payloadsOf(const std::string& path) {
  const std::string bytes = readFileText(path);
  auto scan = scanSegment(bytes);
  EXPECT_TRUE(scan.isOk());
  std::vector<std::string> out;
  if (!scan.isOk()) return out;
  for (const Frame& f : scan->frames) out.emplace_back(f.payload);
  return out;
}

}  // namespace stepgate::audit::testutil
