// One test per rule of Ongaro's thesis beyond the paper's core: Pre-Vote, CheckQuorum, lease, transfer, snapshots (§7), membership, ReadIndex.
import t from 'tap';
import { MemoryStorage } from '../../../src/raft/core/index.js';
import type { Entry, Message, SnapshotMeta } from '../../../src/raft/core/index.js';
import {
  ABC, appendEntries, appendsFrom, bytes, commit, drain, elect, entry, ET, heartbeat, installSnapshot,
  logOfTerms, Network, newCluster, newNode, ofType, requestVote, role, snapshotData, stableCluster,
  storedEntries, storedTerms, term, text, voteResult,
} from './harness.js';
import type { TestNode } from './harness.js';

// ---------------------------------------------------------------------------
// Pre-Vote (thesis §9.6)

t.test('a pre-candidate asks for pre-votes without changing its term or vote', async (t) => {
  // Reference: thesis section 9.6
  const n = newNode('a', { voters: ABC, preVote: true });
  drain(n);
  for (let i = 0; i < 2 * ET && role(n) === 'follower'; i++) n.raw.tick();
  t.match(n.raw.status(), { role: 'pre_candidate', term: 1, vote: null });
  const out = drain(n);
  t.equal(out.ready.hardState, null, 'nothing durable changes');
  const asks = ofType(out.messages, 'request_vote');
  t.equal(asks.length, 2);
  for (const m of asks) t.match(m, { preVote: true, term: 2 });
  n.raw.step(voteResult('b', 'a', 2, true, true));
  t.match(n.raw.status(), { role: 'candidate', term: 2, vote: 'a' }, 'a pre-vote majority starts the real election');
});

t.test('a partitioned server that rejoins does not disrupt the leader', async (t) => {
  // Reference: thesis section 9.6
  const { net } = stableCluster({ preVote: true, checkQuorum: true });
  const leader = net.leaders()[0] ?? '';
  const before = term(net.node(leader));
  net.isolate('c');
  net.tick(10 * ET);
  t.equal(term(net.node('c')), before, 'the isolated server did not raise its term');
  net.heal();
  net.tick(10 * ET);
  t.same(net.leaders(), [leader]);
  for (const n of net.nodes.values()) t.equal(term(n), before, `${n.id} is still in term ${before}`);
});

t.test('a pre-vote is granted only to a server whose log is up to date, and changes nothing', async (t) => {
  // Reference: thesis section 9.6
  const cases: { last: [number, number]; granted: boolean }[] = [
    { last: [2, 1], granted: false },
    { last: [1, 2], granted: false },
    { last: [2, 2], granted: true },
    { last: [3, 2], granted: true },
  ];
  for (const c of cases) {
    const n = newNode('b', { voters: ABC, log: logOfTerms([1, 2]), term: 2, preVote: true });
    drain(n);
    n.raw.step(requestVote('a', 'b', 3, c.last, { preVote: true }));
    const reply = ofType(drain(n).messages, 'request_vote_result')[0];
    t.match(reply, { preVote: true, granted: c.granted }, `candidate last ${c.last[0]}/t${c.last[1]}`);
    t.match(n.raw.status(), { term: 2, vote: null });
  }
});

// ---------------------------------------------------------------------------
// CheckQuorum (thesis §6.2) and the leader lease (§4.2.3, §6.4.1)

t.test('a leader that hears from no majority within an election timeout steps down', async (t) => {
  // Reference: thesis section 6.2
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  net.tick(5 * ET);
  t.equal(role(a), 'leader', 'a connected leader stays');
  net.isolate('a');
  let ticks = 0;
  while (role(a) === 'leader' && ticks < 5 * ET) {
    net.tick();
    ticks++;
  }
  t.equal(role(a), 'follower');
  t.ok(ticks <= 2 * ET, `stepped down after ${ticks} ticks`);
});

t.test('a follower that heard from its leader within the election timeout ignores a RequestVote of a higher term', async (t) => {
  // Reference: thesis section 4.2.3 and section 6.2
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  const b = net.node('b');
  const before = term(b);
  const { lastIndex } = b.raw.status();
  b.raw.step(requestVote('c', 'b', before + 1, [lastIndex, before]));
  t.match(b.raw.status(), { term: before, vote: 'a', leaderId: 'a' });
  t.same(ofType(drain(b).messages, 'request_vote_result'), [], 'not even a rejection');
  net.isolate('a');
  net.tick(ET, undefined, ['b']);
  b.raw.step(requestVote('c', 'b', before + 1, [lastIndex, before]));
  t.match(b.raw.status(), { term: before + 1, vote: 'c' }, 'after an election timeout without the leader, it votes');
  t.equal(role(a), 'leader');
});

