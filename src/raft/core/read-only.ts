// ReadIndex requests waiting for a round of heartbeats to confirm that this leader still leads (thesis §6.4).
import type { NodeId } from './types.js';

export interface PendingRead {
  readonly requestId: string;
  /** The commit index when the request arrived: the read may be served once it is applied. */
  readonly index: number;
  /** The heartbeat round that must be acknowledged by a majority. */
  readonly seq: number;
  readonly from: NodeId;
}

export class ReadOnlyQueue {
  #pending: PendingRead[] = [];

  get length(): number {
    return this.#pending.length;
  }

  add(read: PendingRead): void {
    this.#pending.push(read);
  }

  /** Every request whose round a majority has acknowledged (rounds only grow, so it is a prefix). */
  releaseUpTo(seq: number): PendingRead[] {
    let n = 0;
    while (n < this.#pending.length && (this.#pending[n]?.seq ?? Infinity) <= seq) n++;
    return this.#pending.splice(0, n);
  }

  drain(): PendingRead[] {
    return this.#pending.splice(0);
  }
}
