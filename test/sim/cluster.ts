// A simulated cluster on a virtual clock: nodes with durable storage that crash and restart, a faulty network, a client.
import type { Entry, Message, Ready } from '../../src/raft/core/index.js';
import { describeMessage, MemoryStorage, RaftError, RawNode, SeededRandom } from '../../src/raft/core/index.js';
import type { LogView } from './checkers.js';
import { Checkers, Violation } from './checkers.js';
import { Network } from './network.js';
import { Trace } from './trace.js';

export const TICK_MS = 10;
export const ELECTION_TIMEOUT_TICKS = 10;
const HEARTBEAT_TICKS = 2;

type Event =
  | { kind: 'tick'; node: string; incarnation: number }
  | { kind: 'deliver'; message: Message }
  | { kind: 'persisted'; node: string; incarnation: number }
  | { kind: 'restart'; node: string };

interface Scheduled {
  readonly atMs: number;
  readonly order: number;
  readonly event: Event;
}

/** A binary min-heap of events by time, then by insertion order (so runs are deterministic). */
class EventQueue {
  #heap: Scheduled[] = [];
  #order = 0;

  push(atMs: number, event: Event): void {
    const heap = this.#heap;
    heap.push({ atMs, order: this.#order++, event });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  peekTime(): number {
    return this.#heap[0]?.atMs ?? Infinity;
  }

  pop(): Scheduled | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
    return top;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
}

/** A node's durable state (storage and state machine) survives crashes; its RawNode and unpersisted Ready do not. */
export class SimNode implements LogView {
  readonly id: string;
  readonly storage: MemoryStorage;
  raw: RawNode | null = null;
  incarnation = 0;
  inFlight: Ready | null = null;
  /** The state machine: applied values by index (durable, as a LevelDB state machine would be). */
  applied: { index: number; value: string }[] = [];
  appliedIndex = 0;
  /** Snapshots this node reported, by index: the state machine as it was then. */
  readonly snapshots = new Map<number, Uint8Array>();
  wasLeader = false;
  /** Some disks are slow: a leader's write may finish long after its followers acknowledged (§10.2.1). */
  readonly diskLatencyMs: number;

  constructor(id: string, storage: MemoryStorage, diskLatencyMs: number) {
    this.id = id;
    this.storage = storage;
    this.diskLatencyMs = diskLatencyMs;
  }

  term(index: number): number | null {
    return this.raw?.logTerm(index) ?? this.storage.term(index);
  }

  firstIndex(): number {
    return this.raw?.status().firstIndex ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.raw?.status().lastIndex ?? this.storage.lastIndex();
  }

  isUp(): boolean {
    return this.raw !== null;
  }
}

export interface Proposal {
  readonly value: string;
  readonly node: string;
  readonly index: number;
  readonly term: number;
  readonly proposedAtMs: number;
  acked: boolean;
}

export interface ClusterOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly traceLines: number;
}

export class Cluster {
  readonly random: SeededRandom;
  readonly network: Network;
  readonly checkers = new Checkers();
  readonly trace: Trace;
  readonly nodes = new Map<string, SimNode>();
  readonly proposals: Proposal[] = [];
  readonly #queue = new EventQueue();
  nowMs = 0;
  #nextValue = 0;
  /** Highest index acknowledged to the client so far: a linearizable read must see at least this. */
  ackedIndex = 0;
  readonly #reads = new Map<string, { node: string; minIndex: number }>();
  readsServed = 0;
  readonly #servedReads = new Set<string>();

  constructor(readonly options: ClusterOptions) {
    this.random = new SeededRandom(options.seed);
    this.network = new Network(new SeededRandom(options.seed ^ 0x5bd1e995), {
      dropRate: this.random.next() * 0.08,
      duplicateRate: this.random.next() * 0.04,
      reorderRate: this.random.next() * 0.1,
    });
    this.trace = new Trace(options.traceLines);
    const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    for (const id of ids) this.addNode(id, MemoryStorage.bootstrap(ids));
  }

