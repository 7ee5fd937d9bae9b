// The malloc a node runs with, as the launchers choose it: cluster/allocator.mjs (npm run cluster, the bench) and
// cluster/start-node.sh (npm start, run as npm runs it). What a node reports of it: test/api/allocator.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { allocatorChoice, allocatorEnv, hasJemalloc } from '../../cluster/allocator.mjs';
import { freePort } from './process-cluster.js';

const rootDir = join(import.meta.dirname, '..', '..');

t.test('ALLOCATOR: auto when unset or empty, one of three names, a clear refusal otherwise', async (t) => {
  t.equal(allocatorChoice({}), 'auto');
  t.equal(allocatorChoice({ ALLOCATOR: '' }), 'auto');
  for (const name of ['auto', 'jemalloc', 'glibc'] as const) t.equal(allocatorChoice({ ALLOCATOR: name }), name);
  t.throws(() => allocatorChoice({ ALLOCATOR: 'tcmalloc' }), /ALLOCATOR must be one of auto, jemalloc, glibc, got "tcmalloc"/);
});

t.test("a node's allocator environment", async (t) => {
  const yes = (): boolean => true;
  const no = (): boolean => false;
  const glibcDefaults = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };
  t.same(allocatorEnv({}, yes), { ...glibcDefaults, LD_PRELOAD: 'libjemalloc.so.2' }, 'auto, installed: jemalloc by its soname');
  t.same(allocatorEnv({}, no), glibcDefaults, 'auto, not installed: glibc with its two settings');
  t.same(allocatorEnv({ ALLOCATOR: 'glibc' }, yes), glibcDefaults, 'glibc: never preloaded');
  t.same(allocatorEnv({ ALLOCATOR: 'jemalloc' }, yes), { ...glibcDefaults, LD_PRELOAD: 'libjemalloc.so.2' });
  t.throws(() => allocatorEnv({ ALLOCATOR: 'jemalloc' }, no), /ALLOCATOR=jemalloc, but libjemalloc\.so\.2 is not installed \(apt-get install libjemalloc2\)/);
  t.same(allocatorEnv({ LD_PRELOAD: '/opt/lib/libmine.so' }, yes), { ...glibcDefaults, LD_PRELOAD: '/opt/lib/libmine.so' },
    "an LD_PRELOAD of the user's own is left as it is");
  t.throws(() => allocatorEnv({ LD_PRELOAD: '/opt/lib/libmine.so', ALLOCATOR: 'tcmalloc' }, yes), /ALLOCATOR must be one of/,
    'and ALLOCATOR is still checked');
  t.same(allocatorEnv({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536' }, no), { MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536' },
    "glibc's settings from the environment win");
});

t.test('hasJemalloc agrees with the dynamic linker', async (t) => {
  // What a process preloading jemalloc by its soname has mapped: the library when ldconfig knows it, nothing else
  // (the dynamic linker says it cannot preload it, and goes on). Another test file's launcher may install it
  // meanwhile: then only an answer that agrees with one side of the install can be asked for.
  const before = hasJemalloc();
  const child = spawnSync(process.execPath, ['-e', "process.stdout.write(String(require('fs').readFileSync('/proc/self/maps', 'utf8').includes('/libjemalloc.so')))"], {
    env: { PATH: process.env['PATH'] ?? '', LD_PRELOAD: 'libjemalloc.so.2' }, encoding: 'utf8',
  });
  const after = hasJemalloc();
  if (before === after) t.equal(child.stdout, String(before), `installed: ${before}`);
  else t.ok(['true', 'false'].includes(child.stdout), 'installed as this test ran: either answer');
});

interface Started {
  /** The node's own report in its start line, or undefined when it did not start. */
  readonly allocator: unknown;
  /** What the process that logged it has mapped: proves the script exec'd the node in the pid it was started as. */
  readonly mapped: 'jemalloc' | 'glibc' | null;
  readonly code: number | null;
  readonly stderr: string;
  /** Whether jemalloc was installed before the start and still after it (null: it was installed meanwhile). */
  readonly installed: boolean | null;
}

/** Runs package.json's start script as npm runs it (sh -c) with `env`, until its node logs that it started, then SIGTERM. */
async function npmStart(t: Test, env: Record<string, string>): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-start-node-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = (JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const before = hasJemalloc();
  const child = spawn('sh', ['-c', script], {
    // Its own process group: a node left behind by a script that did not exec it is stopped with the group.
    cwd: rootDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    env: {
      PATH: process.env['PATH'] ?? '', DATA_DIR: dir, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(await freePort()),
      RAFT_HOST: '127.0.0.1', RAFT_PORT: String(await freePort()), ADVERTISE_HOST: '127.0.0.1', ...env,
    },
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  const started = new Promise<unknown>((resolve) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.includes('"msg":"node started"'));
      if (line !== undefined) resolve((JSON.parse(line) as { allocator?: unknown }).allocator);
    });
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const first = await Promise.race([started.then((allocator) => ({ allocator })), exited.then((code) => ({ code }))]);
  let mapped: Started['mapped'] = null;
  if ('allocator' in first) {
    const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
    mapped = maps.includes('/libjemalloc.so') ? 'jemalloc' : maps.includes('/libc.so.6') ? 'glibc' : null;
    t.match(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'), /dist\/main\.js/, 'the pid started is the node itself (exec)');
    child.kill('SIGTERM');
  }
  const code = await exited;
  clearTimeout(timer);
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // The group is gone: nothing was left behind.
  }
  const after = hasJemalloc();
  return { allocator: 'allocator' in first ? first.allocator : undefined, mapped, code, stderr, installed: before === after ? before : null };
}

t.test('npm start: the node runs under the allocator ALLOCATOR asks for, and a SIGTERM reaches it', async (t) => {
  const auto = await npmStart(t, {});
  t.equal(auto.allocator, auto.mapped, 'the node reports what it has mapped');
  if (auto.installed !== null) t.equal(auto.allocator, auto.installed ? 'jemalloc' : 'glibc', `unset, jemalloc installed: ${auto.installed}`);
  t.equal(auto.code, 0, "SIGTERM to npm start's pid reaches the node: it drains and exits 0");

  const glibc = await npmStart(t, { ALLOCATOR: 'glibc' });
  t.equal(glibc.allocator, 'glibc');
  t.equal(glibc.mapped, 'glibc');

  const required = await npmStart(t, { ALLOCATOR: 'jemalloc' });
  if (required.installed === true) {
    t.equal(required.allocator, 'jemalloc');
    t.equal(required.mapped, 'jemalloc');
  } else if (required.installed === false) {
    t.equal(required.code, 2, 'ALLOCATOR=jemalloc without it installed: no node');
    t.match(required.stderr, /ALLOCATOR=jemalloc, but libjemalloc\.so\.2 is not installed \(apt-get install libjemalloc2\)/);
  }

  const own = await npmStart(t, { ALLOCATOR: 'jemalloc', LD_PRELOAD: '/nonexistent/libmine.so' });
  t.equal(own.allocator, 'glibc', "an LD_PRELOAD of the user's own is left as it is (here one the linker cannot load)");
  t.match(own.stderr, /libmine\.so.*cannot be preloaded/);

  const bogus = await npmStart(t, { ALLOCATOR: 'tcmalloc' });
  t.equal(bogus.code, 2, 'an unknown ALLOCATOR: no node');
  t.equal(bogus.allocator, undefined);
  t.match(bogus.stderr, /ALLOCATOR must be one of auto, jemalloc, glibc, got "tcmalloc"/);
});
