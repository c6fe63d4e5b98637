#pragma once
// Structured logging: one JSON object per line on stderr
//   {"time":"2026-11-22T12:00:00.123Z","level":"warn","component":"proxy",
//    "msg":"...","request_id":"...", ...fields}
// Safe from any thread: each line is formatted into a thread-local buffer and written with a
// single write(2). Values of fields whose key names a credential (authorization, cookie,
// set-cookie, proxy-authorization, token, secret, password) are replaced by "[redacted]", so
// a secret cannot reach a log by a careless call.

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace stepgate::log {

enum class Level : unsigned char { kDebug = 0, kInfo, kWarn, kError };

void setLevel(Level level) noexcept;
bool enabled(Level level) noexcept;
// Parses "debug", "info", "warn", "error"; returns false on anything else.
bool parseLevel(std::string_view text, Level& out) noexcept;

// Redirects output to `fd` (default 2). For tests.
void setFd(int fd) noexcept;

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), str(v), is_number(false) {}
  Field(std::string_view k, const char* v) : key(k), str(v), is_number(false) {}
  Field(std::string_view k, int64_t v) : key(k), num(v), is_number(true) {}
  Field(std::string_view k, int v) : key(k), num(v), is_number(true) {}
  Field(std::string_view k, uint64_t v) : key(k), num(static_cast<int64_t>(v)), is_number(true) {}
  std::string_view key;
  std::string_view str;
  int64_t num = 0;
  bool is_number;
};

// Returns true iff values under `key` must never be logged.
bool isSecretKey(std::string_view key) noexcept;

void write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields = {}, std::string_view request_id = {});

inline void debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::kDebug))
    write(Level::kDebug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::kInfo))
    write(Level::kInfo, c, m, f);
}
inline void warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::kWarn))
    write(Level::kWarn, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kError, c, m, f);
}

}  // namespace stepgate::log
