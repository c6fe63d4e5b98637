#pragma once
// Fixtures the identity and sign-in tests share: a temporary directory for secret and key
// files, and ScriptedFetcher, a Fetcher that answers from a script (no network), records
// every call and can hold calls at a gate, so that a test decides when the "provider"
// answers. Thread-safe: the code under test may call it from its own threads.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "identity/http_fetch.h"

namespace stepgate::identity::testing {

// A fresh directory <temp>/stepgate-<tag>-<pid>-<n>, removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ =
        std::filesystem::temp_directory_path() /
        ("stepgate-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path(const std::string& name) const { return (path_ / name).string(); }
  // Writes `content` to the file `name` in the directory; returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
    return path(name);
  }

 private:
  std::filesystem::path path_;
};

struct RecordedPost {
  std::string url;
  FormFields form;
  RequestHeaders headers;
  FetchOptions options;
};

// A scripted Fetcher. GETs and POSTs are answered by their own answer, unavailable("no answer
// scripted") until one is set; an answer set by respond*() applies to every later call.
// failGets(n) makes the next n GETs fail as a provider that cannot be reached would. Each
// kind of call has a gate, open at first: while it is closed, calls of that kind wait there
// (at most 10 s, so a test that forgets to open it fails instead of hanging).
class ScriptedFetcher : public Fetcher {
 public:
  using GetAnswer = std::function<StatusOr<HttpResponse>(const std::string& url)>;
  using PostAnswer = std::function<StatusOr<HttpResponse>(const FormFields& form)>;

  static constexpr std::chrono::seconds kGateLimit{10};

  // ---- the script ----

  // Every later GET and POST gets `answer`.
  void respond(StatusOr<HttpResponse> answer) {
    respondToGets([answer](const std::string&) { return answer; });
    respondToPosts([answer](const FormFields&) { return answer; });
  }
  // Every later GET and POST gets a response with `status` and `body`.
  void respond(int status, std::string body) { respond(response(status, std::move(body))); }

  void respondToGets(GetAnswer answer) {
    std::lock_guard<std::mutex> lock(mu_);
    get_answer_ = std::move(answer);
  }
  void respondToGets(int status, std::string body, std::string content_type = {}) {
    const HttpResponse r = response(status, std::move(body), std::move(content_type));
    respondToGets([r](const std::string&) -> StatusOr<HttpResponse> { return r; });
  }
  void respondToPosts(PostAnswer answer) {
    std::lock_guard<std::mutex> lock(mu_);
    post_answer_ = std::move(answer);
  }
  void respondToPosts(int status, std::string body) {
    const HttpResponse r = response(status, std::move(body));
    respondToPosts([r](const FormFields&) -> StatusOr<HttpResponse> { return r; });
  }
  // The next `n` GETs fail with unavailable("connect failed"), whatever their answer.
  void failGets(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    get_failures_ = n;
  }

  // ---- the gates ----

  void closeGetGate() { setGate(get_gate_open_, false); }
  void openGetGate() { setGate(get_gate_open_, true); }
  void closePostGate() { setGate(post_gate_open_, false); }
  void openPostGate() { setGate(post_gate_open_, true); }

  // Waits (bounded) until `n` GETs are in the fetcher at once (with the gate closed: waiting
  // at it).
  bool waitInGet(int n = 1, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return in_get_ >= n; });
  }
  // The same for POSTs.
  bool waitInPost(int n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return in_post_ >= n; });
  }
  // Waits (bounded) until at least `n` POSTs have arrived.
  bool waitForPosts(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return posts_.size() >= n; });
  }

  // ---- what was asked ----

  std::vector<std::string> gets() const {
    std::lock_guard<std::mutex> lock(mu_);
    return gets_;
  }
  std::vector<RecordedPost> posts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return posts_;
  }
  size_t postCount() const {
    std::lock_guard<std::mutex> lock(mu_);
    return posts_.size();
  }
  // The i-th POST (std::out_of_range when there is none).
  RecordedPost post(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return posts_.at(i);
  }

  // ---- Fetcher ----

  StatusOr<HttpResponse> get(const std::string& url, const FetchOptions&) override {
    std::unique_lock<std::mutex> lock(mu_);
    gets_.push_back(url);
    ++in_get_;
    cv_.notify_all();
    cv_.wait_for(lock, kGateLimit, [this] { return get_gate_open_; });
    --in_get_;
    if (get_failures_ > 0) {
      --get_failures_;
      return unavailable("connect failed");
    }
    const GetAnswer answer = get_answer_;
    lock.unlock();
    if (!answer) {
      return unavailable("no answer scripted");
    }
    return answer(url);
  }
  StatusOr<HttpResponse> postForm(const std::string& url, const FormFields& form,
                                  const RequestHeaders& headers,
                                  const FetchOptions& options) override {
    std::unique_lock<std::mutex> lock(mu_);
    posts_.push_back({url, form, headers, options});
    ++in_post_;
    cv_.notify_all();
    cv_.wait_for(lock, kGateLimit, [this] { return post_gate_open_; });
    --in_post_;
    const PostAnswer answer = post_answer_;
    lock.unlock();
    if (!answer) {
      return unavailable("no answer scripted");
    }
    return answer(form);
  }

 private:
  static HttpResponse response(int status, std::string body, std::string content_type = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = std::move(content_type);
    return r;
  }
  void setGate(bool& gate, bool open) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      gate = open;
    }
    cv_.notify_all();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  GetAnswer get_answer_;
  PostAnswer post_answer_;
  int get_failures_ = 0;
  bool get_gate_open_ = true;
  bool post_gate_open_ = true;
  int in_get_ = 0;
  int in_post_ = 0;
  std::vector<std::string> gets_;
  std::vector<RecordedPost> posts_;
};

}  // namespace stepgate::identity::testing
