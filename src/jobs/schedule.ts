// When a job fires: unico once, interval every k steps, cron in its time zone by SPEC §4's DST rules; all pure.
//
// SPEC §4 splits cron expressions in two by their hour field:
// - a specific hour (a number, list or range): each matching local time fires at the first instant whose wall
//   time is at or after it. That is the time itself; its first occurrence when a fall-back repeats it; and the
//   end of the gap when a spring-forward skips it (02:30 on Madrid's 2026-03-29 fires at 03:00 local, 01:00Z).
// - an hour field of `*` or a step: every instant whose wall time matches fires, so both occurrences of a
//   repeated hour fire and the skipped hour fires nothing.
import assert from 'node:assert/strict';
import { isEveryHourCron, nextCronWallMs } from './cron.js';
import type { JobSpec } from './job.js';
import { timeMaxAtMs } from './time.js';
import { firstInstantAtOrAfterWall, lookaroundMs, maxWallUpToMs, offsetAtMs, transitionAtMs, wallAtMs } from './zone.js';

export { validateCron } from './cron.js';

/** The fields of a job that decide when it fires. */
export type ScheduleSpec = Pick<
  JobSpec, 'type' | 'startAtMs' | 'cronExpression' | 'intervalMs' | 'timezone' | 'lastDateAtMs' | 'maxRuns'
>;

/** The most fires `upcomingFires` lists in one call (the API asks for at most 100). */
export const upcomingFiresMax = 1000;
/** Each step of the every-hour search passes an offset change or a skipped wall time; real zones need two or three. */
const everyHourStepsMax = 64;

/**
 * The job's first fire strictly after `afterMs`, or null when it fires no more. For a new job pass
 * `startAtMs - 1`, so that a fire exactly at the start counts. Respects `startAtMs` and `lastDateAtMs` (a fire
 * exactly at `last_date` still happens); `max_runs` depends on the run count, which `upcomingFires` takes.
 */
export function nextFireAtMs(spec: ScheduleSpec, afterMs: number): number | null {
  if (spec.type === 'unico') return spec.startAtMs > afterMs ? spec.startAtMs : null;
  const fromMs = Math.max(afterMs, spec.startAtMs - 1);
  let atMs: number | null;
  if (spec.intervalMs !== null) {
    atMs = nextIntervalFireAtMs(spec.startAtMs, spec.intervalMs, fromMs);
  } else {
    assert.ok(spec.cronExpression !== null, `recurrente job has neither cron_expression nor interval`);
    atMs = nextCronFireAtMs(spec.cronExpression, spec.timezone, fromMs);
  }
  if (atMs === null || atMs > timeMaxAtMs) return null;
  if (spec.lastDateAtMs !== null && atMs > spec.lastDateAtMs) return null;
  return atMs;
}

/**
 * The next `count` fires at or after `fromMs` (pass the job's `nextRunAtMs` to list what the scheduler will send),
 * fewer when the job ends sooner: by `last_date`, by `max_runs` given the `runCount` fires already made, or, for
 * a unico, once it has fired.
 */
export function upcomingFires(
  spec: ScheduleSpec, fromMs: number, count: number, { runCount }: { readonly runCount: number },
): number[] {
  assert.ok(Number.isSafeInteger(count) && count >= 0 && count <= upcomingFiresMax, `fire count ${count} out of range`);
  const runsLeft = spec.type === 'unico' ? 1 - runCount : spec.maxRuns === null ? count : spec.maxRuns - runCount;
  const wanted = Math.min(count, Math.max(0, runsLeft));
  const fires: number[] = [];
  for (let atMs = nextFireAtMs(spec, fromMs - 1); atMs !== null && fires.length < wanted; atMs = nextFireAtMs(spec, atMs)) {
    fires.push(atMs);
  }
  return fires;
}

/** `startAtMs + k × intervalMs` for the least k ≥ 0 that lands after `afterMs`. */
export function nextIntervalFireAtMs(startAtMs: number, intervalMs: number, afterMs: number): number {
  if (afterMs < startAtMs) return startAtMs;
  return startAtMs + (Math.floor((afterMs - startAtMs) / intervalMs) + 1) * intervalMs;
}

/** The first fire of a cron expression in a zone strictly after `afterMs`, by SPEC §4 (see the file's header). */
export function nextCronFireAtMs(expression: string, timezone: string, afterMs: number): number | null {
  return isEveryHourCron(expression)
    ? nextEveryHourFireAtMs(expression, timezone, afterMs)
    : nextFixedTimeFireAtMs(expression, timezone, afterMs);
}

/**
 * A specific-hour expression fires wall time W at F(W), the first instant whose wall time is ≥ W. F never
 * decreases as W grows, and F(W) > afterMs exactly when W is later than every wall time shown up to afterMs,
 * so the answer is F of the first matching wall after that latest one. Several walls of one gap share one F,
 * and they fire once.
 */
function nextFixedTimeFireAtMs(expression: string, timezone: string, afterMs: number): number | null {
  const wallMs = nextCronWallMs(expression, maxWallUpToMs(timezone, afterMs));
  return wallMs === null ? null : firstInstantAtOrAfterWall(timezone, wallMs);
}

/**
 * An every-hour expression fires every instant whose wall time matches. Within a stretch of one offset, the
 * first match after `fromMs` is `W - offset`; when an offset change comes first, the search restarts at it.
 */
function nextEveryHourFireAtMs(expression: string, timezone: string, afterMs: number): number | null {
  let fromMs = afterMs + 1;
  for (let step = 0; step < everyHourStepsMax; step++) {
    const offsetMs = offsetAtMs(timezone, fromMs);
    const wallMs = nextCronWallMs(expression, fromMs + offsetMs - 1);
    if (wallMs === null) return null;
    const atMs = wallMs - offsetMs;
    if (atMs - fromMs <= lookaroundMs) {
      // Near: at most one offset change lies between, and it shows as a different offset at atMs.
      if (offsetAtMs(timezone, atMs) === offsetMs) return atMs;
      fromMs = transitionAtMs(timezone, fromMs, atMs);
    } else if (offsetAtMs(timezone, fromMs + lookaroundMs) !== offsetMs) {
      fromMs = transitionAtMs(timezone, fromMs, fromMs + lookaroundMs);
    } else {
      // Far, with no change soon: no wall time before W matches, so the first instant showing W or later
      // fires, unless a spring-forward skipped W itself; then search again from the end of that gap.
      const firstMs = firstInstantAtOrAfterWall(timezone, wallMs);
      if (wallAtMs(timezone, firstMs) === wallMs) return firstMs;
      fromMs = firstMs;
    }
  }
  assert.fail(`no fire of ${JSON.stringify(expression)} in ${timezone} after ${afterMs} within ${everyHourStepsMax} steps`);
}
