// The leader-only scheduler: keeps near fires in the slot heap, and at each fire's time claims it, sends it and records it.
//
// Life cycle. A node's scheduler is idle until its node leads. Then it waits for the leader's no-op of its term
// to apply (the barrier: everything an earlier leader committed is in the store), rebuilds the heap from the
// next-fire index, resumes the fires an earlier leader left in flight, and runs. It stops at once, aborting every
// attempt and retry, when the node stops leading or its lease can no longer vouch that no other leader exists.
//
// Safety comes from the store, not from this process's memory: a fire is claimed by a `start` event that applies
// only while it is the job's next run, and a new leader reads what is in flight from the store. Every scheduled
// fire is claimed before it is sent (`claimLeadMs` ahead of its time): a pause, PATCH or trigger that commits
// between a send and its claim would otherwise see a schedule that does not know of the fire, and send it again
// under another id or with the same one (a black-box run found both). A leader lost after the claim leaves the
// fire in flight: the next one sends an at_least_once fire again with the same fire id, and records an
// at_most_once one `unknown` (SPEC §4).
import type { FireEvent } from '../jobs/commands.js';
import { fireIdOf } from '../jobs/fire.js';
import type { Job } from '../jobs/job.js';
import type { DueFire, InFlightFire } from '../store/queries.js';
import { planCatchup } from './catchup.js';
import type { Clock, Timer } from './clock.js';
import { FireTasks, type FireTaskPorts, jitterOf, type StartOptions } from './fire-tasks.js';
import { OutcomeBatcher } from './outcomes.js';
import { type QueuedFire, SlotHeap } from './slot-heap.js';

/** The store reads the scheduler needs; JobQueries and the StateMachine fit. */
export interface SchedulerStore {
  getJob(tenant: string, id: string): Job | undefined;
  dueFirePage(fromMs: number, toMs: number, afterKey: string | null, limit: number):
  Promise<{ fires: DueFire[]; lastKey: string | null }>;
  inFlightFires(): Promise<{ tenant: string; id: string; fire: InFlightFire }[]>;
  firingPaused(): boolean;
}

/** Raft, as the scheduler sees it. */
export interface LeaderLease {
  /** True only while this node leads and no other node can have been elected. */
  hasLease(): boolean;
  /**
   * Resolves once this leader's own no-op applied here (a ReadIndex barrier) and so did every entry this node had
   * proposed before the call (the claims of a run of the scheduler that stopped); rejects when it cannot lead.
   */
  barrier(): Promise<void>;
}

export interface SchedulerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface SchedulerOptions {
  readonly nodeId: string;
  readonly slotGapMs: number;
  /** Fires due within this window of now are held in the heap; the rest stay in the index. */
  readonly nearWindowMs: number;
  readonly catchupGraceMs: number;
  readonly catchupFiresMax: number;
  readonly catchupScanFiresMax: number;
  /**
   * Fires being claimed or sent at once (those waiting out a retry's backoff do not count): scheduled fires come
   * due late rather than pass it, manual and resumed ones wait their turn.
   */
  readonly inFlightMax: number;
  readonly eventsPerEntryMax: number;
  /** Least time between two `fire_events` entries (see OutcomeBatcher). */
  readonly eventsEntrySpacingMs: number;
  /** An at_most_once fire is claimed this long before its time, so the claim's commit does not make it late. */
  readonly claimLeadMs: number;
  /** How often the lease is checked while nothing else wakes the scheduler. */
  readonly leaseCheckMs: number;
  readonly indexPageFires: number;
}

export interface SchedulerPorts extends Omit<FireTaskPorts, 'submit' | 'onSettled' | 'inFlightMax'> {
  readonly store: SchedulerStore;
  readonly lease: LeaderLease;
  readonly clock: Clock;
  readonly proposeEvents: (events: readonly FireEvent[]) => Promise<readonly boolean[]>;
  readonly logger: SchedulerLogger;
}

export interface SchedulerStatus {
  readonly slots: number;
  readonly jobsQueued: number;
  readonly nextFireAtMs: number | null;
  /** Fires being claimed, sent, retried or buffered here. */
  readonly inFlight: number;
  /** Manual and resumed fires waiting for room under `inFlightMax`. */
  readonly waiting: number;
}

type State = 'idle' | 'starting' | 'running' | 'draining';

