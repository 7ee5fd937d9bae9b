// A follower's progress as its leader sees it: the probe, replicate and snapshot states and their transitions.
import t from 'tap';
import type { Test } from 'tap';
import { Progress } from '../../../src/raft/core/progress.js';

/** A progress in `state` with the given match and next, its flags as the transitions leave them. */
function progress(state: 'probe' | 'replicate' | 'snapshot', match: number, next: number, capacity = 4): Progress {
  const p = new Progress(next, capacity, false);
  p.match = match;
  p.next = next;
  if (state === 'replicate') p.state = 'replicate';
  if (state === 'snapshot') p.becomeSnapshot(next);
  return p;
}

/** Sets every per-state field to something a reset must clear. */
function dirty(p: Progress): void {
  p.probeSent = true;
  p.pendingSnapshot = 77;
  p.snapshotOffset = 1234;
  p.snapshotSentTick = 33;
  p.inflights.add(1);
}

function assertReset(t: Test, p: Progress, state: string): void {
  t.equal(p.state, state);
  t.equal(p.probeSent, false);
  t.equal(p.snapshotOffset, 0);
  t.equal(p.snapshotSentTick, 0);
  t.equal(p.inflights.count, 0);
}

t.test('a new progress probes from next with nothing matched', async (t) => {
  const p = new Progress(8, 3, true);
  t.equal(p.match, 0);
  t.equal(p.next, 8);
  t.equal(p.state, 'probe');
  t.equal(p.probeSent, false);
  t.equal(p.pendingSnapshot, 0);
  t.equal(p.snapshotOffset, 0);
  t.equal(p.snapshotSentTick, 0);
  t.equal(p.recentActive, false);
  t.equal(p.ackedSeq, 0);
  t.equal(p.ackedSentTick, Number.NEGATIVE_INFINITY);
  t.equal(p.inflights.capacity, 3);
  t.equal(p.inflights.count, 0);
  t.equal(p.isLearner, true);
  t.equal(new Progress(1, 1, false).isLearner, false);
});

t.test('becoming probe from replicate restarts just after match and clears state', async (t) => {
  const p = progress('replicate', 5, 9);
  dirty(p);
  p.becomeProbe();
  t.equal(p.next, 6);
  t.equal(p.pendingSnapshot, 0);
  assertReset(t, p, 'probe');
});

t.test('becoming probe from snapshot restarts after the snapshot when it is beyond match', async (t) => {
  const p = progress('snapshot', 3, 10);
  t.equal(p.pendingSnapshot, 10);
  p.becomeProbe();
  t.equal(p.next, 11);
  t.equal(p.pendingSnapshot, 0);
  assertReset(t, p, 'probe');
});

t.test('becoming probe from snapshot restarts after match when match passed the snapshot', async (t) => {
  const p = progress('snapshot', 12, 10);
  p.becomeProbe();
  t.equal(p.next, 13);
  t.equal(p.state, 'probe');
});

t.test('becoming replicate sends from just after match and clears state', async (t) => {
  const p = progress('probe', 4, 20);
  dirty(p);
  p.becomeReplicate();
  t.equal(p.next, 5);
  t.equal(p.pendingSnapshot, 0);
  assertReset(t, p, 'replicate');
});

t.test('becoming snapshot records the snapshot index and clears the rest', async (t) => {
  const p = progress('replicate', 2, 9);
  dirty(p);
  p.becomeSnapshot(15);
  t.equal(p.pendingSnapshot, 15);
  t.equal(p.next, 9, 'next is left alone');
  t.equal(p.match, 2);
  assertReset(t, p, 'snapshot');
});

t.test('an acknowledgement beyond match updates match, next and the probe flag', async (t) => {
  const p = progress('probe', 3, 4);
  p.probeSent = true;
  t.equal(p.maybeUpdate(6), true);
  t.equal(p.match, 6);
  t.equal(p.next, 7);
  t.equal(p.probeSent, false);
});

t.test('an acknowledgement at match tells nothing new', async (t) => {
  const p = progress('probe', 5, 6);
  p.probeSent = true;
  t.equal(p.maybeUpdate(5), false);
  t.equal(p.match, 5);
  t.equal(p.next, 6);
  t.equal(p.probeSent, true);
});

t.test('a stale acknowledgement never moves match or next back', async (t) => {
  const p = progress('replicate', 5, 10);
  t.equal(p.maybeUpdate(3), false);
  t.equal(p.match, 5);
  t.equal(p.next, 10);
});

t.test('an acknowledgement below next updates match but keeps next', async (t) => {
  const p = progress('replicate', 2, 10);
  t.equal(p.maybeUpdate(6), true);
  t.equal(p.match, 6);
  t.equal(p.next, 10);
});

t.test('sending in replicate moves next on at once and fills the window', async (t) => {
  const p = progress('replicate', 3, 4, 2);
  p.sentEntries(6);
  t.equal(p.next, 7);
  t.equal(p.inflights.count, 1);
  t.equal(p.probeSent, false);
  t.equal(p.isPaused(), false);
  p.sentEntries(8);
  t.equal(p.next, 9);
  t.equal(p.isPaused(), true, 'a full window pauses sending');
});

t.test('sending in probe waits for an answer without moving next', async (t) => {
  const p = progress('probe', 3, 4);
  t.equal(p.isPaused(), false);
  p.sentEntries(6);
  t.equal(p.next, 4);
  t.equal(p.probeSent, true);
  t.equal(p.inflights.count, 0);
  t.equal(p.isPaused(), true);
});

t.test('entries are never sent while a snapshot is in progress', async (t) => {
  const p = progress('snapshot', 3, 10);
  t.throws(() => p.sentEntries(11), { message: 'entries are not sent while a snapshot is in progress' });
  t.equal(p.isPaused(), true);
});

t.test('in replicate a rejection at or below match is stale', async (t) => {
  const p = progress('replicate', 5, 9);
  t.equal(p.maybeDecreaseTo(5, 0), false);
  t.equal(p.maybeDecreaseTo(4, 0), false);
  t.equal(p.next, 9);
});

t.test('in replicate a fresh rejection falls back to just after match, whatever the hint', async (t) => {
  const p = progress('replicate', 5, 9);
  t.equal(p.maybeDecreaseTo(6, 100), true);
  t.equal(p.next, 6);
  t.equal(p.state, 'replicate');
});

t.test('in probe a rejection of anything but the last probe is stale', async (t) => {
  const p = progress('probe', 0, 10);
  p.probeSent = true;
  t.equal(p.maybeDecreaseTo(8, 2), false);
  t.equal(p.maybeDecreaseTo(10, 2), false);
  t.equal(p.next, 10);
  t.equal(p.probeSent, true);
});

t.test('in probe a rejection moves next to just after the hint', async (t) => {
  const p = progress('probe', 0, 10);
  p.probeSent = true;
  t.equal(p.maybeDecreaseTo(9, 5), true);
  t.equal(p.next, 6);
  t.equal(p.probeSent, false);
});

t.test('in probe a hint beyond the rejected index only steps next back by one', async (t) => {
  const p = progress('probe', 0, 10);
  t.equal(p.maybeDecreaseTo(9, 20), true);
  t.equal(p.next, 9);
});

t.test('in probe next never falls to match or below', async (t) => {
  const p = progress('probe', 7, 10);
  t.equal(p.maybeDecreaseTo(9, 2), true);
  t.equal(p.next, 8);
});

t.test('in probe next never falls below 1', async (t) => {
  const p = progress('probe', 0, 1);
  t.equal(p.maybeDecreaseTo(0, -5), true);
  t.equal(p.next, 1);
});

t.test('a snapshot in progress treats a rejection like probe does', async (t) => {
  const p = progress('snapshot', 0, 10);
  t.equal(p.maybeDecreaseTo(9, 3), true);
  t.equal(p.next, 4);
  t.equal(p.maybeDecreaseTo(9, 3), false);
});

t.test('pausing follows the state', async (t) => {
  const probe = progress('probe', 0, 1);
  t.equal(probe.isPaused(), false);
  probe.probeSent = true;
  t.equal(probe.isPaused(), true);

  const replicate = progress('replicate', 0, 1, 1);
  replicate.probeSent = true;
  t.equal(replicate.isPaused(), false, 'the probe flag does not pause replicate');
  replicate.inflights.add(1);
  t.equal(replicate.isPaused(), true);

  const snapshot = progress('snapshot', 0, 1);
  t.equal(snapshot.isPaused(), true);
});
