// A real browser for the sign-in tests: Debian's Chromium (package `chromium`, installed by
// `scripts/install-deps test`), headless, driven by the npm package `playwright-core`
// (installed by `npm ci --prefix tests/integration`). playwright-core never downloads a
// browser here: it is pointed at the system's Chromium.
//
//   const b = await launchBrowser();
//   const page = await b.newPage();          // default timeouts 15 s
//   await page.goto(`https://127.0.0.1:${port}/`);
//   await b.context.cookies();               // the cookies the browser holds
//   b.console                                // console messages and page errors seen so far
//   await b.close();                         // bounded; the browser is killed if it hangs
//
// Every launch gets a fresh profile (user-data-dir) in a temporary folder, removed by
// close(). The context accepts stepgate's test certificate (ignoreHTTPSErrors); nothing
// else about TLS is relaxed. Environment: STEPGATE_CHROMIUM overrides the browser path
// (default /usr/bin/chromium).
//
// A missing browser or playwright-core is an error naming the install command: the tests
// that use this must fail, not skip.

import fs from 'node:fs';
import path from 'node:path';

import { withTimeout } from './util.mjs';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';
export const PAGE_TIMEOUT_MS = 15000;
const LAUNCH_TIMEOUT_MS = 30000;
const CLOSE_TIMEOUT_MS = 10000;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  // Every server of the tests is an IP literal on loopback: no name is ever resolved, so a
  // page's outside reference (a web font) fails at once instead of reaching the network.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

async function loadChromium() {
  try {
    const mod = await import('playwright-core');
    return mod.chromium ?? mod.default.chromium;
  } catch (err) {
    throw new Error('cannot load the npm package playwright-core; install the integration test ' +
                    `dependencies with: npm ci --prefix tests/integration (${err.message})`);
  }
}

function chromiumPath() {
  const exe = process.env.STEPGATE_CHROMIUM || DEFAULT_CHROMIUM;
  try {
    fs.accessSync(exe, fs.constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${exe}; install it with: apt-get install -y chromium ` +
                    '(or scripts/install-deps test), or set STEPGATE_CHROMIUM to its path');
  }
  return exe;
}

// The ids of the processes whose command line names `userDataDir` (the browser and its
// helpers): the last resort when the browser does not close in time.
function browserPids(userDataDir) {
  const needle = `--user-data-dir=${userDataDir}`;
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

// Kills what is left of a browser and removes its profile (synchronous: also used from the
// process's 'exit' handler, for a test that ended without close()).
function killAndRemove(userDataDir) {
  for (const pid of browserPids(userDataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
}

/**
 * Starts headless Chromium with a fresh profile. Options: timeoutMs (the pages' default
 * timeout, 15000). Resolves to { context, newPage(), console, close() }.
 */
export async function launchBrowser({ timeoutMs = PAGE_TIMEOUT_MS } = {}) {
  const chromium = await loadChromium();
  const executablePath = chromiumPath();
  const userDataDir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'stepgate-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      ignoreHTTPSErrors: true,
      timeout: LAUNCH_TIMEOUT_MS,
      acceptDownloads: false,
    });
  } catch (err) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw new Error(`Chromium (${executablePath}) did not start: ${err.message}`);
  }
  const onExit = () => killAndRemove(userDataDir);
  process.once('exit', onExit);
  context.setDefaultTimeout(timeoutMs);
  context.setDefaultNavigationTimeout(timeoutMs);

  const consoleLines = [];
  const watch = (page) => {
    page.setDefaultTimeout(timeoutMs);
    page.setDefaultNavigationTimeout(timeoutMs);
    page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
  };
  context.on('page', watch);
  for (const page of context.pages()) watch(page);

  const handedOut = new WeakSet();
  let closed = false;
  return {
    context,
    console: consoleLines,
    async newPage() {
      // A persistent context opens with one blank page; use it first.
      const blank = context.pages().find((p) => p.url() === 'about:blank' && !handedOut.has(p));
      const page = blank ?? await context.newPage();
      handedOut.add(page);
      return page;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await withTimeout(context.close(), CLOSE_TIMEOUT_MS, 'chromium close');
      } catch {
        // killed below
      }
      process.removeListener('exit', onExit);
      killAndRemove(userDataDir);
    },
  };
}
