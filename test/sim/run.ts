// `npm run sim -- --seeds N [--first S] [--nodes 5]` or `--seed S`: runs seeded simulations and reports violations.
// `npm run sim -- --failover [--seeds N]`: how long 3 nodes go without a leader after its crash, with the node's timing.
import { parseArgs } from 'node:util';
import { failoverTiming, loadedLoopback, slowFollower } from './failover-timing.js';
import { runSeed } from './scenario.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    first: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string', default: '3' },
    'chaos-ms': { type: 'string' },
    failover: { type: 'boolean', default: false },
  },
});

function integer(name: string, raw: string | undefined, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`sim: --${name} must be an integer >= ${min} (got "${raw ?? ''}")\n`);
    process.exit(2);
  }
  return n;
}

const nodes = integer('nodes', values.nodes, 1);
const single = values.seed !== undefined;
const first = single ? integer('seed', values.seed, 0) : integer('first', values.first, 0);
const count = single ? 1 : integer('seeds', values.seeds, 1);
const chaosMs = values['chaos-ms'] === undefined ? undefined : integer('chaos-ms', values['chaos-ms'], 0);

if (values.failover) {
  for (const [name, model] of [['loaded loopback', loadedLoopback], ['a slow survivor', slowFollower]] as const) {
    const t = failoverTiming(first, count, model);
    process.stdout.write(`failover, ${name}: ${count} leader crashes, new leader after p50 ${t.p50} ms, p90 ${t.p90} ms, `
      + `p99 ${t.p99} ms, max ${t.max} ms; ${t.overTwoSeconds} over 2 s; ${t.moreThanOneRound} took more than one election round\n`);
  }
  process.exit(0);
}

let violations = 0;
let commits = 0;
let reads = 0;
for (let seed = first; seed < first + count; seed++) {
  const result = runSeed(seed, { nodes, traceLines: single ? Infinity : 60, ...(chaosMs === undefined ? {} : { chaosMs }) });
  commits += result.commits;
  reads += result.reads;
  if (single) process.stdout.write(`${result.trace}\n`);
  if (result.violation !== null) {
    violations++;
    process.stdout.write(`\nseed ${seed} (${nodes} nodes): ${result.violation}\n`);
    if (!single) process.stdout.write(`${result.trace}\nreproduce: npm run sim -- --seed ${seed} --nodes ${nodes}\n`);
  }
}
process.stdout.write(`${nodes} nodes, ${reads} linearizable reads checked\n`);
process.stdout.write(`sim: ${count} seeds, ${violations} violations, ${commits} commits\n`);
process.exitCode = violations === 0 ? 0 : 1;
