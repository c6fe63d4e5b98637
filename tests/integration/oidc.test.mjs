// stepgate in front of a real OpenID provider (the npm package oidc-provider): keys found by
// OIDC discovery, RS256 and ES256 access tokens (RFC 9068, typ at+jwt) from the
// client_credentials grant accepted, tokens for another audience refused, and a key rotation
// at the provider followed without a failed request. Opaque tokens through RFC 7662
// introspection, with client_secret_basic and with private_key_jwt client authentication.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  startUpstream, writeConfig, startStepgate, freePort, rawRequest, makeTempDir, metrics,
  metricValue,
} from './lib/harness.mjs';
import { startOidcProvider } from './lib/oidc_provider.mjs';

let idp;
let up;
let sg;
let port;
let adminPort;

before(async () => {
  idp = await startOidcProvider();
  up = await startUpstream();
  port = await freePort();
  adminPort = await freePort();
  sg = await startStepgate(writeConfig(makeTempDir('stepgate-oidc-'), {
    listenPort: port, adminPort, upstreamPort: up.port,
    extra: {
      identity: {
        providers: [{
          name: 'idp', type: 'oidc', issuer: idp.issuer, audiences: ['workflow-api'],
          algorithms: ['RS256', 'ES256'], typ: 'at+jwt', fetch_timeout: '3s',
          claims: { groups: 'scope', groups_space_separated: true },
        }],
      },
    },
  }));
  // Discovery and the first JWKS fetch run on the control thread after start.
  for (let i = 0; i < 100; i += 1) {
    const m = await metrics(adminPort);
    if ((metricValue(m, 'stepgate_identity_keys', { provider: 'idp' }) ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('stepgate never published the provider keys');
});

after(async () => {
  await sg?.stop();
  await up?.close();
  await idp?.close();
});

const call = (token, p = '/api/workflow/order-fulfillment') => rawRequest(port,
  `GET ${p} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
  { timeoutMs: 8000 });
const statusOf = (r) => Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1]);

for (const alg of ['RS256', 'ES256']) {
  test(`a ${alg} access token from the provider is accepted`, async () => {
    const token = await idp.tokenFor({ scope: 'workflows:read', audience: 'workflow-api', alg });
    const r = await call(token);
    assert.equal(statusOf(r), 200, r.text);
    assert.equal(up.requests.at(-1).url, '/api/workflow/order-fulfillment');
  });
}

test('a token for another audience is refused', async () => {
  const token = await idp.tokenFor({ scope: 'workflows:read', audience: 'billing-api', alg: 'ES256' });
  const before0 = metricValue(await metrics(adminPort), 'stepgate_auth_failures_total',
    { reason: 'wrong_audience' }) ?? 0;
  const r = await call(token);
  assert.equal(statusOf(r), 401);
  assert.equal(metricValue(await metrics(adminPort), 'stepgate_auth_failures_total',
    { reason: 'wrong_audience' }), before0 + 1);
});

test('an opaque token is not a JWT: refused without an introspection provider', async () => {
  const token = await idp.tokenFor({ audience: 'workflow-api', format: 'opaque' });
  assert.equal(statusOf(await call(token)), 401);
});

test('key rotation at the provider: the first token with the new kid passes', async () => {
  await idp.rotateKeys();
  const token = await idp.tokenFor({ scope: 'workflows:write', audience: 'workflow-api', alg: 'ES256' });
  const waits0 = metricValue(await metrics(adminPort), 'stepgate_auth_key_waits_total') ?? 0;
  const r = await call(token, '/api/workflow/rotated');
  assert.equal(statusOf(r), 200, r.text);
  assert.equal(metricValue(await metrics(adminPort), 'stepgate_auth_key_waits_total'), waits0 + 1);
});

// A stepgate (one worker) whose only provider introspects opaque tokens at the provider,
// with `secretFile` written into its folder (mode 0600) and `provider` merged into the
// provider's settings. `req(token)` calls `urlPath` through it.
async function startIntrospecting({ secretFile, secret, provider, urlPath }) {
  const dir = makeTempDir('stepgate-introspect-');
  fs.writeFileSync(path.join(dir, secretFile), secret, { mode: 0o600 });
  const iport = await freePort();
  const iadmin = await freePort();
  const isg = await startStepgate(writeConfig(dir, {
    listenPort: iport, adminPort: iadmin, upstreamPort: up.port,
    extra: {
      proxy: { workers: 1 },
      identity: {
        providers: [{
          name: 'opaque', type: 'introspection', issuer: idp.issuer,
          introspection_endpoint: `${idp.issuer}/token/introspection`, fetch_timeout: '3s',
          ...provider,
        }],
      },
    },
  }));
  const req = (t) => rawRequest(iport, `GET ${urlPath} HTTP/1.1\r\nHost: gw\r\n`
    + `Authorization: Bearer ${t}\r\nConnection: close\r\n\r\n`, { timeoutMs: 8000 });
  return { isg, iadmin, req };
}

test('opaque tokens through RFC 7662 introspection: accepted, cached, revoked ones refused',
  async () => {
    const { isg, iadmin, req } = await startIntrospecting({
      secretFile: 'client.secret', secret: idp.clientSecret, urlPath: '/api/workflow/opaque',
      provider: {
        client_id: idp.clientId, client_secret_file: 'client.secret',
        claims: { subject: 'client_id', groups: 'scope', groups_space_separated: true },
      },
    });
    try {
      const token = await idp.tokenFor({ scope: 'workflows:read', audience: 'workflow-api',
        format: 'opaque' });
      const r1 = await req(token);
      assert.equal(statusOf(r1), 200, r1.text);
      const r2 = await req(token);
      assert.equal(statusOf(r2), 200);
      const m = await metrics(iadmin);
      assert.equal(metricValue(m, 'stepgate_auth_successes_total', { method: 'introspection' }), 2);
      assert.equal(metricValue(m, 'stepgate_auth_cache_hits_total'), 1,
        'the second request was answered from the worker cache');
      assert.equal(metricValue(m, 'stepgate_introspection_requests_total'), 1,
        'one call to the endpoint for two requests');
      // A token the provider never issued is inactive: 401, and cached as such.
      const bogus = 'x'.repeat(43);
      assert.equal(statusOf(await req(bogus)), 401);
      assert.equal(statusOf(await req(bogus)), 401);
      assert.equal(metricValue(await metrics(iadmin), 'stepgate_auth_failures_total',
        { reason: 'introspection_inactive' }), 2);
    } finally {
      await isg.stop();
    }
  });

test('introspection endpoint down: 503, not a storm of 401s', async () => {
  const dir = makeTempDir('stepgate-introspect-down-');
  fs.writeFileSync(path.join(dir, 'client.secret'), 'a-secret-for-nothing', { mode: 0o600 });
  const deadPort = await freePort();
  const iport = await freePort();
  const isg = await startStepgate(writeConfig(dir, {
    listenPort: iport, upstreamPort: up.port,
    extra: {
      identity: {
        providers: [{
          name: 'opaque', type: 'introspection', issuer: `http://127.0.0.1:${deadPort}`,
          introspection_endpoint: `http://127.0.0.1:${deadPort}/introspect`,
          client_id: 'stepgate', client_secret_file: 'client.secret', fetch_timeout: '1s',
        }],
      },
    },
  }));
  try {
    const r = await rawRequest(iport, 'GET /x HTTP/1.1\r\nHost: gw\r\n'
      + `Authorization: Bearer ${'y'.repeat(40)}\r\nConnection: close\r\n\r\n`, { timeoutMs: 8000 });
    assert.equal(statusOf(r), 503, r.text);
    assert.equal(/\r\nWWW-Authenticate:/i.test(r.text), false);
    assert.equal(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)).error,
      'identity_unavailable');
  } finally {
    await isg.stop();
  }
});

