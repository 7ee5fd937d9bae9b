// A linearizability checker (Wing & Gong's search with Lowe's memoization, the algorithm Porcupine uses) and its models.
import assert from 'node:assert/strict';

/** The outcome of applying one operation to a state; `ok: false` means the output is impossible from that state. */
export interface StepResult<S> {
  readonly ok: boolean;
  readonly state: S;
}

/**
 * A deterministic sequential specification.
 *
 * `step` receives `output === undefined` for an operation whose outcome is unknown, and must then return `ok: true`
 * from every state: the checker models "took effect" by applying it and "never took effect" by linearizing it after
 * every other operation, where no one can observe it. `key` must be equal for two states exactly when they are equal,
 * because the cache prunes on it.
 */
export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  key(state: S): string;
  describe?(input: I, output: O | undefined): string;
}

/** One client operation. `output` undefined with `ret` Infinity: the client never learnt the outcome. */
export interface Operation<I, O> {
  readonly client: number | string;
  readonly input: I;
  readonly output: O | undefined;
  readonly call: number;
  readonly ret: number;
}

export interface CheckOptions {
  /** Give up with `timeout` after this long; the search is exponential in the worst case. Unbounded by default. */
  readonly timeoutMs?: number;
}

/** Indices refer to the `ops` array that was checked. `steps` counts loop iterations, for cost reports. */
export type CheckResult =
  | { readonly result: 'ok'; readonly linearization: readonly number[]; readonly steps: number }
  | {
      readonly result: 'illegal';
      /** The longest linearizable prefix the search found... */
      readonly longestPrefix: readonly number[];
      /** ...and the operation that had to come next but could not be applied after it. */
      readonly blockedOp: number;
      readonly steps: number;
    }
  | { readonly result: 'timeout'; readonly steps: number };

/** A call or return event in the doubly linked history; lifting an operation unlinks both, Knuth's dancing links. */
interface Entry {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: number;
  prev: Entry | null;
  next: Entry | null;
  match: Entry | null;
}

const deadlineCheckMask = 0x3ff;

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  for (const op of ops) {
    const isWellFormed = Number.isFinite(op.call) && op.ret >= op.call;
    assert.ok(isWellFormed, `client ${op.client}: an operation needs a finite call no later than its ret (${op.call}, ${op.ret})`);
  }
  const deadlineMs = performance.now() + (options.timeoutMs ?? Infinity);
  return new Search(model, ops, deadlineMs).run();
}

class Search<S, I, O> {
  readonly #head: Entry;
  readonly #cache: LinearizedCache;
  readonly #calls: { entry: Entry; state: S }[] = [];
  #state: S;
  #longestPrefix: readonly number[] = [];
  #blockedOp = -1;
  #steps = 0;

  constructor(readonly model: Model<S, I, O>, readonly ops: readonly Operation<I, O>[], readonly deadlineMs: number) {
    this.#head = buildHistory(ops);
    this.#cache = new LinearizedCache(ops.length);
    this.#state = model.init();
  }

