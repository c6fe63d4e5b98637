// Path normalisation through the running proxy (proxy/http1/path_normalize.h): the upstream
// receives exactly the normalised path, the query untouched, and every bypass attempt is
// refused with 400 and its reason before anything is forwarded. The corpus of
// tests/fixtures/path_bypass.tsv is replayed on the wire.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { curl, sleep, sourceDir } from './lib/harness.mjs';
import { assertLocalError, exchange, startGateway } from './lib/gateway.mjs';

const H = 'Host: example.test\r\n';
const PATH_METRIC = 'stepgate_path_rejections_total';

let gw;       // defaults: merge_slashes false, reject_path_parameters true
let merging;  // path.merge_slashes: true
let params;   // path.reject_path_parameters: false
before(async () => {
  [gw, merging, params] = await Promise.all([
    startGateway(),
    startGateway({ path: { merge_slashes: true } }),
    startGateway({ path: { reject_path_parameters: false } }),
  ]);
});
after(async () => {
  await Promise.all([gw, merging, params].filter(Boolean).map((g) => g.close()));
});

// GET `target` raw; asserts 200 and that the upstream got exactly `expected` as its target.
async function forwards(g, target, expected) {
  g.tap.reset();
  const seen = g.up.requests.length;
  const { list } = await exchange(g, `GET ${target} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  assert.equal(list.length, 1, target);
  assert.equal(list[0].status, 200, `${target}: ${list[0].body}`);
  assert.equal(g.up.requests.length, seen + 1);
  assert.equal(g.up.requests.at(-1).url, expected, target);
  const fwd = g.tap.requests();
  assert.equal(fwd.length, 1);
  assert.equal(fwd[0].line, `GET ${expected} HTTP/1.1`);
}

// GET `target` raw; asserts 400 with `reason`, the path-rejection metric and nothing forwarded.
async function refused(g, target, reason) {
  g.tap.reset();
  const seen = g.up.requests.length;
  const { r, list, delta } = await exchange(g, `GET ${target} HTTP/1.1\r\n${H}\r\n`);
  assert.equal(list.length, 1, `${target}: ${JSON.stringify(r.text)}`);
  assertLocalError(list[0], 400, reason);
  assert.equal(r.closed, true);
  assert.equal(delta(PATH_METRIC, { reason }), 1, `${PATH_METRIC}{reason="${reason}"} for ${target}`);
  await sleep(20);
  assert.equal(g.tap.sentText(), '', `${target}: nothing may be forwarded`);
  assert.equal(g.up.requests.length, seen);
}

describe('normalised paths reach the upstream', () => {
  const viaCurl = async (g, p) => {
    const seen = g.up.requests.length;
    const r = await curl(['-sS', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}',
      `http://127.0.0.1:${g.port}${p}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '200');
    assert.equal(g.up.requests.length, seen + 1);
    return g.up.requests.at(-1).url;
  };

  test('curl --path-as-is: dot segments removed', async () => {
    assert.equal(await viaCurl(gw, '/a/./b/../c'), '/a/c');
    assert.equal(await viaCurl(gw, '/a/b/c/../../d/./e'), '/a/d/e');
    assert.equal(await viaCurl(gw, '/a/b/..'), '/a/');
  });

  test('curl --path-as-is: unreserved escapes decoded, others upper-cased', async () => {
    assert.equal(await viaCurl(gw, '/%7euser/%41%62c'), '/~user/Abc');
    assert.equal(await viaCurl(gw, '/a/%3a%40x/caf%c3%a9'), '/a/%3A%40x/caf%C3%A9');
  });

  test('curl --path-as-is: %2e%2e is a dot segment', async () => {
    assert.equal(await viaCurl(gw, '/a/b/%2e%2e/c'), '/a/c');
    assert.equal(await viaCurl(gw, '/a/%2e/b/.%2E/c'), '/a/c');
  });

  test('raw: the same through a raw socket, byte for byte', async () => {
    await forwards(gw, '/a/./b/../c', '/a/c');
    await forwards(gw, '/api/%7e', '/api/~');
    await forwards(gw, '/public/%2e%2e/admin', '/admin');
  });

  test('the query is forwarded untouched', async () => {
    await forwards(gw, '/a/./b?x=%2F..%2e&y=a;b//c&z=/../%00%7e',
      '/a/b?x=%2F..%2e&y=a;b//c&z=/../%00%7e');
    await forwards(gw, '/q?', '/q?');
    await forwards(gw, '/q??a=1', '/q??a=1');
  });

  test('absolute-form targets are normalised too', async () => {
    const seen = gw.up.requests.length;
    const { list } = await exchange(gw,
      'GET http://example.test/a/../b/%7e HTTP/1.1\r\nHost: example.test\r\n' +
      'Connection: close\r\n\r\n');
    assert.equal(list[0].status, 200);
    assert.equal(gw.up.requests.length, seen + 1);
    assert.equal(gw.up.requests.at(-1).url, '/b/~');
  });

  test('OPTIONS * is forwarded in asterisk form', async () => {
    gw.tap.reset();
    const { list } = await exchange(gw, `OPTIONS * HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(list[0].status, 200);
    assert.equal(gw.tap.requests()[0].line, 'OPTIONS * HTTP/1.1');
  });

  test('double slashes are kept by default', async () => {
    await forwards(gw, '/a//b', '/a//b');
    await forwards(gw, '//admin', '//admin');
  });

  test('path.merge_slashes: true merges runs of slashes', async () => {
    await forwards(merging, '//a///b', '/a/b');
    await forwards(merging, '/api///admin///', '/api/admin/');
    await forwards(merging, '/api///../admin', '/admin');
  });

  test('path.reject_path_parameters: false forwards ;params', async () => {
    await forwards(params, '/api/workflow/x;v=1', '/api/workflow/x;v=1');
    await forwards(params, '/api/admin;.json?a=1', '/api/admin;.json?a=1');
    await refused(params, '/public/..;/admin', 'dot_dot_semicolon');
  });
});

describe('bypass attempts are refused', () => {
  const cases = [
    ['/api/workflow/x;v=1', 'path_parameter'],
    ['/admin;jsessionid=ABC', 'path_parameter'],
    ['/public/..%2Fadmin', 'encoded_slash'],
    ['/api%2fadmin', 'encoded_slash'],
    ['/api/%5C..%5Cadmin', 'backslash'],
    ['/api/..\\admin', 'backslash'],
    ['/api/%00', 'encoded_control'],
    ['/api/%0d%0aSet-Cookie:x=1', 'encoded_control'],
    ['/public/..;/admin', 'dot_dot_semicolon'],
    ['/public/..%3B/admin', 'dot_dot_semicolon'],
    ['/api/%c0%ae%c0%ae/admin', 'invalid_utf8'],
    ['/api/%ed%a0%80', 'invalid_utf8'],
    ['/../x', 'above_root'],
    ['/a/../../x', 'above_root'],
    ['/%2e%2e/etc/passwd', 'above_root'],
    ['/api/%', 'bad_percent_encoding'],
    ['/api/%u002e', 'bad_percent_encoding'],
    ['/api/<script>', 'bad_character'],
  ];
  for (const [target, reason] of cases) {
    test(`${target} → 400 ${reason}`, () => refused(gw, target, reason));
  }

  test('raw non-ASCII and DEL bytes in the target are refused by the parser', async () => {
    for (const target of ['/api/caf\xc3\xa9', '/api/\xc0\xae\xc0\xae/admin', '/api/\x7f']) {
      gw.tap.reset();
      const { r, list, delta } = await exchange(gw, Buffer.from(
        `GET ${target} HTTP/1.1\r\n${H}\r\n`, 'latin1'));
      assert.equal(list.length, 1, JSON.stringify(r.text));
      assertLocalError(list[0], 400, 'bad_target');
      assert.equal(delta('stepgate_parser_rejections_total', { reason: 'bad_target' }), 1);
      await sleep(20);
      assert.equal(gw.tap.sentText(), '');
    }
  });

  test('curl --path-as-is gets the same 400', async () => {
    const r = await curl(['-sS', '--path-as-is', '-w', '\n%{http_code}',
      `http://127.0.0.1:${gw.port}/a/..;/admin`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.at(-1), '400');
    assert.equal(JSON.parse(lines[0]).error, 'dot_dot_semicolon');
  });
});

