// Catch-up plans for late fires (SPEC §4): grace, skip, fire_once, fire_all and its 100, the catch-up window.
import t from 'tap';
import type { Job } from '../../src/jobs/job.js';
import { newJob, normalizeCreate } from '../../src/jobs/job.js';
import { planCatchup } from '../../src/scheduler/catchup.js';

const t0 = Date.parse('2026-03-01T00:00:00Z');
const limits = { graceMs: 10_000, catchupFiresMax: 100, scanFiresMax: 10_000 };

function everyMinute(extra: Record<string, unknown> = {}): Job {
  const spec = normalizeCreate({ id: 'j', type: 'recurrente', cron_expression: '* * * * *', timestamp: new Date(t0).toISOString(), ...extra },
    { nowMs: t0, maxPayloadBytes: 65536, denyPrivateWebhooks: false });
  return newJob(spec, 'h', t0);
}

t.test('a fire less than the grace late is simply sent', async (t) => {
  t.strictSame(planCatchup(everyMinute(), t0, t0 + 10_000, limits), { passes: [], fireAtMs: t0 });
});

t.test('skip passes every missed fire and sends none', async (t) => {
  const plan = planCatchup(everyMinute({ catchup: 'skip' }), t0, t0 + 5 * 60_000 + 30_000, limits);
  t.strictSame(plan, { passes: [{ fromMs: t0, untilMs: t0 + 6 * 60_000, count: 6, result: 'skipped' }], fireAtMs: null });
});

t.test('fire_once passes all but the latest missed fire and sends that one', async (t) => {
  const plan = planCatchup(everyMinute(), t0, t0 + 5 * 60_000 + 30_000, limits);
  t.strictSame(plan, { passes: [{ fromMs: t0, untilMs: t0 + 5 * 60_000, count: 5, result: 'skipped' }], fireAtMs: t0 + 5 * 60_000 });
});

t.test('fire_all sends each missed fire, at most the last 100; the older excess is missed', async (t) => {
  const few = planCatchup(everyMinute({ catchup: 'fire_all' }), t0, t0 + 5 * 60_000, limits);
  t.strictSame(few, { passes: [], fireAtMs: t0 }, 'the oldest goes first; the rest follow as each is claimed');
  const many = planCatchup(everyMinute({ catchup: 'fire_all' }), t0, t0 + 149 * 60_000, limits);
  t.strictSame(many, { passes: [{ fromMs: t0, untilMs: t0 + 50 * 60_000, count: 50, result: 'missed' }], fireAtMs: t0 + 50 * 60_000 });
});

t.test('fires older than catchup_window_ms are missed, the rest follow the policy', async (t) => {
  const plan = planCatchup(everyMinute({ catchup_window_ms: 120_000 }), t0, t0 + 5 * 60_000, limits);
  t.strictSame(plan, {
    passes: [
      { fromMs: t0, untilMs: t0 + 3 * 60_000, count: 3, result: 'missed' },
      { fromMs: t0 + 3 * 60_000, untilMs: t0 + 5 * 60_000, count: 2, result: 'skipped' },
    ],
    fireAtMs: t0 + 5 * 60_000,
  });
  const unico = newJob(normalizeCreate({ id: 'u', type: 'unico', timestamp: new Date(t0).toISOString(), catchup_window_ms: 1000 },
    { nowMs: t0, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), 'h', t0);
  t.strictSame(planCatchup(unico, t0, t0 + 60_000, limits), { passes: [{ fromMs: t0, untilMs: t0 + 1, count: 1, result: 'missed' }], fireAtMs: null });
});

t.test('a backlog longer than one plan is passed in parts, each plan listing at most scanFiresMax fires', async (t) => {
  const plan = planCatchup(everyMinute({ catchup: 'skip', catchup_window_ms: 86_400_000 * 30 }), t0, t0 + 20 * 86_400_000,
    { ...limits, scanFiresMax: 1000 });
  t.strictSame(plan, { passes: [{ fromMs: t0, untilMs: t0 + 1000 * 60_000, count: 1000, result: 'skipped' }], fireAtMs: null });
});
