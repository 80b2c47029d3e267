// Swarm load test for hypercode-core.
//
// Models a swarm of 50 concurrent agents driving the core's API: each VU is one swarm member
// that submits work, polls what it submitted and now and then kills an agent. Closed loop
// with no think time, so the figures say what the core sustains at 50-way concurrency. Each
// VU walks a fixed 10-step cycle keyed by its iteration counter, so the mix is exactly
// 70 % submit_task, 20 % query_status, 10 % kill_agent by construction:
//   - submit_task:  POST /api/v1/execution/execute, a small python task;
//   - query_status: GET /api/v1/execution/{id} of a task this VU submitted;
//   - kill_agent:   DELETE /api/v1/agents/{id} of a simulated agent this VU registered just
//                   before (the registration is tagged register_simulated_agent and left out
//                   of the mix), never a real worker: simulated agents advertise a capability
//                   no task asks for, so they never hold work.
// Every request carries the tag `operation` with its operation name (not `scenario`: k6 sets
// that system tag itself). SLA thresholds (p95 < 500 ms, < 1 % failed requests) hold globally
// and per tag; > 99 % of checks must pass.
// Backpressure: a core with a queue cap (HYPERCODE_MAX_QUEUED_TASKS…, docs/api.md) refuses a
// submit with 429 and Retry-After. That is the core working as configured, not failing: the
// 429 is counted in `submit_backpressure` (and the summary), has its own check, and is left
// out of http_req_failed. So the failure SLA still counts only what went wrong, and the
// latency SLA also holds for accepted submits alone (status 202), which fast refusals
// cannot hide. A VU whose every submit was refused has no task to read and skips the read.
// A share of the requests is traced (lib/tracing.js): the summary links the slowest traced
// request and every failed one of each operation to its trace in Jaeger.
//
// Environment:
//   BASE_URL       core to test, e.g. http://127.0.0.1:8000 (required)
//   CLIENT_KEY     API key with the client role (submit, read)          (required)
//   REGISTRAR_KEY  API key with the registrar role (register agents)    (required)
//   ADMIN_KEY      API key with the admin role (kill agents)            (required)
//   PROFILE        load shape from profiles.json: full (default), ci, smoke
//   SUMMARY_JSON   where to write the machine-readable summary (shape in lib/summary.js)
//   TRACED_SHARE   share of requests sent with a sampled W3C traceparent (default 0.01)
//   OTLP_TRACES_URL  Jaeger's OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces
//   JAEGER_URL     Jaeger's query API and UI, e.g. http://127.0.0.1:16686, for the links
//                  (without the two, requests are still traced, the summary has no links)
// The web dashboard's HTML report is k6's own: K6_WEB_DASHBOARD=true
// K6_WEB_DASHBOARD_EXPORT=report.html (harness/k6.py sets both).

import http from 'k6/http';
import { check, fail } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

import { BACKPRESSURE_METRIC, buildSummary, formatSummary } from './lib/summary.js';
import {
  DEFAULT_ANSWERS, expectedAnswers, exportSpan, newTrace, traceHeaders, traceLinks,
} from './lib/tracing.js';

const PROFILES = JSON.parse(open('./profiles.json'));
const PROFILE_NAME = __ENV.PROFILE || 'full';
const PROFILE = PROFILES[PROFILE_NAME];
if (PROFILE === undefined) {
  throw new Error(
    `unknown PROFILE "${PROFILE_NAME}": choose one of ${Object.keys(PROFILES).join(', ')}`,
  );
}

const BASE_URL = (__ENV.BASE_URL || '').replace(/\/+$/, '');
const API = `${BASE_URL}/api/v1`;

const TRACED_SHARE = Number(__ENV.TRACED_SHARE || '0.01');
if (!(TRACED_SHARE >= 0 && TRACED_SHARE <= 1)) {
  throw new Error(`TRACED_SHARE must be a number from 0 to 1, not "${__ENV.TRACED_SHARE}"`);
}
// Jaeger is asked for at most this many failed requests per operation; the summary counts
// the rest (a run where every request of an operation fails could list thousands).
const TRACES_MAX_FAILED = Number(__ENV.TRACES_MAX_FAILED || '1000');
if (!(Number.isInteger(TRACES_MAX_FAILED) && TRACES_MAX_FAILED >= 0)) {
  throw new Error(`TRACES_MAX_FAILED must be a whole number >= 0, not "${__ENV.TRACES_MAX_FAILED}"`);
}
const OTLP_TRACES_URL = __ENV.OTLP_TRACES_URL || '';
const JAEGER_URL = (__ENV.JAEGER_URL || '').replace(/\/+$/, '');

