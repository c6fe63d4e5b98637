// OCSF export validated against JSON Schemas of OCSF 1.1.0 API Activity (6003) and
// Authentication (3002) in tests/fixtures/ocsf/, with an independent validator (Ajv).
//
// The events are real export output: the unit test ExportTest.OcsfExportWritesOneEventPerMappedRecord
// runs stepgate's exporter over a crafted log and, when STEPGATE_OCSF_SAMPLE_OUT is set, copies
// the records.ocsf.jsonl it wrote there. The unit binary sits beside the stepgate binary's
// directory (build/tests/unit_audit); STEPGATE_UNIT_AUDIT overrides that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Ajv from 'ajv';

const source = process.env.STEPGATE_SOURCE_DIR ?? path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(source, 'tests/fixtures/ocsf');

function unitBinary() {
  if (process.env.STEPGATE_UNIT_AUDIT) return process.env.STEPGATE_UNIT_AUDIT;
  const bin = process.env.STEPGATE_BIN;
  if (!bin) throw new Error('STEPGATE_BIN is not set (ctest sets it to the built binary)');
  return path.resolve(path.dirname(bin), '..', 'tests', 'unit_audit');
}

function loadSchema(name) {
  return JSON.parse(fs.readFileSync(path.join(fixtures, name), 'utf8'));
}

function validators() {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addSchema(loadSchema('objects.schema.json'));
  return {
    6003: ajv.compile(loadSchema('api_activity.schema.json')),
    3002: ajv.compile(loadSchema('authentication.schema.json')),
  };
}

function exportSample() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepgate-ocsf-'));
  const out = path.join(dir, 'events.jsonl');
  try {
    const binary = unitBinary();
    assert.ok(fs.existsSync(binary), `the unit test binary ${binary} is not built`);
    execFileSync(binary, ['--gtest_filter=ExportTest.OcsfExportWritesOneEventPerMappedRecord'], {
      env: { ...process.env, STEPGATE_OCSF_SAMPLE_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    const lines = fs.readFileSync(out, 'utf8').split('\n').filter((l) => l.length > 0);
    return lines.map((l) => JSON.parse(l));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('every exported OCSF event validates against its class schema', () => {
  const v = validators();
  const events = exportSample();
  assert.deepEqual(events.map((e) => e.class_uid), [6003, 6003, 3002, 6003]);
  for (const e of events) {
    const validate = v[e.class_uid];
    assert.ok(validate, `no schema for class ${e.class_uid}`);
    assert.ok(validate(e), `seq ${e.metadata?.sequence}: ${JSON.stringify(validate.errors)}`);
  }
  // The mapping the issue asks for, on the real output.
  const [allow, deny, authFailure] = events;
  assert.equal(allow.disposition, 'Allowed');
  assert.equal(deny.disposition, 'Blocked');
  assert.equal(deny.activity_id, 4); // undefine: Delete
  assert.equal(authFailure.activity_name, 'Logon');
  assert.equal(authFailure.status, 'Failure');
  assert.equal(authFailure.status_detail, 'token_expired');
  for (const e of events) {
    assert.equal(e.metadata.product.name, 'stepgate');
    assert.equal(typeof e.metadata.uid, 'string');
    assert.equal(typeof e.metadata.sequence, 'number');
  }
});

test('the schemas reject events that break the class contract', () => {
  const v = validators();
  const [allow, , authFailure] = exportSample();
  const broken = [
    [6003, { ...allow, actor: undefined }],                       // required attribute
    [6003, { ...allow, activity_id: 7 }],                         // not an activity of 6003
    [6003, { ...allow, type_uid: 300201 }],                       // type of another class
    [6003, { ...allow, time: allow.time_dt }],                    // timestamp_t is an integer
    [6003, { ...allow, api: { service: allow.api.service } }],    // api.operation required
    [6003, { ...allow, disposition_id: 42 }],                     // unknown enum value
    [6003, { ...allow, actr: allow.actor }],                      // misspelt attribute
    [3002, { ...authFailure, user: undefined }],                  // required attribute
    [3002, { ...authFailure, status_id: 5 }],                     // unknown enum value
    [3002, { ...authFailure, metadata: { ...authFailure.metadata, version: undefined } }],
  ];
  for (const [cls, event] of broken) {
    const clean = JSON.parse(JSON.stringify(event)); // drops the undefined members
    assert.equal(v[cls](clean), false, `accepted: ${JSON.stringify(clean).slice(0, 200)}`);
  }
});
