#include "identity/session.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "identity/jwt.h"

namespace stepgate::identity {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const SystemTime kNow = SystemTime(seconds(1'900'000'000));

std::string key(char fill) {
  return std::string(kSessionKeyBytes, fill);
}

Principal alice() {
  Principal p;
  p.provider = "corp-oidc";
  p.subject = "alice@example.com";
  p.name = "Alice Example";
  p.groups = {"ops", "payments-oncall"};
  p.method = AuthMethod::kJwt;
  p.mfa = true;
  return p;
}

SessionCodec codec(CookieKeys keys = {key('a'), ""}, SessionOptions options = {}) {
  auto c = SessionCodec::create(keys, options);
  EXPECT_TRUE(c.isOk()) << c.status().toString();
  return std::move(c).value();
}

// The cookie value of a Set-Cookie header value.
std::string valueOf(const std::string& set_cookie) {
  const size_t eq = set_cookie.find('=');
  const size_t semi = set_cookie.find(';');
  return set_cookie.substr(eq + 1, semi - eq - 1);
}

std::string freshCookie(const SessionCodec& c, Session* out = nullptr) {
  auto s = c.newSession(alice(), kNow);
  EXPECT_TRUE(s.isOk());
  auto v = c.encode(*s);
  EXPECT_TRUE(v.isOk()) << v.status().toString();
  if (out != nullptr)
    *out = *s;
  return *v;
}

// ---- keys ----------------------------------------------------------------------------------

class SessionKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/session-key-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SessionKeyFileTest, GeneratesOnceWithMode0600AndReadsItBack) {
  const std::string path = dir_ + "/session.key";
  auto k1 = loadOrCreateSessionKey(path);
  ASSERT_TRUE(k1.isOk()) << k1.status().toString();
  EXPECT_EQ(k1->size(), kSessionKeyBytes);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto k2 = loadOrCreateSessionKey(path);
  ASSERT_TRUE(k2.isOk());
  EXPECT_EQ(*k1, *k2);
  auto k3 = loadOrCreateSessionKey(dir_ + "/other.key");
  ASSERT_TRUE(k3.isOk());
  EXPECT_NE(*k1, *k3);
}

TEST_F(SessionKeyFileTest, AcceptsRawBytesAndRefusesOtherContents) {
  const std::string raw = dir_ + "/raw.key";
  std::ofstream(raw, std::ios::binary) << key('z');
  auto k = loadOrCreateSessionKey(raw);
  ASSERT_TRUE(k.isOk());
  EXPECT_EQ(*k, key('z'));
  const std::string bad = dir_ + "/bad.key";
  std::ofstream(bad) << "sixteen-byte-key\n";
  auto b = loadOrCreateSessionKey(bad);
  ASSERT_FALSE(b.isOk());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.status().message().find("sixteen"), std::string::npos);  // no contents echoed
}

// ---- codec -----------------------------------------------------------------------------

TEST(SessionCodecTest, RefusesBadConfiguration) {
  EXPECT_FALSE(SessionCodec::create({"short", ""}, {}).isOk());
  EXPECT_FALSE(SessionCodec::create({key('a'), "short"}, {}).isOk());
  EXPECT_FALSE(SessionCodec::create({key('a'), key('a')}, {}).isOk());
  SessionOptions o;
  o.cookie_name = "bad name";
  EXPECT_FALSE(SessionCodec::create({key('a'), ""}, o).isOk());
  o = {};
  o.domain = "example.com; Secure";
  EXPECT_FALSE(SessionCodec::create({key('a'), ""}, o).isOk());
  o = {};
  o.idle_timeout = hours(9);
  EXPECT_FALSE(SessionCodec::create({key('a'), ""}, o).isOk());
}

TEST(SessionCodecTest, RoundTrip) {
  const SessionCodec c = codec();
  EXPECT_EQ(c.cookieName(), "__Host-stepgate-session");
  Session original;
  const std::string value = freshCookie(c, &original);
  EXPECT_EQ(original.sid.size(), 22u);
  EXPECT_EQ(original.csrf.size(), 43u);
  const SessionDecodeResult r = c.decode(value, kNow + minutes(5));
  ASSERT_TRUE(r.ok()) << sessionErrorName(*r.error);
  EXPECT_EQ(r.session.sid, original.sid);
  EXPECT_EQ(r.session.subject, "alice@example.com");
  EXPECT_EQ(r.session.provider, "corp-oidc");
  EXPECT_EQ(r.session.groups, (std::vector<std::string>{"ops", "payments-oncall"}));
  EXPECT_FALSE(r.session.groups_truncated);
  EXPECT_EQ(r.session.name, "Alice Example");
  EXPECT_TRUE(r.session.mfa);
  EXPECT_EQ(r.session.csrf, original.csrf);
  EXPECT_EQ(r.session.issued_at, kNow);
  EXPECT_EQ(r.session.expires_at, kNow + hours(8));
  EXPECT_EQ(r.session.idle_expires_at, kNow + hours(1));
  // Nothing readable in the cookie.
  EXPECT_EQ(value.find("alice"), std::string::npos);
  std::string raw;
  ASSERT_TRUE(base64UrlDecode(value, raw));
  EXPECT_EQ(raw.find("alice"), std::string::npos);
  // Two encodings of the same session differ (random nonce).
  Session again = original;
  EXPECT_NE(*c.encode(again), value);

  const Principal p = c.principal(r.session);
  EXPECT_EQ(p.method, AuthMethod::kSession);
  EXPECT_EQ(p.subject, "alice@example.com");
  EXPECT_EQ(p.provider, "corp-oidc");
  EXPECT_EQ(p.credential_id.size(), 32u);
  EXPECT_EQ(p.expires_at, kNow + hours(8));
}

TEST(SessionCodecTest, SetCookieAndClearCookieAttributes) {
  const SessionCodec c = codec();
  auto s = c.newSession(alice(), kNow);
  ASSERT_TRUE(s.isOk());
  auto header = c.setCookie(*s, kNow + hours(1));
  ASSERT_TRUE(header.isOk());
  EXPECT_EQ(header->rfind("__Host-stepgate-session=", 0), 0u);
  EXPECT_NE(header->find("; Path=/; Max-Age=25200; Secure; HttpOnly; SameSite=Lax"),
            std::string::npos)
      << *header;
  EXPECT_EQ(header->find("Domain"), std::string::npos);
  EXPECT_TRUE(c.decode(valueOf(*header), kNow + hours(1) - seconds(1)).ok());
  EXPECT_EQ(c.clearCookie(),
            "__Host-stepgate-session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax");
  EXPECT_FALSE(c.setCookie(*s, kNow + hours(8)).isOk());  // already over

  SessionOptions o;
  o.domain = "example.com";
  const SessionCodec d = codec({key('a'), ""}, o);
  EXPECT_EQ(d.cookieName(), "__Secure-stepgate-session");
  auto dh = d.setCookie(*s, kNow);
  ASSERT_TRUE(dh.isOk());
  EXPECT_NE(dh->find("; Domain=example.com; Secure"), std::string::npos);
}

TEST(SessionCodecTest, ExpiryAndIdleExpiry) {
  SessionOptions o;
  o.lifetime = hours(2);
  o.idle_timeout = minutes(30);
  const SessionCodec c = codec({key('a'), ""}, o);
  Session s;
  const std::string value = freshCookie(c, &s);
  EXPECT_TRUE(c.decode(value, kNow + minutes(29)).ok());
  auto idle = c.decode(value, kNow + minutes(30));
  ASSERT_FALSE(idle.ok());
  EXPECT_EQ(*idle.error, SessionError::kIdleExpired);
  EXPECT_TRUE(idle.session.sid.empty());  // nothing of an invalid session is handed out

  // Refresh pushes idle_exp, not exp.
  EXPECT_FALSE(c.needsRefresh(s, kNow + minutes(10)));
  EXPECT_TRUE(c.needsRefresh(s, kNow + minutes(20)));
  c.refresh(s, kNow + minutes(20));
  EXPECT_EQ(s.idle_expires_at, kNow + minutes(50));
  auto refreshed = c.encode(s);
  ASSERT_TRUE(refreshed.isOk());
  EXPECT_TRUE(c.decode(*refreshed, kNow + minutes(45)).ok());
  // Refreshing near the end is capped at exp; then the absolute expiry wins.
  c.refresh(s, kNow + minutes(110));
  EXPECT_EQ(s.idle_expires_at, kNow + hours(2));
  EXPECT_FALSE(c.needsRefresh(s, kNow + minutes(110)));
  auto late = c.encode(s);
  ASSERT_TRUE(late.isOk());
  EXPECT_TRUE(c.decode(*late, kNow + minutes(119)).ok());
  auto expired = c.decode(*late, kNow + hours(2));
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(*expired.error, SessionError::kExpired);
}

TEST(SessionCodecTest, EveryFlippedByteIsRefused) {
  const SessionCodec c = codec();
  const std::string value = freshCookie(c);
  std::string raw;
  ASSERT_TRUE(base64UrlDecode(value, raw));
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string bad = raw;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    const auto r = c.decode(base64UrlEncode(bad), kNow);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    if (i == 0)
      EXPECT_EQ(*r.error, SessionError::kMalformed);  // the version
    else if (i < 5)
      EXPECT_EQ(*r.error, SessionError::kWrongKey);  // the key id
    else
      EXPECT_EQ(*r.error, SessionError::kTampered) << "byte " << i;
  }
}

