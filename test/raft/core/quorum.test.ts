// Majority arithmetic: quorum sizes, the value a majority has reached, and election outcomes at their boundaries.
import t from 'tap';
import { majorityValue, quorumSize, voteOutcome } from '../../../src/raft/core/quorum.js';

const votes = (entries: Record<string, boolean>): Map<string, boolean> => new Map(Object.entries(entries));

t.test('a quorum is a strict majority of the voters', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 6, 7].map(quorumSize), [1, 1, 2, 2, 3, 3, 4, 4]);
});

t.test('an empty voter set puts no limit on the majority value', async (t) => {
  t.equal(majorityValue([], () => 7), Number.POSITIVE_INFINITY);
});

t.test('a single voter reaches its own value', async (t) => {
  t.equal(majorityValue(['a'], () => 42), 42);
});

t.test('the majority value is the quorum-th highest value, compared as numbers', async (t) => {
  const values: Record<string, number> = { a: 10, b: 9, c: 2 };
  // As strings, 10 < 2 < 9: a string sort would pick a different value.
  t.equal(majorityValue(['a', 'b', 'c'], (id) => values[id]!), 9);
  t.equal(majorityValue(['c', 'a', 'b'], (id) => values[id]!), 9, 'the order of the voters does not matter');
});

t.test('with four voters three must reach the value', async (t) => {
  const values: Record<string, number> = { a: 100, b: 30, c: 20, d: 5 };
  t.equal(majorityValue(['a', 'b', 'c', 'd'], (id) => values[id]!), 20);
});

t.test('with five voters the third highest value is the majority value', async (t) => {
  const values: Record<string, number> = { a: 1, b: 50, c: 7, d: 30, e: 12 };
  t.equal(majorityValue(['a', 'b', 'c', 'd', 'e'], (id) => values[id]!), 12);
});

t.test('a voter without a value counts as the lowest', async (t) => {
  const valueOf = ((id: string) => (id === 'a' ? undefined : 3)) as unknown as (id: string) => number;
  t.equal(majorityValue(['a'], valueOf), Number.NEGATIVE_INFINITY);
  t.equal(majorityValue(['a', 'b', 'c'], valueOf), 3);
});

t.test('an election is won once a majority granted', async (t) => {
  t.equal(voteOutcome(['a', 'b', 'c'], votes({ a: true, b: true })), 'won');
  t.equal(voteOutcome(['a'], votes({ a: true })), 'won');
  t.equal(voteOutcome(['a', 'b', 'c', 'd'], votes({ a: true, b: true, c: true, d: false })), 'won');
});

t.test('an election is pending while a majority is still reachable', async (t) => {
  t.equal(voteOutcome(['a', 'b', 'c'], votes({ a: true })), 'pending');
  t.equal(voteOutcome(['a', 'b', 'c'], votes({ a: true, b: false })), 'pending');
  t.equal(voteOutcome(['a', 'b', 'c', 'd'], votes({ a: true, b: true, c: false })), 'pending');
  t.equal(voteOutcome(['a', 'b', 'c'], votes({})), 'pending');
});

t.test('an election is lost once a majority can no longer be reached', async (t) => {
  t.equal(voteOutcome(['a', 'b', 'c'], votes({ a: true, b: false, c: false })), 'lost');
  t.equal(voteOutcome(['a', 'b', 'c'], votes({ b: false, c: false })), 'lost');
  t.equal(voteOutcome(['a', 'b', 'c', 'd'], votes({ a: true, b: false, c: false })), 'lost');
  t.equal(voteOutcome(['a'], votes({ a: false })), 'lost');
});

t.test('an election without voters can never be won', async (t) => {
  t.equal(voteOutcome([], votes({ a: true })), 'lost');
});

t.test('votes from servers that are not voters do not count', async (t) => {
  t.equal(voteOutcome(['a', 'b', 'c'], votes({ a: true, x: true, y: true })), 'pending');
  t.equal(voteOutcome(['a', 'b', 'c'], votes({ a: false, x: false, y: false })), 'pending');
});