t.test('hasLease() holds for a recently acknowledged leader, lapses after leaseTicks, and never holds on followers', async (t) => {
  // Reference: thesis section 6.4.1
  const leaseTicks = ET - 2;
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true, leaseTicks });
  net.tick();
  t.equal(a.raw.hasLease(), true);
  t.equal(net.node('b').raw.hasLease(), false);
  t.equal(net.node('c').raw.hasLease(), false);
  net.isolate('a');
  net.tick(leaseTicks - 1, undefined, ['a']);
  t.equal(a.raw.hasLease(), true, `${leaseTicks - 1} ticks after the last acknowledgement`);
  net.tick(1, undefined, ['a']);
  t.equal(a.raw.hasLease(), false, `${leaseTicks} ticks after the last acknowledgement`);
  t.equal(role(a), 'leader', 'still leader, but without a lease');
});

// ---------------------------------------------------------------------------
// Leadership transfer (thesis §3.10)

t.test('a transfer to an up-to-date server sends it timeout_now, and it wins an election in the next term', async (t) => {
  // Reference: thesis section 3.10
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  const before = term(a);
  a.raw.transferLeadership('b');
  const out = drain(a);
  t.match(ofType(out.messages, 'timeout_now'), [{ to: 'b' }]);
  net.deliver(out.messages);
  net.settle();
  t.same(net.leaders(), ['b']);
  t.equal(term(net.node('b')), before + 1);
  t.match(a.raw.status(), { role: 'follower', leaderId: 'b' });
});

t.test('a transfer to a lagging server first brings its log up to date', async (t) => {
  // Reference: thesis section 3.10
  const net = newCluster(ABC);
  const a = elect(net, 'a', appendsFrom('a', 'c'));
  for (const s of ['x', 'y', 'z']) a.raw.propose(bytes(s));
  net.settle(appendsFrom('a', 'c'));
  const last = a.raw.status().lastIndex;
  t.ok(net.node('c').raw.status().lastIndex < last, 'c lags');
  a.raw.transferLeadership('c');
  t.equal(a.raw.status().leadTransferee, 'c');
  const start = net.trace.length;
  for (let i = 0; i < ET && role(net.node('c')) !== 'leader'; i++) net.tick();
  const trace = net.trace.slice(start);
  const caughtUp = trace.findIndex((m) => m.type === 'append_entries_result' && m.from === 'c' && m.success && m.matchIndex === last);
  const timeoutNow = trace.findIndex((m) => m.type === 'timeout_now');
  t.ok(caughtUp >= 0 && timeoutNow > caughtUp, `timeout_now (#${timeoutNow}) follows c's catch-up (#${caughtUp})`);
  t.same(net.leaders(), ['c']);
});

t.test('proposals are refused while a leadership transfer is in progress', async (t) => {
  // Reference: thesis section 3.10
  const { net, a } = stableCluster();
  net.isolate('c');
  a.raw.propose(bytes('c misses this'));
  net.settle();
  a.raw.transferLeadership('c');
  t.throws(() => a.raw.propose(bytes('x')), { name: 'RaftError', code: 'leadership_transfer_in_progress' });
  t.throws(() => a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: '' }),
    { code: 'leadership_transfer_in_progress' });
});

t.test('a transfer that does not finish within an election timeout is abandoned', async (t) => {
  // Reference: thesis section 3.10
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  net.isolate('c');
  a.raw.propose(bytes('c misses this'));
  net.settle();
  a.raw.transferLeadership('c');
  net.tick(ET - 1);
  t.equal(a.raw.status().leadTransferee, 'c', 'still trying just before the timeout');
  net.tick(1);
  t.match(a.raw.status(), { role: 'leader', leadTransferee: null });
  t.doesNotThrow(() => a.raw.propose(bytes('accepted again')));
});

t.test('hasLease() is false once timeout_now has been sent', async (t) => {
  // Reference: thesis section 3.10 and section 6.4.1
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  net.tick();
  t.equal(a.raw.hasLease(), true);
  a.raw.transferLeadership('b');
  t.ok(ofType(drain(a).messages, 'timeout_now').length === 1, 'timeout_now is out (and lost)');
  t.equal(a.raw.hasLease(), false);
  t.equal(role(a), 'leader');
});

