// The helpers on the core's plain data: entry sizes and hard-state comparisons.
import t from 'tap';
import { EMPTY_MEMBERSHIP, NO_INDEX, entryBytes, isEmptyHardState, sameHardState } from '../../../src/raft/core/types.js';

t.test('a normal entry weighs its data plus a fixed overhead', async (t) => {
  t.equal(entryBytes({ type: 'normal', index: 1, term: 1, data: new Uint8Array(0) }), 24);
  t.equal(entryBytes({ type: 'normal', index: 1, term: 1, data: new Uint8Array(100) }), 124);
});

t.test('a conf-change entry weighs its context plus a fixed overhead', async (t) => {
  const change = (context: string) => ({ type: 'add_voter' as const, nodeId: 'a', context });
  t.equal(entryBytes({ type: 'conf_change', index: 1, term: 1, change: change('') }), 64);
  t.equal(entryBytes({ type: 'conf_change', index: 1, term: 1, change: change('127.0.0.1:7001') }), 78);
});

t.test('only the zero hard state is empty', async (t) => {
  t.equal(isEmptyHardState({ term: 0, vote: null, commit: 0 }), true);
  t.equal(isEmptyHardState({ term: 1, vote: null, commit: 0 }), false);
  t.equal(isEmptyHardState({ term: 0, vote: 'a', commit: 0 }), false);
  t.equal(isEmptyHardState({ term: 0, vote: null, commit: 1 }), false);
});

t.test('hard states are the same when term, vote and commit all agree', async (t) => {
  const a = { term: 2, vote: 'b', commit: 5 };
  t.equal(sameHardState(a, { term: 2, vote: 'b', commit: 5 }), true);
  t.equal(sameHardState(a, { term: 3, vote: 'b', commit: 5 }), false);
  t.equal(sameHardState(a, { term: 2, vote: 'c', commit: 5 }), false);
  t.equal(sameHardState(a, { term: 2, vote: null, commit: 5 }), false);
  t.equal(sameHardState(a, { term: 2, vote: 'b', commit: 6 }), false);
});

t.test('the empty membership and index 0 stand for nothing', async (t) => {
  t.same(EMPTY_MEMBERSHIP, { voters: [], learners: [] });
  t.equal(NO_INDEX, 0);
});
