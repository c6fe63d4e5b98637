// `stepgate policy check|test|explain|who-can|diff` on the fixtures in tests/fixtures/policy:
// exit codes and the lines a reviewer or a CI job relies on.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';

const bin = process.env.STEPGATE_BIN;
const root = process.env.STEPGATE_SOURCE_DIR ?? path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(root, 'tests/fixtures/policy');
const dir = path.join(fixtures, 'order-fulfillment');

function run(...args) {
  const r = spawnSync(bin, ['policy', ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('stepgate policy', () => {
  test('check: warnings with positions, exit 0; --strict exits 1', () => {
    const r = run('check', dir, '--catalog', path.join(fixtures, 'catalog.yaml'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /10-order-fulfillment\.yaml:9:5: warning: rule 'ops-read' is shadowed/);
    assert.match(r.out, /20-ops-legacy\.yaml:5:5: warning: .* \[overridden\]/);
    assert.match(r.out, /\[catalog\]/);
    assert.match(r.out, /30-admins\.yaml:5:5: warning: .* \[broad\]/);
    assert.match(r.out, /^10 rules in 3 files, 4 warnings$/m);
    assert.equal(run('check', dir, '--strict').code, 1);
    assert.equal(run('check', path.join(fixtures, 'diff-old'), '--strict').code, 0);
  });

  test('check: a load error names file:line:col and exits 1', () => {
    const r = run('check', fixtures);
    assert.equal(r.code, 1);
    assert.match(r.err, /cases-bad\.yaml:1:1: /);
  });

  test('test: runner output and exit codes', () => {
    const ok = run('test', dir, path.join(fixtures, 'cases.yaml'));
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /^ok {2}ops starts an order$/m);
    assert.match(ok.out, /^9 passed, 0 failed$/m);
    const bad = run('test', dir, path.join(fixtures, 'cases-failing.yaml'));
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^FAIL ops may pause shipping: expected allow \[legacy-ops-pause\], got deny \[pause-frozen\] \(denied\)$/m);
    assert.match(bad.out, /^1 passed, 2 failed$/m);
    const broken = run('test', dir, path.join(fixtures, 'cases-bad.yaml'));
    assert.equal(broken.code, 1);
    assert.match(broken.err, /cases-bad\.yaml:3:76: unknown action 'strat'/);
  });

  test('explain: decision and per-condition verdicts', () => {
    const r = run('explain', dir, '--subject', 'pat', '--groups', 'payments-oncall', '--mfa',
      '--upstream', 'conductor', '--workflow', 'order-fulfillment', '--step', 'charge-card',
      '--action', 'retry');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^decision: deny \(no_matching_allow\)/m);
    assert.match(r.out, /when\.source_ip \[10\.0\.0\.0\/8\]: unknown/);
    const allowed = run('explain', dir, '--subject', 'pat', '--groups', 'payments-oncall',
      '--mfa', '--source-ip', '10.9.9.9', '--upstream', 'conductor', '--workflow',
      'order-fulfillment', '--step', 'charge-card', '--action', 'retry');
    assert.match(allowed.out, /^decision: allow \(allowed\) by \[payments-retry-charge\]$/m);
    assert.equal(run('explain', dir, '--workflow', 'w').code, 2);
  });

  test('who-can: grants and overriding denies', () => {
    const r = run('who-can', dir, '--workflow', 'order-fulfillment', '--action', 'pause');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /never effective: always overridden by `pause-frozen`/);
  });

  test('diff: exit 2 widened, 1 narrowed only, 0 no change', () => {
    const oldDir = path.join(fixtures, 'diff-old');
    const newDir = path.join(fixtures, 'diff-new');
    const r = run('diff', oldDir, newDir);
    assert.equal(r.code, 2);
    assert.match(r.out, /\*\*Access widened\.\*\*/);
    assert.match(r.out, /\| \+ \| `conductor` \| `order-fulfillment` \| any \| `read` \| allow gained \| groups: \[sre\] \|/);
    assert.equal(run('diff', oldDir, oldDir).code, 0);
    assert.equal(run('diff', oldDir, path.join(fixtures, 'nonexistent')).code, 3);
  });
});
