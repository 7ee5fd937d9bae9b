// The RawNode surface beyond the protocol rules: campaign, reportUnreachable, status, logTerm, hasReady and the Ready's softState and mustSync.
import t from 'tap';
import { MemoryStorage, RawNode, SeededRandom } from '../../../src/raft/core/index.js';
import type { Ready } from '../../../src/raft/core/index.js';
import {
  ABC, appendAck, appendEntries, bytes, drain, ET, heartbeat, installSnapshot, logOfTerms, newNode, ofType, requestVote, role,
  snapshotData, stableCluster, term, voteResult,
} from './harness.js';

// ---------------------------------------------------------------------------
// campaign()

t.test('campaign() on a leader changes nothing', async (t) => {
  const { a } = stableCluster();
  const before = a.raw.status();
  t.doesNotThrow(() => a.raw.campaign());
  t.match(a.raw.status(), { role: 'leader', term: before.term, vote: 'a', lastIndex: before.lastIndex });
  t.equal(a.raw.hasReady(), false, 'no vote request, no new term');
});

t.test('campaign() on a server that is not a voter changes nothing', async (t) => {
  const n = newNode('d', { voters: ABC, learners: ['d'], log: logOfTerms([1]), term: 1, commit: 1 });
  drain(n);
  n.raw.campaign();
  t.match(n.raw.status(), { role: 'follower', term: 1, vote: null });
  t.equal(n.raw.hasReady(), false, 'no vote request');
});

// ---------------------------------------------------------------------------
// Construction

t.test('a new node\'s first Ready carries only its committed entries: no message, no read state', async (t) => {
  const n = newNode('a', { voters: ABC });
  const rd = n.raw.ready();
  t.same([rd.messages, rd.persistedMessages, rd.readStates, rd.entries], [[], [], [], []]);
  t.equal(rd.hardState, null);
  t.same(rd.committedEntries.map((e) => e.index), [1, 2, 3]);
  n.raw.advance();
});

t.test('a node whose applied index is beyond its commit index refuses to start', async (t) => {
  const config = {
    id: 'a', storage: MemoryStorage.bootstrap(ABC), random: new SeededRandom(1), electionTimeoutTicks: ET, heartbeatIntervalTicks: 1,
  };
  t.throws(() => new RawNode({ ...config, applied: 4 }), { code: 'ERR_ASSERTION' });
  t.equal(new RawNode({ ...config, applied: 3 }).hasReady(), false, 'applied up to its commit index: nothing to hand out');
});

t.test('the not_leader refusal names the leader the node knows, or says it knows none', async (t) => {
  const { net } = stableCluster();
  t.throws(() => net.node('b').raw.propose(bytes('x')), { name: 'RaftError', code: 'not_leader', message: 'not the leader (leader: a)' });
  const n = newNode('a', { voters: ABC });
  t.throws(() => n.raw.propose(bytes('x')), { code: 'not_leader', message: 'not the leader (leader: unknown)' });
});

t.test('a single-voter server has a lease only while it leads', async (t) => {
  const n = newNode('a', { voters: ['a'], checkQuorum: true });
  drain(n);
  t.equal(n.raw.hasLease(), false, 'a follower, even one that is a majority by itself');
  n.raw.campaign();
  drain(n);
  drain(n);
  t.equal(role(n), 'leader');
  t.equal(n.raw.hasLease(), true);
});

t.test('leaseTicksLeft() is null without a lease, and counts down to the tick the lease lapses on', async (t) => {
  const { net, a } = stableCluster({ checkQuorum: true });
  t.equal(net.node('b').raw.leaseTicksLeft(), null, 'a follower has no lease');
  const left = a.raw.leaseTicksLeft();
  t.ok(left !== null && left >= 1, `the leader has ${left} ticks of lease`);
  // Cut off from both followers: no acknowledgement renews it, and it holds on exactly that many more ticks.
  net.isolate('a');
  for (let i = 0; i < (left ?? 0); i++) {
    t.equal(a.raw.leaseTicksLeft(), (left ?? 0) - i);
    a.raw.tick();
  }
  t.equal(a.raw.hasLease(), false, 'lapsed on the tick it said');
  t.equal(a.raw.leaseTicksLeft(), null);
});

