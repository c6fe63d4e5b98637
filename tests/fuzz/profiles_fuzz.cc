// libFuzzer target for the orchestrator profiles (orchestrators/*.cc): everything a caller
// controls — method, path, query, headers, body — and everything an orchestrator answers —
// lookup answers, relayed responses — goes through every profile's classify(), parseLookup()
// and learn(), plus the route table and the strict query decoder.
//
// Input layout: byte 0 picks the profile, byte 1 the method and flags, then four fields
// separated by 0xFF bytes: path, query, the value of the profile's key header
// (X-Amz-Target for Step Functions, Content-Type otherwise), body. Lookup answers and the
// learned response reuse the body bytes.
// Checked beyond "no crash, no sanitizer report":
//  - every outcome but kUnclassified keeps op.upstream set; kNeedsLookup names at least one
//    key; kClassified has at least one action on `op` and on every `also` operation;
//  - a profile asked again with every lookup answered never asks for the same key twice
//    (the proxy would deny that as a loop), and the conversation ends within 8 rounds;
//  - classify() is deterministic: the same view gives the same outcome and operation.

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "orchestrators/profile.h"
#include "orchestrators/route_table.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace stepgate;
using namespace stepgate::orchestrators;

const std::vector<ProfileConstSharedPtr>& profiles() {
  static const std::vector<ProfileConstSharedPtr> all = [] {
    std::vector<ProfileConstSharedPtr> v;
    for (std::string_view name : profileNames()) {
      config::UpstreamConfig u;
      u.name = "up";
      u.profile = std::string(name);
      if (name == "generic") {
        config::RouteConfig r;
        r.method = "POST";
        r.path = "/api/workflow/{workflow}";
        r.action = "start";
        r.workflow = "{workflow}";
        u.routes.push_back(r);
      }
      v.push_back(makeProfile(u));
    }
    return v;
  }();
  return all;
}

constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"};

bool sameOp(const policy::Operation& a, const policy::Operation& b) {
  return a.upstream == b.upstream && a.workflow == b.workflow && a.version == b.version &&
         a.step == b.step && a.execution == b.execution && a.namespace_name == b.namespace_name &&
         a.actions == b.actions;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto& all = profiles();
  const Profile& profile = *all[data[0] % all.size()];
  const char* method = kMethods[(data[1] & 0x7) % 6];
  const bool found_answers = (data[1] & 0x8) != 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  std::string_view fields[4];
  for (int i = 0; i < 4; ++i) {
    const size_t cut = i == 3 ? std::string_view::npos : rest.find('\xff');
    fields[i] = rest.substr(0, cut);
    rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
  }
  std::string path(fields[0]);
  if (path.empty() || path[0] != '/') path.insert(path.begin(), '/');
  const std::string_view body = fields[3];

  QueryParams q;
  (void)q.parse(fields[1]);

  std::vector<HeaderView> headers = {{"X-Amz-Target", fields[2]},
                                     {"Content-Type", "application/x-amz-json-1.0"},
                                     {"Content-Type", fields[2]}};
  if (data[1] & 0x10) headers.erase(headers.begin() + 1);

  std::optional<JsonValue> json;
  JsonLimits limits;
  auto parsed = parseJson(body, limits);
  if (parsed.isOk()) json.emplace(std::move(parsed).value());

  RequestView view;
  view.method = method;
  view.path = path;
  view.query = fields[1];
  view.headers = headers;

  std::vector<LookupKey> keys;
  std::vector<std::shared_ptr<LookupResult>> answers;
  std::vector<ResolvedLookup> resolved;
  Classification c;
  for (int round = 0; round < 8; ++round) {
    resolved.clear();
    for (size_t i = 0; i < keys.size(); ++i) resolved.push_back({&keys[i], answers[i].get()});
    view.lookups = resolved;
    profile.classify(view, c);
    if (c.outcome != Outcome::kUnclassified) FUZZ_CHECK(!c.op.upstream.empty());
    // Deterministic: a second call on the same view says the same.
    Classification again;
    profile.classify(view, again);
    FUZZ_CHECK(again.outcome == c.outcome);
    if (c.outcome == Outcome::kClassified) {
      FUZZ_CHECK(sameOp(again.op, c.op));
      FUZZ_CHECK(!c.op.actions.empty());
      for (const auto& more : c.also) FUZZ_CHECK(!more.actions.empty());
      if (c.learn_response) {
        std::vector<Learned> learned;
        profile.learn(view, c, 200, body, learned);
        profile.learn(view, c, 201, body.substr(0, body.size() / 2), learned);
      }
      break;
    }
    if (c.outcome == Outcome::kUnclassified) break;
    if (c.outcome == Outcome::kNeedsBody) {
      if (view.body_read) break;  // asked twice: the proxy denies it
      view.body_read = true;
      view.body = body;
      view.json = json ? &*json : nullptr;
      continue;
    }
    FUZZ_CHECK(!c.lookups.empty());
    for (const LookupKey& k : c.lookups) {
      for (const LookupKey& have : keys) FUZZ_CHECK(!(have == k));
      keys.push_back(k);
      // Every lookup answer path: the call it would make, and the orchestrator's answer
      // (the body bytes) parsed as 200, 404 and 500.
      LookupCall call;
      (void)profile.lookupCall(k, call);
      auto r = std::make_shared<LookupResult>();
      LookupResult scratch;
      (void)profile.parseLookup(k, 404, body, scratch);
      (void)profile.parseLookup(k, 500, body, scratch);
      if (!profile.parseLookup(k, 200, body, *r) || !found_answers) {
        r = std::make_shared<LookupResult>();
        r->failed = !found_answers;
      }
      answers.push_back(std::move(r));
    }
  }
  return 0;
}
