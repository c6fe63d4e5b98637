// Policy on the request path: a jwt provider (keys from a JWKS file, tokens signed here), a
// policy folder and generic-profile routes. Allowed → forwarded; default deny, deny over allow
// and unclassified → 403 with the reason; shadow mode counts but never blocks; rule ids only
// when revealed. Hot reload: the folder is watched (files replaced by rename, like editors),
// broken sets are refused and counted, and 100 reloads under load never fail a request or
// give an answer that matches neither set.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  startUpstream, writeConfig, startStepgate, freePort, rawRequest, makeTempDir, metrics,
  metricValue, httpRequest, sleep,
} from './lib/harness.mjs';
import { makeKey, jwks, sign, now } from './lib/jwt.mjs';

const ISSUER = 'https://issuer.stepgate.test';
const AUD = 'workflow-api';
const key = makeKey('ES256', 'k1');

function token(sub, groups) {
  const t = now();
  return sign(key, { iss: ISSUER, sub, aud: AUD, iat: t, exp: t + 600, groups });
}
const ALICE = token('alice', ['ops']);
const BOB = token('bob', ['ops']);
const CAROL = token('carol', []);

const statusOf = (r) => Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1]);
const bodyOf = (r) => JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));

function call(port, method, p, tok) {
  const auth = tok ? `Authorization: Bearer ${tok}\r\n` : '';
  const body = method === 'POST' ? 'Content-Length: 2\r\n' : '';
  return rawRequest(port,
    `${method} ${p} HTTP/1.1\r\nHost: gw\r\n${auth}${body}Connection: close\r\n\r\n`
      + (method === 'POST' ? '{}' : ''),
    { timeoutMs: 8000 });
}

const PAYMENTS_A = `workflow: payments
upstream: backend
rules:
  - id: ops-start
    allow: [start, read]
    who: { groups: [ops] }
  - id: no-bob
    deny: [start]
    who: { subjects: [bob] }
`;
const PAYMENTS_B = `workflow: payments
rules:
  - id: b-read
    allow: [read]
    who: { groups: [ops] }
  - id: b-freeze
    deny: [start]
`;
const REFUNDS = `workflow: refunds
rules:
  - id: refunds-ops
    allow: [start]
    who: { groups: [ops] }
`;
const SHADOW = `workflow: refunds
mode: shadow
rules:
  - id: refunds-freeze-trial
    deny: [start]
`;

