// HttpFetcher and OIDC discovery: URL rules, Cache-Control parsing, strict discovery
// documents, and the real fetcher against cpp-httplib servers on 127.0.0.1 (plain HTTP and
// HTTPS with a certificate made by the openssl CLI), including a KeyStore end to end.

#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "identity/http_fetch.h"
#include "identity/key_store.h"
#include "identity/oidc_discovery.h"
#include "key_store_test_util.h"

namespace stepgate::identity {
namespace {

using namespace std::chrono_literals;
using testing::FakeFetcher;
using testing::jwksWithKids;
using testing::ok;

// ---- URLs -----------------------------------------------------------------------------------

TEST(HttpFetchTest, ParsesAllowedUrls) {
  auto a = parseFetchUrl("https://IDP.Example.com");
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_TRUE(a->https);
  EXPECT_EQ(a->host, "idp.example.com");
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(a->target, "/");

  auto b = parseFetchUrl("HTTPS://idp.example.com:8443/a/b?x=1&y=2");
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->port, 8443);
  EXPECT_EQ(b->target, "/a/b?x=1&y=2");
  EXPECT_EQ(b->path, "/a/b");
  EXPECT_EQ(b->redacted(), "https://idp.example.com:8443/a/b");

  auto c = parseFetchUrl("http://127.0.0.1:8080/jwks");
  ASSERT_TRUE(c.isOk());
  EXPECT_FALSE(c->https);
  EXPECT_EQ(c->port, 8080);
  EXPECT_TRUE(parseFetchUrl("http://127.45.6.7/x").isOk());
  EXPECT_TRUE(parseFetchUrl("http://LOCALHOST:8080/jwks").isOk());

  auto d = parseFetchUrl("http://[::1]:9000/keys");
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->host, "::1");
  EXPECT_EQ(d->redacted(), "http://[::1]:9000/keys");
  EXPECT_TRUE(parseFetchUrl("https://[2001:db8::1]/keys").isOk());
}

TEST(HttpFetchTest, RefusesPlainHttpOffLoopbackAndOddUrls) {
  const char* bad[] = {
      "http://idp.example.com/jwks",    // plain http off loopback
      "http://localhost.evil.example/jwks",
      "http://10.0.0.1/jwks",
      "http://[::2]/jwks",
      "http://[::ffff:127.0.0.1]/jwks",
      "http://127.0.0.1.evil.example/jwks",
      "http://0x7f.0.0.1/jwks",
      "ftp://idp.example.com/jwks",
      "idp.example.com/jwks",
      "https://user:pw@idp.example.com/jwks",
      "https://idp.example.com/jwks#frag",
      "https://idp.example.com:0/",
      "https://idp.example.com:99999/",
      "https://idp.example.com:/",
      "https://:443/",
      "https://idp example.com/",
      "https://[::1/",
      "https://idp.example.com/\x01",
  };
  for (const char* url : bad) {
    auto r = parseFetchUrl(url);
    EXPECT_FALSE(r.isOk()) << url;
    if (!r.isOk()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << url;
    }
  }
}

TEST(HttpFetchTest, LoopbackLiterals) {
  EXPECT_TRUE(isLoopbackLiteral("127.0.0.1"));
  EXPECT_TRUE(isLoopbackLiteral("127.255.255.254"));
  EXPECT_TRUE(isLoopbackLiteral("::1"));
  EXPECT_FALSE(isLoopbackLiteral("128.0.0.1"));
  EXPECT_FALSE(isLoopbackLiteral("localhost"));
  EXPECT_FALSE(isLoopbackLiteral("[::1]"));
  EXPECT_FALSE(isLoopbackLiteral(""));
}

TEST(HttpFetchTest, CacheControlMaxAge) {
  EXPECT_EQ(parseCacheControlMaxAge("max-age=600"), 600s);
  EXPECT_EQ(parseCacheControlMaxAge("public, max-age=600, must-revalidate"), 600s);
  EXPECT_EQ(parseCacheControlMaxAge("MAX-AGE=5"), 5s);
  EXPECT_EQ(parseCacheControlMaxAge(" max-age = 7 "), 7s);
  EXPECT_EQ(parseCacheControlMaxAge("max-age=\"9\""), 9s);
  EXPECT_EQ(parseCacheControlMaxAge("max-age=0"), 0s);
  EXPECT_EQ(parseCacheControlMaxAge("max-age=10, max-age=20"), 10s);
  EXPECT_EQ(parseCacheControlMaxAge("no-store"), 0s);
  EXPECT_EQ(parseCacheControlMaxAge("max-age=600, no-cache"), 0s);
  EXPECT_EQ(parseCacheControlMaxAge("max-age=99999999999999999999999"),
            std::chrono::seconds(10LL * 365 * 24 * 3600));
  EXPECT_EQ(parseCacheControlMaxAge(""), std::nullopt);
  EXPECT_EQ(parseCacheControlMaxAge("private"), std::nullopt);
  EXPECT_EQ(parseCacheControlMaxAge("max-age=abc"), std::nullopt);
  EXPECT_EQ(parseCacheControlMaxAge("max-age=-5"), std::nullopt);
  EXPECT_EQ(parseCacheControlMaxAge("s-maxage=5"), std::nullopt);
  EXPECT_EQ(parseCacheControlMaxAge("max-age"), std::nullopt);
}

