// normalizeCreate and applyPatch (defaults, every refusal with its code and field, patch semantics), the request
// hash, and the job's state transitions.
import t from 'tap';
import type { NormalizeOptions } from '../../src/jobs/fields.js';
import {
  applyPatch, cancelJob, type Job, type JobSpec, newJob, normalizeCreate, pauseJob, requestHashOf, resumeJob,
  specOf, updateJob,
} from '../../src/jobs/job.js';
import { refusal } from './refusal.js';

const at = (iso: string): number => Date.parse(iso);
const nowMs = at('2026-06-01T12:00:00Z');
const options: NormalizeOptions = { nowMs, maxPayloadBytes: 64 * 1024, denyPrivateWebhooks: true, generatedId: 'gen-1' };
const hash = 'a'.repeat(64);


const unico = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ id: 'job-1', type: 'unico', timestamp: '2026-11-26T10:00:00Z', ...extra });
const cron = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ id: 'job-2', type: 'recurrente', cron_expression: '0 9 * * *', ...extra });

t.test('a minimal unico gets every SPEC §2 default', async (t) => {
  t.strictSame(normalizeCreate(unico(), options), {
    id: 'job-1', type: 'unico', startAtMs: at('2026-11-26T10:00:00Z'), cronExpression: null, intervalMs: null,
    timezone: 'UTC', lastDateAtMs: null, webhookUrl: null, method: 'POST', headers: {}, payload: null,
    delivery: 'at_least_once',
    retry: { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 60_000, maxDurationMs: null, nonRetryableStatuses: [] },
    timeoutMs: 10_000, catchup: 'fire_once', catchupWindowMs: 86_400_000, overlap: 'allow', maxRuns: null,
    jitterMs: 0, pauseAfterFailures: 0, signingSecret: null, paused: false, tags: {},
  } satisfies JobSpec);
});

t.test('a recurrente without timestamp starts now; without id it takes the generated one', async (t) => {
  const spec = normalizeCreate({ type: 'recurrente', interval: '15m' }, options);
  t.equal(spec.id, 'gen-1');
  t.equal(spec.startAtMs, nowMs);
  t.equal(spec.intervalMs, 900_000);
  t.equal(spec.cronExpression, null);
});

t.test('every field given is normalized', async (t) => {
  const spec = normalizeCreate(cron({
    timestamp: 1_780_000_000, cron_expression: '  0  9 * *   1-5 ', timezone: 'europe/madrid', last_date: '2027-01-01 00:00:00',
    webhook_url: 'https://Hooks.Example.com', method: 'PUT', headers: { 'X-Token': 'abc' }, payload: { b: [1, 2], a: 'x' },
    delivery: 'at_most_once', retry: { max_attempts: 5, non_retryable_statuses: [404, 400] }, timeout_ms: 2000,
    catchup: 'fire_all', catchup_window_ms: 0, overlap: 'buffer_one', max_runs: 10, jitter_ms: 500,
    pause_after_failures: 3, signing_secret: 'whsec_c2VjcmV0,plain', paused: true, tags: { team: 'core' },
  }), options);
  t.strictSame(spec, {
    id: 'job-2', type: 'recurrente', startAtMs: 1_780_000_000_000, cronExpression: '0 9 * * 1-5', intervalMs: null,
    timezone: 'Europe/Madrid', lastDateAtMs: at('2027-01-01T00:00:00Z'), webhookUrl: 'https://hooks.example.com/',
    method: 'PUT', headers: { 'X-Token': 'abc' }, payload: { b: [1, 2], a: 'x' }, delivery: 'at_most_once',
    retry: { maxAttempts: 5, backoffMs: 1000, maxBackoffMs: 60_000, maxDurationMs: null, nonRetryableStatuses: [400, 404] },
    timeoutMs: 2000, catchup: 'fire_all', catchupWindowMs: 0, overlap: 'buffer_one', maxRuns: 10, jitterMs: 500,
    pauseAfterFailures: 3, signingSecret: 'whsec_c2VjcmV0,plain', paused: true, tags: { team: 'core' },
  });
});

