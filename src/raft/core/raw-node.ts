// RawNode: the core's whole surface. Time, messages and requests go in; one Ready comes out per cycle.
import assert from 'node:assert/strict';
import type { RaftConfig } from './config.js';
import { resolveConfig } from './config.js';
import { RaftError } from './errors.js';
import { leaseEndTick, leaseHolds } from './lease.js';
import { isMember, isVoter } from './membership.js';
import type { Message } from './messages.js';
import type { ProgressState } from './progress.js';
import { Raft } from './raft.js';
import type { Ready, Role, SoftState } from './ready.js';
import { broadcastAppend, sendAppend, sendTimeoutNow } from './replication.js';
import { handleReadIndex, maybeCommit } from './step-leader.js';
import type { Entry, HardState, Membership, NodeId, SnapshotMeta } from './types.js';
import { sameHardState } from './types.js';

/** A membership change as the application asks for it; adding goes through a learner stage (thesis §4.2.1). */
export type MembershipRequest =
  | { readonly type: 'add_node'; readonly nodeId: NodeId; readonly context: string }
  | { readonly type: 'remove_node'; readonly nodeId: NodeId };

export interface PeerStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly voter: boolean;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly role: Role;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly membership: Membership;
  readonly leadTransferee: NodeId | null;
  /** Filled on the leader only. */
  readonly progress: Readonly<Record<NodeId, PeerStatus>>;
}

/** What a Ready promised, so that advance() acknowledges exactly that even if more happened since. */
interface InFlightReady {
  readonly hardState: HardState | null;
  readonly lastEntry: Entry | undefined;
  readonly snapshot: SnapshotMeta | null;
  readonly compaction: SnapshotMeta | null;
  readonly lastCommitted: Entry | undefined;
}

export class RawNode {
  readonly #raft: Raft;
  #lastSoftState: SoftState;
  #inFlight: InFlightReady | null = null;

  constructor(config: RaftConfig) {
    this.#raft = new Raft(resolveConfig(config));
    this.#lastSoftState = this.#softState();
  }

  /** Advances logical time by one tick: elections, heartbeats, CheckQuorum and transfer timeouts. */
  tick(): void {
    this.#raft.tick();
  }

  /**
   * Advances logical time by `count` ticks that passed while the process was paused (a long GC, SIGSTOP, a
   * blocked event loop). Leases and heartbeats count them in full; an election timeout or CheckQuorum round
   * ending inside them ends at the next tick() instead, after the messages queued meanwhile were stepped. Without
   * that, a leader paused for an election timeout steps down although its followers answered all along.
   */
  tickPaused(count: number): void {
    for (let i = 0; i < count; i++) this.#raft.tick(true);
  }

  /** Delivers a message from a peer. Messages for another node are ignored. */
  step(message: Message): void {
    this.#raft.step(message);
  }

