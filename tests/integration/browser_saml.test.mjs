// Browser sign-in with SAML, in a real browser (headless Chromium driven by playwright-core):
// a person opens the demo orchestrator's page through stepgate over TLS, is sent through
// {prefix}/login to a test SAML IdP's login form (lib/saml_idp.mjs), signs in, and the IdP's
// auto-submitting form posts the signed Response to stepgate's ACS; the page then shows who
// stepgate's identity assertion names, starts a workflow with the session's CSRF token, and
// is refused (403) without it. A user outside the allowed group gets 403 on the page; a
// wrong password stays at the IdP. Everything runs on 127.0.0.1: the demo orchestrator
// (`stepgate demo --orchestrator-only`), the IdP, stepgate and the browser.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import { metrics, metricValue } from './lib/harness.mjs';
import { startSamlIdp } from './lib/saml_idp.mjs';
import {
  clickForResult, recordNavigations, startOnThePage, startSignInEnv,
} from './lib/sign_in.mjs';

const PREFIX = '/.stepgate';
const SESSION_COOKIE = '__Host-stepgate-session';
const LOGIN_COOKIE = '__Host-stepgate-session-login';
const IDP_ENTITY = 'https://idp.example.test/saml';
const USERS = {
  alice: { password: 'alice-secret-1', subject: 'alice@example.test', groups: ['ops', 'dev'] },
  bob: { password: 'bob-secret-2', subject: 'bob@example.test', groups: ['dev'] },
};

