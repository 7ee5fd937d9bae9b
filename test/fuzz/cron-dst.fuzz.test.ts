// Fuzzes cron schedules around real DST changes: SPEC §4's rules against an independent reference, strictly
// increasing fires, and `GET /jobs/{id}/schedule` equal to what claiming fires one by one (fire.ts) would send.
import { Cron } from 'croner';
import fc from 'fast-check';
import t from 'tap';
import { validateCron } from '../../src/jobs/cron.js';
import { isScheduledTime, startScheduledFire } from '../../src/jobs/fire.js';
import type { Job } from '../../src/jobs/job.js';
import type { ScheduleSpec } from '../../src/jobs/schedule.js';
import { nextFireAtMs, upcomingFires } from '../../src/jobs/schedule.js';
import { JobQueries } from '../../src/store/queries.js';
import type { TestNode } from '../api/single-node.js';
import { startSingleNode } from '../api/single-node.js';
import { fuzzOptions } from './fuzz-options.js';
import { cronField } from './job-bodies.js';

const secondMs = 1000;
const minuteMs = 60_000;
const hourMs = 3_600_000;

/**
 * Zones with every kind of change: Europe and the US (1 h at 02:00 / 01:00 UTC), Lord Howe (30 min), Kathmandu
 * (+5:30 to +5:45 in 1986), St John's and Chatham (off-hour offsets), Havana and old São Paulo (at midnight),
 * Casablanca and Dublin (negative DST), Troll (2 h), Apia (a whole day skipped in 2011), Tehran (until 2022).
 */
const zones = [
  'Europe/Madrid', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham',
  'America/Havana', 'America/Sao_Paulo', 'Africa/Casablanca', 'Europe/Dublin', 'Antarctica/Troll', 'Pacific/Apia',
  'Asia/Tehran', 'America/Santiago', 'Europe/London', 'UTC',
] as const;

// ---------------------------------------------------------------------------
// The reference: Intl alone (not zone.ts), croner only to say which wall times match

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall time (as UTC epoch ms) that the zone's clocks show at an instant, to the second. */
function refWallMs(zone: string, atMs: number): number {
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
      minute: '2-digit', second: '2-digit',
    });
    formatters.set(zone, formatter);
  }
  const secondAtMs = Math.floor(atMs / secondMs) * secondMs;
  const parts = formatter.formatToParts(secondAtMs);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'));
}

const refOffsetMs = (zone: string, atMs: number): number => refWallMs(zone, atMs) - Math.floor(atMs / secondMs) * secondMs;

interface Transition {
  readonly atMs: number;
  readonly beforeMs: number;
  readonly afterMs: number;
}

/** Offset changes in [fromMs, toMs): an hourly scan (changes are months apart), each bisected to its second. */
function refTransitions(zone: string, fromMs: number, toMs: number): Transition[] {
  const found: Transition[] = [];
  let previous = refOffsetMs(zone, fromMs);
  for (let atMs = fromMs + hourMs; atMs < toMs + hourMs; atMs += hourMs) {
    const offset = refOffsetMs(zone, atMs);
    if (offset === previous) continue;
    let lo = (atMs - hourMs) / secondMs;
    let hi = atMs / secondMs;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (refOffsetMs(zone, mid * secondMs) === previous) lo = mid;
      else hi = mid;
    }
    found.push({ atMs: hi * secondMs, beforeMs: previous, afterMs: offset });
    previous = offset;
  }
  return found;
}

const yearTransitions = new Map<string, Transition[]>();

function transitionsOfYear(zone: string, year: number): Transition[] {
  const key = `${zone} ${year}`;
  let found = yearTransitions.get(key);
  if (found === undefined) {
    found = refTransitions(zone, Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1));
    yearTransitions.set(key, found);
  }
  return found;
}

/** SPEC §4: `*` or a step in the hour field fires on every real hour; a specific hour fires its local time once. */
function isEveryHour(expression: string): boolean {
  const fields = expression.split(' ');
  return /[*/]/.test((fields.length === 6 ? fields[2] : fields[1]) ?? '');
}

/**
 * SPEC §4 from first principles over (fromMs, toMs]. Every wall time W the expression matches is shown at the
 * instants W - offset (for each offset in force around the window) whose wall time really is W. Every-hour
 * expressions fire at all of them, and at none for a W a spring-forward skipped. Specific-hour expressions fire W
 * once, at its first occurrence, or at the end of the gap that skipped it.
 */
