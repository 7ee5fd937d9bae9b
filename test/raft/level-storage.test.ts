// LevelStorage's durability: reopen, SIGKILL in the middle of writes, refusal of damaged files, one write at a time.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import t from 'tap';
import type { Test } from 'tap';
import { RawNode, SeededRandom } from '../../src/raft/core/index.js';
import type { Entry } from '../../src/raft/core/index.js';
import {
  decodeEntry, decodeHardState, decodeSnapshotMeta, encodeEntry, encodeHardState, encodeSnapshotMeta,
} from '../../src/raft/level-storage-codec.js';
import { LevelStorage } from '../../src/raft/level-storage.js';
import type { StorageWrite } from '../../src/raft/level-storage.js';
import { payload, snapshotPayload } from './fixtures/level-storage-payload.js';
import { ent, ids, meta, run, snapshotBytes, write } from './storage.case.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const root = await mkdtemp(join(tmpdir(), 'level-storage-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
let dirCount = 0;
const newDir = (): string => join(root, String(dirCount++));

/** The on-disk layout, spelled out here rather than imported, so a change to it shows up as a failing test. */
const entryKey = (index: number): Buffer => Buffer.concat([Buffer.from('e'), Buffer.from([0, 0, 0, 0, 0, 0, 0, index])]);
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

async function opened(t: Test, dir = newDir()): Promise<LevelStorage> {
  const s = await LevelStorage.open(dir);
  t.teardown(() => s.close());
  return s;
}

/** Changes the raft database of `dir` behind LevelStorage's back. */
async function tamper(dir: string, change: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'raft'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  await change(db);
  await db.close();
}

t.test('applied entries leave memory but for the newest 16 MiB, and are read back from disk the same', async (t) => {
  const s = await opened(t);
  await s.bootstrap(['a', 'b']);
  const mib = 1024 * 1024;
  // 40 entries of 1 MiB each, in terms 2 and 3, with data telling them apart.
  const big = (index: number, term: number): Entry =>
    ({ type: 'normal', index, term, data: new Uint8Array(mib).fill((index * 7 + term) % 256) });
  const entries = Array.from({ length: 40 }, (_, i) => big(3 + i, i < 20 ? 2 : 3));
  await s.write(write({ entries, hardState: { term: 3, vote: 'a', commit: 42 } }));
  t.equal(s.heldEntryBytes(), 40 * mib);
  s.releaseAppliedThrough(30);
  t.equal(s.heldEntryBytes(), (15 + 12) * mib, 'entries 3..17 dropped: 16 MiB of 18..30 kept, and the 12 not applied');
  t.ok(sameEntries(s.entries(3, 43, Infinity), entries), 'every entry, read back or from memory, as written');
  t.equal(s.term(10), 2, 'terms of dropped entries from memory');
  const readBack = s.entries(10, 11, Infinity)[0];
  t.ok(readBack?.type === 'normal' && readBack.data.buffer.byteLength > readBack.data.byteLength,
    'an entry read back is a view into the value LevelDB returned (its framing around it), not one more copy');
  t.equal(s.entries(5, 43, 3 * mib).length, 2, 'maxBytes counts the data read back (1 MiB and 24 bytes each)');
  s.releaseAppliedThrough(20);
  t.equal(s.heldEntryBytes(), 27 * mib, 'an older applied index changes nothing');
  s.releaseAppliedThrough(1000);
  t.equal(s.heldEntryBytes(), 15 * mib, 'beyond the last entry: all but the newest entries within 16 MiB');
  await writeFile(s.snapshotPathFor(20, 2), Uint8Array.from([1]));
  await s.write(write({ compaction: meta(20, 2) }));
  t.ok(sameEntries(s.entries(21, 43, Infinity), entries.slice(18)), 'after a compaction, the rest as written');
  await s.write(write({ entries: [big(43, 3)], hardState: { term: 3, vote: 'a', commit: 43 } }));
  t.ok(sameEntries(s.entries(43, 44, Infinity), [big(43, 3)]));
});

/** Index, term and data alike; tap's deep comparison of megabytes of typed arrays takes seconds. */
function sameEntries(got: readonly Entry[], want: readonly Entry[]): boolean {
  return got.length === want.length && got.every((e, i) => {
    const w = want[i];
    return w !== undefined && e.type === 'normal' && w.type === 'normal' && e.index === w.index && e.term === w.term
      && Buffer.from(e.data).equals(w.data);
  });
}