TEST(SessionCodecTest, TamperedTagTruncationAndGarbage) {
  const SessionCodec c = codec();
  const std::string value = freshCookie(c);
  std::string raw;
  ASSERT_TRUE(base64UrlDecode(value, raw));
  std::string no_tag = raw.substr(0, raw.size() - 16) + std::string(16, '\0');
  EXPECT_EQ(*c.decode(base64UrlEncode(no_tag), kNow).error, SessionError::kTampered);
  EXPECT_EQ(*c.decode(base64UrlEncode(raw.substr(0, raw.size() - 1)), kNow).error,
            SessionError::kTampered);
  EXPECT_EQ(*c.decode(base64UrlEncode(raw.substr(0, 20)), kNow).error, SessionError::kMalformed);
  EXPECT_EQ(*c.decode("", kNow).error, SessionError::kMalformed);
  EXPECT_EQ(*c.decode("not base64!", kNow).error, SessionError::kMalformed);
  EXPECT_EQ(*c.decode(value + "=", kNow).error, SessionError::kMalformed);
  EXPECT_EQ(*c.decode(std::string(5000, 'A'), kNow).error, SessionError::kMalformed);
  // A character flipped in the base64 text.
  std::string text = value;
  text[text.size() / 2] = text[text.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(c.decode(text, kNow).ok());
}

TEST(SessionCodecTest, KeysAndCookieNamesAreBound) {
  const SessionCodec a = codec({key('a'), ""});
  const std::string value = freshCookie(a);
  // Another key: the key id does not match.
  const SessionCodec b = codec({key('b'), ""});
  EXPECT_EQ(*b.decode(value, kNow).error, SessionError::kWrongKey);
  // The same key under another cookie name (associated data): tampered.
  SessionOptions o;
  o.cookie_name = "other";
  const SessionCodec renamed = codec({key('a'), ""}, o);
  EXPECT_EQ(*renamed.decode(value, kNow).error, SessionError::kTampered);
  // A login-state cookie made with the same secret is not a session.
  auto login = LoginStateCodec::create({key('a'), ""}, "stepgate-session");
  ASSERT_TRUE(login.isOk());
  auto state = login->begin("/", "", kNow);
  ASSERT_TRUE(state.isOk());
  auto header = login->setCookie(*state, kNow);
  ASSERT_TRUE(header.isOk());
  EXPECT_FALSE(a.decode(valueOf(*header), kNow).ok());
}

TEST(SessionCodecTest, KeyRotation) {
  const SessionCodec old_codec = codec({key('a'), ""});
  const std::string old_value = freshCookie(old_codec);
  const SessionCodec rotated = codec({key('b'), key('a')});
  EXPECT_TRUE(rotated.decode(old_value, kNow).ok());  // decrypts with the previous key
  const std::string new_value = freshCookie(rotated);
  EXPECT_TRUE(rotated.decode(new_value, kNow).ok());
  // New cookies are encrypted with the current key, which the old codec does not have.
  EXPECT_EQ(*old_codec.decode(new_value, kNow).error, SessionError::kWrongKey);
  const SessionCodec retired = codec({key('b'), ""});
  EXPECT_EQ(*retired.decode(old_value, kNow).error, SessionError::kWrongKey);
  EXPECT_TRUE(retired.decode(new_value, kNow).ok());
}

TEST(SessionCodecTest, OversizeSessionsTruncateGroupsOrFail) {
  Principal p = alice();
  p.groups.clear();
  for (int i = 0; i < 150; ++i)
    p.groups.push_back("a-rather-long-group-name-number-" + std::to_string(100 + i));
  const SessionCodec c = codec();
  auto s = c.newSession(p, kNow);
  ASSERT_TRUE(s.isOk());
  auto header = c.setCookie(*s, kNow);
  ASSERT_TRUE(header.isOk()) << header.status().toString();
  EXPECT_LE(header->size(), kMaxCookieBytes);
  EXPECT_TRUE(s->groups_truncated);
  EXPECT_LT(s->groups.size(), 150u);
  EXPECT_GT(s->groups.size(), 10u);
  auto r = c.decode(valueOf(*header), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.session.groups_truncated);
  EXPECT_EQ(r.session.groups, s->groups);
  EXPECT_EQ(r.session.groups[0], "a-rather-long-group-name-number-100");

  SessionOptions strict;
  strict.truncate_groups = false;
  const SessionCodec sc = codec({key('a'), ""}, strict);
  auto s2 = sc.newSession(p, kNow);
  ASSERT_TRUE(s2.isOk());
  auto refused = sc.setCookie(*s2, kNow);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s2->groups.size(), 150u);  // untouched

  Principal huge = alice();
  huge.name = std::string(4000, 'n');
  auto s3 = c.newSession(huge, kNow);
  ASSERT_TRUE(s3.isOk());
  EXPECT_FALSE(c.setCookie(*s3, kNow).isOk());
}

