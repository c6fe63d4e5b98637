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

// A port that is free now, for a server the test is about to start. Chosen below the kernel's
// ephemeral range (32768-60999 by default), so the many outgoing connections of tests running
// in parallel cannot take it between this check and the server's bind; random within
// 20000-32767, and checked by binding it.
const PORT_LOW = 20000;
const PORT_HIGH = 32767;

function tryBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

export async function freePort() {
  for (let i = 0; i < 200; i += 1) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW));
    if (await tryBind(port)) return port;
  }
  throw new Error(`freePort: no free port in ${PORT_LOW}-${PORT_HIGH} after 200 tries`);
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
