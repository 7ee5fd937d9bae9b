// The fires being attempted on this leader: claim, send, retry with backoff, and report each step as a fire event.
import { strict as assert } from 'node:assert';
import type { FireEvent } from '../jobs/commands.js';
import { fireIdOf, type FireResult, isScheduledTime } from '../jobs/fire.js';
import type { Job } from '../jobs/job.js';
import type { Clock, Timer } from './clock.js';
import { retryDecision } from './retry.js';
import { InlineTimedSender, isUnsent, type TimedSend, type TimedSender } from './timed-send.js';
import type { AttemptResult, WebhookAttempt } from './webhook-client.js';

export interface FireTaskPorts {
  readonly store: { getJob(tenant: string, id: string): Job | undefined; firingPaused(): boolean };
  readonly lease: { hasLease(): boolean };
  readonly clock: Clock;
  readonly webhooks: { send(attempt: WebhookAttempt): Promise<AttemptResult> };
  /** In [0, 1): the jitter of retry backoff. */
  readonly random: () => number;
  /** WEBHOOK_SIGNING_SECRET, for jobs without their own. */
  readonly signingSecret: string | null;
  /** Hands an event to the outcome batcher; resolves once applied, true when it changed something. */
  readonly submit: (event: FireEvent) => Promise<boolean>;
  /** A fire of the job ended here (finished, dropped or aborted). */
  readonly onSettled: (tenant: string, id: string) => void;
  /** Fires claimed or sent at once (`activeCount`): a retry out of its backoff waits for room under it. */
  readonly inFlightMax: number;
  /**
   * Sends attempts at their time (a send thread on a real node); by default `webhooks` on this loop, through `clock`.
   */
  readonly sender?: TimedSender;
  /**
   * How long before an attempt's time it is checked and handed to `sender` (default 0: at its time). Ahead, so a
   * busy loop here does not make it late; a change to its job meanwhile withdraws it and checks it again.
   */
  readonly handOverLeadMs?: number;
}

/** How often a retry that found no room under `inFlightMax` looks again. */
const roomPollMs = 50;
/** How soon an attempt the sender refused for its lease is checked again. */
const noLeaseRecheckMs = 10;

export interface StartOptions {
  /** A trigger or redrive rather than the job's schedule. */
  readonly manual: boolean;
  /** Already claimed in the store (an earlier leader's fire, resumed). */
  readonly claimed: boolean;
  /**
   * Resumed after this very process sent its first attempt and stopped before the result was recorded (a lease
   * blip): it is the job's run, so a change to the job since does not withdraw it as unsent.
   */
  readonly knownSent?: boolean;
  /** Attempts an earlier leader recorded; the next one continues the count. */
  readonly attemptsDone: number;
  /**
   * Held by `overlap: buffer_one`: claimed now, so the job's schedule moves past it and later fires that come due
   * meanwhile are skipped, but sent only once the job's running fire ends (`releaseBuffered`).
   */
  readonly buffered?: boolean;
}

interface Task {
  readonly tenant: string;
  readonly id: string;
  readonly atMs: number;
  readonly manual: boolean;
  attempt: number;
  firstAttemptAtMs: number | null;
  readonly abort: AbortController;
  timer: Timer | null;
  /** Waiting out a retry's backoff: a draining leader need not wait for it (the next leader resumes it). */
  inBackoff: boolean;
  /** A buffered fire (`overlap: buffer_one`) waiting for the job's running fire to end. */
  waiting: boolean;
  /** Its claim applied (or an earlier leader's did): it may be sent. */
  claimed: boolean;
  /** Its first attempt went out from this process before (StartOptions.knownSent). */
  readonly knownSent: boolean;
  readonly sendAtMs: number;
  /** The attempt handed to the sender and not yet settled, with the time it is due. */
  send: { readonly handle: TimedSend; readonly atMs: number } | null;
}

