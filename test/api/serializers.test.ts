// jobToResponse: SPEC §2 names, RFC 3339 times with ms, never the secret; create → normalize → newJob → answer.
import { FormatRegistry } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import t from 'tap';
import { jobToResponse, toRfc3339 } from '../../src/api/serializers.js';
import { newJob, normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { JobResponse } from '../../src/jobs/schema.js';

FormatRegistry.Set('date-time', (value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value));
const responseCheck = TypeCompiler.Compile(JobResponse);
const nowMs = Date.parse('2026-06-01T12:00:00.000Z');
const options = { nowMs, maxPayloadBytes: 65_536, denyPrivateWebhooks: true };

t.test('toRfc3339 writes UTC with milliseconds', async (t) => {
  t.equal(toRfc3339(Date.parse('2026-11-26T10:00:00Z')), '2026-11-26T10:00:00.000Z');
  t.equal(toRfc3339(0), '1970-01-01T00:00:00.000Z');
  t.equal(toRfc3339(1_798_279_200_123), '2026-12-26T10:00:00.123Z');
});

t.test('a recurrente create reads back with the same values under the same names', async (t) => {
  const body = {
    id: 'report:daily', type: 'recurrente', timestamp: '2026-06-01T14:00:00+02:00', cron_expression: '30 2 * * *',
    timezone: 'Europe/Madrid', last_date: 1_830_000_000, webhook_url: 'https://hooks.example.com/daily', method: 'PUT',
    headers: { Authorization: 'Bearer x' }, payload: { report: 'daily', n: [1, 2] }, delivery: 'at_most_once',
    retry: { max_attempts: 4, backoff_ms: 500, max_backoff_ms: 8000, max_duration_ms: 600_000, non_retryable_statuses: [422, 400] },
    timeout_ms: 5000, catchup: 'skip', catchup_window_ms: 3_600_000, overlap: 'skip', max_runs: 100, jitter_ms: 250,
    pause_after_failures: 5, signing_secret: 'whsec_c2VjcmV0', paused: false, tags: { team: 'data' },
  };
  const job = newJob(normalizeCreate(body, options), requestHashOf(body), nowMs);
  const response = jobToResponse(job);
  t.strictSame(response, {
    id: 'report:daily', type: 'recurrente', timestamp: '2026-06-01T12:00:00.000Z', cron_expression: '30 2 * * *',
    interval: null, timezone: 'Europe/Madrid', last_date: '2027-12-28T13:20:00.000Z',
    webhook_url: 'https://hooks.example.com/daily', method: 'PUT', headers: { Authorization: 'Bearer x' },
    payload: { report: 'daily', n: [1, 2] }, delivery: 'at_most_once',
    retry: { max_attempts: 4, backoff_ms: 500, max_backoff_ms: 8000, max_duration_ms: 600_000, non_retryable_statuses: [400, 422] },
    timeout_ms: 5000, catchup: 'skip', catchup_window_ms: 3_600_000, overlap: 'skip', max_runs: 100, jitter_ms: 250,
    pause_after_failures: 5, has_signing_secret: true, paused: false, tags: { team: 'data' },
    next_run_at: '2026-06-02T00:30:00.000Z', status: 'pending', paused_reason: null,
    created_at: '2026-06-01T12:00:00.000Z', updated_at: '2026-06-01T12:00:00.000Z', run_count: 0, consecutive_failures: 0,
  });
  t.notOk(JSON.stringify(response).includes('c2VjcmV0'), 'the secret is never in the answer');
  t.ok(responseCheck.Check(response), 'the answer matches its schema');
});

t.test('a minimal unico reads back with its defaults, interval in ms and nulls for none', async (t) => {
  const job = newJob(normalizeCreate({ id: 'u1', type: 'unico', timestamp: '2026-11-26 10:00:00' }, options), 'f'.repeat(64), nowMs);
  const response = jobToResponse(job);
  t.equal(response.timestamp, '2026-11-26T10:00:00.000Z');
  t.equal(response.next_run_at, '2026-11-26T10:00:00.000Z');
  t.equal(response.has_signing_secret, false);
  t.equal(response.last_date, null);
  t.equal(response.webhook_url, null);
  t.equal(response.payload, null);
  t.strictSame(response.retry, { max_attempts: 3, backoff_ms: 1000, max_backoff_ms: 60_000, max_duration_ms: null, non_retryable_statuses: [] });
  t.ok(responseCheck.Check(response));
  const every = newJob(normalizeCreate({ id: 'r1', type: 'recurrente', interval: '90s' }, options), 'f'.repeat(64), nowMs);
  t.equal(jobToResponse(every).interval, 90_000);
  t.equal(jobToResponse(every).next_run_at, '2026-06-01T12:00:00.000Z');
});

t.test('the answer, stripped of its state, is a valid create body for the same job', async (t) => {
  const body = { id: 'x1', type: 'recurrente', interval: 3_600_000, timestamp: '2026-06-01T12:00:00Z', tags: { a: 'b' } };
  const job = newJob(normalizeCreate(body, options), requestHashOf(body), nowMs);
  const {
    has_signing_secret: _secret, next_run_at: _next, status: _status, paused_reason: _reason, created_at: _created,
    updated_at: _updated, run_count: _runs, consecutive_failures: _failures, ...asBody
  } = jobToResponse(job);
  const again = normalizeCreate(asBody, options);
  t.strictSame(again, normalizeCreate(body, options));
});
