// A durable Raft Storage on LevelDB: one atomic batch per Ready, with the log after the snapshot mirrored in memory for
// sync reads; the data of applied entries leaves memory, and is read back from the database when a follower needs it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Entry, HardState, SnapshotChunk, SnapshotMeta, Storage } from './core/index.js';
import { entryBytes } from './core/index.js';
import {
  decodeEntry, decodeEntryAlone, decodeHardState, decodeSnapshotMeta, encodeEntry, encodeHardState, encodeSnapshotMeta, keys,
  LevelStorageError,
} from './level-storage-codec.js';
import { isStaged, planStaging, SnapshotFiles } from './snapshot-files.js';

export { LevelStorageError } from './level-storage-codec.js';

/**
 * What one Ready asks to be made durable (see `Ready`, step 2), plus whether to fsync. A Ready fits
 * it as `{ ...ready, sync: ready.mustSync }`.
 */
export interface StorageWrite {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshotChunks: readonly SnapshotChunk[];
  readonly snapshot: SnapshotMeta | null;
  readonly compaction: SnapshotMeta | null;
  readonly sync: boolean;
}

type Db = ClassicLevel<Buffer, Buffer>;
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

interface LogState {
  hardState: HardState;
  snapshot: SnapshotMeta;
  /** Entries after the snapshot: entries[i] has index snapshot.index + 1 + i. Mirrors the 'e' keys exactly. */
  entries: Entry[];
}

/** A write checked against the current state: its batch, and how the in-memory log changes once the batch is durable. */
interface Plan {
  readonly ops: BatchOp[];
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta;
  /** Entries of the current log that survive install and truncation, before `appended`. */
  readonly kept: number;
  readonly appended: readonly Entry[];
  /** Entries dropped from the front by compaction, counted after `appended`. */
  readonly dropped: number;
  /** The entry keys a compaction retires, (after, through]: cleared once the batch is durable, not in it. */
  readonly retired: { readonly after: number; readonly through: number } | null;
}

const EMPTY_SNAPSHOT: SnapshotMeta = { index: 0, term: 0, membership: { voters: [], learners: [] } };

/** The data of an entry dropped from memory; the entry is read back from the database when asked for. */
const droppedData = new Uint8Array(0);
/**
 * Entry data kept in memory behind the applied index, so followers a little behind are sent from memory. The rest
 * stays on disk only: at 1,000,000 jobs the log behind a snapshot being written had grown to hundreds of MB.
 */
const appliedBytesKept = 16 * 1024 * 1024;

/**
 * The entry as memory keeps it: data that is a small view into a larger buffer (the request body it arrived in, a
 * slab of Node's or msgpackr's buffer pool) gets a buffer of its own, or its few hundred bytes hold the whole buffer
 * until the entry leaves memory. Measured in a follower under the soak: the entries held 30 MiB of buffers, 3,886 of
 * about 8 KiB, where appliedBytesKept counts 16 MiB, and buffers peaked at 60 MiB before each snapshot, where they
 * peak at 24 MiB with copies; glibc keeps a peak's pages. Data that fills half its buffer or more pins at most
 * twice its bytes, and is kept as it is: a batch's entry is hundreds of kB, not worth a copy. (heldEntryBytes counts
 * the data's bytes, not the buffers behind them: a comeback of this shows in the soak's array buffers, not there.)
 */
function ownedEntry(entry: Entry): Entry {
  if (entry.type !== 'normal' || entry.data.byteLength * 2 >= entry.data.buffer.byteLength) return entry;
  // Uint8Array's own slice copies (Buffer's is a view), and keeps the class: a Buffer stays a Buffer.
  return { ...entry, data: Uint8Array.prototype.slice.call(entry.data) };
}

/** LevelDB's floor for max_open_files (a smaller setting is raised to it): up to 64 tables stay open and mapped. */
const openFilesFloor = 74;

/**
 * `db.batch` without abstract-level's wrapping of every operation (checks, encodings, hooks, events), which costs
 * 5 to 8 µs an operation, measured: a tenth of the leader's time under single creates. Keys and values are
 * Buffers already (the database's encoding). A closed database goes the checked way, which refuses with an error
 * where the raw call would never answer.
 */
function writeBatch(db: Db, ops: BatchOp[], options: { sync: boolean }): Promise<void> {
  if (db.status !== 'open') return db.batch(ops, options);
  return (db as unknown as { _batch(ops: BatchOp[], options: { sync: boolean }): Promise<void> })._batch(ops, options);
}