// ---------------------------------------------------------------------------
// reportUnreachable()

t.test('reportUnreachable() moves a pipelined follower back to probing from just after its match', async (t) => {
  const { net, a } = stableCluster();
  net.isolate('b');
  a.raw.propose(bytes('x'));
  a.raw.propose(bytes('y'));
  net.settle();
  t.match(a.raw.status().progress.b, { state: 'replicate', match: 4, next: 7 }, 'two entries in flight to b');
  a.raw.reportUnreachable('b');
  t.match(a.raw.status().progress.b, { state: 'probe', match: 4, next: 5 });
  t.match(a.raw.status().progress.c, { state: 'replicate', match: 6, next: 7 }, 'c is untouched');
  a.raw.step(appendAck('b', 'a', term(a), 4));
  t.same(drain(a).messages.filter((m) => m.to === 'b'), [], 'a stale acknowledgement from b sends it nothing');
  t.match(a.raw.status().progress.b, { state: 'probe', match: 4, next: 5 });
});

t.test('after reportUnreachable() a follower gets one AppendEntries at a time until it answers, even an empty one', async (t) => {
  const { net, a } = stableCluster({}, ['a', 'b', 'c', 'd', 'e']);
  a.raw.propose(bytes('x'));
  net.deliver(drain(a).messages);
  const acks = new Map(['b', 'c', 'd', 'e'].map((id) => [id, drain(net.node(id)).messages]));
  net.deliver(acks.get('b') ?? []);
  t.equal(a.raw.status().commitIndex, 6, 'a and b are not a majority of five');
  a.raw.reportUnreachable('b');
  t.match(a.raw.status().progress.b, { state: 'probe', match: 7, next: 8 });
  net.deliver([...(acks.get('c') ?? []), ...(acks.get('d') ?? [])]);
  t.equal(a.raw.status().commitIndex, 7);
  const commitNews = drain(a).messages.filter((m) => m.to === 'b');
  t.match(ofType(commitNews, 'append_entries'), [{ entries: [], leaderCommit: 7 }], 'b gets the new commit index');
  a.raw.propose(bytes('y'));
  t.same(drain(a).messages.filter((m) => m.to === 'b'), [], 'but not y before it answers');
});

t.test('reportUnreachable() leaves a follower that is being sent a snapshot alone, and ignores unknown ids and non-leaders', async (t) => {
  const { net, a } = stableCluster();
  net.isolate('c');
  for (const s of ['x', 'y']) a.raw.propose(bytes(s));
  net.settle();
  a.raw.reportSnapshot(a.raw.status().appliedIndex);
  net.settle();
  net.heal();
  net.tick(1, (m) => m.type === 'install_snapshot');
  const snapshotting = a.raw.status().progress.c;
  t.match(snapshotting, { state: 'snapshot', match: 4 });
  a.raw.reportUnreachable('c');
  t.same(a.raw.status().progress.c, snapshotting, 'still sending the snapshot');
  t.doesNotThrow(() => a.raw.reportUnreachable('z'));
  const b = net.node('b');
  t.doesNotThrow(() => b.raw.reportUnreachable('a'));
  t.doesNotThrow(() => b.raw.reportUnreachable('z'));
  t.equal(role(b), 'follower');
});

// ---------------------------------------------------------------------------
// status() and logTerm()

t.test('status() on a leader reports every field, with progress for each member including itself', async (t) => {
  const { a } = stableCluster();
  t.same(a.raw.status(), {
    id: 'a', term: 2, vote: 'a', role: 'leader', leaderId: 'a',
    commitIndex: 4, appliedIndex: 4, firstIndex: 1, lastIndex: 4,
    membership: { voters: ['a', 'b', 'c'], learners: [] }, leadTransferee: null,
    progress: {
      a: { match: 4, next: 5, state: 'probe', voter: true, recentActive: true },
      b: { match: 4, next: 5, state: 'replicate', voter: true, recentActive: true },
      c: { match: 4, next: 5, state: 'replicate', voter: true, recentActive: true },
    },
  });
});

