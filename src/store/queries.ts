// Reads of the local state machine for the API and the scheduler: one job, filtered pages of jobs, due fires.
import type { Job, JobStatus, JobType } from '../jobs/job.js';
import { decodeJob } from './job-codec.js';
import { jobKey, nextFireRange, parseNextFireKey, prefixEnd, tenantJobPrefix } from './keys.js';
import type { Db } from './state-machine.js';

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

/** The store's read side; the StateMachine owns the database, this only reads it. */
export class JobQueries {
  readonly #source: { readonly db: Db };
  /** A page scans at most this many records, so a rare filter cannot make one request read the whole store. */
  readonly #scanMax: number;

  constructor(source: { readonly db: Db }, scanMax = 50_000) {
    this.#source = source;
    this.#scanMax = scanMax;
  }

  getJob(tenant: string, id: string): Job | undefined {
    const key = jobKey(tenant, id);
    const raw = this.#source.db.getSync(key);
    return raw === undefined ? undefined : decodeJob(raw, key);
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
          const job = decodeJob(value, key);
          if (matches(job, filter)) jobs.push(job);
          if (jobs.length === filter.limit) break;
        }
      }
    } finally {
      await iterator.close();
    }
    return { jobs, nextCursor: lastId };
  }

  /** Jobs due in [fromMs, toMs) by the next-fire index, in time order, at most `limit`. */
  async dueFires(fromMs: number, toMs: number, limit: number): Promise<{ atMs: number; tenant: string; id: string }[]> {
    const out: { atMs: number; tenant: string; id: string }[] = [];
    for await (const key of this.#source.db.keys({ ...nextFireRange(fromMs, toMs), limit })) out.push(parseNextFireKey(key));
    return out;
  }
}

function matches(job: Job, filter: ListFilter): boolean {
  if (filter.type !== null && job.type !== filter.type) return false;
  if (filter.status !== null && job.status !== filter.status) return false;
  return filter.tags.every(([k, v]) => job.tags[k] === v);
}
