#include "orchestrators/profile.h"

#include <array>

#include "orchestrators/generic.h"
#include "orchestrators/profile_util.h"
#include "orchestrators/profiles.h"

namespace stepgate::orchestrators {

namespace {

constexpr std::array<std::string_view, 6> kProfileNames = {
    "generic", "conductor", "step-functions", "temporal", "argo", "airflow"};

// A built-in profile with the upstream's own routes in front: a route in the config maps a
// call explicitly (docs/config.md, "routes"), and wins over the built-in classification.
class WithRoutes final : public Profile {
 public:
  WithRoutes(ProfileConstSharedPtr routes, ProfileConstSharedPtr builtin)
      : routes_(std::move(routes)), builtin_(std::move(builtin)) {}

  void classify(const RequestView& req, Classification& out) const override {
    routes_->classify(req, out);
    if (out.classified()) return;
    builtin_->classify(req, out);
  }
  bool lookupCall(const LookupKey& key, LookupCall& out) const override {
    return builtin_->lookupCall(key, out);
  }
  bool parseLookup(const LookupKey& key, int status, std::string_view body,
                   LookupResult& out) const override {
    return builtin_->parseLookup(key, status, body, out);
  }
  void learn(const RequestView& req, const Classification& c, int status, std::string_view body,
             std::vector<Learned>& out) const override {
    builtin_->learn(req, c, status, body, out);
  }
  std::vector<OperationInfo> operations() const override {
    std::vector<OperationInfo> ops = routes_->operations();
    for (OperationInfo& o : builtin_->operations()) ops.push_back(std::move(o));
    return ops;
  }

 private:
  ProfileConstSharedPtr routes_;
  ProfileConstSharedPtr builtin_;
};

}  // namespace

std::string_view RequestView::header(std::string_view name) const noexcept {
  for (const HeaderView& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

const LookupResult* RequestView::lookup(const LookupKey& key) const noexcept {
  for (const ResolvedLookup& r : lookups) {
    if (r.key != nullptr && *r.key == key) return r.result;
  }
  return nullptr;
}

void Classification::reset(std::string_view upstream) {
  outcome = Outcome::kUnclassified;
  op.upstream.assign(upstream);
  op.workflow.clear();
  op.version.clear();
  op.step.clear();
  op.execution.clear();
  op.namespace_name.clear();
  op.actions = {};
  op.input.clear();
  op.started_by_caller_known = false;
  op.started_by_caller = false;
  also.clear();
  lookups.clear();
  why = {};
  learn_response = false;
}

void Classification::unclassified(std::string_view reason) noexcept {
  outcome = Outcome::kUnclassified;
  op.actions = {};
  also.clear();
  lookups.clear();
  why = reason;
}

Classification Profile::classify(const RequestView& req) const {
  Classification c;
  classify(req, c);
  return c;
}

bool Profile::lookupCall(const LookupKey&, LookupCall&) const { return false; }

bool Profile::parseLookup(const LookupKey&, int, std::string_view, LookupResult&) const {
  return false;
}

void Profile::learn(const RequestView&, const Classification&, int, std::string_view,
                    std::vector<Learned>&) const {}

std::span<const std::string_view> profileNames() noexcept { return kProfileNames; }

ProfileConstSharedPtr makeProfile(const config::UpstreamConfig& upstream) {
  const std::string& p = upstream.profile;
  ProfileConstSharedPtr builtin;
  if (p == "conductor") {
    builtin = makeConductorProfile(upstream);
  } else if (p == "step-functions") {
    builtin = makeStepFunctionsProfile(upstream);
  } else if (p == "temporal") {
    builtin = makeTemporalProfile(upstream);
  } else if (p == "argo") {
    builtin = makeArgoProfile(upstream);
  } else if (p == "airflow") {
    builtin = makeAirflowProfile(upstream);
  } else {
    return makeGenericProfile(upstream);
  }
  if (upstream.routes.empty()) return builtin;
  return std::make_shared<WithRoutes>(makeGenericProfile(upstream), std::move(builtin));
}

}  // namespace stepgate::orchestrators
