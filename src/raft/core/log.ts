// The Raft log as the core sees it: durable Storage followed by Unstable, with the commit index and its checks.
import assert from 'node:assert/strict';
import type { Storage } from './storage.js';
import type { Entry, SnapshotMeta } from './types.js';
import { entryBytes } from './types.js';
import { Unstable } from './unstable.js';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed (§5.3). Never decreases. */
  committed: number;
  /** Highest index handed to the application to apply (acknowledged by advance). Never decreases. */
  applied: number;

  constructor(storage: Storage, applied: number) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = storage.firstIndex() - 1;
    this.applied = Math.max(applied, storage.firstIndex() - 1);
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The last index that is durable here: a leader's own entries count for commitment only up to it (§10.2.1). */
  lastStableIndex(): number {
    return Math.min(this.unstable.offset - 1, this.lastIndex());
  }

  /** The term of entry `index`, or null when it is compacted away or beyond the log. */
  term(index: number): number | null {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return null;
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert.ok(term !== null, 'the last entry always has a term');
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a log with a later last term, or the same last term and at least as long, is as up to date. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** The index of the first entry that disagrees with ours, or 0 when all of them are already here. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`: no entry after it can match a log whose entry
   * at `index` has `term`, so the leader can skip a whole term per round trip (§5.3).
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i >= this.firstIndex(); i--) {
      const t = this.term(i);
      if (t === null || t <= term) return i;
    }
    return i;
  }

  /**
   * AppendEntries' consistency check and append (figure 2, receiver steps 2-5). Returns the last new
   * index and the entries actually written (those from the first conflict on), or null when the log
   * does not contain an entry at prevIndex with prevTerm.
   */
  maybeAppend(
    prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[],
  ): { lastNewIndex: number; written: readonly Entry[] } | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNewIndex = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    let written: readonly Entry[] = [];
    if (conflict !== 0) {
      assert.ok(conflict > this.committed, `entry ${conflict} conflicts with committed ${this.committed}`);
      written = entries.slice(conflict - prevIndex - 1);
      this.append(written);
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return { lastNewIndex, written };
  }

  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    assert.ok(first.index > this.committed, `append at ${first.index} would overwrite committed ${this.committed}`);
    assert.ok(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert.ok(index <= this.lastIndex(), `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** §5.4.2: only an entry of the current term is committed by counting replicas. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert.ok(index >= this.applied && index <= this.committed, `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  restore(snapshot: SnapshotMeta): void {
    assert.ok(snapshot.index > this.committed, `snapshot ${snapshot.index} is not beyond commit ${this.committed}`);
    this.committed = snapshot.index;
    this.unstable.restore(snapshot);
  }

  /** Entries [lo, hi), at least one when the range is not empty, then up to maxBytes. Null when compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | null {
    if (lo < this.firstIndex()) return null;
    assert.ok(hi <= this.lastIndex() + 1 && lo <= hi, `slice [${lo}, ${hi}) beyond ${this.lastIndex()}`);
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < offset) {
      out = this.storage.entries(lo, Math.min(hi, offset), maxBytes);
      if (out.length < Math.min(hi, offset) - lo) return out;
    }
    if (hi > offset) {
      let bytes = out.reduce((sum, e) => sum + entryBytes(e), 0);
      for (const entry of this.unstable.slice(Math.max(lo, offset), hi)) {
        bytes += entryBytes(entry);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(entry);
      }
    }
    return out;
  }

  /** Committed entries not yet handed out, from `from` (the first index after what is applied or being applied). */
  committedEntriesFrom(from: number, maxBytes: number): Entry[] {
    const lo = Math.max(from, this.firstIndex());
    const hi = Math.min(this.committed, this.lastIndex()) + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxBytes) ?? [];
  }
}
