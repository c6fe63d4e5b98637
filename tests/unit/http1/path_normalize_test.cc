#include "proxy/http1/path_normalize.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace stepgate::proxy {
namespace {

struct Result {
  PathError error;
  std::string out;
};

Result normalize(std::string_view in, PathOptions options = {}) {
  std::string out = "stale contents";
  PathError e = normalizePath(in, options, out);
  return {e, out};
}

std::string ok(std::string_view in, PathOptions options = {}) {
  Result r = normalize(in, options);
  EXPECT_EQ(r.error, PathError::kNone) << "input: " << in << " error: "
                                       << pathErrorName(r.error);
  return r.out;
}

PathError err(std::string_view in, PathOptions options = {}) {
  Result r = normalize(in, options);
  EXPECT_TRUE(r.out.empty()) << "output left behind on error for " << in;
  return r.error;
}

PathOptions merge() {
  PathOptions o;
  o.merge_slashes = true;
  return o;
}

PathOptions allowParams() {
  PathOptions o;
  o.reject_path_parameters = false;
  return o;
}

TEST(PathNormalizeTest, PlainPathsUnchanged) {
  EXPECT_EQ(ok("/"), "/");
  EXPECT_EQ(ok("/api/workflow/order-fulfillment"), "/api/workflow/order-fulfillment");
  EXPECT_EQ(ok("/a:b@c!$&'()*+,=-._~"), "/a:b@c!$&'()*+,=-._~");
  EXPECT_EQ(ok("/api/v1/"), "/api/v1/");
}

TEST(PathNormalizeTest, MustBeAbsolute) {
  EXPECT_EQ(err(""), PathError::kNotAbsolute);
  EXPECT_EQ(err("api"), PathError::kNotAbsolute);
  EXPECT_EQ(err("*"), PathError::kNotAbsolute);
  EXPECT_EQ(err("http://x/a"), PathError::kNotAbsolute);
  EXPECT_EQ(err("%2fa"), PathError::kNotAbsolute);
}

TEST(PathNormalizeTest, DecodesUnreservedEscapes) {
  EXPECT_EQ(ok("/%61%62%63"), "/abc");
  EXPECT_EQ(ok("/%41%5A%30%39"), "/AZ09");
  EXPECT_EQ(ok("/%2d%2E%5f%7e"), "/-._~");
  EXPECT_EQ(ok("/x%2ey"), "/x.y");
}

TEST(PathNormalizeTest, KeepsOtherEscapesWithUppercaseHex) {
  EXPECT_EQ(ok("/a%20b"), "/a%20b");
  EXPECT_EQ(ok("/a%3ab"), "/a%3Ab");
  EXPECT_EQ(ok("/a%3b"), "/a%3B");
  EXPECT_EQ(ok("/%25"), "/%25");
  EXPECT_EQ(ok("/%252e"), "/%252e");
  EXPECT_EQ(ok("/%3f%23"), "/%3F%23");
  EXPECT_EQ(ok("/caf%c3%a9"), "/caf%C3%A9");
}

TEST(PathNormalizeTest, BadPercentEncoding) {
  EXPECT_EQ(err("/%"), PathError::kBadPercentEncoding);
  EXPECT_EQ(err("/%4"), PathError::kBadPercentEncoding);
  EXPECT_EQ(err("/%zz"), PathError::kBadPercentEncoding);
  EXPECT_EQ(err("/%4g"), PathError::kBadPercentEncoding);
  EXPECT_EQ(err("/%u002e"), PathError::kBadPercentEncoding);
  EXPECT_EQ(err("/a%/b"), PathError::kBadPercentEncoding);
}

TEST(PathNormalizeTest, EncodedSlashRefused) {
  EXPECT_EQ(err("/a%2fb"), PathError::kEncodedSlash);
  EXPECT_EQ(err("/a%2Fb"), PathError::kEncodedSlash);
  EXPECT_EQ(err("/..%2f"), PathError::kEncodedSlash);
}

TEST(PathNormalizeTest, BackslashRefused) {
  EXPECT_EQ(err("/a\\b"), PathError::kBackslash);
  EXPECT_EQ(err("/a%5cb"), PathError::kBackslash);
  EXPECT_EQ(err("/a%5Cb"), PathError::kBackslash);
}

TEST(PathNormalizeTest, EncodedControlRefused) {
  for (int b = 0; b < 0x20; ++b) {
    char esc[8];
    std::snprintf(esc, sizeof(esc), "/%%%02X", b);
    EXPECT_EQ(err(esc), PathError::kEncodedControl) << esc;
  }
  EXPECT_EQ(err("/%7f"), PathError::kEncodedControl);
  EXPECT_EQ(err("/%7F"), PathError::kEncodedControl);
}

TEST(PathNormalizeTest, RawBytesOutsidePcharRefused) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    std::string in = "/a";
    in.push_back(c);
    Result r = normalize(in);
    const bool pchar = std::isalnum(b) || std::string_view("-._~!$&'()*+,=:@").find(c) !=
                                              std::string_view::npos;
    if (pchar || c == '/') {
      EXPECT_EQ(r.error, PathError::kNone) << b;
    } else if (c == '\\') {
      EXPECT_EQ(r.error, PathError::kBackslash);
    } else if (c == ';') {
      EXPECT_EQ(r.error, PathError::kPathParameter);
    } else if (c == '%') {
      EXPECT_EQ(r.error, PathError::kBadPercentEncoding);
    } else {
      EXPECT_EQ(r.error, PathError::kBadCharacter) << b;
    }
  }
}

