// A fresh local cluster for one bench: nodes of the built dist/main.js on free 127.0.0.1 ports with temp data dirs,
// and nginx in front with cluster/nginx.conf (the config of `npm run cluster`) rewritten to those ports.
// Everything is stopped by its own PID.
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, get, waitFor } from '../../test/cluster/process-cluster.js';
import { allocatorEnv, ensureJemalloc } from '../../cluster/allocator.mjs';
import { pointAt } from '../../cluster/nginx-conf.mjs';
import type { NodeHandle } from '../../test/cluster/process-cluster.js';
import { noteAllocator } from './report.js';
import { log } from './stats.js';

export type { NodeHandle };
export { get, request, waitFor } from '../../test/cluster/process-cluster.js';

export const rootDir = join(import.meta.dirname, '..', '..');
export let distMain = join(rootDir, 'dist', 'main.js');

/** Runs the nodes from another build's main.js (e.g. to compare two builds); default dist/main.js. */
export function useMain(path: string): void {
  distMain = path;
}

export interface ClusterOptions {
  readonly size?: number;
  /** Extra environment for every node (e.g. SNAPSHOT_COUNT). */
  readonly env?: Record<string, string>;
  readonly logLevel?: string;
  /** Keep the data dirs after stop (for inspection). */
  readonly keep?: boolean;
}

/** What a node logged at warn or above, and how it exited when nobody asked it to. */
export interface NodeLogTally {
  warn: number;
  error: number;
  readonly messages: Map<string, number>;
  readonly tail: string[];
  readonly unexpectedExits: string[];
}

const live = new Set<BenchCluster>();

/** The allocator's environment of every node, as `npm run cluster` gives it (jemalloc, installed on first use). */
let nodeAllocatorEnv: Record<string, string> | null = null;

function allocatorEnvOnce(): Record<string, string> {
  if (nodeAllocatorEnv === null) {
    ensureJemalloc(process.env, (line) => log(line));
    nodeAllocatorEnv = allocatorEnv(process.env);
  }
  return nodeAllocatorEnv;
}

/** Stops every cluster still running (Ctrl-C, a bench that threw). */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

export class BenchCluster {
  readonly nodes: NodeHandle[] = [];
  readonly baseDir = mkdtempSync(join(tmpdir(), 'sdb-bench-'));
  /** nginx's URL (round robin over the first nodes, as `npm run cluster`). */
  lbUrl = '';
  readonly #options: ClusterOptions;
  readonly #tallies = new Map<string, NodeLogTally>();
  #nginx: ChildProcess | null = null;
  #stopped = false;

  private constructor(options: ClusterOptions) {
    this.#options = options;
  }

  static async start(options: ClusterOptions = {}): Promise<BenchCluster> {
    if (!existsSync(distMain)) throw new Error(`${distMain} is missing: run npm run build first`);
    const cluster = new BenchCluster(options);
    live.add(cluster);
    const size = options.size ?? 3;
    const ports: { http: number; raft: number }[] = [];
    for (let i = 0; i < size; i++) ports.push({ http: await freePort(), raft: await freePort() });
    const peers = ports.map((p, i) => `n${i + 1}=127.0.0.1:${p.raft}`).join(',');
    ports.forEach((p, i) => cluster.nodes.push(cluster.#handle(`n${i + 1}`, p.http, p.raft, { PEERS: peers, BOOTSTRAP_EXPECT: String(size) })));
    for (const node of cluster.nodes) cluster.spawn(node);
    const leader = await cluster.waitForLeader(30_000);
    await cluster.#startNginx();
    const reported = (await cluster.debug(leader)).memory['allocator'];
    const allocator = typeof reported === 'string' ? reported : 'unknown';
    noteAllocator(allocator);
    log(`cluster up: ${cluster.nodes.map((n) => `${n.id} ${n.url} pid ${n.process?.pid}`).join(', ')}; nginx ${cluster.lbUrl}; ` +
      `malloc ${allocator}; data ${cluster.baseDir}`);
    return cluster;
  }

  #handle(id: string, httpPort: number, raftPort: number, extra: Record<string, string>): NodeHandle {
    const dataDir = join(this.baseDir, id);
    return {
      id, httpPort, raftPort, dataDir, url: `http://127.0.0.1:${httpPort}`, process: null, output: [],
      env: {
        NODE_ID: id, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), RAFT_HOST: '127.0.0.1', RAFT_PORT: String(raftPort),
        ADVERTISE_HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: this.#options.logLevel ?? 'warn', ...this.#options.env, ...extra,
      },
    };
  }

