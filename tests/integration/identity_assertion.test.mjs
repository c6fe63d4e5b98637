// stepgate as an issuer: its JWKS at /.well-known/jwks.json on the listener, and the signed
// identity assertion it sends upstream (docs/sessions.md). The assertion is verified here with
// node:crypto against the JWKS stepgate serves, not with stepgate's own code; inbound copies of
// the header never reach the upstream.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  startUpstream, writeConfig, startStepgate, freePort, makeTempDir, sendRequest, statusOf, bodyOf,
} from './lib/harness.mjs';
import { makeKey, jwks, sign, now } from './lib/jwt.mjs';

const ISSUER = 'https://issuer.stepgate.test';
const SELF = 'https://stepgate.example.test';
const AUD = 'workflow-api';

const get = (port, pathName, headers = '') => sendRequest(port, 'GET', pathName, { headers });

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// Verifies a compact ES256 JWT against a JWKS document with node:crypto alone.
function verifyEs256(token, jwksDoc) {
  const [h, p, s] = token.split('.');
  const header = b64json(h);
  assert.equal(header.alg, 'ES256');
  const jwk = jwksDoc.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} in the JWKS`);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(s, 'base64url'));
  return { ok, header, claims: b64json(p) };
}

describe('stepgate issuer: JWKS and upstream identity assertions', () => {
  let up;
  let sg;
  let port;
  let dir;
  const idp = makeKey('ES256', 'idp-1');

  before(async () => {
    up = await startUpstream();
    dir = makeTempDir('stepgate-assertion-');
    fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(idp));
    port = await freePort();
    const file = writeConfig(dir, {
      listenPort: port, upstreamPort: up.port,
      upstream: { identity_assertion: { header: 'X-Stepgate-Identity', ttl: '45s' } },
      extra: {
        issuer: { url: SELF, signing_key: 'stepgate-es256.pem' },
        identity: {
          providers: [{
            name: 'corp', type: 'jwt', issuer: ISSUER, audiences: [AUD],
            algorithms: ['ES256'], jwks_file: 'jwks.json', claims: { groups: 'groups' },
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

  test('the key is created with mode 0600 and the JWKS is served on the listener', async () => {
    const st = fs.statSync(path.join(dir, 'stepgate-es256.pem'));
    assert.equal(st.mode & 0o777, 0o600);
    const r = await get(port, '/.well-known/jwks.json');
    assert.equal(statusOf(r), 200);
    assert.match(r.text, /\r\nContent-Type: application\/jwk-set\+json\r\n/i);
    const doc = JSON.parse(bodyOf(r));
    assert.equal(doc.keys.length, 1);
    assert.equal(doc.keys[0].kty, 'EC');
    assert.equal(doc.keys[0].crv, 'P-256');
    assert.equal(doc.keys[0].d, undefined, 'no private part');
    assert.equal(up.requests.filter((q) => q.url === '/.well-known/jwks.json').length, 0);
  });

  test('an authenticated request carries a verifiable assertion; inbound copies are dropped',
    async () => {
      const jwksDoc = JSON.parse(bodyOf(await get(port, '/.well-known/jwks.json')));
      const t = now();
      const token = sign(idp, { iss: ISSUER, sub: 'alice', aud: AUD, iat: t, exp: t + 300,
        groups: ['ops', 'payments-oncall'] });
      const seen = up.requests.length;
      const r = await get(port, '/api/workflow/x',
        `Authorization: Bearer ${token}\r\nX-Stepgate-Identity: forged.by.client\r\n`);
      assert.equal(statusOf(r), 200);
      const got = up.requests[seen];
      const values = Object.entries(got.headers)
        .filter(([k]) => k.toLowerCase() === 'x-stepgate-identity').map(([, v]) => v);
      assert.equal(values.length, 1);
      assert.notEqual(values[0], 'forged.by.client');
      const v = verifyEs256(values[0], jwksDoc);
      assert.equal(v.ok, true, 'signature verifies with the served JWKS');
      assert.equal(v.header.typ, 'stepgate-identity+jwt');
      assert.equal(v.claims.iss, SELF);
      assert.equal(v.claims.sub, 'alice');
      assert.deepEqual([...v.claims.groups].sort(), ['ops', 'payments-oncall']);
      assert.equal(v.claims.aud, `http://127.0.0.1:${up.port}`);
      assert.ok(v.claims.exp - v.claims.iat <= 45, 'ttl as configured');
      assert.ok(v.claims.exp > now());
      // A tampered copy does not verify.
      const [h, p, s] = values[0].split('.');
      const evil = Buffer.from(JSON.stringify({ ...v.claims, sub: 'mallory' })).toString('base64url');
      assert.equal(verifyEs256(`${h}.${evil}.${s}`, jwksDoc).ok, false);
      assert.ok(p.length > 0);
    });

  test('a request that fails authentication never reaches the upstream', async () => {
    const seen = up.requests.length;
    const r = await get(port, '/api/workflow/x', 'X-Stepgate-Identity: forged\r\n');
    assert.equal(statusOf(r), 401);
    assert.equal(up.requests.length, seen);
  });
});

describe('issuer key rotation: the previous key stays in the JWKS', () => {
  test('issuer.previous_keys are published after the current key, never private parts',
    async () => {
      const up = await startUpstream();
      const dir = makeTempDir('stepgate-issuer-rotation-');
      // The key used so far, kept as its public half (written by node:crypto, not stepgate).
      const old = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      fs.writeFileSync(path.join(dir, 'old.pub.pem'),
        old.publicKey.export({ type: 'spki', format: 'pem' }));
      const port = await freePort();
      const adminPort = await freePort();
      const sg = await startStepgate(writeConfig(dir, {
        listenPort: port, adminPort, upstreamPort: up.port,
        extra: { issuer: { url: SELF, signing_key: 'new.pem', previous_keys: ['old.pub.pem'] } },
      }));
      try {
        const r = await get(port, '/.well-known/jwks.json');
        assert.equal(statusOf(r), 200, r.text);
        const doc = JSON.parse(bodyOf(r));
        assert.equal(doc.keys.length, 2);
        const oldJwk = old.publicKey.export({ format: 'jwk' });
        assert.equal(doc.keys[1].x, oldJwk.x);
        assert.equal(doc.keys[1].y, oldJwk.y);
        assert.notEqual(doc.keys[0].x, oldJwk.x);
        // RFC 7638 thumbprint of the old key as its kid, computed here.
        const canon = JSON.stringify({ crv: 'P-256', kty: 'EC', x: oldJwk.x, y: oldJwk.y });
        assert.equal(doc.keys[1].kid,
          crypto.createHash('sha256').update(canon).digest('base64url'));
        for (const k of doc.keys) assert.equal(k.d, undefined);
      } finally {
        await sg.stop();
        await up.close();
      }
    });
});
