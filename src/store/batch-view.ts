// Reads through the writes of one apply batch, so commands later in a batch see what earlier ones changed.
import type { ClassicLevel } from 'classic-level';
import type { Job } from '../jobs/job.js';

type Db = ClassicLevel<string, Uint8Array>;

/** What one apply batch changed that the scheduler must hear about once the batch is durable. */
export interface StoreChanges {
  /** Jobs written or removed, as `tenant/id` → the job as this batch left it (null: removed). */
  readonly jobs: Map<string, { readonly tenant: string; readonly id: string; readonly job: Job | null }>;
  /** Manual fires (trigger, redrive) queued for the scheduler. */
  readonly queued: { readonly tenant: string; readonly id: string; readonly atMs: number }[];
  /** The new cluster-wide firing switch, when it changed. */
  firingPaused: boolean | null;
}

/** Longest stretch of applying without yielding to the event loop. */
const applySliceMs = 3;

export type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** Pending puts and deletes over the database; `ops()` is the one batch that makes them durable together. */
export class BatchView {
  readonly #db: Db;
  readonly #pending = new Map<string, Uint8Array | null>();
  readonly changes: StoreChanges = { jobs: new Map(), queued: [], firingPaused: null };

  #sliceStartedAt = performance.now();

  constructor(db: Db) {
    this.#db = db;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    // Every command reads before it writes, so this is where a long apply (a 1,000-job batch, thousands of
    // fire events) lets the event loop run: due webhooks and client requests wait one slice at most.
    if (performance.now() - this.#sliceStartedAt > applySliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      this.#sliceStartedAt = performance.now();
    }
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending ?? undefined;
    // Synchronous: a point read from LevelDB's cache takes microseconds, while an async get is a thread-pool
    // round trip; with async reads, thousands of fire events a second made every apply wait on the pool.
    return this.#db.getSync(key);
  }

  put(key: string, value: Uint8Array): void {
    this.#pending.set(key, value);
  }

  del(key: string): void {
    this.#pending.set(key, null);
  }

  /** Every key under `prefix` as this batch sees it (stored keys, minus deleted, plus put), sorted. */
  async keysWithPrefix(prefix: string, end: string): Promise<string[]> {
    const keys = new Set<string>();
    for await (const key of this.#db.keys({ gte: prefix, lt: end })) keys.add(key);
    for (const [key, value] of this.#pending) {
      if (!key.startsWith(prefix)) continue;
      if (value === null) keys.delete(key);
      else keys.add(key);
    }
    return [...keys].sort();
  }

  get size(): number {
    return this.#pending.size;
  }

  ops(): BatchOp[] {
    return [...this.#pending].map(([key, value]): BatchOp => (value === null ? { type: 'del', key } : { type: 'put', key, value }));
  }
}
