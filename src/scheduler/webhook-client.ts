// Sends one webhook attempt (SPEC §4) over a keep-alive undici pool: body, headers, Standard Webhooks signature, timeout, and WEBHOOK_DENY_PRIVATE.
import { strict as assert } from 'node:assert';
import { createHash, createHmac, randomFillSync } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent, type Dispatcher } from 'undici';
import { isPrivateAddress, isPrivateHost, type JobType, type WebhookMethod } from '../jobs/job.js';
import { httpDateMsOf } from './http-date.js';

export interface WebhookAttempt {
  /** An http(s) URL, already validated at create. */
  readonly url: string;
  readonly method: WebhookMethod;
  /** The job's headers; none of them is one a fire sets itself (the create refuses those). */
  readonly headers: Readonly<Record<string, string>>;
  readonly jobId: string;
  readonly type: JobType;
  /** `${jobId}@${scheduledAtMs}`: the same on every attempt and every node. */
  readonly fireId: string;
  readonly scheduledAtMs: number;
  /** 1 for the first. */
  readonly attempt: number;
  /** Any JSON value. */
  readonly payload: unknown;
  /** Covers connect, headers and body of this attempt. */
  readonly timeoutMs: number;
  /** The job's signing_secret, else WEBHOOK_SIGNING_SECRET; comma-separated for rotation; null = unsigned. */
  readonly signingSecret: string | null;
  /** Aborts the attempt (the leader lost its lease). */
  readonly signal?: AbortSignal;
}

/**
 * Why an attempt failed. `origin_busy`: every connection to the webhook's origin stayed taken by other attempts
 * until the deadline, so this request never went out (`sent: false`).
 */
export type AttemptErrorCode =
  | 'http_status' | 'timeout' | 'connection_refused' | 'dns_failed' | 'private_address' | 'aborted' | 'network'
  | 'origin_busy';

export type AttemptResult =
  | { readonly ok: true; readonly httpStatus: number; readonly startedAtMs: number; readonly durationMs: number }
  | {
    readonly ok: false;
    readonly httpStatus: number | null;
    readonly code: AttemptErrorCode;
    readonly error: string;
    readonly startedAtMs: number;
    readonly durationMs: number;
    /**
     * false only when the request provably never reached the receiver (DNS failure, refused connection,
     * private address refused, no connection made or free before the deadline or the abort). at_most_once
     * retries only such attempts.
     */
    readonly sent: boolean;
    /** 429/503 with a usable Retry-After (seconds, or an HTTP date still ahead): the asked delay in ms; else null. */
    readonly retryAfterMs: number | null;
  };

export interface WebhookClientOptions {
  /** WEBHOOK_DENY_PRIVATE. */
  readonly denyPrivate: boolean;
  /**
   * Connections to one origin at once (keep-alive). An attempt beyond them waits for a free one; its deadline and
   * `startedAtMs` then run from when it got one, and it fails `origin_busy` (not sent) if none came in `timeoutMs`.
   */
  readonly connectionsPerOrigin: number;
  /** Epoch ms (a Clock): stamps fired_at, webhook-timestamp and durations. */
  readonly now: () => number;
  /** Asked at every attempt, so it can name the sending node and its current term (a receiver can audit who fired). */
  readonly userAgent?: () => string;
}

/** A response body is read up to this much and thrown away, so its connection goes back to the pool; a longer one closes it. */
const responseBodyBytesMax = 64 * 1024;
const defaultUserAgent = (): string => 'scheduled-db';

/** A webhook host that is, or resolves to, a private, loopback or link-local address while WEBHOOK_DENY_PRIVATE is on. */
export class PrivateAddressError extends Error {
  readonly code = 'private_address';
  readonly hostname: string;
  readonly address: string;

