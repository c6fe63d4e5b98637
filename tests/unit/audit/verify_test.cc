// verifyLog beyond tampering (heartbeats across restarts, retention, several keys, notes
// saved elsewhere, a log written by AuditLog) and inclusion proofs.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/log.h"
#include "audit/merkle.h"
#include "audit/prove.h"
#include "audit/segment.h"
#include "audit/verify.h"
#include "common/json.h"
#include "common/json_writer.h"
#include "tests/unit/audit/test_util.h"

namespace stepgate::audit {
namespace {

using testutil::kStartUs;
using testutil::payloadsOf;
using testutil::readFileText;
using testutil::TestLog;
using testutil::timeText;
using testutil::writeFile;

// Logs under /tmp/stepgate-verify-XXXXXX.
struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("verify") {}
};

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = SigningKey::generate(tmp_.path() + "/key.pem", "stepgate-audit");
    ASSERT_TRUE(k.isOk());
    key_ = *k;
    opt_.keys.push_back(NoteVerifier::fromRaw("stepgate-audit", key_->publicKey()));
    opt_.heartbeat_interval = std::chrono::seconds(60);
  }
  VerifyReport verify(const std::string& dir) { return verifyLog(Env::posix(), dir, opt_); }

  TempDir tmp_;
  std::shared_ptr<const SigningKey> key_;
  VerifyOptions opt_;
};

TEST_F(VerifyTest, EmptyLogAndMissingKey) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.write();
  VerifyReport r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.records, 0u);
  opt_.keys.clear();
  r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no public key"), std::string::npos);
  EXPECT_FALSE(verify(tmp_.path() + "/nothing").ok);
}

TEST_F(VerifyTest, CleanStopExcusesDowntimeACrashDoesNot) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.checkpoint(50'000'000);
  log.add("stop", "", 10'000'000);
  log.checkpoint();
  log.add("start", "", 3600'000'000);  // an hour down, cleanly
  log.request();
  log.checkpoint(100'000'000);
  log.write();
  VerifyReport r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();

  // A crash: no stop record; the run was heartbeat-complete up to its last record, so the
  // time until the next start (the recovery record tells of the crash) is not held against it.
  const std::string dir2 = tmp_.path() + "/crash";
  TestLog crash(dir2, key_);
  crash.add("start");
  crash.checkpoint(1000);
  crash.request(100'000'000);
  crash.add("start", "", 3600'000'000);
  crash.add("recovery", ",\"cut_bytes\":10");
  crash.checkpoint();
  crash.write();
  r = verify(dir2);
  EXPECT_TRUE(r.ok) << r.summary();

  // A record 200 s after the last checkpoint while live: a heartbeat is missing.
  const std::string dir3 = tmp_.path() + "/late";
  TestLog late(dir3, key_);
  late.add("start");
  late.checkpoint(1000);
  late.request(200'000'000);
  late.checkpoint();
  late.write();
  r = verify(dir3);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("missing heartbeat"), std::string::npos) << r.summary();
  EXPECT_EQ(r.error_seq, 2);
  opt_.heartbeat_interval = std::chrono::milliseconds(0);  // rule off
  EXPECT_TRUE(verify(dir3).ok);
}

TEST_F(VerifyTest, KeyRotationNeedsBothKeys) {
  auto next = SigningKey::generate(tmp_.path() + "/next.pem", "stepgate-audit-2");
  ASSERT_TRUE(next.isOk());
  const std::string dir = tmp_.path() + "/log";
  // Two builders cannot share one tree: build with the first key, then append with the
  // second by re-signing from a second builder that mirrors the records.
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.checkpoint();
  log.write();
  auto payloads = payloadsOf(log.segmentPath(0));
  // Continue the same tree with the next key.
  CompactRange tree;
  for (const auto& p : payloads) tree.append(leafHash(p));
  Checkpoint cp{"stepgate.example/audit/test", tree.size(), tree.root()};
  const std::string note = (*next)->sign(cp);
  std::string f = ",\"size\":" + std::to_string(cp.size) + ",\"root\":\"" + toBase64(cp.root) +
                  "\",\"note\":";
  json::appendString(f, note);
  std::string p = "{\"v\":1,\"seq\":3,\"event_id\":\"0191e000-0000-7000-8000-000000000003\","
                  "\"type\":\"checkpoint\",\"time\":\"" + timeText(kStartUs + 5000) + "\"" + f + "}";
  payloads.push_back(p);
  TestLog::writeSegment(log.segmentPath(0), 0, payloads);
  writeFile(dir + "/checkpoints.note", log.notes() + note + "\n");
  VerifyReport r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no signature by key"), std::string::npos) << r.summary();
  opt_.keys.push_back(NoteVerifier::fromRaw("stepgate-audit-2", (*next)->publicKey()));
  r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.checkpoints_checked, 2u);
}

