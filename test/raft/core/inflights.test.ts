// The in-flight window: its capacity, ordering assertion and how acknowledgements free it.
import t from 'tap';
import { Inflights } from '../../../src/raft/core/inflights.js';

function filled(capacity: number, ...lastIndexes: number[]): Inflights {
  const w = new Inflights(capacity);
  for (const i of lastIndexes) w.add(i);
  return w;
}

t.test('a window must hold at least one message', async (t) => {
  t.throws(() => new Inflights(0), { message: 'in-flight window must hold at least one message' });
  t.throws(() => new Inflights(-1));
  const w = new Inflights(1);
  t.equal(w.capacity, 1);
  t.equal(w.count, 0);
  t.equal(w.isFull(), false);
});

t.test('a window is full exactly when it holds capacity messages', async (t) => {
  const w = new Inflights(3);
  w.add(1);
  w.add(2);
  t.equal(w.count, 2);
  t.equal(w.isFull(), false);
  w.add(3);
  t.equal(w.count, 3);
  t.equal(w.isFull(), true);
});

t.test('adding to a full window throws', async (t) => {
  const w = filled(2, 1, 2);
  t.throws(() => w.add(3), { message: 'in-flight window overflow' });
  t.equal(w.count, 2);
});

t.test('the first message may carry any index', async (t) => {
  const w = new Inflights(2);
  w.add(0);
  t.equal(w.count, 1);
});

t.test('each message must end after the previous one', async (t) => {
  const w = filled(4, 5);
  t.throws(() => w.add(5), { message: 'in-flight 5 is not after 5' });
  t.throws(() => w.add(4), { message: 'in-flight 4 is not after 5' });
  w.add(6);
  t.equal(w.count, 2);
});

t.test('freeTo frees the messages whose last index is at or below the match', async (t) => {
  const w = filled(5, 3, 5, 7);
  w.freeTo(2);
  t.equal(w.count, 3, 'nothing below the oldest');
  w.freeTo(4);
  t.equal(w.count, 2, 'frees 3');
  w.freeTo(5);
  t.equal(w.count, 1, 'frees 5, which ends exactly at the match');
  t.throws(() => w.add(7), { message: 'in-flight 7 is not after 7' });
  w.freeTo(100);
  t.equal(w.count, 0);
  w.add(1);
  t.equal(w.count, 1, 'an empty window accepts any index again');
});

t.test('freeTo frees a prefix only', async (t) => {
  const w = filled(5, 2, 4, 6);
  w.freeTo(3);
  t.equal(w.count, 2);
  t.throws(() => w.add(6), { message: 'in-flight 6 is not after 6' }, 'the newest message stays');
});

t.test('freeTo an unbounded index empties the window', async (t) => {
  const w = filled(3, 1, 2, 3);
  w.freeTo(Number.POSITIVE_INFINITY);
  t.equal(w.count, 0);
});

t.test('freeTo on an empty window does nothing', async (t) => {
  const w = new Inflights(2);
  w.freeTo(10);
  t.equal(w.count, 0);
});

t.test('freeing frees room in a full window', async (t) => {
  const w = filled(2, 1, 2);
  w.freeTo(1);
  t.equal(w.isFull(), false);
  w.add(3);
  t.equal(w.isFull(), true);
});

t.test('freeFirst frees the oldest message', async (t) => {
  const w = filled(3, 3, 5);
  w.freeFirst();
  t.equal(w.count, 1);
  t.throws(() => w.add(4), { message: 'in-flight 4 is not after 5' }, 'the newest stays');
  w.freeTo(4);
  t.equal(w.count, 1, '3 is gone, 5 remains');
  w.freeFirst();
  t.equal(w.count, 0);
  w.freeFirst();
  t.equal(w.count, 0, 'freeFirst on an empty window does nothing');
});

t.test('the oldest in-flight message\'s send tick follows frees and resets', async (t) => {
  const w = new Inflights(5);
  t.equal(w.oldestSentTick(), null, 'none in flight');
  w.add(3, 10, 7);
  w.add(5, 10, 9);
  w.add(8, 10, 12);
  t.equal(w.oldestSentTick(), 7);
  w.freeFirst();
  t.equal(w.oldestSentTick(), 9);
  w.freeTo(6);
  t.equal(w.oldestSentTick(), 12);
  w.reset();
  t.equal(w.oldestSentTick(), null);
});

t.test('reset empties the window', async (t) => {
  const w = filled(2, 8, 9);
  w.reset();
  t.equal(w.count, 0);
  t.equal(w.isFull(), false);
  w.add(1);
  t.equal(w.count, 1);
});

t.test('a byte bound fills the window before its message count does, and acknowledgements give the bytes back', async (t) => {
  const w = new Inflights(10, 100);
  t.equal(w.maxBytes, 100);
  w.add(1, 60);
  t.equal(w.isFull(), false, '60 of 100 bytes');
  w.add(2, 40);
  t.equal(w.bytes, 100);
  t.equal(w.isFull(), true, '100 of 100 bytes, 2 of 10 messages');
  t.throws(() => w.add(3, 1), { message: 'in-flight window overflow' });
  w.freeTo(1);
  t.equal(w.bytes, 40);
  t.equal(w.isFull(), false);
  w.add(3, 30);
  w.freeFirst();
  t.equal(w.bytes, 30);
  w.reset();
  t.equal(w.bytes, 0);
  t.equal(w.count, 0);
});

t.test('one message larger than the byte bound still goes into an empty window, and alone', async (t) => {
  const w = new Inflights(10, 100);
  w.add(1, 500);
  t.equal(w.isFull(), true);
  w.freeTo(1);
  t.equal(w.isFull(), false);
  t.throws(() => new Inflights(1, 0), { message: 'in-flight window must allow some bytes' });
});
