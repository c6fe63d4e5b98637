// Limits and timeouts through the running proxy (config/schema.h LimitsConfig, docs/config.md
// "limits"): each limit gives its documented answer at its exact boundary, counts the right
// metric, and forwards nothing that is refused.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { parseResponses, sleep } from './lib/harness.mjs';
import { assertLocalError, connect, eventually, exchange, startGateway } from './lib/gateway.mjs';

const H = 'Host: example.test\r\n';
const PARSER = 'stepgate_parser_rejections_total';

const LIMITS = {
  max_request_line: 256,
  max_header_bytes: 1024,
  max_headers: 10,
  max_body_bytes: 4096,
  header_timeout: 1000,
  idle_timeout: 800,
  request_timeout: 1500,
};

let gw;
before(async () => {
  gw = await startGateway({ limits: LIMITS });
});
after(async () => {
  if (gw) await gw.close();
});

async function accepted(bytes) {
  const seen = gw.up.requests.length;
  const { r, list } = await exchange(gw, bytes);
  assert.equal(list.length, 1, JSON.stringify(r.text.slice(0, 300)));
  assert.equal(list[0].status, 200, list[0].body);
  assert.equal(gw.up.requests.length, seen + 1);
  return list[0];
}

async function refused(bytes, status, reason) {
  gw.tap.reset();
  const seen = gw.up.requests.length;
  const { r, list, delta } = await exchange(gw, bytes);
  assert.equal(list.length, 1, JSON.stringify(r.text.slice(0, 300)));
  assertLocalError(list[0], status, reason);
  assert.equal(r.closed, true);
  assert.equal(delta(PARSER, { reason }), 1, `${PARSER}{reason="${reason}"}`);
  assert.equal(delta('stepgate_responses_total', { code: String(status) }), 1);
  await sleep(30);
  assert.equal(gw.tap.sentText(), '', 'nothing may be forwarded');
  assert.equal(gw.up.requests.length, seen);
}

// A request line of exactly `n` bytes (without CRLF).
function requestLine(n) {
  const fixed = 'GET / HTTP/1.1'.length;
  return `GET /${'a'.repeat(n - fixed)} HTTP/1.1`;
}

// A head of exactly `n` bytes including the blank line, padded in one X-Pad header.
function headOf(n, extra = '') {
  const base = `GET /pad HTTP/1.1\r\n${H}${extra}Connection: close\r\nX-Pad: \r\n\r\n`;
  const pad = n - base.length;
  assert.ok(pad >= 0);
  return base.replace('X-Pad: ', `X-Pad: ${'p'.repeat(pad)}`);
}