  addNode(id: string, storage: MemoryStorage): SimNode {
    const node = new SimNode(id, storage, 1 + this.random.int(this.random.next() < 0.5 ? 4 : 30));
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  start(node: SimNode): void {
    node.incarnation++;
    node.inFlight = null;
    node.raw = new RawNode({
      id: node.id, storage: node.storage, applied: node.appliedIndex,
      random: new SeededRandom(this.options.seed * 31 + node.incarnation * 7 + node.id.charCodeAt(1)),
      electionTimeoutTicks: ELECTION_TIMEOUT_TICKS, heartbeatIntervalTicks: HEARTBEAT_TICKS,
      maxInflightAppends: 4, maxInflightBytes: 600, maxAppendBytes: 256, snapshotChunkBytes: 64,
    });
    this.checkers.onRestore(node.id, node.appliedIndex);
    node.wasLeader = false;
    this.log(`${node.id} start (incarnation ${node.incarnation}, applied ${node.appliedIndex}, term ${node.storage.hardState().term})`);
    // Nodes tick at the same rate, each with its own phase.
    this.#queue.push(this.nowMs + 1 + this.random.int(TICK_MS), { kind: 'tick', node: node.id, incarnation: node.incarnation });
  }

  crash(node: SimNode, downMs: number): void {
    if (node.raw === null) return;
    node.raw = null;
    node.inFlight = null;
    this.log(`${node.id} CRASH (down ${downMs}ms)`);
    this.#queue.push(this.nowMs + downMs, { kind: 'restart', node: node.id });
  }

  log(line: string): void {
    this.trace.add(this.nowMs, line);
  }

  /** Runs events until `untilMs`, calling `between` before each event's time step for fault injection. */
  runUntil(untilMs: number, between: (cluster: Cluster) => void = () => undefined): void {
    while (this.#queue.peekTime() <= untilMs) {
      const next = this.#queue.pop();
      if (next === undefined) break;
      if (next.atMs > this.nowMs) {
        this.nowMs = next.atMs;
        between(this);
      }
      this.#handle(next.event);
      this.#checkLeases();
    }
    this.nowMs = untilMs;
  }

  #handle(event: Event): void {
    switch (event.kind) {
      case 'tick': {
        const node = this.nodes.get(event.node);
        if (node?.raw === null || node === undefined || node.incarnation !== event.incarnation) return;
        node.raw.tick();
        this.#queue.push(this.nowMs + TICK_MS, event);
        this.pump(node);
        return;
      }
      case 'deliver': {
        const node = this.nodes.get(event.message.to);
        if (node?.raw == null || !this.network.stillReaches(event.message)) return;
        this.log(`deliver ${describeMessage(event.message)}`);
        node.raw.step(event.message);
        this.pump(node);
        return;
      }
      case 'persisted': {
        const node = this.nodes.get(event.node);
        if (node === undefined || node.incarnation !== event.incarnation || node.inFlight === null) return;
        this.#finishReady(node, node.inFlight);
        return;
      }
      case 'restart': {
        const node = this.nodes.get(event.node);
        if (node !== undefined && node.raw === null) this.start(node);
        return;
      }
    }
  }

  /** Takes a Ready if there is one: sends what may go at once and starts the (simulated) disk write. */
  pump(node: SimNode): void {
    const raw = node.raw;
    if (raw === null || node.inFlight !== null || !raw.hasReady()) return;
    const ready = raw.ready();
    node.inFlight = ready;
    const status = raw.status();
    if (ready.softState !== null) {
      this.log(`${node.id} is ${ready.softState.role} in term ${status.term} (leader ${ready.softState.leaderId ?? 'none'})`);
    }
    if (status.role === 'leader' && !node.wasLeader) this.checkers.onBecameLeader(node, status.term);
    node.wasLeader = status.role === 'leader';
    this.checkers.onPersist(node, ready.entries, status.role === 'leader', status.term);
    if (ready.hardState !== null && status.role === 'leader') {
      this.checkers.onLeaderCommit(node, ready.hardState.commit, status.term);
    }
    this.#send(ready.messages);
    // The disk write takes a while; a crash before it completes loses it and everything after it.
    const writeMs = this.random.next() < 0.5 ? 0 : 1 + this.random.int(node.diskLatencyMs);
    this.#queue.push(this.nowMs + writeMs, { kind: 'persisted', node: node.id, incarnation: node.incarnation });
  }

  #finishReady(node: SimNode, ready: Ready): void {
    const raw = node.raw;
    if (raw === null) return;
    node.inFlight = null;
    const storage = node.storage;
    for (const chunk of ready.snapshotChunks) storage.stageSnapshotChunk(chunk);
    if (ready.snapshot !== null) this.#restoreSnapshot(node, ready.snapshot.index, storage.installSnapshot(ready.snapshot));
    storage.append(ready.entries);
    if (ready.hardState !== null) storage.setHardState(ready.hardState);
    if (ready.compaction !== null) {
      const data = node.snapshots.get(ready.compaction.index);
      if (data === undefined) throw new Violation('Simulator', `${node.id} has no snapshot data for ${ready.compaction.index}`);
      storage.compact(ready.compaction, data);
      this.log(`${node.id} compacted to ${ready.compaction.index}`);
    }
    this.#send(ready.persistedMessages);
    for (const entry of ready.committedEntries) this.#apply(node, entry);
    for (const read of ready.readStates) this.#readState(node, read.requestId, read.ok ? read.index : null);
    raw.advance();
    this.pump(node);
  }

