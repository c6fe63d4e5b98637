#include "audit/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>

#include "audit/encoding.h"
#include "common/c_ptr.h"

namespace stepgate::audit {

namespace {

using PkeyPtr = CPtr<EVP_PKEY, EVP_PKEY_free>;
using BioPtr = CPtr<BIO, BIO_free>;
using MdCtxPtr = CPtr<EVP_MD_CTX, EVP_MD_CTX_free>;

constexpr std::string_view kEmDash = "\xE2\x80\x94";  // U+2014, starts a signature line
constexpr size_t kMaxNoteBytes = 64 * 1024;
constexpr size_t kMaxSignatureLines = 64;
constexpr size_t kSignatureBytes = 64;
constexpr size_t kPublicKeyBytes = 32;

bool validKeyName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '+') return false;
  }
  return true;
}

std::string opensslError(const std::string& what) { return what + " (OpenSSL)"; }

StatusOr<std::string> rawPublicKey(EVP_PKEY* key) {
  if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) return invalidArgument("not an Ed25519 key");
  std::string pub(kPublicKeyBytes, '\0');
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(pub.data()), &len) != 1 ||
      len != kPublicKeyBytes) {
    return internalError(opensslError("reading the Ed25519 public key"));
  }
  return pub;
}

StatusOr<std::string> readWhole(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return notFound("cannot open " + path);
  std::string out;
  char buf[4096];
  for (int rounds = 0; rounds < 64; ++rounds) {  // a PEM key is far below 256 KiB
    const int n = BIO_read(bio.get(), buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
  return invalidArgument(path + ": too large for a key file");
}

Status writeFile0600(const std::string& path, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable("open " + path + ": " + std::strerror(errno));
  Status st = okStatus();
  if (::fchmod(fd, 0600) != 0) st = unavailable("chmod " + path + ": " + std::strerror(errno));
  while (st.isOk() && !data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      st = unavailable("write " + path + ": " + std::strerror(errno));
      break;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (st.isOk() && ::fsync(fd) != 0) st = unavailable("fsync " + path + ": " + std::strerror(errno));
  ::close(fd);
  return st;
}

StatusOr<std::string> pemOf(EVP_PKEY* key, bool private_key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return internalError("BIO_new");
  const int ok = private_key ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                                        nullptr, nullptr)
                             : PEM_write_bio_PUBKEY(bio.get(), key);
  if (ok != 1) return internalError(opensslError("writing PEM"));
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return internalError("empty PEM");
  return std::string(data, static_cast<size_t>(len));
}

uint64_t parseDecimal(std::string_view s, bool& ok) {
  ok = false;
  if (s.empty() || s.size() > 20) return 0;
  if (s.size() > 1 && s[0] == '0') return 0;  // no leading zeros
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  ok = true;
  return v;
}

// The checkpoint text, strictly: exactly three lines, each ending in '\n'.
StatusOr<Checkpoint> parseCheckpointText(std::string_view text) {
  std::string_view lines[3];
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return invalidArgument("checkpoint: fewer than 3 lines");
    lines[i] = text.substr(pos, nl - pos);
    pos = nl + 1;
  }
  if (pos != text.size()) return invalidArgument("checkpoint: extension lines are not accepted");
  Checkpoint cp;
  if (lines[0].empty()) return invalidArgument("checkpoint: empty origin");
  for (char c : lines[0]) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return invalidArgument("checkpoint: control byte in origin");
  }
  cp.origin = std::string(lines[0]);
  bool ok = false;
  cp.size = parseDecimal(lines[1], ok);
  if (!ok) return invalidArgument("checkpoint: tree size is not a canonical decimal");
  if (!fromBase64(lines[2], cp.root)) {
    return invalidArgument("checkpoint: root hash is not 32 bytes of standard base64");
  }
  return cp;
}

bool verifyEd25519(std::string_view public_key, std::string_view msg, std::string_view sig) {
  PkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  if (!key) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                          sig.size(), reinterpret_cast<const unsigned char*>(msg.data()),
                          msg.size()) == 1;
}

}  // namespace

struct SigningKey::Impl {
  PkeyPtr key;
};

SigningKey::~SigningKey() = default;

