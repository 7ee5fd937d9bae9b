// Jobs that fire during a fault run: unico jobs of both delivery modes due at spread times, some deleted around their
// time, and two recurring jobs every second, all to a webhook receiver on loopback.
import { Receiver } from '../scheduler/receiver.js';
import { nowMs, sleep } from './clock.js';
import { classify, type ExecutionSummary, type FireJob, type FireReceipt, parseUserAgent } from './history.js';
import { call, getJson } from './http.js';
import type { Rng } from './random.js';
import type { Target } from './workload.js';

export interface FireLoadOptions {
  readonly rng: Rng;
  readonly prefix: string;
  /** Unico fires are due between these times. */
  readonly fromMs: number;
  readonly untilMs: number;
  readonly unicoCount: number;
  /** Share of unico jobs deleted around their time (from 1.5 s before to 0.5 s after). */
  readonly deleteShare: number;
  readonly timeoutMs: number;
}

const hookPath = '/hook';

export class FireLoad {
  readonly jobs: FireJob[] = [];
  readonly #options: FireLoadOptions;
  readonly #receiver: Receiver;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #pending = new Set<Promise<void>>();

  private constructor(options: FireLoadOptions, receiver: Receiver) {
    this.#options = options;
    this.#receiver = receiver;
  }

  static async start(options: FireLoadOptions): Promise<FireLoad> {
    return new FireLoad(options, await Receiver.start());
  }

  /** Creates every job through `via` (before any fault), each acknowledged or the run stops. */
  async setup(via: Target): Promise<void> {
    const { rng, prefix, fromMs, untilMs, unicoCount } = this.#options;
    const url = this.#receiver.url(hookPath);
    const unico = Array.from({ length: unicoCount }, (_v, i) => ({
      id: `${prefix}-u${i}`, atMs: rng.between(fromMs, untilMs),
      delivery: rng.chance(0.5) ? 'at_least_once' as const : 'at_most_once' as const,
    }));
    const answer = await call(via.url, 'POST', '/jobs/batch', {
      jobs: unico.map((u) => ({
        id: u.id, type: 'unico', timestamp: new Date(u.atMs).toISOString(), webhook_url: url, delivery: u.delivery, payload: { fire: u.id },
      })),
    }, 20_000);
    const results = 'status' in answer ? (answer.body as { results?: { status: number }[] }).results : undefined;
    if (results === undefined || results.some((r) => r.status !== 201)) throw new Error(`fire jobs not created: ${JSON.stringify(answer).slice(0, 500)}`);
    const createdAtMs = nowMs();
    for (const u of unico) this.jobs.push({ id: u.id, schedule: { kind: 'unico', atMs: u.atMs, everyMs: 0 }, delivery: u.delivery, createdAtMs, deletes: [] });

    // Every second, caught up in full after an outage (fire_all), so no second may be missing.
    await this.#createRecurring(via, `${prefix}-cron`, { cron_expression: '*/1 * * * * *', delivery: 'at_least_once' }, 'every_second');
    await this.#createRecurring(via, `${prefix}-every`, { interval: 1000, delivery: 'at_most_once' }, 'interval');
  }

  /** Deletes some unico jobs around their time, each through a random live target. */
  scheduleDeletes(targets: () => readonly Target[]): void {
    const { rng } = this.#options;
    for (const job of this.jobs) {
      if (job.schedule.kind !== 'unico' || !rng.chance(this.#options.deleteShare)) continue;
      const atMs = job.schedule.atMs + rng.between(-1500, 500);
      const timer = setTimeout(() => this.#track(this.#delete(job, rng.pick(targets()))), Math.max(0, atMs - nowMs()));
      this.#timers.push(timer);
    }
  }

  /** The executions of every at_most_once job, which say which unsent fires were claimed by a leader that died. */
  async executions(via: Target): Promise<Map<string, ExecutionSummary[]>> {
    const out = new Map<string, ExecutionSummary[]>();
    for (const job of this.jobs.filter((j) => j.delivery === 'at_most_once')) {
      const answer = await call(via.url, 'GET', `/jobs/${job.id}/executions?consistency=strong`, undefined, this.#options.timeoutMs);
      if ('status' in answer && answer.status === 200) {
        out.set(job.id, ((answer.body as { executions?: ExecutionSummary[] }).executions ?? []).map((e) => ({ fire_id: e.fire_id, status: e.status })));
      }
    }
    return out;
  }

  /** Ends the recurring jobs: deletes each until a delete is acknowledged (a 404 after an unknown one counts). */
  async finish(via: () => Target): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all(this.#pending);
    for (const job of this.jobs.filter((j) => j.schedule.kind !== 'unico')) {
      for (let attempt = 0; attempt < 20; attempt++) {
        const op = await this.#delete(job, via());
        if (op.outcome === 'ok' || op.reason === 'not_found') break;
        await sleep(500);
      }
    }
  }

  receipts(): FireReceipt[] {
    return this.#receiver.at(hookPath).map((r) => {
      const ua = parseUserAgent(String(r.headers['user-agent'] ?? ''));
      return {
        atMs: r.atMs, jobId: String(r.headers['x-job-id'] ?? ''), fireId: String(r.headers['x-fire-id'] ?? ''),
        attempt: Number(r.headers['x-attempt'] ?? 0), ...ua,
      };
    });
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all(this.#pending);
    await this.#receiver.close();
  }

  async #createRecurring(via: Target, id: string, fields: Record<string, unknown>, kind: 'every_second' | 'interval'): Promise<void> {
    const answer = await call(via.url, 'POST', '/jobs', {
      id, type: 'recurrente', webhook_url: this.#receiver.url(hookPath), catchup: 'fire_all', payload: { fire: id }, ...fields,
    }, 20_000);
    if (!('status' in answer) || answer.status !== 201) throw new Error(`recurring job ${id} not created: ${JSON.stringify(answer).slice(0, 300)}`);
    const createdAtMs = nowMs();
    const stored = await getJson(via.url, `/jobs/${id}`) as { timestamp?: string };
    const startMs = Date.parse(stored.timestamp ?? '');
    if (!Number.isFinite(startMs)) throw new Error(`recurring job ${id} has no timestamp`);
    this.jobs.push({
      id, schedule: { kind, atMs: startMs, everyMs: kind === 'interval' ? 1000 : 0 },
      delivery: fields['delivery'] === 'at_most_once' ? 'at_most_once' : 'at_least_once', createdAtMs, deletes: [],
    });
  }

  async #delete(job: FireJob, via: Target): Promise<{ outcome: string; reason?: string }> {
    const callAt = nowMs();
    const answer = await call(via.url, 'DELETE', `/jobs/${job.id}`, undefined, this.#options.timeoutMs);
    const op = { client: -1, key: job.id, f: 'delete' as const, v: null, via: via.name, call: callAt, ret: nowMs(), ...classify('delete', answer) };
    job.deletes.push(op);
    return op;
  }

  #track(work: Promise<unknown>): void {
    const done = work.then(() => undefined, () => undefined);
    this.#pending.add(done);
    void done.then(() => this.#pending.delete(done));
  }
}
