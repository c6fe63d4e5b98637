// Upstream handling: connect failures and timeouts, response timeouts, resets, the retry of
// an idempotent request on a pooled connection the upstream had closed, keep-alive pool
// reuse, and HTTPS upstreams (verified against a CA, and refused with the wrong one).
//
// One stepgate with one worker (so there is exactly one pool per upstream) and one listener
// per upstream scenario.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  devPki,
  freePort,
  httpRequest,
  makeTempDir,
  metrics,
  metricValue,
  parseResponses,
  rawRequest,
  sleep,
  startRawUpstream,
  startStepgate,
  startUpstream,
  toYaml,
  trackSockets,
  closeServer,
} from './lib/harness.mjs';
import { startBlackhole } from './lib/extras.mjs';

const tmp = makeTempDir('stepgate-upstream-');

let pki;
let echo;       // node:http echo upstream, response_timeout 500ms
let pool;       // node:http echo upstream used to count connections
let empty;      // node:http upstream answering 200 with an empty body (Content-Length: 0)
let raw;        // raw upstream for the pooled-connection-closed cases
let rawMode = 'close-after-delay';
let secure;     // node:https upstream
let secureConnections = 0;
let blackhole;
let sg;
let adminPort;
const ports = {};

function poolConnections() {
  return pool.connectionCount;
}

// The raw upstream answers the first request of each connection with 200 (keep-alive).
// Later requests on the same connection: in 'close-on-next-request' mode the socket is
// destroyed as soon as the request head arrives (the upstream closed while the request was on
// its way); in 'close-after-delay' mode it never gets there because the upstream closes the
// idle connection 150 ms after answering.
function rawHandler(socket) {
  let buf = '';
  let served = 0;
  const id = raw.connections.length - 1;  // pushed before onConnection runs
  socket.on('data', (d) => {
    buf += d.toString('latin1');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const len = cl ? Number(cl[1]) : 0;
      if (served >= 1) {
        socket.destroy();
        return;
      }
      if (buf.length < end + 4 + len) return;
      buf = buf.slice(end + 4 + len);
      served += 1;
      const body = `conn ${id} ${head.split(' ')[1]}`;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      if (rawMode === 'close-after-delay') setTimeout(() => socket.end(), 150);
    }
  });
}

async function startHttpsUpstream() {
  const server = https.createServer({
    cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey),
  }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ url: req.url, secure: true });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  server.on('secureConnection', () => { secureConnections += 1; });
  const sockets = trackSockets(server);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => closeServer(server, sockets) };
}

before(async () => {
  pki = await devPki(path.join(tmp, 'pki'));
  echo = await startUpstream();
  pool = await startUpstream();
  pool.connectionCount = 0;
  pool.server.on('connection', () => { pool.connectionCount += 1; });
  raw = await startRawUpstream(rawHandler);
  empty = await startUpstream((req, res) => {
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  });
  secure = await startHttpsUpstream();
  blackhole = await startBlackhole();
  const downPort = await freePort();  // nothing listens there
  for (const k of ['down', 'blackhole', 'echo', 'pool', 'raw', 'empty', 'https', 'httpsbad']) {
    ports[k] = await freePort();
  }
  adminPort = await freePort();
  const u = (port, extra = {}) => ({
    profile: 'generic', url: `http://127.0.0.1:${port}`, connect_timeout: '500ms',
    response_timeout: '5s', ...extra,
  });
  const config = {
    listeners: Object.entries(ports).map(([name, port]) => ({
      name, address: `127.0.0.1:${port}`, upstream: name,
    })),
    upstreams: {
      down: u(downPort),
      blackhole: u(blackhole.port),
      echo: u(echo.port, { response_timeout: '500ms' }),
      pool: u(pool.port),
      raw: u(raw.port),
      empty: u(empty.port),
      https: { ...u(secure.port), url: `https://127.0.0.1:${secure.port}`,
        tls: { ca: pki.caCert, server_name: 'localhost' } },
      httpsbad: { ...u(secure.port), url: `https://127.0.0.1:${secure.port}`,
        tls: { ca: pki.otherCaCert, server_name: 'localhost' } },
    },
    proxy: { workers: 1, drain_timeout: '1s' },
    admin: { address: `127.0.0.1:${adminPort}` },
    log: { level: 'debug' },
  };
  const file = path.join(tmp, 'upstream.yaml');
  fs.writeFileSync(file, toYaml(config));
  sg = await startStepgate(file, { port: ports.down });
});

