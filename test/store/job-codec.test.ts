// Stored job records: format 1 round-trips every field, records written as maps before it still decode, and a
// damaged record is refused with its key.
import { Packr } from 'msgpackr';
import t from 'tap';
import type { Job } from '../../src/jobs/job.js';
import { decodeJob, encodeJob } from '../../src/store/job-codec.js';
import { StoreCorruptError, unseal } from '../../src/store/sealed-record.js';

// Every field set, and no two alike where the type allows it, so a field decoded into another's place shows.
const job: Job = {
  id: 'job-1', type: 'recurrente', startAtMs: 1_700_000_000_001, cronExpression: '*/5 * * * *', intervalMs: null,
  timezone: 'Europe/Madrid', lastDateAtMs: 1_800_000_000_002, webhookUrl: 'https://hooks.example/x', method: 'PUT',
  headers: { 'x-a': '1' }, payload: { nested: [1, 'two', null, { three: 3.5 }] }, delivery: 'at_most_once',
  retry: { maxAttempts: 7, backoffMs: 1003, maxBackoffMs: 60_004, maxDurationMs: 3_600_005, nonRetryableStatuses: [400, 404] },
  timeoutMs: 10_006, catchup: 'fire_all', catchupWindowMs: 86_400_007, overlap: 'skip', maxRuns: 9, jitterMs: 11,
  pauseAfterFailures: 12, signingSecret: 'shh', paused: true, tags: { team: 'b' }, tenant: 'acme', status: 'paused',
  nextRunAtMs: null, createdAtMs: 1_700_000_000_013, updatedAtMs: 1_700_000_000_014, runCount: 15, firesInFlight: 16,
  executionSeq: 17, fireCounts: { succeeded: 18, failed: 19, skipped: 20, missed: 21, unknown: 22 },
  consecutiveFailures: 23, pausedReason: 'requested', requestHash: 'ab'.repeat(32),
};

const mapPackr = new Packr({ useRecords: false, moreTypes: false });

t.test('format 1 round-trips every field, and is less than half the size of the same job as a map', async (t) => {
  const bytes = encodeJob(job);
  t.same(decodeJob(bytes, 'j/acme/job-1'), job);
  t.strictSame(Object.keys(decodeJob(bytes, 'j/acme/job-1')).sort(), Object.keys(job).sort(), 'no field more or less');
  const asMap = mapPackr.pack(job).byteLength;
  t.ok(bytes.byteLength * 2 < asMap, `${bytes.byteLength} bytes as format 1, ${asMap} as a map`);
});

t.test('a request hash that is not 64 hex digits is kept as it is', async (t) => {
  const odd = { ...job, requestHash: 'not-hex' };
  t.equal(decodeJob(encodeJob(odd), 'j/acme/job-1').requestHash, 'not-hex');
});

t.test('a record written as a map, before format 1, decodes to the same job', async (t) => {
  t.same(decodeJob(mapPackr.pack(job), 'k'), job);
});

t.test('a format 1 record written before records were sealed decodes to the same job', async (t) => {
  const bare = unseal('j/acme/job-1', encodeJob(job));
  t.not(bare[0], 0xc1);
  t.same(decodeJob(bare, 'j/acme/job-1'), job);
});

t.test('a damaged record is refused with its key', async (t) => {
  const record = mapPackr.unpack(unseal('j/acme/job-1', encodeJob(job))) as unknown[];
  const damaged: [string, unknown][] = [
    ['another format', [2, ...record.slice(1)]],
    ['a field short', record.slice(0, -1)],
    ['a field more', [...record, 0]],
    ['retry not an array', record.map((v, i) => (i === 13 ? { maxAttempts: 1 } : v))],
    ['fire counts short', record.map((v, i) => (i === 32 ? [1, 2, 3, 4] : v))],
    ['id not a string', record.map((v, i) => (i === 1 ? 7 : v))],
    ['a map without an id', { ...job, id: undefined }],
    ['a number', 42],
  ];
  for (const [what, value] of damaged) {
    t.throws(() => decodeJob(mapPackr.pack(value), 'j/acme/job-1'), new StoreCorruptError('j/acme/job-1', 'not a job record'), what);
  }
  const truncated = unseal('j/acme/job-1', encodeJob(job)).subarray(0, 40);
  t.throws(() => decodeJob(truncated, 'j/x'), { name: 'StoreCorruptError', message: /record j\/x: not msgpack/ });
  t.throws(() => decodeJob(encodeJob(job).subarray(0, 40), 'j/acme/job-1'), { name: 'StoreCorruptError', message: /checksum mismatch/ });
});
