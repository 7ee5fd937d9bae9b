// The Storage conformance suite: every durable Storage behaves as MemoryStorage does, before and after a reopen.
import assert from 'node:assert/strict';
import type { Test } from 'tap';
import { MemoryStorage, SeededRandom } from '../../src/raft/core/index.js';
import type { Entry, HardState, SnapshotChunk, SnapshotMeta, Storage } from '../../src/raft/core/index.js';
import type { StorageWrite } from '../../src/raft/level-storage.js';

/** A Storage with the runner's write side, as the suite drives it. */
export interface StorageUnderTest extends Storage {
  /** Makes one Ready's worth of state durable (see `StorageWrite`). */
  write(w: StorageWrite): Promise<void>;
  /** MemoryStorage.bootstrap's entries and hard state, written to this (empty) storage. */
  bootstrap(voters: readonly string[]): Promise<void>;
  /** The application's half of a compaction: the snapshot's bytes for index/term exist before the compaction write. */
  saveSnapshot(index: number, term: number, data: Uint8Array): Promise<void>;
  /** The same storage as a restarted node would find it (itself, for memory). */
  reopen(): Promise<StorageUnderTest>;
  close(): Promise<void>;
}

export type StorageFactory = () => Promise<StorageUnderTest>;

/** MemoryStorage behind the suite's interface: write maps onto its methods in the Ready's order. */
export class MemoryStorageUnderTest implements StorageUnderTest {
  #inner = new MemoryStorage();
  readonly #saved = new Map<string, Uint8Array>();