t.test('releasing applied entries one at a time keeps the same as releasing them at once', async (t) => {
  const kib = 1024;
  const sized = (index: number): Entry => ({ type: 'normal', index, term: 2, data: new Uint8Array(100 * kib).fill(index % 256) });
  const entries = Array.from({ length: 400 }, (_, i) => sized(3 + i));
  const once = await opened(t);
  const stepwise = await opened(t);
  for (const s of [once, stepwise]) {
    await s.bootstrap(['a', 'b']);
    await s.write(write({ entries, hardState: { term: 2, vote: 'a', commit: 402 } }));
  }
  once.releaseAppliedThrough(350);
  for (let i = 1; i <= 350; i++) stepwise.releaseAppliedThrough(i);
  t.equal(stepwise.heldEntryBytes(), once.heldEntryBytes());
  t.equal(once.heldEntryBytes(), (163 + 52) * 100 * kib, '163 applied entries in 16 MiB, and the 52 not applied');
  t.ok(sameEntries(stepwise.entries(3, 403, Infinity), entries));
});

t.test('small applied entries all stay in memory: what is kept is bytes, not a count', async (t) => {
  const s = await opened(t);
  await s.bootstrap(['a']);
  await s.write(write({ entries: run(2, 1, 1, 1), hardState: { term: 1, vote: 'a', commit: 4 } }));
  s.releaseAppliedThrough(3);
  t.equal(s.heldEntryBytes(), 3 * 76);
  t.equal(ids(s.entries(2, 5, Infinity)), '2/1 3/1 4/1');
});

t.test('an entry kept in memory does not hold the larger buffer its data was a small view into', async (t) => {
  const s = await opened(t);
  await s.bootstrap(['a']);
  // As a request body decodes: each entry's data a view into the one body.
  const body = Buffer.alloc(64 * 1024, 7);
  const views: Entry[] = [2, 3].map((index) => ({ type: 'normal', index, term: 1, data: body.subarray(index * 100, index * 100 + 50) }));
  const own: Entry = { type: 'normal', index: 4, term: 1, data: new Uint8Array(50).fill(9) };
  const most: Entry = { type: 'normal', index: 5, term: 1, data: new Uint8Array(1000).subarray(0, 500) };
  await s.write(write({ entries: [...views, own, most], hardState: { term: 1, vote: 'a', commit: 5 } }));
  const kept = s.entries(2, 6, Infinity);
  t.same(kept.map((e) => (e.type === 'normal' ? e.data.buffer.byteLength : -1)), [50, 50, 50, 1000], 'the small views hold their 50 bytes only');
  t.ok(sameEntries(kept, [...views, own, most]), 'the same bytes');
  t.ok(kept[0]?.type === 'normal' && Buffer.isBuffer(kept[0].data), 'a Buffer stays a Buffer');
  t.equal(kept[2], own, 'data with a buffer of its own is kept as it is, not copied');
  t.equal(kept[3], most, 'so is data that fills half its buffer (a batch entry is not worth a copy)');
});

t.test("LevelDB's memory estimate follows what the log wrote, and there is none once closed", async (t) => {
  const s = await LevelStorage.open(newDir());
  await s.bootstrap(['a']);
  const before = s.levelDbMemoryBytes()!;
  const data = new Uint8Array(200 * 1024).fill(3);
  await s.write(write({ entries: [{ type: 'normal', index: 2, term: 1, data }], hardState: { term: 1, vote: 'a', commit: 2 } }));
  const after = s.levelDbMemoryBytes()!;
  t.ok(after >= before + data.byteLength, `the entry is in the memtable: ${before} → ${after} bytes`);
  await s.close();
  t.equal(s.levelDbMemoryBytes(), null);
});

t.test('what was written is there after a reopen', async (t) => {
  const dir = newDir();
  const s = await LevelStorage.open(dir);
  t.ok(s.isEmpty());
  t.equal(s.snapshotPath(), null, 'no snapshot file before the first snapshot');
  await s.bootstrap(['a', 'b']);
  t.notOk(s.isEmpty());
  await s.write(write({ entries: run(3, 2, 2), hardState: { term: 2, vote: 'a', commit: 3 }, sync: false }));
  await writeFile(s.snapshotPathFor(3, 2), Uint8Array.from([1, 2, 3]));
  await s.write(write({ compaction: meta(3, 2) }));
  t.ok((await s.approximateBytes()) > 0);
  await s.close();
  const again = await opened(t, dir);
  t.notOk(again.isEmpty());
  t.same(again.hardState(), { term: 2, vote: 'a', commit: 3 });
  t.same(again.snapshot(), meta(3, 2));
  t.equal(ids(again.entries(4, 5, Infinity)), '4/2');
  t.equal(again.snapshotPath(), again.snapshotPathFor(3, 2));
  t.same(snapshotBytes(again), [1, 2, 3]);
  await t.rejects(again.bootstrap(['a']), { name: 'AssertionError', message: /not empty/ });
});

