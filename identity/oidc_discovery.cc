#include "identity/oidc_discovery.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <set>
#include <vector>

namespace stepgate::identity {
namespace {

constexpr size_t kMaxDepth = 32;
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

// SAX pass that rejects duplicate member names and deep nesting before the DOM is built.
class StrictChecker : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, StrictChecker> {
 public:
  bool StartObject() {
    keys_.emplace_back();
    return ++depth_ <= kMaxDepth;
  }
  bool Key(const char* s, rapidjson::SizeType len, bool) {
    if (!keys_.back().emplace(s, len).second) {
      duplicate_.assign(s, std::min<size_t>(len, 64));
      return false;
    }
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool StartArray() { return ++depth_ <= kMaxDepth; }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    return true;
  }

  const std::string& duplicate() const { return duplicate_; }
  bool tooDeep() const { return depth_ > kMaxDepth; }

 private:
  std::vector<std::set<std::string>> keys_;
  size_t depth_ = 0;
  std::string duplicate_;
};

Status parseStrict(std::string_view json, rapidjson::Document& doc) {
  StrictChecker checker;
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(json.data(), json.size());
  if (!reader.Parse<kParseFlags>(ms, checker)) {
    if (!checker.duplicate().empty()) {
      return invalidArgument("discovery document has a duplicate member \"" +
                             checker.duplicate() + "\"");
    }
    if (checker.tooDeep()) {
      return invalidArgument("discovery document is nested too deeply");
    }
    return invalidArgument(std::string("discovery document is not valid JSON: ") +
                           rapidjson::GetParseError_En(reader.GetParseErrorCode()) +
                           " at offset " + std::to_string(reader.GetErrorOffset()));
  }
  doc.Parse<kParseFlags>(json.data(), json.size());
  if (doc.HasParseError()) {
    return invalidArgument("discovery document is not valid JSON");
  }
  return okStatus();
}

// Reads an optional string member; error when present with another type.
Status optionalString(const rapidjson::Value& obj, const char* name, std::string& out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) {
    return okStatus();
  }
  if (!it->value.IsString()) {
    return invalidArgument(std::string("discovery document member \"") + name +
                           "\" is not a string");
  }
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return okStatus();
}

}  // namespace

StatusOr<std::string> discoveryUrl(std::string_view issuer) {
  auto url = parseFetchUrl(issuer);
  if (!url.isOk()) {
    return invalidArgument("issuer " + std::string(issuer) + ": " + url.status().message());
  }
  if (issuer.find('?') != std::string_view::npos) {
    return invalidArgument("issuer must not have a query");
  }
  std::string base(issuer);
  if (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  return base + "/.well-known/openid-configuration";
}

StatusOr<OidcMetadata> parseDiscoveryDocument(std::string_view json,
                                              std::string_view expected_issuer) {
  rapidjson::Document doc;
  RETURN_IF_ERROR(parseStrict(json, doc));
  if (!doc.IsObject()) {
    return invalidArgument("discovery document is not a JSON object");
  }
  OidcMetadata meta;
  RETURN_IF_ERROR(optionalString(doc, "issuer", meta.issuer));
  if (meta.issuer.empty()) {
    return invalidArgument("discovery document has no \"issuer\"");
  }
  if (meta.issuer != expected_issuer) {
    // Both values are public identifiers; the mismatch is what an operator must see.
    return invalidArgument("discovery document names issuer \"" + meta.issuer.substr(0, 256) +
                           "\", expected \"" + std::string(expected_issuer) + "\"");
  }
  RETURN_IF_ERROR(optionalString(doc, "jwks_uri", meta.jwks_uri));
  if (meta.jwks_uri.empty()) {
    return invalidArgument("discovery document has no \"jwks_uri\"");
  }
  if (auto u = parseFetchUrl(meta.jwks_uri); !u.isOk()) {
    return invalidArgument("discovery document's jwks_uri is not allowed: " +
                           u.status().message());
  }
  RETURN_IF_ERROR(optionalString(doc, "introspection_endpoint", meta.introspection_endpoint));
  if (!meta.introspection_endpoint.empty()) {
    if (auto u = parseFetchUrl(meta.introspection_endpoint); !u.isOk()) {
      return invalidArgument("discovery document's introspection_endpoint is not allowed: " +
                             u.status().message());
    }
  }
  return meta;
}

StatusOr<OidcMetadata> discover(Fetcher& fetcher, const std::string& issuer,
                                const FetchOptions& options) {
  ASSIGN_OR_RETURN(std::string url, discoveryUrl(issuer));
  ASSIGN_OR_RETURN(HttpResponse res, fetcher.get(url, options));
  if (res.status != 200) {
    return unavailable("discovery of " + issuer + " answered HTTP " + std::to_string(res.status));
  }
  return parseDiscoveryDocument(res.body, issuer);
}

}  // namespace stepgate::identity
