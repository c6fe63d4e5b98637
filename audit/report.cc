#include "audit/report.h"

#include <algorithm>
#include <array>
#include <map>
#include <tuple>
#include <vector>

#include "audit/export.h"
#include "common/json.h"

namespace stepgate::audit {

namespace {

const std::string& str(const JsonValue& r, std::string_view pointer) {
  static const std::string kEmpty;
  const JsonValue* v = r.at(pointer);
  return v != nullptr && v->isString() ? v->asString() : kEmpty;
}

std::string intText(const JsonValue& r, std::string_view pointer) {
  const JsonValue* v = r.at(pointer);
  return v != nullptr && v->isInt() ? std::to_string(v->asInt()) : std::string();
}

std::vector<std::string> strings(const JsonValue& r, std::string_view pointer) {
  std::vector<std::string> out;
  const JsonValue* v = r.at(pointer);
  if (v == nullptr)
    return out;
  if (v->isArray()) {
    for (const JsonValue& e : v->asArray())
      if (e.isString())
        out.push_back(e.asString());
  } else if (v->isString() && !v->asString().empty()) {
    std::string_view a = v->asString();
    while (!a.empty()) {
      const size_t comma = a.find(',');
      out.emplace_back(a.substr(0, comma));
      a = comma == std::string_view::npos ? std::string_view() : a.substr(comma + 1);
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty())
      out += sep;
    out += s;
  }
  return out;
}

// A Markdown table cell: characters that would end the cell, start markup or HTML are
// backslash-escaped; control characters become spaces; empty is "-".
std::string cell(std::string_view v) {
  if (v.empty())
    return "-";
  std::string out;
  for (char c : v) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
      continue;
    }
    if (c == '\\' || c == '|' || c == '`' || c == '*' || c == '[' || c == ']' || c == '<' ||
        c == '>')
      out += '\\';
    out += c;
  }
  return out;
}

void row(std::string& md, std::initializer_list<std::string_view> cells) {
  md += '|';
  for (std::string_view c : cells) {
    md += ' ';
    md += cell(c);
    md += " |";
  }
  md += '\n';
}

void header(std::string& md, std::initializer_list<std::string_view> names) {
  row(md, names);
  md += '|';
  for (size_t i = 0; i < names.size(); ++i)
    md += "---|";
  md += '\n';
}

// A counter table keyed by K, bounded: keys past kReportMaxKeys count under `overflow`.
template <typename K, typename V>
struct Bounded {
  std::map<K, V> rows;
  uint64_t overflow = 0;  // records whose key did not fit
  V* get(const K& k) {
    auto it = rows.find(k);
    if (it != rows.end())
      return &it->second;
    if (rows.size() >= kReportMaxKeys) {
      ++overflow;
      return nullptr;
    }
    return &rows.emplace(k, V{}).first->second;
  }
};

struct Decisions {
  uint64_t allow = 0, deny = 0, error = 0;
  void add(const std::string& effect) {
    if (effect == "allow")
      ++allow;
    else if (effect == "deny")
      ++deny;
    else
      ++error;
  }
};

struct Listing {
  std::vector<std::vector<std::string>> rows;
  uint64_t more = 0;
  void add(std::vector<std::string> r) {
    if (rows.size() < kReportMaxListed)
      rows.push_back(std::move(r));
    else
      ++more;
  }
};

void overflowNote(std::string& md, uint64_t n) {
  if (n > 0)
    md += "\n" + std::to_string(n) + " more records fell into rows beyond the report's limit of " +
          std::to_string(kReportMaxKeys) + " rows; they are not itemised.\n";
}

void listing(std::string& md, const Listing& l, std::initializer_list<std::string_view> names,
             const char* none) {
  if (l.rows.empty()) {
    md += none;
    md += '\n';
    return;
  }
  header(md, names);
  for (const auto& r : l.rows) {
    md += '|';
    for (const std::string& c : r) {
      md += ' ';
      md += cell(c);
      md += " |";
    }
    md += '\n';
  }
  if (l.more > 0)
    md += "\n… and " + std::to_string(l.more) + " more (listing limited to " +
          std::to_string(kReportMaxListed) + " rows; export the period for all of them).\n";
}

std::string fence(std::string_view text) {
  size_t run = 0, best = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    best = std::max(best, run);
  }
  return std::string(std::max<size_t>(3, best + 1), '`');
}

}  // namespace

bool isPrivilegedAction(std::string_view a) noexcept {
  return a == "define" || a == "undefine" || a == "admin" || a == "stop" || a == "skip-step" ||
         a == "rerun" || a == "complete-step" || a == "fail-step" || a == "retry";
}

