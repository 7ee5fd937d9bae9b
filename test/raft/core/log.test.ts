// RaftLog over MemoryStorage: indexes and terms across storage and unstable, appends, commitment, apply and slicing.
import t from 'tap';
import { RaftLog } from '../../../src/raft/core/log.js';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import type { Entry, SnapshotMeta } from '../../../src/raft/core/types.js';

/** A normal entry of exactly 100 bytes by entryBytes (24 bytes of overhead). */
const ent = (index: number, term: number): Entry => ({ type: 'normal', index, term, data: new Uint8Array(76) });
const snap = (index: number, term: number): SnapshotMeta => ({ index, term, membership: { voters: ['a'], learners: [] } });
const ids = (entries: readonly Entry[] | null): string | null =>
  entries === null ? null : entries.map((e) => `${e.index}/${e.term}`).join(' ');
const run = (first: number, ...terms: number[]): Entry[] => terms.map((term, i) => ent(first + i, term));

/** Storage holding entries 1..terms.length with those terms. */
function storageOf(...terms: number[]): MemoryStorage {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.append(run(1, ...terms));
  return s;
}

/** A log whose storage holds `stored` terms from index 1 and whose unstable holds `unstable` terms after them. */
function logOf(stored: number[], unstable: number[] = []): RaftLog {
  const log = new RaftLog(storageOf(...stored), 0);
  log.append(run(stored.length + 1, ...unstable));
  return log;
}

/** Storage compacted to `snapIndex`, then holding entries after it with `terms`. */
function compactedLog(snapIndex: number, snapTerm: number, terms: number[]): RaftLog {
  const s = storageOf(...Array<number>(snapIndex).fill(snapTerm), ...terms);
  s.compact(snap(snapIndex, snapTerm), new Uint8Array(0));
  return new RaftLog(s, 0);
}

// ---------------------------------------------------------------------------
// Construction and indexes

t.test('a new log starts unstable after storage, committed and applied up to the snapshot', async (t) => {
  const log = new RaftLog(storageOf(1, 1, 2), 0);
  t.equal(log.unstable.offset, 4);
  t.equal(log.committed, 0);
  t.equal(log.applied, 0);
  t.equal(log.firstIndex(), 1);
  t.equal(log.lastIndex(), 3);
  t.equal(log.lastStableIndex(), 3);
  t.equal(log.lastTerm(), 2);
});

t.test('a log over a compacted storage counts the snapshot as committed and applied', async (t) => {
  const log = compactedLog(5, 2, [3]);
  t.equal(log.firstIndex(), 6);
  t.equal(log.lastIndex(), 6);
  t.equal(log.committed, 5);
  t.equal(log.applied, 5);
  t.equal(new RaftLog(log.storage, 3).applied, 5, 'an older applied index is raised to the snapshot');
  t.equal(new RaftLog(log.storage, 6).applied, 6, 'a later applied index is kept');
});

t.test('an empty log has only index 0 of term 0', async (t) => {
  const log = new RaftLog(new MemoryStorage(), 0);
  t.equal(log.firstIndex(), 1);
  t.equal(log.lastIndex(), 0);
  t.equal(log.lastTerm(), 0);
  t.equal(log.term(0), 0);
  t.equal(log.term(1), null);
});

t.test('the last index and term include unstable entries, the last stable index does not', async (t) => {
  const log = logOf([1, 1], [2, 2, 3]);
  t.equal(log.lastIndex(), 5);
  t.equal(log.lastTerm(), 3);
  t.equal(log.lastStableIndex(), 2);
});

t.test('the last stable index stops before an unstable rewrite of stored entries', async (t) => {
  const log = logOf([1, 1, 1, 1]);
  log.append([ent(3, 2)]);
  t.equal(log.lastIndex(), 3);
  t.equal(log.lastStableIndex(), 2);
});

t.test('a restored snapshot sets the first and last index until entries follow it', async (t) => {
  const log = logOf([1, 1, 1]);
  log.restore(snap(10, 4));
  t.equal(log.firstIndex(), 11);
  t.equal(log.lastIndex(), 10);
  t.equal(log.lastTerm(), 4);
  t.equal(log.committed, 10);
  t.equal(log.lastStableIndex(), 10);
  log.append([ent(11, 4)]);
  t.equal(log.lastIndex(), 11);
});

// ---------------------------------------------------------------------------
// Terms

t.test('terms come from storage and from unstable', async (t) => {
  const log = logOf([1, 2], [3, 4]);
  t.same([0, 1, 2, 3, 4, 5].map((i) => log.term(i)), [0, 1, 2, 3, 4, null]);
});

