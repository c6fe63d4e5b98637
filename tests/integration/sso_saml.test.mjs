// Browser sign-in with SAML through stepgate, end to end (docs/sso.md). The test is the IdP:
// it follows the 302 from {prefix}/login, inflates the AuthnRequest, answers with a SAML
// Response signed by the xmlsec1 command-line tool (a signer independent of stepgate; the
// signing is lib/saml_idp.mjs's, shared with the browser tests' IdP), posts
// it to the ACS with the login-state cookie and uses the session cookie on the proxied API:
// CSRF for state-changing calls, the cookie never forwarded, a stepgate access token accepted
// as a bearer token, logout, and refused responses (replay, wrong audience, tampering).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import {
  startUpstream, writeConfig, startStepgate, freePort, makeTempDir, metrics, metricValue,
  sendRequest as send, statusOf, bodyOf, headerValues, cookiePair,
} from './lib/harness.mjs';
import { ROUTES } from './lib/audit_helpers.mjs';
import { signedSamlResponse } from './lib/saml_idp.mjs';

const SOURCE = process.env.STEPGATE_SOURCE_DIR ?? path.resolve(import.meta.dirname, '../..');
const FIX = path.join(SOURCE, 'tests/fixtures/saml');
const SELF = 'https://sg.example.test';
const PREFIX = '/.stepgate';
const ACS = `${SELF}${PREFIX}/saml/acs`;
const SP = `${SELF}/saml/sp`;
const IDP = 'https://idp.example.test/saml';
const IDP_SSO = 'https://idp.example.test/sso';

// A signed SAML Response for `requestId` (the Assertion carries the signature), made with
// the xmlsec1 CLI by lib/saml_idp.mjs.
function samlResponse(dir, requestId, { audience = SP, subject = 'alice@example.test',
  groups = ['ops', 'dev'] } = {}) {
  return signedSamlResponse({ dir, requestId, destination: ACS, issuer: IDP, audience,
    subject, groups });
}

