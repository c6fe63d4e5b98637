#pragma once
// The example calls of `stepgate demo --smoke`: a real HTTPS client (cpp-httplib over
// OpenSSL, verifying the demo CA) walks a workflow through stepgate — start, read, pause,
// resume, complete a task, terminate — and checks that a path-parameter bypass is refused.
// Blocking; runs on a thread of its own, never on a worker.

#include <cstdint>
#include <string>

namespace stepgate::proxy {

// Returns true iff every call gave the expected status. Appends one line per call to `report`.
bool runDemoSmoke(const std::string& host, uint16_t port, const std::string& ca_file,
                  std::string& report);

}  // namespace stepgate::proxy
