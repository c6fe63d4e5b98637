// SigV4 signing against published AWS examples, and credential loading.
//
// Expected values not published by AWS were computed independently of this code with
// Python's hashlib/hmac over the canonical request written out in each test's comment:
//   k = HMAC("AWS4"+secret, date); k = HMAC(k, region); k = HMAC(k, service);
//   k = HMAC(k, "aws4_request"); signature = hex(HMAC(k, string_to_sign))
// (equivalently: `openssl dgst -sha256 -mac HMAC -macopt hexkey:...` chained by hand).

#include "orchestrators/sigv4.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace stepgate::orchestrators {
namespace {

constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

// 2015-08-30T12:36:00Z
std::chrono::system_clock::time_point exampleTime() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));
}

SigV4Credentials creds(std::string service, std::string token = {}) {
  SigV4Credentials c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = kSecret;
  c.session_token = std::move(token);
  c.region = "us-east-1";
  c.service = std::move(service);
  return c;
}

TEST(SigV4, Sha256AndHmacKnownVectors) {
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  const std::string mac = hmacSha256("Jefe", "what do ya want for nothing?");
  ASSERT_EQ(mac.size(), 32u);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : mac) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 0xf]);
  }
  EXPECT_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// AWS General Reference, "Signature Version 4 signing process" example: IAM ListUsers.
