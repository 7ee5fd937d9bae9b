// bench scale: 1,000,000 jobs (--jobs) loaded through POST /jobs/batch, then: leader and follower RSS, bytes on disk
// per node, create latency at that size, restart-to-ready of a follower after kill -9, and the time a new empty node
// takes to join (JOIN=<leader URL>) and catch up by snapshot (its applied index reaching the leader's commit index);
// and a state check at that size (POST /cluster/check-state: every member digests its whole store).
import { BenchCluster, get, rssBytes, rssParts, waitFor } from './lib/cluster.js';
import type { NodeHandle } from './lib/cluster.js';
import type { BenchContext } from './lib/context.js';
import { closedLoop, createInBatches, futureJob, postJson } from './lib/load.js';
import type { LoadResult } from './lib/load.js';
import { mib, ms, num, oddStatuses, verdict } from './lib/report.js';
import type { BenchOutput, Row } from './lib/report.js';
import { log, r1, sleep } from './lib/stats.js';

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const jobs = ctx.opts.jobs ?? (ctx.quick ? 20_000 : 1_000_000);
  const seconds = ctx.opts.seconds ?? (ctx.quick ? 3 : 15);
  const batchSize = ctx.opts.batchSize ?? 1000;
  const inFlight = ctx.opts.batchConnections ?? 2;
  // A quick run has too few entries to reach the default SNAPSHOT_COUNT (10,000); the join must go by snapshot.
  const snapshotCount = ctx.opts.snapshotCount ?? (ctx.quick ? 200 : undefined);
  const tag = Date.now().toString(36);
  const problems: string[] = [];
  const figures: Record<string, unknown> = { jobs, batch_size: batchSize, in_flight: inFlight, snapshot_count: snapshotCount ?? 'default' };
  const cluster = await BenchCluster.start({
    logLevel: ctx.opts.logLevel, keep: ctx.opts.keep, ...(snapshotCount === undefined ? {} : { env: { SNAPSHOT_COUNT: String(snapshotCount) } }),
  });
  const peakRss = new Map<string, number>();
  // The same peaks by phase, so a peak can be put down to what ran then.
  let phase = 'load';
  const phasePeaks = new Map<string, Map<string, number>>();
  const sampler = setInterval(() => {
    for (const n of cluster.running()) {
      try {
        const bytes = rssBytes(cluster.pid(n));
        peakRss.set(n.id, Math.max(peakRss.get(n.id) ?? 0, bytes));
        const peaks = phasePeaks.get(phase) ?? new Map<string, number>();
        phasePeaks.set(phase, peaks);
        peaks.set(n.id, Math.max(peaks.get(n.id) ?? 0, bytes));
      } catch (_err) {
        // exited between the two calls
      }
    }
  }, 500);
  let leaderRss = NaN;
  let restartMs: number | null = null;
  let latency: LoadResult | null = null;
  let join: Record<string, number | boolean | null> | null = null;
  let check: { status: string; duration_ms: number | null; records: number | null } | null = null;
  try {
    let leader = await cluster.waitForLeader();
    const rssBefore = Object.fromEntries(cluster.running().map((n) => [n.id, rssBytes(cluster.pid(n))]));
    log(`loading ${num(jobs)} jobs: batches of ${batchSize}, ${inFlight} in flight, straight to the leader ${leader.id}`);
    const loadStarted = performance.now();
    let shown = 0;
    const loadRate = await createInBatches(leader.url, jobs, (i) => futureJob(`s-${tag}-${i}`, 200, Date.UTC(2035, 0, 1) + i * 1000),
      batchSize, inFlight, (done) => {
        if (done >= shown + jobs / 10) {
          shown = done;
          log(`  ${num(done)} jobs, ${num(done / ((performance.now() - loadStarted) / 1000))} jobs/s`);
        }
      });
    const loadedS = (performance.now() - loadStarted) / 1000;
    await cluster.waitReady(600_000);
    const appliedS = (performance.now() - loadStarted) / 1000;
    leader = await cluster.waitForLeader();
    await sleep(2000);
    const followers = cluster.running().filter((n) => n.id !== leader.id);
    const rss = Object.fromEntries(cluster.running().map((n) => [n.id, rssBytes(cluster.pid(n))]));
    leaderRss = rss[leader.id] ?? NaN;
    const disk = Object.fromEntries(cluster.nodes.map((n) => [n.id, cluster.diskBytes(n)]));
    const dbg = await cluster.debug(leader);
    const memory: Record<string, unknown> = {};
    for (const n of cluster.running()) memory[n.id] = { ...(await cluster.debug(n)).memory, ...rssParts(cluster.pid(n)) };
    Object.assign(figures, {
      load_jobs_per_s: loadRate, load_s: r1(loadedS), load_to_all_applied_s: r1(appliedS), leader: leader.id,
      job_count: dbg.job_count, rss_bytes_before: rssBefore, rss_bytes: rss, memory_after_load: memory, disk_bytes: disk,
    });
    log(`loaded in ${r1(loadedS)} s (${num(loadRate)} jobs/s), applied everywhere after ${r1(appliedS)} s; job_count ${num(dbg.job_count)}; leader RSS ${mib(leaderRss)}`);
    if (dbg.job_count < jobs) problems.push(`leader job_count ${dbg.job_count} < ${jobs} loaded`);

    phase = 'creates at size';
    latency = await closedLoop({
      url: cluster.lbUrl, connections: 64, durationMs: seconds * 1000,
      request: (i) => ({ method: 'POST', path: '/jobs', body: JSON.stringify(futureJob(`sl-${tag}-${i}`)) }),
    });
    log(`creates @64 via nginx at ${num(jobs)} jobs: ${num(latency.per_s)}/s p50 ${ms(latency.p50_ms)} p99 ${ms(latency.p99_ms)}`);
    const odd = oddStatuses(latency.statuses, ['201']);
    if (odd !== '') problems.push(`creates at size: ${odd}`);
    await cluster.waitReady(120_000);

    phase = 'state check';
    const checked = await postJson(`${leader.url}/cluster/check-state`, {}, 120_000);
    const answer = checked.body as { status?: string; duration_ms?: number; members?: { records?: number }[] };
    check = { status: answer.status ?? `HTTP ${checked.status}`, duration_ms: answer.duration_ms ?? null, records: answer.members?.[0]?.records ?? null };
    figures['state_check'] = checked.body;
    log(`state check at ${num(jobs)} jobs: ${check.status} in ${ms(check.duration_ms)}, ${num(check.records)} records per member`);
    if (check.status !== 'consistent') problems.push(`state check at size: ${JSON.stringify(checked.body)}`);
    await cluster.waitReady(120_000);

    const victim = followers[0];
    if (victim === undefined) throw new Error('no follower');
    phase = 'restart';
    const killedAt = performance.now();
    await cluster.kill(victim, 'SIGKILL');
    const spawnedAt = performance.now();
    cluster.spawn(victim);
    await waitFor(async () => (await get(victim, '/ready')).status === 200, 300_000, `${victim.id} ready after restart`);
    restartMs = r1(performance.now() - killedAt);
    figures['restart'] = { node: victim.id, kill_to_ready_ms: restartMs, spawn_to_ready_ms: r1(performance.now() - spawnedAt) };
    log(`restart of ${victim.id}: /ready 200 ${ms(restartMs)} after kill -9`);

    leader = await cluster.waitForLeader();
    phase = 'join';
    join = await joinNode(cluster, leader, tag, problems);
    figures['join'] = join;
    figures['disk_bytes_after_join'] = Object.fromEntries(cluster.nodes.map((n) => [n.id, cluster.diskBytes(n)]));
  } finally {
    clearInterval(sampler);
    figures['peak_rss_bytes'] = Object.fromEntries(peakRss);
    figures['peak_rss_bytes_by_phase'] = Object.fromEntries([...phasePeaks].map(([name, peaks]) => [name, Object.fromEntries(peaks)]));
    const logs = cluster.logSummary();
    if (Object.keys(logs).length > 0) problems.push(`node logs: ${JSON.stringify(logs)}`);
    await cluster.stop();
  }
  figures['create_at_size'] = latency;

  const rss = figures['rss_bytes'] as Record<string, number> | undefined;
  const disk = figures['disk_bytes'] as Record<string, { total: number }> | undefined;
  const leaderId = figures['leader'] as string | undefined;
  const rows: Row[] = [
    { metric: `load ${num(jobs)} jobs via batch API (${batchSize}/batch): jobs/s`, ours: num(figures['load_jobs_per_s'] as number) },
    { metric: 'leader RSS after load', ours: mib(leaderRss), target: '< 400 MB', verdict: verdict(Number.isFinite(leaderRss) ? leaderRss < 400e6 : null) },
    { metric: 'follower RSS after load', ours: Object.entries(rss ?? {}).filter(([id]) => id !== leaderId).map(([id, b]) => `${id} ${mib(b)}`).join(', ') },
    { metric: 'peak RSS during the bench', ours: [...peakRss].map(([id, b]) => `${id} ${mib(b)}`).join(', ') },
    ...[...phasePeaks].map(([name, peaks]): Row => ({ metric: `  during ${name}`, ours: [...peaks].map(([id, b]) => `${id} ${mib(b)}`).join(', ') })),
    { metric: 'bytes on disk per node', ours: Object.entries(disk ?? {}).map(([id, d]) => `${id} ${mib(d.total)}`).join(', ') },
    { metric: `creates @64 via nginx at size: creates/s`, ours: num(latency?.per_s) },
    { metric: '  p50 / p99', ours: `${ms(latency?.p50_ms)} / ${ms(latency?.p99_ms)}` },
    { metric: 'state check (every member digests its store)', ours: `${check?.status ?? '-'} in ${ms(check?.duration_ms)}` },
    { metric: 'follower kill -9 -> /ready 200', ours: ms(restartMs), target: '< 10 s', verdict: verdict(restartMs === null ? null : restartMs < 10_000) },
    { metric: 'new node: start -> caught up (applied >= leader commit)', ours: ms(join?.['catch_up_ms'] as number | null | undefined) },
    { metric: '  by snapshot / start -> voter', ours: `${join?.['by_snapshot'] === true ? 'yes' : 'no'} / ${ms(join?.['voter_ms'] as number | null | undefined)}${join?.['voter_after_a_write'] === true ? ' (after a nudge write)' : ''}` },
  ];
  return {
    bench: 'scale', figures, anchors: {}, ratios: {},
    targets: [
      { name: `leader RSS at ${num(jobs)} jobs`, target: '< 400 MB', value: mib(leaderRss), verdict: verdict(Number.isFinite(leaderRss) ? leaderRss < 400e6 : null) },
      { name: `restart-to-ready at ${num(jobs)} jobs`, target: '< 10 s', value: ms(restartMs), verdict: verdict(restartMs === null ? null : restartMs < 10_000) },
    ],
    rows, problems,
  };
}

