// Execution lookups (the resolver) seen from outside: stepgate with the conductor profile in
// front of a fake Conductor that counts the read calls stepgate makes to find a workflow id's
// workflow, and can hold, fail, drop or stop answering them. The calls under test are
// PUT /api/workflow/{id}/pause: the path names only the id, so every decision needs a lookup.
//
// Shown: answers are cached (one lookup for two calls), concurrent calls on a fresh id share
// one lookup, a found answer is asked again after lookup.cache_ttl, failures (500, a dropped
// connection, an orchestrator that is down, a hung or slow lookup) deny `unresolved` and are
// not cached, an unknown id (404) denies `unresolved`, lookups carry
// lookup.authorization_file's credential and never the caller's, the proxy keeps serving while
// a lookup hangs, and the admin metrics agree with the orchestrator's count.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  writeConfig, startStepgate, freePort, makeTempDir, metrics, metricValue, httpRequest,
  waitForPort, sleep,
} from './lib/harness.mjs';
import { makeKey, jwks, sign, now } from './lib/jwt.mjs';
import { startFakeConductor } from './lib/fake_orchestrators.mjs';

const ISSUER = 'https://issuer.stepgate.test';
const AUD = 'workflow-api';
const key = makeKey('ES256', 'resolver-k1');
const LOOKUP_CREDENTIAL = 'Bearer stepgate-lookup-credential-5f1e';
const WF = 'order-fulfillment';
const OTHER = 'vendor-payouts';

function token(sub, groups) {
  const t = now();
  return sign(key, { iss: ISSUER, sub, aud: AUD, iat: t, exp: t + 3600, groups });
}
const ALICE = token('alice', ['ops']);

const POLICY = `workflow: ${WF}
upstream: backend
rules:
  - id: ops-pause
    allow: [pause, resume, read]
    who: { groups: [ops] }
`;

// Bounded poll: resolves fn()'s truthy value, or throws naming `what` after timeoutMs.
async function waitUntil(what, fn, { timeoutMs = 10000, intervalMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function startEnv({ lookup = {}, workers = 2 } = {}) {
  const fake = await startFakeConductor();
  const dir = makeTempDir('stepgate-resolver-');
  fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(key));
  fs.writeFileSync(path.join(dir, 'lookup-auth'), `${LOOKUP_CREDENTIAL}\n`, { mode: 0o600 });
  fs.mkdirSync(path.join(dir, 'policies'));
  fs.writeFileSync(path.join(dir, 'policies', 'wf.yaml'), POLICY);
  const port = await freePort();
  const adminPort = await freePort();
  const file = writeConfig(dir, {
    listenPort: port, adminPort, upstreamPort: fake.port,
    upstream: {
      profile: 'conductor',
      lookup: { authorization_file: 'lookup-auth', ...lookup },
    },
    extra: {
      proxy: { workers },
      identity: {
        providers: [{
          name: 'corp', type: 'jwt', issuer: ISSUER, audiences: [AUD], algorithms: ['ES256'],
          jwks_file: 'jwks.json', claims: { groups: 'groups' },
        }],
      },
      policies: 'policies',
      log: { level: 'info' },
    },
  });
  let sg;
  try {
    sg = await startStepgate(file);
    if (!await waitForPort(adminPort, { timeoutMs: 10000 })) throw new Error('no admin listener');
  } catch (e) {
    await sg?.stop('SIGKILL');
    await fake.close();
    throw e;
  }
  const env = {
    fake, sg, port, adminPort, dir,
    pause: (id, tok = ALICE) => httpRequest(port, {
      method: 'PUT',
      path: `/api/workflow/${encodeURIComponent(id)}/pause`,
      headers: { authorization: `Bearer ${tok}`, 'content-length': 0 },
      timeoutMs: 15000,
    }),
    metric: async (name, labels = { upstream: 'backend' }) =>
      metricValue(await metrics(adminPort), name, labels) ?? 0,
    async close() {
      const code = await sg.stop();
      await fake.close();
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, `stepgate exit code; stderr:\n${sg.stderr().slice(-4000)}`);
    },
  };
  return env;
}

