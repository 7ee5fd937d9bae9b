// The job record: its normalized client spec, its state, and the pure functions that create and change it.
import * as crypto from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { validateCron } from './cron.js';
import { JobInputError, JobStateError } from './errors.js';
import { defaultSpec, normalizeFields, type NormalizeOptions } from './fields.js';
import { canonicalJson, jsonDepthMax, jsonProblem } from './json.js';
import { nextFireAtMs } from './schedule.js';
import {
  type catchupPolicies, CreateJobBody, type deliveryModes, type jobStatuses, type jobTypes, PatchJobBody,
  type overlapPolicies, type pausedReasons, type webhookMethods,
} from './schema.js';

export { isPrivateAddress, isPrivateHost } from './webhook-url.js';
export type { NormalizeOptions } from './fields.js';

export type JobType = (typeof jobTypes)[number];
export type JobStatus = (typeof jobStatuses)[number];
export type WebhookMethod = (typeof webhookMethods)[number];
export type Delivery = (typeof deliveryModes)[number];
export type CatchupPolicy = (typeof catchupPolicies)[number];
export type OverlapPolicy = (typeof overlapPolicies)[number];
export type PausedReason = (typeof pausedReasons)[number];

/** Fires of a job by how they ended; `failed` counts dead letters and 410s. */
export interface FireCounts {
  readonly succeeded: number;
  readonly failed: number;
  readonly skipped: number;
  readonly missed: number;
  readonly unknown: number;
}

export const zeroFireCounts: FireCounts = { succeeded: 0, failed: 0, skipped: 0, missed: 0, unknown: 0 };

/** The tenant of every job while API_TOKENS names no tenants (SPEC §6). */
export const defaultTenant = 'default';

export interface RetryPolicy {
  /** Every attempt counts, the first included. */
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** No retry starts this long after the first attempt; null: no limit. */
  readonly maxDurationMs: number | null;
  /** Ascending; a listed status is not retried. */
  readonly nonRetryableStatuses: readonly number[];
}

