// The short fault suite of `npm test`: four fault kinds on real processes, every check must pass. The seed is random
// and printed (FAULTS_SEED=<n> repeats one; FAULTS_KINDS=a,b picks other kinds); `npm run faults` is the long version.
import t from 'tap';
import { randomSeed } from './random.js';
import { type FaultKind, isFaultKind } from './nemesis.js';
import { runScenario, tidyRun } from './scenario.js';

const seed = process.env['FAULTS_SEED'] === undefined ? randomSeed() : Number(process.env['FAULTS_SEED']);
const kinds: readonly FaultKind[] = process.env['FAULTS_KINDS']?.split(',').filter(isFaultKind)
  ?? ['kill-leader', 'stop-leader', 'isolate-leader', 'one-way'];
const faultMs = 8000;

t.comment(`fault suite seed ${seed} (FAULTS_SEED=${seed} repeats it)`);

kinds.forEach((kind, i) => {
  t.test(`${kind}: no lost or phantom write, convergence, linearizable reads, fires as promised, only the leader fires, no crash`, async (t) => {
    const runSeed = seed + i;
    const result = await runScenario({
      name: kind, kinds: [kind], seed: runSeed, faultMs, nginx: true, clients: 6, keep: false, log: (line) => t.comment(line),
    });
    t.comment(`${result.faults} faults, ops ok/fail/unknown ${result.ops.ok}/${result.ops.fail}/${result.ops.unknown}, `
      + `${result.fires.fires} fires (${result.fires.dups} repeated at_least_once, ${result.fires.unknown} at_most_once unknown), `
      + `max unavailability ${result.maxUnavailabilityMs} ms`);
    t.ok(result.faults >= 1, 'the nemesis struck');
    t.ok(result.ops.ok > 50, 'the clients got work done');
    t.ok(result.fires.fires > 10, 'jobs fired');
    for (const v of result.violations.slice(0, 20)) t.comment(`[${v.check}] ${v.message}`);
    t.equal(result.violations.length, 0,
      `every check passes (seed ${runSeed}; npm run faults -- --kinds ${kind} --seed ${runSeed} --duration ${faultMs / 1000})`);
    if (result.violations.length > 0) t.comment(`evidence kept in ${result.runDir}`);
    if (result.inconclusiveKeys.length > 0) t.comment(`linearizability search gave up on ${result.inconclusiveKeys.join(', ')}`);
    tidyRun(result, false);
  });
});
