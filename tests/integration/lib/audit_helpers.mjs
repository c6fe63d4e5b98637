// Helpers for the audit-log integration tests: an independent reader of the segment format of
// docs/audit.md (header, [length][CRC-32C][payload] frames), CRC-32C, the RFC 6962 Merkle
// root and the signed-note check, all in plain node:crypto; the `stepgate audit` CLI; and a
// stepgate started with an audit log, a JWT provider and a policy folder.
//
// Nothing here uses stepgate to read its own log: the tests compare what this reader finds
// with what the proxy did and with what the CLI says.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

import { runCommand } from './extras.mjs';
import { makeKey, jwks, sign, now } from './jwt.mjs';
import { startStepgate } from './stepgate.mjs';
import { startUpstream } from './upstream.mjs';
import {
  HOST, closeServer, freePort, sleep, stepgateBin, trackSockets, waitForPort, withTimeout,
} from './util.mjs';
import { deepMerge, makeTempDir, writeConfig } from './config.mjs';
import { metrics, metricValue } from './wire.mjs';

// ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, unmasked) ---------------------

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) ? ((c >>> 1) ^ 0x82F63B78) : (c >>> 1);
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf) {
  let c = 0xFFFFFFFF;
  for (let i = 0; i < buf.length; i++) c = CRC32C_TABLE[(c ^ buf[i]) & 0xFF] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

// ---- segments -----------------------------------------------------------------------------

export const SEGMENT_HEADER_BYTES = 32;
export const MAX_FRAME_PAYLOAD = 1 << 20;
const SEGMENT_NAME = /^(\d{20})\.seg$/;

// Parses one segment file's bytes. Returns {firstSeq, createdUs, frames: [{offset, length,
// crc, payload (Buffer)}], stop: null | {offset, reason}, bytes}. Throws when the header is
// not good (short, other magic, bad CRC, non-zero reserved field).
export function parseSegment(buf) {
  if (buf.length < SEGMENT_HEADER_BYTES) throw new Error(`short header (${buf.length} bytes)`);
  if (buf.subarray(0, 8).toString('latin1') !== 'SGAUDIT1') throw new Error('bad magic');
  const headerCrc = buf.readUInt32LE(24);
  if (crc32c(buf.subarray(0, 24)) !== headerCrc) throw new Error('bad header crc');
  if (buf.readUInt32LE(28) !== 0) throw new Error('non-zero reserved header field');
  const firstSeq = buf.readBigUInt64LE(8);
  const createdUs = buf.readBigInt64LE(16);
  const frames = [];
  let off = SEGMENT_HEADER_BYTES;
  let stop = null;
  while (off < buf.length) {
    if (buf.length - off < 8) {
      stop = { offset: off, reason: 'torn frame header' };
      break;
    }
    const length = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (length === 0 || length > MAX_FRAME_PAYLOAD) {
      stop = { offset: off, reason: 'bad length' };
      break;
    }
    if (buf.length - off - 8 < length) {
      stop = { offset: off, reason: 'torn payload' };
      break;
    }
    const payload = buf.subarray(off + 8, off + 8 + length);
    if (crc32c(payload) !== crc) {
      stop = { offset: off, reason: 'bad crc' };
      break;
    }
    frames.push({ offset: off, length, crc, payload });
    off += 8 + length;
  }
  return { firstSeq: Number(firstSeq), createdUs, frames, stop, bytes: buf.length };
}

// Reads every segment of the log at `dir`. With `live` a stop in the newest segment is a
// write in flight and ends the log; otherwise any stop throws. Returns {segments: [{name,
// file, ...parseSegment}], records: [{seq, payload (Buffer), text, json, segment, offset}]}.
// Checks that names match headers and that segments follow each other without a gap.
export function readLog(dir, { live = false } = {}) {
  const segDir = path.join(dir, 'segments');
  const names = fs.readdirSync(segDir).filter((n) => SEGMENT_NAME.test(n)).sort();
  const segments = [];
  const records = [];
  let expect = null;
  names.forEach((name, i) => {
    const file = path.join(segDir, name);
    const seg = parseSegment(fs.readFileSync(file));
    const nameSeq = Number(SEGMENT_NAME.exec(name)[1]);
    if (seg.firstSeq !== nameSeq) throw new Error(`${name}: header names seq ${seg.firstSeq}`);
    if (expect !== null && seg.firstSeq !== expect) {
      throw new Error(`${name}: starts at ${seg.firstSeq}, expected ${expect}`);
    }
    const newest = i === names.length - 1;
    if (seg.stop && !(live && newest)) {
      throw new Error(`${name}: ${seg.stop.reason} at offset ${seg.stop.offset}`);
    }
    seg.frames.forEach((f, k) => {
      const text = f.payload.toString('utf8');
      records.push({
        seq: seg.firstSeq + k, payload: f.payload, text, json: JSON.parse(text), segment: name,
        offset: f.offset,
      });
    });
    expect = seg.firstSeq + seg.frames.length;
    segments.push({ name, file, ...seg });
  });
  return { segments, records };
}

// Every file below `dir` (recursively) with its bytes: for "this never appears anywhere".
export function allFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push({ file: p, bytes: fs.readFileSync(p) });
    }
  };
  walk(dir);
  return out;
}

