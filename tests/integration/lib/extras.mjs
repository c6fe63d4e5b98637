// More helpers for the integration tests: extra certificates signed by a devPki() CA, a
// persistent (keep-alive) client connection, process memory, log polling and a bounded
// command runner. Node built-ins only; every wait is bounded.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

import { HOST, sleep, withTimeout } from './util.mjs';
import { parseResponses } from './wire.mjs';

// ---- commands -----------------------------------------------------------------------------

// Runs `cmd args` with a time bound. Resolves {code, signal, stdout, stderr, timedOut};
// never rejects (a missing binary gives code null and the error in stderr).
export function runCommand(cmd, args, { timeoutMs = 15000, input, env, cwd } = {}) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, {
      timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 64 << 20,
      env: env ? { ...process.env, ...env } : process.env, cwd,
    }, (error, stdout, stderr) => {
      let code = 0;
      if (error) code = typeof error.code === 'number' ? error.code : (child.exitCode ?? null);
      resolve({
        code,
        signal: child.signalCode,
        stdout,
        stderr: error && typeof error.code === 'string' ? `${stderr}${error.message}` : stderr,
        timedOut: Boolean(error && error.killed),
      });
    });
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

async function mustRun(cmd, args) {
  const r = await runCommand(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

// ---- certificates -------------------------------------------------------------------------

// Issues an EC P-256 server certificate signed by the CA of a devPki() result (`pki`), or by
// `caCert`/`caKey` if given. Writes `<pki.dir>/<name>.pem` and `.key` and returns
// {cert, key}. Options: cn (default name), dns (SAN names), ips (SAN IPs).
export async function issueServerCert(pki, name, {
  cn = name, dns = [], ips = [], caCert = pki.caCert, caKey = pki.caKey,
} = {}) {
  const f = (n) => path.join(pki.dir, n);
  const sans = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)];
  const ext = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    ...(sans.length ? [`subjectAltName = ${sans.join(', ')}`] : []),
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
  fs.writeFileSync(f(`${name}.ext`), ext);
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-out', f(`${name}.key`)]);
  await mustRun('openssl', ['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=${cn}`,
    '-out', f(`${name}.csr`)]);
  await mustRun('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', caCert, '-CAkey', caKey,
    '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
    '-days', '30', '-sha256', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`)]);
  return { cert: f(`${name}.pem`), key: f(`${name}.key`) };
}

// {subject, serial} of a PEM certificate file, as the openssl CLI prints them.
export async function certInfo(pemFile) {
  const r = await mustRun('openssl', ['x509', '-in', pemFile, '-noout', '-subject', '-serial']);
  return {
    subject: /^subject=\s*(.*)$/m.exec(r.stdout)?.[1].trim(),
    serial: /^serial=\s*(.*)$/m.exec(r.stdout)?.[1].trim().toUpperCase(),
  };
}

// The leaf subject printed by `openssl s_client` ("CN = a.test"), or undefined.
export function sClientSubject(output) {
  return /^subject=\s*(.*)$/m.exec(output)?.[1].trim();
}

// ---- a persistent client connection -------------------------------------------------------

// Opens one TCP (or TLS, with `tls`: true or tls.connect options; certificates are not
// verified unless `ca` is given) connection to HOST:port and keeps it for several requests.
// request(bytes) writes a request and resolves with the first complete response parsed from
// what arrives after it ({response, closed, text}); response is null when the server closed
// or nothing complete came within timeoutMs.
export async function openClient(port, { tls: tlsOpts, timeoutMs = 5000 } = {}) {
  let socket;
  if (tlsOpts) {
    const extra = typeof tlsOpts === 'object' ? tlsOpts : {};
    socket = tls.connect({ host: HOST, port, servername: 'localhost',
      rejectUnauthorized: Boolean(extra.ca), ...extra });
  } else {
    socket = net.connect({ host: HOST, port });
  }
  let buf = Buffer.alloc(0);
  let closed = false;
  let wake = () => {};
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    wake();
  });
  socket.on('close', () => {
    closed = true;
    wake();
  });
  socket.on('error', () => {});
  await withTimeout(new Promise((resolve, reject) => {
    socket.once(tlsOpts ? 'secureConnect' : 'connect', resolve);
    socket.once('error', reject);
  }), timeoutMs, `connect to ${port}`);

  return {
    socket,
    isClosed: () => closed,
    peerCertificate: () => (tlsOpts ? socket.getPeerCertificate() : undefined),
    async request(bytes, { timeoutMs: t = 5000, noBody } = {}) {
      buf = Buffer.alloc(0);
      if (!closed) socket.write(bytes);
      const deadline = Date.now() + t;
      while (Date.now() < deadline) {
        const [res] = parseResponses(buf, { noBody });
        if (res && res.complete) return { response: res, closed, text: buf.toString('latin1') };
        if (closed) break;
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return { response: null, closed, text: buf.toString('latin1') };
    },
    // Resolves true once the server has closed the connection, false after ms.
    async waitClosed(ms = 5000) {
      const deadline = Date.now() + ms;
      while (!closed && Date.now() < deadline) await sleep(20);
      return closed;
    },
    close() {
      socket.destroy();
    },
  };
}

// ---- processes ----------------------------------------------------------------------------

// Resident set size of process `pid` in bytes (VmRSS in /proc/<pid>/status), or undefined.
export function rssBytes(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// Polls `handle.logs()` (a startStepgate() handle) until `pred(line)` holds for a line at
// index `after` or later (pass handle.logs().length to see only new lines). Resolves the
// line, or undefined after timeoutMs.
export async function waitForLog(handle, pred, { timeoutMs = 5000, after = 0 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = handle.logs().slice(after).find(pred);
    if (line) return line;
    await sleep(25);
  }
  return undefined;
}

// Resolves true once `fn()` returns a truthy value (it may be async), false after timeoutMs.
export async function eventually(fn, { timeoutMs = 5000, intervalMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await sleep(intervalMs);
  }
  return false;
}

// ---- a connect black hole -----------------------------------------------------------------

// A loopback port whose connects never complete: a child node process listens with a
// backlog of 1 and never accepts (its thread sleeps), and `fill` connections from here fill
// the accept queue, so the kernel drops further SYNs. Returns {port, close()}.
export async function startBlackhole({ fill = 4, timeoutMs = 5000 } = {}) {
  const code = [
    "const net = require('node:net');",
    'const s = net.createServer(() => {});',
    "s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {",
    "  process.stdout.write(`${s.address().port}\\n`, () => {",
    '    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);',
    '    process.exit(0);',
    '  });',
    '});',
  ].join('\n');
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
  const killChild = () => {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', killChild);
  let port;
  try {
    port = await withTimeout(new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      child.once('exit', () => reject(new Error('black hole process exited')));
    }), timeoutMs, 'black hole start');
  } catch (e) {
    killChild();
    throw e;
  }
  const fillers = [];
  for (let i = 0; i < fill; i++) {
    const s = net.connect({ host: HOST, port });
    s.on('error', () => {});
    fillers.push(s);
  }
  await sleep(200);
  return {
    port,
    pid: child.pid,
    close() {
      for (const s of fillers) s.destroy();
      killChild();
      process.off('exit', killChild);
    },
  };
}
