// A Scheduler over a real state machine, with a fake receiver that holds each request until the test answers it
// (so the requests open at once can be counted), and a lease the test can take away for a moment.
import type { Test } from 'tap';
import type { Command, FireEvent } from '../../src/jobs/commands.js';
import { normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { systemClock } from '../../src/scheduler/clock.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { AttemptResult, WebhookAttempt } from '../../src/scheduler/webhook-client.js';
import { waitFor } from '../cluster/process-cluster.js';
import { openLogApplier } from '../store/log-applier.js';

export interface Open {
  readonly attempt: WebhookAttempt;
  readonly answer: (result: AttemptResult) => void;
}

export async function setUpScheduler(t: Test, inFlightMax: number) {
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
  /** The lease lapses while this is set, as in a long GC pause, though the node still leads in its term. */
  let blipping = false;
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
    // A barrier needs the leader to be confirmed, which a lapsed lease is not: it waits for the lapse to end.
    lease: {
      hasLease: () => leading && !blipping,
      barrier: async () => {
        while (blipping) await new Promise((r) => setTimeout(r, 5));
      },
    },
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
    blip: async (ms: number) => {
      blipping = true;
      await new Promise((r) => setTimeout(r, ms));
      blipping = false;
    },
    executions: (id: string) => store.queries.executions('default', id, 20),
    job: (id: string) => store.queries.getJob('default', id),
  };
}

export const ok = (): AttemptResult => ({ ok: true, httpStatus: 200, startedAtMs: Date.now(), durationMs: 1 });
export const failed = (): AttemptResult => ({
  ok: false, httpStatus: 500, code: 'http_status', error: 'webhook answered HTTP 500', startedAtMs: Date.now(), durationMs: 1, sent: true, retryAfterMs: null,
});

