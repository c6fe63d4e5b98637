#include "proxy/exe/profiles_command.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/json_writer.h"
#include "orchestrators/profile.h"

namespace stepgate::exe {

namespace {

constexpr char kUsage[] =
    "usage: stepgate profiles list [PROFILE] [--format markdown|tsv|json]\n"
    "       stepgate profiles classify PROFILE METHOD TARGET [--header 'Name: value']...\n"
    "                                  [--body FILE]\n"
    "profiles: generic conductor step-functions temporal argo airflow\n";

bool knownProfile(std::string_view name) {
  for (std::string_view p : orchestrators::profileNames()) {
    if (p == name) return true;
  }
  return false;
}

orchestrators::ProfileConstSharedPtr profileFor(const std::string& name) {
  config::UpstreamConfig u;
  u.name = name;
  u.profile = name;
  return orchestrators::makeProfile(u);
}

// Markdown cells: '|' escaped, newlines flattened.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out.empty() ? "-" : out;
}

std::string tsvCell(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '\t' || c == '\n') ? ' ' : c;
  return out;
}

int list(int argc, char** argv) {
  std::vector<std::string> names;
  std::string format = "markdown";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
      format = argv[++i];
    } else if (argv[i][0] == '-') {
      std::fprintf(stderr, "stepgate profiles list: unknown option '%s'\n%s", argv[i], kUsage);
      return 2;
    } else {
      names.emplace_back(argv[i]);
    }
  }
  if (format != "markdown" && format != "tsv" && format != "json") {
    std::fprintf(stderr, "stepgate profiles list: unknown format '%s'\n", format.c_str());
    return 2;
  }
  if (names.empty()) {
    for (std::string_view p : orchestrators::profileNames()) {
      if (p != "generic") names.emplace_back(p);
    }
  }
  for (const std::string& n : names) {
    if (!knownProfile(n)) {
      std::fprintf(stderr, "stepgate profiles list: unknown profile '%s'\n%s", n.c_str(), kUsage);
      return 2;
    }
  }
  std::string out;
  if (format == "json") out += "[";
  bool first_row = true;
  for (const std::string& n : names) {
    const auto ops = profileFor(n)->operations();
    if (format == "markdown") {
      out += "## " + n + " (" + std::to_string(ops.size()) + " operations)\n\n";
      out += "| method | path | operation | actions | workflow | step | execution | notes |\n";
      out += "|---|---|---|---|---|---|---|---|\n";
    }
    for (const orchestrators::OperationInfo& o : ops) {
      if (format == "markdown") {
        out += "| " + cell(o.method) + " | `" + cell(o.path) + "` | " + cell(o.name) + " | " +
               cell(o.actions) + " | " + cell(o.workflow) + " | " + cell(o.step) + " | " +
               cell(o.execution) + " | " + cell(o.notes) + " |\n";
      } else if (format == "tsv") {
        out += n + '\t' + tsvCell(o.method) + '\t' + tsvCell(o.path) + '\t' + tsvCell(o.name) +
               '\t' + tsvCell(o.actions) + '\t' + tsvCell(o.workflow) + '\t' + tsvCell(o.step) +
               '\t' + tsvCell(o.execution) + '\t' + tsvCell(o.notes) + '\n';
      } else {
        out += first_row ? "\n" : ",\n";
        first_row = false;
        out += "{\"profile\":";
        json::appendString(out, n);
        const std::pair<const char*, const std::string*> fields[] = {
            {"method", &o.method},     {"path", &o.path}, {"operation", &o.name},
            {"actions", &o.actions},   {"workflow", &o.workflow}, {"step", &o.step},
            {"execution", &o.execution}, {"notes", &o.notes}};
        for (const auto& [k, v] : fields) {
          out += ",\"";
          out += k;
          out += "\":";
          json::appendString(out, *v);
        }
        out += "}";
      }
    }
    if (format == "markdown") out += "\n";
  }
  if (format == "json") out += "\n]\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}

const char* outcomeName(orchestrators::Outcome o) {
  switch (o) {
    case orchestrators::Outcome::kClassified: return "classified";
    case orchestrators::Outcome::kNeedsBody: return "needs-body";
    case orchestrators::Outcome::kNeedsLookup: return "needs-lookup";
    case orchestrators::Outcome::kUnclassified: return "unclassified";
  }
  return "?";
}

