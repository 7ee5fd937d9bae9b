// The link proxy on its own, against an echo server: each mode does to bytes what the nemesis relies on.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { sleep } from './clock.js';
import { LinkProxy } from './proxy.js';

async function echoServer(t: Test): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return server;
}

async function proxyTo(t: Test, server: Server, random = (): number => 0.5): Promise<LinkProxy> {
  const proxy = await LinkProxy.start({ name: 'a→b', targetPort: (server.address() as AddressInfo).port, random });
  t.teardown(() => proxy.close());
  return proxy;
}

/** A client whose received bytes, and whether it was reset or refused, can be read at any time. */
async function client(port: number): Promise<{ socket: Socket; received: () => string; error: () => string | null }> {
  const socket = connect({ host: '127.0.0.1', port });
  let data = '';
  let error: string | null = null;
  socket.on('data', (c: Buffer) => { data += c.toString(); });
  socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message; });
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('error', () => resolve());
  });
  return { socket, received: () => data, error: () => error };
}

t.test('pass forwards both ways', async (t) => {
  const proxy = await proxyTo(t, await echoServer(t));
  const c = await client(proxy.port);
  c.socket.write('hello');
  await sleep(100);
  t.equal(c.received(), 'hello');
  c.socket.destroy();
});

t.test('delay holds every chunk and keeps their order', async (t) => {
  const proxy = await proxyTo(t, await echoServer(t));
  proxy.set({ kind: 'delay', ms: 150 });
  const c = await client(proxy.port);
  const started = performance.now();
  for (const part of ['a', 'b', 'c', 'd']) {
    c.socket.write(part);
    await sleep(10);
  }
  await sleep(100);
  t.equal(c.received(), '', 'nothing before the delay');
  while (c.received().length < 4 && performance.now() - started < 2000) await sleep(10);
  t.equal(c.received(), 'abcd', 'all of it, in order');
  t.ok(performance.now() - started >= 290, 'each way waited the delay');
  c.socket.destroy();
});

t.test('drop throws bytes away, and healing resets the broken connection', async (t) => {
  const proxy = await proxyTo(t, await echoServer(t));
  const c = await client(proxy.port);
  proxy.set({ kind: 'drop' });
  c.socket.write('lost');
  await sleep(150);
  t.equal(c.received(), '', 'nothing came back');
  t.ok(proxy.stats.bytesDropped >= 4, 'the bytes were counted as dropped');
  proxy.set({ kind: 'pass' });
  await sleep(100);
  t.equal(c.error(), 'ECONNRESET', 'the connection that lost bytes is reset on heal');
  const fresh = await client(proxy.port);
  fresh.socket.write('again');
  await sleep(100);
  t.equal(fresh.received(), 'again', 'a new connection works');
  fresh.socket.destroy();
});

t.test('hold keeps bytes and delivers them in order when healed', async (t) => {
  const proxy = await proxyTo(t, await echoServer(t));
  const c = await client(proxy.port);
  proxy.set({ kind: 'hold' });
  c.socket.write('one,');
  c.socket.write('two');
  await sleep(150);
  t.equal(c.received(), '', 'held');
  proxy.set({ kind: 'pass' });
  await sleep(150);
  t.equal(c.received(), 'one,two', 'delivered on heal');
  t.equal(c.error(), null, 'and the connection lives on');
  c.socket.destroy();
});

t.test('flaky resets connections with its probability', async (t) => {
  let coin = 0;
  const proxy = await proxyTo(t, await echoServer(t), () => coin);
  proxy.set({ kind: 'flaky', p: 0.5 });
  coin = 0.9;
  const kept = await client(proxy.port);
  kept.socket.write('x');
  await sleep(100);
  t.equal(kept.received(), 'x', 'a coin above p passes');
  coin = 0.1;
  kept.socket.write('y');
  await sleep(100);
  t.equal(kept.error(), 'ECONNRESET', 'a coin below p resets');
  t.equal(proxy.stats.resets, 1);
});

t.test('a link whose target is down refuses connections, and accepts again once it is up', async (t) => {
  const proxy = await proxyTo(t, await echoServer(t));
  const port = proxy.port;
  await proxy.targetDown();
  const refused = await client(port);
  t.equal(refused.error(), 'ECONNREFUSED');
  await proxy.targetUp();
  t.equal(proxy.port, port, 'the same port');
  const c = await client(port);
  c.socket.write('back');
  await sleep(100);
  t.equal(c.received(), 'back');
  c.socket.destroy();
});
