// The orchestrators' own client SDKs through stepgate.
//
// Step Functions: @aws-sdk/client-sfn's SFNClient, pointed at stepgate's TLS listener, signs
// with dummy caller credentials (which stepgate cannot and does not check) and authenticates
// to stepgate with a client certificate (the mtls provider: SigV4 takes the Authorization
// header, so a bearer token cannot ride along). stepgate classifies each call from its
// X-Amz-Target and body, decides it by policy, drops the caller's signature fields and signs
// the forwarded request with its own credentials; the test recomputes that signature with
// @smithy/signature-v4 from what the fake upstream received.
//
// Conductor: @io-orkes/conductor-javascript with serverUrl = stepgate and a custom fetch that
// adds the caller's bearer token (the SDK only authenticates with keyId/keySecret against
// Orkes' /api/token, which OSS Conductor does not have) and records the bytes it sends.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

import {
  SFNClient, StartExecutionCommand, DescribeExecutionCommand, StopExecutionCommand,
  GetActivityTaskCommand, SendTaskSuccessCommand,
} from '@aws-sdk/client-sfn';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { createConductorClient, WorkflowExecutor } from '@io-orkes/conductor-javascript';

import {
  writeConfig, startStepgate, freePort, makeTempDir, metrics, metricValue, devPki, rawRequest,
  parseResponses, waitForPort,
} from './lib/harness.mjs';
import { makeKey, jwks, sign, now } from './lib/jwt.mjs';
import { startFakeStepFunctions, startFakeConductor, SFN_ACCOUNT } from './lib/fake_orchestrators.mjs';

const REGION = 'us-east-1';
const STEPGATE_AKID = 'AKIDSTEPGATE0000TEST';
const STEPGATE_SECRET = 'stepgate/secret+key0000000000000000000000';
const CLIENT_SUBJECT = 'spiffe://stepgate.test/test-client';
const smArn = (name) => `arn:aws:states:${REGION}:${SFN_ACCOUNT}:stateMachine:${name}`;
const execArn = (name, id) => `arn:aws:states:${REGION}:${SFN_ACCOUNT}:execution:${name}:${id}`;
const activityArn = (name) => `arn:aws:states:${REGION}:${SFN_ACCOUNT}:activity:${name}`;

const SFN_POLICY_ORDERS = `workflow: orders
upstream: backend
rules:
  - id: orders-run
    allow: [start, read, stop]
    who: { subjects: ["${CLIENT_SUBJECT}"] }
`;
const SFN_POLICY_PAYROLL = `workflow: payroll
upstream: backend
rules:
  - id: payroll-read
    allow: [read]
    who: { subjects: ["${CLIENT_SUBJECT}"] }
  - id: payroll-no-start
    deny: [start]
`;
const SFN_POLICY_WORKERS = `workflow: "*"
upstream: backend
rules:
  - id: approval-workers
    allow: [work, complete-step, fail-step]
    steps: [approve-order]
    who: { subjects: ["${CLIENT_SUBJECT}"] }
`;

// Headers as a lowercase-name -> [values] map from node's rawHeaders.
function headerValues(rawHeaders, name) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name) out.push(rawHeaders[i + 1]);
  }
  return out;
}

