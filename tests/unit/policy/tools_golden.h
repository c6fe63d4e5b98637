#pragma once
// Golden files for the reviewer tools' tests: rendered text is compared with
// tests/fixtures/policy/NAME. With STEPGATE_UPDATE_GOLDEN=1 the file is rewritten instead
// (review the diff before committing it).

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace stepgate::policy::testing {

inline std::string fixturePath(const std::string& name) {
  return std::string(STEPGATE_SOURCE_DIR) + "/tests/fixtures/policy/" + name;
}

inline std::string readFixture(const std::string& name) {
  std::ifstream in(fixturePath(name), std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void expectGolden(const std::string& name, const std::string& actual) {
  const char* update = std::getenv("STEPGATE_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(fixturePath(name), std::ios::binary) << actual;
    return;
  }
  EXPECT_EQ(readFixture(name), actual) << "golden file tests/fixtures/policy/" << name;
}

}  // namespace stepgate::policy::testing
