// Memory stays bounded under backpressure: a 200 MB response to a client that does not read,
// and a 200 MB upload to an upstream that does not read. stepgate's resident set size
// (VmRSS) must not grow with the body while the far side is stalled, and the transfer then
// completes with every byte.

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
  metricValue,
  sleep,
  startStepgate,
  startUpstream,
  writeConfig,
} from './lib/harness.mjs';
import { rssBytes } from './lib/extras.mjs';

const TOTAL = 200_000_000;
const STALL_MS = 3000;
const RSS_SLACK = 64 * 1024 * 1024;

const tmp = makeTempDir('stepgate-memory-');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Byte i of the test stream is 'a' + (i % 26) (as patternBytes() and the upstream's /big).
const PATTERN = Buffer.alloc(26 + (1 << 20));
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = 97 + (i % 26);

// Checks `chunk` against the pattern at stream offset `offset`; returns the first bad index
// or -1.
function checkPattern(chunk, offset) {
  for (let pos = 0; pos < chunk.length; pos += 1 << 20) {
    const piece = chunk.subarray(pos, Math.min(chunk.length, pos + (1 << 20)));
    const start = (offset + pos) % 26;
    if (!piece.equals(PATTERN.subarray(start, start + piece.length))) {
      for (let i = 0; i < piece.length; i++) {
        if (piece[i] !== PATTERN[start + i]) return pos + i;
      }
    }
  }
  return -1;
}

// Samples stepgate's RSS every 100 ms for `ms`; resolves the largest value seen.
async function maxRssOver(pid, ms) {
  let max = 0;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    max = Math.max(max, rssBytes(pid) ?? 0);
    await sleep(100);
  }
  return max;
}

const MiB = (n) => `${(n / 1048576).toFixed(1)} MiB`;