// ---- the fixture corpus -----------------------------------------------------------------------

function unescapeField(s) {
  return s.replace(/\\x([0-9a-fA-F]{2})|\\\\/g,
    (m, hex) => (hex ? String.fromCharCode(Number.parseInt(hex, 16)) : '\\'));
}

function loadCorpus() {
  const file = path.join(sourceDir(), 'tests', 'fixtures', 'path_bypass.tsv');
  const rows = [];
  for (const line of fs.readFileSync(file, 'latin1').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [input, expected, options] = line.split('\t');
    rows.push({
      input: unescapeField(input),
      expected: unescapeField(expected),
      options: options === '-' ? [] : options.split(','),
    });
  }
  return rows;
}

// A fixture input can be sent as an origin-form request-target only if it starts with '/'
// and has no byte the request line cannot carry (controls, space, non-ASCII) and no '#' or '?'
// (which would start a fragment or the query instead of being part of the path).
function wireTarget(input) {
  return input.startsWith('/') && /^[\x21-\x7e]*$/.test(input) && !/[#?]/.test(input);
}

describe('tests/fixtures/path_bypass.tsv on the wire', () => {
  const rows = loadCorpus();
  const gatewayFor = (options) => {
    if (options.length === 0) return gw;
    if (options.length === 1 && options[0] === 'merge_slashes') return merging;
    if (options.length === 1 && options[0] === 'allow_path_parameters') return params;
    return null;
  };

  test('the corpus is loaded', () => {
    assert.ok(rows.length > 150, `${rows.length} rows`);
    assert.ok(rows.filter((r) => r.expected.startsWith('ERROR:') && wireTarget(r.input)).length >
      80);
  });

  test('every ERROR row is refused with 400 and its reason, nothing forwarded', async () => {
    let sent = 0;
    for (const row of rows) {
      if (!row.expected.startsWith('ERROR:') || !wireTarget(row.input)) continue;
      const g = gatewayFor(row.options);
      assert.ok(g, `no gateway for options ${row.options}`);
      await refused(g, row.input, row.expected.slice('ERROR:'.length));
      sent++;
    }
    assert.ok(sent > 80, `${sent} rows sent`);
  });

  test('every other row reaches the upstream exactly normalised', async () => {
    let sent = 0;
    for (const row of rows) {
      if (row.expected.startsWith('ERROR:') || !wireTarget(row.input)) continue;
      const g = gatewayFor(row.options);
      assert.ok(g, `no gateway for options ${row.options}`);
      await forwards(g, row.input, row.expected);
      sent++;
    }
    assert.ok(sent > 60, `${sent} rows sent`);
  });
});