/** Deletes the keys of entries (from, to]. LevelDB has no range delete, but memory knows every key there is. */
function deleteEntries(ops: BatchOp[], from: number, to: number): void {
  for (let index = from + 1; index <= to; index++) ops.push({ type: 'del', key: keys.entry(index) });
}

/** Entry keys deleted per batch when a compaction retires entries: 1-4 ms of the main thread to build each. */
const retiredKeysPerBatch = 4096;

/**
 * Deletes the keys of entries (after, through], a batch at a time, behind the writes. A compaction retires every
 * entry since the last snapshot: at SNAPSHOT_COUNT 100,000, deleting them in the compaction's batch held each
 * node's Raft loop for 230-440 ms (measured). Nothing reads or writes those keys again, so they need not go in the
 * same batch as the snapshot metadata that retires them; keys a crash leaves behind are at or below the snapshot
 * index, and the next open clears them. By key rather than with classic-level's `clear`: a clear iterates the
 * range, which reads every retired entry back, and LevelDB maps the tables it reads, so those pages stayed in RSS
 * (20-33 MiB of each node's at 1,000,000 jobs, against 1-11 MiB by key).
 */
async function retireEntries(db: Db, after: number, through: number): Promise<void> {
  for (let from = after; from < through; from += retiredKeysPerBatch) {
    const ops: BatchOp[] = [];
    deleteEntries(ops, from, Math.min(through, from + retiredKeysPerBatch));
    await writeBatch(db, ops, { sync: false });
  }
}

/** Deletes every entry key in (after, through] that the database holds, in LevelDB's own thread. */
function clearEntries(db: Db, after: number, through: number): Promise<void> {
  return db.clear({ gt: keys.entry(after), lte: keys.entry(through) });
}

/**
 * Checks a write with MemoryStorage's assertions and builds its batch, in the Ready's order: install,
 * append, hard state, compaction. Pure, so a broken write crashes before anything reaches disk.
 */
function planWrite(s: LogState, w: StorageWrite): Plan {
  const ops: BatchOp[] = [];
  let snapshot = s.snapshot;
  let kept = s.entries.length;
  let appended: readonly Entry[] = [];
  const lastIndex = (): number => snapshot.index + kept + appended.length;
  if (w.snapshot !== null) {
    deleteEntries(ops, snapshot.index, lastIndex());
    snapshot = w.snapshot;
    kept = 0;
    ops.push({ type: 'put', key: keys.snapshot, value: encodeSnapshotMeta(snapshot) });
  }
  const first = w.entries[0];
  if (first !== undefined) {
    assert.ok(first.index > snapshot.index, `append at ${first.index} behind snapshot ${snapshot.index}`);
    assert.ok(first.index <= lastIndex() + 1, `append at ${first.index} leaves a gap after ${lastIndex()}`);
    w.entries.forEach((e, i) => assert.equal(e.index, first.index + i, `append of entry ${e.index} at ${first.index + i}`));
    deleteEntries(ops, first.index + w.entries.length - 1, lastIndex());
    kept = first.index - snapshot.index - 1;
    appended = w.entries;
    for (const e of appended) ops.push({ type: 'put', key: keys.entry(e.index), value: encodeEntry(e) });
  }
  const hardState = w.hardState ?? s.hardState;
  if (w.hardState !== null) ops.push({ type: 'put', key: keys.hardState, value: encodeHardState(w.hardState) });
  let dropped = 0;
  let retired: Plan['retired'] = null;
  const c = w.compaction;
  if (c !== null) {
    assert.ok(c.index >= snapshot.index && c.index <= lastIndex(), `compact to ${c.index} out of range`);
    const term = c.index === snapshot.index ? snapshot.term
      : c.index - snapshot.index <= kept ? s.entries[c.index - snapshot.index - 1]?.term
        : appended[c.index - snapshot.index - kept - 1]?.term;
    assert.equal(term, c.term, `compact to ${c.index}: term mismatch`);
    retired = c.index > snapshot.index ? { after: snapshot.index, through: c.index } : null;
    dropped = c.index - snapshot.index;
    snapshot = c;
    ops.push({ type: 'put', key: keys.snapshot, value: encodeSnapshotMeta(c) });
  }
  // Checked here as well as at open, so a write that could not be read back fails now rather than at the next start.
  assert.ok(hardState.commit <= lastIndex(), `hard state commit ${hardState.commit} beyond last index ${lastIndex()}`);
  return { ops, hardState, snapshot, kept, appended, dropped, retired };
}