// Replaces `name` in `dir` the way editors save: write a hidden temporary file, rename it over.
function replaceFile(dir, name, text) {
  const tmp = path.join(dir, `.${name}.${process.hrtime.bigint()}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, path.join(dir, name));
}

async function readyBody(adminPort) {
  const r = await httpRequest(adminPort, { path: '/readyz' });
  return r.body;
}
const versionOf = (body) => /policy_version ([0-9a-f]{16})/.exec(body)?.[1];

async function waitFor(what, fn, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function startWithPolicies({ reveal, files }) {
  const up = await startUpstream();
  const dir = makeTempDir('stepgate-policy-');
  fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(key));
  const pdir = path.join(dir, 'policies');
  fs.mkdirSync(pdir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(pdir, name), text);
  const port = await freePort();
  const adminPort = await freePort();
  const file = writeConfig(dir, {
    listenPort: port, adminPort, upstreamPort: up.port,
    upstream: {
      routes: [
        { method: 'POST', path: '/api/workflow/{workflow}', action: 'start',
          workflow: '{workflow}' },
        { method: 'GET', path: '/api/workflow/{workflow}/status', action: 'read',
          workflow: '{workflow}' },
      ],
    },
    extra: {
      identity: {
        providers: [{
          name: 'corp', type: 'jwt', issuer: ISSUER, audiences: [AUD], algorithms: ['ES256'],
          jwks_file: 'jwks.json', claims: { groups: 'groups' },
        }],
      },
      policies: 'policies',
      policy: { reveal_rule_ids: reveal },
      log: { level: 'info' },
    },
  });
  const sg = await startStepgate(file);
  return { up, sg, port, adminPort, pdir };
}

describe('policy decisions', () => {
  let env;
  before(async () => {
    env = await startWithPolicies({
      reveal: false,
      files: { 'payments.yaml': PAYMENTS_A, 'refunds.yaml': REFUNDS, 'shadow.yaml': SHADOW },
    });
  });
  after(async () => {
    await env?.sg?.stop();
    await env?.up?.close();
  });

  test('allowed: forwarded', async () => {
    const seen = env.up.requests.length;
    const r = await call(env.port, 'POST', '/api/workflow/payments', ALICE);
    assert.equal(statusOf(r), 200, r.text);
    assert.equal(env.up.requests.length, seen + 1);
    const m = await metrics(env.adminPort);
    assert.ok(metricValue(m, 'stepgate_policy_decisions_total',
      { decision: 'allow', reason: 'allowed' }) >= 1);
  });

  const denials = [
    ['no allow matches (default deny)', 'POST', '/api/workflow/payments', CAROL,
      'no_matching_allow'],
    ['a deny beats an allow', 'POST', '/api/workflow/payments', BOB, 'denied'],
    ['unclassified path', 'GET', '/api/other', ALICE, 'unclassified'],
    ['unclassified method', 'DELETE', '/api/workflow/payments', ALICE, 'unclassified'],
    ['an action no rule allows', 'GET', '/api/workflow/refunds/status', ALICE,
      'no_matching_allow'],
  ];
  for (const [name, method, p, tok, reason] of denials) {
    test(`denied: ${name} → 403 ${reason}, nothing forwarded, counted`, async () => {
      const seen = env.up.requests.length;
      const m0 = metricValue(await metrics(env.adminPort), 'stepgate_policy_decisions_total',
        { decision: 'deny', reason }) ?? 0;
      const r = await call(env.port, method, p, tok);
      assert.equal(statusOf(r), 403, r.text);
      const b = bodyOf(r);
      assert.equal(b.error, 'forbidden');
      assert.equal(b.reason, reason);
      assert.equal(b.status, 403);
      assert.match(b.request_id, /^[0-9a-f]{32}$/);
      assert.equal(b.rules, undefined, 'rule ids are not revealed by default');
      assert.equal(env.up.requests.length, seen);
      const m1 = metricValue(await metrics(env.adminPort), 'stepgate_policy_decisions_total',
        { decision: 'deny', reason });
      assert.equal(m1, m0 + 1);
    });
  }

  test('authentication still comes first: no token → 401', async () => {
    const r = await call(env.port, 'POST', '/api/workflow/payments');
    assert.equal(statusOf(r), 401);
  });

  test('shadow mode: does not block, counts the disagreement', async () => {
    const d0 = metricValue(await metrics(env.adminPort),
      'stepgate_policy_shadow_disagreements_total') ?? 0;
    const r = await call(env.port, 'POST', '/api/workflow/refunds', ALICE);
    assert.equal(statusOf(r), 200, r.text);
    const m = await metrics(env.adminPort);
    assert.equal(metricValue(m, 'stepgate_policy_shadow_disagreements_total'), d0 + 1);
  });

  test('/readyz and metrics show the policy version', async () => {
    const v = versionOf(await readyBody(env.adminPort));
    assert.match(v, /^[0-9a-f]{16}$/);
    const m = await metrics(env.adminPort);
    assert.equal(metricValue(m, 'stepgate_policy_version_info', { version: v }), 1);
    assert.equal(metricValue(m, 'stepgate_policy_reload_failures_total'), 0);
  });
});

describe('policy hot reload', () => {
  let env;
  before(async () => {
    env = await startWithPolicies({ reveal: true, files: { 'payments.yaml': PAYMENTS_A } });
  });
  after(async () => {
    await env?.sg?.stop();
    await env?.up?.close();
  });

  test('reveal_rule_ids: the deciding rules are named', async () => {
    const r = await call(env.port, 'POST', '/api/workflow/payments', BOB);
    assert.equal(statusOf(r), 403);
    assert.deepEqual(bodyOf(r).rules, ['no-bob']);
    assert.equal(bodyOf(r).reason, 'denied');
  });

  test('a file replaced by rename applies without SIGHUP', async () => {
    const v0 = versionOf(await readyBody(env.adminPort));
    replaceFile(env.pdir, 'payments.yaml', PAYMENTS_B);
    await waitFor('the new version', async () => versionOf(await readyBody(env.adminPort)) !== v0);
    // Workers switch a moment after /readyz shows the new version.
    let r;
    await waitFor('the new decision', async () => {
      r = await call(env.port, 'POST', '/api/workflow/payments', ALICE);
      return statusOf(r) === 403;
    });
    assert.deepEqual(bodyOf(r).rules, ['b-freeze']);
    replaceFile(env.pdir, 'payments.yaml', PAYMENTS_A);
    await waitFor('allowed again', async () =>
      statusOf(await call(env.port, 'POST', '/api/workflow/payments', ALICE)) === 200);
  });

  test('a broken set is refused and counted; the running set stays', async () => {
    const v0 = versionOf(await readyBody(env.adminPort));
    const f0 = metricValue(await metrics(env.adminPort),
      'stepgate_policy_reload_failures_total');
    replaceFile(env.pdir, 'payments.yaml', `${PAYMENTS_A}  - id: bad\n    allow: [strat]\n`);
    await waitFor('the failure to be counted', async () => metricValue(
      await metrics(env.adminPort), 'stepgate_policy_reload_failures_total') > f0);
    assert.equal(versionOf(await readyBody(env.adminPort)), v0);
    assert.match(env.sg.stderr() + env.sg.stdout(), /payments\.yaml:\d+:\d+/);
    const r = await call(env.port, 'POST', '/api/workflow/payments', ALICE);
    assert.equal(statusOf(r), 200);
    replaceFile(env.pdir, 'payments.yaml', PAYMENTS_A);
  });

  test('100 reloads under load: no request fails, every answer matches one set', async () => {
    let stop = false;
    const answers = { a: 0, b: 0 };
    const bad = [];
    const client = (async () => {
      while (!stop) {
        let r;
        try {
          r = await call(env.port, 'POST', '/api/workflow/payments', ALICE);
        } catch (e) {
          bad.push(String(e));
          continue;
        }
        const s = statusOf(r);
        if (s === 200) {
          answers.a += 1;
        } else if (s === 403 && bodyOf(r).reason === 'denied'
          && JSON.stringify(bodyOf(r).rules) === '["b-freeze"]') {
          answers.b += 1;
        } else {
          bad.push(r.text);
        }
      }
    })();
    let version = versionOf(await readyBody(env.adminPort));
    for (let i = 0; i < 100; ++i) {
      replaceFile(env.pdir, 'payments.yaml', i % 2 === 0 ? PAYMENTS_B : PAYMENTS_A);
      const prev = version;
      await waitFor(`reload ${i + 1}`, async () => {
        version = versionOf(await readyBody(env.adminPort));
        return version !== prev;
      });
    }
    stop = true;
    await client;
    assert.deepEqual(bad, []);
    assert.ok(answers.a > 0 && answers.b > 0, JSON.stringify(answers));
  });
});

describe('policy without identity, reloaded by SIGHUP only', () => {
  let up;
  let sg;
  let port;
  let adminPort;
  let pdir;
  const OPEN = 'workflow: payments\nrules:\n  - id: anyone\n    allow: [start]\n'
    + '    who: { methods: [none] }\n';
  const CLOSED = 'workflow: payments\nrules:\n  - id: closed\n    deny: [start]\n';

  before(async () => {
    up = await startUpstream();
    const dir = makeTempDir('stepgate-policy-anon-');
    pdir = path.join(dir, 'policies');
    fs.mkdirSync(pdir);
    fs.writeFileSync(path.join(pdir, 'payments.yaml'), OPEN);
    port = await freePort();
    adminPort = await freePort();
    const file = writeConfig(dir, {
      listenPort: port, adminPort, upstreamPort: up.port,
      upstream: {
        routes: [{ method: 'POST', path: '/api/workflow/{workflow}', action: 'start',
          workflow: '{workflow}' }],
      },
      extra: { policies: 'policies', policy: { watch: false }, log: { level: 'info' } },
    });
    sg = await startStepgate(file);
  });
  after(async () => {
    await sg?.stop();
    await up?.close();
  });

  test('anonymous callers are evaluated as method none', async () => {
    assert.equal(statusOf(await call(port, 'POST', '/api/workflow/payments')), 200);
    const r = await call(port, 'POST', '/api/workflow/other');
    assert.equal(statusOf(r), 403);
    assert.equal(bodyOf(r).reason, 'no_matching_allow');
  });

  test('watch: false ignores folder changes; SIGHUP applies them', async () => {
    const v0 = versionOf(await readyBody(adminPort));
    replaceFile(pdir, 'payments.yaml', CLOSED);
    await sleep(600);
    assert.equal(versionOf(await readyBody(adminPort)), v0);
    assert.equal(statusOf(await call(port, 'POST', '/api/workflow/payments')), 200);
    sg.proc.kill('SIGHUP');
    await waitFor('the SIGHUP reload', async () =>
      versionOf(await readyBody(adminPort)) !== v0);
    let r;
    await waitFor('the new decision', async () => {
      r = await call(port, 'POST', '/api/workflow/payments');
      return statusOf(r) === 403;
    });
    assert.equal(bodyOf(r).reason, 'denied');
  });

  test('SIGHUP with a broken policy keeps the running config and counts', async () => {
    const v0 = versionOf(await readyBody(adminPort));
    const f0 = metricValue(await metrics(adminPort), 'stepgate_policy_reload_failures_total');
    replaceFile(pdir, 'payments.yaml', 'workflow: payments\nrules: []\n');
    sg.proc.kill('SIGHUP');
    await waitFor('the failure to be counted', async () => metricValue(
      await metrics(adminPort), 'stepgate_policy_reload_failures_total') > f0);
    assert.equal(versionOf(await readyBody(adminPort)), v0);
  });
});

describe('claims in policy conditions', () => {
  let env;
  const TENANTED = `workflow: tenant-*
rules:
  - id: acme-only
    allow: [start]
    who: { claims: [{claim: tenant, equals: acme}, {claim: /org/tier, in: [gold, silver]}] }
  - id: unverified-email
    deny: [start]
    who: { claims: [{claim: email_verified, equals: "false"}] }
`;
  const withClaims = (sub, extra) => {
    const t = now();
    return sign(key, { iss: ISSUER, sub, aud: AUD, iat: t, exp: t + 600, groups: [], ...extra });
  };
  before(async () => {
    env = await startWithPolicies({ reveal: true, files: { 'tenants.yaml': TENANTED } });
  });
  after(async () => {
    await env?.sg?.stop();
    await env?.up?.close();
  });

  test('the verified token\'s claims decide: member and JSON-pointer claims, any of a list',
    async () => {
      const ok = withClaims('dana', { tenant: 'acme', org: { tier: 'gold' } });
      assert.equal(statusOf(await call(env.port, 'POST', '/api/workflow/tenant-a', ok)), 200);
      const wrongTenant = withClaims('erin', { tenant: 'globex', org: { tier: 'gold' } });
      const r1 = await call(env.port, 'POST', '/api/workflow/tenant-a', wrongTenant);
      assert.equal(statusOf(r1), 403);
      assert.equal(bodyOf(r1).reason, 'no_matching_allow');
      const noTier = withClaims('fay', { tenant: 'acme' });
      assert.equal(statusOf(await call(env.port, 'POST', '/api/workflow/tenant-a', noTier)), 403);
      const unverified = withClaims('gil', { tenant: 'acme', org: { tier: 'silver' },
        email_verified: false });
      const r2 = await call(env.port, 'POST', '/api/workflow/tenant-a', unverified);
      assert.equal(statusOf(r2), 403);
      assert.equal(bodyOf(r2).reason, 'denied');
      assert.deepEqual(bodyOf(r2).rules, ['unverified-email']);
    });
});
