#include "proxy/exe/audit_command.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/env.h"
#include "audit/export.h"
#include "audit/prove.h"
#include "audit/record.h"
#include "audit/report.h"
#include "audit/verify.h"
#include "config/yaml_util.h"
#include "identity/token_verifier.h"

namespace stepgate::exe {

namespace {

constexpr char kUsage[] =
    "usage: stepgate audit <command> ...\n"
    "  keygen FILE [--name NAME]             a new Ed25519 checkpoint key (FILE, FILE.pub)\n"
    "  verify DIR --key PUB.pem [--name NAME] [--against NOTES] [--heartbeat DURATION]\n"
    "         [--live]                       check the log's integrity (exit 1 on a problem)\n"
    "  prove DIR SEQ [--out FILE]            an inclusion proof for record SEQ\n"
    "  verify-proof FILE --key PUB.pem [--name NAME]\n"
    "  export DIR --out OUTDIR --signing-key KEY.pem [--name NAME] [--format jsonl|csv|ocsf]\n"
    "         [--from TIME] [--to TIME] [--from-seq N] [--to-seq N]\n"
    "  verify-export OUTDIR --key PUB.pem [--name NAME]\n"
    "  report DIR [--from TIME] [--to TIME] [--key PUB.pem [--name NAME]]\n"
    "  hash DIR (--token TOKEN | --token-file FILE | --cert-sha256 HEX)\n"
    "                                        the credential_id records carry for a credential\n"
    "See docs/audit.md.\n";

constexpr const char* kDefaultName = "stepgate-audit";

// --flag VALUE options and positionals.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  std::vector<std::string> switches;
  std::string error;

  bool has(const std::string& s) const {
    for (const auto& x : switches) {
      if (x == s) return true;
    }
    return false;
  }
  std::string get(const std::string& k, const std::string& def = {}) const {
    auto it = flags.find(k);
    return it == flags.end() ? def : it->second;
  }
};

Args parse(int argc, char** argv, std::initializer_list<const char*> valued,
           std::initializer_list<const char*> bools) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (s.rfind("--", 0) != 0) {
      a.positional.push_back(s);
      continue;
    }
    bool known = false;
    for (const char* v : valued) {
      if (s == v) {
        if (i + 1 >= argc) {
          a.error = s + " needs a value";
          return a;
        }
        a.flags[s] = argv[++i];
        known = true;
      }
    }
    for (const char* b : bools) {
      if (s == b) {
        a.switches.push_back(s);
        known = true;
      }
    }
    if (!known) {
      a.error = "unknown option " + s;
      return a;
    }
  }
  return a;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "stepgate audit: %s\n%s", why.c_str(), kUsage);
  return 2;
}

bool readAll(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int keygen(int argc, char** argv) {
  Args a = parse(argc, argv, {"--name"}, {});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 1) return usage("keygen needs FILE");
  auto key = audit::SigningKey::generate(a.positional[0], a.get("--name", kDefaultName));
  if (!key.isOk()) {
    std::fprintf(stderr, "stepgate audit keygen: %s\n", key.status().message().c_str());
    return 1;
  }
  std::printf("key %s written to %s (public key %s.pub), key id %08x\n", (*key)->name().c_str(),
              a.positional[0].c_str(), a.positional[0].c_str(), (*key)->keyId());
  return 0;
}

StatusOr<audit::NoteVerifier> verifierFrom(const Args& a) {
  const std::string key = a.get("--key");
  if (key.empty()) return invalidArgument("--key PUB.pem is required");
  return audit::NoteVerifier::fromPublicKeyFile(key, a.get("--name", kDefaultName));
}

