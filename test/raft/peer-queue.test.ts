// A peer's queue: oldest dropped past its count or bytes, taken a body at a time, oldest first.
import t from 'tap';
import type { Message } from '../../src/raft/core/index.js';
import { messageBytes, PeerQueue } from '../../src/raft/peer-queue.js';

const heartbeat = (seq: number): Message => ({ type: 'heartbeat', from: 'a', to: 'b', term: 2, leaderCommit: 1, seq, sentTick: seq });
const append = (index: number, bytes: number): Message => ({
  type: 'append_entries', from: 'a', to: 'b', term: 2, prevLogIndex: index - 1, prevLogTerm: 2,
  entries: [{ type: 'normal', term: 2, index, data: new Uint8Array(bytes) }], leaderCommit: 0, seq: index, sentTick: index,
});
const chunk = (bytes: number): Message => ({
  type: 'install_snapshot', from: 'a', to: 'b', term: 2, snapshot: { index: 9, term: 2, membership: { voters: ['a'], learners: [] } },
  offset: 0, data: new Uint8Array(bytes), done: false, seq: 1, sentTick: 1,
});
const seqs = (messages: readonly Message[]): number[] => messages.map((m) => ('seq' in m ? m.seq : -1));

t.test('a message counts its entries or snapshot data, and its fields', async (t) => {
  t.equal(messageBytes(heartbeat(1)), 128);
  t.equal(messageBytes(append(1, 1000)), 128 + 1000 + 24);
  t.equal(messageBytes(chunk(5000)), 128 + 5000);
});

t.test('past its count the oldest message goes', async (t) => {
  const q = new PeerQueue(3, 1_000_000);
  for (let i = 1; i <= 5; i++) q.push(heartbeat(i));
  t.equal(q.length, 3);
  t.equal(q.bytes, 3 * 128);
  t.same(seqs(q.take(1_000_000)), [3, 4, 5]);
});

t.test('past its bytes the oldest messages go, but one message alone stays whatever its size', async (t) => {
  const q = new PeerQueue(100, 10_000);
  q.push(append(1, 4000));
  q.push(append(2, 4000));
  t.same([q.length, q.bytes], [2, 2 * 4152]);
  q.push(append(3, 4000));
  t.same([q.length, q.bytes], [2, 2 * 4152], 'the first append went');
  q.push(chunk(50_000));
  t.same([q.length, q.bytes], [1, 50_128], 'a chunk over the bound on its own is kept');
  t.same(q.take(1000).map((m) => m.type), ['install_snapshot'], 'and taken, alone, though over what was asked');
  t.same([q.length, q.bytes], [0, 0]);
});

t.test('take returns the oldest messages that fit, in order, and leaves the rest', async (t) => {
  const q = new PeerQueue(100, 10_000_000);
  for (let i = 1; i <= 6; i++) q.push(append(i, 300_000 - 152));
  t.equal(q.bytes, 6 * 300_000);
  t.same(seqs(q.take(700_000)), [1, 2]);
  t.same(seqs(q.take(900_000)), [3, 4, 5], 'exactly the bytes asked for fits');
  t.equal(q.bytes, 300_000);
  q.push(heartbeat(7));
  t.same(seqs(q.take(0)), [6], 'at least one');
  q.clear();
  t.same([q.length, q.bytes, q.take(10).length], [0, 0, 0]);
});
