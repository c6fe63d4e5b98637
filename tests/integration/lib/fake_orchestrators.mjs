// Fake orchestrator upstreams for the integration tests: a recording HTTP server that answers
// like AWS Step Functions (AWS JSON 1.0) or like Conductor's REST API, with knobs to hold,
// fail or drop the read calls stepgate makes to resolve ids (lookups).
//
// Both record every request ({method, url, path, query, headers, rawHeaders, bodyBytes, body})
// in `requests`, listen on HOST (plain HTTP), and can be stopped and started again on the
// same port (stop(), restart()), so a test can take the orchestrator down and bring it back.

import crypto from 'node:crypto';
import http from 'node:http';

import { HOST, closeServer, trackSockets, withTimeout } from './util.mjs';

// A promise that the test resolves later.
export function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

// An HTTP server on HOST whose handler(req, res, rec) runs after the body is read; `rec` is
// the recorded request. Returns {port, url, requests, stop(), restart(), close()}.
async function startRecordingServer(handler, { port: wantPort = 0 } = {}) {
  const requests = [];
  const state = { server: null, sockets: null, port: wantPort };
  const listen = async () => {
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('error', () => {});
      req.on('end', () => {
        const bodyBytes = Buffer.concat(chunks);
        const u = new URL(req.url, 'http://fake.invalid');
        const rec = {
          method: req.method,
          url: req.url,
          path: u.pathname,
          query: u.searchParams,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          bodyBytes,
          body: bodyBytes.toString('utf8'),
        };
        requests.push(rec);
        Promise.resolve()
          .then(() => handler(req, res, rec))
          .catch((e) => {
            if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(String(e && e.stack));
          });
      });
    });
    server.keepAliveTimeout = 5000;
    const sockets = trackSockets(server);
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(state.port, HOST, resolve);
    });
    state.port = server.address().port;
    state.server = server;
    state.sockets = sockets;
  };
  await listen();
  const api = {
    get port() {
      return state.port;
    },
    get url() {
      return `http://${HOST}:${state.port}`;
    },
    requests,
    // Stops listening and drops every open connection (a later connect is refused).
    async stop() {
      if (!state.server) return;
      const s = state.server;
      state.server = null;
      await closeServer(s, state.sockets);
    },
    // Listens again on the same port.
    async restart() {
      if (state.server) return;
      await withTimeout(listen(), 5000, 'fake orchestrator restart');
    },
    close: () => api.stop(),
  };
  return api;
}

