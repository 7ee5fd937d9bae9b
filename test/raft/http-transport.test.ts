// The peer transport on a real port: CLUSTER_SECRET on every request, garbage refused with 4xx, batches and forwards delivered.
import t from 'tap';
import { request } from 'undici';
import { silentLogger } from '../../src/raft/core/index.js';
import type { Message } from '../../src/raft/core/index.js';
import { ForwardError, HttpTransport } from '../../src/raft/http-transport.js';
import type { ForwardRequest, MessageBatch } from '../../src/raft/wire.js';
import { encodeWire } from '../../src/raft/wire.js';

const heartbeat = (from: string, to: string): Message => ({ type: 'heartbeat', from, to, term: 2, leaderCommit: 1, seq: 1, sentTick: 5 });

async function pair(t: { teardown(fn: () => Promise<void>): void }, secret: string | null) {
  const received: MessageBatch[] = [];
  const forwarded: ForwardRequest[] = [];
  const make = (id: string, onForward: (r: ForwardRequest) => Promise<unknown>) => HttpTransport.listen({
    nodeId: id, host: '127.0.0.1', port: 0, advertiseAddress: '', clusterSecret: secret, bodyBytesMax: 1024 * 1024, requestReceiveMs: 30_000,
    queuedMessagesMax: 100, logger: silentLogger, tls: null,
  }, {
    acceptsFrom: () => true,
    onMessages: (batch) => {
      received.push(batch);
    },
    onForward,
    onStateDigest: async (index, waitMs) => (index === 5
      ? { state: 'ok', digest: 'ab'.repeat(32), records: 12 }
      : { state: 'unknown', error: `no check at ${index} (waited ${waitMs} ms)` }),
  });
  const b = await make('b', async (r) => {
    forwarded.push(r);
    if (r.kind === 'remove_node') throw Object.assign(new Error('b is not the leader'), { code: 'not_leader' });
    return { applied: true };
  });
  const a = await make('a', async () => null);
  a.setPeerAddress('b', `127.0.0.1:${b.port()}`);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  return { a, b, received, forwarded };
}

async function post(port: number, path: string, body: Uint8Array | string, headers: Record<string, string>) {
  const response = await request(`http://127.0.0.1:${port}${path}`, { method: 'POST', body, headers });
  return { status: response.statusCode, text: await response.body.text() };
}

t.test('messages and forwarded requests reach the peer; forwarded errors keep their code', async (t) => {
  const { a, b, received, forwarded } = await pair(t, 's3cret');
  a.send([heartbeat('a', 'b'), heartbeat('a', 'b')]);
  for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(received.length, 1, 'one request carried both messages');
  t.same(received[0]?.messages, [heartbeat('a', 'b'), heartbeat('a', 'b')]);
  t.same(await a.forward('b', { kind: 'propose', data: Uint8Array.from([7]) }, 2000), { applied: true });
  t.same(forwarded, [{ kind: 'propose', data: Uint8Array.from([7]) }]);
  await t.rejects(a.forward('b', { kind: 'remove_node', nodeId: 'c' }, 2000), new ForwardError('not_leader', 'b is not the leader'));
  t.ok(b.lastContactAtMs('a') === null && a.lastContactAtMs('b') !== null, 'a records when it last reached b');
});