  #send(messages: readonly Message[]): void {
    for (const message of messages) {
      this.checkers.onSend(message);
      for (const delivery of this.network.send(this.nowMs, message)) {
        this.#queue.push(delivery.atMs, { kind: 'deliver', message: delivery.message });
      }
    }
  }

  #apply(node: SimNode, entry: Entry): void {
    this.checkers.onApply(node.id, entry);
    node.appliedIndex = entry.index;
    if (entry.type === 'conf_change') {
      this.log(`${node.id} applied ${entry.index} ${entry.change.type} ${entry.change.nodeId}`);
      return;
    }
    if (entry.data.byteLength === 0) return;
    const value = new TextDecoder().decode(entry.data);
    node.applied.push({ index: entry.index, value });
    for (const p of this.proposals) {
      if (!p.acked && p.node === node.id && p.index === entry.index && p.term === entry.term) {
        if (p.value !== value) throw new Violation('Client', `proposal ${p.value} at ${p.index}/t${p.term} applied as ${value}`);
        p.acked = true;
        this.ackedIndex = Math.max(this.ackedIndex, p.index);
      }
    }
  }

  #restoreSnapshot(node: SimNode, index: number, data: Uint8Array): void {
    const restored = JSON.parse(new TextDecoder().decode(data)) as { index: number; value: string }[];
    for (const item of restored) {
      const known = this.checkers.appliedValue(item.index);
      const key = `data:${Buffer.from(item.value).toString('hex')}`;
      if (known !== undefined && known.key !== key) {
        throw new Violation('State Machine Safety', `${node.id} restored ${item.value} at ${item.index}; others applied ${known.key}`);
      }
    }
    node.applied = restored;
    node.appliedIndex = index;
    this.checkers.onRestore(node.id, index);
    this.log(`${node.id} installed snapshot ${index}`);
  }

  // ---- the client and operator actions ----

  leaders(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raw?.status().role === 'leader');
  }

  /** Proposes a new value through a node that believes it leads. */
  propose(): boolean {
    const leaders = this.leaders();
    const node = leaders[this.random.int(leaders.length)];
    if (node?.raw == null) return false;
    const value = `v${this.#nextValue++}`;
    try {
      const at = node.raw.propose(new TextEncoder().encode(value));
      this.proposals.push({ value, node: node.id, index: at.index, term: at.term, proposedAtMs: this.nowMs, acked: false });
      this.log(`client proposed ${value} at ${node.id} -> ${at.index}/t${at.term}`);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.log(`client proposal refused by ${node.id}: ${err.code}`);
    }
    this.pump(node);
    return true;
  }

  /** A linearizable read through any node: its read index must cover every write acknowledged before it. */
  read(node: SimNode): string | null {
    if (node.raw === null) return null;
    const requestId = `r${this.#nextValue++}`;
    this.#reads.set(requestId, { node: node.id, minIndex: this.ackedIndex });
    node.raw.readIndex(requestId);
    this.pump(node);
    return requestId;
  }

  isReadServed(requestId: string): boolean {
    return this.#servedReads.has(requestId);
  }

  #readState(node: SimNode, requestId: string, index: number | null): void {
    const read = this.#reads.get(requestId);
    // A duplicated request or answer on the network yields a second answer; the application ignores it.
    if (read === undefined) return;
    this.#reads.delete(requestId);
    if (index === null) return;
    if (index < read.minIndex) {
      throw new Violation('Linearizable Read', `read ${requestId} at ${node.id} got index ${index}, below acknowledged ${read.minIndex}`);
    }
    this.readsServed++;
    this.#servedReads.add(requestId);
  }

  /** At most one node holds a lease, and none while a leader of a later term exists. */
  #checkLeases(): void {
    let holder: SimNode | null = null;
    for (const node of this.nodes.values()) {
      if (node.raw?.hasLease() !== true) continue;
      const term = node.raw.status().term;
      for (const other of this.nodes.values()) {
        const s = other.raw?.status();
        if (other !== node && s !== undefined && s.role === 'leader' && s.term > term) {
          throw new Violation('Leader Lease', `${node.id} holds a lease in term ${term} while ${other.id} leads term ${s.term}`);
        }
      }
      if (holder !== null) throw new Violation('Leader Lease', `${holder.id} and ${node.id} both hold a lease`);
      holder = node;
    }
  }
}
