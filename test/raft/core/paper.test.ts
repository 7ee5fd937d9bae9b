// One test per rule of the Raft paper (figure 2, §5, §7) and of Ongaro's thesis, in the spirit of etcd's raft_paper_test.go.
import t from 'tap';
import { MemoryStorage } from '../../../src/raft/core/index.js';
import type { Entry, Message, NodeId, SnapshotMeta } from '../../../src/raft/core/index.js';
import {
  appendAck, appendEntries, bytes, commit, drain, elect, entry, heartbeat, installSnapshot, logOfTerms, newCluster,
  Network, newNode, ofType, persist, requestVote, role, snapshotData, storedEntries, storedTerms, term, text, voteResult,
} from './harness.js';
import type { DropFilter, TestNode } from './harness.js';

const ABC = ['a', 'b', 'c'] as const;
const ET = 10;

/** A leader of a three-node cluster whose no-op is committed everywhere. */
function stableCluster(opts: Parameters<typeof newCluster>[1] = {}, ids: readonly NodeId[] = ABC): { net: Network; a: TestNode } {
  const net = newCluster(ids, opts);
  const a = elect(net, 'a');
  net.tick();
  return { net, a };
}

const appendsFrom = (from: NodeId, ...to: NodeId[]): DropFilter =>
  (m) => m.from === from && (m.type === 'append_entries' || m.type === 'heartbeat') && (to.length === 0 || to.includes(m.to));

// ---------------------------------------------------------------------------
// §5.1 Terms

t.test('a follower that sees a higher term adopts it and stays a follower of the sender', async (t) => {
  // Reference: section 5.1
  const n = newNode('a', { voters: ABC });
  n.raw.step(heartbeat('b', 'a', 5));
  t.equal(term(n), 5);
  t.equal(role(n), 'follower');
  t.equal(n.raw.status().leaderId, 'b');
  n.raw.step(requestVote('c', 'a', 6, [3, 1]));
  t.equal(term(n), 6);
  t.equal(n.raw.status().leaderId, null, 'a vote request does not name a leader');
});

t.test('a candidate that sees a higher term adopts it and becomes a follower', async (t) => {
  // Reference: section 5.1
  const n = newNode('a', { voters: ABC });
  n.raw.campaign();
  t.equal(role(n), 'candidate');
  n.raw.step(appendEntries('b', 'a', 3, [3, 1], []));
  t.equal(term(n), 3);
  t.equal(role(n), 'follower');
  t.equal(n.raw.status().leaderId, 'b');
});

t.test('a leader that sees a higher term, even in a reply, adopts it and becomes a follower', async (t) => {
  // Reference: section 5.1
  const { a } = stableCluster();
  const leaderTerm = term(a);
  a.raw.step(appendAck('b', 'a', leaderTerm + 1, 0));
  t.equal(term(a), leaderTerm + 1);
  t.equal(role(a), 'follower');
  t.equal(a.raw.status().leaderId, null);

  const { a: a2 } = stableCluster();
  a2.raw.step(heartbeat('c', 'a', term(a2) + 3));
  t.equal(role(a2), 'follower');
  t.equal(a2.raw.status().leaderId, 'c');
});

t.test('a server rejects an AppendEntries from an older term and replies with its newer term', async (t) => {
  // Reference: section 5.1 (figure 2, AppendEntries receiver step 1); checkQuorum makes the reply explicit (thesis §9.6)
  const n = newNode('a', { voters: ABC, term: 5, checkQuorum: true });
  drain(n);
  n.raw.step(appendEntries('b', 'a', 3, [3, 1], [entry(4, 3, 'stale')], 3));
  const replies = ofType(drain(n).messages, 'append_entries_result');
  t.equal(replies.length, 1);
  t.match(replies[0], { to: 'b', term: 5, success: false });
  t.equal(n.raw.status().lastIndex, 3, 'nothing appended');
  t.equal(term(n), 5);
});

t.test('a message from an older term changes nothing and wins no vote', async (t) => {
  // Reference: section 5.1
  const n = newNode('a', { voters: ABC, term: 5 });
  drain(n);
  n.raw.step(appendEntries('b', 'a', 3, [3, 1], [entry(4, 3)], 3));
  n.raw.step(heartbeat('b', 'a', 4, 3));
  n.raw.step(requestVote('c', 'a', 4, [10, 4]));
  const out = drain(n);
  t.same(ofType(out.messages, 'request_vote_result').filter((m) => m.granted), []);
  t.same(out.ready.entries, []);
  t.match(n.raw.status(), { term: 5, vote: null, leaderId: null, lastIndex: 3, role: 'follower' });
});

