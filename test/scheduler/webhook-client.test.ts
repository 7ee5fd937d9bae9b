// WebhookClient against real node:http receivers on 127.0.0.1: body, headers, signing, failures, timeouts, aborts,
// WEBHOOK_DENY_PRIVATE and keep-alive.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Webhook } from 'standardwebhooks';
import t, { type Test } from 'tap';
import { limits } from '../../src/config/limits.js';
import { isPrivateAddress } from '../../src/jobs/job.js';
import { privateDenyingLookup } from '../../src/scheduler/private-lookup.js';
import { type AttemptResult, type WebhookAttempt, WebhookClient, type WebhookClientOptions } from '../../src/scheduler/webhook-client.js';
import { retryAfterMsOf } from '../../src/scheduler/webhook-failures.js';
import { signatureHeaders } from '../../src/scheduler/webhook-request.js';

interface Received {
  readonly method: string;
  readonly path: string;
  /** Repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: Received[];
  /** TCP connections accepted so far. */
  connectionCount: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A receiver on 127.0.0.1 (port 0) that records every request, then lets `handler` answer (200 by default). */
async function receiver(t: Test, handler: Handler = (_req, res) => res.end('ok')): Promise<Receiver> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value ?? '']),
      );
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') });
      handler(req, res);
    });
  });
  const state: Receiver = { url: '', port: 0, requests, connectionCount: 0 };
  server.on('connection', () => { state.connectionCount += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return Object.assign(state, { url: `http://127.0.0.1:${port}/hooks/a?x=1`, port });
}

function client(t: Test, options: Partial<WebhookClientOptions> = {}): WebhookClient {
  const c = new WebhookClient({ denyPrivate: false, connectionsPerOrigin: 4, now: () => Date.now(), ...options });
  t.teardown(() => c.close());
  return c;
}

const scheduledAtMs = Date.parse('2026-06-01T12:00:00.000Z');
function attemptTo(url: string, extra: Partial<WebhookAttempt> = {}): WebhookAttempt {
  return {
    url, method: 'POST', headers: {}, jobId: 'job-1', type: 'recurrente', fireId: `job-1@${scheduledAtMs}`,
    scheduledAtMs, attempt: 1, payload: { b: [1, 2], a: 'x' }, timeoutMs: 5000, signingSecret: null, ...extra,
  };
}

/** The failure's fields, or a test failure when the attempt succeeded. */
function failure(result: AttemptResult): Extract<AttemptResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a failed attempt, got HTTP ${result.httpStatus}`);
  return result;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const never: Handler = () => undefined;

t.test('the body is exactly the SPEC §4 object, keys in order, times RFC 3339 UTC with ms', async (t) => {
  const r = await receiver(t);
  const firedAtMs = Date.parse('2026-06-01T12:00:02.345Z');
  const result = await client(t, { now: () => firedAtMs }).send(attemptTo(r.url, { attempt: 2 }));
  t.strictSame(result, { ok: true, httpStatus: 200, startedAtMs: firedAtMs, durationMs: 0 });
  t.equal(r.requests.length, 1);
  t.equal(r.requests[0]!.body,
    `{"job_id":"job-1","type":"recurrente","fire_id":"job-1@${scheduledAtMs}","scheduled_at":"2026-06-01T12:00:00.000Z",` +
    '"fired_at":"2026-06-01T12:00:02.345Z","attempt":2,"payload":{"b":[1,2],"a":"x"}}');
  t.equal(r.requests[0]!.method, 'POST');
  t.equal(r.requests[0]!.path, '/hooks/a?x=1', 'path and query kept');
});

t.test('a fire carries content type, its ids, attempt, scheduled time, a traceparent and the user agent', async (t) => {
  const r = await receiver(t);
  const c = client(t);
  await c.send(attemptTo(r.url, { attempt: 3 }));
  const h = r.requests[0]!.headers;
  t.equal(h['content-type'], 'application/json');
  t.equal(h['x-job-id'], 'job-1');
  t.equal(h['x-fire-id'], `job-1@${scheduledAtMs}`);
  t.equal(h['x-attempt'], '3');
  t.equal(h['x-scheduled-at'], '2026-06-01T12:00:00.000Z');
  t.equal(h['user-agent'], 'scheduled-db');
  t.equal(h['webhook-signature'], undefined, 'no secret: unsigned');
  t.equal(h['webhook-id'], undefined);
  const traceId = createHash('sha256').update(`job-1@${scheduledAtMs}`).digest('hex').slice(0, 32);
  t.match(h.traceparent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'trace id derived from the fire id');

  await c.send(attemptTo(r.url, { attempt: 4 }));
  const again = r.requests[1]!.headers.traceparent!;
  t.equal(again.split('-')[1], traceId, 'every attempt of a fire shares the trace');
  t.not(again.split('-')[2], h.traceparent!.split('-')[2], 'each attempt has its own span');
});

t.test('the job method and headers are used, and the fire headers win over the job headers', async (t) => {
  const r = await receiver(t);
  const c = client(t, { userAgent: () => 'scheduled-db/test' });
  for (const method of ['PUT', 'PATCH'] as const) {
    const headers = { 'X-Token': 'abc', 'User-Agent': 'theirs', 'X-Job-Id': 'spoofed' };
    t.equal((await c.send(attemptTo(r.url, { method, headers }))).ok, true, method);
  }
  t.strictSame(r.requests.map((q) => q.method), ['PUT', 'PATCH']);
  const h = r.requests[1]!.headers;
  t.equal(h['x-token'], 'abc');
  t.equal(h['user-agent'], 'scheduled-db/test');
  t.equal(h['x-job-id'], 'job-1');
});

t.test('a non-2xx answer is http_status, sent, with its status', async (t) => {
  const r = await receiver(t, (_req, res) => {
    res.statusCode = 500;
    res.setHeader('retry-after', '7');
    res.end('boom');
  });
  const result = failure(await client(t).send(attemptTo(r.url)));
  t.match(result, { ok: false, httpStatus: 500, code: 'http_status', sent: true, retryAfterMs: null });
  t.type(result.error, 'string');
});

t.test('Retry-After on 429 and 503 is read as seconds or as an HTTP date', async (t) => {
  const nowMs = Date.parse('2026-06-01T12:00:00.000Z');
  const answers: [number, string | null][] = [
    [429, '2'], [503, new Date(nowMs + 30_000).toUTCString()], [429, 'soon'], [503, null], [429, '1.5'],
  ];
  const r = await receiver(t, (_req, res) => {
    const [status, retryAfter] = answers[r.requests.length - 1]!;
    // No Date header: the HTTP date counts from the client's (injected) clock.
    res.sendDate = false;
    res.statusCode = status;
    if (retryAfter !== null) res.setHeader('retry-after', retryAfter);
    res.end();
  });
  const c = client(t, { now: () => nowMs });
  const got = [];
  for (let i = 0; i < answers.length; i++) {
    const { httpStatus, retryAfterMs } = failure(await c.send(attemptTo(r.url)));
    got.push([httpStatus, retryAfterMs]);
  }
  t.strictSame(got, [[429, 2000], [503, 30_000], [429, null], [503, null], [429, null]]);
});

t.test('retryAfterMsOf reads delay-seconds and the three HTTP-date forms, always as UTC', async (t) => {
  const nowMs = Date.parse('1994-11-06T08:49:00Z');
  t.equal(retryAfterMsOf('120', nowMs), 120_000);
  t.equal(retryAfterMsOf(' 0 ', nowMs), 0, 'delay-seconds 0: at once');
  t.equal(retryAfterMsOf(['3', '9'], nowMs), 3000);
  t.equal(retryAfterMsOf('Sun, 06 Nov 1994 08:49:37 GMT', nowMs), 37_000, 'IMF-fixdate');
  t.equal(retryAfterMsOf('sun, 06 nov 1994 08:49:37 gmt', nowMs), 37_000, 'names in any case');
  t.equal(retryAfterMsOf('Sunday, 06-Nov-94 08:49:37 GMT', nowMs), 37_000, 'RFC 850');
  t.equal(retryAfterMsOf('Sun Nov  6 08:49:37 1994', nowMs), 37_000, 'asctime, a one-digit day');
  t.equal(retryAfterMsOf('Sun Nov 06 08:49:37 1994', nowMs), 37_000, 'asctime, a two-digit day');
  t.equal(retryAfterMsOf('Sun, 06 Nov 1994 08:49:60 GMT', nowMs), 60_000, 'a leap second');
  t.equal(retryAfterMsOf('Thu, 01 Jan 1998 00:00:00 GMT', nowMs), Date.parse('1998-01-01T00:00:00Z') - nowMs);
});

t.test('retryAfterMsOf reads a two-digit RFC 850 year as at most 50 years ahead', async (t) => {
  const nowMs = Date.parse('2026-11-28T09:00:00Z');
  t.equal(retryAfterMsOf('Saturday, 28-Nov-26 09:00:05 GMT', nowMs), 5000, '26 is 2026');
  t.equal(retryAfterMsOf('Friday, 28-Nov-75 09:00:00 GMT', nowMs), Date.parse('2075-11-28T09:00:00Z') - nowMs, '75 is 2075');
  t.equal(retryAfterMsOf('Monday, 28-Nov-77 09:00:00 GMT', nowMs), null, '77 is 1977, past');
});

t.test('retryAfterMsOf ignores what is no Retry-After: garbage, other date formats, impossible dates', async (t) => {
  // Every one of these is ahead of now, so only a refusal gives null.
  const nowMs = Date.parse('1994-11-06T08:49:00Z');
  for (const value of [
    undefined, '', '-1', '1.5', '+5', '5s', '0x10', 'soon', 'Sun, not a date', 'Mon 1', 'Monday', 'Sunday foo 2025',
    'Sun, 06 Nov 1994 08:49:37', 'Sun, 06 Nov 1994 08:49:37 +0000', 'Sun, 06 Nov 1994 08:49:37 PST',
    'Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 6 Nov 1994 08:49:37 GMT', '06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Nov 94 08:49:37 GMT', 'Sun, 06 November 1994 08:49:37 GMT', 'Sun,  06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 08:49:37 GMT trailing', 'Sun, 31 Nov 1994 08:49:37 GMT', 'Tue, 29 Feb 2095 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT', 'Sun, 06 Nov 1994 08:60:00 GMT', 'Sun, 06 Nov 1994 08:49:61 GMT',
    'Sunday, 06-Nov-1994 08:49:37 GMT', 'Sun, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994 GMT',
    '1994-11-06T08:49:37Z', 'Sun Nov 06 1994 08:49:37 GMT+0000 (Coordinated Universal Time)',
  ]) {
    t.equal(retryAfterMsOf(value, nowMs), null, JSON.stringify(value));
  }
});

t.test('an HTTP date not after now asks no wait: null, so the normal backoff applies', async (t) => {
  const nowMs = Date.parse('1994-11-06T08:49:00Z');
  t.equal(retryAfterMsOf('Sun, 06 Nov 1994 08:48:00 GMT', nowMs), null, 'a minute ago');
  t.equal(retryAfterMsOf('Sun, 06 Nov 1994 08:49:00 GMT', nowMs), null, 'now');
  t.equal(retryAfterMsOf('Sun, 06 Nov 1994 08:49:01 GMT', nowMs), 1000);
});

t.test('an HTTP date counts from the response Date, so a receiver whose clock is off gets the wait it asked', async (t) => {
  const retryAt = 'Sun, 06 Nov 1994 08:49:37 GMT';
  const sentAt = 'Sun, 06 Nov 1994 08:49:31 GMT';
  const behindMs = Date.parse('1994-11-06T08:51:00Z');
  t.equal(retryAfterMsOf(retryAt, behindMs, sentAt), 6000, 'their clock 89 s behind ours');
  t.equal(retryAfterMsOf(retryAt, Date.parse('1994-11-06T08:40:00Z'), sentAt), 6000, 'their clock ahead of ours');
  t.equal(retryAfterMsOf(retryAt, behindMs, [sentAt, 'junk']), 6000, 'the first Date');
  t.equal(retryAfterMsOf(retryAt, behindMs, retryAt), null, 'a date equal to Date asks no wait');
  t.equal(retryAfterMsOf(retryAt, Date.parse('1994-11-06T08:49:00Z'), 'garbage'), 37_000, 'an invalid Date: our clock');
  t.equal(retryAfterMsOf('7', behindMs, sentAt), 7000, 'delay-seconds ignore Date');
});

t.test('a 503 whose HTTP date is 6 s past the receiver\'s Date waits 6 s, however far its clock is behind', async (t) => {
  const receiverBehindMs = 90_000;
  const r = await receiver(t, (_req, res) => {
    const theirNowMs = Date.now() - receiverBehindMs;
    res.statusCode = 503;
    res.setHeader('date', new Date(theirNowMs).toUTCString());
    res.setHeader('retry-after', new Date(theirNowMs + 6000).toUTCString());
    res.end();
  });
  const result = failure(await client(t).send(attemptTo(r.url)));
  t.match(result, { httpStatus: 503, retryAfterMs: 6000 });
});

t.test('a receiver that never answers times out within about timeoutMs', async (t) => {
  const r = await receiver(t, never);
  const startMs = Date.now();
  const result = failure(await client(t).send(attemptTo(r.url, { timeoutMs: 300 })));
  const elapsedMs = Date.now() - startMs;
  t.match(result, { code: 'timeout', httpStatus: null, sent: true, retryAfterMs: null });
  t.ok(elapsedMs >= 250 && elapsedMs < 5000, `took ${elapsedMs} ms`);
  t.equal(r.requests.length, 1, 'the request did reach the receiver');
});

t.test('a 2xx whose body never ends still succeeds; the body is cut at the deadline', async (t) => {
  const r = await receiver(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
  });
  const startMs = Date.now();
  const result = await client(t).send(attemptTo(r.url, { timeoutMs: 300 }));
  const elapsedMs = Date.now() - startMs;
  t.match(result, { ok: true, httpStatus: 200 });
  t.ok(elapsedMs < 5000, `took ${elapsedMs} ms`);
});

t.test('a refused connection is connection_refused and provably not sent', async (t) => {
  const port = await closedPort();
  const result = failure(await client(t).send(attemptTo(`http://127.0.0.1:${port}/`)));
  t.match(result, { code: 'connection_refused', httpStatus: null, sent: false, retryAfterMs: null });
});