TEST(PathNormalizeTest, PathParameters) {
  EXPECT_EQ(err("/api/workflow/x;v=1"), PathError::kPathParameter);
  EXPECT_EQ(ok("/api/workflow/x;v=1", allowParams()), "/api/workflow/x;v=1");
  EXPECT_EQ(ok("/a;/b", allowParams()), "/a;/b");
  // An escaped ';' is data, not a parameter delimiter.
  EXPECT_EQ(ok("/a%3Bv=1"), "/a%3Bv=1");
}

TEST(PathNormalizeTest, DotDotSemicolonAlwaysRefused) {
  for (const PathOptions& o : {PathOptions{}, allowParams()}) {
    EXPECT_EQ(err("/a/..;/b", o), PathError::kDotDotSemicolon);
    EXPECT_EQ(err("/..;", o), PathError::kDotDotSemicolon);
    EXPECT_EQ(err("/a/%2e%2e;/b", o), PathError::kDotDotSemicolon);
    EXPECT_EQ(err("/a/.%2E;x=1/b", o), PathError::kDotDotSemicolon);
    EXPECT_EQ(err("/a/..%3b/b", o), PathError::kDotDotSemicolon);
    EXPECT_EQ(err("/a/x..;y", o), PathError::kDotDotSemicolon);
    // "/.;/" is the same trick for servers that strip parameters per segment.
    EXPECT_EQ(err("/.;/admin", o), PathError::kDotDotSemicolon);
    EXPECT_EQ(err("/a/%2e;/b", o), PathError::kDotDotSemicolon);
  }
  EXPECT_EQ(ok("/a/x.;y", allowParams()), "/a/x.;y");
}

TEST(PathNormalizeTest, RemovesDotSegments) {
  EXPECT_EQ(ok("/a/./b"), "/a/b");
  EXPECT_EQ(ok("/a/b/../c"), "/a/c");
  EXPECT_EQ(ok("/a/b/%2e%2e/c"), "/a/c");
  EXPECT_EQ(ok("/a/b/%2E%2e/c"), "/a/c");
  EXPECT_EQ(ok("/a/%2e/b"), "/a/b");
  EXPECT_EQ(ok("/a/."), "/a/");
  EXPECT_EQ(ok("/a/.."), "/");
  EXPECT_EQ(ok("/a/b/.."), "/a/");
  EXPECT_EQ(ok("/."), "/");
  EXPECT_EQ(ok("/./"), "/");
  EXPECT_EQ(ok("/a/../"), "/");
  EXPECT_EQ(ok("/a/b/c/../../d"), "/a/d");
  EXPECT_EQ(ok("/a/.../b"), "/a/.../b");
  EXPECT_EQ(ok("/a/.b/..c/c."), "/a/.b/..c/c.");
}