// ---------------------------------------------------------------------------
// §5.2 Leader election

t.test('a follower that hears nothing for an election timeout campaigns: term+1, votes for itself, asks everyone', async (t) => {
  // Reference: section 5.2
  const n = newNode('a', { voters: ABC });
  drain(n);
  for (let i = 0; i < 2 * ET && role(n) === 'follower'; i++) n.raw.tick();
  t.equal(role(n), 'candidate');
  const out = drain(n);
  t.same(out.ready.hardState, { term: 2, vote: 'a', commit: 3 });
  const asks = ofType(out.messages, 'request_vote');
  t.same(asks.map((m) => m.to).sort(), ['b', 'c']);
  for (const m of asks) t.match(m, { term: 2, preVote: false, lastLogIndex: 3, lastLogTerm: 1 });
});

t.test('a candidate wins with a majority of votes, loses once a majority rejects, and waits otherwise', async (t) => {
  // Reference: section 5.2
  const cases: { size: number; votes: Record<string, boolean>; want: string }[] = [
    { size: 1, votes: {}, want: 'leader' },
    { size: 3, votes: { b: true, c: true }, want: 'leader' },
    { size: 3, votes: { b: true }, want: 'leader' },
    { size: 5, votes: { b: true, c: true, d: true, e: true }, want: 'leader' },
    { size: 5, votes: { b: true, c: true }, want: 'leader' },
    { size: 5, votes: { b: true, c: false, d: true }, want: 'leader' },
    { size: 3, votes: { b: false, c: false }, want: 'follower' },
    { size: 5, votes: { b: false, c: false, d: false }, want: 'follower' },
    { size: 5, votes: { b: true, c: false, d: false, e: false }, want: 'follower' },
    { size: 3, votes: {}, want: 'candidate' },
    { size: 3, votes: { b: false }, want: 'candidate' },
    { size: 5, votes: { b: true }, want: 'candidate' },
    { size: 5, votes: { b: false, c: false }, want: 'candidate' },
    { size: 5, votes: { b: true, c: false, d: false }, want: 'candidate' },
  ];
  for (const c of cases) {
    const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, c.size);
    const n = newNode('a', { voters: ids });
    n.raw.campaign();
    for (const [from, granted] of Object.entries(c.votes)) n.raw.step(voteResult(from, 'a', 2, granted));
    t.equal(role(n), c.want, `size ${c.size} votes ${JSON.stringify(c.votes)}`);
    t.equal(term(n), 2);
  }
});

t.test('a new leader sends AppendEntries to every other server at once', async (t) => {
  // Reference: section 5.2
  const n = newNode('a', { voters: ABC });
  n.raw.campaign();
  drain(n);
  n.raw.step(voteResult('b', 'a', 2, true));
  t.equal(role(n), 'leader');
  const appends = ofType(drain(n).messages, 'append_entries');
  t.same(appends.map((m) => m.to).sort(), ['b', 'c']);
  for (const m of appends) t.equal(m.term, 2);
});

t.test('a candidate that hears from a leader of its own term steps down and follows it', async (t) => {
  // Reference: section 5.2
  for (const m of [appendEntries('b', 'a', 2, [3, 1], []), heartbeat('b', 'a', 2)]) {
    const n = newNode('a', { voters: ABC });
    n.raw.campaign();
    n.raw.step(m);
    t.match(n.raw.status(), { role: 'follower', term: 2, leaderId: 'b' }, m.type);
  }
});

t.test('a candidate whose election times out starts a new one in a higher term', async (t) => {
  // Reference: section 5.2
  const n = newNode('a', { voters: ABC });
  n.raw.campaign();
  drain(n);
  for (let i = 0; i < 2 * ET; i++) n.raw.tick();
  t.match(n.raw.status(), { role: 'candidate', term: 3, vote: 'a' });
  t.ok(ofType(drain(n).messages, 'request_vote').every((m) => m.term === 3));
});