TEST(SessionCodecTest, FindCookie) {
  EXPECT_EQ(findCookie("a=1; __Host-s=xyz; b=2", "__Host-s"),
            std::optional<std::string_view>("xyz"));
  EXPECT_EQ(findCookie("__Host-s=first;__Host-s=second", "__Host-s"),
            std::optional<std::string_view>("first"));
  EXPECT_EQ(findCookie("x__Host-s=1; __Host-sx=2", "__Host-s"), std::nullopt);
  EXPECT_EQ(findCookie("s=\"quoted\"", "s"), std::optional<std::string_view>("quoted"));
  EXPECT_EQ(findCookie("", "s"), std::nullopt);
  EXPECT_EQ(findCookie("s", "s"), std::nullopt);
}

// ---- CSRF ------------------------------------------------------------------------------

struct FakeHeader {
  std::string name, value;
};

TEST(CsrfTest, HeadersAreCollectedCaseInsensitively) {
  std::vector<FakeHeader> hs = {{"X-CSRF-Token", "t"},
                                {"origin", "https://a"},
                                {"SEC-FETCH-SITE", "same-origin"},
                                {"Accept", "*/*"}};
  const CsrfHeaders h = csrfHeadersFrom(hs);
  EXPECT_EQ(h.csrf_token, std::optional<std::string_view>("t"));
  EXPECT_EQ(h.origin, std::optional<std::string_view>("https://a"));
  EXPECT_EQ(h.sec_fetch_site, std::optional<std::string_view>("same-origin"));
  EXPECT_FALSE(h.duplicate);
  hs.push_back({"x-csrf-token", "u"});
  EXPECT_TRUE(csrfHeadersFrom(hs).duplicate);
}

