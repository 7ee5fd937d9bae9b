// bench store: the whole-store scans of one node's state store, in this process on a bare store of --jobs jobs (200-byte
// payloads): a state digest (what each member computes for POST /cluster/check-state) and the check after start
// (every job record decoded, the next-fire index reconciled), each flat out and at the node's pace (a 5 ms pause
// after each batch of records). No cluster and no anchor: the figures are one node's cost.
// First, the write floor (lib/write-floor.ts): one replica's disk path per batch-created job, and the most jobs/s
// that three replicas could reach on this machine's cores if they did nothing else.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeCheckPauseMs } from '../src/config/limits.js';
import { encodeCommand } from '../src/jobs/codec.js';
import { normalizeCreate, requestHashOf } from '../src/jobs/job.js';
import { StateMachine } from '../src/store/state-machine.js';
import type { BenchContext } from './lib/context.js';
import { ms, num } from './lib/report.js';
import type { BenchOutput, Row } from './lib/report.js';
import { log, r1 } from './lib/stats.js';
import { measureWriteFloor } from './lib/write-floor.js';

interface Scan {
  readonly wall_ms: number | null;
  readonly cpu_ms: number | null;
}

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const jobs = ctx.opts.jobs ?? (ctx.quick ? 20_000 : 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'sdb-bench-store-'));
  const figures: Record<string, unknown> = { jobs, pause_ms: storeCheckPauseMs };
  const floor = await measureWriteFloor(Math.min(jobs, ctx.quick ? 20_000 : 200_000));
  const cores = cpus().length;
  const ceiling = (us: number | null): number | null => (us === null || us <= 0 ? null : Math.round((cores * 1e6) / (3 * us)));
  figures['write_floor'] = { ...floor, cores, replica_ceiling_jobs_per_s: ceiling(floor.replica_cpu_us), leveldb_ceiling_jobs_per_s: ceiling(floor.leveldb_cpu_us) };
  log(`write floor over ${num(floor.jobs)} jobs: one replica's log fsync + apply ${floor.replica_cpu_us} µs CPU a job, LevelDB writes alone ${floor.leveldb_cpu_us} µs`);
  try {
    let index = await load(dir, jobs);
    log(`loaded ${num(jobs)} jobs into a bare store`);
    for (const paced of [false, true]) {
      const pause = paced ? (): Promise<void> => new Promise((resolve) => setTimeout(resolve, storeCheckPauseMs)) : async (): Promise<void> => {};
      const label = paced ? 'paced' : 'flat_out';
      const sm = await StateMachine.open(dir, null, pause);
      try {
        index++;
        const digest = await timed(async () => {
          await sm.apply([{ type: 'normal', index, term: 1, data: encodeCommand({ type: 'check_state', proposedAtMs: Date.now() }) }]);
          const d = await sm.stateDigest(index);
          figures['digest_records'] = d?.records ?? null;
          figures['digest_bytes'] = d?.bytes ?? null;
        });
        const check = await timed(async () => {
          figures['record_check'] = await sm.verifyJobRecords(pause);
        });
        figures[`digest_${label}`] = digest;
        figures[`record_check_${label}`] = check;
        log(`${label}: state digest ${ms(digest.wall_ms)} (CPU ${ms(digest.cpu_ms)}), check after start ${ms(check.wall_ms)} (CPU ${ms(check.cpu_ms)})`);
      } finally {
        await sm.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const scan = (key: string): Scan | undefined => figures[key] as Scan | undefined;
  const rows: Row[] = [
    { metric: `one replica's disk path per batch-created job (${num(floor.jobs)} jobs, all threads): log fsync + apply / LevelDB writes alone`,
      ours: `${floor.replica_cpu_us ?? 'n/a'} µs / ${floor.leveldb_cpu_us ?? 'n/a'} µs CPU` },
    { metric: `  most jobs/s 3 replicas could reach on ${cores} cores from that alone (batch target 100,000)`,
      ours: `${num(ceiling(floor.replica_cpu_us))} / ${num(ceiling(floor.leveldb_cpu_us))}` },
    { metric: `state digest of ${num(jobs)} jobs (${num(figures['digest_records'] as number)} records), flat out / paced`,
      ours: `${ms(scan('digest_flat_out')?.wall_ms)} / ${ms(scan('digest_paced')?.wall_ms)}` },
    { metric: '  CPU, flat out / paced', ours: `${ms(scan('digest_flat_out')?.cpu_ms)} / ${ms(scan('digest_paced')?.cpu_ms)}` },
    { metric: 'check after start (records decoded, index reconciled), flat out / paced',
      ours: `${ms(scan('record_check_flat_out')?.wall_ms)} / ${ms(scan('record_check_paced')?.wall_ms)}` },
    { metric: '  CPU, flat out / paced', ours: `${ms(scan('record_check_flat_out')?.cpu_ms)} / ${ms(scan('record_check_paced')?.cpu_ms)}` },
  ];
  return { bench: 'store', figures, anchors: {}, ratios: {}, targets: [], rows, problems: [] };
}

/** A store of `jobs` jobs applied in entries of 1,000, as the batch API would; returns the last index. */
async function load(dir: string, jobs: number): Promise<number> {
  const sm = await StateMachine.open(dir);
  const nowMs = Date.UTC(2030, 0, 1);
  let index = 0;
  try {
    for (let done = 0; done < jobs; done += 1000) {
      const entries = Array.from({ length: Math.min(1000, jobs - done) }, (_, i) => {
        const body = {
          id: `job-${done + i}`, type: 'unico', timestamp: new Date(nowMs + 60_000 + done + i).toISOString(),
          webhook_url: 'http://127.0.0.1:9/h', payload: { x: 'y'.repeat(200) },
        };
        return { spec: normalizeCreate(body, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), requestHash: requestHashOf(body) };
      });
      index++;
      const data = encodeCommand({ type: 'create_jobs', tenant: 'default', proposedAtMs: nowMs, maxJobs: 10_000_000, jobs: entries });
      await sm.apply([{ type: 'normal', index, term: 1, data }]);
    }
  } finally {
    await sm.close();
  }
  return index;
}

async function timed(work: () => Promise<void>): Promise<Scan> {
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { wall_ms: r1(performance.now() - startedAt), cpu_ms: r1((used.user + used.system) / 1000) };
}