t.test('election timeouts are drawn at random from [et, 2et)', async (t) => {
  // Reference: section 5.2
  const seen = new Set<number>();
  for (let seed = 1; seed <= 200; seed++) {
    const n = newNode('a', { voters: ABC, seed, electionTimeoutTicks: ET });
    let ticks = 0;
    while (role(n) === 'follower' && ticks < 3 * ET) {
      n.raw.tick();
      ticks++;
    }
    t.ok(ticks >= ET && ticks < 2 * ET, `seed ${seed}: campaigned after ${ticks} ticks`);
    seen.add(ticks);
  }
  t.ok(seen.size >= ET / 2, `timeouts spread over ${[...seen].sort((x, y) => x - y).join(',')}`);
});

t.test('a server votes for at most one candidate per term, first come first served, and repeats that vote', async (t) => {
  // Reference: section 5.2 (figure 2, RequestVote receiver step 2)
  const n = newNode('c', { voters: ABC });
  drain(n);
  const answer = (from: NodeId): boolean | undefined => {
    n.raw.step(requestVote(from, 'c', 2, [3, 1]));
    return ofType(drain(n).messages, 'request_vote_result')[0]?.granted;
  };
  t.equal(answer('a'), true);
  t.equal(n.raw.status().vote, 'a');
  t.equal(answer('b'), false, 'a second candidate of the same term is refused');
  t.equal(answer('a'), true, 'the same candidate asking again gets the same vote');
  t.equal(n.storage.hardState().vote, 'a');
});

t.test('a leader sends heartbeats every heartbeat interval', async (t) => {
  // Reference: section 5.2
  const { a } = stableCluster({ heartbeatIntervalTicks: 3 });
  drain(a);
  const heartbeatsAfterTick = (): Message[] => {
    a.raw.tick();
    return ofType(drain(a).messages, 'heartbeat');
  };
  const counts = [heartbeatsAfterTick(), heartbeatsAfterTick(), heartbeatsAfterTick()].map((ms) => ms.length);
  t.same(counts.slice().sort(), [0, 0, 2], `one round of heartbeats in three ticks (${counts.join(',')})`);
});

t.test('followers that keep hearing from the leader never start an election', async (t) => {
  // Reference: section 5.2
  const { net, a } = stableCluster();
  const before = term(a);
  net.tick(10 * ET);
  t.same(net.leaders(), ['a']);
  for (const n of net.nodes.values()) t.equal(term(n), before, n.id);
});

// ---------------------------------------------------------------------------
// §5.3 Log replication

t.test('a leader appends a proposal to its log and sends it to every follower', async (t) => {
  // Reference: section 5.3
  const { net, a } = stableCluster();
  const last = a.raw.status().lastIndex;
  const pos = a.raw.propose(bytes('x'));
  t.same(pos, { index: last + 1, term: term(a) });
  const out = drain(a);
  t.same(out.ready.entries.map(text), ['x']);
  const appends = ofType(out.messages, 'append_entries');
  t.same(appends.map((m) => m.to).sort(), ['b', 'c']);
  for (const m of appends) {
    t.match(m, { prevLogIndex: last, prevLogTerm: term(a), leaderCommit: last });
    t.same(m.entries.map(text), ['x']);
  }
  net.deliver(out.messages);
  net.settle();
  net.tick();
  for (const n of net.nodes.values()) {
    t.equal(commit(n), pos.index, `${n.id} committed`);
    t.equal(text(n.applied[n.applied.length - 1] ?? entry(0, 0)), 'x', `${n.id} applied`);
  }
});

t.test('only the leader accepts proposals and transfers', async (t) => {
  // Reference: section 5.1 (the leader handles all client requests)
  const { net, a } = stableCluster();
  const b = net.node('b');
  t.throws(() => b.raw.propose(bytes('x')), { name: 'RaftError', code: 'not_leader' });
  t.throws(() => b.raw.proposeMembership({ type: 'remove_node', nodeId: 'c' }), { code: 'not_leader' });
  t.throws(() => b.raw.transferLeadership('c'), { code: 'not_leader' });
  t.throws(() => a.raw.transferLeadership('a'), { code: 'invalid_transfer_target' });
  t.throws(() => a.raw.transferLeadership('z'), { code: 'invalid_transfer_target' });
});

