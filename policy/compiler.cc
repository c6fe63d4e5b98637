#include "policy/compiler.h"

#include <algorithm>

#include "policy/glob.h"

namespace stepgate::policy {

CompiledPolicyConstSharedPtr compile(PolicySet set) {
  std::shared_ptr<CompiledPolicy> out(new CompiledPolicy());
  out->set_ = std::move(set);
  using Lists = std::array<std::vector<uint32_t>, CompiledPolicy::kLists>;
  // Build per (upstream, pattern) the uncompressed lists, then compress.
  std::unordered_map<std::string, std::unordered_map<std::string, Lists>> building;
  uint32_t index = 0;
  for (const PolicyFile& file : out->set_.files) {
    const bool shadow = file.mode == Mode::kShadow;
    for (const Rule& rule : file.rules) {
      out->rules_.push_back({&rule, shadow});
      const unsigned kind = (shadow ? 2u : 0u) + (rule.effect == Effect::kAllow ? 1u : 0u);
      for (const std::string& wf : file.workflows) {
        Lists& lists = building[file.upstream][wf];
        for (unsigned a = 0; a < kActionCount; ++a) {
          if (rule.actions.has(static_cast<Action>(a))) {
            std::vector<uint32_t>& l = lists[kind * kActionCount + a];
            if (l.empty() || l.back() != index) {
              l.push_back(index);
            }
          }
        }
      }
      ++index;
    }
  }
  for (auto& [upstream, patterns] : building) {
    CompiledPolicy::Scope& scope = out->scopes_[upstream];
    for (auto& [pattern, lists] : patterns) {
      CompiledPolicy::Bucket bucket;
      for (unsigned k = 0; k < CompiledPolicy::kLists; ++k) {
        bucket.offsets[k] = static_cast<uint32_t>(bucket.rules.size());
        bucket.rules.insert(bucket.rules.end(), lists[k].begin(), lists[k].end());
      }
      bucket.offsets[CompiledPolicy::kLists] = static_cast<uint32_t>(bucket.rules.size());
      if (isGlob(pattern)) {
        scope.globs.emplace_back(pattern, std::move(bucket));
      } else {
        scope.exact.emplace(pattern, std::move(bucket));
      }
    }
    // Deterministic glob order (the map above is unordered).
    std::sort(scope.globs.begin(), scope.globs.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  return out;
}

}  // namespace stepgate::policy
