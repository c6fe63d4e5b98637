// The curl and openssl command-line tools, and a throw-away PKI made with openssl.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { HOST } from './util.mjs';

// ---- CLIs ---------------------------------------------------------------------------------

function run(cmd, args, {
  timeoutMs = 15000, input, encoding = 'utf8', maxBuffer = 64 << 20,
} = {}) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding,
      maxBuffer }, (error, stdout, stderr) => {
      let code = 0;
      if (error) code = typeof error.code === 'number' ? error.code : (child.exitCode ?? null);
      resolve({ code, stdout, stderr, timedOut: Boolean(error && error.killed), error });
    });
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// Runs the curl CLI. Resolves {code, stdout, stderr, timedOut}; never rejects.
export function curl(args, { timeoutMs = 15000, encoding = 'utf8' } = {}) {
  return run('curl', args, { timeoutMs, encoding });
}

// Runs `openssl s_client -connect HOST:port ...extraArgs` with `input` on stdin. s_client
// exits at stdin EOF, so pass -ign_eof to wait for the server's answer and close.
// Resolves {code, stdout, stderr, output (both), timedOut}; bounded by timeoutMs.
export async function opensslSClient(port, extraArgs = [], input = '', { timeoutMs = 10000 } = {}) {
  const r = await run('openssl', ['s_client', '-connect', `${HOST}:${port}`, ...extraArgs],
    { timeoutMs, input });
  return { ...r, output: `${r.stdout}${r.stderr}` };
}

async function openssl(args, opts) {
  const r = await run('openssl', args, opts);
  if (r.code !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  }
  return r;
}

// Makes an EC P-256 PKI in `dir` with the openssl CLI (independent of stepgate's own
// generator): a CA, a server certificate for localhost and 127.0.0.1 (serverAuth), a client
// certificate (clientAuth, CN test-client, URI SAN spiffe://stepgate.test/test-client), and a
// second CA with a client certificate it issued, for "untrusted client" tests.
// Returns the file paths.
export async function devPki(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const f = (name) => path.join(dir, name);
  fs.writeFileSync(f('openssl.cnf'), [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'CN = unused',
    '[ca_ext]',
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '[server_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    'subjectAltName = DNS:localhost, IP:127.0.0.1',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    '[client_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = clientAuth',
    'subjectAltName = URI:spiffe://stepgate.test/test-client, email:test-client@stepgate.test',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n'));
  const cnf = f('openssl.cnf');
  const genKey = (out) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt',
    'ec_paramgen_curve:P-256', '-out', out]);
  const makeCa = async (name, cn) => {
    await genKey(f(`${name}.key`));
    await openssl(['req', '-config', cnf, '-x509', '-new', '-key', f(`${name}.key`), '-sha256',
      '-days', '3650', '-subj', `/CN=${cn}`, '-extensions', 'ca_ext', '-out', f(`${name}.pem`)]);
  };
  const issue = async (name, cn, ext, ca) => {
    await genKey(f(`${name}.key`));
    await openssl(['req', '-config', cnf, '-new', '-key', f(`${name}.key`), '-subj', `/CN=${cn}`,
      '-out', f(`${name}.csr`)]);
    await openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.pem`), '-CAkey',
      f(`${ca}.key`), '-CAserial', f(`${ca}.srl`), '-CAcreateserial', '-days', '825',
      '-sha256', '-extfile', cnf, '-extensions', ext, '-out', f(`${name}.pem`)]);
  };
  await makeCa('ca', 'stepgate test CA');
  await issue('server', 'localhost', 'server_ext', 'ca');
  await issue('client', 'test-client', 'client_ext', 'ca');
  await makeCa('other-ca', 'stepgate untrusted CA');
  await issue('other-client', 'untrusted-client', 'client_ext', 'other-ca');
  return {
    dir,
    caCert: f('ca.pem'),
    caKey: f('ca.key'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCaCert: f('other-ca.pem'),
    untrustedClientCert: f('other-client.pem'),
    untrustedClientKey: f('other-client.key'),
  };
}