  constructor(hostname: string, address: string) {
    super(`webhook host ${hostname} is private, loopback or link-local (${address})`);
    this.name = 'PrivateAddressError';
    this.hostname = hostname;
    this.address = address;
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * net.connect's `lookup` hook that refuses a name when any of its addresses is private, so a name that passed the
 * create-time check cannot be pointed (or rebound) at an internal host between create and fire. It resolves every
 * address whatever it is asked, and answers in the shape asked: one address, or all of them (`{all: true}`, which
 * net uses for happy eyeballs). IP literals never reach a lookup hook; `send` checks those itself.
 */
export function privateDenyingLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err !== null) {
      callback(err, '');
      return;
    }
    const denied = addresses.find((a) => isPrivateAddress(a.address));
    const first = addresses[0];
    if (denied !== undefined) {
      callback(new PrivateAddressError(hostname, denied.address), '');
    } else if (options.all === true) {
      callback(null, addresses);
    } else if (first === undefined) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
    } else {
      callback(null, first.address, first.family);
    }
  });
}

/**
 * The Standard Webhooks headers for one attempt: `webhook-signature` holds one `v1,<base64 HMAC-SHA256>` of
 * `<id>.<timestamp>.<body>` per comma-separated secret, so receivers verify with either key during a rotation.
 * A `whsec_<base64>` secret is its decoded bytes, any other its UTF-8 bytes. No non-empty secret: no headers.
 */
