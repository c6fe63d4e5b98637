// Self-test of the integration harness (tests/integration/lib/). Needs neither the stepgate
// binary nor the network: everything runs against node servers on loopback.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import {
  buildConfig,
  curl,
  devPki,
  freePort,
  httpRequest,
  makeTempDir,
  metrics,
  metricValue,
  opensslSClient,
  parseResponses,
  patternBytes,
  rawRequest,
  startRawUpstream,
  startStepgate,
  startUpstream,
  toYaml,
  writeConfig,
} from './lib/harness.mjs';

const tmp = makeTempDir('stepgate-harness-');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('freePort returns a bindable port', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
  const srv = http.createServer();
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
  await new Promise((resolve) => srv.close(resolve));
});

describe('upstream', () => {
  let up;
  before(async () => {
    up = await startUpstream();
  });
  after(() => up.close());

  test('echoes method, url, headers and body', async () => {
    const r = await httpRequest(up.port, {
      method: 'POST', path: '/api/x?q=1', headers: { 'x-test': 'yes' }, body: 'héllo',
    });
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body);
    assert.equal(echo.method, 'POST');
    assert.equal(echo.url, '/api/x?q=1');
    assert.equal(echo.headers['x-test'], 'yes');
    assert.equal(echo.body, 'héllo');
    assert.equal(echo.bodyLength, 6);
    const rec = up.requests.at(-1);
    assert.equal(rec.url, '/api/x?q=1');
    assert.equal(rec.body, 'héllo');
  });

  test('status, slow and big', async () => {
    assert.equal((await httpRequest(up.port, { path: '/status/418' })).status, 418);
    assert.equal((await httpRequest(up.port, { path: '/status/204' })).body, '');
    const t0 = Date.now();
    assert.equal((await httpRequest(up.port, { path: '/slow?ms=150' })).status, 200);
    assert.ok(Date.now() - t0 >= 140);
    const big = await httpRequest(up.port, { path: '/big?bytes=3000000' });
    assert.equal(big.bodyBytes.length, 3000000);
    assert.ok(big.bodyBytes.equals(patternBytes(0, 3000000)));
  });

  test('chunked response through rawRequest and parseResponses', async () => {
    const r = await rawRequest(up.port,
      'GET /chunked?n=5&size=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(r.closed, true);
    const [res] = parseResponses(r.text);
    assert.equal(res.status, 200);
    assert.equal(res.chunked, true);
    assert.equal(res.complete, true);
    assert.ok(res.bodyBytes.equals(patternBytes(0, 500)));
  });

  test('pipelined requests split into responses', async () => {
    const r = await rawRequest(up.port, [
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /status/404 HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
    ]);
    const list = parseResponses(r.text);
    assert.deepEqual(list.map((x) => x.status), [200, 404, 200]);
    assert.equal(JSON.parse(list[0].body).url, '/a');
    assert.equal(JSON.parse(list[2].body).body, 'abc');
    assert.ok(list.every((x) => x.complete));
  });

  test('rawRequest stops early with until()', async () => {
    const r = await rawRequest(up.port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', {
      until: (buf) => parseResponses(buf).some((x) => x.complete && x.status),
    });
    assert.equal(r.closed, false);
    assert.equal(parseResponses(r.data)[0].status, 200);
  });

  test('/close drops the connection, /hang times out', async () => {
    const closed = await rawRequest(up.port, 'GET /close HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(closed.closed, true);
    assert.equal(closed.data.length, 0);
    const hung = await rawRequest(up.port, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n',
      { timeoutMs: 300 });
    assert.equal(hung.closed, false);
    assert.equal(hung.data.length, 0);
  });

  test('curl CLI', async () => {
    const r = await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${up.url}/status/201`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '201');
  });
});

test('custom upstream handler', async () => {
  const up = await startUpstream((req, res, body) => {
    res.writeHead(202, { 'x-len': String(body.length) });
    res.end('custom');
  });
  try {
    const r = await httpRequest(up.port, { method: 'PUT', path: '/', body: 'xyz' });
    assert.equal(r.status, 202);
    assert.equal(r.headers['x-len'], '3');
    assert.equal(r.body, 'custom');
    assert.equal(up.requests.length, 1);
  } finally {
    await up.close();
  }
});

test('raw upstream sends malformed bytes', async () => {
  const raw = await startRawUpstream((socket) => {
    socket.once('data', () => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi');
    });
  });
  try {
    const r = await rawRequest(raw.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(r.closed, true);
    const [res] = parseResponses(r.text);
    assert.equal(res.headers['content-length'], '2, 3');
    assert.equal(raw.connections.length, 1);
    assert.match(raw.connections[0].received().toString(), /^GET \/ HTTP\/1\.1/);
  } finally {
    await raw.close();
  }
});

test('parseResponses: trailers, bodiless statuses, incomplete tails', () => {
  const text = 'HTTP/1.1 100 Continue\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n' +
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n' +
    'HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nshort';
  const list = parseResponses(text);
  assert.deepEqual(list.map((x) => x.status), [100, 200, 304, 200]);
  assert.equal(list[1].body, 'abc');
  assert.equal(list[1].trailers['x-t'], '1');
  assert.equal(list[2].body, '');
  assert.equal(list[3].complete, false);
  assert.equal(list[3].body, 'short');
});

test('config YAML', () => {
  const cfg = buildConfig({
    listenPort: 1001, upstreamPort: 1002, adminPort: 1003,
    tls: { cert: 'c.pem', key: 'k.pem', clientCa: 'ca.pem' },
    limits: { max_body_bytes: 1024, header_timeout: 500 },
    path: { merge_slashes: true },
    extra: { proxy: { workers: 1 }, upstreams: { backend: { profile: 'conductor' } } },
  });
  assert.equal(cfg.listeners[0].address, '127.0.0.1:1001');
  assert.equal(cfg.listeners[0].tls.client_auth, 'required');
  assert.equal(cfg.limits.header_timeout, '500ms');
  assert.equal(cfg.proxy.workers, 1);
  assert.equal(cfg.proxy.drain_timeout, '2s');
  assert.equal(cfg.upstreams.backend.profile, 'conductor');
  assert.equal(cfg.upstreams.backend.url, 'http://127.0.0.1:1002');

  const file = writeConfig(path.join(tmp, 'cfg'), {
    listenPort: 1001, upstreamPort: 1002, adminPort: 1003,
    tls: { cert: 'c.pem', key: 'k.pem', serverNames: ['localhost'] },
  });
  const yaml = fs.readFileSync(file, 'utf8');
  assert.match(yaml, /^listeners:\n {2}- name: "main"\n {4}address: "127\.0\.0\.1:1001"\n/m);
  assert.match(yaml, new RegExp('^ {6}certificates:\n {8}- cert: "c\\.pem"\n {10}key: "k\\.pem"\n' +
    ' {10}server_names:\n {12}- "localhost"\n', 'm'));
  assert.match(yaml, /^upstreams:\n {2}backend:\n {4}profile: "generic"\n/m);
  assert.match(yaml, /^ {4}url: "http:\/\/127\.0\.0\.1:1002"\n/m);
  assert.match(yaml, /^admin:\n {2}address: "127\.0\.0\.1:1003"\n/m);
  assert.doesNotMatch(yaml, /client_ca|limits:|undefined/);
  assert.equal(toYaml({ a: [], b: {}, c: 'x"y' }), 'a: []\nb: {}\nc: "x\\"y"\n');
});

test('metrics scraping and metricValue', async () => {
  const body = [
    '# HELP stepgate_requests_total Requests.',
    '# TYPE stepgate_requests_total counter',
    'stepgate_requests_total{worker="0",code="200"} 3',
    'stepgate_requests_total{worker="1",code="200"} 4',
    'stepgate_requests_total{worker="1",code="400",reason="a \\"q\\""} 1',
    'stepgate_up 1',
    '',
  ].join('\n');
  const srv = http.createServer((req, res) => res.end(req.url === '/metrics' ? body : 'no'));
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    const text = await metrics(srv.address().port);
    assert.equal(metricValue(text, 'stepgate_requests_total', { code: '200' }), 7);
    assert.equal(metricValue(text, 'stepgate_requests_total'), 8);
    assert.equal(metricValue(text, 'stepgate_requests_total', { reason: 'a "q"' }), 1);
    assert.equal(metricValue(text, 'stepgate_up'), 1);
    assert.equal(metricValue(text, 'stepgate_requests_total', { code: '500' }), undefined);
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
});

describe('dev PKI', () => {
  let pki;
  before(async () => {
    pki = await devPki(path.join(tmp, 'pki'));
  });

  test('openssl verifies the issued certificates', async () => {
    const { execFileSync } = await import('node:child_process');
    const verify = (...args) => execFileSync('openssl', ['verify', ...args],
      { encoding: 'utf8', stdio: 'pipe' });
    assert.match(verify('-CAfile', pki.caCert, '-purpose', 'sslserver', pki.serverCert), /: OK/);
    assert.match(verify('-CAfile', pki.caCert, '-purpose', 'sslclient', pki.clientCert), /: OK/);
    assert.match(verify('-CAfile', pki.caCert, '-verify_ip', '127.0.0.1', pki.serverCert), /: OK/);
    assert.match(verify('-CAfile', pki.caCert, '-verify_hostname', 'localhost', pki.serverCert),
      /: OK/);
    assert.throws(() => verify('-CAfile', pki.caCert, pki.untrustedClientCert));
    const text = execFileSync('openssl', ['x509', '-in', pki.serverCert, '-noout', '-text'],
      { encoding: 'utf8' });
    assert.match(text, /prime256v1|P-256/);
  });

  test('TLS and mutual TLS with node, rawRequest and s_client', async () => {
    const read = (f) => fs.readFileSync(f);
    const server = tls.createServer({
      cert: read(pki.serverCert),
      key: read(pki.serverKey),
      ca: read(pki.caCert),
      requestCert: true,
      rejectUnauthorized: false,
    }, (socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        const who = socket.authorized ? socket.getPeerCertificate().subject.CN : 'anonymous';
        socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${who.length}\r\nConnection: close\r\n\r\n` +
          who);
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    try {
      const anon = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { tls: true });
      assert.equal(parseResponses(anon.text)[0].body, 'anonymous');

      const mtls = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', {
        tls: { cert: read(pki.clientCert), key: read(pki.clientKey) },
      });
      assert.equal(parseResponses(mtls.text)[0].body, 'test-client');

      const s = await opensslSClient(port, ['-CAfile', pki.caCert, '-verify_hostname', 'localhost',
        '-servername', 'localhost', '-cert', pki.clientCert, '-key', pki.clientKey, '-ign_eof'],
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(s.output, /Verify return code: 0 \(ok\)/);
      assert.match(s.output, /test-client/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

// startStepgate's process handling, exercised with a stand-in binary (a node script that
// listens on the configured port and logs JSON lines), not with stepgate itself.
test('startStepgate lifecycle with a stand-in binary', async () => {
  const listenPort = await freePort();
  const dir = path.join(tmp, 'fake');
  const config = writeConfig(dir, { listenPort, upstreamPort: 1 });
  const bin = path.join(dir, 'fake-stepgate');
  fs.writeFileSync(bin, `#!${process.execPath}
const net = require('node:net');
const fs = require('node:fs');
const cfg = fs.readFileSync(process.argv[process.argv.indexOf('-c') + 1], 'utf8');
const port = Number(/address: "127\\.0\\.0\\.1:(\\d+)"/.exec(cfg)[1]);
const srv = net.createServer((s) => s.end());
setTimeout(() => srv.listen(port, '127.0.0.1', () => {
  const argv = process.argv.slice(2);
  console.log(JSON.stringify({ level: 'info', msg: 'listening', port, argv }));
  console.error('not json');
}), 200);
process.on('SIGTERM', () => { srv.close(); process.exit(0); });
`, { mode: 0o755 });

  const sg = await startStepgate(config, { bin, args: ['--extra'] });
  try {
    assert.ok(sg.pid > 0);
    assert.equal(sg.port, listenPort);
    // the log line may land just after the port opens
    for (let i = 0; i < 50 && !sg.logs().some((l) => l.msg === 'listening'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const line = sg.logs().find((l) => l.msg === 'listening');
    assert.deepEqual(line.argv, ['serve', '-c', config, '--extra']);
    assert.ok(sg.logs().some((l) => l.raw === 'not json'));
  } finally {
    assert.equal(await sg.stop(), 0);
  }
  assert.equal(await sg.stop(), 0);  // stopping twice is harmless

  // A binary that exits at once is reported, with its output, instead of waited for.
  const dead = path.join(dir, 'dead-stepgate');
  fs.writeFileSync(dead, '#!/bin/sh\necho "bad config" >&2\nexit 3\n', { mode: 0o755 });
  await assert.rejects(startStepgate(config, { bin: dead }), /exit 3[\s\S]*bad config/);

  // One that ignores SIGTERM is killed after the stop timeout.
  const stubborn = path.join(dir, 'stubborn-stepgate');
  fs.writeFileSync(stubborn, fs.readFileSync(bin, 'utf8').replace(
    "process.on('SIGTERM', () => { srv.close(); process.exit(0); });",
    "process.on('SIGTERM', () => {});"), { mode: 0o755 });
  const sg2 = await startStepgate(config, { bin: stubborn });
  assert.equal(await sg2.stop('SIGTERM', { timeoutMs: 300 }), 'SIGKILL');
});
