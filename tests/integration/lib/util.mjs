// Shared helpers of the integration harness: time bounds, ports, server shutdown.

import net from 'node:net';
import path from 'node:path';

export const HOST = '127.0.0.1';

export function stepgateBin() {
  const bin = process.env.STEPGATE_BIN;
  if (!bin) throw new Error('STEPGATE_BIN is not set (ctest sets it to the built binary)');
  return bin;
}

export function sourceDir() {
  return process.env.STEPGATE_SOURCE_DIR ||
    path.resolve(new URL('../../..', import.meta.url).pathname);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves with `promise`, or rejects after `ms` with an error naming `what`.
export function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- ports --------------------------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Resolves true once HOST:port accepts a TCP connection, false after timeoutMs.
export async function waitForPort(port, { timeoutMs = 20000, intervalMs = 50, isAlive } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isAlive && !isAlive()) return false;
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: HOST });
      const done = (v) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(1000, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
    if (ok) return true;
    await sleep(intervalMs);
  }
  return false;
}

// Tracks sockets of a server so close() can end keep-alive and hanging connections.
export function trackSockets(server) {
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

export function closeServer(server, sockets, timers = new Set()) {
  for (const t of timers) clearTimeout(t);
  timers.clear();
  return withTimeout(
    new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
    5000,
    'server close',
  ).catch(() => {});
}