t.test('a name that does not resolve is dns_failed and provably not sent', async (t) => {
  for (const denyPrivate of [false, true]) {
    const result = failure(await client(t, { denyPrivate }).send(attemptTo('http://no-such-host.invalid/')));
    t.match(result, { code: 'dns_failed', sent: false }, `denyPrivate ${denyPrivate}`);
  }
});

t.test('aborting through the signal ends the attempt as aborted', async (t) => {
  const r = await receiver(t, never);
  const c = client(t);
  const controller = new AbortController();
  const startMs = Date.now();
  setTimeout(() => controller.abort(), 100);
  const result = failure(await c.send(attemptTo(r.url, { timeoutMs: 10_000, signal: controller.signal })));
  t.match(result, { code: 'aborted', sent: true });
  t.ok(Date.now() - startMs < 5000, 'long before the timeout');

  const before = r.requests.length;
  const early = failure(await c.send(attemptTo(r.url, { signal: AbortSignal.abort() })));
  t.match(early, { code: 'aborted', sent: false }, 'aborted before it started: never sent');
  t.equal(r.requests.length, before, 'the receiver saw nothing');
});

t.test('with WEBHOOK_DENY_PRIVATE, private hosts are refused and never sent', async (t) => {
  const r = await receiver(t);
  const c = client(t, { denyPrivate: true });
  for (const url of [`http://127.0.0.1:${r.port}/`, `http://localhost:${r.port}/`, `http://[::1]:${r.port}/`]) {
    t.match(failure(await c.send(attemptTo(url))), { code: 'private_address', sent: false, httpStatus: null }, url);
  }
  t.equal(r.requests.length, 0, 'the receiver saw no request');
  t.equal(r.connectionCount, 0, 'nor any connection');
});