t.test('a compaction retires older snapshot files once its batch is durable, and leaves newer ones', async (t) => {
  const s = await opened(t);
  await s.write(write({ entries: run(1, 1, 1, 1, 1) }));
  await writeFile(s.snapshotPathFor(2, 1), Uint8Array.from([2]));
  await s.write(write({ compaction: meta(2, 1) }));
  await writeFile(s.snapshotPathFor(4, 1), Uint8Array.from([4]));
  await writeFile(s.snapshotPathFor(5, 1), 'the application is still writing this one');
  await s.write(write({ compaction: meta(4, 1) }));
  t.same((await readdir(join(s.snapshotPathFor(4, 1), '..'))).sort(),
    ['snap-0000000000000004-0000000000000001', 'snap-0000000000000005-0000000000000001'], 'newer files stay');
  t.same(snapshotBytes(s), [4]);
});

t.test('a compaction whose snapshot file was not written is refused', async (t) => {
  const s = await opened(t);
  await s.write(write({ entries: run(1, 1, 1) }));
  await t.rejects(s.write(write({ compaction: meta(2, 1) })), { name: 'AssertionError', message: /snapshot file .* was not written/ });
  t.equal(s.firstIndex(), 1);
});

t.test('an installed snapshot lives in its own file, and leftovers of a crash are removed at open', async (t) => {
  const dir = newDir();
  const s = await LevelStorage.open(dir);
  const m = meta(5, 2);
  await s.write(write({ snapshotChunks: [{ snapshot: m, offset: 0, data: Uint8Array.from([1, 2]), done: false }] }));
  const snapshots = join(dir, 'snapshots');
  t.same(await readdir(snapshots), ['staging-5-2'], 'chunks go to a staging file');
  await s.write(write({ snapshotChunks: [{ snapshot: m, offset: 2, data: Uint8Array.from([3]), done: true }], snapshot: m }));
  t.same(await readdir(snapshots), ['snap-0000000000000005-0000000000000002']);
  t.equal(s.snapshotPath(), join(snapshots, 'snap-0000000000000005-0000000000000002'));
  await s.write(write({ snapshotChunks: [{ snapshot: meta(9, 3), offset: 0, data: Uint8Array.from([9]), done: false }] }));
  await s.close();
  // As if a crash came between writing a newer snapshot file and the batch that would record it.
  await writeFile(join(snapshots, 'snap-0000000000000007-0000000000000003'), 'orphan');
  await writeFile(join(snapshots, 'notes.txt'), 'not ours');
  const again = await opened(t, dir);
  t.same((await readdir(snapshots)).sort(), ['notes.txt', 'snap-0000000000000005-0000000000000002']);
  t.same(snapshotBytes(again), [1, 2, 3]);
});

t.test('a received snapshot the check refuses replaces nothing: the log, its snapshot and its entries stay', async (t) => {
  const dir = newDir();
  const checked: string[] = [];
  const s = await LevelStorage.open(dir, async (path) => {
    checked.push(path);
    throw new Error(`${path}: too short (3 bytes)`);
  });
  await s.write(write({ entries: [ent(1, 1), ent(2, 1)] }));
  const m = meta(100_000, 70);
  // A forged or damaged snapshot, far ahead of the log: installed, it would compact every entry away.
  await t.rejects(s.write(write({ snapshotChunks: [{ snapshot: m, offset: 0, data: Uint8Array.from([1, 2, 3]), done: true }], snapshot: m })),
    /too short/);
  t.equal(checked.length, 1, 'the staged file was checked before its install');
  t.same(await readdir(join(dir, 'snapshots')), ['staging-100000-70'], 'not promoted');
  await s.close();
  const again = await opened(t, dir);
  t.equal(again.snapshot().index, 0, 'no snapshot recorded');
  t.equal(again.lastIndex(), 2, 'the entries are still there');
  t.same(await readdir(join(dir, 'snapshots')), [], 'the staging file is dropped at open');
});

