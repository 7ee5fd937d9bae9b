// The state machine's snapshot file: every key and value of its LevelDB at one applied index, checksummed.
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
const flushBytes = 1024 * 1024;

export interface SnapshotRecord {
  readonly key: string;
  readonly value: Uint8Array;
}

/** Writes records to `path` (format: magic, then [u32 len key][u32 len value]..., end marker, count, crc32), synced. */
export async function writeSnapshotFile(path: string, records: AsyncIterable<SnapshotRecord>): Promise<number> {
  const file = await open(path, 'w');
  let crc = 0;
  let count = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const push = async (chunk: Buffer): Promise<void> => {
    crc = crc32(chunk, crc);
    pending.push(chunk);
    pendingBytes += chunk.byteLength;
    if (pendingBytes >= flushBytes) {
      await file.write(Buffer.concat(pending));
      pending = [];
      pendingBytes = 0;
    }
  };
  try {
    await push(magic);
    for await (const record of records) {
      const key = Buffer.from(record.key, 'utf8');
      const head = Buffer.alloc(4);
      head.writeUInt32BE(key.byteLength);
      const valueHead = Buffer.alloc(4);
      valueHead.writeUInt32BE(record.value.byteLength);
      await push(Buffer.concat([head, key, valueHead, Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength)]));
      count++;
    }
    const tail = Buffer.alloc(12);
    tail.writeUInt32BE(endMarker, 0);
    tail.writeUInt32BE(Math.floor(count / 2 ** 32), 4);
    tail.writeUInt32BE(count % 2 ** 32, 8);
    await push(tail);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc >>> 0);
    pending.push(sum);
    await file.write(Buffer.concat(pending));
    await file.sync();
  } finally {
    await file.close();
  }
  return count;
}

/**
 * Reads every record of a snapshot file in batches. The whole file is checked (structure, count and
 * checksum) in a first pass, so a damaged file is refused before anything is changed.
 */
export async function readSnapshotFile(path: string, onBatch: (records: SnapshotRecord[]) => Promise<void>,
  batchRecords = 2000): Promise<number> {
  await scan(path, async () => {});
  return scan(path, onBatch, batchRecords);
}

async function scan(path: string, onBatch: (records: SnapshotRecord[]) => Promise<void>, batchRecords = 2000): Promise<number> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    if (size < magic.byteLength + 16) throw new SnapshotFileError(path, `too short (${size} bytes)`);
    const reader = new ChunkReader(file, size - 4);
    const head = await reader.read(magic.byteLength);
    if (!head.equals(magic)) throw new SnapshotFileError(path, 'not a scheduled-db snapshot (bad magic)');
    let crc = crc32(head);
    let count = 0;
    let batch: SnapshotRecord[] = [];
    for (;;) {
      const lenBytes = await reader.read(4, path);
      crc = crc32(lenBytes, crc);
      const keyLength = lenBytes.readUInt32BE();
      if (keyLength === endMarker) {
        const tail = await reader.read(8, path);
        crc = crc32(tail, crc);
        const declared = tail.readUInt32BE(0) * 2 ** 32 + tail.readUInt32BE(4);
        if (declared !== count) throw new SnapshotFileError(path, `holds ${count} records but declares ${declared}`);
        break;
      }
      const key = await reader.read(keyLength, path);
      const valueLengthBytes = await reader.read(4, path);
      const value = await reader.read(valueLengthBytes.readUInt32BE(), path);
      crc = crc32(value, crc32(valueLengthBytes, crc32(key, crc)));
      batch.push({ key: key.toString('utf8'), value: new Uint8Array(value) });
      count++;
      if (batch.length >= batchRecords) {
        await onBatch(batch);
        batch = [];
      }
    }
    if (reader.remaining() !== 0) throw new SnapshotFileError(path, 'has bytes after its end marker');
    const sum = Buffer.alloc(4);
    await file.read(sum, 0, 4, size - 4);
    if (sum.readUInt32BE() !== crc >>> 0) throw new SnapshotFileError(path, 'checksum mismatch');
    if (batch.length > 0) await onBatch(batch);
    return count;
  } finally {
    await file.close();
  }
}

/** Sequential reads through a 1 MiB window, refusing to read past `limit`. */
class ChunkReader {
  readonly #file: Awaited<ReturnType<typeof open>>;
  readonly #limit: number;
  #position = 0;
  #buffer = Buffer.alloc(0);

  constructor(file: Awaited<ReturnType<typeof open>>, limit: number) {
    this.#file = file;
    this.#limit = limit;
  }

  remaining(): number {
    return this.#limit - this.#position + this.#buffer.byteLength;
  }

  async read(length: number, path = ''): Promise<Buffer> {
    while (this.#buffer.byteLength < length) {
      const want = Math.min(Math.max(flushBytes, length), this.#limit - this.#position);
      if (want <= 0) throw new SnapshotFileError(path, 'truncated');
      const chunk = Buffer.alloc(want);
      const { bytesRead } = await this.#file.read(chunk, 0, want, this.#position);
      if (bytesRead === 0) throw new SnapshotFileError(path, 'truncated');
      this.#position += bytesRead;
      this.#buffer = Buffer.concat([this.#buffer, chunk.subarray(0, bytesRead)]);
    }
    const out = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return out;
  }
}