// The machine's own name is not a literal or `localhost`, so only the connect-time lookup can refuse it.
const ownName = hostname();
// A name that does not resolve here (ENOTFOUND, EAI_AGAIN) skips the test.
const ownAddresses = await lookup(ownName, { all: true }).catch((_err: unknown) => []);
const ownNameIsPrivate = ownAddresses.length > 0 && ownAddresses.some((a) => isPrivateAddress(a.address));

t.test('with WEBHOOK_DENY_PRIVATE, a name is checked where it resolves, at connect', {
  skip: ownNameIsPrivate ? false : `${ownName} does not resolve to a private address here`,
}, async (t) => {
  const r = await receiver(t);
  const result = failure(await client(t, { denyPrivate: true }).send(attemptTo(`http://${ownName}:${r.port}/`)));
  t.match(result, { code: 'private_address', sent: false });
  t.equal(r.requests.length, 0, 'the receiver saw no request');
});

t.test('privateDenyingLookup answers in both callback shapes and refuses any private address', async (t) => {
  const call = (host: string, all: boolean): Promise<unknown[]> =>
    new Promise((resolve) => privateDenyingLookup(host, all ? { all: true } : {}, (...args) => resolve(args)));
  t.strictSame(await call('8.8.8.8', false), [null, '8.8.8.8', 4], 'one address');
  t.strictSame(await call('8.8.8.8', true), [null, [{ address: '8.8.8.8', family: 4 }]], 'all addresses');
  for (const all of [false, true]) {
    const [err] = await call('localhost', all);
    t.match(err, { code: 'private_address', hostname: 'localhost' }, `localhost, all ${all}`);
  }
  const [err] = await call('no-such-host.invalid', false);
  t.match(err, { code: /^(ENOTFOUND|EAI_AGAIN)$/ }, 'resolution errors pass through');
});

