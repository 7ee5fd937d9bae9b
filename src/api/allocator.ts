// Which malloc this process runs with, read from its own memory map (Linux). The launchers preload jemalloc when it
// is installed (cluster/allocator.mjs); allocators differ in how RSS behaves over hours, so an operator sees which
// one a node has in its start line and in /debug/cluster.
import { readFileSync } from 'node:fs';

export type Allocator = 'jemalloc' | 'tcmalloc' | 'mimalloc' | 'glibc';

/** Allocators that replace glibc's malloc when preloaded, by the library's file name. */
const preloaded: readonly (readonly [Allocator, RegExp])[] = (['jemalloc', 'tcmalloc', 'mimalloc'] as const)
  .map((name) => [name, new RegExp(`/lib${name}[^/\\n]*\\.so[^/\\n]*$`, 'm')] as const);

/** The allocator a /proc/<pid>/maps text shows: a preloaded one when mapped, else glibc's when libc is; else null. */
export function allocatorIn(maps: string): Allocator | null {
  for (const [name, library] of preloaded) if (library.test(maps)) return name;
  if (/\/libc\.so\.6$/m.test(maps)) return 'glibc';
  return null;
}

let known: Allocator | null | undefined;

/** This process's allocator, read once (a process cannot change it); null where there is no /proc or no glibc. */
export function processAllocator(): Allocator | null {
  if (known === undefined) {
    try {
      known = allocatorIn(readFileSync('/proc/self/maps', 'utf8'));
    } catch {
      known = null;
    }
  }
  return known;
}
