// The records a fire leaves in the store: the fire in flight, each execution, and the dead letter, as msgpack.
import { Packr } from 'msgpackr';
import { seal, StoreCorruptError, unseal } from './sealed-record.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

/** A fire claimed or queued and not finished; a new leader resumes it (SPEC §4). */
export interface InFlightFire {
  readonly scheduledAtMs: number;
  /** A trigger or a redrive, not the job's schedule. */
  readonly manual: boolean;
  /** Claimed through Raft (`start`); a manual fire is queued unclaimed first. */
  readonly claimed: boolean;
  /** Attempts recorded so far. */
  readonly attempts: number;
  readonly queuedAtMs: number;
}

export const executionStatuses = ['succeeded', 'failed', 'skipped', 'missed', 'unknown'] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];

/** One attempt, or one record for fires never sent (`skipped`, `missed`, `unknown`, attempt 0). */
export interface ExecutionRecord {
  readonly fireId: string;
  readonly scheduledAtMs: number;
  readonly attempt: number;
  readonly startedAtMs: number | null;
  readonly finishedAtMs: number | null;
  readonly nodeId: string;
  readonly status: ExecutionStatus;
  readonly httpStatus: number | null;
  readonly durationMs: number | null;
  readonly error: string | null;
}

/** A fire whose retries are spent, kept for `redrive` until DEAD_LETTER_TTL. */
export interface DeadLetter {
  readonly tenant: string;
  readonly jobId: string;
  readonly fireId: string;
  readonly scheduledAtMs: number;
  readonly attempts: number;
  readonly error: string | null;
  readonly deadAtMs: number;
  readonly nodeId: string;
}

/** The record to store at `key`, sealed with a checksum of both (sealed-record.ts). */
export function encodeRecord(key: string, record: InFlightFire | ExecutionRecord | DeadLetter): Uint8Array {
  return seal(key, packr.pack(record));
}

/** The record at `key`, checked for the one field every kind must have. */
export function decodeRecord<T extends InFlightFire | ExecutionRecord | DeadLetter>(bytes: Uint8Array, key: string): T {
  const body = unseal(key, bytes);
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch (err) {
    throw new StoreCorruptError(key, `not msgpack (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || typeof (value as { scheduledAtMs?: unknown }).scheduledAtMs !== 'number') {
    throw new StoreCorruptError(key, 'not a fire record');
  }
  return value as T;
}
