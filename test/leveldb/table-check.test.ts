// The table check: real LevelDB databases pass it, and a changed byte anywhere in a live table, a table cut short or
// missing, or a damaged MANIFEST is refused by name; files LevelDB does not use are not its business.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { crc32c, unmaskCrc } from '../../src/leveldb/crc32c.js';
import { snappyUncompress } from '../../src/leveldb/snappy.js';
import { checkTable, checkTables, LevelDbTableError, liveTables } from '../../src/leveldb/table-check.js';

t.test('CRC-32C gives the published check values, sliced or not', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  t.equal(crc32c(ascending), 0x46dd794e);
  t.equal(crc32c(Buffer.from('xx123456789yy'), 2, 11), 0xe3069283, 'a range of a larger buffer');
  // LevelDB's mask: rotate right by 15, add a constant (crc32c.h).
  const masked = (((0xe3069283 >>> 15) | (0xe3069283 << 17)) + 0xa282ead8) >>> 0;
  t.equal(unmaskCrc(masked), 0xe3069283);
  // Any range, at any alignment, agrees with the bit-at-a-time definition.
  const reference = (bytes: Uint8Array): number => {
    let c = 0xffffffff;
    for (const byte of bytes) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
    const start = bytes.length === 0 ? 0 : a % bytes.length;
    const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
    return crc32c(bytes, start, end) === reference(bytes.subarray(start, end));
  }), { numRuns: 2000 });
});

t.test('snappy literals and copies, overlapping ones too, unpack; malformed input is refused', async (t) => {
  t.same(Buffer.from(snappyUncompress(Uint8Array.from([3, 0x08, 97, 98, 99]))).toString(), 'abc');
  // 'abc' then a 1-byte-offset copy of 6 at offset 3: the copy reads what it writes.
  t.same(Buffer.from(snappyUncompress(Uint8Array.from([9, 0x08, 97, 98, 99, 0x09, 0x03]))).toString(), 'abcabcabc');
  // A 2-byte-offset copy (tag 2) and a 4-byte one (tag 3), each of 4 from offset 2.
  t.same(Buffer.from(snappyUncompress(Uint8Array.from([6, 0x04, 120, 121, 0x0e, 2, 0]))).toString(), 'xyxyxy');
  t.same(Buffer.from(snappyUncompress(Uint8Array.from([6, 0x04, 120, 121, 0x0f, 2, 0, 0, 0]))).toString(), 'xyxyxy');
  // A literal of 61 bytes spells its length in one extra byte.
  const long = Buffer.alloc(61, 0x41);
  t.same(Buffer.from(snappyUncompress(Uint8Array.from([61, 60 << 2, 60, ...long]))).toString(), long.toString());
  for (const [what, bytes] of [
    ['no length', []], ['a literal past the input', [3, 0x08, 97]], ['a copy before the start', [4, 0x01, 0x05]],
    ['a copy of offset 0', [5, 0x00, 97, 0x01, 0x00]], ['fewer bytes than announced', [4, 0x08, 97, 98, 99]],
    ['more bytes than announced', [2, 0x08, 97, 98, 99]], ['a copy cut short', [4, 0x00, 97, 0x02, 1]],
  ] as const) {
    t.throws(() => snappyUncompress(Uint8Array.from(bytes)), { name: 'SnappyError' }, what);
  }
});

/** A database written in rounds, each a reopen, so that it holds several levels of tables and obsolete ones. */
async function database(t: Test, rounds = 3): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-tables-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  for (let round = 0; round < rounds; round++) {
    const db = new ClassicLevel<string, Uint8Array>(dir, { valueEncoding: 'view', writeBufferSize: 256 * 1024 });
    await db.open();
    for (let b = 0; b < 20; b++) {
      const ops = [];
      for (let i = 0; i < 500; i++, n++) {
        // Keys and values that compress, so index blocks are snappy-packed, and overwrites, so compactions drop some.
        ops.push({ type: 'put' as const, key: `j/default/job-${(n * 7919) % 15000}`, value: Buffer.from(`{"n":${n},"pad":"${'ab'.repeat(n % 90)}"}`) });
      }
      await db.batch(ops);
    }
    await db.del('j/default/job-1');
    await db.close();
  }
  return dir;
}

const liveTablePaths = (dir: string): string[] => {
  const current = readFileSync(join(dir, 'CURRENT'), 'utf8').trim();
  return [...liveTables(readFileSync(join(dir, current)), current).keys()].map((n) => join(dir, `${String(n).padStart(6, '0')}.ldb`));
};

