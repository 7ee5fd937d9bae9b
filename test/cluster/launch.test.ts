// `npm run cluster` (cluster/launch.mjs) as a user runs it, on free ports: a node killed with -9 is started again
// on its data dir while nginx keeps taking writes; with --no-restart it stays down until SIGUSR2; a node that refuses
// to start is left down without taking the others with it; SIGTERM stops every process it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { hasJemalloc } from '../../cluster/allocator.mjs';
import { pointAt } from '../../cluster/nginx-conf.mjs';
import { alive, fetchAnswer, freePort, killQuietly, waitFor } from './process-cluster.js';

const rootDir = join(import.meta.dirname, '..', '..');
const names = ['node1', 'node2', 'node3'] as const;

class Launched {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess, readonly dir: string, readonly lbUrl: string, readonly httpPorts: number[],
    readonly args: string[]) {
    // One partial line per stream: a line of one must not be glued to a piece of the other.
    const collect = (stream: NodeJS.ReadableStream | null): void => {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop() ?? '';
        this.output.push(...lines.filter((l) => l.startsWith('[cluster]')));
      });
    };
    collect(child.stdout);
    collect(child.stderr);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(extraArgs: string[] = [], httpPorts?: number[]): Promise<Launched> {
    const dir = mkdtempSync(join(tmpdir(), 'sdb-launch-'));
    const lbPort = await freePort();
    httpPorts ??= [await freePort(), await freePort(), await freePort()];
    const raftPorts = [await freePort(), await freePort(), await freePort()];
    const args = [join(rootDir, 'cluster', 'launch.mjs'), '--lb-port', String(lbPort),
      '--http-ports', httpPorts.join(','), '--raft-ports', raftPorts.join(','), '--data-dir', dir, ...extraArgs];
    const child = spawn(process.execPath, args, { cwd: rootDir, stdio: ['ignore', 'pipe', 'pipe'] });
    return new Launched(child, dir, `http://127.0.0.1:${lbPort}`, httpPorts, args);
  }

  /** A new launcher with this one's options: the same ports and data dir. */
  again(): Launched {
    const child = spawn(process.execPath, this.args, { cwd: rootDir, stdio: ['ignore', 'pipe', 'pipe'] });
    return new Launched(child, this.dir, this.lbUrl, this.httpPorts, this.args);
  }

  pid(name: string): number | null {
    const file = join(this.dir, `${name}.pid`);
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : null;
  }

  async waitForLines(pattern: RegExp, what: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => this.output.some((l) => pattern.test(l)), timeoutMs, `${what} in the launcher's output`);
  }

  async waitReady(index: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => (await fetchAnswer(`http://127.0.0.1:${this.httpPorts[index]}/ready`, 'GET', undefined, {}, 1000)).status === 200,
      timeoutMs, `${names[index]} ready`);
  }

  async leader(): Promise<string> {
    let id = '';
    await waitFor(async () => {
      const r = await fetchAnswer(`${this.lbUrl}/debug/cluster`, 'GET', undefined, {}, 1000);
      id = (r.body as { leader_id?: string }).leader_id ?? '';
      return r.status === 200 && id !== '';
    }, 30_000, 'a leader through nginx');
    return id;
  }

  create(id: string): Promise<number> {
    return fetchAnswer(`${this.lbUrl}/jobs`, 'POST', {
      id, type: 'unico', timestamp: '2035-01-01T00:00:00Z', webhook_url: 'http://127.0.0.1:9/hook',
    }, {}, 3000).then((r) => r.status, () => 0);
  }

  /** A signal to the launcher; its exit code. Kills what it left running by PID if it does not stop in time. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const pids = [...names, 'nginx'].map((n) => this.pid(n)).filter((p): p is number => p !== null);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const code = await Promise.race([this.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 20_000))]);
    if (code === 'late') {
      this.child.kill('SIGKILL');
      for (const p of pids) killQuietly(p);
      return null;
    }
    return code;
  }
}

/** The processes whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(d)] : [];
    } catch (_err) {
      return []; // exited while we looked
    }
  });
}

t.test('the launcher points the shipped nginx config at its ports, and leaves the default ports as shipped', async (t) => {
  const shipped = readFileSync(join(rootDir, 'cluster', 'nginx.conf'), 'utf8');
  t.equal(pointAt(shipped, [8081, 8082, 8083], 8080), shipped);
  const pointed = pointAt(shipped, [9001, 9002, 9003], 9000);
  t.match(pointed, /listen 127\.0\.0\.1:9000 /);
  t.notMatch(pointed, /808\d/);
  // node2's own upstream: its port first, the two others as backups.
  t.match(pointed, /upstream scheduled_db_n2 \{\s*server 127\.0\.0\.1:9002 [^}]*server 127\.0\.0\.1:9001 backup;\s*server 127\.0\.0\.1:9003 backup;/);
  t.throws(() => pointAt(shipped, [9001, 9002], 9000), /names 3 node ports, not 2/);
});

t.test('a kill -9 of the leader: nginx keeps taking writes, the node comes back on its data dir', async (t) => {
  const c = await Launched.start();
  t.teardown(async () => {
    await c.stop();
    rmSync(c.dir, { recursive: true, force: true });
  });
  // On a fresh machine this first launch installs nginx and libjemalloc2 before it starts any node.
  await Promise.all([0, 1, 2].map((i) => c.waitReady(i, 120_000)));
  // The launcher installs Debian's libjemalloc2 when it is missing (it needs root for apt-get) and preloads it
  // (cluster/allocator.mjs), unless told otherwise.
  const jemallocWanted = (process.env['ALLOCATOR'] ?? '') !== 'glibc' && (process.env['LD_PRELOAD'] ?? '') === '';
  if (jemallocWanted && process.getuid?.() === 0) t.ok(hasJemalloc(), 'libjemalloc2 is installed');
  const expected = jemallocWanted && hasJemalloc() ? 'jemalloc' : 'glibc';
  for (const port of c.httpPorts) {
    const debug = await fetchAnswer(`http://127.0.0.1:${port}/debug/cluster`, 'GET', undefined, {}, 2000);
    t.equal((debug.body as { memory?: { allocator?: unknown } }).memory?.allocator, expected, `the node on :${port} runs under ${expected}`);
  }
  const leader = await c.leader();
  t.equal(await c.create('before-kill'), 201, 'a write through nginx');
  // A body over nginx's default 16 KB buffer. The data dir is private (mkdtemp: 0700) and nginx's workers run as
  // nobody when the test runs as root, so a body nginx put in a temp file under it was a 500.
  const jobs = Array.from({ length: 300 }, (_, i) => ({ id: `batch-${i}`, type: 'unico', timestamp: '2035-01-01T00:00:00Z',
    webhook_url: 'http://127.0.0.1:9/hook', payload: { data: 'x'.repeat(200) } }));
  const batch = await fetchAnswer(`${c.lbUrl}/jobs/batch`, 'POST', { jobs }, {}, 10_000);
  t.equal(batch.status, 200, `a ${Math.round(JSON.stringify({ jobs }).length / 1024)} KB batch through nginx`);
  const pid = c.pid(leader);
  t.ok(pid !== null && alive(pid), `${leader}'s pid file names a live process`);
  process.kill(pid!, 'SIGKILL');

  let after = 0;
  await waitFor(async () => (await c.create(`after-kill-${after++}`)) === 201, 20_000, 'a write through nginx after the kill');
  await c.waitForLines(new RegExp(`${leader} exited \\(SIGKILL\\) after [\\d.]+ s; starting it again in 1 s`), 'the restart');
  await waitFor(async () => {
    const again = c.pid(leader);
    return again !== null && again !== pid && alive(again);
  }, 20_000, `${leader} started again`);
  await c.waitReady(names.indexOf(leader as typeof names[number]));
  t.notOk(alive(pid!), 'the killed process is gone');
  t.equal(c.child.exitCode, null, 'the launcher still runs');
  const read = await fetchAnswer(`${c.lbUrl}/jobs/before-kill?consistency=strong`, 'GET', undefined, {}, 5000);
  t.equal(read.status, 200, 'the job written before the kill is there');

  // nginx killed: its workers (which would keep serving on the port) go with it, and it comes back.
  const master = c.pid('nginx')!;
  const workers = childrenOf(master);
  t.ok(workers.length >= 1, `nginx's master ${master} has its workers (${workers.join(', ')})`);
  process.kill(master, 'SIGKILL');
  await waitFor(async () => {
    const again = c.pid('nginx');
    return again !== null && again !== master && alive(again);
  }, 20_000, 'nginx started again');
  await waitFor(async () => workers.every((w) => !alive(w)), 5000, 'the killed nginx\'s workers gone');
  let afterNginx = 0;
  await waitFor(async () => (await c.create(`after-nginx-${afterNginx++}`)) === 201, 20_000, 'a write through the new nginx');

  const pids = [...names, 'nginx'].map((n) => c.pid(n));
  t.ok(pids.every((p) => p !== null), 'a pid file for each process');

  const second = spawn(process.execPath, [join(rootDir, 'cluster', 'launch.mjs'), '--lb-port', String(await freePort()),
    '--http-ports', `${await freePort()},${await freePort()},${await freePort()}`,
    '--raft-ports', `${await freePort()},${await freePort()},${await freePort()}`, '--data-dir', c.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let secondErr = '';
  second.stderr.on('data', (b: Buffer) => {
    secondErr += b.toString();
  });
  t.equal(await new Promise((resolve) => second.once('close', resolve)), 1, 'a second launcher on the same data dir stops');
  t.match(secondErr, new RegExp(`another launcher \\(pid ${c.child.pid}\\) runs on `));
  t.same([...names, 'nginx'].map((n) => c.pid(n)), pids, 'and leaves the first one\'s pid files alone');
  t.equal(await c.stop(), 0, 'SIGTERM stops the launcher with code 0');
  t.same(pids.filter((p) => p !== null && alive(p)), [], 'no process it started is left');
  t.same([...names, 'nginx', 'launcher'].filter((n) => existsSync(join(c.dir, `${n}.pid`))), [], 'the pid files are removed');
});

t.test('--no-restart: a refusal to start and a kill leave one node down, the others run; SIGUSR2 starts it again', async (t) => {
  // node3's client port is taken, so node3 refuses to start (exit 1 at once).
  const httpPorts = [await freePort(), await freePort(), await freePort()];
  const squatter: Server = createServer();
  await new Promise<void>((resolve) => squatter.listen(httpPorts[2], '127.0.0.1', resolve));
  const c0 = await Launched.start(['--no-restart'], httpPorts);
  t.teardown(async () => {
    squatter.close();
    await c0.stop();
    rmSync(c0.dir, { recursive: true, force: true });
  });
  await c0.waitForLines(/node3 refused to start \(code 1\); left down: fix the cause .*send SIGUSR2 to pid \d+/, 'node3\'s refusal');
  t.equal(c0.pid('node3'), null, 'node3 has no pid file');
  t.ok([c0.pid('node1'), c0.pid('node2')].every((p) => p !== null && alive(p)), 'node1 and node2 run on');
  t.equal(c0.child.exitCode, null, 'the launcher still runs');

  await new Promise<void>((resolve) => squatter.close(() => resolve()));
  c0.child.kill('SIGUSR2');
  await Promise.all([0, 1, 2].map((i) => c0.waitReady(i)));
  t.equal(await c0.create('after-sighup'), 201, 'the three nodes elected a leader once node3 started');

  const pid1 = c0.pid('node1')!;
  process.kill(pid1, 'SIGKILL');
  await c0.waitForLines(/node1 exited \(SIGKILL\); left down \(--no-restart\)/, 'node1 left down');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(c0.pid('node1'), null, 'node1 stays down');
  let n = 0;
  await waitFor(async () => (await c0.create(`node1-down-${n++}`)) === 201, 20_000, 'a write with node1 down');
  c0.child.kill('SIGUSR2');
  await c0.waitReady(0);
  const pidAgain = c0.pid('node1');
  t.ok(pidAgain !== null && pidAgain !== pid1 && alive(pidAgain), 'SIGUSR2 started node1 again');
  const pids = [...names, 'nginx'].map((n) => c0.pid(n)!);
  t.equal(await c0.stop('SIGHUP'), 0, 'SIGHUP (a closed terminal) stops it too');
  t.same(pids.filter((p) => alive(p)), [], 'no process it started is left');
});

t.test('a launcher killed with -9 leaves its processes running; the next one on its data dir stops them first', async (t) => {
  const first = await Launched.start();
  let second: Launched | null = null;
  let old: number[] = [];
  t.teardown(async () => {
    await first.stop();
    await second?.stop();
    // Should the second launcher not have stopped them.
    for (const p of old) killQuietly(p);
    rmSync(first.dir, { recursive: true, force: true });
  });
  await Promise.all([0, 1, 2].map((i) => first.waitReady(i)));
  await first.leader();
  t.equal(await first.create('before-launcher-kill'), 201, 'a write through nginx');
  old = [...names, 'nginx'].map((n) => first.pid(n)!);
  const workers = childrenOf(old[3]!);
  t.ok(workers.length >= 1, `nginx's master ${old[3]} has its workers (${workers.join(', ')})`);
  old.push(...workers);
  first.child.kill('SIGKILL');
  await first.exited;
  // Node has no parent-death signal, and nginx never writes to the launcher's pipes.
  t.same(old.filter((p) => !alive(p)), [], 'its nodes, nginx and its workers still run');

  second = first.again();
  const launched = second;
  for (const [i, name] of [...names, 'nginx'].entries()) {
    // nginx: its master and its workers.
    await launched.waitForLines(new RegExp(`${name} \\(pid (\\d+, )*${old[i]}(, \\d+)*\\) was left running by a launcher that died; stopping it`), `${name} stopped`);
  }
  await Promise.all([0, 1, 2].map((i) => launched.waitReady(i)));
  t.same(old.filter((p) => alive(p)), [], 'every process the dead launcher started is gone, nginx\'s workers too');
  const now = [...names, 'nginx'].map((n) => launched.pid(n));
  t.ok(now.every((p, i) => p !== null && p !== old[i] && alive(p)), `new processes ${now.join(', ')}`);
  await launched.leader();
  const read = await fetchAnswer(`${launched.lbUrl}/jobs/before-launcher-kill?consistency=strong`, 'GET', undefined, {}, 5000);
  t.equal(read.status, 200, 'the job written before is there');
  t.equal(await launched.stop(), 0);
});

t.test('bad options: exit 2 and the usage, nothing started', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-launch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [args, message] of [
    [['--http-ports', '9001,9002'], /--http-ports takes 3 ports, got "9001,9002"/],
    [['--lb-port', '70000'], /--lb-port: "70000" is not a port/],
    [['--http-ports', '9001,9001,9002'], /every port must differ/],
    [['--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    const child = spawn(process.execPath, [join(rootDir, 'cluster', 'launch.mjs'), '--data-dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const code = await new Promise((resolve) => child.once('close', resolve));
    t.equal(code, 2, args.join(' '));
    t.match(err, message);
    t.match(err, /usage: npm run cluster/);
  }
  t.same(readdirSync(dir), [], 'nothing written to the data dir');
});