t.test('an unstable rewrite hides the stored term it replaces', async (t) => {
  const log = logOf([1, 1, 1]);
  log.append([ent(2, 5)]);
  t.equal(log.term(2), 5);
  t.equal(log.term(3), null, 'the truncated stored entry is no longer in the log');
});

t.test('the term is known from just before the first index to the last index', async (t) => {
  const log = compactedLog(5, 2, [3, 3]);
  t.equal(log.term(4), null);
  t.equal(log.term(5), 2, 'the snapshot term');
  t.equal(log.term(6), 3);
  t.equal(log.term(7), 3);
  t.equal(log.term(8), null);
});

t.test('after a restore the stored entries behind the snapshot have no term', async (t) => {
  const log = logOf([1, 1, 1, 1, 1]);
  log.restore(snap(10, 4));
  t.equal(log.term(3), null);
  t.equal(log.term(9), null);
  t.equal(log.term(10), 4);
  t.equal(log.term(11), null);
});

t.test('matchTerm compares the term at an index', async (t) => {
  const log = logOf([1, 2]);
  t.equal(log.matchTerm(2, 2), true);
  t.equal(log.matchTerm(2, 1), false);
  t.equal(log.matchTerm(0, 0), true);
  t.equal(log.matchTerm(3, 2), false);
});

// ---------------------------------------------------------------------------
// §5.4.1 up to date

t.test('a log with a later last term is up to date even when shorter', async (t) => {
  const log = logOf([1, 1, 3, 3, 3]);
  t.equal(log.isUpToDate(1, 4), true);
});

t.test('a log with an earlier last term is not up to date even when longer', async (t) => {
  const log = logOf([1, 1, 3, 3, 3]);
  t.equal(log.isUpToDate(9, 2), false);
});

t.test('with the same last term a log is up to date when at least as long', async (t) => {
  const log = logOf([1, 1, 3, 3, 3]);
  t.equal(log.isUpToDate(4, 3), false);
  t.equal(log.isUpToDate(5, 3), true);
  t.equal(log.isUpToDate(6, 3), true);
});

// ---------------------------------------------------------------------------
// Conflicts

t.test('findConflict is 0 when every entry is already here', async (t) => {
  const log = logOf([1, 1, 2]);
  t.equal(log.findConflict([]), 0);
  t.equal(log.findConflict(run(1, 1, 1, 2)), 0);
  t.equal(log.findConflict(run(2, 1)), 0);
});

t.test('findConflict finds the first entry of another term', async (t) => {
  const log = logOf([1, 1, 2]);
  t.equal(log.findConflict(run(1, 1, 2, 2)), 2);
  t.equal(log.findConflict(run(3, 3)), 3);
});

t.test('findConflict finds the first new entry', async (t) => {
  const log = logOf([1, 1, 2]);
  t.equal(log.findConflict(run(2, 1, 2, 2, 2)), 4);
  t.equal(log.findConflict(run(4, 2)), 4);
});

t.test('findConflictByTerm skips back to the last entry of at most the given term', async (t) => {
  const log = logOf([1, 1, 2, 2, 3, 3]);
  t.equal(log.findConflictByTerm(6, 3), 6);
  t.equal(log.findConflictByTerm(6, 2), 4);
  t.equal(log.findConflictByTerm(6, 1), 2);
  t.equal(log.findConflictByTerm(3, 2), 3);
  t.equal(log.findConflictByTerm(4, 4), 4);
});

t.test('findConflictByTerm starts from the last index when asked beyond it', async (t) => {
  const log = logOf([1, 1, 2, 2, 3, 3]);
  t.equal(log.findConflictByTerm(10, 5), 6);
  t.equal(log.findConflictByTerm(10, 2), 4);
});

t.test('findConflictByTerm falls back to just before the first index', async (t) => {
  t.equal(logOf([1, 1, 2, 2, 3, 3]).findConflictByTerm(6, 0), 0);
  const compacted = compactedLog(3, 2, [4, 4, 5]);
  t.equal(compacted.findConflictByTerm(6, 3), 3);
  t.equal(compacted.findConflictByTerm(6, 4), 5);
  t.equal(compacted.findConflictByTerm(2, 0), 2, 'an index behind the snapshot is returned as is');
});

// ---------------------------------------------------------------------------
// maybeAppend (figure 2, AppendEntries receiver)

t.test('maybeAppend refuses when the log lacks prevIndex with prevTerm', async (t) => {
  const log = logOf([1, 1, 2]);
  t.equal(log.maybeAppend(3, 1, 3, run(4, 2)), null);
  t.equal(log.maybeAppend(4, 2, 3, run(5, 2)), null);
  t.equal(log.lastIndex(), 3);
  t.equal(log.committed, 0, 'nothing is committed by a refused append');
});

