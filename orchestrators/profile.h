#pragma once
// Profile: how one upstream's API maps a request to a policy Operation (DESIGN.md, "The
// operation model"). A profile is built once per config generation on the control thread,
// then immutable and shared by every worker: classify() is const, pure (no I/O) and safe from
// any number of threads at once.

#include <memory>
#include <string_view>

#include "config/schema.h"
#include "policy/operation.h"

namespace stepgate::orchestrators {

// What a profile sees of a request. The views must outlive the classify call.
struct RequestView {
  std::string_view method;  // as sent, e.g. "POST"
  std::string_view path;    // normalised, without the query
};

struct Classification {
  bool classified = false;  // false: the profile does not know the call (denied: unclassified)
  policy::Operation op;     // when classified; op.upstream is always set
};

class Profile {
 public:
  virtual ~Profile() = default;
  // Fills `out` (reusing its strings' capacity). Never throws for any input.
  virtual void classify(const RequestView& req, Classification& out) const = 0;
  Classification classify(const RequestView& req) const {
    Classification c;
    classify(req, c);
    return c;
  }
};

using ProfileConstSharedPtr = std::shared_ptr<const Profile>;

// The profile for `upstream`. Until the orchestrator-specific profiles exist, every profile
// name (conductor included) behaves as `generic` with the upstream's routes.
ProfileConstSharedPtr makeProfile(const config::UpstreamConfig& upstream);

}  // namespace stepgate::orchestrators
