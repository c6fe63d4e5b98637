#include "identity/dev_issuer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "identity/token_verifier.h"

namespace stepgate::identity {
namespace {

std::string readAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(DevIssuerTest, MintedTokensVerifyWithTheWrittenJwksOnly) {
  const std::string dir = ::testing::TempDir() + "/dev-issuer-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  auto issuer = DevIssuer::open(dir);
  ASSERT_TRUE(issuer.isOk()) << issuer.status().toString();
  EXPECT_EQ(std::filesystem::status(dir + "/issuer.key").permissions() &
                std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  MintRequest req;
  req.subject = "alice";
  req.groups = {"ops", "payments-oncall"};
  req.mfa = true;
  const std::string token = (*issuer)->mint(req);

  std::vector<std::string> warnings;
  auto keys = parseJwks(readAll((*issuer)->jwksPath()), warnings);
  ASSERT_TRUE(keys.isOk()) << keys.status().toString();
  config::ProviderConfig provider;
  provider.name = "demo";
  provider.type = config::ProviderType::kJwt;
  provider.issuer = kDevIssuer;
  provider.audiences = {kDevAudience};
  provider.algorithms = {"ES256"};
  provider.typ = "at+jwt";
  provider.claims.groups = "groups";
  const VerifyResult r = verifyJwt(token, provider, *keys, std::chrono::system_clock::now());
  ASSERT_TRUE(r.ok()) << authErrorName(*r.error);
  EXPECT_EQ(r.principal.subject, "alice");
  EXPECT_EQ(r.principal.groups, (std::vector<std::string>{"ops", "payments-oncall"}));
  EXPECT_TRUE(r.principal.mfa);

  // Re-opening keeps the key: old tokens stay valid; a second folder is another issuer.
  auto again = DevIssuer::open(dir);
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(readAll((*again)->jwksPath()), readAll((*issuer)->jwksPath()));
  auto other = DevIssuer::open(dir + "-other");
  ASSERT_TRUE(other.isOk());
  const VerifyResult foreign =
      verifyJwt((*other)->mint(req), provider, *keys, std::chrono::system_clock::now());
  EXPECT_FALSE(foreign.ok());
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir + "-other");
}

}  // namespace
}  // namespace stepgate::identity
