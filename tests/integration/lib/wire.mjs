// Talking to servers: raw TCP/TLS bytes, an HTTP/1.1 response splitter, a small HTTP client
// and Prometheus scraping.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

import { HOST, sleep } from './util.mjs';

// ---- raw sockets --------------------------------------------------------------------------

// Opens a TCP (or, with tls, a TLS connection that trusts anything) to HOST:port, writes
// `bytes` (a string, a Buffer, or an array of them written gapMs apart) and collects what
// comes back until the server closes, `until(buffer)` returns true, or timeoutMs passes.
// Options: timeoutMs (5000), tls (bool or tls.connect options), gapMs (20), endAfterWrite
// (half-close after writing), until.
// Returns {data (Buffer), text (latin1: one char per byte), closed (server closed), error}.
export function rawRequest(port, bytes, opts = {}) {
  const { timeoutMs = 5000, gapMs = 20, endAfterWrite = false, until } = opts;
  const parts = Array.isArray(bytes) ? bytes : [bytes];
  return new Promise((resolve) => {
    const chunks = [];
    let finished = false;
    let socket;
    const finish = (closed, error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ data, text: data.toString('latin1'), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const writeAll = async () => {
      for (let i = 0; i < parts.length && !finished; i++) {
        if (i > 0 && gapMs > 0) await sleep(gapMs);
        if (finished || socket.destroyed) return;
        socket.write(parts[i]);
      }
      if (endAfterWrite && !finished) socket.end();
    };
    if (opts.tls) {
      const tlsOpts = typeof opts.tls === 'object' ? opts.tls : {};
      socket = tls.connect({
        host: HOST,
        port,
        rejectUnauthorized: false,
        servername: 'localhost',
        ...tlsOpts,
      });
      socket.once('secureConnect', writeAll);
    } else {
      socket = net.connect({ host: HOST, port });
      socket.once('connect', writeAll);
    }
    socket.on('data', (d) => {
      chunks.push(d);
      if (until && until(Buffer.concat(chunks))) finish(false);
    });
    socket.once('end', () => finish(true));
    socket.once('close', () => finish(true));
    socket.once('error', (e) => {
      // A reset after the server answered still counts as closed by the server.
      finish(true, e);
    });
  });
}

// ---- one request over a raw socket --------------------------------------------------------

// One HTTP/1.1 request over rawRequest to HOST:port: the request line, `Host: gw`, a Cookie
// header when `cookies` is given, the raw header lines `headers` (each ending in \r\n),
// Content-Length when there is a body, and `Connection: close`. Options: headers (''), body,
// cookies ('': none), timeoutMs (8000). Resolves like rawRequest.
export function sendRequest(port, method, target, { headers = '', body, cookies = '',
  timeoutMs = 8000 } = {}) {
  const cookie = cookies ? `Cookie: ${cookies}\r\n` : '';
  const len = body !== undefined ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : '';
  return rawRequest(port,
    `${method} ${target} HTTP/1.1\r\nHost: gw\r\n${cookie}${headers}${len}Connection: close\r\n\r\n`
    + (body ?? ''), { timeoutMs });
}

// Reading one response in a rawRequest result `r` (its latin1 text): the status (NaN when
// the text does not start with an HTTP/1.1 status line), everything after the head, and
// every value of the header `name` (any case), in order.
export const statusOf = (r) => Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1]);
export const bodyOf = (r) => r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
export const headerValues = (r, name) => r.text.slice(0, r.text.indexOf('\r\n\r\n')).split('\r\n')
  .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  .map((l) => l.slice(name.length + 1).trim());
// "name=value" of a Set-Cookie value.
export const cookiePair = (setCookie) => setCookie.split(';')[0];

// ---- responses ----------------------------------------------------------------------------

function indexOfCrlf(buf, from) {
  return buf.indexOf('\r\n', from, 'latin1');
}