// '20240102T030405Z' -> Date
function amzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  assert.ok(m, `X-Amz-Date ${s}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

// Recomputes, with the AWS SDK's signer, the Authorization stepgate should have sent for the
// request the upstream received (`rec`), and compares it.
async function assertSignedByStepgate(rec, upstreamHost) {
  const auths = headerValues(rec.rawHeaders, 'authorization');
  assert.equal(auths.length, 1, 'one Authorization upstream');
  const dates = headerValues(rec.rawHeaders, 'x-amz-date');
  assert.equal(dates.length, 1, 'one X-Amz-Date upstream');
  assert.equal(headerValues(rec.rawHeaders, 'x-amz-security-token').length, 0);
  assert.equal(headerValues(rec.rawHeaders, 'x-amz-content-sha256').length, 0);
  assert.equal(rec.headers.host, upstreamHost);
  const signer = new SignatureV4({
    credentials: { accessKeyId: STEPGATE_AKID, secretAccessKey: STEPGATE_SECRET },
    region: REGION, service: 'states', sha256: Sha256, applyChecksum: false,
  });
  const signed = await signer.sign({
    method: rec.method,
    protocol: 'http:',
    hostname: upstreamHost.split(':')[0],
    port: Number(upstreamHost.split(':')[1]),
    path: rec.path,
    query: {},
    headers: {
      host: rec.headers.host,
      'content-type': rec.headers['content-type'],
      'x-amz-target': rec.headers['x-amz-target'],
    },
    body: rec.body,
  }, { signingDate: amzDate(dates[0]) });
  assert.equal(auths[0], signed.headers.authorization,
    'stepgate\'s signature equals the one @smithy/signature-v4 computes');
  assert.match(auths[0], new RegExp(`^AWS4-HMAC-SHA256 Credential=${STEPGATE_AKID}/\\d{8}/`
    + `${REGION}/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, `
    + 'Signature=[0-9a-f]{64}$'));
}

describe('Step Functions through stepgate with @aws-sdk/client-sfn', () => {
  let fake;
  let sg;
  let port;
  let adminPort;
  let pki;
  let dir;
  let sent;  // what the SDK sent (after its own signing), call by call
  let client;

  before(async () => {
    fake = await startFakeStepFunctions({ region: REGION });
    dir = makeTempDir('stepgate-sfn-sdk-');
    pki = await devPki(path.join(dir, 'pki'));
    const secrets = fs.mkdtempSync(path.join(dir, 'secrets-'));
    const secretFile = path.join(secrets, 'aws-secret');
    fs.writeFileSync(secretFile, `${STEPGATE_SECRET}\n`, { mode: 0o600 });
    fs.mkdirSync(path.join(dir, 'policies'));
    fs.writeFileSync(path.join(dir, 'policies', 'orders.yaml'), SFN_POLICY_ORDERS);
    fs.writeFileSync(path.join(dir, 'policies', 'payroll.yaml'), SFN_POLICY_PAYROLL);
    fs.writeFileSync(path.join(dir, 'policies', 'workers.yaml'), SFN_POLICY_WORKERS);
    port = await freePort();
    adminPort = await freePort();
    const file = writeConfig(dir, {
      listenPort: port, adminPort, upstreamPort: fake.port,
      tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert,
        clientAuth: 'optional' },
      upstream: {
        profile: 'step-functions',
        max_inspected_body: '8KiB',
        aws: { region: REGION, access_key_id: STEPGATE_AKID, secret_access_key_file: secretFile },
      },
      extra: {
        identity: { providers: [{ name: 'workloads', type: 'mtls',
          certificate_subject: 'san_uri' }] },
        policies: 'policies',
        log: { level: 'info' },
      },
    });
    sg = await startStepgate(file);
    assert.ok(await waitForPort(adminPort, { timeoutMs: 10000 }));

    sent = [];
    client = new SFNClient({
      region: REGION,
      endpoint: `https://localhost:${port}`,
      credentials: { accessKeyId: 'AKIDCALLERDUMMY', secretAccessKey: 'caller-dummy-secret',
        sessionToken: 'caller-dummy-session' },
      maxAttempts: 1,
      requestHandler: {
        httpsAgent: new https.Agent({ ca: fs.readFileSync(pki.caCert),
          cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey),
          keepAlive: false }),
      },
    });
    // Innermost: sees the request as signed by the SDK, and the raw response status.
    client.middlewareStack.add((next) => async (args) => {
      const entry = { headers: { ...args.request.headers },
        body: Buffer.from(args.request.body ?? '') };
      sent.push(entry);
      const out = await next(args);
      entry.status = out.response.statusCode;
      return out;
    }, { step: 'deserialize', priority: 'low', name: 'recordWire' });
  });
  after(async () => {
    client?.destroy();
    const code = await sg?.stop();
    await fake?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `stepgate exit; stderr:\n${sg?.stderr().slice(-4000)}`);
  });

  const upstreamHost = () => `127.0.0.1:${fake.port}`;

  // Runs `cmd`; returns {out} or {err} with the SDK's error.
  async function run(cmd) {
    try {
      return { out: await client.send(cmd) };
    } catch (err) {
      return { err };
    }
  }
  function assertForbidden(r, reason) {
    assert.ok(r.err, 'the SDK call failed');
    assert.equal(r.err.$metadata?.httpStatusCode, 403, String(r.err));
    if (reason) assert.equal(r.err.reason, reason, JSON.stringify(r.err));
  }

  test('StartExecution: allowed on A is forwarded and re-signed; denied on B is 403', async () => {
    const n0 = fake.requests.length;
    const ok = await run(new StartExecutionCommand({ stateMachineArn: smArn('orders'),
      name: 'run-1', input: '{"order":1}' }));
    assert.ok(ok.out, String(ok.err));
    assert.equal(ok.out.executionArn, execArn('orders', 'run-1'));
    assert.equal(fake.requests.length, n0 + 1);
    const rec = fake.requests.at(-1);
    const mine = sent.at(-1);
    // Exactly the SDK's body bytes, target and content type.
    assert.ok(rec.bodyBytes.equals(mine.body), 'the body bytes are the SDK\'s');
    assert.equal(rec.headers['x-amz-target'], 'AWSStepFunctions.StartExecution');
    assert.equal(rec.headers['x-amz-target'], mine.headers['x-amz-target']);
    assert.equal(rec.headers['content-type'], mine.headers['content-type']);
    assert.equal(Number(rec.headers['content-length']), mine.body.length);
    // The SDK's own signature fields did not reach the upstream.
    assert.match(mine.headers.authorization, /Credential=AKIDCALLERDUMMY\//);
    assert.equal(mine.headers['x-amz-security-token'], 'caller-dummy-session');
    assert.match(mine.headers['x-amz-date'], /^\d{8}T\d{6}Z$/);
    assert.ok(!headerValues(rec.rawHeaders, 'authorization').includes(mine.headers.authorization));
    assert.ok(!JSON.stringify(rec.rawHeaders).includes('AKIDCALLERDUMMY'));
    assert.ok(!JSON.stringify(rec.rawHeaders).includes('caller-dummy-session'));
    await assertSignedByStepgate(rec, upstreamHost());

    const denied = await run(new StartExecutionCommand({ stateMachineArn: smArn('payroll'),
      input: '{}' }));
    assertForbidden(denied, 'denied');
    assert.equal(fake.requests.length, n0 + 1, 'the denied start was not forwarded');
    const none = await run(new StartExecutionCommand({ stateMachineArn: smArn('invoices'),
      input: '{}' }));
    assertForbidden(none, 'no_matching_allow');
    assert.equal(fake.requests.length, n0 + 1);
  });

  test('DescribeExecution is read and StopExecution is stop, on the execution\'s machine',
    async () => {
      const a = execArn('orders', 'run-1');
      const d = await run(new DescribeExecutionCommand({ executionArn: a }));
      assert.ok(d.out, String(d.err));
      assert.equal(d.out.stateMachineArn, smArn('orders'));
      await assertSignedByStepgate(fake.requests.at(-1), upstreamHost());
      const s = await run(new StopExecutionCommand({ executionArn: a, cause: 'test' }));
      assert.ok(s.out, String(s.err));
      assert.equal(fake.requests.at(-1).headers['x-amz-target'], 'AWSStepFunctions.StopExecution');
      // payroll allows read but not stop.
      const b = execArn('payroll', 'run-9');
      const db = await run(new DescribeExecutionCommand({ executionArn: b }));
      assert.ok(db.out, String(db.err));
      const n = fake.requests.length;
      assertForbidden(await run(new StopExecutionCommand({ executionArn: b })),
        'no_matching_allow');
      assert.equal(fake.requests.length, n);
    });

  test('an unknown task token is 403 unresolved and not forwarded', async () => {
    const token = `AAAA${crypto.randomBytes(48).toString('base64')}`;
    const n0 = fake.requests.length;
    assertForbidden(await run(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
      'unresolved');
    assert.equal(fake.requests.length, n0);
  });

  // GetActivityTask hands out a token; stepgate learns it (its hash) with the activity as the
  // step, so SendTaskSuccess with that token is decided by the rule on the activity. AWS
  // answers with a Content-Length; the chunked variant isolates the framing.
  for (const framing of ['content-length', 'chunked']) {
    test(`a token learnt from GetActivityTask (answer framed by ${framing}) resolves to the `
      + 'activity\'s step', async () => {
      fake.setFraming(framing);
      try {
        const token = `${framing}-${crypto.randomBytes(48).toString('base64')}`;
        fake.queueTaskToken(token);
        const got = await run(new GetActivityTaskCommand({
          activityArn: activityArn('approve-order'), workerName: 'w1' }));
        assert.ok(got.out, String(got.err));
        assert.equal(got.out.taskToken, token);
        const ok = await run(new SendTaskSuccessCommand({ taskToken: token,
          output: '{"ok":1}' }));
        assert.ok(ok.out, `SendTaskSuccess with a learnt token: ${ok.err} `
          + `${ok.err?.$metadata?.httpStatusCode} reason=${ok.err?.reason}`);
        const rec = fake.requests.at(-1);
        assert.equal(rec.headers['x-amz-target'], 'AWSStepFunctions.SendTaskSuccess');
        assert.ok(rec.bodyBytes.equals(sent.at(-1).body));
        await assertSignedByStepgate(rec, upstreamHost());

        // Another activity: GetActivityTask itself needs `work` on that activity, which no
        // rule allows; it never reaches the orchestrator.
        const before = fake.requests.length;
        assertForbidden(await run(new GetActivityTaskCommand({
          activityArn: activityArn('ship-order') })), 'no_matching_allow');
        assert.equal(fake.requests.length, before);
      } finally {
        fake.setFraming('content-length');
      }
    });
  }

  test('a body over max_inspected_body is 413 and not forwarded', async () => {
    const n0 = fake.requests.length;
    const r = await run(new StartExecutionCommand({ stateMachineArn: smArn('orders'),
      input: JSON.stringify({ blob: 'x'.repeat(9000) }) }));
    assert.ok(r.err);
    assert.equal(r.err.$metadata?.httpStatusCode, 413, String(r.err));
    assert.equal(fake.requests.length, n0);
  });

  test('a chunked body is forwarded de-chunked with Content-Length and a valid signature',
    async () => {
      const body = JSON.stringify({ stateMachineArn: smArn('orders'), name: 'chunked-1',
        input: '{"n":2}' });
      const parts = [body.slice(0, 17), body.slice(17, 40), body.slice(40)];
      const chunked = parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`)
        .join('') + '0\r\n\r\n';
      const head = 'POST / HTTP/1.1\r\nHost: localhost\r\n'
        + 'Content-Type: application/x-amz-json-1.0\r\n'
        + 'X-Amz-Target: AWSStepFunctions.StartExecution\r\n'
        + 'X-Amz-Date: 20200101T000000Z\r\n'
        + 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDCALLERDUMMY/20200101/us-east-1/'
        + 'states/aws4_request, SignedHeaders=host, Signature=00\r\n'
        + 'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
      const n0 = fake.requests.length;
      const r = await rawRequest(port, [head, chunked], { timeoutMs: 10000, tls: {
        cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey) } });
      const [res] = parseResponses(r.data);
      assert.equal(res?.status, 200, r.text);
      assert.equal(fake.requests.length, n0 + 1);
      const rec = fake.requests.at(-1);
      assert.equal(rec.body, body);
      assert.equal(rec.headers['content-length'], String(Buffer.byteLength(body)));
      assert.equal(rec.headers['transfer-encoding'], undefined);
      assert.equal(headerValues(rec.rawHeaders, 'x-amz-date').includes('20200101T000000Z'), false);
      await assertSignedByStepgate(rec, upstreamHost());
    });

  test('metrics: bodies inspected and too large are counted', async () => {
    const m = await metrics(adminPort);
    assert.ok((metricValue(m, 'stepgate_bodies_inspected_total') ?? 0) >= 5);
    assert.ok((metricValue(m, 'stepgate_bodies_too_large_total') ?? 0) >= 1);
  });
});

// ---- Conductor ----------------------------------------------------------------------------

const ISSUER = 'https://issuer.stepgate.test';
const AUD = 'workflow-api';
const jwtKey = makeKey('ES256', 'sdk-k1');
function bearer(sub, groups) {
  const t = now();
  return sign(jwtKey, { iss: ISSUER, sub, aud: AUD, iat: t, exp: t + 3600, groups });
}
const W = 'order-fulfillment';
const V = 'vendor-payouts';
const COND_POLICY_W = `workflow: ${W}
upstream: backend
rules:
  - id: of-run
    allow: [start, read, pause, resume]
    who: { groups: [ops] }
  - id: of-charge
    allow: [complete-step]
    steps: [charge-card]
    who: { groups: [ops] }
`;
const COND_POLICY_V = `workflow: ${V}
upstream: backend
rules:
  - id: vp-finance
    allow: [read, pause, resume]
    who: { groups: [finance] }
`;
const LOOKUP_AUTH = 'Bearer stepgate-lookup-7d1c';

// A fetch for the SDK that adds the caller's bearer token and records each exchange:
// {method, url, body (Buffer: the bytes the SDK sent), status, text}.
function recordingFetch(token, log) {
  return async (input, init) => {
    const req = new Request(input, init);
    const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
    const headers = new Headers(req.headers);
    headers.set('authorization', `Bearer ${token}`);
    const res = await fetch(req.url, { method: req.method, headers, body });
    const text = await res.clone().text();
    log.push({ method: req.method, url: new URL(req.url), body: body ?? Buffer.alloc(0),
      status: res.status, text });
    return res;
  };
}

describe('Conductor through stepgate with @io-orkes/conductor-javascript', () => {
  let fake;
  let sg;
  let dir;
  let port;
  const aliceLog = [];
  const bobLog = [];
  let alice;  // {client, wf: WorkflowExecutor}
  let bob;

  before(async () => {
    fake = await startFakeConductor();
    dir = makeTempDir('stepgate-cond-sdk-');
    fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(jwtKey));
    fs.writeFileSync(path.join(dir, 'lookup-auth'), `${LOOKUP_AUTH}\n`, { mode: 0o600 });
    fs.mkdirSync(path.join(dir, 'policies'));
    fs.writeFileSync(path.join(dir, 'policies', 'w.yaml'), COND_POLICY_W);
    fs.writeFileSync(path.join(dir, 'policies', 'v.yaml'), COND_POLICY_V);
    port = await freePort();
    const file = writeConfig(dir, {
      listenPort: port, upstreamPort: fake.port,
      upstream: { profile: 'conductor', lookup: { authorization_file: 'lookup-auth' } },
      extra: {
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
    sg = await startStepgate(file);
    const make = async (token, log) => {
      const client = await createConductorClient({ serverUrl: `http://127.0.0.1:${port}` },
        recordingFetch(token, log));
      return { client, wf: new WorkflowExecutor(client) };
    };
    alice = await make(bearer('alice', ['ops']), aliceLog);
    bob = await make(bearer('bob', ['ops', 'finance']), bobLog);
  });
  after(async () => {
    const code = await sg?.stop();
    await fake?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `stepgate exit; stderr:\n${sg?.stderr().slice(-4000)}`);
  });

  // Runs an SDK call; returns the last exchange of `log` (the call's), and the error if any.
  async function call(log, fn) {
    const n = log.length;
    let err;
    let value;
    try {
      value = await fn();
    } catch (e) {
      err = e;
    }
    assert.equal(log.length, n + 1, 'one HTTP exchange per SDK call');
    return { ex: log.at(-1), err, value };
  }
  function assertForbidden(r, reason) {
    assert.ok(r.err, 'the SDK call failed');
    assert.equal(r.ex.status, 403, r.ex.text);
    assert.equal(JSON.parse(r.ex.text).reason, reason, r.ex.text);
  }
  // The last request the fake received is the SDK's, byte for byte.
  function assertForwardedUnchanged(ex) {
    const rec = fake.requests.at(-1);
    assert.equal(rec.method, ex.method);
    assert.equal(rec.url, ex.url.pathname + ex.url.search);
    assert.ok(rec.bodyBytes.equals(ex.body), 'the upstream received the SDK\'s body bytes');
  }

  let idW;
  let idV;

  test('start: allowed for W, denied for V', async () => {
    const r = await call(aliceLog, () => alice.wf.startWorkflowByName(W, { amount: 10 }));
    assert.equal(r.err, undefined, r.ex.text);
    assert.equal(r.ex.status, 200);
    idW = r.value;
    assert.equal(fake.workflows.get(idW)?.name, W);
    assertForwardedUnchanged(r.ex);

    const n = fake.requests.length;
    const d = await call(aliceLog, () => alice.wf.startWorkflowByName(V, { amount: 10 }));
    assertForbidden(d, 'no_matching_allow');
    assert.equal(fake.requests.length, n, 'not forwarded');

    // StartWorkflowRequest form too.
    const r2 = await call(aliceLog, () => alice.wf.startWorkflow({ name: W, version: 1,
      input: { amount: 5 } }));
    assert.equal(r2.ex.status, 200, r2.ex.text);
    assertForwardedUnchanged(r2.ex);
    const d2 = await call(aliceLog, () => alice.wf.startWorkflow({ name: V, input: {} }));
    assertForbidden(d2, 'no_matching_allow');
  });

  // Conductor (Spring) answers a start with a text/plain id and a Content-Length; the
  // chunked variant isolates the framing.
  for (const framing of ['content-length', 'chunked']) {
    test(`an id stepgate saw started (answer framed by ${framing}) needs no lookup`,
      async () => {
        fake.setFraming(framing);
        let id;
        try {
          const r = await call(aliceLog, () => alice.wf.startWorkflowByName(W, { n: 1 }));
          assert.equal(r.ex.status, 200, r.ex.text);
          id = r.value;
        } finally {
          fake.setFraming('content-length');
        }
        const p = await call(aliceLog, () => alice.wf.pause(id));
        assert.equal(p.ex.status, 200, p.ex.text);
        assertForwardedUnchanged(p.ex);
        const q = await call(aliceLog, () => alice.wf.resume(id));
        assert.equal(q.ex.status, 200, q.ex.text);
        assert.equal(fake.lookupCount(id), 0, 'no GET /api/workflow/{id} for a learnt id');
      });
  }

  test('an id started elsewhere is looked up once, with stepgate\'s credential', async () => {
    idV = fake.addWorkflow(V);
    const d = await call(aliceLog, () => alice.wf.pause(idV));
    assertForbidden(d, 'no_matching_allow');
    assert.equal(fake.lookupCount(idV), 1);
    assert.equal(fake.lookupRequests(idV)[0].headers.authorization, LOOKUP_AUTH);
    const d2 = await call(aliceLog, () => alice.wf.resume(idV));
    assertForbidden(d2, 'no_matching_allow');
    assert.equal(fake.lookupCount(idV), 1, 'cached');
  });

  test('task updates: charge-card allowed, refund denied, mismatched workflow unclassified',
    async () => {
      const wfId = fake.addWorkflow(W);
      const charge = fake.addTask({ workflowInstanceId: wfId, workflowType: W,
        referenceTaskName: 'charge-card' });
      const refund = fake.addTask({ workflowInstanceId: wfId, workflowType: W,
        referenceTaskName: 'refund' });
      const ok = await call(aliceLog,
        () => alice.wf.updateTask(charge, wfId, 'COMPLETED', { charged: true }));
      assert.equal(ok.ex.status, 200, ok.ex.text);
      assertForwardedUnchanged(ok.ex);
      const body = JSON.parse(ok.ex.body);
      assert.equal(body.taskId, charge);
      assert.equal(body.workflowInstanceId, wfId);
      assert.equal(fake.lookupCount(charge), 1);

      const n = fake.requests.filter((q) => q.method === 'POST').length;
      assertForbidden(await call(aliceLog, () => alice.wf.updateTask(refund, wfId, 'COMPLETED',
        {})), 'no_matching_allow');
      // The task belongs to wfId; a body naming another workflow is refused.
      const otherWf = fake.addWorkflow(W);
      assertForbidden(await call(aliceLog, () => alice.wf.updateTask(charge, otherWf,
        'COMPLETED', {})), 'unclassified');
      assert.equal(fake.requests.filter((q) => q.method === 'POST').length, n,
        'denied updates not forwarded');
    });

  test('bulk pause: denied unless every workflow is allowed', async () => {
    assert.ok(idW, 'a W run was started');
    if (!idV) idV = fake.addWorkflow(V);
    const bulkCalls = () => fake.requests.filter((q) => q.path === '/api/workflow/bulk/pause')
      .length;
    const d = await call(aliceLog,
      () => alice.client.workflowBulkResource.pauseWorkflow1([idW, idV]));
    assertForbidden(d, 'no_matching_allow');
    assert.equal(bulkCalls(), 0, 'the denied bulk call was not forwarded');
    // Alice may pause W alone in bulk.
    const w = await call(aliceLog, () => alice.client.workflowBulkResource.pauseWorkflow1([idW]));
    assert.equal(w.ex.status, 200, w.ex.text);
    assert.equal(bulkCalls(), 1);
    const ok = await call(bobLog,
      () => bob.client.workflowBulkResource.pauseWorkflow1([idW, idV]));
    assert.equal(ok.ex.status, 200, ok.ex.text);
    assertForwardedUnchanged(ok.ex);
    assert.deepEqual(JSON.parse(ok.ex.text).bulkSuccessfulResults, [idW, idV]);
    assert.ok(fake.lookupCount(idV) <= 1, 'the V id is looked up at most once');
  });
});
