// cluster/nginx.conf in real nginx, in front of three stand-in nodes that count what reaches them: a DELETE is
// sent to one node at most once, however that node fails, while other requests still move on to the next node.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Nginx } from '../faults/nginx.js';

/** A stand-in node: `die` in the path drops the connection without an answer (a node killed mid-request). */
interface StandIn {
  readonly server: Server;
  readonly seen: string[];
}

async function standIn(name: string): Promise<StandIn> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url?.includes('die') === true) {
      req.socket.destroy();
      return;
    }
    res.writeHead(req.method === 'DELETE' ? 204 : 200, { 'x-node': name }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, seen };
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

  await t.test('a DELETE reaches a node with its path and query unchanged', async (t) => {
    const r = await fetch(`${nginx.url}/jobs/ok-1?tenant=a`, { method: 'DELETE' });
    t.equal(r.status, 204);
    t.equal(hits('DELETE /jobs/ok-1?tenant=a'), 1);
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
