// A real three-node cluster on loopback: replication, strong reads, kill -9 of the leader, restarts, join and leave, transfer.
import t from 'tap';
import type { NodeHandle } from './process-cluster.js';
import { get, ProcessCluster, request, waitFor } from './process-cluster.js';

const job = (id: string) => ({ id, type: 'unico', timestamp: '2031-01-01T00:00:00Z', payload: { id } });

async function everyNodeHas(cluster: ProcessCluster, ids: readonly string[], timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => {
    for (const node of cluster.running()) {
      for (const id of ids) if ((await get(node, `/jobs/${id}`)).status !== 200) return false;
    }
    return true;
  }, timeoutMs, `every node to hold ${ids.length} jobs`);
}

async function jobCount(node: NodeHandle): Promise<number> {
  return ((await get(node, '/debug/cluster')).body as { job_count: number }).job_count;
}

t.test('a three-node cluster replicates, survives kill -9 of its leader, restarts, and grows and shrinks', async (t) => {
  const cluster = await ProcessCluster.start({ size: 3 });
  t.teardown(() => cluster.stop());
  try {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n.id !== leader.id) as NodeHandle;

    // A create through a follower is forwarded to the leader, then readable on every node.
    t.equal((await request(follower, 'POST', '/jobs', job('j1'))).status, 201, 'create through a follower');
    await everyNodeHas(cluster, ['j1']);
    // A load balancer that allows it (cluster/nginx.conf) is told where the leader is instead, and nothing changes.
    const redirect = { 'x-leader-redirect': 'allowed' };
    for (const [method, path, body] of [['POST', '/jobs', job('r1')], ['PATCH', '/jobs/j1', { payload: { n: 2 } }], ['DELETE', '/jobs/j1', undefined]] as const) {
      const sent = await request(follower, method, path, body, redirect);
      t.same([sent.status, sent.headers.get('x-leader-id'), sent.body], [421, leader.id, null], `${method} ${path} on a follower, redirect allowed: 421 naming the leader`);
    }
    t.equal((await get(leader, '/jobs/r1?consistency=strong')).status, 404, 'the redirected create was not applied');
    t.match((await get(leader, '/jobs/j1?consistency=strong')).body, { payload: { id: 'j1' } }, 'nor the patch, nor the delete');
    t.equal((await request(leader, 'POST', '/jobs', job('r1'), redirect)).status, 201, 'the leader takes the write itself');
    t.equal((await request(follower, 'GET', '/jobs/j1', undefined, redirect)).status, 200, 'a follower serves reads as ever');
    const other = cluster.nodes.find((n) => n.id !== leader.id && n.id !== follower.id) as NodeHandle;
    t.equal((await request(leader, 'POST', '/jobs', job('j2'))).status, 201);
    t.equal((await get(other, '/jobs/j2?consistency=strong')).status, 200, 'a strong read right after the write on another node sees it');

    // Kill -9 the leader: a new one is elected and every acknowledged job is still there.
    const acked: string[] = ['j1', 'j2', 'r1'];
    for (let i = 3; i <= 20; i++) {
      const via = cluster.nodes[i % 3] as NodeHandle;
      if ((await request(via, 'POST', '/jobs', job(`j${i}`))).status === 201) acked.push(`j${i}`);
    }
    const started = Date.now();
    await cluster.kill(leader);
    const next = await cluster.waitForLeader();
    t.not(next.id, leader.id, `new leader ${next.id} after ${Date.now() - started} ms`);
    t.equal((await request(next, 'POST', '/jobs', job('after-kill'))).status, 201, 'the new leader takes writes');
    acked.push('after-kill');
    await everyNodeHas(cluster, acked);

    // The old leader restarts on its data dir and catches up.
    cluster.spawn(leader);
    await waitFor(async () => (await get(leader, '/jobs/after-kill')).status === 200, 30_000, 'the old leader to catch up');

    // Stop all three and start them again: every job is there.
    for (const n of cluster.nodes) await cluster.kill(n);
    for (const n of cluster.nodes) cluster.spawn(n);
    await cluster.waitForLeader(30_000);
    await everyNodeHas(cluster, acked, 30_000);
    for (const n of cluster.nodes) t.equal(await jobCount(n), acked.length, `${n.id} holds exactly the acknowledged jobs`);

    // Leadership moves on request.
    const before = await cluster.waitForLeader();
    const target = cluster.nodes.find((n) => n.id !== before.id) as NodeHandle;
    const moved = await request(before, 'POST', '/cluster/transfer-leadership', { to: target.id });
    t.match(moved, { status: 200, body: { transferred: true, from: before.id, to: target.id } });
    await waitFor(async () => (await cluster.waitForLeader()).id === target.id, 10_000, `${target.id} to lead`);
    t.pass(`leadership moved from ${before.id} to ${target.id}`);
  } catch (err) {
    for (const n of cluster.nodes) t.comment(`--- ${n.id}\n${cluster.logs(n).slice(-3000)}`);
    throw err;
  }
});

