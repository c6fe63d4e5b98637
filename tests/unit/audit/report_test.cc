#include "audit/report.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/segment.h"

namespace stepgate::audit {
namespace {

std::string timeOf(int minute) {
  char b[40];
  std::snprintf(b, sizeof b, "2026-11-01T10:%02d:00.000000Z", minute);
  return b;
}

std::string head(uint64_t seq, const std::string& type, int minute) {
  return "{\"v\":1,\"seq\":" + std::to_string(seq) + ",\"event_id\":\"e" + std::to_string(seq) +
         "\",\"type\":\"" + type + "\",\"time\":\"" + timeOf(minute) + "\"";
}

struct Req {
  std::string subject = "alice";
  std::string provider = "corp-oidc";
  std::string upstream = "temporal";
  std::string workflow = "orders";
  std::string actions = "\"start\"";
  std::string effect = "allow";
  std::string reason = "allowed";
  std::string shadow;  // "" none, else `"effect":"...","reason":"..."`
  std::string step;
};

std::string request(uint64_t seq, int minute, const Req& q) {
  std::string r = head(seq, "request", minute) + ",\"request_id\":\"r" + std::to_string(seq) + "\"";
  if (!q.subject.empty())
    r += ",\"principal\":{\"provider\":\"" + q.provider + "\",\"subject\":\"" + q.subject +
         "\",\"groups\":[],\"method\":\"oidc\",\"mfa\":false}";
  r += ",\"source\":{\"ip\":\"192.0.2.1\",\"port\":1,\"tls\":\"\"},\"request\":{\"method\":"
       "\"POST\",\"path\":\"/x\",\"bytes\":0},\"operation\":{\"upstream\":\"" +
       q.upstream + "\",\"workflow\":\"" + q.workflow + "\"";
  if (!q.step.empty())
    r += ",\"step\":\"" + q.step + "\",\"execution\":\"x1\"";
  r += ",\"actions\":[" + q.actions + "],\"read_only\":false,\"privileged\":false}";
  r +=
      ",\"decision\":{\"effect\":\"" + q.effect + "\",\"reason\":\"" + q.reason + "\",\"rules\":[]";
  if (!q.shadow.empty())
    r += ",\"shadow\":{" + q.shadow + "}";
  r += "}}";
  return r;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stepgate-report-XXXXXX";
    const char* d = mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
    ASSERT_TRUE(env_.createDir(dir_ + "/segments").isOk());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void writeLog(const std::vector<std::string>& records) {
    std::string bytes;
    appendSegmentHeader(bytes, 0, 0);
    for (const std::string& r : records)
      appendFrame(bytes, r);
    std::filesystem::remove(dir_ + "/" + segmentFileName(0));
    auto f = env_.openAppend(dir_ + "/" + segmentFileName(0));
    ASSERT_TRUE(f.isOk());
    ASSERT_TRUE((*f)->append(bytes).isOk());
    ASSERT_TRUE((*f)->close().isOk());
  }

  std::vector<std::string> standardLog() {
    Req deny_bob;
    deny_bob.subject = "bob";
    deny_bob.effect = "deny";
    deny_bob.reason = "no_matching_allow";
    deny_bob.actions = "\"undefine\"";
    Req skip;
    skip.subject = "carol";
    skip.provider = "github";
    skip.actions = "\"skip-step\"";
    skip.step = "charge-card";
    skip.workflow = "payments";
    Req shadowed;
    shadowed.shadow = "\"effect\":\"deny\",\"reason\":\"denied\"";
    shadowed.actions = "\"read\",\"list\"";
    Req anon;
    anon.subject = "";
    anon.effect = "deny";
    anon.reason = "unclassified";
    anon.actions = "";
    Req pipe;
    pipe.subject = "eve|<b>x</b>";
    pipe.effect = "deny";
    pipe.reason = "denied";
    pipe.actions = "\"stop\"";
    return {
        head(0, "start", 0) + "}",
        head(1, "config", 0) + ",\"generation\":1,\"digest\":\"sha256:aa\",\"source\":\"f\"}",
        request(2, 1, Req{}),
        request(3, 2, deny_bob),
        request(4, 3, skip),
        head(5, "auth_failure", 4) +
            ",\"request_id\":\"r5\",\"auth\":{\"reason\":\"token_expired\",\"provider\":"
            "\"corp-oidc\"}}",
        head(6, "gap", 5) + ",\"lost\":7}",
        request(7, 6, shadowed),
        request(8, 7, anon),
        head(9, "policy", 8) + ",\"error\":\"payments.yaml:3: bad\"}",
        head(10, "recovery", 9) + ",\"cut_bytes\":12,\"segment\":\"00000000000000000000.seg\"}",
        request(11, 10, pipe),
        head(12, "auth_failure", 11) +
            ",\"request_id\":\"r12\",\"auth\":{\"reason\":\"token_expired\",\"provider\":"
            "\"corp-oidc\"}}",
        request(13, 30, Req{}),  // outside a period ending at 10:30
    };
  }
  std::string report(const ReportOptions& o) {
    std::string md;
    const Status s = writeReport(env_, dir_, o, md);
    EXPECT_TRUE(s.isOk()) << s.toString();
    return md;
  }
  static void expectContains(const std::string& md, const std::string& part) {
    EXPECT_NE(md.find(part), std::string::npos) << "missing:\n" << part << "\nin:\n" << md;
  }

  Env& env_ = Env::posix();
  std::string dir_;
};

TEST_F(ReportTest, SummarisesThePeriod) {
  writeLog(standardLog());
  ReportOptions o;
  o.from = "2026-11-01";
  o.to = "2026-11-01T10:30:00Z";
  o.verify_result = "ok: 14 records, 0 checkpoints checked";
  const std::string md = report(o);
  expectContains(md, "| Period from (inclusive) | 2026-11-01T00:00:00.000000Z |\n");
  expectContains(md, "| Period to (exclusive) | 2026-11-01T10:30:00.000000Z |\n");
  expectContains(md, "| Records in the period | 13 |\n");
  expectContains(md, "| Seq range in the period | 0 .. 12 |\n");
  expectContains(md,
                 "## Integrity verification\n\n```\nok: 14 records, 0 checkpoints checked\n```\n");
  expectContains(md,
                 "| type | records |\n|---|---|\n| auth_failure | 2 |\n| config | 1 |\n"
                 "| gap | 1 |\n| policy | 1 |\n| recovery | 1 |\n| request | 6 |\n| start | 1 |\n");
  // By principal, sorted by subject; the anonymous caller and the escaped name included.
  expectContains(md,
                 "| subject | provider | allowed | denied | errors |\n|---|---|---|---|---|\n"
                 "| (anonymous) | - | 0 | 1 | 0 |\n"
                 "| alice | corp-oidc | 2 | 0 | 0 |\n"
                 "| bob | corp-oidc | 0 | 1 | 0 |\n"
                 "| carol | github | 1 | 0 | 0 |\n"
                 "| eve\\|\\<b\\>x\\</b\\> | corp-oidc | 0 | 1 | 0 |\n");
  expectContains(md,
                 "| upstream | workflow | action | allowed | denied | errors |\n"
                 "|---|---|---|---|---|---|\n"
                 "| temporal | orders | (unclassified) | 0 | 1 | 0 |\n"
                 "| temporal | orders | list | 1 | 0 | 0 |\n"
                 "| temporal | orders | read | 1 | 0 | 0 |\n"
                 "| temporal | orders | start | 1 | 0 | 0 |\n"
                 "| temporal | orders | stop | 0 | 1 | 0 |\n"
                 "| temporal | orders | undefine | 0 | 1 | 0 |\n"
                 "| temporal | payments | skip-step | 1 | 0 | 0 |\n");
  expectContains(md, "(allowed or not): 3.\n");
  expectContains(
      md,
      "| 2026-11-01T10:02:00.000000Z | 3 | bob | temporal | orders | - | - | undefine | "
      "deny | no_matching_allow |\n"
      "| 2026-11-01T10:03:00.000000Z | 4 | carol | temporal | payments | charge-card | "
      "x1 | skip-step | allow | allowed |\n"
      "| 2026-11-01T10:10:00.000000Z | 11 | eve\\|\\<b\\>x\\</b\\> | temporal | orders | "
      "- | - | stop | deny | denied |\n");
  expectContains(md,
                 "| effect | reason | requests |\n|---|---|---|\n| deny | denied | 1 |\n"
                 "| deny | no_matching_allow | 1 |\n| deny | unclassified | 1 |\n");
  expectContains(md, "differs from the enforced one: 1.\n");
  expectContains(md,
                 "| 2026-11-01T10:06:00.000000Z | 7 | alice | orders | read, list | allow | deny | "
                 "denied |\n");
  expectContains(md,
                 "| reason | provider | failures |\n|---|---|---|\n"
                 "| token_expired | corp-oidc | 2 |\n");
  expectContains(md,
                 "| 2026-11-01T10:05:00.000000Z | 6 | gap | lost 7 records |\n"
                 "| 2026-11-01T10:09:00.000000Z | 10 | recovery | cut 12 bytes of "
                 "00000000000000000000.seg |\n");
  expectContains(
      md,
      "| 2026-11-01T10:00:00.000000Z | 1 | config | 1 | sha256:aa | loaded |\n"
      "| 2026-11-01T10:08:00.000000Z | 9 | policy | - | - | failed: payments.yaml:3: bad "
      "|\n");
  // Outside the period, seq 13 (alice, allowed) counts nowhere: alice has 2 allows above.
  EXPECT_EQ(md.find("10:30:00.000000Z | 13"), std::string::npos);
  // Deterministic.
  EXPECT_EQ(report(o), md);
}

TEST_F(ReportTest, BrowserSignInsPerPrincipalAndEvent) {
  auto session = [](uint64_t seq, const std::string& who, const std::string& event) {
    return head(seq, "session", 1) + ",\"principal\":{\"provider\":\"corp\",\"subject\":\"" +
           who + "\",\"groups\":[],\"method\":\"session\",\"mfa\":false},\"session\":{"
           "\"event\":\"" + event + "\",\"via\":\"oidc\"}}";
  };
  writeLog({session(0, "alice", "sign_in"), session(1, "alice", "sign_in"),
            session(2, "bob", "sign_in"), session(3, "alice", "sign_out")});
  const std::string md = report(ReportOptions{});
  expectContains(md,
                 "## Browser sign-ins\n\n| principal | provider | via | event | count |\n"
                 "|---|---|---|---|---|\n"
                 "| alice | corp | oidc | sign_in | 2 |\n"
                 "| alice | corp | oidc | sign_out | 1 |\n"
                 "| bob | corp | oidc | sign_in | 1 |\n");
}

TEST_F(ReportTest, WithoutVerifyResultOrRecordsItSaysSo) {
  writeLog(standardLog());
  ReportOptions o;
  o.from = "2027-01-01";
  const std::string md = report(o);
  expectContains(md, "| Records in the period | 0 |\n");
  expectContains(md, "| Seq range in the period | none |\n");
  expectContains(md, "Not run: this report carries no verify result.");
  expectContains(md, "## Records by type\n\nNo records in the period.\n");
  expectContains(md, "## Privileged actions\n\n");
  expectContains(md, "None: no record was lost");
}

TEST_F(ReportTest, VerifyTextWithBackticksGetsALongerFence) {
  writeLog(standardLog());
  ReportOptions o;
  o.verify_result = "FAILED: ```` injected\n# heading";
  const std::string md = report(o);
  expectContains(md, "\n`````\nFAILED: ```` injected\n# heading\n`````\n");
}

TEST_F(ReportTest, BadBoundsAndDamagedLogsAreErrors) {
  writeLog(standardLog());
  std::string md;
  ReportOptions o;
  o.to = "tomorrow";
  EXPECT_EQ(writeReport(env_, dir_, o, md).code(), StatusCode::kInvalidArgument);
  writeLog({head(0, "start", 0) + "}", "not json"});
  EXPECT_EQ(writeReport(env_, dir_, ReportOptions{}, md).code(), StatusCode::kDataLoss);
}

TEST(PrivilegedTest, TheListedActions) {
  for (const char* a : {"define", "undefine", "admin", "stop", "skip-step", "rerun",
                        "complete-step", "fail-step", "retry"})
    EXPECT_TRUE(isPrivilegedAction(a)) << a;
  for (const char* a : {"read", "list", "start", "pause", "resume", "signal", "work", ""})
    EXPECT_FALSE(isPrivilegedAction(a)) << a;
}

}  // namespace
}  // namespace stepgate::audit