// Rewrites the frame at `offset` of segment `file` with `payload` (same length), fixing its
// CRC so only the Merkle tree can tell.
export function rewriteFrame(file, offset, payload) {
  const buf = fs.readFileSync(file);
  const length = buf.readUInt32LE(offset);
  if (payload.length !== length) throw new Error('rewriteFrame: the length must not change');
  payload.copy(buf, offset + 8);
  buf.writeUInt32LE(crc32c(payload), offset + 4);
  fs.writeFileSync(file, buf);
}

// Removes the frame at `offset` of segment `file` (its bytes are cut out).
export function deleteFrame(file, offset) {
  const buf = fs.readFileSync(file);
  const length = buf.readUInt32LE(offset);
  fs.writeFileSync(file, Buffer.concat([buf.subarray(0, offset),
    buf.subarray(offset + 8 + length)]));
}

// ---- RFC 6962 Merkle tree and signed notes -------------------------------------------------

const sha256 = (...parts) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

export function leafHash(payload) {
  return sha256(Buffer.from([0]), payload);
}

// The RFC 6962 root of `leaves` (hashes), split at the largest power of two below n.
export function merkleRoot(leaves) {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Buffer.from([1]), merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

// Checks a C2SP signed note against an Ed25519 public key (a PEM file's text) and key name.
// Returns {origin, size, root (Buffer)}; throws on a note that does not verify.
export function verifyNote(note, publicKeyPem, keyName) {
  const sep = note.indexOf('\n\n');
  if (sep < 0) throw new Error('note: no empty line after the text');
  const text = note.slice(0, sep + 1);
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[3] !== '') throw new Error('note: the text is not 3 lines');
  const key = crypto.createPublicKey(publicKeyPem);
  const raw = key.export({ format: 'der', type: 'spki' }).subarray(-32);
  const keyId = sha256(Buffer.from(`${keyName}\n`), Buffer.from([1]), raw).subarray(0, 4);
  const sigLines = note.slice(sep + 2).split('\n').filter((l) => l !== '');
  const prefix = `\u2014 ${keyName} `;
  const mine = sigLines.filter((l) => l.startsWith(prefix));
  if (mine.length === 0) throw new Error(`note: no signature by ${keyName}`);
  let ok = false;
  for (const l of mine) {
    const blob = Buffer.from(l.slice(prefix.length), 'base64');
    if (blob.length !== 68 || !blob.subarray(0, 4).equals(keyId)) continue;
    if (crypto.verify(null, Buffer.from(text, 'utf8'), key, blob.subarray(4))) ok = true;
  }
  if (!ok) throw new Error('note: bad signature');
  return { origin: lines[0], size: Number(lines[1]), root: Buffer.from(lines[2], 'base64') };
}

// Checks every `checkpoint` record of `records` (from readLog, starting at seq 0): its size is
// its own seq, its note verifies and names its size and root, and the root is the one this
// module recomputes from the payloads. Returns the number of checkpoints checked.
export function checkCheckpoints(records, publicKeyPem, keyName) {
  const leaves = records.map((r) => leafHash(r.payload));
  let n = 0;
  for (const r of records) {
    if (r.json.type !== 'checkpoint') continue;
    if (r.json.size !== r.seq) throw new Error(`checkpoint at ${r.seq} has size ${r.json.size}`);
    const note = verifyNote(r.json.note, publicKeyPem, keyName);
    if (note.size !== r.seq) throw new Error(`checkpoint at ${r.seq}: note size ${note.size}`);
    const root = merkleRoot(leaves.slice(0, r.seq));
    if (!root.equals(note.root) || root.toString('base64') !== r.json.root) {
      throw new Error(`checkpoint at ${r.seq}: root differs from the recomputed tree`);
    }
    n += 1;
  }
  return n;
}

// ---- the CLI ------------------------------------------------------------------------------

// Runs `stepgate audit ARGS`; resolves {code, stdout, stderr}.
export function auditCli(args, { timeoutMs = 60000 } = {}) {
  return runCommand(stepgateBin(), ['audit', ...args], { timeoutMs });
}

// `stepgate audit keygen FILE`: returns {key, pub} paths.
export async function auditKeygen(dir, name = 'audit-signing.pem') {
  const key = path.join(dir, name);
  const r = await auditCli(['keygen', key]);
  if (r.code !== 0) throw new Error(`audit keygen failed (${r.code}): ${r.stderr}`);
  return { key, pub: `${key}.pub` };
}

