#include "audit/checkpoint.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/unit/audit/test_util.h"

namespace stepgate::audit {
namespace {

struct TempDir : testutil::TempDir {
  TempDir() : testutil::TempDir("ckpt") {}
};

using testutil::readFileText;

// Decodes standard base64 (test helper; the inputs are well-formed).
std::string unbase64(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else break;
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
    }
  }
  return out;
}

Checkpoint sample(uint64_t size = 5) {
  Checkpoint cp;
  cp.origin = "stepgate.example/audit/test";
  cp.size = size;
  cp.root = leafHash("root-" + std::to_string(size));
  return cp;
}

TEST(CheckpointTest, KeyIdOfTheSignedNoteExample) {
  // The verifier key "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
  // of the signed-note documentation: after the id comes 0x01 || public key.
  const std::string blob = unbase64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_EQ(blob.size(), 33u);
  ASSERT_EQ(blob[0], '\x01');
  EXPECT_EQ(noteKeyId("PeterNeumann", blob.substr(1)), 0xc74f20a3u);
}

TEST(CheckpointTest, VerifiesTheSignedNoteExampleSignature) {
  const std::string pub = unbase64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").substr(1);
  const NoteVerifier v = NoteVerifier::fromRaw("PeterNeumann", pub);
  const std::string text =
      "If you think cryptography is the answer to your problem,\n"
      "then you don't know what your problem is.\n";
  const std::string note =
      text + "\n\xE2\x80\x94 PeterNeumann "
             "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
  // The signature verifies; the text then is not a checkpoint.
  auto r = v.verify(note);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().toString();
  EXPECT_EQ(r.status().message().rfind("checkpoint:", 0), 0u) << r.status().toString();
  std::string changed = note;
  changed[3] = 'X';
  EXPECT_EQ(v.verify(changed).status().code(), StatusCode::kDataLoss);
}

TEST(CheckpointTest, TextFormat) {
  Checkpoint cp = sample(12);
  cp.root = emptyRoot();
  EXPECT_EQ(checkpointText(cp),
            "stepgate.example/audit/test\n12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
}

TEST(CheckpointTest, SignVerifyRoundTripAndPem) {
  TempDir dir;
  const std::string pem = dir.path() + "/key.pem";
  auto key = SigningKey::generate(pem, "stepgate-audit");
  ASSERT_TRUE(key.isOk()) << key.status().toString();
  struct stat st {};
  ASSERT_EQ(stat(pem.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ((*key)->publicKey().size(), 32u);
  EXPECT_EQ((*key)->keyId(), noteKeyId("stepgate-audit", (*key)->publicKey()));

  const std::string note = (*key)->sign(sample());
  const std::string text = checkpointText(sample());
  ASSERT_EQ(note.substr(0, text.size() + 1), text + "\n");
  EXPECT_EQ(note.substr(text.size() + 1, 4), "\xE2\x80\x94 ");
  EXPECT_EQ(note.back(), '\n');

  auto loaded = SigningKey::load(pem, "stepgate-audit");
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  EXPECT_EQ((*loaded)->publicKey(), (*key)->publicKey());
  EXPECT_EQ((*loaded)->sign(sample()), note);  // Ed25519 is deterministic

  auto verifier = NoteVerifier::fromPublicKeyFile(pem + ".pub", "stepgate-audit");
  ASSERT_TRUE(verifier.isOk()) << verifier.status().toString();
  EXPECT_EQ(verifier->keyId(), (*key)->keyId());
  auto cp = verifier->verify(note);
  ASSERT_TRUE(cp.isOk()) << cp.status().toString();
  EXPECT_EQ(cp->origin, sample().origin);
  EXPECT_EQ(cp->size, 5u);
  EXPECT_EQ(cp->root, sample().root);

  EXPECT_FALSE(SigningKey::load(pem + ".pub", "stepgate-audit").isOk());
  EXPECT_FALSE(SigningKey::load(dir.path() + "/missing.pem", "stepgate-audit").isOk());
  EXPECT_FALSE(SigningKey::generate(dir.path() + "/k2.pem", "bad name").isOk());
  EXPECT_FALSE(SigningKey::generate(dir.path() + "/k2.pem", "a+b").isOk());
}

TEST(CheckpointTest, SignatureMatchesAnIndependentSigner) {
  TempDir dir;
  const std::string pem = dir.path() + "/key.pem";
  auto key = SigningKey::generate(pem, "independent");
  ASSERT_TRUE(key.isOk());
  const Checkpoint cp = sample(1234567);
  const std::string note = (*key)->sign(cp);
  const std::string text = checkpointText(cp);
  {
    std::ofstream(dir.path() + "/text", std::ios::binary) << text;
  }
  const std::string cmd = "openssl pkeyutl -sign -rawin -inkey '" + pem + "' -in '" + dir.path() +
                          "/text' -out '" + dir.path() + "/sig' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string sig = readFileText(dir.path() + "/sig");
  ASSERT_EQ(sig.size(), 64u);
  const std::string line = note.substr(text.size() + 1);
  const std::string prefix = "\xE2\x80\x94 independent ";
  ASSERT_EQ(line.substr(0, prefix.size()), prefix);
  const std::string blob = unbase64(line.substr(prefix.size()));
  ASSERT_EQ(blob.size(), 68u);
  const uint32_t id = (*key)->keyId();
  EXPECT_EQ(blob.substr(0, 4), std::string({static_cast<char>(id >> 24),
                                             static_cast<char>((id >> 16) & 0xFF),
                                             static_cast<char>((id >> 8) & 0xFF),
                                             static_cast<char>(id & 0xFF)}));
  EXPECT_EQ(blob.substr(4), sig);
}

TEST(CheckpointTest, VerifyRejects) {
  TempDir dir;
  auto key = SigningKey::generate(dir.path() + "/a.pem", "stepgate-audit");
  auto other = SigningKey::generate(dir.path() + "/b.pem", "stepgate-audit");
  auto third = SigningKey::generate(dir.path() + "/c.pem", "someone-else");
  ASSERT_TRUE(key.isOk() && other.isOk() && third.isOk());
  const NoteVerifier v = NoteVerifier::fromRaw("stepgate-audit", (*key)->publicKey());
  const std::string note = (*key)->sign(sample());
  ASSERT_TRUE(v.verify(note).isOk());

  // Same name, another key: key id mismatch.
  auto r = v.verify((*other)->sign(sample()));
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("key id mismatch"), std::string::npos);
  // Another key name only.
  r = v.verify((*third)->sign(sample()));
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("no signature by key"), std::string::npos);
  // Our signature plus an unknown one is fine (unknown signatures are ignored).
  const std::string third_note = (*third)->sign(sample());
  const std::string third_line = third_note.substr(checkpointText(sample()).size() + 1);
  EXPECT_TRUE(v.verify(note + third_line).isOk());

  // The text changed: bad signature.
  std::string changed = note;
  changed[changed.find('\n') + 1] = '6';  // size 5 -> 6
  r = v.verify(changed);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("bad signature"), std::string::npos);
  // A signature byte changed.
  std::string sigflip = note;
  const size_t last = sigflip.size() - 6;
  sigflip[last] = sigflip[last] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(v.verify(sigflip).isOk());

  // Malformed notes.
  EXPECT_FALSE(v.verify("").isOk());
  EXPECT_FALSE(v.verify(note.substr(0, note.size() - 1)).isOk());  // no final newline
  EXPECT_FALSE(v.verify(checkpointText(sample())).isOk());          // no signatures
  EXPECT_FALSE(v.verify(checkpointText(sample()) + "\n").isOk());   // empty signature block
  std::string dash = note;
  dash.replace(dash.find("\xE2\x80\x94"), 3, "-");
  EXPECT_FALSE(v.verify(dash).isOk());
  std::string nob64 = note;
  nob64.insert(nob64.size() - 1, "!");
  EXPECT_FALSE(v.verify(nob64).isOk());
  EXPECT_FALSE(v.verify(note + "\n").isOk());  // a blank line among the signatures
  EXPECT_FALSE(v.verify(std::string(70000, 'a') + "\n").isOk());
}

