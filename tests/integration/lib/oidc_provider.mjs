// A real OpenID provider for the integration tests: the npm package `oidc-provider` (installed
// by `npm ci --prefix tests/integration`), run in-process on 127.0.0.1 with an ephemeral port.
// It has one confidential client allowed the client_credentials grant, and resource indicators
// (RFC 8707) so that it issues JWT access tokens (RFC 9068) for an audience, signed RS256 or
// ES256 with keys generated here by node:crypto, or opaque access tokens for introspection
// (RFC 7662). A second client authenticates with private_key_jwt (RFC 7523): its ES256 key
// pair is generated here, the provider knows it by the public JWK, and the private key is
// handed out as PEM (keyClient.privateKeyPem) for stepgate's client_key_file.
//
//   const idp = await startOidcProvider();
//   const token = await idp.tokenFor({ scope: 'workflows:read', audience: 'workflow-api',
//                                      alg: 'ES256' });
//   const opaque = await idp.tokenFor({ audience: 'workflow-api', format: 'opaque' });
//   const jwks = await idp.jwks();           // the public JWKS the provider serves
//   idp.keyClient.clientId, idp.keyClient.privateKeyPem   // the private_key_jwt client
//   await idp.rotateKeys();                  // new signing keys first, old ones still served
//   await idp.close();
//
// For a browser sign-in (the authorization code flow), start it with redirectUris and
// accounts:
//
//   const idp = await startOidcProvider({
//     redirectUris: [`https://127.0.0.1:${port}/.stepgate/oidc/callback`],
//     accounts: { alice: { email: 'alice@example.test', name: 'Alice', groups: ['ops'] } },
//   });
//   idp.browserClient.clientId, idp.browserClient.clientSecret
//
// redirectUris adds a confidential client (browserClient; client_secret_basic, grant types
// authorization_code and refresh_token, response type code, PKCE as the caller sends it)
// and turns on oidc-provider's own development login and consent pages (devInteractions):
// the login page takes any password for a login that is a key of `accounts` (an unknown
// login does not sign in), then the consent page's button grants the requested scopes.
// accounts maps a subject to its claims (email, name, groups; email_verified is true): the
// scopes `profile` (name), `email` (email, email_verified) and `groups` (groups) release
// them, in the ID token too (conformIdTokenClaims: false). The browser client gets a
// refresh token with every code, without offline_access (it lives as long as the
// provider's session). browserClient.accessTokenTTL is the access token lifetime
// (accessTokenTTL), idTokenTTL the ID token's (option idTokenTTL, default 3600 s).
//
// The package missing is an error (the tests that use this must fail, not skip).

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import { HOST, withTimeout } from './util.mjs';

export const CLIENT_ID = 'stepgate-tests';
export const KEY_CLIENT_ID = 'stepgate-tests-pkjwt';
export const BROWSER_CLIENT_ID = 'stepgate-browser';
export const SCOPES = ['workflows:read', 'workflows:write', 'workflows:admin'];
// The OpenID scopes for a browser sign-in and the claims each releases.
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'groups'];
const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: ['name'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};
const ALGS = ['RS256', 'ES256'];
const RESOURCE_PREFIX = 'urn:stepgate:resource:';
const REQUEST_TIMEOUT_MS = 5000;

async function loadProvider() {
  try {
    const mod = await import('oidc-provider');
    return mod.default;
  } catch (err) {
    throw new Error('cannot load the npm package oidc-provider; install the integration test ' +
                    `dependencies with: npm ci --prefix tests/integration (${err.message})`);
  }
}

