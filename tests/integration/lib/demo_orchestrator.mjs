// The built-in demo orchestrator on its own (`stepgate demo --orchestrator-only`), as an
// upstream for tests that need a real Conductor-like API and its web page behind stepgate.
//
//   const demo = await startDemoOrchestrator();
//   demo.url, demo.host, demo.port     // http://127.0.0.1:N
//   await demo.stop();                 // SIGTERM to its pid, SIGKILL after a bounded wait
//
// The process prints `demo orchestrator listening on http://HOST:N` once it accepts
// connections; that line is waited for (bounded), and on 127.0.0.1 the port is checked to
// accept TCP.

import { spawn } from 'node:child_process';

import { HOST, freePort, stepgateBin, waitForPort, withTimeout } from './util.mjs';

const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 10000;

/**
 * Options: port (default: a free port; 0: one the system picks), listen (the address for
 * --listen; default: none, the demo's own 127.0.0.1), bin (default STEPGATE_BIN).
 * Resolves to { pid, host, port, url, stdout(), stderr(), exited, stop(signal) }; stop
 * sends `signal` (SIGTERM) and resolves with the exit code, or the signal's name.
 */
export async function startDemoOrchestrator({ port, listen, bin = stepgateBin() } = {}) {
  const listenPort = port ?? await freePort();
  const args = ['demo', '--orchestrator-only', ...(listen ? ['--listen', listen] : []),
    '--port', String(listenPort)];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(code ?? signal);
    });
    proc.once('error', (e) => {
      exitInfo = { error: e };
      resolve(null);
    });
  });
  const killOnExit = () => {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);

  const listening = new Promise((resolve, reject) => {
    const check = () => {
      const m = /^demo orchestrator listening on (http:\/\/(\S+):(\d+))$/m.exec(out);
      if (m) resolve({ url: m[1], host: m[2], port: Number(m[3]) });
    };
    proc.stdout.on('data', (d) => {
      out += d;
      check();
    });
    proc.stderr.on('data', (d) => { err += d; });
    exited.then(() => reject(new Error(
      `the demo orchestrator exited before listening (${JSON.stringify(exitInfo)}); ` +
      `stdout:\n${out}\nstderr:\n${err}`)));
  });

  const stop = async (signal = 'SIGTERM') => {
    process.removeListener('exit', killOnExit);
    if (exitInfo) return exitInfo.code ?? exitInfo.signal ?? null;
    proc.kill(signal);
    try {
      return await withTimeout(exited, STOP_TIMEOUT_MS, `demo orchestrator stop (${signal})`);
    } catch {
      proc.kill('SIGKILL');
      return withTimeout(exited, 5000, 'demo orchestrator SIGKILL').catch(() => null);
    }
  };

  let where;
  try {
    where = await withTimeout(listening, START_TIMEOUT_MS, 'demo orchestrator start');
    if (listenPort !== 0 && where.port !== listenPort) {
      throw new Error(`the demo orchestrator listens on ${where.port}, not ${listenPort}`);
    }
    // waitForPort() connects to HOST only.
    if (where.host === HOST &&
        !await waitForPort(where.port, { timeoutMs: 5000, isAlive: () => exitInfo === null })) {
      throw new Error(`the demo orchestrator does not accept connections on ${where.port}`);
    }
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\nstdout:\n${out}\nstderr:\n${err}`);
  }
  return {
    pid: proc.pid,
    host: where.host,
    port: where.port,
    url: where.url,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop,
  };
}
