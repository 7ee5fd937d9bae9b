// cluster/nginx.conf in real nginx, in front of three stand-in nodes that count what reaches them: a DELETE is
// sent to one node at most once, however that node fails, while other requests still move on to the next node; a
// write a follower sends on (421 naming the leader) reaches the leader once, whole, and a dead leader's backups.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { forwardTimeoutMs, stateDigestWaitMs } from '../../src/config/limits.js';
import { Nginx } from '../faults/nginx.js';
import { freePort } from './process-cluster.js';

/**
 * A stand-in node: `die` in the path drops the connection without an answer (a node killed mid-request). Unless it
 * is `leader.id`, it answers a write that allows a redirect as a follower does: 421 naming the leader, body unread.
 * A `stale` leader answers so too (it stepped down since the others last heard from it).
 */
interface StandIn {
  readonly name: string;
  readonly server: Server;
  readonly seen: string[];
}

const leader = { id: 'n1', stale: false };

async function standIn(name: string): Promise<StandIn> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const redirect = req.headers['x-leader-redirect'];
    if (redirect === 'allowed' && req.method !== 'GET' && (name !== leader.id || leader.stale)) {
      seen.push(`421 ${req.method} ${req.url}`);
      res.writeHead(421, { 'x-leader-id': leader.id, 'content-length': '0' }).end();
      return;
    }
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}${body === '' ? '' : ` ${body}`}`);
      if (req.url?.includes('die') === true) {
        req.socket.destroy();
        return;
      }
      res.writeHead(req.method === 'DELETE' ? 204 : 200, { 'x-node': name }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { name, server, seen };
}

if (!Nginx.available()) {
  // As `npm run cluster` does: Debian's package, when this machine has no nginx yet.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'nginx'], { stdio: 'inherit', env });
}

t.test('through the shipped nginx config', async (t) => {
  const nodes = await Promise.all(['n1', 'n2', 'n3'].map(standIn));
  const dir = mkdtempSync(join(tmpdir(), 'sdb-nginx-'));
  const nginx = await Nginx.start(nodes.map((n) => (n.server.address() as AddressInfo).port), dir);
  t.teardown(async () => {
    await nginx.stop();
    for (const n of nodes) n.server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const hits = (line: string): number => nodes.reduce((sum, n) => sum + n.seen.filter((s) => s === line).length, 0);
  const seenBy = (line: string): string[] => nodes.filter((n) => n.seen.includes(line)).map((n) => n.name);

  await t.test('a DELETE reaches a node with its path and query unchanged', async (t) => {
    const r = await fetch(`${nginx.url}/jobs/ok-1?tenant=a`, { method: 'DELETE' });
    t.equal(r.status, 204);
    t.equal(hits('DELETE /jobs/ok-1?tenant=a'), 1);
  });

  await t.test('a write a follower sends on reaches the leader once, whole, without the redirect header', async (t) => {
    leader.id = 'n2';
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${nginx.url}/jobs?i=${i}`, { method: 'POST', body: `{"i":${i}}`, headers: { 'content-type': 'application/json' } });
      t.equal(r.headers.get('x-node'), 'n2', `create ${i} answered by the leader`);
      t.same(seenBy(`POST /jobs?i=${i} {"i":${i}}`), ['n2'], `create ${i} reached the leader only, body and query intact`);
    }
    t.ok(hits('421 POST /jobs?i=0') + hits('421 POST /jobs?i=1') + hits('421 POST /jobs?i=2') >= 1, 'followers were asked first (round robin)');
    leader.stale = true;
    for (let i = 0; i < 3; i++) {
      const patch = await fetch(`${nginx.url}/jobs/p${i}`, { method: 'PATCH', body: '{"a":1}', headers: { 'x-leader-redirect': 'allowed' } });
      t.equal(patch.status, 200, 'a write sent on is not sent on again, even with a redirect header of the client\'s own');
      t.same(seenBy(`PATCH /jobs/p${i} {"a":1}`), ['n2'], `patch ${i} reached the named node`);
    }
    leader.stale = false;
    for (let i = 0; i < 3; i++) {
      t.equal((await fetch(`${nginx.url}/jobs/d${i}`, { method: 'DELETE' })).status, 204);
      t.equal(hits(`DELETE /jobs/d${i}`), 1, `delete ${i} reached one node`);
      t.same(seenBy(`DELETE /jobs/d${i}`), ['n2'], `delete ${i} reached the leader`);
    }
  });

  await t.test('a DELETE whose node dies before answering is not sent to another node: the client gets 502', async (t) => {
    const r = await fetch(`${nginx.url}/jobs/die-1`, { method: 'DELETE' });
    t.equal(r.status, 502, 'unknown outcome, said as such');
    t.equal(hits('DELETE /jobs/die-1'), 1, 'sent once');
  });

  await t.test('a GET whose node dies is still tried on the next node', async (t) => {
    const r = await fetch(`${nginx.url}/jobs/die-2`);
    t.equal(r.status, 502, 'every node it reached dropped it');
    t.ok(hits('GET /jobs/die-2') >= 2, `tried on more than one node (${hits('GET /jobs/die-2')})`);
  });
});

