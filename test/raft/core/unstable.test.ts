// Unstable: entries and a snapshot not yet durable, their indexes and terms, and how they are made stable or replaced.
import t from 'tap';
import { Unstable } from '../../../src/raft/core/unstable.js';
import type { Entry, SnapshotMeta } from '../../../src/raft/core/types.js';

const ent = (index: number, term: number): Entry => ({ type: 'normal', index, term, data: new Uint8Array(0) });
const snap = (index: number, term: number): SnapshotMeta => ({ index, term, membership: { voters: ['a'], learners: [] } });
const indexes = (u: Unstable): string => u.entries.map((e) => `${e.index}/${e.term}`).join(' ');

/** Entries offset..offset+terms.length-1 with the given terms. */
function withEntries(offset: number, ...terms: number[]): Unstable {
  const u = new Unstable(offset);
  u.entries = terms.map((term, i) => ent(offset + i, term));
  return u;
}

t.test('an empty unstable knows no index and no term', async (t) => {
  const u = new Unstable(5);
  t.equal(u.offset, 5);
  t.equal(u.snapshot, null);
  t.same(u.entries, []);
  t.equal(u.maybeFirstIndex(), null);
  t.equal(u.maybeLastIndex(), null);
  t.equal(u.maybeTerm(4), null);
  t.equal(u.maybeTerm(5), null);
});

t.test('with entries the last index is that of the last entry', async (t) => {
  const u = withEntries(5, 1, 1, 2);
  t.equal(u.maybeLastIndex(), 7);
  t.equal(u.maybeFirstIndex(), null, 'only a snapshot sets the first index');
});

t.test('with a snapshot the first index follows it and the last index is it', async (t) => {
  const u = new Unstable(1);
  u.restore(snap(10, 3));
  t.equal(u.maybeFirstIndex(), 11);
  t.equal(u.maybeLastIndex(), 10);
  u.truncateAndAppend([ent(11, 3), ent(12, 4)]);
  t.equal(u.maybeFirstIndex(), 11);
  t.equal(u.maybeLastIndex(), 12);
});

t.test('terms come from the entries from offset on and are null past them', async (t) => {
  const u = withEntries(5, 1, 2, 3);
  t.equal(u.maybeTerm(5), 1);
  t.equal(u.maybeTerm(6), 2);
  t.equal(u.maybeTerm(7), 3);
  t.equal(u.maybeTerm(8), null);
  t.equal(u.maybeTerm(4), null, 'below offset without a snapshot');
});

t.test('below offset only the snapshot index has a term', async (t) => {
  const u = new Unstable(1);
  u.restore(snap(10, 3));
  t.equal(u.maybeTerm(10), 3);
  t.equal(u.maybeTerm(9), null);
  t.equal(u.maybeTerm(11), null);
});

t.test('stableTo drops the entries up to a durable index of the same term', async (t) => {
  const u = withEntries(5, 1, 1, 2);
  u.stableTo(6, 1);
  t.equal(u.offset, 7);
  t.equal(indexes(u), '7/2');
  u.stableTo(7, 2);
  t.equal(u.offset, 8);
  t.equal(indexes(u), '');
});

t.test('stableTo at the first entry drops only it', async (t) => {
  const u = withEntries(5, 1, 1);
  u.stableTo(5, 1);
  t.equal(u.offset, 6);
  t.equal(indexes(u), '6/1');
});

t.test('stableTo ignores an entry that was replaced by another term since', async (t) => {
  const u = withEntries(5, 1, 2);
  u.stableTo(6, 1);
  t.equal(u.offset, 5);
  t.equal(indexes(u), '5/1 6/2');
});

t.test('stableTo ignores indexes below offset or past the entries', async (t) => {
  const u = withEntries(5, 1, 1);
  u.stableTo(4, 1);
  u.stableTo(7, 1);
  t.equal(u.offset, 5);
  t.equal(indexes(u), '5/1 6/1');
});

t.test('stableTo at the snapshot index leaves the entries after it', async (t) => {
  const u = new Unstable(1);
  u.restore(snap(10, 3));
  u.truncateAndAppend([ent(11, 3)]);
  u.stableTo(10, 3);
  t.equal(u.offset, 11);
  t.equal(indexes(u), '11/3');
});

t.test('stableSnapshotTo forgets the snapshot only at its index', async (t) => {
  const u = new Unstable(1);
  u.stableSnapshotTo(3);
  t.equal(u.snapshot, null);
  u.restore(snap(10, 3));
  u.stableSnapshotTo(9);
  t.same(u.snapshot, snap(10, 3));
  u.stableSnapshotTo(10);
  t.equal(u.snapshot, null);
  t.equal(u.offset, 11);
});

t.test('restore replaces everything with the snapshot', async (t) => {
  const u = withEntries(5, 1, 1, 1);
  const s = snap(20, 4);
  u.restore(s);
  t.equal(u.offset, 21);
  t.same(u.entries, []);
  t.equal(u.snapshot, s);
});

t.test('appending nothing changes nothing', async (t) => {
  const u = withEntries(5, 1);
  u.truncateAndAppend([]);
  t.equal(u.offset, 5);
  t.equal(indexes(u), '5/1');
});

t.test('appending right after the last entry extends the entries', async (t) => {
  const u = withEntries(5, 1, 1);
  u.truncateAndAppend([ent(7, 2), ent(8, 2)]);
  t.equal(u.offset, 5);
  t.equal(indexes(u), '5/1 6/1 7/2 8/2');
});

t.test('appending to an empty unstable at its offset starts the entries', async (t) => {
  const u = new Unstable(3);
  u.truncateAndAppend([ent(3, 1)]);
  t.equal(u.offset, 3);
  t.equal(indexes(u), '3/1');
});

t.test('appending at the offset replaces every entry', async (t) => {
  const u = withEntries(5, 1, 1, 1);
  u.truncateAndAppend([ent(5, 2)]);
  t.equal(u.offset, 5);
  t.equal(indexes(u), '5/2');
});

t.test('appending before the offset moves the offset back', async (t) => {
  const u = withEntries(5, 1, 1);
  u.truncateAndAppend([ent(3, 2), ent(4, 2)]);
  t.equal(u.offset, 3);
  t.equal(indexes(u), '3/2 4/2');
});

t.test('appending inside the entries truncates from there', async (t) => {
  const u = withEntries(5, 1, 1, 1, 1);
  u.truncateAndAppend([ent(7, 3)]);
  t.equal(u.offset, 5);
  t.equal(indexes(u), '5/1 6/1 7/3');
});

t.test('the appended array is not aliased', async (t) => {
  const u = new Unstable(5);
  const batch = [ent(4, 2)];
  u.truncateAndAppend(batch);
  batch.push(ent(5, 2));
  t.equal(indexes(u), '4/2');
});

t.test('slice returns entries [lo, hi)', async (t) => {
  const u = withEntries(5, 1, 2, 3, 4);
  t.equal(u.slice(6, 8).map((e) => e.index).join(' '), '6 7');
  t.equal(u.slice(5, 9).map((e) => e.index).join(' '), '5 6 7 8');
  t.same(u.slice(7, 7), []);
  t.same(u.slice(9, 9), []);
});

t.test('slice outside the entries throws', async (t) => {
  const u = withEntries(5, 1, 2);
  t.throws(() => u.slice(4, 6), { message: 'unstable slice [4, 6) out of range' });
  t.throws(() => u.slice(5, 8), { message: 'unstable slice [5, 8) out of range' });
  t.throws(() => u.slice(7, 6), { message: 'unstable slice [7, 6) out of range' });
});
