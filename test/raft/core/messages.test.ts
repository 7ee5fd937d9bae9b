// describeMessage gives one exact line per message type and flag; isFromLeader picks the leader's messages.
import t from 'tap';
import { describeMessage, isFromLeader } from '../../../src/raft/core/messages.js';
import type { Message } from '../../../src/raft/core/messages.js';
import type { Entry } from '../../../src/raft/core/types.js';

const env = { from: 'a', to: 'b', term: 3 } as const;
const ent = (index: number): Entry => ({ type: 'normal', index, term: 3, data: new Uint8Array(0) });
const snapshot = { index: 40, term: 2, membership: { voters: ['a', 'b'], learners: [] } };

const requestVote = (preVote: boolean, transfer: boolean): Message =>
  ({ ...env, type: 'request_vote', preVote, transfer, lastLogIndex: 12, lastLogTerm: 2 });
const voteResult = (preVote: boolean, granted: boolean): Message =>
  ({ ...env, type: 'request_vote_result', preVote, granted });
const append = (entries: Entry[]): Message => ({
  ...env, type: 'append_entries', prevLogIndex: 9, prevLogTerm: 2, entries, leaderCommit: 8, seq: 5, sentTick: 77,
});
const appendResult = (success: boolean): Message => ({
  ...env, type: 'append_entries_result', success, matchIndex: 14, rejectedIndex: 11, conflictIndex: 6, conflictTerm: 1,
  seq: 5, sentTick: 77,
});
const heartbeat: Message = { ...env, type: 'heartbeat', leaderCommit: 8, seq: 6, sentTick: 78 };
const heartbeatResult: Message = { ...env, type: 'heartbeat_result', seq: 6, sentTick: 78 };
const installSnapshot = (done: boolean): Message => ({
  ...env, type: 'install_snapshot', snapshot, offset: 1024, data: new Uint8Array(512), done, seq: 7, sentTick: 79,
});
const installSnapshotResult = (installed: boolean): Message => ({
  ...env, type: 'install_snapshot_result', snapshotIndex: 40, offset: 1024, nextOffset: 1536, installed, seq: 7, sentTick: 79,
});
const timeoutNow: Message = { ...env, type: 'timeout_now' };
const readIndex: Message = { ...env, type: 'read_index', requestId: 'r17' };
const readIndexResult = (index: number | null): Message => ({ ...env, type: 'read_index_result', requestId: 'r17', index });

t.test('request_vote shows the flags and the last entry', async (t) => {
  t.equal(describeMessage(requestVote(false, false)), 'a->b request_vote t3 last=12/t2');
  t.equal(describeMessage(requestVote(true, false)), 'a->b request_vote t3 pre last=12/t2');
  t.equal(describeMessage(requestVote(false, true)), 'a->b request_vote t3 transfer last=12/t2');
  t.equal(describeMessage(requestVote(true, true)), 'a->b request_vote t3 pre transfer last=12/t2');
});

t.test('request_vote_result shows whether it is a pre-vote and the answer', async (t) => {
  t.equal(describeMessage(voteResult(false, true)), 'a->b request_vote_result t3 granted');
  t.equal(describeMessage(voteResult(false, false)), 'a->b request_vote_result t3 rejected');
  t.equal(describeMessage(voteResult(true, true)), 'a->b request_vote_result t3 pre granted');
  t.equal(describeMessage(voteResult(true, false)), 'a->b request_vote_result t3 pre rejected');
});

t.test('append_entries shows the previous entry, the span of entries and the commit index', async (t) => {
  t.equal(describeMessage(append([])), 'a->b append_entries t3 prev=9/t2 entries=none commit=8');
  t.equal(describeMessage(append([ent(10)])), 'a->b append_entries t3 prev=9/t2 entries=10..10 commit=8');
  t.equal(describeMessage(append([ent(10), ent(11), ent(12)])), 'a->b append_entries t3 prev=9/t2 entries=10..12 commit=8');
});

t.test('append_entries_result shows the match or the rejection and its hint', async (t) => {
  t.equal(describeMessage(appendResult(true)), 'a->b append_entries_result t3 ok match=14');
  t.equal(describeMessage(appendResult(false)), 'a->b append_entries_result t3 reject at=11 hint=6/t1');
});

t.test('heartbeat and its result show the commit index and the round', async (t) => {
  t.equal(describeMessage(heartbeat), 'a->b heartbeat t3 commit=8 seq=6');
  t.equal(describeMessage(heartbeatResult), 'a->b heartbeat_result t3 seq=6');
});

t.test('install_snapshot shows the snapshot, the chunk and whether it is the last', async (t) => {
  t.equal(describeMessage(installSnapshot(false)), 'a->b install_snapshot t3 snap=40/t2 off=1024 len=512');
  t.equal(describeMessage(installSnapshot(true)), 'a->b install_snapshot t3 snap=40/t2 off=1024 len=512 done');
});

t.test('install_snapshot_result shows the chunk answered, the next offset and installation', async (t) => {
  t.equal(describeMessage(installSnapshotResult(false)), 'a->b install_snapshot_result t3 snap=40 off=1024 next=1536');
  t.equal(describeMessage(installSnapshotResult(true)),
    'a->b install_snapshot_result t3 snap=40 off=1024 next=1536 installed');
});

t.test('timeout_now is just the head', async (t) => {
  t.equal(describeMessage(timeoutNow), 'a->b timeout_now t3');
});

t.test('read_index and its result show the request and the index', async (t) => {
  t.equal(describeMessage(readIndex), 'a->b read_index t3 req=r17');
  t.equal(describeMessage(readIndexResult(21)), 'a->b read_index_result t3 req=r17 index=21');
  t.equal(describeMessage(readIndexResult(0)), 'a->b read_index_result t3 req=r17 index=0');
  t.equal(describeMessage(readIndexResult(null)), 'a->b read_index_result t3 req=r17 index=none');
});

t.test('only append_entries, heartbeat, install_snapshot and timeout_now come from a leader', async (t) => {
  const all: Message[] = [
    requestVote(false, false), voteResult(false, true), append([]), appendResult(true), heartbeat, heartbeatResult,
    installSnapshot(false), installSnapshotResult(false), timeoutNow, readIndex, readIndexResult(null),
  ];
  t.same(all.filter(isFromLeader).map((m) => m.type), ['append_entries', 'heartbeat', 'install_snapshot', 'timeout_now']);
});