StatusOr<std::shared_ptr<const SigningKey>> SigningKey::load(const std::string& pem_file,
                                                             std::string name) {
  if (!validKeyName(name)) return invalidArgument("bad signing key name");
  ASSIGN_OR_RETURN(std::string pem, readWhole(pem_file));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return internalError("BIO_new_mem_buf");
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return invalidArgument(pem_file + ": not a PEM private key");
  if (EVP_PKEY_id(pkey.get()) != EVP_PKEY_ED25519) {
    return invalidArgument(pem_file + ": not an Ed25519 key");
  }
  ASSIGN_OR_RETURN(std::string pub, rawPublicKey(pkey.get()));
  std::shared_ptr<SigningKey> key(new SigningKey());
  key->impl_ = std::make_unique<Impl>();
  key->impl_->key = std::move(pkey);
  key->key_id_ = noteKeyId(name, pub);
  key->name_ = std::move(name);
  key->public_key_ = std::move(pub);
  return std::shared_ptr<const SigningKey>(std::move(key));
}

StatusOr<std::shared_ptr<const SigningKey>> SigningKey::generate(const std::string& pem_file,
                                                                 std::string name) {
  if (!validKeyName(name)) return invalidArgument("bad signing key name");
  CPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return internalError(opensslError("Ed25519 key generation"));
  }
  PkeyPtr pkey(raw);
  ASSIGN_OR_RETURN(std::string priv_pem, pemOf(pkey.get(), true));
  ASSIGN_OR_RETURN(std::string pub_pem, pemOf(pkey.get(), false));
  RETURN_IF_ERROR(writeFile0600(pem_file, priv_pem));
  RETURN_IF_ERROR(writeFile0600(pem_file + ".pub", pub_pem));
  ASSIGN_OR_RETURN(std::string pub, rawPublicKey(pkey.get()));
  std::shared_ptr<SigningKey> key(new SigningKey());
  key->impl_ = std::make_unique<Impl>();
  key->impl_->key = std::move(pkey);
  key->key_id_ = noteKeyId(name, pub);
  key->name_ = std::move(name);
  key->public_key_ = std::move(pub);
  return std::shared_ptr<const SigningKey>(std::move(key));
}

std::string SigningKey::sign(const Checkpoint& cp) const {
  const std::string text = checkpointText(cp);
  std::string blob;
  blob.push_back(static_cast<char>(key_id_ >> 24));
  blob.push_back(static_cast<char>((key_id_ >> 16) & 0xFFu));
  blob.push_back(static_cast<char>((key_id_ >> 8) & 0xFFu));
  blob.push_back(static_cast<char>(key_id_ & 0xFFu));
  std::string sig(kSignatureBytes, '\0');
  size_t sig_len = sig.size();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1 ||
      sig_len != kSignatureBytes) {
    std::abort();  // Ed25519 signing with a loaded key does not fail; never emit a bad note
  }
  blob += sig;
  std::string note = text;
  note += '\n';
  note += kEmDash;
  note += ' ';
  note += name_;
  note += ' ';
  note += base64Encode(blob);
  note += '\n';
  return note;
}

StatusOr<NoteVerifier> NoteVerifier::fromPublicKeyFile(const std::string& pem_file,
                                                        std::string name) {
  if (!validKeyName(name)) return invalidArgument("bad key name");
  ASSIGN_OR_RETURN(std::string pem, readWhole(pem_file));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return internalError("BIO_new_mem_buf");
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return invalidArgument(pem_file + ": not a PEM public key");
  ASSIGN_OR_RETURN(std::string pub, rawPublicKey(pkey.get()));
  return fromRaw(std::move(name), std::move(pub));
}

NoteVerifier NoteVerifier::fromRaw(std::string name, std::string public_key) {
  NoteVerifier v;
  v.key_id_ = noteKeyId(name, public_key);
  v.name_ = std::move(name);
  v.public_key_ = std::move(public_key);
  return v;
}

