#!/usr/bin/env node
// What a browser session costs on the request path: one stepgate (one worker) in front of an
// nginx upstream, driven by wrk with three credentials in interleaved rounds:
//   jwt      an external provider's ES256 bearer token (verified once, then the worker's
//            token cache)
//   session  the browser session cookie of a SAML sign-in (decrypted and checked on every
//            request: AES-256-GCM, JSON, revocation snapshot, CSRF rule)
//   stepgate a stepgate access token minted for that session (token cache + revocation)
// It prints the median req/s, p99 and CPU µs per request of stepgate for each, and the
// ratios against `jwt`. A benchmark, not a test: it never fails on its numbers.
//
//   STEPGATE_BIN=build-release/proxy/stepgate node bench/session_bench.mjs
//   DURATION=5 ROUNDS=3 CONNECTIONS=64 node bench/session_bench.mjs
//
// Needs nginx, wrk, taskset (scripts/install-deps bench), xmlsec1 (test role) and the
// integration test packages (npm ci --prefix tests/integration). Everything listens on
// 127.0.0.1 and every process started here is stopped at exit.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  writeConfig, startStepgate, freePort, makeTempDir, sendRequest, statusOf, bodyOf, headerValues,
  cookiePair,
} from '../tests/integration/lib/harness.mjs';
import { makeKey, jwks, sign, now } from '../tests/integration/lib/jwt.mjs';
import { signedSamlResponse, parseAuthnRequest, IDP_CERT } from '../tests/integration/lib/saml_idp.mjs';

const DURATION = Number(process.env.DURATION ?? 8);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const WRK_CPU = process.env.WRK_CPU ?? '0';
const SERVER_CPU = process.env.SERVER_CPU ?? '1';
const SELF = 'https://sg.bench.test';
const PREFIX = '/.stepgate';
const IDP = 'https://idp.bench.test/saml';

const children = [];
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch {} } });

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);  // utime + stime
}

