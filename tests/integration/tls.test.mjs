// TLS on the client side of stepgate, with real clients (curl, openssl s_client, node:tls):
// protocol versions, ALPN, chain verification, SNI certificate selection, client
// certificates (required and optional), session resumption, handshake metrics, plain HTTP on
// a TLS port, and certificate reload on SIGHUP.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  buildConfig,
  curl,
  devPki,
  freePort,
  makeTempDir,
  metrics,
  metricValue,
  opensslSClient,
  rawRequest,
  startStepgate,
  startUpstream,
  toYaml,
} from './lib/harness.mjs';
import {
  certInfo,
  issueServerCert,
  openClient,
  sClientSubject,
  waitForLog,
} from './lib/extras.mjs';

const tmp = makeTempDir('stepgate-tls-');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const GET_CLOSE = 'GET /tls-check HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';

// curl against https://<name>:<port> resolved to 127.0.0.1, trusting the test CA.
function curlTls(port, { name = 'localhost', urlPath = '/hello', args = [], ca } = {}) {
  return curl(['-sS', '-v', '--max-time', '10', '--cacert', ca,
    '--resolve', `${name}:${port}:127.0.0.1`, ...args, `https://${name}:${port}${urlPath}`]);
}

function negotiated(stderr) {
  return /SSL connection using (TLSv1\.\d)/.exec(stderr)?.[1];
}

