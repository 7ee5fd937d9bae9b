// validateCron's refusals, the every-hour classification, and the croner behaviour that schedule.ts corrects.
import { Cron } from 'croner';
import fc from 'fast-check';
import t from 'tap';
import { isEveryHourCron, nextCronWallMs, validateCron } from '../../src/jobs/cron.js';
import { JobInputError } from '../../src/jobs/errors.js';
import { refusal } from './refusal.js';


t.test('5- and 6-field expressions with croner extensions are valid', async (t) => {
  for (const expression of [
    '* * * * *', '0 9 * * 1-5', '*/15 2 * * *', '0 0 1,15 * *', '0 0 L * *', '0 0 * * 5#2', '0 0 * * FRI',
    '0 0 1 JAN *', '0 0 29 2 *', '0 0 31 * *', '30 0 9 * * *', '*/10 * * * * *', '  0   9 * * *  ', '0 0 ? * *',
    '0 0 29 2 +1',
  ]) {
    t.doesNotThrow(() => validateCron(expression, 'UTC'), expression);
  }
});

t.test('syntax, range and field-count errors are invalid_cron on cron_expression', async (t) => {
  for (const expression of [
    '', '* * * *', '0 0 0 * * * *', '61 * * * *', '* 24 * * *', '* * 32 * *', '* * * 13 *', '*/0 * * * *',
    'a b c d e', '@daily', '@hourly', '0 0 * * 8', '5-1 * * * *',
  ]) {
    const r = refusal(() => validateCron(expression, 'UTC'));
    t.equal(r.code, 'invalid_cron', expression);
    t.equal(r.field, 'cron_expression', expression);
  }
  t.match(refusal(() => validateCron('* * * *', 'UTC')).message, /has 4 fields; it needs 5, or 6 with seconds first/);
  t.match(refusal(() => validateCron('61 * * * *', 'UTC')).message, /minute/);
  t.match(refusal(() => validateCron('@daily', 'UTC')).message, /nicknames such as @daily are not accepted/);
});

t.test('an expression that never fires is invalid_cron with a clear message', async (t) => {
  for (const expression of ['0 0 30 2 *', '0 0 31 4,6,9,11 *', '0 0 0 31 2 *', '0 0 30 2 +1', '0 0 31 2 +MON', '0 0 31 4 * ']) {
    const r = refusal(() => validateCron(expression, 'UTC'));
    t.equal(r.code, 'invalid_cron', expression);
    t.match(r.message, /never fires/, expression);
  }
  t.doesNotThrow(() => validateCron('0 0 30 2 1', 'UTC'), 'day OR weekday: every Monday of February');
  t.doesNotThrow(() => validateCron('0 0 31 1-4 *', 'UTC'), 'January and March have a 31st');
});

t.test('an unknown zone is invalid_timezone on timezone', async (t) => {
  const r = refusal(() => validateCron('0 9 * * *', 'Mars/Olympus_Mons'));
  t.equal(r.code, 'invalid_timezone');
  t.equal(r.field, 'timezone');
  t.doesNotThrow(() => validateCron('0 9 * * *', 'Australia/Lord_Howe'));
});

t.test('validateCron throws nothing but JobInputError, whatever the text', async () => {
  fc.assert(fc.property(fc.string({ maxLength: 40 }), (expression) => {
    try {
      validateCron(expression, 'UTC');
    } catch (err) {
      if (!(err instanceof JobInputError)) throw err;
    }
  }), { numRuns: 500 });
  fc.assert(fc.property(
    fc.array(fc.constantFrom('*', '0', '5', '*/3', '1-5', 'L', '2#1', 'MON', '?', '1,2', '31', '59', 'W', '+1'), { minLength: 5, maxLength: 6 }),
    (fields) => {
      try {
        validateCron(fields.join(' '), 'UTC');
      } catch (err) {
        if (!(err instanceof JobInputError)) throw err;
      }
    },
  ), { numRuns: 500 });
});

t.test('the hour field alone decides the every-hour class', async (t) => {
  t.equal(isEveryHourCron('30 * * * *'), true);
  t.equal(isEveryHourCron('0 */2 * * *'), true);
  t.equal(isEveryHourCron('0 1-23/2 * * *'), true);
  t.equal(isEveryHourCron('0 0 ? * *'), false, 'day field ? is not the hour field');
  t.equal(isEveryHourCron('0 30 * * * *'), true, '6 fields: the third is the hour');
  t.equal(isEveryHourCron('* 30 2 * * *'), false);
  t.equal(isEveryHourCron('*/15 2 * * *'), false);
  t.equal(isEveryHourCron('0 2,14 * * *'), false);
  t.equal(isEveryHourCron('0 0-23 * * *'), false, 'a range is specific, even a full one');
});

