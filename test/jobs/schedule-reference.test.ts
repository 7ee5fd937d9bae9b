// Cron fires around real DST changes against a brute-force reference that walks every minute of the wall clock.
import { Cron } from 'croner';
import fc from 'fast-check';
import t from 'tap';
import { isEveryHourCron } from '../../src/jobs/cron.js';
import { nextCronFireAtMs } from '../../src/jobs/schedule.js';

const minuteMs = 60_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Independent of zone.ts: the wall time at an instant, read from Intl's parts. */
function referenceWallMs(timezone: string, atMs: number): number {
  let formatter = formatters.get(timezone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(timezone, formatter);
  }
  const parts = formatter.formatToParts(atMs);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'));
}

/**
 * SPEC §4 by brute force, minute by minute over (fromMs, toMs]. Every-hour expressions fire at each instant whose
 * wall time matches. Specific-hour ones fire at an instant when a matching wall time lies between the latest wall
 * time shown before it (exclusive) and its own (inclusive): its first occurrence, or the end of its gap.
 */
function referenceFires(expression: string, timezone: string, fromMs: number, toMs: number): number[] {
  const walls = new Cron(expression, { utcOffset: 0 });
  const matches = (wallMs: number): boolean => walls.match(new Date(wallMs));
  const fires: number[] = [];
  // The scan starts hours early so that the latest wall time shown is known even when fromMs is in a repeated hour.
  const scanFromMs = fromMs - 6 * 3_600_000;
  let latestWallMs = referenceWallMs(timezone, scanFromMs);
  for (let atMs = scanFromMs + minuteMs; atMs <= toMs; atMs += minuteMs) {
    const wallMs = referenceWallMs(timezone, atMs);
    let isFire = false;
    if (isEveryHourCron(expression)) {
      isFire = matches(wallMs);
    } else {
      for (let w = latestWallMs + minuteMs; w <= wallMs && !isFire; w += minuteMs) isFire = matches(w);
    }
    if (isFire && atMs > fromMs) fires.push(atMs);
    latestWallMs = Math.max(latestWallMs, wallMs);
  }
  return fires;
}

function scheduleFires(expression: string, timezone: string, fromMs: number, toMs: number): number[] {
  const fires: number[] = [];
  let atMs = nextCronFireAtMs(expression, timezone, fromMs);
  while (atMs !== null && atMs <= toMs) {
    fires.push(atMs);
    atMs = nextCronFireAtMs(expression, timezone, atMs);
  }
  return fires;
}

/** A day around each 2026 change of zones with whole-hour, half-hour and 45-minute offsets, both directions. */
const changes: readonly [string, string][] = [
  ['Europe/Madrid', '2026-03-29T01:00:00Z'], ['Europe/Madrid', '2026-10-25T01:00:00Z'],
  ['America/New_York', '2026-03-08T07:00:00Z'], ['America/New_York', '2026-11-01T06:00:00Z'],
  ['Australia/Lord_Howe', '2026-04-04T15:00:00Z'], ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'],
  ['America/St_Johns', '2026-03-08T05:30:00Z'], ['America/St_Johns', '2026-11-01T04:30:00Z'],
  ['Pacific/Chatham', '2026-04-04T14:00:00Z'], ['Pacific/Chatham', '2026-09-26T14:00:00Z'],
];

t.test('cron fires match the brute-force reference across DST changes', async () => {
  const minutes = fc.constantFrom('0', '15', '30', '45', '*/15', '*/20', '0,30', '10-20/5', '*');
  const hours = fc.constantFrom('*', '*/2', '0-23/3', '1', '2', '3', '1-3', '2,14', '0,1,2,3');
  const startMinutes = fc.integer({ min: -180, max: 180 });
  fc.assert(fc.property(fc.constantFrom(...changes), minutes, hours, startMinutes, ([timezone, changeIso], minute, hour, start) => {
    const expression = `${minute} ${hour} * * *`;
    // Start anywhere within three hours of the change, inside a repeated or skipped hour included.
    const fromMs = Date.parse(changeIso) + start * minuteMs;
    const toMs = fromMs + 12 * 3_600_000;
    const expected = referenceFires(expression, timezone, fromMs, toMs);
    const actual = scheduleFires(expression, timezone, fromMs, toMs);
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      const iso = (list: number[]): string => list.map((ms) => new Date(ms).toISOString()).join(' ');
      throw new Error(`${expression} in ${timezone}\nexpected ${iso(expected)}\nactual   ${iso(actual)}`);
    }
  }), { numRuns: 200 });
});
