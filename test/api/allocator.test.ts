// The allocator a node reports (/debug/cluster's memory.allocator, its start line), from a process's memory map.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { allocatorIn, processAllocator } from '../../src/api/allocator.js';

const libc = '7feac4bb4000-7feac4bda000 r--p 00000000 fe:00 339380                     /usr/lib/x86_64-linux-gnu/libc.so.6';
const mapOf = (library: string): string => `7f01a2000000-7f01a2030000 r-xp 00000000 fe:00 12345                      ${library}`;

t.test('the allocator a memory map shows', async (t) => {
  t.equal(allocatorIn(`${libc}\n${mapOf('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2')}\n`), 'jemalloc', 'jemalloc preloaded: mapped after libc');
  t.equal(allocatorIn(`${mapOf('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2')}\n${libc}`), 'jemalloc');
  t.equal(allocatorIn(`${libc}\n${mapOf('/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.9')}`), 'tcmalloc');
  t.equal(allocatorIn(`${libc}\n${mapOf('/usr/local/lib/libmimalloc.so.2.1')}`), 'mimalloc');
  t.equal(allocatorIn(`${libc}\n`), 'glibc', "libc alone: glibc's malloc");
  t.equal(allocatorIn(`${libc}\n${mapOf('/opt/jemalloc-notes/readme.so.txt')}`), 'glibc', 'a path that only mentions it is not the library');
  t.equal(allocatorIn(`${mapOf('/usr/bin/node')}\n[heap]\n`), null, 'neither: no answer');
});

t.test("this process's own", async (t) => {
  if ((process.env['LD_PRELOAD'] ?? '') === '') t.equal(processAllocator(), 'glibc', "no preload: glibc's malloc");
  else t.equal(processAllocator(), allocatorIn(readFileSync('/proc/self/maps', 'utf8')), `LD_PRELOAD=${process.env['LD_PRELOAD']}`);
});
