// Runs the Storage conformance suite against MemoryStorage (the reference) and LevelStorage.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LevelStorage } from '../../src/raft/level-storage.js';
import type { StorageWrite } from '../../src/raft/level-storage.js';
import { MemoryStorageUnderTest, storageConformance } from './storage.case.js';
import type { StorageUnderTest } from './storage.case.js';

/** LevelStorage behind the suite's interface; reopen closes it and opens the same directory again. */
function levelUnderTest(dir: string, s: LevelStorage): StorageUnderTest {
  return {
    hardState: () => s.hardState(),
    snapshot: () => s.snapshot(),
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    term: (index) => s.term(index),
    entries: (lo, hi, maxBytes) => s.entries(lo, hi, maxBytes),
    snapshotChunk: (offset, maxBytes) => s.snapshotChunk(offset, maxBytes),
    write: (w: StorageWrite) => s.write(w),
    bootstrap: (voters) => s.bootstrap(voters),
    saveSnapshot: (index, term, data) => writeFile(s.snapshotPathFor(index, term), data),
    reopen: async () => {
      await s.close();
      return levelUnderTest(dir, await LevelStorage.open(dir));
    },
    close: () => s.close(),
  };
}

storageConformance(t, 'MemoryStorage', async () => new MemoryStorageUnderTest());

const root = await mkdtemp(join(tmpdir(), 'level-storage-conformance-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
let count = 0;
storageConformance(t, 'LevelStorage', async () => {
  const dir = join(root, String(count++));
  return levelUnderTest(dir, await LevelStorage.open(dir));
});