TEST(PathNormalizeTest, AboveRootRefused) {
  EXPECT_EQ(err("/.."), PathError::kAboveRoot);
  EXPECT_EQ(err("/../a"), PathError::kAboveRoot);
  EXPECT_EQ(err("/a/../.."), PathError::kAboveRoot);
  EXPECT_EQ(err("/%2e%2e/a"), PathError::kAboveRoot);
  EXPECT_EQ(err("//../..", merge()), PathError::kAboveRoot);
}

TEST(PathNormalizeTest, EmptySegmentsKeptWithoutMerge) {
  EXPECT_EQ(ok("//a"), "//a");
  EXPECT_EQ(ok("/a//b"), "/a//b");
  EXPECT_EQ(ok("/a//"), "/a//");
  // RFC 3986 5.2.4: ".." removes the preceding (empty) segment.
  EXPECT_EQ(ok("/a//../b"), "/a/b");
  EXPECT_EQ(ok("//.."), "/");
}

TEST(PathNormalizeTest, MergeSlashes) {
  EXPECT_EQ(ok("//a", merge()), "/a");
  EXPECT_EQ(ok("/a///b//", merge()), "/a/b/");
  EXPECT_EQ(ok("/a//../b", merge()), "/b");
  EXPECT_EQ(ok("///", merge()), "/");
  EXPECT_EQ(ok("/a/.//b", merge()), "/a/b");
}

TEST(PathNormalizeTest, Utf8Validation) {
  EXPECT_EQ(ok("/%c2%80"), "/%C2%80");
  EXPECT_EQ(ok("/%df%bf"), "/%DF%BF");
  EXPECT_EQ(ok("/%e0%a0%80"), "/%E0%A0%80");
  EXPECT_EQ(ok("/%ed%9f%bf"), "/%ED%9F%BF");
  EXPECT_EQ(ok("/%ee%80%80"), "/%EE%80%80");
  EXPECT_EQ(ok("/%f0%90%80%80"), "/%F0%90%80%80");
  EXPECT_EQ(ok("/%f4%8f%bf%bf"), "/%F4%8F%BF%BF");
  EXPECT_EQ(ok("/%ef%bc%8f"), "/%EF%BC%8F");
  EXPECT_EQ(ok("/%c3%a9/%c3%a9"), "/%C3%A9/%C3%A9");

  EXPECT_EQ(err("/%c0%ae"), PathError::kInvalidUtf8);       // overlong '.'
  EXPECT_EQ(err("/%c1%bf"), PathError::kInvalidUtf8);       // overlong
  EXPECT_EQ(err("/%e0%80%af"), PathError::kInvalidUtf8);    // overlong '/'
  EXPECT_EQ(err("/%e0%9f%bf"), PathError::kInvalidUtf8);    // overlong
  EXPECT_EQ(err("/%f0%8f%bf%bf"), PathError::kInvalidUtf8); // overlong
  EXPECT_EQ(err("/%ed%a0%80"), PathError::kInvalidUtf8);    // surrogate
  EXPECT_EQ(err("/%f4%90%80%80"), PathError::kInvalidUtf8); // > U+10FFFF
  EXPECT_EQ(err("/%f5%80%80%80"), PathError::kInvalidUtf8);
  EXPECT_EQ(err("/%80"), PathError::kInvalidUtf8);          // stray continuation
  EXPECT_EQ(err("/%c3"), PathError::kInvalidUtf8);          // truncated at end
  EXPECT_EQ(err("/%c3/x"), PathError::kInvalidUtf8);        // truncated at '/'
  EXPECT_EQ(err("/%c3x"), PathError::kInvalidUtf8);         // interrupted by a raw byte
  EXPECT_EQ(err("/%c3%41"), PathError::kInvalidUtf8);       // interrupted by ASCII escape
  EXPECT_EQ(err("/%e2%82"), PathError::kInvalidUtf8);
  EXPECT_EQ(err("/%c3%a9%a9"), PathError::kInvalidUtf8);    // extra continuation
  EXPECT_EQ(err("/%ff"), PathError::kInvalidUtf8);
  EXPECT_EQ(err("/caf\xc3\xa9"), PathError::kBadCharacter); // raw UTF-8 is not a pchar
}

