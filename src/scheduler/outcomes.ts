// Batches the scheduler's fire events into `fire_events` entries: one proposal in flight, the rest gathered for the next.
//
// Group commit for outcomes: while one entry commits, every event reported meanwhile waits and goes in the next
// one, so a thousand fires a second cost tens of entries, not thousands, and events apply in the order reported.
// Entries also go out at most one per `spacingMs`: each costs every node a round of messages, disk writes and
// wake-ups whatever its size, and that, not the events, was most of the CPU a node spent on firing (measured).
// Nothing waits on an outcome but the record (an at_most_once claim goes `claimLeadMs` ahead of its send).
import type { FireEvent } from '../jobs/commands.js';
import type { Clock, Timer } from './clock.js';

/** Proposes one batch and resolves, once applied, with whether each event applied. */
export type ProposeEvents = (events: readonly FireEvent[]) => Promise<readonly boolean[]>;

interface Waiting {
  readonly event: FireEvent;
  readonly resolve: (applied: boolean) => void;
}

export class OutcomeBatcher {
  readonly #propose: ProposeEvents;
  readonly #eventsPerEntryMax: number;
  readonly #onError: (err: unknown) => void;
  readonly #clock: Clock;
  readonly #spacingMs: number;
  #waiting: Waiting[] = [];
  #proposing = false;
  #generation = 0;
  #lastProposedAtMs = -Infinity;
  #spacingTimer: Timer | null = null;

  constructor(
    propose: ProposeEvents, options: { eventsPerEntryMax: number; spacingMs: number; clock: Clock }, onError: (err: unknown) => void,
  ) {
    this.#propose = propose;
    this.#eventsPerEntryMax = options.eventsPerEntryMax;
    this.#spacingMs = options.spacingMs;
    this.#clock = options.clock;
    this.#onError = onError;
  }

  /** Events waiting for the next entry. */
  get pending(): number {
    return this.#waiting.length;
  }

  /** Nothing waiting and nothing being proposed. */
  get idle(): boolean {
    return !this.#proposing && this.#waiting.length === 0;
  }

  /** Queues the event; resolves once its entry applied: true when the event changed something. */
  submit(event: FireEvent): Promise<boolean> {
    return new Promise((resolve) => {
      this.#waiting.push({ event, resolve });
      this.#flush();
    });
  }

  /** Drops everything waiting (their promises resolve false): the scheduler stopped leading. */
  reset(): void {
    this.#generation++;
    const dropped = this.#waiting;
    this.#waiting = [];
    this.#proposing = false;
    this.#spacingTimer?.cancel();
    this.#spacingTimer = null;
    for (const w of dropped) w.resolve(false);
  }

  #flush(): void {
    if (this.#proposing || this.#spacingTimer !== null || this.#waiting.length === 0) return;
    const waitMs = this.#lastProposedAtMs + this.#spacingMs - this.#clock.nowMs();
    if (waitMs > 0 && this.#waiting.length < this.#eventsPerEntryMax) {
      this.#spacingTimer = this.#clock.setTimer(() => {
        this.#spacingTimer = null;
        this.#flush();
      }, waitMs);
      return;
    }
    this.#lastProposedAtMs = this.#clock.nowMs();
    const batch = this.#waiting.splice(0, this.#eventsPerEntryMax);
    const generation = this.#generation;
    this.#proposing = true;
    this.#propose(batch.map((w) => w.event)).then((applied) => {
      batch.forEach((w, i) => w.resolve(applied[i] === true));
    }, (err: unknown) => {
      for (const w of batch) w.resolve(false);
      if (generation === this.#generation) this.#onError(err);
    }).finally(() => {
      if (generation !== this.#generation) return;
      this.#proposing = false;
      this.#flush();
    });
  }
}
