// MemoryStorage: bootstrap, reads within its bounds, the runner's writes, compaction and snapshot chunks both ways.
import t from 'tap';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import type { Entry, SnapshotChunk, SnapshotMeta } from '../../../src/raft/core/types.js';

/** A normal entry of exactly 100 bytes by entryBytes (24 bytes of overhead). */
const ent = (index: number, term: number): Entry => ({ type: 'normal', index, term, data: new Uint8Array(76) });
const run = (first: number, ...terms: number[]): Entry[] => terms.map((term, i) => ent(first + i, term));
const ids = (entries: readonly Entry[]): string => entries.map((e) => `${e.index}/${e.term}`).join(' ');
const meta = (index: number, term: number): SnapshotMeta => ({ index, term, membership: { voters: ['a', 'b'], learners: [] } });
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const chunk = (snapshot: SnapshotMeta, offset: number, data: Uint8Array, done = false): SnapshotChunk =>
  ({ snapshot, offset, data, done });

function storageOf(...terms: number[]): MemoryStorage {
  const s = new MemoryStorage();
  s.append(run(1, ...terms));
  return s;
}

t.test('a new storage is empty at index 0 with the given membership', async (t) => {
  const membership = { voters: ['a'], learners: ['b'] };
  const s = new MemoryStorage(membership);
  t.same(s.hardState(), { term: 0, vote: null, commit: 0 });
  t.same(s.snapshot(), { index: 0, term: 0, membership });
  t.equal(s.snapshotData().byteLength, 0);
  t.equal(s.firstIndex(), 1);
  t.equal(s.lastIndex(), 0);
  t.equal(s.term(0), 0);
  t.equal(s.term(1), null);
});

t.test('the default membership is empty', async (t) => {
  t.same(new MemoryStorage().snapshot().membership, { voters: [], learners: [] });
});

t.test('bootstrap writes one committed add_voter entry per voter in term 1', async (t) => {
  const s = MemoryStorage.bootstrap(['a', 'b', 'c']);
  t.same(s.hardState(), { term: 1, vote: null, commit: 3 });
  t.equal(s.firstIndex(), 1);
  t.equal(s.lastIndex(), 3);
  t.same(s.entries(1, 4, Infinity), [
    { type: 'conf_change', term: 1, index: 1, change: { type: 'add_voter', nodeId: 'a', context: '' } },
    { type: 'conf_change', term: 1, index: 2, change: { type: 'add_voter', nodeId: 'b', context: '' } },
    { type: 'conf_change', term: 1, index: 3, change: { type: 'add_voter', nodeId: 'c', context: '' } },
  ]);
  t.same(s.snapshot(), { index: 0, term: 0, membership: { voters: [], learners: [] } });
});

t.test('terms are known from the snapshot index to the last index', async (t) => {
  const s = storageOf(1, 1, 2, 3);
  t.same([0, 1, 2, 3, 4, 5].map((i) => s.term(i)), [0, 1, 1, 2, 3, null]);
  s.compact(meta(2, 1), new Uint8Array(0));
  t.same([0, 1, 2, 3, 4, 5].map((i) => s.term(i)), [null, null, 1, 2, 3, null]);
});

t.test('entries returns [lo, hi)', async (t) => {
  const s = storageOf(1, 1, 2, 3);
  t.equal(ids(s.entries(1, 5, Infinity)), '1/1 2/1 3/2 4/3');
  t.equal(ids(s.entries(2, 4, Infinity)), '2/1 3/2');
  t.same(s.entries(3, 3, Infinity), []);
  t.same(s.entries(5, 5, Infinity), []);
});

t.test('entries outside the log throws', async (t) => {
  const s = storageOf(1, 1, 2);
  s.compact(meta(1, 1), new Uint8Array(0));
  t.throws(() => s.entries(1, 3, Infinity), { message: 'entries [1, 3) out of range' });
  t.throws(() => s.entries(2, 5, Infinity), { message: 'entries [2, 5) out of range' });
  t.throws(() => s.entries(3, 2, Infinity), { message: 'entries [3, 2) out of range' });
  t.equal(ids(s.entries(2, 4, Infinity)), '2/1 3/2');
});

t.test('entries stops before the entry that would pass maxBytes, but returns at least one', async (t) => {
  const s = storageOf(1, 1, 1, 1);
  t.equal(ids(s.entries(1, 5, 300)), '1/1 2/1 3/1');
  t.equal(ids(s.entries(1, 5, 299)), '1/1 2/1');
  t.equal(ids(s.entries(1, 5, 100)), '1/1');
  t.equal(ids(s.entries(1, 5, 1)), '1/1');
  t.equal(ids(s.entries(1, 5, 0)), '1/1');
});

