// The send thread's own side (a worker_threads entry point): waits for each handed-over attempt's time on a loop
// that does nothing else, takes it unless withdrawn, checks the lease it was handed over under, and sends it.
import { strict as assert } from 'node:assert';
import { readlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type FromSendThread, messageBatchMs, type SendThreadConfig, sendThreadNice, type SlotAnswer, slotTaken, slotWaiting,
  type ToSendThread,
} from './send-protocol.js';
import type { TimedSendOutcome } from './timed-send.js';
import { WebhookClient } from './webhook-client.js';

const port = parentPort;
assert.ok(port !== null, 'send-worker.ts runs as a worker thread');
const config = workerData as SendThreadConfig;
const states = new Int32Array(config.states);
const client = new WebhookClient({
  denyPrivate: config.denyPrivate, connectionsPerOrigin: config.connectionsPerOrigin, now: () => Date.now(),
});

interface Pending {
  readonly message: Extract<ToSendThread, { type: 'send' }>;
  timer: NodeJS.Timeout | null;
  abort: AbortController | null;
}

const pending = new Map<number, Pending>();

let answers: SlotAnswer[] = [];
let answersTimer: NodeJS.Timeout | null = null;
/** Set by the `close` message: nothing is taken or answered after it (the other side settles what was held). */
let closing = false;
/** Aborts the warm-up's requests when the thread closes during it. */
const warmUpAbort = new AbortController();

function answer(slot: number, outcome: TimedSendOutcome): void {
  pending.delete(slot);
  if (closing) return;
  answers.push({ slot, outcome });
  answersTimer ??= setTimeout(flushAnswers, messageBatchMs);
}

function flushAnswers(): void {
  answersTimer = null;
  port?.postMessage({ answers } satisfies FromSendThread);
  answers = [];
}

/**
 * Ends the thread without `worker.terminate()` (see the `close` message): timers cleared, requests aborted, the
 * sockets and the message port closed, so that its event loop runs dry and the thread exits by itself.
 */
function close(): void {
  if (closing) return;
  closing = true;
  if (answersTimer !== null) clearTimeout(answersTimer);
  for (const p of pending.values()) {
    if (p.timer !== null) clearTimeout(p.timer);
    p.abort?.abort();
  }
  pending.clear();
  warmUpAbort.abort();
  void warmedUp.then(() => client.close()).catch(() => undefined).finally(() => port?.close());
}

function take(p: Pending): void {
  p.timer = null;
  const { slot, atMs, leaseDeadlineNs, attempt } = p.message;
  // Node's timers can fire a millisecond before Date.now() reaches their time: never send early, wait the rest.
  const earlyMs = atMs - Date.now();
  if (earlyMs > 0) {
    p.timer = setTimeout(() => take(p), earlyMs);
    return;
  }
  if (Atomics.compareExchange(states, slot, slotWaiting, slotTaken) !== slotWaiting) {
    answer(slot, { unsent: 'withdrawn' });
    return;
  }
  if (process.hrtime.bigint() >= leaseDeadlineNs) {
    answer(slot, { unsent: 'no_lease' });
    return;
  }
  p.abort = new AbortController();
  void client.send({ ...attempt, signal: p.abort.signal }).then((result) => answer(slot, result));
}

port.on('message', (messages: readonly ToSendThread[]) => {
  for (const message of messages) handle(message);
});

function handle(message: ToSendThread): void {
  switch (message.type) {
    case 'send': {
      if (closing) return;
      const p: Pending = { message, timer: null, abort: null };
      pending.set(message.slot, p);
      take(p);
      return;
    }
    case 'withdrawn': {
      const p = pending.get(message.slot);
      if (p === undefined || p.timer === null) return;
      clearTimeout(p.timer);
      answer(message.slot, { unsent: 'withdrawn' });
      return;
    }
    case 'abort':
      pending.get(message.slot)?.abort?.abort();
      return;
    case 'close':
      close();
      return;
  }
}

/**
 * Runs the send path a hundred times against a server of its own on loopback, once at start: a thread that never
 * sent runs undici and the client in the interpreter, and a new leader's first second of fires came up to 200 ms
 * late (measured at 1,000 fires/s). Its own client, so WEBHOOK_DENY_PRIVATE does not apply to this loopback.
 */
async function warmUp(rounds: number, concurrency: number): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/warm-up`;
  const warm = new WebhookClient({ denyPrivate: false, connectionsPerOrigin: concurrency, now: () => Date.now() });
  try {
    for (let round = 0; round < rounds; round++) {
      await Promise.all(Array.from({ length: concurrency }, (_, i) => warm.send({
        url, method: 'POST', headers: {}, jobId: 'warm-up', type: 'unico', fireId: `warm-up@${round * concurrency + i}`,
        scheduledAtMs: Date.now(), attempt: 1, payload: { round }, timeoutMs: 5000, signingSecret: null,
        signal: warmUpAbort.signal,
      })));
      if (warmUpAbort.signal.aborted) return;
    }
  } finally {
    await warm.close();
    server.close();
  }
}

/**
 * Asks Linux for a higher priority for this thread alone (its thread id, from /proc/thread-self): on a machine whose
 * cores are busy, a woken thread otherwise waits for a time slice, and fires came up to 20 ms late at 1,000 fires/s
 * beside a busy cluster. Needs CAP_SYS_NICE (root, or the capability in a container); without it nothing changes.
 */
function raisePriority(): FromSendThread {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return { nice: null, error: 'no thread id in /proc/thread-self' };
    if (getPriority(tid) > sendThreadNice) setPriority(tid, sendThreadNice);
    return { nice: getPriority(tid) };
  } catch (err) {
    return { nice: null, error: err instanceof Error ? err.message : String(err) };
  }
}

port.postMessage(raisePriority());
const warmedUp = warmUp(30, 4).catch(() => undefined);