t.test('transferLeadership() without a target picks the voter with the highest match, the first one on a tie', async (t) => {
  // Reference: thesis section 3.10 (the leader picks the target; the most up-to-date server needs no catching up)
  const cases: { lagging: string | null; want: string }[] = [
    { lagging: 'c', want: 'b' },
    { lagging: 'b', want: 'c' },
    { lagging: null, want: 'b' },
  ];
  for (const c of cases) {
    const { net, a } = stableCluster();
    if (c.lagging !== null) net.isolate(c.lagging);
    a.raw.propose(bytes('x'));
    net.settle();
    a.raw.transferLeadership();
    t.equal(a.raw.status().leadTransferee, c.want, `${c.lagging ?? 'nobody'} lags`);
    t.match(ofType(drain(a).messages, 'timeout_now'), [{ to: c.want }]);
  }
  const n = newNode('a', { voters: ABC });
  n.raw.campaign();
  n.raw.step(voteResult('c', 'a', 2, true));
  t.match(n.raw.status().progress, { b: { match: 0 }, c: { match: 0 } }, 'a new leader that no follower has answered yet');
  n.raw.transferLeadership();
  t.equal(n.raw.status().leadTransferee, 'b', 'still picks a voter, to be caught up first');
  const out = drain(n).messages.filter((m) => m.to === 'b');
  t.same(ofType(out, 'timeout_now'), []);
  t.equal(ofType(out, 'append_entries').length, 1);
});

t.test('a transfer with no possible target is refused, naming the target', async (t) => {
  // Reference: thesis section 3.10
  const n = newNode('a', { voters: ['a'] });
  n.raw.campaign();
  t.equal(role(n), 'leader');
  t.throws(() => n.raw.transferLeadership(), { name: 'RaftError', code: 'invalid_transfer_target', message: 'cannot transfer leadership to nobody' });
  const { a } = stableCluster();
  t.throws(() => a.raw.transferLeadership('z'), { code: 'invalid_transfer_target', message: 'cannot transfer leadership to z' });
  t.equal(a.raw.status().leadTransferee, null);
});

t.test('asking again for the transfer in progress does not restart its timeout', async (t) => {
  // Reference: thesis section 3.10 (a transfer is abandoned one election timeout after it started)
  const { net, a } = stableCluster();
  net.isolate('c');
  a.raw.propose(bytes('c misses this'));
  net.settle();
  a.raw.transferLeadership('c');
  net.tick(4);
  a.raw.transferLeadership('c');
  t.same(ofType(drain(a).messages, 'append_entries'), [], 'nothing sent again');
  net.tick(ET - 5);
  t.equal(a.raw.status().leadTransferee, 'c');
  net.tick(1);
  t.match(a.raw.status(), { role: 'leader', leadTransferee: null }, 'abandoned one election timeout after the first request');
});

// ---------------------------------------------------------------------------
// Snapshots (§7, figure 13)

t.test('a follower far behind gets the snapshot in chunks, installs it, then gets the entries after it', async (t) => {
  // Reference: section 7, figure 13
  const net = newCluster(ABC, { snapshotChunkBytes: 16, snapshotBytes: 100 });
  net.isolate('c');
  const a = elect(net, 'a');
  for (let i = 1; i <= 5; i++) a.raw.propose(bytes(`x${i}`));
  net.settle();
  const snapIndex = a.raw.status().appliedIndex;
  t.equal(snapIndex, 9);
  a.raw.reportSnapshot(snapIndex);
  net.settle();
  t.equal(a.storage.firstIndex(), snapIndex + 1, 'the leader compacted its log');
  a.raw.propose(bytes('y1'));
  a.raw.propose(bytes('y2'));
  net.settle();
  net.heal();
  const c = net.node('c');
  for (let i = 0; i < 10 && c.raw.status().lastIndex < 11; i++) net.tick();

  const chunks = ofType(net.trace, 'install_snapshot').filter((m) => m.to === 'c');
  const offsets = [...new Set(chunks.map((m) => m.offset))];
  t.same(offsets, [0, 16, 32, 48, 64, 80, 96], 'seven chunks of 16 bytes');
  t.ok(chunks.every((m) => m.snapshot.index === snapIndex));
  const withSnapshot = c.readies.filter((rd) => rd.snapshot !== null);
  t.equal(withSnapshot.length, 1, 'one Ready installs it');
  t.ok(withSnapshot[0]?.snapshotChunks.some((ch) => ch.done), 'the Ready with the final chunk');
  t.ok(c.readies.filter((rd) => rd.snapshotChunks.some((ch) => !ch.done)).every((rd) => rd.snapshot === null),
    'earlier chunks are only staged');
  t.equal(c.storage.snapshot().index, snapIndex);
  t.same(c.storage.snapshotData(), snapshotData(100, snapIndex));
  t.same(storedEntries(c).map(text), ['y1', 'y2']);
  t.equal(commit(c), 11);
  t.same(c.applied.filter((e) => e.index > 3).map(text), ['y1', 'y2'], 'after the snapshot, only the entries after it are applied');
});

