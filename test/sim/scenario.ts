// One seeded run: a chaos phase of faults and operator actions, then a healed phase that must show liveness.
import { MemoryStorage, RaftError } from '../../src/raft/core/index.js';
import type { SimNode } from './cluster.js';
import { Cluster, ELECTION_TIMEOUT_TICKS, TICK_MS } from './cluster.js';
import { Violation } from './checkers.js';

export interface SeedResult {
  readonly seed: number;
  readonly nodes: number;
  readonly violation: string | null;
  readonly commits: number;
  readonly reads: number;
  readonly trace: string;
}

export interface ScenarioOptions {
  readonly nodes: number;
  /** Trace lines kept for a failure report; Infinity keeps the whole run. */
  readonly traceLines: number;
  readonly chaosMs?: number;
}

const HEAL_MS = 60 * ELECTION_TIMEOUT_TICKS * TICK_MS;

export function runSeed(seed: number, options: ScenarioOptions): SeedResult {
  const cluster = new Cluster({ seed, nodes: options.nodes, traceLines: options.traceLines });
  const chaosMs = options.chaosMs ?? 8000;
  let violation: string | null = null;
  try {
    let nextActionMs = 0;
    cluster.runUntil(chaosMs, (c) => {
      if (c.nowMs < nextActionMs) return;
      nextActionMs = c.nowMs + 5 + c.random.int(60);
      chaosAction(c, options.nodes);
    });
    heal(cluster);
    checkLiveness(cluster, chaosMs);
  } catch (err) {
    if (err instanceof Error) violation = err instanceof Violation ? err.message : `crash: ${err.stack ?? err.message}`;
    else throw err;
  }
  return {
    seed, nodes: options.nodes, violation, commits: cluster.checkers.commits, reads: cluster.readsServed,
    trace: cluster.trace.render(),
  };
}

function chaosAction(c: Cluster, baseNodes: number): void {
  const roll = c.random.next();
  const nodes = [...c.nodes.values()];
  const pick = nodes[c.random.int(nodes.length)];
  if (pick === undefined) return;
  if (roll < 0.45) {
    c.propose();
  } else if (roll < 0.55) {
    c.read(pick);
  } else if (roll < 0.59) {
    // Leaders are where most of the danger is: crash one half of the time.
    // and prefer a moment when its disk write is still in flight, which is what a crash loses.
    const writing = nodes.filter((n) => n.inFlight !== null && n.inFlight.entries.length > 0);
    const leader = c.leaders()[0];
    const roll2 = c.random.next();
    const victim = roll2 < 0.3 ? (writing[c.random.int(writing.length)] ?? pick) : roll2 < 0.6 ? (leader ?? pick) : pick;
    c.crash(victim, 20 + c.random.int(1500));
  } else if (roll < 0.62) {
    const groups = new Map<string, number>();
    for (const node of nodes) if (c.random.next() < 0.4) groups.set(node.id, 1 + c.random.int(2));
    const leader = c.leaders()[0];
    if (leader !== undefined && c.random.next() < 0.3) groups.set(leader.id, 3);
    c.network.partition(groups);
    c.log(`PARTITION ${c.network.describePartition()}`);
  } else if (roll < 0.66) {
    if (c.network.isPartitioned()) c.log('HEAL partition');
    c.network.heal();
  } else if (roll < 0.70) {
    changeMembership(c, baseNodes);
  } else if (roll < 0.72) {
    transferLeadership(c);
  } else if (roll < 0.76) {
    if (pick.raw === null || pick.appliedIndex <= pick.storage.snapshot().index) return;
    pick.snapshots.set(pick.appliedIndex, new TextEncoder().encode(JSON.stringify(pick.applied)));
    try {
      pick.raw.reportSnapshot(pick.appliedIndex);
      c.log(`${pick.id} reports snapshot at ${pick.appliedIndex}`);
    } catch (err) {
      // A snapshot received from the leader and not yet installed makes this one obsolete.
      if (!(err instanceof RaftError) || err.code !== 'snapshot_out_of_range') throw err;
      c.log(`${pick.id} snapshot at ${pick.appliedIndex} refused: ${err.message}`);
    }
    c.pump(pick);
  }
}

