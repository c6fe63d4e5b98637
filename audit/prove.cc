#include "audit/prove.h"

#include <algorithm>
#include <vector>

#include "audit/encoding.h"
#include "audit/merkle.h"
#include "audit/reader.h"
#include "common/json.h"
#include "common/json_writer.h"

namespace stepgate::audit {

namespace {

constexpr char kFormat[] = "stepgate-inclusion-proof/1";

// The subtrees whose roots form the audit path of leaf m in [begin, begin+n), bottom-up.
void pathRanges(uint64_t m, uint64_t begin, uint64_t n,
                std::vector<std::pair<uint64_t, uint64_t>>& out) {
  if (n <= 1) return;
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  if (m < k) {
    pathRanges(m, begin, k, out);
    out.emplace_back(begin + k, n - k);
  } else {
    pathRanges(m - k, begin + k, n - k, out);
    out.emplace_back(begin, k);
  }
}

// The key name of a note's first signature line.
std::string noteKeyName(std::string_view note) {
  const size_t blank = note.find("\n\n");
  if (blank == std::string_view::npos) return "";
  std::string_view line = note.substr(blank + 2);
  line = line.substr(0, line.find('\n'));
  const std::string_view dash = "\xE2\x80\x94 ";
  if (line.substr(0, dash.size()) != dash) return "";
  line.remove_prefix(dash.size());
  return std::string(line.substr(0, line.find(' ')));
}

}  // namespace

StatusOr<std::string> proveInclusion(Env& env, const std::string& dir, uint64_t seq) {
  ASSIGN_OR_RETURN(LogReader reader, LogReader::open(env, dir));
  if (!reader.segmentFirstSeqs().empty() && reader.segmentFirstSeqs().front() != 0) {
    return unavailable("records before seq " + std::to_string(reader.segmentFirstSeqs().front()) +
                       " were removed by retention: no proofs from this log");
  }
  // Pass 1: the record, the newest checkpoint covering it, the signing keys.
  std::string payload;
  bool found = false;
  uint64_t cp_size = 0;
  std::string cp_note;
  std::vector<std::pair<std::string, std::string>> keys;  // name, base64 public key
  Status inner = okStatus();
  Status s = reader.forEach(0, LogReader::kNoLimit, LogReader::kNoLimit,
                            [&](uint64_t at, std::string_view p) {
    if (at == seq) {
      payload.assign(p);
      found = true;
    }
    const bool cp = p.find("\"type\":\"checkpoint\"") != std::string_view::npos;
    const bool key = p.find("\"type\":\"key\"") != std::string_view::npos;
    if (!cp && !key) return true;
    auto json = parseJson(p);
    if (!json.isOk()) return true;
    const JsonValue* type = json->find("type");
    if (type == nullptr || !type->isString()) return true;
    if (type->asString() == "checkpoint") {
      const JsonValue* size = json->find("size");
      const JsonValue* note = json->find("note");
      if (size != nullptr && size->isInt() && note != nullptr && note->isString() &&
          size->asInt() > 0 && static_cast<uint64_t>(size->asInt()) > seq) {
        cp_size = static_cast<uint64_t>(size->asInt());
        cp_note = note->asString();
      }
    } else if (type->asString() == "key") {
      const JsonValue* name = json->find("key_name");
      const JsonValue* pub = json->find("public_key");
      if (name != nullptr && name->isString() && pub != nullptr && pub->isString()) {
        keys.emplace_back(name->asString(), pub->asString());
      }
    }
    return true;
  });
  RETURN_IF_ERROR(s);
  if (!found) return notFound("no record with seq " + std::to_string(seq));
  if (cp_size == 0) return notFound("no checkpoint covers seq " + std::to_string(seq) + " yet");

  // Pass 2: the roots of the audit path's subtrees, streaming the leaves.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  pathRanges(seq, 0, cp_size, ranges);
  std::vector<CompactRange> roots(ranges.size());
  s = reader.forEach(0, cp_size, LogReader::kNoLimit, [&](uint64_t at, std::string_view p) {
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (at >= ranges[i].first && at < ranges[i].first + ranges[i].second) {
        roots[i].append(leafHash(p));
        break;
      }
    }
    return true;
  });
  RETURN_IF_ERROR(s);

