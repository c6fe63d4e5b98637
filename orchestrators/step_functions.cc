#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {

// Placeholder until the StepFunctions profile lands: the upstream's routes only.
ProfileConstSharedPtr makeStepFunctionsProfile(const config::UpstreamConfig& upstream) {
  return makeGenericProfile(upstream);
}

}  // namespace stepgate::orchestrators
