// The generic profile: route templates over the normalised path -> Operation.

#include "orchestrators/generic.h"

#include <gtest/gtest.h>

namespace stepgate::orchestrators {
namespace {

using policy::Action;

config::RouteConfig route(std::string method, std::string path, std::string action,
                          std::string workflow = {}, std::string step = {}) {
  config::RouteConfig r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.action = std::move(action);
  r.workflow = std::move(workflow);
  r.step = std::move(step);
  return r;
}

GenericProfile conductorLike() {
  return GenericProfile(
      "conductor", {route("POST", "/api/workflow/{workflow}", "start", "{workflow}"),
                    route("GET", "/api/workflow/{id}", "read"),
                    route("POST", "/api/tasks/{workflow}/{step}/complete", "complete-step",
                          "{workflow}", "{step}"),
                    route("*", "/admin/{rest...}", "admin", "system"),
                    route("PUT", "/api/metadata/workflow/", "define"), route("GET", "/", "list")});
}

TEST(GenericProfile, ClassifiesByMethodAndTemplate) {
  const GenericProfile p = conductorLike();
  Classification c = p.classify({"POST", "/api/workflow/payments"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.upstream, "conductor");
  EXPECT_EQ(c.op.workflow, "payments");
  EXPECT_EQ(c.op.step, "");
  EXPECT_EQ(c.op.actions, policy::ActionSet({Action::kStart}));

  c = p.classify({"GET", "/api/workflow/abc-123"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.actions, policy::ActionSet({Action::kRead}));
}

TEST(GenericProfile, StepAndWorkflowFromVariables) {
  const Classification c =
      conductorLike().classify({"POST", "/api/tasks/payments/approve/complete"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "payments");
  EXPECT_EQ(c.op.step, "approve");
  EXPECT_EQ(c.op.actions, policy::ActionSet({Action::kCompleteStep}));
}

TEST(GenericProfile, UnclassifiedWhenNothingMatches) {
  const GenericProfile p = conductorLike();
  EXPECT_FALSE(p.classify({"DELETE", "/api/workflow/payments"}).classified());
  EXPECT_FALSE(p.classify({"POST", "/api/workflow"}).classified());
  EXPECT_FALSE(p.classify({"POST", "/api/workflow/"}).classified());
  EXPECT_FALSE(p.classify({"POST", "/api/workflow/payments/extra"}).classified());
  EXPECT_FALSE(p.classify({"POST", "/api/tasks/payments//complete"}).classified());
  EXPECT_FALSE(p.classify({"GET", "/other"}).classified());
  EXPECT_FALSE(p.classify({"GET", ""}).classified());
  EXPECT_FALSE(p.classify({"GET", "*"}).classified());
  EXPECT_FALSE(GenericProfile("x", {}).classify({"GET", "/"}).classified());
}

TEST(GenericProfile, RestMatchesAnyTailIncludingNothing) {
  const GenericProfile p = conductorLike();
  for (const char* path : {"/admin/", "/admin/a", "/admin/a/b/c", "/admin"}) {
    const Classification c = p.classify({"PATCH", path});
    EXPECT_TRUE(c.classified()) << path;
    EXPECT_EQ(c.op.workflow, "system") << path;
    EXPECT_EQ(c.op.actions, policy::ActionSet({Action::kAdmin})) << path;
  }
  EXPECT_FALSE(p.classify({"PATCH", "/administrator"}).classified());
}

TEST(GenericProfile, TrailingSlashAndRoot) {
  const GenericProfile p = conductorLike();
  EXPECT_TRUE(p.classify({"PUT", "/api/metadata/workflow/"}).classified());
  EXPECT_FALSE(p.classify({"PUT", "/api/metadata/workflow"}).classified());
  const Classification root = p.classify({"GET", "/"});
  EXPECT_TRUE(root.classified());
  EXPECT_EQ(root.op.actions, policy::ActionSet({Action::kList}));
}

TEST(GenericProfile, FirstMatchWinsAndReuseResetsFields) {
  const GenericProfile p(
      "u", {route("POST", "/w/{workflow}/{step}", "complete-step", "{workflow}", "{step}"),
            route("POST", "/w/special/{step}", "skip-step", "special", "{step}")});
  Classification c = p.classify({"POST", "/w/special/s1"});
  EXPECT_EQ(c.op.actions, policy::ActionSet({Action::kCompleteStep}));
  p.classify({"GET", "/w/x/y"}, c);
  EXPECT_FALSE(c.classified());
  EXPECT_TRUE(c.op.actions.empty());
  EXPECT_EQ(c.op.workflow, "");
  EXPECT_EQ(c.op.step, "");
}

TEST(GenericProfile, MakeProfileUsesRoutesForEveryProfileName) {
  config::UpstreamConfig up;
  up.name = "conductor";
  up.profile = "conductor";
  up.routes = {route("POST", "/api/workflow/{w}", "start", "{w}")};
  const ProfileConstSharedPtr p = makeProfile(up);
  const Classification c = p->classify({"POST", "/api/workflow/pay"});
  ASSERT_TRUE(c.classified());
  EXPECT_EQ(c.op.workflow, "pay");
}

}  // namespace
}  // namespace stepgate::orchestrators