  hardState(): HardState { return this.#inner.hardState(); }
  snapshot(): SnapshotMeta { return this.#inner.snapshot(); }
  firstIndex(): number { return this.#inner.firstIndex(); }
  lastIndex(): number { return this.#inner.lastIndex(); }
  term(index: number): number | null { return this.#inner.term(index); }
  entries(lo: number, hi: number, maxBytes: number): Entry[] { return this.#inner.entries(lo, hi, maxBytes); }
  snapshotChunk(offset: number, maxBytes: number): { data: Uint8Array; done: boolean } | null {
    return this.#inner.snapshotChunk(offset, maxBytes);
  }

  async write(w: StorageWrite): Promise<void> {
    const s = this.#inner;
    for (const chunk of w.snapshotChunks) s.stageSnapshotChunk(chunk);
    if (w.snapshot !== null) s.installSnapshot(w.snapshot);
    s.append(w.entries);
    if (w.hardState !== null) s.setHardState(w.hardState);
    if (w.compaction !== null) {
      const data = this.#saved.get(`${w.compaction.index}/${w.compaction.term}`) ?? new Uint8Array(0);
      s.compact(w.compaction, data);
    }
  }

  async bootstrap(voters: readonly string[]): Promise<void> {
    assert.ok(this.lastIndex() === 0, 'bootstrap of a storage that is not empty');
    this.#inner = MemoryStorage.bootstrap(voters);
  }

  async saveSnapshot(index: number, term: number, data: Uint8Array): Promise<void> {
    this.#saved.set(`${index}/${term}`, data.slice());
  }

  async reopen(): Promise<StorageUnderTest> { return this; }
  async close(): Promise<void> {}
}

/** A normal entry of exactly 100 bytes by entryBytes (24 bytes of overhead), its data telling index and term apart. */
export const ent = (index: number, term: number): Entry =>
  ({ type: 'normal', index, term, data: new Uint8Array(76).fill((index * 7 + term) % 256) });
export const run = (first: number, ...terms: number[]): Entry[] => terms.map((term, i) => ent(first + i, term));
export const ids = (entries: readonly Entry[]): string => entries.map((e) => `${e.index}/${e.term}`).join(' ');
export const meta = (index: number, term: number): SnapshotMeta =>
  ({ index, term, membership: { voters: ['a', 'b'], learners: ['c'] } });
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const chunk = (snapshot: SnapshotMeta, offset: number, data: Uint8Array, done = false): SnapshotChunk =>
  ({ snapshot, offset, data, done });

/** A write of only what is given; fsynced, as most Readys are. */
export function write(w: Partial<StorageWrite>): StorageWrite {
  return { hardState: null, entries: [], snapshotChunks: [], snapshot: null, compaction: null, sync: true, ...w };
}

/** Every snapshot byte, read the way a leader sends them. */
export function snapshotBytes(s: Storage, pageBytes = 3): number[] {
  const out: number[] = [];
  for (let offset = 0; ;) {
    const c = s.snapshotChunk(offset, pageBytes);
    assert.ok(c !== null, 'snapshot bytes not available');
    out.push(...c.data);
    offset += c.data.byteLength;
    if (c.done) return out;
  }
}

/** Everything a reader can observe, so that two storages (or one before and after a reopen) compare equal. */
export function observe(s: Storage): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const terms: (number | null)[] = [];
  for (let i = Math.max(0, first - 2); i <= last + 1; i++) terms.push(s.term(i));
  return {
    hardState: s.hardState(), snapshot: s.snapshot(), first, last, terms,
    entries: s.entries(first, last + 1, Infinity), snapshotBytes: snapshotBytes(s, 5),
  };
}

/** The storage as it is, then (once the caller has checked it) reopened. */
async function* nowAndReopened(h: Harness): AsyncGenerator<StorageUnderTest> {
  yield h.s();
  yield await h.reopen();
}

interface Harness {
  readonly s: () => StorageUnderTest;
  readonly reopen: () => Promise<StorageUnderTest>;
}

/** Opens a fresh, empty storage for one test and closes it when the test ends. */
type Fresh = (t: Test) => Promise<Harness>;
type Case = (t: Test, fresh: Fresh) => Promise<void>;

async function withLog(fresh: Fresh, t: Test, ...terms: number[]): Promise<Harness> {
  const h = await fresh(t);
  await h.s().write(write({ entries: run(1, ...terms) }));
  return h;
}

/** One function per behaviour, named by the sentence tap prints. */
const cases: Readonly<Record<string, Case>> = {
  'a new storage is empty at index 0': async (t, fresh) => {
    const h = await fresh(t);
    for await (const s of nowAndReopened(h)) {
      t.same(s.hardState(), { term: 0, vote: null, commit: 0 });
      t.same(s.snapshot(), { index: 0, term: 0, membership: { voters: [], learners: [] } });
      t.equal(s.firstIndex(), 1);
      t.equal(s.lastIndex(), 0);
      t.equal(s.term(0), 0);
      t.equal(s.term(1), null);
      t.same(s.entries(1, 1, Infinity), []);
      const c = s.snapshotChunk(0, 16);
      t.equal(c?.data.byteLength, 0, 'the empty snapshot has no bytes');
      t.equal(c?.done, true, 'and is one done chunk');
    }
  },

  'bootstrap writes one committed add_voter entry per voter in term 1': async (t, fresh) => {
    const h = await fresh(t);
    await h.s().bootstrap(['a', 'b', 'c']);
    for await (const s of nowAndReopened(h)) {
      t.same(s.hardState(), { term: 1, vote: null, commit: 3 });
      t.equal(s.firstIndex(), 1);
      t.equal(s.lastIndex(), 3);
      t.same(s.entries(1, 4, Infinity), ['a', 'b', 'c'].map((nodeId, i) => ({
        type: 'conf_change', term: 1, index: i + 1, change: { type: 'add_voter', nodeId, context: '' },
      })));
      t.equal(s.snapshot().index, 0);
    }
  },

  'append extends the log and term() knows every index from the snapshot to the last': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1, 2);
    await h.s().write(write({ entries: run(4, 3, 3) }));
    for await (const s of nowAndReopened(h)) {
      t.equal(s.lastIndex(), 5);
      t.same([0, 1, 2, 3, 4, 5, 6].map((i) => s.term(i)), [0, 1, 1, 2, 3, 3, null]);
      t.equal(ids(s.entries(1, 6, Infinity)), '1/1 2/1 3/2 4/3 5/3');
      t.equal(ids(s.entries(2, 4, Infinity)), '2/1 3/2');
      t.same(s.entries(3, 3, Infinity), []);
      t.same(s.entries(6, 6, Infinity), []);
      t.same(s.entries(4, 5, Infinity), [ent(4, 3)], 'entries keep their data');
    }
  },

  'append replaces the entries at and after its first index (follower truncation, §5.3)': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1, 1, 1, 1);
    await h.s().write(write({ entries: run(3, 2) }));
    for await (const s of nowAndReopened(h)) {
      t.equal(s.lastIndex(), 3, 'the stale tail is gone');
      t.equal(ids(s.entries(1, 4, Infinity)), '1/1 2/1 3/2');
      t.equal(s.term(4), null);
    }
    await h.s().write(write({ entries: run(1, 4, 4) }));
    for await (const s of nowAndReopened(h)) t.equal(ids(s.entries(1, 3, Infinity)), '1/4 2/4');
    await h.s().write(write({ entries: run(3, 4, 4, 4, 4) }));
    await h.s().write(write({ entries: run(4, 5) }));
    for await (const s of nowAndReopened(h)) t.equal(ids(s.entries(1, 5, Infinity)), '1/4 2/4 3/4 4/5');
  },

  'entries returns at least one entry, then stops before passing maxBytes': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1, 1, 1);
    const s = h.s();
    t.equal(ids(s.entries(1, 5, 300)), '1/1 2/1 3/1');
    t.equal(ids(s.entries(1, 5, 299)), '1/1 2/1');
    t.equal(ids(s.entries(1, 5, 100)), '1/1');
    t.equal(ids(s.entries(1, 5, 0)), '1/1');
    t.equal(ids(s.entries(2, 5, 200)), '2/1 3/1');
  },

  'entries outside the log throws': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1, 2);
    await h.s().saveSnapshot(1, 1, bytes(1));
    await h.s().write(write({ compaction: meta(1, 1) }));
    const s = h.s();
    t.throws(() => s.entries(1, 3, Infinity), { message: 'entries [1, 3) out of range' });
    t.throws(() => s.entries(2, 5, Infinity), { message: 'entries [2, 5) out of range' });
    t.throws(() => s.entries(3, 2, Infinity), { message: 'entries [3, 2) out of range' });
    t.equal(ids(s.entries(2, 4, Infinity)), '2/1 3/2');
  },

  'the hard state is replaced by each write that carries one, with or without entries': async (t, fresh) => {
    const h = await fresh(t);
    await h.s().write(write({ hardState: { term: 4, vote: 'b', commit: 0 } }));
    for await (const s of nowAndReopened(h)) t.same(s.hardState(), { term: 4, vote: 'b', commit: 0 });
    await h.s().write(write({ entries: run(1, 4, 4), hardState: { term: 4, vote: 'b', commit: 2 }, sync: false }));
    await h.s().write(write({ entries: run(3, 4) }));
    for await (const s of nowAndReopened(h)) {
      t.same(s.hardState(), { term: 4, vote: 'b', commit: 2 }, 'a write without one keeps it');
      t.equal(s.lastIndex(), 3);
    }
  },

  'append may neither leave a gap nor write at or behind the snapshot': async (t, fresh) => {
    const gap = await withLog(fresh, t, 1, 1);
    await t.rejects(gap.s().write(write({ entries: run(4, 1) })), { message: 'append at 4 leaves a gap after 2' });
    t.equal(gap.s().lastIndex(), 2);
    const behind = await withLog(fresh, t, 1, 1, 1);
    await behind.s().saveSnapshot(2, 1, bytes(1));
    await behind.s().write(write({ compaction: meta(2, 1) }));
    await t.rejects(behind.s().write(write({ entries: run(2, 2) })), { message: 'append at 2 behind snapshot 2' });
    t.equal(behind.s().lastIndex(), 3);
  },

  'compaction makes the snapshot the start of the log': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1, 2, 2, 3);
    const m = meta(3, 2);
    await h.s().saveSnapshot(3, 2, bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    await h.s().write(write({ compaction: m, sync: false }));
    for await (const s of nowAndReopened(h)) {
      t.same(s.snapshot(), m);
      t.equal(s.firstIndex(), 4);
      t.equal(s.lastIndex(), 5);
      t.same([2, 3, 4, 5, 6].map((i) => s.term(i)), [null, 2, 2, 3, null]);
      t.equal(ids(s.entries(4, 6, Infinity)), '4/2 5/3');
      t.same(snapshotBytes(s), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    await h.s().write(write({ entries: run(6, 3) }));
    for await (const s of nowAndReopened(h)) t.equal(ids(s.entries(4, 7, Infinity)), '4/2 5/3 6/3');
  },

  'the snapshot is read in chunks from any offset, the last one marked done': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1);
    await h.s().saveSnapshot(2, 1, bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    await h.s().write(write({ compaction: meta(2, 1) }));
    for await (const s of nowAndReopened(h)) {
      const page = (offset: number, max: number): [number[], boolean] => {
        const c = s.snapshotChunk(offset, max);
        assert.ok(c !== null);
        return [[...c.data], c.done];
      };
      t.same(page(0, 4), [[0, 1, 2, 3], false]);
      t.same(page(4, 4), [[4, 5, 6, 7], false]);
      t.same(page(8, 4), [[8, 9], true]);
      t.same(page(6, 4), [[6, 7, 8, 9], true], 'a page that ends exactly at the end is done');
      t.same(page(5, 4), [[5, 6, 7, 8], false], 'one byte short of the end is not');
      t.same(page(0, 100), [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], true]);
    }
  },

  'compaction may go to the last index, stay at the snapshot, and move again': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1, 2);
    await h.s().saveSnapshot(1, 1, bytes(9));
    await h.s().write(write({ compaction: meta(1, 1) }));
    await h.s().write(write({ compaction: meta(1, 1) }));
    t.equal(h.s().firstIndex(), 2);
    await h.s().saveSnapshot(3, 2, bytes(8, 8));
    await h.s().write(write({ compaction: meta(3, 2) }));
    for await (const s of nowAndReopened(h)) {
      t.equal(s.firstIndex(), 4);
      t.equal(s.lastIndex(), 3, 'the log is empty');
      t.equal(s.term(3), 2);
      t.same(snapshotBytes(s), [8, 8]);
    }
    await h.s().write(write({ entries: run(4, 3) }));
    t.equal(h.s().term(4), 3);
  },

  'compaction outside the log or with the wrong term is refused': async (t, fresh) => {
    const range = await withLog(fresh, t, 1, 1, 2);
    await range.s().saveSnapshot(4, 2, bytes(1));
    await t.rejects(range.s().write(write({ compaction: meta(4, 2) })), { message: 'compact to 4 out of range' });
    t.equal(range.s().firstIndex(), 1);
    const term = await withLog(fresh, t, 1, 1, 2);
    await term.s().saveSnapshot(2, 2, bytes(1));
    await t.rejects(term.s().write(write({ compaction: meta(2, 2) })), { message: 'compact to 2: term mismatch' });
    t.equal(term.s().firstIndex(), 1);
  },

  'one write applies entries, hard state and compaction in that order': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1);
    await h.s().saveSnapshot(3, 2, bytes(5));
    await h.s().write(write({ entries: run(3, 2, 2), hardState: { term: 2, vote: 'a', commit: 4 }, compaction: meta(3, 2) }));
    for await (const s of nowAndReopened(h)) {
      t.same(s.snapshot(), meta(3, 2), 'the compaction reached an entry of the same write');
      t.equal(ids(s.entries(4, 5, Infinity)), '4/2');
      t.same(s.hardState(), { term: 2, vote: 'a', commit: 4 });
    }
  },

  'staged chunks become the snapshot on install, which empties the log': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 1, 1);
    const m = meta(7, 3);
    await h.s().write(write({ snapshotChunks: [chunk(m, 0, bytes(1, 2, 3)), chunk(m, 3, bytes(4, 5))] }));
    t.equal(h.s().lastIndex(), 3, 'staging leaves the log alone');
    await h.s().write(write({
      snapshotChunks: [chunk(m, 5, bytes(6), true)], snapshot: m, hardState: { term: 3, vote: null, commit: 7 },
    }));
    for await (const s of nowAndReopened(h)) {
      t.same(s.snapshot(), m);
      t.equal(s.firstIndex(), 8);
      t.equal(s.lastIndex(), 7);
      t.equal(s.term(7), 3);
      t.equal(s.term(3), null, 'the old log is gone');
      t.same(snapshotBytes(s, 2), [1, 2, 3, 4, 5, 6]);
      t.same(s.snapshotChunk(2, 3), { data: bytes(3, 4, 5), done: false });
      t.same(s.snapshotChunk(4, 3), { data: bytes(5, 6), done: true });
    }
    await h.s().write(write({ entries: run(8, 3) }));
    for await (const s of nowAndReopened(h)) t.equal(ids(s.entries(8, 9, Infinity)), '8/3');
  },

  'one write may stage every chunk, install, and append after the snapshot': async (t, fresh) => {
    const h = await withLog(fresh, t, 1, 2);
    const m = meta(5, 2);
    const buffer = bytes(7, 8);
    await h.s().write(write({
      snapshotChunks: [chunk(m, 0, buffer), chunk(m, 2, bytes(9), true)], snapshot: m, entries: run(6, 3, 3),
    }));
    buffer[0] = 99;
    for await (const s of nowAndReopened(h)) {
      t.same(snapshotBytes(s), [7, 8, 9], 'the staged bytes were copied');
      t.equal(ids(s.entries(6, 8, Infinity)), '6/3 7/3');
      t.equal(s.term(5), 2);
    }
  },

  'a chunk at offset 0 restarts staging, even of another snapshot': async (t, fresh) => {
    const h = await fresh(t);
    const m = meta(4, 1);
    await h.s().write(write({ snapshotChunks: [chunk(meta(3, 1), 0, bytes(5, 5, 5))] }));
    await h.s().write(write({ snapshotChunks: [chunk(m, 0, bytes(1, 2))] }));
    await h.s().write(write({ snapshotChunks: [chunk(m, 0, bytes(7)), chunk(m, 1, bytes(8), true)], snapshot: m }));
    t.same(snapshotBytes(h.s()), [7, 8]);
  },

  'a chunk that is not the next one is refused': async (t, fresh) => {
    const m = meta(4, 1);
    const first = await fresh(t);
    await t.rejects(first.s().write(write({ snapshotChunks: [chunk(m, 2, bytes(1))] })),
      { message: 'snapshot chunk at 2 out of order' });
    const gap = await fresh(t);
    await gap.s().write(write({ snapshotChunks: [chunk(m, 0, bytes(1, 2))] }));
    await t.rejects(gap.s().write(write({ snapshotChunks: [chunk(m, 3, bytes(3))] })),
      { message: 'snapshot chunk at 3 out of order' });
    const other = await fresh(t);
    await other.s().write(write({ snapshotChunks: [chunk(m, 0, bytes(1, 2))] }));
    await t.rejects(other.s().write(write({ snapshotChunks: [chunk(meta(4, 2), 2, bytes(3))] })),
      { message: 'snapshot chunk at 2 out of order' }, 'same index, other term');
    const after = await fresh(t);
    await after.s().write(write({ snapshotChunks: [chunk(m, 0, bytes(1, 2), true)] }));
    await t.rejects(after.s().write(write({ snapshotChunks: [chunk(m, 2, bytes(3))] })),
      { message: 'snapshot chunk at 2 out of order' }, 'nothing follows the last chunk');
  },

  'installing a snapshot that was not completely staged is refused': async (t, fresh) => {
    const none = await withLog(fresh, t, 1, 1);
    await t.rejects(none.s().write(write({ snapshot: meta(4, 1) })), { message: 'install of snapshot 4 that was not staged' });
    t.equal(none.s().lastIndex(), 2);
    const partial = await fresh(t);
    await partial.s().write(write({ snapshotChunks: [chunk(meta(4, 1), 0, bytes(1))] }));
    await t.rejects(partial.s().write(write({ snapshot: meta(4, 1) })), { message: 'install of snapshot 4 that was not staged' });
    const other = await fresh(t);
    await other.s().write(write({ snapshotChunks: [chunk(meta(4, 1), 0, bytes(1), true)] }));
    await t.rejects(other.s().write(write({ snapshot: meta(4, 2) })), { message: 'install of snapshot 4 that was not staged' });
    const twice = await fresh(t);
    await twice.s().write(write({ snapshotChunks: [chunk(meta(4, 1), 0, bytes(1), true)], snapshot: meta(4, 1) }));
    await t.rejects(twice.s().write(write({ snapshot: meta(4, 1) })), { message: 'install of snapshot 4 that was not staged' },
      'installing empties the staging area');
  },

  'a long run of writes reads the same as MemoryStorage, before and after each reopen': async (t, fresh) => {
    await modelCheck(t, await fresh(t), 0x5eed);
  },
};

