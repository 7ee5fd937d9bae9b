// cluster/left-behind.mjs with stand-in processes: what a launcher killed with -9 left running is found by its pid
// files and stopped; a pid that is not that process, or that a running launcher supervises, is left alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stopLeftBehind, type ProcView } from '../../cluster/left-behind.mjs';
import { alive, killQuietly } from './process-cluster.js';

/** A node process running `script`, marked by LEFT_MARK in its environment; resolves once it printed its first line. */
async function standIn(mark: string, script: string, args: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['-e', script, ...args], {
    env: { ...process.env, LEFT_MARK: mark }, stdio: ['ignore', 'pipe', 'inherit'], detached: true,
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
    });
    child.once('exit', (code) => reject(new Error(`stand-in ${mark} exited (${code}) before it was ready`)));
  });
  return { child, line };
}

const idle = "setInterval(() => {}, 1000); console.log('ready');";
const deaf = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');";
/** Starts a child that outlives it (its "worker", in its process group), prints the child's pid, and idles. */
const master = `const { spawn } = require('node:child_process');
const w = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
setInterval(() => {}, 1000); console.log(w.pid);`;

const owns = (mark: string) => ({ environ }: ProcView) => environ().includes(`LEFT_MARK=${mark}`);

t.test('the processes a killed launcher left are stopped by their pid files; only a pid /proc shows to be one of them counts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-left-'));
  const polite = await standIn('polite', idle);
  const stubborn = await standIn('stubborn', deaf);
  const other = await standIn('other', idle);
  t.teardown(() => {
    for (const c of [polite, stubborn, other]) killQuietly(c.child.pid);
    rmSync(dir, { recursive: true, force: true });
  });
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, `${name}.pid`), text);
    return join(dir, `${name}.pid`);
  };
  const lines: string[] = [];
  const politeExit = new Promise<NodeJS.Signals | null>((resolve) => polite.child.once('exit', (_code, signal) => resolve(signal)));
  // A long grace: the polite one must go on SIGTERM alone, however loaded the machine.
  const stopped = await stopLeftBehind([
    { name: 'polite', pidFile: file('polite', `${polite.child.pid}\n`), group: false, owns: owns('polite') },
    // A pid file naming a live process that is not the one it was written for (the pid was given to another).
    { name: 'reused', pidFile: file('reused', `${other.child.pid}\n`), group: false, owns: owns('reused') },
    { name: 'garbage', pidFile: file('garbage', 'not a pid'), group: false, owns: () => true },
    { name: 'missing', pidFile: join(dir, 'missing.pid'), group: false, owns: () => true },
  ], (line) => lines.push(line), 30_000);
  t.same(stopped, ['polite']);
  t.equal(await politeExit, 'SIGTERM', 'SIGTERM stopped the one that stops on it');
  t.ok(alive(other.child.pid!), 'a process its pid file names but that is not it is left alone');
  t.ok(existsSync(join(dir, 'reused.pid')), 'its pid file stays');
  t.same(await stopLeftBehind([{ name: 'stubborn', pidFile: file('stubborn', `${stubborn.child.pid}\n`), group: false, owns: owns('stubborn') }],
    (line) => lines.push(line), 500), ['stubborn']);
  t.notOk(alive(stubborn.child.pid!), 'SIGKILL after the grace stopped the one that ignores SIGTERM');
  t.notOk(existsSync(join(dir, 'polite.pid')) || existsSync(join(dir, 'stubborn.pid')), 'the stopped ones\' pid files are removed');
  t.match(lines.join('\n'), new RegExp(`polite \\(pid ${polite.child.pid}\\) was left running by a launcher that died; stopping it`));
  t.match(lines.join('\n'), new RegExp(`stubborn \\(pid ${stubborn.child.pid}\\) still running after 0.5 s: SIGKILL`));
});

t.test('a process group (nginx): its members are stopped with its leader, and without it once the leader is gone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-left-'));
  const a = await standIn('group-a', master);
  const b = await standIn('group-b', master);
  const workerA = Number(a.line);
  const workerB = Number(b.line);
  t.teardown(() => {
    for (const p of [a.child.pid, b.child.pid, workerA, workerB]) killQuietly(p);
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'a.pid'), `${a.child.pid}\n`);
  writeFileSync(join(dir, 'b.pid'), `${b.child.pid}\n`);
  // b's master dies first (as a kill -9 of nginx's master would leave it): its worker still holds the port.
  process.kill(b.child.pid!, 'SIGKILL');
  await new Promise((r) => b.child.once('exit', r));
  t.ok(alive(workerB), 'the worker outlives its master');
  const lines: string[] = [];
  const stopped = await stopLeftBehind([
    { name: 'a', pidFile: join(dir, 'a.pid'), group: true, owns: owns('group-a') },
    { name: 'b', pidFile: join(dir, 'b.pid'), group: true, owns: owns('group-b') },
  ], (line) => lines.push(line), 2000);
  t.same(stopped, ['a', 'b']);
  t.same([a.child.pid!, workerA, workerB].filter(alive), [], 'both groups are gone, the masterless worker too');
  t.match(lines.join('\n'), new RegExp(`a \\(pid (${a.child.pid}, ${workerA}|${workerA}, ${a.child.pid})\\) was left running`));
  t.match(lines.join('\n'), new RegExp(`b \\(pid ${workerB}\\) was left running`));
});

t.test('a process a running launcher supervises is not left behind, even when its pid file says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-left-'));
  // A stand-in launcher: "launch.mjs" in its command line, and a child of its own.
  const launcher = await standIn('launcher', master, [join(dir, 'launch.mjs')]);
  const child = Number(launcher.line);
  t.teardown(() => {
    for (const p of [launcher.child.pid, child]) killQuietly(p);
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'node1.pid'), `${child}\n`);
  const stopped = await stopLeftBehind([{ name: 'node1', pidFile: join(dir, 'node1.pid'), group: false, owns: owns('launcher') }], () => {}, 500);
  t.same(stopped, []);
  t.ok(alive(child), 'it still runs');
});