t.test('a heartbeat during a slow chunked snapshot transfer neither forks nor rewinds the stream', async (t) => {
  // Reference: figure 13 (chunks are sent in order, one at a time per follower)
  const chunkCount = 10;
  const net = newCluster(ABC, { snapshotChunkBytes: 16, snapshotBytes: 16 * chunkCount });
  net.isolate('c');
  const a = elect(net, 'a');
  for (let i = 1; i <= 5; i++) a.raw.propose(bytes(`x${i}`));
  net.settle();
  a.raw.reportSnapshot(a.raw.status().appliedIndex);
  net.settle();
  net.heal();
  const c = net.node('c');
  let ticks = 0;
  const sent: Message[] = [];
  while (c.storage.snapshot().index === 0 && ticks < 20 * chunkCount) {
    sent.push(...net.tickWithLatency(1));
    ticks++;
  }
  const chunks = ofType(sent, 'install_snapshot').length;
  t.equal(c.storage.snapshot().index, 9, `installed after ${ticks} ticks`);
  t.ok(ticks <= 3 * chunkCount, `a round trip is two ticks; ${chunkCount} chunks took ${ticks} ticks`);
  t.ok(chunks <= 3 * chunkCount, `${chunks} install_snapshot messages for ${chunkCount} chunks`);
});

t.test('a snapshot whose last entry the follower already holds keeps the entries after it', async (t) => {
  // Reference: figure 13 (receiver step 6)
  const log = [...logOfTerms([1, 1, 1]), ...[4, 5, 6, 7, 8, 9, 10, 11, 12].map((i) => entry(i, 2, `e${i}`))];
  const n = newNode('c', { voters: ABC, log, term: 2, commit: 3 });
  drain(n);
  const meta: SnapshotMeta = { index: 10, term: 2, membership: { voters: [...ABC], learners: [] } };
  n.raw.step(installSnapshot('a', 'c', 2, meta, 0, snapshotData(8, 10), true));
  const out = drain(n);
  t.match(ofType(out.messages, 'install_snapshot_result'), [{ snapshotIndex: 10, installed: true }]);
  t.equal(out.ready.snapshot, null, 'nothing to restore: the log already leads to the same state');
  t.match(n.raw.status(), { commitIndex: 10, lastIndex: 12 });
  t.same(out.committed.map((e) => e.index), [4, 5, 6, 7, 8, 9, 10]);
});

const SNAP: SnapshotMeta = { index: 10, term: 2, membership: { voters: [...ABC], learners: [] } };

t.test('a follower that installs a snapshot has applied everything up to its index', async (t) => {
  // Reference: section 7 (the snapshot replaces the state machine up to its last included index)
  const n = newNode('c', { voters: ABC });
  drain(n);
  n.raw.step(installSnapshot('a', 'c', 2, SNAP, 0, snapshotData(8, 10), true));
  const out = drain(n);
  t.match(out.ready.snapshot, { index: 10, term: 2 });
  t.same(out.committed, [], 'nothing to apply: the snapshot is the state');
  t.match(n.raw.status(), { appliedIndex: 10, commitIndex: 10, firstIndex: 11, lastIndex: 10 });
  t.equal(n.raw.hasReady(), false);
  n.raw.step(appendEntries('a', 'c', 2, [10, 2], [entry(11, 2, 'after')], 11));
  t.same(drain(n).committed.map(text), ['after'], 'entries after the snapshot are applied next');
});

