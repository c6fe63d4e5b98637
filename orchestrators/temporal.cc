#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {

// Placeholder until the Temporal profile lands: the upstream's routes only.
ProfileConstSharedPtr makeTemporalProfile(const config::UpstreamConfig& upstream) {
  return makeGenericProfile(upstream);
}

}  // namespace stepgate::orchestrators
