#pragma once
// The Argo Workflows profile (docs/profiles/argo.md): argo-server's /api/v1 grpc-gateway
// routes and its plain HTTP handlers (artifacts, upload, SSO, metrics, UI) -> Operation.
// makeArgoProfile() (orchestrators/profiles.h) builds it; this header names what tests and
// the resolver's callers may need to spell: the lookup kinds and the workflow-name prefix of
// cluster-scoped templates. Constants only; safe from any thread.

#include <cstdint>
#include <string_view>

namespace stepgate::orchestrators::argo {

// LookupKey::kind values of the Argo profile.
enum LookupKind : uint8_t {
  // A Workflow by (namespace = scope, name = id): GET /api/v1/workflows/{ns}/{name}. Names can
  // be reused after deletion, so an answer is only as good as the cache TTL.
  kLookupWorkflow = 1,
  // An archived Workflow by uid (= id): GET /api/v1/archived-workflows/{uid}. Immutable.
  kLookupArchived = 2,
  // A CronWorkflow by (namespace = scope, name = id): GET /api/v1/cron-workflows/{ns}/{name}.
  kLookupCron = 3,
};

// Workflows that run a ClusterWorkflowTemplate, and the cluster templates themselves, are
// named "cluster/<name>" so a policy for a namespaced WorkflowTemplate of the same name never
// covers them (Kubernetes names cannot contain '/').
inline constexpr std::string_view kClusterPrefix = "cluster/";

}  // namespace stepgate::orchestrators::argo
