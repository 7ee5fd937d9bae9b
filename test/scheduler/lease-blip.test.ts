// A leader whose lease lapses for a moment (a GC or VM pause) but which still leads in its term: the at_most_once
// fires it had claimed and not yet sent are its own to send, not `unknown` (no other leader can have sent them).
import t from 'tap';
import { waitFor } from '../cluster/process-cluster.js';
import { ok, setUpScheduler } from './store-scheduler.js';

t.test('an at_most_once fire claimed before a lease lapse is sent once after it, not recorded unknown', async (t) => {
  const s = await setUpScheduler(t, 100);
  const atMs = Date.now() + 800;
  await s.create('amo', { timestamp: new Date(atMs).toISOString(), delivery: 'at_most_once' });
  await s.create('alo', { timestamp: new Date(atMs).toISOString() });
  // Claimed 100 ms ahead of its time; the lapse starts before the send and ends after its time.
  await waitFor(async () => s.job('amo')?.status === 'running' && s.job('alo')?.status === 'running', 5000, 'the claims');
  t.ok(Date.now() < atMs, 'claimed before its time');
  t.equal(s.sent.length, 0, 'nothing sent yet');
  await s.blip(Math.max(0, atMs - Date.now()) + 150);
  await waitFor(async () => {
    s.answerAll(ok);
    return s.job('amo')?.status === 'completed' && s.job('alo')?.status === 'completed';
  }, 5000, 'both fires to finish');
  t.same(s.sent.map((a) => a.fireId).sort(), [`alo@${atMs}`, `amo@${atMs}`], 'each fire sent once');
  t.ok(s.sent.every((a) => a.attempt === 1), 'on its first attempt');
  const executions = await s.executions('amo');
  t.same(executions.map((e) => e.status), ['succeeded'], 'the at_most_once fire succeeded, not unknown');
});

t.test('an at_most_once fire on the wire when the lease lapses is recorded unknown, never sent again', async (t) => {
  const s = await setUpScheduler(t, 100);
  const atMs = Date.now() + 600;
  await s.create('amo', { timestamp: new Date(atMs).toISOString(), delivery: 'at_most_once' });
  await waitFor(async () => s.sent.length === 1, 5000, 'the fire to be sent');
  // Its answer never comes back before the lapse aborts it.
  await s.blip(100);
  await waitFor(async () => s.job('amo')?.status !== 'running', 5000, 'the fire to be settled');
  await new Promise((r) => setTimeout(r, 200));
  s.answerAll(ok);
  t.equal(s.sent.length, 1, 'sent once only');
  const executions = await s.executions('amo');
  t.same(executions.map((e) => e.status), ['unknown'], 'its outcome is unknown');
});