interface WaitingFire {
  readonly tenant: string;
  readonly id: string;
  readonly atMs: number;
  readonly options: StartOptions;
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #ports: SchedulerPorts;
  readonly #heap: SlotHeap;
  readonly #batcher: OutcomeBatcher;
  readonly #tasks: FireTasks;
  #state: State = 'idle';
  /** Bumped at every start and stop; an async step that sees another epoch belongs to a past term and ends. */
  #epoch = 0;
  #wakeTimer: Timer | null = null;
  #wakeAtMs = Infinity;
  /** Fires up to here (exclusive) are in the heap; later ones are read from the index when they come near. */
  #loadedUntilMs = 0;
  /** Jobs changed while a load runs: the change, not the load's older read, decides their entry. */
  #changedDuringLoad: Set<string> | null = null;
  #queuedDuringStart: { readonly tenant: string; readonly id: string; readonly atMs: number }[] = [];
  /** Scheduled fires passed (handed to the batcher as a `pass`) whose job has not moved past them yet. */
  readonly #held = new Set<string>();
  /**
   * Manual fires and fires an earlier leader left in flight, waiting in order for a place under `inFlightMax`:
   * like scheduled fires, they must not open sockets without bound (a burst of triggers to a hung receiver would
   * otherwise run the leader out of file descriptors). Each is in the store already, so a next leader resumes it.
   */
  #waiting: WaitingFire[] = [];
  #waitingHead = 0;
  /**
   * Fires this process claimed and stopped before sending (a lease blip, a lost role): only the process that
   * claims an at_most_once fire ever sends it, so the next run here may send these rather than record `unknown`.
   * Consumed by the next resume, which is the only one that can know them unsent.
   */
  readonly #unsentClaims = new Set<string>();
  /**
   * Fires whose first attempt this process may have sent before it stopped, unrecorded: the next run here resumes
   * them as the job's run, rather than withdraw them as unsent when their job changed since (two runs, two fire ids).
   */
  readonly #sentClaims = new Set<string>();

