// Differential tests: over a corpus of valid requests and responses, the strict codec and
// Debian's http-parser (an independent implementation) must agree on method, target, header
// names, body framing, body bytes and keep-alive. Invalid input is not compared: refusing
// what http-parser tolerates is the point of the strict codec (see parser.h).

#include <http_parser.h>

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/parser.h"

namespace stepgate::proxy::http1 {
namespace {

// What one message looked like to a parser.
struct Message {
  std::string method;  // requests
  std::string url;     // requests
  int status = 0;      // responses
  std::vector<std::string> header_names;
  BodyKind framing = BodyKind::kNone;
  std::string body;
  bool keep_alive = false;
  bool complete = false;
};

// ---------------------------------------------------------------------------------------
// The oracle: http-parser.

struct OracleState {
  std::vector<Message> messages;
  bool in_field = false;
  bool head_request = false;
  bool eof = false;  // the end of the stream has been signalled
  bool in_trailers = false;
};

Message& current(http_parser* p) {
  return static_cast<OracleState*>(p->data)->messages.back();
}

int onMessageBegin(http_parser* p) {
  auto* s = static_cast<OracleState*>(p->data);
  s->messages.emplace_back();
  s->in_field = false;
  s->in_trailers = false;
  return 0;
}

int onUrl(http_parser* p, const char* at, size_t len) {
  current(p).url.append(at, len);
  return 0;
}

int onHeaderField(http_parser* p, const char* at, size_t len) {
  auto* s = static_cast<OracleState*>(p->data);
  if (s->in_trailers) {
    return 0;  // trailer fields are not headers
  }
  if (!s->in_field) {
    current(p).header_names.emplace_back();
    s->in_field = true;
  }
  current(p).header_names.back().append(at, len);
  return 0;
}

int onHeaderValue(http_parser* p, const char*, size_t) {
  static_cast<OracleState*>(p->data)->in_field = false;
  return 0;
}

int onHeadersComplete(http_parser* p) {
  auto* s = static_cast<OracleState*>(p->data);
  s->in_trailers = true;
  Message& m = current(p);
  if (p->type == HTTP_REQUEST) {
    m.method = http_method_str(static_cast<http_method>(p->method));
  } else {
    m.status = static_cast<int>(p->status_code);
  }
  const bool skip = p->type == HTTP_RESPONSE && s->head_request;
  if (skip) {
    m.framing = BodyKind::kNone;
  } else if (p->flags & F_CHUNKED) {
    m.framing = BodyKind::kChunked;
  } else if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0) {
    m.framing = BodyKind::kContentLength;
  }
  return skip ? 1 : 0;
}

int onBody(http_parser* p, const char* at, size_t len) {
  current(p).body.append(at, len);
  return 0;
}

int onMessageComplete(http_parser* p) {
  Message& m = current(p);
  m.keep_alive = http_should_keep_alive(p) != 0;
  m.complete = true;
  // A message that only the end of the stream completed was delimited by it.
  if (static_cast<OracleState*>(p->data)->eof && m.framing == BodyKind::kNone) {
    m.framing = BodyKind::kUntilClose;
  }
  return 0;
}

std::vector<Message> oracleParse(std::string_view input, http_parser_type type,
                                 bool head_request) {
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_message_begin = onMessageBegin;
  settings.on_url = onUrl;
  settings.on_header_field = onHeaderField;
  settings.on_header_value = onHeaderValue;
  settings.on_headers_complete = onHeadersComplete;
  settings.on_body = onBody;
  settings.on_message_complete = onMessageComplete;
  http_parser parser;
  http_parser_init(&parser, type);
  OracleState state;
  state.head_request = head_request;
  parser.data = &state;
  const size_t n = http_parser_execute(&parser, &settings, input.data(), input.size());
  EXPECT_EQ(n, input.size()) << http_errno_name(HTTP_PARSER_ERRNO(&parser));
  EXPECT_EQ(HTTP_PARSER_ERRNO(&parser), HPE_OK)
      << http_errno_description(HTTP_PARSER_ERRNO(&parser));
  state.eof = true;
  http_parser_execute(&parser, &settings, nullptr, 0);  // end of stream
  return state.messages;
}

// ---------------------------------------------------------------------------------------
// The codec under test, driven the way a connection drives it.

// Reads the body after a head at `pos`; moves `pos` past it.
bool readBody(std::string_view input, size_t& pos, BodyKind kind, uint64_t content_length,
              std::string& body) {
  switch (kind) {
    case BodyKind::kNone:
      return true;
    case BodyKind::kContentLength:
      if (input.size() - pos < content_length) {
        return false;
      }
      body.assign(input.substr(pos, content_length));
      pos += content_length;
      return true;
    case BodyKind::kUntilClose:
      body.assign(input.substr(pos));
      pos = input.size();
      return true;
    case BodyKind::kChunked: {
      ChunkedDecoder decoder{Limits{}};
      for (;;) {
        const ChunkedDecoder::Result r = decoder.next(input.substr(pos));
        switch (r.step) {
          case ChunkedDecoder::Step::kData:
            pos += r.consumed;
            body.append(input.substr(pos, r.data_len));
            pos += r.data_len;
            break;
          case ChunkedDecoder::Step::kDone:
            pos += r.consumed;
            return true;
          case ChunkedDecoder::Step::kNeedMore:
          case ChunkedDecoder::Step::kError:
            ADD_FAILURE() << parseErrorName(r.error);
            return false;
        }
      }
    }
  }
  return false;
}

std::vector<Message> codecParseRequests(std::string_view input) {
  std::vector<Message> messages;
  size_t pos = 0;
  while (pos < input.size()) {
    const std::string_view rest = input.substr(pos);
    size_t scanned = 0;
    const HeadScan scan = findHeadEnd(rest, scanned, Limits{});
    if (scan.state != HeadScan::State::kComplete) {
      ADD_FAILURE() << "head: " << parseErrorName(scan.error);
      break;
    }
    RequestHead head;
    const ParseError e = parseRequestHead(rest.substr(0, scan.head_len), Limits{}, head);
    if (e != ParseError::kNone) {
      ADD_FAILURE() << parseErrorName(e);
      break;
    }
    Message m;
    m.method = head.method;
    m.url = head.target;
    for (const Header& h : head.headers) {
      m.header_names.emplace_back(h.name);
    }
    m.framing = head.body;
    m.keep_alive = head.keep_alive;
    pos += scan.head_len;
    m.complete = readBody(input, pos, head.body, head.content_length, m.body);
    messages.push_back(std::move(m));
  }
  return messages;
}

Message codecParseResponse(std::string_view input, bool head_request) {
  Message m;
  size_t scanned = 0;
  const HeadScan scan = findHeadEnd(input, scanned, Limits{});
  if (scan.state != HeadScan::State::kComplete) {
    ADD_FAILURE() << "head: " << parseErrorName(scan.error);
    return m;
  }
  ResponseHead head;
  const ParseError e =
      parseResponseHead(input.substr(0, scan.head_len), Limits{}, head_request, head);
  if (e != ParseError::kNone) {
    ADD_FAILURE() << parseErrorName(e);
    return m;
  }
  m.status = head.status;
  for (const Header& h : head.headers) {
    m.header_names.emplace_back(h.name);
  }
  m.framing = head.body;
  m.keep_alive = head.keep_alive;
  size_t pos = scan.head_len;
  m.complete = readBody(input, pos, head.body, head.content_length, m.body);
  EXPECT_EQ(pos, input.size()) << "bytes left after the response";
  return m;
}

void expectSame(const Message& oracle, const Message& codec, const std::string& what) {
  EXPECT_EQ(codec.method, oracle.method) << what;
  EXPECT_EQ(codec.url, oracle.url) << what;
  EXPECT_EQ(codec.status, oracle.status) << what;
  EXPECT_EQ(codec.header_names, oracle.header_names) << what;
  EXPECT_EQ(codec.framing, oracle.framing) << what;
  EXPECT_EQ(codec.body, oracle.body) << what;
  EXPECT_EQ(codec.keep_alive, oracle.keep_alive) << what;
  EXPECT_TRUE(oracle.complete) << what;
  EXPECT_TRUE(codec.complete) << what;
}

// ---------------------------------------------------------------------------------------
// Corpus

const std::vector<std::string>& requestCorpus() {
  static const std::vector<std::string> corpus = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /search?q=stepgate&lang=en HTTP/1.1\r\nHost: example.com\r\n"
      "User-Agent: curl/8.0\r\nAccept: */*\r\nAccept-Encoding: gzip, br\r\n\r\n",
      "POST /api/v1/items HTTP/1.1\r\nHost: api.example:8443\r\n"
      "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\":[1,2,3]}",
      "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
      "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Checksum: 42\r\nX-Other: y\r\n\r\n",
      "GET /old HTTP/1.0\r\n\r\n",
      "GET /old HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n",
      "GET http://a.example/x/y?z=1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
      "PUT /blob HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b'),
      "DELETE /items/7 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      "PATCH /doc HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
      "patch",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Spaces:   v  \r\nX-Latin: caf\xc3\xa9\r\n\r\n",
      "\r\nGET /after-crlf HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST /zero HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
      "HEAD /h HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
      "M-SEARCH /upnp HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n",
      "GET /%7Euser/a%20b HTTP/1.1\r\nHost: a\r\nCookie: a=b; c=d\r\n"
      "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x\r\n\r\n",
      "POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "400\r\n" + std::string(1024, 'c') + "\r\n1\r\nd\r\n0\r\n\r\n",
  };
  return corpus;
}