describe('memory bounds under backpressure', () => {
  let up;
  let slowUp;
  let sg;
  let sgUpload;
  let adminPort;
  let uploadAdminPort;
  let uploadPort;

  // An upstream that reads nothing until release(), then reads the whole body, checks it
  // against the pattern and answers {received, bad}.
  let releaseUpload;
  const uploadReleased = new Promise((resolve) => { releaseUpload = resolve; });
  let uploadConnections = 0;

  before(async () => {
    up = await startUpstream();
    slowUp = net.createServer((socket) => {
      uploadConnections += 1;
      socket.pause();
      socket.on('error', () => {});
      uploadReleased.then(() => {
        let head = Buffer.alloc(0);
        let headDone = false;
        let expected = 0;
        let received = 0;
        let bad = -1;
        socket.on('data', (d) => {
          let body = d;
          if (!headDone) {
            head = Buffer.concat([head, d]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            headDone = true;
            expected = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head.toString('latin1'))?.[1]);
            body = head.subarray(end + 4);
          }
          if (bad < 0) {
            const b = checkPattern(body, received);
            if (b >= 0) bad = received + b;
          }
          received += body.length;
          if (received >= expected) {
            const json = JSON.stringify({ received, bad });
            socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\nConnection: close\r\n\r\n${json}`);
          }
        });
        socket.resume();
      });
    });
    await new Promise((resolve) => slowUp.listen(0, '127.0.0.1', resolve));

    const limits = { max_body_bytes: '256MiB' };
    const listenPort = await freePort();
    adminPort = await freePort();
    sg = await startStepgate(writeConfig(path.join(tmp, 'download'), {
      listenPort, upstreamPort: up.port, adminPort, limits,
      upstream: { response_timeout: '60s' }, extra: { proxy: { workers: 1 } },
    }));
    uploadPort = await freePort();
    uploadAdminPort = await freePort();
    sgUpload = await startStepgate(writeConfig(path.join(tmp, 'upload'), {
      listenPort: uploadPort, upstreamPort: slowUp.address().port, adminPort: uploadAdminPort,
      limits, upstream: { response_timeout: '60s' }, extra: { proxy: { workers: 1 } },
    }));
  });

  after(async () => {
    releaseUpload();
    if (sg) assert.equal(await sg.stop(), 0);
    if (sgUpload) assert.equal(await sgUpload.stop(), 0);
    if (up) await up.close();
    if (slowUp) {
      slowUp.close();
    }
  });

  test('slow client: a 200 MB response held back without growing memory, then delivered whole',
    async (t) => {
      // Warm up (allocator pools, libevent buffers), then take the baseline.
      const warm = await httpRequest(sg.port, { path: '/big?bytes=2000000' });
      assert.equal(warm.bodyBytes.length, 2000000);
      await sleep(200);
      const baseline = rssBytes(sg.pid);
      assert.ok(baseline > 0);

      const socket = net.connect({ host: '127.0.0.1', port: sg.port });
      socket.on('error', () => {});
      const chunks = [];
      let received = 0;
      let headLen = -1;
      let head = '';
      let bad = -1;
      let done;
      const finished = new Promise((resolve) => { done = resolve; });
      socket.on('data', (d) => {
        let body = d;
        if (headLen < 0) {
          chunks.push(d);
          const all = Buffer.concat(chunks);
          const end = all.indexOf('\r\n\r\n');
          if (end < 0) return;
          headLen = end + 4;
          head = all.subarray(0, end).toString('latin1');
          body = all.subarray(headLen);
        }
        if (bad < 0) {
          const b = checkPattern(body, received);
          if (b >= 0) bad = received + b;
        }
        received += body.length;
        if (received >= TOTAL) done();
      });
      socket.on('close', () => done());
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`GET /big?bytes=${TOTAL} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      socket.pause();

      const peak = await maxRssOver(sg.pid, STALL_MS);
      const pausedAt = received;
      t.diagnostic(`baseline ${MiB(baseline)}, peak while stalled ${MiB(peak)}, client read ${pausedAt}`);
      assert.ok(pausedAt < 64 * 1024 * 1024, `the client read only ${pausedAt} bytes so far`);
      assert.ok(peak - baseline < RSS_SLACK,
        `RSS grew by ${MiB(peak - baseline)} (baseline ${MiB(baseline)}, peak ${MiB(peak)})`);
      const m = await metrics(adminPort);
      assert.ok(metricValue(m, 'stepgate_backpressure_pauses_total') > 0);

      socket.resume();
      let timer;
      await Promise.race([finished, new Promise((resolve) => { timer = setTimeout(resolve, 90000); })]);
      clearTimeout(timer);
      socket.destroy();
      assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(head, new RegExp(`\r\nContent-Length: ${TOTAL}\r\n`, 'i'));
      assert.equal(received, TOTAL);
      assert.equal(bad, -1, `body differs from the pattern at byte ${bad}`);
    });

  test('slow upstream: a 200 MB upload held back without growing memory, then delivered whole',
    async (t) => {
      const baseline = rssBytes(sgUpload.pid);
      const m0 = await metrics(uploadAdminPort);

      const socket = net.connect({ host: '127.0.0.1', port: uploadPort });
      socket.on('error', () => {});
      let response = Buffer.alloc(0);
      let closed = false;
      socket.on('data', (d) => { response = Buffer.concat([response, d]); });
      socket.on('close', () => { closed = true; });
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${TOTAL}\r\nConnection: close\r\n\r\n`);
      let sent = 0;
      let stop = false;
      const writer = (async () => {
        const piece = 1 << 20;
        while (sent < TOTAL && !stop && !closed) {
          const n = Math.min(piece, TOTAL - sent);
          const start = sent % 26;
          const ok = socket.write(PATTERN.subarray(start, start + n));
          sent += n;
          if (!ok) {
            await new Promise((resolve) => {
              const go = () => {
                socket.off('drain', go);
                socket.off('close', go);
                resolve();
              };
              socket.on('drain', go);
              socket.on('close', go);
            });
          }
        }
      })();

      const peak = await maxRssOver(sgUpload.pid, STALL_MS);
      const sentWhileStalled = sent;
      t.diagnostic(`baseline ${MiB(baseline)}, peak while stalled ${MiB(peak)}, client wrote ${sent}`);
      assert.ok(sentWhileStalled < 100 * 1024 * 1024,
        `the client could write only ${sentWhileStalled} bytes while the upstream stalled`);
      assert.ok(peak - baseline < RSS_SLACK,
        `RSS grew by ${MiB(peak - baseline)} (baseline ${MiB(baseline)}, peak ${MiB(peak)})`);
      const m1 = await metrics(uploadAdminPort);
      assert.ok(metricValue(m1, 'stepgate_backpressure_pauses_total') >
        metricValue(m0, 'stepgate_backpressure_pauses_total'), 'backpressure paused reading');

      releaseUpload();
      const deadline = Date.now() + 90000;
      while (!closed && Date.now() < deadline) await sleep(50);
      stop = true;
      await writer;
      socket.destroy();
      assert.equal(sent, TOTAL);
      const text = response.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
      assert.equal(uploadConnections, 1);
      assert.deepEqual(body, { received: TOTAL, bad: -1 });
    });
});
