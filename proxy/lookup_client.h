#pragma once
// LookupClient: the Resolver's transport for one upstream (orchestrators/resolver.h). Blocking
// cpp-httplib calls on the resolver's threads, never on a worker: to the upstream's resolved
// address (no DNS at run time), with its TLS settings (verified against its CA and name), its
// Host, and stepgate's own lookup credentials (lookup.authorization_file), never a caller's.
// Every call opens its own connection and is bounded by lookup.timeout and a 1 MiB answer.
// The credential and the answers are never logged.

#include <memory>
#include <string>

#include "common/status.h"
#include "config/schema.h"
#include "orchestrators/resolver.h"

namespace stepgate::proxy {

class LookupClient final : public orchestrators::LookupTransport {
 public:
  // Reads the authorization file (trailing CR/LF removed). NotFound/InvalidArgument naming the
  // file, never its content.
  [[nodiscard]] static StatusOr<std::shared_ptr<LookupClient>> create(
      const config::UpstreamConfig& upstream);

  [[nodiscard]] StatusOr<orchestrators::LookupResponse> call(
      const orchestrators::LookupCall& call) override;

  static constexpr size_t kMaxAnswerBytes = 1u << 20;

 private:
  explicit LookupClient(const config::UpstreamConfig& upstream) : upstream_(upstream) {}
  const config::UpstreamConfig upstream_;
  std::string authorization_;  // secret
};

}  // namespace stepgate::proxy
