// cluster/supervisor.mjs's restart policy: when a process that exited on its own starts again, or stays down.
import t from 'tap';
import { afterExit, refusalWindowMs } from '../../cluster/supervisor.mjs';

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
