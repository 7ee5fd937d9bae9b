// The fires being attempted on this leader: claim, send, retry with backoff, and report each step as a fire event.
import type { FireEvent } from '../jobs/commands.js';
import { fireIdOf, type FireResult } from '../jobs/fire.js';
import type { Job } from '../jobs/job.js';
import type { Clock, Timer } from './clock.js';
import { retryDecision } from './retry.js';
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
}

export interface StartOptions {
  /** A trigger or redrive rather than the job's schedule. */
  readonly manual: boolean;
  /** Already claimed in the store (an earlier leader's fire, resumed). */
  readonly claimed: boolean;
  /** Attempts an earlier leader recorded; the next one continues the count. */
  readonly attemptsDone: number;
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
}

export class FireTasks {
  readonly #ports: FireTaskPorts;
  readonly #tasks = new Map<string, Task>();
  /** Scheduled fires whose `start` has not applied yet: the job's next run still names them. */
  readonly #claiming = new Set<string>();
  readonly #perJob = new Map<string, number>();
  readonly #buffered = new Map<string, number>();

  constructor(ports: FireTaskPorts) {
    this.#ports = ports;
  }

  get size(): number {
    return this.#tasks.size;
  }

  has(tenant: string, id: string, atMs: number): boolean {
    const key = fireKey(tenant, id, atMs);
    return this.#tasks.has(key) || this.#claiming.has(key);
  }

