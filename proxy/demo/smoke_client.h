#pragma once
// The example calls of `stepgate demo --smoke`: a real HTTPS client (cpp-httplib over
// OpenSSL, verifying the demo CA) walks a workflow through stepgate — start, read, pause,
// resume, complete a task, terminate — with a bearer token from the development issuer, and
// checks that a call without a token and two path bypasses are refused.
// Blocking; runs on a thread of its own, never on a worker.

#include <cstdint>
#include <string>

namespace stepgate::proxy {

// Returns true iff every call gave the expected status. Appends one line per call to `report`.
// `token` is a bearer token from the demo's development issuer: every call carries it, and
// one call without it must be refused with 401.
bool runDemoSmoke(const std::string& host, uint16_t port, const std::string& ca_file,
                  const std::string& token, std::string& report);

}  // namespace stepgate::proxy
