#pragma once
// TimeSource: the one way components read clocks, so tests can inject a ManualTimeSource.
// RealTimeSource is stateless and safe from any thread. ManualTimeSource is for tests on a
// single thread.

#include <chrono>

namespace stepgate {

using SystemTime = std::chrono::system_clock::time_point;
using MonotonicTime = std::chrono::steady_clock::time_point;

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual SystemTime systemTime() const noexcept = 0;
  virtual MonotonicTime monotonicTime() const noexcept = 0;
};

class RealTimeSource final : public TimeSource {
 public:
  SystemTime systemTime() const noexcept override { return std::chrono::system_clock::now(); }
  MonotonicTime monotonicTime() const noexcept override {
    return std::chrono::steady_clock::now();
  }
};

class ManualTimeSource final : public TimeSource {
 public:
  SystemTime systemTime() const noexcept override { return system_; }
  MonotonicTime monotonicTime() const noexcept override { return mono_; }
  void advance(std::chrono::nanoseconds d) noexcept {
    system_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    mono_ += d;
  }
  void setSystemTime(SystemTime t) noexcept { system_ = t; }

 private:
  SystemTime system_{};
  MonotonicTime mono_{};
};

}  // namespace stepgate