t.test('with WEBHOOK_DENY_PRIVATE off, loopback receivers are called', async (t) => {
  const r = await receiver(t);
  const c = client(t);
  t.equal((await c.send(attemptTo(`http://127.0.0.1:${r.port}/`))).ok, true);
  t.equal((await c.send(attemptTo(`http://localhost:${r.port}/`))).ok, true);
  t.equal(r.requests.length, 2);
});

t.test('sequential sends to one origin reuse one keep-alive connection', async (t) => {
  const r = await receiver(t, (_req, res) => res.end('x'.repeat(10_000)));
  const c = client(t, { connectionsPerOrigin: 1 });
  for (let i = 1; i <= 3; i++) t.equal((await c.send(attemptTo(r.url, { attempt: i }))).ok, true);
  t.equal(r.requests.length, 3);
  t.equal(r.connectionCount, 1, 'the body was drained and the socket kept open');
});

t.test('a body over 64 KiB still answers its status, and its connection is closed rather than drained', async (t) => {
  const r = await receiver(t, (_req, res) => res.end('x'.repeat(200_000)));
  const c = client(t, { connectionsPerOrigin: 1 });
  for (let i = 1; i <= 2; i++) t.match(await c.send(attemptTo(r.url, { attempt: i })), { ok: true, httpStatus: 200 });
  t.equal(r.requests.length, 2);
  t.equal(r.connectionCount, 2, 'one connection per send: each long body closed its socket');
});