TEST(HttpFetchTest, EncodesForms) {
  EXPECT_EQ(encodeForm({{"token", "a b&c=d"}, {"hint", "access_token"}, {"x", "\xc3\xa9/+"}}),
            "token=a+b%26c%3Dd&hint=access_token&x=%C3%A9%2F%2B");
  EXPECT_EQ(encodeForm({}), "");
}

TEST(HttpFetchTest, RefusesPlainHttpOffLoopbackWithoutConnecting) {
  HttpFetcher fetcher;
  FetchOptions o;
  o.timeout = 200ms;
  auto r = fetcher.get("http://192.0.2.1/jwks", o);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// ---- discovery documents ----------------------------------------------------------------------

TEST(OidcDiscoveryTest, DiscoveryUrlPerSection4) {
  EXPECT_EQ(discoveryUrl("https://idp.example.com").value(),
            "https://idp.example.com/.well-known/openid-configuration");
  EXPECT_EQ(discoveryUrl("https://idp.example.com/").value(),
            "https://idp.example.com/.well-known/openid-configuration");
  EXPECT_EQ(discoveryUrl("https://idp.example.com/realms/ops/").value(),
            "https://idp.example.com/realms/ops/.well-known/openid-configuration");
  EXPECT_EQ(discoveryUrl("http://127.0.0.1:4000").value(),
            "http://127.0.0.1:4000/.well-known/openid-configuration");
  EXPECT_FALSE(discoveryUrl("http://idp.example.com").isOk());
  EXPECT_FALSE(discoveryUrl("https://idp.example.com/?tenant=1").isOk());
  EXPECT_FALSE(discoveryUrl("").isOk());
}

TEST(OidcDiscoveryTest, IssuerMustMatchExactly) {
  const std::string doc =
      R"({"issuer":"https://idp.example.com/","jwks_uri":"https://idp.example.com/jwks"})";
  EXPECT_TRUE(parseDiscoveryDocument(doc, "https://idp.example.com/").isOk());
  auto r = parseDiscoveryDocument(doc, "https://idp.example.com");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("expected"), std::string::npos);
  EXPECT_FALSE(parseDiscoveryDocument(
                   R"({"issuer":"https://IDP.example.com/","jwks_uri":"https://a/jwks"})",
                   "https://idp.example.com/")
                   .isOk());
  EXPECT_FALSE(parseDiscoveryDocument(R"({"jwks_uri":"https://a/jwks"})", "https://a").isOk());
}

TEST(OidcDiscoveryTest, StrictJsonOnly) {
  const std::string ok = R"({"issuer":"https://a","jwks_uri":"https://a/jwks"})";
  ASSERT_TRUE(parseDiscoveryDocument(ok, "https://a").isOk());
  // Found by fuzzing: a NUL and junk after the document, and a lone surrogate escape.
  EXPECT_FALSE(parseDiscoveryDocument(ok + std::string("\0junk", 5), "https://a").isOk());
  EXPECT_FALSE(parseDiscoveryDocument(
                   R"({"issuer":"https://a","jwks_uri":"https://a/jwks","x":"\udc00"})",
                   "https://a")
                   .isOk());
  EXPECT_FALSE(parseDiscoveryDocument(
                   R"({"issuer":"https://a","jwks_uri":"https://a/jwks","jwks_uri":"https://b"})",
                   "https://a")
                   .isOk());
}

TEST(OidcDiscoveryTest, TakesJwksUriAndIntrospectionEndpoint) {
  auto r = parseDiscoveryDocument(
      R"({"issuer":"https://a","jwks_uri":"https://a/jwks","introspection_endpoint":"https://a/i",
          "response_types_supported":["code"],"x":{"nested":[1,2,{"k":null}]}})",
      "https://a");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->issuer, "https://a");
  EXPECT_EQ(r->jwks_uri, "https://a/jwks");
  EXPECT_EQ(r->introspection_endpoint, "https://a/i");
  auto s = parseDiscoveryDocument(R"({"issuer":"https://a","jwks_uri":"https://a/jwks"})",
                                  "https://a");
  ASSERT_TRUE(s.isOk());
  EXPECT_TRUE(s->introspection_endpoint.empty());
}