/** The suite: `factory` gives a fresh, empty storage each time. */
export function storageConformance(t: Test, name: string, factory: StorageFactory): void {
  const fresh: Fresh = async (t) => {
    let s = await factory();
    t.teardown(() => s.close());
    return {
      s: () => s,
      reopen: async () => {
        const before = observe(s);
        s = await s.reopen();
        t.same(observe(s), before, 'reads after reopen equal reads before');
        return s;
      },
    };
  };
  t.test(name, async (t) => {
    for (const [sentence, check] of Object.entries(cases)) t.test(sentence, (t) => check(t, fresh));
  });
}

/** Appends, truncations, hard states and compactions chosen by a seeded generator, each checked against the reference. */
async function modelCheck(t: Test, h: Harness, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const reference = new MemoryStorageUnderTest();
  let term = 1;
  for (let step = 0; step < 150; step++) {
    const last = reference.lastIndex();
    const first = reference.firstIndex();
    const roll = random.int(10);
    let w: StorageWrite;
    if (roll < 6) {
      // Mostly appends at the end; sometimes a truncation, never behind the snapshot.
      const at = roll === 0 && last >= first ? first + random.int(last - first + 1) : last + 1;
      if (roll === 0) term += 1;
      const entries = Array.from({ length: 1 + random.int(5) }, (_, i) => ent(at + i, term));
      w = write({ entries, hardState: { term, vote: null, commit: Math.min(reference.hardState().commit, at - 1) } });
    } else if (roll < 8 && last > reference.snapshot().index) {
      const index = reference.snapshot().index + 1 + random.int(last - reference.snapshot().index);
      const m = meta(index, reference.term(index) ?? 0);
      const data = Uint8Array.from({ length: random.int(20) }, () => random.int(256));
      await h.s().saveSnapshot(m.index, m.term, data);
      await reference.saveSnapshot(m.index, m.term, data);
      w = write({ compaction: m, hardState: { term, vote: 'a', commit: last } });
    } else {
      w = write({ hardState: { term, vote: random.int(2) === 0 ? null : 'b', commit: last }, sync: false });
    }
    await reference.write(w);
    await h.s().write(w);
    if (random.int(8) === 0) await h.reopen();
    t.same(observe(h.s()), observe(reference), `step ${step}`);
  }
}
