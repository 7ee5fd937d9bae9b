// The state store's LevelDB write buffer is drawn per open between 3 and 5 MiB, so nodes that apply the same
// writes do not flush and compact at the same moment: the same 4 MiB of writes fill a 3 MiB buffer (a table file
// is written) and leave a 5 MiB one in memory.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { StateMachine } from '../../src/store/state-machine.js';

async function tableFilesAfterWriting(t: Test, draw: number): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdb-wbuf-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const sm = await StateMachine.open(dataDir, () => draw);
  const value = new Uint8Array(64 * 1024).fill(7);
  // 4 MiB in 64 writes; LevelDB makes room for each write by flushing a full buffer to a level-0 table file.
  for (let i = 0; i < 64; i++) await sm.db.put(`test/${String(i).padStart(3, '0')}`, value);
  const tables = (): number => readdirSync(join(dataDir, 'state')).filter((f) => f.endsWith('.ldb')).length;
  // The flush runs on LevelDB's own thread: give it time.
  for (let waited = 0; waited < 3000 && tables() === 0; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  const found = tables();
  await sm.close();
  return found;
}

t.test('the lowest draw (3 MiB) flushes 4 MiB of writes to a table file', async (t) => {
  t.ok(await tableFilesAfterWriting(t, 0) >= 1);
});

t.test('the highest draw (5 MiB) keeps the same 4 MiB in memory', async (t) => {
  t.equal(await tableFilesAfterWriting(t, 0.9999), 0);
});