TEST(CsrfTest, Matrix) {
  Session s;
  s.csrf = "the-session-csrf-token-0123456789abcdefghij";
  CsrfOptions same_origin;
  same_origin.allowed_origins = {"https://stepgate.example.com"};
  CsrfOptions token_only;
  token_only.allow_same_origin = false;
  token_only.allowed_origins = same_origin.allowed_origins;

  struct Case {
    const char* method;
    std::optional<std::string_view> token, origin, fetch_site;
    CsrfResult with_origin, token_only_result;
  };
  const std::string_view good = s.csrf;
  const std::string_view bad = "the-session-csrf-token-0123456789abcdefghiJ";
  const std::string_view ours = "https://stepgate.example.com";
  const std::string_view ours_upper = "HTTPS://STEPGATE.EXAMPLE.COM";
  const std::string_view evil = "https://evil.example";
  using R = CsrfResult;
  const Case cases[] = {
      {"GET", {}, {}, {}, R::kOk, R::kOk},
      {"HEAD", {}, evil, {}, R::kOk, R::kOk},
      {"OPTIONS", {}, {}, {}, R::kOk, R::kOk},
      {"POST", {}, {}, {}, R::kMissingToken, R::kMissingToken},
      {"PUT", {}, {}, {}, R::kMissingToken, R::kMissingToken},
      {"PATCH", {}, {}, {}, R::kMissingToken, R::kMissingToken},
      {"DELETE", {}, {}, {}, R::kMissingToken, R::kMissingToken},
      {"get", {}, {}, {}, R::kMissingToken, R::kMissingToken},  // not GET
      {"PROPFIND", {}, {}, {}, R::kMissingToken, R::kMissingToken},
      {"POST", good, {}, {}, R::kOk, R::kOk},
      {"DELETE", good, evil, {}, R::kOk, R::kOk},
      {"POST", bad, {}, {}, R::kBadToken, R::kBadToken},
      {"POST", bad, ours, "same-origin", R::kBadToken, R::kBadToken},
      {"POST", "", {}, {}, R::kBadToken, R::kBadToken},
      {"POST", good.substr(1), {}, {}, R::kBadToken, R::kBadToken},
      {"POST", {}, ours, {}, R::kOk, R::kMissingToken},
      {"POST", {}, ours_upper, {}, R::kOk, R::kMissingToken},
      {"POST", {}, evil, {}, R::kMissingToken, R::kMissingToken},
      {"POST", {}, "null", {}, R::kMissingToken, R::kMissingToken},
      {"POST",
       {},
       "https://stepgate.example.com.evil.example",
       {},
       R::kMissingToken,
       R::kMissingToken},
      {"POST", {}, {}, "same-origin", R::kOk, R::kMissingToken},
      {"POST", {}, {}, "same-site", R::kMissingToken, R::kMissingToken},
      {"POST", {}, {}, "cross-site", R::kMissingToken, R::kMissingToken},
      {"POST", {}, evil, "cross-site", R::kMissingToken, R::kMissingToken},
  };
  for (const Case& c : cases) {
    CsrfHeaders h;
    h.csrf_token = c.token;
    h.origin = c.origin;
    h.sec_fetch_site = c.fetch_site;
    EXPECT_EQ(checkCsrf(c.method, h, s, same_origin), c.with_origin)
        << c.method << " token=" << c.token.value_or("-") << " origin=" << c.origin.value_or("-")
        << " site=" << c.fetch_site.value_or("-");
    EXPECT_EQ(checkCsrf(c.method, h, s, token_only), c.token_only_result)
        << c.method << " token=" << c.token.value_or("-") << " origin=" << c.origin.value_or("-")
        << " site=" << c.fetch_site.value_or("-");
  }
  CsrfHeaders dup;
  dup.csrf_token = good;
  dup.duplicate = true;
  EXPECT_EQ(checkCsrf("POST", dup, s, same_origin), CsrfResult::kBadToken);
  // A session without a csrf value never matches an empty token.
  CsrfHeaders empty;
  empty.csrf_token = "";
  EXPECT_EQ(checkCsrf("POST", empty, Session{}, token_only), CsrfResult::kBadToken);
  EXPECT_STREQ(csrfResultName(CsrfResult::kBadToken), "csrf_mismatch");
}

