// Real scheduled-db processes on 127.0.0.1 with free ports, for cluster tests: start, kill by PID, restart, join.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rootDir = join(import.meta.dirname, '..', '..');

/**
 * A loopback port nothing listens on, for a process started later. Taken below the kernel's ephemeral range:
 * a port bind(0) picks comes from that range, so until the node binds it, any outgoing connection of the test
 * files running in parallel may take it as its local port, and the node then fails with EADDRINUSE. Ports are
 * never handed out twice by one process; a port found in use is skipped.
 */
export async function freePort(): Promise<number> {
  const [low, high] = listenRange();
  for (let tries = 0; tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${low}-${high}`);
}

const handedOut = new Set<number>();

/** Ports below the ephemeral range (32768-60999 on Linux by default, 49152 and up elsewhere). */
function listenRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch (_err) {
    // Not Linux: keep the default.
  }
  const high = Math.min(ephemeralLow, 65536) - 1;
  return high - 10_000 >= 1024 ? [high - 10_000, high] : [1024, 65535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface NodeHandle {
  readonly id: string;
  readonly httpPort: number;
  readonly raftPort: number;
  readonly dataDir: string;
  readonly url: string;
  env: Record<string, string>;
  process: ChildProcess | null;
  output: string[];
}

export interface NodePorts {
  readonly http: number;
  readonly raft: number;
}

export interface ClusterOptions {
  readonly size: number;
  /** Every node's environment; it may set SNAPSHOT_COUNT (50 here), but not the ports, PEERS or BOOTSTRAP_EXPECT. */
  readonly env?: Record<string, string>;
  /** Start only the first `started` nodes (default all) and do not wait for a leader. */
  readonly started?: number;
  /** Node i's ports (default free ones): a test that puts proxies between the nodes must know them first. */
  readonly ports?: readonly NodePorts[];
  /** Node `id`'s PEERS (default every node's real Raft address), e.g. the ports of proxies on its own links. */
  readonly peersOf?: (id: string) => string;
  /** Called with every process spawned, first start and restarts alike (logs to a file, exit watching). */
  readonly onSpawn?: (node: NodeHandle, child: ChildProcess) => void;
}

/** Free loopback ports for `size` nodes. */
export async function freeNodePorts(size: number): Promise<NodePorts[]> {
  const ports: NodePorts[] = [];
  for (let i = 0; i < size; i++) ports.push({ http: await freePort(), raft: await freePort() });
  return ports;
}

export class ProcessCluster {
  readonly nodes: NodeHandle[] = [];
  readonly #baseDir = mkdtempSync(join(tmpdir(), 'sdb-cluster-'));
  readonly #env: Record<string, string>;
  readonly #onSpawn: ((node: NodeHandle, child: ChildProcess) => void) | null;

  private constructor(env: Record<string, string>, onSpawn: ((node: NodeHandle, child: ChildProcess) => void) | null) {
    this.#env = env;
    this.#onSpawn = onSpawn;
  }

  static async start(options: ClusterOptions): Promise<ProcessCluster> {
    const cluster = new ProcessCluster(options.env ?? {}, options.onSpawn ?? null);
    const ports = options.ports ?? await freeNodePorts(options.size);
    const peers = ports.map((p, i) => `n${i + 1}=127.0.0.1:${p.raft}`).join(',');
    for (let i = 0; i < options.size; i++) {
      const p = ports[i];
      if (p === undefined) throw new Error('port missing');
      const id = `n${i + 1}`;
      cluster.nodes.push(cluster.#handle(id, p.http, p.raft, {
        PEERS: options.peersOf?.(id) ?? peers, BOOTSTRAP_EXPECT: String(options.size),
        // Small snapshots unless told otherwise, so cluster tests also cross compaction and InstallSnapshot.
        SNAPSHOT_COUNT: options.env?.['SNAPSHOT_COUNT'] ?? '50',
      }));
    }
    const started = options.started ?? options.size;
    for (const node of cluster.nodes.slice(0, started)) cluster.spawn(node);
    if (started === options.size) await cluster.waitForLeader();
    return cluster;
  }

  /** A new node with an empty data dir that joins through `via`'s client port. */
  async addJoiner(id: string, via: NodeHandle): Promise<NodeHandle> {
    const node = this.#handle(id, await freePort(), await freePort(), {
      PEERS: '', JOIN: via.url,
    });
    node.env['PEERS'] = `${id}=127.0.0.1:${node.raftPort}`;
    this.nodes.push(node);
    this.spawn(node);
    return node;
  }

  #handle(id: string, httpPort: number, raftPort: number, extra: Record<string, string>): NodeHandle {
    const dataDir = join(this.#baseDir, id);
    return {
      id, httpPort, raftPort, dataDir, url: `http://127.0.0.1:${httpPort}`, process: null, output: [],
      env: {
        NODE_ID: id, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), RAFT_HOST: '127.0.0.1', RAFT_PORT: String(raftPort),
        ADVERTISE_HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...this.#env, ...extra,
      },
    };
  }

  spawn(node: NodeHandle): void {
    const child = spawn(process.execPath, ['--import', 'tsx', join(rootDir, 'src', 'main.ts')], {
      cwd: rootDir, env: { PATH: process.env['PATH'] ?? '', ...node.env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    node.process = child;
    const keep = (chunk: Buffer): void => {
      node.output.push(chunk.toString());
      if (node.output.length > 400) node.output.splice(0, 100);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#onSpawn?.(node, child);
  }

  /** SIGKILL (or another signal) to the node's own PID, then wait for it to be gone. */
  async kill(node: NodeHandle, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = node.process;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
    node.process = null;
  }

  async restart(node: NodeHandle): Promise<void> {
    await this.kill(node);
    this.spawn(node);
    await waitFor(async () => (await get(node, '/health')).status === 200, 20_000, `${node.id} to come back`);
  }

  running(): NodeHandle[] {
    return this.nodes.filter((n) => n.process !== null);
  }

  /** Waits until every running node names the same leader, which is running too. */
  async waitForLeader(timeoutMs = 20_000): Promise<NodeHandle> {
    let leader: NodeHandle | undefined;
    await waitFor(async () => {
      const views = await Promise.all(this.running().map(async (n) => {
        try {
          const r = await get(n, '/health');
          return r.status === 200 ? (r.body as { leader: string | null }).leader : null;
        } catch (_err) {
          return null;
        }
      }));
      const first = views[0];
      leader = this.running().find((n) => n.id === first);
      return first !== null && first !== undefined && leader !== undefined && views.every((v) => v === first);
    }, timeoutMs, 'a leader that every node agrees on');
    if (leader === undefined) throw new Error('no leader');
    return leader;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n, 'SIGKILL')));
    rmSync(this.#baseDir, { recursive: true, force: true });
  }

  logs(node: NodeHandle): string {
    return node.output.join('');
  }
}

export interface HttpResult {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

export function request(node: NodeHandle, method: string, path: string, body?: unknown,
  headers: Record<string, string> = {}): Promise<HttpResult> {
  return fetchAnswer(`${node.url}${path}`, method, body, headers, 30_000);
}

/** One request; the answer's body parsed as JSON, or the raw text when it is not JSON (nginx's error pages). */
export async function fetchAnswer(url: string, method: string, body: unknown, headers: Record<string, string>,
  timeoutMs: number): Promise<HttpResult> {
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch (_err) {
    // Not JSON: the caller sees the raw text.
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export function get(node: NodeHandle, path: string): Promise<HttpResult> {
  return request(node, 'GET', path);
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch (_err) {
      // Not up yet; keep polling until the deadline.
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether `pid` runs and is not a zombie: a process whose parent died belongs to init, which may reap it late. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch (_err) {
    return false;
  }
}

/** SIGKILL to `pid` if it still runs. */
export function killQuietly(pid: number | undefined): void {
  try {
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
  } catch (_err) {
    // Already gone.
  }
}
