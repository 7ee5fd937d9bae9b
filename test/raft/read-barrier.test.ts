// RaftService.readBarrier on a leader: it returns only once every entry the leader had appended by the call has
// applied, not just those committed then. A scheduler that restarts in the same term reads what is in flight after
// this barrier; an earlier barrier let it read before its own last claims applied (a fault run lost three
// at_most_once fires so). A real one-node RaftService over a real store whose apply the test can hold.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { encodeCommand } from '../../src/jobs/codec.js';
import { normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { raftServiceOptions } from '../../src/node.js';
import { RaftService, type StateMachine as AppliedStateMachine } from '../../src/raft/index.js';
import { JobQueries } from '../../src/store/queries.js';
import { StateMachine } from '../../src/store/state-machine.js';
import { freePort } from '../cluster/process-cluster.js';

t.test("a leader's read barrier waits for the entries it appended before the call, even before they commit", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdb-barrier-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const store = await StateMachine.open(dataDir);
  let held: Promise<void> | null = null;
  let applies = 0;
  const gated: AppliedStateMachine = {
    appliedIndex: () => store.appliedIndex(),
    apply: async (entries) => {
      applies++;
      await held;
      return store.apply(entries);
    },
    restore: (path, meta) => store.restore(path, meta),
    checkSnapshot: (path) => store.checkSnapshot(path),
    writeSnapshot: (path) => store.writeSnapshot(path),
    memberAddresses: () => store.memberAddresses(),
    stateDigest: (index) => store.stateDigest(index),
  };
  const config = loadConfig([], {
    NODE_ID: 'solo', HTTP_HOST: '127.0.0.1', HTTP_PORT: String(await freePort()), RAFT_HOST: '127.0.0.1',
    RAFT_PORT: String(await freePort()), DATA_DIR: dataDir, LOG_LEVEL: 'silent',
  });
  const raft = await RaftService.start(raftServiceOptions(config, null, pino({ level: 'silent' }), (err) => {
    throw err;
  }), gated);
  t.teardown(async () => {
    await raft.close();
    await store.close();
  });
  const deadline = Date.now() + 10_000;
  while (raft.status().role !== 'leader' || store.appliedIndex() < raft.status().commitIndex) {
    if (Date.now() > deadline) throw new Error('the single node did not lead');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  const nowMs = Date.UTC(2030, 0, 1);
  const body = { id: 'claimed', type: 'unico', timestamp: '2030-01-01T00:01:00Z', webhook_url: 'http://127.0.0.1:9/h' };
  const spec = normalizeCreate(body, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false });
  const jobs = new JobQueries(store);
  let release = (): void => {};
  held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const appliesBefore = applies;
  const proposed = raft.propose(encodeCommand({
    type: 'create_jobs', tenant: 'default', proposedAtMs: nowMs, maxJobs: 10, jobs: [{ spec, requestHash: requestHashOf(body) }],
  }));
  // Right after the proposal, as a scheduler's restart would: the entry is appended, not yet durable or committed.
  let seenAtBarrier: unknown = 'not yet';
  const barrier = raft.readBarrier().then(() => {
    seenAtBarrier = jobs.getJob('default', 'claimed')?.id ?? null;
  });
  const deadlineApply = Date.now() + 10_000;
  while (applies === appliesBefore) {
    if (Date.now() > deadlineApply) throw new Error('the entry never reached apply');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(seenAtBarrier, 'not yet', 'the barrier still waits while the entry is committed and its apply held');
  release();
  held = null;
  await Promise.all([proposed, barrier]);
  t.equal(seenAtBarrier, 'claimed', 'and returns with the entry applied');
});
