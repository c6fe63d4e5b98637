// Process lifecycle: graceful drain on SIGTERM, the drain deadline, configuration reload on
// SIGHUP (good and broken configs), `stepgate check`, start-up failures (bad config, port in
// use) and the admin endpoints.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  freePort,
  httpRequest,
  makeTempDir,
  metrics,
  rawRequest,
  parseResponses,
  startStepgate,
  startUpstream,
  stepgateBin,
  writeConfig,
} from './lib/harness.mjs';
import { eventually, openClient, runCommand, waitForLog } from './lib/extras.mjs';

const tmp = makeTempDir('stepgate-lifecycle-');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// 'refused', 'closed' (accepted, then closed without a byte) or 'open'.
function probeConnect(port, { timeoutMs = 1000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let state = 'open';
    const done = (v) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(state), timeoutMs);
    s.once('connect', () => {
      state = 'connected';
      // Accepted sockets of a draining worker are closed at once.
      s.once('close', () => done('closed'));
      s.once('end', () => done('closed'));
      setTimeout(() => done('open'), 300);
    });
    s.once('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`));
  });
}

async function startWith(name, opts) {
  const dir = path.join(tmp, name);
  const listenPort = await freePort();
  const adminPort = await freePort();
  const file = writeConfig(dir, { listenPort, adminPort, ...opts });
  const sg = await startStepgate(file);
  return { sg, file, dir, listenPort, adminPort };
}

