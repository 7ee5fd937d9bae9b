// Fire times: unico, interval, cron with 5 and 6 fields, last_date, max_runs, and SPEC §4's DST rules to the ms.
import t from 'tap';
import { nextCronFireAtMs, nextFireAtMs, type ScheduleSpec, upcomingFires } from '../../src/jobs/schedule.js';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

function recurrente(fields: Partial<ScheduleSpec>): ScheduleSpec {
  return {
    type: 'recurrente', startAtMs: at('2026-01-01T00:00:00Z'), cronExpression: null, intervalMs: null,
    timezone: 'UTC', lastDateAtMs: null, maxRuns: null, ...fields,
  };
}

/** The first `count` fires strictly after `fromIso`, as ISO strings. */
function fires(expression: string, timezone: string, fromIso: string, count: number): string[] {
  const out: string[] = [];
  let afterMs = at(fromIso);
  for (let i = 0; i < count; i++) {
    const next = nextCronFireAtMs(expression, timezone, afterMs);
    if (next === null) break;
    out.push(iso(next));
    afterMs = next;
  }
  return out;
}

t.test('a unico fires at its timestamp, and only after a time before it', async (t) => {
  const spec: ScheduleSpec = { ...recurrente({}), type: 'unico', startAtMs: at('2026-11-26T10:00:00Z') };
  t.equal(nextFireAtMs(spec, spec.startAtMs - 1), spec.startAtMs);
  t.equal(nextFireAtMs(spec, 0), spec.startAtMs);
  t.equal(nextFireAtMs(spec, spec.startAtMs), null);
  t.strictSame(upcomingFires(spec, spec.startAtMs, 10, { runCount: 0 }), [spec.startAtMs]);
  t.strictSame(upcomingFires(spec, 0, 10, { runCount: 0 }), [spec.startAtMs]);
  t.strictSame(upcomingFires(spec, spec.startAtMs, 10, { runCount: 1 }), [], 'a unico that fired has nothing left');
});

t.test('an interval fires at timestamp + k × interval, k from 0', async (t) => {
  const spec = recurrente({ startAtMs: at('2026-01-01T00:00:00Z'), intervalMs: 90_000 });
  t.equal(nextFireAtMs(spec, spec.startAtMs - 1), at('2026-01-01T00:00:00Z'), 'the start itself');
  t.equal(nextFireAtMs(spec, spec.startAtMs), at('2026-01-01T00:01:30Z'));
  t.equal(nextFireAtMs(spec, at('2026-01-01T00:01:29.999Z')), at('2026-01-01T00:01:30Z'));
  t.equal(nextFireAtMs(spec, at('2026-01-01T00:01:30Z')), at('2026-01-01T00:03:00Z'));
  t.equal(nextFireAtMs(spec, at('2025-06-01T00:00:00Z')), spec.startAtMs, 'nothing before the start');
  t.equal(nextFireAtMs(spec, at('2026-01-01T10:00:00.001Z')), at('2026-01-01T10:01:30Z'), 'phase kept far on');
  t.strictSame(upcomingFires(spec, at('2026-01-01T00:01:00Z'), 3, { runCount: 0 }).map(iso), [
    '2026-01-01T00:01:30.000Z', '2026-01-01T00:03:00.000Z', '2026-01-01T00:04:30.000Z',
  ]);
});

t.test('an interval ignores time zones and DST: it is a fixed number of ms', async (t) => {
  const spec = recurrente({ startAtMs: at('2026-03-28T01:00:00Z'), intervalMs: 86_400_000, timezone: 'Europe/Madrid' });
  t.equal(nextFireAtMs(spec, at('2026-03-28T01:00:00Z')), at('2026-03-29T01:00:00Z'));
});

t.test('a 5-field cron fires on the minute; a 6-field one on its second', async (t) => {
  t.strictSame(fires('*/15 * * * *', 'UTC', '2026-01-01T00:07:00Z', 3), [
    '2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z', '2026-01-01T00:45:00.000Z',
  ]);
  t.strictSame(fires('10,40 * * * * *', 'UTC', '2026-01-01T00:00:10Z', 3), [
    '2026-01-01T00:00:40.000Z', '2026-01-01T00:01:10.000Z', '2026-01-01T00:01:40.000Z',
  ]);
  t.strictSame(fires('0 9 * * 1-5', 'UTC', '2026-01-02T09:00:00Z', 2), ['2026-01-05T09:00:00.000Z', '2026-01-06T09:00:00.000Z']);
  t.strictSame(fires('0 10 * * *', 'America/New_York', '2026-07-01T00:00:00Z', 1), ['2026-07-01T14:00:00.000Z']);
  t.strictSame(fires('0 0 29 2 *', 'UTC', '2026-01-01T00:00:00Z', 2), ['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']);
});

