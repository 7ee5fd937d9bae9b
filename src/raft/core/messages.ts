// The RPCs Raft servers exchange, as one discriminated union on `type` (names from the paper's figure 2).
import type { Entry, NodeId, SnapshotMeta } from './types.js';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's current term, or for a pre-vote request the term it would campaign in (thesis §9.6). */
  readonly term: number;
}

/** RequestVote (figure 2); `preVote` asks whether a real election would succeed without disturbing anyone. */
export interface RequestVote extends Envelope {
  readonly type: 'request_vote';
  readonly preVote: boolean;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set by a leadership transfer (thesis §3.10): voters disregard their leader lease for it. */
  readonly transfer: boolean;
}

export interface RequestVoteResult extends Envelope {
  readonly type: 'request_vote_result';
  readonly preVote: boolean;
  readonly granted: boolean;
}

/**
 * AppendEntries carrying entries. `seq` and `sentTick` are echoed back so the leader can tell which
 * round of contact a follower acknowledged (ReadIndex, §6.4; lease, §6.4.1).
 */
export interface AppendEntries extends Envelope {
  readonly type: 'append_entries';
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
  readonly seq: number;
  readonly sentTick: number;
}

/**
 * On success `matchIndex` is the last index the follower now holds in agreement with the leader. On
 * rejection `rejectedIndex` is the prevLogIndex that did not match and `conflictIndex`/`conflictTerm`
 * point at the last entry that might (§5.3's optimisation).
 */
export interface AppendEntriesResult extends Envelope {
  readonly type: 'append_entries_result';
  readonly success: boolean;
  readonly matchIndex: number;
  readonly rejectedIndex: number;
  readonly conflictIndex: number;
  readonly conflictTerm: number;
  readonly seq: number;
  readonly sentTick: number;
}

/** An empty AppendEntries without the consistency check: it carries only a safe commit index. */
export interface Heartbeat extends Envelope {
  readonly type: 'heartbeat';
  /** At most what the follower is known to hold, so it never commits an entry it lacks. */
  readonly leaderCommit: number;
  readonly seq: number;
  readonly sentTick: number;
}

export interface HeartbeatResult extends Envelope {
  readonly type: 'heartbeat_result';
  readonly seq: number;
  readonly sentTick: number;
}

/** InstallSnapshot (figure 13), one chunk at a time; the data comes from `Storage.snapshotChunk`. */
export interface InstallSnapshot extends Envelope {
  readonly type: 'install_snapshot';
  readonly snapshot: SnapshotMeta;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
  readonly seq: number;
  readonly sentTick: number;
}

/**
 * `offset` echoes the chunk answered, so the leader can ignore answers to duplicates; `nextOffset` is
 * the byte the follower expects next; `installed` is true once it holds the snapshot.
 */
export interface InstallSnapshotResult extends Envelope {
  readonly type: 'install_snapshot_result';
  readonly snapshotIndex: number;
  readonly offset: number;
  readonly nextOffset: number;
  readonly installed: boolean;
  readonly seq: number;
  readonly sentTick: number;
}

/** Leadership transfer (thesis §3.10): start an election at once. */
export interface TimeoutNow extends Envelope {
  readonly type: 'timeout_now';
}

/** A follower asking its leader for a read index on behalf of a local client (thesis §6.4). */
export interface ReadIndex extends Envelope {
  readonly type: 'read_index';
  readonly requestId: string;
}

export interface ReadIndexResult extends Envelope {
  readonly type: 'read_index_result';
  readonly requestId: string;
  /** null when the leader could not serve it (it is no longer leader, or is transferring). */
  readonly index: number | null;
}

export type Message =
  | RequestVote
  | RequestVoteResult
  | AppendEntries
  | AppendEntriesResult
  | Heartbeat
  | HeartbeatResult
  | InstallSnapshot
  | InstallSnapshotResult
  | TimeoutNow
  | ReadIndex
  | ReadIndexResult;

export type MessageType = Message['type'];

/** Messages only a leader sends; a follower uses them to learn who leads its term. */
export function isFromLeader(m: Message): m is AppendEntries | Heartbeat | InstallSnapshot | TimeoutNow {
  return m.type === 'append_entries' || m.type === 'heartbeat' || m.type === 'install_snapshot' || m.type === 'timeout_now';
}

/** One line per message, for traces (as etcd's DescribeMessage). */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'request_vote':
      return `${head}${m.preVote ? ' pre' : ''}${m.transfer ? ' transfer' : ''} last=${m.lastLogIndex}/t${m.lastLogTerm}`;
    case 'request_vote_result':
      return `${head}${m.preVote ? ' pre' : ''} ${m.granted ? 'granted' : 'rejected'}`;
    case 'append_entries': {
      const span = m.entries.length === 0 ? 'none' : `${m.entries[0]?.index}..${m.entries[m.entries.length - 1]?.index}`;
      return `${head} prev=${m.prevLogIndex}/t${m.prevLogTerm} entries=${span} commit=${m.leaderCommit}`;
    }
    case 'append_entries_result':
      return m.success
        ? `${head} ok match=${m.matchIndex}`
        : `${head} reject at=${m.rejectedIndex} hint=${m.conflictIndex}/t${m.conflictTerm}`;
    case 'heartbeat':
      return `${head} commit=${m.leaderCommit} seq=${m.seq}`;
    case 'heartbeat_result':
      return `${head} seq=${m.seq}`;
    case 'install_snapshot':
      return `${head} snap=${m.snapshot.index}/t${m.snapshot.term} off=${m.offset} len=${m.data.byteLength}${m.done ? ' done' : ''}`;
    case 'install_snapshot_result':
      return `${head} snap=${m.snapshotIndex} off=${m.offset} next=${m.nextOffset}${m.installed ? ' installed' : ''}`;
    case 'timeout_now':
      return head;
    case 'read_index':
      return `${head} req=${m.requestId}`;
    case 'read_index_result':
      return `${head} req=${m.requestId} index=${m.index ?? 'none'}`;
  }
}
