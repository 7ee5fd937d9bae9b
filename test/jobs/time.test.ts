// parseTime and parseDuration: every accepted form to exact epoch ms, and every refusal with its code and field.
import t from 'tap';
import { durationMaxMs, parseDuration, parseTime, timeMaxAtMs } from '../../src/jobs/time.js';
import { refusal } from './refusal.js';

const at = (iso: string): number => Date.parse(iso);


t.test('RFC 3339 with Z, with any offset, lowercase and with a space separator', async (t) => {
  t.equal(parseTime('2026-11-26T10:00:00Z'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2026-11-26T10:00:00z'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2026-11-26t10:00:00Z'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2026-11-26T11:30:00+01:30'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2026-11-26T05:00:00-05:00'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2026-11-26T10:00:00-00:00'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2026-11-26 12:00:00+02:00'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2026-11-27T09:00:00+23:00'), at('2026-11-26T10:00:00.000Z'));
});

t.test('fractions keep their milliseconds and drop finer digits without rounding up', async (t) => {
  t.equal(parseTime('2026-11-26T10:00:00.5Z'), at('2026-11-26T10:00:00.500Z'));
  t.equal(parseTime('2026-11-26T10:00:00.29Z'), at('2026-11-26T10:00:00.290Z'));
  t.equal(parseTime('2026-11-26T10:00:00.123Z'), at('2026-11-26T10:00:00.123Z'));
  t.equal(parseTime('2026-11-26T10:00:00.999999999Z'), at('2026-11-26T10:00:00.999Z'));
  t.equal(parseTime('2026-11-26 10:00:00.250'), at('2026-11-26T10:00:00.250Z'));
});

t.test("'YYYY-MM-DD HH:MM:SS' without an offset is UTC", async (t) => {
  t.equal(parseTime('2026-11-26 10:00:00'), at('2026-11-26T10:00:00.000Z'));
  t.equal(parseTime('2024-02-29 23:59:59'), at('2024-02-29T23:59:59.000Z'));
});

t.test('epoch seconds as a number or a numeric string, fraction allowed', async (t) => {
  t.equal(parseTime(1_798_279_200), 1_798_279_200_000);
  t.equal(parseTime(1_798_279_200.123), 1_798_279_200_123);
  t.equal(parseTime(1_798_279_200.5), 1_798_279_200_500);
  t.equal(parseTime(0), 0);
  t.equal(parseTime('1798279200'), 1_798_279_200_000);
  t.equal(parseTime('1798279200.123'), 1_798_279_200_123);
  t.equal(parseTime('1798279200.1239'), 1_798_279_200_123);
  t.equal(parseTime('253402300799.999'), timeMaxAtMs);
});

t.test('calendar-invalid dates and times are invalid_time', async (t) => {
  for (const text of [
    '2026-02-30T10:00:00Z', '2026-02-29 10:00:00', '2100-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z',
    '2026-00-10T00:00:00Z', '2026-01-00T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T10:60:00Z',
    '2026-01-01T10:00:60Z', '2026-01-01T10:00:00+24:00', '2026-01-01T10:00:00+01:60',
  ]) {
    const r = refusal(() => parseTime(text, 'timestamp'));
    t.equal(r.code, 'invalid_time', text);
    t.equal(r.field, 'timestamp', text);
  }
  t.equal(parseTime('2000-02-29T00:00:00Z'), at('2000-02-29T00:00:00.000Z'), '2000 is a leap year');
});

t.test('other forms are refused with invalid_time, naming the field', async (t) => {
  for (const value of [
    'tomorrow', '', '2026-11-26', '2026-11-26T10:00Z', '2026-11-26T10:00:00', '26-11-2026 10:00:00',
    '2026-11-26T10:00:00+0100', '2026-11-26T10:00:00 Z', ' 2026-11-26T10:00:00Z', '1e9', '-5', '+5', '0x10',
    true, null, {}, [], NaN, Infinity, -1, -0.5,
  ]) {
    const r = refusal(() => parseTime(value, 'last_date'));
    t.equal(r.code, 'invalid_time', JSON.stringify(value));
    t.equal(r.field, 'last_date', JSON.stringify(value));
  }
  t.match(refusal(() => parseTime('2026-11-26T10:00:00')).message, /no offset/);
  t.match(refusal(() => parseTime('0999-01-01T00:00:00Z')).message, /calendar/);
  t.match(refusal(() => parseTime(253_402_300_800)).message, /outside 1970-01-01 to 9999-12-31/);
  t.equal(parseTime(1), 1000, 'one second after the epoch is a time');
});

t.test('parseTime names the timestamp field when no field is given', async (t) => {
  t.equal(refusal(() => parseTime('x')).field, 'timestamp');
});

t.test('durations with units, sums of them, and integers of ms', async (t) => {
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('15m'), 900_000);
  t.equal(parseDuration('2h'), 7_200_000);
  t.equal(parseDuration('1d'), 86_400_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('1m1s1ms'), 61_001);
  t.equal(parseDuration('1d2h3m4s5ms'), 93_784_005);
  t.equal(parseDuration('90m'), 5_400_000, 'a unit may exceed the next one up');
  t.equal(parseDuration(60_000), 60_000);
  t.equal(parseDuration('3650d'), durationMaxMs);
});

t.test('bad durations are invalid_interval, naming the field', async (t) => {
  for (const value of ['', '90', '1.5h', '2 h', '2H', '1w', 'h', '-1s', '0s', '0ms', '1s1s', '30m1h', '1ms1s', '1h1h30m', 'ms', '1s ', 0, -1000, 1.5, NaN, null, true, '3651d']) {
    const r = refusal(() => parseDuration(value, 'interval'));
    t.equal(r.code, 'invalid_interval', JSON.stringify(value));
    t.equal(r.field, 'interval', JSON.stringify(value));
  }
  t.equal(refusal(() => parseDuration(durationMaxMs + 1)).code, 'invalid_interval');
  t.match(refusal(() => parseDuration('0s')).message, /longer than 0 ms/);
});
