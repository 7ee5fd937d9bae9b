// Closed-loop HTTP load: N connections of an undici Pool, each sending its next request as soon as the last is answered.
import { Pool } from 'undici';
import { r1, summarize } from './stats.js';

export interface LoadRequest {
  readonly method: 'POST' | 'GET';
  readonly path: string;
  readonly body?: string;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  /** How long to run; Infinity with `signal` to run until aborted. */
  readonly durationMs: number;
  readonly signal?: AbortSignal;
  /** The request number `seq` (0, 1, ...), over all connections. */
  readonly request: (seq: number) => LoadRequest;
  /** Units of work one answer accounts for (jobs of a batch); default 1 for `okStatus`, else 0. Reading it costs the body. */
  readonly countOk?: (status: number, body: string) => number;
  readonly okStatus?: number;
  readonly timeoutMs?: number;
}

export interface LoadResult {
  readonly connections: number;
  readonly seconds: number;
  /** Successful requests (or units, with countOk) per second. */
  readonly per_s: number;
  readonly ok: number;
  readonly requests: number;
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
  /** Answers by status code; `error:<code>` for requests that got no answer. */
  readonly statuses: Record<string, number>;
}

export async function closedLoop(o: LoadOptions): Promise<LoadResult> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const pool = new Pool(o.url, {
    connections: o.connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
  });
  const okStatus = o.okStatus ?? 201;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let seq = 0;
  let ok = 0;
  const startedAt = performance.now();
  const endAt = startedAt + o.durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < endAt && o.signal?.aborted !== true) {
      const r = o.request(seq++);
      const sent = performance.now();
      try {
        const response = await pool.request({
          method: r.method, path: r.path, ...(r.body === undefined ? {} : { body: r.body }),
          headers: r.body === undefined ? {} : { 'content-type': 'application/json' },
        });
        const status = response.statusCode;
        let units: number;
        if (o.countOk !== undefined) units = o.countOk(status, await response.body.text());
        else {
          await response.body.dump();
          units = status === okStatus ? 1 : 0;
        }
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (units > 0) {
          ok += units;
          latencies.push(performance.now() - sent);
        }
      } catch (err) {
        const key = `error:${(err as { code?: string }).code ?? (err as Error).name}`;
        statuses[key] = (statuses[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  const seconds = (performance.now() - startedAt) / 1000;
  await pool.close();
  const s = summarize(latencies);
  return {
    connections: o.connections, seconds: r1(seconds) ?? 0, per_s: Math.round(ok / seconds), ok, requests: seq,
    p50_ms: s.p50, p99_ms: s.p99, max_ms: s.max, statuses,
  };
}

/** The body of one unico job, due far in the future; `payloadBytes` of payload, as etcd's 200-byte values. */
export function futureJob(id: string, payloadBytes = 200, atMs = Date.UTC(2035, 0, 1)): Record<string, unknown> {
  return {
    id, type: 'unico', timestamp: new Date(atMs).toISOString(), webhook_url: 'http://127.0.0.1:9/hook',
    payload: { data: 'x'.repeat(payloadBytes) },
  };
}

/** Jobs created (status 201) in a POST /jobs/batch answer. */
export function batchCreated(status: number, body: string): number {
  if (status !== 200 && status !== 201) return 0;
  const parsed = JSON.parse(body) as { results?: { status: number }[] };
  return (parsed.results ?? []).filter((r) => r.status === 201).length;
}

/** POSTs a JSON body and returns status and parsed answer; throws on a network error. */
export async function postJson(url: string, body: unknown, timeoutMs = 60_000): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch (_err) {
    // keep the text
  }
  return { status: response.status, body: parsed };
}

/**
 * Creates jobs 0..count-1 (`make(i)` builds job i) through POST /jobs/batch in batches of `batchSize`, `inFlight`
 * batches at once, in order; returns jobs created per second. Throws if any job is not created.
 */
export async function createInBatches(url: string, count: number, make: (i: number) => unknown, batchSize = 1000,
  inFlight = 2, onProgress?: (done: number) => void): Promise<number> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const from = next;
      const to = Math.min(count, from + batchSize);
      next = to;
      const jobs = Array.from({ length: to - from }, (_, k) => make(from + k));
      const r = await postJson(`${url}/jobs/batch`, { jobs });
      const results = (r.body as { results?: { status: number }[] } | null)?.results ?? [];
      const created = results.filter((x) => x.status === 201 || x.status === 200).length;
      if (created !== jobs.length) {
        throw new Error(`batch create answered ${r.status}, ${created} of ${jobs.length} created: ${JSON.stringify(r.body).slice(0, 300)}`);
      }
      done += jobs.length;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return Math.round(count / ((performance.now() - started) / 1000));
}