t.test('a follower rejects AppendEntries when its log lacks prevLogIndex/prevLogTerm, with a hint where to retry', async (t) => {
  // Reference: section 5.3 (figure 2, AppendEntries receiver step 2, and the conflict optimisation)
  const cases: { log: number[]; prev: [number, number]; want: object }[] = [
    { log: [1, 2], prev: [0, 0], want: { success: true, matchIndex: 0 } },
    { log: [1, 2], prev: [1, 1], want: { success: true, matchIndex: 1 } },
    { log: [1, 2], prev: [2, 2], want: { success: true, matchIndex: 2 } },
    { log: [1, 2], prev: [1, 2], want: { success: false, rejectedIndex: 1, conflictIndex: 1, conflictTerm: 1 } },
    { log: [1, 2], prev: [3, 3], want: { success: false, rejectedIndex: 3, conflictIndex: 2, conflictTerm: 2 } },
    // Figure 7 (e) against the figure's leader: the hint skips the follower's whole term 4 tail at once.
    { log: [1, 1, 1, 4, 4, 4, 4], prev: [10, 6], want: { success: false, rejectedIndex: 10, conflictIndex: 7, conflictTerm: 4 } },
  ];
  for (const c of cases) {
    const n = newNode('b', { voters: ABC, log: logOfTerms(c.log), term: 8 });
    drain(n);
    n.raw.step(appendEntries('a', 'b', 8, c.prev, []));
    const replies = ofType(drain(n).messages, 'append_entries_result');
    t.equal(replies.length, 1);
    t.match(replies[0], { to: 'a', term: 8, ...c.want }, `log ${c.log.join(',')} prev ${c.prev.join('/')}`);
  }
});

t.test('a follower deletes a conflicting entry and all that follow it, then appends the new entries', async (t) => {
  // Reference: section 5.3 (figure 2, AppendEntries receiver steps 3 and 4)
  const cases: { prev: [number, number]; entries: Entry[]; want: number[]; written: number }[] = [
    { prev: [2, 2], entries: [entry(3, 3)], want: [1, 2, 3], written: 1 },
    { prev: [1, 1], entries: [entry(2, 3), entry(3, 4)], want: [1, 3, 4], written: 2 },
    { prev: [0, 0], entries: [entry(1, 1)], want: [1, 2], written: 0 },
    { prev: [0, 0], entries: [entry(1, 3)], want: [3], written: 1 },
  ];
  for (const c of cases) {
    const n = newNode('b', { voters: ABC, log: logOfTerms([1, 2]) });
    drain(n);
    n.raw.step(appendEntries('a', 'b', 4, c.prev, c.entries));
    const out = drain(n);
    t.equal(out.ready.entries.length, c.written, 'only what differs is written');
    t.same(storedTerms(n), c.want, `prev ${c.prev.join('/')} entries ${c.entries.map((e) => `${e.index}:${e.term}`).join(',')}`);
  }
});

t.test('a leader brings a follower with a divergent log into agreement (figure 7)', async (t) => {
  // Reference: section 5.3
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, log] of Object.entries(followers)) {
    const lead = newNode('a', { voters: ABC, log: logOfTerms(leaderLog), term: 8 });
    const follower = newNode('b', { voters: ABC, log: logOfTerms(log), term: 7 });
    const net = new Network([lead, follower]);
    lead.raw.campaign();
    net.settle();
    // (d)'s log is more up to date than the leader's, so the leader needs the third server's vote.
    lead.raw.step(voteResult('c', 'a', 9, true));
    net.settle();
    lead.raw.propose(bytes('new'));
    net.settle();
    net.tick();
    t.same(storedTerms(follower), storedTerms(lead), `follower (${name}) agrees with the leader`);
    t.same(storedTerms(lead), [...leaderLog, 9, 9]);
    t.equal(commit(follower), 12, `follower (${name}) committed`);
  }
});