// Canonical request hash f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59.
TEST(SigV4, IamListUsersPublishedExample) {
  const std::vector<HeaderView> headers = {
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  std::string out;
  signV4(creds("iam"), "GET", "/", "Action=ListUsers&Version=2010-05-08", "iam.amazonaws.com",
         headers, "", exampleTime(), out);
  EXPECT_EQ(out,
            "X-Amz-Date: 20150830T123600Z\r\n"
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7\r\n");
}

// aws-sig-v4-test-suite "get-vanilla".
TEST(SigV4, GetVanillaPublishedExample) {
  std::string out;
  signV4(creds("service"), "GET", "/", "", "example.amazonaws.com", {}, "", exampleTime(), out);
  EXPECT_NE(out.find("SignedHeaders=host;x-amz-date, "
                     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            std::string::npos)
      << out;
}

// A Step Functions call with temporary credentials. Canonical request:
//   POST\n/\n\ncontent-type:application/x-amz-json-1.0\n
//   host:states.us-east-1.amazonaws.com\nx-amz-date:20150830T123600Z\n
//   x-amz-security-token:TOKEN123\nx-amz-target:AWSStepFunctions.StartExecution\n\n
//   content-type;host;x-amz-date;x-amz-security-token;x-amz-target\nhex(sha256(body))
TEST(SigV4, StepFunctionsCallWithSessionToken) {
  const std::string body =
      R"({"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:orders"})";
  // The caller's own signature fields are never signed or repeated.
  const std::vector<HeaderView> headers = {{"X-Amz-Target", "AWSStepFunctions.StartExecution"},
                                           {"Content-Type", "application/x-amz-json-1.0"},
                                           {"Authorization", "AWS4-HMAC-SHA256 Credential=CALLER"},
                                           {"X-Amz-Date", "19990101T000000Z"},
                                           {"X-Amz-Security-Token", "CALLER-TOKEN"},
                                           {"Host", "evil.example"}};
  std::string out = "Existing: kept\r\n";
  signV4(creds("states", "TOKEN123"), "POST", "/", "", "states.us-east-1.amazonaws.com", headers,
         body, exampleTime(), out);
  EXPECT_EQ(out,
            "Existing: kept\r\n"
            "X-Amz-Date: 20150830T123600Z\r\n"
            "X-Amz-Security-Token: TOKEN123\r\n"
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
            "Signature=240610800155b05af3db5823e7d41d3c4c72e2de09b2048d670f18a86fb675dc\r\n");
  EXPECT_EQ(out.find(kSecret), std::string::npos);
}

// Path segments encoded a second time, query decoded, re-encoded and sorted, repeated header
// names joined, values trimmed and collapsed. Canonical request:
//   GET\n/a%2520b/c~d\na=1&a=x%2By&b=2&c=\nhost:example.amazon.com\n
//   x-amz-date:20150830T123600Z\nx-multi:one,two three\n\nhost;x-amz-date;x-multi\n<empty hash>
TEST(SigV4, CanonicalPathQueryAndHeaders) {
  const std::vector<HeaderView> headers = {{"X-Multi", "  one "}, {"x-multi", "two    three\t"}};
  std::string out;
  signV4(creds("service"), "GET", "/a%20b/c~d", "b=2&a=x%2By&a=1&c", "example.amazon.com", headers,
         "", exampleTime(), out);
  EXPECT_NE(out.find("SignedHeaders=host;x-amz-date;x-multi, "
                     "Signature=39bfb10daf99f807e0794981a985a88a2f3bc65e0d5e8ca52ff9c1ba4292892e"),
            std::string::npos)
      << out;
}

TEST(SigV4, SignatureDependsOnBodyAndTime) {
  std::string a, b, c;
  signV4(creds("states"), "POST", "/", "", "h", {}, "{}", exampleTime(), a);
  signV4(creds("states"), "POST", "/", "", "h", {}, "{ }", exampleTime(), b);
  signV4(creds("states"), "POST", "/", "", "h", {}, "{}", exampleTime() + std::chrono::hours(24),
         c);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(c.find("/20150831/us-east-1/states/aws4_request"), std::string::npos);
}

class SigV4Files : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigv4_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_)
      std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    files_.push_back(path);
    return path;
  }
  config::AwsSigningConfig config() {
    config::AwsSigningConfig c;
    c.region = "eu-west-1";
    c.access_key_id = "AKIDEXAMPLE";
    return c;
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(SigV4Files, LoadsSecretAndTokenWithoutLineEnds) {
  config::AwsSigningConfig c = config();
  c.secret_access_key_file = write("secret", std::string(kSecret) + "\r\n");
  c.session_token_file = write("token", "SESSION/TOKEN+1=\n\n");
  const StatusOr<SigV4Credentials> creds = loadSigV4Credentials(c);
  ASSERT_TRUE(creds.isOk()) << creds.status().toString();
  EXPECT_EQ(creds->secret_access_key, kSecret);
  EXPECT_EQ(creds->session_token, "SESSION/TOKEN+1=");
  EXPECT_EQ(creds->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(creds->region, "eu-west-1");
  EXPECT_EQ(creds->service, "states");
}

TEST_F(SigV4Files, NoSessionTokenFileMeansNoToken) {
  config::AwsSigningConfig c = config();
  c.secret_access_key_file = write("secret", kSecret);
  const StatusOr<SigV4Credentials> creds = loadSigV4Credentials(c);
  ASSERT_TRUE(creds.isOk());
  EXPECT_EQ(creds->session_token, "");
}

TEST_F(SigV4Files, ErrorsNameTheFileNeverTheSecret) {
  config::AwsSigningConfig c = config();
  c.secret_access_key_file = dir_ + "/missing";
  StatusOr<SigV4Credentials> r = loadSigV4Credentials(c);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("secret_access_key_file"), std::string::npos);
  EXPECT_NE(r.status().message().find(dir_ + "/missing"), std::string::npos);

  c.secret_access_key_file = write("spaced", "wJalrXUtnFEMI K7MDENG\n");
  r = loadSigV4Credentials(c);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message().find("wJalrXUtnFEMI"), std::string::npos);
  EXPECT_EQ(r.status().message().find("K7MDENG"), std::string::npos);

  c.secret_access_key_file = write("empty", "\r\n");
  r = loadSigV4Credentials(c);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos);

  c.secret_access_key_file = write("ok", kSecret);
  c.session_token_file = write("badtoken", "TOKEN\x01PART");
  r = loadSigV4Credentials(c);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message().find("TOKEN"), std::string::npos);
  EXPECT_EQ(r.status().message().find(kSecret), std::string::npos);
}

TEST_F(SigV4Files, RequiresKeyIdRegionAndSecretFile) {
  config::AwsSigningConfig c = config();
  c.secret_access_key_file = write("secret", kSecret);
  config::AwsSigningConfig bad = c;
  bad.access_key_id.clear();
  EXPECT_FALSE(loadSigV4Credentials(bad).isOk());
  bad = c;
  bad.region.clear();
  EXPECT_FALSE(loadSigV4Credentials(bad).isOk());
  bad = c;
  bad.secret_access_key_file.clear();
  EXPECT_FALSE(loadSigV4Credentials(bad).isOk());
  bad = c;
  bad.access_key_id = "AKID\r\nX-Injected: 1";  // would break the Authorization line
  EXPECT_FALSE(loadSigV4Credentials(bad).isOk());
  EXPECT_TRUE(loadSigV4Credentials(c).isOk());
}

}  // namespace
}  // namespace stepgate::orchestrators
