// The short fault suite of `npm test`: five fault kinds on real processes, every check must pass. The seed is random
// and printed (FAULTS_SEED=<n> repeats one; FAULTS_KINDS=a,b picks other kinds); `npm run faults` is the long version.
//
// It runs `test/faults/run.ts` in a child process without tap's coverage: in-process, with V8 coverage on, the test
// process kept a core busy for minutes after the last check passed and hit tap's timeout.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { randomSeed } from './random.js';

const rootDir = join(import.meta.dirname, '..', '..');
const seed = process.env['FAULTS_SEED'] === undefined ? randomSeed() : Number(process.env['FAULTS_SEED']);
const kinds = process.env['FAULTS_KINDS'] ?? 'kill-leader,term-leader,stop-leader,isolate-leader,one-way';
const faultSecondsPerKind = 8;

t.test(`fault runs (${kinds}): no lost or phantom write, convergence, linearizable reads, fires as promised, only the leader fires, no crash`, async (t) => {
  t.comment(`fault suite seed ${seed} (FAULTS_SEED=${seed} repeats it)`);
  const kindCount = kinds.split(',').length;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_V8_COVERAGE'];
  const child = spawn(process.execPath, ['--import', 'tsx', join(rootDir, 'test', 'faults', 'run.ts'), '--kinds', kinds,
    '--seed', String(seed), '--duration', String(faultSecondsPerKind * kindCount)], { cwd: rootDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  for (const line of output.trimEnd().split('\n').slice(-40)) t.comment(line);
  const last = /faults: (\d+) runs, (\d+) ops, (\d+) lost, (\d+) amo-dups, (\d+) non-linearizable, (\d+) crashes/.exec(output);
  t.ok(last !== null, 'the runner printed its final line');
  const [runs, ops, lost, amoDups, nonLinearizable, crashes] = (last?.slice(1) ?? []).map(Number);
  t.equal(runs, kindCount, 'one run per kind');
  t.ok((ops ?? 0) > 50 * kindCount, `the clients got work done (${ops} ops)`);
  t.same({ lost, amoDups, nonLinearizable, crashes }, { lost: 0, amoDups: 0, nonLinearizable: 0, crashes: 0 });
  t.equal(code, 0, `every check passes (npm run faults -- --kinds ${kinds} --seed ${seed} --duration ${faultSecondsPerKind * kindCount})`);
});
