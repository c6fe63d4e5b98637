// The top-level `issuer:` and an upstream's `identity_assertion:`.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.h"

namespace stepgate::config {
namespace {

namespace fs = std::filesystem;

class IssuerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stepgate-issuer-config-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  StatusOr<ConfigConstSharedPtr> load(const std::string& upstream_extra,
                                      const std::string& tail) {
    return loadFromString(
        "listeners:\n"
        "  - address: 127.0.0.1:8443\n"
        "upstreams:\n"
        "  api:\n"
        "    url: http://127.0.0.1:8080\n" +
            upstream_extra + tail,
        (dir_ / "stepgate.yaml").string());
  }
  fs::path dir_;
};

TEST_F(IssuerConfigTest, LoadsWithDefaults) {
  auto c = load("    identity_assertion: {}\n",
                "issuer: {url: \"https://sg.example.com\", signing_key: keys/sg.pem}\n");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  ASSERT_TRUE((*c)->issuer.has_value());
  EXPECT_EQ((*c)->issuer->signing_key_file, (dir_ / "keys/sg.pem").string());
  const auto& ia = *(*c)->upstreams[0].identity_assertion;
  EXPECT_EQ(ia.header, "X-Stepgate-Identity");
  EXPECT_EQ(ia.audience, "http://127.0.0.1:8080");
  EXPECT_EQ(ia.ttl, std::chrono::seconds(60));
}

TEST_F(IssuerConfigTest, PreviousKeys) {
  fs::create_directories(dir_ / "keys");
  { std::ofstream(dir_ / "keys/old.pem") << "x"; }
  auto c = load("", "issuer: {url: \"https://sg.example.com\", signing_key: keys/sg.pem,\n"
                    "         previous_keys: [keys/old.pem]}\n");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ((*c)->issuer->previous_key_files,
            (std::vector<std::string>{(dir_ / "keys/old.pem").string()}));
}

TEST_F(IssuerConfigTest, Errors) {
  struct Case {
    std::string upstream, tail, message;
  };
  const Case cases[] = {
      {"    identity_assertion: {}\n", "", "needs the top-level 'issuer'"},
      {"    identity_assertion: {ttl: 5m}\n",
       "issuer: {url: \"https://a\", signing_key: k.pem}\n", "30s to 60s"},
      {"    identity_assertion: {header: \"X Bad\"}\n",
       "issuer: {url: \"https://a\", signing_key: k.pem}\n", "header name"},
      {"", "issuer: {url: \"ftp://a\", signing_key: k.pem}\n", "https://"},
      {"", "issuer: {url: \"https://a\"}\n", "signing_key"},
      {"", "issuer: {url: \"https://a\", signing_key: k.pem, previous_keys: [gone.pem]}\n",
       "previous_keys: cannot read 'gone.pem'"},
      {"", "issuer: {url: \"https://a\", signing_key: k.pem, previous_keys: gone.pem}\n",
       "stepgate.yaml:6:63: expected a list of strings"},
  };
  for (const Case& k : cases) {
    auto c = load(k.upstream, k.tail);
    ASSERT_FALSE(c.isOk()) << k.upstream << k.tail;
    EXPECT_NE(c.status().message().find("stepgate.yaml:"), std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find(k.message), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace stepgate::config
