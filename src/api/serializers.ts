// Jobs to their API shape (SPEC §2 field names); the one place where instants become RFC 3339 text.
import type { Job } from '../jobs/job.js';
import type { JobResponse } from '../jobs/schema.js';
import type { DeadLetter, ExecutionRecord } from '../store/queries.js';
import type { DoneStateCheck } from './state-checks.js';

/** An epoch-ms instant as RFC 3339 UTC with milliseconds: `2026-11-26T10:00:00.000Z`. */
export function toRfc3339(atMs: number): string {
  return new Date(atMs).toISOString();
}

function toRfc3339OrNull(atMs: number | null): string | null {
  return atMs === null ? null : toRfc3339(atMs);
}

/** The job object of `GET /jobs/{id}`: every create field under its SPEC name, and its state. Never the secret. */
export function jobToResponse(job: Job): JobResponse {
  return {
    id: job.id,
    type: job.type,
    timestamp: toRfc3339(job.startAtMs),
    cron_expression: job.cronExpression,
    interval: job.intervalMs,
    timezone: job.timezone,
    last_date: toRfc3339OrNull(job.lastDateAtMs),
    webhook_url: job.webhookUrl,
    method: job.method,
    headers: { ...job.headers },
    payload: job.payload,
    delivery: job.delivery,
    retry: {
      max_attempts: job.retry.maxAttempts,
      backoff_ms: job.retry.backoffMs,
      max_backoff_ms: job.retry.maxBackoffMs,
      max_duration_ms: job.retry.maxDurationMs,
      non_retryable_statuses: [...job.retry.nonRetryableStatuses],
    },
    timeout_ms: job.timeoutMs,
    catchup: job.catchup,
    catchup_window_ms: job.catchupWindowMs,
    overlap: job.overlap,
    max_runs: job.maxRuns,
    jitter_ms: job.jitterMs,
    pause_after_failures: job.pauseAfterFailures,
    has_signing_secret: job.signingSecret !== null,
    paused: job.paused,
    tags: { ...job.tags },
    next_run_at: toRfc3339OrNull(job.nextRunAtMs),
    status: job.status,
    paused_reason: job.pausedReason,
    created_at: toRfc3339(job.createdAtMs),
    updated_at: toRfc3339(job.updatedAtMs),
    run_count: job.runCount,
    consecutive_failures: job.consecutiveFailures,
  };
}

/** One execution record of `GET /jobs/{id}/executions` (SPEC §2 field names). */
export function executionToResponse(record: ExecutionRecord): Record<string, unknown> {
  return {
    fire_id: record.fireId,
    scheduled_at: toRfc3339(record.scheduledAtMs),
    attempt: record.attempt,
    started_at: toRfc3339OrNull(record.startedAtMs),
    finished_at: toRfc3339OrNull(record.finishedAtMs),
    node_id: record.nodeId,
    status: record.status,
    http_status: record.httpStatus,
    duration_ms: record.durationMs,
    error: record.error,
  };
}

/** One dead letter of `GET /dead-letters`. */
export function deadLetterToResponse(letter: DeadLetter): Record<string, unknown> {
  return {
    fire_id: letter.fireId,
    job_id: letter.jobId,
    scheduled_at: toRfc3339(letter.scheduledAtMs),
    attempts: letter.attempts,
    error: letter.error,
    dead_at: toRfc3339(letter.deadAtMs),
    node_id: letter.nodeId,
  };
}

/** A state check as `POST /cluster/check-state` and /debug/cluster show it. */
export function stateCheckToResponse(check: DoneStateCheck): Record<string, unknown> {
  return {
    index: check.index, status: check.status, odd: check.odd, checked_at: toRfc3339(check.checkedAtMs),
    duration_ms: check.durationMs,
    members: check.members.map((m) => (m.state === 'ok'
      ? { id: m.id, state: m.state, digest: m.digest, records: m.records }
      : { id: m.id, state: m.state, error: m.error })),
  };
}
