// Majority arithmetic over a set of voters: the committed index and the outcome of an election.
import type { NodeId } from './types.js';

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest value that a majority of voters have reached: with voters' values sorted from high to low,
 * the one at position quorum-1. An empty voter set imposes no limit.
 */
export function majorityValue(voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  if (voters.length === 0) return Number.POSITIVE_INFINITY;
  const values = voters.map(valueOf).sort((a, b) => b - a);
  const value = values[quorumSize(voters.length) - 1];
  return value ?? Number.NEGATIVE_INFINITY;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Won once a majority granted; lost once a majority can no longer be reached. */
export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (granted >= quorum) return 'won';
  if (voters.length - rejected < quorum) return 'lost';
  return 'pending';
}
