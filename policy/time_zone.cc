#include "policy/time_zone.h"

#include <algorithm>
#include <cctype>

namespace stepgate::policy {
namespace {

constexpr int64_t kLastYear = 2200;

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
int64_t be64(const unsigned char* p) {
  return static_cast<int64_t>((uint64_t{be32(p)} << 32) | be32(p + 4));
}

// Minimal POSIX TZ string reader (the TZif footer): "CET-1CEST,M3.5.0,M10.5.0/3".
struct PosixRule {
  unsigned month = 0, week = 0, weekday = 0;
  int32_t time = 7200;  // seconds after local midnight
};
struct PosixTz {
  int32_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int32_t dst_offset = 0;
  PosixRule start, end;
};

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool name() {
    if (eat('<')) {
      const size_t close = s_.find('>', i_);
      if (close == std::string_view::npos) {
        return false;
      }
      i_ = close + 1;
      return true;
    }
    const size_t start = i_;
    while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) {
      ++i_;
    }
    return i_ - start >= 3;
  }
  bool number(int& out) {
    const size_t start = i_;
    out = 0;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])) && i_ - start < 4) {
      out = out * 10 + (s_[i_++] - '0');
    }
    return i_ > start;
  }
  // [+-]hh[:mm[:ss]] as seconds.
  bool hms(int32_t& out) {
    int sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    int h = 0, m = 0, sec = 0;
    if (!number(h)) {
      return false;
    }
    if (eat(':') && !number(m)) {
      return false;
    }
    if (eat(':') && !number(sec)) {
      return false;
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool rule(PosixRule& r) {
    int m = 0, w = 0, d = 0;
    if (!eat('M') || !number(m) || !eat('.') || !number(w) || !eat('.') || !number(d)) {
      return false;  // only the Mm.w.d form (what every current zone uses)
    }
    if (m < 1 || m > 12 || w < 1 || w > 5 || d > 6) {
      return false;
    }
    r.month = static_cast<unsigned>(m);
    r.week = static_cast<unsigned>(w);
    r.weekday = static_cast<unsigned>(d);
    if (eat('/')) {
      return hms(r.time);
    }
    return true;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

bool parsePosixTz(std::string_view text, PosixTz& out) {
  Reader r(text);
  int32_t off = 0;
  if (!r.name() || !r.hms(off)) {
    return false;
  }
  out.std_offset = -off;  // POSIX offsets are west of UTC
  if (r.done()) {
    return true;
  }
  if (!r.name()) {
    return false;
  }
  out.has_dst = true;
  out.dst_offset = out.std_offset + 3600;
  if (!r.done() && !r.eat(',')) {
    if (!r.hms(off)) {
      return false;
    }
    out.dst_offset = -off;
    if (!r.eat(',')) {
      return false;
    }
  }
  return r.rule(out.start) && r.eat(',') && r.rule(out.end) && r.done();
}

bool isLeap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// Seconds since the epoch of the rule's local instant in `year`, before subtracting an offset.
int64_t ruleLocal(int64_t year, const PosixRule& r) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const unsigned mdays = kDays[r.month - 1] + (r.month == 2 && isLeap(year) ? 1 : 0);
  const int64_t first = daysFromCivil(year, r.month, 1);
  const auto first_wd = static_cast<unsigned>(((first % 7) + 11) % 7);  // 0 = Sunday
  unsigned day = 1 + (r.weekday + 7 - first_wd) % 7 + (r.week - 1) * 7;
  while (day > mdays) {
    day -= 7;
  }
  return (first + day - 1) * 86400 + r.time;
}

}  // namespace

int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string checkZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return "a time zone name must have 1 to 64 characters";
  }
  if (name.front() == '/' || name.find("..") != std::string_view::npos) {
    return "a time zone name must not start with '/' or contain '..'";
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '+' && c != '-' &&
        c != '/') {
      return "a time zone name has letters, digits and _+-/ only";
    }
  }
  return "";
}

