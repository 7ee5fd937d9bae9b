// bench failover: kill -9 of the leader under a steady load of creates (4 connections through nginx) and due fires (a
// recurring job every second, unico jobs due every 100 ms); the time from the kill to the first acknowledged write
// (probe creates sent every 10 ms to each survivor, as etcd's anchor does) and to the first fire sent by another node.
// The killed node is restarted on its data dir before the next round. Anchor: etcd's leader kill -9 to the next put.
import { Agent, request } from 'undici';
import { BenchCluster, get, waitFor } from './lib/cluster.js';
import type { NodeHandle } from './lib/cluster.js';
import type { BenchContext } from './lib/context.js';
import { closedLoop, createInBatches, futureJob, postJson } from './lib/load.js';
import { checkFires, Receiver } from './lib/receiver.js';
import { ms, num, oddStatuses, ratio, verdict, x } from './lib/report.js';
import type { BenchOutput, Row } from './lib/report.js';
import { log, median, r1, sleep, summarize } from './lib/stats.js';

interface Round {
  readonly round: number;
  readonly killed: string;
  readonly new_leader: string | null;
  readonly first_write_ms: number | null;
  readonly first_write_via: string | null;
  readonly first_fire_ms: number | null;
  readonly restart_to_ready_ms: number | null;
  readonly probes_failed: number;
}

const unicoEveryMs = 100;
const unicoWindowMs = 15_000;

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const rounds = ctx.opts.rounds ?? (ctx.quick ? 2 : 10);
  const tag = Date.now().toString(36);
  const problems: string[] = [];
  const results: Round[] = [];
  const expected = new Map<string, number>();
  const receiver = await Receiver.start();
  const cluster = await BenchCluster.start({ logLevel: ctx.opts.logLevel, keep: ctx.opts.keep });
  const stopLoad = new AbortController();
  let background: ReturnType<typeof closedLoop> | null = null;
  let unico: ReturnType<typeof checkFires> | null = null;
  try {
    const tick = await postJson(`${cluster.lbUrl}/jobs`, {
      id: `tick-${tag}`, type: 'recurrente', cron_expression: '* * * * * *', timezone: 'UTC', webhook_url: receiver.url,
    });
    if (tick.status !== 201) throw new Error(`recurring job create answered ${tick.status}: ${JSON.stringify(tick.body)}`);
    background = closedLoop({
      url: cluster.lbUrl, connections: 4, durationMs: Infinity, signal: stopLoad.signal, timeoutMs: 15_000,
      request: (i) => ({ method: 'POST', path: '/jobs', body: JSON.stringify(futureJob(`bg-${tag}-${i}`)) }),
    });
    for (let round = 1; round <= rounds; round++) {
      const leader = await cluster.waitForLeader(30_000);
      await cluster.waitReady(60_000);
      const startMs = Date.now() + 500;
      const count = unicoWindowMs / unicoEveryMs;
      for (let i = 0; i < count; i++) expected.set(`u-${tag}-${round}-${i}@${startMs + i * unicoEveryMs}`, startMs + i * unicoEveryMs);
      await createInBatches(leader.url, count, (i) => ({
        id: `u-${tag}-${round}-${i}`, type: 'unico', timestamp: new Date(startMs + i * unicoEveryMs).toISOString(), webhook_url: receiver.url,
      }), 1000, 1);
      await sleep(1500);
      const r = await killOnce(cluster, leader, receiver, round, tag);
      results.push(r);
      log(`round ${round}: killed ${r.killed}; first write after ${ms(r.first_write_ms)} (via ${r.first_write_via}), first fire by ${r.new_leader} after ${ms(r.first_fire_ms)}; back ready after ${ms(r.restart_to_ready_ms)}`);
    }
    stopLoad.abort();
    const bg = await background;
    background = null;
    const odd = oddStatuses(bg.statuses, ['201']);
    if (odd !== '') problems.push(`background creates through nginx: ${odd} of ${num(bg.requests)} (expected around the kills)`);
    const lastDue = Math.max(...expected.values());
    await sleep(Math.max(0, lastDue + 3000 - Date.now()));
    unico = checkFires(expected, receiver.byFire());
    if (unico.lost + unico.doubled + unico.early > 0) problems.push(`unico fires: lost ${unico.lost}, doubled ${unico.doubled}, early ${unico.early} of ${unico.fires}`);
  } finally {
    stopLoad.abort();
    if (background !== null) await background;
    const logs = cluster.logSummary();
    if (Object.keys(logs).length > 0) problems.push(`node logs: ${JSON.stringify(logs)}`);
    await cluster.stop();
    await receiver.close();
  }
  for (const r of results) {
    if (r.first_write_ms === null) problems.push(`round ${r.round}: no acknowledged write within 30 s`);
    if (r.first_fire_ms === null) problems.push(`round ${r.round}: no fire from a new leader within 30 s`);
  }

  const etcd = await ctx.anchors.etcd();
  if (etcd !== null && !etcd.ok) problems.push(`etcd anchor: ${etcd.error}`);
  const etcdMs = etcd?.ok === true ? etcd.summary.failover_ms.filter((v): v is number => v !== null) : [];
  const etcdMedian = median(etcdMs);
  const etcdMax = etcdMs.length > 0 ? Math.max(...etcdMs) : null;
  const writes = results.map((r) => r.first_write_ms).filter((v): v is number => v !== null);
  const fires = results.map((r) => r.first_fire_ms).filter((v): v is number => v !== null);
  const restarts = results.map((r) => r.restart_to_ready_ms).filter((v): v is number => v !== null);
  const figures = {
    rounds,
    first_write_ms: { median: r1(median(writes)), max: r1(writes.length > 0 ? Math.max(...writes) : null) },
    first_fire_ms: { median: r1(median(fires)), max: r1(fires.length > 0 ? Math.max(...fires) : null) },
    restart_to_ready_ms: { median: r1(median(restarts)), max: r1(restarts.length > 0 ? Math.max(...restarts) : null) },
    unico_fires: unico === null ? null : { fires: unico.fires, lost: unico.lost, doubled: unico.doubled, early: unico.early, lateness_ms: summarize(unico.lateness) },
    per_round: results,
  };
  const ratios = {
    first_write_median_vs_etcd: ratio(figures.first_write_ms.median, etcdMedian),
    first_fire_median_vs_etcd: ratio(figures.first_fire_ms.median, etcdMedian),
  };
  const fireOk = figures.first_fire_ms.median === null ? null : figures.first_fire_ms.median <= 1500;
  const etcdCell = etcd?.ok === true ? `${ms(etcdMedian)} / ${ms(etcdMax)} (etcd, ${etcdMs.length} kills)` : '';
  const rows: Row[] = [
    { metric: `kill -9 leader -> first acked write: median / max of ${writes.length}`, ours: `${ms(figures.first_write_ms.median)} / ${ms(figures.first_write_ms.max)}`, anchor: etcdCell, ratio: x(ratios.first_write_median_vs_etcd) },
    { metric: `kill -9 leader -> first fire by new leader: median / max of ${fires.length}`, ours: `${ms(figures.first_fire_ms.median)} / ${ms(figures.first_fire_ms.max)}`, anchor: etcdCell, ratio: x(ratios.first_fire_median_vs_etcd), target: 'median <= 1.5 s', verdict: verdict(fireOk) },
    { metric: 'killed node restart -> /ready 200: median / max', ours: `${ms(figures.restart_to_ready_ms.median)} / ${ms(figures.restart_to_ready_ms.max)}` },
    { metric: 'unico fires (every 100 ms): lost / doubled / early', ours: unico === null ? '-' : `${unico.lost} / ${unico.doubled} / ${unico.early} of ${num(unico.fires)}` },
    { metric: '  unico fire lateness p50 / p99 / max', ours: figures.unico_fires === null ? '-' : `${ms(figures.unico_fires.lateness_ms.p50)} / ${ms(figures.unico_fires.lateness_ms.p99)} / ${ms(figures.unico_fires.lateness_ms.max)}` },
  ];
  return {
    bench: 'failover', figures,
    anchors: { etcd: etcd === null ? 'skipped' : etcd.ok ? { failover_ms: etcd.summary.failover_ms, median_ms: etcdMedian, max_ms: etcdMax, env: etcd.env } : { error: etcd.error } },
    ratios,
    targets: [{ name: 'first fire after a leader kill', target: 'median <= 1.5 s', value: `median ${ms(figures.first_fire_ms.median)}`, verdict: verdict(fireOk) }],
    rows, problems,
  };
}

