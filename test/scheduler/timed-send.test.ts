// The hand-over contract (timed-send.ts): an attempt is sent at its time and not before, unless withdrawn first;
// a withdrawal and the send decide once between them; no send outlives the lease it was handed over under. Checked
// for the in-loop sender on a manual clock, and for the send thread (a real worker) against a loopback receiver.
import t from 'tap';
import type { Clock, Timer } from '../../src/scheduler/clock.js';
import { SendThread } from '../../src/scheduler/send-thread.js';
import { InlineTimedSender, isUnsent, type TimedSendOutcome } from '../../src/scheduler/timed-send.js';
import { type AttemptResult, type WebhookAttempt, WebhookClient } from '../../src/scheduler/webhook-client.js';
import { Receiver } from './receiver.js';

class ManualClock implements Clock {
  #now = 1_000_000;
  #timers: { atMs: number; fn: () => void; live: boolean }[] = [];

  nowMs(): number {
    return this.#now;
  }

  setTimer(fn: () => void, delayMs: number): Timer {
    const timer = { atMs: this.#now + Math.max(0, delayMs), fn, live: true };
    this.#timers.push(timer);
    return { cancel: () => { timer.live = false; } };
  }

  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const next = this.#timers.filter((x) => x.live && x.atMs <= until).sort((a, b) => a.atMs - b.atMs)[0];
      if (next === undefined) break;
      next.live = false;
      this.#now = next.atMs;
      next.fn();
    }
    this.#now = until;
  }
}

const attemptTo = (url: string, fireId = 'job@1'): Omit<WebhookAttempt, 'signal'> => ({
  url, method: 'POST', headers: {}, jobId: 'job', type: 'unico', fireId, scheduledAtMs: 1, attempt: 1, payload: null,
  timeoutMs: 2000, signingSecret: null,
});

function recordingWebhooks(): { sent: WebhookAttempt[]; send(attempt: WebhookAttempt): Promise<AttemptResult> } {
  const sent: WebhookAttempt[] = [];
  return {
    sent,
    send: async (attempt) => {
      sent.push(attempt);
      return { ok: true, httpStatus: 200, startedAtMs: 0, durationMs: 0 };
    },
  };
}

t.test('in-loop sender: sent at its time, not before; a withdrawal before it wins, after it loses', async (t) => {
  const clock = new ManualClock();
  const webhooks = recordingWebhooks();
  const sender = new InlineTimedSender(clock, webhooks, () => true);
  const first = sender.sendAt(attemptTo('http://x/', 'a@1'), clock.nowMs() + 40);
  const second = sender.sendAt(attemptTo('http://x/', 'b@1'), clock.nowMs() + 40);
  clock.advance(39);
  t.equal(webhooks.sent.length, 0, 'nothing before its time');
  t.equal(second.withdraw(), true, 'withdrawn while waiting');
  t.equal(second.withdraw(), true, 'a second withdrawal says the same');
  clock.advance(1);
  t.same(webhooks.sent.map((a) => a.fireId), ['a@1'], 'the waiting one went at its time, the withdrawn one never');
  t.equal(first.withdraw(), false, 'too late to withdraw a send that began');
  t.same(await second.outcome, { unsent: 'withdrawn' });
  t.equal(isUnsent(await first.outcome), false);
});

t.test('in-loop sender: no lease at its time, nothing sent; abort reaches a send in progress', async (t) => {
  const clock = new ManualClock();
  const webhooks = recordingWebhooks();
  let lease = false;
  const sender = new InlineTimedSender(clock, webhooks, () => lease);
  const noLease = sender.sendAt(attemptTo('http://x/'), clock.nowMs() + 10);
  clock.advance(10);
  t.same(await noLease.outcome, { unsent: 'no_lease' });
  t.equal(webhooks.sent.length, 0);
  lease = true;
  const now = sender.sendAt(attemptTo('http://x/'), clock.nowMs() - 5);
  t.equal(webhooks.sent.length, 1, 'an attempt already due is sent at once');
  now.abort();
  t.equal(webhooks.sent[0]?.signal?.aborted, true, 'abort after the send began aborts its request');
});