  /** Starts (or restarts, on its data dir) the node's own `node dist/main.js` process. */
  spawn(node: NodeHandle): void {
    // BENCH_NODE_ARGS: extra node flags for every node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a load.
    // A flag there comes after --max-semi-space-size=8, so it can override it.
    const nodeArgs = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    // BENCH_NODE_ENV: extra environment for every node, e.g. "MALLOC_ARENA_MAX=1" to measure another malloc setting
    // (ALLOCATOR=glibc in the bench's own environment runs the nodes on glibc's malloc).
    const nodeEnv = Object.fromEntries((process.env['BENCH_NODE_ENV'] ?? '').split(' ').filter((a) => a !== '')
      .map((pair) => [pair.slice(0, Math.max(0, pair.indexOf('='))), pair.slice(pair.indexOf('=') + 1)]));
    if ('' in nodeEnv) throw new Error(`BENCH_NODE_ENV: expected NAME=value pairs separated by spaces, got ${process.env['BENCH_NODE_ENV']}`);
    const child = spawn(process.execPath, ['--max-semi-space-size=8', ...nodeArgs, distMain], {
      // The nodes run as `npm start` runs them (--max-semi-space-size=8, jemalloc or glibc's two settings,
      // cluster/allocator.mjs) unless the bench's own environment says otherwise.
      cwd: rootDir, env: {
        PATH: process.env['PATH'] ?? '', ...allocatorEnvOnce(),
        // Any MALLOC_ setting of the bench's own environment (jemalloc's MALLOC_CONF, glibc's values) too.
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_'))), ...nodeEnv, ...node.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    node.process = child;
    const tally = this.tally(node.id);
    let partial = '';
    // A kept run keeps each node's log too, beside the data dirs, for reading after the fact.
    const logFile = this.#options.keep === true ? createWriteStream(join(this.baseDir, `${node.id}.log`), { flags: 'a' }) : null;
    const onData = (chunk: Buffer): void => {
      logFile?.write(chunk);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) countLine(tally, line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('close', () => logFile?.end());
    child.once('exit', (code, signal) => {
      if (node.process === child) {
        node.process = null;
        if (!this.#stopped) tally.unexpectedExits.push(`exit ${signal ?? code} at ${new Date().toISOString()}`);
      }
    });
  }

  tally(id: string): NodeLogTally {
    let t = this.#tallies.get(id);
    if (t === undefined) {
      t = { warn: 0, error: 0, messages: new Map(), tail: [], unexpectedExits: [] };
      this.#tallies.set(id, t);
    }
    return t;
  }

  /** Per node: warn and error counts, the most frequent messages, unexpected exits. */
  logSummary(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [id, t] of this.#tallies) {
      if (t.warn === 0 && t.error === 0 && t.unexpectedExits.length === 0) continue;
      const top = [...t.messages].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([m, n]) => `${n}x ${m}`);
      out[id] = { warn: t.warn, error: t.error, top, ...(t.unexpectedExits.length > 0 ? { unexpected_exits: t.unexpectedExits } : {}) };
    }
    return out;
  }

  pid(node: NodeHandle): number {
    const pid = node.process?.pid;
    if (pid === undefined) throw new Error(`${node.id} is not running`);
    return pid;
  }

  /** Sends the signal to the node's own PID and waits for it to exit. */
  async kill(node: NodeHandle, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = node.process;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    node.process = null;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  running(): NodeHandle[] {
    return this.nodes.filter((n) => n.process !== null);
  }

  /** Waits until every running node names the same running leader. */
  async waitForLeader(timeoutMs = 20_000): Promise<NodeHandle> {
    let leader: NodeHandle | undefined;
    await waitFor(async () => {
      const running = this.running();
      const views = await Promise.all(running.map(async (n) => {
        const r = await get(n, '/health').catch(() => null);
        return r?.status === 200 ? (r.body as { leader: string | null }).leader : null;
      }));
      leader = running.find((n) => n.id === views[0]);
      return leader !== undefined && views.every((v) => v === views[0]);
    }, timeoutMs, 'a leader every node agrees on');
    if (leader === undefined) throw new Error('no leader');
    return leader;
  }

  /** Waits until every running node's /ready is 200 (knows the leader, applied all it committed). */
  async waitReady(timeoutMs = 60_000, nodes: NodeHandle[] = this.running()): Promise<void> {
    await waitFor(async () => (await Promise.all(nodes.map(async (n) => (await get(n, '/ready')).status === 200))).every(Boolean),
      timeoutMs, `${nodes.map((n) => n.id).join(', ')} ready`);
  }

  async debug(node: NodeHandle): Promise<DebugCluster> {
    const r = await get(node, '/debug/cluster');
    if (r.status !== 200) throw new Error(`${node.id} /debug/cluster answered ${r.status}`);
    return r.body as DebugCluster;
  }

  /** A new node with an empty data dir, started with JOIN=<via's URL>; not put behind nginx. */
  async spawnJoiner(id: string, via: string): Promise<NodeHandle> {
    const http = await freePort();
    const raft = await freePort();
    const node = this.#handle(id, http, raft, { PEERS: `${id}=127.0.0.1:${raft}`, JOIN: via });
    this.nodes.push(node);
    this.spawn(node);
    return node;
  }

  /** Bytes of the files under the node's data dir, in all and by top-level entry (raft, state, snapshots). */
  diskBytes(node: NodeHandle): { total: number; parts: Record<string, number> } {
    const parts: Record<string, number> = {};
    let total = 0;
    for (const entry of existsSync(node.dataDir) ? readdirSync(node.dataDir) : []) {
      const bytes = treeBytes(join(node.dataDir, entry));
      parts[entry] = bytes;
      total += bytes;
    }
    return { total, parts };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    live.delete(this);
    // A profiled node writes its profile only on a clean exit.
    const signal = (process.env['BENCH_NODE_ARGS'] ?? '').includes('--cpu-prof') ? 'SIGTERM' : 'SIGKILL';
    await Promise.all(this.nodes.map((n) => this.kill(n, signal)));
    const nginx = this.#nginx;
    if (nginx !== null && nginx.exitCode === null && nginx.signalCode === null) {
      const exited = new Promise((resolve) => nginx.once('exit', resolve));
      nginx.kill('SIGTERM'); // nginx's master, our own child; it stops its worker
      const timer = setTimeout(() => nginx.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (this.#options.keep === true) log(`kept ${this.baseDir}`);
    else rmSync(this.baseDir, { recursive: true, force: true });
  }

  async #startNginx(): Promise<void> {
    const prefix = join(this.baseDir, 'nginx');
    // nginx's workers run as nobody: they need to reach their temp dirs (a large body goes to tmp/body) through ours.
    chmodSync(this.baseDir, 0o755);
    for (const dir of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(prefix, dir), { recursive: true });
    const port = await freePort();
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(conf, pointAt(readFileSync(join(rootDir, 'cluster', 'nginx.conf'), 'utf8'), this.nodes.map((n) => n.httpPort), port));
    const child = spawn(findNginx(), ['-p', `${prefix}/`, '-c', conf, '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
    this.#nginx = child;
    this.lbUrl = `http://127.0.0.1:${port}`;
    const lb = { url: this.lbUrl } as NodeHandle;
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${errors}`);
      return (await get(lb, '/health')).status === 200;
    }, 10_000, `nginx on ${this.lbUrl}`).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; nginx said: ${errors}`);
    });
  }
}

export interface DebugCluster {
  readonly node_id: string;
  readonly role: string;
  readonly leader_id: string | null;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly snapshot_index: number;
  readonly peers: readonly { id: string; voter: boolean; match_index: number }[];
  readonly job_count: number;
  /** Where the node's memory is, in bytes: process.memoryUsage(), RSS's parts, LevelDB's own by database, and more. */
  readonly memory: Readonly<Record<string, unknown>>;
}

/** VmRSS of a process, in bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) * 1024;
}

/** CPU time a process has used so far (user + system), in ms, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesized command name, which may itself hold spaces: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** RSS of a process split as the kernel counts it (anonymous, file-backed such as mapped LevelDB tables, shared), in bytes. */
export function rssParts(pid: number): Record<string, number> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const parts: Record<string, number> = {};
  for (const name of ['RssAnon', 'RssFile', 'RssShmem']) {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    parts[name] = m === null ? NaN : Number(m[1]) * 1024;
  }
  return parts;
}

/** Debian's nginx, as `npm run cluster` uses it; installed the same way the launcher does if missing. */
function findNginx(): string {
  const candidates = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'];
  const found = candidates.find((c) => existsSync(c));
  if (found !== undefined) return found;
  log("nginx not found; installing Debian's nginx package");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'nginx'], { stdio: 'inherit', env });
  const installed = candidates.find((c) => existsSync(c));
  if (installed === undefined) throw new Error('nginx is still missing after apt-get install');
  return installed;
}

function treeBytes(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, e) => sum + treeBytes(join(path, e)), 0);
}

/** Counts a pino JSON line at warn (40) or above by its message; other lines are ignored. */
function countLine(t: NodeLogTally, line: string): void {
  if (line === '') return;
  let level = 0;
  let msg = line.slice(0, 120);
  try {
    const parsed = JSON.parse(line) as { level?: number; msg?: string };
    level = parsed.level ?? 0;
    msg = parsed.msg ?? msg;
  } catch (_err) {
    level = 50; // not pino: a crash trace or a config error, worth seeing
  }
  if (level < 40) return;
  if (level >= 50) t.error++;
  else t.warn++;
  t.messages.set(msg, (t.messages.get(msg) ?? 0) + 1);
  t.tail.push(line.slice(0, 400));
  if (t.tail.length > 50) t.tail.shift();
}