export function signatureHeaders(
  fireId: string, timestampSeconds: number, body: string, secrets: string,
): Record<string, string> {
  const keys = secrets.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (keys.length === 0) return {};
  const signed = `${fireId}.${timestampSeconds}.${body}`;
  const signatures = keys.map((secret) => {
    const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
    return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
  });
  return {
    'webhook-id': fireId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * A W3C traceparent whose trace id is derived from the fire id, so every attempt of a fire (on any node) joins one
 * trace, while each attempt gets its own span.
 */
function traceparentOf(fireId: string): string {
  const traceId = createHash('sha256').update(fireId).digest('hex').slice(0, 32);
  return `00-${traceId}-${spanId()}-01`;
}

/** Span ids come from one pool of random bytes: a randomBytes call per attempt cost tens of µs under load (measured). */
const spanIdPool = Buffer.alloc(8 * 512);
let spanIdAt = spanIdPool.length;

function spanId(): string {
  if (spanIdAt === spanIdPool.length) {
    randomFillSync(spanIdPool);
    spanIdAt = 0;
  }
  spanIdAt += 8;
  return spanIdPool.toString('hex', spanIdAt - 8, spanIdAt);
}

/** The SPEC §4 body, keys in the SPEC's order. */
function bodyOf(attempt: WebhookAttempt, firedAtMs: number): string {
  return JSON.stringify({
    job_id: attempt.jobId,
    type: attempt.type,
    fire_id: attempt.fireId,
    scheduled_at: new Date(attempt.scheduledAtMs).toISOString(),
    fired_at: new Date(firedAtMs).toISOString(),
    attempt: attempt.attempt,
    // JSON.stringify drops an undefined member; the body always carries payload.
    payload: attempt.payload === undefined ? null : attempt.payload,
  });
}

/** Content type, then the job's headers, then the fire's own (which win: names are lower-cased so they replace). */
function headersOf(attempt: WebhookAttempt, body: string, firedAtMs: number, userAgent: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(attempt.headers)) headers[name.toLowerCase()] = value;
  Object.assign(headers, {
    'x-job-id': attempt.jobId,
    'x-fire-id': attempt.fireId,
    'x-attempt': String(attempt.attempt),
    'x-scheduled-at': new Date(attempt.scheduledAtMs).toISOString(),
    traceparent: traceparentOf(attempt.fireId),
    'user-agent': userAgent,
  });
  if (attempt.signingSecret !== null) {
    Object.assign(headers, signatureHeaders(attempt.fireId, Math.floor(firedAtMs / 1000), body, attempt.signingSecret));
  }
  return headers;
}

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

type Failure = Pick<Extract<AttemptResult, { ok: false }>, 'code' | 'error' | 'sent'>;

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
interface RequestEnd {
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
function failureOf(err: unknown, how: RequestEnd): Failure {
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

interface Answer {
  readonly status: number;
  readonly retryAfter: string | string[] | undefined;
  readonly date: string | string[] | undefined;
}

/** One keep-alive undici pool for every webhook; `send` makes one attempt and never rejects. */
export class WebhookClient {
  readonly #agent: Agent;
  readonly #denyPrivate: boolean;
  readonly #now: () => number;
  readonly #userAgent: () => string;
  readonly #connectionsPerOrigin: number;
  /** Requests undici holds per origin (dispatched, not yet ended or failed); an origin leaves at zero. */
  readonly #requestsByOrigin = new Map<string, number>();

  constructor(options: WebhookClientOptions) {
    assert(Number.isInteger(options.connectionsPerOrigin) && options.connectionsPerOrigin >= 1, 'connectionsPerOrigin >= 1');
    this.#connectionsPerOrigin = options.connectionsPerOrigin;
    this.#denyPrivate = options.denyPrivate;
    this.#now = options.now;
    this.#userAgent = options.userAgent ?? defaultUserAgent;
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin,
      // Names are checked where they are resolved, at connect, so what was checked is what is connected to.
      ...(options.denyPrivate ? { connect: { lookup: privateDenyingLookup } } : {}),
    });
  }

  async send(attempt: WebhookAttempt): Promise<AttemptResult> {
    // Moved to when a connection came free, for an attempt that waited for one (see #request).
    const timing = { startedAtMs: this.#now() };
    const fail = (failure: Failure, httpStatus: number | null = null, retryAfterMs: number | null = null): AttemptResult => ({
      ok: false, httpStatus, ...failure, startedAtMs: timing.startedAtMs, durationMs: this.#elapsedMs(timing.startedAtMs), retryAfterMs,
    });
    if (attempt.signal?.aborted === true) {
      return fail({ code: 'aborted', sent: false, error: 'attempt aborted before it started' });
    }
    let url: URL;
    try {
      url = new URL(attempt.url);
    } catch (err) {
      // ERR_INVALID_URL: a URL that passed create cannot be malformed, but send never rejects.
      return fail({ code: 'network', sent: false, error: err instanceof Error ? err.message : String(err) });
    }
    if (this.#denyPrivate && isPrivateHost(url.hostname)) {
      return fail({ code: 'private_address', sent: false, error: `webhook host ${url.hostname} is private, loopback or link-local` });
    }
    const body = bodyOf(attempt, timing.startedAtMs);
    const headers = headersOf(attempt, body, timing.startedAtMs, this.#userAgent());
    const answer = await this.#request(url, attempt, body, headers, timing);
    if ('failure' in answer) return fail(answer.failure);
    const { status, retryAfter, date } = answer;
    if (status >= 200 && status < 300) {
      return { ok: true, httpStatus: status, startedAtMs: timing.startedAtMs, durationMs: this.#elapsedMs(timing.startedAtMs) };
    }
    const retryAfterMs = status === 429 || status === 503 ? retryAfterMsOf(retryAfter, this.#now(), date) : null;
    return fail({ code: 'http_status', sent: true, error: `webhook answered HTTP ${status}` }, status, retryAfterMs);
  }

  /** Closes the pool once in-flight attempts end (abort them first for a quick stop). */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  /**
   * Makes the request under one deadline (connect, headers and body) and the caller's signal, through undici's
   * dispatch with a handler of our own: request()'s response stream, promise chain and AbortSignal per attempt
   * cost about half of a webhook's CPU (measured: about 100 µs a send, 55 µs this way).
   *
   * When every connection to the origin is taken, undici holds the request until one comes free. That wait is not
   * the receiver's doing, so it is no part of the attempt: the deadline first bounds the wait (`origin_busy`, not
   * sent), then starts again, whole, when the request goes out, and `timing.startedAtMs` moves there. Measured from
   * the dispatch, as before, a healthy receiver's fire queued behind hanging ones was recorded `timeout` though
   * never sent, or succeeded seconds late with the wait hidden in its duration. (The body's `fired_at` stays the
   * time the attempt was made.) limits.webhookConnectionsPerOrigin makes this wait rare.
   */
  #request(
    url: URL, attempt: WebhookAttempt, body: string, headers: Record<string, string>, timing: { startedAtMs: number },
  ): Promise<Answer | { failure: Failure }> {
    return new Promise((resolve) => {
      const { origin } = url;
      const how: RequestEnd = {
        timedOut: false, callerAborted: false, isStarted: false, waitedForConnection: this.#hold(origin),
        timeoutMs: attempt.timeoutMs, origin,
      };
      // undici is done with the request (ended, failed or aborted), so its connection is free or closed.
      let isReleased = false;
      const release = (): void => { if (!isReleased) this.#release(origin); isReleased = true; };
      let controller: Dispatcher.DispatchController | null = null;
      let response: Answer | null = null;
      let bodyBytes = 0;
      let settled = false;
      const settle = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        attempt.signal?.removeEventListener('abort', onCallerAbort);
        // Once the status is in, the answer stands: a body cut by the deadline, the limit or a reset changes nothing.
        resolve(response ?? { failure: failureOf(err, how) });
      };
      // Before the request starts there is nothing to abort yet: it is answered now and aborted when it starts.
      const stop = (reason: Error): void => {
        if (controller !== null && !controller.aborted) controller.abort(reason);
        settle(reason);
      };
      const onDeadline = (): void => {
        how.timedOut = true;
        stop(new Error(`no answer within ${attempt.timeoutMs} ms`));
      };
      let timer = setTimeout(onDeadline, attempt.timeoutMs);
      const onCallerAbort = (): void => {
        how.callerAborted = true;
        stop(new Error('attempt aborted'));
      };
      attempt.signal?.addEventListener('abort', onCallerAbort, { once: true });
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (c) => {
          controller = c;
          how.isStarted = true;
          if (settled) {
            c.abort(new Error('attempt already answered'));
          } else if (how.waitedForConnection) {
            timing.startedAtMs = this.#now();
            clearTimeout(timer);
            timer = setTimeout(onDeadline, attempt.timeoutMs);
          }
        },
        onResponseStart: (_c, statusCode, responseHeaders) => {
          if (statusCode < 200) return; // 1xx: the final answer follows
          response = { status: statusCode, retryAfter: responseHeaders['retry-after'], date: responseHeaders.date };
        },
        onResponseData: (_c, chunk) => {
          // The body is read and thrown away so the connection goes back to the pool; a long one closes it.
          bodyBytes += chunk.length;
          if (bodyBytes > responseBodyBytesMax) stop(new Error('response body over the limit'));
        },
        onResponseEnd: () => { release(); settle(null); },
        onResponseError: (_c, err) => { release(); settle(err); },
      };
      try {
        this.#agent.dispatch({ origin, path: `${url.pathname}${url.search}`, method: attempt.method, headers, body }, handler);
      } catch (err) {
        // Options undici refuses at once (a header value it will not write): nothing left.
        release();
        settle(err);
      }
    });
  }

  /** Counts one more request to `origin`; true when it must wait, every connection to the origin being taken. */
  #hold(origin: string): boolean {
    const held = this.#requestsByOrigin.get(origin) ?? 0;
    this.#requestsByOrigin.set(origin, held + 1);
    return held >= this.#connectionsPerOrigin;
  }

  #release(origin: string): void {
    const left = (this.#requestsByOrigin.get(origin) ?? 1) - 1;
    if (left > 0) this.#requestsByOrigin.set(origin, left);
    else this.#requestsByOrigin.delete(origin);
  }

  #elapsedMs(startedAtMs: number): number {
    // An injected clock may step back; a duration never does.
    return Math.max(0, this.#now() - startedAtMs);
  }
}
