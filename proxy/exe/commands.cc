#include "proxy/exe/commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/logging.h"
#include "config/loader.h"
#include "audit/checkpoint.h"
#include "audit/env.h"
#include "audit/verify.h"
#include "identity/dev_issuer.h"
#include "proxy/demo/demo_orchestrator.h"
#include "proxy/demo/smoke_client.h"
#include "proxy/server.h"
#include "proxy/tls/dev_pki.h"

namespace stepgate::exe {
namespace {

// Finds "-c FILE" / "--config FILE" / "--config=FILE".
bool configFlag(int argc, char** argv, std::string& out) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      out = argv[i + 1];
      return true;
    }
    if (a.rfind("--config=", 0) == 0) {
      out = a.substr(9);
      return true;
    }
  }
  return false;
}

}  // namespace

int serveCommand(int argc, char** argv) {
  std::string path;
  if (!configFlag(argc, argv, path)) {
    fprintf(stderr, "usage: stepgate serve -c FILE\n");
    return 2;
  }
  proxy::ServerOptions opts;
  opts.config_path = path;
  return proxy::Server(std::move(opts)).run();
}

int checkCommand(int argc, char** argv) {
  std::string path;
  if (!configFlag(argc, argv, path)) {
    fprintf(stderr, "usage: stepgate check -c FILE\n");
    return 2;
  }
  auto cfg = config::load(path);
  if (!cfg.isOk()) {
    fprintf(stderr, "%s\n", cfg.status().message().c_str());
    return 1;
  }
  auto rt = proxy::buildRuntime(*cfg, 1);
  if (!rt.isOk()) {
    fprintf(stderr, "%s: %s\n", path.c_str(), rt.status().message().c_str());
    return 1;
  }
  printf("%s: ok (%zu listener(s), %zu upstream(s))\n", path.c_str(), (*cfg)->listeners.size(),
         (*cfg)->upstreams.size());
  return 0;
}

int tokenCommand(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "mint") {
    fprintf(stderr,
            "usage: stepgate token mint [--state-dir DIR] [--sub SUBJECT] [--groups a,b] "
            "[--aud AUDIENCE] [--ttl SECONDS] [--mfa]\n");
    return 2;
  }
  std::string state_dir = ".state/demo";
  identity::MintRequest req;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--state-dir" && has_value) {
      state_dir = argv[++i];
    } else if (a == "--sub" && has_value) {
      req.subject = argv[++i];
    } else if (a == "--aud" && has_value) {
      req.audience = argv[++i];
    } else if (a == "--groups" && has_value) {
      std::string list = argv[++i];
      size_t start = 0;
      while (start <= list.size()) {
        const size_t comma = list.find(',', start);
        const std::string g = list.substr(start, comma - start);
        if (!g.empty()) req.groups.push_back(g);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (a == "--ttl" && has_value) {
      const long ttl = atol(argv[++i]);
      if (ttl <= 0 || ttl > 86400) {
        fprintf(stderr, "token mint: --ttl must be 1..86400 seconds\n");
        return 2;
      }
      req.ttl = std::chrono::seconds(ttl);
    } else if (a == "--mfa") {
      req.mfa = true;
    } else {
      fprintf(stderr, "token mint: unknown or incomplete option '%s'\n", a.c_str());
      return 2;
    }
  }
  auto issuer = identity::DevIssuer::open(state_dir + "/issuer");
  if (!issuer.isOk()) {
    fprintf(stderr, "token mint: %s\n", issuer.status().message().c_str());
    return 1;
  }
  printf("%s\n", (*issuer)->mint(req).c_str());
  return 0;
}

