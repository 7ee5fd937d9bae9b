// The state machine's snapshot file: every key and value of its LevelDB at one applied index, checksummed.
//
// Records are packed into and parsed out of 1 MiB buffers with no await per record: at 1,000,000 jobs a record
// at a time (an async generator, two awaits and four small Buffers a record) took tens of seconds of the event
// loop per snapshot, on every node.
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/** Raised when a snapshot file is truncated or damaged; the node refuses to load it and names the file. */
export class SnapshotFileError extends Error {
  readonly code = 'corrupt_snapshot';

  constructor(path: string, what: string) {
    super(`snapshot file ${path}: ${what}`);
    this.name = 'SnapshotFileError';
  }
}

const magic = Buffer.from('SDBSNAP1');
const endMarker = 0xffffffff;
const chunkBytes = 1024 * 1024;

export interface SnapshotRecord {
  readonly key: string;
  readonly value: Uint8Array;
}

type FileHandle = Awaited<ReturnType<typeof open>>;

/**
 * Writes the records, batch by batch, to `path` (format: magic, then [u32 len key][key][u32 len value][value]...,
 * an end marker, the count as two u32, and the crc32 of all that), synced. Returns the count.
 */
export async function writeSnapshotFile(path: string,
  batches: AsyncIterable<readonly (readonly [key: string, value: Uint8Array])[]>): Promise<number> {
  const file = await open(path, 'w');
  try {
    const out = new ChunkWriter(file);
    out.bytes(magic);
    let count = 0;
    for await (const batch of batches) {
      for (const [key, value] of batch) out.record(key, value);
      count += batch.length;
      await out.flushFull();
    }
    out.u32(endMarker);
    out.u32(Math.floor(count / 2 ** 32));
    out.u32(count % 2 ** 32);
    await out.finish();
    await file.sync();
    return count;
  } finally {
    await file.close();
  }
}

/** Packs into 1 MiB buffers, each checksummed and written once full. */
class ChunkWriter {
  readonly #file: FileHandle;
  #chunk = Buffer.allocUnsafe(chunkBytes);
  #at = 0;
  readonly #full: Buffer[] = [];
  #crc = 0;

  constructor(file: FileHandle) {
    this.#file = file;
  }

  record(key: string, value: Uint8Array): void {
    const keyBytes = Buffer.byteLength(key, 'utf8');
    this.#room(8 + keyBytes + value.byteLength);
    this.#at = this.#chunk.writeUInt32BE(keyBytes, this.#at);
    this.#at += this.#chunk.write(key, this.#at, 'utf8');
    this.#at = this.#chunk.writeUInt32BE(value.byteLength, this.#at);
    this.#chunk.set(value, this.#at);
    this.#at += value.byteLength;
  }

  bytes(data: Uint8Array): void {
    this.#room(data.byteLength);
    this.#chunk.set(data, this.#at);
    this.#at += data.byteLength;
  }

  u32(n: number): void {
    this.#room(4);
    this.#at = this.#chunk.writeUInt32BE(n, this.#at);
  }

