// The scheduled-db command: --help, a bad value, a setting this version cannot honour and a port or DATA_DIR the
// machine refuses each end with a clear exit.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { unauthenticatedPeerPortWarning } from '../src/node.js';
import { makePki } from './tls-certs.js';

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

/** A port held open by this process for the test, so a node started on it finds it in use. */
async function heldPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

t.test('a port in use or a DATA_DIR that is a file stops the start with one line naming the setting, exit code 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const http = await heldPort();
  const raft = await heldPort();
  t.teardown(() => {
    http.server.close();
    raft.server.close();
  });
  const hosts = { LOG_LEVEL: 'silent', HTTP_HOST: '127.0.0.1', RAFT_HOST: '127.0.0.1', ADVERTISE_HOST: '127.0.0.1' };

  const raftInUse = run([], { ...hosts, DATA_DIR: join(dir, 'a'), HTTP_PORT: String(http.port), RAFT_PORT: String(raft.port) });
  t.equal(raftInUse.code, 1);
  t.equal(raftInUse.stderr, `scheduled-db: cannot start: RAFT_HOST:RAFT_PORT 127.0.0.1:${raft.port}: listen EADDRINUSE: address already in use 127.0.0.1:${raft.port}\n`);

  // The Raft port free (it is closed first), the HTTP port still held.
  await new Promise<void>((resolve) => raft.server.close(() => resolve()));
  const httpInUse = run([], { ...hosts, DATA_DIR: join(dir, 'b'), HTTP_PORT: String(http.port), RAFT_PORT: String(raft.port) });
  t.equal(httpInUse.code, 1);
  t.equal(httpInUse.stderr, `scheduled-db: cannot start: HTTP_HOST:HTTP_PORT 127.0.0.1:${http.port}: listen EADDRINUSE: address already in use 127.0.0.1:${http.port}\n`);

  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory');
  const notDir = run([], { ...hosts, DATA_DIR: file, HTTP_PORT: String(http.port), RAFT_PORT: String(raft.port) });
  t.equal(notDir.code, 1);
  t.match(notDir.stderr, new RegExp(`^scheduled-db: cannot start: DATA_DIR ${file}: EEXIST: file already exists, mkdir '${file}'\n$`));
});

t.test('a DATA_DIR another running process has open is refused as in use, naming it, even where its tables look damaged', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdb-main-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const state = join(dataDir, 'state');
  // A store with a table: LevelDB turns the write-ahead log into one when it opens the database again.
  const db = new ClassicLevel(state);
  await db.put('k', 'v'.repeat(1000));
  await db.close();
  await db.open();
  await db.close();
  const holder = spawn(process.execPath, ['-e', `
    const db = new (require('classic-level').ClassicLevel)(process.argv[1]);
    db.open().then(() => process.stdout.write('open\\n'));
    process.stdin.resume();`, state], { cwd: join(import.meta.dirname, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await once(holder.stdout, 'data');
  // What a node's compaction does under a second node's table check: a live table goes away.
  const tables = readdirSync(state).filter((f) => f.endsWith('.ldb'));
  t.ok(tables.length > 0, 'the store has a table');
  for (const table of tables) rmSync(join(state, table));
  const r = run([], { LOG_LEVEL: 'silent', DATA_DIR: dataDir, HTTP_HOST: '127.0.0.1', RAFT_HOST: '127.0.0.1', ADVERTISE_HOST: '127.0.0.1' });
  t.equal(r.code, 1);
  t.equal(r.stderr, `scheduled-db: cannot start: ${state}: in use by another process (pid ${holder.pid}), which holds its LevelDB LOCK: `
    + 'is another node running with this DATA_DIR?\n');
});

t.test('a TLS file that cannot be read or holds no key, certificate or CA stops the start with one line naming it, exit code 2', async (t) => {
  const pki = makePki('main');
  t.teardown(() => pki.remove());
  const garbage = join(pki.dir, 'garbage.pem');
  writeFileSync(garbage, 'not a PEM file\n');
  const missing = join(pki.dir, 'missing.pem');
  const start = (env: Record<string, string>) => run([], { LOG_LEVEL: 'silent', DATA_DIR: join(pki.dir, 'data'), ...env });

  const unread = start({ TLS_CERT_FILE: missing, TLS_KEY_FILE: pki.keyFile });
  t.equal(unread.code, 2);
  t.equal(unread.stderr, `config: TLS_CERT_FILE ${missing}: cannot be read: ENOENT: no such file or directory, open '${missing}'\n`);

  const badCert = start({ TLS_CERT_FILE: garbage, TLS_KEY_FILE: pki.keyFile });
  t.equal(badCert.code, 2);
  t.match(badCert.stderr, new RegExp(`^config: TLS_CERT_FILE ${garbage}: [^\n]+\n$`));

  const badKey = start({ TLS_CERT_FILE: pki.certFile, TLS_KEY_FILE: garbage });
  t.equal(badKey.code, 2);
  t.match(badKey.stderr, new RegExp(`^config: TLS_KEY_FILE ${garbage}: [^\n]+\n$`));

  // The CA's key with the node's certificate: each file good on its own, not together.
  const mismatch = start({ TLS_CERT_FILE: pki.certFile, TLS_KEY_FILE: join(pki.dir, 'ca.key') });
  t.equal(mismatch.code, 2);
  t.match(mismatch.stderr, new RegExp(`^config: TLS_KEY_FILE ${join(pki.dir, 'ca.key')} does not go with TLS_CERT_FILE ${pki.certFile}: [^\n]*mismatch[^\n]*\n$`));

  const badCa = start({ PEER_TLS_CERT_FILE: pki.certFile, PEER_TLS_KEY_FILE: pki.keyFile, PEER_TLS_CA_FILE: garbage });
  t.equal(badCa.code, 2);
  t.match(badCa.stderr, new RegExp(`^config: PEER_TLS_CA_FILE ${garbage}: holds no CA certificate: [^\n]+\n$`));
});
