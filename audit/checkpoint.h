#pragma once
// Signed checkpoints: C2SP tlog-checkpoint text in a C2SP signed note, Ed25519
// (docs/audit.md, "Integrity: the Merkle tree").

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/merkle.h"
#include "common/status.h"

namespace stepgate::audit {

struct Checkpoint {
  std::string origin;  // first line
  uint64_t size = 0;
  Hash root{};
};

// An Ed25519 key that signs checkpoints. Immutable; thread-safe.
class SigningKey {
 public:
  // Reads a PEM Ed25519 private key (PKCS#8). `name` is the signed-note key name (no spaces,
  // no '+'), e.g. "stepgate-audit".
  [[nodiscard]] static StatusOr<std::shared_ptr<const SigningKey>> load(const std::string& pem_file,
                                                                        std::string name);
  // Creates a new key and writes it (0600) as PEM to `pem_file` (and the public key to
  // `pem_file` + ".pub"), for `stepgate audit keygen` and tests.
  [[nodiscard]] static StatusOr<std::shared_ptr<const SigningKey>> generate(
      const std::string& pem_file, std::string name);
  ~SigningKey();

  const std::string& name() const noexcept { return name_; }
  uint32_t keyId() const noexcept { return key_id_; }
  const std::string& publicKey() const noexcept { return public_key_; }  // 32 raw bytes
  // The signed note for `cp`: checkpoint text, empty line, "— name base64(id||sig)\n".
  std::string sign(const Checkpoint& cp) const;

 private:
  SigningKey() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
  uint32_t key_id_ = 0;
  std::string public_key_;
};

// A verifier for notes signed by one key (public key, raw 32 bytes or a PEM file).
class NoteVerifier {
 public:
  [[nodiscard]] static StatusOr<NoteVerifier> fromPublicKeyFile(const std::string& pem_file,
                                                                std::string name);
  static NoteVerifier fromRaw(std::string name, std::string public_key);
  // Parses `note`, checks the signature line of this key and parses the checkpoint text.
  // InvalidArgument/DataLoss naming what is wrong.
  [[nodiscard]] StatusOr<Checkpoint> verify(std::string_view note) const;
  uint32_t keyId() const noexcept { return key_id_; }

 private:
  std::string name_;
  std::string public_key_;
  uint32_t key_id_ = 0;
};

// The key id of the signed-note spec: first 4 bytes (big-endian) of
// SHA-256(name || 0x0A || 0x01 || public_key).
uint32_t noteKeyId(std::string_view name, std::string_view public_key);
// The checkpoint text: "origin\nsize\nbase64(root)\n".
std::string checkpointText(const Checkpoint& cp);
// Splits a file of notes separated by an empty line after each note's signature lines.
std::vector<std::string> splitNotes(std::string_view file);

}  // namespace stepgate::audit
