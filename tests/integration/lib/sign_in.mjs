// What the browser sign-in tests share: stepgate over TLS in front of the demo orchestrator
// (lib/demo_orchestrator.mjs) with an identity provider of the test's own, browsers
// (lib/browser.mjs), and a few steps on the demo orchestrator's page.
//
//   const env = await startSignInEnv('stepgate-browser-x-', async ({ origin, dir }, started) => {
//     started(await startSomeIdp(...));          // anything with close(): becomes env.idp
//     return { sso: { ... } };                   // config keys added to stepgate's
//   });
//   env.origin, env.port, env.adminPort, env.dir, env.demo, env.idp, env.sg
//   const b = await env.browser();               // closed by env.stop()
//   await env.stop();   // the browsers, stepgate, the provider, the demo orchestrator, env.dir
//
// stepgate gets a development PKI's server certificate, the conductor profile with an
// identity assertion for the demo orchestrator and GET / as a read, its own issuer at
// `origin`, and two policies: ops may read anything (the page, a call without a workflow, is
// matched by the "*" file only) and start order-fulfillment.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { launchBrowser } from './browser.mjs';
import { makeTempDir, writeConfig } from './config.mjs';
import { startDemoOrchestrator } from './demo_orchestrator.mjs';
import { startStepgate } from './stepgate.mjs';
import { devPki } from './tools.mjs';
import { freePort } from './util.mjs';
import { httpRequest } from './wire.mjs';

const POLICIES = {
  'all-workflows.yaml': `workflow: "*"
rules:
  - id: ops-read-anything
    allow: [read]
    who: { groups: [ops] }
`,
  'order-fulfillment.yaml': `workflow: order-fulfillment
rules:
  - id: ops-start-orders
    allow: [start, read]
    who: { groups: [ops] }
`,
};

/**
 * Starts the demo orchestrator, then the provider, then stepgate, in a fresh temporary
 * directory named after `tmpPrefix`. The provider is the test's: `startIdp({ origin, port,
 * dir }, started)` starts it, hands it to started() as soon as it runs (it is closed by
 * stop()), and resolves to the config keys stepgate needs for it (identity, sso). On a
 * failure, what was started is stopped before the error is thrown.
 * Resolves to { origin, port, adminPort, dir, demo, idp, sg, browser(), stop() }.
 */
export async function startSignInEnv(tmpPrefix, startIdp) {
  const browsers = [];
  const env = {
    dir: makeTempDir(tmpPrefix),
    async browser() {
      const b = await launchBrowser();
      browsers.push(b);
      return b;
    },
    async stop() {
      for (const b of browsers) await b.close();
      await env.sg?.stop();
      await env.idp?.close();
      await env.demo?.stop();
      fs.rmSync(env.dir, { recursive: true, force: true });
    },
  };
  try {
    const pki = await devPki(path.join(env.dir, 'pki'));
    env.demo = await startDemoOrchestrator();
    env.port = await freePort();
    env.adminPort = await freePort();
    env.origin = `https://127.0.0.1:${env.port}`;
    const extra = await startIdp({ origin: env.origin, port: env.port, dir: env.dir },
      (idp) => { env.idp = idp; });

    const pdir = path.join(env.dir, 'policies');
    fs.mkdirSync(pdir);
    for (const [name, text] of Object.entries(POLICIES)) {
      fs.writeFileSync(path.join(pdir, name), text);
    }
    const file = writeConfig(env.dir, {
      listenPort: env.port, adminPort: env.adminPort, upstreamPort: env.demo.port,
      tls: { cert: pki.serverCert, key: pki.serverKey },
      upstream: {
        profile: 'conductor',
        identity_assertion: { audience: 'demo-orchestrator' },
        routes: [{ method: 'GET', path: '/', action: 'read' }],
      },
      extra: {
        ...extra,
        issuer: { url: env.origin, signing_key: 'stepgate-es256.pem' },
        policies: 'policies',
      },
    });
    env.sg = await startStepgate(file);
  } catch (err) {
    await env.stop();
    throw err;
  }
  return env;
}

// ---- on the demo orchestrator's page -------------------------------------------------------

// The main frame's navigations of `page` (every URL, redirects included), in order.
export function recordNavigations(page) {
  const urls = [];
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) urls.push(r.url());
  });
  return urls;
}

// Empties #result, clicks `selector` and waits (bounded) for the page to write a result.
export async function clickForResult(page, selector) {
  await page.evaluate(() => { document.getElementById('result').textContent = ''; });
  await page.click(selector);
  await page.waitForFunction(() => document.getElementById('result').textContent.trim() !== '');
  return (await page.textContent('#result')).trim();
}

// Clicks #start (the page's script sends the session's CSRF token) and checks that the demo
// orchestrator `demo` runs the order-fulfillment workflow it started; `browser` is the page's
// (its console goes into the failure message). Resolves with the workflow's id.
export async function startOnThePage(page, browser, demo) {
  const started = await clickForResult(page, '#start');
  const m = /^started ([0-9a-f-]{36})$/.exec(started);
  assert.ok(m, `the start worked: ${started}; console: ${browser.console.join(' | ')}`);
  const run = await httpRequest(demo.port, { path: `/api/workflow/${m[1]}`, timeoutMs: 5000 });
  assert.equal(run.status, 200, run.body);
  assert.equal(JSON.parse(run.body).workflowName, 'order-fulfillment');
  return m[1];
}
