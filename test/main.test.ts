// The scheduled-db command: --help, a bad value and a setting this version cannot honour each end with a clear exit.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { unauthenticatedPeerPortWarning } from '../src/node.js';

const main = join(import.meta.dirname, '..', 'src', 'main.ts');

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], {
    env: { PATH: process.env['PATH'] ?? '', DATA_DIR: '/nonexistent-never-created', ...env }, encoding: 'utf8', timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('--help prints every key and exits 0', async (t) => {
  const r = run(['--help']);
  t.equal(r.code, 0);
  for (const key of ['NODE_ID', 'PEERS', 'BOOTSTRAP_EXPECT', 'CLUSTER_SECRET', 'SNAPSHOT_COUNT', '--join']) t.match(r.stdout, key);
});

t.test('a bad value stops the node with one line naming the key and exit code 2', async (t) => {
  const r = run([], { HTTP_PORT: 'eighty' });
  t.equal(r.code, 2);
  t.equal(r.stderr, 'config: HTTP_PORT must be an integer 1-65535 (got "eighty")\n');
});

t.test('JWT and force-new-cluster are refused rather than silently ignored', async (t) => {
  const r = run(['--force-new-cluster'], { LOG_LEVEL: 'silent' });
  t.equal(r.code, 2);
  t.match(r.stderr, /^config: FORCE_NEW_CLUSTER is not supported by this version yet/);
  const jwt = run([], { LOG_LEVEL: 'silent', JWT_SECRET: 'k' });
  t.equal(jwt.code, 2);
  t.match(jwt.stderr, /JWT_SECRET is not supported/);
});

t.test('API_TOKENS without CLUSTER_SECRET or peer mTLS is warned about at start: the Raft port is still open', async (t) => {
  const config = (env: Record<string, string>) => loadConfig([], { DATA_DIR: '/nonexistent-never-created', ...env });
  t.match(unauthenticatedPeerPortWarning(config({ API_TOKENS: 'op' }), false), /set CLUSTER_SECRET/);
  t.equal(unauthenticatedPeerPortWarning(config({ API_TOKENS: 'op', CLUSTER_SECRET: 's3cret' }), false), null);
  t.equal(unauthenticatedPeerPortWarning(config({ API_TOKENS: 'op' }), true), null, 'peer mTLS authenticates peers');
  t.equal(unauthenticatedPeerPortWarning(config({}), false), null, 'no tokens: an open node by choice, nothing to warn of');
});
