// What a launcher killed with -9 left running. It could not stop its processes, and they hold the ports and the
// stores' locks with no one to restart them, so the next launcher on the data dir finds them by the pid files and
// stops them before it starts its own.
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { stopGraceMs } from './supervisor.mjs';

/** How long a SIGKILLed process may take to be gone before the launcher gives up rather than start beside it. */
const killWaitMs = 5_000;

/** A process that may be one of ours but cannot be checked or signalled (another user's, say): stop, say which. */
export class LeftBehindError extends Error {}

/**
 * @typedef {{ cmdline: () => string[], environ: () => string[], files: () => string[] }} ProcView
 *   What /proc shows of a process, read when asked: `files` are the targets of its open file descriptors.
 * @typedef {{ name: string, pidFile: string, group: boolean, owns: (proc: ProcView) => boolean }} LeftSpec
 *   `group`: the pid file names a process group's leader (nginx's master), whose members (its workers) outlive it
 *   when it is killed, so every member `owns` recognizes is stopped, the leader too if it still runs.
 */

/**
 * Stops the processes of `specs` that their pid files name and that `owns` recognizes by their /proc entries: a pid
 * the system gave to another process since is left alone. SIGTERM first, SIGKILL to what still runs after
 * `graceMs` (a stop's grace by default); resolves once all are gone, with the names it stopped.
 * @param {LeftSpec[]} specs
 * @param {(line: string) => void} log
 * @param {number} [graceMs]
 * @returns {Promise<string[]>}
 */
export async function stopLeftBehind(specs, log, graceMs = stopGraceMs) {
  /** @type {{ spec: LeftSpec, pid: number, start: string }[]} */
  const found = [];
  // Every check first: one that throws leaves nothing half stopped.
  for (const spec of specs) {
    const pid = pidIn(spec.pidFile);
    // A process whose parent is a running launcher is supervised, not left behind: one started at the same moment
    // on this data dir may have written the pid file.
    if (pid === null || supervised(pid)) continue;
    found.push(...(spec.group ? groupMembers(pid) : [pid]).flatMap((p) => {
      const start = startTime(p);
      // Checked against the start time before and after, so a pid that changed hands meanwhile is not counted.
      return start !== null && spec.owns(viewOf(p, spec.pidFile)) && startTime(p) === start ? [{ spec, pid: p, start }] : [];
    }));
  }
  for (const spec of specs) {
    const mine = found.filter((m) => m.spec === spec).map((m) => m.pid);
    if (mine.length > 0) log(`${spec.name} (pid ${mine.join(', ')}) was left running by a launcher that died; stopping it`);
  }
  const refused = [];
  const send = (m, name) => {
    const problem = signal(m, name);
    if (problem !== null) refused.push(problem);
  };
  const still = () => found.filter((m) => startTime(m.pid) === m.start);
  for (const m of found) send(m, 'SIGTERM');
  await waitUntil(() => still().length === 0, graceMs);
  for (const m of still()) {
    log(`${m.spec.name} (pid ${m.pid}) still running after ${graceMs / 1000} s: SIGKILL`);
    send(m, 'SIGKILL');
  }
  await waitUntil(() => still().length === 0, killWaitMs);
  const left = still();
  if (refused.length > 0 || left.length > 0) {
    throw new LeftBehindError([...new Set(refused), ...(left.length > 0 ? [`pid ${left.map((m) => m.pid).join(', ')} still running`] : [])].join('; '));
  }
  const names = [...new Set(found.map((m) => m.spec.name))];
  for (const spec of specs) if (names.includes(spec.name)) rmSync(spec.pidFile, { force: true });
  return names;
}

async function waitUntil(done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** The pid a pid file names, or null (no file, or not a pid). */
function pidIn(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
  return /^\d+$/.test(text) && Number(text) > 1 ? Number(text) : null;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces), or null when there is no such process. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * When the process started (clock ticks since boot), which with the pid names one process for good; null when it
 * is gone, or a zombie: an orphan that exited stays one until whoever adopted it reaps it.
 */
function startTime(pid) {
  const fields = statFields(pid);
  return fields === null || fields[0] === 'Z' ? null : (fields[19] ?? null);
}

/** Whether `pid`'s parent is a running launcher (its workers' parent is nginx's master: the master is checked). */
function supervised(pid) {
  const parent = statFields(pid)?.[1];
  if (parent === undefined) return false;
  try {
    return readFileSync(`/proc/${parent}/cmdline`, 'utf8').includes('launch.mjs');
  } catch {
    return false;
  }
}

/** Every process whose process group is `pgid`. */
function groupMembers(pgid) {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => statFields(p)?.[2] === String(pgid));
}

/** @returns {ProcView} */
function viewOf(pid, pidFile) {
  const read = (what, fn) => {
    try {
      return fn();
    } catch (err) {
      if (err.code === 'ENOENT' || err.code === 'ESRCH') return []; // It exited meanwhile: it owns nothing.
      throw new LeftBehindError(`cannot read /proc/${pid}/${what} (${err.code}): pid ${pid} of ${pidFile} may be a ` +
        'process of this cluster run by another user; stop it yourself');
    }
  };
  const split = (name) => read(name, () => readFileSync(`/proc/${pid}/${name}`, 'utf8').split('\0').filter((s) => s !== ''));
  return {
    cmdline: () => split('cmdline'),
    environ: () => split('environ'),
    files: () => read('fd', () => readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        return [readlinkSync(`/proc/${pid}/fd/${fd}`)];
      } catch {
        return []; // Closed meanwhile.
      }
    })),
  };
}

/** Sends `name` to the process, unless its pid changed hands; a refusal (EPERM) is returned, described. */
function signal(m, name) {
  if (startTime(m.pid) !== m.start) return null;
  try {
    process.kill(m.pid, name);
    return null;
  } catch (err) {
    return err.code === 'ESRCH' ? null : `cannot signal ${m.spec.name} (pid ${m.pid}): ${err.code}`;
  }
}