t.test('a connection reset after a 2xx status keeps the status; a reset before it is a network failure, sent', async (t) => {
  const afterStatus = await receiver(t, (_req, res) => {
    res.writeHead(201);
    res.write('partial', () => res.socket?.destroy());
  });
  t.match(await client(t).send(attemptTo(afterStatus.url)), { ok: true, httpStatus: 201 });
  const beforeStatus = await receiver(t, (req) => req.socket.destroy());
  t.match(failure(await client(t).send(attemptTo(beforeStatus.url))), { code: 'network', sent: true, httpStatus: null });
});

t.test('with a larger pool, sequential sends still reuse connections', async (t) => {
  // undici marks a connection free a moment after the body ends, so a send right after another may open a second
  // one; what matters is that sockets are reused, not opened per send.
  const r = await receiver(t);
  const c = client(t, { connectionsPerOrigin: 4 });
  for (let i = 1; i <= 6; i++) t.equal((await c.send(attemptTo(r.url, { attempt: i }))).ok, true);
  t.ok(r.connectionCount <= 2, `${r.connectionCount} connections for 6 sends`);
});

/** A receiver that never answers under /hang and answers 200 elsewhere. */
const hangUnderHang: Handler = (req, res) => {
  if (req.url?.startsWith('/hang') !== true) res.end('ok');
};

