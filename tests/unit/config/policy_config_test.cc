// The policy parts of the config: `policies:`, `policy:` and an upstream's `routes:`, loaded
// in full, and each validation rule with the position of its error.

#include "config/policy_config_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "config/loader.h"

namespace stepgate::config {
namespace {

namespace fs = std::filesystem;

// Five lines; `routes:` sits on line 6 when appended.
constexpr const char* kBase =
    "listeners:\n"
    "  - address: 127.0.0.1:8443\n"
    "upstreams:\n"
    "  api:\n"
    "    url: http://127.0.0.1:8080\n";

class PolicyConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stepgate-policy-config-" + std::to_string(getpid()));
    fs::create_directories(dir_ / "policies");
  }
  void TearDown() override { fs::remove_all(dir_); }
  StatusOr<ConfigConstSharedPtr> load(const std::string& text) {
    return loadFromString(text, (dir_ / "stepgate.yaml").string());
  }
  std::string error(const std::string& text) {
    auto c = load(text);
    EXPECT_FALSE(c.isOk());
    return c.isOk() ? std::string() : c.status().message();
  }
  fs::path dir_;
};

TEST_F(PolicyConfigTest, AbsentMeansNoPolicy) {
  auto c = load(kBase);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_TRUE((*c)->policies_dir.empty());
  EXPECT_FALSE((*c)->policy.reveal_rule_ids);
  EXPECT_TRUE((*c)->policy.watch);
  EXPECT_TRUE((*c)->upstreams[0].routes.empty());
}

TEST_F(PolicyConfigTest, LoadsEverything) {
  auto c = load(std::string(kBase) +
                "    routes:\n"
                "      - {method: POST, path: \"/api/workflow/{workflow}\", action: start,"
                " workflow: \"{workflow}\"}\n"
                "      - method: POST\n"
                "        path: /api/tasks/{wf}/{step}/{rest...}\n"
                "        action: complete-step\n"
                "        step: \"{step}\"\n"
                "        workflow: payments\n"
                "policies: policies\n"
                "policy: {reveal_rule_ids: true, watch: false}\n");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  const Config& cfg = **c;
  EXPECT_EQ(cfg.policies_dir, (dir_ / "policies").string());
  EXPECT_TRUE(cfg.policy.reveal_rule_ids);
  EXPECT_FALSE(cfg.policy.watch);
  ASSERT_EQ(cfg.upstreams[0].routes.size(), 2u);
  const RouteConfig& r = cfg.upstreams[0].routes[1];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/api/tasks/{wf}/{step}/{rest...}");
  EXPECT_EQ(r.action, "complete-step");
  EXPECT_EQ(r.step, "{step}");
  EXPECT_EQ(r.workflow, "payments");
  EXPECT_NE(r.position.find(":8:9"), std::string::npos) << r.position;
}

TEST_F(PolicyConfigTest, MissingDirectory) {
  EXPECT_NE(error(std::string(kBase) + "policies: nowhere\n").find("stepgate.yaml:6:11: "),
            std::string::npos);
}

TEST_F(PolicyConfigTest, UnknownPolicyKey) {
  const std::string e = error(std::string(kBase) + "policy: {reveal_rules: true}\n");
  EXPECT_NE(e.find("stepgate.yaml:6:"), std::string::npos) << e;
  EXPECT_NE(e.find("reveal_rules"), std::string::npos) << e;
}

struct BadRoute {
  const char* route;
  const char* message;
};

TEST_F(PolicyConfigTest, RouteValidation) {
  const BadRoute cases[] = {
      {"{method: post, path: /a, action: start}", "method must be"},
      {"{method: POST, path: a, action: start}", "must start with '/'"},
      {"{method: POST, path: \"/a//b\", action: start}", "empty segment"},
      {"{method: POST, path: \"/a/{x\", action: start}", "whole segment"},
      {"{method: POST, path: \"/a/{rest...}/b\", action: start}", "only the last"},
      {"{method: POST, path: \"/{x}/{x}\", action: start}", "repeated"},
      {"{method: POST, path: \"/{1x}\", action: start}", "bad variable name"},
      {"{method: POST, path: /a, action: launch}", "unknown action 'launch'"},
      {"{method: POST, path: /a, action: start, step: \"{s}\"}", "names no variable"},
      {"{method: POST, path: /a, action: start, workflow: \"x{y}\"}", "single {variable}"},
      {"{method: POST, path: /a, actoin: start}", "actoin"},
      {"{path: /a, action: start}", "method"},
  };
  for (const BadRoute& c : cases) {
    const std::string e = error(std::string(kBase) + "    routes:\n      - " + c.route + "\n");
    EXPECT_NE(e.find("stepgate.yaml:7:"), std::string::npos) << c.route << ": " << e;
    EXPECT_NE(e.find(c.message), std::string::npos) << c.route << ": " << e;
  }
}

TEST_F(PolicyConfigTest, RoutesMustBeAList) {
  const std::string e = error(std::string(kBase) + "    routes: {a: b}\n");
  EXPECT_NE(e.find("stepgate.yaml:6:13: routes: expected a list"), std::string::npos) << e;
}

TEST(PathTemplate, Variables) {
  std::vector<std::string> vars;
  EXPECT_EQ(checkPathTemplate("/api/{a}/x/{b}/{c...}", vars), "");
  EXPECT_EQ(vars, (std::vector<std::string>{"a", "b", "c"}));
  vars.clear();
  EXPECT_EQ(checkPathTemplate("/", vars), "");
  EXPECT_TRUE(vars.empty());
  EXPECT_NE(checkPathTemplate("/a?b", vars), "");
  vars.clear();
  std::string many;
  for (int i = 0; i < 17; ++i) {
    many += "/{v" + std::to_string(i) + "}";
  }
  EXPECT_EQ(checkPathTemplate(many, vars), "has more than 16 variables");
}

}  // namespace
}  // namespace stepgate::config
