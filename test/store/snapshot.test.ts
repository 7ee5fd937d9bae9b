// The snapshot file: records round-trip across chunk boundaries, and a truncated, flipped or extended file is
// refused by name before any record reaches the caller.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readSnapshotFile, SnapshotFileError, writeSnapshotFile } from '../../src/store/snapshot.js';

type Pair = [string, Uint8Array];

function records(): Pair[] {
  const out: Pair[] = [];
  for (let i = 0; i < 5000; i++) out.push([`j/t/${i}-é`, Uint8Array.from({ length: i % 700 }, (_, k) => (i + k) & 0xff)]);
  out.push(['big', new Uint8Array(3 * 1024 * 1024 + 7).fill(9)], ['empty', new Uint8Array(0)], ['ü'.repeat(300), Uint8Array.of(1)]);
  return out;
}

async function* inBatches(all: Pair[], size: number): AsyncGenerator<Pair[]> {
  for (let i = 0; i < all.length; i += size) yield all.slice(i, i + size);
}

async function readAll(path: string): Promise<Pair[]> {
  const got: Pair[] = [];
  await readSnapshotFile(path, async (batch) => {
    for (const r of batch) got.push([r.key, new Uint8Array(r.value)]);
  }, 333);
  return got;
}

t.test('every record comes back in order, a value larger than a chunk too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const all = records();
  const path = join(dir, 'snap');
  t.equal(await writeSnapshotFile(path, inBatches(all, 1000)), all.length);
  t.same(await readAll(path), all);
  const empty = join(dir, 'empty');
  t.equal(await writeSnapshotFile(empty, inBatches([], 1)), 0);
  t.same(await readAll(empty), []);
});

t.test('a damaged file is refused, naming it, before the caller sees a record', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good');
  await writeSnapshotFile(good, inBatches(records(), 500));
  const bytes = readFileSync(good);
  const damaged: [string, Buffer][] = [
    ['cut at 10 bytes', bytes.subarray(0, 10)],
    ['cut mid-record', bytes.subarray(0, 40_000)],
    ['cut in the big value', bytes.subarray(0, bytes.byteLength - 1024 * 1024)],
    ['cut before the checksum', bytes.subarray(0, bytes.byteLength - 2)],
    ['a flipped byte in a value', Buffer.from(bytes).fill(0x55, 50_000, 50_001)],
    ['a flipped length', Buffer.from(bytes).fill(0xff, 9, 10)],
    ['bytes after the end', Buffer.concat([bytes.subarray(0, bytes.byteLength - 4), Buffer.alloc(3), bytes.subarray(bytes.byteLength - 4)])],
    ['another magic', Buffer.concat([Buffer.from('SDBSNAP0'), bytes.subarray(8)])],
  ];
  for (const [what, content] of damaged) {
    const path = join(dir, what.replaceAll(' ', '-'));
    writeFileSync(path, content);
    let seen = 0;
    await t.rejects(readSnapshotFile(path, async (batch) => {
      seen += batch.length;
    }), SnapshotFileError, what);
    await t.rejects(readSnapshotFile(path, async () => {}), { message: new RegExp(`^snapshot file ${path}: `) }, `${what}: names the file`);
    t.equal(seen, 0, `${what}: no record handed over`);
  }
});
