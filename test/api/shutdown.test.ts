// SIGTERM's way out of the client port, on a real node over real sockets: clients are moved off, not cut off, and
// the node is gone in moments rather than when keep-alive times out.
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import { Client } from 'undici';
import { Receiver } from '../scheduler/receiver.js';
import { waitFor } from '../cluster/process-cluster.js';
import { startSingleNode } from './single-node.js';

const job = (id: string): string => JSON.stringify({
  id, type: 'unico', timestamp: '2030-01-01T00:00:00Z', webhook_url: 'https://example.com/hook',
});

/** Everything the server sends until it closes the connection; rejects if it has not closed it after `timeoutMs`. */
async function readUntilClosed(socket: Socket, timeoutMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const timer = setTimeout(() => socket.destroy(new Error(`the server kept the connection open for ${timeoutMs} ms`)), timeoutMs);
  try {
    await once(socket, 'close');
    if (socket.errored !== null) throw socket.errored;
    return Buffer.concat(chunks).toString();
  } finally {
    clearTimeout(timer);
  }
}

t.test('a request in progress when the node stops is answered, its connection closed, and the node is gone in moments', async (t) => {
  const n = await startSingleNode();
  t.teardown(() => n.stop());
  const socket = connect(n.node.httpPort, '127.0.0.1');
  await once(socket, 'connect');
  const body = job('in-progress');
  // Headers now, body later: the request is in progress (routed, its handler waiting for the body) when the port closes.
  socket.write(`POST /jobs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
  await delay(100);
  const startedAt = performance.now();
  const stopped = n.node.shutdown(0);
  await delay(100);
  socket.write(body);
  const answer = await readUntilClosed(socket, 5000);
  t.match(answer, /^HTTP\/1\.1 201 /, 'the create is answered');
  t.match(answer, /\r\nconnection: close\r\n/i, 'and the answer says the connection closes');
  await stopped;
  t.ok(performance.now() - startedAt < 5000, `stopped in ${Math.round(performance.now() - startedAt)} ms`);
});

t.test('while a node stops it still serves, /ready says it is stopping, and each answer closes its connection', async (t) => {
  const n = await startSingleNode();
  t.teardown(() => n.stop());
  const client = new Client(`http://127.0.0.1:${n.node.httpPort}`, { pipelining: 1 });
  t.teardown(() => client.close());
  // A node that has just become leader is ready once it has applied its first entry.
  let before = await client.request({ method: 'GET', path: '/ready' });
  for (let i = 0; i < 100 && before.statusCode !== 200; i++) {
    await before.body.dump();
    await delay(20);
    before = await client.request({ method: 'GET', path: '/ready' });
  }
  await before.body.dump();
  t.equal(before.statusCode, 200, 'ready before');
  t.not(before.headers['connection'], 'close', 'and the connection kept alive');

  const stopped = n.node.shutdown(3000);
  const ready = await client.request({ method: 'GET', path: '/ready' });
  const readyBody = await ready.body.json() as { ready: boolean; reason?: string };
  t.equal(ready.statusCode, 503, '/ready answers 503 once stopping');
  t.match(readyBody, { ready: false, reason: 'stopping' });
  t.equal(ready.headers['connection'], 'close', 'and closes the connection');

  const created = await client.request({
    method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body: job('while-stopping'),
  });
  await created.body.dump();
  t.equal(created.statusCode, 201, 'a create on a new connection is still served');
  t.equal(created.headers['connection'], 'close');

  await stopped;
  await t.rejects(client.request({ method: 'GET', path: '/health' }), { code: 'ECONNREFUSED' }, 'the port is closed after');
});

t.test('a lone node stopped while a fire is being sent records its result first: started again, it sends nothing twice', async (t) => {
  // It has no one to hand over to, and once skipped the drain: the fire was sent again, with the same id, on restart.
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  receiver.on('/slow', { statuses: [200], delayMs: 1000 });
  const first = await startSingleNode({ SLOT_GAP: '1s' });
  const created = await first.node.app.inject({
    method: 'POST', url: '/jobs',
    payload: { id: 'in-flight', type: 'unico', timestamp: new Date(Date.now() + 300).toISOString(), webhook_url: receiver.url('/slow') },
  });
  t.equal(created.statusCode, 201);
  await waitFor(async () => receiver.at('/slow').length === 1, 5000, 'the fire under way');
  await first.node.shutdown(0);
  const again = await startSingleNode({ SLOT_GAP: '1s' }, { dataDir: first.dataDir });
  t.teardown(() => again.stop());
  await waitFor(async () => (await again.node.app.inject({ method: 'GET', url: '/jobs/in-flight' })).json<{ status: string }>().status === 'completed', 5000, 'completed');
  await delay(1500);
  t.equal(receiver.at('/slow').length, 1, 'sent once');
  const executions = (await again.node.app.inject({ method: 'GET', url: '/jobs/in-flight/executions' })).json<{ executions: { status: string }[] }>();
  t.match(executions.executions, [{ status: 'succeeded' }]);
});
