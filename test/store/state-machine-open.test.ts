// What the state store does with a database it cannot trust: a lost job record stops the start, a damaged one stops
// the node once the check after start reaches it; an intact one passes both.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { encodeCommand } from '../../src/jobs/codec.js';
import { jobKey } from '../../src/store/keys.js';
import { JobQueries } from '../../src/store/queries.js';
import { unseal } from '../../src/store/sealed-record.js';
import { countJobRecords, StateMachine, StateStoreError, StoreInUseError } from '../../src/store/state-machine.js';
import { startSingleNode } from '../api/single-node.js';
import { storeWithJobs as storeWithN, withRawDb } from './stored-jobs.js';

const jobs = 2500;
const storeWithJobs = (t: Test): Promise<string> => storeWithN(t, jobs);

t.test('an intact store opens and its check after start reads every record', async (t) => {
  const sm = await StateMachine.open(await storeWithJobs(t));
  t.equal(sm.jobCount(), jobs);
  t.same(sm.recordCheck(), { state: 'running', records: null, staleIndexEntries: null });
  let pauses = 0;
  t.same(await sm.verifyJobRecords(async () => {
    pauses++;
  }), { records: jobs, staleIndexEntries: 0 });
  t.ok(pauses >= 4, `paused after each batch of at most 1,024 records, and after the index (${pauses} pauses)`);
  t.same(sm.recordCheck(), { state: 'passed', records: jobs, staleIndexEntries: 0 });
  const leveldb = sm.levelDbMemoryBytes();
  t.ok(leveldb !== null && Number.isSafeInteger(leveldb) && leveldb > 0, `LevelDB's memory estimate while open: ${leveldb}`);
  await sm.close();
  t.equal(sm.levelDbMemoryBytes(), null, 'and none once closed');
});

t.test('a job record LevelDB lost stops the start, naming the directory and the count', async (t) => {
  const dataDir = await storeWithJobs(t);
  await withRawDb(dataDir, (db) => db.del(jobKey('default', 'job-1234')));
  const err = await StateMachine.open(dataDir).then(() => null, (e: unknown) => e);
  t.ok(err instanceof StateStoreError, 'a StateStoreError');
  t.match((err as Error).message, `${join(dataDir, 'state')}: holds ${jobs - 1} job records where m/job_count says ${jobs}`);
  t.match((err as Error).message, /remove this directory to rebuild it/);
});

t.test('a store another opener holds is refused as in use, without the advice to remove it', async (t) => {
  const dataDir = await storeWithN(t, 3);
  const first = await StateMachine.open(dataDir);
  t.teardown(() => first.close());
  const err = await StateMachine.open(dataDir).then(() => null, (e: unknown) => e);
  t.ok(err instanceof StoreInUseError, 'a StoreInUseError');
  t.equal((err as Error).message,
    `${join(dataDir, 'state')}: in use by another process, which holds its LevelDB LOCK: is another node running with this DATA_DIR?`);
  t.equal(first.jobCount(), 3, 'the first opener is untouched');
});

t.test('a damaged job record stops the node when the check after start reaches it, naming the key', async (t) => {
  const dataDir = await storeWithJobs(t);
  await withRawDb(dataDir, (db) => db.put(jobKey('default', 'job-2000'), Uint8Array.from([0xc1, 0x00, 0x07])));
  const sm = await StateMachine.open(dataDir);
  t.teardown(() => sm.close());
  const err = await sm.verifyJobRecords().then(() => null, (e: unknown) => e);
  t.ok(err instanceof StateStoreError, 'a StateStoreError');
  t.match((err as Error).message, join(dataDir, 'state'));
  t.match((err as Error).message, jobKey('default', 'job-2000'));
});