// ---- revocation ----------------------------------------------------------------------------

TEST(SessionRevocationTest, RevokedUntilExpiry) {
  SessionRevocationList list(3);
  ASSERT_TRUE(list.revoke("s1", kNow + hours(1), kNow).isOk());
  EXPECT_TRUE(list.isRevoked("s1", kNow));
  EXPECT_TRUE(list.isRevoked("s1", kNow + minutes(59)));
  EXPECT_FALSE(list.isRevoked("s1", kNow + hours(1)));
  EXPECT_FALSE(list.isRevoked("s2", kNow));
  // Already expired: nothing stored.
  ASSERT_TRUE(list.revoke("old", kNow, kNow).isOk());
  EXPECT_EQ(list.size(), 1u);
  EXPECT_FALSE(list.revoke("", kNow + hours(1), kNow).isOk());
  // Revoking twice keeps the later expiry.
  ASSERT_TRUE(list.revoke("s1", kNow + hours(2), kNow).isOk());
  EXPECT_TRUE(list.isRevoked("s1", kNow + minutes(90)));
  EXPECT_EQ(list.size(), 1u);
}

TEST(SessionRevocationTest, BoundedWithPurgeOfExpiredEntries) {
  SessionRevocationList list(2);
  ASSERT_TRUE(list.revoke("a", kNow + minutes(1), kNow).isOk());
  ASSERT_TRUE(list.revoke("b", kNow + hours(1), kNow).isOk());
  const Status full = list.revoke("c", kNow + hours(1), kNow);
  ASSERT_FALSE(full.isOk());
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(list.isRevoked("c", kNow));
  // Once "a" is over it makes room.
  ASSERT_TRUE(list.revoke("c", kNow + hours(1), kNow + minutes(2)).isOk());
  EXPECT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.isRevoked("b", kNow + minutes(2)));
  EXPECT_TRUE(list.isRevoked("c", kNow + minutes(2)));
}

TEST(SessionRevocationTest, SharedByThreads) {
  SessionRevocationList list;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&list, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string sid = std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(list.revoke(sid, kNow + hours(1), kNow).isOk());
        EXPECT_TRUE(list.isRevoked(sid, kNow));
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(list.size(), 2000u);
}

// ---- PKCE, return_to and login state ----------------------------------------------------