t.test('a fourth node with an empty data dir joins as a learner, catches up by snapshot, and can be removed', async (t) => {
  const cluster = await ProcessCluster.start({ size: 3 });
  t.teardown(() => cluster.stop());
  try {
    const leader = await cluster.waitForLeader();
    // Enough entries that the log is compacted behind a snapshot (snapshotEntriesThreshold).
    const ids: string[] = [];
    for (let b = 0; b < 11; b++) {
      const jobs = Array.from({ length: 10 }, (_, i) => job(`s${b}-${i}`));
      ids.push(...jobs.map((j) => j.id));
      for (const j of jobs) await request(leader, 'POST', '/jobs', j);
    }
    // The leader's log no longer starts at 1, so a new node can only catch up through a snapshot.
    await waitFor(async () => ((await get(leader, '/debug/cluster')).body as { snapshot_index: number }).snapshot_index > 0,
      20_000, 'the leader to compact its log');
    const d = await cluster.addJoiner('n4', leader);
    await waitFor(async () => (await get(d, `/jobs/${ids[ids.length - 1] ?? ''}`)).status === 200, 60_000, 'n4 to catch up');
    t.equal(await jobCount(d), ids.length, 'n4 holds every job');
    t.ok(((await get(d, '/debug/cluster')).body as { snapshot_index: number }).snapshot_index > 0, 'n4 installed a snapshot');
    type Debug = { peers: { id: string; voter: boolean }[] };
    await waitFor(async () => ((await get(leader, '/debug/cluster')).body as Debug).peers.some((p) => p.id === 'n4' && p.voter),
      20_000, 'n4 to be promoted to voter');
    t.equal((await request(leader, 'DELETE', '/cluster/nodes/n4')).status, 200);
    await waitFor(async () => !((await get(leader, '/debug/cluster')).body as Debug).peers.some((p) => p.id === 'n4'),
      10_000, 'n4 to leave the membership');
    t.pass('n4 removed');
  } catch (err) {
    for (const n of cluster.nodes) t.comment(`--- ${n.id}\n${cluster.logs(n).slice(-3000)}`);
    throw err;
  }
});

t.test('BOOTSTRAP_EXPECT=3: two of three new nodes wait for the third before the first election', async (t) => {
  const cluster = await ProcessCluster.start({ size: 3, started: 2 });
  t.teardown(() => cluster.stop());
  const [a, b, c] = cluster.nodes as [NodeHandle, NodeHandle, NodeHandle];
  try {
    await waitFor(async () => (await get(a, '/health')).status === 200 && (await get(b, '/health')).status === 200, 20_000, 'two nodes up');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (const n of [a, b]) {
      t.match((await get(n, '/health')).body, { leader: null, term: 1 }, `${n.id} has not campaigned: a majority alone may not start a new cluster`);
      t.equal((await get(n, '/ready')).status, 503);
    }
    cluster.spawn(c);
    const leader = await cluster.waitForLeader();
    t.ok(['n1', 'n2', 'n3'].includes(leader.id), `${leader.id} elected once the third answered`);
  } catch (err) {
    for (const n of cluster.nodes) t.comment(`--- ${n.id}\n${cluster.logs(n).slice(-3000)}`);
    throw err;
  }
});
