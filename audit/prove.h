#pragma once
// Inclusion proofs (docs/audit.md, "Verifying"): a JSON document that lets an auditor check
// offline, with any RFC 6962 implementation and the checkpoint public key, that one record
// is in the log a signed checkpoint commits to.
//
// {"format":"stepgate-inclusion-proof/1",
//  "seq": <leaf index>,
//  "payload_base64": <the stored record bytes, standard base64>,
//  "leaf_hash": <hex SHA-256(0x00 || payload)>,
//  "tree_size": <size of the checkpoint>,
//  "proof": [<hex node>, ...],           // RFC 6962 section 2.1.1 audit path, bottom-up
//  "checkpoint_note": <the signed note>,
//  "public_key": <standard base64 of the 32-byte Ed25519 key, from the log's key record>,
//  "key_name": <the note's key name>}

#include <cstdint>
#include <string>

#include "audit/checkpoint.h"
#include "audit/env.h"
#include "common/status.h"

namespace stepgate::audit {

// Proves record `seq` against the newest checkpoint record in the log whose size > seq.
// NotFound when no checkpoint covers `seq` yet. Reads the log twice; memory O(log n) plus
// the record. The log must hold every record from seq 0 (retention removes proofs of
// records before its oldest segment).
[[nodiscard]] StatusOr<std::string> proveInclusion(Env& env, const std::string& dir, uint64_t seq);

struct ProvedRecord {
  uint64_t seq = 0;
  uint64_t tree_size = 0;
  std::string origin;
  std::string payload;
};

// Checks a proof document with a trusted key: the note's signature, the leaf hash of the
// payload, the record's own seq, and the audit path against the note's root.
[[nodiscard]] StatusOr<ProvedRecord> verifyProof(std::string_view document,
                                                 const NoteVerifier& verifier);

}  // namespace stepgate::audit