t.test('nextCronWallMs matches wall times strictly after the given one', async (t) => {
  t.equal(nextCronWallMs('0 * * * *', Date.parse('2026-01-01T00:59:59.999Z')), Date.parse('2026-01-01T01:00:00Z'));
  t.equal(nextCronWallMs('0 * * * *', Date.parse('2026-01-01T01:00:00Z')), Date.parse('2026-01-01T02:00:00Z'));
  t.equal(nextCronWallMs('0 0 29 2 *', Date.parse('9996-03-01T00:00:00Z')), null);
});

t.test('nextCronWallMs searches up to year 9999, not croner\'s default stop at year 3000', async (t) => {
  t.equal(nextCronWallMs('0 0 * * *', Date.parse('2999-12-31T00:00:00Z')), Date.parse('3000-01-01T00:00:00Z'));
  t.equal(nextCronWallMs('*/10 0 12 L 12 *', Date.parse('9999-01-01T00:00:00Z')), Date.parse('9999-12-31T12:00:00Z'));
  t.equal(nextCronWallMs('0 0 * * *', Date.parse('9999-12-31T00:00:00Z')), null, 'none in year 10000');
});

t.test('the year-bounded compile matches croner\'s own on 5- and 6-field expressions before 3000', async () => {
  fc.assert(fc.property(
    fc.array(fc.constantFrom('*', '0', '5', '*/3', '1-5', 'L', '2#1', 'MON', '?', '1,2', '29', '31', '+1', '6W'), { minLength: 5, maxLength: 6 }),
    fc.integer({ min: 0, max: Date.parse('2900-01-01T00:00:00Z') }),
    (fields, fromMs) => {
      const expression = fields.join(' ');
      try {
        validateCron(expression, 'UTC');
      } catch (err) {
        if (!(err instanceof JobInputError)) throw err;
        return;
      }
      const croner = new Cron(expression, { utcOffset: 0, mode: '5-or-6-parts' }).nextRun(new Date(fromMs));
      if (nextCronWallMs(expression, fromMs) !== (croner?.getTime() ?? null)) throw new Error(`${expression} after ${fromMs}`);
    },
  ), { numRuns: 500 });
});

// These record what croner 11 does with a zone by itself, and why schedule.ts does not hand it the zone:
// croner's fixed-time rule looks at the second, minute and hour fields, SPEC §4 at the hour field alone.
t.test('croner alone: a list of hours skips the spring-forward gap (SPEC: fires at 03:00)', async (t) => {
  const cron = new Cron('30 2,14 * * *', { timezone: 'Europe/Madrid' });
  t.equal(cron.nextRun(new Date(Date.parse('2026-03-28T14:00:00Z')))?.toISOString(), '2026-03-29T12:30:00.000Z');
});

t.test('croner alone: a wildcard minute under a fixed hour repeats the fall-back hour (SPEC: once)', async (t) => {
  const cron = new Cron('*/15 2 * * *', { timezone: 'Europe/Madrid' });
  t.equal(cron.nextRun(new Date(Date.parse('2026-10-25T00:45:00Z')))?.toISOString(), '2026-10-25T01:00:00.000Z');
  const spring = new Cron('*/15 2 * * *', { timezone: 'Europe/Madrid' });
  t.equal(spring.nextRun(new Date(Date.parse('2026-03-28T12:00:00Z')))?.toISOString(), '2026-03-30T00:00:00.000Z');
});

t.test('croner alone agrees with SPEC on single-value specific times and on every-hour expressions', async (t) => {
  const next = (expression: string, timezone: string, fromIso: string): string | undefined =>
    new Cron(expression, { timezone }).nextRun(new Date(Date.parse(fromIso)))?.toISOString();
  t.equal(next('30 2 * * *', 'Europe/Madrid', '2026-03-28T12:00:00Z'), '2026-03-29T01:00:00.000Z');
  t.equal(next('30 2 * * *', 'Europe/Madrid', '2026-10-25T00:30:00Z'), '2026-10-26T01:30:00.000Z');
  t.equal(next('30 * * * *', 'Europe/Madrid', '2026-10-25T00:30:00Z'), '2026-10-25T01:30:00.000Z');
  t.equal(next('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z'), '2026-10-03T15:30:00.000Z');
});
