#pragma once
// The Apache Airflow profile (docs/profiles/airflow.md): the stable REST API of Airflow 2.x
// under /api/v1, the public API of Airflow 3.x under /api/v2, and the Airflow 3 sub-apps
// (/auth, /execution, /ui), served by one profile.
//
// workflow = dag_id, execution = dag_run_id, step = task_id (a mapped task's map_index is not
// part of the step). Almost every call names them in the path; bodies are read only where the
// meaning is in the body (state changes, clears, bulk calls, triggers). The one lookup is an
// Airflow 3 backfill id → its dag_id. Built by makeAirflowProfile() (profiles.h); immutable
// and thread-safe like every Profile.

#include <cstdint>

namespace stepgate::orchestrators {

// LookupKey::kind values of the Airflow profile.
inline constexpr uint8_t kAirflowLookupBackfill = 1;  // id: backfill id → the backfill's dag_id

}  // namespace stepgate::orchestrators