// Splits a byte stream of HTTP/1.1 responses (a latin1 string as returned by rawRequest, or a
// Buffer). Bodies are delimited by Content-Length, chunked encoding, or the end of the data.
// Options: noBody(index) → true for responses to HEAD requests.
// Returns [{version, status, reason, headers (lowercase name → value, repeats joined with
// ", "), rawHeaders ([[name, value]]), body (utf8), bodyBytes, chunked, trailers, complete}].
export function parseResponses(input, { noBody } = {}) {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input, 'latin1');
  const out = [];
  let pos = 0;
  for (let guard = 0; pos < buf.length && guard < 10000; guard++) {
    const headEnd = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) {
      out.push({ complete: false, partial: buf.subarray(pos).toString('latin1') });
      break;
    }
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) {
      out.push({ complete: false, partial: buf.subarray(pos).toString('latin1') });
      break;
    }
    const res = {
      version: m[1],
      status: Number(m[2]),
      reason: m[3] ?? '',
      headers: {},
      rawHeaders: [],
      body: '',
      bodyBytes: Buffer.alloc(0),
      chunked: false,
      trailers: {},
      complete: true,
    };
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      const name = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).trim();
      res.rawHeaders.push([name, value]);
      const key = name.toLowerCase();
      res.headers[key] = key in res.headers ? `${res.headers[key]}, ${value}` : value;
    }
    pos = headEnd + 4;
    const status = res.status;
    const bodiless = (status >= 100 && status < 200) || status === 204 || status === 304 ||
      (noBody && noBody(out.length));
    const te = (res.headers['transfer-encoding'] || '').toLowerCase();
    if (bodiless) {
      // nothing
    } else if (te.split(',').map((s) => s.trim()).pop() === 'chunked') {
      res.chunked = true;
      const parts = [];
      let ok = false;
      for (let g = 0; g < 1000000; g++) {
        const eol = indexOfCrlf(buf, pos);
        if (eol < 0) break;
        const size = Number.parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0], 16);
        if (!Number.isFinite(size) || size < 0) break;
        pos = eol + 2;
        if (size === 0) {
          // trailers until an empty line
          for (let t = 0; t < 1000; t++) {
            const e = indexOfCrlf(buf, pos);
            if (e < 0) break;
            const line = buf.subarray(pos, e).toString('latin1');
            pos = e + 2;
            if (line === '') {
              ok = true;
              break;
            }
            const i = line.indexOf(':');
            res.trailers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
          }
          break;
        }
        if (pos + size + 2 > buf.length) break;
        parts.push(buf.subarray(pos, pos + size));
        pos += size + 2;
      }
      res.bodyBytes = Buffer.concat(parts);
      res.complete = ok;
      if (!ok) pos = buf.length;
    } else if (res.headers['content-length'] !== undefined) {
      const len = Number(res.headers['content-length']);
      const end = Math.min(pos + (Number.isFinite(len) ? len : 0), buf.length);
      res.bodyBytes = buf.subarray(pos, end);
      res.complete = end - pos === len;
      pos = end;
    } else {
      res.bodyBytes = buf.subarray(pos);
      pos = buf.length;
    }
    res.body = res.bodyBytes.toString('utf8');
    out.push(res);
    if (!res.complete) break;
  }
  return out;
}

// ---- a small HTTP client ------------------------------------------------------------------

// One request with node:http(s) to HOST:port. Options: method, path, headers, body, tls
// (bool or https options; certificates are not verified unless tls.ca is given), timeoutMs.
// Returns {status, headers, body (utf8), bodyBytes}.
export function httpRequest(port, { method = 'GET', path: p = '/', headers = {}, body,
  tls: tlsOpts, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const common = { host: HOST, port, method, path: p, headers, agent: false };
    let req;
    const onRes = (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: bytes.toString('utf8'),
          bodyBytes: bytes });
      });
      res.on('error', reject);
    };
    if (tlsOpts) {
      const extraTls = typeof tlsOpts === 'object' ? tlsOpts : {};
      req = https.request({ ...common, rejectUnauthorized: Boolean(extraTls.ca),
        servername: 'localhost', ...extraTls }, onRes);
    } else {
      req = http.request(common, onRes);
    }
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`request timed out after ${timeoutMs} ms`));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- metrics ------------------------------------------------------------------------------

// GET /metrics from the admin listener; resolves with the body text (rejects on non-200).
export async function metrics(adminPort, { timeoutMs = 5000 } = {}) {
  const r = await httpRequest(adminPort, { path: '/metrics', timeoutMs });
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
  return r.body;
}

function parseLabels(text) {
  const labels = {};
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
  let m;
  while ((m = re.exec(text)) !== null) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    if (re.lastIndex >= text.length) break;
  }
  return labels;
}

// The value of metric `name` in Prometheus text: the sum over every series whose labels
// include all of `labels`; undefined when no series matches.
export function metricValue(text, name, labels = {}) {
  let sum;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?\s*$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? parseLabels(m[2]) : {};
    if (!Object.entries(labels).every(([k, v]) => have[k] === String(v))) continue;
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    sum = (sum ?? 0) + v;
  }
  return sum;
}
