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
  /** Bytes to put, null to delete, or a function that encodes them once, when first read or at `ops()`. */
  readonly #pending = new Map<string, Uint8Array | null | (() => Uint8Array)>();
  readonly changes: StoreChanges = { jobs: new Map(), queued: [], firingPaused: null };

  #sliceStartedAt = performance.now();

  constructor(db: Db) {
    this.#db = db;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    // Every command reads before it writes, so this is where a long apply (a 1,000-job batch, thousands of
    // fire events) lets the event loop run: due webhooks and client requests wait one slice at most.
    await this.#yieldIfLong();
    const pending = this.#pending.get(key);
    if (pending !== undefined) return this.#bytes(key, pending) ?? undefined;
    // Synchronous: a point read from LevelDB's cache takes microseconds, while an async get is a thread-pool
    // round trip; with async reads, thousands of fire events a second made every apply wait on the pool.
    return this.#db.getSync(key);
  }

  put(key: string, value: Uint8Array): void {
    this.#pending.set(key, value);
  }

  /**
   * Puts what `encode` returns, encoding it only when read or written: a job changed by several commands of one
   * batch (a fire's start, attempt and finish) is encoded once, as the batch leaves it.
   */
  putEncoded(key: string, encode: () => Uint8Array): void {
    this.#pending.set(key, encode);
  }

  #bytes(key: string, pending: Uint8Array | null | (() => Uint8Array)): Uint8Array | null {
    if (typeof pending !== 'function') return pending;
    const bytes = pending();
    this.#pending.set(key, bytes);
    return bytes;
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

  /** Encodes every value still to encode, in slices like the reads, so `ops()` is quick. */
  async encodeAll(): Promise<void> {
    for (const [key, pending] of this.#pending) {
      if (typeof pending !== 'function') continue;
      await this.#yieldIfLong();
      this.#bytes(key, pending);
    }
  }

  async #yieldIfLong(): Promise<void> {
    if (performance.now() - this.#sliceStartedAt > applySliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      this.#sliceStartedAt = performance.now();
    }
  }

  get size(): number {
    return this.#pending.size;
  }

  ops(): BatchOp[] {
    return [...this.#pending].map(([key, pending]): BatchOp => {
      const value = this.#bytes(key, pending);
      return value === null ? { type: 'del', key } : { type: 'put', key, value };
    });
  }
}
