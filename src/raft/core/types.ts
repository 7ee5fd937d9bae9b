// The plain data that the Raft core reads, writes and sends: entries, hard state, membership and snapshot metadata.

/** A server's stable name; the core never interprets it. */
export type NodeId = string;

/** Index 0 / term 0 stand for "before the first entry". */
export const NO_INDEX = 0;

/**
 * The voters decide elections and commitment; learners only receive the log (thesis §4.2.1) until the
 * leader promotes them.
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One server at a time (thesis §4.1). `add_learner` and `promote` are what the leader writes for
 * `add_node`; `context` is opaque to the core (the application stores an address in it).
 */
export type ConfChange =
  | { readonly type: 'add_learner'; readonly nodeId: NodeId; readonly context: string }
  | { readonly type: 'promote'; readonly nodeId: NodeId; readonly context: string }
  | { readonly type: 'add_voter'; readonly nodeId: NodeId; readonly context: string }
  | { readonly type: 'remove_node'; readonly nodeId: NodeId; readonly context: string };

export interface NormalEntry {
  readonly type: 'normal';
  readonly term: number;
  readonly index: number;
  /** Opaque to the core. Empty data is the no-op a new leader appends (§5.4.2). */
  readonly data: Uint8Array;
}

export interface ConfChangeEntry {
  readonly type: 'conf_change';
  readonly term: number;
  readonly index: number;
  readonly change: ConfChange;
}

export type Entry = NormalEntry | ConfChangeEntry;

/** What must be durable before any message that depends on it leaves the node (figure 2, "persistent state"). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** Identifies a snapshot: the state machine after applying every entry up to `index`. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

/** A piece of a snapshot's bytes on its way to a follower (figure 13: offset, data, done). */
export interface SnapshotChunk {
  readonly snapshot: SnapshotMeta;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

export const EMPTY_MEMBERSHIP: Membership = { voters: [], learners: [] };

export function entryBytes(entry: Entry): number {
  // A fixed overhead keeps empty entries from being free, so batches stay bounded by count too.
  return entry.type === 'normal' ? entry.data.byteLength + 24 : 64 + entry.change.context.length;
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === null && hs.commit === 0;
}

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
