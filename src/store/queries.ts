// Reads of the local state machine for the API and the scheduler: one job, filtered pages of jobs, due fires.
import type { Job, JobStatus, JobType } from '../jobs/job.js';
import { decodeJob, decodeJobAt } from './job-codec.js';
import { StoreCorruptError } from './sealed-record.js';
import { decodeRecord, type DeadLetter, type ExecutionRecord, type InFlightFire } from './fire-records.js';
import {
  inFlightPrefix, jobExecutionPrefix, jobKey, nextFireRange, parseInFlightKey, parseNextFireKey, prefixEnd,
  tenantDeadLetterPrefix, tenantJobPrefix,
} from './keys.js';

export type { DeadLetter, ExecutionRecord, ExecutionStatus, InFlightFire } from './fire-records.js';

/** A job's next fire as the next-fire index holds it. */
export interface DueFire {
  readonly atMs: number;
  readonly tenant: string;
  readonly id: string;
}
import { type Db, StateStoreError } from './state-machine.js';

export interface ListFilter {
  readonly tenant: string;
  readonly type: JobType | null;
  readonly status: JobStatus | null;
  /** Every `k:v` must match. */
  readonly tags: readonly (readonly [string, string])[];
  readonly limit: number;
  /** Opaque to clients: the id after which the page starts. */
  readonly cursor: string | null;
}

export interface JobPage {
  readonly jobs: readonly Job[];
  readonly nextCursor: string | null;
}

export interface QueryOptions {
  /** A page scans at most this many records, so a rare filter cannot make one request read the whole store. */
  readonly scanMax?: number;
  /**
   * Hears of a stored record that does not decode, before the read throws: the node stops then (SPEC: it never
   * serves or overwrites data it cannot trust), rather than answer 500 until the check after start gets there.
   */
  readonly onDamaged?: (err: StateStoreError) => void;
}

/** The store's read side; the StateMachine owns the database, this only reads it. */
export class JobQueries {
  readonly #source: { readonly db: Db; readonly location: string };
  readonly #scanMax: number;
  readonly #onDamaged: (err: StateStoreError) => void;

  constructor(source: { readonly db: Db; readonly location: string }, options: QueryOptions = {}) {
    this.#source = source;
    this.#scanMax = options.scanMax ?? 50_000;
    this.#onDamaged = options.onDamaged ?? (() => {});
  }

  getJob(tenant: string, id: string): Job | undefined {
    const key = jobKey(tenant, id);
    const raw = this.#source.db.getSync(key);
    return raw === undefined ? undefined : this.#decoded(() => decodeJobAt(raw, key, tenant, id));
  }

  /** What `decode` returns; a record it cannot decode is reported as the store's refusal, which is then thrown. */
  #decoded<T>(decode: () => T): T {
    try {
      return decode();
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      const refusal = new StateStoreError(this.#source.location, err.message);
      this.#onDamaged(refusal);
      throw refusal;
    }
  }

  async listJobs(filter: ListFilter): Promise<JobPage> {
    const prefix = tenantJobPrefix(filter.tenant);
    const start = filter.cursor === null ? { gte: prefix } : { gt: prefix + filter.cursor };
    const iterator = this.#source.db.iterator({ ...start, lt: prefixEnd(prefix) });
    const jobs: Job[] = [];
    let scanned = 0;
    let lastId: string | null = null;
    try {
      while (jobs.length < filter.limit && scanned < this.#scanMax) {
        const batch = await iterator.nextv(Math.min(1000, this.#scanMax - scanned));
        if (batch.length === 0) return { jobs, nextCursor: null };
        for (const [key, value] of batch) {
          scanned++;
          lastId = key.slice(prefix.length);
          const job = this.#decoded(() => decodeJob(value, key));
          if (matches(job, filter)) jobs.push(job);
          if (jobs.length === filter.limit) break;
        }
      }
    } finally {
      await iterator.close();
    }
    return { jobs, nextCursor: lastId };
  }

  /** One page of the next-fire index in [fromMs, toMs), after the index key `afterKey` when given. */
  async dueFirePage(fromMs: number, toMs: number, afterKey: string | null, limit: number):
  Promise<{ fires: DueFire[]; lastKey: string | null }> {
    const range = nextFireRange(fromMs, toMs);
    const start = afterKey !== null && afterKey >= range.gte ? { gt: afterKey } : { gte: range.gte };
    const fires: DueFire[] = [];
    let lastKey: string | null = null;
    for await (const key of this.#source.db.keys({ ...start, lt: range.lt, limit })) {
      fires.push(parseNextFireKey(key));
      lastKey = key;
    }
    return { fires, lastKey };
  }

  /** Every fire in flight (claimed or queued, not finished), for a new leader to resume. */
  async inFlightFires(): Promise<{ tenant: string; id: string; fire: InFlightFire }[]> {
    const out: { tenant: string; id: string; fire: InFlightFire }[] = [];
    for await (const [key, value] of this.#source.db.iterator({ gte: inFlightPrefix, lt: prefixEnd(inFlightPrefix) })) {
      const { tenant, id } = parseInFlightKey(key);
      out.push({ tenant, id, fire: this.#decoded(() => decodeRecord<InFlightFire>(value, key)) });
    }
    return out;
  }

  /** A job's execution records, newest first. */
  async executions(tenant: string, id: string, limit: number): Promise<ExecutionRecord[]> {
    const prefix = jobExecutionPrefix(tenant, id);
    const out: ExecutionRecord[] = [];
    for await (const [key, value] of this.#source.db.iterator({ gte: prefix, lt: prefixEnd(prefix), reverse: true, limit })) {
      out.push(this.#decoded(() => decodeRecord<ExecutionRecord>(value, key)));
    }
    return out;
  }

  /** A page of a tenant's dead letters, by fire id; the cursor is the last fire id of the previous page. */
  async deadLetters(tenant: string, limit: number, cursor: string | null): Promise<{ deadLetters: DeadLetter[]; nextCursor: string | null }> {
    const prefix = tenantDeadLetterPrefix(tenant);
    const start = cursor === null ? { gte: prefix } : { gt: prefix + cursor };
    const out: DeadLetter[] = [];
    let last: string | null = null;
    for await (const [key, value] of this.#source.db.iterator({ ...start, lt: prefixEnd(prefix), limit })) {
      out.push(this.#decoded(() => decodeRecord<DeadLetter>(value, key)));
      last = key.slice(prefix.length);
    }
    return { deadLetters: out, nextCursor: out.length === limit ? last : null };
  }
}

function matches(job: Job, filter: ListFilter): boolean {
  if (filter.type !== null && job.type !== filter.type) return false;
  if (filter.status !== null && job.status !== filter.status) return false;
  return filter.tags.every(([k, v]) => job.tags[k] === v);
}
