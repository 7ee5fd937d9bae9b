// Reads the time and duration forms a client may send (SPEC §2) into epoch milliseconds.
import { JobInputError } from './errors.js';

/** The earliest instant a job may name: times before 1970 are almost always a unit mistake. */
export const timeMinAtMs = 0;
/** 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write. */
export const timeMaxAtMs = 253_402_300_799_999;
/** The longest duration accepted: ten years, far beyond any sensible interval, and safe to add to any time. */
export const durationMaxMs = 3650 * 86_400_000;

const rfc3339 =
  /^(\d{4})-(\d{2})-(\d{2})([Tt ])(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$/;
const epochSecondsText = /^\d{1,15}(\.\d{1,9})?$/;
/**
 * Units from the largest down, each at most once (`1h30m`, not `30m1h` or `1s1s`): a sum written another way is
 * more likely a typo than meant.
 */
const durationText = /^(?=\d)(?:\d{1,15}d)?(?:\d{1,15}h)?(?:\d{1,15}m(?!s))?(?:\d{1,15}s)?(?:\d{1,15}ms)?$/;
const durationPart = /(\d{1,15})(ms|s|m|h|d)/g;
const unitMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const timeForms = "RFC 3339 ('2026-11-26T10:00:00Z'), epoch seconds, or 'YYYY-MM-DD HH:MM:SS' (UTC)";

/**
 * Epoch ms of a request time: RFC 3339 with any offset, epoch seconds (number or numeric string, fraction
 * allowed), or `YYYY-MM-DD HH:MM:SS` read as UTC. Written digits past the millisecond are dropped, so a time
 * never moves later than written; a JSON number is rounded to the nearest ms, since its binary value is inexact.
 */
export function parseTime(value: unknown, field = 'timestamp'): number {
  if (typeof value === 'number') return fromEpochSeconds(value, field, String(value));
  if (typeof value !== 'string') {
    throw new JobInputError('invalid_time', field, `${field} must be ${timeForms}`);
  }
  if (epochSecondsText.test(value)) {
    const [whole = '', fraction] = value.split('.');
    return checkRange(Number(whole) * 1000 + fractionMs(fraction), field, value);
  }
  const m = rfc3339.exec(value);
  if (m === null) throw new JobInputError('invalid_time', field, `${field} must be ${timeForms}; got ${quote(value)}`);
  const [, y, mo, d, sep, h, mi, s, fraction, offset] = m;
  if (offset === undefined && sep !== ' ') {
    // A 'T' time without an offset is a local time of no known zone; guessing UTC would hide the mistake.
    throw new JobInputError('invalid_time', field, `${field} ${quote(value)} has no offset: add 'Z' or '+HH:MM'`);
  }
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new JobInputError('invalid_time', field, `${field} ${quote(value)} is not a calendar date`);
  }
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new JobInputError('invalid_time', field, `${field} ${quote(value)} is not a time of day`);
  }
  const wallMs = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(s)) + fractionMs(fraction?.slice(1));
  const atMs = wallMs - offsetMs(offset, field, value);
  return checkRange(atMs, field, value);
}

/** Milliseconds of a duration: `250ms`, `90s`, `15m`, `2h`, `1d`, a sum of them (`1h30m`, largest unit first), or an integer of ms. */
export function parseDuration(value: unknown, field = 'interval'): number {
  let durationMs: number;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new JobInputError('invalid_interval', field, `${field} must be a whole number of milliseconds; got ${value}`);
    }
    durationMs = value;
  } else if (typeof value === 'string' && durationText.test(value)) {
    durationMs = 0;
    for (const [, amount, unit] of value.matchAll(durationPart)) durationMs += Number(amount) * (unitMs[unit ?? ''] ?? 0);
  } else {
    const got = typeof value === 'string' ? `; got ${quote(value)}` : '';
    throw new JobInputError(
      'invalid_interval', field, `${field} must be a duration such as '250ms', '90s', '15m', '2h', '1d' or a number of ms${got}`,
    );
  }
  if (durationMs <= 0) throw new JobInputError('invalid_interval', field, `${field} must be longer than 0 ms`);
  if (durationMs > durationMaxMs) throw new JobInputError('invalid_interval', field, `${field} must be at most 3650d`);
  return durationMs;
}

/** The milliseconds of a decimal fraction's digits, read as text so that no float rounding creeps in. */
function fractionMs(digits: string | undefined): number {
  return digits === undefined ? 0 : Number(digits.slice(0, 3).padEnd(3, '0'));
}

function fromEpochSeconds(seconds: number, field: string, written: string): number {
  if (!Number.isFinite(seconds)) throw new JobInputError('invalid_time', field, `${field} must be ${timeForms}`);
  return checkRange(Math.round(seconds * 1000), field, written);
}

function offsetMs(offset: string | undefined, field: string, written: string): number {
  if (offset === undefined || offset === 'Z' || offset === 'z') return 0;
  const hours = Number(offset.slice(1, 3));
  const minutes = Number(offset.slice(4, 6));
  if (hours > 23 || minutes > 59) {
    throw new JobInputError('invalid_time', field, `${field} ${quote(written)} has an impossible offset`);
  }
  return (offset.startsWith('-') ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

function checkRange(atMs: number, field: string, written: string): number {
  if (atMs < timeMinAtMs || atMs > timeMaxAtMs) {
    throw new JobInputError('invalid_time', field, `${field} ${quote(written)} is outside 1970-01-01 to 9999-12-31`);
  }
  return atMs;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The client's text, shortened so an error message stays one readable line. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 61)}...` : text);
}
