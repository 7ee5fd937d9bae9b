// Who holds a LevelDB LOCK, from /proc/locks: a database another process has open names that process, one closed
// or never opened names none, and the kernel's lines and device numbers are read as the kernel writes them.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ClassicLevel } from 'classic-level';
import t from 'tap';
import { deviceNumbers, LevelDbInUseError, lockHolder, parseLockLine, refuseIfLocked } from '../../src/leveldb/lock-holder.js';

/** glibc's makedev: the inverse of deviceNumbers. */
function makedev(major: bigint, minor: bigint): bigint {
  return (minor & 0xffn) | ((major & 0xfffn) << 8n) | ((minor & ~0xffn) << 12n) | ((major & ~0xfffn) << 32n);
}

t.test('device numbers come apart as glibc puts them together, small and large', async (t) => {
  t.same(deviceNumbers(0xfe00n), { major: 0xfe, minor: 0 }, 'a virtio disk, as stat reports it here');
  t.same(deviceNumbers(0x803n), { major: 8, minor: 3 });
  for (const [major, minor] of [[259n, 1048575n], [4095n, 255n], [4096n, 256n], [0n, 0n], [1_000_000n, 700_000n]] as const) {
    t.same(deviceNumbers(makedev(major, minor)), { major: Number(major), minor: Number(minor) }, `${major}:${minor}`);
  }
});

t.test('a held POSIX lock parses; a waiter, another kind of lock or a stray line does not', async (t) => {
  t.same(parseLockLine('1: POSIX  ADVISORY  WRITE 7423 fe:00:2163600 0 EOF'), { pid: 7423, major: 0xfe, minor: 0, inode: 2163600n });
  t.same(parseLockLine('12: POSIX  ADVISORY  READ 0 103:0a:99 0 EOF'), { pid: 0, major: 0x103, minor: 0x0a, inode: 99n });
  t.equal(parseLockLine('1: -> POSIX  ADVISORY  WRITE 7424 fe:00:2163600 0 EOF'), null, 'a process waiting for the lock holds nothing');
  t.equal(parseLockLine('2: FLOCK  ADVISORY  WRITE 300 fe:00:2163600 0 EOF'), null);
  t.equal(parseLockLine('3: OFDLCK ADVISORY  WRITE -1 fe:00:2163600 0 EOF'), null);
  t.equal(parseLockLine(''), null);
  t.equal(parseLockLine('POSIX ADVISORY WRITE 1 fe:00:1 0 EOF'), null);
});

t.test('a database another process has open names that process, and none once it has closed it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(await lockHolder(join(dir, 'never-opened')), null, 'no directory');
  t.equal(await lockHolder(dir), null, 'a directory without a LOCK');
  const db = new ClassicLevel(join(dir, 'db'));
  await db.open();
  await db.close();
  t.equal(await lockHolder(join(dir, 'db')), null, 'a LOCK file nobody holds');
  await refuseIfLocked(join(dir, 'db'));

  const holder = spawn(process.execPath, ['-e', `
    const { ClassicLevel } = require('classic-level');
    const db = new ClassicLevel(process.argv[1]);
    db.open().then(() => process.stdout.write('open\\n'));
    process.stdin.on('end', () => db.close().then(() => process.exit(0)));
    process.stdin.resume();`, join(dir, 'db')], { cwd: join(import.meta.dirname, '..', '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await once(holder.stdout, 'data');
  t.equal(await lockHolder(join(dir, 'db')), holder.pid, "the holder's pid");
  const err = await refuseIfLocked(join(dir, 'db')).then(() => null, (e: unknown) => e);
  t.ok(err instanceof LevelDbInUseError);
  t.equal((err as LevelDbInUseError).code, 'store_in_use');
  t.equal((err as Error).message, `${join(dir, 'db')}: in use by another process (pid ${holder.pid}), which holds its LevelDB LOCK: `
    + 'is another node running with this DATA_DIR?');

  holder.stdin.end();
  await once(holder, 'exit');
  t.equal(await lockHolder(join(dir, 'db')), null, 'released when the holder closed the database');
});

t.test('a pid the kernel hides from this namespace still refuses, without naming one', async (t) => {
  t.equal(new LevelDbInUseError('/d', 0).message, '/d: in use by another process, which holds its LevelDB LOCK: is another node running with this DATA_DIR?');
});
