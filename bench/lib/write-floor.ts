// What one replica's disk path costs per batch-created job, with nothing else on the machine running for it: no HTTP,
// no Raft messages, no leader work. Each replica of a 3-node cluster pays at least this for every job, so on this
// machine's cores it bounds what any 3-replica cluster of this design can reach through POST /jobs/batch.
//
// Two figures, each the CPU of every thread of this process (LevelDB's compaction thread included) per job:
// - `replica`: a follower's path. Per 1,000 jobs, the create entry made durable in a LevelStorage (fsynced, as
//   for an AppendEntries), then applied by a StateMachine (decode, checks, one LevelDB batch).
// - `leveldb`: the same bytes written by classic-level alone: the log entry (fsynced), then each job's sealed
//   record and its next-fire index key. The floor under the floor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { encodeCommand } from '../../src/jobs/codec.js';
import type { CreateJobsCommand } from '../../src/jobs/commands.js';
import { newJob, normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { encodeEntry, keys as logKeys } from '../../src/raft/level-storage-codec.js';
import { LevelStorage } from '../../src/raft/level-storage.js';
import { encodeJob } from '../../src/store/job-codec.js';
import { jobKey, nextFireKey } from '../../src/store/keys.js';
import { StateMachine } from '../../src/store/state-machine.js';
import { r1, sleep } from './stats.js';

export interface WriteFloor {
  readonly jobs: number;
  /** CPU µs per job, all threads. */
  readonly replica_cpu_us: number | null;
  readonly leveldb_cpu_us: number | null;
  /** Wall µs per job of the replica path, one batch after another. */
  readonly replica_wall_us: number | null;
}

const batchJobs = 1000;
const term = 1;

/** The create commands of `jobs` jobs in entries of 1,000, encoded as the leader would put them in its log. */
function creates(jobs: number, tag: string): CreateJobsCommand[] {
  const nowMs = Date.UTC(2030, 0, 1);
  const commands: CreateJobsCommand[] = [];
  for (let done = 0; done < jobs; done += batchJobs) {
    const entries = Array.from({ length: Math.min(batchJobs, jobs - done) }, (_, i) => {
      const body = {
        id: `${tag}-${done + i}`, type: 'unico', timestamp: new Date(nowMs + 60_000 + done + i).toISOString(),
        webhook_url: 'http://127.0.0.1:9/h', payload: { x: 'y'.repeat(200) },
      };
      return { spec: normalizeCreate(body, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), requestHash: requestHashOf(body) };
    });
    commands.push({ type: 'create_jobs', tenant: 'default', proposedAtMs: nowMs, maxJobs: 10_000_000, jobs: entries });
  }
  return commands;
}

/** CPU µs of this process (all threads) that `work` takes, counting the compaction it leaves behind. */
async function cpuOf(work: () => Promise<void>): Promise<{ cpuUs: number; wallUs: number }> {
  const before = process.cpuUsage();
  const startedAt = performance.now();
  await work();
  const wallUs = (performance.now() - startedAt) * 1000;
  // LevelDB compacts behind the writes: wait until this process's CPU stops moving (at most 10 s).
  let last = process.cpuUsage(before);
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    const now = process.cpuUsage(before);
    const movedUs = now.user + now.system - last.user - last.system;
    last = now;
    if (movedUs < 4000) break;
  }
  return { cpuUs: last.user + last.system, wallUs };
}

export async function measureWriteFloor(jobs: number): Promise<WriteFloor> {
  const root = mkdtempSync(join(tmpdir(), 'sdb-bench-floor-'));
  try {
    const commands = creates(jobs, 'floor');
    const data = commands.map((c) => encodeCommand(c));
    const replica = await replicaPath(join(root, 'replica'), data);
    const leveldb = await leveldbAlone(join(root, 'leveldb'), commands, data);
    return {
      jobs, replica_cpu_us: r1(replica.cpuUs / jobs), leveldb_cpu_us: r1(leveldb.cpuUs / jobs), replica_wall_us: r1(replica.wallUs / jobs),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function replicaPath(dir: string, data: readonly Uint8Array[]): Promise<{ cpuUs: number; wallUs: number }> {
  const storage = await LevelStorage.open(dir);
  const sm = await StateMachine.open(dir);
  try {
    const first = storage.lastIndex() + 1;
    return await cpuOf(async () => {
      for (const [i, bytes] of data.entries()) {
        const entry = { type: 'normal' as const, index: first + i, term, data: bytes };
        await storage.write({
          hardState: { term, vote: 'n1', commit: entry.index }, entries: [entry], snapshotChunks: [], snapshot: null, compaction: null, sync: true,
        });
        await sm.apply([entry]);
        storage.releaseAppliedThrough(entry.index);
      }
    });
  } finally {
    await sm.close();
    await storage.close();
  }
}

async function leveldbAlone(dir: string, commands: readonly CreateJobsCommand[], data: readonly Uint8Array[]): Promise<{ cpuUs: number }> {
  const log = new ClassicLevel<Buffer, Buffer>(join(dir, 'raft'), { keyEncoding: 'buffer', valueEncoding: 'buffer', maxOpenFiles: 20 });
  const state = new ClassicLevel<string, Uint8Array>(join(dir, 'state'), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await log.open();
  await state.open();
  try {
    // The bytes are made before the clock starts: only the writes are measured.
    const batches = commands.map((command, i) => {
      const entry = { type: 'normal' as const, index: i + 1, term, data: data[i]! };
      const ops = command.jobs.flatMap(({ spec, requestHash }) => {
        const job = newJob(spec, requestHash, command.proposedAtMs, command.tenant);
        return [
          { type: 'put' as const, key: jobKey(job.tenant, job.id), value: encodeJob(job) },
          { type: 'put' as const, key: nextFireKey(job.nextRunAtMs ?? 0, job.tenant, job.id), value: new Uint8Array(0) },
        ];
      });
      return { key: logKeys.entry(entry.index), value: encodeEntry(entry), ops };
    });
    // Past abstract-level's checks of every operation, as the node writes (writeBatch in store and raft).
    const rawBatch = (db: unknown, ops: unknown[], sync: boolean): Promise<void> =>
      (db as { _batch(ops: unknown[], options: { sync: boolean }): Promise<void> })._batch(ops, { sync });
    return await cpuOf(async () => {
      for (const b of batches) {
        await rawBatch(log, [{ type: 'put', key: b.key, value: b.value }], true);
        await rawBatch(state, b.ops, false);
      }
    });
  } finally {
    await log.close();
    await state.close();
  }
}
