// The linearizability checker agrees with Porcupine on 102 real Jepsen etcd histories and judges job histories rightly.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { parseJepsenHistory, parseVerdicts } from './jepsen-history.js';
import {
  checkLinearizable,
  explainIllegal,
  jobRegisterModel,
  registerModel,
  type JobInput,
  type JobOutput,
  type JobVersion,
  type Operation,
} from './linearizability.js';

// A copy of ../shared/testdata/jepsen-etcd (MIT, see its LICENSE-porcupine.md), so a clean clone anywhere has it.
const jepsenDir = join(import.meta.dirname, 'testdata', 'jepsen-etcd');

type JobOperation = Operation<JobInput, JobOutput>;

/** A job operation over [call, ret]; an output of undefined makes it unknown, which forces ret to Infinity. */
function op(client: number, call: number, ret: number, input: JobInput, output?: JobOutput): JobOperation {
  return output === undefined ? { client, input, output, call, ret: Infinity } : { client, input, output, call, ret };
}

const ok = { ok: true } as const;
const read = (value: JobVersion): JobOutput => ({ value });

function verdict(ops: readonly JobOperation[]): string {
  return checkLinearizable(jobRegisterModel, ops, { timeoutMs: 5_000 }).result;
}

t.test('the checker agrees with every verdict on the Jepsen etcd histories', async (t) => {
  t.ok(existsSync(jepsenDir), `the Jepsen testdata is at ${jepsenDir}`);
  if (!existsSync(jepsenDir)) return;
  const verdicts = parseVerdicts(readFileSync(join(jepsenDir, 'VERDICTS'), 'utf8'));
  t.equal(verdicts.size, 102, 'VERDICTS lists 102 histories');
  const startMs = performance.now();
  for (const [file, isLinearizable] of verdicts) {
    const ops = parseJepsenHistory(readFileSync(join(jepsenDir, file), 'utf8'));
    const result = checkLinearizable(registerModel, ops, { timeoutMs: 30_000 });
    t.equal(result.result, isLinearizable ? 'ok' : 'illegal', file);
  }
  t.comment(`checked ${verdicts.size} histories in ${Math.round(performance.now() - startMs)} ms`);
});

t.test('the Jepsen parser reads values, failures, timeouts and operations that never end', async (t) => {
  const ops = parseJepsenHistory([
    'INFO  jepsen.util - 0\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]',
    'some other log line',
    'INFO  jepsen.util - 0\t:ok\t:read\tnil',
    'INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]',
    'INFO  jepsen.util - 2\t:invoke\t:write\t3',
    'INFO  jepsen.util - 2\t:info\t:write\t:timed-out',
    'INFO  jepsen.util - 0\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 0\t:fail\t:read\t:timed-out',
    'INFO  jepsen.util - 7\t:invoke\t:write\t4',
  ].join('\n'));
  t.same(ops, [
    { client: 0, input: { f: 'read' }, call: 1, ret: 4, output: { value: null } },
    { client: 1, input: { f: 'cas', from: 1, to: 2 }, call: 2, ret: 5, output: { ok: false } },
    { client: 2, input: { f: 'write', v: 3 }, call: 6, ret: Infinity, output: undefined },
    { client: 7, input: { f: 'write', v: 4 }, call: 10, ret: Infinity, output: undefined },
  ], 'a timed-out read constrains nothing, so it is dropped');
  t.throws(() => parseJepsenHistory('INFO  jepsen.util - 0\t:ok\t:read\t1'), /never invoked/);
});

t.test('a read that misses an acknowledged earlier patch is illegal', async (t) => {
  const ops = [
    op(1, 0, 1, { f: 'create', v: 'a' }, ok),
    op(1, 2, 3, { f: 'patch', v: 'b' }, ok),
    op(2, 4, 5, { f: 'read' }, read('a')),
  ];
  t.equal(verdict(ops), 'illegal');
  const result = checkLinearizable(jobRegisterModel, ops);
  if (result.result === 'illegal') t.match(explainIllegal(jobRegisterModel, ops, result), /cannot linearize next: client 2/);
});

t.test('concurrent writes may take effect in either order', async (t) => {
  const racing = [op(1, 0, 10, { f: 'create', v: 'a' }, ok), op(2, 1, 9, { f: 'patch', v: 'b' }, ok)];
  t.equal(verdict([...racing, op(3, 11, 12, { f: 'read' }, read('b'))]), 'ok', 'create then patch');
  t.equal(verdict([...racing.slice(0, 1), op(2, 1, 9, { f: 'patch', v: 'b' }, { ok: false, reason: 'not_found' }),
    op(3, 11, 12, { f: 'read' }, read('a'))]), 'ok', 'patch first, finding nothing');
  t.equal(verdict([...racing, op(3, 11, 12, { f: 'read' }, read('a'))]), 'illegal', 'a patch that succeeded cannot precede the create');
  const twoPatches = [op(1, 0, 1, { f: 'create', v: 'a' }, ok), op(1, 2, 10, { f: 'patch', v: 'b' }, ok), op(2, 3, 9, { f: 'patch', v: 'c' }, ok)];
  t.equal(verdict([...twoPatches, op(3, 11, 12, { f: 'read' }, read('b'))]), 'ok', 'c then b');
  t.equal(verdict([...twoPatches, op(3, 11, 12, { f: 'read' }, read('c'))]), 'ok', 'b then c');
});

