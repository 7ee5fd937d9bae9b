// What a webhook answer or a failed request means to an attempt: the error code, whether it was sent, and Retry-After.
import type { AttemptResult } from './webhook-client.js';
import { httpDateMsOf } from './http-date.js';

type HeaderValue = string | readonly string[] | undefined;

/**
 * A Retry-After value (RFC 9110 §10.2.3) as a delay in ms; null when absent, malformed, or asking no wait.
 * delay-seconds counts from now, and `0` means at once. An HTTP-date counts from the response's own `Date` when it
 * carries a valid one, as cache ages do (RFC 9111 §4.2.3): both come from the receiver's clock, so a receiver whose
 * clock is off from this node's still gets the wait it asked for; else from `nowMs`. A date not after that gives
 * null, so the job's normal backoff applies rather than a retry at once: an HTTP-date has one-second resolution and
 * cannot ask for less than a second, such a date more often means a clock off or a stale (cached) answer than
 * "come back now", and waiting a little longer than asked is always allowed.
 */
export function retryAfterMsOf(value: HeaderValue, nowMs: number, date?: HeaderValue): number | null {
  const text = firstOf(value);
  if (text === undefined) return null;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const atMs = httpDateMsOf(text, nowMs);
  if (atMs === null) return null;
  const dateText = firstOf(date);
  const fromMs = (dateText === undefined ? null : httpDateMsOf(dateText, nowMs)) ?? nowMs;
  return atMs > fromMs ? atMs - fromMs : null;
}

function firstOf(value: HeaderValue): string | undefined {
  return (typeof value === 'string' ? value : value?.[0])?.trim();
}

export type Failure = Pick<Extract<AttemptResult, { ok: false }>, 'code' | 'error' | 'sent'>;

/**
 * Node and undici error codes with what they mean to an attempt: `sent: false` for failures before any byte of
 * the request could leave (resolve, refuse, connect), which at_most_once may retry.
 */
const failuresByCode: Readonly<Record<string, Omit<Failure, 'error'>>> = {
  ECONNREFUSED: { code: 'connection_refused', sent: false },
  ENOTFOUND: { code: 'dns_failed', sent: false },
  EAI_AGAIN: { code: 'dns_failed', sent: false },
  EAI_FAIL: { code: 'dns_failed', sent: false },
  ENODATA: { code: 'dns_failed', sent: false },
  private_address: { code: 'private_address', sent: false },
  UND_ERR_CONNECT_TIMEOUT: { code: 'timeout', sent: false },
  EHOSTUNREACH: { code: 'network', sent: false },
  ENETUNREACH: { code: 'network', sent: false },
  // undici's own deadlines (5 min by default) fire only when timeoutMs is longer still.
  UND_ERR_HEADERS_TIMEOUT: { code: 'timeout', sent: true },
  UND_ERR_BODY_TIMEOUT: { code: 'timeout', sent: true },
};

/** The first `code` found on an error, its causes, or (happy eyeballs' AggregateError) its first inner error. */
function errorCodeOf(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, cause, errors } = current as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') return code;
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : cause;
  }
  return undefined;
}

/** How a request ended, as far as our own deadline and the caller's signal go. */
export interface RequestEnd {
  timedOut: boolean;
  callerAborted: boolean;
  /** undici handed the request to a connection (onRequestStart): before that, not one byte of it was written. */
  isStarted: boolean;
  /** Every connection to the origin was taken when the attempt was made. */
  waitedForConnection: boolean;
  readonly timeoutMs: number;
  readonly origin: string;
}

/** What a thrown request error means to the attempt; a timeout or abort of ours wins over the error undici reports. */
export function failureOf(err: unknown, how: RequestEnd): Failure {
  const code = errorCodeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const known = code === undefined ? undefined : failuresByCode[code];
  if (known !== undefined) return { ...known, error: message };
  // undici writes a request only after onRequestStart: one stopped before it provably never left.
  if (how.timedOut && !how.isStarted) {
    return how.waitedForConnection
      ? { code: 'origin_busy', sent: false, error: `every connection to ${how.origin} stayed busy for ${how.timeoutMs} ms; not sent` }
      : { code: 'timeout', sent: false, error: `no connection to ${how.origin} within ${how.timeoutMs} ms; not sent` };
  }
  if (how.callerAborted && !how.isStarted) return { code: 'aborted', sent: false, error: 'attempt aborted before it was sent' };
  // The request may have been written before the deadline or the abort: count it as sent, to be safe.
  if (how.timedOut) return { code: 'timeout', sent: true, error: `no answer within ${how.timeoutMs} ms` };
  if (how.callerAborted) return { code: 'aborted', sent: true, error: 'attempt aborted' };
  return { code: 'network', sent: true, error: code === undefined ? message : `${code}: ${message}` };
}