t.test('a database LevelDB wrote passes, and only its live tables are read', async (t) => {
  const dir = await database(t);
  const tables = liveTablePaths(dir);
  // LevelDB's own compactions may merge tables while the rounds run: two is the fewest seen (a CI run of 45bb584).
  t.ok(tables.length >= 2, `${tables.length} live tables`);
  const summary = await checkTables(dir);
  t.equal(summary.tables, tables.length);
  t.equal(summary.bytes, tables.reduce((sum, p) => sum + statSync(p).size, 0));
  // A crash's leftover (a table being written when the process died) is no table LevelDB will use.
  writeFileSync(join(dir, '999999.ldb'), 'half a table');
  t.same(await checkTables(dir), summary, 'a file the MANIFEST does not list is not read');
  const db = new ClassicLevel(dir);
  await db.open();
  t.match(await db.get('j/default/job-2'), /^\{"n":\d+,"pad":"(ab)*"\}$/, 'LevelDB still reads it');
  t.equal(await db.get('j/default/job-1'), undefined);
  await db.close();
  t.same(await checkTables(join(dir, 'nothing-here')), { tables: 0, bytes: 0 }, 'no database yet: nothing to check');
});

t.test('a changed byte anywhere in a live table\'s blocks or magic is refused, naming the table', async (t) => {
  const dir = await database(t, 1);
  const [path] = liveTablePaths(dir);
  const table = readFileSync(path!);
  checkTable(table, path!);
  const footerAt = table.length - 48;
  const positions = new Set<number>([0, 1, footerAt - 1, footerAt - 5, footerAt, table.length - 1, table.length - 8]);
  for (let i = 0; positions.size < 400; i++) positions.add((i * 2654435761) % footerAt);
  let refused = 0;
  for (const at of positions) {
    for (const mask of [0x01, 0x80]) {
      const damaged = Buffer.from(table);
      damaged[at] = damaged[at]! ^ mask;
      try {
        checkTable(damaged, path!);
      } catch (err) {
        if (err instanceof LevelDbTableError && err.message.startsWith(`${path}: `)) refused++;
        else throw err;
        continue;
      }
      t.fail(`byte ${at} ^ ${mask} of ${table.length} passed`);
    }
  }
  t.equal(refused, positions.size * 2, 'every one refused');
});

t.test('a live table cut short or gone, or a MANIFEST record damaged, stops the check; a MANIFEST cut mid-record does not', async (t) => {
  const dir = await database(t, 1);
  const [table] = liveTablePaths(dir);
  const current = readFileSync(join(dir, 'CURRENT'), 'utf8').trim();
  const manifest = join(dir, current);
  const manifestBytes = readFileSync(manifest);

  const cut = statSync(table!).size - 100;
  const original = readFileSync(table!);
  truncateSync(table!, cut);
  await t.rejects(checkTables(dir), { name: 'LevelDbTableError', message: `${table}: ${cut} bytes where the MANIFEST records ${original.length}` });
  rmSync(table!);
  await t.rejects(checkTables(dir), { name: 'LevelDbTableError', message: `${table}: live table missing` });
  // The name of older LevelDB versions, which LevelDB still reads.
  writeFileSync(table!.replace(/\.ldb$/, '.sst'), original);
  t.equal((await checkTables(dir)).tables, liveTablePaths(dir).length, 'a live table named .sst is read');
  rmSync(table!.replace(/\.ldb$/, '.sst'));
  writeFileSync(table!, original);
  await checkTables(dir);

  // A byte in the last record's payload: LevelDB's own reader would report the corruption and refuse to open.
  const flipped = Buffer.from(manifestBytes);
  flipped[flipped.length - 3] = flipped[flipped.length - 3]! ^ 0x10;
  writeFileSync(manifest, flipped);
  await t.rejects(checkTables(dir), { name: 'LevelDbTableError', message: /MANIFEST-\d+: record at \d+ fails its checksum$/ });

  // A damaged digit in CURRENT names a MANIFEST that is not there: refused by the name of CURRENT, in one line.
  const other = current.replace(/\d$/, (d) => String((Number(d) + 3) % 10));
  writeFileSync(join(dir, 'CURRENT'), `${other}\n`);
  await t.rejects(checkTables(dir), { name: 'LevelDbTableError', code: 'table_corrupt',
    message: `${join(dir, 'CURRENT')}: names ${join(dir, other)}, which does not exist` });
  writeFileSync(join(dir, 'CURRENT'), `${current}\n`);

  // The last record cut short is a writer that died mid-write: LevelDB reads up to it, and so does the check.
  writeFileSync(manifest, manifestBytes.subarray(0, manifestBytes.length - 3));
  t.ok((await checkTables(dir)).tables >= 0, 'passes');
  writeFileSync(manifest, manifestBytes);
});

t.test('a flipped byte in a live table of a node\'s store makes the check refuse it before LevelDB opens it', async (t) => {
  const dir = await database(t, 2);
  const [table] = liveTablePaths(dir);
  const fd = openSync(table!, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, 1000);
  byte[0] = byte[0]! ^ 0x04;
  writeSync(fd, byte, 0, 1, 1000);
  closeSync(fd);
  await t.rejects(checkTables(dir), { name: 'LevelDbTableError', code: 'table_corrupt', message: new RegExp(`^${table}: block at \\d+ fails its checksum$`) });
  t.ok(readdirSync(dir).length > 0);
});
