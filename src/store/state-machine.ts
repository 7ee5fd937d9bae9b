// The replicated state machine on LevelDB: applies committed entries, one synced-order batch each, with last_applied.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { decodeCommand } from '../jobs/codec.js';
import { applyCommand } from './apply-command.js';
import { BatchView, type StoreChanges } from './batch-view.js';
import { appliedKey, firingPausedKey, jobCountKey, memberKey, memberPrefix, prefixEnd } from './keys.js';
import { readSnapshotFile, writeSnapshotFile } from './snapshot.js';

/** The entry shapes the store applies; structurally the Raft core's entries, which the store does not import. */
export type AppliedEntry =
  | { readonly type: 'normal'; readonly index: number; readonly term: number; readonly data: Uint8Array }
  | {
    readonly type: 'conf_change'; readonly index: number; readonly term: number;
    readonly change: { readonly type: string; readonly nodeId: string; readonly context: string };
  };

export type Db = ClassicLevel<string, Uint8Array>;

export type { StoreChanges } from './batch-view.js';

export const packr = new Packr({ useRecords: false, moreTypes: false });

export class StateMachine {
  readonly #db: Db;
  #applied: { index: number; term: number };
  #jobCount: number;
  readonly #members = new Map<string, string>();
  #firingPaused = false;
  readonly #changeListeners: ((changes: StoreChanges) => void)[] = [];

  private constructor(db: Db, applied: { index: number; term: number }, jobCount: number) {
    this.#db = db;
    this.#applied = applied;
    this.#jobCount = jobCount;
  }

  /** Opens `<dataDir>/state`; a value that does not decode stops the node with the key's name. */
  static async open(dataDir: string): Promise<StateMachine> {
    const dir = join(dataDir, 'state');
    await mkdir(dir, { recursive: true });
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    const applied = decodeMeta(db, appliedKey, { index: 0, term: 0 }, dir) as { index: number; term: number };
    assert.ok(Number.isSafeInteger(applied.index) && applied.index >= 0, `${dir}: ${appliedKey} is not an index`);
    const jobCount = decodeMeta(db, jobCountKey, 0, dir) as number;
    const sm = new StateMachine(db, applied, jobCount);
    sm.#firingPaused = decodeMeta(db, firingPausedKey, false, dir) === true;
    await sm.#loadMembers();
    return sm;
  }

  get db(): Db {
    return this.#db;
  }

  appliedIndex(): number {
    return this.#applied.index;
  }

  jobCount(): number {
    return this.#jobCount;
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
   * leaves all of them or none. Unsynced: the Raft log, synced before commit, replays what is lost.
   */
  async apply(entries: readonly AppliedEntry[]): Promise<ReadonlyMap<number, unknown>> {
    const results = new Map<number, unknown>();
    if (entries.length === 0) return results;
    const view = new BatchView(this.#db);
    const members = new Map(this.#members);
    let jobCount = this.#jobCount;
    let last = this.#applied;
    for (const entry of entries) {
      assert.equal(entry.index, last.index + 1, `entry ${entry.index} applied after ${last.index}`);
      if (entry.type === 'conf_change') {
        applyMembership(view, members, entry.change);
      } else if (entry.data.byteLength > 0) {
        const outcome = await applyCommand(view, decodeCommand(entry.data), { jobCount });
        jobCount = outcome.jobCount;
        results.set(entry.index, outcome.result);
      }
      last = { index: entry.index, term: entry.term };
    }
    view.put(appliedKey, packr.pack(last));
    view.put(jobCountKey, packr.pack(jobCount));
    await this.#db.batch(view.ops());
    this.#applied = last;
    this.#jobCount = jobCount;
    this.#members.clear();
    for (const [id, address] of members) this.#members.set(id, address);
    if (view.changes.firingPaused !== null) this.#firingPaused = view.changes.firingPaused;
    if (view.changes.jobs.size > 0 || view.changes.queued.length > 0 || view.changes.firingPaused !== null) {
      for (const listener of this.#changeListeners) listener(view.changes);
    }
    return results;
  }

  /** Starts a snapshot at the current applied index: the iterator reads a point-in-time view taken now. */
  writeSnapshot(path: string): Promise<void> {
    const iterator = this.#db.iterator({ keyEncoding: 'utf8', valueEncoding: 'view' });
    async function* records(): AsyncGenerator<{ key: string; value: Uint8Array }> {
      try {
        for (;;) {
          const batch = await iterator.nextv(1000);
          if (batch.length === 0) return;
          for (const [key, value] of batch) yield { key, value };
        }
      } finally {
        await iterator.close();
      }
    }
    return writeSnapshotFile(path, records()).then(() => undefined);
  }

  /**
   * Replaces everything with the file's records. The applied index goes first, so a crash midway leaves
   * the store behind the log's snapshot and the node restores again at start.
   */
  async restore(path: string, meta: { readonly index: number; readonly term: number }): Promise<void> {
    await this.#db.del(appliedKey);
    this.#applied = { index: 0, term: 0 };
    await this.#db.clear();
    await readSnapshotFile(path, async (records) => {
      await this.#db.batch(records.filter((r) => r.key !== appliedKey)
        .map((r) => ({ type: 'put' as const, key: r.key, value: r.value })));
    });
    const applied = { index: meta.index, term: meta.term };
    await this.#db.put(appliedKey, packr.pack(applied), { sync: true });
    this.#applied = applied;
    this.#jobCount = decodeMeta(this.#db, jobCountKey, 0, path) as number;
    this.#firingPaused = decodeMeta(this.#db, firingPausedKey, false, path) === true;
    await this.#loadMembers();
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  async #loadMembers(): Promise<void> {
    this.#members.clear();
    for await (const [key, value] of this.#db.iterator({ gte: memberPrefix, lt: prefixEnd(memberPrefix) })) {
      this.#members.set(key.slice(memberPrefix.length), packr.unpack(value) as string);
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

function decodeMeta(db: Db, key: string, fallback: unknown, where: string): unknown {
  const raw = db.getSync(key);
  if (raw === undefined) return fallback;
  try {
    return packr.unpack(raw);
  } catch (err) {
    throw new Error(`${where}: key ${key} does not decode: ${(err as Error).message}`);
  }
}
