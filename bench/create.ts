// bench create: single creates (POST /jobs) per second and latency at 16, 64 and 256 connections, through nginx and
// straight to the leader, and POST /jobs/batch of 1,000 jobs; anchor: etcd puts at the same connection counts.
import { BenchCluster } from './lib/cluster.js';
import type { NodeHandle } from './lib/cluster.js';
import type { BenchContext } from './lib/context.js';
import { batchCreated, closedLoop, futureJob } from './lib/load.js';
import type { LoadResult } from './lib/load.js';
import type { EtcdPut } from './lib/anchors.js';
import { ms, num, oddStatuses, ratio, verdict, x } from './lib/report.js';
import type { BenchOutput, Row } from './lib/report.js';
import { log } from './lib/stats.js';

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const seconds = ctx.opts.seconds ?? (ctx.quick ? 3 : 15);
  const connections = ctx.opts.connections ?? [16, 64, 256];
  const batchSize = ctx.opts.batchSize ?? 1000;
  const batchConnections = ctx.opts.batchConnections ?? 4;
  const tag = Date.now().toString(36);
  const problems: string[] = [];
  const single: Record<'nginx' | 'leader', Record<number, LoadResult>> = { nginx: {}, leader: {} };
  const batch: Partial<Record<'nginx' | 'leader', LoadResult>> = {};
  const cluster = await BenchCluster.start({ logLevel: ctx.opts.logLevel, keep: ctx.opts.keep });
  try {
    const leader = await cluster.waitForLeader();
    const creates = (url: string, c: number, label: string, durationMs: number): Promise<LoadResult> => closedLoop({
      url, connections: c, durationMs,
      request: (i) => ({ method: 'POST', path: '/jobs', body: JSON.stringify(futureJob(`c-${tag}-${label}-${i}`)) }),
    });
    const targets: [('nginx' | 'leader'), string][] = [['nginx', cluster.lbUrl], ['leader', leader.url]];
    log(`warm-up: 64 connections through nginx for ${ctx.quick ? 1 : 3} s`);
    await creates(cluster.lbUrl, 64, 'warm', ctx.quick ? 1000 : 3000);
    for (const c of connections) {
      for (const [via, url] of targets) {
        await settle(cluster, leader, problems);
        const r = await creates(url, c, `${via}${c}`, seconds * 1000);
        single[via][c] = r;
        log(`creates @${c} via ${via}: ${num(r.per_s)}/s p50 ${ms(r.p50_ms)} p99 ${ms(r.p99_ms)} statuses ${JSON.stringify(r.statuses)}`);
        const odd = oddStatuses(r.statuses, ['201']);
        if (odd !== '') problems.push(`creates @${c} via ${via}: ${odd} (of ${num(r.requests)})`);
      }
    }
    for (const [via, url] of targets) {
      await settle(cluster, leader, problems);
      const r = await closedLoop({
        url, connections: batchConnections, durationMs: seconds * 1000, countOk: batchCreated,
        request: (i) => ({
          method: 'POST', path: '/jobs/batch',
          body: JSON.stringify({ jobs: Array.from({ length: batchSize }, (_, k) => futureJob(`b-${tag}-${via}-${i}-${k}`)) }),
        }),
      });
      batch[via] = r;
      log(`batch of ${batchSize} via ${via}, ${batchConnections} in flight: ${num(r.per_s)} jobs/s, per batch p50 ${ms(r.p50_ms)} p99 ${ms(r.p99_ms)} statuses ${JSON.stringify(r.statuses)}`);
      const odd = oddStatuses(r.statuses, ['200', '201']);
      if (odd !== '') problems.push(`batch via ${via}: ${odd}`);
      if (r.ok !== (r.statuses['200'] ?? 0) * batchSize + (r.statuses['201'] ?? 0) * batchSize) problems.push(`batch via ${via}: some jobs of an answered batch were not created`);
    }
  } finally {
    const logs = cluster.logSummary();
    if (Object.keys(logs).length > 0) problems.push(`node logs: ${JSON.stringify(logs)}`);
    await cluster.stop();
  }

  // The anchor runs after our cluster is gone: never both loads at once.
  const etcd = await ctx.anchors.etcd();
  const puts = etcd?.ok === true ? etcd.summary.put : [];
  const etcdAt = (role: EtcdPut['role'], c: number): EtcdPut | undefined => puts.find((p) => p.role === role && p.connections === c);
  if (etcd !== undefined && etcd !== null && !etcd.ok) problems.push(`etcd anchor: ${etcd.error}`);

  const rows: Row[] = [];
  const ratios: Record<string, number | null> = {};
  for (const c of connections) {
    const e = etcdAt('leader', c);
    for (const via of ['nginx', 'leader'] as const) {
      const r = single[via][c];
      const rr = ratio(r?.per_s, e?.writes_per_s);
      ratios[`creates_${via}${c}_vs_etcd_leader${c}`] = rr;
      rows.push({ metric: `creates/s @${c} via ${via}`, ours: num(r?.per_s), anchor: e === undefined ? '' : `${num(e.writes_per_s)} etcd leader@${c}`, ratio: x(rr) });
      rows.push({ metric: `  p50 / p99 @${c} via ${via}`, ours: `${ms(r?.p50_ms)} / ${ms(r?.p99_ms)}`, anchor: e === undefined ? '' : `${ms(e.p50_ms)} / ${ms(e.p99_ms)}` });
    }
  }
  const ours64 = single.nginx[64];
  const eLeader64 = etcdAt('leader', 64);
  const eFollower64 = etcdAt('follower', 64);
  ratios['creates_nginx64_vs_etcd_follower64'] = ratio(ours64?.per_s, eFollower64?.writes_per_s);
  if (eFollower64 !== undefined) {
    rows.push({ metric: 'creates/s @64 via nginx vs etcd follower@64', ours: num(ours64?.per_s), anchor: `${num(eFollower64.writes_per_s)} (p99 ${ms(eFollower64.p99_ms)})`, ratio: x(ratios['creates_nginx64_vs_etcd_follower64']) });
  }
  const createOk = ours64 === undefined || eLeader64 === undefined ? null
    : ours64.per_s >= 1.5 * eLeader64.writes_per_s && (ours64.p99_ms ?? Infinity) < eLeader64.p99_ms;
  const createTarget = '>= 1.5x etcd leader@64 puts/s, lower p99';
  rows.push({
    metric: 'TARGET creates @64 via nginx', ours: `${num(ours64?.per_s)}/s p99 ${ms(ours64?.p99_ms)}`,
    anchor: eLeader64 === undefined ? '' : `${num(eLeader64.writes_per_s)}/s p99 ${ms(eLeader64.p99_ms)}`,
    ratio: x(ratios['creates_nginx64_vs_etcd_leader64'] ?? null), target: createTarget, verdict: verdict(createOk),
  });
  for (const via of ['nginx', 'leader'] as const) {
    const r = batch[via];
    rows.push({
      metric: `batch ${batchSize} jobs via ${via} (${batchConnections} in flight): jobs/s`, ours: num(r?.per_s),
      target: '>= 100,000 jobs/s', verdict: verdict(r === undefined ? null : r.per_s >= 100_000),
    });
    rows.push({ metric: `  per batch p50 / p99 via ${via}`, ours: `${ms(r?.p50_ms)} / ${ms(r?.p99_ms)}` });
  }
  const batchLb = batch.nginx;
  return {
    bench: 'create',
    figures: { seconds, connections, single, batch: { size: batchSize, in_flight: batchConnections, ...batch } },
    anchors: { etcd: etcd === null ? 'skipped' : etcd.ok ? { put: etcd.summary.put, env: etcd.env } : { error: etcd.error } },
    ratios,
    targets: [
      { name: 'creates @64 via nginx vs etcd', target: createTarget, value: `${num(ours64?.per_s)}/s p99 ${ms(ours64?.p99_ms)} (${x(ratios['creates_nginx64_vs_etcd_leader64'] ?? null)})`, verdict: verdict(createOk) },
      { name: 'batch create', target: '>= 100,000 jobs/s', value: `${num(batchLb?.per_s)} jobs/s via nginx`, verdict: verdict(batchLb === undefined ? null : batchLb.per_s >= 100_000) },
    ],
    rows, problems,
  };
}

/** Lets the last run's entries apply everywhere first, and notes a leader change (the "leader" runs would miss it). */
async function settle(cluster: BenchCluster, leader: NodeHandle, problems: string[]): Promise<void> {
  await cluster.waitReady(60_000);
  const now = await cluster.waitForLeader();
  const note = `leader changed from ${leader.id} to ${now.id}; "via leader" figures after that went to a follower`;
  if (now.id !== leader.id && !problems.includes(note)) problems.push(note);
}
