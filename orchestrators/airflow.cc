#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {

// Placeholder until the Airflow profile lands: the upstream's routes only.
ProfileConstSharedPtr makeAirflowProfile(const config::UpstreamConfig& upstream) {
  return makeGenericProfile(upstream);
}

}  // namespace stepgate::orchestrators
