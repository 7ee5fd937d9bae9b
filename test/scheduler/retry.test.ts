// retryDecision and backoffMs: equal-jitter backoff, Retry-After, every limit of SPEC §4, 410 Gone and at_most_once.
import { AssertionError } from 'node:assert';
import fc from 'fast-check';
import t from 'tap';
import type { RetryPolicy } from '../../src/jobs/job.js';
import { backoffMs, type RetryInput, retryDecision } from '../../src/scheduler/retry.js';
import type { AttemptResult } from '../../src/scheduler/webhook-client.js';

const policy: RetryPolicy = {
  maxAttempts: 5, backoffMs: 1000, maxBackoffMs: 60_000, maxDurationMs: null, nonRetryableStatuses: [400, 404],
};
const startedAtMs = 1_780_000_000_000;

const ok: AttemptResult = { ok: true, httpStatus: 200, startedAtMs, durationMs: 12 };
function failed(extra: Partial<Extract<AttemptResult, { ok: false }>> = {}): AttemptResult {
  return {
    ok: false, httpStatus: 500, code: 'http_status', error: 'webhook answered HTTP 500', startedAtMs, durationMs: 12,
    sent: true, retryAfterMs: null, ...extra,
  };
}
function input(extra: Partial<RetryInput> = {}): RetryInput {
  return {
    policy, delivery: 'at_least_once', attempt: 1, result: failed(), firstAttemptAtMs: startedAtMs,
    nowMs: startedAtMs + 12, random: 0, ...extra,
  };
}

t.test('backoff doubles per attempt with equal jitter: attempt n waits in [b·2^(n-1)/2, b·2^(n-1))', async (t) => {
  t.equal(backoffMs(policy, 1, 0), 500, 'attempt 1, no jitter: half the base');
  t.equal(backoffMs(policy, 1, 0.5), 750);
  t.equal(backoffMs(policy, 1, 0.999), 999, 'just under the base');
  t.equal(backoffMs(policy, 2, 0), 1000);
  t.equal(backoffMs(policy, 2, 0.5), 1500);
  t.equal(backoffMs(policy, 3, 0), 2000);
  t.equal(backoffMs(policy, 4, 0.25), 5000);
});

t.test('backoff is capped at max_backoff_ms, jitter included', async (t) => {
  t.equal(backoffMs(policy, 7, 0), 30_000, '64 s capped to 60 s, then jittered down to half');
  t.equal(backoffMs(policy, 7, 0.5), 45_000);
  t.equal(backoffMs(policy, 100, 0.999_999), 59_999);
  t.equal(backoffMs({ ...policy, maxBackoffMs: 1000 }, 3, 0.5), 750);
});

t.test('backoff stays below d even when random is the largest double under 1', async (t) => {
  const justUnderOne = 1 - 2 ** -53;
  t.equal(backoffMs(policy, 1, justUnderOne), 999);
  t.equal(backoffMs(policy, 1000, justUnderOne), 59_999, 'a huge attempt number is capped, not NaN');
});

t.test('a base of 0 or 1 ms leaves no room for jitter and is returned as is', async (t) => {
  t.equal(backoffMs({ ...policy, backoffMs: 0 }, 1, 0.7), 0);
  t.equal(backoffMs({ ...policy, backoffMs: 0 }, 2000, 0.7), 0, '0 × 2^n stays 0');
  t.equal(backoffMs({ ...policy, backoffMs: 1 }, 1, 0.7), 1);
  t.equal(backoffMs({ ...policy, backoffMs: 1 }, 2, 0.7), 1, 'd = 2 gives 1, still in [d/2, d)');
});

t.test('property: the delay is an integer in [d/2, d), never above max_backoff_ms, non-decreasing in the attempt', async (t) => {
  const policies = fc.record({
    backoffMs: fc.integer({ min: 2, max: 86_400_000 }),
    extraMs: fc.integer({ min: 0, max: 86_400_000 }),
  }).map(({ backoffMs: b, extraMs }): RetryPolicy => ({ ...policy, backoffMs: b, maxBackoffMs: b + extraMs }));
  const randoms = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  fc.assert(fc.property(policies, fc.integer({ min: 1, max: 120 }), randoms, (p, attempt, random) => {
    const d = Math.min(p.maxBackoffMs, p.backoffMs * 2 ** (attempt - 1));
    const delay = backoffMs(p, attempt, random);
    const next = backoffMs(p, attempt + 1, random);
    return Number.isInteger(delay) && delay >= d / 2 && delay < d && delay <= p.maxBackoffMs && next >= delay;
  }), { numRuns: 2000 });
  t.pass('held on every generated case');
});

t.test('backoffMs asserts attempt >= 1 and random in [0, 1)', async (t) => {
  t.throws(() => backoffMs(policy, 0, 0), AssertionError);
  t.throws(() => backoffMs(policy, 1.5, 0), AssertionError);
  t.throws(() => backoffMs(policy, 1, 1), AssertionError);
  t.throws(() => backoffMs(policy, 1, -0.1), AssertionError);
  t.throws(() => backoffMs(policy, 1, NaN), AssertionError);
  t.throws(() => retryDecision(input({ attempt: 0 })), AssertionError);
  t.throws(() => retryDecision(input({ random: 1 })), AssertionError);
});

t.test('a successful attempt is not retried', async (t) => {
  t.strictSame(retryDecision(input({ result: ok })), { retry: false, reason: 'succeeded' });
});

