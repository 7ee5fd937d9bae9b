// The local cluster's process supervisor: it restarts a process that dies, as a container's restart policy or a
// StatefulSet would, so a `kill -9` of one node is a fault the other two ride out rather than the end of the cluster.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';

/** A process that exits with a code this soon after it started refused to start (a bad config, a port in use). */
export const refusalWindowMs = 10_000;
/** A process that ran this long starts again after the shortest backoff. */
const steadyMs = 60_000;
const firstBackoffMs = 1_000;
const maxBackoffMs = 30_000;
/**
 * How long a stop waits for each process before SIGKILL: a node's own SIGTERM shutdown (hand-over, client and
 * webhook drains) gives up by 15 s (shutdownOverdueMs in src/config/limits.ts).
 */
export const stopGraceMs = 20_000;

/**
 * What to do after a process exits on its own: `restart` after `delayMs`, or leave it `down`.
 * `refused`: it exited with a code within `refusalWindowMs` of its start, so starting it again would only repeat
 * that. `autoRestart` false leaves every process down (SIGUSR2 to the launcher starts them again).
 * @param {{ code: number | null, ranMs: number, lastDelayMs: number, autoRestart: boolean }} exit
 * @returns {{ action: 'restart', delayMs: number } | { action: 'down', refused: boolean }}
 */
export function afterExit({ code, ranMs, lastDelayMs, autoRestart }) {
  const refused = code !== null && code !== 0 && ranMs < refusalWindowMs;
  if (refused || !autoRestart) return { action: 'down', refused };
  // Doubling, as the kubelet's back-off does, so a node that crashes at once keeps failing slowly and loudly.
  const delayMs = ranMs >= steadyMs || lastDelayMs === 0 ? firstBackoffMs : Math.min(lastDelayMs * 2, maxBackoffMs);
  return { action: 'restart', delayMs };
}

/**
 * @typedef {{ name: string, command: string, args: string[], env: Record<string, string>, pidFile: string,
 *   essential: boolean, group: boolean }} ProcessSpec
 * `essential`: the cluster cannot run without it (nginx, the front door), so its refusal to start stops everything.
 * `group`: it starts processes of its own (nginx's workers), which outlive it when it is killed: its whole process
 * group is killed once it exits.
 */

export class Supervisor {
  /** @type {Map<string, { spec: ProcessSpec, child: import('node:child_process').ChildProcess | null,
   *   startedAt: number, lastDelayMs: number, timer: NodeJS.Timeout | null, refused: boolean }>} */
  #entries = new Map();
  #stopping = false;

  /**
   * @param {{ cwd: string, autoRestart: boolean, log: (line: string) => void, exit: (code: number) => void }} options
   */
  constructor(options) {
    this.options = options;
  }

  /** @param {ProcessSpec} spec */
  add(spec) {
    this.#entries.set(spec.name, { spec, child: null, startedAt: 0, lastDelayMs: 0, timer: null, refused: false });
    this.#start(spec.name);
  }