function referenceFires(expression: string, zone: string, fromMs: number, toMs: number): number[] {
  const margin = 2 * 24 * hourMs;
  const transitions = refTransitions(zone, fromMs - margin, toMs + margin);
  const offsets = [...new Set([refOffsetMs(zone, fromMs - margin), ...transitions.map((tr) => tr.afterMs)])];
  const walls = new Cron(expression, { utcOffset: 0, mode: '5-or-6-parts' });
  const everyHour = isEveryHour(expression);
  const fires = new Set<number>();
  let wall = walls.nextRun(new Date(fromMs + Math.min(...offsets) - 2 * secondMs));
  for (; wall !== null && wall.getTime() <= toMs + Math.max(...offsets); wall = walls.nextRun(wall)) {
    const wallMs = wall.getTime();
    const shown = offsets.map((o) => wallMs - o).filter((atMs) => refWallMs(zone, atMs) === wallMs).sort((a, b) => a - b);
    if (everyHour) {
      for (const atMs of shown) fires.add(atMs);
    } else if (shown[0] !== undefined) {
      fires.add(shown[0]);
    } else {
      const gap = transitions.find((tr) => tr.afterMs > tr.beforeMs && wallMs >= tr.atMs + tr.beforeMs && wallMs < tr.atMs + tr.afterMs);
      if (gap === undefined) throw new Error(`reference: wall ${new Date(wallMs).toISOString()} in ${zone} is never shown`);
      fires.add(gap.atMs);
    }
  }
  return [...fires].filter((atMs) => atMs > fromMs && atMs <= toMs).sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------
// Expressions and start times

const hourNearChanges = fc.constantFrom('0', '1', '2', '3', '23', '1,2', '2,3', '1-3', '0-4', '2-3');
const anyDay = (min: number, max: number): fc.Arbitrary<string> =>
  fc.oneof({ weight: 6, arbitrary: fc.constant('*') }, { weight: 1, arbitrary: cronField(min, max) });
/** A seconds field of at most a few values per minute, so the reference's walk of every match stays short. */
const fewSeconds = fc.oneof(
  fc.constant('0'), fc.integer({ min: 0, max: 59 }).map(String),
  fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { minLength: 2, maxLength: 3 }).map((s) => s.join(',')),
  fc.integer({ min: 15, max: 59 }).map((n) => `*/${n}`),
);

/** 5-field expressions, or 6 with a seconds field first, that fire on some date (as the API requires). */
const expressions: fc.Arbitrary<string> = fc.tuple(
  fc.option(fewSeconds, { nil: undefined }),
  cronField(0, 59),
  fc.oneof({ weight: 1, arbitrary: cronField(0, 23) }, { weight: 1, arbitrary: hourNearChanges }),
  anyDay(1, 31), anyDay(1, 12), anyDay(0, 6),
).map(([seconds, ...rest]) => (seconds === undefined ? rest : [seconds, ...rest]).join(' ')).filter((expression) => {
  try {
    validateCron(expression, 'UTC');
    return true;
  } catch (_err) {
    // A day field no date matches (31 in February only): the API refuses it, so the schedule never sees it.
    return false;
  }
});

/** A start within hours of one of the zone's offset changes in `year` (any instant of it when it has none). */
function startNearChange(zone: string, year: number, pick: number, shiftMs: number): number {
  const changes = transitionsOfYear(zone, year);
  const change = changes[pick % Math.max(1, changes.length)];
  return (change?.atMs ?? Date.UTC(year, 5, 1) + (pick % 180) * 24 * hourMs) + shiftMs;
}

const iso = (atMs: number): string => new Date(atMs).toISOString();
const isoList = (list: readonly number[]): string => list.map(iso).join(' ');

// ---------------------------------------------------------------------------

