// Which servers vote and which only learn, and how that changes entry by entry as the log grows (thesis §4.1).
import assert from 'node:assert/strict';
import type { ConfChange, Entry, Membership, NodeId } from './types.js';

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isMember(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.learners.includes(id);
}

export function members(m: Membership): NodeId[] {
  return [...m.voters, ...m.learners];
}

/** Applying is total and deterministic: every server replays the same entries to the same result. */
export function applyConfChange(m: Membership, change: ConfChange): Membership {
  const id = change.nodeId;
  const without = (list: readonly NodeId[]): NodeId[] => list.filter((x) => x !== id);
  switch (change.type) {
    case 'add_learner':
      return isVoter(m, id) ? m : { voters: [...m.voters], learners: [...without(m.learners), id].sort() };
    case 'promote':
    case 'add_voter':
      return { voters: [...without(m.voters), id].sort(), learners: without(m.learners) };
    case 'remove_node':
      return { voters: without(m.voters), learners: without(m.learners) };
  }
}

/**
 * The membership in force after each index. A server always uses the latest configuration in its log,
 * committed or not (thesis §4.1), so a truncated conf-change entry must take its configuration with it.
 */
export class MembershipLog {
  #baseIndex: number;
  #base: Membership;
  #changes: { index: number; membership: Membership }[] = [];

  constructor(baseIndex: number, base: Membership) {
    this.#baseIndex = baseIndex;
    this.#base = base;
  }

  current(): Membership {
    return this.#changes[this.#changes.length - 1]?.membership ?? this.#base;
  }

  /** Index of the entry that set the current membership (the snapshot's index when none follows it). */
  lastChangeIndex(): number {
    return this.#changes[this.#changes.length - 1]?.index ?? this.#baseIndex;
  }

  at(index: number): Membership {
    assert.ok(index >= this.#baseIndex, `membership at ${index} is behind the snapshot at ${this.#baseIndex}`);
    let m = this.#base;
    for (const change of this.#changes) {
      if (change.index > index) break;
      m = change.membership;
    }
    return m;
  }

  /** Records the conf-change entries among `entries`, after dropping any change at or after entries[0]. */
  appended(entries: readonly Entry[]): boolean {
    const first = entries[0];
    if (first === undefined) return false;
    const before = this.#changes.length;
    this.#changes = this.#changes.filter((c) => c.index < first.index);
    let changed = this.#changes.length !== before;
    for (const entry of entries) {
      if (entry.type !== 'conf_change') continue;
      this.#changes.push({ index: entry.index, membership: applyConfChange(this.current(), entry.change) });
      changed = true;
    }
    return changed;
  }

  compactTo(index: number): void {
    if (index <= this.#baseIndex) return;
    this.#base = this.at(index);
    this.#baseIndex = index;
    this.#changes = this.#changes.filter((c) => c.index > index);
  }

  reset(index: number, membership: Membership): void {
    this.#baseIndex = index;
    this.#base = membership;
    this.#changes = [];
  }
}
