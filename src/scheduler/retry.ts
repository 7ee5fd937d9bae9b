// Decides, purely, whether a failed attempt is retried and after how long (SPEC §4: backoff, Retry-After, limits, 410, delivery).
import { strict as assert } from 'node:assert';
import type { Delivery, RetryPolicy } from '../jobs/job.js';
import type { AttemptResult } from './webhook-client.js';

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number }
  | {
    readonly retry: false;
    readonly reason: 'succeeded' | 'max_attempts' | 'max_duration' | 'non_retryable_status' | 'gone' | 'at_most_once_sent';
  };

export interface RetryInput {
  readonly policy: RetryPolicy;
  readonly delivery: Delivery;
  /** The attempt just made, 1-based. */
  readonly attempt: number;
  readonly result: AttemptResult;
  readonly firstAttemptAtMs: number;
  readonly nowMs: number;
  /** Uniform in [0, 1): injected (a seeded PRNG, or derived from the fire id) so the decision is reproducible. */
  readonly random: number;
}

/**
 * Retry or not, and when. Checked in this order: success; 410 Gone (the caller pauses the job); a status the
 * policy lists as non-retryable; at_most_once after a request that may have reached the receiver (only a request
 * provably never sent may go again); max_attempts; then the delay (Retry-After on 429/503 within max_backoff_ms,
 * else backoff), and max_duration: no retry starts later than that after the first attempt.
 */
export function retryDecision(input: RetryInput): RetryDecision {
  const { policy, attempt, result } = input;
  assertAttemptAndRandom(attempt, input.random);
  if (result.ok) return { retry: false, reason: 'succeeded' };
  if (result.httpStatus === 410) return { retry: false, reason: 'gone' };
  if (result.httpStatus !== null && policy.nonRetryableStatuses.includes(result.httpStatus)) {
    return { retry: false, reason: 'non_retryable_status' };
  }
  if (input.delivery === 'at_most_once' && result.sent) return { retry: false, reason: 'at_most_once_sent' };
  if (attempt >= policy.maxAttempts) return { retry: false, reason: 'max_attempts' };
  // The client sets retryAfterMs only on a 429 or 503 that carried a valid Retry-After.
  const delayMs = result.retryAfterMs !== null
    ? Math.max(0, Math.min(result.retryAfterMs, policy.maxBackoffMs))
    : backoffMs(policy, attempt, input.random);
  if (policy.maxDurationMs !== null && input.nowMs + delayMs - input.firstAttemptAtMs > policy.maxDurationMs) {
    return { retry: false, reason: 'max_duration' };
  }
  return { retry: true, delayMs };
}

/**
 * The wait after attempt `attempt` failed: exponential backoff with equal jitter. With d = min(maxBackoffMs,
 * backoffMs × 2^(attempt−1)) the delay is an integer in [d/2, d): half of it fixed, so gaps still grow with each
 * attempt, half random, so the retries of many jobs failing together spread out. A d below 2 has no room for
 * jitter and is returned as is.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  assertAttemptAndRandom(attempt, random);
  // 2^1023 is the largest finite power of two: beyond it, 0 × Infinity would be NaN.
  const cappedMs = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.min(attempt - 1, 1023));
  if (cappedMs < 2) return cappedMs;
  // Float rounding can carry random × d/2 up to d/2 itself when random is just below 1: keep the bound open.
  return Math.min(Math.ceil(cappedMs / 2 + random * (cappedMs / 2)), cappedMs - 1);
}

function assertAttemptAndRandom(attempt: number, random: number): void {
  assert(Number.isInteger(attempt) && attempt >= 1, `attempt must be an integer >= 1 (got ${attempt})`);
  assert(random >= 0 && random < 1, `random must be in [0, 1) (got ${random})`);
}