describe('SAML sign-in in a browser, through stepgate to the demo orchestrator', () => {
  let env;
  let demo;
  let idp;
  let adminPort;
  let origin;

  before(async () => {
    env = await startSignInEnv('stepgate-browser-saml-', async ({ origin: o, dir }, started) => {
      const spEntity = `${o}/saml/sp`;
      const acsUrl = `${o}${PREFIX}/saml/acs`;
      const samlIdp = await startSamlIdp({ entityId: IDP_ENTITY, spEntityId: spEntity, acsUrl,
        users: USERS, dir });
      started(samlIdp);
      fs.copyFileSync(samlIdp.certFile, path.join(dir, 'idp-cert.pem'));
      return {
        sso: {
          session: { key_file: 'session.key' },
          saml: {
            entity_id: spEntity, acs_url: acsUrl, idp_entity_id: IDP_ENTITY,
            idp_cert: 'idp-cert.pem', idp_sso_url: samlIdp.ssoUrl, groups_attribute: 'groups',
          },
        },
      };
    });
    ({ demo, idp, adminPort, origin } = env);
  });

  after(() => env?.stop());

  const browser = () => env.browser();

  // Opens `target` on stepgate, which must send the browser to the IdP's login form.
  async function openAndReachIdp(page, target) {
    const navigations = recordNavigations(page);
    await page.goto(`${origin}${target}`);
    const at = new URL(page.url());
    assert.equal(`${at.origin}${at.pathname}`, idp.ssoUrl,
      `at the IdP's form; navigations: ${navigations.join(' -> ')}`);
    assert.equal(navigations[0], `${origin}${target}`);
    assert.equal(navigations[1],
      `${origin}${PREFIX}/login?return_to=${encodeURIComponent(target)}`,
      'stepgate redirected the navigation to its login endpoint');
    assert.ok(navigations[2].startsWith(`${idp.ssoUrl}?SAMLRequest=`),
      `then to the IdP with an AuthnRequest: ${navigations[2]}`);
    assert.equal(await page.isVisible('#username'), true);
  }

  // Fills the IdP's form and submits it; waits until the browser has left the IdP (its
  // page posts the Response to the ACS, stepgate answers 303) and checks it is at
  // `landing`. Resolves with the response of that last navigation.
  async function signInAt(page, user, landing) {
    const responses = [];
    const onResponse = (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) responses.push(r);
    };
    page.on('response', onResponse);
    try {
      await page.fill('#username', user);
      await page.fill('#password', USERS[user].password);
      await page.click('#login');
      await page.waitForURL((u) => !u.href.startsWith(`${idp.url}/`));
      const last = responses.at(-1);
      assert.equal(page.url(), landing, `${user} ended at ${page.url()} (${last?.status()}): ` +
        `${(await page.textContent('body')).slice(0, 500)}`);
      return last;
    } finally {
      page.off('response', onResponse);
    }
  }

  test('alice signs in at the IdP and lands on the page, signed in', async () => {
    const b = await browser();
    const page = await b.newPage();
    await openAndReachIdp(page, '/');
    const acsPosts = [];
    page.on('request', (r) => {
      if (r.url() === `${origin}${PREFIX}/saml/acs`) acsPosts.push(r.method());
    });
    const landed = await signInAt(page, 'alice', `${origin}/`);
    assert.equal(landed.status(), 200, await landed.text());
    assert.deepEqual(acsPosts, ['POST'], 'the IdP page posted the Response to the ACS');
    assert.equal((await page.textContent('#title')).trim(), 'Demo orchestrator');
    assert.equal((await page.textContent('#who')).trim(), 'Signed in as alice@example.test');
    const definitions = await page.locator('#definitions li').allTextContents();
    assert.ok(definitions.some((d) => d.includes('order-fulfillment v1')), definitions.join());
    assert.ok(definitions.some((d) => d.includes('refund v1')), definitions.join());
    assert.ok(idp.events.some((e) => e.type === 'login' && e.ok && e.username === 'alice'));

    // The session cookie: host-only, Secure, HttpOnly, SameSite=Lax; the login-state cookie
    // is gone; the page's script cannot read the session cookie.
    const cookies = await b.context.cookies(origin);
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    assert.ok(session, `a session cookie among ${cookies.map((c) => c.name).join()}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');
    assert.equal(session.domain, '127.0.0.1');
    assert.equal(cookies.some((c) => c.name === LOGIN_COOKIE), false,
      'the login-state cookie was cleared');
    assert.equal((await page.evaluate(() => document.cookie)).includes(SESSION_COOKIE), false);

    // Start: the page reads the CSRF token from {prefix}/session and sends it.
    await startOnThePage(page, b, demo);

    // The same POST without the CSRF token is refused by stepgate.
    const refused = await clickForResult(page, '#start-no-csrf');
    assert.match(refused, /^error 403\b/);
    assert.match(refused, /"csrf"/);

    // A reload needs no new sign-in.
    const again = await page.reload();
    assert.equal(again.status(), 200);
    assert.equal(page.url(), `${origin}/`);
    assert.equal((await page.textContent('#who')).trim(), 'Signed in as alice@example.test');
  });

  test('a wrong password stays at the IdP; bob (not in ops) gets 403 on the page', async () => {
    const b = await browser();
    const page = await b.newPage();
    const target = '/?tab=definitions';
    await openAndReachIdp(page, target);

    await page.fill('#username', 'bob');
    await page.fill('#password', 'not-his-password');
    const [wrong] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${idp.url}/sso/login`),
      page.click('#login'),
    ]);
    assert.equal(wrong.status(), 401);
    await page.waitForLoadState();
    assert.equal(page.url(), `${idp.url}/sso/login`);
    assert.match(await page.textContent('#error'), /Wrong user name or password/);
    assert.equal((await b.context.cookies(origin)).some((c) => c.name === SESSION_COOKIE), false,
      'no session after a wrong password');
    assert.ok(idp.events.some((e) => e.type === 'login' && !e.ok && e.username === 'bob'));

    // The same form, now with his password: signed in, back at the page with its query,
    // which the policy refuses him.
    const landed = await signInAt(page, 'bob', `${origin}${target}`);
    assert.equal(landed.status(), 403);
    const body = JSON.parse(await landed.text());
    assert.equal(body.reason, 'no_matching_allow');
    assert.ok((await b.context.cookies(origin)).some((c) => c.name === SESSION_COOKIE),
      'bob has a session; the policy, not the sign-in, refuses him');
  });

  test('the test IdP refuses AuthnRequests it does not expect', async () => {
    const redirect = (xml) => `${idp.ssoUrl}?SAMLRequest=${encodeURIComponent(
      zlib.deflateRawSync(Buffer.from(xml)).toString('base64'))}&RelayState=r`;
    const request = (acs, issuer) => '<samlp:AuthnRequest '
      + 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
      + 'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x1" Version="2.0" '
      + `AssertionConsumerServiceURL="${acs}"><saml:Issuer>${issuer}</saml:Issuer>`
      + '</samlp:AuthnRequest>';
    const get = async (url) => {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return { status: r.status, text: await r.text() };
    };
    const acs = `${origin}${PREFIX}/saml/acs`;
    const ok = await get(redirect(request(acs, `${origin}/saml/sp`)));
    assert.equal(ok.status, 200, ok.text);
    assert.match(ok.text, /id="username"/);
    const otherAcs = await get(redirect(request('https://evil.example/acs', `${origin}/saml/sp`)));
    assert.equal(otherAcs.status, 400);
    assert.match(otherAcs.text, /AssertionConsumerServiceURL/);
    const otherSp = await get(redirect(request(acs, 'https://other-sp.example')));
    assert.equal(otherSp.status, 400);
    assert.match(otherSp.text, /unknown service provider/);
    assert.equal((await get(`${idp.ssoUrl}?SAMLRequest=%21%21`)).status, 400);
    assert.equal((await get(`${idp.ssoUrl}`)).status, 400);
  });

  test('stepgate counted the sign-ins, the redirects, the session requests and the CSRF refusal',
    async () => {
    const m = await metrics(adminPort);
    assert.equal(metricValue(m, 'stepgate_sso_logins_total'), 2);
    // alice's and bob's first navigations, sent to {prefix}/login.
    assert.ok(metricValue(m, 'stepgate_sso_login_redirects_total') >= 2);
    assert.equal(metricValue(m, 'stepgate_session_csrf_failures_total'), 1);
    assert.ok(metricValue(m, 'stepgate_auth_successes_total', { method: 'session' }) >= 4);
  });
});