function assertDenied(r, reason) {
  assert.equal(r.status, 403, r.body);
  const body = JSON.parse(r.body);
  assert.equal(body.error, 'forbidden');
  assert.equal(body.reason, reason, r.body);
  assert.match(body.request_id, /^[0-9a-f]{32}$/);
}

// Requests the fake received that are not lookups (the forwarded pause calls).
const forwardedPauses = (fake, id) => fake.requests.filter((r) => r.method === 'PUT'
  && r.path === `/api/workflow/${id}/pause`).length;

describe('resolver: caching, single flight, failures, credentials, metrics', () => {
  let env;
  before(async () => {
    env = await startEnv({ lookup: { timeout: '2s', negative_ttl: '5s' } });
  });
  after(async () => {
    await env?.close();
  });

  test('two calls on the same workflow id make one lookup', async () => {
    const id = env.fake.addWorkflow(WF);
    const r1 = await env.pause(id);
    assert.equal(r1.status, 200, r1.body);
    const r2 = await env.pause(id);
    assert.equal(r2.status, 200, r2.body);
    assert.equal(env.fake.lookupCount(id), 1, 'one lookup for two calls');
    assert.equal(forwardedPauses(env.fake, id), 2);
  });

  test('the lookup is asked with the configured credential, never the caller\'s', async () => {
    const id = env.fake.addWorkflow(WF);
    assert.equal((await env.pause(id)).status, 200);
    const [lk] = env.fake.lookupRequests(id);
    assert.ok(lk, 'a lookup was made');
    assert.equal(lk.method, 'GET');
    assert.equal(lk.url, `/api/workflow/${id}?includeTasks=false`);
    assert.equal(lk.headers.authorization, LOOKUP_CREDENTIAL);
    const auths = lk.rawHeaders.filter((_, i) => i % 2 === 0
      && lk.rawHeaders[i].toLowerCase() === 'authorization');
    assert.equal(auths.length, 1, 'exactly one Authorization on the lookup');
    assert.ok(!JSON.stringify(lk.rawHeaders).includes(ALICE), 'caller token not on the lookup');
    // The forwarded call itself carries the caller's credential, not stepgate's.
    const fwd = env.fake.requests.find((r) => r.method === 'PUT'
      && r.path === `/api/workflow/${id}/pause`);
    assert.equal(fwd.headers.authorization, `Bearer ${ALICE}`);
  });

  test('a lookup answer decides: another workflow\'s id is denied by policy', async () => {
    const id = env.fake.addWorkflow(OTHER);
    const r = await env.pause(id);
    assertDenied(r, 'no_matching_allow');
    assert.equal(env.fake.lookupCount(id), 1);
    assert.equal(forwardedPauses(env.fake, id), 0);
  });

  test('20 concurrent calls on a fresh id share one lookup', async () => {
    const id = env.fake.addWorkflow(WF);
    const waits0 = await env.metric('stepgate_lookup_waits_total', {});
    env.fake.setLookupMode('hold');
    let pending;
    try {
      pending = Array.from({ length: 20 }, () => env.pause(id));
      // Every request has reached stepgate and waits for the (held) lookup.
      await waitUntil('20 requests waiting for the lookup', async () =>
        (await env.metric('stepgate_lookup_waits_total', {})) - waits0 >= 20
        && env.fake.lookupCount(id) >= 1);
    } finally {
      env.fake.release();
    }
    const results = await Promise.all(pending);
    for (const r of results) assert.equal(r.status, 200, r.body);
    assert.equal(env.fake.lookupCount(id), 1, 'one lookup for 20 concurrent calls');
    assert.equal(forwardedPauses(env.fake, id), 20);
  });

  test('an unknown id (404) is denied unresolved and never forwarded', async () => {
    const id = 'f5b0e0a8-0000-4000-8000-000000000404';
    const r = await env.pause(id);
    assertDenied(r, 'unresolved');
    assert.equal(env.fake.lookupCount(id), 1);
    assert.equal(forwardedPauses(env.fake, id), 0);
  });

  for (const mode of ['error', 'close', 'garbage']) {
    test(`a failing lookup (${mode}) denies unresolved and is not cached`, async () => {
      const id = env.fake.addWorkflow(WF);
      env.fake.setLookupMode(mode);
      try {
        const r = await env.pause(id);
        assertDenied(r, 'unresolved');
        assert.ok(env.fake.lookupCount(id) >= 1);
      } finally {
        env.fake.setLookupMode('ok');
      }
      const failed = env.fake.lookupCount(id);
      assert.equal(forwardedPauses(env.fake, id), 0);
      // Back to normal: the next call asks again (the failure was not cached) and passes.
      const r2 = await env.pause(id);
      assert.equal(r2.status, 200, r2.body);
      assert.equal(env.fake.lookupCount(id), failed + 1);
      assert.equal(forwardedPauses(env.fake, id), 1);
    });
  }

  test('an orchestrator that is down: unresolved; once it is back the id resolves', async () => {
    const id = env.fake.addWorkflow(WF);
    const cached = env.fake.addWorkflow(WF);
    assert.equal((await env.pause(cached)).status, 200);
    await env.fake.stop();
    try {
      const r = await env.pause(id);
      assertDenied(r, 'unresolved');
      // A cached answer still decides without the orchestrator (the forward itself then
      // fails: the upstream is down, so a 5xx, not a policy answer).
      const rc = await env.pause(cached);
      assert.notEqual(rc.status, 403, rc.body);
    } finally {
      await env.fake.restart();
    }
    assert.equal(env.fake.lookupCount(id), 0, 'nothing reached the stopped orchestrator');
    const r2 = await env.pause(id);
    assert.equal(r2.status, 200, r2.body);
    assert.equal(env.fake.lookupCount(id), 1);
  });

  test('a lookup slower than lookup.timeout is denied unresolved; others are served meanwhile',
    async () => {
      const cached = env.fake.addWorkflow(WF);
      assert.equal((await env.pause(cached)).status, 200);
      const slow = env.fake.addWorkflow(WF);
      env.fake.setLookupMode('hang');
      let settled = false;
      let slowCall;
      try {
        slowCall = env.pause(slow).finally(() => {
          settled = true;
        });
        await waitUntil('the slow lookup to reach the orchestrator',
          () => env.fake.hungCount() === 1);
      } finally {
        env.fake.setLookupMode('ok');
      }
      // While the slow lookup hangs, other calls (cached and fresh ids) are answered.
      const fresh = env.fake.addWorkflow(WF);
      const [a, b] = await Promise.all([env.pause(cached), env.pause(fresh)]);
      assert.equal(a.status, 200, a.body);
      assert.equal(b.status, 200, b.body);
      assert.equal(settled, false, 'the slow call was still waiting while others were served');
      assert.equal(env.fake.hungCount(), 1);
      const r = await slowCall;
      assertDenied(r, 'unresolved');
      assert.equal(forwardedPauses(env.fake, slow), 0);
      env.fake.releaseHung();
      // Not cached: the next call asks again and passes.
      const again = await env.pause(slow);
      assert.equal(again.status, 200, again.body);
      assert.equal(env.fake.lookupCount(slow), 2);
    });

  test('/metrics agrees with the orchestrator\'s count of lookups', async () => {
    const names = ['stepgate_lookup_requests_total', 'stepgate_lookup_found_total',
      'stepgate_lookup_not_found_total', 'stepgate_lookup_failures_total',
      'stepgate_lookup_cache_hits_total', 'stepgate_lookups_total'];
    const snap = async () => {
      const text = await metrics(env.adminPort);
      const out = {};
      for (const n of names) out[n] = metricValue(text, n, { upstream: 'backend' }) ?? 0;
      out.worker_hits = metricValue(text, 'stepgate_lookup_worker_cache_hits_total') ?? 0;
      return out;
    };
    const before0 = await snap();
    const fake0 = env.fake.totalLookups();

    const found = env.fake.addWorkflow(WF);
    assert.equal((await env.pause(found)).status, 200);          // lookup: found
    assert.equal((await env.pause(found)).status, 200);          // cache hit
    assertDenied(await env.pause('no-such-run-7'), 'unresolved'); // lookup: not found
    const broken = env.fake.addWorkflow(WF);
    env.fake.setLookupMode('error');
    try {
      assertDenied(await env.pause(broken), 'unresolved');      // lookup: failure
    } finally {
      env.fake.setLookupMode('ok');
    }

    const after0 = await snap();
    const d = (n) => after0[n] - before0[n];
    const fakeDelta = env.fake.totalLookups() - fake0;
    assert.equal(fakeDelta, 3, 'the orchestrator saw three lookups');
    assert.equal(d('stepgate_lookup_requests_total'), fakeDelta);
    assert.equal(d('stepgate_lookup_found_total'), 1);
    assert.equal(d('stepgate_lookup_not_found_total'), 1);
    assert.equal(d('stepgate_lookup_failures_total'), 1);
    // Since start: every call stepgate made is one the orchestrator received, except those
    // made while it was stopped (none reached it: connection refused).
    const total = await env.metric('stepgate_lookup_requests_total');
    assert.ok(total >= env.fake.totalLookups(), `${total} >= ${env.fake.totalLookups()}`);
  });

  // Each answer stepgate gives without a call is a hit of the worker's cache
  // (stepgate_lookup_worker_cache_hits_total) or of the resolver's shared cache
  // (stepgate_lookup_cache_hits_total). With two workers, SO_REUSEPORT spreads the 20
  // connections over both, so some calls are answered by the shared cache through the
  // worker's direct read of it.
  test('every call answered from a cache is counted as a cache hit', async () => {
    const id = env.fake.addWorkflow(WF);
    assert.equal((await env.pause(id)).status, 200);
    assert.equal(env.fake.lookupCount(id), 1);
    const text0 = await metrics(env.adminPort);
    const hits = (text) =>
      (metricValue(text, 'stepgate_lookup_cache_hits_total', { upstream: 'backend' }) ?? 0)
      + (metricValue(text, 'stepgate_lookup_worker_cache_hits_total') ?? 0);
    for (let i = 0; i < 20; i++) assert.equal((await env.pause(id)).status, 200);
    assert.equal(env.fake.lookupCount(id), 1, 'all 20 answered from a cache');
    const text1 = await metrics(env.adminPort);
    assert.equal(hits(text1) - hits(text0), 20,
      'cache hits counted (worker + shared) for 20 calls answered without a lookup');
  });
});

describe('resolver: lookup.cache_ttl', () => {
  let env;
  before(async () => {
    env = await startEnv({ lookup: { cache_ttl: '1s' }, workers: 1 });
  });
  after(async () => {
    await env?.close();
  });

  test('a found answer is asked again once cache_ttl has passed', async () => {
    const id = env.fake.addWorkflow(WF);
    assert.equal((await env.pause(id)).status, 200);
    assert.equal(env.fake.lookupCount(id), 1);
    // Poll: each call is answered (from the cache or after a new lookup) until the entry has
    // expired and a second lookup was made. Bounded: far beyond the 1 s TTL.
    let calls = 1;
    await waitUntil('a second lookup after the TTL', async () => {
      const r = await env.pause(id);
      calls += 1;
      assert.equal(r.status, 200, r.body);
      return env.fake.lookupCount(id) >= 2;
    }, { timeoutMs: 15000, intervalMs: 100 });
    assert.equal(env.fake.lookupCount(id), 2, 'exactly one new lookup after expiry');
    assert.equal(forwardedPauses(env.fake, id), calls);
  });
});
