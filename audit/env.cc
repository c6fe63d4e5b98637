#include "audit/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace stepgate::audit {

namespace {

Status errnoStatus(const std::string& what, int err) {
  const std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT) return notFound(msg);
  if (err == ENOSPC || err == EDQUOT) return resourceExhausted(msg);
  return unavailable(msg);
}

class PosixFile final : public WritableFile {
 public:
  PosixFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status append(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoStatus("write " + path_, errno);
      }
      size_ += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return okStatus();
  }
  Status sync() override {
    if (::fdatasync(fd_) != 0) return errnoStatus("fdatasync " + path_, errno);
    return okStatus();
  }
  Status close() override {
    if (fd_ < 0) return okStatus();
    const int r = ::close(fd_);
    fd_ = -1;
    if (r != 0) return errnoStatus("close " + path_, errno);
    return okStatus();
  }
  uint64_t size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixEnv final : public Env {
 public:
  StatusOr<std::unique_ptr<WritableFile>> openAppend(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return errnoStatus("open " + path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return errnoStatus("stat " + path, err);
    }
    return std::unique_ptr<WritableFile>(
        new PosixFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }
  StatusOr<std::string> readFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errnoStatus("open " + path, errno);
    std::string out;
    char buf[65536];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        return errnoStatus("read " + path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }
  Status truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return errnoStatus("truncate " + path, errno);
    }
    return okStatus();
  }
  StatusOr<std::vector<std::string>> listDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return errnoStatus("opendir " + dir, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  Status createDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return errnoStatus("mkdir " + dir, errno);
    }
    return okStatus();
  }
  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errnoStatus("unlink " + path, errno);
    return okStatus();
  }
  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errnoStatus("rename " + from, errno);
    return okStatus();
  }
  Status syncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errnoStatus("open " + dir, errno);
    const int r = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (r != 0) return errnoStatus("fsync " + dir, err);
    return okStatus();
  }
  StatusOr<uint64_t> freeBytes(const std::string& path) override {
    struct statvfs v {};
    if (::statvfs(path.c_str(), &v) != 0) return errnoStatus("statvfs " + path, errno);
    return static_cast<uint64_t>(v.f_bavail) * static_cast<uint64_t>(v.f_frsize);
  }
  bool exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
};

// A file of a FaultEnv: passes through, with the env's faults.
class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultEnv& env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}
  Status append(std::string_view data) override {
    const uint64_t allowed = env_.allowAppend(data.size());
    if (allowed < data.size()) {
      if (allowed > 0) {
        Status s = base_->append(data.substr(0, static_cast<size_t>(allowed)));
        if (!s.isOk()) return s;
      }
      return resourceExhausted("write: No space left on device (injected)");
    }
    return base_->append(data);
  }
  Status sync() override {
    if (env_.takeSyncFailure()) return unavailable("fdatasync: Input/output error (injected)");
    return base_->sync();
  }
  Status close() override { return base_->close(); }
  uint64_t size() const override { return base_->size(); }

 private:
  FaultEnv& env_;
  std::unique_ptr<WritableFile> base_;
};

}  // namespace

Env& Env::posix() {
  static PosixEnv env;
  return env;
}

StatusOr<std::unique_ptr<WritableFile>> FaultEnv::openAppend(const std::string& path) {
  auto f = base_.openAppend(path);
  if (!f.isOk()) return f.status();
  return std::unique_ptr<WritableFile>(new FaultFile(*this, std::move(f).value()));
}

StatusOr<uint64_t> FaultEnv::freeBytes(const std::string& path) {
  if (const int64_t f = free_bytes_.load(); f >= 0) return static_cast<uint64_t>(f);
  return base_.freeBytes(path);
}

bool FaultEnv::takeSyncFailure() {
  int n = fail_sync_after_.load();
  while (true) {
    if (n <= 0) return false;
    if (n == 1) return true;  // stays failing
    if (fail_sync_after_.compare_exchange_weak(n, n - 1)) return false;
  }
}

uint64_t FaultEnv::allowAppend(uint64_t n) {
  int64_t left = enospc_after_.load();
  while (true) {
    if (left < 0) return n;
    const uint64_t take = std::min(static_cast<uint64_t>(left), n);
    if (enospc_after_.compare_exchange_weak(left, left - static_cast<int64_t>(take))) return take;
  }
}

}  // namespace stepgate::audit
