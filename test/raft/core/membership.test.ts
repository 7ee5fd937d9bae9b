// Membership: each configuration change, and the log of memberships as entries are appended, truncated and compacted.
import t from 'tap';
import { applyConfChange, isMember, isVoter, members, MembershipLog } from '../../../src/raft/core/membership.js';
import type { ConfChange, Entry, Membership } from '../../../src/raft/core/types.js';

const m = (voters: string[], learners: string[] = []): Membership => ({ voters, learners });
const change = (type: ConfChange['type'], nodeId: string): ConfChange => ({ type, nodeId, context: `ctx-${nodeId}` });
const conf = (index: number, type: ConfChange['type'], nodeId: string): Entry =>
  ({ type: 'conf_change', term: 1, index, change: change(type, nodeId) });
const normal = (index: number): Entry => ({ type: 'normal', term: 1, index, data: new Uint8Array(0) });

t.test('voters are members and voters, learners are members only', async (t) => {
  const x = m(['a', 'b'], ['c']);
  t.equal(isVoter(x, 'a'), true);
  t.equal(isVoter(x, 'c'), false);
  t.equal(isVoter(x, 'z'), false);
  t.equal(isMember(x, 'b'), true);
  t.equal(isMember(x, 'c'), true);
  t.equal(isMember(x, 'z'), false);
  t.same(members(x), ['a', 'b', 'c']);
  t.same(members(m([])), []);
});

t.test('add_learner adds a new server as a learner, in sorted order', async (t) => {
  const before = m(['a'], ['c']);
  t.same(applyConfChange(before, change('add_learner', 'b')), m(['a'], ['b', 'c']));
  t.same(before, m(['a'], ['c']), 'the old membership is not modified');
});

t.test('add_learner of a learner changes nothing', async (t) => {
  t.same(applyConfChange(m(['a'], ['b', 'c']), change('add_learner', 'b')), m(['a'], ['b', 'c']));
});

t.test('add_learner never demotes a voter', async (t) => {
  const before = m(['a', 'b'], ['c']);
  t.equal(applyConfChange(before, change('add_learner', 'b')), before);
});

t.test('add_learner copies the voters', async (t) => {
  const voters = ['a'];
  const after = applyConfChange(m(voters), change('add_learner', 'b'));
  t.not(after.voters, voters);
  t.same(after.voters, ['a']);
});

t.test('promote makes a learner a voter, in sorted order', async (t) => {
  t.same(applyConfChange(m(['a', 'c'], ['b', 'd']), change('promote', 'b')), m(['a', 'b', 'c'], ['d']));
});

t.test('add_voter adds a new server as a voter, in sorted order', async (t) => {
  t.same(applyConfChange(m(['b', 'c'], ['d']), change('add_voter', 'a')), m(['a', 'b', 'c'], ['d']));
});

t.test('add_voter of a voter changes nothing', async (t) => {
  t.same(applyConfChange(m(['a', 'b']), change('add_voter', 'b')), m(['a', 'b']));
});

t.test('remove_node removes a voter', async (t) => {
  t.same(applyConfChange(m(['a', 'b', 'c'], ['d']), change('remove_node', 'b')), m(['a', 'c'], ['d']));
});

t.test('remove_node removes a learner', async (t) => {
  t.same(applyConfChange(m(['a'], ['b', 'c']), change('remove_node', 'c')), m(['a'], ['b']));
});

t.test('remove_node of a stranger changes nothing', async (t) => {
  t.same(applyConfChange(m(['a'], ['b']), change('remove_node', 'z')), m(['a'], ['b']));
});

// ---------------------------------------------------------------------------
// MembershipLog

t.test('a new membership log holds its base', async (t) => {
  const base = m(['a']);
  const log = new MembershipLog(5, base);
  t.equal(log.current(), base);
  t.equal(log.lastChangeIndex(), 5);
  t.equal(log.at(5), base);
  t.equal(log.at(100), base);
});

t.test('membership before the base cannot be known', async (t) => {
  const log = new MembershipLog(5, m(['a']));
  t.throws(() => log.at(4), { message: 'membership at 4 is behind the snapshot at 5' });
});