const OPERATIONS = ['submit_task', 'query_status', 'kill_agent'];
const REGISTER = 'register_simulated_agent';
const TARGET_MIX = { submit_task: 70, query_status: 20, kill_agent: 10 };

// One cycle per 10 iterations; reads are spread out so each one has fresh tasks behind it.
const CYCLE = [
  'submit_task', 'submit_task', 'query_status', 'submit_task', 'submit_task',
  'kill_agent', 'submit_task', 'submit_task', 'query_status', 'submit_task',
];

const SLA = { 'http_req_duration': ['p(95)<500'], 'http_req_failed': ['rate<0.01'] };
// A run that never sent some operation (setup failed, a step broke) must not pass as
// "no threshold crossed": every tag has to have been exercised.
const EXERCISED = { 'http_reqs': ['count>0'] };

// The core's answer to a submit over a queue cap: backpressure, not a failure.
const BACKPRESSURE = 429;
const SUBMIT_ANSWERS = expectedAnswers([BACKPRESSURE]);
const submitBackpressure = new Counter(BACKPRESSURE_METRIC);

function thresholdsPerTag() {
  const thresholds = {
    ...SLA,
    checks: ['rate>0.99'],
    'http_req_duration{operation:submit_task,status:202}': SLA.http_req_duration,
  };
  for (const tag of [...OPERATIONS, REGISTER]) {
    for (const [metric, rules] of Object.entries({ ...SLA, ...EXERCISED })) {
      thresholds[`${metric}{operation:${tag}}`] = rules;
    }
  }
  return thresholds;
}

export const options = {
  scenarios: {
    swarm: {
      executor: 'ramping-vus',
      exec: 'swarmCycle',
      startVUs: 0,
      stages: PROFILE.stages,
      gracefulRampDown: '5s',
    },
  },
  thresholds: thresholdsPerTag(),
  // count is what the mix is computed from; p(50)/p(95)/p(99) are what the SLA talks about.
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(95)', 'p(99)', 'count'],
};

const TASK_IDS_KEPT = 20;
const submittedTaskIds = []; // per VU: each VU runs its own copy of this module
let refusedSubmits = 0; // per VU: submits the core refused with backpressure

function authorized(key, tags) {
  return {
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    tags,
  };
}

// One request of an operation, traced for TRACED_SHARE of them (and when it fails, by
// `answers`: which statuses are not failures).
function send(run, method, url, body, key, tags, answers = DEFAULT_ANSWERS) {
  const trace = newTrace(TRACED_SHARE);
  const params = authorized(key, tags);
  params.headers = { ...params.headers, ...traceHeaders(trace) };
  params.responseCallback = answers.callback;
  const startedMs = Date.now();
  const res = http.request(method, url, body, params);
  exportSpan(OTLP_TRACES_URL, {
    trace,
    operation: tags.operation,
    runId: run.runId,
    startedMs,
    res,
    answers,
    vu: exec.vu.idInTest,
    iteration: exec.vu.iterationInScenario,
  });
  return res;
}

function requireEnv() {
  const missing = ['BASE_URL', 'CLIENT_KEY', 'REGISTRAR_KEY', 'ADMIN_KEY'].filter(
    (name) => !__ENV[name],
  );
  if (missing.length > 0) {
    fail(`missing environment variable(s): ${missing.join(', ')}`);
  }
}