function changeMembership(c: Cluster, baseNodes: number): void {
  const leader = c.leaders()[0];
  if (leader?.raw == null) return;
  const membership = leader.raw.status().membership;
  const memberCount = membership.voters.length + membership.learners.length;
  try {
    if (c.random.next() < 0.5 && memberCount < baseNodes + 2 && c.nodes.size < baseNodes + 6) {
      const id = `n${c.nodes.size + 1}`;
      leader.raw.proposeMembership({ type: 'add_node', nodeId: id, context: '' });
      c.log(`${leader.id} adds ${id}`);
      c.addNode(id, new MemoryStorage());
    } else {
      const all = [...membership.voters, ...membership.learners];
      const victim = all[c.random.int(all.length)];
      if (victim === undefined || membership.voters.length <= 2) return;
      leader.raw.proposeMembership({ type: 'remove_node', nodeId: victim });
      c.log(`${leader.id} removes ${victim}`);
    }
  } catch (err) {
    if (!(err instanceof RaftError)) throw err;
    c.log(`${leader.id} refused membership change: ${err.code}`);
  }
  c.pump(leader);
}

function transferLeadership(c: Cluster): void {
  const leader = c.leaders()[0];
  if (leader?.raw == null) return;
  try {
    leader.raw.transferLeadership();
    c.log(`${leader.id} transfers leadership`);
  } catch (err) {
    if (!(err instanceof RaftError)) throw err;
    c.log(`${leader.id} refused transfer: ${err.code}`);
  }
  c.pump(leader);
}

/** Ends every fault: the network heals and loses nothing, every crashed node comes back. */
function heal(c: Cluster): void {
  c.network.heal();
  c.network.faults = { dropRate: 0, duplicateRate: 0, reorderRate: 0 };
  c.log('HEAL all faults');
  for (const node of c.nodes.values()) if (node.raw === null) c.start(node);
}

/**
 * Liveness: within a bounded time without faults a leader is elected and new proposals commit; then
 * every acknowledged proposal is applied, in the same order, on every member that is up.
 */
function checkLiveness(c: Cluster, chaosMs: number): void {
  const healedAtMs = chaosMs;
  let next = 0;
  c.runUntil(healedAtMs + HEAL_MS, (cluster) => {
    if (cluster.nowMs < next) return;
    next = cluster.nowMs + 100;
    cluster.propose();
  });
  const leaders = c.leaders();
  const leader = leaders[0];
  if (leaders.length !== 1 || leader?.raw == null) {
    throw new Violation('Liveness', `${leaders.length} leaders ${HEAL_MS}ms after healing`);
  }
  if (!c.proposals.some((p) => p.acked && p.proposedAtMs >= healedAtMs)) {
    throw new Violation('Liveness', `no proposal committed within ${HEAL_MS}ms after healing`);
  }
  // Let the last acknowledgements reach everyone, then compare.
  c.runUntil(c.nowMs + 20 * TICK_MS * ELECTION_TIMEOUT_TICKS);
  const status = leader.raw.status();
  const members = [...status.membership.voters, ...status.membership.learners];
  checkHealthyLeader(c, leader, members);
  for (const id of members) {
    const node = c.nodes.get(id);
    if (node?.raw == null) continue;
    const have = new Map(node.applied.map((a) => [a.index, a.value]));
    for (const p of c.proposals) {
      if (!p.acked) continue;
      if (have.get(p.index) !== p.value) {
        throw new Violation('Durability', `${id} lacks acknowledged ${p.value} at ${p.index} (has ${have.get(p.index) ?? 'nothing'})`);
      }
    }
  }
}

/** A stable leader of a healthy cluster holds its lease, and every member can serve a linearizable read. */
function checkHealthyLeader(c: Cluster, leader: SimNode, members: readonly string[]): void {
  if (leader.raw?.hasLease() !== true) throw new Violation('Liveness', `healthy leader ${leader.id} holds no lease`);
  const reads: string[] = [];
  for (const id of members) {
    const node = c.nodes.get(id);
    const requestId = node === undefined ? null : c.read(node);
    if (requestId !== null) reads.push(requestId);
  }
  c.runUntil(c.nowMs + 5 * ELECTION_TIMEOUT_TICKS * TICK_MS);
  const unserved = reads.filter((r) => !c.isReadServed(r));
  if (unserved.length > 0) throw new Violation('Liveness', `reads ${unserved.join(', ')} not served in a healthy cluster`);
}