namespace {

// The demo's policy folder, rewritten at every start (edits while it runs are reloaded).
constexpr const char* kDemoOrderPolicy =
    R"(# Written by `stepgate demo` (rewritten at every start; edits are reloaded while it runs).
# Who may do what to order-fulfillment runs, step by step. Steps are Conductor task
# reference names: reserve-stock, charge-card, ship, and refund (runs when ship fails).
workflow: order-fulfillment
upstream: conductor
description: demo; ops run orders, the payments on-call repairs the card charge
rules:
  - id: ops-run
    allow: [start, read, list, pause, resume, stop]
    who: { groups: [ops] }
  - id: ops-warehouse-steps
    allow: [complete-step, fail-step, skip-step]
    steps: [reserve-stock, ship]
    who: { groups: [ops] }
  - id: oncall-read
    allow: [read, list]
    who: { groups: [payments-oncall] }
  - id: oncall-charge-card
    allow: [complete-step, fail-step, rerun]
    steps: [charge-card]
    who: { groups: [payments-oncall] }
  - id: oncall-retry
    allow: [retry]
    who: { groups: [payments-oncall] }
    description: >-
      Conductor's retry re-schedules whatever failed last and names no step, so a rule
      with steps never grants it; completing the retried task is still decided per step.
  - id: oncall-never-refund
    deny: [complete-step, fail-step, skip-step, rerun]
    steps: [refund]
    who: { groups: [payments-oncall] }
  - id: workers-complete
    allow: [complete-step, fail-step, work]
    who: { groups: [workers] }
)";

constexpr const char* kDemoAllPolicy =
    R"(# Written by `stepgate demo` (rewritten at every start; edits are reloaded while it runs).
# Calls that name no single workflow (lists of definitions, polls by task type) match only
# rules of workflow "*".
workflow: "*"
upstream: conductor
rules:
  - id: browse-definitions
    allow: [list]
    who: { groups: [ops, payments-oncall] }
  - id: workers-poll
    allow: [work]
    steps: [reserve_stock, payment, ship_order]
    who: { groups: [workers] }
)";

bool writeFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::trunc);
  f << content;
  f.flush();
  if (!f) {
    fprintf(stderr, "demo: cannot write %s: %s\n", path.c_str(), strerror(errno));
    return false;
  }
  return true;
}

// Single quotes for a POSIX shell.
std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

constexpr const char* kDemoUsage =
    "usage: stepgate demo [--state-dir DIR] [--port N] [--admin-port N] [--smoke]\n"
    "       stepgate demo --orchestrator-only [--port N] [--listen ADDR]\n";

// A port number 0..65535 in plain decimal; -1 for anything else.
int parsePortNumber(const char* text) {
  if (text == nullptr || *text == '\0') return -1;
  int v = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
    if (v > 65535) return -1;
  }
  return v;
}

// `stepgate demo --orchestrator-only`: the demo orchestrator alone, on `listen` (an IPv4 or
// IPv6 literal, brackets optional) and `port` (0: any free port), until SIGTERM or SIGINT.
// Prints one line with its URL once it accepts connections. Exit codes: 0 after a signal,
// 1 when it cannot listen, 2 for a malformed address.
int runOrchestratorOnly(const std::string& listen, int port) {
  std::string host = listen;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const bool v6 = host.find(':') != std::string::npos;
  const std::string bracketed = v6 ? "[" + host + "]" : host;
  auto addr = parseSocketAddress(bracketed + ":" + std::to_string(port), /*allow_zero_port=*/true);
  if (!addr.isOk()) {
    fprintf(stderr, "demo: --listen %s: %s\n", listen.c_str(), addr.status().message().c_str());
    return 2;
  }
  // As `serve` does: the server threads never see these signals (they inherit this mask
  // when they are created below); this thread takes SIGTERM and SIGINT with sigwait.
  sigset_t signals;
  sigset_t previous;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &signals, &previous);
  auto orchestrator = proxy::DemoOrchestrator::start(*addr);
  if (!orchestrator.isOk()) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    fprintf(stderr, "demo: orchestrator: %s\n", orchestrator.status().message().c_str());
    return 1;
  }
  printf("demo orchestrator listening on http://%s:%u\n", bracketed.c_str(),
         static_cast<unsigned>((*orchestrator)->port()));
  fflush(stdout);
  sigset_t wait_for;
  sigemptyset(&wait_for);
  sigaddset(&wait_for, SIGTERM);
  sigaddset(&wait_for, SIGINT);
  int sig = 0;
  sigwait(&wait_for, &sig);
  // The signals stay blocked: a second one, arriving while the server stops, is ignored.
  (*orchestrator)->stop();
  return 0;
}

}  // namespace

