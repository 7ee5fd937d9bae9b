// An in-memory Storage with the write operations a runner performs from a Ready; used by tests and the simulator.
import assert from 'node:assert/strict';
import type { Storage } from './storage.js';
import type { Entry, HardState, Membership, SnapshotChunk, SnapshotMeta } from './types.js';
import { entryBytes } from './types.js';

export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: null, commit: 0 };
  #snapshot: SnapshotMeta;
  #snapshotData: Uint8Array = new Uint8Array(0);
  /** Entries after the snapshot: #entries[i] has index snapshot.index + 1 + i. */
  #entries: Entry[] = [];
  #staged: { snapshot: SnapshotMeta; parts: Uint8Array[]; bytes: number; complete: boolean } | null = null;

  constructor(membership: Membership = { voters: [], learners: [] }) {
    this.#snapshot = { index: 0, term: 0, membership };
  }

  /**
   * A new cluster's first entries, as etcd's bootstrap: one add_voter entry per initial voter in term 1,
   * already committed, so a server that joins later learns the initial membership from the log.
   */
  static bootstrap(voters: readonly string[]): MemoryStorage {
    const storage = new MemoryStorage();
    storage.append(voters.map((nodeId, i) => ({
      type: 'conf_change', term: 1, index: i + 1, change: { type: 'add_voter', nodeId, context: '' },
    })));
    storage.setHardState({ term: 1, vote: null, commit: voters.length });
    return storage;
  }

  hardState(): HardState {
    return this.#hardState;
  }

  snapshot(): SnapshotMeta {
    return this.#snapshot;
  }

  snapshotData(): Uint8Array {
    return this.#snapshotData;
  }

  firstIndex(): number {
    return this.#snapshot.index + 1;
  }

  lastIndex(): number {
    return this.#snapshot.index + this.#entries.length;
  }

  term(index: number): number | null {
    if (index === this.#snapshot.index) return this.#snapshot.term;
    if (index < this.#snapshot.index || index > this.lastIndex()) return null;
    return this.#at(index).term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert.ok(lo >= this.firstIndex() && lo <= hi && hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) out of range`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.#at(i);
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  snapshotChunk(offset: number, maxBytes: number): { data: Uint8Array; done: boolean } | null {
    const end = Math.min(this.#snapshotData.byteLength, offset + maxBytes);
    return { data: this.#snapshotData.subarray(offset, end), done: end === this.#snapshotData.byteLength };
  }

  setHardState(hardState: HardState): void {
    this.#hardState = hardState;
  }

  /** Appends, first dropping any entries at or after entries[0].index (a follower's truncation, §5.3). */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert.ok(first.index > this.#snapshot.index, `append at ${first.index} behind snapshot ${this.#snapshot.index}`);
    assert.ok(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    this.#entries.length = first.index - this.#snapshot.index - 1;
    this.#entries.push(...entries);
  }

  /** The application's state at meta.index is now the snapshot; the log behind it goes. */
  compact(meta: SnapshotMeta, data: Uint8Array): void {
    assert.ok(meta.index >= this.#snapshot.index && meta.index <= this.lastIndex(), `compact to ${meta.index} out of range`);
    assert.equal(this.term(meta.index), meta.term, `compact to ${meta.index}: term mismatch`);
    this.#entries = this.#entries.slice(meta.index - this.#snapshot.index);
    this.#snapshot = meta;
    this.#snapshotData = data;
  }

  /** Writes a received chunk into the staging area; offset 0 starts a new one. */
  stageSnapshotChunk(chunk: SnapshotChunk): void {
    if (chunk.offset === 0) this.#staged = { snapshot: chunk.snapshot, parts: [], bytes: 0, complete: false };
    const staged = this.#staged;
    assert.ok(staged !== null && staged.bytes === chunk.offset && !staged.complete
      && staged.snapshot.index === chunk.snapshot.index && staged.snapshot.term === chunk.snapshot.term,
    `snapshot chunk at ${chunk.offset} out of order`);
    staged.parts.push(chunk.data.slice());
    staged.bytes += chunk.data.byteLength;
    staged.complete = chunk.done;
  }

  /** Replaces everything with the staged snapshot, whose bytes the caller restores its state machine from. */
  installSnapshot(meta: SnapshotMeta): Uint8Array {
    const staged = this.#staged;
    assert.ok(staged !== null && staged.complete && staged.snapshot.index === meta.index && staged.snapshot.term === meta.term,
      `install of snapshot ${meta.index} that was not staged`);
    const data = new Uint8Array(staged.bytes);
    let at = 0;
    for (const part of staged.parts) {
      data.set(part, at);
      at += part.byteLength;
    }
    this.#staged = null;
    this.#snapshot = meta;
    this.#snapshotData = data;
    this.#entries = [];
    return data;
  }

  #at(index: number): Entry {
    const entry = this.#entries[index - this.#snapshot.index - 1];
    assert.ok(entry !== undefined, `no entry at ${index}`);
    return entry;
  }
}
