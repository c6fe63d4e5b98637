// `stepgate demo --orchestrator-only`: the demo orchestrator alone, as an upstream for a
// config of one's own. It prints one line with its URL, serves the Conductor subset and
// its web page (GET /), and stops with exit 0 on SIGTERM or SIGINT. The page shows the
// subject of the identity assertion it receives (HTML-escaped, read without verifying),
// and lists the definitions.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';

import { freePort, httpRequest, stepgateBin } from './lib/harness.mjs';
import { startDemoOrchestrator } from './lib/demo_orchestrator.mjs';
import { runCommand } from './lib/extras.mjs';
import { makeKey, sign } from './lib/jwt.mjs';

const LINE = /^demo orchestrator listening on http:\/\/(\S+):(\d+)\n$/;

const started = new Set();
after(async () => {
  for (const orch of started) await orch.stop('SIGKILL');
});

// Starts `stepgate demo --orchestrator-only` (options: port, listen) and waits (bounded)
// for its line. Returns {host, port, stdout(), stderr(), stop(signal)}; stop resolves with
// the exit code (or the signal name), SIGKILL after 10 s.
async function startOrchestrator(opts = { port: 0 }) {
  const orch = await startDemoOrchestrator(opts);
  started.add(orch);
  return orch;
}

const who = (body) => /<p id="who">([^<]*)<\/p>/.exec(body)?.[1];

test('orchestrator only: one line, the page, the API, exit 0 on SIGTERM', async () => {
  const orch = await startOrchestrator();
  assert.equal(orch.host, '127.0.0.1');
  assert.ok(orch.port > 0 && orch.port < 65536, orch.stdout());
  const { port } = orch;

  const page = await httpRequest(port, { path: '/' });
  assert.equal(page.status, 200, page.body);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(page.body, /<title>Demo orchestrator<\/title>/);
  assert.match(page.body, /<h1 id="title">Demo orchestrator<\/h1>/);
  const defs = /<ul id="definitions">([\s\S]*?)<\/ul>/.exec(page.body)?.[1] ?? '';
  assert.deepEqual([...defs.matchAll(/<li>([^<]*)<\/li>/g)].map((x) => x[1]),
    ['order-fulfillment v1', 'refund v1'], page.body);
  assert.equal(who(page.body), 'No identity assertion received');
  assert.match(page.body, /<button id="start"[^>]*>Start order-fulfillment<\/button>/);
  assert.match(page.body, /<button id="start-no-csrf"/);
  assert.match(page.body, /<pre id="result"><\/pre>/);

  // An identity assertion as stepgate sends it (a signed JWT); its sub is shown escaped.
  const key = makeKey('ES256', 'k1');
  const jwt = sign(key, { sub: 'alice<b>', groups: ['ops'] });
  const signedIn = await httpRequest(port, { path: '/', headers: { 'X-Stepgate-Identity': jwt } });
  assert.equal(signedIn.status, 200);
  assert.equal(who(signedIn.body), 'Signed in as alice&lt;b&gt;');
  assert.doesNotMatch(signedIn.body, /alice<b>/);
  assert.match(signedIn.body, /as asserted by the proxy; this demo does not verify it/);

  const garbage = await httpRequest(port, { path: '/',
    headers: { 'X-Stepgate-Identity': 'not-a-jwt<script>' } });
  assert.equal(garbage.status, 200);
  assert.equal(who(garbage.body), 'Signed in as (unreadable assertion)');
  assert.doesNotMatch(garbage.body, /not-a-jwt/);

  // HEAD: the same headers, no body.
  const head = await httpRequest(port, { method: 'HEAD', path: '/' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(head.body, '');

  // The Conductor subset is served as before.
  const started = await httpRequest(port, { method: 'POST', path: '/api/workflow/order-fulfillment',
    headers: { 'Content-Type': 'application/json' }, body: '{"orderId":"o-1"}' });
  assert.equal(started.status, 200, started.body);
  assert.match(started.body, /^[0-9a-f-]{36}$/);
  const wf = await httpRequest(port, { path: `/api/workflow/${started.body}` });
  assert.equal(wf.status, 200, wf.body);
  const run = JSON.parse(wf.body);
  assert.equal(run.workflowName, 'order-fulfillment');
  assert.equal(run.status, 'RUNNING');
  assert.equal(run.input.orderId, 'o-1');

  assert.equal(await orch.stop('SIGTERM'), 0, orch.stderr());
  // Exactly one line on stdout, nothing else.
  assert.match(orch.stdout(), LINE);
  // Stopped means no longer listening.
  await assert.rejects(httpRequest(port, { path: '/health', timeoutMs: 2000 }));
});

test('orchestrator only: --port and --listen are honoured; SIGINT exits 0', async () => {
  const port = await freePort();
  // 127.0.0.2 is loopback too on Linux: the orchestrator answers there and not on .1.
  const orch = await startOrchestrator({ listen: '127.0.0.2', port });
  assert.equal(orch.host, '127.0.0.2');
  assert.equal(orch.port, port);
  const status = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.2', port, path: '/health', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
  assert.equal(status, 200);
  await assert.rejects(httpRequest(port, { path: '/health', timeoutMs: 2000 }));

  // The same port again: cannot listen, exit 1.
  const taken = await runCommand(stepgateBin(), ['demo', '--orchestrator-only', '--listen',
    '127.0.0.2', '--port', String(port)], { timeoutMs: 15000 });
  assert.equal(taken.code, 1, `${taken.stdout}\n${taken.stderr}`);
  assert.equal(taken.stdout, '');
  assert.match(taken.stderr, /demo: orchestrator: /);

  assert.equal(await orch.stop('SIGINT'), 0, orch.stderr());
});

test('orchestrator only: option combinations that make no sense are usage errors (exit 2)',
  async () => {
    const cases = [
      [['--orchestrator-only', '--smoke'], /--orchestrator-only cannot be combined with --smoke/],
      [['--orchestrator-only', '--state-dir', 'x'], /cannot be combined with --state-dir/],
      [['--orchestrator-only', '--admin-port', '9999'], /cannot be combined with --admin-port/],
      [['--listen', '127.0.0.1'], /--listen needs --orchestrator-only/],
      [['--orchestrator-only', '--port', 'abc'], /--port must be a number/],
      [['--orchestrator-only', '--port', '70000'], /--port must be a number/],
      [['--orchestrator-only', '--listen', 'localhost'], /--listen localhost/],
      [['--orchestrator-only', '--bogus'], /usage: stepgate demo/],
    ];
    for (const [args, re] of cases) {
      const r = await runCommand(stepgateBin(), ['demo', ...args], { timeoutMs: 15000 });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });
