// npm run bench -- create|fire|failover|scale|store|soak|all [--quick] [--anchors=false] [options]
//
// Each bench starts its own fresh 3-node cluster of dist/main.js (build it first: npm run build) with nginx in front,
// runs its load, stops everything by PID, then runs its anchor (etcd or BullMQ, from a copy of ../shared/anchors in
// /tmp/anchors) and prints one JSON line and a table. Progress goes to stderr.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as create from './create.js';
import * as failover from './failover.js';
import * as fire from './fire.js';
import { Anchors } from './lib/anchors.js';
import { distMain, rootDir, stopAllClusters, useMain } from './lib/cluster.js';
import type { BenchContext, BenchOptions } from './lib/context.js';
import { jsonLine, printOutput, table } from './lib/report.js';
import type { BenchOutput, Row } from './lib/report.js';
import { log } from './lib/stats.js';
import * as scale from './scale.js';
import * as soak from './soak.js';
import * as store from './store.js';

const benches = { create, fire, failover, scale, store, soak } as const;
type BenchName = keyof typeof benches;
/** What `all` runs: the figures. soak is minutes of steady load, run on its own. */
const allBenches: readonly BenchName[] = ['create', 'fire', 'failover', 'scale', 'store'];

const usage = `usage: npm run bench -- <create|fire|failover|scale|store|soak|all> [options]
  (all runs every bench but soak: 10 minutes of steady mixed load that reports whether memory and disk level off)
  --quick                 short runs (3 s loads, 20k jobs for scale, 2 failover rounds, short anchors) to check the harness
  --anchors=false         skip the anchors (etcd, BullMQ)
  --seconds N             seconds of each load run (create 15, fire 10, scale 15, soak 600)
  --connections 16,64,256 connection counts of create
  --rates 100,1000,5000   fires/s of fire (at_least_once; at_most_once runs at 1000)
  --lead MS               fire: ms from the start of the creates to the first fire (default: from the measured create rate)
  --rounds N              failover rounds (10)
  --jobs N                scale and store: jobs to load (1000000; store works on a bare store in this process)
  --batch-size N          jobs per POST /jobs/batch (1000)
  --batch-conns N         batches in flight (create 4, scale 2)
  --snapshot-count N      scale, soak: SNAPSHOT_COUNT of the nodes (default: the node's; scale: 200 with --quick)
  --log-level LEVEL       LOG_LEVEL of the nodes (warn)
  --keep                  keep the nodes' data dirs
  --main PATH             run the nodes from this main.js instead of dist/main.js (e.g. another build)
Environment: BENCH_NODE_ARGS adds node flags to every node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile.
BENCH_NODE_ENV adds NAME=value pairs (space-separated) to every node's environment, e.g. "MALLOC_ARENA_MAX=1".
The nodes run under jemalloc as npm run cluster's do (Debian's libjemalloc2, installed on first use);
ALLOCATOR=glibc runs them on glibc's malloc (cluster/allocator.mjs).
Run it under flock /tmp/sdb-cluster.lock on a shared machine, so no two clusters run at once.`;

function numberOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got "${v}")`);
  return n;
}

function listOpt(v: string | undefined, name: string): number[] | undefined {
  return v === undefined ? undefined : v.split(',').map((s) => numberOpt(s, name) ?? 0);
}

/** Warns when some file under src/ is newer than the build the benches run. */
function warnIfStale(): void {
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const p = join(dir, e.name);
    return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);
  const src = newest(join(rootDir, 'src'));
  const dist = newest(join(rootDir, 'dist'));
  if (src > dist) log(`warning: src/ has changes newer than dist/ (by ${Math.round((src - dist) / 1000)} s); the benches run dist/main.js: npm run build`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      anchors: { type: 'string', default: 'true' },
      seconds: { type: 'string' }, connections: { type: 'string' }, rates: { type: 'string' }, lead: { type: 'string' },
      rounds: { type: 'string' }, jobs: { type: 'string' }, 'batch-size': { type: 'string' }, 'batch-conns': { type: 'string' },
      'snapshot-count': { type: 'string' }, 'log-level': { type: 'string', default: 'warn' }, keep: { type: 'boolean', default: false },
      main: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const which = positionals[0];
  if (values.help || which === undefined || (which !== 'all' && !(which in benches)) || positionals.length > 1) {
    process.stderr.write(`${usage}\n`);
    return values.help ? 0 : 2;
  }
  if (values.anchors !== 'true' && values.anchors !== 'false') throw new Error('--anchors must be true or false');
  const selected = which === 'all' ? [...allBenches] : [which as BenchName];
  const opts: BenchOptions = {
    logLevel: values['log-level'], keep: values.keep,
    ...defined({
      seconds: numberOpt(values.seconds, 'seconds'), rounds: numberOpt(values.rounds, 'rounds'), jobs: numberOpt(values.jobs, 'jobs'),
      connections: listOpt(values.connections, 'connections'), rates: listOpt(values.rates, 'rates'), leadMs: numberOpt(values.lead, 'lead'),
      batchSize: numberOpt(values['batch-size'], 'batch-size'), batchConnections: numberOpt(values['batch-conns'], 'batch-conns'),
      snapshotCount: numberOpt(values['snapshot-count'], 'snapshot-count'),
    }),
  };
  const anchors = new Anchors({
    enabled: values.anchors === 'true', quick: values.quick, etcdPuts: selected.includes('create'),
    etcdFailoverReps: selected.includes('failover') ? opts.rounds ?? (values.quick ? 2 : 10) : 0,
  });
  const ctx: BenchContext = { quick: values.quick, anchors, opts };
  if (values.main !== undefined) useMain(resolve(values.main));
  else warnIfStale();
  log(`dist: ${distMain}; benches: ${selected.join(', ')}${values.quick ? ' (quick)' : ''}; anchors ${anchors.enabled ? 'on' : 'off'}`);

  const outputs: BenchOutput[] = [];
  let failed = 0;
  for (const name of selected) {
    const started = performance.now();
    log(`=== ${name}`);
    try {
      const out = await benches[name].run(ctx);
      outputs.push(out);
      printOutput(out, values.quick);
    } catch (err) {
      failed++;
      log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
      outputs.push({ bench: name, figures: {}, anchors: {}, ratios: {}, targets: [], rows: [], problems: [`failed: ${(err as Error).message}`] });
    }
    log(`=== ${name} took ${Math.round((performance.now() - started) / 1000)} s`);
  }
  if (selected.length > 1) {
    const targets = outputs.flatMap((o) => o.targets.map((t) => ({ bench: o.bench, ...t })));
    const all: BenchOutput = {
      bench: 'all', figures: Object.fromEntries(outputs.map((o) => [o.bench, o.figures])),
      anchors: Object.fromEntries(outputs.map((o) => [o.bench, o.anchors])), ratios: Object.fromEntries(outputs.flatMap((o) => Object.entries(o.ratios).map(([k, v]) => [`${o.bench}.${k}`, v]))),
      targets, rows: [], problems: outputs.flatMap((o) => o.problems.map((p) => `${o.bench}: ${p}`)),
    };
    const rows: Row[] = targets.map((t) => ({ metric: `${t.bench}: ${t.name}`, ours: t.value, target: t.target, verdict: t.verdict }));
    process.stdout.write(`${jsonLine(all, values.quick)}\n\ntargets\n${table(rows)}\n`);
  }
  return failed > 0 ? 1 : 0;
}

function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the clusters`);
    void stopAllClusters().finally(() => process.exit(130));
  });
}

main().then(async (code) => {
  await stopAllClusters();
  process.exit(code);
}, async (err: unknown) => {
  log(`bench: ${(err as Error).message}`);
  await stopAllClusters();
  process.exit(2);
});
