// Helpers for the Raft paper tests: nodes over MemoryStorage, Ready handling by its contract, and a tiny network.
import assert from 'node:assert/strict';
import { MemoryStorage, RawNode, SeededRandom } from '../../../src/raft/core/index.js';
import type {
  Entry, Message, NodeId, RaftConfig, ReadState, Ready, Role, SnapshotMeta,
} from '../../../src/raft/core/index.js';

export type MessageOf<T extends Message['type']> = Extract<Message, { type: T }>;

export interface NodeOptions {
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  /** Use this storage as is (voters, log, term, vote and commit are then ignored). */
  readonly storage?: MemoryStorage;
  /**
   * A log written to a fresh storage whose snapshot (index 0) holds the membership, instead of the
   * bootstrap entries; `commit` defaults to 0 and `term` to the last entry's term.
   */
  readonly log?: readonly Entry[];
  readonly term?: number;
  readonly vote?: NodeId | null;
  readonly commit?: number;
  readonly electionTimeoutTicks?: number;
  readonly heartbeatIntervalTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly seed?: number;
  readonly leaseTicks?: number;
  readonly snapshotChunkBytes?: number;
  readonly maxAppendBytes?: number;
  readonly maxInflightBytes?: number;
  readonly electionJitterTicks?: number;
  /** How many bytes of state-machine data the harness writes when the core asks for a compaction. */
  readonly snapshotBytes?: number;
}

export interface TestNode {
  readonly id: NodeId;
  /** What the node was built from; a restart reuses them with the same storage. */
  readonly options: NodeOptions;
  readonly raw: RawNode;
  readonly storage: MemoryStorage;
  readonly electionTimeoutTicks: number;
  readonly checkQuorum: boolean;
  readonly snapshotBytes: number;
  /** Every committed entry handed out so far, in order. */
  readonly applied: Entry[];
  readonly readStates: ReadState[];
  /** Every Ready this node produced, oldest first. */
  readonly readies: Ready[];
}

export interface Drained {
  readonly ready: Ready;
  /** `messages` followed by `persistedMessages`. */
  readonly messages: Message[];
  readonly committed: readonly Entry[];
}

function seedOf(id: NodeId): number {
  let h = 17;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h;
}

function storageFor(opts: NodeOptions): MemoryStorage {
  if (opts.storage !== undefined) return opts.storage;
  if (opts.log !== undefined) {
    const storage = new MemoryStorage({ voters: [...opts.voters], learners: [...(opts.learners ?? [])] });
    storage.append(opts.log);
    const lastTerm = opts.log[opts.log.length - 1]?.term ?? 0;
    storage.setHardState({ term: opts.term ?? lastTerm, vote: opts.vote ?? null, commit: opts.commit ?? 0 });
    return storage;
  }
  const storage = MemoryStorage.bootstrap(opts.voters);
  if (opts.term !== undefined || opts.vote !== undefined || opts.commit !== undefined) {
    storage.setHardState({ term: opts.term ?? 1, vote: opts.vote ?? null, commit: opts.commit ?? opts.voters.length });
  }
  return storage;
}

/** A RawNode over a MemoryStorage. Pre-Vote and CheckQuorum are off unless asked for (the paper's plain Raft). */
export function newNode(id: NodeId, opts: NodeOptions): TestNode {
  const storage = storageFor(opts);
  const electionTimeoutTicks = opts.electionTimeoutTicks ?? 10;
  const checkQuorum = opts.checkQuorum ?? false;
  const config: RaftConfig = {
    id,
    storage,
    random: new SeededRandom(opts.seed ?? seedOf(id)),
    electionTimeoutTicks,
    heartbeatIntervalTicks: opts.heartbeatIntervalTicks ?? 1,
    preVote: opts.preVote ?? false,
    checkQuorum,
    ...(opts.leaseTicks === undefined ? {} : { leaseTicks: opts.leaseTicks }),
    ...(opts.snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes: opts.snapshotChunkBytes }),
    ...(opts.maxAppendBytes === undefined ? {} : { maxAppendBytes: opts.maxAppendBytes }),
    ...(opts.maxInflightBytes === undefined ? {} : { maxInflightBytes: opts.maxInflightBytes }),
    ...(opts.electionJitterTicks === undefined ? {} : { electionJitterTicks: opts.electionJitterTicks }),
  };
  return {
    id, options: opts, raw: new RawNode(config), storage, electionTimeoutTicks, checkQuorum,
    snapshotBytes: opts.snapshotBytes ?? 16, applied: [], readStates: [], readies: [],
  };
}

/** The state-machine bytes the harness pretends to hold at `index`. */
export function snapshotData(size: number, index: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (index + i) & 0xff);
}