int verify(int argc, char** argv) {
  Args a = parse(argc, argv, {"--key", "--name", "--against", "--heartbeat"}, {"--live"});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 1) return usage("verify needs DIR");
  auto v = verifierFrom(a);
  if (!v.isOk()) return usage(v.status().message());
  audit::VerifyOptions o;
  o.keys.push_back(*v);
  o.against_file = a.get("--against");
  o.may_be_running = a.has("--live");
  if (const std::string hb = a.get("--heartbeat"); !hb.empty()) {
    auto d = config::parseDuration(hb);
    if (!d) return usage("--heartbeat: not a duration: " + hb);
    o.heartbeat_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  const audit::VerifyReport r = audit::verifyLog(audit::Env::posix(), a.positional[0], o);
  std::printf("%s\n", r.summary().c_str());
  return r.ok ? 0 : 1;
}

int prove(int argc, char** argv) {
  Args a = parse(argc, argv, {"--out"}, {});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 2) return usage("prove needs DIR SEQ");
  char* end = nullptr;
  const unsigned long long seq = std::strtoull(a.positional[1].c_str(), &end, 10);
  if (end == a.positional[1].c_str() || *end != '\0') return usage("SEQ must be a number");
  auto doc = audit::proveInclusion(audit::Env::posix(), a.positional[0], seq);
  if (!doc.isOk()) {
    std::fprintf(stderr, "stepgate audit prove: %s\n", doc.status().message().c_str());
    return 1;
  }
  const std::string out = a.get("--out");
  if (out.empty()) {
    std::fputs(doc->c_str(), stdout);
    return 0;
  }
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  f << *doc;
  if (!f) {
    std::fprintf(stderr, "stepgate audit prove: cannot write %s\n", out.c_str());
    return 1;
  }
  std::printf("proof for record %llu written to %s\n", seq, out.c_str());
  return 0;
}

int verifyProofCmd(int argc, char** argv) {
  Args a = parse(argc, argv, {"--key", "--name"}, {});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 1) return usage("verify-proof needs FILE");
  auto v = verifierFrom(a);
  if (!v.isOk()) return usage(v.status().message());
  std::string doc;
  if (!readAll(a.positional[0], doc)) return usage("cannot read " + a.positional[0]);
  auto r = audit::verifyProof(doc, *v);
  if (!r.isOk()) {
    std::printf("proof INVALID: %s\n", r.status().message().c_str());
    return 1;
  }
  std::printf("proof ok: record %llu is in the log of %s at tree size %llu\n",
              static_cast<unsigned long long>(r->seq), r->origin.c_str(),
              static_cast<unsigned long long>(r->tree_size));
  return 0;
}

int exportCmd(int argc, char** argv) {
  Args a = parse(argc, argv,
                 {"--out", "--signing-key", "--name", "--format", "--from", "--to", "--from-seq",
                  "--to-seq"},
                 {});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 1) return usage("export needs DIR");
  audit::ExportOptions o;
  if (!audit::parseExportFormat(a.get("--format", "jsonl"), o.format)) {
    return usage("--format: jsonl, csv or ocsf");
  }
  o.out_dir = a.get("--out");
  if (o.out_dir.empty()) return usage("--out OUTDIR is required");
  const std::string key = a.get("--signing-key");
  if (key.empty()) return usage("--signing-key KEY.pem is required (the manifest is signed)");
  auto k = audit::SigningKey::load(key, a.get("--name", kDefaultName));
  if (!k.isOk()) return usage(k.status().message());
  o.key = *k;
  o.from_time = a.get("--from");
  o.to_time = a.get("--to");
  auto seqFlag = [&](const char* f, std::optional<uint64_t>& out) {
    const std::string v = a.get(f);
    if (v.empty()) return true;
    char* end = nullptr;
    out = std::strtoull(v.c_str(), &end, 10);
    return end != v.c_str() && *end == '\0';
  };
  if (!seqFlag("--from-seq", o.from_seq) || !seqFlag("--to-seq", o.to_seq)) {
    return usage("--from-seq/--to-seq must be numbers");
  }
  audit::ExportResult r;
  const Status s = audit::exportRecords(audit::Env::posix(), a.positional[0], o, r);
  if (!s.isOk()) {
    std::fprintf(stderr, "stepgate audit export: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("exported records %llu..%llu (%llu records, %llu %s events) to %s%s\n",
              static_cast<unsigned long long>(r.seq_from),
              static_cast<unsigned long long>(r.seq_to),
              static_cast<unsigned long long>(r.records),
              static_cast<unsigned long long>(r.events), audit::exportFormatName(o.format),
              o.out_dir.c_str(), r.covered ? "" : " (not yet covered by a checkpoint)");
  return 0;
}

