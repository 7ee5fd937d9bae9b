// Verifies every block checksum of a LevelDB database's live tables, before LevelDB opens it.
//
// LevelDB keeps a CRC-32C on each table block but checks it on reads only with verify_checksums or paranoid_checks,
// and classic-level sets neither. A flipped bit in a table then reads as another value, another key, or (in a bloom
// filter or index block) as no key at all: a job answering 404, a Raft entry with other bytes. This reads the
// MANIFEST that CURRENT names for the live tables (files it does not list, such as a crash's leftovers, LevelDB
// ignores and deletes) and checks each table's size, footer and every block against its CRC, as paranoid_checks
// would. LevelDB's own log reader checks the MANIFEST's and the write-ahead log's records.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c, unmaskCrc } from './crc32c.js';
import { SnappyError, snappyUncompress } from './snappy.js';

/** A table or MANIFEST that fails its checks; the message names the file and what is wrong with it. */
export class LevelDbTableError extends Error {
  readonly code = 'table_corrupt';

  constructor(path: string, what: string) {
    super(`${path}: ${what}`);
    this.name = 'LevelDbTableError';
  }
}

/** What `checkTables` read, for the log line of a start. */
export interface TableCheckSummary {
  readonly tables: number;
  readonly bytes: number;
}

/**
 * Checks the live tables of the LevelDB database in `dir`. A directory without CURRENT is left to LevelDB (a new
 * database, or one it refuses to open itself). Rejects with a LevelDbTableError naming the first damaged file.
 */
