// Browser sign-in with OIDC, in a real browser (headless Chromium driven by playwright-core):
// a person opens the demo orchestrator's page through stepgate over TLS, is sent through
// {prefix}/login to the authorization endpoint of a real OpenID provider (the npm package
// oidc-provider, lib/oidc_provider.mjs), signs in on its login page and grants on its consent
// page, and comes back through {prefix}/oidc/callback (code exchange with
// client_secret_basic, PKCE) to the page, signed in: the page shows who stepgate's identity
// assertion names and starts a workflow with the session's CSRF token. Then the session is
// refreshed with the provider's refresh token ({prefix}/refresh, CSRF) and ended by logout.
// Everything runs on 127.0.0.1: the demo orchestrator (`stepgate demo --orchestrator-only`),
// the provider, stepgate and the browser.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { httpRequest, metrics, metricValue } from './lib/harness.mjs';
import { startOidcProvider } from './lib/oidc_provider.mjs';
import {
  clickForResult, recordNavigations, startOnThePage, startSignInEnv,
} from './lib/sign_in.mjs';

const PREFIX = '/.stepgate';
const SESSION_COOKIE = '__Host-stepgate-session';
const ACCOUNTS = {
  alice: { email: 'alice@example.test', name: 'Alice Example', groups: ['ops', 'dev'] },
};

// A call from the page's own script (same origin, the browser's cookies): the session's
// CSRF token first, then `method path` with it unless withCsrf is false.
function pageCall(page, method, p, { withCsrf = true } = {}) {
  return page.evaluate(async ({ method, p, withCsrf, prefix }) => {
    const s = await fetch(`${prefix}/session`, { credentials: 'same-origin' });
    const csrf = s.status === 200 ? (await s.json()).csrf_token : '';
    const headers = withCsrf ? { 'X-CSRF-Token': csrf } : {};
    const r = await fetch(p, { method, credentials: 'same-origin', headers, redirect: 'manual' });
    return { status: r.status, body: await r.text(), sessionStatus: s.status };
  }, { method, p, withCsrf, prefix: PREFIX });
}

