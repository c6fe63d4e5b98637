#include "common/logging.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace stepgate::log {
namespace {

// Captures what log lines are written while it lives.
class Capture {
 public:
  Capture() {
    EXPECT_EQ(pipe(fds_), 0);
    setFd(fds_[1]);
  }
  ~Capture() {
    setFd(2);
    close(fds_[0]);
    close(fds_[1]);
  }
  std::string read() {
    char buf[4096];
    const ssize_t n = ::read(fds_[0], buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fds_[2];
};

TEST(LoggingTest, OneJsonObjectPerLineWithRedaction) {
  Capture cap;
  setLevel(Level::kInfo);
  write(Level::kWarn, "proxy", "refused \"x\"",
        {{"Authorization", "Bearer abc.def.ghi"}, {"cookie", "sid=1"}, {"id_token", "t"},
         {"status", 502}, {"path", "/a\nb"}},
        "rid1");
  const std::string line = cap.read();
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "exactly one line";
  EXPECT_NE(line.find("\"level\":\"warn\",\"component\":\"proxy\",\"msg\":\"refused \\\"x\\\"\""),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"request_id\":\"rid1\""), std::string::npos);
  EXPECT_NE(line.find("\"Authorization\":\"[redacted]\""), std::string::npos);
  EXPECT_NE(line.find("\"cookie\":\"[redacted]\""), std::string::npos);
  EXPECT_NE(line.find("\"id_token\":\"[redacted]\""), std::string::npos);
  EXPECT_EQ(line.find("abc.def"), std::string::npos);
  EXPECT_EQ(line.find("sid=1"), std::string::npos);
  EXPECT_NE(line.find("\"status\":502"), std::string::npos);
  EXPECT_NE(line.find("\"path\":\"/a\\nb\""), std::string::npos);
}

TEST(LoggingTest, LevelsFilter) {
  Level l;
  EXPECT_TRUE(parseLevel("debug", l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_FALSE(parseLevel("verbose", l));
  setLevel(Level::kWarn);
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_TRUE(enabled(Level::kError));
  setLevel(Level::kInfo);
}

}  // namespace
}  // namespace stepgate::log
