#include "orchestrators/sigv4.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "common/c_ptr.h"

namespace stepgate::orchestrators {

namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

std::string toHex(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string sha256Raw(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

// The HMAC implementation, fetched once for the process (never freed).
EVP_MAC* hmacMethod() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  return mac;
}

bool isUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 encoding as SigV4 wants it: unreserved bytes as they are, the rest %XX (upper).
void uriEncode(std::string_view in, bool keep_slash, std::string& out) {
  for (unsigned char c : in) {
    if (isUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 0xf]);
    }
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Percent-decodes a query component; a '%' not followed by two hex digits stays literal
// ('+' too: AWS signs the bytes, not a form decoding).
std::string queryDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hexValue(in[i + 1]);
      const int lo = hexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

std::string canonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    const size_t amp = std::min(query.find('&'), query.size());
    const std::string_view part = query.substr(0, amp);
    query.remove_prefix(amp == query.size() ? amp : amp + 1);
    if (part.empty())
      continue;
    const size_t eq = part.find('=');
    std::string name, value;
    uriEncode(queryDecode(part.substr(0, eq)), false, name);
    if (eq != std::string_view::npos) {
      uriEncode(queryDecode(part.substr(eq + 1)), false, value);
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty())
      out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Trims spaces and tabs at both ends and collapses runs of spaces inside into one.
std::string canonicalValue(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == ' ' && !out.empty() && out.back() == ' ')
      continue;
    out.push_back(c);
  }
  return out;
}

bool reservedHeader(std::string_view lname) {
  return lname == "host" || lname == "x-amz-date" || lname == "x-amz-security-token" ||
         lname == "authorization" || lname == "x-amz-content-sha256";
}

// "20150830T123600Z"
std::string amzDate(std::chrono::system_clock::time_point now) {
  const std::time_t t =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(now));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

StatusOr<std::string> readSecretFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return invalidArgument("aws: cannot read " + std::string(what) + " " + path + ": " +
                           std::strerror(errno));
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return invalidArgument("aws: cannot read " + std::string(what) + " " + path);
  }
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r'))
    data.pop_back();
  if (data.empty()) {
    return invalidArgument("aws: " + std::string(what) + " " + path + " is empty");
  }
  for (unsigned char c : data) {
    if (c < 0x21 || c == 0x7f) {
      return invalidArgument("aws: " + std::string(what) + " " + path +
                             " holds whitespace or control characters inside the value");
    }
  }
  return data;
}

}  // namespace

std::string sha256Hex(std::string_view data) {
  return toHex(sha256Raw(data));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  EVP_MAC* mac = hmacMethod();
  if (mac == nullptr)
    return {};
  CPtr<EVP_MAC_CTX, EVP_MAC_CTX_free> ctx(EVP_MAC_CTX_new(mac));
  if (!ctx)
    return {};
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
          1 ||
      EVP_MAC_final(ctx.get(), out, &len, sizeof out) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

void signV4(const SigV4Credentials& creds, std::string_view method, std::string_view path,
            std::string_view query, std::string_view host, std::span<const HeaderView> headers,
            std::string_view body, std::chrono::system_clock::time_point now, std::string& out) {
  const std::string date_time = amzDate(now);
  const std::string_view date = std::string_view(date_time).substr(0, 8);

  // Canonical headers: lowercase names, sorted, repeated names joined with ','.
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("host", canonicalValue(host));
  fields.emplace_back("x-amz-date", date_time);
  if (!creds.session_token.empty()) {
    fields.emplace_back("x-amz-security-token", canonicalValue(creds.session_token));
  }
  for (const HeaderView& h : headers) {
    std::string name = lower(h.name);
    if (reservedHeader(name))
      continue;
    fields.emplace_back(std::move(name), canonicalValue(h.value));
  }
  std::stable_sort(fields.begin(), fields.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0 && fields[i].first == fields[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers.push_back(',');
    } else {
      if (!signed_headers.empty())
        signed_headers.push_back(';');
      signed_headers += fields[i].first;
      canonical_headers += fields[i].first;
      canonical_headers.push_back(':');
    }
    canonical_headers += fields[i].second;
    canonical_headers.push_back('\n');
  }

  std::string request;
  request.append(method);
  request.push_back('\n');
  uriEncode(path.empty() ? std::string_view("/") : path, true, request);
  request.push_back('\n');
  request += canonicalQuery(query);
  request.push_back('\n');
  request += canonical_headers;
  request.push_back('\n');
  request += signed_headers;
  request.push_back('\n');
  request += sha256Hex(body);

  std::string scope;
  scope.append(date);
  scope.push_back('/');
  scope += creds.region;
  scope.push_back('/');
  scope += creds.service;
  scope += "/aws4_request";

  std::string to_sign = "AWS4-HMAC-SHA256\n";
  to_sign += date_time;
  to_sign.push_back('\n');
  to_sign += scope;
  to_sign.push_back('\n');
  to_sign += sha256Hex(request);

  std::string key = hmacSha256("AWS4" + creds.secret_access_key, date);
  key = hmacSha256(key, creds.region);
  key = hmacSha256(key, creds.service);
  key = hmacSha256(key, "aws4_request");
  const std::string signature = toHex(hmacSha256(key, to_sign));

  out += "X-Amz-Date: ";
  out += date_time;
  out += "\r\n";
  if (!creds.session_token.empty()) {
    out += "X-Amz-Security-Token: ";
    out += creds.session_token;
    out += "\r\n";
  }
  out += "Authorization: AWS4-HMAC-SHA256 Credential=";
  out += creds.access_key_id;
  out.push_back('/');
  out += scope;
  out += ", SignedHeaders=";
  out += signed_headers;
  out += ", Signature=";
  out += signature;
  out += "\r\n";
}

StatusOr<SigV4Credentials> loadSigV4Credentials(const config::AwsSigningConfig& cfg) {
  if (cfg.access_key_id.empty()) {
    return invalidArgument("aws: access_key_id is required");
  }
  if (cfg.region.empty()) {
    return invalidArgument("aws: region is required");
  }
  if (cfg.service.empty()) {
    return invalidArgument("aws: service is required");
  }
  if (cfg.secret_access_key_file.empty()) {
    return invalidArgument("aws: secret_access_key_file is required");
  }
  for (const std::string* v : {&cfg.access_key_id, &cfg.region, &cfg.service}) {
    for (unsigned char c : *v) {
      if (c < 0x21 || c >= 0x7f || c == '/' || c == ',') {
        return invalidArgument(
            "aws: access_key_id, region and service must be printable ASCII without '/' or ','");
      }
    }
  }
  SigV4Credentials creds;
  creds.access_key_id = cfg.access_key_id;
  creds.region = cfg.region;
  creds.service = cfg.service;
  ASSIGN_OR_RETURN(creds.secret_access_key,
                   readSecretFile(cfg.secret_access_key_file, "secret_access_key_file"));
  if (!cfg.session_token_file.empty()) {
    ASSIGN_OR_RETURN(creds.session_token,
                     readSecretFile(cfg.session_token_file, "session_token_file"));
  }
  return creds;
}

}  // namespace stepgate::orchestrators
