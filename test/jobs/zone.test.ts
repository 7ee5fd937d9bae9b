// Offsets, transitions and wall-time mapping of zone.ts, on real DST changes with exact instants.
import t from 'tap';
import {
  canonicalTimezone, firstInstantAtOrAfterWall, maxWallUpToMs, offsetAtMs, transitionAtMs, wallAtMs,
} from '../../src/jobs/zone.js';

const at = (iso: string): number => Date.parse(iso);
const hourMs = 3_600_000;

t.test('offsets of Madrid, New York and Lord Howe on either side of their changes', async (t) => {
  t.equal(offsetAtMs('Europe/Madrid', at('2026-03-29T00:59:59.999Z')), hourMs);
  t.equal(offsetAtMs('Europe/Madrid', at('2026-03-29T01:00:00.000Z')), 2 * hourMs);
  t.equal(offsetAtMs('Europe/Madrid', at('2026-10-25T00:59:59.999Z')), 2 * hourMs);
  t.equal(offsetAtMs('Europe/Madrid', at('2026-10-25T01:00:00.000Z')), hourMs);
  t.equal(offsetAtMs('America/New_York', at('2026-03-08T07:00:00Z')), -4 * hourMs);
  t.equal(offsetAtMs('America/New_York', at('2026-03-08T06:59:59Z')), -5 * hourMs);
  t.equal(offsetAtMs('Australia/Lord_Howe', at('2026-10-03T15:29:59Z')), 10.5 * hourMs);
  t.equal(offsetAtMs('Australia/Lord_Howe', at('2026-10-03T15:30:00Z')), 11 * hourMs);
  t.equal(offsetAtMs('UTC', at('2026-10-03T15:30:00Z')), 0);
  t.equal(offsetAtMs('Asia/Kolkata', at('2026-10-03T15:30:00Z')), 5.5 * hourMs);
});

t.test('the wall time carries the instant\'s milliseconds', async (t) => {
  t.equal(wallAtMs('Europe/Madrid', at('2026-07-01T10:00:00.250Z')), at('2026-07-01T12:00:00.250Z'));
});

t.test('transitionAtMs finds the first instant of the new offset', async (t) => {
  t.equal(transitionAtMs('Europe/Madrid', at('2026-03-28T00:00:00Z'), at('2026-03-30T00:00:00Z')), at('2026-03-29T01:00:00Z'));
  t.equal(transitionAtMs('Europe/Madrid', at('2026-10-24T00:00:00.500Z'), at('2026-10-25T06:00:00Z')), at('2026-10-25T01:00:00Z'));
  t.equal(
    transitionAtMs('Australia/Lord_Howe', at('2026-04-04T00:00:00Z'), at('2026-04-05T00:00:00Z')), at('2026-04-04T15:00:00Z'),
  );
});

t.test('a wall time maps to its instant, its first occurrence, or the end of its gap', async (t) => {
  const madrid = (wall: string): string => new Date(firstInstantAtOrAfterWall('Europe/Madrid', at(wall))).toISOString();
  t.equal(madrid('2026-07-01T12:00:00Z'), '2026-07-01T10:00:00.000Z', 'summer');
  t.equal(madrid('2026-03-29T01:59:59Z'), '2026-03-29T00:59:59.000Z', 'just before the gap');
  t.equal(madrid('2026-03-29T02:00:00Z'), '2026-03-29T01:00:00.000Z', 'gap start');
  t.equal(madrid('2026-03-29T02:30:00Z'), '2026-03-29T01:00:00.000Z', 'in the gap');
  t.equal(madrid('2026-03-29T03:00:00Z'), '2026-03-29T01:00:00.000Z', 'gap end');
  t.equal(madrid('2026-10-25T02:30:00Z'), '2026-10-25T00:30:00.000Z', 'repeated: first occurrence');
  t.equal(madrid('2026-10-25T03:00:00Z'), '2026-10-25T02:00:00.000Z', 'after the repeat');
  const lordHowe = (wall: string): string => new Date(firstInstantAtOrAfterWall('Australia/Lord_Howe', at(wall))).toISOString();
  t.equal(lordHowe('2026-10-04T02:15:00Z'), '2026-10-03T15:30:00.000Z', 'half-hour gap');
  t.equal(lordHowe('2026-04-05T01:45:00Z'), '2026-04-04T14:45:00.000Z', 'half-hour repeat');
});

t.test('the latest wall time shown includes the hour before a fall-back', async (t) => {
  t.equal(maxWallUpToMs('Europe/Madrid', at('2026-10-25T01:15:00Z')), at('2026-10-25T02:59:59.999Z'));
  t.equal(maxWallUpToMs('Europe/Madrid', at('2026-10-25T02:30:00Z')), at('2026-10-25T03:30:00Z'));
  t.equal(maxWallUpToMs('Europe/Madrid', at('2026-10-25T00:30:00Z')), at('2026-10-25T02:30:00Z'));
  t.equal(maxWallUpToMs('Europe/Madrid', at('2026-03-29T01:00:00Z')), at('2026-03-29T03:00:00Z'));
});

t.test('canonicalTimezone accepts IANA names in any case and refuses unknown ones', async (t) => {
  t.equal(canonicalTimezone('Europe/Madrid'), 'Europe/Madrid');
  t.equal(canonicalTimezone('europe/madrid'), 'Europe/Madrid');
  t.equal(canonicalTimezone('utc'), 'UTC');
  t.equal(canonicalTimezone('Mars/Olympus_Mons'), null);
  t.equal(canonicalTimezone('Local'), null);
  t.equal(canonicalTimezone(''), null);
});