  const std::string key_name = noteKeyName(cp_note);
  std::string public_key;
  for (const auto& k : keys) {
    if (k.first == key_name) public_key = k.second;  // the newest key of that name
  }
  std::string out = "{\"format\":\"";
  out += kFormat;
  out += "\",\"seq\":";
  json::appendUint(out, seq);
  out += ",\"payload_base64\":\"";
  out += base64Encode(payload);
  out += "\",\"leaf_hash\":\"";
  out += toHex(leafHash(payload));
  out += "\",\"tree_size\":";
  json::appendUint(out, cp_size);
  out += ",\"proof\":[";
  for (size_t i = 0; i < roots.size(); ++i) {
    if (roots[i].size() != ranges[i].second) return dataLoss("the log ended while proving");
    if (i > 0) out += ',';
    out += '"';
    out += toHex(roots[i].root());
    out += '"';
  }
  out += "],\"checkpoint_note\":";
  json::appendString(out, cp_note);
  out += ",\"public_key\":";
  json::appendString(out, public_key);
  out += ",\"key_name\":";
  json::appendString(out, key_name);
  out += "}\n";
  return out;
}

StatusOr<ProvedRecord> verifyProof(std::string_view document, const NoteVerifier& verifier) {
  auto json = parseJson(document);
  if (!json.isOk()) return invalidArgument("proof: not JSON: " + json.status().message());
  const JsonValue* format = json->find("format");
  const JsonValue* seq = json->find("seq");
  const JsonValue* payload_b64 = json->find("payload_base64");
  const JsonValue* leaf_hex = json->find("leaf_hash");
  const JsonValue* size = json->find("tree_size");
  const JsonValue* proof = json->find("proof");
  const JsonValue* note = json->find("checkpoint_note");
  if (format == nullptr || !format->isString() || format->asString() != kFormat) {
    return invalidArgument("proof: not a stepgate-inclusion-proof/1 document");
  }
  if (seq == nullptr || !seq->isInt() || seq->asInt() < 0 || size == nullptr || !size->isInt() ||
      size->asInt() <= 0 || payload_b64 == nullptr || !payload_b64->isString() ||
      leaf_hex == nullptr || !leaf_hex->isString() || proof == nullptr || !proof->isArray() ||
      note == nullptr || !note->isString()) {
    return invalidArgument("proof: missing or mistyped fields");
  }
  ProvedRecord out;
  out.seq = static_cast<uint64_t>(seq->asInt());
  out.tree_size = static_cast<uint64_t>(size->asInt());
  if (!base64Decode(payload_b64->asString(), out.payload)) {
    return invalidArgument("proof: payload_base64 is not base64");
  }
  Hash leaf{};
  if (!fromHex(leaf_hex->asString(), leaf) || leaf != leafHash(out.payload)) {
    return dataLoss("proof: leaf_hash is not the hash of the payload");
  }
  auto record = parseJson(out.payload);
  const JsonValue* rec_seq = record.isOk() ? record->find("seq") : nullptr;
  if (rec_seq == nullptr || !rec_seq->isInt() || rec_seq->asInt() != seq->asInt()) {
    return dataLoss("proof: the record's own seq is not the proved seq");
  }
  if (proof->asArray().size() > 64) return invalidArgument("proof: audit path too long");
  std::vector<Hash> path;
  for (const JsonValue& h : proof->asArray()) {
    Hash node{};
    if (!h.isString() || !fromHex(h.asString(), node)) {
      return invalidArgument("proof: audit path entries must be hex hashes");
    }
    path.push_back(node);
  }
  auto cp = verifier.verify(note->asString());
  if (!cp.isOk()) return cp.status();
  if (cp->size != out.tree_size) return dataLoss("proof: tree_size differs from the checkpoint's");
  if (!verifyInclusion(leaf, out.seq, out.tree_size, path, cp->root)) {
    return dataLoss("proof: the audit path does not lead to the checkpoint's root");
  }
  out.origin = cp->origin;
  return out;
}

}  // namespace stepgate::audit
