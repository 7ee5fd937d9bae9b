#!/usr/bin/env node
// npm run cluster: three scheduled-db nodes on 127.0.0.1 (API 8081-8083, Raft 7001-7003) and nginx on :8080, each
// restarted on its own data dir when it dies; Ctrl-C stops all. `npm run cluster -- --help` lists the options.
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allocatorEnv, ensureJemalloc } from './allocator.mjs';
import { pointAt } from './nginx-conf.mjs';
import { LeftBehindError, stopLeftBehind } from './left-behind.mjs';
import { Supervisor } from './supervisor.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'dist', 'main.js');

const usage = `usage: npm run cluster [-- options]
  --lb-port N          nginx's port (8080)
  --http-ports A,B,C   the nodes' client ports (8081,8082,8083)
  --raft-ports A,B,C   the nodes' Raft ports (7001,7002,7003)
  --data-dir DIR       the nodes' data dirs and nginx's files go under DIR (./data/cluster)
  --no-restart         leave a process that dies down (SIGUSR2 to the launcher starts it again)
A process that dies is started again on its own data dir after 1 s (doubling up to 30 s while it keeps dying), as a
container's restart policy would; one that exits with an error within 10 s of its start refused to start and is
left down. Each process's pid is in DIR/<name>.pid (node1, node2, node3, nginx), the launcher's in DIR/launcher.pid;
processes a launcher killed with -9 left running on DIR are found by those files and stopped first.
Environment: CLUSTER_NODE_ARGS adds node flags to every node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
ALLOCATOR: the nodes' malloc. auto (the default) installs Debian's libjemalloc2 on first use, as nginx, and preloads
it, or runs on glibc's malloc if that fails; jemalloc requires it; glibc never preloads it.`;

function log(line) {
  process.stdout.write(`[cluster] ${line}\n`);
}

function fail(message) {
  process.stderr.write(`npm run cluster: ${message}\n${usage}\n`);
  process.exit(2);
}

/** @returns {number[]} */
function ports(value, name, count) {
  const list = value.split(',').map((p) => p.trim());
  if (list.length !== count) fail(`--${name} takes ${count} port${count === 1 ? '' : 's'}, got "${value}"`);
  return list.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) fail(`--${name}: "${p}" is not a port (1-65535)`);
    return n;
  });
}

