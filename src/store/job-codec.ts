// Jobs as stored values: msgpack maps, decoded with a check that names the key of a damaged record.
import { Packr } from 'msgpackr';
import type { Job } from '../jobs/job.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

/** A stored record that does not decode; the node stops rather than serve or overwrite it. */
export class StoreCorruptError extends Error {
  readonly code = 'store_corrupt';

  constructor(key: string, what: string) {
    super(`state machine record ${key}: ${what}`);
    this.name = 'StoreCorruptError';
  }
}

export function encodeJob(job: Job): Uint8Array {
  return packr.pack(job);
}

export function decodeJob(bytes: Uint8Array, key: string): Job {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new StoreCorruptError(key, `not msgpack (${(err as Error).message})`);
  }
  const job = value as Partial<Job> | null;
  if (typeof job !== 'object' || job === null || typeof job.id !== 'string' || typeof job.tenant !== 'string'
    || typeof job.status !== 'string' || typeof job.startAtMs !== 'number') {
    throw new StoreCorruptError(key, 'not a job record');
  }
  return job as Job;
}