TEST(PathNormalizeTest, ErrorNames) {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(PathError::kCount); ++i) {
    names.insert(pathErrorName(static_cast<PathError>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(PathError::kCount));
  EXPECT_STREQ(pathErrorName(PathError::kEncodedSlash), "encoded_slash");
  EXPECT_STREQ(pathErrorName(PathError::kDotDotSemicolon), "dot_dot_semicolon");
  EXPECT_STREQ(pathErrorName(PathError::kInvalidUtf8), "invalid_utf8");
  EXPECT_STREQ(pathErrorName(PathError::kCount), "unknown");
}

TEST(PathNormalizeTest, ReusesCallerCapacity) {
  std::string out;
  out.reserve(256);
  const char* data = out.data();
  const size_t cap = out.capacity();
  PathOptions o;
  EXPECT_EQ(normalizePath("/a/b/../c/%7e", o, out), PathError::kNone);
  EXPECT_EQ(out, "/a/c/~");
  EXPECT_EQ(normalizePath("/x", o, out), PathError::kNone);
  EXPECT_EQ(out, "/x");
  EXPECT_EQ(normalizePath("/x%2f", o, out), PathError::kEncodedSlash);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.data(), data);
  EXPECT_EQ(out.capacity(), cap);
}

TEST(PathNormalizeTest, OutputNeverLongerThanInput) {
  const std::string in = "/%C3%A9/%2e/%41/x//y/../z";
  EXPECT_LE(ok(in).size(), in.size());
}

// ---- the bypass corpus -------------------------------------------------------------------

std::string sourceDir() {
  if (const char* env = std::getenv("STEPGATE_SOURCE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef STEPGATE_SOURCE_DIR
  return STEPGATE_SOURCE_DIR;
#else
  return ".";
#endif
}

// Decodes the corpus notation: \xHH is one byte, \\ is one backslash.
bool unescapeField(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '\\') {
      out.push_back('\\');
      ++i;
      continue;
    }
    if (i + 3 < in.size() && in[i + 1] == 'x' && std::isxdigit(in[i + 2]) &&
        std::isxdigit(in[i + 3])) {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
      continue;
    }
    return false;
  }
  return true;
}

struct CorpusCase {
  int line;
  std::string input;
  std::string expected;  // normalised path, or "ERROR:<name>"
  PathOptions options;
  std::string options_text;
};

