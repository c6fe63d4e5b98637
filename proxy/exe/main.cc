// stepgate: an identity-aware access proxy for workflow-orchestrator APIs.
#include <cstdio>
#include <cstring>

#include "proxy/exe/commands.h"
#include "proxy/exe/audit_command.h"
#include "proxy/exe/policy_commands.h"
#include "proxy/exe/profiles_command.h"

namespace {

constexpr char kUsage[] =
    "usage: stepgate <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve -c FILE     run the proxy with the config FILE\n"
    "  check -c FILE     validate the config FILE (and its certificates) and exit\n"
    "  demo [--state-dir DIR] [--port N] [--admin-port N] [--smoke]\n"
    "                    run stepgate over TLS in front of the built-in demo orchestrator\n"
    "  demo --orchestrator-only [--port N] [--listen ADDR]\n"
    "                    run only the demo orchestrator (an upstream for your own config)\n"
    "  token mint [--state-dir DIR] [--sub S] [--groups a,b] [--aud A] [--ttl SECONDS] [--mfa]\n"
    "                    print a token from the demo's development issuer (not for production)\n"
    "  policy check|test|explain|who-can|diff ...\n"
    "                    review a policy folder (stepgate policy --help; docs/policy.md)\n"
    "  audit keygen|verify|prove|verify-proof|export|verify-export|report|hash ...\n"
    "                    the audit log's tools (stepgate audit --help; docs/audit.md)\n"
    "  profiles list [PROFILE] | classify PROFILE METHOD TARGET ...\n"
    "                    how each orchestrator call is classified (docs/orchestrators.md)\n"
    "  version           print the version\n"
    "\n"
    "See docs/cli.md.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char* cmd = argv[1];
  if (std::strcmp(cmd, "serve") == 0) return stepgate::exe::serveCommand(argc - 1, argv + 1);
  if (std::strcmp(cmd, "check") == 0) return stepgate::exe::checkCommand(argc - 1, argv + 1);
  if (std::strcmp(cmd, "demo") == 0) return stepgate::exe::demoCommand(argc - 1, argv + 1);
  if (std::strcmp(cmd, "token") == 0) return stepgate::exe::tokenCommand(argc - 1, argv + 1);
  if (std::strcmp(cmd, "policy") == 0) return stepgate::exe::policyCommand(argc - 1, argv + 1);
  if (std::strcmp(cmd, "audit") == 0) return stepgate::exe::auditCommand(argc - 1, argv + 1);
  if (std::strcmp(cmd, "profiles") == 0) return stepgate::exe::profilesCommand(argc - 1, argv + 1);
  if (std::strcmp(cmd, "version") == 0 || std::strcmp(cmd, "--version") == 0) {
    std::printf("stepgate %s\n", STEPGATE_VERSION);
    return 0;
  }
  std::fprintf(stderr, "stepgate: unknown command '%s'\n\n%s", cmd, kUsage);
  return 2;
}
