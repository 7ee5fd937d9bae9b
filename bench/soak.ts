// bench soak: a steady mixed load for minutes, to see whether memory and disk level off. 200 recurrente jobs
// firing every second, and unico jobs created one by one through nginx at 50/s, due 3 s later, each deleted 1 s
// after its fire arrives; every fire goes to a receiver on loopback. Each node's RSS and data dir are sampled every
// 5 s; after a warm-up (a fifth of the run, at least 60 s: executions reach their cap of 100 a job in 100 s, so the
// store stops growing) their growth is reported, with a least-squares slope in MiB an hour. Fires are checked as in
// bench fire: every fire due in the run arrives, none twice.
import { BenchCluster, rssBytes } from './lib/cluster.js';
import type { BenchContext } from './lib/context.js';
import { createInBatches, postJson } from './lib/load.js';
import { checkFires, Receiver } from './lib/receiver.js';
import { ms, num } from './lib/report.js';
import type { BenchOutput, Row } from './lib/report.js';
import { log, sleep, summarize } from './lib/stats.js';

const recurrenteJobs = 200;
const intervalMs = 1000;
const unicoPerSecond = 50;
const unicoLeadMs = 3000;
const deleteAfterMs = 1000;
const sampleEveryMs = 5000;
const mib = 1024 * 1024;

interface Sample {
  readonly atS: number;
  readonly rss: Record<string, number>;
  readonly disk: Record<string, number>;
}

interface Growth {
  readonly start_mib: number;
  readonly end_mib: number;
  readonly max_mib: number;
  /** Least-squares slope over the samples after the warm-up. */
  readonly slope_mib_per_h: number;
}

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const seconds = ctx.opts.seconds ?? (ctx.quick ? 30 : 600);
  const warmupS = ctx.quick ? 10 : Math.max(60, seconds / 5);
  const tag = Date.now().toString(36);
  const problems: string[] = [];
  const receiver = await Receiver.start();
  const cluster = await BenchCluster.start({ logLevel: ctx.opts.logLevel, keep: ctx.opts.keep });
  const samples: Sample[] = [];
  const expected = new Map<string, number>();
  const statuses: Record<string, number> = {};
  const count = (what: string): void => {
    statuses[what] = (statuses[what] ?? 0) + 1;
  };
  let fires = { lost: 0, doubled: 0, early: 0, received: 0, p50: null as number | null, p99: null as number | null, max: null as number | null };
  const startedAt = Date.now();
  try {
    const leader = await cluster.waitForLeader();
    const firstAtMs = Date.now() + 5000;
    await createInBatches(leader.url, recurrenteJobs, (i) => ({
      id: `r-${tag}-${i}`, type: 'recurrente', interval: intervalMs, timestamp: new Date(firstAtMs + i * (intervalMs / recurrenteJobs)).toISOString(),
      webhook_url: receiver.url, payload: { data: 'x'.repeat(200) },
    }), recurrenteJobs);
    const endAtMs = firstAtMs + seconds * 1000;
    log(`soak for ${seconds} s: ${recurrenteJobs} recurrente jobs every ${intervalMs} ms, ${unicoPerSecond} unico creates/s through nginx, each deleted after its fire`);
    const sampler = (async () => {
      while (Date.now() < endAtMs) {
        samples.push({
          atS: (Date.now() - firstAtMs) / 1000,
          rss: Object.fromEntries(cluster.nodes.map((n) => [n.id, rssBytes(cluster.pid(n))])),
          disk: Object.fromEntries(cluster.nodes.map((n) => [n.id, cluster.diskBytes(n).total])),
        });
        await sleep(sampleEveryMs);
      }
    })();
    const churn = unicoChurn(cluster.lbUrl, receiver, tag, endAtMs, expected, count);
    await Promise.all([sampler, churn]);
    // Every recurrente fire due up to 2 s before the end must have arrived by now plus a margin.
    for (let i = 0; i < recurrenteJobs; i++) {
      for (let at = firstAtMs + i * (intervalMs / recurrenteJobs); at <= endAtMs - 2000; at += intervalMs) expected.set(`r-${tag}-${i}@${Math.floor(at)}`, Math.floor(at));
    }
    await sleep(3000);
    const got = receiver.byFire();
    const check = checkFires(expected, got);
    const s = summarize(check.lateness);
    fires = { lost: check.lost, doubled: check.doubled, early: check.early, received: check.received, p50: s.p50, p99: s.p99, max: s.max };
    log(`fires: ${num(check.received)} of ${num(check.fires)} due, lost ${check.lost}, doubled ${check.doubled}, lateness p50 ${ms(s.p50)} p99 ${ms(s.p99)} max ${ms(s.max)}`);
    if (check.lost + check.doubled + check.early > 0) problems.push(`fires: lost ${check.lost}, doubled ${check.doubled}, early ${check.early}`);
    const odd = Object.entries(statuses).filter(([k]) => !['create 201', 'delete 200', 'delete 204'].includes(k));
    if (odd.length > 0) problems.push(`unexpected answers: ${JSON.stringify(Object.fromEntries(odd))}`);
  } finally {
    const logs = cluster.logSummary();
    if (Object.keys(logs).length > 0) problems.push(`node logs: ${JSON.stringify(logs)}`);
    await cluster.stop();
    await receiver.close();
  }

  const after = samples.filter((x) => x.atS >= warmupS);
  const growth = (pick: (x: Sample) => Record<string, number>): Record<string, Growth> => Object.fromEntries(
    cluster.nodes.map((n) => [n.id, growthOf(after.map((x) => [x.atS, (pick(x)[n.id] ?? 0) / mib] as const))]));
  const rss = growth((x) => x.rss);
  const disk = growth((x) => x.disk);
  const rows: Row[] = [];
  for (const n of cluster.nodes) {
    const r = rss[n.id];
    const d = disk[n.id];
    if (r === undefined || d === undefined) continue;
    rows.push({ metric: `${n.id} RSS after warm-up → end (max)`, ours: `${r.start_mib} → ${r.end_mib} MiB (${r.max_mib}), ${r.slope_mib_per_h} MiB/h` });
    rows.push({ metric: `${n.id} data dir after warm-up → end (max)`, ours: `${d.start_mib} → ${d.end_mib} MiB (${d.max_mib}), ${d.slope_mib_per_h} MiB/h` });
  }
  rows.push({ metric: 'fires due / lost / doubled', ours: `${num(expected.size)} / ${fires.lost} / ${fires.doubled}` });
  rows.push({ metric: 'fire lateness p50 / p99 / max', ours: `${ms(fires.p50)} / ${ms(fires.p99)} / ${ms(fires.max)}` });
  rows.push({ metric: 'client answers', ours: JSON.stringify(statuses) });
  return {
    bench: 'soak',
    figures: {
      seconds, warmup_s: warmupS, recurrente_jobs: recurrenteJobs, interval_ms: intervalMs, unico_per_s: unicoPerSecond,
      wall_s: Math.round((Date.now() - startedAt) / 1000), rss, disk, fires: { due: expected.size, ...fires }, answers: statuses,
      samples: samples.map((x) => ({ at_s: Math.round(x.atS), rss_mib: mibOf(x.rss), disk_mib: mibOf(x.disk) })),
    },
    anchors: {}, ratios: {}, targets: [], rows, problems,
  };
}

