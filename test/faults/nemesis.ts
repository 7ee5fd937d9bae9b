// The nemesis: faults drawn from a seed, each held a few seconds and then healed, with calm in between.
//
// Process faults go to PIDs the cluster started (kill -9 and restart on the same data dir, SIGSTOP/SIGCONT); network
// faults go to the proxies on the directed Raft links. Every fault is recorded with its start and heal times.
import type { NodeHandle } from '../cluster/process-cluster.js';
import { nowMs, sleep } from './clock.js';
import type { FaultCluster } from './fault-cluster.js';
import type { FaultEvent } from './history.js';
import type { LinkMode } from './proxy.js';
import type { Rng } from './random.js';

export const faultKinds = [
  'kill-leader', 'kill-follower', 'kill-two', 'kill-all', 'term-leader', 'stop-leader', 'stop-follower',
  'isolate-leader', 'split', 'split-all', 'one-way', 'slow', 'flaky',
] as const;
export type FaultKind = typeof faultKinds[number];

export function isFaultKind(name: string): name is FaultKind {
  return (faultKinds as readonly string[]).includes(name);
}

export interface NemesisOptions {
  readonly rng: Rng;
  /** A fault is held this long (ms, inclusive range). */
  readonly holdMs: readonly [number, number];
  /** Calm between faults. */
  readonly calmMs: readonly [number, number];
  /** SIGSTOP must outlast it, so the stopped leader wakes after another was elected. */
  readonly electionTimeoutMs: number;
  readonly log: (line: string) => void;
}

/** Applies a fault; what it returns heals it. */
type Fault = () => Promise<{ detail: string; heal: () => Promise<void> }>;

export class Nemesis {
  readonly events: FaultEvent[] = [];
  readonly #cluster: FaultCluster;
  readonly #options: NemesisOptions;

  constructor(cluster: FaultCluster, options: NemesisOptions) {
    this.#cluster = cluster;
    this.#options = options;
  }

