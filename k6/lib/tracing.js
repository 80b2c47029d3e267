// From a k6 request to its trace in Jaeger.
//
// A share of the requests (TRACED_SHARE) carries a W3C `traceparent` with the sampled flag,
// so hypercode-core records them whatever its own door sampling does for new traces. For
// each such request, and for every failed one, k6 sends its own client span (service
// `swarm-k6`, named after the operation, timed as k6 saw the request) to Jaeger over
// OTLP/HTTP: the root of the trace, the core's spans below it. A failed request that was not
// sampled gets a trace of that one span, so every failure has a link.
// At the end, handleSummary asks Jaeger's query API for the run's slowest traced requests and
// its failed ones, per operation (`traceLinks`), by the run id that setup() chose.

import http from 'k6/http';
import crypto from 'k6/crypto';
import { sleep } from 'k6';

export const SERVICE = 'swarm-k6';
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;
const EXPORT_TIMEOUT = '2s';
// Jaeger's collector batches spans for up to 200 ms: the last requests' spans need that long.
const COLLECTOR_DELAY_S = 1;

function randomHex(bytes) {
  return Array.from(new Uint8Array(crypto.randomBytes(bytes)))
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
}

function ids() {
  return { traceId: randomHex(16), spanId: randomHex(8) };
}

// A new trace for one request: sampled (traceparent sent) for `share` of them. The others
// get ids only if they fail (exportSpan), so an ordinary request costs one random number.
export function newTrace(share) {
  return Math.random() < share ? { ...ids(), sampled: true } : { sampled: false };
}

// The headers that put the core's spans into this trace; none for an unsampled request, so
// the core's door sampling decides as for any other caller.
export function traceHeaders(trace) {
  return trace.sampled ? { traceparent: `00-${trace.traceId}-${trace.spanId}-01` } : {};
}

// Which answers to a kind of request are not failures, told once to k6 and to the traces:
// 2xx/3xx plus the statuses in `extra` (e.g. the core's 429 backpressure on submit).
// `callback` is the request's responseCallback, so http_req_failed leaves them out too.
export function expectedAnswers(extra = []) {
  return { extra, callback: http.expectedStatuses({ min: 200, max: 399 }, ...extra) };
}

export const DEFAULT_ANSWERS = expectedAnswers();

// k6's definition of a failed request (http_req_failed): no response, or not an expected answer.
export function requestFailed(res, answers = DEFAULT_ANSWERS) {
  return res.status === 0 || (res.status >= 400 && !answers.extra.includes(res.status));
}

function attribute(key, value) {
  return typeof value === 'number'
    ? { key, value: { intValue: String(value) } }
    : { key, value: { stringValue: String(value) } };
}

// The OTLP/JSON body of k6's client span for one request.
export function clientSpan({
  trace, operation, runId, startedMs, res, answers, vu, iteration,
}) {
  const { traceId, spanId } = trace.sampled ? trace : ids();
  const startUs = Math.round(startedMs * 1000);
  const endUs = startUs + Math.max(1, Math.round(res.timings.duration * 1000));
  const span = {
    traceId,
    spanId,
    name: operation,
    kind: SPAN_KIND_CLIENT,
    startTimeUnixNano: `${startUs}000`,
    endTimeUnixNano: `${endUs}000`,
    attributes: [
      attribute('k6.run_id', runId),
      attribute('k6.sampled', String(trace.sampled)),
      attribute('http.response.status_code', res.status),
      attribute('k6.vu', vu),
      attribute('k6.iteration', iteration),
    ],
  };
  if (requestFailed(res, answers)) {
    span.status = { code: STATUS_ERROR, message: res.error || `HTTP ${res.status}` };
  }
  return {
    resourceSpans: [{
      resource: { attributes: [attribute('service.name', SERVICE)] },
      scopeSpans: [{ scope: { name: 'k6/swarm_load_test' }, spans: [span] }],
    }],
  };
}

// Sends the client span of a traced or failed request. The export is k6's business, not the
// core's: it reports no http_req_failed (responseCallback null) and carries its own tag.
export function exportSpan(otlpTracesUrl, request) {
  if (!otlpTracesUrl || !(request.trace.sampled || requestFailed(request.res, request.answers))) {
    return;
  }
  http.post(otlpTracesUrl, JSON.stringify(clientSpan(request)), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'otlp_trace_export' },
    responseCallback: null,
    timeout: EXPORT_TIMEOUT,
  });
}

function traceUrl(jaegerUrl, traceId) {
  return `${jaegerUrl}/trace/${traceId}`;
}

function rootSpan(trace, operation) {
  const k6Process = Object.keys(trace.processes)
    .find((id) => trace.processes[id].serviceName === SERVICE);
  return trace.spans.find((s) => s.processID === k6Process && s.operationName === operation);
}

function tagValue(span, key) {
  const tag = span.tags.find((t) => t.key === key);
  return tag === undefined ? undefined : tag.value;
}

function tracedRequest(jaegerUrl, trace, operation) {
  const span = rootSpan(trace, operation);
  return {
    trace_id: trace.traceID,
    url: traceUrl(jaegerUrl, trace.traceID),
    duration_ms: Math.round(span.duration) / 1000,
    status: Number(tagValue(span, 'http.response.status_code')),
    sampled: tagValue(span, 'k6.sampled') === 'true',
  };
}

function findTraces(jaegerUrl, operation, tags, limit) {
  const query = [
    `service=${SERVICE}`,
    `operation=${encodeURIComponent(operation)}`,
    `tags=${encodeURIComponent(JSON.stringify(tags))}`,
    'lookback=24h',
    `limit=${limit}`,
  ].join('&');
  const res = http.get(`${jaegerUrl}/api/traces?${query}`, { tags: { name: 'jaeger_query' } });
  if (res.status !== 200) {
    throw new Error(`Jaeger query for ${operation} answered ${res.status}: ${res.body}`);
  }
  return (res.json('data') || []).map((trace) => tracedRequest(jaegerUrl, trace, operation));
}

// Per operation: the `slowest` sampled requests of this run and every failed one (up to
// `maxFailed`), each with a link to its trace; null without a Jaeger to ask. A Jaeger that
// does not answer costs the links, never the summary: `error` says why they are missing.
export function traceLinks(
  { jaegerUrl, runId, share, operations },
  { slowest = 5, maxSampled = 10000, maxFailed = 1000 } = {},
) {
  if (!jaegerUrl) return null;
  const links = {
    jaeger_url: jaegerUrl, run_id: runId, sampled_share: share, max_failed: maxFailed,
  };
  sleep(COLLECTOR_DELAY_S);
  try {
    return { ...links, operations: linksPerOperation(jaegerUrl, runId, operations, slowest, maxSampled, maxFailed) };
  } catch (error) {
    return { ...links, error: String(error) };
  }
}

function linksPerOperation(jaegerUrl, runId, operations, slowest, maxSampled, maxFailed) {
  const perOperation = {};
  for (const operation of operations) {
    const run = { 'k6.run_id': runId };
    const sampled = findTraces(jaegerUrl, operation, { ...run, 'k6.sampled': 'true' }, maxSampled);
    const failed = findTraces(jaegerUrl, operation, { ...run, error: 'true' }, maxFailed);
    perOperation[operation] = {
      sampled: sampled.length,
      slowest: sampled.sort((a, b) => b.duration_ms - a.duration_ms).slice(0, slowest),
      failed: failed.sort((a, b) => b.duration_ms - a.duration_ms),
    };
  }
  return perOperation;
}
