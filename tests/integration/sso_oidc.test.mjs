// OIDC browser sign-in through stepgate (docs/sso.md), without a browser: the test follows the
// redirects itself, with its own cookie jar, through the real `oidc-provider` (its own login
// and consent pages), so every step is checked on the wire: the authorization request
// (PKCE S256, state, nonce), the callback's checks (state against the login-state cookie,
// RFC 9207 iss, provider errors, a code that does not redeem), the session cookie on the
// proxied API, the navigation redirect to sign in, refresh at the provider (the new ID token
// must name the same subject), silent renewal at {prefix}/login, and logout; and the audit
// log's records of all of it, read back by the test's own reader.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  startUpstream, writeConfig, startStepgate, freePort, makeTempDir, metrics, metricValue,
  sendRequest, statusOf, bodyOf, headerValues, cookiePair,
} from './lib/harness.mjs';
import { startOidcProvider } from './lib/oidc_provider.mjs';
import { readLog, allFiles, auditKeygen, auditCli, ROUTES } from './lib/audit_helpers.mjs';

const PREFIX = '/.stepgate';

// A cookie jar keyed by name (the test talks to one stepgate and one provider, each with
// distinct cookie names). Set-Cookie with Max-Age=0 removes.
class Jar {
  constructor() { this.cookies = new Map(); }
  take(setCookies) {
    for (const sc of setCookies) {
      const pair = cookiePair(sc);
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      if (/;\s*Max-Age=0/i.test(sc) || pair.slice(eq + 1) === '') this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
  }
  header(filter = () => true) {
    return [...this.cookies].filter(([n]) => filter(n)).map(([n, v]) => `${n}=${v}`).join('; ');
  }
}

describe('OIDC sign-in through stepgate with oidc-provider', () => {
  let up;
  let sg;
  let idp;
  let port;
  let adminPort;
  let dir;
  let auditKey;
  const secrets = [];  // codes and cookie values seen: none may reach the audit log

  before(async () => {
    up = await startUpstream();
    dir = makeTempDir('stepgate-sso-oidc-');
    port = await freePort();
    adminPort = await freePort();
    const origin = `https://127.0.0.1:${port}`;
    idp = await startOidcProvider({
      redirectUris: [`${origin}${PREFIX}/oidc/callback`],
      accounts: {
        alice: { email: 'alice@example.test', name: 'Alice', groups: ['ops'] },
        bob: { email: 'bob@example.test', name: 'Bob', groups: ['dev'] },
      },
    });
    fs.writeFileSync(path.join(dir, 'client.secret'), `${idp.browserClient.clientSecret}\n`);
    auditKey = await auditKeygen(dir);
    const pdir = path.join(dir, 'policies');
    fs.mkdirSync(pdir);
    fs.writeFileSync(path.join(pdir, 'payments.yaml'), `workflow: payments
rules:
  - id: ops
    allow: [start, read]
    who: { groups: [ops] }
`);
    const file = writeConfig(dir, {
      listenPort: port, adminPort, upstreamPort: up.port,
      upstream: { routes: ROUTES },
      extra: {
        identity: {
          providers: [{
            name: 'corp', type: 'oidc', issuer: idp.issuer, algorithms: ['RS256', 'ES256'],
            fetch_timeout: '3s', claims: { groups: 'groups' },
          }],
        },
        issuer: { url: origin, signing_key: 'stepgate-es256.pem' },
        sso: {
          session: { key_file: 'session.key' },
          oidc: {
            provider: 'corp',
            client_id: idp.browserClient.clientId,
            client_secret_file: 'client.secret',
            redirect_uri: `${origin}${PREFIX}/oidc/callback`,
            scopes: ['openid', 'profile', 'email', 'groups'],
            extra_params: ['login_hint'],
            fetch_timeout: '3s',
          },
        },
        policies: 'policies',
        audit: { dir: 'audit', signing_key: auditKey.key },
        log: { level: 'debug' },
      },
    });
    sg = await startStepgate(file);
    // Discovery of the login endpoints runs on the sign-in threads after start.
    for (let i = 0; i < 100; i += 1) {
      const r = await send('GET', `${PREFIX}/login`);
      if (statusOf(r) === 302) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.fail('the sign-in endpoints were never discovered');
  });
  after(async () => {
    await sg?.stop();
    await idp?.close();
    await up?.close();
  });

  const send = (method, p, opts) => sendRequest(port, method, p, opts);

  // Starts a login at stepgate: the authorization URL and the jar with the login-state cookie.
  async function beginLogin(jar, returnTo = '/api/workflow/payments/status') {
    const r = await send('GET', `${PREFIX}/login?return_to=${encodeURIComponent(returnTo)}`,
      { cookies: jar.header() });
    assert.equal(statusOf(r), 302, r.text);
    jar.take(headerValues(r, 'set-cookie'));
    return new URL(headerValues(r, 'location')[0]);
  }

  // Plays the browser at the provider: login page, then consent; returns the callback URL.
  async function atProvider(authUrl, login) {
    const idpJar = new Jar();
    let url = authUrl.toString();
    let form = null;
    for (let hop = 0; hop < 12; hop += 1) {
      const res = await fetch(url, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          cookie: idpJar.header(),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: form ? new URLSearchParams(form).toString() : undefined,
        signal: AbortSignal.timeout(8000),
      });
      idpJar.take(res.headers.getSetCookie());
      form = null;
      const location = res.headers.get('location');
      if (location) {
        const next = new URL(location, url);
        if (next.pathname === `${PREFIX}/oidc/callback`) return next;
        url = next.toString();
        continue;
      }
      const html = await res.text();
      assert.equal(res.status, 200, html);
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      assert.ok(action, `a form at the provider: ${html.slice(0, 300)}`);
      url = new URL(action.replace(/&amp;/g, '&'), url).toString();
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      form = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
    }
    assert.fail('the provider never redirected back to the callback');
  }

  // A full sign-in: the jar ends up with the session (and refresh) cookies.
  async function signIn(login = 'alice', returnTo = '/api/workflow/payments/status') {
    const jar = new Jar();
    const auth = await beginLogin(jar, returnTo);
    const callback = await atProvider(auth, login);
    const r = await send('GET', `${callback.pathname}${callback.search}`,
      { cookies: jar.header() });
    assert.equal(statusOf(r), 303, r.text);
    assert.equal(headerValues(r, 'location')[0], returnTo);
    jar.take(headerValues(r, 'set-cookie'));
    secrets.push(callback.searchParams.get('code'), ...jar.cookies.values());
    return { jar, setCookies: headerValues(r, 'set-cookie') };
  }

  const session = async (jar) => JSON.parse(bodyOf(await send('GET', `${PREFIX}/session`,
    { cookies: jar.header() })));

  test('the authorization request: code flow with PKCE S256, state, nonce, our redirect_uri',
    async () => {
      const jar = new Jar();
      const auth = await beginLogin(jar);
      const q = auth.searchParams;
      assert.equal(`${auth.origin}`, new URL(idp.issuer).origin);
      assert.equal(q.get('response_type'), 'code');
      assert.equal(q.get('client_id'), idp.browserClient.clientId);
      assert.equal(q.get('redirect_uri'), `https://127.0.0.1:${port}${PREFIX}/oidc/callback`);
      assert.equal(q.get('code_challenge_method'), 'S256');
      assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
      assert.match(q.get('state'), /^[A-Za-z0-9_-]{22,}$/);
      assert.match(q.get('nonce'), /^[A-Za-z0-9_-]{22,}$/);
      assert.deepEqual(q.get('scope').split(' '), ['openid', 'profile', 'email', 'groups']);
      const login = [...jar.cookies.keys()];
      assert.deepEqual(login, ['__Host-stepgate-session-login']);
      // Only the parameters listed in extra_params pass through to the provider.
      const r0 = await send('GET', `${PREFIX}/login?login_hint=alice&prompt=none&return_to=%2F`);
      assert.equal(statusOf(r0), 302, r0.text);
      const q0 = new URL(headerValues(r0, 'location')[0]).searchParams;
      assert.equal(q0.get('login_hint'), 'alice');
      assert.equal(q0.get('prompt'), null);
      // A return_to that leaves the site is refused.
      const r = await send('GET', `${PREFIX}/login?return_to=${encodeURIComponent('//evil.test/')}`);
      assert.equal(statusOf(r), 400);
      assert.match(bodyOf(r), /bad_return_to/);
    });

  test('sign-in: a session for the provider\'s subject and groups; the API with the cookie',
    async () => {
      const { jar, setCookies } = await signIn();
      const sessionCookie = setCookies.find((c) => c.startsWith('__Host-stepgate-session='));
      assert.match(sessionCookie, /HttpOnly/);
      assert.match(sessionCookie, /Secure/);
      assert.match(sessionCookie, /SameSite=Lax/);
      const refresh = setCookies.find((c) => c.startsWith('__Secure-stepgate-session-refresh='));
      assert.ok(refresh, `a refresh cookie: ${setCookies.join(' | ')}`);
      assert.match(refresh, new RegExp(`Path=${PREFIX.replace('.', '\\.')};`));
      assert.ok(setCookies.some((c) => /^__Host-stepgate-session-login=;/.test(c)),
        'the login-state cookie is cleared');

      const s = await session(jar);
      assert.equal(s.subject, 'alice');
      assert.equal(s.provider, 'corp');
      assert.deepEqual(s.groups, ['ops']);

      const before = up.requests.length;
      const r = await send('GET', '/api/workflow/payments/status', { cookies: jar.header() });
      assert.equal(statusOf(r), 200, r.text);
      const seen = up.requests.slice(before).at(-1);
      assert.ok(!String(seen.headers.cookie ?? '').includes('stepgate-session'),
        'session cookies never reach the upstream');
      // State-changing calls need the CSRF token.
      const noCsrf = await send('POST', '/api/workflow/payments', { cookies: jar.header(),
        headers: 'Content-Type: application/json\r\n', body: '{}' });
      assert.equal(statusOf(noCsrf), 403, noCsrf.text);
      const ok = await send('POST', '/api/workflow/payments', { cookies: jar.header(),
        headers: `Content-Type: application/json\r\nX-CSRF-Token: ${s.csrf_token}\r\n`,
        body: '{}' });
      assert.equal(statusOf(ok), 200, ok.text);

      const m = await metrics(adminPort);
      assert.ok(metricValue(m, 'stepgate_sso_oidc_logins_total') >= 1);
    });

  test('a user outside the policy signs in but is denied', async () => {
    const { jar } = await signIn('bob');
    const r = await send('GET', '/api/workflow/payments/status', { cookies: jar.header() });
    assert.equal(statusOf(r), 403, r.text);
  });

  test('callback refusals: state, missing cookie, iss mix-up, provider error, bad code',
    async () => {
      const jar = new Jar();
      const auth = await beginLogin(jar);
      const state = auth.searchParams.get('state');
      const cb = (q) => send('GET', `${PREFIX}/oidc/callback?${q}`, { cookies: jar.header() });
      const cases = [
        [`code=abc&state=${state}x`, 403, 'login_state_mismatch'],
        [`code=abc&state=${state}&state=${state}`, 403, 'callback_malformed'],
        [`state=${state}`, 403, 'callback_malformed'],
        [`code=abc&state=${state}&iss=${encodeURIComponent('https://evil.test')}`, 403,
          'wrong_issuer'],
        [`error=access_denied&state=${state}`, 403, 'provider_refused'],
        // A code the provider never issued: the token endpoint says invalid_grant.
        [`code=not-a-real-code&state=${state}`, 403, 'provider_refused'],
      ];
      for (const [q, status, error] of cases) {
        const r = await cb(q);
        assert.equal(statusOf(r), status, `${q}: ${r.text}`);
        assert.equal(JSON.parse(bodyOf(r)).error, error, q);
        assert.equal(headerValues(r, 'set-cookie').filter((c) => /stepgate-session=/.test(c))
          .length, 0, 'no session on a refused callback');
      }
      const noCookie = await send('GET', `${PREFIX}/oidc/callback?code=abc&state=${state}`);
      assert.equal(JSON.parse(bodyOf(noCookie)).error, 'login_state_missing');
      const m = await metrics(adminPort);
      assert.ok(metricValue(m, 'stepgate_sso_oidc_login_failures_total',
        { reason: 'login_state' }) >= 2);
      assert.ok(metricValue(m, 'stepgate_sso_oidc_login_failures_total',
        { reason: 'provider_refused' }) >= 2);
      assert.ok(metricValue(m, 'stepgate_sso_oidc_login_failures_total',
        { reason: 'wrong_issuer' }) >= 1);
    });

  test('a code is redeemed once: replaying the callback is refused', async () => {
    const jar = new Jar();
    const auth = await beginLogin(jar);
    const callback = await atProvider(auth, 'alice');
    const target = `${callback.pathname}${callback.search}`;
    const first = await send('GET', target, { cookies: jar.header() });
    assert.equal(statusOf(first), 303, first.text);
    const again = await send('GET', target, { cookies: jar.header() });
    assert.equal(statusOf(again), 403, again.text);
  });

  test('navigations without a session are sent to sign in; API calls get 401', async () => {
    const nav = await send('GET', '/api/workflow/payments/status?x=1',
      { headers: 'Sec-Fetch-Mode: navigate\r\nAccept: text/html\r\n' });
    assert.equal(statusOf(nav), 302, nav.text);
    assert.equal(headerValues(nav, 'location')[0],
      `${PREFIX}/login?return_to=%2Fapi%2Fworkflow%2Fpayments%2Fstatus%3Fx%3D1`);
    const api = await send('GET', '/api/workflow/payments/status',
      { headers: 'Sec-Fetch-Mode: cors\r\nAccept: text/html\r\n' });
    assert.equal(statusOf(api), 401, api.text);
    const post = await send('POST', '/api/workflow/payments',
      { headers: 'Sec-Fetch-Mode: navigate\r\n', body: '{}' });
    assert.equal(statusOf(post), 401, post.text);
    const m = await metrics(adminPort);
    assert.ok(metricValue(m, 'stepgate_sso_login_redirects_total') >= 1);
  });

  test('refresh at the provider: a new session for the same subject, the old one revoked',
    async () => {
      const { jar } = await signIn();
      const old = await session(jar);
      const oldCookie = jar.header();
      const noCsrf = await send('POST', `${PREFIX}/refresh`, { cookies: jar.header() });
      assert.equal(statusOf(noCsrf), 403, noCsrf.text);
      const r = await send('POST', `${PREFIX}/refresh`, { cookies: jar.header(),
        headers: `X-CSRF-Token: ${old.csrf_token}\r\n` });
      assert.equal(statusOf(r), 200, r.text);
      const renewed = JSON.parse(bodyOf(r));
      assert.equal(renewed.subject, 'alice');
      assert.notEqual(renewed.csrf_token, old.csrf_token);
      jar.take(headerValues(r, 'set-cookie'));
      assert.equal((await session(jar)).csrf_token, renewed.csrf_token);
      const stale = await send('GET', '/api/workflow/payments/status', { cookies: oldCookie });
      assert.equal(statusOf(stale), 401, 'the replaced session is revoked');
      const fresh = await send('GET', '/api/workflow/payments/status', { cookies: jar.header() });
      assert.equal(statusOf(fresh), 200, fresh.text);
      const m = await metrics(adminPort);
      assert.ok(metricValue(m, 'stepgate_sso_refreshes_total') >= 1);
    });

  test('{prefix}/login with a refresh cookie renews silently; a broken one signs in again',
    async () => {
      const { jar } = await signIn();
      const onlyRefresh = jar.header((n) => n.endsWith('-refresh'));
      const r = await send('GET', `${PREFIX}/login?return_to=%2Fapi%2Fworkflow%2Fpayments%2Fstatus`,
        { cookies: onlyRefresh });
      assert.equal(statusOf(r), 303, r.text);
      assert.equal(headerValues(r, 'location')[0], '/api/workflow/payments/status');
      const renewed = new Jar();
      renewed.take(headerValues(r, 'set-cookie'));
      assert.equal((await session(renewed)).subject, 'alice');
      // A tampered refresh cookie is ignored: the provider's login page instead.
      const bad = onlyRefresh.replace(/=(.)/, (_, c) => `=${c === 'A' ? 'B' : 'A'}`);
      const r2 = await send('GET', `${PREFIX}/login`, { cookies: bad });
      assert.equal(statusOf(r2), 302, r2.text);
      assert.ok(headerValues(r2, 'location')[0].startsWith(idp.issuer));
    });

  test('logout ends the session and drops the refresh cookie', async () => {
    const { jar } = await signIn();
    const s = await session(jar);
    const r = await send('POST', `${PREFIX}/logout`, { cookies: jar.header(),
      headers: `X-CSRF-Token: ${s.csrf_token}\r\n` });
    assert.equal(statusOf(r), 200, r.text);
    const cleared = headerValues(r, 'set-cookie');
    assert.ok(cleared.some((c) => /^__Secure-stepgate-session-refresh=;.*Max-Age=0/.test(c)),
      cleared.join(' | '));
    const after = await send('GET', '/api/workflow/payments/status', { cookies: jar.header() });
    assert.equal(statusOf(after), 401);
    // A copy of the refresh cookie taken before the logout signs in no more: the provider's
    // login page, not a silent renewal.
    const stolen = jar.header((n) => n.endsWith('-refresh'));
    const again = await send('GET', `${PREFIX}/login`, { cookies: stolen });
    assert.equal(statusOf(again), 302, again.text);
    assert.ok(headerValues(again, 'location')[0].startsWith(idp.issuer));
  });

  test('logout revokes the refresh token at the provider: a replica that never saw the logout '
    + 'cannot renew with a copy of the refresh cookie', async () => {
    const first = (await signIn()).jar;   // signed out below
    const second = (await signIn()).jar;  // never signed out: shows the replica can renew
    // A second stepgate process with the same cookie key: its own revocation list.
    const rdir = path.join(dir, 'replica');
    fs.mkdirSync(rdir);
    const rport = await freePort();
    const replica = await startStepgate(writeConfig(rdir, {
      listenPort: rport, adminPort: await freePort(), upstreamPort: up.port,
      upstream: { routes: ROUTES },
      extra: {
        identity: { providers: [{ name: 'corp', type: 'oidc', issuer: idp.issuer,
          algorithms: ['RS256', 'ES256'], fetch_timeout: '3s', claims: { groups: 'groups' } }] },
        issuer: { url: `https://127.0.0.1:${port}`, signing_key: 'stepgate-es256.pem' },
        sso: {
          session: { key_file: path.join(dir, 'session.key') },
          oidc: { provider: 'corp', client_id: idp.browserClient.clientId,
            client_secret_file: path.join(dir, 'client.secret'),
            redirect_uri: `https://127.0.0.1:${port}${PREFIX}/oidc/callback`,
            fetch_timeout: '3s' },
        },
      },
    }));
    try {
      const atReplica = async (cookies) => {
        for (let i = 0; i < 100; i += 1) {  // the replica's discovery runs after its start
          const r = await sendRequest(rport, 'GET', `${PREFIX}/login`, { cookies });
          if (statusOf(r) !== 503) return r;
          await new Promise((res) => setTimeout(res, 50));
        }
        assert.fail('the replica never discovered the provider');
      };
      const renewed = await atReplica(second.header((n) => n.endsWith('-refresh')));
      assert.equal(statusOf(renewed), 303, `the replica renews a live grant: ${renewed.text}`);

      const revoked = async () => metricValue(await metrics(adminPort),
        'stepgate_sso_oidc_provider_calls_total', { call: 'revoke', result: 'ok' }) ?? 0;
      const before = await revoked();
      const s = await session(first);
      const out = await send('POST', `${PREFIX}/logout`, { cookies: first.header(),
        headers: `X-CSRF-Token: ${s.csrf_token}\r\n` });
      assert.equal(statusOf(out), 200, out.text);
      for (let i = 0; i < 100 && await revoked() === before; i += 1) {
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.equal(await revoked(), before + 1, 'one revocation at the provider');
      // The replica has no record of the logout; the provider refuses the revoked token.
      const stolen = await atReplica(first.header((n) => n.endsWith('-refresh')));
      assert.equal(statusOf(stolen), 302, stolen.text);
      assert.ok(headerValues(stolen, 'location')[0].startsWith(idp.issuer));
    } finally {
      await replica.stop();
    }
  });

  test('the audit log: sign-ins, refreshes and sign-outs as session records, refusals as '
    + 'auth_failure, no code or cookie anywhere', async () => {
    await sg.stop();
    sg = null;
    const auditDir = path.join(dir, 'audit');
    const { records } = readLog(auditDir);
    const sessions = records.map((r) => r.json).filter((j) => j.type === 'session');
    const events = (e) => sessions.filter((j) => j.session.event === e);
    const signIns = events('sign_in');
    assert.ok(signIns.length >= 5, `sign-ins: ${signIns.length}`);
    for (const j of signIns) {
      assert.equal(j.session.via, 'oidc');
      assert.equal(j.principal.provider, 'corp');
      assert.equal(j.principal.method, 'session');
      assert.match(j.principal.credential_id, /^hmac-sha256:[0-9a-f]{32}$/);
      assert.equal(j.request.path, `${PREFIX}/oidc/callback`);
      // The query's names only: never the code or the state.
      assert.ok(j.request.query_keys.includes('code') && j.request.query_keys.includes('state'));
      for (const k of j.request.query_keys) assert.ok(['code', 'state', 'iss'].includes(k), k);
      assert.equal(j.response.status, 303);
    }
    assert.ok(signIns.some((j) => j.principal.subject === 'bob'));
    assert.ok(events('refresh').length >= 2, 'POST /refresh and the silent renewal');
    assert.equal(events('sign_out').length, 2);
    const failures = records.map((r) => r.json).filter((j) => j.type === 'auth_failure');
    const reasons = new Set(failures.map((j) => j.auth.reason));
    for (const r of ['login_state_mismatch', 'callback_malformed', 'wrong_issuer',
      'provider_refused', 'login_state_missing', 'login_required']) {
      assert.ok(reasons.has(r), `an auth_failure record for ${r}: ${[...reasons]}`);
    }
    // Never a code, a cookie value or the client secret.
    const bytes = Buffer.concat(allFiles(auditDir).map((f) => f.bytes));
    for (const secret of [...secrets, idp.browserClient.clientSecret].filter(Boolean)) {
      assert.equal(bytes.indexOf(Buffer.from(secret)), -1, 'a secret reached the audit log');
    }
    // The log verifies, and the OCSF export maps sign-ins to successful Authentication events.
    const verify = await auditCli(['verify', auditDir, '--key', auditKey.pub]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const out = path.join(dir, 'export');
    const ex = await auditCli(['export', auditDir, '--format', 'ocsf', '--out', out,
      '--signing-key', auditKey.key]);
    assert.equal(ex.code, 0, ex.stdout + ex.stderr);
    const ocsf = fs.readFileSync(path.join(out, 'records.ocsf.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l));
    const logons = ocsf.filter((e) => e.class_uid === 3002 && e.status_id === 1);
    assert.ok(logons.some((e) => e.activity_id === 1 && e.user.uid === 'alice'));
    assert.ok(logons.some((e) => e.activity_id === 2), 'the sign-out as Logoff');
    assert.ok(ocsf.some((e) => e.class_uid === 3002 && e.status_id === 2
      && e.status_detail === 'wrong_issuer'));
  });
});