  /** Writes the chunks filled so far. */
  async flushFull(): Promise<void> {
    for (const chunk of this.#full.splice(0)) await this.#file.write(chunk);
  }

  /** Writes everything, then the checksum of it all. */
  async finish(): Promise<void> {
    this.#retire();
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(this.#crc >>> 0);
    this.#full.push(sum);
    await this.flushFull();
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#chunk.byteLength) return;
    this.#retire();
    this.#chunk = Buffer.allocUnsafe(Math.max(chunkBytes, bytes));
  }

  #retire(): void {
    if (this.#at === 0) return;
    const filled = this.#chunk.subarray(0, this.#at);
    this.#crc = crc32(filled, this.#crc);
    this.#full.push(filled);
    this.#at = 0;
  }
}

/**
 * Reads every record of a snapshot file in batches. The whole file is checked (structure, count and
 * checksum) in a first pass, so a damaged file is refused before anything is changed.
 */
export async function readSnapshotFile(path: string, onBatch: (records: SnapshotRecord[]) => Promise<void>,
  batchRecords = 2000): Promise<number> {
  await scan(path, null, batchRecords);
  return scan(path, onBatch, batchRecords);
}

/** Checks the whole file (structure, count and checksum) without reading its records into anything. */
export async function checkSnapshotFile(path: string): Promise<void> {
  await scan(path, null, 2000);
}

/** One pass over the file; without `onBatch` it only checks it. The records' values are views of the read buffers. */
async function scan(path: string, onBatch: ((records: SnapshotRecord[]) => Promise<void>) | null,
  batchRecords: number): Promise<number> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    if (size < magic.byteLength + 16) throw new SnapshotFileError(path, `too short (${size} bytes)`);
    const input = new ChunkReader(file, size - 4, path);
    await input.need(magic.byteLength);
    if (!input.take(magic.byteLength).equals(magic)) throw new SnapshotFileError(path, 'not a scheduled-db snapshot (bad magic)');
    let count = 0;
    let batch: SnapshotRecord[] = [];
    for (;;) {
      if (input.available() < 4) await input.need(4);
      const keyLength = input.u32();
      if (keyLength === endMarker) {
        await input.need(8);
        const declared = input.u32() * 2 ** 32 + input.u32();
        if (declared !== count) throw new SnapshotFileError(path, `holds ${count} records but declares ${declared}`);
        break;
      }
      if (input.available() < keyLength + 4) await input.need(keyLength + 4);
      const key = input.take(keyLength);
      const valueLength = input.u32();
      if (input.available() < valueLength) await input.need(valueLength);
      const value = input.take(valueLength);
      count++;
      if (onBatch === null) continue;
      batch.push({ key: key.toString('utf8'), value });
      if (batch.length >= batchRecords) {
        await onBatch(batch);
        batch = [];
      }
    }
    if (input.remaining() !== 0) throw new SnapshotFileError(path, 'has bytes after its end marker');
    const sum = Buffer.alloc(4);
    await file.read(sum, 0, 4, size - 4);
    if (sum.readUInt32BE() !== input.crc >>> 0) throw new SnapshotFileError(path, 'checksum mismatch');
    if (onBatch !== null && batch.length > 0) await onBatch(batch);
    return count;
  } finally {
    await file.close();
  }
}

/** Sequential reads in 1 MiB chunks up to `limit`, checksummed as they come; parsing takes from the buffer. */
class ChunkReader {
  readonly #file: FileHandle;
  readonly #limit: number;
  readonly #path: string;
  #position = 0;
  #buffer = Buffer.alloc(0);
  #at = 0;
  crc = 0;

  constructor(file: FileHandle, limit: number, path: string) {
    this.#file = file;
    this.#limit = limit;
    this.#path = path;
  }

  available(): number {
    return this.#buffer.byteLength - this.#at;
  }

  /** Bytes of the file not parsed yet, before its checksum. */
  remaining(): number {
    return this.#limit - this.#position + this.available();
  }

  /** Reads until `bytes` are available, refusing a file that ends first. */
  async need(bytes: number): Promise<void> {
    while (this.available() < bytes) {
      const want = Math.min(Math.max(chunkBytes, bytes - this.available()), this.#limit - this.#position);
      if (want <= 0) throw new SnapshotFileError(this.#path, 'truncated');
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await this.#file.read(chunk, 0, want, this.#position);
      if (bytesRead === 0) throw new SnapshotFileError(this.#path, 'truncated');
      const read = chunk.subarray(0, bytesRead);
      this.crc = crc32(read, this.crc);
      this.#position += bytesRead;
      // The rest of the old buffer moves over; values already taken stay views of the old one.
      this.#buffer = this.available() === 0 ? read : Buffer.concat([this.#buffer.subarray(this.#at), read]);
      this.#at = 0;
    }
  }

  take(bytes: number): Buffer {
    const out = this.#buffer.subarray(this.#at, this.#at + bytes);
    this.#at += bytes;
    return out;
  }

  u32(): number {
    const n = this.#buffer.readUInt32BE(this.#at);
    this.#at += 4;
    return n;
  }
}
