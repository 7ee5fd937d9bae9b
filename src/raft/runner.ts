// Drives the Raft core with real time and I/O: tick, then each Ready as send -> persist -> send -> advance, with
// committed entries applied in order behind the loop.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Entry, Logger, NodeId, ReadState, Ready, SnapshotMeta, Status } from './core/index.js';
import { RaftError, RawNode, SeededRandom } from './core/index.js';
import type { StorageWrite } from './level-storage.js';
import type { LevelStorage } from './level-storage.js';
import type { ProposalTracker } from './proposal-tracker.js';
import { snapshotDue, stretched } from './snapshot-policy.js';
import type { SnapshotPolicy } from './snapshot-policy.js';
import type { StateDigestOf } from './state-check.js';

/**
 * What the runner needs of the application's state machine; the store satisfies it without importing raft.
 * Every method is called from the runner's one loop, never two at a time.
 */
export interface StateMachine {
  /** The last entry index whose effects are durable in the state machine. */
  appliedIndex(): number;
  /**
   * Applies committed entries in order, durably, together with the new applied index (one write, so a
   * restart re-applies exactly what is missing). Returns the result of each normal entry by index.
   */
  apply(entries: readonly Entry[]): Promise<ReadonlyMap<number, unknown>>;
  /** Replaces the whole state with the snapshot file's contents, which hold the state at `meta.index`. */
  restore(path: string, meta: SnapshotMeta): Promise<void>;
  /** Throws unless `restore` could read the file: checked before a received snapshot replaces the log and state. */
  checkSnapshot(path: string): Promise<void>;
  /**
   * Starts writing the state as of appliedIndex() to `path`, from a point-in-time view taken at once, so
   * applying may go on meanwhile. Resolves when the file is complete and synced.
   */
  writeSnapshot(path: string): Promise<void>;
  /** Raft addresses of members, as recorded from applied membership changes. */
  memberAddresses(): ReadonlyMap<NodeId, string>;
  /**
   * The digest of the state as of `index`, where the state machine applied an entry that asked for one (the
   * application's own command): null when it did not apply one there or no longer holds it. The promise resolves
   * null if the state machine closes first.
   */
  stateDigest(index: number): Promise<StateDigestOf | null> | null;
}

/** The part of the transport the runner drives. */
export interface RunnerTransport {
  send(messages: Ready['messages']): void;
  setPeerAddress(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
}

export interface RunnerOptions {
  readonly nodeId: NodeId;
  readonly tickMs: number;
  readonly electionTimeoutTicks: number;
  readonly electionJitterTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly maxInflightAppends: number;
  readonly maxInflightBytes: number;
  readonly maxAppendBytes: number;
  /** Committed entry bytes applied per Ready (etcd's MaxCommittedSizePerReady). */
  readonly maxApplyBytes: number;
  readonly snapshotChunkBytes: number;
  readonly maxPendingReads: number;
  /** Compact the log once this many entries were applied since the last snapshot. */
  readonly snapshotEntriesThreshold: number;
  /** ...or once this many entry bytes were applied since it. */
  readonly snapshotLogBytesThreshold: number;
  readonly logger: Logger;
  /** A broken invariant or a failed disk write: the process must stop rather than go on with bad state. */
  readonly onFatal: (err: unknown) => void;
}

export interface RoleChange {
  readonly role: Status['role'];
  readonly leaderId: NodeId | null;
  readonly term: number;
}

export class RaftRunner {
  readonly #options: RunnerOptions;
  readonly #storage: LevelStorage;
  readonly #sm: StateMachine;
  readonly #transport: RunnerTransport;
  readonly #raw: RawNode;
  readonly #proposals: ProposalTracker;
  /** When real time started for this runner (start()): tick t begins at #startedAtMs + t × tickMs. */
  #startedAtMs = 0;
  #ticks = 0;
  #ticking = false;
  #timer: NodeJS.Timeout | null = null;
  #looping = false;
  #stopped = false;
  #applyChain: Promise<void> = Promise.resolve();
  #appliesQueued = 0;
  #bytesSinceSnapshot = 0;
  #snapshotting = false;
  #lastSnapshotIndex: number;
  /** Size of the newest snapshot file: what writing the next one will cost. */
  #lastSnapshotBytes: number;
  /** Draws how far this node's next snapshot is put off past the thresholds, so the nodes do not snapshot in step. */
  readonly #snapshotRandom: SeededRandom;
  #snapshotPolicy: SnapshotPolicy;
  readonly #readWaiters = new Map<string, (index: number | null) => void>();
  readonly #appliedWaiters: { index: number; resolve: () => void }[] = [];
  readonly #roleListeners: ((change: RoleChange) => void)[] = [];
  readonly #applyListeners: ((entries: readonly Entry[], results: ReadonlyMap<number, unknown>) => void)[] = [];
  readonly #removedListeners: (() => void)[] = [];
  /** Resolvers of `step` calls whose messages the next Ready will reflect. */
  readonly #steppedWaiters: (() => void)[] = [];

