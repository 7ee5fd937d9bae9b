// The job key digest: the same keys give the same digest in any order, a changed key changes it, and the store
// refuses a start or a snapshot whose job keys do not add up to it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { encodeCommand } from '../../src/jobs/codec.js';
import { JobKeyTally } from '../../src/store/job-key-tally.js';
import { jobKey, jobKeysDigestKey } from '../../src/store/keys.js';
import { SnapshotFileError, writeSnapshotFile } from '../../src/store/snapshot.js';
import { packr, StateMachine, StateStoreError } from '../../src/store/state-machine.js';
import { storeWithJobs as storeWithN, withRawDb } from './stored-jobs.js';

const tallyOf = (keys: readonly string[]): JobKeyTally => {
  const tally = JobKeyTally.empty();
  for (const key of keys) tally.add(key);
  return tally;
};

t.test('the digest depends on the set of keys, not the order they came in', async (t) => {
  fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 60 }), fc.nat(), (keys, seed) => {
    const shuffled = [...keys].sort((a, b) => ((a.length * 31 + seed) % 7) - ((b.length * 31 + seed) % 7));
    return tallyOf(keys).digest === tallyOf(shuffled).digest && tallyOf(keys).count === keys.length;
  }), { numRuns: 500 });
  t.equal(JobKeyTally.empty().digest, '0000000000000000');
  t.ok(JobKeyTally.isDigest(tallyOf(['j/default/a']).digest));
});

t.test('removing a key undoes adding it; a copy moves on its own', async (t) => {
  const tally = tallyOf(['j/default/a', 'j/default/b']);
  const before = tally.digest;
  const copy = tally.copy();
  copy.add('j/default/c');
  t.equal(tally.digest, before, 'the original did not move');
  t.not(copy.digest, before);
  copy.remove('j/default/c');
  t.equal(copy.digest, before);
  t.equal(copy.count, 2);
});

