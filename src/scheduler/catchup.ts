// What to do with a scheduled fire found late: send it, or pass it (and the fires missed after it) by `catchup`.
//
// A fire less than `graceMs` late is simply late (a busy loop, a failover) and is sent. Later than that, the job
// missed fires while no leader could fire, and SPEC §4 applies: fires older than `catchup_window_ms` are
// `missed`; of the rest, `skip` sends none, `fire_once` sends the latest, and `fire_all` sends each, at most
// `catchupFiresMax` of them (the older excess is `missed`). The plan is pure; the scheduler turns each pass into
// one `pass` event and sends `fireAtMs`.
import assert from 'node:assert/strict';
import type { Job } from '../jobs/job.js';
import { runAfter } from '../jobs/fire.js';

export interface Pass {
  /** The first passed fire: the job's next run when the pass applies. */
  readonly fromMs: number;
  /** The fire after the last passed one (or just past it when the job ends there). */
  readonly untilMs: number;
  readonly count: number;
  readonly result: 'skipped' | 'missed';
}

export interface CatchupPlan {
  readonly passes: readonly Pass[];
  /** The fire to send now, or null. */
  readonly fireAtMs: number | null;
}

export interface CatchupLimits {
  readonly graceMs: number;
  /** `fire_all` sends at most this many missed fires of one job (SPEC §4: 100). */
  readonly catchupFiresMax: number;
  /** Fires listed in one plan; a longer backlog is passed in several plans, one per dispatch. */
  readonly scanFiresMax: number;
}

/** The plan for the job's next run `scheduledAtMs` (the job's `nextRunAtMs`) at `nowMs`. */
export function planCatchup(job: Job, scheduledAtMs: number, nowMs: number, limits: CatchupLimits): CatchupPlan {
  if (nowMs - scheduledAtMs <= limits.graceMs) return { passes: [], fireAtMs: scheduledAtMs };
  const { fires, after } = overdueFires(job, scheduledAtMs, nowMs, limits.scanFiresMax);
  const windowStartMs = nowMs - job.catchupWindowMs;
  const complete = fires.length < limits.scanFiresMax || after === null || after > nowMs;
  // Fires ascend, so those inside the window are a suffix; none is sent from before it. fire_all starts at the
  // oldest fire it may send, inside the window and among the last catchupFiresMax: judging by fires[0] alone
  // would pass the whole backlog whenever the oldest fire is outside the window.
  const inWindowIndex = fires.findIndex((atMs) => atMs >= windowStartMs);
  let sendIndex: number | null = null;
  if (complete && inWindowIndex !== -1 && job.catchup === 'fire_once') sendIndex = fires.length - 1;
  if (complete && inWindowIndex !== -1 && job.catchup === 'fire_all') {
    sendIndex = Math.max(inWindowIndex, fires.length - limits.catchupFiresMax);
  }
  assert.ok(sendIndex === null || sendIndex >= inWindowIndex, `catch-up of ${job.id} would send a fire older than its window`);
  const passedCount = sendIndex ?? fires.length;
  // fire_all's excess beyond the last catchupFiresMax is `missed` too (SPEC §4).
  const passedAs = (atMs: number): Pass['result'] =>
    atMs < windowStartMs || job.catchup === 'fire_all' ? 'missed' : 'skipped';
  const passes: Pass[] = [];
  for (let i = 0; i < passedCount;) {
    const first = fires[i] as number;
    const result = passedAs(first);
    let j = i + 1;
    while (j < passedCount && passedAs(fires[j] as number) === result) j++;
    const untilMs = fires[j] ?? after ?? (fires[j - 1] as number) + 1;
    passes.push({ fromMs: first, untilMs, count: j - i, result });
    i = j;
  }
  return { passes, fireAtMs: sendIndex === null ? null : (fires[sendIndex] as number) };
}

/**
 * The job's fires from `fromMs` up to `nowMs`, at most `max` of them, and the fire after the last one listed
 * (null when the job has no run left). Fires that were passed do not count as runs, so the run count stays.
 */
function overdueFires(job: Job, fromMs: number, nowMs: number, max: number): { fires: number[]; after: number | null } {
  const fires: number[] = [fromMs];
  let after = runAfter(job, fromMs, job.runCount);
  while (after !== null && after <= nowMs && fires.length < max) {
    fires.push(after);
    after = runAfter(job, after, job.runCount);
  }
  return { fires, after };
}
