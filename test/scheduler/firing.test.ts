// One real node in this process firing to a real receiver on loopback: SPEC §4's request, retries, timeouts, pause, delete, trigger.
import t from 'tap';
import { startSingleNode, type TestNode } from '../api/single-node.js';
import { waitFor } from '../cluster/process-cluster.js';
import { Receiver } from './receiver.js';

let node: TestNode;
let receiver: Receiver;

t.before(async () => {
  receiver = await Receiver.start();
  node = await startSingleNode({ SLOT_GAP: '1s' });
});
t.teardown(async () => {
  await node.stop();
  await receiver.close();
});

// Answers are read loosely: each test asserts the fields it cares about.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await node.node.app.inject({ method: method as 'GET', url, ...(body === undefined ? {} : { payload: body as object }) });
  return { status: res.statusCode, json: res.body === '' ? null : JSON.parse(res.body) };
}

const iso = (ms: number): string => new Date(ms).toISOString();

t.test('a unico job fires once at its time with the request of SPEC §4, and completes', async (t) => {
  const at = Date.now() + 1500;
  const created = await api('POST', '/jobs', {
    id: 'once', type: 'unico', timestamp: iso(at), webhook_url: receiver.url('/once'), method: 'PUT',
    headers: { 'x-team': 'blue' }, payload: { n: 1 },
  });
  t.equal(created.status, 201);
  await waitFor(async () => receiver.at('/once').length === 1, 10_000, 'the fire');
  const [hit] = receiver.at('/once');
  if (hit === undefined) throw new Error('no fire');
  t.equal(hit.method, 'PUT');
  t.ok(hit.atMs >= at, 'not before its time');
  t.ok(hit.atMs - at < 1000, `on time (late by ${hit.atMs - at} ms)`);
  t.equal(hit.headers['x-fire-id'], `once@${at}`);
  t.equal(hit.headers['x-job-id'], 'once');
  t.equal(hit.headers['x-attempt'], '1');
  t.equal(hit.headers['x-scheduled-at'], iso(at));
  t.equal(hit.headers['x-team'], 'blue');
  t.match(hit.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  t.strictSame(Object.keys(hit.json), ['job_id', 'type', 'fire_id', 'scheduled_at', 'fired_at', 'attempt', 'payload']);
  t.match(hit.json, { job_id: 'once', type: 'unico', fire_id: `once@${at}`, scheduled_at: iso(at), attempt: 1, payload: { n: 1 } });
  await waitFor(async () => node.node.scheduler.status().inFlight === 0, 5000, 'the fire to settle');
  await waitFor(async () => (await api('GET', '/jobs/once')).json.status === 'completed', 5000, 'the job to complete');
  const job = (await api('GET', '/jobs/once')).json;
  t.equal(job.status, 'completed');
  t.equal(job.next_run_at, null);
  const executions = (await api('GET', '/jobs/once/executions')).json.executions;
  t.equal(executions.length, 1);
  t.match(executions[0], { fire_id: `once@${at}`, attempt: 1, status: 'succeeded', http_status: 200, node_id: 'solo' });
  const status = (await api('GET', '/jobs/once/status')).json;
  t.match(status, { status: 'completed', run_count: 1, fires: { succeeded: 1, failed: 0 } });
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(receiver.at('/once').length, 1, 'never again');
});

t.test('a 6-field cron job fires every second, each fire at its own second', async (t) => {
  t.equal((await api('POST', '/jobs', {
    id: 'every-second', type: 'recurrente', cron_expression: '* * * * * *', webhook_url: receiver.url('/tick'),
  })).status, 201);
  await waitFor(async () => receiver.at('/tick').length >= 4, 10_000, 'four ticks');
  t.equal((await api('DELETE', '/jobs/every-second')).status, 204);
  const hits = receiver.at('/tick');
  const scheduled = hits.map((h) => Number(String(h.headers['x-fire-id']).split('@')[1]));
  for (const [i, at] of scheduled.entries()) {
    t.equal(at % 1000, 0, 'on a whole second');
    if (i > 0) t.equal(at - (scheduled[i - 1] as number), 1000, 'consecutive seconds, none skipped or doubled');
    t.ok((hits[i] as { atMs: number }).atMs - at < 500, `fire ${i} on time`);
  }
  const count = receiver.at('/tick').length;
  await new Promise((r) => setTimeout(r, 1500));
  t.ok(receiver.at('/tick').length <= count + 1, 'a deleted job fires no more (one attempt may have been in flight)');
});

t.test('a receiver that fails twice sees three attempts of one fire, with growing gaps', async (t) => {
  receiver.on('/flaky', { statuses: [500, 500, 200] });
  await api('POST', '/jobs', {
    id: 'flaky', type: 'unico', timestamp: iso(Date.now() + 300), webhook_url: receiver.url('/flaky'),
    retry: { max_attempts: 3, backoff_ms: 400 },
  });
  await waitFor(async () => receiver.at('/flaky').length === 3, 15_000, 'three attempts');
  const hits = receiver.at('/flaky');
  t.equal(new Set(hits.map((h) => h.headers['x-fire-id'])).size, 1, 'one fire id');
  t.strictSame(hits.map((h) => h.headers['x-attempt']), ['1', '2', '3']);
  const gap1 = (hits[1]?.atMs ?? 0) - (hits[0]?.atMs ?? 0);
  const gap2 = (hits[2]?.atMs ?? 0) - (hits[1]?.atMs ?? 0);
  t.ok(gap1 >= 200 && gap2 >= 400, `backoff respected (${gap1}, ${gap2} ms)`);
  t.ok(gap2 > gap1, `gaps grow (${gap1} then ${gap2} ms)`);
  let executions: Json[] = [];
  await waitFor(async () => {
    executions = (await api('GET', '/jobs/flaky/executions')).json.executions;
    return executions.length >= 3;
  }, 5000, 'three execution records');
  t.strictSame(executions.map((e) => [e.attempt, e.status, e.http_status]), [[3, 'succeeded', 200], [2, 'failed', 500], [1, 'failed', 500]]);
});

t.test('a receiver that hangs hits the timeout; the spent fire is a dead letter that redrive fires again', async (t) => {
  receiver.on('/hang', { hang: true });
  await api('POST', '/jobs', {
    id: 'hangs', type: 'unico', timestamp: iso(Date.now() + 200), webhook_url: receiver.url('/hang'), timeout_ms: 300,
    retry: { max_attempts: 1 },
  });
  let letters: Json[] = [];
  await waitFor(async () => {
    letters = (await api('GET', '/dead-letters')).json.dead_letters;
    return letters.length > 0;
  }, 10_000, 'the dead letter');
  t.equal(letters.length, 1, 'dead-lettered');
  t.match(letters[0], { job_id: 'hangs', attempts: 1, error: /^timeout: .*max_attempts/ });
  const execution = (await api('GET', '/jobs/hangs/executions')).json.executions[0];
  t.match(execution, { status: 'failed', http_status: null });
  t.ok(execution.duration_ms >= 250 && execution.duration_ms < 3000, `timed out after ${execution.duration_ms} ms`);
  t.equal((await api('GET', '/jobs/hangs')).json.status, 'failed');
  receiver.on('/hang', { statuses: [200] });
  const redrive = await api('POST', `/dead-letters/${letters[0].fire_id}/redrive`);
  t.equal(redrive.status, 202);
  t.equal(redrive.json.fire_id, letters[0].fire_id);
  await waitFor(async () => receiver.at('/hang').length === 2, 10_000, 'the redriven fire');
  t.equal(receiver.at('/hang')[1]?.headers['x-fire-id'], letters[0].fire_id, 'the same fire id');
  t.equal((await api('GET', '/dead-letters')).json.dead_letters.length, 0, 'no longer a dead letter');
  t.equal((await api('POST', `/dead-letters/${letters[0].fire_id}/redrive`)).status, 404, 'a second redrive finds nothing');
});

t.test('a paused job does not fire, and a deleted job does not fire', async (t) => {
  const at = Date.now() + 800;
  await api('POST', '/jobs', { id: 'paused', type: 'unico', timestamp: iso(at), webhook_url: receiver.url('/paused') });
  await api('POST', '/jobs', { id: 'deleted', type: 'unico', timestamp: iso(at), webhook_url: receiver.url('/deleted') });
  t.equal((await api('POST', '/jobs/paused/pause')).status, 200);
  t.equal((await api('DELETE', '/jobs/deleted')).status, 204);
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(receiver.at('/paused').length, 0);
  t.equal(receiver.at('/deleted').length, 0);
});

t.test('trigger fires a job at once, outside its schedule', async (t) => {
  await api('POST', '/jobs', { id: 'manual', type: 'unico', timestamp: iso(Date.now() + 3_600_000), webhook_url: receiver.url('/manual') });
  const res = await api('POST', '/jobs/manual/trigger');
  t.equal(res.status, 202);
  t.match(res.json.fire_id, /^manual@\d+$/);
  await waitFor(async () => receiver.at('/manual').length === 1, 5000, 'the triggered fire');
  t.equal(receiver.at('/manual')[0]?.headers['x-fire-id'], res.json.fire_id);
  t.equal((await api('POST', '/jobs/nope/trigger')).status, 404);
  const job = (await api('GET', '/jobs/manual')).json;
  t.equal(job.next_run_at, iso(Date.parse(job.timestamp)), 'its schedule is untouched');
});

t.test('a cancelled job sends nothing more: not a trigger queued before the cancel, not a retry after it', async (t) => {
  await api('POST', '/jobs', { id: 'trig-cancel', type: 'unico', timestamp: iso(Date.now() + 3_600_000), webhook_url: receiver.url('/tc') });
  await api('POST', '/cluster/pause-firing');
  t.equal((await api('POST', '/jobs/trig-cancel/trigger')).status, 202, 'queued while firing is held');
  t.equal((await api('POST', '/jobs/trig-cancel/cancel')).status, 200);
  await api('POST', '/cluster/resume-firing');
  receiver.on('/retry-cancel', { statuses: [500, 200] });
  await api('POST', '/jobs', {
    id: 'retry-cancel', type: 'unico', timestamp: iso(Date.now() + 200), webhook_url: receiver.url('/retry-cancel'),
    retry: { max_attempts: 3, backoff_ms: 1500 },
  });
  await waitFor(async () => receiver.at('/retry-cancel').length === 1, 5000, 'the first attempt');
  t.equal((await api('POST', '/jobs/retry-cancel/cancel')).status, 200, 'cancelled while the fire waits to retry');
  let executions: Json[] = [];
  await waitFor(async () => {
    executions = (await api('GET', '/jobs/trig-cancel/executions')).json.executions;
    return executions.length > 0 && (await api('GET', '/jobs/retry-cancel/executions')).json.executions.length >= 2;
  }, 10_000, 'both fires recorded as not sent');
  t.match(executions[0], { status: 'skipped', error: /job cancelled before the fire was sent/ });
  t.match((await api('GET', '/jobs/retry-cancel/executions')).json.executions[0], { status: 'skipped' });
  await new Promise((r) => setTimeout(r, 500));
  t.equal(receiver.at('/tc').length, 0, 'the trigger was not sent');
  t.equal(receiver.at('/retry-cancel').length, 1, 'no retry after the cancel');
  t.equal((await api('GET', '/jobs/retry-cancel')).json.status, 'cancelled');
});

t.test('overlap buffer_one holds one fire while the previous runs and skips the rest, so fires stay near their times', async (t) => {
  // Each fire takes 2.5 s against a 1 s interval. Before, every fire was held in turn and each came 1.5 s later
  // than the one before (12 s late by the eighth), none recorded skipped.
  receiver.on('/slow', { statuses: [200], delayMs: 2500 });
  const startMs = Date.now() + 500;
  await api('POST', '/jobs', {
    id: 'buffered', type: 'recurrente', interval: '1s', timestamp: iso(startMs), webhook_url: receiver.url('/slow'),
    overlap: 'buffer_one', max_runs: 4,
  });
  await waitFor(async () => receiver.at('/slow').length >= 4, 20_000, 'four fires');
  const sent = receiver.at('/slow').map((r) => ({ scheduledMs: Date.parse(String(r.json['scheduled_at'])), lateMs: r.atMs - Date.parse(String(r.json['scheduled_at'])) }));
  t.equal(sent[0]?.scheduledMs, startMs, 'the first fire at its time');
  for (const { lateMs } of sent) t.ok(lateMs < 3500, `no fire more than one run late (${lateMs} ms)`);
  let executions: Json[] = [];
  await waitFor(async () => {
    executions = (await api('GET', '/jobs/buffered/executions')).json.executions;
    return executions.some((e: Json) => e.status === 'skipped');
  }, 10_000, 'a skipped fire recorded');
  t.match(executions.find((e: Json) => e.status === 'skipped'), { error: /skipped by catchup or overlap/ });
  await api('DELETE', '/jobs/buffered');
});

t.test('a job paused between two attempts of a fire retries once resumed, from the next attempt', async (t) => {
  receiver.on('/paused-retry', { statuses: [500, 200] });
  await api('POST', '/jobs', {
    id: 'paused-retry', type: 'unico', timestamp: iso(Date.now() + 300), webhook_url: receiver.url('/paused-retry'),
    retry: { max_attempts: 3, backoff_ms: 1000, max_backoff_ms: 1000 },
  });
  await waitFor(async () => receiver.at('/paused-retry').length === 1, 5000, 'the first attempt');
  t.equal((await api('POST', '/jobs/paused-retry/pause')).status, 200);
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(receiver.at('/paused-retry').length, 1, 'no retry while paused');
  t.equal((await api('POST', '/jobs/paused-retry/resume')).status, 200);
  await waitFor(async () => receiver.at('/paused-retry').length === 2, 5000, 'the retry after the resume');
  t.equal(receiver.at('/paused-retry')[1]?.headers['x-attempt'], '2', 'the next attempt, not a new fire');
  await waitFor(async () => (await api('GET', '/jobs/paused-retry')).json.status === 'completed', 5000, 'completed');
  t.match((await api('GET', '/jobs/paused-retry')).json, { run_count: 1 });
});

t.test('pause-firing holds every fire cluster-wide until resume-firing', async (t) => {
  t.strictSame((await api('POST', '/cluster/pause-firing')).json, { firing_paused: true });
  await api('POST', '/jobs', { id: 'held', type: 'unico', timestamp: iso(Date.now() + 300), webhook_url: receiver.url('/held') });
  await new Promise((r) => setTimeout(r, 1200));
  t.equal(receiver.at('/held').length, 0, 'nothing fires while paused');
  t.equal((await api('GET', '/debug/cluster')).json.scheduler.firing_paused, true);
  t.strictSame((await api('POST', '/cluster/resume-firing')).json, { firing_paused: false });
  await waitFor(async () => receiver.at('/held').length === 1, 5000, 'the held fire after resume');
});

t.test('a job in a far slot is not held in memory until its slot comes near, and fires on time', async (t) => {
  // SLOT_GAP 1s keeps 6 slots (6 s) in the heap; this job is 9 s out.
  const at = Date.now() + 9000;
  await api('POST', '/jobs', { id: 'far', type: 'unico', timestamp: iso(at), webhook_url: receiver.url('/far') });
  t.equal(node.node.scheduler.status().jobsQueued, 0, 'not in the heap yet');
  await waitFor(async () => receiver.at('/far').length === 1, 15_000, 'the far fire');
  const late = (receiver.at('/far')[0]?.atMs ?? 0) - at;
  t.ok(late >= 0 && late < 1000, `on time (late by ${late} ms)`);
});
