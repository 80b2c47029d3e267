// Turns k6's end-of-test data into the swarm summary: a JSON document for the pipeline's
// gate and a text report for people.
//
// JSON shape (version 2; harness/k6.py parses it, keep the two in step):
// {
//   "schema": "swarm-load-summary/2",
//   "profile": "ci", "base_url": "http://127.0.0.1:8000",
//   "duration_s": 30.2, "vus_max": 50, "iterations": 12000,
//   "passed": true,                         // every threshold held
//   "requests": {"count": 13200, "rate_per_s": 437.1, "failed": 0, "failed_rate": 0.0},
//   "backpressure": {"operation": "submit_task",  // its 429s: a queue cap reached, not failed
//                    "refused": 120, "share": 0.0143},  // of that operation's requests
//   "checks": {"passes": 25000, "fails": 0,
//              "failed": [{"name": "status is 202", "fails": 3}]},  // only checks that failed
//   "mix": {                                // the three operations only, percent of their sum
//     "submit_task": {"count": 8400, "percent": 70.0, "target_percent": 70}, ...},
//   "operations": {                         // per `operation` tag, support tags included
//     "submit_task": {"count": 8400, "failed": 0, "failed_rate": 0.0,
//                     "p50_ms": 9.1, "p95_ms": 31.0, "p99_ms": 52.4, "max_ms": 120.3}, ...,
//     "register_simulated_agent": {...}},
//   "latency": {"p50_ms": 8.7, "p95_ms": 30.2, "p99_ms": 50.1, "max_ms": 130.0},  // all requests
//   "thresholds": {                         // metric -> expression -> held
//     "http_req_duration": {"p(95)<500": true},
//     "http_req_duration{operation:submit_task}": {"p(95)<500": true}, ...},
//   "traces": {                             // null without JAEGER_URL (lib/tracing.js)
//     "jaeger_url": "http://127.0.0.1:16686", "run_id": "...", "sampled_share": 0.01,
//     "max_failed": 1000,                   // failed requests asked of Jaeger per operation
//     "operations": {                       // per `operation` tag, support tags included
//       "submit_task": {"sampled": 84,      // traced requests of this run
//         "slowest": [{"trace_id": "4bf9...", "url": "http://127.0.0.1:16686/trace/4bf9...",
//                      "duration_ms": 212.4, "status": 202, "sampled": true}, ...],
//         "failed": [...]}, ...},           // failed requests (up to max_failed), slowest first
//     "error": "..."}                       // instead of operations when Jaeger did not answer
// }

const SCHEMA = 'swarm-load-summary/2';
// The Counter the load test adds each submit refused by backpressure (429) to.
export const BACKPRESSURE_METRIC = 'submit_backpressure';

function round(value, digits = 2) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function metricValues(data, name) {
  const metric = data.metrics[name];
  return metric === undefined ? undefined : metric.values;
}

function latency(values) {
  return {
    p50_ms: round(values['p(50)']),
    p95_ms: round(values['p(95)']),
    p99_ms: round(values['p(99)']),
    max_ms: round(values.max),
  };
}

// k6 only keeps per-tag submetrics that some threshold names, hence one per metric and tag.
function operationStats(data, tag) {
  const [requests, failed, duration] = ['http_reqs', 'http_req_failed', 'http_req_duration']
    .map((metric) => metricValues(data, `${metric}{operation:${tag}}`));
  if ([requests, failed, duration].includes(undefined)) {
    throw new Error(`no per-tag metrics for "${tag}": its thresholds are missing from options`);
  }
  const { count } = requests;
  const stats = { count, failed: failed.passes, failed_rate: round(failed.rate, 4) };
  return count === 0 ? stats : { ...stats, ...latency(duration) };
}

function mixOf(operations, targetMix) {
  const total = Object.keys(targetMix).reduce((sum, op) => sum + operations[op].count, 0);
  const mix = {};
  for (const [op, target] of Object.entries(targetMix)) {
    const percent = total === 0 ? 0 : (100 * operations[op].count) / total;
    mix[op] = { count: operations[op].count, percent: round(percent), target_percent: target };
  }
  return mix;
}

function backpressureStats(data, operation, operations) {
  const refused = (metricValues(data, BACKPRESSURE_METRIC) || { count: 0 }).count;
  const sent = operations[operation].count;
  return { operation, refused, share: sent === 0 ? 0 : round(refused / sent, 4) };
}

function thresholdVerdicts(data) {
  const verdicts = {};
  for (const metric of Object.keys(data.metrics).sort()) {
    const thresholds = Object.entries(data.metrics[metric].thresholds || {});
    if (thresholds.length > 0) {
      verdicts[metric] = Object.fromEntries(thresholds.map(([expr, result]) => [expr, result.ok]));
    }
  }
  return verdicts;
}

function flatVerdicts(thresholds) {
  return Object.entries(thresholds).flatMap(([metric, expressions]) => Object.entries(expressions)
    .map(([expression, ok]) => ({ metric, expression, ok })));
}

function allChecks(group) {
  return group.checks.concat(...group.groups.map(allChecks));
}

function checkStats(data) {
  const values = metricValues(data, 'checks') || { passes: 0, fails: 0 };
  const failed = allChecks(data.root_group)
    .filter((c) => c.fails > 0)
    .map((c) => ({ name: c.name, fails: c.fails }));
  return { passes: values.passes, fails: values.fails, failed };
}

