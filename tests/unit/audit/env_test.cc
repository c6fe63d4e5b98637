#include "audit/env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace stepgate::audit {
namespace {

std::string tempDir() {
  char tmpl[] = "/tmp/stepgate-env-XXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d;
}

TEST(EnvTest, AppendSyncReadListRemove) {
  Env& env = Env::posix();
  const std::string dir = tempDir();
  auto f = env.openAppend(dir + "/a");
  ASSERT_TRUE(f.isOk());
  ASSERT_TRUE((*f)->append("hello ").isOk());
  ASSERT_TRUE((*f)->append("world").isOk());
  ASSERT_TRUE((*f)->sync().isOk());
  EXPECT_EQ((*f)->size(), 11u);
  ASSERT_TRUE((*f)->close().isOk());
  EXPECT_EQ(*env.readFile(dir + "/a"), "hello world");
  ASSERT_TRUE(env.truncate(dir + "/a", 5).isOk());
  EXPECT_EQ(*env.readFile(dir + "/a"), "hello");
  auto reopened = env.openAppend(dir + "/a");
  ASSERT_TRUE(reopened.isOk());
  EXPECT_EQ((*reopened)->size(), 5u);
  ASSERT_TRUE(env.createDir(dir + "/sub").isOk());
  ASSERT_TRUE(env.createDir(dir + "/sub").isOk());  // exists: fine
  auto names = env.listDir(dir);
  ASSERT_TRUE(names.isOk());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "sub"}));
  EXPECT_TRUE(env.exists(dir + "/a"));
  ASSERT_TRUE(env.rename(dir + "/a", dir + "/b").isOk());
  ASSERT_TRUE(env.syncDir(dir).isOk());
  ASSERT_TRUE(env.remove(dir + "/b").isOk());
  EXPECT_FALSE(env.exists(dir + "/b"));
  EXPECT_FALSE(env.readFile(dir + "/missing").isOk());
  EXPECT_TRUE(env.freeBytes(dir).isOk());
  ASSERT_TRUE(env.remove(dir + "/sub").isOk() || rmdir((dir + "/sub").c_str()) == 0);
  rmdir(dir.c_str());
}

TEST(FaultEnvTest, SyncFailsFromTheNthCallOn) {
  FaultEnv env(Env::posix());
  const std::string dir = tempDir();
  auto f = env.openAppend(dir + "/a");
  ASSERT_TRUE(f.isOk());
  env.failSyncAfter(2);
  EXPECT_TRUE((*f)->sync().isOk());
  EXPECT_FALSE((*f)->sync().isOk());
  EXPECT_FALSE((*f)->sync().isOk());
  unlink((dir + "/a").c_str());
  rmdir(dir.c_str());
}

TEST(FaultEnvTest, EnospcWritesAShortPrefixThenFails) {
  FaultEnv env(Env::posix());
  const std::string dir = tempDir();
  auto f = env.openAppend(dir + "/a");
  ASSERT_TRUE(f.isOk());
  env.enospcAfterBytes(7);
  EXPECT_TRUE((*f)->append("12345").isOk());
  const Status s = (*f)->append("67890");
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(*env.readFile(dir + "/a"), "1234567");
  env.setFreeBytes(42);
  EXPECT_EQ(*env.freeBytes(dir), 42u);
  unlink((dir + "/a").c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace stepgate::audit
