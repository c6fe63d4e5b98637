#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>
#include <string>

#include "common/ascii.h"
#include "common/json_writer.h"

namespace stepgate::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_fd{2};

const char* levelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size())
    return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (equalsIgnoreAsciiCase(hay.substr(i, needle.size()), needle))
      return true;
  }
  return false;
}

void appendTime(std::string& out) {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf, n);
  char frac[8];
  snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
  out.append(frac);
}

}  // namespace

void setLevel(Level level) noexcept {
  g_level.store(static_cast<int>(level));
}
bool enabled(Level level) noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}
void setFd(int fd) noexcept {
  g_fd.store(fd);
}

bool parseLevel(std::string_view t, Level& out) noexcept {
  if (t == "debug") {
    out = Level::kDebug;
  } else if (t == "info") {
    out = Level::kInfo;
  } else if (t == "warn") {
    out = Level::kWarn;
  } else if (t == "error") {
    out = Level::kError;
  } else {
    return false;
  }
  return true;
}

bool isSecretKey(std::string_view key) noexcept {
  return equalsIgnoreAsciiCase(key, "authorization") ||
         equalsIgnoreAsciiCase(key, "proxy-authorization") ||
         equalsIgnoreAsciiCase(key, "cookie") || equalsIgnoreAsciiCase(key, "set-cookie") ||
         icontains(key, "token") || icontains(key, "secret") || icontains(key, "password");
}

void write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields, std::string_view request_id) {
  thread_local std::string line;
  line.clear();
  line.append("{\"time\":\"");
  appendTime(line);
  line.append("\",\"level\":\"");
  line.append(levelName(level));
  line.append("\",\"component\":");
  json::appendString(line, component);
  line.append(",\"msg\":");
  json::appendString(line, message);
  if (!request_id.empty()) {
    line.append(",\"request_id\":");
    json::appendString(line, request_id);
  }
  for (const Field& f : fields) {
    line.push_back(',');
    json::appendString(line, f.key);
    line.push_back(':');
    if (isSecretKey(f.key)) {
      line.append("\"[redacted]\"");
    } else if (f.is_number) {
      json::appendInt(line, f.num);
    } else {
      json::appendString(line, f.str);
    }
  }
  line.append("}\n");
  const int fd = g_fd.load(std::memory_order_relaxed);
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n <= 0)
      break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace stepgate::log
