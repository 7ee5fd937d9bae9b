// A digest of a store's whole state at one applied index, so members can compare their states (etcd's HashKV, or
// CockroachDB's consistency checker): every node applies the same entries, so every key and value must be equal.
//
// What is hashed is each record's key and body, in key order: a sealed record's body once its checksum matches (so a
// record written before sealing and the same record sealed digest alike, and a damaged one anywhere in the store,
// not only a job's, is found), any other value as it is. SHA-256, because equal digests are the whole claim. Keys
// whose values are this node's own (how it reaches each member: a new cluster's first entries are written by each
// node from its own PEERS, which behind per-link proxies or NAT name other addresses) count by key alone.
import { createHash } from 'node:crypto';
import { unseal } from './sealed-record.js';

const noValue = new Uint8Array(0);

export interface StateDigest {
  /** Hex SHA-256 over every record, in key order. */
  readonly digest: string;
  readonly records: number;
  /** Bytes of keys and bodies hashed. */
  readonly bytes: number;
}

/**
 * Hashes the records `batches` yields (a point-in-time iterator's batches, in key order); `pause` runs after each
 * batch, so a large store is digested between the node's other work. A key `isNodeLocal` accepts is hashed with an
 * empty value. Throws StoreCorruptError for a sealed record whose checksum does not match.
 */
export async function digestRecords(
  batches: AsyncIterable<readonly (readonly [string, Uint8Array])[]>, isNodeLocal: (key: string) => boolean,
  pause: () => Promise<void>,
): Promise<StateDigest> {
  const hash = createHash('sha256');
  let records = 0;
  let bytes = 0;
  // Lengths before each part, so no two different sets of records hash the same bytes.
  const lengths = Buffer.alloc(8);
  for await (const batch of batches) {
    for (const [key, stored] of batch) {
      const body = isNodeLocal(key) ? noValue : unseal(key, stored);
      const keyBytes = Buffer.from(key, 'utf8');
      lengths.writeUInt32LE(keyBytes.byteLength, 0);
      lengths.writeUInt32LE(body.byteLength, 4);
      hash.update(lengths);
      hash.update(keyBytes);
      hash.update(body);
      bytes += keyBytes.byteLength + body.byteLength;
    }
    records += batch.length;
    await pause();
  }
  return { digest: hash.digest('hex'), records, bytes };
}
