// Applying the firing commands to a real state machine: claims, passes, attempts, results, dead letters, redrive, deletes.
import t, { type Test } from 'tap';
import type { Command, CommandResult, FireEvent } from '../../src/jobs/commands.js';
import { normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import type { JobQueries } from '../../src/store/queries.js';
import type { StateMachine } from '../../src/store/state-machine.js';
import { openLogApplier } from './log-applier.js';

const t0 = Date.parse('2026-06-01T00:00:00Z');

async function store(t: Test): Promise<{ apply: (c: Command) => Promise<CommandResult>; events: (...e: FireEvent[]) => Promise<readonly boolean[]>; q: JobQueries; sm: StateMachine }> {
  const applier = await openLogApplier();
  t.teardown(() => applier.close());
  const events = async (...e: FireEvent[]): Promise<readonly boolean[]> => {
    const r = await applier.apply({ type: 'fire_events', proposedAtMs: t0 + 1, nodeId: 'n1', events: e, executionsPerJob: 3 });
    return r.type === 'fire_events' ? r.applied : [];
  };
  return { apply: (c) => applier.apply(c), events, q: applier.queries, sm: applier.sm };
}

async function create(apply: (c: Command) => Promise<CommandResult>, body: Record<string, unknown>): Promise<void> {
  const spec = normalizeCreate(body, { nowMs: t0, maxPayloadBytes: 65536, denyPrivateWebhooks: false });
  await apply({ type: 'create_jobs', tenant: 'default', proposedAtMs: t0, maxJobs: 100, jobs: [{ spec, requestHash: requestHashOf(body) }] });
}

const ref = (jobId: string, scheduledAtMs: number) => ({ tenant: 'default', jobId, scheduledAtMs });

t.test('a claim advances a recurrente from its scheduled time; a second claim of the same fire does nothing', async (t) => {
  const { apply, events, q } = await store(t);
  await create(apply, { id: 'r', type: 'recurrente', interval: '1m', timestamp: new Date(t0).toISOString() });
  t.strictSame(await events({ kind: 'start', ...ref('r', t0), manual: false }, { kind: 'start', ...ref('r', t0), manual: false }), [true, false]);
  t.match(q.getJob('default', 'r'), { nextRunAtMs: t0 + 60_000, runCount: 1, firesInFlight: 1, status: 'running' });
  t.equal((await q.inFlightFires()).length, 1);
  t.strictSame(await events({ kind: 'finish', ...ref('r', t0), result: 'succeeded', attempts: 1, error: null }), [true]);
  t.match(q.getJob('default', 'r'), { firesInFlight: 0, status: 'pending', fireCounts: { succeeded: 1 } });
  t.equal((await q.inFlightFires()).length, 0);
  t.strictSame(await events({ kind: 'finish', ...ref('r', t0), result: 'succeeded', attempts: 1, error: null }), [false], 'a fire finishes once');
});

t.test('a unico completes on success, fails on a dead letter, and the dead letter can be redriven once', async (t) => {
  const { apply, events, q } = await store(t);
  await create(apply, { id: 'u', type: 'unico', timestamp: new Date(t0).toISOString() });
  await events({ kind: 'start', ...ref('u', t0), manual: false },
    { kind: 'attempt', ...ref('u', t0), attempt: 1, startedAtMs: t0, finishedAtMs: t0 + 5, succeeded: false, httpStatus: 500, error: 'http_status: 500' },
    { kind: 'finish', ...ref('u', t0), result: 'dead_lettered', attempts: 1, error: 'http_status: 500' });
  t.match(q.getJob('default', 'u'), { status: 'failed', nextRunAtMs: null, fireCounts: { failed: 1 } });
  const letters = await q.deadLetters('default', 10, null);
  t.match(letters.deadLetters, [{ fireId: `u@${t0}`, jobId: 'u', attempts: 1 }]);
  const redrive = await apply({ type: 'redrive_fire', tenant: 'default', proposedAtMs: t0 + 10, fireId: `u@${t0}` });
  t.strictSame(redrive, { type: 'queued', fireId: `u@${t0}` });
  t.equal((await q.deadLetters('default', 10, null)).deadLetters.length, 0);
  t.match(await q.inFlightFires(), [{ id: 'u', fire: { manual: true, claimed: false, scheduledAtMs: t0 } }]);
  t.match(await apply({ type: 'redrive_fire', tenant: 'default', proposedAtMs: t0 + 10, fireId: `u@${t0}` }), { type: 'refused', code: 'dead_letter_not_found' });
  t.match(await apply({ type: 'redrive_fire', tenant: 'default', proposedAtMs: t0 + 10, fireId: 'garbage' }), { type: 'refused', code: 'dead_letter_not_found' });
  await events({ kind: 'start', ...ref('u', t0), manual: true }, { kind: 'finish', ...ref('u', t0), result: 'succeeded', attempts: 1, error: null });
  t.match(q.getJob('default', 'u'), { status: 'completed', fireCounts: { failed: 1, succeeded: 1 } }, 'the redriven fire delivered: completed');
});

t.test('a dead letter of a cancelled job is not redriven (job_cancelled) and stays listed', async (t) => {
  const { apply, events, q } = await store(t);
  await create(apply, { id: 'rc', type: 'recurrente', interval: '1m', timestamp: new Date(t0).toISOString() });
  await events({ kind: 'start', ...ref('rc', t0), manual: false },
    { kind: 'finish', ...ref('rc', t0), result: 'dead_lettered', attempts: 1, error: 'http_status: 500' });
  t.match(await apply({ type: 'cancel_job', tenant: 'default', proposedAtMs: t0 + 5, id: 'rc' }), { type: 'job', job: { status: 'cancelled' } });
  t.match(await apply({ type: 'redrive_fire', tenant: 'default', proposedAtMs: t0 + 10, fireId: `rc@${t0}` }),
    { type: 'refused', code: 'job_cancelled', message: /rc is cancelled/ });
  t.match((await q.deadLetters('default', 10, null)).deadLetters, [{ fireId: `rc@${t0}` }], 'the dead letter stays');
  t.strictSame(await q.inFlightFires(), [], 'nothing queued');
});

t.test('a trigger at a scheduled time of its job takes the next millisecond: one fire id, one fire', async (t) => {
  const { apply } = await store(t);
  await create(apply, { id: 'st', type: 'unico', timestamp: new Date(t0 + 500).toISOString() });
  t.strictSame(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0 + 500, id: 'st' }), { type: 'queued', fireId: `st@${t0 + 501}` });
  await create(apply, { id: 'rt', type: 'recurrente', interval: '1s', timestamp: new Date(t0).toISOString() });
  t.strictSame(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0 + 7000, id: 'rt' }), { type: 'queued', fireId: `rt@${t0 + 7001}` },
    'a past scheduled time too: its fire may have been sent');
  t.strictSame(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0 + 7500, id: 'rt' }), { type: 'queued', fireId: `rt@${t0 + 7500}` });
});