export async function checkTables(dir: string): Promise<TableCheckSummary> {
  let current: string;
  try {
    current = await readFile(join(dir, 'CURRENT'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { tables: 0, bytes: 0 };
    throw err;
  }
  // CURRENT is rewritten whole and renamed into place; anything but one MANIFEST name and a newline LevelDB refuses.
  if (!/^MANIFEST-\d+\n$/.test(current)) return { tables: 0, bytes: 0 };
  const manifestPath = join(dir, current.slice(0, -1));
  const live = [...liveTables(await readManifest(dir, manifestPath), manifestPath)];
  let bytes = 0;
  // The next table is read while this one is checked, into the other of two buffers kept for the whole check.
  const buffers = [Buffer.alloc(0), Buffer.alloc(0)];
  const read = (i: number) => readTable(dir, live[i]![0], live[i]![1], buffers, i % 2);
  let next = live.length > 0 ? read(0) : null;
  for (let i = 0; next !== null; i++) {
    const { path, table } = await next;
    next = i + 1 < live.length ? read(i + 1) : null;
    try {
      checkTable(table, path);
    } catch (err) {
      await next?.catch(() => undefined);
      throw err;
    }
    bytes += table.length;
  }
  return { tables: live.length, bytes };
}

/**
 * The MANIFEST that CURRENT names. A CURRENT with a damaged digit names one that is not there (LevelDB deletes the
 * MANIFESTs it is done with): that is a refusal naming CURRENT, as LevelDB itself would refuse, not a stack trace.
 */
async function readManifest(dir: string, manifestPath: string): Promise<Buffer> {
  try {
    return await readFile(manifestPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LevelDbTableError(join(dir, 'CURRENT'), `names ${manifestPath}, which does not exist`);
    throw err;
  }
}

/** The live table `number`, which must be `size` bytes long, read into `buffers[slot]` (grown to fit). */
async function readTable(dir: string, number: number, size: number, buffers: Buffer[], slot: number): Promise<{ path: string; table: Buffer }> {
  const opened = await openTable(dir, number);
  if (opened === null) throw new LevelDbTableError(join(dir, tableName(number, 'ldb')), 'live table missing');
  const { path, file } = opened;
  try {
    const { size: actual } = await file.stat();
    if (actual !== size) throw new LevelDbTableError(path, `${actual} bytes where the MANIFEST records ${size}`);
    if (buffers[slot]!.length < size) buffers[slot] = Buffer.allocUnsafe(size);
    const table = buffers[slot]!.subarray(0, size);
    const { bytesRead } = await file.read(table, 0, size, 0);
    if (bytesRead !== size) throw new LevelDbTableError(path, `read ${bytesRead} of ${size} bytes`);
    return { path, table };
  } finally {
    await file.close();
  }
}

function tableName(number: number, extension: string): string {
  return `${String(number).padStart(6, '0')}.${extension}`;
}

/** LevelDB names tables `.ldb`, and still reads the `.sst` of older versions; null when neither exists. */
async function openTable(dir: string, number: number): Promise<{ path: string; file: Awaited<ReturnType<typeof open>> } | null> {
  for (const extension of ['ldb', 'sst']) {
    const path = join(dir, tableName(number, extension));
    try {
      return { path, file: await open(path, 'r') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding helpers: a cursor over bytes whose every read is bounds-checked.

class Cursor {
  at: number;

  constructor(readonly bytes: Uint8Array, at = 0, readonly end = bytes.length) {
    this.at = at;
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift <= 63; shift += 7) {
      if (this.at >= this.end) throw new RangeError('varint cut short');
      const byte = this.bytes[this.at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) throw new RangeError('varint beyond 2^53');
        return value;
      }
    }
    throw new RangeError('varint too long');
  }

  slice(length: number): Uint8Array {
    if (this.at + length > this.end) throw new RangeError('slice cut short');
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  lengthPrefixed(): Uint8Array {
    return this.slice(this.varint());
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The MANIFEST: a log of VersionEdits (LevelDB's doc/log_format.md and version_edit.cc).

const logBlockBytes = 32768;
const logHeaderBytes = 7;
const RecordType = { Zero: 0, Full: 1, First: 2, Middle: 3, Last: 4 } as const;

/** The log's records, reassembled from fragments. A record cut short at the end is a writer that died mid-write. */
function* logRecords(bytes: Uint8Array, path: string): Generator<Uint8Array> {
  let pending: Uint8Array[] | null = null;
  let at = 0;
  while (at < bytes.length) {
    const leftInBlock = logBlockBytes - (at % logBlockBytes);
    if (leftInBlock < logHeaderBytes) {
      at += leftInBlock;
      continue;
    }
    if (at + logHeaderBytes > bytes.length) return;
    const length = bytes[at + 4]! | (bytes[at + 5]! << 8);
    const type = bytes[at + 6]!;
    if (type === RecordType.Zero && length === 0) {
      // Space a writer preallocated and never filled; LevelDB's reader skips the rest of the block.
      at += leftInBlock;
      continue;
    }
    if (at + logHeaderBytes + length > bytes.length) return;
    if (logHeaderBytes + length > leftInBlock) throw new LevelDbTableError(path, `record at ${at} runs past its block`);
    const stored = unmaskCrc(readU32(bytes, at));
    if (crc32c(bytes, at + 6, at + logHeaderBytes + length) !== stored) {
      throw new LevelDbTableError(path, `record at ${at} fails its checksum`);
    }
    const data = bytes.subarray(at + logHeaderBytes, at + logHeaderBytes + length);
    at += logHeaderBytes + length;
    if (type === RecordType.Full) {
      if (pending !== null) throw new LevelDbTableError(path, `record at ${at} interrupts a fragmented one`);
      yield data;
    } else if (type === RecordType.First) {
      if (pending !== null) throw new LevelDbTableError(path, `record at ${at} interrupts a fragmented one`);
      pending = [data];
    } else if (type === RecordType.Middle || type === RecordType.Last) {
      if (pending === null) throw new LevelDbTableError(path, `record at ${at} continues nothing`);
      pending.push(data);
      if (type === RecordType.Last) {
        yield Buffer.concat(pending);
        pending = null;
      }
    } else {
      throw new LevelDbTableError(path, `record at ${at} has unknown type ${type}`);
    }
  }
}

const EditTag = {
  Comparator: 1, LogNumber: 2, NextFileNumber: 3, LastSequence: 4, CompactPointer: 5, DeletedFile: 6, NewFile: 7, PrevLogNumber: 9,
} as const;

/** The tables the MANIFEST's edits leave live: file number → size in bytes. */
export function liveTables(manifest: Uint8Array, path: string): Map<number, number> {
  const live = new Map<number, number>();
  let edits = 0;
  for (const record of logRecords(manifest, path)) {
    const deleted: number[] = [];
    const added: [number, number][] = [];
    try {
      const edit = new Cursor(record);
      while (!edit.done) {
        const tag = edit.varint();
        switch (tag) {
          case EditTag.Comparator:
            edit.lengthPrefixed();
            break;
          case EditTag.LogNumber:
          case EditTag.NextFileNumber:
          case EditTag.LastSequence:
          case EditTag.PrevLogNumber:
            edit.varint();
            break;
          case EditTag.CompactPointer:
            edit.varint();
            edit.lengthPrefixed();
            break;
          case EditTag.DeletedFile:
            edit.varint();
            deleted.push(edit.varint());
            break;
          case EditTag.NewFile: {
            edit.varint();
            const number = edit.varint();
            const size = edit.varint();
            edit.lengthPrefixed();
            edit.lengthPrefixed();
            added.push([number, size]);
            break;
          }
          default:
            throw new RangeError(`unknown tag ${tag}`);
        }
      }
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new LevelDbTableError(path, `edit ${edits} does not decode: ${err.message}`);
    }
    // As LevelDB applies an edit: deletions first, so a file moved to another level (deleted and added) stays live.
    for (const number of deleted) live.delete(number);
    for (const [number, size] of added) live.set(number, size);
    edits++;
  }
  return live;
}

// ---------------------------------------------------------------------------------------------------------------
// Tables (LevelDB's doc/table_format.md): blocks, each followed by a type byte and the masked CRC-32C of the block
// and that byte; then a filter block, a metaindex block, an index block, and a 48-byte footer.

const footerBytes = 48;
const blockTrailerBytes = 5;
const tableMagic = Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
const Compression = { None: 0, Snappy: 1 } as const;

interface BlockHandle {
  readonly offset: number;
  readonly size: number;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/**
 * Checks one table: the footer's magic, that its blocks tile the file with nothing between or over them, and every
 * block's CRC. Only the index and metaindex blocks are unpacked, to find the others.
 */
export function checkTable(table: Uint8Array, path: string): void {
  const fail = (what: string): never => {
    throw new LevelDbTableError(path, what);
  };
  if (table.length < footerBytes) fail(`${table.length} bytes, shorter than a footer`);
  const footerAt = table.length - footerBytes;
  if (!tableMagic.equals(table.subarray(table.length - 8))) fail('no table magic at its end');
  let metaindex: BlockHandle;
  let index: BlockHandle;
  try {
    const footer = new Cursor(table, footerAt, table.length - 8);
    metaindex = { offset: footer.varint(), size: footer.varint() };
    index = { offset: footer.varint(), size: footer.varint() };
  } catch {
    return fail('footer does not decode');
  }
  const handles: BlockHandle[] = [metaindex, index];
  for (const value of blockEntries(checkedBlock(table, index, footerAt, 'index block', fail), 'index block', fail)) {
    handles.push(decodeHandle(value.value, 'index block', fail));
  }
  for (const entry of blockEntries(checkedBlock(table, metaindex, footerAt, 'metaindex block', fail), 'metaindex block', fail)) {
    handles.push(decodeHandle(entry.value, `metaindex entry ${Buffer.from(entry.key).toString('latin1')}`, fail));
  }
  handles.sort((a, b) => a.offset - b.offset);
  let expected = 0;
  for (const handle of handles) {
    if (handle.offset !== expected) fail(`block at ${handle.offset} where the one before ends at ${expected}`);
    checkCrc(table, handle, footerAt, `block at ${handle.offset}`, fail);
    expected = handle.offset + handle.size + blockTrailerBytes;
  }
  if (expected !== footerAt) fail(`blocks end at ${expected}, the footer starts at ${footerAt}`);
}

function decodeHandle(value: Uint8Array, what: string, fail: (what: string) => never): BlockHandle {
  try {
    const c = new Cursor(value);
    return { offset: c.varint(), size: c.varint() };
  } catch {
    return fail(`${what} holds no block handle`);
  }
}

function checkCrc(table: Uint8Array, handle: BlockHandle, limit: number, what: string, fail: (what: string) => never): void {
  const end = handle.offset + handle.size;
  if (end + blockTrailerBytes > limit) fail(`${what} runs past ${limit}`);
  if (crc32c(table, handle.offset, end + 1) !== unmaskCrc(readU32(table, end + 1))) fail(`${what} fails its checksum`);
}

/** The block's contents, checksum checked and unpacked. */
function checkedBlock(table: Uint8Array, handle: BlockHandle, limit: number, what: string, fail: (what: string) => never): Uint8Array {
  checkCrc(table, handle, limit, what, fail);
  const contents = table.subarray(handle.offset, handle.offset + handle.size);
  const type = table[handle.offset + handle.size];
  if (type === Compression.None) return contents;
  if (type !== Compression.Snappy) return fail(`${what} has unknown compression ${type}`);
  try {
    return snappyUncompress(contents);
  } catch (err) {
    if (!(err instanceof SnappyError)) throw err;
    return fail(`${what} does not uncompress: ${err.message}`);
  }
}

/** A block's entries: keys delta-encoded against the one before, then the restart points and their count. */
function* blockEntries(block: Uint8Array, what: string, fail: (what: string) => never): Generator<{ key: Uint8Array; value: Uint8Array }> {
  if (block.length < 4) fail(`${what} too short`);
  const restarts = readU32(block, block.length - 4);
  const entriesEnd = block.length - 4 - 4 * restarts;
  if (restarts === 0 || entriesEnd < 0) fail(`${what} has ${restarts} restart points in ${block.length} bytes`);
  const c = new Cursor(block, 0, entriesEnd);
  let key: Uint8Array = new Uint8Array(0);
  try {
    while (!c.done) {
      const shared = c.varint();
      const unshared = c.varint();
      const valueLength = c.varint();
      if (shared > key.length) throw new RangeError(`shares ${shared} bytes of a ${key.length}-byte key`);
      key = Buffer.concat([key.subarray(0, shared), c.slice(unshared)]);
      yield { key, value: c.slice(valueLength) };
    }
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    fail(`${what} does not decode: ${err.message}`);
  }
}
