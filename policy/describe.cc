#include "policy/describe.h"

#include <algorithm>
#include <cstdio>

#include "identity/principal.h"
#include "policy/glob.h"

namespace stepgate::policy {
namespace {

const char* methodName(identity::AuthMethod m) {
  switch (m) {
    case identity::AuthMethod::kNone:
      return "none";
    case identity::AuthMethod::kJwt:
      return "jwt";
    case identity::AuthMethod::kIntrospection:
      return "introspection";
    case identity::AuthMethod::kClientCertificate:
      return "client_certificate";
    case identity::AuthMethod::kSession:
      return "session";
  }
  return "?";
}

std::string claimText(const ClaimCondition& c) {
  switch (c.kind) {
    case ClaimCondition::Kind::kEquals:
      return c.claim + " = " + c.values.front();
    case ClaimCondition::Kind::kIn:
      return c.claim + " in " + describeList(c.values);
    case ClaimCondition::Kind::kExists:
      return c.claim + (c.exists ? " exists" : " absent");
  }
  return c.claim;
}

std::string inputText(const InputCondition& c) {
  std::string v;
  if (c.is_number) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", c.number);
    v = buf;
  } else {
    v = "\"" + c.text + "\"";
  }
  return c.path + " " + compareOpName(c.op) + " " + v;
}

template <typename T>
bool subset(const std::vector<T>& small, const std::vector<T>& big) {
  return std::all_of(small.begin(), small.end(),
                     [&](const T& x) { return std::find(big.begin(), big.end(), x) != big.end(); });
}

// Field of `wide` empty (any), or `narrow`'s field non-empty and a subset of it.
template <typename T>
bool fieldCovers(const std::vector<T>& wide, const std::vector<T>& narrow) {
  return wide.empty() || (!narrow.empty() && subset(narrow, wide));
}

bool sameClaim(const ClaimCondition& a, const ClaimCondition& b) {
  return a.claim == b.claim && a.kind == b.kind && a.values == b.values && a.exists == b.exists;
}

bool sameInput(const InputCondition& a, const InputCondition& b) {
  return a.path == b.path && a.op == b.op && a.is_number == b.is_number && a.number == b.number &&
         a.text == b.text;
}

}  // namespace

std::string describeList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i > 0 ? ", " : "") + items[i];
  }
  return out + "]";
}

std::string describeWho(const Who& who) {
  std::vector<std::string> parts;
  if (!who.groups.empty())
    parts.push_back("groups: " + describeList(who.groups));
  if (!who.subjects.empty())
    parts.push_back("subjects: " + describeList(who.subjects));
  if (!who.providers.empty())
    parts.push_back("providers: " + describeList(who.providers));
  if (!who.methods.empty()) {
    std::vector<std::string> m;
    for (identity::AuthMethod x : who.methods)
      m.emplace_back(methodName(x));
    parts.push_back("methods: " + describeList(m));
  }
  if (!who.claims.empty()) {
    std::vector<std::string> c;
    for (const ClaimCondition& x : who.claims)
      c.push_back(claimText(x));
    parts.push_back("claims: " + describeList(c));
  }
  if (parts.empty())
    return "anyone";
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i)
    out += (i > 0 ? "; " : "") + parts[i];
  return out;
}

std::string describeWhen(const When& when) {
  std::vector<std::string> parts;
  if (when.mfa)
    parts.emplace_back("mfa");
  if (!when.source_ip_text.empty()) {
    parts.push_back("source_ip: " + describeList(when.source_ip_text));
  }
  if (when.time)
    parts.push_back("time: " + when.time_text);
  if (when.started_by_caller) {
    parts.push_back(std::string("started_by_caller: ") +
                    (*when.started_by_caller ? "true" : "false"));
  }
  if (!when.input.empty()) {
    std::vector<std::string> in;
    for (const InputCondition& c : when.input)
      in.push_back(inputText(c));
    parts.push_back("input: " + describeList(in));
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i)
    out += (i > 0 ? "; " : "") + parts[i];
  return out;
}

bool patternCovers(std::string_view wide, std::string_view narrow) {
  if (wide == narrow || wide == "*")
    return true;
  if (!isGlob(narrow))
    return globMatch(wide, narrow);
  // A glob under a glob: only "prefix*" over a longer prefix is decided.
  if (wide.size() > 0 && wide.back() == '*' && !isGlob(wide.substr(0, wide.size() - 1))) {
    return narrow.substr(0, wide.size() - 1) == wide.substr(0, wide.size() - 1);
  }
  return false;
}

bool patternsCover(const std::vector<std::string>& wide, const std::vector<std::string>& narrow) {
  if (wide.empty())
    return true;
  if (narrow.empty())
    return false;
  return std::all_of(narrow.begin(), narrow.end(), [&](const std::string& n) {
    return std::any_of(wide.begin(), wide.end(),
                       [&](const std::string& w) { return patternCovers(w, n); });
  });
}

bool whoCovers(const Who& wide, const Who& narrow) {
  if (!fieldCovers(wide.groups, narrow.groups) || !fieldCovers(wide.subjects, narrow.subjects) ||
      !fieldCovers(wide.providers, narrow.providers) ||
      !fieldCovers(wide.methods, narrow.methods)) {
    return false;
  }
  return std::all_of(wide.claims.begin(), wide.claims.end(), [&](const ClaimCondition& w) {
    return std::any_of(narrow.claims.begin(), narrow.claims.end(),
                       [&](const ClaimCondition& n) { return sameClaim(w, n); });
  });
}

bool whenCovers(const When& wide, const When& narrow) {
  if (wide.mfa && !narrow.mfa)
    return false;
  if (!wide.source_ip_text.empty() && wide.source_ip_text != narrow.source_ip_text)
    return false;
  if (wide.time && (!narrow.time || wide.time_text != narrow.time_text))
    return false;
  if (wide.started_by_caller && wide.started_by_caller != narrow.started_by_caller)
    return false;
  return std::all_of(wide.input.begin(), wide.input.end(), [&](const InputCondition& w) {
    return std::any_of(narrow.input.begin(), narrow.input.end(),
                       [&](const InputCondition& n) { return sameInput(w, n); });
  });
}

bool whenEmpty(const When& when) {
  return !when.mfa && when.source_ip.empty() && !when.time && !when.started_by_caller &&
         when.input.empty();
}

}  // namespace stepgate::policy