t.test('nulls stand for "none" where a field has no value by default', async (t) => {
  const spec = normalizeCreate(cron({
    last_date: null, webhook_url: null, max_runs: null, signing_secret: null, interval: null, retry: { max_duration_ms: null },
  }), options);
  t.equal(spec.lastDateAtMs, null);
  t.equal(spec.webhookUrl, null);
  t.equal(spec.retry.maxDurationMs, null);
});

t.test('shape errors are invalid_request naming the field', async (t) => {
  const cases: [unknown, string, RegExp][] = [
    [null, 'body', /must be object/],
    [[], 'body', /must be object/],
    [{ type: 'unico', timestamp: 1, extra: 1 }, 'extra', /is not a known field/],
    [{ timestamp: 1 }, 'type', /is required/],
    [{ type: 'once', timestamp: 1 }, 'type', /must be one of "unico", "recurrente"/],
    [unico({ id: 'has space' }), 'id', /must be string to match/],
    [unico({ id: 'x'.repeat(129) }), 'id', /match/],
    [unico({ id: '' }), 'id', /match/],
    [unico({ timestamp: true }), 'timestamp', /must be string or number/],
    [unico({ method: 'GET' }), 'method', /one of "POST", "PUT", "PATCH"/],
    [unico({ retry: { max_attempts: 0 } }), 'retry.max_attempts', /greater or equal to 1/],
    [unico({ retry: { tries: 2 } }), 'retry.tries', /not a known field/],
    [unico({ retry: { non_retryable_statuses: [404, 404] } }), 'retry.non_retryable_statuses', /duplicate|unique/i],
    [unico({ timeout_ms: 0 }), 'timeout_ms', /greater or equal to 1/],
    [unico({ timeout_ms: 1.5 }), 'timeout_ms', /integer/],
    [unico({ headers: { 'Bad Name': 'x' } }), 'headers.Bad Name', /U\+0020 in its name; a name is an HTTP token/],
    [unico({ headers: { 'X-A': 'line\r\nInjected: 1' } }), 'headers.X-A', /U\+000D in its value/],
    [unico({ headers: { 'X-A': 5 } }), 'headers.X-A', /string/],
    [unico({ tags: { 'a:b': 'x' } }), 'tags.a:b', /not a known field/],
    [unico({ paused: 'yes' }), 'paused', /boolean/],
    [unico({ delivery: 'exactly_once' }), 'delivery', /one of/],
    [unico({ catchup: 'all' }), 'catchup', /one of/],
    [unico({ overlap: 'queue' }), 'overlap', /one of/],
    [unico({ interval: 1.5 }), 'interval', /must be string or integer/],
  ];
  for (const [body, field, message] of cases) {
    const r = refusal(() => normalizeCreate(body, options));
    t.equal(r.code, 'invalid_request', JSON.stringify(body));
    t.equal(r.field, field, JSON.stringify(body));
    t.match(r.message, message, JSON.stringify(body));
  }
});

t.test('rules joining fields are invalid_request naming the field', async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ type: 'unico' }, 'timestamp'],
    [unico({ cron_expression: '* * * * *' }), 'cron_expression'],
    [unico({ interval: '1h' }), 'interval'],
    [unico({ last_date: '2027-01-01T00:00:00Z' }), 'last_date'],
    [unico({ max_runs: 3 }), 'max_runs'],
    [{ type: 'recurrente' }, 'cron_expression'],
    [cron({ interval: '1h' }), 'interval'],
    [unico({ retry: { backoff_ms: 5000, max_backoff_ms: 1000 } }), 'retry.max_backoff_ms'],
    [unico({ headers: { 'x-fire-id': 'mine' } }), 'headers.x-fire-id'],
    [unico({ headers: { 'Content-Type': 'text/plain' } }), 'headers.Content-Type'],
    [unico({ headers: JSON.parse('{"__proto__": "x"}') as unknown }), 'headers.__proto__'],
    [unico({ tags: JSON.parse('{"__proto__": "x"}') as unknown }), 'tags.__proto__'],
    [unico({ payload: JSON.parse('{"a": {"__proto__": 1}}') as unknown }), 'payload'],
    [unico({ signing_secret: 'whsec_not base64!' }), 'signing_secret'],
    [unico({ signing_secret: 'a,,b' }), 'signing_secret'],
    [unico({ webhook_url: 'ftp://example.com/' }), 'webhook_url'],
  ];
  for (const [body, field] of cases) {
    const r = refusal(() => normalizeCreate(body, options));
    t.equal(r.code, 'invalid_request', JSON.stringify(body));
    t.equal(r.field, field, JSON.stringify(body));
  }
  let deep: unknown = 1;
  for (let i = 0; i < 65; i++) deep = [deep];
  t.match(refusal(() => normalizeCreate(unico({ payload: deep }), options)), {
    code: 'invalid_request', field: 'payload', message: /deeper than 64/,
  });
  const withoutId = { nowMs, maxPayloadBytes: 10, denyPrivateWebhooks: true };
  t.match(refusal(() => normalizeCreate({ type: 'unico', timestamp: 1 }, withoutId)), { field: 'id', message: 'id is required' });
});