export function setup() {
  requireEnv();
  const ready = http.get(`${BASE_URL}/readyz`, { tags: { name: 'setup_readyz' } });
  if (ready.status === 0) {
    fail(`hypercode-core is not reachable at ${BASE_URL}: ${ready.error}`);
  }
  if (ready.status !== 200) {
    fail(`hypercode-core at ${BASE_URL} is not ready: GET /readyz answered ${ready.status}`);
  }
  const probe = http.get(
    `${API}/execution?limit=1`,
    authorized(__ENV.CLIENT_KEY, { name: 'setup_client_key' }),
  );
  if (probe.status !== 200) {
    fail(`CLIENT_KEY was refused: GET /api/v1/execution answered ${probe.status} ${probe.body}`);
  }
  // Tags this run's client spans, so the summary finds them among earlier runs' traces.
  return { runId: `${Date.now()}-${Math.floor(Math.random() * 1e9)}` };
}

export function submitTask(run) {
  const iteration = exec.vu.iterationInScenario;
  const body = JSON.stringify({
    kind: 'python',
    payload: { code: `print(sum(range(${iteration})))` },
    timeout_s: 10,
  });
  const res = send(run, 'POST', `${API}/execution/execute`, body, __ENV.CLIENT_KEY,
    { operation: 'submit_task' }, SUBMIT_ANSWERS);
  if (res.status === BACKPRESSURE) {
    submitBackpressure.add(1);
    refusedSubmits += 1;
    check(res, {
      'backpressure (429) says when to retry': (r) => Number(r.headers['Retry-After']) >= 1,
    });
    return;
  }
  const accepted = check(res, {
    'status is 202': (r) => r.status === 202,
    'task is queued with an id': (r) => r.status === 202 && r.json('status') === 'queued'
      && typeof r.json('id') === 'string',
  });
  if (accepted) {
    submittedTaskIds.push(res.json('id'));
    if (submittedTaskIds.length > TASK_IDS_KEPT) submittedTaskIds.shift();
  }
}

export function queryStatus(run) {
  const taskId = submittedTaskIds[Math.floor(Math.random() * submittedTaskIds.length)];
  if (taskId === undefined && refusedSubmits > 0) return; // backpressure took them all
  if (!check(taskId, { 'VU has a task of its own to read': (id) => id !== undefined })) return;
  const res = send(run, 'GET', `${API}/execution/${taskId}`, null, __ENV.CLIENT_KEY,
    { operation: 'query_status', name: `${API}/execution/{id}` });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'body is the task asked for': (r) => r.status === 200 && r.json('id') === taskId,
  });
}

function registerSimulatedAgent(run) {
  const name = `k6-simulated-vu${exec.vu.idInTest}-it${exec.vu.iterationInScenario}`;
  const res = send(run, 'POST', `${API}/agents`,
    JSON.stringify({ name, capabilities: ['k6-simulated-never-matches'] }),
    __ENV.REGISTRAR_KEY, { operation: REGISTER });
  const registered = check(res, {
    'simulated agent registered (201)': (r) => r.status === 201 && typeof r.json('id') === 'string',
  });
  return registered ? res.json('id') : undefined;
}

export function killAgent(run) {
  const agentId = registerSimulatedAgent(run);
  if (agentId === undefined) return;
  const res = send(run, 'DELETE', `${API}/agents/${agentId}`, null, __ENV.ADMIN_KEY,
    { operation: 'kill_agent', name: `${API}/agents/{id}` });
  check(res, { 'status is 204': (r) => r.status === 204 });
}

const STEPS = { submit_task: submitTask, query_status: queryStatus, kill_agent: killAgent };

export function swarmCycle(run) {
  STEPS[CYCLE[exec.vu.iterationInScenario % CYCLE.length]](run);
}

export function handleSummary(data) {
  const summary = buildSummary(data, {
    profile: PROFILE_NAME,
    baseUrl: BASE_URL,
    operations: OPERATIONS,
    supportTags: [REGISTER],
    targetMix: TARGET_MIX,
    backpressureOf: 'submit_task',
    traces: data.setup_data === undefined ? null : traceLinks({
      jaegerUrl: JAEGER_URL,
      runId: data.setup_data.runId,
      share: TRACED_SHARE,
      operations: [...OPERATIONS, REGISTER],
    }, { maxFailed: TRACES_MAX_FAILED }),
  });
  const outputs = { stdout: formatSummary(summary) };
  if (__ENV.SUMMARY_JSON) {
    outputs[__ENV.SUMMARY_JSON] = JSON.stringify(summary, null, 2);
  }
  return outputs;
}