  /** Forces an election now (operators and tests); nothing happens on a non-voter. */
  campaign(): void {
    if (this.#raft.role !== 'leader') this.#raft.campaign('election');
  }

  /**
   * Appends `data` as a new entry if this node leads. The returned position identifies the proposal:
   * it succeeded if and when the entry applied at `index` has `term`; any other entry there means it was lost.
   */
  propose(data: Uint8Array): { index: number; term: number } {
    const r = this.#leaderAcceptingProposals();
    const entry: Entry = { type: 'normal', term: r.term, index: r.log.lastIndex() + 1, data };
    r.appendAsLeader([entry]);
    return { index: entry.index, term: entry.term };
  }

  /** One membership change at a time, and only once this leader committed an entry of its term (thesis §4.1). */
  proposeMembership(request: MembershipRequest): { index: number; term: number } {
    const r = this.#leaderAcceptingProposals();
    if (r.membership.lastChangeIndex() > r.log.committed || !r.hasCommittedInTerm()) {
      throw new RaftError('conf_change_in_progress', 'a membership change is still being committed');
    }
    const m = r.currentMembership();
    if (request.type === 'add_node' && isMember(m, request.nodeId)) {
      throw new RaftError('invalid_conf_change', `${request.nodeId} is already a member`);
    }
    if (request.type === 'remove_node' && !isMember(m, request.nodeId)) {
      throw new RaftError('invalid_conf_change', `${request.nodeId} is not a member`);
    }
    if (request.type === 'remove_node' && m.voters.length === 1 && isVoter(m, request.nodeId)) {
      throw new RaftError('invalid_conf_change', 'cannot remove the last voter');
    }
    const entry: Entry = {
      type: 'conf_change', term: r.term, index: r.log.lastIndex() + 1,
      change: request.type === 'add_node'
        ? { type: 'add_learner', nodeId: request.nodeId, context: request.context }
        : { type: 'remove_node', nodeId: request.nodeId, context: '' },
    };
    r.appendAsLeader([entry]);
    maybeCommit(r);
    return { index: entry.index, term: entry.term };
  }

  /**
   * Asks for a linearizable read point (thesis §6.4). A ReadState with this id arrives in a later Ready:
   * serve the read once the state machine has applied its index; `ok: false` means retry.
   */
  readIndex(requestId: string): void {
    const r = this.#raft;
    if (r.role === 'leader') {
      handleReadIndex(r, requestId, r.id);
    } else if (r.lead !== null) {
      r.send({ type: 'read_index', to: r.lead, requestId });
    } else {
      r.readStates.push({ requestId, ok: false });
    }
  }

  /** Hands leadership to `to`, or to the most up-to-date voter (thesis §3.10). */
  transferLeadership(to?: NodeId): void {
    const r = this.#raft;
    if (r.role !== 'leader') throw new RaftError('not_leader', 'only the leader can transfer leadership');
    const target = to ?? this.#bestTransferTarget();
    if (target === null || target === r.id || !isVoter(r.currentMembership(), target)) {
      throw new RaftError('invalid_transfer_target', `cannot transfer leadership to ${target ?? 'nobody'}`);
    }
    if (r.leadTransferee === target) return;
    r.leadTransferee = target;
    r.electionElapsed = 0;
    const pr = r.progress.get(target);
    assert.ok(pr !== undefined, `no progress for voter ${target}`);
    if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, target);
    else sendAppend(r, target);
  }

  /** The application durably holds its state at `index` (≤ applied): the log behind it may go. */
  reportSnapshot(index: number): void {
    this.#raft.reportSnapshot(index);
  }

  /** The transport could not reach `id`: stop pipelining to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    const pr = this.#raft.progress.get(id);
    if (this.#raft.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /**
   * True only while this node leads and no other node can have been elected: a majority acknowledged
   * it less than `leaseTicks` ago and no leadership transfer has started. A leader must not act alone
   * (fire a webhook) without it.
   */
  hasLease(): boolean {
    const r = this.#raft;
    if (r.role !== 'leader' || r.leaseRevoked || !r.config.checkQuorum) return false;
    return leaseHolds(r.voters(), r.id, r.ticks, (id) => r.progress.get(id)?.ackedSentTick ?? Number.NEGATIVE_INFINITY,
      r.config.leaseTicks);
  }

  /**
   * Ticks from now until the lease `hasLease()` reports ends unless more acknowledgements come: at least 1, the
   * current tick being one of them; null without a lease. Another thread can act under it until then.
   */
  leaseTicksLeft(): number | null {
    if (!this.hasLease()) return null;
    const r = this.#raft;
    const end = leaseEndTick(r.voters(), r.id, r.ticks, (id) => r.progress.get(id)?.ackedSentTick ?? Number.NEGATIVE_INFINITY,
      r.config.leaseTicks);
    assert.ok(end > r.ticks, `lease: held, yet it ends at tick ${end}, not after now (${r.ticks})`);
    return end - r.ticks;
  }