// How the fakes frame their answers: 'content-length' (as AWS and Spring do for small
// answers) or 'chunked'. Set per fake with setFraming().
function sendBytes(res, status, bytes, contentType, framing) {
  if (framing === 'chunked') {
    res.writeHead(status, { 'content-type': contentType, 'transfer-encoding': 'chunked' });
    res.write(bytes);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': contentType, 'content-length': bytes.length });
  res.end(bytes);
}

function sendJson(res, status, value, contentType = 'application/json', framing) {
  sendBytes(res, status, Buffer.from(JSON.stringify(value)), contentType, framing);
}

function sendText(res, status, text, framing) {
  sendBytes(res, status, Buffer.from(text), 'text/plain', framing);
}

// ---- Step Functions -----------------------------------------------------------------------

export const SFN_ACCOUNT = '123456789012';

// A fake AWS Step Functions endpoint (POST /, X-Amz-Target: AWSStepFunctions.<Op>, AWS JSON
// 1.0). Answers StartExecution, DescribeExecution, StopExecution, GetActivityTask (handing out
// the tokens queued with queueTaskToken(), or no task), SendTaskSuccess/Failure/Heartbeat and
// ListStateMachines; anything else is a 400 UnknownOperationException.
export async function startFakeStepFunctions({ region = 'us-east-1' } = {}) {
  const tokens = [];
  const json10 = 'application/x-amz-json-1.0';
  let framing = 'content-length';
  const handler = (req, res, rec) => {
    const target = String(req.headers['x-amz-target'] || '');
    const op = target.startsWith('AWSStepFunctions.') ? target.slice(17) : '';
    let input = {};
    try {
      input = rec.bodyBytes.length ? JSON.parse(rec.body) : {};
    } catch {
      sendJson(res, 400, { __type: 'SerializationException' }, json10);
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    switch (op) {
      case 'StartExecution': {
        const sm = String(input.stateMachineArn || '');
        const name = sm.split(':')[6] || 'unknown';
        const exec = input.name || crypto.randomUUID();
        sendJson(res, 200, {
          executionArn: `arn:aws:states:${region}:${SFN_ACCOUNT}:execution:${name}:${exec}`,
          startDate: now,
        }, json10);
        return;
      }
      case 'DescribeExecution': {
        const arn = String(input.executionArn || '');
        const parts = arn.split(':');
        sendJson(res, 200, {
          executionArn: arn,
          stateMachineArn: `arn:aws:states:${region}:${SFN_ACCOUNT}:stateMachine:${parts[6]}`,
          name: parts[7],
          status: 'RUNNING',
          startDate: now,
        }, json10);
        return;
      }
      case 'StopExecution':
        sendJson(res, 200, { stopDate: now }, json10);
        return;
      case 'GetActivityTask': {
        const t = tokens.shift();
        sendJson(res, 200, t ? { taskToken: t, input: '{"order":42}' } : {}, json10, framing);
        return;
      }
      case 'SendTaskSuccess':
      case 'SendTaskFailure':
      case 'SendTaskHeartbeat':
        sendJson(res, 200, {}, json10);
        return;
      case 'ListStateMachines':
        sendJson(res, 200, { stateMachines: [] }, json10);
        return;
      default:
        sendJson(res, 400, { __type: 'UnknownOperationException', message: target }, json10);
    }
  };
  const srv = await startRecordingServer(handler);
  return {
    ...srv,
    get port() {
      return srv.port;
    },
    get url() {
      return srv.url;
    },
    // 'content-length' (the default) or 'chunked' for the answers of GetActivityTask.
    setFraming(f) {
      framing = f;
    },
    // The next GetActivityTask hands out `token`.
    queueTaskToken(token) {
      tokens.push(token);
    },
    // Recorded requests for one operation (by X-Amz-Target).
    requestsFor(op) {
      return srv.requests.filter((r) => r.headers['x-amz-target'] === `AWSStepFunctions.${op}`);
    },
  };
}

// ---- Conductor ----------------------------------------------------------------------------

// A fake Conductor (OSS REST API, the calls stepgate and the tests make):
//   POST /api/workflow/{name}             start; body = input; answers the new id (text/plain)
//   POST /api/workflow                    start (StartWorkflowRequest); answers the new id
//   GET  /api/workflow/{id}               the workflow ({workflowId, workflowName, ...}) or 404
//   GET  /api/tasks/{taskId}              the task ({taskId, workflowInstanceId, ...}) or 404
//   POST /api/tasks                       task update; answers the taskId (text/plain)
//   PUT  /api/workflow/{id}/pause|resume  200, empty
//   DELETE /api/workflow/{id}             200, empty
//   PUT  /api/workflow/bulk/pause|resume  BulkResponse
// The GETs of a workflow or task are what stepgate's lookups call. `lookupMode` changes how
// they are answered: 'ok', 'error' (500), 'close' (socket destroyed), 'garbage' (200, not
// JSON), 'hang' (never answered until releaseHung() or close()), 'hold' (answered once
// release() is called). Counters: lookupCount(id) counts the GETs of one id.
export async function startFakeConductor() {
  const workflows = new Map();  // id -> {name, version}
  const tasks = new Map();      // taskId -> task JSON
  const lookups = new Map();    // id -> count of GETs
  const hung = new Set();
  const state = { lookupMode: 'ok', gate: null, framing: 'content-length' };

  const answerLookup = async (req, res, respond) => {
    const mode = state.lookupMode;
    if (mode === 'hold' && state.gate) await state.gate.promise;
    if (mode === 'error') {
      sendJson(res, 500, { status: 500, message: 'internal error' });
      return;
    }
    if (mode === 'close') {
      req.socket.destroy();
      return;
    }
    if (mode === 'garbage') {
      sendText(res, 200, 'this is not json');
      return;
    }
    if (mode === 'hang') {
      hung.add(res);
      res.on('close', () => hung.delete(res));
      return;
    }
    respond();
  };

  const handler = async (req, res, rec) => {
    const p = rec.path;
    const seg = p.split('/').slice(1).map((s) => decodeURIComponent(s));
    // seg: ['api', 'workflow', ...]
    if (seg[0] !== 'api') {
      sendJson(res, 404, { status: 404, message: `no route ${p}` });
      return;
    }
    if (req.method === 'POST' && seg[1] === 'workflow' && seg.length === 3
        && seg[2] !== 'bulk') {
      const id = crypto.randomUUID();
      workflows.set(id, { name: seg[2], version: Number(rec.query.get('version') || 1) });
      sendText(res, 200, id, state.framing);
      return;
    }
    if (req.method === 'POST' && seg[1] === 'workflow' && seg.length === 2) {
      const body = JSON.parse(rec.body);
      const id = crypto.randomUUID();
      workflows.set(id, { name: body.name, version: body.version || 1 });
      sendText(res, 200, id, state.framing);
      return;
    }
    if (req.method === 'PUT' && seg[1] === 'workflow' && seg[2] === 'bulk' && seg.length === 4) {
      const ids = JSON.parse(rec.body);
      sendJson(res, 200, { bulkErrorResults: {}, bulkSuccessfulResults: ids });
      return;
    }
    if (req.method === 'GET' && seg[1] === 'workflow' && seg.length === 3) {
      const id = seg[2];
      lookups.set(id, (lookups.get(id) || 0) + 1);
      await answerLookup(req, res, () => {
        const wf = workflows.get(id);
        if (!wf) {
          sendJson(res, 404, { status: 404, message: `No such workflow found by id: ${id}` });
          return;
        }
        sendJson(res, 200, {
          workflowId: id,
          workflowName: wf.name,
          workflowVersion: wf.version,
          status: 'RUNNING',
          createTime: 1700000000000,
          input: {},
          tasks: [],
        });
      });
      return;
    }
    if (req.method === 'GET' && seg[1] === 'tasks' && seg.length === 3) {
      const id = seg[2];
      lookups.set(id, (lookups.get(id) || 0) + 1);
      await answerLookup(req, res, () => {
        const t = tasks.get(id);
        if (!t) {
          sendJson(res, 404, { status: 404, message: `No such task found by id: ${id}` });
          return;
        }
        sendJson(res, 200, t);
      });
      return;
    }
    if (req.method === 'POST' && seg[1] === 'tasks' && seg.length === 2) {
      const body = JSON.parse(rec.body);
      sendText(res, 200, String(body.taskId || ''));
      return;
    }
    if (req.method === 'PUT' && seg[1] === 'workflow' && seg.length === 4
        && ['pause', 'resume'].includes(seg[3])) {
      res.writeHead(200, { 'content-length': 0 });
      res.end();
      return;
    }
    if (req.method === 'DELETE' && seg[1] === 'workflow' && seg.length === 3) {
      res.writeHead(200, { 'content-length': 0 });
      res.end();
      return;
    }
    sendJson(res, 404, { status: 404, message: `no route ${req.method} ${p}` });
  };

  const srv = await startRecordingServer(handler);
  const fake = {
    get port() {
      return srv.port;
    },
    get url() {
      return srv.url;
    },
    requests: srv.requests,
    workflows,
    tasks,
    // Adds a workflow run the orchestrator knows (as if started elsewhere); returns its id.
    addWorkflow(name, { version = 1, id = crypto.randomUUID() } = {}) {
      workflows.set(id, { name, version });
      return id;
    },
    addTask({ taskId = crypto.randomUUID(), workflowInstanceId, workflowType,
      referenceTaskName, taskType = referenceTaskName, status = 'IN_PROGRESS' }) {
      tasks.set(taskId, { taskId, workflowInstanceId, workflowType, referenceTaskName,
        taskType, status, workflowTaskType: 'SIMPLE' });
      return taskId;
    },
    // GETs of workflow or task `id` received so far.
    lookupCount: (id) => lookups.get(id) || 0,
    totalLookups: () => [...lookups.values()].reduce((a, b) => a + b, 0),
    // The recorded GETs of workflow or task `id`.
    lookupRequests: (id) => srv.requests.filter((r) => r.method === 'GET'
      && (r.path === `/api/workflow/${encodeURIComponent(id)}`
        || r.path === `/api/tasks/${encodeURIComponent(id)}`)),
    // 'content-length' (the default, as Spring answers) or 'chunked' for the answers of starts.
    setFraming(f) {
      state.framing = f;
    },
    setLookupMode(mode) {
      state.lookupMode = mode;
      if (mode === 'hold') state.gate = deferred();
    },
    // Lets held lookups ('hold') answer, and answers the next ones at once.
    release() {
      if (state.gate) state.gate.resolve();
      state.gate = null;
      state.lookupMode = 'ok';
    },
    // Drops the connections of lookups left unanswered by 'hang'.
    releaseHung() {
      for (const res of hung) res.destroy();
      hung.clear();
    },
    hungCount: () => hung.size,
    stop: () => srv.stop(),
    restart: () => srv.restart(),
    async close() {
      fake.release();
      fake.releaseHung();
      await srv.close();
    },
  };
  return fake;
}