t.test('a fire not sent because its job was paused is no run: the unico fires again once resumed', async (t) => {
  const { apply, events, q } = await store(t);
  await create(apply, { id: 'pr', type: 'unico', timestamp: new Date(t0).toISOString() });
  await events({ kind: 'start', ...ref('pr', t0), manual: false });
  t.match(q.getJob('default', 'pr'), { runCount: 1, nextRunAtMs: null, status: 'running' });
  await apply({ type: 'pause_job', tenant: 'default', proposedAtMs: t0 + 1, id: 'pr' });
  await events({ kind: 'finish', ...ref('pr', t0), result: 'skipped', attempts: 0, error: 'job paused before the fire was sent', requeue: true });
  t.match(q.getJob('default', 'pr'), { runCount: 0, nextRunAtMs: null, status: 'paused', firesInFlight: 0, fireCounts: { skipped: 1 } });
  t.match(await apply({ type: 'resume_job', tenant: 'default', proposedAtMs: t0 + 5, id: 'pr' }), { type: 'job', job: { status: 'pending', nextRunAtMs: t0 } });
  // Resumed before the skip applied: due again at once.
  await create(apply, { id: 'pr2', type: 'unico', timestamp: new Date(t0).toISOString() });
  await events({ kind: 'start', ...ref('pr2', t0), manual: false });
  await apply({ type: 'pause_job', tenant: 'default', proposedAtMs: t0 + 1, id: 'pr2' });
  await apply({ type: 'resume_job', tenant: 'default', proposedAtMs: t0 + 2, id: 'pr2' });
  await events({ kind: 'finish', ...ref('pr2', t0), result: 'skipped', attempts: 0, error: 'job paused before the fire was sent', requeue: true });
  t.match(q.getJob('default', 'pr2'), { runCount: 0, nextRunAtMs: t0, status: 'pending', firesInFlight: 0 });
});

t.test('pause_after_failures pauses after that many dead letters in a row; a 410 pauses at once', async (t) => {
  const { apply, events, q } = await store(t);
  await create(apply, { id: 'p', type: 'recurrente', interval: '1m', timestamp: new Date(t0).toISOString(), pause_after_failures: 2 });
  for (const at of [t0, t0 + 60_000]) {
    await events({ kind: 'start', ...ref('p', at), manual: false }, { kind: 'finish', ...ref('p', at), result: 'dead_lettered', attempts: 3, error: 'x' });
  }
  t.match(q.getJob('default', 'p'), { status: 'paused', pausedReason: 'consecutive_failures', nextRunAtMs: null, consecutiveFailures: 2 });
  await create(apply, { id: 'g', type: 'recurrente', interval: '1m', timestamp: new Date(t0).toISOString() });
  await events({ kind: 'start', ...ref('g', t0), manual: false }, { kind: 'finish', ...ref('g', t0), result: 'gone', attempts: 1, error: '410' });
  t.match(q.getJob('default', 'g'), { status: 'paused', pausedReason: 'webhook_gone' });
});

