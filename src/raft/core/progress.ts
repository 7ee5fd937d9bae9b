// What a leader knows of one follower's log and how it is sending to it: probe, replicate or snapshot.
import assert from 'node:assert/strict';
import { Inflights } from './inflights.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be replicated on the follower (figure 2, matchIndex). Never decreases. */
  match = 0;
  /** Next index to send (figure 2, nextIndex). */
  next: number;
  state: ProgressState = 'probe';
  /** Probe: one AppendEntries is outstanding; wait for its answer, or the answer to a later heartbeat, before the next. */
  probeSent = false;
  /** Probe: the tick the outstanding AppendEntries left at; only a heartbeat sent after it can call it overdue. */
  probeSentTick = 0;
  /** Snapshot: the index of the snapshot being sent and the next byte to send. */
  pendingSnapshot = 0;
  snapshotOffset = 0;
  /** When the chunk in flight left, to resend it once overdue. */
  snapshotSentTick = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Highest seq / sentTick the follower has echoed in this term (ReadIndex rounds and lease). */
  ackedSeq = 0;
  ackedSentTick = Number.NEGATIVE_INFINITY;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, inflightCapacity: number, isLearner: boolean, inflightBytes = Infinity) {
    this.next = next;
    this.inflights = new Inflights(inflightCapacity, inflightBytes);
    this.isLearner = isLearner;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.resetState('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.resetState('replicate');
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.probeSentTick = 0;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
    this.snapshotSentTick = 0;
    this.inflights.reset();
  }

  /** Records an acknowledged index; false when it told us nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** Entries up to lastIndex left at `sentTick`, `bytes` of them. Replicate state sends optimistically: next moves on at once. */
  sentEntries(lastIndex: number, bytes = 0, sentTick = 0): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflights.add(lastIndex, bytes, sentTick);
    } else {
      assert.equal(this.state, 'probe', 'entries are not sent while a snapshot is in progress');
      this.probeSent = true;
    }
  }

  /**
   * A rejection of an AppendEntries at `rejected`: in replicate state anything stale is ignored and next
   * falls back to just after match; in probe state next moves to the hint. False when the rejection is stale.
   */
  maybeDecreaseTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.isFull();
      case 'snapshot':
        return true;
    }
  }
}