t.test('a key changed in one place always changes the digest', async (t) => {
  const keyChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-');
  fc.assert(fc.property(
    fc.uniqueArray(fc.string({ unit: keyChars, minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 50 }),
    fc.nat(), fc.nat(), fc.integer({ min: 1, max: 0xffff }),
    (ids, which, at, flip) => {
      const keys = ids.map((id) => `j/default/${id}`);
      const victim = keys[which % keys.length]!;
      const pos = at % victim.length;
      const changed = victim.slice(0, pos) + String.fromCharCode(victim.charCodeAt(pos) ^ flip) + victim.slice(pos + 1);
      return tallyOf(keys.map((k) => (k === victim ? changed : k))).digest !== tallyOf(keys).digest;
    },
  ), { numRuns: 2000 });
  t.pass('2,000 single changes, each seen');
});

const jobs = 300;

/** `jobs` jobs stored, then job-17 deleted again. */
async function storeWithJobs(t: Test): Promise<string> {
  const dataDir = await storeWithN(t, jobs);
  const sm = await StateMachine.open(dataDir);
  await sm.apply([{ type: 'normal', index: 2, term: 1, data: encodeCommand({ type: 'delete_job', tenant: 'default', proposedAtMs: Date.UTC(2030, 0, 1), id: 'job-17' }) }]);
  await sm.close();
  return dataDir;
}

const storedDigest = (dataDir: string) => withRawDb(dataDir, async (db) => packr.unpack((await db.get(jobKeysDigestKey))!) as unknown);

t.test('creates and deletes keep the stored digest equal to that of the stored keys', async (t) => {
  const dataDir = await storeWithJobs(t);
  const keys = Array.from({ length: jobs }, (_, i) => jobKey('default', `job-${i}`)).filter((k) => !k.endsWith('/job-17'));
  t.equal(await storedDigest(dataDir), tallyOf(keys).digest);
  const sm = await StateMachine.open(dataDir);
  t.equal(sm.jobCount(), jobs - 1);
  await sm.close();
});

t.test('a job key changed in place, still in order and counted, stops the start, naming the directory', async (t) => {
  const dataDir = await storeWithJobs(t);
  await withRawDb(dataDir, async (db) => {
    // What a flipped byte in a table's key does: job-123 is now found as job-123x, which sorts where it was.
    const value = (await db.get(jobKey('default', 'job-123')))!;
    await db.batch([{ type: 'del', key: jobKey('default', 'job-123') }, { type: 'put', key: jobKey('default', 'job-123x'), value }]);
  });
  const err = await StateMachine.open(dataDir).then(() => null, (e: unknown) => e);
  t.ok(err instanceof StateStoreError, 'a StateStoreError');
  t.match((err as Error).message, `${join(dataDir, 'state')}: its job record keys do not match m/job_keys`);
});

t.test('a stored digest that is not one stops the start', async (t) => {
  const dataDir = await storeWithJobs(t);
  await withRawDb(dataDir, (db) => db.put(jobKeysDigestKey, packr.pack(42)));
  const err = await StateMachine.open(dataDir).then(() => null, (e: unknown) => e);
  t.ok(err instanceof StateStoreError);
  t.match((err as Error).message, 'm/job_keys is not a digest');
});

t.test('a store from before the digest gets it at its first start, from its keys', async (t) => {
  const dataDir = await storeWithJobs(t);
  const digest = await storedDigest(dataDir);
  await withRawDb(dataDir, (db) => db.del(jobKeysDigestKey));
  const sm = await StateMachine.open(dataDir);
  t.equal(sm.jobCount(), jobs - 1);
  await sm.close();
  t.equal(await storedDigest(dataDir), digest, 'written at open');
  const again = await StateMachine.open(dataDir);
  await again.close();
});

t.test('a restore checks the snapshot\'s job keys against its count and digest, and digests an older snapshot', async (t) => {
  const dataDir = await storeWithJobs(t);
  const source = await StateMachine.open(dataDir);
  const snapshot = join(dataDir, 'snap');
  await source.writeSnapshot(snapshot);
  await source.close();
  const records = await withRawDb(dataDir, async (db) => {
    const all: [string, Uint8Array][] = [];
    for await (const [key, value] of db.iterator()) all.push([key, value]);
    return all;
  });
  const fileOf = async (name: string, change: (all: [string, Uint8Array][]) => [string, Uint8Array][]): Promise<string> => {
    const path = join(dataDir, name);
    await writeSnapshotFile(path, (async function* () {
      yield change(records.map(([k, v]) => [k, v]));
    })());
    return path;
  };
  const targetDir = mkdtempSync(join(tmpdir(), 'sdb-tally-restore-'));
  const target = await StateMachine.open(targetDir);
  t.teardown(async () => {
    await target.close();
    rmSync(targetDir, { recursive: true, force: true });
  });

  await target.restore(snapshot, { index: 2, term: 1 });
  t.equal(target.jobCount(), jobs - 1, 'an intact snapshot restores');

  const renamed = await fileOf('renamed', (all) => all.map(([k, v]) => [k === jobKey('default', 'job-5') ? jobKey('default', 'job-5x') : k, v]));
  const err = await target.restore(renamed, { index: 2, term: 1 }).then(() => null, (e: unknown) => e);
  t.ok(err instanceof SnapshotFileError, 'a renamed job key is refused');
  t.match((err as Error).message, `snapshot file ${renamed}: its job record keys do not match m/job_keys`);

  const short = await fileOf('short', (all) => all.filter(([k]) => k !== jobKey('default', 'job-5')));
  const shortErr = await target.restore(short, { index: 2, term: 1 }).then(() => null, (e: unknown) => e);
  t.ok(shortErr instanceof SnapshotFileError, 'a missing job record is refused');
  t.match((shortErr as Error).message, `holds ${jobs - 2} job records where m/job_count says ${jobs - 1}`);

  const older = await fileOf('older', (all) => all.filter(([k]) => k !== jobKeysDigestKey));
  await target.restore(older, { index: 2, term: 1 });
  t.equal(target.jobCount(), jobs - 1, 'a snapshot without a digest restores');
  t.equal(target.appliedIndex(), 2);
});
