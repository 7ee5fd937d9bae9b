// The replicated state machine on LevelDB: applies committed entries, one synced-order batch each, with last_applied.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { decodeCommand } from '../jobs/codec.js';
import type { CommandResult } from '../jobs/commands.js';
import { applyCommand } from './apply-command.js';
import { decodeJob } from './job-codec.js';
import { StoreCorruptError } from './sealed-record.js';
import { digestRecords, type StateDigest } from './state-digest.js';
import { type BatchOp, BatchView, type StoreChanges } from './batch-view.js';
import { JobKeyTally } from './job-key-tally.js';
import {
  appliedKey, firingPausedKey, jobCountKey, jobKey, jobKeysDigestKey, jobPrefix, memberKey, memberPrefix, nextFireKey,
  nextFirePrefix, parseNextFireKey, prefixEnd,
} from './keys.js';
import { checkSnapshotFile, readSnapshotFile, SnapshotFileError, writeSnapshotFile } from './snapshot.js';

/** The entry shapes the store applies; structurally the Raft core's entries, which the store does not import. */
export type AppliedEntry =
  | { readonly type: 'normal'; readonly index: number; readonly term: number; readonly data: Uint8Array }
  | {
    readonly type: 'conf_change'; readonly index: number; readonly term: number;
    readonly change: { readonly type: string; readonly nodeId: string; readonly context: string };
  };

export type Db = ClassicLevel<string, Uint8Array>;

/** What the check after start read: every job record, and the next-fire index against them. */
export interface RecordCheck {
  readonly records: number;
  /** Index keys that no job's next run accounts for (harmless: the scheduler skips them). */
  readonly staleIndexEntries: number;
}

export type { StoreChanges } from './batch-view.js';

const snapshotBatchRecords = 1000;
/**
 * Bytes a whole-store scan (snapshot, count, check) reads per batch. classic-level stops a batch at 16 KiB by
 * default, about 38 job records: at 1,000,000 jobs the check made 28,000 round trips to LevelDB's threads, and
 * counting and checking flat out took 2.1 and 4.7 s instead of 1.7 and 3.9 s (measured).
 */
const scanBatchBytes = 1024 * 1024;
/** Keys read at once when counting job records at start. */
const countBatchKeys = 8192;
/** Job records read at once by the check after start: about 5 ms of the event loop each, to turn into values and decode. */
const verifyBatchRecords = 1024;
/** Records hashed per batch of a state digest, between pauses. */
const digestBatchRecords = 1024;
/** State digests a node keeps for members to ask about: the newest check and a few before it. */
const digestsKept = 8;
/**
 * LevelDB's floor for max_open_files, which it raises any smaller setting to: 64 tables in its cache (16 shards of
 * 4), 10 files of its own. Every table it holds open is mapped, and what a read touched stays in RSS until the table
 * leaves the cache: after a snapshot or a state check, up to 64 tables of the state (docs/ARCHITECTURE.md, Memory).
 */
const openFilesFloor = 74;

/** The state store's LevelDB directory in a node's data dir. */
export function stateDir(dataDir: string): string {
  return join(dataDir, 'state');
}

export const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * The state machine's database cannot be trusted; the node refuses to start and names it. Everything in it
 * comes from the Raft log, so the message says how to rebuild it.
 */
export class StateStoreError extends Error {
  readonly code = 'store_corrupt';

  constructor(location: string, what: string) {
    super(`${location}: ${what} (remove this directory to rebuild it from the Raft log and snapshot)`);
    this.name = 'StateStoreError';
  }
}

/**
 * The state's LevelDB LOCK is held by another process: most likely another node started with the same DATA_DIR.
 * Its files are live, so the advice of a StateStoreError (remove the directory) would damage that node.
 */
export class StoreInUseError extends Error {
  readonly code = 'store_in_use';

  constructor(location: string) {
    super(`${location}: in use by another process, which holds its LevelDB LOCK: is another node running with this DATA_DIR?`);
    this.name = 'StoreInUseError';
  }
}