t.test('each domain code with its field', async (t) => {
  const cases: [Record<string, unknown>, string, string][] = [
    [unico({ timestamp: '2026-02-30T00:00:00Z' }), 'invalid_time', 'timestamp'],
    [cron({ last_date: 'soon' }), 'invalid_time', 'last_date'],
    [cron({ timestamp: '2027-01-01T00:00:00Z', last_date: '2027-01-01T00:00:00Z' }), 'invalid_time', 'last_date'],
    [cron({ last_date: '2026-06-01T11:00:00Z' }), 'invalid_time', 'last_date'],
    [cron({ cron_expression: '61 * * * *' }), 'invalid_cron', 'cron_expression'],
    [cron({ cron_expression: '0 0 30 2 *' }), 'invalid_cron', 'cron_expression'],
    [cron({ timezone: 'Mars/Olympus_Mons' }), 'invalid_timezone', 'timezone'],
    [unico({ timezone: 'Nowhere' }), 'invalid_timezone', 'timezone'],
    [{ type: 'recurrente', interval: 'often' }, 'invalid_interval', 'interval'],
    [{ type: 'recurrente', interval: '500ms' }, 'invalid_interval', 'interval'],
    [{ type: 'recurrente', interval: 999 }, 'invalid_interval', 'interval'],
    [unico({ webhook_url: 'http://10.0.0.5/hook' }), 'private_webhook_url', 'webhook_url'],
    [unico({ webhook_url: 'http://localhost:3000/' }), 'private_webhook_url', 'webhook_url'],
  ];
  for (const [body, code, field] of cases) {
    t.strictSame({ ...refusal(() => normalizeCreate(body, options)), message: '' }, { code, field, message: '' }, JSON.stringify(body));
  }
  t.equal(normalizeCreate({ type: 'recurrente', interval: '1s' }, options).intervalMs, 1000, 'one second is the shortest interval');
  const allowPrivate = { ...options, denyPrivateWebhooks: false };
  t.equal(normalizeCreate(unico({ webhook_url: 'http://10.0.0.5/hook' }), allowPrivate).webhookUrl, 'http://10.0.0.5/hook');
});

t.test('payload_too_large counts the bytes of JSON.stringify(payload), UTF-8', async (t) => {
  const limited = { ...options, maxPayloadBytes: 10 };
  t.strictSame(normalizeCreate(unico({ payload: 'é'.repeat(4) }), limited).payload, 'éééé', '"éééé" is 10 bytes');
  t.match(refusal(() => normalizeCreate(unico({ payload: 'é'.repeat(4) + 'a' }), limited)), {
    code: 'payload_too_large', field: 'payload', message: /11 bytes as JSON; the limit is 10/,
  });
  t.strictSame(normalizeCreate(unico({ payload: [1, 2, 3, 4] }), limited).payload, [1, 2, 3, 4], '[1,2,3,4] is 9 bytes');
});

const stored = (): Job => newJob(normalizeCreate(cron({
  webhook_url: 'https://example.com/a', headers: { 'X-A': '1', 'X-B': '2' }, payload: { a: 1, b: 2 },
  tags: { team: 'core', env: 'prod' }, retry: { max_attempts: 7, backoff_ms: 10 },
}), options), hash, nowMs);