describe('TLS listeners', () => {
  let pki;
  let up;
  let sg;
  let adminPort;
  const ports = {};

  before(async () => {
    pki = await devPki(path.join(tmp, 'pki'));
    await issueServerCert(pki, 'a-test', { cn: 'a.test', dns: ['a.test'] });
    await issueServerCert(pki, 'b-test', { cn: 'b.test', dns: ['b.test'] });
    up = await startUpstream();
    for (const k of ['main', 'tls13', 'required', 'optional']) ports[k] = await freePort();
    adminPort = await freePort();
    const server = { cert: pki.serverCert, key: pki.serverKey };
    const listener = (name, port, tlsExtra) => ({
      name,
      address: `127.0.0.1:${port}`,
      upstream: 'backend',
      tls: { certificates: [server], ...tlsExtra },
    });
    const config = buildConfig({ listenPort: ports.main, upstreamPort: up.port, adminPort,
      extra: { proxy: { workers: 1 } } });
    config.listeners = [
      {
        ...listener('main', ports.main, {}),
        tls: {
          certificates: [
            server,
            { cert: path.join(pki.dir, 'a-test.pem'), key: path.join(pki.dir, 'a-test.key'),
              server_names: ['a.test'] },
            { cert: path.join(pki.dir, 'b-test.pem'), key: path.join(pki.dir, 'b-test.key'),
              server_names: ['b.test'] },
          ],
        },
      },
      listener('tls13', ports.tls13, { min_version: '1.3' }),
      listener('required', ports.required, { client_ca: pki.caCert, client_auth: 'required' }),
      listener('optional', ports.optional, { client_ca: pki.caCert, client_auth: 'optional' }),
    ];
    const file = path.join(tmp, 'tls.yaml');
    fs.writeFileSync(file, toYaml(config));
    sg = await startStepgate(file, { port: ports.main });
  });

  after(async () => {
    if (sg) assert.equal(await sg.stop(), 0, 'stepgate exits 0 on SIGTERM');
    if (up) await up.close();
  });

  test('curl over TLS 1.3 and TLS 1.2 verifies the chain and gets the upstream answer',
    async () => {
      const r13 = await curlTls(ports.main, { ca: pki.caCert, urlPath: '/v13' });
      assert.equal(r13.code, 0, r13.stderr);
      assert.equal(negotiated(r13.stderr), 'TLSv1.3');
      assert.equal(JSON.parse(r13.stdout).url, '/v13');

      const r12 = await curlTls(ports.main, { ca: pki.caCert, urlPath: '/v12',
        args: ['--tlsv1.2', '--tls-max', '1.2'] });
      assert.equal(r12.code, 0, r12.stderr);
      assert.equal(negotiated(r12.stderr), 'TLSv1.2');
      assert.equal(JSON.parse(r12.stdout).url, '/v12');
    });

  for (const [flag, proto] of [['-tls1_3', 'TLSv1.3'], ['-tls1_2', 'TLSv1.2']]) {
    test(`openssl s_client ${proto}: protocol, ALPN http/1.1, chain verified by the test CA`,
      async () => {
        const r = await opensslSClient(ports.main, ['-servername', 'localhost', '-CAfile',
          pki.caCert, '-verify_return_error', '-alpn', 'http/1.1', flag, '-ign_eof'], GET_CLOSE);
        assert.equal(r.code, 0, r.output);
        assert.match(r.output, new RegExp(`Protocol\\s*:\\s*${proto.replace('.', '\\.')}`));
        assert.match(r.output, /ALPN protocol: http\/1\.1/);
        assert.match(r.output, /Verify return code: 0 \(ok\)/);
        assert.equal(sClientSubject(r.output), 'CN = localhost');
        assert.match(r.stdout, /HTTP\/1\.1 200 OK\r\n/);
      });
  }

  test('s_client with a CA that did not sign the server certificate fails verification',
    async () => {
      const r = await opensslSClient(ports.main, ['-servername', 'localhost', '-CAfile',
        pki.otherCaCert, '-verify_return_error'], '');
      assert.notEqual(r.code, 0);
      assert.match(r.output, /verify error|unable to get local issuer certificate/);
    });

  test('a response with Connection: close over TLS ends with close_notify', async () => {
    const r = await opensslSClient(ports.main, ['-servername', 'localhost', '-ign_eof'], GET_CLOSE);
    assert.match(r.stdout, /HTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(r.output, /unexpected eof while reading/);
    assert.equal(r.code, 0);
  });

  test('min_version 1.3 refuses a TLS 1.2-only client and accepts TLS 1.3', async () => {
    const before = await metrics(adminPort);
    const c12 = await curlTls(ports.tls13, { ca: pki.caCert, args: ['--tlsv1.2', '--tls-max', '1.2'] });
    assert.notEqual(c12.code, 0, 'curl limited to TLS 1.2 must fail');
    assert.equal(c12.stdout, '');
    const s12 = await opensslSClient(ports.tls13, ['-servername', 'localhost', '-tls1_2'], '');
    assert.notEqual(s12.code, 0);
    assert.match(s12.output, /alert protocol version/);
    assert.match(s12.stdout, /^New, \(NONE\), Cipher is \(NONE\)$/m);
    const after = await metrics(adminPort);
    assert.equal(metricValue(after, 'stepgate_tls_handshake_failures_total') -
      metricValue(before, 'stepgate_tls_handshake_failures_total'), 2);
    assert.equal(metricValue(after, 'stepgate_tls_handshakes_total'),
      metricValue(before, 'stepgate_tls_handshakes_total'));

    const c13 = await curlTls(ports.tls13, { ca: pki.caCert });
    assert.equal(c13.code, 0, c13.stderr);
    assert.equal(negotiated(c13.stderr), 'TLSv1.3');
  });

  test('SNI picks the certificate by server name; unknown names get the default', async () => {
    const cases = [['a.test', 'CN = a.test'], ['b.test', 'CN = b.test'],
      ['unknown.test', 'CN = localhost'], ['localhost', 'CN = localhost']];
    for (const [name, subject] of cases) {
      const r = await opensslSClient(ports.main, ['-servername', name, '-CAfile', pki.caCert,
        '-verify_return_error'], '');
      assert.equal(r.code, 0, `${name}: ${r.output}`);
      assert.equal(sClientSubject(r.output), subject, name);
    }
    // And curl verifies the host name against the selected certificate.
    for (const name of ['a.test', 'b.test']) {
      const r = await curlTls(ports.main, { ca: pki.caCert, name, urlPath: `/sni/${name}` });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).url, `/sni/${name}`);
    }
  });

  test('client_auth required: no certificate and a foreign certificate fail, a CA-signed one works',
    async () => {
      const before = await metrics(adminPort);
      const none = await curlTls(ports.required, { ca: pki.caCert });
      assert.notEqual(none.code, 0, 'no client certificate must fail');
      assert.equal(none.stdout, '');

      const good = await curlTls(ports.required, { ca: pki.caCert, urlPath: '/mtls',
        args: ['--cert', pki.clientCert, '--key', pki.clientKey] });
      assert.equal(good.code, 0, good.stderr);
      assert.equal(JSON.parse(good.stdout).url, '/mtls');

      const foreign = await curlTls(ports.required, { ca: pki.caCert,
        args: ['--cert', pki.untrustedClientCert, '--key', pki.untrustedClientKey] });
      assert.notEqual(foreign.code, 0, 'a certificate from another CA must fail');
      assert.equal(foreign.stdout, '');

      // openssl s_client too, over TLS 1.2 where the failure is part of the handshake.
      const s = await opensslSClient(ports.required, ['-servername', 'localhost', '-tls1_2',
        '-ign_eof'], GET_CLOSE);
      assert.doesNotMatch(s.stdout, /HTTP\/1\.1 200/);
      const sOk = await opensslSClient(ports.required, ['-servername', 'localhost', '-tls1_2',
        '-cert', pki.clientCert, '-key', pki.clientKey, '-ign_eof'], GET_CLOSE);
      assert.match(sOk.stdout, /^New, TLSv1\.2/m, sOk.output);
      assert.match(sOk.stdout, /HTTP\/1\.1 200 OK\r\n/);

      const after = await metrics(adminPort);
      assert.equal(metricValue(after, 'stepgate_tls_handshake_failures_total') -
        metricValue(before, 'stepgate_tls_handshake_failures_total'), 3);
      assert.equal(metricValue(after, 'stepgate_tls_handshakes_total') -
        metricValue(before, 'stepgate_tls_handshakes_total'), 2);
    });

  test('client_auth optional: without a certificate and with a valid one both work; a foreign one fails (documented)',
    async () => {
      const none = await curlTls(ports.optional, { ca: pki.caCert, urlPath: '/anon' });
      assert.equal(none.code, 0, none.stderr);
      assert.equal(JSON.parse(none.stdout).url, '/anon');
      const good = await curlTls(ports.optional, { ca: pki.caCert, urlPath: '/with-cert',
        args: ['--cert', pki.clientCert, '--key', pki.clientKey] });
      assert.equal(good.code, 0, good.stderr);
      assert.equal(JSON.parse(good.stdout).url, '/with-cert');
      // docs/config.md: optional means no certificate is fine, but a presented one must verify.
      const foreign = await curlTls(ports.optional, { ca: pki.caCert,
        args: ['--cert', pki.untrustedClientCert, '--key', pki.untrustedClientKey] });
      assert.notEqual(foreign.code, 0);
    });

  for (const [flag, proto, name] of [['-tls1_3', 'TLSv1.3', 'localhost'],
    ['-tls1_2', 'TLSv1.2', 'localhost'], ['-tls1_3', 'TLSv1.3', 'a.test'],
    ['-tls1_2', 'TLSv1.2', 'a.test']]) {
    test(`session resumption over ${proto} (SNI ${name}): -sess_out then -sess_in is "Reused"`,
      async () => {
        const sess = path.join(tmp, `sess-${proto}-${name}.pem`);
        const first = await opensslSClient(ports.main, ['-servername', name, flag, '-sess_out',
          sess, '-ign_eof'], GET_CLOSE);
        assert.match(first.stdout, /^New, TLSv1\.\d/m, first.output);
        assert.match(first.stdout, /HTTP\/1\.1 200 OK\r\n/);
        assert.ok(fs.existsSync(sess) && fs.statSync(sess).size > 0, 'session saved');
        const second = await opensslSClient(ports.main, ['-servername', name, flag, '-sess_in',
          sess, '-ign_eof'], GET_CLOSE);
        assert.equal(second.code, 0, second.output);
        assert.match(second.stdout, new RegExp(`^Reused, ${proto.replace('.', '\\.')}`, 'm'));
        assert.match(second.stdout, /HTTP\/1\.1 200 OK\r\n/);
      });
  }

  test('each completed handshake counts once in stepgate_tls_handshakes_total', async () => {
    const before = await metrics(adminPort);
    for (let i = 0; i < 3; i++) {
      const r = await curlTls(ports.main, { ca: pki.caCert });
      assert.equal(r.code, 0, r.stderr);
    }
    const after = await metrics(adminPort);
    assert.equal(metricValue(after, 'stepgate_tls_handshakes_total') -
      metricValue(before, 'stepgate_tls_handshakes_total'), 3);
    assert.equal(metricValue(after, 'stepgate_tls_handshake_failures_total'),
      metricValue(before, 'stepgate_tls_handshake_failures_total'));
  });

  test('plain HTTP on the TLS port is a failed handshake; the proxy keeps serving', async () => {
    const before = await metrics(adminPort);
    const r = await rawRequest(ports.main, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n',
      { timeoutMs: 5000 });
    assert.equal(r.closed, true, 'the server closes the connection');
    assert.doesNotMatch(r.text, /^HTTP\/1\.1 200/);
    // A burst of garbage as well.
    const g = await rawRequest(ports.main, Buffer.alloc(4096, 0x41), { timeoutMs: 5000 });
    assert.equal(g.closed, true);
    const after = await metrics(adminPort);
    assert.equal(metricValue(after, 'stepgate_tls_handshake_failures_total') -
      metricValue(before, 'stepgate_tls_handshake_failures_total'), 2);
    const ok = await curlTls(ports.main, { ca: pki.caCert, urlPath: '/still-up' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).url, '/still-up');
    assert.equal(sg.proc.exitCode, null, 'stepgate is still running');
  });
});

