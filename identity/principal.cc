#include "identity/principal.h"

#include <algorithm>

namespace stepgate::identity {

const char* authMethodName(AuthMethod m) noexcept {
  switch (m) {
    case AuthMethod::kNone: return "none";
    case AuthMethod::kJwt: return "jwt";
    case AuthMethod::kIntrospection: return "introspection";
    case AuthMethod::kClientCertificate: return "client_certificate";
    case AuthMethod::kSession: return "session";
  }
  return "none";
}

bool Principal::inGroup(std::string_view g) const {
  // groups is sorted and unique (see principal.h).
  auto it = std::lower_bound(groups.begin(), groups.end(), g,
                             [](const std::string& a, std::string_view b) { return a < b; });
  return it != groups.end() && *it == g;
}

}  // namespace stepgate::identity
