// The `audit:` key: every setting loaded, defaults, and each validation rule with the position
// of its error.

#include "config/audit_config_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.h"

namespace stepgate::config {
namespace {

namespace fs = std::filesystem;

// Five lines; `audit:` starts on line 6.
constexpr const char* kBase =
    "listeners:\n"
    "  - address: 127.0.0.1:8443\n"
    "upstreams:\n"
    "  api:\n"
    "    url: http://127.0.0.1:8080\n";

class AuditConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stepgate-audit-config-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "audit.pem") << "key\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  StatusOr<ConfigConstSharedPtr> load(const std::string& text) {
    return loadFromString(std::string(kBase) + text, (dir_ / "stepgate.yaml").string());
  }
  std::string error(const std::string& text) {
    auto c = load(text);
    EXPECT_FALSE(c.isOk());
    return c.isOk() ? std::string() : c.status().message();
  }
  fs::path dir_;
};

TEST_F(AuditConfigTest, AbsentMeansNoAuditLog) {
  auto c = load("");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_FALSE((*c)->audit.has_value());
}

TEST_F(AuditConfigTest, DefaultsAndRelativePaths) {
  auto c = load("audit: {dir: audit, signing_key: audit.pem}\n");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  const AuditConfig& a = *(*c)->audit;
  EXPECT_EQ(a.dir, (dir_ / "audit").string());
  EXPECT_EQ(a.signing_key_file, (dir_ / "audit.pem").string());
  EXPECT_TRUE(a.strict);
  EXPECT_EQ(a.key_name, "stepgate-audit");
  EXPECT_EQ(a.ring_capacity, 4096u);
  EXPECT_EQ(a.checkpoint_records, 10000u);
  EXPECT_EQ(a.checkpoint_interval, std::chrono::seconds(60));
}

TEST_F(AuditConfigTest, LoadsEverything) {
  auto c = load(
      "audit:\n"
      "  dir: /var/lib/stepgate/audit\n"
      "  durability: async\n"
      "  signing_key: audit.pem\n"
      "  key_name: prod-audit\n"
      "  origin: example.com/stepgate\n"
      "  queue_records: 1024\n"
      "  segment_bytes: 8MiB\n"
      "  segment_age: 1h\n"
      "  retention_age: 720h\n"
      "  retention_bytes: 10GiB\n"
      "  checkpoint_records: 500\n"
      "  checkpoint_interval: 5s\n"
      "  low_disk_bytes: 1GiB\n"
      "  webhooks:\n"
      "    - {name: siem, url: \"https://siem.example.com/in\", batch_records: 100}\n"
      "  syslog:\n"
      "    - {name: rsyslog, address: \"127.0.0.1:6514\", tls: true, facility: 13}\n");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  const AuditConfig& a = *(*c)->audit;
  EXPECT_FALSE(a.strict);
  EXPECT_EQ(a.dir, "/var/lib/stepgate/audit");
  EXPECT_EQ(a.key_name, "prod-audit");
  EXPECT_EQ(a.origin, "example.com/stepgate");
  EXPECT_EQ(a.ring_capacity, 1024u);
  EXPECT_EQ(a.segment_bytes, 8u << 20);
  EXPECT_EQ(a.retention_bytes, 10ull << 30);
  EXPECT_EQ(a.checkpoint_records, 500u);
  ASSERT_EQ(a.webhooks.size(), 1u);
  EXPECT_EQ(a.webhooks[0].batch_records, 100u);
  ASSERT_EQ(a.syslogs.size(), 1u);
  EXPECT_TRUE(a.syslogs[0].tls);
}

struct Bad {
  const char* yaml;
  const char* where;
  const char* message;
};

TEST_F(AuditConfigTest, ErrorsNameTheirPosition) {
  const Bad cases[] = {
      {"audit: {signing_key: audit.pem}\n", "stepgate.yaml:6:", "dir"},
      {"audit: {dir: a}\n", "stepgate.yaml:6:", "signing_key"},
      {"audit: {dir: a, signing_key: missing.pem}\n", "stepgate.yaml:6:30:", "cannot read"},
      {"audit: {dir: a, signing_key: audit.pem, durability: eventual}\n", "stepgate.yaml:6:",
       "strict or async"},
      {"audit: {dir: a, signing_key: audit.pem, key_name: \"a b\"}\n", "stepgate.yaml:6:",
       "key_name"},
      {"audit: {dir: a, signing_key: audit.pem, queue_records: 2}\n", "stepgate.yaml:6:",
       "at least 16"},
      {"audit: {dir: a, signing_key: audit.pem, checkpoint_records: 0}\n", "stepgate.yaml:6:",
       "checkpoint_records"},
      {"audit: {dir: a, signing_key: audit.pem, segment_bytes: 10}\n", "stepgate.yaml:6:",
       "64KiB"},
      {"audit: {dir: a, signing_key: audit.pem, chekpoint_records: 5}\n", "stepgate.yaml:6:",
       "chekpoint_records"},
      {"audit: {dir: a, signing_key: audit.pem, webhooks: [{name: x, url: \"ftp://h\"}]}\n",
       "stepgate.yaml:6:", "http"},
      {"audit: {dir: a, signing_key: audit.pem, syslog: [{name: x, address: nowhere}]}\n",
       "stepgate.yaml:6:", "host:port"},
      {"audit: {dir: a, signing_key: audit.pem, webhooks: [{name: x, url: \"http://h\"}],"
       " syslog: [{name: x, address: \"h:1\"}]}\n",
       "stepgate.yaml:6:", "duplicate sink name"},
  };
  for (const Bad& b : cases) {
    const std::string e = error(b.yaml);
    EXPECT_NE(e.find(b.where), std::string::npos) << b.yaml << " -> " << e;
    EXPECT_NE(e.find(b.message), std::string::npos) << b.yaml << " -> " << e;
  }
}

}  // namespace
}  // namespace stepgate::config