t.test('a follower commits up to min(leaderCommit, index of the last new entry)', async (t) => {
  // Reference: section 5.3 (figure 2, AppendEntries receiver step 5)
  const cases: { entries: Entry[]; leaderCommit: number; want: number }[] = [
    { entries: [entry(1, 1, 'x')], leaderCommit: 1, want: 1 },
    { entries: [entry(1, 1, 'x'), entry(2, 1, 'y')], leaderCommit: 1, want: 1 },
    { entries: [entry(1, 1, 'x'), entry(2, 1, 'y')], leaderCommit: 2, want: 2 },
    { entries: [entry(1, 1, 'x')], leaderCommit: 2, want: 1 },
  ];
  for (const c of cases) {
    const n = newNode('b', { voters: ABC, log: [], term: 1 });
    drain(n);
    n.raw.step(appendEntries('a', 'b', 1, [0, 0], c.entries, c.leaderCommit));
    const out = drain(n);
    t.equal(commit(n), c.want, `${c.entries.length} entries, leaderCommit ${c.leaderCommit}`);
    t.same(out.committed.map(text), c.entries.slice(0, c.want).map(text));
  }
});

t.test('a leader commits an entry once a majority stores it and tells the followers in its next messages', async (t) => {
  // Reference: section 5.3
  const { net, a } = stableCluster({}, ['a', 'b', 'c', 'd', 'e']);
  const pos = a.raw.propose(bytes('x'));
  const held: Message[] = [];
  net.settle((m) => {
    const hold = m.type === 'append_entries_result' && m.from !== 'b';
    if (hold) held.push(m);
    return hold;
  });
  t.equal(commit(a), pos.index - 1, 'leader and one follower are not a majority of five');
  const fromC = held.find((m) => m.from === 'c');
  t.ok(fromC !== undefined);
  net.deliver(fromC === undefined ? [] : [fromC]);
  t.equal(commit(a), pos.index, 'three of five store it');
  net.deliver(held.filter((m) => m !== fromC));
  net.settle();
  const sent = net.tick();
  for (const m of [...ofType(sent, 'heartbeat'), ...ofType(sent, 'append_entries')]) {
    t.equal(m.leaderCommit, pos.index, `${m.type} to ${m.to} carries the new commit index`);
  }
  for (const id of ['b', 'c', 'd', 'e']) t.equal(commit(net.node(id)), pos.index, `${id} learned the commit`);
});

t.test('a leader retries AppendEntries until a follower that lost them stores every entry', async (t) => {
  // Reference: section 5.3 ("the leader retries AppendEntries RPCs indefinitely"), section 5.5
  const { net, a } = stableCluster();
  const pos = a.raw.propose(bytes('lost on the way to c'));
  net.settle((m) => m.type === 'append_entries' && m.to === 'c');
  t.equal(commit(a), pos.index, 'committed with b');
  net.tick(3);
  t.equal(net.node('c').raw.status().lastIndex, pos.index, 'c received the entry on a later heartbeat round');
  t.equal(commit(net.node('c')), pos.index);
});

// ---------------------------------------------------------------------------
// §5.4.1 Election restriction

t.test('a voter grants its vote only to a candidate whose log is at least as up to date as its own', async (t) => {
  // Reference: section 5.4.1
  const cases: { log: number[]; last: [number, number]; granted: boolean }[] = [
    // same last term: the longer (or equal) log wins
    { log: [1], last: [1, 1], granted: true },
    { log: [1], last: [2, 1], granted: true },
    { log: [1, 1], last: [1, 1], granted: false },
    // candidate's last term is higher: granted whatever the length
    { log: [1, 1], last: [1, 2], granted: true },
    { log: [1, 1, 1], last: [1, 2], granted: true },
    // voter's last term is higher: rejected whatever the length
    { log: [2], last: [1, 1], granted: false },
    { log: [2], last: [5, 1], granted: false },
    { log: [1, 2], last: [9, 1], granted: false },
  ];
  for (const c of cases) {
    const n = newNode('b', { voters: ABC, log: logOfTerms(c.log), term: 2 });
    drain(n);
    n.raw.step(requestVote('a', 'b', 3, c.last));
    const reply = ofType(drain(n).messages, 'request_vote_result')[0];
    t.equal(reply?.granted, c.granted, `voter ${c.log.join(',')} candidate last ${c.last[0]}/t${c.last[1]}`);
  }
});

// ---------------------------------------------------------------------------
// §5.4.2 Committing entries from previous terms