std::vector<CorpusCase> loadCorpus(std::string& problem) {
  std::vector<CorpusCase> cases;
  const std::string path = sourceDir() + "/tests/fixtures/path_bypass.tsv";
  std::ifstream file(path);
  if (!file) {
    problem = "cannot open " + path;
    return cases;
  }
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    if (cols.size() != 3) {
      problem = "line " + std::to_string(number) + ": expected 3 tab-separated columns";
      return {};
    }
    CorpusCase c;
    c.line = number;
    c.options_text = cols[2];
    if (!unescapeField(cols[0], c.input) || !unescapeField(cols[1], c.expected)) {
      problem = "line " + std::to_string(number) + ": bad escape";
      return {};
    }
    if (cols[2] != "-") {
      std::stringstream os(cols[2]);
      std::string opt;
      while (std::getline(os, opt, ',')) {
        if (opt == "merge_slashes") {
          c.options.merge_slashes = true;
        } else if (opt == "allow_path_parameters") {
          c.options.reject_path_parameters = false;
        } else {
          problem = "line " + std::to_string(number) + ": unknown option " + opt;
          return {};
        }
      }
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(PathNormalizeCorpusTest, BypassCorpus) {
  std::string problem;
  const std::vector<CorpusCase> cases = loadCorpus(problem);
  ASSERT_TRUE(problem.empty()) << problem;
  ASSERT_GE(cases.size(), 80u);

  std::set<std::string> known_errors;
  for (int i = 1; i < static_cast<int>(PathError::kCount); ++i) {
    known_errors.insert(std::string("ERROR:") + pathErrorName(static_cast<PathError>(i)));
  }
  std::string out;
  for (const CorpusCase& c : cases) {
    SCOPED_TRACE("path_bypass.tsv:" + std::to_string(c.line) + " " + c.options_text);
    const PathError e = normalizePath(c.input, c.options, out);
    if (c.expected.rfind("ERROR:", 0) == 0) {
      ASSERT_TRUE(known_errors.count(c.expected)) << "unknown error name " << c.expected;
      EXPECT_EQ(std::string("ERROR:") + pathErrorName(e), c.expected) << c.input;
      continue;
    }
    EXPECT_EQ(e, PathError::kNone) << c.input << " -> " << pathErrorName(e);
    EXPECT_EQ(out, c.expected) << c.input;
    // The canonical form is a fixed point.
    std::string again;
    EXPECT_EQ(normalizePath(c.expected, c.options, again), PathError::kNone) << c.expected;
    EXPECT_EQ(again, c.expected);
  }
}

// ---- properties over generated input -----------------------------------------------------

bool isCanonical(const std::string& p, const PathOptions& o) {
  if (p.empty() || p[0] != '/') return false;
  if (o.merge_slashes && p.find("//") != std::string::npos) return false;
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    const std::string_view seg(p.data() + start, end - start);
    if (seg == "." || seg == "..") return false;
    start = end + 1;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '%') {
      if (i + 2 >= p.size()) return false;
      for (int k = 1; k <= 2; ++k) {
        const char h = p[i + k];
        if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'))) return false;
      }
    }
  }
  return true;
}

TEST(PathNormalizeTest, GeneratedInputsAreCanonicalAndIdempotent) {
  const std::vector<std::string> atoms = {
      "/",   "/",   ".",   "..",  "a",   "B",   ";",   "%2e", "%2E", "%2f", "%5c", "%25",
      "%c3", "%a9", "%00", "%41", "%7e", "%3b", ":",   "@",   "~",   "%",   "\\",  " ",
      "%e2", "%82", "%ac", "%f0", "%9f", "%98", "%80", "%ed", "%a0", "x=1", "\x80"};
  std::mt19937 rng(12345);
  std::uniform_int_distribution<size_t> pick(0, atoms.size() - 1);
  std::uniform_int_distribution<int> len(0, 10);
  std::string out;
  std::string again;
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string in = "/";
    for (int k = len(rng); k > 0; --k) in += atoms[pick(rng)];
    PathOptions o;
    o.merge_slashes = (iter & 1) != 0;
    o.reject_path_parameters = (iter & 2) != 0;
    const PathError e = normalizePath(in, o, out);
    if (e != PathError::kNone) {
      ASSERT_TRUE(out.empty()) << in;
      continue;
    }
    ++accepted;
    ASSERT_LE(out.size(), in.size()) << in;
    ASSERT_TRUE(isCanonical(out, o)) << in << " -> " << out;
    ASSERT_EQ(normalizePath(out, o, again), PathError::kNone) << in << " -> " << out;
    ASSERT_EQ(again, out) << in;
  }
  EXPECT_GT(accepted, 1000);
}

}  // namespace
}  // namespace stepgate::proxy