t.test('a cron fires strictly after afterMs, and a fire exactly at the start counts', async (t) => {
  const spec = recurrente({ startAtMs: at('2026-01-01T10:00:00Z'), cronExpression: '0 * * * *' });
  t.equal(nextFireAtMs(spec, spec.startAtMs - 1), at('2026-01-01T10:00:00Z'));
  t.equal(nextFireAtMs(spec, spec.startAtMs), at('2026-01-01T11:00:00Z'));
  t.equal(nextFireAtMs(spec, at('2026-01-01T10:59:59.999Z')), at('2026-01-01T11:00:00Z'));
  t.equal(nextFireAtMs(spec, 0), at('2026-01-01T10:00:00Z'), 'nothing before the start');
  const late = recurrente({ startAtMs: at('2026-01-01T10:00:00.001Z'), cronExpression: '0 * * * *' });
  t.equal(nextFireAtMs(late, late.startAtMs - 1), at('2026-01-01T11:00:00Z'));
});

t.test('last_date: a fire exactly at it happens, none after it', async (t) => {
  const spec = recurrente({ cronExpression: '0 * * * *', lastDateAtMs: at('2026-01-01T03:00:00Z') });
  t.equal(nextFireAtMs(spec, at('2026-01-01T02:00:00Z')), at('2026-01-01T03:00:00Z'));
  t.equal(nextFireAtMs(spec, at('2026-01-01T03:00:00Z')), null);
  t.strictSame(upcomingFires(spec, spec.startAtMs, 10, { runCount: 0 }).map(iso), [
    '2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z', '2026-01-01T03:00:00.000Z',
  ]);
  const every = recurrente({ intervalMs: 3_600_000, lastDateAtMs: at('2026-01-01T01:59:59Z') });
  t.strictSame(upcomingFires(every, every.startAtMs, 10, { runCount: 0 }).map(iso), [
    '2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z',
  ]);
});

t.test('max_runs caps the listed fires by the runs already made', async (t) => {
  const spec = recurrente({ intervalMs: 60_000, maxRuns: 3 });
  t.equal(upcomingFires(spec, spec.startAtMs, 10, { runCount: 0 }).length, 3);
  t.strictSame(upcomingFires(spec, spec.startAtMs + 60_000, 10, { runCount: 1 }).map(iso), [
    '2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z',
  ]);
  t.strictSame(upcomingFires(spec, spec.startAtMs, 10, { runCount: 3 }), []);
  t.strictSame(upcomingFires(spec, spec.startAtMs, 10, { runCount: 7 }), []);
  t.strictSame(upcomingFires(spec, spec.startAtMs, 0, { runCount: 0 }), []);
  t.throws(() => upcomingFires(spec, spec.startAtMs, 1001, { runCount: 0 }), { name: 'AssertionError' });
});

t.test('Europe/Madrid spring-forward: 02:30 fires at 03:00 local (01:00Z)', async (t) => {
  t.strictSame(fires('30 2 * * *', 'Europe/Madrid', '2026-03-28T12:00:00Z', 3), [
    '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z',
  ]);
  t.strictSame(fires('0 30 2 * * *', 'Europe/Madrid', '2026-03-28T12:00:00Z', 2), [
    '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z',
  ], 'the same with 6 fields');
  t.strictSame(fires('0 2 * * *', 'Europe/Madrid', '2026-03-28T12:00:00Z', 1), ['2026-03-29T01:00:00.000Z']);
});

t.test('Europe/Madrid fall-back: a repeated 02:30 fires once, at its first occurrence', async (t) => {
  t.strictSame(fires('30 2 * * *', 'Europe/Madrid', '2026-10-24T12:00:00Z', 3), [
    '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z',
  ]);
  t.strictSame(fires('15 30 2 * * *', 'Europe/Madrid', '2026-10-24T12:00:00Z', 2), [
    '2026-10-25T00:30:15.000Z', '2026-10-26T01:30:15.000Z',
  ], 'the same with 6 fields');
  t.strictSame(fires('30 2 * * *', 'Europe/Madrid', '2026-10-25T01:15:00Z', 1), ['2026-10-26T01:30:00.000Z'],
    'from inside the repeated hour, the second 02:30 does not fire either');
});

