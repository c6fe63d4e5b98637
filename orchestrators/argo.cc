#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {

// Placeholder until the Argo profile lands: the upstream's routes only.
ProfileConstSharedPtr makeArgoProfile(const config::UpstreamConfig& upstream) {
  return makeGenericProfile(upstream);
}

}  // namespace stepgate::orchestrators
