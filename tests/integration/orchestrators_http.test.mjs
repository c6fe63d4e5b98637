// The Temporal (HTTP API), Argo Workflows and Airflow profiles on the request path. For each,
// stepgate runs with `profile: <name>` in front of a recording fake orchestrator on loopback
// that also answers the profile's lookups (answer shapes from the vendored specs), with a
// policy that allows some workflows, steps and namespaces and not others. Calls built from the
// vendored specs go through stepgate with node:http and the test asserts:
//   - allowed or denied, and the 403 reason, as the profile's page documents the operation;
//   - the classification cross-checked with the binary itself: `stepgate profiles classify`
//     prints the operation (or the lookup it needs), and `stepgate policy explain` of that
//     operation reaches the decision the proxy answered;
//   - for allowed calls, the upstream received the same method, path, query and body bytes,
//     and the same header fields except the documented ones (Host, X-Forwarded-*,
//     X-Request-Id, Via, hop-by-hop);
//   - lookups are made with stepgate's own credential; an id the orchestrator does not know is
//     denied `unresolved`; ids learnt from a relayed response need no lookup.
// One more test checks that `stepgate profiles list <p> --format json` has a row for every
// operation (method + path template) of the vendored specs.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import {
  startUpstream, writeConfig, startStepgate, freePort, makeTempDir, stepgateBin, sourceDir, HOST,
} from './lib/harness.mjs';
import { runCommand } from './lib/extras.mjs';
import { makeKey, jwks, sign, now } from './lib/jwt.mjs';

const ISSUER = 'https://issuer.stepgate.test';
const AUD = 'workflow-api';
const key = makeKey('ES256', 'k1');
const LOOKUP_CREDENTIAL = 'Bearer stepgate-lookup-credential';
const UPSTREAM = 'backend';  // the upstream's name in the configs writeConfig() builds

function token(sub, groups) {
  const t = now();
  return sign(key, { iss: ISSUER, sub, aud: AUD, iat: t, exp: t + 3600, groups });
}
const ALICE = { subject: 'alice', groups: ['ops'] };
const ALICE_TOKEN = token(ALICE.subject, ALICE.groups);

// ---- the environment: fake orchestrator + stepgate ----------------------------------------

const isLookup = (r) => r.headers['user-agent'] === 'stepgate-lookup';

// A request target with its path segments and query names and values percent-decoded: the
// lookup client may escape characters (`,` as %2C) that the profile's target spells plainly.
function canonicalTarget(target) {
  const q = target.indexOf('?');
  const p = q < 0 ? target : target.slice(0, q);
  const decoded = p.split('/').map((seg) => decodeURIComponent(seg)).join('/');
  if (q < 0) return decoded;
  const pairs = target.slice(q + 1).split('&').map((kv) => {
    const i = kv.indexOf('=');
    const dec = (x) => decodeURIComponent(x);
    return i < 0 ? dec(kv) : `${dec(kv.slice(0, i))}=${dec(kv.slice(i + 1))}`;
  });
  return `${decoded}?${pairs.join('&')}`;
}

