// Whether a leader can be sure no other leader exists yet: a majority heard from it recently enough.
import { majorityValue } from './quorum.js';
import type { NodeId } from './types.js';

/**
 * A voter that hears from its leader refuses to vote for anyone else for an election timeout
 * (CheckQuorum's lease, thesis §6.4.1 and §4.2.3). So when a majority acknowledged messages the leader
 * sent at tick T, no other leader can be elected before T + electionTimeout on the voters' clocks. The
 * leader claims less (`leaseTicks`), leaving room for a tick of skew on each side and for clock drift.
 */
export function leaseHolds(
  voters: readonly NodeId[],
  self: NodeId,
  nowTick: number,
  ackedSentTickOf: (id: NodeId) => number,
  leaseTicks: number,
): boolean {
  return nowTick < leaseEndTick(voters, self, nowTick, ackedSentTickOf, leaseTicks);
}

/** The first tick at which the lease no longer holds, as far as the acknowledgements so far reach. */
export function leaseEndTick(
  voters: readonly NodeId[],
  self: NodeId,
  nowTick: number,
  ackedSentTickOf: (id: NodeId) => number,
  leaseTicks: number,
): number {
  return majorityValue(voters, (id) => (id === self ? nowTick : ackedSentTickOf(id))) + leaseTicks;
}