describe('graceful shutdown', () => {
  let up;
  before(async () => {
    up = await startUpstream();
  });
  after(() => up.close());

  test('SIGTERM: the in-flight request completes, new connections are refused, /readyz is 503, exit 0',
    async () => {
      const { sg, listenPort, adminPort } = await startWith('drain', {
        upstreamPort: up.port, extra: { proxy: { drain_timeout: '5s' } },
      });
      try {
        assert.equal((await httpRequest(adminPort, { path: '/readyz' })).status, 200);
        // An idle keep-alive connection, and one with a slow request in flight.
        const idle = await openClient(listenPort);
        const warm = await idle.request('GET /warm HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(warm.response?.status, 200);
        const inflight = rawRequest(listenPort,
          'GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 8000 });
        assert.ok(await eventually(() => up.requests.some((r) => r.url === '/slow?ms=1500')),
          'the slow request reached the upstream');

        const t0 = Date.now();
        process.kill(sg.pid, 'SIGTERM');
        let exitedAt = 0;
        sg.exited.then(() => { exitedAt = Date.now(); });

        // Readiness turns 503 while the admin listener still answers.
        assert.ok(await eventually(async () => {
          const r = await httpRequest(adminPort, { path: '/readyz', timeoutMs: 1000 })
            .catch(() => null);
          return r && r.status === 503;
        }, { timeoutMs: 1000 }), '/readyz is 503 during the drain');
        // New connections are refused once the drain has begun.
        assert.ok(await eventually(async () => (await probeConnect(listenPort)) === 'refused',
          { timeoutMs: 1000 }), 'new connections are refused');
        assert.equal(await probeConnect(listenPort), 'refused');
        // The idle keep-alive connection is closed without a response.
        assert.equal(await idle.waitClosed(1000), true, 'idle keep-alive connection closed');
        idle.close();
        assert.equal(exitedAt, 0, 'still running while the slow request is in flight');

        const r = await inflight;
        const [res] = parseResponses(r.text);
        assert.equal(res?.status, 200, r.text);
        assert.equal(res.complete, true);
        assert.equal(res.headers.connection, 'close');
        assert.equal(JSON.parse(res.body).url, '/slow?ms=1500');
        assert.equal(r.closed, true, 'the connection is closed after the response');
        assert.ok(Date.now() - t0 >= 1000, 'the response came after the drain began');

        const code = await sg.stop('SIGTERM', { timeoutMs: 5000 });
        assert.equal(code, 0);
        assert.ok(exitedAt - t0 < 4000, `exited ${exitedAt - t0} ms after SIGTERM`);
      } finally {
        await sg.stop('SIGKILL');
      }
    });

  test('drain deadline: a hanging request does not keep the process alive', async () => {
    const { sg, listenPort } = await startWith('deadline', {
      upstreamPort: up.port, extra: { proxy: { drain_timeout: '1s' } },
    });
    try {
      const hung = rawRequest(listenPort, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n',
        { timeoutMs: 8000 });
      assert.ok(await eventually(() => up.requests.some((r) => r.url === '/hang')));
      const t0 = Date.now();
      process.kill(sg.pid, 'SIGTERM');
      const code = await sg.stop('SIGTERM', { timeoutMs: 6000 });
      const elapsed = Date.now() - t0;
      assert.equal(code, 0);
      assert.ok(elapsed >= 900, `waited for the drain deadline (${elapsed} ms)`);
      assert.ok(elapsed < 4000, `exited within a bound (${elapsed} ms)`);
      const r = await hung;
      assert.equal(r.closed, true, 'the hanging client connection was closed');
      assert.doesNotMatch(r.text, /^HTTP\/1\.1 200/);
      assert.ok(sg.logs().some((l) => l.level === 'warn' && /drain deadline/.test(l.msg)),
        'the deadline is logged');
    } finally {
      await sg.stop('SIGKILL');
    }
  });
});

describe('SIGHUP reload', () => {
  let up1;
  let up2;
  let ctx;
  before(async () => {
    up1 = await startUpstream();
    up2 = await startUpstream();
    ctx = await startWith('reload', { upstreamPort: up1.port });
  });
  after(async () => {
    if (ctx) assert.equal(await ctx.sg.stop(), 0);
    await up1.close();
    await up2.close();
  });

  test('a new upstream url takes effect for new requests; a kept connection keeps working',
    async () => {
      const { sg, listenPort, adminPort, dir } = ctx;
      const kept = await openClient(listenPort);
      try {
        const r1 = await kept.request('GET /kept-1 HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(r1.response?.status, 200, r1.text);
        assert.ok(up1.requests.some((r) => r.url === '/kept-1'));

        writeConfig(dir, { listenPort, adminPort, upstreamPort: up2.port });
        const mark = sg.logs().length;
        process.kill(sg.pid, 'SIGHUP');
        assert.ok(await waitForLog(sg, (l) => l.msg === 'configuration reloaded', { after: mark }),
          sg.stderr().slice(-2000));
        // Both workers apply it.
        assert.ok(await eventually(() => sg.logs().slice(mark)
          .filter((l) => l.msg === 'configuration applied').length === 2));

        for (let i = 0; i < 4; i++) {
          const r = await httpRequest(listenPort, { path: `/new-${i}` });
          assert.equal(r.status, 200);
          assert.ok(up2.requests.some((q) => q.url === `/new-${i}`), `/new-${i} went to upstream 2`);
          assert.ok(!up1.requests.some((q) => q.url === `/new-${i}`));
        }
        const r2 = await kept.request('GET /kept-2 HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(r2.response?.status, 200, r2.text);
        assert.equal(JSON.parse(r2.response.body).url, '/kept-2');
      } finally {
        kept.close();
      }
    });

  test('a request in flight across a reload finishes on the upstream it started with', async () => {
    const { sg, listenPort, adminPort, dir } = ctx;
    // ctx now points at upstream 2 (previous test); switch back to 1 mid-request.
    const inflight = httpRequest(listenPort, { path: '/slow?ms=800' });
    assert.ok(await eventually(() => up2.requests.some((r) => r.url === '/slow?ms=800')));
    writeConfig(dir, { listenPort, adminPort, upstreamPort: up1.port });
    const mark = sg.logs().length;
    process.kill(sg.pid, 'SIGHUP');
    assert.ok(await eventually(() => sg.logs().slice(mark)
      .filter((l) => l.msg === 'configuration applied').length === 2));
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).url, '/slow?ms=800');
    const next = await httpRequest(listenPort, { path: '/back-to-1' });
    assert.equal(next.status, 200);
    assert.ok(up1.requests.some((q) => q.url === '/back-to-1'));
    // And once more to upstream 2, for the tests that follow.
    writeConfig(dir, { listenPort, adminPort, upstreamPort: up2.port });
    const mark2 = sg.logs().length;
    process.kill(sg.pid, 'SIGHUP');
    assert.ok(await eventually(() => sg.logs().slice(mark2)
      .filter((l) => l.msg === 'configuration applied').length === 2));
  });

  test('a broken config on SIGHUP is logged as an error and the running one stays', async () => {
    const { sg, listenPort, file } = ctx;
    const good = fs.readFileSync(file, 'utf8');
    try {
      fs.writeFileSync(file, good.replace(/^proxy:/m, 'proxxy:'));
      const mark = sg.logs().length;
      process.kill(sg.pid, 'SIGHUP');
      const line = await waitForLog(sg, (l) => l.level === 'error', { after: mark });
      assert.ok(line, `an error line is logged: ${sg.stderr().slice(-2000)}`);
      assert.match(line.msg, /reload failed; keeping the running configuration/);
      assert.match(line.error, /stepgate\.yaml:\d+:\d+: unknown key 'proxxy'/);
      const r = await httpRequest(listenPort, { path: '/after-bad-reload' });
      assert.equal(r.status, 200);
      assert.ok(up2.requests.some((q) => q.url === '/after-bad-reload'), 'old config in force');

      // Changing a listener needs a restart: refused too.
      const other = await freePort();
      fs.writeFileSync(file, good.replace(`127.0.0.1:${listenPort}`, `127.0.0.1:${other}`));
      const mark2 = sg.logs().length;
      process.kill(sg.pid, 'SIGHUP');
      const line2 = await waitForLog(sg, (l) => l.level === 'error', { after: mark2 });
      assert.ok(line2);
      assert.match(line2.msg, /listeners changed/);
      assert.equal((await httpRequest(listenPort, { path: '/still' })).status, 200);
    } finally {
      fs.writeFileSync(file, good);
    }
  });
});

describe('commands and start-up failures', () => {
  let up;
  let dir;
  let goodFile;
  let badFile;
  before(async () => {
    up = await startUpstream();
    dir = path.join(tmp, 'cli');
    goodFile = writeConfig(dir, { listenPort: await freePort(), upstreamPort: up.port,
      adminPort: await freePort(), fileName: 'good.yaml' });
    badFile = path.join(dir, 'bad.yaml');
    fs.writeFileSync(badFile, fs.readFileSync(goodFile, 'utf8')
      .replace('connect_timeout: "2s"', 'connect_timeout: "2 s"'));
    assert.notEqual(fs.readFileSync(badFile, 'utf8'), fs.readFileSync(goodFile, 'utf8'));
  });
  after(() => up.close());

  test('stepgate check: ok on a good config, FILE:LINE:COL on a bad one', async () => {
    const ok = await runCommand(stepgateBin(), ['check', '-c', goodFile]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /: ok \(1 listener\(s\), 1 upstream\(s\)\)/);
    const bad = await runCommand(stepgateBin(), ['check', '-c', badFile]);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stdout, '');
    const m = /^(.*bad\.yaml):(\d+):(\d+): (.*)$/m.exec(bad.stderr);
    assert.ok(m, bad.stderr);
    const lines = fs.readFileSync(badFile, 'utf8').split('\n');
    assert.match(lines[Number(m[2]) - 1], /connect_timeout/, 'the line points at the bad key');
    assert.match(m[4], /duration/);
    const missing = await runCommand(stepgateBin(), ['check', '-c', path.join(dir, 'nope.yaml')]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nope\.yaml: cannot read/);
  });

  test('serve with a bad config exits 2 with the message', async () => {
    const r = await runCommand(stepgateBin(), ['serve', '-c', badFile], { timeoutMs: 10000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.yaml:\d+:\d+: .*duration/);
  });

  test('a listener port already in use: non-zero exit and a clear message', async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = blocker.address().port;
    try {
      const file = writeConfig(dir, { listenPort: busy, upstreamPort: up.port,
        adminPort: await freePort(), fileName: 'busy.yaml' });
      const r = await runCommand(stepgateBin(), ['serve', '-c', file], { timeoutMs: 10000 });
      assert.equal(r.timedOut, false);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busy}: Address already in use`));

      const file2 = writeConfig(dir, { listenPort: await freePort(), upstreamPort: up.port,
        adminPort: busy, fileName: 'busy-admin.yaml' });
      const r2 = await runCommand(stepgateBin(), ['serve', '-c', file2], { timeoutMs: 10000 });
      assert.equal(r2.timedOut, false);
      assert.notEqual(r2.code, 0);
      assert.match(r2.stderr, /admin/);
      assert.match(r2.stderr, new RegExp(`${busy}`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('admin endpoints', () => {
  let up;
  let ctx;
  before(async () => {
    up = await startUpstream();
    ctx = await startWith('admin', { upstreamPort: up.port });
  });
  after(async () => {
    if (ctx) assert.equal(await ctx.sg.stop(), 0);
    await up.close();
  });

  test('/healthz, /readyz and /metrics answer', async () => {
    const h = await httpRequest(ctx.adminPort, { path: '/healthz' });
    assert.equal(h.status, 200);
    assert.equal(h.body, 'ok\n');
    const r = await httpRequest(ctx.adminPort, { path: '/readyz' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ready\n');
    assert.equal((await httpRequest(ctx.listenPort, { path: '/x' })).status, 200);
    const m = await httpRequest(ctx.adminPort, { path: '/metrics' });
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'], /^text\/plain/);
    assert.match(m.body, /^stepgate_requests_total 1$/m);
    assert.match(m.body, /^stepgate_responses_total\{code="200"\} 1$/m);
    const nf = await httpRequest(ctx.adminPort, { path: '/nope' });
    assert.equal(nf.status, 404);
  });

  test('every metric sample has a # TYPE line', async () => {
    const text = await metrics(ctx.adminPort);
    const types = new Map();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      assert.ok(!types.has(m[1]), `one TYPE line for ${m[1]}`);
      types.set(m[1], m[2]);
    }
    let samples = 0;
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const name = /^([A-Za-z_:][A-Za-z0-9_:]*)/.exec(line)?.[1];
      assert.ok(name, `sample line: ${line}`);
      assert.match(line, /^[A-Za-z_:][A-Za-z0-9_:]*(\{[^}]*\})? [0-9.e+-]+$|Inf$/);
      samples += 1;
      if (types.has(name)) continue;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(['histogram', 'summary'].includes(types.get(base)),
        `metric ${name} has no # TYPE line`);
    }
    assert.ok(samples > 20, `${samples} samples`);
    assert.equal(types.get('stepgate_tls_handshakes_total'), 'counter');
    assert.equal(types.get('stepgate_request_duration_seconds'), 'histogram');
    assert.equal(types.get('stepgate_connections_active'), 'gauge');
  });
});

