// One fault run: a fresh 3-node cluster behind the proxy mesh, load and due fires, a nemesis of the chosen kinds,
// then everything healed, a quiet period, the final state gathered from every node, and every check.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { NodeHandle } from '../cluster/process-cluster.js';
import { waitFor } from '../cluster/process-cluster.js';
import {
  checkConvergence, checkCrashes, checkStateDigests, checkFinalStates, checkFires, checkLeaderOnly, checkLinearizability, type FireStats,
  maxUnavailabilityMs, opCounts, type Violation,
} from './checks.js';
import { nowMs, sleep } from './clock.js';
import { FaultCluster, writeRunFile } from './fault-cluster.js';
import { FireLoad } from './fire-load.js';
import { excuseStalePatch404, versionOf } from './history.js';
import { call, getJson } from './http.js';
import type { JobVersion } from './linearizability.js';
import { type FaultKind, Nemesis } from './nemesis.js';
import { Nginx } from './nginx.js';
import { HealthObserver } from './observer.js';
import { Rng } from './random.js';
import { type Target, Workload } from './workload.js';

export interface ScenarioOptions {
  readonly name: string;
  readonly kinds: readonly FaultKind[];
  readonly seed: number;
  /** How long the nemesis runs. */
  readonly faultMs: number;
  readonly nginx: boolean;
  readonly clients: number;
  /** Keep the run directory (logs, history, verdicts) even when every check passes. */
  readonly keep: boolean;
  /** Known product bugs to look past (see history.ts), so a run can find others; none by default. */
  readonly excuse?: readonly KnownBug[];
  readonly log: (line: string) => void;
}

export const knownBugs = ['stale-patch-404'] as const;
export type KnownBug = typeof knownBugs[number];

export interface ScenarioResult {
  readonly name: string;
  readonly seed: number;
  readonly ops: { ok: number; fail: number; unknown: number };
  readonly fires: FireStats;
  readonly violations: Violation[];
  readonly inconclusiveKeys: string[];
  readonly crashes: number;
  readonly maxUnavailabilityMs: number;
  readonly faults: number;
  readonly runDir: string;
}

/**
 * Node settings for a fault run: 1 s slots so fires come near fast; a snapshot every 200 to 300 entries, so a run
 * compacts every node's log many times and a node killed, paused or cut off catches up by snapshot.
 */
