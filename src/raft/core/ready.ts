// The one value through which every effect of the core leaves it, with the order the application must follow.
import type { Message } from './messages.js';
import type { Entry, HardState, NodeId, SnapshotChunk, SnapshotMeta } from './types.js';

export type Role = 'follower' | 'pre_candidate' | 'candidate' | 'leader';

/** Volatile state the application may want to show; never persisted. */
export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId | null;
}

export type ReadState =
  | { readonly requestId: string; readonly ok: true; readonly index: number }
  | { readonly requestId: string; readonly ok: false };

/**
 * Everything the application must do, in this order:
 *
 *   1. send `messages` (they may go at once, in parallel with step 2: they are a leader's own
 *      replication, which does not need its local write to be durable first, thesis §10.2.1);
 *   2. make durable, in one write: `snapshotChunks` (staging area), `snapshot` (install it: the
 *      staged bytes become the state machine, the log is emptied), `entries` (append, replacing any
 *      stored entry at or after entries[0].index), `hardState`, and `compaction` (drop the log up to
 *      its index, keep its metadata);
 *   3. send `persistedMessages`: votes and acknowledgements that promise what step 2 wrote;
 *   4. apply `committedEntries` in order (they are durable after step 2), and record `readStates`;
 *   5. call `advance()`.
 *
 * At most one Ready is outstanding: `ready()` must not be called again before `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshotChunks: readonly SnapshotChunk[];
  readonly snapshot: SnapshotMeta | null;
  readonly compaction: SnapshotMeta | null;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly persistedMessages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** False when only the commit index changed: that write may skip fsync (commit is recoverable). */
  readonly mustSync: boolean;
}
