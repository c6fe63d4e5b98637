#pragma once
// `stepgate policy check|test|...`: the reviewer tools of the policy module (docs/policy.md,
// "Reviewer tools"). Wiring only: parse flags, load files, call policy/, print, return the exit
// code. argv[0] is "policy".

namespace stepgate::exe {

int policyCommand(int argc, char** argv);

}  // namespace stepgate::exe
