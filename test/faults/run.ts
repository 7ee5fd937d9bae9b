// npm run faults -- --duration 120 --seed S: one fault run per fault kind on real node processes, a table per kind,
// and a final line; exit 1 when any check failed. Run it under `flock /tmp/sdb-cluster.lock` on a shared machine.
import { parseArgs } from 'node:util';
import type { ScenarioResult } from './scenario.js';
import { type KnownBug, knownBugs, runScenario, tidyRun } from './scenario.js';
import { type FaultKind, faultKinds, isFaultKind } from './nemesis.js';
import { randomSeed } from './random.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    seed: { type: 'string' },
    kinds: { type: 'string', default: faultKinds.join(',') },
    runs: { type: 'string', default: '1' },
    clients: { type: 'string', default: '6' },
    'no-nginx': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    excuse: { type: 'string', default: '' },
  },
});

const kinds = (values.kinds ?? '').split(',').filter((k) => k !== '');
const unknownKinds = kinds.filter((k) => !isFaultKind(k));
if (unknownKinds.length > 0 || kinds.length === 0) {
  process.stderr.write(`unknown fault kinds: ${unknownKinds.join(', ')}; known: ${faultKinds.join(', ')}\n`);
  process.exit(2);
}
const excuse = (values.excuse ?? '').split(',').filter((b) => b !== '');
if (excuse.some((b) => !(knownBugs as readonly string[]).includes(b))) {
  process.stderr.write(`--excuse takes known bugs: ${knownBugs.join(', ')}\n`);
  process.exit(2);
}
const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
const runsPerKind = Number(values.runs);
const durationS = Number(values.duration);
if (!Number.isInteger(seed) || !Number.isInteger(runsPerKind) || runsPerKind < 1 || !(durationS > 0)) {
  process.stderr.write('--seed and --runs take integers, --duration a positive number of seconds\n');
  process.exit(2);
}
// The duration is shared out among the runs; a run shorter than this sees too few faults to mean much.
const faultMs = Math.max(6000, Math.round(durationS * 1000 / (kinds.length * runsPerKind)));
const log = (line: string): void => void process.stdout.write(`${line}\n`);
log(`faults: seed ${seed}, ${kinds.length} kinds x ${runsPerKind} runs, ${faultMs} ms of faults each`
  + `${excuse.length > 0 ? `; excusing known bugs: ${excuse.join(', ')}` : ''}`);

const results: { kind: FaultKind; result: ScenarioResult }[] = [];
let index = 0;
for (const kind of kinds as FaultKind[]) {
  for (let run = 0; run < runsPerKind; run++) {
    const runSeed = seed + index++;
    const result = await runScenario({
      name: kind, kinds: [kind], seed: runSeed, faultMs, nginx: !values['no-nginx'], clients: Number(values.clients), keep: values.keep ?? false, log,
      excuse: excuse as KnownBug[],
    });
    results.push({ kind, result });
    log(`  ${kind} seed ${runSeed}: ${result.ops.ok + result.ops.fail + result.ops.unknown} ops, ${result.fires.fires} fires, `
      + `${result.violations.length} violations${result.violations.length > 0 ? ` (kept ${result.runDir})` : ''}`);
    for (const v of result.violations.slice(0, 20)) log(`    [${v.check}] ${v.message}`);
    tidyRun(result, values.keep ?? false);
  }
}

const lin = (r: ScenarioResult): number => r.violations.filter((v) => v.check === 'linearizable').length;
const rows = kinds.map((kind) => {
  const mine = results.filter((r) => r.kind === kind).map((r) => r.result);
  const sum = (f: (r: ScenarioResult) => number): number => mine.reduce((s, r) => s + f(r), 0);
  return [
    kind, String(mine.length), `${sum((r) => r.ops.ok)}/${sum((r) => r.ops.fail)}/${sum((r) => r.ops.unknown)}`, String(sum((r) => r.fires.fires)),
    String(sum((r) => r.fires.lost)), String(sum((r) => r.fires.amoDups)), String(sum((r) => r.fires.dups)), String(sum(lin)),
    String(sum((r) => r.crashes)), `${Math.max(...mine.map((r) => r.maxUnavailabilityMs))} ms`, String(sum((r) => r.violations.length)),
  ];
});
const header = ['fault', 'runs', 'ops ok/fail/unk', 'fires', 'lost', 'amo dups', 'dups', 'non-lin', 'crashes', 'max unavail', 'violations'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
log('');
log(line(header));
for (const row of rows) log(line(row));

const failed = results.filter((r) => r.result.violations.length > 0);
if (failed.length > 0) {
  log('');
  log('failing runs:');
  for (const { kind, result } of failed) {
    const checks = [...new Set(result.violations.map((v) => v.check))].join(', ');
    log(`  ${kind} seed ${result.seed}: ${checks}; evidence in ${result.runDir}; again: `
      + `flock /tmp/sdb-cluster.lock npm run faults -- --kinds ${kind} --seed ${result.seed} --duration ${faultMs / 1000}${excuse.length > 0 ? ` --excuse ${excuse.join(',')}` : ''}`);
  }
}
const inconclusive = results.flatMap((r) => r.result.inconclusiveKeys);
if (inconclusive.length > 0) log(`linearizability search gave up (inconclusive) on ${inconclusive.length} keys: ${inconclusive.slice(0, 10).join(', ')}`);

const total = (f: (r: ScenarioResult) => number): number => results.reduce((s, r) => s + f(r.result), 0);
log(`faults: ${results.length} runs, ${total((r) => r.ops.ok + r.ops.fail + r.ops.unknown)} ops, ${total((r) => r.fires.lost)} lost, `
  + `${total((r) => r.fires.amoDups)} amo-dups, ${total(lin)} non-linearizable, ${total((r) => r.crashes)} crashes`);
// Exit once both streams are flushed: a plain process.exit() cuts a piped stdout short (the final line included).
const exitCode = failed.length > 0 ? 1 : 0;
process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
