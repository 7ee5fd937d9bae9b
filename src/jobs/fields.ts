// Turns each client field of a job (SPEC §2 names and forms) into its normalized JobSpec value, and holds the defaults.
import { JobInputError } from './errors.js';
import type { JobSpec, JobType, RetryPolicy } from './job.js';
import { jsonProblem } from './json.js';
import type { PatchJobBody } from './schema.js';
import { parseDuration, parseTime, quote } from './time.js';
import { normalizeWebhookHeaders } from './webhook-headers.js';
import { normalizeWebhookUrl } from './webhook-url.js';
import { canonicalTimezone } from './zone.js';

/** What normalizing needs from outside the body: the leader's clock and the node's configured limits. */
export interface NormalizeOptions {
  /** The leader's time for this request; a recurrente without `timestamp` starts then. */
  readonly nowMs: number;
  /** MAX_PAYLOAD_BYTES: the most bytes `JSON.stringify(payload)` may take. */
  readonly maxPayloadBytes: number;
  /** WEBHOOK_DENY_PRIVATE. */
  readonly denyPrivateWebhooks: boolean;
  /** The id a create without one gets (the API draws a UUID: the domain draws no randomness itself). */
  readonly generatedId?: string;
}

/**
 * The shortest interval accepted: one second, the resolution of cron too. A shorter one would turn a single job
 * into more fires per second than the cluster's whole benchmark budget.
 */
export const intervalMinMs = 1000;

export const retryDefaults: RetryPolicy = {
  maxAttempts: 3,
  backoffMs: 1000,
  maxBackoffMs: 60_000,
  maxDurationMs: null,
  nonRetryableStatuses: [],
};

const base64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A job with every SPEC §2 default; a recurrente starts at `nowMs` unless `timestamp` says otherwise. */
export function defaultSpec(id: string, type: JobType, nowMs: number): JobSpec {
  return {
    id, type, startAtMs: nowMs, cronExpression: null, intervalMs: null, timezone: 'UTC', lastDateAtMs: null,
    webhookUrl: null, method: 'POST', headers: {}, payload: null, delivery: 'at_least_once', retry: retryDefaults,
    timeoutMs: 10_000, catchup: 'fire_once', catchupWindowMs: 86_400_000, overlap: 'allow', maxRuns: null,
    jitterMs: 0, pauseAfterFailures: 0, signingSecret: null, paused: false, tags: {},
  };
}

type SpecFields = { -readonly [K in keyof JobSpec]?: JobSpec[K] };

/**
 * The normalized value of each field present in `input` (already shape-checked by the schema), keyed by its
 * JobSpec name. Each field is checked on its own here; rules that join fields are checked on the whole job after.
 */
export function normalizeFields(input: PatchJobBody, options: NormalizeOptions): SpecFields {
  const out: SpecFields = {};
  if (input.timestamp !== undefined) out.startAtMs = parseTime(input.timestamp, 'timestamp');
  if (input.cron_expression !== undefined) {
    out.cronExpression = input.cron_expression === null ? null : input.cron_expression.trim().split(/\s+/).join(' ');
  }
  if (input.interval !== undefined) out.intervalMs = input.interval === null ? null : interval(input.interval);
  if (input.timezone !== undefined) out.timezone = timezone(input.timezone);
  if (input.last_date !== undefined) {
    out.lastDateAtMs = input.last_date === null ? null : parseTime(input.last_date, 'last_date');
  }
  if (input.webhook_url !== undefined) {
    out.webhookUrl = input.webhook_url === null ? null : normalizeWebhookUrl(input.webhook_url, options.denyPrivateWebhooks);
  }
  if (input.method !== undefined) out.method = input.method;
  if (input.headers !== undefined) out.headers = normalizeWebhookHeaders(input.headers);
  if (input.payload !== undefined) out.payload = payload(input.payload, options.maxPayloadBytes);
  if (input.delivery !== undefined) out.delivery = input.delivery;
  if (input.retry !== undefined) out.retry = retry(input.retry);
  if (input.timeout_ms !== undefined) out.timeoutMs = input.timeout_ms;
  if (input.catchup !== undefined) out.catchup = input.catchup;
  if (input.catchup_window_ms !== undefined) out.catchupWindowMs = input.catchup_window_ms;
  if (input.overlap !== undefined) out.overlap = input.overlap;
  if (input.max_runs !== undefined) out.maxRuns = input.max_runs;
  if (input.jitter_ms !== undefined) out.jitterMs = input.jitter_ms;
  if (input.pause_after_failures !== undefined) out.pauseAfterFailures = input.pause_after_failures;
  if (input.signing_secret !== undefined) {
    out.signingSecret = input.signing_secret === null ? null : signingSecret(input.signing_secret);
  }
  if (input.paused !== undefined) out.paused = input.paused;
  if (input.tags !== undefined) out.tags = tags(input.tags);
  return out;
}