t.test('status() on a CheckQuorum leader keeps reporting itself as recently active across CheckQuorum rounds', async (t) => {
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  net.isolate('c');
  net.tick(3 * ET);
  t.equal(role(a), 'leader');
  t.match(a.raw.status().progress, { a: { recentActive: true }, b: { recentActive: true } });
  t.equal(a.raw.status().progress.c?.recentActive, false, 'c was not heard from in the last round');
});

t.test('status() on a follower reports its leader and no progress', async (t) => {
  const { net } = stableCluster();
  t.same(net.node('b').raw.status(), {
    id: 'b', term: 2, vote: 'a', role: 'follower', leaderId: 'a',
    commitIndex: 4, appliedIndex: 4, firstIndex: 1, lastIndex: 4,
    membership: { voters: ['a', 'b', 'c'], learners: [] }, leadTransferee: null, progress: {},
  });
});

t.test('logTerm() gives the term at an index, 0 before the first entry, and null past the last', async (t) => {
  const n = newNode('b', { voters: ABC, log: logOfTerms([1, 2, 2]), term: 2 });
  t.same([0, 1, 2, 3, 4].map((i) => n.raw.logTerm(i)), [0, 1, 2, 2, null]);
  n.raw.step(appendEntries('a', 'b', 3, [3, 2], [{ type: 'normal', index: 4, term: 3, data: bytes('x') }]));
  t.equal(n.raw.logTerm(4), 3, 'an entry not yet durable counts');
});

// ---------------------------------------------------------------------------
// hasReady()

t.test('hasReady() is false once everything has been handed out, and true for each kind of pending work', async (t) => {
  const n = newNode('a', { voters: ['a'] });
  t.equal(n.raw.hasReady(), true, 'the bootstrap entries are committed but not yet applied');
  drain(n);
  t.equal(n.raw.hasReady(), false);
  n.raw.campaign();
  t.equal(n.raw.hasReady(), true);
  drain(n);
  drain(n);
  t.equal(n.raw.hasReady(), false, 'a quiet single-node leader');
  n.raw.propose(bytes('x'));
  t.equal(n.raw.hasReady(), true, 'an entry to persist, and nothing else');
  drain(n);
  drain(n);
  t.equal(n.raw.hasReady(), false);
});

t.test('hasReady() reports a single committed entry not yet applied', async (t) => {
  const n = newNode('b', { voters: ABC, log: logOfTerms([1, 1]), commit: 1 });
  t.equal(n.raw.hasReady(), true);
  const rd = n.raw.ready();
  t.same(rd.committedEntries.map((e) => e.index), [1]);
  t.equal(rd.hardState, null);
  t.equal(rd.softState, null);
  t.equal(n.raw.hasReady(), false, 'what an outstanding Ready holds is not offered again');
  n.raw.advance();
  t.equal(n.raw.hasReady(), false);
});

t.test('hasReady() may be asked while a Ready without committed entries is outstanding', async (t) => {
  const n = newNode('b', { voters: ABC });
  drain(n);
  n.raw.step(heartbeat('a', 'b', 1, 3));
  const rd = n.raw.ready();
  t.same(rd.committedEntries, []);
  t.equal(n.raw.hasReady(), false);
  n.raw.advance();
});

// ---------------------------------------------------------------------------
// Ready.softState

t.test('Ready.softState is set exactly when the role or the known leader changed', async (t) => {
  const f = newNode('a', { voters: ABC });
  drain(f);
  f.raw.campaign();
  t.same(drain(f).ready.softState, { role: 'candidate', leaderId: null }, 'a new role, the same (no) leader');
  const n = newNode('a', { voters: ABC });
  t.equal(drain(n).ready.softState, null);
  n.raw.step(heartbeat('b', 'a', 1, 3));
  t.same(drain(n).ready.softState, { role: 'follower', leaderId: 'b' }, 'same role, a leader learned');
  n.raw.step(heartbeat('b', 'a', 1, 3));
  t.equal(drain(n).ready.softState, null, 'nothing changed');
  for (let i = 0; i < 2 * ET && role(n) === 'follower'; i++) n.raw.tick();
  t.same(drain(n).ready.softState, { role: 'candidate', leaderId: null });
  for (let i = 0; i < 2 * ET && term(n) === 2; i++) n.raw.tick();
  t.match(n.raw.status(), { role: 'candidate', term: 3 });
  t.equal(drain(n).ready.softState, null, 'a new term as candidate again: same role, same (no) leader');
});