  hasReady(): boolean {
    const r = this.#raft;
    this.#flushBroadcast();
    return r.messages.length > 0 || r.persistedMessages.length > 0 || r.readStates.length > 0
      || r.snapshotChunks.length > 0 || r.pendingCompaction !== null || r.log.unstable.entries.length > 0
      || r.log.unstable.snapshot !== null || !sameHardState(r.hardState(), r.persistedHardState)
      || !sameSoftState(this.#softState(), this.#lastSoftState) || this.#committedFrom() <= r.log.committed;
  }

  ready(): Ready {
    assert.equal(this.#inFlight, null, 'ready() called again before advance()');
    const r = this.#raft;
    this.#flushBroadcast();
    const softState = this.#softState();
    const hs = r.hardState();
    const hardState = sameHardState(hs, r.persistedHardState) ? null : hs;
    if (hardState !== null) {
      assert.ok(hardState.term >= r.persistedHardState.term, 'persisted term would go back');
      assert.ok(hardState.commit >= r.persistedHardState.commit, 'persisted commit would go back');
    }
    const entries = [...r.log.unstable.entries];
    const snapshot = r.log.unstable.snapshot;
    const committedEntries = r.log.committedEntriesFrom(this.#committedFrom(), r.config.maxApplyBytes);
    const snapshotChunks = r.snapshotChunks.splice(0);
    const ready: Ready = {
      softState: sameSoftState(softState, this.#lastSoftState) ? null : softState,
      hardState,
      entries,
      snapshotChunks,
      snapshot,
      compaction: r.pendingCompaction,
      committedEntries,
      messages: r.messages.splice(0),
      persistedMessages: r.persistedMessages.splice(0),
      readStates: r.readStates.splice(0),
      // A compaction is synced too: the application deletes the old snapshot's file right after it.
      mustSync: entries.length > 0 || snapshot !== null || snapshotChunks.length > 0 || r.pendingCompaction !== null
        || hs.term !== r.persistedHardState.term || hs.vote !== r.persistedHardState.vote,
    };
    r.pendingCompaction = null;
    this.#lastSoftState = softState;
    this.#inFlight = {
      hardState, lastEntry: entries[entries.length - 1], snapshot, compaction: ready.compaction,
      lastCommitted: committedEntries[committedEntries.length - 1],
    };
    return ready;
  }

  /** Acknowledges the last Ready: everything in it is durable, sent and applied as its contract says. */
  advance(): void {
    const done = this.#inFlight;
    assert.ok(done !== null, 'advance() without a ready()');
    this.#inFlight = null;
    const r = this.#raft;
    if (done.hardState !== null) r.persistedHardState = done.hardState;
    if (done.snapshot !== null) {
      r.log.unstable.stableSnapshotTo(done.snapshot.index);
      r.log.applied = Math.max(r.log.applied, done.snapshot.index);
    }
    if (done.lastEntry !== undefined) r.log.unstable.stableTo(done.lastEntry.index, done.lastEntry.term);
    if (done.lastCommitted !== undefined) r.log.appliedTo(done.lastCommitted.index);
    if (done.compaction !== null) r.membership.compactTo(done.compaction.index);
    if (r.role === 'leader') {
      const self = r.progress.get(r.id);
      if (self !== undefined) self.maybeUpdate(r.selfMatch());
      if (maybeCommit(r)) broadcastAppend(r);
    }
  }

  /** The term of the entry at `index` as this node sees it (durable or not); null when compacted or absent. */
  logTerm(index: number): number | null {
    return this.#raft.log.term(index);
  }

  status(): Status {
    const r = this.#raft;
    const progress: Record<NodeId, PeerStatus> = {};
    if (r.role === 'leader') {
      for (const [id, pr] of r.progress) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, voter: !pr.isLearner, recentActive: pr.recentActive };
      }
    }
    return {
      id: r.id, term: r.term, vote: r.vote, role: r.role, leaderId: r.lead,
      commitIndex: r.log.committed, appliedIndex: r.log.applied,
      firstIndex: r.log.firstIndex(), lastIndex: r.log.lastIndex(),
      membership: r.currentMembership(), leadTransferee: r.leadTransferee, progress,
    };
  }

  #leaderAcceptingProposals(): Raft {
    const r = this.#raft;
    if (r.role !== 'leader') throw new RaftError('not_leader', `not the leader (leader: ${r.lead ?? 'unknown'})`);
    if (r.leadTransferee !== null) {
      throw new RaftError('leadership_transfer_in_progress', `leadership is moving to ${r.leadTransferee}`);
    }
    return r;
  }

  #bestTransferTarget(): NodeId | null {
    const r = this.#raft;
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const id of r.voters()) {
      const pr = r.progress.get(id);
      if (id === r.id || pr === undefined || pr.match <= bestMatch) continue;
      best = id;
      bestMatch = pr.match;
    }
    return best;
  }

  /** The first committed index not yet handed to the application (after any snapshot being installed). */
  #committedFrom(): number {
    const r = this.#raft;
    const inFlightApplied = this.#inFlight?.lastCommitted?.index ?? 0;
    const snapshotIndex = r.log.unstable.snapshot?.index ?? 0;
    return Math.max(r.log.applied, inFlightApplied, snapshotIndex) + 1;
  }

  #flushBroadcast(): void {
    const r = this.#raft;
    if (!r.pendingBroadcast) return;
    r.pendingBroadcast = false;
    if (r.role === 'leader') broadcastAppend(r);
  }

  #softState(): SoftState {
    return { role: this.#raft.role, leaderId: this.#raft.lead };
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leaderId === b.leaderId;
}