// A private signing JWK (node:crypto) for `alg`, with a fresh kid.
function signingKey(alg, generation) {
  const kid = `${alg.toLowerCase()}-${generation}-${randomBytes(4).toString('hex')}`;
  const pair = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

// The resource indicator naming `audience` and the format of its tokens: a JWS alg for JWTs,
// or 'opaque'.
function resourceFor(audience, alg) {
  return `${RESOURCE_PREFIX}${alg}:${encodeURIComponent(audience)}`;
}

function parseResource(resource) {
  if (!resource.startsWith(RESOURCE_PREFIX)) return null;
  const rest = resource.slice(RESOURCE_PREFIX.length);
  const colon = rest.indexOf(':');
  const alg = rest.slice(0, colon);
  if (!ALGS.includes(alg) && alg !== 'opaque') return null;
  return { alg, audience: decodeURIComponent(rest.slice(colon + 1)) };
}

// The RFC 7638 thumbprint of an EC public JWK: SHA-256 over its required members in
// lexicographic order, base64url.
function ecThumbprint({ crv, kty, x, y }) {
  return createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
}

// The private_key_jwt client's key pair: the public JWK the provider checks assertions
// with, and the private key as PKCS#8 PEM. The JWK's kid is its RFC 7638 thumbprint, which
// is the kid stepgate puts in its assertions' header (the provider picks the key by kid).
function clientKeyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    publicJwk: { ...jwk, kid: ecThumbprint(jwk), alg: 'ES256', use: 'sig' },
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
  };
}

// The account for subject `sub` from the `accounts` table, in oidc-provider's shape; undefined
// for an unknown subject.
function accountFrom(accounts, sub) {
  if (!Object.hasOwn(accounts, sub)) return undefined;
  const a = accounts[sub];
  return {
    accountId: sub,
    async claims() {
      const claims = { sub };
      if (a.name !== undefined) claims.name = a.name;
      if (a.email !== undefined) {
        claims.email = a.email;
        claims.email_verified = true;
      }
      if (a.groups !== undefined) claims.groups = [...a.groups];
      return claims;
    },
  };
}

/**
 * Starts the provider. Options: accessTokenTTL (seconds, default 300); for browser sign-in
 * (see the header): redirectUris, accounts ({sub: {email, name, groups}}), idTokenTTL
 * (seconds, default 3600).
 * Resolves to { issuer, port, clientId, clientSecret, keyClient, browserClient (with
 * redirectUris only), tokenFor, jwks, rotateKeys, close }.
 */