describe('sizes', () => {
  test('request line at max_request_line is accepted', async () => {
    const line = requestLine(LIMITS.max_request_line);
    assert.equal(line.length, 256);
    await accepted(`${line}\r\n${H}Connection: close\r\n\r\n`);
  });

  test('request line over max_request_line → 414', () =>
    refused(`${requestLine(LIMITS.max_request_line + 1)}\r\n${H}\r\n`, 414, 'uri_too_long'));

  test('request line far over the limit, sent slowly, → 414 before it ends', async () => {
    const m = await gw.measure(async () => {
      const c = await connect(gw.port);
      try {
        c.write(`GET /${'b'.repeat(200)}`);
        await sleep(50);
        c.write('c'.repeat(200));  // still no CRLF
        await c.waitFor((b, closed) => closed, 3000);
        return c.text();
      } finally {
        c.close();
      }
    });
    const list = parseResponses(m.result);
    assertLocalError(list[0], 414, 'uri_too_long');
    assert.equal(m.delta(PARSER, { reason: 'uri_too_long' }), 1);
  });

  test('head of exactly max_header_bytes is accepted', async () => {
    const head = headOf(LIMITS.max_header_bytes);
    assert.equal(head.length, 1024);
    await accepted(head);
  });

  test('head over max_header_bytes → 431', () =>
    refused(headOf(LIMITS.max_header_bytes + 1), 431, 'headers_too_large'));

  test('head far over max_header_bytes, without an end → 431', () =>
    refused(`GET / HTTP/1.1\r\n${H}X-Big: ${'x'.repeat(3000)}`, 431, 'headers_too_large'));

  test('max_headers fields are accepted', async () => {
    const fields = Array.from({ length: LIMITS.max_headers - 2 }, (_, i) => `X-F${i}: ${i}\r\n`);
    await accepted(`GET /many HTTP/1.1\r\n${H}${fields.join('')}Connection: close\r\n\r\n`);
  });

  test('more than max_headers fields → 431', () => {
    const fields = Array.from({ length: LIMITS.max_headers - 1 }, (_, i) => `X-F${i}: ${i}\r\n`);
    return refused(`GET /many HTTP/1.1\r\n${H}${fields.join('')}Connection: close\r\n\r\n`,
      431, 'too_many_headers');
  });

  test('Content-Length at max_body_bytes is accepted', async () => {
    const body = 'b'.repeat(LIMITS.max_body_bytes);
    const res = await accepted(`POST /body HTTP/1.1\r\n${H}Content-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n${body}`);
    assert.equal(JSON.parse(res.body).bodyLength, LIMITS.max_body_bytes);
  });

  test('Content-Length over max_body_bytes → 413, nothing forwarded', () => {
    const n = LIMITS.max_body_bytes + 1;
    return refused(`POST /body HTTP/1.1\r\n${H}Content-Length: ${n}\r\n\r\n${'b'.repeat(n)}`,
      413, 'body_too_large');
  });

  test('Content-Length over the limit with Expect: 100-continue → 413, no 100', async () => {
    const c = await connect(gw.port);
    try {
      c.write(`POST /body HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n`);
      assert.ok(await c.waitFor((b, closed) => closed, 3000));
      const list = parseResponses(c.text());
      assert.equal(list.length, 1);
      assertLocalError(list[0], 413, 'body_too_large');
    } finally {
      c.close();
    }
  });

  test('chunked body at max_body_bytes is accepted', async () => {
    const chunk = 'c'.repeat(1024);
    const framed = `400\r\n${chunk}\r\n`.repeat(4);
    const res = await accepted(`POST /chunks HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n` +
      `Connection: close\r\n\r\n${framed}0\r\n\r\n`);
    assert.equal(JSON.parse(res.body).bodyLength, 4096);
  });

  // The body streams: chunks within the limit may already be on the upstream connection when
  // the one that crosses it is read. The client still gets 413 (no response has started), and
  // the upstream connection is closed with the request incomplete.
  for (const [name, framed] of [
    ['one chunk', `1001\r\n${'d'.repeat(4097)}\r\n0\r\n\r\n`],
    ['the third of three chunks', `7d0\r\n${'e'.repeat(2000)}\r\n`.repeat(3) + '0\r\n\r\n'],
  ]) {
    test(`chunked body over max_body_bytes (${name}) → 413`, async () => {
      gw.tap.reset();
      const seen = gw.up.requests.length;
      const { r, list, delta } = await exchange(gw,
        `POST /chunks HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${framed}`);
      assert.equal(r.closed, true);
      assert.equal(list.length, 1, JSON.stringify(r.text.slice(0, 300)));
      assertLocalError(list[0], 413, 'body_too_large');
      assert.equal(delta(PARSER, { reason: 'body_too_large' }), 1);
      await sleep(50);
      assert.equal(gw.up.requests.length, seen, 'the upstream never completes the request');
      for (const req of gw.tap.requests()) {
        assert.equal(req.complete, false);
        assert.ok(req.body.length <= LIMITS.max_body_bytes);
      }
      for (const c of gw.tap.connections) if (c.sent.length) assert.equal(c.closed, true);
    });
  }
});