describe('certificate reload on SIGHUP', () => {
  let pki;
  let up;
  let sg;
  let port;
  const dir = path.join(tmp, 'reload');

  before(async () => {
    pki = await devPki(path.join(dir, 'pki'));
    up = await startUpstream();
    port = await freePort();
    fs.copyFileSync(pki.serverCert, path.join(dir, 'live.pem'));
    fs.copyFileSync(pki.serverKey, path.join(dir, 'live.key'));
    const config = buildConfig({ listenPort: port, upstreamPort: up.port,
      tls: { cert: 'live.pem', key: 'live.key' }, extra: { proxy: { workers: 1 } } });
    const file = path.join(dir, 'stepgate.yaml');
    fs.writeFileSync(file, toYaml(config));
    sg = await startStepgate(file, { port });
  });

  after(async () => {
    if (sg) assert.equal(await sg.stop(), 0);
    if (up) await up.close();
  });

  test('a new connection sees the new certificate; an established one keeps working', async () => {
    const oldInfo = await certInfo(pki.serverCert);
    const kept = await openClient(port, { tls: { ca: fs.readFileSync(pki.caCert) } });
    try {
      const r1 = await kept.request('GET /before HTTP/1.1\r\nHost: localhost\r\n\r\n');
      assert.equal(r1.response?.status, 200, r1.text);
      assert.equal(JSON.parse(r1.response.body).url, '/before');
      assert.equal(kept.peerCertificate().serialNumber.toUpperCase(), oldInfo.serial);

      const fresh = await issueServerCert(pki, 'renewed', { cn: 'renewed.localhost',
        dns: ['localhost'], ips: ['127.0.0.1'] });
      const newInfo = await certInfo(fresh.cert);
      assert.notEqual(newInfo.serial, oldInfo.serial);
      // Replace the files the config names (rename: never a half-written file).
      for (const [src, dst] of [[fresh.key, 'live.key'], [fresh.cert, 'live.pem']]) {
        fs.copyFileSync(src, path.join(dir, `${dst}.tmp`));
        fs.renameSync(path.join(dir, `${dst}.tmp`), path.join(dir, dst));
      }
      const mark = sg.logs().length;
      process.kill(sg.pid, 'SIGHUP');
      const applied = await waitForLog(sg, (l) => l.msg === 'configuration applied',
        { after: mark });
      assert.ok(applied, `reload applied; logs:\n${sg.stderr().slice(-2000)}`);

      const s = await opensslSClient(port, ['-servername', 'localhost', '-CAfile', pki.caCert,
        '-verify_return_error', '-ign_eof'], GET_CLOSE);
      assert.equal(s.code, 0, s.output);
      assert.equal(sClientSubject(s.output), 'CN = renewed.localhost');
      assert.match(s.stdout, /HTTP\/1\.1 200 OK\r\n/);

      const fresh2 = await openClient(port, { tls: { ca: fs.readFileSync(pki.caCert) } });
      assert.equal(fresh2.peerCertificate().serialNumber.toUpperCase(), newInfo.serial);
      fresh2.close();

      // The connection opened before the reload: same certificate, still serving.
      const r2 = await kept.request('GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n');
      assert.equal(r2.response?.status, 200, r2.text);
      assert.equal(JSON.parse(r2.response.body).url, '/after');
      assert.equal(kept.peerCertificate().serialNumber.toUpperCase(), oldInfo.serial);
    } finally {
      kept.close();
    }
  });
});

