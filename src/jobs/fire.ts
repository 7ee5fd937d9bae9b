// What a fire does to its job, pure: claiming a scheduled time advances the job, finishing one settles its state.
//
// A fire is one due occurrence of a job, named `<job id>@<scheduled epoch ms>` (SPEC §4). Its life is three steps,
// each replicated through Raft by the leader's scheduler and applied here on every node:
// - `start`: the fire is claimed. The job's next run moves past it (computed from the scheduled time, never from
//   the clock, SPEC §4), so no later leader fires it again as a scheduled fire.
// - attempts: one execution record each (the store writes those; the job only counts them).
// - `finish`: the fire's result: sent with success, dead-lettered, or not sent (`skipped`, `missed`, `unknown`).
import assert from 'node:assert/strict';
import type { FireCounts, Job } from './job.js';
import { isTerminal } from './job.js';
import { nextFireAtMs, type ScheduleSpec } from './schedule.js';

export const fireResults = ['succeeded', 'dead_lettered', 'gone', 'skipped', 'missed', 'unknown'] as const;
/**
 * How a fire ended: `succeeded` (a 2xx), `dead_lettered` (retries spent), `gone` (410: the job pauses), or never
 * sent: `skipped` (catch-up `skip`, `overlap: skip`), `missed` (past `catchup_window_ms`), `unknown` (an
 * at_most_once claim whose leader was lost: it may or may not have been sent, and is not sent again).
 */
export type FireResult = (typeof fireResults)[number];

export function fireIdOf(jobId: string, scheduledAtMs: number): string {
  return `${jobId}@${scheduledAtMs}`;
}

/** The job id and scheduled time of a fire id; null when `fireId` is not one. */
export function parseFireId(fireId: string): { jobId: string; scheduledAtMs: number } | null {
  const at = fireId.lastIndexOf('@');
  if (at <= 0) return null;
  const digits = fireId.slice(at + 1);
  if (!/^\d{1,16}$/.test(digits)) return null;
  const scheduledAtMs = Number(digits);
  if (!Number.isSafeInteger(scheduledAtMs)) return null;
  return { jobId: fireId.slice(0, at), scheduledAtMs };
}

/**
 * The job's run after the fire scheduled at `scheduledAtMs`, given `runCount` fires made: from the scheduled time,
 * so a late fire does not shift the schedule (SPEC §4); null when the job has no run left.
 */
export function runAfter(job: Job, scheduledAtMs: number, runCount: number): number | null {
  if (job.type === 'unico') return null;
  if (job.maxRuns !== null && runCount >= job.maxRuns) return null;
  return nextFireAtMs(job, scheduledAtMs);
}

/**
 * The job once its scheduled fire at `scheduledAtMs` is claimed, or null when that is not the job's next run
 * (a stale claim: the job changed, or another leader already claimed it). The fire counts as a run.
 */
export function startScheduledFire(job: Job, scheduledAtMs: number, nowMs: number): Job | null {
  if (job.nextRunAtMs !== scheduledAtMs || job.status === 'paused' || isTerminal(job.status)) return null;
  const runCount = job.runCount + 1;
  return {
    ...job, runCount, nextRunAtMs: runAfter(job, scheduledAtMs, runCount), status: 'running',
    firesInFlight: job.firesInFlight + 1, updatedAtMs: nowMs,
  };
}

/**
 * The job once its claimed scheduled fire went unsent because the job was paused, or a PATCH moved its schedule
 * off the fire: that fire is no run (its claim counted one), so a unico fires again at its timestamp, as after a
 * pause or PATCH before the claim. A unico resumed before this applied is due again at once.
 */
export function requeueFire(job: Job): Job {
  const runCount = Math.max(0, job.runCount - 1);
  const live = job.status !== 'paused' && !isTerminal(job.status);
  const nextRunAtMs = live && job.type === 'unico' && job.nextRunAtMs === null ? job.startAtMs : job.nextRunAtMs;
  return { ...job, runCount, nextRunAtMs };
}