TEST(OidcDiscoveryTest, JwksUriMustBeHttpsOrLoopbackHttp) {
  auto doc = [](const std::string& jwks) {
    return R"({"issuer":"https://a","jwks_uri":")" + jwks + R"("})";
  };
  EXPECT_FALSE(parseDiscoveryDocument(doc("http://a/jwks"), "https://a").isOk());
  EXPECT_FALSE(parseDiscoveryDocument(doc("http://192.168.1.1:8080/jwks"), "https://a").isOk());
  EXPECT_FALSE(parseDiscoveryDocument(doc("file:///etc/passwd"), "https://a").isOk());
  EXPECT_FALSE(parseDiscoveryDocument(doc(""), "https://a").isOk());
  EXPECT_TRUE(parseDiscoveryDocument(doc("http://127.0.0.1:8080/jwks"), "https://a").isOk());
  EXPECT_TRUE(parseDiscoveryDocument(doc("https://keys.example.net/jwks"), "https://a").isOk());
  EXPECT_FALSE(parseDiscoveryDocument(
                   R"({"issuer":"https://a","jwks_uri":"https://a/j","introspection_endpoint":"http://a/i"})",
                   "https://a")
                   .isOk());
}

TEST(OidcDiscoveryTest, StrictJson) {
  const char* bad[] = {
      R"({"issuer":"https://a","issuer":"https://a","jwks_uri":"https://a/jwks"})",
      R"({"issuer":"https://a","jwks_uri":"https://a/jwks","x":{"k":1,"k":2}})",
      R"({"issuer":"https://a","jwks_uri":"https://a/jwks",})",
      R"({"issuer":"https://a",/*c*/"jwks_uri":"https://a/jwks"})",
      R"({"issuer":"https://a","jwks_uri":"https://a/jwks"} {})",
      R"({"issuer":"https://a","jwks_uri":"https://a/jwks"}x)",
      R"(["issuer","https://a"])",
      R"("https://a")",
      R"({"issuer":["https://a"],"jwks_uri":"https://a/jwks"})",
      R"({"issuer":"https://a","jwks_uri":42})",
      R"({"issuer":"https://a","jwks_uri":"https://a/jwks","introspection_endpoint":true})",
      "{\"issuer\":\"https://a\",\"jwks_uri\":\"https://a/jwks\",\"n\":\"\xff\"}",
      "",
  };
  for (const char* doc : bad) {
    auto r = parseDiscoveryDocument(doc, "https://a");
    EXPECT_FALSE(r.isOk()) << doc;
  }
  auto dup = parseDiscoveryDocument(bad[0], "https://a");
  EXPECT_NE(dup.status().message().find("duplicate"), std::string::npos);

  std::string deep = R"({"issuer":"https://a","jwks_uri":"https://a/jwks","d":)";
  deep += std::string(10000, '[') + std::string(10000, ']') + "}";
  EXPECT_FALSE(parseDiscoveryDocument(deep, "https://a").isOk());
}

TEST(OidcDiscoveryTest, DiscoverThroughFetcher) {
  FakeFetcher fetcher;
  const std::string url = "https://idp.example.com/tenant/.well-known/openid-configuration";
  FetchOptions o;
  fetcher.set(url, HttpResponse{404, "nope", "text/plain", std::nullopt});
  auto r = discover(fetcher, "https://idp.example.com/tenant/", o);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  fetcher.set(url, ok(R"({"issuer":"https://idp.example.com/tenant/",)"
                      R"("jwks_uri":"https://idp.example.com/tenant/keys"})"));
  auto s = discover(fetcher, "https://idp.example.com/tenant/", o);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->jwks_uri, "https://idp.example.com/tenant/keys");
}

// ---- real servers on loopback -----------------------------------------------------------------

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The committed JWKS fixture if present, else a JWKS of fresh EC keys.
std::string fixtureJwks() {
  const char* src = std::getenv("STEPGATE_SOURCE_DIR");
  const std::string path =
      std::string(src != nullptr ? src : STEPGATE_SOURCE_DIR) + "/tests/fixtures/jwt/jwks.json";
  std::string text = readFile(path);
  return text.empty() ? jwksWithKids({"rsa-1", "ec-256"}) : text;
}

// A cpp-httplib server (plain or TLS) on 127.0.0.1 with an ephemeral port, run on its own
// thread; counts hits per path.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {}
  ~LoopbackServer() { stop(); }

  bool start() {
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) {
      return false;
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(5ms);
    }
    return server_->is_running();
  }
  void stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }
  httplib::Server& server() { return *server_; }
  int port() const { return port_; }
  std::string base(const char* scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }
  void hit(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    ++hits_[path];
  }
  int hits(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_[path];
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, int> hits_;
};

class HttpFetchServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jwks_ = fixtureJwks();
    srv_ = std::make_unique<LoopbackServer>(std::make_unique<httplib::Server>());
    auto& s = srv_->server();
    s.Get("/.well-known/openid-configuration", [this](const httplib::Request&,
                                                       httplib::Response& res) {
      srv_->hit("discovery");
      res.set_content(R"({"issuer":")" + srv_->base() + R"(","jwks_uri":")" + srv_->base() +
                          R"(/jwks","token_endpoint":")" + srv_->base() + R"(/token"})",
                      "application/json");
    });
    s.Get("/jwks", [this](const httplib::Request&, httplib::Response& res) {
      srv_->hit("jwks");
      res.set_header("Cache-Control", "public, max-age=600");
      res.set_content(jwks_, "application/jwk-set+json");
    });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(2u << 20, 'x'), "application/json");
    });
    s.Get("/big-chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
        const std::string chunk(64 * 1024, 'y');
        for (int i = 0; i < 32; ++i) {
          if (!sink.write(chunk.data(), chunk.size())) {
            return false;
          }
        }
        sink.done();
        return true;
      });
    });
    s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(1500ms);
      res.set_content("{}", "application/json");
    });
    s.Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/jwks");
    });
    s.Get("/unavailable", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("down", "text/plain");
    });
    s.Post("/form", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.get_header_value("Content-Type") + "|" +
                          req.get_header_value("Authorization") + "|" + req.body,
                      "text/plain");
    });
    ASSERT_TRUE(srv_->start());
    options_.timeout = 2s;
  }

  std::unique_ptr<LoopbackServer> srv_;
  std::string jwks_;
  HttpFetcher fetcher_;
  FetchOptions options_;
};

TEST_F(HttpFetchServerTest, GetReturnsBodyStatusAndMaxAge) {
  auto r = fetcher_.get(srv_->base() + "/jwks", options_);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, jwks_);
  EXPECT_EQ(r->content_type, "application/jwk-set+json");
  EXPECT_EQ(r->max_age, 600s);

  auto d = fetcher_.get(srv_->base() + "/.well-known/openid-configuration", options_);
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d->max_age, std::nullopt);

  auto u = fetcher_.get(srv_->base() + "/unavailable", options_);
  ASSERT_TRUE(u.isOk());
  EXPECT_EQ(u->status, 503);
}

TEST_F(HttpFetchServerTest, LocalhostMeansLoopbackWithoutDns) {
  auto r = fetcher_.get("http://localhost:" + std::to_string(srv_->port()) + "/jwks", options_);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpFetchServerTest, RedirectsAreNotFollowed) {
  auto r = fetcher_.get(srv_->base() + "/redirect", options_);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(srv_->hits("jwks"), 0);
}

TEST_F(HttpFetchServerTest, BodyLimitEnforced) {
  for (const char* path : {"/big", "/big-chunked"}) {
    auto r = fetcher_.get(srv_->base() + path, options_);
    ASSERT_FALSE(r.isOk()) << path;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(r.status().message().find("exceeds"), std::string::npos) << r.status().message();
  }
  FetchOptions big = options_;
  big.max_body_bytes = 4u << 20;
  auto r = fetcher_.get(srv_->base() + "/big", big);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->body.size(), 2u << 20);
}

TEST_F(HttpFetchServerTest, TimeoutIsBounded) {
  FetchOptions quick = options_;
  quick.timeout = 300ms;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetcher_.get(srv_->base() + "/slow", quick);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1200ms);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpFetchServerTest, ConnectionRefusedIsUnavailable) {
  const std::string url = srv_->base() + "/jwks";
  srv_->stop();
  auto r = fetcher_.get(url, options_);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpFetchServerTest, PostsForms) {
  auto r = fetcher_.postForm(srv_->base() + "/form", {{"token", "a b"}, {"k", "&="}},
                             {{"Authorization", "Basic Y2xpZW50OnNlY3JldA=="}}, options_);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body,
            "application/x-www-form-urlencoded|Basic Y2xpZW50OnNlY3JldA==|token=a+b&k=%26%3D");
}

