// `stepgate demo`: the smoke run, the dev PKI and policy folder it writes, and the demo
// serving a real client (curl over TLS with the dev CA) until SIGTERM. The demo policy
// decides per step of the Conductor order-fulfillment workflow: ops may complete
// reserve-stock but not charge-card, the payments on-call may complete charge-card and retry
// but never complete refund. Those allows and denies, seen from outside, show that the
// Conductor profile classified each call by its step (resolved by lookups against the demo
// orchestrator).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import {
  curl,
  freePort,
  httpRequest,
  makeTempDir,
  stepgateBin,
  waitForPort,
  withTimeout,
} from './lib/harness.mjs';
import { eventually, runCommand } from './lib/extras.mjs';

const tmp = makeTempDir('stepgate-demo-');
const children = new Set();
after(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

const smokeDir = path.join(tmp, 'smoke');
let smokeRun;

test('demo --smoke: every call as expected, exit 0', async () => {
  const port = await freePort();
  const adminPort = await freePort();
  smokeRun = await runCommand(stepgateBin(), ['demo', '--smoke', '--state-dir', smokeDir,
    '--port', String(port), '--admin-port', String(adminPort)], { timeoutMs: 90000 });
  const r = smokeRun;
  assert.equal(r.timedOut, false);
  const out = r.stdout;
  assert.doesNotMatch(out, /^FAIL /m, out);
  const lines = [
    /^ok +\[anonymous\] POST \/api\/workflow\/order-fulfillment -> 401$/m,
    /^ok +\[ops\] POST \/api\/workflow\/order-fulfillment -> 200$/m,
    // Step level: the same action, allowed on one step and refused on another.
    /^ok +\[ops\] POST \/api\/tasks \(reserve-stock COMPLETED\) -> 200$/m,
    /^ok +\[ops\] POST \/api\/tasks\/[0-9a-f-]{36}\/charge-card\/COMPLETED -> 403 no_matching_allow$/m,
    /^ok +\[oncall\] POST \/api\/tasks \(charge-card COMPLETED\) -> 200$/m,
    /^ok +\[oncall\] POST \/api\/tasks \(refund COMPLETED\) -> 403 denied$/m,
    /^ok +\[oncall\] POST \/api\/tasks\/[0-9a-f-]{36}\/refund\/COMPLETED -> 403 denied$/m,
    /^ok +the refund task is still SCHEDULED$/m,
    /^ok +\[ops\] POST \/api\/workflow\/[0-9a-f-]{36}\/retry -> 403 no_matching_allow$/m,
    /^ok +\[oncall\] POST \/api\/workflow\/[0-9a-f-]{36}\/retry -> 200$/m,
    /^ok +\[ops\] GET \/api\/workflow\/00000000-0000-4000-8000-000000000000 -> 403 unresolved$/m,
    /^ok +\[ops\] GET \/api\/workflow\/order-fulfillment;v=1 -> 400$/m,
    /^ok +\[ops\] GET \/api\/workflow\/[0-9a-f-]{36}%2Fpause -> 400$/m,
  ];
  // Every call above is in the audit log, which verifies.
  lines.push(/^ok +audit verify: ok: \d+ records in \d+ segments/m);
  for (const re of lines) assert.match(out, re, out);
  assert.equal((out.match(/^ok /gm) ?? []).length, 26, out);
  assert.match(out, /^demo smoke: all calls as expected$/m);
  assert.equal(r.code, 0, `${out}\n${r.stderr}`);
});

test('the demo policy folder loads without warnings and decides per step offline', async () => {
  assert.ok(smokeRun, 'the smoke run ran');
  const dir = path.join(smokeDir, 'policies');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['all-workflows.yaml', 'order-fulfillment.yaml']);
  const check = await runCommand(stepgateBin(), ['policy', 'check', dir, '--strict']);
  assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  const explain = async (groups, action, step) => {
    const r = await runCommand(stepgateBin(), ['policy', 'explain', dir, '--subject', 'u',
      '--groups', groups, '--upstream', 'conductor', '--workflow', 'order-fulfillment',
      '--action', action, ...(step ? ['--step', step] : [])]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.match(/^decision: .*$/m)?.[0] ?? r.stdout;
  };
  assert.match(await explain('payments-oncall', 'complete-step', 'charge-card'),
    /^decision: allow .*oncall-charge-card/);
  assert.match(await explain('payments-oncall', 'complete-step', 'refund'),
    /^decision: deny \(denied\) by \[oncall-never-refund\]/);
  assert.match(await explain('ops', 'complete-step', 'charge-card'),
    /^decision: deny \(no_matching_allow\)/);
  assert.match(await explain('ops', 'complete-step', 'reserve-stock'),
    /^decision: allow .*ops-warehouse-steps/);
});

test('the dev PKI written by the demo: the CA verifies the server and client certificates',
  async () => {
    assert.ok(smokeRun, 'the smoke run ran');
    assert.equal(smokeRun.timedOut, false);
    assert.match(smokeRun.stdout, /stepgate demo is running/);
    const pki = path.join(smokeDir, 'pki');
    for (const f of ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key']) {
      assert.ok(fs.existsSync(path.join(pki, f)), `${f} written`);
    }
    const v = await runCommand('openssl', ['verify', '-CAfile', path.join(pki, 'ca.pem'),
      path.join(pki, 'server.pem')]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /server\.pem: OK/);
    const vc = await runCommand('openssl', ['verify', '-CAfile', path.join(pki, 'ca.pem'),
      '-purpose', 'sslclient', path.join(pki, 'client.pem')]);
    assert.equal(vc.code, 0, vc.stderr);
    // Something that is not the CA does not verify it.
    const other = await runCommand('openssl', ['verify', '-CAfile', path.join(pki, 'client.pem'),
      path.join(pki, 'server.pem')]);
    assert.notEqual(other.code, 0);

    // The config the demo wrote is valid on its own.
    const check = await runCommand(stepgateBin(), ['check', '-c',
      path.join(smokeDir, 'stepgate.yaml')]);
    assert.equal(check.code, 0, check.stderr);
  });

test('demo in the background serves a curl POST over TLS and stops on SIGTERM with exit 0',
  async () => {
    const dir = path.join(tmp, 'serve');
    const port = await freePort();
    const adminPort = await freePort();
    const child = spawn(stepgateBin(), ['demo', '--state-dir', dir, '--port', String(port),
      '--admin-port', String(adminPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
    let alive = true;
    exited.then(() => { alive = false; });

    assert.ok(await waitForPort(port, { timeoutMs: 30000, isAlive: () => alive }),
      `demo listening; stdout:\n${out}\nstderr:\n${err}`);
    assert.ok(await eventually(() => out.includes('stepgate demo is running'), { timeoutMs: 5000 }),
      out);
    const ca = path.join(dir, 'pki', 'ca.pem');
    const base = `https://127.0.0.1:${port}`;

    // Without a token the demo refuses; `stepgate token mint` issues one.
    const anonymous = await curl(['-sS', '--max-time', '10', '--cacert', ca, '-o', '/dev/null',
      '-w', '%{http_code}', `${base}/api/workflow/order-fulfillment`]);
    assert.equal(anonymous.stdout, '401');
    const minted = await runCommand(stepgateBin(), ['token', 'mint', '--state-dir', dir,
      '--sub', 'alice', '--groups', 'ops,payments-oncall']);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    // The token verifies with node:crypto against the JWKS the demo published: the
    // development issuer is checked independently of stepgate's own verifier.
    const [h64, p64, s64] = token.split('.');
    const header = JSON.parse(Buffer.from(h64, 'base64url'));
    const claims = JSON.parse(Buffer.from(p64, 'base64url'));
    const jwk = JSON.parse(fs.readFileSync(path.join(dir, 'issuer', 'jwks.json'), 'utf8')).keys
      .find((k) => k.kid === header.kid);
    assert.ok(jwk, 'the token names a key of the published JWKS');
    assert.equal(header.alg, 'ES256');
    assert.ok(crypto.verify('sha256', Buffer.from(`${h64}.${p64}`),
      { key: crypto.createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
      Buffer.from(s64, 'base64url')), 'ES256 signature verifies');
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.groups, ['ops', 'payments-oncall']);
    const auth = ['-H', `Authorization: Bearer ${token}`];

    const start = await curl(['-sS', '--max-time', '10', '--cacert', ca, ...auth, '-X', 'POST',
      `${base}/api/workflow/order-fulfillment`, '-H', 'Content-Type: application/json',
      '-d', '{"orderId":"o-1"}', '-w', '\n%{http_code}']);
    assert.equal(start.code, 0, start.stderr);
    const [id, status] = start.stdout.split('\n');
    assert.equal(status, '200', start.stdout);
    assert.match(id, /^[A-Za-z0-9-]{8,}$/, `a workflow id: ${start.stdout}`);

    const get = await curl(['-sS', '--max-time', '10', '--cacert', ca, ...auth,
      `${base}/api/workflow/${id}`, '-w', '\n%{http_code}']);
    assert.equal(get.code, 0, get.stderr);
    const lines = get.stdout.split('\n');
    assert.equal(lines.pop(), '200');
    const wf = JSON.parse(lines.join('\n'));
    assert.equal(wf.workflowId, id);
    assert.equal(wf.workflowName, 'order-fulfillment');

    // Refused by path normalisation, as the demo advertises.
    const refused = await curl(['-sS', '--max-time', '10', '--cacert', ca, ...auth, '-o', '/dev/null',
      '-w', '%{http_code}', `${base}/api/workflow/order-fulfillment;v=1`]);
    assert.equal(refused.stdout, '400');

    // The commands the demo prints run as printed (bash, curl) and give the allows and
    // denies their comments announce.
    const printed = out.split('\n');
    const from = printed.findIndex((l) => l.startsWith('Two users'));
    const to = printed.findIndex((l) => l.startsWith('Refused before any policy'));
    assert.ok(from >= 0 && to > from, out);
    const script = printed.slice(from + 1, to).filter((l) => /^ {2}(export |WF=|TASK=|curl )/.test(l))
      .join('\n');
    assert.match(script, /^ {2}export OPS=\S+ /m);
    const ran = await runCommand('bash', ['-euc', script], { timeoutMs: 60000 });
    assert.equal(ran.code, 0, `${script}\n${ran.stdout}\n${ran.stderr}`);
    const refusals = (ran.stdout.match(/\{"error":"forbidden"[^{}]*\}/g) ?? []).map((b) => JSON.parse(b));
    assert.deepEqual(refusals.map((b) => [b.reason, b.rules]), [
      ['no_matching_allow', []],
      ['denied', ['oncall-never-refund']],
      ['no_matching_allow', []],
    ], ran.stdout);

    // What the orchestrator did, read back through stepgate as ops.
    const mint = async (sub, groups) => {
      const m = await runCommand(stepgateBin(), ['token', 'mint', '--state-dir', dir, '--sub', sub,
        '--groups', groups]);
      assert.equal(m.code, 0, m.stderr);
      return m.stdout.trim();
    };
    const ops = await mint('olga', 'ops');
    const oncall = await mint('oscar', 'payments-oncall');
    const call = async (token, method, p, body) => {
      const r = await curl(['-sS', '--max-time', '10', '--cacert', ca, '-H',
        `Authorization: Bearer ${token}`, '-X', method, `${base}${p}`,
        ...(body === undefined ? [] : ['-H', 'Content-Type: application/json', '-d', body]),
        '-w', '\n%{http_code}']);
      assert.equal(r.code, 0, r.stderr);
      const at = r.stdout.lastIndexOf('\n');
      return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
    };
    const firstWf = ran.stdout.split('\n')[0].trim();
    assert.match(firstWf, /^[0-9a-f-]{36}$/, ran.stdout);
    let r = await call(ops, 'GET', `/api/workflow/${firstWf}`);
    assert.equal(r.status, 200, r.body);
    let run = JSON.parse(r.body);
    assert.equal(run.status, 'TERMINATED');
    assert.deepEqual(run.tasks.map((t) => [t.referenceTaskName, t.status]), [
      ['reserve-stock', 'COMPLETED'], ['charge-card', 'COMPLETED'], ['ship', 'FAILED'],
      ['refund', 'CANCELED'],
    ]);
    r = await call(ops, 'GET', '/api/workflow/running/order-fulfillment');
    assert.equal(r.status, 200, r.body);
    const running = JSON.parse(r.body);
    assert.ok(running.includes(id), r.body);
    const retried = running.filter((x) => x !== id);
    assert.equal(retried.length, 1, r.body);
    run = JSON.parse((await call(ops, 'GET', `/api/workflow/${retried[0]}`)).body);
    assert.equal(run.input.orderId, 'o-2');
    assert.deepEqual(run.tasks.map((t) => [t.referenceTaskName, t.status, t.retryCount]), [
      ['reserve-stock', 'COMPLETED', 0], ['charge-card', 'FAILED', 0],
      ['charge-card', 'SCHEDULED', 1],
    ]);
    // Calls not in the printed walk: skiptask (path step) and rerun (step of the body's task).
    r = await call(oncall, 'PUT', `/api/workflow/${retried[0]}/skiptask/refund`);
    assert.equal(r.status, 403, r.body);
    assert.equal(JSON.parse(r.body).reason, 'denied');
    r = await call(ops, 'PUT', `/api/workflow/${retried[0]}/skiptask/charge-card`);
    assert.equal(r.status, 403, r.body);
    assert.equal(JSON.parse(r.body).reason, 'no_matching_allow');
    r = await call(ops, 'PUT', `/api/workflow/${retried[0]}/skiptask/ship`);
    assert.equal(r.status, 200, r.body);
    const charge = run.tasks[2].taskId;
    r = await call(ops, 'DELETE', `/api/workflow/${retried[0]}`);
    assert.equal(r.status, 200, r.body);
    r = await call(ops, 'POST', `/api/workflow/${retried[0]}/rerun`,
      JSON.stringify({ reRunFromTaskId: charge }));
    assert.equal(r.status, 403, r.body);
    r = await call(oncall, 'POST', `/api/workflow/${retried[0]}/rerun`,
      JSON.stringify({ reRunFromTaskId: run.tasks[0].taskId }));
    assert.equal(r.status, 403, r.body);  // rerun from reserve-stock: not the on-call's step
    r = await call(oncall, 'POST', `/api/workflow/${retried[0]}/rerun`,
      JSON.stringify({ reRunFromTaskId: charge }));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, retried[0]);
    run = JSON.parse((await call(oncall, 'GET', `/api/workflow/${retried[0]}`)).body);
    assert.equal(run.status, 'RUNNING');
    assert.deepEqual(run.tasks.map((t) => [t.referenceTaskName, t.status]), [
      ['reserve-stock', 'COMPLETED'], ['charge-card', 'FAILED'], ['charge-card', 'SCHEDULED'],
    ]);
    // A task id the orchestrator does not know: unresolved, never forwarded.
    r = await call(oncall, 'POST', '/api/tasks', JSON.stringify({ workflowInstanceId: retried[0],
      taskId: '00000000-0000-4000-8000-000000000000', status: 'COMPLETED' }));
    assert.equal(r.status, 403, r.body);
    assert.equal(JSON.parse(r.body).reason, 'unresolved');
    // A task of one run named with another run's id: unclassified.
    r = await call(oncall, 'POST', '/api/tasks', JSON.stringify({ workflowInstanceId: firstWf,
      taskId: run.tasks[2].taskId, status: 'COMPLETED' }));
    assert.equal(r.status, 403, r.body);
    assert.equal(JSON.parse(r.body).reason, 'unclassified');

    const health = await httpRequest(adminPort, { path: '/healthz' });
    assert.equal(health.status, 200);

    child.kill('SIGTERM');
    const code = await withTimeout(exited, 15000, 'demo exit after SIGTERM');
    assert.equal(code, 0, `stderr:\n${err}`);
  });
