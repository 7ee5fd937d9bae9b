// Matches proposals to the entries that apply at their log position, so each caller learns its write's fate.
import assert from 'node:assert/strict';

/**
 * Why a proposal gives no result: `proposal_dropped` means another entry took its position, so it can
 * never apply and a retry is safe; `outcome_unknown` means it may or may not apply.
 */
export class ProposalError extends Error {
  readonly code: 'proposal_dropped' | 'outcome_unknown';

  constructor(code: 'proposal_dropped' | 'outcome_unknown', message: string) {
    super(message);
    this.name = 'ProposalError';
    this.code = code;
  }
}

interface Waiter {
  readonly term: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: ProposalError) => void;
  readonly timer: NodeJS.Timeout;
}

export class ProposalTracker {
  readonly #timeoutMs: number;
  readonly #waiters = new Map<number, Waiter>();

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get pending(): number {
    return this.#waiters.size;
  }

  /** The proposal at (index, term): resolves with its result when an entry applies there. */
  wait(index: number, term: number): Promise<unknown> {
    assert.ok(!this.#waiters.has(index), `two proposals wait on index ${index}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(index);
        reject(new ProposalError('outcome_unknown', `write at index ${index} not applied within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiters.set(index, { term, resolve, reject, timer });
    });
  }

  /** The entry at `index` with `term` applied with `result`. */
  applied(index: number, term: number, result: unknown): void {
    const waiter = this.#waiters.get(index);
    if (waiter === undefined) return;
    this.#waiters.delete(index);
    clearTimeout(waiter.timer);
    if (waiter.term === term) waiter.resolve(result);
    else waiter.reject(new ProposalError('proposal_dropped', `another leader's entry took index ${index}; not applied`));
  }

  /** A snapshot replaced the state through `index`: whether a waiting proposal is in it cannot be told. */
  appliedThrough(index: number): void {
    for (const [at, waiter] of this.#waiters) {
      if (at > index) continue;
      this.#waiters.delete(at);
      clearTimeout(waiter.timer);
      waiter.reject(new ProposalError('outcome_unknown', `a snapshot covered index ${at}; the write's fate is unknown`));
    }
  }

  /** Shutting down: nobody will learn the outcome here. */
  abortAll(): void {
    this.appliedThrough(Number.MAX_SAFE_INTEGER);
  }
}
