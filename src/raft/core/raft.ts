// The Raft state machine: terms, roles and elections; the role-specific message handling lives in step-*.ts.
import assert from 'node:assert/strict';
import type { ResolvedConfig } from './config.js';
import { RaftError } from './errors.js';
import { RaftLog } from './log.js';
import { isVoter, members, MembershipLog } from './membership.js';
import type { Message } from './messages.js';
import { isFromLeader } from './messages.js';
import { Progress } from './progress.js';
import { majorityValue, voteOutcome } from './quorum.js';
import type { PendingRead } from './read-only.js';
import { ReadOnlyQueue } from './read-only.js';
import type { ReadState, Role } from './ready.js';
import { broadcastHeartbeat } from './replication.js';
import { stepCandidate } from './step-candidate.js';
import { stepFollower } from './step-follower.js';
import { stepLeader } from './step-leader.js';
import type { Entry, HardState, Membership, NodeId, SnapshotChunk, SnapshotMeta } from './types.js';

/** Messages that carry a payload without a `from`/`to`/`term` envelope, which `send` fills in. */
export type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from' | 'term'> & { term?: number } : never) : never;

/** Message types that only promise what a leader already has durably or need not be durable (thesis §10.2.1). */
const SENDABLE_BEFORE_PERSIST = new Set<Message['type']>([
  'append_entries', 'heartbeat', 'install_snapshot', 'timeout_now', 'read_index_result',
]);

type CampaignKind = 'pre_vote' | 'election' | 'transfer';

export class Raft {
  readonly id: NodeId;
  readonly config: ResolvedConfig;
  readonly log: RaftLog;
  readonly membership: MembershipLog;

  term = 0;
  vote: NodeId | null = null;
  role: Role = 'follower';
  lead: NodeId | null = null;

  /** Ticks since the last election timeout reset (followers) or CheckQuorum round (leaders). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** A voter refused this candidacy and its retry was brought forward (retrySoonAfterRefusal), once a candidacy. */
  retryBroughtForward = false;
  /**
   * The last pre-vote request this server ignored because it was in a leader's lease: answered on the tick the
   * lease runs out, or dropped when the leader is heard from first (answerDeferredPreVote).
   */
  deferredPreVote: Extract<Message, { type: 'request_vote' }> | null = null;
  /** Ticks since this core was created; the clock the lease is measured on. */
  ticks = 0;
  /** A restarted server does not vote until an election timeout passes, as if a leader's lease were still on it. */
  startupQuietTicks: number;

  votes = new Map<NodeId, boolean>();
  progress = new Map<NodeId, Progress>();
  leadTransferee: NodeId | null = null;
  /** Once TimeoutNow is out, another server may win an election at any moment: the lease is gone for good. */
  leaseRevoked = false;
  /** Heartbeat rounds of this term, echoed back to confirm leadership for ReadIndex. */
  seq = 0;
  readOnly = new ReadOnlyQueue();
  /** ReadIndex requests that arrived before this leader committed an entry of its own term (thesis §6.4 step 1). */
  readsAwaitingCommit: PendingRead[] = [];
  /** A new leader's no-op: commitment reaching it means the leader knows every committed entry. */
  firstIndexOfTerm = 0;
  /** The follower's in-progress receipt of a snapshot. */
  incomingSnapshot: { snapshot: SnapshotMeta; nextOffset: number } | null = null;
  /** Entries were appended as leader; broadcast them once, on the way out, so many proposals share a message. */
  pendingBroadcast = false;

  /** Effects gathered for the next Ready. */
  messages: Message[] = [];
  persistedMessages: Message[] = [];
  readStates: ReadState[] = [];
  snapshotChunks: SnapshotChunk[] = [];
  pendingCompaction: SnapshotMeta | null = null;
  /** The hard state the application has made durable. */
  persistedHardState: HardState;

  constructor(config: ResolvedConfig) {
    this.id = config.id;
    this.config = config;
    const storage = config.storage;
    this.log = new RaftLog(storage, config.applied);
    const snapshot = storage.snapshot();
    this.membership = new MembershipLog(snapshot.index, snapshot.membership);
    for (let lo = storage.firstIndex(); lo <= storage.lastIndex();) {
      const page = storage.entries(lo, storage.lastIndex() + 1, config.maxApplyBytes);
      this.membership.appended(page);
      lo += page.length;
    }
    const hs = storage.hardState();
    this.persistedHardState = hs;
    assert.ok(hs.commit <= storage.lastIndex(), `hard state commit ${hs.commit} is beyond the last index ${storage.lastIndex()}`);
    this.term = hs.term;
    this.vote = hs.vote;
    this.log.commitTo(hs.commit);
    assert.ok(this.log.applied <= this.log.committed, `applied ${this.log.applied} is beyond commit ${this.log.committed}`);
    this.startupQuietTicks = config.checkQuorum ? config.electionTimeoutTicks : 0;
    this.becomeFollower(this.term, null);
  }

