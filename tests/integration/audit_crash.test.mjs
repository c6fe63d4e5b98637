// The audit log's crash guarantee from outside: stepgate (strict) in front of a fast
// upstream, 32 keep-alive clients, and kill -9 after a random short time, five times on the
// same audit directory. Every request a client got a 200 for must have its `request` record
// in the log afterwards (strict mode answers only after the record is durable), the log must
// read back without a gap, and `stepgate audit verify` must pass: torn tails are cut at the
// next start and reported by a `recovery` record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';

import { sleep, withTimeout } from './lib/harness.mjs';
import { startAudited, readLog, auditCli } from './lib/audit_helpers.mjs';

const ROUNDS = 5;
const CLIENTS = 32;
const TORN_ROUND = 2;

// One keep-alive client: requests back to back on its own connection until one fails (the
// proxy was killed) or `stopped()`. Returns the X-Request-Id of every 200 it received.
async function client(port, stopped) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ids = [];
  try {
    for (let i = 0; i < 100000 && !stopped(); i++) {
      const r = await new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, agent, method: 'POST',
          path: `/api/run/${i}`, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, id: res.headers['x-request-id'] }));
          res.on('error', () => resolve(null));
        });
        req.setTimeout(10000, () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve(null));
        req.end('{"n":1}');
      });
      if (r === null) break;
      if (r.status === 200) ids.push(r.id);
    }
  } finally {
    agent.destroy();
  }
  return ids;
}

test('kill -9 under load, five times: every answered request has its durable record',
  { timeout: 120000 }, async (t) => {
    const env = await startAudited({ identity: false, policy: false, workers: 2,
      audit: { checkpoint_records: 200 } });
    const answered = [];
    const torn = {};
    const pem = env.pub;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        if (round > 0) await env.restart();
        let stop = false;
        const clients = Array.from({ length: CLIENTS }, () => client(env.port, () => stop));
        const runMs = 150 + Math.floor(Math.random() * 600);
        await sleep(runMs);
        assert.equal(await env.sg.stop('SIGKILL'), 'SIGKILL');
        stop = true;
        const ids = (await withTimeout(Promise.all(clients), 30000, 'clients')).flat();
        t.diagnostic(`round ${round}: killed after ${runMs} ms, ${ids.length} answered`);
        answered.push(...ids);
        // A crashed log may end in a write in flight: fine for a live check.
        const live = await auditCli(['verify', env.auditDir, '--key', pem, '--live']);
        assert.equal(live.code, 0, `round ${round}: ${live.stdout}`);
        if (round === TORN_ROUND) {
          // What a machine crash can leave and a killed process rarely does: a frame whose
          // header reached the disk but not all of its payload. The next start must cut it.
          const { segments } = readLog(env.auditDir, { live: true });
          const newest = segments.at(-1);
          torn.segment = newest.name;
          const frame = Buffer.alloc(8 + 30, 0x7b);
          frame.writeUInt32LE(100, 0);
          frame.writeUInt32LE(0x12345678, 4);
          fs.appendFileSync(newest.file, frame);
          torn.bytes = frame.length + (newest.stop ? newest.bytes - newest.stop.offset : 0);
        }
      }
      assert.ok(answered.length > 0, 'some requests were answered');
      // The last start recovers whatever the last kill left, then a clean stop.
      await env.restart();
      assert.equal(await env.sg.stop(), 0);

      const log = readLog(env.auditDir);  // throws on any bad frame: nothing torn is left
      log.records.forEach((r, i) => assert.equal(r.json.seq, i));
      const requestIds = new Set(log.records.filter((r) => r.json.type === 'request')
        .map((r) => r.json.request_id));
      const missing = answered.filter((id) => !requestIds.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${answered.length} answered requests `
        + 'have no request record');
      const starts = log.records.filter((r) => r.json.type === 'start');
      assert.equal(starts.length, ROUNDS + 1);
      assert.equal(log.records.filter((r) => r.json.type === 'stop').length, 1);
      // A recovery record is the first record of the run after the crash that tore a tail.
      const recoveries = log.records.filter((r) => r.json.type === 'recovery');
      for (const r of recoveries) {
        assert.ok(r.json.cut_bytes > 0);
        assert.match(r.json.segment, /\d{20}\.seg$/);
        assert.equal(log.records[r.seq + 1].json.type, 'start');
      }
      const cut = recoveries.find((r) => r.json.segment.endsWith(torn.segment)
        && r.seq > starts[TORN_ROUND].seq && r.seq < starts[TORN_ROUND + 1].seq);
      assert.ok(cut, `no recovery record after the torn frame in ${torn.segment}`);
      assert.equal(cut.json.cut_bytes, torn.bytes);
      t.diagnostic(`${answered.length} answered requests, ${log.records.length} records, `
        + `${recoveries.length} recovery records`);
      const v = await auditCli(['verify', env.auditDir, '--key', pem]);
      assert.equal(v.code, 0, v.stdout);
      assert.match(v.stdout, /^ok: /);
    } finally {
      await env.stop();
      if (!process.env.STEPGATE_KEEP_TMP) fs.rmSync(env.dir, { recursive: true, force: true });
    }
  });