const nodeEnv = {
  SLOT_GAP: '1s', SNAPSHOT_COUNT: '200', EXECUTIONS_PER_JOB: '1000', LOG_LEVEL: 'info',
  ELECTION_TIMEOUT: '1s', HEARTBEAT_INTERVAL: '100ms',
};
const electionTimeoutMs = 1000;
const clientTimeoutMs = 6000;
/** In-flight time allowed for a request sent just before a delete or a new leader's election. */
const slackMs = 100;

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { seed, log } = options;
  const rng = new Rng(seed);
  const runDir = join(tmpdir(), `sdb-faults-${options.name}-${seed}-${process.pid}`);
  rmSync(runDir, { recursive: true, force: true });
  log(`${options.name}: seed ${seed}, ${options.faultMs} ms of ${options.kinds.join(', ')}; logs in ${runDir}`);
  const flakyRng = rng.fork('flaky');
  const cluster = await FaultCluster.start({ size: 3, env: nodeEnv, runDir, random: () => flakyRng.next() });
  let nginx: Nginx | null = null;
  let fireLoad: FireLoad | null = null;
  const observer = new HealthObserver(cluster.nodes);
  try {
    if (options.nginx && Nginx.available()) nginx = await Nginx.start(cluster.nodes.map((n) => n.httpPort), runDir);
    const targetsOf = (): Target[] => [
      ...cluster.nodes.map((n) => ({ name: n.id, url: n.url })), ...(nginx === null ? [] : [{ name: 'nginx', url: nginx.url }]),
    ];
    const prefix = `s${seed}`;
    const leader = await leaderOf(cluster);
    const startMs = nowMs();
    fireLoad = await FireLoad.start({
      rng: rng.fork('fires'), prefix, fromMs: startMs + 2500, untilMs: startMs + options.faultMs + 1000,
      unicoCount: Math.max(10, Math.round(options.faultMs / 1000 * 3)), deleteShare: 0.2, timeoutMs: clientTimeoutMs,
    });
    await fireLoad.setup({ name: leader.id, url: leader.url });
    const workload = new Workload({
      targets: targetsOf, clients: options.clients, rng: rng.fork('workload'), prefix, activeKeys: 8, opsPerKey: 40,
      unknownWritesPerKey: 3, timeoutMs: clientTimeoutMs, thinkMs: [5, 40],
    });
    workload.start();
    fireLoad.scheduleDeletes(targetsOf);
    const nemesis = new Nemesis(cluster, {
      rng: rng.fork('nemesis'), holdMs: [2000, 5000], calmMs: [1000, 2000], electionTimeoutMs, log,
    });
    await sleep(1000);
    await nemesis.run(options.kinds, options.faultMs);
    const healedMs = nowMs();
    log(`  healed; load goes on 2 s, then quiet`);
    await sleep(2000);
    await workload.stop();

    // Quiet: a leader every node follows, the last unico fire due long enough ago, then the recurring jobs end.
    await waitForStableLeader(cluster, 30_000);
    const lastDueMs = Math.max(...fireLoad.jobs.map((j) => (j.schedule.kind === 'unico' ? j.schedule.atMs : 0)));
    await sleep(lastDueMs + 3000 - nowMs());
    const executionsVia = await leaderOf(cluster);
    const executions = await fireLoad.executions({ name: executionsVia.id, url: executionsVia.url });
    await fireLoad.finish(() => ({ name: executionsVia.id, url: executionsVia.url }));
    await sleep(1500);
    const untilMs = nowMs();
    const receipts = fireLoad.receipts();
    await waitForConvergedIndex(cluster, 20_000).catch(() => undefined);
    const finals = await finalVersions(cluster, workload.keys);
    const applied = await appliedIndexes(cluster);
    const jobLists = await allJobLists(cluster);
    const stateCheck = await checkState(await leaderOf(cluster));
    await observer.stop();

    const ops = options.excuse?.includes('stale-patch-404') ? workload.ops.map(excuseStalePatch404) : workload.ops;
    const linear = checkLinearizability(ops, 20_000);
    const fires = checkFires(fireLoad.jobs, receipts, executions, { untilMs, endMarginMs: 2000, slackMs, earlyMs: 20 });
    const logs = new Map(cluster.nodes.map((n) => [n.id, cluster.log(n)]));
    const violations = [
      ...checkFinalStates(ops, finals),
      ...checkConvergence(applied, jobLists),
      ...checkStateDigests(stateCheck),
      ...linear.violations,
      ...fires.violations,
      ...checkLeaderOnly(observer.samples, receipts, slackMs),
      ...checkCrashes(cluster.exits, logs),
    ];
    const result: ScenarioResult = {
      name: options.name, seed, ops: opCounts(workload.ops), fires: fires.stats, violations, inconclusiveKeys: linear.inconclusive,
      crashes: cluster.crashes().length, maxUnavailabilityMs: maxUnavailabilityMs(workload.ops, workload.startedAtMs, healedMs),
      faults: nemesis.events.length, runDir,
    };
    writeRunFile(runDir, 'history.jsonl', workload.ops.map((o) => JSON.stringify(o)).join('\n'));
    writeRunFile(runDir, 'fires.jsonl', receipts.map((r) => JSON.stringify(r)).join('\n'));
    writeRunFile(runDir, 'fire-jobs.json', JSON.stringify({ jobs: fireLoad.jobs, executions: Object.fromEntries(executions) }, null, 1));
    writeRunFile(runDir, 'faults.json', JSON.stringify(nemesis.events, null, 1));
    writeRunFile(runDir, 'health.jsonl', observer.samples.map((s) => JSON.stringify(s)).join('\n'));
    writeRunFile(runDir, 'verdicts.txt', violations.map((v) => `[${v.check}] ${v.message}`).join('\n'));
    return result;
  } finally {
    await observer.stop();
    await fireLoad?.close();
    await nginx?.stop();
    await cluster.close();
  }
}

