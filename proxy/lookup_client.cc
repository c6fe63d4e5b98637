#include "proxy/lookup_client.h"

#include <httplib.h>
#include <openssl/crypto.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace stepgate::proxy {

StatusOr<std::shared_ptr<LookupClient>> LookupClient::create(
    const config::UpstreamConfig& upstream) {
  std::shared_ptr<LookupClient> c(new LookupClient(upstream));
  const std::string& file = upstream.lookup.authorization_file;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return notFound("lookup.authorization_file " + file + " cannot be read");
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string v = ss.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    for (char ch : v) {
      if (ch == '\r' || ch == '\n' || ch == '\0') {
        OPENSSL_cleanse(v.data(), v.size());
        return invalidArgument("lookup.authorization_file " + file +
                                    " must hold one line (an Authorization header value)");
      }
    }
    if (v.empty()) {
      return invalidArgument("lookup.authorization_file " + file + " is empty");
    }
    c->authorization_ = std::move(v);
  }
  return c;
}

StatusOr<orchestrators::LookupResponse> LookupClient::call(const orchestrators::LookupCall& call) {
  if (upstream_.addresses.empty()) return unavailable("upstream has no address");
  const std::string ip = upstream_.addresses.front().ipString();
  const auto timeout = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    upstream_.lookup.timeout),
                                std::chrono::milliseconds(1));
  try {
    std::unique_ptr<httplib::ClientImpl> client;
    if (upstream_.https) {
      const std::string name = upstream_.tls && !upstream_.tls->server_name.empty()
                                   ? upstream_.tls->server_name
                                   : upstream_.host;
      auto ssl = std::make_unique<httplib::SSLClient>(name, upstream_.port);
      if (!ssl->is_valid()) return internalError("cannot create a TLS client for lookups");
      const bool verify = !upstream_.tls || upstream_.tls->verify;
      ssl->enable_server_certificate_verification(verify);
      if (upstream_.tls && !upstream_.tls->ca_file.empty()) {
        ssl->set_ca_cert_path(upstream_.tls->ca_file);
      }
      ssl->set_hostname_addr_map({{name, ip}});
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(ip, upstream_.port);
    }
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    client->set_follow_location(false);
    client->set_keep_alive(false);

    httplib::Request req;
    req.method = call.method;
    req.path = call.target;
    req.headers.emplace("Host", upstream_.host_header);
    req.headers.emplace("Accept", "application/json");
    req.headers.emplace("Accept-Encoding", "identity");
    req.headers.emplace("User-Agent", "stepgate-lookup");
    if (!authorization_.empty()) req.headers.emplace("Authorization", authorization_);
    for (const auto& [k, v] : call.headers) req.headers.emplace(k, v);
    if (!call.content_type.empty() || !call.body.empty()) {
      req.headers.emplace("Content-Type",
                          call.content_type.empty() ? "application/json" : call.content_type);
      req.body = call.body;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string received;
    bool too_large = false;
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      if (received.size() + len > kMaxAnswerBytes ||
          std::chrono::steady_clock::now() > deadline) {
        too_large = true;
        return false;
      }
      received.append(data, len);
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool ok = client->send(req, res, err);
    if (too_large) return unavailable("lookup answer too large or too slow");
    if (!ok || err != httplib::Error::Success) {
      return unavailable("lookup call failed: " + httplib::to_string(err));
    }
    orchestrators::LookupResponse out;
    out.status = res.status;
    out.body = std::move(received);
    return out;
  } catch (const std::exception& e) {
    return unavailable(std::string("lookup call failed: ") + e.what());
  }
}

}  // namespace stepgate::proxy
