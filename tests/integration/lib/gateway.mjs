// A stepgate in front of a recording upstream, for the HTTP/1.1 behaviour tests
// (smuggling, http_semantics, path_normalization, limits).
//
//   client ──► stepgate ──► tap ──► upstream (node:http echo, or a raw net server)
//
// The tap is a transparent TCP relay that records every byte stepgate sends towards the
// upstream, per connection, so a test can assert exactly what was forwarded ("nothing", or
// exactly one request) independently of how lenient the upstream's own parser is.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import { deepMerge, makeTempDir, writeConfig } from './config.mjs';
import { startStepgate } from './stepgate.mjs';
import { startUpstream } from './upstream.mjs';
import { HOST, closeServer, freePort, sleep, trackSockets, waitForPort } from './util.mjs';
import { metrics, metricValue, parseResponses, rawRequest } from './wire.mjs';

// ---- the tap ------------------------------------------------------------------------------

// Relays HOST:<tap.port> to HOST:targetPort. Each accepted connection is recorded as
// {sent: Buffer[] (towards the target), received: Buffer[] (back), closed: bool}.
export async function startTap(targetPort) {
  const connections = [];
  const server = net.createServer((client) => {
    const rec = { sent: [], received: [], closed: false };
    connections.push(rec);
    const target = net.connect({ host: HOST, port: targetPort });
    const done = () => {
      rec.closed = true;
      client.destroy();
      target.destroy();
    };
    client.on('data', (d) => {
      rec.sent.push(d);
      target.write(d);
    });
    target.on('data', (d) => {
      rec.received.push(d);
      client.write(d);
    });
    client.on('end', () => target.end());
    target.on('end', () => client.end());
    client.on('close', done);
    target.on('close', done);
    client.on('error', () => {});
    target.on('error', () => {});
  });
  const sockets = trackSockets(server);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  return {
    port: server.address().port,
    connections,
    // Everything sent towards the upstream since the last reset(), connection by connection.
    sent: () => Buffer.concat(connections.flatMap((c) => c.sent)),
    sentText: () => Buffer.concat(connections.flatMap((c) => c.sent)).toString('latin1'),
    // The requests sent since the last reset(), parsed connection by connection.
    requests: () => connections.flatMap((c) => (c.sent.length
      ? parseRequests(Buffer.concat(c.sent)) : [])),
    reset() {
      for (const c of connections) {
        c.sent = [];
        c.received = [];
      }
    },
    close: () => closeServer(server, sockets),
  };
}

// ---- stepgate + upstream ------------------------------------------------------------------

// Starts an upstream (unless `rawUpstream` or `upstream` is given), a tap in front of it, and
// stepgate in front of the tap. Options: handler (for startUpstream), upstream (an existing
// startUpstream() result), rawUpstream (a startRawUpstream() result: no tap), limits, path,
// extra, upstreamConfig (extra keys of the upstream), workers (default 1).
export async function startGateway({
  handler, upstream, rawUpstream, limits, path: pathOpts, extra, upstreamConfig, workers = 1,
} = {}) {
  const ownUpstream = !upstream && !rawUpstream;
  const up = rawUpstream ? null : (upstream || await startUpstream(handler));
  const tap = rawUpstream ? null : await startTap(up.port);
  const listenPort = await freePort();
  const adminPort = await freePort();
  const dir = makeTempDir('stepgate-gw-');
  const configPath = writeConfig(dir, {
    listenPort,
    upstreamPort: rawUpstream ? rawUpstream.port : tap.port,
    adminPort,
    limits,
    path: pathOpts,
    upstream: upstreamConfig,
    extra: deepMerge({ proxy: { workers } }, extra || {}),
  });
  let sg;
  try {
    sg = await startStepgate(configPath);
    if (!await waitForPort(adminPort, { timeoutMs: 10000 })) {
      throw new Error('stepgate admin listener did not open');
    }
  } catch (e) {
    if (sg) await sg.stop('SIGKILL');
    if (tap) await tap.close();
    if (ownUpstream) await up.close();
    throw e;
  }
  const gw = {
    port: listenPort,
    adminPort,
    up,
    tap,
    sg,
    dir,
    configPath,
    // The Host stepgate sends upstream: the configured upstream's host:port.
    upstreamHost: `${HOST}:${rawUpstream ? rawUpstream.port : tap.port}`,
    scrape: () => metrics(adminPort),
    async metric(name, labels = {}) {
      return metricValue(await metrics(adminPort), name, labels) ?? 0;
    },
    // Runs fn() and returns {result, delta(name, labels)} for counters scraped around it.
    async measure(fn) {
      const before = await metrics(adminPort);
      const result = await fn();
      const after = await metrics(adminPort);
      return {
        result,
        delta: (name, labels = {}) =>
          (metricValue(after, name, labels) ?? 0) - (metricValue(before, name, labels) ?? 0),
        after,
      };
    },
    // rawRequest to stepgate.
    raw: (bytes, opts) => rawRequest(listenPort, bytes, opts),
    // Stops everything; rejects if stepgate did not exit with 0 on SIGTERM (a sanitizer
    // report, a crash, a hung drain), with the end of its stderr.
    async close() {
      const code = await sg.stop();
      if (tap) await tap.close();
      if (ownUpstream) await up.close();
      fs.rmSync(dir, { recursive: true, force: true });
      if (code !== 0) {
        throw new Error(`stepgate exited with ${code}; stderr:\n${sg.stderr().slice(-4000)}`);
      }
    },
  };
  return gw;
}