/**
 * Creates `unicoPerSecond` unico jobs a second through nginx until `endAtMs`, each due `unicoLeadMs` later, and
 * deletes each `deleteAfterMs` after its fire arrived; records every fire due before the end in `expected`.
 */
async function unicoChurn(lbUrl: string, receiver: Receiver, tag: string, endAtMs: number,
  expected: Map<string, number>, count: (what: string) => void): Promise<void> {
  const pending: { id: string; fireId: string }[] = [];
  const firedAt = new Map<string, number>();
  let seen = 0;
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  for (let tickAt = Date.now(); tickAt < endAtMs; tickAt += 100) {
    for (let k = 0; k < unicoPerSecond / 10; k++) {
      const id = `u-${tag}-${next++}`;
      const atMs = Date.now() + unicoLeadMs;
      const fireId = `${id}@${atMs}`;
      if (atMs <= endAtMs - 2000) expected.set(fireId, atMs);
      pending.push({ id, fireId });
      track(postJson(`${lbUrl}/jobs`, { id, type: 'unico', timestamp: new Date(atMs).toISOString(), webhook_url: receiver.url }, 10_000)
        .then((r) => count(`create ${r.status}`), (err: unknown) => count(`create error ${String(err).slice(0, 60)}`)));
    }
    // New arrivals since the last tick; a job is deleted once its fire arrived deleteAfterMs ago.
    const arrivals = receiver.arrivals;
    for (; seen < arrivals.length; seen++) {
      const a = arrivals[seen];
      if (a !== undefined && !firedAt.has(a.fireId)) firedAt.set(a.fireId, a.atMs);
    }
    while (pending.length > 0) {
      const head = pending[0];
      const at = head === undefined ? undefined : firedAt.get(head.fireId);
      if (head === undefined || at === undefined || Date.now() - at < deleteAfterMs) break;
      pending.shift();
      track(fetch(`${lbUrl}/jobs/${head.id}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) })
        .then(async (r) => {
          await r.arrayBuffer();
          count(`delete ${r.status}`);
        }, (err: unknown) => count(`delete error ${String(err).slice(0, 60)}`)));
    }
    await sleep(Math.max(0, tickAt + 100 - Date.now()));
  }
  await Promise.all(inFlight);
}

function growthOf(points: readonly (readonly [number, number])[]): Growth {
  const round = (x: number): number => Math.round(x * 10) / 10;
  if (points.length === 0) return { start_mib: 0, end_mib: 0, max_mib: 0, slope_mib_per_h: 0 };
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  return {
    start_mib: round(points[0]?.[1] ?? 0), end_mib: round(points[n - 1]?.[1] ?? 0),
    max_mib: round(Math.max(...points.map(([, y]) => y))), slope_mib_per_h: sxx === 0 ? 0 : round((sxy / sxx) * 3600),
  };
}

function mibOf(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v / mib)]));
}