after(async () => {
  if (sg) assert.equal(await sg.stop(), 0);
  for (const s of [echo, pool, raw, empty, secure]) if (s) await s.close();
  if (blackhole) blackhole.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function errorsOf(kind) {
  return metricValue(await metrics(adminPort), 'stepgate_upstream_errors_total', { kind });
}

function assertLocalError(r, status, error) {
  assert.equal(r.status, status, r.body);
  assert.equal(r.headers['content-type'], 'application/json');
  const body = JSON.parse(r.body);
  assert.equal(body.error, error);
  assert.equal(body.status, status);
  assert.equal(body.request_id, r.headers['x-request-id']);
}

test('upstream down (nothing listening): 502 connect_failed', async () => {
  const before = await errorsOf('connect_failed');
  const r = await httpRequest(ports.down, { path: '/x' });
  assertLocalError(r, 502, 'connect_failed');
  assert.equal(await errorsOf('connect_failed'), before + 1);
});

test('connect timeout (accept queue full on loopback): 504 connect_timeout', async () => {
  const before = await errorsOf('connect_timeout');
  const t0 = Date.now();
  const r = await httpRequest(ports.blackhole, { path: '/x' });
  const elapsed = Date.now() - t0;
  assertLocalError(r, 504, 'connect_timeout');
  assert.ok(elapsed >= 450 && elapsed < 3000, `answered after ${elapsed} ms (connect_timeout 500ms)`);
  assert.equal(await errorsOf('connect_timeout'), before + 1);
});

test('upstream accepts but never answers: 504 response_timeout after response_timeout',
  async () => {
    const before = await errorsOf('response_timeout');
    const t0 = Date.now();
    const r = await httpRequest(ports.echo, { path: '/hang' });
    const elapsed = Date.now() - t0;
    assertLocalError(r, 504, 'response_timeout');
    assert.ok(elapsed >= 450 && elapsed < 3000, `answered after ${elapsed} ms`);
    assert.equal(await errorsOf('response_timeout'), before + 1);
    // Under the timeout it passes.
    const ok = await httpRequest(ports.echo, { path: '/slow?ms=100' });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).url, '/slow?ms=100');
  });

test('upstream closes without answering: 502 reset', async () => {
  const before = await errorsOf('reset');
  const r = await httpRequest(ports.echo, { path: '/close' });
  assertLocalError(r, 502, 'reset');
  assert.equal(await errorsOf('reset'), before + 1);
  // The proxy still serves that upstream.
  assert.equal((await httpRequest(ports.echo, { path: '/after-close' })).status, 200);
});

test('an idle pooled connection closed by the upstream is dropped: the next GET opens a new one',
  async () => {
    rawMode = 'close-after-delay';
    const m0 = await metrics(adminPort);
    const conns0 = raw.connections.length;
    const r1 = await httpRequest(ports.raw, { path: '/one' });
    assert.equal(r1.status, 200);
    await sleep(500);  // the upstream closes the idle connection after 150 ms
    const r2 = await httpRequest(ports.raw, { path: '/two' });
    assert.equal(r2.status, 200, r2.body);
    assert.match(r2.body, /^conn \d+ \/two$/);
    assert.equal(raw.connections.length - conns0, 2);
    const m1 = await metrics(adminPort);
    assert.equal(metricValue(m1, 'stepgate_upstream_retries_total'),
      metricValue(m0, 'stepgate_upstream_retries_total'));
    await sleep(300);  // let the second connection close too
  });

