// A node's replication as the rest of the program sees it: propose, read linearizably, change membership, on any node.
import { join } from 'node:path';
import type { Entry, Logger, NodeId, Status } from './core/index.js';
import { isMember, RaftError } from './core/index.js';
import { ForwardError, HttpTransport } from './http-transport.js';
import type { PeerTls } from './http-transport.js';
import { LevelStorage, LevelStorageError } from './level-storage.js';
import { ProposalError, ProposalTracker } from './proposal-tracker.js';
import type { RoleChange, RunnerTransport, StateMachine } from './runner.js';
import { stateCheckOf } from './state-check.js';
import type { DigestAnswer, MemberDigest, StateCheck } from './state-check.js';
import { RaftRunner } from './runner.js';
import type { ForwardRequest } from './wire.js';
import { WireDecodeError } from './wire.js';

/** Codes a caller of the service matches on; the API maps each to a status. */
export type ClusterErrorCode =
  | 'no_leader'
  | 'outcome_unknown'
  | 'invalid_conf_change'
  | 'conf_change_in_progress'
  | 'invalid_transfer_target'
  | 'leadership_transfer_in_progress'
  | 'proposal_too_large';

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;

  constructor(code: ClusterErrorCode, message: string) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
  }
}

export interface RaftServiceOptions {
  readonly nodeId: NodeId;
  readonly dataDir: string;
  readonly raftHost: string;
  readonly raftPort: number;
  readonly advertiseAddress: string;
  /** Every initial voter with its Raft address, this node included (PEERS). */
  readonly peers: readonly { readonly id: NodeId; readonly address: string }[];
  /** Voters (this one included) that must answer before a new cluster's first election. */
  readonly bootstrapExpect: number;
  /** Joining a running cluster: start empty, as a learner the leader adds. */
  readonly joining: boolean;
  readonly clusterSecret: string | null;
  readonly peerTls: PeerTls | null;
  readonly tickMs: number;
  readonly electionTimeoutTicks: number;
  readonly electionJitterTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly maxInflightAppends: number;
  readonly maxInflightBytes: number;
  readonly maxAppendBytes: number;
  readonly maxApplyBytes: number;
  readonly snapshotChunkBytes: number;
  readonly maxPendingReads: number;
  readonly snapshotEntriesThreshold: number;
  readonly snapshotLogBytesThreshold: number;
  readonly peerBodyBytesMax: number;
  readonly requestReceiveMs: number;
  readonly proposalTimeoutMs: number;
  /** How long a forwarded request waits for the leader's answer. */
  readonly forwardTimeoutMs: number;
  readonly logger: Logger;
  readonly onFatal: (err: unknown) => void;
  /**
   * Why a follower's forwarded proposal is not an entry this program can apply, or null when it is one. The
   * leader asks before proposing: bytes that reach the log must apply on every node, or every node stops.
   */
  readonly checkProposal: (data: Uint8Array) => string | null;
}

/** See `RaftService.onHandOff`. */
export interface HandOff {
  prepare(): Promise<void>;
  resume(): void;
}

export interface PeerInfo {
  readonly id: NodeId;
  readonly address: string | null;
  readonly voter: boolean;
  /** Leader only. */
  readonly matchIndex: number | null;
  readonly nextIndex: number | null;
  readonly lastContactAtMs: number | null;
}

const retryableForwardCodes = new Set(['not_leader', 'no_leader', 'leadership_transfer_in_progress', 'peer_error']);

export class RaftService {
  readonly #options: RaftServiceOptions;
  readonly #storage: LevelStorage;
  readonly #transport: HttpTransport;
  readonly #runner: RaftRunner;
  readonly #proposals: ProposalTracker;
  readonly #sm: StateMachine;
  #closed = false;
  #closing = 'not closing';
  /** Forwards waiting for the leader's answer, each told of every role change here. */
  readonly #forwardWatchers = new Set<(change: RoleChange) => void>();
  #handOff: HandOff = { prepare: async () => undefined, resume: () => undefined };

