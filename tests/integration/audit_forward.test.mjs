// Forwarding of a running stepgate's audit log (docs/audit.md, "Forwarding"): a webhook to a
// local node server (records byte for byte, seq headers, Authorization from a file, dedup by
// seq gives exactly the log's records), the receiver down for a while and back (the proxy
// keeps answering, the lag metric grows, then everything arrives), a webhook over https with
// the test's own CA (and a sink trusting another CA that never delivers), and syslog to a
// real rsyslogd started here (RFC 5424 over TCP with octet counting).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { rawRequest, metrics, metricValue, devPki, makeTempDir } from './lib/harness.mjs';
import {
  startAudited, readLog, waitFor, startWebhookReceiver, webhookRecords, startRsyslog,
  auditMetric,
} from './lib/audit_helpers.mjs';
import { freePort } from './lib/util.mjs';

const statusOf = (r) => Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1]);
const expectStatus = (r, status, what = '') => assert.equal(statusOf(r), status,
  `${what}${r.text}`);

function call(port, method, p, token) {
  const auth = token ? `Authorization: Bearer ${token}\r\n` : '';
  const body = method === 'POST' ? 'Content-Length: 2\r\n' : '';
  return rawRequest(port, `${method} ${p} HTTP/1.1\r\nHost: gw\r\n${auth}${body}`
    + `Connection: close\r\n\r\n${method === 'POST' ? '{}' : ''}`, { timeoutMs: 15000 });
}

async function sinkMetric(adminPort, name, sink) {
  return metricValue(await metrics(adminPort), name, { sink });
}

// Waits until `sink` has acknowledged every durable record, then returns its cursor.
async function caughtUp(env, sink, timeoutMs = 20000) {
  let cursor;
  await waitFor(`sink ${sink} to catch up`, async () => {
    const m = await metrics(env.adminPort);
    cursor = metricValue(m, 'stepgate_audit_sink_cursor', { sink });
    return metricValue(m, 'stepgate_audit_sink_lag', { sink }) === 0
      && cursor === metricValue(m, 'stepgate_audit_next_seq');
  }, { timeoutMs });
  return cursor;
}

// Asserts that the deduplicated records equal the log's records 0..cursor-1, byte for byte.
function assertSameRecords(got, auditDir, cursor) {
  const { records } = readLog(auditDir, { live: true });
  assert.ok(records.length >= cursor);
  assert.deepEqual([...got.keys()].sort((a, b) => a - b),
    Array.from({ length: cursor }, (_, i) => i), 'exactly the seqs below the cursor');
  for (let seq = 0; seq < cursor; seq++) {
    assert.equal(got.get(seq), records[seq].text, `record ${seq} differs`);
  }
}