TEST(PkceTest, Rfc7636AppendixBVector) {
  EXPECT_EQ(pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(PkceTest, FreshPairsAreValidAndDistinct) {
  const PkcePair a = makePkce();
  const PkcePair b = makePkce();
  EXPECT_EQ(a.verifier.size(), 43u);
  EXPECT_TRUE(validPkceVerifier(a.verifier));
  EXPECT_EQ(a.challenge, pkceChallenge(a.verifier));
  EXPECT_NE(a.verifier, b.verifier);
  EXPECT_FALSE(validPkceVerifier(std::string(42, 'a')));
  EXPECT_TRUE(validPkceVerifier(std::string(128, '~')));
  EXPECT_FALSE(validPkceVerifier(std::string(129, 'a')));
  EXPECT_FALSE(validPkceVerifier(std::string(42, 'a') + "+"));
}

TEST(ReturnToTest, AcceptsSameOriginPaths) {
  for (const char* ok :
       {"/", "/ui/workflows", "/ui/workflows?tab=runs&x=1#frag", "/a%20b", "/path/with/..%2e"}) {
    EXPECT_TRUE(validReturnTo(ok)) << ok;
  }
}

TEST(ReturnToTest, RefusesOpenRedirects) {
  for (const char* bad :
       {"", "//evil.com", "/\\evil.com", "https://evil.com", "%2F%2Fevil.com", "/%2F%2Fevil.com",
        "/%2fevil.com", "/%5Cevil.com", "\\\\evil.com", "evil.com", "/\t/evil.com", "/ /evil.com",
        "/\n/evil.com", "javascript:alert(1)", "/a\\b", "/\x7f", "/caf\xc3\xa9", "http:/evil.com",
        "///evil.com"}) {
    EXPECT_FALSE(validReturnTo(bad)) << bad;
  }
  EXPECT_FALSE(validReturnTo("/" + std::string(2048, 'a')));
}

TEST(LoginStateTest, RoundTripAndStateCheck) {
  auto c = LoginStateCodec::create({key('k'), ""});
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->cookieName(), "__Host-stepgate-login");
  auto s = c->begin("/ui/runs?x=1", "_req-42", kNow);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->expires_at, kNow + minutes(10));
  EXPECT_TRUE(validPkceVerifier(s->pkce_verifier));
  EXPECT_NE(s->state, s->nonce);
  auto header = c->setCookie(*s, kNow);
  ASSERT_TRUE(header.isOk());
  EXPECT_NE(header->find("; Path=/; Max-Age=600; Secure; HttpOnly; SameSite=Lax"),
            std::string::npos);
  const std::string value = valueOf(*header);
  auto r = c->decode(value, std::string_view(s->state), kNow + minutes(9));
  ASSERT_TRUE(r.ok()) << loginStateErrorName(*r.error);
  EXPECT_EQ(r.state.state, s->state);
  EXPECT_EQ(r.state.nonce, s->nonce);
  EXPECT_EQ(r.state.pkce_verifier, s->pkce_verifier);
  EXPECT_EQ(r.state.return_to, "/ui/runs?x=1");
  EXPECT_EQ(r.state.saml_request_id, "_req-42");
  // Without a state parameter to compare (SAML RelayState handled elsewhere).
  EXPECT_TRUE(c->decode(value, std::nullopt, kNow).ok());

  auto mismatch = c->decode(value, std::string_view("another-state"), kNow);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(*mismatch.error, LoginStateError::kStateMismatch);
  EXPECT_TRUE(mismatch.state.pkce_verifier.empty());
  auto expired = c->decode(value, std::string_view(s->state), kNow + minutes(10));
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(*expired.error, LoginStateError::kExpired);
  std::string tampered = value;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(c->decode(tampered, std::nullopt, kNow).ok());
  auto other = LoginStateCodec::create({key('j'), ""});
  ASSERT_TRUE(other.isOk());
  EXPECT_EQ(*other->decode(value, std::nullopt, kNow).error, LoginStateError::kWrongKey);
  // The session codec with the same secret does not accept a session cookie as state.
  const SessionCodec sc = codec({key('k'), ""});
  EXPECT_FALSE(c->decode(freshCookie(sc), std::nullopt, kNow).ok());
  EXPECT_EQ(c->clearCookie(),
            "__Host-stepgate-login=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax");
}

TEST(LoginStateTest, BeginRefusesOpenRedirects) {
  auto c = LoginStateCodec::create({key('k'), ""});
  ASSERT_TRUE(c.isOk());
  for (const char* bad : {"//evil.com", "/\\evil.com", "https://evil.com", "%2F%2Fevil.com"}) {
    auto s = c->begin(bad, "", kNow);
    ASSERT_FALSE(s.isOk()) << bad;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  }
  auto def = c->begin("", "", kNow);
  ASSERT_TRUE(def.isOk());
  EXPECT_EQ(def->return_to, "/");
  EXPECT_FALSE(c->begin("/", std::string(257, 'r'), kNow).isOk());
}

TEST(LoginStateTest, KeyRotation) {
  auto old_codec = LoginStateCodec::create({key('a'), ""});
  auto rotated = LoginStateCodec::create({key('b'), key('a')});
  ASSERT_TRUE(old_codec.isOk() && rotated.isOk());
  auto s = old_codec->begin("/", "", kNow);
  ASSERT_TRUE(s.isOk());
  auto header = old_codec->setCookie(*s, kNow);
  ASSERT_TRUE(header.isOk());
  EXPECT_TRUE(rotated->decode(valueOf(*header), std::string_view(s->state), kNow).ok());
}