t.test('an hour field of * or a step fires on every real hour, both repeated ones included', async (t) => {
  t.strictSame(fires('30 * * * *', 'Europe/Madrid', '2026-03-29T00:00:00Z', 3), [
    '2026-03-29T00:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-29T02:30:00.000Z',
  ], 'spring: the skipped 02:30 fires nothing; 01:30 CET then 03:30 CEST');
  t.strictSame(fires('30 * * * *', 'Europe/Madrid', '2026-10-24T23:00:00Z', 4), [
    '2026-10-24T23:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T02:30:00.000Z',
  ], 'fall: 02:30 CEST and 02:30 CET both fire');
  t.strictSame(fires('0 */2 * * *', 'Europe/Madrid', '2026-10-24T21:00:00Z', 4), [
    '2026-10-24T22:00:00.000Z', '2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T03:00:00.000Z',
  ], 'a step: 02:00 fires twice');
  t.strictSame(fires('0 30 * * * *', 'Europe/Madrid', '2026-10-25T00:30:00Z', 1), ['2026-10-25T01:30:00.000Z'],
    '6 fields, from the first 02:30 the next fire is the second 02:30');
  t.strictSame(fires('0 0-23/2 * * *', 'Europe/Madrid', '2026-03-28T22:00:00Z', 2), [
    '2026-03-28T23:00:00.000Z', '2026-03-29T02:00:00.000Z',
  ], 'a range with a step is a step: the skipped 02:00 fires nothing, 04:00 CEST is next');
});

