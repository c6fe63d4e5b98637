#include "audit/record.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/json.h"

namespace stepgate::audit {
namespace {

JsonValue parseRecord(const std::string& members) {
  auto v = parseJson("{" + members + "}");
  EXPECT_TRUE(v.isOk()) << members;
  return v.isOk() ? std::move(v).value() : JsonValue();
}

TEST(RecordTest, RequestRecordHasEveryPartAndNoQueryValues) {
  std::vector<std::string> groups = {"ops", "payments-oncall"};
  PrincipalView p;
  p.provider = "corp";
  p.issuer = "https://idp";
  p.subject = "alice";
  p.method = "jwt";
  p.groups = groups;
  p.mfa = true;
  p.credential_id = "hmac-sha256:00";
  OperationView op;
  op.upstream = "conductor";
  op.workflow = "order-fulfillment";
  op.step = "charge-card";
  op.execution = "7f3c";
  op.actions = "retry,complete-step";
  op.privileged = true;
  std::string_view rules[] = {"payments-retry"};
  RequestRecordView r;
  r.time_unix_us = 1763823845123456;  // 2025-11-22T15:04:05.123456Z
  r.request_id = "abc";
  r.principal = &p;
  r.source_ip = "10.1.2.3";
  r.source_port = 51234;
  r.tls_version = "TLSv1.3";
  r.forwarded_for = "1.2.3.4, 5.6.7.8";
  r.method = "POST";
  r.path = "/api/tasks";
  r.query = "token=SECRET&x=1&flag";
  r.operation = &op;
  r.effect = "allow";
  r.reason = "allowed";
  r.rules = rules;
  r.policy_version = "v1";
  std::string out;
  encodeRecord(r, out);
  EXPECT_EQ(out.find("SECRET"), std::string::npos);
  const JsonValue v = parseRecord(out);
  ASSERT_TRUE(v.isObject());
  EXPECT_EQ(v.find("type")->asString(), "request");
  EXPECT_EQ(v.find("time")->asString(), "2025-11-22T15:04:05.123456Z");
  EXPECT_EQ(v.find("principal")->find("subject")->asString(), "alice");
  EXPECT_EQ(v.find("principal")->find("groups")->asArray().size(), 2u);
  const JsonValue* src = v.find("source");
  EXPECT_EQ(src->find("ip")->asString(), "10.1.2.3");
  EXPECT_EQ(src->find("forwarded_for_untrusted")->asArray().size(), 2u);
  const auto& keys = v.find("request")->find("query_keys")->asArray();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].asString(), "token");
  EXPECT_EQ(v.find("operation")->find("actions")->asArray().size(), 2u);
  EXPECT_EQ(v.find("decision")->find("rules")->asArray()[0].asString(), "payments-retry");
  EXPECT_EQ(v.find("truncated"), nullptr);
}

TEST(RecordTest, SessionRecordNamesTheEventAndTheSignIn) {
  PrincipalView p;
  p.provider = "corp";
  p.subject = "alice";
  p.method = "session";
  p.credential_id = "hmac-sha256:01";
  RequestRecordView r;
  r.type = "session";
  r.time_unix_us = 1763823845123456;
  r.principal = &p;
  r.method = "GET";
  r.path = "/.stepgate/oidc/callback";
  r.query = "code=secret-code&state=secret-state";
  r.session_event = "sign_in";
  r.session_via = "oidc";
  r.status = 303;
  std::string out;
  encodeRecord(r, out);
  auto j = parseJson("{" + out + "}");
  ASSERT_TRUE(j.isOk()) << out;
  EXPECT_EQ(j->at("/type")->asString(), "session");
  EXPECT_EQ(j->at("/session/event")->asString(), "sign_in");
  EXPECT_EQ(j->at("/session/via")->asString(), "oidc");
  EXPECT_EQ(j->at("/principal/method")->asString(), "session");
  EXPECT_EQ(j->at("/response/status")->asInt(), 303);
  EXPECT_EQ(j->at("/auth"), nullptr);
  EXPECT_EQ(out.find("secret-code"), std::string::npos);
  EXPECT_EQ(out.find("secret-state"), std::string::npos);
  // No session member on the other types.
  RequestRecordView q;
  std::string plain;
  encodeRecord(q, plain);
  EXPECT_EQ(plain.find("\"session\""), std::string::npos);
}

TEST(RecordTest, OversizedRecordIsTruncatedWithAMarkerNeverDropped) {
  std::vector<std::string> groups(5000, std::string(100, 'g'));
  const std::string subject(100000, 's');
  PrincipalView p;
  p.provider = "corp";
  p.subject = subject;
  p.method = "jwt";
  p.groups = groups;
  RequestRecordView r;
  r.request_id = "big";
  r.principal = &p;
  r.method = "GET";
  r.path = "/x";
  std::string out;
  encodeRecord(r, out);
  EXPECT_LE(out.size(), kMaxRecordBytes);
  const JsonValue v = parseRecord(out);
  ASSERT_TRUE(v.isObject());
  EXPECT_TRUE(v.find("truncated")->asBool());
  EXPECT_EQ(v.find("request_id")->asString(), "big");
}

TEST(RecordTest, TruncationNeverSplitsUtf8) {
  PrincipalView p;
  p.provider = "corp";
  std::string s;
  for (int i = 0; i < 40000; ++i) s += "\xc3\xa9";  // é
  p.subject = s;
  p.method = "jwt";
  RequestRecordView r;
  r.principal = &p;
  std::string out;
  encodeRecord(r, out);
  EXPECT_TRUE(parseRecord(out).isObject());  // strict parser refuses broken UTF-8
}

TEST(RecordTest, CredentialHasherIsKeyedAndStable) {
  char tmpl[] = "/tmp/stepgate-hash-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  CredentialHasher a, b, c;
  std::string err;
  ASSERT_TRUE(CredentialHasher::loadOrCreate(dir + "/hash.key", a, err)) << err;
  ASSERT_TRUE(CredentialHasher::loadOrCreate(dir + "/hash.key", b, err)) << err;
  EXPECT_EQ(a.hash("token-1"), b.hash("token-1"));
  EXPECT_NE(a.hash("token-1"), a.hash("token-2"));
  EXPECT_EQ(a.hash("x").rfind("hmac-sha256:", 0), 0u);
  EXPECT_EQ(a.hash("x").size(), 12u + 32u);
  ASSERT_TRUE(CredentialHasher::loadOrCreate(dir + "/other.key", c, err)) << err;
  EXPECT_NE(a.hash("token-1"), c.hash("token-1"));
  unlink((dir + "/hash.key").c_str());
  unlink((dir + "/other.key").c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace stepgate::audit