TEST_F(VerifyTest, RetainedSuffixWithSavedTreeEdge) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  for (int i = 0; i < 5; ++i) log.request();
  log.checkpoint();
  log.rotate();
  for (int i = 0; i < 4; ++i) log.request();
  log.checkpoint();
  log.write();
  // Retention removes the first segment and leaves the edge of the 7 records it held.
  CompactRange edge;
  for (const auto& p : payloadsOf(log.segmentPath(0))) edge.append(leafHash(p));
  ASSERT_EQ(edge.size(), 7u);
  unlink(log.segmentPath(0).c_str());
  VerifyReport r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("saved tree edge"), std::string::npos) << r.summary();
  mkdir((dir + "/state").c_str(), 0700);
  std::string state = "size 7\n";
  for (const Hash& h : edge.nodes()) state += toHex(h) + "\n";
  writeFile(dir + "/state/merkle", state);
  r = verify(dir);
  ASSERT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(r.first_seq, 7u);
  EXPECT_EQ(r.records, 5u);
  EXPECT_EQ(r.notes_before_retention, 1u);
  EXPECT_EQ(r.checkpoints_checked, 1u);
  // A wrong edge: the next checkpoint fails.
  state[8] = state[8] == 'a' ? 'b' : 'a';
  writeFile(dir + "/state/merkle", state);
  r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("checkpoint root differs"), std::string::npos) << r.summary();
}

TEST_F(VerifyTest, PayloadThatIsNotARecord) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.write();
  auto payloads = payloadsOf(log.segmentPath(0));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1]", "not a JSON object"},
      {"{\"v\":2}", "\"v\" is not 1"},
      {"{\"v\":1,\"seq\":1}", "no \"type\""},
      {"{\"v\":1,\"type\":\"request\"}", "no \"seq\""},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":\"x\"}", "UUIDv7"},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"yesterday\"}",
       "RFC 3339"},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"2024-13-01T00:00:00.000000Z\"}",
       "RFC 3339"},
      {"{\"v\":1,\"type\":\"request\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"2024-02-29T12:34:56.78901Z\"}",
       "RFC 3339"},
      {"{\"v\":1,\"type\":\"checkpoint\",\"seq\":1,\"event_id\":"
       "\"0191e000-0000-7000-8000-000000000003\",\"time\":\"" + timeText(kStartUs) + "\"}",
       "without size, root and note"},
  };
  for (const auto& [payload, needle] : cases) {
    auto changed = payloads;
    changed[1] = payload;
    TestLog::writeSegment(log.segmentPath(0), 0, changed);
    const VerifyReport r = verify(dir);
    EXPECT_FALSE(r.ok) << payload;
    EXPECT_NE(r.error.find(needle), std::string::npos) << r.summary();
    EXPECT_EQ(r.error_seq, 1) << payload;
  }
}

TEST_F(VerifyTest, AgainstFileMustBeComplete) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  log.request();
  log.checkpoint();
  log.write();
  const std::string saved = tmp_.path() + "/saved.note";
  writeFile(saved, log.notes().substr(0, log.notes().size() - 1));  // no final empty line
  opt_.against_file = saved;
  VerifyReport r = verify(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("not followed by an empty line"), std::string::npos) << r.summary();
  // checkpoints.note may end in a torn note (the log record holds the same checkpoint).
  opt_.against_file.clear();
  writeFile(dir + "/checkpoints.note", log.notes().substr(0, log.notes().size() - 9));
  r = verify(dir);
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_TRUE(r.torn_note);
  opt_.against_file = tmp_.path() + "/missing.note";
  EXPECT_FALSE(verify(dir).ok);
}

TEST_F(VerifyTest, ProofsForEveryRecord) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  for (int i = 0; i < 20; ++i) {
    log.request();
    if (i % 6 == 5) log.checkpoint();
    if (i == 9) log.rotate();
  }
  log.write();  // records 0..23; the last checkpoint (seq 21) covers 0..20
  const NoteVerifier& v = opt_.keys[0];
  for (uint64_t seq = 0; seq < log.size(); ++seq) {
    auto doc = proveInclusion(Env::posix(), dir, seq);
    if (seq >= 21) {
      EXPECT_EQ(doc.status().code(), StatusCode::kNotFound) << seq;
      continue;
    }
    ASSERT_TRUE(doc.isOk()) << seq << " " << doc.status().toString();
    auto proved = verifyProof(*doc, v);
    ASSERT_TRUE(proved.isOk()) << seq << " " << proved.status().toString();
    EXPECT_EQ(proved->seq, seq);
    EXPECT_EQ(proved->tree_size, 21u);
    EXPECT_EQ(proved->origin, "stepgate.example/audit/test");
    auto json = parseJson(*doc);
    ASSERT_TRUE(json.isOk());
    EXPECT_EQ(json->find("format")->asString(), "stepgate-inclusion-proof/1");
    EXPECT_EQ(json->find("key_name")->asString(), "stepgate-audit");
  }
  EXPECT_EQ(proveInclusion(Env::posix(), dir, 999).status().code(), StatusCode::kNotFound);
}