t.test('a patch replaces each given field whole and keeps the rest', async (t) => {
  const before = stored();
  const after = applyPatch(before, { payload: { c: 3 }, headers: { 'X-C': '3' }, tags: {}, retry: { max_attempts: 2 } }, options);
  t.strictSame(after.payload, { c: 3 });
  t.strictSame(after.headers, { 'X-C': '3' });
  t.strictSame(after.tags, {});
  t.strictSame(after.retry, { maxAttempts: 2, backoffMs: 1000, maxBackoffMs: 60_000, maxDurationMs: null, nonRetryableStatuses: [] });
  const cleared = { payload: null, headers: {}, tags: {}, retry: null };
  t.strictSame({ ...after, ...cleared }, { ...specOf(before), ...cleared }, 'every other field is kept');
  t.notOk('status' in after, 'a patch yields a spec, not a job');
});

t.test('a patch switches schedule kind in one go, and clears with null', async (t) => {
  const toInterval = applyPatch(stored(), { interval: '2h' }, options);
  t.equal(toInterval.intervalMs, 7_200_000);
  t.equal(toInterval.cronExpression, null);
  const toCron = applyPatch(toInterval, { cron_expression: '*/5 * * * *' }, options);
  t.equal(toCron.cronExpression, '*/5 * * * *');
  t.equal(toCron.intervalMs, null);
  t.equal(applyPatch(stored(), { webhook_url: null }, options).webhookUrl, null);
  t.equal(applyPatch(stored(), { timestamp: '2026-07-01T00:00:00Z' }, options).startAtMs, at('2026-07-01T00:00:00Z'));
});

t.test('a patch is checked whole again, with the stored fields', async (t) => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{}, 'invalid_request', 'body'],
    [{ id: 'other' }, 'invalid_request', 'id'],
    [{ type: 'unico' }, 'invalid_request', 'type'],
    [{ cron_expression: null }, 'invalid_request', 'cron_expression'],
    [{ cron_expression: '0 0 31 4 *' }, 'invalid_cron', 'cron_expression'],
    [{ timezone: 'Atlantis/Capital' }, 'invalid_timezone', 'timezone'],
    [{ last_date: '2026-06-01T00:00:00Z' }, 'invalid_time', 'last_date'],
    [{ retry: { backoff_ms: 120_000 } }, 'invalid_request', 'retry.max_backoff_ms'],
    [{ webhook_url: 'http://192.168.0.1/' }, 'private_webhook_url', 'webhook_url'],
    [{ payload: 'x'.repeat(70_000) }, 'payload_too_large', 'payload'],
  ];
  for (const [patch, code, field] of cases) {
    t.strictSame({ ...refusal(() => applyPatch(stored(), patch, options)), message: '' }, { code, field, message: '' }, JSON.stringify(patch));
  }
  t.match(refusal(() => applyPatch(stored(), {}, options)).message, /^body needs at least one field$/);
  const unicoJob = newJob(normalizeCreate(unico(), options), hash, nowMs);
  t.match(refusal(() => applyPatch(unicoJob, { interval: '1h' }, options)), { code: 'invalid_request', field: 'interval' });
});

t.test('the request hash ignores key order at every level and sees every value', async (t) => {
  const a = { id: 'x', type: 'unico', timestamp: 1, payload: { b: 1, a: [{ d: 1, c: 2 }] }, headers: { Y: '1', X: '2' } };
  const b = { headers: { X: '2', Y: '1' }, payload: { a: [{ c: 2, d: 1 }], b: 1 }, timestamp: 1, type: 'unico', id: 'x' };
  t.equal(requestHashOf(a), requestHashOf(b));
  t.match(requestHashOf(a), /^[0-9a-f]{64}$/);
  t.not(requestHashOf(a), requestHashOf({ ...a, timestamp: 2 }));
  t.not(requestHashOf(a), requestHashOf({ ...a, payload: { b: 1, a: [{ d: 1 }, { c: 2 }] } }), 'array order matters');
  t.not(requestHashOf({ a: '1' }), requestHashOf({ a: 1 }));
  t.equal(requestHashOf({ type: 'unico' }), 'a760c97959b16e25fef5674b52656f9784d820081d5e0a3250a2e2c68e3a8299');
  let deep: unknown = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  t.match(refusal(() => requestHashOf({ payload: deep })), { code: 'invalid_request', field: 'body' });
});

