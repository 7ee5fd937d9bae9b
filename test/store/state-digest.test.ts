// State digests on real stores: a `check_state` digests exactly the state at its index, equal states digest alike,
// and a record changed behind the store's back (a valid one, or a damaged one) shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { encodeCommand } from '../../src/jobs/codec.js';
import type { Command } from '../../src/jobs/commands.js';
import { newJob, normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { encodeJob } from '../../src/store/job-codec.js';
import { jobKey } from '../../src/store/keys.js';
import { type AppliedEntry, StateMachine, StateStoreError } from '../../src/store/state-machine.js';
import { withRawDb } from './stored-jobs.js';

const nowMs = Date.UTC(2030, 0, 1);

function create(ids: readonly string[]): Command {
  const jobs = ids.map((id) => {
    const body = { id, type: 'unico', timestamp: new Date(nowMs + 60_000).toISOString(), webhook_url: 'http://127.0.0.1:9/h' };
    return { spec: normalizeCreate(body, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), requestHash: requestHashOf(body) };
  });
  return { type: 'create_jobs', tenant: 'default', proposedAtMs: nowMs, maxJobs: 1000, jobs };
}

const check: Command = { type: 'check_state', proposedAtMs: nowMs };

/** The commands as entries from index 1, term 1. */
function entries(commands: readonly Command[]): AppliedEntry[] {
  return commands.map((command, i) => ({ type: 'normal', index: i + 1, term: 1, data: encodeCommand(command) }));
}

async function openStore(t: Test): Promise<{ sm: StateMachine; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdb-digest-'));
  const sm = await StateMachine.open(dataDir);
  t.teardown(async () => {
    await sm.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { sm, dataDir };
}

async function digestAt(sm: StateMachine, index: number): Promise<string> {
  const digest = await sm.stateDigest(index);
  if (digest === null || digest === undefined) throw new Error(`no digest at ${index}`);
  return digest.digest;
}

t.test('a check digests the state at its own index, whatever the same apply does after it', async (t) => {
  const one = await openStore(t);
  const two = await openStore(t);
  const three = await openStore(t);
  // One apply with jobs after the check; the same log in one entry per apply; and the later jobs before the check.
  const results = await one.sm.apply(entries([create(['a', 'b']), check, create(['c'])]));
  t.strictSame(results.get(2), { type: 'state_check', index: 2 });
  for (const entry of entries([create(['a', 'b']), check, create(['c'])])) await two.sm.apply([entry]);
  await three.sm.apply(entries([create(['a', 'b']), create(['c']), check]));
  t.equal(one.sm.appliedIndex(), 3);
  t.equal(one.sm.jobCount(), 3, 'the entry after the check applied too');
  t.match(await digestAt(one.sm, 2), /^[0-9a-f]{64}$/);
  t.equal(await digestAt(one.sm, 2), await digestAt(two.sm, 2), 'the same state at index 2 digests alike');
  t.not(await digestAt(three.sm, 3), await digestAt(one.sm, 2), 'a state with job c in it digests otherwise');
  t.match(await one.sm.stateDigest(2), { records: 7 }, 'three meta keys and two jobs with their index keys');
  t.equal(one.sm.stateDigest(1), null, 'no check was applied at index 1');
  t.equal(one.sm.stateDigest(3), null);
});

t.test("members count by id: how each node reaches them is its own (its PEERS), so addresses may differ", async (t) => {
  const stores = [await openStore(t), await openStore(t), await openStore(t)];
  const voters = (addresses: readonly string[]): AppliedEntry[] => addresses.map((context, i) => ({
    type: 'conf_change', index: i + 1, term: 1, change: { type: 'add_voter', nodeId: `n${i + 1}`, context },
  }));
  await stores[0]!.sm.apply([...voters(['127.0.0.1:7001', '127.0.0.1:7002']), { type: 'normal', index: 3, term: 1, data: encodeCommand(check) }]);
  await stores[1]!.sm.apply([...voters(['127.0.0.1:7001', '127.0.0.1:9102']), { type: 'normal', index: 3, term: 1, data: encodeCommand(check) }]);
  await stores[2]!.sm.apply([...voters(['127.0.0.1:7001']), { type: 'normal', index: 2, term: 1, data: encodeCommand(create(['x'])) },
    { type: 'normal', index: 3, term: 1, data: encodeCommand(check) }]);
  t.strictSame([...stores[1]!.sm.memberAddresses().values()], ['127.0.0.1:7001', '127.0.0.1:9102']);
  t.equal(await digestAt(stores[0]!.sm, 3), await digestAt(stores[1]!.sm, 3), 'the same members at other addresses');
  t.not(await digestAt(stores[0]!.sm, 3), await digestAt(stores[2]!.sm, 3));
});

t.test('a valid record changed behind the store (one member applied otherwise) digests otherwise', async (t) => {
  const one = await openStore(t);
  const two = await openStore(t);
  await one.sm.apply(entries([create(['a', 'b'])]));
  await two.sm.apply(entries([create(['a', 'b'])]));
  await two.sm.close();
  // A well-formed, well-sealed record with another webhook: what a bug in one member's apply would leave.
  await withRawDb(two.dataDir, async (db) => {
    const body = { id: 'b', type: 'unico', timestamp: new Date(nowMs + 60_000).toISOString(), webhook_url: 'http://127.0.0.2:9/h' };
    const job = newJob(normalizeCreate(body, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), requestHashOf(body), nowMs, 'default');
    await db.put(jobKey('default', 'b'), encodeJob(job));
  });
  const reopened = await StateMachine.open(two.dataDir);
  t.teardown(() => reopened.close());
  await one.sm.apply([{ type: 'normal', index: 2, term: 1, data: encodeCommand(check) }]);
  await reopened.apply([{ type: 'normal', index: 2, term: 1, data: encodeCommand(check) }]);
  t.not(await digestAt(reopened, 2), await digestAt(one.sm, 2));
});

t.test('a damaged record anywhere in the store fails the digest, naming the key', async (t) => {
  const { sm, dataDir } = await openStore(t);
  await sm.apply(entries([create(['a'])]));
  await sm.close();
  await withRawDb(dataDir, async (db) => {
    const record = Buffer.from((await db.get(jobKey('default', 'a')))!);
    record[record.length - 3]! ^= 0x01;
    await db.put(jobKey('default', 'a'), record);
  });
  const reopened = await StateMachine.open(dataDir);
  t.teardown(() => reopened.close());
  const started: number[] = [];
  reopened.onStateDigest((index) => started.push(index));
  await reopened.apply([{ type: 'normal', index: 2, term: 1, data: encodeCommand(check) }]);
  t.strictSame(started, [2], 'listeners hear of each digest as it starts');
  const err = await reopened.stateDigest(2)?.then(() => null, (e: unknown) => e);
  t.ok(err instanceof StateStoreError);
  t.match((err as Error).message, /state machine record j\/default\/a: checksum mismatch/);
});

t.test('a store keeps the digests of its last eight checks', async (t) => {
  const { sm } = await openStore(t);
  await sm.apply(entries(Array.from({ length: 10 }, () => check)));
  t.equal(sm.appliedIndex(), 10);
  t.equal(sm.stateDigest(2), null);
  for (let index = 3; index <= 10; index++) t.match(await digestAt(sm, index), /^[0-9a-f]{64}$/);
  t.equal(await digestAt(sm, 3), await digestAt(sm, 3));
  t.not(await digestAt(sm, 3), await digestAt(sm, 4), 'the applied index is part of the state');
});

t.test('closing the store while it digests resolves the digest null', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdb-digest-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const sm = await StateMachine.open(dataDir, null, () => new Promise((resolve) => setTimeout(resolve, 50)));
  await sm.apply(entries([create(Array.from({ length: 3000 }, (_, i) => `job-${i}`)), check]));
  const digest = sm.stateDigest(2);
  await sm.close();
  t.equal(await digest, null);
});
