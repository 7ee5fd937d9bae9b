// Every key layout of the state machine's LevelDB, in one place: prefixes, fixed-width times, separators.
import assert from 'node:assert/strict';

/**
 * Prefixes are one byte and a slash so that each kind of record is one contiguous key range:
 *   m/applied             last applied {index, term}
 *   m/job_count           number of stored jobs
 *   m/job_keys            digest of the stored jobs' keys (see job-key-tally.ts)
 *   j/<tenant>/<id>       a job
 *   n/<at hex16>/<tenant>/<id>   next-fire index: jobs by next_run_at, for the scheduler's slots
 *   p/<node id>           a cluster member's Raft address
 *   m/firing_paused       true while all firing is paused (POST /cluster/pause-firing)
 *   f/<tenant>/<id>/<at hex16>    a fire in flight (claimed or queued, not finished): what a new leader resumes
 *   e/<tenant>/<id>/<seq hex16>   an execution record; the highest seq is the newest
 *   d/<tenant>/<id>@<at>          a dead letter, by fire id
 */
export const appliedKey = 'm/applied';
export const jobCountKey = 'm/job_count';
export const jobKeysDigestKey = 'm/job_keys';
export const jobPrefix = 'j/';
export const nextFirePrefix = 'n/';
export const memberPrefix = 'p/';
export const firingPausedKey = 'm/firing_paused';
export const inFlightPrefix = 'f/';
export const executionPrefix = 'e/';
export const deadLetterPrefix = 'd/';

/** Ids and tenants never contain '/', so the separator cannot be forged by a client's id. */
const safePart = /^[A-Za-z0-9._:-]{1,128}$/;

function part(value: string, what: string): string {
  // The message is spelled only on failure: every key of every write passes here.
  if (!safePart.test(value)) assert.fail(`${what} ${JSON.stringify(value)} cannot be part of a key`);
  return value;
}

export function jobKey(tenant: string, id: string): string {
  return `${jobPrefix}${part(tenant, 'tenant')}/${part(id, 'job id')}`;
}

export function tenantJobPrefix(tenant: string): string {
  return `${jobPrefix}${part(tenant, 'tenant')}/`;
}

/** Fixed-width hex keeps lexicographic order equal to numeric order for every epoch-ms time up to year 10889. */
export function timeHex(atMs: number): string {
  if (!Number.isSafeInteger(atMs) || atMs < 0) assert.fail(`time ${atMs} cannot be indexed`);
  return atMs.toString(16).padStart(16, '0');
}

export function nextFireKey(atMs: number, tenant: string, id: string): string {
  return `${nextFirePrefix}${timeHex(atMs)}/${part(tenant, 'tenant')}/${part(id, 'job id')}`;
}

/** The index key range of fires in [fromMs, toMs). */
export function nextFireRange(fromMs: number, toMs: number): { gte: string; lt: string } {
  return { gte: `${nextFirePrefix}${timeHex(Math.max(0, fromMs))}`, lt: `${nextFirePrefix}${timeHex(Math.max(0, toMs))}` };
}

export function parseNextFireKey(key: string): { atMs: number; tenant: string; id: string } {
  const [prefix, hex, tenant, id] = key.split('/');
  assert.ok(prefix === 'n' && hex !== undefined && tenant !== undefined && id !== undefined, `bad next-fire key ${key}`);
  return { atMs: Number.parseInt(hex, 16), tenant, id };
}

export function parseJobKey(key: string): { tenant: string; id: string } {
  const [prefix, tenant, id] = key.split('/');
  assert.ok(prefix === 'j' && tenant !== undefined && id !== undefined, `bad job key ${key}`);
  return { tenant, id };
}

export function memberKey(nodeId: string): string {
  return `${memberPrefix}${nodeId}`;
}

/** The end of a prefix's range: every key that starts with `prefix` is below it. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export function inFlightKey(tenant: string, id: string, atMs: number): string {
  return `${inFlightPrefix}${part(tenant, 'tenant')}/${part(id, 'job id')}/${timeHex(atMs)}`;
}

export function jobInFlightPrefix(tenant: string, id: string): string {
  return `${inFlightPrefix}${part(tenant, 'tenant')}/${part(id, 'job id')}/`;
}

export function parseInFlightKey(key: string): { tenant: string; id: string; atMs: number } {
  const [prefix, tenant, id, hex] = key.split('/');
  assert.ok(prefix === 'f' && tenant !== undefined && id !== undefined && hex !== undefined, `bad in-flight key ${key}`);
  return { tenant, id, atMs: Number.parseInt(hex, 16) };
}

/** Sequence numbers are fixed-width hex too, so a reverse scan of one job's records lists the newest first. */
export function executionKey(tenant: string, id: string, seq: number): string {
  return `${jobExecutionPrefix(tenant, id)}${timeHex(seq)}`;
}

export function jobExecutionPrefix(tenant: string, id: string): string {
  return `${executionPrefix}${part(tenant, 'tenant')}/${part(id, 'job id')}/`;
}

/** A dead letter's key ends in its fire id; '@' is not an id character, so `<id>@` prefixes exactly one job's. */
export function deadLetterKey(tenant: string, id: string, atMs: number): string {
  assert.ok(Number.isSafeInteger(atMs) && atMs >= 0, `fire time ${atMs} cannot be a key`);
  return `${jobDeadLetterPrefix(tenant, id)}${atMs}`;
}

export function jobDeadLetterPrefix(tenant: string, id: string): string {
  return `${tenantDeadLetterPrefix(tenant)}${part(id, 'job id')}@`;
}

export function tenantDeadLetterPrefix(tenant: string): string {
  return `${deadLetterPrefix}${part(tenant, 'tenant')}/`;
}