t.test('cron fires follow SPEC §4 around DST changes: the reference and the schedule agree, strictly increasing', async (t) => {
  const cases = fc.record({
    expression: expressions,
    zone: fc.constantFrom(...zones),
    year: fc.integer({ min: 1980, max: 2040 }),
    pick: fc.nat(),
    shiftMs: fc.integer({ min: -6 * hourMs, max: 3 * hourMs }).map((ms) => Math.round(ms / secondMs) * secondMs),
    windowMs: fc.integer({ min: hourMs, max: 10 * hourMs }),
  });
  await fc.assert(fc.asyncProperty(cases, async ({ expression, zone, year, pick, shiftMs, windowMs }) => {
    const fromMs = startNearChange(zone, year, pick, shiftMs);
    const toMs = fromMs + windowMs;
    const spec: ScheduleSpec = {
      type: 'recurrente', startAtMs: 0, cronExpression: expression, intervalMs: null, timezone: zone, lastDateAtMs: null, maxRuns: null,
    };
    const actual: number[] = [];
    for (let atMs = nextFireAtMs(spec, fromMs); atMs !== null && atMs <= toMs; atMs = nextFireAtMs(spec, atMs)) {
      if (actual.length > 0 && atMs <= (actual.at(-1) ?? 0)) throw new Error(`${expression} in ${zone}: ${iso(atMs)} after ${iso(actual.at(-1) ?? 0)}`);
      actual.push(atMs);
      if (!isScheduledTime(spec, atMs)) throw new Error(`"${expression}" in ${zone}: ${iso(atMs)} is a fire but not a scheduled time`);
      if (actual.length > 100_000) throw new Error('runaway schedule');
    }
    const expected = referenceFires(expression, zone, fromMs, toMs);
    if (isoList(actual) !== isoList(expected)) {
      throw new Error(`"${expression}" in ${zone} after ${iso(fromMs)}\nexpected ${isoList(expected)}\nactual   ${isoList(actual)}`);
    }
  }), fuzzOptions(150));
  t.pass('schedules match the reference');
});

t.test('upcomingFires lists strictly increasing times from any start, and each follows the one before', async (t) => {
  const cases = fc.record({
    expression: expressions, zone: fc.constantFrom(...zones), year: fc.integer({ min: 1980, max: 2040 }), pick: fc.nat(),
    shiftMs: fc.integer({ min: -48 * hourMs, max: 48 * hourMs }), count: fc.integer({ min: 1, max: 100 }),
  });
  await fc.assert(fc.asyncProperty(cases, async ({ expression, zone, year, pick, shiftMs, count }) => {
    const fromMs = startNearChange(zone, year, pick, shiftMs);
    const spec: ScheduleSpec = {
      type: 'recurrente', startAtMs: 0, cronExpression: expression, intervalMs: null, timezone: zone, lastDateAtMs: null, maxRuns: null,
    };
    const fires = upcomingFires(spec, fromMs, count, { runCount: 0 });
    let previous = fromMs - 1;
    for (const atMs of fires) {
      if (atMs <= previous) throw new Error(`"${expression}" in ${zone}: ${iso(atMs)} does not follow ${iso(previous)}`);
      if (nextFireAtMs(spec, previous) !== atMs) throw new Error(`"${expression}" in ${zone}: a fire was skipped before ${iso(atMs)}`);
      // The leader withdraws a claimed fire whose time this denies (a PATCH moved the schedule): it must hold for
      // every time the schedule gives, or a fire would be lost.
      if (!isScheduledTime(spec, atMs)) throw new Error(`"${expression}" in ${zone}: ${iso(atMs)} is a fire but not a scheduled time`);
      previous = atMs;
    }
  }), fuzzOptions(200));
  t.pass('fires increase');
});

// ---------------------------------------------------------------------------
// Through the API: what /schedule shows is what claiming fire after fire would send

let solo: TestNode;
let jobs: JobQueries;
t.before(async () => {
  solo = await startSingleNode();
  jobs = new JobQueries(solo.node.store);
});
t.teardown(async () => solo.stop());

let serial = 0;

