// How a leader sends its log: batched, pipelined AppendEntries, heartbeats, and snapshots in chunks.
import type { Raft } from './raft.js';
import { entryBytes } from './types.js';

/** Sends whatever each follower is missing, as many messages as its in-flight window allows. */
export function broadcastAppend(r: Raft): void {
  for (const id of r.progress.keys()) {
    if (id === r.id) continue;
    sendAppend(r, id);
  }
}

/**
 * Sends to one follower until it is paused or up to date. The first message goes even if it carries
 * no entries: it brings the commit index, and in replicate state it makes a follower that lost
 * entries in flight reject, which rewinds `next` (§5.3).
 */
export function sendAppend(r: Raft, to: string): void {
  if (!maybeSendAppend(r, to, true)) return;
  sendMoreAppends(r, to);
}

/** Sends entries (never an empty message) while the follower's window allows. */
export function sendMoreAppends(r: Raft, to: string): void {
  while (maybeSendAppend(r, to, false)) {
    // each call sends one batch
  }
}

/**
 * One AppendEntries of at most maxAppendBytes from the follower's next index. False when nothing
 * was sent: the follower is paused, or (unless `sendIfEmpty`) has everything.
 */
export function maybeSendAppend(r: Raft, to: string, sendIfEmpty: boolean): boolean {
  const pr = r.progress.get(to);
  if (pr === undefined || pr.isPaused()) return false;
  const prevLogIndex = pr.next - 1;
  const prevLogTerm = r.log.term(prevLogIndex);
  const entries = r.log.slice(pr.next, r.log.lastIndex() + 1, r.config.maxAppendBytes);
  if (prevLogTerm === null || entries === null) {
    // What the follower needs next was compacted away: it gets the snapshot instead (§7).
    pr.becomeSnapshot(r.log.storage.snapshot().index);
    sendSnapshotChunk(r, to);
    return false;
  }
  const last = entries[entries.length - 1];
  if (last === undefined && !sendIfEmpty) return false;
  r.send({
    type: 'append_entries', to, prevLogIndex, prevLogTerm, entries,
    leaderCommit: r.log.committed, seq: r.seq, sentTick: r.ticks,
  });
  if (last !== undefined) pr.sentEntries(last.index, entries.reduce((sum, e) => sum + entryBytes(e), 0), r.ticks);
  else if (pr.state === 'probe') pr.probeSent = true;
  if (pr.state === 'probe') pr.probeSentTick = r.ticks;
  return true;
}

/** Heartbeats carry no entries and no consistency check, so they never disturb a pipelined stream. */
export function broadcastHeartbeat(r: Raft): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    r.send({
      type: 'heartbeat', to: id, leaderCommit: Math.min(pr.match, r.log.committed), seq: r.seq, sentTick: r.ticks,
    });
  }
}

/**
 * The next chunk of the leader's current snapshot, one at a time per follower (figure 13). If the
 * leader took a newer snapshot meanwhile, the transfer starts over with that one.
 */
export function sendSnapshotChunk(r: Raft, to: string): void {
  const pr = r.progress.get(to);
  if (pr === undefined || pr.state !== 'snapshot') return;
  const snapshot = r.log.storage.snapshot();
  if (snapshot.index !== pr.pendingSnapshot) pr.becomeSnapshot(snapshot.index);
  const chunk = r.log.storage.snapshotChunk(pr.snapshotOffset, r.config.snapshotChunkBytes);
  if (chunk === null) return;
  r.send({
    type: 'install_snapshot', to, snapshot, offset: pr.snapshotOffset, data: chunk.data, done: chunk.done,
    seq: r.seq, sentTick: r.ticks,
  });
  pr.snapshotSentTick = r.ticks;
}

/** Leadership transfer's last step (thesis §3.10): from here on another server may win at any moment. */
export function sendTimeoutNow(r: Raft, to: string): void {
  r.leaseRevoked = true;
  r.send({ type: 'timeout_now', to });
}