t.test('a leader commits only entries of its own term by counting replicas', async (t) => {
  // Reference: section 5.4.2
  for (const [matchIndex, want] of [[1, 0], [2, 0], [3, 3]] as const) {
    const n = newNode('a', { voters: ABC, log: logOfTerms([1, 2]), term: 2 });
    n.raw.campaign();
    drain(n);
    n.raw.step(voteResult('b', 'a', 3, true));
    t.equal(role(n), 'leader');
    drain(n);
    n.raw.step(appendAck('b', 'a', 3, matchIndex));
    t.equal(commit(n), want, `b acknowledged up to ${matchIndex}`);
  }
});

const S = ['s1', 's2', 's3', 's4', 's5'] as const;

/**
 * Figure 8 (a)-(c) with the core's no-op: S1 leads term 2 with entry 2 alone; S5 leads term 3 with its no-op at
 * index 2 alone; S1 leads term 4 and replicates entry 2 (term 2) to S2 and S3. With `noopReachesMajority`
 * its term-4 no-op at index 3 reaches them too.
 */
function figure8(noopReachesMajority: boolean): Network {
  const net = newCluster(S, { log: logOfTerms([1]), commit: 1, maxAppendBytes: 1 });
  net.node('s1').raw.campaign();
  net.settle(appendsFrom('s1'));
  net.isolate('s1'); // S1 crashes
  net.node('s5').raw.campaign();
  net.settle(appendsFrom('s5'));
  net.heal();
  net.isolate('s5'); // S5 crashes, S1 restarts
  const s1 = net.restart('s1');
  s1.raw.campaign(); // term 3: S2-S4 already voted for S5
  net.settle(appendsFrom('s1'));
  s1.raw.campaign(); // term 4
  const probed = new Set<NodeId>();
  net.settle((m) => {
    if (m.from !== 's1' || m.type !== 'append_entries') return false;
    if (m.to !== 's2' && m.to !== 's3') return true;
    if (noopReachesMajority || m.prevLogIndex < 2) return false;
    // Let the first probe through (it is rejected), and stop everything after entry 2.
    if (probed.has(m.to)) return true;
    probed.add(m.to);
    return false;
  });
  return net;
}

t.test('an entry of an earlier term stored on a majority is not committed and may be overwritten (figure 8 d)', async (t) => {
  // Reference: section 5.4.2, figure 8
  const net = figure8(false);
  const [s1, s2, s3] = [net.node('s1'), net.node('s2'), net.node('s3')];
  t.match(s1.raw.status(), { role: 'leader', term: 4 });
  t.same([storedTerms(s1), storedTerms(s2), storedTerms(s3)], [[1, 2, 4], [1, 2], [1, 2]], 'entry 2 (term 2) is on a majority');
  t.same(storedTerms(net.node('s5')), [1, 3]);
  t.equal(commit(s1), 1, 'the leader of term 4 does not commit entry 2 of term 2 by counting');
  net.heal();
  net.isolate('s1'); // S1 crashes, S5 restarts
  const s5 = net.restart('s5');
  s5.raw.campaign(); // term 4: S2-S4 already voted for S1
  net.settle();
  s5.raw.campaign();
  net.settle();
  net.tick();
  t.match(s5.raw.status(), { role: 'leader', term: 5 });
  t.same(storedTerms(s2), [1, 3, 5], 'S5 overwrote entry 2 on S2');
  t.same(storedTerms(s3), [1, 3, 5], 'S5 overwrote entry 2 on S3');
  t.equal(commit(s3), 3);
});

t.test('entries of earlier terms commit indirectly once an entry of the leader\'s term is on a majority (figure 8 e)', async (t) => {
  // Reference: section 5.4.2, figure 8
  const net = figure8(true);
  const [s1, s2] = [net.node('s1'), net.node('s2')];
  t.same(storedTerms(s2), [1, 2, 4]);
  t.equal(commit(s1), 3, 'committing the term-4 no-op commits entry 2 with it');
  t.same(s1.applied.map((e) => `${e.index}:${e.term}`), ['1:1', '2:2', '3:4']);
  net.heal();
  net.isolate('s1');
  const s5 = net.restart('s5');
  for (let i = 0; i < 3; i++) {
    s5.raw.campaign();
    net.settle();
  }
  t.not(role(s5), 'leader', 'S5 can no longer win: a majority holds a later term');
  t.same(storedTerms(s2), [1, 2, 4]);
});

