// The simulator runs in the suite at a small seed count; the checkers are shown to catch what they look for.
import t from 'tap';
import type { Entry } from '../../src/raft/core/index.js';
import { Checkers, Violation } from './checkers.js';
import { runSeed } from './scenario.js';

/**
 * Seeds per cluster size. `npm run mutate` lowers them (SIM_TEST_SEEDS) so that a mutation run, which
 * runs this file once per surviving mutant, fits in a working session; the full count runs in `npm test`.
 */
const SEEDS = Number(process.env.SIM_TEST_SEEDS ?? 40);

function sweep(first: number, count: number, nodes: number): { violations: string[]; commits: number } {
  const violations: string[] = [];
  let commits = 0;
  for (let seed = first; seed < first + count; seed++) {
    const result = runSeed(seed, { nodes, traceLines: 40 });
    commits += result.commits;
    if (result.violation !== null) violations.push(`seed ${seed}: ${result.violation}\n${result.trace}`);
  }
  return { violations, commits };
}

t.test('three-node clusters keep every safety property under faults and stay live', async (t) => {
  const { violations, commits } = sweep(1, SEEDS, 3);
  t.same(violations, []);
  t.ok(commits > SEEDS * 20, `committed ${commits} proposals`);
});

t.test('five-node clusters keep every safety property under faults and stay live', async (t) => {
  const seeds = Math.ceil(SEEDS / 2);
  const { violations, commits } = sweep(1, seeds, 5);
  t.same(violations, []);
  t.ok(commits > seeds * 20, `committed ${commits} proposals`);
});

t.test('a seed reproduces exactly', async (t) => {
  const a = runSeed(11, { nodes: 3, traceLines: Infinity, chaosMs: 2000 });
  const b = runSeed(11, { nodes: 3, traceLines: Infinity, chaosMs: 2000 });
  t.equal(a.trace, b.trace);
  t.equal(a.commits, b.commits);
});

const view = (id: string, terms: Record<number, number>) => ({
  id,
  term: (i: number) => (i === 0 ? 0 : terms[i] ?? null),
  firstIndex: () => 1,
  lastIndex: () => Math.max(0, ...Object.keys(terms).map(Number)),
});
const entry = (index: number, term: number, text: string): Entry => ({
  type: 'normal', index, term, data: new TextEncoder().encode(text),
});

t.test('the checkers report two leaders in one term', async (t) => {
  const c = new Checkers();
  c.onLeader('a', 3);
  t.throws(() => c.onLeader('b', 3), Violation);
});

t.test('the checkers report two different entries applied at one index', async (t) => {
  const c = new Checkers();
  c.onApply('a', entry(1, 1, 'x'));
  t.throws(() => c.onApply('b', entry(1, 1, 'y')), Violation);
  t.throws(() => c.onApply('a', entry(3, 1, 'z')), Violation, 'a gap in apply order');
});

t.test('the checkers report logs that agree on an entry but not on what precedes it', async (t) => {
  const c = new Checkers();
  c.onPersist(view('a', { 1: 1 }), [entry(2, 2, 'x')], false, 2);
  t.throws(() => c.onPersist(view('b', { 1: 2 }), [entry(2, 2, 'x')], false, 2), Violation);
});

t.test('the checkers report a leader that rewrites its own log', async (t) => {
  const c = new Checkers();
  c.onPersist(view('a', {}), [entry(1, 2, 'x'), entry(2, 2, 'y')], true, 2);
  t.throws(() => c.onPersist(view('a', {}), [entry(2, 2, 'z')], true, 2), Violation);
});

t.test('the checkers report a leader missing an entry committed in an earlier term', async (t) => {
  const c = new Checkers();
  c.onLeaderCommit(view('a', { 1: 1, 2: 1 }), 2, 1);
  t.throws(() => c.onBecameLeader(view('b', { 1: 1 }), 2), Violation);
  t.doesNotThrow(() => c.onBecameLeader(view('c', { 1: 1, 2: 1 }), 3));
});