t.test('a chunk out of order is answered with the offset the follower expects', async (t) => {
  // Reference: figure 13 (receiver step 2)
  const n = newNode('c', { voters: ABC });
  drain(n);
  const data = snapshotData(64, 10);
  const send = (offset: number): { nextOffset: number | undefined; staged: number } => {
    n.raw.step(installSnapshot('a', 'c', 2, SNAP, offset, data.subarray(offset, offset + 16), offset + 16 >= 64));
    const out = drain(n);
    return { nextOffset: ofType(out.messages, 'install_snapshot_result')[0]?.nextOffset, staged: out.ready.snapshotChunks.length };
  };
  t.same(send(0), { nextOffset: 16, staged: 1 });
  t.same(send(32), { nextOffset: 16, staged: 0 }, 'a gap: ask for 16 again');
  t.same(send(16), { nextOffset: 32, staged: 1 });
  t.equal(n.raw.status().commitIndex, 3, 'nothing installed yet');
});

t.test('a snapshot the follower\'s commit index already covers is acknowledged without installing it', async (t) => {
  // Reference: figure 13 (receiver steps 6-7)
  const n = newNode('c', { voters: ABC });
  drain(n);
  const old: SnapshotMeta = { index: 2, term: 1, membership: { voters: [...ABC], learners: [] } };
  n.raw.step(installSnapshot('a', 'c', 2, old, 0, snapshotData(8, 2), true));
  const out = drain(n);
  t.match(ofType(out.messages, 'install_snapshot_result'), [{ snapshotIndex: 2, installed: true }]);
  t.equal(out.ready.snapshot, null);
  t.same(out.ready.snapshotChunks, []);
  t.match(n.raw.status(), { commitIndex: 3, firstIndex: 1, lastIndex: 3 });
});

t.test('a compaction asked for before a newer snapshot arrives is dropped, and a compaction is synced', async (t) => {
  // Reference: section 7 (the snapshot replaces the whole log, so a compaction behind it has nothing left to do)
  const n = newNode('c', { voters: ABC });
  drain(n);
  n.raw.reportSnapshot(3);
  n.raw.step(installSnapshot('a', 'c', 2, SNAP, 0, snapshotData(8, 10), true));
  const ready = n.raw.ready();
  t.match(ready.snapshot, { index: 10, term: 2 });
  t.equal(ready.compaction, null);
  n.raw.advance();
  const m = newNode('a', { voters: ['a'] });
  drain(m);
  m.raw.reportSnapshot(1);
  const compacting = m.raw.ready();
  t.match(compacting, { compaction: { index: 1 }, entries: [], mustSync: true });
});

t.test('reportSnapshot outside (snapshot index, applied index] throws snapshot_out_of_range', async (t) => {
  // Reference: section 7
  const n = newNode('a', { voters: ['a'] });
  drain(n);
  t.equal(n.raw.status().appliedIndex, 1);
  t.throws(() => n.raw.reportSnapshot(2), { name: 'RaftError', code: 'snapshot_out_of_range' });
  t.throws(() => n.raw.reportSnapshot(0), { code: 'snapshot_out_of_range' });
  t.doesNotThrow(() => n.raw.reportSnapshot(1));
});

// ---------------------------------------------------------------------------
// Membership changes (thesis §4.1-4.2)

/** A stable a/b/c cluster plus d, a new server with an empty log. */
function clusterWithNewcomer(): { net: Network; a: TestNode; d: TestNode } {
  const { net, a } = stableCluster();
  const d = newNode('d', { voters: [], storage: new MemoryStorage() });
  net.add(d);
  return { net, a, d };
}

t.test('add_node makes a learner that receives the log but does not count towards commitment', async (t) => {
  // Reference: thesis section 4.2.1
  const { net, a, d } = clusterWithNewcomer();
  const committed = commit(a);
  net.isolate('b', 'c');
  a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: 'd:1234' });
  a.raw.propose(bytes('x'));
  net.settle();
  const last = a.raw.status().lastIndex;
  t.match(a.raw.status().progress.d, { voter: false, match: last });
  t.same(a.raw.status().membership, { voters: ['a', 'b', 'c'], learners: ['d'] });
  t.equal(commit(a), committed, 'leader and learner hold everything, yet nothing new commits');
  t.equal(d.raw.status().lastIndex, last);
  t.equal(role(d), 'follower');
});

t.test('a learner that has caught up is promoted to voter automatically', async (t) => {
  // Reference: thesis section 4.2.1
  const { net, a, d } = clusterWithNewcomer();
  a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: 'd:1234' });
  net.settle();
  net.tick();
  const voters = ['a', 'b', 'c', 'd'];
  t.same(a.raw.status().membership, { voters, learners: [] });
  t.same(d.raw.status().membership, { voters, learners: [] });
  t.ok(storedEntries(a).some((e) => e.type === 'conf_change' && e.change.type === 'promote' && e.change.nodeId === 'd'));
  net.isolate('c');
  const pos = a.raw.propose(bytes('needs d'));
  net.settle();
  t.equal(commit(a), pos.index, 'a, b and d are three of four voters');
});

