#pragma once
// The built-in profiles (docs/orchestrators.md). makeProfile() in profile.h picks one by the
// upstream's `profile` name; these are for tests and `stepgate profiles`.

#include "orchestrators/profile.h"

namespace stepgate::orchestrators {

ProfileConstSharedPtr makeGenericProfile(const config::UpstreamConfig& upstream);
ProfileConstSharedPtr makeConductorProfile(const config::UpstreamConfig& upstream);
ProfileConstSharedPtr makeStepFunctionsProfile(const config::UpstreamConfig& upstream);
ProfileConstSharedPtr makeTemporalProfile(const config::UpstreamConfig& upstream);
ProfileConstSharedPtr makeArgoProfile(const config::UpstreamConfig& upstream);
ProfileConstSharedPtr makeAirflowProfile(const config::UpstreamConfig& upstream);

}  // namespace stepgate::orchestrators