export class StateMachine {
  readonly #db: Db;
  readonly #location: string;
  #closing = false;
  /** What the check after start found, once it has read everything. */
  #recordCheck: RecordCheck | null = null;
  #applied: { index: number; term: number };
  /** The job records as of `#applied`: their count and their keys' digest. */
  #jobs: JobKeyTally;
  readonly #members = new Map<string, string>();
  #firingPaused = false;
  readonly #changeListeners: ((changes: StoreChanges) => void)[] = [];
  /** Digests of the state at the indexes of the last few `check_state`s this node applied. */
  readonly #digests = new Map<number, Promise<StateDigest | null>>();
  readonly #digestListeners: ((index: number, digest: Promise<StateDigest | null>) => void)[] = [];
  readonly #scanPause: () => Promise<void>;

  private constructor(db: Db, location: string, applied: { index: number; term: number }, jobs: JobKeyTally,
    scanPause: () => Promise<void>) {
    this.#db = db;
    this.#location = location;
    this.#applied = applied;
    this.#jobs = jobs;
    this.#scanPause = scanPause;
  }

  /**
   * Opens `<dataDir>/state`, refusing with a StateStoreError one that LevelDB cannot open or read, a value that
   * does not decode, or job records whose keys do not add up to the stored count and digest. LevelDB verifies no
   * checksum on its own here (classic-level has no paranoid_checks), and drops a damaged log record silently; the
   * count shows such a loss, the digest a job key whose bytes changed. Counting reads keys only;
   * `verifyJobRecords` decodes every record once the node runs. A store written before the digest existed gets it
   * now, from the keys as they are. `scanPause` runs between the batches of a state digest (the store keeps no timers).
   */
  static async open(dataDir: string, random: (() => number) | null = null,
    scanPause: () => Promise<void> = async () => {}): Promise<StateMachine> {
    const dir = stateDir(dataDir);
    await mkdir(dataDir, { recursive: true });
    const db = await openDb(dir, random === null ? defaultWriteBufferBytes : stateWriteBufferBytes(random));
    try {
      const applied = appliedOf(decodeMeta(db, appliedKey, { index: 0, term: 0 }, dir), dir);
      const jobCount = decodeMeta(db, jobCountKey, 0, dir);
      if (!Number.isSafeInteger(jobCount) || (jobCount as number) < 0) throw new StateStoreError(dir, `${jobCountKey} is not a count`);
      const records = await countJobRecords(db, dir);
      if (records.count !== jobCount) throw new StateStoreError(dir, `holds ${records.count} job records where ${jobCountKey} says ${String(jobCount)}`);
      const digest = decodeMeta(db, jobKeysDigestKey, null, dir);
      if (digest === null) {
        await db.put(jobKeysDigestKey, packr.pack(records.digest));
      } else if (!JobKeyTally.isDigest(digest)) {
        throw new StateStoreError(dir, `${jobKeysDigestKey} is not a digest`);
      } else if (digest !== records.digest) {
        throw new StateStoreError(dir, `its job record keys do not match ${jobKeysDigestKey} (a key changed: a job would go missing)`);
      }
      const sm = new StateMachine(db, dir, applied, records, scanPause);
      sm.#firingPaused = decodeMeta(db, firingPausedKey, false, dir) === true;
      await sm.#loadMembers(dir);
      return sm;
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  get db(): Db {
    return this.#db;
  }

  /** The store's directory, which a refusal of its data names. */
  get location(): string {
    return this.#location;
  }

  appliedIndex(): number {
    return this.#applied.index;
  }

  jobCount(): number {
    return this.#jobs.count;
  }

  /** True while all firing is paused, cluster-wide (`set_firing`). */
  firingPaused(): boolean {
    return this.#firingPaused;
  }

  /** Called after each apply batch is written, with what it changed; the scheduler keeps its heap current so. */
  onChanges(listener: (changes: StoreChanges) => void): void {
    this.#changeListeners.push(listener);
  }

  memberAddresses(): ReadonlyMap<string, string> {
    return this.#members;
  }

  /**
   * Applies entries in order in one LevelDB batch that also records the last applied index, so a crash
   * leaves all of them or none. Unsynced: the Raft log, synced before commit, replays what is lost. A `check_state`
   * ends its batch, so that the state it digests is exactly the state at its index.
   */
  async apply(entries: readonly AppliedEntry[]): Promise<ReadonlyMap<number, unknown>> {
    const results = new Map<number, unknown>();
    for (let from = 0; from < entries.length;) from = await this.#applyThroughCheck(entries, from, results);
    return results;
  }

  /**
   * The digest of the state at `index`, where this node applied a `check_state`: null when it did not (it restored a
   * snapshot past it, or restarted since), or the digest is an older one than the last few. Resolves null when the
   * store closes first; rejects with a StateStoreError when a record does not decode.
   */
  stateDigest(index: number): Promise<StateDigest | null> | null {
    return this.#digests.get(index) ?? null;
  }

  /** Called with each digest this node starts, as it applies a `check_state`. */
  onStateDigest(listener: (index: number, digest: Promise<StateDigest | null>) => void): void {
    this.#digestListeners.push(listener);
  }

  /** Applies entries from `from` in one batch, up to the end or through the first `check_state`; returns where it stopped. */
  async #applyThroughCheck(entries: readonly AppliedEntry[], from: number, results: Map<number, unknown>): Promise<number> {
    const view = new BatchView(this.#db);
    const members = new Map(this.#members);
    const jobs = this.#jobs.copy();
    let last = this.#applied;
    let checkIndex: number | null = null;
    let next = from;
    while (next < entries.length && checkIndex === null) {
      const entry = entries[next++]!;
      assert.equal(entry.index, last.index + 1, `entry ${entry.index} applied after ${last.index}`);
      if (entry.type === 'conf_change') {
        applyMembership(view, members, entry.change);
      } else if (entry.data.byteLength > 0) {
        const command = decodeCommand(entry.data);
        if (command.type === 'check_state') {
          checkIndex = entry.index;
          results.set(entry.index, { type: 'state_check', index: entry.index } satisfies CommandResult);
        } else {
          const result = await applyCommand(view, command, jobs).catch((err: unknown) => {
            // A stored record this command reads does not decode: the whole store is refused, by its directory.
            throw err instanceof StoreCorruptError ? new StateStoreError(this.#location, err.message) : err;
          });
          results.set(entry.index, result);
        }
      }
      last = { index: entry.index, term: entry.term };
    }
    view.put(appliedKey, packr.pack(last));
    view.put(jobCountKey, packr.pack(jobs.count));
    view.put(jobKeysDigestKey, packr.pack(jobs.digest));
    await view.encodeAll();
    await writeBatch(this.#db, view.ops());
    this.#applied = last;
    this.#jobs = jobs;
    this.#members.clear();
    for (const [id, address] of members) this.#members.set(id, address);
    // At once, before anything else can write: the iterator's view is the state as this batch left it.
    if (checkIndex !== null) this.#startDigest(checkIndex);
    if (view.changes.firingPaused !== null) this.#firingPaused = view.changes.firingPaused;
    if (view.changes.jobs.size > 0 || view.changes.queued.length > 0 || view.changes.firingPaused !== null) {
      for (const listener of this.#changeListeners) listener(view.changes);
    }
    return next;
  }

  #startDigest(index: number): void {
    const iterator = this.#db.iterator({ keyEncoding: 'utf8', valueEncoding: 'view', highWaterMarkBytes: scanBatchBytes });
    const isNodeLocal = (key: string): boolean => key.startsWith(memberPrefix);
    const digest = digestRecords(prefetchedBatches(iterator, digestBatchRecords), isNodeLocal, this.#scanPause).catch((err: unknown) => {
      if (this.#closing) return null;
      if (err instanceof StoreCorruptError) throw new StateStoreError(this.#location, err.message);
      throw levelError(err, this.#location, 'cannot be read');
    });
    // Whoever asks for the digest sees the failure; the store itself must not leave it unhandled.
    digest.catch(() => {});
    this.#digests.set(index, digest);
    for (const old of this.#digests.keys()) if (this.#digests.size > digestsKept) this.#digests.delete(old);
    for (const listener of this.#digestListeners) listener(index, digest);
  }

  /** Starts a snapshot at the current applied index: the iterator reads a point-in-time view taken now. */
  writeSnapshot(path: string): Promise<void> {
    const batches = prefetchedBatches(this.#db.iterator({ keyEncoding: 'utf8', valueEncoding: 'view', highWaterMarkBytes: scanBatchBytes }), snapshotBatchRecords);
    return writeSnapshotFile(path, batches).then(() => undefined);
  }

  /** Throws a SnapshotFileError unless the whole file is sound, before a received snapshot replaces anything. */
  async checkSnapshot(path: string): Promise<void> {
    await checkSnapshotFile(path);
  }

  /**
   * Replaces everything with the file's records. The applied index goes first, so a crash midway leaves
   * the store behind the log's snapshot and the node restores again at start. The job records must add up to the
   * file's count and key digest (a snapshot from a build before the digest gets it here).
   */
  async restore(path: string, meta: { readonly index: number; readonly term: number }): Promise<void> {
    await this.#db.del(appliedKey);
    this.#applied = { index: 0, term: 0 };
    await this.#db.clear();
    const jobs = JobKeyTally.empty();
    await readSnapshotFile(path, async (records) => {
      for (const { key } of records) if (key.startsWith(jobPrefix)) jobs.add(key);
      await writeBatch(this.#db, records.filter((r) => r.key !== appliedKey)
        .map((r) => ({ type: 'put' as const, key: r.key, value: r.value })));
    });
    const count = decodeMeta(this.#db, jobCountKey, 0, path);
    if (count !== jobs.count) throw new SnapshotFileError(path, `holds ${jobs.count} job records where ${jobCountKey} says ${String(count)}`);
    const digest = decodeMeta(this.#db, jobKeysDigestKey, null, path);
    if (digest === null) await this.#db.put(jobKeysDigestKey, packr.pack(jobs.digest));
    else if (digest !== jobs.digest) throw new SnapshotFileError(path, `its job record keys do not match ${jobKeysDigestKey}`);
    const applied = { index: meta.index, term: meta.term };
    await this.#db.put(appliedKey, packr.pack(applied), { sync: true });
    this.#applied = applied;
    this.#jobs = jobs;
    this.#firingPaused = decodeMeta(this.#db, firingPausedKey, false, path) === true;
    await this.#loadMembers(path);
  }

  /**
   * Reads and decodes every job record once, so a damaged one stops the node now rather than at the read that
   * meets it: rejects with a StateStoreError naming the first. It runs after start, between the node's other work;
   * `pause` runs after each batch of records (the node waits about as long as a batch takes to turn into values and
   * decode, so the check takes half of the main thread at most and a node catching up or restoring a snapshot
   * beside it is slowed less: at 1,000,000 jobs about 10 s, where it took 4 s of every start when it ran before
   * the node served). The store itself keeps no timers. Resolves null if the store closes meanwhile.
   *
   * It also reconciles the next-fire index with the jobs, on one point-in-time view of both: every job with a next
   * run must have its index key, or the scheduler never finds it (a fire lost without a trace). A job missing from
   * the index stops the node like a damaged record; an index key no job accounts for is only counted, since the
   * scheduler skips it.
   */
  async verifyJobRecords(pause: () => Promise<void> = async () => {}): Promise<RecordCheck | null> {
    let records = 0;
    const expected = JobKeyTally.empty();
    const indexed = JobKeyTally.empty();
    let snapshot: ReturnType<Db['snapshot']> | null = null;
    try {
      snapshot = this.#db.snapshot();
      const iterator = this.#db.iterator({ gte: jobPrefix, lt: prefixEnd(jobPrefix), highWaterMarkBytes: scanBatchBytes, snapshot });
      for await (const batch of prefetchedBatches(iterator, verifyBatchRecords)) {
        if (this.#closing) return null;
        for (const [key, value] of batch) {
          const job = decodeJob(value, key);
          // A key whose bytes changed still holds its job's record: the record names where it belongs.
          if (key !== `${jobPrefix}${job.tenant}/${job.id}`) throw new StoreCorruptError(key, `holds job ${job.tenant}/${job.id}`);
          if (job.nextRunAtMs !== null) expected.add(nextFireKey(job.nextRunAtMs, job.tenant, job.id));
        }
        records += batch.length;
        await pause();
      }
      const keys = this.#db.keys({ gte: nextFirePrefix, lt: prefixEnd(nextFirePrefix), highWaterMarkBytes: scanBatchBytes, snapshot });
      for await (const batch of prefetchedBatches(keys, countBatchKeys)) {
        if (this.#closing) return null;
        for (const key of batch) indexed.add(key);
        await pause();
      }
      const stale = expected.count === indexed.count && expected.digest === indexed.digest
        ? 0 : await this.#reconcileIndex(snapshot, pause);
      if (this.#closing) return null;
      this.#recordCheck = { records, staleIndexEntries: stale };
      return this.#recordCheck;
    } catch (err) {
      if (this.#closing) return null;
      if (err instanceof StoreCorruptError) throw new StateStoreError(this.#location, err.message);
      throw levelError(err, this.#location, 'cannot be read');
    } finally {
      await snapshot?.close().catch(() => {});
    }
  }

  /**
   * Where the index and the jobs disagree, key by key (only then: it reads every job's index key and every index
   * key's job): throws for a job the index lacks, and returns the number of index keys no job accounts for.
   */
  async #reconcileIndex(snapshot: ReturnType<Db['snapshot']>, pause: () => Promise<void>): Promise<number> {
    const missing: string[] = [];
    const iterator = this.#db.iterator({ gte: jobPrefix, lt: prefixEnd(jobPrefix), highWaterMarkBytes: scanBatchBytes, snapshot });
    for await (const batch of prefetchedBatches(iterator, verifyBatchRecords)) {
      const wanted = batch.map(([key, value]) => {
        const job = decodeJob(value, key);
        return job.nextRunAtMs === null ? null : nextFireKey(job.nextRunAtMs, job.tenant, job.id);
      }).filter((key): key is string => key !== null);
      const found = await this.#db.getMany(wanted, { snapshot });
      wanted.forEach((key, i) => {
        if (found[i] === undefined) missing.push(key);
      });
      await pause();
    }
    if (missing.length > 0) {
      throw new StoreCorruptError(missing[0]!, `the next-fire index lacks ${missing.length} job(s) due to fire, this one among them: `
        + 'the scheduler would never fire them');
    }
    let stale = 0;
    const keys = this.#db.keys({ gte: nextFirePrefix, lt: prefixEnd(nextFirePrefix), highWaterMarkBytes: scanBatchBytes, snapshot });
    for await (const batch of prefetchedBatches(keys, verifyBatchRecords)) {
      const entries = batch.map((key) => {
        try {
          return parseNextFireKey(key);
        } catch (_err) {
          throw new StoreCorruptError(key, 'is no next-fire key');
        }
      });
      const records = await this.#db.getMany(entries.map((e) => jobKey(e.tenant, e.id)), { snapshot });
      entries.forEach((entry, i) => {
        const raw = records[i];
        const key = jobKey(entry.tenant, entry.id);
        if (raw === undefined || decodeJob(raw, key).nextRunAtMs !== entry.atMs) stale++;
      });
      await pause();
    }
    return stale;
  }

  /** Whether the check after start has read every job record yet (a damaged one stops the node instead). */
  recordCheck(): { readonly state: 'running' | 'passed'; readonly records: number | null; readonly staleIndexEntries: number | null } {
    const check = this.#recordCheck;
    return { state: check === null ? 'running' : 'passed', records: check?.records ?? null, staleIndexEntries: check?.staleIndexEntries ?? null };
  }

  /**
   * LevelDB's own estimate of its memory for the store: the block cache's charge and the memtables, not the index
   * blocks of open tables. Null unless open (getProperty throws then), or if LevelDB does not know the property
   * (it answers ""). LevelStorage has the same for the log (store/ may import only store/ and jobs/).
   */
  levelDbMemoryBytes(): number | null {
    if (this.#db.status !== 'open') return null;
    const bytes = this.#db.getProperty('leveldb.approximate-memory-usage');
    return bytes === '' ? null : Number(bytes);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#db.close();
  }

  async #loadMembers(where: string): Promise<void> {
    this.#members.clear();
    try {
      for await (const [key, value] of this.#db.iterator({ gte: memberPrefix, lt: prefixEnd(memberPrefix) })) {
        const address = decode(value, key, where);
        if (typeof address !== 'string') throw new StateStoreError(where, `key ${key} is not an address`);
        this.#members.set(key.slice(memberPrefix.length), address);
      }
    } catch (err) {
      throw levelError(err, where, 'cannot be read');
    }
  }
}

function applyMembership(view: BatchView, members: Map<string, string>,
  change: { readonly type: string; readonly nodeId: string; readonly context: string }): void {
  if (change.type === 'remove_node') {
    members.delete(change.nodeId);
    view.del(memberKey(change.nodeId));
  } else if (change.context !== '') {
    members.set(change.nodeId, change.context);
    view.put(memberKey(change.nodeId), packr.pack(change.context));
  }
}

/**
 * `db.batch` without abstract-level's wrapping of every operation (checks, encodings, hooks, events), which costs
 * 5 to 8 µs an operation, measured: the most of a 1,000-job apply after the jobs themselves. The keys are strings
 * and the values bytes already, as the database's encodings (utf8, view) would leave them. A closed database goes
 * the checked way, which refuses with an error where the raw call would never answer.
 */
function writeBatch(db: Db, ops: BatchOp[], options: { sync?: boolean } = {}): Promise<void> {
  if (db.status !== 'open') return db.batch(ops, options);
  return (db as unknown as { _batch(ops: BatchOp[], options: { sync?: boolean }): Promise<void> })._batch(ops, options);
}

const mib = 1024 * 1024;
/** LevelDB's own default, for a store opened without a draw (tools, tests). */
const defaultWriteBufferBytes = 4 * mib;

/**
 * The state store's write buffer, drawn at each open between 3 and 5 MiB (LevelDB's default is 4) from the
 * `random` the node passes in (the store itself draws nothing: its apply must stay deterministic). Every node
 * applies the same writes, so with equal buffers all three flushed and then compacted within milliseconds of each
 * other, and their three compaction threads took both cores from the leader's loop at once: the 20-30 ms spikes of
 * fire lateness at 1,000 fires/s. Buffers of different sizes drift apart, so the nodes compact at different times.
 */
function stateWriteBufferBytes(random: () => number): number {
  return Math.round(3 * mib + random() * 2 * mib);
}

/**
 * Opens the database at `dir`, creating it only where there is nothing yet: LevelDB would otherwise answer a lost
 * or unreadable CURRENT with a new, empty database and delete the old files as obsolete.
 */
async function openDb(dir: string, writeBufferSize: number): Promise<Db> {
  const isNew = !existsSync(dir) || readdirSync(dir).length === 0;
  const db: Db = new ClassicLevel<string, Uint8Array>(dir, {
    keyEncoding: 'utf8', valueEncoding: 'view', createIfMissing: isNew, maxOpenFiles: openFilesFloor,
    writeBufferSize,
  });
  try {
    await db.open();
  } catch (err) {
    throw levelError(err, dir, 'cannot be opened');
  }
  return db;
}

/**
 * classic-level's LEVEL_* errors (a damaged file, an I/O error) as a StateStoreError naming the database; a LOCK
 * another process holds as a StoreInUseError, which must not advise removing the directory.
 */
function levelError(err: unknown, dir: string, what: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('LEVEL_')) return err;
  const cause = (err as { cause?: unknown }).cause;
  if (code === 'LEVEL_LOCKED' || (cause as { code?: unknown } | undefined)?.code === 'LEVEL_LOCKED') return new StoreInUseError(dir);
  return new StateStoreError(dir, `LevelDB database ${what}: ${cause instanceof Error ? cause.message : (err as Error).message}`);
}

function appliedOf(value: unknown, dir: string): { index: number; term: number } {
  const { index, term } = (typeof value === 'object' && value !== null ? value : {}) as { index?: unknown; term?: unknown };
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || typeof term !== 'number' || !Number.isSafeInteger(term)) {
    throw new StateStoreError(dir, `${appliedKey} is not an index and a term`);
  }
  return { index, term };
}

/**
 * Counts the job records and digests their keys: each apply batch writes both, so a record LevelDB dropped shows
 * in the count and a job key whose bytes changed (LevelDB checks no block checksum on reads) in the digest. A
 * changed key out of place or twice is refused here already, naming it.
 */
export async function countJobRecords(db: Pick<Db, 'keys'>, dir: string): Promise<JobKeyTally> {
  const jobs = JobKeyTally.empty();
  let previous = '';
  try {
    for await (const keys of prefetchedBatches(db.keys({ gte: jobPrefix, lt: prefixEnd(jobPrefix), highWaterMarkBytes: scanBatchBytes }), countBatchKeys)) {
      for (const key of keys) {
        if (key <= previous) throw new StateStoreError(dir, `job record ${JSON.stringify(key)} is out of order after ${JSON.stringify(previous)}`);
        previous = key;
        jobs.add(key);
      }
    }
  } catch (err) {
    if (err instanceof StateStoreError) throw err;
    throw levelError(err, dir, 'cannot be read');
  }
  return jobs;
}

/**
 * An iterator's batches, each next read running in LevelDB's threads while the caller works on the one before (a
 * standalone start at 1,000,000 jobs went from 13.5 s to 11.3 s so, measured). Closes the iterator, also when the
 * caller stops early, once a read still in flight has ended.
 */
async function* prefetchedBatches<T>(
  iterator: { nextv(size: number): Promise<T[]>; close(): Promise<void> }, size: number,
): AsyncGenerator<T[]> {
  // A read that fails while the caller works (the store closed) is awaited only when the caller asks again.
  const prefetch = (): Promise<T[]> => {
    const read = iterator.nextv(size);
    read.catch(() => {});
    return read;
  };
  let next = prefetch();
  try {
    for (let batch = await next; batch.length > 0; batch = await next) {
      next = prefetch();
      yield batch;
    }
  } finally {
    await next.catch(() => []);
    await iterator.close();
  }
}

function decode(raw: Uint8Array, key: string, where: string): unknown {
  try {
    return packr.unpack(raw);
  } catch (err) {
    // msgpackr throws plain Errors for bytes that are not MessagePack.
    throw new StateStoreError(where, `key ${key} does not decode: ${(err as Error).message}`);
  }
}

function decodeMeta(db: Db, key: string, fallback: unknown, where: string): unknown {
  let raw: Uint8Array | undefined;
  try {
    raw = db.getSync(key);
  } catch (err) {
    throw levelError(err, where, 'cannot be read');
  }
  return raw === undefined ? fallback : decode(raw, key, where);
}
