#pragma once
// TimeZone: the UTC offsets of one IANA zone, read from a compiled TZif file (RFC 8536) of
// the system's zoneinfo directory. libstdc++ 12 has no std::chrono::locate_zone, and
// localtime_r would mean setting TZ (process-global, not thread-safe), so the policy loader
// reads the zone once and precomputes every transition up to the year 2200 (from the file's
// 64-bit table, extended by its POSIX TZ footer for "Mm.w.d" rules). offsetAt is then a binary
// search: allocation-free, noexcept, safe from any thread on a const TimeZone.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stepgate::policy {

class TimeZone {
 public:
  // Parses TZif bytes (version 2 or later). `name` is kept for messages and docs.
  [[nodiscard]] static StatusOr<TimeZone> fromTzif(std::string name, std::string_view bytes);
  // A fixed offset (UTC is fixedOffset("UTC", 0)).
  static TimeZone fixedOffset(std::string name, int32_t utc_offset_seconds);

  const std::string& name() const noexcept { return name_; }
  // The offset of local time from UTC, in seconds, at `unix_seconds`.
  int32_t offsetAt(int64_t unix_seconds) const noexcept;

 private:
  std::string name_;
  int32_t initial_offset_ = 0;    // before the first transition
  std::vector<int64_t> times_;    // transition instants, ascending
  std::vector<int32_t> offsets_;  // offset in force from times_[i]
};

// Validates an IANA zone name ("Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires"):
// "" when acceptable, else why not (no "..", no leading '/', letters, digits, _+-/ only).
std::string checkZoneName(std::string_view name);

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) noexcept;

}  // namespace stepgate::policy
