// A strong read on a follower whose requests to the leader are lost must answer (a 503 the client can retry
// elsewhere) rather than wait forever for a read point no leader will send. Real processes, real proxies; the
// scenario is follower-read.ts, run in a child process without V8 coverage as faults.test.ts runs its own.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';

const rootDir = join(import.meta.dirname, '..', '..');

t.test('a strong read on a follower cut off from the leader answers 503 no_leader in seconds', async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_V8_COVERAGE'];
  const child = spawn(process.execPath, ['--import', 'tsx', join(rootDir, 'test', 'faults', 'follower-read.ts')],
    { cwd: rootDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.equal(code, 0, 'the scenario ran to its end');
  const line = output.trimEnd().split('\n').at(-1) ?? '';
  let result: { before?: unknown; cut?: unknown; cutMs?: number; after?: unknown } = {};
  try {
    result = JSON.parse(line) as typeof result;
  } catch (_err) {
    t.fail(`no result line; output: ${output.slice(-2000)}`);
  }
  t.match(result.before, { status: 404, code: 'job_not_found' }, 'a strong read on the follower is served while its links pass');
  t.match(result.cut, { status: 503, code: 'no_leader' }, 'cut off, it answers 503 no_leader');
  t.ok((result.cutMs ?? Infinity) < 10_000, `within seconds (${result.cutMs} ms), not at the client's timeout (20 s)`);
  t.match(result.after, { status: 404, code: 'job_not_found' }, 'and is served again once the links heal');
});
