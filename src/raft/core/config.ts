// The core's options, their defaults and the cross-checks between them (as etcd's Config.validate).
import assert from 'node:assert/strict';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { Random } from './random.js';
import type { Storage } from './storage.js';
import type { NodeId } from './types.js';

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  readonly random: Random;
  /**
   * Ticks without hearing from a leader before a follower campaigns. No voter grants a vote sooner (the CheckQuorum
   * lease), so this is also the earliest a new leader can be elected.
   */
  readonly electionTimeoutTicks: number;
  /**
   * Each election timeout is drawn from [electionTimeoutTicks, electionTimeoutTicks + electionJitterTicks). The
   * spread keeps two servers from campaigning at once; a narrower one elects sooner after a leader dies. Default
   * electionTimeoutTicks, as etcd's [n, 2n).
   */
  readonly electionJitterTicks?: number;
  readonly heartbeatIntervalTicks: number;
  /** The last index the application has durably applied; committed entries after it are handed out again. */
  readonly applied?: number;
  /** Thesis §9.6. */
  readonly preVote?: boolean;
  /** Thesis §6.2: a leader that has not heard from a majority within an election timeout steps down. */
  readonly checkQuorum?: boolean;
  /** How long a leader's lease lasts after a majority's acknowledgement; below the election timeout. */
  readonly leaseTicks?: number;
  /** AppendEntries in flight to one follower in replicate state. */
  readonly maxInflightAppends?: number;
  /**
   * Entry bytes in flight to one follower in replicate state (etcd's MaxInflightBytes). Each message in flight is
   * a request body the transport holds until answered, so this bounds a leader's memory when a follower is slow.
   */
  readonly maxInflightBytes?: number;
  readonly maxAppendBytes?: number;
  readonly maxApplyBytes?: number;
  readonly snapshotChunkBytes?: number;
  /** Bound on ReadIndex requests waiting at once; more are refused at once. */
  readonly maxPendingReads?: number;
  readonly logger?: Logger;
}

export type ResolvedConfig = Required<RaftConfig>;

export function resolveConfig(config: RaftConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    applied: 0,
    preVote: true,
    checkQuorum: true,
    leaseTicks: config.electionTimeoutTicks - 2,
    electionJitterTicks: config.electionTimeoutTicks,
    maxInflightAppends: 64,
    maxInflightBytes: Infinity,
    maxAppendBytes: 1024 * 1024,
    maxApplyBytes: 4 * 1024 * 1024,
    snapshotChunkBytes: 256 * 1024,
    maxPendingReads: 10_000,
    logger: silentLogger,
    ...config,
  };
  assert.ok(resolved.id.length > 0, 'raft: id must not be empty');
  assert.ok(resolved.heartbeatIntervalTicks >= 1, 'raft: heartbeatIntervalTicks must be at least 1');
  assert.ok(resolved.electionTimeoutTicks > resolved.heartbeatIntervalTicks,
    'raft: electionTimeoutTicks must exceed heartbeatIntervalTicks');
  assert.ok(Number.isInteger(resolved.electionJitterTicks) && resolved.electionJitterTicks >= 1,
    'raft: electionJitterTicks must be a positive integer');
  assert.ok(resolved.leaseTicks >= 1 && resolved.leaseTicks < resolved.electionTimeoutTicks,
    'raft: leaseTicks must be at least 1 and below electionTimeoutTicks');
  assert.ok(resolved.maxInflightAppends >= 1, 'raft: maxInflightAppends must be at least 1');
  assert.ok(resolved.maxInflightBytes > 0, 'raft: maxInflightBytes must be positive');
  assert.ok(resolved.maxPendingReads >= 1, 'raft: maxPendingReads must be at least 1');
  assert.ok(Number.isInteger(resolved.applied) && resolved.applied >= 0, 'raft: applied must be a non-negative integer');
  assert.ok(resolved.maxAppendBytes >= 1 && resolved.maxApplyBytes >= 1 && resolved.snapshotChunkBytes >= 1,
    'raft: byte limits must be positive');
  return resolved;
}