describe('webhook over http', () => {
  let env;
  let receiver;
  let hookPort;
  let alice;
  let bob;

  before(async () => {
    hookPort = await freePort();
    receiver = await startWebhookReceiver({ port: hookPort });
    const dir = makeTempDir('stepgate-audit-fwd-');
    fs.writeFileSync(path.join(dir, 'hook.auth'), '  Bearer hook-secret-1\n');
    env = await startAudited({
      dir,
      audit: {
        webhooks: [{ name: 'siem', url: `http://127.0.0.1:${hookPort}/ingest/audit`,
          authorization_file: 'hook.auth', batch_records: 7, timeout: '2s',
          max_backoff: '400ms' }],
      },
    });
    alice = env.issuer.token('alice', ['ops']);
    bob = env.issuer.token('bob', ['ops']);
  });
  after(async () => {
    await env?.stop();
    await receiver?.close();
  });

  test('records arrive as documented: seq headers, Authorization, the stored bytes', async () => {
    for (let i = 0; i < 6; i++) {
      expectStatus(await call(env.port, 'POST', '/api/workflow/payments', alice), 200);
    }
    expectStatus(await call(env.port, 'POST', '/api/workflow/payments', bob), 403);
    expectStatus(await call(env.port, 'GET', '/api/workflow/payments/status'), 401);
    const cursor = await caughtUp(env, 'siem');
    assert.ok(cursor >= 4 + 6 * 2 + 2);
    assert.ok(receiver.posts.length >= 3, 'batches of at most 7 records');
    for (const p of receiver.posts) {
      assert.equal(p.method, 'POST');
      assert.equal(p.url, '/ingest/audit');
      assert.equal(p.headers['content-type'], 'application/json');
      assert.equal(p.headers.authorization, 'Bearer hook-secret-1');
      assert.ok(p.json && Array.isArray(p.json.records), p.body.slice(0, 200));
      const seqs = p.json.records.map((r) => r.seq);
      assert.ok(seqs.length >= 1 && seqs.length <= 7);
      assert.equal(Number(p.headers['x-stepgate-audit-seq-from']), seqs[0]);
      assert.equal(Number(p.headers['x-stepgate-audit-seq-to']), seqs.at(-1));
      seqs.forEach((s, i) => assert.equal(s, seqs[0] + i, 'in seq order, contiguous'));
    }
    const got = webhookRecords(receiver.posts);
    assertSameRecords(got, env.auditDir, cursor);
    // The body is the stored records joined, nothing more.
    const { records } = readLog(env.auditDir, { live: true });
    const p0 = receiver.posts[0];
    const from = p0.json.records[0].seq;
    const to = p0.json.records.at(-1).seq;
    assert.equal(p0.body,
      `{"records":[${records.slice(from, to + 1).map((r) => r.text).join(',')}]}`);
    const types = new Set([...got.values()].map((t) => JSON.parse(t).type));
    for (const ty of ['start', 'key', 'config', 'policy', 'request', 'response', 'auth_failure']) {
      assert.ok(types.has(ty), `no ${ty} record forwarded`);
    }
  });

  test('receiver down: the proxy keeps answering, the lag grows; back up: everything arrives',
    async () => {
      await receiver.close();
      const failuresBefore = await sinkMetric(env.adminPort,
        'stepgate_audit_sink_failures_total', 'siem');
      for (let i = 0; i < 10; i++) {
        const r = await call(env.port, 'POST', '/api/workflow/payments', alice);
        expectStatus(r, 200, 'answered while the sink is down: ');
      }
      await waitFor('a lag and a failed delivery', async () => {
        const m = await metrics(env.adminPort);
        return metricValue(m, 'stepgate_audit_sink_lag', { sink: 'siem' }) > 0
          && metricValue(m, 'stepgate_audit_sink_failures_total', { sink: 'siem' })
            > failuresBefore;
      });
      // Still answering after the failures began.
      for (let i = 0; i < 5; i++) {
        expectStatus(await call(env.port, 'POST', '/api/workflow/payments', bob), 403);
      }
      // The gauge is refreshed by the sink's own loop: it reaches every record written
      // while the receiver was down at the sink's next attempt.
      await waitFor('the lag to count the records written while down', async () => (
        await sinkMetric(env.adminPort, 'stepgate_audit_sink_lag', 'siem')) >= 10 * 2 + 5);
      const old = receiver.posts;
      receiver = await startWebhookReceiver({ port: hookPort });
      const cursor = await caughtUp(env, 'siem');
      assert.equal(await sinkMetric(env.adminPort, 'stepgate_audit_sink_lag', 'siem'), 0);
      const got = webhookRecords([...old, ...receiver.posts]);
      assertSameRecords(got, env.auditDir, cursor);
    });

  test('after a stop the cursor file holds the next seq to send', async () => {
    const cursor = await caughtUp(env, 'siem');
    assert.equal(await env.sg.stop(), 0);
    const text = fs.readFileSync(path.join(env.auditDir, 'state', 'siem.cursor'), 'utf8');
    assert.equal(text.trim(), String(cursor));
  });
});

describe('webhook over https', () => {
  let env;
  let good;
  let pki;

  before(async () => {
    const dir = makeTempDir('stepgate-audit-tls-');
    pki = await devPki(path.join(dir, 'pki'));
    const tlsOpts = { key: fs.readFileSync(pki.serverKey), cert: fs.readFileSync(pki.serverCert) };
    good = await startWebhookReceiver({ tls: tlsOpts });
    env = await startAudited({
      dir,
      audit: {
        webhooks: [
          { name: 'tls-good', url: `https://127.0.0.1:${good.port}/in`, ca: pki.caCert,
            timeout: '2s', max_backoff: '400ms' },
          // The same server, but the sink trusts another CA: the handshake must fail.
          { name: 'tls-wrong-ca', url: `https://127.0.0.1:${good.port}/wrong`,
            ca: pki.otherCaCert, timeout: '2s', max_backoff: '400ms' },
        ],
      },
    });
  });
  after(async () => {
    await env?.stop();
    await good?.close();
  });

  test('records arrive over TLS verified with the configured CA', async () => {
    const alice = env.issuer.token('alice', ['ops']);
    for (let i = 0; i < 3; i++) {
      expectStatus(await call(env.port, 'POST', '/api/workflow/payments', alice), 200);
    }
    const cursor = await caughtUp(env, 'tls-good');
    const posts = good.posts.filter((p) => p.url === '/in');
    assertSameRecords(webhookRecords(posts), env.auditDir, cursor);
  });

  test('a sink trusting another CA delivers nothing and counts failures', async () => {
    await waitFor('failures of the wrong-CA sink', async () => (await sinkMetric(env.adminPort,
      'stepgate_audit_sink_failures_total', 'tls-wrong-ca')) > 0);
    assert.equal(good.posts.filter((p) => p.url === '/wrong').length, 0);
    assert.ok(await sinkMetric(env.adminPort, 'stepgate_audit_sink_lag', 'tls-wrong-ca') > 0);
    assert.equal(await sinkMetric(env.adminPort, 'stepgate_audit_sink_records_total',
      'tls-wrong-ca'), 0);
  });
});

