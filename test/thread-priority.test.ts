// Threads started after the node's own run at nice 10: a worker thread, LevelDB's compaction thread in this process,
// and LevelDB's compaction thread in a real node process.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ClassicLevel } from 'classic-level';
import t from 'tap';
import { LateThreadPriority, threadIds } from '../src/thread-priority.js';
import { ProcessCluster, request, waitFor } from './cluster/process-cluster.js';

/** A thread's nice value, from /proc (field 19 of stat; the name in parentheses may hold spaces). */
function niceOf(pid: number | 'self', threadId: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${threadId}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

function watch(nice = 10): { threads: LateThreadPriority; lowered: number[]; errors: unknown[] } {
  const lowered: number[] = [];
  const errors: unknown[] = [];
  const threads = LateThreadPriority.start({ nice, onLowered: (id) => lowered.push(id), onError: (err) => errors.push(err) });
  if (threads === null) throw new Error('/proc/self/task cannot be read');
  return { threads, lowered, errors };
}

t.test('a thread started later is lowered once; the threads present at the start keep their priority', async (t) => {
  const before = threadIds() ?? new Set<number>();
  const { threads, lowered, errors } = watch();
  t.strictSame(threads.lowerNew(), [], 'nothing new yet');
  const worker = new Worker('setInterval(() => {}, 1000);', { eval: true });
  t.teardown(() => worker.terminate());
  await new Promise((resolve) => worker.once('online', resolve));
  const found = threads.lowerNew();
  t.ok(found.length >= 1, 'the worker\'s thread (and perhaps its helpers) are found');
  t.strictSame(lowered, found);
  for (const id of found) {
    t.notOk(before.has(id));
    t.equal(niceOf('self', id), 10, `thread ${id} runs at nice 10`);
  }
  for (const id of before) t.equal(niceOf('self', id), 0, `thread ${id}, present before, keeps nice 0`);
  t.strictSame(threads.lowerNew(), [], 'each thread is lowered once');
  t.strictSame(errors, []);
});

t.test('LevelDB\'s compaction thread, which starts at the first flush, is lowered', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-threads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = new ClassicLevel<string, string>(join(dir, 'db'));
  await db.open();
  const { threads } = watch();
  t.strictSame(threads.lowerNew(), [], 'opening a new database starts no thread');
  await db.batch(Array.from({ length: 64 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: 'x'.repeat(100_000) })));
  // Forces the flush (and so the background thread) now rather than at 4 MB.
  await db.compactRange('k', 'l');
  const found = threads.lowerNew();
  t.equal(found.length, 1, 'one new thread: LevelDB\'s');
  for (const id of found) t.equal(niceOf('self', id), 10);
  await db.close();
});

t.test('a nice value the system refuses is reported once, and nothing more is tried', async (t) => {
  const { threads, errors } = watch(25);
  const worker = new Worker('setInterval(() => {}, 1000);', { eval: true });
  t.teardown(() => worker.terminate());
  await new Promise((resolve) => worker.once('online', resolve));
  t.strictSame(threads.lowerNew(), []);
  t.equal(errors.length, 1);
  t.match(String(errors[0]), /priority/);
  t.strictSame(threads.lowerNew(), []);
  t.equal(errors.length, 1, 'reported once');
});

t.test('a real node lowers LevelDB\'s compaction thread and keeps its event loop at nice 0', async (t) => {
  const cluster = await ProcessCluster.start({ size: 1, env: { MAX_PAYLOAD_BYTES: '1MiB' } });
  t.teardown(() => cluster.stop());
  const node = cluster.nodes[0];
  const pid = node?.process?.pid;
  if (node === undefined || pid === undefined) throw new Error('no node');
  t.equal(niceOf(pid, pid), 0, 'the main thread');
  // 8 MB of payloads pass through the Raft log and the state: both flush, and LevelDB's thread starts.
  for (let i = 0; i < 16; i++) {
    const r = await request(node, 'POST', '/jobs', {
      id: `big-${i}`, type: 'unico', timestamp: new Date(Date.now() + 3_600_000).toISOString(), payload: 'p'.repeat(500_000),
    });
    t.equal(r.status, 201);
  }
  let lowered: number[] = [];
  await waitFor(async () => {
    lowered = readdirSync(`/proc/${pid}/task`).map(Number).filter((id) => niceOf(pid, id) === 10);
    return lowered.length > 0;
  }, 10_000, 'a thread at nice 10');
  t.equal(lowered.length, 1, 'one thread lowered');
  t.notOk(lowered.includes(pid));
  t.equal(niceOf(pid, pid), 0, 'the event loop keeps its priority');
  t.match(cluster.logs(node), /runs at a lower CPU priority/);
});
