// The leader lease: a majority's acknowledgements, with the leader itself counted at now, at and around the boundary.
import t from 'tap';
import { leaseEndTick, leaseHolds } from '../../../src/raft/core/lease.js';

/** The acknowledged sent ticks of the followers; the leader's own entry must never be read. */
function acked(ticks: Record<string, number>): (id: string) => number {
  return (id) => {
    const tick = ticks[id];
    if (tick === undefined) throw new Error(`asked for ${id}`);
    return tick;
  };
}

t.test('a single voter leader holds its lease on its own', async (t) => {
  t.equal(leaseHolds(['a'], 'a', 100, acked({}), 1), true);
  t.equal(leaseHolds(['a'], 'a', 100, acked({}), 8), true);
});

t.test('a lease of zero ticks never holds', async (t) => {
  t.equal(leaseHolds(['a'], 'a', 100, acked({}), 0), false);
});

t.test('with three voters one acknowledgement is enough while it is recent', async (t) => {
  const voters = ['a', 'b', 'c'];
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 93, c: 0 }), 8), true);
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 92, c: 0 }), 8), false, 'exactly leaseTicks old');
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 91, c: 0 }), 8), false);
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 0, c: 92 }), 9), true);
});

t.test('with three voters the most recent acknowledgement counts', async (t) => {
  t.equal(leaseHolds(['a', 'b', 'c'], 'a', 100, acked({ b: 50, c: 99 }), 8), true);
  t.equal(leaseHolds(['a', 'b', 'c'], 'a', 100, acked({ b: 99, c: 50 }), 8), true);
});

t.test('with three voters and no acknowledgement the lease does not hold', async (t) => {
  const none = Number.NEGATIVE_INFINITY;
  t.equal(leaseHolds(['a', 'b', 'c'], 'a', 100, acked({ b: none, c: none }), 8), false);
});

t.test('with five voters two acknowledgements are needed', async (t) => {
  const voters = ['a', 'b', 'c', 'd', 'e'];
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 99, c: 0, d: 0, e: 0 }), 8), false);
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 99, c: 93, d: 0, e: 0 }), 8), true);
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 99, c: 92, d: 0, e: 0 }), 8), false, 'the second is exactly leaseTicks old');
  t.equal(leaseHolds(voters, 'a', 100, acked({ b: 92, c: 99, d: 93, e: 10 }), 8), true, 'the second most recent counts');
});

t.test('the leader counts itself at now, not at its own acknowledgement', async (t) => {
  t.equal(leaseHolds(['a', 'b', 'c'], 'a', 100, acked({ b: 95, c: 0 }), 8), true);
  t.equal(leaseHolds(['a', 'b', 'c'], 'b', 100, acked({ a: 0, c: 95 }), 8), true);
});

t.test('a leader that is not a voter needs a majority of the others', async (t) => {
  t.equal(leaseHolds(['b', 'c', 'd'], 'a', 100, acked({ b: 99, c: 0, d: 0 }), 8), false);
  t.equal(leaseHolds(['b', 'c', 'd'], 'a', 100, acked({ b: 99, c: 95, d: 0 }), 8), true);
});

t.test('the lease ends at the first tick at which it no longer holds', async (t) => {
  const voters = ['a', 'b', 'c', 'd', 'e'];
  const ticks = { b: 97, c: 95, d: 90, e: 60 };
  const end = leaseEndTick(voters, 'a', 100, acked(ticks), 8);
  t.equal(end, 95 + 8, 'the third most recent of five (the leader at now, then b and c), plus the lease');
  t.equal(leaseHolds(voters, 'a', end - 1, acked(ticks), 8), true, 'holds on the tick before');
  t.equal(leaseHolds(voters, 'a', end, acked(ticks), 8), false, 'not on the end tick');
  t.equal(leaseEndTick(['a'], 'a', 100, acked({}), 8), 108, 'a single voter: leaseTicks from now');
});