t.test('only one membership change is in progress at a time', async (t) => {
  // Reference: thesis section 4.1
  const net = newCluster(ABC);
  const a = elect(net, 'a', appendsFrom('a'));
  t.throws(() => a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: '' }),
    { code: 'conf_change_in_progress' }, 'not before the leader commits an entry of its term');
  net.tick();
  a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: '' });
  t.throws(() => a.raw.proposeMembership({ type: 'add_node', nodeId: 'e', context: '' }),
    { name: 'RaftError', code: 'conf_change_in_progress' });
});

t.test('adding a member or removing a non-member is refused, and a change may follow as soon as the last one commits', async (t) => {
  // Reference: thesis section 4.1 (one server at a time: each change adds or removes exactly one server)
  const { net, a } = stableCluster();
  const last = a.raw.status().lastIndex;
  t.throws(() => a.raw.proposeMembership({ type: 'add_node', nodeId: 'b', context: '' }),
    { name: 'RaftError', code: 'invalid_conf_change', message: 'b is already a member' });
  t.throws(() => a.raw.proposeMembership({ type: 'remove_node', nodeId: 'z' }),
    { code: 'invalid_conf_change', message: 'z is not a member' });
  t.equal(a.raw.status().lastIndex, last, 'nothing appended');
  const add = a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: 'd:1234' });
  net.settle();
  t.match(a.raw.status(), { commitIndex: add.index, lastIndex: add.index, membership: { voters: ['a', 'b', 'c'], learners: ['d'] } },
    'the change committed and is the last entry; d (never started) stays a learner');
  t.throws(() => a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: '' }),
    { code: 'invalid_conf_change', message: 'd is already a member' }, 'a learner is a member');
  const removal = a.raw.proposeMembership({ type: 'remove_node', nodeId: 'd' });
  t.same(removal, { index: add.index + 1, term: term(a) });
  net.settle();
  const written = storedEntries(a).slice(-2);
  t.same(written.map((e) => (e.type === 'conf_change' ? e.change : null)), [
    { type: 'add_learner', nodeId: 'd', context: 'd:1234' },
    { type: 'remove_node', nodeId: 'd', context: '' },
  ]);
  t.same(a.raw.status().membership, { voters: ['a', 'b', 'c'], learners: [] });
});

t.test('the last voter cannot be removed, but a learner beside it can', async (t) => {
  // Reference: thesis section 4.1 (a configuration needs a voter to form a majority)
  const n = newNode('a', { voters: ['a'], learners: ['d'], log: [] });
  n.raw.campaign();
  drain(n);
  drain(n);
  t.match(n.raw.status(), { role: 'leader', commitIndex: 1 });
  t.throws(() => n.raw.proposeMembership({ type: 'remove_node', nodeId: 'a' }),
    { name: 'RaftError', code: 'invalid_conf_change', message: 'cannot remove the last voter' });
  t.equal(n.raw.status().lastIndex, 1);
  t.same(n.raw.proposeMembership({ type: 'remove_node', nodeId: 'd' }), { index: 2, term: 1 });
  t.same(n.raw.status().membership, { voters: ['a'], learners: [] });
});

t.test('a membership change takes effect when appended, not when committed', async (t) => {
  // Reference: thesis section 4.1
  const { net, a } = stableCluster();
  const b = net.node('b');
  net.isolate('c');
  const pos = a.raw.proposeMembership({ type: 'remove_node', nodeId: 'c' });
  t.same(a.raw.status().membership.voters, ['a', 'b'], 'the leader uses it at once');
  t.notOk('c' in a.raw.status().progress, 'and stops tracking c');
  t.ok(commit(a) < pos.index);
  // b stores the entry, but its acknowledgement is lost: nobody can know the change committed.
  net.settle((m) => m.from === 'b' && m.to === 'a');
  t.ok(commit(a) < pos.index, 'the change has not committed');
  t.ok(commit(b) < pos.index, 'b has not learned of any commit');
  t.same(b.raw.status().membership.voters, ['a', 'b'], 'but already uses it');
});

