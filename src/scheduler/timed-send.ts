// A webhook attempt handed over before its time and sent at it, which the scheduler can still withdraw until then.
//
// Why: the leader's event loop also runs Raft, the store's applies and the API, so a timer that comes due while it
// applies a batch fires a few milliseconds late. Handing the attempt over ahead of time to a loop that does nothing
// else (send-thread.ts) sends it on time. What the attempt depends on can change after the hand-over (a PATCH, a
// pause, a delete, the firing switch): the scheduler then withdraws it, and a withdrawal either wins, so the attempt
// was provably never sent, or loses to the send that already began. Exactly one of the two, decided at one point.
import type { Clock, Timer } from './clock.js';
import type { AttemptResult, WebhookAttempt } from './webhook-client.js';

/** A handed-over attempt that was not sent: withdrawn in time, or due after the lease it was handed over under. */
export type UnsentOutcome = { readonly unsent: 'withdrawn' | 'no_lease' };

export type TimedSendOutcome = AttemptResult | UnsentOutcome;

export function isUnsent(outcome: TimedSendOutcome): outcome is UnsentOutcome {
  return 'unsent' in outcome;
}

/** An attempt waiting for its time, or being sent. */
export interface TimedSend {
  /** Settles once sent and answered, or once it is certain it was not sent. Never rejects. */
  readonly outcome: Promise<TimedSendOutcome>;
  /** True when the attempt was still waiting: it will never be sent. False once its send began. */
  withdraw(): boolean;
  /** Withdraws it, or aborts its request if the send began (a lost lease, a deleted job). */
  abort(): void;
}

export interface TimedSender {
  /** Sends `attempt` at `atMs` (epoch ms; at once if past), unless withdrawn first or the lease ends before. */
  sendAt(attempt: Omit<WebhookAttempt, 'signal'>, atMs: number): TimedSend;
  close(): Promise<void>;
}

/**
 * The same contract on the caller's own event loop and clock: the deterministic simulation and unit tests use
 * it, and a node falls back to it if its send thread fails.
 */
export class InlineTimedSender implements TimedSender {
  readonly #clock: Clock;
  readonly #webhooks: { send(attempt: WebhookAttempt): Promise<AttemptResult> };
  readonly #hasLease: () => boolean;

  constructor(clock: Clock, webhooks: { send(attempt: WebhookAttempt): Promise<AttemptResult> }, hasLease: () => boolean) {
    this.#clock = clock;
    this.#webhooks = webhooks;
    this.#hasLease = hasLease;
  }

  sendAt(attempt: Omit<WebhookAttempt, 'signal'>, atMs: number): TimedSend {
    const abort = new AbortController();
    let state: 'waiting' | 'taken' | 'withdrawn' = 'waiting';
    let timer: Timer | null = null;
    let settle: (outcome: TimedSendOutcome) => void = () => undefined;
    const outcome = new Promise<TimedSendOutcome>((resolve) => { settle = resolve; });
    const take = (): void => {
      timer = null;
      if (state !== 'waiting') return;
      // Node's timers can fire a millisecond before the clock reaches their time: never send early, wait the rest.
      const earlyMs = atMs - this.#clock.nowMs();
      if (earlyMs > 0) {
        timer = this.#clock.setTimer(take, earlyMs);
        return;
      }
      state = 'taken';
      if (!this.#hasLease()) {
        settle({ unsent: 'no_lease' });
        return;
      }
      void this.#webhooks.send({ ...attempt, signal: abort.signal }).then(settle);
    };
    const withdraw = (): boolean => {
      if (state === 'taken') return false;
      if (state === 'waiting') {
        state = 'withdrawn';
        timer?.cancel();
        settle({ unsent: 'withdrawn' });
      }
      return true;
    };
    take();
    return {
      outcome, withdraw,
      abort: () => {
        if (!withdraw()) abort.abort();
      },
    };
  }

  async close(): Promise<void> {
    // Nothing of its own: the webhook client is closed by whoever made it.
  }
}