Status writeReport(Env& env, const std::string& dir, const ReportOptions& o, std::string& md) {
  std::string from, to;
  if (!o.from.empty() && !normalizeTimeBound(o.from, from))
    return invalidArgument("report: --from is not an RFC 3339 UTC time: " + o.from);
  if (!o.to.empty() && !normalizeTimeBound(o.to, to))
    return invalidArgument("report: --to is not an RFC 3339 UTC time: " + o.to);
  auto reader = LogReader::open(env, dir);
  if (!reader.isOk())
    return reader.status();

  std::map<std::string, uint64_t> by_type;
  // (subject, provider) -> decisions
  Bounded<std::pair<std::string, std::string>, Decisions> by_principal;
  // (upstream, workflow, action) -> decisions
  Bounded<std::tuple<std::string, std::string, std::string>, Decisions> by_workflow;
  Bounded<std::pair<std::string, std::string>, uint64_t> denials;       // (effect, reason)
  Bounded<std::pair<std::string, std::string>, uint64_t> auth_reasons;  // (reason, provider)
  // (subject, provider, via, event) of browser sign-in records
  Bounded<std::array<std::string, 4>, uint64_t> sessions;
  Listing privileged, shadow, gaps, changes;
  uint64_t shadow_total = 0, privileged_total = 0, in_period = 0, log_records = 0;
  uint64_t first_seq = 0, last_seq = 0;
  Status bad;

  RETURN_IF_ERROR(
      reader->forEach(0, LogReader::kNoLimit, o.limit, [&](uint64_t seq, std::string_view p) {
        ++log_records;
        auto parsed = parseJson(p);
        if (!parsed.isOk() || !parsed->isObject()) {
          bad = dataLoss("record " + std::to_string(seq) + " is not a JSON object");
          return false;
        }
        const JsonValue& r = *parsed;
        const std::string& time = str(r, "/time");
        if ((!from.empty() && time < from) || (!to.empty() && time >= to))
          return true;
        if (in_period == 0)
          first_seq = seq;
        last_seq = seq;
        ++in_period;
        const std::string& type = str(r, "/type");
        if (by_type.size() < kReportMaxKeys || by_type.count(type) > 0)
          ++by_type[type];
        const std::string seq_text = std::to_string(seq);
        const std::string& subject = str(r, "/principal/subject");
        const std::string who = subject.empty() ? "(anonymous)" : subject;

        if (type == "request") {
          const std::string& effect = str(r, "/decision/effect");
          if (auto* d = by_principal.get({who, str(r, "/principal/provider")}))
            d->add(effect);
          const std::vector<std::string> actions = strings(r, "/operation/actions");
          const std::string& upstream = str(r, "/operation/upstream");
          const std::string& workflow = str(r, "/operation/workflow");
          for (const std::string& a :
               actions.empty() ? std::vector<std::string>{"(unclassified)"} : actions)
            if (auto* d = by_workflow.get({upstream, workflow, a}))
              d->add(effect);
          if (effect != "allow") {
            if (auto* n = denials.get({effect, str(r, "/decision/reason")}))
              ++*n;
          }
          bool priv = false;
          for (const std::string& a : actions)
            priv = priv || isPrivilegedAction(a);
          const JsonValue* pf = r.at("/operation/privileged");
          if (pf != nullptr && pf->isBool() && pf->asBool())
            priv = true;
          if (priv) {
            ++privileged_total;
            privileged.add({time, seq_text, who, upstream, workflow, str(r, "/operation/step"),
                            str(r, "/operation/execution"), join(actions, ", "), effect,
                            str(r, "/decision/reason")});
          }
          const std::string& shadow_effect = str(r, "/decision/shadow/effect");
          if (!shadow_effect.empty() && shadow_effect != effect) {
            ++shadow_total;
            shadow.add({time, seq_text, who, workflow, join(actions, ", "), effect, shadow_effect,
                        str(r, "/decision/shadow/reason")});
          }
        } else if (type == "auth_failure") {
          const std::string& provider = str(r, "/auth/provider");
          if (auto* n = auth_reasons.get({str(r, "/auth/reason"), provider}))
            ++*n;
        } else if (type == "session") {
          if (auto* n = sessions.get({who, str(r, "/principal/provider"), str(r, "/session/via"),
                                      str(r, "/session/event")}))
            ++*n;
        } else if (type == "gap") {
          gaps.add({time, seq_text, "gap", "lost " + intText(r, "/lost") + " records"});
        } else if (type == "recovery") {
          gaps.add({time, seq_text, "recovery",
                    "cut " + intText(r, "/cut_bytes") + " bytes of " + str(r, "/segment")});
        } else if (type == "config" || type == "policy") {
          const std::string& error = str(r, "/error");
          changes.add({time, seq_text, type, intText(r, "/generation"), str(r, "/digest"),
                       error.empty() ? "loaded" : "failed: " + error});
        }
        return true;
      }));
  RETURN_IF_ERROR(bad);

  md.clear();
  md += "# stepgate audit evidence report\n\n";
  md += "| | |\n|---|---|\n";
  row(md, {"Period from (inclusive)", from.empty() ? "start of the log" : from});
  row(md, {"Period to (exclusive)", to.empty() ? "end of the log" : to});
  row(md, {"Records in the period", std::to_string(in_period)});
  row(md,
      {"Seq range in the period",
       in_period == 0 ? "none" : std::to_string(first_seq) + " .. " + std::to_string(last_seq)});
  row(md, {"Records read from the log", std::to_string(log_records)});

  md += "\n## Integrity verification\n\n";
  if (o.verify_result.empty()) {
    md +=
        "Not run: this report carries no verify result. Run `stepgate audit verify` on the "
        "log and attach its output.\n";
  } else {
    const std::string f = fence(o.verify_result);
    md += f + "\n" + o.verify_result;
    if (o.verify_result.back() != '\n')
      md += '\n';
    md += f + "\n";
  }

  md += "\n## Records by type\n\n";
  if (by_type.empty()) {
    md += "No records in the period.\n";
  } else {
    header(md, {"type", "records"});
    for (const auto& [t, n] : by_type)
      row(md, {t, std::to_string(n)});
  }

  md += "\n## Access by principal\n\n";
  if (by_principal.rows.empty()) {
    md += "No requests in the period.\n";
  } else {
    header(md, {"subject", "provider", "allowed", "denied", "errors"});
    for (const auto& [k, d] : by_principal.rows)
      row(md, {k.first, k.second, std::to_string(d.allow), std::to_string(d.deny),
               std::to_string(d.error)});
    overflowNote(md, by_principal.overflow);
  }

  md += "\n## Access by workflow\n\n";
  if (by_workflow.rows.empty()) {
    md += "No requests in the period.\n";
  } else {
    header(md, {"upstream", "workflow", "action", "allowed", "denied", "errors"});
    for (const auto& [k, d] : by_workflow.rows)
      row(md, {std::get<0>(k), std::get<1>(k), std::get<2>(k), std::to_string(d.allow),
               std::to_string(d.deny), std::to_string(d.error)});
    overflowNote(md, by_workflow.overflow);
  }

  md += "\n## Privileged actions\n\n";
  md +=
      "Requests naming define, undefine, admin, stop, skip-step, rerun, complete-step, "
      "fail-step or retry (allowed or not): " +
      std::to_string(privileged_total) + ".\n\n";
  listing(md, privileged,
          {"time", "seq", "subject", "upstream", "workflow", "step", "execution", "actions",
           "decision", "reason"},
          "None.");

  md += "\n## Denials by reason\n\n";
  if (denials.rows.empty()) {
    md += "No denials in the period.\n";
  } else {
    header(md, {"effect", "reason", "requests"});
    for (const auto& [k, n] : denials.rows)
      row(md, {k.first, k.second, std::to_string(n)});
    overflowNote(md, denials.overflow);
  }

  md += "\n## Shadow-mode differences\n\n";
  md += "Requests whose shadow decision differs from the enforced one: " +
        std::to_string(shadow_total) + ".\n\n";
  listing(md, shadow,
          {"time", "seq", "subject", "workflow", "actions", "enforced", "shadow", "shadow reason"},
          "None.");

  md += "\n## Authentication failures\n\n";
  if (auth_reasons.rows.empty()) {
    md += "None.\n";
  } else {
    header(md, {"reason", "provider", "failures"});
    for (const auto& [k, n] : auth_reasons.rows)
      row(md, {k.first, k.second, std::to_string(n)});
    overflowNote(md, auth_reasons.overflow);
  }

  md += "\n## Browser sign-ins\n\n";
  if (sessions.rows.empty()) {
    md += "None.\n";
  } else {
    header(md, {"principal", "provider", "via", "event", "count"});
    for (const auto& [k, n] : sessions.rows)
      row(md, {k[0], k[1], k[2], k[3], std::to_string(n)});
    overflowNote(md, sessions.overflow);
  }

  md += "\n## Gaps and recoveries\n\n";
  listing(md, gaps, {"time", "seq", "type", "detail"},
          "None: no record was lost to a full queue and no torn tail was cut.");

  md += "\n## Configuration and policy changes\n\n";
  listing(md, changes, {"time", "seq", "type", "generation", "digest", "result"}, "None.");
  return okStatus();
}

}  // namespace stepgate::audit