t.test('removing a server shrinks the quorum', async (t) => {
  // Reference: thesis section 4.1
  const { net, a } = stableCluster({}, ['a', 'b', 'c', 'd']);
  net.isolate('c', 'd');
  const w = a.raw.propose(bytes('w'));
  net.settle();
  t.equal(commit(a), w.index - 1, 'a and b are not a majority of four');
  net.heal();
  net.isolate('d');
  const removal = a.raw.proposeMembership({ type: 'remove_node', nodeId: 'd' });
  net.settle();
  t.ok(commit(a) >= removal.index, 'the removal commits with a, b and c');
  net.tick();
  net.isolate('c', 'd');
  const x = a.raw.propose(bytes('x'));
  net.settle();
  t.equal(commit(a), x.index, 'a and b are a majority of three');
});

t.test('a leader that removes itself leads until the removal commits, then steps down for another server', async (t) => {
  // Reference: thesis section 4.2.2
  const { net, a } = stableCluster();
  const before = term(a);
  const pos = a.raw.proposeMembership({ type: 'remove_node', nodeId: 'a' });
  t.same(a.raw.status().membership.voters, ['b', 'c']);
  const held: Message[] = [];
  net.settle((m) => {
    const hold = m.type === 'append_entries_result' && m.from === 'c';
    if (hold) held.push(m);
    return hold;
  });
  t.equal(role(a), 'leader', 'still leading: only b of {b, c} holds the removal');
  t.ok(commit(a) < pos.index);
  net.deliver(held);
  net.settle();
  t.equal(role(a), 'follower', 'stepped down once the removal committed');
  const leaders = net.leaders();
  t.equal(leaders.length, 1);
  t.ok(leaders[0] === 'b' || leaders[0] === 'c', `new leader ${leaders[0]}`);
  t.ok(term(net.node(leaders[0] ?? 'b')) > before);
});

t.test('a server removed from the configuration does not campaign', async (t) => {
  // Reference: thesis section 4.2.2
  const { net, a } = stableCluster();
  a.raw.proposeMembership({ type: 'remove_node', nodeId: 'a' });
  net.settle();
  net.tick(2);
  t.equal(role(a), 'follower');
  const before = term(a);
  const seen = a.readies.length;
  net.isolate('a');
  net.tick(10 * ET, undefined, ['a']);
  t.equal(role(a), 'follower');
  t.equal(term(a), before);
  const asked = a.readies.slice(seen).flatMap((rd) => [...rd.messages, ...rd.persistedMessages]);
  t.same(ofType(asked, 'request_vote'), [], 'no vote requested');
});

t.test('a configuration entry removed from the log takes its configuration with it', async (t) => {
  // Reference: thesis section 4.1 (a server always uses the latest configuration in its log)
  const change: Entry = { type: 'conf_change', index: 4, term: 2, change: { type: 'add_learner', nodeId: 'd', context: '' } };
  const n = newNode('b', { voters: ABC, storage: MemoryStorage.bootstrap(ABC) });
  n.raw.step(appendEntries('x', 'b', 2, [3, 1], [change], 3));
  drain(n);
  t.same(n.raw.status().membership, { voters: ['a', 'b', 'c'], learners: ['d'] });
  n.raw.step(appendEntries('a', 'b', 3, [3, 1], [entry(4, 3, 'replaces it')], 3));
  drain(n);
  t.same(storedTerms(n), [1, 1, 1, 3]);
  t.same(n.raw.status().membership, { voters: ['a', 'b', 'c'], learners: [] });
});

t.test('a removed server that never learned of its removal cannot disrupt the cluster', async (t) => {
  // Reference: thesis section 4.2.3
  const { net, a } = stableCluster({ preVote: true, checkQuorum: true });
  a.raw.proposeMembership({ type: 'remove_node', nodeId: 'c' });
  net.settle();
  const c = net.node('c');
  t.ok(c.raw.status().membership.voters.includes('c'), 'c never received its removal');
  const before = term(a);
  const sent = net.tick(10 * ET);
  t.ok(sent.some((m) => m.type === 'request_vote' && m.from === 'c'), 'c keeps asking for votes');
  t.same(net.leaders(), ['a']);
  t.equal(term(a), before);
  t.equal(term(net.node('b')), before);
});

// ---------------------------------------------------------------------------
// ReadIndex (thesis §6.4)