/**
 * True when `atMs` is one of the job's scheduled times: a trigger's fire must take another millisecond, or it
 * would share that fire's id (SPEC §4: one fire id, one fire), and a receiver that dedupes by it would drop one.
 * A claimed fire whose time is no longer one (a PATCH moved the schedule) is withdrawn before it is sent.
 */
export function isScheduledTime(job: ScheduleSpec, atMs: number): boolean {
  return nextFireAtMs(job, atMs - 1) === atMs;
}

/** The job with one more fire in flight that is not its schedule's (a trigger, a redrive). */
export function startManualFire(job: Job, nowMs: number): Job {
  const status = job.status === 'pending' ? 'running' : job.status;
  return { ...job, status, firesInFlight: job.firesInFlight + 1, updatedAtMs: nowMs };
}

/**
 * The job once `count` of its scheduled fires, from its next run up to (not including) `untilMs`, were passed
 * without being sent (`skipped` or `missed`); null when `fromMs` is not the job's next run.
 */
export function passScheduledFires(job: Job, fromMs: number, untilMs: number, count: number,
  result: 'skipped' | 'missed', nowMs: number): Job | null {
  assert.ok(untilMs > fromMs && count >= 1, `bad pass of ${job.id}: [${fromMs}, ${untilMs}) x${count}`);
  if (job.nextRunAtMs !== fromMs || job.status === 'paused' || isTerminal(job.status)) return null;
  const counts = { ...job.fireCounts, [result]: job.fireCounts[result] + count };
  // A passed fire is no run: max_runs counts fires sent, so the next run is the first one from `untilMs`.
  const nextRunAtMs = job.type === 'unico' ? null : runAfter(job, untilMs - 1, job.runCount);
  const settled = { ...job, fireCounts: counts, nextRunAtMs, updatedAtMs: nowMs };
  return { ...settled, status: idleStatus(settled, result) };
}

/**
 * The job once one of its fires in flight ended with `result`: counts, the failure streak, a pause after
 * `pause_after_failures` dead letters or a 410, and, with no fire left in flight and no run left, its end.
 */
export function finishFire(job: Job, result: FireResult, nowMs: number): Job {
  const failed = result === 'dead_lettered' || result === 'gone';
  const countKey: keyof FireCounts = failed ? 'failed' : result;
  const consecutiveFailures = result === 'succeeded' ? 0 : failed ? job.consecutiveFailures + 1 : job.consecutiveFailures;
  let next: Job = {
    ...job, firesInFlight: Math.max(0, job.firesInFlight - 1), consecutiveFailures, updatedAtMs: nowMs,
    fireCounts: { ...job.fireCounts, [countKey]: job.fireCounts[countKey] + 1 },
  };
  const pauseReason = result === 'gone' ? 'webhook_gone'
    : failed && job.pauseAfterFailures > 0 && consecutiveFailures >= job.pauseAfterFailures ? 'consecutive_failures' : null;
  if (pauseReason !== null && !isTerminal(job.status)) {
    next = { ...next, paused: true, status: 'paused', nextRunAtMs: null, pausedReason: pauseReason };
  }
  if (next.status === 'running' || next.status === 'pending') next = { ...next, status: idleStatus(next, result) };
  // A failed unico whose dead letter was redriven and then delivered has done what it was for.
  if (next.status === 'failed' && result === 'succeeded' && next.firesInFlight === 0) next = { ...next, status: 'completed' };
  return next;
}

/** The status of a job that is neither paused nor terminal, from its fires in flight and its next run. */
function idleStatus(job: Job, lastResult: FireResult | null = null): Job['status'] {
  if (job.status === 'paused' || isTerminal(job.status)) return job.status;
  if (job.firesInFlight > 0) return 'running';
  if (job.nextRunAtMs !== null) return 'pending';
  if (job.type === 'unico' && lastResult !== null && lastResult !== 'succeeded' && lastResult !== 'skipped') return 'failed';
  return 'completed';
}
