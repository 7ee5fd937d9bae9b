// bench fire: fire lateness (receive time minus scheduled time) at R fires/s against a running cluster, and fires lost or doubled.
//
// Creates R × seconds unico jobs through POST /jobs/batch, due evenly from `lead` seconds from now, each firing to a
// receiver on loopback in this process; then waits for them and prints the lateness of each fire's first delivery.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    lead: { type: 'string', default: '8' },
    delivery: { type: 'string', default: 'at_least_once' },
    token: { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const total = rate * seconds;
const received = new Map<string, number[]>();
const server = createServer((req, res) => {
  const atMs = Date.now();
  const fireId = String(req.headers['x-fire-id']);
  received.set(fireId, [...(received.get(fireId) ?? []), atMs]);
  req.resume();
  req.on('end', () => res.writeHead(200).end());
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
const headers: Record<string, string> = { 'content-type': 'application/json' };
if (values.token !== undefined) headers['authorization'] = `Bearer ${values.token}`;

const run = Date.now().toString(36);
const firstAtMs = Date.now() + Number(values.lead) * 1000;
const expected = new Map<string, number>();
const jobs = Array.from({ length: total }, (_, i) => {
  const atMs = firstAtMs + Math.floor((i * 1000) / rate);
  const id = `fire-${run}-${i}`;
  expected.set(`${id}@${atMs}`, atMs);
  return { id, type: 'unico', timestamp: new Date(atMs).toISOString(), webhook_url: hook, delivery: values.delivery };
});
for (let i = 0; i < jobs.length; i += 10_000) {
  const response = await fetch(new URL('/jobs/batch', values.url), { method: 'POST', headers, body: JSON.stringify({ jobs: jobs.slice(i, i + 10_000) }) });
  if (!response.ok) throw new Error(`batch create answered ${response.status}: ${await response.text()}`);
}
if (Date.now() > firstAtMs) process.stderr.write('warning: the jobs were created after the first was due; raise --lead\n');
const lastAtMs = firstAtMs + seconds * 1000;
while (Date.now() < lastAtMs + 5000 && [...expected.keys()].some((k) => !received.has(k))) await new Promise((r) => setTimeout(r, 200));
server.close();

const lateness: number[] = [];
let lost = 0;
let doubled = 0;
for (const [fireId, atMs] of expected) {
  const got = received.get(fireId);
  if (got === undefined) {
    lost++;
    continue;
  }
  if (got.length > 1) doubled++;
  lateness.push((got[0] as number) - atMs);
}
lateness.sort((a, b) => a - b);
const pct = (p: number): number => lateness[Math.min(lateness.length - 1, Math.floor(lateness.length * p))] ?? NaN;
const result = {
  bench: 'fire', url: values.url, rate, seconds, delivery: values.delivery, fires: total, lost, doubled,
  early: lateness.filter((l) => l < 0).length, p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: lateness.at(-1) ?? NaN,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stdout.write(`${rate} fires/s for ${seconds} s: lateness p50 ${result.p50_ms} ms  p99 ${result.p99_ms} ms  max ${result.max_ms} ms  lost ${lost}  doubled ${doubled}\n`);