TEST_F(VerifyTest, ForgedProofsFail) {
  const std::string dir = tmp_.path() + "/log";
  TestLog log(dir, key_);
  log.add("start");
  for (int i = 0; i < 9; ++i) log.request();
  log.checkpoint();
  log.write();
  auto doc = proveInclusion(Env::posix(), dir, 4);
  ASSERT_TRUE(doc.isOk());
  const NoteVerifier& v = opt_.keys[0];
  ASSERT_TRUE(verifyProof(*doc, v).isOk());
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string d = *doc;
    const size_t at = d.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) d.replace(at, from.size(), to);
    return d;
  };
  auto json = parseJson(*doc);
  ASSERT_TRUE(json.isOk());
  const std::string first_node = json->find("proof")->asArray()[0].asString();
  const std::string leaf = json->find("leaf_hash")->asString();
  std::string other_node = first_node;
  other_node[0] = other_node[0] == '0' ? '1' : '0';
  // A changed audit path, leaf hash, index, format; another key.
  EXPECT_FALSE(verifyProof(replaced(first_node, other_node), v).isOk());
  std::string other_leaf = leaf;
  other_leaf[5] = other_leaf[5] == '0' ? '1' : '0';
  EXPECT_FALSE(verifyProof(replaced(leaf, other_leaf), v).isOk());
  EXPECT_FALSE(verifyProof(replaced("\"seq\":4", "\"seq\":5"), v).isOk());
  EXPECT_FALSE(verifyProof(replaced("stepgate-inclusion-proof/1", "x/1"), v).isOk());
  EXPECT_FALSE(verifyProof(replaced("\"tree_size\":10", "\"tree_size\":11"), v).isOk());
  auto other = SigningKey::generate(tmp_.path() + "/o.pem", "stepgate-audit");
  ASSERT_TRUE(other.isOk());
  EXPECT_FALSE(verifyProof(*doc, NoteVerifier::fromRaw("stepgate-audit", (*other)->publicKey())).isOk());
  EXPECT_FALSE(verifyProof("not json", v).isOk());
}

TEST_F(VerifyTest, LogWrittenByTheWriterVerifiesAndProves) {
  LogOptions lo;
  lo.dir = tmp_.path() + "/written";
  lo.key = key_;
  lo.checkpoint_records = 16;
  lo.segment_bytes = 4096;
  lo.low_disk_bytes = 0;
  lo.origin = "stepgate.example/audit/test";
  {
    auto log = AuditLog::open(lo);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    (*log)->start();
    for (int i = 0; i < 100; ++i) {
      (*log)->submitControl("\"type\":\"config\",\"time\":\"" + timeText(kStartUs + i) +
                            "\",\"generation\":" + std::to_string(i));
    }
    (*log)->stop();
  }
  opt_.heartbeat_interval = std::chrono::milliseconds(0);  // wall-clock driven: not tested here
  const VerifyReport r = verify(lo.dir);
  ASSERT_TRUE(r.ok) << r.summary();
  EXPECT_GE(r.records, 100u);
  // How many segments and checkpoints depends on how the writer batched the records.
  EXPECT_GE(r.segments, 1u);
  EXPECT_GE(r.checkpoints_checked, 1u);
  EXPECT_EQ(r.notes_checked, r.checkpoints_checked);
  EXPECT_EQ(r.uncovered, 1u);  // the final checkpoint record
  auto doc = proveInclusion(Env::posix(), lo.dir, 50);
  ASSERT_TRUE(doc.isOk()) << doc.status().toString();
  auto proved = verifyProof(*doc, opt_.keys[0]);
  ASSERT_TRUE(proved.isOk()) << proved.status().toString();
  auto json = parseJson(*doc);
  ASSERT_TRUE(json.isOk());
  EXPECT_FALSE(json->find("public_key")->asString().empty());
}

}  // namespace
}  // namespace stepgate::audit