t.test('a pass records fires not sent and moves the job past them; executions keep the newest EXECUTIONS_PER_JOB', async (t) => {
  const { apply, events, q } = await store(t);
  await create(apply, { id: 's', type: 'recurrente', interval: '1m', timestamp: new Date(t0).toISOString() });
  t.strictSame(await events({ kind: 'pass', ...ref('s', t0), untilMs: t0 + 180_000, count: 3, result: 'skipped' }), [true]);
  t.match(q.getJob('default', 's'), { nextRunAtMs: t0 + 180_000, runCount: 0, fireCounts: { skipped: 3 } });
  for (let a = 1; a <= 4; a++) {
    await events({ kind: 'attempt', ...ref('s', t0 + 180_000), attempt: a, startedAtMs: t0, finishedAtMs: t0 + 1, succeeded: false, httpStatus: 503, error: 'e' });
  }
  const executions = await q.executions('default', 's', 10);
  t.strictSame(executions.map((e) => e.attempt), [4, 3, 2], 'newest first, the oldest two pruned (kept: 3)');
});

t.test('deleting a job removes its fires in flight, executions and dead letters; later events for it do nothing', async (t) => {
  const { apply, events, q } = await store(t);
  await create(apply, { id: 'd', type: 'recurrente', interval: '1m', timestamp: new Date(t0).toISOString() });
  await events({ kind: 'start', ...ref('d', t0), manual: false },
    { kind: 'attempt', ...ref('d', t0), attempt: 1, startedAtMs: t0, finishedAtMs: t0 + 1, succeeded: false, httpStatus: 500, error: 'e' },
    { kind: 'finish', ...ref('d', t0), result: 'dead_lettered', attempts: 1, error: 'e' },
    { kind: 'start', ...ref('d', t0 + 60_000), manual: false });
  await apply({ type: 'delete_job', tenant: 'default', proposedAtMs: t0 + 2, id: 'd' });
  t.equal((await q.inFlightFires()).length, 0);
  t.equal((await q.executions('default', 'd', 10)).length, 0);
  t.equal((await q.deadLetters('default', 10, null)).deadLetters.length, 0);
  t.strictSame(await events({ kind: 'finish', ...ref('d', t0 + 60_000), result: 'succeeded', attempts: 1, error: null }), [false]);
});

t.test('trigger queues a manual fire that does not move the schedule; set_firing is remembered across a restart', async (t) => {
  const { apply, q, sm } = await store(t);
  await create(apply, { id: 'm', type: 'unico', timestamp: new Date(t0 + 3_600_000).toISOString() });
  const seen: string[] = [];
  sm.onChanges((c) => seen.push(...c.queued.map((f) => `${f.id}@${f.atMs}`)));
  t.strictSame(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0, id: 'm' }), { type: 'queued', fireId: `m@${t0}` });
  t.strictSame(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0, id: 'm' }), { type: 'queued', fireId: `m@${t0 + 1}` }, 'two triggers in one ms are two fires');
  t.strictSame(seen, [`m@${t0}`, `m@${t0 + 1}`]);
  t.match(q.getJob('default', 'm'), { nextRunAtMs: t0 + 3_600_000, firesInFlight: 2, status: 'running' });
  t.match(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0, id: 'nope' }), { type: 'refused', code: 'job_not_found' });
  t.strictSame(await apply({ type: 'set_firing', tenant: 'default', proposedAtMs: t0, paused: true }), { type: 'firing', paused: true });
  t.equal(sm.firingPaused(), true);
});

t.test('trigger of a cancelled job is refused with job_cancelled and queues nothing; a completed job may still be triggered', async (t) => {
  const { apply, q, sm } = await store(t);
  await create(apply, { id: 'c2', type: 'unico', timestamp: new Date(t0 + 3_600_000).toISOString() });
  t.match(await apply({ type: 'cancel_job', tenant: 'default', proposedAtMs: t0, id: 'c2' }), { type: 'job', job: { status: 'cancelled' } });
  const seen: string[] = [];
  sm.onChanges((c) => seen.push(...c.queued.map((f) => `${f.id}@${f.atMs}`)));
  t.match(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0 + 1, id: 'c2' }),
    { type: 'refused', code: 'job_cancelled', message: /c2 is cancelled/ });
  t.strictSame(seen, [], 'nothing queued for the scheduler');
  t.strictSame(await q.inFlightFires(), []);
  t.match(q.getJob('default', 'c2'), { status: 'cancelled', firesInFlight: 0, nextRunAtMs: null });
  // SPEC §2 says nothing against firing a completed job by hand: it stays allowed.
  await create(apply, { id: 'done', type: 'recurrente', interval: '1m', timestamp: new Date(t0).toISOString(), max_runs: 1 });
  await apply({ type: 'fire_events', proposedAtMs: t0, nodeId: 'n1', executionsPerJob: 3, events: [
    { kind: 'start', ...ref('done', t0), manual: false }, { kind: 'finish', ...ref('done', t0), result: 'succeeded', attempts: 1, error: null }] });
  t.match(q.getJob('default', 'done'), { status: 'completed' });
  t.match(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: t0 + 2, id: 'done' }), { type: 'queued', fireId: `done@${t0 + 2}` });
});
