#pragma once
// Env: the audit log's seam to the file system (LevelDB's Env idea). The writer, recovery,
// rotation, retention, verify and export reach files only through it, so tests can inject
// faults: a failed fsync, ENOSPC, short writes (FaultEnv below).
//
// Thread safety: PosixEnv is stateless and thread-safe. A WritableFile is used by one thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stepgate::audit {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` or fails; a short write is an error (the file may hold a prefix).
  [[nodiscard]] virtual Status append(std::string_view data) = 0;
  // fdatasync. A failure is final: the caller must not retry (the page cache may have
  // dropped the dirty pages), it must fail closed.
  [[nodiscard]] virtual Status sync() = 0;
  [[nodiscard]] virtual Status close() = 0;
  virtual uint64_t size() const = 0;  // bytes in the file, appended ones included
};

class Env {
 public:
  virtual ~Env() = default;
  // Opens `path` for appending, creating it (0600) if missing.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<WritableFile>> openAppend(
      const std::string& path) = 0;
  [[nodiscard]] virtual StatusOr<std::string> readFile(const std::string& path) = 0;
  [[nodiscard]] virtual Status truncate(const std::string& path, uint64_t size) = 0;
  // Names (not paths) in `dir`, sorted; NotFound if `dir` is missing.
  [[nodiscard]] virtual StatusOr<std::vector<std::string>> listDir(const std::string& dir) = 0;
  [[nodiscard]] virtual Status createDir(const std::string& dir) = 0;  // 0700, ok if exists
  [[nodiscard]] virtual Status remove(const std::string& path) = 0;
  [[nodiscard]] virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Makes a directory's entries durable (after creating or removing a file in it).
  [[nodiscard]] virtual Status syncDir(const std::string& dir) = 0;
  // Bytes available to an unprivileged writer on the file system of `path`.
  [[nodiscard]] virtual StatusOr<uint64_t> freeBytes(const std::string& path) = 0;
  [[nodiscard]] virtual bool exists(const std::string& path) = 0;

  // The real file system.
  static Env& posix();
};

// An Env over another that injects faults, for tests. Counters are per FaultEnv.
class FaultEnv final : public Env {
 public:
  explicit FaultEnv(Env& base) : base_(base) {}
  // The n-th sync() from now (1 = the next) and every later one fail with EIO.
  void failSyncAfter(int n) { fail_sync_after_ = n; }
  // Appends fail with ENOSPC once this many more bytes have been appended (a prefix of the
  // failing append is written first: a short write).
  void enospcAfterBytes(uint64_t n) { enospc_after_ = static_cast<int64_t>(n); }
  // freeBytes() answers this value instead of the real one.
  void setFreeBytes(uint64_t n) { free_bytes_ = static_cast<int64_t>(n); }

  StatusOr<std::unique_ptr<WritableFile>> openAppend(const std::string& path) override;
  StatusOr<std::string> readFile(const std::string& path) override {
    return base_.readFile(path);
  }
  Status truncate(const std::string& path, uint64_t size) override {
    return base_.truncate(path, size);
  }
  StatusOr<std::vector<std::string>> listDir(const std::string& dir) override {
    return base_.listDir(dir);
  }
  Status createDir(const std::string& dir) override { return base_.createDir(dir); }
  Status remove(const std::string& path) override { return base_.remove(path); }
  Status rename(const std::string& from, const std::string& to) override {
    return base_.rename(from, to);
  }
  Status syncDir(const std::string& dir) override { return base_.syncDir(dir); }
  StatusOr<uint64_t> freeBytes(const std::string& path) override;
  bool exists(const std::string& path) override { return base_.exists(path); }

  // Used by the files FaultEnv opens.
  bool takeSyncFailure();
  // How many of `n` bytes may be appended before ENOSPC (n when no fault is armed).
  uint64_t allowAppend(uint64_t n);

 private:
  Env& base_;
  // Atomics: tests arm faults while the writer thread runs.
  std::atomic<int> fail_sync_after_{0};       // 0: off
  std::atomic<int64_t> enospc_after_{-1};     // -1: off
  std::atomic<int64_t> free_bytes_{-1};       // -1: real
};

}  // namespace stepgate::audit
