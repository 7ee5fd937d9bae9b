// A small seeded pseudo-random generator, so that every election timeout is reproducible from a seed.

export interface Random {
  /** An integer in [0, bound). */
  int(bound: number): number;
}

/** mulberry32: 32 bits of state, good enough for spreading election timeouts and for simulation. */
export class SeededRandom implements Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
}
