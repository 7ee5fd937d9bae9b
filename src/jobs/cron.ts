// Cron expressions: their validation, and the next wall time that matches one, with croner reading walls only.
//
// croner runs here at UTC offset 0 on wall times (zone.ts), where no DST exists, so it only answers "which local
// date-times match"; schedule.ts maps those onto instants by SPEC §4. croner's own zone handling is not used:
// its fixed-time rule judges the second and minute fields too, so `*/15 2 * * *` skips a spring-forward day and
// fires twice on a fall-back day, where SPEC §4 (which looks at the hour field alone) fires at 03:00 and once.
import { Cron, CronPattern } from 'croner';
import { JobInputError } from './errors.js';
import { quote } from './time.js';
import { canonicalTimezone } from './zone.js';

interface CompiledCron {
  /** croner at UTC offset 0: matches wall times. */
  readonly walls: Cron;
  /** The hour field is `*` or a step: the expression fires on every real hour (SPEC §4). */
  readonly isEveryHour: boolean;
}

const mode = '5-or-6-parts';
/**
 * The year field the search runs with. croner stops at year 3000 when the year is `*` (the field a 5- or 6-field
 * expression implies), while times up to 9999-12-31 are accepted (time.ts); an explicit range has croner search
 * to its own limit of 9999, so every accepted start keeps firing. 1 is croner's lowest year.
 */
const searchYears = '1-9999';
/** Distinct expressions kept compiled; beyond it the oldest is dropped, so memory stays bounded. */
const compiledMax = 4096;
const compiled = new Map<string, CompiledCron>();
const dayChecksMax = 4096;
const dayChecks = new Map<string, boolean>();
/** The longest month, by month index (February counted in a leap year). */
const monthDaysMax = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** The expression's fields, split on runs of whitespace. */
export function cronFields(expression: string): string[] {
  return expression.trim().split(/\s+/);
}

/**
 * Throws `invalid_cron` unless the expression has 5 fields (or 6, seconds first), parses, and matches some day;
 * `invalid_timezone` unless Intl knows the zone. croner's extensions (L, W, #, `+` for day AND weekday) are kept.
 */
export function validateCron(expression: string, timezone: string): void {
  if (expression.includes('@')) {
    throw new JobInputError(
      'invalid_cron', 'cron_expression', 'cron_expression nicknames such as @daily are not accepted; write the 5 fields',
    );
  }
  const fields = cronFields(expression);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new JobInputError(
      'invalid_cron', 'cron_expression',
      `cron_expression ${quote(expression)} has ${fields.length} fields; it needs 5, or 6 with seconds first`,
    );
  }
  let pattern: CronPattern;
  try {
    pattern = new CronPattern(expression, undefined, { mode });
  } catch (err) {
    // croner reports syntax and range errors with TypeError, RangeError or Error, each message prefixed so.
    if (!(err instanceof Error) || !err.message.startsWith('CronPattern: ')) throw err;
    const reason = err.message.replace(/^CronPattern: /, '');
    throw new JobInputError('invalid_cron', 'cron_expression', `cron_expression ${quote(expression)}: ${reason}`);
  }
  if (!matchesSomeDay(pattern, fields)) {
    throw new JobInputError(
      'invalid_cron', 'cron_expression',
      `cron_expression ${quote(expression)} never fires: no date matches its day and month fields`,
    );
  }
  if (canonicalTimezone(timezone) === null) {
    throw new JobInputError('invalid_timezone', 'timezone', `timezone ${quote(timezone)} is not an IANA time zone`);
  }
}

/** True when the expression's hour field is `*` or a step, the class SPEC §4 fires on every real hour. */
export function isEveryHourCron(expression: string): boolean {
  return compile(expression).isEveryHour;
}

/** The first wall time strictly after `afterWallMs` that the expression matches, or null (none before year 10000). */
export function nextCronWallMs(expression: string, afterWallMs: number): number | null {
  const next = compile(expression).walls.nextRun(new Date(afterWallMs));
  return next === null ? null : next.getTime();
}

function compile(expression: string): CompiledCron {
  let cron = compiled.get(expression);
  if (cron === undefined) {
    const fields = cronFields(expression);
    const hourField = (fields.length === 6 ? fields[2] : fields[1]) ?? '';
    // The same fields croner would read (seconds 0 when there are 5), with the year given: see searchYears.
    const withYear = [...(fields.length === 5 ? ['0'] : []), ...fields, searchYears].join(' ');
    cron = { walls: new Cron(withYear, { utcOffset: 0, mode: '7-part' }), isEveryHour: /[*/?]/.test(hourField) };
    if (compiled.size >= compiledMax) compiled.delete(compiled.keys().next().value ?? '');
    compiled.set(expression, cron);
  }
  return cron;
}

/**
 * Whether any date matches the day-of-month, month and weekday fields. Every year's calendar is one of 14
 * (its leap-ness and the weekday of 1 January), and all 14 occur in 2000-2027, so a pattern that matches no
 * day there matches none ever. The plain day-and-month case is decided from the parsed fields without a search.
 */
function matchesSomeDay(pattern: CronPattern, fields: readonly string[]): boolean {
  const [dayField = '', monthField = '', weekdayField = ''] = fields.slice(-3);
  const plainDays = !pattern.lastDayOfMonth && !pattern.lastWeekday && !pattern.nearestWeekdays.some(Boolean);
  if (pattern.starDOW && plainDays) {
    return pattern.month.some((m, i) => m === 1 && pattern.day.slice(0, monthDaysMax[i]).some((d) => d === 1));
  }
  const key = `${dayField} ${monthField} ${weekdayField}`;
  let matches = dayChecks.get(key);
  if (matches === undefined) {
    const days = new Cron(`0 0 0 ${key} 2000-2027`, { utcOffset: 0, mode: '6-or-7-parts' });
    matches = days.nextRun(new Date(Date.UTC(1999, 11, 31))) !== null;
    if (dayChecks.size >= dayChecksMax) dayChecks.delete(dayChecks.keys().next().value ?? '');
    dayChecks.set(key, matches);
  }
  return matches;
}