t.test('a leader answers readIndex with its commit index only after a majority acknowledges a heartbeat round', async (t) => {
  // Reference: thesis section 6.4
  const { net, a } = stableCluster();
  const committed = commit(a);
  net.isolate('b', 'c');
  a.raw.readIndex('r1');
  net.tick(2, undefined, ['a']);
  t.same(a.readStates, [], 'no answer without acknowledgements');
  net.heal();
  net.isolate('c');
  net.tick(1, undefined, ['a']);
  t.same(a.readStates, [{ requestId: 'r1', ok: true, index: committed }]);
});

t.test('a new leader serves no read before it has committed an entry of its term', async (t) => {
  // Reference: thesis section 6.4 (step 1)
  const net = newCluster(ABC);
  const a = elect(net, 'a', (m) => m.type === 'append_entries');
  const noop = a.raw.status().lastIndex;
  a.raw.readIndex('r1');
  net.tick(3, (m) => m.type === 'append_entries', ['a']);
  t.same(a.readStates, [], 'heartbeats are acknowledged, but the no-op is not committed');
  t.ok(commit(a) < noop);
  net.tick(2, undefined, ['a']);
  t.same(a.readStates, [{ requestId: 'r1', ok: true, index: noop }]);
});

t.test('readIndex on a follower is forwarded to the leader and answered', async (t) => {
  // Reference: thesis section 6.4
  const { net, a } = stableCluster();
  const b = net.node('b');
  b.raw.readIndex('rb');
  net.settle();
  t.ok(net.trace.some((m) => m.type === 'read_index' && m.from === 'b' && m.to === 'a'));
  t.same(b.readStates, [{ requestId: 'rb', ok: true, index: commit(a) }]);
});

t.test('readIndex on a server that knows no leader fails at once, without sending anything', async (t) => {
  // Reference: thesis section 6.4 (a follower forwards to its leader; with none, the client retries)
  const n = newNode('b', { voters: ABC });
  drain(n);
  n.raw.readIndex('r1');
  const out = drain(n);
  t.same(out.ready.readStates, [{ requestId: 'r1', ok: false }]);
  t.same(out.messages, []);
});

t.test('a leader that loses leadership fails its pending reads', async (t) => {
  // Reference: thesis section 6.4
  const { net, a } = stableCluster();
  net.isolate('b', 'c');
  a.raw.readIndex('r1');
  net.settle();
  a.raw.step(heartbeat('b', 'a', term(a) + 1, commit(a)));
  drain(a);
  t.same(a.readStates, [{ requestId: 'r1', ok: false }]);
});

t.test('a single-node leader answers reads at once', async (t) => {
  // Reference: thesis section 6.4
  const n = newNode('a', { voters: ['a'] });
  n.raw.campaign();
  drain(n);
  drain(n);
  n.raw.readIndex('r1');
  drain(n);
  t.same(n.readStates, [{ requestId: 'r1', ok: true, index: commit(n) }]);
  t.equal(commit(n), 2);
});

// ---------------------------------------------------------------------------
// Invariants that crash rather than corrupt

t.test('a leader stepped with AppendEntries of its own term asserts (Election Safety)', async (t) => {
  // Reference: section 5.2 (figure 3, Election Safety)
  const { a } = stableCluster();
  t.throws(() => a.raw.step(appendEntries('b', 'a', term(a), [4, term(a)], [])), { code: 'ERR_ASSERTION' });
  const { a: a2 } = stableCluster();
  t.throws(() => a2.raw.step(heartbeat('c', 'a', term(a2))), { code: 'ERR_ASSERTION' });
});

t.test('committing beyond the last index asserts', async (t) => {
  // Reference: section 5.3 (a server only commits entries it holds)
  const n = newNode('b', { voters: ABC });
  drain(n);
  t.throws(() => n.raw.step(heartbeat('a', 'b', 2, 10)), { code: 'ERR_ASSERTION' });
  const bad = MemoryStorage.bootstrap(ABC);
  bad.setHardState({ term: 1, vote: null, commit: 7 });
  t.throws(() => newNode('b', { voters: ABC, storage: bad }), { code: 'ERR_ASSERTION' });
});

t.test('ready() twice without advance(), or advance() without ready(), asserts', async (t) => {
  // Reference: the Ready contract (ready.ts)
  const n = newNode('a', { voters: ABC });
  n.raw.ready();
  t.throws(() => n.raw.ready(), { code: 'ERR_ASSERTION' });
  n.raw.advance();
  t.throws(() => n.raw.advance(), { code: 'ERR_ASSERTION' });
});
