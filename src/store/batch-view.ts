// Reads through the writes of one apply batch, so commands later in a batch see what earlier ones changed.
import type { ClassicLevel } from 'classic-level';

type Db = ClassicLevel<string, Uint8Array>;

export type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** Pending puts and deletes over the database; `ops()` is the one batch that makes them durable together. */
export class BatchView {
  readonly #db: Db;
  readonly #pending = new Map<string, Uint8Array | null>();

  constructor(db: Db) {
    this.#db = db;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending ?? undefined;
    return this.#db.get(key);
  }

  put(key: string, value: Uint8Array): void {
    this.#pending.set(key, value);
  }

  del(key: string): void {
    this.#pending.set(key, null);
  }

  get size(): number {
    return this.#pending.size;
  }

  ops(): BatchOp[] {
    return [...this.#pending].map(([key, value]): BatchOp => (value === null ? { type: 'del', key } : { type: 'put', key, value }));
  }
}