  /** Faults of the given kinds, one at a time, until `durationMs` has passed; then everything is healed. */
  async run(kinds: readonly FaultKind[], durationMs: number): Promise<void> {
    const { rng, calmMs, holdMs } = this.#options;
    const endMs = nowMs() + durationMs;
    try {
      while (nowMs() < endMs - holdMs[0]) {
        await sleep(rng.between(calmMs[0], calmMs[1]));
        const kind = rng.pick(kinds);
        const hold = Math.min(rng.between(holdMs[0], holdMs[1]), Math.max(holdMs[0], endMs - nowMs()));
        await this.inject(kind, kind.startsWith('stop-') ? Math.max(hold, 2.5 * this.#options.electionTimeoutMs) : hold);
      }
    } finally {
      await this.#cluster.healAll();
    }
  }

  /** One fault of `kind`, held `holdMs`, then healed. */
  async inject(kind: FaultKind, holdMs: number): Promise<void> {
    const startMs = nowMs();
    const { detail, heal } = await this.#faults()[kind]();
    this.#options.log(`  nemesis +${kind}: ${detail}`);
    await sleep(holdMs - (nowMs() - startMs));
    await heal();
    const endMs = nowMs();
    this.events.push({ kind, detail, startMs, endMs });
    this.#options.log(`  nemesis -${kind} after ${Math.round(endMs - startMs)} ms`);
  }

  #faults(): Record<FaultKind, Fault> {
    const c = this.#cluster;
    const { rng } = this.#options;
    const kill = async (nodes: readonly NodeHandle[]): Promise<{ detail: string; heal: () => Promise<void> }> => {
      await Promise.all(nodes.map((n) => c.kill(n, 'SIGKILL')));
      // Several nodes come back either all at once (the rack's power returns: simultaneous elections from cold
      // logs) or one after another (an operator brings them up in turn: a lone node must not lead).
      const together = nodes.length > 1 && rng.chance(0.5);
      return {
        detail: `kill -9 ${nodes.map((n) => n.id).join(' ')}${nodes.length > 1 ? (together ? ', back together' : ', back in turn') : ''}`,
        heal: async () => {
          if (together) await Promise.all(nodes.map((n) => c.restart(n)));
          else for (const n of nodes) await c.restart(n);
        },
      };
    };
    const stop = async (node: NodeHandle): Promise<{ detail: string; heal: () => Promise<void> }> => {
      c.stop(node);
      return { detail: `SIGSTOP ${node.id}`, heal: async () => c.cont(node) };
    };
    const links = async (detail: string, apply: () => void): Promise<{ detail: string; heal: () => Promise<void> }> => {
      apply();
      return { detail: `${detail}: ${c.mesh.describe()}`, heal: async () => c.mesh.heal() };
    };
    // A partition either throws bytes away or holds them until it heals, as TCP would retransmit them.
    const cut = (): LinkMode => (rng.chance(0.5) ? { kind: 'drop' } : { kind: 'hold' });
    return {
      'kill-leader': async () => kill([await this.#leader()]),
      'kill-follower': async () => kill([await this.#follower()]),
      'kill-two': async () => kill(rng.shuffle(c.live()).slice(0, 2)),
      // The whole cluster at once (a power cut of the rack): every acknowledged write and claim must come back.
      'kill-all': async () => kill(rng.shuffle(c.nodes.filter((n) => c.isUp(n)))),
      // One step of a rolling restart: the leader hands over, exits by itself, and comes back on its data dir.
      'term-leader': async () => {
        const leader = await this.#leader();
        await c.terminate(leader);
        return { detail: `SIGTERM ${leader.id}`, heal: async () => c.restart(leader) };
      },
      'stop-leader': async () => stop(await this.#leader()),
      'stop-follower': async () => stop(await this.#follower()),
      'isolate-leader': async () => {
        const leader = await this.#leader();
        return links(`isolate ${leader.id}`, () => c.mesh.partition([[leader.id], c.mesh.ids.filter((id) => id !== leader.id)], cut()));
      },
      split: async () => {
        const [alone, ...rest] = rng.shuffle(c.mesh.ids);
        return links(`split ${alone}|${rest.join(',')}`, () => c.mesh.partition([[alone as string], rest], cut()));
      },
      'split-all': async () => links('split 1/1/1', () => c.mesh.partition(c.mesh.ids.map((id) => [id]), cut())),
      'one-way': async () => {
        // From or to the leader most of the time: that is where one-way loss confuses leases and elections.
        const leader = (await this.#leader()).id;
        const other = rng.pick(c.mesh.ids.filter((id) => id !== leader));
        const third = c.mesh.ids.find((id) => id !== leader && id !== other) as string;
        const [from, to] = rng.pick([[leader, other], [other, leader], [other, third]] as const);
        return links(`one-way ${from}→${to}`, () => c.mesh.set(from, to, cut()));
      },
      slow: async () => links('slow links', () => {
        for (const link of c.mesh.links()) link.set({ kind: 'delay', ms: rng.between(50, 300) });
      }),
      flaky: async () => links('flaky links', () => {
        for (const link of c.mesh.links()) link.set({ kind: 'flaky', p: rng.between(5, 30) / 100 });
      }),
    };
  }

  /** The live node that says it leads in the highest term; a random live node if none does right now. */
  async #leader(): Promise<NodeHandle> {
    const views = await Promise.all(this.#cluster.live().map(async (n) => {
      try {
        const r = await fetch(`${n.url}/health`, { signal: AbortSignal.timeout(500) });
        const body = await r.json() as { role?: string; term?: number };
        return { node: n, leads: body.role === 'leader', term: body.term ?? 0 };
      } catch (_err) {
        return { node: n, leads: false, term: -1 };
      }
    }));
    const leaders = views.filter((v) => v.leads).sort((a, b) => b.term - a.term);
    return leaders[0]?.node ?? this.#options.rng.pick(this.#cluster.live());
  }

  async #follower(): Promise<NodeHandle> {
    const leader = await this.#leader();
    const others = this.#cluster.live().filter((n) => n !== leader);
    return others.length === 0 ? leader : this.#options.rng.pick(others);
  }
}
