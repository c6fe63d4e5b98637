#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {

// Placeholder until the Conductor profile lands: the upstream's routes only.
ProfileConstSharedPtr makeConductorProfile(const config::UpstreamConfig& upstream) {
  return makeGenericProfile(upstream);
}

}  // namespace stepgate::orchestrators