export async function startOidcProvider({ accessTokenTTL = 300, redirectUris, accounts = {},
                                          idTokenTTL = 3600 } = {}) {
  const Provider = await loadProvider();
  const clientSecret = randomBytes(24).toString('base64url');
  const browser = Array.isArray(redirectUris) && redirectUris.length > 0;
  const browserSecret = browser ? randomBytes(24).toString('base64url') : undefined;
  let handler = (req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  await withTimeout(new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  }), 5000, 'oidc provider listen');
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;

  let generation = 0;
  let keys = ALGS.map((alg) => signingKey(alg, generation));
  const clientKey = clientKeyPair();
  // One cookie key for every provider instance (rotateKeys makes a new one), so a browser's
  // sign-in session survives a key rotation.
  const cookieKey = randomBytes(32).toString('hex');

  const makeProvider = () => {
    const provider = new Provider(issuer, {
      clients: [{
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      }, {
        // Introspects with a signed client assertion; the introspection endpoint takes the
        // token endpoint's auth method.
        client_id: KEY_CLIENT_ID,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [clientKey.publicJwk] },
      }, ...(browser ? [{
        // Signs people in with the authorization code flow (stepgate's OIDC login).
        client_id: BROWSER_CLIENT_ID,
        client_secret: browserSecret,
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [...redirectUris],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      }] : [])],
      jwks: { keys },
      cookies: { keys: [cookieKey] },
      ttl: {
        ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL,
        AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL,
        IdToken: idTokenTTL,
      },
      scopes: browser ? [...OIDC_SCOPES, ...SCOPES] : ['openid', ...SCOPES],
      claims: browser ? SCOPE_CLAIMS : undefined,
      conformIdTokenClaims: false,
      findAccount: (ctx, sub) => accountFrom(accounts, sub),
      // The browser client gets a refresh token without asking for offline_access; the
      // others keep the provider's default.
      issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token') &&
        (client.clientId === BROWSER_CLIENT_ID || code.scopes.has('offline_access')),
      features: {
        devInteractions: { enabled: browser },
        clientCredentials: { enabled: true },
        // Any authenticated client may introspect (the tests' client is the only one).
        introspection: { enabled: true, allowedPolicy: () => true },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // A browser sign-in names no resource: its access token is for the userinfo
          // endpoint, and the scopes' claims go into the ID token.
          defaultResource: (ctx, client) => (client?.clientId === BROWSER_CLIENT_ID
            ? undefined : resourceFor('workflow-api', 'RS256')),
          useGrantedResource: () => true,
          getResourceServerInfo: (ctx, resourceIndicator) => {
            const parsed = parseResource(resourceIndicator);
            if (!parsed) throw new Provider.errors.InvalidTarget();
            if (parsed.alg === 'opaque') {
              return { scope: SCOPES.join(' '), audience: parsed.audience, accessTokenTTL,
                       accessTokenFormat: 'opaque' };
            }
            return {
              scope: SCOPES.join(' '),
              audience: parsed.audience,
              accessTokenTTL,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: parsed.alg } },
            };
          },
        },
      },
    });
    provider.proxy = false;
    // Errors a test provokes on purpose are answered; they need not reach the console.
    provider.on('server_error', (ctx, err) => {
      console.error(`oidc-provider server_error: ${err.message}`);
    });
    return provider;
  };
  let provider = makeProvider();
  handler = provider.callback();

  const endpoint = (path) => `${issuer}${path}`;

  async function request(path, init = {}) {
    const res = await fetch(endpoint(path), {
      ...init,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, headers: res.headers, body };
  }

  const basic = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:` +
                                     `${encodeURIComponent(clientSecret)}`).toString('base64')}`;

  return {
    issuer,
    port,
    clientId: CLIENT_ID,
    clientSecret,
    keyClient: { clientId: KEY_CLIENT_ID, privateKeyPem: clientKey.privateKeyPem },
    browserClient: browser ? {
      clientId: BROWSER_CLIENT_ID,
      clientSecret: browserSecret,
      redirectUris: [...redirectUris],
      accessTokenTTL,
      idTokenTTL,
    } : undefined,

    // An access token for `audience` with `scope`: a JWT signed with `alg` (RS256, ES256), or
    // with format 'opaque' an opaque token only introspection can check.
    async tokenFor({ scope = 'workflows:read', audience = 'workflow-api', alg = 'RS256',
                     format = 'jwt' } = {}) {
      if (!ALGS.includes(alg)) throw new Error(`unsupported alg ${alg}`);
      if (format !== 'jwt' && format !== 'opaque') throw new Error(`unknown format ${format}`);
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        scope,
        resource: resourceFor(audience, format === 'opaque' ? 'opaque' : alg),
      });
      const res = await request('/token', {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      if (res.status !== 200 || typeof res.body?.access_token !== 'string') {
        throw new Error(`token request failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      }
      return res.body.access_token;
    },

    // The discovery document, as served.
    async discovery() {
      const res = await request('/.well-known/openid-configuration');
      if (res.status !== 200) throw new Error(`discovery failed: HTTP ${res.status}`);
      return res.body;
    },

    // The public JWKS, as served at the discovery document's jwks_uri.
    async jwks() {
      const { jwks_uri: uri } = await this.discovery();
      const res = await request(new URL(uri).pathname);
      if (res.status !== 200) throw new Error(`jwks failed: HTTP ${res.status}`);
      return res.body;
    },

    // RFC 7662 introspection of `token` with the client's credentials.
    async introspect(token) {
      const res = await request('/token/introspection', {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      return res.body;
    },

    // New signing keys for every alg; they sign from now on, the previous keys stay in the
    // JWKS (so tokens already issued still verify). Returns the new kids.
    async rotateKeys() {
      generation += 1;
      const fresh = ALGS.map((alg) => signingKey(alg, generation));
      const previous = keys.filter((k) => k.kid.includes(`-${generation - 1}-`));
      keys = [...fresh, ...previous];
      provider = makeProvider();
      handler = provider.callback();
      return fresh.map((k) => k.kid);
    },

    async close() {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await withTimeout(closed, 5000, 'oidc provider close');
    },
  };
}