describe('timeouts', () => {
  test('slowloris: a byte every 200 ms gets 408 once header_timeout passes', async () => {
    const m = await gw.measure(async () => {
      const c = await connect(gw.port);
      const wire = `GET /slow-head HTTP/1.1\r\n${H}X-A: ${'z'.repeat(200)}\r\n\r\n`;
      const t0 = Date.now();
      try {
        for (let i = 0; i < wire.length - 4 && !c.closed() && Date.now() - t0 < 5000; i++) {
          c.write(wire[i]);
          await c.waitFor((b, closed) => closed, 200);
        }
        assert.ok(await c.waitFor((b, closed) => closed, 3000), 'closed by the server');
        return { text: c.text(), elapsed: c.closedAt() - t0 };
      } finally {
        c.close();
      }
    });
    const { text, elapsed } = m.result;
    const list = parseResponses(text);
    assert.equal(list.length, 1, JSON.stringify(text));
    assertLocalError(list[0], 408, 'header_timeout');
    assert.ok(elapsed >= LIMITS.header_timeout - 100, `closed after ${elapsed} ms`);
    assert.ok(elapsed < LIMITS.header_timeout + 2500, `closed after ${elapsed} ms`);
    assert.equal(m.delta('stepgate_timeouts_total', { kind: 'header' }), 1);
    assert.equal(m.delta('stepgate_responses_total', { code: '408' }), 1);
  });

  test('idle keep-alive connection is closed silently after idle_timeout', async () => {
    const m = await gw.measure(async () => {
      const c = await connect(gw.port);
      try {
        c.write(`GET /idle HTTP/1.1\r\n${H}\r\n`);
        assert.ok(await c.waitFor((b) => parseResponses(b).some((x) => x.complete)));
        const answered = Date.now();
        const bytes = c.data().length;
        assert.ok(await c.waitFor((b, closed) => closed, LIMITS.idle_timeout + 3000));
        return { elapsed: c.closedAt() - answered, extra: c.data().length - bytes };
      } finally {
        c.close();
      }
    });
    assert.equal(m.result.extra, 0, 'no bytes after the response');
    assert.ok(m.result.elapsed >= LIMITS.idle_timeout - 100, `${m.result.elapsed} ms`);
    assert.ok(m.result.elapsed < LIMITS.idle_timeout + 2500, `${m.result.elapsed} ms`);
    assert.equal(m.delta('stepgate_timeouts_total', { kind: 'idle' }), 1);
  });

  test('request_timeout with a hanging upstream → 504 request_timeout', async () => {
    gw.tap.reset();
    const t0 = Date.now();
    const { r, list, delta } = await exchange(gw, `GET /hang HTTP/1.1\r\n${H}\r\n`);
    const elapsed = Date.now() - t0;
    assert.equal(r.closed, true);
    assert.equal(list.length, 1, JSON.stringify(r.text));
    assertLocalError(list[0], 504, 'request_timeout');
    assert.ok(elapsed >= LIMITS.request_timeout - 100 && elapsed < LIMITS.request_timeout + 2500,
      `${elapsed} ms`);
    assert.equal(delta('stepgate_timeouts_total', { kind: 'request' }), 1);
    assert.equal(delta('stepgate_responses_total', { code: '504' }), 1);
    assert.equal(gw.tap.requests()[0].line, 'GET /hang HTTP/1.1');
    assert.ok(await eventually(() => gw.tap.connections.every((c) => !c.sent.length || c.closed)),
      'the upstream connection is abandoned');
  });

  describe('upstream response_timeout', () => {
    let rgw;
    before(async () => {
      rgw = await startGateway({
        upstreamConfig: { response_timeout: '500ms' },
        limits: { request_timeout: 10000 },
      });
    });
    after(async () => {
      if (rgw) await rgw.close();
    });

    test('→ 504 response_timeout', async () => {
      const t0 = Date.now();
      const { r, list, delta } = await exchange(rgw,
        `GET /hang HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      const elapsed = Date.now() - t0;
      assert.equal(r.closed, true);
      assertLocalError(list[0], 504, 'response_timeout');
      assert.ok(elapsed >= 400 && elapsed < 3500, `${elapsed} ms`);
      assert.equal(delta('stepgate_upstream_errors_total', { kind: 'response_timeout' }), 1);
    });

    // An upstream failure is not the client's fault: the keep-alive connection survives.
    test('→ 504 on a keep-alive connection keeps it', async () => {
      const { r, list } = await exchange(rgw, [
        `GET /hang HTTP/1.1\r\n${H}\r\n`,
        `GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      ], { gapMs: 1200 });
      assert.equal(r.closed, true);
      assert.equal(list.length, 2, JSON.stringify(r.text));
      assertLocalError(list[0], 504, 'response_timeout', { close: false });
      assert.equal(list[1].status, 200);
    });
  });
});