async function call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await solo.node.app.inject({
    method, url, ...(body === undefined ? {} : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

t.test('GET /jobs/{id}/schedule?count=N is the sequence that claiming each fire in turn (fire.ts) produces', async (t) => {
  const cases = fc.record({
    expression: expressions, zone: fc.constantFrom(...zones), year: fc.integer({ min: 2027, max: 2037 }), pick: fc.nat(),
    shiftMs: fc.integer({ min: -12 * hourMs, max: 12 * hourMs }), count: fc.integer({ min: 1, max: 100 }),
    lastDateAfterMs: fc.option(fc.integer({ min: minuteMs, max: 30 * 24 * hourMs }), { nil: null }),
    maxRuns: fc.option(fc.integer({ min: 1, max: 120 }), { nil: null }),
  });
  await fc.assert(fc.asyncProperty(cases, async (c) => {
    const startMs = startNearChange(c.zone, c.year, c.pick, c.shiftMs);
    const id = `dst-${serial++}`;
    const created = await call('POST', '/jobs', {
      id, type: 'recurrente', cron_expression: c.expression, timezone: c.zone, timestamp: iso(startMs),
      ...(c.lastDateAfterMs === null ? {} : { last_date: iso(startMs + c.lastDateAfterMs) }),
      ...(c.maxRuns === null ? {} : { max_runs: c.maxRuns }),
    });
    const lastDateMs = c.lastDateAfterMs === null ? null : startMs + c.lastDateAfterMs;
    const firstMs = nextFireAtMs({
      type: 'recurrente', startAtMs: startMs, cronExpression: c.expression, intervalMs: null, timezone: c.zone,
      lastDateAtMs: null, maxRuns: null,
    }, startMs - 1);
    if (lastDateMs !== null && firstMs !== null && firstMs > lastDateMs) {
      // A job that would never fire is refused (d78b24b), naming last_date.
      if (created.status !== 400 || created.body['code'] !== 'invalid_time' || !/before the first fire/.test(String(created.body['error']))) {
        throw new Error(`first fire ${iso(firstMs)} after last_date ${iso(lastDateMs)}, yet create answered ${created.status}: ${JSON.stringify(created.body)}`);
      }
      return;
    }
    if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    const shown = (await call('GET', `/jobs/${id}/schedule?count=${c.count}`)).body['fires'] as string[];
    let job: Job | null | undefined = jobs.getJob('default', id);
    if (job === undefined) throw new Error(`job ${id} is not in the store`);
    const claimed: number[] = [];
    const nowMs = Date.now();
    while (job !== null && job.nextRunAtMs !== null && claimed.length < c.count) {
      claimed.push(job.nextRunAtMs);
      job = startScheduledFire(job, job.nextRunAtMs, nowMs);
    }
    const context = `"${c.expression}" in ${c.zone} from ${iso(startMs)}`;
    if (shown.join(' ') !== isoList(claimed)) throw new Error(`${context}\nschedule ${shown.join(' ')}\nclaims   ${isoList(claimed)}`);
    if (claimed.some((atMs, i) => atMs < startMs || (i > 0 && atMs <= (claimed[i - 1] ?? 0)))) {
      throw new Error(`${context}: fires do not increase from the start: ${isoList(claimed)}`);
    }
    const limit = Math.min(c.count, c.maxRuns ?? c.count);
    if (claimed.length > limit) throw new Error(`${context}: ${claimed.length} fires, max_runs ${String(c.maxRuns)}`);
    if (lastDateMs !== null && claimed.some((atMs) => atMs > lastDateMs)) throw new Error(`${context}: a fire after last_date`);
  }), fuzzOptions(80));
  t.pass('schedule equals the claim sequence');
});

/** The README's DST examples (its Firing section), through the API. */
t.test('the README DST examples: Madrid fires 02:30 at 03:00, New York fires 01:30 once, hourly jobs twice', async (t) => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['readme-madrid', { cron_expression: '30 2 * * *', timezone: 'Europe/Madrid', timestamp: '2027-03-27T12:00:00Z' },
      ['2027-03-28T01:00:00.000Z', '2027-03-29T00:30:00.000Z']],
    ['readme-new-york', { cron_expression: '30 1 * * *', timezone: 'America/New_York', timestamp: '2027-11-06T12:00:00Z' },
      ['2027-11-07T05:30:00.000Z', '2027-11-08T06:30:00.000Z']],
    ['readme-new-york-hourly', { cron_expression: '30 * * * *', timezone: 'America/New_York', timestamp: '2027-11-07T04:00:00Z' },
      ['2027-11-07T04:30:00.000Z', '2027-11-07T05:30:00.000Z', '2027-11-07T06:30:00.000Z', '2027-11-07T07:30:00.000Z']],
  ];
  for (const [id, fields, fires] of cases) {
    t.equal((await call('POST', '/jobs', { id, type: 'recurrente', ...fields })).status, 201, id);
    t.same((await call('GET', `/jobs/${id}/schedule?count=${fires.length}`)).body, { fires }, id);
  }
});
