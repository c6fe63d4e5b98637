// HTTP/1.1 semantics through the running proxy: keep-alive and upstream connection reuse,
// pipelining, 100-continue, chunked bodies both ways, HEAD/204/304, large bodies, and the
// headers stepgate removes, replaces and adds towards the upstream (proxy/forward_headers.h).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  httpRequest, parseResponses, patternBytes, sleep, startRawUpstream,
} from './lib/harness.mjs';
import {
  REQUEST_ID_RE, assertLocalError, connect, eventually, exchange, startGateway,
} from './lib/gateway.mjs';

const H = 'Host: example.test\r\n';
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const echoOf = (res) => JSON.parse(res.body);

let gw;
before(async () => {
  gw = await startGateway({ limits: { max_body_bytes: 8 << 20, header_timeout: 5000 } });
});
after(async () => {
  if (gw) await gw.close();
});

describe('connections', () => {
  test('keep-alive: two requests on one socket share one upstream connection', async () => {
    const fresh = await startGateway();
    try {
      const { r, list, delta } = await exchange(fresh,
        [`GET /one HTTP/1.1\r\n${H}\r\n`, `GET /two HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
        { gapMs: 100 });
      assert.equal(r.closed, true);
      assert.deepEqual(list.map((x) => x.status), [200, 200]);
      assert.deepEqual(list.map((x) => echoOf(x).url), ['/one', '/two']);
      assert.equal(list[0].headers.connection, undefined, 'the first response keeps the socket');
      assert.equal(list[1].headers.connection, 'close');
      assert.equal(delta('stepgate_connections_accepted_total'), 1);
      assert.equal(delta('stepgate_requests_total'), 2);
      assert.equal(delta('stepgate_upstream_connects_total'), 1);
      assert.equal(delta('stepgate_upstream_reuses_total'), 1);
      assert.equal(fresh.tap.connections.length, 1, 'one upstream connection');
      assert.deepEqual(fresh.tap.requests().map((x) => x.line),
        ['GET /one HTTP/1.1', 'GET /two HTTP/1.1']);
      // The client's "Connection: close" is hop-by-hop: the upstream connection stays pooled.
      assert.equal(fresh.tap.connections[0].closed, false);
    } finally {
      await fresh.close();
    }
  });

  test('pipelining: three requests in one write answered in order', async () => {
    const seen = gw.up.requests.length;
    const { r, list } = await exchange(gw,
      `GET /slow?ms=150 HTTP/1.1\r\n${H}\r\n` +
      `POST /second HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc` +
      `GET /third?x=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(r.closed, true);
    assert.deepEqual(list.map((x) => x.status), [200, 200, 200]);
    assert.deepEqual(list.map((x) => echoOf(x).url), ['/slow?ms=150', '/second', '/third?x=1']);
    assert.equal(echoOf(list[1]).body, 'abc');
    const ids = list.map((x) => x.headers['x-request-id']);
    assert.equal(new Set(ids).size, 3, 'each request has its own id');
    assert.deepEqual(list.map((x) => echoOf(x).headers['x-request-id']), ids);
    assert.deepEqual(gw.up.requests.slice(seen).map((x) => x.url),
      ['/slow?ms=150', '/second', '/third?x=1']);
  });

  test('nothing after a request with Connection: close is read or forwarded', async () => {
    gw.tap.reset();
    const seen = gw.up.requests.length;
    const { r, list } = await exchange(gw,
      `GET /last HTTP/1.1\r\n${H}Connection: close\r\n\r\nGET /never HTTP/1.1\r\n${H}\r\n`);
    assert.equal(r.closed, true);
    assert.deepEqual(list.map((x) => x.status), [200]);
    await sleep(30);
    assert.deepEqual(gw.up.requests.slice(seen).map((x) => x.url), ['/last']);
    assert.doesNotMatch(gw.tap.sentText(), /never/);
  });

  test('HTTP/1.0 closes after the response unless keep-alive is asked for', async () => {
    const a = await exchange(gw, 'GET /ten HTTP/1.0\r\n\r\n');
    assert.equal(a.r.closed, true);
    assert.equal(a.list[0].status, 200);
    assert.equal(a.list[0].headers.connection, 'close');
    const b = await exchange(gw, [
      `GET /ka1 HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`,
      `GET /ka2 HTTP/1.0\r\n${H}\r\n`,
    ], { gapMs: 150 });
    assert.equal(b.r.closed, true);
    assert.deepEqual(b.list.map((x) => x.status), [200, 200]);
    assert.notEqual(b.list[0].headers.connection, 'close');
    assert.equal(b.list[1].headers.connection, 'close');
  });
});

describe('bodies', () => {
  test('Expect: 100-continue: interim response, then the body reaches the upstream', async () => {
    const seen = gw.up.requests.length;
    const c = await connect(gw.port);
    try {
      c.write(`PUT /upload HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 11\r\n` +
        'Connection: close\r\n\r\n');
      assert.ok(await c.waitFor((b) => b.includes('\r\n\r\n')), 'an interim response');
      assert.equal(c.text(), 'HTTP/1.1 100 Continue\r\n\r\n');
      assert.equal(gw.up.requests.length, seen, 'nothing completed upstream before the body');
      c.write('hello world');
      assert.ok(await c.waitFor((b, closed) => closed));
      const list = parseResponses(c.text());
      assert.deepEqual(list.map((x) => x.status), [100, 200]);
      const echo = echoOf(list[1]);
      assert.equal(echo.body, 'hello world');
      assert.equal(echo.headers.expect, undefined, 'Expect is not forwarded');
      assert.equal(echo.headers['content-length'], '11');
      assert.equal(gw.up.requests.length, seen + 1);
    } finally {
      c.close();
    }
  });

  test('Expect: 100-continue with the body already sent: no interim response', async () => {
    const { list } = await exchange(gw,
      `POST /eager HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 2\r\n` +
      'Connection: close\r\n\r\nhi');
    assert.deepEqual(list.map((x) => x.status), [200]);
    assert.equal(echoOf(list[0]).body, 'hi');
  });

  test('chunked request body of many small chunks is forwarded intact', async () => {
    const seen = gw.up.requests.length;
    const rnd = crypto.createHash('sha256');
    const chunks = [];
    for (let i = 0; i < 300; i++) {
      const n = 1 + (i * 37) % 29;
      chunks.push(crypto.createHash('md5').update(String(i)).digest('hex').repeat(2).slice(0, n));
    }
    const body = chunks.join('');
    rnd.update(body);
    const framed = chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('') +
      '0\r\n\r\n';
    // In 10 writes, cutting through size lines and data.
    const head = `POST /chunks HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
    const wire = head + framed;
    const parts = [];
    const step = Math.ceil(wire.length / 10);
    for (let i = 0; i < wire.length; i += step) parts.push(wire.slice(i, i + step));
    const { r, list } = await exchange(gw, parts, { gapMs: 5 });
    assert.equal(r.closed, true);
    assert.equal(list[0].status, 200);
    const echo = echoOf(list[0]);
    assert.equal(echo.bodyLength, body.length);
    assert.equal(echo.body, body);
    assert.equal(echo.headers['transfer-encoding'], 'chunked');
    assert.equal(echo.headers['content-length'], undefined);
    assert.equal(gw.up.requests.length, seen + 1);
  });

  test('chunked response re-chunked to an HTTP/1.1 client', async () => {
    const { r, list } = await exchange(gw,
      `GET /chunked?n=7&size=100 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(r.closed, true);
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 200);
    assert.equal(list[0].headers['transfer-encoding'], 'chunked');
    assert.equal(list[0].headers['content-length'], undefined);
    assert.equal(list[0].complete, true);
    assert.ok(list[0].bodyBytes.equals(patternBytes(0, 700)));
  });

  test('chunked response close-delimited to an HTTP/1.0 client', async () => {
    const { r, list } = await exchange(gw, `GET /chunked?n=7&size=100 HTTP/1.0\r\n${H}\r\n`);
    assert.equal(r.closed, true);
    assert.equal(list.length, 1);
    assert.equal(list[0].status, 200);
    assert.equal(list[0].headers['transfer-encoding'], undefined);
    assert.equal(list[0].headers['content-length'], undefined);
    assert.equal(list[0].headers.connection, 'close');
    assert.ok(list[0].bodyBytes.equals(patternBytes(0, 700)));
  });

  test('HEAD: no body, the connection stays usable', async () => {
    const { r, list } = await exchange(gw,
      `HEAD /big?bytes=1000 HTTP/1.1\r\n${H}\r\nGET /after-head HTTP/1.1\r\n${H}` +
      'Connection: close\r\n\r\n', { parse: { noBody: (i) => i === 0 } });
    assert.equal(r.closed, true);
    assert.deepEqual(list.map((x) => x.status), [200, 200]);
    assert.equal(list[0].bodyBytes.length, 0);
    assert.equal(list[0].headers['transfer-encoding'], undefined);
    assert.equal(echoOf(list[1]).url, '/after-head');
    assert.equal(gw.up.requests.at(-2).method, 'HEAD');
  });

  test('HEAD: the upstream\'s Content-Length (of the GET) is passed on', async () => {
    const { list } = await exchange(gw,
      `HEAD /big?bytes=1000 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      { parse: { noBody: () => true } });
    assert.equal(list[0].status, 200);
    assert.equal(list[0].headers['content-length'], '1000');
  });

  for (const code of [204, 304]) {
    test(`${code}: no body, the next request on the socket works`, async () => {
      const { r, list } = await exchange(gw,
        `GET /status/${code} HTTP/1.1\r\n${H}\r\nGET /after-${code} HTTP/1.1\r\n${H}` +
        'Connection: close\r\n\r\n');
      assert.equal(r.closed, true);
      assert.deepEqual(list.map((x) => x.status), [code, 200]);
      assert.equal(list[0].bodyBytes.length, 0);
      assert.equal(list[0].headers['transfer-encoding'], undefined);
      assert.equal(echoOf(list[1]).url, `/after-${code}`);
      assert.ok(r.text.startsWith(`HTTP/1.1 ${code} `));
    });
  }

  test('5 MiB request body arrives byte-exact', async () => {
    const size = 5 << 20;
    const body = patternBytes(3, size);
    const res = await httpRequest(gw.port, {
      method: 'POST', path: '/status/204', body, timeoutMs: 30000,
      headers: { 'content-length': size },
    });
    assert.equal(res.status, 204);
    const rec = gw.up.requests.at(-1);
    assert.equal(rec.url, '/status/204');
    assert.equal(rec.headers['content-length'], String(size));
    assert.equal(rec.bodyBytes.length, size);
    assert.equal(sha256(rec.bodyBytes), sha256(body));
  });

  test('5 MiB chunked request body arrives byte-exact', async () => {
    const size = 5 << 20;
    const body = patternBytes(11, size);
    const res = await httpRequest(gw.port, {
      method: 'POST', path: '/status/204', body, timeoutMs: 30000,
      headers: { 'transfer-encoding': 'chunked' },
    });
    assert.equal(res.status, 204);
    const rec = gw.up.requests.at(-1);
    assert.equal(rec.headers['transfer-encoding'], 'chunked');
    assert.equal(sha256(rec.bodyBytes), sha256(body));
  });

  test('5 MiB response body arrives byte-exact', async () => {
    const size = 5 << 20;
    const res = await httpRequest(gw.port, { path: `/big?bytes=${size}`, timeoutMs: 30000 });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(size));
    assert.equal(res.bodyBytes.length, size);
    assert.equal(sha256(res.bodyBytes), sha256(patternBytes(0, size)));
  });

  test('5 MiB chunked response arrives byte-exact', async () => {
    const res = await httpRequest(gw.port, { path: '/chunked?n=80&size=65536', timeoutMs: 30000 });
    assert.equal(res.status, 200);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(sha256(res.bodyBytes), sha256(patternBytes(0, 80 * 65536)));
  });
});

describe('headers towards the upstream', () => {
  test('the exact head the upstream receives', async () => {
    gw.tap.reset();
    const { list } = await exchange(gw,
      `GET /exact/./path?b=2&a=1 HTTP/1.1\r\n${H}X-Keep: yes\r\nAccept: */*\r\n` +
      'Connection: close\r\n\r\n');
    assert.equal(list[0].status, 200);
    const id = list[0].headers['x-request-id'];
    assert.match(id, REQUEST_ID_RE);
    await eventually(() => gw.tap.requests().length === 1);
    assert.equal(gw.tap.sentText(),
      'GET /exact/path?b=2&a=1 HTTP/1.1\r\n' +
      `Host: ${gw.upstreamHost}\r\n` +
      'X-Keep: yes\r\n' +
      'Accept: */*\r\n' +
      'X-Forwarded-For: 127.0.0.1\r\n' +
      'X-Forwarded-Proto: http\r\n' +
      'X-Forwarded-Host: example.test\r\n' +
      `X-Request-Id: ${id}\r\n` +
      'Via: 1.1 stepgate\r\n' +
      '\r\n');
  });

  test('hop-by-hop headers and those named in Connection are removed', async () => {
    const { list } = await exchange(gw,
      `GET /hop HTTP/1.1\r\n${H}Connection: foo, close\r\nFoo: bar\r\nKeep-Alive: timeout=5\r\n` +
      'TE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n' +
      'Proxy-Connection: keep-alive\r\nTrailer: X-T\r\nX-Kept: 1\r\n\r\n');
    assert.equal(list[0].status, 200);
    const rec = gw.up.requests.at(-1);
    const names = rec.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const gone of ['foo', 'keep-alive', 'te', 'upgrade', 'proxy-authorization',
      'proxy-connection', 'trailer', 'connection']) {
      assert.ok(!names.includes(gone), `${gone} must not be forwarded (got ${names})`);
    }
    assert.equal(rec.headers['x-kept'], '1');
  });

  test('X-Stepgate-* and other reserved inbound headers are stripped', async () => {
    const { list } = await exchange(gw,
      `GET /strip HTTP/1.1\r\n${H}X-Stepgate-User: admin\r\nx-stepgate-roles: root\r\n` +
      'X-STEPGATE-IDENTITY: spiffe://evil\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n' +
      'X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Port: 1\r\n' +
      'X-Stepgateway: kept\r\nConnection: close\r\n\r\n');
    assert.equal(list[0].status, 200);
    const h = gw.up.requests.at(-1).headers;
    for (const k of Object.keys(h)) assert.ok(!k.startsWith('x-stepgate-'), k);
    assert.equal(h['x-real-ip'], undefined);
    assert.equal(h.forwarded, undefined);
    assert.equal(h['x-forwarded-port'], undefined);
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'example.test');
    assert.equal(h['x-stepgateway'], 'kept', 'only the X-Stepgate- prefix is reserved');
  });

  test('X-Forwarded-For from an untrusted peer is replaced', async () => {
    const { list } = await exchange(gw,
      `GET /xff HTTP/1.1\r\n${H}X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n` +
      'Connection: close\r\n\r\n');
    assert.equal(list[0].status, 200);
    const rec = gw.up.requests.at(-1);
    assert.equal(rec.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(rec.rawHeaders.filter((x) => /^x-forwarded-for$/i.test(x)).length, 1);
  });

  test('Via is appended to the inbound one', async () => {
    const { list } = await exchange(gw,
      `GET /via HTTP/1.1\r\n${H}Via: 1.0 fred\r\nConnection: close\r\n\r\n`);
    assert.equal(list[0].status, 200);
    assert.equal(gw.up.requests.at(-1).headers.via, '1.0 fred, 1.1 stepgate');
  });

  test('X-Request-Id: generated, forwarded and returned; an inbound one is replaced', async () => {
    const { list } = await exchange(gw,
      `GET /rid HTTP/1.1\r\n${H}X-Request-Id: client-chosen-id\r\nConnection: close\r\n\r\n`);
    assert.equal(list[0].status, 200);
    const id = list[0].headers['x-request-id'];
    assert.match(id, REQUEST_ID_RE);
    const rec = gw.up.requests.at(-1);
    assert.equal(rec.headers['x-request-id'], id);
    assert.equal(rec.rawHeaders.filter((x) => /^x-request-id$/i.test(x)).length, 1);
  });

  test('POST without a body gets Content-Length: 0 upstream', async () => {
    gw.tap.reset();
    const { list } = await exchange(gw,
      `POST /empty HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(list[0].status, 200);
    assert.equal(gw.up.requests.at(-1).headers['content-length'], '0');
  });
});

describe('with trusted proxies and trusted request ids', () => {
  let tgw;
  before(async () => {
    tgw = await startGateway({
      extra: { proxy: { trusted_proxies: ['127.0.0.1/32'], trust_request_id: true } },
    });
  });
  after(async () => {
    if (tgw) await tgw.close();
  });

  test('X-Forwarded-For from a trusted peer is extended', async () => {
    const { list } = await exchange(tgw,
      `GET /xff HTTP/1.1\r\n${H}X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n` +
      'Connection: close\r\n\r\n');
    assert.equal(list[0].status, 200);
    assert.equal(tgw.up.requests.at(-1).headers['x-forwarded-for'],
      '203.0.113.7, 10.0.0.1, 127.0.0.1');
  });

  test('X-Forwarded-For without an inbound one is the peer', async () => {
    const { list } = await exchange(tgw,
      `GET /xff0 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(list[0].status, 200);
    assert.equal(tgw.up.requests.at(-1).headers['x-forwarded-for'], '127.0.0.1');
  });

  test('X-Forwarded-For split over two header lines is extended as a whole', async () => {
    const { list } = await exchange(tgw,
      `GET /xff2 HTTP/1.1\r\n${H}X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 198.51.100.9\r\n` +
      'Connection: close\r\n\r\n');
    assert.equal(list[0].status, 200);
    assert.equal(tgw.up.requests.at(-1).headers['x-forwarded-for'],
      '6.6.6.6, 198.51.100.9, 127.0.0.1');
  });

  test('an inbound X-Request-Id is kept and returned', async () => {
    const { list } = await exchange(tgw,
      `GET /rid HTTP/1.1\r\n${H}X-Request-Id: trace-42.a_b\r\nConnection: close\r\n\r\n`);
    assert.equal(list[0].status, 200);
    assert.equal(list[0].headers['x-request-id'], 'trace-42.a_b');
    assert.equal(tgw.up.requests.at(-1).headers['x-request-id'], 'trace-42.a_b');
  });

  test('an inbound X-Request-Id that is not plain or too long is replaced', async () => {
    for (const bad of ['has space', 'x'.repeat(33), 'semi;colon']) {
      const { list } = await exchange(tgw,
        `GET /rid HTTP/1.1\r\n${H}X-Request-Id: ${bad}\r\nConnection: close\r\n\r\n`);
      assert.equal(list[0].status, 200);
      const id = list[0].headers['x-request-id'];
      assert.match(id, REQUEST_ID_RE, bad);
      assert.equal(tgw.up.requests.at(-1).headers['x-request-id'], id);
    }
  });

  test('a trusted X-Request-Id also labels path-error responses', async () => {
    const { list } = await exchange(tgw,
      `GET /a;v=1 HTTP/1.1\r\n${H}X-Request-Id: trace-err\r\n\r\n`);
    assert.equal(list[0].status, 400);
    assert.equal(list[0].headers['x-request-id'], 'trace-err');
  });
});

describe('unreachable upstream', () => {
  let ugw;
  before(async () => {
    // A port that was listening when the config was written and is closed now.
    const gone = await startRawUpstream();
    ugw = await startGateway({ rawUpstream: gone });
    await gone.close();
  });
  after(async () => {
    if (ugw) await ugw.close();
  });

  test('→ 502 connect_failed', async () => {
    const { r, list, delta } = await exchange(ugw,
      `GET /x HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(r.closed, true);
    assert.equal(list.length, 1);
    assertLocalError(list[0], 502, 'connect_failed');
    assert.equal(delta('stepgate_upstream_errors_total', { kind: 'connect_failed' }), 1);
  });

  test('a request pipelined behind a 502 connect_failed is answered', async () => {
    const { r, list } = await exchange(ugw,
      `GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      { timeoutMs: 1500 });
    assert.equal(list.length, 2, JSON.stringify(r.text));
    assertLocalError(list[1], 502, 'connect_failed');
    assert.equal(r.closed, true);
  });
});

describe('headers towards the client', () => {
  let hgw;
  before(async () => {
    hgw = await startGateway({
      handler: (req, res) => {
        res.writeHead(200, {
          'content-type': 'text/plain',
          connection: 'x-private',
          'x-private': 'secret',
          'keep-alive': 'timeout=99',
          'proxy-authenticate': 'Basic',
          'x-request-id': 'upstream-id',
          'x-app': 'visible',
          'content-length': '2',
        });
        res.end('ok');
      },
    });
  });
  after(async () => {
    if (hgw) await hgw.close();
  });

  test('upstream hop-by-hop headers are removed; X-Request-Id is stepgate\'s', async () => {
    const { list } = await exchange(hgw, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(list[0].status, 200);
    const h = list[0].headers;
    assert.equal(h['x-private'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h['proxy-authenticate'], undefined);
    assert.equal(h['x-app'], 'visible');
    assert.equal(h['content-length'], '2');
    assert.equal(h.connection, 'close');
    assert.match(h['x-request-id'], REQUEST_ID_RE);
    assert.equal(hgw.up.requests.at(-1).headers['x-request-id'], h['x-request-id']);
    assert.equal(list[0].body, 'ok');
  });
});

test('requests and responses are counted', async () => {
  const m = await gw.measure(async () => {
    await exchange(gw, `GET /count HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    await exchange(gw, `GET /status/404 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    await sleep(10);
  });
  assert.equal(m.delta('stepgate_requests_total'), 2);
  assert.equal(m.delta('stepgate_responses_total', { code: '200' }), 1);
  assert.equal(m.delta('stepgate_responses_total', { code: '404' }), 1);
});