t.test('messages queued past the peer\'s body limit go in several requests, in order, none lost', async (t) => {
  const { a, received } = await pair(t, null);
  // Six appends of 300 KB: one body would be 1.8 MB against the peer's 1 MiB limit, refused whole.
  const appends: Message[] = [1, 2, 3, 4, 5, 6].map((i) => ({
    type: 'append_entries', from: 'a', to: 'b', term: 2, prevLogIndex: i - 1, prevLogTerm: i === 1 ? 0 : 2,
    entries: [{ type: 'normal', term: 2, index: i, data: new Uint8Array(300_000).fill(i) }], leaderCommit: 0, seq: i, sentTick: i,
  }));
  a.send(appends);
  const delivered = (): Message[] => received.flatMap((batch) => batch.messages);
  for (let i = 0; i < 200 && delivered().length < appends.length; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  const firstBytes = delivered().map((m) => {
    const entry = m.type === 'append_entries' ? m.entries[0] : undefined;
    return entry?.type === 'normal' ? entry.data[0] : null;
  });
  t.same(firstBytes, [1, 2, 3, 4, 5, 6], 'every append, in order');
  t.ok(received.length >= 2, `${received.length} requests`);
});

t.test('without the cluster secret every peer route answers 401 and nothing is delivered', async (t) => {
  const { b, received, forwarded } = await pair(t, 's3cret');
  const batch = encodeWire({ from: 'a', fromAddress: '', messages: [heartbeat('a', 'b')] });
  const type = { 'content-type': 'application/msgpack' };
  t.equal((await post(b.port(), '/raft/messages', batch, type)).status, 401);
  t.equal((await post(b.port(), '/raft/messages', batch, { ...type, 'x-cluster-secret': 'wrong!' })).status, 401);
  t.equal((await post(b.port(), '/raft/forward', encodeWire({ kind: 'transfer', to: null }), type)).status, 401);
  t.equal((await request(`http://127.0.0.1:${b.port()}/raft/ping`)).statusCode, 401);
  t.same([received.length, forwarded.length], [0, 0]);
  t.equal((await post(b.port(), '/raft/messages', batch, { ...type, 'x-cluster-secret': 's3cret' })).status, 204);
  t.equal(received.length, 1);
});

t.test('garbage on the Raft port gets a 4xx with a reason, never a crash, never a delivery', async (t) => {
  const { b, received } = await pair(t, null);
  const type = { 'content-type': 'application/msgpack' };
  const cases: [Uint8Array | string, Record<string, string>, number, RegExp][] = [
    [Uint8Array.from([0xc1, 0xff, 0x00]), type, 400, /./],
    [encodeWire({ from: 'a', fromAddress: '', messages: [{ ...heartbeat('a', 'b'), term: -4 }] }), type, 400, /term/],
    [encodeWire({ from: 'a', fromAddress: '', messages: [heartbeat('a', 'zed')] }), type, 400, /sent to b/],
    [encodeWire([1, 2, 3]), type, 400, /must be a map/],
    ['{"json": true}', { 'content-type': 'application/json' }, 400, /msgpack/],
    ['plain', { 'content-type': 'text/plain' }, 400, /msgpack/],
    ['<a/>', { 'content-type': 'application/xml' }, 415, /./],
    [new Uint8Array(2 * 1024 * 1024), type, 413, /./],
  ];
  for (const [body, headers, status, reason] of cases) {
    const r = await post(b.port(), '/raft/messages', body, headers);
    t.equal(r.status, status, `${headers['content-type']} ${String(reason)}`);
    t.match(r.text, reason);
  }
  t.equal((await post(b.port(), '/raft/forward', encodeWire({ kind: 'drop_all' }), type)).status, 400);
  t.equal(received.length, 0);
  t.equal((await request(`http://127.0.0.1:${b.port()}/raft/ping`)).statusCode, 200, 'still serving');
});

t.test('ping names the node; an address nobody listens on answers null', async (t) => {
  const { a, b } = await pair(t, null);
  t.equal(await a.ping(`127.0.0.1:${b.port()}`, 1000), 'b');
  t.equal(await a.ping('127.0.0.1:1', 500), null);
});

t.test('a peer is asked for its state digest; bad questions get a 400, and a peer that cannot answer is unreachable', async (t) => {
  const { a, b } = await pair(t, 's3cret');
  t.strictSame(await a.stateDigest('b', 5, 100), { state: 'ok', digest: 'ab'.repeat(32), records: 12 });
  t.strictSame(await a.stateDigest('b', 6, 100), { state: 'unknown', error: 'no check at 6 (waited 100 ms)' });
  t.match(await a.stateDigest('c', 5, 100), { state: 'unreachable', error: /no address for c/ });
  const secret = { 'x-cluster-secret': 's3cret' };
  for (const path of ['/raft/state-digest/0', '/raft/state-digest/x', '/raft/state-digest/1.5', '/raft/state-digest/5?wait_ms=-1',
    '/raft/state-digest/5?wait_ms=600001', '/raft/state-digest/5?wait_ms=soon']) {
    const r = await request(`http://127.0.0.1:${b.port()}${path}`, { headers: secret });
    t.equal(r.statusCode, 400, path);
    t.match(await r.body.text(), /index must be|wait_ms must be/);
  }
  t.equal((await request(`http://127.0.0.1:${b.port()}/raft/state-digest/5`)).statusCode, 401, 'the cluster secret guards it too');
  b.setPeerAddress('a', '127.0.0.1:1');
  t.match(await b.stateDigest('a', 5, 100), { state: 'unreachable' });
});

/** Two transports that know each other; `answer` is b's handling of a's messages (its answers go through b.send). */
async function answeringPair(t: { teardown(fn: () => Promise<void>): void }, answer: (b: HttpTransport, batch: MessageBatch) => Promise<void> | void) {
  const atA: MessageBatch[] = [];
  const atB: MessageBatch[] = [];
  const options = (id: string) => ({
    nodeId: id, host: '127.0.0.1', port: 0, advertiseAddress: '', clusterSecret: 's3cret', bodyBytesMax: 1024 * 1024, requestReceiveMs: 30_000,
    queuedMessagesMax: 100, logger: silentLogger, tls: null,
  });
  const a = await HttpTransport.listen(options('a'), {
    acceptsFrom: () => true,
    onMessages: (batch) => {
      atA.push(batch);
    },
    onForward: async () => null,
    onStateDigest: async () => ({ state: 'unknown', error: 'none' }),
  });
  let bRef: HttpTransport | null = null;
  const b = await HttpTransport.listen(options('b'), {
    acceptsFrom: () => true,
    onMessages: (batch) => {
      atB.push(batch);
      return bRef === null ? undefined : answer(bRef, batch);
    },
    onForward: async () => null,
    onStateDigest: async () => ({ state: 'unknown', error: 'none' }),
  });
  bRef = b;
  a.setPeerAddress('b', `127.0.0.1:${b.port()}`);
  b.setPeerAddress('a', `127.0.0.1:${a.port()}`);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  return { a, b, atA, atB };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

const heartbeatResp = (from: string, to: string): Message => ({ type: 'heartbeat_result', from, to, term: 2, seq: 1, sentTick: 5 });

t.test('answers sent while the request is handled go back in its response, and nothing else crosses', async (t) => {
  const { a, b, atA, atB } = await answeringPair(t, async (b) => {
    await new Promise((resolve) => setTimeout(resolve, 30));
    b.send([heartbeatResp('b', 'a')]);
  });
  a.send([heartbeat('a', 'b')]);
  await until(() => atA.length > 0);
  t.same(atA.map((batch) => batch.messages), [[heartbeatResp('b', 'a')]], 'a received the answer');
  t.equal(atB.length, 1);
  t.ok(a.lastContactAtMs('b') !== null, 'a reached b');
  t.equal(b.lastContactAtMs('a'), null, 'b sent no request of its own: the answer rode on the response');
});

t.test('answers after the wait, and to a sender that does not ask for them, go in a request of their own', async (t) => {
  const late: (() => void)[] = [];
  const { a, b, atA } = await answeringPair(t, () => new Promise<void>((resolve) => {
    late.push(resolve);
  }));
  // An earlier version's request (no x-raft-replies header) is answered 204 at once.
  const batch = encodeWire({ from: 'a', fromAddress: '', messages: [heartbeat('a', 'b')] });
  const r = await post(b.port(), '/raft/messages', batch, { 'content-type': 'application/msgpack', 'x-cluster-secret': 's3cret' });
  t.equal(r.status, 204);
  b.send([heartbeatResp('b', 'a')]);
  await until(() => atA.length > 0);
  t.equal(atA.length, 1, 'the answer reached a in a request from b');
  t.ok(b.lastContactAtMs('a') !== null);
  // A handler that never settles: b answers 204 after its wait, and what it sends later goes on its own.
  const startedAt = Date.now();
  a.send([heartbeat('a', 'b')]);
  await until(() => late.length === 2);
  await until(() => a.lastContactAtMs('b') !== null, 5000);
  t.ok(Date.now() - startedAt >= 900, 'the response waited for the answers, at most about a second');
  b.send([heartbeatResp('b', 'a')]);
  await until(() => atA.length > 1);
  t.equal(atA.length, 2);
});