StatusOr<Checkpoint> NoteVerifier::verify(std::string_view note) const {
  if (note.size() > kMaxNoteBytes) return invalidArgument("note: larger than 64 KiB");
  if (note.empty() || note.back() != '\n') return invalidArgument("note: does not end in a newline");
  // The text ends at the first empty line; the signature lines follow it.
  const size_t blank = note.find("\n\n");
  if (blank == std::string_view::npos) return invalidArgument("note: no signature block");
  const std::string_view text = note.substr(0, blank + 1);
  std::string_view sigs = note.substr(blank + 2);
  if (sigs.empty()) return invalidArgument("note: no signature lines");
  bool saw_name = false;
  bool saw_id_mismatch = false;
  bool verified = false;
  size_t count = 0;
  std::string blob;
  while (!sigs.empty()) {
    if (++count > kMaxSignatureLines) return invalidArgument("note: too many signature lines");
    const size_t nl = sigs.find('\n');  // present: the note ends in '\n'
    const std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (line.substr(0, kEmDash.size() + 1) != std::string(kEmDash) + " ") {
      return invalidArgument("note: malformed signature line");
    }
    const std::string_view rest = line.substr(kEmDash.size() + 1);
    const size_t sp = rest.find(' ');
    if (sp == std::string_view::npos || sp == 0) {
      return invalidArgument("note: malformed signature line");
    }
    const std::string_view name = rest.substr(0, sp);
    const std::string_view b64 = rest.substr(sp + 1);
    if (!base64Decode(b64, blob) || blob.size() < 5) {
      return invalidArgument("note: signature is not base64 of a key id and a signature");
    }
    if (name != name_) continue;  // another key's signature: not ours to check
    saw_name = true;
    const uint32_t id = static_cast<uint32_t>(static_cast<uint8_t>(blob[0])) << 24 |
                        static_cast<uint32_t>(static_cast<uint8_t>(blob[1])) << 16 |
                        static_cast<uint32_t>(static_cast<uint8_t>(blob[2])) << 8 |
                        static_cast<uint32_t>(static_cast<uint8_t>(blob[3]));
    if (id != key_id_) {
      saw_id_mismatch = true;
      continue;
    }
    if (blob.size() != 4 + kSignatureBytes) return dataLoss("note: bad signature length");
    if (!verifyEd25519(public_key_, text, std::string_view(blob).substr(4))) {
      return dataLoss("note: bad signature by key " + name_);
    }
    verified = true;
  }
  if (!verified) {
    if (saw_name && saw_id_mismatch) {
      return dataLoss("note: signed by another key named " + name_ + " (key id mismatch)");
    }
    return dataLoss("note: no signature by key " + name_);
  }
  return parseCheckpointText(text);
}

uint32_t noteKeyId(std::string_view name, std::string_view public_key) {
  std::string msg(name);
  msg.push_back('\n');
  msg.push_back('\x01');
  msg.append(public_key);
  unsigned char md[32];
  unsigned int len = 0;
  if (EVP_Digest(msg.data(), msg.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    std::abort();
  }
  return static_cast<uint32_t>(md[0]) << 24 | static_cast<uint32_t>(md[1]) << 16 |
         static_cast<uint32_t>(md[2]) << 8 | static_cast<uint32_t>(md[3]);
}

std::string checkpointText(const Checkpoint& cp) {
  std::string out = cp.origin;
  out += '\n';
  out += std::to_string(cp.size);
  out += '\n';
  out += toBase64(cp.root);
  out += '\n';
  return out;
}

std::vector<std::string> splitNotes(std::string_view file) {
  // Each note: text lines, an empty line, signature lines, then the separating empty line.
  std::vector<std::string> notes;
  size_t pos = 0;
  while (pos < file.size()) {
    const size_t text_end = file.find("\n\n", pos);
    if (text_end == std::string_view::npos) {
      notes.emplace_back(file.substr(pos));  // a fragment: the caller's verify rejects it
      break;
    }
    const size_t sig_start = text_end + 2;
    // The '\n' ending the last signature line, followed by the separating empty line.
    const size_t note_end = file.find("\n\n", sig_start);
    if (note_end == std::string_view::npos) {
      notes.emplace_back(file.substr(pos));
      break;
    }
    notes.emplace_back(file.substr(pos, note_end + 1 - pos));
    pos = note_end + 2;
  }
  return notes;
}

}  // namespace stepgate::audit