int verifyExportCmd(int argc, char** argv) {
  Args a = parse(argc, argv, {"--key", "--name"}, {});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 1) return usage("verify-export needs OUTDIR");
  auto v = verifierFrom(a);
  if (!v.isOk()) return usage(v.status().message());
  const Status s = audit::verifyExport(audit::Env::posix(), a.positional[0], *v);
  if (!s.isOk()) {
    std::printf("export INVALID: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("export ok: every file matches the signed manifest\n");
  return 0;
}

int reportCmd(int argc, char** argv) {
  Args a = parse(argc, argv, {"--from", "--to", "--key", "--name"}, {});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 1) return usage("report needs DIR");
  audit::ReportOptions o;
  o.from = a.get("--from");
  o.to = a.get("--to");
  if (!a.get("--key").empty()) {
    auto v = verifierFrom(a);
    if (!v.isOk()) return usage(v.status().message());
    audit::VerifyOptions vo;
    vo.keys.push_back(*v);
    vo.may_be_running = true;
    o.verify_result = audit::verifyLog(audit::Env::posix(), a.positional[0], vo).summary();
  } else {
    o.verify_result = "not run (no --key given)";
  }
  std::string md;
  const Status s = audit::writeReport(audit::Env::posix(), a.positional[0], o, md);
  if (!s.isOk()) {
    std::fprintf(stderr, "stepgate audit report: %s\n", s.message().c_str());
    return 1;
  }
  std::fputs(md.c_str(), stdout);
  return 0;
}

int hashCmd(int argc, char** argv) {
  Args a = parse(argc, argv, {"--token", "--token-file", "--cert-sha256"}, {});
  if (!a.error.empty()) return usage(a.error);
  if (a.positional.size() != 1) return usage("hash needs DIR");
  audit::CredentialHasher h;
  std::string err;
  const std::string key = a.positional[0] + "/hash.key";
  FILE* f = std::fopen(key.c_str(), "rb");
  if (f == nullptr) return usage("no " + key + " (is DIR an audit log?)");
  std::fclose(f);
  if (!audit::CredentialHasher::loadOrCreate(key, h, err)) return usage(err);
  std::string id;
  if (!a.get("--token").empty() || !a.get("--token-file").empty()) {
    std::string token = a.get("--token");
    if (token.empty() && !readAll(a.get("--token-file"), token)) {
      return usage("cannot read " + a.get("--token-file"));
    }
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    id = identity::credentialId(token);
  } else if (!a.get("--cert-sha256").empty()) {
    std::string hex;
    for (char c : a.get("--cert-sha256")) {
      if (c == ':') continue;
      hex += static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    id = hex.substr(0, 32);
  } else {
    return usage("hash needs --token, --token-file or --cert-sha256");
  }
  std::printf("%s\n", h.hash(id).c_str());
  return 0;
}

}  // namespace

int auditCommand(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "keygen") return keygen(argc - 1, argv + 1);
  if (cmd == "verify") return verify(argc - 1, argv + 1);
  if (cmd == "prove") return prove(argc - 1, argv + 1);
  if (cmd == "verify-proof") return verifyProofCmd(argc - 1, argv + 1);
  if (cmd == "export") return exportCmd(argc - 1, argv + 1);
  if (cmd == "verify-export") return verifyExportCmd(argc - 1, argv + 1);
  if (cmd == "report") return reportCmd(argc - 1, argv + 1);
  if (cmd == "hash") return hashCmd(argc - 1, argv + 1);
  return usage("unknown command '" + cmd + "'");
}

}  // namespace stepgate::exe