  /** Starts every process that is down now (SIGUSR2), at once and with its backoff reset. */
  startDown() {
    const down = [...this.#entries.values()].filter((e) => e.child === null);
    if (down.length === 0) this.options.log('SIGUSR2: every process is running');
    for (const e of down) {
      if (e.timer !== null) clearTimeout(e.timer);
      e.timer = null;
      e.lastDelayMs = 0;
      this.#start(e.spec.name);
    }
  }

  /** SIGTERM to every process (a node hands over leadership), SIGKILL to any still running 20 s later, then exit. */
  stopAll(code) {
    if (this.#stopping) return;
    this.#stopping = true;
    this.options.log('stopping');
    const running = [];
    for (const e of this.#entries.values()) {
      if (e.timer !== null) clearTimeout(e.timer);
      if (e.child !== null) {
        // 'close', not 'exit': the process's last lines have been relayed by then.
        running.push(new Promise((resolve) => e.child?.once('close', resolve)));
        e.child.kill('SIGTERM');
      }
    }
    const exit = () => {
      for (const e of this.#entries.values()) this.#removePidFile(e.spec);
      this.options.exit(code);
    };
    setTimeout(() => {
      for (const e of this.#entries.values()) {
        if (e.child !== null) this.options.log(`${e.spec.name} still running after ${stopGraceMs / 1000} s: SIGKILL`);
        e.child?.kill('SIGKILL');
      }
      exit();
    }, stopGraceMs).unref();
    void Promise.all(running).then(exit);
  }

  #start(name) {
    const e = this.#entries.get(name);
    if (e === undefined || this.#stopping) return;
    e.timer = null;
    const { spec } = e;
    // Detached: a process group of its own, so a terminal's Ctrl-C or hang-up reaches the launcher alone, which
    // stops each process in order (a node hands over first), and nginx's workers can be killed with their master.
    const child = spawn(spec.command, spec.args, {
      cwd: this.options.cwd, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    relayLines(child.stdout, process.stdout, `[${name}] `);
    relayLines(child.stderr, process.stderr, `[${name}] `);
    child.once('error', (err) => {
      this.options.log(`${name} could not be started: ${err.message}`);
      // A spawn that failed emits no 'exit': count it as a refusal to start.
      if (child.pid === undefined) this.#exited(name, child, 127, null);
    });
    e.child = child;
    e.startedAt = Date.now();
    e.refused = false;
    if (child.pid !== undefined) {
      // So a fault script can find each process: kill -9 "$(cat data/cluster/node2.pid)".
      try {
        writeFileSync(spec.pidFile, `${child.pid}\n`);
      } catch (err) {
        this.options.log(`${name}: cannot write ${spec.pidFile}: ${err.message}`);
      }
      this.options.log(`${name} started, pid ${child.pid}`);
    }
    child.once('exit', (code, signal) => this.#exited(name, child, code, signal));
  }

  #removePidFile(spec) {
    try {
      rmSync(spec.pidFile, { force: true });
    } catch (err) {
      this.options.log(`cannot remove ${spec.pidFile}: ${err.message}`);
    }
  }

  #exited(name, child, code, signal) {
    const e = this.#entries.get(name);
    if (e === undefined || e.child !== child) return;
    e.child = null;
    this.#removePidFile(e.spec);
    if (e.spec.group && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is empty: its workers went with it.
      }
    }
    const how = signal ?? `code ${code}`;
    if (this.#stopping) {
      this.options.log(`${name} exited (${how})`);
      return;
    }
    const ranMs = Date.now() - e.startedAt;
    const next = afterExit({ code, ranMs, lastDelayMs: e.lastDelayMs, autoRestart: this.options.autoRestart });
    if (next.action === 'restart') {
      e.lastDelayMs = next.delayMs;
      this.options.log(`${name} exited (${how}) after ${(ranMs / 1000).toFixed(1)} s; starting it again in ${next.delayMs / 1000} s on its data dir`);
      e.timer = setTimeout(() => this.#start(name), next.delayMs);
      return;
    }
    e.refused = next.refused;
    if (next.refused && e.spec.essential) {
      this.options.log(`${name} refused to start (${how}); see its lines above`);
      this.stopAll(1);
      return;
    }
    this.options.log(next.refused
      ? `${name} refused to start (${how}); left down: fix the cause (see its lines above), then send SIGUSR2 to pid ${process.pid} to start it again`
      : `${name} exited (${how}); left down (--no-restart): send SIGUSR2 to pid ${process.pid} to start every process that is down`);
    const nodes = [...this.#entries.values()].filter((x) => !x.spec.essential);
    if (nodes.every((x) => x.child === null && x.timer === null && x.refused)) {
      this.options.log('no node could start');
      this.stopAll(1);
    }
  }
}

/** Copies `from` to `to` line by line, each prefixed, so a long line read in two chunks stays one line. */
function relayLines(from, to, prefix) {
  let partial = '';
  // Decoded as a stream, so a character split between two chunks stays whole.
  from.setEncoding('utf8');
  from.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line !== '') to.write(prefix + line + '\n');
  });
  from.on('end', () => {
    if (partial !== '') to.write(prefix + partial + '\n');
  });
}