function interval(value: string | number): number {
  const intervalMs = parseDuration(value, 'interval');
  if (intervalMs < intervalMinMs) {
    throw new JobInputError('invalid_interval', 'interval', `interval must be at least 1s; got ${intervalMs} ms`);
  }
  return intervalMs;
}

function timezone(name: string): string {
  const canonical = canonicalTimezone(name);
  if (canonical === null) {
    throw new JobInputError('invalid_timezone', 'timezone', `timezone ${quote(name)} is not an IANA time zone`);
  }
  return canonical;
}

/** Refuses text MessagePack would not store as written (see jsonProblem), naming the field. */
function checkText(value: unknown, field: string): void {
  const problem = jsonProblem(value);
  if (problem !== null) throw new JobInputError('invalid_request', field, `${field}: ${problem}`);
}

function tags(input: Readonly<Record<string, string>>): Record<string, string> {
  if (Object.hasOwn(input, '__proto__')) {
    throw new JobInputError('invalid_request', 'tags.__proto__', 'the tag key __proto__ is not supported');
  }
  checkText(input, 'tags');
  return { ...input };
}

/** The payload, copied through its JSON text so the stored value is plain JSON whose size is the size checked. */
function payload(value: unknown, maxPayloadBytes: number): unknown {
  const problem = jsonProblem(value);
  if (problem !== null) throw new JobInputError('invalid_request', 'payload', `payload: ${problem}`);
  const text = JSON.stringify(value);
  const payloadBytes = Buffer.byteLength(text, 'utf8');
  if (payloadBytes > maxPayloadBytes) {
    throw new JobInputError(
      'payload_too_large', 'payload', `payload is ${payloadBytes} bytes as JSON; the limit is ${maxPayloadBytes}`,
    );
  }
  return JSON.parse(text) as unknown;
}

function retry(input: NonNullable<PatchJobBody['retry']>): RetryPolicy {
  const statuses = input.non_retryable_statuses ?? retryDefaults.nonRetryableStatuses;
  return {
    maxAttempts: input.max_attempts ?? retryDefaults.maxAttempts,
    backoffMs: input.backoff_ms ?? retryDefaults.backoffMs,
    maxBackoffMs: input.max_backoff_ms ?? retryDefaults.maxBackoffMs,
    maxDurationMs: input.max_duration_ms === undefined ? retryDefaults.maxDurationMs : input.max_duration_ms,
    nonRetryableStatuses: [...statuses].sort((a, b) => a - b),
  };
}

/** One secret or several, comma-separated (SPEC §4 key rotation); a `whsec_` one must be base64 after the prefix. */
function signingSecret(value: string): string {
  checkText(value, 'signing_secret');
  for (const secret of value.split(',')) {
    const key = secret.trim();
    if (key === '' || (key.startsWith('whsec_') && !base64.test(key.slice('whsec_'.length)))) {
      throw new JobInputError(
        'invalid_request', 'signing_secret',
        "signing_secret must be secrets separated by commas; a 'whsec_' one is base64 after the prefix",
      );
    }
  }
  return value;
}
