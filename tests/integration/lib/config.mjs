// Builds and writes stepgate YAML configs (schema: config/schema.h; keys are the struct
// fields in snake_case).

import fs from 'node:fs';
import path from 'node:path';

import { HOST } from './util.mjs';

// ---- config -------------------------------------------------------------------------------

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
}

// Objects merge key by key; arrays and scalars from `b` replace; undefined in `b` is ignored.
export function deepMerge(a, b) {
  if (!isPlainObject(a) || !isPlainObject(b)) return b === undefined ? a : b;
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v);
  return out;
}

function yamlScalar(v) {
  if (v === null) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(String(v));  // a JSON string is a valid YAML double-quoted scalar
}

// Block-style YAML for plain objects, arrays and scalars; undefined values are left out.
export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  const lines = [];
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    for (const item of value) {
      if (isPlainObject(item) || Array.isArray(item)) {
        const inner = toYaml(item, indent + 2);
        lines.push(`${pad}- ${inner.slice(indent + 2)}`);
      } else {
        lines.push(`${pad}- ${yamlScalar(item)}\n`);
      }
    }
    return lines.join('');
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return `${pad}{}\n`;
    for (const [k, v] of entries) {
      const key = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k);
      if ((isPlainObject(v) && Object.keys(v).length) || (Array.isArray(v) && v.length)) {
        lines.push(`${pad}${key}:\n${toYaml(v, indent + 2)}`);
      } else if (isPlainObject(v)) {
        lines.push(`${pad}${key}: {}\n`);
      } else if (Array.isArray(v)) {
        lines.push(`${pad}${key}: []\n`);
      } else {
        lines.push(`${pad}${key}: ${yamlScalar(v)}\n`);
      }
    }
    return lines.join('');
  }
  return `${pad}${yamlScalar(value)}\n`;
}

// Numbers given for duration keys (…timeout, …_rotation, drain_timeout) mean milliseconds.
function normalizeDurations(obj) {
  if (Array.isArray(obj)) return obj.map(normalizeDurations);
  if (!isPlainObject(obj)) return obj;
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'number' && /(timeout|_rotation)$/.test(k)) {
      out[k] = `${v}ms`;
    } else {
      out[k] = normalizeDurations(v);
    }
  }
  return out;
}

const configMeta = new Map();  // config path -> {listenPort, adminPort, tls}

// What writeConfig() recorded about the file at `configPath`, or undefined.
export function configInfo(configPath) {
  return configMeta.get(path.resolve(configPath));
}

// Builds the config object writeConfig() writes (exported so tests can inspect or extend it).
//   listenPort, upstreamPort, adminPort: ports on HOST
//   tls: {cert, key, serverNames?, clientCa?, clientAuth? ('required' when clientCa is set),
//         minVersion?, sessionTickets?}
//   limits, path: objects with the schema's snake_case keys (numbers for *_timeout are ms)
//   upstream: extra keys for the upstream ('backend'), e.g. {profile: 'conductor'}
//   extra: deep-merged over the whole config last (e.g. {proxy: {workers: 4}})
// Defaults chosen for tests: proxy.workers 2, proxy.drain_timeout 2s, log.level debug.
export function buildConfig({
  listenPort, upstreamPort, adminPort, tls: tlsOpts, limits, path: pathOpts, upstream, extra,
} = {}) {
  if (!listenPort || !upstreamPort) {
    throw new Error('buildConfig: listenPort and upstreamPort are required');
  }
  const listener = {
    name: 'main',
    address: `${HOST}:${listenPort}`,
    upstream: 'backend',
  };
  if (tlsOpts) {
    listener.tls = {
      certificates: [{
        cert: tlsOpts.cert,
        key: tlsOpts.key,
        server_names: tlsOpts.serverNames,
      }],
      client_ca: tlsOpts.clientCa,
      client_auth: tlsOpts.clientAuth ?? (tlsOpts.clientCa ? 'required' : undefined),
      min_version: tlsOpts.minVersion,
      session_tickets: tlsOpts.sessionTickets,
    };
  }
  let config = {
    listeners: [listener],
    upstreams: {
      backend: {
        profile: 'generic',
        url: `http://${HOST}:${upstreamPort}`,
        connect_timeout: '2s',
        response_timeout: '30s',
        ...(upstream || {}),
      },
    },
    limits: limits || undefined,
    path: pathOpts || undefined,
    proxy: { workers: 2, drain_timeout: '2s' },
    admin: adminPort ? { address: `${HOST}:${adminPort}` } : undefined,
    log: { level: 'debug' },
  };
  if (extra) config = deepMerge(config, extra);
  return normalizeDurations(config);
}

// Writes `dir`/stepgate.yaml (or opts.fileName) and returns its path.
export function writeConfig(dir, opts = {}) {
  const config = buildConfig(opts);
  const file = path.join(dir, opts.fileName || 'stepgate.yaml');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, `# written by tests/integration/lib/harness.mjs\n${toYaml(config)}`);
  configMeta.set(path.resolve(file), {
    listenPort: opts.listenPort,
    adminPort: opts.adminPort,
    tls: Boolean(opts.tls),
  });
  return file;
}

export function makeTempDir(prefix = 'stepgate-it-') {
  return fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', prefix));
}
