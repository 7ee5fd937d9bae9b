// How a leader handles what its followers send back: acknowledgements, rejections, snapshot progress, reads.
import assert from 'node:assert/strict';
import { isMember, isVoter } from './membership.js';
import type {
  AppendEntriesResult, HeartbeatResult, InstallSnapshotResult, Message,
} from './messages.js';
import type { Progress } from './progress.js';
import type { Raft } from './raft.js';
import type { PendingRead } from './read-only.js';
import { majorityValue } from './quorum.js';
import {
  broadcastAppend, broadcastHeartbeat, sendAppend, sendMoreAppends, sendSnapshotChunk, sendTimeoutNow,
} from './replication.js';
import type { Entry } from './types.js';

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append_entries_result':
      handleAppendResult(r, m);
      return;
    case 'heartbeat_result':
      handleHeartbeatResult(r, m);
      return;
    case 'install_snapshot_result':
      handleSnapshotResult(r, m);
      return;
    case 'read_index':
      handleReadIndex(r, m.requestId, m.from);
      return;
    case 'append_entries':
    case 'heartbeat':
    case 'install_snapshot':
    case 'timeout_now':
      // From a node that is no member, it is no leader's message: anyone who reaches the Raft port can send one,
      // and it must not take the leader down. It is dropped, as etcd drops messages with no progress behind them.
      if (!isMember(r.currentMembership(), m.from)) return;
      // Election Safety (§5.2): two leaders in one term means the vote was broken.
      assert.fail(`leader ${r.id} of term ${r.term} got ${m.type} from ${m.from} in the same term`);
      break;
    case 'request_vote':
    case 'request_vote_result':
    case 'read_index_result':
      return;
  }
}

function contacted(r: Raft, pr: Progress, seq: number, sentTick: number): void {
  pr.recentActive = true;
  pr.ackedSeq = Math.max(pr.ackedSeq, seq);
  pr.ackedSentTick = Math.max(pr.ackedSentTick, sentTick);
  releaseReads(r);
}

function handleAppendResult(r: Raft, m: AppendEntriesResult): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  contacted(r, pr, m.seq, m.sentTick);
  if (!m.success) {
    // §5.3 optimisation: jump back to the last index the follower's hint says could match.
    const hint = m.conflictTerm > 0 ? r.log.findConflictByTerm(m.conflictIndex, m.conflictTerm) : m.conflictIndex;
    if (pr.maybeDecreaseTo(m.rejectedIndex, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.matchIndex)) {
    if (pr.state === 'replicate') pr.inflights.freeTo(m.matchIndex);
    if (wasPaused && !pr.isPaused()) sendMoreAppends(r, m.from);
    return;
  }
  switch (pr.state) {
    case 'probe':
      pr.becomeReplicate();
      break;
    case 'snapshot':
      // The follower caught up by other means (an earlier append, or a snapshot it already had).
      if (pr.match + 1 >= r.log.firstIndex()) pr.becomeReplicate();
      break;
    case 'replicate':
      pr.inflights.freeTo(m.matchIndex);
      break;
  }
  if (maybeCommit(r)) {
    broadcastAppend(r);
  } else if (wasPaused) {
    sendAppend(r, m.from);
  }
  if (r.role !== 'leader') return;
  // Never an empty message here: an up-to-date follower would answer it, and so on forever.
  sendMoreAppends(r, m.from);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) sendTimeoutNow(r, m.from);
  if (pr.isLearner) maybePromoteLearners(r);
}

function handleHeartbeatResult(r: Raft, m: HeartbeatResult): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  contacted(r, pr, m.seq, m.sentTick);
  switch (pr.state) {
    case 'probe':
      // A heartbeat sent after the probe was answered and the probe was not: the probe (or its answer) is lost or
      // late, so it goes again. Answers to older heartbeats say nothing of it, and a follower that was busy
      // (restoring a snapshot) sends them all at once: each would send the probe and its entries once more.
      if (m.sentTick > pr.probeSentTick) pr.probeSent = false;
      break;
    case 'replicate':
      // A full window, and the follower answered a heartbeat sent after its oldest append but not the append: that
      // append or its answer is lost (or late), so a slot is freed to move on. Only such answers count, as for a
      // probe: a follower that was busy answers a burst of older ones, and each would free one more slot.
      if (pr.inflights.isFull() && m.sentTick > (pr.inflights.oldestSentTick() ?? Infinity)) pr.inflights.freeFirst();
      break;
    case 'snapshot':
      // The chunk or its answer may have been lost: send it again once it is overdue.
      if (r.ticks - pr.snapshotSentTick >= 2 * r.config.heartbeatIntervalTicks) sendSnapshotChunk(r, m.from);
      return;
  }
  if (pr.match < r.log.lastIndex()) sendAppend(r, m.from);
}