// ---------------------------------------------------------------------------
// Ready.mustSync

t.test('Ready.mustSync is false when only the commit index changed', async (t) => {
  const n = newNode('b', { voters: ABC, log: logOfTerms([1, 1, 1, 1]), term: 1, commit: 2 });
  drain(n);
  n.raw.step(heartbeat('a', 'b', 1, 4));
  const rd = drain(n).ready;
  t.same(rd.hardState, { term: 1, vote: null, commit: 4 });
  t.same(rd.entries, []);
  t.equal(rd.mustSync, false);
});

t.test('Ready.mustSync is true for new entries, a new term, a new vote and a staged snapshot chunk, each alone', async (t) => {
  const n = newNode('b', { voters: ABC, log: logOfTerms([1]), term: 2, commit: 1 });
  drain(n);

  n.raw.step(appendEntries('a', 'b', 2, [1, 1], [{ type: 'normal', index: 2, term: 2, data: bytes('x') }], 1));
  let rd = drain(n).ready;
  t.match(rd, { hardState: null, entries: [{ index: 2 }], snapshotChunks: [], mustSync: true }, 'entries');

  n.raw.step(heartbeat('a', 'b', 3, 1));
  rd = drain(n).ready;
  t.match(rd, { hardState: { term: 3, vote: null, commit: 1 }, entries: [], mustSync: true }, 'term');

  const snap = { index: 10, term: 3, membership: { voters: [...ABC], learners: [] } };
  n.raw.step(installSnapshot('a', 'b', 3, snap, 0, snapshotData(8, 10), false));
  rd = drain(n).ready;
  t.match(rd, { hardState: null, entries: [], snapshot: null, snapshotChunks: [{ offset: 0, done: false }], mustSync: true },
    'a staged chunk');
  t.equal(ofType([...rd.messages, ...rd.persistedMessages], 'install_snapshot_result').length, 1);

  const v = newNode('b', { voters: ABC, log: logOfTerms([1]), term: 2, commit: 1 });
  drain(v);
  v.raw.step(requestVote('c', 'b', 2, [5, 2]));
  rd = drain(v).ready;
  t.match(rd, { hardState: { term: 2, vote: 'c', commit: 1 }, entries: [], mustSync: true }, 'a vote in the same term');
});

// ---------------------------------------------------------------------------
// readIndex() back-pressure

t.test('readIndex() is refused at once when maxPendingReads reads are already waiting', async (t) => {
  const storage = MemoryStorage.bootstrap(ABC);
  const raw = new RawNode({
    id: 'a', storage, random: new SeededRandom(1), electionTimeoutTicks: ET,
    heartbeatIntervalTicks: 1, preVote: false, checkQuorum: false, maxPendingReads: 2,
  });
  const cycle = (): Ready => {
    const rd = raw.ready();
    storage.append(rd.entries);
    if (rd.hardState !== null) storage.setHardState(rd.hardState);
    raw.advance();
    return rd;
  };
  raw.campaign();
  raw.step(voteResult('b', 'a', 2, true));
  cycle();
  raw.readIndex('r1');
  raw.readIndex('r2');
  raw.readIndex('r3');
  t.same(cycle().readStates, [{ requestId: 'r3', ok: false }], 'two wait for the no-op to commit; the third is refused');
  raw.step(appendAck('b', 'a', 2, 4));
  t.equal(raw.status().commitIndex, 4);
  const round = ofType(cycle().messages, 'heartbeat').filter((m) => m.to === 'b');
  t.same(round.map((m) => m.seq), [1, 2], 'one heartbeat round per read');
  raw.readIndex('r4');
  t.same(cycle().readStates, [{ requestId: 'r4', ok: false }], 'two wait for their heartbeat rounds');
  raw.step({ type: 'heartbeat_result', from: 'b', to: 'a', term: 2, seq: 2, sentTick: 0 });
  t.same(cycle().readStates, [{ requestId: 'r1', ok: true, index: 4 }, { requestId: 'r2', ok: true, index: 4 }]);
  raw.readIndex('r5');
  t.same(cycle().readStates, [], 'room again: r5 waits for its round');
});