  run(): CheckResult {
    let entry = this.#head.next;
    while (entry !== null) {
      this.#steps++;
      if ((this.#steps & deadlineCheckMask) === 0 && performance.now() > this.deadlineMs) {
        return { result: 'timeout', steps: this.#steps };
      }
      if (entry.isCall) {
        entry = this.#maybeLinearize(entry) ? this.#head.next : entry.next;
        continue;
      }
      // A return reached means every pending call before it was tried: its operation cannot go first here.
      this.#noteDeadEnd(entry.op);
      const top = this.#calls.pop();
      if (top === undefined) {
        return { result: 'illegal', longestPrefix: this.#longestPrefix, blockedOp: this.#blockedOp, steps: this.#steps };
      }
      this.#state = top.state;
      this.#cache.toggle(top.entry.op);
      unlift(top.entry);
      entry = top.entry.next;
    }
    return { result: 'ok', linearization: this.#calls.map((c) => c.entry.op), steps: this.#steps };
  }

  /** Applies the call's operation next unless the model refuses it or this (set, state) was already explored. */
  #maybeLinearize(entry: Entry): boolean {
    const op = this.ops[entry.op]!;
    const next = this.model.step(this.#state, op.input, op.output);
    if (!next.ok) return false;
    this.#cache.toggle(entry.op);
    if (!this.#cache.maybeAdd(this.model.key(next.state))) {
      this.#cache.toggle(entry.op);
      return false;
    }
    this.#calls.push({ entry, state: this.#state });
    this.#state = next.state;
    lift(entry);
    return true;
  }

  #noteDeadEnd(op: number): void {
    if (this.#blockedOp !== -1 && this.#calls.length <= this.#longestPrefix.length) return;
    this.#longestPrefix = this.#calls.map((c) => c.entry.op);
    this.#blockedOp = op;
  }
}

/** Sorted calls and returns behind a sentinel head. Equal times put calls first: touching intervals count as concurrent. */
function buildHistory(ops: readonly Operation<unknown, unknown>[]): Entry {
  const entries: Entry[] = [];
  ops.forEach((op, index) => {
    const call: Entry = { op: index, isCall: true, time: op.call, prev: null, next: null, match: null };
    const ret: Entry = { op: index, isCall: false, time: op.ret, prev: null, next: null, match: null };
    call.match = ret;
    entries.push(call, ret);
  });
  entries.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall));
  const head: Entry = { op: -1, isCall: false, time: -Infinity, prev: null, next: null, match: null };
  let last = head;
  for (const entry of entries) {
    last.next = entry;
    entry.prev = last;
    last = entry;
  }
  return head;
}

/** A call always has its own return after it, so both have a predecessor and the call has a successor. */
function lift(call: Entry): void {
  const ret = call.match!;
  call.prev!.next = call.next;
  call.next!.prev = call.prev;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

/** Undoes lift in reverse order, so the neighbours the entries remember are again the right ones. */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  call.next!.prev = call;
}

/**
 * The set of (linearized operations, state) pairs already explored: reaching one again cannot succeed where the first
 * visit failed (Lowe). The operation set is a bitset hashed incrementally (Zobrist), so toggling an operation is O(1).
 * Entries live in one flat typed array, chained per bucket, because a million small allocations would dominate the
 * search time.
 */
class LinearizedCache {
  readonly #bits: Uint32Array;
  readonly #zobrist: Uint32Array;
  readonly #stateIds = new Map<string, number>();
  #hash = 0;
  /** Per entry: [hash, stateId, next entry offset + 1 (0 ends the chain), ...bits]. */
  #pool: Uint32Array;
  #poolUsed = 0;
  #buckets = new Uint32Array(1024);
  #count = 0;

  constructor(opCount: number) {
    this.#bits = new Uint32Array((opCount + 31) >>> 5);
    this.#zobrist = zobristTable(opCount);
    this.#pool = new Uint32Array(1024 * this.#entryWords);
  }

  get #entryWords(): number {
    return 3 + this.#bits.length;
  }

  toggle(op: number): void {
    this.#bits[op >>> 5]! ^= 1 << (op & 31);
    this.#hash ^= this.#zobrist[op]!;
  }

  /** Records the current set with this state; false if the pair was already there. */
  maybeAdd(stateKey: string): boolean {
    const stateId = this.#intern(stateKey);
    const hash = (this.#hash ^ Math.imul(stateId + 1, 0x9e3779b1)) >>> 0;
    const bucket = hash & (this.#buckets.length - 1);
    for (let link = this.#buckets[bucket]!; link !== 0; link = this.#pool[link - 1 + 2]!) {
      if (this.#isCurrent(link - 1, hash, stateId)) return false;
    }
    const offset = this.#append(hash, stateId);
    this.#pool[offset + 2] = this.#buckets[bucket]!;
    this.#buckets[bucket] = offset + 1;
    if (++this.#count > this.#buckets.length) this.#rehash();
    return true;
  }

  #intern(stateKey: string): number {
    let id = this.#stateIds.get(stateKey);
    if (id === undefined) {
      id = this.#stateIds.size;
      this.#stateIds.set(stateKey, id);
    }
    return id;
  }

  #isCurrent(offset: number, hash: number, stateId: number): boolean {
    const pool = this.#pool;
    if (pool[offset] !== hash || pool[offset + 1] !== stateId) return false;
    for (let i = 0; i < this.#bits.length; i++) if (pool[offset + 3 + i] !== this.#bits[i]) return false;
    return true;
  }

  #append(hash: number, stateId: number): number {
    const words = this.#entryWords;
    if (this.#poolUsed + words > this.#pool.length) {
      const grown = new Uint32Array(this.#pool.length * 2);
      grown.set(this.#pool);
      this.#pool = grown;
    }
    const offset = this.#poolUsed;
    this.#pool[offset] = hash;
    this.#pool[offset + 1] = stateId;
    this.#pool.set(this.#bits, offset + 3);
    this.#poolUsed += words;
    return offset;
  }

  /** Doubles the buckets so chains stay about one entry long. */
  #rehash(): void {
    const buckets = new Uint32Array(this.#buckets.length * 2);
    const mask = buckets.length - 1;
    for (let offset = 0; offset < this.#poolUsed; offset += this.#entryWords) {
      const bucket = this.#pool[offset]! & mask;
      this.#pool[offset + 2] = buckets[bucket]!;
      buckets[bucket] = offset + 1;
    }
    this.#buckets = buckets;
  }
}

/** Fixed-seed random words (mulberry32): verdicts must not depend on the run, and collisions only cost a compare. */
function zobristTable(size: number): Uint32Array {
  const table = new Uint32Array(size);
  let seed = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let z = seed;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    table[i] = (z ^ (z >>> 14)) >>> 0;
  }
  return table;
}

/** Renders an illegal result as the longest linearizable prefix, state by state, then the operation that broke it. */
export function explainIllegal<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  result: Extract<CheckResult, { result: 'illegal' }>,
): string {
  const describe = (index: number): string => {
    const op = ops[index]!;
    const text = model.describe?.(op.input, op.output) ?? JSON.stringify({ input: op.input, output: op.output ?? 'unknown' });
    return `client ${op.client} [${op.call}, ${op.ret}] ${text}`;
  };
  const lines: string[] = [`initial state ${model.key(model.init())}`];
  let state = model.init();
  for (const index of result.longestPrefix) {
    const op = ops[index]!;
    state = model.step(state, op.input, op.output).state;
    lines.push(`${describe(index)} -> ${model.key(state)}`);
  }
  lines.push(`cannot linearize next: ${describe(result.blockedOp)}`);
  return lines.join('\n');
}

// The register of the Jepsen etcd histories: reads, blind writes and compare-and-set on one value, nil at first.

export type RegisterValue = number | null;
export type RegisterInput =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly v: number }
  | { readonly f: 'cas'; readonly from: number; readonly to: number };
/** `{value}` answers a read; `{ok}` a write or cas, where `ok: false` is a definite failure that changed nothing. */
export type RegisterOutput = { readonly value: RegisterValue } | { readonly ok: boolean };

export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  init: () => null,
  step(state, input, output) {
    if (input.f === 'read') return { ok: output === undefined || 'value' in output && output.value === state, state };
    const ok = output === undefined ? undefined : 'ok' in output && output.ok;
    if (input.f === 'write') return { ok: true, state: ok === false ? state : input.v };
    const matches = state === input.from;
    if (ok === undefined) return { ok: true, state: matches ? input.to : state };
    return ok ? { ok: matches, state: input.to } : { ok: !matches, state };
  },
  key: (state) => String(state),
  describe: (input, output) => `${JSON.stringify(input)} => ${output === undefined ? 'unknown' : JSON.stringify(output)}`,
};

// One job as our fault tests see it: absent (null) or present at an opaque version, written by create/patch/delete.

export type JobVersion = string | null;
export type JobInput =
  | { readonly f: 'create'; readonly v: string }
  | { readonly f: 'patch'; readonly v: string }
  | { readonly f: 'delete' }
  | { readonly f: 'read' };
export type JobOutput =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'exists' | 'not_found' }
  | { readonly value: JobVersion };

export const jobRegisterModel: Model<JobVersion, JobInput, JobOutput> = {
  init: () => null,
  step(state, input, output) {
    if (input.f === 'read') {
      return { ok: output === undefined || 'value' in output && output.value === state, state };
    }
    const exists = state !== null;
    // Each write succeeds from one side of exists/absent and fails with one reason from the other, changing nothing.
    const [succeeds, next, failReason] =
      input.f === 'create' ? [!exists, input.v, 'exists'] as const
      : input.f === 'patch' ? [exists, input.v, 'not_found'] as const
      : [exists, null, 'not_found'] as const;
    if (output === undefined) return { ok: true, state: succeeds ? next : state };
    if (!('ok' in output)) return { ok: false, state };
    if (output.ok) return { ok: succeeds, state: next };
    return { ok: !succeeds && output.reason === failReason, state };
  },
  key: (state) => (state === null ? '-' : `+${state}`),
  describe: (input, output) => `${JSON.stringify(input)} => ${output === undefined ? 'unknown' : JSON.stringify(output)}`,
};
