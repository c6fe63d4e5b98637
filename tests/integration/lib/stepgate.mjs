// Runs the stepgate binary as a child process and waits for its listener.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';

import { configInfo } from './config.mjs';
import { stepgateBin, waitForPort, withTimeout } from './util.mjs';

// ---- the stepgate process -----------------------------------------------------------------

const liveChildren = new Set();
process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

// GET /readyz on the admin port: the status, or 0 when it does not answer.
function readyStatus(port) {
  return new Promise((resolve) => {
    // No keep-alive: an idle connection would hold the admin server's shutdown.
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000, agent: false,
      headers: { Connection: 'close' } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => { req.destroy(); resolve(0); });
    req.on('error', () => resolve(0));
  });
}

// The admin listener's port when the config names one (admin: address: 127.0.0.1:N).
function adminPortFromFile(configPath) {
  const meta = configInfo(configPath);
  if (meta && meta.adminPort) return meta.adminPort;
  const text = fs.readFileSync(configPath, 'utf8');
  const m = /^admin:\s*\n\s+address:\s*"?[^":\s]*:(\d+)"?/m.exec(text)
    || /^admin:\s*\{[^}]*address:\s*"?[^":\s,]*:(\d+)"?/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

function listenPortFromFile(configPath) {
  const meta = configInfo(configPath);
  if (meta && meta.listenPort) return meta.listenPort;
  const text = fs.readFileSync(configPath, 'utf8');
  const m = /listeners:[\s\S]*?address:\s*"?[^":\s]*:(\d+)"?/.exec(text);
  return m ? Number(m[1]) : undefined;
}

// Spawns `$STEPGATE_BIN serve -c configPath ...args` and waits (at most startTimeoutMs) until
// the listener port accepts TCP. Options: args, env (added to process.env), port (default:
// the config's first listener; the admin port named in the config, if any, is waited for
// too, and then /readyz until 200 unless waitReady: false), bin (default STEPGATE_BIN),
// startTimeoutMs (20000).
// Returns {pid, proc, port, logs(), stdout(), stderr(), exited (Promise), stop(signal, opts)}.
// logs() parses the JSON lines of stdout and stderr; lines that are not JSON come as {raw}.
// stop(signal = 'SIGTERM', {timeoutMs = 10000}) resolves with the exit code, or the signal
// name if the process died from a signal; after timeoutMs it sends SIGKILL.
export async function startStepgate(configPath, opts = {}) {
  const bin = opts.bin || stepgateBin();
  const port = opts.port ?? listenPortFromFile(configPath);
  if (!port) throw new Error(`startStepgate: no listener port in ${configPath}`);
  const proc = spawn(bin, ['serve', '-c', configPath, ...(opts.args || [])], {
    env: { ...process.env, ...(opts.env || {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(proc);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      liveChildren.delete(proc);
      resolve(code ?? signal);
    });
    proc.once('error', (e) => {
      exitInfo = { code: null, signal: null, error: e };
      liveChildren.delete(proc);
      resolve(null);
    });
  });

  const parseLines = (text) => text.split('\n').filter((l) => l.trim() !== '').map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      return { raw: line };
    }
  });

  const handle = {
    pid: proc.pid,
    proc,
    port,
    exited,
    stdout: () => out,
    stderr: () => err,
    logs: () => [...parseLines(out), ...parseLines(err)],
    async stop(signal = 'SIGTERM', { timeoutMs = 10000 } = {}) {
      if (exitInfo) return exitInfo.code ?? exitInfo.signal;
      proc.kill(signal);
      try {
        return await withTimeout(exited, timeoutMs, `stepgate stop (${signal})`);
      } catch {
        proc.kill('SIGKILL');
        return withTimeout(exited, 5000, 'stepgate SIGKILL').catch(() => null);
      }
    },
  };

  let up = await waitForPort(port, {
    timeoutMs: opts.startTimeoutMs ?? 20000,
    isAlive: () => exitInfo === null,
  });
  // The admin listener starts after the workers' listeners: a test that talks to it first
  // must not race it.
  const adminPort = opts.port === undefined ? adminPortFromFile(configPath) : undefined;
  if (up && adminPort) {
    up = await waitForPort(adminPort, {
      timeoutMs: opts.startTimeoutMs ?? 20000,
      isAlive: () => exitInfo === null,
    });
    // /readyz turns 200 once every identity provider's first key load has ended: a test's
    // first token must not race the key load (it would get 503). Bounded; a config that
    // never gets ready is the test's to notice.
    const deadline = Date.now() + (opts.startTimeoutMs ?? 20000);
    while (up && opts.waitReady !== false && Date.now() < deadline && exitInfo === null) {
      const code = await readyStatus(adminPort);
      if (code === 200) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  if (!up) {
    await handle.stop('SIGKILL');
    const why = exitInfo && exitInfo.error ? exitInfo.error.message
      : exitInfo ? `exit ${exitInfo.code ?? exitInfo.signal}` : 'port never opened';
    throw new Error(`stepgate did not start (${why}); stdout:\n${out}\nstderr:\n${err}`);
  }
  return handle;
}
