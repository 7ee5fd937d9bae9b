// Sealed records: every job and fire record carries a checksum of its key and bytes, so any single flipped bit, or a
// record read under another key, is refused with the key; records from before sealing still read.
import { Packr } from 'msgpackr';
import t from 'tap';
import { normalizeCreate, newJob, requestHashOf } from '../../src/jobs/job.js';
import { decodeRecord, encodeRecord, type ExecutionRecord, type InFlightFire } from '../../src/store/fire-records.js';
import { decodeJob, encodeJob } from '../../src/store/job-codec.js';
import { executionKey, inFlightKey, jobKey } from '../../src/store/keys.js';
import { seal, StoreCorruptError, unseal } from '../../src/store/sealed-record.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

t.test('a sealed body unseals to itself under its key, and to nothing under another', async (t) => {
  const body = packr.pack({ scheduledAtMs: 5 });
  const sealed = seal('f/default/a/0000000000000005', body);
  t.equal(sealed.byteLength, body.byteLength + 5);
  t.equal(sealed[0], 0xc1, 'marked with the byte msgpack never uses');
  t.same(Buffer.from(unseal('f/default/a/0000000000000005', sealed)), body);
  t.throws(() => unseal('f/default/b/0000000000000005', sealed), { name: 'StoreCorruptError', message: /f\/default\/b\/0000000000000005: checksum mismatch/ });
  t.throws(() => unseal('k', Uint8Array.from([0xc1, 1, 2])), new StoreCorruptError('k', 'sealed record of 3 bytes'));
  t.same(Buffer.from(unseal('k', body)), body, 'a record from before sealing is its own body');
  t.same(Buffer.from(unseal('k', seal('k', new Uint8Array(0)))), Buffer.alloc(0), 'an empty body');
  // Keys are ASCII (keys.ts); another key is checksummed by its UTF-8 bytes all the same.
  t.same(Buffer.from(unseal('j/caf\u00e9', seal('j/caf\u00e9', body))), body);
  t.throws(() => unseal('j/cafe', seal('j/caf\u00e9', body)), StoreCorruptError);
});

/** Every copy of `bytes` with one bit flipped, and where. */
function* flips(bytes: Uint8Array): Generator<[Uint8Array, string]> {
  for (let i = 0; i < bytes.byteLength; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Uint8Array.from(bytes);
      copy[i]! ^= 1 << bit;
      yield [copy, `byte ${i} bit ${bit}`];
    }
  }
}

/** How many of `flips` `decode` accepted (it should throw StoreCorruptError for each), with the first few named. */
function accepted(bytes: Uint8Array, decode: (b: Uint8Array) => unknown): { count: number; flips: number; first: string[] } {
  let count = 0;
  let all = 0;
  const first: string[] = [];
  for (const [copy, where] of flips(bytes)) {
    all++;
    try {
      decode(copy);
    } catch (err) {
      if (err instanceof StoreCorruptError) continue;
      throw err;
    }
    count++;
    if (first.length < 5) first.push(where);
  }
  return { count, flips: all, first };
}

t.test('every single-bit flip in a sealed job record is refused', async (t) => {
  const nowMs = Date.UTC(2030, 0, 1);
  const body = {
    id: 'nightly', type: 'recurrente', cron_expression: '0 3 * * *', timezone: 'Europe/Madrid',
    webhook_url: 'https://hooks.example/nightly', payload: { report: 'sales', days: 7 }, delivery: 'at_most_once',
  };
  const job = newJob(normalizeCreate(body, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), requestHashOf(body), nowMs, 'acme');
  const key = jobKey('acme', 'nightly');
  const record = encodeJob(job);
  t.same(decodeJob(record, key), job);
  const result = accepted(record, (b) => decodeJob(b, key));
  t.same(result.first, [], `of ${result.flips} flips, none accepted`);
  t.equal(result.count, 0);
});

t.test('every single-bit flip in a sealed fire record is refused: a claim cannot turn into no claim', async (t) => {
  const inFlight: InFlightFire = { scheduledAtMs: Date.UTC(2030, 0, 1), manual: false, claimed: true, attempts: 0, queuedAtMs: Date.UTC(2030, 0, 1) };
  const fKey = inFlightKey('acme', 'nightly', inFlight.scheduledAtMs);
  const execution: ExecutionRecord = {
    fireId: 'nightly@1893456000000', scheduledAtMs: Date.UTC(2030, 0, 1), attempt: 1, startedAtMs: Date.UTC(2030, 0, 1),
    finishedAtMs: Date.UTC(2030, 0, 1) + 35, nodeId: 'n1', status: 'succeeded', httpStatus: 200, durationMs: 35, error: null,
  };
  const eKey = executionKey('acme', 'nightly', 1);
  for (const [what, key, record] of [['in flight', fKey, inFlight], ['execution', eKey, execution]] as const) {
    const sealed = encodeRecord(key, record);
    t.same(decodeRecord(sealed, key), record, `${what}: round trip`);
    const result = accepted(sealed, (b) => decodeRecord(b, key));
    t.same(result.first, [], `${what}: of ${result.flips} flips, none accepted`);
  }
  // Without the seal, the flag is one bit of msgpack (0xc3 true, 0xc2 false): the damage the checksum is for.
  const bare = Buffer.from(unseal(fKey, encodeRecord(fKey, inFlight)));
  const at = bare.indexOf(Buffer.from([0xa7, ...Buffer.from('claimed'), 0xc3]));
  t.ok(at >= 0);
  bare[at + 8] = 0xc2;
  t.match(decodeRecord<InFlightFire>(bare, fKey), { claimed: false }, 'an unsealed record with the bit flipped reads as unclaimed');
});
