// What the leader's event loop and its send thread (send-worker.ts) tell each other, and the one word per attempt
// they share: whoever changes it from WAITING first decides whether the attempt is sent.
import type { TimedSendOutcome } from './timed-send.js';
import type { WebhookAttempt } from './webhook-client.js';

/** Slot states in the shared Int32Array. */
export const slotWaiting = 0;
/** The send thread took it at its time: it is being sent (or refused for the lease); a withdrawal fails. */
export const slotTaken = 1;
/** The scheduler withdrew it first: it is never sent. */
export const slotWithdrawn = 2;

export interface SendThreadConfig {
  readonly states: SharedArrayBuffer;
  readonly denyPrivate: boolean;
  readonly connectionsPerOrigin: number;
}

export type ToSendThread =
  /** Send at `atMs` (epoch ms) if still WAITING and before `leaseDeadlineNs` (process.hrtime.bigint()). */
  | { readonly type: 'send'; readonly slot: number; readonly atMs: number; readonly leaseDeadlineNs: bigint;
    readonly attempt: Omit<WebhookAttempt, 'signal'> }
  /** Withdrawn (the slot says so already): stop waiting and answer. */
  | { readonly type: 'withdrawn'; readonly slot: number }
  /** Abort the request if being sent. */
  | { readonly type: 'abort'; readonly slot: number }
  /**
   * Stop: take nothing more, abort what is being sent, close every socket and let the thread end on its own. Not
   * `worker.terminate()`: a thread terminated while Node's HTTP parser calls into it aborts the whole process
   * (`FATAL ERROR: v8::ToLocalChecked Empty MaybeLocal` under llhttp, seen in CI).
   */
  | { readonly type: 'close' };

/** The last word on a slot: after it, the slot may be used again. */
export interface SlotAnswer {
  readonly slot: number;
  readonly outcome: TimedSendOutcome;
}

export type FromSendThread =
  | { readonly answers: readonly SlotAnswer[] }
  /** Once, at start: the scheduling priority (nice) the thread got, or why it kept the process's. */
  | { readonly nice: number | null; readonly error?: string };

/**
 * Messages each way go in batches, at most this long after the first of a batch: each message wakes the other
 * thread, and a wake-up cost the sender about 60 µs of CPU on the 2-core VM measured (per fire, twice). Attempts are
 * handed over `fireHandOverLeadMs` ahead, so a few milliseconds more change nothing; one due sooner goes at once.
 */
export const messageBatchMs = 5;

/** The nice value the send thread asks for: above the process's other threads, which it waits on for CPU otherwise. */
export const sendThreadNice = -10;