/**
 * Starts an empty node that joins through the leader, after making sure the leader has compacted its log behind a
 * snapshot (with filler creates if it has not yet), and times it until its applied index reaches the leader's commit.
 */
async function joinNode(cluster: BenchCluster, leader: NodeHandle, tag: string, problems: string[]): Promise<Record<string, number | boolean | null>> {
  let filler = 0;
  if ((await cluster.debug(leader)).snapshot_index === 0) {
    log('the leader has no snapshot yet: filler creates until it compacts');
    const stop = new AbortController();
    const load = closedLoop({
      url: leader.url, connections: 64, durationMs: 180_000, signal: stop.signal,
      request: (i) => ({ method: 'POST', path: '/jobs', body: JSON.stringify(futureJob(`sf-${tag}-${i}`, 16)) }),
    });
    await waitFor(async () => (await cluster.debug(leader)).snapshot_index > 0, 180_000, 'a snapshot on the leader').catch((err: unknown) => {
      problems.push(`join: ${(err as Error).message}`);
    });
    stop.abort();
    filler = (await load).ok;
    await cluster.waitReady(120_000);
  }
  const before = await cluster.debug(leader);
  const target = before.commit_index;
  const startedAt = performance.now();
  const joiner = await cluster.spawnJoiner('n4', leader.url);
  log(`join: n4 started with JOIN=${leader.url}; leader commit ${target}, snapshot ${before.snapshot_index}`);
  const quickish = target < 5000;
  let caughtUp: number | null = null;
  let bySnapshot = false;
  await waitFor(async () => {
    const d = await cluster.debug(joiner);
    if (d.applied_index < target) return false;
    caughtUp = r1(performance.now() - startedAt);
    bySnapshot = d.snapshot_index > 0;
    return true;
  }, quickish ? 120_000 : 600_000, 'n4 to catch up').catch((err: unknown) => {
    problems.push(`join: ${(err as Error).message}`);
  });
  // Then its promotion from learner to voter, as the leader of the moment sees it; if none comes within 30 s, one
  // write, in case promotion waits for a commit.
  let voter: number | null = null;
  let nudged = false;
  const isVoter = async (): Promise<boolean> => {
    const l = await cluster.debug(await cluster.waitForLeader(5000));
    if (!l.peers.some((p) => p.id === 'n4' && p.voter)) return false;
    voter = r1(performance.now() - startedAt);
    return true;
  };
  await waitFor(isVoter, 30_000, 'n4 to become a voter').catch(async (err: unknown) => {
    const l = await cluster.debug(leader).catch(() => null);
    const d = await cluster.debug(joiner).catch(() => null);
    problems.push(`join: ${(err as Error).message}; ${leader.id} sees ${JSON.stringify(l?.peers.find((p) => p.id === 'n4'))} `
      + `(role ${l?.role}, commit ${l?.commit_index}); n4: role ${d?.role}, applied ${d?.applied_index}, commit ${d?.commit_index}, leader ${d?.leader_id}`);
    nudged = true;
    const w = await postJson(`${cluster.lbUrl}/jobs`, futureJob(`nudge-${tag}`));
    const promoted = await waitFor(isVoter, 10_000, 'n4 to become a voter after one write').then(() => true, () => false);
    problems.push(`join: one write (status ${w.status}) then n4 ${promoted ? 'became a voter' : 'was still a learner 10 s later'}`);
  });
  if (!bySnapshot) problems.push('join: n4 caught up without a snapshot (log replay)');
  log(`join: caught up after ${ms(caughtUp)} (by snapshot: ${bySnapshot}), voter after ${ms(voter)}`);
  return {
    leader_commit_index: target, leader_snapshot_index: before.snapshot_index, filler_creates: filler, catch_up_ms: caughtUp, voter_ms: voter,
    voter_after_a_write: nudged, by_snapshot: bySnapshot,
  };
}
