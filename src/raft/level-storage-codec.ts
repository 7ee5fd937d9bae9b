// The LevelDB key layout and the msgpack records of LevelStorage, sealed with a checksum and decoded with their shape
// checked.
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { ConfChange, Entry, HardState, Membership, SnapshotMeta } from './core/index.js';

/** Raised when the files on disk cannot be trusted; the node must not start on them. */
export class LevelStorageError extends Error {
  readonly code = 'storage_corrupt';
  override readonly name = 'LevelStorageError';
}

const HARD_STATE = 0x68; // 'h'
const SNAPSHOT = 0x73; // 's'
const ENTRY = 0x65; // 'e'
const TWO_32 = 2 ** 32;

/**
 * Every key of the raft database. An entry key is 'e' and its index as 8 big-endian bytes, so
 * LevelDB's bytewise order is index order and a scan reads the log front to back.
 */
export const keys = {
  hardState: Buffer.from([HARD_STATE]),
  snapshot: Buffer.from([SNAPSHOT]),
  entry(index: number): Buffer {
    const key = Buffer.alloc(9);
    key[0] = ENTRY;
    // Two 32-bit halves: indexes are safe integers, which do not fit writeUInt32 alone and need no BigInt.
    key.writeUInt32BE(Math.floor(index / TWO_32), 1);
    key.writeUInt32BE(index % TWO_32, 5);
    return key;
  },
  /** The index of an entry key, or null when the key is not one. */
  entryIndex(key: Uint8Array): number | null {
    if (key.byteLength !== 9 || key[0] !== ENTRY) return null;
    const buffer = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    return buffer.readUInt32BE(1) * TWO_32 + buffer.readUInt32BE(5);
  },
  /** Printable form of a key, for error messages. */
  describe(key: Uint8Array): string {
    const index = keys.entryIndex(key);
    if (index !== null) return `entry ${index}`;
    if (key.byteLength === 1 && key[0] === HARD_STATE) return 'hard state (key "h")';
    if (key.byteLength === 1 && key[0] === SNAPSHOT) return 'snapshot metadata (key "s")';
    return `key 0x${Buffer.from(key).toString('hex')}`;
  },
} as const;

// Plain msgpack maps (no record extension), so a record decodes without shared state and other tools can read it.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/**
 * A record as stored: 0xC1, the CRC-32 of its key and msgpack body (little-endian), then the body. LevelDB checks its
 * block checksums only under paranoid_checks, which classic-level does not set, and a compaction rewrites what it
 * read under fresh ones: a bit flipped in a table while the node runs would be read back as another vote, term or
 * command. msgpack never uses the byte 0xC1, so a record written before sealing (bare msgpack) reads as it is. The
 * state store seals its records the same way (store/sealed-record.ts); raft imports nothing outside itself.
 */
const SEALED = 0xc1;
const SEAL_BYTES = 5;

function sealed(key: Buffer, body: Buffer): Buffer {
  const value = Buffer.allocUnsafe(SEAL_BYTES + body.byteLength);
  value[0] = SEALED;
  value.writeUInt32LE(crc32(body, crc32(key)), 1);
  body.copy(value, SEAL_BYTES);
  return value;
}

export function encodeEntry(entry: Entry): Buffer {
  return sealed(keys.entry(entry.index), entry.type === 'normal'
    ? packr.pack({ type: entry.type, term: entry.term, index: entry.index, data: entry.data })
    : packr.pack({ type: entry.type, term: entry.term, index: entry.index, change: entry.change }));
}