  private constructor(options: RaftServiceOptions, storage: LevelStorage, transport: HttpTransport, runner: RaftRunner,
    proposals: ProposalTracker, sm: StateMachine) {
    this.#options = options;
    this.#storage = storage;
    this.#transport = transport;
    this.#runner = runner;
    this.#proposals = proposals;
    this.#sm = sm;
    runner.onRoleChange((change) => {
      for (const watcher of this.#forwardWatchers) watcher(change);
    });
  }

  /** Opens the log, listens on the Raft port, waits for BOOTSTRAP_EXPECT peers on a new cluster, starts ticking. */
  static async start(options: RaftServiceOptions, sm: StateMachine): Promise<RaftService> {
    const openedAtMs = performance.now();
    const storage = await LevelStorage.open(options.dataDir, (path) => sm.checkSnapshot(path));
    options.logger.info({ first_index: storage.firstIndex(), last_index: storage.lastIndex(), snapshot_index: storage.snapshot().index,
      duration_ms: Math.round(performance.now() - openedAtMs) }, 'raft log opened');
    const fresh = storage.isEmpty();
    if (fresh && !options.joining) await bootstrap(storage, options.peers);
    const snapshot = storage.snapshot();
    const snapshotPath = storage.snapshotPath();
    if (sm.appliedIndex() < snapshot.index && snapshotPath !== null) {
      // A crash between installing a snapshot in the log and restoring the state machine from it.
      options.logger.info({ index: snapshot.index }, 'state machine behind the log snapshot, restoring it');
      await sm.restore(snapshotPath, snapshot);
    }
    refuseStoreAheadOfLog(options.dataDir, sm.appliedIndex(), storage);
    const proposals = new ProposalTracker(options.proposalTimeoutMs);
    let service: RaftService | null = null;
    const transport = await HttpTransport.listen({
      nodeId: options.nodeId, host: options.raftHost, port: options.raftPort, advertiseAddress: options.advertiseAddress,
      clusterSecret: options.clusterSecret, bodyBytesMax: options.peerBodyBytesMax, requestReceiveMs: options.requestReceiveMs, queuedMessagesMax: 10_000,
      logger: options.logger, tls: options.peerTls,
    }, {
      onMessages: (batch) => (service === null ? undefined : service.#runner.step(batch.messages)),
      acceptsFrom: (id) => {
        // Before the service exists, onMessages drops everything anyway.
        if (service === null) return true;
        const { membership } = service.status();
        return (membership.voters.length === 0 && membership.learners.length === 0) || isMember(membership, id);
      },
      onForward: (request) => {
        if (service === null) throw new RaftError('not_leader', 'starting up');
        return service.#onForward(request, 'peer');
      },
      onStateDigest: (index, waitMs) => (service === null
        ? Promise.resolve({ state: 'unknown', error: 'starting up' })
        : service.#localDigest(index, waitMs)),
    });
    for (const peer of options.peers) transport.setPeerAddress(peer.id, peer.address);
    const runner = new RaftRunner({ ...options }, storage, sm, pinningPeers(transport, options.peers), proposals);
    transport.onUnreachable = () => {};
    service = new RaftService(options, storage, transport, runner, proposals, sm);
    if (fresh && !options.joining) {
      // The node answers (health, peers' messages) while it waits; it only holds back its first election.
      const started = service;
      service.#awaitPeers().then(() => {
        if (!started.#closed) runner.start();
      }, options.onFatal);
    } else {
      runner.start();
    }
    return service;
  }

  get nodeId(): NodeId {
    return this.#options.nodeId;
  }

  status(): Status {
    return this.#runner.status();
  }

  hasLease(): boolean {
    return this.#runner.hasLease();
  }

  /** See RaftRunner.leaseDeadlineNs. */
  leaseDeadlineNs(): bigint | null {
    return this.#runner.leaseDeadlineNs();
  }

  onRoleChange(listener: (change: RoleChange) => void): void {
    this.#runner.onRoleChange(listener);
  }

  onApplied(listener: (entries: readonly Entry[], results: ReadonlyMap<number, unknown>) => void): void {
    this.#runner.onApplied(listener);
  }

  onRemoved(listener: () => void): void {
    this.#runner.onRemoved(listener);
  }

  /**
   * What this leader does around a transfer of its leadership (`/cluster/transfer-leadership`, or the hand-over
   * at SIGTERM): `prepare` before it (the scheduler drains, so the next leader sends no fire of this one's again and
   * finds no at_most_once claim to record `unknown`), `resume` when the transfer ended with this node still leading
   * in the same term (refused, or abandoned after an election timeout).
   */
  onHandOff(handOff: HandOff): void {
    this.#handOff = handOff;
  }

  /** What close() waits for now (a shutdown that takes too long says so). */
  closingStep(): string {
    return this.#closing;
  }

  /** The Raft port actually bound. */
  raftPort(): number {
    return this.#transport.port();
  }

  peerAddress(id: NodeId): string | null {
    return this.#transport.peerAddress(id);
  }

  peers(): PeerInfo[] {
    const s = this.#runner.status();
    const ids = [...s.membership.voters, ...s.membership.learners];
    return ids.map((id) => {
      const progress = s.progress[id];
      return {
        id, address: this.#transport.peerAddress(id), voter: s.membership.voters.includes(id),
        matchIndex: progress?.match ?? null, nextIndex: progress?.next ?? null,
        lastContactAtMs: id === s.id ? null : this.#transport.lastContactAtMs(id),
      };
    });
  }

  snapshotIndex(): number {
    return this.#storage.snapshot().index;
  }

  /** The log's memory: entry data held (up to 16 MiB applied, plus what is not applied yet) and LevelDB's own. */
  logMemory(): { readonly entryBytes: number; readonly levelDbBytes: number | null } {
    return { entryBytes: this.#storage.heldEntryBytes(), levelDbBytes: this.#storage.levelDbMemoryBytes() };
  }

  /**
   * Replicates `data`; resolves with the state machine's result once it is applied on the leader. `data` is this
   * program's own, built by a checked encoder: a leader proposes it as it is, and checks only what followers
   * forward (decoding a command once more cost the leader about 3 % of its CPU under batch creates).
   */
  propose(data: Uint8Array): Promise<unknown> {
    return this.#route({ kind: 'propose', data });
  }

  /**
   * Replicates `data` only if this node leads, never through another leader: the scheduler's fire events
   * belong to the term that produced them. Rejects with `no_leader` on a follower.
   */
  async proposeHere(data: Uint8Array): Promise<unknown> {
    if (this.#runner.status().role !== 'leader') throw new ClusterError('no_leader', 'this node does not lead');
    try {
      return await this.#runner.proposeLocal(data);
    } catch (err) {
      throw toClusterError(err);
    }
  }

  addNode(nodeId: NodeId, address: string): Promise<unknown> {
    return this.#route({ kind: 'add_node', nodeId, address });
  }

  removeNode(nodeId: NodeId): Promise<unknown> {
    return this.#route({ kind: 'remove_node', nodeId });
  }

  async transferLeadership(to: NodeId | null): Promise<void> {
    await this.#route({ kind: 'transfer', to });
  }

  /**
   * Waits until this node's state machine reflects every write committed before the call (thesis §6.4), and, on a
   * leader, every entry it had appended by then: a scheduler that restarts in the same term (its lease lapsed, or a
   * proposal failed) must see the claims its last run proposed. A claim still uncommitted at the read point would
   * otherwise apply after the restart read what is in flight, and its fire was never sent nor recorded (a fault run
   * under slow links lost three at_most_once fires so).
   */
  async readBarrier(): Promise<void> {
    const status = this.#runner.status();
    const appended = status.role === 'leader' ? status.lastIndex : 0;
    const deadline = performance.now() + this.#waitForLeaderMs();
    for (;;) {
      const index = await this.#runner.readIndex();
      if (index !== null) break;
      if (performance.now() > deadline) throw new ClusterError('no_leader', 'no leader could confirm a linearizable read');
      await sleep(this.#options.tickMs);
    }
    // Entries of this term apply as they commit; ones a new leader overwrote leave this node a follower, and the
    // scheduler's run that waits here is stopped by that role change anyway.
    await this.#runner.waitApplied(appended);
  }

  /**
   * Every member's digest of its state at `index`, where the log holds the application's request for one, and
   * what they say together. Each member is given `waitMs` to apply the entry and digest its state.
   */
  async checkStateAt(index: number, waitMs: number): Promise<StateCheck> {
    const s = this.#runner.status();
    const ids = [...s.membership.voters, ...s.membership.learners];
    const members = await Promise.all(ids.map(async (id): Promise<MemberDigest> => ({
      id, ...await (id === s.id ? this.#localDigest(index, waitMs) : this.#transport.stateDigest(id, index, waitMs)),
    })));
    return stateCheckOf(index, members);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing = 'the Raft loop and applies';
    await this.#runner.stop();
    this.#proposals.abortAll();
    this.#closing = 'peer requests in progress (the Raft port)';
    await this.#transport.close();
    this.#closing = 'the Raft log (LevelDB)';
    await this.#storage.close();
    this.#closing = 'nothing';
  }

  async #awaitPeers(): Promise<void> {
    const others = this.#options.peers.filter((p) => p.id !== this.#options.nodeId);
    const needed = this.#options.bootstrapExpect - 1;
    let answered = 0;
    while (answered < needed && !this.#closed) {
      const ids = await Promise.all(others.map((p) => this.#transport.ping(p.address, 1000)));
      answered = ids.filter((id, i) => id === others[i]?.id).length;
      if (answered >= needed) break;
      this.#options.logger.info({ answered, needed }, 'waiting for peers before the first election');
      await sleep(500);
    }
  }

  /** This node's digest at `index`, once it has applied the entry there and digested its state, within `waitMs`. */
  async #localDigest(index: number, waitMs: number): Promise<DigestAnswer> {
    const deadline = performance.now() + waitMs;
    // Polled, not a waiter of the runner's: a peer may name an index this node never reaches, and such waiters would stay.
    while (this.#sm.appliedIndex() < index) {
      if (performance.now() >= deadline || this.#closed) {
        return { state: 'unknown', error: `applied only up to ${this.#sm.appliedIndex()} after ${waitMs} ms` };
      }
      await sleep(Math.min(this.#options.tickMs, Math.max(0, deadline - performance.now())));
    }
    const pending = this.#sm.stateDigest(index);
    if (pending === null) {
      return { state: 'unknown', error: `applied no state check at ${index} (restored a snapshot past it, or restarted since)` };
    }
    try {
      const digest = await within(pending, Math.max(0, deadline - performance.now()));
      if (digest === timedOut) return { state: 'unknown', error: `still digesting after ${waitMs} ms` };
      if (digest === null) return { state: 'unknown', error: 'closing' };
      return { state: 'ok', digest: digest.digest, records: digest.records };
    } catch (err) {
      return { state: 'damaged', error: (err as Error).message };
    }
  }

  /** Waits out the transfer (it moves, or is abandoned, within an election timeout), then resumes if it did not move. */
  async #resumeAfterTransfer(term: number): Promise<void> {
    const deadline = performance.now() + 2 * this.#options.tickMs * this.#options.electionTimeoutTicks;
    while (!this.#closed && performance.now() < deadline) {
      const s = this.#runner.status();
      if (s.role !== 'leader' || s.term !== term) return;
      await sleep(this.#options.tickMs);
    }
    this.#resumeIfLeading(term);
  }

  #resumeIfLeading(term: number): void {
    const s = this.#runner.status();
    if (!this.#closed && s.role === 'leader' && s.term === term) this.#handOff.resume();
  }

  #waitForLeaderMs(): number {
    return this.#options.tickMs * this.#options.electionTimeoutTicks * 4;
  }

  /** Runs the request here if this node leads, else on the leader; waits out an election in between. */
  async #route(request: ForwardRequest): Promise<unknown> {
    const deadline = performance.now() + this.#waitForLeaderMs();
    for (;;) {
      const s = this.#runner.status();
      try {
        if (s.role === 'leader') return await this.#onForward(request, 'own');
        if (s.leaderId !== null && s.leaderId !== s.id) return await this.#forwardWhileLeading(s.leaderId, request);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (!(typeof code === 'string' && (retryableForwardCodes.has(code) || code === 'proposal_dropped'))) {
          throw toClusterError(err);
        }
        // The write was refused or dropped without being applied: trying again cannot apply it twice.
      }
      if (performance.now() > deadline) throw new ClusterError('no_leader', 'no leader is available; the write was not applied');
      await sleep(this.#options.tickMs);
    }
  }

  /**
   * Forwards to `leaderId` and waits for its answer only while this node still follows it. A leader that froze (a
   * SIGSTOP, a VM pause) or was cut off keeps its connection open, and the answer would come at the timeout, 11 s
   * on: once this node sees another leader or none (an election), the answer is `outcome_unknown` at once, as
   * etcd answers "leader changed", and the client can retry an idempotent create through the new leader.
   */
  async #forwardWhileLeading(leaderId: NodeId, request: ForwardRequest): Promise<unknown> {
    const abandoned = new AbortController();
    const watcher = (change: RoleChange): void => {
      if (change.leaderId !== leaderId) abandoned.abort(new Error(`leader ${leaderId} lost while it held the request`));
    };
    this.#forwardWatchers.add(watcher);
    try {
      return await this.#transport.forward(leaderId, request, this.#options.forwardTimeoutMs, abandoned.signal);
    } finally {
      this.#forwardWatchers.delete(watcher);
    }
  }

  /** On the leader: do what a follower forwarded (or what this node asked of itself). */
  async #onForward(request: ForwardRequest, from: 'peer' | 'own'): Promise<unknown> {
    switch (request.kind) {
      case 'propose': {
        const problem = from === 'own' ? null : this.#options.checkProposal(request.data);
        if (problem !== null) throw new WireDecodeError(`forwarded proposal refused: ${problem}`);
        return this.#runner.proposeLocal(request.data);
      }
      case 'add_node':
        return this.#runner.addNodeLocal(request.nodeId, request.address);
      case 'remove_node':
        return this.#runner.removeNodeLocal(request.nodeId);
      case 'transfer': {
        const { term } = this.#runner.status();
        await this.#handOff.prepare();
        try {
          this.#runner.transferLeadershipLocal(request.to);
        } catch (err) {
          this.#resumeIfLeading(term);
          throw err;
        }
        void this.#resumeAfterTransfer(term);
        return null;
      }
    }
  }
}

/**
 * A store that applied entries the log no longer commits means the log lost acknowledged entries (a truncated or
 * damaged raft directory, a lost hard state): nothing says what those entries were, so the node refuses to start,
 * in one line that names both directories (the runner would otherwise stop on its invariant, with a stack trace).
 */
function refuseStoreAheadOfLog(dataDir: string, applied: number, storage: LevelStorage): void {
  const snapshot = storage.snapshot().index;
  const commit = storage.hardState().commit;
  if (applied <= Math.max(commit, snapshot)) return;
  throw new LevelStorageError(`${join(dataDir, 'raft')}: the log commits entries up to ${Math.max(commit, snapshot)} only, `
    + `but ${join(dataDir, 'state')} applied up to ${applied}: the log lost acknowledged entries; restore this data dir `
    + 'from a backup, or remove it and add the node back to rebuild it from the other members');
}

/** Errors that cross the service boundary all carry a ClusterErrorCode or a domain code the API knows. */
function toClusterError(err: unknown): unknown {
  if (err instanceof ProposalError) return new ClusterError(err.code === 'outcome_unknown' ? 'outcome_unknown' : 'no_leader', err.message);
  if (err instanceof RaftError) {
    switch (err.code) {
      case 'not_leader':
        return new ClusterError('no_leader', err.message);
      case 'snapshot_out_of_range':
        return err;
      default:
        return new ClusterError(err.code, err.message);
    }
  }
  if (err instanceof ForwardError) {
    const known: readonly string[] = ['no_leader', 'outcome_unknown', 'invalid_conf_change', 'conf_change_in_progress',
      'invalid_transfer_target', 'leadership_transfer_in_progress', 'proposal_too_large'];
    return known.includes(err.code) ? new ClusterError(err.code as ClusterErrorCode, err.message) : err;
  }
  return err;
}

/**
 * This node's PEERS say how it reaches each voter they name, and win over addresses replicated from other
 * nodes (a leader's snapshot carries the leader's view): behind NAT, sidecars or per-link proxies, the same
 * voter has a different address from each node. Voters PEERS does not name (joined later) use the replicated one.
 */
function pinningPeers(transport: HttpTransport, peers: RaftServiceOptions['peers']): RunnerTransport {
  const pinned = new Set(peers.map((p) => p.id));
  return {
    send: (messages) => transport.send(messages),
    setPeerAddress: (id, address) => {
      if (!pinned.has(id)) transport.setPeerAddress(id, address);
    },
    removePeer: (id) => {
      // A voter removed and joined again later announces its new address; it is no longer PEERS' voter.
      pinned.delete(id);
      transport.removePeer(id);
    },
  };
}

/** A new cluster's first entries: one add_voter per PEERS entry, its Raft address as context, committed. */
async function bootstrap(storage: LevelStorage, peers: RaftServiceOptions['peers']): Promise<void> {
  const entries: Entry[] = peers.map((p, i) => ({
    type: 'conf_change', term: 1, index: i + 1, change: { type: 'add_voter', nodeId: p.id, context: p.address },
  }));
  await storage.write({
    hardState: { term: 1, vote: null, commit: entries.length }, entries, snapshotChunks: [], snapshot: null,
    compaction: null, sync: true,
  });
}

const timedOut = Symbol('timed out');

/** `promise`'s value, or `timedOut` if `ms` pass first; the timer does not outlive the race (it would hold a closing process). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof timedOut> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<typeof timedOut>((resolve) => {
      timer = setTimeout(() => resolve(timedOut), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