t.test('maybeAppend appends new entries after a match', async (t) => {
  const log = logOf([1, 1]);
  const r = log.maybeAppend(2, 1, 0, run(3, 2, 2));
  t.equal(r?.lastNewIndex, 4);
  t.equal(ids(r?.written ?? null), '3/2 4/2');
  t.equal(log.lastIndex(), 4);
  t.equal(log.term(4), 2);
});

t.test('maybeAppend keeps entries that already match, even those after the new ones', async (t) => {
  const log = logOf([1, 1, 1, 1, 1]);
  const r = log.maybeAppend(1, 1, 0, run(2, 1, 1));
  t.equal(r?.lastNewIndex, 3);
  t.same(r?.written, []);
  t.equal(log.lastIndex(), 5);
});

t.test('maybeAppend truncates from the first conflict and writes only from there', async (t) => {
  const log = logOf([1, 1, 1, 1, 1]);
  const r = log.maybeAppend(1, 1, 0, [ent(2, 1), ent(3, 2)]);
  t.equal(r?.lastNewIndex, 3);
  t.equal(ids(r?.written ?? null), '3/2');
  t.equal(log.lastIndex(), 3);
  t.equal(log.term(3), 2);
  t.equal(log.term(2), 1);
});

t.test('maybeAppend commits up to the leader commit but not past the last new entry', async (t) => {
  const log = logOf([1, 1, 1, 1, 1]);
  t.equal(log.maybeAppend(3, 1, 10, [])?.lastNewIndex, 3);
  t.equal(log.committed, 3, 'the entries after prevIndex are not known to match the leader');
  log.maybeAppend(4, 1, 4, run(5, 1));
  t.equal(log.committed, 4);
});

t.test('maybeAppend never moves the commit index back', async (t) => {
  const log = logOf([1, 1, 1]);
  log.commitTo(3);
  log.maybeAppend(1, 1, 1, []);
  t.equal(log.committed, 3);
});

t.test('maybeAppend refuses to overwrite a committed entry', async (t) => {
  const log = logOf([1, 1, 1, 1]);
  log.commitTo(3);
  t.throws(() => log.maybeAppend(1, 1, 3, run(2, 2)), { message: 'entry 2 conflicts with committed 3' });
  t.throws(() => log.maybeAppend(2, 1, 3, run(3, 2)), { message: 'entry 3 conflicts with committed 3' });
  const r = log.maybeAppend(3, 1, 3, run(4, 2));
  t.equal(ids(r?.written ?? null), '4/2', 'the first uncommitted entry may be replaced');
});

// ---------------------------------------------------------------------------
// append

t.test('append of nothing returns the last index', async (t) => {
  const log = logOf([1, 1], [2]);
  t.equal(log.append([]), 3);
});

t.test('append right after the last entry extends the log', async (t) => {
  const log = logOf([1, 1]);
  t.equal(log.append(run(3, 2, 2)), 4);
  t.equal(log.unstable.offset, 3);
  t.equal(log.term(4), 2);
});

t.test('append may not leave a gap', async (t) => {
  const log = logOf([1, 1]);
  t.throws(() => log.append(run(4, 2)), { message: 'append at 4 leaves a gap after 2' });
  t.equal(log.lastIndex(), 2);
});

t.test('append may not overwrite committed entries', async (t) => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  t.throws(() => log.append(run(2, 2)), { message: 'append at 2 would overwrite committed 2' });
  t.equal(log.append(run(3, 2)), 3);
  t.equal(log.term(3), 2);
});

// ---------------------------------------------------------------------------
// Commitment (§5.3, §5.4.2)

t.test('commitTo moves the commit index forward only', async (t) => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  t.equal(log.committed, 2);
  log.commitTo(1);
  t.equal(log.committed, 2);
  log.commitTo(2);
  t.equal(log.committed, 2);
  log.commitTo(3);
  t.equal(log.committed, 3);
});

t.test('commitTo beyond the last index throws', async (t) => {
  const log = logOf([1, 1, 1]);
  t.throws(() => log.commitTo(4), { message: 'commit 4 is beyond the last index 3' });
  t.equal(log.committed, 0);
});

t.test('maybeCommit commits an entry of the current term', async (t) => {
  const log = logOf([1, 2, 2]);
  t.equal(log.maybeCommit(2, 2), true);
  t.equal(log.committed, 2);
  t.equal(log.maybeCommit(3, 2), true);
  t.equal(log.committed, 3);
});

