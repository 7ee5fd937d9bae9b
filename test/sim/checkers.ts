// The safety properties of Raft (figure 3) and of the client contract, checked on every event of a simulation.
import type { Entry, Message } from '../../src/raft/core/index.js';

export class Violation extends Error {
  constructor(readonly property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = 'Violation';
  }
}

/** A read-only view of one node's log, as the checkers need it. */
export interface LogView {
  readonly id: string;
  term(index: number): number | null;
  firstIndex(): number;
  lastIndex(): number;
}

function entryKey(entry: Entry): string {
  if (entry.type === 'conf_change') return `conf:${entry.change.type}:${entry.change.nodeId}`;
  return `data:${Buffer.from(entry.data).toString('hex')}`;
}

export class Checkers {
  /** Election Safety: term -> the one node that led it. */
  readonly #leaderOfTerm = new Map<number, string>();
  /** Log Matching, by induction: (index, term) -> the entry and the term before it, the same on every node. */
  readonly #entryAt = new Map<string, string>();
  /** Leader Completeness: index -> entry term and the (upper bound of the) term in which it was committed. */
  readonly #committed = new Map<number, { term: number; commitTerm: number }>();
  #committedUpTo = 0;
  /** State Machine Safety: index -> the entry every node applies there. */
  readonly #appliedAt = new Map<number, { term: number; key: string }>();
  /** Leader Append-Only: a leader's last index in its term, which it may only grow. */
  readonly #leaderLast = new Map<string, { term: number; lastIndex: number }>();
  /** Per node: the last index applied, for apply order. */
  readonly #lastApplied = new Map<string, number>();
  commits = 0;

  /** Any message only a leader sends proves its sender leads that term. */
  onSend(message: Message): void {
    if (message.type === 'append_entries' || message.type === 'heartbeat' || message.type === 'install_snapshot'
      || message.type === 'timeout_now') {
      this.onLeader(message.from, message.term);
    }
  }

  onLeader(id: string, term: number): void {
    const known = this.#leaderOfTerm.get(term);
    if (known !== undefined && known !== id) {
      throw new Violation('Election Safety', `term ${term} has two leaders: ${known} and ${id}`);
    }
    this.#leaderOfTerm.set(term, id);
  }

  /** A node became leader of `term`: its log must hold every entry committed in an earlier term. */
  onBecameLeader(log: LogView, term: number): void {
    this.onLeader(log.id, term);
    for (const [index, c] of this.#committed) {
      if (c.commitTerm >= term || index < log.firstIndex()) continue;
      const have = log.term(index);
      if (have !== c.term) {
        throw new Violation('Leader Completeness',
          `${log.id} leads term ${term} but has term ${have ?? 'none'} at ${index}, committed with term ${c.term} in term ${c.commitTerm}`);
      }
    }
  }

  /** Entries a node is about to persist (every entry reaches a log through a Ready). */
  onPersist(log: LogView, entries: readonly Entry[], isLeader: boolean, term: number): void {
    const first = entries[0];
    if (first === undefined) return;
    if (isLeader) {
      const last = this.#leaderLast.get(log.id);
      if (last !== undefined && last.term === term && first.index <= last.lastIndex) {
        throw new Violation('Leader Append-Only', `${log.id} rewrote from ${first.index} in term ${term}, having ${last.lastIndex}`);
      }
      this.#leaderLast.set(log.id, { term, lastIndex: entries[entries.length - 1]?.index ?? first.index });
    } else {
      this.#leaderLast.delete(log.id);
    }
    let prevTerm = log.term(first.index - 1);
    for (const entry of entries) {
      const key = `${entry.index}/${entry.term}`;
      const value = `${prevTerm ?? '?'}|${entryKey(entry)}`;
      const known = this.#entryAt.get(key);
      if (known !== undefined && prevTerm !== null && !known.startsWith('?') && known !== value) {
        throw new Violation('Log Matching', `${log.id} holds ${key} as ${value}, elsewhere ${known}`);
      }
      if (known === undefined || known.startsWith('?')) this.#entryAt.set(key, value);
      prevTerm = entry.term;
    }
  }

  /** A leader's commit index reached `commit` in `term`: every entry up to it is committed in that term or earlier. */
  onLeaderCommit(log: LogView, commit: number, term: number): void {
    for (let index = Math.max(this.#committedUpTo + 1, log.firstIndex()); index <= commit; index++) {
      const entryTerm = log.term(index);
      if (entryTerm === null) continue;
      this.#committed.set(index, { term: entryTerm, commitTerm: term });
    }
    this.#committedUpTo = Math.max(this.#committedUpTo, commit);
  }

  /** A node applies `entry`: the same entry at that index everywhere, in index order without gaps. */
  onApply(id: string, entry: Entry): void {
    const last = this.#lastApplied.get(id) ?? 0;
    if (entry.index !== last + 1) {
      throw new Violation('State Machine Safety', `${id} applied ${entry.index} after ${last}`);
    }
    this.#lastApplied.set(id, entry.index);
    const key = entryKey(entry);
    const known = this.#appliedAt.get(entry.index);
    if (known === undefined) {
      this.#appliedAt.set(entry.index, { term: entry.term, key });
      if (entry.type === 'normal' && entry.data.byteLength > 0) this.commits++;
    } else if (known.term !== entry.term || known.key !== key) {
      throw new Violation('State Machine Safety', `${id} applied ${entry.index}/t${entry.term} ${key}; others applied t${known.term} ${known.key}`);
    }
  }

  /** A node restored a snapshot at `index` (or restarted with its state machine there). */
  onRestore(id: string, index: number): void {
    const last = this.#lastApplied.get(id) ?? 0;
    if (index < last) throw new Violation('State Machine Safety', `${id} restored ${index}, behind applied ${last}`);
    this.#lastApplied.set(id, index);
  }

  appliedValue(index: number): { term: number; key: string } | undefined {
    return this.#appliedAt.get(index);
  }

  leaderOfTerm(term: number): string | undefined {
    return this.#leaderOfTerm.get(term);
  }
}
