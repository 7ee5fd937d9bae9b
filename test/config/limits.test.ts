// The fixed bounds: their values, the relations asserted between them (which must catch a broken one), and tick conversion.
import t from 'tap';
import * as limitsModule from '../../src/config/limits.js';
import { assertLimitRelations, electionJitterTicks, limits, toTicks } from '../../src/config/limits.js';
import type { Limits } from '../../src/config/limits.js';

const mib = 1024 * 1024;

/** `name: message` of what assertLimitRelations throws for `l`, or `holds`. */
function failureOf(l: Limits): string {
  try {
    assertLimitRelations(l);
    return 'holds';
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    return `${err.name}: ${err.message}`;
  }
}

t.test('the bounds have their documented values', async (t) => {
  t.strictSame({ ...limits }, {
    batchJobsMax: 10_000, listLimitMax: 1000, listLimitDefault: 100, scheduleCountMax: 100, scheduleCountDefault: 10,
    clientBodyBytesMax: 32 * mib, payloadBytesMax: mib, jobBytesTypical: 2048, requestReceiveMs: 30_000, pathParamCharsMax: 256,
    forwardTimeoutMs: 11_000,
    proposalTimeoutMs: 10_000, raftTickMs: 50, inflightAppendsMax: 64, inflightBytesMax: 8 * mib, appendBytesMax: mib, applyBytesMax: 512 * 1024,
    batchEntryJobsMax: 1000, snapshotChunkBytes: mib,
    uncommittedBytesMax: 64 * mib, proposalBatchBytesMax: 8 * mib, snapshotLogBytesThreshold: 64 * mib,
    peerBodyBytesMax: 16 * mib, pendingReadsMax: 10_000, nearSlotsHeld: 6, webhooksInFlightMax: 1000,
    catchupFiresMax: 100, catchupGraceMs: 10_000, catchupScanFiresMax: 10_000, fireEventsPerEntryMax: 5000, fireEventsEntrySpacingMs: 25,
    claimLeadMs: 100, fireHandOverLeadMs: 40, leaseCheckMs: 50, indexPageFires: 10_000, webhookConnectionsPerOrigin: 1000,
    deadLettersPageMax: 1000, drainTimeoutMs: 5000, clientDrainMs: 500, clientCloseMs: 10_000, shutdownOverdueMs: 15_000, storeCheckPauseMs: 5,
    stateDigestWaitMs: 60_000,
  });
});

t.test('every exported constant is in the checked table, under its own name', async (t) => {
  const exported = Object.entries(limitsModule).filter(([, v]) => typeof v === 'number');
  t.strictSame(Object.fromEntries(exported), { ...limits });
});

t.test('the relations hold for the shipped bounds', async (t) => {
  t.equal(failureOf(limits), 'holds');
  t.ok(limits.snapshotChunkBytes < limits.peerBodyBytesMax);
  t.ok(limits.appendBytesMax < limits.peerBodyBytesMax);
  t.ok(limits.batchJobsMax * limits.jobBytesTypical <= limits.clientBodyBytesMax);
});

t.test('each broken relation is caught with a message naming it', async (t) => {
  const cases: readonly (readonly [Partial<Limits>, string])[] = [
    [{ listLimitDefault: 1001 }, 'limits: listLimitDefault must be at most listLimitMax'],
    [{ scheduleCountDefault: 101 }, 'limits: scheduleCountDefault must be at most scheduleCountMax'],
    [{ jobBytesTypical: 4 * 1024 }, 'limits: batchJobsMax jobs of jobBytesTypical must fit clientBodyBytesMax'],
    [{ payloadBytesMax: 2 * mib }, 'limits: payloadBytesMax must be at most appendBytesMax'],
    [{ clientBodyBytesMax: mib, batchJobsMax: 1 }, 'limits: payloadBytesMax must be below clientBodyBytesMax'],
    [{ appendBytesMax: 16 * mib }, 'limits: appendBytesMax must be below peerBodyBytesMax'],
    [{ snapshotChunkBytes: 16 * mib }, 'limits: snapshotChunkBytes must be below peerBodyBytesMax'],
    [{ proposalBatchBytesMax: 16 * mib, uncommittedBytesMax: 128 * mib }, 'limits: proposalBatchBytesMax must be below peerBodyBytesMax'],
    [{ uncommittedBytesMax: 4 * mib }, 'limits: proposalBatchBytesMax must be at most uncommittedBytesMax'],
    [{ forwardTimeoutMs: 10_000 }, 'limits: forwardTimeoutMs must be above proposalTimeoutMs'],
    [{ fireEventsEntrySpacingMs: 51 }, 'limits: fireEventsEntrySpacingMs must be at most half of claimLeadMs'],
    [{ fireHandOverLeadMs: 100 }, 'limits: fireHandOverLeadMs must be below claimLeadMs'],
    [{ webhookConnectionsPerOrigin: 64 }, 'limits: webhookConnectionsPerOrigin must be at least webhooksInFlightMax'],
    [{ raftTickMs: 0 }, 'limits: raftTickMs must be a positive integer'],
    [{ webhooksInFlightMax: 1.5 }, 'limits: webhooksInFlightMax must be a positive integer'],
  ];
  for (const [change, message] of cases) {
    t.equal(failureOf({ ...limits, ...change }), `AssertionError: ${message}`);
  }
});

t.test('durations become whole ticks of 50ms, never fewer than one', async (t) => {
  t.equal(toTicks(0), 1);
  t.equal(toTicks(24), 1);
  t.equal(toTicks(50), 1);
  t.equal(toTicks(74), 1);
  t.equal(toTicks(75), 2);
  t.equal(toTicks(100), 2, 'the default heartbeat');
  t.equal(toTicks(1000), 20, 'the default election timeout');
  t.equal(toTicks(1024), 20);
  t.equal(toTicks(1025), 21);
});

t.test('election timeouts spread over half an election timeout, at least one tick', async (t) => {
  t.equal(electionJitterTicks(20), 10, 'the default: 1 s to 1.5 s');
  t.equal(electionJitterTicks(21), 11);
  t.equal(electionJitterTicks(3), 2);
  t.equal(electionJitterTicks(1), 1);
});
