// One test per rule of Ongaro's thesis beyond the paper's core: Pre-Vote, CheckQuorum, lease, transfer, snapshots (§7), membership, ReadIndex.
import t from 'tap';
import { MemoryStorage } from '../../../src/raft/core/index.js';
import type { Entry, Message, SnapshotMeta } from '../../../src/raft/core/index.js';
import {
  ABC, appendAck, appendEntries, appendsFrom, bytes, commit, drain, elect, entry, ET, heartbeat, installSnapshot,
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

t.test('a candidate does not count a late pre-vote as a vote', async (t) => {
  // Reference: thesis section 9.6 (a pre-vote changes nothing: only real votes elect)
  const n = newNode('a', { voters: ABC, preVote: true });
  drain(n);
  for (let i = 0; i < 2 * ET && role(n) === 'follower'; i++) n.raw.tick();
  n.raw.step(voteResult('b', 'a', 2, true, true));
  t.match(n.raw.status(), { role: 'candidate', term: 2 });
  n.raw.step(voteResult('c', 'a', 2, true, true));
  t.match(n.raw.status(), { role: 'candidate', term: 2 }, 'c\'s pre-vote arrived after the real election started');
  n.raw.step(voteResult('c', 'a', 2, true));
  t.equal(role(n), 'leader');
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

t.test('a pre-vote that arrives during the lease is answered when the lease runs out, unless the leader is heard from first', async (t) => {
  // The asker timed out first; the voter heard from the leader a little later. Ignored, the asker waited another
  // whole timeout, or for the voter's own timer.
  const { net } = stableCluster({ preVote: true, checkQuorum: true });
  const b = net.node('b');
  const ask = requestVote('c', 'b', term(b) + 1, [b.storage.lastIndex(), b.storage.term(b.storage.lastIndex()) ?? 0], { preVote: true });
  drain(b);
  b.raw.tick();
  b.raw.step(ask);
  t.same(ofType(drain(b).messages, 'request_vote_result'), [], 'in the lease: no answer yet');
  let ticks = 1;
  let answers: ReturnType<typeof ofType<'request_vote_result'>> = [];
  while (answers.length === 0 && ticks < 3 * ET) {
    b.raw.tick();
    ticks++;
    answers = ofType(drain(b).messages, 'request_vote_result');
  }
  t.equal(ticks, ET, 'answered on the tick the lease ran out');
  t.match(answers, [{ to: 'c', preVote: true, granted: true, term: ask.term }]);

  // The leader lives: its next heartbeat drops the request.
  const { net: live } = stableCluster({ preVote: true, checkQuorum: true });
  const b2 = live.node('b');
  drain(b2);
  b2.raw.tick();
  b2.raw.step({ ...ask, term: term(b2) + 1 });
  live.tick(1);
  t.equal(role(b2), 'follower');
  for (let i = 0; i < 2 * ET; i++) {
    b2.raw.tick();
    t.same(ofType(drain(b2).messages, 'request_vote_result'), [], `tick ${i}: never answered`);
    if (role(b2) !== 'follower') break;
  }
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

t.test('a stale pre-vote request is refused with the voter\'s term, a stale vote request or answer gets nothing', async (t) => {
  // Reference: thesis section 9.6 (the pre-candidate learns it is behind)
  const n = newNode('b', { voters: ABC, log: logOfTerms([1, 2]), term: 5, preVote: true });
  drain(n);
  n.raw.step(requestVote('a', 'b', 4, [9, 4], { preVote: true }));
  t.same(drain(n).messages, [{ type: 'request_vote_result', to: 'a', preVote: true, granted: false, from: 'b', term: 5 }]);
  n.raw.step(requestVote('a', 'b', 4, [9, 4]));
  n.raw.step(voteResult('a', 'b', 4, true, true));
  t.same(drain(n).messages, []);
  t.match(n.raw.status(), { term: 5, vote: null });
});

t.test('a pre-vote for the term in which the voter already voted for another is refused', async (t) => {
  // Reference: thesis section 9.6 (a pre-vote is granted as the real vote would be)
  const n = newNode('b', { voters: ABC, log: logOfTerms([1, 2]), term: 2, vote: 'a', preVote: true });
  drain(n);
  n.raw.step(requestVote('c', 'b', 2, [9, 2], { preVote: true }));
  t.match(ofType(drain(n).messages, 'request_vote_result'), [{ to: 'c', preVote: true, granted: false }]);
  n.raw.step(requestVote('c', 'b', 3, [9, 2], { preVote: true }));
  t.match(ofType(drain(n).messages, 'request_vote_result'), [{ to: 'c', term: 3, preVote: true, granted: true }], 'for the next term it is granted');
  t.match(n.raw.status(), { term: 2, vote: 'a' });
});

t.test('a candidate refused by a voter retries after a heartbeat interval plus the spread, not a whole election timeout', async (t) => {
  // A split vote: with one of three servers down, a round the other refused cannot be won, only timed out.
  const hb = 2;
  const jitter = ET / 2;
  const campaignAfterRound = (seed: number, refused: boolean): number => {
    const n = newNode('a', { voters: ABC, preVote: true, seed, electionTimeoutTicks: ET, electionJitterTicks: jitter, heartbeatIntervalTicks: hb });
    drain(n);
    for (let i = 0; i < 2 * ET && role(n) === 'follower'; i++) n.raw.tick();
    n.raw.step(voteResult('b', 'a', 2, true, true));
    t.match(n.raw.status(), { role: 'candidate', term: 2 });
    drain(n);
    if (refused) n.raw.step(voteResult('b', 'a', 2, false));
    let ticks = 0;
    while (role(n) === 'candidate' && ticks < 3 * ET) {
      n.raw.tick();
      ticks++;
    }
    t.match(n.raw.status(), { role: 'pre_candidate', term: 2 }, 'the retry starts with a pre-vote');
    // Unanswered, the early retry is not repeated early: the next pre-vote round waits a whole timeout.
    drain(n);
    let again = 0;
    while (ofType(drain(n).messages, 'request_vote').length === 0 && again < 3 * ET) {
      n.raw.tick();
      again++;
    }
    t.ok(again >= ET && again < ET + jitter, `seed ${seed}: the next round after ${again} ticks`);
    return ticks;
  };
  const seen = new Set<number>();
  for (let seed = 1; seed <= 100; seed++) {
    const refusedAfter = campaignAfterRound(seed, true);
    t.ok(refusedAfter >= hb && refusedAfter < hb + jitter, `seed ${seed}: refused, retried after ${refusedAfter} ticks`);
    seen.add(refusedAfter);
    const unansweredAfter = campaignAfterRound(seed, false);
    t.ok(unansweredAfter >= ET && unansweredAfter < ET + jitter, `seed ${seed}: unanswered, retried after ${unansweredAfter} ticks`);
  }
  t.equal(seen.size, jitter, `retries spread over ${[...seen].sort((x, y) => x - y).join(',')}`);
});

t.test('two candidates that split the vote with the third server down elect one of them before a whole election timeout', async (t) => {
  const hb = 2;
  const jitter = ET / 2;
  for (let seed = 1; seed <= 20; seed++) {
    const net = new Network(ABC.map((id, i) => newNode(id, {
      voters: ABC, preVote: true, checkQuorum: true, seed: seed * 3 + i, electionJitterTicks: jitter, heartbeatIntervalTicks: hb,
    })));
    const a = elect(net, 'a');
    net.tick(2 * ET);
    t.equal(role(a), 'leader');
    net.isolate('a');
    // b and c time out on the same tick, and each pre-votes for the other before either asks for a real vote.
    const b = net.node('b');
    const c = net.node('c');
    while (role(b) === 'follower') b.raw.tick();
    while (role(c) === 'follower') c.raw.tick();
    net.settle();
    t.match([b.raw.status(), c.raw.status()], [{ role: 'candidate', vote: 'b' }, { role: 'candidate', vote: 'c' }], `seed ${seed}: the vote split`);
    const splitTerm = term(b);
    let ticks = 0;
    while (net.leaders().filter((id) => id !== 'a').length === 0 && ticks < 3 * ET) {
      net.tick(1, undefined, ['b', 'c']);
      ticks++;
    }
    // Before the retry was brought forward, 10 to 30 ticks for these seeds: a whole timeout, or more on a second split.
    t.ok(ticks < ET, `seed ${seed}: a leader after ${ticks} more ticks, before a whole election timeout`);
    t.equal(net.leaders().filter((id) => id !== 'a').length, 1);
    t.ok(Math.max(term(b), term(c)) >= splitTerm + 1);
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

t.test('a leader paused past an election timeout keeps leading once the replies queued meanwhile arrive', async (t) => {
  // Reference: thesis section 6.2 (CheckQuorum judges the followers, not the leader's own pause)
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  a.raw.tickPaused(3 * ET);
  t.equal(role(a), 'leader', 'no round ends inside the pause');
  t.equal(a.raw.hasLease(), false, 'the paused ticks count for the lease');
  net.settle();
  net.tick(2 * ET);
  t.equal(role(a), 'leader', 'the followers answered, so it leads on');
  t.equal(a.raw.hasLease(), true);

  const plain = stableCluster({ checkQuorum: true, preVote: true });
  for (let i = 0; i < 3 * ET; i++) plain.a.raw.tick();
  t.equal(role(plain.a), 'follower', 'the same pause counted as live ticks steps it down');
});

t.test('a leader paused past an election timeout still steps down when no follower answers after it', async (t) => {
  // Reference: thesis section 6.2
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  net.isolate('b', 'c');
  a.raw.tickPaused(3 * ET);
  let ticks = 0;
  while (role(a) === 'leader' && ticks < 5 * ET) {
    net.tick(1, undefined, ['a']);
    ticks++;
  }
  t.equal(role(a), 'follower');
  t.ok(ticks <= ET + 1, `stepped down ${ticks} live ticks after the pause`);
});

t.test('a follower paused past its election timeout steps its leader\'s heartbeat before it would campaign', async (t) => {
  // Reference: thesis section 9.6 (an election disrupts the cluster; a pause is no sign the leader is gone)
  const { net, a } = stableCluster({ checkQuorum: true, preVote: true });
  const b = net.node('b');
  const before = term(b);
  b.raw.tickPaused(3 * ET);
  t.same(b.raw.hasReady() ? ofType(drain(b).messages, 'request_vote') : [], [], 'no pre-vote from inside the pause');
  net.tick(2 * ET);
  t.match(b.raw.status(), { role: 'follower', term: before, leaderId: 'a' });
  t.equal(role(a), 'leader');

  const lone = stableCluster({ checkQuorum: true, preVote: true }).net;
  lone.isolate('a');
  lone.node('b').raw.tickPaused(3 * ET);
  let ticks = 0;
  while (role(lone.node('b')) === 'follower' && ticks < 3 * ET) {
    lone.tick(1, undefined, ['b']);
    ticks++;
  }
  t.equal(role(lone.node('b')), 'pre_candidate', 'without a leader it campaigns at the next live tick');
  t.equal(ticks, 1);
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

t.test('a server that just started ignores vote requests for an election timeout, then votes', async (t) => {
  // Reference: thesis section 4.2.3 (it may have been in a leader's lease before it restarted)
  const n = newNode('b', { voters: ABC, checkQuorum: true, electionTimeoutTicks: ET, seed: 3 });
  drain(n);
  n.raw.step(requestVote('c', 'b', 2, [3, 1]));
  t.same(drain(n).messages, [], 'ignored');
  t.match(n.raw.status(), { term: 1, vote: null });
  for (let i = 0; i < ET - 1; i++) n.raw.tick();
  n.raw.step(requestVote('c', 'b', 2, [3, 1]));
  t.same(drain(n).messages, [], 'still ignored one tick before the timeout');
  n.raw.tick();
  t.equal(role(n), 'follower');
  n.raw.step(requestVote('c', 'b', 2, [3, 1]));
  t.match(ofType(drain(n).messages, 'request_vote_result'), [{ to: 'c', granted: true }]);
  t.match(n.raw.status(), { term: 2, vote: 'c' });
});

t.test('only a leader heard from binds a voter: one that knows no leader votes at once', async (t) => {
  // Reference: thesis section 4.2.3
  const n = newNode('b', { voters: ABC, checkQuorum: true, electionTimeoutTicks: ET, seed: 3 });
  drain(n);
  for (let i = 0; i < ET; i++) n.raw.tick();
  t.match(n.raw.status(), { role: 'follower', term: 1, leaderId: null });
  n.raw.step(requestVote('c', 'b', 2, [3, 1]));
  t.match(ofType(drain(n).messages, 'request_vote_result'), [{ to: 'c', term: 2, granted: true }]);
  n.raw.step(requestVote('a', 'b', 3, [3, 1]));
  t.match(ofType(drain(n).messages, 'request_vote_result'), [{ to: 'a', term: 3, granted: true }],
    'no leader heard from in term 2: not bound, even right after voting');
  t.match(n.raw.status(), { term: 3, vote: 'a' });
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

/** A stable a/b/c cluster whose leader a starts a transfer to c, which is cut off and lacks a's last entry. */
function transferToLaggingC(options: Parameters<typeof stableCluster>[0] = {}): ReturnType<typeof stableCluster> {
  const cluster = stableCluster(options);
  cluster.net.isolate('c');
  cluster.a.raw.propose(bytes('c misses this'));
  cluster.net.settle();
  cluster.a.raw.transferLeadership('c');
  return cluster;
}

t.test('proposals are refused while a leadership transfer is in progress', async (t) => {
  // Reference: thesis section 3.10
  const { a } = transferToLaggingC();
  t.throws(() => a.raw.propose(bytes('x')), { name: 'RaftError', code: 'leadership_transfer_in_progress' });
  t.throws(() => a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: '' }),
    { code: 'leadership_transfer_in_progress' });
});

t.test('a transfer that does not finish within an election timeout is abandoned', async (t) => {
  // Reference: thesis section 3.10
  const { net, a } = transferToLaggingC({ checkQuorum: true, preVote: true });
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

t.test('a transfer whose timeout_now went out but did not win steps the leader down after an election timeout', async (t) => {
  // Reference: thesis section 3.10 and section 6.4.1 (once timeout_now is out, the old leader's lease is gone)
  const { net, a } = stableCluster();
  const lost = (m: Message): boolean => m.type === 'timeout_now';
  a.raw.transferLeadership('b');
  net.settle(lost);
  net.tick(ET - 1, lost);
  t.match(a.raw.status(), { role: 'leader', leadTransferee: 'b' });
  const sent = net.tick(1, lost);
  t.match(a.raw.status(), { role: 'follower', leadTransferee: null, term: 2 });
  t.same(sent.filter((m) => m.from === 'a' && m.type === 'heartbeat'), [], 'no heartbeat as it steps down');
});

t.test('a leader whose transfer is abandoned still sends its heartbeats in that tick', async (t) => {
  // Reference: thesis section 3.10
  const { net, a } = transferToLaggingC();
  net.tick(ET - 1);
  const sent = net.tick(1);
  t.match(a.raw.status(), { role: 'leader', leadTransferee: null });
  t.match(ofType(sent, 'heartbeat').filter((m) => m.from === 'a'), [{ to: 'b' }]);
});

t.test('only the vote requests of a transfer are marked as such', async (t) => {
  // Reference: thesis section 3.10 (voters disregard their lease only for a transfer)
  const n = newNode('a', { voters: ABC });
  drain(n);
  n.raw.campaign();
  t.same(ofType(drain(n).messages, 'request_vote').map((m) => m.transfer), [false, false]);
  const { net, a } = stableCluster();
  const start = net.trace.length;
  a.raw.transferLeadership('b');
  net.settle();
  t.same(ofType(net.trace.slice(start), 'request_vote').map((m) => [m.from, m.transfer]), [['b', true], ['b', true]]);
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
  const { net, a } = transferToLaggingC();
  net.tick(4);
  a.raw.transferLeadership('c');
  t.same(ofType(drain(a).messages, 'append_entries'), [], 'nothing sent again');
  net.tick(ET - 5);
  t.equal(a.raw.status().leadTransferee, 'c');
  net.tick(1);
  t.match(a.raw.status(), { role: 'leader', leadTransferee: null }, 'abandoned one election timeout after the first request');
});

t.test('a transfer target gets timeout_now only once it holds the leader\'s last entry, however many batches that takes', async (t) => {
  // Reference: thesis section 3.10
  const net = newCluster(ABC, { maxAppendBytes: 1 });
  const a = elect(net, 'a', appendsFrom('a', 'c'));
  for (const s of ['x', 'y', 'z']) a.raw.propose(bytes(s));
  net.settle(appendsFrom('a', 'c'));
  const last = a.raw.status().lastIndex;
  a.raw.transferLeadership('c');
  const start = net.trace.length;
  for (let i = 0; i < ET && role(net.node('c')) !== 'leader'; i++) net.tick();
  const trace = net.trace.slice(start);
  const acks = ofType(trace, 'append_entries_result').filter((m) => m.from === 'c' && m.success).map((m) => m.matchIndex);
  t.same(acks.slice(0, 4), [4, 5, 6, 7], 'one entry per batch');
  const timeoutNow = trace.findIndex((m) => m.type === 'timeout_now');
  const caughtUp = trace.findIndex((m) => m.type === 'append_entries_result' && m.from === 'c' && m.matchIndex === last);
  t.ok(caughtUp >= 0 && timeoutNow > caughtUp, `timeout_now (#${timeoutNow}) follows c's last acknowledgement (#${caughtUp})`);
  t.equal(ofType(trace, 'timeout_now').length, 1);
  t.same(net.leaders(), ['c']);
});

t.test('timeout_now from a server other than the leader is ignored', async (t) => {
  // Reference: thesis section 3.10 (only the leader hands leadership over)
  const { net } = stableCluster();
  const b = net.node('b');
  b.raw.step({ type: 'timeout_now', from: 'c', to: 'b', term: 2 });
  t.match(b.raw.status(), { role: 'follower', term: 2, leaderId: 'a' });
  b.raw.step({ type: 'timeout_now', from: 'a', to: 'b', term: 2 });
  t.match(b.raw.status(), { role: 'candidate', term: 3 }, 'from its leader it campaigns at once');
});

t.test('a leader refuses reads while a leadership transfer is in progress, its own and forwarded ones', async (t) => {
  // Reference: thesis section 6.4 and section 3.10 (the leader may be deposed at any moment)
  const { net, a } = transferToLaggingC();
  a.raw.readIndex('ra');
  t.same(drain(a).ready.readStates, [{ requestId: 'ra', ok: false }]);
  const b = net.node('b');
  b.raw.readIndex('rb');
  net.settle();
  t.match(ofType(net.trace, 'read_index_result'), [{ from: 'a', to: 'b', requestId: 'rb', index: null }]);
  t.same(b.readStates, [{ requestId: 'rb', ok: false }]);
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

/** A stable a/b/c leader that compacted its log while c was cut off, with c now back and in snapshot state (its chunks dropped). */
function followerNeedingSnapshot(opts: Parameters<typeof stableCluster>[0] = {}): { net: Network; a: TestNode; c: TestNode; snapIndex: number } {
  const { net, a } = stableCluster(opts);
  net.isolate('c');
  for (const s of ['x', 'y']) a.raw.propose(bytes(s));
  net.settle();
  const snapIndex = a.raw.status().appliedIndex;
  a.raw.reportSnapshot(snapIndex);
  net.settle();
  net.heal();
  for (let i = 0; i < 3 && a.raw.status().progress.c?.state !== 'snapshot'; i++) net.tick(1, (m) => m.type === 'install_snapshot');
  return { net, a, c: net.node('c'), snapIndex };
}

t.test('a snapshot chunk that gets no answer is sent again after two heartbeat intervals, not before', async (t) => {
  // Reference: figure 13 (the leader retries InstallSnapshot as any RPC that gets no answer)
  const { net, a } = followerNeedingSnapshot({ heartbeatIntervalTicks: 2 });
  t.match(a.raw.status().progress.c, { state: 'snapshot' });
  const sentAt: number[] = [];
  for (let tick = 1; tick <= 12; tick++) {
    net.tick(1, (m) => {
      if (m.type !== 'install_snapshot') return false;
      sentAt.push(tick);
      return true;
    });
  }
  t.equal(sentAt.length, 3, `sent at ticks ${sentAt.join(',')}`);
  t.same(sentAt.slice(1).map((at, i) => at - (sentAt[i] ?? 0)), [4, 4], 'every two heartbeat intervals of two ticks');
});

t.test('a leader ignores an InstallSnapshot answer for a snapshot it is not sending', async (t) => {
  // Reference: figure 13 (an answer to a duplicate or an older transfer must not disturb replication)
  const { a, snapIndex } = followerNeedingSnapshot();
  const answer = (from: string, snapshotIndex: number): Message => ({
    type: 'install_snapshot_result', from, to: 'a', term: term(a), snapshotIndex, offset: 0, nextOffset: 0, installed: true,
    seq: 0, sentTick: 0,
  });
  const before = a.raw.status().progress;
  t.match(before, { b: { state: 'replicate' }, c: { state: 'snapshot' } });
  a.raw.step(answer('c', snapIndex - 1));
  a.raw.step(answer('b', snapIndex));
  t.doesNotThrow(() => a.raw.step(answer('z', snapIndex)));
  t.same(a.raw.status().progress, before);
  t.same(drain(a).messages, []);
  a.raw.step(answer('c', snapIndex));
  t.match(a.raw.status().progress.c, { state: 'probe', match: snapIndex });
  t.same(drain(a).messages.map((m) => `${m.type}->${m.to}`), ['append_entries->c'], 'the entries after the snapshot, to c only');
});

t.test('a probe is sent again for an answered heartbeat sent after it, once, not for each older answer', async (t) => {
  // Reference: section 7 and figure 13. A follower that restored a snapshot for seconds answers every heartbeat it
  // got meanwhile at once; each answer used to send the probe and its entries again (72 copies in one bench join).
  const { net, a, snapIndex } = followerNeedingSnapshot();
  a.raw.propose(bytes('z'));
  net.settle((m) => m.to === 'c' || m.from === 'c');
  a.raw.step({
    type: 'install_snapshot_result', from: 'c', to: 'a', term: term(a), snapshotIndex: snapIndex, offset: 0, nextOffset: 0,
    installed: true, seq: 0, sentTick: 0,
  });
  const [probe, ...others] = ofType(drain(a).messages.filter((m) => m.to === 'c'), 'append_entries');
  t.equal(others.length, 0);
  t.match(probe, { prevLogIndex: snapIndex, entries: [{ index: snapIndex + 1 }] }, 'the probe carries the entry after the snapshot');
  const sentTick = probe?.sentTick ?? 0;
  const answer = (tick: number): Message => ({ type: 'heartbeat_result', from: 'c', to: 'a', term: term(a), seq: 0, sentTick: tick });
  for (const tick of [sentTick - 2, sentTick - 1, sentTick, sentTick - 1]) a.raw.step(answer(tick));
  t.same(drain(a).messages.filter((m) => m.to === 'c'), [], 'answers to heartbeats sent before the probe send nothing');
  a.raw.step(answer(sentTick + 1));
  a.raw.step(answer(sentTick + 1));
  const again = ofType(drain(a).messages.filter((m) => m.to === 'c'), 'append_entries');
  t.match(again, [{ prevLogIndex: snapIndex, entries: [{ index: snapIndex + 1 }] }], 'a later heartbeat\'s answer: the probe goes again, once');
  t.match(a.raw.status().progress.c, { state: 'probe', match: snapIndex });
});

t.test('a follower being sent a snapshot that turns out to hold the snapshot\'s index goes back to plain replication', async (t) => {
  // Reference: section 7 (a snapshot is needed only for entries the leader has discarded)
  for (const [matchIndex, want] of [[-1, 'snapshot'], [0, 'replicate']] as const) {
    const { a, snapIndex } = followerNeedingSnapshot();
    t.equal(a.raw.status().firstIndex, snapIndex + 1);
    a.raw.step(appendAck('c', 'a', term(a), snapIndex + matchIndex));
    t.match(a.raw.status().progress.c, { state: want, match: snapIndex + matchIndex },
      `an acknowledgement of ${snapIndex + matchIndex}, the snapshot being at ${snapIndex}`);
    if (want === 'snapshot') t.same(drain(a).messages, [], 'the transfer goes on undisturbed');
  }
});

t.test('a leader that takes a newer snapshot during a transfer sends the newer one instead', async (t) => {
  // Reference: section 7 (the leader sends its current snapshot)
  const { net, a, c, snapIndex } = followerNeedingSnapshot();
  net.isolate('c');
  a.raw.propose(bytes('z'));
  net.settle();
  const newer = a.raw.status().appliedIndex;
  t.ok(newer > snapIndex);
  a.raw.reportSnapshot(newer);
  net.settle();
  net.heal();
  net.tick(4);
  const sent = ofType(net.trace, 'install_snapshot').map((m) => m.snapshot.index);
  t.equal(sent[sent.length - 1], newer);
  t.equal(c.storage.snapshot().index, newer);
  t.match(a.raw.status().progress.c, { state: 'probe', match: a.raw.status().lastIndex }, 'the leader knows c installed it');
});

t.test('a leader\'s heartbeats, snapshot chunks, timeout_now and read answers leave without waiting for its own write', async (t) => {
  // Reference: thesis section 10.2.1 (they promise nothing the leader has not already made durable)
  const early = (n: TestNode, type: Message['type']): { early: number; late: number } => {
    const out = drain(n);
    net.deliver(out.messages);
    return { early: out.ready.messages.filter((m) => m.type === type).length, late: out.ready.persistedMessages.filter((m) => m.type === type).length };
  };
  const { net, a, c } = followerNeedingSnapshot();
  a.raw.tick();
  t.same(early(a, 'heartbeat'), { early: 2, late: 0 });
  let chunks = { early: 0, late: 0 };
  for (let i = 0; i < 4 && chunks.early + chunks.late === 0; i++) {
    drain(net.node('b'));
    net.deliver(drain(c).messages);
    chunks = early(a, 'install_snapshot');
    a.raw.tick();
    net.deliver(drain(a).messages);
  }
  t.same(chunks, { early: 1, late: 0 });
  net.settle();
  const b = net.node('b');
  b.raw.readIndex('rb');
  net.deliver(drain(b).messages);
  net.deliver(drain(a).messages);
  net.deliver([...drain(b).messages, ...drain(c).messages]);
  t.same(early(a, 'read_index_result'), { early: 1, late: 0 });
  drain(b);
  t.same(b.readStates, [{ requestId: 'rb', ok: true, index: commit(a) }]);
  a.raw.transferLeadership('b');
  t.same(early(a, 'timeout_now'), { early: 1, late: 0 });
});

/** A MemoryStorage whose snapshot bytes cannot be served until `serving` is set (Storage.snapshotChunk may return null). */
class SlowSnapshotStorage extends MemoryStorage {
  serving = false;

  override snapshotChunk(offset: number, maxBytes: number): { data: Uint8Array; done: boolean } | null {
    return this.serving ? super.snapshotChunk(offset, maxBytes) : null;
  }
}

t.test('a leader whose storage cannot serve the snapshot yet sends nothing, and retries on a later heartbeat', async (t) => {
  // Reference: section 7 (and the Storage contract: snapshotChunk may be null for a while)
  const storage = new SlowSnapshotStorage();
  storage.append(ABC.map((nodeId, i): Entry => ({ type: 'conf_change', term: 1, index: i + 1, change: { type: 'add_voter', nodeId, context: '' } })));
  storage.setHardState({ term: 1, vote: null, commit: 3 });
  const net = new Network([newNode('a', { voters: ABC, storage }), newNode('b', { voters: ABC }), newNode('c', { voters: ABC })]);
  const a = elect(net, 'a');
  net.isolate('c');
  for (const s of ['x', 'y']) a.raw.propose(bytes(s));
  net.settle();
  const snapIndex = a.raw.status().appliedIndex;
  a.raw.reportSnapshot(snapIndex);
  net.settle();
  net.heal();
  net.tick(3);
  t.same(ofType(net.trace, 'install_snapshot'), []);
  t.match(a.raw.status().progress.c, { state: 'snapshot' });
  storage.serving = true;
  net.tick(3);
  t.equal(net.node('c').storage.snapshot().index, snapIndex);
});

t.test('a snapshot exactly at the follower\'s commit index is acknowledged without staging it', async (t) => {
  // Reference: figure 13 (receiver steps 6-7)
  const n = newNode('c', { voters: ABC });
  drain(n);
  const atCommit: SnapshotMeta = { index: 3, term: 1, membership: { voters: [...ABC], learners: [] } };
  n.raw.step(installSnapshot('a', 'c', 2, atCommit, 0, snapshotData(8, 3), true));
  const out = drain(n);
  t.match(ofType(out.messages, 'install_snapshot_result'), [{ snapshotIndex: 3, offset: 0, nextOffset: 0, installed: true }]);
  t.same(out.ready.snapshotChunks, []);
  t.equal(out.ready.snapshot, null);
});

t.test('a chunk of another snapshot than the one being received, or with none being received, is answered with offset 0', async (t) => {
  // Reference: figure 13 (receiver steps 2-3: a transfer starts at offset 0)
  const n = newNode('c', { voters: ABC });
  drain(n);
  const data = snapshotData(64, 10);
  const send = (meta: SnapshotMeta, offset: number): { nextOffset: number | undefined; staged: number } => {
    n.raw.step(installSnapshot('a', 'c', 2, meta, offset, data.subarray(offset, offset + 16), false));
    const out = drain(n);
    return { nextOffset: ofType(out.messages, 'install_snapshot_result')[0]?.nextOffset, staged: out.ready.snapshotChunks.length };
  };
  t.same(send(SNAP, 16), { nextOffset: 0, staged: 0 }, 'nothing being received');
  t.same(send(SNAP, 0), { nextOffset: 16, staged: 1 });
  t.same(send({ ...SNAP, index: 12 }, 16), { nextOffset: 0, staged: 0 }, 'another index');
  t.same(send({ ...SNAP, term: 3 }, 16), { nextOffset: 0, staged: 0 }, 'another term');
  t.same(send(SNAP, 16), { nextOffset: 32, staged: 1 }, 'the transfer in progress goes on');
});

t.test('a candidate that receives a snapshot chunk from a leader of its term follows it and takes the chunk', async (t) => {
  // Reference: section 5.2 and figure 13
  const n = newNode('c', { voters: ABC });
  drain(n);
  n.raw.campaign();
  drain(n);
  n.raw.step(installSnapshot('a', 'c', 2, SNAP, 0, snapshotData(8, 10), true));
  t.match(n.raw.status(), { role: 'follower', term: 2, leaderId: 'a' });
  const out = drain(n);
  t.match(out.ready.snapshot, { index: 10 });
  t.match(ofType(out.messages, 'install_snapshot_result'), [{ to: 'a', snapshotIndex: 10, installed: true }]);
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

t.test('a learner that catches up by snapshot is promoted with nothing else written', async (t) => {
  // Reference: thesis section 4.2.1; found by bench scale: a joiner stayed a learner until the next write.
  const { net, a, d } = clusterWithNewcomer();
  net.isolate('d');
  a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: 'd:1234' });
  net.settle();
  a.raw.reportSnapshot(a.raw.status().appliedIndex);
  net.settle();
  t.equal(a.storage.firstIndex(), a.raw.status().lastIndex + 1, 'the leader compacted everything');
  net.heal();
  for (let i = 0; i < 10 && a.raw.status().membership.learners.length > 0; i++) net.tick();
  t.same(a.raw.status().membership, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  t.ok(d.storage.snapshot().index > 0, 'd caught up by snapshot');
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

/** A stable a/b/c leader that has proposed `x`, had b and c store it, and then its own removal; the acknowledgements of x are held. */
function removingItself(): { net: Network; a: TestNode; x: number; removal: number; acks: Message[] } {
  const { net, a } = stableCluster();
  const x = a.raw.propose(bytes('x')).index;
  net.deliver(drain(a).messages);
  const acks = [...drain(net.node('b')).messages, ...drain(net.node('c')).messages];
  const removal = a.raw.proposeMembership({ type: 'remove_node', nodeId: 'a' }).index;
  return { net, a, x, removal, acks };
}

t.test('a leader that removed itself keeps leading while entries before the removal commit', async (t) => {
  // Reference: thesis section 4.2.2
  const { net, a, x, removal, acks } = removingItself();
  net.deliver(acks);
  t.equal(commit(a), x);
  t.equal(role(a), 'leader', 'the removal has not committed yet');
  net.settle();
  t.ok(commit(net.node('b')) >= removal);
  t.equal(role(a), 'follower');
});

t.test('a leader that removed itself hands over to the first voter holding its whole log, or to nobody', async (t) => {
  // Reference: thesis section 4.2.2 (and section 3.10 for the handover)
  const timeoutNows = (a: TestNode): string[] => ofType(drain(a).messages, 'timeout_now').map((m) => m.to);
  {
    const { net, a, acks } = removingItself();
    net.deliver(acks);
    const out = drain(a);
    net.deliver(out.messages);
    const held = [...drain(net.node('b')).messages, ...drain(net.node('c')).messages];
    net.deliver(held);
    t.equal(role(a), 'follower');
    t.same(timeoutNows(a), ['b'], 'b and c both hold everything: the first one');
  }
  for (const only of ['c', null] as const) {
    const { net, a, removal, acks } = removingItself();
    net.deliver(acks);
    net.deliver(drain(a).messages);
    const removalAcks = new Map(['b', 'c'].map((id) => [id, drain(net.node(id)).messages]));
    const y = a.raw.propose(bytes('y')).index;
    t.equal(y, removal + 1);
    const toC = ofType(drain(a).messages, 'append_entries').filter((m) => m.to === 'c');
    if (only === 'c') {
      net.deliver(toC);
      net.deliver(drain(net.node('c')).messages);
    } else {
      net.deliver(removalAcks.get('c') ?? []);
    }
    t.equal(role(a), 'leader');
    net.deliver(removalAcks.get('b') ?? []);
    t.equal(commit(a), removal);
    t.equal(role(a), 'follower');
    t.same(timeoutNows(a), only === null ? [] : [only], only === null ? 'nobody holds y' : 'only c holds y');
  }
});

t.test('a caught-up learner is not promoted while a leadership transfer is in progress', async (t) => {
  // Reference: thesis section 4.2.1 and section 3.10
  const { net, a, d } = clusterWithNewcomer();
  net.isolate('c', 'd');
  a.raw.propose(bytes('c misses this'));
  a.raw.proposeMembership({ type: 'add_node', nodeId: 'd', context: 'd:1' });
  net.settle();
  a.raw.transferLeadership('c');
  net.heal();
  net.isolate('c');
  net.tick(2);
  t.equal(d.raw.status().lastIndex, a.raw.status().lastIndex, 'd holds everything');
  t.same(a.raw.status().membership, { voters: ['a', 'b', 'c'], learners: ['d'] });
  net.tick(ET);
  t.equal(a.raw.status().leadTransferee, null, 'the transfer was abandoned');
  a.raw.propose(bytes('then d acknowledges'));
  net.settle();
  t.same(a.raw.status().membership, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  const promote = storedEntries(a).filter((e) => e.type === 'conf_change').pop();
  t.same(promote?.type === 'conf_change' ? promote.change : null, { type: 'promote', nodeId: 'd', context: '' });
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

t.test('acknowledgements of heartbeats sent before a read do not confirm it', async (t) => {
  // Reference: thesis section 6.4 (step 3: a new round of heartbeats after the read index is recorded)
  const { net, a } = stableCluster();
  a.raw.tick();
  net.deliver(drain(a).messages);
  const oldAcks = [...drain(net.node('b')).messages, ...drain(net.node('c')).messages];
  t.equal(ofType(oldAcks, 'heartbeat_result').length, 2);
  a.raw.readIndex('r1');
  net.deliver(oldAcks);
  const out = drain(a);
  t.same(out.ready.readStates, [], 'answers to the earlier round');
  t.equal(ofType(out.messages, 'heartbeat').length, 2, 'the read\'s own round');
  net.deliver(out.messages);
  net.settle();
  t.same(a.readStates, [{ requestId: 'r1', ok: true, index: commit(a) }]);
});

t.test('a follower asked for a read index refuses, and a server that is not leader records refusals and answers', async (t) => {
  // Reference: thesis section 6.4 (only the leader serves reads; a refusal tells the client to retry)
  const { net } = stableCluster();
  const b = net.node('b');
  b.raw.step({ type: 'read_index', from: 'c', to: 'b', term: 2, requestId: 'rc' });
  const out = drain(b);
  t.same(ofType(out.messages, 'read_index_result'), [{ type: 'read_index_result', from: 'b', to: 'c', term: 2, requestId: 'rc', index: null }]);
  t.same(out.ready.readStates, []);
  b.raw.step({ type: 'read_index_result', from: 'a', to: 'b', term: 2, requestId: 'r1', index: null });
  b.raw.step({ type: 'read_index_result', from: 'a', to: 'b', term: 2, requestId: 'r2', index: 4 });
  t.same(drain(b).ready.readStates, [{ requestId: 'r1', ok: false }, { requestId: 'r2', ok: true, index: 4 }]);
});

t.test('a pre-candidate still records the answer to a read it forwarded, and refuses reads asked of it', async (t) => {
  // Reference: thesis section 6.4 and section 9.6 (a pre-candidate keeps its term)
  const n = newNode('b', { voters: ABC, preVote: true });
  drain(n);
  n.raw.step(heartbeat('a', 'b', 1, 3));
  n.raw.readIndex('r1');
  t.match(ofType(drain(n).messages, 'read_index'), [{ to: 'a', requestId: 'r1' }]);
  for (let i = 0; i < 2 * ET && role(n) === 'follower'; i++) n.raw.tick();
  t.match(n.raw.status(), { role: 'pre_candidate', term: 1 });
  drain(n);
  n.raw.step({ type: 'read_index_result', from: 'a', to: 'b', term: 1, requestId: 'r1', index: 3 });
  n.raw.step({ type: 'read_index', from: 'c', to: 'b', term: 1, requestId: 'rc' });
  const out = drain(n);
  t.same(out.ready.readStates, [{ requestId: 'r1', ok: true, index: 3 }]);
  t.match(ofType(out.messages, 'read_index_result'), [{ to: 'c', requestId: 'rc', index: null }]);
  t.equal(role(n), 'pre_candidate');
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

t.test('a leader stepped with InstallSnapshot or TimeoutNow of its own term asserts (Election Safety)', async (t) => {
  // Reference: section 5.2 (figure 3, Election Safety)
  const { a } = stableCluster();
  t.throws(() => a.raw.step(installSnapshot('b', 'a', term(a), SNAP, 0, snapshotData(8, 10), true)), { code: 'ERR_ASSERTION' });
  const { a: a2 } = stableCluster();
  t.throws(() => a2.raw.step({ type: 'timeout_now', from: 'c', to: 'a', term: term(a2) }), { code: 'ERR_ASSERTION' });
});
