#pragma once
// `stepgate audit keygen|verify|prove|verify-proof|export|verify-export|report|hash`: the
// audit log's offline tools (docs/audit.md, "Tools"). Wiring only: flags, then audit/.
// argv[0] is "audit".

namespace stepgate::exe {

int auditCommand(int argc, char** argv);

}  // namespace stepgate::exe