  constructor(options: SchedulerOptions, ports: SchedulerPorts) {
    this.#options = options;
    this.#ports = ports;
    this.#heap = new SlotHeap(options.slotGapMs);
    this.#batcher = new OutcomeBatcher(ports.proposeEvents, {
      eventsPerEntryMax: options.eventsPerEntryMax, spacingMs: options.eventsEntrySpacingMs, clock: ports.clock,
    }, (err) => this.#restart(err));
    this.#tasks = new FireTasks({
      ...ports, submit: (event) => this.#batcher.submit(event), onSettled: (tenant, id) => this.#onTaskSettled(tenant, id),
      inFlightMax: options.inFlightMax,
    });
  }

  isRunning(): boolean {
    return this.#state === 'running';
  }

  status(): SchedulerStatus {
    const next = this.#heap.peek();
    return {
      slots: this.#heap.slotCount, jobsQueued: this.#heap.size, nextFireAtMs: next?.sendAtMs ?? null,
      inFlight: this.#tasks.size, waiting: this.#waiting.length - this.#waitingHead,
    };
  }

  /** This node became leader (or is leader in a new term): rebuild from the store once the barrier passes. */
  lead(): void {
    this.stop('leading anew');
    const epoch = this.#epoch;
    this.#state = 'starting';
    void this.#start(epoch);
  }

  /**
   * Before a leader hands over (SIGTERM, `/cluster/transfer-leadership`): no new fire starts; attempts in progress end and every event is
   * committed, so the next leader resumes exactly where this one stopped and sends nothing twice. Bounded by
   * `timeoutMs`; fires waiting out a retry backoff are left to the next leader.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#state === 'starting') this.stop('stopped before it ran, for a hand-over');
    if (this.#state !== 'running') return;
    this.#state = 'draining';
    const deadline = this.#ports.clock.nowMs() + timeoutMs;
    while (this.#state === 'draining' && this.#ports.clock.nowMs() < deadline
      && (this.#tasks.activeCount() > 0 || !this.#batcher.idle)) {
      await new Promise<void>((resolve) => this.#ports.clock.setTimer(resolve, 10));
    }
    this.stop('drained for a hand-over');
  }

  /** This node stopped leading, or is closing: stop firing now. */
  stop(reason: string): void {
    if (this.#state !== 'idle') this.#ports.logger.info({ reason }, 'scheduler stopped');
    this.#epoch++;
    this.#state = 'idle';
    this.#wakeTimer?.cancel();
    this.#wakeTimer = null;
    this.#wakeAtMs = Infinity;
    const { unsent, sent } = this.#tasks.abortAll();
    for (const key of unsent) this.#unsentClaims.add(key);
    for (const key of sent) this.#sentClaims.add(key);
    this.#batcher.reset();
    this.#heap.clear();
    this.#held.clear();
    this.#changedDuringLoad = null;
    this.#queuedDuringStart = [];
    this.#waiting = [];
    this.#waitingHead = 0;
    this.#loadedUntilMs = 0;
  }

  #startManual(tenant: string, id: string, atMs: number): void {
    this.#waiting.push({ tenant, id, atMs, options: { manual: true, claimed: false, attemptsDone: 0 } });
  }

  /** Starts waiting fires while there is room under `inFlightMax`, oldest first; the job is read as it is now. */
  #startWaiting(): void {
    while (this.#waitingHead < this.#waiting.length && this.#tasks.activeCount() < this.#options.inFlightMax) {
      const fire = this.#waiting[this.#waitingHead++] as WaitingFire;
      const job = this.#ports.store.getJob(fire.tenant, fire.id);
      if (job !== undefined) this.#tasks.start(job, fire.atMs, fire.options);
    }
    if (this.#waitingHead === this.#waiting.length) {
      this.#waiting = [];
      this.#waitingHead = 0;
    } else if (this.#waitingHead > 1024 && this.#waitingHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitingHead);
      this.#waitingHead = 0;
    }
  }

  /** The store applied a batch: move the changed jobs' entries, and start manual fires at once. */
  noteChanges(changes: {
    /** Each changed job as applied (null: deleted), so the hot path decodes nothing again. */
    readonly jobs: ReadonlyMap<string, { readonly tenant: string; readonly id: string; readonly job: Job | null }>;
    readonly queued: readonly { readonly tenant: string; readonly id: string; readonly atMs: number }[];
    /** The new firing switch, when this batch changed it. */
    readonly firingPaused?: boolean | null;
  }): void {
    if (this.#state === 'idle') return;
    // Before the batch's writes are answered: an attempt handed over for later is sent on the job as it is now.
    if (changes.firingPaused !== undefined && changes.firingPaused !== null) this.#tasks.withdrawSends(null);
    for (const [key, { tenant, id, job }] of changes.jobs) {
      this.#tasks.withdrawSends(key);
      this.#changedDuringLoad?.add(key);
      // While starting too: a job the load read before this change must not keep its older entry.
      this.#consider(key, tenant, id, job);
    }
    if (this.#state === 'starting') {
      // Queued after the start read the fires in flight, perhaps: started once running (a second start is a no-op).
      this.#queuedDuringStart.push(...changes.queued);
      return;
    }
    if (this.#state !== 'running') return;
    for (const { tenant, id, atMs } of changes.queued) this.#startManual(tenant, id, atMs);
    this.#startWaiting();
    this.#arm(0);
  }

  async #start(epoch: number): Promise<void> {
    try {
      await this.#ports.lease.barrier();
      if (epoch !== this.#epoch) return;
      const nowMs = this.#ports.clock.nowMs();
      this.#changedDuringLoad = new Set();
      await this.#load(0, this.#windowEndMs(nowMs), epoch);
      if (epoch !== this.#epoch) return;
      this.#changedDuringLoad = null;
      const resumed = await this.#resumeInFlight(epoch);
      if (epoch !== this.#epoch) return;
      this.#state = 'running';
      for (const { tenant, id, atMs } of this.#queuedDuringStart.splice(0)) this.#startManual(tenant, id, atMs);
      this.#startWaiting();
      this.#ports.logger.info({ jobs_queued: this.#heap.size, resumed }, 'scheduler running');
      this.#arm(0);
    } catch (err) {
      if (epoch !== this.#epoch) return;
      // Still leader, as far as anyone told us (a role change would have stopped this epoch): try again.
      this.#ports.logger.warn({ err }, 'scheduler could not start; trying again');
      this.#ports.clock.setTimer(() => {
        if (epoch === this.#epoch) void this.#start(epoch);
      }, this.#options.leaseCheckMs * 20);
    }
  }

  /**
   * Fires an earlier leader left in flight: queued ones start, at_least_once ones are sent again, at_most_once ones
   * are `unknown`, unless this very process claimed them and stopped before sending them.
   */
  async #resumeInFlight(epoch: number): Promise<number> {
    const fires = await this.#ports.store.inFlightFires();
    if (epoch !== this.#epoch) return 0;
    const unsent = new Set(this.#unsentClaims);
    this.#unsentClaims.clear();
    const sent = new Set(this.#sentClaims);
    this.#sentClaims.clear();
    for (const { tenant, id, fire } of fires) {
      const job = this.#ports.store.getJob(tenant, id);
      if (job === undefined) continue;
      if (fire.claimed && job.delivery === 'at_most_once' && !(fire.attempts === 0 && unsent.has(`${tenant}/${id}@${fire.scheduledAtMs}`))) {
        void this.#batcher.submit({
          kind: 'finish', tenant, jobId: id, scheduledAtMs: fire.scheduledAtMs, result: 'unknown', attempts: fire.attempts,
          error: 'claimed by a leader that was lost before it recorded the result; not sent again (at_most_once)',
        });
      } else {
        this.#waiting.push({ tenant, id, atMs: fire.scheduledAtMs, options: {
          manual: fire.manual, claimed: fire.claimed, attemptsDone: fire.attempts,
          knownSent: fire.attempts === 0 && sent.has(`${tenant}/${id}@${fire.scheduledAtMs}`),
        } });
      }
    }
    return fires.length;
  }

  /** Reads the index in [fromMs, toMs) into the heap, page by page; `toMs` is the new loaded bound at once. */
  async #load(fromMs: number, toMs: number, epoch: number): Promise<void> {
    this.#loadedUntilMs = toMs;
    let afterKey: string | null = null;
    for (;;) {
      const page = await this.#ports.store.dueFirePage(fromMs, toMs, afterKey, this.#options.indexPageFires);
      if (epoch !== this.#epoch) return;
      for (const fire of page.fires) {
        const key = `${fire.tenant}/${fire.id}`;
        if (this.#changedDuringLoad?.has(key) === true) continue;
        this.#consider(key, fire.tenant, fire.id);
      }
      if (page.fires.length < this.#options.indexPageFires) return;
      afterKey = page.lastKey;
    }
  }

  #windowEndMs(nowMs: number): number {
    const { slotGapMs, nearWindowMs } = this.#options;
    return (Math.floor((nowMs + nearWindowMs) / slotGapMs) + 1) * slotGapMs;
  }

  /** Loads the next slots once the loaded window's end comes within half a window of now. */
  #maybeLoad(nowMs: number): void {
    if (this.#changedDuringLoad !== null || this.#loadedUntilMs - nowMs > this.#options.nearWindowMs / 2) return;
    const epoch = this.#epoch;
    this.#changedDuringLoad = new Set();
    this.#load(this.#loadedUntilMs, this.#windowEndMs(nowMs), epoch).then(() => {
      if (epoch !== this.#epoch) return;
      this.#changedDuringLoad = null;
      this.#arm(0);
    }, (err: unknown) => this.#restart(err));
  }

  /**
   * Puts the job's next run in the heap if it is near and nobody handles it yet; removes a stale entry. `known`
   * is the job as just applied (null: deleted); without it the store is read.
   */
  #consider(key: string, tenant: string, id: string, known?: Job | null): void {
    const job = known === undefined ? this.#ports.store.getJob(tenant, id) : known ?? undefined;
    this.#heap.delete(key);
    if (job === undefined) {
      this.#tasks.abortJob(tenant, id);
      return;
    }
    if (job.status === 'paused' || job.nextRunAtMs === null) return;
    const fireKey = `${key}@${job.nextRunAtMs}`;
    if (this.#held.has(fireKey) || this.#tasks.has(tenant, id, job.nextRunAtMs)) return;
    if (job.nextRunAtMs >= this.#loadedUntilMs) return;
    const sendAtMs = job.nextRunAtMs + jitterOf(fireIdOf(id, job.nextRunAtMs), job.jitterMs);
    const dueAtMs = sendAtMs - this.#options.claimLeadMs;
    this.#heap.set({ key, tenant, id, scheduledAtMs: job.nextRunAtMs, sendAtMs, dueAtMs });
    if (dueAtMs < this.#wakeAtMs) this.#arm(dueAtMs - this.#ports.clock.nowMs());
  }

  /** Wakes the loop in `delayMs` (or sooner if already armed sooner). */
  #arm(delayMs: number): void {
    if (this.#state !== 'running') return;
    const atMs = this.#ports.clock.nowMs() + Math.max(0, delayMs);
    if (this.#wakeTimer !== null && this.#wakeAtMs <= atMs) return;
    this.#wakeTimer?.cancel();
    this.#wakeAtMs = atMs;
    const epoch = this.#epoch;
    this.#wakeTimer = this.#ports.clock.setTimer(() => {
      if (epoch !== this.#epoch) return;
      this.#wakeTimer = null;
      this.#wakeAtMs = Infinity;
      this.#run();
    }, Math.max(0, delayMs));
  }

  /** One pass of the loop: check the lease, send what is due, load what comes near, sleep until the next thing. */
  #run(): void {
    if (this.#state !== 'running') return;
    if (!this.#ports.lease.hasLease()) {
      this.#ports.logger.warn({}, 'leader lease lost; firing stops until leadership is confirmed again');
      this.lead();
      return;
    }
    const nowMs = this.#ports.clock.nowMs();
    this.#startWaiting();
    if (!this.#ports.store.firingPaused()) {
      for (let top = this.#heap.peek(); top !== undefined && top.dueAtMs <= nowMs; top = this.#heap.peek()) {
        if (this.#tasks.activeCount() >= this.#options.inFlightMax) break;
        this.#heap.pop();
        this.#dispatch(top, nowMs);
      }
    }
    this.#maybeLoad(nowMs);
    const next = this.#heap.peek();
    const nextDueMs = next === undefined || this.#ports.store.firingPaused() ? Infinity : next.dueAtMs - nowMs;
    this.#arm(Math.min(nextDueMs, this.#options.leaseCheckMs));
  }

  /** A scheduled fire is due: pass what catch-up and overlap say to pass, and send the rest. */
  #dispatch(entry: QueuedFire, nowMs: number): void {
    const job = this.#ports.store.getJob(entry.tenant, entry.id);
    if (job === undefined || job.status === 'paused' || job.nextRunAtMs !== entry.scheduledAtMs) return;
    if (this.#tasks.has(entry.tenant, entry.id, entry.scheduledAtMs)) return;
    const plan = planCatchup(job, entry.scheduledAtMs, nowMs, {
      graceMs: this.#options.catchupGraceMs, catchupFiresMax: this.#options.catchupFiresMax,
      scanFiresMax: this.#options.catchupScanFiresMax,
    });
    for (const pass of plan.passes) {
      this.#hold(entry.key, pass.fromMs, {
        kind: 'pass', tenant: job.tenant, jobId: job.id, scheduledAtMs: pass.fromMs, untilMs: pass.untilMs,
        count: pass.count, result: pass.result,
      });
    }
    if (plan.fireAtMs === null) return;
    const busy = job.type === 'recurrente' && this.#tasks.countOf(job.tenant, job.id) > 0;
    if (busy && job.overlap === 'skip') {
      const untilMs = plan.fireAtMs + 1;
      this.#hold(entry.key, plan.fireAtMs, {
        kind: 'pass', tenant: job.tenant, jobId: job.id, scheduledAtMs: plan.fireAtMs,
        untilMs, count: 1, result: 'skipped',
      });
      return;
    }
    if (busy && job.overlap === 'buffer_one') {
      if (this.#tasks.hasBuffered(job.tenant, job.id)) {
        // One fire waits already: this one is skipped, so the job's fires stay near their times.
        this.#hold(entry.key, plan.fireAtMs, {
          kind: 'pass', tenant: job.tenant, jobId: job.id, scheduledAtMs: plan.fireAtMs,
          untilMs: plan.fireAtMs + 1, count: 1, result: 'skipped',
        });
      } else {
        this.#tasks.start(job, plan.fireAtMs, { manual: false, claimed: false, attemptsDone: 0, buffered: true });
      }
      return;
    }
    this.#tasks.start(job, plan.fireAtMs, { manual: false, claimed: false, attemptsDone: 0 });
  }

  /** Submits a pass; its fire stays held (never queued again) until the pass applied and moved the job on. */
  #hold(key: string, atMs: number, event: FireEvent): void {
    const fireKey = `${key}@${atMs}`;
    this.#held.add(fireKey);
    const epoch = this.#epoch;
    void this.#batcher.submit(event).then(() => {
      if (epoch !== this.#epoch) return;
      this.#held.delete(fireKey);
      const [tenant, id] = key.split('/') as [string, string];
      this.#consider(key, tenant, id);
    });
  }

  /**
   * A fire of the job ended: its buffered fire (overlap `buffer_one`) may go now. Not while draining: no new
   * fire starts then, and the next leader finds the buffered one claimed and sends it.
   */
  #onTaskSettled(tenant: string, id: string): void {
    if (this.#state === 'running') this.#tasks.releaseBuffered(tenant, id);
    this.#arm(0);
  }

  /** A proposal of events failed: this leader may be deposed. Start over from the store, as a new leader would. */
  #restart(err: unknown): void {
    if (this.#state === 'idle') return;
    this.#ports.logger.warn({ err }, 'recording fire events failed; rebuilding the scheduler from the store');
    this.lead();
  }
}