// ---- refresh grant cookie ------------------------------------------------------------------

RefreshCookieCodec refreshCodec(CookieKeys keys = {key('r'), ""},
                                std::string name = "stepgate-session-refresh",
                                std::string path = "/.stepgate") {
  auto c = RefreshCookieCodec::create(keys, std::move(name), std::move(path));
  EXPECT_TRUE(c.isOk()) << c.status().toString();
  return std::move(c).value();
}

RefreshGrant grant(std::string token = "refresh-token-0123456789") {
  RefreshGrant g;
  g.id = "grant-0123456789abcdef";
  g.provider = "corp-oidc";
  g.subject = "alice@example.com";
  g.refresh_token = std::move(token);
  g.expires_at = kNow + hours(24);
  return g;
}

std::string refreshValue(const RefreshCookieCodec& c, const RefreshGrant& g = grant()) {
  auto header = c.setCookie(g, kNow);
  EXPECT_TRUE(header.isOk()) << header.status().toString();
  return header.isOk() ? valueOf(*header) : std::string();
}

TEST(RefreshCookieTest, RoundTrip) {
  const RefreshCookieCodec c = refreshCodec();
  EXPECT_EQ(c.cookieName(), "__Secure-stepgate-session-refresh");
  const std::string value = refreshValue(c);
  auto g = c.decode(value, kNow + hours(1));
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->provider, "corp-oidc");
  EXPECT_EQ(g->subject, "alice@example.com");
  EXPECT_EQ(g->refresh_token, "refresh-token-0123456789");
  EXPECT_EQ(g->expires_at, kNow + hours(24));
  // Encrypted: neither the token nor the subject is readable.
  std::string raw;
  ASSERT_TRUE(base64UrlDecode(value, raw));
  EXPECT_EQ(raw.find("refresh-token"), std::string::npos);
  EXPECT_EQ(raw.find("alice"), std::string::npos);
  // A fresh nonce each time.
  EXPECT_NE(refreshValue(c), value);
}

TEST(RefreshCookieTest, CookieAttributes) {
  const RefreshCookieCodec c = refreshCodec();
  auto header = c.setCookie(grant(), kNow + hours(4));
  ASSERT_TRUE(header.isOk());
  EXPECT_EQ(header->rfind("__Secure-stepgate-session-refresh=", 0), 0u) << *header;
  const std::string attrs = header->substr(header->find(';'));
  EXPECT_EQ(attrs, "; Path=/.stepgate; Max-Age=72000; Secure; HttpOnly; SameSite=Lax");
  EXPECT_EQ(header->find("Domain"), std::string::npos);
  EXPECT_EQ(c.clearCookie(),
            "__Secure-stepgate-session-refresh=; Path=/.stepgate; Max-Age=0; Secure; HttpOnly; "
            "SameSite=Lax");
  const RefreshCookieCodec other = refreshCodec({key('r'), ""}, "rt", "/sso/x");
  auto h2 = other.setCookie(grant(), kNow);
  ASSERT_TRUE(h2.isOk());
  EXPECT_NE(h2->find("; Path=/sso/x; Max-Age=86400; "), std::string::npos) << *h2;
}

TEST(RefreshCookieTest, ExpiredGrants) {
  const RefreshCookieCodec c = refreshCodec();
  const std::string value = refreshValue(c);
  EXPECT_TRUE(c.decode(value, kNow + hours(24) - seconds(1)).has_value());
  EXPECT_FALSE(c.decode(value, kNow + hours(24)).has_value());
  EXPECT_FALSE(c.decode(value, kNow + hours(48)).has_value());
  // Nothing is sealed for a grant that has already ended.
  RefreshGrant old = grant();
  old.expires_at = kNow;
  auto refused = c.setCookie(old, kNow);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  old.expires_at = kNow - seconds(1);
  EXPECT_FALSE(c.setCookie(old, kNow).isOk());
}

TEST(RefreshCookieTest, EveryFlippedByteIsRefused) {
  const RefreshCookieCodec c = refreshCodec();
  const std::string value = refreshValue(c);
  std::string raw;
  ASSERT_TRUE(base64UrlDecode(value, raw));
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string bad = raw;
    bad[i] = static_cast<char>(bad[i] ^ 0x80);
    EXPECT_FALSE(c.decode(base64UrlEncode(bad), kNow).has_value()) << "byte " << i;
  }
  EXPECT_FALSE(c.decode(base64UrlEncode(raw.substr(0, raw.size() - 1)), kNow).has_value());
  EXPECT_FALSE(c.decode(value + "A", kNow).has_value());
  EXPECT_FALSE(c.decode("", kNow).has_value());
  EXPECT_FALSE(c.decode("not base64!", kNow).has_value());
  EXPECT_FALSE(c.decode(std::string(5000, 'A'), kNow).has_value());
  // The untouched value still decodes: the loop above did not pass by accident.
  EXPECT_TRUE(c.decode(value, kNow).has_value());
}