/** The Raft log's LevelDB directory in a node's data dir. */
export function raftLogDir(dataDir: string): string {
  return join(dataDir, 'raft');
}

/**
 * Opens the database at `location`, creating it only where there is nothing yet: LevelDB would otherwise answer a
 * lost or unreadable CURRENT with a new, empty database and delete the old files as obsolete.
 */
async function openDb(location: string): Promise<Db> {
  const isNew = !existsSync(location) || readdirSync(location).length === 0;
  // The log is written once and read back rarely; what is read stays mapped while its table is open.
  const db: Db = new ClassicLevel<Buffer, Buffer>(location, {
    keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: isNew, maxOpenFiles: openFilesFloor,
  });
  try {
    await db.open();
  } catch (err) {
    throw levelError(err, location, 'cannot be opened');
  }
  return db;
}

/**
 * classic-level reports damaged files with LEVEL_* codes (LEVEL_DATABASE_NOT_OPEN with a LEVEL_CORRUPTION cause,
 * LEVEL_CORRUPTION, LEVEL_IO_ERROR): as a LevelStorageError naming the database and LevelDB's own reason.
 */
function levelError(err: unknown, location: string, what: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('LEVEL_')) return err;
  const cause = (err as { cause?: unknown }).cause;
  if (code === 'LEVEL_LOCKED' || (cause as { code?: unknown } | undefined)?.code === 'LEVEL_LOCKED') {
    return new LevelStorageError(`${location}: in use by another process, which holds its LevelDB LOCK: is another node running with this DATA_DIR?`);
  }
  const reason = cause instanceof Error ? cause.message : (err as Error).message;
  return new LevelStorageError(`${location}: LevelDB database ${what}: ${reason}`);
}

/** Reads every record of the raft database, checking each decodes and that together they form one log. */
async function load(db: Db, location: string): Promise<LogState> {
  try {
    const records = await readRecords(db, location);
    // Keys of entries a compaction retired, left behind by a crash before they were deleted (see retireEntries).
    const retired = records.entries.findIndex((e) => e.index > records.snapshot.index);
    const leftovers = retired === -1 ? records.entries.length : retired;
    if (leftovers > 0) await clearEntries(db, 0, records.snapshot.index);
    return checkLog(location, { ...records, entries: records.entries.slice(leftovers) });
  } catch (err) {
    throw levelError(err, location, 'cannot be read');
  }
}

async function readRecords(db: Db, location: string): Promise<LogState> {
  let hardState: HardState = { term: 0, vote: null, commit: 0 };
  let snapshot = EMPTY_SNAPSHOT;
  const entries: Entry[] = [];
  for await (const [key, value] of db.iterator()) {
    const index = keys.entryIndex(key);
    if (index !== null) {
      const entry = decodeEntry(location, key, value);
      if (entry.index !== index) throw new LevelStorageError(`${location}: entry ${index} holds index ${entry.index}`);
      entries.push(entry);
    } else if (key.equals(keys.hardState)) {
      hardState = decodeHardState(location, key, value);
    } else if (key.equals(keys.snapshot)) {
      snapshot = decodeSnapshotMeta(location, key, value);
    } else {
      throw new LevelStorageError(`${location}: unknown ${keys.describe(key)}`);
    }
  }
  return { hardState, snapshot, entries };
}

/**
 * The records must form one log: contiguous after the snapshot, terms never decreasing (Log Matching: a log is
 * a run of leaders' terms), the commit within it. A damaged record that still decodes often breaks one of these.
 */
function checkLog(location: string, { hardState, snapshot, entries }: LogState): LogState {
  let previousTerm = snapshot.term;
  entries.forEach((entry, i) => {
    const expected = snapshot.index + 1 + i;
    if (entry.index !== expected) {
      throw new LevelStorageError(`${location}: entry ${entry.index} found where entry ${expected} belongs`
        + ` (the log after snapshot ${snapshot.index} must be contiguous)`);
    }
    if (entry.term < previousTerm) {
      throw new LevelStorageError(`${location}: entry ${entry.index} has term ${entry.term}, below the term ${previousTerm} before it`);
    }
    previousTerm = entry.term;
  });
  const lastIndex = snapshot.index + entries.length;
  if (hardState.commit > lastIndex) {
    throw new LevelStorageError(`${location}: hard state commit ${hardState.commit} is beyond the last entry ${lastIndex}`);
  }
  return { hardState, snapshot, entries };
}

