// The leader's bound on fires in flight (limits.webhooksInFlightMax) holds for every kind of fire: triggers,
// retries out of their backoff, and fires a new leader resumes. Over a real state machine; the receiver is a fake
// that holds each request until the test answers it, so the requests open at once can be counted.
import t from 'tap';
import { waitFor } from '../cluster/process-cluster.js';
import { failed, ok, setUpScheduler } from './store-scheduler.js';

const inFlightMax = 3;

t.test('triggers beyond the bound wait their turn, and every one is sent', async (t) => {
  const s = await setUpScheduler(t, inFlightMax);
  await s.create('hung');
  for (let i = 0; i < 8; i++) await s.trigger('hung');
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the first fires to be sent');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(s.open.length, inFlightMax, 'no more requests open than the bound');
  t.equal(s.scheduler.status().waiting, 8 - inFlightMax, 'the rest wait');
  while (s.sent.length < 8 || s.open.length > 0) {
    s.answerAll(ok);
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(new Set(s.sent.map((a) => a.fireId)).size, 8, 'each trigger sent once');
  t.equal(s.mostOpen, inFlightMax);
  t.equal(s.scheduler.status().waiting, 0);
});

t.test('a retry out of its backoff waits for room; fires in backoff do not hold other fires back', async (t) => {
  const s = await setUpScheduler(t, inFlightMax);
  await s.create('flaky', { retry: { max_attempts: 2, backoff_ms: 100, max_backoff_ms: 100 } });
  await s.create('other');
  for (let i = 0; i < inFlightMax; i++) await s.trigger('flaky');
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the flaky fires to be sent');
  s.answerAll(failed);
  // While they wait out their backoff, other fires go.
  for (let i = 0; i < inFlightMax; i++) await s.trigger('other');
  await waitFor(async () => s.open.filter((o) => o.attempt.jobId === 'other').length === inFlightMax, 5000, 'the other fires to be sent');
  await new Promise((r) => setTimeout(r, 400));
  t.equal(s.open.length, inFlightMax, 'the retries, due by now, wait for room');
  t.equal(s.sent.filter((a) => a.attempt === 2).length, 0, 'no second attempt sent yet');
  s.answerAll(ok);
  await waitFor(async () => s.sent.filter((a) => a.attempt === 2).length === inFlightMax, 5000, 'the retries');
  s.answerAll(ok);
  t.equal(s.mostOpen, inFlightMax);
});

t.test('fires a new leader resumes wait their turn too', async (t) => {
  const s = await setUpScheduler(t, inFlightMax);
  await s.create('resumed');
  for (let i = 0; i < 6; i++) await s.trigger('resumed');
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the first fires to be sent');
  s.loseLead();
  await waitFor(async () => s.open.length === 0, 5000, 'the attempts to be aborted');
  const before = s.sent.length;
  s.lead();
  await waitFor(async () => s.open.length === inFlightMax, 5000, 'the resumed fires to be sent');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(s.open.length, inFlightMax, 'no more requests open than the bound');
  while (s.open.length > 0 || s.scheduler.status().waiting > 0) {
    s.answerAll(ok);
    await new Promise((r) => setTimeout(r, 20));
  }
  const resent = s.sent.slice(before);
  t.equal(new Set(resent.map((a) => a.fireId)).size, 6, 'all six fires sent by the new leader');
  t.equal(s.mostOpen, inFlightMax);
});