t.test('setHardState replaces the hard state', async (t) => {
  const s = new MemoryStorage();
  const hs = { term: 4, vote: 'b', commit: 2 };
  s.setHardState(hs);
  t.equal(s.hardState(), hs);
});

t.test('append of nothing does nothing', async (t) => {
  const s = storageOf(1, 1);
  s.append([]);
  t.equal(s.lastIndex(), 2);
});

t.test('append extends the log', async (t) => {
  const s = storageOf(1);
  s.append(run(2, 2, 2));
  t.equal(s.lastIndex(), 3);
  t.equal(ids(s.entries(1, 4, Infinity)), '1/1 2/2 3/2');
});

t.test('append truncates the entries at and after its first index', async (t) => {
  const s = storageOf(1, 1, 1, 1);
  s.append(run(2, 3));
  t.equal(s.lastIndex(), 2);
  t.equal(ids(s.entries(1, 3, Infinity)), '1/1 2/3');
  s.append(run(1, 4));
  t.equal(ids(s.entries(1, 2, Infinity)), '1/4');
});

t.test('append may not leave a gap', async (t) => {
  const s = storageOf(1, 1);
  t.throws(() => s.append(run(4, 1)), { message: 'append at 4 leaves a gap after 2' });
  t.equal(s.lastIndex(), 2);
});

t.test('append may not write at or behind the snapshot', async (t) => {
  const s = storageOf(1, 1, 1);
  s.compact(meta(2, 1), new Uint8Array(0));
  t.throws(() => s.append(run(2, 2)), { message: 'append at 2 behind snapshot 2' });
  t.throws(() => s.append(run(1, 2)), { message: 'append at 1 behind snapshot 2' });
  s.append(run(3, 2));
  t.equal(s.term(3), 2);
  t.equal(s.lastIndex(), 3);
});

t.test('compact makes the snapshot the start of the log', async (t) => {
  const s = storageOf(1, 1, 2, 2);
  const data = bytes(1, 2, 3);
  const m = meta(3, 2);
  s.compact(m, data);
  t.equal(s.snapshot(), m);
  t.equal(s.snapshotData(), data);
  t.equal(s.firstIndex(), 4);
  t.equal(s.lastIndex(), 4);
  t.equal(ids(s.entries(4, 5, Infinity)), '4/2');
});

t.test('compact may go to the last index or stay at the snapshot', async (t) => {
  const s = storageOf(1, 1, 2);
  s.compact(meta(1, 1), new Uint8Array(0));
  s.compact(meta(1, 1), bytes(9));
  t.equal(s.firstIndex(), 2);
  t.equal(s.lastIndex(), 3);
  s.compact(meta(3, 2), bytes(8));
  t.equal(s.firstIndex(), 4);
  t.equal(s.lastIndex(), 3);
  t.same(s.snapshotData(), bytes(8));
});

t.test('compact outside the log throws', async (t) => {
  const s = storageOf(1, 1, 2);
  s.compact(meta(1, 1), new Uint8Array(0));
  t.throws(() => s.compact(meta(0, 0), new Uint8Array(0)), { message: 'compact to 0 out of range' });
  t.throws(() => s.compact(meta(4, 2), new Uint8Array(0)), { message: 'compact to 4 out of range' });
  t.equal(s.firstIndex(), 2);
});

t.test('compact with the wrong term throws', async (t) => {
  const s = storageOf(1, 1, 2);
  t.throws(() => s.compact(meta(2, 2), new Uint8Array(0)), { message: 'compact to 2: term mismatch' });
  t.equal(s.firstIndex(), 1);
});

t.test('snapshotChunk pages through the snapshot bytes and marks the last page done', async (t) => {
  const s = storageOf(1, 1);
  s.compact(meta(2, 1), bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
  const page = (offset: number, max: number): [number[], boolean] => {
    const c = s.snapshotChunk(offset, max);
    if (c === null) throw new Error('no chunk');
    return [[...c.data], c.done];
  };
  t.same(page(0, 4), [[0, 1, 2, 3], false]);
  t.same(page(4, 4), [[4, 5, 6, 7], false]);
  t.same(page(8, 4), [[8, 9], true]);
  t.same(page(6, 4), [[6, 7, 8, 9], true], 'a page that ends exactly at the end is done');
  t.same(page(5, 4), [[5, 6, 7, 8], false], 'one byte short of the end is not');
  t.same(page(0, 100), [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], true]);
});

