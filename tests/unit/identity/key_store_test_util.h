#pragma once
// Helpers for the key store tests: a scripted Fetcher, JWKs made from fresh EC keys (OpenSSL
// key generation only, no stepgate code), temporary files and captured log lines.

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "common/logging.h"
#include "identity/http_fetch.h"

namespace stepgate::identity::testing {

inline std::string base64Url(const unsigned char* data, size_t len) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) {
    out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  }
  return out;
}

// A public P-256 JWK with `kid`, from a freshly generated key.
inline std::string ecJwk(const std::string& kid) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  std::string out;
  if (key != nullptr && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1) {
    unsigned char bx[32];
    unsigned char by[32];
    BN_bn2binpad(x, bx, sizeof(bx));
    BN_bn2binpad(y, by, sizeof(by));
    out = R"({"kty":"EC","crv":"P-256","use":"sig","kid":")" + kid + R"(","x":")" +
          base64Url(bx, sizeof(bx)) + R"(","y":")" + base64Url(by, sizeof(by)) + R"("})";
  }
  BN_free(x);
  BN_free(y);
  EVP_PKEY_free(key);
  return out;
}

// {"keys":[...]} of fresh EC keys with these kids (plus any extra raw JWK objects).
inline std::string jwksWithKids(const std::vector<std::string>& kids,
                                const std::vector<std::string>& extra = {}) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const auto& kid : kids) {
    out += first ? "" : ",";
    out += ecJwk(kid);
    first = false;
  }
  for (const auto& raw : extra) {
    out += first ? "" : ",";
    out += raw;
    first = false;
  }
  return out + "]}";
}

inline HttpResponse ok(std::string body, std::optional<std::chrono::seconds> max_age = {}) {
  HttpResponse r;
  r.status = 200;
  r.body = std::move(body);
  r.content_type = "application/json";
  r.max_age = max_age;
  return r;
}

// A Fetcher answering from a script: per URL, the last answer set. Counts calls per URL.
// Thread-safe (the KeyStore's thread and the test may both use it).
class FakeFetcher final : public Fetcher {
 public:
  void set(const std::string& url, StatusOr<HttpResponse> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_.insert_or_assign(url, std::move(answer));
  }
  void fail(const std::string& url) { set(url, unavailable("connection refused (scripted)")); }

  int calls(const std::string& url) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(url);
    return it == calls_.end() ? 0 : it->second;
  }
  int totalCalls() const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [url, c] : calls_) {
      n += c;
    }
    return n;
  }

  // Fetcher
  StatusOr<HttpResponse> get(const std::string& url, const FetchOptions&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_[url];
    auto it = answers_.find(url);
    if (it == answers_.end()) {
      return unavailable("no scripted answer for " + url);
    }
    return it->second;
  }
  StatusOr<HttpResponse> postForm(const std::string& url, const FormFields&,
                                  const RequestHeaders&, const FetchOptions& o) override {
    return get(url, o);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, StatusOr<HttpResponse>> answers_;
  std::map<std::string, int> calls_;
};

// A file under $TMPDIR removed when destroyed.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    const char* base = std::getenv("TMPDIR");
    path_ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
            "/stepgate-keys-XXXXXX";
    const int fd = ::mkstemp(path_.data());
    if (fd >= 0) {
      size_t off = 0;
      while (off < content.size()) {
        const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
        if (n <= 0) {
          break;
        }
        off += static_cast<size_t>(n);
      }
      ::close(fd);
    }
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sends log lines to a temporary file while alive; text() returns what was written.
class LogCapture {
 public:
  LogCapture() : file_(std::tmpfile()) {
    if (file_ != nullptr) {
      log::setFd(::fileno(file_));
    }
  }
  ~LogCapture() {
    log::setFd(2);
    if (file_ != nullptr) {
      std::fclose(file_);
    }
  }
  std::string text() const {
    std::string out;
    if (file_ == nullptr) {
      return out;
    }
    std::fflush(file_);
    const int fd = ::fileno(file_);
    char buf[4096];
    off_t off = 0;
    ssize_t n = 0;
    while ((n = ::pread(fd, buf, sizeof(buf), off)) > 0) {
      out.append(buf, static_cast<size_t>(n));
      off += n;
    }
    return out;
  }

 private:
  FILE* file_;
};

}  // namespace stepgate::identity::testing