export function encodeHardState(hs: HardState): Buffer {
  return sealed(keys.hardState, packr.pack({ term: hs.term, vote: hs.vote, commit: hs.commit }));
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Buffer {
  return sealed(keys.snapshot, packr.pack({
    index: meta.index, term: meta.term,
    membership: { voters: meta.membership.voters, learners: meta.membership.learners },
  }));
}

type Fields = Record<string, unknown>;

/** Thrown inside a decoder; the caller names the key and the file. */
class Malformed extends Error {}

/** The msgpack body of the value stored under `key`, its seal checked; a value from before sealing as it is. */
function body(key: Uint8Array, value: Uint8Array): Uint8Array {
  if (value[0] !== SEALED) return value;
  if (value.byteLength < SEAL_BYTES) throw new Malformed(`a sealed value of ${value.byteLength} bytes`);
  const stored = Buffer.from(value.buffer, value.byteOffset, SEAL_BYTES).readUInt32LE(1);
  const rest = value.subarray(SEAL_BYTES);
  const computed = crc32(rest, crc32(key));
  if (stored !== computed) {
    throw new Malformed(`checksum mismatch (stored ${stored.toString(16).padStart(8, '0')}, computed ${computed.toString(16).padStart(8, '0')})`);
  }
  return rest;
}

function unpack(value: Uint8Array): unknown {
  try {
    return packr.unpack(value) as unknown;
  } catch (err) {
    // msgpackr throws plain Errors for truncated or trailing bytes; they all mean "not a record".
    throw new Malformed(`not msgpack (${(err as Error).message})`);
  }
}

function fields(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new Malformed(`${what} is not a map`);
  }
  return value as Fields;
}

function count(o: Fields, name: string): number {
  const v = o[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Malformed(`${name} is not a non-negative integer`);
  return v;
}

function text(o: Fields, name: string): string {
  const v = o[name];
  if (typeof v !== 'string') throw new Malformed(`${name} is not a string`);
  return v;
}

function texts(o: Fields, name: string): string[] {
  const v = o[name];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Malformed(`${name} is not a list of strings`);
  return v;
}

const changeTypes: ReadonlySet<string> = new Set<ConfChange['type']>(['add_learner', 'promote', 'add_voter', 'remove_node']);

function confChange(value: unknown): ConfChange {
  const o = fields(value, 'change');
  const type = text(o, 'type');
  if (!changeTypes.has(type)) throw new Malformed(`change type "${type}" is unknown`);
  return { type: type as ConfChange['type'], nodeId: text(o, 'nodeId'), context: text(o, 'context') };
}

function entry(value: unknown, copy: boolean): Entry {
  const o = fields(value, 'entry');
  const type = text(o, 'type');
  const term = count(o, 'term');
  const index = count(o, 'index');
  if (type === 'conf_change') return { type, term, index, change: confChange(o['change']) };
  if (type !== 'normal') throw new Malformed(`entry type "${type}" is unknown`);
  const data = o['data'];
  if (!(data instanceof Uint8Array)) throw new Malformed('data is not bytes');
  // A plain Uint8Array, like the entries the core builds, so reads compare equal before and after a restart. A
  // copy where the value may sit in a larger buffer LevelDB handed over (an iterator's), which it would pin.
  return { type, term, index, data: copy ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function hardState(value: unknown): HardState {
  const o = fields(value, 'hard state');
  const vote = o['vote'];
  if (vote !== null && typeof vote !== 'string') throw new Malformed('vote is neither null nor a string');
  return { term: count(o, 'term'), vote, commit: count(o, 'commit') };
}

function snapshotMeta(value: unknown): SnapshotMeta {
  const o = fields(value, 'snapshot metadata');
  const m = fields(o['membership'], 'membership');
  const membership: Membership = { voters: texts(m, 'voters'), learners: texts(m, 'learners') };
  return { index: count(o, 'index'), term: count(o, 'term'), membership };
}

/** Decodes the value stored under `key` in the database at `location`, or throws a LevelStorageError naming both. */
function decoder<T>(shape: (value: unknown) => T): (location: string, key: Uint8Array, value: Uint8Array) => T {
  return (location, key, value) => {
    try {
      return shape(unpack(body(key, value)));
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      throw new LevelStorageError(`${location}: ${keys.describe(key)} is undecodable: ${err.message}`);
    }
  };
}

export const decodeEntry = decoder((value) => entry(value, true));
/**
 * An entry read back alone (`getSync` answers a buffer of the value's own size), its data a view into that value
 * rather than one more copy: the log a follower catches up on is read back entry by entry, up to hundreds of MB.
 */
export const decodeEntryAlone = decoder((value) => entry(value, false));
export const decodeHardState = decoder(hardState);
export const decodeSnapshotMeta = decoder(snapshotMeta);