t.test('a second write while one is pending is refused by assertion, and the first completes', async (t) => {
  const s = await opened(t);
  const first = s.write(write({ entries: run(1, 1, 1, 1) }));
  await t.rejects(s.write(write({ entries: run(4, 1) })), { name: 'AssertionError', message: /concurrent write/ });
  await first;
  t.equal(s.lastIndex(), 3);
  await s.write(write({ entries: run(4, 1) }));
  t.equal(s.lastIndex(), 4, 'the refusal did not break the storage');
});

t.test('after a failed write, and after close, writes are refused', async (t) => {
  const s = await opened(t);
  await t.rejects(s.write(write({ entries: run(2, 1) })), { message: 'append at 2 leaves a gap after 0' });
  await t.rejects(s.write(write({ entries: run(1, 1) })), { name: 'AssertionError', message: /after a failed write/ });
  const closed = await LevelStorage.open(newDir());
  await closed.close();
  await t.rejects(closed.write(write({ entries: run(1, 1) })), { name: 'AssertionError', message: /after close/ });
  t.throws(() => closed.snapshotChunk(0, 1), { name: 'AssertionError' });
});

/** Writes a small log with a snapshot, closes it, lets `damage` change the files, and expects open to refuse them. */
async function refusesDamage(t: Test, damage: (dir: string) => Promise<void>, message: (dir: string) => RegExp | string): Promise<void> {
  const dir = newDir();
  const s = await LevelStorage.open(dir);
  await s.write(write({ entries: run(1, 1, 1, 1, 1, 1), hardState: { term: 1, vote: null, commit: 2 } }));
  await writeFile(s.snapshotPathFor(2, 1), Uint8Array.from([7]));
  await s.write(write({ compaction: meta(2, 1) }));
  await s.close();
  await damage(dir);
  await t.rejects(LevelStorage.open(dir), { name: 'LevelStorageError', code: 'storage_corrupt', message: message(dir) });
  await tamper(dir, async () => {}); // The refused open released the database's lock.
}

t.test('a compaction clears the keys it retires behind its write; a clear a crash cut short is finished at open', async (t) => {
  const dir = newDir();
  const s = await LevelStorage.open(dir);
  await s.write(write({ entries: run(1, 1, 1, 1, 1, 1, 1), hardState: { term: 1, vote: null, commit: 5 } }));
  await writeFile(s.snapshotPathFor(4, 1), Uint8Array.from([7]));
  await s.write(write({ compaction: meta(4, 1) }));
  t.equal(ids(s.entries(5, 7, Infinity)), '5/1 6/1', 'the log after the snapshot at once');
  await s.retiredCleared();
  await s.close();
  const keysOf = async (): Promise<number[]> => {
    const found: number[] = [];
    await tamper(dir, async (db) => {
      for await (const key of db.keys()) if (key[0] === 0x65) found.push(key.readUInt32BE(5));
    });
    return found;
  };
  t.same(await keysOf(), [5, 6], 'entries 1-4 cleared');
  // What a crash before the clear leaves: keys at or below the snapshot index, as the compaction found them.
  await tamper(dir, async (db) => {
    for (const index of [2, 3, 4]) await db.put(entryKey(index), encodeEntry(ent(index, 1)));
  });
  const again = await LevelStorage.open(dir);
  t.same(again.snapshot(), meta(4, 1));
  t.equal(again.firstIndex(), 5);
  t.equal(ids(again.entries(5, 7, Infinity)), '5/1 6/1', 'the leftovers are not part of the log');
  await again.close();
  t.same(await keysOf(), [5, 6], 'and open cleared them');
});

t.test('a compaction of more entries than one delete batch retires all of them and nothing after', async (t) => {
  const dir = newDir();
  const s = await LevelStorage.open(dir);
  const count = 9000;
  await s.write(write({ entries: run(1, ...new Array<number>(count).fill(1)), hardState: { term: 1, vote: null, commit: count } }));
  await writeFile(s.snapshotPathFor(8500, 1), Uint8Array.from([7]));
  await s.write(write({ compaction: meta(8500, 1) }));
  await s.retiredCleared();
  t.equal(s.entries(8501, 8503, Infinity).length, 2);
  await s.close();
  const found: number[] = [];
  await tamper(dir, async (db) => {
    for await (const key of db.keys()) if (key[0] === 0x65) found.push(key.readUInt32BE(5));
  });
  t.equal(found.length, count - 8500, 'only the entries after the snapshot are left');
  t.equal(found[0], 8501);
  t.equal(found.at(-1), count);
});