TEST_F(HttpFetchServerTest, DiscoveryAgainstLoopbackServer) {
  auto m = discover(fetcher_, srv_->base(), options_);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(m->jwks_uri, srv_->base() + "/jwks");
  // The configured issuer with a trailing slash is another issuer.
  EXPECT_FALSE(discover(fetcher_, srv_->base() + "/", options_).isOk());
}

// The real fetcher under a running KeyStore: discovery, JWKS, publish; the refresh period is
// the server's max-age (600 s) clamped to refresh_max.
TEST_F(HttpFetchServerTest, KeyStoreEndToEndOverLoopback) {
  config::ProviderConfig p;
  p.name = "loopback";
  p.type = config::ProviderType::kOidc;
  p.issuer = srv_->base();
  p.refresh_min = 100ms;
  p.refresh_max = 300ms;
  p.fetch_timeout = 2s;
  RealTimeSource time;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<KeySetConstSharedPtr> sets;
  KeyStore store({p}, time, fetcher_, [&](const std::string&, KeySetConstSharedPtr keys) {
    std::lock_guard<std::mutex> lock(mu);
    sets.push_back(std::move(keys));
    cv.notify_all();
  });
  store.start();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return sets.size() >= 3; }));
    ASSERT_FALSE(sets[0]->keys.empty());
    bool found = false;
    for (const auto& k : sets[0]->keys) {
      found = found || !k.kid.empty();
    }
    EXPECT_TRUE(found);
  }
  store.stop();
  EXPECT_EQ(srv_->hits("discovery"), 1);
  EXPECT_GE(srv_->hits("jwks"), 3);
  EXPECT_LE(srv_->hits("jwks"), 60);
  EXPECT_EQ(store.stats()[0].fetch_failed, 0u);
}

// ---- HTTPS -----------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/stepgate-fetch-XXXXXX";
    if (char* made = ::mkdtemp(tmpl.data())) {
      path_ = made;
    }
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A self-signed certificate for `san` made by the openssl CLI; false if it could not be made.
bool makeCertificate(const std::string& dir, const std::string& san) {
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                          "-keyout '" + dir + "/key.pem' -out '" + dir + "/cert.pem' -days 1 "
                          "-subj /CN=stepgate-test -addext subjectAltName=" + san +
                          " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST(HttpsFetchTest, VerifiesTheServerCertificate) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  ASSERT_TRUE(makeCertificate(dir.path(), "IP:127.0.0.1")) << "openssl CLI failed";
  LoopbackServer srv(std::make_unique<httplib::SSLServer>(
      (dir.path() + "/cert.pem").c_str(), (dir.path() + "/key.pem").c_str()));
  srv.server().Get("/jwks", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "max-age=60");
    res.set_content(R"({"keys":[]})", "application/json");
  });
  ASSERT_TRUE(srv.start());
  HttpFetcher fetcher;
  FetchOptions o;
  o.timeout = 2s;
  const std::string url = srv.base("https") + "/jwks";

  // The system trust store does not know this certificate.
  auto untrusted = fetcher.get(url, o);
  ASSERT_FALSE(untrusted.isOk());
  EXPECT_EQ(untrusted.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(untrusted.status().message().find("not trusted"), std::string::npos)
      << untrusted.status().message();

  // With the certificate as the CA file it is trusted.
  o.ca_file = dir.path() + "/cert.pem";
  auto trusted = fetcher.get(url, o);
  ASSERT_TRUE(trusted.isOk()) << trusted.status().toString();
  EXPECT_EQ(trusted->status, 200);
  EXPECT_EQ(trusted->max_age, 60s);

  // A CA file that does not exist is an error, not a fallback to no verification.
  o.ca_file = dir.path() + "/absent.pem";
  EXPECT_FALSE(fetcher.get(url, o).isOk());
}

TEST(HttpsFetchTest, RefusesACertificateForAnotherName) {
  TempDir dir;
  ASSERT_TRUE(makeCertificate(dir.path(), "DNS:other.example.com")) << "openssl CLI failed";
  LoopbackServer srv(std::make_unique<httplib::SSLServer>(
      (dir.path() + "/cert.pem").c_str(), (dir.path() + "/key.pem").c_str()));
  srv.server().Get("/jwks", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"keys":[]})", "application/json");
  });
  ASSERT_TRUE(srv.start());
  HttpFetcher fetcher;
  FetchOptions o;
  o.timeout = 2s;
  o.ca_file = dir.path() + "/cert.pem";
  auto r = fetcher.get(srv.base("https") + "/jwks", o);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("not trusted"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace stepgate::identity
