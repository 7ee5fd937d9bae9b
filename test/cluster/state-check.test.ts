// Cross-member state checks on a real three-node cluster: equal states agree, on demand and on the leader's timer,
// and a member whose store was changed behind its back (a valid, well-sealed record) is named as the odd one.
import t from 'tap';
import { newJob, normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { encodeJob } from '../../src/store/job-codec.js';
import { jobKey } from '../../src/store/keys.js';
import { withRawDb } from '../store/stored-jobs.js';
import type { NodeHandle } from './process-cluster.js';
import { get, ProcessCluster, request, waitFor } from './process-cluster.js';

interface CheckBody {
  index: number;
  status: string;
  odd: string[];
  members: { id: string; state: string; digest?: string; records?: number; error?: string }[];
}

const body = (id: string) => ({ id, type: 'unico', timestamp: '2031-01-01T00:00:00Z', webhook_url: 'http://127.0.0.1:9/h', payload: { id } });

t.test('members agree on their state, and a member whose store was changed behind its back is named', async (t) => {
  const cluster = await ProcessCluster.start({ size: 3, env: { STATE_CHECK_INTERVAL: '1s', SNAPSHOT_COUNT: '10000' } });
  t.teardown(() => cluster.stop());
  const leader = await cluster.waitForLeader();
  const [follower, other] = cluster.nodes.filter((n) => n.id !== leader.id) as [NodeHandle, NodeHandle];
  for (let i = 0; i < 10; i++) t.equal((await request(leader, 'POST', '/jobs', body(`j${i}`))).status, 201);
  t.equal((await request(leader, 'POST', '/jobs/j3/pause')).status, 200);
  t.equal((await request(leader, 'DELETE', '/jobs/j4')).status, 204);

  // The leader checks on its own every STATE_CHECK_INTERVAL.
  await waitFor(async () => ((await get(leader, '/debug/cluster')).body as { state_check: unknown }).state_check !== null,
    15_000, 'a state check of the leader\'s own');
  t.match((await get(leader, '/debug/cluster')).body, { state_check: { status: 'consistent', odd: [] } });

  // On demand, through a follower (the check entry goes to the leader like any write).
  const asked = await request(follower, 'POST', '/cluster/check-state');
  t.equal(asked.status, 200);
  const check = asked.body as CheckBody;
  t.equal(check.status, 'consistent', JSON.stringify(check));
  t.strictSame(check.members.map((m) => m.id).sort(), ['n1', 'n2', 'n3']);
  t.ok(check.members.every((m) => m.state === 'ok' && m.digest === check.members[0]?.digest), 'one digest on every member');
  t.ok((check.members[0]?.records ?? 0) > 9 * 2, 'the digest covers every job and its index key at least');
  t.match((await get(follower, '/debug/cluster')).body, { state_check: { index: check.index, status: 'consistent' } });

  // One member's job j7 now sends to another address: a well-formed record under a valid seal, which no read refuses.
  await cluster.kill(follower, 'SIGTERM');
  await withRawDb(follower.dataDir, async (db) => {
    const changed = { ...body('j7'), webhook_url: 'http://127.0.0.2:9/h' };
    const nowMs = Date.now();
    const job = newJob(normalizeCreate(changed, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), requestHashOf(changed), nowMs, 'default');
    await db.put(jobKey('default', 'j7'), encodeJob(job));
  });
  cluster.spawn(follower);
  await waitFor(async () => (await get(follower, '/ready')).status === 200, 20_000, `${follower.id} to be ready again`);
  const diverged = (await request(other, 'POST', '/cluster/check-state')).body as CheckBody;
  t.equal(diverged.status, 'diverged', JSON.stringify(diverged));
  t.strictSame(diverged.odd, [follower.id], 'the member that differs from the majority is named');
  const digests = new Map(diverged.members.map((m) => [m.id, m.digest]));
  t.equal(digests.get(leader.id), digests.get(other.id));
  t.not(digests.get(follower.id), digests.get(leader.id));
  // Logs reach this process through a pipe, a little after the answer.
  const logged = (node: NodeHandle, pattern: RegExp): Promise<boolean> =>
    waitFor(async () => pattern.test(cluster.logs(node)), 5000, `${node.id} to log ${String(pattern)}`).then(() => true, () => false);
  t.ok(await logged(other, /"level":50.*members hold different states at the same index/), 'and logged as an error');
  t.ok(await logged(follower, /"msg":"state digested"/), 'each member logs the digests it computes');

  // A member that is down cannot answer: the others still agree, but the check is not complete.
  await cluster.kill(follower);
  const partial = (await request(other, 'POST', '/cluster/check-state')).body as CheckBody;
  t.equal(partial.status, 'incomplete', JSON.stringify(partial));
  t.strictSame(partial.odd, []);
  t.match(partial.members.find((m) => m.id === follower.id), { state: 'unreachable', error: /./ });
});