t.test('send thread: sent at its time from the worker, with the user agent of the hand-over', async (t) => {
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  const fallback = new WebhookClient({ denyPrivate: false, connectionsPerOrigin: 4, now: () => Date.now() });
  const thread = new SendThread({
    denyPrivate: false, connectionsPerOrigin: 4, slots: 2, userAgent: () => 'scheduled-db (test; term 7)',
    leaseDeadlineNs: () => process.hrtime.bigint() + 10_000_000_000n, fallback, hasLease: () => true,
    onError: (err) => t.fail(`send thread failed: ${String(err)}`),
  });
  t.teardown(async () => {
    await thread.close();
    await fallback.close();
  });
  const atMs = Date.now() + 150;
  const sent = thread.sendAt(attemptTo(receiver.url('/on-time')), atMs);
  const withdrawn = thread.sendAt(attemptTo(receiver.url('/withdrawn')), atMs);
  t.equal(withdrawn.withdraw(), true);
  const outcome = await sent.outcome;
  t.equal(isUnsent(outcome), false);
  t.equal((outcome as AttemptResult).ok, true);
  const [got] = receiver.at('/on-time');
  t.ok(got !== undefined && got.atMs >= atMs, `arrived at ${got?.atMs}, due ${atMs}`);
  t.equal(got?.headers['user-agent'], 'scheduled-db (test; term 7)');
  t.equal(sent.withdraw(), false, 'a sent attempt cannot be withdrawn');
  t.same(await withdrawn.outcome, { unsent: 'withdrawn' });
  // Both slots are free again once the thread answered: two more go through the worker.
  const again = [thread.sendAt(attemptTo(receiver.url('/again')), Date.now()), thread.sendAt(attemptTo(receiver.url('/again')), Date.now())];
  for (const s of again) t.equal(isUnsent(await s.outcome), false);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(receiver.at('/withdrawn').length, 0, 'the withdrawn attempt never arrived');
  t.equal(receiver.at('/again').length, 2);
});

t.test('send thread: nothing goes out past the lease it was handed over under', async (t) => {
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  const fallback = new WebhookClient({ denyPrivate: false, connectionsPerOrigin: 4, now: () => Date.now() });
  let deadline: bigint | null = null;
  const thread = new SendThread({
    denyPrivate: false, connectionsPerOrigin: 4, slots: 4, userAgent: () => 'test', leaseDeadlineNs: () => deadline,
    fallback, hasLease: () => deadline !== null, onError: (err) => t.fail(String(err)),
  });
  t.teardown(async () => {
    await thread.close();
    await fallback.close();
  });
  t.same(await thread.sendAt(attemptTo(receiver.url('/none')), Date.now()).outcome, { unsent: 'no_lease' }, 'no lease: not handed over');
  // A lease that lapses 30 ms from now, for an attempt due in 120 ms (the main loop stalled, say).
  deadline = process.hrtime.bigint() + 30_000_000n;
  const late = thread.sendAt(attemptTo(receiver.url('/late')), Date.now() + 120);
  t.same(await late.outcome, { unsent: 'no_lease' });
  t.equal(late.withdraw(), true, 'never sent, so as good as withdrawn');
  t.equal(receiver.at('/none').length + receiver.at('/late').length, 0);
  // Its warm-up may still be sending: the thread aborts it and ends on its own, never terminated mid-parse.
  await thread.close();
  t.equal(thread.closedBy(), 'ended');
});

t.test('send thread: closing settles what waits as never sent, and what is in flight as perhaps sent', async (t) => {
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  receiver.on('/hang', { hang: true });
  const fallback = new WebhookClient({ denyPrivate: false, connectionsPerOrigin: 4, now: () => Date.now() });
  t.teardown(() => fallback.close());
  const thread = new SendThread({
    denyPrivate: false, connectionsPerOrigin: 4, slots: 4, userAgent: () => 'test',
    leaseDeadlineNs: () => process.hrtime.bigint() + 10_000_000_000n, fallback, hasLease: () => true, onError: () => undefined,
  });
  const hanging = thread.sendAt(attemptTo(receiver.url('/hang')), Date.now());
  const waiting = thread.sendAt(attemptTo(receiver.url('/later')), Date.now() + 60_000);
  while (receiver.at('/hang').length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  await thread.close();
  t.equal(thread.closedBy(), 'ended', 'the request in flight aborted, the thread ended on its own');
  const [h, w]: TimedSendOutcome[] = [await hanging.outcome, await waiting.outcome];
  t.match(h, { ok: false, sent: true });
  t.match(w, { ok: false, sent: false });
  t.equal(hanging.withdraw(), false);
});