/** Deletes a passing run's directory unless asked to keep it. */
export function tidyRun(result: ScenarioResult, keep: boolean): void {
  if (!keep && result.violations.length === 0) rmSync(result.runDir, { recursive: true, force: true });
}

async function health(node: NodeHandle): Promise<{ role: string; leader: string | null; term: number } | null> {
  try {
    return await getJson(node.url, '/health', 1000) as { role: string; leader: string | null; term: number };
  } catch (_err) {
    return null;
  }
}

async function leaderOf(cluster: FaultCluster): Promise<NodeHandle> {
  let found: NodeHandle | null = null;
  await waitFor(async () => {
    for (const node of cluster.live()) if ((await health(node))?.role === 'leader') found = node;
    return found !== null;
  }, 30_000, 'a leader');
  return found as unknown as NodeHandle;
}

/** Every node up, following one leader of one term. */
async function waitForStableLeader(cluster: FaultCluster, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    const views = await Promise.all(cluster.nodes.map(health));
    const first = views[0];
    return first !== null && first !== undefined && first.leader !== null
      && views.every((v) => v !== null && v.leader === first.leader && v.term === first.term);
  }, timeoutMs, 'every node to follow one leader');
}

/** The cluster's state check through `via`, or why it did not answer. */
async function checkState(via: NodeHandle): Promise<{ status?: unknown; members?: unknown } | string> {
  const answer = await call(via.url, 'POST', '/cluster/check-state', undefined, 70_000);
  if ('error' in answer) return answer.error;
  if (answer.status !== 200) return `${answer.status} ${JSON.stringify(answer.body)}`;
  return answer.body as { status?: unknown; members?: unknown };
}

async function appliedIndexes(cluster: FaultCluster): Promise<Map<string, number | undefined>> {
  const out = new Map<string, number | undefined>();
  for (const node of cluster.nodes) {
    try {
      out.set(node.id, (await getJson(node.url, '/debug/cluster') as { applied_index: number }).applied_index);
    } catch (_err) {
      out.set(node.id, undefined);
    }
  }
  return out;
}

async function waitForConvergedIndex(cluster: FaultCluster, timeoutMs: number): Promise<void> {
  await waitFor(async () => new Set((await appliedIndexes(cluster)).values()).size === 1, timeoutMs, 'equal applied indexes');
}

/** Each node's local view of each job: its version, null when absent, undefined when the node did not answer. */
async function finalVersions(cluster: FaultCluster, keys: readonly string[]): Promise<Map<string, Map<string, JobVersion | undefined>>> {
  const out = new Map<string, Map<string, JobVersion | undefined>>();
  for (const key of keys) {
    const perNode = new Map<string, JobVersion | undefined>();
    for (const node of cluster.nodes) {
      const answer = await call(node.url, 'GET', `/jobs/${key}`, undefined, 5000);
      perNode.set(node.id, 'status' in answer && answer.status === 200 ? versionOf(answer.body)
        : 'status' in answer && answer.status === 404 ? null : undefined);
    }
    out.set(key, perNode);
  }
  return out;
}

async function allJobLists(cluster: FaultCluster): Promise<Map<string, { id: string }[] | undefined>> {
  const out = new Map<string, { id: string }[] | undefined>();
  for (const node of cluster.nodes) {
    try {
      const jobs: { id: string }[] = [];
      let cursor: string | null = null;
      do {
        const page = await getJson(node.url, `/jobs?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`) as
          { jobs: { id: string }[]; next_cursor: string | null };
        jobs.push(...page.jobs);
        cursor = page.next_cursor;
      } while (cursor !== null);
      out.set(node.id, jobs);
    } catch (_err) {
      out.set(node.id, undefined);
    }
  }
  return out;
}