t.test('America/New_York: spring 02:30 fires at 03:00 EDT; fall 01:30 fires once; hourly fires both 01:30s', async (t) => {
  t.strictSame(fires('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 2), [
    '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z',
  ]);
  t.strictSame(fires('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2), [
    '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z',
  ]);
  t.strictSame(fires('30 * * * *', 'America/New_York', '2026-11-01T04:00:00Z', 4), [
    '2026-11-01T04:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z', '2026-11-01T07:30:00.000Z',
  ]);
  t.strictSame(fires('0 0 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 1), ['2026-03-08T07:00:00.000Z'], '6 fields');
});

t.test('Australia/Lord_Howe: half-hour shifts follow the same rules', async (t) => {
  t.strictSame(fires('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', 2), [
    '2026-10-03T15:30:00.000Z', '2026-10-04T15:15:00.000Z',
  ], 'spring: 02:15 is skipped (02:00 → 02:30) and fires at 02:30 local');
  t.strictSame(fires('45 1 * * *', 'Australia/Lord_Howe', '2026-04-04T00:00:00Z', 2), [
    '2026-04-04T14:45:00.000Z', '2026-04-05T15:15:00.000Z',
  ], 'fall: 01:45 repeats (02:00 → 01:30) and fires once');
  t.strictSame(fires('*/20 * * * *', 'Australia/Lord_Howe', '2026-04-04T14:00:00Z', 5), [
    '2026-04-04T14:20:00.000Z', '2026-04-04T14:40:00.000Z', '2026-04-04T15:10:00.000Z', '2026-04-04T15:30:00.000Z',
    '2026-04-04T15:50:00.000Z',
  ], 'every-hour, fall: 01:40 fires twice');
  t.strictSame(fires('*/20 * * * *', 'Australia/Lord_Howe', '2026-10-03T15:00:00Z', 3), [
    '2026-10-03T15:10:00.000Z', '2026-10-03T15:40:00.000Z', '2026-10-03T16:00:00.000Z',
  ], 'every-hour, spring: 02:00 and 02:20 fire nothing');
  t.strictSame(fires('0 15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', 1), ['2026-10-03T15:30:00.000Z'], '6 fields');
});

t.test('a specific hour with a wildcard minute follows the specific-time rules (croner alone would not)', async (t) => {
  t.strictSame(fires('*/15 2 * * *', 'Europe/Madrid', '2026-03-28T12:00:00Z', 3), [
    '2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z', '2026-03-30T00:15:00.000Z',
  ], 'spring: the four skipped times fire once, at 03:00 local');
  t.strictSame(fires('*/15 2 * * *', 'Europe/Madrid', '2026-10-24T12:00:00Z', 5), [
    '2026-10-25T00:00:00.000Z', '2026-10-25T00:15:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T00:45:00.000Z',
    '2026-10-26T01:00:00.000Z',
  ], 'fall: only the first occurrences');
  t.strictSame(fires('30 2,14 * * *', 'Europe/Madrid', '2026-03-28T12:00:00Z', 3), [
    '2026-03-28T13:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T12:30:00.000Z',
  ], 'an hour list is specific too');
  t.strictSame(fires('0 2,3 * * *', 'Europe/Madrid', '2026-03-28T12:00:00Z', 2), [
    '2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z',
  ], '02:00 (skipped) and 03:00 land on the same instant and fire once');
});

t.test('an every-hour expression whose next match is days away crosses an offset change on the way', async (t) => {
  t.strictSame(fires('0 */12 1 * *', 'Europe/Madrid', '2026-03-28T12:00:00Z', 2), [
    '2026-03-31T22:00:00.000Z', '2026-04-01T10:00:00.000Z',
  ], 'the change on 29 March lies between: 1 April 00:00 is CEST');
  t.strictSame(fires('30 2-23/12 29 3 *', 'Europe/Madrid', '2026-03-01T00:00:00Z', 2), [
    '2026-03-29T12:30:00.000Z', '2027-03-29T00:30:00.000Z',
  ], 'a far match inside the spring gap is skipped, and the search goes on after it');
  t.strictSame(fires('0 0 * * * *', 'Europe/Madrid', '2026-10-25T00:30:00Z', 2), [
    '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z',
  ], '6 fields, hour *: 02:00 CET fires after 02:00 CEST');
});

t.test('a fixed-offset zone and a zone without DST have no surprises', async (t) => {
  t.strictSame(fires('0 9 * * *', 'Asia/Kolkata', '2026-03-28T00:00:00Z', 1), ['2026-03-28T03:30:00.000Z']);
  t.strictSame(fires('0 9 * * *', 'Etc/GMT+5', '2026-03-28T00:00:00Z', 1), ['2026-03-28T14:00:00.000Z']);
});

t.test('Samoa skipped 30 December 2011 whole: its noon fires at the first instant after the gap', async (t) => {
  t.strictSame(fires('0 12 * * *', 'Pacific/Apia', '2011-12-28T00:00:00Z', 4), [
    '2011-12-28T22:00:00.000Z', '2011-12-29T22:00:00.000Z', '2011-12-30T10:00:00.000Z', '2011-12-30T22:00:00.000Z',
  ]);
});

t.test('a cron fires through and after year 3000, up to the last day a time may name (9999-12-31)', async (t) => {
  t.strictSame(fires('0 0 * * *', 'UTC', '2999-12-29T00:00:00Z', 4),
    ['2999-12-30T00:00:00.000Z', '2999-12-31T00:00:00.000Z', '3000-01-01T00:00:00.000Z', '3000-01-02T00:00:00.000Z']);
  const from3000 = recurrente({ cronExpression: '0 0 * * *', startAtMs: at('3000-01-01T00:00:00Z') });
  t.equal(nextFireAtMs(from3000, from3000.startAtMs - 1), at('3000-01-01T00:00:00Z'), 'a start in 3000 fires at once');
  t.strictSame(fires('0 12 * * *', 'Europe/Madrid', '5000-07-01T00:00:00Z', 1), ['5000-07-01T10:00:00.000Z']);
  t.strictSame(fires('30 * * * *', 'America/New_York', '7000-01-01T00:00:00Z', 1), ['7000-01-01T00:30:00.000Z']);
  t.strictSame(fires('0 0 29 2 *', 'UTC', '8999-03-01T00:00:00Z', 1), ['9004-02-29T00:00:00.000Z'], 'Gregorian leap years: 9000 is not one');
  t.strictSame(fires('0 0 * * *', 'UTC', '9999-12-29T12:00:00Z', 3), ['9999-12-30T00:00:00.000Z', '9999-12-31T00:00:00.000Z']);
});

t.test('a cron whose next match is past year 9999 fires no more', async (t) => {
  t.equal(nextCronFireAtMs('0 0 29 2 *', 'UTC', at('9996-03-01T00:00:00Z')), null);
  t.equal(nextFireAtMs(recurrente({ cronExpression: '0 0 1 1 *' }), at('9999-06-01T00:00:00Z')), null);
});