t.test('maybeCommit never commits an entry of an earlier term by counting', async (t) => {
  const log = logOf([1, 1, 2]);
  t.equal(log.maybeCommit(2, 2), false);
  t.equal(log.committed, 0);
});

t.test('maybeCommit at or below the commit index does nothing', async (t) => {
  const log = logOf([2, 2, 2]);
  log.commitTo(2);
  t.equal(log.maybeCommit(2, 2), false);
  t.equal(log.maybeCommit(1, 2), false);
  t.equal(log.committed, 2);
});

t.test('maybeCommit beyond the log does nothing', async (t) => {
  const log = logOf([2, 2]);
  t.equal(log.maybeCommit(3, 2), false);
  t.equal(log.committed, 0);
});

// ---------------------------------------------------------------------------
// Apply

t.test('appliedTo moves applied within [applied, committed]', async (t) => {
  const log = logOf([1, 1, 1, 1]);
  log.commitTo(3);
  log.appliedTo(2);
  t.equal(log.applied, 2);
  log.appliedTo(2);
  t.equal(log.applied, 2);
  log.appliedTo(3);
  t.equal(log.applied, 3);
});

t.test('appliedTo beyond the commit index throws', async (t) => {
  const log = logOf([1, 1, 1, 1]);
  log.commitTo(3);
  t.throws(() => log.appliedTo(4), { message: 'applied 4 outside [0, 3]' });
  t.equal(log.applied, 0);
});

t.test('appliedTo behind the applied index throws', async (t) => {
  const log = logOf([1, 1, 1, 1]);
  log.commitTo(3);
  log.appliedTo(2);
  t.throws(() => log.appliedTo(1), { message: 'applied 1 outside [2, 3]' });
  t.equal(log.applied, 2);
});

t.test('appliedTo of 0 means nothing was applied', async (t) => {
  const log = logOf([1, 1]);
  log.commitTo(2);
  log.appliedTo(2);
  log.appliedTo(0);
  t.equal(log.applied, 2);
});

// ---------------------------------------------------------------------------
// Restore

t.test('restore commits the snapshot and drops the unstable entries', async (t) => {
  const log = logOf([1, 1], [1, 2]);
  const s = snap(6, 3);
  log.restore(s);
  t.equal(log.committed, 6);
  t.equal(log.unstable.snapshot, s);
  t.equal(log.unstable.offset, 7);
  t.same(log.unstable.entries, []);
});

t.test('restore of a snapshot not beyond the commit index throws', async (t) => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  t.throws(() => log.restore(snap(2, 1)), { message: 'snapshot 2 is not beyond commit 2' });
  t.throws(() => log.restore(snap(1, 1)), { message: 'snapshot 1 is not beyond commit 2' });
  t.equal(log.unstable.snapshot, null);
  log.restore(snap(3, 1));
  t.equal(log.committed, 3);
});

// ---------------------------------------------------------------------------
// slice (entries are 100 bytes each)

t.test('slice of a compacted range is null', async (t) => {
  const log = compactedLog(3, 1, [2, 2]);
  t.equal(log.slice(3, 5, Infinity), null);
  t.equal(log.slice(1, 1, Infinity), null);
  t.equal(ids(log.slice(4, 6, Infinity)), '4/2 5/2');
});

t.test('slice beyond the last index throws', async (t) => {
  const log = logOf([1, 1], [1]);
  t.throws(() => log.slice(1, 5, Infinity), { message: 'slice [1, 5) beyond 3' });
  t.throws(() => log.slice(3, 2, Infinity), { message: 'slice [3, 2) beyond 3' });
  t.same(log.slice(1, 4, Infinity)?.length, 3);
});

t.test('an empty slice is empty', async (t) => {
  const log = logOf([1, 1], [1]);
  t.same(log.slice(2, 2, Infinity), []);
  t.same(log.slice(4, 4, Infinity), []);
});

t.test('slice reads storage, unstable, or both', async (t) => {
  const log = logOf([1, 1, 1], [2, 2, 2]);
  t.equal(ids(log.slice(1, 3, Infinity)), '1/1 2/1');
  t.equal(ids(log.slice(1, 4, Infinity)), '1/1 2/1 3/1');
  t.equal(ids(log.slice(4, 7, Infinity)), '4/2 5/2 6/2');
  t.equal(ids(log.slice(5, 6, Infinity)), '5/2');
  t.equal(ids(log.slice(2, 5, Infinity)), '2/1 3/1 4/2');
  t.equal(ids(log.slice(1, 7, Infinity)), '1/1 2/1 3/1 4/2 5/2 6/2');
});

