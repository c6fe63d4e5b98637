// Self-test of the OpenID provider fixture (lib/oidc_provider.mjs): it starts, issues JWT
// access tokens for an audience by client_credentials, serves the keys that verify them, and
// rotates keys. Verification here uses node:crypto only. Needs `npm ci --prefix
// tests/integration`; without it this test fails.

import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, test } from 'node:test';

import { startOidcProvider } from './lib/oidc_provider.mjs';

let idp;
before(async () => {
  idp = await startOidcProvider();
});
after(async () => {
  await idp?.close();
});

function decodePart(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// Checks `token`'s signature against the JWKS and returns {header, claims}.
function verifyJwt(token, jwks) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'a compact JWS has three parts');
  const header = decodePart(parts[0]);
  const claims = decodePart(parts[1]);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `the JWKS has the token's kid ${header.kid}`);
  assert.equal(jwk.d, undefined, 'the served JWKS has no private members');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2], 'base64url');
  const ok = header.alg === 'ES256'
    ? verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)
    : verify('sha256', data, key, sig);
  assert.ok(ok, `signature verifies (${header.alg})`);
  return { header, claims };
}

test('discovery names the issuer and a loopback jwks_uri', async () => {
  const doc = await idp.discovery();
  assert.equal(doc.issuer, idp.issuer);
  assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(doc.jwks_uri.startsWith(`${idp.issuer}/`));
  assert.ok(doc.token_endpoint);
  assert.ok(doc.introspection_endpoint);
});

for (const alg of ['RS256', 'ES256']) {
  test(`client_credentials issues a ${alg} JWT access token for the audience`, async () => {
    const token = await idp.tokenFor({ scope: 'workflows:read workflows:write',
                                       audience: 'workflow-api', alg });
    const jwks = await idp.jwks();
    const { header, claims } = verifyJwt(token, jwks);
    assert.equal(header.alg, alg);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.aud, 'workflow-api');
    assert.equal(claims.client_id, idp.clientId);
    assert.deepEqual(claims.scope.split(' ').sort(), ['workflows:read', 'workflows:write']);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(claims.exp > now && claims.exp <= now + 301, 'exp within the configured TTL');
    assert.ok(claims.iat <= now + 1);
  });
}

test('tokens name the audience asked for; a tampered token does not verify', async () => {
  const token = await idp.tokenFor({ audience: 'other-api' });
  const jwks = await idp.jwks();
  assert.equal(verifyJwt(token, jwks).claims.aud, 'other-api');
  const [h, p, s] = token.split('.');
  const claims = decodePart(p);
  claims.aud = 'workflow-api';
  const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  assert.throws(() => verifyJwt(forged, jwks), /signature verifies/);
});

test('introspection reports an opaque token active, a made-up one inactive', async () => {
  const token = await idp.tokenFor({ audience: 'workflow-api', format: 'opaque',
                                     scope: 'workflows:admin' });
  assert.equal(token.split('.').length, 1, 'opaque, not a JWT');
  const info = await idp.introspect(token);
  assert.equal(info.active, true);
  assert.equal(info.client_id, idp.clientId);
  assert.equal(info.aud, 'workflow-api');
  assert.equal(info.scope, 'workflows:admin');
  assert.equal((await idp.introspect('not-a-token')).active, false);
});

test('rotateKeys signs with new kids and keeps the previous keys in the JWKS', async () => {
  const before = await idp.tokenFor({ alg: 'ES256' });
  const oldKid = decodePart(before.split('.')[0]).kid;
  const newKids = await idp.rotateKeys();
  assert.equal(newKids.length, 2);
  const afterToken = await idp.tokenFor({ alg: 'ES256' });
  const { header } = verifyJwt(afterToken, await idp.jwks());
  assert.ok(newKids.includes(header.kid), 'the new token uses a new kid');
  assert.notEqual(header.kid, oldKid);
  verifyJwt(before, await idp.jwks());  // the old token still verifies
});
