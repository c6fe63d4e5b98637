// libFuzzer target for the audit log's formats: segment scanning (audit/segment.h) and
// signed-note checkpoints (audit/checkpoint.h).
//
// Byte 0 picks the mode, the rest is the input:
//  0: a segment file. Checked: scanSegment never reads past the input; the good frames are
//     back to back from byte 32 with matching CRCs and legal lengths; "stop_reason" is empty
//     exactly when every byte was read; re-encoding the header and the good frames gives
//     back the input's first good_bytes bytes.
//  1: a signed note, verified with a fixed key (the corpus holds notes it signed). Checked:
//     an accepted note is exactly sign(parsed checkpoint) followed by other keys' lines,
//     so strict parsing round-trips; a verifier for another key accepts nothing.
//  2: a checkpoints.note file: splitNotes gives non-empty notes that, each followed by an
//     empty line, re-join to the input (plus one '\n' after a trailing fragment); each is
//     verified without crashing.
//  3: checkpoint fields (origin, size, root) from the input: sign then verify round-trips
//     whenever the origin is a legal first line.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "audit/checkpoint.h"
#include "audit/segment.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace stepgate::audit;

// The fuzz key: Ed25519 private key bytes 0x01..0x20 (tests/fuzz/corpus/audit was signed
// with it).
struct Keys {
  std::shared_ptr<const SigningKey> key;
  NoteVerifier verifier = NoteVerifier::fromRaw("x", std::string(32, '\0'));
  NoteVerifier other = NoteVerifier::fromRaw("x", std::string(32, '\0'));
};

const Keys& keys() {
  static const Keys* k = [] {
    auto* out = new Keys();
    unsigned char priv[32];
    for (int i = 0; i < 32; ++i) priv[i] = static_cast<unsigned char>(i + 1);
    EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, priv, sizeof priv);
    FUZZ_CHECK(pkey != nullptr);
    char path[] = "/tmp/audit-fuzz-key-XXXXXX";
    const int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0);
    FILE* f = fdopen(fd, "w");
    FUZZ_CHECK(f != nullptr);
    FUZZ_CHECK(PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1);
    std::fclose(f);
    EVP_PKEY_free(pkey);
    auto loaded = SigningKey::load(path, "stepgate-fuzz");
    unlink(path);
    FUZZ_CHECK(loaded.isOk());
    out->key = *loaded;
    out->verifier = NoteVerifier::fromRaw("stepgate-fuzz", out->key->publicKey());
    std::string other_pub = out->key->publicKey();
    other_pub[0] = static_cast<char>(other_pub[0] ^ 1);
    out->other = NoteVerifier::fromRaw("stepgate-fuzz", other_pub);
    return out;
  }();
  return *k;
}

uint32_t le32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24;
}

void fuzzSegment(std::string_view in) {
  auto scan = scanSegment(in);
  if (!scan.isOk()) {
    FUZZ_CHECK(scan.status().code() == stepgate::StatusCode::kDataLoss);
    return;
  }
  FUZZ_CHECK(in.size() >= kSegmentHeaderBytes);
  FUZZ_CHECK(scan->good_bytes <= in.size());
  FUZZ_CHECK(scan->stop_reason.empty() == (scan->good_bytes == in.size()));
  uint64_t pos = kSegmentHeaderBytes;
  std::string again;
  appendSegmentHeader(again, scan->header.first_seq, scan->header.created_unix_us);
  for (const Frame& f : scan->frames) {
    FUZZ_CHECK(f.offset == pos);
    FUZZ_CHECK(f.payload.data() == in.data() + pos + kFrameHeaderBytes);
    FUZZ_CHECK(!f.payload.empty() && f.payload.size() <= kMaxPayloadBytes);
    FUZZ_CHECK(le32(in, pos) == f.payload.size());
    FUZZ_CHECK(le32(in, pos + 4) == crc32c(f.payload));
    appendFrame(again, f.payload);
    pos += kFrameHeaderBytes + f.payload.size();
  }
  FUZZ_CHECK(pos == scan->good_bytes);
  FUZZ_CHECK(again == in.substr(0, pos));
  if (!scan->stop_reason.empty()) {
    const std::string& r = scan->stop_reason;
    FUZZ_CHECK(r == "torn frame header" || r == "torn payload" || r == "bad crc" ||
               r == "bad length");
  }
}

void fuzzNote(std::string_view in) {
  const Keys& k = keys();
  auto cp = k.verifier.verify(in);
  FUZZ_CHECK(!k.other.verify(in).isOk());
  if (!cp.isOk()) return;
  const std::string signed_note = k.key->sign(*cp);
  // The text and our signature line are exactly what sign() makes (Ed25519 is
  // deterministic); other keys' lines may follow or precede ours.
  const std::string text = checkpointText(*cp);
  FUZZ_CHECK(in.substr(0, text.size() + 1) == text + "\n");
  const std::string our_line = signed_note.substr(text.size() + 1);
  FUZZ_CHECK(in.find(our_line) != std::string_view::npos);
}

void fuzzNotesFile(std::string_view in) {
  const auto notes = splitNotes(in);
  std::string joined;
  for (const std::string& n : notes) {
    FUZZ_CHECK(!n.empty());
    joined += n;
    joined += '\n';
    (void)keys().verifier.verify(n);
  }
  // Every note but a trailing fragment is followed by its separating empty line.
  FUZZ_CHECK(joined == in || joined == std::string(in) + "\n");
}

void fuzzSign(std::string_view in) {
  if (in.size() < 40) return;
  Checkpoint cp;
  uint64_t size = 0;
  for (int i = 0; i < 8; ++i) size = size << 8 | static_cast<uint8_t>(in[static_cast<size_t>(i)]);
  cp.size = size;
  std::memcpy(cp.root.data(), in.data() + 8, 32);
  cp.origin = std::string(in.substr(40, 200));
  bool legal = !cp.origin.empty();
  for (char c : cp.origin) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) legal = false;
  }
  const std::string note = keys().key->sign(cp);
  auto back = keys().verifier.verify(note);
  FUZZ_CHECK(back.isOk() == legal);
  if (legal) {
    FUZZ_CHECK(back->origin == cp.origin && back->size == cp.size && back->root == cp.root);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzzSegment(in);
      break;
    case 1:
      fuzzNote(in);
      break;
    case 2:
      fuzzNotesFile(in);
      break;
    default:
      fuzzSign(in);
      break;
  }
  return 0;
}
