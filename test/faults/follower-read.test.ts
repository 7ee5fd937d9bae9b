// A strong read on a follower whose requests to the leader are lost: it must answer (a 503 the client can retry
// elsewhere) rather than wait forever for a read point no leader will send. Real processes, real proxies.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { nowMs } from './clock.js';
import { FaultCluster } from './fault-cluster.js';
import { call } from './http.js';

t.test('a strong read on a follower cut off from the leader answers 503 no_leader in seconds', async (t) => {
  const runDir = join(tmpdir(), `sdb-follower-read-${process.pid}`);
  const cluster = await FaultCluster.start({
    size: 3, runDir, random: Math.random,
    env: { ELECTION_TIMEOUT: '1s', HEARTBEAT_INTERVAL: '100ms', LOG_LEVEL: 'info' },
  });
  t.teardown(async () => {
    await cluster.close();
    rmSync(runDir, { recursive: true, force: true });
  });
  const healths = await Promise.all(cluster.nodes.map(async (n) => ({ n, h: await call(n.url, 'GET', '/health', undefined, 2000) })));
  const leaderId = healths.map(({ h }) => ('body' in h ? (h.body as { leader?: string }).leader : undefined)).find((id) => id !== undefined);
  t.ok(leaderId !== undefined && leaderId !== null, `a leader (${String(leaderId)})`);
  const follower = cluster.nodes.find((n) => n.id !== leaderId);
  if (follower === undefined || typeof leaderId !== 'string') throw new Error('no follower');

  const before = await call(follower.url, 'GET', '/jobs/nothing?consistency=strong', undefined, 5000);
  t.match(before, { status: 404 }, 'a strong read on the follower is served while its link to the leader passes');

  // The follower still hears the leader (heartbeats come on the leader's own requests), so it keeps following it,
  // but what it sends the leader, its read requests among it, is thrown away.
  cluster.mesh.set(follower.id, leaderId, { kind: 'drop' });
  const startedAt = nowMs();
  const cut = await call(follower.url, 'GET', '/jobs/nothing?consistency=strong', undefined, 20_000);
  const tookMs = nowMs() - startedAt;
  t.match(cut, { status: 503, body: { code: 'no_leader' } }, 'then it answers 503 no_leader');
  t.ok(tookMs < 10_000, `within seconds (${tookMs} ms), not at the client's timeout`);

  cluster.mesh.heal();
  const after = await call(follower.url, 'GET', '/jobs/nothing?consistency=strong', undefined, 10_000);
  t.match(after, { status: 404 }, 'and is served again once the link heals');
});