export function buildSummary(
  data, { profile, baseUrl, operations, supportTags, targetMix, backpressureOf, traces = null },
) {
  const perTag = {};
  for (const tag of [...operations, ...supportTags]) perTag[tag] = operationStats(data, tag);
  const requests = metricValues(data, 'http_reqs') || { count: 0, rate: 0 };
  const failed = metricValues(data, 'http_req_failed') || { passes: 0, rate: 0 };
  const thresholds = thresholdVerdicts(data);
  return {
    schema: SCHEMA,
    profile,
    base_url: baseUrl,
    duration_s: round(data.state.testRunDurationMs / 1000, 1),
    vus_max: (metricValues(data, 'vus_max') || { max: 0 }).max,
    iterations: (metricValues(data, 'iterations') || { count: 0 }).count,
    passed: flatVerdicts(thresholds).every((t) => t.ok),
    requests: {
      count: requests.count,
      rate_per_s: round(requests.rate, 1),
      failed: failed.passes,
      failed_rate: round(failed.rate, 4),
    },
    backpressure: backpressureStats(data, backpressureOf, perTag),
    checks: checkStats(data),
    mix: mixOf(perTag, targetMix),
    operations: perTag,
    latency: latency(metricValues(data, 'http_req_duration')),
    thresholds,
    traces,
  };
}

function column(value, width) {
  return String(value).padStart(width);
}

function formatMs(value) {
  return value === undefined ? '-' : value.toFixed(1);
}

function operationRow(name, stats, mix) {
  const share = mix === undefined ? '(not in mix)' : `${mix.percent.toFixed(1)}% / ${mix.target_percent}%`;
  return [
    name.padEnd(26),
    column(stats.count, 8),
    column(share, 16),
    column(formatMs(stats.p50_ms), 8),
    column(formatMs(stats.p95_ms), 8),
    column(formatMs(stats.p99_ms), 8),
    column(`${(100 * stats.failed_rate).toFixed(2)}%`, 8),
  ].join(' ');
}

function notListed(count, traces) {
  return `... ${count} more failed, not listed `
    + `(Jaeger is asked for at most ${traces.max_failed} per operation)`;
}

function tracedLine(kind, request) {
  return `    ${kind.padEnd(8)} ${column(formatMs(request.duration_ms), 9)} ms  `
    + `${column(request.status, 3)}  ${request.url}`;
}

// The slowest traced and every failed request of each operation, one line and link each;
// `operations` (the summary's) says how many failed beyond those Jaeger was asked for.
export function traceLines(traces, operations) {
  if (traces === null || traces === undefined) return [];
  const header = `traces in ${traces.jaeger_url} (${(100 * traces.sampled_share).toFixed(1)}% `
    + 'of requests sampled; slowest sampled and every failed request):';
  if (traces.error !== undefined) return [header, `  none: ${traces.error}`, ''];
  const lines = [header];
  for (const [operation, found] of Object.entries(traces.operations)) {
    const failed = operations[operation].failed;
    lines.push(`  ${operation}: ${found.sampled} sampled, ${failed} failed`);
    lines.push(...found.slowest.map((r) => tracedLine('slow', r)));
    lines.push(...found.failed.map((r) => tracedLine('FAILED', r)));
    if (found.failed.length < failed) lines.push(`    ${notListed(failed - found.failed.length, traces)}`);
  }
  return [...lines, ''];
}

// One line on what backpressure refused; the same words as harness/k6.py backpressure_line.
function backpressureLine(backpressure) {
  const { operation, refused, share } = backpressure;
  if (refused === 0) return `  backpressure: none (no ${operation} refused with 429)`;
  return `  backpressure: ${refused} ${operation} refused with 429 (${(100 * share).toFixed(2)}%: `
    + 'a queue cap reached; not counted as failed)';
}

function thresholdLines(verdicts) {
  return verdicts.map((t) => `  ${t.ok ? 'ok    ' : 'FAILED'} ${t.metric} ${t.expression}`);
}

export function formatSummary(summary) {
  const verdicts = flatVerdicts(summary.thresholds);
  const failedThresholds = verdicts.filter((t) => !t.ok).length;
  const lines = [
    '',
    `swarm load test: profile ${summary.profile} against ${summary.base_url}`,
    `  ${summary.duration_s} s, up to ${summary.vus_max} VUs, ${summary.iterations} iterations`,
    `  ${summary.requests.count} requests (${summary.requests.rate_per_s}/s), `
      + `${summary.requests.failed} failed (${(100 * summary.requests.failed_rate).toFixed(2)}%), `
      + `checks ${summary.checks.passes} ok / ${summary.checks.fails} failed`,
    backpressureLine(summary.backpressure),
    `  all requests: p50 ${formatMs(summary.latency.p50_ms)} ms, `
      + `p95 ${formatMs(summary.latency.p95_ms)} ms, p99 ${formatMs(summary.latency.p99_ms)} ms`,
    '',
    `${'operation'.padEnd(26)} ${column('requests', 8)} ${column('mix / target', 16)} `
      + `${column('p50 ms', 8)} ${column('p95 ms', 8)} ${column('p99 ms', 8)} ${column('failed', 8)}`,
    ...Object.entries(summary.operations).map(
      ([name, stats]) => operationRow(name, stats, summary.mix[name]),
    ),
    '',
    ...traceLines(summary.traces, summary.operations),
    ...summary.checks.failed.map((c) => `  check failed ${c.fails}x: ${c.name}`),
    `thresholds: ${summary.passed ? 'all passed' : `${failedThresholds} FAILED`} `
      + `(${verdicts.length} in all)`,
    ...thresholdLines(verdicts),
    '',
  ];
  return lines.join('\n');
}
