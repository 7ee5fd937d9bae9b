// cluster/supervisor.mjs's restart policy: when a process that exited on its own starts again, or stays down.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { afterExit, refusalWindowMs, stopLeftBehind } from '../../cluster/supervisor.mjs';

t.test('a process that dies is started again, the delay doubling while it keeps dying, back to 1 s once it ran a minute', async (t) => {
  const delays: number[] = [];
  let last = 0;
  for (let i = 0; i < 7; i++) {
    const next = afterExit({ code: null, ranMs: 15_000, lastDelayMs: last, autoRestart: true });
    if (next.action !== 'restart') throw new Error(`expected a restart, got ${JSON.stringify(next)}`);
    delays.push(next.delayMs);
    last = next.delayMs;
  }
  t.same(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  t.same(afterExit({ code: null, ranMs: 60_000, lastDelayMs: 30_000, autoRestart: true }), { action: 'restart', delayMs: 1000 });
  t.same(afterExit({ code: 0, ranMs: 500, lastDelayMs: 0, autoRestart: true }), { action: 'restart', delayMs: 1000 },
    'an exit with code 0 (a SIGTERM hand-over) is not a refusal, however soon');
  t.same(afterExit({ code: 1, ranMs: refusalWindowMs, lastDelayMs: 0, autoRestart: true }), { action: 'restart', delayMs: 1000 },
    'an error after the window is a crash, started again');
});

t.test('an error exit soon after the start is a refusal, left down; --no-restart leaves every exit down', async (t) => {
  t.same(afterExit({ code: 1, ranMs: 300, lastDelayMs: 0, autoRestart: true }), { action: 'down', refused: true });
  t.same(afterExit({ code: 1, ranMs: refusalWindowMs - 1, lastDelayMs: 4000, autoRestart: true }), { action: 'down', refused: true });
  t.same(afterExit({ code: null, ranMs: 300, lastDelayMs: 0, autoRestart: true }).action, 'restart', 'a kill -9 right after the start is no refusal');
  t.same(afterExit({ code: null, ranMs: 30_000, lastDelayMs: 0, autoRestart: false }), { action: 'down', refused: false });
  t.same(afterExit({ code: 1, ranMs: 300, lastDelayMs: 0, autoRestart: false }), { action: 'down', refused: true });
});

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch (_err) {
    return false;
  }
}

t.test('what a killed launcher left running is stopped by its pid files, and only what its /proc entry shows is it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-left-'));
  // Stand-ins for a node: one that stops on SIGTERM, one that ignores it; each marked by its environment.
  const start = (mark: string, ignoreTerm: boolean) => spawn(process.execPath,
    ['-e', `${ignoreTerm ? "process.on('SIGTERM', () => {});" : ''} setInterval(() => {}, 1000)`],
    { env: { ...process.env, LEFT_MARK: mark }, stdio: 'ignore', detached: true });
  const polite = start('polite', false);
  const stubborn = start('stubborn', true);
  const other = start('other', false);
  t.teardown(() => {
    for (const c of [polite, stubborn, other]) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise((r) => setTimeout(r, 300));
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, `${name}.pid`), text);
    return join(dir, `${name}.pid`);
  };
  const owns = (mark: string) => ({ environ }: { environ: string[] }) => environ.includes(`LEFT_MARK=${mark}`);
  const lines: string[] = [];
  const stopped = await stopLeftBehind([
    { name: 'polite', pidFile: file('polite', `${polite.pid}\n`), group: false, owns: owns('polite') },
    { name: 'stubborn', pidFile: file('stubborn', `${stubborn.pid}\n`), group: false, owns: owns('stubborn') },
    // A pid file naming a live process that is not the one it was written for (the pid was given to another).
    { name: 'reused', pidFile: file('reused', `${other.pid}\n`), group: false, owns: owns('reused') },
    { name: 'garbage', pidFile: file('garbage', 'not a pid'), group: false, owns: () => true },
    { name: 'missing', pidFile: join(dir, 'missing.pid'), group: false, owns: () => true },
  ], (line) => lines.push(line), 500);
  t.same(stopped, ['polite', 'stubborn']);
  t.notOk(alive(polite.pid!), 'SIGTERM stopped the one that stops on it');
  t.notOk(alive(stubborn.pid!), 'SIGKILL after the grace stopped the one that ignores it');
  t.ok(alive(other.pid!), 'a process its pid file names but that is not it is left alone');
  t.notOk(existsSync(join(dir, 'polite.pid')) || existsSync(join(dir, 'stubborn.pid')), 'the stopped ones\' pid files are removed');
  t.ok(existsSync(join(dir, 'reused.pid')), 'the other pid file stays');
  t.match(lines.join('\n'), new RegExp(`polite \\(pid ${polite.pid}\\) was left running by a launcher that died; stopping it`));
  t.match(lines.join('\n'), new RegExp(`stubborn \\(pid ${stubborn.pid}\\) still running after 0.5 s: SIGKILL`));
});