export class FireTasks {
  readonly #ports: FireTaskPorts;
  readonly #tasks = new Map<string, Task>();
  /** Scheduled fires whose `start` has not applied yet: the job's next run still names them. */
  readonly #claiming = new Set<string>();
  readonly #perJob = new Map<string, number>();
  /** The buffered fire of each job that has one (`overlap: buffer_one`), by job key. */
  readonly #buffered = new Map<string, Task>();
  /** Tasks waiting out a backoff or buffered (`inBackoff || waiting`), kept as they change so the count is O(1). */
  #resting = 0;
  readonly #sender: TimedSender;
  readonly #handOverLeadMs: number;
  /** Tasks with an attempt handed to the sender, by job key: a change to the job withdraws them. */
  readonly #sending = new Map<string, Set<Task>>();

  constructor(ports: FireTaskPorts) {
    this.#ports = ports;
    this.#sender = ports.sender ?? new InlineTimedSender(ports.clock, ports.webhooks, () => ports.lease.hasLease());
    this.#handOverLeadMs = ports.handOverLeadMs ?? 0;
    assert.ok(this.#handOverLeadMs >= 0, 'fire tasks: handOverLeadMs >= 0');
  }

  get size(): number {
    return this.#tasks.size;
  }

  has(tenant: string, id: string, atMs: number): boolean {
    const key = fireKey(tenant, id, atMs);
    return this.#tasks.has(key) || this.#claiming.has(key);
  }

  /**
   * Fires being claimed, sent or about to be sent; those waiting out a backoff or buffered do not count: they hold
   * no connection, and a receiver down for hours must not hold back every other job's fires by its retries.
   */
  activeCount(): number {
    assert.ok(this.#resting >= 0 && this.#resting <= this.#tasks.size, `fire tasks: ${this.#resting} resting of ${this.#tasks.size}`);
    return this.#tasks.size - this.#resting;
  }

  countOf(tenant: string, id: string): number {
    return this.#perJob.get(`${tenant}/${id}`) ?? 0;
  }

  /** True while the job has a buffered fire (`overlap: buffer_one`): a further one that comes due is skipped. */
  hasBuffered(tenant: string, id: string): boolean {
    return this.#buffered.has(`${tenant}/${id}`);
  }

  /** Sends the job's buffered fire once no other fire of the job is in flight; false when there is none to send. */
  releaseBuffered(tenant: string, id: string): boolean {
    const task = this.#buffered.get(`${tenant}/${id}`);
    if (task === undefined || this.countOf(tenant, id) > 1) return false;
    this.#buffered.delete(`${tenant}/${id}`);
    this.#setWaiting(task, false);
    if (task.claimed) this.#attemptAt(task, task.sendAtMs);
    return true;
  }

  /**
   * Starts a fire: claims it, then attempts it at its time. A scheduled fire is claimed through Raft before it is
   * sent (`claimLeadMs` ahead, so the claim does not make it late), so that no pause, PATCH, cancel or trigger can
   * come between a send and its claim: before the claim they move the job's schedule and the claim fails; after
   * it, the fire is the job's run. A trigger's fire is already in the store: an at_least_once one goes at once.
   */
  start(job: Job, atMs: number, options: StartOptions): void {
    const key = fireKey(job.tenant, job.id, atMs);
    if (this.#tasks.has(key)) return;
    const task: Task = {
      tenant: job.tenant, id: job.id, atMs, manual: options.manual, attempt: options.attemptsDone + 1,
      firstAttemptAtMs: null, abort: new AbortController(), timer: null, inBackoff: false,
      waiting: options.buffered === true, claimed: options.claimed,
      // A scheduled fire goes at its time plus its jitter (never before, even when resumed by a new leader); a
      // manual one at once.
      sendAtMs: options.manual ? this.#ports.clock.nowMs() : atMs + jitterOf(fireIdOf(job.id, atMs), job.jitterMs),
      send: null, knownSent: options.knownSent === true,
    };
    this.#tasks.set(key, task);
    if (task.waiting) this.#resting++;
    this.#perJob.set(`${job.tenant}/${job.id}`, this.countOf(job.tenant, job.id) + 1);
    if (task.waiting) this.#buffered.set(`${job.tenant}/${job.id}`, task);
    if (options.claimed) {
      if (!task.waiting) this.#attemptAt(task, task.sendAtMs);
      return;
    }
    if (!options.manual) this.#claiming.add(key);
    const claim = this.#ports.submit({ kind: 'start', tenant: job.tenant, jobId: job.id, scheduledAtMs: atMs, manual: options.manual });
    if (options.manual && job.delivery === 'at_least_once') {
      this.#attemptAt(task, task.sendAtMs);
      return;
    }
    // Claimed through Raft before it is sent: a leader lost after this point leaves an `unknown` (at_most_once) or
    // a resend with the same fire id (at_least_once), never a fire the store does not know of.
    void claim.then((applied) => {
      this.#claiming.delete(key);
      if (task.abort.signal.aborted) return;
      if (!applied) {
        this.#drop(task);
        return;
      }
      task.claimed = true;
      if (!task.waiting) this.#attemptAt(task, task.sendAtMs);
    });
  }

  /**
   * Stops every fire at once: attempts are aborted, retries cancelled, nothing more is reported. Returns the fires
   * (`tenant/id@atMs`) still at their first attempt: `unsent`, those this process provably never sent (no attempt of
   * theirs was ever made here or before), and `sent`, those whose first attempt this process may have sent.
   */
  abortAll(): { unsent: string[]; sent: string[] } {
    const unsent: string[] = [];
    const sent: string[] = [];
    for (const [key, task] of this.#tasks) {
      // A handed-over first attempt is unsent only if withdrawn now: once its send began it may have gone out.
      if (task.attempt === 1 && task.firstAttemptAtMs === null && !task.knownSent
        && (task.send === null || task.send.handle.withdraw())) {
        unsent.push(key);
      } else if (task.attempt === 1) {
        sent.push(key);
      }
      this.#abort(task);
    }
    this.#tasks.clear();
    this.#resting = 0;
    this.#claiming.clear();
    this.#perJob.clear();
    this.#buffered.clear();
    this.#sending.clear();
    return { unsent, sent };
  }

  /** The job was deleted: its fires stop (SPEC §2: no fire after the 2xx of a DELETE). */
  abortJob(tenant: string, id: string): void {
    // Every task counts in #perJob from its start, so a job without a count has nothing here to stop.
    if (this.countOf(tenant, id) === 0 && !this.#buffered.has(`${tenant}/${id}`)) return;
    for (const [key, task] of this.#tasks) {
      if (task.tenant === tenant && task.id === id) {
        this.#abort(task);
        this.#remove(key, task);
      }
    }
    this.#perJob.delete(`${tenant}/${id}`);
    this.#buffered.delete(`${tenant}/${id}`);
  }

  #remove(key: string, task: Task): void {
    this.#tasks.delete(key);
    if (task.inBackoff || task.waiting) this.#resting--;
  }

  #setBackoff(task: Task, inBackoff: boolean): void {
    if (task.inBackoff === inBackoff) return;
    task.inBackoff = inBackoff;
    if (!task.waiting && this.#holds(task)) this.#resting += inBackoff ? 1 : -1;
  }

  #setWaiting(task: Task, waiting: boolean): void {
    if (task.waiting === waiting) return;
    task.waiting = waiting;
    if (!task.inBackoff && this.#holds(task)) this.#resting += waiting ? 1 : -1;
  }

  /** The task is still this one's (an aborted or dropped task's late step must not count). */
  #holds(task: Task): boolean {
    return this.#tasks.get(fireKey(task.tenant, task.id, task.atMs)) === task;
  }

  #abort(task: Task): void {
    task.abort.abort();
    task.timer?.cancel();
    task.send?.handle.abort();
  }

  /**
   * Something a handed-over attempt of the job depends on changed (the job; every job when `jobKey` is null, for
   * the firing switch): each one not yet sent is withdrawn and checked again, on the job as it is now.
   */
  withdrawSends(jobKey: string | null): void {
    // Called for every job every applied batch changes (thousands a second under creates): no allocation for the
    // usual job with nothing handed over.
    const one = jobKey === null ? undefined : this.#sending.get(jobKey);
    if (jobKey !== null && one === undefined) return;
    const sets = one === undefined ? [...this.#sending.values()] : [one];
    for (const tasks of sets) {
      for (const task of [...tasks]) {
        const send = task.send;
        if (send === null || !send.handle.withdraw()) continue;
        this.#unsend(task);
        this.#attemptAt(task, send.atMs);
      }
    }
  }

  #unsend(task: Task): void {
    task.send = null;
    const jobKey = `${task.tenant}/${task.id}`;
    const tasks = this.#sending.get(jobKey);
    tasks?.delete(task);
    if (tasks?.size === 0) this.#sending.delete(jobKey);
  }

  /** Checks the attempt `handOverLeadMs` before `atMs` and hands it over to be sent at `atMs`. */
  #attemptAt(task: Task, atMs: number): void {
    const delayMs = atMs - this.#handOverLeadMs - this.#ports.clock.nowMs();
    if (delayMs <= 0) {
      void this.#attempt(task, atMs);
      return;
    }
    // Node's timers can fire a millisecond before Date.now() reaches their time: the sender never sends early either.
    task.timer = this.#ports.clock.setTimer(() => this.#attemptAt(task, atMs), delayMs);
  }