/** Step 2 of the Ready contract: make everything durable, in one write, in the documented order. */
export function persist(node: TestNode, rd: Ready): void {
  for (const chunk of rd.snapshotChunks) node.storage.stageSnapshotChunk(chunk);
  if (rd.snapshot !== null) node.storage.installSnapshot(rd.snapshot);
  node.storage.append(rd.entries);
  if (rd.hardState !== null) node.storage.setHardState(rd.hardState);
  if (rd.compaction !== null) node.storage.compact(rd.compaction, snapshotData(node.snapshotBytes, rd.compaction.index));
}

/** Takes one Ready, persists it, applies it and calls advance(); returns what must be sent and applied. */
export function drain(node: TestNode): Drained {
  const rd = node.raw.ready();
  node.readies.push(rd);
  persist(node, rd);
  node.applied.push(...rd.committedEntries);
  node.readStates.push(...rd.readStates);
  node.raw.advance();
  return { ready: rd, messages: [...rd.messages, ...rd.persistedMessages], committed: rd.committedEntries };
}

export type DropFilter = (m: Message) => boolean;

/** Delivers messages among nodes until none is left. Messages to unknown or isolated nodes are lost. */
export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Every delivered message, in order. */
  readonly trace: Message[] = [];
  readonly #isolated = new Set<NodeId>();
  #inTransit: Message[] = [];

  constructor(nodes: readonly TestNode[]) {
    for (const n of nodes) this.nodes.set(n.id, n);
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    assert.ok(n !== undefined, `no node ${id}`);
    return n;
  }

  add(node: TestNode): void {
    this.nodes.set(node.id, node);
  }

  /** A crash and restart: a new core over the same durable storage, with nothing volatile kept. */
  restart(id: NodeId): TestNode {
    const old = this.node(id);
    const fresh = newNode(id, { ...old.options, storage: old.storage });
    this.nodes.set(id, fresh);
    return fresh;
  }

  isolate(...ids: NodeId[]): void {
    for (const id of ids) this.#isolated.add(id);
  }

  heal(): void {
    this.#isolated.clear();
  }

  #lost(m: Message, drop: DropFilter | undefined): boolean {
    return this.#isolated.has(m.from) || this.#isolated.has(m.to) || !this.nodes.has(m.to) || (drop?.(m) ?? false);
  }

  /** Steps each message that is not lost into its target; returns what was delivered. */
  deliver(messages: readonly Message[], drop?: DropFilter): Message[] {
    const delivered: Message[] = [];
    for (const m of messages) {
      if (this.#lost(m, drop)) continue;
      delivered.push(m);
      this.trace.push(m);
      this.node(m.to).raw.step(m);
    }
    return delivered;
  }

  /** Drains every node and delivers, round after round, until quiet. Returns what was delivered. */
  settle(drop?: DropFilter): Message[] {
    const delivered: Message[] = [];
    for (let round = 0; round < 1000; round++) {
      const pending: Message[] = [];
      for (const n of this.nodes.values()) {
        if (n.raw.hasReady()) pending.push(...drain(n).messages);
      }
      if (pending.length === 0) return delivered;
      delivered.push(...this.deliver(pending, drop));
    }
    assert.fail('network did not settle in 1000 rounds');
  }

  /** `count` ticks of every node (or of `only`), settling after each. */
  tick(count = 1, drop?: DropFilter, only?: readonly NodeId[]): Message[] {
    const delivered: Message[] = [];
    for (let i = 0; i < count; i++) {
      for (const n of this.nodes.values()) if (only === undefined || only.includes(n.id)) n.raw.tick();
      delivered.push(...this.settle(drop));
    }
    return delivered;
  }

  /**
   * `count` ticks where every message takes one tick to arrive: each tick delivers what the previous tick
   * produced, so a round trip spans two heartbeat intervals (a slow link).
   */
  tickWithLatency(count: number, only?: readonly NodeId[]): Message[] {
    const delivered: Message[] = [];
    for (let i = 0; i < count; i++) {
      for (const n of this.nodes.values()) if (only === undefined || only.includes(n.id)) n.raw.tick();
      delivered.push(...this.deliver(this.#inTransit));
      const produced: Message[] = [];
      for (const n of this.nodes.values()) if (n.raw.hasReady()) produced.push(...drain(n).messages);
      this.#inTransit = produced;
    }
    return delivered;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.raw.status().role === 'leader').map((n) => n.id);
  }
}

export function newCluster(ids: readonly NodeId[], opts: Omit<NodeOptions, 'voters'> & { voters?: readonly NodeId[] } = {}): Network {
  return new Network(ids.map((id) => newNode(id, { ...opts, voters: opts.voters ?? ids })));
}

/**
 * Makes `id` the leader and lets its no-op commit. Without CheckQuorum it simply campaigns; with it the
 * voters ignore elections for a startup timeout, so a natural election runs and leadership is then
 * transferred to `id`.
 */
export function elect(net: Network, id: NodeId, drop?: DropFilter): TestNode {
  const n = net.node(id);
  if (!n.checkQuorum) {
    n.raw.campaign();
    net.settle(drop);
  } else {
    for (let i = 0; i < 50 * n.electionTimeoutTicks && net.leaders().length === 0; i++) net.tick(1, drop);
    const leader = net.leaders()[0];
    assert.ok(leader !== undefined, 'no leader emerged');
    if (leader !== id) {
      net.node(leader).raw.transferLeadership(id);
      net.settle(drop);
      for (let i = 0; i < n.electionTimeoutTicks && role(n) !== 'leader'; i++) net.tick(1, drop);
    }
  }
  assert.equal(role(n), 'leader', `${id} did not become leader`);
  return n;
}

export function role(n: TestNode): Role {
  return n.raw.status().role;
}

export function term(n: TestNode): number {
  return n.raw.status().term;
}

export function commit(n: TestNode): number {
  return n.raw.status().commitIndex;
}

// ---- entries ----

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

export function text(e: Entry): string {
  return e.type === 'normal' ? decoder.decode(e.data) : `<${e.change.type} ${e.change.nodeId}>`;
}

export function entry(index: number, entryTerm: number, data = ''): Entry {
  return { type: 'normal', index, term: entryTerm, data: bytes(data) };
}

/** A log whose entry i+1 has terms[i] (the notation of the paper's figures 7 and 8). */
export function logOfTerms(terms: readonly number[]): Entry[] {
  return terms.map((t, i) => entry(i + 1, t, `e${i + 1}`));
}

/** The terms of the entries in a node's storage (its durable log), from its first index. */
export function storedTerms(n: TestNode): number[] {
  const s = n.storage;
  const out: number[] = [];
  for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push(s.term(i) ?? -1);
  return out;
}

export function storedEntries(n: TestNode): Entry[] {
  const s = n.storage;
  return s.lastIndex() < s.firstIndex() ? [] : s.entries(s.firstIndex(), s.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
}

// ---- messages ----

export function ofType<T extends Message['type']>(messages: readonly Message[], type: T): MessageOf<T>[] {
  return messages.filter((m): m is MessageOf<T> => m.type === type);
}

export function appendEntries(
  from: NodeId, to: NodeId, msgTerm: number, prev: readonly [number, number], entries: readonly Entry[], leaderCommit = 0,
): MessageOf<'append_entries'> {
  return {
    type: 'append_entries', from, to, term: msgTerm, prevLogIndex: prev[0], prevLogTerm: prev[1], entries,
    leaderCommit, seq: 0, sentTick: 0,
  };
}

export function heartbeat(from: NodeId, to: NodeId, msgTerm: number, leaderCommit = 0): MessageOf<'heartbeat'> {
  return { type: 'heartbeat', from, to, term: msgTerm, leaderCommit, seq: 0, sentTick: 0 };
}

export function requestVote(
  from: NodeId, to: NodeId, msgTerm: number, last: readonly [number, number], opts: { preVote?: boolean; transfer?: boolean } = {},
): MessageOf<'request_vote'> {
  return {
    type: 'request_vote', from, to, term: msgTerm, preVote: opts.preVote ?? false,
    lastLogIndex: last[0], lastLogTerm: last[1], transfer: opts.transfer ?? false,
  };
}

export function voteResult(from: NodeId, to: NodeId, msgTerm: number, granted: boolean, preVote = false): MessageOf<'request_vote_result'> {
  return { type: 'request_vote_result', from, to, term: msgTerm, preVote, granted };
}

export function appendAck(from: NodeId, to: NodeId, msgTerm: number, matchIndex: number): MessageOf<'append_entries_result'> {
  return {
    type: 'append_entries_result', from, to, term: msgTerm, success: true, matchIndex,
    rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0, seq: 0, sentTick: 0,
  };
}

export function installSnapshot(
  from: NodeId, to: NodeId, msgTerm: number, snapshot: SnapshotMeta, offset: number, data: Uint8Array, done: boolean,
): MessageOf<'install_snapshot'> {
  return { type: 'install_snapshot', from, to, term: msgTerm, snapshot, offset, data, done, seq: 0, sentTick: 0 };
}

// ---- shared by the paper and thesis tests ----
export const ABC = ['a', 'b', 'c'] as const;
export const ET = 10;

/** A leader of a three-node cluster whose no-op is committed everywhere. */
export function stableCluster(opts: Parameters<typeof newCluster>[1] = {}, ids: readonly NodeId[] = ABC): { net: Network; a: TestNode } {
  const net = newCluster(ids, opts);
  const a = elect(net, 'a');
  net.tick();
  return { net, a };
}

export const appendsFrom = (from: NodeId, ...to: NodeId[]): DropFilter =>
  (m) => m.from === from && (m.type === 'append_entries' || m.type === 'heartbeat') && (to.length === 0 || to.includes(m.to));
