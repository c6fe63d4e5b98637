// Request smuggling (RFC 9112 section 11) through the running proxy: every ambiguous message
// is refused with the documented status and reason, nothing of it reaches the upstream, and
// a safe request pipelined in front of a smuggling attempt is forwarded alone. The response
// side: malformed upstream responses become 502 bad_response.
//
// What "the upstream received" means here: the bytes stepgate wrote towards the upstream,
// recorded by a TCP tap in front of it (lib/gateway.mjs), plus the requests the node:http
// upstream completed.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { sleep, startRawUpstream } from './lib/harness.mjs';
import { assertLocalError, exchange, startGateway } from './lib/gateway.mjs';

const PARSER = 'stepgate_parser_rejections_total';

let gw;
before(async () => {
  gw = await startGateway({
    limits: {
      max_body_bytes: 65536,
      max_request_line: 1024,
      max_header_bytes: 4096,
      max_headers: 30,
      header_timeout: 5000,
    },
  });
});
after(async () => {
  if (gw) await gw.close();
});

// Sends `bytes` and asserts the one local error response, the connection closed, the metric
// stepgate_parser_rejections_total{reason} +1, and that nothing was forwarded.
async function refused(bytes, status, reason, { metric = PARSER } = {}) {
  gw.tap.reset();
  const seen = gw.up.requests.length;
  const { r, list, delta } = await exchange(gw, bytes);
  assert.equal(list.length, 1, `one response expected, got: ${JSON.stringify(r.text)}`);
  assertLocalError(list[0], status, reason);
  assert.equal(r.closed, true, 'the connection must close after a refusal');
  assert.equal(delta(metric, { reason }), 1, `${metric}{reason="${reason}"}`);
  assert.equal(delta('stepgate_responses_total', { code: String(status) }), 1);
  await sleep(30);  // anything forwarded would have reached the tap by now
  assert.equal(gw.tap.sentText(), '', 'the upstream must receive nothing');
  assert.equal(gw.up.requests.length, seen);
  return list[0];
}

// A request whose head is forwarded before its chunked body turns out to be malformed: the
// proxy streams bodies, so the head (and the well-formed chunks before the error) may already
// be on the upstream connection. The upstream must never complete a request, and the upstream
// connection must be closed, not reused.
async function refusedInBody(bytes, status, reason) {
  gw.tap.reset();
  const seen = gw.up.requests.length;
  const { r, list, delta } = await exchange(gw, bytes);
  assert.equal(list.length, 1, `one response expected, got: ${JSON.stringify(r.text)}`);
  assertLocalError(list[0], status, reason);
  assert.equal(r.closed, true);
  assert.equal(delta(PARSER, { reason }), 1, `${PARSER}{reason="${reason}"}`);
  await sleep(50);
  const forwarded = gw.tap.requests();
  assert.ok(forwarded.length <= 1, 'at most the one request head');
  for (const req of forwarded) assert.equal(req.complete, false, 'no complete request upstream');
  for (const c of gw.tap.connections) {
    if (c.sent.length) assert.equal(c.closed, true, 'the upstream connection must be closed');
  }
  assert.equal(gw.up.requests.length, seen);
}

const H = 'Host: example.test\r\n';

