// The leader's send thread, as the scheduler sees it: a TimedSender whose attempts wait for their time, and are sent,
// on a worker thread of their own, so a batch applying here does not make a fire late (see timed-send.ts).
import { strict as assert } from 'node:assert';
import { Worker } from 'node:worker_threads';
import { systemClock } from './clock.js';
import {
  type FromSendThread, messageBatchMs, type SendThreadConfig, slotWaiting, slotWithdrawn, slotTaken, type ToSendThread,
} from './send-protocol.js';
import { InlineTimedSender, type TimedSend, type TimedSendOutcome, type TimedSender } from './timed-send.js';
import type { WebhookAttempt, WebhookClient } from './webhook-client.js';

export interface SendThreadOptions {
  readonly denyPrivate: boolean;
  readonly connectionsPerOrigin: number;
  /** Attempts handed over and not yet answered, at most; beyond them an attempt is sent from this loop. */
  readonly slots: number;
  /** Until when the lease holds, in process.hrtime.bigint() ns; null when there is none (RaftService.leaseDeadlineNs). */
  readonly leaseDeadlineNs: () => bigint | null;
  readonly userAgent: () => string;
  /** Sends from this loop when no slot is free or the thread failed. */
  readonly fallback: WebhookClient;
  readonly hasLease: () => boolean;
  readonly onError: (err: unknown) => void;
  /** The thread's scheduling priority once it started (see send-worker.ts): nice, or null and why not. */
  readonly onPriority?: (nice: number | null, error: string | undefined) => void;
}

/**
 * The thread holds little (attempts in flight and their bodies), so a small young generation is enough: with V8's
 * default one the thread added about 60 MB to a node's RSS, 20 MB with this (measured at start, idle).
 */
const workerLimits = { maxYoungGenerationSizeMb: 2 };
/** How long a closing thread has to end on its own: aborted sends and closed sockets take milliseconds. */
const closeGraceMs = 2000;

interface Waiter {
  readonly resolve: (outcome: TimedSendOutcome) => void;
  /** How it ended, once it did; the thread's answer after a withdrawal here only frees the slot. */
  final: TimedSendOutcome | null;
}

function settle(waiter: Waiter, outcome: TimedSendOutcome): void {
  if (waiter.final !== null) return;
  waiter.final = outcome;
  waiter.resolve(outcome);
}

export class SendThread implements TimedSender {
  readonly #options: SendThreadOptions;
  readonly #states: Int32Array;
  readonly #worker: Worker;
  readonly #free: number[] = [];
  readonly #waiters = new Map<number, Waiter>();
  readonly #inline: InlineTimedSender;
  #failed = false;
  #outbox: ToSendThread[] = [];
  #flushTimer: NodeJS.Timeout | null = null;
  /** Resolves with the thread's exit code: 0 when it ended on its own, 1 when it was terminated. */
  readonly #exited: Promise<number>;
  #closed: Promise<void> | null = null;
  #closedBy: 'ended' | 'terminated' | null = null;