function handleSnapshotResult(r: Raft, m: InstallSnapshotResult): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  contacted(r, pr, m.seq, m.sentTick);
  if (pr.state !== 'snapshot' || m.snapshotIndex !== pr.pendingSnapshot) return;
  // An answer to anything but the chunk in flight is a duplicate's: acting on it would fork the stream.
  if (!m.installed && m.offset !== pr.snapshotOffset) return;
  if (m.installed) {
    pr.maybeUpdate(m.snapshotIndex);
    pr.becomeProbe();
    sendAppend(r, m.from);
    if (maybeCommit(r)) broadcastAppend(r);
    // A learner the snapshot brought up to date gets no append result that moves its match: promote it here.
    else if (pr.isLearner) maybePromoteLearners(r);
    return;
  }
  pr.snapshotOffset = m.nextOffset;
  sendSnapshotChunk(r, m.from);
}

/**
 * Advances the commit index to what a majority holds, but only through an entry of the current term
 * (§5.4.2). True when it moved.
 */
export function maybeCommit(r: Raft): boolean {
  const wasCommittedInTerm = r.hasCommittedInTerm();
  if (!r.log.maybeCommit(r.quorumMatch(), r.term)) return false;
  if (!wasCommittedInTerm && r.hasCommittedInTerm()) serveReadsAwaitingCommit(r);
  maybePromoteLearners(r);
  maybeStepDownAfterRemoval(r);
  return true;
}

/** The leader that removed itself leads until that entry commits, then hands over (thesis §4.2.2). */
function maybeStepDownAfterRemoval(r: Raft): void {
  if (r.role !== 'leader' || r.isPromotable() || r.membership.lastChangeIndex() > r.log.committed) return;
  broadcastAppend(r);
  let best: string | null = null;
  for (const id of r.voters()) {
    const pr = r.progress.get(id);
    if (pr !== undefined && pr.match === r.log.lastIndex() && best === null) best = id;
  }
  if (best !== null) sendTimeoutNow(r, best);
  r.config.logger.info({ term: r.term }, 'stepping down after removing itself');
  r.becomeFollower(r.term, null);
}

/** A learner that holds everything committed becomes a voter, one change at a time (thesis §4.2.1). */
export function maybePromoteLearners(r: Raft): void {
  if (r.role !== 'leader' || r.leadTransferee !== null) return;
  if (r.membership.lastChangeIndex() > r.log.committed || !r.hasCommittedInTerm()) return;
  for (const [id, pr] of r.progress) {
    if (!pr.isLearner || pr.match < r.log.committed) continue;
    const entry: Entry = {
      type: 'conf_change', term: r.term, index: r.log.lastIndex() + 1,
      change: { type: 'promote', nodeId: id, context: '' },
    };
    r.config.logger.info({ term: r.term, peer_id: id }, 'promoting caught-up learner');
    r.appendAsLeader([entry]);
    return;
  }
}

/** ReadIndex (thesis §6.4): note the commit index, then confirm leadership with a round of heartbeats. */
export function handleReadIndex(r: Raft, requestId: string, from: string): void {
  const read = { requestId, index: r.log.committed, seq: 0, from };
  if (r.leadTransferee !== null || r.readOnly.length + r.readsAwaitingCommit.length >= r.config.maxPendingReads) {
    r.answerRead(read, null);
    return;
  }
  if (!r.hasCommittedInTerm()) {
    r.readsAwaitingCommit.push(read);
    return;
  }
  startReadRound(r, read);
}

function startReadRound(r: Raft, read: PendingRead): void {
  if (r.voters().length === 1 && isVoter(r.currentMembership(), r.id)) {
    r.answerRead(read, read.index);
    return;
  }
  r.seq++;
  r.readOnly.add({ ...read, seq: r.seq });
  broadcastHeartbeat(r);
}

function serveReadsAwaitingCommit(r: Raft): void {
  for (const read of r.readsAwaitingCommit.splice(0)) {
    startReadRound(r, { ...read, index: r.log.committed });
  }
}

function releaseReads(r: Raft): void {
  if (r.readOnly.length === 0) return;
  const confirmed = majorityValue(r.voters(), (id) => (id === r.id ? r.seq : r.progress.get(id)?.ackedSeq ?? 0));
  for (const read of r.readOnly.releaseUpTo(confirmed)) r.answerRead(read, read.index);
}