t.test('a log another opener holds is refused as in use', async (t) => {
  const dir = newDir();
  const first = await LevelStorage.open(dir);
  t.teardown(() => first.close());
  await t.rejects(LevelStorage.open(dir), {
    name: 'LevelStorageError',
    message: `${join(dir, 'raft')}: in use by another process, which holds its LevelDB LOCK: is another node running with this DATA_DIR?`,
  });
});

t.test('open refuses damaged data and names what is wrong', async (t) => {
  const inDb = (what: string) => (dir: string): string => `${join(dir, 'raft')}: ${what}`;
  t.test('an entry that is not msgpack', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(entryKey(4), Buffer.from('garbage!'))),
      inDb('entry 4 is undecodable: not msgpack'));
  });
  t.test('an entry cut short', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(entryKey(4), packr.pack({ ...ent(4, 1) }).subarray(0, 20))),
      inDb('entry 4 is undecodable: not msgpack'));
  });
  t.test('a hard state of the wrong shape', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(Buffer.from('h'), packr.pack({ term: 'one', vote: null, commit: 0 }))),
      inDb('hard state (key "h") is undecodable: term is not a non-negative integer'));
  });
  t.test('snapshot metadata of the wrong shape', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(Buffer.from('s'), packr.pack({ index: 2, term: 1, membership: {} }))),
      inDb('snapshot metadata (key "s") is undecodable: voters is not a list of strings'));
  });
  t.test('an entry under the key of another index', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(entryKey(4), packr.pack({ ...ent(5, 1) }))), inDb('entry 4 holds index 5'));
  });
  t.test('an entry of an unknown type', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(entryKey(4), packr.pack({ type: 'odd', term: 1, index: 4 }))),
      inDb('entry 4 is undecodable: entry type "odd" is unknown'));
  });
  t.test('a term flipped in an entry or in the hard state, the record still well-formed', async (t) => {
    // What a compaction launders: LevelDB rewrites the block under a fresh checksum, and the msgpack decodes.
    const termFlipped = (key: Buffer) => (d: string) => tamper(d, async (db) => {
      const value = Buffer.from((await db.get(key))!);
      const at = value.indexOf('term') + 4;
      t.equal(value[at], 0x01, 'term 1, a msgpack fixint');
      value[at] = 0x03;
      await db.put(key, value);
    });
    await refusesDamage(t, termFlipped(entryKey(4)), inDb('entry 4 is undecodable: checksum mismatch'));
    await refusesDamage(t, termFlipped(Buffer.from('h')), inDb('hard state (key "h") is undecodable: checksum mismatch'));
  });
  t.test('a hole in the log', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.del(entryKey(4))), inDb('entry 5 found where entry 4 belongs'));
  });
  t.test('a commit beyond the log', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(Buffer.from('h'), packr.pack({ term: 1, vote: null, commit: 9 }))),
      inDb('hard state commit 9 is beyond the last entry 5'));
  });
  t.test('a key that is not ours', async (t) => {
    await refusesDamage(t, (d) => tamper(d, (db) => db.put(Buffer.from('x'), Buffer.from('1'))), inDb('unknown key 0x78'));
  });
  t.test('a missing snapshot file', async (t) => {
    const path = (d: string): string => join(d, 'snapshots', 'snap-0000000000000002-0000000000000001');
    await refusesDamage(t, (d) => unlink(path(d)), (d) => `${path(d)}: snapshot file missing`);
  });
});

interface WriterRun {
  readonly acked: number[];
}

/** Runs the writer child until it has acknowledged `acks` writes (after its first), then kills it with SIGKILL. */
async function runWriterUntilKilled(dir: string, acks: number): Promise<WriterRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/raft/fixtures/level-storage-writer.ts'), dir], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const acked: number[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith('ready')) continue;
    acked.push(Number(line));
    if (acked.length >= acks) {
      child.kill('SIGKILL');
      break;
    }
  }
  const { signal } = await exited;
  if (signal !== 'SIGKILL') throw new Error(`writer exited by itself: ${stderr}`);
  return { acked };
}

