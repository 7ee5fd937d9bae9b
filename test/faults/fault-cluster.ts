// A ProcessCluster whose nodes reach each other only through the proxy mesh, with what a fault run must know about
// its processes: every exit (expected or a crash), SIGSTOPped nodes, and each node's whole log in a file.
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeHandle } from '../cluster/process-cluster.js';
import { freeNodePorts, ProcessCluster, waitFor } from '../cluster/process-cluster.js';
import { nowMs } from './clock.js';
import { ProxyMesh } from './mesh.js';

export interface ExitRecord {
  readonly id: string;
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly atMs: number;
  /** The nemesis or the teardown killed it; any other exit is a crash. */
  readonly expected: boolean;
  /** Why an exit after SIGTERM is not the clean one it must be (a hang, an exit code but 0). */
  readonly note?: string;
}

/** How long a SIGTERMed node may take to drain, hand over and exit. */
const terminateGraceMs = 20_000;

export interface FaultClusterOptions {
  readonly size: number;
  readonly env: Record<string, string>;
  /** Node logs go to `<runDir>/<id>.log`, kept after the run. */
  readonly runDir: string;
  readonly random: () => number;
}

export class FaultCluster {
  readonly exits: ExitRecord[] = [];
  readonly #expectedExit = new Set<number>();
  /** PIDs sent SIGTERM: expected to exit with code 0, by themselves. */
  readonly #terminated = new Set<number>();
  /** PIDs that outlived terminateGraceMs after SIGTERM and were killed. */
  readonly #hung = new Set<number>();
  readonly #stopped = new Set<string>();
  readonly #runDir: string;
  #cluster: ProcessCluster | null = null;

