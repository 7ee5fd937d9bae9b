// The envelope of every job and fire record the store writes: a CRC-32 of its key and its msgpack body, checked at
// every read. LevelDB checks its block checksums only under paranoid_checks, which classic-level does not set, and a
// compaction rewrites what it reads under fresh checksums: a bit flipped in a table while the node runs (in a job's
// webhook URL, or in the `claimed` flag of an at_most_once fire) would otherwise be read back as a valid value. The
// start's table check (src/leveldb) sees damage only in tables at rest.
//
// Layout: 0xC1, the CRC-32 (zlib's, native; little-endian) of the key's UTF-8 bytes followed by the body, then the
// body. msgpack never uses the byte 0xC1, so a record written before sealing (a bare msgpack value) never starts with
// it, and is read as it is: it is sealed when next written. The key is in the checksum, so a record read under
// another key (a key whose bytes changed) is refused too. The Raft log seals its records the same way, in its own
// module (raft/level-storage-codec.ts): DESIGN.md lets neither import the other.
import { crc32 } from 'node:zlib';

/** A stored record that does not decode; the node stops rather than serve or overwrite it. */
export class StoreCorruptError extends Error {
  readonly code = 'store_corrupt';

  constructor(key: string, what: string) {
    super(`state machine record ${key}: ${what}`);
    this.name = 'StoreCorruptError';
  }
}

const sealMarker = 0xc1;
const headerBytes = 5;

function checksum(key: string, body: Uint8Array): number {
  return crc32(body, crc32(key));
}

/**
 * `body` sealed for `key`, in a buffer of its own (not a view into an encoder's working buffer). From Node's buffer
 * pool: a fresh ArrayBuffer for each record took as long as the rest of sealing together.
 */
export function seal(key: string, body: Uint8Array): Uint8Array {
  const sealed = Buffer.allocUnsafe(headerBytes + body.byteLength);
  sealed[0] = sealMarker;
  sealed.set(body, headerBytes);
  const crc = checksum(key, body);
  sealed[1] = crc & 0xff;
  sealed[2] = (crc >>> 8) & 0xff;
  sealed[3] = (crc >>> 16) & 0xff;
  sealed[4] = crc >>> 24;
  return sealed;
}

/** The body of the record stored at `key`: a sealed one once its checksum matches, an older one as it is. */
export function unseal(key: string, stored: Uint8Array): Uint8Array {
  if (stored[0] !== sealMarker) return stored;
  if (stored.byteLength < headerBytes) throw new StoreCorruptError(key, `sealed record of ${stored.byteLength} bytes`);
  const expected = (stored[1]! | (stored[2]! << 8) | (stored[3]! << 16) | (stored[4]! << 24)) >>> 0;
  const body = stored.subarray(headerBytes);
  const actual = checksum(key, body);
  if (actual !== expected) {
    throw new StoreCorruptError(key, `checksum mismatch (stored ${hex(expected)}, computed ${hex(actual)})`);
  }
  return body;
}

function hex(crc: number): string {
  return crc.toString(16).padStart(8, '0');
}
