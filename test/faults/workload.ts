// Concurrent clients writing and reading a small, rotating pool of jobs through random nodes (and nginx), recording
// every operation's invoke time, completion time and outcome for the checkers.
//
// Keys rotate: a key is retired after `opsPerKey` operations or `unknownWritesPerKey` unknown writes, and a fresh one
// takes its place. Histories still overlap (several clients on each key at once), while each key's history stays
// small enough for the linearizability search, which is exponential in the writes left open.
import { nowMs, sleep } from './clock.js';
import { classify, type OpKind, type OpRecord } from './history.js';
import { call } from './http.js';
import type { Rng } from './random.js';

export interface Target {
  readonly name: string;
  readonly url: string;
}

export interface WorkloadOptions {
  readonly targets: () => readonly Target[];
  readonly clients: number;
  readonly rng: Rng;
  /** Prefix of the jobs' ids, unique per run. */
  readonly prefix: string;
  readonly activeKeys: number;
  readonly opsPerKey: number;
  readonly unknownWritesPerKey: number;
  readonly timeoutMs: number;
  readonly thinkMs: readonly [number, number];
}

/** A time far away, so the workload's jobs never fire and only the clients change them. */
const farFuture = '2099-01-01T00:00:00.000Z';

/** Weights of the operations; reads dominate a little so that stale or lost versions get seen. */
const mix: readonly (readonly [OpKind, number])[] = [
  ['create', 18], ['patch', 22], ['delete', 10], ['pause', 7], ['resume', 7], ['read', 36],
];

interface KeyState {
  readonly key: string;
  ops: number;
  unknownWrites: number;
}

export class Workload {
  readonly ops: OpRecord[] = [];
  /** Every key ever used, retired ones included: the final check reads them all. */
  readonly keys: string[] = [];
  readonly #options: WorkloadOptions;
  readonly #active: KeyState[] = [];
  #nextKey = 0;
  #nextVersion = 0;
  #nextClient = 0;
  #running = false;
  #workers: Promise<void>[] = [];
  startedAtMs = 0;
  stoppedAtMs = 0;

  constructor(options: WorkloadOptions) {
    this.#options = options;
    for (let i = 0; i < options.activeKeys; i++) this.#active.push(this.#newKey());
  }

  start(): void {
    this.#running = true;
    this.startedAtMs = nowMs();
    this.#workers = Array.from({ length: this.#options.clients }, (_v, i) => this.#worker(this.#options.rng.fork(`client-${i}`)));
  }

  /** Stops issuing operations and waits for those in flight (each ends by its timeout at the latest). */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
    this.stoppedAtMs = nowMs();
  }

  #newKey(): KeyState {
    const key = `${this.#options.prefix}-k${this.#nextKey++}`;
    this.keys.push(key);
    return { key, ops: 0, unknownWrites: 0 };
  }

  async #worker(rng: Rng): Promise<void> {
    let client = this.#nextClient++;
    while (this.#running) {
      const slot = rng.int(this.#active.length);
      const state = this.#active[slot] as KeyState;
      state.ops++;
      const f = pickWeighted(rng, mix);
      const op = await this.#perform(rng, client, state.key, f);
      this.ops.push(op);
      if (op.outcome === 'unknown') {
        client = this.#nextClient++;
        if (f !== 'read') state.unknownWrites++;
      }
      const retired = this.#active[slot] === state
        && (state.ops >= this.#options.opsPerKey || state.unknownWrites >= this.#options.unknownWritesPerKey);
      if (retired) this.#active[slot] = this.#newKey();
      const [min, max] = this.#options.thinkMs;
      await sleep(rng.between(min, max));
    }
  }

  async #perform(rng: Rng, client: number, key: string, f: OpKind): Promise<OpRecord> {
    const target = rng.pick(this.#options.targets());
    const v = f === 'create' || f === 'patch' ? `${key}.v${this.#nextVersion++}` : null;
    const { method, path, body } = requestOf(f, key, v);
    const callAt = nowMs();
    const answer = await call(target.url, method, path, body, this.#options.timeoutMs);
    const ret = nowMs();
    return { client, key, f, v, via: target.name, call: callAt, ret, ...classify(f, answer) };
  }
}

export function requestOf(f: OpKind, key: string, v: string | null): { method: string; path: string; body?: unknown } {
  const at = `/jobs/${encodeURIComponent(key)}`;
  switch (f) {
    case 'create':
      return { method: 'POST', path: '/jobs', body: { id: key, type: 'unico', timestamp: farFuture, payload: { v } } };
    case 'patch':
      return { method: 'PATCH', path: at, body: { payload: { v } } };
    case 'delete':
      return { method: 'DELETE', path: at };
    case 'pause':
    case 'resume':
      return { method: 'POST', path: `${at}/${f}` };
    case 'read':
      return { method: 'GET', path: `${at}?consistency=strong` };
  }
}

function pickWeighted<T>(rng: Rng, weighted: readonly (readonly [T, number])[]): T {
  const total = weighted.reduce((sum, [, w]) => sum + w, 0);
  let at = rng.next() * total;
  for (const [item, w] of weighted) {
    at -= w;
    if (at < 0) return item;
  }
  return (weighted[weighted.length - 1] as readonly [T, number])[0];
}
