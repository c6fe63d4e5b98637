#pragma once
// Compiling a validated PolicySet (loader.h) into a CompiledPolicy (evaluator.h). Runs on the
// control thread; the result is immutable and published to workers as a shared snapshot.
// Cost: linear in the number of (rule, workflow pattern, action) triples.

#include "policy/evaluator.h"
#include "policy/model.h"

namespace stepgate::policy {

// Takes the set by value: the compiled policy owns it (the tools read it back through set()).
CompiledPolicyConstSharedPtr compile(PolicySet set);

}  // namespace stepgate::policy