let args;
try {
  args = parseArgs({
    options: {
      'lb-port': { type: 'string', default: '8080' },
      'http-ports': { type: 'string', default: '8081,8082,8083' },
      'raft-ports': { type: 'string', default: '7001,7002,7003' },
      'data-dir': { type: 'string', default: join(root, 'data', 'cluster') },
      'no-restart': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (err) {
  fail(err.message);
}
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const [lbPort] = ports(args['lb-port'], 'lb-port', 1);
const httpPorts = ports(args['http-ports'], 'http-ports', 3);
const raftPorts = ports(args['raft-ports'], 'raft-ports', 3);
const all = [lbPort, ...httpPorts, ...raftPorts];
if (new Set(all).size !== all.length) fail(`every port must differ: ${all.join(', ')}`);
const dataDirGiven = resolve(args['data-dir']);
const nodes = [0, 1, 2].map((i) => ({ id: `node${i + 1}`, http: httpPorts[i], raft: raftPorts[i] }));
const peers = nodes.map((n) => `${n.id}=127.0.0.1:${n.raft}`).join(',');

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

/** The pid in `file` if it names a running launcher (not a stale file, not a pid the system gave to another process). */
function runningLauncher(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return null; // None, or removed as we looked.
  }
  const pid = /^\d+$/.test(text) ? Number(text) : 0;
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('launch.mjs') ? pid : null;
  } catch {
    return null; // Gone, or not Linux: a stale file is the likelier case.
  }
}

// A second launcher on the same data dir would overwrite the first one's pid files, and its nodes would find
// their stores locked by the first one's. The pid file is linked into place with its content already written, so
// two launchers started at the same moment cannot both claim it, nor read it empty.
mkdirSync(dataDirGiven, { recursive: true });
// The real path: what the nodes are given as DATA_DIR and what /proc shows, however the dir was named.
const dataDir = realpathSync(dataDirGiven);
const launcherPid = join(dataDir, 'launcher.pid');
function claim() {
  const mine = `${launcherPid}.${process.pid}`;
  writeFileSync(mine, `${process.pid}\n`);
  try {
    linkSync(mine, launcherPid);
    return true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
    return false;
  } finally {
    rmSync(mine, { force: true });
  }
}
/** Moves a stale launcher.pid aside, if it still names the dead launcher `pid`; false if another launcher took it. */
function takeOverStale(pid) {
  const aside = `${launcherPid}.stale.${process.pid}`;
  try {
    renameSync(launcherPid, aside);
  } catch (err) {
    if (err.code === 'ENOENT') return true; // Someone moved it first; the claim decides.
    throw err;
  }
  const moved = readFileSync(aside, 'utf8').trim();
  if (moved === String(pid)) {
    rmSync(aside, { force: true });
    return true;
  }
  // A live launcher claimed it between the look and the move: put its file back.
  try {
    linkSync(aside, launcherPid);
  } catch {
    // Claimed again meanwhile.
  }
  rmSync(aside, { force: true });
  return false;
}
if (!claim()) {
  let text = '';
  try {
    text = readFileSync(launcherPid, 'utf8').trim();
  } catch (err) {
    if (err.code !== 'ENOENT') throw err; // Gone as we looked: the second claim decides.
  }
  const other = runningLauncher(launcherPid);
  if (other !== null || !takeOverStale(text) || !claim()) {
    process.stderr.write(`npm run cluster: another launcher (pid ${other ?? runningLauncher(launcherPid) ?? '?'}) runs on ${dataDir}; ` +
      'stop it first, or give this one --data-dir\n');
    process.exit(1);
  }
}
process.on('exit', () => {
  try {
    if (readFileSync(launcherPid, 'utf8').trim() === String(process.pid)) rmSync(launcherPid, { force: true });
  } catch {
    // Removed already.
  }
});

/** @type {Supervisor | null} */
let supervisor = null;
const stopAll = (code) => (supervisor === null ? process.exit(code) : supervisor.stopAll(code));
// SIGHUP (the terminal closed) stops everything, as it stopped the launcher before it supervised anything.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stopAll(0));
// Node ignores SIGPIPE: when whoever reads the launcher's output goes away (a closed pipe), stop everything rather
// than leave the processes running with no one to see them.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => stopAll(1));
// A launcher that dies leaves its processes running unsupervised: on a bug of its own, stop them first.
for (const event of ['uncaughtException', 'unhandledRejection']) {
  process.on(event, (err) => {
    process.stderr.write(`[cluster] ${event}: ${err?.stack ?? err}\n`);
    stopAll(1);
  });
}
process.on('SIGUSR2', () => supervisor?.startDown());

if (!existsSync(main)) {
  process.stderr.write('dist/main.js is missing: run npm install (it builds through prepare) or npm run build\n');
  process.exit(1);
}
// Extra node flags for every node, e.g. CLUSTER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (NODE_OPTIONS refuses those).
const nodeArgs = (process.env.CLUSTER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const nginx = ensureNginx();
let nodeAllocatorEnv;
try {
  ensureJemalloc(process.env, log);
  nodeAllocatorEnv = allocatorEnv(process.env);
} catch (err) {
  process.stderr.write(`npm run cluster: ${err.message}\n`);
  process.exit(2);
}
const nginxPrefix = join(dataDir, 'nginx');
for (const dir of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(nginxPrefix, dir), { recursive: true });
// cluster/nginx.conf as shipped, pointed at this run's ports (the same text with the default ports).
const nginxConf = join(nginxPrefix, 'nginx.conf');
const nginxLog = join(nginxPrefix, 'error.log');

// A launcher killed with -9 could not stop its processes: they hold the ports and the stores' locks, and no one
// restarts them. Stop them before starting new ones.
try {
  await stopLeftBehind([
    ...nodes.map((n) => ({
      name: n.id, pidFile: join(dataDir, `${n.id}.pid`), group: false,
      owns: ({ cmdline, environ }) => cmdline().includes(main) && environ().includes(`DATA_DIR=${join(dataDir, n.id)}`),
    })),
    // nginx's master and its workers all hold its error log open (a worker's title names no path).
    // Its title first, which anyone may read; its open files only then.
    { name: 'nginx', pidFile: join(dataDir, 'nginx.pid'), group: true,
      owns: ({ cmdline, files }) => (cmdline()[0] ?? '').startsWith('nginx: ') && files().includes(nginxLog) },
  ], log);
} catch (err) {
  if (!(err instanceof LeftBehindError)) throw err;
  process.stderr.write(`npm run cluster: a process a launcher left running on ${dataDir} could not be stopped: ${err.message}\n`);
  process.exit(1);
}
writeFileSync(nginxConf, pointAt(readFileSync(join(root, 'cluster', 'nginx.conf'), 'utf8'), httpPorts, lbPort));

supervisor = new Supervisor({
  cwd: root, autoRestart: !args['no-restart'], log,
  exit: (code) => process.exit(code),
});

for (const n of nodes) {
  mkdirSync(join(dataDir, n.id), { recursive: true });
  supervisor.add({
    name: n.id, command: process.execPath, essential: false, group: false, pidFile: join(dataDir, `${n.id}.pid`),
    // As `npm start`: V8's young generation at half its default size (see the README's Performance section).
    args: ['--max-semi-space-size=8', ...nodeArgs, main],
    env: {
      NODE_ID: n.id, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(n.http), RAFT_HOST: '127.0.0.1', RAFT_PORT: String(n.raft),
      ADVERTISE_HOST: '127.0.0.1', PEERS: peers, BOOTSTRAP_EXPECT: '3', DATA_DIR: join(dataDir, n.id),
      // As `npm start`: jemalloc when installed, else glibc's malloc with two arenas (cluster/allocator.mjs).
      ...nodeAllocatorEnv,
    },
  });
}
supervisor.add({
  name: 'nginx', command: nginx, essential: true, group: true, pidFile: join(dataDir, 'nginx.pid'),
  args: ['-p', `${nginxPrefix}/`, '-c', nginxConf, '-e', nginxLog], env: {},
});
log(`nodes on http://127.0.0.1:${httpPorts.join(', :')}, nginx on http://127.0.0.1:${lbPort}; pids in ${dataDir}/*.pid; ` +
  `${args['no-restart'] ? 'a process that dies stays down (SIGUSR2 starts it again)' : 'a process that dies is started again'}; Ctrl-C stops all of it`);
