// The leader's bound on fires in flight (limits.webhooksInFlightMax) holds for every kind of fire: triggers,
// retries out of their backoff, and fires a new leader resumes. Over a real state machine; the receiver is a fake
// that holds each request until the test answers it, so the requests open at once can be counted.
import t, { type Test } from 'tap';
import type { Command, FireEvent } from '../../src/jobs/commands.js';
import { normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { systemClock } from '../../src/scheduler/clock.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { AttemptResult, WebhookAttempt } from '../../src/scheduler/webhook-client.js';
import { waitFor } from '../cluster/process-cluster.js';
import { openLogApplier } from '../store/log-applier.js';

const inFlightMax = 3;

interface Open {
  readonly attempt: WebhookAttempt;
  readonly answer: (result: AttemptResult) => void;
}

async function setUp(t: Test) {
  const store = await openLogApplier();
  const apply = (command: Command): ReturnType<typeof store.apply> => store.apply(command);
  const open: Open[] = [];
  const sent: WebhookAttempt[] = [];
  let mostOpen = 0;
  const webhooks = {
    send(attempt: WebhookAttempt): Promise<AttemptResult> {
      sent.push(attempt);
      return new Promise((resolve) => {
        const entry: Open = {
          attempt,
          answer: (result) => {
            open.splice(open.indexOf(entry), 1);
            resolve(result);
          },
        };
        open.push(entry);
        mostOpen = Math.max(mostOpen, open.length);
        attempt.signal?.addEventListener('abort', () => entry.answer({
          ok: false, httpStatus: null, code: 'aborted', error: 'aborted', startedAtMs: Date.now(), durationMs: 0, sent: true, retryAfterMs: null,
        }));
      });
    },
  };
  let leading = true;
  const scheduler = new Scheduler({
    nodeId: 'bound', slotGapMs: 1000, nearWindowMs: 6000, catchupGraceMs: 10_000, catchupFiresMax: 100,
    catchupScanFiresMax: 10_000, inFlightMax, eventsPerEntryMax: 500, eventsEntrySpacingMs: 5, claimLeadMs: 100,
    leaseCheckMs: 50, indexPageFires: 200,
  }, {
    store: {
      getJob: (tenant, id) => store.queries.getJob(tenant, id),
      dueFirePage: (...args) => store.queries.dueFirePage(...args),
      inFlightFires: () => store.queries.inFlightFires(),
      firingPaused: () => store.sm.firingPaused(),
    },
    lease: { hasLease: () => leading, barrier: async () => undefined },
    clock: systemClock, random: () => 0.5, signingSecret: null, webhooks,
    proposeEvents: async (events: readonly FireEvent[]) => {
      const r = await apply({ type: 'fire_events', proposedAtMs: Date.now(), nodeId: 'bound', events, executionsPerJob: 50 });
      return r.type === 'fire_events' ? r.applied : [];
    },
    logger: { info: () => undefined, warn: () => undefined, debug: () => undefined },
  });
  store.sm.onChanges((changes) => scheduler.noteChanges(changes));
  t.teardown(async () => {
    leading = false;
    scheduler.stop('test over');
    // Events the batcher proposed before the stop still apply: the store closes after them.
    await new Promise((r) => setTimeout(r, 50));
    await waitFor(async () => store.pending === 0, 5000, 'the last applies');
    await store.close();
  });
  const create = async (id: string, body: Record<string, unknown> = {}): Promise<void> => {
    const full = {
      id, type: 'unico', timestamp: new Date(Date.now() + 3_600_000).toISOString(), webhook_url: 'http://receiver.test/', ...body,
    };
    const spec = normalizeCreate(full, { nowMs: Date.now(), maxPayloadBytes: 65536, denyPrivateWebhooks: false });
    const r = await apply({ type: 'create_jobs', tenant: 'default', proposedAtMs: Date.now(), maxJobs: 1e9, jobs: [{ spec, requestHash: requestHashOf(full) }] });
    t.match(r, { type: 'created', jobs: [{ status: 'created' }] });
  };
  const trigger = async (id: string): Promise<void> => {
    t.match(await apply({ type: 'trigger_job', tenant: 'default', proposedAtMs: Date.now(), id }), { type: 'queued' });
  };
  const answerAll = (result: () => AttemptResult): void => {
    for (const entry of [...open]) entry.answer(result());
  };
  scheduler.lead();
  await waitFor(async () => scheduler.isRunning(), 5000, 'the scheduler to run');
  return {
    scheduler, create, trigger, open, sent, answerAll, get mostOpen() {
      return mostOpen;
    },
    loseLead: () => {
      leading = false;
      scheduler.stop('leader lost');
    },
    lead: () => {
      leading = true;
      scheduler.lead();
    },
  };
}

const ok = (): AttemptResult => ({ ok: true, httpStatus: 200, startedAtMs: Date.now(), durationMs: 1 });
const failed = (): AttemptResult => ({
  ok: false, httpStatus: 500, code: 'http_status', error: 'webhook answered HTTP 500', startedAtMs: Date.now(), durationMs: 1, sent: true, retryAfterMs: null,
});

t.test('triggers beyond the bound wait their turn, and every one is sent', async (t) => {
  const s = await setUp(t);
  await s.create('hung');
  for (let i = 0; i < 8; i++) await s.trigger('hung');
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the first fires to be sent');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(s.open.length, inFlightMax, 'no more requests open than the bound');
  t.equal(s.scheduler.status().waiting, 8 - inFlightMax, 'the rest wait');
  while (s.sent.length < 8 || s.open.length > 0) {
    s.answerAll(ok);
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(new Set(s.sent.map((a) => a.fireId)).size, 8, 'each trigger sent once');
  t.equal(s.mostOpen, inFlightMax);
  t.equal(s.scheduler.status().waiting, 0);
});

t.test('a retry out of its backoff waits for room; fires in backoff do not hold other fires back', async (t) => {
  const s = await setUp(t);
  await s.create('flaky', { retry: { max_attempts: 2, backoff_ms: 100, max_backoff_ms: 100 } });
  await s.create('other');
  for (let i = 0; i < inFlightMax; i++) await s.trigger('flaky');
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the flaky fires to be sent');
  s.answerAll(failed);
  // While they wait out their backoff, other fires go.
  for (let i = 0; i < inFlightMax; i++) await s.trigger('other');
  await waitFor(async () => s.open.filter((o) => o.attempt.jobId === 'other').length === inFlightMax, 5000, 'the other fires to be sent');
  await new Promise((r) => setTimeout(r, 400));
  t.equal(s.open.length, inFlightMax, 'the retries, due by now, wait for room');
  t.equal(s.sent.filter((a) => a.attempt === 2).length, 0, 'no second attempt sent yet');
  s.answerAll(ok);
  await waitFor(async () => s.sent.filter((a) => a.attempt === 2).length === inFlightMax, 5000, 'the retries');
  s.answerAll(ok);
  t.equal(s.mostOpen, inFlightMax);
});

t.test('fires a new leader resumes wait their turn too', async (t) => {
  const s = await setUp(t);
  await s.create('resumed');
  for (let i = 0; i < 6; i++) await s.trigger('resumed');
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the first fires to be sent');
  s.loseLead();
  await waitFor(async () => s.open.length === 0, 5000, 'the attempts to be aborted');
  const before = s.sent.length;
  s.lead();
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the resumed fires to be sent');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(s.open.length, inFlightMax, 'no more requests open than the bound');
  while (s.open.length > 0 || s.scheduler.status().waiting > 0) {
    s.answerAll(ok);
    await new Promise((r) => setTimeout(r, 20));
  }
  const resent = s.sent.slice(before);
  t.equal(new Set(resent.map((a) => a.fireId)).size, 6, 'all six fires sent by the new leader');
  t.equal(s.mostOpen, inFlightMax);
});