TimeZone TimeZone::fixedOffset(std::string name, int32_t utc_offset_seconds) {
  TimeZone z;
  z.name_ = std::move(name);
  z.initial_offset_ = utc_offset_seconds;
  return z;
}

StatusOr<TimeZone> TimeZone::fromTzif(std::string name, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  auto bad = [&](const char* why) {
    return invalidArgument("time zone '" + name + "': not a usable TZif file (" + why + ")");
  };
  if (n < 44 || bytes.substr(0, 4) != "TZif") {
    return bad("no TZif header");
  }
  if (p[4] < '2') {
    return bad("version 1 files have no 64-bit data");
  }
  auto block_size = [&](size_t at, size_t time_size, uint32_t c[6]) {
    for (int i = 0; i < 6; ++i) {
      c[i] = be32(p + at + 20 + 4 * i);
    }
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    return size_t{c[3]} * time_size + c[3] + size_t{c[4]} * 6 + c[5] +
           size_t{c[2]} * (time_size + 4) + c[1] + c[0];
  };
  uint32_t c[6];
  const size_t v1 = 44 + block_size(0, 4, c);
  if (v1 + 44 > n || bytes.substr(v1, 4) != "TZif") {
    return bad("truncated");
  }
  const size_t v2_size = block_size(v1, 8, c);
  const size_t data = v1 + 44;
  if (data + v2_size > n || c[4] == 0 || c[4] > 256) {
    return bad("truncated");
  }
  const uint32_t timecnt = c[3];
  const uint32_t typecnt = c[4];
  const unsigned char* times = p + data;
  const unsigned char* idx = times + size_t{timecnt} * 8;
  const unsigned char* types = idx + timecnt;
  TimeZone z;
  z.name_ = std::move(name);
  z.initial_offset_ = static_cast<int32_t>(be32(types));
  for (uint32_t i = 0; i < timecnt; ++i) {
    if (idx[i] >= typecnt) {
      return bad("bad type index");
    }
    const int64_t t = be64(times + size_t{i} * 8);
    if (!z.times_.empty() && t <= z.times_.back()) {
      return bad("transitions out of order");
    }
    z.times_.push_back(t);
    z.offsets_.push_back(static_cast<int32_t>(be32(types + size_t{idx[i]} * 6)));
  }
  // Footer: "\n<POSIX TZ>\n", rules for instants after the last transition.
  const size_t footer = data + v2_size;
  if (footer < n && p[footer] == '\n') {
    const size_t end = bytes.find('\n', footer + 1);
    PosixTz tz;
    if (end != std::string_view::npos &&
        parsePosixTz(bytes.substr(footer + 1, end - footer - 1), tz)) {
      if (!tz.has_dst) {
        if (z.times_.empty()) {
          z.initial_offset_ = tz.std_offset;
        }
      } else {
        const int64_t last = z.times_.empty() ? INT64_MIN : z.times_.back();
        int64_t year = 1970;
        if (!z.times_.empty()) {
          year = std::max<int64_t>(1970, 1970 + z.times_.back() / 31556952 - 1);
        }
        for (; year <= kLastYear; ++year) {
          int64_t on = ruleLocal(year, tz.start) - tz.std_offset;
          int64_t off = ruleLocal(year, tz.end) - tz.dst_offset;
          std::pair<int64_t, int32_t> ts[2] = {{on, tz.dst_offset}, {off, tz.std_offset}};
          if (off < on) {
            std::swap(ts[0], ts[1]);
          }
          for (const auto& [t, o] : ts) {
            if (t > last && (z.times_.empty() || t > z.times_.back())) {
              z.times_.push_back(t);
              z.offsets_.push_back(o);
            }
          }
        }
      }
    }
  }
  return z;
}

int32_t TimeZone::offsetAt(int64_t unix_seconds) const noexcept {
  const auto it = std::upper_bound(times_.begin(), times_.end(), unix_seconds);
  if (it == times_.begin()) {
    return initial_offset_;
  }
  return offsets_[static_cast<size_t>(it - times_.begin()) - 1];
}

}  // namespace stepgate::policy