describe('framing headers', () => {
  test('Content-Length then Transfer-Encoding', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400, 'content_length_with_transfer_encoding'));

  test('Transfer-Encoding then Content-Length', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    400, 'content_length_with_transfer_encoding'));

  test('duplicate equal Content-Length', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    400, 'duplicate_content_length'));

  test('differing Content-Length', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
    400, 'duplicate_content_length'));

  test('Content-Length comma list', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`,
    400, 'duplicate_content_length'));

  test('Content-Length with a sign', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400, 'bad_content_length'));

  test('Content-Length with an inner space', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: 1 0\r\n\r\nhelloworld`, 400, 'bad_content_length'));

  test('negative Content-Length', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400, 'bad_content_length'));

  test('Content-Length in hex', () => refused(
    `POST /a HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, 400, 'bad_content_length'));

  test('Transfer-Encoding: gzip, chunked', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    501, 'transfer_encoding_not_chunked'));

  test('Transfer-Encoding: chunked, chunked', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`,
    501, 'transfer_encoding_not_chunked'));

  test('two Transfer-Encoding headers', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n` +
    '0\r\n\r\n', 501, 'transfer_encoding_not_chunked'));

  test('Transfer-Encoding: chunked then Transfer-Encoding: identity', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n` +
    '0\r\n\r\n', 501, 'transfer_encoding_not_chunked'));

  test('Transfer-Encoding in HTTP/1.0', () => refused(
    `POST /a HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400, 'transfer_encoding_in_http10'));

  test('Transfer-Encoding: xchunked', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    501, 'transfer_encoding_not_chunked'));

  test('Transfer-Encoding: chunked;q=1 (a parameter)', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n`,
    501, 'transfer_encoding_not_chunked'));

  test('Transfer-Encoding with a space before the colon', () => refused(
    `POST /a HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    400, 'whitespace_before_colon'));

  test('Expect other than 100-continue', () => refused(
    `POST /a HTTP/1.1\r\n${H}Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx`,
    417, 'expectation_failed'));
});

describe('chunked bodies', () => {
  const post = `POST /chunk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;

  test('chunk size of 17 hex digits', () =>
    refusedInBody(`${post}00000000000000005\r\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_size'));

  // With max_body_bytes set (limits are never 0), a size that would overflow 64 bits exceeds
  // the body limit first: the answer is 413 body_too_large, still before any data.
  test('chunk size overflowing 64 bits', () =>
    refusedInBody(`${post}ffffffffffffffff1\r\nhello\r\n0\r\n\r\n`, 413, 'body_too_large'));

  test('chunk size 0x5', () =>
    refusedInBody(`${post}0x5\r\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_size'));

  test('chunk size -1', () =>
    refusedInBody(`${post}-1\r\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_size'));

  test('empty chunk size', () =>
    refusedInBody(`${post}\r\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_size'));

  test('chunk size with a space inside', () =>
    refusedInBody(`${post}5 5\r\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_size'));

  // A bare LF ending a size line that is otherwise complete is reported as bare_lf; one that
  // ends an unfinished extension is a bad extension.
  test('chunk extension ended by a bare LF', () =>
    refusedInBody(`${post}5;ext=1\nhello\r\n0\r\n\r\n`, 400, 'bare_lf'));

  test('chunk extension with an empty value ended by a bare LF', () =>
    refusedInBody(`${post}5;ext=\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_extension'));

  test('chunk extension with a control byte', () =>
    refusedInBody(`${post}5;e\x01xt=1\r\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_extension'));

  test('chunk extension with an unterminated quote', () =>
    refusedInBody(`${post}5;ext="abc\r\nhello\r\n0\r\n\r\n`, 400, 'bad_chunk_extension'));

  test('chunk data not followed by CRLF', () =>
    refusedInBody(`${post}5\r\nhelloXX\r\n0\r\n\r\n`, 400, 'bad_chunk_terminator'));

  test('chunk data followed by a bare LF', () =>
    refusedInBody(`${post}5\r\nhello\n0\r\n\r\n`, 400, 'bad_chunk_terminator'));

  test('trailer with obs-fold', () =>
    refusedInBody(`${post}5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n`, 400, 'obs_fold'));

  test('valid chunk extensions and trailers are accepted and dropped', async () => {
    gw.tap.reset();
    const seen = gw.up.requests.length;
    const { list } = await exchange(gw,
      `POST /ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      '5;name=value;q="a b"\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n');
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 200);
    assert.equal(gw.up.requests.length, seen + 1);
    assert.equal(gw.up.requests.at(-1).body, 'hello world');
    assert.match(gw.tap.sentText(), /\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n$/);
  });
});

describe('message syntax', () => {
  test('obs-fold in a header', () => refused(
    `GET /a HTTP/1.1\r\n${H}X-Long: one\r\n two\r\n\r\n`, 400, 'obs_fold'));

  test('obs-fold with a tab', () => refused(
    `GET /a HTTP/1.1\r\n${H}X-Long: one\r\n\ttwo\r\n\r\n`, 400, 'obs_fold'));

  test('bare CR inside a header value', () => refused(
    `GET /a HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400, 'bare_cr'));

  test('bare LF line endings', () => refused(
    'GET /a HTTP/1.1\nHost: example.test\n\n', 400, 'bare_lf'));

  test('bare LF ending one header line', () => refused(
    `GET /a HTTP/1.1\r\n${H}X-A: 1\nTransfer-Encoding: chunked\r\n\r\n`, 400, 'bare_lf'));

  test('NUL in a header value', () => refused(
    `GET /a HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 400, 'bad_header_value'));

  test('DEL in a header value', () => refused(
    `GET /a HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, 400, 'bad_header_value'));

  test('control byte in a header name', () => refused(
    `GET /a HTTP/1.1\r\n${H}X\x01A: 1\r\n\r\n`, 400, 'bad_header_name'));

  test('space before the colon', () => refused(
    `GET /a HTTP/1.1\r\nHost : example.test\r\n\r\n`, 400, 'whitespace_before_colon'));

  test('header line without a colon', () => refused(
    `GET /a HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 400, 'bad_header_name'));

  test('missing Host in HTTP/1.1', () => refused(
    'GET /a HTTP/1.1\r\nX-A: 1\r\n\r\n', 400, 'missing_host'));

  test('two Host headers', () => refused(
    `GET /a HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`, 400, 'duplicate_host'));

  test('two equal Host headers', () => refused(
    `GET /a HTTP/1.1\r\n${H}${H}\r\n`, 400, 'duplicate_host'));

  test('Host with user info', () => refused(
    'GET /a HTTP/1.1\r\nHost: user@example.test\r\n\r\n', 400, 'bad_host'));

  test('absolute-form with a mismatched Host', () => refused(
    'GET http://a.example.test/x HTTP/1.1\r\nHost: b.example.test\r\n\r\n',
    400, 'absolute_form_host_mismatch'));

  test('absolute-form without Host', () => refused(
    'GET http://a.example.test/x HTTP/1.1\r\n\r\n', 400, 'absolute_form_host_mismatch'));

  test('CONNECT is not proxied', () => refused(
    `CONNECT example.test:443 HTTP/1.1\r\n${H}\r\n`, 405, 'authority_form'));

  test('authority-form with another method', () => refused(
    `GET example.test:443 HTTP/1.1\r\n${H}\r\n`, 405, 'authority_form'));

  test('HTTP/2.0 request line', () => refused(
    `GET /a HTTP/2.0\r\n${H}\r\n`, 505, 'unsupported_version'));

  test('malformed version', () => refused(
    `GET /a HTTP/1.1x\r\n${H}\r\n`, 400, 'bad_version'));

  test('extra space in the request line', () => refused(
    `GET  /a HTTP/1.1\r\n${H}\r\n`, 400, 'bad_request_line'));

  test('fragment in the target', () => refused(
    `GET /a#frag HTTP/1.1\r\n${H}\r\n`, 400, 'bad_target'));

  test('absolute-form matching Host is accepted; upstream sees origin-form', async () => {
    gw.tap.reset();
    const seen = gw.up.requests.length;
    const { r, list } = await exchange(gw,
      'GET http://a.example.test/x/y?q=1 HTTP/1.1\r\nHost: a.example.test\r\n' +
      'Connection: close\r\n\r\n');
    assert.equal(r.closed, true);
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 200);
    assert.equal(gw.up.requests.length, seen + 1);
    const rec = gw.up.requests.at(-1);
    assert.equal(rec.url, '/x/y?q=1');
    assert.equal(rec.headers.host, gw.upstreamHost);
    assert.equal(rec.headers['x-forwarded-host'], 'a.example.test');
    const fwd = gw.tap.requests();
    assert.equal(fwd.length, 1);
    assert.equal(fwd[0].line, 'GET /x/y?q=1 HTTP/1.1');
  });

  test('absolute-form Host comparison ignores case', async () => {
    const seen = gw.up.requests.length;
    const { list } = await exchange(gw,
      'GET http://A.Example.Test/z HTTP/1.1\r\nHost: a.example.test\r\nConnection: close\r\n\r\n');
    assert.equal(list[0].status, 200);
    assert.equal(gw.up.requests.length, seen + 1);
    assert.equal(gw.up.requests.at(-1).url, '/z');
  });

  test('HTTP/1.0 without Host is accepted', async () => {
    gw.tap.reset();
    const seen = gw.up.requests.length;
    const { r, list } = await exchange(gw, 'GET /ten HTTP/1.0\r\n\r\n');
    assert.equal(r.closed, true);
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 200);
    assert.equal(list[0].headers.connection, 'close');
    assert.equal(gw.up.requests.length, seen + 1);
    const rec = gw.up.requests.at(-1);
    assert.equal(rec.url, '/ten');
    assert.equal(rec.headers.host, gw.upstreamHost);
    assert.equal(rec.headers['x-forwarded-host'], undefined);
    assert.equal(rec.headers.via, '1.0 stepgate');
  });

  test('leading empty lines before the request line are tolerated', async () => {
    const seen = gw.up.requests.length;
    const { list } = await exchange(gw,
      `\r\n\r\nGET /lead HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 200);
    assert.equal(gw.up.requests.length, seen + 1);
    assert.equal(gw.up.requests.at(-1).url, '/lead');
  });
});

// Payloads from the request-smuggling literature (Linhart et al. 2005; Kettle 2019), byte for
// byte. A front end that picked one framing and a back end the other would see a second
// request ("SMUGGLED", "GPOST", "GET /admin"); here the upstream must never see one.
describe('classic desync payloads', () => {
  test('CL.TE', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 13\r\n' +
    'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED',
    400, 'content_length_with_transfer_encoding'));

  test('TE.CL', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 3\r\n' +
    'Transfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
    400, 'content_length_with_transfer_encoding'));

  test('TE.CL with GPOST', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Type: ' +
    'application/x-www-form-urlencoded\r\nContent-length: 4\r\nTransfer-Encoding: chunked\r\n' +
    '\r\n5c\r\nGPOST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
    'Content-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n',
    400, 'content_length_with_transfer_encoding'));

  test('TE.TE obfuscated with a second, bogus Transfer-Encoding', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 4\r\n' +
    'Transfer-Encoding: chunked\r\nTransfer-encoding: cow\r\n\r\n' +
    '5c\r\nGPOST / HTTP/1.1\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n',
    400, 'content_length_with_transfer_encoding'));

  test('TE.TE: two Transfer-Encodings without Content-Length', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nTransfer-Encoding: chunked\r\n' +
    'Transfer-encoding: x\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    501, 'transfer_encoding_not_chunked'));

  test('TE obfuscated by a space before the colon', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 4\r\n' +
    'Transfer-Encoding : chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    400, 'whitespace_before_colon'));

  test('TE obfuscated by obs-fold', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 4\r\nX: x\r\n' +
    ' Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    400, 'obs_fold'));

  test('TE obfuscated by a bare LF', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 4\r\nX: x\n' +
    'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    400, 'bare_lf'));

  test('TE with a tab is still Transfer-Encoding (and collides with Content-Length)', () =>
    refused('POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 4\r\n' +
      'Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    400, 'content_length_with_transfer_encoding'));

  test('CL.CL: two Content-Lengths', () => refused(
    'POST / HTTP/1.1\r\nHost: vulnerable-website.com\r\nContent-Length: 8\r\n' +
    'Content-Length: 7\r\n\r\n12345\r\naGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    400, 'duplicate_content_length'));

  // A GET with a body: stepgate restates the framing, so the "smuggled" bytes reach the
  // upstream as that request's body, never as a second request.
  test('GET with a Content-Length body carrying a request', async () => {
    gw.tap.reset();
    const seen = gw.up.requests.length;
    const inner = 'GET /admin HTTP/1.1\r\nHost: x\r\n\r\n';
    const { list } = await exchange(gw,
      `GET /outer HTTP/1.1\r\n${H}Content-Length: ${inner.length}\r\n\r\n${inner}` +
      `GET /last HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.deepEqual(list.map((x) => x.status), [200, 200]);
    assert.deepEqual(gw.up.requests.slice(seen).map((x) => x.url), ['/outer', '/last']);
    assert.equal(gw.up.requests[seen].body, inner);
    const fwd = gw.tap.requests();
    assert.deepEqual(fwd.map((x) => x.line), ['GET /outer HTTP/1.1', 'GET /last HTTP/1.1']);
    assert.equal(fwd[0].headers['content-length'], String(inner.length));
    assert.equal(fwd[0].body.toString('latin1'), inner);
  });
});

// A safe request first, then a smuggling attempt in the same write: the first is answered and
// forwarded alone; the second is refused and the connection closed.
describe('pipelined smuggling after a safe request', () => {
  const safe = `GET /first HTTP/1.1\r\n${H}\r\n`;
  const cases = [
    ['CL+TE', `POST /second HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked` +
      '\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n', 400, 'content_length_with_transfer_encoding'],
    ['duplicate CL', `POST /second HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 33\r\n` +
      '\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'duplicate_content_length'],
    ['obs-fold', `GET /second HTTP/1.1\r\n${H}X: a\r\n Transfer-Encoding: chunked\r\n\r\n`,
      400, 'obs_fold'],
    ['bare LF', 'GET /second HTTP/1.1\nHost: x\n\n', 400, 'bare_lf'],
    ['bad chunk size', `POST /second HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n` +
      '-0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_chunk_size'],
  ];
  for (const [name, second, status, reason] of cases) {
    test(name, async () => {
      gw.tap.reset();
      const seen = gw.up.requests.length;
      const { r, list, delta } = await exchange(gw, safe + second);
      assert.equal(r.closed, true);
      assert.equal(list.length, 2, JSON.stringify(r.text));
      assert.equal(list[0].status, 200);
      assert.equal(JSON.parse(list[0].body).url, '/first');
      assertLocalError(list[1], status, reason);
      assert.equal(delta(PARSER, { reason }), 1);
      await sleep(50);
      assert.deepEqual(gw.up.requests.slice(seen).map((x) => x.url), ['/first']);
      const complete = gw.tap.requests().filter((x) => x.complete);
      assert.deepEqual(complete.map((x) => x.line), ['GET /first HTTP/1.1']);
      assert.doesNotMatch(gw.tap.sentText(), /admin/);
    });
  }
});

// ---- the response side ----------------------------------------------------------------------

const BAD_RESPONSES = {
  '/cl-te': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '0\r\n\r\n',
  '/te-cl': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n' +
    '0\r\n\r\n',
  '/dup-cl': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi',
  '/cl-list': 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhi',
  '/te-gzip': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
  '/bare-lf': 'HTTP/1.1 200 OK\nContent-Length: 2\n\nhi',
  '/bare-lf-header': 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nhi',
  '/obs-fold': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nhi',
  '/space-colon': 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nhi',
  '/bad-status': 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nhi',
  '/switching': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n' +
    'Connection: Upgrade\r\n\r\n',
  '/bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n',
  '/good': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/early': 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/until-close': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close',
};

describe('malformed upstream responses', () => {
  let raw;
  let rgw;
  before(async () => {
    raw = await startRawUpstream((socket) => {
      let buf = '';
      socket.on('data', (d) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const target = buf.split(' ')[1];
        buf = buf.slice(end + 4);
        // Written without closing: the refusal must come from parsing, not from EOF.
        socket.write(BAD_RESPONSES[target] || BAD_RESPONSES['/good']);
        if (target === '/until-close') socket.end();
      });
    });
    rgw = await startGateway({ rawUpstream: raw });
  });
  after(async () => {
    if (rgw) await rgw.close();
    if (raw) await raw.close();
  });

  const cases = [
    ['Content-Length and Transfer-Encoding', '/cl-te'],
    ['Transfer-Encoding and Content-Length', '/te-cl'],
    ['duplicate Content-Length', '/dup-cl'],
    ['Content-Length comma list', '/cl-list'],
    ['Transfer-Encoding gzip, chunked', '/te-gzip'],
    ['bare LF line endings', '/bare-lf'],
    ['bare LF after one header', '/bare-lf-header'],
    ['obs-fold', '/obs-fold'],
    ['space before the colon', '/space-colon'],
    ['malformed status line', '/bad-status'],
    ['101 Switching Protocols', '/switching'],
  ];
  for (const [name, target] of cases) {
    test(`${name} → 502 bad_response`, async () => {
      const conns = raw.connections.length;
      const { r, list, delta } = await exchange(rgw,
        `GET ${target} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      assert.equal(r.closed, true);
      assert.equal(list.length, 1, JSON.stringify(r.text));
      assertLocalError(list[0], 502, 'bad_response');
      assert.equal(delta('stepgate_upstream_errors_total', { kind: 'bad_response' }), 1);
      assert.equal(delta('stepgate_responses_total', { code: '502' }), 1);
      // Nothing of the malformed response reached the client.
      assert.doesNotMatch(r.text, /hi$|Upgrade|folded/);
      assert.equal(raw.connections.length, conns + 1, 'one upstream connection, no retry');
    });
  }

  test('interim 1xx responses are not passed on; the final one is', async () => {
    const { r, list } = await exchange(rgw, `GET /early HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(list.length, 1, JSON.stringify(r.text));
    assert.equal(list[0].status, 200);
    assert.equal(list[0].body, 'ok');
    // Neither the interim status line nor its fields reach the client (the request id is
    // random hex, so match whole lines, not digits).
    assert.doesNotMatch(r.text, /HTTP\/1\.1 103|\r\nLink:/);
  });

  test('a close-delimited response is re-framed as chunked for an HTTP/1.1 client', async () => {
    const { r, list } = await exchange(rgw,
      `GET /until-close HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(list.length, 1, JSON.stringify(r.text));
    assert.equal(list[0].status, 200);
    assert.equal(list[0].headers['transfer-encoding'], 'chunked');
    assert.equal(list[0].complete, true);
    assert.equal(list[0].body, 'until close');
  });

  // An upstream error is not a protocol error of the client: stepgate keeps a keep-alive
  // client connection open after a 502 (connection.cc failUpstream: close only when the
  // request body was not fully read), and the broken upstream connection is not reused.
  test('502 keeps a keep-alive client connection; the next request works', async () => {
    const { r, list } = await exchange(rgw, [
      `GET /dup-cl HTTP/1.1\r\n${H}\r\n`,
      `GET /good HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    ], { gapMs: 200 });
    assert.equal(r.closed, true);
    assert.equal(list.length, 2, JSON.stringify(r.text));
    assertLocalError(list[0], 502, 'bad_response', { close: false });
    assert.equal(list[1].status, 200);
    assert.equal(list[1].body, 'ok');
  });

  test('a request pipelined behind one that gets a 502 is answered', async () => {
    const { r, list } = await exchange(rgw,
      `GET /dup-cl HTTP/1.1\r\n${H}\r\nGET /good HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      { timeoutMs: 1500 });
    assert.equal(list.length, 2, JSON.stringify(r.text));
    assertLocalError(list[0], 502, 'bad_response', { close: false });
    assert.equal(list[1].status, 200);
    assert.equal(r.closed, true);
  });

  // A bad chunk after the head has been read cannot become a 502 any more: stepgate counts
  // bad_response and aborts the client connection (Connection::pumpResponse -> closeNow(),
  // which also drops the head still queued for the client). Either way the client must not
  // see a complete response.
  test('bad chunked body after the head → aborted response, bad_response counted', async () => {
    const { r, list, delta } = await exchange(rgw,
      `GET /bad-chunk HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(r.closed, true);
    assert.ok(list.length <= 1, JSON.stringify(r.text));
    if (list.length === 1) {
      assert.equal(list[0].status, 200);
      assert.equal(list[0].complete, false, 'the response must not look complete');
    }
    assert.doesNotMatch(r.text, /0\r\n\r\n$/);
    assert.equal(delta('stepgate_upstream_errors_total', { kind: 'bad_response' }), 1);
  });
});
