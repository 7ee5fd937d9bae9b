// The malloc a node runs with, for the launchers that start nodes (npm run cluster, the bench; npm start through
// cluster/start-node.sh, which does the same in shell).
//
// Under glibc's malloc a node's RSS kept rising under a steady load, 53-57 MiB an hour over half an hour, nearly all
// of it freed memory that glibc's heaps kept; under jemalloc the same load rose 11-13 MiB an hour over an hour and a
// half, at no cost in speed (README, Performance, "Steady load"). So a node runs under Debian's libjemalloc2 when it
// is installed, preloaded by its soname (the dynamic linker finds it on any architecture), and ALLOCATOR=glibc keeps
// glibc's.
import { execFileSync } from 'node:child_process';

export const jemallocPackage = 'libjemalloc2';
const jemallocSoname = 'libjemalloc.so.2';
const choices = ['auto', 'jemalloc', 'glibc'];

/** Whether the dynamic linker knows jemalloc's library (ldconfig's cache, as it searches it for LD_PRELOAD). */
export function hasJemalloc() {
  try {
    const cache = execFileSync('ldconfig', ['-p'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: `${process.env.PATH ?? ''}:/sbin:/usr/sbin` },
    });
    return cache.split('\n').some((line) => line.trim().startsWith(`${jemallocSoname} `));
  } catch {
    return false; // No ldconfig (not glibc's Linux): nothing to preload.
  }
}

/**
 * ALLOCATOR as given: `auto` (unset) preloads jemalloc when installed, `jemalloc` requires it, `glibc` never
 * preloads it. Throws on any other value.
 * @param {Record<string, string | undefined>} env
 * @returns {'auto' | 'jemalloc' | 'glibc'}
 */
export function allocatorChoice(env) {
  const value = env.ALLOCATOR === undefined || env.ALLOCATOR === '' ? 'auto' : env.ALLOCATOR;
  if (!choices.includes(value)) throw new Error(`ALLOCATOR must be one of ${choices.join(', ')}, got "${value}"`);
  return /** @type {'auto' | 'jemalloc' | 'glibc'} */ (value);
}

/**
 * Installs libjemalloc2 with apt-get when it is missing and ALLOCATOR allows it, as the launchers install nginx.
 * A failed install leaves the nodes on glibc (said through `log`), unless ALLOCATOR=jemalloc asked for it. apt's
 * output goes to stderr: the bench's stdout is its figures.
 * @param {Record<string, string | undefined>} env
 * @param {(line: string) => void} log
 */
export function ensureJemalloc(env, log) {
  const choice = allocatorChoice(env);
  if (choice === 'glibc' || (env.LD_PRELOAD ?? '') !== '' || hasJemalloc()) return;
  const unable = (why) => {
    if (choice === 'jemalloc') throw new Error(`ALLOCATOR=jemalloc, and ${jemallocPackage} could not be installed: ${why}`);
    log(`${jemallocPackage} is not installed and could not be (${why}); the nodes run on glibc's malloc`);
  };
  if (process.getuid?.() !== 0) {
    unable(`apt-get needs root: install ${jemallocPackage} to run the nodes under jemalloc`);
    return;
  }
  log(`jemalloc not found; installing Debian's ${jemallocPackage} package (ALLOCATOR=glibc skips this)`);
  const apt = (args) => execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=120', ...args], {
    stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const install = ['install', '-y', '-qq', '--no-install-recommends', jemallocPackage];
  try {
    try {
      apt(install);
    } catch {
      // No package lists yet (a fresh machine), or stale ones: fetch them, once.
      apt(['update', '-qq']);
      apt(install);
    }
  } catch (err) {
    unable(err.message);
  }
}

/**
 * The environment a node process gets for its allocator: LD_PRELOAD of jemalloc as ALLOCATOR says (an LD_PRELOAD
 * of the user's own is left as it is, whatever ALLOCATOR says, once its value is checked), and glibc's two settings,
 * which do nothing under jemalloc: two malloc arenas rather than one per thread, and blocks of 128 KiB or more given
 * back to the system when freed.
 * @param {Record<string, string | undefined>} env
 * @param {() => boolean} installed
 * @returns {Record<string, string>}
 */
export function allocatorEnv(env, installed = hasJemalloc) {
  const choice = allocatorChoice(env);
  const out = {
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2',
    MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
  };
  if ((env.LD_PRELOAD ?? '') !== '') return { ...out, LD_PRELOAD: env.LD_PRELOAD };
  if (choice === 'glibc') return out;
  if (installed()) return { ...out, LD_PRELOAD: jemallocSoname };
  if (choice === 'jemalloc') throw new Error(`ALLOCATOR=jemalloc, but ${jemallocSoname} is not installed (apt-get install ${jemallocPackage})`);
  return out;
}