// Starts the fake orchestrator (startUpstream records every request) and stepgate with
// `profile`, a jwt provider, the policy files and a lookup credential. `lookup(url)` answers
// the profile's lookups ({status, json}); `answer(req, body)` answers relayed calls (default
// 200 {"ok":true}).
async function startOrchestrator({ profile, policies, lookup, answer }) {
  const up = await startUpstream((req, res, body) => {
    const a = isLookup(req) ? lookup(req.url, req) : (answer?.(req, body) ?? { status: 200,
      json: { ok: true } });
    const text = JSON.stringify(a.json ?? {});
    res.writeHead(a.status, { 'content-type': 'application/json',
      'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  const dir = makeTempDir(`stepgate-${profile}-`);
  fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(key));
  fs.writeFileSync(path.join(dir, 'lookup-credential'), `${LOOKUP_CREDENTIAL}\n`);
  const pdir = path.join(dir, 'policies');
  fs.mkdirSync(pdir);
  for (const [name, text] of Object.entries(policies)) {
    fs.writeFileSync(path.join(pdir, name), text);
  }
  const port = await freePort();
  const adminPort = await freePort();
  const file = writeConfig(dir, {
    listenPort: port, adminPort, upstreamPort: up.port,
    upstream: {
      profile,
      lookup: { authorization_file: 'lookup-credential', cache_ttl: '10m', negative_ttl: '5s' },
    },
    extra: {
      identity: {
        providers: [{
          name: 'corp', type: 'jwt', issuer: ISSUER, audiences: [AUD], algorithms: ['ES256'],
          jwks_file: 'jwks.json', claims: { groups: 'groups' },
        }],
      },
      policies: 'policies',
      policy: { reveal_rule_ids: true, watch: false },
      log: { level: 'info' },
    },
  });
  let sg;
  try {
    sg = await startStepgate(file);
  } catch (e) {
    await up.close();
    throw e;
  }
  return {
    profile, port, up, sg, dir, pdir,
    forwarded: () => up.requests.filter((r) => !isLookup(r)),
    lookups: () => up.requests.filter(isLookup),
    async close() {
      const code = await sg.stop();
      await up.close();
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, `stepgate exited with ${code}; stderr:\n${sg.stderr().slice(-4000)}`);
    },
  };
}

// ---- one call ------------------------------------------------------------------------------

// The header fields the client sends besides Host (and Connection, which node adds), in order.
function clientHeaders(body) {
  const h = [
    ['Authorization', `Bearer ${ALICE_TOKEN}`],
    ['User-Agent', 'orchestrator-it/1.0'],
    ['Accept', 'application/json'],
    ['X-Trace-Context', 'trace=4bf92f3577b34da6;sampled=1'],
  ];
  if (body !== undefined) {
    h.push(['Content-Type', 'application/json; charset=utf-8']);
    h.push(['Content-Length', String(body.length)]);
  }
  return h;
}

function send(port, method, target, body) {
  // A flat list of raw fields keeps their order and spelling.
  const headers = [['Host', `${HOST}:${port}`], ...clientHeaders(body)].flat();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: target, agent: false, headers },
      (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(15000, () => req.destroy(new Error(`${method} ${target} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// The body of a case as bytes: strings are sent as they are (spacing, member order and escapes
// the test chose), objects as JSON.
function bodyBytes(body) {
  if (body === undefined) return undefined;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
}

// What the upstream must have received for an allowed call: same method, target and body
// bytes; the client's own fields unchanged and in order; only the documented fields changed.
function assertForwardedUnchanged(env, got, c, body, res) {
  assert.equal(got.method, c.method);
  assert.equal(got.url, c.path, 'path and query forwarded as sent');
  assert.ok(got.bodyBytes.equals(body ?? Buffer.alloc(0)),
    `body bytes: sent ${body?.toString('utf8')}, upstream got ${got.body}`);
  const documented = new Set(['host', 'via', 'x-request-id', 'connection', 'keep-alive',
    'transfer-encoding', 'te', 'upgrade']);
  const rest = [];
  for (let i = 0; i < got.rawHeaders.length; i += 2) {
    const name = got.rawHeaders[i].toLowerCase();
    if (documented.has(name) || name.startsWith('x-forwarded-')) continue;
    rest.push([name, got.rawHeaders[i + 1]]);
  }
  const sent = clientHeaders(body).map(([n, v]) => [n.toLowerCase(), v]);
  assert.deepEqual(rest, sent, 'the client\'s fields reach the upstream unchanged');
  assert.equal(got.headers.host, `${HOST}:${env.up.port}`);
  assert.equal(got.headers['x-forwarded-for'], HOST);
  assert.equal(got.headers['x-forwarded-proto'], 'http');
  assert.equal(got.headers['x-forwarded-host'], `${HOST}:${env.port}`);
  assert.equal(got.headers.via, '1.1 stepgate');
  assert.match(got.headers['x-request-id'], /^[0-9a-f]{32}$/);
  assert.equal(got.headers['x-request-id'], res.headers['x-request-id']);
  assert.equal(got.headers['transfer-encoding'], undefined);
}

// ---- the binary's own view: classify and explain ------------------------------------------

const dash = (v) => (v === '-' ? '' : v);

function parseFields(line) {
  const out = {};
  for (const m of line.matchAll(/(\w+)=(\S*)/g)) out[m[1]] = dash(m[2]);
  return out;
}

// `stepgate profiles classify` of the case: {outcome, code, ops: [{actions, workflow, step,
// execution, namespace}], lookups: [target]}.
async function classify(env, c, body) {
  const args = ['profiles', 'classify', env.profile, c.method, c.path];
  if (body !== undefined) {
    const f = path.join(env.dir, 'classify-body.json');
    fs.writeFileSync(f, body);
    args.push('--body', f);
  }
  const r = await runCommand(stepgateBin(), args, { timeoutMs: 30000 });
  const out = { code: r.code, ops: [], lookups: [], text: r.stdout + r.stderr };
  for (const line of r.stdout.split('\n')) {
    let m = /^outcome: (\S+)/.exec(line);
    if (m) out.outcome = m[1];
    m = /^(?:operation|also): (.*)$/.exec(line);
    if (m) out.ops.push(parseFields(m[1]));
    m = /^lookup: .* -> GET (\S+)$/.exec(line);
    if (m) out.lookups.push(m[1]);
  }
  return out;
}

// `stepgate policy explain` of one operation for ALICE: {decision, reason, text}.
async function explain(env, op) {
  const args = ['policy', 'explain', env.pdir, '--subject', ALICE.subject,
    '--groups', ALICE.groups.join(','), '--upstream', UPSTREAM,
    '--workflow', op.workflow, '--action', op.actions];
  if (op.step) args.push('--step', op.step);
  if (op.namespace) args.push('--namespace', op.namespace);
  const r = await runCommand(stepgateBin(), args, { timeoutMs: 30000 });
  assert.equal(r.code, 0, `policy explain failed: ${r.stdout}${r.stderr}`);
  const m = /^decision: (allow|deny) \((\w+)\)/m.exec(r.stdout);
  assert.ok(m, `no decision in: ${r.stdout}`);
  return { decision: m[1], reason: m[2], text: r.stdout };
}

// ---- the case runner -----------------------------------------------------------------------

// A case: {method, path, body?, expect: 'allow' | a 403 reason, rules?: deciding rule ids,
// ops?: the operations the profile makes of it (classify output when classified without a
// lookup; the expected ones after the lookup otherwise), lookup?: the lookup target(s) the
// call must cause (absent: none), noLookup?: classify needs a lookup the proxy answers from
// its cache (learnt or asked before), afterLookup?: unclassified only once the lookups are
// answered, todo?: a known defect (the case runs and reports as TODO).}
async function runCase(env, c) {
  const body = bodyBytes(c.body);
  const fwdBefore = env.forwarded().length;
  const lkBefore = env.lookups().length;
  const res = await send(env.port, c.method, c.path, body);
  const newLookups = env.lookups().slice(lkBefore);

  if (c.expect === 'allow') {
    assert.equal(res.status, 200, `expected the call to be forwarded: ${res.status} ${res.body}`);
    const fwd = env.forwarded().slice(fwdBefore);
    assert.equal(fwd.length, 1, 'forwarded exactly once');
    assertForwardedUnchanged(env, fwd[0], c, body, res);
  } else {
    assert.equal(res.status, 403, `expected 403 ${c.expect}: ${res.status} ${res.body}`);
    const j = JSON.parse(res.body);
    assert.equal(j.error, 'forbidden');
    assert.equal(j.reason, c.expect, res.body);
    assert.equal(j.request_id, res.headers['x-request-id']);
    if (c.rules) assert.deepEqual(j.rules, c.rules);
    assert.equal(env.forwarded().length, fwdBefore, 'nothing forwarded');
  }

  // Lookups: the target the profile documents, made with stepgate's own credential.
  const expectedLookups = [].concat(c.lookup ?? []);
  const made = newLookups.map((l) => canonicalTarget(l.url));
  assert.deepEqual([...made].sort(), [...expectedLookups].sort(),
    `lookups made: ${newLookups.map((l) => l.url).join(', ')}`);
  for (const l of newLookups) {
    assert.equal(l.method, 'GET');
    assert.equal(l.headers.authorization, LOOKUP_CREDENTIAL, 'stepgate\'s own credential');
    assert.equal(l.bodyBytes.length, 0);
  }

  // The binary's classification of the same call.
  const cl = await classify(env, c, body);
  if (c.expect === 'unclassified') {
    // Some calls are found unclassifiable only with the lookups' answers (a task token of
    // another namespace); classify, which makes no lookups, stops at asking for them.
    assert.equal(cl.outcome, c.afterLookup ? 'needs-lookup' : 'unclassified', cl.text);
    if (c.afterLookup) return;
    assert.equal(cl.code, 1);
    return;
  }
  if (cl.outcome === 'needs-lookup') {
    assert.ok(c.lookup || c.noLookup,
      `classify needs a lookup the case did not expect:\n${cl.text}`);
    for (const l of cl.lookups) {
      if (c.lookup) assert.ok(expectedLookups.includes(canonicalTarget(l)), cl.text);
    }
  } else {
    assert.equal(cl.outcome, 'classified', cl.text);
    assert.ok(c.ops, `case lacks the expected operations; classify says:\n${cl.text}`);
    assert.deepEqual(cl.ops.map((o) => pick(o)), c.ops.map((o) => pick(o)), cl.text);
  }
  if (c.expect === 'unresolved' || !c.ops) return;

  // The policy's decision on those operations (the first denial decides) is the proxy's.
  let decision = { decision: 'allow', reason: 'allowed' };
  for (const op of c.ops) {
    const e = await explain(env, op);
    if (e.decision === 'deny') {
      decision = e;
      break;
    }
  }
  assert.equal(decision.decision === 'allow' ? 'allow' : decision.reason, c.expect,
    `policy explain disagrees with the proxy: ${decision.text ?? 'allow'}`);
}

function pick(o) {
  return { actions: o.actions, workflow: o.workflow ?? '', step: o.step ?? '',
    namespace: o.namespace ?? '' };
}

function runCases(getEnv, cases) {
  for (const c of cases) {
    test(`${c.method} ${c.path}: ${c.expect}${c.why ? ` (${c.why})` : ''}`,
      c.todo ? { todo: c.todo } : {}, () => runCase(getEnv(), c));
  }
}

// Known defect: proxy/connection.cc copies a response for learning only on the streaming
// paths; a Content-Length body of at most 16 KiB that arrives in the same read as its head is
// coalesced into the head's write without being captured, so learn() sees an empty body and
// learns nothing: the next call on the new id needs a lookup (and is denied `unresolved` when
// the orchestrator cannot answer it yet). Cases marked with it run and report as TODO.

// ---- Argo Workflows -------------------------------------------------------------------------

const ARGO_POLICIES = {
  'build.yaml': `workflow: build
upstream: ${UPSTREAM}
rules:
  - id: build-ops
    allow: [start, read, stop, retry, define]
    namespaces: [prod]
    who: { groups: [ops] }
  - id: build-approve
    allow: [complete-step]
    steps: [approve]
    namespaces: [prod]
    who: { groups: [ops] }
`,
  'release.yaml': `workflow: prod-release
upstream: ${UPSTREAM}
rules:
  - id: release-read
    allow: [read]
    who: { groups: [ops] }
`,
  'all.yaml': `workflow: "*"
upstream: ${UPSTREAM}
rules:
  - id: list-dev
    allow: [list]
    namespaces: [dev]
    who: { groups: [ops] }
`,
};

// io.argoproj.workflow.v1alpha1.Workflow documents, as argo-server returns them.
function argoWorkflow(namespace, name, { ref, labels = {}, nodes = {} } = {}) {
  return {
    metadata: { name, namespace, uid: `uid-${name}`, labels },
    spec: ref ? { workflowTemplateRef: { name: ref } } : { entrypoint: 'main',
      templates: [{ name: 'main', container: { image: 'alpine' } }] },
    status: { phase: 'Running', nodes },
  };
}
const ARGO_WORKFLOWS = new Map([
  ['prod/build-abc', argoWorkflow('prod', 'build-abc', {
    ref: 'build',
    nodes: {
      'build-abc': { id: 'build-abc', name: 'build-abc', displayName: 'build-abc', type: 'Steps' },
      'build-abc-1': { id: 'build-abc-1', name: 'build-abc[0].approve', displayName: 'approve',
        type: 'Suspend', phase: 'Running' },
      'build-abc-2': { id: 'build-abc-2', name: 'build-abc[1].deploy', displayName: 'deploy',
        type: 'Suspend', phase: 'Running' },
    },
  })],
  // The attack: its labels say `build`, its template is `prod-release`.
  ['prod/evil-1', argoWorkflow('prod', 'evil-1', {
    ref: 'prod-release',
    labels: { 'workflows.argoproj.io/workflow-template': 'build' },
  })],
  ['staging/build-s1', argoWorkflow('staging', 'build-s1', { ref: 'build' })],
]);
const ARGO_FIELDS = 'fields=metadata.name,metadata.namespace,metadata.uid,'
  + 'spec.workflowTemplateRef,status.nodes';

function argoLookup(url) {
  const m = /^\/api\/v1\/workflows\/([^/?]+)\/([^/?]+)\?(.*)$/.exec(canonicalTarget(url));
  const wf = m && m[3] === ARGO_FIELDS ? ARGO_WORKFLOWS.get(`${m[1]}/${m[2]}`) : undefined;
  if (wf) return { status: 200, json: wf };
  return { status: 404, json: { code: 5, message: 'workflows.argoproj.io "x" not found' } };
}

// CreateWorkflow answers with the created Workflow under a generated name (learnt by
// stepgate): `build-x7k2p` for generateName `build-`, and `big-q9w8e`, with 20 KiB of
// annotations, for `big-` (an answer that does not arrive in one read with its head).
function argoAnswer(req, body) {
  const m = /^\/api\/v1\/workflows\/([^/?]+)$/.exec(req.url);
  if (req.method === 'POST' && m) {
    const sent = JSON.parse(body.toString('utf8'));
    const ref = sent.workflow?.spec?.workflowTemplateRef?.name;
    const big = sent.workflow?.metadata?.generateName === 'big-';
    const wf = argoWorkflow(m[1], big ? 'big-q9w8e' : 'build-x7k2p', { ref });
    if (big) wf.metadata.annotations = { note: 'x'.repeat(20 * 1024) };
    return { status: 200, json: wf };
  }
  return { status: 200, json: {} };
}

const LABEL_SELECTOR =
  'listOptions.labelSelector=workflows.argoproj.io%2Fworkflow-template%3Dbuild';
const build = (extra = {}) => ({ actions: 'read', workflow: 'build', step: '', namespace: 'prod',
  ...extra });

const ARGO_CASES = [
  // start
  { method: 'POST', path: '/api/v1/workflows/prod', expect: 'allow', why: 'start of template build',
    body: '{"workflow": {"metadata": {"generateName": "build-"}, "spec": '
      + '{"workflowTemplateRef": {"name": "build"}, "arguments": {"parameters": '
      + '[{"name": "rev", "value": "caf\\u00e9 \u2713"}]}}}}',
    ops: [build({ actions: 'start' })] },
  // The created Workflow is learnt from the response: no lookup (the fake does not know it).
  // A small answer arrives with its head: learning must capture it there too.
  { method: 'GET', path: '/api/v1/workflows/prod/build-x7k2p?fields=status.phase',
    expect: 'allow', why: 'learnt from the create', noLookup: true,
    ops: [build()] },
  { method: 'POST', path: '/api/v1/workflows/prod', expect: 'allow', why: 'a 20 KiB answer',
    body: { workflow: { metadata: { generateName: 'big-' },
      spec: { workflowTemplateRef: { name: 'build' }, entrypoint: 'main' } } },
    ops: [build({ actions: 'start' })] },
  { method: 'GET', path: '/api/v1/workflows/prod/big-q9w8e', expect: 'allow',
    why: 'learnt from the 20 KiB answer', noLookup: true, ops: [build()] },
  // attack: a label naming `build` on a Workflow of another template
  { method: 'POST', path: '/api/v1/workflows/prod', expect: 'no_matching_allow',
    why: 'label says build, template is prod-release',
    body: { workflow: { metadata: { generateName: 'x-',
      labels: { 'workflows.argoproj.io/workflow-template': 'build' } },
    spec: { workflowTemplateRef: { name: 'prod-release' } } } },
    ops: [{ actions: 'start', workflow: 'prod-release', step: '', namespace: 'prod' }] },
  { method: 'POST', path: '/api/v1/workflows/prod', expect: 'no_matching_allow',
    why: 'inline spec labelled build: start+define on ""',
    body: { workflow: { metadata: { generateName: 'x-',
      labels: { 'workflows.argoproj.io/workflow-template': 'build' } },
    spec: { entrypoint: 'main', templates: [{ name: 'main', container: { image: 'evil' } }] } } },
    ops: [{ actions: 'start,define', workflow: '', step: '', namespace: 'prod' }] },
  // read, with the lookup
  { method: 'GET', path: '/api/v1/workflows/prod/build-abc', expect: 'allow',
    lookup: `/api/v1/workflows/prod/build-abc?${ARGO_FIELDS}`, ops: [build()] },
  // attack: a live Workflow labelled build runs prod-release; identity from the lookup
  { method: 'PUT', path: '/api/v1/workflows/prod/evil-1/terminate', body: '{}',
    expect: 'no_matching_allow', why: 'labelled build, runs prod-release',
    lookup: `/api/v1/workflows/prod/evil-1?${ARGO_FIELDS}`,
    ops: [{ actions: 'stop', workflow: 'prod-release', step: '', namespace: 'prod' }] },
  { method: 'GET', path: '/api/v1/workflows/prod/evil-1', expect: 'allow',
    why: 'read of prod-release is allowed', noLookup: true,
    ops: [{ actions: 'read', workflow: 'prod-release', step: '', namespace: 'prod' }] },
  // manual steps (signal / step completion)
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/resume',
    body: '{"nodeFieldSelector":"displayName=approve"}', expect: 'allow', noLookup: true,
    ops: [build({ actions: 'complete-step', step: 'approve' })] },
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/resume',
    body: '{"nodeFieldSelector":"displayName=deploy"}', expect: 'no_matching_allow',
    noLookup: true, ops: [build({ actions: 'complete-step', step: 'deploy' })] },
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/resume',
    body: '{"nodeFieldSelector":"id=build-abc-2"}', expect: 'no_matching_allow',
    why: 'node id of deploy', noLookup: true,
    ops: [build({ actions: 'complete-step', step: 'deploy' })] },
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/set',
    body: '{"nodeFieldSelector":"id=build-abc-1","phase":"Succeeded",'
      + '"outputParameters":"{\\"ok\\":\\"yes\\"}"}',
    expect: 'allow', why: 'node id of approve', noLookup: true,
    ops: [build({ actions: 'complete-step', step: 'approve' })] },
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/resume', body: '{}',
    expect: 'no_matching_allow', why: 'no selector: resume + every suspend node', noLookup: true,
    ops: [build({ actions: 'resume,complete-step' })] },
  // stop / terminate
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/terminate', body: '{}',
    expect: 'allow', noLookup: true, ops: [build({ actions: 'stop' })] },
  // retry / rerun
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/retry',
    body: '{"nodeFieldSelector":"displayName=deploy"}', expect: 'allow', noLookup: true,
    ops: [build({ actions: 'retry' })] },
  { method: 'PUT', path: '/api/v1/workflows/prod/build-abc/retry',
    body: '{"restartSuccessful":true}', expect: 'no_matching_allow',
    why: 'restartSuccessful adds rerun', noLookup: true,
    ops: [build({ actions: 'retry,rerun' })] },
  // definition changes
  { method: 'PUT', path: '/api/v1/workflow-templates/prod/build',
    body: { template: { metadata: { name: 'build', namespace: 'prod' },
      spec: { entrypoint: 'main',
        templates: [{ name: 'main', container: { image: 'alpine' } }] } } },
    expect: 'allow', ops: [build({ actions: 'define' })] },
  { method: 'PUT', path: '/api/v1/workflow-templates/prod/prod-release',
    body: { template: { metadata: { name: 'prod-release' }, spec: {} } },
    expect: 'no_matching_allow',
    ops: [{ actions: 'define', workflow: 'prod-release', step: '', namespace: 'prod' }] },
  { method: 'PUT', path: '/api/v1/workflow-templates/prod/build',
    body: { template: { metadata: { name: 'prod-release' }, spec: {} } },
    expect: 'unclassified', why: 'the body names another template' },
  // namespaces
  { method: 'GET', path: '/api/v1/workflows/staging/build-s1', expect: 'no_matching_allow',
    why: 'build is allowed in prod only',
    lookup: `/api/v1/workflows/staging/build-s1?${ARGO_FIELDS}`,
    ops: [{ actions: 'read', workflow: 'build', step: '', namespace: 'staging' }] },
  // bulk / namespace-wide: widened to workflow ""
  { method: 'GET', path: `/api/v1/workflows/dev?${LABEL_SELECTOR}`,
    expect: 'allow', why: 'list in dev by the "*" rule',
    ops: [{ actions: 'list', workflow: '', step: '', namespace: 'dev' }] },
  { method: 'GET', path: `/api/v1/workflows/prod?${LABEL_SELECTOR}`,
    expect: 'no_matching_allow', why: 'a label selector does not narrow a list',
    ops: [{ actions: 'list', workflow: '', step: '', namespace: 'prod' }] },
  { method: 'POST', path: '/api/v1/events/prod/github', body: '{"ref":"refs/heads/main"}',
    expect: 'no_matching_allow', why: 'event bindings widened to workflow ""',
    ops: [{ actions: 'start', workflow: '', step: '', namespace: 'prod' }] },
  // lookups of unknown ids
  { method: 'PUT', path: '/api/v1/workflows/prod/ghost/terminate', body: '{}',
    expect: 'unresolved', lookup: `/api/v1/workflows/prod/ghost?${ARGO_FIELDS}` },
  // unknown endpoints and denied-by-design
  { method: 'GET', path: '/api/v1/workflows/prod/@latest', expect: 'unclassified',
    why: '@latest' },
  { method: 'GET', path: '/api/v1/no-such-service', expect: 'unclassified' },
  { method: 'POST', path: '/api/v1/artifacts/load', body: '{}', expect: 'unclassified',
    why: 'artifact-driver plugin route' },
];

describe('argo profile through stepgate', () => {
  let env;
  before(async () => {
    env = await startOrchestrator({ profile: 'argo', policies: ARGO_POLICIES,
      lookup: argoLookup, answer: argoAnswer });
  });
  after(async () => {
    await env?.close();
  });
  runCases(() => env, ARGO_CASES);
});

// ---- Airflow --------------------------------------------------------------------------------

const AIRFLOW_POLICIES = {
  'etl.yaml': `workflow: etl
upstream: ${UPSTREAM}
rules:
  - id: etl-ops
    allow: [start, read, list, stop, rerun, pause, resume]
    who: { groups: [ops] }
  - id: etl-load-gate
    allow: [complete-step, fail-step]
    steps: [load]
    who: { groups: [ops] }
  - id: etl-keep
    deny: [undefine]
`,
  'reports.yaml': `workflow: reports
upstream: ${UPSTREAM}
rules:
  - id: reports-read
    allow: [read]
    who: { groups: [ops] }
`,
  'all.yaml': `workflow: "*"
upstream: ${UPSTREAM}
rules:
  - id: list-all
    allow: [list]
    who: { groups: [ops] }
`,
};

// BackfillResponse documents of the 3.2.1 spec.
function backfill(id, dagId) {
  return { id, dag_id: dagId, dag_display_name: dagId, from_date: '2026-01-01T00:00:00Z',
    to_date: '2026-01-08T00:00:00Z', dag_run_conf: {}, is_paused: false,
    reprocess_behavior: 'none', max_active_runs: 2, created_at: '2026-01-09T10:00:00Z',
    completed_at: null, updated_at: '2026-01-09T10:00:00Z' };
}
const AIRFLOW_BACKFILLS = new Map([['7', backfill(7, 'etl')], ['8', backfill(8, 'reports')]]);

function airflowLookup(url) {
  const m = /^\/api\/v2\/backfills\/(\d+)$/.exec(canonicalTarget(url));
  const b = m ? AIRFLOW_BACKFILLS.get(m[1]) : undefined;
  if (b) return { status: 200, json: b };
  return { status: 404, json: { detail: 'Backfill not found' } };
}

function airflowAnswer(req) {
  if (req.method === 'POST' && req.url === '/api/v2/backfills') {
    return { status: 200, json: backfill(42, 'etl') };
  }
  return { status: 200, json: {} };
}

const etl = (extra = {}) => ({ actions: 'read', workflow: 'etl', step: '', namespace: '',
  ...extra });

const AIRFLOW_CASES = [
  // start (v1 and v2 trigger)
  { method: 'POST', path: '/api/v1/dags/etl/dagRuns',
    body: '{"dag_run_id": "manual_1", "conf": {"amount": 5, "region": "eu-\\u00e9"}, '
      + '"note": "caf\u00e9"}',
    expect: 'allow', ops: [etl({ actions: 'start' })] },
  { method: 'POST', path: '/api/v2/dags/reports/dagRuns', body: { logical_date: null },
    expect: 'no_matching_allow', ops: [{ actions: 'start', workflow: 'reports', step: '',
      namespace: '' }] },
  // read: a run id percent-encoded in the path is forwarded as sent
  { method: 'GET', path: '/api/v1/dags/etl/dagRuns/manual__2026-01-01T00%3A00%3A00%2B00%3A00',
    expect: 'allow', ops: [etl()] },
  { method: 'GET', path: '/api/v2/dags/etl/dagRuns/r1/taskInstances/load/tries?limit=5',
    expect: 'allow', ops: [etl({ actions: 'list', step: 'load' })] },
  // step completion (task-instance state)
  { method: 'PATCH', path: '/api/v2/dags/etl/dagRuns/r1/taskInstances/load',
    body: '{"new_state":"success"}', expect: 'allow',
    ops: [etl({ actions: 'complete-step', step: 'load' })] },
  { method: 'PATCH', path: '/api/v2/dags/etl/dagRuns/r1/taskInstances/extract',
    body: '{"new_state":"failed"}', expect: 'no_matching_allow',
    ops: [etl({ actions: 'fail-step', step: 'extract' })] },
  { method: 'PATCH', path: '/api/v2/dags/etl/dagRuns/r1/taskInstances/load',
    body: '{"new_state":"success","include_downstream":true}', expect: 'no_matching_allow',
    why: 'include_downstream widens to step ""', ops: [etl({ actions: 'complete-step' })] },
  { method: 'PATCH', path: '/api/v2/dags/etl/dagRuns/r1/taskInstances/load',
    body: '{"new_state":"up_for_retry"}', expect: 'unclassified', why: 'other states' },
  // `~` on a state change: widened to workflow "", which the per-DAG rule does not allow
  { method: 'PATCH', path: '/api/v2/dags/~/dagRuns/~/taskInstances/load',
    body: '{"new_state":"success"}', expect: 'no_matching_allow', why: '~ wildcard',
    ops: [{ actions: 'complete-step', workflow: '', step: 'load', namespace: '' }] },
  { method: 'PATCH', path: '/api/v2/dags/etl/dagRuns/~/taskInstances/load',
    body: '{"new_state":"success"}', expect: 'allow', why: '~ run of etl',
    ops: [etl({ actions: 'complete-step', step: 'load' })] },
  // signal: notes and XComs
  { method: 'PATCH', path: '/api/v1/dags/etl/dagRuns/r1/setNote', body: { note: 'checked' },
    expect: 'no_matching_allow', ops: [etl({ actions: 'signal' })] },
  // stop (run state)
  { method: 'PATCH', path: '/api/v1/dags/etl/dagRuns/r1', body: { state: 'failed' },
    expect: 'allow', ops: [etl({ actions: 'stop' })] },
  { method: 'PATCH', path: '/api/v1/dags/etl/dagRuns/r1', body: { state: 'running' },
    expect: 'unclassified', why: 'other run states' },
  // rerun (clear): every listed task is a target
  { method: 'POST', path: '/api/v1/dags/etl/clearTaskInstances',
    body: { dag_run_id: 'r1', task_ids: ['load', 'extract'], dry_run: false },
    expect: 'allow', ops: [etl({ actions: 'rerun', step: 'load' }),
      etl({ actions: 'rerun', step: 'extract' })] },
  { method: 'POST', path: '/api/v1/dags/reports/clearTaskInstances',
    body: { dag_run_id: 'r1', dry_run: true }, expect: 'allow', why: 'dry run is read',
    ops: [{ actions: 'read', workflow: 'reports', step: '', namespace: '' }] },
  { method: 'POST', path: '/api/v1/dags/reports/clearTaskInstances',
    body: { dag_run_id: 'r1', dry_run: 'false' }, expect: 'unclassified',
    why: 'a flag that is not a boolean' },
  // definition changes: pause, delete
  { method: 'PATCH', path: '/api/v1/dags/etl?update_mask=is_paused', body: { is_paused: true },
    expect: 'allow', ops: [etl({ actions: 'pause' })] },
  { method: 'DELETE', path: '/api/v1/dags/etl', expect: 'denied', rules: ['etl-keep'],
    ops: [etl({ actions: 'undefine' })] },
  { method: 'PATCH', path: '/api/v2/dags?dag_id_pattern=etl', body: { is_paused: false },
    expect: 'no_matching_allow', why: 'pattern widened to workflow ""',
    ops: [{ actions: 'resume', workflow: '', step: '', namespace: '' }] },
  // lists across DAGs: only the "*" rule
  { method: 'GET', path: '/api/v1/dags/~/dagRuns?limit=10&order_by=-start_date',
    expect: 'allow', ops: [{ actions: 'list', workflow: '', step: '', namespace: '' }] },
  { method: 'GET', path: '/api/v1/variables/db_password', expect: 'no_matching_allow',
    why: 'variables are admin', ops: [{ actions: 'admin', workflow: '', step: '',
      namespace: '' }] },
  // backfills by id: the one lookup
  { method: 'GET', path: '/api/v2/backfills/7', expect: 'allow', lookup: '/api/v2/backfills/7',
    ops: [etl()] },
  { method: 'PUT', path: '/api/v2/backfills/8/cancel', expect: 'no_matching_allow',
    lookup: '/api/v2/backfills/8', ops: [{ actions: 'stop', workflow: 'reports', step: '',
      namespace: '' }] },
  { method: 'PUT', path: '/api/v2/backfills/8/pause', expect: 'no_matching_allow',
    noLookup: true, why: 'cached', ops: [{ actions: 'pause', workflow: 'reports', step: '',
      namespace: '' }] },
  { method: 'GET', path: '/api/v2/backfills/99', expect: 'unresolved',
    lookup: '/api/v2/backfills/99' },
  { method: 'GET', path: '/api/v2/backfills/latest', expect: 'unclassified',
    why: 'a backfill id is digits' },
  { method: 'POST', path: '/api/v2/backfills',
    body: { dag_id: 'etl', from_date: '2026-01-01T00:00:00Z', to_date: '2026-01-08T00:00:00Z',
      reprocess_behavior: 'none', max_active_runs: 2 },
    expect: 'allow', ops: [etl({ actions: 'start' })] },
  { method: 'GET', path: '/api/v2/backfills/42', expect: 'allow', why: 'learnt from the create',
    noLookup: true, ops: [etl()] },
  // unknown endpoints
  { method: 'GET', path: '/api/v1/no-such-endpoint', expect: 'unclassified' },
  { method: 'GET', path: '/ui/dags/etl/grid', expect: 'unclassified', why: 'private UI API' },
];

describe('airflow profile through stepgate', () => {
  let env;
  before(async () => {
    env = await startOrchestrator({ profile: 'airflow', policies: AIRFLOW_POLICIES,
      lookup: airflowLookup, answer: airflowAnswer });
  });
  after(async () => {
    await env?.close();
  });
  runCases(() => env, AIRFLOW_CASES);
});

// ---- Temporal (HTTP API) --------------------------------------------------------------------

const TEMPORAL_POLICIES = {
  'orders.yaml': `workflow: OrderWorkflow
upstream: ${UPSTREAM}
rules:
  - id: orders-ops
    allow: [start, read, stop, rerun, define]
    namespaces: [prod]
    who: { groups: [ops] }
  - id: orders-signals
    allow: [signal]
    steps: [approve, get-status]
    namespaces: [prod]
    who: { groups: [ops] }
  - id: orders-approve
    allow: [complete-step]
    steps: [approve]
    namespaces: [prod]
    who: { groups: [ops] }
`,
  'payroll.yaml': `workflow: PayrollWorkflow
upstream: ${UPSTREAM}
rules:
  - id: payroll-read
    allow: [read]
    namespaces: [prod]
    who: { groups: [ops] }
`,
  'all.yaml': `workflow: "*"
upstream: ${UPSTREAM}
rules:
  - id: list-dev
    allow: [list]
    namespaces: [dev]
    who: { groups: [ops] }
`,
};

const NAMESPACE_IDS = { prod: '7b1c53f2-0d4e-4b8e-9a59-3c2f1e0d9a11',
  staging: 'c0ffee00-1111-4222-8333-944455556666' };
// (namespace, workflow id) -> the current run, as DescribeWorkflowExecution describes it.
const TEMPORAL_RUNS = new Map([
  ['prod/order-1', { type: 'OrderWorkflow', runId: 'run-o1' }],
  ['prod/order-2', { type: 'OrderWorkflow', runId: 'run-o2' }],
  ['prod/order:7 x', { type: 'OrderWorkflow', runId: 'run-o7' }],
  ['prod/pay-1', { type: 'PayrollWorkflow', runId: 'run-p1' }],
  ['staging/order-9', { type: 'OrderWorkflow', runId: 'run-o9' }],
]);
const TEMPORAL_SCHEDULES = new Map([['prod/payroll-monthly', 'PayrollWorkflow']]);

function temporalLookup(url) {
  const t = canonicalTarget(url);
  let m = /^\/api\/v1\/namespaces\/([^/?]+)\/workflows\/([^/?]+)(?:\?execution\.runId=(.*))?$/
    .exec(t);
  if (m) {
    const run = TEMPORAL_RUNS.get(`${m[1]}/${m[2]}`);
    if (!run || (m[3] !== undefined && m[3] !== run.runId)) {
      return { status: 404, json: { code: 5, message: 'workflow not found', details: [] } };
    }
    return { status: 200, json: {
      executionConfig: { taskQueue: { name: 'q', kind: 'TASK_QUEUE_KIND_NORMAL' } },
      workflowExecutionInfo: {
        execution: { workflowId: m[2], runId: run.runId },
        type: { name: run.type },
        startTime: '2026-11-20T10:00:00Z',
        status: 'WORKFLOW_EXECUTION_STATUS_RUNNING',
        historyLength: '12',
        taskQueue: 'q',
      },
    } };
  }
  m = /^\/api\/v1\/namespaces\/([^/?]+)\/schedules\/([^/?]+)$/.exec(t);
  if (m) {
    const type = TEMPORAL_SCHEDULES.get(`${m[1]}/${m[2]}`);
    if (!type) return { status: 404, json: { code: 5, message: 'schedule not found' } };
    return { status: 200, json: { schedule: {
      spec: { cronString: ['0 0 1 * *'] },
      action: { startWorkflow: { workflowId: m[2], workflowType: { name: type },
        taskQueue: { name: 'q' } } },
    }, conflictToken: 'AQ==' } };
  }
  m = /^\/api\/v1\/namespaces\/([^/?]+)$/.exec(t);
  if (m && NAMESPACE_IDS[m[1]]) {
    return { status: 200, json: { namespaceInfo: { name: m[1], id: NAMESPACE_IDS[m[1]],
      state: 'NAMESPACE_STATE_REGISTERED' } } };
  }
  return { status: 404, json: { code: 5, message: 'not found' } };
}

function temporalAnswer(req) {
  const m = /^\/api\/v1\/namespaces\/prod\/workflows\/([^/]+)$/.exec(req.url);
  if (req.method === 'POST' && m) return { status: 200, json: { runId: `run-new-${m[1]}`,
    started: true } };
  return { status: 200, json: {} };
}

// A temporal.server.api.token.v1.Task task token: the fields the frontend reads, protobuf
// wire format, base64 (the JSON mapping of bytes).
function taskToken({ namespaceId, workflowId, runId, scheduledEventId, activityId,
  workflowType, activityType }) {
  const varint = (n) => {
    const out = [];
    let v = BigInt(n);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v) b |= 0x80;
      out.push(b);
    } while (v);
    return Buffer.from(out);
  };
  const str = (field, text) => {
    const b = Buffer.from(text, 'utf8');
    return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
  };
  return Buffer.concat([
    str(1, namespaceId), str(2, workflowId), str(3, runId),
    varint(4 << 3), varint(scheduledEventId), varint(5 << 3), varint(1),
    str(6, activityId), str(7, workflowType), str(8, activityType),
  ]).toString('base64');
}

const order = (extra = {}) => ({ actions: 'read', workflow: 'OrderWorkflow', step: '',
  namespace: 'prod', ...extra });
const describeRun = (ns, id, run) => `/api/v1/namespaces/${ns}/workflows/${id}${run
  ? `?execution.runId=${run}` : ''}`;

const ORDER_QUERY = 'query=WorkflowType%3D%27OrderWorkflow%27';

const TEMPORAL_CASES = [
  // start
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/order-1',
    body: '{"workflowId": "ignored-by-the-gateway", "workflowType": {"name": "OrderWorkflow"}, '
      + '"taskQueue": {"name": "orders"}, "input": {"payloads": [{"metadata": {"encoding": '
      + '"anNvbi9wbGFpbg=="}, "data": "eyJhbW91bnQiOjQyfQ=="}]}, "requestId": "9c1b\\u00e9"}',
    expect: 'allow', ops: [order({ actions: 'start' })] },
  { method: 'GET',
    path: '/api/v1/namespaces/prod/workflows/order-1?execution.runId=run-new-order-1',
    expect: 'allow', why: 'the started run was learnt', noLookup: true,
    ops: [order()] },
  { method: 'POST', path: '/api/v1/namespaces/staging/workflows/order-3',
    body: { workflowType: { name: 'OrderWorkflow' }, taskQueue: { name: 'orders' } },
    expect: 'no_matching_allow', why: 'namespaces: [prod]',
    ops: [order({ actions: 'start', namespace: 'staging' })] },
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/pay-2',
    body: { workflowType: { name: 'PayrollWorkflow' }, taskQueue: { name: 'payroll' } },
    expect: 'no_matching_allow',
    ops: [{ actions: 'start', workflow: 'PayrollWorkflow', step: '', namespace: 'prod' }] },
  // read, with the DescribeWorkflowExecution lookup
  { method: 'GET', path: '/api/v1/namespaces/prod/workflows/order-2', expect: 'allow',
    lookup: describeRun('prod', 'order-2'), ops: [order()] },
  { method: 'GET',
    path: '/api/v1/namespaces/prod/workflows/order%3A7%20x/history?maximumPageSize=10',
    expect: 'allow', why: 'an id that needs escaping', lookup: describeRun('prod', 'order:7 x'),
    ops: [order()] },
  { method: 'GET', path: '/api/v1/namespaces/staging/workflows/order-9',
    expect: 'no_matching_allow', why: 'OrderWorkflow in staging',
    lookup: describeRun('staging', 'order-9'), ops: [order({ namespace: 'staging' })] },
  // signal / update: step = the signal or update name
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/order-2/signal/approve',
    body: '{"input":{"payloads":[{"metadata":{"encoding":"YmluYXJ5L251bGw="}}]},'
      + '"identity":"ops-console"}',
    expect: 'allow', noLookup: true, ops: [order({ actions: 'signal', step: 'approve' })] },
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/order-2/update/cancel-order',
    body: { request: { meta: { updateId: 'u-1' }, input: { name: 'cancel-order' } } },
    expect: 'no_matching_allow', noLookup: true,
    ops: [order({ actions: 'signal', step: 'cancel-order' })] },
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/pay-1/signal/approve', body: {},
    expect: 'no_matching_allow', lookup: describeRun('prod', 'pay-1'),
    ops: [{ actions: 'signal', workflow: 'PayrollWorkflow', step: 'approve',
      namespace: 'prod' }] },
  // stop / terminate
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/order-2/terminate',
    body: { reason: 'duplicate order' }, expect: 'allow', noLookup: true,
    ops: [order({ actions: 'stop' })] },
  // rerun: reset names its run in the body
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/order-2/reset',
    body: { workflowExecution: { runId: 'run-o2' }, reason: 'bad deploy',
      workflowTaskFinishEventId: '4', requestId: 'r-1' },
    expect: 'allow', lookup: describeRun('prod', 'order-2', 'run-o2'),
    ops: [order({ actions: 'rerun' })] },
  // step completion by activity id
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/order-2/activities/approve/complete',
    body: { result: { payloads: [] }, identity: 'ops-console' }, expect: 'allow', noLookup: true,
    ops: [order({ actions: 'complete-step', step: 'approve' })] },
  { method: 'POST',
    path: '/api/v1/namespaces/prod/workflows/order-2/activities/charge-card/complete',
    body: { result: { payloads: [] } }, expect: 'no_matching_allow', noLookup: true,
    ops: [order({ actions: 'complete-step', step: 'charge-card' })] },
  // step completion by task token: the token's workflow_type is never trusted
  { method: 'POST', path: '/api/v1/namespaces/prod/activity-complete',
    body: { taskToken: taskToken({ namespaceId: NAMESPACE_IDS.prod, workflowId: 'pay-1',
      runId: 'run-p1', scheduledEventId: 5, activityId: 'approve',
      workflowType: 'OrderWorkflow', activityType: 'Approve' }), identity: 'w1' },
    expect: 'no_matching_allow', why: 'token says OrderWorkflow, the run is PayrollWorkflow',
    lookup: ['/api/v1/namespaces/prod', describeRun('prod', 'pay-1', 'run-p1')],
    ops: [{ actions: 'complete-step', workflow: 'PayrollWorkflow', step: '',
      namespace: 'prod' }] },
  { method: 'POST', path: '/api/v1/namespaces/prod/activity-complete',
    body: { taskToken: taskToken({ namespaceId: NAMESPACE_IDS.staging, workflowId: 'order-2',
      runId: 'run-o2', scheduledEventId: 0, activityId: 'approve',
      workflowType: 'OrderWorkflow', activityType: 'Approve' }) },
    expect: 'unclassified', why: 'a token of another namespace', noLookup: true,
    afterLookup: true },
  // definition changes: schedules
  { method: 'POST', path: '/api/v1/namespaces/prod/schedules/nightly-orders',
    body: { schedule: { spec: { cronString: ['0 2 * * *'] }, action: { startWorkflow: {
      workflowId: 'nightly', workflowType: { name: 'OrderWorkflow' },
      taskQueue: { name: 'orders' } } } }, requestId: 's-1' },
    expect: 'allow', ops: [order({ actions: 'start,define' })] },
  { method: 'GET', path: '/api/v1/namespaces/prod/schedules/payroll-monthly', expect: 'allow',
    lookup: '/api/v1/namespaces/prod/schedules/payroll-monthly',
    ops: [{ actions: 'read', workflow: 'PayrollWorkflow', step: '', namespace: 'prod' }] },
  { method: 'DELETE', path: '/api/v1/namespaces/prod/schedules/payroll-monthly',
    expect: 'no_matching_allow', noLookup: true,
    ops: [{ actions: 'undefine', workflow: 'PayrollWorkflow', step: '', namespace: 'prod' }] },
  { method: 'POST', path: '/api/v1/namespaces/prod/update',
    body: { updateInfo: { description: 'x' }, config: { workflowExecutionRetentionTtl: '1s' } },
    expect: 'no_matching_allow', why: 'namespace update is admin',
    ops: [{ actions: 'admin', workflow: '', step: '', namespace: 'prod' }] },
  // bulk: widened to workflow ""
  { method: 'POST', path: '/api/v1/namespaces/prod/batch-operations/job-1',
    body: { visibilityQuery: "WorkflowType='OrderWorkflow'", reason: 'cleanup',
      terminationOperation: { identity: 'ops' } },
    expect: 'no_matching_allow', why: 'a visibility query',
    ops: [{ actions: 'stop', workflow: '', step: '', namespace: 'prod' }] },
  { method: 'GET', path: `/api/v1/namespaces/dev/workflows?${ORDER_QUERY}`,
    expect: 'allow', ops: [{ actions: 'list', workflow: '', step: '', namespace: 'dev' }] },
  { method: 'GET', path: `/api/v1/namespaces/prod/workflows?${ORDER_QUERY}`,
    expect: 'no_matching_allow', ops: [{ actions: 'list', workflow: '', step: '',
      namespace: 'prod' }] },
  // calls without a namespace: never granted by a rule that names namespaces
  { method: 'GET', path: '/api/v1/system-info', expect: 'no_matching_allow',
    ops: [{ actions: 'read', workflow: '', step: '', namespace: '' }] },
  // ids the orchestrator does not know
  { method: 'POST', path: '/api/v1/namespaces/prod/workflows/ghost/terminate', body: {},
    expect: 'unresolved', lookup: describeRun('prod', 'ghost') },
  { method: 'GET', path: '/api/v1/namespaces/prod/schedules/ghost', expect: 'unresolved',
    lookup: '/api/v1/namespaces/prod/schedules/ghost' },
  // unknown endpoints
  { method: 'GET', path: '/api/v1/namespaces/prod/no-such-collection', expect: 'unclassified' },
  { method: 'POST', path: '/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue',
    body: {}, expect: 'unclassified', why: 'gRPC only' },
];

describe('temporal profile through stepgate', () => {
  let env;
  before(async () => {
    env = await startOrchestrator({ profile: 'temporal', policies: TEMPORAL_POLICIES,
      lookup: temporalLookup, answer: temporalAnswer });
  });
  after(async () => {
    await env?.close();
  });
  runCases(() => env, TEMPORAL_CASES);
});

// ---- every operation of the vendored specs is listed ----------------------------------------

const SPECS = path.join(sourceDir(), 'tests', 'fixtures', 'specs');
const POLICY_ACTIONS = new Set(['read', 'list', 'start', 'stop', 'pause', 'resume', 'retry',
  'rerun', 'signal', 'complete-step', 'fail-step', 'skip-step', 'define', 'undefine', 'work',
  'admin']);

// (METHOD, path template) of every operation of a Swagger 2 / OpenAPI 2 JSON document.
function jsonSpecOperations(file) {
  const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  const ops = [];
  for (const [p, item] of Object.entries(spec.paths)) {
    for (const m of Object.keys(item)) {
      if (['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(m)) {
        const base = spec.basePath && spec.basePath !== '/' ? spec.basePath : '';
        ops.push([m.toUpperCase(), `${base}${p}`]);
      }
    }
  }
  return ops;
}

// The same for the OpenAPI 3 YAML documents of Airflow, read line by line: under the top-level
// `paths:` map, a path is a key indented by two spaces and an operation a method key indented
// by four. `prefix` is the spec's server URL (v1 declares `/api/v1`).
function yamlSpecOperations(file, prefix) {
  const ops = [];
  let inPaths = false;
  let current = null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (/^paths:\s*$/.test(line)) {
      inPaths = true;
      continue;
    }
    if (inPaths && /^\S/.test(line)) inPaths = false;
    if (!inPaths) continue;
    let m = /^ {2}(['"]?)(\/[^'"]*)\1:\s*$/.exec(line);
    if (m) {
      current = m[2];
      continue;
    }
    m = /^ {4}(get|put|post|delete|patch|head|options):\s*$/.exec(line);
    if (m && current) ops.push([m[1].toUpperCase(), `${prefix}${current}`]);
  }
  return ops;
}

// Variable names differ between a spec and the table ({execution.workflowId} vs
// {workflowId}); the shape of the template is what must match.
const templateShape = (p) => p.replace(/\{[^}]*\}/g, '{}');

describe('stepgate profiles list covers the vendored specs', () => {
  const specs = {
    temporal: { ops: () => jsonSpecOperations(path.join(SPECS, 'temporal', 'openapiv2.json')),
      count: 226 },
    argo: { ops: () => jsonSpecOperations(path.join(SPECS, 'argo', 'swagger.json')), count: 73 },
    airflow: {
      ops: () => [
        ...yamlSpecOperations(path.join(SPECS, 'airflow', 'airflow-2.10.0', 'v1.yaml'), '/api/v1'),
        ...yamlSpecOperations(path.join(SPECS, 'airflow', 'airflow-3.2.1', 'v2.yaml'), ''),
      ],
      count: 89 + 110,
    },
  };
  for (const [profile, spec] of Object.entries(specs)) {
    test(`${profile}: a row for every operation of the spec, with policy actions`, async () => {
      const ops = spec.ops();
      assert.equal(ops.length, spec.count, 'operations read from the spec');
      const r = await runCommand(stepgateBin(), ['profiles', 'list', profile, '--format', 'json'],
        { timeoutMs: 30000 });
      assert.equal(r.code, 0, r.stderr);
      const rows = JSON.parse(r.stdout);
      assert.ok(rows.every((row) => row.profile === profile));
      const byShape = new Map();
      for (const row of rows) {
        const k = `${row.method} ${templateShape(row.path)}`;
        byShape.set(k, [...(byShape.get(k) || []), row]);
      }
      const missing = [];
      for (const [method, p] of ops) {
        const found = byShape.get(`${method} ${templateShape(p)}`);
        if (!found) {
          missing.push(`${method} ${p}`);
          continue;
        }
        // Every spec operation is served by the orchestrator's HTTP API: its row names
        // policy actions, not "unclassified".
        for (const row of found) {
          const actions = row.actions.split(',');
          assert.ok(actions.every((a) => POLICY_ACTIONS.has(a)),
            `${method} ${p}: actions '${row.actions}'`);
        }
      }
      assert.deepEqual(missing, [], `operations of the ${profile} spec without a row`);
    });
  }
});