// ---- assertions ---------------------------------------------------------------------------

export const REQUEST_ID_RE = /^[0-9a-f]{32}$/;

// Asserts that `res` (one parseResponses() entry) is one of stepgate's local error responses:
// the status, Content-Type: application/json, X-Request-Id, the JSON body
// {"error": reason, "status": status, "request_id": <the X-Request-Id>} and, unless
// close is false, Connection: close.
export function assertLocalError(res, status, reason, { close = true } = {}) {
  assert.ok(res, `expected a ${status} response, got nothing`);
  assert.equal(res.status, status, `status (body: ${res.body})`);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.match(res.headers['x-request-id'] || '', REQUEST_ID_RE);
  if (close) {
    assert.equal(res.headers.connection, 'close');
  } else {
    assert.equal(res.headers.connection, undefined);
  }
  assert.equal(res.complete, true);
  assert.deepEqual(JSON.parse(res.body), {
    error: reason,
    status,
    request_id: res.headers['x-request-id'],
  });
}

// Sends `bytes` raw and returns {r (rawRequest result), list (parsed responses), delta}.
export async function exchange(gw, bytes, opts = {}) {
  const m = await gw.measure(() => gw.raw(bytes, { timeoutMs: 5000, ...opts }));
  return { r: m.result, list: parseResponses(m.result.data, opts.parse), delta: m.delta };
}

// An open client connection driven step by step: write(), waitFor(pred) on what came back.
// Resolves once connected (rejects after timeoutMs).
export function connect(port, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let closed = false;
    let closedAt = 0;
    const waiters = new Set();
    const notify = () => {
      for (const w of waiters) w();
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${port} timed out`));
    }, timeoutMs);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      notify();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      closedAt = Date.now();
      notify();
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({
        socket,
        write: (b) => {
          if (!socket.destroyed) socket.write(b);
        },
        data: () => buf,
        text: () => buf.toString('latin1'),
        closed: () => closed,
        closedAt: () => closedAt,
        // Resolves true once pred(buffer, closed) holds, false after timeoutMs.
        waitFor(pred, ms = 5000) {
          return new Promise((done) => {
            const check = () => {
              if (pred(buf, closed)) {
                finish(true);
              } else if (closed) {
                finish(pred(buf, closed));
              }
            };
            const t = setTimeout(() => finish(false), ms);
            const finish = (v) => {
              clearTimeout(t);
              waiters.delete(check);
              done(v);
            };
            waiters.add(check);
            check();
          });
        },
        close: () => socket.destroy(),
      });
    });
  });
}

// Waits (bounded) until pred() is true; returns its last value.
export async function eventually(pred, { timeoutMs = 3000, intervalMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let v = await pred();
  while (!v && Date.now() < deadline) {
    await sleep(intervalMs);
    v = await pred();
  }
  return v;
}

// Splits bytes sent towards the upstream into requests, by the framing stepgate declares
// (Content-Length or chunked; none means no body). Returns [{line, method, target, headers
// (lowercase name -> value, repeats joined by ", "), rawHeaders, body (Buffer), complete}].
export function parseRequests(input) {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input, 'latin1');
  const out = [];
  let pos = 0;
  for (let guard = 0; pos < buf.length && guard < 10000; guard++) {
    const headEnd = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) {
      out.push({ line: buf.subarray(pos).toString('latin1').split('\r\n')[0], complete: false });
      break;
    }
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const [method, target] = lines[0].split(' ');
    const req = { line: lines[0], method, target, headers: {}, rawHeaders: [],
      body: Buffer.alloc(0), complete: true };
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      const name = l.slice(0, i);
      const value = l.slice(i + 1).trim();
      req.rawHeaders.push([name, value]);
      const k = name.toLowerCase();
      req.headers[k] = k in req.headers ? `${req.headers[k]}, ${value}` : value;
    }
    pos = headEnd + 4;
    if ((req.headers['transfer-encoding'] || '').toLowerCase() === 'chunked') {
      const parts = [];
      req.complete = false;
      for (let g = 0; g < 1000000; g++) {
        const eol = buf.indexOf('\r\n', pos, 'latin1');
        if (eol < 0) break;
        const size = Number.parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) break;
        pos = eol + 2;
        if (size === 0) {
          if (buf.subarray(pos, pos + 2).toString('latin1') === '\r\n') {
            pos += 2;
            req.complete = true;
          }
          break;
        }
        if (pos + size + 2 > buf.length) {
          parts.push(buf.subarray(pos, Math.min(pos + size, buf.length)));
          break;
        }
        parts.push(buf.subarray(pos, pos + size));
        pos += size + 2;
      }
      req.body = Buffer.concat(parts);
      if (!req.complete) pos = buf.length;
    } else if (req.headers['content-length'] !== undefined) {
      const len = Number(req.headers['content-length']);
      req.body = buf.subarray(pos, Math.min(pos + len, buf.length));
      req.complete = req.body.length === len;
      pos += req.body.length;
    }
    out.push(req);
    if (!req.complete) break;
  }
  return out;
}