  private constructor(readonly mesh: ProxyMesh, runDir: string) {
    this.#runDir = runDir;
  }

  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    mkdirSync(options.runDir, { recursive: true });
    const ports = await freeNodePorts(options.size);
    const mesh = await ProxyMesh.start(ports.map((p, i) => ({ id: `n${i + 1}`, raftPort: p.raft })), options.random);
    const fc = new FaultCluster(mesh, options.runDir);
    try {
      fc.#cluster = await ProcessCluster.start({
        size: options.size, env: options.env, ports, peersOf: (id) => mesh.peersOf(id),
        onSpawn: (node, child) => fc.#watch(node, child),
      });
    } catch (err) {
      await mesh.close();
      throw err;
    }
    return fc;
  }

  get nodes(): readonly NodeHandle[] {
    return this.#pc().nodes;
  }

  node(id: string): NodeHandle {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  isUp(node: NodeHandle): boolean {
    return node.process !== null;
  }

  isStopped(node: NodeHandle): boolean {
    return this.#stopped.has(node.id);
  }

  /** Running and not SIGSTOPped: the nodes that can answer. */
  live(): NodeHandle[] {
    return this.nodes.filter((n) => this.isUp(n) && !this.isStopped(n));
  }

  logPath(node: NodeHandle): string {
    return join(this.#runDir, `${node.id}.log`);
  }

  log(node: NodeHandle): string {
    try {
      return readFileSync(this.logPath(node), 'utf8');
    } catch (_err) {
      return '';
    }
  }

  /** kill -9 (or another signal that ends it); links into the node refuse connections, as to a dead host. */
  async kill(node: NodeHandle, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const pid = node.process?.pid;
    if (pid === undefined) return;
    this.#expectedExit.add(pid);
    if (this.#stopped.has(node.id) && signal !== 'SIGKILL') this.cont(node);
    await this.mesh.targetDown(node.id);
    await this.#pc().kill(node, signal);
    this.#stopped.delete(node.id);
  }

  /**
   * SIGTERM, as a rolling restart sends it: the node drains (a leader hands over first) and exits by itself. Links
   * into it stay up meanwhile, since a hand-over talks to the peers. A node that has not exited after
   * `terminateGraceMs` is killed, and that exit, like one with a code other than 0, is a crash of the run.
   */
  async terminate(node: NodeHandle): Promise<void> {
    const child = node.process;
    const pid = child?.pid;
    if (child === null || child === undefined || pid === undefined) return;
    this.cont(node);
    this.#terminated.add(pid);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), terminateGraceMs); }),
    ]);
    clearTimeout(timer);
    if (!inTime) {
      this.#hung.add(pid);
      child.kill('SIGKILL');
      await exited;
    }
    node.process = null;
    await this.mesh.targetDown(node.id);
  }

  /**
   * Starts a killed node again on its own data dir, and waits until it answers /health. Links into it open only then:
   * a peer dialling a proxy whose target is not listening yet would see a reset, which reads as "maybe sent".
   */
  async restart(node: NodeHandle): Promise<void> {
    if (this.isUp(node)) return;
    this.#pc().spawn(node);
    await waitFor(async () => {
      const r = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return r.ok;
    }, 30_000, `${node.id} to come back`);
    await this.mesh.targetUp(node.id);
  }

  stop(node: NodeHandle): void {
    const child = node.process;
    if (child === null || this.#stopped.has(node.id)) return;
    child.kill('SIGSTOP');
    this.#stopped.add(node.id);
  }

  cont(node: NodeHandle): void {
    const child = node.process;
    if (child === null || !this.#stopped.has(node.id)) return;
    child.kill('SIGCONT');
    this.#stopped.delete(node.id);
  }

  /** Heals everything: links pass, stopped nodes continue, killed nodes start again. */
  async healAll(): Promise<void> {
    this.mesh.heal();
    for (const node of this.nodes) this.cont(node);
    for (const node of this.nodes) if (!this.isUp(node)) await this.restart(node);
  }

  crashes(): ExitRecord[] {
    return this.exits.filter((e) => !e.expected);
  }

  async close(): Promise<void> {
    for (const node of this.nodes) {
      const pid = node.process?.pid;
      if (pid !== undefined) this.#expectedExit.add(pid);
      // A stopped process ignores SIGTERM but not SIGKILL; continuing it first keeps its exit ordinary.
      this.cont(node);
    }
    await this.#pc().stop();
    await this.mesh.close();
  }

  #pc(): ProcessCluster {
    if (this.#cluster === null) throw new Error('cluster not started');
    return this.#cluster;
  }

  #watch(node: NodeHandle, child: ChildProcess): void {
    const path = this.logPath(node);
    const pid = child.pid ?? -1;
    appendFileSync(path, `--- ${new Date(nowMs()).toISOString()} ${node.id} started, pid ${pid}\n`);
    const write = (chunk: Buffer): void => appendFileSync(path, chunk);
    child.stdout?.on('data', write);
    child.stderr?.on('data', write);
    child.once('exit', (code, signal) => {
      const note = this.#hung.has(pid) ? `still running ${terminateGraceMs} ms after SIGTERM, killed`
        : this.#terminated.has(pid) && code !== 0 ? `exited with ${signal ?? `code ${code}`} after SIGTERM, not code 0` : undefined;
      const expected = note === undefined && (this.#expectedExit.has(pid) || this.#terminated.has(pid));
      this.exits.push({ id: node.id, pid, code, signal, atMs: nowMs(), expected, ...(note === undefined ? {} : { note }) });
      appendFileSync(path, `--- ${new Date(nowMs()).toISOString()} ${node.id} pid ${pid} exited (${signal ?? code})${expected ? '' : ` UNEXPECTEDLY${note === undefined ? '' : `: ${note}`}`}\n`);
      if (!expected && node.process === child) {
        // A crash: the harness sees the node down, as after a kill, so the run can heal it.
        node.process = null;
        this.#stopped.delete(node.id);
        void this.mesh.targetDown(node.id);
      }
    });
  }
}

/** Writes a file of the run directory (history, fires, verdicts), for the report of a failing seed. */
export function writeRunFile(runDir: string, name: string, content: string): string {
  const path = join(runDir, name);
  writeFileSync(path, content);
  return path;
}