describe('max_connections_per_worker', () => {
  let cgw;
  before(async () => {
    cgw = await startGateway({ limits: { max_connections_per_worker: 3, header_timeout: 10000 } });
  });
  after(async () => {
    if (cgw) await cgw.close();
  });

  test('the 4th connection is closed at once; a freed slot is usable again', async () => {
    const held = [];
    try {
      // The start-up probe (a connect and close) also counted against the limit: wait until
      // the worker has seen it go, or the third connection below could be the one refused.
      assert.ok(await eventually(async () =>
        await cgw.metric('stepgate_connections_active') === 0, { timeoutMs: 8000 }),
      'no connection active before the test');
      for (let i = 0; i < 3; i++) held.push(await connect(cgw.port));
      assert.ok(await eventually(async () =>
        await cgw.metric('stepgate_connections_active') === 3, { timeoutMs: 8000 }),
      'three connections active');
      const t0 = Date.now();
      const m = await cgw.measure(() => cgw.raw(`GET /fourth HTTP/1.1\r\n${H}\r\n`,
        { timeoutMs: 3000 }));
      assert.equal(m.result.closed, true, 'closed by the server');
      assert.ok(Date.now() - t0 < 2000, 'closed at once, not after a timeout');
      assert.equal(m.result.data.length, 0, 'without a response');
      assert.equal(m.delta('stepgate_connections_rejected_total'), 1);
      assert.equal(cgw.up.requests.length, 0);

      // The held connections still work.
      held[0].write(`GET /held HTTP/1.1\r\n${H}\r\n`);
      assert.ok(await held[0].waitFor((b) => parseResponses(b).some((x) => x.complete)));
      assert.equal(parseResponses(held[0].data())[0].status, 200);

      held.pop().close();
      assert.ok(await eventually(async () =>
        await cgw.metric('stepgate_connections_active') === 2, { timeoutMs: 8000 }));
      const ok = await exchange(cgw, `GET /again HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      assert.equal(ok.list[0].status, 200);
    } finally {
      for (const c of held) c.close();
    }
  });
});

describe('max_inflight_upstream', () => {
  let igw;
  before(async () => {
    igw = await startGateway({ limits: { max_inflight_upstream: 1 } });
  });
  after(async () => {
    if (igw) await igw.close();
  });

  test('with one request in flight, another gets 503 inflight_limit', async () => {
    const hanging = await connect(igw.port);
    try {
      hanging.write(`GET /hang HTTP/1.1\r\n${H}\r\n`);
      assert.ok(await eventually(() => igw.up.requests.some((x) => x.url === '/hang')),
        'the first request reached the upstream');
      const seen = igw.up.requests.length;
      const { r, list, delta } = await exchange(igw,
        `GET /second HTTP/1.1\r\n${H}\r\n`);
      assert.equal(r.closed, true);
      assert.equal(list.length, 1, JSON.stringify(r.text));
      assertLocalError(list[0], 503, 'inflight_limit');
      assert.equal(delta('stepgate_upstream_errors_total', { kind: 'inflight_limit' }), 1);
      assert.equal(delta('stepgate_responses_total', { code: '503' }), 1);
      assert.equal(igw.up.requests.length, seen, 'the second request was not forwarded');
    } finally {
      hanging.close();
    }
    // The client gave up: its slot is freed and the next request goes through.
    assert.ok(await eventually(async () => {
      const { list } = await exchange(igw, `GET /third HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      return list[0] && list[0].status === 200;
    }), 'a request after the hanging one was abandoned');
  });
});
