#include "common/status.h"

namespace stepgate {

const char* statusCodeName(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDataLoss:
      return "data_loss";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::toString() const {
  if (isOk())
    return "ok";
  std::string out = statusCodeName(code_);
  out += ": ";
  out += message_;
  return out;
}

Status invalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
Status notFound(std::string m) {
  return {StatusCode::kNotFound, std::move(m)};
}
Status unavailable(std::string m) {
  return {StatusCode::kUnavailable, std::move(m)};
}
Status resourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
Status internalError(std::string m) {
  return {StatusCode::kInternal, std::move(m)};
}
Status dataLoss(std::string m) {
  return {StatusCode::kDataLoss, std::move(m)};
}

}  // namespace stepgate