test('pooled connection closed as the request arrives: GET is retried once, POST with a body is not',
  async () => {
    rawMode = 'close-on-next-request';
    const m0 = await metrics(adminPort);
    const conns0 = raw.connections.length;
    const r1 = await httpRequest(ports.raw, { path: '/first' });
    assert.equal(r1.status, 200);
    assert.equal(r1.body, `conn ${conns0} /first`);

    // Reuses the pooled connection, which the upstream closes: retried on a new one.
    const r2 = await httpRequest(ports.raw, { path: '/second' });
    assert.equal(r2.status, 200, r2.body);
    assert.equal(r2.body, `conn ${conns0 + 1} /second`);
    assert.equal(raw.connections.length - conns0, 2);
    const m1 = await metrics(adminPort);
    assert.equal(metricValue(m1, 'stepgate_upstream_retries_total') -
      metricValue(m0, 'stepgate_upstream_retries_total'), 1);

    // The same with a POST and a body: not retried.
    const r3 = await httpRequest(ports.raw, { method: 'POST', path: '/third',
      headers: { 'content-type': 'text/plain' }, body: 'hello world' });
    assertLocalError(r3, 502, 'reset');
    assert.equal(raw.connections.length - conns0, 2, 'no new connection for the POST');
    const m2 = await metrics(adminPort);
    assert.equal(metricValue(m2, 'stepgate_upstream_retries_total'),
      metricValue(m1, 'stepgate_upstream_retries_total'));
  });

test('keep-alive pool reuse: ten requests, at most one new upstream connection', async () => {
  const m0 = await metrics(adminPort);
  const c0 = poolConnections();
  for (let i = 0; i < 10; i++) {
    const r = await httpRequest(ports.pool, { path: `/p${i}` });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).url, `/p${i}`);
  }
  const m1 = await metrics(adminPort);
  const newConns = poolConnections() - c0;
  const reuses = metricValue(m1, 'stepgate_upstream_reuses_total') -
    metricValue(m0, 'stepgate_upstream_reuses_total');
  const connects = metricValue(m1, 'stepgate_upstream_connects_total') -
    metricValue(m0, 'stepgate_upstream_connects_total');
  assert.ok(newConns <= 1, `${newConns} new upstream connections`);
  assert.equal(connects, newConns);
  assert.equal(reuses, 10 - newConns);
  assert.equal(pool.requests.filter((q) => /^\/p\d$/.test(q.url)).length, 10);
});

test('HTTPS upstream verified against the test CA', async () => {
  const c0 = secureConnections;
  for (let i = 0; i < 3; i++) {
    const r = await httpRequest(ports.https, { path: `/s${i}` });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { url: `/s${i}`, secure: true });
  }
  assert.equal(secureConnections - c0, 1, 'the TLS connection is pooled');
});

test('HTTPS upstream with a CA that did not sign its certificate: 502 tls_failed', async () => {
  const before = await errorsOf('tls_failed');
  const r = await httpRequest(ports.httpsbad, { path: '/x' });
  assertLocalError(r, 502, 'tls_failed');
  assert.equal(await errorsOf('tls_failed'), before + 1);
});

test('a 200 with Content-Length: 0 reaches the client with Content-Length: 0 and keep-alive works', async () => {
  const r = await rawRequest(ports.empty,
    ['PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      'GET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    { timeoutMs: 3000, gapMs: 300 });
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
  const head = r.text.slice(0, r.text.indexOf('\r\n\r\n'));
  assert.match(head, /\r\nContent-Length: 0(\r\n|$)/i, head);
  const responses = parseResponses(r.text);
  assert.equal(responses.length, 2);
  assert.deepEqual(responses.map((x) => [x.status, x.bodyBytes.length]), [[200, 0], [200, 0]]);
});
