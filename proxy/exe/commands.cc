#include "proxy/exe/commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "common/logging.h"
#include "config/loader.h"
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

int demoCommand(int argc, char** argv) {
  std::string state_dir = ".state/demo";
  int port = 8443;
  int admin_port = 9901;
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--state-dir" && i + 1 < argc) {
      state_dir = argv[++i];
    } else if (a == "--port" && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (a == "--admin-port" && i + 1 < argc) {
      admin_port = atoi(argv[++i]);
    } else if (a == "--smoke") {
      smoke = true;
    } else {
      fprintf(stderr,
              "usage: stepgate demo [--state-dir DIR] [--port N] [--admin-port N] [--smoke]\n");
      return 2;
    }
  }
  if (port <= 0 || port > 65535 || admin_port <= 0 || admin_port > 65535) {
    fprintf(stderr, "demo: ports must be 1..65535\n");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    fprintf(stderr, "demo: cannot create %s: %s\n", state_dir.c_str(), ec.message().c_str());
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
  auto addr = parseSocketAddress("127.0.0.1:0", true);
  auto orchestrator = proxy::DemoOrchestrator::start(*addr);
  if (!orchestrator.isOk()) {
    fprintf(stderr, "demo: orchestrator: %s\n", orchestrator.status().message().c_str());
    return 1;
  }
  const uint16_t orch_port = (*orchestrator)->port();
  const std::string config_path = state_dir + "/stepgate.yaml";
  {
    std::ofstream f(config_path, std::ios::trunc);
    f << "# Written by `stepgate demo`: stepgate over TLS in front of the built-in demo\n"
         "# orchestrator (a Conductor-compatible subset). Paths are relative to this file.\n"
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
         "admin:\n"
         "  address: 127.0.0.1:" << admin_port << "\n"
         "proxy:\n"
         "  drain_timeout: 5s\n"
         "log:\n"
         "  level: info\n";
    if (!f) {
      fprintf(stderr, "demo: cannot write %s: %s\n", config_path.c_str(), strerror(errno));
      return 1;
    }
  }

  const std::string ca = pki->ca_cert;
  identity::MintRequest mint;
  mint.subject = "demo-user";
  mint.groups = {"ops"};
  const std::string token = (*issuer)->mint(mint);
  bool smoke_ok = true;
  std::thread smoke_thread;
  proxy::ServerOptions opts;
  opts.config_path = config_path;
  opts.on_ready = [&] {
    const std::string base = "https://127.0.0.1:" + std::to_string(port);
    const std::string c = "curl --cacert " + ca + " -H \"Authorization: Bearer $TOKEN\" ";
    printf(
        "\nstepgate demo is running.\n"
        "  proxy (TLS)   %s  ->  demo orchestrator (Conductor API) on 127.0.0.1:%u\n"
        "  admin         http://127.0.0.1:%d/metrics   /healthz   /readyz\n"
        "  dev CA        %s\n\n"
        "A token from the development issuer (subject demo-user, group ops, 1 hour):\n"
        "  export TOKEN=%s\n"
        "  (more: stepgate token mint --state-dir %s --sub alice --groups ops,payments-oncall)\n\n"
        "Try:\n"
        "  %s-X POST %s/api/workflow/order-fulfillment -H 'Content-Type: application/json' "
        "-d '{\"orderId\":\"o-1\"}'\n"
        "  %s%s/api/workflow/<workflowId>\n"
        "  %s-X PUT %s/api/workflow/<workflowId>/pause\n"
        "  %s-X PUT %s/api/workflow/<workflowId>/resume\n"
        "  %s-X DELETE '%s/api/workflow/<workflowId>?reason=demo'\n"
        "  %s'%s/api/workflow/order-fulfillment;v=1'     # refused: path parameter\n"
        "  %s--cert %s --key %s %s/api/metadata/workflow   # with the dev client certificate\n\n"
        "Stop with Ctrl-C.\n\n",
        base.c_str(), orch_port, admin_port, ca.c_str(), token.c_str(), state_dir.c_str(),
        c.c_str(), base.c_str(), c.c_str(),
        base.c_str(), c.c_str(), base.c_str(), c.c_str(), base.c_str(), c.c_str(), base.c_str(),
        c.c_str(), base.c_str(), c.c_str(), pki->client_cert.c_str(), pki->client_key.c_str(),
        base.c_str());
    fflush(stdout);
    if (smoke) {
      smoke_thread = std::thread([&, ca, token] {
        std::string report;
        smoke_ok =
            proxy::runDemoSmoke("127.0.0.1", static_cast<uint16_t>(port), ca, token, report);
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