  // ---- state queries ----

  currentMembership(): Membership {
    return this.membership.current();
  }

  voters(): readonly NodeId[] {
    return this.membership.current().voters;
  }

  /** Only a voter of its own latest configuration may campaign. */
  isPromotable(): boolean {
    return isVoter(this.membership.current(), this.id);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** A leader's own entries count towards commitment only once durable (thesis §10.2.1). */
  selfMatch(): number {
    return this.log.lastStableIndex();
  }

  /** Whether a voter asked for its vote now is bound to the leader it heard from (CheckQuorum lease, §4.2.3). */
  isInLease(): boolean {
    if (!this.config.checkQuorum) return false;
    return (this.lead !== null && this.electionElapsed < this.config.electionTimeoutTicks) || this.startupQuietTicks > 0;
  }

  hasCommittedInTerm(): boolean {
    return this.log.committed >= this.firstIndexOfTerm && this.firstIndexOfTerm > 0;
  }

  // ---- term and role transitions ----

  setTerm(term: number): void {
    assert.ok(term >= this.term, `term went back from ${this.term} to ${term}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
  }

  reset(term: number): void {
    this.setTerm(term);
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.drawElectionTimeout();
    this.retryBroughtForward = false;
    this.deferredPreVote = null;
    this.votes = new Map();
    this.leadTransferee = null;
    this.leaseRevoked = false;
    this.seq = 0;
    this.firstIndexOfTerm = 0;
    this.pendingBroadcast = false;
    this.failPendingReads();
    this.resetProgress();
  }

  resetProgress(): void {
    const m = this.membership.current();
    this.progress = new Map();
    for (const id of members(m)) {
      this.progress.set(id, this.newProgress(id, m));
    }
  }

  newProgress(id: NodeId, m: Membership): Progress {
    const pr = new Progress(this.log.lastIndex() + 1, this.config.maxInflightAppends, !isVoter(m, id), this.config.maxInflightBytes);
    if (id === this.id) {
      pr.match = this.selfMatch();
      pr.recentActive = true;
    }
    return pr;
  }

  /** An election timeout in [electionTimeoutTicks, electionTimeoutTicks + electionJitterTicks), in ticks. */
  drawElectionTimeout(): number {
    return this.config.electionTimeoutTicks + this.config.random.int(this.config.electionJitterTicks);
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    const was = this.role;
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    if (was !== 'follower') this.config.logger.info({ term, leader_id: lead }, 'became follower');
  }

  becomePreCandidate(): void {
    assert.notEqual(this.role, 'leader', 'a leader cannot become a pre-candidate');
    // Pre-vote changes nothing durable: not the term, not the vote (thesis §9.6).
    this.role = 'pre_candidate';
    this.votes = new Map();
    this.lead = null;
    if (this.retryBroughtForward) {
      // The early retry is this round; should it go unanswered, the next one waits a whole timeout again.
      this.retryBroughtForward = false;
      this.randomizedElectionTimeout = this.drawElectionTimeout();
    }
  }

  becomeCandidate(): void {
    assert.notEqual(this.role, 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.config.logger.info({ term: this.term }, 'became candidate');
  }

  becomeLeader(): void {
    assert.equal(this.role, 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    // §5.4.2 / §8: a no-op of the new term lets entries of earlier terms commit and anchors ReadIndex.
    const noop: Entry = { type: 'normal', term: this.term, index: this.log.lastIndex() + 1, data: new Uint8Array(0) };
    this.appendAsLeader([noop]);
    this.firstIndexOfTerm = noop.index;
    this.config.logger.info({ term: this.term }, 'became leader');
  }

  /** Starts an election (or a pre-vote round) if this server may. */
  campaign(kind: CampaignKind): void {
    if (!this.isPromotable()) return;
    let voteTerm: number;
    if (kind === 'pre_vote') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    for (const id of this.voters()) {
      if (id === this.id) continue;
      this.send({
        type: 'request_vote', to: id, term: voteTerm, preVote: kind === 'pre_vote',
        lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm(), transfer: kind === 'transfer',
      });
    }
  }

  /**
   * A voter refused this candidate's (real) vote: most often because it is a candidate of the same term too, with
   * the vote split between them. Such a round can only end by timeout, and with one of three servers down it cannot
   * be won at all, so waiting a whole election timeout again (1 to 1.5 s by default) only adds to the outage. The
   * retry comes after a heartbeat interval plus the usual random spread instead, so the two candidates still retry
   * at different times. Nobody is in a lease to respect any more (every voter that answered has no leader), and
   * the retry starts with a pre-vote, which a server that heard from a leader meanwhile ignores. Timing only:
   * safety never rests on when a server campaigns.
   */
  retrySoonAfterRefusal(): void {
    if (this.role !== 'candidate' || this.retryBroughtForward) return;
    this.retryBroughtForward = true;
    const retryAt = this.electionElapsed + this.config.heartbeatIntervalTicks + this.config.random.int(this.config.electionJitterTicks);
    this.randomizedElectionTimeout = Math.min(this.randomizedElectionTimeout, retryAt);
  }

  /** Acts on the votes so far; true when the round ended (won or lost). */
  tallyVotes(): boolean {
    const outcome = voteOutcome(this.voters(), this.votes);
    if (outcome === 'won') {
      if (this.role === 'pre_candidate') this.campaign('election');
      else this.becomeLeader();
      return true;
    }
    if (outcome === 'lost') {
      this.becomeFollower(this.term, null);
      return true;
    }
    return false;
  }

  // ---- time ----

  /**
   * One tick of logical time. A `paused` tick passed while this process could not run: it counts in full for the
   * lease clock and heartbeats, but an election timeout or CheckQuorum round that would end on it waits for the
   * next live tick, so the messages that arrived during the pause are stepped before the timer judges silence.
   */
  tick(paused = false): void {
    this.ticks++;
    if (this.startupQuietTicks > 0) this.startupQuietTicks--;
    if (this.role === 'leader') this.tickLeader(paused);
    else this.tickElection(paused);
  }

  tickElection(paused = false): void {
    if (paused && this.electionElapsed + 1 >= this.randomizedElectionTimeout) return;
    this.electionElapsed++;
    this.answerDeferredPreVote();
    if (this.isPromotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.config.preVote ? 'pre_vote' : 'election');
    }
  }

  tickLeader(paused = false): void {
    this.heartbeatElapsed++;
    if (!paused || this.electionElapsed + 1 < this.config.electionTimeoutTicks) this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.isQuorumActive()) {
        this.config.logger.warn({ term: this.term }, 'stepped down: no contact with a majority');
        this.becomeFollower(this.term, null);
        return;
      }
      if (this.leadTransferee !== null) {
        this.abortTransfer();
        if (this.role !== 'leader') return;
      }
    }
    if (this.heartbeatElapsed >= this.config.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.seq++;
      broadcastHeartbeat(this);
    }
  }

  /**
   * A server that timed out first asks for pre-votes while the other voters' leases may run a tick or more longer:
   * they heard from the dead leader later (a follower slow to answer gets the leader's messages in bursts, so it
   * stops hearing from it earlier), or their ticks fall later. Ignored, the asker waited a whole randomized timeout
   * again, or until a voter's own timer started an election, up to half an election timeout after the lease had
   * ended. So the voter answers the request once its lease runs out, as if it had arrived then: the lease still
   * protects a live leader, whose next heartbeat drops the request (`heardFromLeader`).
   */
  answerDeferredPreVote(): void {
    const m = this.deferredPreVote;
    if (m === null || this.isInLease()) return;
    this.deferredPreVote = null;
    const grants = m.term > this.term && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    this.step(m);
    if (grants && this.role === 'follower') {
      // This server's own timer is often due about now too: campaigning as well would split the vote. It gives the
      // asker an election timeout to win, and no longer counts the silent leader as its own.
      this.electionElapsed = 0;
      this.lead = null;
    }
  }

  /** CheckQuorum (thesis §6.2): counts voters heard from since the last round, then starts a new round. */
  isQuorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      active.set(id, pr.recentActive);
      pr.recentActive = false;
    }
    active.set(this.id, true);
    return voteOutcome(this.voters(), active) === 'won';
  }

  /** A transfer that did not finish in an election timeout is abandoned (thesis §3.10). */
  abortTransfer(): void {
    const target = this.leadTransferee;
    this.leadTransferee = null;
    if (this.leaseRevoked) {
      // The target may still win with the TimeoutNow we sent; leading on without a lease helps nobody.
      this.config.logger.warn({ term: this.term, peer_id: target }, 'leadership transfer timed out; stepping down');
      this.becomeFollower(this.term, null);
    } else {
      this.config.logger.warn({ term: this.term, peer_id: target }, 'leadership transfer timed out');
    }
  }

  // ---- messages ----

  send(m: Outgoing): void {
    const message = { ...m, from: this.id, term: m.term ?? this.term } as Message;
    // A leader's replication may leave before its own write is durable, but only once its term is (§10.2.1).
    const early = SENDABLE_BEFORE_PERSIST.has(message.type) && this.persistedHardState.term === this.term;
    (early ? this.messages : this.persistedMessages).push(message);
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'request_vote' && !m.transfer && this.isInLease()) {
        // §4.2.3: a server that heard from a leader within an election timeout ignores the disruption, for now.
        if (m.preVote && this.role !== 'leader') this.deferredPreVote = m;
        return;
      }
      const keepsTerm = (m.type === 'request_vote' && m.preVote) || (m.type === 'request_vote_result' && m.preVote && m.granted);
      if (!keepsTerm) this.becomeFollower(m.term, isFromLeader(m) ? m.from : null);
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }
    if (m.type === 'request_vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        stepLeader(this, m);
        return;
      case 'candidate':
      case 'pre_candidate':
        stepCandidate(this, m);
        return;
      case 'follower':
        stepFollower(this, m);
        return;
    }
  }

  stepStale(m: Message): void {
    if ((m.type === 'append_entries' || m.type === 'heartbeat') && (this.config.checkQuorum || this.config.preVote)) {
      // A leader cut off in an old term learns of the new one, or it would never step down (thesis §9.6).
      this.send({
        type: 'append_entries_result', to: m.from, success: false, matchIndex: 0,
        rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0, seq: 0, sentTick: 0,
      });
    } else if (m.type === 'request_vote' && m.preVote) {
      this.send({ type: 'request_vote_result', to: m.from, preVote: true, granted: false });
    }
  }

  handleVoteRequest(m: Extract<Message, { type: 'request_vote' }>): void {
    const canVote = this.vote === m.from
      || (this.vote === null && this.lead === null)
      || (m.preVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // A granted pre-vote answers in the term asked about, so the pre-candidate can count it.
      this.send({ type: 'request_vote_result', to: m.from, term: m.term, preVote: m.preVote, granted: true });
      if (!m.preVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: 'request_vote_result', to: m.from, preVote: m.preVote, granted: false });
    }
  }

  // ---- log ----

  appendAsLeader(entries: Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    // Leader Append-Only (figure 3): a leader only ever adds after its last entry.
    assert.equal(first.index, this.log.lastIndex() + 1, 'a leader must append after its last entry');
    this.log.append(entries);
    if (this.membership.appended(entries)) this.membershipChanged();
    this.pendingBroadcast = true;
  }

  /** Membership took effect on append (thesis §4.1): track progress for exactly the current members. */
  membershipChanged(): void {
    if (this.role !== 'leader') return;
    const m = this.membership.current();
    const next = new Map<NodeId, Progress>();
    for (const id of members(m)) {
      const pr = this.progress.get(id) ?? this.newProgress(id, m);
      pr.isLearner = !isVoter(m, id);
      next.set(id, pr);
    }
    this.progress = next;
    if (this.leadTransferee !== null && !isVoter(m, this.leadTransferee)) this.leadTransferee = null;
  }

  /** The highest index a majority of voters hold, counting this leader only up to what it has durable. */
  quorumMatch(): number {
    return majorityValue(this.voters(), (id) => (id === this.id ? this.selfMatch() : this.progress.get(id)?.match ?? 0));
  }

  // ---- reads ----

  failPendingReads(): void {
    for (const read of [...this.readOnly.drain(), ...this.readsAwaitingCommit.splice(0)]) {
      this.answerRead(read, null);
    }
  }

  answerRead(read: PendingRead, index: number | null): void {
    if (read.from === this.id) {
      this.readStates.push(index === null ? { requestId: read.requestId, ok: false } : { requestId: read.requestId, ok: true, index });
    } else {
      this.send({ type: 'read_index_result', to: read.from, requestId: read.requestId, index });
    }
  }

  // ---- snapshots ----

  reportSnapshot(index: number): void {
    // Counts a received snapshot not yet installed: the application's image is behind it then.
    const current = this.log.firstIndex() - 1;
    if (index <= current || index > this.log.applied) {
      throw new RaftError('snapshot_out_of_range', `snapshot index ${index} must be in (${current}, ${this.log.applied}]`);
    }
    const term = this.log.term(index);
    assert.ok(term !== null, `no term for applied index ${index}`);
    this.pendingCompaction = { index, term, membership: this.membership.at(index) };
  }
}
