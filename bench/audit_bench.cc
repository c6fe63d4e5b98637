// Audit log writer throughput with group commit (docs/audit.md, "Writing"): strict mode,
// producers submitting ~300-byte records as fast as the rings take them, every record
// acknowledged only after its batch's fdatasync. Prints records/s, batches (fdatasyncs)/s and
// the mean batch size for 1 and 4 producers. A benchmark, not a test: it never fails on
// numbers.
//   audit_bench [--dir DIR] [--records N]
// DIR (default: a new directory under $TMPDIR or /tmp) picks the disk; it is removed after.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/log.h"

namespace {

using namespace stepgate::audit;

struct Result {
  double seconds = 0;
  uint64_t records = 0;
  uint64_t batches = 0;
  bool ok = false;
};

Result run(const std::string& base, int producers, uint64_t total) {
  Result r;
  const std::string dir = base + "/p" + std::to_string(producers);
  std::filesystem::create_directories(dir);
  auto key = SigningKey::generate(dir + "/signing.pem", "stepgate-bench");
  if (!key.isOk()) {
    std::fprintf(stderr, "key: %s\n", key.status().toString().c_str());
    return r;
  }
  LogOptions o;
  o.dir = dir + "/log";
  o.key = *key;
  o.ring_capacity = 4096;
  o.low_disk_bytes = 0;
  auto log = AuditLog::open(o);
  if (!log.isOk()) {
    std::fprintf(stderr, "open: %s\n", log.status().toString().c_str());
    return r;
  }
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> failed{0};
  std::vector<Producer*> ps;
  for (int i = 0; i < producers; ++i) {
    ps.push_back(&(*log)->addProducer([&](const std::vector<uint64_t>& cookies, bool ok) {
      (ok ? acked : failed).fetch_add(cookies.size(), std::memory_order_relaxed);
    }));
  }
  (*log)->start();
  while ((*log)->durableSeq() < 2) std::this_thread::yield();  // start and key records
  const LogStats before = (*log)->stats();
  const uint64_t per = total / static_cast<uint64_t>(producers);
  const std::string pad(190, 'x');
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < producers; ++i) {
    threads.emplace_back([&, i] {
      std::string f;
      for (uint64_t n = 0; n < per; ++n) {
        f.clear();
        f += "\"type\":\"request\",\"time\":\"2026-01-01T00:00:00.000000Z\",\"request_id\":\"";
        f += std::to_string(i);
        f += '-';
        f += std::to_string(n);
        f += "\",\"pad\":\"";
        f += pad;
        f += '"';
        while (!ps[i]->submit(f, n)) {
          if (failed.load(std::memory_order_relaxed) != 0) return;
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const uint64_t want = per * static_cast<uint64_t>(producers);
  while (acked.load() + failed.load() < want) std::this_thread::yield();
  const auto t1 = std::chrono::steady_clock::now();
  const LogStats after = (*log)->stats();
  (*log)->stop();
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.records = after.records - before.records;
  r.batches = after.batches - before.batches;
  r.ok = failed.load() == 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  uint64_t total = 400000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (std::strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
      total = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: audit_bench [--dir DIR] [--records N]\n");
      return 2;
    }
  }
  std::string base;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/audit-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    base = tmpl;
  } else {
    base = dir + "/audit-bench";
    std::filesystem::create_directories(base);
  }
  std::printf("%-10s %12s %12s %12s %14s\n", "producers", "records", "records/s", "batches/s",
              "mean batch");
  for (int producers : {1, 4}) {
    const Result r = run(base, producers, total);
    if (r.seconds <= 0 || r.batches == 0) {
      std::printf("%-10d failed\n", producers);
      continue;
    }
    std::printf("%-10d %12llu %12.0f %12.0f %14.1f%s\n", producers,
                static_cast<unsigned long long>(r.records), r.records / r.seconds,
                r.batches / r.seconds, static_cast<double>(r.records) / r.batches,
                r.ok ? "" : "  (the log failed)");
  }
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
  return 0;
}