TEST(CheckpointTest, StrictCheckpointText) {
  TempDir dir;
  auto key = SigningKey::generate(dir.path() + "/a.pem", "k");
  ASSERT_TRUE(key.isOk());
  const NoteVerifier v = NoteVerifier::fromRaw("k", (*key)->publicKey());
  // Sign arbitrary texts with the key by building notes around checkpointText variants:
  // only sign() makes notes, so malformed texts come from checkpoints with odd fields.
  Checkpoint cp = sample();
  cp.origin = "";
  EXPECT_FALSE(v.verify((*key)->sign(cp)).isOk());
  cp.origin = "a\tb";
  EXPECT_FALSE(v.verify((*key)->sign(cp)).isOk());
  cp.origin = "two\nlines";  // four lines: an extension line
  EXPECT_FALSE(v.verify((*key)->sign(cp)).isOk());
  cp = sample(UINT64_MAX);
  auto r = v.verify((*key)->sign(cp));
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->size, UINT64_MAX);
}

TEST(CheckpointTest, SplitNotes) {
  TempDir dir;
  auto key = SigningKey::generate(dir.path() + "/a.pem", "k");
  ASSERT_TRUE(key.isOk());
  const std::string a = (*key)->sign(sample(1));
  const std::string b = (*key)->sign(sample(2));
  EXPECT_EQ(splitNotes(""), std::vector<std::string>{});
  EXPECT_EQ(splitNotes(a + "\n" + b + "\n"), (std::vector<std::string>{a, b}));
  // A torn last note comes back as a fragment that does not verify.
  const auto torn = splitNotes(a + "\n" + b.substr(0, b.size() - 5));
  ASSERT_EQ(torn.size(), 2u);
  EXPECT_EQ(torn[0], a);
  EXPECT_FALSE(NoteVerifier::fromRaw("k", (*key)->publicKey()).verify(torn[1]).isOk());
}

}  // namespace
}  // namespace stepgate::audit
