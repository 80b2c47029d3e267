// Baseline for bench_core.py: closed-loop GET /hello with the same VU shape as the
// swarm load test's profile, so the two runs differ only in what the server does.
import http from 'k6/http';
import { check } from 'k6';

const PROFILES = JSON.parse(open('../../k6/profiles.json'));
const PROFILE = PROFILES[__ENV.PROFILE || 'ci'];

export const options = {
  stages: PROFILE.stages,
  thresholds: { http_req_failed: ['rate<0.01'] },
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const response = http.get(`${__ENV.BASE_URL}/hello`);
  check(response, { 'status is 200': (r) => r.status === 200 });
}