test('introspection with private_key_jwt: the registered key is accepted, another key is 503',
  async () => {
    // A stepgate whose introspection client signs its assertions with `keyPem`.
    const startWithKey = (keyPem) => startIntrospecting({
      secretFile: 'client.pem', secret: keyPem, urlPath: '/api/workflow/pkjwt',
      provider: {
        client_id: idp.keyClient.clientId, client_auth: 'private_key_jwt',
        client_key_file: 'client.pem', client_key_alg: 'ES256', claims: { subject: 'client_id' },
      },
    });

    const good = await startWithKey(idp.keyClient.privateKeyPem);
    try {
      // Two tokens, two introspection calls: each carries its own assertion (the provider
      // refuses a jti it has seen).
      for (const scope of ['workflows:read', 'workflows:write']) {
        const token = await idp.tokenFor({ scope, audience: 'workflow-api', format: 'opaque' });
        const r = await good.req(token);
        assert.equal(statusOf(r), 200, r.text);
      }
      const m = await metrics(good.iadmin);
      assert.equal(metricValue(m, 'stepgate_introspection_requests_total'), 2);
      assert.equal(metricValue(m, 'stepgate_auth_successes_total', { method: 'introspection' }), 2);
    } finally {
      await good.isg.stop();
    }

    // A key the provider does not know: it refuses the client (401 invalid_client), which
    // stepgate treats as the endpoint failing.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const wrong = await startWithKey(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    try {
      const token = await idp.tokenFor({ audience: 'workflow-api', format: 'opaque' });
      const r = await wrong.req(token);
      assert.equal(statusOf(r), 503, r.text);
      assert.equal(/\r\nWWW-Authenticate:/i.test(r.text), false);
      assert.equal(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)).error,
        'identity_unavailable');
    } finally {
      await wrong.isg.stop();
    }
  });