/** One round: probes to the survivors, kill -9 of the leader, wait for a write and a fire, restart the node. */
async function killOnce(cluster: BenchCluster, leader: NodeHandle, receiver: Receiver, round: number, tag: string): Promise<Round> {
  const survivors = cluster.running().filter((n) => n.id !== leader.id);
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const pending = new Set<Promise<void>>();
  let seq = 0;
  let killedAt = Infinity;
  let firstOk: { at: number; via: string } | null = null;
  let failed = 0;
  const probe = (node: NodeHandle): void => {
    const sent = performance.now();
    const p = request(`${node.url}/jobs`, {
      method: 'POST', dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000, headers: { 'content-type': 'application/json' },
      body: JSON.stringify(futureJob(`p-${tag}-${round}-${seq++}`, 16)),
    }).then(async (res) => {
      await res.body.dump();
      if (res.statusCode === 201 && sent >= killedAt) {
        const at = performance.now();
        if (firstOk === null || at < firstOk.at) firstOk = { at, via: node.id };
      } else if (res.statusCode !== 201 && sent >= killedAt) failed++;
    }, () => {
      if (sent >= killedAt) failed++;
    }).finally(() => pending.delete(p));
    pending.add(p);
  };
  const timer = setInterval(() => survivors.forEach(probe), 10);
  await sleep(500);
  killedAt = performance.now();
  await cluster.kill(leader, 'SIGKILL');
  const deadline = killedAt + 30_000;
  while ((firstOk === null || receiver.firstSince(killedAt, leader.id) === undefined) && performance.now() < deadline) await sleep(5);
  clearInterval(timer);
  await Promise.all([...pending]);
  await agent.close();
  const fire = receiver.firstSince(killedAt, leader.id);
  const written = firstOk as { at: number; via: string } | null;
  const restartedAt = performance.now();
  cluster.spawn(leader);
  let readyMs: number | null = null;
  try {
    await waitFor(async () => (await get(leader, '/ready')).status === 200, 60_000, `${leader.id} ready after restart`);
    readyMs = r1(performance.now() - restartedAt);
  } catch (_err) {
    // left null: reported as a problem
  }
  return {
    round, killed: leader.id, new_leader: fire?.from ?? null,
    first_write_ms: written === null ? null : r1(written.at - killedAt), first_write_via: written?.via ?? null,
    first_fire_ms: fire === undefined ? null : r1(fire.perf - killedAt), restart_to_ready_ms: readyMs, probes_failed: failed,
  };
}
