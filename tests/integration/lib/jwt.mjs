// JWT signing for the tests, with node:crypto only — an issuer independent of stepgate's
// own code. Keys are generated per test run.
import crypto from 'node:crypto';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// {privateKey, publicJwk} for 'ES256' (P-256) or 'RS256' (RSA 2048) or 'EdDSA' (Ed25519).
export function makeKey(alg, kid) {
  let pair;
  if (alg === 'ES256') pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  else if (alg === 'RS256') pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (alg === 'EdDSA') pair = crypto.generateKeyPairSync('ed25519');
  else throw new Error(`makeKey: unsupported ${alg}`);
  const jwk = pair.publicKey.export({ format: 'jwk' });
  return { alg, kid, privateKey: pair.privateKey, publicKey: pair.publicKey,
    publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

export function jwks(...keys) {
  return JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
}

// Signs `claims` with `key`; `header` overrides header members (e.g. {alg: 'none'}).
export function sign(key, claims, header = {}) {
  const h = { alg: key.alg, typ: 'JWT', kid: key.kid, ...header };
  const input = `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(claims))}`;
  let sig;
  if (key.alg === 'ES256') {
    sig = crypto.sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  } else if (key.alg === 'RS256') {
    sig = crypto.sign('sha256', Buffer.from(input), key.privateKey);
  } else {
    sig = crypto.sign(null, Buffer.from(input), key.privateKey);
  }
  return `${input}.${b64url(sig)}`;
}

export const now = () => Math.floor(Date.now() / 1000);