t.test('after SIGKILL in the middle of writes, every acknowledged entry is there, whole and contiguous', async (t) => {
  const dir = newDir();
  await mkdir(dir, { recursive: true });
  let lastAcked = 0;
  for (const acks of [60, 37, 81]) {
    const { acked } = await runWriterUntilKilled(dir, acks);
    t.ok(acked.length >= acks);
    lastAcked = Math.max(lastAcked, ...acked);
    const s = await LevelStorage.open(dir);
    t.ok(s.lastIndex() >= lastAcked, `acknowledged up to ${lastAcked}, found up to ${s.lastIndex()}`);
    t.ok(s.snapshot().index > 0, 'a compaction happened');
    t.same(snapshotBytes(s, 4096), [...snapshotPayload(s.snapshot().index)], 'the snapshot file is whole');
    const entries = s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity);
    t.equal(entries.length, s.lastIndex() - s.snapshot().index, 'contiguous from the snapshot');
    const bad = entries.filter((e, i) => e.index !== s.firstIndex() + i || e.type !== 'normal'
      || Buffer.compare(e.data, payload(e.index)) !== 0);
    t.same(bad.map((e) => e.index), [], 'every entry, the last included, holds what was written');
    t.ok(s.hardState().commit <= s.lastIndex());
    await s.close();
  }
});

t.test('a single-node RawNode runs on LevelStorage and finds its log after a restart', async (t) => {
  const dir = newDir();
  const s = await LevelStorage.open(dir);
  await s.bootstrap(['a']);
  const config = { id: 'a', random: new SeededRandom(1), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1 };
  const node = new RawNode({ ...config, storage: s, applied: 1 });
  const drain = async (n: RawNode, storage: LevelStorage): Promise<void> => {
    for (let i = 0; i < 100 && n.hasReady(); i++) {
      const rd = n.ready();
      const w: StorageWrite = { ...rd, sync: rd.mustSync };
      await storage.write(w);
      n.advance();
    }
  };
  node.campaign();
  await drain(node, s);
  t.equal(node.status().role, 'leader');
  const proposed = [1, 2, 3].map((i) => node.propose(Uint8Array.from([i])));
  await drain(node, s);
  const last = proposed[2]!;
  t.equal(s.lastIndex(), last.index);
  t.equal(s.hardState().commit, last.index);
  await s.close();

  const again = await opened(t, dir);
  const restarted = new RawNode({ ...config, storage: again, applied: last.index });
  t.equal(restarted.status().lastIndex, last.index);
  t.equal(restarted.status().commitIndex, last.index);
  t.equal(restarted.status().term, last.term);
});

t.test('every single-bit flip of a sealed entry, hard state or snapshot metadata is refused; unsealed ones still read', async (t) => {
  const cases: [string, Buffer, Buffer, (location: string, key: Uint8Array, value: Uint8Array) => unknown][] = [
    ['entry', entryKey(7), encodeEntry({ type: 'normal', term: 3, index: 7, data: Uint8Array.from([1, 2, 3, 250]) }), decodeEntry],
    ['conf change', entryKey(8), encodeEntry({ type: 'conf_change', term: 3, index: 8, change: { type: 'add_learner', nodeId: 'n4', context: 'x' } }), decodeEntry],
    ['hard state', Buffer.from('h'), encodeHardState({ term: 3, vote: 'n2', commit: 6 }), decodeHardState],
    ['snapshot metadata', Buffer.from('s'), encodeSnapshotMeta(meta(2, 1)), decodeSnapshotMeta],
  ];
  for (const [what, key, value, decode] of cases) {
    const intact = decode('/d', key, value);
    t.same(decode('/d', key, packr.pack(intact)), intact, `${what}: the same record unsealed, as written before sealing`);
    t.throws(() => decode('/d', Buffer.from('e\0\0\0\0\0\0\0\x09', 'latin1'), value), { name: 'LevelStorageError', message: /checksum mismatch/ },
      `${what}: under another key`);
    let accepted = 0;
    for (let i = 0; i < value.byteLength * 8; i++) {
      const copy = Buffer.from(value);
      copy[i >> 3]! ^= 1 << (i & 7);
      try {
        decode('/d', key, copy);
        accepted++;
      } catch (err) {
        if ((err as Error).name !== 'LevelStorageError') throw err;
      }
    }
    t.equal(accepted, 0, `${what}: none of ${value.byteLength * 8} single-bit flips accepted`);
  }
});