async function directoryBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir)) {
    try {
      bytes += (await stat(join(dir, name))).size;
    } catch (err) {
      // ENOENT: LevelDB's background compaction removed the file between readdir and stat; it no longer counts.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return bytes;
}

/**
 * Raft's durable state under one directory: `<dir>/raft` (LevelDB: hard state, snapshot metadata and
 * the log after the snapshot) and `<dir>/snapshots` (the current snapshot's bytes, opaque here).
 * Writes come one at a time, one Ready each; reads are synchronous, from memory and the open snapshot file.
 */
export class LevelStorage implements Storage {
  readonly #db: Db;
  readonly #location: string;
  readonly #files: SnapshotFiles;
  /** Checks a received snapshot file whole; throws if the state machine could not restore from it. */
  readonly #checkSnapshot: (path: string) => Promise<void>;
  readonly #state: LogState;
  /** Normal entries up to here hold `droppedData` in memory. */
  #droppedThrough: number;
  /** The applied index last reported, at least #droppedThrough. */
  #releasedThrough: number;
  /** entryBytes of the entries in (#droppedThrough, #releasedThrough], whose data is still in memory. */
  #keptBytes = 0;
  /** While a write that deletes entry keys (compaction, install) is in flight: the last index it may delete. */
  #deletingThrough = 0;
  #writing = false;
  #failed = false;
  /** The clears of retired entry keys, one after another; the first failure fails every later write. */
  #clearing: Promise<void> = Promise.resolve();
  #clearError: Error | null = null;
  #closed = false;

  private constructor(db: Db, location: string, files: SnapshotFiles, state: LogState, checkSnapshot: (path: string) => Promise<void>) {
    this.#db = db;
    this.#checkSnapshot = checkSnapshot;
    this.#location = location;
    this.#files = files;
    this.#state = state;
    this.#droppedThrough = state.snapshot.index;
    this.#releasedThrough = state.snapshot.index;
  }

  /**
   * Opens (creating if needed) the storage in `dir`, and refuses, with a LevelStorageError, data it cannot trust.
   * `checkSnapshot` vets a received snapshot before it replaces anything (the default takes any file).
   */
  static async open(dir: string, checkSnapshot: (path: string) => Promise<void> = async () => {}): Promise<LevelStorage> {
    const location = raftLogDir(dir);
    await mkdir(dir, { recursive: true });
    const db = await openDb(location);
    try {
      const state = await load(db, location);
      const files = await SnapshotFiles.open(join(dir, 'snapshots'));
      const path = state.snapshot.index === 0 ? null : files.pathFor(state.snapshot.index, state.snapshot.term);
      if (path !== null && !existsSync(path)) {
        throw new LevelStorageError(`${path}: snapshot file missing (${location} records snapshot ${state.snapshot.index}`
          + ` in term ${state.snapshot.term})`);
      }
      files.serve(path);
      await files.removeAllBut(path);
      return new LevelStorage(db, location, files, state, checkSnapshot);
    } catch (err) {
      // Any failure to load (LevelStorageError or I/O) leaves nothing open behind it; the caller gets the error as is.
      await db.close();
      throw err;
    }
  }

  /** A new cluster's first entries, as MemoryStorage.bootstrap: one committed add_voter entry per voter in term 1. */
  async bootstrap(voters: readonly string[]): Promise<void> {
    assert.ok(this.isEmpty(), `bootstrap of ${this.#location}, which is not empty`);
    await this.write({
      hardState: { term: 1, vote: null, commit: voters.length },
      entries: voters.map((nodeId, i) => ({
        type: 'conf_change', term: 1, index: i + 1, change: { type: 'add_voter', nodeId, context: '' },
      })),
      snapshotChunks: [], snapshot: null, compaction: null, sync: true,
    });
  }

  /** True for a storage nothing was ever written to: the node must bootstrap or join. */
  isEmpty(): boolean {
    const s = this.#state;
    return s.hardState.term === 0 && s.hardState.vote === null && s.hardState.commit === 0 && s.snapshot.index === 0
      && s.entries.length === 0;
  }

  hardState(): HardState {
    return this.#state.hardState;
  }

  snapshot(): SnapshotMeta {
    return this.#state.snapshot;
  }

  firstIndex(): number {
    return this.#state.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.#state.snapshot.index + this.#state.entries.length;
  }

  term(index: number): number | null {
    const snapshot = this.#state.snapshot;
    if (index === snapshot.index) return snapshot.term;
    if (index < snapshot.index || index > this.lastIndex()) return null;
    return this.#at(index).term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert.ok(lo >= this.firstIndex() && lo <= hi && hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) out of range`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.#entryAt(i);
      // Fewer entries than asked for only while a compaction of them is being written: the core sees it next time.
      if (entry === null) break;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  snapshotChunk(offset: number, maxBytes: number): { data: Uint8Array; done: boolean } | null {
    assert.ok(!this.#closed, `snapshot read from ${this.#location} after close`);
    return this.#files.read(offset, maxBytes);
  }

  /** Where the bytes of snapshot index/term live; the application writes a compaction's snapshot here first. */
  snapshotPathFor(index: number, term: number): string {
    return this.#files.pathFor(index, term);
  }

  /** The current snapshot's bytes, which the state machine restores from after an install; null for the empty snapshot. */
  snapshotPath(): string | null {
    const snapshot = this.#state.snapshot;
    return snapshot.index === 0 ? null : this.#files.pathFor(snapshot.index, snapshot.term);
  }

  /**
   * LevelDB's own estimate of its memory for the log: the block cache's charge and the memtables, not the index
   * blocks of open tables. Null unless open (getProperty throws then), or if LevelDB does not know the property
   * (it answers ""). The state machine's store has the same (raft/ imports nothing from outside it).
   */
  levelDbMemoryBytes(): number | null {
    if (this.#db.status !== 'open') return null;
    const bytes = this.#db.getProperty('leveldb.approximate-memory-usage');
    return bytes === '' ? null : Number(bytes);
  }

  /** Bytes on disk (database files and the current snapshot), for metrics. */
  async approximateBytes(): Promise<number> {
    return (await directoryBytes(this.#location)) + this.#files.size();
  }

  /**
   * Makes `w` durable as one LevelDB batch, so a crash keeps all of it or none, then updates memory.
   * Snapshot files are written before the batch that points at them and removed only after it.
   * One write at a time: a second one while the first is pending is a bug in the caller.
   */
  async write(w: StorageWrite): Promise<void> {
    assert.ok(!this.#closed, `write to ${this.#location} after close`);
    assert.ok(!this.#failed, `write to ${this.#location} after a failed write (disk and memory may disagree)`);
    if (this.#clearError !== null) throw this.#clearError;
    assert.ok(!this.#writing, `concurrent write to ${this.#location}: one write at a time`);
    this.#writing = true;
    try {
      await this.#write(w);
    } catch (err) {
      // Whatever failed, the files may be ahead of memory now; no later write may build on that.
      this.#failed = true;
      throw err;
    } finally {
      this.#writing = false;
    }
  }

  async close(): Promise<void> {
    assert.ok(!this.#writing, `close of ${this.#location} during a write`);
    if (this.#closed) return;
    this.#closed = true;
    await this.#clearing;
    await this.#files.close();
    await this.#db.close();
  }

  async #write(w: StorageWrite): Promise<void> {
    const staged = planStaging(this.#files.staged(), w.snapshotChunks);
    if (w.snapshot !== null) assert.ok(isStaged(staged, w.snapshot), `install of snapshot ${w.snapshot.index} that was not staged`);
    const plan = planWrite(this.#state, w);
    const compactionPath = w.compaction === null || w.compaction.index === 0 ? null
      : this.snapshotPathFor(w.compaction.index, w.compaction.term);
    assert.ok(compactionPath === null || existsSync(compactionPath),
      `compaction to ${w.compaction?.index}: snapshot file ${compactionPath} was not written`);

    await this.#files.stage(w.snapshotChunks);
    if (w.snapshot !== null) {
      // Before anything changes: once promoted, the log is compacted behind it and the state machine cleared for
      // it, so a damaged or forged file would cost every entry and job this node held, and its next start too.
      const staged = this.#files.stagedPath();
      assert.ok(staged !== null, `install of snapshot ${w.snapshot.index} that was not staged`);
      await this.#checkSnapshot(staged);
      await this.#files.promote(w.snapshot);
    }
    if (compactionPath !== null) await this.#files.makeDurable(compactionPath);
    const snapshotChanged = w.snapshot !== null || w.compaction !== null;
    const s = this.#state;
    assert.ok(plan.kept >= this.#droppedThrough - s.snapshot.index || w.snapshot !== null,
      `a write to ${this.#location} truncates applied entries (through ${this.#droppedThrough})`);
    this.#deletingThrough = snapshotChanged ? this.lastIndex() : 0;
    // A batch that retires a snapshot file is always fsynced: the file goes right after it, and a lost
    // batch would leave metadata pointing at a deleted file. (The core's mustSync does not count compaction.)
    if (plan.ops.length > 0) await writeBatch(this.#db, plan.ops, { sync: w.sync || snapshotChanged });

    s.hardState = plan.hardState;
    s.snapshot = plan.snapshot;
    s.entries.length = plan.kept;
    for (const entry of plan.appended) s.entries.push(ownedEntry(entry));
    if (plan.dropped > 0) s.entries.splice(0, plan.dropped);
    this.#deletingThrough = 0;
    if (plan.retired !== null) this.#retire(plan.retired.after, plan.retired.through);
    if (snapshotChanged) {
      this.#afterSnapshotChange();
      this.#files.serve(this.snapshotPath());
      await this.#files.removeOlderThan(s.snapshot.index);
    }
  }

  /**
   * The state machine applied `index`: the data of entries up to it leaves memory, but for the newest
   * appliedBytesKept of it. They stay on disk until a compaction, and are read back when a follower needs them.
   */
  releaseAppliedThrough(index: number): void {
    const s = this.#state;
    const through = Math.min(index, this.lastIndex());
    for (let i = this.#releasedThrough + 1; i <= through; i++) this.#keptBytes += entryBytes(this.#at(i));
    this.#releasedThrough = Math.max(this.#releasedThrough, through);
    // Oldest first, so what stays is the newest applied entries within the budget (amortized O(1) an entry).
    while (this.#keptBytes > appliedBytesKept && this.#droppedThrough < this.#releasedThrough) {
      const i = ++this.#droppedThrough;
      const entry = this.#at(i);
      this.#keptBytes -= entryBytes(entry);
      if (entry.type === 'normal') s.entries[i - s.snapshot.index - 1] = { ...entry, data: droppedData };
    }
  }

  /** Clears retired entry keys behind the writes; a failure there is a failed disk, so it fails the next write. */
  #retire(after: number, through: number): void {
    this.#clearing = this.#clearing.then(() => retireEntries(this.#db, after, through)).catch((err: unknown) => {
      const failed = levelError(err, this.#location, 'cannot delete the entries a compaction retired');
      this.#clearError ??= failed instanceof Error ? failed : new Error(String(failed));
    });
  }

  /** Resolves once the keys of every compaction so far are cleared (tests; close waits for it too). */
  retiredCleared(): Promise<void> {
    return this.#clearing;
  }

  /** A compaction or install removed entries from the front: the release bookkeeping starts after the snapshot. */
  #afterSnapshotChange(): void {
    const floor = this.#state.snapshot.index;
    this.#droppedThrough = Math.min(Math.max(this.#droppedThrough, floor), this.lastIndex());
    this.#releasedThrough = Math.min(Math.max(this.#releasedThrough, this.#droppedThrough), this.lastIndex());
    this.#keptBytes = 0;
    for (let i = this.#droppedThrough + 1; i <= this.#releasedThrough; i++) this.#keptBytes += entryBytes(this.#at(i));
  }

  /** Entry data held in memory, for metrics. */
  heldEntryBytes(): number {
    const entries = this.#state.entries;
    let bytes = 0;
    // Entries through #droppedThrough hold droppedData: only those after it can hold any.
    for (let i = Math.max(0, this.#droppedThrough - this.#state.snapshot.index); i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.type === 'normal') bytes += entry.data.byteLength;
    }
    return bytes;
  }

  /** The entry at `index`, read back from the database if its data left memory; null if a write in flight deletes it. */
  #entryAt(index: number): Entry | null {
    const entry = this.#at(index);
    if (entry.type !== 'normal' || entry.data !== droppedData) return entry;
    const key = keys.entry(index);
    const raw = this.#db.getSync(key);
    if (raw === undefined) {
      assert.ok(index <= this.#deletingThrough, `entry ${index} is missing from ${this.#location}`);
      return null;
    }
    const read = decodeEntryAlone(this.#location, key, raw);
    assert.ok(read.index === index && read.term === entry.term,
      `entry ${index} of term ${entry.term} read back from ${this.#location} as entry ${read.index} of term ${read.term}`);
    return read;
  }

  #at(index: number): Entry {
    const entry = this.#state.entries[index - this.#state.snapshot.index - 1];
    assert.ok(entry !== undefined, `no entry at ${index}`);
    return entry;
  }
}