// ---- stepgate with an audit log -------------------------------------------------------------

export const ISSUER = 'https://issuer.audit.stepgate.test';
export const AUDIENCE = 'workflow-api';

// The policy the tests run with: ops may start and read payments; bob may never start it.
export const PAYMENTS_POLICY = `workflow: payments
upstream: backend
rules:
  - id: ops-start
    allow: [start, read]
    who: { groups: [ops] }
  - id: no-bob
    deny: [start]
    who: { subjects: [bob] }
`;

export const ROUTES = [
  { method: 'POST', path: '/api/workflow/{workflow}', action: 'start', workflow: '{workflow}' },
  { method: 'GET', path: '/api/workflow/{workflow}/status', action: 'read',
    workflow: '{workflow}' },
];

// A JWT issuer for the tests (an ES256 key generated here).
export function makeIssuer() {
  const key = makeKey('ES256', 'audit-k1');
  return {
    key,
    jwks: () => jwks(key),
    token(sub, groups = [], extra = {}) {
      const t = now();
      return sign(key, { iss: ISSUER, sub, aud: AUDIENCE, iat: t, exp: t + 600, groups,
        ...extra });
    },
  };
}

// Writes a config with an audit log and starts stepgate. Options:
//   audit: keys of the `audit:` section merged over the defaults (dir, signing_key given)
//   identity (default true): the JWT provider `corp`; policy (default true): the policy folder
//   upstreamPort (default: a new recording upstream), workers (default 2), extra (merged)
//   dir: reuse a directory (a restart on the same log); key: reuse {key, pub}
// Returns {dir, auditDir, configFile, key, pub, issuer, up, sg, port, adminPort, pdir,
// restart(), stop()}.
export async function startAudited(opts = {}) {
  const dir = opts.dir || makeTempDir('stepgate-audit-');
  const issuer = opts.issuer || makeIssuer();
  const keys = opts.key || await auditKeygen(dir);
  const auditDir = path.join(dir, 'audit');
  fs.writeFileSync(path.join(dir, 'jwks.json'), issuer.jwks());
  const pdir = path.join(dir, 'policies');
  if (opts.policy !== false) {
    fs.mkdirSync(pdir, { recursive: true });
    if (!fs.existsSync(path.join(pdir, 'payments.yaml'))) {
      fs.writeFileSync(path.join(pdir, 'payments.yaml'), PAYMENTS_POLICY);
    }
  }
  const up = opts.upstreamPort ? null : await startUpstream(opts.upstreamHandler);
  const upstreamPort = opts.upstreamPort || up.port;
  const port = opts.port || await freePort();
  const adminPort = opts.adminPort || await freePort();
  const extra = {
    proxy: { workers: opts.workers ?? 2 },
    log: { level: 'info' },
    audit: {
      dir: auditDir,
      durability: 'strict',
      signing_key: keys.key,
      low_disk_bytes: 0,
      ...(opts.audit || {}),
    },
  };
  if (opts.identity !== false) {
    extra.identity = {
      providers: [{
        name: 'corp', type: 'jwt', issuer: ISSUER, audiences: [AUDIENCE],
        algorithms: ['ES256'], jwks_file: 'jwks.json', claims: { groups: 'groups' },
      }],
    };
  }
  if (opts.policy !== false) extra.policies = 'policies';
  const configFile = writeConfig(dir, {
    listenPort: port, adminPort, upstreamPort,
    upstream: opts.policy !== false ? { routes: ROUTES } : undefined,
    extra: opts.extra ? deepMerge(extra, opts.extra) : extra,
  });
  const env = {
    dir, auditDir, configFile, key: keys.key, pub: keys.pub, issuer, up, port, adminPort, pdir,
    sg: null,
  };
  // The listener opens before the JWT provider's keys are loaded (until then its tokens get
  // 503 identity_unavailable, and /readyz does not wait for them): wait for the keys.
  const start = async () => {
    env.sg = await startStepgate(configFile);
    if (opts.identity !== false) {
      await waitFor('the identity keys', async () => metricValue(await metrics(adminPort),
        'stepgate_identity_keys', { provider: 'corp' }) >= 1);
    }
    return env.sg;
  };
  await start();
  env.restart = start;
  env.stop = async () => {
    await env.sg?.stop();
    await env.up?.close();
  };
  return env;
}

