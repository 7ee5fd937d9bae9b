// bench create: creates per second and latency at N connections against a running API (default: nginx on :8080).
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    connections: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '15' },
    token: { type: 'string' },
  },
});
const connections = Number(values.connections);
const durationMs = Number(values.seconds) * 1000;
const pool = new Pool(values.url, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
const headers: Record<string, string> = { 'content-type': 'application/json' };
if (values.token !== undefined) headers['authorization'] = `Bearer ${values.token}`;
const run = `${Date.now().toString(36)}`;
const latenciesMs: number[] = [];
const statuses = new Map<number, number>();
let next = 0;
const endAt = performance.now() + durationMs;

async function client(): Promise<void> {
  while (performance.now() < endAt) {
    const id = `bench-${run}-${next++}`;
    const started = performance.now();
    try {
      const response = await pool.request({
        method: 'POST', path: '/jobs', headers,
        body: JSON.stringify({ id, type: 'unico', timestamp: '2035-01-01T00:00:00Z', payload: { n: next } }),
      });
      await response.body.dump();
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      if (response.statusCode === 201) latenciesMs.push(performance.now() - started);
    } catch (_err) {
      statuses.set(0, (statuses.get(0) ?? 0) + 1);
    }
  }
}

const startedAt = performance.now();
await Promise.all(Array.from({ length: connections }, client));
const elapsedS = (performance.now() - startedAt) / 1000;
await pool.close();
latenciesMs.sort((a, b) => a - b);
const pct = (p: number): number => Math.round((latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(latenciesMs.length * p))] ?? 0) * 10) / 10;
const result = {
  bench: 'create', url: values.url, connections, seconds: Math.round(elapsedS * 10) / 10,
  created: latenciesMs.length, creates_per_s: Math.round(latenciesMs.length / elapsedS),
  p50_ms: pct(0.5), p99_ms: pct(0.99), statuses: Object.fromEntries(statuses),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stdout.write(`creates/s ${result.creates_per_s}  p50 ${result.p50_ms} ms  p99 ${result.p99_ms} ms  (${connections} connections, ${result.seconds} s)\n`);