/** Resolves once `done()` holds; fails the test after `withinMs`. */
async function waitFor(t: Test, what: string, done: () => boolean, withinMs = 10_000): Promise<void> {
  const untilMs = Date.now() + withinMs;
  while (!done()) {
    if (Date.now() > untilMs) {
      t.fail(`${what}: not within ${withinMs} ms`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `count` attempts to /hang that stay unanswered until `stop()`, which aborts and awaits them. */
async function hangingAttempts(
  t: Test, c: WebhookClient, r: Receiver, count: number, timeoutMs = 20_000,
): Promise<{ stop: () => Promise<AttemptResult[]> }> {
  const controller = new AbortController();
  // One signal stops them all: each attempt listens on it.
  setMaxListeners(count + 10, controller.signal);
  const before = r.requests.length;
  const results = Array.from({ length: count }, (_, i) => c.send(attemptTo(
    `http://127.0.0.1:${r.port}/hang/${i}`, { jobId: `hang-${i}`, fireId: `hang-${i}@1`, timeoutMs, signal: controller.signal },
  )));
  await waitFor(t, `${count} hanging requests received`, () => r.requests.length - before >= count);
  return { stop: async () => { controller.abort(); return Promise.all(results); } };
}

t.test('hanging requests past the old 64 per origin hold no healthy fire to the same host back', async (t) => {
  // The black-box case: 70 jobs at a receiver that hung held every connection to its host (64), and a healthy path's
  // fire queued behind them, recorded `timeout` though never sent. Every attempt in flight now gets a connection.
  const hanging = 100;
  t.ok(hanging < limits.webhooksInFlightMax && hanging > 64);
  const r = await receiver(t, hangUnderHang);
  const c = client(t, { connectionsPerOrigin: limits.webhookConnectionsPerOrigin });
  const { stop } = await hangingAttempts(t, c, r, hanging);
  const sentAtMs = Date.now();
  const result = await c.send(attemptTo(`http://127.0.0.1:${r.port}/healthy`, { timeoutMs: 3000 }));
  t.match(result, { ok: true, httpStatus: 200 }, 'sent and answered, not timed out in a queue');
  t.ok(result.startedAtMs - sentAtMs < 1000, `started ${result.startedAtMs - sentAtMs} ms after the send`);
  t.ok(result.durationMs < 2000, `took ${result.durationMs} ms`);
  t.equal(r.requests.at(-1)?.path, '/healthy');
  t.equal(r.connectionCount, hanging + 1, 'one connection each');
  for (const hung of await stop()) t.match(hung, { ok: false, code: 'aborted', sent: true });
});

t.test('an attempt that found every connection to its origin busy until its deadline is origin_busy, not sent', async (t) => {
  const r = await receiver(t, hangUnderHang);
  const c = client(t, { connectionsPerOrigin: 2 });
  const { stop } = await hangingAttempts(t, c, r, 2);
  const result = failure(await c.send(attemptTo(`http://127.0.0.1:${r.port}/healthy`, { timeoutMs: 300 })));
  t.match(result, { code: 'origin_busy', sent: false, httpStatus: null, retryAfterMs: null });
  t.match(result.error, /every connection to http:\/\/127\.0\.0\.1:\d+ stayed busy for 300 ms; not sent/);
  t.ok(result.durationMs >= 250 && result.durationMs < 5000, `waited ${result.durationMs} ms`);

  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const aborted = failure(await c.send(attemptTo(`http://127.0.0.1:${r.port}/healthy`, { signal: controller.signal })));
  t.match(aborted, { code: 'aborted', sent: false }, 'aborted while it waited: never sent');

  await stop();
  t.notOk(r.requests.some((q) => q.path === '/healthy'), 'the receiver saw neither');
  const after = await c.send(attemptTo(`http://127.0.0.1:${r.port}/healthy`));
  t.match(after, { ok: true }, 'the pool serves again once the connections are free');
});

t.test('an attempt that waited for a connection starts when it goes out, with its whole deadline', async (t) => {
  // The second attempt waits 600 ms for the only connection, then its receiver takes 1 s of its 1.5 s deadline.
  const r = await receiver(t, (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('ok'), 1000);
  });
  const c = client(t, { connectionsPerOrigin: 1 });
  const first = c.send(attemptTo(`http://127.0.0.1:${r.port}/hang`, { timeoutMs: 600 }));
  await waitFor(t, 'the first request received', () => r.requests.length === 1);
  const madeAtMs = Date.now();
  const second = await c.send(attemptTo(`http://127.0.0.1:${r.port}/slow`, { timeoutMs: 1500 }));
  t.match(await first, { ok: false, code: 'timeout', sent: true });
  t.match(second, { ok: true, httpStatus: 200 }, 'not cut short by the time it waited');
  const waitedMs = second.startedAtMs - madeAtMs;
  t.ok(waitedMs >= 450, `started ${waitedMs} ms after it was made: when the connection came free`);
  t.ok(second.durationMs >= 900 && second.durationMs < 1500, `its duration (${second.durationMs} ms) leaves the wait out`);
});

t.test('a signed fire carries one Standard Webhooks signature per rotated secret, each verifying alone', async (t) => {
  const r = await receiver(t);
  const oldSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const newSecret = `whsec_${randomBytes(32).toString('base64')}`;
  const nowMs = Date.now();
  await client(t, { now: () => nowMs }).send(attemptTo(r.url, { signingSecret: ` ${oldSecret} ,, ${newSecret}` }));
  const { headers, body } = r.requests[0]!;
  t.equal(headers['webhook-id'], `job-1@${scheduledAtMs}`);
  t.equal(headers['webhook-timestamp'], String(Math.floor(nowMs / 1000)));
  t.equal(headers['webhook-signature']!.split(' ').length, 2, 'empty entries are skipped');
  const standard = {
    'webhook-id': headers['webhook-id']!, 'webhook-timestamp': headers['webhook-timestamp']!,
    'webhook-signature': headers['webhook-signature']!,
  };
  for (const secret of [oldSecret, newSecret]) {
    t.doesNotThrow(() => new Webhook(secret).verify(body, standard), 'verifies with one of the keys');
    const [own] = standard['webhook-signature'].split(' ').filter((s) => {
      try {
        new Webhook(secret).verify(body, { ...standard, 'webhook-signature': s });
        return true;
      } catch (_err) {
        // WebhookVerificationError: this signature is the other key's.
        return false;
      }
    });
    t.ok(own, 'exactly one signature is this key\'s');
  }
  t.throws(() => new Webhook(`whsec_${randomBytes(24).toString('base64')}`).verify(body, standard), 'another key fails');
});

t.test('a plain secret signs with its UTF-8 bytes', async (t) => {
  const r = await receiver(t);
  const secret = 'plain sécret';
  await client(t).send(attemptTo(r.url, { signingSecret: secret }));
  const { headers, body } = r.requests[0]!;
  const signed = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(signed).digest('base64');
  t.equal(headers['webhook-signature'], `v1,${expected}`);
  const asWhsec = `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;
  t.doesNotThrow(() => new Webhook(asWhsec).verify(body, {
    'webhook-id': headers['webhook-id']!, 'webhook-timestamp': headers['webhook-timestamp']!,
    'webhook-signature': headers['webhook-signature']!,
  }));
});

t.test('signatureHeaders matches the Standard Webhooks reference vector; no secret gives no headers', async (t) => {
  const headers = signatureHeaders(
    'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  );
  t.strictSame(headers, {
    'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  });
  t.strictSame(signatureHeaders('f', 1, '{}', ' , '), {});
});

t.test('send never rejects: a malformed URL is a failed, unsent attempt', async (t) => {
  const result = failure(await client(t).send(attemptTo('not a url')));
  t.match(result, { code: 'network', sent: false });
});
