// How long a 3-node cluster is without a leader after its leader crashes, with the node's own timing (50 ms ticks,
// a 1 s election timeout drawn up to 1.5 s, 100 ms heartbeats) and loopback delays, in virtual time: the election
// itself, without the kill's detection by a client or the first write after it.
import type { Message, Ready } from '../../src/raft/core/index.js';
import { MemoryStorage, RawNode, SeededRandom } from '../../src/raft/core/index.js';
import { electionJitterTicks, raftTickMs } from '../../src/config/limits.js';

export interface FailoverModel {
  /** Probability that a message waits for a busy event loop, and for how long at most beyond 5 ms. */
  readonly stallProbability: number;
  readonly stallMs: number;
  /**
   * One survivor, slow to answer, gets the leader's messages in bursts (one request in flight to each peer), so
   * what the leader had queued for it when it died is lost: the messages of the last 0 to this many ms before the
   * crash (a node restarted a few seconds before, still catching up, in the failover bench). 0: none.
   */
  readonly slowFollowerLagMs: number;
}

/** Loopback with one message in ten held up by a busy receiver, as under the failover bench's load. */
export const loadedLoopback: FailoverModel = { stallProbability: 0.1, stallMs: 25, slowFollowerLagMs: 0 };

/** The same with one survivor that stopped hearing from the leader up to 300 ms before the other. */
export const slowFollower: FailoverModel = { ...loadedLoopback, slowFollowerLagMs: 300 };

const electionTimeoutTicks = 1000 / raftTickMs;
const heartbeatIntervalTicks = 100 / raftTickMs;

export interface FailoverResult {
  /** From the crash to a new leader, ms. */
  readonly ms: number;
  /** Terms the election took: more than one when a vote split. */
  readonly terms: number;
}

/** One crash of a settled leader at a random moment, on a cluster seeded by `seed`. */
export function failoverAfterCrash(seed: number, model: FailoverModel = loadedLoopback): FailoverResult {
  const random = new SeededRandom(seed);
  const events: { at: number; order: number; run: () => void }[] = [];
  let order = 0;
  let now = 0;
  const at = (time: number, run: () => void): void => {
    events.push({ at: time, order: order++, run });
  };
  const ids = ['n1', 'n2', 'n3'];
  const nodes = new Map<string, { raw: RawNode | null; storage: MemoryStorage; writing: boolean }>();
  const crashAtMs = 3000 + random.next() * 2000;
  // The slow survivor hears nothing the leader sends it from this time on.
  const slowDeafFromMs = crashAtMs - random.next() * model.slowFollowerLagMs;
  let slow: string | null = null;
  const send = (messages: readonly Message[]): void => {
    for (const m of messages) {
      const delay = random.next() < model.stallProbability ? 5 + random.next() * model.stallMs : 0.3 + random.next() * 2.7;
      if (model.slowFollowerLagMs > 0 && now >= slowDeafFromMs && crashedAtMs === null) {
        if (slow === null) {
          const followers = ids.filter((id) => id !== leader());
          slow = followers[random.int(followers.length)] ?? null;
        }
        if (m.to === slow && m.from === leader()) continue;
      }
      at(now + delay, () => {
        const node = nodes.get(m.to);
        if (node?.raw == null) return;
        node.raw.step(m);
        pump(m.to);
      });
    }
  };
  const pump = (id: string): void => {
    const node = nodes.get(id)!;
    const raw = node.raw;
    if (raw === null || node.writing || !raw.hasReady()) return;
    const ready: Ready = raw.ready();
    node.writing = true;
    send(ready.messages);
    // An fsync of a small write.
    at(now + 0.5 + random.next() * 3, () => {
      if (node.raw !== raw) return;
      node.writing = false;
      node.storage.append(ready.entries);
      if (ready.hardState !== null) node.storage.setHardState(ready.hardState);
      send(ready.persistedMessages);
      raw.advance();
      pump(id);
    });
  };
  for (const id of ids) {
    const storage = MemoryStorage.bootstrap(ids);
    const raw = new RawNode({
      id, storage, applied: 0, random: new SeededRandom(seed * 31 + id.charCodeAt(1)),
      electionTimeoutTicks, heartbeatIntervalTicks, electionJitterTicks: electionJitterTicks(electionTimeoutTicks),
    });
    nodes.set(id, { raw, storage, writing: false });
    // Each node ticks with its own phase.
    const tick = (): void => {
      if (nodes.get(id)!.raw !== raw) return;
      raw.tick();
      pump(id);
      at(now + raftTickMs, tick);
    };
    at(1 + random.next() * raftTickMs, tick);
  }
  const leader = (): string | null => {
    for (const [id, node] of nodes) if (node.raw?.status().role === 'leader') return id;
    return null;
  };
  let crashedAtMs: number | null = null;
  let crashedTerm = 0;
  while (events.length > 0) {
    events.sort((a, b) => a.at - b.at || a.order - b.order);
    const event = events.shift()!;
    now = event.at;
    event.run();
    if (crashedAtMs === null) {
      const id = now >= crashAtMs ? leader() : null;
      if (id === null) continue;
      const node = nodes.get(id)!;
      crashedTerm = node.raw!.status().term;
      node.raw = null;
      crashedAtMs = now;
    } else {
      const id = leader();
      if (id !== null) return { ms: now - crashedAtMs, terms: nodes.get(id)!.raw!.status().term - crashedTerm };
      if (now - crashedAtMs > 60_000) break;
    }
  }
  throw new Error(`seed ${seed}: no leader within 60 s of the crash`);
}

/** Percentiles of the failovers of `count` seeds from `first`. */
export function failoverTiming(first: number, count: number, model: FailoverModel = loadedLoopback): {
  readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number;
  readonly overTwoSeconds: number; readonly moreThanOneRound: number;
} {
  const results = Array.from({ length: count }, (_, i) => failoverAfterCrash(first + i, model));
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const at = (p: number): number => Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!);
  return {
    p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1),
    overTwoSeconds: ms.filter((m) => m > 2000).length, moreThanOneRound: results.filter((r) => r.terms > 1).length,
  };
}
