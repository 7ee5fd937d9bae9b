// Fire lateness while the leader also serves creates: 1,000 fires/s for 10 s, with POST /jobs from N connections
// to the leader at the same time (a busy API beside the scheduler). The webhook receiver runs in a process of its
// own, so the load generator here does not delay it. A 2 s warm-up of fires at 500/s comes first.
//
//   npx tsx bench/fire-under-load.ts [--main path/to/main.js] [--connections 16]
//
// Prints one JSON line: creates/s during the fires, and fire lateness p50/p99/max (arrival minus scheduled time).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BenchCluster, useMain } from './lib/cluster.js';
import { closedLoop, createInBatches, futureJob } from './lib/load.js';
import { log, sleep, summarize } from './lib/stats.js';

const { values } = parseArgs({ options: { main: { type: 'string' }, connections: { type: 'string', default: '16' } } });
if (values.main !== undefined) useMain(values.main);
const connections = Number(values.connections);

// The receiver: answers 200 and reports each arrival (fire id, Date.now()) on stdout when told to stop.
const receiverSource = `
const http = require('node:http'); const seen = [];
const server = http.createServer((req, res) => { seen.push([req.headers['x-fire-id'], Date.now()]); req.resume(); res.end('ok'); });
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.on('message', () => process.stdout.write(JSON.stringify(seen) + '\\n', () => process.exit(0)));`;
const receiver = spawn(process.execPath, ['-e', receiverSource], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
let out = '';
receiver.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
while (!out.includes('\n')) await sleep(20);
const hook = `http://127.0.0.1:${Number(out.split('\n')[0])}/hook`;

const cluster = await BenchCluster.start({});
let creates = null;
try {
  const leader = await cluster.waitForLeader();
  const tag = Date.now().toString(36);
  for (const [phase, rate, seconds] of [['warm', 500, 2], ['busy', 1000, 10]] as const) {
    const firstAtMs = Date.now() + 3000;
    await createInBatches(leader.url, rate * seconds, (i) => ({
      id: `f-${tag}-${phase}-${i}`, type: 'unico', timestamp: new Date(firstAtMs + Math.floor((i * 1000) / rate)).toISOString(), webhook_url: hook,
    }));
    await sleep(firstAtMs - Date.now());
    if (phase === 'busy') {
      creates = await closedLoop({
        url: leader.url, connections, durationMs: seconds * 1000,
        request: (i) => ({ method: 'POST', path: '/jobs', body: JSON.stringify(futureJob(`c-${tag}-${i}`)) }),
      });
      log(`creates during the fires: ${creates.per_s}/s, p99 ${creates.p99_ms} ms`);
    }
    await sleep(seconds * 1000 + 3000);
  }
} finally {
  await cluster.stop();
}
const before = out.length;
receiver.send('report');
while (!out.slice(before).includes('\n')) await sleep(20);
const arrivals = JSON.parse(out.slice(before).trim()) as [string, number][];
const lateness = arrivals.filter(([id]) => id.includes('-busy-')).map(([id, atMs]) => atMs - Number(id.split('@')[1]));
const s = summarize(lateness);
console.log(JSON.stringify({
  bench: 'fire-under-load', connections, creates_per_s: creates?.per_s ?? null, creates_p99_ms: creates?.p99_ms ?? null,
  fires: 10_000, received: lateness.length, lateness_p50_ms: s.p50, lateness_p99_ms: s.p99, lateness_max_ms: s.max,
}));