function wrk(port, header) {
  const args = ['-c', String(WRK_CPU), 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`,
    '--latency', '-H', header, `http://127.0.0.1:${port}/api/workflow/bench/status`];
  const out = execFileSync('taskset', args, { encoding: 'utf8', timeout: (DURATION + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const total = Number(/(\d+) requests in/.exec(out)[1]);
  const p99text = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99 = Number(p99text[1]) * ({ us: 1, ms: 1000, s: 1e6 })[p99text[2]];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, total, p99, non2xx };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const dir = makeTempDir('stepgate-session-bench-');
  // The upstream: nginx answering a fixed JSON body.
  const upPort = await freePort();
  fs.mkdirSync(path.join(dir, 'nginx'));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1;
daemon off;
pid ${dir}/nginx/nginx.pid;
error_log ${dir}/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/nginx/cb; proxy_temp_path ${dir}/nginx/p;
  fastcgi_temp_path ${dir}/nginx/f; uwsgi_temp_path ${dir}/nginx/u; scgi_temp_path ${dir}/nginx/s;
  server {
    listen 127.0.0.1:${upPort};
    location / { default_type application/json; return 200 '{"ok":true}\\n'; }
  }
}
`);
  const nginx = spawn('taskset', ['-c', SERVER_CPU, 'nginx', '-p', path.join(dir, 'nginx'), '-c',
    path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
  children.push(nginx);

  const key = makeKey('ES256', 'bench-1');
  fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(key));
  fs.copyFileSync(IDP_CERT, path.join(dir, 'idp-cert.pem'));
  const port = await freePort();
  const adminPort = await freePort();
  const file = writeConfig(dir, {
    listenPort: port, adminPort, upstreamPort: upPort,
    upstream: {
      routes: [{ method: 'GET', path: '/api/workflow/{workflow}/status', action: 'read',
        workflow: '{workflow}' }],
    },
    extra: {
      proxy: { workers: 1 },
      identity: {
        providers: [{ name: 'corp', type: 'jwt', issuer: 'https://idp.bench.test',
          audiences: ['workflow-api'], algorithms: ['ES256'], jwks_file: 'jwks.json',
          claims: { groups: 'groups' } }],
      },
      issuer: { url: SELF, signing_key: 'stepgate-es256.pem' },
      sso: {
        session: { key_file: 'session.key' },
        saml: { entity_id: `${SELF}/sp`, acs_url: `${SELF}${PREFIX}/saml/acs`, idp_entity_id: IDP,
          idp_cert: 'idp-cert.pem', idp_sso_url: 'https://idp.bench.test/sso',
          groups_attribute: 'groups' },
      },
      log: { level: 'warn' },
    },
  });
  const sg = await startStepgate(file, { args: [] });
  execFileSync('taskset', ['-pc', SERVER_CPU, String(sg.pid)], { stdio: 'ignore' });
  try {
    const send = (method, p, headers = '', body) => sendRequest(port, method, p, { headers, body });
    // A SAML sign-in, played by this script with a response signed by the xmlsec1 CLI.
    const login = await send('GET', `${PREFIX}/login`);
    const location = new URL(headerValues(login, 'location')[0]);
    const request = parseAuthnRequest(location.searchParams.get('SAMLRequest'));
    const loginCookie = cookiePair(headerValues(login, 'set-cookie')[0]);
    const xml = signedSamlResponse({ dir, requestId: request.id, destination: `${SELF}${PREFIX}/saml/acs`,
      issuer: IDP, audience: `${SELF}/sp`, subject: 'alice@bench.test', groups: ['ops'] });
    const form = `SAMLResponse=${encodeURIComponent(Buffer.from(xml).toString('base64'))}`
      + `&RelayState=${encodeURIComponent(location.searchParams.get('RelayState'))}`;
    const acs = await send('POST', `${PREFIX}/saml/acs`,
      `Content-Type: application/x-www-form-urlencoded\r\nCookie: ${loginCookie}\r\n`, form);
    if (statusOf(acs) !== 303) throw new Error(`sign-in failed: ${acs.text}`);
    const cookie = cookiePair(headerValues(acs, 'set-cookie')
      .find((c) => c.startsWith('__Host-stepgate-session=')));
    const info = JSON.parse(bodyOf(await send('GET', `${PREFIX}/session`, `Cookie: ${cookie}\r\n`)));
    const tok = JSON.parse(bodyOf(await send('POST', `${PREFIX}/token`,
      `Cookie: ${cookie}\r\nX-CSRF-Token: ${info.csrf_token}\r\n`)));
    const jwt = sign(key, { iss: 'https://idp.bench.test', aud: 'workflow-api', sub: 'bob',
      groups: ['ops'], iat: now(), exp: now() + 3600 });
    const targets = {
      jwt: `Authorization: Bearer ${jwt}`,
      session: `Cookie: ${cookie}`,
      stepgate: `Authorization: Bearer ${tok.access_token}`,
    };
    const results = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (const [name, header] of Object.entries(targets)) {
      const probe = await send('GET', '/api/workflow/bench/status', `${header}\r\n`);
      if (statusOf(probe) !== 200) throw new Error(`${name}: ${probe.text.slice(0, 300)}`);
    }
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [name, header] of Object.entries(targets)) {
        const before = cpuTicks(sg.pid);
        const r = wrk(port, header);
        const ticks = cpuTicks(sg.pid) - before;
        r.cpu_us = (ticks * 1e6) / 100 / r.total;  // CLK_TCK 100
        results[name].push(r);
        process.stderr.write(`round ${round + 1} ${name}: ${r.rps.toFixed(0)} req/s\n`);
      }
    }
    const summary = {};
    console.log(`stepgate (1 worker) in front of nginx, wrk -c${CONNECTIONS} ${DURATION}s x ${ROUNDS}, medians`);
    console.log('credential   req/s     p99(us)  cpu(us/req)  non-2xx');
    for (const [name, rs] of Object.entries(results)) {
      summary[name] = { rps: median(rs.map((r) => r.rps)), p99: median(rs.map((r) => r.p99)),
        cpu: median(rs.map((r) => r.cpu_us)), non2xx: rs.reduce((a, r) => a + r.non2xx, 0) };
      const s = summary[name];
      console.log(`${name.padEnd(10)} ${s.rps.toFixed(0).padStart(8)} ${s.p99.toFixed(0).padStart(10)}`
        + ` ${s.cpu.toFixed(1).padStart(11)} ${String(s.non2xx).padStart(8)}`);
    }
    for (const name of ['session', 'stepgate']) {
      console.log(`${name}/jwt: req/s ${(summary[name].rps / summary.jwt.rps).toFixed(2)}, `
        + `cpu/req ${(summary[name].cpu / summary.jwt.cpu).toFixed(2)}`);
    }
  } finally {
    await sg.stop();
    nginx.kill('SIGTERM');
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