TEST(RefreshCookieTest, CookiesOfOtherCodecsAreRefused) {
  const RefreshCookieCodec c = refreshCodec({key('r'), ""});
  const std::string value = refreshValue(c);
  // Another key.
  EXPECT_FALSE(refreshCodec({key('s'), ""}).decode(value, kNow).has_value());
  // The same key under another cookie name (the name is authenticated data).
  EXPECT_FALSE(refreshCodec({key('r'), ""}, "other-refresh").decode(value, kNow).has_value());
  // The same key and the same cookie name (a __Secure- session cookie, as with a Domain):
  // only the label of the derived subkey separates them, both ways.
  SessionOptions o;
  o.cookie_name = "stepgate-session-refresh";
  o.domain = "example.com";
  const SessionCodec sessions = codec({key('r'), ""}, o);
  ASSERT_EQ(sessions.cookieName(), c.cookieName());
  EXPECT_FALSE(c.decode(freshCookie(sessions), kNow).has_value());
  auto as_session = sessions.decode(value, kNow);
  ASSERT_FALSE(as_session.ok());
  EXPECT_EQ(*as_session.error, SessionError::kTampered);
  // A login-state cookie sealed with the same key.
  auto login = LoginStateCodec::create({key('r'), ""});
  ASSERT_TRUE(login.isOk());
  auto state = login->begin("/", "", kNow);
  ASSERT_TRUE(state.isOk());
  auto login_header = login->setCookie(*state, kNow);
  ASSERT_TRUE(login_header.isOk());
  EXPECT_FALSE(c.decode(valueOf(*login_header), kNow).has_value());
  EXPECT_FALSE(login->decode(value, std::nullopt, kNow).ok());
}

TEST(RefreshCookieTest, KeyRotation) {
  const RefreshCookieCodec old_codec = refreshCodec({key('a'), ""});
  const std::string old_value = refreshValue(old_codec);
  const RefreshCookieCodec rotated = refreshCodec({key('b'), key('a')});
  auto g = rotated.decode(old_value, kNow);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->refresh_token, "refresh-token-0123456789");
  const std::string new_value = refreshValue(rotated);
  EXPECT_TRUE(rotated.decode(new_value, kNow).has_value());
  EXPECT_FALSE(old_codec.decode(new_value, kNow).has_value());
  const RefreshCookieCodec retired = refreshCodec({key('b'), ""});
  EXPECT_FALSE(retired.decode(old_value, kNow).has_value());
  EXPECT_TRUE(retired.decode(new_value, kNow).has_value());
}

TEST(RefreshCookieTest, TooLargeRefreshTokenRefused) {
  const RefreshCookieCodec c = refreshCodec();
  auto big = c.setCookie(grant(std::string(5000, 't')), kNow);
  ASSERT_FALSE(big.isOk());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big.status().message().find("ttttt"), std::string::npos);  // never echoed
  // A large token that still fits is kept, and the whole header stays within the limit.
  auto fits = c.setCookie(grant(std::string(2500, 't')), kNow);
  ASSERT_TRUE(fits.isOk()) << fits.status().toString();
  EXPECT_LE(fits->size(), kMaxCookieBytes);
  auto g = c.decode(valueOf(*fits), kNow);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->refresh_token, std::string(2500, 't'));
}

TEST(RefreshCookieTest, CreateRefusesBadSettings) {
  EXPECT_TRUE(RefreshCookieCodec::create({key('r'), ""}, "rt", "/").isOk());
  for (const char* name : {"", "bad name", "semi;colon", "a=b", "tab\tname"}) {
    EXPECT_FALSE(RefreshCookieCodec::create({key('r'), ""}, name, "/.stepgate").isOk()) << name;
  }
  for (const char* path : {"", "relative", ".stepgate", "/a;b", "/a b", "/a,b", "/a\"b"}) {
    auto c = RefreshCookieCodec::create({key('r'), ""}, "rt", path);
    ASSERT_FALSE(c.isOk()) << path;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(RefreshCookieCodec::create({"short", ""}, "rt", "/").isOk());
  EXPECT_FALSE(RefreshCookieCodec::create({key('r'), "short"}, "rt", "/").isOk());
  EXPECT_FALSE(RefreshCookieCodec::create({key('r'), key('r')}, "rt", "/").isOk());
}

}  // namespace
}  // namespace stepgate::identity
