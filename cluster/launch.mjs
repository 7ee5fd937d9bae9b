#!/usr/bin/env node
// npm run cluster: three scheduled-db nodes on 127.0.0.1 (API 8081-8083, Raft 7001-7003) and nginx on :8080; Ctrl-C stops all.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(root, 'data', 'cluster');
const main = join(root, 'dist', 'main.js');
const nodes = [1, 2, 3].map((i) => ({ id: `node${i}`, http: 8080 + i, raft: 7000 + i }));
const peers = nodes.map((n) => `${n.id}=127.0.0.1:${n.raft}`).join(',');
const children = [];

function log(line) {
  process.stdout.write(`[cluster] ${line}\n`);
}

function findNginx() {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Debian's nginx, installed on first use; the launcher runs it itself, never as a system service. */
function ensureNginx() {
  const found = findNginx();
  if (found !== null) return found;
  log("nginx not found; installing Debian's nginx package (apt-get install nginx-light or nginx)");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'nginx'], { stdio: 'inherit', env });
  // The package starts a system service on :80; this launcher does not use it.
  try {
    execFileSync('service', ['nginx', 'stop'], { stdio: 'ignore' });
  } catch {
    // No service manager here: nothing was started.
  }
  const installed = findNginx();
  if (installed === null) throw new Error('nginx is still missing after apt-get install');
  return installed;
}

function start(name, command, args, env) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[${name}] `;
  const relay = (stream) => (chunk) => {
    for (const line of chunk.toString().split('\n')) if (line !== '') stream.write(prefix + line + '\n');
  };
  child.stdout.on('data', relay(process.stdout));
  child.stderr.on('data', relay(process.stderr));
  child.on('exit', (code, signal) => {
    log(`${name} exited (${signal ?? code})`);
    if (!stopping) stopAll(1);
  });
  children.push(child);
  return child;
}

let stopping = false;
function stopAll(code) {
  if (stopping) return;
  stopping = true;
  log('stopping');
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    process.exit(code);
  }, 5000).unref();
  Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null
    : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
}

process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

if (!existsSync(main)) {
  process.stderr.write('dist/main.js is missing: run npm install (it builds through prepare) or npm run build\n');
  process.exit(1);
}
// Extra node flags for every node, e.g. CLUSTER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (NODE_OPTIONS refuses those).
const nodeArgs = (process.env.CLUSTER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const nginx = ensureNginx();
const nginxPrefix = join(dataDir, 'nginx');
for (const dir of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(nginxPrefix, dir), { recursive: true });
for (const n of nodes) {
  // As `npm start`: V8's young generation at half its default size (see the README's Performance section).
  start(n.id, process.execPath, ['--max-semi-space-size=8', ...nodeArgs, main], {
    NODE_ID: n.id, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(n.http), RAFT_HOST: '127.0.0.1', RAFT_PORT: String(n.raft),
    ADVERTISE_HOST: '127.0.0.1', PEERS: peers, BOOTSTRAP_EXPECT: '3', DATA_DIR: join(dataDir, n.id),
    // As `npm start`: two malloc arenas, not one per thread, and large blocks given back to the system when freed;
    // see the README's Performance section.
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
    MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
  });
}
start('nginx', nginx, ['-p', `${nginxPrefix}/`, '-c', join(root, 'cluster', 'nginx.conf'), '-e', join(nginxPrefix, 'error.log')], {});
log('nodes on http://127.0.0.1:8081-8083, nginx on http://127.0.0.1:8080; Ctrl-C stops all of it');
