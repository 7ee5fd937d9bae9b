// A strong read on a follower cut off from the leader, on three real nodes behind the proxy mesh; prints one JSON
// line with what each read answered. Run by follower-read.test.ts in a child process without V8 coverage (see
// faults.test.ts), or by hand: `flock /tmp/sdb-cluster.lock npx tsx test/faults/follower-read.ts`.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs } from './clock.js';
import { FaultCluster } from './fault-cluster.js';
import type { HttpAnswer } from './history.js';
import { call } from './http.js';

const runDir = join(tmpdir(), `sdb-follower-read-${process.pid}`);
const cluster = await FaultCluster.start({
  size: 3, runDir, random: Math.random,
  env: { ELECTION_TIMEOUT: '1s', HEARTBEAT_INTERVAL: '100ms', LOG_LEVEL: 'info' },
});
const summary = (a: HttpAnswer): unknown => ('error' in a ? { error: a.error } : { status: a.status, code: (a.body as { code?: unknown } | null)?.code });
try {
  const roles = await Promise.all(cluster.nodes.map(async (n) => {
    const h = await call(n.url, 'GET', '/health', undefined, 2000);
    return { n, role: 'body' in h ? (h.body as { role?: string }).role : undefined };
  }));
  const follower = roles.find((r) => r.role === 'follower')?.n;
  if (follower === undefined) throw new Error(`no follower: ${JSON.stringify(roles.map((r) => [r.n.id, r.role]))}`);
  const read = (timeoutMs: number): Promise<HttpAnswer> => call(follower.url, 'GET', '/jobs/nothing?consistency=strong', undefined, timeoutMs);

  const before = await read(5000);
  // Cut off both ways (a follower answers on the leader's own requests too, so cutting only what it sends does not
  // stop its read request): the request it sends the leader it still follows is lost, and nothing answers it.
  cluster.mesh.partition([[follower.id], cluster.nodes.filter((n) => n !== follower).map((n) => n.id)], { kind: 'drop' });
  const startedAt = nowMs();
  const cut = await read(20_000);
  const cutMs = nowMs() - startedAt;
  cluster.mesh.heal();
  const after = await read(10_000);
  process.stdout.write(`${JSON.stringify({ before: summary(before), cut: summary(cut), cutMs, after: summary(after) })}\n`);
} finally {
  await cluster.close();
  rmSync(runDir, { recursive: true, force: true });
}
// Nothing of the run may keep this process, and the test waiting on it, alive.
process.exit(0);