/** What the client controls, normalized: defaults applied, times in epoch ms, durations in ms. */
export interface JobSpec {
  readonly id: string;
  readonly type: JobType;
  /** unico: the fire time. recurrente: the first possible fire (the create's time when not given). */
  readonly startAtMs: number;
  /** recurrente: exactly one of `cronExpression` and `intervalMs` is set; unico: both null. */
  readonly cronExpression: string | null;
  readonly intervalMs: number | null;
  /** A canonical IANA name. */
  readonly timezone: string;
  /** recurrente: no fire after it. */
  readonly lastDateAtMs: number | null;
  /** null: a fire is only recorded. */
  readonly webhookUrl: string | null;
  readonly method: WebhookMethod;
  readonly headers: Readonly<Record<string, string>>;
  /** Any JSON value. */
  readonly payload: unknown;
  readonly delivery: Delivery;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly catchup: CatchupPolicy;
  readonly catchupWindowMs: number;
  readonly overlap: OverlapPolicy;
  readonly maxRuns: number | null;
  readonly jitterMs: number;
  /** 0: never pause. */
  readonly pauseAfterFailures: number;
  /** Write-only: never in an answer. */
  readonly signingSecret: string | null;
  readonly paused: boolean;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * A stored job: its spec and its state. Invariants: a `completed`, `failed` or `cancelled` job (terminal) and
 * a `paused` one have `nextRunAtMs` null; `pausedReason` is set exactly when the status is `paused`.
 */
export interface Job extends JobSpec {
  readonly tenant: string;
  readonly status: JobStatus;
  readonly nextRunAtMs: number | null;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  /** Fires claimed (started) so far; `max_runs` counts these. */
  readonly runCount: number;
  /** Fires claimed and not yet finished: the job is `running` while there is one. */
  readonly firesInFlight: number;
  /** Execution records ever written for the job; the newest is number `executionSeq`. */
  readonly executionSeq: number;
  readonly fireCounts: FireCounts;
  readonly consecutiveFailures: number;
  readonly pausedReason: PausedReason | null;
  /** sha256 (hex) of the create body's canonical JSON: the same id with the same hash is the same create. */
  readonly requestHash: string;
}

const createBodyCheck = TypeCompiler.Compile(CreateJobBody);
const patchBodyCheck = TypeCompiler.Compile(PatchJobBody);

// ---------------------------------------------------------------------------
// From client bodies to specs

/** The normalized spec of a create body (SPEC §2): shape, every field, and the rules that join fields. */
export function normalizeCreate(body: unknown, options: NormalizeOptions): JobSpec {
  if (!createBodyCheck.Check(body)) throw schemaError(createBodyCheck.Errors(body).First());
  const id = body.id ?? options.generatedId;
  if (id === undefined) throw new JobInputError('invalid_request', 'id', 'id is required');
  if (body.type === 'unico' && body.timestamp === undefined) {
    throw new JobInputError('invalid_request', 'timestamp', 'a unico job needs timestamp, its fire time');
  }
  const spec: JobSpec = { ...defaultSpec(id, body.type, options.nowMs), ...normalizeFields(body, options) };
  checkSpec(spec);
  return spec;
}

/**
 * The spec after a PATCH body: each field given replaces the stored one whole (`payload`, `headers`, `tags`,
 * `retry` are not merged), then the whole result is checked again. `cron_expression` and `interval` are one
 * choice: setting one clears the other, so a job switches schedule kind in one PATCH.
 */
export function applyPatch(job: JobSpec, patch: unknown, options: NormalizeOptions): JobSpec {
  if (!patchBodyCheck.Check(patch)) throw schemaError(patchBodyCheck.Errors(patch).First());
  const fields = normalizeFields(patch, options);
  if (typeof patch.cron_expression === 'string' && patch.interval === undefined) fields.intervalMs = null;
  if (patch.interval !== undefined && patch.interval !== null && patch.cron_expression === undefined) {
    fields.cronExpression = null;
  }
  const spec: JobSpec = { ...specOf(job), ...fields };
  checkSpec(spec);
  return spec;
}

/** The rules that join fields, checked on a whole spec after any create or change. */
function checkSpec(spec: JobSpec): void {
  if (spec.type === 'unico') {
    const stray = spec.cronExpression !== null ? 'cron_expression' : spec.intervalMs !== null ? 'interval'
      : spec.lastDateAtMs !== null ? 'last_date' : spec.maxRuns !== null ? 'max_runs' : null;
    if (stray !== null) throw new JobInputError('invalid_request', stray, `a unico job fires once; ${stray} is for recurrente`);
  } else if ((spec.cronExpression === null) === (spec.intervalMs === null)) {
    throw new JobInputError(
      'invalid_request', spec.cronExpression === null ? 'cron_expression' : 'interval',
      'a recurrente job needs exactly one of cron_expression and interval',
    );
  }
  if (spec.cronExpression !== null) validateCron(spec.cronExpression, spec.timezone);
  if (spec.lastDateAtMs !== null && spec.lastDateAtMs <= spec.startAtMs) {
    throw new JobInputError('invalid_time', 'last_date', 'last_date must be after the start (timestamp, or now)');
  }
  // A schedule whose first fire comes after last_date would be stored and never fire, without a word.
  if (spec.type === 'recurrente' && spec.lastDateAtMs !== null && nextFireAtMs(spec, spec.startAtMs - 1) === null) {
    throw new JobInputError('invalid_time', 'last_date', 'last_date is before the first fire of the schedule: the job would never fire');
  }
  if (spec.retry.maxBackoffMs < spec.retry.backoffMs) {
    throw new JobInputError('invalid_request', 'retry.max_backoff_ms', 'retry.max_backoff_ms must be at least retry.backoff_ms');
  }
}

/** The first schema error as a JobInputError naming the field the client wrote (JSON pointer `/retry/x` → `retry.x`). */
function schemaError(error: ValueError | undefined): JobInputError {
  const field = (error?.path ?? '').split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
  const name = field === '' ? 'body' : field;
  const message = error === undefined ? 'is invalid' : describeSchemaError(error);
  return new JobInputError('invalid_request', name, `${name} ${message}`);
}

function describeSchemaError(error: ValueError): string {
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return 'is not a known field';
  if (error.type === ValueErrorType.ObjectRequiredProperty) return 'is required';
  if (error.type === ValueErrorType.ObjectMinProperties) return 'needs at least one field';
  const options = alternatives(error.schema as SchemaOptions);
  if (options.length > 1) {
    const isEnum = options.every((o) => o.startsWith('"') || o === 'null');
    return isEnum ? `must be one of ${options.join(', ')}` : `must be ${options.join(' or ')}`;
  }
  return error.message.replace(/^Expected/, 'must be');
}

interface SchemaOptions {
  readonly anyOf?: readonly SchemaOptions[];
  readonly const?: unknown;
  readonly type?: unknown;
}

/** The alternatives of a (nested) anyOf, each as a literal's JSON or a type name. */
function alternatives(schema: SchemaOptions): string[] {
  if (schema.anyOf === undefined) return [schema.const !== undefined ? JSON.stringify(schema.const) : String(schema.type)];
  return schema.anyOf.flatMap(alternatives);
}

/** sha256 hex of the body's canonical JSON (keys sorted), so the same create sent twice hashes the same. */
export function requestHashOf(body: unknown): string {
  return requestDigestOf(body).hash;
}

/** The request hash and the length of the canonical JSON it hashes (a batch sizes its entries by it). */
export function requestDigestOf(body: unknown): { hash: string; jsonLength: number } {
  // A body nested deeper than any valid one (payload depth plus its own levels) is refused before hashing.
  const problem = jsonProblem(body, jsonDepthMax + 4);
  if (problem !== null) throw new JobInputError('invalid_request', 'body', `body: ${problem}`);
  const json = canonicalJson(body);
  return { hash: sha256Hex(json), jsonLength: json.length };
}

// One call where Node has it (20.12+): a Hash object a job cost about 1.5 µs more on a batch's every job.
const sha256Hex: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** The spec part of a job (or of a spec), without its state. */
export function specOf(job: JobSpec): JobSpec {
  return {
    id: job.id, type: job.type, startAtMs: job.startAtMs, cronExpression: job.cronExpression,
    intervalMs: job.intervalMs, timezone: job.timezone, lastDateAtMs: job.lastDateAtMs, webhookUrl: job.webhookUrl,
    method: job.method, headers: job.headers, payload: job.payload, delivery: job.delivery, retry: job.retry,
    timeoutMs: job.timeoutMs, catchup: job.catchup, catchupWindowMs: job.catchupWindowMs, overlap: job.overlap,
    maxRuns: job.maxRuns, jitterMs: job.jitterMs, pauseAfterFailures: job.pauseAfterFailures,
    signingSecret: job.signingSecret, paused: job.paused, tags: job.tags,
  };
}

// ---------------------------------------------------------------------------
// State

/** Completed, failed and cancelled jobs fire no more; only a PATCH of their fields still applies to them. */
export function isTerminal(status: JobStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/**
 * The first run of a job that is not paused, at or after `nowMs`: a unico runs at its time even when that has
 * passed (SPEC §2: it fires at once); a recurrente's fires from before `nowMs` are not missed fires, since the job
 * did not exist (or was paused) then, so its schedule resumes at the first fire from now on.
 */
export function firstRunAtMs(spec: JobSpec, runCount: number, nowMs: number): number | null {
  if (spec.type === 'unico') return runCount === 0 ? spec.startAtMs : null;
  if (spec.maxRuns !== null && runCount >= spec.maxRuns) return null;
  return nextFireAtMs(spec, Math.max(spec.startAtMs, nowMs) - 1);
}

/** A new job from a normalized spec, as the state machine stores it when it applies `create_jobs`. */
export function newJob(spec: JobSpec, requestHash: string, nowMs: number, tenant: string = defaultTenant): Job {
  const { status, nextRunAtMs, pausedReason } = liveState({ runCount: 0, firesInFlight: 0, pausedReason: null }, spec, nowMs);
  // One literal, every field named: one allocation of one shape. `{ ...spec, tenant, ... }` made V8 build the
  // shape again on every call (30 to 100 µs a job), and a copy of the spec with the state assigned onto it cost a
  // second object and a shape transition a job. Job's type makes a field missing here a compile error.
  return {
    id: spec.id, type: spec.type, startAtMs: spec.startAtMs, cronExpression: spec.cronExpression,
    intervalMs: spec.intervalMs, timezone: spec.timezone, lastDateAtMs: spec.lastDateAtMs, webhookUrl: spec.webhookUrl,
    method: spec.method, headers: spec.headers, payload: spec.payload, delivery: spec.delivery, retry: spec.retry,
    timeoutMs: spec.timeoutMs, catchup: spec.catchup, catchupWindowMs: spec.catchupWindowMs, overlap: spec.overlap,
    maxRuns: spec.maxRuns, jitterMs: spec.jitterMs, pauseAfterFailures: spec.pauseAfterFailures,
    signingSecret: spec.signingSecret, paused: spec.paused, tags: spec.tags,
    tenant, status, nextRunAtMs, createdAtMs: nowMs, updatedAtMs: nowMs, runCount: 0, firesInFlight: 0, executionSeq: 0,
    fireCounts: zeroFireCounts, consecutiveFailures: 0, pausedReason, requestHash,
  };
}

/** The fields a job's schedule is computed from. */
function sameSchedule(a: JobSpec, b: JobSpec): boolean {
  return a.type === b.type && a.startAtMs === b.startAtMs && a.cronExpression === b.cronExpression
    && a.intervalMs === b.intervalMs && a.timezone === b.timezone && a.lastDateAtMs === b.lastDateAtMs
    && a.maxRuns === b.maxRuns && a.paused === b.paused;
}

/**
 * The job with a new spec (`update_job`). Its next run is computed again when a field of its schedule changed,
 * unless it has finished; a PATCH of anything else (payload, URL, retry policy) leaves the next run where it was,
 * so a fire that is due and not yet sent (a late one, waiting for a leader) still goes.
 */
export function updateJob(job: Job, spec: JobSpec, nowMs: number): Job {
  const updated: Job = { ...job, ...specOf(spec), updatedAtMs: nowMs };
  if (isTerminal(job.status) || sameSchedule(job, spec)) return updated;
  const resumed = job.paused && !spec.paused;
  return { ...updated, ...(resumed ? { consecutiveFailures: 0 } : {}), ...liveState(job, spec, nowMs) };
}

/** `pause_job`: no fire until resumed. Pausing a paused job changes nothing. */
export function pauseJob(job: Job, nowMs: number): Job {
  refuseTerminal(job, 'pause');
  if (job.status === 'paused') return job;
  return { ...job, paused: true, status: 'paused', nextRunAtMs: null, pausedReason: 'requested', updatedAtMs: nowMs };
}

/** `resume_job`: fires again from now on, its failure count cleared. Resuming a running job changes nothing. */
export function resumeJob(job: Job, nowMs: number): Job {
  refuseTerminal(job, 'resume');
  if (job.status !== 'paused') return job;
  return updateJob(job, { ...specOf(job), paused: false }, nowMs);
}

/** `cancel_job`: never fires again (SPEC §2). Cancelling a cancelled job changes nothing. */
export function cancelJob(job: Job, nowMs: number): Job {
  if (job.status === 'cancelled') return job;
  refuseTerminal(job, 'cancel');
  return { ...job, status: 'cancelled', nextRunAtMs: null, pausedReason: null, updatedAtMs: nowMs };
}

function refuseTerminal(job: Job, action: string): void {
  if (isTerminal(job.status)) {
    throw new JobStateError('already_completed', job.id, `job ${job.id} is ${job.status}; it cannot ${action}`);
  }
}

/** Status, next run and pause reason of a job that has not finished, from its (new) spec. */
function liveState(job: Pick<Job, 'runCount' | 'firesInFlight' | 'pausedReason'>, spec: JobSpec, nowMs: number): Pick<Job, 'status' | 'nextRunAtMs' | 'pausedReason'> {
  if (spec.paused) {
    return { status: 'paused', nextRunAtMs: null, pausedReason: job.pausedReason ?? 'requested' };
  }
  const nextRunAtMs = firstRunAtMs(spec, job.runCount, nowMs);
  // A fire already in flight keeps the job running; otherwise a job with no run left is done.
  const status = job.firesInFlight > 0 ? 'running' : nextRunAtMs === null ? 'completed' : 'pending';
  return { status, nextRunAtMs, pausedReason: null };
}
