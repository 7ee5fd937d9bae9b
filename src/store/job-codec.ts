// Jobs as stored values, decoded with a check that names the key of a damaged record.
//
// Format 1 is a msgpack array: the format number, then every field of the job in the order below, with the retry
// policy and the fire counts as arrays too and the request hash as its 32 bytes. As a msgpack map, the field names
// had been more than half of each record (931 bytes for a job with a 200-byte payload, 425 as an array), and every
// start reads and decodes every record, every snapshot copies them all. Records written as maps before format 1
// still decode. A new field goes at the end, and its decoder takes the shorter array of older records. Every record is
// sealed with a checksum of its key and bytes (sealed-record.ts); records from before sealing still decode.
import { Packr } from 'msgpackr';
import type { FireCounts, Job, RetryPolicy } from '../jobs/job.js';
import { jobKey } from './keys.js';
import { seal, StoreCorruptError, unseal } from './sealed-record.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

const recordFormat = 1;
const recordLength = 36;
const hexHash = /^[0-9a-f]{64}$/;

/** The record of `job`, sealed for `key`, its jobKey (given by a caller that has made it already). */
export function encodeJob(job: Job, key = jobKey(job.tenant, job.id)): Uint8Array {
  const r = job.retry;
  const c = job.fireCounts;
  return seal(key, packr.pack([
    recordFormat, job.id, job.type, job.startAtMs, job.cronExpression, job.intervalMs, job.timezone, job.lastDateAtMs,
    job.webhookUrl, job.method, job.headers, job.payload, job.delivery,
    [r.maxAttempts, r.backoffMs, r.maxBackoffMs, r.maxDurationMs, r.nonRetryableStatuses],
    job.timeoutMs, job.catchup, job.catchupWindowMs, job.overlap, job.maxRuns, job.jitterMs, job.pauseAfterFailures,
    job.signingSecret, job.paused, job.tags, job.tenant, job.status, job.nextRunAtMs, job.createdAtMs, job.updatedAtMs,
    job.runCount, job.firesInFlight, job.executionSeq, [c.succeeded, c.failed, c.skipped, c.missed, c.unknown],
    job.consecutiveFailures, job.pausedReason,
    hexHash.test(job.requestHash) ? Buffer.from(job.requestHash, 'hex') : job.requestHash,
  ]));
}

export function decodeJob(bytes: Uint8Array, key: string): Job {
  const body = unseal(key, bytes);
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch (err) {
    throw new StoreCorruptError(key, `not msgpack (${(err as Error).message})`);
  }
  const job = Array.isArray(value) ? jobOfRecord(value, key) : value as Partial<Job> | null;
  if (typeof job !== 'object' || job === null || typeof job.id !== 'string' || typeof job.tenant !== 'string'
    || typeof job.status !== 'string' || typeof job.startAtMs !== 'number') {
    throw new StoreCorruptError(key, 'not a job record');
  }
  return job as Job;
}

/** The job stored under `tenant`/`id`; a record of another job there is damage (a key whose bytes changed). */
export function decodeJobAt(bytes: Uint8Array, key: string, tenant: string, id: string): Job {
  const job = decodeJob(bytes, key);
  if (job.tenant !== tenant || job.id !== id) throw new StoreCorruptError(key, `holds job ${job.tenant}/${job.id}`);
  return job;
}

function jobOfRecord(record: unknown[], key: string): Job {
  const [
    format, id, type, startAtMs, cronExpression, intervalMs, timezone, lastDateAtMs,
    webhookUrl, method, headers, payload, delivery,
    retry,
    timeoutMs, catchup, catchupWindowMs, overlap, maxRuns, jitterMs, pauseAfterFailures,
    signingSecret, paused, tags, tenant, status, nextRunAtMs, createdAtMs, updatedAtMs,
    runCount, firesInFlight, executionSeq, counts,
    consecutiveFailures, pausedReason,
    requestHash,
  ] = record;
  if (format !== recordFormat || record.length !== recordLength) {
    throw new StoreCorruptError(key, `not a job record (format ${String(format)}, ${record.length} fields)`);
  }
  if (!Array.isArray(retry) || retry.length !== 5 || !Array.isArray(counts) || counts.length !== 5) {
    throw new StoreCorruptError(key, 'not a job record (retry policy or fire counts)');
  }
  const [maxAttempts, backoffMs, maxBackoffMs, maxDurationMs, nonRetryableStatuses] = retry as unknown[];
  const [succeeded, failed, skipped, missed, unknown] = counts as unknown[];
  return {
    id, type, startAtMs, cronExpression, intervalMs, timezone, lastDateAtMs, webhookUrl, method, headers, payload,
    delivery, retry: { maxAttempts, backoffMs, maxBackoffMs, maxDurationMs, nonRetryableStatuses } as RetryPolicy,
    timeoutMs, catchup, catchupWindowMs, overlap, maxRuns, jitterMs, pauseAfterFailures, signingSecret, paused, tags,
    tenant, status, nextRunAtMs, createdAtMs, updatedAtMs, runCount, firesInFlight, executionSeq,
    fireCounts: { succeeded, failed, skipped, missed, unknown } as FireCounts, consecutiveFailures, pausedReason,
    requestHash: requestHash instanceof Uint8Array ? hexOf(requestHash) : requestHash,
  } satisfies Record<keyof Job, unknown> as Job;
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
