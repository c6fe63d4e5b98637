// Authentication on the request path: bearer JWTs from an independent signer (node:crypto),
// keys from a JWKS file and from a JWKS URL served on loopback (rotation, unknown kid),
// client certificates, and the RFC 6750 answers. Every refusal is checked on the wire, in
// what the upstream saw (nothing) and in the metric of its reason.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import {
  startUpstream, writeConfig, startStepgate, freePort, rawRequest, makeTempDir, metrics,
  metricValue, devPki, curl,
} from './lib/harness.mjs';
import { makeKey, jwks, sign, now } from './lib/jwt.mjs';

const ISSUER = 'https://issuer.stepgate.test';
const AUD = 'workflow-api';

function claims(extra = {}) {
  const t = now();
  return { iss: ISSUER, sub: 'alice', aud: AUD, iat: t, exp: t + 300,
    realm_access: { roles: ['ops', 'payments-oncall'] }, ...extra };
}

function get(port, pathName, headers = '', opts = {}) {
  return rawRequest(port, `GET ${pathName} HTTP/1.1\r\nHost: gw\r\n${headers}Connection: close\r\n\r\n`,
    { timeoutMs: 8000, ...opts });
}

const statusOf = (r) => Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1]);
const headerOf = (r, name) => new RegExp(`\\r\\n${name}: ([^\\r]*)\\r\\n`, 'i').exec(r.text)?.[1];
const bodyOf = (r) => JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));

async function failures(adminPort, reason) {
  return metricValue(await metrics(adminPort), 'stepgate_auth_failures_total', { reason }) ?? 0;
}