  /** Fires being claimed, sent or about to be sent; those waiting out a backoff do not count. */
  activeCount(): number {
    let count = 0;
    for (const task of this.#tasks.values()) if (!task.inBackoff) count++;
    return count;
  }

  countOf(tenant: string, id: string): number {
    return this.#perJob.get(`${tenant}/${id}`) ?? 0;
  }

  /** Holds the job's fire until its running fire ends (overlap `buffer_one`); a second one is not held. */
  buffer(job: Job, atMs: number): void {
    this.#buffered.set(`${job.tenant}/${job.id}`, atMs);
  }

  takeBuffered(tenant: string, id: string): { atMs: number } | null {
    const atMs = this.#buffered.get(`${tenant}/${id}`);
    if (atMs === undefined || this.countOf(tenant, id) > 0) return null;
    this.#buffered.delete(`${tenant}/${id}`);
    return { atMs };
  }

  /** Starts a fire: claims it (before sending when at_most_once), then attempts it at its time. */
  start(job: Job, atMs: number, options: StartOptions): void {
    const key = fireKey(job.tenant, job.id, atMs);
    if (this.#tasks.has(key)) return;
    const task: Task = {
      tenant: job.tenant, id: job.id, atMs, manual: options.manual, attempt: options.attemptsDone + 1,
      firstAttemptAtMs: null, abort: new AbortController(), timer: null, inBackoff: false,
    };
    this.#tasks.set(key, task);
    this.#perJob.set(`${job.tenant}/${job.id}`, this.countOf(job.tenant, job.id) + 1);
    if (options.claimed) {
      this.#attemptAt(task, this.#ports.clock.nowMs());
      return;
    }
    if (!options.manual) this.#claiming.add(key);
    const claim = this.#ports.submit({ kind: 'start', tenant: job.tenant, jobId: job.id, scheduledAtMs: atMs, manual: options.manual });
    // A scheduled fire goes at its time plus its jitter; a manual one at once.
    const sendAtMs = options.manual ? this.#ports.clock.nowMs() : atMs + jitterOf(fireIdOf(job.id, atMs), job.jitterMs);
    if (job.delivery === 'at_most_once') {
      // Claimed through Raft before it is sent: a leader lost after this point leaves an `unknown`, never a resend.
      void claim.then((applied) => {
        this.#claiming.delete(key);
        if (task.abort.signal.aborted) return;
        if (applied) this.#attemptAt(task, sendAtMs);
        else this.#drop(task);
      });
      return;
    }
    void claim.then(() => this.#claiming.delete(key));
    this.#attemptAt(task, sendAtMs);
  }

  /** Stops every fire at once: attempts are aborted, retries cancelled, nothing more is reported. */
  abortAll(): void {
    for (const task of this.#tasks.values()) this.#abort(task);
    this.#tasks.clear();
    this.#claiming.clear();
    this.#perJob.clear();
    this.#buffered.clear();
  }

  /** The job was deleted: its fires stop (SPEC §2: no fire after the 2xx of a DELETE). */
  abortJob(tenant: string, id: string): void {
    // Every task counts in #perJob from its start, so a job without a count has nothing here to stop.
    if (this.countOf(tenant, id) === 0 && !this.#buffered.has(`${tenant}/${id}`)) return;
    for (const [key, task] of this.#tasks) {
      if (task.tenant === tenant && task.id === id) {
        this.#abort(task);
        this.#tasks.delete(key);
      }
    }
    this.#perJob.delete(`${tenant}/${id}`);
    this.#buffered.delete(`${tenant}/${id}`);
  }

  #abort(task: Task): void {
    task.abort.abort();
    task.timer?.cancel();
  }

  #attemptAt(task: Task, atMs: number): void {
    const delayMs = atMs - this.#ports.clock.nowMs();
    if (delayMs <= 0) {
      void this.#attempt(task);
      return;
    }
    // Node's timers can fire a millisecond before Date.now() reaches their time: never send early, wait the rest.
    task.timer = this.#ports.clock.setTimer(() => this.#attemptAt(task, atMs), delayMs);
  }

  async #attempt(task: Task): Promise<void> {
    task.timer = null;
    task.inBackoff = false;
    if (task.abort.signal.aborted) return;
    const job = this.#ports.store.getJob(task.tenant, task.id);
    if (job === undefined) {
      this.#drop(task);
      return;
    }
    // The lease is checked before every request: a deposed leader sends nothing (SPEC §4).
    if (!this.#ports.lease.hasLease()) return;
    if (this.#ports.store.firingPaused()) {
      // Cluster-wide pause: retries and manual fires wait too, and look again in a second.
      task.inBackoff = true;
      this.#attemptAt(task, this.#ports.clock.nowMs() + 1000);
      return;
    }
    // A trigger fires a paused job by hand, but a cancelled job will not fire at all (SPEC §2): a trigger or redrive
    // queued before the cancel, and any retry after it, is not sent.
    if (job.status === 'cancelled' || (!task.manual && job.status === 'paused')) {
      this.#finish(task, 'skipped', task.attempt - 1, `job ${job.status} before the fire was sent`);
      return;
    }
    const startedAtMs = this.#ports.clock.nowMs();
    task.firstAttemptAtMs ??= startedAtMs;
    const result = job.webhookUrl === null
      ? { ok: true as const, httpStatus: 0, startedAtMs, durationMs: 0 }
      : await this.#ports.webhooks.send(this.#request(job, task));
    if (task.abort.signal.aborted) return;
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
      task.inBackoff = true;
      this.#attemptAt(task, nowMs + decision.delayMs);
      return;
    }
    const outcome: FireResult = result.ok ? 'succeeded' : decision.reason === 'gone' ? 'gone' : 'dead_lettered';
    this.#finish(task, outcome, task.attempt, result.ok ? null : `${result.code}: ${result.error} (no retry: ${decision.reason})`);
  }

  #request(job: Job, task: Task): WebhookAttempt {
    return {
      url: job.webhookUrl as string, method: job.method, headers: job.headers, jobId: job.id, type: job.type,
      fireId: fireIdOf(job.id, task.atMs), scheduledAtMs: task.atMs, attempt: task.attempt, payload: job.payload,
      timeoutMs: job.timeoutMs, signingSecret: job.signingSecret ?? this.#ports.signingSecret, signal: task.abort.signal,
    };
  }

  #finish(task: Task, result: FireResult, attempts: number, error: string | null): void {
    void this.#ports.submit({
      kind: 'finish', tenant: task.tenant, jobId: task.id, scheduledAtMs: task.atMs, result, attempts: Math.max(0, attempts), error,
    });
    this.#drop(task);
  }

  /** The task ends here without a report (its claim lost, or its job gone). */
  #drop(task: Task): void {
    const key = fireKey(task.tenant, task.id, task.atMs);
    if (this.#tasks.get(key) !== task) return;
    this.#tasks.delete(key);
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