t.test('an empty snapshot is one empty, done chunk', async (t) => {
  const c = new MemoryStorage().snapshotChunk(0, 16);
  t.equal(c?.data.byteLength, 0);
  t.equal(c?.done, true);
});

t.test('staged chunks are reassembled by installSnapshot', async (t) => {
  const s = storageOf(1, 1, 1);
  const m = meta(7, 3);
  s.stageSnapshotChunk(chunk(m, 0, bytes(1, 2, 3)));
  s.stageSnapshotChunk(chunk(m, 3, bytes(4, 5)));
  s.stageSnapshotChunk(chunk(m, 5, bytes(6), true));
  const data = s.installSnapshot(m);
  t.same([...data], [1, 2, 3, 4, 5, 6]);
  t.equal(s.snapshotData(), data);
  t.equal(s.snapshot(), m);
  t.equal(s.firstIndex(), 8);
  t.equal(s.lastIndex(), 7);
  t.equal(s.term(7), 3);
  t.equal(s.term(3), null, 'the old log is gone');
});

t.test('a staged chunk is copied, so the sender may reuse its buffer', async (t) => {
  const s = new MemoryStorage();
  const m = meta(4, 1);
  const buffer = bytes(1, 2);
  s.stageSnapshotChunk(chunk(m, 0, buffer, true));
  buffer[0] = 99;
  t.same([...s.installSnapshot(m)], [1, 2]);
});

t.test('a chunk at offset 0 restarts staging', async (t) => {
  const s = new MemoryStorage();
  const m = meta(4, 1);
  s.stageSnapshotChunk(chunk(m, 0, bytes(1, 2)));
  s.stageSnapshotChunk(chunk(m, 0, bytes(7)));
  s.stageSnapshotChunk(chunk(m, 1, bytes(8), true));
  t.same([...s.installSnapshot(m)], [7, 8]);
});

t.test('a chunk that is not the next one throws', async (t) => {
  const s = new MemoryStorage();
  const m = meta(4, 1);
  t.throws(() => s.stageSnapshotChunk(chunk(m, 2, bytes(1))), { message: 'snapshot chunk at 2 out of order' });
  s.stageSnapshotChunk(chunk(m, 0, bytes(1, 2)));
  t.throws(() => s.stageSnapshotChunk(chunk(m, 1, bytes(3))), { message: 'snapshot chunk at 1 out of order' });
  t.throws(() => s.stageSnapshotChunk(chunk(m, 3, bytes(3))), { message: 'snapshot chunk at 3 out of order' });
  t.throws(() => s.stageSnapshotChunk(chunk(meta(5, 1), 2, bytes(3))), { message: 'snapshot chunk at 2 out of order' },
    'a chunk of another snapshot');
  s.stageSnapshotChunk(chunk(m, 2, bytes(3), true));
  t.same([...s.installSnapshot(m)], [1, 2, 3]);
});

t.test('installing a snapshot that was not staged throws', async (t) => {
  const s = storageOf(1, 1);
  t.throws(() => s.installSnapshot(meta(4, 1)), { message: 'install of snapshot 4 that was not staged' });
  s.stageSnapshotChunk(chunk(meta(4, 1), 0, bytes(1), true));
  t.throws(() => s.installSnapshot(meta(5, 1)), { message: 'install of snapshot 5 that was not staged' });
  t.throws(() => s.installSnapshot(meta(4, 2)), { message: 'install of snapshot 4 that was not staged' });
  t.equal(s.lastIndex(), 2);
  s.installSnapshot(meta(4, 1));
  t.throws(() => s.installSnapshot(meta(4, 1)), { message: 'install of snapshot 4 that was not staged' },
    'installing empties the staging area');
});

t.test('a staged snapshot is installed only once its last chunk arrived, and chunks of another term are refused', async (t) => {
  const s = new MemoryStorage();
  const m = meta(4, 1);
  s.stageSnapshotChunk(chunk(m, 0, bytes(1, 2)));
  t.throws(() => s.installSnapshot(m), { message: 'install of snapshot 4 that was not staged' }, 'incomplete');
  t.throws(() => s.stageSnapshotChunk(chunk(meta(4, 2), 2, bytes(3))), { message: 'snapshot chunk at 2 out of order' },
    'same index, other term');
  s.stageSnapshotChunk(chunk(m, 2, bytes(3), true));
  t.throws(() => s.stageSnapshotChunk(chunk(m, 3, bytes(4))), { message: 'snapshot chunk at 3 out of order' },
    'nothing follows the last chunk');
  t.same([...s.installSnapshot(m)], [1, 2, 3]);
});