t.test('a failed attempt is retried after the backoff', async (t) => {
  t.strictSame(retryDecision(input({ attempt: 1, random: 0.5 })), { retry: true, delayMs: 750 });
  t.strictSame(retryDecision(input({ attempt: 3, random: 0 })), { retry: true, delayMs: 2000 });
  for (const code of ['timeout', 'connection_refused', 'dns_failed', 'network'] as const) {
    const decision = retryDecision(input({ result: failed({ httpStatus: null, code }) }));
    t.strictSame(decision, { retry: true, delayMs: 500 }, code);
  }
});

t.test('no retry once max_attempts attempts were made', async (t) => {
  t.strictSame(retryDecision(input({ attempt: 4 })), { retry: true, delayMs: 4000 });
  t.strictSame(retryDecision(input({ attempt: 5 })), { retry: false, reason: 'max_attempts' });
  t.strictSame(retryDecision(input({ attempt: 1, policy: { ...policy, maxAttempts: 1 } })), { retry: false, reason: 'max_attempts' });
});

t.test('no retry would start later than max_duration_ms after the first attempt', async (t) => {
  const limited = { ...policy, maxDurationMs: 10_000 };
  const first = startedAtMs;
  // attempt 2, random 0: a 1000 ms delay.
  t.strictSame(retryDecision(input({ policy: limited, attempt: 2, firstAttemptAtMs: first, nowMs: first + 9000 })),
    { retry: true, delayMs: 1000 }, 'starts exactly at the limit');
  t.strictSame(retryDecision(input({ policy: limited, attempt: 2, firstAttemptAtMs: first, nowMs: first + 9001 })),
    { retry: false, reason: 'max_duration' }, 'would start 1 ms past the limit');
  t.strictSame(retryDecision(input({ attempt: 2, firstAttemptAtMs: first, nowMs: first + 86_400_000 })),
    { retry: true, delayMs: 1000 }, 'null max_duration_ms: no limit');
});

t.test('a status listed in non_retryable_statuses is not retried', async (t) => {
  t.strictSame(retryDecision(input({ result: failed({ httpStatus: 404 }) })), { retry: false, reason: 'non_retryable_status' });
  t.strictSame(retryDecision(input({ result: failed({ httpStatus: 400 }) })), { retry: false, reason: 'non_retryable_status' });
  t.strictSame(retryDecision(input({ result: failed({ httpStatus: 401 }) })), { retry: true, delayMs: 500 }, 'not listed');
});

t.test('410 Gone is never retried, with its own reason so the caller pauses the job', async (t) => {
  t.strictSame(retryDecision(input({ result: failed({ httpStatus: 410 }) })), { retry: false, reason: 'gone' });
  t.strictSame(retryDecision(input({ result: failed({ httpStatus: 410 }), attempt: 5 })), { retry: false, reason: 'gone' },
    'gone even on the last attempt');
});

t.test('a Retry-After on 429 or 503 is honoured within max_backoff_ms', async (t) => {
  for (const httpStatus of [429, 503]) {
    t.strictSame(retryDecision(input({ result: failed({ httpStatus, retryAfterMs: 2000 }) })), { retry: true, delayMs: 2000 });
    t.strictSame(retryDecision(input({ result: failed({ httpStatus, retryAfterMs: 3_600_000 }) })),
      { retry: true, delayMs: 60_000 }, 'capped');
    t.strictSame(retryDecision(input({ result: failed({ httpStatus, retryAfterMs: 0 }) })), { retry: true, delayMs: 0 });
    t.strictSame(retryDecision(input({ result: failed({ httpStatus, retryAfterMs: -5 }) })), { retry: true, delayMs: 0 },
      'never negative');
  }
  t.strictSame(retryDecision(input({ result: failed({ httpStatus: 429 }) })), { retry: true, delayMs: 500 },
    'no Retry-After: the backoff');
});

t.test('a Retry-After still counts against max_attempts and max_duration_ms', async (t) => {
  const result = failed({ httpStatus: 503, retryAfterMs: 5000 });
  t.strictSame(retryDecision(input({ result, attempt: 5 })), { retry: false, reason: 'max_attempts' });
  const limited = { ...policy, maxDurationMs: 4000 };
  t.strictSame(retryDecision(input({ policy: limited, result, nowMs: startedAtMs })), { retry: false, reason: 'max_duration' });
});

t.test('at_most_once retries only an attempt that provably never reached the receiver', async (t) => {
  const atMostOnce = { delivery: 'at_most_once' } as const;
  t.strictSame(retryDecision(input({ ...atMostOnce })), { retry: false, reason: 'at_most_once_sent' }, 'a 500 was sent');
  t.strictSame(retryDecision(input({ ...atMostOnce, result: failed({ httpStatus: null, code: 'timeout' }) })),
    { retry: false, reason: 'at_most_once_sent' }, 'a timeout may have been received');
  const refused = failed({ httpStatus: null, code: 'connection_refused', sent: false });
  t.strictSame(retryDecision(input({ ...atMostOnce, result: refused })), { retry: true, delayMs: 500 });
  t.strictSame(retryDecision(input({ ...atMostOnce, result: refused, attempt: 5 })), { retry: false, reason: 'max_attempts' },
    'the other limits still apply');
  t.strictSame(retryDecision(input({ ...atMostOnce, result: refused, policy: { ...policy, maxDurationMs: 100 } })),
    { retry: false, reason: 'max_duration' });
  t.strictSame(retryDecision(input({ ...atMostOnce, result: ok })), { retry: false, reason: 'succeeded' });
});