describe('JWT provider with a JWKS file', () => {
  let up;
  let sg;
  let port;
  let adminPort;
  const es = makeKey('ES256', 'es-1');
  const rs = makeKey('RS256', 'rs-1');
  const stranger = makeKey('ES256', 'es-1');  // same kid, different key

  before(async () => {
    up = await startUpstream();
    const dir = makeTempDir('stepgate-identity-');
    fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(es, rs));
    port = await freePort();
    adminPort = await freePort();
    const file = writeConfig(dir, {
      listenPort: port, adminPort, upstreamPort: up.port,
      extra: {
        proxy: { workers: 1 },  // the verified-token cache is per worker
        identity: {
          providers: [{
            name: 'corp', type: 'jwt', issuer: ISSUER, audiences: [AUD],
            algorithms: ['ES256', 'RS256'], jwks_file: 'jwks.json',
            claims: { groups: '/realm_access/roles' },
          }],
        },
      },
    });
    sg = await startStepgate(file);
  });
  after(async () => {
    await sg?.stop();
    await up?.close();
  });

  test('no credentials: 401 with a bare Bearer challenge, nothing forwarded', async () => {
    const seen = up.requests.length;
    const before0 = await failures(adminPort, 'missing_credentials');
    const r = await get(port, '/api/workflow/x');
    assert.equal(statusOf(r), 401);
    assert.equal(headerOf(r, 'WWW-Authenticate'), 'Bearer realm="stepgate"');
    assert.equal(bodyOf(r).error, 'authentication_required');
    assert.match(bodyOf(r).request_id, /^[0-9a-f]{32}$/);
    assert.equal(up.requests.length, seen);
    assert.equal(await failures(adminPort, 'missing_credentials'), before0 + 1);
  });

  test('valid ES256 and RS256 tokens are forwarded; the second use is a cache hit', async () => {
    const token = sign(es, claims());
    const r1 = await get(port, '/api/workflow/a', `Authorization: Bearer ${token}\r\n`);
    assert.equal(statusOf(r1), 200);
    assert.equal(up.requests.at(-1).url, '/api/workflow/a');
    const hits0 = metricValue(await metrics(adminPort), 'stepgate_auth_cache_hits_total') ?? 0;
    const r2 = await get(port, '/api/workflow/b', `Authorization: Bearer ${token}\r\n`);
    assert.equal(statusOf(r2), 200);
    const m = await metrics(adminPort);
    assert.equal(metricValue(m, 'stepgate_auth_cache_hits_total'), hits0 + 1);
    const r3 = await get(port, '/x', `Authorization: Bearer ${sign(rs, claims())}\r\n`);
    assert.equal(statusOf(r3), 200);
    assert.ok(metricValue(m, 'stepgate_auth_successes_total', { method: 'jwt' }) >= 2);
  });

  const refusals = [
    ['expired', () => sign(es, claims({ iat: now() - 1000, exp: now() - 500 })), 'expired'],
    ['alg none', () => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.`
      + `${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`, 'unsupported_alg'],
    ['wrong audience', () => sign(es, claims({ aud: 'billing' })), 'wrong_audience'],
    ['signed by a stranger under a known kid', () => sign(stranger, claims()), 'bad_signature'],
    ['payload changed after signing', () => {
      const [h, , s] = sign(es, claims()).split('.');
      return `${h}.${Buffer.from(JSON.stringify(claims({ sub: 'root' }))).toString('base64url')}.${s}`;
    }, 'bad_signature'],
    ['unknown issuer', () => sign(es, claims({ iss: 'https://evil.example' })), 'unknown_issuer'],
    ['exp as a string', () => sign(es, claims({ exp: String(now() + 300) })), 'bad_claim_type'],
    ['not yet valid', () => sign(es, claims({ nbf: now() + 3600 })), 'not_yet_valid'],
    ['duplicate claim', () => {
      const [h, , ] = sign(es, claims()).split('.');
      const payload = `{"iss":"${ISSUER}","sub":"alice","sub":"root","aud":"${AUD}","exp":${now() + 300}}`;
      return `${h}.${Buffer.from(payload).toString('base64url')}.AAAA`;
    }, 'duplicate_claim'],
    ['crit header', () => sign(es, claims(), { crit: ['exp'] }), 'crit_unsupported'],
    ['too large', () => sign(es, claims({ pad: 'x'.repeat(9000) })), 'token_too_large'],
  ];
  for (const [name, make, reason] of refusals) {
    test(`refused: ${name} → 401 invalid_token (${reason})`, async () => {
      const seen = up.requests.length;
      const before0 = await failures(adminPort, reason);
      const r = await get(port, '/api/workflow/x', `Authorization: Bearer ${make()}\r\n`);
      assert.equal(statusOf(r), 401, r.text);
      assert.equal(headerOf(r, 'WWW-Authenticate'), 'Bearer realm="stepgate", error="invalid_token"');
      assert.equal(bodyOf(r).error, 'invalid_token');
      assert.equal(up.requests.length, seen, 'nothing reached the upstream');
      assert.equal(await failures(adminPort, reason), before0 + 1);
    });
  }

  test('two Authorization fields: 400 invalid_request', async () => {
    const t = sign(es, claims());
    const r = await get(port, '/x', `Authorization: Bearer ${t}\r\nAuthorization: Bearer ${t}\r\n`);
    assert.equal(statusOf(r), 400);
    assert.equal(headerOf(r, 'WWW-Authenticate'), 'Bearer realm="stepgate", error="invalid_request"');
  });

  test('Basic credentials: 401 without an error code', async () => {
    const r = await get(port, '/x', 'Authorization: Basic dXNlcjpwYXNz\r\n');
    assert.equal(statusOf(r), 401);
    assert.equal(headerOf(r, 'WWW-Authenticate'), 'Bearer realm="stepgate"');
  });

  test('a refused request without a body keeps the connection; the next one passes', async () => {
    const t = sign(es, claims());
    const r = await rawRequest(port,
      'GET /first HTTP/1.1\r\nHost: gw\r\n\r\n'
      + `GET /second HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`,
      { timeoutMs: 8000 });
    const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [401, 200]);
    assert.equal(up.requests.at(-1).url, '/second');
  });

  test('a refused request with a body closes the connection', async () => {
    const r = await rawRequest(port,
      'POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello', { timeoutMs: 8000 });
    assert.equal(statusOf(r), 401);
    assert.equal(headerOf(r, 'Connection'), 'close');
  });

  test('the caller cannot smuggle identity headers upstream', async () => {
    const r = await get(port, '/x', `Authorization: Bearer ${sign(es, claims())}\r\n`
      + 'X-Stepgate-Subject: root\r\nX-Stepgate-Groups: admins\r\n');
    assert.equal(statusOf(r), 200);
    const h = up.requests.at(-1).headers;
    assert.equal(h['x-stepgate-subject'], undefined);
    assert.equal(h['x-stepgate-groups'], undefined);
  });
});

describe('JWKS URL: rotation, unknown kid, IdP down', () => {
  let up;
  let sg;
  let port;
  let adminPort;
  let idp;
  let served;
  let fetches = 0;
  const k1 = makeKey('ES256', 'k1');
  const k2 = makeKey('ES256', 'k2');

  before(async () => {
    up = await startUpstream();
    served = jwks(k1);
    idp = http.createServer((req, res) => {
      fetches += 1;
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'max-age=3600');
      res.end(served);
    });
    await new Promise((r) => idp.listen(0, '127.0.0.1', r));
    const dir = makeTempDir('stepgate-identity-uri-');
    port = await freePort();
    adminPort = await freePort();
    sg = await startStepgate(writeConfig(dir, {
      listenPort: port, adminPort, upstreamPort: up.port,
      extra: {
        identity: {
          providers: [{
            name: 'rotating', type: 'jwt', issuer: ISSUER, audiences: [AUD],
            algorithms: ['ES256'], jwks_uri: `http://127.0.0.1:${idp.address().port}/jwks`,
            unknown_kid_min_interval: '1s', fetch_timeout: '2s',
          }],
        },
      },
    }));
  });
  after(async () => {
    await sg?.stop();
    await up?.close();
    idp?.close();
  });

  async function untilKeys() {
    for (let i = 0; i < 100; i += 1) {
      const m = await metrics(adminPort);
      if ((metricValue(m, 'stepgate_identity_keys', { provider: 'rotating' }) ?? 0) > 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('keys never published');
  }

  test('a token signed with the current key passes', async () => {
    await untilKeys();
    const r = await get(port, '/x', `Authorization: Bearer ${sign(k1, claims())}\r\n`);
    assert.equal(statusOf(r), 200);
  });

  test('rotation: a new kid triggers one refetch and the request waits for it', async () => {
    served = jwks(k1, k2);
    const before0 = fetches;
    const waits0 = metricValue(await metrics(adminPort), 'stepgate_auth_key_waits_total') ?? 0;
    const r = await get(port, '/rotated', `Authorization: Bearer ${sign(k2, claims())}\r\n`);
    assert.equal(statusOf(r), 200, r.text);
    assert.equal(fetches, before0 + 1, 'exactly one refetch');
    assert.equal(metricValue(await metrics(adminPort), 'stepgate_auth_key_waits_total'), waits0 + 1);
  });

  test('a flood of unknown kids is not a flood of fetches', async () => {
    const bogus = makeKey('ES256', 'nobody-has-this');
    const before0 = fetches;
    const results = await Promise.all(Array.from({ length: 20 }, () =>
      get(port, '/x', `Authorization: Bearer ${sign(bogus, claims())}\r\n`)));
    for (const r of results) assert.equal(statusOf(r), 401);
    assert.ok(fetches - before0 <= 1, `${fetches - before0} fetches for 20 unknown-kid tokens`);
  });
});

describe('mTLS provider', () => {
  let up;
  let sg;
  let port;
  let pki;

  before(async () => {
    up = await startUpstream();
    const dir = makeTempDir('stepgate-identity-mtls-');
    pki = await devPki(path.join(dir, "pki"));
    port = await freePort();
    sg = await startStepgate(writeConfig(dir, {
      listenPort: port, upstreamPort: up.port,
      tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert, clientAuth: 'optional' },
      extra: {
        identity: { providers: [{ name: 'workloads', type: 'mtls', certificate_subject: 'san_uri' }] },
      },
    }));
  });
  after(async () => {
    await sg?.stop();
    await up?.close();
  });

  test('a verified client certificate authenticates; none is 401', async () => {
    const ok = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', pki.caCert,
      '--cert', pki.clientCert, '--key', pki.clientKey, `https://localhost:${port}/x`]);
    assert.equal(ok.stdout, '200');
    const none = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', pki.caCert,
      `https://localhost:${port}/x`]);
    assert.equal(none.stdout, '401');
  });
});
