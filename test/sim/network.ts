// The simulated network: delays, drops, duplicates and reorders messages, and partitions any subset of nodes.
import type { Message, SeededRandom } from '../../src/raft/core/index.js';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a message is delivered twice. */
  readonly duplicateRate: number;
  /** Probability that a message takes a long detour, arriving after later ones. */
  readonly reorderRate: number;
}

export interface Delivery {
  readonly atMs: number;
  readonly message: Message;
}

export class Network {
  readonly #random: SeededRandom;
  faults: NetworkFaults;
  /** Node id -> partition group; nodes in different groups cannot talk. Absent means group 0. */
  #groups = new Map<string, number>();

  constructor(random: SeededRandom, faults: NetworkFaults) {
    this.#random = random;
    this.faults = faults;
  }

  /** Splits the nodes: each listed node goes to the group given; everyone else stays in group 0. */
  partition(groups: ReadonlyMap<string, number>): void {
    this.#groups = new Map(groups);
  }

  heal(): void {
    this.#groups = new Map();
  }

  isPartitioned(): boolean {
    return this.#groups.size > 0;
  }

  canReach(from: string, to: string): boolean {
    return (this.#groups.get(from) ?? 0) === (this.#groups.get(to) ?? 0);
  }

  describePartition(): string {
    const byGroup = new Map<number, string[]>();
    for (const [id, g] of this.#groups) byGroup.set(g, [...(byGroup.get(g) ?? []), id]);
    return [...byGroup.values()].map((ids) => `{${ids.sort().join(',')}}`).join(' ');
  }

  /** When (if ever) each copy of `message` sent at `nowMs` arrives. */
  send(nowMs: number, message: Message): Delivery[] {
    if (!this.canReach(message.from, message.to) || this.#random.next() < this.faults.dropRate) return [];
    const copies = this.#random.next() < this.faults.duplicateRate ? 2 : 1;
    const out: Delivery[] = [];
    for (let i = 0; i < copies; i++) {
      const long = this.#random.next() < this.faults.reorderRate;
      const delayMs = long ? 20 + this.#random.int(130) : 1 + this.#random.int(8);
      out.push({ atMs: nowMs + delayMs, message });
    }
    return out;
  }

  /** A message in flight is lost if a partition now separates its ends. */
  stillReaches(message: Message): boolean {
    return this.canReach(message.from, message.to);
  }
}