void printOperation(const char* label, const policy::Operation& op) {
  std::printf("%s: actions=%s workflow=%s version=%s step=%s execution=%s namespace=%s\n", label,
              op.actions.empty() ? "-" : op.actions.toString().c_str(),
              op.workflow.empty() ? "-" : op.workflow.c_str(),
              op.version.empty() ? "-" : op.version.c_str(),
              op.step.empty() ? "-" : op.step.c_str(),
              op.execution.empty() ? "-" : op.execution.c_str(),
              op.namespace_name.empty() ? "-" : op.namespace_name.c_str());
}

int classify(int argc, char** argv) {
  if (argc < 4) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string profile_name = argv[1];
  if (!knownProfile(profile_name)) {
    std::fprintf(stderr, "stepgate profiles classify: unknown profile '%s'\n", argv[1]);
    return 2;
  }
  const std::string method = argv[2];
  const std::string target = argv[3];
  std::vector<std::string> header_lines;
  std::string body;
  bool has_body = false;
  for (int i = 4; i < argc; ++i) {
    if (std::strcmp(argv[i], "--header") == 0 && i + 1 < argc) {
      header_lines.emplace_back(argv[++i]);
    } else if (std::strcmp(argv[i], "--body") == 0 && i + 1 < argc) {
      std::ifstream in(argv[++i], std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "stepgate profiles classify: cannot read '%s'\n", argv[i]);
        return 2;
      }
      std::ostringstream ss;
      ss << in.rdbuf();
      body = ss.str();
      has_body = true;
    } else {
      std::fprintf(stderr, "stepgate profiles classify: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  if (target.empty() || target[0] != '/') {
    std::fprintf(stderr, "stepgate profiles classify: TARGET must start with '/'\n");
    return 2;
  }
  std::vector<orchestrators::HeaderView> headers;
  for (const std::string& h : header_lines) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr, "stepgate profiles classify: --header needs 'Name: value'\n");
      return 2;
    }
    std::string_view value = std::string_view(h).substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.push_back({std::string_view(h).substr(0, colon), value});
  }
  const size_t q = target.find('?');
  orchestrators::RequestView view;
  view.method = method;
  view.path = std::string_view(target).substr(0, q);
  if (q != std::string::npos) view.query = std::string_view(target).substr(q + 1);
  view.headers = headers;
  std::optional<JsonValue> json;
  const auto profile = profileFor(profile_name);
  orchestrators::Classification c;
  profile->classify(view, c);
  if (c.outcome == orchestrators::Outcome::kNeedsBody) {
    std::printf("needs-body: the profile reads the body of this call\n");
    view.body_read = true;
    view.body = body;
    if (has_body) {
      auto parsed = parseJson(body);
      if (parsed.isOk()) json.emplace(std::move(parsed).value());
    }
    view.json = json ? &*json : nullptr;
    profile->classify(view, c);
  }
  std::printf("outcome: %s\n", outcomeName(c.outcome));
  if (c.outcome == orchestrators::Outcome::kNeedsLookup) {
    for (const auto& k : c.lookups) {
      orchestrators::LookupCall call;
      const bool has = profile->lookupCall(k, call);
      std::printf("lookup: kind=%u scope=%s id=%s id2=%s -> %s %s\n", static_cast<unsigned>(k.kind),
                  k.scope.empty() ? "-" : k.scope.c_str(), k.id.c_str(),
                  k.id2.empty() ? "-" : k.id2.c_str(), has ? call.method.c_str() : "(none)",
                  has ? call.target.c_str() : "");
    }
  }
  if (c.outcome == orchestrators::Outcome::kUnclassified) {
    std::printf("why: %s\n", c.why.empty() ? "-" : std::string(c.why).c_str());
    return 1;
  }
  if (c.outcome == orchestrators::Outcome::kClassified ||
      c.outcome == orchestrators::Outcome::kNeedsLookup) {
    printOperation("operation", c.op);
    for (const auto& more : c.also) printOperation("also", more);
  }
  return 0;
}

}  // namespace

int profilesCommand(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "list") == 0) return list(argc - 1, argv + 1);
  if (std::strcmp(argv[1], "classify") == 0) return classify(argc - 1, argv + 1);
  std::fprintf(stderr, "stepgate profiles: unknown subcommand '%s'\n%s", argv[1], kUsage);
  return 2;
}

}  // namespace stepgate::exe