t.test('newJob computes the first run and the starting state', async (t) => {
  const future = newJob(normalizeCreate(unico(), options), hash, nowMs);
  t.strictSame(
    { status: future.status, nextRunAtMs: future.nextRunAtMs, createdAtMs: future.createdAtMs, updatedAtMs: future.updatedAtMs,
      runCount: future.runCount, consecutiveFailures: future.consecutiveFailures, pausedReason: future.pausedReason,
      tenant: future.tenant, requestHash: future.requestHash },
    { status: 'pending', nextRunAtMs: at('2026-11-26T10:00:00Z'), createdAtMs: nowMs, updatedAtMs: nowMs,
      runCount: 0, consecutiveFailures: 0, pausedReason: null, tenant: 'default', requestHash: hash },
  );
  t.equal(newJob(normalizeCreate(unico({ timestamp: '2020-01-01T00:00:00Z' }), options), hash, nowMs).nextRunAtMs,
    at('2020-01-01T00:00:00Z'), 'a past unico fires at once');
  t.equal(newJob(normalizeCreate(cron(), options), hash, nowMs).nextRunAtMs, at('2026-06-02T09:00:00Z'));
  t.equal(newJob(normalizeCreate(cron({ timezone: 'Europe/Madrid' }), options), hash, nowMs).nextRunAtMs, at('2026-06-02T07:00:00Z'));
  t.equal(newJob(normalizeCreate({ type: 'recurrente', interval: '1h' }, options), hash, nowMs).nextRunAtMs, nowMs, 'k = 0 is now');
  t.equal(newJob(normalizeCreate({ type: 'recurrente', interval: '1h', timestamp: '2026-06-01T10:30:00Z' }, options), hash, nowMs).nextRunAtMs,
    at('2026-06-01T12:30:00Z'), 'a past start keeps its phase and resumes from now');
  const paused = newJob(normalizeCreate(cron({ paused: true }), options), hash, nowMs, 'acme');
  t.strictSame([paused.status, paused.nextRunAtMs, paused.pausedReason, paused.tenant], ['paused', null, 'requested', 'acme']);
  const over = newJob(normalizeCreate(cron({ timestamp: '2026-01-01T00:00:00Z', last_date: '2026-02-01T00:00:00Z' }), options), hash, nowMs);
  t.strictSame([over.status, over.nextRunAtMs], ['completed', null], 'every fire predates the job');
});

t.test('updateJob recomputes the next run; a finished job keeps its state', async (t) => {
  const job = stored();
  const later = updateJob(job, applyPatch(job, { cron_expression: '0 18 * * *' }, options), nowMs + 1000);
  t.equal(later.nextRunAtMs, at('2026-06-01T18:00:00Z'));
  t.equal(later.updatedAtMs, nowMs + 1000);
  t.equal(later.createdAtMs, nowMs);
  const paused = updateJob(job, applyPatch(job, { paused: true }, options), nowMs);
  t.strictSame([paused.status, paused.nextRunAtMs, paused.pausedReason], ['paused', null, 'requested']);
  const failing: Job = { ...paused, consecutiveFailures: 4, pausedReason: 'consecutive_failures' };
  t.equal(updateJob(failing, applyPatch(failing, { tags: { a: 'b' } }, options), nowMs).pausedReason, 'consecutive_failures');
  const resumed = updateJob(failing, applyPatch(failing, { paused: false }, options), nowMs);
  t.strictSame([resumed.status, resumed.consecutiveFailures, resumed.pausedReason], ['pending', 0, null]);
  const done = cancelJob(job, nowMs);
  const edited = updateJob(done, applyPatch(done, { tags: { x: 'y' } }, options), nowMs + 5);
  t.strictSame([edited.status, edited.nextRunAtMs, edited.tags], ['cancelled', null, { x: 'y' }]);
  const capped: Job = { ...job, runCount: 3 };
  t.strictSame(updateJob(capped, { ...specOf(capped), maxRuns: 3 }, nowMs).status, 'completed');
});

