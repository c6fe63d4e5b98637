#pragma once
// Status and StatusOr<T>: the result of an operation that may fail, used in place of
// exceptions everywhere a request or untrusted input is handled.
//
// A Status is a code from a small canonical set plus a message. The OK status carries no
// message and costs no allocation; an error allocates its message once. Multiple threads may
// call const methods on a Status concurrently; a non-const call needs external synchronisation.
// Only proxy/ maps codes to HTTP statuses.

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace stepgate {

enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,
  kUnauthenticated,
  kPermissionDenied,
  kNotFound,
  kResourceExhausted,
  kUnavailable,
  kDataLoss,
  kInternal,
};

// Returns a stable lowercase name such as "invalid_argument".
const char* statusCodeName(StatusCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() noexcept { return Status(); }

  // Returns true iff the status indicates success.
  bool isOk() const noexcept { return code_ == StatusCode::kOk; }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // "invalid_argument: <message>", or "ok".
  std::string toString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

[[nodiscard]] inline Status okStatus() noexcept {
  return Status();
}
[[nodiscard]] Status invalidArgument(std::string message);
[[nodiscard]] Status notFound(std::string message);
[[nodiscard]] Status unavailable(std::string message);
[[nodiscard]] Status resourceExhausted(std::string message);
[[nodiscard]] Status internalError(std::string message);
[[nodiscard]] Status dataLoss(std::string message);

// StatusOr<T> holds either a value or a non-OK Status.
// REQUIRES: a StatusOr is never built from an OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design

  bool isOk() const noexcept { return v_.index() == 1; }
  const Status& status() const noexcept {
    static const Status kOk;
    return isOk() ? kOk : std::get<0>(v_);
  }
  T& value() & { return std::get<1>(v_); }
  const T& value() const& { return std::get<1>(v_); }
  T&& value() && { return std::get<1>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace stepgate

#define STEPGATE_CONCAT_INNER(a, b) a##b
#define STEPGATE_CONCAT(a, b) STEPGATE_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` yields a non-OK Status.
#define RETURN_IF_ERROR(expr)                     \
  do {                                            \
    ::stepgate::Status stepgate_status_ = (expr); \
    if (!stepgate_status_.isOk())                 \
      return stepgate_status_;                    \
  } while (false)

// Declares `lhs` from a StatusOr expression, returning its Status on error.
#define ASSIGN_OR_RETURN(lhs, expr)                          \
  auto STEPGATE_CONCAT(stepgate_or_, __LINE__) = (expr);     \
  if (!STEPGATE_CONCAT(stepgate_or_, __LINE__).isOk())       \
    return STEPGATE_CONCAT(stepgate_or_, __LINE__).status(); \
  lhs = std::move(STEPGATE_CONCAT(stepgate_or_, __LINE__)).value()
