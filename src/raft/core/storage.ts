// The read side of durable Raft state that the core consults; the application writes it from each Ready.
import type { Entry, HardState, SnapshotMeta } from './types.js';

/**
 * What the core reads. It is synchronous because the application keeps the log after the last
 * snapshot in memory as well as on disk (as etcd's MemoryStorage beside its WAL); every write to it
 * happens outside the core, from a Ready, before `advance()`.
 */
export interface Storage {
  /** Hard state as last persisted. */
  hardState(): HardState;
  /** The latest snapshot; index 0 with the bootstrap membership when there has been none. */
  snapshot(): SnapshotMeta;
  /** snapshot().index + 1. */
  firstIndex(): number;
  /** Index of the last entry, or snapshot().index when the log is empty. */
  lastIndex(): number;
  /** The term of entry `index`, valid for snapshot().index..lastIndex(); null outside it. */
  term(index: number): number | null;
  /** Entries [lo, hi) with firstIndex() <= lo <= hi <= lastIndex()+1, at least one if any, then up to maxBytes. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Up to maxBytes of the current snapshot's bytes from `offset`; null while the application cannot
   * serve them yet (the leader retries on a later heartbeat).
   */
  snapshotChunk(offset: number, maxBytes: number): { data: Uint8Array; done: boolean } | null;
}