  async #attempt(task: Task, atMs: number): Promise<void> {
    task.timer = null;
    if (task.abort.signal.aborted) return;
    if (task.inBackoff && this.activeCount() >= this.#ports.inFlightMax) {
      // Out of its backoff (or a pause) while the leader has as many fires in flight as it may: the retry waits
      // for room rather than open one more connection past the bound, and looks again shortly.
      this.#attemptAt(task, this.#ports.clock.nowMs() + roomPollMs);
      return;
    }
    this.#setBackoff(task, false);
    const job = this.#ports.store.getJob(task.tenant, task.id);
    if (job === undefined) {
      this.#drop(task);
      return;
    }
    // The lease is checked before every request: a deposed leader sends nothing (SPEC §4).
    if (!this.#ports.lease.hasLease()) return;
    if (this.#ports.store.firingPaused()) {
      // Cluster-wide pause: retries and manual fires wait too, and look again in a second.
      this.#setBackoff(task, true);
      this.#attemptAt(task, this.#ports.clock.nowMs() + 1000);
      return;
    }
    // A trigger fires a paused job by hand, but a cancelled job will not fire at all (SPEC §2): a trigger or redrive
    // queued before the cancel, and any retry after it, is not sent.
    if (job.status === 'cancelled') {
      const sent = task.attempt === 1 ? 'the fire was sent' : `attempt ${task.attempt} was sent`;
      this.#finish(task, 'skipped', task.attempt - 1, `job cancelled before ${sent}`);
      return;
    }
    if (!task.manual && job.status === 'paused') {
      if (task.attempt === 1 && !task.knownSent) {
        // Not sent yet: the fire is no run. It goes back to the job's schedule, so a unico fires when resumed (and
        // catch-up decides, as for a job paused before its time).
        this.#finish(task, 'skipped', 0, 'job paused before the fire was sent; not counted as a run', true);
        return;
      }
      // Paused between attempts: the retries wait for the resume, and go on from the next attempt (SPEC §2: pause
      // stops firing, resume starts it again). A leader that takes over finds the fire in flight and waits alike.
      this.#setBackoff(task, true);
      this.#attemptAt(task, this.#ports.clock.nowMs() + 1000);
      return;
    }
    if (!task.manual && task.attempt === 1 && !task.knownSent && !isScheduledTime(job, task.atMs)) {
      // A PATCH moved the job's schedule off this fire between its claim (claimLeadMs ahead) and its send: SPEC §2
      // recomputes the next fire, so this one is withdrawn unsent, no run, and the job fires at its new time.
      this.#finish(task, 'skipped', 0, 'the job\'s schedule changed before the fire was sent; not counted as a run', true);
      return;
    }
    const startedAtMs = this.#ports.clock.nowMs();
    if (job.webhookUrl === null && startedAtMs < atMs) {
      // Nothing to hand over: a fire without a webhook is recorded at its time, not at its check.
      task.timer = this.#ports.clock.setTimer(() => void this.#attempt(task, atMs), atMs - startedAtMs);
      return;
    }
    const result = job.webhookUrl === null
      ? { ok: true as const, httpStatus: 0, startedAtMs, durationMs: 0 }
      : await this.#handOver(job, task, atMs);
    if (result === null || task.abort.signal.aborted) return;
    task.firstAttemptAtMs ??= result.startedAtMs;
    const nowMs = this.#ports.clock.nowMs();
    void this.#ports.submit({
      kind: 'attempt', tenant: task.tenant, jobId: task.id, scheduledAtMs: task.atMs, attempt: task.attempt,
      startedAtMs: result.startedAtMs, finishedAtMs: result.startedAtMs + result.durationMs, succeeded: result.ok,
      httpStatus: result.httpStatus === 0 ? null : result.httpStatus, error: result.ok ? null : `${result.code}: ${result.error}`,
    });
    const decision = retryDecision({
      policy: job.retry, delivery: job.delivery, attempt: task.attempt, result, firstAttemptAtMs: task.firstAttemptAtMs,
      nowMs, random: this.#ports.random(),
    });
    if (decision.retry) {
      task.attempt++;
      this.#setBackoff(task, true);
      this.#attemptAt(task, nowMs + decision.delayMs);
      return;
    }
    const outcome: FireResult = result.ok ? 'succeeded' : decision.reason === 'gone' ? 'gone' : 'dead_lettered';
    this.#finish(task, outcome, task.attempt, result.ok ? null : `${result.code}: ${result.error} (no retry: ${decision.reason})`);
  }

  /**
   * Hands the attempt to the sender for `atMs`; its result, or null when it was not sent: withdrawn (whoever
   * withdrew it checks it again) or due past the lease it was handed over under (checked again here).
   */
  async #handOver(job: Job, task: Task, atMs: number): Promise<AttemptResult | null> {
    const handle = this.#sender.sendAt(this.#request(job, task), atMs);
    const send = { handle, atMs };
    task.send = send;
    const jobKey = `${task.tenant}/${task.id}`;
    const tasks = this.#sending.get(jobKey);
    if (tasks === undefined) this.#sending.set(jobKey, new Set([task]));
    else tasks.add(task);
    const outcome = await handle.outcome;
    if (task.send === send) this.#unsend(task);
    if (!isUnsent(outcome)) return outcome;
    // Past the lease it was handed over under: checked again shortly, under the lease as it is then (or not at all:
    // the scheduler's lease check stops this run). Not at once: a sender that keeps refusing must not spin here.
    if (outcome.unsent === 'no_lease' && !task.abort.signal.aborted) {
      task.timer = this.#ports.clock.setTimer(() => this.#attemptAt(task, atMs), noLeaseRecheckMs);
    }
    return null;
  }

  #request(job: Job, task: Task): Omit<WebhookAttempt, 'signal'> {
    return {
      url: job.webhookUrl as string, method: job.method, headers: job.headers, jobId: job.id, type: job.type,
      fireId: fireIdOf(job.id, task.atMs), scheduledAtMs: task.atMs, attempt: task.attempt, payload: job.payload,
      timeoutMs: job.timeoutMs, signingSecret: job.signingSecret ?? this.#ports.signingSecret,
    };
  }

  #finish(task: Task, result: FireResult, attempts: number, error: string | null, requeue = false): void {
    void this.#ports.submit({
      kind: 'finish', tenant: task.tenant, jobId: task.id, scheduledAtMs: task.atMs, result, attempts: Math.max(0, attempts), error,
      ...(requeue ? { requeue: true } : {}),
    });
    this.#drop(task);
  }

  /** The task ends here without a report (its claim lost, or its job gone). */
  #drop(task: Task): void {
    const key = fireKey(task.tenant, task.id, task.atMs);
    if (this.#tasks.get(key) !== task) return;
    this.#remove(key, task);
    if (this.#buffered.get(`${task.tenant}/${task.id}`) === task) this.#buffered.delete(`${task.tenant}/${task.id}`);
    const jobKey = `${task.tenant}/${task.id}`;
    const count = this.countOf(task.tenant, task.id) - 1;
    if (count > 0) this.#perJob.set(jobKey, count);
    else this.#perJob.delete(jobKey);
    this.#ports.onSettled(task.tenant, task.id);
  }
}

function fireKey(tenant: string, id: string, atMs: number): string {
  return `${tenant}/${id}@${atMs}`;
}

/** A fire's jitter (SPEC §2 `jitter_ms`): the same on every node, from its fire id (FNV-1a), in [0, jitterMs). */
export function jitterOf(fireId: string, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  let h = 2166136261;
  for (let i = 0; i < fireId.length; i++) h = Math.imul(h ^ fireId.charCodeAt(i), 16777619);
  return (h >>> 0) % jitterMs;
}
