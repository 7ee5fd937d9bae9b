// The queue of ReadIndex requests waiting for a heartbeat round to be acknowledged.
import t from 'tap';
import { ReadOnlyQueue } from '../../../src/raft/core/read-only.js';
import type { PendingRead } from '../../../src/raft/core/read-only.js';

const read = (requestId: string, seq: number, index = 7): PendingRead => ({ requestId, index, seq, from: 'a' });
const idsOf = (reads: readonly PendingRead[]): string => reads.map((r) => r.requestId).join(' ');

function queueOf(...reads: PendingRead[]): ReadOnlyQueue {
  const q = new ReadOnlyQueue();
  for (const r of reads) q.add(r);
  return q;
}

t.test('a new queue is empty', async (t) => {
  const q = new ReadOnlyQueue();
  t.equal(q.length, 0);
  t.same(q.releaseUpTo(100), []);
  t.same(q.drain(), []);
});

t.test('added reads wait in order', async (t) => {
  const q = queueOf(read('r1', 1), read('r2', 2));
  t.equal(q.length, 2);
});

t.test('releaseUpTo releases the reads whose round is acknowledged, including that round', async (t) => {
  const q = queueOf(read('r1', 1), read('r2', 2), read('r3', 2), read('r4', 3));
  t.equal(idsOf(q.releaseUpTo(0)), '');
  t.equal(q.length, 4);
  t.equal(idsOf(q.releaseUpTo(2)), 'r1 r2 r3');
  t.equal(q.length, 1);
  t.equal(idsOf(q.releaseUpTo(2)), '');
  t.equal(idsOf(q.releaseUpTo(5)), 'r4');
  t.equal(q.length, 0);
});

t.test('releaseUpTo releases a prefix only', async (t) => {
  const q = queueOf(read('r1', 4), read('r2', 1));
  t.equal(idsOf(q.releaseUpTo(3)), '');
  t.equal(q.length, 2);
});

t.test('released reads keep their fields', async (t) => {
  const r = read('r1', 1, 42);
  const q = queueOf(r);
  t.same(q.releaseUpTo(1), [r]);
});

t.test('drain hands out every read and empties the queue', async (t) => {
  const q = queueOf(read('r1', 1), read('r2', 9));
  t.equal(idsOf(q.drain()), 'r1 r2');
  t.equal(q.length, 0);
  t.same(q.drain(), []);
});

t.test('releaseUpTo an unbounded round releases everything', async (t) => {
  const q = queueOf(read('r1', 1), read('r2', 9));
  t.equal(idsOf(q.releaseUpTo(Number.POSITIVE_INFINITY)), 'r1 r2');
  t.equal(q.length, 0);
});
