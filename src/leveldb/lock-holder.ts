// Who holds a LevelDB database's LOCK, read from the kernel's table of file locks, without opening the database.
//
// LevelDB locks its LOCK file with fcntl(F_SETLK) while a process has the database open, and Node cannot try such
// a lock itself. The check of the tables runs before LevelDB opens a directory (and takes the lock), so on a
// directory another node has open, the check reads files that node is compacting, and could call a table it just
// replaced missing: damage, where the truth is "in use" (and the advice for damage, to rebuild the directory,
// would destroy the running node's data). Linux lists every such lock in /proc/locks, by device and inode.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The database's LOCK is held by a running process: most likely another node started with the same DATA_DIR. */
export class LevelDbInUseError extends Error {
  readonly code = 'store_in_use';

  constructor(dir: string, pid: number | null) {
    const by = pid === null || pid <= 0 ? 'another process' : `another process (pid ${pid})`;
    super(`${dir}: in use by ${by}, which holds its LevelDB LOCK: is another node running with this DATA_DIR?`);
    this.name = 'LevelDbInUseError';
  }
}

/**
 * The pid of the process holding `dir`'s LOCK (0 when the kernel does not show it to this process's pid namespace),
 * or null when none holds it, there is no LOCK file, or this system has no /proc/locks (LevelDB's own refusal
 * to open a locked database then stands alone).
 */
export async function lockHolder(dir: string): Promise<number | null> {
  let lockFile: { dev: bigint; ino: bigint };
  let table: string;
  try {
    lockFile = await stat(join(dir, 'LOCK'), { bigint: true });
    table = await readFile('/proc/locks', 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return null;
    throw err;
  }
  const { major, minor } = deviceNumbers(lockFile.dev);
  for (const line of table.split('\n')) {
    const lock = parseLockLine(line);
    if (lock !== null && lock.major === major && lock.minor === minor && lock.inode === lockFile.ino) return lock.pid;
  }
  return null;
}

/** Rejects with a LevelDbInUseError when a process holds `dir`'s LOCK. */
export async function refuseIfLocked(dir: string): Promise<void> {
  const pid = await lockHolder(dir);
  if (pid !== null) throw new LevelDbInUseError(dir, pid);
}

interface HeldLock {
  readonly pid: number;
  readonly major: number;
  readonly minor: number;
  readonly inode: bigint;
}

/**
 * One held lock of /proc/locks, e.g. `1: POSIX  ADVISORY  WRITE 7423 fe:00:2163600 0 EOF`: its pid, and the
 * device (hex major:minor) and inode of the file. A waiter (`1: -> POSIX ...`) holds nothing; null for it, for
 * other kinds of lock (FLOCK, OFDLCK: LevelDB takes a POSIX one) and for lines that do not parse.
 */
export function parseLockLine(line: string): HeldLock | null {
  const m = /^\d+:\s+POSIX\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
  if (m === null) return null;
  return { pid: Number(m[1]), major: parseInt(m[2]!, 16), minor: parseInt(m[3]!, 16), inode: BigInt(m[4]!) };
}

/** A stat's st_dev as the kernel's major and minor numbers (glibc's gnu_dev_major and gnu_dev_minor). */
export function deviceNumbers(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}