describe('SAML sign-in, session cookie and stepgate tokens', () => {
  let up;
  let sg;
  let port;
  let adminPort;
  let dir;

  before(async () => {
    up = await startUpstream();
    dir = makeTempDir('stepgate-sso-');
    fs.copyFileSync(path.join(FIX, 'idp-cert.pem'), path.join(dir, 'idp-cert.pem'));
    const pdir = path.join(dir, 'policies');
    fs.mkdirSync(pdir);
    fs.writeFileSync(path.join(pdir, 'payments.yaml'), `workflow: payments
rules:
  - id: ops
    allow: [start, read]
    who: { groups: [ops] }
`);
    port = await freePort();
    adminPort = await freePort();
    const file = writeConfig(dir, {
      listenPort: port, adminPort, upstreamPort: up.port,
      upstream: { routes: ROUTES },
      extra: {
        issuer: { url: SELF, signing_key: 'stepgate-es256.pem' },
        sso: {
          session: { key_file: 'session.key' },
          saml: {
            entity_id: SP, acs_url: ACS, idp_entity_id: IDP, idp_cert: 'idp-cert.pem',
            idp_sso_url: IDP_SSO, groups_attribute: 'groups',
          },
        },
        policies: 'policies',
        log: { level: 'debug' },
      },
    });
    sg = await startStepgate(file);
  });
  after(async () => {
    await sg?.stop();
    await up?.close();
  });

  // Starts a login: the AuthnRequest's ID and the login-state cookie.
  async function beginLogin(returnTo = '/api/workflow/payments/status') {
    const r = await send(port, 'GET', `${PREFIX}/login?return_to=${encodeURIComponent(returnTo)}`);
    assert.equal(statusOf(r), 302, r.text);
    const location = new URL(headerValues(r, 'location')[0]);
    assert.equal(`${location.origin}${location.pathname}`, IDP_SSO);
    const request = zlib.inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest'),
      'base64')).toString('utf8');
    const id = /ID="([^"]+)"/.exec(request)[1];
    assert.match(request, /AuthnRequest/);
    assert.ok(request.includes(ACS), 'the ACS URL is in the request');
    const setCookie = headerValues(r, 'set-cookie')[0];
    assert.match(setCookie, /SameSite=None/);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /Secure/);
    return { id, relayState: location.searchParams.get('RelayState'),
      loginCookie: cookiePair(setCookie) };
  }

  function postAcs(login, xml) {
    const form = `SAMLResponse=${encodeURIComponent(Buffer.from(xml).toString('base64'))}`
      + `&RelayState=${encodeURIComponent(login.relayState)}`;
    return send(port, 'POST', `${PREFIX}/saml/acs`, {
      headers: `Content-Type: application/x-www-form-urlencoded\r\nCookie: ${login.loginCookie}\r\n`,
      body: form,
    });
  }

  async function signIn() {
    const login = await beginLogin();
    const xml = samlResponse(dir, login.id);
    const r = await postAcs(login, xml);
    assert.equal(statusOf(r), 303, r.text);
    assert.equal(headerValues(r, 'location')[0], '/api/workflow/payments/status');
    const cookies = headerValues(r, 'set-cookie');
    const session = cookies.find((c) => c.startsWith('__Host-stepgate-session='));
    assert.ok(session, 'a session cookie');
    assert.ok(cookies.some((c) => c.startsWith('__Host-stepgate-session-login=;')),
      'the login-state cookie is cleared');
    const cookie = cookiePair(session);
    const info = await send(port, 'GET', `${PREFIX}/session`, { headers: `Cookie: ${cookie}\r\n` });
    assert.equal(statusOf(info), 200, info.text);
    return { cookie, info: JSON.parse(bodyOf(info)), login, xml };
  }

  test('metadata is served', async () => {
    const r = await send(port, 'GET', `${PREFIX}/saml/metadata`);
    assert.equal(statusOf(r), 200);
    assert.ok(bodyOf(r).includes(SP));
    assert.ok(bodyOf(r).includes(ACS));
  });

  test('sign in, use the API with the cookie, CSRF, token, logout', async () => {
    const { cookie, info } = await signIn();
    assert.equal(info.subject, 'alice@example.test');
    assert.deepEqual(info.groups, ['dev', 'ops']);
    assert.equal(info.csrf_token.length, 43);

    // A read with the cookie: allowed by the policy; the upstream never sees our cookie.
    const seen = up.requests.length;
    const r = await send(port, 'GET', '/api/workflow/payments/status',
      { headers: `Cookie: theme=dark; ${cookie}\r\n` });
    assert.equal(statusOf(r), 200, r.text);
    const got = up.requests[seen];
    assert.equal(got.headers.cookie, 'theme=dark');

    // State-changing without the CSRF token: 403 csrf; with it: 200.
    const noCsrf = await send(port, 'POST', '/api/workflow/payments',
      { headers: `Cookie: ${cookie}\r\n`, body: '{}' });
    assert.equal(statusOf(noCsrf), 403);
    assert.equal(JSON.parse(bodyOf(noCsrf)).error, 'csrf');
    const withCsrf = await send(port, 'POST', '/api/workflow/payments',
      { headers: `Cookie: ${cookie}\r\nX-CSRF-Token: ${info.csrf_token}\r\n`, body: '{}' });
    assert.equal(statusOf(withCsrf), 200, withCsrf.text);
    assert.equal(up.requests.at(-1).headers.cookie, undefined, 'no cookie header left');

    // A token for the command line, accepted as a bearer token.
    const noCsrfToken = await send(port, 'POST', `${PREFIX}/token`, { headers: `Cookie: ${cookie}\r\n` });
    assert.equal(statusOf(noCsrfToken), 403);
    const t = await send(port, 'POST', `${PREFIX}/token`,
      { headers: `Cookie: ${cookie}\r\nX-CSRF-Token: ${info.csrf_token}\r\n` });
    assert.equal(statusOf(t), 200, t.text);
    const tok = JSON.parse(bodyOf(t));
    assert.equal(tok.token_type, 'Bearer');
    assert.equal(tok.expires_in, 3600);
    const claims = JSON.parse(Buffer.from(tok.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.sub, 'alice@example.test');
    assert.equal(claims.iss, SELF);
    const b = await send(port, 'POST', '/api/workflow/payments',
      { headers: `Authorization: Bearer ${tok.access_token}\r\n`, body: '{}' });
    assert.equal(statusOf(b), 200, b.text);

    // Logout: the cookie stops working.
    const out = await send(port, 'POST', `${PREFIX}/logout`,
      { headers: `Cookie: ${cookie}\r\nX-CSRF-Token: ${info.csrf_token}\r\n` });
    assert.equal(statusOf(out), 200, out.text);
    assert.ok(headerValues(out, 'set-cookie')[0].includes('Max-Age=0'));
    const after = await send(port, 'GET', '/api/workflow/payments/status',
      { headers: `Cookie: ${cookie}\r\n` });
    assert.equal(statusOf(after), 401);
    // ... and so does the access token minted for that session (its sid is revoked).
    const bAfter = await send(port, 'GET', '/api/workflow/payments/status',
      { headers: `Authorization: Bearer ${tok.access_token}\r\n` });
    assert.equal(statusOf(bAfter), 401, bAfter.text);
    assert.match(headerValues(bAfter, 'www-authenticate')[0] ?? '', /invalid_token/);
    const m = await metrics(adminPort);
    assert.equal(metricValue(m, 'stepgate_auth_failures_total', { reason: 'session_revoked' }), 1);
  });

  test('a replayed response is refused', async () => {
    const { login, xml } = await signIn();
    const r = await postAcs(login, xml);
    assert.equal(statusOf(r), 403);
    assert.equal(JSON.parse(bodyOf(r)).error, 'replay');
  });

  test('a response for another audience is refused', async () => {
    const login = await beginLogin();
    const r = await postAcs(login, samlResponse(dir, login.id, { audience: 'https://other.example' }));
    assert.equal(statusOf(r), 403);
    assert.equal(JSON.parse(bodyOf(r)).error, 'wrong_audience');
  });

  test('a tampered response is refused', async () => {
    const login = await beginLogin();
    const xml = samlResponse(dir, login.id).replace('alice@example.test', 'admin@example.test');
    const r = await postAcs(login, xml);
    assert.equal(statusOf(r), 403);
    assert.equal(JSON.parse(bodyOf(r)).error, 'bad_signature');
  });

  test('a response for another login (InResponseTo) is refused', async () => {
    const first = await beginLogin();
    const second = await beginLogin();
    const r = await postAcs(second, samlResponse(dir, first.id));
    assert.equal(statusOf(r), 403);
    assert.equal(JSON.parse(bodyOf(r)).error, 'wrong_in_response_to');
  });

  test('refusals are counted', async () => {
    const m = await metrics(adminPort);
    assert.ok(metricValue(m, 'stepgate_sso_logins_total') >= 2);
    assert.ok(metricValue(m, 'stepgate_sso_login_failures_total', { reason: 'replay' }) >= 1);
    assert.ok(metricValue(m, 'stepgate_session_csrf_failures_total') >= 1);
  });
});