t.test('a read that meets a damaged job record reports it at once, naming the directory, and throws', async (t) => {
  const dataDir = await storeWithJobs(t);
  await withRawDb(dataDir, (db) => db.put(jobKey('default', 'job-7'), Uint8Array.from([0x93, 0x01])));
  const sm = await StateMachine.open(dataDir);
  t.teardown(() => sm.close());
  const reported: unknown[] = [];
  const queries = new JobQueries(sm, { onDamaged: (err) => reported.push(err) });
  t.equal(queries.getJob('default', 'job-6')?.id, 'job-6', 'an intact record reads as before');
  t.equal(reported.length, 0);
  const err = (() => {
    try {
      queries.getJob('default', 'job-7');
      return null;
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof StateStoreError, 'the read throws a StateStoreError');
  t.match((err as Error).message, join(dataDir, 'state'));
  t.match((err as Error).message, jobKey('default', 'job-7'));
  t.same(reported, [err], 'and reported it before throwing, so the node stops');
  const listed = await queries.listJobs({ tenant: 'default', type: null, status: null, tags: [], limit: 100, cursor: 'job-699' })
    .then(() => null, (e: unknown) => e);
  t.ok(listed instanceof StateStoreError, 'a page that meets it throws too');
  t.equal(reported.length, 2);
  t.equal(sm.recordCheck().state, 'running', 'all of it before the check after start got there');
});

t.test('an apply that reads a damaged job record refuses the store by its directory and writes nothing', async (t) => {
  const dataDir = await storeWithJobs(t);
  await withRawDb(dataDir, (db) => db.put(jobKey('default', 'job-7'), Uint8Array.from([0x93, 0x01])));
  const sm = await StateMachine.open(dataDir);
  t.teardown(() => sm.close());
  const nowMs = Date.UTC(2030, 0, 1);
  const data = encodeCommand({ type: 'pause_job', tenant: 'default', proposedAtMs: nowMs, id: 'job-7' });
  const err = await sm.apply([{ type: 'normal', index: 2, term: 1, data }]).then(() => null, (e: unknown) => e);
  t.ok(err instanceof StateStoreError, 'a StateStoreError');
  t.match((err as Error).message, join(dataDir, 'state'));
  t.match((err as Error).message, jobKey('default', 'job-7'));
  t.equal(sm.appliedIndex(), 1, 'nothing applied');
});

t.test('job keys out of order (a flipped byte in a table) stop the start, naming the key', async (t) => {
  // LevelDB checks no block checksum on reads: a changed key byte shows only as a key out of place or twice.
  const fake = (keys: string[]) => ({
    keys: () => {
      let at = 0;
      return { nextv: async (n: number) => keys.slice(at, (at += n)), close: async () => {} };
    },
  }) as unknown as Parameters<typeof countJobRecords>[0];
  t.equal((await countJobRecords(fake(['j/default/a', 'j/default/b', 'j/default/c']), '/d')).count, 3);
  for (const keys of [['j/default/b', 'j/default/a'], ['j/default/a', 'j/default/a'], ['j/default/a', 'j/default/c', 'j/default/b']]) {
    const err = await countJobRecords(fake(keys), '/d').then(() => null, (e: unknown) => e);
    t.ok(err instanceof StateStoreError, `${keys.join(', ')}: refused`);
    t.match((err as Error).message, /^\/d: job record "j\/default\/[abc]" is out of order after/);
  }
});

t.test("a job's record under another job's key is damage: its read and the check after start refuse it", async (t) => {
  // Sealed, its checksum covers its own key; written before sealing, it still names the job it belongs to.
  for (const [form, expected] of [['sealed', /j\/default\/job-6: checksum mismatch/], ['unsealed', /j\/default\/job-6: holds job default\/job-7/]] as const) {
    const dataDir = await storeWithJobs(t);
    await withRawDb(dataDir, async (db) => {
      const sealed = (await db.get(jobKey('default', 'job-7')))!;
      await db.put(jobKey('default', 'job-6'), form === 'sealed' ? sealed : unseal(jobKey('default', 'job-7'), sealed));
    });
    const sm = await StateMachine.open(dataDir);
    t.teardown(() => sm.close());
    const reported: unknown[] = [];
    const queries = new JobQueries(sm, { onDamaged: (err) => reported.push(err) });
    t.throws(() => queries.getJob('default', 'job-6'), StateStoreError, `${form}: a GET of job-6 does not answer job-7`);
    t.match((reported[0] as Error).message, expected);
    const err = await sm.verifyJobRecords().then(() => null, (e: unknown) => e);
    t.ok(err instanceof StateStoreError, `${form}: the check after start refuses it too`);
    t.match((err as Error).message, expected);
  }
});

t.test('a bit flipped inside a field that still decodes (a webhook URL) is refused by the record checksum', async (t) => {
  // The damage a compaction launders: LevelDB rewrites the block under a fresh checksum, the table check at the next
  // start passes, and the record is well-formed msgpack naming the same job, with another address in it.
  const dataDir = await storeWithJobs(t);
  await withRawDb(dataDir, async (db) => {
    const record = Buffer.from((await db.get(jobKey('default', 'job-9')))!);
    const at = record.indexOf('127.0.0.1:9/h');
    t.ok(at > 0, 'the webhook URL is in the record');
    record[at + 2]! ^= 0x02; // 127.0.0.1 → 125.0.0.1
    await db.put(jobKey('default', 'job-9'), record);
  });
  const sm = await StateMachine.open(dataDir);
  t.teardown(() => sm.close());
  const reported: unknown[] = [];
  const queries = new JobQueries(sm, { onDamaged: (err) => reported.push(err) });
  t.throws(() => queries.getJob('default', 'job-9'), StateStoreError);
  t.match((reported[0] as Error).message, /j\/default\/job-9: checksum mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)/);
  const err = await sm.verifyJobRecords().then(() => null, (e: unknown) => e);
  t.ok(err instanceof StateStoreError, 'the check after start stops the node');
  t.match((err as Error).message, `${join(dataDir, 'state')}: state machine record j/default/job-9: checksum mismatch`);
});

t.test('a job missing from the next-fire index stops the node, naming its key; an index key no job accounts for is counted', async (t) => {
  const dataDir = await storeWithJobs(t);
  // job-7 fires at nowMs + 60,000 + 7 (stored-jobs.ts), which its index key holds in hex.
  const indexKey = `n/${(Date.UTC(2030, 0, 1) + 60_007).toString(16).padStart(16, '0')}/default/job-7`;
  await withRawDb(dataDir, async (db) => {
    t.not(await db.get(indexKey), undefined, 'the index key is where the job says');
    await db.del(indexKey);
  });
  const lacking = await StateMachine.open(dataDir);
  const err = await lacking.verifyJobRecords().then(() => null, (e: unknown) => e);
  await lacking.close();
  t.ok(err instanceof StateStoreError, 'a job the scheduler would never find stops the node');
  t.match((err as Error).message, `${join(dataDir, 'state')}: state machine record ${indexKey}: the next-fire index lacks 1 job(s) due to fire`);
  // Back in the index, and beside it two keys of no job's next run: one of a job that runs at another time, one of none.
  await withRawDb(dataDir, async (db) => {
    await db.put(indexKey, new Uint8Array(0));
    await db.put(indexKey.replace('/default/job-7', '/default/job-8'), new Uint8Array(0));
    await db.put(indexKey.replace('/default/job-7', '/default/nobody'), new Uint8Array(0));
  });
  const stale = await StateMachine.open(dataDir);
  t.teardown(() => stale.close());
  t.same(await stale.verifyJobRecords(), { records: jobs, staleIndexEntries: 2 }, 'the scheduler skips those: counted, not fatal');
  t.same(stale.recordCheck(), { state: 'passed', records: jobs, staleIndexEntries: 2 });
});

t.test('closing the store during the check ends it quietly', async (t) => {
  const sm = await StateMachine.open(await storeWithJobs(t));
  const checked = sm.verifyJobRecords();
  await sm.close();
  t.equal(await checked, null);
});

t.test('a node whose job record is damaged stops through onFatal at the first read of it, or when its check reaches it', async (t) => {
  const first = await startSingleNode();
  t.teardown(() => rmSync(first.dataDir, { recursive: true, force: true }));
  for (const id of ['a', 'b', 'c']) {
    const r = await first.node.app.inject({
      method: 'POST', url: '/jobs', payload: { id, type: 'unico', timestamp: '2035-01-01T00:00:00Z', webhook_url: 'http://127.0.0.1:9/h' },
    });
    t.equal(r.statusCode, 201);
  }
  await first.node.close();
  await withRawDb(first.dataDir, (db) => db.put(jobKey('default', 'b'), Uint8Array.from([0x93, 0x01])));
  let fatal: unknown = null;
  const second = await startSingleNode({}, { dataDir: first.dataDir, onFatal: (err) => { fatal = err; } });
  t.equal((await second.node.app.inject({ method: 'GET', url: '/debug/cluster' })).json<{ store_check: { state: string } }>().store_check.state,
    'running', '/debug/cluster shows the check still running');
  t.teardown(() => second.node.close());
  const read = await second.node.app.inject({ method: 'GET', url: '/jobs/b' });
  t.equal(read.statusCode, 500, 'the read of the damaged job fails');
  t.equal(read.json<{ code: string }>().code, 'internal', 'without a word of the record');
  t.ok(fatal instanceof StateStoreError, 'and the node has reported a StateStoreError by the time it answers');
  t.match((fatal as Error).message, jobKey('default', 'b'));
  t.match((fatal as Error).message, join(first.dataDir, 'state'));
  t.equal((await second.node.app.inject({ method: 'GET', url: '/jobs/a' })).statusCode, 200, 'an intact job still reads');
});

t.test('/debug/cluster shows when the check after start has read every record', async (t) => {
  const node = await startSingleNode();
  t.teardown(() => node.stop());
  const check = async () => (await node.node.app.inject({ method: 'GET', url: '/debug/cluster' }))
    .json<{ store_check: { state: string; records: number | null } }>().store_check;
  const deadline = Date.now() + 10_000;
  while ((await check()).state !== 'passed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(await check(), { state: 'passed', records: 0, stale_index_entries: 0 });
});