t.test('slice reads stored entries only up to an unstable rewrite of them', async (t) => {
  const log = logOf([1, 1, 1, 1, 1]);
  log.append(run(3, 2, 2));
  t.equal(ids(log.slice(1, 5, Infinity)), '1/1 2/1 3/2 4/2');
  t.equal(ids(log.slice(1, 3, Infinity)), '1/1 2/1');
});

t.test('slice stops within storage when the limit is reached there', async (t) => {
  const log = logOf([1, 1, 1], [2, 2, 2]);
  t.equal(ids(log.slice(1, 7, 250)), '1/1 2/1');
  t.equal(ids(log.slice(1, 7, 200)), '1/1 2/1', 'an entry that reaches the limit exactly fits');
  t.equal(ids(log.slice(1, 7, 199)), '1/1');
});

t.test('slice counts the stored bytes against the limit for the unstable part', async (t) => {
  const log = logOf([1, 1, 1], [2, 2, 2]);
  t.equal(ids(log.slice(1, 7, 300)), '1/1 2/1 3/1');
  t.equal(ids(log.slice(1, 7, 399)), '1/1 2/1 3/1');
  t.equal(ids(log.slice(1, 7, 400)), '1/1 2/1 3/1 4/2');
  t.equal(ids(log.slice(2, 7, 400)), '2/1 3/1 4/2 5/2');
});

t.test('slice of unstable entries honours the limit', async (t) => {
  const log = logOf([1], [2, 2, 2]);
  t.equal(ids(log.slice(2, 5, 200)), '2/2 3/2');
  t.equal(ids(log.slice(2, 5, 199)), '2/2');
  t.equal(ids(log.slice(2, 5, 300)), '2/2 3/2 4/2');
});

t.test('slice returns at least one entry whatever the limit', async (t) => {
  const log = logOf([1, 1], [2, 2]);
  t.equal(ids(log.slice(1, 5, 1)), '1/1');
  t.equal(ids(log.slice(3, 5, 1)), '3/2');
  t.equal(ids(log.slice(3, 5, 0)), '3/2');
});

// ---------------------------------------------------------------------------
// committedEntriesFrom

t.test('committedEntriesFrom hands out the committed entries from an index', async (t) => {
  const log = logOf([1, 1, 1], [2, 2]);
  log.commitTo(4);
  t.equal(ids(log.committedEntriesFrom(1, Infinity)), '1/1 2/1 3/1 4/2');
  t.equal(ids(log.committedEntriesFrom(3, Infinity)), '3/1 4/2');
  t.equal(ids(log.committedEntriesFrom(4, Infinity)), '4/2');
  t.same(log.committedEntriesFrom(5, Infinity), []);
  t.same(log.committedEntriesFrom(9, Infinity), []);
});

t.test('committedEntriesFrom hands out nothing before anything is committed', async (t) => {
  const log = logOf([1, 1]);
  t.same(log.committedEntriesFrom(1, Infinity), []);
});

t.test('committedEntriesFrom honours the byte limit', async (t) => {
  const log = logOf([1, 1, 1], [2, 2]);
  log.commitTo(5);
  t.equal(ids(log.committedEntriesFrom(1, 200)), '1/1 2/1');
  t.equal(ids(log.committedEntriesFrom(3, 200)), '3/1 4/2');
  t.equal(ids(log.committedEntriesFrom(4, 1)), '4/2');
});

t.test('committedEntriesFrom starts at the first index when asked from a compacted one', async (t) => {
  const log = compactedLog(3, 1, [2, 2]);
  log.commitTo(5);
  t.equal(ids(log.committedEntriesFrom(1, Infinity)), '4/2 5/2');
});

t.test('a slice cut short by maxBytes inside storage never skips ahead to unstable entries', async (t) => {
  // Storage holds 1 and 2 (100 bytes each); unstable holds a small entry 3. With room for 150 bytes,
  // storage gives only entry 1; returning entry 3 after it would leave a gap at 2.
  const log = new RaftLog(storageOf(1, 1), 0);
  log.append([{ type: 'normal', index: 3, term: 1, data: new Uint8Array(0) }]);
  t.equal(ids(log.slice(1, 4, 150)), '1/1');
});

t.test('a slice of a log whose snapshot is not yet durable reads only the unstable part', async (t) => {
  const log = logOf([1, 1]);
  log.restore(snap(5, 2));
  log.append(run(6, 2, 2));
  t.equal(ids(log.slice(6, 8, 1000)), '6/2 7/2');
  t.equal(ids(log.slice(6, 6, 1000)), '');
});