int demoCommand(int argc, char** argv) {
  std::string state_dir = ".state/demo";
  int port = -1;  // not given: 8443, or 0 (any free port) with --orchestrator-only
  int admin_port = 9901;
  bool smoke = false;
  bool orchestrator_only = false;
  std::string listen = "127.0.0.1";
  // Options that only the full demo (stepgate, its state and the orchestrator) takes.
  std::string full_demo_option;
  bool listen_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--state-dir" && i + 1 < argc) {
      state_dir = argv[++i];
      full_demo_option = a;
    } else if (a == "--port" && i + 1 < argc) {
      port = parsePortNumber(argv[++i]);
      if (port < 0) {
        fprintf(stderr, "demo: --port must be a number 0..65535\n");
        return 2;
      }
    } else if (a == "--admin-port" && i + 1 < argc) {
      admin_port = parsePortNumber(argv[++i]);
      if (admin_port < 0) {
        fprintf(stderr, "demo: --admin-port must be a number 1..65535\n");
        return 2;
      }
      full_demo_option = a;
    } else if (a == "--smoke") {
      smoke = true;
      full_demo_option = a;
    } else if (a == "--orchestrator-only") {
      orchestrator_only = true;
    } else if (a == "--listen" && i + 1 < argc) {
      listen = argv[++i];
      listen_given = true;
    } else {
      fputs(kDemoUsage, stderr);
      return 2;
    }
  }
  if (orchestrator_only) {
    if (!full_demo_option.empty()) {
      fprintf(stderr, "demo: --orchestrator-only cannot be combined with %s\n%s",
              full_demo_option.c_str(), kDemoUsage);
      return 2;
    }
    return runOrchestratorOnly(listen, port < 0 ? 0 : port);
  }
  if (listen_given) {
    fprintf(stderr, "demo: --listen needs --orchestrator-only\n%s", kDemoUsage);
    return 2;
  }
  if (port < 0) port = 8443;
  if (port <= 0 || port > 65535 || admin_port <= 0 || admin_port > 65535) {
    fprintf(stderr, "demo: ports must be 1..65535\n");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(state_dir + "/policies", ec);
  if (ec) {
    fprintf(stderr, "demo: cannot create %s/policies: %s\n", state_dir.c_str(),
            ec.message().c_str());
    return 1;
  }
  auto pki = proxy::tls::ensureDevPki(state_dir + "/pki");
  if (!pki.isOk()) {
    fprintf(stderr, "demo: %s\n", pki.status().message().c_str());
    return 1;
  }
  auto issuer = identity::DevIssuer::open(state_dir + "/issuer");
  if (!issuer.isOk()) {
    fprintf(stderr, "demo: issuer: %s\n", issuer.status().message().c_str());
    return 1;
  }
  // The audit log's checkpoint key: made once, kept with the state.
  const std::string audit_key = state_dir + "/audit-key.pem";
  if (!std::filesystem::exists(audit_key)) {
    auto key = audit::SigningKey::generate(audit_key, "stepgate-demo-audit");
    if (!key.isOk()) {
      fprintf(stderr, "demo: audit key: %s\n", key.status().message().c_str());
      return 1;
    }
  }
  if (!writeFile(state_dir + "/policies/order-fulfillment.yaml", kDemoOrderPolicy) ||
      !writeFile(state_dir + "/policies/all-workflows.yaml", kDemoAllPolicy)) {
    return 1;
  }
  auto addr = parseSocketAddress("127.0.0.1:0", true);
  auto orchestrator = proxy::DemoOrchestrator::start(*addr);
  if (!orchestrator.isOk()) {
    fprintf(stderr, "demo: orchestrator: %s\n", orchestrator.status().message().c_str());
    return 1;
  }
  const uint16_t orch_port = (*orchestrator)->port();
  const std::string config_path = state_dir + "/stepgate.yaml";
  {
    std::ostringstream f;
    f << "# Written by `stepgate demo`: stepgate over TLS in front of the built-in demo\n"
         "# orchestrator (a Conductor-compatible subset), deciding every call with the\n"
         "# policies in policies/. Paths are relative to this file.\n"
         "listeners:\n"
         "  - name: demo\n"
         "    address: 127.0.0.1:" << port << "\n"
         "    upstream: conductor\n"
         "    tls:\n"
         "      certificates:\n"
         "        - cert: pki/server.pem\n"
         "          key: pki/server.key\n"
         "      client_ca: pki/ca.pem\n"
         "      client_auth: optional\n"
         "upstreams:\n"
         "  conductor:\n"
         "    profile: conductor\n"
         "    url: http://127.0.0.1:" << orch_port << "\n"
         "identity:\n"
         "  providers:\n"
         "    - name: demo\n"
         "      type: jwt\n"
         "      issuer: " << identity::kDevIssuer << "\n"
         "      audiences: [" << identity::kDevAudience << "]\n"
         "      algorithms: [ES256]\n"
         "      typ: at+jwt\n"
         "      jwks_file: issuer/jwks.json\n"
         "      claims: { groups: groups }\n"
         "policies: policies\n"
         "policy:\n"
         "  reveal_rule_ids: true\n"
         "audit:\n"
         "  dir: audit\n"
         "  durability: strict\n"
         "  signing_key: audit-key.pem\n"
         "  key_name: stepgate-demo-audit\n"
         "  checkpoint_interval: 10s\n"
         "admin:\n"
         "  address: 127.0.0.1:" << admin_port << "\n"
         "proxy:\n"
         "  drain_timeout: 5s\n"
         "log:\n"
         "  level: info\n";
    if (!writeFile(config_path, f.str())) return 1;
  }

  const std::string ca = pki->ca_cert;
  proxy::DemoSmokeTokens tokens;
  {
    identity::MintRequest mint;
    mint.subject = "demo-user";
    mint.groups = {"ops"};
    tokens.ops = (*issuer)->mint(mint);
    mint.subject = "oncall-user";
    mint.groups = {"payments-oncall"};
    tokens.oncall = (*issuer)->mint(mint);
  }
  bool smoke_ok = true;
  std::thread smoke_thread;
  proxy::ServerOptions opts;
  opts.config_path = config_path;
  opts.on_ready = [&] {
    const std::string base = "https://127.0.0.1:" + std::to_string(port);
    const std::string c = "curl -sS --cacert \"$CA\" ";
    const std::string as_ops = c + "-H \"Authorization: Bearer $OPS\" ";
    const std::string as_oncall = c + "-H \"Authorization: Bearer $ONCALL\" ";
    const std::string json = "-H 'Content-Type: application/json' ";
    std::string s;
    s += "\nstepgate demo is running.\n";
    s += "  proxy (TLS)   " + base + "  ->  demo orchestrator (Conductor API) on 127.0.0.1:" +
         std::to_string(orch_port) + "\n";
    s += "  admin         http://127.0.0.1:" + std::to_string(admin_port) +
         "/metrics   /healthz   /readyz\n";
    s += "  dev CA        " + ca + "\n";
    s += "  policies      " + state_dir + "/policies/ (edit while it runs: reloaded on save)\n";
    s += "  audit log     " + state_dir + "/audit/ (every decision; check it with\n"
         "                stepgate audit verify " + shellQuote(state_dir + "/audit") +
         " --key " + shellQuote(audit_key + ".pub") + " --name stepgate-demo-audit --live)\n\n";
    s += "Two users, tokens from the development issuer (1 hour):\n";
    s += "  export CA=" + shellQuote(ca) + " BASE=" + base + "\n";
    s += "  export OPS=" + tokens.ops + "    # demo-user, group ops\n";
    s += "  export ONCALL=" + tokens.oncall + "    # oncall-user, group payments-oncall\n";
    s += "  (more: stepgate token mint --state-dir " + shellQuote(state_dir) +
         " --sub alice --groups ops,payments-oncall)\n\n";
    s += "Allowed and denied per step (a 403 names the reason and the deciding rules):\n";
    s += "  WF=$(" + as_ops + "-X POST $BASE/api/workflow/order-fulfillment " + json +
         "-d '{\"orderId\":\"o-1\",\"amount\":42}'); echo $WF\n";
    s += "  " + as_ops + "$BASE/api/workflow/$WF                                   # read\n";
    s += "  " + as_ops + "-X POST $BASE/api/tasks/$WF/reserve-stock/COMPLETED " + json +
         "-d '{}'   # allowed: ops-warehouse-steps\n";
    s += "  " + as_ops + "-X POST $BASE/api/tasks/$WF/charge-card/COMPLETED " + json +
         "-d '{}'     # 403 no_matching_allow\n";
    s += "  TASK=$(" + as_oncall +
         "$BASE/api/workflow/$WF | grep -o '\"taskId\":\"[^\"]*\"' | tail -1 | cut -d'\"' "
         "-f4)\n";
    s += "  " + as_oncall + "-X POST $BASE/api/tasks " + json +
         "-d \"{\\\"workflowInstanceId\\\":\\\"$WF\\\",\\\"taskId\\\":\\\"$TASK\\\","
         "\\\"status\\\":\\\"COMPLETED\\\"}\"   # allowed: oncall-charge-card\n";
    s += "  " + as_ops + "-X POST $BASE/api/tasks/$WF/ship/FAILED " + json +
         "-d '{}'            # ship fails: refund is scheduled\n";
    s += "  " + as_oncall + "-X POST $BASE/api/tasks/$WF/refund/COMPLETED " + json +
         "-d '{}'       # 403 denied: oncall-never-refund\n";
    s += "  " + as_ops + "-X DELETE \"$BASE/api/workflow/$WF?reason=demo\"        # terminate\n";
    s += "A failed charge, retried:\n";
    s += "  WF=$(" + as_ops + "-X POST $BASE/api/workflow/order-fulfillment " + json +
         "-d '{\"orderId\":\"o-2\"}')\n";
    s += "  " + as_ops + "-X POST $BASE/api/tasks/$WF/reserve-stock/COMPLETED " + json +
         "-d '{}'\n";
    s += "  " + as_oncall + "-X POST $BASE/api/tasks/$WF/charge-card/FAILED " + json +
         "-d '{}'    # the run fails\n";
    s += "  " + as_ops + "-X POST $BASE/api/workflow/$WF/retry      # 403 no_matching_allow\n";
    s += "  " + as_oncall + "-X POST $BASE/api/workflow/$WF/retry   # allowed: oncall-retry\n";
    s += "Refused before any policy:\n";
    s += "  " + c + "-o /dev/null -w '%{http_code}\\n' $BASE/api/workflow/order-fulfillment"
         "          # 401: no token\n";
    s += "  " + as_ops + "\"$BASE/api/workflow/order-fulfillment;v=1\"   # 400: path parameter\n";
    s += "With the dev client certificate as well:\n";
    s += "  " + as_ops + "--cert " + shellQuote(pki->client_cert) + " --key " +
         shellQuote(pki->client_key) + " $BASE/api/metadata/workflow\n\n";
    s += "Stop with Ctrl-C.\n\n";
    fputs(s.c_str(), stdout);
    fflush(stdout);
    if (smoke) {
      smoke_thread = std::thread([&, ca, tokens] {
        std::string report;
        smoke_ok =
            proxy::runDemoSmoke("127.0.0.1", static_cast<uint16_t>(port), ca, tokens, report);
        // Every call above is in the audit log, and the log proves its integrity.
        auto verifier = audit::NoteVerifier::fromPublicKeyFile(audit_key + ".pub",
                                                               "stepgate-demo-audit");
        if (verifier.isOk()) {
          audit::VerifyOptions vo;
          vo.keys.push_back(*verifier);
          vo.may_be_running = true;
          const audit::VerifyReport vr =
              audit::verifyLog(audit::Env::posix(), state_dir + "/audit", vo);
          report += std::string(vr.ok ? "ok    " : "FAIL  ") + "audit verify: " + vr.summary() +
                    "\n";
          smoke_ok = smoke_ok && vr.ok;
        } else {
          report += "FAIL  audit verify: " + verifier.status().message() + "\n";
          smoke_ok = false;
        }
        printf("%s%s\n", report.c_str(), smoke_ok ? "demo smoke: all calls as expected"
                                                  : "demo smoke: FAILED");
        fflush(stdout);
        kill(getpid(), SIGTERM);
      });
    }
  };
  const int rc = proxy::Server(std::move(opts)).run();
  if (smoke_thread.joinable()) smoke_thread.join();
  (*orchestrator)->stop();
  if (rc != 0) return rc;
  return smoke_ok ? 0 : 1;
}

}  // namespace stepgate::exe
