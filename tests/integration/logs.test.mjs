// Logs: every line is one JSON object with time, level, component and msg; request-scoped
// lines carry the request id the client got; and credentials sent by clients never reach
// the log, whatever happens to their request (forwarded, refused, upstream failure).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  startUpstream, writeConfig, startStepgate, freePort, rawRequest, makeTempDir,
} from './lib/harness.mjs';

const SECRETS = ['eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl', 'sessionid-7f3a9c2e51',
  'QWxhZGRpbjpPcGVuU2VzYW1l', 'proxy-secret-4d1c'];
const CRED_HEADERS = `Authorization: Bearer ${SECRETS[0]}\r\nCookie: session=${SECRETS[1]}\r\n`
  + `Proxy-Authorization: Basic ${SECRETS[2]}\r\nX-Api-Key: ${SECRETS[3]}\r\n`;

let up;
let sg;
let deadPort;

before(async () => {
  up = await startUpstream();
  deadPort = await freePort();  // nothing listens here: requests to it fail with 502
  const dir = makeTempDir('stepgate-logs-');
  const listenPort = await freePort();
  const adminPort = await freePort();
  const file = writeConfig(dir, {
    listenPort, adminPort, upstreamPort: up.port,
    extra: { log: { level: 'debug' } },
  });
  sg = await startStepgate(file);
  sg.listenPort = listenPort;
  const deadDir = makeTempDir('stepgate-logs-dead-');
  const deadListen = await freePort();
  const deadAdmin = await freePort();
  sg.dead = await startStepgate(writeConfig(deadDir, {
    listenPort: deadListen, adminPort: deadAdmin, upstreamPort: deadPort,
    extra: { log: { level: 'debug' } },
  }));
  sg.dead.listenPort = deadListen;
});

after(async () => {
  await sg?.dead?.stop();
  await sg?.stop();
  await up?.close();
});

function requestIdOf(text) {
  return /\r\nX-Request-Id: ([0-9a-f]{32})\r\n/i.exec(text)?.[1];
}

test('credentials never reach the log: forwarded, refused and failed requests', async () => {
  const ok = await rawRequest(sg.listenPort,
    `GET /fine HTTP/1.1\r\nHost: x\r\n${CRED_HEADERS}Connection: close\r\n\r\n`);
  assert.match(ok.text, /^HTTP\/1\.1 200 /);
  // The upstream did get the Authorization header (stepgate forwards it) ...
  assert.equal(up.requests.at(-1).headers.authorization, `Bearer ${SECRETS[0]}`);

  const refusedPath = await rawRequest(sg.listenPort,
    `GET /api/workflow/x;v=1 HTTP/1.1\r\nHost: x\r\n${CRED_HEADERS}\r\n`);
  assert.match(refusedPath.text, /^HTTP\/1\.1 400 /);
  const refusedHead = await rawRequest(sg.listenPort,
    `GET / HTTP/1.1\r\nHost: x\r\n${CRED_HEADERS}Bad Header: x\r\n\r\n`);
  assert.match(refusedHead.text, /^HTTP\/1\.1 400 /);

  const failed = await rawRequest(sg.dead.listenPort,
    `GET /down HTTP/1.1\r\nHost: x\r\n${CRED_HEADERS}Connection: close\r\n\r\n`);
  assert.match(failed.text, /^HTTP\/1\.1 502 /);
  const failedId = requestIdOf(failed.text);
  assert.ok(failedId, 'the 502 names a request id');

  await sg.dead.stop();
  await sg.stop();
  const text = sg.stdout() + sg.stderr() + sg.dead.stdout() + sg.dead.stderr();
  for (const s of SECRETS) assert.equal(text.includes(s), false, `secret ${s} in the log`);
  // ... and the upstream failure was logged, under the id the client got.
  const lines = sg.dead.logs();
  const refusal = lines.find((l) => l.request_id === failedId);
  assert.ok(refusal, 'the 502 is logged with its request id');
  assert.equal(refusal.level, 'warn');
  assert.equal(refusal.reason, 'connect_failed');
  assert.equal(refusal.status, 502);
});

test('every log line is one JSON object with time, level, component and msg', async () => {
  const lines = [...sg.logs(), ...sg.dead.logs()];
  assert.ok(lines.length >= 4, 'the servers logged');
  for (const l of lines) {
    assert.equal(l.raw, undefined, `not JSON: ${l.raw}`);
    assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level), l.level);
    assert.equal(typeof l.component, 'string');
    assert.equal(typeof l.msg, 'string');
  }
  // A refused request is logged at debug level with its reason.
  assert.ok(lines.some((l) => l.level === 'debug' && l.reason === 'path_parameter'));
});
