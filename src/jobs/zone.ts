// Maps between instants and a time zone's wall clock, through Intl's tz data, including across DST changes.
//
// A "wall time" is a local date and time written as if it were UTC epoch ms (02:30 local on 2026-03-29 is
// Date.UTC(2026, 2, 29, 2, 30)), so walls and instants can be compared and subtracted as plain numbers.
//
// The searches below look `lookaroundMs` either side of a time and assume at most one offset change inside
// that window. Every zone in the tz database keeps its changes months apart, and the window is wider than
// any offset (and than Samoa's 24-hour jump of 2011), so the assumption holds for all real transitions.

/** Wider than the largest UTC offset either way and than any single offset change. */
export const lookaroundMs = 30 * 3_600_000;

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Zone names with a formatter kept; beyond it the oldest is dropped, so odd spellings cannot grow memory. */
const formattersMax = 1024;

/**
 * The name a job stores for a zone Intl knows (its case fixed: `europe/madrid` → `Europe/Madrid`), or null for
 * an unknown name. A name is never swapped for another one: Node 20's ICU resolves current IANA names to their
 * old links (`Asia/Kolkata` → `Asia/Calcutta`, `Asia/Kathmandu` → `Asia/Katmandu`, `Europe/Kyiv` →
 * `Europe/Kiev`), and a client must read back the zone it wrote (SPEC §2).
 */
export function canonicalTimezone(name: string): string | null {
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch (err) {
    // Intl signals an unknown zone with a RangeError; anything else is not ours to swallow.
    if (err instanceof RangeError) return null;
    throw err;
  }
  return resolved.toLowerCase() === name.toLowerCase() ? resolved : name;
}

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= formattersMax) formatters.delete(formatters.keys().next().value ?? '');
    formatters.set(timezone, formatter);
  }
  return formatter;
}

/** The zone's UTC offset in ms at an instant (positive east of Greenwich); constant within each whole second. */
export function offsetAtMs(timezone: string, atMs: number): number {
  if (timezone === 'UTC') return 0;
  const secondAtMs = Math.floor(atMs / 1000) * 1000;
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timezone).formatToParts(secondAtMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = fields;
  // Some ICU versions write midnight as hour 24 (of the day that starts then), even with hourCycle h23.
  const wallMs = Date.UTC(year, month - 1, day, hour === 24 ? 0 : hour, minute, second);
  return wallMs - secondAtMs;
}

/** The wall time the zone's clocks show at an instant. */
export function wallAtMs(timezone: string, atMs: number): number {
  return atMs + offsetAtMs(timezone, atMs);
}

/**
 * The first instant in (loMs, hiMs] whose offset differs from the offset at loMs, for a window holding exactly
 * one change (the caller saw different offsets at its ends). Offsets change on whole seconds, so the search is
 * over seconds: about 17 steps for the widest window.
 */
export function transitionAtMs(timezone: string, loMs: number, hiMs: number): number {
  const before = offsetAtMs(timezone, loMs);
  let lo = Math.floor(loMs / 1000);
  let hi = Math.floor(hiMs / 1000);
  // Invariant: second `lo` has the old offset, second `hi` the new one.
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offsetAtMs(timezone, mid * 1000) === before) lo = mid;
    else hi = mid;
  }
  return hi * 1000;
}

/**
 * The first instant whose wall time is at or after `wallMs`: the instant of that wall time when it exists once,
 * its first occurrence when a fall-back repeats it, and the end of the gap when a spring-forward skips it.
 * This is exactly when SPEC §4 fires a specific local time, and it never decreases as `wallMs` grows.
 */
export function firstInstantAtOrAfterWall(timezone: string, wallMs: number): number {
  const before = offsetAtMs(timezone, wallMs - lookaroundMs);
  const after = offsetAtMs(timezone, wallMs + lookaroundMs);
  if (before === after) return wallMs - before;
  const changeAtMs = transitionAtMs(timezone, wallMs - lookaroundMs, wallMs + lookaroundMs);
  // Wall times before the change run at offset `before`, those after it at `after`.
  if (wallMs - before < changeAtMs) return wallMs - before;
  if (wallMs - after >= changeAtMs) return wallMs - after;
  return changeAtMs;
}

/**
 * The latest wall time shown at or before an instant. It is the wall time at `atMs` itself, except within a
 * fall-back's repeated span, where the clocks already showed later times before they were set back.
 */
export function maxWallUpToMs(timezone: string, atMs: number): number {
  const now = offsetAtMs(timezone, atMs);
  const earlier = offsetAtMs(timezone, atMs - lookaroundMs);
  if (earlier <= now) return atMs + now;
  const changeAtMs = transitionAtMs(timezone, atMs - lookaroundMs, atMs);
  return Math.max(atMs + now, changeAtMs - 1 + earlier);
}