t.test('a recurrente whose first fire comes after last_date is refused: it would never fire', async (t) => {
  const body = { id: 'r', type: 'recurrente', cron_expression: '0 18 * * *', timestamp: '2026-06-01T12:00:00Z', last_date: '2026-06-01T17:00:00Z' };
  const r = refusal(() => normalizeCreate(body, options));
  t.strictSame([r.code, r.field], ['invalid_time', 'last_date']);
  t.match(r.message, /before the first fire/);
  t.equal(normalizeCreate({ ...body, last_date: '2026-06-01T18:00:00Z' }, options).lastDateAtMs, at('2026-06-01T18:00:00Z'), 'a fire at last_date itself counts');
  const job = stored();
  t.match(refusal(() => applyPatch(job, { cron_expression: '0 18 * * *', timestamp: '2026-06-01T12:00:00Z', last_date: '2026-06-01T13:00:00Z' }, options)),
    { code: 'invalid_time', field: 'last_date' }, 'PATCH alike');
});

t.test('a PATCH that leaves the schedule alone leaves the next run alone, even one already due', async (t) => {
  const job = stored();
  // Due a minute ago and not yet sent (no leader then, or held by overlap): recomputing from now would drop it.
  const due: Job = { ...job, nextRunAtMs: nowMs - 60_000 };
  for (const patch of [{ payload: { n: 2 } }, { webhook_url: 'https://example.org/other' }, { retry: { max_attempts: 2 } }, { tags: { a: 'b' } }]) {
    const after = updateJob(due, applyPatch(due, patch, options), nowMs);
    t.strictSame([after.nextRunAtMs, after.status], [nowMs - 60_000, due.status], JSON.stringify(patch));
  }
  const moved = updateJob(due, applyPatch(due, { cron_expression: '0 18 * * *' }, options), nowMs);
  t.equal(moved.nextRunAtMs, at('2026-06-01T18:00:00Z'), 'a schedule field moves it');
  t.not(updateJob(due, applyPatch(due, { timezone: 'Europe/Madrid' }, options), nowMs).nextRunAtMs, nowMs - 60_000, 'so does the zone');
});

t.test('pause, resume and cancel', async (t) => {
  const job = stored();
  const paused = pauseJob(job, nowMs + 1);
  t.strictSame(
    [paused.status, paused.paused, paused.nextRunAtMs, paused.pausedReason, paused.updatedAtMs],
    ['paused', true, null, 'requested', nowMs + 1],
  );
  t.equal(pauseJob(paused, nowMs + 2), paused, 'pausing again changes nothing');
  const resumed = resumeJob({ ...paused, consecutiveFailures: 2 }, at('2026-06-03T10:00:00Z'));
  t.strictSame([resumed.status, resumed.paused, resumed.nextRunAtMs, resumed.pausedReason, resumed.consecutiveFailures],
    ['pending', false, at('2026-06-04T09:00:00Z'), null, 0], 'fires missed while paused are not replayed');
  t.equal(resumeJob(job, nowMs), job, 'resuming a job that is not paused changes nothing');
  const cancelled = cancelJob(paused, nowMs + 3);
  t.strictSame([cancelled.status, cancelled.nextRunAtMs, cancelled.pausedReason], ['cancelled', null, null]);
  t.equal(cancelJob(cancelled, nowMs + 4), cancelled, 'cancelling again changes nothing');
  for (const status of ['completed', 'failed'] as const) {
    const finished: Job = { ...job, status, nextRunAtMs: null };
    for (const action of [cancelJob, pauseJob, resumeJob]) {
      t.throws(() => action(finished, nowMs), { code: 'already_completed', jobId: 'job-2' });
    }
  }
  t.throws(() => pauseJob(cancelled, nowMs), { code: 'already_completed' });
});