// Polls `fn` (sync or async) until it returns a truthy value; throws after timeoutMs.
export async function waitFor(what, fn, { timeoutMs = 10000, intervalMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// The value of an audit metric (undefined when absent).
export async function auditMetric(adminPort, name, labels = {}) {
  return metricValue(await metrics(adminPort), name, labels);
}

// Waits until every record the log has taken is durable and readable: the log read `live`
// holds at least `stepgate_audit_next_seq` records.
export async function settledLog(env, { timeoutMs = 10000 } = {}) {
  let log;
  await waitFor('the audit log to settle', async () => {
    const next = await auditMetric(env.adminPort, 'stepgate_audit_next_seq');
    log = readLog(env.auditDir, { live: true });
    return next !== undefined && log.records.length >= next;
  }, { timeoutMs });
  return log;
}

// ---- receivers for forwarding -------------------------------------------------------------

// A webhook receiver: node:http (or node:https with `tls` {key, cert} PEM texts) on
// 127.0.0.1:`port` (0: any). Every POST is kept as {headers, body (utf8 text), json} and
// answered `status` (200). Returns {port, posts, records() (by seq, deduplicated: seq ->
// record text), close()}.
export async function startWebhookReceiver({ port = 0, tls: tlsOpts, status = 200 } = {}) {
  const posts = [];
  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        // kept as text; the test sees json === null
      }
      posts.push({ method: req.method, url: req.url, headers: req.headers, body, json });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('ok\n');
    });
  };
  const server = tlsOpts ? https.createServer(tlsOpts, onRequest) : http.createServer(onRequest);
  const sockets = trackSockets(server);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, resolve);
  });
  return {
    port: server.address().port,
    posts,
    close: () => closeServer(server, sockets),
  };
}

// The records a webhook receiver got, deduplicated by seq: Map seq -> the record's JSON text
// as it appeared in the body. The body is {"records":[r1,r2,...]}: each element is cut out of
// the text by its position, so the bytes can be compared with the log's payloads.
export function webhookRecords(posts) {
  const out = new Map();
  for (const p of posts) {
    if (!p.json || !Array.isArray(p.json.records)) continue;
    const texts = splitRecordArray(p.body);
    p.json.records.forEach((r, i) => {
      const prev = out.get(r.seq);
      if (prev !== undefined && prev !== texts[i]) {
        throw new Error(`seq ${r.seq} arrived twice with different bytes`);
      }
      out.set(r.seq, texts[i]);
    });
  }
  return out;
}

// Splits `{"records":[{...},{...}]}` into the texts of its elements (a JSON-aware scan).
function splitRecordArray(body) {
  const prefix = '{"records":[';
  if (!body.startsWith(prefix) || !body.endsWith(']}')) throw new Error('not a records body');
  const texts = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = prefix.length; i < body.length - 2; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth += 1;
    } else if (c === '}') {
      depth -= 1;
      if (depth === 0) texts.push(body.slice(start, i + 1));
    }
  }
  return texts;
}

// rsyslogd receiving RFC 5424 over TCP (imtcp, octet counting) on 127.0.0.1 and writing each
// message's raw text, one a line, to `dir`/received.log. Fails with a clear message when
// rsyslogd is not installed. Returns {port, pid, file, lines(), stop()}.
export async function startRsyslog(dir) {
  const bin = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd', '/usr/local/sbin/rsyslogd']
    .find((p) => fs.existsSync(p));
  if (!bin) {
    throw new Error('rsyslogd is not installed: the syslog forwarding test needs it '
      + '(scripts/packages.txt lists the `rsyslog` package for tests)');
  }
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const file = path.join(dir, 'received.log');
  const conf = path.join(dir, 'rsyslog.conf');
  const pidFile = path.join(dir, 'rsyslogd.pid');
  fs.writeFileSync(conf, [
    `global(maxMessageSize="64k" workDirectory="${dir}")`,
    'module(load="imtcp")',
    'template(name="raw" type="string" string="%rawmsg%\\n")',
    `input(type="imtcp" port="${port}" address="${HOST}")`,
    `*.* action(type="omfile" file="${file}" template="raw")`,
    '',
  ].join('\n'));
  const proc = spawn(bin, ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stdout.on('data', (d) => { err += d; });
  proc.stderr.on('data', (d) => { err += d; });
  let exited = false;
  const done = new Promise((resolve) => proc.once('exit', () => {
    exited = true;
    resolve();
  }));
  const up = await waitForPort(port, { timeoutMs: 15000, isAlive: () => !exited });
  const stop = async () => {
    if (exited) return;
    process.kill(proc.pid, 'SIGTERM');
    try {
      await withTimeout(done, 5000, 'rsyslogd stop');
    } catch {
      process.kill(proc.pid, 'SIGKILL');
      await withTimeout(done, 5000, 'rsyslogd kill').catch(() => {});
    }
  };
  if (!up) {
    await stop();
    throw new Error(`rsyslogd did not start listening on ${port}: ${err}`);
  }
  return {
    port,
    pid: proc.pid,
    file,
    output: () => err,
    lines: () => (fs.existsSync(file)
      ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []),
    stop,
  };
}
