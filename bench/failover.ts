// bench failover: kill -9 of the leader of a local 3-node cluster, time to a new leader and to its first acknowledged write; median of N.
import { parseArgs } from 'node:util';
import { get, ProcessCluster, request } from '../test/cluster/process-cluster.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const rounds = Number(values.rounds);
const cluster = await ProcessCluster.start({ size: 3 });
const writeMs: number[] = [];
let n = 0;
try {
  for (let round = 0; round < rounds; round++) {
    const leader = await cluster.waitForLeader();
    const survivor = cluster.nodes.find((x) => x.id !== leader.id && x.process !== null);
    if (survivor === undefined) throw new Error('no survivor');
    const killedAt = performance.now();
    await cluster.kill(leader);
    let acked = false;
    while (!acked) {
      const r = await request(survivor, 'POST', '/jobs', { id: `fo-${round}-${n++}`, type: 'unico', timestamp: '2035-01-01T00:00:00Z' });
      acked = r.status === 201;
    }
    writeMs.push(performance.now() - killedAt);
    const health = (await get(survivor, '/health')).body as { leader: string };
    process.stderr.write(`round ${round + 1}: ${leader.id} killed, ${health.leader} took a write after ${Math.round(writeMs[writeMs.length - 1] ?? 0)} ms\n`);
    cluster.spawn(leader);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
} finally {
  await cluster.stop();
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] ?? 0);
};
const result = { bench: 'failover', rounds, first_write_ms_median: median(writeMs), first_write_ms_max: Math.round(Math.max(...writeMs)) };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stdout.write(`kill -9 of the leader -> first acknowledged write: median ${result.first_write_ms_median} ms, max ${result.first_write_ms_max} ms over ${rounds} rounds\n`);
