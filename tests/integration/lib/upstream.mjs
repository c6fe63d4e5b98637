// Upstream servers for integration tests: a node:http echo server with scripted behaviours
// and a raw node:net server for hand-written responses.

import http from 'node:http';
import net from 'node:net';

import { HOST, closeServer, trackSockets } from './util.mjs';

// ---- upstreams ----------------------------------------------------------------------------

// The deterministic body of /big and /chunked: byte i of the stream is 'a' + (i % 26).
export function patternBytes(offset, length) {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) buf[i] = 97 + ((offset + i) % 26);
  return buf;
}

const kMaxQueryNumber = 1 << 30;

function queryInt(url, name, dflt) {
  const v = url.searchParams.get(name);
  if (v === null) return dflt;
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 0 || n > kMaxQueryNumber) return dflt;
  return n;
}

// Writes `total` pattern bytes in pieces, waiting for 'drain' when the socket is full.
async function writePattern(res, total, pieceSize = 64 * 1024) {
  let offset = 0;
  while (offset < total && !res.destroyed) {
    const n = Math.min(pieceSize, total - offset);
    const more = res.write(patternBytes(offset, n));
    offset += n;
    if (!more) {
      await new Promise((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    }
  }
}

function echoPayload(req, body) {
  return {
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    headers: req.headers,
    body: body.toString('utf8'),
    bodyLength: body.length,
  };
}

// A node:http upstream on HOST and a random port. The default handler answers by path:
//   /slow?ms=N            echo after N ms
//   /chunked?n=N&size=S   200, Transfer-Encoding: chunked, N chunks of S pattern bytes
//   /big?bytes=N          200, Content-Length N, pattern bytes written with backpressure
//   /status/NNN           status NNN with the echo as body (no body for 1xx/204/304)
//   /close                destroys the socket without answering
//   /hang                 never answers (the socket is destroyed by close())
//   anything else         200 with the echo: {method, url, httpVersion, headers, body, bodyLength}
// `handler(req, res, body)`, if given, replaces the default; it runs after the body is read.
// Every request is recorded in `requests` ({method, url, httpVersion, headers, rawHeaders,
// body (utf8), bodyBytes}) before it is answered.
export async function startUpstream(handler) {
  const requests = [];
  const timers = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: body.toString('utf8'),
        bodyBytes: body,
      });
      if (handler) {
        Promise.resolve()
          .then(() => handler(req, res, body))
          .catch((e) => {
            if (!res.headersSent) res.writeHead(500);
            res.end(String(e && e.stack));
          });
        return;
      }
      defaultHandler(req, res, body, timers);
    });
  });
  server.keepAliveTimeout = 5000;
  const sockets = trackSockets(server);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: `http://${HOST}:${port}`,
    server,
    requests,
    close: () => closeServer(server, sockets, timers),
  };
}

function sendEcho(req, res, body, status = 200) {
  if ((status >= 100 && status < 200) || status === 204 || status === 304) {
    res.writeHead(status);
    res.end();
    return;
  }
  const json = Buffer.from(JSON.stringify(echoPayload(req, body)));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': json.length });
  res.end(json);
}

function defaultHandler(req, res, body, timers) {
  const url = new URL(req.url, 'http://upstream.invalid');
  const p = url.pathname;
  if (p === '/slow') {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!res.destroyed) sendEcho(req, res, body);
    }, queryInt(url, 'ms', 1000));
    timers.add(t);
    return;
  }
  if (p === '/chunked') {
    const n = queryInt(url, 'n', 3);
    const size = queryInt(url, 'size', 16);
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    (async () => {
      for (let i = 0; i < n && !res.destroyed; i++) {
        if (size > 0 && !res.write(patternBytes(i * size, size))) {
          await new Promise((resolve) => {
            res.once('drain', resolve);
            res.once('close', resolve);
          });
        }
        // Let each write leave as its own chunk.
        await new Promise((resolve) => setImmediate(resolve));
      }
      res.end();
    })();
    return;
  }
  if (p === '/big') {
    const bytes = queryInt(url, 'bytes', 1 << 20);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
    writePattern(res, bytes).then(() => res.end());
    return;
  }
  const status = /^\/status\/(\d{3})$/.exec(p);
  if (status) {
    sendEcho(req, res, body, Number(status[1]));
    return;
  }
  if (p === '/close') {
    req.socket.destroy();
    return;
  }
  if (p === '/hang') {
    return;
  }
  sendEcho(req, res, body);
}

// A node:net server for hand-written (malformed) responses. onConnection(socket) gets every
// connection; received bytes are also collected in `connections[i].received()`.
export async function startRawUpstream(onConnection) {
  const connections = [];
  const server = net.createServer((socket) => {
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {});
    connections.push({ socket, received: () => Buffer.concat(chunks) });
    if (onConnection) onConnection(socket);
  });
  const sockets = trackSockets(server);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address();
  return { port, server, connections, close: () => closeServer(server, sockets) };
}
