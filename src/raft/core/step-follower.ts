// How a follower handles its leader's messages: append with the consistency check, commit, snapshots, transfer.
import type { AppendEntries, Heartbeat, InstallSnapshot, Message } from './messages.js';
import type { Raft } from './raft.js';

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append_entries':
      heardFromLeader(r, m.from);
      handleAppendEntries(r, m);
      return;
    case 'heartbeat':
      heardFromLeader(r, m.from);
      handleHeartbeat(r, m);
      return;
    case 'install_snapshot':
      heardFromLeader(r, m.from);
      handleInstallSnapshot(r, m);
      return;
    case 'timeout_now':
      // Thesis §3.10: the leader hands over; campaign at once, without pre-vote, past the voters' lease.
      if (r.role === 'follower' && r.lead === m.from) r.campaign('transfer');
      return;
    case 'read_index':
      // Not the leader: the asker's view is stale. Refuse so it retries.
      r.send({ type: 'read_index_result', to: m.from, requestId: m.requestId, index: null });
      return;
    case 'read_index_result':
      r.readStates.push(m.index === null ? { requestId: m.requestId, ok: false } : { requestId: m.requestId, ok: true, index: m.index });
      return;
    case 'request_vote':
    case 'request_vote_result':
    case 'append_entries_result':
    case 'heartbeat_result':
    case 'install_snapshot_result':
      return;
  }
}

function heardFromLeader(r: Raft, leader: string): void {
  r.electionElapsed = 0;
  r.lead = leader;
  // The leader lives: a pre-vote held for the end of its lease is moot.
  r.deferredPreVote = null;
}

/** Figure 2, AppendEntries receiver implementation. */
function handleAppendEntries(r: Raft, m: AppendEntries): void {
  const echo = { seq: m.seq, sentTick: m.sentTick };
  if (m.prevLogIndex < r.log.committed) {
    // Everything up to our commit index already agrees with every leader (Leader Completeness).
    r.send({
      type: 'append_entries_result', to: m.from, success: true, matchIndex: r.log.committed,
      rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0, ...echo,
    });
    return;
  }
  const appended = r.log.maybeAppend(m.prevLogIndex, m.prevLogTerm, m.leaderCommit, m.entries);
  if (appended !== null) {
    r.membership.appended(appended.written);
    r.send({
      type: 'append_entries_result', to: m.from, success: true, matchIndex: appended.lastNewIndex,
      rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0, ...echo,
    });
    return;
  }
  // §5.3: tell the leader where our log could next agree, skipping a whole term at a time.
  const conflictIndex = r.log.findConflictByTerm(Math.min(m.prevLogIndex, r.log.lastIndex()), m.prevLogTerm);
  r.send({
    type: 'append_entries_result', to: m.from, success: false, matchIndex: 0,
    rejectedIndex: m.prevLogIndex, conflictIndex, conflictTerm: r.log.term(conflictIndex) ?? 0, ...echo,
  });
}

function handleHeartbeat(r: Raft, m: Heartbeat): void {
  r.log.commitTo(m.leaderCommit);
  r.send({ type: 'heartbeat_result', to: m.from, seq: m.seq, sentTick: m.sentTick });
}

/** Figure 13, InstallSnapshot receiver, one chunk at a time, in order. */
function handleInstallSnapshot(r: Raft, m: InstallSnapshot): void {
  const snapshot = m.snapshot;
  const reply = (nextOffset: number, installed: boolean): void => {
    r.send({
      type: 'install_snapshot_result', to: m.from, snapshotIndex: snapshot.index, offset: m.offset, nextOffset, installed,
      seq: m.seq, sentTick: m.sentTick,
    });
  };
  if (snapshot.index <= r.log.committed) {
    reply(0, true);
    return;
  }
  if (m.offset === 0) r.incomingSnapshot = { snapshot, nextOffset: 0 };
  const incoming = r.incomingSnapshot;
  const sameSnapshot = incoming !== null && incoming.snapshot.index === snapshot.index && incoming.snapshot.term === snapshot.term;
  if (!sameSnapshot || m.offset !== incoming.nextOffset) {
    reply(sameSnapshot ? incoming.nextOffset : 0, false);
    return;
  }
  r.snapshotChunks.push({ snapshot, offset: m.offset, data: m.data, done: m.done });
  incoming.nextOffset += m.data.byteLength;
  if (!m.done) {
    reply(incoming.nextOffset, false);
    return;
  }
  r.incomingSnapshot = null;
  if (r.log.matchTerm(snapshot.index, snapshot.term)) {
    // Figure 13 step 6: our log already holds the snapshot's last entry; keep what follows it.
    r.log.commitTo(snapshot.index);
  } else {
    r.log.restore(snapshot);
    r.membership.reset(snapshot.index, snapshot.membership);
    // A compaction the application asked for is behind this snapshot, which replaces the whole log.
    r.pendingCompaction = null;
  }
  r.config.logger.info({ term: r.term, index: snapshot.index }, 'installed snapshot');
  reply(incoming.nextOffset, true);
}
