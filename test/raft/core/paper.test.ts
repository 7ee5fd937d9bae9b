// One test per rule of the Raft paper (figure 2 and §5, with persistence ordering), in the spirit of etcd's raft_paper_test.go.
import t from 'tap';
import type { Entry, Message, NodeId } from '../../../src/raft/core/index.js';
import {
  ABC, appendAck, appendEntries, appendsFrom, bytes, commit, drain, elect, entry, ET, heartbeat, logOfTerms,
  Network, newCluster, newNode, ofType, persist, requestVote, role, stableCluster, storedEntries, storedTerms,
  term, text, voteResult,
} from './harness.js';

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

t.test('a stale AppendEntries or heartbeat is answered with the newer term only when Pre-Vote or CheckQuorum is on', async (t) => {
  // Reference: section 5.1 (figure 2, AppendEntries receiver step 1) and thesis section 9.6 (a leader cut off must learn the new term)
  const cases: { preVote: boolean; checkQuorum: boolean; answered: boolean }[] = [
    { preVote: false, checkQuorum: false, answered: false },
    { preVote: true, checkQuorum: false, answered: true },
    { preVote: false, checkQuorum: true, answered: true },
  ];
  for (const c of cases) {
    const n = newNode('a', { voters: ABC, term: 5, preVote: c.preVote, checkQuorum: c.checkQuorum });
    drain(n);
    for (const m of [appendEntries('b', 'a', 3, [3, 1], [], 3), heartbeat('b', 'a', 4, 3)]) {
      n.raw.step(m);
      const replies = drain(n).messages;
      const label = `${m.type}, preVote ${c.preVote}, checkQuorum ${c.checkQuorum}`;
      t.same(replies, c.answered
        ? [{
          type: 'append_entries_result', to: 'b', success: false, matchIndex: 0, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0,
          seq: 0, sentTick: 0, from: 'a', term: 5,
        }]
        : [], label);
    }
    t.match(n.raw.status(), { term: 5, role: 'follower', leaderId: null });
  }
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

t.test('a candidate that steps down to a leader of its own term keeps its vote for itself', async (t) => {
  // Reference: section 5.2 (each server votes for at most one candidate in a given term)
  const n = newNode('a', { voters: ABC });
  drain(n);
  n.raw.campaign();
  drain(n);
  n.raw.step(heartbeat('b', 'a', 2, 3));
  t.match(n.raw.status(), { role: 'follower', term: 2, vote: 'a', leaderId: 'b' });
  n.raw.step(requestVote('c', 'a', 2, [9, 1]));
  const out = drain(n);
  t.match(ofType(out.messages, 'request_vote_result'), [{ to: 'c', granted: false }]);
  t.equal(n.raw.status().vote, 'a');
});

t.test('a follower that knows the leader of its term refuses a candidate of that term, even without having voted', async (t) => {
  // Reference: section 5.2 (a leader already won this term)
  const n = newNode('b', { voters: ABC });
  drain(n);
  n.raw.step(heartbeat('a', 'b', 2, 3));
  t.match(n.raw.status(), { term: 2, vote: null, leaderId: 'a' });
  n.raw.step(requestVote('c', 'b', 2, [9, 1]));
  t.match(ofType(drain(n).messages, 'request_vote_result'), [{ to: 'c', term: 2, granted: false }]);
  t.match(n.raw.status(), { vote: null, leaderId: 'a' });
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

t.test('a narrower jitter draws election timeouts from [et, et + jitter), over all of it', async (t) => {
  const jitter = ET / 2;
  const seen = new Set<number>();
  for (let seed = 1; seed <= 200; seed++) {
    const n = newNode('a', { voters: ABC, seed, electionTimeoutTicks: ET, electionJitterTicks: jitter });
    let ticks = 0;
    while (role(n) === 'follower' && ticks < 3 * ET) {
      n.raw.tick();
      ticks++;
    }
    t.ok(ticks >= ET && ticks < ET + jitter, `seed ${seed}: campaigned after ${ticks} ticks`);
    seen.add(ticks);
  }
  t.equal(seen.size, jitter, `timeouts spread over ${[...seen].sort((x, y) => x - y).join(',')}`);
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

t.test('a leader that is refused moves next back to the hint, skipping the follower\'s conflicting term at once', async (t) => {
  // Reference: section 5.3 (the conflicting term optimisation), figure 7 (e)
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const n = newNode('a', { voters: ABC, log: logOfTerms(leaderLog), term: 8 });
  n.raw.campaign();
  n.raw.step(voteResult('c', 'a', 9, true));
  t.match(ofType(drain(n).messages, 'append_entries').filter((m) => m.to === 'b'), [{ prevLogIndex: 10, prevLogTerm: 6 }]);
  // Follower (e) holds [1, 1, 1, 4, 4, 4, 4]: its last entry of a term <= 6 is 7, of term 4.
  n.raw.step({
    type: 'append_entries_result', from: 'b', to: 'a', term: 9, success: false, matchIndex: 0,
    rejectedIndex: 10, conflictIndex: 7, conflictTerm: 4, seq: 0, sentTick: 0,
  });
  const retry = ofType(drain(n).messages, 'append_entries');
  t.equal(retry.length, 1);
  t.match(retry[0], { to: 'b', prevLogIndex: 5, prevLogTerm: 4 }, 'the leader\'s last entry of term <= 4 is 5');
  t.same(retry[0]?.entries.map((e) => e.index), [6, 7, 8, 9, 10, 11]);
  t.match(n.raw.status().progress.b, { state: 'probe', match: 0, next: 6 });
});

t.test('a follower answers an AppendEntries below its commit index with its commit index, leaving its log alone', async (t) => {
  // Reference: section 5.3 (a delayed or duplicated AppendEntries must not make a follower look behind) and section 5.4 (Leader Completeness)
  const n = newNode('b', { voters: ABC, log: logOfTerms([1, 1, 2, 2, 2]), term: 2, commit: 5 });
  drain(n);
  n.raw.step(appendEntries('a', 'b', 2, [2, 1], [entry(3, 2, 'e3')], 2));
  const out = drain(n);
  t.same(ofType(out.messages, 'append_entries_result'), [{
    type: 'append_entries_result', from: 'b', to: 'a', term: 2, success: true, matchIndex: 5,
    rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0, seq: 0, sentTick: 0,
  }]);
  t.same(out.ready.entries, []);
  t.match(n.raw.status(), { commitIndex: 5, lastIndex: 5 });
});

t.test('a leader tells every follower a new commit index at once, and sends nothing more', async (t) => {
  // Reference: section 5.3 (the leader includes its commit index in future AppendEntries)
  const net = newCluster(ABC);
  const a = elect(net, 'a');
  t.same(['b', 'c'].map((id) => commit(net.node(id))), [4, 4], 'the no-op\'s commit reached both followers without a heartbeat');
  const start = net.trace.length;
  const pos = a.raw.propose(bytes('x'));
  net.settle();
  t.same(['b', 'c'].map((id) => commit(net.node(id))), [pos.index, pos.index]);
  const appends = ofType(net.trace.slice(start), 'append_entries');
  for (const id of ['b', 'c']) {
    t.same(appends.filter((m) => m.to === id).map((m) => [m.entries.length, m.leaderCommit]), [[1, 4], [0, 5]],
      `${id} gets the entry, then the commit index, and nothing else`);
  }
});

t.test('an idle leader sends only heartbeats to followers that hold its whole log', async (t) => {
  // Reference: section 5.2 (heartbeats are AppendEntries that carry no log entries)
  const { net } = stableCluster();
  const sent = net.tick(3);
  t.same(ofType(sent, 'append_entries'), []);
  t.equal(ofType(sent, 'heartbeat').length, 6);
});

t.test('a leader keeps streaming entries to followers that acknowledge them, however many it has sent', async (t) => {
  // Reference: section 5.3 (the leader replicates each new entry to the followers)
  const { net, a } = stableCluster();
  let stalled = -1;
  for (let i = 0; i < 100 && stalled < 0; i++) {
    const pos = a.raw.propose(bytes(`x${i}`));
    net.settle();
    if (commit(net.node('c')) !== pos.index) stalled = i;
  }
  t.equal(stalled, -1, 'every proposal committed on every server at once');
  t.match(a.raw.status().progress, { b: { state: 'replicate', match: 104, next: 105 }, c: { state: 'replicate', match: 104, next: 105 } });
});

t.test('a leader ignores answers from a server outside its configuration', async (t) => {
  // Reference: section 5.3 (the leader tracks the servers of its configuration; thesis section 4.2.2 for removed servers)
  const { a } = stableCluster();
  const before = a.raw.status();
  t.doesNotThrow(() => a.raw.step(appendAck('z', 'a', term(a), 4)));
  t.doesNotThrow(() => a.raw.step({ type: 'heartbeat_result', from: 'z', to: 'a', term: term(a), seq: 0, sentTick: 0 }));
  t.same(a.raw.status(), before);
  t.same(drain(a).messages, []);
});

t.test('a leader whose acknowledgements were all lost resumes sending once a follower answers a heartbeat', async (t) => {
  // Reference: section 5.3 ("the leader retries AppendEntries RPCs indefinitely")
  const { net, a } = stableCluster();
  const lostAcks = (m: Message): boolean => m.type === 'append_entries_result' && m.from === 'b';
  for (let i = 0; i < 70; i++) {
    a.raw.propose(bytes(`x${i}`));
    net.settle(lostAcks);
  }
  const last = a.raw.status().lastIndex;
  t.equal(net.node('b').raw.status().lastIndex, 4 + 64, 'b got a full window of 64 appends, then nothing');
  t.match(a.raw.status().progress.b, { state: 'replicate', match: 4 });
  net.tick(3);
  t.match(a.raw.status().progress.b, { state: 'replicate', match: last });
  t.equal(commit(net.node('b')), last);
});

t.test('a full window frees a slot for the answer to a heartbeat sent after its oldest append, not for older ones', async (t) => {
  // Reference: section 5.3 (retries). A follower that was busy answers the heartbeats of that time all at once;
  // each answer used to free a slot, so a burst of them opened the window by as many batches.
  const { a } = stableCluster({ maxAppendBytes: 1, maxInflightBytes: 50 });
  for (const s of ['w', 'x', 'y', 'z']) a.raw.propose(bytes(s));
  const toB = ofType(drain(a).messages, 'append_entries').filter((m) => m.to === 'b');
  t.same(toB.map((m) => m.entries.map(text)), [['w'], ['x']], 'the window is full');
  const sentTick = toB[0]?.sentTick ?? 0;
  const answer = (tick: number): Message => ({ type: 'heartbeat_result', from: 'b', to: 'a', term: term(a), seq: 0, sentTick: tick });
  for (const tick of [sentTick - 1, sentTick, sentTick, sentTick - 3]) a.raw.step(answer(tick));
  t.same(ofType(drain(a).messages, 'append_entries').filter((m) => m.to === 'b'), [], 'older answers free nothing');
  a.raw.step(answer(sentTick + 1));
  const again = ofType(drain(a).messages, 'append_entries').filter((m) => m.to === 'b');
  t.same(again.map((m) => m.entries.map(text)), [['y']], 'a later heartbeat\'s answer frees one slot: one more batch');
  t.match(a.raw.status().progress.b, { state: 'replicate', match: 4, next: 8 });
});

t.test('a leader sends several batches to a replicating follower in one Ready', async (t) => {
  // Reference: thesis section 10.2.2 (pipelining)
  const { net, a } = stableCluster({ maxAppendBytes: 1 });
  for (const s of ['x', 'y', 'z']) a.raw.propose(bytes(s));
  const out = drain(a);
  const toB = ofType(out.messages, 'append_entries').filter((m) => m.to === 'b');
  t.same(toB.map((m) => [m.prevLogIndex, m.entries.map(text)]), [[4, ['x']], [5, ['y']], [6, ['z']]]);
  t.match(a.raw.status().progress.b, { state: 'replicate', match: 4, next: 8 });
  net.deliver(out.messages);
  net.settle();
  t.equal(commit(net.node('b')), 7);
});

t.test('a byte bound on the in-flight window holds further batches until an acknowledgement frees it', async (t) => {
  // Reference: etcd raft's MaxInflightBytes; each 1-byte entry counts 25 bytes
  const { net, a } = stableCluster({ maxAppendBytes: 1, maxInflightBytes: 50 });
  for (const s of ['w', 'x', 'y', 'z']) a.raw.propose(bytes(s));
  const out = drain(a);
  const toB = ofType(out.messages, 'append_entries').filter((m) => m.to === 'b');
  t.same(toB.map((m) => m.entries.map(text)), [['w'], ['x']], 'two batches fill the 50 bytes');
  t.match(a.raw.status().progress.b, { state: 'replicate', match: 4, next: 7 });
  net.deliver(out.messages);
  net.settle();
  t.equal(commit(net.node('b')), 8, 'the acknowledgements let the rest go');
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

t.test('a restarted server does not commit entries of its last term on its own before it is elected', async (t) => {
  // Reference: section 5.3 (the leader decides when an entry is committed) and section 5.4.2
  const n = newNode('a', { voters: ['a'], log: logOfTerms([1, 2, 2]), term: 2, commit: 1 });
  drain(n);
  drain(n);
  t.match(n.raw.status(), { role: 'follower', term: 2, commitIndex: 1, appliedIndex: 1 });
  n.raw.campaign();
  drain(n);
  drain(n);
  t.match(n.raw.status(), { role: 'leader', term: 3, commitIndex: 4, appliedIndex: 4 }, 'its no-op commits them');
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