TEST(DifferentialTest, RequestsAgreeWithHttpParser) {
  for (const std::string& input : requestCorpus()) {
    const std::string what = testing::PrintToString(input.substr(0, 80));
    const std::vector<Message> oracle = oracleParse(input, HTTP_REQUEST, false);
    const std::vector<Message> codec = codecParseRequests(input);
    ASSERT_EQ(oracle.size(), 1u) << what;
    ASSERT_EQ(codec.size(), 1u) << what;
    expectSame(oracle[0], codec[0], what);
  }
}

TEST(DifferentialTest, PipelinedRequestsAgreeWithHttpParser) {
  std::string input;
  for (const std::string& r : requestCorpus()) {
    // Connection: close and HTTP/1.0 end a connection; keep the rest.
    if (r.find("close") == std::string::npos &&
        r.find("HTTP/1.0\r\n\r\n") == std::string::npos) {
      input += r;
    }
  }
  const std::vector<Message> oracle = oracleParse(input, HTTP_REQUEST, false);
  const std::vector<Message> codec = codecParseRequests(input);
  ASSERT_EQ(oracle.size(), codec.size());
  ASSERT_GT(codec.size(), 10u);
  for (size_t i = 0; i < codec.size(); ++i) {
    expectSame(oracle[i], codec[i], "message " + std::to_string(i));
  }
}

struct ResponseCase {
  std::string input;
  bool head_request;
};

TEST(DifferentialTest, ResponsesAgreeWithHttpParser) {
  const ResponseCase corpus[] = {
      {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n7;x=\"y\"\r\n, world\r\n0\r\nTrailer: t\r\n\r\n",
       false},
      {"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>until close</html>", false},
      {"HTTP/1.1 204 No Content\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n", false},
      {"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true},
      {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 3\r\n\r\n"
       "err",
       false},
      {"HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\nContent-Length: 1\r\n\r\nx",
       false},
  };
  for (const ResponseCase& c : corpus) {
    const std::string what = testing::PrintToString(c.input.substr(0, 80));
    const std::vector<Message> oracle = oracleParse(c.input, HTTP_RESPONSE, c.head_request);
    ASSERT_EQ(oracle.size(), 1u) << what;
    expectSame(oracle[0], codecParseResponse(c.input, c.head_request), what);
  }
}

}  // namespace
}  // namespace stepgate::proxy::http1
