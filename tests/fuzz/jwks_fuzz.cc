// libFuzzer target for the identity control plane's parsers: JWKS documents
// (identity/key_set.h), OIDC discovery documents (identity/oidc_discovery.h), Cache-Control
// max-age and fetch URLs (identity/http_fetch.h). Every input goes to all of them.
// Checked beyond "no crash, no sanitizer report":
//  - every key parseJwks() returns has a public key, a kty it verifies and fits() at least
//    one algorithm; candidates() returns only keys that fit, and the key a kid names;
//  - an accepted discovery document names the expected issuer and allowed URLs;
//  - a Cache-Control max-age lies within [0, ten years] and needs a directive to exist;
//  - an accepted URL has a lowercase host, a port, a target starting with '/', obeys the
//    loopback rule for http, and its redacted() form parses back to the same URL minus
//    the query; discoveryUrl() of an accepted issuer is an accepted URL.

#include "tests/fuzz/fuzz_check.h"
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "identity/http_fetch.h"
#include "identity/key_set.h"
#include "identity/oidc_discovery.h"

namespace {

using namespace stepgate::identity;  // NOLINT: a fuzz target over this namespace
using stepgate::StatusOr;


constexpr std::array<JwsAlg, 13> kAllAlgs = {
    JwsAlg::kRS256, JwsAlg::kRS384, JwsAlg::kRS512, JwsAlg::kPS256, JwsAlg::kPS384,
    JwsAlg::kPS512, JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512, JwsAlg::kEdDSA,
    JwsAlg::kHS256, JwsAlg::kHS384, JwsAlg::kHS512};

constexpr std::string_view kIssuer = "https://idp.example.com";
constexpr int64_t kTenYears = 10LL * 365 * 24 * 3600;
constexpr size_t kMaxLineBytes = 2048;  // longer inputs are documents, not URLs or headers

void checkJwks(std::string_view text) {
  std::vector<std::string> warnings;
  StatusOr<KeySet> set = parseJwks(text, warnings);
  if (!set.isOk()) {
    return;
  }
  for (const Jwk& k : set->keys) {
    FUZZ_CHECK(k.public_key != nullptr);
    FUZZ_CHECK(k.secret.empty());
    FUZZ_CHECK(k.kty == "RSA" || k.kty == "EC" || k.kty == "OKP");
    bool any = false;
    for (JwsAlg alg : kAllAlgs) {
      if (!k.fits(alg)) continue;
      any = true;
      FUZZ_CHECK(alg != JwsAlg::kHS256 && alg != JwsAlg::kHS384 && alg != JwsAlg::kHS512);
      if (!k.alg.empty()) FUZZ_CHECK(k.alg == jwsAlgName(alg));
    }
    FUZZ_CHECK(any);
  }
  for (JwsAlg alg : kAllAlgs) {
    for (const Jwk* k : set->candidates("", alg)) FUZZ_CHECK(k->fits(alg));
    for (const Jwk& named : set->keys) {
      if (named.kid.empty()) continue;
      for (const Jwk* k : set->candidates(named.kid, alg)) {
        FUZZ_CHECK(k->fits(alg) && k->kid == named.kid);
      }
    }
  }
}

void checkUrl(std::string_view text) {
  StatusOr<FetchUrl> url = parseFetchUrl(text);
  if (!url.isOk()) {
    return;
  }
  const FetchUrl& u = *url;
  FUZZ_CHECK(!u.host.empty() && u.port != 0);
  FUZZ_CHECK(std::none_of(u.host.begin(), u.host.end(), [](char c) {
    return c >= 'A' && c <= 'Z';
  }));
  FUZZ_CHECK(!u.target.empty() && u.target.front() == '/');
  FUZZ_CHECK(!u.path.empty() && u.path.front() == '/');
  FUZZ_CHECK(u.target.compare(0, u.path.size(), u.path) == 0);
  FUZZ_CHECK(u.path.find('?') == std::string::npos);
  FUZZ_CHECK(u.target.find('#') == std::string::npos);
  if (!u.https) FUZZ_CHECK(u.host == "localhost" || isLoopbackLiteral(u.host));

  const std::string redacted = u.redacted();
  StatusOr<FetchUrl> back = parseFetchUrl(redacted);
  FUZZ_CHECK(back.isOk());
  FUZZ_CHECK(back->https == u.https && back->host == u.host && back->port == u.port);
  FUZZ_CHECK(back->path == u.path && back->target == u.path);

  if (u.target.find('?') == std::string::npos) {
    StatusOr<std::string> d = discoveryUrl(text);
    FUZZ_CHECK(d.isOk());
    FUZZ_CHECK(d->ends_with("/.well-known/openid-configuration"));
    FUZZ_CHECK(parseFetchUrl(*d).isOk());
  }
}

void checkDiscovery(std::string_view text) {
  StatusOr<OidcMetadata> meta = parseDiscoveryDocument(text, kIssuer);
  if (!meta.isOk()) {
    return;
  }
  FUZZ_CHECK(meta->issuer == kIssuer);
  FUZZ_CHECK(parseFetchUrl(meta->jwks_uri).isOk());
  FUZZ_CHECK(meta->introspection_endpoint.empty() ||
             parseFetchUrl(meta->introspection_endpoint).isOk());
}

bool containsIgnoreCase(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) {
                       auto lower = [](char c) {
                         return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
                       };
                       return lower(a) == lower(b);
                     }) != haystack.end();
}

void checkCacheControl(std::string_view text) {
  const std::optional<std::chrono::seconds> age = parseCacheControlMaxAge(text);
  if (!age) {
    return;
  }
  FUZZ_CHECK(age->count() >= 0 && age->count() <= kTenYears);
  if (age->count() == 0) {
    FUZZ_CHECK(containsIgnoreCase(text, "no-") || containsIgnoreCase(text, "max-age"));
  } else {
    FUZZ_CHECK(containsIgnoreCase(text, "max-age"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  checkJwks(text);
  checkDiscovery(text);
  if (size > kMaxLineBytes) {
    return 0;
  }
  checkCacheControl(text);
  checkUrl(text);
  // Header values and URLs are short: also try each line of a short input.
  size_t start = 0;
  for (int lines = 0; start < text.size() && lines < 16; ++lines) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (line.size() != text.size()) {
      checkCacheControl(line);
      checkUrl(line);
    }
    start = end + 1;
  }
  return 0;
}