  constructor(options: RunnerOptions, storage: LevelStorage, sm: StateMachine, transport: RunnerTransport,
    proposals: ProposalTracker) {
    this.#options = options;
    this.#storage = storage;
    this.#sm = sm;
    this.#transport = transport;
    this.#proposals = proposals;
    const applied = Math.max(sm.appliedIndex(), storage.snapshot().index);
    assert.ok(applied <= storage.hardState().commit || applied === storage.snapshot().index,
      `state machine applied ${applied} beyond the log's commit ${storage.hardState().commit}`);
    this.#lastSnapshotIndex = storage.snapshot().index;
    this.#lastSnapshotBytes = fileBytes(storage.snapshotPath());
    this.#snapshotRandom = new SeededRandom(seedFrom(`${options.nodeId}/snapshots`));
    this.#snapshotPolicy = this.#drawSnapshotPolicy();
    this.#raw = new RawNode({
      id: options.nodeId, storage, random: new SeededRandom(seedFrom(options.nodeId)),
      electionTimeoutTicks: options.electionTimeoutTicks, electionJitterTicks: options.electionJitterTicks,
      heartbeatIntervalTicks: options.heartbeatIntervalTicks,
      applied, maxInflightAppends: options.maxInflightAppends, maxInflightBytes: options.maxInflightBytes,
      maxAppendBytes: options.maxAppendBytes,
      maxApplyBytes: options.maxApplyBytes,
      snapshotChunkBytes: options.snapshotChunkBytes, maxPendingReads: options.maxPendingReads, logger: options.logger,
    });
    for (const [id, address] of sm.memberAddresses()) transport.setPeerAddress(id, address);
    storage.releaseAppliedThrough(sm.appliedIndex());
  }

  /** Starts real time. A sole voter campaigns at once rather than waiting out an election timeout. */
  start(): void {
    assert.equal(this.#timer, null, 'runner started twice');
    // From now, not from construction: a new cluster's node waits for its peers before it starts (BOOTSTRAP_EXPECT),
    // and counting that wait made every first start log a pause of about a second.
    this.#startedAtMs = performance.now();
    this.#ticking = true;
    this.#timer = setInterval(() => {
      this.#catchUpTicks();
      this.#wake();
    }, this.#options.tickMs);
    const voters = this.#raw.status().membership.voters;
    if (voters.length === 1 && voters[0] === this.#options.nodeId) this.#raw.campaign();
    this.#wake();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    while (this.#looping) await new Promise((resolve) => setImmediate(resolve));
    await this.#applyChain;
  }

  get nodeId(): NodeId {
    return this.#options.nodeId;
  }

  status(): Status {
    return this.#raw.status();
  }

  /** True only while this node leads and no other can have been elected (the core's lease, on real time). */
  hasLease(): boolean {
    this.#catchUpTicks();
    return this.#raw.hasLease();
  }

  /**
   * Until when (process.hrtime.bigint(), in ns: one clock for every thread of the process) the lease `hasLease()`
   * reports holds without further acknowledgements; null when there is none now.
   */
  leaseDeadlineNs(): bigint | null {
    this.#catchUpTicks();
    const ticksLeft = this.#raw.leaseTicksLeft();
    if (ticksLeft === null) return null;
    // The core is at this runner's tick now (#catchUpTicks; after a long pause its own count lags, so its ticks
    // are counted from here), and tick t starts at #startedAtMs + t × tickMs: the lease ends as tick
    // #ticks + ticksLeft starts, at least a tick's start away.
    const endMs = this.#startedAtMs + (this.#ticks + ticksLeft) * this.#options.tickMs;
    return process.hrtime.bigint() + BigInt(Math.max(0, Math.floor((endMs - performance.now()) * 1e6)));
  }

  onRoleChange(listener: (change: RoleChange) => void): void {
    this.#roleListeners.push(listener);
  }

  onApplied(listener: (entries: readonly Entry[], results: ReadonlyMap<number, unknown>) => void): void {
    this.#applyListeners.push(listener);
  }

  /** This node's removal from the cluster was applied; it should shut down. */
  onRemoved(listener: () => void): void {
    this.#removedListeners.push(listener);
  }

  /**
   * A batch of messages from a peer. Resolves once what they caused has been sent: the Ready after them, up to the
   * messages that wait for its disk write (an append's acknowledgement), or at once when they caused none.
   */
  step(messages: Ready['messages']): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#catchUpTicks();
    for (const m of messages) this.#raw.step(m);
    const sent = new Promise<void>((resolve) => this.#steppedWaiters.push(resolve));
    this.#wake();
    return sent;
  }

  /** Proposes on this node, which must lead; resolves with the state machine's result once applied. */
  proposeLocal(data: Uint8Array): Promise<unknown> {
    const at = this.#raw.propose(data);
    this.#wake();
    return this.#proposals.wait(at.index, at.term);
  }

  addNodeLocal(nodeId: NodeId, address: string): Promise<unknown> {
    const at = this.#raw.proposeMembership({ type: 'add_node', nodeId, context: address });
    this.#wake();
    return this.#proposals.wait(at.index, at.term);
  }

  removeNodeLocal(nodeId: NodeId): Promise<unknown> {
    const at = this.#raw.proposeMembership({ type: 'remove_node', nodeId });
    this.#wake();
    return this.#proposals.wait(at.index, at.term);
  }

  transferLeadershipLocal(to: NodeId | null): void {
    if (this.#raw.status().role !== 'leader') throw new RaftError('not_leader', 'this node is not the leader');
    this.#raw.transferLeadership(to ?? undefined);
    this.#wake();
  }

  /** Forces an election (a joining learner never does; operators may). */
  campaign(): void {
    this.#raw.campaign();
    this.#wake();
  }

  /**
   * A linearizable read point (thesis §6.4): resolves once this node's state machine has applied
   * everything committed when the read was asked; null when no leader confirmed it within an election timeout.
   * A follower's request to the leader, or the answer, can be lost (the leader stepped down or died, a link
   * dropped it), and nothing else would ever answer it; a late answer to a request given up on is ignored.
   */
  readIndex(): Promise<number | null> {
    const requestId = randomUUID();
    const done = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        if (this.#readWaiters.delete(requestId)) resolve(null);
      }, this.#options.tickMs * this.#options.electionTimeoutTicks);
      this.#readWaiters.set(requestId, (index) => {
        clearTimeout(timer);
        resolve(index);
      });
    });
    this.#raw.readIndex(requestId);
    this.#wake();
    return done;
  }

  /** Resolves once the state machine has applied `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.#sm.appliedIndex() >= index) return Promise.resolve();
    return new Promise((resolve) => this.#appliedWaiters.push({ index, resolve }));
  }

  #catchUpTicks(): void {
    if (!this.#ticking || this.#stopped) return;
    // Ticks follow the monotonic clock, not timer callbacks: a leader that was paused (GC, SIGSTOP) counts
    // the time it lost before it trusts its lease again.
    const due = Math.floor((performance.now() - this.#startedAtMs) / this.#options.tickMs);
    const behind = due - this.#ticks;
    if (behind <= 0) return;
    this.#ticks = due;
    const count = Math.min(behind, this.#options.electionTimeoutTicks * 4);
    // A quarter of an election timeout late is a pause, not timer jitter: the messages that queued up meanwhile
    // are stepped before the core may judge the leader or the followers silent, else a leader stalled for an
    // election timeout steps down though every follower answered. Lag below that still ends rounds on time.
    if (count > this.#options.electionTimeoutTicks / 4) {
      this.#options.logger.warn({ paused_ms: behind * this.#options.tickMs, role: this.#raw.status().role },
        'raft ticks were paused (event loop blocked, GC or SIGSTOP)');
      this.#raw.tickPaused(count);
    } else {
      for (let i = 0; i < count; i++) this.#raw.tick();
    }
  }

  #wake(): void {
    if (this.#looping || this.#stopped) return;
    this.#looping = true;
    setImmediate(() => void this.#loop());
  }

  async #loop(): Promise<void> {
    try {
      while (!this.#stopped && this.#raw.hasReady()) {
        // The Ready taken now reflects every message stepped so far.
        const stepped = this.#steppedWaiters.splice(0);
        try {
          await this.#handle(this.#raw.ready(), stepped);
        } finally {
          resolveAll(stepped);
        }
      }
    } catch (err) {
      this.#stopped = true;
      this.#options.onFatal(err);
    } finally {
      this.#looping = false;
      // Messages that caused no Ready have nothing to send.
      resolveAll(this.#steppedWaiters.splice(0));
    }
  }

  async #handle(ready: Ready, stepped: readonly (() => void)[]): Promise<void> {
    if (ready.softState !== null) this.#roleChanged();
    this.#transport.send(ready.messages);
    const write: StorageWrite = {
      hardState: ready.hardState, entries: ready.entries, snapshotChunks: ready.snapshotChunks,
      snapshot: ready.snapshot, compaction: ready.compaction, sync: ready.mustSync,
    };
    await this.#storage.write(write);
    if (ready.snapshot !== null) {
      await this.#applyChain;
      await this.#restore(ready.snapshot);
    }
    this.#transport.send(ready.persistedMessages);
    // Before the apply below may wait: an acknowledgement must not be held back by this node's state machine.
    resolveAll(stepped);
    if (ready.committedEntries.length > 0) {
      // At most one apply waits behind the running one, so a slow state machine slows Raft rather than piling up.
      if (this.#appliesQueued > 1) await this.#applyChain;
      this.#enqueueApply(ready.committedEntries);
    }
    for (const read of ready.readStates) this.#answerRead(read);
    this.#raw.advance();
  }

  /**
   * Applies run one after another, each alongside the next Ready's disk write and messages: heartbeats and
   * acknowledgements keep flowing while the state machine works (etcd applies in its own goroutine likewise).
   * Every entry handed over here is committed and already durable in this node's log.
   */
  #enqueueApply(committed: readonly Entry[]): void {
    this.#appliesQueued++;
    this.#applyChain = this.#applyChain.then(async () => {
      if (this.#stopped) return;
      await this.#apply(committed);
      // Between two applies, so the snapshot's point-in-time view matches appliedIndex().
      this.#maybeSnapshot();
    }).catch((err: unknown) => {
      this.#stopped = true;
      this.#options.onFatal(err);
    }).finally(() => {
      this.#appliesQueued--;
    });
  }

  #roleChanged(): void {
    const s = this.#raw.status();
    this.#options.logger.info({ term: s.term, role: s.role, leader_id: s.leaderId }, 'role changed');
    for (const listener of this.#roleListeners) listener({ role: s.role, leaderId: s.leaderId, term: s.term });
  }

  async #restore(meta: SnapshotMeta): Promise<void> {
    const path = this.#storage.snapshotPath();
    assert.ok(path !== null, `snapshot ${meta.index} installed without a file`);
    await this.#sm.restore(path, meta);
    assert.equal(this.#sm.appliedIndex(), meta.index, 'state machine restored to another index');
    this.#lastSnapshotIndex = meta.index;
    this.#lastSnapshotBytes = fileBytes(path);
    this.#bytesSinceSnapshot = 0;
    for (const [id, address] of this.#sm.memberAddresses()) this.#transport.setPeerAddress(id, address);
    this.#proposals.appliedThrough(meta.index);
    this.#options.logger.info({ index: meta.index, term: meta.term }, 'restored snapshot');
    this.#releaseAppliedWaiters();
  }

  async #apply(committed: readonly Entry[]): Promise<void> {
    const entries = committed.filter((e) => e.index > this.#sm.appliedIndex());
    if (entries.length === 0) return;
    const before = this.#sm.appliedIndex();
    assert.equal(entries[0]?.index, before + 1, `apply of ${entries[0]?.index} after applied ${before}`);
    const startedAtMs = performance.now();
    const results = await this.#sm.apply(entries);
    for (const entry of entries) if (entry.type === 'normal') this.#bytesSinceSnapshot += entry.data.byteLength;
    const tookMs = performance.now() - startedAtMs;
    // Applies run behind the loop, but a slow one delays every write waiting on its result and the next Ready.
    if (tookMs > this.#options.tickMs * this.#options.electionTimeoutTicks / 4) {
      this.#options.logger.warn({ entries: entries.length, from_index: before + 1, duration_ms: Math.round(tookMs) }, 'slow apply');
    }
    for (const entry of entries) {
      if (entry.type === 'conf_change') this.#membershipApplied(entry);
      this.#proposals.applied(entry.index, entry.term, results.get(entry.index));
    }
    for (const listener of this.#applyListeners) listener(entries, results);
    this.#storage.releaseAppliedThrough(this.#sm.appliedIndex());
    this.#releaseAppliedWaiters();
  }

  #membershipApplied(entry: Entry & { type: 'conf_change' }): void {
    const { change } = entry;
    this.#options.logger.info({ index: entry.index, change: change.type, peer_id: change.nodeId }, 'membership changed');
    if (change.type === 'remove_node') {
      this.#transport.removePeer(change.nodeId);
      if (change.nodeId === this.#options.nodeId) for (const listener of this.#removedListeners) listener();
    } else if (change.context !== '') {
      this.#transport.setPeerAddress(change.nodeId, change.context);
    }
  }

  #answerRead(read: ReadState): void {
    const resolve = this.#readWaiters.get(read.requestId);
    if (resolve === undefined) return;
    this.#readWaiters.delete(read.requestId);
    if (!read.ok) {
      resolve(null);
      return;
    }
    void this.waitApplied(read.index).then(() => resolve(read.index));
  }

  #releaseAppliedWaiters(): void {
    const applied = this.#sm.appliedIndex();
    for (let i = this.#appliedWaiters.length - 1; i >= 0; i--) {
      const waiter = this.#appliedWaiters[i];
      if (waiter !== undefined && waiter.index <= applied) {
        this.#appliedWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  #drawSnapshotPolicy(): SnapshotPolicy {
    const base = { entriesThreshold: this.#options.snapshotEntriesThreshold, logBytesThreshold: this.#options.snapshotLogBytesThreshold };
    return stretched(base, this.#snapshotRandom.next());
  }

  /** Every so many applied entries or bytes, the state machine writes itself to a file and the log behind it goes. */
  #maybeSnapshot(): void {
    const applied = this.#sm.appliedIndex();
    if (this.#snapshotting) return;
    const since = { entries: applied - this.#lastSnapshotIndex, logBytes: this.#bytesSinceSnapshot, lastSnapshotBytes: this.#lastSnapshotBytes };
    if (!snapshotDue(this.#snapshotPolicy, since)) return;
    const term = this.#raw.logTerm(applied);
    if (term === null) return;
    this.#snapshotting = true;
    this.#snapshotPolicy = this.#drawSnapshotPolicy();
    this.#bytesSinceSnapshot = 0;
    const path = this.#storage.snapshotPathFor(applied, term);
    this.#sm.writeSnapshot(path).then(() => {
      this.#snapshotting = false;
      if (this.#stopped) return;
      try {
        this.#raw.reportSnapshot(applied);
        this.#lastSnapshotIndex = applied;
        this.#lastSnapshotBytes = fileBytes(path);
        this.#options.logger.info({ index: applied, term }, 'snapshot written, compacting the log');
      } catch (err) {
        // A snapshot received from the leader meanwhile already covers this index.
        if (!(err instanceof RaftError && err.code === 'snapshot_out_of_range')) throw err;
      }
      this.#wake();
    }).catch((err: unknown) => {
      this.#stopped = true;
      this.#options.onFatal(err);
    });
  }
}

/** A per-node seed: election timeouts must differ between nodes, and nothing here needs secrecy. */
function seedFrom(nodeId: string): number {
  let h = 2166136261;
  for (let i = 0; i < nodeId.length; i++) h = Math.imul(h ^ nodeId.charCodeAt(i), 16777619);
  return (h ^ Math.floor(performance.now() * 1000) ^ process.pid) >>> 0;
}

function fileBytes(path: string | null): number {
  return path === null ? 0 : statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

function resolveAll(resolvers: readonly (() => void)[]): void {
  for (const resolve of resolvers) resolve();
}