describe('syslog to rsyslogd', () => {
  let env;
  let rsyslog;

  before(async () => {
    const dir = makeTempDir('stepgate-audit-syslog-');
    rsyslog = await startRsyslog(path.join(dir, 'rsyslog'));
    env = await startAudited({
      dir,
      audit: {
        syslog: [{ name: 'rsys', address: `127.0.0.1:${rsyslog.port}`, app_name: 'stepgate-it',
          facility: 13, timeout: '3s', max_backoff: '400ms' }],
      },
    });
  });
  after(async () => {
    await env?.stop();
    await rsyslog?.stop();
  });

  test('every record arrives as an RFC 5424 message with the stored record as MSG', async () => {
    const alice = env.issuer.token('alice', ['ops']);
    const bob = env.issuer.token('bob', ['ops']);
    expectStatus(await call(env.port, 'POST', '/api/workflow/payments', alice), 200);
    expectStatus(await call(env.port, 'POST', '/api/workflow/payments', bob), 403);
    expectStatus(await call(env.port, 'GET', '/api/workflow/payments/status'), 401);
    const cursor = await caughtUp(env, 'rsys');
    // rsyslogd writes what it received; give its output action time to reach the file.
    const re = new RegExp('^<(\\d+)>1 (\\S+) (\\S+) (\\S+) (\\S+) (\\S+) '
      + '\\[stepgate@32473 seq="(\\d+)" event_id="([^"]+)"\\] (.*)$');
    let parsed;
    await waitFor('rsyslogd to write every message', () => {
      parsed = rsyslog.lines().map((l) => re.exec(l));
      const seqs = new Set(parsed.filter(Boolean).map((m) => Number(m[7])));
      return seqs.size >= cursor;
    });
    const lines = rsyslog.lines();
    parsed.forEach((m, i) => assert.ok(m, `not an RFC 5424 message from stepgate: ${lines[i]}`));
    const { records } = readLog(env.auditDir, { live: true });
    const got = new Map();
    for (const m of parsed) {
      const [, pri, time, , app, pid, msgid, seqText, eventId, msg] = m;
      const seq = Number(seqText);
      const rec = records[seq].json;
      assert.equal(msg, records[seq].text, `record ${seq}: MSG is the stored record`);
      assert.equal(msgid, rec.type);
      assert.equal(eventId, rec.event_id);
      assert.equal(time, rec.time);
      assert.equal(app, 'stepgate-it');
      assert.equal(Number(pid), env.sg.pid);
      const warn = ['auth_failure', 'gap', 'recovery'].includes(rec.type)
        || (rec.type === 'request' && rec.decision?.effect !== 'allow');
      assert.equal(Number(pri), 13 * 8 + (warn ? 4 : 6), `record ${seq} (${rec.type}) PRI`);
      got.set(seq, msg);
    }
    assert.deepEqual([...got.keys()].sort((a, b) => a - b),
      Array.from({ length: cursor }, (_, i) => i));
    const types = [...got.values()].map((t) => JSON.parse(t).type);
    assert.ok(types.includes('auth_failure') && types.includes('request'));
  });
});

describe('lag of a sink that is down', () => {
  let env;
  before(async () => {
    const deadPort = await freePort();  // nothing listens there
    env = await startAudited({
      audit: {
        webhooks: [{ name: 'dead', url: `http://127.0.0.1:${deadPort}/x`, timeout: '2s' }],
      },
    });
  });
  after(async () => {
    await env?.stop();
  });

  // docs/audit.md, "Metrics": lag = durable seq − cursor. The sink samples the durable seq
  // only when it wakes up, so while it waits out a backoff (up to max_backoff, 60 s by
  // default) the gauge keeps the number of its last attempt and records written since then
  // are not counted — exactly while the receiver is down.
  test('stepgate_audit_sink_lag is durable seq − cursor while the sink backs off', async () => {
    await waitFor('four failed deliveries', async () => (await sinkMetric(env.adminPort,
      'stepgate_audit_sink_failures_total', 'dead')) >= 4, { timeoutMs: 20000 });
    const alice = env.issuer.token('alice', ['ops']);
    for (let i = 0; i < 5; i++) {
      expectStatus(await call(env.port, 'POST', '/api/workflow/payments', alice), 200);
    }
    // start, key, config, policy, then a request and a response record per call; wait until
    // every one is durable (on disk), then read the gauges.
    const next = 4 + 5 * 2;
    await waitFor('every record durable', async () => (await auditMetric(env.adminPort,
      'stepgate_audit_next_seq')) === next
      && readLog(env.auditDir, { live: true }).records.length === next);
    const m = await metrics(env.adminPort);
    const cursor = metricValue(m, 'stepgate_audit_sink_cursor', { sink: 'dead' });
    assert.equal(cursor, 0);
    assert.equal(metricValue(m, 'stepgate_audit_next_seq'), next, 'no record since');
    assert.equal(metricValue(m, 'stepgate_audit_sink_lag', { sink: 'dead' }), next - cursor);
  });
});