t.test('a leader that is gone gets nothing: its backups, which forward, get the write once', async (t) => {
  // A fresh nginx, with nothing ever listening on the third node's port (a node that died before nginx had any
  // connection to it): connecting is refused, so nothing was sent and the write may go to a backup.
  const live = await Promise.all(['n1', 'n2'].map(standIn));
  const deadPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sdb-nginx-'));
  const nginx = await Nginx.start([...live.map((n) => (n.server.address() as AddressInfo).port), deadPort], dir);
  t.teardown(async () => {
    await nginx.stop();
    for (const n of live) n.server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const hits = (line: string): number => live.reduce((sum, n) => sum + n.seen.filter((s) => s === line).length, 0);
  leader.id = 'n3';
  for (let i = 0; i < 4; i++) {
    const r = await fetch(`${nginx.url}/jobs?dead=${i}`, { method: 'POST', body: `{"d":${i}}` });
    t.equal(r.status, 200, `create ${i} answered`);
    t.equal(hits(`POST /jobs?dead=${i} {"d":${i}}`), 1, `create ${i} reached a live node, once`);
  }
  leader.id = 'n9';
  const r = await fetch(`${nginx.url}/jobs?unknown=1`, { method: 'POST', body: '{}' });
  t.equal(r.status, 200, 'a leader nginx has no upstream for: the write goes to the pool');
  t.equal(hits('POST /jobs?unknown=1 {}'), 1, 'once, without the redirect header: that node forwards it');
});


t.test('nginx waits for an answer as long as a node may take, and not much longer', async (t) => {
  // Each location's proxy_read_timeout, by the location it sits in.
  const conf = readFileSync(join(import.meta.dirname, '..', '..', 'cluster', 'nginx.conf'), 'utf8').replace(/#.*$/gm, '');
  const timeouts = conf.split(/\blocation\s+/).slice(1).map((block) => ({
    location: block.slice(0, block.indexOf('{')).trim(),
    seconds: Number(/proxy_read_timeout\s+(\d+)s;/.exec(block)?.[1] ?? NaN),
  }));
  t.equal(timeouts.length, 5, 'every location that proxies sets its own');
  // The longest a running node with the default config takes to answer a write: RaftService's #route waits up to
  // four election timeouts for a leader, then its forward waits up to forwardTimeoutMs for the leader's answer.
  const config = loadConfig([], {});
  const longestAnswerMs = 4 * config.electionTimeoutMs + forwardTimeoutMs;
  for (const { location, seconds } of timeouts) {
    if (location === '= /cluster/check-state') {
      t.ok(seconds * 1000 > stateDigestWaitMs + longestAnswerMs, `${location}: ${seconds} s outlasts the digest wait`);
      continue;
    }
    // Longer than any answer a running node gives (so nginx never cuts one), short enough that a paused node
    // holds a client for seconds rather than a minute.
    t.ok(seconds * 1000 >= longestAnswerMs + 5000, `${location}: ${seconds} s outlasts a node's own ${longestAnswerMs} ms`);
    t.ok(seconds <= 30, `${location}: ${seconds} s is not a minute`);
  }
});