t.test('appending conf-change entries changes the membership from their index', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  t.equal(log.appended([normal(1), conf(2, 'add_learner', 'b'), normal(3), conf(4, 'promote', 'b')]), true);
  t.same(log.current(), m(['a', 'b']));
  t.equal(log.lastChangeIndex(), 4);
  t.same(log.at(1), m(['a']));
  t.same(log.at(2), m(['a'], ['b']));
  t.same(log.at(3), m(['a'], ['b']));
  t.same(log.at(4), m(['a', 'b']));
  t.same(log.at(9), m(['a', 'b']));
});

t.test('appending nothing changes nothing', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(1, 'add_voter', 'b')]);
  t.equal(log.appended([]), false);
  t.same(log.current(), m(['a', 'b']));
});

t.test('appending normal entries after the changes changes nothing', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(1, 'add_voter', 'b')]);
  t.equal(log.appended([normal(2), normal(3)]), false);
  t.same(log.current(), m(['a', 'b']));
  t.equal(log.lastChangeIndex(), 1);
});

t.test('appending over a conf-change entry takes its membership away', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(1, 'add_voter', 'b'), conf(2, 'add_voter', 'c')]);
  t.equal(log.appended([normal(2)]), true, 'the change at the first new index goes');
  t.same(log.current(), m(['a', 'b']));
  t.equal(log.lastChangeIndex(), 1);
  t.equal(log.appended([normal(1)]), true);
  t.same(log.current(), m(['a']));
  t.equal(log.lastChangeIndex(), 0);
});

t.test('appending after a conf-change entry keeps it', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(3, 'add_voter', 'b')]);
  t.equal(log.appended([normal(4)]), false);
  t.same(log.current(), m(['a', 'b']));
});

t.test('a truncating append that brings its own change applies it to what remains', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(1, 'add_voter', 'b'), conf(2, 'add_voter', 'c')]);
  t.equal(log.appended([conf(2, 'add_voter', 'd')]), true);
  t.same(log.current(), m(['a', 'b', 'd']));
  t.equal(log.lastChangeIndex(), 2);
});

t.test('compactTo folds the changes up to the index into the base', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(2, 'add_voter', 'b'), conf(4, 'add_voter', 'c'), conf(6, 'add_voter', 'd')]);
  log.compactTo(4);
  t.throws(() => log.at(3), { message: 'membership at 3 is behind the snapshot at 4' });
  t.same(log.at(4), m(['a', 'b', 'c']));
  t.same(log.at(5), m(['a', 'b', 'c']));
  t.same(log.at(6), m(['a', 'b', 'c', 'd']));
  t.equal(log.lastChangeIndex(), 6);
  log.appended([normal(6)]);
  t.same(log.current(), m(['a', 'b', 'c']), 'the change at 4 is in the base now');
  t.equal(log.lastChangeIndex(), 4, 'the base index stands for the change folded into it');
});

t.test('compactTo between changes keeps the later ones', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(2, 'add_voter', 'b'), conf(4, 'add_voter', 'c')]);
  log.compactTo(3);
  t.same(log.at(3), m(['a', 'b']));
  t.same(log.current(), m(['a', 'b', 'c']));
  t.equal(log.lastChangeIndex(), 4);
  log.appended([normal(4)]);
  t.same(log.current(), m(['a', 'b']));
  t.equal(log.lastChangeIndex(), 3);
});

t.test('compactTo at or behind the base does nothing', async (t) => {
  const log = new MembershipLog(5, m(['a']));
  log.appended([conf(6, 'add_voter', 'b')]);
  log.compactTo(5);
  log.compactTo(2);
  t.same(log.at(5), m(['a']));
  t.equal(log.lastChangeIndex(), 6);
  log.appended([normal(6)]);
  t.equal(log.lastChangeIndex(), 5);
  t.same(log.current(), m(['a']));
});

t.test('reset replaces the base and forgets every change', async (t) => {
  const log = new MembershipLog(0, m(['a']));
  log.appended([conf(2, 'add_voter', 'b')]);
  const snap = m(['x', 'y'], ['z']);
  log.reset(10, snap);
  t.equal(log.current(), snap);
  t.equal(log.lastChangeIndex(), 10);
  t.equal(log.at(10), snap);
  t.throws(() => log.at(9), { message: 'membership at 9 is behind the snapshot at 10' });
});
