// bench fire: fire lateness (arrival minus scheduled time) at 100, 1,000 and 5,000 fires/s at_least_once, and at
// 1,000/s at_most_once, with fires lost and doubled; the receiver is on loopback in this process.
// Anchor: BullMQ with REDIS_HZ=100 (its best lateness).
//
// Each run creates rate x seconds unico jobs through POST /jobs/batch, due evenly from a lead time that leaves room for
// the creates (estimated from the last measured batch rate), then waits for every fire (at most 12 s after the last is
// due) and until none has arrived for 1.5 s, which also catches doubles. Late ones count as lost.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchCluster, cpuMs } from './lib/cluster.js';
import type { NodeHandle } from './lib/cluster.js';
import type { BenchContext } from './lib/context.js';
import { createInBatches, futureJob } from './lib/load.js';
import { checkFires, Receiver } from './lib/receiver.js';
import { ms, num, ratio, verdict, x } from './lib/report.js';
import type { BenchOutput, Row } from './lib/report.js';
import { log, sleep, summarize } from './lib/stats.js';

type Delivery = 'at_least_once' | 'at_most_once';

interface FireRun {
  readonly rate: number;
  readonly delivery: Delivery;
  readonly seconds: number;
  readonly fires: number;
  readonly received: number;
  readonly lost: number;
  readonly doubled: number;
  readonly early: number;
  readonly min_ms: number | null;
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
  readonly lead_ms: number;
  readonly create_jobs_per_s: number;
  readonly stray: number;
  /** CPU time each node used from the first due fire to the last arrival, per fire, in µs; the leader first. */
  readonly cpu_us_per_fire: Record<string, number>;
}

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const seconds = ctx.opts.seconds ?? (ctx.quick ? 3 : 10);
  const rates = ctx.opts.rates ?? [100, 1000, 5000];
  // at_most_once at 1,000/s right after at_least_once at 1,000/s, before the heavier rates can leave a backlog.
  const plan: { rate: number; delivery: Delivery }[] = [...rates].sort((a, b) => a - b).flatMap((rate) => [
    { rate, delivery: 'at_least_once' as const }, ...(rate === 1000 ? [{ rate, delivery: 'at_most_once' as const }] : []),
  ]);
  if (!rates.includes(1000)) plan.push({ rate: 1000, delivery: 'at_most_once' });
  const tag = Date.now().toString(36);
  const problems: string[] = [];
  const runs: FireRun[] = [];
  const receiver = await Receiver.start();
  const cluster = await BenchCluster.start({ logLevel: ctx.opts.logLevel, keep: ctx.opts.keep });
  try {
    let leader = await cluster.waitForLeader();
    // Warm-up, and a first estimate of how fast jobs are created (to choose the lead time).
    let createRate = await createInBatches(leader.url, ctx.quick ? 3000 : 10_000, (i) => futureJob(`fw-${tag}-${i}`, 16));
    log(`warm-up: ${num(createRate)} jobs/s created through the batch API`);
    for (const [k, p] of plan.entries()) {
      leader = await cluster.waitForLeader();
      await cluster.waitReady();
      await quiet(receiver, 1000, 30_000);
      const total = p.rate * seconds;
      const leadMs = ctx.opts.leadMs ?? Math.round(Math.max(2000, 1500 + (1.5 * total * 1000) / createRate));
      const firstAtMs = Date.now() + leadMs;
      const expected = new Map<string, number>();
      const atOf = (i: number): number => firstAtMs + Math.floor((i * 1000) / p.rate);
      for (let i = 0; i < total; i++) expected.set(`f-${tag}-${k}-${i}@${atOf(i)}`, atOf(i));
      receiver.reset();
      log(`${p.rate} fires/s ${p.delivery} for ${seconds} s: creating ${num(total)} jobs, first due in ${leadMs} ms`);
      createRate = await createInBatches(leader.url, total, (i) => ({
        id: `f-${tag}-${k}-${i}`, type: 'unico', timestamp: new Date(atOf(i)).toISOString(), webhook_url: receiver.url, delivery: p.delivery,
      }));
      if (Date.now() > firstAtMs) problems.push(`${p.rate}/s ${p.delivery}: the jobs were created ${Date.now() - firstAtMs} ms after the first was due (raise --lead)`);
      const lastAtMs = atOf(total - 1);
      await sleep(Math.max(0, firstAtMs - 20 - Date.now()));
      const cpuBefore = cpuOf(cluster, leader);
      // Fires up to 10 s late are still sent (later ones are missed); then until nothing arrives for 1.5 s.
      while (Date.now() < lastAtMs + 12_000 && receiver.distinctFires < total) await sleep(200);
      const cpuAfter = cpuOf(cluster, leader);
      await quiet(receiver, 1500, 30_000);
      const got = receiver.byFire();
      const check = checkFires(expected, got);
      // A kept run keeps every arrival, to see when in the run the late fires came.
      if (ctx.opts.keep === true) writeFileSync(join(cluster.baseDir, `fires-${k}.json`), JSON.stringify(receiver.arrivals));
      const s = summarize(check.lateness);
      const r: FireRun = {
        rate: p.rate, delivery: p.delivery, seconds, fires: total, received: check.received, lost: check.lost, doubled: check.doubled,
        early: check.early, min_ms: check.lateness.reduce<number | null>((m, l) => (m === null || l < m ? l : m), null), p50_ms: s.p50, p99_ms: s.p99, max_ms: s.max, lead_ms: leadMs, create_jobs_per_s: createRate,
        stray: [...got.keys()].filter((id) => !expected.has(id)).length,
        cpu_us_per_fire: Object.fromEntries(Object.entries(cpuAfter).map(([id, after]) => [id, Math.round((after - (cpuBefore[id] ?? 0)) * 1000 / total)])),
      };
      runs.push(r);
      log(`  lateness p50 ${ms(r.p50_ms)} p99 ${ms(r.p99_ms)} max ${ms(r.max_ms)}; lost ${r.lost} doubled ${r.doubled} early ${r.early} of ${num(total)}; CPU µs a fire ${JSON.stringify(r.cpu_us_per_fire)}`);
      if (r.lost + r.doubled + r.early + r.stray > 0) problems.push(`${p.rate}/s ${p.delivery}: lost ${r.lost}, doubled ${r.doubled}, early ${r.early} (earliest ${ms(r.min_ms)}), stray ${r.stray}`);
    }
  } finally {
    const logs = cluster.logSummary();
    if (Object.keys(logs).length > 0) problems.push(`node logs: ${JSON.stringify(logs)}`);
    await cluster.stop();
    await receiver.close();
  }

  const bull = await ctx.anchors.bullmq();
  if (bull !== null && !bull.ok) problems.push(`bullmq anchor: ${bull.error}`);
  const bf = bull?.ok === true ? bull.summary.fire : undefined;
  const bullLabel = bull?.ok === true ? `BullMQ hz ${bull.summary.params.hz}, ${num(bull.summary.params.fire_jobs / bull.summary.params.fire_spread_s)}/s` : '';
  const rows: Row[] = [];
  const ratios: Record<string, number | null> = {};
  for (const r of runs) {
    const name = `${num(r.rate)}/s ${r.delivery}`;
    const key = `${r.rate}_${r.delivery}`;
    ratios[`p99_${key}_vs_bullmq`] = ratio(r.p99_ms, bf?.lateness_p99_ms);
    const isTarget = r.rate === 1000 && r.delivery === 'at_least_once';
    rows.push({
      metric: `${name}: lateness p50 / p99 / max`, ours: `${ms(r.p50_ms)} / ${ms(r.p99_ms)} / ${ms(r.max_ms)}`,
      anchor: bf === undefined ? '' : `${ms(bf.lateness_p50_ms)} / ${ms(bf.lateness_p99_ms)} / ${ms(bf.lateness_max_ms)} (${bullLabel})`,
      ratio: x(ratios[`p99_${key}_vs_bullmq`] ?? null),
      ...(isTarget ? { target: 'p99 <= 10 ms, 0 lost/doubled', verdict: verdict(r.p99_ms !== null && r.p99_ms <= 10 && r.lost === 0 && r.doubled === 0) } : {}),
    });
    rows.push({
      metric: `  ${name}: lost / doubled of fires`, ours: `${r.lost} / ${r.doubled} of ${num(r.fires)}`,
      anchor: bf === undefined ? '' : `${bf.missing} / ${bf.duplicated} of ${num(bull?.ok === true ? bull.summary.params.fire_jobs : 0)}`,
    });
  }
  const t = runs.find((r) => r.rate === 1000 && r.delivery === 'at_least_once');
  return {
    bench: 'fire',
    figures: { seconds, runs },
    anchors: { bullmq: bull === null ? 'skipped' : bull.ok ? { fire: bull.summary.fire, add: bull.summary.add, params: bull.summary.params, env: bull.env } : { error: bull.error } },
    ratios,
    targets: [{
      name: 'fire lateness @1,000/s at_least_once', target: 'p99 <= 10 ms, 0 lost/doubled',
      value: t === undefined ? '-' : `p99 ${ms(t.p99_ms)}, lost ${t.lost}, doubled ${t.doubled}`,
      verdict: verdict(t === undefined ? null : t.p99_ms !== null && t.p99_ms <= 10 && t.lost === 0 && t.doubled === 0),
    }],
    rows, problems,
  };
}

/** CPU ms used so far by each running node, the leader's key marked. */
function cpuOf(cluster: BenchCluster, leader: NodeHandle): Record<string, number> {
  return Object.fromEntries(cluster.running().map((n) => [n === leader ? `${n.id} (leader)` : n.id, cpuMs(cluster.pid(n))]));
}

/** Waits until no fire has arrived for `forMs` (at most `maxMs`), so one run's late fires do not land in the next. */
async function quiet(receiver: Receiver, forMs: number, maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (performance.now() < deadline && performance.now() - (receiver.arrivals.at(-1)?.perf ?? 0) < forMs) await sleep(100);
}
