#pragma once
// The example calls of `stepgate demo --smoke`: a real HTTPS client (cpp-httplib over
// OpenSSL, verifying the demo CA) walks two order-fulfillment runs through stepgate and its
// demo policy, with bearer tokens of two users from the development issuer:
//   - ops (group ops): start, read, pause, resume, terminate, complete the warehouse steps;
//     completing charge-card is refused (403 no_matching_allow), so is a retry;
//   - on-call (group payments-oncall): complete or fail charge-card and retry a run;
//     completing refund is refused (403 denied);
// and checks that a call without a token (401), a call on an unknown workflow id (403
// unresolved) and two path bypasses (400) are refused.
// Blocking; runs on a thread of its own, never on a worker.

#include <cstdint>
#include <string>

namespace stepgate::proxy {

struct DemoSmokeTokens {
  std::string ops;     // a member of group ops
  std::string oncall;  // a member of group payments-oncall
};

// Returns true iff every call gave the expected status (and, for 403, the expected reason).
// Appends one line per call to `report`.
bool runDemoSmoke(const std::string& host, uint16_t port, const std::string& ca_file,
                  const DemoSmokeTokens& tokens, std::string& report);

}  // namespace stepgate::proxy