describe('OIDC sign-in in a browser, through stepgate to the demo orchestrator', () => {
  let env;
  let demo;
  let idp;
  let port;
  let adminPort;
  let origin;
  let browser;
  let page;

  before(async () => {
    env = await startSignInEnv('stepgate-browser-oidc-', async ({ origin: o, dir }, started) => {
      const redirectUri = `${o}${PREFIX}/oidc/callback`;
      const provider = await startOidcProvider({ redirectUris: [redirectUri], accounts: ACCOUNTS });
      started(provider);
      fs.writeFileSync(path.join(dir, 'client-secret'), `${provider.browserClient.clientSecret}\n`,
        { mode: 0o600 });
      return {
        identity: {
          providers: [{
            name: 'test-idp',
            type: 'oidc',
            issuer: provider.issuer,
            algorithms: ['RS256', 'ES256'],
            claims: { subject: 'sub', groups: 'groups', name: 'name', email: 'email' },
          }],
        },
        sso: {
          session: { key_file: 'session.key' },
          oidc: {
            provider: 'test-idp',
            client_id: provider.browserClient.clientId,
            client_auth: 'client_secret_basic',
            client_secret_file: 'client-secret',
            redirect_uri: redirectUri,
            scopes: ['openid', 'profile', 'email', 'groups'],
          },
        },
      };
    });
    ({ demo, idp, port, adminPort, origin } = env);
    browser = await env.browser();
    page = await browser.newPage();
  });

  after(() => env?.stop());

  const sessionCookie = async () => (await browser.context.cookies(origin))
    .find((c) => c.name === SESSION_COOKIE);

  test('alice signs in on the provider\'s login and consent pages and lands on the page',
    async () => {
    const navigations = recordNavigations(page);
    await page.goto(`${origin}/`);
    const trail = () => navigations.join(' -> ');
    assert.equal(navigations[1], `${origin}${PREFIX}/login?return_to=${encodeURIComponent('/')}`,
      `stepgate redirected the navigation to its login endpoint: ${trail()}`);
    const authorize = navigations.map((u) => new URL(u))
      .find((u) => u.origin === idp.issuer && u.pathname === '/auth');
    assert.ok(authorize, `the browser reached the authorization endpoint: ${trail()}`);
    const q = authorize.searchParams;
    assert.equal(q.get('client_id'), idp.browserClient.clientId);
    assert.equal(q.get('redirect_uri'), `${origin}${PREFIX}/oidc/callback`);
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.ok(q.get('state') && q.get('nonce') && q.get('code_challenge'));
    assert.deepEqual(q.get('scope').split(' ').sort(), ['email', 'groups', 'openid', 'profile']);

    // oidc-provider's login page (any password for a known login), then its consent page.
    assert.ok(page.url().startsWith(`${idp.issuer}/interaction/`), page.url());
    await page.waitForSelector('input[name="prompt"][value="login"]', { state: 'attached' });
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'any-password');
    await page.click('button[type="submit"]');
    await page.waitForSelector('input[name="prompt"][value="consent"]', { state: 'attached' });
    const responses = [];
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) responses.push(r);
    });
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => !u.href.startsWith(`${idp.issuer}/`));
    assert.equal(page.url(), `${origin}/`,
      `ended at ${page.url()} (${responses.at(-1)?.status()}): ` +
      `${(await page.textContent('body')).slice(0, 500)}; ${trail()}`);
    assert.equal(responses.at(-1).status(), 200);
    assert.ok(navigations.some((u) => u.startsWith(`${origin}${PREFIX}/oidc/callback?`)),
      `back through the callback: ${trail()}`);

    assert.equal((await page.textContent('#title')).trim(), 'Demo orchestrator');
    assert.equal((await page.textContent('#who')).trim(), 'Signed in as alice');

    const session = await sessionCookie();
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');

    const info = await pageCall(page, 'GET', `${PREFIX}/session`);
    assert.equal(info.status, 200, info.body);
    const s = JSON.parse(info.body);
    assert.equal(s.subject, 'alice');
    assert.deepEqual([...s.groups].sort(), ['dev', 'ops']);
  });

  test('the page starts a workflow with the CSRF token, and is refused without it', async () => {
    await startOnThePage(page, browser, demo);
    const refused = await clickForResult(page, '#start-no-csrf');
    assert.match(refused, /^error 403\b/);
  });

  test('refresh (with the CSRF token) renews the session cookie', async () => {
    const before = await sessionCookie();
    const noCsrf = await pageCall(page, 'POST', `${PREFIX}/refresh`, { withCsrf: false });
    assert.equal(noCsrf.status, 403, noCsrf.body);
    assert.equal((await sessionCookie()).value, before.value, 'a refused refresh changes nothing');

    const r = await pageCall(page, 'POST', `${PREFIX}/refresh`);
    assert.equal(r.status, 200, r.body);
    const renewed = await sessionCookie();
    assert.ok(renewed, 'still a session cookie');
    assert.notEqual(renewed.value, before.value, 'a new session cookie');
    assert.equal(renewed.httpOnly, true);
    assert.equal(renewed.secure, true);

    // The renewed session works for the page and its calls.
    const again = await page.reload();
    assert.equal(again.status(), 200);
    assert.equal((await page.textContent('#who')).trim(), 'Signed in as alice');
    assert.match(await clickForResult(page, '#start'), /^started [0-9a-f-]{36}$/);
  });

  test('logout ends the session: the old cookie is refused, a navigation goes to login',
    async () => {
    const old = await sessionCookie();
    const out = await pageCall(page, 'POST', `${PREFIX}/logout`);
    assert.equal(out.status, 200, out.body);
    assert.equal(await sessionCookie(), undefined, 'the browser dropped the session cookie');

    // The old cookie, replayed from outside the browser, no longer authenticates.
    const replay = await httpRequest(port, {
      path: `${PREFIX}/session`, tls: true, timeoutMs: 5000,
      headers: { cookie: `${SESSION_COOKIE}=${old.value}` },
    });
    assert.equal(replay.status, 401, replay.body);

    // The next navigation is sent to the login endpoint again. Logging out of stepgate does
    // not end the provider's own login session (no password is asked), but it revoked the
    // refresh token there (RFC 7009), which ended alice's grant: the provider asks for her
    // consent again before it sends her back through the callback to a new session.
    const navigations = recordNavigations(page);
    await page.goto(`${origin}/`);
    const trail = () => navigations.join(' -> ');
    assert.equal(navigations[1], `${origin}${PREFIX}/login?return_to=${encodeURIComponent('/')}`,
      trail());
    assert.ok(navigations.some((u) => u.startsWith(`${idp.issuer}/auth`)), trail());
    await page.waitForSelector('input[name="prompt"]', { state: 'attached' });
    assert.equal(await page.getAttribute('input[name="prompt"]', 'value'), 'consent', trail());
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => !u.href.startsWith(`${idp.issuer}/`));
    assert.ok(navigations.some((u) => u.startsWith(`${origin}${PREFIX}/oidc/callback?`)),
      trail());
    assert.equal(page.url(), `${origin}/`, trail());
    assert.equal((await page.textContent('#who')).trim(), 'Signed in as alice');
    const fresh = await sessionCookie();
    assert.ok(fresh && fresh.value !== old.value, 'a new session, not the old one');
  });

  test('stepgate counted the sign-ins, the refresh, the logout and the CSRF refusal', async () => {
    const m = await metrics(adminPort);
    // The first sign-in, and the one after logout (consent again, no password).
    assert.equal(metricValue(m, 'stepgate_sso_oidc_provider_calls_total',
      { call: 'revoke', result: 'ok' }), 1);
    assert.equal(metricValue(m, 'stepgate_sso_oidc_logins_total'), 2);
    assert.equal(metricValue(m, 'stepgate_sso_refreshes_total'), 1);
    assert.equal(metricValue(m, 'stepgate_sso_logouts_total'), 1);
    // Navigations without a credential sent to {prefix}/login: the first one, and the one
    // after logout.
    assert.ok(metricValue(m, 'stepgate_sso_login_redirects_total') >= 2);
    // #start-no-csrf (the refresh without the token is an endpoint's refusal).
    assert.equal(metricValue(m, 'stepgate_session_csrf_failures_total'), 1);
  });
});