  constructor(options: SendThreadOptions) {
    assert.ok(Number.isInteger(options.slots) && options.slots > 0, 'send thread: slots > 0');
    this.#options = options;
    const states = new SharedArrayBuffer(options.slots * Int32Array.BYTES_PER_ELEMENT);
    this.#states = new Int32Array(states);
    for (let slot = options.slots - 1; slot >= 0; slot--) this.#free.push(slot);
    this.#inline = new InlineTimedSender(systemClock, options.fallback, options.hasLease);
    const config: SendThreadConfig = { states, denyPrivate: options.denyPrivate, connectionsPerOrigin: options.connectionsPerOrigin };
    // From the build, dist/scheduler/send-worker.js. From the sources (the tests), the .ts through tsx's loader,
    // registered in the worker first: Node 20 does not apply `--import tsx` to a worker's own entry file.
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSource ? './send-worker.ts' : './send-worker.js', import.meta.url);
    this.#worker = fromSource
      ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`,
        { eval: true, workerData: config, resourceLimits: workerLimits })
      : new Worker(entry, { workerData: config, resourceLimits: workerLimits });
    this.#worker.on('message', (message: FromSendThread) => {
      if ('answers' in message) for (const answer of message.answers) this.#answered(answer);
      else options.onPriority?.(message.nice, message.error);
    });
    this.#worker.on('error', (err) => this.#fail(err));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', (code) => resolve(code)));
    // After close() has begun this is a no-op: #failed is set.
    this.#worker.on('exit', (code) => this.#fail(new Error(`send thread exited with code ${code}`)));
  }

  sendAt(attempt: Omit<WebhookAttempt, 'signal'>, atMs: number): TimedSend {
    const leaseDeadlineNs = this.#options.leaseDeadlineNs();
    if (leaseDeadlineNs === null) {
      const outcome: TimedSendOutcome = { unsent: 'no_lease' };
      return { outcome: Promise.resolve(outcome), withdraw: () => true, abort: () => undefined };
    }
    const slot = this.#failed ? undefined : this.#free.pop();
    if (slot === undefined) return this.#inline.sendAt(attempt, atMs);
    Atomics.store(this.#states, slot, slotWaiting);
    let resolve: (outcome: TimedSendOutcome) => void = () => undefined;
    const outcome = new Promise<TimedSendOutcome>((r) => { resolve = r; });
    const waiter: Waiter = { resolve, final: null };
    this.#waiters.set(slot, waiter);
    this.#post({ type: 'send', slot, atMs, leaseDeadlineNs, attempt: { ...attempt, userAgent: this.#options.userAgent() } });
    const withdraw = (): boolean => {
      if (waiter.final !== null) return 'unsent' in waiter.final;
      // The one decision: the thread takes the slot at the attempt's time with the same exchange.
      if (Atomics.compareExchange(this.#states, slot, slotWaiting, slotWithdrawn) === slotTaken) return false;
      settle(waiter, { unsent: 'withdrawn' });
      this.#post({ type: 'withdrawn', slot });
      return true;
    };
    return {
      outcome, withdraw,
      abort: () => {
        if (!withdraw() && waiter.final === null) this.#post({ type: 'abort', slot });
      },
    };
  }

  /**
   * Asks the thread to stop and waits for it to end on its own (see the `close` message); terminated only if it has
   * not ended within `closeGraceMs`. What it held is settled once it is gone, when no slot can change any more.
   */
  async close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    const wasFailed = this.#failed;
    this.#failed = true;
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#closed = (async () => {
      if (!wasFailed) this.#worker.postMessage([{ type: 'close' }] satisfies ToSendThread[]);
      let terminated = false;
      const grace = setTimeout(() => {
        terminated = true;
        void this.#worker.terminate();
      }, wasFailed ? 0 : closeGraceMs);
      const code = await this.#exited;
      clearTimeout(grace);
      this.#settleAll();
      this.#closedBy = terminated || code !== 0 ? 'terminated' : 'ended';
    })();
    return this.#closed;
  }

  /** How close() ended the thread: on its own, or terminated; null before. */
  closedBy(): 'ended' | 'terminated' | null {
    return this.#closedBy;
  }

  /** Queues a message; the batch goes within `messageBatchMs`, or now when an attempt is due sooner than that. */
  #post(message: ToSendThread): void {
    if (this.#failed) return;
    this.#outbox.push(message);
    if (message.type === 'send' && message.atMs - Date.now() <= messageBatchMs * 2) this.#flush();
    else this.#flushTimer ??= setTimeout(() => this.#flush(), messageBatchMs);
  }

  #flush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    if (this.#outbox.length === 0 || this.#failed) return;
    this.#worker.postMessage(this.#outbox);
    this.#outbox = [];
  }

  #answered({ slot, outcome }: { slot: number; outcome: TimedSendOutcome }): void {
    const waiter = this.#waiters.get(slot);
    if (waiter === undefined) return;
    this.#waiters.delete(slot);
    this.#free.push(slot);
    settle(waiter, outcome);
  }

  /** The thread is gone: what it held is settled here, and later attempts are sent from this loop. */
  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#options.onError(err);
    this.#settleAll();
  }

  #settleAll(): void {
    for (const [slot, waiter] of this.#waiters) {
      if (waiter.final !== null) continue;
      // Still waiting: provably never sent. Taken: it may have gone out, and its answer is lost.
      const taken = Atomics.compareExchange(this.#states, slot, slotWaiting, slotWithdrawn) === slotTaken;
      settle(waiter, {
        ok: false, httpStatus: null, code: 'network', sent: taken, retryAfterMs: null, startedAtMs: Date.now(), durationMs: 0,
        error: taken ? 'the send thread stopped during the attempt' : 'the send thread stopped before the attempt',
      });
    }
    this.#waiters.clear();
  }
}
