// bench soak: a steady mixed load for minutes, to see whether memory and disk level off. 200 recurrente jobs
// firing every second, and unico jobs created one by one through nginx at 50/s, due 3 s later, each deleted 1 s
// after its fire arrives; every fire goes to a receiver on loopback. Each node's RSS (with its heap, buffers,
// anonymous and file-backed parts, LevelDB's own memory, the log's entry data) and data dir are sampled every
// 5 s. Reported: RSS low-high between each node's snapshots (the log between two stays in memory, so a leak shows
// as lows that rise), and growth after a warm-up (a fifth of the run, at least 120 s, at most half: executions
// reach their cap of 100 a job in 100 s) with a least-squares slope in MiB an hour. Fires are checked as in bench
// fire: every fire due in the run, none twice.
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
  /** Per node, from /debug/cluster: where the memory is, and the last snapshot's index. */
  readonly parts: Record<string, { anon: number; file: number; heap: number; buffers: number; leveldb: number; log: number; snapshot: number }>;
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
  // At most half the run, so a short run still has figures after it.
  const warmupS = ctx.quick ? 10 : Math.min(Math.max(120, seconds / 5), seconds / 2);
  const tag = Date.now().toString(36);
  const problems: string[] = [];
  const receiver = await Receiver.start();
  // A lower SNAPSHOT_COUNT (--snapshot-count) gives more snapshot cycles in a run, to see whether RSS's lows rise.
  const snapshotCount = ctx.opts.snapshotCount;
  const cluster = await BenchCluster.start({
    logLevel: ctx.opts.logLevel, keep: ctx.opts.keep, ...(snapshotCount === undefined ? {} : { env: { SNAPSHOT_COUNT: String(snapshotCount) } }),
  });
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
        const atS = (Date.now() - firstAtMs) / 1000;
        const rss = Object.fromEntries(cluster.nodes.map((n) => [n.id, rssBytes(cluster.pid(n))]));
        const disk = Object.fromEntries(cluster.nodes.map((n) => [n.id, cluster.diskBytes(n).total]));
        const parts = Object.fromEntries(await Promise.all(cluster.nodes.map(async (n) => {
          const d = await cluster.debug(n).catch(() => null);
          const m = d?.memory ?? {};
          const leveldb = (m['leveldb_bytes'] ?? {}) as Record<string, unknown>;
          return [n.id, { anon: bytes(m['rss_anon_bytes']), file: bytes(m['rss_file_bytes']), heap: bytes(m['heap_used_bytes']),
            buffers: bytes(m['array_buffers_bytes']), leveldb: bytes(leveldb['raft']) + bytes(leveldb['state']),
            log: bytes(m['raft_log_entry_bytes']), snapshot: d?.snapshot_index ?? NaN }] as const;
        })));
        samples.push({ atS, rss, disk, parts });
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
  const part = (name: 'anon' | 'file' | 'heap' | 'buffers' | 'leveldb' | 'log') => growth((x) => Object.fromEntries(Object.entries(x.parts).map(([id, p]) => [id, p[name]])));
  const anon = part('anon');
  const file = part('file');
  const heap = part('heap');
  const buffers = part('buffers');
  const leveldb = part('leveldb');
  const logEntries = part('log');
  const cycles = Object.fromEntries(cluster.nodes.map((n) => [n.id, snapshotCycles(samples, n.id)]));
  const rows: Row[] = [];
  for (const n of cluster.nodes) {
    const r = rss[n.id];
    const d = disk[n.id];
    if (r === undefined || d === undefined) continue;
    rows.push({ metric: `${n.id} RSS after warm-up → end (max)`, ours: `${r.start_mib} → ${r.end_mib} MiB (${r.max_mib}), ${r.slope_mib_per_h} MiB/h` });
    const brief = (g: Growth | undefined): string => (g === undefined ? '-' : `${g.start_mib} → ${g.end_mib}`);
    rows.push({
      metric: `  anonymous / file-backed / V8 heap / buffers / LevelDB / log entries`,
      ours: `${brief(anon[n.id])} / ${brief(file[n.id])} / ${brief(heap[n.id])} / ${brief(buffers[n.id])} / ${brief(leveldb[n.id])} / ${brief(logEntries[n.id])} MiB`,
    });
    rows.push({
      metric: '  RSS low–high between its snapshots',
      ours: `${(cycles[n.id] ?? []).map((c) => `${c.min_mib}–${c.max_mib}`).join(', ')} MiB (from the start, then from each snapshot)`,
    });
    rows.push({ metric: `${n.id} data dir after warm-up → end (max)`, ours: `${d.start_mib} → ${d.end_mib} MiB (${d.max_mib}), ${d.slope_mib_per_h} MiB/h` });
  }
  rows.push({ metric: 'fires due / lost / doubled', ours: `${num(expected.size)} / ${fires.lost} / ${fires.doubled}` });
  rows.push({ metric: 'fire lateness p50 / p99 / max', ours: `${ms(fires.p50)} / ${ms(fires.p99)} / ${ms(fires.max)}` });
  rows.push({ metric: 'client answers', ours: JSON.stringify(statuses) });
  return {
    bench: 'soak',
    figures: {
      seconds, warmup_s: warmupS, snapshot_count: snapshotCount ?? 'default', recurrente_jobs: recurrenteJobs, interval_ms: intervalMs, unico_per_s: unicoPerSecond,
      wall_s: Math.round((Date.now() - startedAt) / 1000), rss, disk, rss_anon: anon, rss_file: file, heap_used: heap, array_buffers: buffers, leveldb, log_entries: logEntries,
      snapshot_cycles: cycles, fires: { due: expected.size, ...fires }, answers: statuses,
      samples: samples.map((x) => ({
        at_s: Math.round(x.atS), rss_mib: mibOf(x.rss), disk_mib: mibOf(x.disk),
        parts_mib: Object.fromEntries(Object.entries(x.parts).map(([id, p]) => [id, { anon: Math.round(p.anon / mib), file: Math.round(p.file / mib),
          heap: Math.round(p.heap / mib), buffers: Math.round(p.buffers / mib), leveldb: Math.round(p.leveldb / mib), log: Math.round(p.log / mib),
          snapshot: p.snapshot }])),
      })),
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
  /** Jobs to delete once fired, oldest first; `failed`: its create was not acknowledged, so nothing to wait for. */
  const pending: { id: string; fireId: string; atMs: number; failed: boolean }[] = [];
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
      const job = { id, fireId, atMs, failed: false };
      pending.push(job);
      track(postJson(`${lbUrl}/jobs`, { id, type: 'unico', timestamp: new Date(atMs).toISOString(), webhook_url: receiver.url }, 10_000)
        .then((r) => {
          count(`create ${r.status}`);
          job.failed = r.status !== 201;
          // Only an acknowledged create owes a fire.
          if (r.status === 201 && atMs <= endAtMs - 2000) expected.set(fireId, atMs);
        }, (err: unknown) => {
          // An unknown outcome: it may exist, and fire; deleted after its time like a lost fire below.
          count(`create error ${String(err).slice(0, 60)}`);
        }));
    }
    // New arrivals since the last tick; a job is deleted once its fire arrived deleteAfterMs ago.
    const arrivals = receiver.arrivals;
    for (; seen < arrivals.length; seen++) {
      const a = arrivals[seen];
      if (a !== undefined && !firedAt.has(a.fireId)) firedAt.set(a.fireId, a.atMs);
    }
    while (pending.length > 0) {
      const head = pending[0];
      if (head === undefined) break;
      if (head.failed) {
        pending.shift();
        continue;
      }
      const at = firedAt.get(head.fireId);
      // Deleted once fired, or 15 s after its time without a fire (lost, which the fire check counts, or an
      // unknown create that did not happen), so the store stays level either way.
      if (at === undefined ? Date.now() < head.atMs + 15_000 : Date.now() - at < deleteAfterMs) break;
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

/**
 * The node's RSS, lowest and highest, in each stretch between two of its snapshots (the first from the start): the
 * log between two snapshots is held in memory, so RSS climbs and drops with them, and a leak shows as stretches
 * whose lows rise.
 */
function snapshotCycles(samples: readonly Sample[], id: string): { from_s: number; min_mib: number; max_mib: number }[] {
  const cycles: { from_s: number; min_mib: number; max_mib: number }[] = [];
  let last: number | undefined;
  for (const x of samples) {
    const index = x.parts[id]?.snapshot;
    if (x.atS < 0 || index === undefined || !Number.isFinite(index)) continue;
    const rss = Math.round((x.rss[id] ?? 0) / mib);
    const current = cycles[cycles.length - 1];
    if (current === undefined || index !== last) {
      cycles.push({ from_s: Math.round(x.atS), min_mib: rss, max_mib: rss });
      last = index;
    } else {
      current.min_mib = Math.min(current.min_mib, rss);
      current.max_mib = Math.max(current.max_mib, rss);
    }
  }
  return cycles;
}

function mibOf(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v / mib)]));
}

/** A byte count from /debug/cluster's JSON; NaN where the node has none (an older build, or no /proc). */
function bytes(value: unknown): number {
  return typeof value === 'number' ? value : NaN;
}