t.test('an unknown create may take effect after its call, and only after it', async (t) => {
  const create = op(1, 5, Infinity, { f: 'create', v: 'a' });
  t.equal(verdict([create, op(2, 20, 21, { f: 'read' }, read('a'))]), 'ok', 'read later');
  t.equal(verdict([create, op(2, 0, 4, { f: 'read' }, read('a'))]), 'illegal', 'read before it was called');
  t.equal(verdict([create, op(2, 6, 7, { f: 'read' }, read(null)), op(2, 8, 9, { f: 'read' }, read('a'))]), 'ok', 'lands between reads');
});

t.test('an unknown create that no one observes may never have happened', async (t) => {
  t.equal(verdict([op(1, 0, Infinity, { f: 'create', v: 'a' })]), 'ok', 'alone');
  t.equal(verdict([
    op(1, 0, Infinity, { f: 'create', v: 'a' }),
    op(2, 5, 6, { f: 'read' }, read(null)),
    op(2, 7, 8, { f: 'create', v: 'b' }, ok),
    op(2, 9, 10, { f: 'read' }, read('b')),
  ]), 'ok', 'another client creates the job afterwards');
});

t.test('a read of a version never written is illegal', async (t) => {
  t.equal(verdict([op(1, 0, 1, { f: 'create', v: 'a' }, ok), op(2, 0, 3, { f: 'read' }, read('z'))]), 'illegal');
});

t.test('a create refused as exists when no job could exist is illegal', async (t) => {
  t.equal(verdict([op(1, 0, 1, { f: 'create', v: 'a' }, { ok: false, reason: 'exists' })]), 'illegal', 'empty store');
  t.equal(verdict([
    op(1, 0, 1, { f: 'create', v: 'a' }, ok),
    op(1, 2, 3, { f: 'delete' }, ok),
    op(2, 4, 5, { f: 'create', v: 'b' }, { ok: false, reason: 'exists' }),
  ]), 'illegal', 'after an acknowledged delete');
  t.equal(verdict([
    op(1, 0, 1, { f: 'create', v: 'a' }, ok),
    op(1, 2, 6, { f: 'delete' }, ok),
    op(2, 4, 5, { f: 'create', v: 'b' }, { ok: false, reason: 'exists' }),
  ]), 'ok', 'concurrent with the delete');
});

t.test('a search that runs past its time budget reports timeout', async (t) => {
  const ops = parseJepsenHistory(readFileSync(join(jepsenDir, 'etcd_002.log'), 'utf8'));
  t.equal(checkLinearizable(registerModel, ops, { timeoutMs: 0 }).result, 'timeout');
});

// Property: any history produced by a real sequential execution, with intervals that contain each linearization point, is ok.

type Fate = 'known' | 'unknown' | 'lost';

interface PlannedOp {
  readonly input: JobInput;
  readonly beforeTicks: number;
  readonly afterTicks: number;
  readonly fate: Fate;
}

const version = fc.constantFrom('a', 'b', 'c');
const jobInput: fc.Arbitrary<JobInput> = fc.oneof(
  version.map((v): JobInput => ({ f: 'create', v })),
  version.map((v): JobInput => ({ f: 'patch', v })),
  fc.constant<JobInput>({ f: 'delete' }),
  fc.constant<JobInput>({ f: 'read' }),
);
const plannedOp: fc.Arbitrary<PlannedOp> = fc.record({
  input: jobInput,
  beforeTicks: fc.nat(40),
  afterTicks: fc.nat(40),
  fate: fc.oneof(
    { arbitrary: fc.constant<Fate>('known'), weight: 8 },
    { arbitrary: fc.constant<Fate>('unknown'), weight: 1 },
    { arbitrary: fc.constant<Fate>('lost'), weight: 1 },
  ),
});

/** The job store, written independently of jobRegisterModel so the property tests the model too. */
function execute(state: JobVersion, input: JobInput): { output: JobOutput; state: JobVersion } {
  switch (input.f) {
    case 'read':
      return { output: { value: state }, state };
    case 'create':
      return state === null ? { output: ok, state: input.v } : { output: { ok: false, reason: 'exists' }, state };
    case 'patch':
      return state !== null ? { output: ok, state: input.v } : { output: { ok: false, reason: 'not_found' }, state };
    case 'delete':
      return state !== null ? { output: ok, state: null } : { output: { ok: false, reason: 'not_found' }, state };
  }
}

/** Runs the plan in order; op i takes effect at tick 10·i, inside [call, ret]. A lost op is unknown and never applied. */
function history(plan: readonly PlannedOp[]): JobOperation[] {
  let state: JobVersion = null;
  return plan.map((planned, i) => {
    const pointTicks = 10 * i;
    const call = pointTicks - planned.beforeTicks;
    if (planned.fate === 'lost') return op(i, call, Infinity, planned.input);
    const executed = execute(state, planned.input);
    state = executed.state;
    const output = planned.fate === 'unknown' ? undefined : executed.output;
    return op(i, call, pointTicks + planned.afterTicks, planned.input, output);
  });
}

t.test('histories of a real sequential execution with overlapping intervals are linearizable', async (t) => {
  fc.assert(fc.property(fc.array(plannedOp, { maxLength: 30 }), (plan) => verdict(history(plan)) === 'ok'));
  t.pass('property held');
});

t.test('adding a read of a version never written makes such a history illegal', async (t) => {
  const anyTicks = fc.nat(400);
  fc.assert(fc.property(fc.array(plannedOp, { maxLength: 30 }), anyTicks, anyTicks, (plan, a, b) => {
    const stray = op(-1, Math.min(a, b), Math.max(a, b), { f: 'read' }, read('z'));
    return verdict([...history(plan), stray]) === 'illegal';
  }));
  t.pass('property held');
});