t.test('a new leader appends a no-op entry of its term', async (t) => {
  // Reference: section 5.4.2 and section 8
  const net = newCluster(ABC);
  const a = elect(net, 'a');
  const last = storedEntries(a)[storedEntries(a).length - 1];
  t.match(last, { type: 'normal', index: 4, term: term(a) });
  t.equal(last?.type === 'normal' ? last.data.byteLength : -1, 0);
  t.same(storedTerms(net.node('b')), [1, 1, 1, term(a)], 'followers receive it');
});

// ---------------------------------------------------------------------------
// Persistence ordering (figure 2 "persistent state", thesis §10.2.1)

t.test('a follower acknowledges AppendEntries only after the entries are durable', async (t) => {
  // Reference: figure 2 (persistent state is updated before responding to RPCs)
  const n = newNode('b', { voters: ABC, term: 2 });
  drain(n);
  n.raw.step(appendEntries('a', 'b', 2, [3, 1], [entry(4, 2, 'x')], 3));
  const rd = n.raw.ready();
  t.same(rd.entries.map(text), ['x']);
  t.same(ofType(rd.messages, 'append_entries_result'), [], 'nothing leaves before the write');
  t.match(ofType(rd.persistedMessages, 'append_entries_result'), [{ to: 'a', success: true, matchIndex: 4 }]);
  persist(n, rd);
  n.raw.advance();
});

t.test('a vote is sent only after the vote is durable', async (t) => {
  // Reference: figure 2 (currentTerm and votedFor are persistent)
  const n = newNode('b', { voters: ABC });
  drain(n);
  n.raw.step(requestVote('a', 'b', 2, [3, 1]));
  const rd = n.raw.ready();
  t.same(rd.hardState, { term: 2, vote: 'a', commit: 3 });
  t.ok(rd.mustSync);
  t.same(ofType(rd.messages, 'request_vote_result'), []);
  t.match(ofType(rd.persistedMessages, 'request_vote_result'), [{ to: 'a', granted: true }]);
});

t.test('a candidate asks for votes only after its new term and self-vote are durable', async (t) => {
  // Reference: figure 2 (persistent state), section 5.2
  const n = newNode('a', { voters: ABC });
  drain(n);
  n.raw.campaign();
  const rd = n.raw.ready();
  t.same(rd.hardState, { term: 2, vote: 'a', commit: 3 });
  t.same(ofType(rd.messages, 'request_vote'), []);
  t.equal(ofType(rd.persistedMessages, 'request_vote').length, 2);
});

t.test('a leader may send AppendEntries before its own copy of the entries is durable', async (t) => {
  // Reference: thesis section 10.2.1
  const { a } = stableCluster();
  a.raw.propose(bytes('x'));
  const rd = a.raw.ready();
  t.same(rd.entries.map(text), ['x']);
  const early = ofType(rd.messages, 'append_entries');
  t.equal(early.length, 2);
  t.ok(early.every((m) => m.entries.some((e) => text(e) === 'x')));
});

t.test('a leader\'s own entry counts towards commitment only once advance() reports it durable', async (t) => {
  // Reference: thesis section 10.2.1
  const { net, a } = stableCluster();
  const b = net.node('b');
  const pos = a.raw.propose(bytes('x'));
  const rd = a.raw.ready();
  for (const m of ofType(rd.messages, 'append_entries').filter((m) => m.to === 'b')) b.raw.step(m);
  for (const m of drain(b).messages) a.raw.step(m);
  t.equal(commit(a), pos.index - 1, 'one follower of three holds it, the leader has not written it yet');
  persist(a, rd);
  a.raw.advance();
  t.equal(commit(a), pos.index, 'after advance, leader and follower are a majority');
  t.same(drain(a).committed.map(text), ['x']);
});

t.test('a single-node leader commits its entry only after advance()', async (t) => {
  // Reference: thesis section 10.2.1
  const n = newNode('a', { voters: ['a'] });
  drain(n);
  n.raw.campaign();
  t.equal(role(n), 'leader');
  drain(n);
  drain(n);
  const pos = n.raw.propose(bytes('x'));
  const rd = n.raw.ready();
  t.same(rd.committedEntries, []);
  t.equal(commit(n), pos.index - 1);
  persist(n, rd);
  n.raw.advance();
  t.equal(commit(n), pos.index);
  t.same(drain(n).committed.map(text), ['x']);
});

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
