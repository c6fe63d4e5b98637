// `stepgate demo`: the smoke run, the dev PKI it writes, and the demo serving a real client
// (curl over TLS with the dev CA) until SIGTERM.

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
  assert.match(r.stdout, /^ok +POST \/api\/workflow\/order-fulfillment -> 200$/m);
  assert.doesNotMatch(r.stdout, /FAIL/, r.stdout);
  assert.match(r.stdout, /^demo smoke: all calls as expected$/m);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
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

    const health = await httpRequest(adminPort, { path: '/healthz' });
    assert.equal(health.status, 200);

    child.kill('SIGTERM');
    const code = await withTimeout(exited, 15000, 'demo exit after SIGTERM');
    assert.equal(code, 0, `stderr:\n${err}`);
  });
