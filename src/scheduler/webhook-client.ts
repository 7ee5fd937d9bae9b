// Sends one webhook attempt (SPEC §4) over a keep-alive undici pool, under one deadline and WEBHOOK_DENY_PRIVATE.
// What it sends is webhook-request.ts's; what a failure means, webhook-failures.ts's.
import { strict as assert } from 'node:assert';
import { Agent, type Dispatcher } from 'undici';
import { isPrivateHost, type JobType, type WebhookMethod } from '../jobs/job.js';
import { privateDenyingLookup } from './private-lookup.js';
import { type Failure, failureOf, type RequestEnd, retryAfterMsOf } from './webhook-failures.js';
import { bodyOf, headersOf } from './webhook-request.js';

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
  /** The User-Agent to send, when not the client's own (a send thread is told the term at each hand-over). */
  readonly userAgent?: string;
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
    const headers = headersOf(attempt, body, timing.startedAtMs, attempt.userAgent ?? this.#userAgent());
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
