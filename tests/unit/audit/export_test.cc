#include "audit/export.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/merkle.h"
#include "audit/segment.h"
#include "common/json.h"

namespace stepgate::audit {
namespace {

std::string independentSha256Hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  std::string out;
  char b[3];
  for (unsigned char c : md) {
    std::snprintf(b, sizeof b, "%02x", c);
    out += b;
  }
  return out;
}

// Records in the shape docs/audit.md "Records" describes (the writer's envelope first).
std::string envelope(uint64_t seq, const std::string& type, const std::string& time) {
  char id[64];
  std::snprintf(id, sizeof id, "0190f000-0000-7000-8000-%012llx",
                static_cast<unsigned long long>(seq));
  return "{\"v\":1,\"seq\":" + std::to_string(seq) + ",\"event_id\":\"" + id + "\",\"type\":\"" +
         type + "\",\"time\":\"" + time + "\"";
}

std::string requestRecord(uint64_t seq, const std::string& time, const std::string& subject,
                          const std::string& effect, const std::string& reason,
                          const std::string& actions, const std::string& workflow = "orders") {
  return envelope(seq, "request", time) + ",\"request_id\":\"req-" + std::to_string(seq) +
         "\",\"principal\":{\"provider\":\"corp-oidc\",\"issuer\":\"https://idp.example\","
         "\"subject\":\"" +
         subject + "\",\"name\":\"" + subject +
         " Name\",\"groups\":[\"ops\",\"payments\"],\"method\":\"oidc\",\"mfa\":true,"
         "\"credential_id\":\"hmac-sha256:00112233445566778899aabbccddeeff\"},"
         "\"source\":{\"ip\":\"192.0.2.7\",\"port\":51234,\"tls\":\"TLSv1.3\"},"
         "\"request\":{\"method\":\"POST\",\"path\":\"/api/v1/namespaces/default/workflows\","
         "\"host\":\"temporal.example\",\"user_agent\":\"curl/8\",\"bytes\":120},"
         "\"operation\":{\"upstream\":\"temporal\",\"workflow\":\"" +
         workflow +
         "\",\"step\":\"charge-card\",\"execution\":\"exec-1\",\"namespace\":\"default\","
         "\"actions\":[" +
         actions +
         "],\"read_only\":false,\"privileged\":false},"
         "\"decision\":{\"effect\":\"" +
         effect + "\",\"reason\":\"" + reason +
         "\",\"rules\":[\"r1\",\"r2\"],\"policy_version\":\"fnv1a:0011\"},"
         "\"response\":{\"status\":" +
         (effect == "allow" ? "200" : "403") + ",\"latency_us\":1500,\"bytes\":10}}";
}

std::string authFailureRecord(uint64_t seq, const std::string& time) {
  return envelope(seq, "auth_failure", time) +
         ",\"request_id\":\"req-af\",\"source\":{\"ip\":\"198.51.100.9\",\"port\":4000,"
         "\"tls\":\"TLSv1.3\"},\"request\":{\"method\":\"GET\",\"path\":\"/api/v1/x\","
         "\"host\":\"temporal.example\",\"bytes\":0},\"auth\":{\"reason\":\"token_expired\","
         "\"provider\":\"corp-oidc\"},\"response\":{\"status\":401,\"latency_us\":80,\"bytes\":0}}";
}

std::string simpleRecord(uint64_t seq, const std::string& type, const std::string& time) {
  return envelope(seq, type, time) + "}";
}

std::string timeOf(int minute) {
  char b[40];
  std::snprintf(b, sizeof b, "2026-11-01T10:%02d:00.000000Z", minute);
  return b;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stepgate-export-XXXXXX";
    const char* d = mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    root_ = d;
    dir_ = root_ + "/log";
    ASSERT_TRUE(env_.createDir(dir_).isOk());
    ASSERT_TRUE(env_.createDir(dir_ + "/segments").isOk());
    auto key = SigningKey::generate(root_ + "/signer.pem", "stepgate-audit");
    ASSERT_TRUE(key.isOk()) << key.status().toString();
    key_ = *key;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Writes the records into segments of `per_segment` records, and checkpoint notes at the
  // given tree sizes (roots computed over the records).
  void writeLog(const std::vector<std::string>& records, size_t per_segment,
                const std::vector<uint64_t>& checkpoint_sizes) {
    records_ = records;
    for (size_t first = 0; first < records.size(); first += per_segment) {
      std::string bytes;
      appendSegmentHeader(bytes, first, 1'700'000'000'000'000);
      for (size_t i = first; i < std::min(records.size(), first + per_segment); ++i)
        appendFrame(bytes, records[i]);
      write(dir_ + "/" + segmentFileName(first), bytes);
    }
    std::vector<Hash> leaves;
    for (const std::string& r : records)
      leaves.push_back(leafHash(r));
    std::string notes;
    for (uint64_t size : checkpoint_sizes) {
      Checkpoint cp;
      cp.origin = "stepgate/audit";
      cp.size = size;
      cp.root = rootOf(std::vector<Hash>(leaves.begin(), leaves.begin() + static_cast<long>(size)));
      notes += key_->sign(cp) + "\n";
    }
    if (!checkpoint_sizes.empty())
      write(dir_ + "/checkpoints.note", notes);
  }
  void write(const std::string& path, const std::string& bytes) {
    std::filesystem::remove(path);
    auto f = env_.openAppend(path);
    ASSERT_TRUE(f.isOk());
    ASSERT_TRUE((*f)->append(bytes).isOk());
    ASSERT_TRUE((*f)->close().isOk());
  }
  std::string read(const std::string& path) {
    auto s = env_.readFile(path);
    EXPECT_TRUE(s.isOk()) << path;
    return s.isOk() ? *s : std::string();
  }
  ExportOptions options(const std::string& out, ExportFormat format = ExportFormat::kJsonl) {
    ExportOptions o;
    o.out_dir = root_ + "/" + out;
    o.format = format;
    o.key = key_;
    return o;
  }
  NoteVerifier verifier() const { return NoteVerifier::fromRaw(key_->name(), key_->publicKey()); }
  std::vector<std::string> standardLog() {
    return {
        simpleRecord(0, "start", timeOf(0)),
        simpleRecord(1, "key", timeOf(0)),
        requestRecord(2, timeOf(1), "alice", "allow", "allowed", "\"start\""),
        requestRecord(3, timeOf(2), "bob", "deny", "no_matching_allow", "\"undefine\""),
        authFailureRecord(4, timeOf(3)),
        simpleRecord(5, "checkpoint", timeOf(4)),
        requestRecord(6, timeOf(5), "alice", "allow", "allowed", "\"read\",\"list\""),
        simpleRecord(7, "stop", timeOf(6)),
    };
  }

  Env& env_ = Env::posix();
  std::string root_, dir_;
  std::shared_ptr<const SigningKey> key_;
  std::vector<std::string> records_;
};

TEST_F(ExportTest, JsonlHoldsTheStoredPayloadsAndTheSignedManifestMatches) {
  writeLog(standardLog(), 3, {4, 8});
  ExportResult res;
  const ExportOptions o = options("out");
  ASSERT_TRUE(exportRecords(env_, dir_, o, res).isOk());
  EXPECT_EQ(res.seq_from, 0u);
  EXPECT_EQ(res.seq_to, 7u);
  EXPECT_EQ(res.records, 8u);
  EXPECT_EQ(res.events, 8u);

  std::string expected;
  for (const std::string& r : records_)
    expected += r + "\n";
  const std::string data = read(o.out_dir + "/records.jsonl");
  EXPECT_EQ(data, expected);
  // Leaf hashes recomputed from the export reproduce the checkpoint's tree.
  std::vector<Hash> leaves;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t nl = data.find('\n', pos);
    leaves.push_back(leafHash(std::string_view(data).substr(pos, nl - pos)));
    pos = nl + 1;
  }
  ASSERT_EQ(leaves.size(), 8u);

  const std::string manifest = read(o.out_dir + "/manifest.json");
  auto doc = parseJson(manifest);
  ASSERT_TRUE(doc.isOk()) << manifest;
  EXPECT_EQ(doc->at("/format")->asString(), "jsonl");
  EXPECT_EQ(doc->at("/seq_from")->asInt(), 0);
  EXPECT_EQ(doc->at("/seq_to")->asInt(), 7);
  EXPECT_EQ(doc->at("/records")->asInt(), 8);
  EXPECT_EQ(doc->at("/files/0/name")->asString(), "records.jsonl");
  EXPECT_EQ(doc->at("/files/0/sha256")->asString(), independentSha256Hex(data));
  EXPECT_EQ(doc->at("/files/0/bytes")->asInt(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(doc->at("/covering_checkpoint/size")->asInt(), 8);
  EXPECT_TRUE(doc->at("/covering_checkpoint/covered")->asBool());
  // The covering note verifies and its root is the tree of the exported leaves.
  auto cp = verifier().verify(doc->at("/covering_checkpoint/note")->asString());
  ASSERT_TRUE(cp.isOk()) << cp.status().toString();
  EXPECT_EQ(cp->root, rootOf(leaves));
  EXPECT_EQ(res.manifest_sha256, independentSha256Hex(manifest));

  // The signature: a note of origin stepgate/export whose root is the manifest's SHA-256.
  const std::string sig = read(o.out_dir + "/manifest.json.sig");
  auto signed_cp = verifier().verify(sig);
  ASSERT_TRUE(signed_cp.isOk()) << signed_cp.status().toString();
  EXPECT_EQ(signed_cp->origin, "stepgate/export");
  EXPECT_EQ(toHex(signed_cp->root), independentSha256Hex(manifest));
  EXPECT_EQ(signed_cp->size, 8u);
  EXPECT_TRUE(verifyExport(env_, o.out_dir, verifier()).isOk());
}

TEST_F(ExportTest, VerifyExportDetectsChangedFilesManifestAndForeignKeys) {
  writeLog(standardLog(), 4, {8});
  ExportResult res;
  const ExportOptions o = options("out");
  ASSERT_TRUE(exportRecords(env_, dir_, o, res).isOk());
  const std::string data_path = o.out_dir + "/records.jsonl";
  const std::string data = read(data_path);

  std::string flipped = data;
  flipped[10] ^= 1;
  write(data_path, flipped);
  Status s = verifyExport(env_, o.out_dir, verifier());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("SHA-256 differs"), std::string::npos) << s.message();

  write(data_path, data.substr(0, data.size() - 1));
  s = verifyExport(env_, o.out_dir, verifier());
  EXPECT_NE(s.message().find("size differs"), std::string::npos) << s.message();
  write(data_path, data);
  EXPECT_TRUE(verifyExport(env_, o.out_dir, verifier()).isOk());

  const std::string manifest = read(o.out_dir + "/manifest.json");
  std::string edited = manifest;
  edited.replace(edited.find("\"seq_to\":7"), 10, "\"seq_to\":6");
  write(o.out_dir + "/manifest.json", edited);
  s = verifyExport(env_, o.out_dir, verifier());
  EXPECT_NE(s.message().find("does not sign"), std::string::npos) << s.message();
  write(o.out_dir + "/manifest.json", manifest);

  auto other = SigningKey::generate(root_ + "/other.pem", "stepgate-audit");
  ASSERT_TRUE(other.isOk());
  EXPECT_FALSE(
      verifyExport(env_, o.out_dir, NoteVerifier::fromRaw((*other)->name(), (*other)->publicKey()))
          .isOk());
}

TEST_F(ExportTest, TimeRangeSelectsAContiguousSeqRange) {
  std::vector<std::string> recs = standardLog();
  // A record whose clock stepped back sits inside the range and stays in it.
  recs[3] = requestRecord(3, "2026-11-01T09:00:00.000000Z", "bob", "deny", "denied", "\"stop\"");
  writeLog(recs, 8, {});
  ExportResult res;
  ExportOptions o = options("a");
  o.from_time = "2026-11-01T10:01:00Z";
  o.to_time = "2026-11-01T10:05:00.000000Z";  // exclusive: seq 6 (10:05) is out
  ASSERT_TRUE(exportRecords(env_, dir_, o, res).isOk());
  EXPECT_EQ(res.seq_from, 2u);
  EXPECT_EQ(res.seq_to, 5u);
  EXPECT_EQ(read(o.out_dir + "/records.jsonl"),
            recs[2] + "\n" + recs[3] + "\n" + recs[4] + "\n" + recs[5] + "\n");
  auto doc = parseJson(read(o.out_dir + "/manifest.json"));
  ASSERT_TRUE(doc.isOk());
  EXPECT_EQ(doc->at("/from_time")->asString(), "2026-11-01T10:01:00.000000Z");
  EXPECT_TRUE(doc->at("/covering_checkpoint")->isNull());

  ExportOptions seqs = options("b");
  seqs.from_seq = 4;
  seqs.to_seq = 6;
  ASSERT_TRUE(exportRecords(env_, dir_, seqs, res).isOk());
  EXPECT_EQ(res.seq_from, 4u);
  EXPECT_EQ(res.seq_to, 6u);

  ExportOptions day = options("c");
  day.from_time = "2026-11-02";
  EXPECT_EQ(exportRecords(env_, dir_, day, res).code(), StatusCode::kNotFound);

  ExportOptions bad = options("d");
  bad.from_time = "yesterday";
  EXPECT_EQ(exportRecords(env_, dir_, bad, res).code(), StatusCode::kInvalidArgument);

  ExportOptions limited = options("e");
  limited.limit = 3;  // a live log's durable seq
  ASSERT_TRUE(exportRecords(env_, dir_, limited, res).isOk());
  EXPECT_EQ(res.seq_to, 2u);
}

TEST_F(ExportTest, CoveringCheckpointIsTheFirstWhoseSizeExceedsTheRange) {
  writeLog(standardLog(), 8, {3, 5, 7});
  ExportResult res;
  ExportOptions o = options("a");
  o.to_seq = 3;
  ASSERT_TRUE(exportRecords(env_, dir_, o, res).isOk());
  EXPECT_TRUE(res.covered);
  auto doc = parseJson(read(o.out_dir + "/manifest.json"));
  ASSERT_TRUE(doc.isOk());
  EXPECT_EQ(doc->at("/covering_checkpoint/size")->asInt(), 5);

  ExportOptions all = options("b");
  ASSERT_TRUE(exportRecords(env_, dir_, all, res).isOk());
  EXPECT_FALSE(res.covered);
  doc = parseJson(read(all.out_dir + "/manifest.json"));
  ASSERT_TRUE(doc.isOk());
  EXPECT_EQ(doc->at("/covering_checkpoint/size")->asInt(), 7);
  EXPECT_FALSE(doc->at("/covering_checkpoint/covered")->asBool());
  EXPECT_EQ(doc->at("/covering_checkpoint/status")->asString(), "not yet covered");
}

TEST_F(ExportTest, CursorAdvancesOnlyOverContiguousExports) {
  writeLog(standardLog(), 8, {});
  const std::string cursor = dir_ + "/state/export.cursor";
  std::vector<uint64_t> calls;
  ExportResult res;

  ExportOptions later = options("a");
  later.from_seq = 5;
  later.on_cursor = [&](uint64_t c) { calls.push_back(c); };
  ASSERT_TRUE(exportRecords(env_, dir_, later, res).isOk());
  EXPECT_EQ(res.cursor, 0u);  // 0..4 never exported: retention must keep them
  EXPECT_FALSE(env_.exists(cursor));

  ExportOptions first = options("b");
  first.to_seq = 2;
  first.on_cursor = later.on_cursor;
  ASSERT_TRUE(exportRecords(env_, dir_, first, res).isOk());
  EXPECT_EQ(read(cursor), "3\n");

  ExportOptions rest = options("c");
  rest.from_seq = 1;
  rest.on_cursor = later.on_cursor;
  ASSERT_TRUE(exportRecords(env_, dir_, rest, res).isOk());
  EXPECT_EQ(read(cursor), "8\n");
  EXPECT_EQ(calls, (std::vector<uint64_t>{3, 8}));

  ExportOptions again = options("d");
  again.to_seq = 1;
  ASSERT_TRUE(exportRecords(env_, dir_, again, res).isOk());
  EXPECT_EQ(res.cursor, 8u);  // never moves back
  EXPECT_EQ(read(cursor), "8\n");
}

TEST_F(ExportTest, RefusesToOverwriteAnExportAndNeedsAKey) {
  writeLog(standardLog(), 8, {});
  ExportResult res;
  ExportOptions o = options("a");
  ASSERT_TRUE(exportRecords(env_, dir_, o, res).isOk());
  EXPECT_EQ(exportRecords(env_, dir_, o, res).code(), StatusCode::kInvalidArgument);
  ExportOptions nokey = options("b");
  nokey.key = nullptr;
  EXPECT_EQ(exportRecords(env_, dir_, nokey, res).code(), StatusCode::kInvalidArgument);
}

TEST_F(ExportTest, DamagedLogFailsTheExport) {
  writeLog(standardLog(), 4, {});
  std::string seg = read(dir_ + "/" + segmentFileName(0));
  seg[seg.size() - 3] ^= 1;
  write(dir_ + "/" + segmentFileName(0), seg);
  ExportResult res;
  EXPECT_EQ(exportRecords(env_, dir_, options("a"), res).code(), StatusCode::kDataLoss);
}

TEST_F(ExportTest, CsvHasTheFixedColumnsAndRfc4180Quoting) {
  writeLog(standardLog(), 8, {});
  ExportResult res;
  const ExportOptions o = options("csv", ExportFormat::kCsv);
  ASSERT_TRUE(exportRecords(env_, dir_, o, res).isOk());
  const std::string csv = read(o.out_dir + "/records.csv");
  EXPECT_EQ(res.files[0].name, "records.csv");
  EXPECT_EQ(res.files[0].sha256, independentSha256Hex(csv));
  const std::string header =
      "time,seq,type,request_id,principal_subject,principal_issuer,principal_provider,"
      "source_ip,method,path,upstream,workflow,step,execution,actions,decision_effect,reason,"
      "rules,status,latency_us\r\n";
  ASSERT_EQ(csv.substr(0, header.size()), header);
  EXPECT_NE(csv.find("\r\n2026-11-01T10:01:00.000000Z,2,request,req-2,alice,"
                     "https://idp.example,corp-oidc,192.0.2.7,POST,"
                     "/api/v1/namespaces/default/workflows,temporal,orders,charge-card,exec-1,"
                     "start,allow,allowed,r1;r2,200,1500\r\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\r\n2026-11-01T10:05:00.000000Z,6,request,req-6,alice,"), std::string::npos);
  EXPECT_NE(csv.find(",read;list,allow,"), std::string::npos);
  EXPECT_NE(csv.find("\r\n2026-11-01T10:03:00.000000Z,4,auth_failure,req-af,,,,198.51.100.9,GET,"
                     "/api/v1/x,,,,,,,token_expired,,401,80\r\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\r\n2026-11-01T10:00:00.000000Z,0,start,,,,,,,,,,,,,,,,,\r\n"),
            std::string::npos);
  // 9 lines: the header and 8 records.
  size_t lines = 0;
  for (size_t p = csv.find("\r\n"); p != std::string::npos; p = csv.find("\r\n", p + 2))
    ++lines;
  EXPECT_EQ(lines, 9u);
}

TEST(CsvCellTest, GuardsAgainstFormulaInjectionAndQuotes) {
  const auto cell = [](std::string_view v) {
    std::string out;
    appendCsvCell(out, v);
    return out;
  };
  EXPECT_EQ(cell("alice"), "alice");
  EXPECT_EQ(cell(""), "");
  EXPECT_EQ(cell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(cell("+1"), "\"'+1\"");
  EXPECT_EQ(cell("-2+3"), "\"'-2+3\"");
  EXPECT_EQ(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
  EXPECT_EQ(cell("\tx"), "\"'\tx\"");
  EXPECT_EQ(cell("\rx"), "\"'\rx\"");
  EXPECT_EQ(cell("a,b"), "\"a,b\"");
  EXPECT_EQ(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(cell("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(cell("a=b"), "a=b");  // only a leading character is a formula
}

TEST(CsvRowTest, InjectionInRecordFieldsIsNeutralised) {
  const std::string rec =
      requestRecord(9, timeOf(9), "=cmd|' /C calc'!A0", "deny", "denied", "\"stop\"", "@evil,wf");
  auto doc = parseJson(rec);
  ASSERT_TRUE(doc.isOk());
  std::string row;
  appendCsvRow(*doc, row);
  EXPECT_NE(row.find(",\"'=cmd|' /C calc'!A0\","), std::string::npos) << row;
  EXPECT_NE(row.find(",\"'@evil,wf\","), std::string::npos) << row;
}

TEST(OcsfTest, RequestBecomesApiActivity) {
  auto rec = parseJson(requestRecord(2, timeOf(1), "alice", "allow", "allowed", "\"start\""));
  ASSERT_TRUE(rec.isOk());
  std::string out;
  ASSERT_TRUE(appendOcsfEvent(*rec, out));
  auto ev = parseJson(out);
  ASSERT_TRUE(ev.isOk()) << out;
  EXPECT_EQ(ev->at("/class_uid")->asInt(), 6003);
  EXPECT_EQ(ev->at("/category_uid")->asInt(), 6);
  EXPECT_EQ(ev->at("/activity_id")->asInt(), 1);  // start: Create
  EXPECT_EQ(ev->at("/type_uid")->asInt(), 600301);
  EXPECT_EQ(ev->at("/time")->asInt(), 1793527260000);  // 2026-11-01T10:01:00Z, ms
  EXPECT_EQ(ev->at("/status_id")->asInt(), 1);
  EXPECT_EQ(ev->at("/status")->asString(), "Success");
  EXPECT_EQ(ev->at("/disposition_id")->asInt(), 1);
  EXPECT_EQ(ev->at("/disposition")->asString(), "Allowed");
  EXPECT_EQ(ev->at("/status_code")->asString(), "200");
  EXPECT_EQ(ev->at("/api/operation")->asString(), "start");
  EXPECT_EQ(ev->at("/api/service/name")->asString(), "temporal");
  EXPECT_EQ(ev->at("/api/request/uid")->asString(), "req-2");
  EXPECT_EQ(ev->at("/http_request/http_method")->asString(), "POST");
  EXPECT_EQ(ev->at("/http_request/url/path")->asString(), "/api/v1/namespaces/default/workflows");
  EXPECT_EQ(ev->at("/src_endpoint/ip")->asString(), "192.0.2.7");
  EXPECT_EQ(ev->at("/src_endpoint/port")->asInt(), 51234);
  EXPECT_EQ(ev->at("/actor/user/uid")->asString(), "alice");
  EXPECT_EQ(ev->at("/actor/user/groups/1/name")->asString(), "payments");
  EXPECT_EQ(ev->at("/actor/idp/name")->asString(), "corp-oidc");
  EXPECT_EQ(ev->at("/actor/authorizations/0/decision")->asString(), "allow");
  EXPECT_EQ(ev->at("/metadata/product/name")->asString(), "stepgate");
  EXPECT_EQ(ev->at("/metadata/version")->asString(), "1.1.0");
  EXPECT_EQ(ev->at("/metadata/uid")->asString(), "0190f000-0000-7000-8000-000000000002");
  EXPECT_EQ(ev->at("/metadata/sequence")->asInt(), 2);
  EXPECT_EQ(ev->at("/resources/0/name")->asString(), "orders");
  EXPECT_EQ(ev->at("/unmapped/step")->asString(), "charge-card");
  // Nothing secret: the credential appears only as its keyed hash.
  EXPECT_EQ(ev->at("/actor/user/credential_uid")->asString(),
            "hmac-sha256:00112233445566778899aabbccddeeff");
}

TEST(OcsfTest, DenialIsBlockedAndActivitiesFollowTheActions) {
  struct Case {
    std::string actions;
    int activity;
  } cases[] = {{"\"undefine\"", 4},       {"\"read\",\"list\"", 2}, {"\"skip-step\"", 3},
               {"\"read\",\"stop\"", 99}, {"\"admin\"", 99},        {"", 0}};
  for (const Case& c : cases) {
    auto rec =
        parseJson(requestRecord(3, timeOf(2), "bob", "deny", "no_matching_allow", c.actions));
    ASSERT_TRUE(rec.isOk());
    std::string out;
    ASSERT_TRUE(appendOcsfEvent(*rec, out));
    auto ev = parseJson(out);
    ASSERT_TRUE(ev.isOk()) << out;
    EXPECT_EQ(ev->at("/activity_id")->asInt(), c.activity) << c.actions;
    EXPECT_EQ(ev->at("/type_uid")->asInt(), 600300 + c.activity);
    EXPECT_EQ(ev->at("/disposition")->asString(), "Blocked");
    EXPECT_EQ(ev->at("/disposition_id")->asInt(), 2);
    EXPECT_EQ(ev->at("/status_id")->asInt(), 2);
    EXPECT_EQ(ev->at("/status_detail")->asString(), "no_matching_allow");
  }
}

TEST(OcsfTest, AuthFailureBecomesAuthenticationAndOtherTypesAreNotMapped) {
  auto rec = parseJson(authFailureRecord(4, timeOf(3)));
  ASSERT_TRUE(rec.isOk());
  std::string out;
  ASSERT_TRUE(appendOcsfEvent(*rec, out));
  auto ev = parseJson(out);
  ASSERT_TRUE(ev.isOk()) << out;
  EXPECT_EQ(ev->at("/class_uid")->asInt(), 3002);
  EXPECT_EQ(ev->at("/category_uid")->asInt(), 3);
  EXPECT_EQ(ev->at("/activity_id")->asInt(), 1);
  EXPECT_EQ(ev->at("/activity_name")->asString(), "Logon");
  EXPECT_EQ(ev->at("/type_uid")->asInt(), 300201);
  EXPECT_EQ(ev->at("/status")->asString(), "Failure");
  EXPECT_EQ(ev->at("/status_id")->asInt(), 2);
  EXPECT_EQ(ev->at("/status_detail")->asString(), "token_expired");
  EXPECT_EQ(ev->at("/user/name")->asString(), "unknown");
  EXPECT_EQ(ev->at("/service/name")->asString(), "corp-oidc");
  EXPECT_EQ(ev->at("/src_endpoint/ip")->asString(), "198.51.100.9");
  EXPECT_EQ(ev->at("/metadata/sequence")->asInt(), 4);

  for (const char* type :
       {"start", "stop", "config", "policy", "gap", "checkpoint", "key", "recovery", "response"}) {
    auto other = parseJson(simpleRecord(5, type, timeOf(4)));
    ASSERT_TRUE(other.isOk());
    std::string none;
    EXPECT_FALSE(appendOcsfEvent(*other, none)) << type;
    EXPECT_TRUE(none.empty());
  }
}

TEST(OcsfTest, SessionRecordsBecomeSuccessfulAuthenticationByEvent) {
  struct Case {
    const char* event;
    int activity;
    const char* name;
  };
  for (const Case& c : {Case{"sign_in", 1, "Logon"}, Case{"sign_out", 2, "Logoff"},
                        Case{"token", 3, "Authentication Ticket"}, Case{"refresh", 99, "Other"}}) {
    const std::string rec =
        "{\"v\":1,\"seq\":9,\"event_id\":\"e9\",\"type\":\"session\",\"time\":\"" +
        timeOf(5) +
        "\",\"request_id\":\"r9\",\"principal\":{\"provider\":\"corp\",\"subject\":"
        "\"alice\",\"groups\":[\"ops\"],\"method\":\"session\",\"mfa\":false},"
        "\"source\":{\"ip\":\"198.51.100.9\",\"port\":1},\"request\":{\"method\":\"GET\","
        "\"path\":\"/.stepgate/oidc/callback\"},\"session\":{\"event\":\"" +
        std::string(c.event) + "\",\"via\":\"oidc\"},\"response\":{\"status\":303}}";
    auto parsed = parseJson(rec);
    ASSERT_TRUE(parsed.isOk()) << rec;
    std::string out;
    ASSERT_TRUE(appendOcsfEvent(*parsed, out));
    auto ev = parseJson(out);
    ASSERT_TRUE(ev.isOk()) << out;
    EXPECT_EQ(ev->at("/class_uid")->asInt(), 3002);
    EXPECT_EQ(ev->at("/activity_id")->asInt(), c.activity) << c.event;
    EXPECT_EQ(ev->at("/activity_name")->asString(), c.name);
    EXPECT_EQ(ev->at("/type_uid")->asInt(), 300200 + c.activity);
    EXPECT_EQ(ev->at("/status_id")->asInt(), 1);
    EXPECT_EQ(ev->at("/status")->asString(), "Success");
    EXPECT_EQ(ev->at("/status_detail")->asString(), c.event);
    EXPECT_EQ(ev->at("/severity_id")->asInt(), 1);
    EXPECT_EQ(ev->at("/user/uid")->asString(), "alice");
    EXPECT_EQ(ev->at("/service/name")->asString(), "corp");
    EXPECT_EQ(ev->at("/unmapped/sign_in_via")->asString(), "oidc");
  }
}

TEST_F(ExportTest, OcsfExportWritesOneEventPerMappedRecord) {
  writeLog(standardLog(), 8, {8});
  ExportResult res;
  const ExportOptions o = options("ocsf", ExportFormat::kOcsf);
  ASSERT_TRUE(exportRecords(env_, dir_, o, res).isOk());
  EXPECT_EQ(res.records, 8u);
  EXPECT_EQ(res.events, 4u);  // three requests and one auth failure
  const std::string data = read(o.out_dir + "/records.ocsf.jsonl");
  std::vector<int64_t> classes;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t nl = data.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    auto ev = parseJson(std::string_view(data).substr(pos, nl - pos));
    ASSERT_TRUE(ev.isOk());
    classes.push_back(ev->at("/class_uid")->asInt());
    pos = nl + 1;
  }
  EXPECT_EQ(classes, (std::vector<int64_t>{6003, 6003, 3002, 6003}));
  auto doc = parseJson(read(o.out_dir + "/manifest.json"));
  ASSERT_TRUE(doc.isOk());
  EXPECT_EQ(doc->at("/format")->asString(), "ocsf");
  EXPECT_EQ(doc->at("/ocsf_version")->asString(), "1.1.0");
  EXPECT_TRUE(verifyExport(env_, o.out_dir, verifier()).isOk());

  // For the OCSF schema check (tests/integration/audit_ocsf.test.mjs): copy the sample out.
  if (const char* sample = std::getenv("STEPGATE_OCSF_SAMPLE_OUT"); sample != nullptr) {
    FILE* f = std::fopen(sample, "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
    std::fclose(f);
  }
}

TEST(TimeTest, BoundsNormaliseToTheRecordSpelling) {
  std::string out;
  ASSERT_TRUE(normalizeTimeBound("2026-11-01", out));
  EXPECT_EQ(out, "2026-11-01T00:00:00.000000Z");
  ASSERT_TRUE(normalizeTimeBound("2026-11-01T12:34:56Z", out));
  EXPECT_EQ(out, "2026-11-01T12:34:56.000000Z");
  ASSERT_TRUE(normalizeTimeBound("2026-11-01T12:34:56.5Z", out));
  EXPECT_EQ(out, "2026-11-01T12:34:56.500000Z");
  ASSERT_TRUE(normalizeTimeBound("2024-02-29T00:00:00.123456Z", out));
  for (const char* bad : {"", "2026-11", "2026-13-01", "2026-02-29", "2026-11-01T25:00:00Z",
                          "2026-11-01T10:00:00", "2026-11-01T10:00:00+01:00",
                          "2026-11-01T10:00:00.1234567Z", "2026-11-01T10:00:00.Z", "26-11-01"}) {
    EXPECT_FALSE(normalizeTimeBound(bad, out)) << bad;
  }
  int64_t us = 0;
  ASSERT_TRUE(parseRecordTime("1970-01-01T00:00:01.000002Z", us));
  EXPECT_EQ(us, 1000002);
  ASSERT_TRUE(parseRecordTime("2026-11-01T10:01:00.000000Z", us));
  EXPECT_EQ(us, 1793527260000000);
  EXPECT_FALSE(parseRecordTime("2026-11-01T10:01:00Z", us));
}

}  // namespace
}  // namespace stepgate::audit
